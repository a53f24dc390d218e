/*
 * certbot_import.c - reads certbot's configuration directory: renewal/
 * NAME.conf (configobj's INI dialect), renewal-hooks/{pre,post,deploy}/,
 * accounts/SERVER/PATH/ID/{private_key.json,regr.json} and each lineage's
 * current certificate, and writes the certfleet inventory that does the
 * same (certfleetctl import-certbot).  The daemon adopts the accounts it
 * names through certbot_account.c.
 *
 * Certbot's hooks are shell command lines; certfleet runs hooks without a
 * shell, so each becomes [/bin/sh, -c, LINE].  What has no certfleet
 * equivalent (pre-hooks, the manual and DNS plugins, web server
 * installers) is written as a "# " comment next to where it would go.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme_json.h"
#include "certbot_import.h"
#include "crypto.h"
#include "util.h"

#define CONF_MAX (1 << 20)

/* ---- renewal/NAME.conf ---- */

struct kv {
	char *section;              /* "", "renewalparams", "webroot_map" */
	char *key, *value;
};

struct conf {
	struct kv *v;
	size_t n;
};

static void conf_free(struct conf *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].section);
		free(c->v[i].key);
		free(c->v[i].value);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* configobj quotes a value that has a comma, a # or surrounding blanks. */
static char *unquote(const char *s)
{
	size_t l = strlen(s);

	if (l >= 2 && (s[0] == '"' || s[0] == '\'') && s[l - 1] == s[0])
		return xstrndup(s + 1, l - 2);
	return xstrdup(s);
}

static int conf_parse(const char *path, struct conf *c, char *err, size_t errlen)
{
	char *data = NULL, *line, *save = NULL, *section = xstrdup("");
	size_t len = 0;
	int lineno = 0, rc = -1;

	if (read_file(path, &data, &len, CONF_MAX) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *s = trim(line), *eq;

		lineno++;
		if (*s == '\0' || *s == '#')
			continue;
		if (*s == '[') {
			char *e = s + strlen(s);
			while (*s == '[')
				s++;
			while (e > s && e[-1] == ']')
				*--e = '\0';
			free(section);
			section = xstrdup(trim(s));
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL) {
			snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
			goto out;
		}
		*eq = '\0';
		c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
		c->v[c->n].section = xstrdup(section);
		c->v[c->n].key = xstrdup(trim(s));
		c->v[c->n].value = unquote(trim(eq + 1));
		c->n++;
	}
	rc = 0;
out:
	free(section);
	free(data);
	return rc;
}

static const char *conf_get(const struct conf *c, const char *section, const char *key)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].section, section) == 0 && strcmp(c->v[i].key, key) == 0)
			return c->v[i].value;
	return NULL;
}

/* A value certbot writes for "not set". */
static bool unset(const char *v)
{
	return v == NULL || *v == '\0' || strcmp(v, "None") == 0;
}

/* ---- YAML output ---- */

/* A double-quoted YAML scalar. */
static void yq(struct buf *b, const char *s)
{
	buf_append(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_appendf(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			buf_appendf(b, "\\x%02x", (unsigned char)*s);
		else
			buf_append(b, s, 1);
	}
	buf_append(b, "\"", 1);
}

/* A comment; s may hold newlines (each line is commented). */
static void ycomment(struct buf *b, const char *indent, const char *s)
{
	const char *p = s;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		buf_appendf(b, "%s# %.*s\n", indent, (int)l, p);
		p += l + (nl ? 1 : 0);
	}
}

/* ---- hooks ---- */

/* Executables of certbot's renewal-hooks/KIND directory, as certbot picks
 * them (regular, executable, not a backup~), sorted. */
static size_t hook_dir_count(const char *config_dir, const char *kind)
{
	char *dir = xasprintf("%s/renewal-hooks/%s", config_dir, kind);
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	while (d && (e = readdir(d)) != NULL) {
		char *p;
		struct stat st;
		size_t l = strlen(e->d_name);

		if (e->d_name[0] == '.' || (l > 0 && e->d_name[l - 1] == '~'))
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0)
			n++;
		free(p);
	}
	if (d)
		closedir(d);
	free(dir);
	return n;
}

/*
 * A hook as certbot runs it: the executables of renewal-hooks/KIND (when
 * there are any) in name order, then the command line from the renewal
 * configuration.  NULL when there is neither.
 */
static char *hook_script(const char *config_dir, const char *kind, const char *line)
{
	bool dir = hook_dir_count(config_dir, kind) > 0;
	struct buf b = {0};

	if (!dir && unset(line))
		return NULL;
	if (dir)
		buf_appendf(&b, "for h in %s/renewal-hooks/%s/*; do case $h in *~) continue;; "
		    "esac; if [ -f \"$h\" ] && [ -x \"$h\" ]; then \"$h\"; fi; done", config_dir, kind);
	if (!unset(line))
		buf_appendf(&b, "%s%s", dir ? "; " : "", line);
	return buf_steal(&b, NULL);
}

static void yhook(struct buf *b, const char *key, const char *script)
{
	buf_appendf(b, "%s: [\"/bin/sh\", \"-c\", ", key);
	yq(b, script);
	buf_appendf(b, "]\n");
}

/* ---- accounts ---- */

struct acct {
	char *id;
	char *server;
	char *dir;                  /* accounts/... directory, NULL when missing */
	char *name;
	char *contact;              /* from regr.json's body, or NULL */
};

struct import {
	const struct certbot_import_opts *o;
	struct acct *accts;
	size_t naccts;
	struct strlist post_hooks;  /* distinct post-hook scripts */
	struct buf certs;           /* the certificates: section */
	struct buf notes;           /* comments for the top of the file */
	size_t ncerts;
};

static bool is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* certbot keeps an account under accounts/<server URL without scheme>/ID. */
static char *account_dir(const char *config_dir, const char *server, const char *id)
{
	const char *p = strstr(server, "://");
	char *d;

	p = p ? p + 3 : server;
	d = xasprintf("%s/accounts/%s/%s", config_dir, p, id);
	if (is_dir(d))
		return d;
	free(d);
	return NULL;
}

static const struct acct *account_get(struct import *im, const char *server, const char *id)
{
	struct acct *a;
	char *regr, *data = NULL;
	size_t len = 0;

	for (size_t i = 0; i < im->naccts; i++)
		if (strcmp(im->accts[i].id, id) == 0 && strcmp(im->accts[i].server, server) == 0)
			return &im->accts[i];
	im->accts = xrealloc(im->accts, (im->naccts + 1) * sizeof(*im->accts));
	a = &im->accts[im->naccts++];
	memset(a, 0, sizeof(*a));
	a->id = xstrdup(id);
	a->server = xstrdup(server);
	a->dir = account_dir(im->o->config_dir, server, id);
	a->name = xasprintf("certbot-%.8s", id);
	if (a->dir != NULL) {
		/* Older certbots kept the registration body, contact included. */
		regr = xasprintf("%s/regr.json", a->dir);
		if (read_file(regr, &data, &len, CONF_MAX) == 0) {
			const char *m = strstr(data, "\"mailto:");
			if (m != NULL) {
				const char *e = strchr(m + 1, '"');
				if (e != NULL)
					a->contact = xstrndup(m + 1, (size_t)(e - m - 1));
			}
		}
		free(data);
		free(regr);
	}
	return a;
}

/* ---- one lineage ---- */

/* The lineage's current certificate: the conf's cert path (live/NAME/
 * cert.pem), else the highest archive/NAME/certN.pem. */
static int lineage_cert(const char *config_dir, const char *name, const struct conf *c,
    struct cert_info *ci, char **from)
{
	const char *cert = conf_get(c, "", "cert");
	char *path = cert ? xstrdup(cert) : xasprintf("%s/live/%s/cert.pem", config_dir, name);
	char *pem = NULL;
	size_t len = 0;
	int rc = -1;

	if (read_file(path, &pem, &len, CONF_MAX) < 0) {
		char *arch = xasprintf("%s/archive/%s", config_dir, name);
		DIR *d = opendir(arch);
		struct dirent *e;
		int best = 0;

		while (d && (e = readdir(d)) != NULL) {
			int v;
			char tail[8];
			if (sscanf(e->d_name, "cert%d.%4s", &v, tail) == 2 &&
			    strcmp(tail, "pem") == 0 && v > best)
				best = v;
		}
		if (d)
			closedir(d);
		free(path);
		path = xasprintf("%s/cert%d.pem", arch, best);
		free(arch);
		if (best == 0 || read_file(path, &pem, &len, CONF_MAX) < 0)
			goto out;
	}
	if (cert_info_from_pem(pem, len, ci) < 0)
		goto out;
	rc = 0;
out:
	free(pem);
	*from = path;
	return rc;
}

/* "30 days", "2 weeks 3 days", "12 hours" -> "30d" ... ; NULL if not. */
static char *renew_before(const char *v)
{
	static const struct { const char *word; char unit; } units[] = {
		{ "week", 'w' }, { "day", 'd' }, { "hour", 'h' }, { "minute", 'm' },
		{ "second", 's' },
	};
	struct buf b = {0};
	const char *p = v;

	while (*p) {
		char *end, word[16];
		long n;
		int used = 0;
		bool ok = false;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		n = strtol(p, &end, 10);
		if (end == p || n < 0 || sscanf(end, " %15[a-zA-Z]%n", word, &used) != 1)
			goto bad;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			if (strncasecmp(word, units[i].word, strlen(units[i].word)) == 0) {
				buf_appendf(&b, "%s%ld%c", b.len ? " " : "", n, units[i].unit);
				ok = true;
			}
		}
		if (!ok)
			goto bad;
		p = end + used;
	}
	if (b.len == 0)
		goto bad;
	return buf_steal(&b, NULL);
bad:
	buf_free(&b);
	return NULL;
}

/* Keys of [renewalparams] that are either mapped below or meaningless to
 * certfleet (certbot's own paths and bookkeeping). */
static const char *const handled_keys[] = { "account", "server", "authenticator",
	"installer", "webroot_path", "key_type", "rsa_key_size", "elliptic_curve",
	"pre_hook", "post_hook", "renew_hook", "deploy_hook", "reuse_key", "preferred_chain",
	"preferred_challenges", "http01_port", "http01_address", "config_dir", "work_dir",
	"logs_dir", "manual_public_ip_logging_ok", "allow_subset_of_names",
	"must_staple", NULL };

static bool handled(const char *k)
{
	for (size_t i = 0; handled_keys[i]; i++)
		if (strcmp(k, handled_keys[i]) == 0)
			return true;
	return false;
}

/* The type of the lineage's current key (the conf's privkey path, else
 * live/NAME/privkey.pem); -1 when it cannot be read. */
static int current_key_type(const char *config_dir, const char *name, const struct conf *c)
{
	const char *path = conf_get(c, "", "privkey");
	char *p = path ? xstrdup(path) : xasprintf("%s/live/%s/privkey.pem", config_dir, name);
	char *pem = NULL;
	size_t len = 0;
	privkey_t *k = NULL;
	int t = -1;

	if (read_file(p, &pem, &len, CONF_MAX) < 0) {
		free(p);
		p = xasprintf("%s/live/%s/privkey.pem", config_dir, name);
		if (read_file(p, &pem, &len, CONF_MAX) < 0)
			goto out;
	}
	if ((k = privkey_from_pem(pem, len)) != NULL)
		t = (int)privkey_type(k);
out:
	privkey_free(k);
	free_secret(pem, len);
	free(p);
	return t;
}

/*
 * The key_type of the lineage: certbot's key_type with rsa_key_size or
 * elliptic_curve; where those are absent (older certbots) or name a key
 * certfleet does not have, the type of the current key, so the lineage
 * can be adopted as it is.
 */
static const char *key_type_of(const struct conf *c, int current, struct strlist *notes)
{
	const char *kt = conf_get(c, "renewalparams", "key_type");
	const char *bits = conf_get(c, "renewalparams", "rsa_key_size");
	const char *curve = conf_get(c, "renewalparams", "elliptic_curve");
	const char *fallback = current >= 0 ? key_type_name((enum key_type)current) : "ec-p256";
	char *n;

	if (!unset(kt) && strcasecmp(kt, "ecdsa") == 0) {
		if (unset(curve) || strcmp(curve, "secp256r1") == 0)
			return "ec-p256";
		if (strcmp(curve, "secp384r1") == 0)
			return "ec-p384";
		n = xasprintf("certbot elliptic_curve %s is not supported (P-256 or P-384); using "
		    "%s", curve, fallback);
	} else if (!unset(kt) && strcasecmp(kt, "rsa") == 0) {
		if (unset(bits) || strcmp(bits, "2048") == 0)
			return "rsa-2048";
		if (strcmp(bits, "3072") == 0)
			return "rsa-3072";
		if (strcmp(bits, "4096") == 0)
			return "rsa-4096";
		n = xasprintf("certbot rsa_key_size %s is not supported (2048, 3072 or 4096); "
		    "using %s", bits, fallback);
	} else if (unset(kt)) {
		/* No note: this is what certbot itself would renew with. */
		if (current >= 0)
			return fallback;
		n = xasprintf("certbot names no key_type and the current key cannot be read; "
		    "using %s", fallback);
	} else {
		n = xasprintf("certbot key_type %s is not rsa or ecdsa; using %s", kt, fallback);
	}
	strlist_add(notes, n);
	free(n);
	return fallback;
}

/*
 * Maps renewal/NAME.conf into an entry of im->certs.  An entry that
 * cannot be mapped is written commented out with the reason.  -1 only
 * when the file cannot be read.
 */
static int import_lineage(struct import *im, const char *name, const char *path,
    char *err, size_t errlen)
{
	const char *cd = im->o->config_dir;
	struct conf c = {0};
	struct cert_info ci = {0};
	struct strlist notes = {0};
	struct buf e = {0};
	char *from = NULL, *rb = NULL, *deploy = NULL, *post = NULL, *webroot = NULL;
	char *live_cert = NULL, *fatal = NULL;
	const char *v, *auth, *server, *account;
	const struct acct *a = NULL;
	int rc = -1;

	if (conf_parse(path, &c, err, errlen) < 0)
		goto out;
	server = conf_get(&c, "renewalparams", "server");
	account = conf_get(&c, "renewalparams", "account");
	auth = conf_get(&c, "renewalparams", "authenticator");
	if (unset(server) || unset(account)) {
		fatal = xasprintf("%s has no server or account in [renewalparams]", path);
		goto emit;
	}
	if (lineage_cert(cd, name, &c, &ci, &from) < 0) {
		fatal = xasprintf("cannot read the current certificate (%s)", from);
		goto emit;
	}
	/* Adopted in place only in certbot's own layout under config_dir. */
	live_cert = xasprintf("%s/live/%s/cert.pem", cd, name);
	if ((v = conf_get(&c, "", "cert")) != NULL && strcmp(v, live_cert) != 0)
		strlist_add(&notes, "certbot's cert path is not CONFIG_DIR/live/NAME/cert.pem: "
		    "certfleet installs into output_dir/live/NAME; check the web server paths");
	if (unset(auth) || strcmp(auth, "webroot") == 0) {
		/* certfleet has one document root per certificate. */
		for (size_t i = 0; i < ci.names.n; i++) {
			const char *w = conf_get(&c, "webroot_map", ci.names.v[i]);
			if (w == NULL)
				continue;
			if (webroot == NULL) {
				webroot = xstrdup(w);
			} else if (strcmp(webroot, w) != 0) {
				fatal = xasprintf("certbot serves the names of this lineage from "
				    "several webroots (%s, %s); certfleet has one webroot per "
				    "certificate: split it into one certificate per webroot",
				    webroot, w);
				goto emit;
			}
		}
		if (webroot == NULL && !unset(v = conf_get(&c, "renewalparams", "webroot_path"))) {
			size_t l = strcspn(v, ",");
			webroot = xstrndup(v, l);
			char *t = trim(webroot);
			memmove(webroot, t, strlen(t) + 1);
		}
		if (webroot == NULL) {
			fatal = xasprintf("authenticator webroot without a webroot_map or "
			    "webroot_path");
			goto emit;
		}
	} else if (strcmp(auth, "standalone") != 0) {
		if (strncmp(auth, "dns-", 4) == 0)
			fatal = xasprintf("certbot's %s plugin has no certfleet equivalent: use "
			    "challenge: {types: [dns-01], dns01_hook: PROGRAM} (see "
			    "certfleet.yaml(5), DNS-01 HOOKS)", auth);
		else if (strcmp(auth, "manual") == 0)
			fatal = xasprintf("the manual authenticator cannot be automated: use "
			    "http-01 (webroot or standalone) or dns-01 with a hook");
		else
			fatal = xasprintf("authenticator %s is not supported: certfleet does not "
			    "edit web server configuration; serve the challenges with "
			    "challenge: {http01: webroot, webroot: DOCROOT}", auth);
		goto emit;
	}
	if (!unset(v = conf_get(&c, "renewalparams", "installer")))
		strlist_add(&notes, "certbot installer is not used: certfleet installs into "
		    "live/NAME and leaves the web server configuration alone; reload it with "
		    "deploy_hook or post_hook");
	if (!unset(v = conf_get(&c, "renewalparams", "pre_hook")))
		strlist_add(&notes, "certbot pre_hook is not mapped (certfleet has no pre-hook)");
	if (hook_dir_count(cd, "pre") > 0)
		strlist_add(&notes, "renewal-hooks/pre/ is not mapped (certfleet has no pre-hook)");
	if (!unset(v = conf_get(&c, "renewalparams", "must_staple")) &&
	    strcasecmp(v, "True") == 0)
		strlist_add(&notes, "certbot must_staple is not supported (OCSP is being "
		    "switched off by Let's Encrypt)");
	if (!unset(v = conf_get(&c, "renewalparams", "allow_subset_of_names")) &&
	    strcasecmp(v, "True") == 0)
		strlist_add(&notes, "certbot allow_subset_of_names is not supported: every name "
		    "must validate");
	for (size_t i = 0; i < c.n; i++) {
		if (strcmp(c.v[i].section, "renewalparams") != 0 || handled(c.v[i].key))
			continue;
		char *n = xasprintf("certbot option %s = %s is not mapped", c.v[i].key,
		    c.v[i].value);
		strlist_add(&notes, n);
		free(n);
	}
	/* certbot keeps --deploy-hook under its old name, renew_hook. */
	v = conf_get(&c, "renewalparams", "renew_hook");
	if (unset(v))
		v = conf_get(&c, "renewalparams", "deploy_hook");
	deploy = hook_script(cd, "deploy", v);
	post = hook_script(cd, "post", conf_get(&c, "renewalparams", "post_hook"));
	if (post != NULL) {
		bool seen = false;
		for (size_t i = 0; i < im->post_hooks.n; i++)
			seen = seen || strcmp(im->post_hooks.v[i], post) == 0;
		if (!seen)
			strlist_add(&im->post_hooks, post);
	}

emit:
	buf_appendf(&e, "\n");
	{
		char *src = from ? xasprintf("from %s, current certificate %s", path, from) :
		    xasprintf("from %s", path);
		ycomment(&e, "  ", src);
		free(src);
	}
	if (fatal != NULL) {
		char *msg = xasprintf("NOT IMPORTED: %s", fatal);
		struct buf body = {0};

		buf_append(&im->certs, e.data, e.len);
		ycomment(&im->certs, "  ", msg);
		free(msg);
		/* What it would look like, for the operator to finish by hand. */
		buf_appendf(&body, "- name: %s\n", name);
		for (size_t i = 0; i < ci.names.n; i++)
			buf_appendf(&body, "%s%s", i ? ", " : "  domains: [", ci.names.v[i]);
		if (ci.names.n)
			buf_appendf(&body, "]\n");
		ycomment(&im->certs, "  ", body.data ? body.data : "");
		buf_free(&body);
		rc = 0;
		goto out;
	}
	/* Only accounts that an imported certificate uses. */
	a = account_get(im, server, account);
	buf_append(&im->certs, e.data, e.len);
	buf_appendf(&im->certs, "  - name: ");
	yq(&im->certs, name);
	buf_appendf(&im->certs, "\n");
	for (size_t i = 0; i < notes.n; i++)
		ycomment(&im->certs, "    ", notes.v[i]);
	buf_appendf(&im->certs, "    domains: [");
	/* The subject CN first, as certbot ordered it. */
	{
		struct strlist names = {0};
		if (ci.subject_cn)
			for (size_t i = 0; i < ci.names.n; i++)
				if (strcasecmp(ci.names.v[i], ci.subject_cn) == 0)
					strlist_add(&names, ci.names.v[i]);
		for (size_t i = 0; i < ci.names.n; i++)
			if (names.n == 0 || strcasecmp(ci.names.v[i], names.v[0]) != 0)
				strlist_add(&names, ci.names.v[i]);
		for (size_t i = 0; i < names.n; i++) {
			if (i)
				buf_appendf(&im->certs, ", ");
			yq(&im->certs, names.v[i]);
		}
		strlist_free(&names);
	}
	buf_appendf(&im->certs, "]\n    account: %s\n", a->name);
	{
		struct strlist kn = {0};
		const char *kt = key_type_of(&c, current_key_type(cd, name, &c), &kn);
		for (size_t i = 0; i < kn.n; i++)
			ycomment(&im->certs, "    ", kn.v[i]);
		strlist_free(&kn);
		buf_appendf(&im->certs, "    key_type: %s\n", kt);
	}
	if (!unset(v = conf_get(&c, "renewalparams", "reuse_key")) && strcasecmp(v, "True") == 0)
		buf_appendf(&im->certs, "    reuse_key: true\n");
	if (webroot != NULL) {
		buf_appendf(&im->certs, "    challenge: {types: [http-01], http01: webroot, "
		    "webroot: ");
		yq(&im->certs, webroot);
		buf_appendf(&im->certs, "}\n");
	} else {
		buf_appendf(&im->certs, "    challenge: {types: [http-01], http01: standalone}\n");
		if (!unset(v = conf_get(&c, "renewalparams", "http01_port")) && strcmp(v, "80") != 0)
			ycomment(&im->certs, "    ", "certbot's standalone server used http01_port "
			    "(set http01_listen at the top level)");
	}
	if (!unset(v = conf_get(&c, "renewalparams", "preferred_chain"))) {
		buf_appendf(&im->certs, "    preferred_chain: ");
		yq(&im->certs, v);
		buf_appendf(&im->certs, "\n");
	}
	if ((v = conf_get(&c, "", "renew_before_expiry")) != NULL) {
		if ((rb = renew_before(v)) != NULL) {
			buf_appendf(&im->certs, "    renew_before: \"%s\"\n", rb);
		} else {
			char *n = xasprintf("certbot renew_before_expiry = %s is not understood; "
			    "renewing when a third of the lifetime remains", v);
			ycomment(&im->certs, "    ", n);
			free(n);
		}
	}
	if (deploy != NULL)
		yhook(&im->certs, "    deploy_hook", deploy);
	im->ncerts++;
	rc = 0;
out:
	conf_free(&c);
	cert_info_free(&ci);
	strlist_free(&notes);
	buf_free(&e);
	free(from);
	free(rb);
	free(deploy);
	free(post);
	free(webroot);
	free(live_cert);
	free(fatal);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int certbot_import(const struct certbot_import_opts *o, char **yaml, size_t *ncerts,
    size_t *naccounts, char *err, size_t errlen)
{
	struct import im = {0};
	struct buf out = {0};
	struct strlist confs = {0};
	char *rdir = xasprintf("%s/renewal", o->config_dir);
	DIR *d = NULL;
	struct dirent *e;
	int rc = -1;

	im.o = o;
	*yaml = NULL;
	if ((d = opendir(rdir)) == NULL) {
		snprintf(err, errlen, "cannot read %s: %s (is %s certbot's --config-dir?)", rdir,
		    strerror(errno), o->config_dir);
		goto out;
	}
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (e->d_name[0] != '.' && l > 5 && strcmp(e->d_name + l - 5, ".conf") == 0)
			strlist_add(&confs, e->d_name);
	}
	if (confs.n == 0) {
		snprintf(err, errlen, "%s holds no NAME.conf: nothing to import", rdir);
		goto out;
	}
	qsort(confs.v, confs.n, sizeof(*confs.v), name_cmp);
	for (size_t i = 0; i < confs.n; i++) {
		char *name = xstrndup(confs.v[i], strlen(confs.v[i]) - 5);
		char *path = xasprintf("%s/%s", rdir, confs.v[i]);
		int r = import_lineage(&im, name, path, err, errlen);

		free(name);
		free(path);
		if (r < 0)
			goto out;
	}

	buf_appendf(&out, "# certfleet inventory written by certfleetctl import-certbot from %s\n"
	    "# (%zu certificate%s, %zu account%s); see certfleet.yaml(5).  Check it with\n"
	    "#   certfleetd --check -c FILE\n"
	    "# certfleetd takes each live/NAME over in place (\"Adopting certbot's\n"
	    "# lineages\" in certfleet.yaml(5)) and renames renewal/NAME.conf to\n"
	    "# NAME.conf.certfleet so certbot stops renewing it; disable certbot's timer\n"
	    "# (systemctl disable --now certbot.timer) once certfleetd runs.\n",
	    o->config_dir, im.ncerts, im.ncerts == 1 ? "" : "s", im.naccts,
	    im.naccts == 1 ? "" : "s");
	buf_appendf(&out, "output_dir: ");
	yq(&out, o->config_dir);
	buf_appendf(&out, "\n");
	if (im.post_hooks.n > 0) {
		char *all = strlist_join(&im.post_hooks, "; ");
		ycomment(&out, "", "certbot's post hooks: run once after a batch of renewals");
		yhook(&out, "post_hook", all);
		free(all);
	}
	buf_appendf(&out, "\naccounts:\n");
	for (size_t i = 0; i < im.naccts; i++) {
		const struct acct *a = &im.accts[i];

		buf_appendf(&out, "  %s:\n    directory: ", a->name);
		yq(&out, a->server);
		buf_appendf(&out, "\n");
		if (a->contact) {
			buf_appendf(&out, "    contact: ");
			yq(&out, a->contact);
			buf_appendf(&out, "\n");
		} else if (o->contact) {
			buf_appendf(&out, "    contact: ");
			yq(&out, o->contact);
			buf_appendf(&out, "\n");
		} else {
			ycomment(&out, "    ", "certbot kept no contact for this account (REPLACE it, or "
			    "give --contact): certfleet sends it only if it registers a new account");
			buf_appendf(&out, "    contact: \"mailto:hostmaster@example.invalid\"\n");
		}
		if (a->dir) {
			ycomment(&out, "    ", "certbot's account: its key and URL are copied into "
			    "state_dir once, no new registration (no EAB needed)");
			buf_appendf(&out, "    certbot_account: ");
			yq(&out, a->dir);
			buf_appendf(&out, "\n");
		} else {
			char *n = xasprintf("certbot account %s not found under %s/accounts: a new "
			    "account is registered (add eab: if the CA requires it)", a->id,
			    o->config_dir);
			ycomment(&out, "    ", n);
			free(n);
		}
		if (o->ca_bundle) {
			buf_appendf(&out, "    ca_bundle: ");
			yq(&out, o->ca_bundle);
			buf_appendf(&out, "\n");
		}
	}
	if (im.naccts == 0)
		ycomment(&out, "  ", "(none: no lineage could be imported)");
	buf_appendf(&out, "\ncertificates:\n");
	if (im.ncerts == 0)
		buf_appendf(&out, "  []\n");
	buf_append(&out, im.certs.data, im.certs.len);
	*ncerts = im.ncerts;
	*naccounts = im.naccts;
	*yaml = buf_steal(&out, NULL);
	rc = 0;
out:
	if (d)
		closedir(d);
	free(rdir);
	strlist_free(&confs);
	strlist_free(&im.post_hooks);
	buf_free(&im.certs);
	buf_free(&im.notes);
	buf_free(&out);
	for (size_t i = 0; i < im.naccts; i++) {
		free(im.accts[i].id);
		free(im.accts[i].server);
		free(im.accts[i].dir);
		free(im.accts[i].name);
		free(im.accts[i].contact);
	}
	free(im.accts);
	return rc;
}
