# pool-bench.sh - run-bench's pool parts (issue 10): certfleetd daemons that
# share certificates through a real 3-member etcd, against one Pebble with
# EAB.  Sourced by run-bench after tests/pebble/ports.sh; uses its TOP, W,
# cpu_secs and the ports _pick_ports exported.
# shellcheck shell=bash
#
#   bench_pool     3 daemons, BENCH_POOL_N (1000) shared certificates: wall
#                  time, certificates per second, orders per certificate,
#                  etcd requests per certificate, each daemon's CPU and RSS
#   bench_fanout   for each K in BENCH_FANOUT_DAEMONS ("3 30"): K daemons,
#                  BENCH_FANOUT_N (100) shared certificates each (the same
#                  ones): time from a certificate's publication to installed
#                  everywhere, etcd requests per second while issuing and
#                  while idle, each daemon's idle RSS and wakeups; then one
#                  line per K, to read how the figures grow with the pool
#
# The etcd cluster: tests/integration/etcd-lib.sh when it exists (or the file
# BENCH_ETCD_LIB names: not ETCD_*, which etcd reads as flags), otherwise
# three members started here on free loopback ports, with the same fast
# elections (heartbeat 50 ms, election 500 ms).
# Both parts share the cluster and the Pebble (each part its own etcd
# prefix), started by whichever part runs first and stopped by
# bench_pool_cleanup.  Only daemon 1 listens on Pebble's HTTP01_PORT: every
# other daemon's orders are validated through the tokens it reads from etcd.
#
# The fan-out's log lines are stamped with the wall time in milliseconds as
# they arrive (the daemons' own stamps have one-second resolution): every
# daemon's stderr is a FIFO read by one small Python process, which prefixes
# each line with time.time() when it reads it.

BP_LEASE=${BENCH_POOL_LEASE_TTL:-10s}
BP_INFLIGHT=${BENCH_POOL_INFLIGHT:-32}
BP_DIR=""           # $W/pool-infra once the cluster and Pebble run
BP_ETCD_LIB=""      # the etcd-lib.sh used ("" : members started here)
BP_EPS=""           # etcd client URLs, comma-separated
declare -a BP_PIDS=()

# bp_free_ports K: K distinct loopback TCP ports nothing listens on now.
bp_free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# _bp_etcd_start DIR: three members of our own (no etcd-lib.sh).
_bp_etcd_start() {
  local dir=$1 i cluster="" eps="" t
  local -a p
  read -r -a p <<< "$(bp_free_ports 6)"
  for i in 0 1 2; do
    cluster="$cluster,m$i=http://127.0.0.1:${p[2 * i + 1]}"
    eps="$eps,http://127.0.0.1:${p[2 * i]}"
  done
  for i in 0 1 2; do
    (
    env -u ETCD_ENDPOINTS -u ETCDCTL_ENDPOINTS etcd --name "m$i" --data-dir "$dir/etcd-$i" \
      --listen-client-urls "http://127.0.0.1:${p[2 * i]}" \
      --advertise-client-urls "http://127.0.0.1:${p[2 * i]}" \
      --listen-peer-urls "http://127.0.0.1:${p[2 * i + 1]}" \
      --initial-advertise-peer-urls "http://127.0.0.1:${p[2 * i + 1]}" \
      --initial-cluster "${cluster#,}" --initial-cluster-token "bench-$$" \
      --initial-cluster-state new --heartbeat-interval 50 --election-timeout 500 \
      --logger zap --log-outputs stderr --log-level warn < /dev/null > "$dir/etcd-$i.log" 2>&1 &
    echo $! > "$dir/etcd-$i.pid"
    )
  done
  BP_EPS=${eps#,}
  for ((t = 0; t < 150; t++)); do
    ETCDCTL_API=3 etcdctl --endpoints "$BP_EPS" --dial-timeout 1s --command-timeout 2s \
      endpoint health > /dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "bench: the etcd cluster did not become healthy"; tail -n 3 "$dir"/etcd-*.log
  return 1
}

_bp_etcd_stop() {
  local f
  if [ -n "$BP_ETCD_LIB" ]; then etcd_cluster_stop "$BP_DIR/etcd"; return; fi
  for f in "$BP_DIR"/etcd/etcd-*.pid; do
    [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null
    rm -f "$f"
  done
}

# bench_pool_infra: the 3-member etcd, Pebble (EAB, no validation sleeps)
# and the pool's secret key, once.
bench_pool_infra() {
  [ -z "$BP_DIR" ] || return 0
  command -v etcd > /dev/null ||
    { echo "bench: etcd not installed (apt-get install etcd-server etcd-client)"; return 1; }
  BP_DIR=$W/pool-infra
  mkdir -p "$BP_DIR/etcd"
  BP_ETCD_LIB=${BENCH_ETCD_LIB:-$TOP/tests/integration/etcd-lib.sh}
  if [ -f "$BP_ETCD_LIB" ]; then
    # shellcheck disable=SC1090
    . "$BP_ETCD_LIB"
    etcd_cluster_start "$BP_DIR/etcd" 3 || return 1
    BP_EPS=$ETCD_ENDPOINTS
  else
    BP_ETCD_LIB=""
    _bp_etcd_start "$BP_DIR/etcd" || return 1
  fi
  echo "   etcd: 3 members at $BP_EPS (${BP_ETCD_LIB:-started by run-bench})"
  # Part 1's Pebble is stopped, but the block may have been taken since.
  _pick_ports 0 || { echo "bench: no free port block for Pebble"; return 1; }
  PEBBLE_VA_NOSLEEP=1 "$TOP/tests/pebble/pebble-ctl" start "$BP_DIR/pebble" > /dev/null ||
    { echo "bench: Pebble did not start"; return 1; }
  # shellcheck disable=SC1091
  . "$BP_DIR/pebble/env"
  (umask 077; openssl rand -base64 32 > "$BP_DIR/pool.key")
}

bench_pool_cleanup() {
  local p
  for p in "${BP_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  BP_PIDS=()
  [ -n "$BP_DIR" ] || return 0
  "$TOP/tests/pebble/pebble-ctl" stop "$BP_DIR/pebble" > /dev/null 2>&1 || true
  _bp_etcd_stop || true
}

# bp_inventory FILE DIR NODE PREFIX HTTP01PORT METRICSPORT NAMEBASE N
bp_inventory() {
  local f=$1 d=$2 node=$3 prefix=$4 hport=$5 mport=$6 base=$7 n=$8 i
  {
    cat <<YAML
state_dir: $d/state
output_dir: $d/out
http01_listen: "127.0.0.1:$hport"
metrics_listen: "127.0.0.1:$mport"
control_socket: $d/ctl.sock
renew_jitter: 0s
max_inflight: 512
cluster:
  etcd:
    endpoints: [${BP_EPS//,/, }]
  prefix: $prefix
  node: $node
  lease_ttl: $BP_LEASE
  secret_key_file: $BP_DIR/pool.key
accounts:
  pebble:
    directory: $PEBBLE_DIR_URL
    contact: mailto:bench@example.com
    ca_bundle: $PEBBLE_CA
    max_inflight: $BP_INFLIGHT
    eab: {kid: $EAB_KID, hmac_key_file: $EAB_KEY_FILE}
certificates:
YAML
    for ((i = 1; i <= n; i++)); do echo "  - {name: $base$i, domains: [$base$i.pool.example.com]}"; done
  } > "$f"
  chmod 600 "$f"
}

# bp_installed LOG: how many distinct certificates LOG says were installed.
bp_installed() {
  awk 'match($0, /: [^ :]+: installed certificate /) {
         s = substr($0, RSTART, RLENGTH); if (!(s in seen)) { seen[s] = 1; c++ } }
       END { print c + 0 }' "$1" 2>/dev/null || echo 0
}

# bp_etcd_requests PORT: the daemon's certfleet_etcd_requests_total ("" when
# it does not answer).
bp_etcd_requests() {
  curl --noproxy '*' -sf --max-time 5 "http://127.0.0.1:$1/metrics" |
    awk '$1 == "certfleet_etcd_requests_total" { print $2 }'
}

bp_rss_kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
bp_switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { s += $2 } END { print s + 0 }'; }

# bp_wait_installed SECS N LOGS...: until every log says N certificates were
# installed; 1 after SECS or when a daemon died.
bp_wait_installed() {
  local secs=$1 n=$2 end l all p
  shift 2
  end=$(( $(date +%s) + secs ))
  while :; do
    all=1
    for l in "$@"; do
      if [ "$(bp_installed "$l")" -lt "$n" ]; then all=0; break; fi
    done
    [ "$all" = 1 ] && return 0
    for p in "${BP_PIDS[@]}"; do
      kill -0 "$p" 2>/dev/null || { echo "bench: daemon $p died"; return 1; }
    done
    [ "$(date +%s)" -lt "$end" ] || { echo "bench: not all installed after $secs s"; return 1; }
    sleep 0.5
  done
}

bp_stop_daemons() {
  local p
  for p in "${BP_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${BP_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  BP_PIDS=()
}

# bench_pool [SINGLE_WALL SINGLE_CPS]: part 1's figures, printed beside.
bench_pool() {
  local n=${BENCH_POOL_N:-1000} d=$W/pool i t0 t1 orders accts req tot=0 ok
  local -a hp mp cpu peak reqs ordered
  echo "== bench 3: a pool of 3 daemons, 3-member etcd, $n shared certificates"
  bench_pool_infra || return 1
  mkdir -p "$d"
  read -r -a mp <<< "$(bp_free_ports 5)"
  hp=("$HTTP01_PORT" "${mp[3]}" "${mp[4]}")
  for i in 1 2 3; do
    mkdir -p "$d/d$i"
    bp_inventory "$d/inv-$i.yaml" "$d/d$i" "node$i" /bench-pool/ "${hp[i - 1]}" \
      "${mp[i - 1]}" p "$n"
  done
  t0=$(date +%s.%N)
  for i in 1 2 3; do
    ${BENCH_WRAP:-} "$TOP/build/certfleetd" -c "$d/inv-$i.yaml" > "$d/d$i.log" 2>&1 &
    BP_PIDS+=($!)
  done
  ok=0
  bp_wait_installed "${BENCH_TIMEOUT:-600}" "$n" "$d"/d{1,2,3}.log && ok=1
  t1=$(date +%s.%N)
  orders=$("$TOP/tests/pebble/pebble-ctl" count "$BP_DIR/pebble" orders-created)
  accts=$("$TOP/tests/pebble/pebble-ctl" count "$BP_DIR/pebble" accounts-created)
  for i in 1 2 3; do
    req=$(bp_etcd_requests "${mp[i - 1]}")
    reqs[i]=${req:-0}
    tot=$((tot + ${req:-0}))
    cpu[i]=$(cpu_secs "${BP_PIDS[i - 1]}")
    peak[i]=$(bp_rss_kib "${BP_PIDS[i - 1]}" VmHWM)
    ordered[i]=$(grep -c ': pool: published version' "$d/d$i.log" || true)
  done
  for i in 1 2 3; do
    echo "   node$i: installed $(bp_installed "$d/d$i.log"), ordered $((ordered[i])), etcd requests ${reqs[i]}"
  done
  awk -v n="$n" -v t0="$t0" -v t1="$t1" -v o="$orders" -v a="$accts" -v r="$tot" \
      -v c1="${cpu[1]}" -v c2="${cpu[2]}" -v c3="${cpu[3]}" \
      -v m1="${peak[1]}" -v m2="${peak[2]}" -v m3="${peak[3]}" \
      -v sw="${BP_SINGLE_WALL:-}" -v sc="${BP_SINGLE_CPS:-}" -v scpu="${BP_SINGLE_CPU:-}" 'BEGIN {
    wall = t1 - t0
    printf "wall time:                  %.1f s (start of the daemons to every certificate installed on all 3)\n", wall
    if (sw != "") printf "                            single host (bench 1): %.1f s\n", sw
    printf "certificates per second:    %.1f\n", n / wall
    if (sc != "") printf "                            single host (bench 1): %.1f\n", sc
    printf "orders per certificate:     %.2f (%d orders created by Pebble, %d account(s))\n", o / n, o, a
    printf "etcd requests per cert.:    %.1f (%d over the 3 daemons)\n", r / n, r
    printf "daemon CPU per certificate: %.2f / %.2f / %.2f ms (node1/2/3; %.1f / %.1f / %.1f s in all)\n", c1 * 1000 / n, c2 * 1000 / n, c3 * 1000 / n, c1, c2, c3
    if (scpu != "") printf "                            single host (bench 1): %.2f ms\n", scpu
    printf "daemon peak RSS:            %.1f / %.1f / %.1f MiB\n", m1 / 1024, m2 / 1024, m3 / 1024
  }'
  bp_stop_daemons
  [ "$ok" = 1 ]
}

# The stamper: argv DIR NAMES; reads DIR/NAME.fifo, appends to DIR/NAME.log
# each line prefixed with the Unix time in milliseconds.  It holds a write
# end of each FIFO itself, so a daemon's exit is no end of file.
BP_STAMPER='
import os, select, sys, time
d, names = sys.argv[1], sys.argv[2:]
fds = {}
for n in names:
    p = os.path.join(d, n + ".fifo")
    r = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    os.open(p, os.O_WRONLY)
    fds[r] = [open(os.path.join(d, n + ".log"), "ab", buffering=0), b""]
open(os.path.join(d, "stamp.ready"), "w").close()
poll = select.poll()
for r in fds:
    poll.register(r, select.POLLIN)
while True:
    for r, _ in poll.poll():
        data = os.read(r, 65536)
        now = b"%.3f " % time.time()
        o = fds[r]
        lines = (o[1] + data).split(b"\n")
        o[1] = lines.pop()
        if lines:
            o[0].write(b"".join(now + l + b"\n" for l in lines))
'

bench_fanout() {
  local k rc=0
  BP_SUMMARY=""
  for k in ${BENCH_FANOUT_DAEMONS:-3 30}; do bench_fanout_one "$k" || rc=1; done
  if [ "$(echo "$BP_SUMMARY" | wc -w)" -gt 7 ]; then
    echo "== fan-out by pool size"
    echo "$BP_SUMMARY" | awk 'NF { printf "  %3d daemons: publication to all median %.3f s, max %.3f s; etcd req/s issuing %.1f, idle %.1f (%.3f per daemon); idle RSS %.1f MiB, %.0f wakeups/min (medians)\n", $1, $2, $3, $4, $5, $5 / $1, $6 / 1024, $7 }'
  fi
  return "$rc"
}

# bench_fanout_one K: one fan-out run; appends its figures to BP_SUMMARY.
bench_fanout_one() {
  local k=$1 n=${BENCH_FANOUT_N:-100} d=$W/fanout-$1 i t0 t1 spid
  local idle=${BENCH_FANOUT_IDLE_SECS:-60} r0=0 r1=0 r2=0 ta tb v ok=0
  local -a hp mp names logs
  echo "== bench 4: fan-out, $k daemons, 3-member etcd, $n shared certificates each"
  bench_pool_infra || return 1
  mkdir -p "$d"
  read -r -a mp <<< "$(bp_free_ports $((2 * k)))"
  for ((i = 1; i <= k; i++)); do
    hp[i]=${mp[k + i - 1]}
    [ "$i" = 1 ] && hp[i]=$HTTP01_PORT
    mkdir -p "$d/d$i"
    mkfifo "$d/d$i.fifo"
    names+=("d$i")
    logs+=("$d/d$i.log")
    bp_inventory "$d/inv-$i.yaml" "$d/d$i" "node$i" "/bench-fanout-$k/" "${hp[i]}" \
      "${mp[i - 1]}" f "$n"
  done
  python3 -c "$BP_STAMPER" "$d" "${names[@]}" &
  spid=$!
  BP_PIDS+=("$spid")
  for _ in $(seq 1 100); do [ -f "$d/stamp.ready" ] && break; sleep 0.1; done
  t0=$(date +%s.%N)
  for ((i = 1; i <= k; i++)); do
    ${BENCH_WRAP:-} "$TOP/build/certfleetd" -c "$d/inv-$i.yaml" > "$d/d$i.fifo" 2>&1 &
    BP_PIDS+=($!)
  done
  bp_wait_installed "${BENCH_TIMEOUT:-600}" "$n" "${logs[@]}" && ok=1
  t1=$(date +%s.%N)
  for ((i = 1; i <= k; i++)); do v=$(bp_etcd_requests "${mp[i - 1]}"); r0=$((r0 + ${v:-0})); done
  # The idle minute: counters read before and after, nothing else between.
  ta=$(date +%s.%N)
  for ((i = 1; i <= k; i++)); do v=$(bp_etcd_requests "${mp[i - 1]}"); r1=$((r1 + ${v:-0})); done
  for ((i = 1; i <= k; i++)); do echo "$(bp_switches "${BP_PIDS[i]}")"; done > "$d/sw0"
  sleep "$idle"
  for ((i = 1; i <= k; i++)); do
    echo "$(bp_switches "${BP_PIDS[i]}") $(bp_rss_kib "${BP_PIDS[i]}" VmRSS)"
  done > "$d/sw1"
  for ((i = 1; i <= k; i++)); do v=$(bp_etcd_requests "${mp[i - 1]}"); r2=$((r2 + ${v:-0})); done
  tb=$(date +%s.%N)
  # Latency: from the publishing daemon's "pool: published version" line to
  # the last daemon's "installed certificate" line for that name.  A holder
  # whose publishing txn was answered "not succeeded" though it committed
  # (see the report of issue 10's benchmark) logs no such line: counted
  # apart ("nopub").
  awk -v k="$k" '
    match($0, /: [^ :]+: pool: published version/) {
      s = substr($0, RSTART + 2); sub(/:.*/, "", s); if (!(s in pub)) pub[s] = $1 + 0 }
    match($0, /: [^ :]+: installed certificate /) {
      s = substr($0, RSTART + 2); sub(/:.*/, "", s)
      if (!((FILENAME, s) in seen)) { seen[FILENAME, s] = 1; cnt[s]++; if ($1 + 0 > last[s] + 0) last[s] = $1 + 0 } }
    END { for (s in cnt) if (cnt[s] == k) { if (s in pub) printf "%.3f\n", last[s] - pub[s]; else print "nopub" } }' "${logs[@]}" |
    sort -n > "$d/latency"
  paste -d " " "$d/sw0" "$d/sw1" > "$d/idle"
  awk -v k="$k" -v n="$n" -v t0="$t0" -v t1="$t1" -v ta="$ta" -v tb="$tb" -v r0="$r0" \
      -v r1="$r1" -v r2="$r2" -v idle="$idle" -v lf="$d/latency" -v idf="$d/idle" \
      -v sumf="$d/summary" 'BEGIN {
    while ((getline x < lf) > 0) { if (x == "nopub") nop++; else lat[m++] = x }
    printf "installed everywhere:       %d of %d certificates on all %d daemons, %.1f s after the start\n", m + nop, n, k, t1 - t0
    if (nop) printf "                            (%d without a \"published version\" line, left out below)\n", nop
    if (m > 0) {
      med = m % 2 ? lat[int(m / 2)] : (lat[m / 2 - 1] + lat[m / 2]) / 2
      printf "%-28smedian %.3f s, maximum %.3f s (ms stamps on arrival)\n", "publication to all " k ":", med, lat[m - 1]
    }
    printf "etcd requests per second:   %.1f while issuing (%d in %.1f s), %.1f idle (%d in %.1f s; %.3f per daemon)\n", r0 / (t1 - t0), r0, t1 - t0, (r2 - r1) / (tb - ta), r2 - r1, tb - ta, (r2 - r1) / (tb - ta) / k
    while ((getline x < idf) > 0) {
      split(x, f, " "); j++
      w[j] = (f[2] - f[1]) * 60 / idle; rs[j] = f[3]
    }
    sortn(w, j); sortn(rs, j)
    printf "idle RSS per daemon:        min %.1f, median %.1f, max %.1f MiB\n", rs[1] / 1024, rs[int((j + 1) / 2)] / 1024, rs[j] / 1024
    printf "wakeups per minute idle:    min %.0f, median %.0f, max %.0f per daemon (context switches of all threads over %d s)\n", w[1], w[int((j + 1) / 2)], w[j], idle
    printf "%d %.3f %.3f %.1f %.1f %d %.0f\n", k, med, lat[m - 1], r0 / (t1 - t0), (r2 - r1) / (tb - ta), rs[int((j + 1) / 2)], w[int((j + 1) / 2)] > sumf
  }
  function sortn(a, n,    i, t, x) { # insertion sort: mawk has no asort
    for (i = 2; i <= n; i++) { x = a[i]; for (t = i - 1; t >= 1 && a[t] > x; t--) a[t + 1] = a[t]; a[t + 1] = x }
  }'
  BP_SUMMARY="$BP_SUMMARY
$(cat "$d/summary" 2>/dev/null)"
  bp_stop_daemons
  [ "$ok" = 1 ]
}
