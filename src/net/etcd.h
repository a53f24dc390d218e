/*
 * etcd.h - an etcd v3 client over its JSON gateway (POST /v3/...), on the
 * loop through http.c.  Knows nothing of certificates: keys and values are
 * bytes, the caller (fleet/cluster.c) gives them meaning.
 *
 * The gateway speaks proto3 JSON: keys and values are base64, int64 fields
 * are strings, and a field at its default value is left out (a failed txn
 * has no "succeeded", an empty range no "kvs", a PUT event no "type").
 * Everything here reads it that way; a caller sees plain C values.
 *
 * Endpoints are tried in turn: a request that gets no answer, or an answer
 * that says the member cannot serve it (no leader, unavailable, 5xx), is
 * sent to the next endpoint, once around the list, before it fails with
 * unavailable set, except a txn that was sent and got no answer: it may
 * have been applied, so it fails (unavailable) for its caller to decide
 * rather than run again elsewhere against its own compares.  The endpoint
 * that last answered is used first.  With a
 * username, the client authenticates first and again when the server says
 * the token is no longer valid, then resends the request.
 */
#ifndef CERTFLEET_ETCD_H
#define CERTFLEET_ETCD_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct ev_loop;
struct etcd_client;
struct etcd_op;
struct etcd_watch;

struct etcd_settings {
	const struct strlist *endpoints; /* "https://10.0.0.1:2379", ...; copied */
	const char *ca_bundle;      /* NULL: the system store */
	const char *cert, *key;     /* TLS client certificate and key; NULL: none */
	const char *username;       /* NULL: no authentication */
	const char *password;       /* with username (a secret: copied, wiped at free) */
	long timeout_ms;            /* per request and endpoint; 0: 5000 */
};

struct etcd_kv {
	char *key;                  /* NUL-terminated */
	char *value;                /* decoded; NUL-terminated beyond value_len */
	size_t value_len;
	long long create_revision, mod_revision, version, lease;
};

struct etcd_result {
	bool ok;                    /* answered; a txn whose compare failed is ok
	                             * with succeeded false */
	char *error;                /* !ok: one line (endpoint and etcd's message) */
	bool unavailable;           /* !ok because no endpoint could serve it
	                             * (transport, no leader, no quorum): retry later */
	int code;                   /* !ok: etcd's gRPC status code (5 not found,
	                             * 11 compacted, 14 unavailable, 16 bad token);
	                             * 0 without one (transport, HTTP) */
	long long revision;         /* the answer's header.revision */
	bool succeeded;             /* txn: the compares held */
	struct etcd_kv *kvs;        /* range; txn: the first range op's kvs */
	size_t nkvs;
	long long deleted;          /* deleterange (txn: the first delete op's) */
	long long lease_id;         /* lease grant */
	long long ttl;              /* lease grant and keepalive: seconds left;
	                             * 0 in a keepalive answer: the lease is gone */
};

/* r and everything it points to is valid during the call only. */
typedef void (*etcd_cb)(const struct etcd_result *r, void *arg);

/* NULL with err when the settings are unusable (no endpoint, bad URL). */
struct etcd_client *etcd_client_new(struct ev_loop *loop, const struct etcd_settings *s,
    char *err, size_t errlen);
/* Cancels every request and watch without calling their callbacks; the
 * watches are freed with it (their handles are then gone).  Not from
 * inside one of the client's callbacks. */
void etcd_client_free(struct etcd_client *c);
/* The endpoint requests go to first (the last that answered). */
const char *etcd_client_endpoint(const struct etcd_client *c);
/* Requests sent so far, retries and watch (re)connections included. */
unsigned long etcd_client_requests(const struct etcd_client *c);

/*
 * Every request below copies its arguments and returns a handle for
 * etcd_cancel() until cb has run; cb runs exactly once, on the loop, never
 * from inside the call.  NULL only when the request cannot even be built
 * (logged; cb not called).
 */
/* prefix: every key starting with key (range_end = key with its last byte
 * incremented); otherwise key alone. */
struct etcd_op *etcd_range(struct etcd_client *c, const char *key, bool prefix,
    etcd_cb cb, void *arg);
/* lease 0: none. */
struct etcd_op *etcd_put(struct etcd_client *c, const char *key, const void *value,
    size_t len, long long lease, etcd_cb cb, void *arg);
struct etcd_op *etcd_delete(struct etcd_client *c, const char *key, bool prefix,
    etcd_cb cb, void *arg);

enum etcd_cmp_target { ETCD_CMP_CREATE, ETCD_CMP_MOD, ETCD_CMP_VERSION, ETCD_CMP_VALUE,
	ETCD_CMP_LEASE };
enum etcd_cmp_result { ETCD_CMP_EQUAL, ETCD_CMP_NOT_EQUAL, ETCD_CMP_GREATER, ETCD_CMP_LESS };
struct etcd_cmp {
	const char *key;
	enum etcd_cmp_target target;
	enum etcd_cmp_result result;
	long long num;              /* CREATE, MOD, VERSION, LEASE */
	const void *value;          /* VALUE */
	size_t value_len;
};
enum etcd_txn_op_type { ETCD_TXN_PUT, ETCD_TXN_DELETE, ETCD_TXN_RANGE };
struct etcd_txn_op {
	enum etcd_txn_op_type type;
	const char *key;
	bool prefix;                /* DELETE, RANGE */
	const void *value;          /* PUT */
	size_t value_len;
	long long lease;            /* PUT; 0: none */
};
struct etcd_txn {
	const struct etcd_cmp *cmp;
	size_t ncmp;
	const struct etcd_txn_op *success;
	size_t nsuccess;
	const struct etcd_txn_op *failure;
	size_t nfailure;
};
struct etcd_op *etcd_txn(struct etcd_client *c, const struct etcd_txn *t, etcd_cb cb,
    void *arg);

struct etcd_op *etcd_lease_grant(struct etcd_client *c, long long ttl, etcd_cb cb, void *arg);
/* One keepalive round (POST /v3/lease/keepalive, one message): ttl 0 in
 * the result means the lease has expired or was revoked. */
struct etcd_op *etcd_lease_keepalive(struct etcd_client *c, long long id, etcd_cb cb,
    void *arg);
struct etcd_op *etcd_lease_revoke(struct etcd_client *c, long long id, etcd_cb cb, void *arg);

/* Stops a request; its callback is not called. NULL is fine. */
void etcd_cancel(struct etcd_op *op);

/*
 * A watch on every key under prefix, from start_revision (0: from now).
 * The stream (chunked, newline-delimited JSON) is split on newlines, never
 * on chunk boundaries.  When it breaks it is re-established, with backoff,
 * from the revision after the last one seen; state() says when it goes
 * down and comes back.  When the revision asked for has been compacted,
 * compacted() is called and the watch waits: the caller reads what it
 * missed with a range and calls etcd_watch_restart() from the range's
 * revision + 1.
 */
enum etcd_event_type { ETCD_EVENT_PUT, ETCD_EVENT_DELETE };
struct etcd_event {
	enum etcd_event_type type;
	const struct etcd_kv *kv;   /* DELETE: key and mod_revision only */
};
/* events (n > 0; revision: the answer's header.revision) and compacted are
 * required.  Any callback may free or restart the watch. */
struct etcd_watch_cbs {
	void (*events)(void *arg, const struct etcd_event *ev, size_t n, long long revision);
	void (*state)(void *arg, bool up, const char *error);   /* may be NULL */
	void (*compacted)(void *arg, long long compact_revision);
};
/* NULL (logged) without a prefix or a required callback. */
struct etcd_watch *etcd_watch_new(struct etcd_client *c, const char *prefix,
    long long start_revision, const struct etcd_watch_cbs *cbs, void *arg);
void etcd_watch_restart(struct etcd_watch *w, long long start_revision);
void etcd_watch_free(struct etcd_watch *w);

/*
 * The pieces below are public for the unit tests (tests/net/check_etcd.c):
 * the gateway's JSON and the stream splitter, without a server.
 */
enum etcd_call { ETCD_CALL_RANGE, ETCD_CALL_PUT, ETCD_CALL_DELETE, ETCD_CALL_TXN,
	ETCD_CALL_LEASE_GRANT, ETCD_CALL_LEASE_KEEPALIVE, ETCD_CALL_LEASE_REVOKE,
	ETCD_CALL_AUTH, ETCD_CALL__MAX };
/* Reads the answer to call (HTTP status, body) into out (cleared first): 0
 * ok, -1 with out->error (and out->unavailable when another endpoint or a
 * later try may succeed). */
int etcd_parse_answer(enum etcd_call call, long status, const char *body, size_t len,
    struct etcd_result *out);
void etcd_result_clear(struct etcd_result *r);

/* Splits a byte stream into newline-terminated messages. */
struct etcd_splitter {
	char *buf;
	size_t len, cap;
	size_t max;                 /* longest message accepted; 0: 64 MiB */
};
typedef void (*etcd_line_cb)(void *arg, const char *msg, size_t len);
/* Calls line for each complete message in what was fed so far (without
 * the newline or a '\r' before it; empty lines skipped).  -1 when a
 * message exceeds max (the buffer is dropped).  line must not feed or
 * clear s. */
int etcd_splitter_feed(struct etcd_splitter *s, const char *data, size_t len,
    etcd_line_cb line, void *arg);
void etcd_splitter_clear(struct etcd_splitter *s);

#endif
