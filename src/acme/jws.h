/*
 * jws.h - JSON Web Signatures as ACME uses them (RFC 7515 flattened JSON,
 * RFC 7638 thumbprints, RFC 8555 external account binding).
 */
#ifndef CERTFLEET_JWS_H
#define CERTFLEET_JWS_H

#include <stddef.h>

#include "crypto.h"

/*
 * Builds a flattened JWS: protected header {alg, nonce, url} plus either
 * "kid" (when kid != NULL) or "jwk" (the key's public JWK).  nonce may be
 * NULL (inner rollover JWS).  payload is the JSON text to sign, or "" for
 * POST-as-GET.  Returns the JSON text; caller frees. NULL on failure.
 */
char *jws_sign(const privkey_t *k, const char *kid, const char *nonce,
    const char *url, const char *payload);

/*
 * The externalAccountBinding object of RFC 8555 7.3.4: a JWS with protected
 * {"alg":HSxxx,"kid":eab_kid,"url":newaccount_url}, payload the account
 * key's public JWK, MAC'd with the decoded HMAC key.  Caller frees.
 */
char *jws_eab(const char *eab_kid, const unsigned char *hmac_key, size_t hmac_len,
    enum hmac_alg alg, const char *newaccount_url, const privkey_t *account_key);

/* base64url(SHA-256(JWK)) per RFC 7638. Caller frees. */
char *jwk_thumbprint(const privkey_t *k);
/* The same over a JWK already in canonical form (privkey_jwk_json's output,
 * or RFC 7638's example); hashed as given, not re-canonicalized. */
char *jwk_thumbprint_json(const char *jwk_json);

/* "token.thumbprint"; caller frees. */
char *jws_key_authorization(const char *token, const privkey_t *account_key);

/* base64url(SHA-256(key authorization)), the dns-01 TXT value. Caller frees. */
char *jws_dns01_value(const char *keyauth);

#endif
