/*
 * crypto_jwk.c - private keys from JWKs (RFC 7517, RFC 7518 section 6),
 * the form certbot keeps its account keys in, so an account registered by
 * certbot (with a single-use EAB credential, say) can be taken over.
 *
 * Part of the crypto module: the JSON is parsed by acme_json.c into
 * struct jwk_text, and this file turns the base64url members into an
 * EVP_PKEY through OpenSSL 3's parameter API.  Every key is checked for
 * consistency before it is accepted: a JWK whose private half does not
 * belong to its public half would only fail later, at the CA, as a bad
 * signature.
 */
#include "crypto.h"
#include "crypto_internal.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "b64.h"
#include "util.h"

void jwk_text_free(struct jwk_text *j)
{
	char **m[] = { &j->kty, &j->crv, &j->n, &j->e, &j->d, &j->p, &j->q, &j->dp, &j->dq,
		&j->qi, &j->x, &j->y };

	if (j == NULL)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
		free_secret_str(*m[i]);
		*m[i] = NULL;
	}
}

/* Decodes member name (base64url, required) into a BIGNUM. NULL with err. */
static BIGNUM *member_bn(const char *name, const char *val, const char *kty, char *err,
    size_t errlen)
{
	unsigned char *bin = NULL;
	size_t len = 0;
	BIGNUM *bn = NULL;

	if (val == NULL || *val == '\0') {
		snprintf(err, errlen, "%s JWK lacks '%s'", kty, name);
		return NULL;
	}
	if (b64url_decode(val, &bin, &len) < 0 || len == 0) {
		snprintf(err, errlen, "%s JWK member '%s' is not base64url", kty, name);
		free(bin);
		return NULL;
	}
	bn = BN_secure_new();
	if (bn == NULL || BN_bin2bn(bin, (int)len, bn) == NULL) {
		snprintf(err, errlen, "%s JWK member '%s': out of memory", kty, name);
		BN_clear_free(bn);
		bn = NULL;
	}
	free_secret(bin, len);
	return bn;
}

/* Decodes a fixed-size EC coordinate or scalar into buf. */
static int member_fixed(const char *name, const char *val, size_t want, unsigned char *buf,
    char *err, size_t errlen)
{
	unsigned char *bin = NULL;
	size_t len = 0;

	if (val == NULL || *val == '\0') {
		snprintf(err, errlen, "EC JWK lacks '%s'", name);
		return -1;
	}
	if (b64url_decode(val, &bin, &len) < 0) {
		snprintf(err, errlen, "EC JWK member '%s' is not base64url", name);
		free(bin);
		return -1;
	}
	if (len != want) {
		snprintf(err, errlen, "EC JWK member '%s' is %zu bytes, expected %zu for the curve",
		    name, len, want);
		free_secret(bin, len);
		return -1;
	}
	memcpy(buf, bin, len);
	free_secret(bin, len);
	return 0;
}

static EVP_PKEY *rsa_from_jwk(const struct jwk_text *j, char *err, size_t errlen)
{
	static const char *const names[] = { "n", "e", "d", "p", "q", "dp", "dq", "qi" };
	static const char *const params[] = { OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E,
		OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
		OSSL_PKEY_PARAM_RSA_FACTOR2, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1 };
	const char *vals[] = { j->n, j->e, j->d, j->p, j->q, j->dp, j->dq, j->qi };
	BIGNUM *bn[8] = { NULL };
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *ps = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	for (size_t i = 0; i < 8; i++)
		if ((bn[i] = member_bn(names[i], vals[i], "RSA", err, errlen)) == NULL)
			goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		goto ossl;
	for (size_t i = 0; i < 8; i++)
		if (!OSSL_PARAM_BLD_push_BN(bld, params[i], bn[i]))
			goto ossl;
	if ((ps = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, ps) <= 0)
		goto ossl;
	goto out;
ossl:
	{
		char e[256];
		snprintf(err, errlen, "RSA JWK: %s", crypto_ossl_error(e, sizeof(e)));
	}
out:
	for (size_t i = 0; i < 8; i++)
		BN_clear_free(bn[i]);
	OSSL_PARAM_free(ps);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static EVP_PKEY *ec_from_jwk(const struct jwk_text *j, char *err, size_t errlen)
{
	unsigned char pub[1 + 2 * 48], priv[48];
	const char *group;
	size_t clen;
	BIGNUM *d = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *ps = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (j->crv == NULL) {
		snprintf(err, errlen, "EC JWK lacks 'crv'");
		return NULL;
	}
	if (strcmp(j->crv, "P-256") == 0) {
		group = "P-256";
		clen = 32;
	} else if (strcmp(j->crv, "P-384") == 0) {
		group = "P-384";
		clen = 48;
	} else {
		snprintf(err, errlen, "EC JWK curve '%s' is not supported (P-256 or P-384)",
		    j->crv);
		return NULL;
	}
	pub[0] = 0x04; /* uncompressed point */
	if (member_fixed("x", j->x, clen, pub + 1, err, errlen) < 0 ||
	    member_fixed("y", j->y, clen, pub + 1 + clen, err, errlen) < 0 ||
	    member_fixed("d", j->d, clen, priv, err, errlen) < 0)
		goto out;
	if ((d = BN_secure_new()) == NULL || BN_bin2bn(priv, (int)clen, d) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * clen) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
	    (ps = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, ps) <= 0) {
		char e[256];
		snprintf(err, errlen, "EC JWK: %s", crypto_ossl_error(e, sizeof(e)));
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	OPENSSL_cleanse(priv, sizeof(priv));
	BN_clear_free(d);
	OSSL_PARAM_free(ps);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

privkey_t *privkey_from_jwk(const struct jwk_text *j, char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	privkey_t *k = NULL;
	enum key_type t;
	char why[200];

	if (j->kty == NULL) {
		snprintf(err, errlen, "JWK lacks 'kty'");
		goto out;
	}
	if (strcmp(j->kty, "RSA") == 0) {
		pkey = rsa_from_jwk(j, err, errlen);
	} else if (strcmp(j->kty, "EC") == 0) {
		pkey = ec_from_jwk(j, err, errlen);
	} else {
		snprintf(err, errlen, "JWK key type '%s' is not supported (RSA or EC)", j->kty);
		goto out;
	}
	if (pkey == NULL)
		goto out;
	/* EVP_PKEY_fromdata takes the members as given: the pairwise check
	 * is what catches a private half from another key. */
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_pairwise_check(ctx) != 1) {
		char e[256];
		snprintf(err, errlen, "%s JWK is inconsistent: its private key does not match its "
		    "public key (%s)", j->kty, crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	if (crypto_key_classify(pkey, &t, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "JWK: %s", why);
		goto out;
	}
	k = crypto_privkey_wrap(pkey, t);
	pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return k;
}
