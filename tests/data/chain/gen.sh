#!/bin/sh
# Regenerates the preferred-chain fixtures of tests/acme/check_acme_ops.c (run
# once by hand; the outputs are committed).  One leaf, one intermediate key
# and subject, two intermediate certificates - one issued by each root - as
# a CA offering a default and an alternate chain does:
#   chain-a.pem = leaf + intermediate issued by "certfleet test root A"
#   chain-b.pem = leaf + intermediate issued by "certfleet test root B"
# int-b.sha256 / leaf.sha256: fingerprints as `openssl x509 -fingerprint`
# prints them, prefixed for preferred_chain.
set -eu
cd "$(dirname "$0")"
t=$(mktemp -d /tmp/certfleet-chain.XXXXXX)
trap 'rm -rf "$t"' EXIT

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
key "$t/ra.key"; key "$t/rb.key"; key "$t/int.key"; key "$t/leaf.key"
for r in a b; do
	openssl req -x509 -new -key "$t/r$r.key" -subj "/CN=certfleet test root $(echo $r | tr ab AB)" \
		-days 36500 -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out "$t/root-$r.pem"
done
openssl req -new -key "$t/int.key" -subj "/CN=certfleet test intermediate" -out "$t/int.csr"
printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" \
	"keyUsage=critical,keyCertSign,cRLSign" > "$t/int.ext"
for r in a b; do
	openssl x509 -req -in "$t/int.csr" -CA "$t/root-$r.pem" -CAkey "$t/r$r.key" \
		-set_serial "0x0$r" -days 36500 -extfile "$t/int.ext" -out "$t/int-$r.pem" 2>/dev/null
done
openssl req -new -key "$t/leaf.key" -subj "/CN=www.example.com" -out "$t/leaf.csr"
printf '%s\n' "basicConstraints=critical,CA:FALSE" "subjectAltName=DNS:www.example.com" \
	> "$t/leaf.ext"
openssl x509 -req -in "$t/leaf.csr" -CA "$t/int-a.pem" -CAkey "$t/int.key" -set_serial 0x10 \
	-days 36500 -extfile "$t/leaf.ext" -out "$t/leaf.pem" 2>/dev/null
cat "$t/leaf.pem" "$t/int-a.pem" > chain-a.pem
cat "$t/leaf.pem" "$t/int-b.pem" > chain-b.pem
fp() { printf 'sha256:%s\n' "$(openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2)"; }
fp "$t/int-b.pem" > int-b.sha256
fp "$t/leaf.pem" > leaf.sha256
