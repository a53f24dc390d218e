/*
 * fleet_account.h - an ACME account as the fleet makes it: its parameters
 * from the inventory's account entry, its records in the state directory
 * (accounts/NAME/ of store.h), and the adoption of certbot's account when
 * the inventory says certbot_account and nothing is stored yet.  The ACME
 * engine (acme.h) sees neither the inventory nor the store: it gets the
 * parameters and calls the store through struct acme_account_store.
 */
#ifndef CERTFLEET_FLEET_ACCOUNT_H
#define CERTFLEET_FLEET_ACCOUNT_H

#include "acme.h"
#include "config.h"
#include "store.h"

/* The account's parameters from cfg: p's members point into cfg (the
 * account copies them). */
void fleet_account_params(const struct config_account *cfg, struct acme_account_params *p);

/*
 * The account for inventory entry cfg, its records in s.  cfg is read
 * again when the account first loads (certbot_account) and must outlive
 * it or be replaced with fleet_account_set_config(); s must outlive it.
 * Free with acme_account_free() (which frees what this adds).
 */
struct acme_account *fleet_account_new(struct acme_env *env, struct store *s,
    const struct config_account *cfg);
/* After a reload: the same account's entry (same name, same CA) in the new
 * inventory, for the parameters and the certbot directory. */
void fleet_account_set_config(struct acme_account *a, const struct config_account *cfg);

/* The struct acme_account_store the above uses, for arg made by
 * fleet_account_store_new() (tests wrap it to watch the calls). */
extern const struct acme_account_store fleet_account_store;
/* Freed by fleet_account_store's release. */
void *fleet_account_store_new(struct store *s, const struct config_account *cfg);

#endif
