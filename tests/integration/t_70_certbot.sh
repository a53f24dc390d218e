#!/bin/bash
# Migrating from certbot, end to end with the real certbot and nginx (Debian
# packages certbot and nginx-light): certbot registers with EAB and issues
# two certificates from this test's Pebble (webroot; one RSA, one ECDSA) into
# a certbot config dir under $WORK; nginx serves both from live/NAME/;
# `certfleetctl import-certbot --write` makes the inventory; a first
# `certfleetd --once` adopts both lineages without ordering; `--once --force`
# renews both through certbot's own account (no account created in Pebble),
# converts live/NAME to certfleet's layout, runs certbot's deploy hook (which
# reloads nginx) and its renewal-hooks/post script; nginx then serves the new
# serials.  Everything on 127.0.0.1.
. "$(dirname "$0")/lib.sh"

for p in certbot nginx; do
  command -v "$p" >/dev/null || { echo "t_70_certbot.sh: $p is not installed (apt-get install certbot nginx-light)"; exit 1; }
done
# certbot retries a rejected nonce once only; at Pebble's 5 % a second
# rejection in a row fails its run now and then (CI saw it).  This test is
# about the migration, not certbot's badNonce handling, which t_80 covers
# for certfleet.
export PEBBLE_WFE_NONCEREJECT=0
setup

CB=$WORK/letsencrypt
NG=$WORK/nginx
mkdir -p "$WORK/www" "$CB/renewal-hooks/post" "$NG"

# The webroot both certbot and certfleet write tokens into, served where
# Pebble validates http-01.
python3 -m http.server --bind 127.0.0.1 "$HTTP01_PORT" --directory "$WORK/www" \
  > "$WORK/www.log" 2>&1 &
echo $! > "$WORK/www.pid"
wait_for "curl -s -o /dev/null http://127.0.0.1:$HTTP01_PORT/" 10 || fail "webroot server did not start"

# A free loopback port for nginx's TLS listener.
NGINX_PORT=18443
while _port_used "$NGINX_PORT"; do NGINX_PORT=$((NGINX_PORT + 1)); done

ngx() { nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" -g "pid $WORK/nginx.pid;" "$@"; }
# certbot's deploy hook: reloads nginx when it runs and records the call.
cat > "$WORK/reload-nginx" <<SH
#!/bin/sh
echo "\$RENEWED_LINEAGE" >> "$WORK/deploy-hook.log"
[ -s "$WORK/nginx.pid" ] || exit 0
exec nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/error.log" -g "pid $WORK/nginx.pid;" -s reload
SH
chmod +x "$WORK/reload-nginx"
# A renewal-hooks/post script, which certbot runs after renewals.
cat > "$CB/renewal-hooks/post/50-mark" <<SH
#!/bin/sh
date >> "$WORK/post-hook.log"
SH
chmod +x "$CB/renewal-hooks/post/50-mark"

echo "== certbot issues two certificates from Pebble"
export REQUESTS_CA_BUNDLE=$PEBBLE_CA
cb() {
  certbot --config-dir "$CB" --work-dir "$WORK/certbot-work" --logs-dir "$WORK/certbot-logs" \
    --server "$PEBBLE_DIR_URL" --non-interactive --agree-tos -m it@example.com "$@"
}
cb register --eab-kid "$EAB_KID" --eab-hmac-key "$(cat "$EAB_KEY_FILE")" > "$WORK/certbot-register.log" 2>&1
assert_eq 0 $? "certbot registers with EAB"
cb certonly --webroot -w "$WORK/www" --cert-name rsa-site -d rsa.example.com \
  --key-type rsa --rsa-key-size 2048 --deploy-hook "$WORK/reload-nginx" > "$WORK/certbot-1.log" 2>&1
assert_eq 0 $? "certbot issues the RSA certificate"
cb certonly --webroot -w "$WORK/www" --cert-name ec-site -d ec.example.com -d www.ec.example.com \
  --key-type ecdsa --elliptic-curve secp256r1 --deploy-hook "$WORK/reload-nginx" > "$WORK/certbot-2.log" 2>&1
assert_eq 0 $? "certbot issues the ECDSA certificate"
assert_eq "../../archive/rsa-site/cert1.pem" "$(readlink "$CB/live/rsa-site/cert.pem")" "certbot's live/rsa-site is its directory of links"
accounts=$(count new-account)
orders=$(count new-order)
assert_eq 1 "$accounts" "certbot made one account"
assert_eq 2 "$orders" "certbot made two orders"

serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
# served NAME: the serial nginx presents for NAME.
served() {
  openssl s_client -connect "127.0.0.1:$NGINX_PORT" -servername "$1" < /dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}

echo "== nginx serves both from live/"
cat > "$NG/nginx.conf" <<CONF
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $NG/body;
  proxy_temp_path $NG/proxy;
  fastcgi_temp_path $NG/fastcgi;
  uwsgi_temp_path $NG/uwsgi;
  scgi_temp_path $NG/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    server_name rsa.example.com;
    ssl_certificate $CB/live/rsa-site/fullchain.pem;
    ssl_certificate_key $CB/live/rsa-site/privkey.pem;
    return 200 "rsa\n";
  }
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    server_name ec.example.com;
    ssl_certificate $CB/live/ec-site/fullchain.pem;
    ssl_certificate_key $CB/live/ec-site/privkey.pem;
    return 200 "ec\n";
  }
}
CONF
ngx > "$WORK/nginx-start.log" 2>&1
assert_eq 0 $? "nginx starts (port $NGINX_PORT)"
wait_for "[ -s '$WORK/nginx.pid' ] && [ -n \"\$(served rsa.example.com)\" ]" 10 || fail "nginx does not answer"
rsa1=$(serial "$CB/live/rsa-site/cert.pem")
ec1=$(serial "$CB/live/ec-site/cert.pem")
assert_eq "$rsa1" "$(served rsa.example.com)" "nginx serves certbot's RSA certificate"
assert_eq "$ec1" "$(served ec.example.com)" "nginx serves certbot's ECDSA certificate"

echo "== import-certbot"
"$CERTFLEETCTL" import-certbot --config-dir "$CB" > "$WORK/printed.yaml" 2> "$WORK/import.err"
assert_eq 0 $? "import-certbot prints an inventory"
"$CERTFLEETCTL" import-certbot --config-dir "$CB" --write "$WORK/inv.yaml" > "$WORK/import.out" 2>&1
assert_eq 0 $? "import-certbot --write exits 0"
assert_contains "$WORK/import.out" "2 certificates, 1 account" "it reports what it wrote"
assert_eq 600 "$(stat -c %a "$WORK/inv.yaml")" "the inventory is written 0600"
assert_eq "" "$(diff "$WORK/printed.yaml" "$WORK/inv.yaml")" "printed and written inventories are the same"
"$CERTFLEETCTL" import-certbot --config-dir "$CB" --write "$WORK/inv.yaml" > "$WORK/import2.out" 2>&1
assert_eq 1 $? "a second --write is refused"
assert_contains "$WORK/import2.out" "inv.yaml exists; not overwritten" "it says the file exists"
assert_contains "$WORK/inv.yaml" "certbot_account: \"$CB/accounts/127.0.0.1:$PEBBLE_PORT/dir/[0-9a-f]+\"" "the account points at certbot's"
assert_contains "$WORK/inv.yaml" "key_type: rsa-2048" "RSA 2048 mapped"
assert_contains "$WORK/inv.yaml" "key_type: ec-p256" "ECDSA P-256 mapped"
assert_contains "$WORK/inv.yaml" "domains: \[\"ec.example.com\", \"www.ec.example.com\"\]" "names read from the certificate"
assert_contains "$WORK/inv.yaml" "webroot: \"$WORK/www\"" "webroot mapped"
assert_contains "$WORK/inv.yaml" "deploy_hook: \[\"/bin/sh\", \"-c\", \"$WORK/reload-nginx\"\]" "deploy hook mapped"
assert_contains "$WORK/inv.yaml" "^post_hook: .*renewal-hooks/post" "renewal-hooks/post mapped"
assert_contains "$WORK/inv.yaml" "ca_bundle: \"$PEBBLE_CA\"" "REQUESTS_CA_BUNDLE becomes ca_bundle"
printf 'state_dir: %s\n' "$WORK/state" >> "$WORK/inv.yaml"
"$CERTFLEETD" --check -c "$WORK/inv.yaml" > "$WORK/check.log" 2>&1
assert_eq 0 $? "the inventory passes --check"

echo "== first run: both lineages adopted, nothing ordered"
"$CERTFLEETD" --once -c "$WORK/inv.yaml" > "$WORK/run1.log" 2>&1
assert_eq 0 $? "--once exits 0"
assert_contains "$WORK/run1.log" "rsa-site: adopted the certbot lineage $CB/live/rsa-site as version 1" "rsa-site adopted as version 1"
assert_contains "$WORK/run1.log" "ec-site: adopted the certbot lineage $CB/live/ec-site as version 1" "ec-site adopted as version 1"
assert_contains "$WORK/run1.log" "rsa-site: not due" "an adopted lineage that is not due is not renewed"
assert_eq "$orders" "$(count new-order)" "no newOrder"
assert_file "$CB/renewal/rsa-site.conf.certfleet" "certbot's renewal/rsa-site.conf retired"
assert_eq "" "$(ls "$CB/renewal/"*.conf 2>/dev/null)" "certbot has nothing left to renew"
assert_eq "../../archive/rsa-site/cert1.pem" "$(readlink "$CB/live/rsa-site/cert.pem")" "live/ left as certbot made it until the renewal"
assert_contains "$WORK/state/certs/rsa-site/state.json" "\"serial\":[[:space:]]*\"0*${rsa1#0}\"" "the store knows the adopted serial"

echo "== --once --force: renewed through certbot's account"
: > "$WORK/deploy-hook.log"
rm -f "$WORK/post-hook.log"
"$CERTFLEETD" --once --force -v -c "$WORK/inv.yaml" > "$WORK/run2.log" 2>&1
assert_eq 0 $? "--once --force exits 0"
assert_contains "$WORK/run2.log" "adopted certbot's account https://127.0.0.1:$PEBBLE_PORT/my-account/" "certbot's account adopted"
assert_contains "$WORK/run2.log" "found existing account https://127.0.0.1:$PEBBLE_PORT/my-account/" "verified with onlyReturnExisting"
assert_eq "$accounts" "$(count new-account)" "no account created in Pebble"
assert_eq $((orders + 2)) "$(count new-order)" "two new orders"
assert_eq 600 "$(stat -c %a "$WORK/state/accounts/certbot-"*/key.pem)" "the adopted key is stored 0600"
assert_eq "../archive/rsa-site/.live2" "$(readlink "$CB/live/rsa-site")" "live/rsa-site is now certfleet's link to version 2"
assert_eq "../archive/ec-site/.live2" "$(readlink "$CB/live/ec-site")" "live/ec-site is now certfleet's link to version 2"
assert_file "$CB/archive/rsa-site/cert1.pem" "certbot's version 1 is kept"
assert_eq "" "$(ls -A "$CB/live" | grep '^\.')" "no temporary names left in live/"
verify_live "$CB" rsa-site
verify_live "$CB" ec-site
assert_contains <(openssl pkey -in "$CB/live/rsa-site/privkey.pem" -noout -text) "Private-Key: \(2048 bit" "rsa-site stays RSA 2048"
assert_contains <(openssl pkey -in "$CB/live/ec-site/privkey.pem" -noout -text) "prime256v1|P-256" "ec-site stays P-256"
rsa2=$(serial "$CB/live/rsa-site/fullchain.pem")
ec2=$(serial "$CB/live/ec-site/fullchain.pem")
[ "$rsa2" != "$rsa1" ] && pass "rsa-site has a new serial" || fail "rsa-site serial unchanged"
[ "$ec2" != "$ec1" ] && pass "ec-site has a new serial" || fail "ec-site serial unchanged"
assert_eq 2 "$(grep -c . "$WORK/deploy-hook.log")" "certbot's deploy hook ran for both"
assert_contains "$WORK/deploy-hook.log" "^$CB/live/rsa-site$" "with RENEWED_LINEAGE"
assert_file "$WORK/post-hook.log" "renewal-hooks/post ran"
wait_for "[ \"\$(served rsa.example.com)\" = '$rsa2' ] && [ \"\$(served ec.example.com)\" = '$ec2' ]" 10
assert_eq "$rsa2" "$(served rsa.example.com)" "nginx serves the renewed RSA certificate"
assert_eq "$ec2" "$(served ec.example.com)" "nginx serves the renewed ECDSA certificate"
assert_not_contains "$NG/error.log" "emerg|\[crit\]" "nginx reloaded without errors"

echo "== the next run renews nothing"
"$CERTFLEETD" --once -c "$WORK/inv.yaml" > "$WORK/run3.log" 2>&1
assert_eq 0 $? "--once exits 0"
assert_eq $((orders + 2)) "$(count new-order)" "no newOrder"
assert_eq "$accounts" "$(count new-account)" "still no account created"

echo "== an adopted account the CA does not know is not replaced by a new registration"
acct_dir=$(sed -n 's/^ *certbot_account: "\(.*\)"$/\1/p' "$WORK/inv.yaml")
cp -a "$acct_dir" "$WORK/unknown-account"
cp "$TOP/tests/data/crypto/jwk-rsa2048.json" "$WORK/unknown-account/private_key.json"
sed -e "s|certbot_account: \".*\"|certbot_account: \"$WORK/unknown-account\"|" \
    -e "s|^state_dir: .*|state_dir: $WORK/state-unknown|" "$WORK/inv.yaml" > "$WORK/inv-unknown.yaml"
chmod 600 "$WORK/inv-unknown.yaml"
"$CERTFLEETD" --once --force -c "$WORK/inv-unknown.yaml" > "$WORK/run4.log" 2>&1
assert_eq 1 $? "--once fails"
assert_contains "$WORK/run4.log" "the account adopted from certbot \($WORK/unknown-account\) is not known to $PEBBLE_DIR_URL" "it says the CA does not know the account"
assert_eq "$accounts" "$(count new-account)" "no account created in Pebble"
assert_eq $((orders + 2)) "$(count new-order)" "and no order"

finish
