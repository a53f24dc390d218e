/*
 * config_url.c - the one reader of http(s) URLs in the inventory: the ACME
 * directories, the etcd endpoints and the notification webhooks.
 *
 * Each caller adds its own rule on top (a directory may be plain http://
 * only on this machine; an endpoint is a scheme, a host and a port; a
 * webhook's secret header must not cross the network in clear), but what
 * makes a URL well formed is decided here once, so the three cannot drift
 * apart: printable ASCII without spaces, the scheme, no credentials, a
 * host, and a port of 1 to 65535 when one is written.
 */
#include "config_url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_types.h"
#include "util.h"

bool
cfg_url_loopback(const char *host, size_t len)
{
	return (len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
	    (len == 5 && memcmp(host, "[::1]", 5) == 0) ||
	    (len >= 4 && memcmp(host, "127.", 4) == 0);
}

/* ":PORT" after the host name (after an IPv6 literal's ']'): 0 none, 1 a
 * good one, -1 a bad one.  *namelen is the name's length without it. */
static int
split_port(const char *host, size_t hostlen, size_t *namelen)
{
	const char *p = host[0] == '[' ? memchr(host, ']', hostlen) : host;
	const char *port = NULL;
	size_t plen;
	long v;

	*namelen = hostlen;
	for (const char *q = p; q < host + hostlen; q++) {
		if (*q == ':') {
			port = q + 1;
			break;
		}
	}
	if (port == NULL)
		return 0;
	*namelen = (size_t)(port - 1 - host);
	plen = (size_t)(host + hostlen - port);
	v = plen >= 1 && plen <= 5 && strspn(port, "0123456789") >= plen ?
	    strtol(port, NULL, 10) : 0;
	return v >= 1 && v <= 65535 ? 1 : -1;
}

int
cfg_url(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const struct cfg_url_rules *rules, struct cfg_url *u)
{
	const char *what = rules->what, *host;
	size_t hostlen, namelen;
	char *s = NULL;

	memset(u, 0, sizeof(*u));
	if (cfg_string(x, n, path, &s) < 0)
		return -1;
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			cfg_error(x, n, path, "%s '%s' contains spaces or non-ASCII characters",
			    what, s);
			goto fail;
		}
	}
	u->https = strncasecmp(s, "https://", 8) == 0;
	if (!u->https && strncasecmp(s, "http://", 7) != 0) {
		cfg_error(x, n, path, "%s '%s' must start with %s", what, s,
		    rules->https_only ? "https://" : "https:// or http://");
		goto fail;
	}
	host = s + (u->https ? 8 : 7);
	hostlen = strcspn(host, "/?#");
	if (memchr(host, '@', hostlen) != NULL) {
		cfg_error(x, n, path, "%s '%s' must not contain credentials%s%s", what, s,
		    rules->credentials_hint ? "; " : "",
		    rules->credentials_hint ? rules->credentials_hint : "");
		goto fail;
	}
	if (host[0] == '[' && memchr(host, ']', hostlen) == NULL) {
		cfg_error(x, n, path, "%s '%s' has an unterminated IPv6 address", what, s);
		goto fail;
	}
	if (split_port(host, hostlen, &namelen) < 0) {
		cfg_error(x, n, path, "%s '%s' has a bad port", what, s);
		goto fail;
	}
	if (namelen == 0) {
		cfg_error(x, n, path, "%s '%s' has no host", what, s);
		goto fail;
	}
	u->loopback = cfg_url_loopback(host, namelen);
	u->rest = host + hostlen;
	u->s = s;
	return 0;
fail:
	free(s);
	return -1;
}

int
cfg_directory_url(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out)
{
	static const struct cfg_url_rules rules = { "directory URL", true, NULL };
	struct cfg_url u;

	*out = NULL;
	if (cfg_url(x, n, path, &rules, &u) < 0)
		return -1;
	if (!u.https && !u.loopback) {
		cfg_error(x, n, path, "directory URL '%s': plain http:// is only allowed to "
		    "this machine (localhost, 127.0.0.0/8, [::1]); use https://", u.s);
		free(u.s);
		return -1;
	}
	*out = u.s;
	return 0;
}
