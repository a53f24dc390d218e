# lib.sh - shared helpers for the integration tests (sourced by bash).
# shellcheck shell=bash disable=SC2153  # PEBBLE_*, EAB_* come from the env file setup sources
#
# A test t_NN_name.sh is a standalone bash script:
#
#   . "$(dirname "$0")/lib.sh"
#   setup                      # fresh $WORK under /tmp, its own Pebble, cleaned on exit
#   inventory "$WORK/a.yaml" <<'YAML'
#   ...  @DIR_URL@ @CA@ @EAB_KID@ @EAB_KEY_FILE@ @WORK@ @HTTP01_PORT@ ...
#   YAML
#   "$CERTFLEETD" --once -c "$WORK/a.yaml" > "$WORK/run.log" 2>&1
#   assert_eq 0 $? "first run exits 0"
#   finish                     # "<test>: N passed, N failed"; exit 1 on any failure
#
# Each test starts its own Pebble because tests need different Pebble
# settings: export PEBBLE_WFE_NONCEREJECT, PEBBLE_EAB=0, ... before `setup`.
# Without explicit ports the default block (14000, 15000, 5002, ...) is used,
# or the next free block when another Pebble (a benchmark, a colleague's
# `make check`) already holds it; the ports in use are exported from
# $WORK/pebble/env (PEBBLE_PORT, HTTP01_PORT, ...).
#
# KEEP_WORK=1 keeps $WORK (logs, state, certificates) for a post-mortem.
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CERTFLEETD=$TOP/build/certfleetd
CERTFLEETCTL=$TOP/build/certfleetctl
PEBBLE_CTL=$TOP/tests/pebble/pebble-ctl
export TOP CERTFLEETD CERTFLEETCTL PEBBLE_CTL

# Nothing a test talks to is remote: a proxy from the caller's environment
# would only turn loopback requests into failures.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy='*' NO_PROXY='*'

T_PASS=0
T_FAIL=0
T_FINISHED=0
WORK=""
DAEMON_PID=""
T_NAME=$(basename "$0")

pass() { T_PASS=$((T_PASS + 1)); echo "  ok: ${*:-check $T_PASS}"; }
fail() { T_FAIL=$((T_FAIL + 1)); echo "  FAILED: ${*:-check}"; }

# _port_used, _pick_ports: shared with the benchmark.
# shellcheck source=tests/pebble/ports.sh
. "$TOP/tests/pebble/ports.sh"

# _stop_pidfile FILE: TERM the process, KILL it if it lingers.
_stop_pidfile() {
  local pid i
  pid=$(cat "$1" 2>/dev/null) || return 0
  case $pid in ''|*[!0-9]*) return 0 ;; esac
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 30; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

_cleanup() {
  local rc=$? f
  trap - EXIT INT TERM HUP
  if [ "$T_FINISHED" != 1 ]; then
    echo "$T_NAME: stopped before finish (exit status $rc) after $T_PASS passed, $T_FAIL failed"
    [ "$rc" = 0 ] && rc=1
  fi
  if [ -n "$DAEMON_PID" ]; then
    kill -KILL "$DAEMON_PID" 2>/dev/null
    wait "$DAEMON_PID" 2>/dev/null
  fi
  if [ -n "$WORK" ]; then
    for f in "$WORK"/*.pid; do
      [ -f "$f" ] && _stop_pidfile "$f"
    done
    if [ -d "$WORK/pebble" ]; then
      "$PEBBLE_CTL" stop "$WORK/pebble" >/dev/null 2>&1 ||
        echo "$T_NAME: could not stop the Pebble in $WORK/pebble"
    fi
    if [ "${KEEP_WORK:-0}" = 1 ]; then
      echo "$T_NAME: kept $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

# setup_work: a fresh $WORK, removed on exit with every process in
# $WORK/*.pid stopped (also on INT/TERM), for a test without Pebble.
setup_work() {
  WORK=$(mktemp -d /tmp/certfleet-it.XXXXXX) || { echo "$T_NAME: mktemp failed"; exit 1; }
  trap _cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  # Lets run-all clean up after a test it had to kill.
  [ -n "${CERTFLEET_IT_WORKFILE:-}" ] && echo "$WORK" > "$CERTFLEET_IT_WORKFILE"
}

# setup: a fresh $WORK and a Pebble in $WORK/pebble, stopped and removed on
# exit (also on INT/TERM, e.g. run-all's timeout); exports what pebble-ctl
# wrote to $WORK/pebble/env (PEBBLE_DIR_URL, PEBBLE_CA, EAB_KID, EAB_KEY_FILE,
# HTTP01_PORT, ...).
setup() {
  local try auto=0 skip=0
  setup_work
  [ -x "$CERTFLEETD" ] || echo "$T_NAME: warning: $CERTFLEETD not built (run make)"
  [ -z "${PEBBLE_PORT:-}" ] && auto=1
  for try in 1 2 3; do
    if [ "$auto" = 1 ]; then
      _pick_ports "$skip" || { echo "$T_NAME: no free port block for Pebble"; exit 1; }
      skip=$((T_PORT_BLOCK + 1))
    fi
    rm -rf "$WORK/pebble"
    if "$PEBBLE_CTL" start "$WORK/pebble" > "$WORK/pebble-start.log" 2>&1; then
      break
    fi
    # Another run may have taken the block between our check and Pebble's
    # bind: try the next one.
    if [ "$auto" = 1 ] && [ "$try" -lt 3 ] && grep -q "already in use" "$WORK/pebble-start.log"; then
      continue
    fi
    cat "$WORK/pebble-start.log"
    echo "$T_NAME: cannot start Pebble"
    exit 1
  done
  set -a
  # shellcheck disable=SC1091
  . "$WORK/pebble/env"
  set +a
  [ "${T_PORT_BLOCK:-0}" = 0 ] || echo "   (default ports busy: Pebble on $PEBBLE_PORT, http-01 on $HTTP01_PORT)"
}

# _sed_repl VALUE: VALUE escaped for the replacement part of s|...|...|.
_sed_repl() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

# inventory FILE: writes stdin to FILE with mode 0600 from the first byte
# (the daemon refuses group/other-readable files holding secrets), replacing
# @WORK@ @TOP@ @DIR_URL@ @CA@ @MGMT@ @EAB_KID@ @EAB_KEY_FILE@ @EAB_KID2@
# @EAB_KEY_FILE2@ @HTTP01_PORT@ @TLSALPN_PORT@ with this test's values.
inventory() {
  local f=$1
  rm -f "$f"
  (
    umask 077
    sed -e "s|@WORK@|$(_sed_repl "$WORK")|g" -e "s|@TOP@|$(_sed_repl "$TOP")|g" \
        -e "s|@DIR_URL@|$(_sed_repl "$PEBBLE_DIR_URL")|g" -e "s|@CA@|$(_sed_repl "$PEBBLE_CA")|g" \
        -e "s|@MGMT@|$(_sed_repl "$PEBBLE_MGMT")|g" \
        -e "s|@EAB_KID@|$(_sed_repl "$EAB_KID")|g" \
        -e "s|@EAB_KEY_FILE@|$(_sed_repl "$EAB_KEY_FILE")|g" \
        -e "s|@EAB_KID2@|$(_sed_repl "$EAB_KID2")|g" \
        -e "s|@EAB_KEY_FILE2@|$(_sed_repl "$EAB_KEY_FILE2")|g" \
        -e "s|@HTTP01_PORT@|$HTTP01_PORT|g" -e "s|@TLSALPN_PORT@|$TLSALPN_PORT|g" > "$f"
  ) || { fail "cannot write inventory $f"; return 1; }
  chmod 0600 "$f"
}

assert_eq() { # EXPECTED ACTUAL WHAT
  if [ "$1" = "$2" ]; then pass "$3"; else fail "$3: expected '$1', got '$2'"; fi
}
assert_file() { # PATH WHAT
  if [ -e "$1" ]; then pass "${2:-$1 exists}"; else fail "${2:-$1 exists}: $1 missing"; fi
}
assert_contains() { # FILE ERE WHAT
  if grep -qE -- "$2" "$1"; then
    pass "$3"
  else
    fail "$3: /$2/ not in $1"
    tail -n 20 "$1" | sed 's/^/    | /'
  fi
}
assert_not_contains() { # FILE ERE WHAT
  if grep -qE -- "$2" "$1"; then
    fail "$3: /$2/ found in $1"
    grep -E -- "$2" "$1" | head -n 5 | sed 's/^/    | /'
  else
    pass "$3"
  fi
}

# count WHAT: what Pebble logged so far (pebble-ctl count): new-account and
# new-order are accounts and orders created (badNonce retries do not count),
# ACME names such as newNonce or newOrder count requests.
count() { "$PEBBLE_CTL" count "$WORK/pebble" "$1"; }

# verify_live OUT NAME: the live certificate chains to Pebble's root and
# matches its key.
verify_live() {
  local live=$1/live/$2
  [ -f "$WORK/pebble/roots.pem" ] || "$PEBBLE_CTL" roots "$WORK/pebble"
  if openssl verify -CAfile "$WORK/pebble/roots.pem" -untrusted "$live/chain.pem" \
       "$live/cert.pem" >/dev/null 2>&1; then
    pass "$2 verifies against Pebble's root"
  else
    fail "$2 does not verify against Pebble's root"
  fi
  if [ "$(openssl x509 -in "$live/cert.pem" -noout -pubkey 2>/dev/null | openssl sha256)" = \
       "$(openssl pkey -in "$live/privkey.pem" -pubout 2>/dev/null | openssl sha256)" ]; then
    pass "$2 certificate matches its key"
  else
    fail "$2 certificate does not match its key"
  fi
}

# sans FILE: the certificate's DNS names, sorted, space separated.
sans() {
  openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tr ',' '\n' |
    sed -n 's/.*DNS:\([^ ]*\).*/\1/p' | sort | tr '\n' ' ' | sed 's/ $//'
}

# wait_for CMD SECONDS: polls the shell command CMD every 0.1 s until it
# succeeds (0) or SECONDS pass (1).
wait_for() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if eval "$1"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# finish: the test's summary line, which run-all reads; exits 1 on failure.
finish() {
  T_FINISHED=1
  echo "$T_NAME: $T_PASS passed, $T_FAIL failed"
  [ "$T_FAIL" = 0 ]
  exit $?
}

# ari_proxy_start: starts tests/integration/ari-proxy.py in front of this
# test's Pebble (RFC 9773 renewalInfo served from $WORK/ari-ctl, every request
# logged to $WORK/ari-proxy.log) with a throwaway CA of its own; exports
# PROXY_DIR_URL and PROXY_CA (the bundle to give an account as ca_bundle).
ari_proxy_start() {
  local d=$WORK/ari-proxy
  mkdir -p "$d" "$WORK/ari-ctl"
  (
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=certfleet test CA for the ARI proxy" -keyout "$d/ca.key" -out "$d/ca.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
      -keyout "$d/server.key" -out "$d/server.csr" &&
    printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
      "extendedKeyUsage=serverAuth" > "$d/server.ext" &&
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
      -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$d/server.ext" -out "$d/server.pem"
  ) > "$d/openssl.log" 2>&1 || { cat "$d/openssl.log"; fail "cannot make the ARI proxy's certificate"; return 1; }
  python3 "$TOP/tests/integration/ari-proxy.py" --upstream "$PEBBLE_DIR_URL" \
    --upstream-ca "$PEBBLE_CA" --cert "$d/server.pem" --key "$d/server.key" \
    --control "$WORK/ari-ctl" --log "$WORK/ari-proxy.log" --port-file "$d/port" \
    > "$d/stderr.log" 2>&1 &
  echo $! > "$WORK/ari-proxy.pid"
  wait_for "[ -s '$d/port' ]" 10 || { cat "$d/stderr.log"; fail "ARI proxy did not start"; return 1; }
  PROXY_PORT=$(cat "$d/port")
  PROXY_DIR_URL="https://127.0.0.1:$PROXY_PORT/dir"
  PROXY_CA=$d/ca.pem
  export PROXY_PORT PROXY_DIR_URL PROXY_CA
}

# pebble_relaunch: starts Pebble and its DNS server again after
# `pebble-ctl stop "$WORK/pebble"`, on the same ports with the same TLS
# certificate and EAB keys (pebble-ctl start would make new ones, which a
# running daemon could not know).  Pebble's accounts and orders are gone,
# as after any restart of it.
pebble_relaunch() {
  local d
  d=$(cd "$WORK/pebble" && pwd -P) || return 1
  env CERTFLEET_PEBBLE_DIR="$d" pebble-challtestsrv -dns01 "127.0.0.1:$DNS_PORT" \
    -management "127.0.0.1:$CTS_PORT" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
    -http01 "" -https01 "" -tlsalpn01 "" < /dev/null >> "$d/challtestsrv.log" 2>&1 &
  echo $! > "$d/challtestsrv.pid"
  env CERTFLEET_PEBBLE_DIR="$d" PEBBLE_VA_NOSLEEP="${PEBBLE_VA_NOSLEEP:-1}" \
    pebble -config "$d/pebble.json" -dnsserver "127.0.0.1:$DNS_PORT" \
    < /dev/null >> "$d/pebble.log" 2>&1 &
  echo $! > "$d/pebble.pid"
  wait_for "curl --noproxy '*' -sf --max-time 2 --cacert '$PEBBLE_CA' -o /dev/null '$PEBBLE_DIR_URL'" 30
}

# log_epoch LINE: the unix time of a daemon log line (its leading
# 2026-01-02T15:04:05Z stamp).
log_epoch() { date -u -d "$(printf '%s' "$1" | cut -d' ' -f1 | sed 's/T/ /; s/Z$//')" +%s; }

# iso_epoch STAMP: 2026-01-02T15:04:05Z -> unix time.
iso_epoch() { date -u -d "$(printf '%s' "$1" | sed 's/T/ /; s/Z$//')" +%s; }
