#!/bin/bash
# Metrics (issue 9, section 1): a daemon issuing from Pebble with
# metrics_listen on a free loopback port and metrics_textfile.  Both texts
# pass `promtool check metrics`; the values are the truth: expiry and
# notBefore equal the installed certificate's, ready is 1 for the issued
# certificate and 0 for one Pebble refuses (PEBBLE_BLOCKLIST), renewals,
# failures, deploy hook runs and reloads are counted, and the requests
# counted per endpoint equal what Pebble logged.  The endpoint refuses
# other paths and methods; the textfile follows changes within seconds,
# has no process_* families, and a --once run writes it at its end
# without listening.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/metrics-lib.sh"
export PEBBLE_BLOCKLIST=blocked.example.com
setup
command -v promtool >/dev/null || { fail "promtool missing (Debian package prometheus)"; finish; }

MPORT=$(free_port)
URL=http://127.0.0.1:$MPORT/metrics
TF=$WORK/textfile/certfleet.prom
mkdir -p "$WORK/textfile"
cat > "$WORK/deploy" <<'SH'
#!/bin/sh
exit 0
SH
chmod +x "$WORK/deploy"

write_inv() { # file, extra top-level line
  inventory "$1" <<YAML
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
control_socket: @WORK@/ctl.sock
renew_jitter: 0s
metrics_listen: "127.0.0.1:$MPORT"
metrics_textfile: $TF
$2
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
  - {name: www, domains: [www.example.com, mail.example.com], deploy_hook: [@WORK@/deploy]}
  - {name: bad, domains: [blocked.example.com]}
YAML
}

echo "== a daemon with metrics_listen and metrics_textfile"
write_inv "$WORK/inv.yaml" ""
t0=$(date +%s)
"$CERTFLEETD" -c "$WORK/inv.yaml" > "$WORK/d.log" 2>&1 &
DAEMON_PID=$!
wait_for "grep -q 'www: deploy hook succeeded' $WORK/d.log && grep -q 'bad: attempt 1 failed' $WORK/d.log" 90 ||
  fail "www not issued or bad not failed in time"
assert_contains "$WORK/d.log" "metrics endpoint listening on 127.0.0.1:$MPORT" "endpoint announced"
scrape "$URL" "$WORK/m1"
assert_eq 0 $? "GET /metrics answers 200"
assert_contains "$WORK/m1.headers" "^Content-Type: text/plain; version=0.0.4; charset=utf-8" \
  "Content-Type of the text format 0.0.4"
promtool check metrics < "$WORK/m1" > "$WORK/promtool1.log" 2>&1
assert_eq 0 $? "promtool check metrics passes on the scrape"; sed "s/^/    | /" "$WORK/promtool1.log"

L='{name="www",account="pebble",key_type="ec-p256"}'
B='{name="bad",account="pebble",key_type="ec-p256"}'
cert=$WORK/out/live/www/cert.pem
assert_eq "$(epoch_of_cert "$cert" enddate)" "$(mval "$WORK/m1" "certfleet_certificate_expiration_timestamp_seconds$L")" \
  "expiration timestamp equals the certificate's notAfter"
assert_eq "$(epoch_of_cert "$cert" startdate)" "$(mval "$WORK/m1" "certfleet_certificate_not_before_timestamp_seconds$L")" \
  "not_before timestamp equals the certificate's notBefore"
assert_eq 1 "$(mval "$WORK/m1" "certfleet_certificate_ready$L")" "www is ready"
assert_eq 0 "$(mval "$WORK/m1" "certfleet_certificate_failures$L")" "www has no failures"
ls=$(mval "$WORK/m1" "certfleet_certificate_last_success_timestamp_seconds$L")
if [ -n "$ls" ] && [ "$ls" -ge "$t0" ] && [ "$ls" -le "$(date +%s)" ]; then pass "last success is this run's issuance"
else fail "last success '$ls' not within the run"; fi
rn=$(mval "$WORK/m1" "certfleet_certificate_renewal_timestamp_seconds$L")
exp=$(mval "$WORK/m1" "certfleet_certificate_expiration_timestamp_seconds$L")
if [ -n "$rn" ] && [ "$rn" -gt "$(date +%s)" ] && [ "$rn" -lt "$exp" ]; then pass "next renewal lies between now and expiry"
else fail "next renewal '$rn' not between now and $exp"; fi
assert_eq 0 "$(mval "$WORK/m1" "certfleet_certificate_ready$B")" "the refused certificate is not ready"
f=$(mval "$WORK/m1" "certfleet_certificate_failures$B")
[ "${f:-0}" -ge 1 ] && pass "the refused certificate's failures counted ($f)" || fail "failures of bad: '$f'"
assert_eq "" "$(mval "$WORK/m1" "certfleet_certificate_expiration_timestamp_seconds$B")" \
  "no expiry series for a certificate never issued"
assert_eq 1 "$(mval "$WORK/m1" 'certfleet_renewals_total{result="success"}')" "renewals_total success 1"
f=$(mval "$WORK/m1" 'certfleet_renewals_total{result="failure"}')
[ "${f:-0}" -ge 1 ] && pass "renewals_total failure counted ($f)" || fail "renewals_total failure '$f'"
assert_eq 1 "$(mval "$WORK/m1" 'certfleet_hook_runs_total{hook="deploy",result="success"}')" "deploy hook run counted"
assert_eq 2 "$(mval "$WORK/m1" 'certfleet_certificates')" "two certificates"
assert_eq 1 "$(mval "$WORK/m1" 'certfleet_build_info{version="0.1.0"}')" "build_info carries the version"
assert_contains "$WORK/m1" '^certfleet_orders_in_flight\{account="pebble"\} [0-9]+$' "orders in flight per account"
assert_contains "$WORK/m1" '^certfleet_bad_nonce_retries_total\{account="pebble"\} [0-9]+$' "bad nonce retries per account"
assert_contains "$WORK/m1" '^process_start_time_seconds [0-9.]+$' "process start time"
assert_contains "$WORK/m1" '^process_cpu_seconds_total [0-9.e-]+$' "process CPU"
rss=$(mval "$WORK/m1" process_resident_memory_bytes)
[ "${rss:-0}" -gt 1000000 ] && pass "resident memory reported ($rss bytes)" || fail "resident memory '$rss'"

echo "== requests per endpoint, against Pebble's log"
for ep in newAccount newOrder finalize authz challenge; do
  ours=$(msum "$WORK/m1" "^certfleet_acme_requests_total\\{account=\"pebble\",endpoint=\"$ep\",")
  assert_eq "$(count "$ep")" "$ours" "$ep requests counted as Pebble saw them"
done
ours=$(msum "$WORK/m1" '^certfleet_acme_requests_total\{account="pebble",endpoint="(order|cert)",')
assert_eq "$(( $(count order) + $(count certificate) ))" "$ours" "order and certificate fetches counted"
ours=$(msum "$WORK/m1" '^certfleet_acme_requests_total\{account="pebble",endpoint="newNonce",')
assert_eq "$(count /nonce-plz)" "$ours" "newNonce requests counted"
assert_eq 1 "$(msum "$WORK/m1" '^certfleet_acme_requests_total\{account="pebble",endpoint="directory",code="200"\}')" \
  "one directory GET"
assert_contains "$WORK/m1" '^certfleet_acme_requests_total\{account="pebble",endpoint="finalize",code="200"\} 1$' \
  "the finalize answered 200 once"
assert_eq "$(msum "$WORK/m1" '^certfleet_acme_requests_total\{account="pebble",endpoint="newOrder",')" \
  "$(mval "$WORK/m1" 'certfleet_acme_request_duration_seconds_count{endpoint="newOrder"}')" \
  "the newOrder histogram counts every answer"
assert_eq "$(mval "$WORK/m1" 'certfleet_acme_request_duration_seconds_count{endpoint="newOrder"}')" \
  "$(mval "$WORK/m1" 'certfleet_acme_request_duration_seconds_bucket{endpoint="newOrder",le="+Inf"}')" \
  "the +Inf bucket equals the count"
assert_not_contains "$WORK/m1" 'endpoint="other"' "every request named by its endpoint"

echo "== the endpoint refuses what it does not serve"
assert_eq 404 "$(curl --noproxy '*' -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")" "GET / is 404"
assert_eq 405 "$(curl --noproxy '*' -s -o /dev/null -w '%{http_code}' -X POST "$URL")" "POST is 405"

echo "== the textfile"
wait_for "grep -q 'certfleet_certificate_ready{name=\"www\"' $TF 2>/dev/null" 15 || fail "textfile not written"
promtool check metrics < "$TF" > "$WORK/promtool2.log" 2>&1
assert_eq 0 $? "promtool check metrics passes on the textfile"; sed "s/^/    | /" "$WORK/promtool2.log"
assert_eq 1 "$(mval "$TF" "certfleet_certificate_ready$L")" "textfile: www ready"
assert_not_contains "$TF" '^process_' "textfile leaves process_* to node_exporter"
assert_eq 644 "$(stat -c %a "$TF")" "textfile is world-readable"
[ -e "$TF.tmp" ] && fail "PATH.tmp left behind" || pass "no PATH.tmp left behind"

echo "== reloads counted, the textfile follows"
m0=$(stat -c %Y "$TF")
write_inv "$WORK/inv.yaml" "max_inflight: 10"
kill -HUP "$DAEMON_PID"
wait_for "grep -q 'reloaded: 2 certificates' $WORK/d.log" 15 || fail "reload not done"
printf 'accounts: [\n' | inventory "$WORK/inv.yaml"
kill -HUP "$DAEMON_PID"
wait_for "grep -q 'reload failed' $WORK/d.log" 15 || fail "broken reload not refused"
scrape "$URL" "$WORK/m2"
assert_eq 1 "$(mval "$WORK/m2" 'certfleet_config_reloads_total{result="success"}')" "a successful reload counted"
assert_eq 1 "$(mval "$WORK/m2" 'certfleet_config_reloads_total{result="failure"}')" "a refused reload counted"
wait_for "grep -q 'certfleet_config_reloads_total{result=\"failure\"} 1' $TF" 15 || true
assert_contains "$TF" 'certfleet_config_reloads_total\{result="failure"\} 1' "textfile rewritten after the change"
m1=$(stat -c %Y "$TF"); sleep 6; m2=$(stat -c %Y "$TF")
# Nothing changes now (the refused certificate's retry is a minute away).
[ "$m2" = "$m1" ] && pass "an unchanged text is not rewritten" || fail "textfile rewritten without a change ($m1 -> $m2)"
[ "$m1" -ge "$m0" ] || fail "textfile mtime went backwards"
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; DAEMON_PID=""

echo "== --once: no endpoint, the textfile written at the end"
write_inv "$WORK/once.yaml" ""
rm -f "$TF"
"$CERTFLEETD" --once -c "$WORK/once.yaml" > "$WORK/once.log" 2>&1
assert_eq 1 $? "--once with the refused certificate exits 1"
assert_not_contains "$WORK/once.log" "metrics endpoint listening" "--once opens no endpoint"
assert_file "$TF" "--once wrote the textfile"
promtool check metrics < "$TF" > "$WORK/promtool3.log" 2>&1
assert_eq 0 $? "promtool check metrics passes on the --once textfile"
assert_eq 1 "$(mval "$TF" "certfleet_certificate_ready$L")" "--once textfile: www ready"
assert_eq 1 "$(mval "$TF" 'certfleet_renewals_total{result="failure"}')" "--once textfile: its one failure"

echo "== a taken port fails the start (exit 69)"
python3 -c 'import socket,time,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$MPORT" &
echo $! > "$WORK/blocker.pid"
sleep 0.5
write_inv "$WORK/inv.yaml" ""
timeout 20 "$CERTFLEETD" -c "$WORK/inv.yaml" > "$WORK/d2.log" 2>&1
assert_eq 69 $? "daemon refuses to start without its metrics endpoint"
assert_contains "$WORK/d2.log" "metrics endpoint: .*127.0.0.1:$MPORT" "the log names the address"
finish
