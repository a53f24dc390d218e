/*
 * config_validate.h - cross-checks between the inventory's certificates
 * (config_validate.c), above config_tree.h (see there for the order).
 */
#ifndef CERTFLEET_CONFIG_VALIDATE_H
#define CERTFLEET_CONFIG_VALIDATE_H

#include "config_tree.h"

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

#endif
