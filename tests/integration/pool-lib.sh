# pool-lib.sh - a pool of certfleetd daemons sharing certificates through a
# real 3-member etcd (issue 10), for t_96..t_98.  Sourced by bash after
# lib.sh and `setup` (the test's one Pebble, with EAB).
# shellcheck shell=bash
#
#   pool_setup N [ON_PORT]   a 3-member etcd (etcd-lib.sh, in $WORK so lib.sh's
#                            cleanup stops it), the pool's secret key, the
#                            deploy hook, and for each daemon I in 1..N its
#                            directory $WORK/dI (state/, out/, ctl.sock,
#                            deploy.log, notify.log) and http-01 port:
#                            daemon ON_PORT (default 2) listens on Pebble's
#                            HTTP01_PORT, the others on free ports Pebble
#                            never validates on
#   pool_inventory I NAMES...  $WORK/inv-I.yaml: the shared certificates
#                            NAMES (NAME.example.com), node nodeI
#   pool_start I             certfleetd I in the background under
#                            NOTIFY_SOCKET (with a watchdog, so STATUS= is
#                            refreshed every second), its log in
#                            $WORK/dI/runK.log (K counts its starts), its pid
#                            in $WORK/dI.pid; pool_wait_up I waits until it
#                            joined the pool
#   pool_stop I / pool_kill I [SIG]   SIGTERM and wait / a signal (KILL)
#   pool_ctl I ARGS          certfleetctl against daemon I
#   pool_etcdctl ARGS        etcdctl against the running members
#   pool_get KEY             the value at PREFIX/KEY ("" when none)
#   pool_field KEY FIELD     a field of that JSON value ("" when none)
#   pool_holder NAME         the node holding PREFIX/locks/NAME ("" when none)
#   pool_index NODE          nodeI -> I
#   pool_same NAME           0 when every daemon has live/NAME with the same
#                            certificate and key; prints the serial
#   pool_wait_same SECS NAMES...  until pool_same holds for all NAMES
#   pool_wait_new SECS NAME SERIAL  until every daemon has one same
#                            certificate for NAME other than SERIAL
#   pool_hooks I NAME        deploy hook runs for NAME on daemon I
#   pool_versions I NAME     certificate versions in daemon I's archive/NAME
#   pool_status_line I       daemon I's last STATUS=
#
# Settings read by pool_inventory (defaults in brackets): POOL_DIR_URL and
# POOL_CA [this test's Pebble], POOL_LEASE_TTL [5s], POOL_MAX_INFLIGHT [4],
# POOL_PREFIX [/certfleet/], POOL_TOP_YAML [none: top-level YAML lines
# added to each inventory], POOL_VERBOSE=1 runs the daemons with -v.

# shellcheck source=tests/integration/etcd-lib.sh
. "$TOP/tests/integration/etcd-lib.sh"
export ETCDCTL_API=3

POOL_PREFIX=${POOL_PREFIX:-/certfleet/}
POOL_N=0
declare -a POOL_PORT=() POOL_RUNS=() POOL_PID=()

# _pool_free_port: a loopback TCP port nothing listens on now.
_pool_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pool_setup() {
  local n=$1 on=${2:-2} i
  POOL_N=$n
  etcd_cluster_start "$WORK" 3 || { fail "cannot start a 3-member etcd"; return 1; }
  (umask 077; openssl rand -base64 32 > "$WORK/pool.key") || { fail "cannot write the pool key"; return 1; }
  cat > "$WORK/deploy-hook" <<'SH'
#!/bin/sh
# deploy-hook LOG: one line per run: the certificate and its serial.
echo "$CERTFLEET_NAME $CERTFLEET_SERIAL" >> "$1"
SH
  chmod +x "$WORK/deploy-hook"
  for ((i = 1; i <= n; i++)); do
    mkdir -p "$WORK/d$i"
    : > "$WORK/d$i/deploy.log"
    if [ "$i" = "$on" ]; then
      POOL_PORT[i]=$HTTP01_PORT
    else
      POOL_PORT[i]=$(_pool_free_port)
    fi
    POOL_RUNS[i]=0
    python3 "$TOP/tests/integration/notify-listen.py" "$WORK/d$i/notify.sock" \
      "$WORK/d$i/notify.log" 900 &
    echo $! > "$WORK/notify-$i.pid"
  done
  for ((i = 1; i <= n; i++)); do
    wait_for "[ -S '$WORK/d$i/notify.sock' ]" 10 || { fail "notify listener $i did not start"; return 1; }
  done
}

pool_inventory() {
  local i=$1 name eps
  shift
  eps=$(printf '%s' "$ETCD_ENDPOINTS" | sed 's/,/, /g')
  {
    cat <<YAML
state_dir: @WORK@/d$i/state
output_dir: @WORK@/d$i/out
http01_listen: "127.0.0.1:${POOL_PORT[i]}"
renew_jitter: 0s
control_socket: @WORK@/d$i/ctl.sock
${POOL_TOP_YAML:-}
cluster:
  etcd:
    endpoints: [$eps]
  prefix: $POOL_PREFIX
  node: node$i
  lease_ttl: ${POOL_LEASE_TTL:-5s}
  secret_key_file: @WORK@/pool.key
accounts:
  pebble:
    directory: ${POOL_DIR_URL:-$PEBBLE_DIR_URL}
    contact: mailto:it@example.com
    ca_bundle: ${POOL_CA:-$PEBBLE_CA}
    max_inflight: ${POOL_MAX_INFLIGHT:-4}
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
defaults:
  account: pebble
  deploy_hook: [@WORK@/deploy-hook, @WORK@/d$i/deploy.log]
certificates:
YAML
    for name in "$@"; do
      printf '  - {name: %s, domains: [%s.example.com]}\n' "$name" "$name"
    done
  } | inventory "$WORK/inv-$i.yaml"
}

# pool_log I: daemon I's current log file.
pool_log() { echo "$WORK/d$1/run${POOL_RUNS[$1]}.log"; }
# pool_logs I: every log of daemon I, oldest first.
pool_logs() {
  local k
  for ((k = 1; k <= POOL_RUNS[$1]; k++)); do cat "$WORK/d$1/run$k.log"; done
}

pool_start() {
  local i=$1 log v=""
  POOL_RUNS[i]=$((POOL_RUNS[i] + 1))
  log=$WORK/d$i/run${POOL_RUNS[i]}.log
  [ "${POOL_VERBOSE:-0}" = 1 ] && v=-v
  # WATCHDOG_PID must be the daemon's own pid: set by the shell that execs it.
  bash -c 'export WATCHDOG_PID=$$; exec "$@"' _ env NOTIFY_SOCKET="$WORK/d$i/notify.sock" \
    WATCHDOG_USEC=2000000 "$CERTFLEETD" $v -c "$WORK/inv-$i.yaml" > "$log" 2>&1 &
  POOL_PID[i]=$!
  echo "${POOL_PID[i]}" > "$WORK/d$i.pid"
}

# pool_wait_up I [SECS]: daemon I has a lease and its control socket.
pool_wait_up() {
  local i=$1
  wait_for "grep -q 'pool: connected to etcd' '$(pool_log "$i")' && [ -S '$WORK/d$i/ctl.sock' ]" \
    "${2:-30}" || { fail "daemon $i did not join the pool"; tail -n 20 "$(pool_log "$i")" | sed 's/^/    | /'; return 1; }
}

pool_alive() { kill -0 "${POOL_PID[$1]}" 2>/dev/null; }

pool_stop() {
  local i=$1
  kill -TERM "${POOL_PID[i]}" 2>/dev/null
  wait "${POOL_PID[i]}" 2>/dev/null
  rm -f "$WORK/d$i.pid"
}

pool_kill() {
  local i=$1 sig=${2:-KILL}
  kill "-$sig" "${POOL_PID[i]}" 2>/dev/null
  if [ "$sig" = KILL ]; then
    { wait "${POOL_PID[i]}"; } 2>/dev/null
    rm -f "$WORK/d$i.pid"
  fi
}

pool_ctl() {
  local i=$1
  shift
  "$CERTFLEETCTL" -c "$WORK/inv-$i.yaml" "$@"
}

pool_etcdctl() { etcdctl_cluster "$WORK" "$@"; }

pool_get() { pool_etcdctl get "$POOL_PREFIX$1" --print-value-only 2>/dev/null; }

pool_field() {
  pool_get "$1" | python3 -c '
import json, sys
t = sys.stdin.read().strip()
try:
    v = json.loads(t).get(sys.argv[1])
except ValueError:
    v = None
print("" if v is None else (int(v) if isinstance(v, float) and v == int(v) else v))' "$2"
}

pool_holder() { pool_get "locks/$1"; }

pool_index() { printf '%s\n' "${1#node}"; }

# pool_serial I NAME: the serial of daemon I's live certificate, upper case
# without leading zeros ("" when none).
pool_serial() {
  openssl x509 -in "$WORK/d$1/out/live/$2/cert.pem" -noout -serial 2>/dev/null |
    sed 's/^serial=0*//' | tr a-f A-F
}

pool_same() {
  local name=$1 i sum first="" s
  for ((i = 1; i <= POOL_N; i++)); do
    sum=$(cat "$WORK/d$i/out/live/$name/cert.pem" "$WORK/d$i/out/live/$name/privkey.pem" \
      2>/dev/null | sha256sum | cut -d' ' -f1)
    [ -s "$WORK/d$i/out/live/$name/cert.pem" ] || return 1
    [ -z "$first" ] && first=$sum
    [ "$sum" = "$first" ] || return 1
  done
  s=$(pool_serial 1 "$name")
  [ -n "$s" ] || return 1
  echo "$s"
}

pool_wait_same() {
  local secs=$1 name
  shift
  for name in "$@"; do
    wait_for "pool_same $name > /dev/null" "$secs" || return 1
  done
}

pool_wait_new() {
  local secs=$1 name=$2 old=$3
  wait_for "s=\$(pool_same $name) && [ \"\$s\" != '$old' ]" "$secs"
}

pool_hooks() { grep -c "^$2 " "$WORK/d$1/deploy.log"; }

pool_versions() { find "$WORK/d$1/out/archive/$2" -maxdepth 1 -name 'cert[0-9]*.pem' 2>/dev/null | wc -l; }

pool_status_line() { grep '^STATUS=' "$WORK/d$1/notify.log" | tail -n 1; }

# pool_live_snapshot I: every file under daemon I's live/ with its sha256
# and where each live/NAME link points.
pool_live_snapshot() {
  local d=$WORK/d$1/out/live l
  (cd "$d" && find -L . -type f -print0 | sort -z | xargs -0 sha256sum)
  for l in "$d"/*; do printf '%s -> %s\n' "$l" "$(readlink "$l")"; done
}

# pool_status_pool I NAME: "installed_version pool_version state" of NAME in
# daemon I's `certfleetctl status --json`.
pool_status_pool() {
  pool_ctl "$1" status --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for c in d.get("certificates", []):
    if c.get("name") == sys.argv[1]:
        p = c.get("pool") or {}
        print(int(p.get("installed_version", -1)), int(p.get("pool_version", -1)), p.get("state"))' "$2"
}
