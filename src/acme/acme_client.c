/*
 * acme_client.c - the transport every ACME request of one account goes
 * through: its nonce pool, the JWS-signed POST (jws.c) with badNonce
 * retries, and the unauthenticated GET (ARI).
 *
 * One client per account (acme_account.c creates it and asks for nothing
 * but its requests); the account is asked only for what a request is
 * signed with (key, URL, directory's newNonce, TLS settings).  A badNonce
 * is never an answer the caller sees before the request's own timeout: the
 * error reply carries a fresh nonce, so it is resent at once, and after a
 * few in a row on a pause timer.  An accountDoesNotExist is handed to the
 * account (acme_account_lost) to find or register it again, then the
 * request is sent once more.  Every answer (and every transport failure)
 * is reported to the environment's observer, if any, named by endpoint:
 * the metrics count requests per endpoint and status this way without the
 * engine knowing of them.
 */
#include <string.h>
#include <strings.h>

#include <ev.h>

#include "acme.h"
#include "acme_budget.h"
#include "acme_client.h"
#include "jws.h"
#include "log.h"
#include "util.h"

#define NONCE_POOL_MAX 32
/* badNonce is retried until the request's own timeout has passed since it
 * was first sent; after this many in a row each retry waits a little
 * (doubling from BAD_NONCE_PAUSE up to BAD_NONCE_PAUSE_MAX), so a CA
 * rejecting most nonces is not hammered. */
#define BAD_NONCE_BURST 3
#define BAD_NONCE_PAUSE 0.25
#define BAD_NONCE_PAUSE_MAX 4.0

struct acme_client {
	struct acme_account *a;
	struct acme_env *env;
	struct acme_counters *counters; /* the account's; post, bad_nonce_retries */
	char *nonces[NONCE_POOL_MAX];
	size_t nnonces;
	struct acme_call *calls;        /* in flight, for acme_client_free() */
};

struct acme_call {
	struct acme_client *cl;
	char *url;
	char *payload;
	char *accept;
	long timeout_ms;
	bool long_held;
	const privkey_t *jwk_key;
	bool use_jwk;
	int attempts;
	int bad_nonces;             /* badNonce answers in a row */
	double started;             /* ev_now() when first sent: badNonce deadline */
	ev_timer pause;             /* before a badNonce retry, after a few in a row */
	char *label;                /* the certificate it is for, or NULL */
	bool reregistered;          /* already retried after accountDoesNotExist */
	enum acme_endpoint endpoint; /* as the caller said, or ACME_EP_OTHER */
	struct acme_waiter *waiter; /* waiting for the account to be found again */
	struct http_req *req;
	acme_reply_cb cb;
	void *arg;
	struct acme_call *prev, *next;
};

/* ---- what the observer is told ---- */

static const char *const endpoint_names[ACME_EP__MAX] = {
	[ACME_EP_OTHER] = "other",
	[ACME_EP_DIRECTORY] = "directory",
	[ACME_EP_NEW_NONCE] = "newNonce",
	[ACME_EP_NEW_ACCOUNT] = "newAccount",
	[ACME_EP_ACCOUNT] = "account",
	[ACME_EP_KEY_CHANGE] = "keyChange",
	[ACME_EP_NEW_ORDER] = "newOrder",
	[ACME_EP_ORDER] = "order",
	[ACME_EP_AUTHZ] = "authz",
	[ACME_EP_CHALLENGE] = "challenge",
	[ACME_EP_FINALIZE] = "finalize",
	[ACME_EP_CERT] = "cert",
	[ACME_EP_REVOKE_CERT] = "revokeCert",
	[ACME_EP_RENEWAL_INFO] = "renewalInfo",
};

const char *
acme_endpoint_name(enum acme_endpoint e)
{
	return (unsigned)e < ACME_EP__MAX ? endpoint_names[e] : "?";
}

static bool
same_url(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* The endpoint a POST went to: what its caller said, else the directory
 * entry or the account URL it matches. */
static enum acme_endpoint
call_endpoint(const struct acme_call *c)
{
	const struct acme_directory *d = acme_account_directory(c->cl->a);

	if (c->endpoint != ACME_EP_OTHER)
		return c->endpoint;
	if (d != NULL && same_url(c->url, d->new_account))
		return ACME_EP_NEW_ACCOUNT;
	if (d != NULL && same_url(c->url, d->new_order))
		return ACME_EP_NEW_ORDER;
	if (d != NULL && same_url(c->url, d->revoke_cert))
		return ACME_EP_REVOKE_CERT;
	if (d != NULL && same_url(c->url, d->key_change))
		return ACME_EP_KEY_CHANGE;
	if (same_url(c->url, acme_account_url(c->cl->a)))
		return ACME_EP_ACCOUNT;
	return ACME_EP_OTHER;
}

void
acme_observe_reply(struct acme_env *env, const char *account, enum acme_endpoint ep,
    const struct http_response *resp)
{
	struct acme_request_event e = {0};

	if (env == NULL || env->observe == NULL)
		return;
	e.account = account;
	e.endpoint = ep;
	e.status = resp->status;
	e.seconds = resp->elapsed;
	env->observe(&e, env->observe_arg);
}

static void
call_observe(const struct acme_call *c, enum acme_endpoint ep,
    const struct http_response *resp, bool bad_nonce_retry)
{
	struct acme_env *env = c->cl->env;
	struct acme_request_event e = {0};

	if (env->observe == NULL)
		return;
	e.account = acme_account_name(c->cl->a);
	e.endpoint = ep;
	e.status = resp->status;
	e.seconds = resp->elapsed;
	e.bad_nonce_retry = bad_nonce_retry;
	env->observe(&e, env->observe_arg);
}

/* ---- the client ---- */

struct acme_client *
acme_client_new(struct acme_account *a, struct acme_env *env, struct acme_counters *counters)
{
	struct acme_client *cl = xcalloc(1, sizeof(*cl));

	cl->a = a;
	cl->env = env;
	cl->counters = counters;
	return cl;
}

void
acme_client_free(struct acme_client *cl)
{
	if (cl == NULL)
		return;
	while (cl->calls)
		acme_call_cancel(cl->calls);
	for (size_t i = 0; i < cl->nnonces; i++)
		free(cl->nonces[i]);
	free(cl);
}

/* ---- nonce pool ---- */

static void
nonce_put(struct acme_client *cl, const char *nonce)
{
	if (nonce == NULL || *nonce == '\0')
		return;
	if (cl->nnonces == NONCE_POOL_MAX) {
		/* Oldest nonces are the likeliest to have expired. */
		free(cl->nonces[0]);
		memmove(cl->nonces, cl->nonces + 1, (NONCE_POOL_MAX - 1) * sizeof(char *));
		cl->nnonces--;
	}
	cl->nonces[cl->nnonces++] = xstrdup(nonce);
}

static char *
nonce_take(struct acme_client *cl)
{
	if (cl->nnonces == 0)
		return NULL;
	return cl->nonces[--cl->nnonces];
}

/* ---- signed POST ---- */

static int call_send(struct acme_call *c);
static void call_fail(struct acme_call *c, const char *fmt, const char *detail);

static void
call_unlink(struct acme_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (c->cl->calls == c)
		c->cl->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void
call_free(struct acme_call *c)
{
	if (c == NULL)
		return;
	call_unlink(c);
	ev_timer_stop(c->cl->env->loop, &c->pause);
	free(c->url);
	free(c->payload);
	free(c->accept);
	free(c->label);
	free(c);
}

static bool
is_problem(const struct http_response *r)
{
	return r->content_type != NULL &&
	    strncasecmp(r->content_type, "application/problem+json", 24) == 0;
}

static void
call_account_again_cb(bool ok, const char *error, void *arg)
{
	struct acme_call *c = arg;

	c->waiter = NULL;
	if (!ok)
		call_fail(c, "%s", error);
	else if (call_send(c) < 0)
		call_fail(c, "cannot resend %s", c->url);
}

static void
call_done_cb(const struct http_response *resp, void *arg)
{
	struct acme_call *c = arg;
	struct acme_client *cl = c->cl;
	struct acme_account *a = cl->a;
	struct acme_reply reply = {0};

	c->req = NULL;
	nonce_put(cl, resp->replay_nonce);
	reply.status = resp->status;
	reply.error = resp->error;
	reply.http = resp;
	if (resp->status >= 400 && is_problem(resp))
		reply.problem = acme_problem_parse(resp->body, resp->body_len);
	else if (resp->status >= 400)
		reply.problem = acme_problem_parse(resp->body, resp->body_len);

	if (resp->status == 400 && acme_problem_is(reply.problem, "badNonce") &&
	    ev_now(cl->env->loop) - c->started < (double)c->timeout_ms / 1000.) {
		/* The error response carried a fresh nonce (now in the pool). */
		double pause = 0;

		call_observe(c, call_endpoint(c), resp, true);
		cl->counters->bad_nonce_retries++;
		c->bad_nonces++;
		if (c->bad_nonces >= BAD_NONCE_BURST) {
			pause = BAD_NONCE_PAUSE;
			for (int k = c->bad_nonces - BAD_NONCE_BURST; k > 0 &&
			    pause < BAD_NONCE_PAUSE_MAX; k--)
				pause *= 2;
			if (pause > BAD_NONCE_PAUSE_MAX)
				pause = BAD_NONCE_PAUSE_MAX;
		}
		if (c->label)
			log_debug("%s: badNonce on %s (account %s), retrying (%d in a row%s)",
			    c->label, c->url, acme_account_name(a), c->bad_nonces,
			    pause > 0 ? ", after a pause" : "");
		else
			log_debug("account %s: badNonce on %s, retrying (%d in a row%s)",
			    acme_account_name(a), c->url, c->bad_nonces,
			    pause > 0 ? ", after a pause" : "");
		acme_problem_free(reply.problem);
		if (pause > 0) {
			ev_timer_set(&c->pause, pause, 0.);
			ev_timer_start(cl->env->loop, &c->pause);
			return;
		}
		if (call_send(c) < 0)
			call_fail(c, "cannot resend %s", c->url);
		return;
	}
	call_observe(c, call_endpoint(c), resp, false);
	/* The CA asking to slow down pauses the account's new orders. */
	(void)acme_budget_note_reply(acme_account_budget(a), resp, reply.problem);
	if (!(resp->status == 400 && acme_problem_is(reply.problem, "badNonce")))
		c->bad_nonces = 0;
	if (acme_problem_is(reply.problem, "accountDoesNotExist") && c->jwk_key == NULL &&
	    !c->use_jwk && !c->reregistered && acme_account_lost(a)) {
		/* The account is being found again (acme_account_lost says
		 * why); send this request once more, signed for the account
		 * found. */
		acme_problem_free(reply.problem);
		c->reregistered = true;
		c->waiter = acme_account_when_ready(a, call_account_again_cb, c);
		return;
	}
	call_unlink(c);
	c->cb(&reply, c->arg);
	acme_problem_free(reply.problem);
	call_free(c);
}

static void
call_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct acme_call *c = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	if (call_send(c) < 0)
		call_fail(c, "cannot resend %s", c->url);
}

static void
call_fail(struct acme_call *c, const char *fmt, const char *detail)
{
	struct http_response resp = {0};
	struct acme_reply reply = {0};
	char *msg = xasprintf(fmt, detail ? detail : "");

	resp.error = msg;
	reply.error = msg;
	reply.http = &resp;
	call_unlink(c);
	c->cb(&reply, c->arg);
	free(msg);
	call_free(c);
}

static void
nonce_done_cb(const struct http_response *resp, void *arg)
{
	struct acme_call *c = arg;

	c->req = NULL;
	call_observe(c, ACME_EP_NEW_NONCE, resp, false);
	if (resp->replay_nonce == NULL) {
		call_fail(c, "no nonce from newNonce: %s",
		    resp->error ? resp->error : "response lacks Replay-Nonce");
		return;
	}
	nonce_put(c->cl, resp->replay_nonce);
	if (call_send(c) < 0)
		call_fail(c, "cannot send %s", c->url);
}

/* Sends (or first fetches a nonce for) the call.  -1 when it could not
 * even start; the callback is then not called and the caller decides. */
static int
call_send(struct acme_call *c)
{
	struct acme_client *cl = c->cl;
	struct acme_account *a = cl->a;
	const char *ca_bundle = acme_account_params(a)->ca_bundle;
	struct http_request_opts ho = {0};
	char *nonce, *jws = NULL;
	const privkey_t *key;
	const char *kid;
	double wait;

	/* requests_per_second: the POST waits on the pause timer (counted
	 * when it is about to be signed: not for the nonce's HEAD). */
	if (cl->nnonces > 0 && (wait = acme_budget_post_delay(acme_account_budget(a))) > 0) {
		ev_timer_set(&c->pause, wait, 0.);
		ev_timer_start(cl->env->loop, &c->pause);
		return 0;
	}
	if ((nonce = nonce_take(cl)) == NULL) {
		ho.method = "HEAD";
		ho.url = acme_account_directory(a)->new_nonce;
		ho.ca_bundle = ca_bundle;
		ho.timeout_ms = 30000;
		c->req = http_request(cl->env->http, &ho, nonce_done_cb, c);
		return c->req ? 0 : -1;
	}
	c->attempts++;
	key = c->jwk_key ? c->jwk_key : acme_account_key(a);
	kid = (c->jwk_key || c->use_jwk) ? NULL : acme_account_url(a);
	jws = jws_sign(key, kid, nonce, c->url, c->payload);
	free(nonce);
	if (jws == NULL) {
		log_err("account %s: cannot sign the request to %s", acme_account_name(a),
		    c->url);
		return -1;
	}
	ho.method = "POST";
	ho.url = c->url;
	ho.body = jws;
	ho.body_len = strlen(jws);
	ho.content_type = "application/jose+json";
	ho.accept = c->accept;
	ho.ca_bundle = ca_bundle;
	ho.timeout_ms = c->timeout_ms;
	ho.long_held = c->long_held;
	cl->counters->post++;
	c->req = http_request(cl->env->http, &ho, call_done_cb, c);
	free(jws);
	return c->req ? 0 : -1;
}

struct acme_call *
acme_post(struct acme_account *a, const struct acme_post_opts *o, acme_reply_cb cb, void *arg)
{
	struct acme_client *cl = acme_account_client(a);
	struct acme_call *c = xcalloc(1, sizeof(*c));

	c->cl = cl;
	c->url = xstrdup(o->url);
	c->payload = xstrdup(o->payload ? o->payload : "");
	c->accept = xstrdup(o->accept);
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 60000;
	c->long_held = o->long_held;
	c->jwk_key = o->jwk_key;
	c->use_jwk = o->use_jwk;
	c->label = xstrdup(o->label);
	c->endpoint = o->endpoint;
	c->started = ev_now(cl->env->loop);
	ev_timer_init(&c->pause, call_pause_cb, 0., 0.);
	c->pause.data = c;
	c->cb = cb;
	c->arg = arg;
	c->next = cl->calls;
	if (cl->calls)
		cl->calls->prev = c;
	cl->calls = c;
	if (acme_account_directory(a) == NULL || acme_account_key(a) == NULL ||
	    call_send(c) < 0) {
		call_free(c);
		return NULL;
	}
	return c;
}

void
acme_call_cancel(struct acme_call *c)
{
	if (c == NULL)
		return;
	if (c->req)
		http_cancel(c->req);
	if (c->waiter)
		acme_waiter_cancel(c->waiter);
	call_free(c);
}

struct http_req *
acme_get(struct acme_account *a, const char *url, http_done_cb cb, void *arg)
{
	struct http_request_opts ho = {0};

	ho.method = "GET";
	ho.url = url;
	ho.ca_bundle = acme_account_params(a)->ca_bundle;
	ho.timeout_ms = 30000;
	return http_request(acme_account_client(a)->env->http, &ho, cb, arg);
}
