/*
 * crypto_x509.c - CSRs, issued certificates and tls-alpn-01 certificates.
 *
 * The half of the crypto module that speaks X.509 (crypto.c holds keys and
 * signatures).  Every issued chain goes through cert_check_issued() before
 * it replaces a working certificate, so the checks here are what stands
 * between a CA mistake and an outage on the host.
 *
 * Identifiers are DNS names or, per RFC 8738, IP addresses in text form; a
 * name that parses as an address becomes an iPAddress SAN.
 */
#include "crypto.h"
#include "crypto_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "log.h"

/* RFC 5280 ub-common-name: longer first names get no CN, only the SAN. */
#define CN_MAX 64
/* id-pe-acmeIdentifier, RFC 8737 section 6.1. */
#define OID_ACME_IDENTIFIER "1.3.6.1.5.5.7.1.31"

/* A GENERAL_NAME for an identifier: iPAddress if it parses as one, else dNSName. */
static GENERAL_NAME *general_name_new(const char *name)
{
	GENERAL_NAME *gn = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_IA5STRING *dns = NULL;
	unsigned char addr[16];

	if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1) {
		size_t alen = strchr(name, ':') ? 16 : 4;

		if ((ip = ASN1_OCTET_STRING_new()) == NULL ||
		    !ASN1_OCTET_STRING_set(ip, addr, (int)alen) ||
		    (gn = GENERAL_NAME_new()) == NULL) {
			ASN1_OCTET_STRING_free(ip);
			return NULL;
		}
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
		return gn;
	}
	if ((dns = ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(dns, name, (int)strlen(name)) ||
	    (gn = GENERAL_NAME_new()) == NULL) {
		ASN1_IA5STRING_free(dns);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
	return gn;
}

/* Refuses names that cannot be an IA5String DNS name (IDNs must be A-labels). */
static int name_is_sane(const char *name)
{
	if (name == NULL || *name == '\0' || strlen(name) > 253 + 2)
		return 0;
	for (const char *p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= 0x20 || c >= 0x7f)
			return 0;
	}
	return 1;
}

static GENERAL_NAMES *san_new(const struct strlist *names)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();

	if (gens == NULL)
		return NULL;
	for (size_t i = 0; i < names->n; i++) {
		GENERAL_NAME *gn = general_name_new(names->v[i]);

		if (gn == NULL || !sk_GENERAL_NAME_push(gens, gn)) {
			GENERAL_NAME_free(gn);
			GENERAL_NAMES_free(gens);
			return NULL;
		}
	}
	return gens;
}

/*
 * Sets req's subjectPublicKeyInfo from k's public parameters.
 *
 * X509_REQ_set_pubkey() encodes the key with OpenSSL 3's encoder framework
 * and decodes it straight back with the decoder framework: together a
 * sixth of the daemon's CPU per issuance.  An SPKI is only an algorithm
 * identifier and the public key's bytes (RFC 5480 for EC, RFC 8017 A.1.1
 * for RSA), so they are set directly.  The tests compare the result with
 * i2d_PUBKEY()'s.
 */
static size_t der_put_len(unsigned char *p, size_t n)
{
	size_t k = 0;

	if (n < 0x80) {
		p[0] = (unsigned char)n;
		return 1;
	}
	for (size_t t = n; t > 0; t >>= 8)
		k++;
	p[0] = (unsigned char)(0x80 | k);
	for (size_t i = 0; i < k; i++)
		p[1 + i] = (unsigned char)(n >> (8 * (k - 1 - i)));
	return 1 + k;
}

/* DER INTEGER of the big-endian magnitude m[0..n) at p; p has n + 8 bytes. */
static size_t der_put_uint(unsigned char *p, const unsigned char *m, size_t n)
{
	size_t pad, off;

	while (n > 1 && m[0] == 0) {
		m++;
		n--;
	}
	pad = n == 0 || (m[0] & 0x80) ? 1 : 0;
	p[0] = V_ASN1_INTEGER;
	off = 1 + der_put_len(p + 1, n + pad);
	if (pad)
		p[off] = 0;
	memcpy(p + off + pad, m, n);
	return off + pad + n;
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } */
static unsigned char *rsa_public_key_der(const privkey_t *k, int *outlen)
{
	BIGNUM *n = NULL, *e = NULL;
	unsigned char *mn = NULL, *me = NULL, *body = NULL, *der = NULL;
	size_t ln, le, blen, off;

	if (!EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &e))
		goto out;
	ln = (size_t)BN_num_bytes(n);
	le = (size_t)BN_num_bytes(e);
	mn = xmalloc(ln + 1);
	me = xmalloc(le + 1);
	if (BN_bn2bin(n, mn) != (int)ln || BN_bn2bin(e, me) != (int)le)
		goto out;
	body = xmalloc(ln + le + 16);
	blen = der_put_uint(body, mn, ln);
	blen += der_put_uint(body + blen, me, le);
	der = OPENSSL_malloc(blen + 8);
	if (der == NULL)
		goto out;
	der[0] = V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED;
	off = 1 + der_put_len(der + 1, blen);
	memcpy(der + off, body, blen);
	*outlen = (int)(off + blen);
out:
	BN_free(n);
	BN_free(e);
	free(mn);
	free(me);
	free(body);
	return der;
}

/* The request's own EVP_PKEY stays unset (OpenSSL does not rebuild it from
 * the bytes): X509_REQ_get0_pubkey() and X509_REQ_check_private_key() on
 * req give NULL and 0.  Nothing here needs them; a check of the request
 * must parse its DER or be given k. */
static int req_set_spki(X509_REQ *req, const privkey_t *k)
{
	X509_PUBKEY *xpk = X509_REQ_get_X509_PUBKEY(req);
	unsigned char *bits = NULL;
	size_t len = 0;
	int ilen = 0;

	if (xpk == NULL)
		return 0;
	switch (k->type) {
	case KEY_EC_P256:
	case KEY_EC_P384: {
		unsigned char point[1 + 2 * 66];
		int curve = k->type == KEY_EC_P256 ? NID_X9_62_prime256v1 : NID_secp384r1;

		if (!EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, point,
		    sizeof(point), &len) || (bits = OPENSSL_memdup(point, len)) == NULL)
			return 0;
		if (!X509_PUBKEY_set0_param(xpk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey),
		    V_ASN1_OBJECT, OBJ_nid2obj(curve), bits, (int)len)) {
			OPENSSL_free(bits);
			return 0;
		}
		return 1;
	}
	case KEY_RSA_2048:
	case KEY_RSA_3072:
	case KEY_RSA_4096:
		if ((bits = rsa_public_key_der(k, &ilen)) == NULL)
			return 0;
		if (!X509_PUBKEY_set0_param(xpk, OBJ_nid2obj(NID_rsaEncryption), V_ASN1_NULL,
		    NULL, bits, ilen)) {
			OPENSSL_free(bits);
			return 0;
		}
		return 1;
	default:
		return X509_REQ_set_pubkey(req, k->pkey);
	}
}

int csr_generate(const privkey_t *k, const struct strlist *names,
    unsigned char **der, size_t *derlen)
{
	X509_REQ *req = NULL;
	X509_NAME *subj = NULL;
	GENERAL_NAMES *gens = NULL;
	X509_EXTENSION *ext = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	unsigned char *buf = NULL;
	char e[256];
	int n, rc = -1;

	*der = NULL;
	*derlen = 0;
	if (names == NULL || names->n == 0) {
		log_err("cannot build a CSR without names");
		goto out;
	}
	for (size_t i = 0; i < names->n; i++) {
		if (!name_is_sane(names->v[i])) {
			log_err("CSR for %s: invalid name \"%s\" (IDNs must be given as xn-- A-labels)",
			    names->v[0], names->v[i]);
			goto out;
		}
	}
	if ((req = X509_REQ_new()) == NULL || !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    (subj = X509_NAME_new()) == NULL)
		goto ossl_fail;
	if (strlen(names->v[0]) <= CN_MAX &&
	    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8,
	    (const unsigned char *)names->v[0], -1, -1, 0))
		goto ossl_fail;
	if (!X509_REQ_set_subject_name(req, subj) ||
	    !req_set_spki(req, k) ||
	    (gens = san_new(names)) == NULL ||
	    (ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) == NULL ||
	    (exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    !sk_X509_EXTENSION_push(exts, ext))
		goto ossl_fail;
	ext = NULL; /* owned by exts */
	if (!X509_REQ_add_extensions(req, exts) ||
	    X509_REQ_sign(req, k->pkey, EVP_sha256()) <= 0 ||
	    (n = i2d_X509_REQ(req, &buf)) <= 0)
		goto ossl_fail;
	*der = xmalloc((size_t)n);
	memcpy(*der, buf, (size_t)n);
	*derlen = (size_t)n;
	rc = 0;
	goto out;
ossl_fail:
	log_err("cannot build CSR for %s: %s", names->v[0], crypto_ossl_error(e, sizeof(e)));
out:
	OPENSSL_free(buf);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_EXTENSION_free(ext);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(subj);
	X509_REQ_free(req);
	return rc;
}

/* ---- certificates ---- */

void cert_info_free(struct cert_info *ci)
{
	if (ci == NULL)
		return;
	free(ci->serial_hex);
	free(ci->serial);
	free(ci->aki);
	strlist_free(&ci->names);
	free(ci->issuer_cn);
	free(ci->subject_cn);
	memset(ci, 0, sizeof(*ci));
}

static int asn1_time_to_time_t(const ASN1_TIME *at, time_t *out)
{
	struct tm tm;

	if (at == NULL || !ASN1_TIME_to_tm(at, &tm))
		return -1;
	*out = timegm(&tm);
	return 0;
}

static char *name_cn(const X509_NAME *name)
{
	int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *s = NULL;
	int n;

	if (idx < 0)
		return NULL;
	n = ASN1_STRING_to_UTF8(&utf8,
	    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	if (n < 0)
		return NULL;
	s = xstrndup((const char *)utf8, (size_t)n);
	OPENSSL_free(utf8);
	return s;
}

/* SAN dNSNames (lower-cased) and iPAddresses (as text) into names. */
static int cert_names(X509 *x, struct strlist *names, char *err, size_t errlen)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int rc = -1;

	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		int type;
		void *v = GENERAL_NAME_get0_value(gn, &type);
		const unsigned char *d;
		char text[INET6_ADDRSTRLEN];
		int len;

		if (type == GEN_DNS) {
			d = ASN1_STRING_get0_data(v);
			len = ASN1_STRING_length(v);
			if (memchr(d, '\0', (size_t)len) != NULL) {
				snprintf(err, errlen, "certificate has a DNS name with a NUL byte");
				goto out;
			}
			char *s = xstrndup((const char *)d, (size_t)len);
			for (char *p = s; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			strlist_add(names, s);
			free(s);
		} else if (type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(v);
			len = ASN1_STRING_length(v);
			if ((len != 4 && len != 16) ||
			    inet_ntop(len == 4 ? AF_INET : AF_INET6, d, text, sizeof(text)) == NULL) {
				snprintf(err, errlen, "certificate has a malformed IP address SAN");
				goto out;
			}
			strlist_add(names, text);
		}
	}
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

/* Content octets of the serial's DER INTEGER, as ARI's certID wants them. */
static int serial_der_content(const ASN1_INTEGER *ai, unsigned char **out, size_t *outlen)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	long clen;
	int tag, xclass, n, rc = -1;

	if ((n = i2d_ASN1_INTEGER(ai, &der)) <= 0)
		goto out;
	p = der;
	if (ASN1_get_object(&p, &clen, &tag, &xclass, n) & 0x80 ||
	    tag != V_ASN1_INTEGER || clen <= 0)
		goto out;
	*out = xmalloc((size_t)clen);
	memcpy(*out, p, (size_t)clen);
	*outlen = (size_t)clen;
	rc = 0;
out:
	OPENSSL_free(der);
	return rc;
}

static int cert_info_from_x509(X509 *x, struct cert_info *ci, char *err, size_t errlen)
{
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int rc = -1;

	memset(ci, 0, sizeof(*ci));
	if (serial == NULL || (bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL ||
	    (hex = BN_bn2hex(bn)) == NULL ||
	    serial_der_content(serial, &ci->serial, &ci->serial_len) < 0) {
		snprintf(err, errlen, "certificate serial number does not parse");
		goto out;
	}
	ci->serial_hex = xstrdup(hex);
	if (aki != NULL && ASN1_STRING_length(aki) > 0) {
		ci->aki_len = (size_t)ASN1_STRING_length(aki);
		ci->aki = xmalloc(ci->aki_len);
		memcpy(ci->aki, ASN1_STRING_get0_data(aki), ci->aki_len);
	}
	if (asn1_time_to_time_t(X509_get0_notBefore(x), &ci->not_before) < 0 ||
	    asn1_time_to_time_t(X509_get0_notAfter(x), &ci->not_after) < 0) {
		snprintf(err, errlen, "certificate validity dates do not parse");
		goto out;
	}
	if (cert_names(x, &ci->names, err, errlen) < 0)
		goto out;
	ci->issuer_cn = name_cn(X509_get_issuer_name(x));
	ci->subject_cn = name_cn(X509_get_subject_name(x));
	rc = 0;
out:
	if (rc < 0)
		cert_info_free(ci);
	ERR_clear_error();
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

/*
 * The issuers a CA sends change rarely: most chains repeat the one before
 * byte for byte.  Parsing a certificate costs OpenSSL 3 a public-key
 * decoder lookup (about half of parsing an issued chain), so the few last
 * issuers seen are kept parsed, keyed by their DER bytes, and handed out
 * with a reference of their own.  Only blocks after the first (the leaf,
 * new every time) go in.  The lock because the ctl and the fleet may
 * parse from more than one thread; the cache lives until exit.
 */
#define ISSUER_CACHE_MAX 4
static struct {
	unsigned char *der;
	long len;
	X509 *x;
} issuer_cache[ISSUER_CACHE_MAX];
static unsigned issuer_cache_next;
static pthread_mutex_t issuer_cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* A new reference to the cached certificate of exactly these bytes, or NULL. */
static X509 *issuer_cache_get(const unsigned char *der, long len)
{
	X509 *x = NULL;

	pthread_mutex_lock(&issuer_cache_lock);
	for (unsigned i = 0; i < ISSUER_CACHE_MAX; i++) {
		if (issuer_cache[i].x != NULL && issuer_cache[i].len == len &&
		    memcmp(issuer_cache[i].der, der, (size_t)len) == 0) {
			if (X509_up_ref(issuer_cache[i].x))
				x = issuer_cache[i].x;
			break;
		}
	}
	pthread_mutex_unlock(&issuer_cache_lock);
	return x;
}

/* Remembers x (parsed from der), replacing the oldest entry. */
static void issuer_cache_put(const unsigned char *der, long len, X509 *x)
{
	unsigned i;

	if (!X509_up_ref(x))
		return;
	pthread_mutex_lock(&issuer_cache_lock);
	i = issuer_cache_next++ % ISSUER_CACHE_MAX;
	X509_free(issuer_cache[i].x);
	free(issuer_cache[i].der);
	issuer_cache[i].der = xmalloc((size_t)len);
	memcpy(issuer_cache[i].der, der, (size_t)len);
	issuer_cache[i].len = len;
	issuer_cache[i].x = x;
	pthread_mutex_unlock(&issuer_cache_lock);
}

/*
 * Parses every PEM block of text into certificates.  Anything but
 * CERTIFICATE blocks is refused: RFC 8555 9.1 allows nothing else, and a
 * stray key in a chain file would be published with it.
 */
static STACK_OF(X509) *pem_parse_all(const char *pem, size_t len, char *err, size_t errlen)
{
	STACK_OF(X509) *sk = NULL;
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen;
	char e[256];
	bool ok = false;

	if (pem == NULL || len > INT_MAX) {
		snprintf(err, errlen, "certificate text missing or too large");
		goto out;
	}
	if ((sk = sk_X509_new_null()) == NULL || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		snprintf(err, errlen, "%s", crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	ERR_clear_error();
	for (;;) {
		const unsigned char *p;
		X509 *x;
		int n = sk_X509_num(sk) + 1;

		if (!PEM_read_bio(bio, &name, &header, &data, &dlen)) {
			unsigned long ec = ERR_peek_last_error();

			if (ERR_GET_LIB(ec) == ERR_LIB_PEM &&
			    ERR_GET_REASON(ec) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				break;
			}
			snprintf(err, errlen, "PEM block %d is malformed: %s", n,
			    crypto_ossl_error(e, sizeof(e)));
			goto out;
		}
		if (strcmp(name, PEM_STRING_X509) != 0) {
			snprintf(err, errlen, "PEM block %d is a %s, not a CERTIFICATE", n, name);
			goto out;
		}
		p = data;
		if (n > 1 && (x = issuer_cache_get(data, dlen)) != NULL) {
			/* The same bytes as an issuer parsed before. */
		} else if ((x = d2i_X509(NULL, &p, dlen)) == NULL || p != data + dlen) {
			X509_free(x);
			snprintf(err, errlen, "certificate %d does not parse: %s", n,
			    crypto_ossl_error(e, sizeof(e)));
			goto out;
		} else if (n > 1) {
			issuer_cache_put(data, dlen, x);
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	if (sk_X509_num(sk) == 0) {
		snprintf(err, errlen, "no certificate in the text");
		goto out;
	}
	ok = true;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	if (!ok) {
		sk_X509_pop_free(sk, X509_free);
		sk = NULL;
	}
	return sk;
}

int cert_info_from_pem(const char *pem, size_t len, struct cert_info *out)
{
	STACK_OF(X509) *sk = NULL;
	char err[256];
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((sk = pem_parse_all(pem, len, err, sizeof(err))) == NULL ||
	    cert_info_from_x509(sk_X509_value(sk, 0), out, err, sizeof(err)) < 0) {
		log_err("certificate: %s", err);
		goto out;
	}
	rc = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

/* PEM of certificates [from, to) of sk; "" when the range is empty. */
static char *pem_encode_range(STACK_OF(X509) *sk, int from, int to)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s = NULL;
	long n;

	if (bio == NULL)
		return NULL;
	for (int i = from; i < to; i++)
		if (!PEM_write_bio_X509(bio, sk_X509_value(sk, i)))
			goto out;
	n = BIO_get_mem_data(bio, &data);
	s = xstrndup(n > 0 ? data : "", n > 0 ? (size_t)n : 0);
out:
	BIO_free(bio);
	return s;
}

/* The split of cert_split_chain, on certificates parsed already. */
static int split_sk(STACK_OF(X509) *sk, char **leaf, char **chain, char **fullchain,
    char *err, size_t errlen)
{
	char *l = NULL, *c = NULL, *f = NULL;
	char e[256];
	int n, rc = -1;

	*leaf = *chain = *fullchain = NULL;
	n = sk_X509_num(sk);
	if ((l = pem_encode_range(sk, 0, 1)) == NULL ||
	    (c = pem_encode_range(sk, 1, n)) == NULL ||
	    (f = pem_encode_range(sk, 0, n)) == NULL) {
		snprintf(err, errlen, "cannot re-encode certificates: %s",
		    crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	*leaf = l;
	*chain = c;
	*fullchain = f;
	l = c = f = NULL;
	rc = 0;
out:
	free(l);
	free(c);
	free(f);
	return rc;
}

int cert_split_chain(const char *pem, size_t len, char **leaf, char **chain,
    char **fullchain, char *err, size_t errlen)
{
	STACK_OF(X509) *sk;
	int rc;

	*leaf = *chain = *fullchain = NULL;
	if ((sk = pem_parse_all(pem, len, err, errlen)) == NULL)
		return -1;
	rc = split_sk(sk, leaf, chain, fullchain, err, errlen);
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

/* The checks of cert_check_issued, on certificates parsed already. */
static int check_issued_sk(STACK_OF(X509) *sk, const privkey_t *k,
    const struct strlist *names, struct cert_info *info, char *err, size_t errlen)
{
	struct cert_info ci = { 0 };
	X509 *x;
	EVP_PKEY *pub;
	char *want = NULL, *got = NULL;
	int rc = -1;

	memset(info, 0, sizeof(*info));
	x = sk_X509_value(sk, 0);
	if (cert_info_from_x509(x, &ci, err, errlen) < 0)
		goto out;
	if ((pub = X509_get0_pubkey(x)) == NULL || EVP_PKEY_eq(pub, k->pkey) != 1) {
		snprintf(err, errlen, "certificate %s is not for our %s key", ci.serial_hex,
		    key_type_name(k->type));
		goto out;
	}
	if (names == NULL || names->n == 0 || !strlist_equal_sorted(&ci.names, names)) {
		want = names ? strlist_join(names, ",") : xstrdup("");
		got = strlist_join(&ci.names, ",");
		snprintf(err, errlen, "certificate %s names [%s] but [%s] were requested",
		    ci.serial_hex, got, want);
		goto out;
	}
	if (ci.not_after <= time(NULL)) {
		snprintf(err, errlen, "certificate %s has already expired", ci.serial_hex);
		goto out;
	}
	/*
	 * The CA must send the leaf first, then its issuer (RFC 8555 9.1).  A
	 * chain whose second certificate did not sign the leaf would break
	 * clients, so it is refused.  No intermediate is pinned.
	 */
	if (sk_X509_num(sk) > 1) {
		X509 *issuer = sk_X509_value(sk, 1);
		EVP_PKEY *ipub = X509_get0_pubkey(issuer);

		if (X509_check_issued(issuer, x) != X509_V_OK || ipub == NULL ||
		    X509_verify(x, ipub) != 1) {
			snprintf(err, errlen,
			    "certificate %s was not issued by the second certificate of the chain",
			    ci.serial_hex);
			goto out;
		}
	}
	*info = ci;
	memset(&ci, 0, sizeof(ci));
	rc = 0;
out:
	ERR_clear_error();
	free(want);
	free(got);
	cert_info_free(&ci);
	return rc;
}

int cert_check_issued(const char *fullchain_pem, size_t len, const privkey_t *k,
    const struct strlist *names, struct cert_info *info, char *err, size_t errlen)
{
	STACK_OF(X509) *sk;
	int rc;

	memset(info, 0, sizeof(*info));
	if ((sk = pem_parse_all(fullchain_pem, len, err, errlen)) == NULL)
		return -1;
	rc = check_issued_sk(sk, k, names, info, err, errlen);
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

/* Parsing a certificate costs OpenSSL 3 a public-key decoder lookup, the
 * largest CPU cost of an issuance: parse the CA's text once for both. */
int cert_accept_issued(const char *pem, size_t len, const privkey_t *k,
    const struct strlist *names, struct cert_info *info, char **leaf, char **chain,
    char **fullchain, char *err, size_t errlen)
{
	STACK_OF(X509) *sk;
	int rc = -1;

	memset(info, 0, sizeof(*info));
	*leaf = *chain = *fullchain = NULL;
	if ((sk = pem_parse_all(pem, len, err, errlen)) == NULL)
		return -1;
	if (check_issued_sk(sk, k, names, info, err, errlen) == 0) {
		if (split_sk(sk, leaf, chain, fullchain, err, errlen) == 0)
			rc = 0;
		else
			cert_info_free(info);
	}
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

int cert_pem_to_der(const char *pem, size_t len, unsigned char **der, size_t *derlen)
{
	STACK_OF(X509) *sk = NULL;
	unsigned char *buf = NULL;
	char err[256];
	int n, rc = -1;

	*der = NULL;
	*derlen = 0;
	if ((sk = pem_parse_all(pem, len, err, sizeof(err))) == NULL) {
		log_err("certificate: %s", err);
		goto out;
	}
	if ((n = i2d_X509(sk_X509_value(sk, 0), &buf)) <= 0) {
		log_err("cannot DER-encode certificate: %s", crypto_ossl_error(err, sizeof(err)));
		goto out;
	}
	*der = xmalloc((size_t)n);
	memcpy(*der, buf, (size_t)n);
	*derlen = (size_t)n;
	rc = 0;
out:
	OPENSSL_free(buf);
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

/* ---- tls-alpn-01 ---- */

static X509_EXTENSION *acme_identifier_ext(const char *keyauth)
{
	unsigned char value[2 + 32];
	ASN1_OBJECT *obj = NULL;
	ASN1_OCTET_STRING *os = NULL;
	X509_EXTENSION *ext = NULL;

	/* extnValue holds the DER of "Authorization ::= OCTET STRING (SIZE (32))". */
	value[0] = V_ASN1_OCTET_STRING;
	value[1] = 32;
	crypto_sha256(keyauth, strlen(keyauth), value + 2);
	if ((obj = OBJ_txt2obj(OID_ACME_IDENTIFIER, 1)) == NULL ||
	    (os = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(os, value, sizeof(value)))
		goto out;
	ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, os);
out:
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return ext;
}

int crypto_tlsalpn_cert(const char *name, const char *keyauth, char **cert_pem,
    char **key_pem)
{
	privkey_t *k = NULL;
	X509 *x = NULL;
	X509_NAME *subj = NULL;
	X509_EXTENSION *ext = NULL;
	GENERAL_NAMES *gens = NULL;
	struct strlist one = { 0 };
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	BIO *bio = NULL;
	char *data, e[256];
	long n;
	int rc = -1;

	*cert_pem = *key_pem = NULL;
	if (!name_is_sane(name) || keyauth == NULL) {
		log_err("tls-alpn-01: invalid identifier \"%s\"", name ? name : "");
		goto out;
	}
	strlist_add(&one, name);
	if ((k = privkey_generate(KEY_EC_P256)) == NULL ||
	    crypto_random(serial, sizeof(serial)) < 0)
		goto out;
	serial[0] &= 0x7f; /* a positive INTEGER */
	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    (bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    (subj = X509_NAME_new()) == NULL)
		goto ossl_fail;
	if (strlen(name) <= CN_MAX &&
	    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_UTF8,
	    (const unsigned char *)name, -1, -1, 0))
		goto ossl_fail;
	/* Validity around now: the CA's clock may be a little off ours. */
	if (!X509_set_subject_name(x, subj) || !X509_set_issuer_name(x, subj) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -86400) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 7 * 86400) == NULL ||
	    !X509_set_pubkey(x, k->pkey) ||
	    (gens = san_new(&one)) == NULL ||
	    !X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) ||
	    (ext = acme_identifier_ext(keyauth)) == NULL ||
	    !X509_add_ext(x, ext, -1) ||
	    X509_sign(x, k->pkey, EVP_sha256()) <= 0 ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509(bio, x))
		goto ossl_fail;
	n = BIO_get_mem_data(bio, &data);
	if ((*key_pem = privkey_to_pem(k, NULL)) == NULL)
		goto out;
	*cert_pem = xstrndup(data, (size_t)n);
	rc = 0;
	goto out;
ossl_fail:
	log_err("tls-alpn-01: cannot build the certificate for %s: %s", name,
	    crypto_ossl_error(e, sizeof(e)));
out:
	BIO_free(bio);
	GENERAL_NAMES_free(gens);
	X509_EXTENSION_free(ext);
	X509_NAME_free(subj);
	BN_free(bn);
	X509_free(x);
	privkey_free(k);
	strlist_free(&one);
	return rc;
}
