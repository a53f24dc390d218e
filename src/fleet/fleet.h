/*
 * fleet.h - the set of certificates one daemon looks after: per certificate
 * its state, its renewal timer and its order in flight; per account its
 * runtime and its limit on orders in flight.
 */
#ifndef CERTFLEET_FLEET_H
#define CERTFLEET_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "acme.h"
#include "config.h"

struct fleet;
struct store;

/* The order engine's parameters for inventory entry c: pointers into c,
 * valid while it is.  The caller adds the keys, replaces and the resume
 * point (order_params in acme.h). */
void fleet_order_params(struct order_params *p, const struct config_cert *c);

/* once: issue what is missing, renew what is due, then report idle. */
struct fleet *fleet_new(struct acme_env *env, struct store *store, const struct config *cfg,
    bool once);
void fleet_free(struct fleet *f);

/* once mode: transient failures (sched_fault_transient) are retried within
 * the run, with the daemon's backoff, while the retry would start before
 * `at` (unix time); permanent ones and later retries are not. */
void fleet_set_once_deadline(struct fleet *f, time_t at);
/* once mode: "NAME (why)" for each certificate that failed for good, joined
 * with "; ", or NULL when none did (caller frees). */
char *fleet_once_failures(const struct fleet *f);

/* Reads every certificate's state (once).  -1 with err when a state file is
 * corrupt (named in err). */
int fleet_load(struct fleet *f, char *err, size_t errlen);

/* Starts what is due and arms timers for the rest. */
void fleet_start(struct fleet *f);

/*
 * Swaps in a new configuration (already validated).  Added certificates
 * are scheduled, removed ones unscheduled (their orders cancelled, files
 * left alone), changed ones re-evaluated; orders in flight for unchanged
 * certificates carry on.  The fleet takes no ownership of cfg; the caller
 * frees the old one after this returns.
 */
void fleet_reconfigure(struct fleet *f, const struct config *cfg);

/*
 * Notifications (fleet_notify.c): who is told when a certificate is in
 * danger, per the inventory's notify: settings.  Without a notifier (the
 * default; --once) nothing is told and nothing is marked told.  n must
 * outlive the fleet; set it before fleet_start.
 */
struct notifier;
void fleet_set_notifier(struct fleet *f, struct notifier *n);
/* A reload was refused (error: the one line why); told per the running
 * inventory's top-level notify:. */
void fleet_notify_reload_rejected(struct fleet *f, const char *error);

/* Stops starting new work (shutdown). */
void fleet_drain(struct fleet *f);

/* Called (from the loop) whenever no order and no hook is in flight any more
 * after work was started, and in once mode once everything is done. */
typedef void (*fleet_idle_cb)(struct fleet *f, void *arg);
void fleet_set_idle_cb(struct fleet *f, fleet_idle_cb cb, void *arg);
bool fleet_busy(const struct fleet *f);
/* Draining, idle and in a pool: starts leaving it (the lease revoked) and
 * returns true while that is on its way; its end comes back as the idle
 * callback.  False when there is nothing (more) to wait for. */
bool fleet_leave(struct fleet *f);

/* Requests a renewal now (certfleetctl renew); force ignores the schedule. 0
 * ok, -1 unknown name. */
int fleet_renew_now(struct fleet *f, const char *name, bool force);
/* Before fleet_start(): every certificate is renewed whether due or not
 * (certfleetd --once --force). */
void fleet_force_all(struct fleet *f);

/*
 * Operator operations (certfleetctl, through the control socket), in
 * fleet_ops.c.  Each checks its arguments at once: unknown name or account
 * -> FLEET_OP_NOTFOUND, something already running for it -> FLEET_OP_BUSY,
 * with a one-line reason in err and cb never called.  Otherwise it returns
 * FLEET_OP_OK and calls cb exactly once, later, from the loop, with the
 * outcome: status, a one-line error (NULL when ok) and the CA's problem
 * document when there was one (NULL otherwise; valid during the call).
 */
enum fleet_op_status { FLEET_OP_OK = 0, FLEET_OP_NOTFOUND, FLEET_OP_BUSY, FLEET_OP_FAILED,
	FLEET_OP_USAGE };
struct json;
typedef void (*fleet_op_cb)(void *arg, enum fleet_op_status status, const char *error,
    const struct json *problem);

/* RFC 8555 7.6; reason is an RFC 5280 CRLReason code (0 unspecified, 1
 * keyCompromise, 3 affiliationChanged, 4 superseded, 5 cessationOfOperation).
 * by_cert_key signs with the certificate's key instead of the account's.
 * Unless no_reissue, a revoked certificate still in the inventory is
 * renewed at once afterwards. */
enum fleet_op_status fleet_revoke(struct fleet *f, const char *name, int reason,
    bool by_cert_key, bool no_reissue, fleet_op_cb cb, void *arg, char *err, size_t errlen);
/* RFC 8555 7.3.5, crash-safe (new key stored before the request, the old
 * one kept until the CA confirms). */
enum fleet_op_status fleet_account_rollover(struct fleet *f, const char *account,
    fleet_op_cb cb, void *arg, char *err, size_t errlen);
/* RFC 8555 7.3.6.  The account's certificates stop renewing. */
enum fleet_op_status fleet_account_deactivate(struct fleet *f, const char *account,
    fleet_op_cb cb, void *arg, char *err, size_t errlen);
/* `certfleetctl cluster status`: the pool's members (with their last ack),
 * its locks and who holds them, the etcd endpoint in use and its revision.
 * cb gets the JSON (taken over) or an error, from the loop.
 * FLEET_OP_NOTFOUND (err says why) when this host is in no pool. */
typedef void (*fleet_cluster_cb)(void *arg, struct json *status, const char *error);
enum fleet_op_status fleet_cluster_status(struct fleet *f, fleet_cluster_cb cb, void *arg,
    char *err, size_t errlen);
/* The pool's state in one phrase, or NULL when there is no pool. */
const char *fleet_cluster_line(struct fleet *f);
/* [{"name":..,"directory":..,"url":..,"status":..,"key_type":..}, ...]; caller
 * frees (json_free). */
struct json *fleet_accounts_json(struct fleet *f);

struct fleet_stats {
	size_t total;
	size_t renewing;
	size_t failing;
	size_t queued;
	unsigned long succeeded;  /* since start */
	unsigned long failed;     /* since start */
	time_t next_time;         /* 0 when nothing scheduled */
	const char *next_name;
};
void fleet_get_stats(const struct fleet *f, struct fleet_stats *s);

/* One line for STATUS=. Caller frees. */
char *fleet_status_line(const struct fleet *f);

#endif
