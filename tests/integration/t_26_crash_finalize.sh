#!/bin/bash
# Crash after finalize: certfleetd is killed with -9 after it POSTed the
# finalize and before it saw the order valid, then restarted.  The restarted
# daemon resumes the order from its state (order_finalized) and must neither
# finalize it again nor order again; the certificate ends installed and
# recorded.  ari-proxy.py makes the window wide and independent of Pebble's
# speed, in two ways:
#   f: Pebble has the finalize, its answer is held (finalize-response-delay):
#      the restart finds the order valid;
#   g: the finalize itself is held before it reaches Pebble (finalize-delay):
#      the restart finds the order still "ready" and must wait for it, not
#      finalize it again;
# and a finalize lost on its way (finalize-drop: never forwarded, never
# answered), with timeouts.finalize 3s, so a finalize is sent again once
# the order stays ready for 6 s:
#   h: the daemon lives: its finalize times out, it polls the ready order
#      and finalizes it once more after 6 s;
#   i: the daemon is killed while its finalize is lost: the restart resumes
#      the order as finalized, polls it ready for 6 s, then finalizes it.
. "$(dirname "$0")/lib.sh"
# The finalize held by the proxy reaches Pebble after the daemon is killed:
# a rejected nonce there would leave the order ready with nobody to retry.
export PEBBLE_WFE_NONCEREJECT=0
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

echo "== g: kill -9 while the finalize itself is held, restart before Pebble has it"
sed -i '$a\  - {name: g, domains: [g.example.com], account: pebble}' "$WORK/inv.yaml"
echo "$HOLD" > "$WORK/ari-ctl/finalize-delay"
# Retry-After on order answers: the daemon then logs each state it waits on.
echo 1 > "$WORK/ari-ctl/poll-retry-after"
fin0=$(count finalize)
orders0=$(count new-order)
start_daemon "$WORK/d3.log"
wait_for "[ -e '$WORK/ari-ctl/finalize-held' ]" 90 || fail "no finalize held within 90 s"
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
assert_contains "$WORK/d3.log" "g: finalizing " "g: killed after the finalize was sent"
assert_eq "$fin0" "$(count finalize)" "g: Pebble has not seen the finalize at the kill"
gurl=$(sed -n 's/.* g: order \(.*\) created$/\1/p' "$WORK/d3.log")
gstate=$WORK/state/certs/g/state.json
assert_eq "$gurl True" "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s.get("order_url"), s.get("order_finalized"))' "$gstate")" \
  "g: the state holds the order and that it was finalized"
rm -f "$WORK/ari-ctl/finalize-delay"
start_daemon "$WORK/d4.log"
wait_for "grep -q 'g: installed certificate' $WORK/d4.log" 90 || fail "g not installed after the restart"
assert_contains "$WORK/d4.log" "g: resuming order $gurl\$" "g: the restart resumed the order"
assert_contains "$WORK/d4.log" "g: order $gurl ready; next check in" "g: the restart found the order still ready and waited"
assert_not_contains "$WORK/d4.log" "g: finalizing" "g: the restart did not finalize again"
# Count once the held finalize has gone to Pebble and been logged.
wait_for "[ ! -e '$WORK/ari-ctl/finalize-held' ]" $((HOLD + 10)) || fail "the held finalize was never released"
assert_eq $((fin0 + 1)) "$(count finalize)" "g: Pebble saw one finalize in all"
assert_eq 2 "$(finalize_posts)" "g: the proxy saw one finalize POST for g"
assert_eq 1 "$(( $(count new-order) - orders0 ))" "g: no second newOrder"
serial=$(openssl x509 -in "$WORK/out/live/g/cert.pem" -noout -serial 2>/dev/null | sed 's/^serial=0*//')
[ -n "$serial" ] && pass "live/g/cert.pem parses" || fail "live/g/cert.pem does not parse"
stserial=$(python3 -c 'import json,sys; print((json.load(open(sys.argv[1])).get("serial") or "").lstrip("0").upper())' "$gstate")
assert_eq "$serial" "$stserial" "g: the installed certificate's serial recorded in the state"
verify_live "$WORK/out" g
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; DAEMON_PID=""

# h and i: a 3 s finalize timeout, so a lost finalize is sent again after 6 s.
sed -i '1i timeouts: {finalize: 3s}' "$WORK/inv.yaml"
# lost_order NAME LOG: the order URL of NAME from LOG.
lost_order() { sed -n "s/.* $1: order \(.*\) created\$/\1/p" "$2"; }
took() { # NAME: the finalize POSTs Pebble took for NAME's order (URL in $WORK/NAME.url)
  grep -F "/finalize-order/$(basename "$(cat "$WORK/$1.url")")\"" "$WORK/ari-proxy.log" |
    grep -vc '"dropped"' || true
}

echo "== h: a finalize lost on its way; the daemon lives"
sed -i '$a\  - {name: h, domains: [h.example.com], account: pebble}' "$WORK/inv.yaml"
rm -f "$WORK/ari-ctl/poll-retry-after"
: > "$WORK/ari-ctl/finalize-drop"
fin0=$(count finalize)
orders0=$(count new-order)
start_daemon "$WORK/d5.log"
wait_for "grep -q 'h: installed certificate' $WORK/d5.log" 90 || fail "h not installed"
lost_order h "$WORK/d5.log" > "$WORK/h.url"
[ ! -e "$WORK/ari-ctl/finalize-drop" ] && pass "h: the proxy lost h's first finalize" ||
  fail "h: no finalize was lost"
assert_contains "$WORK/d5.log" "h: finalize .*: .*polling the order" "h: the lost finalize timed out and the order was polled"
assert_contains "$WORK/d5.log" "h: order $(cat "$WORK/h.url") is still ready [0-9]*s after its finalize was sent: the CA never took it; finalizing again" \
  "h: finalized again once the order stayed ready"
assert_eq 2 "$(grep -c 'h: finalizing ' "$WORK/d5.log")" "h: two finalize attempts in all"
assert_eq $((fin0 + 1)) "$(count finalize)" "h: Pebble saw one finalize"
assert_eq 1 "$(took h)" "h: the proxy forwarded one finalize for h"
assert_eq 1 "$(( $(count new-order) - orders0 ))" "h: no second newOrder"
verify_live "$WORK/out" h
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; DAEMON_PID=""

echo "== i: kill -9 while the finalize is lost; the restart finalizes it again"
sed -i '$a\  - {name: i, domains: [i.example.com], account: pebble}' "$WORK/inv.yaml"
: > "$WORK/ari-ctl/finalize-drop"
fin0=$(count finalize)
orders0=$(count new-order)
start_daemon "$WORK/d6.log"
wait_for "[ ! -e '$WORK/ari-ctl/finalize-drop' ]" 90 || fail "i: no finalize reached the proxy"
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
lost_order i "$WORK/d6.log" > "$WORK/i.url"
istate=$WORK/state/certs/i/state.json
assert_eq "$(cat "$WORK/i.url") True" "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s.get("order_url"), s.get("order_finalized"))' "$istate")" \
  "i: the state says finalized"
start_daemon "$WORK/d7.log"
wait_for "grep -q 'i: installed certificate' $WORK/d7.log" 90 || fail "i not installed after the restart"
assert_contains "$WORK/d7.log" "i: resuming order $(cat "$WORK/i.url")\$" "i: the restart resumed the order"
assert_contains "$WORK/d7.log" "i: order $(cat "$WORK/i.url") is still ready [0-9]*s after its finalize was sent: the CA never took it; finalizing again" \
  "i: the restart finalized the order again once it stayed ready"
assert_eq 1 "$(grep -c 'i: finalizing ' "$WORK/d7.log")" "i: one finalize after the restart"
assert_eq $((fin0 + 1)) "$(count finalize)" "i: Pebble saw one finalize"
assert_eq 1 "$(took i)" "i: the proxy forwarded one finalize for i"
assert_eq 1 "$(( $(count new-order) - orders0 ))" "i: no second newOrder"
verify_live "$WORK/out" i
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; DAEMON_PID=""

finish
