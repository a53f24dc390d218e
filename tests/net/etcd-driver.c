/*
 * etcd-driver.c - runs net/etcd.c against a real etcd, one scripted phase
 * per run, for tests/integration/t_96_etcd.sh (which starts the cluster
 * with etcd-lib.sh and kills members between and during phases).
 *
 *   etcd-driver PHASE PREFIX [ARGS]     endpoints from $ETCD_ENDPOINTS
 *                                       (comma-separated); $ETCD_USER and
 *                                       $ETCD_PASSWORD for token auth;
 *                                       $ETCD_CA, $ETCD_CERT, $ETCD_KEY for
 *                                       TLS with a client certificate
 *
 *   kv PREFIX           put, range, prefix range, the lock txn twice
 *                       (the second fails and sees the holder), delete
 *   lease PREFIX        grant, a key on it, keepalive, revoke, keepalive
 *                       after revoke (TTL 0), the key gone, put on it refused
 *   watch PREFIX DIR N  a watch from now; puts PREFIX/k1..k3 itself and sees
 *                       them; writes DIR/endpoint (where the stream is) and
 *                       DIR/phase1; then waits for keys up to kN written by
 *                       the script (after killing that member): each once,
 *                       in order, the stream down then up elsewhere;
 *                       DIR/down is written when it goes down
 *   watch PREFIX DIR N any   the same, the stream may come back on the same
 *                       member (the script took the quorum away from it)
 *   revision PREFIX     puts PREFIX/c1..c3, prints "revision R" (the first)
 *   compacted PREFIX R  a watch from R (compacted by the script): compacted()
 *                       is called; a range and a restart from its revision+1
 *                       then see a put made after it
 *   failover PREFIX     with the first endpoint dead: put and range succeed
 *                       on another, which is then the one in use
 *   unavailable PREFIX  no endpoint can serve: a put fails with unavailable
 *                       after trying each endpoint once
 *   auth PREFIX DIR     put and range with a token; writes DIR/phase1 and
 *                       waits for DIR/go (meanwhile the token expires: the
 *                       members run with a short --auth-token-ttl); a put
 *                       is then refused, authenticates again by itself, is
 *                       resent and succeeds
 *
 * Prints "ok: ..." and "FAIL: ..." lines; exits 0 when nothing failed.
 * Every wait is bounded, so a broken client never hangs the test.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "etcd.h"
#include "log.h"
#include "util.h"

#define WAIT_S 20.

static struct ev_loop *loop;
static struct etcd_client *client;
static int nfail;

static void
check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		nfail++;
}

/* ---- waiting for one request ---- */

struct got {
	bool done;
	struct etcd_result r;       /* a deep copy */
};

static void
got_clear(struct got *g)
{
	etcd_result_clear(&g->r);
	g->done = false;
}

static void
result_cb(const struct etcd_result *r, void *arg)
{
	struct got *g = arg;

	g->r = *r;
	g->r.error = xstrdup(r->error);
	g->r.kvs = xcalloc(r->nkvs + 1, sizeof(*r->kvs));
	for (size_t i = 0; i < r->nkvs; i++) {
		g->r.kvs[i] = r->kvs[i];
		g->r.kvs[i].key = xstrdup(r->kvs[i].key);
		g->r.kvs[i].value = xmalloc(r->kvs[i].value_len + 1);
		memcpy(g->r.kvs[i].value, r->kvs[i].value, r->kvs[i].value_len + 1);
	}
	g->done = true;
	ev_break(loop, EVBREAK_ALL);
}

static void
timeout_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)revents;
	*(bool *)w->data = true;
	ev_break(l, EVBREAK_ALL);
}

/* Runs the loop until *cond or seconds pass; *cond at the end. */
static bool
run_until(const bool *cond, double seconds)
{
	bool expired = false;
	ev_timer t;

	ev_timer_init(&t, timeout_cb, seconds, 0.);
	t.data = &expired;
	ev_timer_start(loop, &t);
	while (!*cond && !expired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &t);
	return *cond;
}

/* Waits for op's answer into g (cleared first). */
static bool
wait_op(struct etcd_op *op, struct got *g, const char *what)
{
	if (op == NULL) {
		check(false, "%s: not started", what);
		return false;
	}
	if (!run_until(&g->done, WAIT_S)) {
		check(false, "%s: no answer in %.0f s", what, WAIT_S);
		etcd_cancel(op);
		return false;
	}
	if (!g->r.ok)
		printf("   (%s: %s%s, code %d)\n", what, g->r.error,
		    g->r.unavailable ? ", unavailable" : "", g->r.code);
	return true;
}

static char *
key_of(const char *prefix, const char *name)
{
	return xasprintf("%s%s", prefix, name);
}

/* ---- kv ---- */

static void
phase_kv(const char *prefix)
{
	struct got g = {0};
	char *a = key_of(prefix, "a"), *b = key_of(prefix, "b"), *lock = key_of(prefix, "lock");
	static const char binval[] = {'v', 0, (char)0xff, '\n', 'x'};
	struct etcd_cmp cmp = {.key = lock, .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL,
		.num = 0};
	struct etcd_txn_op take = {.type = ETCD_TXN_PUT, .key = lock, .value = "node1",
		.value_len = 5};
	struct etcd_txn_op take2 = {.type = ETCD_TXN_PUT, .key = lock, .value = "node2",
		.value_len = 5};
	struct etcd_txn_op look = {.type = ETCD_TXN_RANGE, .key = lock};
	struct etcd_txn t1 = {&cmp, 1, &take, 1, &look, 1}, t2 = {&cmp, 1, &take2, 1, &look, 1};
	long long lock_rev;

	wait_op(etcd_put(client, a, binval, sizeof(binval), 0, result_cb, &g), &g, "put a");
	check(g.r.ok && g.r.revision > 0, "put %s (revision %lld)", a, g.r.revision);
	got_clear(&g);
	wait_op(etcd_put(client, b, "B", 1, 0, result_cb, &g), &g, "put b");
	check(g.r.ok, "put %s", b);
	got_clear(&g);
	wait_op(etcd_range(client, a, false, result_cb, &g), &g, "range a");
	check(g.r.ok && g.r.nkvs == 1 && g.r.kvs[0].value_len == sizeof(binval) &&
	    memcmp(g.r.kvs[0].value, binval, sizeof(binval)) == 0 &&
	    strcmp(g.r.kvs[0].key, a) == 0 && g.r.kvs[0].version == 1,
	    "range %s: the binary value back, version 1", a);
	got_clear(&g);
	wait_op(etcd_range(client, prefix, true, result_cb, &g), &g, "range prefix");
	check(g.r.ok && g.r.nkvs == 2 && strcmp(g.r.kvs[0].key, a) == 0 &&
	    strcmp(g.r.kvs[1].key, b) == 0, "prefix range %s: 2 keys in order", prefix);
	got_clear(&g);
	wait_op(etcd_range(client, lock, false, result_cb, &g), &g, "range missing");
	check(g.r.ok && g.r.nkvs == 0, "range of a missing key: ok, no kvs");
	got_clear(&g);

	wait_op(etcd_txn(client, &t1, result_cb, &g), &g, "lock txn 1");
	check(g.r.ok && g.r.succeeded && g.r.nkvs == 0, "lock txn (create_revision == 0): taken");
	lock_rev = g.r.revision;
	got_clear(&g);
	wait_op(etcd_txn(client, &t2, result_cb, &g), &g, "lock txn 2");
	check(g.r.ok && !g.r.succeeded, "second lock txn: compare failed (succeeded false)");
	check(g.r.nkvs == 1 && g.r.kvs[0].value_len == 5 &&
	    memcmp(g.r.kvs[0].value, "node1", 5) == 0 && g.r.kvs[0].create_revision == lock_rev,
	    "second lock txn: the failure range shows node1's lock, create_revision %lld",
	    lock_rev);
	got_clear(&g);

	wait_op(etcd_delete(client, prefix, true, result_cb, &g), &g, "delete prefix");
	check(g.r.ok && g.r.deleted == 3, "delete prefix: 3 deleted (got %lld)", g.r.deleted);
	got_clear(&g);
	wait_op(etcd_delete(client, prefix, true, result_cb, &g), &g, "delete again");
	check(g.r.ok && g.r.deleted == 0, "delete again: ok, 0 deleted");
	got_clear(&g);
	wait_op(etcd_range(client, prefix, true, result_cb, &g), &g, "range empty");
	check(g.r.ok && g.r.nkvs == 0, "prefix range after delete: empty");
	got_clear(&g);
	free(a);
	free(b);
	free(lock);
}

/* ---- lease ---- */

static void
phase_lease(const char *prefix)
{
	struct got g = {0};
	char *k = key_of(prefix, "member");
	long long id;

	wait_op(etcd_lease_grant(client, 5, result_cb, &g), &g, "grant");
	check(g.r.ok && g.r.lease_id != 0 && g.r.ttl == 5, "lease grant: id %lld, TTL %lld",
	    g.r.lease_id, g.r.ttl);
	id = g.r.lease_id;
	got_clear(&g);
	wait_op(etcd_put(client, k, "up", 2, id, result_cb, &g), &g, "put on lease");
	check(g.r.ok, "put %s on the lease", k);
	got_clear(&g);
	wait_op(etcd_range(client, k, false, result_cb, &g), &g, "range lease key");
	check(g.r.ok && g.r.nkvs == 1 && g.r.kvs[0].lease == id, "the key carries the lease");
	got_clear(&g);
	wait_op(etcd_lease_keepalive(client, id, result_cb, &g), &g, "keepalive");
	check(g.r.ok && g.r.ttl > 0 && g.r.ttl <= 5 && g.r.lease_id == id,
	    "keepalive: TTL %lld", g.r.ttl);
	got_clear(&g);
	wait_op(etcd_lease_revoke(client, id, result_cb, &g), &g, "revoke");
	check(g.r.ok, "revoke");
	got_clear(&g);
	wait_op(etcd_lease_keepalive(client, id, result_cb, &g), &g, "keepalive after revoke");
	check(g.r.ok && g.r.ttl == 0, "keepalive after revoke: ok with TTL 0 (lease gone)");
	got_clear(&g);
	wait_op(etcd_range(client, k, false, result_cb, &g), &g, "range after revoke");
	check(g.r.ok && g.r.nkvs == 0, "the lease's key went with it");
	got_clear(&g);
	wait_op(etcd_put(client, k, "up", 2, id, result_cb, &g), &g, "put on revoked lease");
	check(!g.r.ok && !g.r.unavailable && g.r.code == 5 && g.r.error &&
	    strstr(g.r.error, "lease not found"), "put on the revoked lease: refused, code 5");
	got_clear(&g);
	wait_op(etcd_lease_revoke(client, id, result_cb, &g), &g, "revoke again");
	check(!g.r.ok && !g.r.unavailable && g.r.code == 5, "revoke again: not found");
	got_clear(&g);
	free(k);
}

/* ---- watch ---- */

struct watcher {
	struct strlist keys;        /* PUT events' keys, in order */
	long long last_rev;
	bool order_ok;
	int downs, ups;
	char *endpoint_up;          /* where the stream came up first */
	char *endpoint_again;       /* where it came up after going down */
	long long compact_rev;
	bool compacted;
	size_t want;
	bool have_all;
};

static void
w_events(void *arg, const struct etcd_event *ev, size_t n, long long revision)
{
	struct watcher *w = arg;

	(void)revision;
	for (size_t i = 0; i < n; i++) {
		if (ev[i].kv->mod_revision <= w->last_rev)
			w->order_ok = false;
		w->last_rev = ev[i].kv->mod_revision;
		if (ev[i].type == ETCD_EVENT_PUT)
			strlist_add(&w->keys, ev[i].kv->key);
		printf("   event %s %s rev %lld\n", ev[i].type == ETCD_EVENT_PUT ? "PUT" : "DELETE",
		    ev[i].kv->key, ev[i].kv->mod_revision);
	}
	if (w->want && w->keys.n >= w->want)
		w->have_all = true;
	fflush(stdout);
	ev_break(loop, EVBREAK_ALL);
}

static const char *down_dir;     /* where w_state writes "down" */

static void write_file(const char *dir, const char *name, const char *text);

static void
w_state(void *arg, bool up, const char *error)
{
	struct watcher *w = arg;

	if (!up && down_dir)
		write_file(down_dir, "down", error ? error : "");

	printf("   watch %s%s%s\n", up ? "up on " : "down: ",
	    up ? etcd_client_endpoint(client) : "", error ? error : "");
	fflush(stdout);
	if (up) {
		w->ups++;
		if (w->endpoint_up == NULL)
			w->endpoint_up = xstrdup(etcd_client_endpoint(client));
		else if (w->downs > 0 && w->endpoint_again == NULL)
			w->endpoint_again = xstrdup(etcd_client_endpoint(client));
	} else {
		w->downs++;
	}
	ev_break(loop, EVBREAK_ALL);
}

static void
w_compacted(void *arg, long long compact_revision)
{
	struct watcher *w = arg;

	w->compacted = true;
	w->compact_rev = compact_revision;
	ev_break(loop, EVBREAK_ALL);
}

static const struct etcd_watch_cbs wcbs = {w_events, w_state, w_compacted};

static void
write_file(const char *dir, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name), *tmp = xasprintf("%s.tmp", p);
	FILE *f = fopen(tmp, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
		rename(tmp, p);
	}
	free(p);
	free(tmp);
}

static void
phase_watch(const char *prefix, const char *dir, size_t want, bool same_ok)
{
	struct watcher w = {.order_ok = true, .want = 3};
	struct got g = {0};
	struct etcd_watch *wt = etcd_watch_new(client, prefix, 0, &wcbs, &w);
	char key[64];

	for (double t = 0; w.ups == 0 && t < WAIT_S; t += 0.1)
		run_until(&w.have_all, 0.1);
	check(w.ups == 1, "watch up on %s", w.endpoint_up ? w.endpoint_up : "(none)");
	for (int i = 1; i <= 3; i++) {
		char *k;
		snprintf(key, sizeof(key), "k%d", i);
		k = key_of(prefix, key);
		wait_op(etcd_put(client, k, key, strlen(key), 0, result_cb, &g), &g, "put");
		check(g.r.ok, "put %s after the watch started", k);
		got_clear(&g);
		free(k);
	}
	run_until(&w.have_all, WAIT_S);
	check(w.keys.n == 3, "the watch saw the 3 puts (%zu events)", w.keys.n);
	write_file(dir, "endpoint", w.endpoint_up ? w.endpoint_up : "");
	down_dir = dir;
	write_file(dir, "phase1", "");
	/* The script kills the member the stream is on and writes the rest. */
	w.want = want;
	w.have_all = w.keys.n >= want;
	run_until(&w.have_all, 3 * WAIT_S);
	check(w.keys.n == want, "after the kill: %zu of %zu keys seen", w.keys.n, want);
	for (size_t i = 0; i < w.keys.n && i < want; i++) {
		char *k;
		snprintf(key, sizeof(key), "k%zu", i + 1);
		k = key_of(prefix, key);
		if (strcmp(w.keys.v[i], k) != 0)
			check(false, "event %zu is %s, not %s", i + 1, w.keys.v[i], k);
		free(k);
	}
	check(w.order_ok, "each event once, revisions increasing");
	check(w.downs >= 1, "the stream went down (%d times)", w.downs);
	if (same_ok)
		check(w.endpoint_again != NULL, "the stream came back (on %s)",
		    w.endpoint_again ? w.endpoint_again : "none");
	else
		check(w.endpoint_again != NULL && w.endpoint_up != NULL &&
		    strcmp(w.endpoint_again, w.endpoint_up) != 0,
		    "the stream came back on another endpoint (%s)",
		    w.endpoint_again ? w.endpoint_again : "none");
	etcd_watch_free(wt);
	strlist_free(&w.keys);
	free(w.endpoint_up);
	free(w.endpoint_again);
}

/* ---- compaction ---- */

static void
phase_revision(const char *prefix)
{
	struct got g = {0};
	long long first = 0;
	char key[16];

	for (int i = 1; i <= 3; i++) {
		char *k;
		snprintf(key, sizeof(key), "c%d", i);
		k = key_of(prefix, key);
		wait_op(etcd_put(client, k, key, strlen(key), 0, result_cb, &g), &g, "put");
		check(g.r.ok, "put %s", k);
		if (i == 1)
			first = g.r.revision;
		got_clear(&g);
		free(k);
	}
	printf("revision %lld\n", first);
}

static void
phase_compacted(const char *prefix, long long from)
{
	struct watcher w = {.order_ok = true, .want = 1};
	struct got g = {0};
	struct etcd_watch *wt = etcd_watch_new(client, prefix, from, &wcbs, &w);
	char *k = key_of(prefix, "after");

	run_until(&w.compacted, WAIT_S);
	check(w.compacted && w.compact_rev > from, "watch from %lld: compacted (oldest %lld)", from,
	    w.compact_rev);
	wait_op(etcd_range(client, prefix, true, result_cb, &g), &g, "catch-up range");
	check(g.r.ok && g.r.nkvs == 3, "catch-up range: 3 keys at revision %lld", g.r.revision);
	etcd_watch_restart(wt, g.r.revision + 1);
	got_clear(&g);
	for (double t = 0; w.ups < 1 && t < WAIT_S; t += 0.1)
		run_until(&w.have_all, 0.1);
	wait_op(etcd_put(client, k, "x", 1, 0, result_cb, &g), &g, "put after");
	got_clear(&g);
	run_until(&w.have_all, WAIT_S);
	check(w.keys.n == 1 && strcmp(w.keys.v[0], k) == 0,
	    "restarted from the range's revision + 1: only the new put (%zu events)", w.keys.n);
	etcd_watch_free(wt);
	strlist_free(&w.keys);
	free(w.endpoint_up);
	free(w.endpoint_again);
	free(k);
}

/* ---- failover, unavailability ---- */

static void
phase_failover(const char *prefix, const char *first)
{
	struct got g = {0};
	char *k = key_of(prefix, "fo");
	unsigned long before = etcd_client_requests(client);

	wait_op(etcd_put(client, k, "v", 1, 0, result_cb, &g), &g, "put");
	check(g.r.ok, "put with %s dead", first);
	check(etcd_client_requests(client) - before >= 2,
	    "the first try failed over (%lu requests)", etcd_client_requests(client) - before);
	check(strcmp(etcd_client_endpoint(client), first) != 0, "now using %s",
	    etcd_client_endpoint(client));
	got_clear(&g);
	before = etcd_client_requests(client);
	wait_op(etcd_range(client, k, false, result_cb, &g), &g, "range");
	check(g.r.ok && g.r.nkvs == 1, "range on the endpoint in use");
	check(etcd_client_requests(client) - before == 1, "one request, no retry (%lu)",
	    etcd_client_requests(client) - before);
	got_clear(&g);
	free(k);
}

static void
phase_unavailable(const char *prefix, size_t nendpoints)
{
	struct got g = {0};
	char *k = key_of(prefix, "x");
	unsigned long before = etcd_client_requests(client);
	double t0 = ev_time();

	wait_op(etcd_put(client, k, "v", 1, 0, result_cb, &g), &g, "put");
	check(!g.r.ok && g.r.unavailable,
	    "put without a serving member: unavailable (%s)", g.r.error ? g.r.error : "");
	check(etcd_client_requests(client) - before == nendpoints,
	    "each endpoint tried once (%lu requests)", etcd_client_requests(client) - before);
	check(ev_time() - t0 < 15., "failed in %.1f s", ev_time() - t0);
	got_clear(&g);
	free(k);
}

/* ---- auth ---- */

static bool
file_exists(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	struct stat st;
	bool ok = stat(p, &st) == 0;

	free(p);
	return ok;
}

static void
phase_auth(const char *prefix, const char *dir)
{
	struct got g = {0};
	char *k = key_of(prefix, "auth");
	bool go = false;
	unsigned long before;
	struct watcher w = {.order_ok = true, .want = 2};
	/* Started first: it waits for the same authentication as the put. */
	struct etcd_watch *wt = etcd_watch_new(client, prefix, 0, &wcbs, &w);

	for (double t = 0; w.ups == 0 && t < WAIT_S; t += 0.1)
		run_until(&w.have_all, 0.1);
	check(w.ups == 1, "a watch with the token is up");
	wait_op(etcd_put(client, k, "1", 1, 0, result_cb, &g), &g, "put");
	check(g.r.ok, "put with a token");
	got_clear(&g);
	wait_op(etcd_range(client, k, false, result_cb, &g), &g, "range");
	check(g.r.ok && g.r.nkvs == 1, "range with the token");
	got_clear(&g);
	write_file(dir, "phase1", "");
	for (double t = 0; !go && t < 3 * WAIT_S; t += 0.2) {
		bool never = false;
		run_until(&never, 0.2);
		go = file_exists(dir, "go");
	}
	check(go, "the script let the token expire");
	before = etcd_client_requests(client);
	wait_op(etcd_put(client, k, "2", 1, 0, result_cb, &g), &g, "put after restart");
	check(g.r.ok, "put with the expired token");
	check(etcd_client_requests(client) - before >= 3,
	    "refused, authenticated again, resent (%lu requests)",
	    etcd_client_requests(client) - before);
	got_clear(&g);
	run_until(&w.have_all, WAIT_S);
	check(w.keys.n == 2 && w.downs == 0, "the watch saw both puts, the stream never broke");
	etcd_watch_free(wt);
	strlist_free(&w.keys);
	free(w.endpoint_up);
	free(w.endpoint_again);
	free(k);
}

int
main(int argc, char **argv)
{
	struct strlist eps = {0};
	struct etcd_settings st = {0};
	const char *env = getenv("ETCD_ENDPOINTS");
	char err[512], *list, *save = NULL;

	if (argc < 3 || env == NULL) {
		fprintf(stderr, "usage: ETCD_ENDPOINTS=URL,... etcd-driver PHASE PREFIX [ARGS]\n");
		return 2;
	}
	log_init("etcd-driver", getenv("ETCD_DEBUG") ? LOG_DEBUG : LOG_WARNING, LOG_STYLE_PLAIN);
	list = xstrdup(env);
	for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
		strlist_add(&eps, p);
	free(list);
	st.endpoints = &eps;
	st.username = getenv("ETCD_USER");
	st.password = getenv("ETCD_PASSWORD");
	st.ca_bundle = getenv("ETCD_CA");
	st.cert = getenv("ETCD_CERT");
	st.key = getenv("ETCD_KEY");
	st.timeout_ms = 3000;
	loop = ev_default_loop(0);
	if ((client = etcd_client_new(loop, &st, err, sizeof(err))) == NULL) {
		fprintf(stderr, "etcd-driver: %s\n", err);
		return 2;
	}
	if (strcmp(argv[1], "kv") == 0)
		phase_kv(argv[2]);
	else if (strcmp(argv[1], "lease") == 0)
		phase_lease(argv[2]);
	else if (strcmp(argv[1], "watch") == 0 && (argc == 5 || argc == 6))
		phase_watch(argv[2], argv[3], (size_t)atoi(argv[4]),
		    argc == 6 && strcmp(argv[5], "any") == 0);
	else if (strcmp(argv[1], "revision") == 0)
		phase_revision(argv[2]);
	else if (strcmp(argv[1], "compacted") == 0 && argc == 4)
		phase_compacted(argv[2], atoll(argv[3]));
	else if (strcmp(argv[1], "failover") == 0)
		phase_failover(argv[2], eps.v[0]);
	else if (strcmp(argv[1], "unavailable") == 0)
		phase_unavailable(argv[2], eps.n);
	else if (strcmp(argv[1], "auth") == 0 && argc == 4)
		phase_auth(argv[2], argv[3]);
	else {
		fprintf(stderr, "etcd-driver: unknown phase or arguments: %s\n", argv[1]);
		nfail++;
	}
	etcd_client_free(client);
	strlist_free(&eps);
	ev_loop_destroy(loop);
	printf("%s: %d failed\n", argv[1], nfail);
	return nfail == 0 ? 0 : 1;
}
