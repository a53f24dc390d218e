/*
 * cluster_cert.c - one order per shared certificate across the pool.
 *
 * The host that finds a shared certificate due takes P/locks/NAME in a
 * txn that creates it only if it does not exist, attached to its lease,
 * and only if P/certs/NAME is still the version it knows (a host that
 * just published is not ordered over).  The lock's create_revision is the
 * fence: every later write for the certificate is a txn that checks the
 * lock still has it, so a host that lost its lease cannot overwrite what
 * the next holder wrote.  The holder records the order (URL, finalized,
 * the sealed order key) in P/orders/NAME at the engine's gates, so the
 * next holder resumes the same order, never a second newOrder or a second
 * finalize; it publishes the result in P/certs/NAME, drops the order
 * record and the lock in the same fenced txn, and installs it here.
 * Every host installs what the watch brings (a version newer than its
 * own), with the same atomic switch and checks as its own renewals.
 */
#include <string.h>

#include "cluster_internal.h"
#include "json.h"
#include "log.h"
#include "renew.h"
#include "scheduler.h"
#include "util.h"

#define POOL_RETRY_MIN 0.5
#define POOL_RETRY_MAX 5.0
#define POOL_WAIT_ACCOUNT 2     /* seconds: a shared account still syncing */
#define POOL_WAIT_DOWN 30       /* seconds: etcd down, try again */

/* "certfleet:NAME:WHAT:VERSION": where a sealed value belongs. */
static char *
seal_ad(const char *name, const char *what, long long version)
{
	return xasprintf("certfleet:%s:%s:%lld", name, what, version);
}

/* For writes whose answer changes nothing here (a release, a drop). */
void
cluster_etcd_ignore(const struct etcd_result *res, void *arg)
{
	(void)res;
	(void)arg;
}

static char *
cert_key(struct pool_cert *pc, const char *what)
{
	return cluster_key(pc->cl, "%s/%s", what, pc->r->cfg->name);
}

void
pool_cert_new(struct cluster *cl, struct cert_rt *r)
{
	struct pool_cert *pc = xcalloc(1, sizeof(*pc));

	pc->cl = cl;
	pc->r = r;
	r->pool = pc;
	ev_timer_init(&pc->retry, NULL, 0., 0.);
}

void
pool_cert_add(struct cluster *cl, struct cert_rt *r)
{
	if (r->pool == NULL)
		pool_cert_new(cl, r);
}

void
pool_cert_free(struct pool_cert *pc)
{
	if (pc == NULL)
		return;
	ev_timer_stop(pc->cl->f->env->loop, &pc->retry);
	etcd_cancel(pc->op);
	free(pc->holder);
	free(pc->order_key);
	free(pc->order_url);
	free(pc->latest);
	free(pc->pub_value);
	order_result_clear(&pc->res);
	free(pc);
}

bool
cluster_cert_holding(const struct cluster *cl, const struct cert_rt *r)
{
	(void)cl;
	return r->pool != NULL && r->pool->state == POOL_HOLDER;
}

bool
cluster_cert_counted(const struct cluster *cl, const struct cert_rt *r)
{
	(void)cl;
	return r->pool != NULL && (r->pool->state == POOL_LOCKING ||
	    r->pool->state == POOL_PUBLISHING) && r->job == NULL &&
	    !ev_is_active(&r->settle);
}

void
cluster_cert_gone(struct cluster *cl, struct cert_rt *r)
{
	if (r->pool == NULL)
		return;
	/* lock_done or publish_done would have uncounted it; freeing the
	 * pool's side cancels the request they answer. */
	if (cluster_cert_counted(cl, r)) {
		cl->f->inflight--;
		if (r->acct)
			r->acct->inflight--;
	}
	pool_cert_free(r->pool);
	r->pool = NULL;
}

/* Ends an attempt that will not order here now: the fleet reschedules r
 * for wait seconds from now (no failure: nothing failed). */
static void
pool_settle_wait(struct pool_cert *pc, long long wait)
{
	pc->r->pool_wait = time(NULL) + wait;
	fleet_settle_later(pc->r, false);
}

/* ---- installing the pool's version ---- */

/* The renewal moment of the pool's newest version: due already, it is no
 * use installing it instead of ordering. */
static bool
latest_fresh(const struct pool_cert *pc, const struct json *v)
{
	time_t na = (time_t)json_num(json_get(v, "not_after"));
	time_t nb = (time_t)json_num(json_get(v, "not_before"));

	return na > 0 && time(NULL) < sched_renewal_time(nb, na, pc->r->cfg->renew_before);
}

/* Installs the pool's newest version here: 0 ok, -1 logged. */
static int
pool_install(struct pool_cert *pc)
{
	struct cert_rt *r = pc->r;
	struct json *v = NULL;
	unsigned char *kpem = NULL;
	size_t klen = 0;
	privkey_t *key = NULL;
	const char *chain, *sealed;
	char err[1024], *ad = NULL;
	long long old = r->st.pool_version;
	int rc = -1;

	if (pc->latest == NULL || (v = json_parse(pc->latest, strlen(pc->latest), NULL)) == NULL) {
		cert_log(r, LOG_ERR, LOG_EVENT_NONE, "pool: version %lld is not readable JSON",
		    pc->latest_version);
		goto out;
	}
	chain = json_get_str(v, "chain");
	sealed = json_get_str(v, "key");
	ad = seal_ad(r->cfg->name, "cert", pc->latest_version);
	if (chain == NULL || sealed == NULL ||
	    envelope_open(&pc->cl->key, ad, sealed, &kpem, &klen, err, sizeof(err)) < 0) {
		cert_log(r, LOG_ERR, LOG_EVENT_NONE, "pool: cannot open version %lld: %s",
		    pc->latest_version, chain && sealed ? err : "chain or key missing");
		goto out;
	}
	if ((key = privkey_from_pem((const char *)kpem, klen)) == NULL) {
		cert_log(r, LOG_ERR, LOG_EVENT_NONE, "pool: version %lld has an unreadable key",
		    pc->latest_version);
		goto out;
	}
	r->st.pool_version = pc->latest_version;
	if (renew_install(r->f->store, r->cfg, &r->st, chain, strlen(chain), key, err,
	    sizeof(err)) < 0) {
		r->st.pool_version = old;
		cert_log(r, LOG_ERR, LOG_EVENT_NONE, "pool: version %lld not installed: %s",
		    pc->latest_version, err);
		goto out;
	}
	cert_log(r, LOG_NOTICE, LOG_EVENT_NONE, "pool: installed version %lld (ordered by %s)",
	    pc->latest_version, json_get_str(v, "node") ? json_get_str(v, "node") : "?");
	r->failing = false;
	r->force = false;
	r->pool_wait = 0;
	r->ari_next = r->st.cert_id ? time(NULL) + SCHED_ARI_POLL : 0;
	fleet_batch_note(r->f, r->cfg->name, true);
	rc = 0;
out:
	if (rc < 0)
		pc->bad_version = pc->latest_version;
	if (kpem != NULL)
		free_secret(kpem, klen);
	privkey_free(key);
	free(ad);
	json_free(v);
	return rc;
}

/* Whether r has no attempt of its own going (a pool install may start). */
static bool
cert_idle(const struct cert_rt *r)
{
	return r->job == NULL && r->hook == NULL && !r->queued && !ev_is_active(&r->settle) &&
	    r->pool->state == POOL_IDLE && !r->f->draining;
}

void
cluster_cert_idle(struct cluster *cl, struct cert_rt *r)
{
	struct pool_cert *pc = r->pool;
	struct fleet *f = cl->f;

	if (pc == NULL || pc->latest_version <= r->st.pool_version || !cert_idle(r) ||
	    pc->latest_version == pc->bad_version)
		return;
	ev_periodic_stop(f->env->loop, &r->timer);
	f->inflight++;
	r->acct->inflight++;
	fleet_settle_later(r, pool_install(pc) == 0);
}

void
pool_cert_latest(struct cluster *cl, const struct etcd_kv *kv)
{
	const char *name = kv->key + strlen(cl->prefix) + strlen("certs/");
	struct cert_rt *r;
	struct json *v;
	long long version;

	if (strlen(kv->key) <= strlen(cl->prefix) + strlen("certs/"))
		return;
	if ((r = cluster_find_cert(cl, name)) == NULL || r->pool == NULL)
		return;
	if ((v = json_parse(kv->value, kv->value_len, NULL)) == NULL) {
		log_cert(LOG_WARNING, name, LOG_EVENT_NONE, "pool: %s is not JSON; ignored",
		    kv->key);
		return;
	}
	version = (long long)json_num(json_get(v, "version"));
	json_free(v);
	r->pool->latest_mod = kv->mod_revision;
	if (version <= r->pool->latest_version)
		return;
	free(r->pool->latest);
	r->pool->latest = xstrndup(kv->value, kv->value_len);
	r->pool->latest_version = version;
	cluster_cert_idle(cl, r);
}

/* ---- the lock ---- */

static void start_order(struct pool_cert *pc, const struct etcd_kv *order);

static void
lock_done(const struct etcd_result *res, void *arg)
{
	struct pool_cert *pc = arg;
	struct cluster *cl = pc->cl;
	struct cert_rt *r = pc->r;

	pc->op = NULL;
	if (!res->ok) {
		pc->state = POOL_IDLE;
		/* One request that found no member is not an outage: the
		 * keepalive says when etcd is down. */
		cert_log(r, res->unavailable ? LOG_INFO : LOG_WARNING, LOG_EVENT_NONE,
		    "pool: lock: %s", res->error);
		pool_settle_wait(pc, POOL_WAIT_DOWN);
		return;
	}
	cluster_saw(cl, res);
	if (res->succeeded) {
		pc->fence = res->revision;
		pc->state = POOL_HOLDER;
		pc->lost = false;
		free(pc->holder);
		pc->holder = NULL;
		cert_log(r, LOG_INFO, LOG_EVENT_NONE, "pool: took the lock (fence %lld)",
		    pc->fence);
		start_order(pc, res->nkvs > 0 ? &res->kvs[0] : NULL);
		return;
	}
	pc->state = POOL_IDLE;
	if (res->nkvs > 0 && res->kvs[0].lease == cl->lease) {
		/* Ours already (an answer lost on the way): never happens with
		 * an order of ours in flight, which holds r busy. */
		cert_log(r, LOG_INFO, LOG_EVENT_NONE,
		    "pool: the lock is still ours from an earlier attempt; releasing it");
		(void)etcd_delete(cl->etcd, res->kvs[0].key, false, cluster_etcd_ignore, NULL);
		pool_settle_wait(pc, 1);
		return;
	}
	if (res->nkvs > 0) {
		bool changed = pc->holder == NULL ||
		    strcmp(pc->holder, res->kvs[0].value) != 0;

		free(pc->holder);
		pc->holder = xstrdup(res->kvs[0].value);
		cert_log(r, changed ? LOG_INFO : LOG_DEBUG, LOG_EVENT_NONE,
		    "pool: %s holds the lock; waiting for its certificate", pc->holder);
		/* If the holder dies its lease expires within a TTL; look
		 * again after that, spread so the pool does not stampede. */
		pool_settle_wait(pc, cl->lease_ttl + (long long)(random_unit() *
		    (double)cl->lease_ttl));
		return;
	}
	/* No lock, so P/certs/NAME moved on since we last saw it: a version
	 * is on its way through the watch.  Look again shortly. */
	cert_log(r, LOG_DEBUG, LOG_EVENT_NONE, "pool: a newer version was published; waiting");
	pool_settle_wait(pc, 2);
}

static void
take_lock(struct pool_cert *pc)
{
	struct cluster *cl = pc->cl;
	char *lk = cert_key(pc, "locks"), *ck = cert_key(pc, "certs"), *ok = cert_key(pc, "orders");
	struct etcd_cmp cmp[2] = {
		{ .key = lk, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .num = 0 },
		{ .key = ck, .target = ETCD_CMP_MOD, .result = ETCD_CMP_EQUAL,
		  .num = pc->latest_mod },
	};
	struct etcd_txn_op succ[2] = {
		{ .type = ETCD_TXN_PUT, .key = lk, .value = cl->node,
		  .value_len = strlen(cl->node), .lease = cl->lease },
		{ .type = ETCD_TXN_RANGE, .key = ok },
	};
	struct etcd_txn_op fail[1] = { { .type = ETCD_TXN_RANGE, .key = lk } };
	struct etcd_txn t = { cmp, 2, succ, 2, fail, 1 };

	pc->state = POOL_LOCKING;
	pc->op = etcd_txn(cl->etcd, &t, lock_done, pc);
	if (pc->op == NULL) {
		pc->state = POOL_IDLE;
		pool_settle_wait(pc, POOL_WAIT_DOWN);
	}
	free(lk);
	free(ck);
	free(ok);
}

/* Lets the holder's lock go (fenced: only if it is still ours). */
static void
release_lock(struct pool_cert *pc)
{
	char *lk = cert_key(pc, "locks");
	struct etcd_cmp cmp = { .key = lk, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL,
	    .num = pc->fence };
	struct etcd_txn_op del = { .type = ETCD_TXN_DELETE, .key = lk };
	struct etcd_txn t = { &cmp, 1, &del, 1, NULL, 0 };

	(void)etcd_txn(pc->cl->etcd, &t, cluster_etcd_ignore, NULL);
	free(lk);
	pc->state = POOL_IDLE;
	pc->fence = 0;
}

/* Resumes the pool's order (P/orders/NAME) when there is one for this
 * account, else orders afresh. */
static void
start_order(struct pool_cert *pc, const struct etcd_kv *order)
{
	struct cert_rt *r = pc->r;
	struct json *v = NULL;
	unsigned char *kpem = NULL;
	size_t klen = 0;
	privkey_t *key = NULL;
	const char *url = NULL, *sealed, *acct;
	char err[512], *ad = NULL;
	bool fin = false;

	free(pc->order_key);
	pc->order_key = NULL;
	if (order != NULL && (v = json_parse(order->value, order->value_len, NULL)) != NULL) {
		url = json_get_str(v, "url");
		sealed = json_get_str(v, "key");
		acct = json_get_str(v, "account");
		fin = json_is_true(json_get(v, "finalized"));
		ad = seal_ad(r->cfg->name, "order", (long long)json_num(json_get(v, "fence")));
		if (acct == NULL || strcmp(acct, r->cfg->account_name) != 0) {
			cert_log(r, LOG_WARNING, LOG_EVENT_NONE,
			    "pool: the recorded order %s is account %s's; ordering anew",
			    url ? url : "?", acct ? acct : "?");
			url = NULL;
		} else if (url != NULL && (sealed == NULL || envelope_open(&pc->cl->key, ad,
		    sealed, &kpem, &klen, err, sizeof(err)) < 0 ||
		    (key = privkey_from_pem((const char *)kpem, klen)) == NULL)) {
			cert_log(r, LOG_ERR, LOG_EVENT_NONE,
			    "pool: cannot open the key of order %s (%s); ordering anew", url,
			    sealed ? err : "no key");
			url = NULL;
		}
		if (url != NULL) {
			char *nad = seal_ad(r->cfg->name, "order", pc->fence);

			cert_log(r, LOG_NOTICE, LOG_EVENT_NONE,
			    "pool: resuming order %s%s left by %s", url,
			    fin ? " (finalized)" : "", json_get_str(v, "node") ?
			    json_get_str(v, "node") : "?");
			/* The record is rewritten under this holder's fence:
			 * the key is sealed for it again. */
			pc->order_key = envelope_seal(&pc->cl->key, nad, kpem, klen);
			free(nad);
		}
	}
	if (kpem != NULL)
		free_secret(kpem, klen);
	free(ad);
	/* The local record of an order is superseded by the pool's. */
	if (url == NULL && r->st.order_url != NULL)
		store_order_forget(r->f->store, r->cfg->name, &r->st);
	fleet_cert_order(r, url, fin, key);
	json_free(v);
}

/* ---- the gates: the order recorded under the fence ---- */

static void write_record(struct pool_cert *pc);

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pool_cert *pc = w->data;

	(void)loop;
	(void)revents;
	if (pc->gate != NULL)
		write_record(pc);
	else if (pc->state == POOL_PUBLISHING)
		cluster_order_done(pc->cl, pc->r, NULL);
}

static void
retry_later(struct pool_cert *pc)
{
	pc->backoff = pc->backoff <= 0 ? POOL_RETRY_MIN : pc->backoff * 2;
	if (pc->backoff > POOL_RETRY_MAX)
		pc->backoff = POOL_RETRY_MAX;
	ev_timer_init(&pc->retry, retry_cb, pc->backoff, 0.);
	pc->retry.data = pc;
	ev_timer_start(pc->cl->f->env->loop, &pc->retry);
}

static void
lost_lock(struct pool_cert *pc, const char *when)
{
	if (!pc->lost)
		cert_log(pc->r, LOG_WARNING, LOG_EVENT_NONE,
		    "pool: lost the lock %s (another host takes the order over); "
		    "stopping here", when);
	pc->lost = true;
	pc->state = POOL_IDLE;
	pc->fence = 0;
}

static void
record_done(const struct etcd_result *res, void *arg)
{
	struct pool_cert *pc = arg;
	struct order_gate *g = pc->gate;

	pc->op = NULL;
	if (!res->ok) {
		/* No write for longer than a lease: assume the lock is gone. */
		if (!cluster_writable(pc->cl) && pc->backoff >= POOL_RETRY_MAX) {
			pc->gate = NULL;
			lost_lock(pc, "while etcd was unreachable");
			order_gate_done(g, false, "the pool lock was lost while etcd was unreachable");
			return;
		}
		retry_later(pc);
		return;
	}
	cluster_saw(pc->cl, res);
	pc->gate = NULL;
	pc->backoff = 0;
	if (!res->succeeded) {
		lost_lock(pc, pc->gate_what == ORDER_GATE_FINALIZE ? "before finalizing" :
		    "after newOrder");
		order_gate_done(g, false, "the pool lock was lost (another host has the order)");
		return;
	}
	order_gate_done(g, true, NULL);
}

static void
write_record(struct pool_cert *pc)
{
	struct cluster *cl = pc->cl;
	struct cert_rt *r = pc->r;
	struct json *o = json_new_object();
	char *lk = cert_key(pc, "locks"), *ok = cert_key(pc, "orders"), *v;
	struct etcd_cmp cmp = { .key = lk, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL,
	    .num = pc->fence };
	struct etcd_txn_op put = { .type = ETCD_TXN_PUT, .key = ok };
	struct etcd_txn t = { &cmp, 1, &put, 1, NULL, 0 };

	json_set_str(o, "url", r->st.order_url);
	json_set_bool(o, "finalized", r->st.order_finalized);
	json_set_str(o, "key", pc->order_key);
	json_set_num(o, "fence", (double)pc->fence);
	json_set_str(o, "account", r->cfg->account_name);
	json_set_str(o, "node", cl->node);
	v = json_print(o);
	put.value = v;
	put.value_len = strlen(v);
	pc->op = etcd_txn(cl->etcd, &t, record_done, pc);
	if (pc->op == NULL)
		retry_later(pc);
	json_free(o);
	free(v);
	free(lk);
	free(ok);
}

void
cluster_order_begin(struct cluster *cl, struct cert_rt *r, const privkey_t *key)
{
	struct pool_cert *pc = r->pool;
	size_t len = 0;
	char *pem, *ad;

	if (pc == NULL || pc->state != POOL_HOLDER)
		return;
	if ((pem = privkey_to_pem(key, &len)) == NULL)
		return;
	ad = seal_ad(r->cfg->name, "order", pc->fence);
	free(pc->order_key);
	pc->order_key = envelope_seal(&cl->key, ad, pem, len);
	free_secret_str(pem);
	free(ad);
}

void
cluster_gate(struct cluster *cl, struct cert_rt *r, enum order_gate_point what,
    const char *token, const char *keyauth, struct order_gate *g)
{
	struct pool_cert *pc = r->pool;

	if (pc == NULL || pc->state != POOL_HOLDER) {
		order_gate_done(g, false, "not the pool's lock holder");
		return;
	}
	if (what == ORDER_GATE_CHALLENGE) {
		pool_share_start(pc, token, keyauth, g);
		return;
	}
	if (pc->order_key == NULL) {
		order_gate_done(g, false, "the order key could not be sealed for the pool");
		return;
	}
	pc->gate = g;
	pc->gate_what = what;
	pc->backoff = 0;
	(void)cl;
	write_record(pc);
}

void
cluster_gate_cancel(struct cluster *cl, struct cert_rt *r, struct order_gate *g)
{
	struct pool_cert *pc = r->pool;

	if (pc != NULL && pc->gate == g) {
		etcd_cancel(pc->op);
		pc->op = NULL;
		ev_timer_stop(cl->f->env->loop, &pc->retry);
		pc->gate = NULL;
		return;
	}
	pool_share_cancel(cl, g);
}

void
cluster_challenge_gone(struct cluster *cl, struct cert_rt *r, const char *token)
{
	(void)r;
	pool_share_gone(cl, token);
}

void
cluster_order_forget(struct cluster *cl, struct cert_rt *r)
{
	struct pool_cert *pc = r->pool;
	char *lk, *ok;

	if (pc == NULL || pc->state != POOL_HOLDER)
		return;
	free(pc->order_key);
	pc->order_key = NULL;
	lk = cert_key(pc, "locks");
	ok = cert_key(pc, "orders");
	{
		struct etcd_cmp cmp = { .key = lk, .target = ETCD_CMP_CREATE,
		    .result = ETCD_CMP_EQUAL, .num = pc->fence };
		struct etcd_txn_op del = { .type = ETCD_TXN_DELETE, .key = ok };
		struct etcd_txn t = { &cmp, 1, &del, 1, NULL, 0 };
		(void)etcd_txn(cl->etcd, &t, cluster_etcd_ignore, NULL);
	}
	free(lk);
	free(ok);
}

/* ---- publication ---- */

static void
publish_done(const struct etcd_result *res, void *arg)
{
	struct pool_cert *pc = arg;
	struct cert_rt *r = pc->r;
	struct fleet *f = r->f;

	pc->op = NULL;
	if (!res->ok) {
		cert_log(r, LOG_WARNING, LOG_EVENT_NONE,
		    "pool: cannot publish the issued certificate yet (%s); retrying", res->error);
		retry_later(pc);
		return;
	}
	cluster_saw(pc->cl, res);
	f->inflight--;
	r->acct->inflight--;
	if (!res->succeeded) {
		/* The next holder resumes the same order from P/orders/NAME
		 * and publishes the same certificate: nothing is lost, and
		 * nothing is installed here twice. */
		lost_lock(pc, "before publishing (or an unanswered try of this very "
		    "publication went through: the watch brings it)");
		order_result_clear(&pc->res);
		free(pc->pub_value);
		pc->pub_value = NULL;
		store_order_forget(f->store, r->cfg->name, &r->st);
		r->pool_wait = time(NULL) + 2;
		fleet_cert_settled(r);
		return;
	}
	cert_log(r, LOG_INFO, LOG_EVENT_NONE, "pool: published version %lld", pc->fence);
	pc->state = POOL_IDLE;
	pc->backoff = 0;
	r->st.pool_version = pc->fence;
	if (pc->fence > pc->latest_version) {
		/* The watch's echo of this very value is not installed again. */
		pc->latest_version = pc->fence;
		pc->latest_mod = res->revision;
		free(pc->latest);
		pc->latest = pc->pub_value;
		pc->pub_value = NULL;
	}
	pc->fence = 0;
	fleet_cert_issued(r, &pc->res);
	order_result_clear(&pc->res);
}

bool
cluster_order_done(struct cluster *cl, struct cert_rt *r, struct order_result *res)
{
	struct pool_cert *pc = r->pool;
	struct cert_info info = {0};
	struct json *o = NULL;
	char *leaf = NULL, *chain = NULL, *full = NULL, *kpem = NULL, *ad = NULL, *sealed = NULL;
	char *lk = NULL, *ck = NULL, *ok = NULL, why[512];
	size_t klen = 0;

	if (pc == NULL)
		return false;
	if (res != NULL) {
		if (pc->lost) {
			/* The next holder resumes the same order and publishes
			 * the same certificate; the watch brings it here. */
			cert_log(r, LOG_WARNING, LOG_EVENT_NONE,
			    "pool: issued, but the lock was lost meanwhile; the host that "
			    "took the order over publishes it");
			pc->lost = false;
			r->pool_wait = time(NULL) + 2;
			fleet_cert_settled(r);
			return true;
		}
		if (pc->state != POOL_HOLDER)
			return false;   /* ordered alone (cluster.fallback: local) */
		/* Checked before the pool sees it: a bad certificate is the
		 * fleet's to reject (and keep), as without a pool. */
		if (cert_accept_issued(res->chain_pem, res->chain_len, res->key, &r->cfg->domains,
		    &info, &leaf, &chain, &full, why, sizeof(why)) < 0) {
			release_lock(pc);
			cert_info_free(&info);
			return false;
		}
		order_result_clear(&pc->res);
		pc->res = *res;
		memset(res, 0, sizeof(*res));
		pc->state = POOL_PUBLISHING;
		pc->backoff = 0;
		cl->f->inflight++;
		r->acct->inflight++;
	} else if (cert_accept_issued(pc->res.chain_pem, pc->res.chain_len, pc->res.key,
	    &r->cfg->domains, &info, &leaf, &chain, &full, why, sizeof(why)) < 0) {
		goto out;   /* cannot happen: it passed before */
	}
	if ((kpem = privkey_to_pem(pc->res.key, &klen)) == NULL)
		goto out;
	ad = seal_ad(r->cfg->name, "cert", pc->fence);
	sealed = envelope_seal(&cl->key, ad, kpem, klen);
	o = json_new_object();
	json_set_num(o, "version", (double)pc->fence);
	json_set_str(o, "serial", info.serial_hex);
	json_set_num(o, "not_before", (double)info.not_before);
	json_set_num(o, "not_after", (double)info.not_after);
	json_set_str(o, "chain", pc->res.chain_pem);
	json_set_str(o, "key", sealed);
	json_set_str(o, "node", cl->node);
	json_set_time(o, "issued_at", time(NULL));
	free(pc->pub_value);
	pc->pub_value = json_print(o);
	lk = cert_key(pc, "locks");
	ck = cert_key(pc, "certs");
	ok = cert_key(pc, "orders");
	{
		struct etcd_cmp cmp = { .key = lk, .target = ETCD_CMP_CREATE,
		    .result = ETCD_CMP_EQUAL, .num = pc->fence };
		struct etcd_txn_op ops[3] = {
			{ .type = ETCD_TXN_PUT, .key = ck, .value = pc->pub_value,
			  .value_len = strlen(pc->pub_value) },
			{ .type = ETCD_TXN_DELETE, .key = ok },
			{ .type = ETCD_TXN_DELETE, .key = lk },
		};
		struct etcd_txn t = { &cmp, 1, ops, 3, NULL, 0 };
		pc->op = etcd_txn(cl->etcd, &t, publish_done, pc);
	}
	if (pc->op == NULL)
		retry_later(pc);
out:
	cert_info_free(&info);
	free(leaf);
	free(chain);
	free(full);
	free_secret_str(kpem);
	free(sealed);
	free(ad);
	free(lk);
	free(ck);
	free(ok);
	json_free(o);
	return true;
}

bool
cluster_order_failed(struct cluster *cl, struct cert_rt *r)
{
	struct pool_cert *pc = r->pool;
	bool lost;

	(void)cl;
	if (pc == NULL)
		return false;
	lost = pc->lost;
	if (pc->state == POOL_HOLDER)
		release_lock(pc);
	pc->state = POOL_IDLE;
	pc->lost = false;
	if (lost)
		r->pool_wait = time(NULL) + 2;
	return lost;
}

void
pool_certs_lease_lost(struct cluster *cl)
{
	struct fleet *f = cl->f;

	for (size_t i = 0; i < f->ncerts; i++) {
		struct cert_rt *r = f->certs[i];
		struct pool_cert *pc = r->pool;
		bool locking;

		if (pc == NULL || (pc->state != POOL_HOLDER && pc->state != POOL_LOCKING))
			continue;
		locking = pc->state == POOL_LOCKING;
		etcd_cancel(pc->op);
		pc->op = NULL;
		lost_lock(pc, "with the lease");
		if (r->job != NULL)
			fleet_cert_abandon(r);
		else if (locking)
			/* The cancelled lock txn was the whole attempt so far: its
			 * answer would have ended it (lock_done), so end it here,
			 * or r stays counted in flight and is never looked at
			 * again, not even for a version the watch brought. */
			pool_settle_wait(pc, 2);
	}
}

/* The session is (again) up: every shared certificate that waits for it
 * is looked at now rather than when its wait ends. */
void
pool_certs_session_up(struct cluster *cl)
{
	struct fleet *f = cl->f;

	for (size_t i = 0; i < f->ncerts; i++) {
		struct cert_rt *r = f->certs[i];

		if (r->pool == NULL || r->pool_wait == 0 || r->job != NULL || r->hook != NULL ||
		    r->queued || ev_is_active(&r->settle))
			continue;
		r->pool_wait = 0;
		fleet_cert_schedule(r);
	}
}

/* ---- the fleet's entry ---- */

bool
cluster_cert_start(struct cluster *cl, struct cert_rt *r)
{
	struct pool_cert *pc = r->pool;
	time_t now = time(NULL);

	if (pc == NULL)
		return false;
	r->pool_wait = 0;
	pc->lost = false;
	if (cl->state == CLUSTER_CONNECTING) {
		/* Not an outage: the session is on its way (start, a new
		 * lease); session_begin looks at r again. */
		pool_settle_wait(pc, POOL_WAIT_DOWN);
		return true;
	}
	if (!cluster_writable(cl)) {
		time_t renew = sched_renewal_time(r->st.not_before, r->st.not_after,
		    r->cfg->renew_before);
		bool close = r->st.not_after == 0 || now >= renew + (r->st.not_after - renew) / 2;
		char left[64];

		if (close && cl->cc->fallback == CLUSTER_FALLBACK_LOCAL) {
			cert_log(r, LOG_WARNING, LOG_EVENT_NONE,
			    "pool: etcd unreachable and the certificate is close to expiry; "
			    "renewing it here alone (cluster.fallback: local)");
			return false;
		}
		duration_format(r->st.not_after > now ? (double)(r->st.not_after - now) : 0, left,
		    sizeof(left));
		cert_log(r, close ? LOG_WARNING : LOG_INFO, LOG_EVENT_NONE,
		    "pool: etcd unreachable; not renewing the shared certificate here "
		    "(%s%s%s)", r->st.not_after ? left : "never issued", r->st.not_after ?
		    " left" : "", close ? "; cluster.fallback: local would renew it alone" : "");
		pool_settle_wait(pc, POOL_WAIT_DOWN);
		return true;
	}
	if (!cluster_account_ready(cl, r->cfg->account_name)) {
		pool_settle_wait(pc, POOL_WAIT_ACCOUNT);
		return true;
	}
	if (pc->latest_version > r->st.pool_version && pc->latest != NULL && !r->force &&
	    pc->latest_version != pc->bad_version) {
		struct json *v = json_parse(pc->latest, strlen(pc->latest), NULL);
		bool fresh = v != NULL && latest_fresh(pc, v);

		json_free(v);
		if (fresh) {
			fleet_settle_later(r, pool_install(pc) == 0);
			return true;
		}
	}
	take_lock(pc);
	return true;
}

void
cluster_cert_json(struct cluster *cl, const struct cert_rt *r, struct json *o)
{
	static const char *const names[] = { "idle", "locking", "holder", "publishing" };
	const struct pool_cert *pc = r->pool;
	struct json *p;

	(void)cl;
	if (pc == NULL)
		return;
	p = json_set_object(o, "pool");
	json_set_num(p, "installed_version", (double)r->st.pool_version);
	json_set_num(p, "pool_version", (double)pc->latest_version);
	json_set_str(p, "state", names[pc->state]);
	if (pc->holder != NULL && pc->state == POOL_IDLE)
		json_set_str(p, "holder", pc->holder);
	else if (pc->state != POOL_IDLE)
		json_set_str(p, "holder", cl->node);
	if (pc->fence)
		json_set_num(p, "fence", (double)pc->fence);
}
