# etcd-lib.sh - a real etcd cluster (Debian's etcd-server 3.4) on loopback for
# the cluster tests and the benchmark.  Sourced by bash after lib.sh (or after
# tests/pebble/ports.sh, which gives _port_used).
# shellcheck shell=bash
#
#   etcd_cluster_start DIR N   N members; member I's data in DIR/etcd-I/data,
#                              its log in DIR/etcd-I.log, its pid in
#                              DIR/etcd-I.pid; returns once every member is
#                              healthy; exports ETCD_ENDPOINTS (the client
#                              URLs, comma-separated, member 1 first)
#   etcd_member_kill DIR I [SIG]  SIGKILL (or SIG) to member I; returns once
#                              it is gone
#   etcd_member_start DIR I    member I again, with its data; returns once it
#                              listens (it serves clients only once a quorum
#                              is up: etcd_cluster_healthy waits for that)
#   etcd_member_endpoint DIR I member I's client URL
#   etcd_cluster_healthy DIR [SECONDS]  waits until every running member is
#                              healthy (default 30 s)
#   etcd_cluster_stop DIR      TERM every member (KILL if it lingers)
#   etcdctl_cluster DIR ARGS   etcdctl against every running member
#
# ETCD_TLS=1 at etcd_cluster_start: clients speak TLS and must show a client
# certificate; DIR/tls/ca.pem, client.pem and client.key are made for the
# test (and exported as ETCD_CA, ETCD_CERT, ETCD_KEY), the endpoints are
# https:// (peers still talk plain HTTP among themselves).
#
# ETCD_EXTRA_ARGS (split on blanks) is added to every member's command line
# when it starts or restarts, e.g. "--auth-token-ttl 2".
#
# DIR is usually $WORK itself, so that lib.sh's cleanup (and run-all's reaper),
# which stop $WORK/*.pid, stop the members too; when DIR is elsewhere under
# $WORK, each pid is also written to $WORK/etcd-<dir name>-I.pid.
#
# Ports: each cluster takes a block of 20 loopback ports from 23000 on (member
# I: client 23000+20k+2(I-1), peer the next one), the first block where all
# are free, chosen under a lock so parallel tests never pick the same block.
# Elections are fast (heartbeat 50 ms, election timeout 500 ms) so a killed
# leader is replaced within a second; there is no --unsafe-no-fsync in 3.4, so
# the data lives under /tmp.

ETCD_BIN=${ETCD_BIN:-etcd}
ETCDCTL_BIN=${ETCDCTL_BIN:-etcdctl}
ETCD_PORT_BASE=${ETCD_PORT_BASE:-23000}
ETCD_LOCK=${ETCD_LOCK:-/tmp/certfleet-etcd-ports.lock}

# _etcd_pidfiles DIR I: the pid files of member I.
_etcd_pidfiles() {
  local d
  echo "$1/etcd-$2.pid"
  if [ -n "${WORK:-}" ]; then
    d=$(cd "$1" && pwd -P)
    if [ "$d" != "$(cd "$WORK" && pwd -P)" ]; then
      echo "$WORK/etcd-$(basename "$d")-$2.pid"
    fi
  fi
}

_etcd_pid() { cat "$1/etcd-$2.pid" 2>/dev/null; }

# _etcd_alive PID: the process runs (a zombie waiting for init does not).
_etcd_alive() {
  case $1 in ''|*[!0-9]*) return 1 ;; esac
  kill -0 "$1" 2>/dev/null || return 1
  ! awk '{ exit $3 != "Z" }' "/proc/$1/stat" 2>/dev/null
}

# _etcd_var DIR NAME: a value from DIR/etcd.env.
_etcd_var() { sed -n "s/^$2=//p" "$1/etcd.env" 2>/dev/null; }

_etcd_scheme() { if [ "$(_etcd_var "$1" TLS)" = 1 ]; then echo https; else echo http; fi; }
etcd_member_endpoint() { echo "$(_etcd_scheme "$1")://127.0.0.1:$(( $(_etcd_var "$1" BASE) + 2 * ($2 - 1) ))"; }

# _etcd_tls_args DIR: the members' TLS flags into the array ETCD_TLS_ARGS,
# etcdctl's into ETCDCTL_TLS_ARGS (both empty without ETCD_TLS).
_etcd_tls_args() {
  ETCD_TLS_ARGS=() ETCDCTL_TLS_ARGS=()
  [ "$(_etcd_var "$1" TLS)" = 1 ] || return 0
  ETCD_TLS_ARGS=(--cert-file "$1/tls/server.pem" --key-file "$1/tls/server.key"
    --client-cert-auth --trusted-ca-file "$1/tls/ca.pem")
  ETCDCTL_TLS_ARGS=(--cacert "$1/tls/ca.pem" --cert "$1/tls/client.pem"
    --key "$1/tls/client.key")
}

# _etcd_make_tls DIR: a throwaway CA, the members' server certificate (for
# 127.0.0.1) and a client certificate, in DIR/tls.
_etcd_make_tls() {
  local d=$1/tls
  mkdir -p "$d"
  (
    umask 077
    set -e
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=certfleet test CA for etcd" -keyout "$d/ca.key" -out "$d/ca.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
    for who in server client; do
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=etcd-$who" -keyout "$d/$who.key" -out "$d/$who.csr"
      if [ "$who" = server ]; then
        # clientAuth too: etcd's own JSON gateway dials the member's gRPC
        # port with this certificate, refused without it.
        printf '%s\n' "subjectAltName=IP:127.0.0.1" "extendedKeyUsage=serverAuth,clientAuth" \
          > "$d/$who.ext"
      else
        printf '%s\n' "extendedKeyUsage=clientAuth" > "$d/$who.ext"
      fi
      openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$d/$who.ext" -out "$d/$who.pem"
    done
  ) > "$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; return 1; }
}
_etcd_peer_url() { echo "http://127.0.0.1:$(( $(_etcd_var "$1" BASE) + 2 * ($2 - 1) + 1 ))"; }

# _etcd_launch DIR I: starts member I in the background, records its pid.
_etcd_launch() {
  local dir=$1 i=$2 f pid extra
  read -r -a extra <<< "${ETCD_EXTRA_ARGS:-}"
  _etcd_tls_args "$dir"
  mkdir -p "$dir/etcd-$i"
  # Started from a subshell, so the member is not this shell's job: bash
  # would print a notice on its stderr when it is killed, and init reaps it.
  (
  env -u ETCD_ENDPOINTS -u ETCDCTL_ENDPOINTS "$ETCD_BIN" \
    --name "m$i" --data-dir "$dir/etcd-$i/data" \
    --listen-client-urls "$(etcd_member_endpoint "$dir" "$i")" \
    --advertise-client-urls "$(etcd_member_endpoint "$dir" "$i")" \
    --listen-peer-urls "$(_etcd_peer_url "$dir" "$i")" \
    --initial-advertise-peer-urls "$(_etcd_peer_url "$dir" "$i")" \
    --initial-cluster "$(_etcd_var "$dir" CLUSTER)" \
    --initial-cluster-token "$(_etcd_var "$dir" TOKEN)" \
    --initial-cluster-state new \
    --heartbeat-interval 50 --election-timeout 500 \
    --logger zap --log-outputs stderr --log-level warn \
    ${extra[@]+"${extra[@]}"} ${ETCD_TLS_ARGS[@]+"${ETCD_TLS_ARGS[@]}"} < /dev/null >> "$dir/etcd-$i.log" 2>&1 &
  echo $! > "$dir/etcd-$i.pid.new"
  )
  pid=$(cat "$dir/etcd-$i.pid.new")
  rm -f "$dir/etcd-$i.pid.new"
  for f in $(_etcd_pidfiles "$dir" "$i"); do echo "$pid" > "$f"; done
}

# _etcd_running DIR: the client URLs of the members whose process runs.
_etcd_running() {
  local dir=$1 n i eps=""
  n=$(_etcd_var "$dir" N)
  for ((i = 1; i <= n; i++)); do
    _etcd_alive "$(_etcd_pid "$dir" "$i")" && eps="$eps,$(etcd_member_endpoint "$dir" "$i")"
  done
  echo "${eps#,}"
}

# etcdctl_cluster DIR ARGS: etcdctl against the running members (etcdctl 3.4
# keeps trying a dead endpoint it was given until its deadline).
etcdctl_cluster() {
  local dir=$1
  shift
  _etcd_tls_args "$dir"
  env -u ETCDCTL_ENDPOINTS "$ETCDCTL_BIN" --endpoints "$(_etcd_running "$dir")" \
    --dial-timeout 2s --command-timeout 5s ${ETCDCTL_TLS_ARGS[@]+"${ETCDCTL_TLS_ARGS[@]}"} "$@"
}

# etcd_cluster_healthy DIR [SECONDS]: every member whose process runs is
# healthy (has a leader and answers a quorum read).
etcd_cluster_healthy() {
  local dir=$1 secs=${2:-30} eps t
  _etcd_tls_args "$dir"
  for ((t = 0; t < secs * 5; t++)); do
    eps=$(_etcd_running "$dir")
    [ -n "$eps" ] && env -u ETCDCTL_ENDPOINTS "$ETCDCTL_BIN" --endpoints "$eps" \
      --dial-timeout 1s --command-timeout 2s ${ETCDCTL_TLS_ARGS[@]+"${ETCDCTL_TLS_ARGS[@]}"} endpoint health \
      > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "etcd-lib: the cluster in $dir is not healthy after ${secs} s" >&2
  return 1
}

# _etcd_pick_block DIR N: the first block of 2N free ports, into DIR/etcd.env.
_etcd_pick_block() {
  local dir=$1 n=$2 k p base ok i cluster eps scheme=http
  [ "${ETCD_TLS:-0}" = 1 ] && scheme=https
  for ((k = ${3:-0}; k < 50; k++)); do
    base=$((ETCD_PORT_BASE + 20 * k))
    ok=1
    for ((p = base; p < base + 2 * n; p++)); do
      if _port_used "$p"; then ok=0; break; fi
    done
    [ "$ok" = 1 ] || continue
    cluster="" eps=""
    for ((i = 1; i <= n; i++)); do
      cluster="$cluster,m$i=http://127.0.0.1:$((base + 2 * (i - 1) + 1))"
      eps="$eps,$scheme://127.0.0.1:$((base + 2 * (i - 1)))"
    done
    {
      echo "N=$n"
      echo "BASE=$base"
      echo "BLOCK=$k"
      echo "CLUSTER=${cluster#,}"
      echo "ENDPOINTS=${eps#,}"
      echo "TOKEN=certfleet-$$-$RANDOM-$k"
      echo "TLS=${ETCD_TLS:-0}"
    } > "$dir/etcd.env"
    return 0
  done
  return 1
}

etcd_cluster_start() {
  local dir=$1 n=$2 i try skip=0 lockfd rc=1
  if [ "$n" -lt 1 ] || [ "$n" -gt 9 ]; then echo "etcd-lib: 1 to 9 members, not $n" >&2; return 1; fi
  command -v "$ETCD_BIN" > /dev/null || { echo "etcd-lib: $ETCD_BIN not installed (apt-get install etcd-server etcd-client)" >&2; return 1; }
  mkdir -p "$dir"
  if [ "${ETCD_TLS:-0}" = 1 ]; then _etcd_make_tls "$dir" || return 1; fi
  # The lock is held until the members listen: no other cluster can take
  # the block in between.
  exec {lockfd}> "$ETCD_LOCK"
  flock -w 120 "$lockfd"
  for try in 1 2 3; do
    if ! _etcd_pick_block "$dir" "$n" "$skip"; then
      echo "etcd-lib: no free block of $((2 * n)) ports from $ETCD_PORT_BASE" >&2
      break
    fi
    skip=$(( $(_etcd_var "$dir" BLOCK) + 1 ))
    for ((i = 1; i <= n; i++)); do
      rm -rf "$dir/etcd-$i/data"
      _etcd_launch "$dir" "$i"
    done
    if etcd_cluster_healthy "$dir" 30 2>/dev/null; then
      rc=0
      break
    fi
    # Someone else's process may have bound a port after our check.
    if grep -q "address already in use" "$dir"/etcd-*.log 2>/dev/null && [ "$try" -lt 3 ]; then
      etcd_cluster_stop "$dir"
      for ((i = 1; i <= n; i++)); do : > "$dir/etcd-$i.log"; done
      continue
    fi
    echo "etcd-lib: the cluster in $dir did not become healthy" >&2
    for ((i = 1; i <= n; i++)); do
      tail -n 5 "$dir/etcd-$i.log" 2>/dev/null | sed "s/^/    m$i | /" >&2
    done
    etcd_cluster_stop "$dir"
    break
  done
  flock -u "$lockfd"
  exec {lockfd}>&-
  [ "$rc" = 0 ] || return 1
  ETCD_ENDPOINTS=$(_etcd_var "$dir" ENDPOINTS)
  export ETCD_ENDPOINTS
  if [ "${ETCD_TLS:-0}" = 1 ]; then
    export ETCD_CA=$dir/tls/ca.pem ETCD_CERT=$dir/tls/client.pem ETCD_KEY=$dir/tls/client.key
  fi
}

etcd_member_kill() {
  local dir=$1 i=$2 sig=${3:-KILL} pid t f
  pid=$(_etcd_pid "$dir" "$i")
  case $pid in ''|*[!0-9]*) return 0 ;; esac
  kill "-$sig" "$pid" 2>/dev/null
  for ((t = 0; t < 100; t++)); do
    _etcd_alive "$pid" || break
    sleep 0.1
  done
  for f in $(_etcd_pidfiles "$dir" "$i"); do rm -f "$f"; done
}

etcd_member_start() {
  local dir=$1 i=$2 t port
  if _etcd_alive "$(_etcd_pid "$dir" "$i")"; then return 0; fi
  _etcd_launch "$dir" "$i"
  port=$(etcd_member_endpoint "$dir" "$i")
  port=${port##*:}
  for ((t = 0; t < 150; t++)); do
    _port_used "$port" && return 0
    _etcd_alive "$(_etcd_pid "$dir" "$i")" || break
    sleep 0.2
  done
  echo "etcd-lib: member $i in $dir does not listen" >&2
  tail -n 5 "$dir/etcd-$i.log" | sed "s/^/    m$i | /" >&2
  return 1
}

etcd_cluster_stop() {
  local dir=$1 n i pid t f
  n=$(_etcd_var "$dir" N)
  [ -n "$n" ] || return 0
  for ((i = 1; i <= n; i++)); do
    pid=$(_etcd_pid "$dir" "$i")
    case $pid in ''|*[!0-9]*) continue ;; esac
    kill -TERM "$pid" 2>/dev/null
  done
  for ((i = 1; i <= n; i++)); do
    pid=$(_etcd_pid "$dir" "$i")
    case $pid in ''|*[!0-9]*) continue ;; esac
    for ((t = 0; t < 50; t++)); do
      _etcd_alive "$pid" || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    for f in $(_etcd_pidfiles "$dir" "$i"); do rm -f "$f"; done
  done
}
