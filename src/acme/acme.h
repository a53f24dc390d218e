/*
 * acme.h - the ACME engine: accounts (directory, registration with EAB,
 * rollover; acme_account.c), their transport (nonce pool, signed requests
 * with badNonce retry; acme_client.c), operator operations (acme_ops.c),
 * the profile and chain choices (acme_chain.c) and the per-certificate
 * order state machine.  Everything runs on the event loop and is re-entered
 * from HTTP completions, key generation completions and timers.
 */
#ifndef CERTFLEET_ACME_H
#define CERTFLEET_ACME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "acme_json.h"
#include "crypto.h"
#include "http.h"

struct ev_loop;
struct http01_server;
struct tlsalpn_server;
struct workpool;

/*
 * Which request to the CA an answer was for, in the observer's report
 * (acme_observe_cb) and the metrics built on it.  The names are the
 * directory's and RFC 8555's ("newOrder", "finalize", ...).
 */
enum acme_endpoint {
	ACME_EP_OTHER,              /* none said and none recognised */
	ACME_EP_DIRECTORY,
	ACME_EP_NEW_NONCE,
	ACME_EP_NEW_ACCOUNT,
	ACME_EP_ACCOUNT,            /* the account URL (deactivation) */
	ACME_EP_KEY_CHANGE,
	ACME_EP_NEW_ORDER,
	ACME_EP_ORDER,              /* fetching an order */
	ACME_EP_AUTHZ,
	ACME_EP_CHALLENGE,
	ACME_EP_FINALIZE,
	ACME_EP_CERT,               /* downloading a chain */
	ACME_EP_REVOKE_CERT,
	ACME_EP_RENEWAL_INFO,
	ACME_EP__MAX
};
/* "newOrder", ...; "?" out of range.  Static. */
const char *acme_endpoint_name(enum acme_endpoint e);

/* One completed request to the CA (every attempt: a badNonce answer that
 * is retried is one request, and says so). */
struct acme_request_event {
	const char *account;        /* the account's name */
	enum acme_endpoint endpoint;
	long status;                /* HTTP status; 0: no answer (transport failure) */
	double seconds;             /* from sending to the answer */
	bool bad_nonce_retry;       /* answered badNonce, and resent */
};
/* Called from the loop as each request completes; must not call back into
 * the engine. */
typedef void (*acme_observe_cb)(const struct acme_request_event *e, void *arg);

/* What every state machine shares; owned by the daemon. */
struct acme_env {
	struct ev_loop *loop;
	struct http_client *http;
	struct workpool *keygen;        /* key generation (keygen.c) */
	struct http01_server *http01;   /* NULL when no certificate uses it */
	struct tlsalpn_server *tlsalpn; /* NULL when no certificate uses it */
	struct workpool *dns;           /* dns-01 propagation checks (dns_probe.c) */
	const char *dns_resolver;       /* config's dns_resolver or NULL; copied by users */
	long long hook_timeout;         /* seconds, dns-01 hooks */
	long long dns_propagation_timeout; /* seconds */
	long long finalize_timeout;     /* seconds */
	long long order_timeout;        /* seconds */
	acme_observe_cb observe;        /* NULL: nobody watches the requests */
	void *observe_arg;
};

/* ---- accounts (acme_account.c) ---- */

struct acme_account;
struct acme_waiter;

/*
 * How fast an account may ask its CA (acme_budget.c); 0 is unlimited
 * throughout.  new_orders_in_flight: newOrder requests in flight at once;
 * per_count/per_seconds: at most that many newOrders in any window of
 * that length; requests_per_second: signed POSTs of any kind.
 */
struct acme_budget_params {
	int new_orders_in_flight;
	int per_count;
	long long per_seconds;
	int requests_per_second;
};

/*
 * What an account is, given by whoever makes it (the fleet fills it from
 * the inventory's account entry: fleet_account.h).  Copied by
 * acme_account_new() and acme_account_set_params(): nothing here needs to
 * outlive the call.
 */
struct acme_account_params {
	const char *name;
	const char *directory_url;          /* used exactly as given */
	const char *ca_bundle;              /* CA file to verify the CA; NULL: system */
	const struct strlist *contact;      /* "mailto:..."; NULL: none */
	const char *eab_kid;                /* NULL: no External Account Binding */
	const unsigned char *eab_hmac;      /* the decoded EAB key (secret) */
	size_t eab_hmac_len;
	enum hmac_alg eab_alg;
	enum key_type key_type;             /* of a key the account generates */
	struct acme_budget_params budget;   /* zeroed: unlimited */
};

/* What is kept of an account between runs, as its store's load returns it. */
struct acme_account_record {
	privkey_t *key;             /* NULL: none stored yet */
	privkey_t *next_key;        /* a rollover's staged key (key-next.pem), or NULL */
	char *url;                  /* the account URL (kid); NULL: never registered */
	char *directory;            /* the directory URL it was registered with */
	time_t deactivated;         /* when the CA confirmed deactivation; 0: active */
	char *adopted_from;         /* non-NULL: key and URL were just taken from this
	                             * other client's account (certbot's directory):
	                             * verified once with onlyReturnExisting, never
	                             * registered anew */
};
/* Frees (the keys wiped) and clears the members, not r; NULL is fine. */
void acme_account_record_free(struct acme_account_record *r);

/*
 * What is kept of an account's request budget between runs (acme_budget.c),
 * so that a restart neither forgets the newOrders that new_orders_per
 * counts nor lifts a pause the CA asked for: the wall-clock times the
 * newOrders still inside the window were answered (oldest first), and the
 * end of a pause (0: none).
 */
struct acme_budget_record {
	time_t *spent;
	int nspent;
	time_t paused_until;
};

/*
 * Where an account keeps its records: the account never sees the store,
 * it calls these with the arg it was given.  Each returns 0, or -1 with a
 * one-line reason in err (naming the file) that the account reports as
 * is.  The fleet implements them over the state directory (fleet_account.c).
 */
struct acme_account_store {
	/* What is stored: out is zeroed first, members NULL for what is not
	 * there (a first start).  May fill it from elsewhere (adopted_from). */
	int (*load)(void *arg, struct acme_account_record *out, char *err, size_t errlen);
	/* The account key, before the CA ever sees it. */
	int (*save_key)(void *arg, const privkey_t *key, char *err, size_t errlen);
	/* The record: the URL (NULL: none known) and the directory it belongs
	 * to, and when the CA deactivated it (0: active). */
	int (*save)(void *arg, const char *url, const char *directory, time_t deactivated,
	    char *err, size_t errlen);
	/* Rollover: the staged key saved beside the key, made the key (one
	 * rename: either the old or the new key is the key after a crash), or
	 * forgotten. */
	int (*stage_key)(void *arg, const privkey_t *key, char *err, size_t errlen);
	int (*promote_key)(void *arg, char *err, size_t errlen);
	void (*drop_key)(void *arg);
	/* The budget's record (NULL, both: kept in memory only).  load: out
	 * zeroed first, nothing stored is not an error; out->spent is the
	 * caller's to free.  save: replaces what is stored. */
	int (*load_budget)(void *arg, struct acme_budget_record *out, char *err, size_t errlen);
	int (*save_budget)(void *arg, const struct acme_budget_record *rec, char *err,
	    size_t errlen);
	/* Where the records are ("/var/lib/certfleet/accounts/NAME"), named in
	 * the messages that tell the operator what to remove; valid while arg. */
	const char *(*where)(void *arg);
	/* Frees arg with the account; NULL: arg is the caller's. */
	void (*release)(void *arg);
};

/* The account's progress; account_step() in acme_account.c holds the one
 * switch over it and says what each state leads to. */
enum account_state {
	ACCT_IDLE,                  /* at rest: nothing known to be needed */
	ACCT_DIRECTORY,             /* the directory being fetched */
	ACCT_KEYGEN,                /* the account key being generated */
	ACCT_LOOKUP,                /* onlyReturnExisting for a stored key in flight */
	ACCT_REGISTER,              /* newAccount in flight */
	ACCT_RESOLVE,               /* which key does the CA have? (an interrupted rollover) */
	ACCT_READY,                 /* registered, directory loaded */
	ACCT_STATE__MAX
};
/* "idle", "directory", ...; "?" for none; static. */
const char *account_state_name(enum account_state s);

/* The account described by p, its records reached through store (with
 * store_arg, handed to store->release with the account when that is set).
 * store must outlive the account.  Free with acme_account_free(). */
struct acme_account *acme_account_new(struct acme_env *env, const struct acme_account_params *p,
    const struct acme_account_store *store, void *store_arg);
void acme_account_free(struct acme_account *a);
const char *acme_account_name(const struct acme_account *a);
/* The account's own copy of its parameters; valid until the next
 * acme_account_set_params() or acme_account_free(). */
const struct acme_account_params *acme_account_params(const struct acme_account *a);
/* The store_arg given to acme_account_new(). */
void *acme_account_store_arg(const struct acme_account *a);
enum account_state acme_account_state(const struct acme_account *a);
/* Valid once ready. */
const struct acme_directory *acme_account_directory(const struct acme_account *a);
const privkey_t *acme_account_key(const struct acme_account *a);
const char *acme_account_url(const struct acme_account *a);
/* Replaces the parameters after a reload (same name, same CA); copied. */
void acme_account_set_params(struct acme_account *a, const struct acme_account_params *p);

/*
 * Calls cb (on the loop, never from inside this call) once the directory is
 * loaded and the account registered: loads the stored key and URL, else
 * generates a key, looks it up with onlyReturnExisting, and registers it
 * with contact and EAB.  ok=false with a message when that failed; a later
 * call tries again.
 */
typedef void (*acme_ready_cb)(bool ok, const char *error, void *arg);
struct acme_waiter *acme_account_when_ready(struct acme_account *a, acme_ready_cb cb,
    void *arg);
void acme_waiter_cancel(struct acme_waiter *w);

/* Reads what the store holds for the account (key, URL, a staged rollover
 * key, deactivation) without talking to the CA; once (the store's load).
 * 0 ok, -1 with err. */
int acme_account_load(struct acme_account *a, char *err, size_t errlen);

/*
 * Key rollover, the account's side (the request is acme_key_change):
 * stage saves the new key beside the key (the store's stage_key:
 * key-next.pem) and holds it (key is taken over, freed on failure);
 * commit makes it the account key (one rename on disk) once the CA
 * confirmed; drop forgets it after the CA refused.  recheck
 * makes the next acme_account_when_ready() ask the CA which key it has
 * (after a keyChange whose outcome is unknown).
 */
int acme_account_stage_key(struct acme_account *a, privkey_t *key, char *err, size_t errlen);
const privkey_t *acme_account_next_key(const struct acme_account *a);
int acme_account_commit_key(struct acme_account *a, char *err, size_t errlen);
void acme_account_drop_key(struct acme_account *a);
void acme_account_recheck(struct acme_account *a);

/* Records (in the store too) that the CA deactivated the account: from
 * then on acme_account_when_ready() fails at once, sending nothing. */
int acme_account_set_deactivated(struct acme_account *a, time_t when, char *err,
    size_t errlen);
time_t acme_account_deactivated(const struct acme_account *a);  /* 0: active */

/*
 * certfleetd --dry-run: whether the account could be used, changing nothing
 * at the CA or in the store.  Reads the stored key and URL, fetches the
 * directory, and with a stored key asks the CA with onlyReturnExisting
 * whether it knows it; with none (or one it does not know) checks that a
 * registration could work: EAB given when the directory's meta says
 * externalAccountRequired.  Never registers.  cb gets ok and one line
 * (what was found, or why not), later, from the loop.  -1 with err when it
 * could not start (cb not called).
 */
typedef void (*acme_probe_cb)(bool ok, const char *msg, void *arg);
int acme_account_probe(struct acme_account *a, acme_probe_cb cb, void *arg, char *err,
    size_t errlen);

/* Why the account last failed to get ready: the HTTP status of the CA's
 * answer (0: none came, the CA unreachable; -1: not the CA's answer, e.g.
 * an unreadable store or a deactivated account) and its problem type
 * (full URN, NULL without one; valid until the next attempt). */
long acme_account_fault(const struct acme_account *a, const char **problem_type);
/* Log once: when the account logged that failure's cause itself (once, for
 * every certificate waiting on it), what it was doing ("fetching the
 * directory"; static), for a waiter's line that points at it instead of
 * repeating the cause; NULL when it did not (a deactivated account), the
 * waiter's line then carries the cause.  Valid as acme_account_fault(). */
const char *acme_account_fault_step(const struct acme_account *a);

/*
 * The account's budgets, as the fleet sees them (acme_budget.c).  An order
 * that will send a newOrder (not a resumed one) should start only while
 * acme_new_order_room() says ACME_BUDGET_OPEN; otherwise it names the
 * budget it waits for and *when (wall clock) it is expected to open, 0
 * when that is when a newOrder in flight is answered.  The room callback
 * is called from the loop whenever room may have opened (a newOrder
 * answered, a token back, a pause over).
 */
enum acme_budget_block {
	ACME_BUDGET_OPEN,
	ACME_BUDGET_IN_FLIGHT,      /* new_orders_in_flight */
	ACME_BUDGET_PER,            /* new_orders_per */
	ACME_BUDGET_PAUSED,         /* the CA said rateLimited / Retry-After */
	ACME_BUDGET__MAX
};
/* "open", "new_orders_in_flight", "new_orders_per", "paused"; static. */
const char *acme_budget_block_name(enum acme_budget_block k);
enum acme_budget_block acme_new_order_room(struct acme_account *a, time_t *when);
typedef void (*acme_budget_room_cb)(void *arg);
void acme_account_set_room_cb(struct acme_account *a, acme_budget_room_cb cb, void *arg);
struct acme_budget_status {
	struct acme_budget_params params;
	int in_flight;              /* newOrders in flight */
	int waiting;                /* orders started, waiting for a newOrder ticket */
	int starting;               /* orders started that will ask for one */
	int per_left;               /* new_orders_per tokens free now */
	time_t next_token;          /* when the next one comes back; 0: none out */
	time_t paused_until;        /* 0: not paused */
};
void acme_budget_status(struct acme_account *a, struct acme_budget_status *s);

/* Requests sent to the CA by this account, per kind (tests, stats). */
struct acme_counters {
	unsigned long new_account, new_order, finalize, post, bad_nonce_retries;
};
const struct acme_counters *acme_account_counters(const struct acme_account *a);

/* ---- signed requests (acme_client.c) ---- */

struct acme_reply {
	long status;                        /* 0: transport failure */
	const char *error;                  /* transport error text, or NULL */
	const struct http_response *http;   /* headers and body; never NULL */
	struct acme_problem *problem;       /* parsed problem document or NULL */
};
typedef void (*acme_reply_cb)(const struct acme_reply *r, void *arg);

struct acme_post_opts {
	const char *url;
	const char *payload;        /* JSON text, or "" for POST-as-GET */
	const char *accept;         /* NULL: default */
	long timeout_ms;            /* 0: 60 s */
	const privkey_t *jwk_key;   /* sign with this key and embed its jwk (revocation by
	                             * certificate key); NULL: the account key with kid */
	bool use_jwk;               /* embed the account key's jwk (newAccount) */
	const char *label;          /* the certificate the request is for, named in the
	                             * log lines about it (badNonce retries); NULL: none */
	enum acme_endpoint endpoint; /* for the observer; ACME_EP_OTHER: told from the
	                             * directory's URLs where it is one of them */
	bool long_held;             /* the CA may hold it open long (finalize): it
	                             * takes only HTTP slots not kept for short
	                             * requests (http.h); its nonce HEAD stays short */
};

struct acme_call;
/* Sends a JWS-signed POST through the account's nonce pool.  A badNonce is
 * never the answer: it is retried with a fresh nonce (after a short pause,
 * on a timer, once several came in a row) until the request's own timeout
 * has passed since it was first sent; only then does the caller get the
 * badNonce reply.  The reply is valid during the callback only.  NULL:
 * could not start (cb not called). */
struct acme_call *acme_post(struct acme_account *a, const struct acme_post_opts *o,
    acme_reply_cb cb, void *arg);
void acme_call_cancel(struct acme_call *c);

/* Unauthenticated GET with the account's TLS settings (ARI). */
struct http_req *acme_get(struct acme_account *a, const char *url, http_done_cb cb, void *arg);
/* Reports a request that did not go through acme_post (the directory GET,
 * acme_get) to the environment's observer, if any. */
void acme_observe_reply(struct acme_env *env, const char *account, enum acme_endpoint ep,
    const struct http_response *resp);

/* ---- operations (acme_ops.c) ---- */

/*
 * Each sends one signed request once the account is ready (see
 * acme_account_when_ready) and returns the call (cancel with
 * acme_call_cancel), or NULL with a reason in err when it could not start
 * (the callback is then not called).
 */
/* RFC 8555 7.6: revokes the first certificate of cert_pem with an RFC 5280
 * reason code, signed by cert_key (jwk) when given, else by the account. */
struct acme_call *acme_revoke(struct acme_account *a, const char *cert_pem, size_t len,
    const privkey_t *cert_key, int reason, acme_reply_cb cb, void *arg, char *err,
    size_t errlen);
/* RFC 8555 7.3.5: asks the CA to switch the account to its staged key
 * (acme_account_stage_key); the inner JWS is signed by the new key. */
struct acme_call *acme_key_change(struct acme_account *a, acme_reply_cb cb, void *arg,
    char *err, size_t errlen);
/* RFC 8555 7.3.6: {"status":"deactivated"} to the account URL. */
struct acme_call *acme_deactivate(struct acme_account *a, acme_reply_cb cb, void *arg,
    char *err, size_t errlen);
/* True for the RFC 5280 reason codes ACME accepts (0-10 but 7). */
bool acme_revoke_reason_valid(int reason);

/* ---- profile and chain choice (acme_chain.c) ---- */

/*
 * Profiles (draft-ietf-acme-profiles): 0 when profile may be requested
 * (the directory lists it, or lists no profiles at all), -1 with "the CA
 * offers no profile 'X' (it offers: a, b)" in err.
 */
int acme_profile_check(const struct acme_directory *d, const char *profile, char *err,
    size_t errlen);

/*
 * Preferred chain.  preferred is either "sha256:HEX" (colons allowed) -
 * matching a chain holding, above the leaf, a certificate with that DER
 * SHA-256 fingerprint - or an issuer common name, matching a chain whose
 * top certificate was issued by it (case-insensitive), as certbot does.
 */
bool acme_chain_matches(const char *pem, size_t len, const char *preferred);

/*
 * Picks the chain to install once the default chain (resp) is downloaded:
 * the default if it matches preferred or offers no alternates; otherwise
 * each Link: rel="alternate" chain in turn (POST-as-GET), the first that
 * matches; the default, with a log line, when none does or they cannot be
 * fetched.  cb receives the chosen chain (taken over) from the loop,
 * never from this call.  NULL when the default is to be kept at once.
 */
struct acme_chain_pick;
typedef void (*acme_chain_cb)(char *pem, size_t len, void *arg);
struct acme_chain_pick *acme_chain_pick(struct acme_account *a, const char *name,
    const char *preferred, const struct http_response *resp, acme_chain_cb cb, void *arg);
void acme_chain_pick_cancel(struct acme_chain_pick *p);

/* ---- orders (acme_order.c) ---- */

/* An order job's progress; order_step() in acme_order.c holds the one
 * switch over it and says what each state leads to. */
enum order_state {
	ORDER_INIT,             /* started, nothing asked yet */
	ORDER_WAIT_ACCOUNT,     /* waiting for the account to be ready */
	ORDER_KEYGEN,           /* the certificate key being generated */
	ORDER_BUDGET,           /* waiting for the account's newOrder ticket
	                         * (acme_budget.c) */
	ORDER_NEW_ORDER,        /* newOrder in flight */
	ORDER_RESUME,           /* first fetch of an order stored before a restart */
	ORDER_AUTHORIZE,        /* the authorizations running (acme_authz.c) */
	ORDER_FINALIZE,         /* the finalize POST in flight (sent once, ever) */
	ORDER_POLL,             /* waiting to fetch the order again, or fetching it */
	ORDER_DOWNLOAD,         /* the chain being downloaded and chosen */
	ORDER_GATE,             /* waiting for the caller (order_ops.gate): the pool
	                         * records the order before it is relied on */
	ORDER_DONE,             /* issued */
	ORDER_FAILED,           /* given up */
	ORDER_STATE__MAX
};
const char *order_state_name(enum order_state s);

struct order_job;

struct order_result {
	bool ok;
	bool deferred;              /* !ok, and nothing failed: the CA paused the
	                             * account's new orders (rateLimited) before
	                             * this one was created; order again once
	                             * acme_new_order_room() opens (nothing is
	                             * stored of it: the next order starts anew) */
	char *error;                /* one line, when !ok */
	struct acme_problem *problem; /* the CA's problem document, when there was one */
	long long retry_after;      /* >0: the CA asked us to wait (rateLimited) */
	long status;                /* when !ok: the failing answer's HTTP status, 0 none
	                             * came (unreachable, timeout), -1 not an answer
	                             * (local error, an invalid order or authorization) */
	char *problem_type;         /* when !ok: the problem's type (URN) or NULL */
	char *chain_pem;            /* issued chain as downloaded, when ok */
	size_t chain_len;
	privkey_t *key;             /* the certificate key, when ok (moved to the caller) */
};
void order_result_clear(struct order_result *r);

/* r's members may be moved out by the callback; the job is freed after it. */
typedef void (*order_done_cb)(struct order_job *j, struct order_result *r, void *arg);

/*
 * How a certificate's challenges are answered (challenge.c): the engine's
 * own copy of what the inventory says.  Borrowed in order_params (copied
 * by order_start), owned in the job.
 */
struct challenge_settings {
	enum challenge_type types[CHALLENGE_TYPE__MAX]; /* preference order */
	size_t ntypes;
	char *webroot;              /* http-01 as a file under this document root;
	                             * NULL: the built-in responder */
	char *dns01_hook;           /* dns-01: the hook program (argv[0]); NULL: none */
};

/*
 * Everything an order needs, from its caller (the fleet fills it from the
 * inventory and the store).  Strings and lists are copied by order_start;
 * reuse_key and resume_key are moved in (freed by the engine).
 */
struct order_params {
	const char *name;           /* the certificate, in every log line */
	const struct strlist *domains; /* identifiers, first is the CN */
	enum key_type key_type;     /* of a freshly generated certificate key */
	const char *profile;        /* ACME profile; NULL: none */
	const char *preferred_chain; /* issuer CN or "sha256:..."; NULL: default chain */
	struct challenge_settings challenge;
	privkey_t *reuse_key;       /* key to reuse or NULL for a fresh one */
	const char *replaces;       /* ARI certID or NULL */
	/* Where a run before a restart left off: */
	const char *resume_url;     /* the stored order URL; NULL: order afresh */
	bool resume_finalized;      /* finalize was POSTed for it: never again */
	privkey_t *resume_key;      /* the stored order key (NULL with a URL: the
	                             * order is forgotten and ordered again) */
	time_t pause_limit;         /* a pause of new orders (rateLimited) ending
	                             * later than this fails the order instead of
	                             * waiting (--once's deadline); 0: always wait */
};

/*
 * What the engine reports as the order advances; the caller persists it
 * (the fleet through store_order_*), arg is order_start's.  Each is called
 * before what it records is relied on, so a crash at any point leaves a
 * state a restart resumes from safely:
 *   begin      the certificate key, before newOrder is sent (a resumed
 *              order finalizes with it); -1 with err fails the order and
 *              nothing is sent.
 *   created    the order URL, as soon as the CA returned it (a restart
 *              resumes the order); -1 is logged and the order goes on.
 *   finalized  before the finalize POST is sent (after a crash the order is
 *              polled, never finalized twice); -1 is logged, the POST sent.
 *   forget     the order is spent or gone (invalid, 404 on resume, for
 *              other names, no stored key): everything of it is dropped so
 *              the next order starts as a first one.  The one such path.
 *   done       the outcome; the job is freed after it.
 */
struct order_gate;
enum order_gate_point {
	ORDER_GATE_CREATED,         /* after created: before the authorizations */
	ORDER_GATE_FINALIZE,        /* after finalized: before the finalize POST */
	ORDER_GATE_CHALLENGE,       /* an http-01 response in place: before the CA
	                             * is told to validate it */
};
struct order_ops {
	int (*begin)(void *arg, const privkey_t *key, char *err, size_t errlen);
	int (*created)(void *arg, const char *order_url, char *err, size_t errlen);
	int (*finalized)(void *arg, char *err, size_t errlen);
	void (*forget)(void *arg);
	order_done_cb done;
	/*
	 * Optional (NULL: the engine never waits), for a caller whose record
	 * of the order is remote (fleet/cluster.c: etcd): the engine pauses
	 * at each gate point until the caller calls order_gate_done(g, ...).
	 * At CHALLENGE, token and keyauth are the response to be served (by
	 * every host of a pool); NULL otherwise.  A gate still open when the
	 * job ends is closed through gate_cancel (g is invalid after it);
	 * challenge_gone says a published CHALLENGE response may go,
	 * whatever the outcome.  A gate that fails fails the order with
	 * error, and keeps what is recorded (another host resumes it).
	 */
	void (*gate)(void *arg, enum order_gate_point what, const char *token,
	    const char *keyauth, struct order_gate *g);
	void (*gate_cancel)(void *arg, struct order_gate *g);
	void (*challenge_gone)(void *arg, const char *token);
};
/* Opens the gate (ok) or fails the order (error: one line); from the loop,
 * never from inside ops->gate itself. */
void order_gate_done(struct order_gate *g, bool ok, const char *error);

/*
 * Starts (or, when p->resume_url is set, resumes) an order for one
 * certificate, reporting through ops (which must outlive the job).
 * Returns the job (order_cancel, or freed after ops->done).
 */
struct order_job *order_start(struct acme_env *env, struct acme_account *a,
    const struct order_params *p, const struct order_ops *ops, void *arg);
/* Stops the job at once (no callback); state already persisted stays so a
 * later start resumes the order. */
void order_cancel(struct order_job *j);
enum order_state order_job_state(const struct order_job *j);
/* What a job is doing, for an operator (certfleetctl status): its state
 * and since when (wall clock); while authorizing, the first identifier
 * not yet valid and the challenge type answering it (NULL until the
 * authorization is fetched).  The strings are the job's: valid until it
 * next advances. */
struct order_progress {
	enum order_state state;
	time_t since;
	const char *identifier;
	const char *challenge_type;
	bool finalize_sent;         /* POLL after the finalize, not before it */
};
void order_job_progress(const struct order_job *j, struct order_progress *p);
/* After a reload: the same certificate's parameters from the new
 * configuration (copied, as by order_start; the name, reuse_key, replaces
 * and the resume point are not taken: the order in flight carries on). */
void order_update(struct order_job *j, const struct order_params *p);

#endif
