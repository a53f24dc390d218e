#!/bin/bash
# A restart never re-issues a valid certificate (issue 7, section 0).
#  - 200 valid certificates from Debian's Pebble (no renewalInfo): the daemon
#    is started, left until every certificate's first renewalInfo-check timer
#    has fired (the account learns there is no renewalInfo from the first
#    one; the others must only be rescheduled), stopped with SIGTERM and
#    started again: no newOrder reaches Pebble in either run.
#  - The same through ari-proxy.py, a directory with renewalInfo answering a
#    window far ahead: the windows are checked, nothing is ordered.
# CERTFLEET_T70_N changes the number of certificates (default 200).
. "$(dirname "$0")/lib.sh"
setup
ari_proxy_start || finish

N=${CERTFLEET_T70_N:-200}
NARI=${CERTFLEET_T70_NARI:-30}

write_inv() { # file tag directory ca count
  local f=$1 tag=$2 dir=$3 ca=$4 n=$5 i
  {
    cat <<YAML
state_dir: @WORK@/state-$tag
output_dir: @WORK@/out-$tag
control_socket: @WORK@/ctl-$tag.sock
http01_listen: "127.0.0.1:@HTTP01_PORT@"
accounts:
  pebble:
    directory: $dir
    contact: mailto:it@example.com
    ca_bundle: $ca
    # Debian's Pebble can deadlock with many orders in flight (it did here
    # once at 32, on a loaded machine; tests/bench/run-bench).
    max_inflight: 16
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
YAML
    for ((i = 1; i <= n; i++)); do
      printf '  - {name: %s%03d, domains: [%s%03d.example.com], account: pebble}\n' "$tag" "$i" "$tag" "$i"
    done
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
# first_checks LOG: the latest of the first renewalInfo checks announced
# for each certificate when it was scheduled at start (unix time), 0 when
# none.  Later announcements (after a check's Retry-After) are hours ahead.
first_checks() {
  local t max=0 s
  for t in $(grep -E 'debug: [a-z0-9]+: next renewal at ' "$1" |
      awk '!seen[$4]++' | grep -oE 'check at [0-9TZ:-]+$' | awk '{print $3}' | sort -u); do
    s=$(iso_epoch "$t")
    [ "$s" -gt "$max" ] && max=$s
  done
  echo "$max"
}
# run_daemon TAG INVENTORY LOG N: starts the daemon, waits until all N
# certificates are scheduled and every renewalInfo check announced so far
# has had its moment (plus a margin for the check itself), then stops it.
run_daemon() {
  local tag=$1 inv=$2 log=$3 n=$4 until
  start_daemon "$inv" "$log"
  wait_for "[ \$(grep -c 'debug: $tag[0-9]*: next renewal at' $log) -ge $n ]" 60 ||
    fail "$tag: not every certificate scheduled ($(grep -c "debug: $tag[0-9]*: next renewal at" "$log") of $n)"
  until=$(( $(first_checks "$log") + 3 ))
  echo "   last renewalInfo check announced for $(date -u -d "@$((until - 3))" +%T) ($((until - 3 - $(date +%s)))s from now)"
  # Bounded by the spread of the first checks (10 s for 200 certificates).
  while [ "$(date +%s)" -le "$until" ]; do sleep 0.5; done
  sleep 2
  stop_daemon
}

echo "== $N certificates issued with --once from Pebble (no renewalInfo)"
write_inv "$WORK/a.yaml" a "$PEBBLE_DIR_URL" "$PEBBLE_CA" "$N"
t0=$(date +%s)
# A deadlocked Pebble answers nothing: do not retry it for 15 minutes.
"$CERTFLEETD" --once --once-deadline 2m -c "$WORK/a.yaml" > "$WORK/a-once.log" 2>&1
rc=$?
if [ "$rc" != 0 ] && grep -q 'Operation timed out' "$WORK/a-once.log"; then
  echo "   (requests to Pebble timed out: Debian's Pebble deadlocks now and then under load)"
fi
assert_eq 0 "$rc" "--once issued all $N"
[ "$rc" = 0 ] || finish
echo "   ($N certificates in $(( $(date +%s) - t0 ))s)"
assert_eq "$N" "$(grep -c 'installed certificate' "$WORK/a-once.log")" "$N certificates installed"
orders0=$(count new-order)

for run in 1 2; do
  echo "== daemon start $run on the valid store: nothing ordered"
  log=$WORK/a-d$run.log
  run_daemon a "$WORK/a.yaml" "$log" "$N"
  assert_eq 0 "$(( $(count new-order) - orders0 ))" "start $run: no newOrder reached Pebble"
  assert_not_contains "$log" "renewal due|starting renewal|due now" "start $run: no certificate taken as due"
  # Every certificate's renewalInfo-check timer fired (or was never set once
  # the account knew): each ends scheduled for its renewal moment only.
  none=0
  for ((i = 1; i <= N; i++)); do
    name=$(printf 'a%03d' "$i")
    grep -E "debug: $name: next renewal at " "$log" | tail -n 1 | grep -q 'check at none$' && none=$((none + 1))
  done
  assert_eq "$N" "$none" "start $run: every certificate ends with no renewalInfo check, only its renewal moment"
  [ "$run" = 1 ] && { grep -c 'debug: a[0-9]*: next renewal at .*check at 20' "$log" | grep -qv '^0$' &&
    pass "start 1: renewalInfo checks were scheduled (the timers the bug was in)" ||
    fail "start 1: no renewalInfo check was ever scheduled: the test proves nothing"; }
done

echo "== $NARI certificates through a directory with renewalInfo (window far ahead)"
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
now=$(date +%s)
printf '{"retry_after": "3600", "body": {"suggestedWindow": {"start": "%s", "end": "%s"}}}\n' \
  "$(iso $((now + 400 * 86400)))" "$(iso $((now + 401 * 86400)))" > "$WORK/ari-ctl/ari.json"
write_inv "$WORK/b.yaml" b "$PROXY_DIR_URL" "$PROXY_CA" "$NARI"
"$CERTFLEETD" --once --once-deadline 2m -c "$WORK/b.yaml" > "$WORK/b-once.log" 2>&1
rc=$?
assert_eq 0 "$rc" "--once issued all $NARI through the proxy"
[ "$rc" = 0 ] || finish
orders0=$(count new-order)
for run in 1 2; do
  echo "== daemon start $run with renewalInfo: windows checked, nothing ordered"
  : > "$WORK/ari-proxy.log"
  log=$WORK/b-d$run.log
  run_daemon b "$WORK/b.yaml" "$log" "$NARI"
  gets=$(grep -c '"path": "/renewal-info/' "$WORK/ari-proxy.log")
  [ "$gets" -ge "$NARI" ] && pass "start $run: $gets renewalInfo checks" ||
    fail "start $run: only $gets renewalInfo checks for $NARI certificates"
  assert_eq 0 "$(( $(count new-order) - orders0 ))" "start $run: no newOrder reached Pebble"
  assert_not_contains "$log" "renewal due|starting renewal|due now" "start $run: no certificate taken as due"
done

finish
