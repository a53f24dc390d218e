/*
 * cluster.c - this host's session with the pool: the lease every lock and
 * membership hangs on, kept alive from the loop with a one-shot keepalive
 * every TTL/3; the member record; the catch-up (a range read) and then the
 * watches on P/certs/ and P/challenges/; the state the operator sees.
 *
 * etcd down is a state, not an error: installed certificates keep being
 * served, nothing local is removed, the change is logged once and shown
 * in STATUS= and `certfleetctl status`, and requests back off.  A lease
 * whose keepalive answers without a TTL is gone: every lock held under it
 * is dropped and writing stops before anything else happens (a host that
 * was paused or partitioned must not overwrite a newer result; the
 * fencing checks in cluster_cert.c refuse it even if it tried).
 */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "cluster_internal.h"
#include "json.h"
#include "log.h"
#include "namemap.h"
#include "util.h"

static const char *const cluster_state_names[CLUSTER_STATE__MAX] = {
	[CLUSTER_CONNECTING] = "connecting",
	[CLUSTER_UP] = "up",
	[CLUSTER_DOWN] = "etcd unreachable",
};

char *
cluster_key(const struct cluster *cl, const char *fmt, ...)
{
	va_list ap;
	char *rest, *k;

	va_start(ap, fmt);
	rest = xvasprintf(fmt, ap);
	va_end(ap);
	k = xasprintf("%s%s", cl->prefix, rest);
	free(rest);
	return k;
}

void
cluster_set_state(struct cluster *cl, enum cluster_state s, const char *error)
{
	if (s == cl->state && (error == NULL || cl->state_error != NULL))
		return;
	if (s != cl->state)
		cl->state_since = time(NULL);
	cl->state = s;
	free(cl->state_error);
	cl->state_error = xstrdup(error);
	switch (s) {
	case CLUSTER_UP:
		log_notice("pool: connected to etcd at %s as node %s (lease %llx, %llds)",
		    etcd_client_endpoint(cl->etcd), cl->node, cl->lease, cl->lease_ttl);
		break;
	case CLUSTER_DOWN:
		log_warn("pool: etcd unreachable (%s); installed certificates keep being "
		    "served, shared renewals wait for it", error ? error : "no answer");
		break;
	default:
		break;
	}
}

bool
cluster_writable(const struct cluster *cl)
{
	return cl->state == CLUSTER_UP && cl->lease != 0;
}

void
cluster_saw(struct cluster *cl, const struct etcd_result *res)
{
	if (res->revision > cl->revision)
		cl->revision = res->revision;
}

/* By the fleet's name index: each watch event and challenge looks one up,
 * and a catch-up of N certificates must not cost N walks of the fleet. */
struct cert_rt *
cluster_find_cert(struct cluster *cl, const char *name)
{
	return namemap_get(cl->f->by_name, name);
}

/* ---- the lease ---- */

static void lease_grant(struct cluster *cl);
static void session_begin(struct cluster *cl);

static void
keepalive_arm(struct cluster *cl, double after)
{
	ev_timer_stop(cl->f->env->loop, &cl->keepalive);
	ev_timer_set(&cl->keepalive, after, 0.);
	ev_timer_start(cl->f->env->loop, &cl->keepalive);
}

/* The lease is gone (or may be: no keepalive answered for a whole TTL):
 * stop writing first, then start over with a new one. */
static void
lease_lost(struct cluster *cl, const char *why)
{
	log_warn("pool: lease %llx lost (%s); dropping every lock held under it",
	    cl->lease, why);
	cl->lease = 0;
	pool_certs_lease_lost(cl);
	cluster_set_state(cl, CLUSTER_CONNECTING, NULL);
}

static void
keepalive_done(const struct etcd_result *res, void *arg)
{
	struct cluster *cl = arg;
	double now = ev_now(cl->f->env->loop);

	cl->lease_op = NULL;
	if (!res->ok) {
		cluster_set_state(cl, CLUSTER_DOWN, res->error);
		if (now - cl->last_keepalive >= (double)cl->lease_ttl)
			lease_lost(cl, "no keepalive answered for a whole TTL");
		keepalive_arm(cl, 1.0);
		return;
	}
	cluster_saw(cl, res);
	if (res->ttl <= 0) {
		lease_lost(cl, "etcd says it expired");
		lease_grant(cl);
		return;
	}
	cl->last_keepalive = now;
	cluster_set_state(cl, CLUSTER_UP, NULL);
	keepalive_arm(cl, (double)cl->lease_ttl / 3.0);
}

static void
keepalive_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cluster *cl = w->data;

	(void)loop;
	(void)revents;
	if (cl->lease_op != NULL || cl->leaving)
		return;
	if (cl->lease == 0) {
		lease_grant(cl);
		return;
	}
	cl->lease_op = etcd_lease_keepalive(cl->etcd, cl->lease, keepalive_done, cl);
	if (cl->lease_op == NULL)
		keepalive_arm(cl, 1.0);
}

static void
grant_done(const struct etcd_result *res, void *arg)
{
	struct cluster *cl = arg;

	cl->lease_op = NULL;
	if (!res->ok || res->lease_id == 0) {
		cluster_set_state(cl, CLUSTER_DOWN, res->ok ? "no lease granted" : res->error);
		keepalive_arm(cl, 2.0);
		return;
	}
	cluster_saw(cl, res);
	cl->lease = res->lease_id;
	cl->lease_ttl = res->ttl > 0 ? res->ttl : cl->cc->lease_ttl;
	cl->last_keepalive = ev_now(cl->f->env->loop);
	cluster_set_state(cl, CLUSTER_UP, NULL);
	keepalive_arm(cl, (double)cl->lease_ttl / 3.0);
	session_begin(cl);
}

static void
lease_grant(struct cluster *cl)
{
	if (cl->lease_op != NULL || cl->leaving)
		return;
	cl->lease_op = etcd_lease_grant(cl->etcd, cl->cc->lease_ttl, grant_done, cl);
	if (cl->lease_op == NULL)
		keepalive_arm(cl, 2.0);
}

/* ---- membership ---- */

static void
member_done(const struct etcd_result *res, void *arg)
{
	struct cluster *cl = arg;

	cl->member_op = NULL;
	if (!res->ok)
		log_warn("pool: cannot register as member %s: %s", cl->node, res->error);
	else
		cluster_saw(cl, res);
}

/* The member record: this host is alive while its lease is. */
char *
cluster_member_value(struct cluster *cl, const char *last_ack)
{
	struct json *o = json_new_object();
	char *s;

	json_set_str(o, "node", cl->node);
	json_set_num(o, "pid", (double)getpid());
	json_set_time(o, "since", cl->state_since);
	if (last_ack != NULL) {
		json_set_str(o, "last_ack", last_ack);
		json_set_time(o, "last_ack_at", time(NULL));
	}
	s = json_print(o);
	json_free(o);
	return s;
}

static void
member_register(struct cluster *cl)
{
	char *k = cluster_key(cl, "members/%s", cl->node);
	char *v = cluster_member_value(cl, NULL);

	etcd_cancel(cl->member_op);
	cl->member_op = etcd_put(cl->etcd, k, v, strlen(v), cl->lease, member_done, cl);
	free(k);
	free(v);
}

/* ---- catching up, then watching ---- */

static void certs_range(struct cluster *cl);

static void
certs_events(void *arg, const struct etcd_event *ev, size_t n, long long revision)
{
	struct cluster *cl = arg;

	if (revision > cl->revision)
		cl->revision = revision;
	for (size_t i = 0; i < n; i++)
		if (ev[i].type == ETCD_EVENT_PUT)
			pool_cert_latest(cl, ev[i].kv);
}

static void
watch_state(void *arg, bool up, const char *error)
{
	(void)arg;
	if (!up)
		log_debug("pool: watch broken (%s); re-establishing it", error ? error : "?");
}

static void
certs_compacted(void *arg, long long compact_revision)
{
	struct cluster *cl = arg;

	log_info("pool: missed events up to revision %lld (compacted); reading "
	    "the certificates again", compact_revision);
	certs_range(cl);
}

static const struct etcd_watch_cbs certs_watch_cbs = {
	.events = certs_events,
	.state = watch_state,
	.compacted = certs_compacted,
};

#define CATCHUP_RETRY_MIN 1.0
#define CATCHUP_RETRY_MAX 60.0

/*
 * A range read that failed while the lease lives on (one member refusing,
 * a timeout) is tried again on a doubling delay up to a minute: waiting for
 * the next lease would leave this host without the pool's certificates, or
 * its tokens, for as long as the lease is kept alive.
 */
static void
catchup_later(struct cluster *cl)
{
	if (ev_is_active(&cl->catchup_retry) || cl->leaving)
		return;
	cl->catchup_backoff = cl->catchup_backoff <= 0 ? CATCHUP_RETRY_MIN :
	    cl->catchup_backoff * 2;
	if (cl->catchup_backoff > CATCHUP_RETRY_MAX)
		cl->catchup_backoff = CATCHUP_RETRY_MAX;
	ev_timer_set(&cl->catchup_retry, cl->catchup_backoff, 0.);
	ev_timer_start(cl->f->env->loop, &cl->catchup_retry);
}

static void certs_range(struct cluster *cl);
static void chal_range(struct cluster *cl);

static void
catchup_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cluster *cl = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	/* No lease: the next one's session_begin reads both again. */
	if (cl->leaving || cl->lease == 0)
		return;
	if (!cl->caught_up && cl->catchup_op == NULL)
		certs_range(cl);
	if (!cl->chal_caught_up && cl->chal_catchup_op == NULL)
		chal_range(cl);
}

static void
certs_range_done(const struct etcd_result *res, void *arg)
{
	struct cluster *cl = arg;
	char *k;

	cl->catchup_op = NULL;
	if (!res->ok) {
		log_info("pool: catching up: %s", res->error);
		cl->caught_up = false;
		catchup_later(cl);
		return;
	}
	if (cl->chal_caught_up)
		cl->catchup_backoff = 0;
	cluster_saw(cl, res);
	for (size_t i = 0; i < res->nkvs; i++)
		pool_cert_latest(cl, &res->kvs[i]);
	cl->caught_up = true;
	if (cl->certs_watch != NULL) {
		etcd_watch_restart(cl->certs_watch, res->revision + 1);
		return;
	}
	k = cluster_key(cl, "certs/");
	cl->certs_watch = etcd_watch_new(cl->etcd, k, res->revision + 1, &certs_watch_cbs, cl);
	free(k);
}

static void
certs_range(struct cluster *cl)
{
	char *k = cluster_key(cl, "certs/");

	etcd_cancel(cl->catchup_op);
	cl->catchup_op = etcd_range(cl->etcd, k, true, certs_range_done, cl);
	free(k);
}

static void
chal_events(void *arg, const struct etcd_event *ev, size_t n, long long revision)
{
	struct cluster *cl = arg;

	if (revision > cl->revision)
		cl->revision = revision;
	for (size_t i = 0; i < n; i++)
		pool_chal_event(cl, &ev[i]);
}

static void
chal_compacted(void *arg, long long compact_revision)
{
	(void)compact_revision;
	chal_range(arg);
}

static const struct etcd_watch_cbs chal_watch_cbs = {
	.events = chal_events,
	.state = watch_state,
	.compacted = chal_compacted,
};

static void
chal_range_done(const struct etcd_result *res, void *arg)
{
	struct cluster *cl = arg;
	char *k;

	cl->chal_catchup_op = NULL;
	if (!res->ok) {
		log_info("pool: catching up on challenges: %s", res->error);
		cl->chal_caught_up = false;
		catchup_later(cl);
		return;
	}
	cl->chal_caught_up = true;
	if (cl->caught_up)
		cl->catchup_backoff = 0;
	cluster_saw(cl, res);
	for (size_t i = 0; i < res->nkvs; i++) {
		struct etcd_event ev = { ETCD_EVENT_PUT, &res->kvs[i] };
		pool_chal_event(cl, &ev);
	}
	if (cl->chal_watch != NULL) {
		etcd_watch_restart(cl->chal_watch, res->revision + 1);
		return;
	}
	k = cluster_key(cl, "challenges/");
	cl->chal_watch = etcd_watch_new(cl->etcd, k, res->revision + 1, &chal_watch_cbs, cl);
	free(k);
}

static void
chal_range(struct cluster *cl)
{
	char *k = cluster_key(cl, "challenges/");

	etcd_cancel(cl->chal_catchup_op);
	cl->chal_catchup_op = etcd_range(cl->etcd, k, true, chal_range_done, cl);
	free(k);
}

/* A lease is held (first, or again after losing one): register, catch up
 * (the watches resume by themselves; a range covers what a partition or a
 * new lease may have missed), sync the shared accounts. */
static void
session_begin(struct cluster *cl)
{
	member_register(cl);
	chal_range(cl);
	certs_range(cl);
	pool_accts_start(cl);
	pool_certs_session_up(cl);
	fleet_queue_run(cl->f);
}

/* ---- the public side ---- */

struct cluster *
cluster_new(struct fleet *f, const struct config_cluster *cc, char *err, size_t errlen)
{
	struct cluster *cl = xcalloc(1, sizeof(*cl));
	struct etcd_settings s = {0};

	cl->f = f;
	cl->cc = cc;
	cl->prefix = xstrdup(cc->prefix);
	cl->node = xstrdup(cc->node);
	cl->key = cc->secret_key;
	s.endpoints = &cc->endpoints;
	s.ca_bundle = cc->ca_bundle;
	s.cert = cc->cert;
	s.key = cc->key;
	s.username = cc->username;
	s.password = cc->password;
	cl->etcd = etcd_client_new(f->env->loop, &s, err, errlen);
	if (cl->etcd == NULL) {
		free(cl->prefix);
		free(cl->node);
		envelope_key_wipe(&cl->key);
		free(cl);
		return NULL;
	}
	cl->state = CLUSTER_CONNECTING;
	cl->state_since = time(NULL);
	cl->lease_ttl = cc->lease_ttl;
	ev_timer_init(&cl->keepalive, keepalive_cb, 0., 0.);
	cl->keepalive.data = cl;
	ev_timer_init(&cl->catchup_retry, catchup_retry_cb, 0., 0.);
	cl->catchup_retry.data = cl;
	for (size_t i = 0; i < f->ncerts; i++)
		if (f->certs[i]->cfg->shared)
			pool_cert_new(cl, f->certs[i]);
	pool_accts_init(cl);
	return cl;
}

void
cluster_start(struct cluster *cl)
{
	log_info("pool: node %s joining through %s (prefix %s)", cl->node,
	    etcd_client_endpoint(cl->etcd), cl->prefix);
	lease_grant(cl);
}

static void
revoke_done(const struct etcd_result *res, void *arg)
{
	struct cluster *cl = arg;

	cl->lease_op = NULL;
	if (res->ok)
		log_info("pool: left the pool (lease %llx revoked)", cl->lease);
	cl->lease = 0;
	fleet_maybe_idle(cl->f);
}

bool
cluster_leave(struct cluster *cl)
{
	if (cl->leaving)
		return cl->lease_op != NULL;
	cl->leaving = true;
	ev_timer_stop(cl->f->env->loop, &cl->keepalive);
	etcd_cancel(cl->lease_op);
	cl->lease_op = NULL;
	if (cl->lease == 0 || cl->state != CLUSTER_UP)
		return false;
	cl->lease_op = etcd_lease_revoke(cl->etcd, cl->lease, revoke_done, cl);
	return cl->lease_op != NULL;
}

void
cluster_free(struct cluster *cl)
{
	struct fleet *f;

	if (cl == NULL)
		return;
	f = cl->f;
	ev_timer_stop(f->env->loop, &cl->keepalive);
	ev_timer_stop(f->env->loop, &cl->catchup_retry);
	for (size_t i = 0; i < f->ncerts; i++)
		if (f->certs[i]->pool != NULL)
			cluster_cert_gone(cl, f->certs[i]);
	pool_chal_drop_all(cl);
	pool_accts_free(cl);
	etcd_watch_free(cl->certs_watch);
	etcd_watch_free(cl->chal_watch);
	etcd_cancel(cl->catchup_op);
	etcd_cancel(cl->chal_catchup_op);
	etcd_cancel(cl->member_op);
	etcd_cancel(cl->lease_op);
	/* The lease was revoked by cluster_leave when the daemon drained;
	 * otherwise it expires a lease time from now. */
	etcd_client_free(cl->etcd);
	free(cl->state_error);
	free(cl->prefix);
	free(cl->node);
	envelope_key_wipe(&cl->key);
	free(cl);
}

void
cluster_reconfigure(struct cluster *cl, const struct config_cluster *cc)
{
	const struct config_cluster *old = cl->cc;
	bool same = old->endpoints.n == cc->endpoints.n && strcmp(cl->prefix, cc->prefix) == 0 &&
	    strcmp(cl->node, cc->node) == 0;

	for (size_t i = 0; same && i < cc->endpoints.n; i++)
		same = strcmp(old->endpoints.v[i], cc->endpoints.v[i]) == 0;
	if (!same)
		log_warn("pool: cluster.etcd endpoints, prefix or node changed; they take "
		    "effect at the next restart");
	/* The session keeps its own prefix, node and connection; the rest
	 * (fallback, the secret key) is the new section's from now on. */
	cl->cc = cc;
	cl->key = cc->secret_key;
	/* Accounts may have come, gone or become shared: sync them again
	 * (the shared certificates wait a moment meanwhile). */
	pool_accts_free(cl);
	pool_accts_init(cl);
	if (cluster_writable(cl))
		pool_accts_start(cl);
}

const char *
cluster_state_line(struct cluster *cl)
{
	char since[32];

	time_format_rfc3339(cl->state_since, since, sizeof(since));
	if (cl->state == CLUSTER_UP)
		snprintf(cl->state_line, sizeof(cl->state_line), "pool: up as %s via %s",
		    cl->node, etcd_client_endpoint(cl->etcd));
	else
		snprintf(cl->state_line, sizeof(cl->state_line), "pool: %s since %s",
		    cluster_state_names[cl->state], since);
	return cl->state_line;
}

unsigned long
cluster_requests(const struct cluster *cl)
{
	return etcd_client_requests(cl->etcd);
}

/* ---- certfleetctl cluster status ---- */

struct status_req {
	struct cluster *cl;
	cluster_status_cb cb;
	void *arg;
	struct json *out;
	int step;
};

static void status_step(const struct etcd_result *res, void *arg);

static void
status_step(const struct etcd_result *res, void *arg)
{
	struct status_req *q = arg;
	struct cluster *cl = q->cl;
	struct json *arr;
	char *k;

	if (res != NULL && !res->ok) {
		q->cb(q->arg, NULL, res->error);
		json_free(q->out);
		free(q);
		return;
	}
	if (res != NULL)
		cluster_saw(cl, res);
	if (q->step == 1) {
		arr = json_set_array(q->out, "members");
		for (size_t i = 0; i < res->nkvs; i++) {
			struct json *m = json_parse(res->kvs[i].value, res->kvs[i].value_len, NULL);
			if (m == NULL)
				m = json_new_object();
			json_push(arr, m);
		}
	} else if (q->step == 2) {
		size_t plen = strlen(cl->prefix) + strlen("locks/");

		arr = json_set_array(q->out, "locks");
		for (size_t i = 0; i < res->nkvs; i++) {
			struct json *l = json_new_object();
			json_set_str(l, "name", strlen(res->kvs[i].key) > plen ?
			    res->kvs[i].key + plen : res->kvs[i].key);
			json_set_str(l, "holder", res->kvs[i].value);
			json_set_num(l, "fence", (double)res->kvs[i].create_revision);
			json_push(arr, l);
		}
		json_set_num(q->out, "revision", (double)res->revision);
		q->cb(q->arg, q->out, NULL);
		free(q);
		return;
	}
	q->step++;
	k = cluster_key(cl, q->step == 1 ? "members/" : "locks/");
	if (etcd_range(cl->etcd, k, true, status_step, q) == NULL) {
		q->cb(q->arg, NULL, "cannot ask etcd");
		json_free(q->out);
		free(q);
	}
	free(k);
}

void
cluster_status(struct cluster *cl, cluster_status_cb cb, void *arg)
{
	struct status_req *q = xcalloc(1, sizeof(*q));

	q->cl = cl;
	q->cb = cb;
	q->arg = arg;
	q->out = json_new_object();
	json_set_str(q->out, "node", cl->node);
	json_set_str(q->out, "endpoint", etcd_client_endpoint(cl->etcd));
	json_set_str(q->out, "state", cluster_state_names[cl->state]);
	json_set_time(q->out, "state_since", cl->state_since);
	if (cl->state_error)
		json_set_str(q->out, "error", cl->state_error);
	json_set_str(q->out, "prefix", cl->prefix);
	json_set_num(q->out, "lease_ttl", (double)cl->lease_ttl);
	json_set_num(q->out, "requests", (double)etcd_client_requests(cl->etcd));
	status_step(NULL, q);
}
