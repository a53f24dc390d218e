#!/bin/bash
# RLIMIT_NOFILE (daemon_slots.c): the daemon raises its soft limit to the
# hard one at start, and a hard limit too low for the configured orders in
# flight cuts the HTTP slots to fit, with a warning, instead of letting
# connections fail with EMFILE.  The daemon runs under prlimit, which sets
# the limits and execs it (same pid).
#  1. soft 1024, hard 4096 (enough for 256 orders in flight, 1,728
#     descriptors wanted): the raise is logged, no warning, the full plan
#     (320 slots, 32 kept for short requests), and /proc/PID/limits shows
#     the soft limit at the hard one.
#  2. soft 256, hard 512 (low for max_inflight 256): raised and logged, the
#     warning gives the limit, the orders, the descriptors wanted and the
#     slots left (512 - 256 for the rest: 256, 32 of them kept), the soft
#     limit in force is 512, and twenty certificates are issued with no
#     failure and no "Too many open files" in the log.
. "$(dirname "$0")/lib.sh"
setup

write_inv() { # names...
  {
    cat <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
renew_jitter: 0s
max_inflight: 256
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    max_inflight: 256
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
YAML
    for n in "$@"; do printf '  - {name: %s, domains: [%s.example.com], account: pebble}\n' "$n" "$n"; done
  } | inventory "$WORK/inv.yaml"
}
installed() { grep -c "installed certificate" "$1"; }
start_daemon() { # soft:hard log
  prlimit --nofile="$1" "$CERTFLEETD" -v -c "$WORK/inv.yaml" > "$2" 2>&1 &
  DAEMON_PID=$!
}
stop_daemon() {
  kill -TERM "$DAEMON_PID" 2>/dev/null
  wait "$DAEMON_PID" 2>/dev/null
  DAEMON_PID=""
}
# limits PID: "soft hard" of the process's open-files limit.
limits() { awk '/^Max open files/ { print $4, $5 }' "/proc/$1/limits"; }

hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt 4096 ]; then
  echo "$T_NAME: the hard RLIMIT_NOFILE here is $hard; section 1 needs 4096"
  fail "hard limit $hard below 4096"
  finish
fi

echo "== soft 1024, hard 4096: raised, enough for 256 orders in flight"
write_inv a1 a2
start_daemon 1024:4096 "$WORK/d1.log"
wait_for "grep -q 'HTTP: [0-9]* requests at once' '$WORK/d1.log'" 10 || fail "no HTTP slots line"
assert_eq certfleetd "$(cat "/proc/$DAEMON_PID/comm" 2>/dev/null)" "prlimit exec'd the daemon (same pid)"
assert_eq "4096 4096" "$(limits "$DAEMON_PID")" "/proc/PID/limits: soft raised to the hard limit"
wait_for "[ \$(installed $WORK/d1.log) -ge 2 ]" 60 || fail "a1, a2 not issued"
stop_daemon
assert_contains "$WORK/d1.log" "RLIMIT_NOFILE: soft limit raised from 1024 to the hard limit 4096$" "the raise is logged with both numbers"
assert_not_contains "$WORK/d1.log" "is low for" "no warning: 4096 is enough"
assert_contains "$WORK/d1.log" "HTTP: 320 requests at once for 256 orders in flight, 32 of them kept for short requests$" \
  "the full plan: 256 orders + 32 reserved + 32 headroom"
assert_eq 2 "$(installed "$WORK/d1.log")" "both issued"

echo "== soft 256, hard 512: raised, low for max_inflight 256, twenty certificates"
names=()
for i in $(seq -w 1 20); do names+=("b$i"); done
write_inv "${names[@]}"
start_daemon 256:512 "$WORK/d2.log"
wait_for "grep -q 'HTTP: [0-9]* requests at once' '$WORK/d2.log'" 10 || fail "no HTTP slots line"
assert_eq "512 512" "$(limits "$DAEMON_PID")" "/proc/PID/limits: soft raised to the hard limit"
wait_for "[ \$(installed $WORK/d2.log) -ge 20 ]" 180 || fail "not all twenty issued"
# Still 512 after the orders: nothing lowered it on the way.
assert_eq "512 512" "$(limits "$DAEMON_PID" 2>/dev/null)" "/proc/PID/limits: still 512 after the batch"
# Descriptors in use while running, for the record.
echo "   (descriptors open after the batch: $(ls "/proc/$DAEMON_PID/fd" 2>/dev/null | wc -l))"
stop_daemon
assert_contains "$WORK/d2.log" "RLIMIT_NOFILE: soft limit raised from 256 to the hard limit 512$" "the raise is logged with both numbers"
assert_eq 1 "$(grep -c 'is low for' "$WORK/d2.log")" "the warning is logged once"
assert_contains "$WORK/d2.log" "warning: RLIMIT_NOFILE 512 is low for 256 orders in flight \(about 1728 descriptors wanted\): HTTP requests limited to 256 at once, the rest wait; raise the hard limit \(LimitNOFILE=\) or lower max_inflight$" \
  "the warning: limit 512, 256 orders, 1728 wanted, 256 slots"
assert_contains "$WORK/d2.log" "HTTP: 256 requests at once for 256 orders in flight, 32 of them kept for short requests$" \
  "the slots cut to 256, 32 still kept for short requests"
assert_eq 20 "$(installed "$WORK/d2.log")" "all twenty issued"
assert_not_contains "$WORK/d2.log" "Too many open files|EMFILE|ENFILE" "no descriptor ran out"
assert_not_contains "$WORK/d2.log" "attempt [0-9]+ failed|error:" "no attempt failed, no error"
for n in b01 b20; do verify_live "$WORK/out" "$n"; done

finish
