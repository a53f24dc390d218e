#!/bin/bash
# net/etcd.c, the v3 JSON gateway client, against a real 3-member etcd 3.4
# cluster (issue 10): keys, values and the lock txn (taken once, refused the
# second time with the holder's key), leases (keepalive, revoke, keepalive
# after revoke -> TTL 0), a watch that sees puts made after it started and
# resumes, on another member and from the next revision, after the member it
# was connected to is killed, a compacted start revision, failover with the
# first endpoint dead, no endpoint serving (down, or no quorum) reported as
# unavailable after one try per endpoint, token auth renewed once the token
# has expired, and TLS with a client certificate (refused without it or
# without the CA bundle).
#
# The phases run in tests/net/etcd-driver.c (built by make as
# build/tests/net/etcd-driver); each "ok:"/"FAIL:" line it prints counts here.
# No Pebble: only etcd.  DRV_WRAP="valgrind -q --leak-check=full
# --error-exitcode=99" checks the client for memory errors.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/etcd-lib.sh
. "$(dirname "$0")/etcd-lib.sh"
setup_work

if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$TOP" --no-print-directory \
     build/tests/net/etcd-driver > "$WORK/driver-build.log" 2>&1; then
  cat "$WORK/driver-build.log"
  fail "cannot build tests/net/etcd-driver.c"
  finish
fi
DRV=$TOP/build/tests/net/etcd-driver
read -r -a WRAP <<< "${DRV_WRAP:-}"

# phase NAME ARGS...: runs the driver (bounded), its checks become ours.
phase() {
  local name=$1 rc
  shift
  timeout 150 ${WRAP[@]+"${WRAP[@]}"} "$DRV" "$@" > "$WORK/$name.out" 2>&1
  rc=$?
  report "$name" "$rc"
}

# report NAME RC: the driver's ok/FAIL lines in $WORK/NAME.out, and its status.
report() {
  local line
  while IFS= read -r line; do
    case $line in
      ok:*) pass "$1: ${line#ok: }" ;;
      FAIL:*) fail "$1: ${line#FAIL: }" ;;
    esac
  done < "$WORK/$1.out"
  if [ "$2" != 0 ]; then
    fail "$1: the driver exited with status $2"
    sed 's/^/    | /' "$WORK/$1.out" | tail -n 30
  fi
}

# member_of URL: the index of the member with that client URL.
member_of() {
  local i
  for i in 1 2 3; do
    [ "$(etcd_member_endpoint "$WORK" "$i")" = "$1" ] && { echo "$i"; return 0; }
  done
  return 1
}

# put_retry KEY VALUE: etcdctl put, again while an election settles.
put_retry() {
  local t
  for t in 1 2 3 4 5; do
    etcdctl_cluster "$WORK" put "$1" "$2" > /dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

# Simple tokens expire after 2 s unused, so the auth phase sees one expire.
export ETCD_EXTRA_ARGS="--auth-token-ttl 2"
if ! etcd_cluster_start "$WORK" 3; then
  fail "a 3-member etcd cluster starts"
  finish
fi
pass "3-member etcd cluster healthy on $ETCD_ENDPOINTS"

# ---- keys, the lock txn, leases ----
phase kv kv /t/kv/
phase lease lease /t/lease/

# ---- the watch, across the loss of its member ----
mkdir -p "$WORK/watch"
timeout 150 ${WRAP[@]+"${WRAP[@]}"} "$DRV" watch /t/watch/ "$WORK/watch" 6 > "$WORK/watch.out" 2>&1 &
drv_pid=$!
echo "$drv_pid" > "$WORK/driver.pid"
if wait_for "[ -e '$WORK/watch/phase1' ]" 40; then
  ep=$(cat "$WORK/watch/endpoint")
  if m=$(member_of "$ep"); then
    pass "the watch is on member $m ($ep)"
    etcd_member_kill "$WORK" "$m"
    etcd_cluster_healthy "$WORK" 30 || fail "the two other members have a leader"
    ok=1
    for k in 4 5 6; do put_retry "/t/watch/k$k" "v$k" || ok=0; done
    assert_eq 1 "$ok" "k4..k6 written with etcdctl after member $m was killed"
  else
    fail "the watch's endpoint '$ep' is no member's"
  fi
else
  fail "the watch phase reached its first step"
fi
wait "$drv_pid"
report watch $?
rm -f "$WORK/driver.pid"
[ -n "${m:-}" ] && etcd_member_start "$WORK" "$m"
if etcd_cluster_healthy "$WORK" 30; then
  pass "member ${m:-?} back, cluster healthy"
else
  fail "member ${m:-?} back, cluster healthy"
fi

# ---- the watch, across the loss of quorum around its member ----
mkdir -p "$WORK/wq"
timeout 150 ${WRAP[@]+"${WRAP[@]}"} "$DRV" watch /t/wq/ "$WORK/wq" 6 any > "$WORK/watch-quorum.out" 2>&1 &
drv_pid=$!
echo "$drv_pid" > "$WORK/driver.pid"
others=""
if wait_for "[ -e '$WORK/wq/phase1' ]" 40 && m=$(member_of "$(cat "$WORK/wq/endpoint")"); then
  for i in 1 2 3; do [ "$i" = "$m" ] || others="$others $i"; done
  for i in $others; do etcd_member_kill "$WORK" "$i"; done
  # hasleader: the member left alone ends the stream once it has no leader.
  if wait_for "[ -e '$WORK/wq/down' ]" 30; then
    pass "the watch on member $m went down when the other two were killed"
  else
    fail "the watch on member $m went down when the other two were killed"
  fi
  for i in $others; do etcd_member_start "$WORK" "$i"; done
  etcd_cluster_healthy "$WORK" 30 || fail "quorum back for the watch"
  ok=1
  for k in 4 5 6; do put_retry "/t/wq/k$k" "v$k" || ok=0; done
  assert_eq 1 "$ok" "k4..k6 written once the quorum was back"
else
  fail "the quorum watch phase reached its first step"
fi
wait "$drv_pid"
report watch-quorum $?
rm -f "$WORK/driver.pid"

# ---- a watch from a compacted revision ----
timeout 60 "$DRV" revision /t/comp/ > "$WORK/revision.out" 2>&1
report revision $?
rev=$(sed -n 's/^revision //p' "$WORK/revision.out")
if [ -n "$rev" ] && etcdctl_cluster "$WORK" compact $((rev + 2)) > /dev/null 2>&1; then
  pass "compacted up to revision $((rev + 2))"
  phase compacted compacted /t/comp/ "$rev"
else
  fail "compaction (revision '$rev')"
fi

# ---- failover: the first endpoint dead ----
etcd_member_kill "$WORK" 1
phase failover failover /t/fo/
etcd_member_start "$WORK" 1
etcd_cluster_healthy "$WORK" 30 || fail "member 1 back"

# ---- nothing serves: no member listening, then no quorum ----
p1=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ETCD_ENDPOINTS="http://127.0.0.1:$p1,http://127.0.0.1:$((p1 + 1))" \
  phase unavailable-down unavailable /t/un/
etcd_member_kill "$WORK" 2
etcd_member_kill "$WORK" 3
# Past the election timeout (500 ms): member 1 knows it has no leader.
sleep 1.5
phase unavailable-quorum unavailable /t/un/
assert_contains "$WORK/unavailable-quorum.out" "no leader" "the member without quorum says no leader"
etcd_member_start "$WORK" 2
etcd_member_start "$WORK" 3
if etcd_cluster_healthy "$WORK" 30; then pass "quorum back"; else fail "quorum back"; fi

# ---- token auth, renewed when every member has forgotten it ----
if etcdctl_cluster "$WORK" user add root:certfleet-pw > /dev/null 2>&1 &&
   etcdctl_cluster "$WORK" auth enable > /dev/null 2>&1; then
  pass "auth enabled"
  export ETCDCTL_USER=root:certfleet-pw
  mkdir -p "$WORK/auth"
  ETCD_USER=root ETCD_PASSWORD=certfleet-pw timeout 150 ${WRAP[@]+"${WRAP[@]}"} "$DRV" auth /t/auth/ \
    "$WORK/auth" > "$WORK/auth.out" 2>&1 &
  drv_pid=$!
  echo "$drv_pid" > "$WORK/driver.pid"
  if wait_for "[ -e '$WORK/auth/phase1' ]" 30; then
    # Unused for longer than the members' --auth-token-ttl: expired.
    sleep 4
    touch "$WORK/auth/go"
  fi
  wait "$drv_pid"
  report auth $?
  rm -f "$WORK/driver.pid"
  ETCD_USER=root ETCD_PASSWORD=wrong timeout 60 "$DRV" kv /t/kv2/ > "$WORK/badpw.out" 2>&1
  assert_contains "$WORK/badpw.out" "authentication failed" "a wrong password: authentication failed"
  unset ETCDCTL_USER
else
  fail "auth enabled"
fi

etcd_cluster_stop "$WORK"

# ---- TLS with a client certificate, on a one-member cluster of its own ----
if ETCD_TLS=1 ETCD_EXTRA_ARGS="" etcd_cluster_start "$WORK/etcd-tls" 1; then
  pass "a TLS member with client certificate auth on $ETCD_ENDPOINTS"
  phase tls-kv kv /t/tls/
  env -u ETCD_CERT -u ETCD_KEY timeout 60 "$DRV" kv /t/tls/ > "$WORK/tls-nocert.out" 2>&1
  assert_eq 1 $? "without a client certificate the driver fails"
  assert_contains "$WORK/tls-nocert.out" "FAIL: put /t/tls/a" "without a client certificate: no put"
  env -u ETCD_CA timeout 60 "$DRV" kv /t/tls/ > "$WORK/tls-noca.out" 2>&1
  assert_contains "$WORK/tls-noca.out" "SSL certificate problem|certificate verify" \
    "without the CA bundle the member's certificate is refused"
  etcd_cluster_stop "$WORK/etcd-tls"
else
  fail "a TLS member with client certificate auth starts"
fi
finish
