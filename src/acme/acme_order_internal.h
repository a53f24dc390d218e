/*
 * acme_order_internal.h - the order job and its authorizations, shared by
 * acme_order.c (the order), acme_authz.c (its authorizations) and
 * acme_gate.c (the pool's gates and the request budget on the way).
 */
#ifndef CERTFLEET_ACME_ORDER_INTERNAL_H
#define CERTFLEET_ACME_ORDER_INTERNAL_H

#include <ev.h>

#include "acme.h"
#include "log.h"

/* A pause at one of order_ops.gate's points: the job's own, or one
 * authorization's (CHALLENGE). */
struct order_gate {
	struct order_job *job;
	struct authz_rt *az;        /* CHALLENGE: its authorization; NULL otherwise */
	bool open;                  /* handed to ops->gate, not yet done */
	bool ok;
	char *error;
};

/* One authorization's progress; authz_step() in acme_authz.c holds the
 * one switch over it and says what each state leads to. */
enum authz_state {
	AUTHZ_FETCH,      /* first fetch of the authorization in flight */
	AUTHZ_PUBLISH,    /* the challenge response being published */
	AUTHZ_SHARE,      /* the caller sharing it with its pool (ORDER_GATE_CHALLENGE) */
	AUTHZ_RESPOND,    /* the POST answering the challenge in flight */
	AUTHZ_POLL,       /* waiting to fetch it again, or fetching it */
	AUTHZ_VALID,      /* valid: counted in the job's nauthz_done */
	AUTHZ_STATE__MAX
};
/* The state's name, "?" for none; static, not to be freed. */
const char *authz_state_name(enum authz_state s);

struct authz_rt {
	struct order_job *job;
	char *url;
	char *identifier;
	enum authz_state state;
	struct challenge_solver *solver;  /* published response, removed when done */
	char *challenge_url;
	char *challenge_type;
	char *challenge_token;            /* http-01's token; NULL for other types */
	bool challenge_triggered;         /* already processing at the CA (resumed) */
	struct acme_call *call;
	ev_timer timer;
	double interval;
	int wait_logged;                  /* 1 + the status last announced as a wait, 0 none */
	/* What the last completion brought to authz_step(): */
	bool done;                        /* a completion, not an entry */
	const struct acme_reply *reply;   /* its HTTP reply (that call only) or NULL */
	bool publish_ok;                  /* challenge_publish's outcome */
	struct order_gate gate;           /* AUTHZ_SHARE */
	char *token;                      /* http-01 shared with the pool: for challenge_gone */
	const char *publish_error;
};

struct order_job {
	struct acme_env *env;
	struct acme_account *acct;
	/* The caller's parameters (order_params), owned copies: */
	char *name;
	struct strlist domains;
	enum key_type key_type;
	char *profile;
	char *preferred_chain;
	struct challenge_settings challenge;
	char *resume_url;           /* a stored order to resume, until resumed */
	bool resume_finalized;
	privkey_t *resume_key;
	enum order_state state;     /* changed only by job_enter() */
	time_t state_since;         /* wall clock of the last change */
	const struct order_ops *ops; /* progress and outcome go out through these */
	void *arg;

	struct acme_waiter *waiter;
	struct acme_ticket *ticket;  /* the newOrder ticket (acme_budget.h) */
	bool budget_starting;       /* counted as starting until it asks for one */
	bool ticket_first;          /* ask ahead of the others (it waited already) */
	time_t pause_limit;         /* order_params.pause_limit */
	struct workpool_job *keygen;
	struct acme_call *call;
	ev_timer timer;
	double interval;
	double deadline;            /* ev_now() limit for the whole order */
	bool resumed;
	bool finalize_sent;
	double finalize_since;      /* ev_now() of our finalize, or of resuming a finalized order */
	bool finalize_gated;        /* the FINALIZE gate passed: POST now */
	enum order_gate_point gate_point; /* ORDER_GATE */
	struct order_gate gate;
	ev_timer finalize_wait;     /* says once that a finalize is taking long */
	bool finalize_logged;
	int wait_logged;            /* 1 + the acme_status last announced as a wait, 0 none */
	char *replaces;
	struct acme_chain_pick *chain_pick;  /* fetching alternate chains */

	privkey_t *key;
	char *order_url;
	struct acme_order order;
	struct authz_rt *authz;
	size_t nauthz;
	size_t nauthz_done;
	struct order_result result;
	/* What the last completion brought to order_step(): */
	bool done;                  /* a completion, not an entry */
	const struct acme_reply *reply; /* its HTTP reply (that call only) or NULL */
	bool account_ok;            /* the account waiter's outcome */
	const char *account_error;
};

/* A log line about the job's certificate: "NAME: " + the message, with the
 * account and the order URL (once known) as journal fields (log.h). */
#define job_log(j, level, ev, ...) \
	log_fields_msg((level), &(const struct log_fields){ .cert = (j)->name, \
	    .account = acme_account_name((j)->acct), .order = (j)->order_url, .event = (ev) }, \
	    __VA_ARGS__)

/* acme_order.c */
/* The order machine: the one switch over enum order_state.  Completions
 * store their result in the job, set j->done and call it. */
void order_step(struct order_job *j);
void job_fail(struct order_job *j, struct acme_problem *problem, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fail_reply(struct order_job *j, const struct acme_reply *r, const char *what,
    const char *url);
bool deadline_passed(struct order_job *j);
double next_poll_delay(const struct acme_reply *r, double *interval);
/* Logs once per state (logged holds 1 + the status announced last) that
 * what (an order or authorization URL) is in status and checked again in
 * delay seconds, when the CA said so with Retry-After. */
void wait_announce(const char *name, const char *what, const char *url, int status,
    const struct acme_reply *r, double delay, int *logged);
/* Ends the job deferred, not failed: the account's new orders are paused
 * (the caller queues it again for when the pause ends).  Frees j. */
void job_defer(struct order_job *j);
/* Every authorization is valid: re-enters the order machine. */
void order_authorized(struct order_job *j);
/* The order is spent or gone: the caller drops it (ops->forget). */
void forget_order(struct order_job *j);

/* acme_gate.c */
/* Hands g to ops->gate for what; false when the caller has no gates. */
bool order_gate_open(struct order_job *j, struct order_gate *g, struct authz_rt *az,
    enum order_gate_point what, const char *token, const char *keyauth);
/* Closes g if open (ops->gate_cancel) and frees its error. */
void order_gate_close(struct order_gate *g);
/* Counts j as an order about to want a newOrder ticket (starting) in its
 * account's budget, or no longer (acme_new_order_room); a no-op when it
 * is already so. */
void order_budget_starting(struct order_job *j, bool starting);
/* ORDER_BUDGET entered: asks for the newOrder ticket.  True when it is
 * granted at once; false when the ticket is awaited (order_step() is
 * re-entered once granted) or the job ended (failed: paused past
 * pause_limit; deferred: paused) and is freed. */
bool order_budget_ask(struct order_job *j);
/* Gives the newOrder ticket back, if any. */
void order_ticket_drop(struct order_job *j);
/* The newOrder was answered with r: its ticket is given back.  True when r
 * is the refusal of an account paused at the CA's request and the job was
 * deferred (freed); false: order_step() reads r. */
bool order_budget_answered(struct order_job *j, const struct acme_reply *r);

/* acme_authz.c */
/* Re-enters the authorization machine of a gate just done. */
void authz_gate_done(struct authz_rt *az);
void authz_cleanup(struct authz_rt *az);
void start_authorizations(struct order_job *j);

#endif
