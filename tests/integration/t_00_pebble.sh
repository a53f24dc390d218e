#!/bin/bash
# Smoke test of the harness itself, before any certfleet test relies on it:
# Pebble starts on loopback with EAB required, its directory is served over
# TLS that verifies against the CA pebble-ctl made, pebble-ctl count sees
# requests, roots can be fetched, and stop leaves no process behind.
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
setup

curl_pebble() { curl --noproxy '*' -sS --max-time 10 --cacert "$PEBBLE_CA" "$@"; }

echo "== directory"
curl_pebble -f -o "$WORK/dir.json" "$PEBBLE_DIR_URL"
assert_eq 0 $? "directory answers over TLS verified with PEBBLE_CA"
dir_field() { # python3 -c: one field of the directory, "" when absent
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d.get(k, "") if isinstance(d, dict) else ""
print(json.dumps(d) if isinstance(d, bool) else d)' "$WORK/dir.json" "$1" 2>/dev/null
}
assert_eq "https://127.0.0.1:$PEBBLE_PORT/sign-me-up" "$(dir_field newAccount)" "directory has newAccount"
assert_eq "true" "$(dir_field meta.externalAccountRequired)" "meta.externalAccountRequired is true"
nonce_url=$(dir_field newNonce)
case $nonce_url in https://127.0.0.1:*) pass "directory has newNonce on loopback" ;; *) fail "newNonce is '$nonce_url'" ;; esac

echo "== EAB keys"
assert_eq 600 "$(stat -c %a "$EAB_KEY_FILE")" "EAB key file mode 0600"
assert_eq 1 "$(grep -cE '^[A-Za-z0-9_-]{43,}$' "$EAB_KEY_FILE")" "EAB key is unpadded base64url of 32+ bytes"
assert_contains "$WORK/pebble/pebble.json" "\"$EAB_KID\": \"$(cat "$EAB_KEY_FILE")\"" "Pebble configured with $EAB_KID's key"

echo "== pebble-ctl count"
before=$(count newNonce)
curl_pebble -f -I -o /dev/null "$nonce_url"
assert_eq $((before + 1)) "$(count newNonce)" "HEAD newNonce counted once"
assert_eq $((before + 1)) "$(count /nonce-plz)" "same count by route"
hdr=$(curl_pebble -f -I "$nonce_url" | tr -d '\r' | grep -ci '^replay-nonce: ')
assert_eq 1 "$hdr" "newNonce returns a Replay-Nonce"
assert_eq 0 "$(count new-account)" "no account created yet"
assert_eq 0 "$(count newOrder)" "no newOrder request yet"

echo "== roots"
"$PEBBLE_CTL" roots "$WORK/pebble"
assert_eq 0 $? "pebble-ctl roots"
assert_contains "$WORK/pebble/roots.pem" "BEGIN CERTIFICATE" "roots.pem holds a certificate"
if openssl verify -CAfile "$WORK/pebble/roots.pem" "$WORK/pebble/intermediates.pem" >/dev/null 2>&1; then
  pass "intermediate verifies against the root"
else
  fail "intermediate does not verify against roots.pem"
fi

echo "== mock DNS answers with loopback"
if python3 - "$DNS_PORT" > "$WORK/dns.out" 2>&1 <<'PY'
import socket, struct, sys
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in "www.example.com".split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
r = s.recv(512)
if struct.unpack(">H", r[6:8])[0] == 0:
    sys.exit("no answer record")
# first answer right after the question: owner name (labels or a pointer),
# type, class, TTL, RDLENGTH, then the address
a = len(q)
while r[a] != 0 and r[a] & 0xC0 != 0xC0:
    a += 1 + r[a]
a += 2 if r[a] else 1
rtype, rdlen = struct.unpack(">H", r[a:a + 2])[0], struct.unpack(">H", r[a + 8:a + 10])[0]
if rtype != 1 or rdlen != 4:
    sys.exit("unexpected answer %r" % r[a:])
print(".".join(str(b) for b in r[a + 10:a + 14]))
PY
then
  assert_eq 127.0.0.1 "$(cat "$WORK/dns.out")" "www.example.com resolves to 127.0.0.1"
else
  fail "DNS query failed: $(cat "$WORK/dns.out")"
fi

echo "== stop leaves nothing behind"
pids="$(cat "$WORK/pebble/pebble.pid") $(cat "$WORK/pebble/challtestsrv.pid")"
"$PEBBLE_CTL" stop "$WORK/pebble"
assert_eq 0 $? "pebble-ctl stop"
left=""
for p in $pids; do
  st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$p/stat" 2>/dev/null)
  [ -n "$st" ] && [ "$st" != Z ] && left="$left $p"
done
assert_eq "" "$left" "no Pebble process left"
curl --noproxy '*' -s --max-time 3 --cacert "$PEBBLE_CA" -o /dev/null "$PEBBLE_DIR_URL"
assert_eq 7 $? "port $PEBBLE_PORT closed (curl: connection refused)"
"$PEBBLE_CTL" stop "$WORK/pebble"
assert_eq 0 $? "stop again is a no-op"

finish
