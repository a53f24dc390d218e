#!/bin/bash
# Crash after finalize: certfleetd is killed with -9 once its finalize has
# reached Pebble but before it has seen the answer (ari-proxy.py holds
# Pebble's answer to the finalize for a few seconds: the window is wide and
# does not depend on Pebble's speed).  The restarted daemon resumes the
# order from its state (order_finalized) and must neither finalize it again
# nor order again; the certificate ends installed and recorded.
. "$(dirname "$0")/lib.sh"
setup
ari_proxy_start || finish
HOLD=8
echo "$HOLD" > "$WORK/ari-ctl/finalize-response-delay"

{
  cat <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
renew_jitter: 0s
control_socket: @WORK@/ctl.sock
accounts:
  pebble:
    directory: @PROXY_DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @PROXY_CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
  - {name: f, domains: [f.example.com], account: pebble}
YAML
} | sed -e "s|@PROXY_DIR_URL@|$PROXY_DIR_URL|" -e "s|@PROXY_CA@|$PROXY_CA|" |
  inventory "$WORK/inv.yaml"

start_daemon() { # log
  "$CERTFLEETD" -c "$WORK/inv.yaml" > "$1" 2>&1 &
  DAEMON_PID=$!
}
finalize_posts() { grep -c '"method": "POST", "path": "/finalize-order/' "$WORK/ari-proxy.log"; }

echo "== first run: kill -9 while Pebble's answer to the finalize is held"
orders0=$(count new-order)
start_daemon "$WORK/d1.log"
wait_for "grep -q 'f: finalizing ' $WORK/d1.log" 90 || fail "no finalize within 90 s"
# The line comes before the POST: wait until Pebble has it.
wait_for "[ \$(count finalize) -ge 1 ]" 10 || fail "the finalize did not reach Pebble"
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
assert_eq 1 "$(count finalize)" "one finalize reached Pebble before the kill"
assert_not_contains "$WORK/d1.log" "f: installed certificate" "killed before the certificate was installed"
url=$(sed -n 's/.* f: order \(.*\) created$/\1/p' "$WORK/d1.log")
[ -n "$url" ] && pass "order created before the kill" || fail "no 'order created' line"
state=$WORK/state/certs/f/state.json
assert_eq "$url True" "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s.get("order_url"), s.get("order_finalized"))' "$state")" \
  "the state holds the order and that it was finalized"
rm -f "$WORK/ari-ctl/finalize-response-delay"

echo "== restart"
start_daemon "$WORK/d2.log"
wait_for "grep -q 'f: installed certificate' $WORK/d2.log" 90 || fail "f not installed after the restart"
assert_contains "$WORK/d2.log" "f: resuming order $url\$" "the restart resumed the order from before the kill"
assert_not_contains "$WORK/d2.log" "f: finalizing" "the restart did not finalize again"
assert_eq 1 "$(count finalize)" "Pebble saw one finalize in all"
# The held finalize is logged when its answer has been given (or failed to
# be: the client is gone), HOLD seconds after it arrived.
wait_for "[ \$(finalize_posts) -ge 1 ]" $((HOLD + 10)) || fail "the proxy logged no finalize"
assert_eq 1 "$(finalize_posts)" "the proxy saw one finalize POST in all"
assert_eq 1 "$(( $(count new-order) - orders0 ))" "no second newOrder"
cert=$WORK/out/live/f/cert.pem
serial=$(openssl x509 -in "$cert" -noout -serial 2>/dev/null | sed 's/^serial=0*//')
[ -n "$serial" ] && pass "live/f/cert.pem parses" || fail "live/f/cert.pem does not parse"
stserial=$(python3 -c 'import json,sys; print((json.load(open(sys.argv[1])).get("serial") or "").lstrip("0").upper())' "$state")
assert_eq "$serial" "$stserial" "the installed certificate's serial recorded in the state"
assert_eq "None False" "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s.get("order_url"), s.get("order_finalized", False))' "$state")" \
  "the order forgotten once installed"
verify_live "$WORK/out" f
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; DAEMON_PID=""

finish
