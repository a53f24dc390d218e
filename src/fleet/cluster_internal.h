/*
 * cluster_internal.h - what cluster.c (the session: lease, membership,
 * watches, status), cluster_cert.c (locks, orders, publication and
 * installation of shared certificates), cluster_chal.c (http-01 across
 * the pool) and cluster_acct.c (shared accounts) share.
 */
#ifndef CERTFLEET_CLUSTER_INTERNAL_H
#define CERTFLEET_CLUSTER_INTERNAL_H

#include <ev.h>

#include "cluster.h"
#include "envelope.h"
#include "etcd.h"
#include "fleet_internal.h"

/* Where the session stands; every change is logged once. */
enum cluster_state {
	CLUSTER_CONNECTING,         /* no lease yet */
	CLUSTER_UP,                 /* lease kept alive */
	CLUSTER_DOWN,               /* etcd unreachable or without quorum */
	CLUSTER_STATE__MAX
};

/* A shared certificate's side of the pool. */
enum pool_cert_state {
	POOL_IDLE,                  /* not ours to order now */
	POOL_LOCKING,               /* the lock txn in flight */
	POOL_HOLDER,                /* we hold its lock: ordering */
	POOL_PUBLISHING,            /* issued: the fenced publication in flight */
};

struct pool_cert {
	struct cluster *cl;
	struct cert_rt *r;
	enum pool_cert_state state;
	long long fence;            /* the lock's create_revision while held */
	bool lost;                  /* the lock was lost during this attempt */
	char *holder;               /* the node that holds the lock, when not us */
	char *order_key;            /* sealed order key (begin), for the record */
	char *order_url;
	bool order_finalized;
	/* The pool's newest certificate (P/certs/NAME), from the watch. */
	char *latest;               /* its value (JSON) */
	long long latest_version;   /* its version (a fence), 0 none */
	long long latest_mod;       /* its mod_revision, for the lock txn */
	long long bad_version;      /* a version that could not be installed here:
	                             * not tried again (ordered over instead) */
	/* One etcd request of this certificate's at a time. */
	struct etcd_op *op;
	struct order_gate *gate;    /* the engine waits on it */
	enum order_gate_point gate_what;
	ev_timer retry;             /* a write that found etcd down, again */
	double backoff;
	/* An issued certificate being published, and its P/certs/NAME value. */
	struct order_result res;
	char *pub_value;
};

/* A token this host serves for another host's order. */
struct pool_token {
	char *token;
	char *webroot;              /* NULL: the built-in responder */
	struct pool_token *next;
};

/* A challenge this host published, waiting for the members' acks. */
struct pool_share {
	struct cluster *cl;
	struct pool_cert *pc;
	struct order_gate *g;
	char *token;
	bool published;             /* P/challenges/TOKEN written */
	long long members;          /* live members at the last look */
	double started;
	double tick_next;           /* seconds until the next look */
	ev_timer tick;
	struct etcd_op *op;
	struct pool_share *next;
};

struct pool_acct {
	struct cluster *cl;
	char *name;
	bool ready;                 /* synced with etcd: orders may start */
	bool busy;
	long long fence;
	struct etcd_op *op;
	struct acme_waiter *waiter;
	ev_timer retry;
};

struct cluster {
	struct fleet *f;
	const struct config_cluster *cc; /* the running inventory's */
	char *prefix, *node;        /* the session's own: fixed until a restart */
	struct envelope_key key;    /* the pool's secret key (a copy) */
	struct etcd_client *etcd;
	enum cluster_state state;
	time_t state_since;
	char *state_error;
	char state_line[160];
	long long lease;            /* 0: none */
	bool leaving;               /* cluster_leave: no keepalive, no new lease */
	long long lease_ttl;
	double last_keepalive;      /* ev_now() of the last one answered */
	struct etcd_op *lease_op;
	ev_timer keepalive;
	struct etcd_watch *certs_watch, *chal_watch;
	struct etcd_op *catchup_op, *chal_catchup_op, *member_op;
	bool caught_up, chal_caught_up;
	ev_timer catchup_retry;     /* a failed range read, tried again */
	double catchup_backoff;
	long long revision;         /* the newest header.revision seen */
	struct pool_token *tokens;
	struct pool_share *shares;
	struct pool_acct *accts;
	size_t naccts;
	unsigned long requests_base;
};

/* P + rest, caller frees. */
char *cluster_key(const struct cluster *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The state changes (logged once each). */
void cluster_set_state(struct cluster *cl, enum cluster_state s, const char *error);
/* Whether writes may go out (a lease is held and kept alive). */
bool cluster_writable(const struct cluster *cl);
/* Notes a revision seen in an answer. */
void cluster_saw(struct cluster *cl, const struct etcd_result *res);
/* The certificate of that name in the fleet, NULL when not ours. */
struct cert_rt *cluster_find_cert(struct cluster *cl, const char *name);

/* The member record's value, with the last token acknowledged (or NULL). */
char *cluster_member_value(struct cluster *cl, const char *last_ack);

/* cluster_cert.c */
/* A callback for writes whose answer changes nothing. */
void cluster_etcd_ignore(const struct etcd_result *res, void *arg);
void pool_cert_new(struct cluster *cl, struct cert_rt *r);
void pool_cert_free(struct pool_cert *pc);
/* A P/certs/NAME value arrived (range or watch). */
void pool_cert_latest(struct cluster *cl, const struct etcd_kv *kv);
/* The session is up: shared certificates waiting for it are looked at. */
void pool_certs_session_up(struct cluster *cl);
/* The lease is gone: every lock under it is dropped, orders stopped. */
void pool_certs_lease_lost(struct cluster *cl);

/* cluster_chal.c */
void pool_chal_event(struct cluster *cl, const struct etcd_event *ev);
void pool_chal_drop_all(struct cluster *cl);
void pool_share_start(struct pool_cert *pc, const char *token, const char *keyauth,
    struct order_gate *g);
void pool_share_cancel(struct cluster *cl, struct order_gate *g);
void pool_share_gone(struct cluster *cl, const char *token);

/* cluster_acct.c */
void pool_accts_init(struct cluster *cl);
void pool_accts_start(struct cluster *cl);
void pool_accts_free(struct cluster *cl);

#endif
