/*
 * envelope.c - private keys sealed for etcd (envelope.h): AES-256-GCM with
 * a fresh 12-byte random nonce per value and a 16-byte tag, under the
 * pool's secret key, with the caller's associated data (the certificate's
 * name and version) authenticated but not stored.
 *
 * Everything in etcd is readable by whoever can read etcd, so the value
 * alone must reveal nothing and must not open anywhere else: a sealed key
 * copied under another certificate or an older version fails the tag
 * check exactly as a tampered one does.  The text form ("cfenv1:" and
 * standard base64) is versioned so another scheme can come later beside
 * this one.
 *
 * A random 96-bit nonce is safe for far more seals than a pool makes (the
 * birthday bound is around 2^32 values under one key).  The key file is
 * read with the same rule as the EAB key file: a regular file that
 * neither group nor others may use.  Every buffer that held the key or a
 * plaintext is wiped before it is freed.
 */
#include "envelope.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "crypto_internal.h"
#include "log.h"
#include "util.h"

#define ENVELOPE_PREFIX "cfenv1:"
#define NONCE_LEN 12
#define TAG_LEN 16
/* `openssl rand -base64 32` writes 45 bytes; anything near this is not a key. */
#define KEY_FILE_MAX 4096

/* ---- standard base64 (RFC 4648 section 4), strict ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_value(char c)
{
	const char *p = c != '\0' ? strchr(b64_alphabet, c) : NULL;

	return p != NULL ? (int)(p - b64_alphabet) : -1;
}

/*
 * Decodes exactly len characters of padded base64 into out (room for
 * len / 4 * 3 bytes): -1 on any other character, a bad length, padding
 * anywhere but the end, or non-zero unused bits, so that each byte string
 * has one text form and changing the text always changes the bytes.
 */
static int b64_decode_strict(const char *in, size_t len, unsigned char *out, size_t *outlen)
{
	size_t n = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		size_t pad = 0;

		for (int j = 0; j < 4; j++) {
			if (in[i + j] == '=' && i + 4 == len && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[j] = b64_value(in[i + j])) < 0)
				return -1;
		}
		if ((pad == 1 && (v[2] & 3) != 0) || (pad == 2 && (v[1] & 15) != 0))
			return -1;
		out[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[n++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[n++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	*outlen = n;
	return 0;
}

/* ---- the key file ---- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int envelope_key_load(const char *path, struct envelope_key *key, char *err, size_t errlen)
{
	char buf[KEY_FILE_MAX + 1];
	unsigned char raw[KEY_FILE_MAX / 4 * 3 + 3];
	size_t len = 0, rawlen = 0, start, end;
	struct stat st;
	int fd = -1, rc = -1;

	/* O_NONBLOCK: a FIFO put there by mistake must not hang a reload. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot stat '%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen, "permissions %04o for '%s' are too open; it holds the "
		    "cluster's secret key (chmod 600)", (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == sizeof(buf)) {
			snprintf(err, errlen, "'%s' is too large to be a secret key (it must hold "
			    "32 bytes in base64, as openssl rand -base64 32 writes them)", path);
			goto out;
		}
	}
	/* What was read is never shown: it may be the key with one typo. */
	for (start = 0; start < len && is_space(buf[start]); start++)
		;
	for (end = len; end > start && is_space(buf[end - 1]); end--)
		;
	if (start == end) {
		snprintf(err, errlen, "'%s' is empty; it must hold 32 bytes in base64, as "
		    "openssl rand -base64 32 writes them", path);
		goto out;
	}
	if (b64_decode_strict(buf + start, end - start, raw, &rawlen) < 0) {
		snprintf(err, errlen, "the secret key in '%s' is not base64 on one line (as "
		    "openssl rand -base64 32 writes it)", path);
		goto out;
	}
	if (rawlen != ENVELOPE_KEY_LEN) {
		snprintf(err, errlen, "the secret key in '%s' is %zu bytes, not %d (as openssl "
		    "rand -base64 32 writes it)", path, rawlen, ENVELOPE_KEY_LEN);
		goto out;
	}
	memcpy(key->k, raw, ENVELOPE_KEY_LEN);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

void envelope_key_wipe(struct envelope_key *key)
{
	if (key != NULL)
		OPENSSL_cleanse(key->k, sizeof(key->k));
}

/* ---- sealing and opening ---- */

/* A context keyed for AES-256-GCM with nonce, the ad already absorbed. */
static EVP_CIPHER_CTX *gcm_start(const struct envelope_key *key, const unsigned char *nonce,
    const char *ad, bool encrypt)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t adlen = ad != NULL ? strlen(ad) : 0;
	int outl;

	if (ctx == NULL || adlen > INT_MAX)
		goto fail;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key->k, nonce, encrypt) != 1)
		goto fail;
	if (adlen > 0 && EVP_CipherUpdate(ctx, NULL, &outl, (const unsigned char *)ad,
	    (int)adlen) != 1)
		goto fail;
	return ctx;
fail:
	EVP_CIPHER_CTX_free(ctx);
	return NULL;
}

char *envelope_seal(const struct envelope_key *key, const char *ad, const void *plain,
    size_t len)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *blob = NULL;
	char *out = NULL, e[256];
	size_t bloblen = NONCE_LEN + len + TAG_LEN;
	int outl = 0, finl = 0;

	/* EVP counts in int, and base64 grows by a third. */
	if (len > (size_t)INT_MAX / 2) {
		log_msg(LOG_ERR, "envelope: %zu bytes is too large to seal", len);
		goto out;
	}
	blob = xmalloc(bloblen);
	if (RAND_bytes(blob, NONCE_LEN) != 1) {
		log_msg(LOG_ERR, "envelope: no random nonce: %s", crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	if ((ctx = gcm_start(key, blob, ad, true)) == NULL ||
	    (len > 0 && EVP_EncryptUpdate(ctx, blob + NONCE_LEN, &outl, plain, (int)len) != 1) ||
	    EVP_EncryptFinal_ex(ctx, blob + NONCE_LEN + outl, &finl) != 1 ||
	    (size_t)(outl + finl) != len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, blob + NONCE_LEN + len) != 1) {
		log_msg(LOG_ERR, "envelope: AES-256-GCM seal failed: %s",
		    crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	out = xmalloc(sizeof(ENVELOPE_PREFIX) - 1 + (bloblen + 2) / 3 * 4 + 1);
	memcpy(out, ENVELOPE_PREFIX, sizeof(ENVELOPE_PREFIX) - 1);
	EVP_EncodeBlock((unsigned char *)out + sizeof(ENVELOPE_PREFIX) - 1, blob, (int)bloblen);
out:
	EVP_CIPHER_CTX_free(ctx);
	free(blob);
	return out;
}

int envelope_open(const struct envelope_key *key, const char *ad, const char *sealed,
    unsigned char **out, size_t *outlen, char *err, size_t errlen)
{
	const size_t plen = sizeof(ENVELOPE_PREFIX) - 1;
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *blob = NULL, *plain = NULL;
	size_t textlen, bloblen = 0, ctlen = 0;
	int outl = 0, finl = 0, rc = -1;

	*out = NULL;
	*outlen = 0;
	if (sealed == NULL || strncmp(sealed, ENVELOPE_PREFIX, plen) != 0) {
		snprintf(err, errlen, "not a sealed value (it does not start with %s)",
		    ENVELOPE_PREFIX);
		goto out;
	}
	textlen = strlen(sealed + plen);
	if (textlen > (size_t)INT_MAX) {
		snprintf(err, errlen, "sealed value too large");
		goto out;
	}
	blob = xmalloc(textlen / 4 * 3 + 3);
	if (b64_decode_strict(sealed + plen, textlen, blob, &bloblen) < 0) {
		snprintf(err, errlen, "malformed sealed value (not base64)");
		goto out;
	}
	if (bloblen < NONCE_LEN + TAG_LEN) {
		snprintf(err, errlen, "truncated sealed value (%zu bytes, at least %d expected)",
		    bloblen, NONCE_LEN + TAG_LEN);
		goto out;
	}
	ctlen = bloblen - NONCE_LEN - TAG_LEN;
	plain = xmalloc(ctlen + 1);
	if ((ctx = gcm_start(key, blob, ad, false)) == NULL ||
	    (ctlen > 0 && EVP_DecryptUpdate(ctx, plain, &outl, blob + NONCE_LEN,
	    (int)ctlen) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
	    blob + NONCE_LEN + ctlen) != 1) {
		char e[256];

		snprintf(err, errlen, "cannot open the sealed value: %s",
		    crypto_ossl_error(e, sizeof(e)));
		goto out;
	}
	/* One answer for every cause: the tag says only "not this key and ad". */
	if (EVP_DecryptFinal_ex(ctx, plain + outl, &finl) != 1 ||
	    (size_t)(outl + finl) != ctlen) {
		ERR_clear_error();
		snprintf(err, errlen, "the sealed value does not open: another secret key, "
		    "altered, or sealed for another name or version");
		goto out;
	}
	plain[ctlen] = '\0';
	*out = plain;
	*outlen = ctlen;
	plain = NULL;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (plain != NULL)
		free_secret(plain, ctlen + 1);
	free(blob);
	return rc;
}
