# due-bench.sh - run-bench's part "due" (issue 12, scale): a daemon whose
# BENCH_DUE_N (default 20000) certificates are all due at once (never
# issued: a new fleet, or every certificate revoked), against a local
# Pebble.  Sourced by run-bench after tests/pebble/ports.sh; uses its TOP,
# W and cpu_secs.
# shellcheck shell=bash
#
# Two runs, each of its own store:
#  - "budget closed": new_orders_per 1/1h, so after the first newOrder the
#    rest wait in the queue for hours.  Prints the daemon's CPU over
#    BENCH_DUE_SECS (default 20) s and the time from SIGTERM to its exit
#    with all of them still queued.
#  - "issuing": new_orders_in_flight 1 and max_inflight 256, the bench's
#    settings for Debian's Pebble (run-bench's header): certificates
#    issued in BENCH_DUE_SECS, the daemon's CPU per certificate meanwhile,
#    and the time from SIGTERM to exit with 256 in flight (they finish
#    first; DRAIN_GRACE is 20 s).  An exit after 20 s with "grace period
#    over" and few issued is Debian's Pebble hung (run-bench's header):
#    the requests in flight are never answered.
# Both were where the queue's cost showed: one FIFO for the whole fleet,
# walked on every start, made them quadratic in the certificates queued.

due_run() { # tag budget-line
  local tag=$1 budget=$2 secs=${BENCH_DUE_SECS:-20} n=${BENCH_DUE_N:-20000} d pid t0 t1 c ok
  d=$W/due/$tag
  mkdir -p "$d"
  {
    echo "state_dir: $d/state"
    echo "output_dir: $d/out"
    echo "control_socket: $d/ctl.sock"
    echo "http01_listen: \"127.0.0.1:$HTTP01_PORT\""
    echo "accounts:"
    echo "  pebble:"
    echo "    directory: $PEBBLE_DIR_URL"
    echo "    contact: mailto:bench@example.com"
    echo "    ca_bundle: $PEBBLE_CA"
    echo "    eab: {kid: $EAB_KID, hmac_key_file: $EAB_KEY_FILE}"
    echo "    $budget"
    echo "certificates:"
    awk -v n="$n" -v t="$tag" 'BEGIN {
      for (i = 1; i <= n; i++) printf "  - {name: %s%d, domains: [%s%d.due.example.com]}\n", t, i, t, i }'
  } > "$d/due.yaml"
  chmod 600 "$d/due.yaml"
  "$TOP/build/certfleetd" -c "$d/due.yaml" > "$d/d.log" 2>&1 &
  pid=$!
  sleep "$secs"
  c=$(cpu_secs "$pid")
  ok=$(grep -c "installed certificate" "$d/d.log" || true)
  t0=$(date +%s.%N)
  kill -TERM "$pid"
  wait "$pid" || echo "bench: the $tag daemon exited $?"
  t1=$(date +%s.%N)
  awk -v tag="$tag" -v n="$n" -v secs="$secs" -v c="$c" -v ok="$ok" -v t0="$t0" -v t1="$t1" 'BEGIN {
    printf "-- %s: %d certificates due at once\n", tag, n
    printf "issued in the first %d s:   %d\n", secs, ok
    printf "daemon CPU meanwhile:       %.2f s", c
    if (ok > 1) printf " (%.2f ms per certificate issued)", c * 1000 / ok
    printf "\n"
    printf "SIGTERM to exit:            %.3f s\n", t1 - t0
  }'
  grep -m 3 -E "grace period over" "$d/d.log" || true
}

bench_due() {
  echo "== bench due: ${BENCH_DUE_N:-20000} certificates due at once"
  PEBBLE_VA_NOSLEEP=1 "$TOP/tests/pebble/pebble-ctl" start "$W/due-pebble" >/dev/null ||
    { echo "bench: Pebble did not start"; return 1; }
  # shellcheck disable=SC1091
  . "$W/due-pebble/env"
  due_run closed "new_orders_per: 1/1h"
  due_run issuing "new_orders_in_flight: 1"
  "$TOP/tests/pebble/pebble-ctl" stop "$W/due-pebble" >/dev/null
}
