/*
 * cluster_acct.c - one ACME account for the whole pool.  Sectigo's older
 * EAB credentials bind one account key only (the second host gets "not
 * awaiting external account binding"), so a shared account's key and URL
 * live in P/accounts/NAME (the key sealed), created once by the host that
 * takes P/locks/account/NAME.  Every host copies them into its own store
 * before it orders on the account; its own account machinery then works
 * as without a pool (onlyReturnExisting finds the account, no second
 * newAccount is sent).  Orders for a shared account wait until it is in
 * sync (cluster_account_ready).
 */
#include <string.h>

#include "cluster_internal.h"
#include "fleet_account.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define ACCT_RETRY 1.0          /* seconds: another host is creating it */
#define ACCT_RETRY_DOWN 5.0     /* seconds: etcd did not answer */

static void acct_sync(struct pool_acct *pa);

static char *
acct_ad(const char *name)
{
	return xasprintf("certfleet:account:%s:0", name);
}

static struct acct_rt *
acct_rt_of(struct cluster *cl, const char *name)
{
	for (size_t i = 0; i < cl->f->naccts; i++)
		if (strcmp(cl->f->accts[i]->cfg->name, name) == 0)
			return cl->f->accts[i];
	return NULL;
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	acct_sync(w->data);
}

static void
acct_later(struct pool_acct *pa, double after)
{
	pa->busy = false;
	ev_timer_stop(pa->cl->f->env->loop, &pa->retry);
	ev_timer_set(&pa->retry, after, 0.);
	ev_timer_start(pa->cl->f->env->loop, &pa->retry);
}

static void
acct_ready(struct pool_acct *pa, const char *how)
{
	if (!pa->ready)
		log_info("pool: account %s %s", pa->name, how);
	pa->ready = true;
	pa->busy = false;
	pool_certs_session_up(pa->cl);
	fleet_queue_run(pa->cl->f);
}

/* The pool's account differs from what this host has: take it.  The
 * account object is rebuilt so the next order loads the new records. */
static int
acct_take(struct pool_acct *pa, const char *url, const char *directory, const privkey_t *key)
{
	struct cluster *cl = pa->cl;
	struct fleet *f = cl->f;
	struct acct_rt *a = acct_rt_of(cl, pa->name);
	struct account_record rec = {0};
	char err[512];
	int rc = -1;

	if (a == NULL)
		return -1;
	if (a->inflight > 0) {
		log_info("pool: account %s: waiting for %d order%s in flight before taking the "
		    "pool's account", pa->name, a->inflight, a->inflight == 1 ? "" : "s");
		return 1;
	}
	if (store_account_save_key(f->store, pa->name, key, err, sizeof(err)) < 0)
		goto fail;
	rec.url = (char *)url;
	rec.directory = (char *)directory;
	if (store_account_save(f->store, pa->name, &rec, err, sizeof(err)) < 0)
		goto fail;
	for (size_t i = 0; i < f->ncerts; i++)
		if (f->certs[i]->acct == a)
			fleet_ari_cancel(f->certs[i]);
	fleet_ops_account_gone(f, a->acme);
	acme_account_free(a->acme);
	a->acme = fleet_account_new(f->env, f->store, a->cfg);
	fleet_budget_watch(f, a);
	log_notice("pool: account %s is now the pool's (%s)", pa->name, url);
	rc = 0;
	return rc;
fail:
	log_err("pool: account %s: cannot store the pool's account: %s", pa->name, err);
	return -1;
}

/* ---- publishing this host's account (under the account lock) ---- */

static void
publish_done(const struct etcd_result *res, void *arg)
{
	struct pool_acct *pa = arg;

	pa->op = NULL;
	if (!res->ok) {
		acct_later(pa, ACCT_RETRY_DOWN);
		return;
	}
	if (!res->succeeded) {
		log_warn("pool: account %s: lost the account lock before publishing; "
		    "looking again", pa->name);
		acct_later(pa, ACCT_RETRY);
		return;
	}
	acct_ready(pa, "created and shared with the pool");
}

static void
acct_publish(struct pool_acct *pa, const char *url, const char *directory,
    const privkey_t *key)
{
	struct cluster *cl = pa->cl;
	struct json *o = json_new_object();
	char *pem = NULL, *sealed = NULL, *ad = acct_ad(pa->name), *v = NULL;
	char *lk = cluster_key(cl, "locks/account/%s", pa->name);
	char *ak = cluster_key(cl, "accounts/%s", pa->name);
	size_t len = 0;

	if ((pem = privkey_to_pem(key, &len)) == NULL ||
	    (sealed = envelope_seal(&cl->key, ad, pem, len)) == NULL) {
		acct_later(pa, ACCT_RETRY_DOWN);
		goto out;
	}
	json_set_str(o, "url", url);
	json_set_str(o, "directory", directory);
	json_set_str(o, "key", sealed);
	json_set_str(o, "node", cl->node);
	v = json_print(o);
	{
		struct etcd_cmp cmp = { .key = lk, .target = ETCD_CMP_CREATE,
		    .result = ETCD_CMP_EQUAL, .num = pa->fence };
		struct etcd_txn_op ops[2] = {
			{ .type = ETCD_TXN_PUT, .key = ak, .value = v, .value_len = strlen(v) },
			{ .type = ETCD_TXN_DELETE, .key = lk },
		};
		struct etcd_txn t = { &cmp, 1, ops, 2, NULL, 0 };
		pa->op = etcd_txn(cl->etcd, &t, publish_done, pa);
	}
	if (pa->op == NULL)
		acct_later(pa, ACCT_RETRY_DOWN);
out:
	free_secret_str(pem);
	free(sealed);
	free(ad);
	free(v);
	free(lk);
	free(ak);
	json_free(o);
}

static void
registered_cb(bool ok, const char *error, void *arg)
{
	struct pool_acct *pa = arg;
	struct acct_rt *a = acct_rt_of(pa->cl, pa->name);

	pa->waiter = NULL;
	if (!ok || a == NULL) {
		log_err("pool: account %s: cannot create it for the pool: %s", pa->name,
		    error ? error : "unknown error");
		/* Let another host (or a later try) have the lock. */
		{
			char *lk = cluster_key(pa->cl, "locks/account/%s", pa->name);
			(void)etcd_delete(pa->cl->etcd, lk, false, cluster_etcd_ignore, NULL);
			free(lk);
		}
		acct_later(pa, 30.0);
		return;
	}
	acct_publish(pa, acme_account_url(a->acme), a->cfg->directory_url,
	    acme_account_key(a->acme));
}

static void
lock_done(const struct etcd_result *res, void *arg)
{
	struct pool_acct *pa = arg;
	struct acct_rt *a = acct_rt_of(pa->cl, pa->name);

	pa->op = NULL;
	if (!res->ok) {
		acct_later(pa, ACCT_RETRY_DOWN);
		return;
	}
	if (!res->succeeded && (res->nkvs == 0 || res->kvs[0].lease != pa->cl->lease)) {
		/* Another host is creating it (its record will appear), or
		 * has (no lock left): read the record again. */
		acct_later(pa, ACCT_RETRY);
		return;
	}
	if (a == NULL) {
		acct_later(pa, 30.0);
		return;
	}
	/* Ours: just taken, or still ours from before a reload. */
	pa->fence = res->succeeded ? res->revision : res->kvs[0].create_revision;
	log_info("pool: account %s: not in the pool yet; creating it here", pa->name);
	/* Registers (or finds, with the stored key) the account here; its
	 * key and URL then go to the pool. */
	pa->waiter = acme_account_when_ready(a->acme, registered_cb, pa);
}

/* Whether two keys are the same key (their PEM). */
static bool
same_key(const privkey_t *a, const privkey_t *b)
{
	size_t la = 0, lb = 0;
	char *pa = privkey_to_pem(a, &la), *pb = privkey_to_pem(b, &lb);
	bool eq = pa != NULL && pb != NULL && la == lb && memcmp(pa, pb, la) == 0;

	free_secret_str(pa);
	free_secret_str(pb);
	return eq;
}

static void
range_done(const struct etcd_result *res, void *arg)
{
	struct pool_acct *pa = arg;
	struct cluster *cl = pa->cl;
	struct json *v = NULL;
	unsigned char *pem = NULL;
	size_t len = 0;
	privkey_t *key = NULL;
	struct account_record local = {0};
	const char *url, *dir, *sealed;
	char err[512], *ad = NULL;
	int rc;

	pa->op = NULL;
	if (!res->ok) {
		acct_later(pa, ACCT_RETRY_DOWN);
		return;
	}
	if (res->nkvs == 0) {
		char *lk = cluster_key(cl, "locks/account/%s", pa->name);
		char *ak = cluster_key(cl, "accounts/%s", pa->name);
		/* The record must still be missing: a host that created the
		 * account since our read has released the lock already, and
		 * taking it then would make a second account over the first. */
		struct etcd_cmp cmp[2] = {
			{ .key = lk, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL,
			  .num = 0 },
			{ .key = ak, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL,
			  .num = 0 },
		};
		struct etcd_txn_op put = { .type = ETCD_TXN_PUT, .key = lk, .value = cl->node,
		    .value_len = strlen(cl->node), .lease = cl->lease };
		struct etcd_txn_op get = { .type = ETCD_TXN_RANGE, .key = lk };
		struct etcd_txn t = { cmp, 2, &put, 1, &get, 1 };

		pa->op = etcd_txn(cl->etcd, &t, lock_done, pa);
		free(lk);
		free(ak);
		if (pa->op == NULL)
			acct_later(pa, ACCT_RETRY_DOWN);
		return;
	}
	v = json_parse(res->kvs[0].value, res->kvs[0].value_len, NULL);
	url = json_get_str(v, "url");
	dir = json_get_str(v, "directory");
	sealed = json_get_str(v, "key");
	ad = acct_ad(pa->name);
	if (url == NULL || sealed == NULL ||
	    envelope_open(&cl->key, ad, sealed, &pem, &len, err, sizeof(err)) < 0 ||
	    (key = privkey_from_pem((const char *)pem, len)) == NULL) {
		log_err("pool: account %s: the pool's record %s cannot be read (%s); is "
		    "cluster.secret_key_file the pool's key?", pa->name, res->kvs[0].key,
		    url && sealed ? err : "url or key missing");
		acct_later(pa, 30.0);
		goto out;
	}
	if (store_account_load(cl->f->store, pa->name, &local, err, sizeof(err)) == 0 &&
	    local.url != NULL && strcmp(local.url, url) == 0 && local.key != NULL &&
	    same_key(local.key, key)) {
		acct_ready(pa, "in sync with the pool");
		goto out;
	}
	rc = acct_take(pa, url, dir ? dir : "", key);
	if (rc == 0)
		acct_ready(pa, "taken from the pool");
	else
		acct_later(pa, rc > 0 ? 2.0 : 30.0);
out:
	account_record_free(&local);
	privkey_free(key);
	if (pem != NULL)
		free_secret(pem, len);
	free(ad);
	json_free(v);
}

static void
acct_sync(struct pool_acct *pa)
{
	char *k;

	if (pa->busy || pa->ready || !cluster_writable(pa->cl))
		return;
	pa->busy = true;
	k = cluster_key(pa->cl, "accounts/%s", pa->name);
	pa->op = etcd_range(pa->cl->etcd, k, false, range_done, pa);
	free(k);
	if (pa->op == NULL)
		acct_later(pa, ACCT_RETRY_DOWN);
}

void
pool_accts_init(struct cluster *cl)
{
	const struct config *cfg = cl->f->cfg;

	for (size_t i = 0; i < cfg->naccounts; i++) {
		struct pool_acct *pa;

		if (!cfg->accounts[i].shared)
			continue;
		cl->accts = xrealloc(cl->accts, (cl->naccts + 1) * sizeof(*cl->accts));
		pa = &cl->accts[cl->naccts++];
		memset(pa, 0, sizeof(*pa));
		pa->cl = cl;
		pa->name = xstrdup(cfg->accounts[i].name);
	}
	/* The timers point into the array: set them up once it is whole. */
	for (size_t i = 0; i < cl->naccts; i++) {
		ev_timer_init(&cl->accts[i].retry, retry_cb, 0., 0.);
		cl->accts[i].retry.data = &cl->accts[i];
	}
}

void
pool_accts_start(struct cluster *cl)
{
	for (size_t i = 0; i < cl->naccts; i++)
		acct_sync(&cl->accts[i]);
}

void
pool_accts_free(struct cluster *cl)
{
	for (size_t i = 0; i < cl->naccts; i++) {
		ev_timer_stop(cl->f->env->loop, &cl->accts[i].retry);
		etcd_cancel(cl->accts[i].op);
		if (cl->accts[i].waiter)
			acme_waiter_cancel(cl->accts[i].waiter);
		free(cl->accts[i].name);
	}
	free(cl->accts);
	cl->accts = NULL;
	cl->naccts = 0;
}

bool
cluster_account_ready(struct cluster *cl, const char *name)
{
	for (size_t i = 0; i < cl->naccts; i++)
		if (strcmp(cl->accts[i].name, name) == 0)
			return cl->accts[i].ready;
	return true;
}
