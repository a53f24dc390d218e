# slowca-bench.sh - run-bench's slowca part (issue 12): a CA whose finalize
# hangs, as Sectigo's does for 50 s and more.  Sourced by run-bench after
# tests/pebble/ports.sh; uses its TOP, W, cpu_secs and the ports _pick_ports
# exported.
# shellcheck shell=bash
#
#   bench_slowca   for each N:D in BENCH_SLOWCA_RUNS (default "100:50 1000:30"):
#                  one `certfleetd --once` issues N one-name certificates with
#                  all N orders in flight (global and account max_inflight N)
#                  through tests/bench/delay-proxy.py, which holds each
#                  finalize D seconds before it reaches Pebble.  Prints wall
#                  time, one order's latency at that D (D plus a lone order's
#                  time through the same proxy with no delay, measured first),
#                  their ratio, the most finalizes the proxy held at once,
#                  daemon peak RSS and CPU, the most file descriptors the
#                  daemon had open against its RLIMIT_NOFILE.
#
# The proxy also lets at most BENCH_SLOWCA_NEWORDERS (default 4) newOrder
# requests reach Pebble at once: Debian's Pebble 2.4 deadlocks under many
# concurrent newOrder requests (run-bench's header), which 1,000 orders in
# flight hit at once.  That is the test CA's bug kept out of the figures,
# not the client's pacing (issue 12 section 1 adds the client's own
# new_orders_in_flight budget).  BENCH_SLOWCA_NOFILE runs the daemon under
# that RLIMIT_NOFILE (soft = hard, with prlimit), to see the warning and the
# slot limit follow it.  Pebble runs with PEBBLE_WFE_NONCEREJECT=0 unless
# BENCH_SLOWCA_NONCEREJECT says otherwise (see bench_slowca).

SC_RUNS=${BENCH_SLOWCA_RUNS:-100:50 1000:30}
SC_NEWORDERS=${BENCH_SLOWCA_NEWORDERS:-4}
SC_PROXY_PID=""

bench_slowca_cleanup() {
  [ -z "$SC_PROXY_PID" ] || kill "$SC_PROXY_PID" 2>/dev/null || true
  SC_PROXY_PID=""
  "$TOP/tests/pebble/pebble-ctl" stop "$W/slowca-pebble" >/dev/null 2>&1 || true
}

# sc_proxy_ca DIR: a CA of the bench's own and a 127.0.0.1 certificate for
# the proxy signed by it (the account's ca_bundle is that CA alone, so a
# request that went around the proxy would fail verification).
sc_proxy_ca() {
  local d=$1
  (
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=certfleet bench delay-proxy CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$d/proxy.key" -out "$d/proxy.csr"
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
      "extendedKeyUsage=serverAuth" > "$d/proxy.ext"
    openssl x509 -req -in "$d/proxy.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
      -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$d/proxy.ext" -out "$d/proxy.pem"
  ) > "$d/openssl.log" 2>&1 || { cat "$d/openssl.log"; return 1; }
}

sc_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# sc_proxy_start DELAY: (re)starts the proxy in front of the running Pebble.
sc_proxy_start() {
  [ -z "$SC_PROXY_PID" ] || { kill "$SC_PROXY_PID"; wait "$SC_PROXY_PID" 2>/dev/null || true; }
  rm -f "$W/slowca/proxy.stats"
  python3 "$TOP/tests/bench/delay-proxy.py" "$SC_PORT" "$PEBBLE_PORT" "$W/slowca/proxy.pem" \
    "$W/slowca/proxy.key" "$PEBBLE_CA" "$1" "$SC_NEWORDERS" "$W/slowca/proxy.stats" \
    2> "$W/slowca/proxy.err" &
  SC_PROXY_PID=$!
  for _ in $(seq 1 50); do [ -s "$W/slowca/proxy.stats" ] && return 0; sleep 0.1; done
  echo "bench: the delay proxy did not start"; cat "$W/slowca/proxy.err"; return 1
}

# sc_run TAG N: one --once run of N certificates through the proxy; leaves
# the figures in $W/slowca/TAG.*
sc_run() {
  local tag=$1 n=$2 y=$W/slowca/$1.yaml i pid t0 t1 fds max_fds=0 wrap=()
  {
    cat <<YAML
state_dir: $W/slowca/$tag-state
output_dir: $W/slowca/$tag-out
http01_listen: "127.0.0.1:$HTTP01_PORT"
control_socket: $W/slowca/$tag.sock
max_inflight: $n
accounts:
  slow:
    directory: https://127.0.0.1:$SC_PORT/dir
    contact: mailto:bench@example.com
    ca_bundle: $W/slowca/ca.pem
    max_inflight: $n
    eab: {kid: $EAB_KID, hmac_key_file: $EAB_KEY_FILE}
certificates:
YAML
    for i in $(seq 1 "$n"); do echo "  - {name: $tag-$i, domains: [$tag-$i.slow.example.com]}"; done
  } > "$y"
  chmod 600 "$y"
  [ -z "${BENCH_SLOWCA_NOFILE:-}" ] || wrap=(prlimit --nofile="$BENCH_SLOWCA_NOFILE:$BENCH_SLOWCA_NOFILE")
  # BENCH_WRAP (e.g. a profiler) as in part 1, inside the limit.
  # shellcheck disable=SC2206
  [ -z "${BENCH_WRAP:-}" ] || wrap+=(${BENCH_WRAP})
  t0=$(date +%s.%N)
  "${wrap[@]}" "$TOP/build/certfleetd" --once -c "$y" > "$W/slowca/$tag.log" 2>&1 &
  pid=$!
  # The most descriptors open, sampled every 0.2 s.
  while kill -0 "$pid" 2>/dev/null; do
    fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    [ "$fds" -le "$max_fds" ] || max_fds=$fds
    [ -s "$W/slowca/$tag.nofile" ] ||
      awk '/Max open files/ { print $4 }' "/proc/$pid/limits" > "$W/slowca/$tag.nofile" 2>/dev/null || true
    if [ "$(echo "$(date +%s.%N) - $t0 > ${BENCH_TIMEOUT:-600}" | bc)" = 1 ]; then
      echo "bench: stopped after ${BENCH_TIMEOUT:-600} s"; kill -TERM "$pid"
    fi
    sleep 0.2
  done
  wait "$pid" || echo "bench: the $tag run failed (exit $?)"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc > "$W/slowca/$tag.wall"
  echo "$max_fds" > "$W/slowca/$tag.fds"
}

bench_slowca() {
  local run n d ok res wall one l0 rss user sys held nofile fds
  echo "== bench slowca: finalize held by the CA (runs: $SC_RUNS)"
  mkdir -p "$W/slowca"
  sc_proxy_ca "$W/slowca" || return 1
  # Pebble rejects 5 % of good nonces by default; the proxy holds a finalize
  # before Pebble sees its nonce, so each rejection costs one more D and the
  # run's tail measures that, not the slots.  BENCH_SLOWCA_NONCEREJECT=5
  # puts them back.
  # PEBBLE_AUTHZREUSE=0 only says what the runs need (every name differs,
  # nothing to reuse).  It does not keep out the deadlock in run-bench's
  # header: Pebble 2.4's newOrder calls FindValidAuthorization for every
  # name before it draws whether to reuse (wfe.go, makeAuthorizations).
  PEBBLE_AUTHZREUSE=0 PEBBLE_WFE_NONCEREJECT=${BENCH_SLOWCA_NONCEREJECT:-0} PEBBLE_VA_NOSLEEP=1 \
    "$TOP/tests/pebble/pebble-ctl" start "$W/slowca-pebble" >/dev/null ||
    { echo "bench: Pebble did not start"; return 1; }
  # shellcheck disable=SC1091
  . "$W/slowca-pebble/env"
  SC_PORT=$(sc_free_port)
  # One order alone through the proxy, nothing held: the rest of an order's
  # latency, to which each run's D is added.
  sc_proxy_start 0 || return 1
  sc_run lone 1
  l0=$(cat "$W/slowca/lone.wall")
  grep -q "installed certificate" "$W/slowca/lone.log" ||
    { echo "bench: the lone order failed"; tail -n 5 "$W/slowca/lone.log"; return 1; }
  printf 'one order, no delay:        %.2f s\n' "$l0"
  for run in $SC_RUNS; do
    n=${run%%:*} d=${run##*:}
    sc_proxy_start "$d" || return 1
    sc_run "n$n-d$d" "$n"
    ok=$(grep -c "installed certificate" "$W/slowca/n$n-d$d.log" || true)
    res=$(grep "resources:" "$W/slowca/n$n-d$d.log" | tail -n 1 || true)
    user=$(echo "$res" | sed -E 's/.*cpu ([0-9.]+)s user.*/\1/')
    sys=$(echo "$res" | sed -E 's/.*user ([0-9.]+)s system.*/\1/')
    rss=$(echo "$res" | sed -E 's/.*peak RSS ([0-9]+) KiB.*/\1/')
    wall=$(cat "$W/slowca/n$n-d$d.wall")
    held=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["held_max"])' \
      "$W/slowca/proxy.stats")
    nofile=$(cat "$W/slowca/n$n-d$d.nofile" 2>/dev/null || echo "?")
    fds=$(cat "$W/slowca/n$n-d$d.fds")
    one=$(echo "$d + $l0" | bc)
    echo "-- $n orders in flight, finalize held $d s"
    awk -v n="$n" -v ok="$ok" -v wall="$wall" -v one="$one" -v held="$held" -v rss="$rss" \
        -v u="$user" -v s="$sys" -v fds="$fds" -v nofile="$nofile" 'BEGIN {
      printf "certificates issued:        %d of %d\n", ok, n
      printf "wall time:                  %.1f s\n", wall
      printf "one order latency:          %.1f s (D + one order with no delay)\n", one
      printf "wall / one order:           %.2f\n", wall / one
      printf "finalizes held at once:     %d (most, at the proxy)\n", held
      printf "daemon peak RSS:            %.1f MiB\n", rss / 1024
      printf "daemon CPU:                 %.2f s (%.2f ms per certificate)\n", u + s, (u + s) * 1000 / (ok ? ok : 1)
      printf "daemon fds, most open:      %d of RLIMIT_NOFILE %s\n", fds, nofile
    }' | tee "$W/slowca/n$n-d$d.figures"
    grep -E "RLIMIT_NOFILE|slots" "$W/slowca/n$n-d$d.log" | head -n 3 || true
  done
  bench_slowca_cleanup
}
