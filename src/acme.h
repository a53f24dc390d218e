/*
 * acme.h - the ACME engine: accounts (directory, nonce pool, registration
 * with EAB, signed requests with badNonce retry) and the per-certificate
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
struct keygen_pool;
struct http01_server;

/* What every state machine shares; owned by the daemon. */
struct acme_env {
	struct ev_loop *loop;
	struct http_client *http;
	struct keygen_pool *keygen;
	struct http01_server *http01;   /* NULL when no certificate uses it */
	struct store *store;
	long long finalize_timeout;     /* seconds */
	long long order_timeout;        /* seconds */
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

/* Requests sent to the CA by this account, per kind (tests, stats). */
struct acme_counters {
	unsigned long new_account, new_order, finalize, post, bad_nonce_retries;
};
const struct acme_counters *acme_account_counters(const struct acme_account *a);

/* ---- signed requests ---- */

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
};

struct acme_call;
/* Sends a JWS-signed POST through the account's nonce pool, retrying
 * badNonce a few times with the nonce the error carried.  The reply is
 * valid during the callback only.  NULL: could not start (cb not called). */
struct acme_call *acme_post(struct acme_account *a, const struct acme_post_opts *o,
    acme_reply_cb cb, void *arg);
void acme_call_cancel(struct acme_call *c);

/* Unauthenticated GET with the account's TLS settings (ARI). */
struct http_req *acme_get(struct acme_account *a, const char *url, http_done_cb cb, void *arg);

/* ---- orders (acme_order.c) ---- */

enum order_state {
	ORDER_INIT,
	ORDER_WAIT_ACCOUNT,
	ORDER_KEYGEN,
	ORDER_NEW_ORDER,
	ORDER_RESUME,
	ORDER_AUTHORIZE,
	ORDER_FINALIZE,
	ORDER_POLL,
	ORDER_DOWNLOAD,
	ORDER_DONE,
	ORDER_FAILED,
	ORDER_STATE__MAX
};
const char *order_state_name(enum order_state s);

struct order_job;

struct order_result {
	bool ok;
	char *error;                /* one line, when !ok */
	struct acme_problem *problem; /* the CA's problem document, when there was one */
	long long retry_after;      /* >0: the CA asked us to wait (rateLimited) */
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
/* Stops the job at once (no callback); state already persisted stays so a
 * later start resumes the order. */
void order_cancel(struct order_job *j);
enum order_state order_job_state(const struct order_job *j);
/* After a reload: the same certificate's entry in the new configuration
 * (the old one is about to be freed). */
void order_update_cert(struct order_job *j, const struct config_cert *c);

#endif
