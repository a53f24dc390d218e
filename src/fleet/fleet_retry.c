/*
 * fleet_retry.c - a failed attempt: recorded in the certificate's state
 * with its backoff, and under --once either retried within the run (a
 * transient failure whose retry starts before --once-deadline) or given up
 * and noted for the closing line.
 */
#include <string.h>

#include <ev.h>

#include "fleet_internal.h"
#include "log.h"
#include "scheduler.h"
#include "util.h"

/* --once: notes for the closing line that name failed for good, and why:
 * the CA's problem when there was one, else the error (cut short: the
 * whole of it was logged where it happened). */
void
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
void
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
		cert_log(r, LOG_ERR, LOG_EVENT_RENEWAL_FAILED,
		    "attempt %d failed, %s", r->st.failures, why);
		fleet_once_gave_up(r->f, r->cfg->name, error, p, !transient ? "permanent, not retried" :
		    r->f->draining ? "not retried: stopping" :
		    "not retried before --once-deadline");
	} else {
		char d[64], ats[32];
		if (!r->f->once)
			r->f->failed++;
		duration_format(delay, d, sizeof(d));
		time_format_rfc3339(at, ats, sizeof(ats));
		cert_log(r, LOG_INFO, LOG_EVENT_RENEWAL_FAILED,
		    "attempt %d failed; next attempt in %s (at %s)%s", r->st.failures, d, ats, retry_after > 0 && (double)retry_after >= delay ?
		    ", as the CA asked" : "");
	}
	if (r->st.not_after > 0) {
		time_t lifetime = r->st.not_after - r->st.not_before;
		time_t left = r->st.not_after - now;
		char buf[64];
		duration_format((double)(left > 0 ? left : 0), buf, sizeof(buf));
		if (left <= lifetime / 6 || left <= 7 * 86400)
			cert_log(r, LOG_WARNING, LOG_EVENT_NONE,
			    "renewal failing (%d in a row) and the certificate expires in %s",
			    r->st.failures, left > 0 ? buf : "0s (expired)");
	}
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
