/*
 * jws.c - the JOSE layer of ACME: flattened JWS requests, the external
 * account binding, JWK thumbprints and challenge key authorizations.
 *
 * Signing itself is crypto.c's (privkey_sign returns JWS-shaped
 * signatures); this file only assembles the JSON around it.  The JSON
 * module (json.h) builds the protected headers so URLs, nonces and key IDs
 * from the CA or the configuration are always escaped correctly.
 */
#include "jws.h"

#include <string.h>


#include "b64.h"
#include "json.h"
#include "log.h"
#include "util.h"

/* Protected header {"alg", "jwk"|"kid", "nonce", "url"} as compact JSON. */
static char *protected_header(const char *alg, const char *jwk_json, const char *kid,
    const char *nonce, const char *url)
{
	struct json *h = json_new_object(), *jwk = NULL;
	char *json = NULL;

	if (json_set_str(h, "alg", alg) < 0)
		goto out;
	if (jwk_json != NULL) {
		if ((jwk = json_parse(jwk_json, strlen(jwk_json), NULL)) == NULL)
			goto out;
		json_set(h, "jwk", jwk);
	}
	if ((kid != NULL && json_set_str(h, "kid", kid) < 0) ||
	    (nonce != NULL && json_set_str(h, "nonce", nonce) < 0) ||
	    json_set_str(h, "url", url) < 0)
		goto out;
	json = json_print(h);
out:
	json_free(h);
	return json;
}

/* {"protected":..,"payload":..,"signature":..}; all three already base64url. */
static char *flattened(const char *prot64, const char *payload64, const char *sig64)
{
	struct json *o = json_new_object();
	char *json = NULL;

	if (json_set_str(o, "protected", prot64) == 0 &&
	    json_set_str(o, "payload", payload64) == 0 &&
	    json_set_str(o, "signature", sig64) == 0)
		json = json_print(o);
	json_free(o);
	return json;
}

char *jws_sign(const privkey_t *k, const char *kid, const char *nonce,
    const char *url, const char *payload)
{
	char *jwk = NULL, *prot = NULL, *prot64 = NULL, *pay64 = NULL;
	char *input = NULL, *sig64 = NULL, *out = NULL;
	unsigned char *sig = NULL;
	size_t siglen;

	if (url == NULL || payload == NULL) {
		log_err("JWS: missing url or payload");
		goto out;
	}
	if (kid == NULL && (jwk = privkey_jwk_json(k)) == NULL)
		goto out; /* logged */
	if ((prot = protected_header(privkey_jws_alg(k), jwk, kid, nonce, url)) == NULL) {
		log_err("JWS for %s: cannot build the protected header", url);
		goto out;
	}
	prot64 = b64url_encode(prot, strlen(prot));
	pay64 = b64url_encode(payload, strlen(payload));
	input = xasprintf("%s.%s", prot64, pay64);
	if (privkey_sign(k, input, strlen(input), &sig, &siglen) < 0)
		goto out; /* logged */
	sig64 = b64url_encode(sig, siglen);
	if ((out = flattened(prot64, pay64, sig64)) == NULL)
		log_err("JWS for %s: cannot build the JSON", url);
out:
	free(prot);
	free(jwk);
	free(prot64);
	free(pay64);
	free(input);
	free(sig);
	free(sig64);
	return out;
}

char *jws_eab(const char *eab_kid, const unsigned char *hmac_key, size_t hmac_len,
    enum hmac_alg alg, const char *newaccount_url, const privkey_t *account_key)
{
	char *jwk = NULL, *prot = NULL, *prot64 = NULL, *pay64 = NULL;
	char *input = NULL, *mac64 = NULL, *out = NULL;
	unsigned char mac[64];
	size_t maclen = 0;

	if (eab_kid == NULL || *eab_kid == '\0' || newaccount_url == NULL) {
		log_err("external account binding: missing key ID or newAccount URL");
		goto out;
	}
	if (hmac_key == NULL || hmac_len == 0) {
		log_err("external account binding for key ID %s: empty HMAC key", eab_kid);
		goto out;
	}
	if ((jwk = privkey_jwk_json(account_key)) == NULL)
		goto out; /* logged */
	/* RFC 8555 7.3.4: no nonce; the outer JWS carries it. */
	if ((prot = protected_header(hmac_alg_name(alg), NULL, eab_kid, NULL,
	    newaccount_url)) == NULL) {
		log_err("external account binding for key ID %s: cannot build the header", eab_kid);
		goto out;
	}
	prot64 = b64url_encode(prot, strlen(prot));
	pay64 = b64url_encode(jwk, strlen(jwk));
	input = xasprintf("%s.%s", prot64, pay64);
	if (crypto_hmac(alg, hmac_key, hmac_len, input, strlen(input), mac, &maclen) < 0)
		goto out; /* logged */
	mac64 = b64url_encode(mac, maclen);
	if ((out = flattened(prot64, pay64, mac64)) == NULL)
		log_err("external account binding for key ID %s: cannot build the JSON", eab_kid);
out:
	explicit_bzero(mac, sizeof(mac));
	free(prot);
	free(jwk);
	free(prot64);
	free(pay64);
	free(input);
	free(mac64);
	return out;
}

char *jwk_thumbprint_json(const char *jwk_json)
{
	unsigned char digest[32];

	if (jwk_json == NULL)
		return NULL;
	crypto_sha256(jwk_json, strlen(jwk_json), digest);
	return b64url_encode(digest, sizeof(digest));
}

char *jwk_thumbprint(const privkey_t *k)
{
	char *jwk = privkey_jwk_json(k);
	char *tp = jwk_thumbprint_json(jwk);

	free(jwk);
	return tp;
}

char *jws_key_authorization(const char *token, const privkey_t *account_key)
{
	char *tp, *ka;

	/* RFC 8555 8.1: a token is base64url.  Anything else from a CA would
	 * end up in an http-01 path or a TXT record, so it stops here. */
	if (token == NULL || *token == '\0' ||
	    strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_") != strlen(token)) {
		log_err("challenge token \"%.64s\" is not base64url", token ? token : "");
		return NULL;
	}
	if ((tp = jwk_thumbprint(account_key)) == NULL)
		return NULL;
	ka = xasprintf("%s.%s", token, tp);
	free(tp);
	return ka;
}

char *jws_dns01_value(const char *keyauth)
{
	unsigned char digest[32];

	if (keyauth == NULL)
		return NULL;
	crypto_sha256(keyauth, strlen(keyauth), digest);
	return b64url_encode(digest, sizeof(digest));
}
