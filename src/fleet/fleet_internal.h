/*
 * fleet_internal.h - the fleet's runtime structures, shared by fleet.c and
 * the files that implement parts of it (fleet_ari.c).
 */
#ifndef CERTFLEET_FLEET_INTERNAL_H
#define CERTFLEET_FLEET_INTERNAL_H

#include <ev.h>

#include "acme.h"
#include "fleet.h"
#include "hooks.h"
#include "store.h"
#include "util.h"

struct acct_rt {
	struct acme_account *acme;
	const struct config_account *cfg;
	int inflight;
	int ari;                    /* renewalInfo offered: -1 unknown, 0 no, 1 yes */
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
	bool settle_ok;
	bool queued;
	bool force;
	bool failing;
	bool removed;               /* dropped by a reload while busy */
	bool once_retry;            /* --once: timer armed for a retry within the run */
	int once_failures;          /* --once: failed attempts in this run */
	struct cert_rt *qnext;
};

/*
 * How the fleet drives orders: acme_order.c's functions, except in
 * tests/check_fleet.c, which replaces them with scripted orders to test the
 * queue limits and the post-hook batch without a CA (a CA fake enough for
 * the whole order machine would test the machine, not the fleet).
 */
struct fleet_order_ops {
	struct order_job *(*start)(struct acme_env *env, struct acme_account *a,
	    const struct order_params *p, order_done_cb cb, void *arg);
	void (*cancel)(struct order_job *j);
	void (*update_cert)(struct order_job *j, const struct config_cert *c);
};

struct fleet {
	struct acme_env *env;
	const struct fleet_order_ops *order_ops;    /* never NULL */
	double post_debounce;       /* seconds without a renewal settling before the
	                             * post hook; tests shorten it */
	const struct config *cfg;
	bool once;
	bool draining;
	struct acct_rt **accts;
	size_t naccts;
	struct cert_rt **certs;
	size_t ncerts;
	struct cert_rt *qhead, *qtail;
	int inflight;
	unsigned hooks;
	unsigned long succeeded, failed;
	fleet_idle_cb idle_cb;
	void *idle_arg;
	ev_idle idle_check;
	/* post_hook batching: names settled since the last post hook. */
	struct strlist batch_renewed, batch_failed;
	ev_timer post_timer;
	bool post_running;
	struct fleet_op *ops;       /* operator operations in flight (fleet_ops.c) */
	/* --once: retries of transient failures end at once_deadline (0: none). */
	time_t once_deadline;
	unsigned once_waiting;      /* certificates waiting for such a retry */
	struct strlist once_failed; /* "NAME (why)" of each certificate given up */
};

/* fleet.c */
void fleet_cert_save(struct cert_rt *r);
void fleet_cert_schedule(struct cert_rt *r);
void fleet_cert_enqueue(struct cert_rt *r);
void fleet_queue_run(struct fleet *f);

/* fleet_ops.c: an account about to be freed by a reload (its operations
 * fail), and every operation dropped at fleet_free (no callbacks: the
 * control connections may be gone already). */
void fleet_ops_account_gone(struct fleet *f, struct acme_account *a);
void fleet_ops_drop(struct fleet *f);

/* fleet_ari.c */
bool fleet_ari_applies(const struct cert_rt *r);
void fleet_ari_check(struct cert_rt *r);
void fleet_ari_cancel(struct cert_rt *r);

#endif
