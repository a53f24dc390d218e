/*
 * envelope.h - private keys sealed for a shared store (etcd): AES-256-GCM
 * under the pool's secret key, with associated data that binds a value to
 * where it belongs (the certificate's name and version), so a sealed value
 * copied under another name or version does not open.
 */
#ifndef CERTFLEET_ENVELOPE_H
#define CERTFLEET_ENVELOPE_H

#include <stddef.h>

#define ENVELOPE_KEY_LEN 32

struct envelope_key {
	unsigned char k[ENVELOPE_KEY_LEN];
};

/*
 * Reads a key file: 32 random bytes in base64 on one line, as
 * `openssl rand -base64 32` writes them.  Refuses a file that is not a
 * regular file or that its group or others may read or write (like the
 * EAB key file), naming the path.  0 ok, -1 with err.
 */
int envelope_key_load(const char *path, struct envelope_key *key, char *err, size_t errlen);
void envelope_key_wipe(struct envelope_key *key);

/* Seals len bytes of plain: "cfenv1:" + base64(12-byte nonce | ciphertext |
 * 16-byte tag), NUL-terminated; caller frees.  NULL only on an OpenSSL
 * failure (logged). */
char *envelope_seal(const struct envelope_key *key, const char *ad, const void *plain,
    size_t len);
/* Opens what envelope_seal made with the same key and ad: 0 with *out
 * (NUL-terminated beyond *outlen; caller wipes and frees), -1 with err
 * (malformed, wrong key, tampered, other ad). */
int envelope_open(const struct envelope_key *key, const char *ad, const char *sealed,
    unsigned char **out, size_t *outlen, char *err, size_t errlen);

#endif
