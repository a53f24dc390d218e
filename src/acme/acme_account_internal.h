/*
 * acme_account_internal.h - the account, shared by acme_account.c (its
 * machine, lifecycle and accessors) and acme_probe.c (the dry run's
 * probe, which runs the same machine and only asks).
 */
#ifndef CERTFLEET_ACME_ACCOUNT_INTERNAL_H
#define CERTFLEET_ACME_ACCOUNT_INTERNAL_H

#include <stdbool.h>
#include <time.h>

#include "acme.h"

struct acme_account {
	struct acme_env *env;
	/* The parameters (acme_account_params) and the copies they point at. */
	struct acme_account_params p;
	char *name, *directory_url, *ca_bundle, *eab_kid;
	unsigned char *eab_hmac;
	struct strlist contact;
	const struct acme_account_store *store;
	void *store_arg;
	enum account_state state;
	struct acme_directory dir;
	bool have_dir;
	privkey_t *key;
	privkey_t *next_key;            /* rollover in progress (key-next.pem) */
	time_t deactivated;             /* 0: active */
	bool loaded;                    /* the store was read */
	char *adopted_from;             /* key and URL just taken from there: verify */
	char *url;
	struct acme_client *client;     /* nonce pool, requests in flight */
	struct acme_budget *budget;     /* how fast it may ask (acme_budget.c) */
	struct acme_waiter *waiters;
	struct http_req *pending_get;   /* directory fetch */
	struct workpool_job *pending_keygen;
	struct acme_call *pending_call;
	struct acme_counters counters;
	acme_probe_cb probe_cb;         /* a dry run's probe in flight */
	void *probe_arg;
	bool probe_starting;            /* inside acme_account_probe(): a failure is */
	char *probe_error;              /* kept here for its return, not called back */
	/* What the last completion brought to account_step(): */
	bool done;                      /* a completion, not an entry */
	const struct http_response *resp; /* the directory GET's (that call only) */
	const struct acme_reply *reply; /* a signed POST's (that call only) */
	privkey_t *new_key;             /* the generated key (NULL: generation failed) */
	/* Why it last failed to get ready (acme_account_fault); fault_set:
	 * recorded for the failure being settled, else it was a local one. */
	long fault_status;
	char *fault_type;
	bool fault_set;
	/* The step it failed at when the account logged the cause itself;
	 * NULL when it did not (the waiters' lines then carry it). */
	const char *fault_step;
};

/* acme_account.c */
/* The account machine: the one switch over enum account_state. */
void account_step(struct acme_account *a);
/* Reads the stored key, URL, staged rollover key and deactivation (or
 * what the store's load adopted), once.  -1 with err when the store is
 * unreadable. */
int account_load(struct acme_account *a, char *err, size_t errlen);

/* acme_probe.c */
/* The probe's outcome: the account back at rest, then the callback (or,
 * while acme_account_probe() is starting, kept for its return). */
void probe_settle(struct acme_account *a, bool ok, const char *msg);
/* The key is not (or not yet) registered (what says so): settles the
 * probe with whether a registration would work. */
void probe_registrable(struct acme_account *a, const char *what);
/* The probe's onlyReturnExisting was answered with r (found: the CA knows
 * the key).  NULL when the probe is settled; else why it failed, for the
 * machine's exit on failure (account_fail), caller frees. */
char *probe_looked_up(struct acme_account *a, const struct acme_reply *r, bool found);

#endif
