/*
 * config_notify.c - the notify: settings: where notifications go (a
 * webhook, a mail program) and when (after how many failures, how long
 * before expiry).  config_schema.c calls cfg_notify() for the top-level
 * notify:, for defaults: and for each certificate, each time over what the
 * level above gave, so a certificate may change one key and inherit the
 * rest.
 *
 * The webhook's secret header is read from its file here, at load time,
 * like the EAB key: a file readable by anyone but its owner is refused
 * (the value would be sent as a credential), and a missing file shows at
 * `certfleetd --check`, not at 3 a.m. when the first failure is to be told.
 */
#include "config_notify.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "config_url.h"

#define DEFAULT_WEBHOOK_TIMEOUT 10
#define DEFAULT_AFTER_FAILURES 3
#define DEFAULT_WARN_PCT 10

static const char *const notify_keys[] = { "webhook", "mail", "after_failures",
	"warn_before", NULL };
static const char *const webhook_keys[] = { "url", "header", "timeout", "ca_bundle", NULL };
static const char *const header_keys[] = { "name", "secret_file", NULL };
static const char *const mail_keys[] = { "program", "to", "from", NULL };

void cfg_notify_init(struct config_notify *n)
{
	memset(n, 0, sizeof(*n));
	n->webhook_timeout = DEFAULT_WEBHOOK_TIMEOUT;
	n->after_failures = DEFAULT_AFTER_FAILURES;
	n->warn_before_pct = DEFAULT_WARN_PCT;
}

static void copy_list(struct strlist *dst, const struct strlist *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->n; i++)
		strlist_add(dst, src->v[i]);
}

static void webhook_clear(struct config_notify *n)
{
	free(n->webhook_url);
	free_secret(n->webhook_header, n->webhook_header ? strlen(n->webhook_header) : 0);
	free(n->webhook_ca_bundle);
	n->webhook_url = n->webhook_header = n->webhook_ca_bundle = NULL;
	n->webhook_timeout = DEFAULT_WEBHOOK_TIMEOUT;
}

static void mail_clear(struct config_notify *n)
{
	strlist_free(&n->mail_argv);
	strlist_free(&n->mail_to);
	free(n->mail_from);
	n->mail_from = NULL;
}

void cfg_notify_copy(struct config_notify *dst, const struct config_notify *src)
{
	*dst = *src;
	dst->webhook_url = xstrdup(src->webhook_url);
	dst->webhook_header = xstrdup(src->webhook_header);
	dst->webhook_ca_bundle = xstrdup(src->webhook_ca_bundle);
	copy_list(&dst->mail_argv, &src->mail_argv);
	copy_list(&dst->mail_to, &src->mail_to);
	dst->mail_from = xstrdup(src->mail_from);
}

void cfg_notify_free_members(struct config_notify *n)
{
	webhook_clear(n);
	mail_clear(n);
	cfg_notify_init(n);
}

bool config_notify_enabled(const struct config_notify *n)
{
	return n->webhook_url != NULL || n->mail_argv.n > 0;
}

/* `false`: the setting is removed (webhook: false, mail: false). */
static bool is_false(const struct ynode *n)
{
	return n->kind == YNODE_SCALAR && n->scalar == YSCALAR_BOOL &&
	    (n->str[0] == 'f' || n->str[0] == 'F');
}

/* url: http:// or https://, a host, no credentials, no spaces.  *plain_remote
 * is set for http:// to another machine. */
static int webhook_url(struct cfg_ctx *x, const struct ynode *n, const char *path,
    char **out, bool *plain_remote)
{
	static const struct cfg_url_rules rules = { "webhook URL", false,
		"send them in header: with a secret_file" };
	struct cfg_url u;

	*out = NULL;
	if (cfg_url(x, n, path, &rules, &u) < 0)
		return -1;
	*plain_remote = !u.https && !u.loopback;
	*out = u.s;
	return 0;
}

/* An HTTP header name: RFC 9110 token characters. */
static bool header_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && strchr("!#$%&'*+-.^_`|~", *s) == NULL)
			return false;
	return true;
}

/*
 * The secret of header: read from secret_file, which only its owner may
 * read or write (0600 or stricter).  *out is "Name: secret" (free_secret).
 */
static int read_secret(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *name, char **out)
{
	char *data = NULL;
	size_t len = 0;

	*out = NULL;
	if (cfg_secret_line(x, n, path, "the webhook's secret", "the header's value", &data,
	    &len) < 0)
		return -1;
	*out = xasprintf("%s: %s", name, data);
	free_secret(data, len);
	return 0;
}

static int parse_header(struct cfg_ctx *x, const struct ynode *n, const char *path,
    char **out)
{
	const struct ynode *v, *f;
	char sub[CFG_PATH_LEN];
	char *name = NULL;
	int rc = -1;

	if (n->kind != YNODE_MAP)
		return cfg_error(x, n, path, "expected a mapping with name and secret_file, got %s",
		    ynode_describe(n));
	if (cfg_check_keys(x, n, path, header_keys) < 0)
		return -1;
	if ((v = cfg_map_get(n, "name")) == NULL)
		return cfg_missing(x, n, path, "name");
	if ((f = cfg_map_get(n, "secret_file")) == NULL)
		return cfg_missing(x, n, path, "secret_file");
	cfg_path_key(sub, sizeof(sub), path, "name");
	if (cfg_string(x, v, sub, &name) < 0)
		goto out;
	if (!header_token(name)) {
		cfg_error(x, v, sub, "'%s' is not an HTTP header name (letters, digits and "
		    "-, such as Authorization or X-Api-Key)", name);
		goto out;
	}
	cfg_path_key(sub, sizeof(sub), path, "secret_file");
	rc = read_secret(x, f, sub, name, out);
out:
	free(name);
	return rc;
}

static int parse_webhook(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct config_notify *out)
{
	const struct ynode *v, *u;
	char sub[CFG_PATH_LEN], upath[CFG_PATH_LEN];
	char *url = NULL, *header = NULL, *ca = NULL;
	long long timeout = DEFAULT_WEBHOOK_TIMEOUT;
	bool plain_remote = false;
	int rc = -1;

	if (is_false(n)) {
		webhook_clear(out);
		return 0;
	}
	if (n->kind != YNODE_MAP)
		return cfg_error(x, n, path, "expected a mapping with url (or false), got %s",
		    ynode_describe(n));
	if (cfg_check_keys(x, n, path, webhook_keys) < 0)
		return -1;
	if ((u = cfg_map_get(n, "url")) == NULL)
		return cfg_missing(x, n, path, "url");
	cfg_path_key(upath, sizeof(upath), path, "url");
	if (webhook_url(x, u, upath, &url, &plain_remote) < 0)
		goto out;
	if ((v = cfg_map_get(n, "header")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "header");
		if (plain_remote) {
			cfg_error(x, u, upath, "webhook URL '%s' is plain http:// to "
			    "another machine: the header's secret would cross the network in "
			    "clear; use https://", url);
			goto out;
		}
		if (parse_header(x, v, sub, &header) < 0)
			goto out;
	}
	if ((v = cfg_map_get(n, "timeout")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "timeout");
		if (cfg_duration(x, v, sub, false, &timeout) < 0)
			goto out;
		if (timeout > 300) {
			cfg_error(x, v, sub, "at most 5m: a webhook that slow is retried instead");
			goto out;
		}
	}
	if ((v = cfg_map_get(n, "ca_bundle")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "ca_bundle");
		if (cfg_ca_bundle(x, v, sub, &ca) < 0)
			goto out;
	}
	webhook_clear(out);
	out->webhook_url = url;
	out->webhook_header = header;
	out->webhook_ca_bundle = ca;
	out->webhook_timeout = timeout;
	url = header = ca = NULL;
	rc = 0;
out:
	free(url);
	free_secret(header, header ? strlen(header) : 0);
	free(ca);
	return rc;
}

/* One mail address for a header: no spaces, controls, commas or brackets,
 * one '@' between non-empty parts. */
static int mail_address(struct cfg_ctx *x, const struct ynode *n, const char *path,
    char **out)
{
	const char *at;
	char *s = NULL;

	if (cfg_string(x, n, path, &s) < 0)
		return -1;
	at = strchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
	    strpbrk(s, " \t\r\n,;<>()\"") != NULL) {
		cfg_error(x, n, path, "'%s' is not a mail address (user@example.com)", s);
		free(s);
		return -1;
	}
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < ' ' || (unsigned char)*p == 0x7f) {
			cfg_error(x, n, path, "'%s' is not a mail address (user@example.com)", s);
			free(s);
			return -1;
		}
	}
	*out = s;
	return 0;
}

static int parse_mail(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct config_notify *out)
{
	struct strlist argv = { 0 }, to = { 0 };
	const struct ynode *v;
	char sub[CFG_PATH_LEN], item[CFG_PATH_LEN];
	char *from = NULL, *a = NULL;
	int rc = -1;

	if (is_false(n)) {
		mail_clear(out);
		return 0;
	}
	if (n->kind != YNODE_MAP)
		return cfg_error(x, n, path, "expected a mapping with to (or false), got %s",
		    ynode_describe(n));
	if (cfg_check_keys(x, n, path, mail_keys) < 0)
		return -1;
	if ((v = cfg_map_get(n, "to")) == NULL)
		return cfg_missing(x, n, path, "to");
	cfg_path_key(sub, sizeof(sub), path, "to");
	if (v->kind == YNODE_SEQ) {
		if (v->nkids == 0) {
			cfg_error(x, v, sub, "must list at least one address");
			goto out;
		}
		for (size_t i = 0; i < v->nkids; i++) {
			cfg_path_index(item, sizeof(item), sub, i);
			if (mail_address(x, v->kids[i], item, &a) < 0)
				goto out;
			strlist_add(&to, a);
			free(a);
		}
	} else {
		if (mail_address(x, v, sub, &a) < 0)
			goto out;
		strlist_add(&to, a);
		free(a);
	}
	if ((v = cfg_map_get(n, "from")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "from");
		if (mail_address(x, v, sub, &from) < 0)
			goto out;
	}
	if ((v = cfg_map_get(n, "program")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "program");
		if (cfg_argv(x, v, sub, &argv) < 0)
			goto out;
		if (argv.n == 0) {
			cfg_error(x, v, sub, "must name a program (or leave program out for "
			    "/usr/sbin/sendmail -t)");
			goto out;
		}
	} else {
		/* sendmail -t takes the recipients from the To: header. */
		strlist_add(&argv, "/usr/sbin/sendmail");
		strlist_add(&argv, "-t");
	}
	mail_clear(out);
	out->mail_argv = argv;
	out->mail_to = to;
	out->mail_from = from;
	memset(&argv, 0, sizeof(argv));
	memset(&to, 0, sizeof(to));
	from = NULL;
	rc = 0;
out:
	strlist_free(&argv);
	strlist_free(&to);
	free(from);
	return rc;
}

/* warn_before: a duration before notAfter, or "N%" of the lifetime. */
static int parse_warn_before(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct config_notify *out)
{
	size_t len = n->kind == YNODE_SCALAR && !cfg_null(n) ? strlen(n->str) : 0;

	if (len > 1 && n->str[len - 1] == '%') {
		char *end;
		long v = strtol(n->str, &end, 10);

		if (end != n->str + len - 1 || v < 1 || v > 99)
			return cfg_error(x, n, path, "bad percentage '%s': expected a whole number "
			    "of percent of the lifetime from 1%% to 99%% (such as 10%%)", n->str);
		out->warn_before = 0;
		out->warn_before_pct = (int)v;
		return 0;
	}
	if (n->kind == YNODE_SCALAR && !cfg_null(n) && n->scalar != YSCALAR_BOOL) {
		long long d;

		if (duration_parse(n->str, &d) < 0 || d <= 0)
			return cfg_error(x, n, path, "bad warn_before '%s': expected a duration "
			    "(such as 7d or 36h) or a percentage of the lifetime (such as 10%%)",
			    n->str);
	}
	if (cfg_duration(x, n, path, false, &out->warn_before) < 0)
		return -1;
	return 0;
}

int cfg_notify(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct config_notify *out)
{
	const struct ynode *v;
	char sub[CFG_PATH_LEN];

	if (is_false(n)) {
		webhook_clear(out);
		mail_clear(out);
		return 0;
	}
	if (cfg_expect_map(x, n, path, "a mapping with webhook, mail, after_failures or "
	    "warn_before (or false)") < 0 || cfg_check_keys(x, n, path, notify_keys) < 0)
		return -1;
	if (cfg_null(n))
		return 0;
	if ((v = cfg_map_get(n, "webhook")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "webhook");
		if (parse_webhook(x, v, sub, out) < 0)
			return -1;
	}
	if ((v = cfg_map_get(n, "mail")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "mail");
		if (parse_mail(x, v, sub, out) < 0)
			return -1;
	}
	if ((v = cfg_map_get(n, "after_failures")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "after_failures");
		if (cfg_int(x, v, sub, 1, 1000, &out->after_failures) < 0)
			return -1;
	}
	if ((v = cfg_map_get(n, "warn_before")) != NULL) {
		cfg_path_key(sub, sizeof(sub), path, "warn_before");
		if (parse_warn_before(x, v, sub, out) < 0)
			return -1;
	}
	return 0;
}
