/*
 * b64.h - base64url (RFC 4648 section 5) without padding, as JOSE uses it,
 * and standard base64 (section 4) with padding, as etcd's JSON gateway
 * carries keys and values.
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

/* Standard alphabet ('+', '/'), padded with '='; caller frees. */
char *b64_encode(const void *data, size_t len);

/*
 * Decodes standard padded base64 strictly (what protobuf's JSON mapping
 * writes): '+' and '/', a length that is a multiple of 4, at most two '='
 * and only at the end, no whitespace.  Returns 0 and a malloc'd buffer
 * (caller frees; NUL-terminated, not counted in *outlen), or -1 (*out NULL).
 */
int b64_decode(const char *in, unsigned char **out, size_t *outlen);

#endif
