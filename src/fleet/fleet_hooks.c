/*
 * fleet_hooks.c - the hooks the fleet runs: each renewed certificate's
 * deploy hook, and the post hook once per batch of renewals (the names
 * renewed and failed since the last one), run after a debounce without a
 * renewal settling, or at the end of a --once run or a drain.
 */
#include <ev.h>

#include "fleet_internal.h"
#include "hooks.h"
#include "log.h"
#include "renew.h"
#include "util.h"

#define POST_HOOK_DEBOUNCE 5.0  /* seconds without a renewal settling */

/* ---- post_hook: once per batch of renewals ---- */

static void
post_hook_done(const struct hook_result *res, void *arg)
{
	struct fleet *f = arg;

	f->post_running = false;
	f->hook_runs[FLEET_HOOK_POST][res->exited && res->status == 0]++;
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
bool
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
	if (!f->post_running)
		f->hook_runs[FLEET_HOOK_POST][0]++;
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
	if (f->inflight > 0 || fleet_queued(f) > 0 || f->hooks > 0 || f->post_running) {
		ev_timer_set(w, f->post_debounce, 0.);
		ev_timer_start(loop, w);
		return;
	}
	fleet_post_hook_start(f);
	fleet_maybe_idle(f);
}

void
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

void
fleet_hooks_init(struct fleet *f)
{
	f->post_debounce = POST_HOOK_DEBOUNCE;
	ev_timer_init(&f->post_timer, post_timer_cb, 0., 0.);
	f->post_timer.data = f;
}

/* ---- deploy hook: once per renewed certificate ---- */

static void
deploy_hook_done(const struct hook_result *res, void *arg)
{
	struct cert_rt *r = arg;

	r->hook = NULL;
	r->f->hooks--;
	r->f->hook_runs[FLEET_HOOK_DEPLOY][res->exited && res->status == 0]++;
	if (r->removed)
		;
	else if (res->exited && res->status == 0)
		cert_log(r, LOG_INFO, LOG_EVENT_NONE, "deploy hook succeeded");
	else if (res->timed_out)
		cert_log(r, LOG_ERR, LOG_EVENT_HOOK_FAILED,
		    "deploy hook killed after %llds (the certificate stays installed)",
		    r->f->cfg->hook_timeout);
	else if (res->exited)
		cert_log(r, LOG_ERR, LOG_EVENT_HOOK_FAILED,
		    "deploy hook exited with status %d (the certificate stays installed)",
		    res->status);
	else
		cert_log(r, LOG_ERR, LOG_EVENT_HOOK_FAILED,
		    "deploy hook killed by signal %d (the certificate stays installed)",
		    res->status);
	fleet_cert_settled(r);
}

void
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
		cert_log(r, LOG_ERR, LOG_EVENT_HOOK_FAILED, "cannot start the deploy hook");
		r->f->hook_runs[FLEET_HOOK_DEPLOY][0]++;
		fleet_cert_settled(r);
		return;
	}
	r->hook_since = time(NULL);
	r->f->hooks++;
}
