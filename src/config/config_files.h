/*
 * config_files.h - inventory values that name files: paths, programs and
 * argv lists, the daemon's directories, the CA bundle, EAB keys
 * (config_files.c), above config_types.h (see config_tree.h for the order).
 */
#ifndef CERTFLEET_CONFIG_FILES_H
#define CERTFLEET_CONFIG_FILES_H

#include "config_types.h"

/*
 * Values that name files.  Each returns 0 and stores the value, or -1 with
 * the error written (naming path).  Strings returned are the caller's.
 */

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
/* A readable regular file holding at least one PEM certificate. */
int cfg_ca_bundle(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out);

/*
 * The EAB HMAC key, inline (file_node NULL: the inventory itself must not
 * be readable by group or others) or from a file (inline_node NULL; same
 * rule for that file).  *key is a secret: free with free_secret().
 */
int cfg_hmac_key(struct cfg_ctx *x, const struct ynode *inline_node,
    const struct ynode *file_node, const char *path, unsigned char **key,
    size_t *keylen);

/*
 * A secret of one line read from the file n names (the webhook's header
 * value, the etcd password), which only its owner may read or write (0600
 * or stricter).  Its trailing newline and spaces are dropped; what ("the
 * webhook's secret") and value ("the header's value") name it in errors,
 * which never show the content.  *secret is NUL-terminated, *secretlen
 * bytes (free_secret).
 */
int cfg_secret_line(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *what, const char *value, char **secret, size_t *secretlen);
/* A PEM private key file (a TLS client key) only its owner may read or
 * write, like a secret file; what names it in errors ("the etcd client
 * key").  *out is its path. */
int cfg_private_key_file(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *what, char **out);

#endif
