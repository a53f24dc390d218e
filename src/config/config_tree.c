/*
 * config_tree.c - the bottom of the inventory parser: reads the file, turns
 * libyaml's events into a tree of ynodes that keeps every node's line and
 * column (this is the only file that touches libyaml), writes the one error
 * line "FILE:LINE:COL: key.path: what is wrong", and walks mappings (keys,
 * duplicates, unknown keys with a suggestion).
 *
 * Everything above it (config_types.c, config_files.c, config_validate.c,
 * config_schema.c, config.c) calls down into this file; it calls none of
 * them.  See config_tree.h for the whole order.
 */
#include "config_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* Large enough for tens of thousands of certificates, small enough that a
 * wrong file (a log, a core dump) is refused quickly. */
#define INVENTORY_MAX (64u << 20)
/* The schema is five levels deep; anything far deeper is not an inventory
 * and would only exhaust the stack. */
#define YAML_MAX_DEPTH 64

/* ---- errors and small helpers shared with the other config_*.c ---- */

int cfg_error(struct cfg_ctx *x, const struct ynode *at, const char *path,
    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (x->errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(x->err, x->errlen, "%s:%d:%d: %s%s%s", x->file, at ? at->line : 1,
	    at ? at->col : 1, path && *path ? path : "", path && *path ? ": " : "", msg);
	/* Values from the file are quoted in messages: keep it one line. */
	for (char *p = x->err; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			*p = '?';
	return -1;
}

/* Appends n bytes of s at *pos, cut as snprintf cuts (len - 1 at most). */
static void path_put(char *buf, size_t len, size_t *pos, const char *s, size_t n)
{
	if (*pos + 1 >= len)
		return;
	if (n > len - 1 - *pos)
		n = len - 1 - *pos;
	memcpy(buf + *pos, s, n);
	*pos += n;
}

/* The two are called for every key of every entry (half a million times
 * for 100,000 certificates): what snprintf would write, without it. */
void cfg_path_key(char *buf, size_t len, const char *parent, const char *key)
{
	size_t pos = 0;

	if (len == 0)
		return;
	path_put(buf, len, &pos, parent, strlen(parent));
	if (*parent)
		path_put(buf, len, &pos, ".", 1);
	path_put(buf, len, &pos, key, strlen(key));
	buf[pos] = '\0';
}

void cfg_path_index(char *buf, size_t len, const char *parent, size_t i)
{
	char num[24];
	size_t pos = 0, n = sizeof(num);

	if (len == 0)
		return;
	do
		num[--n] = (char)('0' + i % 10);
	while ((i /= 10) > 0);
	path_put(buf, len, &pos, parent, strlen(parent));
	path_put(buf, len, &pos, "[", 1);
	path_put(buf, len, &pos, num + n, sizeof(num) - n);
	path_put(buf, len, &pos, "]", 1);
	buf[pos] = '\0';
}

const char *ynode_describe(const struct ynode *n)
{
	if (n->kind == YNODE_SEQ)
		return "a list";
	if (n->kind == YNODE_MAP)
		return "a mapping";
	switch (n->scalar) {
	case YSCALAR_NULL: return "an empty value";
	case YSCALAR_BOOL: return "a boolean";
	case YSCALAR_INT: return "an integer";
	case YSCALAR_STR: break;
	}
	return "a string";
}

/* A plain scalar YAML 1.2 reads as a float ("1.5", "-2e3", ".5"); this
 * parser keeps it a string, but a message should say what it is. */
static bool looks_decimal(const char *s)
{
	const char *p = s + (s[0] == '-' || s[0] == '+');
	size_t ip = strspn(p, "0123456789"), fp = 0;

	p += ip;
	if (*p == '.') {
		fp = strspn(p + 1, "0123456789");
		p += 1 + fp;
	}
	if (ip + fp == 0)
		return false;
	if (*p == 'e' || *p == 'E') {
		p += 1 + (p[1] == '-' || p[1] == '+');
		if (strspn(p, "0123456789") == 0)
			return false;
		p += strspn(p, "0123456789");
	}
	return *p == '\0' && strpbrk(s, ".eE") != NULL;
}

const char *ynode_describe_value(const struct ynode *n, char *buf, size_t len)
{
	if (n->kind != YNODE_SCALAR || n->scalar == YSCALAR_NULL)
		return ynode_describe(n);
	if (n->scalar == YSCALAR_BOOL)
		snprintf(buf, len, "%s, a boolean", n->str);
	else if (n->scalar == YSCALAR_INT)
		snprintf(buf, len, "%s, an integer", n->str);
	else if (looks_decimal(n->str))
		snprintf(buf, len, "%.40s, a decimal", n->str);
	else
		snprintf(buf, len, "a string '%.40s%s'", n->str, strlen(n->str) > 40 ? "..." : "");
	return buf;
}

const char *cfg_suggest(const char *word, const char *const *names)
{
	const char *best = NULL;
	size_t bestd = 3;

	for (size_t i = 0; names[i] != NULL; i++) {
		size_t d = edit_distance(word, names[i]);

		if (d < bestd) {
			bestd = d;
			best = names[i];
		}
	}
	return best;
}

int cfg_unknown(struct cfg_ctx *x, const struct ynode *n, const char *path, const char *what,
    const char *const *names, const char *expected)
{
	const char *hint = cfg_suggest(n->str, names);

	if (hint != NULL)
		return cfg_error(x, n, path, "unknown %s '%s'; did you mean '%s'?", what, n->str,
		    hint);
	return cfg_error(x, n, path, "unknown %s '%s'; expected %s", what, n->str, expected);
}

/* ---- YAML to tree ---- */

void ynode_free(struct ynode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		ynode_free(n->kids[i]);
	free(n->kids);
	/* Scalars may be an inline EAB HMAC key. */
	free_secret_str(n->str);
	free(n);
}

static struct ynode *ynode_new(enum ynode_kind kind, const yaml_mark_t *m)
{
	struct ynode *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

static void ynode_add(struct ynode *parent, struct ynode *kid)
{
	if (parent->nkids == parent->capkids) {
		parent->capkids = parent->capkids ? parent->capkids * 2 : 8;
		parent->kids = xrealloc(parent->kids, parent->capkids * sizeof(*parent->kids));
	}
	parent->kids[parent->nkids++] = kid;
}

/* YAML 1.2 core schema resolution of an untagged plain scalar, minus
 * floats and YAML 1.1's yes/no (which "reuse_key: yes" would need). */
static enum yscalar resolve_plain(const char *s)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };
	static const char *const bools[] = { "true", "True", "TRUE", "false", "False",
		"FALSE" };
	const char *d = s + (s[0] == '-' || s[0] == '+');

	for (size_t i = 0; i < ARRAY_SIZE(nulls); i++)
		if (strcmp(s, nulls[i]) == 0)
			return YSCALAR_NULL;
	for (size_t i = 0; i < ARRAY_SIZE(bools); i++)
		if (strcmp(s, bools[i]) == 0)
			return YSCALAR_BOOL;
	if (*d != '\0' && strspn(d, "0123456789") == strlen(d))
		return YSCALAR_INT;
	return YSCALAR_STR;
}

struct yreader {
	yaml_parser_t parser;
	struct cfg_ctx *x;
	const char *text;
	size_t len;
};

static int yreader_error(struct yreader *r)
{
	const yaml_parser_t *p = &r->parser;
	struct ynode at = { .line = 1, .col = 1 };

	if (p->error == YAML_MEMORY_ERROR)
		return cfg_error(r->x, NULL, NULL, "out of memory reading YAML");
	if (p->error == YAML_READER_ERROR) {
		/* Bad encoding: libyaml gives a byte offset, not a mark. */
		for (size_t i = 0; i < p->problem_offset && i < r->len; i++) {
			if (r->text[i] == '\n') {
				at.line++;
				at.col = 1;
			} else {
				at.col++;
			}
		}
		return cfg_error(r->x, &at, NULL, "YAML syntax error: %s", p->problem);
	}
	at.line = (int)p->problem_mark.line + 1;
	at.col = (int)p->problem_mark.column + 1;
	/* libyaml's "found character that cannot start any token" (and its
	 * other tab messages) do not say the character is a tab, which is
	 * invisible in most editors. */
	if (p->problem_mark.index < r->len && r->text[p->problem_mark.index] == '\t')
		return cfg_error(r->x, &at, NULL, "YAML syntax error: tab characters are not "
		    "allowed for indentation; indent with spaces");
	if (p->context != NULL)
		return cfg_error(r->x, &at, NULL, "YAML syntax error: %s (%s at line %zu, "
		    "column %zu)", p->problem, p->context, p->context_mark.line + 1,
		    p->context_mark.column + 1);
	return cfg_error(r->x, &at, NULL, "YAML syntax error: %s",
	    p->problem ? p->problem : "unknown problem");
}

static int yreader_next(struct yreader *r, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&r->parser, ev))
		return yreader_error(r);
	return 0;
}

/* Anchors and tags other than the standard ones are refused: the inventory
 * has defaults: for sharing settings, and a tag would change nothing here. */
static int check_props(struct yreader *r, const struct ynode *at, const yaml_char_t *anchor,
    const yaml_char_t *tag, const char *std_tag)
{
	if (anchor != NULL)
		return cfg_error(r->x, at, NULL, "YAML anchors (&%s) are not supported; put "
		    "shared settings under defaults:", (const char *)anchor);
	if (tag != NULL && strcmp((const char *)tag, "!") != 0 &&
	    strcmp((const char *)tag, std_tag) != 0)
		return cfg_error(r->x, at, NULL, "YAML tag '%s' is not supported",
		    (const char *)tag);
	return 0;
}

/* Consumes the node that starts with ev (deleted), keeping nothing. */
static int yreader_skip(struct yreader *r, yaml_event_t *ev)
{
	int depth = 0;

	for (;;) {
		switch (ev->type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(ev);
		if (depth <= 0)
			return 0;
		if (yreader_next(r, ev) < 0)
			return -1;
	}
}

/* Whether the value after key at depth (of the mapping) is skipped:
 * with CONFIG_LOAD_TOP, the top level's lists of entries. */
static bool yreader_skips(const struct yreader *r, int depth, const struct ynode *key)
{
	return (r->x->flags & CONFIG_LOAD_TOP) && depth == 0 && key->str != NULL &&
	    (strcmp(key->str, "accounts") == 0 || strcmp(key->str, "certificates") == 0 ||
	    strcmp(key->str, "defaults") == 0);
}

/*
 * Builds the node whose first event is *ev, reading the events of its
 * children.  Deletes *ev.  0 and *out, or -1 with the error written.
 */
static int yreader_node(struct yreader *r, yaml_event_t *ev, int depth, struct ynode **out)
{
	struct ynode *n = NULL, *kid = NULL;
	yaml_event_type_t end;
	yaml_event_t sub;
	int rc = -1;

	*out = NULL;
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		n = ynode_new(YNODE_SCALAR, &ev->start_mark);
		cfg_error(r->x, n, NULL, "YAML aliases (*%s) are not supported; put shared "
		    "settings under defaults:", (const char *)ev->data.alias.anchor);
		goto out;
	case YAML_SCALAR_EVENT:
		n = ynode_new(YNODE_SCALAR, &ev->start_mark);
		if (check_props(r, n, ev->data.scalar.anchor, ev->data.scalar.tag,
		    YAML_STR_TAG) < 0)
			goto out;
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) != NULL) {
			cfg_error(r->x, n, NULL, "NUL characters are not allowed");
			goto out;
		}
		n->str = xstrndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
		n->scalar = ev->data.scalar.tag == NULL &&
		    ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
		    ? resolve_plain(n->str) : YSCALAR_STR;
		rc = 0;
		goto out;
	case YAML_SEQUENCE_START_EVENT:
		n = ynode_new(YNODE_SEQ, &ev->start_mark);
		end = YAML_SEQUENCE_END_EVENT;
		if (check_props(r, n, ev->data.sequence_start.anchor,
		    ev->data.sequence_start.tag, YAML_SEQ_TAG) < 0)
			goto out;
		break;
	case YAML_MAPPING_START_EVENT:
		n = ynode_new(YNODE_MAP, &ev->start_mark);
		end = YAML_MAPPING_END_EVENT;
		if (check_props(r, n, ev->data.mapping_start.anchor,
		    ev->data.mapping_start.tag, YAML_MAP_TAG) < 0)
			goto out;
		break;
	default:
		n = ynode_new(YNODE_SCALAR, &ev->start_mark);
		cfg_error(r->x, n, NULL, "unexpected YAML event %d", (int)ev->type);
		goto out;
	}
	if (depth >= YAML_MAX_DEPTH) {
		cfg_error(r->x, n, NULL, "YAML nested more than %d levels deep", YAML_MAX_DEPTH);
		goto out;
	}
	for (;;) {
		if (yreader_next(r, &sub) < 0)
			goto out;
		if (sub.type == end) {
			yaml_event_delete(&sub);
			break;
		}
		if (n->kind == YNODE_MAP && n->nkids % 2 == 1 &&
		    yreader_skips(r, depth, n->kids[n->nkids - 1])) {
			/* Kept as a null value: the key is still known. */
			yaml_mark_t at = sub.start_mark;

			if (yreader_skip(r, &sub) < 0)
				goto out;
			kid = ynode_new(YNODE_SCALAR, &at);
			kid->scalar = YSCALAR_NULL;
			ynode_add(n, kid);
			kid = NULL;
			continue;
		}
		if (yreader_node(r, &sub, depth + 1, &kid) < 0)
			goto out;
		if (n->kind == YNODE_MAP && n->nkids % 2 == 0 &&
		    (kid->kind != YNODE_SCALAR || kid->scalar == YSCALAR_NULL ||
		    kid->str[0] == '\0')) {
			cfg_error(r->x, kid, NULL, "mapping keys must be non-empty strings, got %s",
			    ynode_describe(kid));
			ynode_free(kid);
			goto out;
		}
		ynode_add(n, kid);
		kid = NULL;
	}
	rc = 0;
out:
	yaml_event_delete(ev);
	if (rc < 0) {
		ynode_free(n);
		n = NULL;
	}
	*out = n;
	return rc;
}

/* The single document of the stream; *root is NULL for an empty stream. */
static int yreader_document(struct yreader *r, struct ynode **root)
{
	yaml_event_t ev;
	struct ynode at = { 0 };

	*root = NULL;
	if (yreader_next(r, &ev) < 0)
		return -1;
	yaml_event_delete(&ev); /* STREAM-START */
	if (yreader_next(r, &ev) < 0)
		return -1;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return 0;
	}
	yaml_event_delete(&ev); /* DOCUMENT-START */
	if (yreader_next(r, &ev) < 0 || yreader_node(r, &ev, 0, root) < 0)
		goto fail;
	if (yreader_next(r, &ev) < 0)
		goto fail;
	yaml_event_delete(&ev); /* DOCUMENT-END */
	if (yreader_next(r, &ev) < 0)
		goto fail;
	if (ev.type != YAML_STREAM_END_EVENT) {
		at.line = (int)ev.start_mark.line + 1;
		at.col = (int)ev.start_mark.column + 1;
		yaml_event_delete(&ev);
		cfg_error(r->x, &at, NULL, "more than one YAML document; the inventory must "
		    "be a single document");
		goto fail;
	}
	yaml_event_delete(&ev);
	return 0;
fail:
	ynode_free(*root);
	*root = NULL;
	return -1;
}

/* ---- reading a file whole ---- */

int cfg_read_fd(int fd, size_t max, char **data, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t cap, got = 0;
	int saved;

	*data = NULL;
	*len = 0;
	if (fstat(fd, &st) < 0)
		return -1;
	/* Pipes report size 0: grow as data comes, within max. */
	cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size : 4096;
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t n;

		if (got == cap) {
			char probe;

			/* Usually end of file; only a pipe or a file that grew
			 * since fstat() needs more room. */
			if ((n = read(fd, &probe, 1)) < 0) {
				if (errno == EINTR)
					continue;
				goto fail;
			}
			if (n == 0)
				break;
			if (cap >= max) {
				errno = EFBIG;
				goto fail;
			}
			/* Not xrealloc(): it would leave a copy of a key behind
			 * in freed memory. */
			size_t ncap = cap * 2 < max ? cap * 2 : max;
			char *nbuf = xmalloc(ncap + 1);

			memcpy(nbuf, buf, got);
			free_secret(buf, cap + 1);
			buf = nbuf;
			cap = ncap;
			buf[got++] = probe;
			continue;
		}
		n = read(fd, buf + got, cap - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
fail:
	saved = errno;
	free_secret(buf, cap + 1);
	errno = saved;
	return -1;
}

/* Absolute directory of the inventory, for relative paths inside it. */
static char *inventory_dir(const char *file)
{
	const char *slash = strrchr(file, '/');
	char cwd[4096];

	if (file[0] == '/')
		return slash == file ? xstrdup("/") : xstrndup(file, (size_t)(slash - file));
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		snprintf(cwd, sizeof(cwd), "/");
	if (slash == NULL)
		return xstrdup(cwd);
	return xasprintf("%s/%.*s", strcmp(cwd, "/") == 0 ? "" : cwd,
	    (int)(slash - file), file);
}

/* Reads and parses x->file; fills x->file_mode and x->basedir. */
int cfg_tree_load(struct cfg_ctx *x, struct ynode **root)
{
	struct yreader r = { .x = x };
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	int fd = -1, rc = -1;

	*root = NULL;
	/* O_NONBLOCK: open() of a FIFO would wait for a writer forever, at
	 * --check and in the daemon alike.  Nothing but a regular file is
	 * read (a directory fails as before, with EISDIR). */
	if ((fd = open(x->file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0 ||
	    fstat(fd, &st) < 0) {
		snprintf(x->err, x->errlen, "%s: cannot open: %s", x->file, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		snprintf(x->err, x->errlen, "%s: cannot read: not a regular file (%s)", x->file,
		    S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" :
		    S_ISCHR(st.st_mode) ? "a character device" :
		    S_ISBLK(st.st_mode) ? "a block device" : "of an unknown type");
		goto out;
	}
	if (cfg_read_fd(fd, INVENTORY_MAX, &text, &len) < 0) {
		snprintf(x->err, x->errlen, "%s: cannot read: %s", x->file,
		    errno == EFBIG ? "larger than 64 MiB" : strerror(errno));
		goto out;
	}
	x->file_mode = st.st_mode;
	x->basedir = inventory_dir(x->file);
	if (!yaml_parser_initialize(&r.parser)) {
		snprintf(x->err, x->errlen, "%s: cannot initialise the YAML parser", x->file);
		goto out;
	}
	r.text = text;
	r.len = len;
	yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
	rc = yreader_document(&r, root);
	yaml_parser_delete(&r.parser);
out:
	if (fd >= 0)
		close(fd);
	free_secret(text, len);
	return rc;
}

/* ---- walking the tree ---- */

bool cfg_null(const struct ynode *n)
{
	return n == NULL || (n->kind == YNODE_SCALAR && n->scalar == YSCALAR_NULL);
}

const struct ynode *cfg_map_get(const struct ynode *map, const char *key)
{
	if (cfg_null(map) || map->kind != YNODE_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->nkids; i += 2)
		if (strcmp(map->kids[i]->str, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

/* A mapping, or nothing at all (taken as an empty one). */
int cfg_expect_map(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *what)
{
	if (cfg_null(n) || n->kind == YNODE_MAP)
		return 0;
	return cfg_error(x, n, path, "expected %s, got %s", what, ynode_describe(n));
}

/*
 * Rejects duplicate keys (libyaml accepts them; the second would silently
 * win) and, when valid is not NULL, keys not in it.
 */
int cfg_check_keys(struct cfg_ctx *x, const struct ynode *map, const char *path,
    const char *const *valid)
{
	char sub[CFG_PATH_LEN];

	if (cfg_null(map))
		return 0;
	for (size_t i = 0; i + 1 < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i];
		bool known = valid == NULL;

		cfg_path_key(sub, sizeof(sub), path, k->str);
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(map->kids[j]->str, k->str) == 0)
				return cfg_error(x, k, sub, "duplicate key (first at line %d)",
				    map->kids[j]->line);
		for (size_t j = 0; !known && valid[j] != NULL; j++)
			known = strcmp(valid[j], k->str) == 0;
		if (!known) {
			const char *hint = cfg_suggest(k->str, valid);
			char *all = NULL;
			struct strlist l = { .v = (char **)valid };

			if (hint != NULL)
				return cfg_error(x, k, sub, "unknown key; did you mean '%s'?", hint);
			while (valid[l.n] != NULL)
				l.n++;
			all = strlist_join(&l, ", ");
			cfg_error(x, k, sub, "unknown key (expected one of: %s)", all);
			free(all);
			return -1;
		}
	}
	return 0;
}

int cfg_missing(struct cfg_ctx *x, const struct ynode *map, const char *path,
    const char *key)
{
	return cfg_error(x, map, path, "missing required key '%s'", key);
}
