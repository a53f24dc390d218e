/*
 * config_url.h - reading an http(s) URL from the inventory (config_url.c).
 */
#ifndef CERTFLEET_CONFIG_URL_H
#define CERTFLEET_CONFIG_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "config_tree.h"

struct cfg_url_rules {
	const char *what;             /* names it in errors: "directory URL" */
	bool https_only;              /* the scheme error asks for https:// alone */
	const char *credentials_hint; /* ends the "no credentials" error, or NULL */
};

struct cfg_url {
	char *s;                      /* the URL; the caller frees it */
	bool https;
	bool loopback;                /* the host is this machine */
	const char *rest;             /* inside s: what follows HOST[:PORT] */
};

/* Host of a URL (without its port) is this machine: localhost, 127.x.x.x
 * or [::1]. */
bool cfg_url_loopback(const char *host, size_t len);

/*
 * Reads n as an http:// or https:// URL: printable ASCII without spaces,
 * no credentials, a host, a port of 1..65535 when one is written.  0 with
 * *u filled (u->s owned by the caller), or -1 with the error written
 * (file:line:col, path, rules->what) and nothing to free.
 */
int cfg_url(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const struct cfg_url_rules *rules, struct cfg_url *u);

/* ACME directory URL: https://, or http:// to this machine only. */
int cfg_directory_url(struct cfg_ctx *x, const struct ynode *n, const char *path,
    char **out);

#endif
