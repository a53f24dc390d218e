# shellcheck shell=bash
# Sourced by tests/integration/lib.sh and tests/bench/run-bench: pick a block
# of free loopback ports for one Pebble, so runs can share a machine.

# _port_used PORT: a TCP listener or a UDP socket on PORT (any address).
_port_used() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p="$hex" 'FNR > 1 {
      n = split($2, a, ":")
      if (a[n] == p && (FILENAME ~ /udp/ || $4 == "0A")) found = 1
    } END { exit !found }' /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null
}

# _pick_ports SKIP: exports the first free port block after skipping SKIP
# blocks (block k = the defaults + 100*k).  Returns 1 when none is free.
_pick_ports() {
  local k p ok
  for ((k = $1; k < 30; k++)); do
    ok=1
    for p in $((14000 + 100 * k)) $((15000 + 100 * k)) $((5002 + 100 * k)) \
             $((5001 + 100 * k)) $((8053 + 100 * k)) $((8055 + 100 * k)); do
      if _port_used "$p"; then ok=0; break; fi
    done
    if [ "$ok" = 1 ]; then
      export PEBBLE_PORT=$((14000 + 100 * k)) PEBBLE_MGMT_PORT=$((15000 + 100 * k))
      export HTTP01_PORT=$((5002 + 100 * k)) TLSALPN_PORT=$((5001 + 100 * k))
      export DNS_PORT=$((8053 + 100 * k)) CTS_PORT=$((8055 + 100 * k))
      T_PORT_BLOCK=$k
      return 0
    fi
  done
  return 1
}
