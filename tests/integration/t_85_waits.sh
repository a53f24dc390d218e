#!/bin/bash
# Long waits are visible (issue 7, section 2).  Pebble validates after a
# random pause (PEBBLE_VA_NOSLEEP=0), ari-proxy.py adds "Retry-After: 2" to
# its order, finalize and authorization answers (Debian's Pebble sends none) and holds
# every finalize for 12 s, as a slow CA would:
#  - an authorization polled while pending says so once, with the delay the
#    CA asked for, however many polls it takes;
#  - an order processing after its finalize says so once, likewise;
#  - a finalize still unanswered after 10 s gets one line saying so;
#  - everything is still issued.
export PEBBLE_VA_NOSLEEP=0
. "$(dirname "$0")/lib.sh"
setup
ari_proxy_start || finish

echo 2 > "$WORK/ari-ctl/poll-retry-after"
echo 12 > "$WORK/ari-ctl/finalize-delay"
{
  cat <<YAML
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
accounts:
  pebble:
    directory: $PROXY_DIR_URL
    contact: mailto:it@example.com
    ca_bundle: $PROXY_CA
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
YAML
  for n in w1 w2 w3; do printf '  - {name: %s, domains: [%s.example.com], account: pebble}\n' "$n" "$n"; done
} | inventory "$WORK/inv.yaml"

"$CERTFLEETD" --once -c "$WORK/inv.yaml" > "$WORK/run.log" 2>&1
assert_eq 0 $? "--once exits 0"
assert_eq 3 "$(grep -c 'installed certificate' "$WORK/run.log")" "three certificates issued"

# Pending polls the proxy answered, per authorization.
polls=$(python3 - "$WORK/ari-proxy.log" <<'PY'
import json, sys
n = {}
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["method"] == "POST" and r["path"].startswith("/authZ/") and r.get("status") == 200:
        n[r["path"]] = n.get(r["path"], 0) + 1
print(max(n.values()) if n else 0)
PY
)
echo "   at most $polls fetches of one authorization"
waits=$(grep -cE 'info: w[0-9]: authorization https://[^ ]+ pending; next check in 2s \(Retry-After\)$' "$WORK/run.log")
[ "$waits" -ge 1 ] && pass "a pending authorization is announced with its Retry-After ($waits)" ||
  fail "no 'pending; next check in 2s (Retry-After)' line"
dups=$(grep -oE 'authorization https://[^ ]+ pending; next check' "$WORK/run.log" | sort | uniq -d | wc -l)
assert_eq 0 "$dups" "announced once per authorization and state, not per poll"
# Pebble answers a finalize with the order processing (issuing in the
# background): that wait is announced too, once.
procs=$(grep -cE 'info: w[0-9]: order https://[^ ]+ processing; next check in 2s \(Retry-After\)$' "$WORK/run.log")
[ "$procs" -ge 1 ] && pass "an order processing is announced with its Retry-After ($procs)" ||
  fail "no 'order ... processing; next check in 2s (Retry-After)' line"
dups=$(grep -oE 'order https://[^ ]+ processing; next check' "$WORK/run.log" | sort | uniq -d | wc -l)
assert_eq 0 "$dups" "order processing announced once per order"
for n in w1 w2 w3; do
  assert_eq 1 "$(grep -cE "info: $n: finalize of https://[^ ]+ has been waiting for 10s" "$WORK/run.log")" \
    "$n: the slow finalize gets one line"
done
assert_not_contains "$WORK/run.log" "attempt [0-9]+ failed" "no attempt failed"

finish
