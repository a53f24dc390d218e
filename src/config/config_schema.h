/*
 * config_schema.h - the inventory's schema: keys to struct config
 * (config_schema.c), above every other config_*.h but config.c's entry
 * point (see config_tree.h for the order).
 */
#ifndef CERTFLEET_CONFIG_SCHEMA_H
#define CERTFLEET_CONFIG_SCHEMA_H

#include "config_tree.h"

/* Fills c (zeroed) from the top-level mapping root: 0, or -1 with the error
 * written and c half-built (config_free() frees what is there). */
int cfg_build(struct cfg_ctx *x, const struct ynode *root, struct config *c);
/* Free what an account or certificate entry owns, not the entry itself
 * (it lives in the config's array). */
void cfg_account_free_members(struct config_account *a);
void cfg_cert_free_members(struct config_cert *cc);

#endif
