/*
 * etcd.c - the etcd client: settings, endpoints, one request's life
 * (failover across the endpoints, the token), on the loop through http.c.
 *
 * A request (struct etcd_op) is one POST with a JSON body, sent to the
 * endpoint that last answered and, when the answer says that member
 * cannot serve it (see etcd_json.c: transport failure, 5xx, no leader,
 * unavailable), to the next ones, once around the list.  A request that
 * needs a token while there is none waits for the one authentication in
 * flight; an answer saying the token is no longer valid sends the request
 * back to wait, once.  Every user callback runs from an http completion or
 * a timer, never from inside the call that started the request.
 *
 * A retried write may have been applied by the member that did not
 * answer: callers make writes safe to repeat (a txn that compares, a put
 * of the same value), as etcd's own clients must.
 */
#include <string.h>

#include <ev.h>

#include "etcd_internal.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define DEFAULT_TIMEOUT_MS 5000L

struct etcd_op {
	struct etcd_client *c;
	enum etcd_call call;
	const char *path;
	char *body;
	size_t body_len;
	bool secret_body;           /* the password: wiped */
	etcd_cb cb;
	void *arg;
	struct http_req *req;
	size_t first, tries;        /* endpoint of the first try; tries so far */
	size_t ep;                  /* endpoint of the try in flight */
	char *token_used;           /* the token that try carried (a copy) */
	bool reauthed;              /* sent back to authenticate once already */
	bool waiting_auth;
	bool doomed;                /* its authentication failed: fail it */
	char *answer_error;         /* the first refusal from a member this round
	                             * ("endpoint: message"): says more than the
	                             * last endpoint's connection failure */
	int answer_code;
	ev_timer later;             /* a failure reported from the loop */
	char *fail_error;
	bool fail_unavailable;
	struct etcd_op *prev, *next;
};

static const char *const call_paths[ETCD_CALL__MAX] = {
	[ETCD_CALL_RANGE] = "/v3/kv/range",
	[ETCD_CALL_PUT] = "/v3/kv/put",
	[ETCD_CALL_DELETE] = "/v3/kv/deleterange",
	[ETCD_CALL_TXN] = "/v3/kv/txn",
	[ETCD_CALL_LEASE_GRANT] = "/v3/lease/grant",
	[ETCD_CALL_LEASE_KEEPALIVE] = "/v3/lease/keepalive",
	[ETCD_CALL_LEASE_REVOKE] = "/v3/lease/revoke",
	[ETCD_CALL_AUTH] = "/v3/auth/authenticate",
};

static void op_attempt(struct etcd_op *op);

/* ---- the client ---- */

/* "http://host:port" or "https://...", a host present; the trailing '/'
 * dropped.  NULL when it is not a URL we can use. */
static char *
endpoint_norm(const char *url)
{
	const char *host;
	size_t n;

	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		return NULL;
	n = strlen(url);
	while (n > (size_t)(host - url) && url[n - 1] == '/')
		n--;
	if (n == (size_t)(host - url) || strpbrk(host, " \t\r\n?#") != NULL ||
	    memchr(host, '/', n - (size_t)(host - url)) != NULL)
		return NULL;
	return xstrndup(url, n);
}

struct etcd_client *
etcd_client_new(struct ev_loop *loop, const struct etcd_settings *s, char *err, size_t errlen)
{
	struct etcd_client *c = NULL;

	if (s->endpoints == NULL || s->endpoints->n == 0) {
		snprintf(err, errlen, "no etcd endpoint");
		return NULL;
	}
	if (s->username && s->password == NULL) {
		snprintf(err, errlen, "etcd user %s has no password", s->username);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->endpoints = xcalloc(s->endpoints->n, sizeof(*c->endpoints));
	for (size_t i = 0; i < s->endpoints->n; i++) {
		if ((c->endpoints[i] = endpoint_norm(s->endpoints->v[i])) == NULL) {
			snprintf(err, errlen, "etcd endpoint \"%s\" is not an http:// or https:// "
			    "URL of a host and port", s->endpoints->v[i]);
			goto fail;
		}
		c->nendpoints++;
	}
	if ((c->http = http_client_new(loop)) == NULL) {
		snprintf(err, errlen, "cannot start an HTTP client");
		goto fail;
	}
	c->ca_bundle = xstrdup(s->ca_bundle);
	c->cert = xstrdup(s->cert);
	c->key = xstrdup(s->key);
	c->username = xstrdup(s->username);
	c->password = xstrdup(s->password);
	c->timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : DEFAULT_TIMEOUT_MS;
	return c;
fail:
	etcd_client_free(c);
	return NULL;
}

static void
op_free(struct etcd_op *op)
{
	if (op->secret_body)
		free_secret(op->body, op->body_len);
	else
		free(op->body);
	free_secret_str(op->token_used);
	free(op->fail_error);
	free(op->answer_error);
	free(op);
}

static void
op_unlink(struct etcd_op *op)
{
	struct etcd_client *c = op->c;

	if (op->prev)
		op->prev->next = op->next;
	else if (c->ops == op)
		c->ops = op->next;
	if (op->next)
		op->next->prev = op->prev;
	op->prev = op->next = NULL;
	if (c->auth == op)
		c->auth = NULL;
}

void
etcd_cancel(struct etcd_op *op)
{
	if (op == NULL)
		return;
	http_cancel(op->req);
	ev_timer_stop(op->c->loop, &op->later);
	op_unlink(op);
	op_free(op);
}

void
etcd_client_free(struct etcd_client *c)
{
	if (c == NULL)
		return;
	while (c->ops)
		etcd_cancel(c->ops);
	etcd_watch_free_all(c);
	http_client_free(c->http);
	for (size_t i = 0; i < c->nendpoints; i++)
		free(c->endpoints[i]);
	free(c->endpoints);
	free(c->ca_bundle);
	free(c->cert);
	free(c->key);
	free(c->username);
	free_secret_str(c->password);
	free_secret_str(c->token);
	free_secret_str(c->auth_header);
	free(c);
}

const char *
etcd_client_endpoint(const struct etcd_client *c)
{
	return c->endpoints[c->cur];
}

unsigned long
etcd_client_requests(const struct etcd_client *c)
{
	return c->nrequests;
}

void
etcd_request_opts(struct etcd_client *c, const char *url, const char *headers[3],
    struct http_request_opts *o)
{
	size_t h = 0;

	memset(o, 0, sizeof(*o));
	o->method = "POST";
	o->url = url;
	o->content_type = "application/json";
	o->accept = "application/json";
	o->ca_bundle = c->ca_bundle;
	o->cert = c->cert;
	o->key = c->key;
	o->timeout_ms = c->timeout_ms;
	o->connect_timeout_ms = c->timeout_ms;
	if (c->auth_header)
		headers[h++] = c->auth_header;
	/*
	 * gRPC metadata "hasleader": a member cut off from the leader answers
	 * "no leader" at once (and ends a watch) instead of leaving the call to
	 * time out, so the request moves on to a member that can serve it.
	 */
	headers[h++] = "Grpc-Metadata-hasleader: true";
	headers[h] = NULL;
	o->headers = headers;
}

void
etcd_drop_token(struct etcd_client *c, const char *tok)
{
	if (c->token == NULL || (tok != NULL && strcmp(tok, c->token) != 0))
		return;
	free_secret_str(c->token);
	free_secret_str(c->auth_header);
	c->token = c->auth_header = NULL;
}

/* ---- one request ---- */

static void
finish(struct etcd_op *op, struct etcd_result *r)
{
	etcd_cb cb = op->cb;
	void *arg = op->arg;

	/* Unlinked first: the callback may cancel anything, free the op not. */
	ev_timer_stop(op->c->loop, &op->later);
	op_unlink(op);
	op_free(op);
	cb(r, arg);
	etcd_result_clear(r);
}

static void
fail_now(struct etcd_op *op, const char *error, bool unavailable)
{
	struct etcd_result r = {.error = xstrdup(error), .unavailable = unavailable};

	finish(op, &r);
}

static void
later_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct etcd_op *op = w->data;
	char *e = op->fail_error;

	(void)loop;
	(void)revents;
	op->fail_error = NULL;
	fail_now(op, e, op->fail_unavailable);
	free(e);
}

static void
fail_later(struct etcd_op *op, char *error, bool unavailable)
{
	free(op->fail_error);
	op->fail_error = error;
	op->fail_unavailable = unavailable;
	ev_timer_set(&op->later, 0., 0.);
	ev_timer_start(op->c->loop, &op->later);
}

static void auth_start(struct etcd_client *c);

/* Waits for a token: the one in flight, or a new authentication. */
static void
op_wait_auth(struct etcd_op *op)
{
	op->waiting_auth = true;
	auth_start(op->c);
}

static void
http_done(const struct http_response *resp, void *arg)
{
	struct etcd_op *op = arg;
	struct etcd_client *c = op->c;
	struct etcd_result r;
	char *e;

	op->req = NULL;
	if (resp->status == 0) {
		memset(&r, 0, sizeof(r));
		r.error = xstrdup(resp->error ? resp->error : "no answer");
		r.unavailable = true;
	} else {
		(void)etcd_parse_answer(op->call, resp->status, resp->body, resp->body_len, &r);
	}
	if (r.ok) {
		c->cur = op->ep;
		if (op->call == ETCD_CALL_AUTH) {
			char *tok = etcd_json_token(resp->body, resp->body_len);
			if (tok == NULL) {
				etcd_result_clear(&r);
				r.error = xasprintf("%s: no token in the answer",
				    c->endpoints[op->ep]);
				finish(op, &r);
				return;
			}
			etcd_drop_token(c, NULL);
			c->token = tok;
			c->auth_header = xasprintf("Authorization: %s", tok);
		}
		finish(op, &r);
		return;
	}
	if (c->username && op->call != ETCD_CALL_AUTH && !op->reauthed &&
	    etcd_auth_error(r.code, r.error)) {
		log_debug("etcd: %s: %s: authenticating again", c->endpoints[op->ep], r.error);
		etcd_result_clear(&r);
		op->reauthed = true;
		free(op->answer_error);
		op->answer_error = NULL;
		etcd_drop_token(c, op->token_used);
		op->first = c->cur;
		op->tries = 0;
		op_attempt(op);
		return;
	}
	/* A txn that reached a member and got no answer may have been
	 * applied: sent again elsewhere it would fail its own compares and be
	 * reported as refused.  Its caller, who knows what it compares,
	 * decides.  (A put or a delete sent twice does what it did once.) */
	if (r.unavailable && resp->status == 0 && resp->request_sent &&
	    op->call == ETCD_CALL_TXN) {
		e = r.error;
		r.error = xasprintf("%s: %s (no answer; the txn may have been applied)",
		    c->endpoints[op->ep], e);
		free(e);
		finish(op, &r);
		return;
	}
	if (r.unavailable && op->tries + 1 < c->nendpoints) {
		log_debug("etcd: %s%s: %s; trying the next endpoint", c->endpoints[op->ep],
		    op->path, r.error);
		if (op->answer_error == NULL && resp->status != 0) {
			op->answer_error = xasprintf("%s: %s", c->endpoints[op->ep], r.error);
			op->answer_code = r.code;
		}
		etcd_result_clear(&r);
		op->tries++;
		op_attempt(op);
		return;
	}
	e = r.error;
	if (r.unavailable && resp->status == 0 && op->answer_error) {
		r.error = xasprintf("%s (and no answer from the other endpoints)",
		    op->answer_error);
		r.code = op->answer_code;
	} else if (r.unavailable && c->nendpoints > 1)
		r.error = xasprintf("%s: %s (every endpoint tried)", c->endpoints[op->ep], e);
	else
		r.error = xasprintf("%s: %s", c->endpoints[op->ep], e);
	free(e);
	finish(op, &r);
}

static void
op_attempt(struct etcd_op *op)
{
	struct etcd_client *c = op->c;
	struct http_request_opts o;
	const char *headers[3];
	char *url;

	if (c->username && op->call != ETCD_CALL_AUTH && c->token == NULL) {
		op_wait_auth(op);
		return;
	}
	op->ep = (op->first + op->tries) % c->nendpoints;
	url = xasprintf("%s%s", c->endpoints[op->ep], op->path);
	etcd_request_opts(c, url, headers, &o);
	o.body = op->body;
	o.body_len = op->body_len;
	free_secret_str(op->token_used);
	op->token_used = xstrdup(c->token);
	c->nrequests++;
	op->req = http_request(c->http, &o, http_done, op);
	if (op->req == NULL)
		fail_later(op, xasprintf("%s: cannot start the request", url), true);
	free(url);
}

static struct etcd_op *
op_start(struct etcd_client *c, enum etcd_call call, char *body, etcd_cb cb, void *arg)
{
	struct etcd_op *op = xcalloc(1, sizeof(*op));

	op->c = c;
	op->call = call;
	op->path = call_paths[call];
	op->body = body;
	op->body_len = strlen(body);
	op->secret_body = call == ETCD_CALL_AUTH;
	op->cb = cb;
	op->arg = arg;
	op->first = c->cur;
	ev_timer_init(&op->later, later_cb, 0., 0.);
	op->later.data = op;
	op->next = c->ops;
	if (c->ops)
		c->ops->prev = op;
	c->ops = op;
	op_attempt(op);
	return op;
}

/* ---- authentication ---- */

/*
 * The authentication ended: a token lets every waiting request and watch
 * go on; a failure fails the requests (and tells the watches).  Callbacks
 * may start or cancel requests, so the doomed ones are marked first and
 * taken one at a time from the list's head.
 */
static void
auth_done(const struct etcd_result *r, void *arg)
{
	struct etcd_client *c = arg;
	struct etcd_op *op;
	struct etcd_watch *w;
	char *error = r->ok ? NULL : xasprintf("authentication failed: %s", r->error);
	bool unavailable = r->unavailable;

	for (op = c->ops; op; op = op->next) {
		if (!op->waiting_auth)
			continue;
		op->waiting_auth = false;
		if (error) {
			op->doomed = true;
			continue;
		}
		op->first = c->cur;
		op->tries = 0;
		op_attempt(op);
	}
	for (w = c->watches; w; w = etcd_watch_next(w))
		if (etcd_watch_waiting_auth(w))
			break;
	while (w != NULL) {
		etcd_watch_auth_done(w, error, unavailable);
		for (w = c->watches; w; w = etcd_watch_next(w))
			if (etcd_watch_waiting_auth(w))
				break;
	}
	while (error) {
		for (op = c->ops; op && !op->doomed; op = op->next)
			;
		if (op == NULL)
			break;
		fail_now(op, error, unavailable);
	}
	free(error);
}

static void
auth_start(struct etcd_client *c)
{
	if (c->auth)
		return;
	c->auth = op_start(c, ETCD_CALL_AUTH, etcd_json_auth(c->username, c->password),
	    auth_done, c);
}

void
etcd_auth_needed(struct etcd_client *c)
{
	auth_start(c);
}

/* ---- requests ---- */

static bool
key_ok(const char *key, const char *what)
{
	if (key == NULL) {
		log_err("etcd: %s without a key", what);
		return false;
	}
	return true;
}

struct etcd_op *
etcd_range(struct etcd_client *c, const char *key, bool prefix, etcd_cb cb, void *arg)
{
	if (!key_ok(key, "range"))
		return NULL;
	return op_start(c, ETCD_CALL_RANGE, etcd_json_range(key, prefix), cb, arg);
}

struct etcd_op *
etcd_put(struct etcd_client *c, const char *key, const void *value, size_t len,
    long long lease, etcd_cb cb, void *arg)
{
	if (!key_ok(key, "put"))
		return NULL;
	if (key[0] == '\0') {
		log_err("etcd: put of an empty key");
		return NULL;
	}
	return op_start(c, ETCD_CALL_PUT, etcd_json_put(key, value, len, lease), cb, arg);
}

struct etcd_op *
etcd_delete(struct etcd_client *c, const char *key, bool prefix, etcd_cb cb, void *arg)
{
	if (!key_ok(key, "delete"))
		return NULL;
	return op_start(c, ETCD_CALL_DELETE, etcd_json_delete(key, prefix), cb, arg);
}

struct etcd_op *
etcd_txn(struct etcd_client *c, const struct etcd_txn *t, etcd_cb cb, void *arg)
{
	for (size_t i = 0; i < t->ncmp; i++)
		if (!key_ok(t->cmp[i].key, "txn compare"))
			return NULL;
	for (size_t i = 0; i < t->nsuccess; i++)
		if (!key_ok(t->success[i].key, "txn operation"))
			return NULL;
	for (size_t i = 0; i < t->nfailure; i++)
		if (!key_ok(t->failure[i].key, "txn operation"))
			return NULL;
	return op_start(c, ETCD_CALL_TXN, etcd_json_txn(t), cb, arg);
}

struct etcd_op *
etcd_lease_grant(struct etcd_client *c, long long ttl, etcd_cb cb, void *arg)
{
	if (ttl <= 0) {
		log_err("etcd: lease grant with a TTL of %lld s", ttl);
		return NULL;
	}
	return op_start(c, ETCD_CALL_LEASE_GRANT, etcd_json_lease_grant(ttl), cb, arg);
}

struct etcd_op *
etcd_lease_keepalive(struct etcd_client *c, long long id, etcd_cb cb, void *arg)
{
	return op_start(c, ETCD_CALL_LEASE_KEEPALIVE, etcd_json_lease_id(id), cb, arg);
}

struct etcd_op *
etcd_lease_revoke(struct etcd_client *c, long long id, etcd_cb cb, void *arg)
{
	return op_start(c, ETCD_CALL_LEASE_REVOKE, etcd_json_lease_id(id), cb, arg);
}
