/*
 * check_jws.c - unit tests for jws.c: RFC 7638 thumbprints, flattened JWS
 * requests, the RFC 8555 external account binding and key authorizations.
 *
 * Every signature and MAC is re-checked here with OpenSSL calls on the key
 * read straight from the fixture file, not with privkey_verify; expected
 * thumbprints of the fixture keys were computed once with the openssl CLI
 * and Python, independently of certfleet.
 */
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "b64.h"
#include "crypto.h"
#include "jws.h"
#include "testutil.h"
#include "util.h"

#define FIX(name) TEST_DATA_DIR "/crypto/" name

/* RFC 7638 section 3.1. */
static const char rfc7638_jwk[] =
    "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbW"
    "hM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-"
    "5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb"
    "9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3X"
    "PksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\"}";

static const struct {
	const char *file, *alg, *thumbprint;
	const EVP_MD *(*md)(void);
} keys[] = {
	{ FIX("leaf.key"), "ES256", "AcBpuJ6oCzK3ttaIXuF2cYDHnRHTBPOj2Vts0rxKVsY", EVP_sha256 },
	{ FIX("ec384-sec1.key"), "ES384", "8kZ-d656m_3ONMHW0DdUdP89wR-WtzeuQx0PmT5np_E",
	    EVP_sha384 },
	{ FIX("rsa2048-pkcs1.key"), "RS256", "Vnmgpkh0owqJAMzSICKCCVnpTufTFhS51FcxYW0DGSY",
	    EVP_sha256 },
};

static privkey_t *load_key(const char *path)
{
	char *pem = NULL;
	size_t len;
	privkey_t *k;

	ck_assert_int_eq(read_file(path, &pem, &len, 1 << 20), 0);
	k = privkey_from_pem(pem, len);
	ck_assert_ptr_nonnull(k);
	free_secret(pem, len);
	return k;
}

/* The same key, read by OpenSSL alone. */
static EVP_PKEY *load_evp(const char *path)
{
	BIO *bio = BIO_new_file(path, "r");
	EVP_PKEY *p = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

	BIO_free(bio);
	ck_assert_ptr_nonnull(p);
	return p;
}

static char *b64_decode_str(const char *s)
{
	unsigned char *d = NULL;
	size_t len;

	ck_assert_msg(b64url_decode(s, &d, &len) == 0, "bad base64url \"%s\"", s);
	ck_assert_uint_eq(strlen((char *)d), len);
	return (char *)d;
}

static const char *member_str(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	ck_assert_msg(cJSON_IsString(m), "member %s missing or not a string", name);
	return m->valuestring;
}

/* Parsed flattened JWS: exactly protected, payload and signature. */
struct jws_parts {
	cJSON *root, *header;
	char *payload;
	char *signing_input;
	unsigned char *sig;
	size_t siglen;
};

static void jws_parse(const char *text, struct jws_parts *p)
{
	char *hdr;

	p->root = cJSON_Parse(text);
	ck_assert_ptr_nonnull(p->root);
	ck_assert_int_eq(cJSON_GetArraySize(p->root), 3);
	hdr = b64_decode_str(member_str(p->root, "protected"));
	p->header = cJSON_Parse(hdr);
	ck_assert_msg(p->header != NULL, "protected header is not JSON: %s", hdr);
	free(hdr);
	p->payload = b64_decode_str(member_str(p->root, "payload"));
	p->signing_input = xasprintf("%s.%s", member_str(p->root, "protected"),
	    member_str(p->root, "payload"));
	ck_assert_int_eq(b64url_decode(member_str(p->root, "signature"), &p->sig, &p->siglen), 0);
}

static void jws_parts_free(struct jws_parts *p)
{
	cJSON_Delete(p->root);
	cJSON_Delete(p->header);
	free(p->payload);
	free(p->signing_input);
	free(p->sig);
}

/* JWS signature check with OpenSSL only: raw r||s rebuilt into DER for EC. */
static int verify_with_openssl(EVP_PKEY *pub, const EVP_MD *md, const char *input,
    const unsigned char *sig, size_t siglen)
{
	unsigned char *der = NULL;
	const unsigned char *vs = sig;
	size_t vlen = siglen;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;

	if (EVP_PKEY_is_a(pub, "EC")) {
		ECDSA_SIG *es = ECDSA_SIG_new();
		int half = (EVP_PKEY_get_bits(pub) + 7) / 8;

		ck_assert_uint_eq(siglen, 2 * (size_t)half);
		ECDSA_SIG_set0(es, BN_bin2bn(sig, half, NULL), BN_bin2bn(sig + half, half, NULL));
		vlen = (size_t)i2d_ECDSA_SIG(es, &der);
		vs = der;
		ECDSA_SIG_free(es);
	}
	ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub) == 1 &&
	    EVP_DigestVerify(ctx, vs, vlen, (const unsigned char *)input, strlen(input)) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return ok;
}

START_TEST(test_thumbprint_rfc7638)
{
	char *tp = jwk_thumbprint_json(rfc7638_jwk);

	ck_assert_str_eq(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	free(tp);
	ck_assert_ptr_null(jwk_thumbprint_json(NULL));
}
END_TEST

START_TEST(test_thumbprint_keys)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		privkey_t *k = load_key(keys[i].file);
		char *tp = jwk_thumbprint(k);

		ck_assert_str_eq(tp, keys[i].thumbprint);
		free(tp);
		privkey_free(k);
	}
}
END_TEST

START_TEST(test_jws_jwk)
{
	static const char url[] = "https://ca.example/acme/new-acct";
	static const char payload[] = "{\"termsOfServiceAgreed\":true,"
				      "\"contact\":[\"mailto:ops@example.com\"]}";

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		privkey_t *k = load_key(keys[i].file);
		EVP_PKEY *pub = load_evp(keys[i].file);
		char *text = jws_sign(k, NULL, "nonce-abc_123", url, payload);
		char *jwk_text, *want_jwk = privkey_jwk_json(k);
		struct jws_parts p = { 0 };

		ck_assert_ptr_nonnull(text);
		jws_parse(text, &p);
		ck_assert_str_eq(member_str(p.header, "alg"), keys[i].alg);
		ck_assert_str_eq(member_str(p.header, "nonce"), "nonce-abc_123");
		ck_assert_str_eq(member_str(p.header, "url"), url);
		ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(p.header, "kid"));
		ck_assert_int_eq(cJSON_GetArraySize(p.header), 4);
		jwk_text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(p.header, "jwk"));
		ck_assert_str_eq(jwk_text, want_jwk);
		ck_assert_str_eq(p.payload, payload);

		ck_assert(verify_with_openssl(pub, keys[i].md(), p.signing_input, p.sig, p.siglen));
		p.signing_input[0] ^= 1; /* and the check itself can fail */
		ck_assert(!verify_with_openssl(pub, keys[i].md(), p.signing_input, p.sig,
		    p.siglen));

		cJSON_free(jwk_text);
		jws_parts_free(&p);
		free(want_jwk);
		free(text);
		EVP_PKEY_free(pub);
		privkey_free(k);
	}
}
END_TEST

START_TEST(test_jws_kid_post_as_get)
{
	static const char kid[] = "https://ca.example/acme/acct/12345";
	/* Characters JSON must escape, in case a CA sends them. */
	static const char url[] = "https://ca.example/acme/order/\"odd\\path";
	privkey_t *k = load_key(keys[0].file);
	EVP_PKEY *pub = load_evp(keys[0].file);
	char *text = jws_sign(k, kid, "n1", url, "");
	struct jws_parts p = { 0 };

	ck_assert_ptr_nonnull(text);
	jws_parse(text, &p);
	ck_assert_str_eq(member_str(p.root, "payload"), "");
	ck_assert_str_eq(p.payload, "");
	ck_assert_str_eq(member_str(p.header, "kid"), kid);
	ck_assert_str_eq(member_str(p.header, "url"), url);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(p.header, "jwk"));
	ck_assert_int_eq(cJSON_GetArraySize(p.header), 4);
	ck_assert(verify_with_openssl(pub, EVP_sha256(), p.signing_input, p.sig, p.siglen));
	jws_parts_free(&p);
	free(text);

	/* Inner key-change JWS: no nonce at all. */
	text = jws_sign(k, NULL, NULL, "https://ca.example/acme/key-change", "{}");
	jws_parse(text, &p);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(p.header, "nonce"));
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(p.header, "jwk"));
	ck_assert_int_eq(cJSON_GetArraySize(p.header), 3);
	jws_parts_free(&p);
	free(text);

	ck_assert_ptr_null(jws_sign(k, kid, "n", NULL, ""));
	ck_assert_ptr_null(jws_sign(k, kid, "n", url, NULL));
	EVP_PKEY_free(pub);
	privkey_free(k);
}
END_TEST

START_TEST(test_eab)
{
	static const char url[] = "https://acme.sectigo.com/v2/DV/newAccount";
	/* As SCM shows it: padded, standard alphabet. */
	static const char key_text[] = "c2VjcmV0LWhtYWMta2V5LWZvci10ZXN0aW5nLW9ubHkh+/8=";
	static const struct {
		enum hmac_alg alg;
		const char *name, *md;
		size_t maclen;
	} algs[] = {
		{ HMAC_HS256, "HS256", "SHA256", 32 },
		{ HMAC_HS384, "HS384", "SHA384", 48 },
		{ HMAC_HS512, "HS512", "SHA512", 64 },
	};
	privkey_t *k = load_key(keys[0].file);
	char *want_jwk = privkey_jwk_json(k);
	unsigned char *hk = NULL;
	size_t hlen;

	ck_assert_int_eq(b64url_decode(key_text, &hk, &hlen), 0);
	for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
		char *text = jws_eab("kid-42", hk, hlen, algs[i].alg, url, k);
		struct jws_parts p = { 0 };
		unsigned char mac[64];
		size_t maclen = 0;

		ck_assert_ptr_nonnull(text);
		jws_parse(text, &p);
		ck_assert_str_eq(member_str(p.header, "alg"), algs[i].name);
		ck_assert_str_eq(member_str(p.header, "kid"), "kid-42");
		ck_assert_str_eq(member_str(p.header, "url"), url);
		ck_assert_int_eq(cJSON_GetArraySize(p.header), 3); /* no nonce, no jwk */
		ck_assert_str_eq(p.payload, want_jwk);

		ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, algs[i].md, NULL, hk, hlen,
		    (const unsigned char *)p.signing_input, strlen(p.signing_input),
		    mac, sizeof(mac), &maclen));
		ck_assert_uint_eq(maclen, algs[i].maclen);
		ck_assert_uint_eq(p.siglen, maclen);
		ck_assert_int_eq(memcmp(p.sig, mac, maclen), 0);
		jws_parts_free(&p);
		free(text);
	}
	ck_assert_ptr_null(jws_eab("", hk, hlen, HMAC_HS256, url, k));
	ck_assert_ptr_null(jws_eab("kid", hk, 0, HMAC_HS256, url, k));
	ck_assert_ptr_null(jws_eab("kid", hk, hlen, HMAC_HS256, NULL, k));
	free_secret(hk, hlen);
	free(want_jwk);
	privkey_free(k);
}
END_TEST

START_TEST(test_key_authorization)
{
	privkey_t *k = load_key(keys[0].file);
	char *ka = jws_key_authorization("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", k);
	char *txt;

	ck_assert_str_eq(ka, "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0."
			     "AcBpuJ6oCzK3ttaIXuF2cYDHnRHTBPOj2Vts0rxKVsY");
	txt = jws_dns01_value(ka);
	ck_assert_str_eq(txt, "J6jSTRCyceKTWEQdsrDVE17gcIV745VuViZL2aXcFEE");
	free(txt);
	free(ka);
	/* A token that is not base64url never reaches a path or a TXT record. */
	ck_assert_ptr_null(jws_key_authorization("../../etc/passwd", k));
	ck_assert_ptr_null(jws_key_authorization("abc def", k));
	ck_assert_ptr_null(jws_key_authorization("", k));
	ck_assert_ptr_null(jws_key_authorization(NULL, k));
	ck_assert_ptr_null(jws_dns01_value(NULL));
	privkey_free(k);
}
END_TEST

static Suite *jws_suite(void)
{
	Suite *s = suite_create("jws");
	TCase *tc = tcase_create("jws");

	tcase_add_test(tc, test_thumbprint_rfc7638);
	tcase_add_test(tc, test_thumbprint_keys);
	tcase_add_test(tc, test_jws_jwk);
	tcase_add_test(tc, test_jws_kid_post_as_get);
	tcase_add_test(tc, test_eab);
	tcase_add_test(tc, test_key_authorization);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(jws_suite)
