/*
 * b64.c - base64url for JOSE (RFC 7515 section 2: unpadded, URL alphabet),
 * and standard padded base64 for etcd's gateway (protobuf's JSON "bytes").
 *
 * Encoding is strict.  Decoding is lenient in the ways an operator's
 * copy-paste needs (an SCM HMAC key may arrive padded, in the standard
 * alphabet or with a trailing newline) and strict about everything else,
 * so a mangled key fails here rather than as a confusing CA error.
 */
#include "b64.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "util.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *encode(const void *data, size_t len, const char *alphabet, bool pad)
{
	const unsigned char *in = data;
	char *out, *p;
	size_t i;

	out = p = xmalloc(len / 3 * 4 + 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*p++ = alphabet[v >> 18 & 63];
		*p++ = alphabet[v >> 12 & 63];
		*p++ = alphabet[v >> 6 & 63];
		*p++ = alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		*p++ = alphabet[v >> 18 & 63];
		*p++ = alphabet[v >> 12 & 63];
		if (pad) {
			*p++ = '=';
			*p++ = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		*p++ = alphabet[v >> 18 & 63];
		*p++ = alphabet[v >> 12 & 63];
		*p++ = alphabet[v >> 6 & 63];
		if (pad)
			*p++ = '=';
	}
	*p = '\0';
	return out;
}

char *b64url_encode(const void *data, size_t len)
{
	return encode(data, len, b64url_alphabet, false);
}

char *b64_encode(const void *data, size_t len)
{
	return encode(data, len, b64_alphabet, true);
}

/* Value of one symbol in either alphabet, -1 if it is not one. */
static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int b64url_decode(const char *in, unsigned char **out, size_t *outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t start, end, nsym, npad = 0;
	unsigned char *buf = NULL, *p;
	uint32_t acc = 0;
	int bits = 0;

	*out = NULL;
	*outlen = 0;
	if (in == NULL)
		return -1;
	start = 0;
	end = strlen(in);
	while (start < end && is_ws(s[start]))
		start++;
	while (end > start && is_ws(s[end - 1]))
		end--;
	/* At most two '=', only at the end, and only making a full quantum. */
	while (end > start && s[end - 1] == '=') {
		end--;
		npad++;
	}
	nsym = end - start;
	if (npad > 2 || (npad > 0 && (nsym + npad) % 4 != 0))
		return -1;
	if (nsym % 4 == 1)
		return -1;

	p = buf = xmalloc(nsym / 4 * 3 + 3 + 1);
	for (size_t i = start; i < end; i++) {
		int v = b64_value(s[i]);

		if (v < 0)
			goto fail;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*p++ = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Non-zero leftover bits of a final partial quantum are ignored, as
	 * Go's and Python's decoders do: the CA decodes the key that way. */
	*p = '\0';
	*out = buf;
	*outlen = (size_t)(p - buf);
	return 0;
fail:
	free_secret(buf, nsym / 4 * 3 + 3 + 1);
	return -1;
}

/* Value of one symbol of the standard alphabet, -1 if it is not one. */
static int b64_std_value(unsigned char c)
{
	if (c == '-' || c == '_')
		return -1;
	return b64_value(c);
}

int b64_decode(const char *in, unsigned char **out, size_t *outlen)
{
	size_t n, npad = 0, bufsize;
	unsigned char *buf, *p;

	*out = NULL;
	*outlen = 0;
	if (in == NULL || (n = strlen(in)) % 4 != 0)
		return -1;
	while (npad < n && in[n - 1 - npad] == '=')
		npad++;
	if (npad > 2)
		return -1;
	bufsize = n / 4 * 3 + 1;
	p = buf = xmalloc(bufsize);
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int nsym = i + 4 == n ? 4 - (int)npad : 4;

		for (int k = 0; k < 4; k++) {
			int d = k < nsym ? b64_std_value((unsigned char)in[i + (size_t)k]) : 0;

			if (d < 0)
				goto fail;
			v = v << 6 | (uint32_t)d;
		}
		*p++ = (unsigned char)(v >> 16);
		if (nsym > 2)
			*p++ = (unsigned char)(v >> 8);
		if (nsym > 3)
			*p++ = (unsigned char)v;
	}
	*p = '\0';
	*out = buf;
	*outlen = (size_t)(p - buf);
	return 0;
fail:
	free_secret(buf, bufsize);
	return -1;
}
