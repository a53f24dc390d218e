#!/bin/bash
# The pool when etcd or a host fails (issue 10, section 4):
#  - one etcd member of three killed (the first endpoint, which every daemon
#    uses first): a renewal completes and is installed everywhere, nobody
#    reports etcd unreachable;
#  - two killed (no quorum): the daemons keep running, live/ is untouched,
#    the log says "pool: etcd unreachable" once per change (not once a
#    second), STATUS= and certfleetctl status say it; a renewal asked for
#    meanwhile completes and is installed everywhere once the members are
#    back;
#  - the lock holder stopped (SIGSTOP) past its lease TTL, then resumed:
#    another host took the order over, the stopped host notices it lost the
#    lock, and it installs nothing twice (one archive version and one deploy
#    hook run per pool version);
#  - a reload that removes a shared certificate while its lock request
#    waits for etcd (every member SIGSTOPped): nothing stays counted in
#    flight once it is gone.
. "$(dirname "$0")/lib.sh"
setup
. "$TOP/tests/integration/pool-lib.sh"
# shellcheck disable=SC2034  # read by pool-lib.sh
POOL_LEASE_TTL=5s
pool_setup 3 2 || finish
names=(f1 f2)
for i in 1 2 3; do pool_inventory "$i" "${names[@]}"; done

pool_start 2
wait_for "grep -q 'http-01 responder listening' '$(pool_log 2)'" 20 || fail "daemon 2's responder is not up"
pool_start 1
pool_start 3
for i in 1 2 3; do pool_wait_up "$i"; done
pool_wait_same 60 "${names[@]}" || fail "f1, f2 not installed on the three hosts"

echo "== one etcd member killed"
etcd_member_kill "$WORK" 1
old=$(pool_same f1)
pool_ctl 1 renew f1 --force > /dev/null || fail "renew f1 on daemon 1"
if pool_wait_new 60 f1 "$old"; then
  pass "f1 renewed and installed on the three hosts with member 1 down"
else
  fail "f1 not renewed everywhere with one member down"
fi
for i in 1 2 3; do
  assert_not_contains "$(pool_log "$i")" "pool: etcd unreachable" "daemon $i: one member down is not 'etcd unreachable'"
done
if etcd_member_start "$WORK" 1 && etcd_cluster_healthy "$WORK" 30; then
  pass "member 1 back"
else
  fail "member 1 did not come back"
fi

echo "== two members killed: no quorum"
for i in 1 2 3; do pool_live_snapshot "$i" > "$WORK/live-$i.before"; done
for i in 1 2 3; do lines0[i]=$(wc -l < "$(pool_log "$i")"); done
etcd_member_kill "$WORK" 1
etcd_member_kill "$WORK" 2
t_down=$(date +%s)
for i in 1 2 3; do
  wait_for "grep -q 'pool: etcd unreachable' '$(pool_log "$i")'" 30 ||
    fail "daemon $i did not notice that etcd lost its quorum"
done
old2=$(pool_same f2)
pool_ctl 1 renew f2 --force > /dev/null || fail "renew f2 on daemon 1 while etcd is down"
wait_for "grep -q 'f2: pool: etcd unreachable; not renewing the shared certificate here' '$(pool_log 1)'" 20 ||
  fail "daemon 1 did not say why f2 waits"
# Long enough for a daemon that logs each failed request to show it.
while [ $(( $(date +%s) - t_down )) -lt 20 ]; do sleep 1; done
for i in 1 2 3; do
  if pool_alive "$i"; then pass "daemon $i still runs without quorum"; else fail "daemon $i died without quorum"; fi
  pool_live_snapshot "$i" > "$WORK/live-$i.during"
  if cmp -s "$WORK/live-$i.before" "$WORK/live-$i.during"; then
    pass "daemon $i: live/ untouched"
  else
    fail "daemon $i: live/ changed while etcd was down"
    diff "$WORK/live-$i.before" "$WORK/live-$i.during" | head -n 5 | sed 's/^/    | /'
  fi
  n=$(tail -n +"$((lines0[i] + 1))" "$(pool_log "$i")" | grep -c 'pool: etcd unreachable (')
  if [ "$n" -ge 1 ] && [ "$n" -le 3 ]; then
    pass "daemon $i: 'etcd unreachable' logged $n time(s) in 20 s, not once a second"
  else
    fail "daemon $i: 'etcd unreachable' logged $n times in 20 s"
  fi
  assert_contains <(pool_status_line "$i") "^STATUS=.*pool: etcd unreachable since 20" \
    "daemon $i: STATUS= says etcd is unreachable"
  pool_ctl "$i" status > "$WORK/status-$i.txt" 2>&1
  assert_eq 0 $? "daemon $i: certfleetctl status answers without etcd"
  assert_contains "$WORK/status-$i.txt" "etcd unreachable" "daemon $i: certfleetctl status says etcd is unreachable"
  pool_ctl "$i" status --json > "$WORK/status-$i.json" 2>&1
  assert_contains "$WORK/status-$i.json" "etcd unreachable" "daemon $i: status --json says etcd is unreachable"
done
assert_eq "$old2" "$(pool_same f2)" "f2 not renewed while etcd has no quorum"

echo "== members back: the renewal asked for meanwhile completes"
etcd_member_start "$WORK" 1
etcd_member_start "$WORK" 2
if etcd_cluster_healthy "$WORK" 30; then pass "quorum back"; else fail "etcd did not recover"; fi
for i in 1 2 3; do
  wait_for "tail -n +$((lines0[i] + 1)) '$(pool_log "$i")' | grep -q 'pool: connected to etcd'" 30 ||
    fail "daemon $i did not reconnect"
done
if pool_wait_new 90 f2 "$old2"; then
  pass "f2 renewed and installed on the three hosts after the outage"
else
  fail "f2 not renewed everywhere after the outage"
fi
es=$(pool_field certs/f2 serial | sed 's/^0*//' | tr a-f A-F)
assert_eq "$es" "$(pool_same f2)" "f2: the serial published in etcd is the one installed"
for i in 1 2 3; do
  wait_for "pool_status_line $i | grep -q 'pool: up'" 10
  assert_contains <(pool_status_line "$i") "^STATUS=.*pool: up" "daemon $i: STATUS= says the pool is up again"
done

echo "== the lock holder stopped past its lease TTL, then resumed"
old=$(pool_same f1)
v0=$(pool_field certs/f1 version)
pids=()
for i in 1 2 3; do pool_ctl "$i" renew f1 --force > /dev/null & pids+=($!); done
wait "${pids[@]}"
wait_for "[ -n \"\$(pool_holder f1)\" ]" 20 || fail "nobody took f1's lock"
holder=$(pool_holder f1)
h=$(pool_index "$holder")
pool_kill "$h" STOP
t_stop=$(date +%s)
echo "   $holder holds f1's lock: stopped"
# Its lease runs out after 5 s; a waiting host looks again within 5..10 s
# of its first look, and again as long as the lock is there.
wait_for "[ \"\$(pool_field certs/f1 version)\" != '$v0' ]" 60 ||
  fail "nobody published f1 while $holder was stopped"
by=$(pool_field certs/f1 node)
echo "   f1 version $(pool_field certs/f1 version) published by $by, $(( $(date +%s) - t_stop ))s after the stop"
if [ -n "$by" ] && [ "$by" != "$holder" ]; then
  pass "another host ($by) took f1's order over"
else
  fail "f1 published by '$by', the stopped host is $holder"
fi
lines_h=$(wc -l < "$(pool_log "$h")")
pool_kill "$h" CONT
wait_for "tail -n +$((lines_h + 1)) '$(pool_log "$h")' | grep -qE 'pool: (lost the lock|lease [0-9a-f]+ lost)'" 20
assert_contains <(tail -n +"$((lines_h + 1))" "$(pool_log "$h")") \
  "pool: (lost the lock|lease [0-9a-f]+ lost)" "$holder noticed it lost the lock when resumed"
if pool_wait_new 60 f1 "$old"; then
  pass "f1's new certificate installed on the three hosts"
else
  fail "f1's new certificate not installed everywhere"
fi
es=$(pool_field certs/f1 serial | sed 's/^0*//' | tr a-f A-F)
assert_eq "$es" "$(pool_same f1)" "f1: the serial installed everywhere is the pool's"
assert_eq "$by" "$(pool_field certs/f1 node)" "the stopped host published nothing over it"
# Let anything the resumed host still had in flight finish (or not).
sleep 6
assert_eq "$es" "$(pool_same f1)" "f1 unchanged after the resumed host settled"
assert_not_contains <(tail -n +"$((lines_h + 1))" "$(pool_log "$h")") "f1: pool: published version" \
  "$holder did not publish f1 after it was resumed"
# Three pool versions of f1 so far (first issue, two renewals): one archive
# version and one deploy hook run each, on every host.
for i in 1 2 3; do
  assert_eq 3 "$(pool_versions "$i" f1)" "daemon $i: archive/f1 holds one version per pool version (3)"
  assert_eq 3 "$(pool_hooks "$i" f1)" "daemon $i: f1's deploy hook ran once per version (3)"
  assert_eq 3 "$(grep '^f1 ' "$WORK/d$i/deploy.log" | sort -u | wc -l)" "daemon $i: three distinct f1 serials deployed"
done

echo "== a reload removes a shared certificate while its lock request waits for etcd"
# Taking the lock, the attempt is counted in flight until etcd answers; the
# reload cancels that request, so the count must go with the certificate
# (it stayed: one slot lost for good, and the daemon never idle).
inflight1() {
  pool_ctl 1 status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["budgets"][0]["in_flight"])'
}
wait_for '[ "$(inflight1)" = 0 ]' 30 || fail "daemon 1 still has an attempt in flight before the reload test"
l1=$(wc -l < "$(pool_log 1)")
for m in 1 2 3; do kill -STOP "$(_etcd_pid "$WORK" "$m")"; done
pool_ctl 1 renew f2 --force > /dev/null || fail "renew f2 on daemon 1"
assert_eq 1 "$(inflight1)" "f2's attempt counts as in flight on daemon 1 while etcd does not answer"
pool_inventory 1 f1
kill -HUP "${POOL_PID[1]}"
wait_for "tail -n +$((l1 + 1)) '$(pool_log 1)' | grep -q 'reloaded:'" 10 || fail "daemon 1 did not reload"
for m in 1 2 3; do kill -CONT "$(_etcd_pid "$WORK" "$m")"; done
assert_contains <(tail -n +"$((l1 + 1))" "$(pool_log 1)") "f2: removed by reload" \
  "the reload removed f2 with its lock request in flight"
assert_not_contains <(tail -n +"$((l1 + 1))" "$(pool_log 1)") "f2: pool: took the lock" \
  "f2 did not take the lock before the reload (the request was still waiting)"
sleep 2
assert_eq 0 "$(inflight1)" "daemon 1 counts nothing in flight once f2 is gone"

assert_eq 1 "$(count new-account)" "one ACME account for the pool"
for i in 1 2 3; do
  if pool_alive "$i"; then pass "daemon $i still runs"; else fail "daemon $i died"; fi
done
for i in 1 2 3; do pool_stop "$i"; done
finish
