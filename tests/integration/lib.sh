# lib.sh - shared helpers for the integration tests (sourced, bash).
#
# Each t_*.sh test sources this, calls `setup` (fresh temp dir, Pebble started
# there, stopped and cleaned on exit), writes an inventory with `inventory`,
# runs build/certfleetd, and checks with the assert_* helpers.  `finish`
# prints the test's summary and exits non-zero on any failure.
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CERTFLEETD=$TOP/build/certfleetd
CERTFLEETCTL=$TOP/build/certfleetctl
PEBBLE_CTL=$TOP/tests/pebble/pebble-ctl
export CERTFLEETD CERTFLEETCTL PEBBLE_CTL TOP

T_PASS=0
T_FAIL=0
WORK=""
DAEMON_PID=""

cleanup() {
  if [ -n "$DAEMON_PID" ]; then kill -9 "$DAEMON_PID" 2>/dev/null || true; fi
  for pidf in "$WORK"/*.pid; do
    [ -f "$pidf" ] && kill "$(cat "$pidf")" 2>/dev/null
  done
  [ -n "$WORK" ] && "$PEBBLE_CTL" stop "$WORK/pebble" >/dev/null 2>&1
  if [ "${KEEP_WORK:-0}" != 1 ] && [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}

# setup: temp dir + Pebble (extra env such as PEBBLE_WFE_NONCEREJECT passes through).
setup() {
  WORK=$(mktemp -d /tmp/certfleet-it.XXXXXX)
  trap cleanup EXIT
  "$PEBBLE_CTL" start "$WORK/pebble" >"$WORK/pebble-start.log" 2>&1 || {
    cat "$WORK/pebble-start.log"; echo "FAIL: cannot start Pebble"; exit 1; }
  # shellcheck disable=SC1091
  . "$WORK/pebble/env"
}

pass() { T_PASS=$((T_PASS + 1)); echo "  ok: $*"; }
fail() { T_FAIL=$((T_FAIL + 1)); echo "  FAILED: $*"; }

assert_eq() { # expected actual what
  if [ "$1" = "$2" ]; then pass "$3"; else fail "$3: expected '$1', got '$2'"; fi
}
assert_file() { if [ -e "$1" ]; then pass "$2"; else fail "$2: $1 missing"; fi; }
assert_contains() { # file pattern what
  if grep -qE -- "$2" "$1"; then pass "$3"; else fail "$3: '$2' not in $1"; tail -n 20 "$1"; fi
}
assert_not_contains() {
  if grep -qE -- "$2" "$1"; then fail "$3: '$2' found in $1"; grep -E -- "$2" "$1" | head -5; else pass "$3"; fi
}

# count KIND: requests of that kind Pebble has logged so far.
count() { "$PEBBLE_CTL" count "$WORK/pebble" "$1"; }

# inventory FILE: writes stdin to FILE (0600), replacing @VARS@ from the env file.
inventory() {
  sed -e "s|@WORK@|$WORK|g" -e "s|@DIR_URL@|$PEBBLE_DIR_URL|g" -e "s|@CA@|$PEBBLE_CA|g" \
      -e "s|@EAB_KID@|$EAB_KID|g" -e "s|@EAB_KEY_FILE@|$EAB_KEY_FILE|g" \
      -e "s|@HTTP01_PORT@|$HTTP01_PORT|g" -e "s|@TOP@|$TOP|g" > "$1"
  chmod 600 "$1"
}

# verify_live OUT NAME: the live certificate chains to Pebble's root and matches its key.
verify_live() {
  local live=$1/live/$2
  [ -f "$WORK/pebble/roots.pem" ] || "$PEBBLE_CTL" roots "$WORK/pebble"
  if openssl verify -CAfile "$WORK/pebble/roots.pem" -untrusted "$live/chain.pem" \
       "$live/cert.pem" >/dev/null 2>&1; then
    pass "$2 verifies against Pebble's root"
  else
    fail "$2 does not verify against Pebble's root"
  fi
  if [ "$(openssl x509 -in "$live/cert.pem" -noout -pubkey | openssl sha256)" = \
       "$(openssl pkey -in "$live/privkey.pem" -pubout | openssl sha256)" ]; then
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

# wait_for CMD TIMEOUT WHAT: polls CMD (bounded) until it succeeds.
wait_for() {
  local i
  for i in $(seq 1 $(($2 * 10))); do
    if eval "$1"; then return 0; fi
    sleep 0.1
  done
  return 1
}

finish() {
  echo "$(basename "$0"): $T_PASS passed, $T_FAIL failed"
  [ "$T_FAIL" = 0 ]
  exit $?
}
