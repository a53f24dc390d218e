/*
 * b64.h - base64url (RFC 4648 section 5) without padding, as JOSE uses it.
 */
#ifndef CERTFLEET_B64_H
#define CERTFLEET_B64_H

#include <stddef.h>

/* Returns a NUL-terminated unpadded base64url string; caller frees. */
char *b64url_encode(const void *data, size_t len);

/*
 * Decodes base64url leniently: accepts '=' padding, the standard alphabet
 * ('+', '/') and surrounding whitespace (an EAB HMAC key pasted from SCM).
 * Returns 0 and a malloc'd buffer (caller frees; NUL-terminated for
 * convenience, not counted in *outlen), or -1 on any invalid character or
 * impossible length.
 */
int b64url_decode(const char *in, unsigned char **out, size_t *outlen);

#endif
