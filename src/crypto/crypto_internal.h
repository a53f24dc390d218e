/*
 * crypto_internal.h - what crypto.c (keys, signatures, hashes) shares with
 * crypto_x509.c (CSRs and certificates).  Only those two files include it:
 * the rest of certfleet sees privkey_t as an opaque type via crypto.h.
 */
#ifndef CERTFLEET_CRYPTO_INTERNAL_H
#define CERTFLEET_CRYPTO_INTERNAL_H

#include <pthread.h>

#include <openssl/evp.h>

#include "crypto.h"

struct privkey {
	EVP_PKEY *pkey;
	enum key_type type;
	/* A digest-sign context set up for this key on its first signature
	 * and copied for each one after: EVP_DigestSignInit() fetches the
	 * digest and the signature method again every time, a third of a
	 * JWS signature's cost, and the account key signs every request.
	 * The lock guards the first set-up (signatures may come from more
	 * than one thread). */
	EVP_MD_CTX *sign_tmpl;
	pthread_mutex_t sign_lock;
	/* Its PEM, made on the first privkey_to_pem() (the encoder framework
	 * costs more than the copy: an order's key is written as order-key.pem
	 * and again as the archive's privkey.pem), under sign_lock; wiped
	 * with the key. */
	char *pem;
	size_t pem_len;
	/* Its public JWK (privkey_jwk_json()), made on the first call, under
	 * sign_lock. */
	char *jwk;
};

/* A privkey_t owning pkey, of type t.  Never NULL (allocation aborts). */
privkey_t *crypto_privkey_wrap(EVP_PKEY *pkey, enum key_type t);

/*
 * The oldest queued OpenSSL error as text, into buf (also returned).  Empties
 * the thread's error queue so a stale entry never explains a later failure.
 */
const char *crypto_ossl_error(char *buf, size_t len);

/* Which of the five key types pkey is; -1 with a reason in err otherwise. */
int crypto_key_classify(EVP_PKEY *pkey, enum key_type *out, char *err, size_t errlen);

#endif
