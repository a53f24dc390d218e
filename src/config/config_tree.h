/*
 * config_tree.h - the bottom layer of the inventory parser (config_tree.c):
 * the YAML tree with its line and column marks, the state of one load, the
 * one-line errors and walking mappings.
 *
 * The config module's files depend on one another in one direction only;
 * each includes the header of its own layer and those below, never above:
 *
 *   config.c           entry point: config_load(), config_free() (config.h)
 *     config_schema.c  keys to struct config: what goes where, defaults,
 *                      references between entries; the lookups of config.h
 *       config_validate.c  cross-checks between certificates
 *       config_notify.c    notify: (webhook, mail, when), on config_files.c
 *       config_cluster.c   cluster: (etcd, the pool's secret key) and
 *                          shared:, on config_files.c
 *       config_files.c     values naming files: paths, programs, argv,
 *                          directories, the CA bundle, EAB keys
 *         config_types.c   scalar values: strings, numbers, durations,
 *                          names, modes, owners, URLs, domains
 *           config_tree.c  libyaml to a ynode tree, errors, walking
 *
 * (config_validate.c and config_files.c both sit on config_tree.c;
 * config_files.c also on config_types.c.)  libyaml is touched only by
 * config_tree.c.  Only these files include the config_*.h headers; the
 * rest of certfleet sees struct config through config.h.
 */
#ifndef CERTFLEET_CONFIG_TREE_H
#define CERTFLEET_CONFIG_TREE_H

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
/* For a scalar n none of names: "unknown WHAT 'VALUE'; did you mean 'NAME'?"
 * with the closest, else "unknown WHAT 'VALUE'; expected EXPECTED".
 * Always returns -1. */
int cfg_unknown(struct cfg_ctx *x, const struct ynode *n, const char *path, const char *what,
    const char *const *names, const char *expected);

/*
 * Reads and parses x->file into *root (NULL for an empty document), fills
 * x->file_mode and x->basedir (the caller frees x->basedir).  0 ok, or -1
 * with the error written.  The caller frees *root with ynode_free().
 */
int cfg_tree_load(struct cfg_ctx *x, struct ynode **root);
/* Frees a tree, wiping scalars (one may be an inline EAB key).  NULL is fine. */
void ynode_free(struct ynode *n);

/*
 * Walking the tree.  A missing or null node counts as an empty
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

#endif
