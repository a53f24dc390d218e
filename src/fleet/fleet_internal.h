/*
 * fleet_internal.h - the fleet's runtime structures and the functions its
 * files call in one another (fleet.c, fleet_sched.c, fleet_hooks.c,
 * fleet_queue.c, fleet_held.c, fleet_retry.c, fleet_ari.c, fleet_ops.c,
 * fleet_report.c); every such name starts with fleet_.
 */
#ifndef CERTFLEET_FLEET_INTERNAL_H
#define CERTFLEET_FLEET_INTERNAL_H

#include <ev.h>

#include "acme.h"
#include "log.h"
#include "fleet.h"
#include "hooks.h"
#include "store.h"
#include "util.h"

/* The hooks the fleet runs, counted per outcome for the metrics. */
enum fleet_hook { FLEET_HOOK_DEPLOY, FLEET_HOOK_POST, FLEET_HOOK__MAX };

/* A FIFO of queued certificates, in cert_rt.qseq order, linked through
 * cert_rt.qprev/qnext (fleet_queue.c). */
struct cert_queue {
	struct cert_rt *head, *tail;
	size_t n;
};

struct acct_rt {
	struct acme_account *acme;
	const struct config_account *cfg;
	int inflight;
	int ari;                    /* renewalInfo offered: -1 unknown, 0 no, 1 yes */
	/* Its queued certificates: those whose attempt sends a newOrder (held
	 * back by the budget too), and those that resume a stored order or
	 * install a held certificate (only max_inflight holds them back). */
	struct cert_queue q_new, q_resume;
};

struct cert_rt {
	struct fleet *f;
	const struct config_cert *cfg;
	struct acct_rt *acct;
	struct cert_state st;
	struct order_job *job;
	struct hook_run *hook;
	ev_periodic timer;
	double jitter_rand;         /* drawn once: a stable spot in the window */
	time_t next;                /* scheduled moment, 0 none */
	time_t ari_next;            /* next renewalInfo check, 0 none */
	struct acme_waiter *ari_waiter;
	struct http_req *ari_req;
	/* An attempt that ended without an order (preflight failure, held
	 * certificate installed or not) settles from this timer, outside
	 * fleet_queue_run; it counts as in flight meanwhile. */
	ev_timer settle;
	time_t queued_since;        /* for status: when it was queued */
	time_t hook_since;          /* for status: when the deploy hook started */
	int once_failures;          /* --once: failed attempts in this run */
	bool settle_ok;
	bool queued;
	bool force;
	bool failing;
	bool removed;               /* dropped by a reload while busy */
	bool once_retry;            /* --once: timer armed for a retry within the run */
	struct cert_rt *qprev, *qnext;
	struct cert_queue *q;       /* the queue it is in, while queued */
	/* A shared certificate (cluster.h): its side of the pool, and until
	 * when it waits for another host (its lock, etcd). */
	struct pool_cert *pool;
	time_t pool_wait;
	/* Its place in the queue, from fleet.qseq when it was queued: an order
	 * deferred goes back to the head in that place, so several deferred at
	 * once (a pause) keep their order. */
	unsigned long long qseq;
};

/* A log line about r: "NAME: " + the message, with its account and the
 * order in flight as journal fields (log.h). */
#define cert_log(r, level, ev, ...) \
	log_fields_msg((level), &(const struct log_fields){ .cert = (r)->cfg->name, \
	    .account = (r)->cfg->account_name, .order = (r)->st.order_url, .event = (ev) }, \
	    __VA_ARGS__)

/*
 * How the fleet drives orders: acme_order.c's functions, except in
 * tests/fleet/check_fleet.c, which replaces them with scripted orders to test the
 * queue limits and the post-hook batch without a CA (a CA fake enough for
 * the whole order machine would test the machine, not the fleet).
 */
struct fleet_order_ops {
	struct order_job *(*start)(struct acme_env *env, struct acme_account *a,
	    const struct order_params *p, const struct order_ops *ops, void *arg);
	void (*cancel)(struct order_job *j);
	void (*update)(struct order_job *j, const struct order_params *p);
	void (*progress)(const struct order_job *j, struct order_progress *p);
};

struct fleet {
	struct acme_env *env;
	struct store *store;        /* the state directory: certificates, accounts */
	const struct fleet_order_ops *order_ops;    /* never NULL */
	double post_debounce;       /* seconds without a renewal settling before the
	                             * post hook; tests shorten it */
	const struct config *cfg;
	bool once;
	bool draining;
	struct acct_rt **accts;
	size_t naccts;
	struct cert_rt **certs;
	size_t ncerts, certs_cap;
	struct namemap *by_name;    /* certs by cfg->name (namemap.h) */
	unsigned long long qseq;    /* the last cert_rt.qseq given */
	int inflight;
	unsigned hooks;
	unsigned long succeeded, failed;
	fleet_idle_cb idle_cb;
	void *idle_arg;
	ev_idle idle_check;
	ev_idle resched;            /* rescheduling after a reload, in chunks */
	size_t resched_next;        /* the next certificate it reschedules */
	/* post_hook batching: names settled since the last post hook. */
	struct strlist batch_renewed, batch_failed;
	ev_timer post_timer;
	bool post_running;
	struct fleet_op *ops;       /* operator operations in flight (fleet_ops.c) */
	/* --once: retries of transient failures end at once_deadline (0: none). */
	time_t once_deadline;
	unsigned once_waiting;      /* certificates waiting for such a retry */
	struct strlist once_failed; /* "NAME (why)" of each certificate given up */
	unsigned long hook_runs[FLEET_HOOK__MAX][2]; /* [hook][1: succeeded] */
	struct notifier *notifier;  /* NULL: nobody is told (--once, tests) */
	struct cluster *cluster;    /* NULL: no cluster: section (or --once) */
	ev_timer notify_timer;      /* fleet_notify.c's periodic check */
};

/* fleet.c */
/* Writes r's state to the store; a failure is logged, not returned (the
 * runtime state stays right, the next save retries). */
void fleet_cert_save(struct cert_rt *r);
/* An attempt is over: reschedule r (or free it if a reload removed it),
 * run the queue, check for idleness. */
void fleet_cert_settled(struct cert_rt *r);
/* Ends an attempt that sent no order from the loop (cert_rt.settle):
 * ok runs the deploy hook first. */
void fleet_settle_later(struct cert_rt *r, bool ok);
/* Checks for idleness from the loop, outside any callback stack. */
void fleet_maybe_idle(struct fleet *f);
/* Starts r's renewal, just taken from the queue: counts it in flight,
 * runs its preflight, then installs a held certificate, hands a shared one
 * to the pool or orders (fleet_cert_order). */
void fleet_cert_start(struct cert_rt *r);
/* Starts r's order (r counted in flight, its preflight passed): resumes
 * resume_url (with its key, moved in) when given, else orders afresh. */
void fleet_cert_order(struct cert_rt *r, const char *resume_url, bool resume_finalized,
    privkey_t *resume_key);
/* r's order issued res (ok): install, record, deploy hook, as any renewal
 * (r no longer counted in flight). */
void fleet_cert_issued(struct cert_rt *r, struct order_result *res);
/* Stops r's order in flight without a failure (its pool lock is gone);
 * r settles from the loop and waits a moment. */
void fleet_cert_abandon(struct cert_rt *r);

/* fleet_sched.c */
/* Sets up r's timer (once, at creation). */
void fleet_sched_init(struct cert_rt *r);
/* Queues r if due, else arms its timer for the earlier of its renewal
 * moment and its next renewalInfo check; nothing while r is busy. */
void fleet_cert_schedule(struct cert_rt *r);

/* fleet_hooks.c */
/* Sets up the post hook's debounce timer (once, in fleet_new). */
void fleet_hooks_init(struct fleet *f);
/* Notes name as renewed (ok) or failed for the next post hook and
 * restarts the debounce (none under --once: the batch is the run). */
void fleet_batch_note(struct fleet *f, const char *name, bool ok);
/* Starts the post hook for the batch so far and empties it; false when
 * there was nothing to run or it could not start. */
bool fleet_post_hook_start(struct fleet *f);
/* Runs r's deploy hook, if any; r settles when it ends (or at once). */
void fleet_deploy_hook_run(struct cert_rt *r);

/* fleet_held.c */
/* Installation of res's certificate failed (rc -2): hold it, or keep the
 * order; records the failure with why either way. */
void fleet_cert_hold(struct cert_rt *r, const struct order_result *res, const char *why);
/* Installs r's held certificate instead of ordering; true when the
 * attempt is over (fleet_settle_later called), false: order. */
bool fleet_cert_install_held(struct cert_rt *r);
/* Brings r's state in line with the held certificate on disk (at load). */
void fleet_cert_load_held(struct cert_rt *r);

/* fleet_retry.c */
/* Records a failed attempt, its backoff and (--once) a retry within the
 * run or giving up; transient: retrying may succeed. */
void fleet_record_failure(struct cert_rt *r, const char *error, const struct acme_problem *p,
    long long retry_after, bool transient);
/* --once: notes name as given up, and why, for the closing line. */
void fleet_once_gave_up(struct fleet *f, const char *name, const char *error,
    const struct acme_problem *p, const char *why);

/* fleet_ops.c: an account about to be freed by a reload (its operations
 * fail), and every operation dropped at fleet_free (no callbacks: the
 * control connections may be gone already). */
void fleet_ops_account_gone(struct fleet *f, struct acme_account *a);
void fleet_ops_drop(struct fleet *f);

/* fleet_queue.c */
/* Appends r to the queue unless it is queued, busy or the fleet drains. */
void fleet_cert_enqueue(struct cert_rt *r);
/* Puts r back in its place in the queue, ahead of everything queued after
 * it (an order the CA's pause deferred). */
void fleet_cert_requeue_first(struct cert_rt *r);
/* Takes r out of the queue, if it is there (constant time). */
void fleet_queue_remove(struct cert_rt *r);
/* How many certificates are queued, all accounts. */
size_t fleet_queued(const struct fleet *f);

/* Starts queued certificates, oldest first, while the fleet's and their
 * account's in-flight limits and request budgets allow, keeping the order
 * of the rest; each start costs one look at every account, not at every
 * certificate queued. */
void fleet_queue_run(struct fleet *f);
/* Runs the queue whenever room may have opened in a's budget (once, for
 * each new a->acme). */
void fleet_budget_watch(struct fleet *f, struct acct_rt *a);
/* Per account: its limits, what is in flight and what waits for which
 * budget (status --json "budgets"); caller frees. */
struct json *fleet_budgets_json(struct fleet *f);
/* "; N waiting for ACCOUNT's BUDGET (next token in 5s)" per account held
 * back, for STATUS=. */
void fleet_budget_line(struct fleet *f, struct buf *b);
/* The certfleet_orders_waiting gauge. */
void fleet_budget_metrics(struct fleet *f, struct buf *b);

/* fleet_notify.c */
/* Sets up the periodic check (once, in fleet_new); starts it and checks
 * every certificate (fleet_start); stops it (drain, free). */
void fleet_notify_init(struct fleet *f);
void fleet_notify_start(struct fleet *f);
void fleet_notify_stop(struct fleet *f);
/* Tells what r's state calls for now (nothing, usually); r's state is
 * saved when what was told changed. */
void fleet_notify_cert(struct cert_rt *r);
/* fleet_notify_cert for every certificate (after a reload). */
void fleet_notify_all(struct fleet *f);
/* A revocation of name went through (its state records it). */
void fleet_notify_revoked(struct fleet *f, const char *name);
/* The CA confirmed the deactivation of account. */
void fleet_notify_account_deactivated(struct fleet *f, const char *account);

/* fleet_ari.c */
/* Whether r's renewalInfo is polled (not --once, issued, the directory
 * offers it or may). */
bool fleet_ari_applies(const struct cert_rt *r);
/* Fetches r's renewalInfo; r is rescheduled when it settles. */
void fleet_ari_check(struct cert_rt *r);
/* Drops r's renewalInfo fetch or its wait for the directory, if any. */
void fleet_ari_cancel(struct cert_rt *r);

#endif
