#!/bin/sh
# Regenerates the fixtures of tests/crypto/check_crypto.c.  Run once by hand; the
# outputs are committed so the tests need no openssl CLI.  `openssl ca`
# fixes dates and serials so the tests can assert exact values.
#   ca.pem (root) -> int.pem (intermediate) -> leaf.pem, leaf-expired.pem
set -eu
cd "$(dirname "$0")"
t=$(mktemp -d /tmp/certfleet-gen.XXXXXX)
trap 'rm -rf "$t"' EXIT

cat > "$t/ca.cnf" <<CNF
[ca]
default_ca = ca_default
[ca_default]
database = $t/index.txt
new_certs_dir = $t
serial = $t/serial
default_md = sha256
policy = policy_any
copy_extensions = none
unique_subject = no
[policy_any]
commonName = supplied
[v3_root]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_int]
basicConstraints = critical,CA:true,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_leaf]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:www.example.com,DNS:Example.COM,IP:192.0.2.1
CNF
: > "$t/index.txt"

# sign CSR OUT SERIAL EXTENSIONS START END ISSUER_CERT ISSUER_KEY [-selfsign]
sign() {
	# $9 is an optional flag: unquoted so an absent one vanishes.
	echo "$3" > "$t/serial"
	# shellcheck disable=SC2086
	openssl ca -batch -config "$t/ca.cnf" -in "$1" -out "$2" -notext \
		-extensions "$4" -startdate "$5" -enddate "$6" \
		-cert "$7" -keyfile "$8" ${9:-} 2>/dev/null
}

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$t/ca.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$t/int.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key

openssl req -new -key "$t/ca.key" -subj "/CN=certfleet test root" -out "$t/ca.csr"
openssl req -new -key "$t/int.key" -subj "/CN=certfleet test intermediate" -out "$t/int.csr"
openssl req -new -key leaf.key -subj "/CN=www.example.com" -out "$t/leaf.csr"

sign "$t/ca.csr" ca.pem 01 v3_root 20260101000000Z 21260101000000Z "$t/ca.key" "$t/ca.key" -selfsign
sign "$t/int.csr" int.pem 02 v3_int 20260101000000Z 21260101000000Z ca.pem "$t/ca.key"
# High bit set: the serial's DER content gets a leading 0x00 (ARI certID).
sign "$t/leaf.csr" leaf.pem 8A0102030405060708 v3_leaf 20260101000000Z 21260101000000Z int.pem "$t/int.key"
sign "$t/leaf.csr" leaf-expired.pem 0B v3_leaf 20200101000000Z 20210101000000Z int.pem "$t/int.key"

# Keys in other encodings and types privkey_from_pem must handle or refuse.
openssl ecparam -name secp384r1 -genkey -noout -out ec384-sec1.key
openssl genrsa -traditional -out rsa2048-pkcs1.key 2048 2>/dev/null
openssl genrsa -out rsa1024.key 1024 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out ec521.key
openssl genpkey -algorithm ED25519 -out ed25519.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-aes-256-cbc -pass pass:secret -out encrypted.key
# Test keys only: readable so any user can run the tests.
chmod 644 ./*.key
