/*
 * acme_client.h - between an account (acme_account.c) and its transport
 * (acme_client.c), inside the ACME engine only.  The requests themselves
 * (acme_post, acme_get) stay in acme.h's transport section, since every
 * caller holds an account, not a client.
 */
#ifndef CERTFLEET_ACME_CLIENT_H
#define CERTFLEET_ACME_CLIENT_H

#include <stdbool.h>

#include "acme.h"

struct acme_client;

/* The transport of account a (nonce pool, requests in flight); counters
 * is the account's, counted into (post, bad_nonce_retries).  Freed with
 * acme_client_free(), which cancels every request in flight. */
struct acme_client *acme_client_new(struct acme_account *a, struct acme_env *env,
    struct acme_counters *counters);
void acme_client_free(struct acme_client *cl);

/* acme_account.c's side. */
/* The account's client; never NULL. */
struct acme_client *acme_account_client(struct acme_account *a);
/* The CA answered accountDoesNotExist to a kid-signed request: true when
 * the account is to be found again (it had a URL and was not already
 * busy), the URL then forgotten so the next acme_account_when_ready()
 * looks it up or registers; false when the reply goes to the caller. */
bool acme_account_lost(struct acme_account *a);

#endif
