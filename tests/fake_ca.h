/*
 * fake_ca.h - a scripted ACME CA for the protocol core's unit tests.
 *
 * A plain HTTP/1.1 server on 127.0.0.1 (an ephemeral port) served from the
 * test's own event loop, so the engine runs unchanged over the real http.c
 * and curl: the test scripts the replies (method, path, status, extra
 * headers, body), runs the loop until the job's callback fires, and then
 * asserts on the log of requests the engine sent, with each JWS decoded
 * (protected header, payload).  Nothing sleeps: every reply is written as
 * soon as its request is complete.
 *
 * Every reply carries a fresh Replay-Nonce ("n1", "n2", ... in the order
 * they were sent) unless the script gives its own.  In headers and bodies
 * "$B" stands for the server's base URL ("http://127.0.0.1:PORT").  The
 * directory (GET /dir) and newNonce (HEAD /nonce) are answered by default.
 */
#ifndef CERTFLEET_FAKE_CA_H
#define CERTFLEET_FAKE_CA_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;
struct fake_ca;

/* Status 0: the connection is closed without an answer (curl then reports
 * a transport failure, status 0: a lost answer or a timeout). */
#define FAKE_NO_ANSWER 0

/* One request the engine sent, as the server saw it. */
struct fake_request {
	char *method;
	char *path;
	char *body;
	double at;              /* ev_now() when it was complete */
	/* For a JWS POST (NULL otherwise): the decoded protected header and
	 * payload (payload "" for POST-as-GET), and fields of the header. */
	char *protected_json;
	char *payload;
	char *nonce;
	char *url;
	char *kid;
	bool has_jwk;
	char *nonce_sent;       /* the Replay-Nonce of the reply to it */
	int status;             /* the reply's status */
};

/* Starts listening on loop.  Returns the CA (free with fake_ca_free). */
struct fake_ca *fake_ca_new(struct ev_loop *loop);
void fake_ca_free(struct fake_ca *ca);
/* "http://127.0.0.1:PORT"; valid until fake_ca_free. */
const char *fake_ca_base(const struct fake_ca *ca);
/* base + "/dir". */
const char *fake_ca_directory_url(const struct fake_ca *ca);

/*
 * Adds a scripted reply for method ("POST", "GET", "HEAD") and path; times
 * is how many requests it answers (0: every one from then on).  Replies
 * for the same method and path are used in the order they were added.
 * headers: extra "Name: value\r\n" lines or NULL; body may be NULL.
 * The strings are copied ($B expanded when the reply is sent).
 */
void fake_ca_reply(struct fake_ca *ca, const char *method, const char *path, int times,
    int status, const char *headers, const char *body);
/* Replaces the default directory body (JSON; $B expanded). */
void fake_ca_set_directory(struct fake_ca *ca, const char *json);

/* The requests so far, oldest first. */
size_t fake_ca_nrequests(const struct fake_ca *ca);
const struct fake_request *fake_ca_request(const struct fake_ca *ca, size_t i);
/* How many requests had method and path. */
size_t fake_ca_count(const struct fake_ca *ca, const char *method, const char *path);
/* The k-th (0-based) request with method and path, or NULL. */
const struct fake_request *fake_ca_find(const struct fake_ca *ca, const char *method,
    const char *path, size_t k);
/* Requests no script entry answered (they got a 500); a test asserts 0. */
size_t fake_ca_unmatched(const struct fake_ca *ca);
/* One line per request ("POST /order/new 201"), for failure messages;
 * caller frees. */
char *fake_ca_dump(const struct fake_ca *ca);

#endif

/* ---- the engine around it ---- */

#include <ev.h>

#include "acme.h"

/*
 * One test's engine on the default loop: a temporary state directory and
 * webroot, an inventory whose account "ca" points at the fake CA (account
 * and certificate lines given by the test), the store, an HTTP client, a
 * key generation pool, the env and the account.  fake_env_free() removes
 * it all.
 */
struct fake_env {
	struct ev_loop *loop;
	struct fake_ca *ca;
	char dir[64];               /* temporary directory */
	char *webroot;
	struct config *cfg;
	struct store *store;
	struct acme_env env;
	struct acme_account *acct;
};

/* account_extra: YAML lines inside account "ca" (4-space indent) or "";
 * certs: the "certificates:" list items; "$W" in it is the webroot. */
struct fake_env *fake_env_new(const char *account_extra, const char *certs);
void fake_env_free(struct fake_env *e);
/* Reads a fixture under tests/data whole; caller frees. */
char *fake_fixture(const char *rel, size_t *len);

/* ---- an order as the fleet runs it ---- */

#include "store.h"

/*
 * One order driven the way the fleet drives it: parameters from the
 * inventory entry (fleet_order_params), the resume point from st (the
 * order URL, finalized, the stored order key), and order_ops persisting
 * the progress into store through the store_order_* calls into st.  Each
 * progress callback is also recorded with how many requests the CA had
 * seen by then, so a test can tell what was persisted before what was
 * sent.
 */
#define FAKE_ORDER_EVENTS 16
struct fake_order_event {
	const char *what;           /* "begin", "created", "finalized", "forget" */
	size_t nrequests;           /* fake_ca_nrequests() when it was called */
	int rc;                     /* what the store call returned (forget: 0) */
	/* What the state directory held right after it (read back from disk): */
	bool disk_url;              /* state.json has an order URL */
	bool disk_finalized;        /* ... marked finalized */
	bool disk_key;              /* order-key.pem exists */
};
struct fake_order {
	struct fake_env *e;
	struct store *store;        /* e->store unless a test swaps it */
	const char *name;
	struct cert_state *st;
	order_done_cb done;
	void *arg;
	struct fake_order_event ev[FAKE_ORDER_EVENTS];
	size_t nev;
	/* With gates: the order_ops.gate points are events too ("gate-created",
	 * "gate-finalize", "gate-challenge", "challenge-gone", "gate-cancel"),
	 * each gate opened from a timer 50 ms later, or refused when it is
	 * refuse_gate (1 + enum order_gate_point; 0: none). */
	bool gates;
	int refuse_gate;
	char *gate_keyauth;         /* the CHALLENGE gate's key authorization */
	struct order_gate *gate;    /* the gate waiting for its timer */
	bool gate_ok;
	ev_timer gate_timer;
};
/* Starts an order for e's certificate number cert (fo must outlive it). */
struct order_job *fake_order_start(struct fake_order *fo, struct fake_env *e, size_t cert,
    struct cert_state *st, order_done_cb done, void *arg);
