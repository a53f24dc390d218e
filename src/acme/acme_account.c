/*
 * acme_account.c - one ACME account at one CA: its directory, its
 * registration (with External Account Binding), onlyReturnExisting
 * recovery, key rollover, deactivation and the dry run's probe.  Its
 * requests go through its transport (acme_client.c: nonce pool, signed
 * POST, badNonce retries).
 *
 * Registration is lazy: nothing is sent until an order needs the account,
 * so a run with nothing due talks to no CA at all.  A stored key with a
 * stored URL for the same directory is used as is; a stored key whose URL
 * was lost is looked up with onlyReturnExisting before a new registration
 * (older Sectigo EAB credentials are single use, so registering twice with
 * the same credential fails).  An account with certbot_account and nothing
 * stored takes certbot's key and URL into the store instead, and checks
 * them once with onlyReturnExisting; it never falls back to registering.
 *
 * A key rollover interrupted by a crash leaves accounts/NAME/key-next.pem:
 * before anything else is sent, the CA is asked (onlyReturnExisting,
 * signed with the new key) whether it already knows the new key, and the
 * key it knows is kept.  A deactivated account sends nothing at all.
 */
#include <string.h>

#include <ev.h>

#include "acme.h"
#include "acme_client.h"
#include "certbot_import.h"
#include "jws.h"
#include "keygen.h"
#include "log.h"
#include "util.h"
#include "workpool.h"

enum account_state {
	ACCT_IDLE,
	ACCT_DIRECTORY,
	ACCT_KEYGEN,
	ACCT_LOOKUP,
	ACCT_REGISTER,
	ACCT_RESOLVE,               /* which key does the CA have? (rollover) */
	ACCT_READY,
	ACCT_STATE__MAX
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

struct acme_account {
	struct acme_env *env;
	const struct config_account *cfg;
	char *name;
	enum account_state state;
	struct acme_directory dir;
	bool have_dir;
	privkey_t *key;
	privkey_t *next_key;            /* rollover in progress (key-next.pem) */
	time_t deactivated;             /* 0: active */
	bool loaded;                    /* the store was read */
	bool adopted;                   /* key and URL just taken from certbot: verify */
	char *url;
	struct acme_client *client;     /* nonce pool, requests in flight */
	struct acme_waiter *waiters;
	struct http_req *pending_get;   /* directory fetch */
	struct workpool_job *pending_keygen;
	struct acme_call *pending_call;
	struct acme_counters counters;
	acme_probe_cb probe_cb;         /* a dry run's probe in flight */
	void *probe_arg;
	/* Why it last failed to get ready (acme_account_fault); fault_set:
	 * recorded for the failure being settled, else it was a local one. */
	long fault_status;
	char *fault_type;
	bool fault_set;
	/* The step it failed at when the account logged the cause itself;
	 * NULL when it did not (the waiters' lines then carry it). */
	const char *fault_step;
};

static void account_advance(struct acme_account *a);

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
static int account_load(struct acme_account *a, char *err, size_t errlen);

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

static void
account_settle(struct acme_account *a, bool ok, const char *error)
{
	struct acme_waiter *wt, *next;

	if (!ok) {
		/* Logged once here for every waiting certificate: theirs only
		 * point at it (acme_account_fault_step). */
		log_err("account %s: %s", a->name, error);
		a->fault_step = account_step_names[a->state];
		a->state = ACCT_IDLE;
		/* Left as they are until the next failure: the waiters read
		 * them when they are called, from the loop. */
		if (!a->fault_set)
			account_fault(a, -1, NULL);
		a->fault_set = false;
	} else {
		a->state = ACCT_READY;
	}
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
		    "another account (or remove %s/accounts/%s to register a new one)", a->name,
		    when, store_dir(a->env->store), a->name);
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
		account_advance(a);
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
	 * key or register anew (with EAB), as on a first start.
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

/* ---- registration state machine ---- */

static void
directory_done_cb(const struct http_response *resp, void *arg)
{
	struct acme_account *a = arg;
	char err[256];

	a->pending_get = NULL;
	acme_observe_reply(a->env, a->name, ACME_EP_DIRECTORY, resp);
	if (resp->status != 200) {
		char *msg;

		account_fault(a, resp->status, NULL);
		msg = resp->error
		    ? xasprintf("directory %s: %s", a->cfg->directory_url, resp->error)
		    : xasprintf("directory %s: HTTP %ld", a->cfg->directory_url, resp->status);
		account_settle(a, false, msg);
		free(msg);
		return;
	}
	acme_directory_free(&a->dir);
	if (acme_directory_parse(resp->body, resp->body_len, &a->dir, err, sizeof(err)) < 0) {
		char *msg = xasprintf("directory %s: %s", a->cfg->directory_url, err);
		account_settle(a, false, msg);
		free(msg);
		return;
	}
	a->have_dir = true;
	if (a->dir.eab_required && a->cfg->eab_kid == NULL && a->url == NULL)
		log_warn("account %s: the CA requires external account binding but the "
		    "inventory gives no eab: registration will fail", a->name);
	account_advance(a);
}

static void
account_key_ready(privkey_t *key, void *arg)
{
	struct acme_account *a = arg;
	char err[256];

	a->pending_keygen = NULL;
	if (key == NULL) {
		account_settle(a, false, "cannot generate the account key");
		return;
	}
	/* Stored before it is ever sent: a crash after registration must not
	 * lose the key the CA now knows. */
	if (store_account_save_key(a->env->store, a->name, key, err, sizeof(err)) < 0) {
		privkey_free(key);
		account_settle(a, false, err);
		return;
	}
	a->key = key;
	a->state = ACCT_REGISTER;
	account_advance(a);
}

static void
save_url(struct acme_account *a, const char *url)
{
	struct account_record rec = {0};
	char err[256];

	free(a->url);
	a->url = xstrdup(url);
	rec.url = a->url;
	rec.directory = a->cfg->directory_url;
	if (store_account_save(a->env->store, a->name, &rec, err, sizeof(err)) < 0)
		log_err("account %s: %s (the account URL will be looked up again)", a->name,
		    err);
}

static void
register_done_cb(const struct acme_reply *r, void *arg)
{
	struct acme_account *a = arg;
	bool lookup = a->state == ACCT_LOOKUP;
	char *msg;

	a->pending_call = NULL;
	if (lookup && a->adopted && acme_problem_is(r->problem, "accountDoesNotExist")) {
		/* Registering anew would spend the EAB credential certbot's
		 * account was meant to spare. */
		msg = xasprintf("the account adopted from certbot (%s) is not known to %s; "
		    "remove %s/accounts/%s and certbot_account to register a new one",
		    a->cfg->certbot_account, a->cfg->directory_url, store_dir(a->env->store),
		    a->name);
		account_settle(a, false, msg);
		free(msg);
		return;
	}
	if (lookup && acme_problem_is(r->problem, "accountDoesNotExist")) {
		log_info("account %s: key not known to %s, registering", a->name,
		    a->cfg->directory_url);
		a->state = ACCT_REGISTER;
		account_advance(a);
		return;
	}
	if ((r->status == 200 || r->status == 201) && r->http->location != NULL) {
		if (a->adopted && a->url != NULL && strcmp(a->url, r->http->location) != 0)
			log_warn("account %s: certbot recorded %s but %s answers %s; using the "
			    "CA's", a->name, a->url, a->cfg->directory_url, r->http->location);
		a->adopted = false;
		save_url(a, r->http->location);
		log_notice("account %s: %s %s", a->name,
		    r->status == 201 ? "registered" : "found existing account", a->url);
		account_settle(a, true, NULL);
		return;
	}
	account_fault(a, r->status, r->problem);
	if (r->problem) {
		char *p = acme_problem_format(r->problem);
		msg = xasprintf("%s failed at %s: %s", lookup ? "account lookup" : "newAccount",
		    a->dir.new_account, p);
		free(p);
	} else if (r->error) {
		msg = xasprintf("newAccount %s: %s", a->dir.new_account, r->error);
	} else {
		msg = xasprintf("newAccount %s: unexpected HTTP %ld%s", a->dir.new_account,
		    r->status, r->http->location ? "" : " without Location");
	}
	account_settle(a, false, msg);
	free(msg);
}

static void
account_register(struct acme_account *a, bool only_existing)
{
	struct acme_post_opts o = {0};
	char *eab = NULL, *payload;

	if (!only_existing && a->cfg->eab_kid) {
		eab = jws_eab(a->cfg->eab_kid, a->cfg->eab_hmac, a->cfg->eab_hmac_len,
		    a->cfg->eab_alg, a->dir.new_account, a->key);
		if (eab == NULL) {
			account_settle(a, false, "cannot build the external account binding");
			return;
		}
	}
	payload = acme_json_new_account(&a->cfg->contact, eab, only_existing);
	free(eab);
	o.url = a->dir.new_account;
	o.payload = payload;
	o.use_jwk = true;
	if (!only_existing)
		a->counters.new_account++;
	a->pending_call = acme_post(a, &o, register_done_cb, a);
	free(payload);
	if (a->pending_call == NULL)
		account_settle(a, false, "cannot send newAccount");
}

static void
resolve_done_cb(const struct acme_reply *r, void *arg)
{
	struct acme_account *a = arg;
	char err[512];

	a->pending_call = NULL;
	if ((r->status == 200 || r->status == 201) && r->http->location != NULL) {
		/* The CA switched to the new key before we could record it. */
		if (acme_account_commit_key(a, err, sizeof(err)) < 0) {
			account_settle(a, false, err);
			return;
		}
		log_notice("account %s: the interrupted key rollover had completed at the CA; "
		    "using the new key", a->name);
		if (a->url == NULL || strcmp(a->url, r->http->location) != 0)
			save_url(a, r->http->location);
	} else if (acme_problem_is(r->problem, "accountDoesNotExist")) {
		log_notice("account %s: the interrupted key rollover did not happen at the CA; "
		    "keeping the old key", a->name);
		acme_account_drop_key(a);
	} else {
		char *p = r->problem ? acme_problem_format(r->problem) : NULL;

		account_fault(a, r->status, r->problem);
		char *msg = xasprintf("cannot resolve the interrupted key rollover (both keys "
		    "kept): %s %s", a->dir.new_account, p ? p : r->error ? r->error : "unexpected "
		    "reply");
		account_settle(a, false, msg);
		free(msg);
		free(p);
		return;
	}
	a->state = ACCT_DIRECTORY;
	account_advance(a);
}

/* Asks the CA whether it knows the staged key: onlyReturnExisting signed
 * by that key. */
static void
account_resolve(struct acme_account *a)
{
	struct acme_post_opts o = {0};
	char *payload = acme_json_new_account(NULL, NULL, true);

	a->state = ACCT_RESOLVE;
	log_info("account %s: a key rollover was interrupted; asking %s which key it has",
	    a->name, a->cfg->directory_url);
	o.url = a->dir.new_account;
	o.payload = payload;
	o.jwk_key = a->next_key;
	a->pending_call = acme_post(a, &o, resolve_done_cb, a);
	free(payload);
	if (a->pending_call == NULL)
		account_settle(a, false, "cannot send the rollover lookup");
}

/*
 * certbot_account: certbot's key and URL copied into the store, once,
 * when the store has nothing for this account.  The key is saved first
 * (as for a generated key), then the record; from then on the account is
 * certfleet's own and certbot's directory is not read again.  On success
 * rec holds what was saved (as store_account_load would have read it).
 */
static int
account_adopt(struct acme_account *a, struct account_record *rec, char *err, size_t errlen)
{
	const char *dir = a->cfg->certbot_account;
	struct account_record out = {0};
	privkey_t *key = NULL;
	char *url = NULL, why[512];

	if (certbot_account_read(dir, &key, &url, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "cannot adopt certbot's account: %s", why);
		return -1;
	}
	out.url = url;
	out.directory = a->cfg->directory_url;
	if (store_account_save_key(a->env->store, a->name, key, err, errlen) < 0 ||
	    store_account_save(a->env->store, a->name, &out, err, errlen) < 0) {
		privkey_free(key);
		free(url);
		return -1;
	}
	log_notice("account %s: adopted certbot's account %s (%s key) from %s", a->name, url,
	    key_type_name(privkey_type(key)), dir);
	rec->key = key;
	rec->url = url;
	rec->directory = xstrdup(a->cfg->directory_url);
	a->adopted = true;
	return 0;
}

/* Reads the stored key, URL, staged rollover key and deactivation, once.
 * -1 with err when the store is unreadable. */
static int
account_load(struct acme_account *a, char *err, size_t errlen)
{
	struct account_record rec = {0};
	privkey_t *next = NULL;

	if (store_account_load(a->env->store, a->name, &rec, err, errlen) < 0 ||
	    store_account_load_next_key(a->env->store, a->name, &next, err, errlen) < 0) {
		account_record_free(&rec);
		return -1;
	}
	if (rec.key == NULL && next == NULL && rec.url == NULL && a->cfg->certbot_account &&
	    account_adopt(a, &rec, err, errlen) < 0) {
		account_record_free(&rec);
		return -1;
	}
	privkey_free(a->key);
	privkey_free(a->next_key);
	a->next_key = next;
	a->key = rec.key;
	rec.key = NULL;
	/* A URL registered at another CA is of no use here. */
	if (rec.url && rec.directory && strcmp(rec.directory, a->cfg->directory_url) == 0) {
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
			account_record_free(&rec);
			return -1;
		}
	}
	account_record_free(&rec);
	a->loaded = true;
	return 0;
}

static void
account_advance(struct acme_account *a)
{
	struct http_request_opts ho = {0};
	char err[512];

	switch (a->state) {
	case ACCT_IDLE:
		if (!a->loaded && account_load(a, err, sizeof(err)) < 0) {
			account_settle(a, false, err);
			return;
		}
		a->state = ACCT_DIRECTORY;
		ho.method = "GET";
		ho.url = a->cfg->directory_url;
		ho.ca_bundle = a->cfg->ca_bundle;
		ho.timeout_ms = 30000;
		a->pending_get = http_request(a->env->http, &ho, directory_done_cb, a);
		if (a->pending_get == NULL)
			account_settle(a, false, "cannot fetch the directory");
		return;
	case ACCT_DIRECTORY:
		if (a->key == NULL) {
			a->state = ACCT_KEYGEN;
			log_info("account %s: generating a %s account key", a->name,
			    key_type_name(a->cfg->key_type));
			a->pending_keygen = keygen_submit(a->env->keygen, a->cfg->key_type,
			    account_key_ready, a);
			return;
		}
		if (a->next_key != NULL) {
			account_resolve(a);
			return;
		}
		/* An adopted account is verified once with onlyReturnExisting
		 * (RFC 8555 7.3.1): no newAccount, no EAB. */
		if (a->url != NULL && !a->adopted) {
			account_settle(a, true, NULL);
			return;
		}
		a->state = ACCT_LOOKUP;
		account_register(a, true);
		return;
	case ACCT_REGISTER:
		account_register(a, false);
		return;
	default:
		return;
	}
}

/* ---- lifecycle and accessors ---- */

struct acme_account *
acme_account_new(struct acme_env *env, const struct config_account *cfg)
{
	struct acme_account *a = xcalloc(1, sizeof(*a));

	a->env = env;
	a->cfg = cfg;
	a->name = xstrdup(cfg->name);
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
	if (a->pending_get)
		http_cancel(a->pending_get);
	if (a->pending_keygen)
		workpool_cancel(a->pending_keygen);
	for (wt = a->waiters; wt; wt = next) {
		next = wt->next;
		free(wt);
	}
	acme_directory_free(&a->dir);
	privkey_free(a->key);
	privkey_free(a->next_key);
	free(a->url);
	free(a->name);
	free(a->fault_type);
	free(a);
}

const char *
acme_account_name(const struct acme_account *a)
{
	return a->name;
}

const struct config_account *
acme_account_config(const struct acme_account *a)
{
	return a->cfg;
}

void
acme_account_set_config(struct acme_account *a, const struct config_account *cfg)
{
	a->cfg = cfg;
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
	if (store_account_save_next_key(a->env->store, a->name, key, err, errlen) < 0) {
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
	if (store_account_promote_next_key(a->env->store, a->name, err, errlen) < 0)
		return -1;
	privkey_free(a->key);
	a->key = a->next_key;
	a->next_key = NULL;
	return 0;
}

void
acme_account_drop_key(struct acme_account *a)
{
	store_account_drop_next_key(a->env->store, a->name);
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
	struct account_record rec = {0};

	rec.url = a->url;
	rec.directory = a->cfg->directory_url;
	rec.deactivated = when;
	a->deactivated = when;
	return store_account_save(a->env->store, a->name, &rec, err, errlen);
}

time_t
acme_account_deactivated(const struct acme_account *a)
{
	return a->deactivated;
}

/* ---- dry run: could the account be used? (acme_account_probe) ---- */

static void
probe_settle(struct acme_account *a, bool ok, const char *msg)
{
	acme_probe_cb cb = a->probe_cb;

	a->probe_cb = NULL;
	cb(ok, msg, a->probe_arg);
}

/* The key is not (or not yet) registered: would a registration work? */
static void
probe_registrable(struct acme_account *a, const char *what)
{
	char *msg;

	if (a->dir.eab_required && a->cfg->eab_kid == NULL) {
		msg = xasprintf("%s, and %s requires external account binding "
		    "(meta.externalAccountRequired) but the inventory gives no eab", what,
		    a->cfg->directory_url);
		probe_settle(a, false, msg);
	} else {
		msg = xasprintf("%s; would register%s", what, a->cfg->eab_kid ?
		    " with the EAB given" : "");
		probe_settle(a, true, msg);
	}
	free(msg);
}

static void
probe_lookup_cb(const struct acme_reply *r, void *arg)
{
	struct acme_account *a = arg;
	char *msg, *p;

	a->pending_call = NULL;
	if ((r->status == 200 || r->status == 201) && r->http->location != NULL) {
		msg = xasprintf("registered as %s", r->http->location);
		probe_settle(a, true, msg);
		free(msg);
		return;
	}
	if (acme_problem_is(r->problem, "accountDoesNotExist")) {
		probe_registrable(a, "the stored key is not registered");
		return;
	}
	p = r->problem ? acme_problem_format(r->problem) : NULL;
	msg = xasprintf("account lookup (onlyReturnExisting) at %s failed: %s",
	    a->dir.new_account, p ? p : r->error ? r->error : "unexpected reply");
	probe_settle(a, false, msg);
	free(msg);
	free(p);
}

static void
probe_directory_cb(const struct http_response *resp, void *arg)
{
	struct acme_account *a = arg;
	struct acme_post_opts o = {0};
	char err[256], *msg, *payload;

	a->pending_get = NULL;
	if (resp->status != 200) {
		msg = resp->error ? xasprintf("directory %s: %s", a->cfg->directory_url, resp->error)
		    : xasprintf("directory %s: HTTP %ld", a->cfg->directory_url, resp->status);
		probe_settle(a, false, msg);
		free(msg);
		return;
	}
	acme_directory_free(&a->dir);
	if (acme_directory_parse(resp->body, resp->body_len, &a->dir, err, sizeof(err)) < 0) {
		msg = xasprintf("directory %s: %s", a->cfg->directory_url, err);
		probe_settle(a, false, msg);
		free(msg);
		return;
	}
	a->have_dir = true;
	if (a->key == NULL) {
		probe_registrable(a, "no account key stored yet");
		return;
	}
	/* Signed by the stored key with its jwk: asks, registers nothing. */
	payload = acme_json_new_account(NULL, NULL, true);
	o.url = a->dir.new_account;
	o.payload = payload;
	o.use_jwk = true;
	a->pending_call = acme_post(a, &o, probe_lookup_cb, a);
	free(payload);
	if (a->pending_call == NULL)
		probe_settle(a, false, "cannot send the account lookup");
}

int
acme_account_probe(struct acme_account *a, acme_probe_cb cb, void *arg, char *err,
    size_t errlen)
{
	struct http_request_opts ho = {0};

	if (a->probe_cb != NULL || a->state != ACCT_IDLE) {
		snprintf(err, errlen, "account %s is busy", a->name);
		return -1;
	}
	if (!a->loaded && account_load(a, err, errlen) < 0)
		return -1;
	if (a->deactivated != 0) {
		char when[32];
		time_format_rfc3339(a->deactivated, when, sizeof(when));
		snprintf(err, errlen, "account %s was deactivated at %s", a->name, when);
		return -1;
	}
	ho.method = "GET";
	ho.url = a->cfg->directory_url;
	ho.ca_bundle = a->cfg->ca_bundle;
	ho.timeout_ms = 30000;
	a->pending_get = http_request(a->env->http, &ho, probe_directory_cb, a);
	if (a->pending_get == NULL) {
		snprintf(err, errlen, "cannot fetch the directory %s", a->cfg->directory_url);
		return -1;
	}
	a->probe_cb = cb;
	a->probe_arg = arg;
	return 0;
}
