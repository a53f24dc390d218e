/*
 * scheduler.h - when each certificate is renewed: pure functions of its
 * lifetime, the inventory, ARI windows and failure history, so they can be
 * tested without a clock or a CA.
 */
#ifndef CERTFLEET_SCHEDULER_H
#define CERTFLEET_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "store.h"

#define SCHED_BACKOFF_MIN 60.0          /* first retry after a failure */
#define SCHED_BACKOFF_MAX (6 * 3600.0)  /* cap */
#define SCHED_ARI_RETRY_MIN 60          /* clamp of ARI Retry-After */
#define SCHED_ARI_RETRY_MAX 86400
#define SCHED_ARI_ERROR_RETRY (6 * 3600)
#define SCHED_ARI_POLL (6 * 3600)        /* no Retry-After, or a new certificate */
#define SCHED_ARI_START_RATE 20.0       /* first checks per second */
#define SCHED_ARI_START_SPREAD 300.0

/*
 * Renewal moment without ARI: not_after - renew_before when set (capped at
 * half the lifetime), else when a third of the lifetime remains.
 */
time_t sched_renewal_time(time_t not_before, time_t not_after, long long renew_before);

/*
 * Spreads t later by up to jitter seconds (rand in [0,1)): the result lies
 * in [t, t + jitter).  Never by more than a tenth of the lifetime, so
 * short-lived certificates keep most of their renewal window, nor by more
 * than half of the time left between t and not_after.
 */
time_t sched_apply_jitter(time_t t, time_t not_before, time_t not_after, long long jitter,
    double rand);

/* A uniformly random moment in [start, end] (rand in [0,1)). */
time_t sched_ari_pick(time_t start, time_t end, double rand);

/* Clamps an ARI Retry-After to [1 min, 1 day]. */
long long sched_ari_recheck(long long retry_after);

/*
 * Delay before a certificate's first renewalInfo check after start-up
 * (rand in [0,1)): a fleet of ncerts spreads its checks at about
 * SCHED_ARI_START_RATE per second, over SCHED_ARI_START_SPREAD at most, so
 * 10,000 certificates do not hit the CA at once while one certificate is
 * checked at once.
 */
double sched_ari_first_check(size_t ncerts, double rand);

/*
 * Delay before retry number `failures` (1 = first failure): 60 s doubling
 * up to 6 h, with +-20% jitter; a CA's Retry-After (rateLimited) wins when
 * larger.
 */
double sched_backoff(int failures, long long retry_after, double rand);

/*
 * Whether a failed attempt is worth another one within the same run
 * (--once): the one place that tells transient faults from permanent ones.
 * status is the HTTP status of the CA's answer that failed the attempt, 0
 * when there was none (connection refused or reset, a timeout), -1 when
 * the failure was not an answer at all (a local error, or an order or
 * authorization the CA declared invalid); problem_type is the problem
 * document's type (full URN or the short name), NULL without one.
 * Transient: no answer, 5xx, badNonce, serverInternal, rateLimited (and
 * 429) whose Retry-After is known and at most max_wait seconds.  Anything
 * else (unauthorized, rejectedIdentifier, malformed, caa, an invalid
 * authorization, a local error) is permanent.
 */
bool sched_fault_transient(long status, const char *problem_type, long long retry_after,
    long long max_wait);

/*
 * Whether the installed material no longer matches the inventory (or there
 * is none): then the certificate is due now.  Writes the reason.
 */
bool sched_needs_issue(const struct config_cert *c, const struct cert_state *st,
    char *reason, size_t len);

#endif
