/*
 * config_schema.c - what goes where in the inventory: the top-level
 * settings, accounts, the defaults: section and the certificates.
 *
 * config.c hands over the YAML tree; this file knows which keys exist at
 * each level, which are required, what each defaults to and how the
 * entries refer to one another (a certificate's account, the defaults a
 * certificate inherits, names that must be unique), and turns them into
 * struct config.  Single values are checked by config_types.c and
 * config_files.c, certificates against one another by config_validate.c;
 * this file calls down into those and config_tree.c, never up into
 * config.c.
 */
#include "config_schema.h"

#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "config_cluster.h"
#include "config_files.h"
#include "config_notify.h"
#include "config_types.h"
#include "config_url.h"
#include "config_validate.h"
#include "crypto.h"
#include "netaddr.h"

#define DEFAULT_STATE_DIR "/var/lib/certfleet"
#define DEFAULT_OUTPUT_DIR "/etc/certfleet"
#define DEFAULT_CONTROL_SOCKET "/run/certfleet/control.sock"
#define DEFAULT_HTTP01_LISTEN "[::]:80"
#define DEFAULT_TLSALPN01_LISTEN "[::]:443"

/* Frees *dst and takes s. */
static void replace_str(char **dst, char *s)
{
	free(*dst);
	*dst = s;
}

/* ---- the top level ---- */

static const char *const top_keys[] = { "state_dir", "output_dir", "control_socket",
	"control_socket_mode", "control_socket_owner", "control_socket_group",
	"control_admin_group", "http01_listen", "tlsalpn01_listen", "dns_resolver", "timeouts", "renew_jitter", "max_inflight",
	"metrics_listen", "metrics_textfile",
	"post_hook", "notify", "cluster", "accounts", "defaults", "certificates", NULL };
static const char *const timeout_keys[] = { "finalize", "order", "hook", "dns_propagation",
	NULL };

static int parse_timeouts(struct cfg_ctx *x, const struct ynode *n, struct config *c)
{
	struct {
		const char *key;
		long long *dst;
	} t[] = {
		{ "finalize", &c->finalize_timeout },
		{ "order", &c->order_timeout },
		{ "hook", &c->hook_timeout },
		{ "dns_propagation", &c->dns_propagation_timeout },
	};
	char sub[CFG_PATH_LEN];

	if (cfg_expect_map(x, n, "timeouts", "a mapping of durations") < 0 ||
	    cfg_check_keys(x, n, "timeouts", timeout_keys) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		const struct ynode *v = cfg_map_get(n, t[i].key);

		cfg_path_key(sub, sizeof(sub), "timeouts", t[i].key);
		if (v != NULL && cfg_duration(x, v, sub, false, t[i].dst) < 0)
			return -1;
	}
	return 0;
}

/* The control socket is created in its directory, made if need be. */
static int socket_dir_check(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *sock)
{
	const char *slash = strrchr(sock, '/');
	char *dir = slash == NULL || slash == sock ? xstrdup("/") :
	    xstrndup(sock, (size_t)(slash - sock));
	int rc = cfg_host_dir(x, n, path, dir);

	free(dir);
	return rc;
}

/* The textfile collector reads *.prom files from a directory that exists
 * (node_exporter's --collector.textfile.directory); with CONFIG_LOAD_HOST
 * the directory is checked like state_dir's parent. */
static int metrics_textfile(struct cfg_ctx *x, const struct ynode *v, const char *key,
    char **out)
{
	const char *slash;
	char *s = NULL, *dir;
	int rc;

	if (cfg_path(x, v, key, &s) < 0)
		return -1;
	slash = strrchr(s, '/');
	if (slash[1] == '\0' || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0) {
		cfg_error(x, v, key, "'%s' names a directory; expected a file such as "
		    "/var/lib/node_exporter/textfile/certfleet.prom", s);
		free(s);
		return -1;
	}
	if (strlen(slash + 1) < 6 || strcmp(s + strlen(s) - 5, ".prom") != 0) {
		cfg_error(x, v, key, "'%s' does not end in .prom, so node_exporter's textfile "
		    "collector would not read it", s);
		free(s);
		return -1;
	}
	dir = slash == s ? xstrdup("/") : xstrndup(s, (size_t)(slash - s));
	rc = cfg_host_dir(x, v, key, dir);
	free(dir);
	if (rc < 0) {
		free(s);
		return -1;
	}
	replace_str(out, s);
	return 0;
}

/* Settings that are plain values; collections are handled after them. */
static int parse_top_value(struct cfg_ctx *x, const char *key, const struct ynode *v,
    struct config *c, char **output_dir)
{
	char *s = NULL;

	if (strcmp(key, "state_dir") == 0) {
		if (cfg_path(x, v, key, &s) < 0)
			return -1;
		replace_str(&c->state_dir, s);
		return cfg_host_dir(x, v, key, c->state_dir);
	} else if (strcmp(key, "output_dir") == 0) {
		if (cfg_path(x, v, key, &s) < 0)
			return -1;
		replace_str(output_dir, s);
	} else if (strcmp(key, "control_socket") == 0) {
		struct sockaddr_un sa;

		if (cfg_path(x, v, key, &s) < 0)
			return -1;
		if (strlen(s) >= sizeof(sa.sun_path)) {
			cfg_error(x, v, key, "'%s' is too long for a unix socket path (at most "
			    "%zu bytes)", s, sizeof(sa.sun_path) - 1);
			free(s);
			return -1;
		}
		replace_str(&c->control_socket, s);
		if (x->flags & CONFIG_LOAD_NO_CONTROL)
			return 0;
		return socket_dir_check(x, v, key, c->control_socket);
	} else if (strcmp(key, "control_socket_mode") == 0) {
		return cfg_socket_mode(x, v, key, &c->control_socket_mode);
	} else if (strcmp(key, "control_socket_owner") == 0) {
		return cfg_owner(x, v, key, &c->control_socket_owner);
	} else if (strcmp(key, "control_socket_group") == 0) {
		return cfg_group(x, v, key, &c->control_socket_group);
	} else if (strcmp(key, "control_admin_group") == 0) {
		return cfg_group(x, v, key, &c->control_admin_group);
	} else if (strcmp(key, "http01_listen") == 0) {
		if (cfg_listen(x, v, key, &s) < 0)
			return -1;
		replace_str(&c->http01_listen, s);
	} else if (strcmp(key, "tlsalpn01_listen") == 0) {
		if (cfg_listen(x, v, key, &s) < 0)
			return -1;
		replace_str(&c->tlsalpn01_listen, s);
	} else if (strcmp(key, "dns_resolver") == 0) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (cfg_string(x, v, key, &s) < 0)
			return -1;
		if (netaddr_parse(s, 53, &ss, &len) < 0) {
			cfg_error(x, v, key, "bad DNS server '%s': expected a numeric ADDR or "
			    "ADDR:PORT such as \"127.0.0.1:53\" or \"[::1]:53\"", s);
			free(s);
			return -1;
		}
		replace_str(&c->dns_resolver, s);
	} else if (strcmp(key, "timeouts") == 0) {
		return parse_timeouts(x, v, c);
	} else if (strcmp(key, "renew_jitter") == 0) {
		return cfg_duration(x, v, key, true, &c->renew_jitter);
	} else if (strcmp(key, "max_inflight") == 0) {
		return cfg_int(x, v, key, 1, 65536, &c->max_inflight);
	} else if (strcmp(key, "post_hook") == 0) {
		return cfg_argv(x, v, key, &c->post_hook);
	} else if (strcmp(key, "metrics_listen") == 0) {
		if (cfg_listen(x, v, key, &s) < 0)
			return -1;
		replace_str(&c->metrics_listen, s);
	} else if (strcmp(key, "metrics_textfile") == 0) {
		return metrics_textfile(x, v, key, &c->metrics_textfile);
	} else if (strcmp(key, "notify") == 0) {
		return cfg_notify(x, v, key, &c->notify);
	} else if (strcmp(key, "cluster") == 0) {
		return cfg_cluster(x, v, key, &c->cluster);
	}
	return 0;
}

/* ---- accounts ---- */

static const char *const account_keys[] = { "directory", "contact", "eab", "key_type",
	"ca_bundle", "max_inflight", "new_orders_in_flight", "new_orders_per", "requests_per_second",
	"staging_directory", "certbot_account", "shared", NULL };
static const char *const eab_keys[] = { "kid", "hmac_key", "hmac_key_file", "alg", NULL };

static int parse_eab(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct config_account *a)
{
	static const char *const algs[] = { "HS256", "HS384", "HS512", NULL };
	const struct ynode *v, *inl, *file;
	char sub[CFG_PATH_LEN];

	if (cfg_expect_map(x, n, path, "a mapping with kid and hmac_key or hmac_key_file") < 0 ||
	    cfg_check_keys(x, n, path, eab_keys) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "kid");
	if ((v = cfg_map_get(n, "kid")) == NULL)
		return cfg_missing(x, n, path, "kid");
	if (cfg_string(x, v, sub, &a->eab_kid) < 0)
		return -1;
	inl = cfg_map_get(n, "hmac_key");
	file = cfg_map_get(n, "hmac_key_file");
	if (inl == NULL && file == NULL)
		return cfg_missing(x, n, path, "hmac_key_file' or 'hmac_key");
	if (inl != NULL && file != NULL) {
		cfg_path_key(sub, sizeof(sub), path, inl->line > file->line ? "hmac_key" :
		    "hmac_key_file");
		return cfg_error(x, inl->line > file->line ? inl : file, sub,
		    "give either hmac_key or hmac_key_file, not both");
	}
	cfg_path_key(sub, sizeof(sub), path, inl ? "hmac_key" : "hmac_key_file");
	if (cfg_hmac_key(x, inl, file, sub, &a->eab_hmac, &a->eab_hmac_len) < 0)
		return -1;
	a->eab_alg = HMAC_HS256;
	if ((v = cfg_map_get(n, "alg")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "alg");
		if (v->kind != YNODE_SCALAR || cfg_null(v))
			return cfg_error(x, v, sub, "expected a string, got %s", ynode_describe(v));
		if (hmac_alg_parse(v->str, &a->eab_alg) < 0)
			return cfg_unknown(x, v, sub, "EAB alg", algs, "HS256, HS384 or HS512");
	}
	return 0;
}

static int parse_account(struct cfg_ctx *x, const struct config *c, const struct ynode *k,
    const struct ynode *n, struct config_account *a)
{
	char path[CFG_PATH_LEN], sub[CFG_PATH_LEN];
	const struct ynode *v;

	cfg_path_key(path, sizeof(path), "accounts", k->str);
	a->line = k->line;
	a->key_type = KEY_EC_P256;
	/* newOrder is what CAs choke on (Debian's Pebble deadlocks under
	 * many at once): few of those, many orders past it. */
	a->max_inflight = 256;
	a->new_orders_in_flight = 4;
	a->shared = c->cluster != NULL;
	if (cfg_name(x, k, path, "account", &a->name) < 0)
		return -1;
	if (n->kind != YNODE_MAP)
		return cfg_error(x, cfg_null(n) ? k : n, path, "expected a mapping with directory "
		    "and contact, got %s", ynode_describe(n));
	if (cfg_check_keys(x, n, path, account_keys) < 0)
		return -1;
	if ((v = cfg_map_get(n, "directory")) == NULL)
		return cfg_missing(x, n, path, "directory");
	cfg_path_key(sub, sizeof(sub), path, "directory");
	if (cfg_directory_url(x, v, sub, &a->directory_url) < 0)
		return -1;
	/* Some Sectigo-based CAs fail registration misleadingly without one. */
	if ((v = cfg_map_get(n, "contact")) == NULL)
		return cfg_missing(x, n, path, "contact");
	cfg_path_key(sub, sizeof(sub), path, "contact");
	if (cfg_contacts(x, v, sub, &a->contact) < 0)
		return -1;
	if ((v = cfg_map_get(n, "eab")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "eab");
		/* "eab:" with nothing under it: the keys were forgot or mis-indented. */
		if (cfg_null(v))
			return cfg_error(x, v, sub, "expected a mapping with kid and hmac_key or "
			    "hmac_key_file, got an empty value");
		if (parse_eab(x, v, sub, a) < 0)
			return -1;
	}
	/* For certfleetd --dry-run only: a full issuance there, never here. */
	cfg_path_key(sub, sizeof(sub), path, "staging_directory");
	if ((v = cfg_map_get(n, "staging_directory")) != NULL &&
	    cfg_directory_url(x, v, sub, &a->staging_directory_url) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "key_type");
	if ((v = cfg_map_get(n, "key_type")) != NULL && cfg_key_type(x, v, sub, &a->key_type) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "ca_bundle");
	if ((v = cfg_map_get(n, "ca_bundle")) != NULL && cfg_ca_bundle(x, v, sub, &a->ca_bundle) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "max_inflight");
	if ((v = cfg_map_get(n, "max_inflight")) != NULL &&
	    cfg_int(x, v, sub, 1, 65536, &a->max_inflight) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "new_orders_in_flight");
	if ((v = cfg_map_get(n, "new_orders_in_flight")) != NULL &&
	    cfg_int(x, v, sub, 1, 65536, &a->new_orders_in_flight) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "new_orders_per");
	if ((v = cfg_map_get(n, "new_orders_per")) != NULL &&
	    cfg_rate(x, v, sub, &a->new_orders_per_count, &a->new_orders_per_seconds) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "requests_per_second");
	if ((v = cfg_map_get(n, "requests_per_second")) != NULL &&
	    cfg_int(x, v, sub, 1, 100000, &a->requests_per_second) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "certbot_account");
	if ((v = cfg_map_get(n, "certbot_account")) != NULL &&
	    cfg_path(x, v, sub, &a->certbot_account) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "shared");
	if ((v = cfg_map_get(n, "shared")) != NULL && cfg_shared(x, c, v, sub, &a->shared) < 0)
		return -1;
	return 0;
}

void cfg_account_free_members(struct config_account *a)
{
	free(a->name);
	free(a->directory_url);
	free(a->staging_directory_url);
	strlist_free(&a->contact);
	free(a->eab_kid);
	free_secret(a->eab_hmac, a->eab_hmac_len);
	free(a->ca_bundle);
	free(a->certbot_account);
}

static int parse_accounts(struct cfg_ctx *x, const struct ynode *n, struct config *c)
{
	if (cfg_expect_map(x, n, "accounts", "a mapping of account names to accounts") < 0 ||
	    cfg_check_keys(x, n, "accounts", NULL) < 0)
		return -1;
	if (cfg_null(n))
		return 0;
	c->accounts = xcalloc(n->nkids / 2, sizeof(*c->accounts));
	for (size_t i = 0; i + 1 < n->nkids; i += 2) {
		/* Counted first: config_free() frees a half-built account. */
		struct config_account *a = &c->accounts[c->naccounts++];

		if (parse_account(x, c, n->kids[i], n->kids[i + 1], a) < 0)
			return -1;
	}
	return 0;
}


/* ---- defaults and certificates ---- */

static const char *const cert_keys[] = { "name", "domains", "account", "key_type",
	"reuse_key", "challenge", "output_dir", "owner", "group", "mode", "combined",
	"deploy_hook", "renew_before", "profile", "preferred_chain", "notify", "shared", NULL };
static const char *const challenge_keys[] = { "types", "http01", "webroot", "dns01_hook",
	NULL };

/* A certificate being built: the defaults: template, then each entry. */
struct cert_spec {
	struct config_cert c;
	bool http01_set;            /* http01 given explicitly (here or in defaults) */
};

void cfg_cert_free_members(struct config_cert *cc)
{
	free(cc->name);
	strlist_free(&cc->domains);
	free(cc->webroot);
	free(cc->dns01_hook);
	free(cc->output_dir_own);
	strlist_free(&cc->deploy_hook);
	free(cc->profile);
	free(cc->preferred_chain);
	if (cc->notify_own != NULL) {
		cfg_notify_free_members(cc->notify_own);
		free(cc->notify_own);
	}
	memset(cc, 0, sizeof(*cc));
}

static void strlist_copy(struct strlist *dst, const struct strlist *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++)
		strlist_add(dst, src->v[i]);
}

/* cc's own notify:, made from the one it shared until now (the copy-on-write
 * of config_cert.notify); returns it. */
static struct config_notify *notify_own(struct config_cert *cc)
{
	if (cc->notify_own == NULL) {
		cc->notify_own = xcalloc(1, sizeof(*cc->notify_own));
		cfg_notify_copy(cc->notify_own, cc->notify);
		cc->notify = cc->notify_own;
	}
	return cc->notify_own;
}

static void spec_copy(struct cert_spec *dst, const struct cert_spec *src)
{
	*dst = *src;
	dst->c.name = xstrdup(src->c.name);
	strlist_copy(&dst->c.domains, &src->c.domains);
	dst->c.webroot = xstrdup(src->c.webroot);
	dst->c.dns01_hook = xstrdup(src->c.dns01_hook);
	dst->c.output_dir_own = xstrdup(src->c.output_dir_own);
	if (dst->c.output_dir_own != NULL)
		dst->c.output_dir = dst->c.output_dir_own;
	strlist_copy(&dst->c.deploy_hook, &src->c.deploy_hook);
	dst->c.profile = xstrdup(src->c.profile);
	dst->c.preferred_chain = xstrdup(src->c.preferred_chain);
	dst->c.notify_own = NULL;
	if (src->c.notify_own != NULL)
		dst->c.notify = notify_own(&dst->c);
}

static bool has_challenge(const struct config_cert *cc, enum challenge_type t)
{
	for (size_t i = 0; i < cc->nchallenges; i++)
		if (cc->challenges[i] == t)
			return true;
	return false;
}

/* One challenge type name or a list of them, in preference order. */
static int parse_types(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct config_cert *cc)
{
	static const char *const names[] = { "http-01", "dns-01", "tls-alpn-01", NULL };
	enum challenge_type types[CHALLENGE_TYPE__MAX];
	size_t ntypes = 0, nitems = 1;
	const struct ynode *const *items = &n;
	char sub[CFG_PATH_LEN];

	if (n->kind == YNODE_SEQ) {
		items = (const struct ynode *const *)n->kids;
		nitems = n->nkids;
		if (nitems == 0)
			return cfg_error(x, n, path, "must list at least one challenge type");
	} else if (n->kind != YNODE_SCALAR || cfg_null(n)) {
		return cfg_error(x, n, path, "expected a challenge type or a list of them, got %s",
		    ynode_describe(n));
	}
	for (size_t i = 0; i < nitems; i++) {
		const struct ynode *it = items[i];
		int t = -1;

		if (n->kind == YNODE_SEQ)
			cfg_path_index(sub, sizeof(sub), path, i);
		else
			snprintf(sub, sizeof(sub), "%s", path);
		if (it->kind != YNODE_SCALAR || cfg_null(it))
			return cfg_error(x, it, sub, "expected a challenge type, got %s",
			    ynode_describe(it));
		for (int k = 0; k < CHALLENGE_TYPE__MAX; k++)
			if (strcasecmp(it->str, names[k]) == 0)
				t = k;
		if (t < 0)
			return cfg_unknown(x, it, sub, "challenge type", names,
			    "http-01, dns-01 or tls-alpn-01");
		for (size_t k = 0; k < ntypes; k++)
			if (types[k] == (enum challenge_type)t)
				return cfg_error(x, it, sub, "challenge type '%s' is listed twice",
				    names[t]);
		types[ntypes++] = (enum challenge_type)t;
	}
	memcpy(cc->challenges, types, ntypes * sizeof(types[0]));
	cc->nchallenges = ntypes;
	return 0;
}

/* challenge: a type, a list of types, or a mapping whose keys each
 * override the same setting inherited from defaults. */
static int parse_challenge(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct cert_spec *s)
{
	const struct ynode *v;
	char sub[CFG_PATH_LEN];
	char *str = NULL;

	if (n->kind != YNODE_MAP)
		return parse_types(x, n, path, &s->c);
	if (cfg_check_keys(x, n, path, challenge_keys) < 0)
		return -1;
	cfg_path_key(sub, sizeof(sub), path, "types");
	if ((v = cfg_map_get(n, "types")) != NULL && parse_types(x, v, sub, &s->c) < 0)
		return -1;
	if ((v = cfg_map_get(n, "http01")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "http01");
		if (v->kind != YNODE_SCALAR || cfg_null(v))
			return cfg_error(x, v, sub, "expected standalone or webroot, got %s",
			    ynode_describe(v));
		if (strcmp(v->str, "standalone") == 0)
			s->c.http01_mode = HTTP01_STANDALONE;
		else if (strcmp(v->str, "webroot") == 0)
			s->c.http01_mode = HTTP01_WEBROOT;
		else
			return cfg_error(x, v, sub, "unknown http01 mode '%s'; expected "
			    "standalone or webroot", v->str);
		s->http01_set = true;
	}
	if ((v = cfg_map_get(n, "webroot")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "webroot");
		if (cfg_path(x, v, sub, &str) < 0)
			return -1;
		replace_str(&s->c.webroot, str);
	}
	if ((v = cfg_map_get(n, "dns01_hook")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "dns01_hook");
		if (v->kind == YNODE_SCALAR && strpbrk(v->str, " \t") != NULL)
			return cfg_error(x, v, sub, "'%s' has spaces: dns01_hook is one program, "
			    "run without a shell as PROGRAM add|remove RECORD VALUE; put other "
			    "arguments in a script", v->str);
		if (cfg_program(x, v, sub, &str) < 0)
			return -1;
		replace_str(&s->c.dns01_hook, str);
	}
	return 0;
}

static int parse_account_ref(struct cfg_ctx *x, const struct config *c,
    const struct ynode *v, const char *path, struct cert_spec *s)
{
	const struct config_account *a;
	char *name = NULL;

	if (cfg_string(x, v, path, &name) < 0)
		return -1;
	if ((a = config_find_account(c, name)) == NULL) {
		const char **names = xcalloc(c->naccounts + 1, sizeof(*names));
		const char *hint;

		for (size_t i = 0; i < c->naccounts; i++)
			names[i] = c->accounts[i].name;
		hint = cfg_suggest(name, names);
		if (c->naccounts == 0)
			cfg_error(x, v, path, "unknown account '%s': no accounts are defined", name);
		else if (hint != NULL)
			cfg_error(x, v, path, "unknown account '%s'; did you mean '%s'?", name, hint);
		else
			cfg_error(x, v, path, "unknown account '%s'; it must be one of the names "
			    "under accounts:", name);
		free(names);
		free(name);
		return -1;
	}
	free(name);
	s->c.account_name = a->name;
	s->c.account = a;
	return 0;
}

/* Applies one key of a certificate entry (or of defaults:) to s. */
static int parse_cert_key(struct cfg_ctx *x, const struct config *c, const char *key,
    const struct ynode *v, const char *path, struct cert_spec *s)
{
	char *str = NULL;

	if (strcmp(key, "name") == 0) {
		if (cfg_name(x, v, path, "certificate", &str) < 0)
			return -1;
		replace_str(&s->c.name, str);
	} else if (strcmp(key, "domains") == 0) {
		return cfg_domains(x, v, path, &s->c.domains);
	} else if (strcmp(key, "account") == 0) {
		return parse_account_ref(x, c, v, path, s);
	} else if (strcmp(key, "key_type") == 0) {
		return cfg_key_type(x, v, path, &s->c.key_type);
	} else if (strcmp(key, "reuse_key") == 0) {
		return cfg_bool(x, v, path, &s->c.reuse_key);
	} else if (strcmp(key, "challenge") == 0) {
		return parse_challenge(x, v, path, s);
	} else if (strcmp(key, "output_dir") == 0) {
		if (cfg_path(x, v, path, &str) < 0)
			return -1;
		replace_str(&s->c.output_dir_own, str);
		s->c.output_dir = str;
		if (!(x->flags & CONFIG_LOAD_CERTS))
			return 0;
		return cfg_host_dir(x, v, path, s->c.output_dir);
	} else if (strcmp(key, "owner") == 0) {
		return cfg_owner(x, v, path, &s->c.owner);
	} else if (strcmp(key, "group") == 0) {
		return cfg_group(x, v, path, &s->c.group);
	} else if (strcmp(key, "mode") == 0) {
		return cfg_mode(x, v, path, &s->c.mode);
	} else if (strcmp(key, "combined") == 0) {
		return cfg_bool(x, v, path, &s->c.combined);
	} else if (strcmp(key, "deploy_hook") == 0) {
		return cfg_argv(x, v, path, &s->c.deploy_hook);
	} else if (strcmp(key, "renew_before") == 0) {
		return cfg_duration(x, v, path, false, &s->c.renew_before);
	} else if (strcmp(key, "profile") == 0) {
		if (cfg_string(x, v, path, &str) < 0)
			return -1;
		replace_str(&s->c.profile, str);
	} else if (strcmp(key, "preferred_chain") == 0) {
		if (cfg_preferred_chain(x, v, path, &str) < 0)
			return -1;
		replace_str(&s->c.preferred_chain, str);
	} else if (strcmp(key, "notify") == 0) {
		return cfg_notify(x, v, path, notify_own(&s->c));
	} else if (strcmp(key, "shared") == 0) {
		return cfg_shared(x, c, v, path, &s->c.shared);
	}
	return 0;
}

static int cert_apply(struct cfg_ctx *x, const struct config *c, const struct ynode *map,
    const char *path, struct cert_spec *s, bool is_defaults)
{
	char sub[CFG_PATH_LEN];

	if (cfg_check_keys(x, map, path, cert_keys) < 0)
		return -1;
	for (size_t i = 0; map != NULL && i + 1 < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i];

		cfg_path_key(sub, sizeof(sub), path, k->str);
		if (is_defaults && (strcmp(k->str, "name") == 0 ||
		    strcmp(k->str, "domains") == 0))
			return cfg_error(x, k, sub, "cannot be set in defaults; it belongs to "
			    "each certificate");
		if (parse_cert_key(x, c, k->str, map->kids[i + 1], sub, s) < 0)
			return -1;
	}
	return 0;
}

/* What can only be checked once an entry and its defaults are merged. */
static int cert_finish(struct cfg_ctx *x, const struct config *c, struct cfg_cert_index *ix,
    const struct ynode *map, const char *path, struct cert_spec *s)
{
	const struct ynode *dn = cfg_map_get(map, "domains");
	char sub[CFG_PATH_LEN];

	if (s->c.name == NULL)
		return cfg_missing(x, map, path, "name");
	if (dn == NULL)
		return cfg_missing(x, map, path, "domains");
	if (cfg_cert_name_unique(x, c, ix, map, path, s->c.name) < 0)
		return -1;
	if (s->c.account_name == NULL) {
		if (c->naccounts == 0)
			return cfg_error(x, map, path, "no accounts are defined; add one under "
			    "accounts:");
		if (c->naccounts > 1)
			return cfg_error(x, map, path, "missing required key 'account' (%zu "
			    "accounts are defined and defaults: sets none)", c->naccounts);
		s->c.account_name = c->accounts[0].name;
		s->c.account = &c->accounts[0];
	}
	/* One host orders for the pool with the pool's account: never with an
	 * account each host registered for itself. */
	if (s->c.shared && !s->c.account->shared)
		return cfg_error(x, map, path, "certificate '%s' is shared but its account '%s' "
		    "(line %d) is not; set shared: false on the certificate or share the "
		    "account", s->c.name, s->c.account_name, s->c.account->line);
	if (!s->http01_set && s->c.webroot != NULL)
		s->c.http01_mode = HTTP01_WEBROOT;
	if (has_challenge(&s->c, CHALLENGE_HTTP01) && s->c.http01_mode == HTTP01_WEBROOT &&
	    s->c.webroot == NULL)
		return cfg_error(x, map, path, "missing required key 'challenge.webroot' "
		    "(needed for http01: webroot)");
	if (has_challenge(&s->c, CHALLENGE_DNS01) && s->c.dns01_hook == NULL)
		return cfg_error(x, map, path, "missing required key 'challenge.dns01_hook' "
		    "(needed for dns-01)");
	for (size_t i = 0; i < s->c.domains.n; i++) {
		if (s->c.domains.v[i][0] == '*' && !has_challenge(&s->c, CHALLENGE_DNS01)) {
			char item[CFG_PATH_LEN];

			cfg_path_key(sub, sizeof(sub), path, "domains");
			cfg_path_index(item, sizeof(item), sub, i);
			return cfg_error(x, dn->kids[i], item, "wildcard name %s requires dns-01 "
			    "among the challenge types (only dns-01 can validate a wildcard)",
			    s->c.domains.v[i]);
		}
	}
	s->c.line = map->line;
	return cfg_cert_unique(x, c, ix, map, path, &s->c);
}

static int parse_certs(struct cfg_ctx *x, const struct ynode *root, const char *output_dir,
    struct config *c)
{
	const struct ynode *defs = cfg_map_get(root, "defaults");
	const struct ynode *list = cfg_map_get(root, "certificates");
	struct cert_spec tmpl = { 0 }, s = { 0 };
	struct cfg_cert_index *ix = NULL;
	char path[CFG_PATH_LEN];
	int rc = -1;

	tmpl.c.key_type = KEY_EC_P256;
	tmpl.c.challenges[0] = CHALLENGE_HTTP01;
	tmpl.c.nchallenges = 1;
	tmpl.c.http01_mode = HTTP01_STANDALONE;
	tmpl.c.output_dir = tmpl.c.output_dir_own = xstrdup(output_dir);
	tmpl.c.owner = (uid_t)-1;
	tmpl.c.group = (gid_t)-1;
	tmpl.c.mode = 0644;
	tmpl.c.shared = c->cluster != NULL;
	/* The top level's notify: is where every certificate's starts. */
	tmpl.c.notify = &c->notify;
	(void)notify_own(&tmpl.c);
	if (cfg_expect_map(x, defs, "defaults", "a mapping of certificate settings") < 0 ||
	    cert_apply(x, c, defs, "defaults", &tmpl, true) < 0)
		goto out;
	/* From here the config owns the merged notify: and the output_dir that
	 * the entries share. */
	c->cert_notify = tmpl.c.notify_own;
	tmpl.c.notify_own = NULL;
	c->cert_output_dir = tmpl.c.output_dir_own;
	tmpl.c.output_dir_own = NULL;
	if (list != NULL && !cfg_null(list) && list->kind != YNODE_SEQ) {
		cfg_error(x, list, "certificates", "expected a list of certificates, got %s",
		    ynode_describe(list));
		goto out;
	}
	if (cfg_null(list)) {
		rc = 0;
		goto out;
	}
	c->certs = xcalloc(list->nkids, sizeof(*c->certs));
	ix = cfg_cert_index_new(list->nkids);
	for (size_t i = 0; i < list->nkids; i++) {
		const struct ynode *map = list->kids[i];

		cfg_path_index(path, sizeof(path), "certificates", i);
		if (map->kind != YNODE_MAP) {
			cfg_error(x, map, path, "expected a mapping with name and domains, got %s",
			    ynode_describe(map));
			goto out;
		}
		spec_copy(&s, &tmpl);
		if (cert_apply(x, c, map, path, &s, false) < 0 ||
		    cert_finish(x, c, ix, map, path, &s) < 0)
			goto out;
		c->certs[c->ncerts++] = s.c;
		memset(&s, 0, sizeof(s));
	}
	rc = 0;
out:
	cfg_cert_index_free(ix);
	cfg_cert_free_members(&s.c);
	cfg_cert_free_members(&tmpl.c);
	return rc;
}

/*
 * The directories the inventory did not name are checked too (with
 * CONFIG_LOAD_HOST; at 1:1), and the top-level output_dir only when a
 * certificate uses it: those given were checked where they were read.
 */
static int host_defaults(struct cfg_ctx *x, const struct ynode *root,
    const char *output_dir, const struct config *c)
{
	const struct ynode *v = cfg_map_get(root, "output_dir");

	if (!(x->flags & CONFIG_LOAD_HOST))
		return 0;
	if (cfg_map_get(root, "state_dir") == NULL &&
	    cfg_host_dir(x, NULL, "state_dir", c->state_dir) < 0)
		return -1;
	if (cfg_map_get(root, "control_socket") == NULL && !(x->flags & CONFIG_LOAD_NO_CONTROL) &&
	    socket_dir_check(x, NULL, "control_socket", c->control_socket) < 0)
		return -1;
	if (!(x->flags & CONFIG_LOAD_CERTS))
		return 0;
	for (size_t i = 0; i < c->ncerts; i++)
		if (strcmp(c->certs[i].output_dir, output_dir) == 0)
			return cfg_host_dir(x, v, "output_dir", output_dir);
	return 0;
}

int cfg_build(struct cfg_ctx *x, const struct ynode *root, struct config *c)
{
	char *output_dir = NULL;
	int rc = -1;

	if (root->kind != YNODE_MAP)
		return cfg_error(x, root, NULL, "expected a mapping of settings at the top "
		    "level, got %s", ynode_describe(root));
	if (cfg_check_keys(x, root, "", top_keys) < 0)
		return -1;
	c->path = xstrdup(x->file);
	c->state_dir = xstrdup(DEFAULT_STATE_DIR);
	c->control_socket = xstrdup(DEFAULT_CONTROL_SOCKET);
	c->control_socket_mode = 0660;
	c->control_socket_owner = (uid_t)-1;
	c->control_socket_group = (gid_t)-1;
	c->control_admin_group = (gid_t)-1;
	c->http01_listen = xstrdup(DEFAULT_HTTP01_LISTEN);
	c->tlsalpn01_listen = xstrdup(DEFAULT_TLSALPN01_LISTEN);
	c->finalize_timeout = 120;
	c->order_timeout = 1800;
	c->hook_timeout = 300;
	c->dns_propagation_timeout = 600;
	c->renew_jitter = 3600;
	c->max_inflight = 256;
	cfg_notify_init(&c->notify);
	output_dir = xstrdup(DEFAULT_OUTPUT_DIR);
	for (size_t i = 0; i + 1 < root->nkids; i += 2)
		if (parse_top_value(x, root->kids[i]->str, root->kids[i + 1], c,
		    &output_dir) < 0)
			goto out;
	if (parse_accounts(x, cfg_map_get(root, "accounts"), c) < 0 ||
	    parse_certs(x, root, output_dir, c) < 0)
		goto out;
	if (host_defaults(x, root, output_dir, c) < 0)
		goto out;
	rc = 0;
out:
	free(output_dir);
	return rc;
}

/* ---- lookups (config.h) ---- */

/* Here and not in config.c: the builder resolves a certificate's account:
 * with config_find_account(), and must not call up into the entry point. */
const struct config_cert *config_find_cert(const struct config *c, const char *name)
{
	for (size_t i = 0; c != NULL && name != NULL && i < c->ncerts; i++)
		if (strcmp(c->certs[i].name, name) == 0)
			return &c->certs[i];
	return NULL;
}

const struct config_account *config_find_account(const struct config *c, const char *name)
{
	for (size_t i = 0; c != NULL && name != NULL && i < c->naccounts; i++)
		if (strcmp(c->accounts[i].name, name) == 0)
			return &c->accounts[i];
	return NULL;
}
