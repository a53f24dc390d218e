/*
 * check_crypto.c - unit tests for crypto.c: key types, generation, PEM
 * import/export, JWS signatures, JWKs, HMAC, SHA-256 and random bytes.
 *
 * Signatures are verified with OpenSSL calls made here on the exported key,
 * independently of privkey_verify; fixtures (tests/data/crypto, made by
 * gen.sh there) cover key encodings certfleet must accept or refuse.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "acme_json.h"
#include "crypto.h"
#include "crypto_testutil.h"
#include "testutil.h"
#include "util.h"

/* Verifies a JWS-style signature (raw r||s for EC) with OpenSSL only. */
static int verify_independently(EVP_PKEY *pub, const EVP_MD *md, const void *data,
    size_t len, const unsigned char *sig, size_t siglen)
{
	unsigned char *der = NULL;
	const unsigned char *vs = sig;
	size_t vlen = siglen;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (EVP_PKEY_is_a(pub, "EC")) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		size_t half = siglen / 2;

		ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)half, NULL),
		    BN_bin2bn(sig + half, (int)half, NULL));
		vlen = (size_t)i2d_ECDSA_SIG(es, &der);
		vs = der;
		ECDSA_SIG_free(es);
	}
	ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub) == 1 &&
	    EVP_DigestVerify(ctx, vs, vlen, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

START_TEST(test_type_names)
{
	enum key_type t;
	enum hmac_alg a;

	for (int i = 0; i < KEY_TYPE__MAX; i++) {
		ck_assert_int_eq(key_type_parse(key_type_name((enum key_type)i), &t), 0);
		ck_assert_int_eq(t, i);
	}
	ck_assert_str_eq(key_type_name(KEY_EC_P256), "ec-p256");
	ck_assert_str_eq(key_type_name(KEY_RSA_4096), "rsa-4096");
	ck_assert_int_eq(key_type_parse("EC-P384", &t), 0);
	ck_assert_int_eq(t, KEY_EC_P384);
	ck_assert_int_eq(key_type_parse("p256", &t), 0);
	ck_assert_int_eq(t, KEY_EC_P256);
	ck_assert_int_eq(key_type_parse("ecdsa-p256", &t), 0);
	ck_assert_int_eq(t, KEY_EC_P256);
	ck_assert_int_eq(key_type_parse("rsa2048", &t), 0);
	ck_assert_int_eq(t, KEY_RSA_2048);
	ck_assert_int_eq(key_type_parse("rsa-1024", &t), -1);
	ck_assert_int_eq(key_type_parse("ed25519", &t), -1);
	ck_assert_int_eq(key_type_parse("", &t), -1);
	ck_assert_int_eq(key_type_parse(NULL, &t), -1);

	ck_assert_int_eq(hmac_alg_parse("hs384", &a), 0);
	ck_assert_int_eq(a, HMAC_HS384);
	ck_assert_str_eq(hmac_alg_name(HMAC_HS512), "HS512");
	ck_assert_int_eq(hmac_alg_parse("HS1", &a), -1);
}
END_TEST

/* Every type once (RSA 4096 is the slow one, and only here). */
START_TEST(test_keygen_sign_roundtrip)
{
	static const struct {
		enum key_type t;
		const char *alg, *jwk_prefix;
		size_t member_len, siglen;
	} cases[] = {
		{ KEY_EC_P256, "ES256", "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"", 43, 64 },
		{ KEY_EC_P384, "ES384", "{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"", 64, 96 },
		{ KEY_RSA_2048, "RS256", "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"", 342, 256 },
		{ KEY_RSA_3072, "RS256", "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"", 512, 384 },
		{ KEY_RSA_4096, "RS256", "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"", 683, 512 },
	};
	static const char msg[] = "eyJhbGciOiJFUzI1NiJ9.e30";

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		privkey_t *k = privkey_generate(cases[i].t), *k2;
		char *pem, *jwk, *jwk2;
		unsigned char *sig = NULL;
		size_t len, siglen;
		EVP_PKEY *pub;
		const char *member;

		ck_assert_ptr_nonnull(k);
		ck_assert_int_eq(privkey_type(k), cases[i].t);
		ck_assert_str_eq(privkey_jws_alg(k), cases[i].alg);

		/* JWK: canonical member order, fixed-size EC coordinates. */
		jwk = privkey_jwk_json(k);
		ck_assert_ptr_nonnull(jwk);
		ck_assert_msg(strncmp(jwk, cases[i].jwk_prefix, strlen(cases[i].jwk_prefix)) == 0,
		    "%s", jwk);
		member = jwk + strlen(cases[i].jwk_prefix);
		ck_assert_uint_eq(strcspn(member, "\""), cases[i].member_len);
		if (cases[i].t == KEY_EC_P256 || cases[i].t == KEY_EC_P384)
			ck_assert_uint_eq(strlen(member),
			    cases[i].member_len * 2 + strlen("\",\"y\":\"\"}"));

		/* PEM round trip gives the same public key. */
		pem = privkey_to_pem(k, &len);
		ck_assert_ptr_nonnull(pem);
		k2 = privkey_from_pem(pem, len);
		ck_assert_ptr_nonnull(k2);
		ck_assert_int_eq(privkey_type(k2), cases[i].t);
		/* Asked again (the cached text): the same, in a buffer of its own. */
		{
			size_t len2 = 0;
			char *again = privkey_to_pem(k, &len2);

			ck_assert_ptr_nonnull(again);
			ck_assert(again != pem);
			ck_assert_uint_eq(len2, len);
			ck_assert_str_eq(again, pem);
			free(again);
		}
		jwk2 = privkey_jwk_json(k2);
		ck_assert_str_eq(jwk, jwk2);

		/* Signature checked by OpenSSL directly, then by privkey_verify. */
		ck_assert_int_eq(privkey_sign(k, msg, strlen(msg), &sig, &siglen), 0);
		ck_assert_uint_eq(siglen, cases[i].siglen);
		pub = pkey_of(k);
		ck_assert(verify_independently(pub,
		    cases[i].t == KEY_EC_P384 ? EVP_sha384() : EVP_sha256(),
		    msg, strlen(msg), sig, siglen));
		ck_assert(!verify_independently(pub, EVP_sha256(), msg, strlen(msg) - 1,
		    sig, siglen));
		ck_assert_int_eq(privkey_verify(k2, msg, strlen(msg), sig, siglen), 0);
		ck_assert_int_eq(privkey_verify(k2, msg, strlen(msg) - 1, sig, siglen), -1);
		sig[siglen / 2] ^= 1;
		ck_assert_int_eq(privkey_verify(k2, msg, strlen(msg), sig, siglen), -1);
		ck_assert_int_eq(privkey_verify(k2, msg, strlen(msg), sig, siglen - 1), -1);

		EVP_PKEY_free(pub);
		free(sig);
		free(jwk);
		free(jwk2);
		free_secret(pem, len);
		privkey_free(k);
		privkey_free(k2);
	}
	privkey_free(NULL);
}
END_TEST

START_TEST(test_key_formats)
{
	static const struct {
		const char *file;
		int ok;
		enum key_type t;
	} cases[] = {
		{ FIX("leaf.key"), 1, KEY_EC_P256 },          /* PKCS#8 */
		{ FIX("ec384-sec1.key"), 1, KEY_EC_P384 },    /* "EC PRIVATE KEY" */
		{ FIX("rsa2048-pkcs1.key"), 1, KEY_RSA_2048 }, /* "RSA PRIVATE KEY" */
		{ FIX("rsa1024.key"), 0, 0 },
		{ FIX("ec521.key"), 0, 0 },
		{ FIX("ed25519.key"), 0, 0 },
		{ FIX("encrypted.key"), 0, 0 }, /* refused, never prompts */
		{ FIX("leaf.pem"), 0, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len;
		char *pem = fixture(cases[i].file, &len);
		privkey_t *k = privkey_from_pem(pem, len);

		if (cases[i].ok) {
			ck_assert_msg(k != NULL, "%s refused", cases[i].file);
			ck_assert_int_eq(privkey_type(k), cases[i].t);
		} else {
			ck_assert_msg(k == NULL, "%s accepted", cases[i].file);
		}
		privkey_free(k);
		free(pem);
	}
	ck_assert_ptr_null(privkey_from_pem("garbage", 7));
	ck_assert_ptr_null(privkey_from_pem("", 0));
}
END_TEST

START_TEST(test_hmac_sha_random)
{
	/* RFC 4231 test case 2. */
	static const char key[] = "Jefe", data[] = "what do ya want for nothing?";
	static const struct {
		enum hmac_alg a;
		const char *hex;
	} cases[] = {
		{ HMAC_HS256, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ HMAC_HS384, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec373632244"
			      "5e8e2240ca5e69e2c78b3239ecfab21649" },
		{ HMAC_HS512, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
			      "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
	};
	unsigned char out[64], r1[32], r2[32];
	char hex[129];
	size_t outlen;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		ck_assert_int_eq(crypto_hmac(cases[i].a, key, 4, data, strlen(data), out, &outlen), 0);
		ck_assert_uint_eq(outlen * 2, strlen(cases[i].hex));
		for (size_t j = 0; j < outlen; j++)
			snprintf(hex + 2 * j, 3, "%02x", out[j]);
		ck_assert_str_eq(hex, cases[i].hex);
	}
	ck_assert_int_eq(crypto_hmac(HMAC_HS256, key, 0, data, 1, out, &outlen), -1);

	crypto_sha256("abc", 3, r1);
	for (size_t j = 0; j < 32; j++)
		snprintf(hex + 2 * j, 3, "%02x", r1[j]);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

	ck_assert_int_eq(crypto_random(r1, sizeof(r1)), 0);
	ck_assert_int_eq(crypto_random(r2, sizeof(r2)), 0);
	ck_assert_int_ne(memcmp(r1, r2, sizeof(r1)), 0);
}
END_TEST


/* ---- JWK import (certbot's accounts/.../private_key.json) ---- */

/* The fixture JWK parsed into members (acme_json does the JSON side). */
static void jwk_fixture(const char *name, struct jwk_text *j)
{
	char err[256];
	size_t len;
	char *json = fixture(name, &len);

	ck_assert_msg(acme_json_jwk_parse(json, len, j, err, sizeof(err)) == 0, "%s", err);
	free(json);
}

/* k is the same key as the PEM fixture: same public JWK, and a signature by
 * k verifies with the fixture's key through OpenSSL alone. */
static void assert_same_key(const privkey_t *k, const char *pem_fixture)
{
	size_t len;
	char *pem = fixture(pem_fixture, &len);
	privkey_t *ref = privkey_from_pem(pem, len);
	char *a = privkey_jwk_json(k), *b = privkey_jwk_json(ref);
	EVP_PKEY *pub = pkey_from_pem_text(pem);
	unsigned char *sig = NULL;
	size_t siglen = 0;
	const EVP_MD *md = privkey_type(k) == KEY_EC_P384 ? EVP_sha384() : EVP_sha256();

	ck_assert_ptr_nonnull(ref);
	ck_assert_str_eq(a, b);
	ck_assert_int_eq(privkey_sign(k, "payload", 7, &sig, &siglen), 0);
	ck_assert(verify_independently(pub, md, "payload", 7, sig, siglen));
	free(sig);
	free(a);
	free(b);
	EVP_PKEY_free(pub);
	privkey_free(ref);
	free_secret(pem, len);
}

START_TEST(test_jwk_import)
{
	static const struct {
		const char *json, *pem;
		enum key_type type;
	} cases[] = {
		{ FIX("jwk-rsa2048.json"), FIX("jwk-rsa2048.pem"), KEY_RSA_2048 },
		{ FIX("jwk-ec256.json"), FIX("jwk-ec256.pem"), KEY_EC_P256 },
		{ FIX("jwk-ec384.json"), FIX("jwk-ec384.pem"), KEY_EC_P384 },
	};
	struct jwk_text j;
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		privkey_t *k;

		jwk_fixture(cases[i].json, &j);
		k = privkey_from_jwk(&j, err, sizeof(err));
		ck_assert_msg(k != NULL, "%s: %s", cases[i].json, err);
		ck_assert_int_eq(privkey_type(k), cases[i].type);
		assert_same_key(k, cases[i].pem);
		privkey_free(k);
		jwk_text_free(&j);
	}
}
END_TEST

/* Replaces one member of a parsed JWK (NULL removes it). */
static void jwk_set(char **member, const char *value)
{
	free_secret_str(*member);
	*member = value ? xstrdup(value) : NULL;
}

/* privkey_from_jwk refuses j with a message containing want. */
static void assert_jwk_refused(const struct jwk_text *j, const char *want)
{
	char err[256] = "";
	privkey_t *k = privkey_from_jwk(j, err, sizeof(err));

	ck_assert_msg(k == NULL, "accepted a JWK that should fail with '%s'", want);
	ck_assert_msg(strstr(err, want) != NULL, "error '%s' does not say '%s'", err, want);
}

START_TEST(test_jwk_malformed)
{
	struct jwk_text j, other;
	char err[256];
	size_t len;
	char *json;

	/* RSA: a member missing, not base64url, a private exponent of another
	 * key (the pairwise check), an unknown kty. */
	jwk_fixture(FIX("jwk-rsa2048.json"), &j);
	jwk_set(&j.qi, NULL);
	assert_jwk_refused(&j, "RSA JWK lacks 'qi'");
	jwk_text_free(&j);
	jwk_fixture(FIX("jwk-rsa2048.json"), &j);
	jwk_set(&j.n, "not*base64");
	assert_jwk_refused(&j, "RSA JWK member 'n' is not base64url");
	jwk_text_free(&j);
	jwk_fixture(FIX("jwk-rsa2048.json"), &j);
	jwk_set(&j.d, "AQAB");
	assert_jwk_refused(&j, "inconsistent");
	jwk_text_free(&j);
	jwk_fixture(FIX("jwk-rsa2048.json"), &j);
	jwk_set(&j.kty, "oct");
	assert_jwk_refused(&j, "key type 'oct' is not supported");
	jwk_set(&j.kty, NULL);
	assert_jwk_refused(&j, "JWK lacks 'kty'");
	jwk_text_free(&j);

	/* EC: unknown curve, missing crv, a coordinate of the wrong size, d
	 * of another key. */
	jwk_fixture(FIX("jwk-ec256.json"), &j);
	jwk_set(&j.crv, "P-521");
	assert_jwk_refused(&j, "curve 'P-521' is not supported");
	jwk_set(&j.crv, NULL);
	assert_jwk_refused(&j, "EC JWK lacks 'crv'");
	jwk_set(&j.crv, "P-384");
	assert_jwk_refused(&j, "EC JWK member 'x' is 32 bytes, expected 48");
	jwk_set(&j.crv, "P-256");
	jwk_set(&j.d, NULL);
	assert_jwk_refused(&j, "EC JWK lacks 'd'");
	jwk_fixture(FIX("jwk-ec384.json"), &other);
	jwk_set(&j.crv, "P-384");
	jwk_set(&j.x, other.x);
	jwk_set(&j.y, other.y);
	jwk_set(&j.d, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB");
	assert_jwk_refused(&j, "inconsistent");
	jwk_text_free(&other);
	jwk_text_free(&j);

	/* The JSON side: not an object, a member that is not a string. */
	ck_assert_int_eq(acme_json_jwk_parse("[1]", 3, &j, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "not a JSON object");
	json = xstrdup("{\"kty\":\"EC\",\"crv\":256}");
	len = strlen(json);
	ck_assert_int_eq(acme_json_jwk_parse(json, len, &j, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "JWK member 'crv' is not a string");
	free(json);
}
END_TEST

static Suite *crypto_suite(void)
{
	Suite *s = suite_create("crypto");
	TCase *keys = tcase_create("keys");

	/* One RSA 4096 generation can take seconds on a slow builder. */
	tcase_set_timeout(keys, 120);
	tcase_add_test(keys, test_type_names);
	tcase_add_test(keys, test_keygen_sign_roundtrip);
	tcase_add_test(keys, test_key_formats);
	tcase_add_test(keys, test_hmac_sha_random);
	tcase_add_test(keys, test_jwk_import);
	tcase_add_test(keys, test_jwk_malformed);
	suite_add_tcase(s, keys);
	return s;
}

CHECK_MAIN(crypto_suite)
