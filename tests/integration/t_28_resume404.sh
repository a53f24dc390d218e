#!/bin/bash
# A resumed order the CA no longer knows (issue 7, section 0): the store
# holds an order that was finalized before a crash (order_url,
# order_finalized: true, its order key) and the CA has been restarted since,
# so the order answers 404.  The run must order again, finalize the new
# order and install it; before the fix the new order inherited "finalize
# sent", reached ready and was polled, never finalized, until order_timeout.
. "$(dirname "$0")/lib.sh"
setup

inventory "$WORK/a.yaml" <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
timeouts: {order: 40s}
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
defaults:
  account: pebble
certificates:
  - name: first
    domains: [first.example.com]
  - name: lost
    domains: [lost.example.com]
YAML

echo "== the account exists and one certificate is issued"
"$CERTFLEETD" --once -c "$WORK/a.yaml" > "$WORK/run0.log" 2>&1
assert_eq 0 $? "first run exits 0"

echo "== 'lost' crashed after its finalize; the CA restarted since and knows no such order"
# Make 'lost' look like a crash right after its finalize was sent: never
# issued, an order URL on this CA, order_finalized, and its order key.
rm -rf "$WORK/state/certs/lost" "$WORK/out/live/lost" "$WORK/out/archive/lost"
mkdir -p "$WORK/state/certs/lost"
chmod 0700 "$WORK/state/certs/lost"
(umask 077; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
  -out "$WORK/state/certs/lost/order-key.pem" 2>/dev/null)
lost_url="${PEBBLE_DIR_URL%/dir}/my-order/gone-since-the-ca-restarted"
python3 - "$WORK/state/certs/lost/state.json" "$lost_url" <<'PY'
import json, sys, time
st = {"order_url": sys.argv[2], "order_finalized": True,
      "order_started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 120))}
with open(sys.argv[1], "w") as f:
    json.dump(st, f)
PY
chmod 0600 "$WORK/state/certs/lost/state.json" "$WORK/state/certs/lost/order-key.pem"
orders=$(count new-order)
finalizes=$(count finalize)
t0=$(date +%s)
"$CERTFLEETD" --once -v -c "$WORK/a.yaml" > "$WORK/run1.log" 2>&1
rc=$?
took=$(( $(date +%s) - t0 ))
assert_eq 0 "$rc" "the run exits 0 (${took}s)"
assert_contains "$WORK/run1.log" "lost: resuming order $lost_url" "the stored order is resumed"
assert_contains "$WORK/run1.log" "warning: lost: order $lost_url no longer exists, ordering again" "the 404 is reported"
assert_eq 1 "$(( $(count new-order) - orders ))" "one new order"
assert_contains "$WORK/run1.log" "lost: finalizing https://" "the new order is finalized"
[ "$(( $(count finalize) - finalizes ))" -ge 1 ] && pass "finalize reached Pebble" || fail "no finalize reached Pebble"
assert_contains "$WORK/run1.log" "notice: lost: installed certificate lost.example.com" "the new certificate is installed"
verify_live "$WORK/out" lost
python3 - "$WORK/state/certs/lost/state.json" <<'PY' && pass "state: no order left in flight" || fail "state still holds an order"
import json, sys
st = json.load(open(sys.argv[1]))
sys.exit(0 if not st.get("order_url") and not st.get("order_finalized") else 1)
PY
assert_file "$WORK/out/live/lost/privkey.pem" "key installed"

finish
