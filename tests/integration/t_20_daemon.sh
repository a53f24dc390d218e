#!/bin/bash
# The long-running daemon under conditions systemd would give it
# (NOTIFY_SOCKET, WATCHDOG_USEC): READY/STATUS/WATCHDOG/RELOADING/STOPPING,
# the per-account limit on orders in flight, post_hook once per batch,
# SIGHUP adding/removing certificates and refusing a broken inventory, a
# renewal whose time comes while the daemon runs, SIGTERM, and kill -9 in the
# middle of a batch followed by a restart that completes every certificate
# without ordering any of them twice.
. "$(dirname "$0")/lib.sh"
setup

NOTES=$WORK/notify.log
python3 "$TOP/tests/integration/notify-listen.py" "$WORK/notify.sock" "$NOTES" 600 &
echo $! > "$WORK/listener.pid"
wait_for "[ -S '$WORK/notify.sock' ]" 10 || fail "notify listener did not start"

cat > "$WORK/post" <<'SH'
#!/bin/sh
echo "renewed=[$CERTFLEET_RENEWED] failed=[$CERTFLEET_FAILED]" >> "$POST_OUT"
SH
chmod +x "$WORK/post"
export POST_OUT=$WORK/post.log

write_inv() { # file, certificate names...
  local f=$1; shift
  {
    cat <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
renew_jitter: 0s
post_hook: [@WORK@/post]
control_socket: @WORK@/ctl.sock
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    max_inflight: 1
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
YAML
    for n in "$@"; do printf '  - {name: %s, domains: [%s.example.com], account: pebble}\n' "$n" "$n"; done
  } | inventory "$f"
}

start_daemon() { # log
  bash -c 'export WATCHDOG_PID=$$; exec "$@"' _ env NOTIFY_SOCKET="$WORK/notify.sock" \
    WATCHDOG_USEC=2000000 "$CERTFLEETD" -c "$WORK/inv.yaml" > "$1" 2>&1 &
  DAEMON_PID=$!
}
installed() { grep -c "installed certificate" "$1"; }

echo "== start: three certificates, one order in flight at a time"
write_inv "$WORK/inv.yaml" a b c
start_daemon "$WORK/d1.log"
wait_for "[ \$(installed $WORK/d1.log) -ge 3 ]" 90 || fail "three certificates not installed in time"
assert_eq 3 "$(installed "$WORK/d1.log")" "daemon issued three certificates"
max=$(sed -n 's/.*account pebble: \([0-9]*\) in flight.*/\1/p' "$WORK/d1.log" | sort -n | tail -n 1)
assert_eq 1 "$max" "never more than max_inflight=1 order in flight for the account"
wait_for "[ -s $POST_OUT ]" 30 || fail "post hook did not run"
sleep 1
assert_eq 1 "$(wc -l < "$POST_OUT")" "post hook ran once for the batch"
assert_contains "$POST_OUT" "renewed=\[(a|b|c) (a|b|c) (a|b|c)\] failed=\[\]" "post hook lists the batch"
assert_contains "$NOTES" "^READY=1$" "READY=1 sent"
assert_contains "$NOTES" "^STATUS=3 certificates, 0 renewing, 0 failing; next: " "STATUS= line kept current"
wait_for "grep -q '^WATCHDOG=1$' $NOTES" 5 || true
assert_contains "$NOTES" "^WATCHDOG=1$" "watchdog pinged at half WATCHDOG_USEC"

echo "== SIGHUP: add d, remove c"
write_inv "$WORK/inv.yaml" a b d
kill -HUP "$DAEMON_PID"
wait_for "grep -q 'd: installed certificate' $WORK/d1.log" 60 || fail "d not issued after reload"
assert_contains "$WORK/d1.log" "d: added by reload" "added certificate scheduled"
assert_contains "$WORK/d1.log" "c: removed by reload \(its files are left in place\)" "removed certificate unscheduled"
assert_file "$WORK/out/live/c/fullchain.pem" "removed certificate's files left alone"
assert_contains "$NOTES" "^RELOADING=1$" "RELOADING=1 sent"
assert_contains "$NOTES" "^MONOTONIC_USEC=[0-9]+$" "RELOADING carries MONOTONIC_USEC"

echo "== SIGHUP with a broken inventory keeps the running one"
readies=$(grep -c '^READY=1$' "$NOTES")
cp "$WORK/inv.yaml" "$WORK/inv.good"
printf 'certificates:\n  - name: x\n    domainz: [x.example.com]\n' >> "$WORK/inv.yaml"
kill -HUP "$DAEMON_PID"
wait_for "grep -q 'reload failed' $WORK/d1.log" 10
assert_contains "$WORK/d1.log" "reload failed, keeping the running configuration: .*inv.yaml:[0-9]+:[0-9]+: " "broken reload refused with file:line:col"
wait_for "[ \$(grep -c '^READY=1$' $NOTES) -gt $readies ]" 5
assert_eq $((readies + 1)) "$(grep -c '^READY=1$' "$NOTES")" "READY=1 sent again after the failed reload"
kill -0 "$DAEMON_PID" 2>/dev/null && pass "daemon still running" || fail "daemon died"
cp "$WORK/inv.good" "$WORK/inv.yaml"

echo "== SIGTERM"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
assert_eq 0 $? "SIGTERM: exit status 0"
DAEMON_PID=""
assert_contains "$NOTES" "^STOPPING=1$" "STOPPING=1 sent"

echo "== renewal time comes while the daemon runs"
v_before=$(readlink "$WORK/out/live/a")
python3 - "$WORK/state/certs/a/state.json" <<'PY'
import json, sys, time, datetime
p = sys.argv[1]
st = json.load(open(p))
now = int(time.time())
fmt = lambda t: datetime.datetime.utcfromtimestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")
# lifetime 30 s, renewal when a third (10 s) remains: 12 s from now.
st["not_before"] = fmt(now - 8)
st["not_after"] = fmt(now + 22)
json.dump(st, open(p, "w"))
PY
readies=$(grep -c '^READY=1$' "$NOTES")
start_daemon "$WORK/d2.log"
# READY=1 comes after every certificate was scheduled: a renewal started
# at startup would have been logged by then.
wait_for "[ \$(grep -c '^READY=1$' $NOTES) -gt $readies ]" 30 || fail "restarted daemon sent no READY=1"
assert_not_contains "$WORK/d2.log" "a: (due now|starting renewal)" "a not started at startup, before its time"
assert_eq "$v_before" "$(readlink "$WORK/out/live/a")" "not renewed before its time"
wait_for "grep -q 'a: installed certificate' $WORK/d2.log" 60 || fail "a not renewed while running"
assert_contains "$WORK/d2.log" "a: renewal due" "renewal timer fired"
[ "$v_before" != "$(readlink "$WORK/out/live/a")" ] && pass "a switched to a new version" || fail "a not switched"
assert_not_contains "$WORK/d2.log" "b: installed|d: installed" "certificates not due left alone"
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; DAEMON_PID=""

echo "== kill -9 in the middle of a batch, then restart"
write_inv "$WORK/inv.yaml" a b d e1 e2 e3 e4 e5 e6
sed -i 's/max_inflight: 1/max_inflight: 3/' "$WORK/inv.yaml"
orders0=$(count new-order)
start_daemon "$WORK/d3.log"
wait_for "grep -q 'order .* created' $WORK/d3.log" 60 ||
  fail "no order created within 60 s: the kill -9 below would be a plain restart"
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
created=$(grep -c 'order .* created' "$WORK/d3.log")
echo "   killed after $created order(s) created, $(installed "$WORK/d3.log") installed"
# What the killed daemon left to resume: "NAME URL" for each state holding
# an order (the URL is stored before the 'created' line is logged).
pending=$(for n in e1 e2 e3 e4 e5 e6; do
  python3 -c 'import json,sys; u=json.load(open(sys.argv[1])).get("order_url"); u and print(sys.argv[2], u)' \
    "$WORK/state/certs/$n/state.json" "$n" 2>/dev/null
done | sort)
for n in $(sed -n 's/.* \([a-z0-9]*\): order .* created$/\1/p' "$WORK/d3.log"); do
  grep -q "$n: installed certificate" "$WORK/d3.log" && continue
  printf '%s\n' "$pending" | grep -q "^$n " || fail "$n: order created before the kill but not in its state"
done
# A newOrder Pebble answered after the daemon's last save (up to one per
# order in flight, 3) is an order nobody knows of: it may be ordered again.
sleep 1
known=$( (printf '%s\n' "$pending" | awk 'NF {print $1}'
  sed -n 's/.* \([a-z0-9]*\): installed certificate.*/\1/p' "$WORK/d3.log") | sort -u | grep -c . || true)
orphans=$(( $(count new-order) - orders0 - known ))
[ "$orphans" -ge 0 ] && [ "$orphans" -le 3 ] &&
  pass "$orphans newOrder(s) answered after the last save before the kill (at most 3 in flight)" ||
  fail "$orphans orders at Pebble not in any state after the kill ($known known)"
ls "$WORK"/out/live/.*.tmp* "$WORK"/out/archive/*/.*.tmp.* "$WORK"/state/certs/*/.*.tmp.* 2>/dev/null | grep -q . &&
  fail "temporary files visible after kill -9" || pass "no partial file visible after kill -9"
start_daemon "$WORK/d4.log"
wait_for "[ \$(( \$(installed $WORK/d3.log) + \$(installed $WORK/d4.log) )) -ge 6 ]" 120 ||
  fail "batch not completed after restart"
assert_eq 6 "$(( $(installed "$WORK/d3.log") + $(installed "$WORK/d4.log") ))" "every certificate of the batch installed once"
# A newOrder whose answer never came (a timeout on a loaded machine) may
# have made an order at Pebble that nobody knows of, like an orphan above.
lost=$(cat "$WORK/d3.log" "$WORK/d4.log" | grep -cE ': newOrder [^ ]+: .*(timed out|Empty reply|no response)' || true)
assert_eq $((6 + orphans + lost)) "$(( $(count new-order) - orders0 ))" \
  "no duplicate newOrder for an order already created ($orphans unknown to the daemon at the kill, $lost unanswered)"
resumed=$(grep -c "resuming order" "$WORK/d4.log")
echo "   orders resumed after restart: $resumed"
[ -n "$pending" ] && pass "the kill left at least one order to resume" ||
  fail "the kill left no order to resume: a plain restart"
assert_eq "$pending" "$(sed -n 's/.* \([a-z0-9]*\): resuming order \(.*\)$/\1 \2/p' "$WORK/d4.log" | sort)" \
  "every order created before the kill resumed after the restart (same URL), no other"
for n in e1 e2 e3 e4 e5 e6; do verify_live "$WORK/out" "$n"; done
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; DAEMON_PID=""

finish
