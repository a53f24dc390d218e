#!/bin/sh
# Regenerates the certbot configuration directory tests/ctl/check_certbot_import.c
# reads: three lineages' certificates (made here with openssl, self-signed:
# import-certbot only reads their names), the links certbot keeps in live/,
# and one account whose private_key.json is a JWK as certbot writes it
# (josepy, python3-josepy).  renewal/*.conf are written by hand with @DIR@
# where certbot would have the absolute config directory; the test copies
# this tree and fills it in.  Run once by hand; the outputs are committed.
set -eu
cd "$(dirname "$0")"
rm -rf archive live accounts
mk() { # NAME KEYARGS CN SAN...
  name=$1 keyargs=$2 cn=$3; shift 3
  san=$(printf 'DNS:%s,' "$@"); san=${san%,}
  mkdir -p "archive/$name" "live/$name"
  openssl req -x509 -newkey $keyargs -nodes -days 3650 -subj "/CN=$cn" \
    -addext "subjectAltName=$san" -keyout "archive/$name/privkey1.pem" \
    -out "archive/$name/cert1.pem" 2>/dev/null
  : > "archive/$name/chain1.pem"
  cp "archive/$name/cert1.pem" "archive/$name/fullchain1.pem"
  for f in cert chain fullchain privkey; do
    ln -s "../../archive/$name/${f}1.pem" "live/$name/$f.pem"
  done
}
mk web "rsa:3072" www.example.org example.org www.example.org
mk api "ec -pkeyopt ec_paramgen_curve:P-384" api.example.org api.example.org
mk two "ec -pkeyopt ec_paramgen_curve:P-256" a.example.org a.example.org b.example.org
mk manual "ec -pkeyopt ec_paramgen_curve:P-256" m.example.org m.example.org
mk dns "ec -pkeyopt ec_paramgen_curve:P-256" d.example.org d.example.org
acct=accounts/acme.example.test/directory/0123456789abcdef0123456789abcdef
mkdir -p "$acct"
/usr/bin/python3 - "$acct/private_key.json" <<'PY'
import json, sys
import josepy
from cryptography.hazmat.primitives.asymmetric import rsa
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
open(sys.argv[1], 'w').write(json.dumps(josepy.JWKRSA(key=key).to_json()))
PY
echo '{"body": {}, "uri": "https://acme.example.test/acme/acct/42"}' > "$acct/regr.json"
echo '{"creation_dt": "2026-12-01T21:03:52Z", "creation_host": "localhost"}' > "$acct/meta.json"
