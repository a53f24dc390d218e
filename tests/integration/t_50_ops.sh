#!/bin/bash
# Certificate and account operations against Pebble (issue 4, section 2):
# preferred chain among PEBBLE_ALTERNATE_ROOTS chains (by issuer CN, by
# fingerprint, no match -> default), dual RSA/ECDSA certificates for the
# same names, revocation by the account key (checked on Pebble's
# /cert-status-by-serial/, then re-issued) and by the certificate key (with
# --no-reissue), account key rollover followed by an order signed with the
# new key, both outcomes of an interrupted rollover, deactivation (refused
# by the CA afterwards, reported clearly by certfleet), and a CA's
# invalidProfile answer.  The profile check against meta.profiles is a unit
# test (check_acme_ops): Pebble 2.4 has no profiles.
#
# The operations run through tests/ops-driver.c (built here against
# build/libcertfleet.a), which calls the same fleet_* functions the control
# socket does.
. "$(dirname "$0")/lib.sh"
export PEBBLE_ALTERNATE_ROOTS=2
setup

# ---- the driver ----
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$TOP" --no-print-directory --eval 'print-%: ; @echo $($*)' "print-$1"; }
# shellcheck disable=SC2046  # the flags are meant to split
if ! cc $(mk ALL_CFLAGS) -I"$TOP/src" -o "$WORK/ops-driver" "$TOP/tests/ops-driver.c" \
     "$TOP/build/libcertfleet.a" $(mk DEP_LIBS) > "$WORK/driver-build.log" 2>&1; then
  cat "$WORK/driver-build.log"
  fail "cannot build tests/ops-driver.c"
  finish
fi
DRV=$WORK/ops-driver
# Each run ends by itself (the driver gives up after 120 s); timeout is a
# second guard so a broken build can never hang the suite.
# DRV_WRAP="valgrind -q --leak-check=full --error-exitcode=99" checks the
# operations for memory errors.
drv() { timeout 150 ${DRV_WRAP:-} "$DRV" -c "$WORK/a.yaml" "$@" 2>> "$WORK/driver.log"; }

mgmt() { curl --noproxy '*' -sS --max-time 5 --cacert "$PEBBLE_CA" "$PEBBLE_MGMT$1"; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
# cert_status SERIAL: Pebble's Status for the certificate ("Valid", "Revoked").
cert_status() {
  mgmt "/cert-status-by-serial/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("Status",""))' 2>/dev/null
}
cn_of() { openssl x509 -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p'; }
pubkey() { openssl pkey -in "$1" -pubout 2>/dev/null | openssl sha256; }
state_field() { # CERT FIELD
  python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print("" if v is None else str(v).lower() if isinstance(v,bool) else v)' \
    "$WORK/state/certs/$1/state.json" "$2"
}

# ---- the CA's chains ----
mgmt /roots/1 | cn_of > "$WORK/root1.cn"
mgmt /intermediates/1 > "$WORK/int1.pem"
mgmt /intermediates/2 > "$WORK/int2.pem"
mgmt /intermediates/0 > "$WORK/int0.pem"
ROOT1_CN=$(cat "$WORK/root1.cn")
INT2_FP="sha256:$(openssl x509 -in "$WORK/int2.pem" -noout -fingerprint -sha256 | cut -d= -f2)"
[ -n "$ROOT1_CN" ] && [ "$INT2_FP" != "sha256:" ] || { fail "cannot read Pebble's alternate roots"; finish; }
fp_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }

inventory "$WORK/a.yaml" <<YAML
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
renew_jitter: 0s
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
  - name: chain-cn
    domains: [cn.example.com]
    preferred_chain: "$ROOT1_CN"
  - name: chain-fp
    domains: [fp.example.com]
    preferred_chain: "$INT2_FP"
  - name: chain-none
    domains: [none.example.com]
    preferred_chain: "No Such Root CA"
  - name: dual-ec
    domains: [dual.example.com, www.dual.example.com]
  - name: dual-rsa
    domains: [www.dual.example.com, dual.example.com]
    key_type: rsa-2048
  - name: web
    domains: [web.example.com]
YAML

echo "== issue everything (preferred chains, dual certificates)"
"$CERTFLEETD" --once -v -c "$WORK/a.yaml" > "$WORK/run1.log" 2>&1
assert_eq 0 $? "first --once exits 0"
for n in chain-cn chain-fp chain-none dual-ec dual-rsa web; do
  assert_file "$WORK/out/live/$n/fullchain.pem" "$n installed"
done
assert_eq "$(fp_of "$WORK/int1.pem")" "$(fp_of "$WORK/out/live/chain-cn/chain.pem")" \
  "chain-cn: the alternate chain whose top issuer is '$ROOT1_CN' is installed"
assert_eq "$ROOT1_CN" "$(openssl x509 -in "$WORK/out/live/chain-cn/chain.pem" -noout -issuer -nameopt multiline | sed -n 's/^ *commonName *= *//p')" \
  "chain-cn: installed chain is issued by the preferred root"
assert_eq "$(fp_of "$WORK/int2.pem")" "$(fp_of "$WORK/out/live/chain-fp/chain.pem")" \
  "chain-fp: the chain holding the fingerprinted intermediate is installed"
assert_eq "$(fp_of "$WORK/int0.pem")" "$(fp_of "$WORK/out/live/chain-none/chain.pem")" \
  "chain-none: no match, the default chain is installed"
assert_contains "$WORK/run1.log" "chain-none: no chain matches preferred_chain 'No Such Root CA'.*installing the default chain" \
  "chain-none: the fallback is logged"
assert_contains "$WORK/run1.log" "chain-cn: installing alternate chain" "chain-cn: the alternate is logged"
assert_eq 0 "$(grep -c 'chain-fp: cannot download alternate' "$WORK/run1.log")" "alternates downloaded without error"
verify_live "$WORK/out" dual-ec
verify_live "$WORK/out" dual-rsa
assert_contains <(openssl pkey -in "$WORK/out/live/dual-rsa/privkey.pem" -noout -text) "Private-Key: \(2048 bit" "dual-rsa key is RSA"
assert_contains <(openssl pkey -in "$WORK/out/live/dual-ec/privkey.pem" -noout -text) "prime256v1|P-256" "dual-ec key is ECDSA"
assert_eq "$(sans "$WORK/out/live/dual-ec/cert.pem")" "$(sans "$WORK/out/live/dual-rsa/cert.pem")" "dual certificates cover the same names"

echo "== a true duplicate is refused"
sed -e 's/^    key_type: rsa-2048$//' "$WORK/a.yaml" > "$WORK/dup.yaml"
chmod 0600 "$WORK/dup.yaml"
"$CERTFLEETD" --check -c "$WORK/dup.yaml" > "$WORK/dup.log" 2>&1
assert_eq 78 $? "--check refuses two entries ordering the same certificate"
assert_contains "$WORK/dup.log" "certificate 'dual-rsa' orders the same names with the same key type, account and profile as 'dual-ec'" \
  "the duplicate is named"

echo "== refusals checked at once"
drv revoke no-such-cert > "$WORK/o.log"
assert_eq 3 $? "revoke of an unknown certificate: exit 3 (not found)"
drv revoke web --reason 7 > "$WORK/o.log"
assert_eq 2 $? "revoke with reason 7: exit 2 (usage)"
drv rollover no-such-account > "$WORK/o.log"
assert_eq 3 $? "rollover of an unknown account: exit 3"
assert_eq 0 "$(count revokeCert)" "nothing sent for refused operations"

echo "== revocation by the account key, then re-issue"
old_serial=$(serial_of "$WORK/out/live/web/cert.pem")
assert_eq Valid "$(cert_status "$old_serial")" "Pebble has web's certificate as valid"
orders=$(count new-order)
drv revoke web --reason 4 > "$WORK/revoke1.log"
assert_eq 0 $? "revoke web exits 0"
assert_contains "$WORK/revoke1.log" "^ok$" "revoke web reports ok"
assert_eq Revoked "$(cert_status "$old_serial")" "Pebble reports the certificate revoked"
# Requests, not outcomes: a badNonce retry (Pebble rejects 5 % of nonces)
# resends one.
[ "$(count revokeCert)" -ge 1 ] && pass "revokeCert sent" || fail "no revokeCert request"
assert_eq $((orders + 1)) "$(count new-order)" "the revoked certificate was re-issued at once"
new_serial=$(serial_of "$WORK/out/live/web/cert.pem")
[ "$new_serial" != "$old_serial" ] && pass "a new certificate is installed" || fail "web still has the revoked certificate"
assert_eq Valid "$(cert_status "$new_serial")" "the new certificate is valid"
assert_eq "../archive/web/.live2" "$(readlink "$WORK/out/live/web")" "live/web points at version 2"
assert_eq "$old_serial" "$(state_field web revoked_serial)" "state records the revoked serial"
assert_eq 4 "$(state_field web revoked_reason)" "state records the reason"
assert_eq "" "$(state_field web revoked)" "the new certificate is not marked revoked"

echo "== revocation by the certificate key, without re-issue"
ec_serial=$(serial_of "$WORK/out/live/dual-ec/cert.pem")
orders=$(count new-order)
drv revoke dual-ec --cert-key --no-reissue --reason 1 > "$WORK/revoke2.log"
assert_eq 0 $? "revoke --cert-key exits 0"
assert_eq Revoked "$(cert_status "$ec_serial")" "Pebble reports dual-ec revoked"
assert_eq "$orders" "$(count new-order)" "--no-reissue: nothing ordered"
assert_eq true "$(state_field dual-ec revoked)" "state marks dual-ec revoked"
assert_eq true "$(state_field dual-ec revoked_no_reissue)" "state records --no-reissue"
assert_contains "$WORK/driver.log" "dual-ec: revoking serial $ec_serial \(reason 1, signed by the certificate key\)" \
  "signed by the certificate key"
"$CERTFLEETD" --once -c "$WORK/a.yaml" > "$WORK/run2.log" 2>&1
assert_eq "$orders" "$(count new-order)" "a later run does not re-issue it either"
orders=$(count new-order)
drv revoke dual-ec > "$WORK/revoke3.log"
assert_eq 0 $? "revoking it again (the CA: alreadyRevoked) is done"
assert_contains "$WORK/driver.log" "dual-ec: certificate serial $ec_serial was already revoked" "... and says so"
assert_eq $((orders + 1)) "$(count new-order)" "... and, without --no-reissue, re-issues it"
assert_eq "../archive/dual-ec/.live2" "$(readlink "$WORK/out/live/dual-ec")" "live/dual-ec points at version 2"

echo "== account key rollover, then an order signed with the new key"
acct=$WORK/state/accounts/pebble
before=$(pubkey "$acct/key.pem")
drv rollover pebble > "$WORK/roll.log"
assert_eq 0 $? "rollover exits 0"
[ "$(count keyChange)" -ge 1 ] && pass "keyChange sent" || fail "no keyChange request"
assert_eq 1 "$(grep -c 'account pebble: key rollover done' "$WORK/driver.log")" "one rollover done"
after=$(pubkey "$acct/key.pem")
[ -n "$after" ] && [ "$before" != "$after" ] && pass "the store holds the new key" || fail "account key unchanged"
[ ! -e "$acct/key-next.pem" ] && pass "no staged key left" || fail "key-next.pem left behind"
orders=$(count new-order)
drv renew chain-none > "$WORK/renew1.log"
assert_eq 0 $? "renewal after rollover exits 0"
assert_eq $((orders + 1)) "$(count new-order)" "Pebble accepted an order signed with the new key"
assert_eq "../archive/chain-none/.live2" "$(readlink "$WORK/out/live/chain-none")" "chain-none renewed"
assert_eq 1 "$(count new-account)" "still one account"

echo "== interrupted rollover: the CA never switched"
cp "$acct/key.pem" "$WORK/current.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$acct/key-next.pem" 2>/dev/null
chmod 0600 "$acct/key-next.pem"
drv renew chain-cn > "$WORK/renew2.log"
assert_eq 0 $? "renewal with a leftover staged key exits 0"
assert_contains "$WORK/driver.log" "account pebble: the interrupted key rollover did not happen at the CA; keeping the old key" \
  "the CA is asked and the old key kept"
assert_eq "$(pubkey "$WORK/current.pem")" "$(pubkey "$acct/key.pem")" "key.pem unchanged"
[ ! -e "$acct/key-next.pem" ] && pass "the stale staged key is dropped" || fail "key-next.pem still there"

echo "== interrupted rollover: the CA switched before the key was promoted"
drv rollover pebble > "$WORK/roll2.log"
assert_eq 0 $? "second rollover exits 0"
# Back to the state a crash between the CA's 200 and the rename leaves.
cp "$acct/key.pem" "$acct/key-next.pem"
cp "$WORK/current.pem" "$acct/key.pem"
orders=$(count new-order)
drv renew chain-fp > "$WORK/renew3.log"
assert_eq 0 $? "renewal after the simulated crash exits 0"
assert_contains "$WORK/driver.log" "account pebble: the interrupted key rollover had completed at the CA; using the new key" \
  "the CA confirms the new key"
[ "$(pubkey "$acct/key.pem")" != "$(pubkey "$WORK/current.pem")" ] && pass "the new key is promoted" || fail "still the old key"
assert_eq $((orders + 1)) "$(count new-order)" "the order went through with the new key"

echo "== accounts listing"
drv accounts > "$WORK/accounts.json"
assert_eq "pebble valid ec-p256 False" "$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))[0]; print(a["name"], a["status"], a["key_type"], a["rollover_pending"])' "$WORK/accounts.json")" \
  "account list: name, status, key type, no rollover pending"

echo "== deactivation"
cp -a "$WORK/state" "$WORK/state2"
drv deactivate pebble > "$WORK/deact.log"
assert_eq 0 $? "deactivate exits 0"
assert_contains "$acct/account.json" '"deactivated"' "the store records the deactivation"
drv accounts > "$WORK/accounts2.json"
assert_eq deactivated "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["status"])' "$WORK/accounts2.json")" \
  "account list shows it deactivated"
orders=$(count new-order)
drv renew web > "$WORK/renew4.log"
assert_eq 1 $? "a renewal through the deactivated account fails"
assert_eq "$orders" "$(count new-order)" "... without asking the CA"
assert_contains "$WORK/driver.log" "web: .*account pebble was deactivated at .*; point its certificates at another account" \
  "certfleet reports the deactivated account clearly"
assert_contains <(state_field web last_error) "account pebble was deactivated" "the error is recorded for status"
drv deactivate pebble > "$WORK/deact2.log"
assert_eq 1 $? "deactivating twice is refused"
assert_contains "$WORK/deact2.log" "error: account pebble was deactivated at" "... saying why"
# The CA's side, from a copy of the store taken before deactivation.
sed -e "s|$WORK/state\$|$WORK/state2|" "$WORK/a.yaml" > "$WORK/b.yaml"
chmod 0600 "$WORK/b.yaml"
timeout 150 "$DRV" -c "$WORK/b.yaml" probe pebble > "$WORK/probe.log" 2>>"$WORK/driver.log"
assert_eq 1 $? "the CA refuses requests from the deactivated account"
assert_contains "$WORK/probe.log" "unauthorized|deactivated" "... as unauthorized"
orders=$(count new-order)
timeout 150 "$DRV" -c "$WORK/b.yaml" renew web > "$WORK/renew5.log" 2>>"$WORK/driver.log"
assert_eq "$orders" "$(count new-order)" "no order is created for the deactivated account"
assert_contains "$WORK/driver.log" "web: newOrder .*unauthorized" "the CA's refusal of newOrder is reported"

echo "== a CA refusing the profile (invalidProfile, through the ARI proxy)"
# Pebble 2.4 knows no profiles: the proxy answers newOrder with the problem.
ari_proxy_start
echo "invalidProfile 400" > "$WORK/ari-ctl/reject-new-order"
inventory "$WORK/p.yaml" <<YAML
state_dir: @WORK@/state-p
output_dir: @WORK@/out-p
http01_listen: "127.0.0.1:@HTTP01_PORT@"
accounts:
  viaproxy:
    directory: $PROXY_DIR_URL
    contact: mailto:it@example.com
    ca_bundle: $PROXY_CA
    eab: {kid: @EAB_KID2@, hmac_key_file: @EAB_KEY_FILE2@}
certificates:
  - name: prof
    domains: [prof.example.com]
    profile: tlsclient
YAML
timeout 150 "$CERTFLEETD" --once -c "$WORK/p.yaml" > "$WORK/prof.log" 2>&1
[ $? != 0 ] && pass "the run fails" || fail "the run succeeded despite invalidProfile"
assert_contains "$WORK/prof.log" "prof: the CA refused profile 'tlsclient' for this order: invalidProfile: " \
  "invalidProfile is reported naming the certificate and the profile"
assert_eq 1 "$(grep -c "refused profile" "$WORK/prof.log")" "not retried within the run"
assert_eq "urn:ietf:params:acme:error:invalidProfile" \
  "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["last_problem"]["type"])' "$WORK/state-p/certs/prof/state.json")" \
  "the problem document is kept for status"

assert_not_contains "$WORK/driver.log" "BEGIN .*PRIVATE KEY" "no key material in the logs"
finish
