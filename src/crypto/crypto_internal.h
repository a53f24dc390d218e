/*
 * crypto_internal.h - what crypto.c (keys, signatures, hashes) shares with
 * crypto_x509.c (CSRs and certificates).  Only those two files include it:
 * the rest of certfleet sees privkey_t as an opaque type via crypto.h.
 */
#ifndef CERTFLEET_CRYPTO_INTERNAL_H
#define CERTFLEET_CRYPTO_INTERNAL_H

#include <openssl/evp.h>

#include "crypto.h"

struct privkey {
	EVP_PKEY *pkey;
	enum key_type type;
};

/*
 * The oldest queued OpenSSL error as text, into buf (also returned).  Empties
 * the thread's error queue so a stale entry never explains a later failure.
 */
const char *crypto_ossl_error(char *buf, size_t len);

/* Which of the five key types pkey is; -1 with a reason in err otherwise. */
int crypto_key_classify(EVP_PKEY *pkey, enum key_type *out, char *err, size_t errlen);

#endif
