/*
 * crypto_testutil.h - helpers of the crypto unit tests: fixture files and
 * keys read back with plain OpenSSL, so a check never trusts crypto.c to
 * judge crypto.c.
 */
#ifndef CERTFLEET_CRYPTO_TESTUTIL_H
#define CERTFLEET_CRYPTO_TESTUTIL_H

#include <string.h>

#include <check.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "util.h"

#define FIX(name) TEST_DATA_DIR "/crypto/" name

/* The whole file at path (at most 1 MiB); its length in *len if asked. */
static inline char *fixture(const char *path, size_t *len)
{
	char *data = NULL;
	size_t l = 0;

	ck_assert_msg(read_file(path, &data, &l, 1 << 20) == 0, "cannot read %s", path);
	if (len != NULL)
		*len = l;
	return data;
}

static inline EVP_PKEY *pkey_from_pem_text(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *p = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);

	BIO_free(bio);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* Exports k and re-imports it with plain OpenSSL. */
static inline EVP_PKEY *pkey_of(const privkey_t *k)
{
	size_t len;
	char *pem = privkey_to_pem(k, &len);
	EVP_PKEY *p;

	ck_assert_ptr_nonnull(pem);
	ck_assert_uint_eq(strlen(pem), len);
	ck_assert_ptr_nonnull(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
	p = pkey_from_pem_text(pem);
	free_secret(pem, len);
	return p;
}

#endif
