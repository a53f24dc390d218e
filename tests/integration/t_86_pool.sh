#!/bin/bash
# A pool of three certfleetd daemons shares 20 certificates through a real
# 3-member etcd (issue 10): each certificate is ordered once for the whole
# pool, all three hosts install the same certificate and key and run their
# deploy hooks, status shows the pool's version installed, and no private
# key is readable in etcd.  Pebble validates http-01 on one port only, where
# daemon 2 listens: every certificate ordered by daemon 1 or 3 is validated
# through a host that does not hold its lock (the token reaches daemon 2
# through etcd), and a second part makes daemon 1 alone take the locks.
. "$(dirname "$0")/lib.sh"
# Every order validates its challenge: a reused authorization would let a
# certificate through without the pool's http-01.
export PEBBLE_AUTHZREUSE=0
setup
. "$TOP/tests/integration/pool-lib.sh"
# shellcheck disable=SC2034  # read by pool-lib.sh
POOL_MAX_INFLIGHT=3
pool_setup 3 2 || finish

N=20
names=()
for ((k = 1; k <= N; k++)); do names+=("$(printf 's%02d' "$k")"); done
for i in 1 2 3; do pool_inventory "$i" "${names[@]}"; done

echo "== $N shared certificates, three daemons (daemon 2 on Pebble's http-01 port $HTTP01_PORT, started first)"
t0=$(date +%s)
pool_start 2
wait_for "grep -q 'http-01 responder listening' '$(pool_log 2)'" 20 || fail "daemon 2's responder is not up"
pool_start 1
pool_start 3
for i in 1 2 3; do pool_wait_up "$i"; done
if pool_wait_same 150 "${names[@]}"; then
  pass "all $N certificates installed on the three hosts ($(( $(date +%s) - t0 ))s)"
else
  fail "not every certificate installed everywhere within 150 s"
fi
# The waiting hosts look again after their lock wait: a host that installed
# the pool's version must not order it once more then (lease_ttl 5s: 10 s).
sleep 11
assert_eq "$N" "$(count new-order)" "Pebble created exactly $N orders for $N certificates and 3 hosts"
assert_eq "$N" "$(count certificates-issued)" "Pebble issued exactly $N certificates"
assert_eq 1 "$(count new-account)" "one ACME account for the pool"

same=0 serial_ok=0 by1=0 by2=0 by3=0
for n in "${names[@]}"; do
  s=$(pool_same "$n") && same=$((same + 1))
  es=$(pool_field "certs/$n" serial | sed 's/^0*//' | tr a-f A-F)
  [ -n "$s" ] && [ "$s" = "$es" ] && serial_ok=$((serial_ok + 1))
  case $(pool_field "certs/$n" node) in
    node1) by1=$((by1 + 1)) ;; node2) by2=$((by2 + 1)) ;; node3) by3=$((by3 + 1)) ;;
  esac
done
echo "   ordered by node1: $by1, node2: $by2, node3: $by3"
assert_eq "$N" "$same" "every certificate: the same cert.pem and privkey.pem on the three hosts"
assert_eq "$N" "$serial_ok" "every certificate: the serial installed is the one published in etcd"
assert_eq "$N" "$((by1 + by2 + by3))" "every certificate published by one of the three nodes"
verify_live "$WORK/d1/out" s01
verify_live "$WORK/d3/out" "s$N"
# The holder's deploy hook runs after its own installation, the others' after
# the watch's: each host once per certificate.
for i in 1 2 3; do wait_for "[ \$(wc -l < '$WORK/d$i/deploy.log') -ge $N ]" 20; done
for i in 1 2 3; do
  once=0
  for n in "${names[@]}"; do
    es=$(pool_field "certs/$n" serial | sed 's/^0*//' | tr a-f A-F)
    hs=$(sed -n "s/^$n 0*//p" "$WORK/d$i/deploy.log" | tr a-f A-F)
    [ "$(pool_hooks "$i" "$n")" = 1 ] && [ "$hs" = "$es" ] && once=$((once + 1))
  done
  assert_eq "$N" "$once" "daemon $i: the deploy hook ran once per certificate, with the pool's serial"
  assert_eq "$N" "$(wc -l < "$WORK/d$i/deploy.log")" "daemon $i: no other deploy hook run"
done
for i in 1 2 3; do
  good=0
  for n in "${names[@]}"; do
    read -r inst pv st <<< "$(pool_status_pool "$i" "$n")"
    [ "${inst:-0}" -gt 0 ] && [ "$inst" = "$pv" ] && [ "$st" = idle ] && good=$((good + 1))
  done
  assert_eq "$N" "$good" "daemon $i: status --json shows every certificate's pool version installed"
done

echo "== http-01 validated through a host that does not hold the lock"
nonholder=$((by1 + by3))
if [ "$nonholder" -gt 0 ]; then
  pass "$nonholder certificate(s) ordered by node1/node3, which Pebble's validation never reaches"
else
  fail "node2 ordered everything: the race proves nothing about http-01 through another host"
fi
for i in 1 3; do
  for n in "${names[@]}"; do
    [ "$(pool_field "certs/$n" node)" = "node$i" ] || continue
    assert_contains "$(pool_log "$i")" "$n: pool: took the lock \(fence [0-9]+\)" \
      "node$i's log: it held $n's lock"
    break
  done
done

echo "== daemon 1 alone renews three certificates: Pebble's validation reaches daemon 2"
orders0=$(count new-order)
chal0=$(count challenge)
from1=$(( $(wc -l < "$(pool_log 1)") + 1 ))
declare -A old
for n in s01 s02 s03; do
  old[$n]=$(pool_same "$n")
  pool_ctl 1 renew "$n" --force > /dev/null || fail "renew $n on daemon 1"
done
for n in s01 s02 s03; do
  pool_wait_new 60 "$n" "${old[$n]}" || fail "$n: no new certificate on the three hosts within 60 s"
  assert_eq node1 "$(pool_field "certs/$n" node)" "$n: ordered by node1 (http-01 on port ${POOL_PORT[1]})"
  es=$(pool_field "certs/$n" serial | sed 's/^0*//' | tr a-f A-F)
  assert_eq "$es" "$(pool_same "$n")" "$n: the new serial installed everywhere"
done
assert_eq 3 "$(( $(count new-order) - orders0 ))" "three new orders, all daemon 1's"
# Pebble 2.4 hands a new order an authorization it already validated when
# rand.Intn(100) > PEBBLE_AUTHZREUSE, so 1 time in 100 even at 0 (wfe.go,
# makeAuthorizations): such an order is ready at once, or has that name's
# authorization valid already, and daemon 1 says so.  Every other renewal
# must be validated through the pool.
tail -n +"$from1" "$(pool_log 1)" > "$WORK/d1-renewals.log"
fresh=()
for n in s01 s02 s03; do
  if grep -qE ": $n: (order ready at once: the CA reused|authorization for [^ ]+ already valid)" \
    "$WORK/d1-renewals.log"; then
    echo "    note: $n: Pebble reused a valid authorization (no challenge)"
  else
    fresh+=("$n")
  fi
done
c=$(( $(count challenge) - chal0 ))
if [ "${#fresh[@]}" -eq 0 ]; then
  fail "Pebble reused an authorization for all three renewals: nothing was validated through the pool"
elif [ "$c" -ge "${#fresh[@]}" ]; then
  pass "Pebble was asked to validate $c challenge(s) for node1's ${#fresh[@]} order(s) that needed one"
else
  fail "Pebble saw $c challenge requests for ${#fresh[@]} order(s) that needed one: the renewals were not validated"
fi
for n in "${fresh[@]}"; do
  assert_contains "$WORK/d1-renewals.log" "$n: pool: http-01 token [^ ]+ served by all 3 members" \
    "$n: node1 published its token and the two others acknowledged it"
done
assert_not_contains "$(pool_log 1)" "s0[123]: .*(failed|invalid)" "node1's orders did not fail"
for i in 1 2 3; do
  wait_for "[ \$(wc -l < '$WORK/d$i/deploy.log') -ge $((N + 3)) ]" 20
  assert_eq $((N + 3)) "$(wc -l < "$WORK/d$i/deploy.log")" "daemon $i: deploy hook ran for each new version"
done

echo "== private keys in etcd are sealed"
pool_etcdctl get --prefix "$POOL_PREFIX" > "$WORK/etcd-dump.txt" 2>&1
assert_contains "$WORK/etcd-dump.txt" "BEGIN CERTIFICATE" "the dump holds the certificates (it is not empty)"
sealed=$(python3 - "$WORK/etcd-dump.txt" "${POOL_PREFIX}certs/" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().split("\n")
n = 0
for k, v in zip(lines[0::2], lines[1::2]):
    if k.startswith(sys.argv[2]):
        n += json.loads(v).get("key", "").startswith("cfenv1:")
print(n)
PY
)
assert_eq "$N" "$sealed" "each certificate's key is in etcd, sealed (cfenv1:)"
assert_not_contains "$WORK/etcd-dump.txt" "PRIVATE KEY" "no PEM private key in etcd"
for i in 1 2 3; do
  assert_not_contains "$(pool_log "$i")" "PRIVATE KEY" "daemon $i logged no key"
done

echo "== SIGTERM revokes the lease: the member is gone at once, not a TTL later"
leases() { pool_etcdctl lease list 2>/dev/null | sed -n 's/^found \([0-9]*\) leases$/\1/p'; }
assert_eq 3 "$(leases)" "three leases, one per daemon"
[ -n "$(pool_get members/node1)" ] && pass "node1 is a member" || fail "node1 is not a member"
pool_stop 1
t_stop=$(date +%s.%N)
m=$(pool_get members/node1)
l=$(leases)
gap=$(awk -v a="$t_stop" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
assert_eq "" "$m" "node1's member record is gone ${gap}s after it stopped (lease_ttl 5s)"
assert_eq 2 "$l" "its lease is revoked"
assert_contains "$(pool_log 1)" "pool: left the pool \\(lease [0-9a-f]* revoked\\)" "node1 logged that it left"
awk -v g="$gap" 'BEGIN { exit !(g < 4) }' && pass "checked within the TTL (${gap}s)" ||
  fail "checked ${gap}s after the stop: not within the 5 s TTL, the check proves nothing"
for i in 2 3; do pool_stop "$i"; done
for i in 1 2 3; do
  assert_not_contains "$(pool_log "$i")" "\\]: (error|crit|alert|emerg): " "daemon $i logged no error"
done
finish
