/*
 * fleet_queue.c - the queue of due certificates: who may start now under
 * the fleet's and each account's max_inflight and the accounts' request
 * budgets (acme_budget.c in the engine), and what status, STATUS= and
 * /metrics say about those that wait.
 *
 * Due certificates wait in one FIFO (cert_rt.qnext) and start in order
 * (fleet_cert_start in fleet.c) as room opens; one held back by its
 * account's limits keeps its place, and those behind it that may start
 * do.  A certificate the CA's pause deferred goes back first
 * (fleet_cert_requeue_first): it already waited its turn.
 *
 * The engine paces every newOrder; the fleet keeps the orders it would
 * only hold back in its queue, in order, so they take none of the fleet's
 * max_inflight slots while they wait (one account paused for hours must
 * not starve the others).  An order resumed from the store (its URL known)
 * sends no newOrder and starts whatever the budget says.
 */
#include <string.h>

#include <ev.h>

#include "fleet_internal.h"
#include "json.h"
#include "metrics.h"
#include "util.h"

/* ---- who may start ---- */

/* Whether r's attempt will send a newOrder: not when it resumes a stored
 * order, nor when it installs a held certificate. */
static bool
needs_new_order(const struct cert_rt *r)
{
	return r->st.order_url == NULL && r->st.held_serial == NULL;
}

/* Whether r may start now as far as its account's request budgets go
 * (ACME_BUDGET_OPEN), else which one holds it and until when (0: until a
 * newOrder in flight is answered). */
static enum acme_budget_block
fleet_cert_budget(struct cert_rt *r, time_t *when)
{
	*when = 0;
	enum acme_budget_block k;

	if (!needs_new_order(r) || r->acct == NULL || r->acct->acme == NULL)
		return ACME_BUDGET_OPEN;
	k = acme_new_order_room(r->acct->acme, when);
	/* --once: a pause past its deadline is not waited for; the order
	 * fails at once as rate-limited (acme_gate.c) and is given up. */
	if (k == ACME_BUDGET_PAUSED && r->f->once && *when > r->f->once_deadline)
		return ACME_BUDGET_OPEN;
	return k;
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
		int amax = r->acct->cfg->max_inflight > 0 ? r->acct->cfg->max_inflight : 256;

		if (f->draining || f->inflight >= fleet_max_inflight(f))
			break;
		time_t when;

		/* Held back by its account's limits: it keeps its place. */
		if (r->acct->inflight >= amax || fleet_cert_budget(r, &when) != ACME_BUDGET_OPEN) {
			f->qtail = r;
			pp = &r->qnext;
			continue;
		}
		*pp = r->qnext;
		r->qnext = NULL;
		r->queued = false;
		fleet_cert_start(r);
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
	r->queued_since = time(NULL);
	r->qseq = ++f->qseq;
	r->qnext = NULL;
	if (f->qtail)
		f->qtail->qnext = r;
	else
		f->qhead = r;
	f->qtail = r;
}

/* Back ahead of everything queued after it: the entries before it are
 * others deferred with it, or held back by their own budget, and stay
 * ahead. */
void
fleet_cert_requeue_first(struct cert_rt *r)
{
	struct fleet *f = r->f;
	struct cert_rt **pp;

	if (r->queued || r->job || r->hook || ev_is_active(&r->settle) || f->draining)
		return;
	r->queued = true;
	r->queued_since = time(NULL);
	for (pp = &f->qhead; *pp && (*pp)->qseq < r->qseq; pp = &(*pp)->qnext)
		;
	r->qnext = *pp;
	*pp = r;
	if (r->qnext == NULL)
		f->qtail = r;
}

void
fleet_queue_remove(struct fleet *f, struct cert_rt *r)
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

/* ---- when an account's budget opens ---- */

static void
room_cb(void *arg)
{
	fleet_queue_run(arg);
}

void
fleet_budget_watch(struct fleet *f, struct acct_rt *a)
{
	acme_account_set_room_cb(a->acme, room_cb, f);
}

/* ---- what waits, for status and /metrics ---- */

/* What waits for account a: the queued certificates held back by its
 * budget (the block named in *block, its end in *when) and those queued
 * behind max_inflight. */
static void
acct_waiting(struct fleet *f, struct acct_rt *a, enum acme_budget_block *block, time_t *when,
    int *by_budget, int *by_inflight)
{
	*by_budget = *by_inflight = 0;
	*block = acme_new_order_room(a->acme, when);
	for (const struct cert_rt *r = f->qhead; r; r = r->qnext) {
		if (r->acct != a)
			continue;
		if (*block != ACME_BUDGET_OPEN && needs_new_order(r))
			(*by_budget)++;
		else
			(*by_inflight)++;
	}
}

struct json *
fleet_budgets_json(struct fleet *f)
{
	struct json *arr = json_new_array();

	for (size_t i = 0; i < f->naccts; i++) {
		struct acct_rt *a = f->accts[i];
		struct acme_budget_status s;
		enum acme_budget_block block;
		time_t when;
		int nb, ni;
		struct json *o = json_new_object(), *w;

		acme_budget_status(a->acme, &s);
		acct_waiting(f, a, &block, &when, &nb, &ni);
		json_set_str(o, "account", a->cfg->name);
		json_set_num(o, "max_inflight", a->cfg->max_inflight);
		json_set_num(o, "in_flight", a->inflight);
		if (s.params.new_orders_in_flight > 0)
			json_set_num(o, "new_orders_in_flight", s.params.new_orders_in_flight);
		json_set_num(o, "new_orders_sending", s.in_flight);
		if (s.params.per_count > 0) {
			char d[64], *rate;

			duration_format((double)s.params.per_seconds, d, sizeof(d));
			rate = xasprintf("%d/%s", s.params.per_count, d);
			json_set_str(o, "new_orders_per", rate);
			free(rate);
			json_set_num(o, "new_orders_left", s.per_left);
			json_set_time(o, "next_token", s.next_token);
		}
		if (s.params.requests_per_second > 0)
			json_set_num(o, "requests_per_second", s.params.requests_per_second);
		json_set_time(o, "paused_until", s.paused_until);
		json_set_str(o, "blocked_by", block == ACME_BUDGET_OPEN ? NULL :
		    acme_budget_block_name(block));
		json_set_time(o, "opens_at", when);
		w = json_set_object(o, "waiting");
		/* Queued, by what holds them; and started orders waiting
		 * inside the engine for their newOrder ticket. */
		for (int k = ACME_BUDGET_IN_FLIGHT; k < ACME_BUDGET__MAX; k++)
			json_set_num(w, acme_budget_block_name((enum acme_budget_block)k),
			    k == (int)block ? nb : 0);
		json_set_num(w, "max_inflight", ni);
		json_set_num(w, "new_order_ticket", s.waiting);
		json_push(arr, o);
	}
	return arr;
}

void
fleet_budget_line(struct fleet *f, struct buf *b)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < f->naccts; i++) {
		enum acme_budget_block block;
		time_t when;
		int nb, ni;
		char d[64];

		acct_waiting(f, f->accts[i], &block, &when, &nb, &ni);
		if (block == ACME_BUDGET_OPEN || nb == 0)
			continue;
		buf_appendf(b, "; %d waiting for %s's %s", nb, f->accts[i]->cfg->name,
		    acme_budget_block_name(block));
		if (when > 0) {
			duration_format((double)(when > now ? when - now : 0), d, sizeof(d));
			buf_appendf(b, block == ACME_BUDGET_PAUSED ? " (ends in %s)" :
			    " (next token in %s)", d);
		}
	}
}

void
fleet_budget_metrics(struct fleet *f, struct buf *b)
{
	const char *kv[4];

	metrics_family(b, "certfleet_orders_waiting", METRICS_GAUGE,
	    "Certificates due and queued, per account and what holds them back: a budget "
	    "(new_orders_in_flight, new_orders_per, paused) or max_inflight.");
	kv[0] = "account";
	kv[2] = "budget";
	for (size_t i = 0; i < f->naccts; i++) {
		enum acme_budget_block block;
		time_t when;
		int nb, ni;

		acct_waiting(f, f->accts[i], &block, &when, &nb, &ni);
		kv[1] = f->accts[i]->cfg->name;
		for (int k = ACME_BUDGET_IN_FLIGHT; k < ACME_BUDGET__MAX; k++) {
			kv[3] = acme_budget_block_name((enum acme_budget_block)k);
			metrics_sample_kv(b, "certfleet_orders_waiting", kv, 2,
			    k == (int)block ? (double)nb : 0);
		}
		kv[3] = "max_inflight";
		metrics_sample_kv(b, "certfleet_orders_waiting", kv, 2, (double)ni);
	}
}
