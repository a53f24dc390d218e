/*
 * fleet_sched.c - when each certificate is next renewed: its due time
 * (forced, never issued, the CA's renewalInfo window, or the configured
 * lifetime share with jitter, after any backoff), and the one wall-clock
 * timer per certificate that fires at the earlier of that moment and its
 * next renewalInfo check.
 */
#include <ev.h>

#include "fleet_internal.h"
#include "log.h"
#include "scheduler.h"
#include "util.h"

/* ---- scheduling ---- */

/* The moment this certificate should next be renewed; 0 = now. */
static time_t
cert_due_time(struct cert_rt *r, char *why, size_t len)
{
	const struct cert_state *st = &r->st;
	time_t t;

	if (r->force) {
		snprintf(why, len, "renewal requested");
		t = 0;
		goto pool;
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
pool:
	/* Another host holds its pool lock, or etcd is away: a renewal due
	 * before then waits for it (never brought forward by it). */
	if (r->pool_wait > t && r->pool_wait > time(NULL)) {
		t = r->pool_wait;
		snprintf(why, len, "waiting for the pool");
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
			cert_log(r, LOG_INFO, LOG_EVENT_NONE,
			    "retrying after %d failed attempt%s in this run", r->once_failures, r->once_failures == 1 ? "" : "s");
		else
			cert_log(r, LOG_INFO, LOG_EVENT_NONE, "renewal due");
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
			cert_log(r, LOG_INFO, LOG_EVENT_NONE,
			    "due (%s)", sched_needs_issue(r->cfg, &r->st, w2, sizeof(w2)) ? w2 :
			    r->force ? "renewal requested" : "renewal time reached");
			fleet_cert_enqueue(r);
		} else {
			cert_log(r, LOG_INFO, LOG_EVENT_NONE, "not due");
		}
		return;
	}
	if (t <= now) {
		cert_log(r, LOG_INFO, LOG_EVENT_NONE, "due now (%s)", why);
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
		cert_log(r, LOG_DEBUG, LOG_EVENT_NONE,
		    "next renewal at %s (%s); next renewalInfo check at %s",
		    buf, why, abuf);
	}
}

void
fleet_sched_init(struct cert_rt *r)
{
	ev_periodic_init(&r->timer, timer_cb, 0., 0., NULL);
	r->timer.data = r;
}
