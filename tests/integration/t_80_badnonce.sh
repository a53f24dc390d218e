#!/bin/bash
# badNonce is never a certificate's failure (issue 7, section 2): Pebble
# rejects half of all good nonces; 10 certificates with --once, all issued,
# in each of CERTFLEET_T80_RUNS runs (default 5), each from an empty store
# (so newAccount runs the gauntlet too).  Every badNonce retry line names the
# certificate it is for (or, for the account's own requests, the account).
export PEBBLE_WFE_NONCEREJECT=50
. "$(dirname "$0")/lib.sh"
setup

RUNS=${CERTFLEET_T80_RUNS:-5}
N=10
total=0
max=0
for ((run = 1; run <= RUNS; run++)); do
  {
    cat <<YAML
state_dir: @WORK@/state-$run
output_dir: @WORK@/out-$run
http01_listen: "127.0.0.1:@HTTP01_PORT@"
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
YAML
    for ((i = 1; i <= N; i++)); do
      printf '  - {name: n%02d, domains: [n%02d-%d.example.com, alt-n%02d-%d.example.com], account: pebble}\n' \
        "$i" "$i" "$run" "$i" "$run"
    done
  } | inventory "$WORK/inv-$run.yaml"
  log=$WORK/run-$run.log
  t0=$(date +%s)
  "$CERTFLEETD" --once -v -c "$WORK/inv-$run.yaml" > "$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - t0 ))
  retries=$(grep -c 'badNonce on ' "$log")
  inrow=$(grep -oE 'badNonce on .*retrying \([0-9]+ in a row' "$log" | grep -oE '[0-9]+ in a row' | sort -n | tail -n 1)
  total=$((total + retries))
  echo "   run $run: ${took}s, $retries badNonce retries, at most ${inrow:-0}"
  [ "${inrow%% *}" -gt "$max" ] 2>/dev/null && max=${inrow%% *}
  assert_eq 0 "$rc" "run $run: --once exits 0"
  assert_eq "$N" "$(grep -c 'installed certificate' "$log")" "run $run: all $N certificates issued"
  assert_not_contains "$log" "attempt [0-9]+ failed" "run $run: no attempt failed"
  # Every retry line starts with what it is about: a certificate's name,
  # or "account NAME" for the account's own requests (newAccount).
  unnamed=$(grep 'badNonce on ' "$log" | grep -cvE 'debug: (n[0-9]+|account pebble): badNonce on https://')
  assert_eq 0 "$unnamed" "run $run: every badNonce line names its certificate (or the account)"
  [ "$(grep -cE 'debug: n[0-9]+: badNonce on https://' "$log")" -ge 1 ] &&
    pass "run $run: retry lines name the certificate" || fail "run $run: no retry line names a certificate"
done
echo "   $RUNS runs x $N certificates at PEBBLE_WFE_NONCEREJECT=50: $total badNonce retries in all, at most $max in a row"
[ "$total" -ge "$RUNS" ] && pass "Pebble did reject nonces ($total retries)" ||
  fail "only $total badNonce retries: Pebble's nonce rejection is not on"

finish
