/*
 * cluster_chal.c - http-01 across the pool.  The CA's validation request
 * lands on whichever host the load balancer picks, so every host must
 * serve every token of the pool's orders.
 *
 * The holder publishes each key authorization at P/challenges/TOKEN (with
 * its lease) before it tells the CA to validate, and waits until every
 * live member (P/members/) has written P/acks/TOKEN/NODE, or for
 * SHARE_WAIT seconds at most: a member that is slow or gone must not hold
 * the pool's renewals hostage, and the holder serves the token itself.
 * Every other host adds the tokens its watch brings to its built-in
 * responder (a map in memory: serving a request never waits on etcd) or
 * writes them under the certificate's webroot, then acknowledges.  The
 * keys are removed after validation, whatever the outcome (and with the
 * holder's lease if it dies first).
 */
#include <string.h>

#include "cluster_internal.h"
#include "http01.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define SHARE_WAIT 5.0          /* seconds the holder waits for acks at most */
/* Seconds between looks at the acks: the first soon (the members' watches
 * bring a token in tens of milliseconds), then doubling up to a second, so
 * a member that never answers costs a handful of reads over SHARE_WAIT,
 * not a hundred, with many orders in flight. */
#define SHARE_TICK_FIRST 0.05
#define SHARE_TICK_MAX 1.0

/* ---- serving the pool's tokens here ---- */

static const char *
token_of(const struct cluster *cl, const char *key)
{
	size_t n = strlen(cl->prefix) + strlen("challenges/");

	return strlen(key) > n ? key + n : NULL;
}

static struct pool_token **
token_find(struct cluster *cl, const char *token)
{
	struct pool_token **pp;

	for (pp = &cl->tokens; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->token, token) == 0)
			return pp;
	return NULL;
}

static void
token_unserve(struct cluster *cl, struct pool_token *t)
{
	if (t->webroot != NULL)
		http01_webroot_remove(t->webroot, t->token);
	else if (cl->f->env->http01 != NULL)
		http01_server_remove(cl->f->env->http01, t->token);
	free(t->token);
	free(t->webroot);
	free(t);
}

static void
ack(struct cluster *cl, const char *token)
{
	char *ak = cluster_key(cl, "acks/%s/%s", token, cl->node);
	char *mk = cluster_key(cl, "members/%s", cl->node);
	char *mv = cluster_member_value(cl, token);
	struct etcd_txn_op ops[2] = {
		{ .type = ETCD_TXN_PUT, .key = ak, .value = "", .value_len = 0, .lease = cl->lease },
		{ .type = ETCD_TXN_PUT, .key = mk, .value = mv, .value_len = strlen(mv),
		  .lease = cl->lease },
	};
	struct etcd_txn t = { NULL, 0, ops, 2, NULL, 0 };

	(void)etcd_txn(cl->etcd, &t, cluster_etcd_ignore, NULL);
	free(ak);
	free(mk);
	free(mv);
}

void
pool_chal_event(struct cluster *cl, const struct etcd_event *ev)
{
	const char *token = token_of(cl, ev->kv->key), *cert, *keyauth, *node;
	const struct cert_rt *r;
	struct pool_token **pp, *t;
	struct json *v = NULL;
	char err[512];

	if (token == NULL || strchr(token, '/') != NULL)
		return;
	pp = token_find(cl, token);
	if (ev->type == ETCD_EVENT_DELETE) {
		if (pp != NULL) {
			t = *pp;
			*pp = t->next;
			token_unserve(cl, t);
		}
		return;
	}
	if (pp != NULL)
		return;
	if ((v = json_parse(ev->kv->value, ev->kv->value_len, NULL)) == NULL)
		return;
	cert = json_get_str(v, "cert");
	keyauth = json_get_str(v, "keyauth");
	node = json_get_str(v, "node");
	/* The holder serves its own tokens already (challenge.c). */
	if (keyauth == NULL || (node != NULL && strcmp(node, cl->node) == 0))
		goto out;
	r = cert ? cluster_find_cert(cl, cert) : NULL;
	t = xcalloc(1, sizeof(*t));
	t->token = xstrdup(token);
	if (r != NULL && r->cfg->http01_mode == HTTP01_WEBROOT && r->cfg->webroot != NULL) {
		t->webroot = xstrdup(r->cfg->webroot);
		if (http01_webroot_publish(t->webroot, token, keyauth, err, sizeof(err)) < 0) {
			log_cert(LOG_ERR, cert, LOG_EVENT_NONE,
			    "pool: cannot serve the pool's http-01 token: %s", err);
			free(t->webroot);
			free(t->token);
			free(t);
			goto out;
		}
	} else if (cl->f->env->http01 == NULL ||
	    http01_server_add(cl->f->env->http01, token, keyauth) < 0) {
		log_cert(LOG_WARNING, cert ? cert : "?", LOG_EVENT_NONE,
		    "pool: no http-01 responder here for the pool's token (%s uses neither "
		    "the built-in responder nor a webroot on this host)", cert ? cert : "it");
		free(t->token);
		free(t);
		goto out;
	}
	t->next = cl->tokens;
	cl->tokens = t;
	if (cluster_writable(cl))
		ack(cl, token);
out:
	json_free(v);
}

void
pool_chal_drop_all(struct cluster *cl)
{
	struct pool_token *t, *next;

	for (t = cl->tokens; t != NULL; t = next) {
		next = t->next;
		token_unserve(cl, t);
	}
	cl->tokens = NULL;
	while (cl->shares != NULL)
		pool_share_cancel(cl, cl->shares->g);
}

/* ---- the holder's side: publish, then wait for the acks ---- */

static void share_look(struct pool_share *sh);

static void
share_free(struct pool_share *sh)
{
	struct pool_share **pp;

	for (pp = &sh->cl->shares; *pp != NULL; pp = &(*pp)->next)
		if (*pp == sh) {
			*pp = sh->next;
			break;
		}
	ev_timer_stop(sh->cl->f->env->loop, &sh->tick);
	etcd_cancel(sh->op);
	free(sh->token);
	free(sh);
}

static void
share_open(struct pool_share *sh, const char *how)
{
	struct order_gate *g = sh->g;
	struct cert_rt *r = sh->pc->r;

	cert_log(r, LOG_INFO, LOG_EVENT_NONE, "pool: http-01 token %s %s", sh->token, how);
	share_free(sh);
	order_gate_done(g, true, NULL);
}

static void
share_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	share_look(w->data);
}

static void
share_again(struct pool_share *sh)
{
	if (ev_now(sh->cl->f->env->loop) - sh->started >= SHARE_WAIT) {
		share_open(sh, "not acknowledged by every member in time; validating anyway");
		return;
	}
	double left = SHARE_WAIT - (ev_now(sh->cl->f->env->loop) - sh->started);

	if (sh->tick_next <= 0)
		sh->tick_next = SHARE_TICK_FIRST;
	ev_timer_set(&sh->tick, sh->tick_next < left ? sh->tick_next : left, 0.);
	ev_timer_start(sh->cl->f->env->loop, &sh->tick);
	sh->tick_next *= 2;
	if (sh->tick_next > SHARE_TICK_MAX)
		sh->tick_next = SHARE_TICK_MAX;
}

static void
acks_done(const struct etcd_result *res, void *arg)
{
	struct pool_share *sh = arg;

	sh->op = NULL;
	if (!res->ok) {
		share_again(sh);
		return;
	}
	/* The acks of the members that are alive; our own is implied. */
	if ((long long)res->nkvs + 1 >= sh->members) {
		char how[64];

		snprintf(how, sizeof(how), "served by all %lld members", sh->members);
		share_open(sh, how);
		return;
	}
	share_again(sh);
}

static void
members_done(const struct etcd_result *res, void *arg)
{
	struct pool_share *sh = arg;
	char *k;

	sh->op = NULL;
	if (!res->ok) {
		share_again(sh);
		return;
	}
	sh->members = (long long)res->nkvs;
	k = cluster_key(sh->cl, "acks/%s/", sh->token);
	sh->op = etcd_range(sh->cl->etcd, k, true, acks_done, sh);
	free(k);
	if (sh->op == NULL)
		share_again(sh);
}

static void
share_look(struct pool_share *sh)
{
	char *k;

	if (!sh->published) {
		share_again(sh);
		return;
	}
	k = cluster_key(sh->cl, "members/");
	sh->op = etcd_range(sh->cl->etcd, k, true, members_done, sh);
	free(k);
	if (sh->op == NULL)
		share_again(sh);
}

static void
share_put_done(const struct etcd_result *res, void *arg)
{
	struct pool_share *sh = arg;

	sh->op = NULL;
	if (!res->ok) {
		/* Serving it here alone is still better than not validating. */
		share_open(sh, "could not be shared with the pool (etcd); validating anyway");
		return;
	}
	sh->published = true;
	share_look(sh);
}

void
pool_share_start(struct pool_cert *pc, const char *token, const char *keyauth,
    struct order_gate *g)
{
	struct cluster *cl = pc->cl;
	struct pool_share *sh = xcalloc(1, sizeof(*sh));
	struct json *o = json_new_object();
	char *k, *v;

	sh->cl = cl;
	sh->pc = pc;
	sh->g = g;
	sh->token = xstrdup(token);
	sh->started = ev_now(cl->f->env->loop);
	ev_timer_init(&sh->tick, share_tick_cb, 0., 0.);
	sh->tick.data = sh;
	sh->next = cl->shares;
	cl->shares = sh;
	json_set_str(o, "cert", pc->r->cfg->name);
	json_set_str(o, "keyauth", keyauth);
	json_set_str(o, "node", cl->node);
	v = json_print(o);
	k = cluster_key(cl, "challenges/%s", token);
	sh->op = etcd_put(cl->etcd, k, v, strlen(v), cl->lease, share_put_done, sh);
	if (sh->op == NULL) {
		ev_timer_set(&sh->tick, 0., 0.);
		ev_timer_start(cl->f->env->loop, &sh->tick);
	}
	free(k);
	free(v);
	json_free(o);
}

void
pool_share_cancel(struct cluster *cl, struct order_gate *g)
{
	for (struct pool_share *sh = cl->shares; sh != NULL; sh = sh->next)
		if (sh->g == g) {
			share_free(sh);
			return;
		}
}

void
pool_share_gone(struct cluster *cl, const char *token)
{
	char *ck = cluster_key(cl, "challenges/%s", token);
	char *ak = cluster_key(cl, "acks/%s/", token);
	struct etcd_txn_op ops[2] = {
		{ .type = ETCD_TXN_DELETE, .key = ck },
		{ .type = ETCD_TXN_DELETE, .key = ak, .prefix = true },
	};
	struct etcd_txn t = { NULL, 0, ops, 2, NULL, 0 };

	for (struct pool_share *sh = cl->shares; sh != NULL; sh = sh->next)
		if (strcmp(sh->token, token) == 0) {
			share_free(sh);
			break;
		}
	(void)etcd_txn(cl->etcd, &t, cluster_etcd_ignore, NULL);
	free(ck);
	free(ak);
}
