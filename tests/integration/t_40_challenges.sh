#!/bin/bash
# Every challenge type against Pebble: dns-01 through a hook that drives
# pebble-challtestsrv's management API, with the propagation check pointed
# at challtestsrv's DNS (dns_resolver); a wildcard certificate (*.NAME and
# NAME share one TXT name with two values); tls-alpn-01 validated by Pebble
# on its tlsPort against certfleet's responder; preference lists picking
# the first offered type; a failing dns hook (reported, remove still
# called); a propagation timeout; an invalid authorization naming the type
# tried and the CA's problem; and contrib/hooks/dns-nsupdate's updates.
. "$(dirname "$0")/lib.sh"
setup

export HOOK_DIR=$WORK/hook
mkdir -p "$HOOK_DIR"
# The test hook keeps the values of each name in a file, so "remove"
# deletes only its own value as the contract asks: challtestsrv can only
# clear a whole name, so the others are put back.
cat > "$WORK/dns-hook" <<'SH'
#!/bin/sh
set -eu
echo "$1 $2 $3 domain=$CERTFLEET_DOMAIN cert=$CERTFLEET_NAME" >> "$HOOK_DIR/calls"
[ "$1" = add ] && [ -n "${HOOK_FAIL_ADD:-}" ] && { echo "simulated DNS API failure"; exit 7; }
[ "$1" = add ] && [ -n "${HOOK_SKIP_ADD:-}" ] && exit 0
exec 9> "$HOOK_DIR/lock"
flock 9
state="$HOOK_DIR/txt-$2"
touch "$state"
set_txt() {
  curl --noproxy '*' -sSf -o /dev/null -d "{\"host\":\"$1\",\"value\":\"$2\"}" "$CTS_URL/set-txt"
}
case $1 in
  add)
    echo "$3" >> "$state"
    set_txt "$2" "$3" ;;
  remove)
    grep -vxF -- "$3" "$state" > "$state.new" || true
    mv "$state.new" "$state"
    curl --noproxy '*' -sSf -o /dev/null -d "{\"host\":\"$2\"}" "$CTS_URL/clear-txt"
    while read -r v; do set_txt "$2" "$v"; done < "$state" ;;
esac
SH
chmod +x "$WORK/dns-hook"

echo "== dns-01, a wildcard, tls-alpn-01 and preference lists in one run"
inventory "$WORK/a.yaml" <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
http01_listen: "127.0.0.1:@HTTP01_PORT@"
tlsalpn01_listen: "127.0.0.1:@TLSALPN_PORT@"
dns_resolver: "127.0.0.1:@DNS_PORT@"
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
defaults:
  challenge: {dns01_hook: @WORK@/dns-hook}
certificates:
  - name: dns
    domains: [dns.example.com]
    challenge: dns-01
  - name: wild
    domains: ["*.wild.example.com", wild.example.com]
    challenge: dns-01
  - name: alpn
    domains: [alpn.example.com]
    challenge: tls-alpn-01
  - name: pref-alpn
    domains: [pref-alpn.example.com]
    challenge: [tls-alpn-01, http-01]
  - name: pref-http
    domains: [pref-http.example.com]
    challenge: [http-01, tls-alpn-01, dns-01]
YAML
sed -i "s|@DNS_PORT@|$DNS_PORT|" "$WORK/a.yaml"
"$CERTFLEETD" --once -v -c "$WORK/a.yaml" > "$WORK/run1.log" 2>&1
assert_eq 0 $? "first --once exits 0"
for c in dns wild alpn pref-alpn pref-http; do
  verify_live "$WORK/out" "$c"
done
assert_eq "*.wild.example.com wild.example.com" "$(sans "$WORK/out/live/wild/cert.pem")" \
  "wildcard certificate covers *.NAME and NAME"
assert_contains "$WORK/run1.log" "tls-alpn-01 responder listening on 127.0.0.1:$TLSALPN_PORT" \
  "tls-alpn-01 responder on Pebble's tlsPort"
assert_contains "$WORK/run1.log" "alpn: solving tls-alpn-01 for alpn.example.com" "alpn solved by tls-alpn-01"
assert_contains "$WORK/run1.log" "alpn: tls-alpn-01 validated for alpn.example.com" "Pebble validated tls-alpn-01"
assert_contains "$WORK/run1.log" "pref-alpn: solving tls-alpn-01 for pref-alpn.example.com" \
  "[tls-alpn-01, http-01] picks tls-alpn-01"
assert_contains "$WORK/run1.log" "pref-http: solving http-01 for pref-http.example.com" \
  "[http-01, tls-alpn-01, dns-01] picks http-01"
assert_contains "$WORK/run1.log" "wild: solving dns-01 for \*\.wild\.example\.com" "wildcard solved by dns-01"
assert_contains "$WORK/run1.log" "wild: dns-01 validated for \*\.wild\.example\.com" "wildcard validated by dns-01"
assert_contains "$WORK/run1.log" "dns: dns-01 record _acme-challenge.dns.example.com. visible on 127.0.0.1:$DNS_PORT" \
  "propagation checked at challtestsrv"
assert_contains "$WORK/run1.log" "dns: dns-01 validated for dns.example.com" "Pebble validated dns-01"
calls=$HOOK_DIR/calls
assert_eq 1 "$(grep -c '^add _acme-challenge.dns.example.com. [A-Za-z0-9_-]\{43\} domain=dns.example.com cert=dns$' "$calls")" \
  "hook add called with argv record and value"
wild_adds=$(grep -c '^add _acme-challenge.wild.example.com. ' "$calls")
assert_eq 2 "$wild_adds" "wildcard and base name: two values for one record name"
assert_eq 2 "$(grep '^add _acme-challenge.wild.example.com. ' "$calls" | cut -d' ' -f3 | sort -u | wc -l)" \
  "the two wildcard values differ"
assert_contains "$calls" "^add _acme-challenge.wild.example.com. .* domain=\*\.wild\.example\.com cert=wild$" \
  "CERTFLEET_DOMAIN keeps the wildcard"
# every add has its remove with the same record and value
missing=0
while read -r _ rec val _; do
  grep -qF "remove $rec $val " "$calls" || missing=$((missing + 1))
done < <(grep '^add ' "$calls")
assert_eq 0 "$missing" "every added value removed afterwards"
assert_eq "$(grep -c '^add ' "$calls")" "$(grep -c '^remove ' "$calls")" "as many removes as adds"
assert_eq "" "$(cat "$HOOK_DIR"/txt-* 2>/dev/null)" "no TXT value left at challtestsrv"
assert_not_contains "$WORK/run1.log" "may be left behind" "no record left behind"

echo "== failing dns hook: reported with the type tried, remove still called"
inventory "$WORK/b.yaml" <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
dns_resolver: "127.0.0.1:@DNS_PORT@"
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
  - name: hookfail
    domains: [hookfail.example.com]
    challenge: {types: [dns-01], dns01_hook: @WORK@/dns-hook}
YAML
sed -i "s|@DNS_PORT@|$DNS_PORT|" "$WORK/b.yaml"
: > "$calls"
HOOK_FAIL_ADD=1 "$CERTFLEETD" --once -v -c "$WORK/b.yaml" > "$WORK/run2.log" 2>&1
assert_eq 1 $? "failing hook: --once exits 1"
assert_contains "$WORK/run2.log" "hookfail: authorization for hookfail.example.com: dns-01 hook $WORK/dns-hook add _acme-challenge.hookfail.example.com. exited with status 7 \(challenge tried: dns-01\)" \
  "failure names the hook, the record, the status and the type"
assert_contains "$WORK/run2.log" "simulated DNS API failure" "hook output logged"
assert_contains "$calls" "^remove _acme-challenge.hookfail.example.com. " "remove called after the failed add"
assert_not_contains "$WORK/run2.log" "may be left behind" "removal finished before exit"

echo "== propagation timeout"
sed -i 's/^dns_resolver:.*/&\ntimeouts: {dns_propagation: 3s}/; s/hookfail/slow/g' "$WORK/b.yaml"
: > "$calls"
challenges=$(count challenge)
HOOK_SKIP_ADD=1 "$CERTFLEETD" --once -v -c "$WORK/b.yaml" > "$WORK/run3.log" 2>&1
assert_eq 1 $? "propagation timeout: --once exits 1"
assert_contains "$WORK/run3.log" "slow: authorization for slow.example.com: dns-01 record _acme-challenge.slow.example.com. \(value [A-Za-z0-9_-]{43}\) not visible after 3s \(dns_propagation timeout\): 127.0.0.1:$DNS_PORT: " \
  "timeout names the record and the server that lacks it"
assert_contains "$calls" "^remove _acme-challenge.slow.example.com. " "remove called after the timeout"
assert_eq "$challenges" "$(count challenge)" "no challenge POSTed without propagation"

echo "== invalid authorization: the type tried and the CA's problem"
mkdir -p "$WORK/www"
inventory "$WORK/c.yaml" <<'YAML'
state_dir: @WORK@/state
output_dir: @WORK@/out
accounts:
  pebble:
    directory: @DIR_URL@
    contact: mailto:it@example.com
    ca_bundle: @CA@
    eab: {kid: @EAB_KID@, hmac_key_file: @EAB_KEY_FILE@}
certificates:
  - name: nobody
    domains: [nobody.example.com]
    challenge: {types: [http-01], webroot: @WORK@/www}
YAML
"$CERTFLEETD" --once -v -c "$WORK/c.yaml" > "$WORK/run4.log" 2>&1
assert_eq 1 $? "invalid authorization: --once exits 1"
assert_contains "$WORK/run4.log" "nobody: authorization for nobody.example.com is invalid \(challenge tried: http-01\): connection: .*connection refused" \
  "failure names the type tried and the CA's problem"

echo "== wildcard without dns-01 refused by the configuration"
sed -e 's/nobody.example.com\]/nobody.example.com, "*.nobody.example.com"]/' \
    -e 's/types: \[http-01\]/types: [tls-alpn-01, http-01]/' "$WORK/c.yaml" > "$WORK/d.yaml"
chmod 600 "$WORK/d.yaml"
"$CERTFLEETD" --once -c "$WORK/d.yaml" > "$WORK/run5.log" 2>&1
assert_eq 78 $? "wildcard with [tls-alpn-01, http-01]: configuration error"
assert_contains "$WORK/run5.log" "certificates\[0\].domains\[1\]: wildcard name \*.nobody.example.com requires dns-01 among the challenge types" \
  "clear wildcard message"

echo "== contrib/hooks/dns-nsupdate"
hookbin=$TOP/contrib/hooks/dns-nsupdate
cat > "$WORK/fake-nsupdate" <<'SH'
#!/bin/sh
echo "args: $*" > "$HOOK_DIR/nsupdate.$$"
cat >> "$HOOK_DIR/nsupdate.$$"
mv "$HOOK_DIR/nsupdate.$$" "$HOOK_DIR/nsupdate.out"
SH
chmod +x "$WORK/fake-nsupdate"
echo 'key "certfleet" { algorithm hmac-sha256; secret "c2VjcmV0"; };' > "$WORK/tsig.key"
printf 'NSUPDATE_SERVER=192.0.2.53\nNSUPDATE_TTL=120\n' > "$WORK/nsupdate.conf"
export DNS_NSUPDATE_CONF=$WORK/nsupdate.conf NSUPDATE_KEY=$WORK/tsig.key NSUPDATE_BIN=$WORK/fake-nsupdate
"$hookbin" add _acme-challenge.www.example.com. abc-DEF_123
assert_eq 0 $? "dns-nsupdate add exits 0"
assert_eq "args: -k $WORK/tsig.key -t 30
server 192.0.2.53 53
update add _acme-challenge.www.example.com. 120 IN TXT \"abc-DEF_123\"
send" "$(cat "$HOOK_DIR/nsupdate.out")" "dns-nsupdate add sends an RFC 2136 add"
NSUPDATE_ZONE=example.com NSUPDATE_PORT=5353 "$hookbin" remove _acme-challenge.www.example.com abc-DEF_123
assert_eq 0 $? "dns-nsupdate remove exits 0"
assert_eq "args: -k $WORK/tsig.key -t 30
server 192.0.2.53 5353
zone example.com
update delete _acme-challenge.www.example.com. IN TXT \"abc-DEF_123\"
send" "$(cat "$HOOK_DIR/nsupdate.out")" "dns-nsupdate remove deletes only that value"
rm -f "$HOOK_DIR/nsupdate.out"
"$hookbin" add _acme-challenge.www.example.com. 'x" ; update delete example.com' > "$WORK/ns.err" 2>&1
assert_eq 2 $? "dns-nsupdate refuses a value that is not base64url"
assert_contains "$WORK/ns.err" "bad TXT value" "bad value named"
[ -e "$HOOK_DIR/nsupdate.out" ] && fail "nsupdate ran for a bad value" || pass "nsupdate not run for a bad value"
NSUPDATE_KEY=$WORK/missing.key "$hookbin" add _acme-challenge.www.example.com. abc > "$WORK/ns.err" 2>&1
assert_eq 2 $? "dns-nsupdate without a readable key exits 2"
assert_contains "$WORK/ns.err" "cannot read the TSIG key file $WORK/missing.key" "missing key named"

finish
