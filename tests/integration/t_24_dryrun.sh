#!/bin/bash
# certfleetd --dry-run (issue 7, section 4): everything short of newOrder for
# each certificate that is due, one line per certificate, exit 0 only when
# all would work.  A good inventory passes with no order (and no account)
# at Pebble; a broken hook, a foreign live/NAME, an account that could not
# register (no EAB where the CA requires it) and a responder port in use are
# reported against their certificate with exit 1; staging_directory (here
# the same Pebble) gets a full issuance that installs nothing.
. "$(dirname "$0")/lib.sh"
setup

printf '#!/bin/sh\nexit 0\n' > "$WORK/hook"
chmod +x "$WORK/hook"

inventory "$WORK/good.yaml" <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
defaults:
  account: pebble
  deploy_hook: [@WORK@/hook]
certificates:
  - name: one
    domains: [one.example.com]
  - name: two
    domains: [two.example.com]
    key_type: rsa-2048
YAML

echo "== a good inventory, nothing issued yet: passes, nothing sent but a lookup"
"$CERTFLEETD" --dry-run -c "$WORK/good.yaml" > "$WORK/d1.out" 2> "$WORK/d1.err"
assert_eq 0 $? "--dry-run exits 0"
assert_eq 3 "$(wc -l < "$WORK/d1.out")" "one line per certificate and a summary"
assert_contains "$WORK/d1.out" "^one: ok: due: no certificate issued yet; preflight ok; http-01 responder 127.0.0.1:$HTTP01_PORT bindable; account pebble: no account key stored yet; would register with the EAB given" "one: every check listed"
assert_contains "$WORK/d1.out" "^two: ok: " "two: ok"
assert_contains "$WORK/d1.out" "no order was sent" "summary line"
assert_eq 0 "$(count new-order)" "no order at Pebble"
assert_eq 0 "$(count newAccount)" "not even a newAccount request"
[ -e "$WORK/state" ] || [ -e "$WORK/out" ] && fail "the dry run created state_dir or output_dir" || pass "nothing created"

echo "== after a real run: not due; an added certificate is checked with the registered account"
"$CERTFLEETD" --once -c "$WORK/good.yaml" > "$WORK/once.log" 2>&1
assert_eq 0 $? "--once issues both"
orders=$(count new-order)
cat >> "$WORK/good.yaml" <<'YAML'
  - name: three
    domains: [three.example.com]
YAML
find "$WORK/state" -type f -exec sha256sum {} + | sort > "$WORK/state.before"
"$CERTFLEETD" --dry-run -c "$WORK/good.yaml" > "$WORK/d2.out" 2> "$WORK/d2.err"
assert_eq 0 $? "--dry-run exits 0"
assert_contains "$WORK/d2.out" "^one: skipped: not due \(renewal at 20" "one not due"
url=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$WORK/state/accounts/pebble/account.json")
assert_contains "$WORK/d2.out" "^three: ok: .*account pebble: registered as $url" "the stored account is found with onlyReturnExisting"
assert_eq "$orders" "$(count new-order)" "no new order"
assert_eq 1 "$(count new-account)" "no new account"
find "$WORK/state" -type f -exec sha256sum {} + | sort > "$WORK/state.after"
assert_eq "" "$(diff "$WORK/state.before" "$WORK/state.after")" "the state directory is unchanged"
[ -e "$WORK/out/live/three" ] && fail "three installed" || pass "nothing installed for three"

echo "== broken: a missing hook, a foreign live/NAME, no EAB, the responder port taken"
mkdir -p "$WORK/out/live/legacy"
inventory "$WORK/bad.yaml" <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
  noeab:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
defaults:
  account: pebble
certificates:
  - name: three
    domains: [three.example.com]
  - name: hookless
    domains: [hookless.example.com]
    deploy_hook: [@WORK@/missing-hook]
  - name: legacy
    domains: [legacy.example.com]
  - name: unbound
    domains: [unbound.example.com]
    account: noeab
YAML
"$CERTFLEETD" --dry-run -c "$WORK/bad.yaml" > "$WORK/d3.out" 2> "$WORK/d3.err"
assert_eq 1 $? "--dry-run exits 1"
assert_contains "$WORK/d3.out" "^three: ok: " "the good certificate still passes"
assert_contains "$WORK/d3.out" "^hookless: FAILED: deploy hook $WORK/missing-hook: No such file or directory" "missing hook reported"
assert_contains "$WORK/d3.out" "^legacy: FAILED: $WORK/out/live/legacy exists and is not a symbolic link made by certfleet" "foreign live dir reported"
assert_contains "$WORK/d3.out" "^unbound: FAILED: account noeab: no account key stored yet, and .* requires external account binding" "missing EAB reported"
assert_contains "$WORK/d3.out" "4 certificates, 4 due, 3 would fail" "summary counts"
python3 -c 'import socket,sys,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); open(sys.argv[2], "w").close(); time.sleep(60)' "$HTTP01_PORT" "$WORK/bound" &
echo $! > "$WORK/squatter.pid"
wait_for "[ -e '$WORK/bound' ]" 10 || fail "port squatter did not start"
"$CERTFLEETD" --dry-run -c "$WORK/good.yaml" > "$WORK/d4.out" 2> "$WORK/d4.err"
assert_eq 1 $? "--dry-run exits 1 with the port taken"
assert_contains "$WORK/d4.out" "^three: FAILED: http-01 responder: " "responder not bindable reported"
kill "$(cat "$WORK/squatter.pid")"; rm -f "$WORK/squatter.pid"
wait 2>/dev/null
assert_eq "$orders" "$(count new-order)" "still no new order"

echo "== staging_directory: a full issuance there, nothing installed"
inventory "$WORK/staging.yaml" <<'YAML'
state_dir: @WORK@/state2
output_dir: @WORK@/out2
http01_listen: "127.0.0.1:@HTTP01_PORT@"
accounts:
  pebble:
    directory: @DIR_URL@
    staging_directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
  - name: staged
    domains: [staged.example.com]
    account: pebble
YAML
accounts=$(count new-account)
"$CERTFLEETD" --dry-run -c "$WORK/staging.yaml" > "$WORK/d5.out" 2> "$WORK/d5.err"
assert_eq 0 $? "--dry-run with staging exits 0"
assert_contains "$WORK/d5.out" "^staged: ok: .*account pebble: no account key stored yet; would register with the EAB given; staging issuance at $PEBBLE_DIR_URL ok \(serial [0-9A-F]+, not installed\)" "staging issuance reported"
assert_eq $((orders + 1)) "$(count new-order)" "one order, at the staging directory"
assert_eq 1 "$(count certificates-issued | awk -v o="$orders" '{print $1 - o}')" "and one certificate issued there"
assert_eq $((accounts + 1)) "$(count new-account)" "a throwaway staging account"
[ -e "$WORK/out2" ] && fail "output_dir created by the staging issuance" || pass "nothing installed in output_dir"
[ -e "$WORK/state2" ] && fail "state_dir created by the staging issuance" || pass "nothing written to the live store"
assert_eq "" "$(ls -d "${TMPDIR:-/tmp}"/certfleet-dry-run.* 2>/dev/null | head -n 1)" "the throwaway store is removed"

finish
