#!/bin/bash
# Issuance end to end against Pebble (EAB required, http-01 validated for real,
# badNonce injection at Pebble's default): both responder modes, EC and RSA
# keys, the account reused across runs, a run with nothing due that sends no
# newAccount and no newOrder, names changed in the inventory, deploy hook
# environment, a failing hook, and account URL recovery with onlyReturnExisting.
. "$(dirname "$0")/lib.sh"
setup

cat > "$WORK/hook" <<'SH'
#!/bin/sh
env | grep -E '^(RENEWED_|CERTFLEET_)' | sort > "$HOOK_OUT/$CERTFLEET_NAME.env"
SH
chmod +x "$WORK/hook"
export HOOK_OUT=$WORK

inventory "$WORK/a.yaml" <<'YAML'
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
  - name: web-ec
    domains: [www.example.com, example.com]
  - name: web-rsa
    domains: [rsa.example.com]
    key_type: rsa-2048
    deploy_hook: [/bin/false]
YAML

echo "== first run: standalone responder"
"$CERTFLEETD" --once -v -c "$WORK/a.yaml" > "$WORK/run1.log" 2>&1
assert_eq 0 $? "first --once exits 0"
verify_live "$WORK/out" web-ec
verify_live "$WORK/out" web-rsa
assert_eq "example.com www.example.com" "$(sans "$WORK/out/live/web-ec/cert.pem")" "web-ec covers exactly its names"
assert_eq "rsa.example.com" "$(sans "$WORK/out/live/web-rsa/cert.pem")" "web-rsa covers exactly its name"
assert_contains <(openssl pkey -in "$WORK/out/live/web-rsa/privkey.pem" -noout -text) "Private-Key: \(2048 bit" "web-rsa key is RSA 2048"
assert_contains <(openssl pkey -in "$WORK/out/live/web-ec/privkey.pem" -noout -text) "prime256v1|P-256" "web-ec key is P-256"
assert_eq 600 "$(stat -c %a "$WORK/out/archive/web-ec/privkey1.pem")" "private key mode 0600"
assert_eq "../archive/web-ec/.live1" "$(readlink "$WORK/out/live/web-ec")" "live/web-ec points at version 1"
assert_eq 1 "$(count new-account)" "one newAccount"
assert_eq 2 "$(count new-order)" "two newOrders"
assert_contains "$WORK/web-ec.env" "^RENEWED_LINEAGE=$WORK/out/live/web-ec$" "hook gets RENEWED_LINEAGE"
assert_contains "$WORK/web-ec.env" "^RENEWED_DOMAINS=www.example.com example.com$" "hook gets RENEWED_DOMAINS"
serial=$(openssl x509 -in "$WORK/out/live/web-ec/cert.pem" -noout -serial | cut -d= -f2)
assert_contains "$WORK/web-ec.env" "^CERTFLEET_SERIAL=0*${serial#0}$" "hook gets CERTFLEET_SERIAL"
assert_contains "$WORK/web-ec.env" "^CERTFLEET_FULLCHAIN=$WORK/out/live/web-ec/fullchain.pem$" "hook gets CERTFLEET_FULLCHAIN"
assert_contains "$WORK/web-ec.env" "^CERTFLEET_NOT_AFTER=20[0-9-]+T" "hook gets CERTFLEET_NOT_AFTER"
assert_contains "$WORK/run1.log" "web-rsa: deploy hook exited with status 1" "failing hook logged"
assert_file "$WORK/out/live/web-rsa/fullchain.pem" "failing hook leaves the certificate installed"
assert_not_contains "$WORK/run1.log" "BEGIN .*PRIVATE KEY|$(cat "$EAB_KEY_FILE")" "no key material in the log"
echo "   (badNonce retries in run 1: $(grep -c 'badNonce on' "$WORK/run1.log"))"

echo "== second run, webroot mode, same account"
mkdir -p "$WORK/www"
python3 -m http.server --bind 127.0.0.1 "$HTTP01_PORT" --directory "$WORK/www" \
  > "$WORK/www.log" 2>&1 &
echo $! > "$WORK/www.pid"
wait_for "curl -s -o /dev/null http://127.0.0.1:$HTTP01_PORT/" 10 || fail "webroot server did not start"
inventory "$WORK/b.yaml" <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
  - name: web-root
    domains: [static.example.com]
    key_type: ec-p384
    challenge: {types: [http-01], http01: webroot, webroot: @WORK@/www}
YAML
"$CERTFLEETD" --once -c "$WORK/b.yaml" > "$WORK/run2.log" 2>&1
assert_eq 0 $? "webroot --once exits 0"
verify_live "$WORK/out" web-root
assert_contains "$WORK/www.log" "GET /.well-known/acme-challenge/" "Pebble fetched the token from the webroot"
assert_eq "" "$(ls -A "$WORK/www/.well-known/acme-challenge")" "token files removed afterwards"
assert_eq 1 "$(count new-account)" "account reused: still one newAccount"
kill "$(cat "$WORK/www.pid")"; rm -f "$WORK/www.pid"

echo "== third run: nothing due"
orders=$(count new-order)
"$CERTFLEETD" --once -c "$WORK/a.yaml" > "$WORK/run3.log" 2>&1
assert_eq 0 $? "nothing-due --once exits 0"
assert_eq 1 "$(count new-account)" "no newAccount when nothing is due"
assert_eq "$orders" "$(count new-order)" "no newOrder when nothing is due"
assert_eq "../archive/web-ec/.live1" "$(readlink "$WORK/out/live/web-ec")" "nothing re-installed"

echo "== names changed in the inventory: re-issued"
sed -i 's/domains: \[www.example.com, example.com\]/domains: [www.example.com, example.com, new.example.com]/' "$WORK/a.yaml"
"$CERTFLEETD" --once -c "$WORK/a.yaml" > "$WORK/run4.log" 2>&1
assert_eq 0 $? "re-issue exits 0"
assert_eq "../archive/web-ec/.live2" "$(readlink "$WORK/out/live/web-ec")" "web-ec switched to version 2"
assert_eq "example.com new.example.com www.example.com" "$(sans "$WORK/out/live/web-ec/cert.pem")" "new name covered"
assert_eq "../archive/web-rsa/.live1" "$(readlink "$WORK/out/live/web-rsa")" "unchanged web-rsa left alone"
verify_live "$WORK/out" web-ec

echo "== account URL lost: recovered with onlyReturnExisting"
url=$(sed -n 's/.*"url": *"\([^"]*\)".*/\1/p' "$WORK/state/accounts/pebble/account.json")
rm "$WORK/state/accounts/pebble/account.json"
sed -i 's/key_type: rsa-2048/key_type: rsa-3072/' "$WORK/a.yaml"
"$CERTFLEETD" --once -c "$WORK/a.yaml" > "$WORK/run5.log" 2>&1
assert_eq 0 $? "run with a lost account URL exits 0"
assert_contains "$WORK/run5.log" "found existing account $url" "same account found again"
assert_contains <(openssl pkey -in "$WORK/out/live/web-rsa/privkey.pem" -noout -text) "Private-Key: \(3072 bit" "key type change re-issued as RSA 3072"

echo "== one daemon per state directory"
flock "$WORK/state/lock" sleep 5 &
sleep 0.3
"$CERTFLEETD" --once -c "$WORK/a.yaml" > "$WORK/run6.log" 2>&1
assert_eq 69 $? "second daemon refused (exit 69)"
assert_contains "$WORK/run6.log" "state directory $WORK/state is in use by another certfleetd" "clear lock message"
wait

finish
