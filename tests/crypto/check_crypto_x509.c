/*
 * check_crypto_x509.c - unit tests for crypto_x509.c: CSRs, certificate
 * parsing, chain splitting, the issued-certificate check and tls-alpn-01
 * certificates.
 *
 * Results are checked with OpenSSL calls made here, independently of the
 * code under test: CSRs parsed back and verified, certificate fields
 * compared with the fixtures of tests/data/crypto (made by gen.sh there:
 * root -> intermediate -> leaf, fixed dates and serials).
 */
#include <arpa/inet.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto.h"
#include "crypto_testutil.h"
#include "testutil.h"
#include "util.h"

/* 2026-01-01T00:00:00Z and 2126-01-01T00:00:00Z, the fixtures' validity. */
#define LEAF_NOT_BEFORE 1767225600LL
#define LEAF_NOT_AFTER 4922899200LL

static X509 *x509_from_pem_text(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);

	BIO_free(bio);
	ck_assert_ptr_nonnull(x);
	return x;
}

static struct strlist names_of(const char *const *v, size_t n)
{
	struct strlist l = { 0 };

	for (size_t i = 0; i < n; i++)
		strlist_add(&l, v[i]);
	return l;
}

/* The SAN of a CSR or certificate as "DNS:x" / "IP:y" entries. */
static struct strlist san_entries(const GENERAL_NAMES *gens)
{
	struct strlist l = { 0 };

	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		char ip[INET6_ADDRSTRLEN], *s;

		if (gn->type == GEN_DNS) {
			s = xasprintf("DNS:%.*s", ASN1_STRING_length(gn->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
		} else if (gn->type == GEN_IPADD) {
			int n = ASN1_STRING_length(gn->d.iPAddress);

			inet_ntop(n == 4 ? AF_INET : AF_INET6,
			    ASN1_STRING_get0_data(gn->d.iPAddress), ip, sizeof(ip));
			s = xasprintf("IP:%s", ip);
		} else {
			s = xstrdup("other");
		}
		strlist_add(&l, s);
		free(s);
	}
	return l;
}

static X509_REQ *csr_parse(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);

	ck_assert_ptr_nonnull(req);
	ck_assert(p == der + len);
	return req;
}

static char *subject_cn(const X509_NAME *n)
{
	char buf[256];

	if (X509_NAME_get_text_by_NID(n, NID_commonName, buf, sizeof(buf)) < 0)
		return NULL;
	return xstrdup(buf);
}

/* The CSR's subjectPublicKeyInfo, byte for byte the one OpenSSL encodes
 * for pub (csr_generate builds it without the encoder). */
static void assert_spki_of(X509_REQ *req, EVP_PKEY *pub)
{
	unsigned char *a = NULL, *b = NULL;
	int na = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &a);
	int nb = i2d_PUBKEY(pub, &b);

	ck_assert_int_gt(na, 0);
	ck_assert_int_eq(na, nb);
	ck_assert_mem_eq(a, b, (size_t)na);
	OPENSSL_free(a);
	OPENSSL_free(b);
}

START_TEST(test_csr)
{
	static const char *const names[] = { "www.example.com", "example.com", "192.0.2.7",
		"2001:db8::1", "*.example.com" };
	static const char *const want[] = { "DNS:www.example.com", "DNS:example.com",
		"IP:192.0.2.7", "IP:2001:db8::1", "DNS:*.example.com" };
	struct strlist l = names_of(names, ARRAY_SIZE(names));
	struct strlist w = names_of(want, ARRAY_SIZE(want)), got;
	size_t klen;
	char *kpem = fixture(FIX("leaf.key"), &klen), *cn;
	privkey_t *k = privkey_from_pem(kpem, klen);
	EVP_PKEY *pub = pkey_of(k), *rpub;
	unsigned char *der = NULL;
	size_t derlen;
	X509_REQ *req;
	STACK_OF(X509_EXTENSION) *exts;
	GENERAL_NAMES *gens;

	ck_assert_int_eq(csr_generate(k, &l, &der, &derlen), 0);
	req = csr_parse(der, derlen);
	rpub = X509_REQ_get0_pubkey(req);
	ck_assert_int_eq(X509_REQ_verify(req, rpub), 1);
	ck_assert_int_eq(EVP_PKEY_eq(rpub, pub), 1);
	assert_spki_of(req, pub);
	ck_assert_int_eq(X509_REQ_get_signature_nid(req), NID_ecdsa_with_SHA256);
	cn = subject_cn(X509_REQ_get_subject_name(req));
	ck_assert_str_eq(cn, "www.example.com");
	free(cn);
	exts = X509_REQ_get_extensions(req);
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	ck_assert_ptr_nonnull(gens);
	got = san_entries(gens);
	ck_assert_uint_eq(got.n, w.n);
	for (size_t i = 0; i < w.n; i++)
		ck_assert_str_eq(got.v[i], w.v[i]);
	strlist_free(&got);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	free(der);

	/* A first name over 64 characters cannot be a CN: SAN only. */
	strlist_free(&l);
	strlist_add(&l, "a-very-long-label-that-goes-on-and-on-and-on.sub.sub.sub.example.com");
	strlist_add(&l, "b.example.com");
	ck_assert_uint_gt(strlen(l.v[0]), 64);
	ck_assert_int_eq(csr_generate(k, &l, &der, &derlen), 0);
	req = csr_parse(der, derlen);
	ck_assert_ptr_null(subject_cn(X509_REQ_get_subject_name(req)));
	exts = X509_REQ_get_extensions(req);
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	ck_assert_int_eq(sk_GENERAL_NAME_num(gens), 2);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	free(der);

	/* Refused: no names, a name with a space, a non-ASCII name. */
	strlist_free(&l);
	ck_assert_int_eq(csr_generate(k, &l, &der, &derlen), -1);
	ck_assert_ptr_null(der);
	strlist_add(&l, "ok.example.com");
	strlist_add(&l, "bad name.example.com");
	ck_assert_int_eq(csr_generate(k, &l, &der, &derlen), -1);
	strlist_free(&l);
	strlist_add(&l, "b\xc3\xbc" "cher.example");
	ck_assert_int_eq(csr_generate(k, &l, &der, &derlen), -1);

	strlist_free(&l);
	strlist_free(&w);
	EVP_PKEY_free(pub);
	privkey_free(k);
	free(kpem);
}
END_TEST

/* A CSR for k over names: it parses, verifies, is signed with sig_nid, and
 * carries k's SubjectPublicKeyInfo. */
static void
assert_csr_of(privkey_t *k, const struct strlist *names, int sig_nid)
{
	unsigned char *der = NULL;
	size_t derlen;
	X509_REQ *req;
	EVP_PKEY *pub;

	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(csr_generate(k, names, &der, &derlen), 0);
	req = csr_parse(der, derlen);
	ck_assert_int_eq(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
	ck_assert_int_eq(X509_REQ_get_signature_nid(req), sig_nid);
	pub = pkey_of(k);
	assert_spki_of(req, pub);
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
	free(der);
}

START_TEST(test_csr_rsa)
{
	static const char *const names[] = { "rsa.example.com" };
	struct strlist l = names_of(names, 1);
	size_t klen;
	char *kpem = fixture(FIX("rsa2048-pkcs1.key"), &klen);
	privkey_t *k = privkey_from_pem(kpem, klen);

	assert_csr_of(k, &l, NID_sha256WithRSAEncryption);
	privkey_free(k);
	free(kpem);
	/* Generated keys of the other types, RSA 3072 (a modulus whose DER
	 * length takes two bytes, like 2048's) and P-384. */
	k = privkey_generate(KEY_RSA_3072);
	assert_csr_of(k, &l, NID_sha256WithRSAEncryption);
	privkey_free(k);
	k = privkey_generate(KEY_EC_P384);
	assert_csr_of(k, &l, NID_ecdsa_with_SHA256);
	privkey_free(k);
	strlist_free(&l);
}
END_TEST

START_TEST(test_cert_info)
{
	static const unsigned char serial[] = { 0x00, 0x8a, 1, 2, 3, 4, 5, 6, 7, 8 };
	size_t len;
	char *pem = fixture(FIX("leaf.pem"), &len), *ipem = fixture(FIX("int.pem"), NULL);
	X509 *ix = x509_from_pem_text(ipem);
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ix);
	struct cert_info ci;

	ck_assert_int_eq(cert_info_from_pem(pem, len, &ci), 0);
	ck_assert_str_eq(ci.serial_hex, "8A0102030405060708");
	ck_assert_uint_eq(ci.serial_len, sizeof(serial));
	ck_assert_int_eq(memcmp(ci.serial, serial, sizeof(serial)), 0);
	ck_assert_ptr_nonnull(ski);
	ck_assert_uint_eq(ci.aki_len, (size_t)ASN1_STRING_length(ski));
	ck_assert_int_eq(memcmp(ci.aki, ASN1_STRING_get0_data(ski), ci.aki_len), 0);
	ck_assert_int_eq((long long)ci.not_before, LEAF_NOT_BEFORE);
	ck_assert_int_eq((long long)ci.not_after, LEAF_NOT_AFTER);
	ck_assert_uint_eq(ci.names.n, 3);
	ck_assert_str_eq(ci.names.v[0], "www.example.com");
	ck_assert_str_eq(ci.names.v[1], "example.com"); /* lower-cased */
	ck_assert_str_eq(ci.names.v[2], "192.0.2.1");
	ck_assert_str_eq(ci.issuer_cn, "certfleet test intermediate");
	ck_assert_str_eq(ci.subject_cn, "www.example.com");
	cert_info_free(&ci);
	ck_assert_ptr_null(ci.serial_hex);
	cert_info_free(NULL);
	free(pem);

	/* The root has no AKI and no SAN. */
	pem = fixture(FIX("ca.pem"), &len);
	ck_assert_int_eq(cert_info_from_pem(pem, len, &ci), 0);
	ck_assert_ptr_null(ci.aki);
	ck_assert_uint_eq(ci.names.n, 0);
	ck_assert_str_eq(ci.serial_hex, "01");
	cert_info_free(&ci);
	free(pem);

	ck_assert_int_eq(cert_info_from_pem("nothing here", 12, &ci), -1);
	X509_free(ix);
	free(ipem);
}
END_TEST

struct chain_fixture {
	char *leaf, *inter, *root, *expired, *key;
	size_t keylen;
	privkey_t *k;
};

static void chain_fixture_load(struct chain_fixture *f)
{
	f->leaf = fixture(FIX("leaf.pem"), NULL);
	f->inter = fixture(FIX("int.pem"), NULL);
	f->root = fixture(FIX("ca.pem"), NULL);
	f->expired = fixture(FIX("leaf-expired.pem"), NULL);
	f->key = fixture(FIX("leaf.key"), &f->keylen);
	f->k = privkey_from_pem(f->key, f->keylen);
	ck_assert_ptr_nonnull(f->k);
}

static void chain_fixture_free(struct chain_fixture *f)
{
	free(f->leaf);
	free(f->inter);
	free(f->root);
	free(f->expired);
	free(f->key);
	privkey_free(f->k);
}

START_TEST(test_split_chain)
{
	struct chain_fixture f;
	char *text, *leaf, *chain, *full, err[256], *want;
	static const char *const garbage[] = {
		"",
		"not a certificate at all",
		"-----BEGIN CERTIFICATE-----\nMIIB\n",
		"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
		"-----BEGIN PRIVATE KEY-----\naGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n",
		"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
	};

	chain_fixture_load(&f);
	/* Blank lines and text between blocks, as some CAs send. */
	text = xasprintf("%s\n\n%sjunk between blocks\n%s", f.leaf, f.inter, f.root);
	ck_assert_int_eq(cert_split_chain(text, strlen(text), &leaf, &chain, &full,
	    err, sizeof(err)), 0);
	ck_assert_str_eq(leaf, f.leaf);
	want = xasprintf("%s%s", f.inter, f.root);
	ck_assert_str_eq(chain, want);
	free(want);
	want = xasprintf("%s%s%s", f.leaf, f.inter, f.root);
	ck_assert_str_eq(full, want);
	free(want);
	free(leaf);
	free(chain);
	free(full);
	free(text);

	ck_assert_int_eq(cert_split_chain(f.leaf, strlen(f.leaf), &leaf, &chain, &full,
	    err, sizeof(err)), 0);
	ck_assert_str_eq(leaf, f.leaf);
	ck_assert_str_eq(chain, "");
	ck_assert_str_eq(full, f.leaf);
	free(leaf);
	free(chain);
	free(full);

	for (size_t i = 0; i < ARRAY_SIZE(garbage); i++) {
		text = xasprintf("%s%s", i >= 2 ? f.leaf : "", garbage[i]);
		err[0] = '\0';
		ck_assert_msg(cert_split_chain(text, strlen(text), &leaf, &chain, &full,
		    err, sizeof(err)) == -1, "accepted garbage %zu", i);
		ck_assert_ptr_null(leaf);
		ck_assert_ptr_null(chain);
		ck_assert_ptr_null(full);
		ck_assert_msg(err[0] != '\0', "no reason for garbage %zu", i);
		free(text);
	}
	chain_fixture_free(&f);
}
END_TEST

static int check(const char *pem, const privkey_t *k, const char *const *names, size_t n,
    char *err, size_t errlen)
{
	struct strlist l = names_of(names, n);
	struct cert_info ci;
	int rc;

	err[0] = '\0';
	rc = cert_check_issued(pem, strlen(pem), k, &l, &ci, err, errlen);
	if (rc == 0) {
		ck_assert_str_eq(ci.serial_hex, "8A0102030405060708");
		ck_assert_int_eq((long long)ci.not_after, LEAF_NOT_AFTER);
	} else {
		ck_assert_ptr_null(ci.serial_hex);
		ck_assert_msg(err[0] != '\0', "rejected without a reason");
	}
	cert_info_free(&ci);
	strlist_free(&l);
	return rc;
}

START_TEST(test_check_issued)
{
	static const char *const good[] = { "EXAMPLE.com", "192.0.2.1", "www.example.com" };
	static const char *const missing[] = { "www.example.com", "example.com" };
	static const char *const extra[] = { "www.example.com", "example.com", "192.0.2.1",
		"mail.example.com" };
	static const char *const other[] = { "www.example.org", "example.com", "192.0.2.1" };
	struct chain_fixture f;
	privkey_t *wrong = privkey_generate(KEY_EC_P256);
	char *text, err[512];

	chain_fixture_load(&f);
	text = xasprintf("%s%s", f.leaf, f.inter);
	ck_assert_int_eq(check(text, f.k, good, ARRAY_SIZE(good), err, sizeof(err)), 0);
	ck_assert_int_eq(check(f.leaf, f.k, good, ARRAY_SIZE(good), err, sizeof(err)), 0);

	ck_assert_int_eq(check(text, wrong, good, ARRAY_SIZE(good), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "key"));
	ck_assert_int_eq(check(text, f.k, missing, ARRAY_SIZE(missing), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "names"));
	ck_assert_int_eq(check(text, f.k, extra, ARRAY_SIZE(extra), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "mail.example.com"));
	ck_assert_int_eq(check(text, f.k, other, ARRAY_SIZE(other), err, sizeof(err)), -1);
	ck_assert_int_eq(check(text, f.k, good, 0, err, sizeof(err)), -1);
	free(text);

	/* A broken block anywhere in the chain. */
	text = xasprintf("%s%s-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n",
	    f.leaf, f.inter);
	ck_assert_int_eq(check(text, f.k, good, ARRAY_SIZE(good), err, sizeof(err)), -1);
	free(text);
	ck_assert_int_eq(check("garbage", f.k, good, ARRAY_SIZE(good), err, sizeof(err)), -1);

	/* Second certificate did not issue the leaf. */
	text = xasprintf("%s%s", f.leaf, f.root);
	ck_assert_int_eq(check(text, f.k, good, ARRAY_SIZE(good), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "issued"));
	free(text);

	/* Expired (2020-2021), otherwise right. */
	text = xasprintf("%s%s", f.expired, f.inter);
	ck_assert_int_eq(check(text, f.k, good, ARRAY_SIZE(good), err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "expired"));
	free(text);

	privkey_free(wrong);
	chain_fixture_free(&f);
}
END_TEST

START_TEST(test_pem_to_der)
{
	char *pem = fixture(FIX("leaf.pem"), NULL);
	X509 *x = x509_from_pem_text(pem);
	unsigned char *want = NULL, *der = NULL;
	int wlen = i2d_X509(x, &want);
	size_t derlen;

	ck_assert_int_gt(wlen, 0);
	ck_assert_int_eq(cert_pem_to_der(pem, strlen(pem), &der, &derlen), 0);
	ck_assert_uint_eq(derlen, (size_t)wlen);
	ck_assert_int_eq(memcmp(der, want, derlen), 0);
	free(der);
	ck_assert_int_eq(cert_pem_to_der("x", 1, &der, &derlen), -1);
	ck_assert_ptr_null(der);
	OPENSSL_free(want);
	X509_free(x);
	free(pem);
}
END_TEST

static void check_tlsalpn(const char *name, const char *san_entry)
{
	static const char keyauth[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA."
				      "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
	char *cert = NULL, *key = NULL;
	X509 *x;
	EVP_PKEY *kp;
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *val;
	unsigned char want[34];
	GENERAL_NAMES *gens;
	struct strlist sans;
	int idx;

	ck_assert_int_eq(crypto_tlsalpn_cert(name, keyauth, &cert, &key), 0);
	x = x509_from_pem_text(cert);
	kp = pkey_from_pem_text(key);
	ck_assert(EVP_PKEY_is_a(kp, "EC"));
	ck_assert_int_eq(EVP_PKEY_get_bits(kp), 256);
	ck_assert_int_eq(X509_check_private_key(x, kp), 1);
	/* Self-signed. */
	ck_assert_int_eq(X509_verify(x, X509_get0_pubkey(x)), 1);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);

	idx = X509_get_ext_by_OBJ(x, oid, -1);
	ck_assert_int_ge(idx, 0);
	ext = X509_get_ext(x, idx);
	ck_assert_int_eq(X509_EXTENSION_get_critical(ext), 1);
	val = X509_EXTENSION_get_data(ext);
	want[0] = 0x04;
	want[1] = 32;
	EVP_Digest(keyauth, strlen(keyauth), want + 2, NULL, EVP_sha256(), NULL);
	ck_assert_int_eq(ASN1_STRING_length(val), (int)sizeof(want));
	ck_assert_int_eq(memcmp(ASN1_STRING_get0_data(val), want, sizeof(want)), 0);

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	sans = san_entries(gens);
	ck_assert_uint_eq(sans.n, 1);
	ck_assert_str_eq(sans.v[0], san_entry);

	strlist_free(&sans);
	GENERAL_NAMES_free(gens);
	ASN1_OBJECT_free(oid);
	EVP_PKEY_free(kp);
	X509_free(x);
	free(cert);
	free_secret_str(key);
}

START_TEST(test_tlsalpn)
{
	char *cert = NULL, *key = NULL;

	check_tlsalpn("www.example.com", "DNS:www.example.com");
	check_tlsalpn("192.0.2.44", "IP:192.0.2.44");
	ck_assert_int_eq(crypto_tlsalpn_cert("bad name", "x.y", &cert, &key), -1);
	ck_assert_ptr_null(cert);
	ck_assert_ptr_null(key);
}
END_TEST

static Suite *crypto_x509_suite(void)
{
	Suite *s = suite_create("crypto_x509");
	TCase *x509 = tcase_create("x509");

	tcase_add_test(x509, test_csr);
	tcase_add_test(x509, test_csr_rsa);
	tcase_add_test(x509, test_cert_info);
	tcase_add_test(x509, test_split_chain);
	tcase_add_test(x509, test_check_issued);
	tcase_add_test(x509, test_pem_to_der);
	tcase_add_test(x509, test_tlsalpn);
	suite_add_tcase(s, x509);
	return s;
}

CHECK_MAIN(crypto_x509_suite)
