/*
 * config_types.c - the typed values of the inventory: strings, numbers,
 * booleans, durations, names, key types, modes, users and groups, listen
 * addresses, contacts and DNS names (URLs: config_url.c).
 *
 * config_schema.c walks the YAML tree and calls these for each value; every
 * function checks one value completely and, on failure, writes the one
 * error line naming the node (file, line, column, key path), so the
 * operator learns at `certfleetd --check` or on reload what an ACME CA
 * would otherwise reject hours later in the middle of an order.  Only
 * config_tree.c lies below; values that name files (paths, programs,
 * hooks, the CA bundle, EAB keys) are config_files.c, one layer up.
 */
#include "config_types.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"

/* Ten years: longer durations are typos and would overflow time arithmetic. */
#define DURATION_MAX (3650LL * 86400)

int cfg_string(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out)
{
	*out = NULL;
	/* Numbers and booleans are fine as text: an EAB kid may be all digits. */
	if (n->kind != YNODE_SCALAR || cfg_null(n))
		return cfg_error(x, n, path, "expected a string, got %s", ynode_describe(n));
	if (n->str[0] == '\0')
		return cfg_error(x, n, path, "must not be empty");
	*out = xstrdup(n->str);
	return 0;
}

int cfg_int(struct cfg_ctx *x, const struct ynode *n, const char *path, long long min,
    long long max, int *out)
{
	long long v;
	char *end;

	char what[64];

	if (n->kind != YNODE_SCALAR || n->scalar != YSCALAR_INT)
		return cfg_error(x, n, path, "expected an integer, got %s",
		    ynode_describe_value(n, what, sizeof(what)));
	errno = 0;
	v = strtoll(n->str, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return cfg_error(x, n, path, "must be between %lld and %lld, got %s", min, max,
		    n->str);
	*out = (int)v;
	return 0;
}

int cfg_bool(struct cfg_ctx *x, const struct ynode *n, const char *path, bool *out)
{
	if (n->kind != YNODE_SCALAR || n->scalar != YSCALAR_BOOL) {
		if (n->kind == YNODE_SCALAR && !cfg_null(n))
			return cfg_error(x, n, path,
			    "expected a boolean (true or false), got '%s'", n->str);
		return cfg_error(x, n, path, "expected a boolean (true or false), got %s",
		    ynode_describe(n));
	}
	*out = n->str[0] == 't' || n->str[0] == 'T';
	return 0;
}

int cfg_duration(struct cfg_ctx *x, const struct ynode *n, const char *path,
    bool allow_zero, long long *out)
{
	long long v;

	if (n->kind != YNODE_SCALAR || cfg_null(n) || n->scalar == YSCALAR_BOOL)
		return cfg_error(x, n, path, "expected a duration such as 90s, 30m, 2h or 7d, got %s",
		    ynode_describe(n));
	if (duration_parse(n->str, &v) < 0)
		return cfg_error(x, n, path, "bad duration '%s': expected a number with a unit "
		    "s, m, h, d or w (90s, 30m, 2h, 7d) or plain seconds", n->str);
	if (v == 0 && !allow_zero)
		return cfg_error(x, n, path, "must be longer than zero");
	if (v > DURATION_MAX)
		return cfg_error(x, n, path, "duration '%s' is too long (at most 3650d)", n->str);
	*out = v;
	return 0;
}

int cfg_rate(struct cfg_ctx *x, const struct ynode *n, const char *path, int *count,
    long long *seconds)
{
	const char *s, *slash, *u;
	long long c = 0, d;
	char what[64];

	if (n->kind != YNODE_SCALAR || cfg_null(n) || n->scalar == YSCALAR_BOOL ||
	    n->scalar == YSCALAR_INT)
		return cfg_error(x, n, path, "expected COUNT/DURATION such as 300/3h, got %s",
		    ynode_describe_value(n, what, sizeof(what)));
	s = n->str;
	slash = strchr(s, '/');
	if (slash == NULL || slash == s)
		return cfg_error(x, n, path, "bad rate '%s': expected COUNT/DURATION such as "
		    "300/3h (300 new orders in any 3 hours)", s);
	for (const char *p = s; p < slash; p++) {
		if (!isdigit((unsigned char)*p) || c > 1000000)
			return cfg_error(x, n, path, "bad rate '%s': COUNT must be a whole "
			    "number from 1 to 1000000", s);
		c = c * 10 + (*p - '0');
	}
	if (c < 1 || c > 1000000)
		return cfg_error(x, n, path, "bad rate '%s': COUNT must be a whole number from "
		    "1 to 1000000", s);
	/* A bare number after the slash is more likely a forgotten unit
	 * (300/3 for 300/3h) than seconds. */
	for (u = slash + 1; isdigit((unsigned char)*u); u++)
		;
	if (slash[1] == '\0' || *u == '\0' || duration_parse(slash + 1, &d) < 0)
		return cfg_error(x, n, path, "bad rate '%s': DURATION must be a number with a "
		    "unit s, m, h, d or w, such as 10s or 3h", s);
	if (d == 0)
		return cfg_error(x, n, path, "bad rate '%s': DURATION must be longer than zero",
		    s);
	if (d > DURATION_MAX)
		return cfg_error(x, n, path, "bad rate '%s': DURATION is too long (at most "
		    "3650d)", s);
	*count = (int)c;
	*seconds = d;
	return 0;
}

int cfg_name(struct cfg_ctx *x, const struct ynode *n, const char *path, const char *what,
    char **out)
{
	char *s = NULL;
	size_t len;

	*out = NULL;
	if (cfg_string(x, n, path, &s) < 0)
		return -1;
	len = strlen(s);
	/* Names become directory names under state_dir and output_dir. */
	if (len > 64 || s[0] == '.' || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") != len) {
		cfg_error(x, n, path, "bad %s name '%s': use up to 64 letters, digits, '.', '_' "
		    "and '-', not starting with '.'", what, s);
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

int cfg_key_type(struct cfg_ctx *x, const struct ynode *n, const char *path,
    enum key_type *out)
{
	static const char *const names[] = { "ec-p256", "ec-p384", "rsa-2048", "rsa-3072",
		"rsa-4096", NULL };

	if (n->kind != YNODE_SCALAR || cfg_null(n))
		return cfg_error(x, n, path, "expected a string, got %s", ynode_describe(n));
	if (key_type_parse(n->str, out) == 0)
		return 0;
	return cfg_unknown(x, n, path, "key type", names, "ec-p256, ec-p384, rsa-2048, "
	    "rsa-3072 or rsa-4096");
}

/*
 * Up to four octal digits (a "0o" prefix allowed) in *v; the messages
 * suggest example ("0644" for a file, "0660" for the socket).  Always
 * octal, quoted or not: "mode: 0644" means what chmod means, whatever
 * YAML 1.2 says about leading zeros.
 */
static int parse_mode(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *example, unsigned long *v)
{
	const char *s;

	if (n->kind != YNODE_SCALAR || cfg_null(n) || n->scalar == YSCALAR_BOOL)
		return cfg_error(x, n, path, "expected an octal mode such as \"%s\", got %s",
		    example, ynode_describe(n));
	s = n->str;
	if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
		s += 2;
	if (*s == '\0' || strlen(s) > 4 || strspn(s, "01234567") != strlen(s))
		return cfg_error(x, n, path, "bad mode '%s': expected octal permissions such "
		    "as \"%s\"", n->str, example);
	*v = strtoul(s, NULL, 8);
	return 0;
}

int cfg_mode(struct cfg_ctx *x, const struct ynode *n, const char *path, mode_t *out)
{
	unsigned long v = 0;

	if (parse_mode(x, n, path, "0644", &v) < 0)
		return -1;
	if (v > 0777)
		return cfg_error(x, n, path, "mode %s has setuid, setgid or sticky bits; "
		    "expected permissions such as \"0644\"", n->str);
	if (v & 022)
		return cfg_error(x, n, path, "mode %04lo lets group or others replace the "
		    "certificate; use \"0644\" or \"0640\"", v);
	if (!(v & 0400))
		return cfg_error(x, n, path, "mode %04lo does not let the owner read the "
		    "certificate; use \"0644\" or \"0640\"", v);
	*out = (mode_t)v;
	return 0;
}

int cfg_socket_mode(struct cfg_ctx *x, const struct ynode *n, const char *path, mode_t *out)
{
	unsigned long v = 0;

	if (parse_mode(x, n, path, "0660", &v) < 0)
		return -1;
	/* Connecting needs write permission: an owner without it could not
	 * use the socket, and extra bits mean nothing on a socket. */
	if (v > 0777 || (v & 0600) != 0600)
		return cfg_error(x, n, path, "mode %s: a socket needs owner read and write "
		    "and no setuid, setgid or sticky bits; use \"0660\" or \"0600\"", n->str);
	*out = (mode_t)v;
	return 0;
}

/* An id given as a number (YAML integer or digits in a string). */
static int numeric_id(const struct ynode *n, unsigned long *out)
{
	char *end;

	if (n->str[0] == '\0' || strspn(n->str, "0123456789") != strlen(n->str))
		return -1;
	errno = 0;
	*out = strtoul(n->str, &end, 10);
	/* (uid_t)-1 means "unchanged" to chown(): never a real id. */
	if (errno != 0 || *out >= UINT32_MAX)
		return -1;
	return 0;
}

/* libc reports "no such entry" as 0 or as one of these. */
static bool not_found(int e)
{
	return e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM;
}

/*
 * A user (group false) or a group, by name or number: its id in *out.  One
 * function for both so the two keep the same rules and messages.
 */
static int lookup_id(struct cfg_ctx *x, const struct ynode *n, const char *path, bool group,
    unsigned long *out)
{
	const char *what = group ? "group" : "user";
	struct passwd pw, *pwres = NULL;
	struct group gr, *grres = NULL;
	size_t len = 16384;
	char *buf = NULL;
	unsigned long id;
	bool found;
	int e;

	if (n->kind != YNODE_SCALAR || cfg_null(n) || n->scalar == YSCALAR_BOOL)
		return cfg_error(x, n, path, "expected a %s name or %cid, got %s", what,
		    group ? 'g' : 'u', ynode_describe(n));
	if (numeric_id(n, &id) == 0) {
		*out = id;
		return 0;
	}
	/* Groups listing thousands of members need more than the usual buffer. */
	for (;;) {
		buf = xrealloc(buf, len);
		e = group ? getgrnam_r(n->str, &gr, buf, len, &grres) :
		    getpwnam_r(n->str, &pw, buf, len, &pwres);
		if (e != ERANGE || len >= (1u << 22))
			break;
		len *= 2;
	}
	found = group ? grres != NULL : pwres != NULL;
	if (found)
		*out = group ? (unsigned long)gr.gr_gid : (unsigned long)pw.pw_uid;
	free(buf);
	if (!found && not_found(e))
		return cfg_error(x, n, path, "unknown %s '%s'", what, n->str);
	if (!found)
		return cfg_error(x, n, path, "cannot look up %s '%s': %s", what, n->str,
		    strerror(e));
	return 0;
}

int cfg_owner(struct cfg_ctx *x, const struct ynode *n, const char *path, uid_t *out)
{
	unsigned long id;

	if (lookup_id(x, n, path, false, &id) < 0)
		return -1;
	*out = (uid_t)id;
	return 0;
}

int cfg_group(struct cfg_ctx *x, const struct ynode *n, const char *path, gid_t *out)
{
	unsigned long id;

	if (lookup_id(x, n, path, true, &id) < 0)
		return -1;
	*out = (gid_t)id;
	return 0;
}

/* "1".."65535" */
static bool valid_port(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > 5 || strspn(s, "0123456789") != len)
		return false;
	long v = strtol(s, NULL, 10);
	return v >= 1 && v <= 65535;
}

int cfg_listen(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out)
{
	char *s = NULL, *host = NULL;
	const char *port = NULL;
	unsigned char addr[16];
	int af = AF_INET;

	*out = NULL;
	if (cfg_string(x, n, path, &s) < 0)
		return -1;
	if (s[0] == '[') {
		char *close = strchr(s, ']');

		af = AF_INET6;
		if (close != NULL && close[1] == ':') {
			host = xstrndup(s + 1, (size_t)(close - s - 1));
			port = close + 2;
		}
	} else {
		char *colon = strrchr(s, ':');

		if (colon != NULL && strchr(s, ':') == colon) {
			host = xstrndup(s, (size_t)(colon - s));
			port = colon + 1;
		}
	}
	if (host == NULL || !valid_port(port) || inet_pton(af, host, addr) != 1) {
		cfg_error(x, n, path, "bad listen address '%s': expected a numeric ADDR:PORT "
		    "such as \"[::]:80\" or \"0.0.0.0:80\"", s);
		free(host);
		free(s);
		return -1;
	}
	free(host);
	*out = s;
	return 0;
}

/* "mailto:" and exactly one address, as RFC 8555 7.3 and the CAs want it. */
static bool valid_mailto(const char *s)
{
	const char *addr, *at;

	if (strncasecmp(s, "mailto:", 7) != 0)
		return false;
	addr = s + 7;
	at = strchr(addr, '@');
	if (at == NULL || at == addr || strchr(at + 1, '@') != NULL ||
	    strchr(at + 1, '.') == NULL || at[1] == '.' || addr[strlen(addr) - 1] == '.')
		return false;
	for (const char *p = addr; *p; p++)
		if ((unsigned char)*p <= ' ' || strchr(",?<>;\"()[]\\", *p) != NULL ||
		    *p == 0x7f)
			return false;
	return true;
}

int cfg_contacts(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct strlist *out)
{
	const struct ynode *const *items = &n;
	size_t nitems = 1;
	char sub[CFG_PATH_LEN];

	if (n->kind == YNODE_SEQ) {
		items = (const struct ynode *const *)n->kids;
		nitems = n->nkids;
		if (nitems == 0)
			return cfg_error(x, n, path, "must list at least one mailto: address");
	} else if (n->kind != YNODE_SCALAR || cfg_null(n)) {
		return cfg_error(x, n, path, "expected a mailto: address or a list of them, got %s",
		    ynode_describe(n));
	}
	for (size_t i = 0; i < nitems; i++) {
		const struct ynode *it = items[i];

		if (n->kind == YNODE_SEQ)
			cfg_path_index(sub, sizeof(sub), path, i);
		else
			snprintf(sub, sizeof(sub), "%s", path);
		if (it->kind != YNODE_SCALAR || cfg_null(it))
			return cfg_error(x, it, sub, "expected a string, got %s", ynode_describe(it));
		if (!valid_mailto(it->str))
			return cfg_error(x, it, sub, "contact '%s' must be a mailto: URI with one "
			    "e-mail address, e.g. mailto:ops@example.com", it->str);
		/* Lower-case the scheme only: some CAs compare it literally. */
		char *uri = xasprintf("mailto:%s", it->str + 7);

		strlist_add(out, uri);
		free(uri);
	}
	return 0;
}

static bool is_ip_literal(const char *s)
{
	unsigned char buf[16];

	if (strchr(s, ':') != NULL || s[0] == '[')
		return true;
	if (inet_pton(AF_INET, s, buf) == 1)
		return true;
	/* "10.1" and "192.168.1" are IPv4 too, for inet_aton() and browsers. */
	return s[0] != '\0' && strspn(s, "0123456789.") == strlen(s);
}

/* One label of name other than a leading "*": 0 ok, -1 with the reason. */
static int check_label(const char *name, const char *p, size_t l, char *err, size_t errlen)
{
	for (size_t i = 0; i < l; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x80) {
			snprintf(err, errlen, "invalid DNS name '%s': non-ASCII names must be "
			    "written in punycode (xn--...)", name);
			return -1;
		}
		/* Not isalnum(): a locale must not widen what a CA accepts. */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-')) {
			snprintf(err, errlen, "invalid DNS name '%s': character '%c' is not "
			    "allowed", name, c >= ' ' && c < 0x7f ? c : '?');
			return -1;
		}
	}
	if (p[0] == '-' || p[l - 1] == '-') {
		snprintf(err, errlen, "invalid DNS name '%s': label '%.*s' starts or ends "
		    "with '-'", name, (int)l, p);
		return -1;
	}
	return 0;
}

int config_check_domain(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name), labels = 0;
	const char *p = name;

	if (len == 0) {
		snprintf(err, errlen, "empty DNS name");
		return -1;
	}
	/* Copied from a browser: "https://api.example.org/".  Said before the
	 * ':' makes it look like an IPv6 address. */
	if (strstr(name, "://") != NULL) {
		const char *host = strstr(name, "://") + 3;

		snprintf(err, errlen, "'%s' looks like a URL; write the host name only (%.*s)",
		    name, (int)strcspn(host, "/:?#"), host);
		return -1;
	}
	if (is_ip_literal(name)) {
		snprintf(err, errlen, "'%s' is an IP address; IP identifiers are not "
		    "supported, use a DNS name", name);
		return -1;
	}
	if (name[len - 1] == '.') {
		snprintf(err, errlen, "invalid DNS name '%s': remove the trailing dot", name);
		return -1;
	}
	if (len > 253) {
		snprintf(err, errlen, "invalid DNS name '%.40s...': longer than 253 "
		    "characters", name);
		return -1;
	}
	for (;;) {
		size_t l = strcspn(p, ".");

		if (l == 0) {
			snprintf(err, errlen, "invalid DNS name '%s': empty label", name);
			return -1;
		}
		if (l > 63) {
			snprintf(err, errlen, "invalid DNS name '%s': label '%.*s' is longer "
			    "than 63 characters", name, (int)l, p);
			return -1;
		}
		if (p == name && l == 1 && p[0] == '*') {
			/* The wildcard label does not count towards the two. */
		} else if (memchr(p, '*', l) != NULL) {
			snprintf(err, errlen, "invalid DNS name '%s': '*' is only allowed as the "
			    "whole leftmost label (*.example.com)", name);
			return -1;
		} else if (check_label(name, p, l, err, errlen) < 0) {
			return -1;
		} else {
			labels++;
		}
		if (p[l] == '\0')
			break;
		p += l + 1;
	}
	if (labels < 2) {
		snprintf(err, errlen, "invalid DNS name '%s': needs at least two labels "
		    "(a fully qualified name such as www.example.com)", name);
		return -1;
	}
	return 0;
}

int cfg_domains(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct strlist *out)
{
	struct strlist l = { 0 };
	char sub[CFG_PATH_LEN], why[512];

	if (n->kind != YNODE_SEQ && !cfg_null(n))
		return cfg_error(x, n, path, "expected a list of DNS names, got %s",
		    ynode_describe(n));
	if (cfg_null(n) || n->nkids == 0)
		return cfg_error(x, n, path, "must list at least one DNS name");
	for (size_t i = 0; i < n->nkids; i++) {
		const struct ynode *it = n->kids[i];
		char *name = NULL;

		cfg_path_index(sub, sizeof(sub), path, i);
		if (cfg_string(x, it, sub, &name) < 0)
			goto fail;
		for (char *c = name; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		if (config_check_domain(name, why, sizeof(why)) < 0) {
			cfg_error(x, it, sub, "%s", why);
			free(name);
			goto fail;
		}
		for (size_t k = 0; k < l.n; k++) {
			if (strcmp(l.v[k], name) == 0) {
				cfg_error(x, it, sub, "duplicate name '%s' (first at line %d)", name,
				    n->kids[k]->line);
				free(name);
				goto fail;
			}
		}
		strlist_add(&l, name);
		free(name);
	}
	strlist_free(out);
	*out = l;
	return 0;
fail:
	strlist_free(&l);
	return -1;
}

int cfg_preferred_chain(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out)
{
	size_t digits = 0;
	char *s;

	if (cfg_string(x, n, path, &s) < 0)
		return -1;
	if (*s == '\0') {
		free(s);
		return cfg_error(x, n, path, "must not be empty (an issuer common name, or "
		    "sha256: and a certificate fingerprint)");
	}
	if (strncasecmp(s, "sha256:", 7) == 0) {
		/* Hex digits, optionally colon-separated in pairs as openssl
		 * x509 -fingerprint prints them. */
		for (const char *p = s + 7; *p; p++) {
			if (isxdigit((unsigned char)*p))
				digits++;
			else if (*p != ':' || digits % 2 != 0 || p[1] == '\0' || p[1] == ':')
				digits = 1000;
		}
		if (digits != 64) {
			cfg_error(x, n, path, "'%s' is not sha256: followed by a SHA-256 "
			    "fingerprint (64 hex digits, colons allowed between bytes)", s);
			free(s);
			return -1;
		}
	}
	*out = s;
	return 0;
}
