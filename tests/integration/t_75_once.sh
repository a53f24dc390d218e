#!/bin/bash
# --once retries transient failures within the run and says the truth
# (issue 7, section 2):
#  - Pebble down when the run starts and back a few seconds later: the run
#    retries with the daemon's backoff (about a minute) and succeeds.
#  - Pebble down for the whole run with --once-deadline 20s: the first
#    retry would start after the deadline, so none is announced; the run
#    ends at once, and its last line says what failed and why.
#  - A permanent failure (the http-01 challenge fails: nothing answers on
#    the port Pebble validates on, so the authorization is invalid): no
#    retry, a fast exit, the last line says why.
#  - A bad --once-deadline is refused.
. "$(dirname "$0")/lib.sh"
setup

write_inv() { # file tag challenge-line names...
  local f=$1 tag=$2 chal=$3 n; shift 3
  {
    cat <<YAML
state_dir: @WORK@/state-$tag
output_dir: @WORK@/out-$tag
http01_listen: "127.0.0.1:@HTTP01_PORT@"
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
YAML
    for n in "$@"; do
      printf '  - name: %s\n    domains: [%s.example.com]\n    account: pebble\n' "$n" "$n"
      [ -n "$chal" ] && printf '    %s\n' "$chal"
    done
  } | inventory "$f"
}
last_line() { grep -v '^\s*$' "$1" | tail -n 1; }

echo "== a bad --once-deadline is refused"
write_inv "$WORK/a.yaml" a "" x1 x2
"$CERTFLEETD" --once --once-deadline 5parsecs -c "$WORK/a.yaml" > "$WORK/bad.log" 2>&1
assert_eq 64 $? "--once-deadline 5parsecs: exit 64"
assert_contains "$WORK/bad.log" "once-deadline: '5parsecs' is not a duration" "the error names the value"

echo "== Pebble down at the start, back 5 s later: the run retries and succeeds"
"$PEBBLE_CTL" stop "$WORK/pebble" > /dev/null
t0=$(date +%s)
"$CERTFLEETD" --once -v -c "$WORK/a.yaml" > "$WORK/a.log" 2>&1 &
once_pid=$!
wait_for "grep -q 'x2: attempt 1 failed' '$WORK/a.log'" 20 || fail "no failure while Pebble is down"
sleep 5
pebble_relaunch && pass "Pebble running again" || fail "Pebble did not restart"
# The retry comes about a minute after the failure (60 s +-20 %).
wait_for "! kill -0 $once_pid 2>/dev/null" 120
wait "$once_pid"
rc=$?
took=$(( $(date +%s) - t0 ))
assert_eq 0 "$rc" "--once exits 0 after Pebble came back (${took}s)"
assert_contains "$WORK/a.log" "x1: attempt 1 failed; next attempt in [0-9][0-9dhms ]* \(at " "the retry is announced"
assert_eq 2 "$(grep -c 'x1: starting renewal' "$WORK/a.log")" "x1: the announced retry happened"
assert_contains "$WORK/a.log" "info: x1: retrying after 1 failed attempt in this run" "the retry says what it is"
assert_contains "$WORK/a.log" "notice: done: 2 issued or renewed, 0 failed$" "both issued in the run"
rm -f "$WORK/pebble/roots.pem"   # the relaunched Pebble has a new root
verify_live "$WORK/out-a" x1
verify_live "$WORK/out-a" x2

echo "== Pebble down the whole run, --once-deadline 20s: no retry that would not happen"
write_inv "$WORK/b.yaml" b "" y1
"$PEBBLE_CTL" stop "$WORK/pebble" > /dev/null
t0=$(date +%s)
"$CERTFLEETD" --once --once-deadline 20s -c "$WORK/b.yaml" > "$WORK/b.log" 2>&1
rc=$?
took=$(( $(date +%s) - t0 ))
assert_eq 1 "$rc" "--once exits 1"
[ "$took" -le 10 ] && pass "ends at once (${took}s): the first retry would be after the deadline" ||
  fail "took ${took}s"
assert_not_contains "$WORK/b.log" "next attempt" "no next attempt announced"
assert_contains "$WORK/b.log" "error: y1: attempt 1 failed, not retried: a retry \(in [0-9][0-9dhms ]*\) would start after --once-deadline \([0-9TZ:-]+\)$" \
  "the failure says why it is not retried"
assert_contains <(last_line "$WORK/b.log") "done: 0 issued or renewed, 1 failed: y1: account pebble unavailable: .*directory.*\(not retried before --once-deadline\)$" \
  "the last line says what failed and why"
pebble_relaunch || fail "Pebble did not restart"
rm -f "$WORK/pebble/roots.pem"

echo "== a permanent failure (invalid authorization) fails fast, not retried"
mkdir -p "$WORK/www"   # a webroot nobody serves: Pebble's http-01 fetch is refused
write_inv "$WORK/c.yaml" c "challenge: {types: [http-01], http01: webroot, webroot: @WORK@/www}" z1
orders=$(count new-order)
t0=$(date +%s)
"$CERTFLEETD" --once -c "$WORK/c.yaml" > "$WORK/c.log" 2>&1
rc=$?
took=$(( $(date +%s) - t0 ))
assert_eq 1 "$rc" "--once exits 1"
[ "$took" -le 30 ] && pass "fails fast (${took}s)" || fail "took ${took}s"
assert_eq 1 "$(( $(count new-order) - orders ))" "one order, no retry"
assert_not_contains "$WORK/c.log" "next attempt" "no next attempt announced"
assert_contains "$WORK/c.log" "error: z1: authorization for z1.example.com is invalid" "the invalid authorization is logged"
assert_contains "$WORK/c.log" "error: z1: attempt 1 failed, not retried: retrying cannot change this answer$" \
  "the failure says it is permanent"
# Why: the challenge's problem, Pebble's failed fetch of the token.
assert_contains <(last_line "$WORK/c.log") "done: 0 issued or renewed, 1 failed: z1: .*(connection|unauthorized).*z1\.example\.com.* \(permanent, not retried\)$" \
  "the last line says what failed and why"

finish
