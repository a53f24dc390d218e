/*
 * crypto.c - private keys, JWS signatures, JWKs, hashes and HMAC on top of
 * OpenSSL 3's EVP interface.
 *
 * This file and crypto_x509.c (CSRs and certificates) are the only places
 * that touch OpenSSL; everything else works with privkey_t and byte
 * strings.  Only the EVP_PKEY and parameter APIs are used, so the code
 * builds with OPENSSL_NO_DEPRECATED and keeps working when the low-level
 * RSA/EC_KEY interfaces are removed.
 */
#include "crypto.h"
#include "crypto_internal.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "b64.h"
#include "log.h"

static const char *const key_type_names[KEY_TYPE__MAX] = {
	[KEY_EC_P256] = "ec-p256",
	[KEY_EC_P384] = "ec-p384",
	[KEY_RSA_2048] = "rsa-2048",
	[KEY_RSA_3072] = "rsa-3072",
	[KEY_RSA_4096] = "rsa-4096",
};

static const struct {
	const char *name;
	enum key_type type;
} key_type_aliases[] = {
	{ "ecdsa-p256", KEY_EC_P256 }, { "p256", KEY_EC_P256 },
	{ "p-256", KEY_EC_P256 }, { "ec256", KEY_EC_P256 },
	{ "prime256v1", KEY_EC_P256 }, { "secp256r1", KEY_EC_P256 },
	{ "ecdsa-p384", KEY_EC_P384 }, { "p384", KEY_EC_P384 },
	{ "p-384", KEY_EC_P384 }, { "ec384", KEY_EC_P384 },
	{ "secp384r1", KEY_EC_P384 },
	{ "rsa2048", KEY_RSA_2048 }, { "rsa3072", KEY_RSA_3072 },
	{ "rsa4096", KEY_RSA_4096 },
};

static const char *const hmac_alg_names[HMAC_ALG__MAX] = {
	[HMAC_HS256] = "HS256",
	[HMAC_HS384] = "HS384",
	[HMAC_HS512] = "HS512",
};

const char *key_type_name(enum key_type t)
{
	if ((unsigned)t >= KEY_TYPE__MAX)
		return "unknown";
	return key_type_names[t];
}

int key_type_parse(const char *s, enum key_type *out)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < KEY_TYPE__MAX; i++) {
		if (strcasecmp(s, key_type_names[i]) == 0) {
			*out = (enum key_type)i;
			return 0;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(key_type_aliases); i++) {
		if (strcasecmp(s, key_type_aliases[i].name) == 0) {
			*out = key_type_aliases[i].type;
			return 0;
		}
	}
	return -1;
}

const char *hmac_alg_name(enum hmac_alg a)
{
	if ((unsigned)a >= HMAC_ALG__MAX)
		return "unknown";
	return hmac_alg_names[a];
}

int hmac_alg_parse(const char *s, enum hmac_alg *out)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < HMAC_ALG__MAX; i++) {
		if (strcasecmp(s, hmac_alg_names[i]) == 0) {
			*out = (enum hmac_alg)i;
			return 0;
		}
	}
	return -1;
}

const char *crypto_ossl_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown OpenSSL error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static bool key_is_ec(enum key_type t)
{
	return t == KEY_EC_P256 || t == KEY_EC_P384;
}

/* Bytes per coordinate (and per r, s half of a JWS signature). */
static size_t ec_coord_len(enum key_type t)
{
	return t == KEY_EC_P384 ? 48 : 32;
}

static const EVP_MD *key_md(enum key_type t)
{
	return t == KEY_EC_P384 ? EVP_sha384() : EVP_sha256();
}

/*
 * Classifies an EVP_PKEY.  Key sizes and curves outside the five types are
 * refused rather than guessed: every CA certfleet targets accepts these,
 * and a JWS "alg" must match the key exactly.
 */
static int key_classify(EVP_PKEY *pkey, enum key_type *out, char *err, size_t errlen)
{
	char group[64];

	if (EVP_PKEY_is_a(pkey, "EC")) {
		if (!EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL)) {
			snprintf(err, errlen, "EC key without a named curve");
			return -1;
		}
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
			*out = KEY_EC_P256;
			return 0;
		}
		if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
			*out = KEY_EC_P384;
			return 0;
		}
		snprintf(err, errlen, "unsupported EC curve %s (use P-256 or P-384)", group);
		return -1;
	}
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		int bits = EVP_PKEY_get_bits(pkey);

		switch (bits) {
		case 2048: *out = KEY_RSA_2048; return 0;
		case 3072: *out = KEY_RSA_3072; return 0;
		case 4096: *out = KEY_RSA_4096; return 0;
		default:
			snprintf(err, errlen, "unsupported RSA key size %d (use 2048, 3072 or 4096)",
			    bits);
			return -1;
		}
	}
	snprintf(err, errlen, "unsupported key type %s (use EC P-256/P-384 or RSA)",
	    EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "?");
	return -1;
}

int crypto_key_classify(EVP_PKEY *pkey, enum key_type *out, char *err, size_t errlen)
{
	return key_classify(pkey, out, err, errlen);
}

privkey_t *privkey_generate(enum key_type t)
{
	EVP_PKEY *pkey = NULL;
	privkey_t *k = NULL;
	char e[256];

	switch (t) {
	case KEY_EC_P256:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case KEY_EC_P384:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case KEY_RSA_2048:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case KEY_RSA_3072:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	case KEY_RSA_4096:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		break;
	default:
		log_err("cannot generate a key of unknown type %d", (int)t);
		return NULL;
	}
	if (pkey == NULL) {
		log_err("cannot generate %s key: %s", key_type_name(t),
		    crypto_ossl_error(e, sizeof(e)));
		return NULL;
	}
	k = crypto_privkey_wrap(pkey, t);
	return k;
}

/* Encrypted keys are refused instead of prompting on a daemon's tty. */
static int no_password_cb(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

privkey_t *privkey_from_pem(const char *pem, size_t len)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	privkey_t *k = NULL;
	enum key_type t;
	char e[256];

	if (pem == NULL || len > INT_MAX) {
		log_err("private key PEM: missing or too large");
		goto out;
	}
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		log_err("private key PEM: %s", crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password_cb, NULL);
	if (pkey == NULL) {
		/* OpenSSL's reason names the structure, never key material. */
		crypto_ossl_error(e, sizeof(e));
		if (memmem(pem, len, "ENCRYPTED", 9) != NULL)
			log_err("private key PEM is encrypted, which is not supported");
		else
			log_err("private key PEM does not parse: %s", e);
		goto out;
	}
	if (key_classify(pkey, &t, e, sizeof(e)) < 0) {
		log_err("private key PEM: %s", e);
		goto out;
	}
	k = crypto_privkey_wrap(pkey, t);
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return k;
}

/* The PEM of k, encoded anew; NULL (logged) on failure. */
static char *encode_pem(const privkey_t *k, size_t *len)
{
	BIO *bio = NULL;
	BUF_MEM *mem = NULL;
	char *pem = NULL;
	char e[256];

	/* A secure-memory BIO is wiped when freed, unlike a plain one. */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL ||
	    !PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) ||
	    BIO_get_mem_ptr(bio, &mem) <= 0 || mem == NULL) {
		log_err("cannot encode %s private key as PEM: %s", key_type_name(k->type),
		    crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	pem = xmalloc(mem->length + 1);
	memcpy(pem, mem->data, mem->length);
	pem[mem->length] = '\0';
	*len = mem->length;
out:
	BIO_free(bio);
	return pem;
}

char *privkey_to_pem(const privkey_t *k, size_t *len)
{
	/* The cache is not part of the key's value: const to the caller. */
	privkey_t *m = (privkey_t *)k;
	char *pem = NULL;

	pthread_mutex_lock(&m->sign_lock);
	if (m->pem == NULL)
		m->pem = encode_pem(k, &m->pem_len);
	if (m->pem != NULL) {
		pem = xmalloc(m->pem_len + 1);
		memcpy(pem, m->pem, m->pem_len + 1);
		if (len != NULL)
			*len = m->pem_len;
	}
	pthread_mutex_unlock(&m->sign_lock);
	return pem;
}

privkey_t *crypto_privkey_wrap(EVP_PKEY *pkey, enum key_type t)
{
	privkey_t *k = xcalloc(1, sizeof(*k));

	k->pkey = pkey;
	k->type = t;
	pthread_mutex_init(&k->sign_lock, NULL);
	return k;
}

void privkey_free(privkey_t *k)
{
	if (k == NULL)
		return;
	EVP_MD_CTX_free(k->sign_tmpl);
	pthread_mutex_destroy(&k->sign_lock);
	if (k->pem != NULL)
		free_secret(k->pem, k->pem_len);
	free(k->jwk);
	EVP_PKEY_free(k->pkey);
	free(k);
}

enum key_type privkey_type(const privkey_t *k)
{
	return k->type;
}

const char *privkey_jws_alg(const privkey_t *k)
{
	switch (k->type) {
	case KEY_EC_P256: return "ES256";
	case KEY_EC_P384: return "ES384";
	default: return "RS256";
	}
}

/* base64url of a key parameter; pad > 0 left-pads to that many bytes
 * (EC coordinates), pad == 0 gives the minimal big-endian form (RSA). */
static char *bn_param_b64(const privkey_t *k, const char *param, size_t pad)
{
	BIGNUM *bn = NULL;
	unsigned char *bin = NULL;
	char *s = NULL;
	size_t n;
	char e[256];

	if (!EVP_PKEY_get_bn_param(k->pkey, param, &bn)) {
		log_err("cannot read %s of %s key: %s", param, key_type_name(k->type),
		    crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	n = pad ? pad : (size_t)BN_num_bytes(bn);
	bin = xmalloc(n ? n : 1);
	if ((pad ? BN_bn2binpad(bn, bin, (int)n) : BN_bn2bin(bn, bin)) != (int)n) {
		log_err("%s of %s key does not fit %zu bytes", param, key_type_name(k->type), n);
		goto out;
	}
	s = b64url_encode(bin, n);
out:
	free(bin);
	BN_free(bn);
	return s;
}

static char *jwk_json_of(const privkey_t *k);

char *privkey_jwk_json(const privkey_t *k)
{
	/* Cached like the PEM: every challenge's key authorization needs the
	 * account key's thumbprint, and reading the parameters costs more
	 * than the copy. */
	privkey_t *mk = (privkey_t *)k;
	char *json = NULL;

	pthread_mutex_lock(&mk->sign_lock);
	if (mk->jwk == NULL)
		mk->jwk = jwk_json_of(k);
	if (mk->jwk != NULL)
		json = xstrdup(mk->jwk);
	pthread_mutex_unlock(&mk->sign_lock);
	return json;
}

static char *jwk_json_of(const privkey_t *k)
{
	char *a = NULL, *b = NULL, *json = NULL;

	if (key_is_ec(k->type)) {
		size_t cl = ec_coord_len(k->type);

		if ((a = bn_param_b64(k, OSSL_PKEY_PARAM_EC_PUB_X, cl)) == NULL ||
		    (b = bn_param_b64(k, OSSL_PKEY_PARAM_EC_PUB_Y, cl)) == NULL)
			goto out;
		json = xasprintf("{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
		    k->type == KEY_EC_P384 ? "P-384" : "P-256", a, b);
	} else {
		if ((a = bn_param_b64(k, OSSL_PKEY_PARAM_RSA_E, 0)) == NULL ||
		    (b = bn_param_b64(k, OSSL_PKEY_PARAM_RSA_N, 0)) == NULL)
			goto out;
		json = xasprintf("{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", a, b);
	}
out:
	free(a);
	free(b);
	return json;
}

/* A context ready for one EVP_DigestSign() with k: a copy of k's
 * template, made on the first call.  NULL on failure (error queued). */
static EVP_MD_CTX *sign_ctx_new(const privkey_t *k)
{
	/* The template is a cache, not part of the key's value: a const key
	 * may fill it in. */
	privkey_t *mk = (privkey_t *)k;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;

	if (ctx == NULL)
		return NULL;
	pthread_mutex_lock(&mk->sign_lock);
	if (mk->sign_tmpl == NULL) {
		EVP_MD_CTX *t = EVP_MD_CTX_new();

		if (t != NULL && EVP_DigestSignInit(t, NULL, key_md(k->type), NULL, k->pkey) == 1)
			mk->sign_tmpl = t;
		else
			EVP_MD_CTX_free(t);
	}
	ok = mk->sign_tmpl != NULL && EVP_MD_CTX_copy_ex(ctx, mk->sign_tmpl) == 1;
	pthread_mutex_unlock(&mk->sign_lock);
	if (!ok) {
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int privkey_sign(const privkey_t *k, const void *data, size_t len,
    unsigned char **sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = NULL;
	ECDSA_SIG *es = NULL;
	unsigned char *der = NULL, *raw = NULL;
	const unsigned char *p;
	size_t derlen = 0, cl;
	const BIGNUM *r, *s;
	char e[256];
	int rc = -1;

	*sig = NULL;
	*siglen = 0;
	if ((ctx = sign_ctx_new(k)) == NULL || EVP_PKEY_get_size(k->pkey) <= 0) {
		log_err("cannot sign with %s key: %s", key_type_name(k->type),
		    crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	/* The context is used once: without FINALISE, EVP_DigestSignFinal()
	 * duplicates the signature context to keep this one usable. */
	EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE);
	derlen = (size_t)EVP_PKEY_get_size(k->pkey);
	der = xmalloc(derlen);
	if (EVP_DigestSign(ctx, der, &derlen, data, len) != 1) {
		log_err("cannot sign with %s key: %s", key_type_name(k->type),
		    crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	if (!key_is_ec(k->type)) {
		*sig = der;
		*siglen = derlen;
		der = NULL;
		rc = 0;
		goto out;
	}
	/* JWS (RFC 7518 3.4) wants fixed-width r||s, OpenSSL gives DER. */
	p = der;
	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL) {
		log_err("cannot decode ECDSA signature: %s", crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	ECDSA_SIG_get0(es, &r, &s);
	cl = ec_coord_len(k->type);
	raw = xmalloc(2 * cl);
	if (BN_bn2binpad(r, raw, (int)cl) != (int)cl ||
	    BN_bn2binpad(s, raw + cl, (int)cl) != (int)cl) {
		log_err("ECDSA signature value larger than the %s curve", key_type_name(k->type));
		goto out;
	}
	*sig = raw;
	*siglen = 2 * cl;
	raw = NULL;
	rc = 0;
out:
	free(raw);
	free(der);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int privkey_verify(const privkey_t *k, const void *data, size_t len,
    const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = NULL;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;
	const unsigned char *vsig = sig;
	size_t vlen = siglen;
	int n, rc = -1;

	if (key_is_ec(k->type)) {
		size_t cl = ec_coord_len(k->type);

		if (siglen != 2 * cl)
			goto out;
		if ((es = ECDSA_SIG_new()) == NULL ||
		    (r = BN_bin2bn(sig, (int)cl, NULL)) == NULL ||
		    (s = BN_bin2bn(sig + cl, (int)cl, NULL)) == NULL ||
		    !ECDSA_SIG_set0(es, r, s))
			goto out;
		r = s = NULL; /* owned by es now */
		if ((n = i2d_ECDSA_SIG(es, &der)) <= 0)
			goto out;
		vsig = der;
		vlen = (size_t)n;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(ctx, NULL, key_md(k->type), NULL, k->pkey) != 1)
		goto out;
	if (EVP_DigestVerify(ctx, vsig, vlen, data, len) == 1)
		rc = 0;
out:
	/* A bad signature is an answer, not an error worth keeping queued. */
	ERR_clear_error();
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int crypto_hmac(enum hmac_alg alg, const void *key, size_t keylen,
    const void *data, size_t len, unsigned char *out, size_t *outlen)
{
	static const char *const digests[HMAC_ALG__MAX] = {
		[HMAC_HS256] = "SHA256",
		[HMAC_HS384] = "SHA384",
		[HMAC_HS512] = "SHA512",
	};
	char e[256];

	if ((unsigned)alg >= HMAC_ALG__MAX) {
		log_err("unknown HMAC algorithm %d", (int)alg);
		return -1;
	}
	if (key == NULL || keylen == 0) {
		log_err("%s: empty HMAC key", hmac_alg_names[alg]);
		return -1;
	}
	if (EVP_Q_mac(NULL, "HMAC", NULL, digests[alg], NULL, key, keylen, data, len,
	    out, 64, outlen) == NULL) {
		log_err("%s computation failed: %s", hmac_alg_names[alg],
		    crypto_ossl_error(e, sizeof(e)));
		return -1;
	}
	return 0;
}

void crypto_sha256(const void *data, size_t len, unsigned char out[32])
{
	char e[256];

	/* Only a broken libcrypto fails here; a wrong hash would be worse. */
	if (EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL) != 1) {
		log_msg(LOG_CRIT, "SHA-256 failed: %s", crypto_ossl_error(e, sizeof(e)));
		abort();
	}
}

int crypto_random(void *buf, size_t len)
{
	char e[256];

	if (len > INT_MAX || RAND_bytes(buf, (int)len) != 1) {
		log_err("cannot get %zu random bytes: %s", len, crypto_ossl_error(e, sizeof(e)));
		return -1;
	}
	return 0;
}
