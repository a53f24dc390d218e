/*
 * crypto.h - everything certfleet needs from OpenSSL, behind project types.
 *
 * No OpenSSL type escapes this header: keys are privkey_t, certificates are
 * PEM text plus a parsed struct cert_info.  The ACME code signs, hashes and
 * builds CSRs through these functions only.
 */
#ifndef CERTFLEET_CRYPTO_H
#define CERTFLEET_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util.h"

enum key_type {
	KEY_EC_P256,
	KEY_EC_P384,
	KEY_RSA_2048,
	KEY_RSA_3072,
	KEY_RSA_4096,
	KEY_TYPE__MAX
};
/* "ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096". */
const char *key_type_name(enum key_type t);
/* Accepts the names above (case-insensitive) plus "p256"/"ecdsa-p256"/"rsa2048"
 * style aliases. 0 ok, -1 unknown. */
int key_type_parse(const char *s, enum key_type *out);

enum hmac_alg { HMAC_HS256, HMAC_HS384, HMAC_HS512, HMAC_ALG__MAX };
const char *hmac_alg_name(enum hmac_alg a);  /* "HS256" ... */
int hmac_alg_parse(const char *s, enum hmac_alg *out);

typedef struct privkey privkey_t;

/* Generates a key. RSA 4096 takes hundreds of ms: never call on the loop
 * thread (see keygen.h). NULL on failure (logged). */
privkey_t *privkey_generate(enum key_type t);
/* Parses a PEM private key (PKCS#8 or traditional). NULL on failure, logged
 * with the reason (encrypted, unsupported curve or size) but not the path. */
privkey_t *privkey_from_pem(const char *pem, size_t len);
/* PKCS#8 PEM; caller frees with free_secret(). NULL on failure. */
char *privkey_to_pem(const privkey_t *k, size_t *len);
void privkey_free(privkey_t *k);
enum key_type privkey_type(const privkey_t *k);
/* JWS "alg": "ES256", "ES384" or "RS256". */
const char *privkey_jws_alg(const privkey_t *k);

/*
 * The members of a private JWK (RFC 7517/7518) as base64url text, as
 * certbot keeps an account key in accounts/.../private_key.json.  Filled by
 * acme_json_jwk_parse() (the JSON side); NULL where a member is absent.
 * jwk_text_free() wipes and frees the members, not j.
 */
struct jwk_text {
	char *kty, *crv;
	char *n, *e, *d, *p, *q, *dp, *dq, *qi; /* RSA (d also EC) */
	char *x, *y;                            /* EC */
};
void jwk_text_free(struct jwk_text *j);

/*
 * Builds a private key from a JWK: RSA with n, e, d, p, q, dp, dq, qi, or
 * EC P-256/P-384 with crv, x, y, d.  The key must be consistent (its
 * public half matches its private half) and of one of the five key types.
 * NULL with the reason in err (which names the member, never its value).
 */
privkey_t *privkey_from_jwk(const struct jwk_text *j, char *err, size_t errlen);

/*
 * Public key as a JWK JSON object with only the required members in
 * lexicographic order and no whitespace - exactly the RFC 7638 thumbprint
 * input, e.g. {"crv":"P-256","kty":"EC","x":"...","y":"..."}.  Caller frees.
 */
char *privkey_jwk_json(const privkey_t *k);

/*
 * Signs data with the key's JWS algorithm (SHA-256 / SHA-384).  EC
 * signatures are raw r||s, each zero-padded to the curve size, as JWS
 * requires (not DER).  0 ok (*sig malloc'd), -1 on failure.
 */
int privkey_sign(const privkey_t *k, const void *data, size_t len,
    unsigned char **sig, size_t *siglen);

/* Verifies a JWS-style signature (raw r||s for EC). 0 valid, -1 not. For tests
 * and self-checks. */
int privkey_verify(const privkey_t *k, const void *data, size_t len,
    const unsigned char *sig, size_t siglen);

/* HMAC. out must hold 64 bytes. 0 ok, -1 failure. */
int crypto_hmac(enum hmac_alg alg, const void *key, size_t keylen,
    const void *data, size_t len, unsigned char *out, size_t *outlen);
void crypto_sha256(const void *data, size_t len, unsigned char out[32]);
/* Fills buf with len CSPRNG bytes. 0 ok. */
int crypto_random(void *buf, size_t len);

/* DER CSR with CN = names[0] (if <= 64 chars) and every name as a SAN
 * (dNSName, or iPAddress for an IP literal, RFC 8738), SHA-256 signed by k.
 * Caller frees *der. 0 ok, -1 failure (logged). */
int csr_generate(const privkey_t *k, const struct strlist *names,
    unsigned char **der, size_t *derlen);

/* What certfleet needs to know of an issued certificate. */
struct cert_info {
	char *serial_hex;           /* upper-case hex, no colons */
	unsigned char *serial;      /* DER INTEGER content bytes (for ARI) */
	size_t serial_len;
	unsigned char *aki;         /* authority key identifier keyid, or NULL */
	size_t aki_len;
	time_t not_before;
	time_t not_after;
	struct strlist names;       /* DNS SANs (lower case), then IP SANs as text,
	                               in certificate order */
	char *issuer_cn;            /* may be NULL */
	char *subject_cn;           /* may be NULL */
};
void cert_info_free(struct cert_info *ci); /* frees members, not ci */

/* Parses the first certificate of a PEM text. 0 ok, -1 failure (logged). */
int cert_info_from_pem(const char *pem, size_t len, struct cert_info *out);

/*
 * Splits a PEM chain as the CA sent it into the leaf ("cert.pem"), the rest
 * ("chain.pem", "" for a lone leaf) and all of it re-encoded
 * ("fullchain.pem").  Each caller frees.  -1 with a reason in err (not
 * logged) when it holds no certificate, a block fails to parse or a block
 * is not a CERTIFICATE; text between blocks is ignored.
 */
int cert_split_chain(const char *pem, size_t len, char **leaf, char **chain,
    char **fullchain, char *err, size_t errlen);

/*
 * The check every issued certificate passes before it is installed: the
 * leaf parses, its public key is k's, its SANs are exactly names (as a
 * set, case-insensitive), it has not expired, the second certificate (if
 * any) issued it, and every certificate of the chain parses.  Fills info on
 * success.  -1 with a reason in err otherwise (not logged).
 */
int cert_check_issued(const char *fullchain_pem, size_t len, const privkey_t *k,
    const struct strlist *names, struct cert_info *info, char *err, size_t errlen);

/* cert_check_issued, then cert_split_chain, parsing the text once.  On
 * failure nothing is allocated. */
int cert_accept_issued(const char *pem, size_t len, const privkey_t *k,
    const struct strlist *names, struct cert_info *info, char **leaf, char **chain,
    char **fullchain, char *err, size_t errlen);

/* DER of the first certificate in a PEM text (for revocation). */
int cert_pem_to_der(const char *pem, size_t len, unsigned char **der, size_t *derlen);

/*
 * tls-alpn-01 (RFC 8737): a self-signed certificate for name with the
 * critical id-pe-acmeIdentifier extension holding sha256(keyauth). Returns
 * PEM cert and key; caller frees.
 */
int crypto_tlsalpn_cert(const char *name, const char *keyauth, char **cert_pem,
    char **key_pem);

#endif
