/*
 * config_internal.h - what the parts of the inventory parser share:
 * config.c (YAML reading and the public API), config_schema.c (what goes
 * where: settings, accounts, defaults, certificates), config_validate.c
 * (typed values: durations, names, domains, URLs, users ...) and
 * config_files.c (paths, the CA bundle, EAB key files).  Only they include
 * it; the rest of certfleet sees struct config through config.h.
 *
 * The YAML document is first read into a small tree of ynodes that keeps
 * libyaml's marks, so every error can name the line and column of the node
 * it concerns.  libyaml itself is only touched by config.c.
 */
#ifndef CERTFLEET_CONFIG_INTERNAL_H
#define CERTFLEET_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "util.h"

enum ynode_kind { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

/* Kinds of YAML scalar a plain (unquoted, untagged) value resolves to. */
enum yscalar { YSCALAR_NULL, YSCALAR_BOOL, YSCALAR_INT, YSCALAR_STR };

struct ynode {
	enum ynode_kind kind;
	int line, col;          /* 1-based */
	char *str;              /* scalar text */
	enum yscalar scalar;    /* resolved type of a scalar */
	/* seq: items; map: key, value, key, value ... (keys are scalars) */
	struct ynode **kids;
	size_t nkids, capkids;
};

/* State of one config_load(). */
struct cfg_ctx {
	const char *file;       /* as given, for messages */
	char *basedir;          /* absolute directory of file: base of relative paths */
	mode_t file_mode;       /* permission bits of the inventory */
	unsigned flags;         /* CONFIG_LOAD_* */
	char *err;
	size_t errlen;
};

/* Writes "FILE:LINE:COL: PATH: message" (PATH omitted when NULL or empty)
 * at node at (line 1 column 1 when NULL).  Always returns -1. */
int cfg_error(struct cfg_ctx *x, const struct ynode *at, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Key paths for messages: "certificates[2].domains[0]". */
#define CFG_PATH_LEN 512
void cfg_path_key(char *buf, size_t len, const char *parent, const char *key);
void cfg_path_index(char *buf, size_t len, const char *parent, size_t i);

/*
 * Reads an open file whole (at most max bytes, else EFBIG) into a
 * NUL-terminated buffer the caller frees (free_secret() for key files: a
 * failure wipes what was read).  0 ok, -1 with errno set.
 */
int cfg_read_fd(int fd, size_t max, char **data, size_t *len);

/* "a string", "a list", ... for "expected X, got Y" messages. */
const char *ynode_describe(const struct ynode *n);
/* The same naming the value of a scalar ("1.5, a decimal", "a string
 * 'abc'", "true, a boolean"), for a key that wants a number; in buf. */
const char *ynode_describe_value(const struct ynode *n, char *buf, size_t len);

/* The closest of names (NULL-terminated) within edit distance 2, or NULL. */
const char *cfg_suggest(const char *word, const char *const *names);

/*
 * Walking the tree (config.c).  A missing or null node counts as an empty
 * mapping: "defaults:" with nothing under it is fine.
 */
bool cfg_null(const struct ynode *n);
/* Value of key in map, or NULL. */
const struct ynode *cfg_map_get(const struct ynode *map, const char *key);
/* 0 for a mapping or null, else -1 with "expected WHAT, got ...". */
int cfg_expect_map(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *what);
/* Rejects duplicate keys and (unless valid is NULL) keys not in valid,
 * suggesting the closest valid one. */
int cfg_check_keys(struct cfg_ctx *x, const struct ynode *map, const char *path,
    const char *const *valid);
/* "missing required key 'KEY'" at the enclosing mapping.  Returns -1. */
int cfg_missing(struct cfg_ctx *x, const struct ynode *map, const char *path,
    const char *key);

/* Fills c (zeroed) from the top-level mapping root (config_schema.c). */
int cfg_build(struct cfg_ctx *x, const struct ynode *root, struct config *c);
void cfg_account_free_members(struct config_account *a);
void cfg_cert_free_members(struct config_cert *cc);

/*
 * Typed values.  Each returns 0 and stores the value, or -1 with the
 * error written (naming path).  Strings returned are the caller's.
 */
int cfg_string(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out);
int cfg_int(struct cfg_ctx *x, const struct ynode *n, const char *path, long long min,
    long long max, int *out);
int cfg_bool(struct cfg_ctx *x, const struct ynode *n, const char *path, bool *out);
/* Duration as "90s", "30m", "2h", "7d" or an integer of seconds; > 0 unless
 * allow_zero. */
int cfg_duration(struct cfg_ctx *x, const struct ynode *n, const char *path,
    bool allow_zero, long long *out);
/* A file system path; relative ones are resolved against x->basedir. */
int cfg_path(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out);
/* A program: absolute, relative to basedir (when it holds a '/'), or a bare
 * name looked up in PATH when it runs.  With CONFIG_LOAD_HOST it must exist
 * and be executable now. */
int cfg_program(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out);
/* With CONFIG_LOAD_HOST: dir is a directory or can be created (what is
 * the daemon's own: state, output, socket); n NULL for a built-in
 * default.  0 otherwise. */
int cfg_host_dir(struct cfg_ctx *x, const struct ynode *n, const char *path, const char *dir);
/* argv list, or one string taken as argv[0]; replaces *out. */
int cfg_argv(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct strlist *out);
/* Lineage and account names: [A-Za-z0-9._-]+, not starting with '.'. */
int cfg_name(struct cfg_ctx *x, const struct ynode *n, const char *path, const char *what,
    char **out);
int cfg_key_type(struct cfg_ctx *x, const struct ynode *n, const char *path,
    enum key_type *out);
int cfg_mode(struct cfg_ctx *x, const struct ynode *n, const char *path, mode_t *out);
/* Mode of the control socket: owner read+write required. */
int cfg_socket_mode(struct cfg_ctx *x, const struct ynode *n, const char *path, mode_t *out);
int cfg_owner(struct cfg_ctx *x, const struct ynode *n, const char *path, uid_t *out);
int cfg_group(struct cfg_ctx *x, const struct ynode *n, const char *path, gid_t *out);
/* "ADDR:PORT" with a numeric address ("[::]:80", "0.0.0.0:80"). */
int cfg_listen(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out);
/* ACME directory URL: https://, or http:// to a loopback host only. */
int cfg_directory_url(struct cfg_ctx *x, const struct ynode *n, const char *path,
    char **out);
/* One "mailto:" string or a list of them; appended to out. */
int cfg_contacts(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct strlist *out);
/* Non-empty list of valid DNS names, lower-cased, without duplicates;
 * replaces *out. */
int cfg_domains(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct strlist *out);
/* A readable regular file holding at least one PEM certificate. */
int cfg_ca_bundle(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out);
/* preferred_chain: an issuer common name, or "sha256:" and a SHA-256
 * fingerprint (64 hex digits, colons allowed between bytes). */
int cfg_preferred_chain(struct cfg_ctx *x, const struct ynode *n, const char *path,
    char **out);
/*
 * The certificates parsed so far, hashed by name and by what they order, so
 * that the duplicate checks cost O(1) each and not a pass over every
 * earlier entry (10,000 certificates must load in well under a second).
 */
struct cfg_cert_index;
struct cfg_cert_index *cfg_cert_index_new(size_t ncerts);
void cfg_cert_index_free(struct cfg_cert_index *ix);
/* Rejects a name an entry already in c has. */
int cfg_cert_name_unique(struct cfg_ctx *x, const struct config *c,
    const struct cfg_cert_index *ix, const struct ynode *map, const char *path,
    const char *name);
/* Rejects cc when an entry already in c orders the same thing (names, key
 * type, account, profile); the same names with another key type (RSA and
 * ECDSA side by side) are allowed.  On success cc is recorded in ix (name
 * and order) as c->certs[c->ncerts], where the caller then puts it. */
int cfg_cert_unique(struct cfg_ctx *x, const struct config *c, struct cfg_cert_index *ix,
    const struct ynode *map, const char *path, const struct config_cert *cc);

/*
 * The EAB HMAC key, inline (file_node NULL: the inventory itself must not
 * be readable by group or others) or from a file (inline_node NULL; same
 * rule for that file).  *key is a secret: free with free_secret().
 */
int cfg_hmac_key(struct cfg_ctx *x, const struct ynode *inline_node,
    const struct ynode *file_node, const char *path, unsigned char **key,
    size_t *keylen);

#endif
