/*
 * config_cluster.c - the cluster: section: which etcd cluster this host's
 * pool coordinates through (its endpoints, TLS and authentication), where
 * under it the pool's keys live, this host's name in the pool, its lease,
 * the secret key private keys are sealed under in etcd, and what to do
 * when etcd stays away.  config_schema.c calls cfg_cluster() for the
 * top-level cluster: and decides from it what shared: defaults to.
 *
 * Like the EAB key, the files are read at load time: the etcd password
 * (a file only its owner may read) and the secret key (envelope.c's
 * rule), so a host without the pool's key, or with a key readable by
 * others, is refused at `certfleetd --check` and never joins the pool.
 * Neither secret is ever written into an error.
 */
#include "config_cluster.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_url.h"
#include "envelope.h"

#define DEFAULT_PREFIX "/certfleet/"
#define DEFAULT_LEASE_TTL 30
#define LEASE_TTL_MIN 5
#define LEASE_TTL_MAX 3600

static const char *const cluster_keys[] = { "etcd", "prefix", "node", "lease_ttl",
	"secret_key_file", "fallback", NULL };
static const char *const etcd_keys[] = { "endpoints", "ca_bundle", "cert", "key", "username",
	"password_file", NULL };

void cfg_cluster_free(struct config_cluster *cl)
{
	if (cl == NULL)
		return;
	strlist_free(&cl->endpoints);
	free(cl->ca_bundle);
	free(cl->cert);
	free(cl->key);
	free(cl->username);
	free(cl->password_file);
	free_secret_str(cl->password);
	free(cl->prefix);
	free(cl->node);
	free(cl->secret_key_file);
	envelope_key_wipe(&cl->secret_key);
	free(cl);
}

/* ---- etcd: ---- */

/*
 * One endpoint: http:// or https://, a host, an optional port and nothing
 * after it but one '/' (dropped): the client appends /v3/kv/... itself.
 * *plain_remote is set for http:// to another machine.
 */
static int endpoint_url(struct cfg_ctx *x, const struct ynode *n, const char *path,
    char **out, bool *plain_remote)
{
	static const struct cfg_url_rules rules = { "etcd endpoint", false,
		"use username and password_file" };
	struct cfg_url u;

	*out = NULL;
	if (cfg_url(x, n, path, &rules, &u) < 0)
		return -1;
	if (u.rest[0] != '\0' && strcmp(u.rest, "/") != 0) {
		cfg_error(x, n, path, "etcd endpoint '%s' must be a scheme, a host and a port "
		    "only (such as https://10.0.0.1:2379)", u.s);
		free(u.s);
		return -1;
	}
	*plain_remote = !u.https && !u.loopback;
	u.s[u.rest - u.s] = '\0';
	*out = u.s;
	return 0;
}

/* One URL or a list of them, in the order they are tried; *plain is the
 * first plain http:// one to another machine, or NULL. */
static int parse_endpoints(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct strlist *out, const struct ynode **plain)
{
	const struct ynode *const *items = &n;
	size_t nitems = 1;
	char sub[CFG_PATH_LEN];

	*plain = NULL;
	if (n->kind == YNODE_SEQ) {
		items = (const struct ynode *const *)n->kids;
		nitems = n->nkids;
		if (nitems == 0)
			return cfg_error(x, n, path, "must list at least one etcd endpoint URL");
	} else if (n->kind != YNODE_SCALAR || cfg_null(n)) {
		return cfg_error(x, n, path, "expected a list of etcd endpoint URLs, got %s",
		    ynode_describe(n));
	}
	for (size_t i = 0; i < nitems; i++) {
		bool plain_remote = false;
		char *url = NULL;

		if (n->kind == YNODE_SEQ)
			cfg_path_index(sub, sizeof(sub), path, i);
		else
			snprintf(sub, sizeof(sub), "%s", path);
		if (endpoint_url(x, items[i], sub, &url, &plain_remote) < 0)
			return -1;
		for (size_t k = 0; k < out->n; k++) {
			if (strcasecmp(out->v[k], url) == 0) {
				cfg_error(x, items[i], sub, "duplicate endpoint '%s' (first at "
				    "line %d)", url, items[k]->line);
				free(url);
				return -1;
			}
		}
		if (plain_remote && *plain == NULL)
			*plain = items[i];
		strlist_add(out, url);
		free(url);
	}
	return 0;
}

/* A key given without the one it needs: the error is at the one given. */
static int needs(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *given, const char *other, const char *why)
{
	char sub[CFG_PATH_LEN];

	cfg_path_key(sub, sizeof(sub), path, given);
	return cfg_error(x, cfg_map_get(n, given), sub, "given without %s: %s", other, why);
}

static int parse_etcd(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct config_cluster *cl)
{
	const struct ynode *v, *plain = NULL;
	char sub[CFG_PATH_LEN];
	size_t len;

	if (n->kind != YNODE_MAP)
		return cfg_error(x, n, path, "expected a mapping with endpoints, got %s",
		    cfg_null(n) ? "an empty value" : ynode_describe(n));
	if (cfg_check_keys(x, n, path, etcd_keys) < 0)
		return -1;
	if ((v = cfg_map_get(n, "endpoints")) == NULL)
		return cfg_missing(x, n, path, "endpoints");
	cfg_path_key(sub, sizeof(sub), path, "endpoints");
	if (parse_endpoints(x, v, sub, &cl->endpoints, &plain) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "ca_bundle");
	if ((v = cfg_map_get(n, "ca_bundle")) != NULL &&
	    cfg_ca_bundle(x, v, sub, &cl->ca_bundle) < 0)
		return -1;
	if (cfg_map_get(n, "cert") != NULL && cfg_map_get(n, "key") == NULL)
		return needs(x, n, path, "cert", "key", "a TLS client certificate needs its "
		    "private key");
	if (cfg_map_get(n, "key") != NULL && cfg_map_get(n, "cert") == NULL)
		return needs(x, n, path, "key", "cert", "a TLS client key needs its certificate");
	cfg_path_key(sub, sizeof(sub), path, "cert");
	if ((v = cfg_map_get(n, "cert")) != NULL && cfg_ca_bundle(x, v, sub, &cl->cert) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "key");
	if ((v = cfg_map_get(n, "key")) != NULL &&
	    cfg_private_key_file(x, v, sub, "the etcd client key", &cl->key) < 0)
		return -1;
	if (cfg_map_get(n, "username") != NULL && cfg_map_get(n, "password_file") == NULL)
		return needs(x, n, path, "username", "password_file", "etcd's token "
		    "authentication needs the user's password, read from a file");
	if (cfg_map_get(n, "password_file") != NULL && cfg_map_get(n, "username") == NULL)
		return needs(x, n, path, "password_file", "username", "the password is the "
		    "password of an etcd user");
	if ((v = cfg_map_get(n, "username")) == NULL)
		return 0;
	cfg_path_key(sub, sizeof(sub), path, "username");
	if (cfg_string(x, v, sub, &cl->username) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "password_file");
	v = cfg_map_get(n, "password_file");
	if (cfg_path(x, v, sub, &cl->password_file) < 0 ||
	    cfg_secret_line(x, v, sub, "the etcd password", "the password", &cl->password,
	    &len) < 0)
		return -1;
	if (plain != NULL) {
		/* Found again for its path: only the first plain one is reported. */
		const struct ynode *eps = cfg_map_get(n, "endpoints");
		size_t i = 0;

		cfg_path_key(sub, sizeof(sub), path, "endpoints");
		if (eps->kind == YNODE_SEQ) {
			char item[CFG_PATH_LEN];

			while (eps->kids[i] != plain)
				i++;
			cfg_path_index(item, sizeof(item), sub, i);
			snprintf(sub, sizeof(sub), "%s", item);
		}
		return cfg_error(x, plain, sub, "etcd endpoint '%s' is plain http:// to another "
		    "machine: the etcd password would cross the network in clear; use https://",
		    plain->str);
	}
	return 0;
}

/* ---- the rest of cluster: ---- */

static int parse_prefix(struct cfg_ctx *x, const struct ynode *v, const char *path,
    char **out)
{
	char *s = NULL;
	size_t len;

	if (cfg_string(x, v, path, &s) < 0)
		return -1;
	if (s[0] != '/') {
		cfg_error(x, v, path, "prefix '%s' must start with '/' (such as /certfleet/)", s);
		free(s);
		return -1;
	}
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			cfg_error(x, v, path, "prefix '%s' contains spaces or non-ASCII characters",
			    s);
			free(s);
			return -1;
		}
	}
	len = strlen(s);
	/* Keys are PREFIX + "certs/NAME/...": "/pool" must not also match "/pool2". */
	if (s[len - 1] != '/') {
		char *t = xasprintf("%s/", s);

		free(s);
		s = t;
	}
	free(*out);
	*out = s;
	return 0;
}

/* node: given, or this machine's host name when that is a valid one. */
static int parse_node(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct config_cluster *cl)
{
	const struct ynode *v = cfg_map_get(n, "node");
	char sub[CFG_PATH_LEN], host[HOST_NAME_MAX + 1] = "";
	size_t len;

	cfg_path_key(sub, sizeof(sub), path, "node");
	if (v != NULL)
		return cfg_name(x, v, sub, "node", &cl->node);
	if (gethostname(host, sizeof(host)) < 0)
		return cfg_error(x, n, path, "cannot get the host name for node: %s; set node:",
		    strerror(errno));
	host[sizeof(host) - 1] = '\0';
	len = strlen(host);
	if (len == 0 || len > 64 || host[0] == '.' || strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") != len)
		return cfg_error(x, n, path, "the host name '%s' is not a valid node name (up to "
		    "64 letters, digits, '.', '_' and '-', not starting with '.'); set node:",
		    host);
	cl->node = xstrdup(host);
	return 0;
}

static int parse_lease_ttl(struct cfg_ctx *x, const struct ynode *v, const char *path,
    long long *out)
{
	long long ttl;

	if (cfg_duration(x, v, path, false, &ttl) < 0)
		return -1;
	if (ttl < LEASE_TTL_MIN || ttl > LEASE_TTL_MAX)
		return cfg_error(x, v, path, "must be between 5s and 1h, got %s", v->str);
	*out = ttl;
	return 0;
}

/*
 * Loaded now: a host that lacks the pool's key must say so before it
 * joins, not when it first opens a key another host sealed.
 */
static int parse_secret_key(struct cfg_ctx *x, const struct ynode *v, const char *path,
    struct config_cluster *cl)
{
	char err[512];
	struct stat st;

	if (cfg_path(x, v, path, &cl->secret_key_file) < 0)
		return -1;
	if (stat(cl->secret_key_file, &st) < 0 && errno == ENOENT)
		return cfg_error(x, v, path, "cannot open '%s': No such file or directory; every "
		    "host of the pool needs the same secret key (make it once with openssl rand "
		    "-base64 32 and copy it to each host, mode 0600)", cl->secret_key_file);
	if (envelope_key_load(cl->secret_key_file, &cl->secret_key, err, sizeof(err)) < 0)
		return cfg_error(x, v, path, "%s", err);
	return 0;
}

static int parse_fallback(struct cfg_ctx *x, const struct ynode *v, const char *path,
    enum cluster_fallback *out)
{
	static const char *const names[] = { "none", "local", NULL };

	if (v->kind != YNODE_SCALAR || cfg_null(v))
		return cfg_error(x, v, path, "expected none or local, got %s", ynode_describe(v));
	if (strcmp(v->str, "none") == 0)
		*out = CLUSTER_FALLBACK_NONE;
	else if (strcmp(v->str, "local") == 0)
		*out = CLUSTER_FALLBACK_LOCAL;
	else
		return cfg_unknown(x, v, path, "fallback", names, "none or local");
	return 0;
}

int cfg_shared(struct cfg_ctx *x, const struct config *c, const struct ynode *v,
    const char *path, bool *out)
{
	bool b;

	if (cfg_bool(x, v, path, &b) < 0)
		return -1;
	if (b && c->cluster == NULL)
		return cfg_error(x, v, path, "shared: true needs a cluster: section (the etcd "
		    "cluster a pool shares through)");
	*out = b;
	return 0;
}

int cfg_cluster(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct config_cluster **out)
{
	struct config_cluster *cl = NULL;
	const struct ynode *v;
	char sub[CFG_PATH_LEN];
	int rc = -1;

	*out = NULL;
	if (n->kind != YNODE_MAP)
		return cfg_error(x, n, path, "expected a mapping with etcd and secret_key_file, "
		    "got %s", cfg_null(n) ? "an empty value" : ynode_describe(n));
	if (cfg_check_keys(x, n, path, cluster_keys) < 0)
		return -1;
	cl = xcalloc(1, sizeof(*cl));
	cl->prefix = xstrdup(DEFAULT_PREFIX);
	cl->lease_ttl = DEFAULT_LEASE_TTL;
	cl->fallback = CLUSTER_FALLBACK_NONE;
	cl->line = n->line;
	if ((v = cfg_map_get(n, "etcd")) == NULL) {
		cfg_missing(x, n, path, "etcd");
		goto out;
	}
	cfg_path_key(sub, sizeof(sub), path, "etcd");
	if (parse_etcd(x, v, sub, cl) < 0)
		goto out;
	cfg_path_key(sub, sizeof(sub), path, "prefix");
	if ((v = cfg_map_get(n, "prefix")) != NULL && parse_prefix(x, v, sub, &cl->prefix) < 0)
		goto out;
	if (parse_node(x, n, path, cl) < 0)
		goto out;
	cfg_path_key(sub, sizeof(sub), path, "lease_ttl");
	if ((v = cfg_map_get(n, "lease_ttl")) != NULL &&
	    parse_lease_ttl(x, v, sub, &cl->lease_ttl) < 0)
		goto out;
	if ((v = cfg_map_get(n, "secret_key_file")) == NULL) {
		cfg_error(x, n, path, "missing required key 'secret_key_file' (the pool's key "
		    "that private keys are sealed under in etcd)");
		goto out;
	}
	cfg_path_key(sub, sizeof(sub), path, "secret_key_file");
	if (parse_secret_key(x, v, sub, cl) < 0)
		goto out;
	cfg_path_key(sub, sizeof(sub), path, "fallback");
	if ((v = cfg_map_get(n, "fallback")) != NULL &&
	    parse_fallback(x, v, sub, &cl->fallback) < 0)
		goto out;
	*out = cl;
	cl = NULL;
	rc = 0;
out:
	cfg_cluster_free(cl);
	return rc;
}
