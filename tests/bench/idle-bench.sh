# idle-bench.sh - run-bench's part 2 (issue 12): a daemon tracking
# BENCH_IDLE_N (default 10000) valid certificates.  Sourced by run-bench
# after tests/pebble/ports.sh; uses its TOP, W, cpu_secs, IDLE_N, IDLE_SECS
# and the ports _pick_ports exported.
# shellcheck shell=bash
#
# bench_idle prints, in order:
#  - time to READY=1 (from the exec to the message on NOTIFY_SOCKET), RSS
#    after READY;
#  - wakeups per minute while idle: context switches of all the daemon's
#    threads over BENCH_IDLE_SECS, counted once the start is over (the
#    sweep of crash leftovers after READY, see daemon_sweep.c: the count
#    starts when it logs that it is done), with
#    WATCHDOG_USEC set as systemd would (BENCH_WATCHDOG_USEC, default 30 s:
#    a WATCHDOG=1 every 15 s, 4 a minute), printed beside the watchdog's rate;
#  - `certfleetctl status --json` for every certificate: wall time, the
#    daemon's CPU, whether the output is valid JSON with all N entries;
#  - the cost of a scrape of GET /metrics (BENCH_SCRAPES, default 20);
#  - a SIGHUP reload of the same N-entry inventory while BENCH_IDLE_RENEW
#    (default 20) forced renewals run against a local Pebble (validation
#    delays on, so they are still in flight during the reload): time from
#    the signal to the "reloaded:" line, the daemon's own time on the loop
#    for the swap, and the longest stall of the event loop meanwhile, seen
#    from outside by tests/bench/idle-probe.py (a request to the built-in
#    http-01 responder every 5 ms; the longest request and the longest gap
#    between answers); then whether the renewals all finished.

bench_idle() {
  local mport renew=${BENCH_IDLE_RENEW:-20} wd=${BENCH_WATCHDOG_USEC:-30000000}
  local t0 t1 rss s0 s1 c0 c1 k ppid
  echo "== bench 2: $IDLE_N tracked valid certificates, idle"
  # A Pebble for the renewals during the reload; the idle fleet never
  # talks to it (nothing due, no renewalInfo: the states have no cert_id).
  PEBBLE_VA_NOSLEEP=0 "$TOP/tests/pebble/pebble-ctl" start "$W/pebble" >/dev/null ||
    { echo "bench: Pebble did not start"; return 1; }
  # shellcheck disable=SC1091
  . "$W/pebble/env"
  # Its own control socket and a loopback port for the responder, so the
  # bench never touches a certfleetd or web server running on this host.
  mport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 - "$W/idle" "$IDLE_N" "$HTTP01_PORT" "$mport" "$PEBBLE_DIR_URL" "$PEBBLE_CA" \
      "$EAB_KID" "$EAB_KEY_FILE" <<'PY'
import json, os, sys, time, datetime
root, n, port, mport, url, ca, kid, keyf = sys.argv[1:9]
n = int(n)
fmt = lambda t: datetime.datetime.utcfromtimestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")
now = int(time.time())
os.makedirs(root + "/state/accounts", mode=0o700)
for i in range(1, n + 1):
    d = "%s/state/certs/t%d" % (root, i)
    os.makedirs(d, mode=0o700)
    st = {"v": 1, "names": ["t%d.idle.example.com" % i], "key_type": 0, "account": "ca",
          "version": 1, "serial": "%016X" % i, "not_before": fmt(now - 86400),
          "not_after": fmt(now + 89 * 86400), "last_success": fmt(now - 86400)}
    with open(d + "/state.json", "w") as f:
        json.dump(st, f)
with open(root + "/idle.yaml", "w") as f:
    f.write("state_dir: %s/state\noutput_dir: %s/out\n" % (root, root))
    f.write("control_socket: %s/ctl.sock\nhttp01_listen: \"127.0.0.1:%s\"\n" % (root, port))
    f.write("metrics_listen: \"127.0.0.1:%s\"\n" % mport)
    f.write("accounts:\n")
    f.write("  ca:\n    directory: %s\n    contact: mailto:b@example.com\n" % url)
    f.write("    ca_bundle: %s\n    eab: {kid: %s, hmac_key_file: %s}\n" % (ca, kid, keyf))
    f.write("certificates:\n")
    for i in range(1, n + 1):
        f.write("  - {name: t%d, domains: [t%d.idle.example.com]}\n" % (i, i))
os.chmod(root + "/idle.yaml", 0o600)
PY
  python3 "$TOP/tests/integration/notify-listen.py" "$W/notify.sock" "$W/notify.log" 3600 &
  LPID=$!
  for _ in $(seq 1 50); do [ -S "$W/notify.sock" ] && break; sleep 0.1; done
  t0=$(date +%s.%N)
  NOTIFY_SOCKET=$W/notify.sock WATCHDOG_USEC=$wd "$TOP/build/certfleetd" \
      -c "$W/idle/idle.yaml" > "$W/idle.log" 2>&1 &
  DPID=$!
  # Up to 5 minutes: a slow start is a figure too.
  for _ in $(seq 1 30000); do grep -q '^READY=1$' "$W/notify.log" 2>/dev/null && break; sleep 0.01; done
  t1=$(date +%s.%N)
  grep -q '^READY=1$' "$W/notify.log" || echo "bench: no READY=1 within 5 minutes"
  sleep 1
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")
  awk -v t0="$t0" -v t1="$t1" -v rss="$rss" -v n="$IDLE_N" 'BEGIN {
    printf "certificates tracked:       %d\n", n
    printf "time to READY=1:            %.3f s\n", t1 - t0
    printf "RSS after READY:            %.1f MiB\n", rss / 1024
  }'
  # The sweep after READY (it logs when it is done), up to 10 minutes.
  for k in $(seq 1 600); do
    grep -q "sweep of interrupted writes done" "$W/idle.log" && break
    sleep 1
  done
  echo "start-up work after READY:  $(grep -o "sweep of interrupted writes done.*" "$W/idle.log" || echo "sweep not done after $k s")"
  switches() { cat /proc/"$DPID"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
  s0=$(switches)
  sleep "$IDLE_SECS"
  s1=$(switches)
  awk -v s0="$s0" -v s1="$s1" -v secs="$IDLE_SECS" -v wd="$wd" 'BEGIN {
    printf "wakeups per minute idle:    %.1f (context switches of all threads over %d s; the watchdog (WATCHDOG_USEC %d s) asks for %.1f a minute)\n", (s1 - s0) * 60 / secs, secs, wd / 1e6, 60 / (wd / 2e6)
  }'
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")
  c0=$(cpu_secs "$DPID")
  t0=$(date +%s.%N)
  "$TOP/build/certfleetctl" --socket "$W/idle/ctl.sock" status --json > "$W/status.json" ||
    echo "bench: certfleetctl status --json failed"
  t1=$(date +%s.%N)
  c1=$(cpu_secs "$DPID")
  k=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["certificates"]))' \
      "$W/status.json" 2>/dev/null || echo "invalid JSON:")
  awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v k="$k" -v n="$IDLE_N" \
      -v bytes="$(wc -c < "$W/status.json")" 'BEGIN {
    printf "status --json:              %.3f s wall, %.2f s daemon CPU, %.1f MiB, %s of %d entries\n", t1 - t0, c1 - c0, bytes / 1048576, k, n
  }'
  echo "RSS before and after it:    $((rss / 1024)) MiB, $(( $(awk '/VmRSS/ {print $2}' "/proc/$DPID/status") / 1024)) MiB"
  bench_idle_scrapes "$mport"
  bench_idle_reload "$renew"
  kill -TERM "$DPID"; wait "$DPID" || true; DPID=""
  kill "$LPID" 2>/dev/null || true; LPID=""
  "$TOP/tests/pebble/pebble-ctl" stop "$W/pebble" >/dev/null
}

bench_idle_scrapes() {
  local mport=$1 k=${BENCH_SCRAPES:-20} c0 c1 t0 t1
  # The scrapes come after the idle count, which they would disturb.
  curl --noproxy '*' -sf -o "$W/scrape.txt" "http://127.0.0.1:$mport/metrics" ||
    echo "bench: the metrics endpoint did not answer"
  c0=$(cpu_secs "$DPID")
  t0=$(date +%s.%N)
  for _ in $(seq 1 "$k"); do
    curl --noproxy '*' -sf -o /dev/null "http://127.0.0.1:$mport/metrics" || echo "bench: a scrape failed"
  done
  t1=$(date +%s.%N)
  c1=$(cpu_secs "$DPID")
  awk -v k="$k" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v n="$IDLE_N" \
      -v bytes="$(wc -c < "$W/scrape.txt")" -v lines="$(grep -vc '^#' "$W/scrape.txt")" 'BEGIN {
    printf "scrape of %d certificates:  %.1f ms daemon CPU per scrape (%d scrapes; %.0f ms wall each, curl included)\n", n, (c1 - c0) * 1000 / k, k, (t1 - t0) * 1000 / k
    printf "scrape size:                %.1f MiB, %d series\n", bytes / 1048576, lines
  }'
}

bench_idle_reload() {
  local renew=$1 names=() ppid t0 t1 ok inflight=0 loopms
  for i in $(seq 1 "$renew"); do names+=("t$i"); done
  "$TOP/build/certfleetctl" --socket "$W/idle/ctl.sock" renew --force "${names[@]}" > /dev/null ||
    echo "bench: renew --force failed"
  # Until the orders are past newOrder, waiting on Pebble's validations.
  for _ in $(seq 1 100); do
    inflight=$(grep -c "starting renewal" "$W/idle.log" || true)
    [ "$inflight" -ge "$renew" ] && break
    sleep 0.1
  done
  sleep 1
  python3 "$TOP/tests/bench/idle-probe.py" 127.0.0.1 "$HTTP01_PORT" "$W/probe.txt" &
  ppid=$!
  sleep 0.5
  t0=$(date +%s.%N)
  kill -HUP "$DPID"
  for _ in $(seq 1 30000); do grep -q "reloaded: " "$W/idle.log" && break; sleep 0.01; done
  t1=$(date +%s.%N)
  # The rescheduling in chunks goes on after the line; the probe sees it.
  sleep 1
  kill -TERM "$ppid"; wait "$ppid" || true
  ok=$(grep -c "installed certificate" "$W/idle.log" || true)
  loopms=$(grep -o "reloaded: .*" "$W/idle.log" | tail -n 1)
  awk -v t0="$t0" -v t1="$t1" -v r="$renew" -v ok="$ok" -v loop="$loopms" \
      -v probe="$(cat "$W/probe.txt" 2>/dev/null)" 'BEGIN {
    split(probe, p, " ")
    printf "SIGHUP reload:              %.3f s to the reloaded line (%s)\n", t1 - t0, loop
    printf "longest loop stall:         %.1f ms (longest http-01 request; longest gap between answers %.1f ms, %d requests, %d failed), %d of %d renewals in flight, %d installed by then\n", p[1], p[2], p[3], p[4], r - ok, r, ok
  }'
  for _ in $(seq 1 120); do
    [ "$(grep -c "installed certificate" "$W/idle.log" || true)" -ge "$renew" ] && break
    sleep 1
  done
  echo "renewals after the reload:  $(grep -c "installed certificate" "$W/idle.log" || true) of $renew installed"
}
