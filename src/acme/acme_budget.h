/*
 * acme_budget.h - inside the ACME engine: one account's request budgets
 * (acme_budget.c), used by the account (which owns it), its transport
 * (acme_client.c: requests_per_second, and the pause a rateLimited answer
 * asks for) and the order machine (acme_gate.c: a newOrder ticket before
 * each newOrder POST).  What the fleet sees is in acme.h.
 */
#ifndef CERTFLEET_ACME_BUDGET_H
#define CERTFLEET_ACME_BUDGET_H

#include <stdbool.h>

#include "acme.h"

/*
 * A sliding window of `count` tokens: each token spent comes back `period`
 * seconds after it was given back (put), so no window of `period` seconds
 * ever holds more than `count` spends.  A token taken and not yet put
 * (a request in flight) is held: it counts as spent until put.  Times are
 * the caller's clock (ev_now()), non-decreasing.  Pure arithmetic, no loop.
 */
struct rate_window {
	int count;                  /* 0: unlimited */
	double period;
	double *t;                  /* ring of put times, oldest first */
	int head, n;
	int held;
};
void rate_window_init(struct rate_window *w, int count, double period);
void rate_window_free(struct rate_window *w);
/* Tokens free at now (count when unlimited: INT_MAX). */
int rate_window_available(struct rate_window *w, double now);
void rate_window_take(struct rate_window *w);
void rate_window_put(struct rate_window *w, double now);
/* take + put at once: a spend with no flight (a request sent). */
void rate_window_spend(struct rate_window *w, double now);
/* When the next token comes back: now when one is free, -1 when none
 * will until a held one is put. */
double rate_window_next(struct rate_window *w, double now);
/* Changes count and period (a reload), keeping the spends still in the
 * new window (the most recent ones) and the held count. */
void rate_window_resize(struct rate_window *w, int count, double period, double now);

struct acme_budget;
/* name: the account's, for the log line of a pause (copied). */
struct acme_budget *acme_budget_new(struct acme_env *env, const char *name,
    const struct acme_budget_params *p);
void acme_budget_free(struct acme_budget *b);
/* Reads what the store kept of the budget (the spends still inside
 * new_orders_per's window, a pause not over) and saves it from then on;
 * a record that cannot be read is logged and the budget starts empty.
 * store NULL, or without load_budget/save_budget: in memory only. */
void acme_budget_attach_store(struct acme_budget *b, const struct acme_account_store *store,
    void *store_arg);
void acme_budget_set_params(struct acme_budget *b, const struct acme_budget_params *p);
/* The account's budget (acme_account.c). */
struct acme_budget *acme_account_budget(const struct acme_account *a);

/* An order started that will want a ticket (+1) or no longer will (-1):
 * counted by the fleet's admission (acme_new_order_room). */
void acme_budget_starting(struct acme_budget *b, int delta);

/*
 * A newOrder ticket: one slot of new_orders_in_flight and one token of
 * new_orders_per, granted first come first served (first: ahead of every
 * waiter, for an order refused by a pause that already waited its turn)
 * when neither is exhausted and the account is not paused.  When granted
 * at once, acme_ticket_granted() says so and cb is never called;
 * otherwise cb is called from the loop once it is.  done gives it back
 * (after the newOrder's answer, or unused): its token comes back a period
 * later.  done(NULL) is fine.
 */
struct acme_ticket;
typedef void (*acme_ticket_cb)(void *arg);
struct acme_ticket *acme_ticket_wait(struct acme_budget *b, bool first, acme_ticket_cb cb,
    void *arg);
bool acme_ticket_granted(const struct acme_ticket *t);
void acme_ticket_done(struct acme_ticket *t);

/* The answer r (with its parsed problem, or NULL) to one of the account's
 * requests: a rateLimited problem, or a 429 or 503 with Retry-After, pauses
 * the account's new orders until then (logged once per pause).  True when
 * it did (or the pause it asked for was already on). */
bool acme_budget_note_reply(struct acme_budget *b, const struct http_response *r,
    const struct acme_problem *p);
/* The wall-clock end of the pause, 0 when none. */
time_t acme_budget_paused_until(const struct acme_budget *b);

/* requests_per_second: 0 when a signed POST may go now (counted), else the
 * seconds to wait before asking again. */
double acme_budget_post_delay(struct acme_budget *b);

#endif
