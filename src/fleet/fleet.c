/*
 * fleet.c - the fleet's runtime: construction, loading, reload, drain and
 * free; starting renewals; what happens when an order ends.
 *
 * Each certificate has a cert_rt: its persisted state (read once at start,
 * written on change), one ev_periodic for its next renewal moment (wall
 * clock, so a suspended or long-idle machine still renews on time; see
 * fleet_sched.c), and at most one order job in flight.  Due certificates
 * wait in a FIFO (fleet_queue.c) until both their account and the fleet
 * have room under their in-flight limits and request budgets.  With
 * nothing due the loop has no active timer but the renewal moments.  The
 * hooks are in fleet_hooks.c, held certificates in fleet_held.c, failures
 * and the --once retries in fleet_retry.c.
 */
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "adopt.h"
#include "cluster.h"
#include "fleet.h"
#include "fleet_account.h"
#include "fleet_internal.h"
#include "log.h"
#include "namemap.h"
#include "preflight.h"
#include "renew.h"
#include "scheduler.h"
#include "util.h"
#include "workpool.h"

static void resched_cb(struct ev_loop *loop, ev_idle *w, int revents);

/* ---- idle detection ---- */

bool
fleet_busy(const struct fleet *f)
{
	return f->inflight > 0 || f->hooks > 0 || (fleet_queued(f) > 0 && !f->draining) ||
	    f->post_running || ev_is_active(&f->post_timer) || f->once_waiting > 0;
}

static void
idle_check_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct fleet *f = w->data;

	(void)revents;
	ev_idle_stop(loop, w);
	/* A one-shot run has no debounce: the batch is everything. */
	if (f->once && !f->post_running && fleet_post_hook_start(f))
		return;
	if (fleet_leave(f))
		return;
	if (!fleet_busy(f) && f->idle_cb)
		f->idle_cb(f, f->idle_arg);
}

/* Stopping: the pool's locks and our member record go with our lease now,
 * not a lease time later (the answer comes back through the idle check). */
bool
fleet_leave(struct fleet *f)
{
	return f->draining && f->cluster != NULL && !fleet_busy(f) && cluster_leave(f->cluster);
}

/* Checks for idleness from the loop, outside any callback stack. */
void
fleet_maybe_idle(struct fleet *f)
{
	if (!fleet_busy(f))
		ev_idle_start(f->env->loop, &f->idle_check);
}

void
fleet_set_idle_cb(struct fleet *f, fleet_idle_cb cb, void *arg)
{
	f->idle_cb = cb;
	f->idle_arg = arg;
}

/* ---- lookups ---- */

static struct acct_rt *
acct_find(struct fleet *f, const char *name)
{
	for (size_t i = 0; i < f->naccts; i++)
		if (strcmp(f->accts[i]->cfg->name, name) == 0)
			return f->accts[i];
	return NULL;
}

static struct cert_rt *
cert_find(struct fleet *f, const char *name)
{
	return namemap_get(f->by_name, name);
}

/* ---- persistence ---- */

void
fleet_cert_save(struct cert_rt *r)
{
	char err[512];

	if (store_cert_save(r->f->store, r->cfg->name, &r->st, err, sizeof(err)) < 0)
		cert_log(r, LOG_ERR, LOG_EVENT_NONE, "%s", err);
}

/* ---- finishing a renewal ---- */

void
fleet_cert_settled(struct cert_rt *r)
{
	struct fleet *f = r->f;

	if (r->removed) {
		cert_state_free(&r->st);
		free(r);
	} else if (!f->once && !f->draining) {
		fleet_notify_cert(r);
		fleet_cert_schedule(r);
		if (f->cluster != NULL && r->pool != NULL)
			cluster_cert_idle(f->cluster, r);
	}
	fleet_queue_run(f);
	fleet_maybe_idle(f);
}

static void
order_finished(struct order_job *j, struct order_result *res, void *arg)
{
	struct cert_rt *r = arg;
	struct fleet *f = r->f;

	(void)j;
	r->job = NULL;
	f->inflight--;
	if (r->acct)
		r->acct->inflight--;
	if (r->removed) {
		fleet_cert_settled(r);
		return;
	}
	if (!res->ok && res->deferred && r->pool == NULL) {
		/* The CA paused the account's new orders: no failure; first in
		 * the queue again, started when the pause ends. */
		fleet_cert_requeue_first(r);
		fleet_queue_run(f);
		fleet_maybe_idle(f);
		return;
	}
	if (!res->ok && res->deferred) {
		/* A shared certificate: the pool decides who orders next. */
		fleet_cert_settled(r);
		return;
	}
	if (!res->ok) {
		long long left = f->once_deadline - time(NULL);

		/* A lost pool lock is no failure: the next holder goes on. */
		if (f->cluster != NULL && cluster_order_failed(f->cluster, r)) {
			fleet_cert_settled(r);
			return;
		}
		fleet_record_failure(r, res->error, res->problem, res->retry_after,
		    sched_fault_transient(res->status, res->problem_type, res->retry_after,
		    left > 0 ? left : 0));
		if (!r->once_retry)
			fleet_batch_note(f, r->cfg->name, false);
		fleet_cert_settled(r);
		return;
	}
	/* A shared certificate goes to the pool first, then is installed. */
	if (f->cluster != NULL && cluster_order_done(f->cluster, r, res))
		return;
	fleet_cert_issued(r, res);
}

void
fleet_cert_issued(struct cert_rt *r, struct order_result *res)
{
	struct fleet *f = r->f;
	char err[1024];
	int rc;

	if ((rc = renew_install(f->store, r->cfg, &r->st, res->chain_pem, res->chain_len,
	    res->key, err, sizeof(err))) < 0) {
		cert_log(r, LOG_ERR, LOG_EVENT_NONE, "%s", err);
		if (rc == -2) {
			fleet_cert_hold(r, res, err);
		} else {
			/* Rejected (and kept in the store): the order is spent,
			 * the next attempt orders afresh. */
			store_order_forget(f->store, r->cfg->name, &r->st);
			fleet_record_failure(r, err, NULL, 0, false);
		}
		fleet_batch_note(f, r->cfg->name, false);
		fleet_cert_settled(r);
		return;
	}
	r->failing = false;
	r->force = false;
	/* The new certificate's window is polled like any other (a CA may
	 * move it early, say ahead of a mass revocation); the last Retry-After
	 * was about the old one. */
	r->ari_next = r->st.cert_id ? time(NULL) + SCHED_ARI_POLL : 0;
	f->succeeded++;
	fleet_batch_note(f, r->cfg->name, true);
	fleet_deploy_hook_run(r);
}

void
fleet_cert_abandon(struct cert_rt *r)
{
	if (r->job == NULL)
		return;
	r->f->order_ops->cancel(r->job);
	r->job = NULL;
	/* Still counted in flight: settle_cb uncounts it. */
	r->pool_wait = time(NULL) + 2;
	fleet_settle_later(r, false);
}

/* ---- starting renewals ---- */

static void
settle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cert_rt *r = w->data;
	struct fleet *f = r->f;

	(void)revents;
	ev_timer_stop(loop, w);
	f->inflight--;
	if (r->acct)
		r->acct->inflight--;
	if (r->settle_ok)
		fleet_deploy_hook_run(r);
	else
		fleet_cert_settled(r);
}

/* Ends an attempt that sent no order, from the loop (see cert_rt.settle). */
void
fleet_settle_later(struct cert_rt *r, bool ok)
{
	r->settle_ok = ok;
	ev_timer_set(&r->settle, 0., 0.);
	ev_timer_start(r->f->env->loop, &r->settle);
}

/* ---- the order engine's side of a certificate ---- */

void
fleet_order_params(struct order_params *p, const struct config_cert *c)
{
	memset(p, 0, sizeof(*p));
	p->name = c->name;
	p->domains = &c->domains;
	p->key_type = c->key_type;
	p->profile = c->profile;
	p->preferred_chain = c->preferred_chain;
	for (size_t i = 0; i < c->nchallenges && i < CHALLENGE_TYPE__MAX; i++)
		p->challenge.types[p->challenge.ntypes++] = c->challenges[i];
	p->challenge.webroot = c->http01_mode == HTTP01_WEBROOT ? c->webroot : NULL;
	p->challenge.dns01_hook = c->dns01_hook;
}

/* The order's progress, persisted in the certificate's state as it goes. */
static int
order_begin_cb(void *arg, const privkey_t *key, char *err, size_t errlen)
{
	struct cert_rt *r = arg;

	return store_order_key_save(r->f->store, r->cfg->name, key, err, errlen);
}

static int
order_created_cb(void *arg, const char *order_url, char *err, size_t errlen)
{
	struct cert_rt *r = arg;

	return store_order_created(r->f->store, r->cfg->name, &r->st, order_url, err,
	    errlen);
}

static int
order_finalized_cb(void *arg, char *err, size_t errlen)
{
	struct cert_rt *r = arg;

	return store_order_finalized(r->f->store, r->cfg->name, &r->st, err, errlen);
}

static void
order_forget_cb(void *arg)
{
	struct cert_rt *r = arg;

	store_order_forget(r->f->store, r->cfg->name, &r->st);
}

static const struct order_ops fleet_order_progress = {
	.begin = order_begin_cb,
	.created = order_created_cb,
	.finalized = order_finalized_cb,
	.forget = order_forget_cb,
	.done = order_finished,
};

/* A shared certificate's order: the same, and the pool hears of it too
 * (cluster.h). */
static int
pool_begin_cb(void *arg, const privkey_t *key, char *err, size_t errlen)
{
	struct cert_rt *r = arg;

	if (order_begin_cb(arg, key, err, errlen) < 0)
		return -1;
	cluster_order_begin(r->f->cluster, r, key);
	return 0;
}

static void
pool_forget_cb(void *arg)
{
	struct cert_rt *r = arg;

	order_forget_cb(arg);
	cluster_order_forget(r->f->cluster, r);
}

static void
pool_gate_cb(void *arg, enum order_gate_point what, const char *token, const char *keyauth,
    struct order_gate *g)
{
	struct cert_rt *r = arg;

	cluster_gate(r->f->cluster, r, what, token, keyauth, g);
}

static void
pool_gate_cancel_cb(void *arg, struct order_gate *g)
{
	struct cert_rt *r = arg;

	cluster_gate_cancel(r->f->cluster, r, g);
}

static void
pool_challenge_gone_cb(void *arg, const char *token)
{
	struct cert_rt *r = arg;

	cluster_challenge_gone(r->f->cluster, r, token);
}

static const struct order_ops fleet_pool_progress = {
	.begin = pool_begin_cb,
	.created = order_created_cb,
	.finalized = order_finalized_cb,
	.forget = pool_forget_cb,
	.done = order_finished,
	.gate = pool_gate_cb,
	.gate_cancel = pool_gate_cancel_cb,
	.challenge_gone = pool_challenge_gone_cb,
};

void
fleet_cert_start(struct cert_rt *r)
{
	struct fleet *f = r->f;
	char err[1024];

	f->inflight++;
	r->acct->inflight++;
	/* Nothing is ordered that could not be installed and deployed. */
	if (preflight_cert(f->cfg, r->cfg, err, sizeof(err)) < 0) {
		cert_log(r, LOG_ERR, LOG_EVENT_RENEWAL_FAILED, "not ordering: %s", err);
		r->st.last_attempt = time(NULL);
		fleet_record_failure(r, err, NULL, 0, false);
		fleet_batch_note(f, r->cfg->name, false);
		fleet_settle_later(r, false);
		return;
	}
	if (fleet_cert_install_held(r))
		return;
	if (r->cfg->shared) {
		if (f->once || f->cluster == NULL) {
			/* Never ordered alone behind the pool's back. */
			cert_log(r, f->once ? LOG_NOTICE : LOG_ERR, LOG_EVENT_NONE,
			    "shared: %s", f->once ? "renewed by the pool's daemons, not by --once" :
			    "the pool is not available (see the cluster: errors above)");
			fleet_settle_later(r, false);
			return;
		}
		if (cluster_cert_start(f->cluster, r))
			return;
	}
	fleet_cert_order(r, r->st.order_url, r->st.order_finalized,
	    r->st.order_url ? store_order_key_load(f->store, r->cfg->name) : NULL);
}

void
fleet_cert_order(struct cert_rt *r, const char *resume_url, bool resume_finalized,
    privkey_t *resume_key)
{
	struct fleet *f = r->f;
	struct order_params p;
	bool pool = f->cluster != NULL && cluster_cert_holding(f->cluster, r);

	fleet_order_params(&p, r->cfg);
	p.replaces = r->st.cert_id;
	if (r->cfg->reuse_key)
		p.reuse_key = renew_installed_key(r->cfg);
	/* An order a run before a restart (or another host of the pool)
	 * left in flight: resumed. */
	p.resume_url = resume_url;
	p.resume_finalized = resume_finalized;
	p.resume_key = resume_key;
	/* --once waits out a pause the CA asks for only up to its deadline. */
	if (f->once)
		p.pause_limit = f->once_deadline > 0 ? f->once_deadline : time(NULL);
	r->st.last_attempt = time(NULL);
	cert_log(r, LOG_INFO, LOG_EVENT_RENEWAL_STARTED,
	    "starting renewal (account %s: %d in flight, all accounts: %d)",
	    r->acct->cfg->name, r->acct->inflight, f->inflight);
	r->job = f->order_ops->start(f->env, r->acct->acme, &p,
	    pool ? &fleet_pool_progress : &fleet_order_progress, r);
}

/* ---- construction ---- */

/* The orders every fleet drives, unless a test swaps in scripted ones. */
static const struct fleet_order_ops fleet_acme_orders = {
	.start = order_start,
	.cancel = order_cancel,
	.update = order_update,
	.progress = order_job_progress,
};

static struct acct_rt *
acct_new(struct fleet *f, const struct config_account *ca)
{
	struct acct_rt *a = xcalloc(1, sizeof(*a));

	a->cfg = ca;
	a->ari = -1;
	a->acme = fleet_account_new(f->env, f->store, ca);
	fleet_budget_watch(f, a);
	f->accts = xrealloc(f->accts, (f->naccts + 1) * sizeof(*f->accts));
	f->accts[f->naccts++] = a;
	return a;
}

/* Adds r to the fleet's array (grown by doubling) and its name index. */
static void
cert_append(struct fleet *f, struct cert_rt *r)
{
	if (f->ncerts == f->certs_cap) {
		f->certs_cap = f->certs_cap ? 2 * f->certs_cap : 64;
		f->certs = xrealloc(f->certs, f->certs_cap * sizeof(*f->certs));
	}
	f->certs[f->ncerts++] = r;
	namemap_put(f->by_name, r->cfg->name, r);
}

static struct cert_rt *
cert_new(struct fleet *f, const struct config_cert *cc)
{
	struct cert_rt *r = xcalloc(1, sizeof(*r));

	r->f = f;
	r->cfg = cc;
	r->acct = acct_find(f, cc->account_name);
	r->jitter_rand = random_unit();
	cert_state_init(&r->st);
	fleet_sched_init(r);
	ev_timer_init(&r->settle, settle_cb, 0., 0.);
	r->settle.data = r;
	cert_append(f, r);
	return r;
}

struct fleet *
fleet_new(struct acme_env *env, struct store *store, const struct config *cfg, bool once)
{
	struct fleet *f = xcalloc(1, sizeof(*f));

	f->env = env;
	f->store = store;
	f->order_ops = &fleet_acme_orders;
	f->cfg = cfg;
	f->once = once;
	f->by_name = namemap_new(cfg->ncerts);
	ev_idle_init(&f->resched, resched_cb);
	f->resched.data = f;
	ev_idle_init(&f->idle_check, idle_check_cb);
	f->idle_check.data = f;
	fleet_hooks_init(f);
	fleet_notify_init(f);
	for (size_t i = 0; i < cfg->naccounts; i++)
		acct_new(f, &cfg->accounts[i]);
	for (size_t i = 0; i < cfg->ncerts; i++)
		cert_new(f, &cfg->certs[i]);
	/* --once has no pool: its shared certificates are the daemons'. */
	if (cfg->cluster != NULL && !once) {
		char err[512];

		if ((f->cluster = cluster_new(f, cfg->cluster, err, sizeof(err))) == NULL)
			log_err("pool: %s; shared certificates are not renewed", err);
	}
	return f;
}

/* ---- rescheduling after a reload ---- */

#define RESCHED_CHUNK 4096      /* certificates per loop iteration: a few ms */

static void
resched_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct fleet *f = w->data;
	size_t end = f->resched_next + RESCHED_CHUNK;

	(void)revents;
	for (; f->resched_next < f->ncerts && f->resched_next < end; f->resched_next++) {
		struct cert_rt *r = f->certs[f->resched_next];

		if (!r->job && !r->hook)
			fleet_cert_schedule(r);
	}
	if (f->resched_next >= f->ncerts)
		ev_idle_stop(loop, w);
	fleet_queue_run(f);
	fleet_maybe_idle(f);
}

/* (Re)starts the rescheduling of every certificate from the first one. */
static void
fleet_resched_start(struct fleet *f)
{
	f->resched_next = 0;
	if (f->draining)
		return;
	ev_idle_start(f->env->loop, &f->resched);
}

/* ---- loading, reload and the end ---- */

/* One certificate's state file, read on a loader thread: only r->st and
 * its own error slot are touched. */
struct load_job {
	struct fleet *f;
	signed char *rcs;
};

static void
state_read(void *arg, size_t i)
{
	struct load_job *j = arg;
	struct cert_rt *r = j->f->certs[i];
	char err[512];

	cert_state_free(&r->st);
	cert_state_init(&r->st);
	j->rcs[i] = (signed char)store_cert_load(r->f->store, r->cfg->name, &r->st, err,
	    sizeof(err));
}

/* The rest, on the loop's thread once the state is read. */
static void
cert_load_rest(struct cert_rt *r)
{
	/* A lineage installed before certfleet knew it (certbot's) is
	 * renewed on its own schedule, not re-issued at once. */
	adopt_lineage(r->f->store, r->cfg, &r->st);
	r->failing = r->st.failures > 0;
	fleet_cert_load_held(r);
	/* Spread the first renewalInfo checks of a large fleet over minutes
	 * (a single certificate is checked at once). */
	if (r->st.cert_id != NULL)
		r->ari_next = time(NULL) + (time_t)sched_ari_first_check(r->f->ncerts,
		    random_unit());
}

static int
cert_load(struct cert_rt *r, char *err, size_t errlen)
{
	cert_state_free(&r->st);
	cert_state_init(&r->st);
	if (store_cert_load(r->f->store, r->cfg->name, &r->st, err, errlen) < 0)
		return -1;
	cert_load_rest(r);
	return 0;
}

/* Loader threads: reading and parsing 100,000 state files was most of the
 * start; the page cache and the parser both scale with cores. */
#define LOAD_THREADS_MAX 4

int
fleet_load(struct fleet *f, char *err, size_t errlen)
{
	struct load_job j = { .f = f };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int rc = -1;

	if (f->ncerts == 0)
		return 0;
	j.rcs = xcalloc(f->ncerts, sizeof(*j.rcs));
	workpool_for(ncpu < 1 ? 1 : ncpu > LOAD_THREADS_MAX ? LOAD_THREADS_MAX : (int)ncpu,
	    f->ncerts, state_read, &j);
	/* The first failure in inventory order, as when read one by one; read
	 * again here for its message. */
	for (size_t i = 0; i < f->ncerts; i++) {
		if (j.rcs[i] < 0) {
			if (cert_load(f->certs[i], err, errlen) == 0)
				snprintf(err, errlen, "%s: the state could not be read at start",
				    f->certs[i]->cfg->name);
			goto out;
		}
	}
	for (size_t i = 0; i < f->ncerts; i++)
		cert_load_rest(f->certs[i]);
	rc = 0;
out:
	free(j.rcs);
	/* The loader threads' heaps hold the parse trees' freed chunks. */
	mem_give_back();
	return rc;
}

void
fleet_start(struct fleet *f)
{
	if (f->cluster != NULL)
		cluster_start(f->cluster);
	for (size_t i = 0; i < f->ncerts; i++)
		fleet_cert_schedule(f->certs[i]);
	fleet_notify_start(f);
	fleet_queue_run(f);
	fleet_maybe_idle(f);
}

static void
cert_stop(struct cert_rt *r)
{
	ev_periodic_stop(r->f->env->loop, &r->timer);
	fleet_ari_cancel(r);
	fleet_queue_remove(r);
	if (ev_is_active(&r->settle)) {
		ev_timer_stop(r->f->env->loop, &r->settle);
		r->f->inflight--;
		if (r->acct)
			r->acct->inflight--;
	}
	if (r->job) {
		r->f->order_ops->cancel(r->job);
		r->job = NULL;
		r->f->inflight--;
		if (r->acct)
			r->acct->inflight--;
	}
}

void
fleet_free(struct fleet *f)
{
	if (f == NULL)
		return;
	ev_idle_stop(f->env->loop, &f->idle_check);
	ev_idle_stop(f->env->loop, &f->resched);
	ev_timer_stop(f->env->loop, &f->post_timer);
	fleet_notify_stop(f);
	fleet_ops_drop(f);
	strlist_free(&f->batch_renewed);
	strlist_free(&f->batch_failed);
	strlist_free(&f->once_failed);
	for (size_t i = 0; i < f->ncerts; i++)
		cert_stop(f->certs[i]);
	cluster_free(f->cluster);
	f->cluster = NULL;
	for (size_t i = 0; i < f->ncerts; i++) {
		cert_state_free(&f->certs[i]->st);
		free(f->certs[i]);
	}
	for (size_t i = 0; i < f->naccts; i++) {
		acme_account_free(f->accts[i]->acme);
		free(f->accts[i]);
	}
	free(f->certs);
	free(f->accts);
	namemap_free(f->by_name);
	free(f);
}

void
fleet_drain(struct fleet *f)
{
	f->draining = true;
	ev_idle_stop(f->env->loop, &f->resched);
	fleet_notify_stop(f);
	/* Renewals already installed still need their web servers reloaded. */
	if (ev_is_active(&f->post_timer)) {
		ev_timer_stop(f->env->loop, &f->post_timer);
		if (!f->post_running)
			fleet_post_hook_start(f);
	}
	for (size_t i = 0; i < f->ncerts; i++) {
		struct cert_rt *r = f->certs[i];
		ev_periodic_stop(f->env->loop, &r->timer);
		fleet_ari_cancel(r);
		fleet_queue_remove(r);
		if (r->once_retry) {
			r->once_retry = false;
			f->once_waiting--;
			f->failed++;
			cert_log(r, LOG_ERR, LOG_EVENT_NONE,
			    "stopping: its retry will not happen in this run");
			fleet_once_gave_up(f, r->cfg->name, r->st.last_error, NULL,
			    "stopped before its retry");
		}
	}
	fleet_maybe_idle(f);
}

int
fleet_renew_now(struct fleet *f, const char *name, bool force)
{
	struct cert_rt *r = cert_find(f, name);

	if (r == NULL)
		return -1;
	r->force = force;
	if (force || r->failing) {
		r->st.next_attempt = 0;
		r->force = true;
	}
	fleet_cert_schedule(r);
	fleet_queue_run(f);
	return 0;
}

void
fleet_force_all(struct fleet *f)
{
	for (size_t i = 0; i < f->ncerts; i++) {
		f->certs[i]->force = true;
		f->certs[i]->st.next_attempt = 0;
	}
}

void
fleet_reconfigure(struct fleet *f, const struct config *cfg)
{
	struct acct_rt **oldaccts = f->accts;
	size_t noldaccts = f->naccts;
	struct cert_rt **oldcerts = f->certs;
	size_t noldcerts = f->ncerts;
	/* The running certificates by name (keys: their old names, valid
	 * until the old configuration is freed after this returns); one that
	 * is not in the new map afterwards was removed by the reload. */
	struct namemap *oldmap = f->by_name;

	f->accts = NULL;
	f->naccts = 0;
	f->certs = NULL;
	f->ncerts = 0;
	f->certs_cap = 0;
	f->by_name = namemap_new(cfg->ncerts);
	f->cfg = cfg;

	/* Accounts: keep the runtime (key, nonces, registration) of those
	 * pointing at the same CA; replace the others. */
	for (size_t i = 0; i < cfg->naccounts; i++) {
		const struct config_account *ca = &cfg->accounts[i];
		struct acct_rt *old = NULL;
		for (size_t k = 0; k < noldaccts; k++)
			if (oldaccts[k] && strcmp(oldaccts[k]->cfg->name, ca->name) == 0 &&
			    strcmp(oldaccts[k]->cfg->directory_url, ca->directory_url) == 0)
				old = oldaccts[k], oldaccts[k] = NULL;
		if (old) {
			old->cfg = ca;
			fleet_account_set_config(old->acme, ca);
			f->accts = xrealloc(f->accts, (f->naccts + 1) * sizeof(*f->accts));
			f->accts[f->naccts++] = old;
		} else {
			acct_new(f, ca);
		}
	}

	for (size_t i = 0; i < cfg->ncerts; i++) {
		const struct config_cert *cc = &cfg->certs[i];
		struct cert_rt *old;
		struct acct_rt *acct;
		bool same_order;

		/* Most reloads leave most entries where they were: the one at
		 * the same position is tried before the map. */
		if (i < noldcerts && strcmp(oldcerts[i]->cfg->name, cc->name) == 0)
			old = oldcerts[i];
		else
			old = namemap_get(oldmap, cc->name);
		if (old == NULL) {
			struct cert_rt *r = cert_new(f, cc);
			char err[512];

			if (cc->shared && f->cluster != NULL)
				pool_cert_add(f->cluster, r);
			log_cert(LOG_INFO, cc->name, LOG_EVENT_RELOAD, "added by reload");
			if (cert_load(r, err, sizeof(err)) < 0)
				log_cert(LOG_ERR, cc->name, LOG_EVENT_NONE,
				    "%s (treating as never issued)", err);
			fleet_cert_schedule(r);
			continue;
		}
		acct = acct_find(f, cc->account_name);
		/* Only what is in flight or queued has an order to compare. */
		same_order = !(old->job || old->queued) ||
		    (config_cert_order_equal(old->cfg, cc) && acct == old->acct);
		if (!same_order) {
			log_cert(LOG_INFO, cc->name, LOG_EVENT_RELOAD,
			    "changed by reload; restarting its renewal");
			cert_stop(old);
		}
		/* An attempt that settles later (settle_cb), or that the pool
		 * ends (taking the lock, publishing), is counted in its
		 * account's in flight: the count goes with it to the account it
		 * now has, which settle_cb or the pool uncounts. */
		if (acct != old->acct && (ev_is_active(&old->settle) ||
		    (f->cluster != NULL && cluster_cert_counted(f->cluster, old)))) {
			if (old->acct)
				old->acct->inflight--;
			if (acct)
				acct->inflight++;
		}
		old->cfg = cc;
		old->acct = acct;
		if (f->cluster != NULL && cc->shared && old->pool == NULL)
			pool_cert_add(f->cluster, old);
		else if (f->cluster != NULL && !cc->shared && old->pool != NULL)
			cluster_cert_gone(f->cluster, old);
		if (old->job) {
			struct order_params p;

			fleet_order_params(&p, cc);
			f->order_ops->update(old->job, &p);
		}
		cert_append(f, old);
	}
	/* Every certificate's moment is computed again (renew_before or the
	 * jitter may have changed), a chunk per loop iteration: done here,
	 * for 100,000 certificates, it held the loop for about 100 ms. */
	fleet_resched_start(f);

	for (size_t k = 0; k < noldcerts; k++) {
		struct cert_rt *r = oldcerts[k];
		/* Matched above: it is the new fleet's now. */
		if ((k < f->ncerts && f->certs[k] == r) ||
		    namemap_get(f->by_name, r->cfg->name) == r)
			continue;
		cert_log(r, LOG_INFO, LOG_EVENT_RELOAD,
		    "removed by reload (its files are left in place)");
		cert_stop(r);
		if (f->cluster != NULL)
			cluster_cert_gone(f->cluster, r);
		if (r->hook) {
			/* The hook's callback frees it. */
			r->removed = true;
			r->cfg = NULL;
			continue;
		}
		cert_state_free(&r->st);
		free(r);
	}
	for (size_t k = 0; k < noldaccts; k++) {
		if (oldaccts[k] == NULL)
			continue;
		fleet_ops_account_gone(f, oldaccts[k]->acme);
		acme_account_free(oldaccts[k]->acme);
		free(oldaccts[k]);
	}
	free(oldaccts);
	free(oldcerts);
	namemap_free(oldmap);
	if (f->cluster != NULL && cfg->cluster != NULL) {
		cluster_reconfigure(f->cluster, cfg->cluster);
	} else if (f->cluster != NULL) {
		log_warn("pool: the cluster: section is gone; leaving the pool");
		for (size_t i = 0; i < f->ncerts; i++)
			if (f->certs[i]->pool != NULL)
				cert_stop(f->certs[i]);
		cluster_free(f->cluster);
		f->cluster = NULL;
	} else if (cfg->cluster != NULL && !f->once) {
		char err[512];

		if ((f->cluster = cluster_new(f, cfg->cluster, err, sizeof(err))) == NULL)
			log_err("pool: %s; shared certificates are not renewed", err);
		else
			cluster_start(f->cluster);
	}
	/* after_failures or warn_before may have changed. */
	if (!f->draining)
		fleet_notify_all(f);
	fleet_queue_run(f);
	fleet_maybe_idle(f);
}

void
fleet_get_stats(const struct fleet *f, struct fleet_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->total = f->ncerts;
	s->succeeded = f->succeeded;
	s->failed = f->failed;
	for (size_t i = 0; i < f->ncerts; i++) {
		const struct cert_rt *r = f->certs[i];
		if (r->job)
			s->renewing++;
		if (r->queued)
			s->queued++;
		if (r->failing)
			s->failing++;
		if (r->next > 0 && (s->next_time == 0 || r->next < s->next_time)) {
			s->next_time = r->next;
			s->next_name = r->cfg->name;
		}
	}
}

char *
fleet_status_line(const struct fleet *f)
{
	struct fleet_stats s;
	struct buf b = {0};

	fleet_get_stats(f, &s);
	buf_appendf(&b, "%zu certificate%s, %zu renewing, %zu failing", s.total,
	    s.total == 1 ? "" : "s", s.renewing + s.queued, s.failing);
	if (s.next_name) {
		char d[64];
		time_t now = time(NULL);
		duration_format((double)(s.next_time > now ? s.next_time - now : 0), d, sizeof(d));
		buf_appendf(&b, "; next: %s in %s", s.next_name, d);
	}
	fleet_budget_line((struct fleet *)f, &b);
	if (f->cluster != NULL)
		buf_appendf(&b, "; %s", cluster_state_line(f->cluster));
	return buf_steal(&b, NULL);
}

enum fleet_op_status
fleet_cluster_status(struct fleet *f, fleet_cluster_cb cb, void *arg, char *err,
    size_t errlen)
{
	if (f->cluster == NULL) {
		snprintf(err, errlen, "%s", f->cfg->cluster == NULL ?
		    "this host is in no pool (the inventory has no cluster: section)" :
		    "the pool is not available (see the daemon's log)");
		return FLEET_OP_NOTFOUND;
	}
	cluster_status(f->cluster, cb, arg);
	return FLEET_OP_OK;
}

const char *
fleet_cluster_line(struct fleet *f)
{
	return f->cluster != NULL ? cluster_state_line(f->cluster) : NULL;
}
