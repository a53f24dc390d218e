/*
 * acme_budget.c - how fast one account may ask its CA for things: the
 * newOrder requests in flight at once (new_orders_in_flight), new orders
 * per period (new_orders_per), signed requests per second
 * (requests_per_second), and the pause a rateLimited answer (or a 429/503
 * with Retry-After) asks for.
 *
 * The CA's limits are paced here, in the engine, because only the engine
 * sees every newOrder (a resumed order the CA forgot, an order for other
 * names and a newOrder resent without `replaces` are all newOrders the
 * fleet never hears of) and every answer.  The order machine takes a
 * ticket (acme_ticket_wait) right before its newOrder POST and gives it
 * back after the answer, so the in-flight budget is on the request, not
 * on the whole order.  The fleet keeps the orders beyond the budget in its
 * own queue (acme_new_order_room): waiting there they hold no slot of the
 * fleet's max_inflight, so one paused account never starves another.
 *
 * new_orders_per is a sliding window rather than a bucket refilled at a
 * steady rate: a token comes back DURATION after the newOrder that spent
 * it was answered, so no DURATION window ever holds more than COUNT
 * newOrders (a bucket of COUNT refilled at COUNT/DURATION allows up to
 * twice that in one window, which a CA counting per window would refuse).
 *
 * The window and a pause outlive the process through the account's store
 * (load_budget/save_budget): a daemon restarted after a burst of 300
 * newOrders, or in a pause the CA asked for, must not spend them again.
 * The record is written at most once a second (SAVE_DELAY) after a change
 * and at the end: a crash loses at most that second of spends, and a
 * newOrder in flight is saved as spent at the time of the save.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "acme.h"
#include "acme_budget.h"
#include "log.h"
#include "util.h"

#define PAUSE_DEFAULT 60.0      /* rateLimited without Retry-After */
#define PAUSE_MAX 86400.0       /* a Retry-After further away is capped */
#define SAVE_DELAY 1.0          /* seconds from a change to its save */
#define SAVE_RETRY 30.0         /* seconds from a failed save to the next try */

/* ---- the window ---- */

void
rate_window_init(struct rate_window *w, int count, double period)
{
	memset(w, 0, sizeof(*w));
	w->count = count > 0 ? count : 0;
	w->period = period;
	if (w->count > 0)
		w->t = xcalloc((size_t)w->count, sizeof(*w->t));
}

void
rate_window_free(struct rate_window *w)
{
	free(w->t);
	w->t = NULL;
	w->n = w->head = 0;
}

/* Drops the puts older than the window. */
static void
window_expire(struct rate_window *w, double now)
{
	while (w->n > 0 && w->t[w->head] + w->period <= now) {
		w->head = (w->head + 1) % w->count;
		w->n--;
	}
}

int
rate_window_available(struct rate_window *w, double now)
{
	int left;

	if (w->count == 0)
		return INT_MAX;
	window_expire(w, now);
	left = w->count - w->n - w->held;
	return left > 0 ? left : 0;
}

void
rate_window_take(struct rate_window *w)
{
	if (w->count > 0)
		w->held++;
}

void
rate_window_put(struct rate_window *w, double now)
{
	if (w->count == 0)
		return;
	if (w->held > 0)
		w->held--;
	window_expire(w, now);
	if (w->n == w->count) {
		/* More puts than takes: the oldest is forgotten. */
		w->head = (w->head + 1) % w->count;
		w->n--;
	}
	w->t[(w->head + w->n) % w->count] = now;
	w->n++;
}

void
rate_window_spend(struct rate_window *w, double now)
{
	rate_window_take(w);
	rate_window_put(w, now);
}

double
rate_window_next(struct rate_window *w, double now)
{
	if (rate_window_available(w, now) > 0)
		return now;
	if (w->n == 0)
		return -1;
	return w->t[w->head] + w->period;
}

void
rate_window_resize(struct rate_window *w, int count, double period, double now)
{
	struct rate_window nw;
	int held = w->held;

	rate_window_init(&nw, count, period);
	if (nw.count > 0 && w->count > 0) {
		window_expire(w, now);
		/* The most recent spends that fit. */
		for (int i = w->n > nw.count ? w->n - nw.count : 0; i < w->n; i++)
			if (w->t[(w->head + i) % w->count] + period > now)
				nw.t[(nw.head + nw.n++) % nw.count] = w->t[(w->head + i) % w->count];
	}
	nw.held = nw.count > 0 ? held : 0;
	rate_window_free(w);
	*w = nw;
}

/* ---- the account's budget ---- */

struct acme_ticket {
	struct acme_budget *b;
	bool granted;
	acme_ticket_cb cb;
	void *arg;
	struct acme_ticket *next;   /* the FIFO of waiters */
};

struct acme_budget {
	struct acme_env *env;
	char *name;
	struct acme_budget_params p;
	struct rate_window per;     /* new_orders_per */
	struct rate_window rps;     /* requests_per_second */
	int in_flight;              /* tickets granted, not yet done */
	int starting;               /* orders started that will want one */
	struct acme_ticket *head, *tail;
	int nwaiting;
	double paused_until;        /* ev_now(); 0: none */
	ev_timer wake;              /* a token back, or the pause over */
	ev_timer defer;             /* grants and the room callback, off the caller's stack */
	acme_budget_room_cb room_cb;
	void *room_arg;
	const struct acme_account_store *store; /* NULL: kept in memory only */
	void *store_arg;
	bool dirty;                 /* changed since the last save */
	bool save_failed;           /* the last save failed (logged once) */
	ev_timer save;
};

static void budget_arm(struct acme_budget *b);
static void budget_changed(struct acme_budget *b);

const char *
acme_budget_block_name(enum acme_budget_block k)
{
	static const char *const names[ACME_BUDGET__MAX] = {
		[ACME_BUDGET_OPEN] = "open",
		[ACME_BUDGET_IN_FLIGHT] = "new_orders_in_flight",
		[ACME_BUDGET_PER] = "new_orders_per",
		[ACME_BUDGET_PAUSED] = "paused",
	};
	return (unsigned)k < ACME_BUDGET__MAX ? names[k] : "?";
}

/* Whether the first waiter may have its ticket now. */
static bool
budget_can_grant(struct acme_budget *b, double now)
{
	return now >= b->paused_until &&
	    (b->p.new_orders_in_flight == 0 || b->in_flight < b->p.new_orders_in_flight) &&
	    rate_window_available(&b->per, now) > 0;
}

/* Gives the first waiter its ticket.  A newOrder counted against
 * new_orders_per is saved as spent from now on: the CA may have it before
 * it answers, and a crash before the answer must not hand the token back. */
static struct acme_ticket *
grant_head(struct acme_budget *b)
{
	struct acme_ticket *t = b->head;

	b->head = t->next;
	if (b->head == NULL)
		b->tail = NULL;
	b->nwaiting--;
	t->next = NULL;
	t->granted = true;
	b->in_flight++;
	rate_window_take(&b->per);
	if (b->per.count > 0)
		budget_changed(b);
	return t;
}

/* Grants what can be granted, in order; then tells the fleet. */
static void
budget_run(struct acme_budget *b)
{
	while (b->head != NULL && budget_can_grant(b, ev_now(b->env->loop))) {
		struct acme_ticket *t = grant_head(b);

		t->cb(t->arg);
	}
	budget_arm(b);
	if (b->room_cb)
		b->room_cb(b->room_arg);
}

static void
defer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	ev_timer_stop(loop, w);
	budget_run(w->data);
}

static void
wake_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct acme_budget *b = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	if (b->paused_until > 0 && ev_now(loop) >= b->paused_until) {
		b->paused_until = 0;
		log_notice("account %s: the pause of new orders is over", b->name);
	}
	budget_run(b);
}

static void
budget_later(struct acme_budget *b)
{
	if (!ev_is_active(&b->defer)) {
		ev_timer_set(&b->defer, 0., 0.);
		ev_timer_start(b->env->loop, &b->defer);
	}
}

/* Arms the wakeup for the pause's end or the next token back, when
 * something is exhausted (a waiter, or the fleet's admission, cares). */
static void
budget_arm(struct acme_budget *b)
{
	double now = ev_now(b->env->loop), at = -1;

	if (b->paused_until > now)
		at = b->paused_until;
	else if (b->paused_until > 0)
		at = now;
	else if (b->p.per_count > 0 && rate_window_available(&b->per, now) == 0)
		at = rate_window_next(&b->per, now);
	ev_timer_stop(b->env->loop, &b->wake);
	if (at < 0)
		return;
	ev_timer_set(&b->wake, at > now ? at - now : 0., 0.);
	ev_timer_start(b->env->loop, &b->wake);
}

/* ---- kept between runs ---- */

/* ev_now() times to and from the wall clock (the same clock in practice;
 * converted anyway, never trusted to be).  Rounded up to the second: a
 * spend is remembered a little late rather than early, so its token comes
 * back no sooner. */
static time_t
to_wall(const struct acme_budget *b, double t)
{
	return (time_t)ceil(ev_time() + (t - ev_now(b->env->loop)));
}

static double
from_wall(const struct acme_budget *b, time_t t)
{
	return ev_now(b->env->loop) + ((double)t - ev_time());
}

static int
cmp_time(const void *x, const void *y)
{
	time_t a = *(const time_t *)x, c = *(const time_t *)y;

	return a < c ? -1 : a > c;
}

/* Writes the record now: the window's spends, a newOrder in flight
 * counted as spent now (the CA may have it), and the pause. */
static void
budget_save(struct acme_budget *b)
{
	struct acme_budget_record rec = {0};
	double now = ev_now(b->env->loop);
	char err[512];
	int i;

	b->dirty = false;
	ev_timer_stop(b->env->loop, &b->save);
	if (b->store == NULL || b->store->save_budget == NULL)
		return;
	if (b->per.count > 0) {
		window_expire(&b->per, now);
		rec.spent = xcalloc((size_t)(b->per.n + b->per.held) + 1, sizeof(*rec.spent));
		for (i = 0; i < b->per.n; i++)
			rec.spent[rec.nspent++] = to_wall(b, b->per.t[(b->per.head + i) % b->per.count]);
		for (i = 0; i < b->per.held; i++)
			rec.spent[rec.nspent++] = to_wall(b, now);
	}
	rec.paused_until = b->paused_until > now ? to_wall(b, b->paused_until) : 0;
	if (b->store->save_budget(b->store_arg, &rec, err, sizeof(err)) < 0) {
		if (!b->save_failed)
			log_warn("account %s: cannot save its request budget (%s); a restart "
			    "would forget the new orders spent; trying again every %.0f s",
			    b->name, err, SAVE_RETRY);
		b->save_failed = true;
		/* Still to be saved: by the retry, or as the account is freed. */
		b->dirty = true;
		ev_timer_set(&b->save, SAVE_RETRY, 0.);
		ev_timer_start(b->env->loop, &b->save);
	} else if (b->save_failed) {
		log_notice("account %s: its request budget is saved again", b->name);
		b->save_failed = false;
	}
	free(rec.spent);
}

static void
save_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	budget_save(w->data);
}

/* Something worth keeping changed: saved within SAVE_DELAY. */
static void
budget_changed(struct acme_budget *b)
{
	if (b->store == NULL || b->store->save_budget == NULL)
		return;
	b->dirty = true;
	if (!ev_is_active(&b->save)) {
		ev_timer_set(&b->save, SAVE_DELAY, 0.);
		ev_timer_start(b->env->loop, &b->save);
	}
}

void
acme_budget_attach_store(struct acme_budget *b, const struct acme_account_store *store,
    void *store_arg)
{
	struct acme_budget_record rec = {0};
	double now = ev_now(b->env->loop);
	char err[512], at[32];
	int i, kept = 0;

	b->store = store;
	b->store_arg = store_arg;
	if (store == NULL || store->load_budget == NULL)
		return;
	/* ev_now() is the wall clock as of the loop's last wake-up: brought up
	 * to date, or stored times would map that much into the past. */
	ev_now_update(b->env->loop);
	now = ev_now(b->env->loop);
	if (store->load_budget(store_arg, &rec, err, sizeof(err)) < 0) {
		log_warn("account %s: %s; its request budget starts from nothing", b->name, err);
		free(rec.spent);
		return;
	}
	if (b->per.count > 0 && rec.nspent > 0) {
		qsort(rec.spent, (size_t)rec.nspent, sizeof(*rec.spent), cmp_time);
		for (i = 0; i < rec.nspent; i++) {
			double t = from_wall(b, rec.spent[i]);

			if (t + b->per.period > now) {
				rate_window_put(&b->per, t > now ? now : t);
				kept++;
			}
		}
	}
	if (rec.paused_until > time(NULL)) {
		/* A clock that was wrong when it was saved, or an edited file,
		 * gets no longer pause than a CA could ask for. */
		if (rec.paused_until > time(NULL) + (time_t)PAUSE_MAX)
			rec.paused_until = time(NULL) + (time_t)PAUSE_MAX;
		b->paused_until = from_wall(b, rec.paused_until);
		time_format_rfc3339(rec.paused_until, at, sizeof(at));
		log_notice("account %s: no new order until %s, the pause the CA asked for "
		    "before the restart", b->name, at);
	}
	/* The window keeps the newest per_count when the record has more. */
	if (kept > b->per.n)
		kept = b->per.n;
	if (kept > 0) {
		duration_format(b->per.period, err, sizeof(err));
		log_info("account %s: %d new order%s of the last %s counted against "
		    "new_orders_per from before the restart", b->name, kept, kept == 1 ? "" : "s",
		    err);
	}
	free(rec.spent);
	if (b->paused_until > 0 || kept > 0)
		budget_arm(b);
}

struct acme_budget *
acme_budget_new(struct acme_env *env, const char *name, const struct acme_budget_params *p)
{
	struct acme_budget *b = xcalloc(1, sizeof(*b));

	b->env = env;
	b->name = xstrdup(name);
	b->p = *p;
	rate_window_init(&b->per, p->per_count, (double)p->per_seconds);
	rate_window_init(&b->rps, p->requests_per_second, 1.0);
	ev_timer_init(&b->wake, wake_cb, 0., 0.);
	b->wake.data = b;
	ev_timer_init(&b->defer, defer_cb, 0., 0.);
	b->defer.data = b;
	ev_timer_init(&b->save, save_cb, 0., 0.);
	b->save.data = b;
	return b;
}

void
acme_budget_free(struct acme_budget *b)
{
	struct acme_ticket *t, *next;

	if (b == NULL)
		return;
	if (b->dirty)
		budget_save(b);
	ev_timer_stop(b->env->loop, &b->wake);
	ev_timer_stop(b->env->loop, &b->defer);
	ev_timer_stop(b->env->loop, &b->save);
	/* Waiters belong to orders, which are cancelled before the account. */
	for (t = b->head; t; t = next) {
		next = t->next;
		t->b = NULL;
	}
	rate_window_free(&b->per);
	rate_window_free(&b->rps);
	free(b->name);
	free(b);
}

void
acme_budget_set_params(struct acme_budget *b, const struct acme_budget_params *p)
{
	double now = ev_now(b->env->loop);

	if (p->per_count != b->p.per_count || p->per_seconds != b->p.per_seconds)
		rate_window_resize(&b->per, p->per_count, (double)p->per_seconds, now);
	if (p->requests_per_second != b->p.requests_per_second)
		rate_window_resize(&b->rps, p->requests_per_second, 1.0, now);
	b->p = *p;
	budget_later(b);
}

void
acme_budget_starting(struct acme_budget *b, int delta)
{
	b->starting += delta;
	if (b->starting < 0)
		b->starting = 0;
	if (delta < 0)
		budget_later(b);
}

struct acme_ticket *
acme_ticket_wait(struct acme_budget *b, bool first, acme_ticket_cb cb, void *arg)
{
	struct acme_ticket *t = xcalloc(1, sizeof(*t));

	t->b = b;
	t->cb = cb;
	t->arg = arg;
	if (first) {
		t->next = b->head;
		b->head = t;
		if (b->tail == NULL)
			b->tail = t;
	} else if (b->tail) {
		b->tail->next = t;
		b->tail = t;
	} else {
		b->head = b->tail = t;
	}
	b->nwaiting++;
	/* Granted at once when nothing is exhausted: no callback. */
	if (b->head == t && budget_can_grant(b, ev_now(b->env->loop)))
		grant_head(b);
	if (!t->granted)
		budget_arm(b);
	return t;
}

bool
acme_ticket_granted(const struct acme_ticket *t)
{
	return t != NULL && t->granted;
}

void
acme_ticket_done(struct acme_ticket *t)
{
	struct acme_budget *b;

	if (t == NULL)
		return;
	if ((b = t->b) == NULL) {
		free(t);
		return;
	}
	if (t->granted) {
		b->in_flight--;
		rate_window_put(&b->per, ev_now(b->env->loop));
		if (b->p.per_count > 0)
			budget_changed(b);
	} else {
		struct acme_ticket **pp;

		for (pp = &b->head; *pp; pp = &(*pp)->next) {
			if (*pp == t) {
				*pp = t->next;
				b->nwaiting--;
				break;
			}
		}
		for (b->tail = b->head; b->tail && b->tail->next; b->tail = b->tail->next)
			;
	}
	free(t);
	budget_later(b);
}

bool
acme_budget_note_reply(struct acme_budget *b, const struct http_response *r,
    const struct acme_problem *p)
{
	double now = ev_now(b->env->loop), pause;
	long long ra = 0;
	bool have_ra = r->retry_after != NULL &&
	    http_parse_retry_after(r->retry_after, time(NULL), &ra) == 0;
	char d[64], at[32];
	char *what;

	if (!acme_problem_is(p, "rateLimited") &&
	    !((r->status == 503 || r->status == 429) && have_ra))
		return false;
	pause = have_ra ? (double)(ra > 0 ? ra : 1) : PAUSE_DEFAULT;
	if (pause > PAUSE_MAX)
		pause = PAUSE_MAX;
	/* Several orders refused at once ask for about the same pause: one
	 * line for all of them. */
	if (b->paused_until > 0 && now + pause <= b->paused_until + 1.0) {
		budget_arm(b);
		return true;
	}
	what = p ? acme_problem_format(p) : xasprintf("HTTP %ld", r->status);
	if (b->paused_until <= 0) {
		duration_format(pause, d, sizeof(d));
		time_format_rfc3339(time(NULL) + (time_t)pause, at, sizeof(at));
		log_warn("account %s: the CA asks to slow down (%s); no new order for %s "
		    "(until %s%s), orders under way go on", b->name, what, d, at,
		    have_ra ? ", its Retry-After" : ", no Retry-After given");
	} else {
		time_format_rfc3339(time(NULL) + (time_t)pause, at, sizeof(at));
		log_debug("account %s: the pause of new orders lengthened to %s (%s)", b->name,
		    at, what);
	}
	free(what);
	b->paused_until = now + pause;
	budget_arm(b);
	budget_changed(b);
	return true;
}

time_t
acme_budget_paused_until(const struct acme_budget *b)
{
	double now = ev_now(b->env->loop);

	if (b->paused_until <= now)
		return 0;
	return time(NULL) + (time_t)(b->paused_until - now + 0.999);
}

double
acme_budget_post_delay(struct acme_budget *b)
{
	double now = ev_now(b->env->loop), next;

	if (b->p.requests_per_second == 0)
		return 0;
	if (rate_window_available(&b->rps, now) > 0) {
		rate_window_spend(&b->rps, now);
		return 0;
	}
	next = rate_window_next(&b->rps, now);
	/* A little spread: the waiters woken at one token do not all collide. */
	return (next > now ? next - now : 0.) + 0.001;
}

/* ---- what the fleet asks (acme.h) ---- */

enum acme_budget_block
acme_new_order_room(struct acme_account *a, time_t *when)
{
	struct acme_budget *b = acme_account_budget(a);
	double now = ev_now(b->env->loop);
	int ahead = b->starting + b->nwaiting;

	*when = 0;
	if (b->paused_until > now) {
		*when = acme_budget_paused_until(b);
		return ACME_BUDGET_PAUSED;
	}
	if (b->p.new_orders_in_flight > 0 && ahead >= b->p.new_orders_in_flight)
		return ACME_BUDGET_IN_FLIGHT;
	if (b->p.per_count > 0 && rate_window_available(&b->per, now) <= ahead) {
		double next = rate_window_next(&b->per, now);

		/* Woken when the token comes back, to start the next order. */
		if (!ev_is_active(&b->wake))
			budget_arm(b);
		if (next > now)
			*when = time(NULL) + (time_t)(next - now + 0.999);
		return ACME_BUDGET_PER;
	}
	return ACME_BUDGET_OPEN;
}

void
acme_budget_status(struct acme_account *a, struct acme_budget_status *s)
{
	struct acme_budget *b = acme_account_budget(a);
	double now = ev_now(b->env->loop), next;

	memset(s, 0, sizeof(*s));
	s->params = b->p;
	s->in_flight = b->in_flight;
	s->waiting = b->nwaiting;
	s->starting = b->starting;
	if (b->p.per_count > 0) {
		s->per_left = rate_window_available(&b->per, now);
		next = b->per.n > 0 ? b->per.t[b->per.head] + b->per.period : -1;
		if (next > now)
			s->next_token = time(NULL) + (time_t)(next - now + 0.999);
	}
	s->paused_until = acme_budget_paused_until(b);
}

void
acme_account_set_room_cb(struct acme_account *a, acme_budget_room_cb cb, void *arg)
{
	struct acme_budget *b = acme_account_budget(a);

	b->room_cb = cb;
	b->room_arg = arg;
}
