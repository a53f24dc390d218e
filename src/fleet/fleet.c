/*
 * fleet.c - scheduling and running renewals for every certificate.
 *
 * Each certificate has a cert_rt: its persisted state (read once at start,
 * written on change), one ev_periodic for its next renewal moment (wall
 * clock, so a suspended or long-idle machine still renews on time), and at
 * most one order job in flight.  Due certificates wait in a FIFO until both
 * their account and the fleet have room under their in-flight limits.
 * With nothing due the loop has no active timer but the renewal moments.
 */
#include <string.h>

#include <ev.h>

#include "adopt.h"
#include "fleet.h"
#include "fleet_internal.h"
#include "hooks.h"
#include "log.h"
#include "preflight.h"
#include "renew.h"
#include "scheduler.h"
#include "util.h"

#define POST_HOOK_DEBOUNCE 5.0  /* seconds without a renewal settling */


/* ---- idle detection ---- */

bool
fleet_busy(const struct fleet *f)
{
	return f->inflight > 0 || f->hooks > 0 || (f->qhead != NULL && !f->draining) ||
	    f->post_running || ev_is_active(&f->post_timer) || f->once_waiting > 0;
}

static bool fleet_post_hook_start(struct fleet *f);

static void
idle_check_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct fleet *f = w->data;

	(void)revents;
	ev_idle_stop(loop, w);
	/* A one-shot run has no debounce: the batch is everything. */
	if (f->once && !f->post_running && fleet_post_hook_start(f))
		return;
	if (!fleet_busy(f) && f->idle_cb)
		f->idle_cb(f, f->idle_arg);
}

/* Checks for idleness from the loop, outside any callback stack. */
static void
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

/* ---- post_hook: once per batch of renewals ---- */

static void fleet_maybe_idle(struct fleet *f);

static void
post_hook_done(const struct hook_result *res, void *arg)
{
	struct fleet *f = arg;

	f->post_running = false;
	if (res->exited && res->status == 0)
		log_info("post hook succeeded");
	else if (res->timed_out)
		log_err("post hook killed after %llds", f->cfg->hook_timeout);
	else if (res->exited)
		log_err("post hook exited with status %d", res->status);
	else
		log_err("post hook killed by signal %d", res->status);
	fleet_maybe_idle(f);
}

/* Starts the post hook for the names collected so far; false when there is
 * nothing to run. */
static bool
fleet_post_hook_start(struct fleet *f)
{
	struct strlist env = {0};
	char *ren, *fai, *p;

	if (f->cfg->post_hook.n == 0 || (f->batch_renewed.n == 0 && f->batch_failed.n == 0)) {
		strlist_free(&f->batch_renewed);
		strlist_free(&f->batch_failed);
		return false;
	}
	ren = strlist_join(&f->batch_renewed, " ");
	fai = strlist_join(&f->batch_failed, " ");
	p = xasprintf("CERTFLEET_RENEWED=%s", ren);
	strlist_add(&env, p);
	free(p);
	p = xasprintf("CERTFLEET_FAILED=%s", fai);
	strlist_add(&env, p);
	free(p);
	log_info("running the post hook (%zu renewed, %zu failed)", f->batch_renewed.n,
	    f->batch_failed.n);
	strlist_free(&f->batch_renewed);
	strlist_free(&f->batch_failed);
	f->post_running = hook_start(f->env->loop, "post hook", &f->cfg->post_hook, &env,
	    (double)f->cfg->hook_timeout, post_hook_done, f) != NULL;
	free(ren);
	free(fai);
	strlist_free(&env);
	return f->post_running;
}

static void
post_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fleet *f = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	/* Still renewing: the batch is not over yet. */
	if (f->inflight > 0 || f->qhead != NULL || f->hooks > 0 || f->post_running) {
		ev_timer_set(w, f->post_debounce, 0.);
		ev_timer_start(loop, w);
		return;
	}
	fleet_post_hook_start(f);
	fleet_maybe_idle(f);
}

static void
fleet_batch_note(struct fleet *f, const char *name, bool ok)
{
	if (f->cfg->post_hook.n == 0)
		return;
	strlist_add(ok ? &f->batch_renewed : &f->batch_failed, name);
	if (f->once)
		return;
	ev_timer_stop(f->env->loop, &f->post_timer);
	ev_timer_set(&f->post_timer, f->post_debounce, 0.);
	ev_timer_start(f->env->loop, &f->post_timer);
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
	for (size_t i = 0; i < f->ncerts; i++)
		if (strcmp(f->certs[i]->cfg->name, name) == 0)
			return f->certs[i];
	return NULL;
}

/* ---- persistence ---- */

void
fleet_cert_save(struct cert_rt *r)
{
	char err[512];

	if (store_cert_save(r->f->env->store, r->cfg->name, &r->st, err, sizeof(err)) < 0)
		log_err("%s: %s", r->cfg->name, err);
}

/* ---- finishing a renewal ---- */

static void
fleet_cert_settled(struct cert_rt *r)
{
	struct fleet *f = r->f;

	if (r->removed) {
		cert_state_free(&r->st);
		free(r);
	} else if (!f->once && !f->draining) {
		fleet_cert_schedule(r);
	}
	fleet_queue_run(f);
	fleet_maybe_idle(f);
}

static void
deploy_hook_done(const struct hook_result *res, void *arg)
{
	struct cert_rt *r = arg;

	r->hook = NULL;
	r->f->hooks--;
	if (r->removed)
		;
	else if (res->exited && res->status == 0)
		log_info("%s: deploy hook succeeded", r->cfg->name);
	else if (res->timed_out)
		log_err("%s: deploy hook killed after %llds (the certificate stays installed)",
		    r->cfg->name, r->f->cfg->hook_timeout);
	else if (res->exited)
		log_err("%s: deploy hook exited with status %d (the certificate stays installed)",
		    r->cfg->name, res->status);
	else
		log_err("%s: deploy hook killed by signal %d (the certificate stays installed)",
		    r->cfg->name, res->status);
	fleet_cert_settled(r);
}

static void
fleet_deploy_hook_run(struct cert_rt *r)
{
	struct strlist env = {0};
	char *label;

	if (r->cfg->deploy_hook.n == 0) {
		fleet_cert_settled(r);
		return;
	}
	renew_hook_env(r->cfg, &r->st, &env);
	label = xasprintf("deploy hook for %s", r->cfg->name);
	r->hook = hook_start(r->f->env->loop, label, &r->cfg->deploy_hook, &env,
	    (double)r->f->cfg->hook_timeout, deploy_hook_done, r);
	free(label);
	strlist_free(&env);
	if (r->hook == NULL) {
		log_err("%s: cannot start the deploy hook", r->cfg->name);
		fleet_cert_settled(r);
		return;
	}
	r->f->hooks++;
}

/* --once: notes for the closing line that name failed for good, and why:
 * the CA's problem when there was one, else the error (cut short: the
 * whole of it was logged where it happened). */
static void
fleet_once_gave_up(struct fleet *f, const char *name, const char *error,
    const struct acme_problem *p, const char *why)
{
	char *pf = p ? acme_problem_format(p) : NULL;
	const char *what = pf ? pf : error ? error : "failed";
	char *e = xasprintf("%s: %.300s%s (%s)", name, what, strlen(what) > 300 ? "..." : "",
	    why);

	strlist_add(&f->once_failed, e);
	free(e);
	free(pf);
}

/*
 * --once: arms a retry of r within the run when the failure is transient
 * and the retry would start before --once-deadline; false (with why) when
 * the certificate is given up.
 */
static bool
once_retry_arm(struct cert_rt *r, bool transient, time_t at_retry, double delay, char *why,
    size_t len)
{
	struct fleet *f = r->f;
	char d[64], at[32];

	if (!transient) {
		snprintf(why, len, "not retried: retrying cannot change this answer");
		return false;
	}
	if (f->draining) {
		snprintf(why, len, "not retried: stopping");
		return false;
	}
	if (at_retry > f->once_deadline) {
		duration_format(delay, d, sizeof(d));
		time_format_rfc3339(f->once_deadline, at, sizeof(at));
		snprintf(why, len, "not retried: a retry (in %s) would start after "
		    "--once-deadline (%s)", d, at);
		return false;
	}
	r->next = at_retry;
	r->once_retry = true;
	f->once_waiting++;
	ev_periodic_set(&r->timer, (ev_tstamp)r->next, 0., NULL);
	ev_periodic_start(f->env->loop, &r->timer);
	return true;
}

/* Records a failed attempt.  transient: retrying may succeed (the one
 * judgement is sched_fault_transient); only --once looks at it, the daemon
 * retries everything after its backoff. */
static void
fleet_record_failure(struct cert_rt *r, const char *error, const struct acme_problem *p,
    long long retry_after, bool transient)
{
	time_t now = time(NULL), at;
	double delay;
	char why[256];

	/* A forced renewal was tried: a failure falls back to the backoff,
	 * or it would be retried at once, forever. */
	r->force = false;
	r->failing = true;
	r->st.failures++;
	r->st.last_attempt = now;
	free(r->st.last_error);
	r->st.last_error = xstrdup(error);
	free(r->st.last_problem);
	r->st.last_problem = p && p->raw ? xstrdup(p->raw) : NULL;
	delay = sched_backoff(r->st.failures, retry_after, random_unit());
	r->st.next_attempt = now + (time_t)delay;
	fleet_cert_save(r);
	/* --once backs off from this run's first failure, as the daemon does
	 * from the certificate's; the stored next_attempt stays the daemon's. */
	at = r->st.next_attempt;
	if (r->f->once) {
		delay = sched_backoff(++r->once_failures, retry_after, random_unit());
		at = now + (time_t)delay;
	}
	if (r->f->once && !once_retry_arm(r, transient, at, delay, why, sizeof(why))) {
		/* Never announce an attempt that will not happen. */
		r->f->failed++;
		/* The error itself was logged where it happened. */
		log_err("%s: attempt %d failed, %s", r->cfg->name, r->st.failures, why);
		fleet_once_gave_up(r->f, r->cfg->name, error, p, !transient ? "permanent, not retried" :
		    r->f->draining ? "not retried: stopping" :
		    "not retried before --once-deadline");
	} else {
		char d[64], ats[32];
		if (!r->f->once)
			r->f->failed++;
		duration_format(delay, d, sizeof(d));
		time_format_rfc3339(at, ats, sizeof(ats));
		log_info("%s: attempt %d failed; next attempt in %s (at %s)%s", r->cfg->name,
		    r->st.failures, d, ats, retry_after > 0 && (double)retry_after >= delay ?
		    ", as the CA asked" : "");
	}
	if (r->st.not_after > 0) {
		time_t lifetime = r->st.not_after - r->st.not_before;
		time_t left = r->st.not_after - now;
		char buf[64];
		duration_format((double)(left > 0 ? left : 0), buf, sizeof(buf));
		if (left <= lifetime / 6 || left <= 7 * 86400)
			log_warn("%s: renewal failing (%d in a row) and the certificate expires in %s",
			    r->cfg->name, r->st.failures, left > 0 ? buf : "0s (expired)");
	}
}

/*
 * Installation of an issued certificate failed: keep it with its key
 * ("issued, not installed") so the next attempt installs it instead of
 * ordering again.  Written before the order is forgotten; if it cannot be
 * kept, the order is kept instead and the next attempt downloads the same
 * certificate again.
 */
static void
fleet_cert_hold(struct cert_rt *r, const struct order_result *res, const char *why)
{
	struct store *s = r->f->env->store;
	char err[512];

	if (renew_hold(s, r->cfg, &r->st, res->chain_pem, res->chain_len, res->key, err,
	    sizeof(err)) < 0) {
		log_err("%s: %s; keeping the order %s so the next attempt downloads the same "
		    "certificate", r->cfg->name, err, r->st.order_url ? r->st.order_url : "");
		fleet_record_failure(r, why, NULL, 0, false);
		return;
	}
	log_notice("%s: certificate %s issued, not installed; held in %s/certs/%s/held.pem, "
	    "the next attempt installs it without a new order", r->cfg->name, r->st.held_serial,
	    store_dir(s), r->cfg->name);
	/* The held copy is on disk: only now may the order be forgotten. */
	order_forget(s, r->cfg->name, &r->st);
	fleet_record_failure(r, why, NULL, 0, false);
}

static void
order_finished(struct order_job *j, struct order_result *res, void *arg)
{
	struct cert_rt *r = arg;
	struct fleet *f = r->f;
	char err[1024];
	int rc;

	(void)j;
	r->job = NULL;
	f->inflight--;
	if (r->acct)
		r->acct->inflight--;
	if (r->removed) {
		fleet_cert_settled(r);
		return;
	}
	if (!res->ok) {
		long long left = f->once_deadline - time(NULL);
		fleet_record_failure(r, res->error, res->problem, res->retry_after,
		    sched_fault_transient(res->status, res->problem_type, res->retry_after,
		    left > 0 ? left : 0));
		if (!r->once_retry)
			fleet_batch_note(f, r->cfg->name, false);
		fleet_cert_settled(r);
		return;
	}
	if ((rc = renew_install(f->env->store, r->cfg, &r->st, res->chain_pem, res->chain_len,
	    res->key, err, sizeof(err))) < 0) {
		log_err("%s: %s", r->cfg->name, err);
		if (rc == -2) {
			fleet_cert_hold(r, res, err);
		} else {
			/* Rejected (and kept in the store): the order is spent,
			 * the next attempt orders afresh. */
			order_forget(f->env->store, r->cfg->name, &r->st);
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
static void
fleet_settle_later(struct cert_rt *r, bool ok)
{
	r->settle_ok = ok;
	ev_timer_set(&r->settle, 0., 0.);
	ev_timer_start(r->f->env->loop, &r->settle);
}

/*
 * A held certificate ("issued, not installed") is installed instead of
 * ordering a new one while it is usable; one that is not any more is moved
 * aside (never deleted) and false returned: then order.  true when the
 * attempt is over (fleet_settle_later called).
 */
static bool
fleet_cert_install_held(struct cert_rt *r)
{
	struct fleet *f = r->f;
	struct store *s = f->env->store;
	char *chain = NULL, *moved = NULL, why[512], err[1024];
	privkey_t *key = NULL;
	size_t len = 0;
	bool done = false;
	int h, rc;

	if ((h = store_held_load(s, r->cfg->name, &chain, &len, &key)) == 0)
		goto out;
	if (h < 0)
		snprintf(why, sizeof(why), "it cannot be read");
	if (h < 0 || !renew_held_usable(r->cfg, chain, len, key, time(NULL), why,
	    sizeof(why))) {
		moved = store_held_move_aside(s, r->cfg->name);
		log_notice("%s: the held certificate cannot be used (%s); moved to %s; ordering "
		    "a new one", r->cfg->name, why, moved ? moved : "nowhere (see above)");
		free(r->st.held_serial);
		r->st.held_serial = NULL;
		r->st.held_not_after = r->st.held_since = 0;
		fleet_cert_save(r);
		goto out;
	}
	log_info("%s: installing the held certificate (serial %s) instead of ordering a new one",
	    r->cfg->name, r->st.held_serial ? r->st.held_serial : "?");
	r->st.last_attempt = time(NULL);
	rc = renew_install(s, r->cfg, &r->st, chain, len, key, err, sizeof(err));
	done = true;
	if (rc == -1) {
		/* Rejected after all (a copy is under rejected-*): not worth
		 * holding any longer. */
		moved = store_held_move_aside(s, r->cfg->name);
		log_err("%s: %s; the held certificate is moved to %s", r->cfg->name, err,
		    moved ? moved : "nowhere (see above)");
		free(r->st.held_serial);
		r->st.held_serial = NULL;
		r->st.held_not_after = r->st.held_since = 0;
		fleet_record_failure(r, err, NULL, 0, false);
		fleet_batch_note(f, r->cfg->name, false);
		fleet_settle_later(r, false);
		goto out;
	}
	if (rc < 0) {
		log_err("%s: %s (the certificate stays held)", r->cfg->name, err);
		fleet_record_failure(r, err, NULL, 0, false);
		fleet_batch_note(f, r->cfg->name, false);
		fleet_settle_later(r, false);
		goto out;
	}
	r->failing = false;
	r->force = false;
	r->ari_next = r->st.cert_id ? time(NULL) + SCHED_ARI_POLL : 0;
	f->succeeded++;
	fleet_batch_note(f, r->cfg->name, true);
	fleet_settle_later(r, true);
out:
	free(chain);
	free(moved);
	privkey_free(key);
	return done;
}

static void
cert_start(struct cert_rt *r)
{
	struct fleet *f = r->f;
	struct order_params p = {0};
	char err[1024];

	f->inflight++;
	r->acct->inflight++;
	/* Nothing is ordered that could not be installed and deployed. */
	if (preflight_cert(f->cfg, r->cfg, err, sizeof(err)) < 0) {
		log_err("%s: not ordering: %s", r->cfg->name, err);
		r->st.last_attempt = time(NULL);
		fleet_record_failure(r, err, NULL, 0, false);
		fleet_batch_note(f, r->cfg->name, false);
		fleet_settle_later(r, false);
		return;
	}
	if (fleet_cert_install_held(r))
		return;
	f->inflight--;
	r->acct->inflight--;

	p.cert = r->cfg;
	p.state = &r->st;
	p.replaces = r->st.cert_id;
	if (r->cfg->reuse_key)
		p.reuse_key = renew_installed_key(r->cfg);
	r->st.last_attempt = time(NULL);
	f->inflight++;
	r->acct->inflight++;
	log_info("%s: starting renewal (account %s: %d in flight, all accounts: %d)",
	    r->cfg->name, r->acct->cfg->name, r->acct->inflight, f->inflight);
	r->job = f->order_ops->start(f->env, r->acct->acme, &p, order_finished, r);
}

static int
fleet_max_inflight(const struct fleet *f)
{
	return f->cfg->max_inflight > 0 ? f->cfg->max_inflight : 256;
}

void
fleet_queue_run(struct fleet *f)
{
	struct cert_rt **pp = &f->qhead, *r;

	f->qtail = NULL;
	while ((r = *pp) != NULL) {
		int amax = r->acct->cfg->max_inflight > 0 ? r->acct->cfg->max_inflight : 32;

		if (f->draining || f->inflight >= fleet_max_inflight(f))
			break;
		if (r->acct->inflight >= amax) {
			f->qtail = r;
			pp = &r->qnext;
			continue;
		}
		*pp = r->qnext;
		r->qnext = NULL;
		r->queued = false;
		cert_start(r);
	}
	/* Re-find the tail (entries may have been skipped above). */
	for (r = f->qhead, f->qtail = NULL; r; r = r->qnext)
		f->qtail = r;
}

void
fleet_cert_enqueue(struct cert_rt *r)
{
	struct fleet *f = r->f;

	if (r->queued || r->job || r->hook || ev_is_active(&r->settle) || f->draining)
		return;
	r->queued = true;
	r->qnext = NULL;
	if (f->qtail)
		f->qtail->qnext = r;
	else
		f->qhead = r;
	f->qtail = r;
}

static void
queue_remove(struct fleet *f, struct cert_rt *r)
{
	struct cert_rt **pp;

	if (!r->queued)
		return;
	for (pp = &f->qhead; *pp; pp = &(*pp)->qnext) {
		if (*pp == r) {
			*pp = r->qnext;
			break;
		}
	}
	r->queued = false;
	r->qnext = NULL;
	for (r = f->qhead, f->qtail = NULL; r; r = r->qnext)
		f->qtail = r;
}

/* ---- scheduling ---- */

/* The moment this certificate should next be renewed; 0 = now. */
static time_t
cert_due_time(struct cert_rt *r, char *why, size_t len)
{
	const struct cert_state *st = &r->st;
	time_t t;

	if (r->force) {
		snprintf(why, len, "renewal requested");
		return 0;
	}
	if (sched_needs_issue(r->cfg, st, why, len))
		t = 0;
	else if (st->ari_start > 0 && st->ari_end > 0) {
		t = sched_ari_pick(st->ari_start, st->ari_end, r->jitter_rand);
		snprintf(why, len, "inside the CA's renewal window");
	} else {
		t = sched_renewal_time(st->not_before, st->not_after, r->cfg->renew_before);
		t = sched_apply_jitter(t, st->not_before, st->not_after, r->f->cfg->renew_jitter,
		    r->jitter_rand);
		snprintf(why, len, "renewal time reached");
	}
	/* After failures, wait out the backoff. */
	if (st->failures > 0 && st->next_attempt > t) {
		t = st->next_attempt;
		snprintf(why, len, "retry after %d failed attempt%s", st->failures,
		    st->failures == 1 ? "" : "s");
	}
	return t;
}

static void
timer_cb(struct ev_loop *loop, ev_periodic *w, int revents)
{
	struct cert_rt *r = w->data;
	/* The loop's clock, which reached the whole second the timer was set
	 * for: time(2) may still read the second before it, which would take
	 * a renewalInfo check for the renewal itself. */
	time_t now = (time_t)ev_now(loop);
	bool retry = r->once_retry;

	(void)revents;
	ev_periodic_stop(loop, w);
	if (retry) {
		r->once_retry = false;
		r->f->once_waiting--;
	}
	/*
	 * One timer serves two moments (fleet_cert_schedule): only the renewal
	 * moment orders.  Anything else that fires it - a renewalInfo check,
	 * including one the account has since learnt will never happen
	 * because the directory offers no renewalInfo - checks or
	 * reschedules, never orders.
	 */
	if (r->next > 0 && r->next <= now) {
		r->next = 0;
		if (retry)
			log_info("%s: retrying after %d failed attempt%s in this run", r->cfg->name,
			    r->once_failures, r->once_failures == 1 ? "" : "s");
		else
			log_info("%s: renewal due", r->cfg->name);
		fleet_cert_enqueue(r);
		fleet_queue_run(r->f);
		return;
	}
	if (fleet_ari_applies(r) && r->ari_next > 0 && r->ari_next <= now) {
		fleet_ari_check(r);
		return;
	}
	fleet_cert_schedule(r);
}

void
fleet_cert_schedule(struct cert_rt *r)
{
	struct fleet *f = r->f;
	char why[128];
	time_t t, now = time(NULL);

	ev_periodic_stop(f->env->loop, &r->timer);
	if (r->job || r->hook || r->queued || ev_is_active(&r->settle) || r->ari_waiter ||
	    r->ari_req)
		return;
	t = cert_due_time(r, why, sizeof(why));
	if (f->once) {
		/* A one-shot run ignores jitter and backoff: the operator asked. */
		char w2[128];
		if (sched_needs_issue(r->cfg, &r->st, w2, sizeof(w2)) || r->force ||
		    now >= sched_renewal_time(r->st.not_before, r->st.not_after,
		    r->cfg->renew_before)) {
			log_info("%s: due (%s)", r->cfg->name,
			    sched_needs_issue(r->cfg, &r->st, w2, sizeof(w2)) ? w2 :
			    r->force ? "renewal requested" : "renewal time reached");
			fleet_cert_enqueue(r);
		} else {
			log_info("%s: not due", r->cfg->name);
		}
		return;
	}
	if (t <= now) {
		log_info("%s: due now (%s)", r->cfg->name, why);
		r->next = now;
		fleet_cert_enqueue(r);
		return;
	}
	r->next = t;
	/* One timer per certificate: the earlier of its renewal moment and
	 * its next renewalInfo check. */
	if (fleet_ari_applies(r) && r->ari_next > 0 && r->ari_next < t)
		t = r->ari_next;
	ev_periodic_set(&r->timer, (ev_tstamp)t, 0., NULL);
	ev_periodic_start(f->env->loop, &r->timer);
	if (log_get_level() >= LOG_DEBUG) {
		char buf[32], abuf[32];
		time_format_rfc3339(r->next, buf, sizeof(buf));
		if (fleet_ari_applies(r) && r->ari_next > 0)
			time_format_rfc3339(r->ari_next, abuf, sizeof(abuf));
		else
			snprintf(abuf, sizeof(abuf), "none");
		log_debug("%s: next renewal at %s (%s); next renewalInfo check at %s",
		    r->cfg->name, buf, why, abuf);
	}
}

/* ---- construction ---- */

/* The orders every fleet drives, unless a test swaps in scripted ones. */
static const struct fleet_order_ops fleet_acme_orders = {
	.start = order_start,
	.cancel = order_cancel,
	.update_cert = order_update_cert,
};

static struct acct_rt *
acct_new(struct fleet *f, const struct config_account *ca)
{
	struct acct_rt *a = xcalloc(1, sizeof(*a));

	a->cfg = ca;
	a->ari = -1;
	a->acme = acme_account_new(f->env, ca);
	f->accts = xrealloc(f->accts, (f->naccts + 1) * sizeof(*f->accts));
	f->accts[f->naccts++] = a;
	return a;
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
	ev_periodic_init(&r->timer, timer_cb, 0., 0., NULL);
	r->timer.data = r;
	ev_timer_init(&r->settle, settle_cb, 0., 0.);
	r->settle.data = r;
	f->certs = xrealloc(f->certs, (f->ncerts + 1) * sizeof(*f->certs));
	f->certs[f->ncerts++] = r;
	return r;
}

struct fleet *
fleet_new(struct acme_env *env, const struct config *cfg, bool once)
{
	struct fleet *f = xcalloc(1, sizeof(*f));

	f->env = env;
	f->order_ops = &fleet_acme_orders;
	f->post_debounce = POST_HOOK_DEBOUNCE;
	f->cfg = cfg;
	f->once = once;
	ev_idle_init(&f->idle_check, idle_check_cb);
	f->idle_check.data = f;
	ev_timer_init(&f->post_timer, post_timer_cb, 0., 0.);
	f->post_timer.data = f;
	for (size_t i = 0; i < cfg->naccounts; i++)
		acct_new(f, &cfg->accounts[i]);
	for (size_t i = 0; i < cfg->ncerts; i++)
		cert_new(f, &cfg->certs[i]);
	return f;
}

/*
 * The held certificate on disk is what counts; the state's copy of its
 * serial (for status) is brought in line after a crash: a held copy of
 * what is already installed is dropped, one the state does not mention
 * yet is recorded.
 */
static void
fleet_cert_load_held(struct cert_rt *r)
{
	struct store *s = r->f->env->store;
	struct cert_info info = {0};
	char *chain = NULL;
	privkey_t *key = NULL;
	size_t len = 0;

	if (store_held_load(s, r->cfg->name, &chain, &len, &key) <= 0 ||
	    cert_info_from_pem(chain, len, &info) < 0) {
		if (chain == NULL && r->st.held_serial != NULL) {
			free(r->st.held_serial);
			r->st.held_serial = NULL;
			r->st.held_not_after = r->st.held_since = 0;
		}
		goto out;
	}
	if (r->st.serial != NULL && strcmp(r->st.serial, info.serial_hex) == 0) {
		log_info("%s: the held certificate %s is the installed one; dropping the copy",
		    r->cfg->name, info.serial_hex);
		store_held_remove(s, r->cfg->name);
		free(r->st.held_serial);
		r->st.held_serial = NULL;
		r->st.held_not_after = r->st.held_since = 0;
		goto out;
	}
	if (r->st.held_serial == NULL || strcmp(r->st.held_serial, info.serial_hex) != 0) {
		free(r->st.held_serial);
		r->st.held_serial = xstrdup(info.serial_hex);
		r->st.held_not_after = info.not_after;
		if (r->st.held_since == 0)
			r->st.held_since = time(NULL);
	}
	log_notice("%s: holds certificate %s, issued but not installed; it is installed on "
	    "the next attempt", r->cfg->name, r->st.held_serial);
out:
	cert_info_free(&info);
	free(chain);
	privkey_free(key);
}

void
fleet_set_once_deadline(struct fleet *f, time_t at)
{
	f->once_deadline = at;
}

char *
fleet_once_failures(const struct fleet *f)
{
	struct buf b = {0};
	size_t n = f->once_failed.n;

	if (n == 0)
		return NULL;
	/* The closing line stays a line: the first few, then a count. */
	for (size_t i = 0; i < n && i < 3; i++)
		buf_appendf(&b, "%s%s", i > 0 ? "; " : "", f->once_failed.v[i]);
	if (n > 3)
		buf_appendf(&b, "; and %zu more (see above)", n - 3);
	return buf_steal(&b, NULL);
}

static int
cert_load(struct cert_rt *r, char *err, size_t errlen)
{
	cert_state_free(&r->st);
	cert_state_init(&r->st);
	if (store_cert_load(r->f->env->store, r->cfg->name, &r->st, err, errlen) < 0)
		return -1;
	/* A lineage installed before certfleet knew it (certbot's) is
	 * renewed on its own schedule, not re-issued at once. */
	adopt_lineage(r->f->env->store, r->cfg, &r->st);
	r->failing = r->st.failures > 0;
	fleet_cert_load_held(r);
	/* Spread the first renewalInfo checks of a large fleet over minutes
	 * (a single certificate is checked at once). */
	if (r->st.cert_id != NULL)
		r->ari_next = time(NULL) + (time_t)sched_ari_first_check(r->f->ncerts,
		    random_unit());
	return 0;
}

int
fleet_load(struct fleet *f, char *err, size_t errlen)
{
	for (size_t i = 0; i < f->ncerts; i++)
		if (cert_load(f->certs[i], err, errlen) < 0)
			return -1;
	return 0;
}

void
fleet_start(struct fleet *f)
{
	for (size_t i = 0; i < f->ncerts; i++)
		fleet_cert_schedule(f->certs[i]);
	fleet_queue_run(f);
	fleet_maybe_idle(f);
}

static void
cert_stop(struct cert_rt *r)
{
	ev_periodic_stop(r->f->env->loop, &r->timer);
	fleet_ari_cancel(r);
	queue_remove(r->f, r);
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
	ev_timer_stop(f->env->loop, &f->post_timer);
	fleet_ops_drop(f);
	strlist_free(&f->batch_renewed);
	strlist_free(&f->batch_failed);
	strlist_free(&f->once_failed);
	for (size_t i = 0; i < f->ncerts; i++) {
		cert_stop(f->certs[i]);
		cert_state_free(&f->certs[i]->st);
		free(f->certs[i]);
	}
	for (size_t i = 0; i < f->naccts; i++) {
		acme_account_free(f->accts[i]->acme);
		free(f->accts[i]);
	}
	free(f->certs);
	free(f->accts);
	free(f);
}

void
fleet_drain(struct fleet *f)
{
	f->draining = true;
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
		queue_remove(f, r);
		if (r->once_retry) {
			r->once_retry = false;
			f->once_waiting--;
			f->failed++;
			log_err("%s: stopping: its retry will not happen in this run", r->cfg->name);
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

	f->accts = NULL;
	f->naccts = 0;
	f->certs = NULL;
	f->ncerts = 0;
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
			acme_account_set_config(old->acme, ca);
			f->accts = xrealloc(f->accts, (f->naccts + 1) * sizeof(*f->accts));
			f->accts[f->naccts++] = old;
		} else {
			acct_new(f, ca);
		}
	}

	for (size_t i = 0; i < cfg->ncerts; i++) {
		const struct config_cert *cc = &cfg->certs[i];
		struct cert_rt *old = NULL;
		for (size_t k = 0; k < noldcerts; k++)
			if (oldcerts[k] && strcmp(oldcerts[k]->cfg->name, cc->name) == 0)
				old = oldcerts[k], oldcerts[k] = NULL;
		if (old == NULL) {
			struct cert_rt *r = cert_new(f, cc);
			char err[512];
			log_info("%s: added by reload", cc->name);
			if (cert_load(r, err, sizeof(err)) < 0)
				log_err("%s: %s (treating as never issued)", cc->name, err);
			fleet_cert_schedule(r);
			continue;
		}
		bool same_order = config_cert_order_equal(old->cfg, cc) &&
		    acct_find(f, cc->account_name) == old->acct;
		if (!same_order && (old->job || old->queued)) {
			log_info("%s: changed by reload; restarting its renewal", cc->name);
			cert_stop(old);
		}
		old->cfg = cc;
		old->acct = acct_find(f, cc->account_name);
		if (old->job)
			f->order_ops->update_cert(old->job, cc);
		f->certs = xrealloc(f->certs, (f->ncerts + 1) * sizeof(*f->certs));
		f->certs[f->ncerts++] = old;
		if (!old->job && !old->hook)
			fleet_cert_schedule(old);
	}

	for (size_t k = 0; k < noldcerts; k++) {
		struct cert_rt *r = oldcerts[k];
		if (r == NULL)
			continue;
		log_info("%s: removed by reload (its files are left in place)", r->cfg->name);
		cert_stop(r);
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
	return buf_steal(&b, NULL);
}
