#!/bin/bash
# The accounts' request budgets against the real Pebble.
#  1. new_orders_per: 2/10s: five certificates, the daemon running; Pebble's
#     log ("Added order", one line per order it created) never has more
#     than 2 in any 10 s (second stamps: the third is at least 9 s after the
#     first), every certificate ends issued with no failure, and while they
#     wait `certfleetctl status --json` and STATUS= say how many wait for
#     new_orders_per and when the next token comes.
#  2. new_orders_in_flight: 1 through ari-proxy.py (it stamps each request
#     when it arrives and when it is answered): no two newOrder requests
#     overlap.  The proxy answers newOrder with a rateLimited problem and
#     Retry-After: 6 until the test sees the first one refused: the whole
#     account pauses (no newOrder from any certificate for 6 s after the
#     refusal), the pause is logged once, the refused certificate is not
#     counted as a failure, and everything is issued after it.
#  3. The budget outlives the daemon: new_orders_per 2/12s, two certificates
#     issued, the daemon stopped with the third still waiting and started
#     again: the third's order comes a window after the first two (Pebble's
#     log), and the log says the two were counted from before the restart.
#  4. So does a pause: a rateLimited newOrder with Retry-After: 8, the
#     daemon stopped at once and started again: no newOrder reaches the
#     proxy until the 8 s are over, and the log says why.
. "$(dirname "$0")/lib.sh"
setup

NOTES=$WORK/notify.log
python3 "$TOP/tests/integration/notify-listen.py" "$WORK/notify.sock" "$NOTES" 300 &
echo $! > "$WORK/listener.pid"
wait_for "[ -S '$WORK/notify.sock' ]" 10 || fail "notify listener did not start"

write_inv() { # directory-url ca-bundle budget-lines names...
  local dir=$1 ca=$2 budget=$3; shift 3
  {
    cat <<YAML
state_dir: @WORK@/${STATE_SUB:-state}
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
renew_jitter: 0s
control_socket: @WORK@/ctl.sock
accounts:
  pebble:
    directory: $dir
    contact: mailto:it@example.com
    ca_bundle: $ca
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
$budget
certificates:
YAML
    for n in "$@"; do printf '  - {name: %s, domains: [%s.example.com], account: pebble}\n' "$n" "$n"; done
  } | inventory "$WORK/inv.yaml"
}
installed() { grep -c "installed certificate" "$1"; }
start_daemon() { # log
  bash -c 'export WATCHDOG_PID=$$; exec "$@"' _ env NOTIFY_SOCKET="$WORK/notify.sock" \
    WATCHDOG_USEC=2000000 "$CERTFLEETD" -c "$WORK/inv.yaml" > "$1" 2>&1 &
  DAEMON_PID=$!
}
stop_daemon() {
  kill -TERM "$DAEMON_PID" 2>/dev/null
  wait "$DAEMON_PID" 2>/dev/null
}

echo "== new_orders_per: 2/10s, five certificates"
write_inv @DIR_URL@ @CA@ "    new_orders_per: 2/10s" p1 p2 p3 p4 p5
orders0=$(grep -c "Added order" "$WORK/pebble/pebble.log")
start_daemon "$WORK/d1.log"
wait_for "[ \$(installed $WORK/d1.log) -ge 2 ]" 30 || fail "the first two not issued"
# Three wait for the window now.
"$CERTFLEETCTL" --socket "$WORK/ctl.sock" status --json > "$WORK/status.json" 2>&1
python3 - "$WORK/status.json" <<'PY' && pass "status --json: 3 wait for new_orders_per, next token given" || fail "status --json budgets: $(cat "$WORK/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
b = [x for x in s["budgets"] if x["account"] == "pebble"][0]
assert b["new_orders_per"] == "2/10s", b
assert b["blocked_by"] == "new_orders_per", b
assert b["waiting"]["new_orders_per"] == 3, b
assert b["next_token"] and b["opens_at"], b
PY
"$CERTFLEETCTL" --socket "$WORK/ctl.sock" status > "$WORK/status.txt" 2>&1
assert_contains "$WORK/status.txt" "pebble: 3 queued for new_orders_per \(2/10s\); next token in [0-9]+s" "status says what waits for which budget"
wait_for "grep -q 'waiting for pebble.s new_orders_per (next token in' $NOTES" 5 || true
assert_contains "$NOTES" "^STATUS=5 certificates, [0-9]+ renewing, 0 failing.*; 3 waiting for pebble's new_orders_per \(next token in [0-9]+s\)" "STATUS= says it too"
wait_for "[ \$(installed $WORK/d1.log) -ge 5 ]" 45 || fail "not all five issued"
assert_eq 5 "$(installed "$WORK/d1.log")" "all five issued"
stop_daemon
# Pebble stamps its lines in whole seconds: 10 s apart may read as 9.
grep "Added order" "$WORK/pebble/pebble.log" | tail -n +$((orders0 + 1)) |
  awk '{ print $3 }' > "$WORK/order-times"
assert_eq 5 "$(wc -l < "$WORK/order-times")" "Pebble created five orders"
python3 - "$WORK/order-times" <<'PY' && pass "never more than 2 new orders in any 10 s (Pebble's log)" || fail "window exceeded: $(tr '\n' ' ' < "$WORK/order-times")"
import sys
ts = [sum(int(x) * m for x, m in zip(l.split(":"), (3600, 60, 1))) for l in open(sys.argv[1])]
assert all(ts[i + 2] - ts[i] >= 9 for i in range(len(ts) - 2)), ts
assert ts[-1] - ts[0] >= 18, ts     # 2, then 2 a window later, then 1
PY
for n in p1 p2 p3 p4 p5; do
  assert_eq 0 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("failures", 0))' "$WORK/state/certs/$n/state.json")" "$n: no failure recorded"
done

echo "== new_orders_in_flight: 1 and a rateLimited pause, through the proxy"
ari_proxy_start || finish
echo "rateLimited 429 6" > "$WORK/ari-ctl/reject-new-order"
write_inv "$PROXY_DIR_URL" "$PROXY_CA" "    new_orders_in_flight: 1" r1 r2 r3 r4 r5 r6
start_daemon "$WORK/d2.log"
wait_for "grep -q '\"rejected\": true' $WORK/ari-proxy.log" 20 || fail "no newOrder refused"
rm -f "$WORK/ari-ctl/reject-new-order"
wait_for "[ \$(installed $WORK/d2.log) -ge 6 ]" 60 || fail "not all six issued after the pause"
assert_eq 6 "$(installed "$WORK/d2.log")" "all six issued after the pause"
stop_daemon
assert_eq 1 "$(grep -c 'the CA asks to slow down' "$WORK/d2.log")" "the pause is logged once"
assert_contains "$WORK/d2.log" "account pebble: the CA asks to slow down \(rateLimited: refusing newOrder \(test\)\); no new order for 6s" "the log says why and for how long"
assert_not_contains "$WORK/d2.log" "attempt [0-9]+ failed" "no attempt counted as failed"
python3 - "$WORK/ari-proxy.log" <<'PY' && pass "newOrders never overlap; none during the 6 s pause" || fail "newOrder timing: see $WORK/ari-proxy.log"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
no = sorted((r for r in recs if r["method"] == "POST" and "payload" in r), key=lambda r: r["t0"])
rej = [r for r in no if r.get("rejected")]
ok = [r for r in no if not r.get("rejected")]
assert len(rej) >= 1 and len(ok) >= 6, (len(rej), len(ok))
for a, b in zip(no, no[1:]):
    assert b["t0"] >= a["t"] - 0.01, ("overlap", a, b)
first = rej[0]["t"]
after = [r for r in no if r["t0"] > rej[0]["t0"]]
assert all(r["t0"] >= first + 5.9 for r in after), ("during the pause", [r["t0"] - first for r in after])
PY
for n in r1 r2 r3 r4 r5 r6; do
  assert_eq 0 "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("failures", 0))' "$WORK/state/certs/$n/state.json")" "$n: no failure recorded"
done

# Sections 3 and 4 have state directories of their own: what section 1 and
# 2 spent must not count.
echo "== new_orders_per kept across a restart"
export STATE_SUB=state3
write_inv @DIR_URL@ @CA@ "    new_orders_per: 2/12s" k1 k2 k3
orders0=$(grep -c "Added order" "$WORK/pebble/pebble.log")
start_daemon "$WORK/d3.log"
wait_for "[ \$(installed $WORK/d3.log) -ge 2 ]" 30 || fail "the first two not issued"
stop_daemon
python3 - "$WORK/state3/accounts/pebble/budget.json" <<'PY' && pass "budget.json holds the two new orders" || fail "budget.json: $(cat "$WORK/state3/accounts/pebble/budget.json")"
import json, sys, time
b = json.load(open(sys.argv[1]))
assert len(b["new_orders"]) == 2, b
assert all(time.time() - 12 < t <= time.time() + 1 for t in b["new_orders"]), b
assert "paused_until" not in b, b
PY
start_daemon "$WORK/d3b.log"
wait_for "[ \$(installed $WORK/d3b.log) -ge 1 ]" 30 || fail "k3 not issued after the restart"
stop_daemon
assert_contains "$WORK/d3b.log" "account pebble: 2 new orders of the last 12s counted against new_orders_per from before the restart" "the restart counts the two"
grep "Added order" "$WORK/pebble/pebble.log" | tail -n +$((orders0 + 1)) |
  awk '{ print $3 }' > "$WORK/order-times3"
assert_eq 3 "$(wc -l < "$WORK/order-times3")" "Pebble created three orders"
python3 - "$WORK/order-times3" <<'PY' && pass "the third order a window after the first two, across the restart" || fail "window forgotten: $(tr '\n' ' ' < "$WORK/order-times3")"
import sys
ts = [sum(int(x) * m for x, m in zip(l.split(":"), (3600, 60, 1))) for l in open(sys.argv[1])]
assert ts[2] - ts[0] >= 11, ts
PY

echo "== a rateLimited pause kept across a restart"
export STATE_SUB=state4
echo "rateLimited 429 8" > "$WORK/ari-ctl/reject-new-order"
write_inv "$PROXY_DIR_URL" "$PROXY_CA" "    new_orders_in_flight: 1" q1
rej0=$(grep -c '"rejected": true' "$WORK/ari-proxy.log" || true)
start_daemon "$WORK/d4.log"
wait_for "[ \$(grep -c '\"rejected\": true' $WORK/ari-proxy.log) -gt $rej0 ]" 20 || fail "no newOrder refused"
stop_daemon
rm -f "$WORK/ari-ctl/reject-new-order"
assert_contains "$WORK/state4/accounts/pebble/budget.json" '"paused_until":"[0-9T:-]+Z"' "budget.json holds the pause"
start_daemon "$WORK/d4b.log"
wait_for "[ \$(installed $WORK/d4b.log) -ge 1 ]" 40 || fail "q1 not issued after the pause"
stop_daemon
assert_contains "$WORK/d4b.log" "account pebble: no new order until [0-9T:-]+Z, the pause the CA asked for before the restart" "the restart keeps the pause and says so"
python3 - "$WORK/ari-proxy.log" "$rej0" <<'PY' && pass "no newOrder until the 8 s pause was over, across the restart" || fail "newOrder timing: see $WORK/ari-proxy.log"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
no = sorted((r for r in recs if r["method"] == "POST" and "payload" in r), key=lambda r: r["t0"])
rej = [r for r in no if r.get("rejected")][int(sys.argv[2]):]
assert len(rej) >= 1, rej
after = [r for r in no if r["t0"] > rej[-1]["t0"]]
assert len(after) >= 1, "no newOrder after the pause"
assert all(r["t0"] >= rej[0]["t"] + 7.9 for r in after), [r["t0"] - rej[0]["t"] for r in after]
PY
unset STATE_SUB
finish
