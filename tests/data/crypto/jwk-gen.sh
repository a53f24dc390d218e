#!/bin/sh
# Regenerates the JWK fixtures of tests/crypto/check_crypto.c (privkey_from_jwk):
# each key as PEM and as the private JWK certbot writes to
# accounts/.../private_key.json, made by josepy (python3-josepy, which
# certbot uses).  Run once by hand; the outputs are committed.
set -eu
cd "$(dirname "$0")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out jwk-rsa2048.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out jwk-ec256.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out jwk-ec384.pem
for k in rsa2048 ec256 ec384; do
  /usr/bin/python3 - "jwk-$k.pem" "jwk-$k.json" <<'PY'
import json, sys
import josepy
from cryptography.hazmat.primitives import serialization
key = serialization.load_pem_private_key(open(sys.argv[1], 'rb').read(), None)
jwk = josepy.JWKRSA(key=key) if 'rsa' in sys.argv[1] else josepy.JWKEC(key=key)
open(sys.argv[2], 'w').write(json.dumps(jwk.to_json()))
PY
done
