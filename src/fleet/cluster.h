/*
 * cluster.h - a pool of hosts that share certificates and accounts through
 * etcd (the inventory's cluster: section).  One host orders each shared
 * certificate, under a lock in etcd; every host answers its http-01
 * challenges and installs the result.  The fleet calls in at the few
 * points where a shared certificate differs from a private one; the etcd
 * side (leases, locks, fencing, watches) stays in here.
 *
 * Keys under the prefix P (default /certfleet/):
 *   P/members/NODE          this host is alive (its lease); last ack
 *   P/locks/NAME            who orders NAME (its lease); create_revision is
 *                           the fencing token every later write checks
 *   P/locks/account/NAME    who creates shared account NAME
 *   P/orders/NAME           the order in flight: URL, finalized, its key
 *   P/certs/NAME            the issued certificate: version (the fence it
 *                           was written under), chain, key, serial
 *   P/challenges/TOKEN      an http-01 key authorization (holder's lease)
 *   P/acks/TOKEN/NODE       NODE serves TOKEN
 *   P/accounts/NAME         a shared account's URL and key
 * Private keys are sealed (envelope.h) under cluster.secret_key_file.
 */
#ifndef CERTFLEET_CLUSTER_H
#define CERTFLEET_CLUSTER_H

#include <stdbool.h>

#include "acme.h"
#include "config.h"

struct cluster;
struct cert_rt;
struct fleet;
struct json;

/* NULL with err when the settings are unusable (no session is opened
 * yet: that happens in cluster_start, and etcd may be down then). */
struct cluster *cluster_new(struct fleet *f, const struct config_cluster *cc, char *err,
    size_t errlen);
/* Opens the session (lease, membership), catches up with what the pool
 * issued (range, then watch) and syncs the shared accounts. */
void cluster_start(struct cluster *cl);
/* Revokes the lease (locks go at once, another host takes over) and frees
 * everything; orders in flight must be cancelled first. */
void cluster_free(struct cluster *cl);
/* Stopping, nothing in flight: revokes the lease (every lock of ours goes
 * at once; another host takes over now).  True while that is on its way
 * (fleet_maybe_idle follows its answer), false when there is nothing (more)
 * to do: no lease, etcd away, or done. */
bool cluster_leave(struct cluster *cl);
/* After a reload: the new section (connection settings are kept until a
 * restart: logged when they changed). */
void cluster_reconfigure(struct cluster *cl, const struct config_cluster *cc);

/*
 * The order of a shared certificate reports to the pool as well as to the
 * store (fleet.c's order_ops call these for r when r->cfg->shared):
 *   begin   the order key, sealed for the pool's record of the order;
 *   gate    order_ops.gate: the order URL and key (CREATED), the
 *           finalize (FINALIZE) written to etcd under the lock's fence,
 *           an http-01 response published and acknowledged by the
 *           members (CHALLENGE); order_gate_done() when it is;
 *   forget  the pool's record of the order dropped (fenced);
 *   done    the result published under the fence with the lock released,
 *           then installed here (true: the cluster took res over and ends
 *           the attempt); a failure releases the lock (true: the lock was
 *           lost, which is no failure of the certificate).
 */
void cluster_order_begin(struct cluster *cl, struct cert_rt *r, const privkey_t *key);
void cluster_gate(struct cluster *cl, struct cert_rt *r, enum order_gate_point what,
    const char *token, const char *keyauth, struct order_gate *g);
void cluster_gate_cancel(struct cluster *cl, struct cert_rt *r, struct order_gate *g);
void cluster_challenge_gone(struct cluster *cl, struct cert_rt *r, const char *token);
void cluster_order_forget(struct cluster *cl, struct cert_rt *r);
bool cluster_order_done(struct cluster *cl, struct cert_rt *r, struct order_result *res);
bool cluster_order_failed(struct cluster *cl, struct cert_rt *r);

/*
 * A shared certificate is due (the fleet has counted it in flight and
 * passed its preflight): take its lock, then order or resume, or install
 * what the pool already has, or wait for the host that holds the lock.
 * The attempt ends through the fleet as any other.  False when the fleet
 * should order it as a private one (cluster.fallback: local, etcd down
 * long, close to expiry).
 */
bool cluster_cert_start(struct cluster *cl, struct cert_rt *r);
/* Whether this host holds r's lock (its order reports to the pool). */
bool cluster_cert_holding(const struct cluster *cl, const struct cert_rt *r);
/* r is (now) a shared certificate: give it its side of the pool. */
void pool_cert_add(struct cluster *cl, struct cert_rt *r);
/* Whether r is counted in flight for the pool's part of its attempt alone
 * (taking the lock, publishing the issued certificate): no order and no
 * settle timer, only the pool's etcd answer, ends it. */
bool cluster_cert_counted(const struct cluster *cl, const struct cert_rt *r);
/* r goes away (reload, free): forget it, and uncount the attempt the pool
 * had in flight for it (cluster_cert_counted), whose answer never comes. */
void cluster_cert_gone(struct cluster *cl, struct cert_rt *r);
/* r is idle again: install a newer pool version that arrived meanwhile. */
void cluster_cert_idle(struct cluster *cl, struct cert_rt *r);
/* The pool's view of r for `certfleetctl status` (added to o). */
void cluster_cert_json(struct cluster *cl, const struct cert_rt *r, struct json *o);
/* For `certfleetctl cluster status`: cb gets the members, locks, endpoint
 * and revision (or an error) from the loop. */
typedef void (*cluster_status_cb)(void *arg, struct json *status, const char *error);
void cluster_status(struct cluster *cl, cluster_status_cb cb, void *arg);
/* A one-phrase state for STATUS= ("pool: up, 3 members", "pool: etcd
 * unreachable since ..."); static or the cluster's, valid until the next
 * call. */
const char *cluster_state_line(struct cluster *cl);
/* Whether orders on shared account name may start (synced with etcd). */
bool cluster_account_ready(struct cluster *cl, const char *name);
/* etcd requests so far (metrics, benchmark). */
unsigned long cluster_requests(const struct cluster *cl);

#endif
