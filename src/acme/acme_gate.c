/*
 * acme_gate.c - what the order machine (acme_order.c) waits for from
 * others than the CA: the caller's pool at each gate point, and the
 * account's request budget before each newOrder.
 *
 * Gates (order_ops.gate): at ORDER_GATE_CREATED, ORDER_GATE_FINALIZE and
 * (per authorization) ORDER_GATE_CHALLENGE the caller records the step in
 * its pool before the engine relies on it; order_gate_done() brings the
 * answer back into the job's or the authorization's machine.  A caller
 * without gates (no ops->gate) is never asked.
 *
 * The budget (acme_budget.h): an order that will send a newOrder counts as
 * starting from order_start() until it asks; it then waits for a newOrder
 * ticket, or ends deferred while the CA pauses the account, and gives the
 * ticket back once the newOrder is answered.  What each outcome leads to
 * is still decided by order_step()'s one switch.
 */
#include <string.h>

#include "acme.h"
#include "acme_budget.h"
#include "acme_order_internal.h"
#include "util.h"

/* ---- gates (order_ops.gate): the caller's remote record, before the
 * engine relies on it ---- */

/* Hands g to the caller; false when there is no gate to pass (no
 * ops->gate): go on at once. */
bool
order_gate_open(struct order_job *j, struct order_gate *g, struct authz_rt *az,
    enum order_gate_point what, const char *token, const char *keyauth)
{
	if (j->ops->gate == NULL)
		return false;
	free(g->error);
	memset(g, 0, sizeof(*g));
	g->job = j;
	g->az = az;
	g->open = true;
	j->ops->gate(j->arg, what, token, keyauth, g);
	return true;
}

void
order_gate_done(struct order_gate *g, bool ok, const char *error)
{
	if (g == NULL || !g->open)
		return;
	g->open = false;
	g->ok = ok;
	free(g->error);
	g->error = ok ? NULL : xstrdup(error ? error : "the pool refused");
	if (g->az != NULL) {
		authz_gate_done(g->az);
		return;
	}
	g->job->done = true;
	order_step(g->job);
}

void
order_gate_close(struct order_gate *g)
{
	if (g->open && g->job != NULL && g->job->ops->gate_cancel != NULL)
		g->job->ops->gate_cancel(g->job->arg, g);
	g->open = false;
	free(g->error);
	g->error = NULL;
}

/* ---- the account's request budget (ORDER_BUDGET) ---- */

void
order_budget_starting(struct order_job *j, bool starting)
{
	if (j->budget_starting == starting)
		return;
	j->budget_starting = starting;
	acme_budget_starting(acme_account_budget(j->acct), starting ? 1 : -1);
}

static void
ticket_cb(void *arg)
{
	struct order_job *j = arg;

	j->done = true;
	order_step(j);
}

bool
order_budget_ask(struct order_job *j)
{
	struct acme_budget *b = acme_account_budget(j->acct);
	time_t until = acme_budget_paused_until(b);

	order_budget_starting(j, false);
	/* A pause longer than the caller can wait (--once) fails
	 * the order as the CA's rate limit would. */
	if (until > 0 && j->pause_limit > 0 && until > j->pause_limit) {
		j->result.status = 429;
		j->result.retry_after = (long long)(until - time(NULL));
		j->result.problem_type = xstrdup("urn:ietf:params:acme:error:rateLimited");
		job_fail(j, NULL, "account %s: new orders paused at the CA's request "
		    "for %llds more; no newOrder sent", acme_account_name(j->acct),
		    j->result.retry_after);
		return false;
	}
	/* Paused: the caller's queue keeps it, not a wait here. */
	if (until > 0) {
		job_defer(j);
		return false;
	}
	j->ticket = acme_ticket_wait(b, j->ticket_first, ticket_cb, j);
	j->ticket_first = false;
	return acme_ticket_granted(j->ticket);
}

void
order_ticket_drop(struct order_job *j)
{
	acme_ticket_done(j->ticket);
	j->ticket = NULL;
}

bool
order_budget_answered(struct order_job *j, const struct acme_reply *r)
{
	order_ticket_drop(j);
	if (r->status != 201 && acme_budget_paused_until(acme_account_budget(j->acct)) > 0 &&
	    (acme_problem_is(r->problem, "rateLimited") ||
	    ((r->status == 503 || r->status == 429) && r->http->retry_after != NULL))) {
		time_t until = acme_budget_paused_until(acme_account_budget(j->acct));

		/* The account's pause (logged once, by the budget) holds
		 * every new order; this one is ordered again when it ends,
		 * no failure counted, unless it cannot wait that long. */
		if (j->pause_limit == 0 || until <= j->pause_limit) {
			job_defer(j);
			return true;
		}
	}
	return false;
}
