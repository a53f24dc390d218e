/*
 * acme_account.c - one ACME account at one CA: its directory, its
 * registration (with External Account Binding), onlyReturnExisting
 * recovery, key rollover and deactivation.  Its requests go through its
 * transport (acme_client.c: nonce pool, signed POST, badNonce retries);
 * what it keeps between runs goes through the struct acme_account_store
 * it is given (the fleet's is over the state directory: fleet_account.c).
 * It sees neither the inventory nor the store: its parameters are its own
 * copy of struct acme_account_params.  account_step() is the whole
 * machine: the one switch over enum account_state; the dry run's probe
 * (acme_probe.c) runs the same machine and only asks.
 *
 * Registration is lazy: nothing is sent until an order needs the account,
 * so a run with nothing due talks to no CA at all.  A stored key with a
 * stored URL for the same directory is used as is; a stored key whose URL
 * was lost is looked up with onlyReturnExisting before a new registration
 * (older Sectigo EAB credentials are single use, so registering twice with
 * the same credential fails).  A key and URL the store's load adopted from
 * another client (certbot_account: the fleet copies certbot's into the
 * store) are checked once with onlyReturnExisting; such an account never
 * falls back to registering.
 *
 * A key rollover interrupted by a crash leaves a staged key (the store's
 * key-next.pem): before anything else is sent, the CA is asked
 * (onlyReturnExisting, signed with the new key) whether it already knows
 * the new key, and the key it knows is kept.  A deactivated account sends
 * nothing at all.
 */
#include <string.h>

#include <ev.h>

#include "acme.h"
#include "acme_account_internal.h"
#include "acme_budget.h"
#include "acme_client.h"
#include "jws.h"
#include "keygen.h"
#include "log.h"
#include "util.h"
#include "workpool.h"

static const char *const account_state_names[ACCT_STATE__MAX] = {
	[ACCT_IDLE] = "idle",
	[ACCT_DIRECTORY] = "directory",
	[ACCT_KEYGEN] = "keygen",
	[ACCT_LOOKUP] = "lookup",
	[ACCT_REGISTER] = "register",
	[ACCT_RESOLVE] = "resolve",
	[ACCT_READY] = "ready",
};

/* What the account was doing in each state, for the line a waiting
 * certificate logs when the account failed there ("account X unavailable:
 * fetching the directory failed (see above)"). */
static const char *const account_step_names[ACCT_STATE__MAX] = {
	[ACCT_IDLE] = "reading the store",
	[ACCT_DIRECTORY] = "fetching the directory",
	[ACCT_KEYGEN] = "generating the account key",
	[ACCT_LOOKUP] = "looking the account up",
	[ACCT_REGISTER] = "registering",
	[ACCT_RESOLVE] = "checking the interrupted key rollover",
	[ACCT_READY] = "ready",
};

struct acme_waiter {
	struct acme_account *a;
	acme_ready_cb cb;
	void *arg;
	ev_timer defer;             /* delivers a result outside the caller's stack */
	bool ok;
	char *error;
	struct acme_waiter *next;
};

const char *
account_state_name(enum account_state s)
{
	return (unsigned)s < ACCT_STATE__MAX && account_state_names[s] ? account_state_names[s]
	    : "?";
}

void
acme_account_record_free(struct acme_account_record *r)
{
	if (r == NULL)
		return;
	privkey_free(r->key);
	privkey_free(r->next_key);
	free(r->url);
	free(r->directory);
	free(r->adopted_from);
	memset(r, 0, sizeof(*r));
}

/* Records what made the account fail to get ready, for the callers'
 * retry decision: status as acme_account_fault() documents it. */
static void
account_fault(struct acme_account *a, long status, const struct acme_problem *p)
{
	a->fault_status = status;
	free(a->fault_type);
	a->fault_type = p && p->type ? xstrdup(p->type) : NULL;
	a->fault_set = true;
}

/* ---- waiters ---- */

static void
waiter_fire_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct acme_waiter *wt = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	wt->cb(wt->ok, wt->error, wt->arg);
	free(wt->error);
	free(wt);
}

static void
waiter_schedule(struct acme_waiter *wt, bool ok, const char *error)
{
	wt->ok = ok;
	wt->error = xstrdup(error);
	ev_timer_init(&wt->defer, waiter_fire_cb, 0., 0.);
	wt->defer.data = wt;
	ev_timer_start(wt->a->env->loop, &wt->defer);
}

/* Hands the outcome to every waiting certificate, from the loop. */
static void
account_settle(struct acme_account *a, bool ok, const char *error)
{
	struct acme_waiter *wt, *next;

	for (wt = a->waiters, a->waiters = NULL; wt != NULL; wt = next) {
		next = wt->next;
		wt->next = NULL;
		waiter_schedule(wt, ok, error);
	}
}

struct acme_waiter *
acme_account_when_ready(struct acme_account *a, acme_ready_cb cb, void *arg)
{
	struct acme_waiter *wt = xcalloc(1, sizeof(*wt));
	char err[512];

	wt->a = a;
	wt->cb = cb;
	wt->arg = arg;
	if (!a->loaded && account_load(a, err, sizeof(err)) < 0) {
		log_err("account %s: %s", a->name, err);
		account_fault(a, -1, NULL);
		a->fault_set = false;
		a->fault_step = account_step_names[ACCT_IDLE];
		waiter_schedule(wt, false, err);
		return wt;
	}
	if (a->deactivated != 0) {
		char when[32], *msg;

		time_format_rfc3339(a->deactivated, when, sizeof(when));
		msg = xasprintf("account %s was deactivated at %s; point its certificates at "
		    "another account (or remove %s to register a new one)", a->name, when,
		    a->store->where(a->store_arg));
		account_fault(a, -1, NULL);
		a->fault_set = false;
		/* Not logged by the account: each certificate's line says it. */
		a->fault_step = NULL;
		waiter_schedule(wt, false, msg);
		free(msg);
		return wt;
	}
	if (a->state == ACCT_READY) {
		waiter_schedule(wt, true, NULL);
		return wt;
	}
	wt->next = a->waiters;
	a->waiters = wt;
	if (a->state == ACCT_IDLE)
		account_step(a);
	return wt;
}

void
acme_waiter_cancel(struct acme_waiter *wt)
{
	struct acme_waiter **pp;

	if (wt == NULL)
		return;
	for (pp = &wt->a->waiters; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == wt) {
			*pp = wt->next;
			free(wt);
			return;
		}
	}
	/* Already scheduled for delivery. */
	ev_timer_stop(wt->a->env->loop, &wt->defer);
	free(wt->error);
	free(wt);
}

/* ---- what the transport asks of the account ---- */

struct acme_budget *
acme_account_budget(const struct acme_account *a)
{
	return a->budget;
}

struct acme_client *
acme_account_client(struct acme_account *a)
{
	return a->client;
}

bool
acme_account_lost(struct acme_account *a)
{
	if (a->url == NULL || (a->state != ACCT_READY && a->state != ACCT_IDLE))
		return false;
	/*
	 * The CA lost or deleted the account behind our URL (a reset test
	 * CA, an account removed by an administrator).  Find it again by its
	 * key or register anew (with EAB), as on a first start: back at rest,
	 * the next acme_account_when_ready() runs the machine again.
	 */
	log_warn("account %s: the CA no longer knows %s; looking it up or registering again",
	    a->name, a->url);
	if (a->state == ACCT_READY) {
		free(a->url);
		a->url = NULL;
		a->state = ACCT_IDLE;
	}
	return true;
}

/* ---- the account machine ---- */

/* Every completion below only stores what it got in the account and
 * re-enters account_step(), which alone decides what happens next. */
static void
directory_done_cb(const struct http_response *resp, void *arg)
{
	struct acme_account *a = arg;

	a->pending_get = NULL;
	a->resp = resp;
	a->done = true;
	acme_observe_reply(a->env, a->name, ACME_EP_DIRECTORY, resp);
	account_step(a);
}

static void
account_key_ready(privkey_t *key, void *arg)
{
	struct acme_account *a = arg;

	a->pending_keygen = NULL;
	a->new_key = key;
	a->done = true;
	account_step(a);
}

static void
account_reply_cb(const struct acme_reply *r, void *arg)
{
	struct acme_account *a = arg;

	a->pending_call = NULL;
	a->reply = r;
	a->done = true;
	account_step(a);
}

/* A JWS to newAccount, signed with jwk_key and its jwk (the staged key of
 * a rollover), else with the account key and its jwk; the reply comes back
 * to account_step().  False when it could not be sent. */
static bool
account_post(struct acme_account *a, const char *payload, const privkey_t *jwk_key)
{
	struct acme_post_opts o = {0};

	o.url = a->dir.new_account;
	o.payload = payload;
	o.jwk_key = jwk_key;
	o.use_jwk = jwk_key == NULL;
	a->pending_call = acme_post(a, &o, account_reply_cb, a);
	return a->pending_call != NULL;
}

static void
save_url(struct acme_account *a, const char *url)
{
	char err[256];

	free(a->url);
	a->url = xstrdup(url);
	if (a->store->save(a->store_arg, a->url, a->directory_url, 0, err, sizeof(err)) < 0)
		log_err("account %s: %s (the account URL will be looked up again)", a->name,
		    err);
}

/* With the directory loaded: what the account still needs, from what it
 * holds (a key, a staged rollover key, a URL, an adopted account). */
static enum account_state
account_needs(const struct acme_account *a)
{
	if (a->key == NULL)
		return ACCT_KEYGEN;
	if (a->next_key != NULL)
		return ACCT_RESOLVE;
	/* An adopted account is verified once with onlyReturnExisting
	 * (RFC 8555 7.3.1): no newAccount, no EAB. */
	if (a->url != NULL && a->adopted_from == NULL)
		return ACCT_READY;
	return ACCT_LOOKUP;
}

/*
 * The machine's one exit on failure: the account back at rest for a later
 * attempt.  The cause is logged here, once, for every certificate waiting
 * on it (theirs only point at it: acme_account_fault_step); a probe's
 * failure goes to its callback instead, logged by nobody.
 */
static void
account_fail(struct acme_account *a, const char *error)
{
	if (a->probe_cb != NULL) {
		probe_settle(a, false, error);
		return;
	}
	log_err("account %s: %s", a->name, error);
	a->fault_step = account_step_names[a->state];
	a->state = ACCT_IDLE;
	/* Left as they are until the next failure: the waiters read them
	 * when they are called, from the loop. */
	if (!a->fault_set)
		account_fault(a, -1, NULL);
	a->fault_set = false;
	account_settle(a, false, error);
}

/*
 * The account machine: the one switch over enum account_state.
 *
 * Each state first issues its request (a->done false: just entered) and
 * returns; its completion comes back here with a->done set and what it
 * brought in the account (a->resp, a->reply: valid for this call only;
 * a->new_key), and the state decides the next one.  "goto next" enters
 * that state at once; "goto fail" ends the attempt (account_fail).
 *
 * A dry run's probe (acme_account_probe) runs the same machine but only
 * asks: it never generates a key, registers or resolves, and its outcome
 * goes to its callback (probe_settle), not to the waiters.
 *
 *   IDLE      -> DIRECTORY (the store read, once)
 *   DIRECTORY -> what the account needs (account_needs): KEYGEN (no key)
 *                | RESOLVE (a staged rollover key) | READY (a key and its
 *                URL) | LOOKUP (a key without its URL, or one adopted)
 *                probe: LOOKUP (a key) | its outcome (could one register?)
 *   KEYGEN    -> REGISTER (the key saved before the CA ever sees it)
 *   LOOKUP    -> READY (found: the URL saved) | REGISTER (not known; an
 *                adopted account fails instead: never registered anew)
 *                probe: its outcome
 *   REGISTER  -> READY (the URL saved)
 *   RESOLVE   -> what the account needs, with the key the CA has
 *   READY     -> the waiters told; acme_account_lost() and recheck() put a
 *                ready account back to IDLE, to run again on the next wait
 *   any       -> IDLE on failure, the waiters told (account_fail)
 */
void
account_step(struct acme_account *a)
{
	const struct http_response *resp = a->resp;
	const struct acme_reply *r = a->reply;
	bool done = a->done, probing = a->probe_cb != NULL, found;
	struct http_request_opts ho = {0};
	char err[512], *msg = NULL, *payload = NULL, *eab = NULL, *p = NULL;

	a->resp = NULL;
	a->reply = NULL;
	a->done = false;
	goto step;
next:
	done = false;
	resp = NULL;
	r = NULL;
step:
	switch (a->state) {
	case ACCT_IDLE:
		if (!a->loaded && account_load(a, err, sizeof(err)) < 0) {
			msg = xstrdup(err);
			goto fail;
		}
		a->state = ACCT_DIRECTORY;
		goto next;

	case ACCT_DIRECTORY:
		if (!done) {
			ho.method = "GET";
			ho.url = a->directory_url;
			ho.ca_bundle = a->ca_bundle;
			ho.timeout_ms = 30000;
			a->pending_get = http_request(a->env->http, &ho, directory_done_cb, a);
			if (a->pending_get == NULL) {
				/* A probe's caller hears of it at once, with the URL. */
				msg = probing ? xasprintf("cannot fetch the directory %s",
				    a->directory_url) : xstrdup("cannot fetch the directory");
				goto fail;
			}
			return;
		}
		if (resp->status != 200) {
			if (!probing)
				account_fault(a, resp->status, NULL);
			msg = resp->error
			    ? xasprintf("directory %s: %s", a->directory_url, resp->error)
			    : xasprintf("directory %s: HTTP %ld", a->directory_url, resp->status);
			goto fail;
		}
		acme_directory_free(&a->dir);
		if (acme_directory_parse(resp->body, resp->body_len, &a->dir, err,
		    sizeof(err)) < 0) {
			msg = xasprintf("directory %s: %s", a->directory_url, err);
			goto fail;
		}
		a->have_dir = true;
		if (probing) {
			if (a->key == NULL) {
				probe_registrable(a, "no account key stored yet");
				return;
			}
			a->state = ACCT_LOOKUP;
			goto next;
		}
		if (a->dir.eab_required && a->eab_kid == NULL && a->url == NULL)
			log_warn("account %s: the CA requires external account binding but the "
			    "inventory gives no eab: registration will fail", a->name);
		a->state = account_needs(a);
		goto next;

	case ACCT_KEYGEN:
		if (!done) {
			log_info("account %s: generating a %s account key", a->name,
			    key_type_name(a->p.key_type));
			a->pending_keygen = keygen_submit(a->env->keygen, a->p.key_type,
			    account_key_ready, a);
			return;
		}
		if (a->new_key == NULL) {
			msg = xstrdup("cannot generate the account key");
			goto fail;
		}
		/* Stored before it is ever sent: a crash after registration must
		 * not lose the key the CA now knows. */
		if (a->store->save_key(a->store_arg, a->new_key, err, sizeof(err)) < 0) {
			privkey_free(a->new_key);
			a->new_key = NULL;
			msg = xstrdup(err);
			goto fail;
		}
		a->key = a->new_key;
		a->new_key = NULL;
		a->state = ACCT_REGISTER;
		goto next;

	case ACCT_LOOKUP:
	case ACCT_REGISTER:
		if (!done) {
			/* The lookup (onlyReturnExisting, signed by the stored key
			 * with its jwk) asks and registers nothing. */
			if (a->state == ACCT_REGISTER && a->eab_kid) {
				eab = jws_eab(a->eab_kid, a->eab_hmac, a->p.eab_hmac_len,
				    a->p.eab_alg, a->dir.new_account, a->key);
				if (eab == NULL) {
					msg = xstrdup("cannot build the external account binding");
					goto fail;
				}
			}
			payload = acme_json_new_account(&a->contact, eab,
			    a->state == ACCT_LOOKUP);
			free(eab);
			if (a->state == ACCT_REGISTER)
				a->counters.new_account++;
			if (!account_post(a, payload, NULL)) {
				free(payload);
				msg = xstrdup(probing ? "cannot send the account lookup"
				    : "cannot send newAccount");
				goto fail;
			}
			free(payload);
			return;
		}
		found = (r->status == 200 || r->status == 201) && r->http->location != NULL;
		if (probing) {
			if ((msg = probe_looked_up(a, r, found)) == NULL)
				return;
			goto fail;
		}
		if (a->state == ACCT_LOOKUP && acme_problem_is(r->problem, "accountDoesNotExist")) {
			if (a->adopted_from != NULL) {
				/* Registering anew would spend the EAB credential the
				 * adopted account was meant to spare. */
				msg = xasprintf("the account adopted from certbot (%s) is not known "
				    "to %s; remove %s and certbot_account to register a new one",
				    a->adopted_from, a->directory_url,
				    a->store->where(a->store_arg));
				goto fail;
			}
			log_info("account %s: key not known to %s, registering", a->name,
			    a->directory_url);
			a->state = ACCT_REGISTER;
			goto next;
		}
		if (found) {
			if (a->adopted_from && a->url != NULL &&
			    strcmp(a->url, r->http->location) != 0)
				log_warn("account %s: certbot recorded %s but %s answers %s; using "
				    "the CA's", a->name, a->url, a->directory_url,
				    r->http->location);
			free(a->adopted_from);
			a->adopted_from = NULL;
			save_url(a, r->http->location);
			log_notice("account %s: %s %s", a->name,
			    r->status == 201 ? "registered" : "found existing account", a->url);
			a->state = ACCT_READY;
			goto next;
		}
		account_fault(a, r->status, r->problem);
		if (r->problem) {
			p = acme_problem_format(r->problem);
			msg = xasprintf("%s failed at %s: %s", a->state == ACCT_LOOKUP ?
			    "account lookup" : "newAccount", a->dir.new_account, p);
			free(p);
		} else if (r->error) {
			msg = xasprintf("newAccount %s: %s", a->dir.new_account, r->error);
		} else {
			msg = xasprintf("newAccount %s: unexpected HTTP %ld%s", a->dir.new_account,
			    r->status, r->http->location ? "" : " without Location");
		}
		goto fail;

	case ACCT_RESOLVE:
		if (!done) {
			/* Asks the CA whether it knows the staged key:
			 * onlyReturnExisting signed by that key. */
			log_info("account %s: a key rollover was interrupted; asking %s which key "
			    "it has", a->name, a->directory_url);
			payload = acme_json_new_account(NULL, NULL, true);
			if (!account_post(a, payload, a->next_key)) {
				free(payload);
				msg = xstrdup("cannot send the rollover lookup");
				goto fail;
			}
			free(payload);
			return;
		}
		if ((r->status == 200 || r->status == 201) && r->http->location != NULL) {
			/* The CA switched to the new key before we could record it. */
			if (acme_account_commit_key(a, err, sizeof(err)) < 0) {
				msg = xstrdup(err);
				goto fail;
			}
			log_notice("account %s: the interrupted key rollover had completed at the "
			    "CA; using the new key", a->name);
			if (a->url == NULL || strcmp(a->url, r->http->location) != 0)
				save_url(a, r->http->location);
		} else if (acme_problem_is(r->problem, "accountDoesNotExist")) {
			log_notice("account %s: the interrupted key rollover did not happen at the "
			    "CA; keeping the old key", a->name);
			acme_account_drop_key(a);
		} else {
			p = r->problem ? acme_problem_format(r->problem) : NULL;
			account_fault(a, r->status, r->problem);
			msg = xasprintf("cannot resolve the interrupted key rollover (both keys "
			    "kept): %s %s", a->dir.new_account, p ? p : r->error ? r->error :
			    "unexpected reply");
			free(p);
			goto fail;
		}
		a->state = account_needs(a);
		goto next;

	case ACCT_READY:
		account_settle(a, true, NULL);
		return;

	case ACCT_STATE__MAX:
		break;
	}
	return;
fail:
	account_fail(a, msg);
	free(msg);
}

/* Reads the stored key, URL, staged rollover key and deactivation (or
 * what the store's load adopted), once.  -1 with err when the store is
 * unreadable. */
int
account_load(struct acme_account *a, char *err, size_t errlen)
{
	struct acme_account_record rec = {0};

	if (a->store->load(a->store_arg, &rec, err, errlen) < 0) {
		acme_account_record_free(&rec);
		return -1;
	}
	privkey_free(a->key);
	privkey_free(a->next_key);
	a->key = rec.key;
	rec.key = NULL;
	a->next_key = rec.next_key;
	rec.next_key = NULL;
	free(a->adopted_from);
	a->adopted_from = rec.adopted_from;
	rec.adopted_from = NULL;
	/* A URL registered at another CA is of no use here. */
	if (rec.url && rec.directory && strcmp(rec.directory, a->directory_url) == 0) {
		free(a->url);
		a->url = rec.url;
		rec.url = NULL;
		a->deactivated = rec.deactivated;
	}
	if (a->key == NULL && a->next_key != NULL) {
		/* Promotion is one rename, so this is not a rollover's doing;
		 * the staged key is the only one there is. */
		log_warn("account %s: key-next.pem without key.pem; using it as the key",
		    a->name);
		if (acme_account_commit_key(a, err, errlen) < 0) {
			acme_account_record_free(&rec);
			return -1;
		}
	}
	acme_account_record_free(&rec);
	a->loaded = true;
	return 0;
}

/* ---- lifecycle and accessors ---- */

/* Replaces the account's copies of p's members (its name stays: the same
 * account) and points a->p at them. */
static void
params_copy(struct acme_account *a, const struct acme_account_params *p)
{
	if (p == &a->p)
		return;
	free(a->directory_url);
	free(a->ca_bundle);
	free(a->eab_kid);
	free_secret(a->eab_hmac, a->p.eab_hmac_len);
	strlist_free(&a->contact);
	a->p = *p;
	a->directory_url = xstrdup(p->directory_url);
	a->ca_bundle = p->ca_bundle ? xstrdup(p->ca_bundle) : NULL;
	a->eab_kid = p->eab_kid ? xstrdup(p->eab_kid) : NULL;
	a->eab_hmac = NULL;
	if (p->eab_hmac != NULL && p->eab_hmac_len > 0) {
		a->eab_hmac = xmalloc(p->eab_hmac_len);
		memcpy(a->eab_hmac, p->eab_hmac, p->eab_hmac_len);
	} else {
		a->p.eab_hmac_len = 0;
	}
	for (size_t i = 0; p->contact != NULL && i < p->contact->n; i++)
		strlist_add(&a->contact, p->contact->v[i]);
	a->p.name = a->name;
	a->p.directory_url = a->directory_url;
	a->p.ca_bundle = a->ca_bundle;
	a->p.contact = &a->contact;
	a->p.eab_kid = a->eab_kid;
	a->p.eab_hmac = a->eab_hmac;
}

struct acme_account *
acme_account_new(struct acme_env *env, const struct acme_account_params *p,
    const struct acme_account_store *store, void *store_arg)
{
	struct acme_account *a = xcalloc(1, sizeof(*a));

	a->env = env;
	a->name = xstrdup(p->name);
	params_copy(a, p);
	a->store = store;
	a->store_arg = store_arg;
	a->budget = acme_budget_new(env, a->name, &p->budget);
	acme_budget_attach_store(a->budget, store, store_arg);
	a->client = acme_client_new(a, env, &a->counters);
	return a;
}

void
acme_account_free(struct acme_account *a)
{
	struct acme_waiter *wt, *next;

	if (a == NULL)
		return;
	acme_client_free(a->client);
	acme_budget_free(a->budget);
	if (a->pending_get)
		http_cancel(a->pending_get);
	if (a->pending_keygen)
		workpool_cancel(a->pending_keygen);
	for (wt = a->waiters; wt; wt = next) {
		next = wt->next;
		free(wt);
	}
	if (a->store->release != NULL)
		a->store->release(a->store_arg);
	acme_directory_free(&a->dir);
	privkey_free(a->key);
	privkey_free(a->next_key);
	privkey_free(a->new_key);
	free(a->url);
	free(a->adopted_from);
	free(a->probe_error);
	free(a->directory_url);
	free(a->ca_bundle);
	free(a->eab_kid);
	free_secret(a->eab_hmac, a->p.eab_hmac_len);
	strlist_free(&a->contact);
	free(a->name);
	free(a->fault_type);
	free(a);
}

const char *
acme_account_name(const struct acme_account *a)
{
	return a->name;
}

const struct acme_account_params *
acme_account_params(const struct acme_account *a)
{
	return &a->p;
}

void *
acme_account_store_arg(const struct acme_account *a)
{
	return a->store_arg;
}

enum account_state
acme_account_state(const struct acme_account *a)
{
	return a->state;
}

void
acme_account_set_params(struct acme_account *a, const struct acme_account_params *p)
{
	params_copy(a, p);
	acme_budget_set_params(a->budget, &p->budget);
}

const struct acme_directory *
acme_account_directory(const struct acme_account *a)
{
	return a->have_dir ? &a->dir : NULL;
}

const privkey_t *
acme_account_key(const struct acme_account *a)
{
	return a->key;
}

const char *
acme_account_url(const struct acme_account *a)
{
	return a->url;
}

long
acme_account_fault(const struct acme_account *a, const char **problem_type)
{
	*problem_type = a->fault_type;
	return a->fault_status;
}

const char *
acme_account_fault_step(const struct acme_account *a)
{
	return a->fault_step;
}

const struct acme_counters *
acme_account_counters(const struct acme_account *a)
{
	return &a->counters;
}

/* ---- key rollover and deactivation (the account's side) ---- */

int
acme_account_load(struct acme_account *a, char *err, size_t errlen)
{
	return a->loaded ? 0 : account_load(a, err, errlen);
}

int
acme_account_stage_key(struct acme_account *a, privkey_t *key, char *err, size_t errlen)
{
	/* On disk before the CA hears of it: after a crash either key may be
	 * the one the CA has, and both must still exist. */
	if (a->store->stage_key(a->store_arg, key, err, errlen) < 0) {
		privkey_free(key);
		return -1;
	}
	privkey_free(a->next_key);
	a->next_key = key;
	return 0;
}

const privkey_t *
acme_account_next_key(const struct acme_account *a)
{
	return a->next_key;
}

int
acme_account_commit_key(struct acme_account *a, char *err, size_t errlen)
{
	if (a->next_key == NULL) {
		snprintf(err, errlen, "account %s: no new key to switch to", a->name);
		return -1;
	}
	if (a->store->promote_key(a->store_arg, err, errlen) < 0)
		return -1;
	privkey_free(a->key);
	a->key = a->next_key;
	a->next_key = NULL;
	return 0;
}

void
acme_account_drop_key(struct acme_account *a)
{
	a->store->drop_key(a->store_arg);
	privkey_free(a->next_key);
	a->next_key = NULL;
}

void
acme_account_recheck(struct acme_account *a)
{
	/* Only from rest: a registration in progress finishes first and the
	 * next one resolves. */
	if (a->state == ACCT_READY)
		a->state = ACCT_IDLE;
}

int
acme_account_set_deactivated(struct acme_account *a, time_t when, char *err, size_t errlen)
{
	a->deactivated = when;
	return a->store->save(a->store_arg, a->url, a->directory_url, when, err, errlen);
}

time_t
acme_account_deactivated(const struct acme_account *a)
{
	return a->deactivated;
}
