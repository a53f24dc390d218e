/*
 * fleet_queue.c - the queue of due certificates: who may start now under
 * the fleet's and each account's max_inflight and the accounts' request
 * budgets (acme_budget.c in the engine), and what status, STATUS= and
 * /metrics say about those that wait.
 *
 * Due certificates wait in the order they came (cert_rt.qseq) and start
 * in that order (fleet_cert_start in fleet.c) as room opens; one held
 * back by its account's limits keeps its place, and those behind it that
 * may start do.  A certificate the CA's pause deferred goes back in its
 * old place (fleet_cert_requeue_first): it already waited its turn.
 *
 * The order is kept in two FIFOs per account, one of the certificates
 * whose attempt sends a newOrder and one of those that do not, so that
 * what an account's limits hold back is held back as a whole: a start
 * looks at each account's two heads, never at the certificates behind
 * them.  One FIFO for the whole fleet made every run walk the queue, and a
 * fleet of 20,000 due at once spent most of its CPU there (and a SIGTERM
 * took seconds to empty it).
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

/* Whether a's request budgets let an attempt send a newOrder now
 * (ACME_BUDGET_OPEN), else which one holds it and until when (0: until a
 * newOrder in flight is answered). */
static enum acme_budget_block
acct_budget(const struct fleet *f, const struct acct_rt *a, time_t *when)
{
	enum acme_budget_block k;

	*when = 0;
	if (a->acme == NULL)
		return ACME_BUDGET_OPEN;
	k = acme_new_order_room(a->acme, when);
	/* --once: a pause past its deadline is not waited for; the order
	 * fails at once as rate-limited (acme_gate.c) and is given up. */
	if (k == ACME_BUDGET_PAUSED && f->once && *when > f->once_deadline)
		return ACME_BUDGET_OPEN;
	return k;
}

static int
fleet_max_inflight(const struct fleet *f)
{
	return f->cfg->max_inflight > 0 ? f->cfg->max_inflight : 256;
}

static int
acct_max_inflight(const struct acct_rt *a)
{
	return a->cfg->max_inflight > 0 ? a->cfg->max_inflight : 256;
}

/* ---- the queues: one pair per account, each in qseq order ---- */

/* The queue r belongs in now (a certificate always has its account: the
 * configuration refuses a certificate naming an account it lacks). */
static struct cert_queue *
queue_of(struct cert_rt *r)
{
	return needs_new_order(r) ? &r->acct->q_new : &r->acct->q_resume;
}

static void
queue_unlink(struct cert_rt *r)
{
	struct cert_queue *q = r->q;

	if (r->qprev)
		r->qprev->qnext = r->qnext;
	else
		q->head = r->qnext;
	if (r->qnext)
		r->qnext->qprev = r->qprev;
	else
		q->tail = r->qprev;
	q->n--;
	r->qprev = r->qnext = NULL;
	r->q = NULL;
}

/* Links r into q before the first entry with a larger qseq: at the tail
 * for a newcomer (the largest qseq yet) at once; one coming back (a
 * deferred order, older than most of what is queued) is placed by a walk
 * from the head, which ends among the few older than it. */
static void
queue_insert(struct cert_queue *q, struct cert_rt *r)
{
	struct cert_rt *after = q->tail;

	if (after != NULL && after->qseq > r->qseq) {
		after = NULL;
		for (struct cert_rt *c = q->head; c != NULL && c->qseq < r->qseq; c = c->qnext)
			after = c;
	}
	r->qprev = after;
	r->qnext = after ? after->qnext : q->head;
	if (r->qnext)
		r->qnext->qprev = r;
	else
		q->tail = r;
	if (after)
		after->qnext = r;
	else
		q->head = r;
	r->q = q;
	q->n++;
}

/* The oldest of a's queued certificates that may start now, or NULL. */
static struct cert_rt *
acct_next(struct fleet *f, struct acct_rt *a)
{
	struct cert_rt *r = a->q_resume.head, *n = a->q_new.head;
	time_t when;

	if (a->inflight >= acct_max_inflight(a))
		return NULL;
	/* Classified when queued; should a stored order have gone meanwhile,
	 * it waits for the budget like any other newOrder. */
	while (r != NULL && needs_new_order(r)) {
		queue_unlink(r);
		queue_insert(&a->q_new, r);
		r = a->q_resume.head;
		n = a->q_new.head;
	}
	if (n != NULL && (r == NULL || n->qseq < r->qseq) &&
	    acct_budget(f, a, &when) == ACME_BUDGET_OPEN)
		return n;
	return r;
}

void
fleet_queue_run(struct fleet *f)
{
	while (!f->draining && f->inflight < fleet_max_inflight(f)) {
		struct cert_rt *best = NULL;

		for (size_t i = 0; i < f->naccts; i++) {
			struct cert_rt *r = acct_next(f, f->accts[i]);

			if (r != NULL && (best == NULL || r->qseq < best->qseq))
				best = r;
		}
		if (best == NULL)
			break;
		queue_unlink(best);
		best->queued = false;
		fleet_cert_start(best);
	}
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
	queue_insert(queue_of(r), r);
}

/* Back ahead of everything queued after it: the entries before it are
 * others deferred with it, or held back by their own budget, and stay
 * ahead. */
void
fleet_cert_requeue_first(struct cert_rt *r)
{
	struct fleet *f = r->f;

	if (r->queued || r->job || r->hook || ev_is_active(&r->settle) || f->draining)
		return;
	r->queued = true;
	r->queued_since = time(NULL);
	queue_insert(queue_of(r), r);
}

size_t
fleet_queued(const struct fleet *f)
{
	size_t n = 0;

	for (size_t i = 0; i < f->naccts; i++)
		n += f->accts[i]->q_new.n + f->accts[i]->q_resume.n;
	return n;
}

void
fleet_queue_remove(struct cert_rt *r)
{
	if (!r->queued)
		return;
	queue_unlink(r);
	r->queued = false;
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
	*block = acct_budget(f, a, when);
	*by_budget = *block != ACME_BUDGET_OPEN ? (int)a->q_new.n : 0;
	*by_inflight = (int)a->q_resume.n + (*block == ACME_BUDGET_OPEN ? (int)a->q_new.n : 0);
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
