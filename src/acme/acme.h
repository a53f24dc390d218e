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

#include "acme_json.h"
#include "config.h"
#include "crypto.h"
#include "http.h"
#include "store.h"

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
	struct store *store;
	long long finalize_timeout;     /* seconds */
	long long order_timeout;        /* seconds */
	acme_observe_cb observe;        /* NULL: nobody watches the requests */
	void *observe_arg;
};

/* ---- accounts (acme_account.c) ---- */

struct acme_account;
struct acme_waiter;

/* cfg must outlive the account (the daemon swaps both on reload). */
struct acme_account *acme_account_new(struct acme_env *env, const struct config_account *cfg);
void acme_account_free(struct acme_account *a);
const char *acme_account_name(const struct acme_account *a);
const struct config_account *acme_account_config(const struct acme_account *a);
/* Valid once ready. */
const struct acme_directory *acme_account_directory(const struct acme_account *a);
const privkey_t *acme_account_key(const struct acme_account *a);
const char *acme_account_url(const struct acme_account *a);
/* Replaces the configuration pointer after a reload (same name, same CA). */
void acme_account_set_config(struct acme_account *a, const struct config_account *cfg);

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
 * key, deactivation) without talking to the CA; once.  0 ok, -1 with err. */
int acme_account_load(struct acme_account *a, char *err, size_t errlen);

/*
 * Key rollover, the account's side (the request is acme_key_change):
 * stage saves the new key as key-next.pem and holds it (key is taken over,
 * freed on failure); commit makes it the account key (one rename on disk)
 * once the CA confirmed; drop forgets it after the CA refused.  recheck
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
	ORDER_NEW_ORDER,        /* newOrder in flight */
	ORDER_RESUME,           /* first fetch of an order stored before a restart */
	ORDER_AUTHORIZE,        /* the authorizations running (acme_authz.c) */
	ORDER_FINALIZE,         /* the finalize POST in flight (sent once, ever) */
	ORDER_POLL,             /* waiting to fetch the order again, or fetching it */
	ORDER_DOWNLOAD,         /* the chain being downloaded and chosen */
	ORDER_DONE,             /* issued */
	ORDER_FAILED,           /* given up */
	ORDER_STATE__MAX
};
const char *order_state_name(enum order_state s);

struct order_job;

struct order_result {
	bool ok;
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

struct order_params {
	const struct config_cert *cert;
	struct cert_state *state;   /* persisted as the order advances */
	privkey_t *reuse_key;       /* key to reuse (moved in) or NULL for a fresh one */
	const char *replaces;       /* ARI certID or NULL */
};

/*
 * Starts (or, when params->state->order_url is set, resumes) an order for
 * one certificate.  The order URL and the certificate key are persisted in
 * the store before they are relied on.
 */
struct order_job *order_start(struct acme_env *env, struct acme_account *a,
    const struct order_params *p, order_done_cb cb, void *arg);
/* Forgets the order in flight for the certificate name (one that is spent
 * or the CA lost): clears the order URL and every per-order flag in st
 * (order_finalized), saves st and removes the stored order key, so the
 * next attempt orders afresh.  Every path that orders again goes through
 * this. */
void order_forget(struct store *store, const char *name, struct cert_state *st);
/* Stops the job at once (no callback); state already persisted stays so a
 * later start resumes the order. */
void order_cancel(struct order_job *j);
enum order_state order_job_state(const struct order_job *j);
/* After a reload: the same certificate's entry in the new configuration
 * (the old one is about to be freed). */
void order_update_cert(struct order_job *j, const struct config_cert *c);

#endif
