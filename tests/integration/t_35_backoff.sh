#!/bin/bash
# Failing CAs and the renewal schedule.
#  - Pebble stopped: each failed attempt is logged with the next attempt's
#    time; the delays grow 1, 2, 4, 8 min (+-20 % jitter), read from the log
#    (the daemon is restarted between attempts with the backoff's due time
#    moved to now, rather than waiting minutes); a certificate close to
#    expiry gets a warning with its time left on every attempt.
#  - Pebble stopped, then started again on the same ports: the daemon, never
#    restarted, retries when it announced and installs the certificate.
#  - A newOrder refused with rateLimited and Retry-After (served by
#    ari-proxy.py) is no failed attempt: the account's new orders pause for
#    exactly the Retry-After and the certificate waits queued for it.
#  - Jitter: the renewal moments of several certificates lie within
#    [renewal time, renewal time + renew_jitter] and differ.
. "$(dirname "$0")/lib.sh"
setup
ari_proxy_start || finish

write_inv() { # file tag directory ca jitter names...
  local f=$1 tag=$2 dir=$3 ca=$4 jitter=$5; shift 5
  {
    cat <<YAML
state_dir: @WORK@/state-$tag
output_dir: @WORK@/out-$tag
control_socket: @WORK@/ctl-$tag.sock
http01_listen: "127.0.0.1:@HTTP01_PORT@"
renew_jitter: $jitter
accounts:
  pebble:
    directory: $dir
    contact: mailto:it@example.com
    ca_bundle: $ca
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
YAML
    for n in "$@"; do printf '  - {name: %s, domains: [%s.example.com], account: pebble}\n' "$n" "$n"; done
  } | inventory "$f"
}
start_daemon() { # inventory log
  : > "$2"
  "$CERTFLEETD" -v -c "$1" > "$2" 2>&1 &
  DAEMON_PID=$!
}
stop_daemon() {
  kill -TERM "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
}
# state_set FILE KEY=OFFSET...: sets time fields of a state file to now+OFFSET.
state_set() {
  python3 - "$@" <<'PY'
import datetime, json, sys, time
p = sys.argv[1]
st = json.load(open(p))
now = int(time.time())
for kv in sys.argv[2:]:
    k, off = kv.split("=")
    st[k] = datetime.datetime.fromtimestamp(now + int(off), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
json.dump(st, open(p, "w"))
PY
}
# announced LOG NAME K: "DELAY" = announced next attempt - time of the line
# reporting failure K of NAME (empty when absent).
announced() {
  local line
  line=$(grep -E "info: $2: attempt $3 failed; next attempt in " "$1" | tail -n 1)
  [ -n "$line" ] || return 0
  echo $(( $(iso_epoch "$(printf '%s' "$line" | sed -E 's/.*\(at ([^)]+)\).*/\1/')") - $(log_epoch "$line") ))
}

echo "== backoff doubles while the CA is down"
write_inv "$WORK/a.yaml" a "$PEBBLE_DIR_URL" "$PEBBLE_CA" 0s x
"$CERTFLEETD" --once -c "$WORK/a.yaml" > "$WORK/a-once.log" 2>&1
assert_eq 0 $? "x issued"
# A 10-day certificate with one day left: due, and close to expiry.
state_set "$WORK/state-a/certs/x/state.json" not_before=-777600 not_after=86400
"$PEBBLE_CTL" stop "$WORK/pebble" > /dev/null
for k in 1 2 3 4; do
  log=$WORK/a-$k.log
  start_daemon "$WORK/a.yaml" "$log"
  wait_for "grep -q 'x: attempt $k failed' $log" 20 || fail "attempt $k: no failure logged"
  stop_daemon
  base=$((60 << (k - 1)))
  d=$(announced "$log" x "$k")
  if [ -n "$d" ] && [ "$d" -ge $((base * 8 / 10 - 1)) ] && [ "$d" -le $((base * 12 / 10 + 1)) ]; then
    pass "attempt $k failed: next attempt announced ${d}s later (${base}s +-20%)"
  else
    fail "attempt $k: next attempt announced ${d:-never}s later, expected ${base}s +-20%"
  fi
  delays="${delays:-}${d:-?} "
  assert_contains "$log" "warning: x: renewal failing \($k in a row\) and the certificate expires in (23h 5[0-9]m|1d)" \
    "attempt $k: warning with the time left"
  # Skip the wait: the next attempt is due now.
  state_set "$WORK/state-a/certs/x/state.json" next_attempt=-1
done
echo "   announced delays: $delays"
assert_contains "$WORK/a-1.log" "error: x: account pebble unavailable: .*directory" "failure names the unreachable directory"
assert_contains "$WORK/a-2.log" "debug: x: next renewal at [^ ]+ \(retry after 2 failed attempts\)" "the schedule says why: backing off"

echo "== Pebble down, then back on the same ports: the running daemon recovers"
write_inv "$WORK/b.yaml" b "$PEBBLE_DIR_URL" "$PEBBLE_CA" 0s r
start_daemon "$WORK/b.yaml" "$WORK/b.log"
pid=$DAEMON_PID
wait_for "grep -q 'r: attempt 1 failed' $WORK/b.log" 20 || fail "r: first attempt did not fail"
d=$(announced "$WORK/b.log" r 1)
[ -n "$d" ] && [ "$d" -ge 47 ] && [ "$d" -le 73 ] && pass "r: first retry announced ${d}s later" ||
  fail "r: first retry announced ${d:-never}s later, expected 48-72"
assert_not_contains "$WORK/b.log" "warning: r: renewal failing" "never-issued certificate: no expiry warning"
at=$(grep -E "info: r: attempt 1 failed" "$WORK/b.log" | sed -E 's/.*\(at ([^)]+)\).*/\1/')
pebble_relaunch && pass "Pebble running again on port $PEBBLE_PORT" || fail "Pebble did not restart"
wait_for "grep -q 'r: installed certificate' $WORK/b.log" 90 || fail "r: not issued after Pebble came back"
[ "$pid" = "$DAEMON_PID" ] && kill -0 "$pid" 2>/dev/null && pass "same daemon process throughout" ||
  fail "daemon restarted or died"
second=$(grep -E "info: r: starting renewal" "$WORK/b.log" | sed -n 2p)
if [ -n "$second" ] && [ -n "$at" ]; then
  diff=$(( $(log_epoch "$second") - $(iso_epoch "$at") ))
  # -1: the log's time stamp comes from time(2), which may lag the loop's clock.
  [ "$diff" -ge -1 ] && [ "$diff" -le 2 ] && pass "r: retried at the announced moment (${diff}s off)" ||
    fail "r: retried ${diff}s after the announced moment"
else
  fail "r: no second attempt logged"
fi
assert_eq 2 "$(grep -c 'r: starting renewal' "$WORK/b.log")" "r: issued on the second attempt"
verify_live "$WORK/out-b" r

echo "== the CA forgets the account: the running daemon finds or registers it again"
"$PEBBLE_CTL" stop "$WORK/pebble" > /dev/null 2>&1
pebble_relaunch && pass "Pebble restarted with no accounts" || fail "Pebble did not restart"
write_inv "$WORK/b.yaml" b "$PEBBLE_DIR_URL" "$PEBBLE_CA" 0s r r2
kill -HUP "$DAEMON_PID"
wait_for "grep -q 'r2: installed certificate' $WORK/b.log" 60 || fail "r2: not issued for a forgotten account"
assert_contains "$WORK/b.log" "warning: account pebble: the CA no longer knows [^ ]+; looking it up or registering again" \
  "the lost account is reported"
assert_not_contains "$WORK/b.log" "r2: attempt 1 failed" "r2: issued at the first attempt"
rm -f "$WORK/pebble/roots.pem"   # this Pebble made itself a new root
verify_live "$WORK/out-b" r2
stop_daemon

echo "== rateLimited newOrder: the account pauses for the CA's Retry-After, no failure"
# A refused newOrder is not a failed attempt (no backoff that could outgrow
# the pause): the certificate waits first in the queue until the pause the
# CA asked for ends (certfleetd(8), RATE LIMITS; t_37 sees it issued after).
echo "rateLimited 429 5400" > "$WORK/ari-ctl/reject-new-order"
write_inv "$WORK/c.yaml" c "$PROXY_DIR_URL" "$PROXY_CA" 0s q
t0=$(date +%s)
start_daemon "$WORK/c.yaml" "$WORK/c.log"
wait_for "grep -q 'the CA asks to slow down' $WORK/c.log" 30 || fail "q: no pause logged"
"$CERTFLEETCTL" --socket "$WORK/ctl-c.sock" status --json > "$WORK/c-status.json" 2>&1
stop_daemon
python3 - "$WORK/c-status.json" "$t0" <<'PY' && pass "q: queued for the pause, which ends 5400s later as Retry-After asked" || fail "q: status: $(cat "$WORK/c-status.json")"
import datetime, json, sys
s, t0 = json.load(open(sys.argv[1])), int(sys.argv[2])
b = s["budgets"][0]
until = datetime.datetime.strptime(b["paused_until"], "%Y-%m-%dT%H:%M:%SZ").replace(
    tzinfo=datetime.timezone.utc).timestamp()
assert 5398 <= until - t0 <= 5403, until - t0
assert b["blocked_by"] == "paused" and b["waiting"]["paused"] == 1, b
q = s["certificates"][0]
assert q["state"] == "queued" and q["failures"] == 0, q
PY
assert_contains "$WORK/c.log" "warning: account pebble: the CA asks to slow down \(rateLimited: refusing newOrder \(test\)\); no new order for 1h 30m" "the pause is logged with the CA's reason"
assert_not_contains "$WORK/c.log" "q: attempt [0-9]+ failed" "q: not counted as a failed attempt"
assert_eq 1 "$(grep -c '"path": "/order-plz"' "$WORK/ari-proxy.log")" "one newOrder sent, none during the pause"
rm -f "$WORK/ari-ctl/reject-new-order"

echo "== jitter: renewal moments within [renewal time, renewal time + 1h], spread"
J="j1 j2 j3 j4 j5 j6 j7 j8"
# shellcheck disable=SC2086
write_inv "$WORK/d.yaml" d "$PEBBLE_DIR_URL" "$PEBBLE_CA" 1h $J
"$CERTFLEETD" --once -c "$WORK/d.yaml" > "$WORK/d-once.log" 2>&1
assert_eq 0 $? "eight certificates issued"
start_daemon "$WORK/d.yaml" "$WORK/d.log"
wait_for "[ \$(grep -c 'next renewal at' $WORK/d.log) -ge 8 ]" 20 || fail "not every certificate scheduled"
stop_daemon
moments=""
inside=0
for n in $J; do
  pem=$WORK/out-d/live/$n/cert.pem
  nb=$(date -u -d "$(openssl x509 -in "$pem" -noout -startdate | cut -d= -f2)" +%s)
  na=$(date -u -d "$(openssl x509 -in "$pem" -noout -enddate | cut -d= -f2)" +%s)
  due=$((na - (na - nb) / 3))
  t=$(grep -E "debug: $n: next renewal at " "$WORK/d.log" | tail -n 1 | sed -E 's/.*next renewal at ([^ ]+) .*/\1/')
  [ -n "$t" ] || { fail "$n: no renewal moment logged"; continue; }
  off=$(( $(iso_epoch "$t") - due ))
  moments="$moments $off"
  if [ "$off" -ge 0 ] && [ "$off" -le 3600 ]; then inside=$((inside + 1)); else
    fail "$n: renewal moment ${off}s from its renewal time, outside [0, 3600]"; fi
done
echo "   offsets from the renewal time (s):$moments"
assert_eq 8 "$inside" "every renewal moment within [renewal time, renewal time + 1h]"
[ "$(printf '%s\n' $moments | sort -u | wc -l)" -ge 2 ] && pass "renewal moments are spread" ||
  fail "renewal moments all equal:$moments"
assert_contains "$WORK/d.log" "debug: j1: next renewal at [^ ]+ \(renewal time reached\)" "scheduled by lifetime (no ARI at Pebble)"

finish
