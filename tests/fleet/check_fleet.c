/*
 * check_fleet.c - the fleet's scheduling, with scripted orders instead of a
 * CA: the global and per-account limits on orders in flight (never above,
 * reached, queue order kept, everything started) and the post-hook batch
 * (one run per batch naming the renewed and failed certificates; one that
 * settles while the hook runs goes into the next batch), and the fleet's
 * side of an order: its parameters from the inventory, the stored order
 * as the resume point, and its progress (struct order_ops) on disk.
 *
 * The seam is fleet_internal.h's struct fleet_order_ops: the fleet's three
 * calls into acme_order.c are replaced by fake_start/fake_cancel/
 * fake_update, so a test decides when each order ends and how.  A
 * successful order hands back a real self-signed certificate for the
 * certificate's one name (crypto_tlsalpn_cert), which renew_install accepts
 * and installs under the test's own output directory.  Everything else -
 * the store, the hooks, the timers - is the real thing on the default loop.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "acme.h"
#include "config.h"
#include "crypto.h"
#include "fleet.h"
#include "fleet_internal.h"
#include "fleet_report.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"

/* ---- scripted orders ---- */

#define MAX_JOBS 64

/* The fleet only ever holds a pointer to it. */
struct order_job {
	char name[64];              /* certificate */
	char account[64];
	const struct order_ops *ops;
	void *arg;
	bool done;
	/* What the fleet handed over (order_params): */
	char domain[64];
	char resume_url[128];
	bool resume_finalized;
	bool resume_key;
	size_t ntypes;
	bool webroot;
	struct order_progress prog;  /* what progress() reports */
};

static struct {
	struct order_job *jobs[MAX_JOBS]; /* in the order started */
	size_t njobs;
	int inflight;               /* counted here, not by the fleet */
	int max_inflight;
	int acct_inflight[2];       /* accounts "one" and "two" */
	int acct_max[2];
	int limit, acct_limit[2];   /* what the inventory allows */
	bool over_limit;            /* a start found a limit exceeded */
	unsigned rand;              /* which job ends next (deterministic) */
} fk;

static int
acct_index(const char *name)
{
	return strcmp(name, "one") == 0 ? 0 : 1;
}

static struct order_job *
fake_start(struct acme_env *env, struct acme_account *a, const struct order_params *p,
    const struct order_ops *ops, void *arg)
{
	struct order_job *j = calloc(1, sizeof(*j));
	int ai;

	(void)env;
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_lt(fk.njobs, MAX_JOBS);
	snprintf(j->name, sizeof(j->name), "%s", p->name);
	snprintf(j->account, sizeof(j->account), "%s", acme_account_name(a));
	j->ops = ops;
	j->arg = arg;
	snprintf(j->domain, sizeof(j->domain), "%s", p->domains->v[0]);
	snprintf(j->resume_url, sizeof(j->resume_url), "%s", p->resume_url ? p->resume_url : "");
	j->resume_finalized = p->resume_finalized;
	j->resume_key = p->resume_key != NULL;
	j->ntypes = p->challenge.ntypes;
	j->webroot = p->challenge.webroot != NULL;
	fk.jobs[fk.njobs++] = j;
	ai = acct_index(j->account);
	fk.inflight++;
	fk.acct_inflight[ai]++;
	if (fk.inflight > fk.max_inflight)
		fk.max_inflight = fk.inflight;
	if (fk.acct_inflight[ai] > fk.acct_max[ai])
		fk.acct_max[ai] = fk.acct_inflight[ai];
	if (fk.inflight > fk.limit || fk.acct_inflight[ai] > fk.acct_limit[ai])
		fk.over_limit = true;
	privkey_free(p->reuse_key);
	privkey_free(p->resume_key);
	return j;
}

static void
fake_cancel(struct order_job *j)
{
	ck_abort_msg("order for %s cancelled", j->name);
}

static void
fake_update(struct order_job *j, const struct order_params *p)
{
	(void)j;
	(void)p;
}

static void
fake_progress(const struct order_job *j, struct order_progress *p)
{
	*p = j->prog;
}

static const struct fleet_order_ops fake_orders = {
	.start = fake_start,
	.cancel = fake_cancel,
	.update = fake_update,
	.progress = fake_progress,
};

/* Ends job j as the order machine would: ok with a chain and its key for
 * the certificate's one name, or failed with a local error. */
static void
fake_finish(struct order_job *j, bool ok)
{
	struct order_result res = {0};
	char *cert = NULL, *key = NULL;

	ck_assert(!j->done);
	j->done = true;
	fk.inflight--;
	fk.acct_inflight[acct_index(j->account)]--;
	if (ok) {
		char dom[128];
		snprintf(dom, sizeof(dom), "%s.example.com", j->name);
		ck_assert_int_eq(crypto_tlsalpn_cert(dom, "x", &cert, &key), 0);
		res.ok = true;
		res.chain_pem = cert;
		res.chain_len = strlen(cert);
		res.key = privkey_from_pem(key, strlen(key));
		ck_assert_ptr_nonnull(res.key);
	} else {
		res.error = xstrdup("scripted failure");
		res.status = -1;
	}
	j->ops->done(j, &res, j->arg);
	order_result_clear(&res);
	free(key);
}

static struct order_job *
job_find(const char *name, size_t from)
{
	for (size_t i = from; i < fk.njobs; i++)
		if (!fk.jobs[i]->done && strcmp(fk.jobs[i]->name, name) == 0)
			return fk.jobs[i];
	return NULL;
}

/* ---- a fleet in a temporary directory ---- */

struct fx {
	char dir[64];
	char path[128];
	struct config *cfg;
	struct store *store;
	struct acme_env env;
	struct fleet *f;
	struct ev_loop *loop;
};

static void
fx_write(struct fx *x, const char *text)
{
	FILE *fp;

	snprintf(x->path, sizeof(x->path), "%s/inv.yaml", x->dir);
	fp = fopen(x->path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(x->path, 0600);
}

/* inv: the inventory, with @D@ standing for the test's directory; post:
 * the text of the script @D@/post (written before the inventory is loaded,
 * which checks hooks exist), or NULL. */
static void
fx_open(struct fx *x, const char *inv, const char *post)
{
	char err[1024];
	struct buf b = {0};
	char *text;

	memset(x, 0, sizeof(*x));
	memset(&fk, 0, sizeof(fk));
	snprintf(x->dir, sizeof(x->dir), "/tmp/check_fleet.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(x->dir));
	for (const char *p = inv; *p; p++) {
		if (strncmp(p, "@D@", 3) == 0) {
			buf_appendf(&b, "%s", x->dir);
			p += 2;
		} else {
			buf_appendf(&b, "%c", *p);
		}
	}
	text = buf_steal(&b, NULL);
	if (post) {
		char script[128];
		FILE *fp;
		snprintf(script, sizeof(script), "%s/post", x->dir);
		fp = fopen(script, "w");
		ck_assert_ptr_nonnull(fp);
		fputs(post, fp);
		fclose(fp);
		chmod(script, 0755);
	}
	fx_write(x, text);
	free(text);
	ck_assert_msg(config_load(x->path, &x->cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(store_open(x->cfg->state_dir, &x->store, err, sizeof(err)) == 0, "%s",
	    err);
	x->loop = ev_default_loop(0);
	x->env.loop = x->loop;
	x->env.hook_timeout = 30;
	x->env.finalize_timeout = 120;
	x->env.order_timeout = 1800;
	x->f = fleet_new(&x->env, x->store, x->cfg, false);
	x->f->order_ops = &fake_orders;
	x->f->post_debounce = 0.2;
	ck_assert_msg(fleet_load(x->f, err, sizeof(err)) == 0, "%s", err);
}

static void
fx_close(struct fx *x)
{
	char cmd[128];

	fleet_free(x->f);
	store_close(x->store);
	config_free(x->cfg);
	for (size_t i = 0; i < fk.njobs; i++)
		free(fk.jobs[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", x->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---- queue limits ---- */

static size_t q_finished;

/* Every 5 ms ends one order in flight, picked pseudo-randomly so orders
 * end out of their start order; stops the loop once want have ended. */
static void
q_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	size_t live[MAX_JOBS], n = 0, want = *(size_t *)w->data;

	(void)revents;
	for (size_t i = 0; i < fk.njobs; i++)
		if (!fk.jobs[i]->done)
			live[n++] = i;
	if (n > 0) {
		fk.rand = fk.rand * 1103515245u + 12345u;
		fake_finish(fk.jobs[live[(fk.rand >> 8) % n]], true);
		q_finished++;
	}
	if (q_finished >= want)
		ev_break(loop, EVBREAK_ALL);
}

static void
q_run(struct fx *x, size_t want)
{
	ev_timer t;

	q_finished = 0;
	ev_timer_init(&t, q_tick, 0.005, 0.005);
	t.data = &want;
	ev_timer_start(x->loop, &t);
	fleet_start(x->f);
	ck_assert_msg(test_run_loop(x->loop, 60), "only %zu of %zu orders ended", q_finished,
	    want);
	ev_timer_stop(x->loop, &t);
}

/* Positions in the start order of the certificates whose name starts with
 * prefix must be increasing in their number: prefix1, prefix2, ... */
static void
assert_started_in_order(const char *prefix, int count)
{
	int next = 1;

	for (size_t i = 0; i < fk.njobs; i++) {
		const char *n = fk.jobs[i]->name;
		if (strncmp(n, prefix, strlen(prefix)) != 0)
			continue;
		ck_assert_msg(atoi(n + strlen(prefix)) == next, "started %s, expected %s%d", n,
		    prefix, next);
		next++;
	}
	ck_assert_int_eq(next - 1, count);
}

static char *
inv_certs(const char *head, const char *prefix, const char *account, int count)
{
	struct buf b = {0};

	buf_appendf(&b, "%s", head);
	for (int i = 1; i <= count; i++)
		buf_appendf(&b, "  - {name: %s%d, domains: [%s%d.example.com], account: %s}\n",
		    prefix, i, prefix, i, account);
	return buf_steal(&b, NULL);
}

#define INV_HEAD(global, one, two)                                                  \
	"state_dir: @D@/state\n"                                                    \
	"output_dir: @D@/out\n"                                                     \
	"renew_jitter: 0s\n"                                                        \
	"max_inflight: " #global "\n"                                               \
	"accounts:\n"                                                               \
	"  one: {directory: 'https://127.0.0.1:9/dir', contact: mailto:a@example.com," \
	" max_inflight: " #one "}\n"                                                \
	"  two: {directory: 'https://127.0.0.1:9/dir', contact: mailto:a@example.com," \
	" max_inflight: " #two "}\n"                                                \
	"certificates:\n"

START_TEST(test_global_limit)
{
	struct fx x;
	char *inv = inv_certs(INV_HEAD(3, 32, 32), "c", "one", 12);

	fx_open(&x, inv, NULL);
	free(inv);
	fk.limit = 3;
	fk.acct_limit[0] = fk.acct_limit[1] = 32;
	q_run(&x, 12);
	ck_assert_msg(!fk.over_limit, "more than max_inflight orders in flight");
	ck_assert_int_eq(fk.max_inflight, 3);  /* the limit, not one at a time */
	ck_assert_uint_eq(fk.njobs, 12);       /* every certificate started, once */
	assert_started_in_order("c", 12);
	ck_assert_int_eq(fk.inflight, 0);
	ck_assert(!fleet_busy(x.f));
	fx_close(&x);
}
END_TEST

/*
 * A reload keeps the runtime of the certificates it keeps (matched by name,
 * whatever their position), drops the removed one, adds the new ones, and
 * then reschedules every certificate from the loop: each one due is
 * started, once.  The inventory lists the kept ones in another order.
 */
START_TEST(test_reload_match)
{
	struct fx x;
	struct config *ncfg = NULL, *old;
	struct cert_rt *kept[7] = {0};
	struct buf b = {0};
	char err[1024], *text, *inv = inv_certs(INV_HEAD(32, 32, 32), "c", "one", 6);
	size_t want = 8;
	ev_timer t;

	fx_open(&x, inv, NULL);
	free(inv);
	fk.limit = fk.acct_limit[0] = fk.acct_limit[1] = 32;
	ck_assert_uint_eq(x.f->ncerts, 6);
	for (size_t i = 1; i < 6; i++)
		kept[i + 1] = x.f->certs[i];        /* c2..c6 */
	buf_appendf(&b, "%s", INV_HEAD(32, 32, 32));
	for (int i = 6; i >= 2; i--)
		buf_appendf(&b, "  - {name: c%d, domains: [c%d.example.com], account: one}\n", i, i);
	for (int i = 1; i <= 3; i++)
		buf_appendf(&b, "  - {name: d%d, domains: [d%d.example.com], account: two}\n", i, i);
	inv = buf_steal(&b, NULL);
	for (const char *p = inv; *p; p++) {
		if (strncmp(p, "@D@", 3) == 0) {
			buf_appendf(&b, "%s", x.dir);
			p += 2;
		} else {
			buf_appendf(&b, "%c", *p);
		}
	}
	free(inv);
	text = buf_steal(&b, NULL);
	fx_write(&x, text);
	free(text);
	ck_assert_msg(config_load(x.path, &ncfg, err, sizeof(err)) == 0, "%s", err);
	fleet_reconfigure(x.f, ncfg);
	old = x.cfg;
	x.cfg = ncfg;
	config_free(old);

	ck_assert_uint_eq(x.f->ncerts, 8);
	for (size_t i = 0; i < 8; i++)
		ck_assert_ptr_eq(x.f->certs[i]->cfg, &ncfg->certs[i]);
	for (size_t i = 0; i < 5; i++)      /* c6, c5, ... c2: the same runtime */
		ck_assert_ptr_eq(x.f->certs[i], kept[6 - i]);
	ck_assert(!fleet_cert_known(x.f, "c1"));
	ck_assert(fleet_cert_known(x.f, "c2"));
	ck_assert(fleet_cert_known(x.f, "d3"));

	/* Nothing was started by hand: the rescheduling from the loop finds
	 * all 8 due (never issued) and starts each once. */
	q_finished = 0;
	ev_timer_init(&t, q_tick, 0.005, 0.005);
	t.data = &want;
	ev_timer_start(x.loop, &t);
	ck_assert_msg(test_run_loop(x.loop, 60), "only %zu of %zu orders ended", q_finished,
	    want);
	ev_timer_stop(x.loop, &t);
	ck_assert_uint_eq(fk.njobs, 8);
	for (size_t i = 0; i < fk.njobs; i++)
		ck_assert_msg(strcmp(fk.jobs[i]->name, "c1") != 0, "the removed c1 was ordered");
	fx_close(&x);
}
END_TEST

START_TEST(test_account_limits)
{
	struct fx x;
	char *a = inv_certs(INV_HEAD(4, 2, 3), "a", "one", 10);
	char *inv = inv_certs(a, "b", "two", 10);

	/* The queue holds a1..a10 then b1..b10: with "one" full, its
	 * certificates wait while "two"'s, behind them, start. */
	fx_open(&x, inv, NULL);
	free(a);
	free(inv);
	fk.limit = 4;
	fk.acct_limit[0] = 2;
	fk.acct_limit[1] = 3;
	q_run(&x, 20);
	ck_assert_msg(!fk.over_limit, "a limit on orders in flight exceeded");
	ck_assert_int_eq(fk.max_inflight, 4);
	ck_assert_int_eq(fk.acct_max[0], 2);
	ck_assert_int_eq(fk.acct_max[1], 3);
	ck_assert_uint_eq(fk.njobs, 20);
	assert_started_in_order("a", 10);
	assert_started_in_order("b", 10);
	/* A full account does not hold up the other one: b1 started while a3
	 * was still waiting. */
	for (size_t i = 0; i < fk.njobs; i++) {
		if (strcmp(fk.jobs[i]->name, "a3") == 0)
			ck_abort_msg("a3 started before b1");
		if (strcmp(fk.jobs[i]->name, "b1") == 0)
			break;
	}
	ck_assert(!fleet_busy(x.f));
	fx_close(&x);
}
END_TEST

/* ---- the post-hook batch ---- */

static struct fx *px;
static int p_step;
static bool p_settled_during_hook;

static int
file_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	int n = 0, c;

	if (fp == NULL)
		return 0;
	while ((c = fgetc(fp)) != EOF)
		n += c == '\n';
	fclose(fp);
	return n;
}

static void
p_touch(const char *name)
{
	char path[160];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", px->dir, name);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fclose(fp);
}

static bool
p_exists(const char *name)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", px->dir, name);
	return access(path, F_OK) == 0;
}

/*
 * The script: a, b, c end (ok, failed, ok) -> one post hook for them,
 * which waits for the file "release"; while it runs, a is renewed again and
 * ends -> after the release, a second post hook for a alone.
 */
static void
p_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct order_job *j;
	char log[160];

	(void)revents;
	(void)w;
	snprintf(log, sizeof(log), "%s/post.log", px->dir);
	switch (p_step) {
	case 0:
		if (fk.njobs < 3)
			return;
		fake_finish(job_find("a", 0), true);
		fake_finish(job_find("b", 0), false);
		fake_finish(job_find("c", 0), true);
		p_step++;
		break;
	case 1:
		/* The hook is running (it says so before waiting). */
		if (!p_exists("hook1"))
			return;
		ck_assert(px->f->post_running);
		ck_assert_int_eq(fleet_renew_now(px->f, "a", true), 0);
		ck_assert_uint_eq(fk.njobs, 4);
		p_step++;
		break;
	case 2:
		j = job_find("a", 3);
		ck_assert_ptr_nonnull(j);
		fake_finish(j, true);
		p_settled_during_hook = px->f->post_running;
		p_touch("release");
		p_step++;
		break;
	case 3:
		if (file_lines(log) >= 2 && !fleet_busy(px->f))
			ev_break(loop, EVBREAK_ALL);
		break;
	}
}

START_TEST(test_post_hook_batch)
{
	struct fx x;
	char log[160], line[256];
	FILE *fp;
	ev_timer t;
	const char *head =
	    "state_dir: @D@/state\n"
	    "output_dir: @D@/out\n"
	    "renew_jitter: 0s\n"
	    "post_hook: [@D@/post]\n"
	    "accounts:\n"
	    "  one: {directory: 'https://127.0.0.1:9/dir', contact: mailto:a@example.com}\n"
	    "certificates:\n"
	    "  - {name: a, domains: [a.example.com], account: one}\n"
	    "  - {name: b, domains: [b.example.com], account: one}\n"
	    "  - {name: c, domains: [c.example.com], account: one}\n";

	/* The first run says it started, then waits for the file "release"
	 * (at most 20 s); later runs only record their batch. */
	const char *post =
	    "#!/bin/sh\n"
	    "d=$(dirname \"$0\")\n"
	    "echo \"renewed=[$CERTFLEET_RENEWED] failed=[$CERTFLEET_FAILED]\" >> \"$d/post.log\"\n"
	    "n=$(wc -l < \"$d/post.log\")\n"
	    "touch \"$d/hook$n\"\n"
	    "[ \"$n\" = 1 ] || exit 0\n"
	    "i=0\n"
	    "while [ ! -e \"$d/release\" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n";

	fx_open(&x, head, post);
	fk.limit = 256;
	fk.acct_limit[0] = fk.acct_limit[1] = 32;
	px = &x;
	p_step = 0;
	p_settled_during_hook = false;
	ev_timer_init(&t, p_tick, 0.01, 0.01);
	ev_timer_start(x.loop, &t);
	fleet_start(x.f);
	ck_assert_msg(test_run_loop(x.loop, 30), "stopped at step %d", p_step);
	ev_timer_stop(x.loop, &t);

	ck_assert_msg(p_settled_during_hook, "a's second renewal did not end during the hook");
	snprintf(log, sizeof(log), "%s/post.log", x.dir);
	ck_assert_int_eq(file_lines(log), 2);
	fp = fopen(log, "r");
	ck_assert_ptr_nonnull(fp);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
	ck_assert_str_eq(line, "renewed=[a c] failed=[b]\n");
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), fp));
	ck_assert_str_eq(line, "renewed=[a] failed=[]\n");
	fclose(fp);
	fx_close(&x);
}
END_TEST

/* ---- the fleet's side of an order ---- */

/* What certs/NAME holds on disk: the order URL ("" none), finalized, key. */
static void
disk_order(struct fx *x, const char *name, char *url, size_t len, bool *fin, bool *key)
{
	struct cert_state st;
	privkey_t *k;
	char err[256];

	cert_state_init(&st);
	ck_assert_msg(store_cert_load(x->store, name, &st, err, sizeof(err)) == 0, "%s", err);
	snprintf(url, len, "%s", st.order_url ? st.order_url : "");
	*fin = st.order_finalized;
	cert_state_free(&st);
	k = store_order_key_load(x->store, name);
	*key = k != NULL;
	privkey_free(k);
}

START_TEST(test_order_progress)
{
	struct fx x;
	struct cert_state st;
	struct order_job *j;
	privkey_t *k = privkey_generate(KEY_EC_P256);
	char err[256], url[128];
	bool fin, key;

	/* c1's order from a run before a restart: finalized, key stored. */
	fx_open(&x, INV_HEAD(4, 4, 4) "  - {name: c1, domains: [c1.example.com], account: one}\n",
	    NULL);
	fleet_free(x.f);
	cert_state_init(&st);
	st.order_url = xstrdup("https://ca.example/order/7");
	st.order_finalized = true;
	ck_assert_int_eq(store_cert_save(x.store, "c1", &st, err, sizeof(err)), 0);
	ck_assert_int_eq(store_order_key_save(x.store, "c1", k, err, sizeof(err)), 0);
	cert_state_free(&st);
	privkey_free(k);
	x.f = fleet_new(&x.env, x.store, x.cfg, false);
	x.f->order_ops = &fake_orders;
	ck_assert_msg(fleet_load(x.f, err, sizeof(err)) == 0, "%s", err);
	fk.limit = fk.acct_limit[0] = fk.acct_limit[1] = 4;
	fleet_start(x.f);
	ck_assert_uint_eq(fk.njobs, 1);
	j = fk.jobs[0];
	/* The inventory entry and the resume point, as order_params. */
	ck_assert_str_eq(j->name, "c1");
	ck_assert_str_eq(j->domain, "c1.example.com");
	ck_assert_uint_eq(j->ntypes, 1);
	ck_assert(!j->webroot);
	ck_assert_str_eq(j->resume_url, "https://ca.example/order/7");
	ck_assert(j->resume_finalized);
	ck_assert(j->resume_key);

	/* The resumed order is gone: forgotten on disk, key and all. */
	j->ops->forget(j->arg);
	disk_order(&x, "c1", url, sizeof(url), &fin, &key);
	ck_assert_str_eq(url, "");
	ck_assert(!fin);
	ck_assert(!key);
	/* A new one: its key, its URL, then finalize, each on disk at once. */
	k = privkey_generate(KEY_EC_P256);
	ck_assert_int_eq(j->ops->begin(j->arg, k, err, sizeof(err)), 0);
	privkey_free(k);
	disk_order(&x, "c1", url, sizeof(url), &fin, &key);
	ck_assert(key);
	ck_assert_str_eq(url, "");
	ck_assert_int_eq(j->ops->created(j->arg, "https://ca.example/order/8", err,
	    sizeof(err)), 0);
	disk_order(&x, "c1", url, sizeof(url), &fin, &key);
	ck_assert_str_eq(url, "https://ca.example/order/8");
	ck_assert(!fin);
	ck_assert_int_eq(j->ops->finalized(j->arg, err, sizeof(err)), 0);
	disk_order(&x, "c1", url, sizeof(url), &fin, &key);
	ck_assert_str_eq(url, "https://ca.example/order/8");
	ck_assert(fin);
	ck_assert(key);
	/* It fails: the order stays for the next attempt to resume. */
	fake_finish(j, false);
	disk_order(&x, "c1", url, sizeof(url), &fin, &key);
	ck_assert_str_eq(url, "https://ca.example/order/8");
	ck_assert(fin);
	fx_close(&x);
}
END_TEST

/* ---- status: the phase of a certificate in flight ---- */

static size_t phase_want;

static void
phase_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	if (fk.njobs >= phase_want)
		ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until want orders have started. */
static void
phase_run(struct fx *x, size_t want)
{
	ev_timer t;

	phase_want = want;
	ev_timer_init(&t, phase_tick, 0.005, 0.005);
	ev_timer_start(x->loop, &t);
	ck_assert_msg(test_run_loop(x->loop, 30), "%zu of %zu orders started", fk.njobs, want);
	ev_timer_stop(x->loop, &t);
}

static const struct json *
status_of(const struct json *st, const char *name)
{
	const struct json *c;

	JSON_FOREACH(c, json_get(st, "certificates"))
		if (strcmp(json_str(json_get(c, "name")), name) == 0)
			return c;
	ck_abort_msg("no %s in status", name);
	return NULL;
}

/* The streamed status text is json_print of the tree, extra members last. */
static void
assert_status_print_same(struct fleet *f, const struct json *tree)
{
	struct json *want = json_dup(tree), *extra = json_new_object();
	struct buf b = {0};
	char *w;

	json_set_str(extra, "source", "daemon");
	json_set_num(extra, "pid", 42);
	fleet_status_print(f, json_dup(extra), &b);
	json_merge(want, extra);
	w = json_print(want);
	ck_assert_str_eq(b.data, w);
	free(w);
	buf_free(&b);
	json_free(want);
}

START_TEST(test_status_phase)
{
	struct fx x;
	char *inv = inv_certs(INV_HEAD(1, 32, 32), "p", "one", 2);
	struct json *st;
	const struct json *c;

	fx_open(&x, inv, NULL);
	free(inv);
	fk.limit = 1;
	fk.acct_limit[0] = fk.acct_limit[1] = 32;
	fleet_start(x.f);
	phase_run(&x, 1);
	fk.jobs[0]->prog = (struct order_progress){ .state = ORDER_AUTHORIZE,
		.since = 1700000000, .identifier = "p1.example.com", .challenge_type = "http-01" };

	st = fleet_status_json(x.f);
	assert_status_print_same(x.f, st);
	c = status_of(st, "p1");
	ck_assert_str_eq(json_str(json_get(c, "phase")), "validating p1.example.com by http-01");
	ck_assert_str_eq(json_str(json_get(c, "phase_since")), "2023-11-14T22:13:20Z");
	c = status_of(st, "p2");
	ck_assert_str_eq(json_str(json_get(c, "phase")), "queued");
	ck_assert_ptr_nonnull(json_str(json_get(c, "phase_since")));
	json_free(st);

	fk.jobs[0]->prog.state = ORDER_POLL;
	fk.jobs[0]->prog.finalize_sent = true;
	st = fleet_cert_json(x.f, "p1");
	ck_assert_str_eq(json_str(json_get(st, "phase")), "finalizing");
	json_free(st);

	/* Settled: no phase any more; the next one starts. */
	fake_finish(fk.jobs[0], true);
	phase_run(&x, 2);
	fk.jobs[1]->prog = (struct order_progress){ .state = ORDER_WAIT_ACCOUNT, .since = 1 };
	st = fleet_status_json(x.f);
	assert_status_print_same(x.f, st);
	ck_assert_ptr_null(json_get(status_of(st, "p1"), "phase"));
	ck_assert_str_eq(json_str(json_get(status_of(st, "p2"), "phase")),
	    "waiting for the account");
	json_free(st);
	fake_finish(fk.jobs[1], true);
	fx_close(&x);
}
END_TEST

START_TEST(test_phase_text)
{
	struct order_progress p = { .state = ORDER_AUTHORIZE };
	char b[128];

	ck_assert_str_eq(report_phase_text(&p, b, sizeof(b)), "validating");
	p.identifier = "a.example";
	ck_assert_str_eq(report_phase_text(&p, b, sizeof(b)), "validating a.example");
	p.challenge_type = "dns-01";
	ck_assert_str_eq(report_phase_text(&p, b, sizeof(b)), "validating a.example by dns-01");
	p = (struct order_progress){ .state = ORDER_KEYGEN };
	ck_assert_str_eq(report_phase_text(&p, b, sizeof(b)), "ordering");
	p.state = ORDER_NEW_ORDER;
	ck_assert_str_eq(report_phase_text(&p, b, sizeof(b)), "ordering");
	p.state = ORDER_POLL;
	ck_assert_str_eq(report_phase_text(&p, b, sizeof(b)), "ordering");
	p.state = ORDER_FINALIZE;
	ck_assert_str_eq(report_phase_text(&p, b, sizeof(b)), "finalizing");
	p.state = ORDER_DOWNLOAD;
	ck_assert_str_eq(report_phase_text(&p, b, sizeof(b)), "downloading");
	p.state = ORDER_DONE;
	ck_assert_str_eq(report_phase_text(&p, b, sizeof(b)), "installing");
}
END_TEST

static Suite *
fleet_suite(void)
{
	Suite *s = suite_create("fleet");
	TCase *tc = tcase_create("queue");

	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_global_limit);
	tcase_add_test(tc, test_account_limits);
	tcase_add_test(tc, test_reload_match);
	suite_add_tcase(s, tc);
	tc = tcase_create("post_hook");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_post_hook_batch);
	suite_add_tcase(s, tc);
	tc = tcase_create("order");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_order_progress);
	suite_add_tcase(s, tc);
	tc = tcase_create("status");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_status_phase);
	tcase_add_test(tc, test_phase_text);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(fleet_suite)
