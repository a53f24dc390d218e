/*
 * config_types.h - the scalar values of the inventory (config_types.c),
 * one layer above config_tree.h (see there for the whole order).
 */
#ifndef CERTFLEET_CONFIG_TYPES_H
#define CERTFLEET_CONFIG_TYPES_H

#include "config_tree.h"

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
/* A rate "COUNT/DURATION" ("300/3h"): COUNT 1..1000000, DURATION as
 * cfg_duration with a unit, longer than zero. */
int cfg_rate(struct cfg_ctx *x, const struct ynode *n, const char *path, int *count,
    long long *seconds);
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
/* One "mailto:" string or a list of them; appended to out. */
int cfg_contacts(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct strlist *out);
/* Non-empty list of valid DNS names, lower-cased, without duplicates;
 * replaces *out. */
int cfg_domains(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct strlist *out);
/* preferred_chain: an issuer common name, or "sha256:" and a SHA-256
 * fingerprint (64 hex digits, colons allowed between bytes). */
int cfg_preferred_chain(struct cfg_ctx *x, const struct ynode *n, const char *path,
    char **out);

#endif
