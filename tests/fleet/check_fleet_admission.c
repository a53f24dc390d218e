/*
 * check_fleet_admission.c - which queued certificate the fleet lets order,
 * and when: fleet.c's queue (fleet_queue_run under the global and the
 * per-account max_inflight) with fleet_budget.c's side of the accounts'
 * request budgets (acme_budget.c's new_orders_in_flight, new_orders_per
 * and a pause the CA asked for).  Certificates beyond a limit wait in
 * queue order and start as others finish; an account held by its budget
 * takes no slot and holds up no other account; an order the CA's pause
 * refused is no failure and orders again when the pause ends; no
 * certificate is lost or started twice.
 *
 * The orders are scripted, as in check_fleet.c (fleet_internal.h's struct
 * fleet_order_ops), and do to the account's real budget what acme_order.c
 * does: counted as starting from the start until the key is made
 * (acme_budget_starting), then a newOrder ticket (acme_ticket_wait), given
 * back when the newOrder is answered; a rateLimited answer pauses the
 * account (acme_budget_note_reply) and the order ends deferred.  The
 * test decides when each order takes each step, so the fleet's every
 * admission can be asserted.  The store, the budget, its timers and the
 * installation of the certificates are the real thing on the default loop.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ev.h>

#include "acme.h"
#include "acme_budget.h"
#include "config.h"
#include "crypto.h"
#include "fleet.h"
#include "fleet_internal.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"

/* ---- scripted orders that use the account's budget ---- */

#define MAX_JOBS 96
#define MAX_CERTS 48
#define NACCTS 3

static const char *const acct_names[NACCTS] = { "one", "two", "three" };

struct order_job {
	char name[32];
	int acct;                   /* index in acct_names */
	struct acme_account *a;
	const struct order_ops *ops;
	void *arg;
	bool starting;              /* counted by acme_budget_starting */
	bool asked;                 /* reached the budget (its key made) */
	struct acme_ticket *ticket;
	bool sent;                  /* ticket granted: its newOrder went */
	bool answered;              /* the newOrder's answer came, ticket given back */
	bool done;
};

/* One certificate's history. */
struct cert_log {
	char name[32];
	int starts, issued, deferred;
};

static struct {
	struct order_job *jobs[MAX_JOBS];   /* in the order started */
	size_t njobs;
	bool budget;                /* the orders use the budget (else they never ask) */
	int limit, acct_limit[NACCTS];      /* the inventory's max_inflight */
	int in_flight_limit[NACCTS];        /* new_orders_in_flight, 0 none */
	int per_count[NACCTS];
	double per_seconds[NACCTS];
	int inflight, acct_inflight[NACCTS];
	int max_inflight, acct_max[NACCTS];
	int sending[NACCTS], sending_max[NACCTS];
	double grants[NACCTS][MAX_JOBS];    /* ev_now() of each ticket granted */
	int ngrants[NACCTS];
	char violation[256];        /* the first limit found exceeded */
	struct cert_log certs[MAX_CERTS];
	size_t ncerts;
	unsigned rand;
} fk;

static struct ev_loop *floop;

static int
acct_index(const char *name)
{
	for (int i = 0; i < NACCTS; i++)
		if (strcmp(acct_names[i], name) == 0)
			return i;
	ck_abort_msg("unknown account %s", name);
	return -1;
}

static struct cert_log *
cert_log_of(const char *name)
{
	for (size_t i = 0; i < fk.ncerts; i++)
		if (strcmp(fk.certs[i].name, name) == 0)
			return &fk.certs[i];
	ck_assert_uint_lt(fk.ncerts, MAX_CERTS);
	snprintf(fk.certs[fk.ncerts].name, sizeof(fk.certs[0].name), "%s", name);
	return &fk.certs[fk.ncerts++];
}

static void
violated(const char *what, const char *name)
{
	if (fk.violation[0] == '\0')
		snprintf(fk.violation, sizeof(fk.violation), "%s (starting %s)", what, name);
}

static struct order_job *
live_job(const char *name)
{
	for (size_t i = fk.njobs; i-- > 0;)
		if (!fk.jobs[i]->done && strcmp(fk.jobs[i]->name, name) == 0)
			return fk.jobs[i];
	return NULL;
}

static struct order_job *
fake_start(struct acme_env *env, struct acme_account *a, const struct order_params *p,
    const struct order_ops *ops, void *arg)
{
	struct order_job *j;
	int ai;

	(void)env;
	ck_assert_uint_lt(fk.njobs, MAX_JOBS);
	if (live_job(p->name) != NULL)
		violated("a certificate started while its order is in flight", p->name);
	j = xcalloc(1, sizeof(*j));
	snprintf(j->name, sizeof(j->name), "%s", p->name);
	j->acct = ai = acct_index(acme_account_name(a));
	j->a = a;
	j->ops = ops;
	j->arg = arg;
	fk.jobs[fk.njobs++] = j;
	cert_log_of(p->name)->starts++;
	fk.inflight++;
	fk.acct_inflight[ai]++;
	if (fk.inflight > fk.max_inflight)
		fk.max_inflight = fk.inflight;
	if (fk.acct_inflight[ai] > fk.acct_max[ai])
		fk.acct_max[ai] = fk.acct_inflight[ai];
	if (fk.inflight > fk.limit)
		violated("global max_inflight exceeded", p->name);
	if (fk.acct_inflight[ai] > fk.acct_limit[ai])
		violated("an account's max_inflight exceeded", p->name);
	/* acme_order.c's order_start: an order that will send a newOrder
	 * counts against the budget from now. */
	if (fk.budget && p->resume_url == NULL) {
		j->starting = true;
		acme_budget_starting(acme_account_budget(a), 1);
	}
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
	(void)j;
	memset(p, 0, sizeof(*p));
}

static const struct fleet_order_ops fake_orders = {
	.start = fake_start,
	.cancel = fake_cancel,
	.update = fake_update,
	.progress = fake_progress,
};

static void
granted(struct order_job *j)
{
	int ai = j->acct;

	j->sent = true;
	fk.sending[ai]++;
	if (fk.sending[ai] > fk.sending_max[ai])
		fk.sending_max[ai] = fk.sending[ai];
	if (fk.in_flight_limit[ai] > 0 && fk.sending[ai] > fk.in_flight_limit[ai])
		violated("new_orders_in_flight exceeded", j->name);
	fk.grants[ai][fk.ngrants[ai]++] = ev_now(floop);
}

static void
ticket_cb(void *arg)
{
	granted(arg);
}

/* The order leaves: ok (a certificate for its one name), or deferred (the
 * CA paused the account before it was created). */
static void
job_end(struct order_job *j, bool ok)
{
	struct order_result res = {0};
	char *cert = NULL, *key = NULL;
	int ai = j->acct;

	ck_assert(!j->done);
	j->done = true;
	if (j->starting)
		acme_budget_starting(acme_account_budget(j->a), -1);
	j->starting = false;
	if (j->ticket != NULL) {
		if (j->sent && !j->answered)
			fk.sending[ai]--;
		acme_ticket_done(j->ticket);
		j->ticket = NULL;
	}
	fk.inflight--;
	fk.acct_inflight[ai]--;
	if (ok) {
		char dom[64];

		snprintf(dom, sizeof(dom), "%s.example.com", j->name);
		ck_assert_int_eq(crypto_tlsalpn_cert(dom, "x", &cert, &key), 0);
		res.ok = true;
		res.chain_pem = cert;
		res.chain_len = strlen(cert);
		res.key = privkey_from_pem(key, strlen(key));
		ck_assert_ptr_nonnull(res.key);
		cert_log_of(j->name)->issued++;
	} else {
		res.deferred = true;
		res.error = xstrdup("new orders paused at the CA's request");
		res.status = -1;
		cert_log_of(j->name)->deferred++;
	}
	j->ops->done(j, &res, j->arg);
	order_result_clear(&res);
	free(key);
}

/* The order's key is made: it asks its account for a newOrder ticket
 * (acme_order.c's ORDER_BUDGET), or ends deferred while the account is
 * paused. */
static void
job_ask(struct order_job *j)
{
	struct acme_budget *b = acme_account_budget(j->a);

	ck_assert(!j->asked && !j->done);
	j->asked = true;
	if (j->starting) {
		j->starting = false;
		acme_budget_starting(b, -1);
	}
	if (acme_budget_paused_until(b) > 0) {
		job_end(j, false);
		return;
	}
	j->ticket = acme_ticket_wait(b, false, ticket_cb, j);
	if (acme_ticket_granted(j->ticket))
		granted(j);
}

/* The newOrder is answered: created, or refused as rateLimited with
 * Retry-After (acme_client.c notes the reply before the order machine
 * gives its ticket back and defers). */
static void
job_answer(struct order_job *j, const char *rate_limited_for)
{
	ck_assert(j->sent && !j->answered && !j->done);
	if (rate_limited_for != NULL) {
		struct acme_problem p = { .type = (char *)"urn:ietf:params:acme:error:rateLimited",
			.detail = (char *)"too many new orders (test)" };
		struct http_response r = { .status = 429, .retry_after = (char *)rate_limited_for };

		ck_assert(acme_budget_note_reply(acme_account_budget(j->a), &r, &p));
	}
	j->answered = true;
	fk.sending[j->acct]--;
	acme_ticket_done(j->ticket);
	j->ticket = NULL;
	if (rate_limited_for != NULL)
		job_end(j, false);
}

/* Takes the live order for name through the rest of its steps to issued. */
static void
job_complete(const char *name)
{
	struct order_job *j = live_job(name);

	ck_assert_msg(j != NULL, "no order in flight for %s", name);
	if (fk.budget && !j->asked)
		job_ask(j);
	ck_assert_msg(!fk.budget || j->sent, "%s has no ticket", name);
	if (fk.budget && !j->answered)
		job_answer(j, NULL);
	job_end(j, true);
}

/* "a1 a2 b1": the certificates in the order their orders started. */
static const char *
started(void)
{
	static char s[MAX_JOBS * 8];
	size_t n = 0;

	s[0] = '\0';
	for (size_t i = 0; i < fk.njobs && n + 40 < sizeof(s); i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "%s%s", i ? " " : "", fk.jobs[i]->name);
	return s;
}

/* ---- a fleet in a temporary directory ---- */

struct fx {
	char dir[64];
	struct config *cfg;
	struct store *store;
	struct acme_env env;
	struct fleet *f;
	struct ev_loop *loop;
};

/* inv: the inventory, @D@ standing for the test's directory. */
/* Writes inv (with @D@ for x's directory) to x's directory as file, mode
 * 0600; its path in path. */
static void
put_inventory(struct fx *x, const char *inv, const char *file, char *path, size_t pathlen)
{
	struct buf b = {0};
	FILE *fp;

	for (const char *p = inv; *p; p++) {
		if (strncmp(p, "@D@", 3) == 0) {
			buf_appendf(&b, "%s", x->dir);
			p += 2;
		} else {
			buf_appendf(&b, "%c", *p);
		}
	}
	snprintf(path, pathlen, "%s/%s", x->dir, file);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(b.data, fp);
	fclose(fp);
	buf_free(&b);
	chmod(path, 0600);
}

static void
fx_open(struct fx *x, const char *inv)
{
	char err[1024], path[128];

	memset(x, 0, sizeof(*x));
	memset(&fk, 0, sizeof(fk));
	snprintf(x->dir, sizeof(x->dir), "/tmp/check_fleet_admission.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(x->dir));
	put_inventory(x, inv, "inv.yaml", path, sizeof(path));
	ck_assert_msg(config_load(path, &x->cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(store_open(x->cfg->state_dir, &x->store, err, sizeof(err)) == 0, "%s",
	    err);
	x->loop = floop = ev_default_loop(0);
	ev_now_update(x->loop);
	x->env.loop = x->loop;
	x->env.hook_timeout = 30;
	x->env.finalize_timeout = 120;
	x->env.order_timeout = 1800;
	x->f = fleet_new(&x->env, x->store, x->cfg, false);
	x->f->order_ops = &fake_orders;
	x->f->post_debounce = 0.2;
	ck_assert_msg(fleet_load(x->f, err, sizeof(err)) == 0, "%s", err);
	/* The limits the fake checks, from the inventory as loaded. */
	fk.limit = x->cfg->max_inflight;
	for (size_t i = 0; i < x->cfg->naccounts; i++) {
		const struct config_account *ca = &x->cfg->accounts[i];
		int ai = acct_index(ca->name);

		fk.acct_limit[ai] = ca->max_inflight;
		fk.in_flight_limit[ai] = ca->new_orders_in_flight;
		fk.per_count[ai] = ca->new_orders_per_count;
		fk.per_seconds[ai] = (double)ca->new_orders_per_seconds;
	}
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

static struct cert_rt *
rt(struct fx *x, const char *name)
{
	for (size_t i = 0; i < x->f->ncerts; i++)
		if (strcmp(x->f->certs[i]->cfg->name, name) == 0)
			return x->f->certs[i];
	ck_abort_msg("no certificate %s", name);
	return NULL;
}

static bool (*until_cond)(void);

static void
until_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	if (until_cond())
		ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until cond() holds (checked every 2 ms) or limit seconds
 * pass; whether it held. */
static bool
run_until(struct fx *x, bool (*cond)(void), double limit)
{
	ev_timer t;
	bool ok;

	if (cond())
		return true;
	until_cond = cond;
	ev_timer_init(&t, until_tick, 0.002, 0.002);
	ev_timer_start(x->loop, &t);
	ok = test_run_loop(x->loop, limit);
	ev_timer_stop(x->loop, &t);
	return ok && cond();
}

/* Runs the loop for s seconds: what is due by then has happened. */
static bool
never(void)
{
	return false;
}

static void
run_for(struct fx *x, double s)
{
	(void)run_until(x, never, s);
}

static size_t want_jobs;

static bool
jobs_started(void)
{
	return fk.njobs >= want_jobs;
}

/* Every certificate of the inventory issued exactly once, nothing in
 * flight or queued, no limit exceeded. */
static void
assert_all_issued_once(struct fx *x)
{
	ck_assert_msg(fk.violation[0] == '\0', "%s; started: %s", fk.violation, started());
	for (size_t i = 0; i < x->f->ncerts; i++) {
		const char *n = x->f->certs[i]->cfg->name;
		struct cert_log *c = cert_log_of(n);

		ck_assert_msg(c->issued == 1, "%s issued %d times (started %d, deferred %d)", n,
		    c->issued, c->starts, c->deferred);
		ck_assert_msg(c->starts == 1 + c->deferred, "%s started %d times, deferred %d", n,
		    c->starts, c->deferred);
		ck_assert_msg(!x->f->certs[i]->queued, "%s still queued", n);
		ck_assert_int_eq(x->f->certs[i]->st.failures, 0);
	}
	ck_assert_uint_eq(fk.ncerts, x->f->ncerts);
	ck_assert_int_eq(fk.inflight, 0);
	ck_assert_int_eq(x->f->inflight, 0);
	ck_assert_uint_eq(fleet_queued(x->f), 0);
	ck_assert(!fleet_busy(x->f));
}

#define HEAD(global)                                                                \
	"state_dir: @D@/state\n"                                                    \
	"output_dir: @D@/out\n"                                                     \
	"renew_jitter: 0s\n"                                                        \
	"max_inflight: " #global "\n"                                               \
	"accounts:\n"
/* An account at a CA nobody calls (the orders are scripted). */
#define ACCT(name, extra)                                                           \
	"  " name ": {directory: 'https://127.0.0.1:9/dir', contact: mailto:a@example.com" \
	extra "}\n"
#define CERT(name, acct) \
	"  - {name: " name ", domains: [" name ".example.com], account: " acct "}\n"

/* ---- max_inflight: global and per account ---- */

/*
 * Global 3, each account 2, the queue interleaving them: every finish
 * starts exactly the first certificate that fits, in queue order, and
 * nothing starts without a finish.
 */
START_TEST(test_max_inflight_queue_order)
{
	struct fx x;

	fx_open(&x, HEAD(3)
	    ACCT("one", ", max_inflight: 2") ACCT("two", ", max_inflight: 2")
	    "certificates:\n"
	    CERT("a1", "one") CERT("a2", "one") CERT("a3", "one") CERT("b1", "two")
	    CERT("a4", "one") CERT("b2", "two") CERT("b3", "two"));
	fleet_start(x.f);
	/* a3 waits for "one", b1 behind it starts; then the fleet is full. */
	ck_assert_str_eq(started(), "a1 a2 b1");
	ck_assert_int_eq(x.f->inflight, 3);
	run_for(&x, 0.05);
	ck_assert_str_eq(started(), "a1 a2 b1");
	/* b1 ends: "one" is still full, so b2 (not a3, a4) takes the slot. */
	job_complete("b1");
	ck_assert_str_eq(started(), "a1 a2 b1 b2");
	/* a1 ends: a3, first in the queue, now fits. */
	job_complete("a1");
	ck_assert_str_eq(started(), "a1 a2 b1 b2 a3");
	/* b2 ends: "one" full (a2, a3), so b3 passes a4. */
	job_complete("b2");
	ck_assert_str_eq(started(), "a1 a2 b1 b2 a3 b3");
	job_complete("a2");
	ck_assert_str_eq(started(), "a1 a2 b1 b2 a3 b3 a4");
	job_complete("a3");
	job_complete("b3");
	job_complete("a4");
	ck_assert_str_eq(started(), "a1 a2 b1 b2 a3 b3 a4");
	ck_assert_int_eq(fk.max_inflight, 3);
	run_for(&x, 0.05);
	assert_all_issued_once(&x);
	fx_close(&x);
}
END_TEST

/* ---- the budgets hold one account, never another ---- */

/*
 * "one" has new_orders_in_flight 1: a second order is let in only once the
 * first holds its ticket (it then waits inside the engine, first in line),
 * a third only once the first's newOrder is answered.  Meanwhile "two"'s
 * certificates, behind one's in the queue, start and end, and one's
 * waiting certificates take none of the fleet's slots.
 */
START_TEST(test_in_flight_budget)
{
	struct fx x;
	time_t when;

	fx_open(&x, HEAD(5)
	    ACCT("one", ", new_orders_in_flight: 1") ACCT("two", ", new_orders_in_flight: 8")
	    "certificates:\n"
	    CERT("a1", "one") CERT("a2", "one") CERT("a3", "one")
	    CERT("b1", "two") CERT("b2", "two") CERT("b3", "two"));
	fk.budget = true;
	fleet_start(x.f);
	ck_assert_str_eq(started(), "a1 b1 b2 b3");
	ck_assert_int_eq(acme_new_order_room(rt(&x, "a2")->acct->acme, &when),
	    ACME_BUDGET_IN_FLIGHT);
	ck_assert_int_eq(x.f->inflight, 4);       /* a2, a3 wait in the queue, no slot */
	ck_assert(rt(&x, "a2")->queued && rt(&x, "a3")->queued);
	job_complete("b1");
	job_complete("b2");
	job_complete("b3");
	ck_assert_int_eq(cert_log_of("b3")->issued, 1);
	run_for(&x, 0.05);
	ck_assert_str_eq(started(), "a1 b1 b2 b3");
	/* a1 gets its ticket: a2 may come and wait behind it. */
	job_ask(live_job("a1"));
	ck_assert(live_job("a1")->sent);
	want_jobs = 5;
	ck_assert_msg(run_until(&x, jobs_started, 2), "started: %s", started());
	ck_assert_str_eq(started(), "a1 b1 b2 b3 a2");
	job_ask(live_job("a2"));
	ck_assert(!live_job("a2")->sent);
	run_for(&x, 0.05);
	ck_assert_str_eq(started(), "a1 b1 b2 b3 a2");   /* a2 waits: a3 may not */
	/* a1's newOrder answered: a2's ticket, then a3 comes. */
	job_answer(live_job("a1"), NULL);
	want_jobs = 6;
	ck_assert_msg(run_until(&x, jobs_started, 2), "started: %s", started());
	ck_assert_str_eq(started(), "a1 b1 b2 b3 a2 a3");
	ck_assert(live_job("a2")->sent);
	job_complete("a1");
	job_complete("a2");
	job_complete("a3");
	ck_assert_int_eq(fk.sending_max[0], 1);
	run_for(&x, 0.05);
	assert_all_issued_once(&x);
	fx_close(&x);
}
END_TEST

/* What fleet_budgets_json says waits for account name's block, or for
 * "max_inflight". */
static int
waiting_for(struct fx *x, const char *name, const char *block)
{
	struct json *arr = fleet_budgets_json(x->f);
	int n = -1;

	for (size_t i = 0; i < json_size(arr); i++) {
		const struct json *o = json_at(arr, i);

		if (strcmp(json_get_str(o, "account"), name) == 0)
			n = (int)json_num(json_get(json_get(o, "waiting"), block));
	}
	json_free(arr);
	ck_assert_msg(n >= 0, "no budget entry for %s", name);
	return n;
}

/*
 * An order resumed from the store sends no newOrder: only max_inflight
 * holds it back, so it starts ahead of the newOrders its account's budget
 * holds back though it was queued after them, and the count of what waits
 * names only those for the budget.  max_inflight 3 then holds back the
 * newOrders, counted as waiting for it, until one finishes.
 */
START_TEST(test_resume_passes_budget)
{
	struct fx x;

	fx_open(&x, HEAD(8)
	    ACCT("one", ", new_orders_in_flight: 1, max_inflight: 3")
	    "certificates:\n"
	    CERT("a1", "one") CERT("a2", "one") CERT("a3", "one") CERT("a4", "one"));
	rt(&x, "a4")->st.order_url = xstrdup("https://127.0.0.1:9/my-order/a4");
	fk.budget = true;
	fleet_start(x.f);
	ck_assert_str_eq(started(), "a1 a4");
	ck_assert(rt(&x, "a2")->queued && rt(&x, "a3")->queued);
	ck_assert_int_eq(waiting_for(&x, "one", "new_orders_in_flight"), 2);
	ck_assert_int_eq(waiting_for(&x, "one", "max_inflight"), 0);
	/* a1's newOrder goes and is answered: a2 may start, and a3 then
	 * waits for max_inflight (3 in flight), not for the budget. */
	job_ask(live_job("a1"));
	job_answer(live_job("a1"), NULL);
	want_jobs = 3;
	ck_assert_msg(run_until(&x, jobs_started, 2), "started: %s", started());
	ck_assert_str_eq(started(), "a1 a4 a2");
	job_ask(live_job("a2"));
	job_answer(live_job("a2"), NULL);
	run_for(&x, 0.05);
	ck_assert_str_eq(started(), "a1 a4 a2");
	ck_assert_int_eq(waiting_for(&x, "one", "new_orders_in_flight"), 0);
	ck_assert_int_eq(waiting_for(&x, "one", "max_inflight"), 1);
	job_complete("a4");
	want_jobs = 4;
	ck_assert_msg(run_until(&x, jobs_started, 2), "started: %s", started());
	ck_assert_str_eq(started(), "a1 a4 a2 a3");
	job_ask(live_job("a3"));
	job_answer(live_job("a3"), NULL);
	job_complete("a1");
	job_complete("a2");
	job_complete("a3");
	run_for(&x, 0.05);
	assert_all_issued_once(&x);
	fx_close(&x);
}
END_TEST

/* ---- reloads while certificates are queued ---- */

/* The queues agree with the fleet: every queued certificate is linked once,
 * in its own account's queue, in qseq order, and fleet_queued() is their sum. */
static void
assert_queues_sound(struct fx *x)
{
	size_t total = 0, flagged = 0;

	for (size_t i = 0; i < x->f->naccts; i++) {
		struct acct_rt *a = x->f->accts[i];
		struct cert_queue *qs[2] = { &a->q_new, &a->q_resume };

		for (int k = 0; k < 2; k++) {
			size_t n = 0;
			struct cert_rt *prev = NULL;

			for (struct cert_rt *r = qs[k]->head; r != NULL; prev = r, r = r->qnext) {
				ck_assert_msg(r->queued && r->q == qs[k] && r->acct == a,
				    "%s linked in account %s's queue but queued %d, its account %s",
				    r->cfg->name, a->cfg->name, r->queued,
				    r->acct ? r->acct->cfg->name : "none");
				ck_assert_ptr_eq(r->qprev, prev);
				ck_assert(prev == NULL || prev->qseq < r->qseq);
				n++;
			}
			ck_assert_ptr_eq(qs[k]->tail, prev);
			ck_assert_uint_eq(qs[k]->n, n);
			total += n;
		}
	}
	for (size_t i = 0; i < x->f->ncerts; i++)
		if (x->f->certs[i]->queued)
			flagged++;
	ck_assert_uint_eq(total, flagged);
	ck_assert_uint_eq(fleet_queued(x->f), total);
}

/* Reloads x with inventory inv (same @D@), freeing the old configuration
 * as the daemon does once fleet_reconfigure has returned. */
static void
fx_reload(struct fx *x, const char *inv)
{
	char err[1024], path[128];
	struct config *ncfg, *old = x->cfg;

	put_inventory(x, inv, "inv2.yaml", path, sizeof(path));
	ck_assert_msg(config_load(path, &ncfg, err, sizeof(err)) == 0, "%s", err);
	fleet_reconfigure(x->f, ncfg);
	x->cfg = ncfg;
	config_free(old);
}

/*
 * Global max_inflight 1: b1 (account two) in flight, a1 a2 b2 queued.  A
 * reload points account one at another CA (a new acct_rt, the old one
 * freed) and removes b2: a1 and a2 leave the old account's queue before it
 * is freed and come back in the new one's, b2 leaves its queue before it
 * is freed, and the counts stay the sum of the queues.  Then each finish
 * starts the next, oldest first, and every one is issued once.
 */
START_TEST(test_reload_queued)
{
	struct fx x;

	fx_open(&x, HEAD(1)
	    ACCT("one", "") ACCT("two", "")
	    "certificates:\n"
	    CERT("b1", "two") CERT("a1", "one") CERT("a2", "one") CERT("b2", "two")
	    CERT("b3", "two"));
	fleet_start(x.f);
	ck_assert_str_eq(started(), "b1");
	ck_assert_uint_eq(fleet_queued(x.f), 4);
	assert_queues_sound(&x);
	fx_reload(&x, HEAD(1)
	    "  one: {directory: 'https://127.0.0.1:9/other', contact: mailto:a@example.com}\n"
	    ACCT("two", "")
	    "certificates:\n"
	    CERT("b1", "two") CERT("a1", "one") CERT("a2", "one") CERT("b3", "two"));
	assert_queues_sound(&x);
	run_for(&x, 0.05);
	assert_queues_sound(&x);
	ck_assert_uint_eq(fleet_queued(x.f), 3);
	ck_assert(rt(&x, "a1")->queued && rt(&x, "a2")->queued && rt(&x, "b3")->queued);
	ck_assert_ptr_eq(rt(&x, "a1")->q, &rt(&x, "a1")->acct->q_new);
	ck_assert_int_eq(waiting_for(&x, "one", "max_inflight"), 2);
	ck_assert_int_eq(waiting_for(&x, "two", "max_inflight"), 1);
	/* b3 kept its place; a1 and a2 were queued again after it. */
	job_complete("b1");
	want_jobs = 2;
	ck_assert_msg(run_until(&x, jobs_started, 2), "started: %s", started());
	ck_assert_str_eq(started(), "b1 b3");
	assert_queues_sound(&x);
	job_complete("b3");
	want_jobs = 3;
	ck_assert_msg(run_until(&x, jobs_started, 2), "started: %s", started());
	job_complete("a1");
	want_jobs = 4;
	ck_assert_msg(run_until(&x, jobs_started, 2), "started: %s", started());
	ck_assert_str_eq(started(), "b1 b3 a1 a2");
	job_complete("a2");
	run_for(&x, 0.05);
	assert_queues_sound(&x);
	/* b2 is gone: what is left of fk's log is the fleet's four. */
	ck_assert_int_eq(cert_log_of("b2")->starts, 0);
	fk.ncerts--;
	assert_all_issued_once(&x);
	fx_close(&x);
}
END_TEST

/*
 * A certificate is classified when queued: one queued to resume its order
 * (a4) that loses it meanwhile waits for the budget like any newOrder,
 * behind the older a2, and is counted so.
 */
START_TEST(test_resume_lost_while_queued)
{
	struct fx x;
	struct cert_rt *a4;

	fx_open(&x, HEAD(8)
	    ACCT("one", ", new_orders_in_flight: 1, max_inflight: 2")
	    "certificates:\n"
	    CERT("a1", "one") CERT("a2", "one") CERT("a3", "one") CERT("a4", "one"));
	rt(&x, "a3")->st.order_url = xstrdup("https://127.0.0.1:9/my-order/a3");
	a4 = rt(&x, "a4");
	a4->st.order_url = xstrdup("https://127.0.0.1:9/my-order/a4");
	fk.budget = true;
	fleet_start(x.f);
	ck_assert_str_eq(started(), "a1 a3");
	ck_assert(a4->queued && a4->q == &a4->acct->q_resume);
	free(a4->st.order_url);
	a4->st.order_url = NULL;
	/* a3 finishes: a slot opens, but a1's newOrder holds the budget. */
	job_complete("a3");
	run_for(&x, 0.05);
	ck_assert_str_eq(started(), "a1 a3");
	ck_assert_int_eq(waiting_for(&x, "one", "new_orders_in_flight"), 2);
	assert_queues_sound(&x);
	job_ask(live_job("a1"));
	job_answer(live_job("a1"), NULL);
	want_jobs = 3;
	ck_assert_msg(run_until(&x, jobs_started, 2), "started: %s", started());
	ck_assert_str_eq(started(), "a1 a3 a2");
	job_complete("a1");
	job_complete("a2");
	want_jobs = 4;
	ck_assert_msg(run_until(&x, jobs_started, 2), "started: %s", started());
	job_complete("a4");
	run_for(&x, 0.05);
	assert_all_issued_once(&x);
	fx_close(&x);
}
END_TEST

/*
 * c1's attempt ends without an order (its deploy hook is missing) and
 * settles on the next loop iteration; a reload before that points its
 * account at another CA.  The new account's in-flight count must not go
 * below zero when c1 settles (which would let it run one more than its
 * max_inflight).
 */
START_TEST(test_reload_while_settling)
{
	struct fx x;
	struct cert_rt *c1;

	fx_open(&x, HEAD(8)
	    ACCT("one", ", max_inflight: 1")
	    "certificates:\n"
	    "  - {name: c1, domains: [c1.example.com], account: one, "
	    "deploy_hook: [@D@/no-such-hook]}\n");
	fleet_start(x.f);
	c1 = rt(&x, "c1");
	ck_assert(ev_is_active(&c1->settle));
	ck_assert_int_eq(c1->acct->inflight, 1);
	fx_reload(&x, HEAD(8)
	    "  one: {directory: 'https://127.0.0.1:9/other', contact: mailto:a@example.com, "
	    "max_inflight: 1}\n"
	    "certificates:\n"
	    "  - {name: c1, domains: [c1.example.com], account: one, "
	    "deploy_hook: [@D@/no-such-hook]}\n");
	run_for(&x, 0.05);
	ck_assert(!ev_is_active(&c1->settle));
	ck_assert_int_eq(x.f->inflight, 0);
	ck_assert_int_eq(c1->acct->inflight, 0);
	fx_close(&x);
}
END_TEST

static double a1_answered;

static bool
a2_started(void)
{
	return live_job("a2") != NULL;
}

/*
 * "one" has new_orders_per 1/1s: a2 waits for the token a1's newOrder
 * spent, a second after its answer, and starts then without anything else
 * happening; "two" orders all the while.
 */
START_TEST(test_per_budget)
{
	struct fx x;
	time_t when;

	fx_open(&x, HEAD(8)
	    ACCT("one", ", new_orders_per: 1/1s") ACCT("two", ", new_orders_in_flight: 8")
	    "certificates:\n"
	    CERT("a1", "one") CERT("a2", "one") CERT("b1", "two") CERT("b2", "two"));
	fk.budget = true;
	fleet_start(x.f);
	ck_assert_str_eq(started(), "a1 b1 b2");
	ck_assert_int_eq(acme_new_order_room(rt(&x, "a2")->acct->acme, &when), ACME_BUDGET_PER);
	job_ask(live_job("a1"));
	job_answer(live_job("a1"), NULL);
	a1_answered = ev_now(x.loop);
	job_complete("a1");
	/* two's certificates go through while a2 waits for the token. */
	job_complete("b1");
	job_complete("b2");
	run_for(&x, 0.3);
	ck_assert_str_eq(started(), "a1 b1 b2");
	ck_assert(rt(&x, "a2")->queued);
	ck_assert_int_eq(acme_new_order_room(rt(&x, "a2")->acct->acme, &when), ACME_BUDGET_PER);
	ck_assert(run_until(&x, a2_started, 3));
	ck_assert_msg(ev_now(x.loop) - a1_answered >= 0.95, "a2 started %.3f s after a1's answer",
	    ev_now(x.loop) - a1_answered);
	ck_assert_msg(ev_now(x.loop) - a1_answered < 1.8, "a2 started %.3f s after a1's answer",
	    ev_now(x.loop) - a1_answered);
	ck_assert_str_eq(started(), "a1 b1 b2 a2");
	job_complete("a2");
	run_for(&x, 0.05);
	assert_all_issued_once(&x);
	fx_close(&x);
}
END_TEST

static bool
a_restarted(void)
{
	return cert_log_of("a1")->starts == 2 && cert_log_of("a2")->starts == 2 &&
	    cert_log_of("a3")->starts == 2;
}

/*
 * a1's newOrder is refused as rateLimited with Retry-After: 1: the whole
 * account pauses; a1, and a2, a3 whose keys are made during the pause, end
 * deferred (no failure) and are queued again ahead of a4, which never
 * started (one's max_inflight is 3); "two" orders and issues during the
 * pause; at its end the three order again, a4 once one of them is done.
 */
START_TEST(test_pause)
{
	struct fx x;
	time_t when;
	double paused_at, t;
	const char *s;

	fx_open(&x, HEAD(8)
	    ACCT("one", ", max_inflight: 3, new_orders_in_flight: 8")
	    ACCT("two", ", new_orders_in_flight: 8")
	    "certificates:\n"
	    CERT("a1", "one") CERT("a2", "one") CERT("a3", "one") CERT("a4", "one")
	    CERT("b1", "two") CERT("b2", "two"));
	fk.budget = true;
	fleet_start(x.f);
	ck_assert_str_eq(started(), "a1 a2 a3 b1 b2");
	job_ask(live_job("a1"));
	ck_assert(live_job("a1")->sent);
	job_answer(live_job("a1"), "1");
	paused_at = ev_now(x.loop);
	ck_assert_int_eq(cert_log_of("a1")->deferred, 1);
	job_ask(live_job("a2"));
	job_ask(live_job("a3"));
	ck_assert_int_eq(cert_log_of("a2")->deferred, 1);
	ck_assert_int_eq(cert_log_of("a3")->deferred, 1);
	ck_assert_int_eq(acme_new_order_room(rt(&x, "a1")->acct->acme, &when),
	    ACME_BUDGET_PAUSED);
	ck_assert(rt(&x, "a1")->queued && rt(&x, "a2")->queued && rt(&x, "a3")->queued &&
	    rt(&x, "a4")->queued);
	ck_assert_int_eq(x.f->inflight, 2);       /* b1, b2: the paused take no slot */
	/* The deferred ones are no failures and keep their place ahead of a4. */
	ck_assert_int_eq(rt(&x, "a1")->st.failures, 0);
	ck_assert(!rt(&x, "a1")->failing);
	job_complete("b1");
	job_complete("b2");
	ck_assert_int_eq(cert_log_of("b2")->issued, 1);
	run_for(&x, 0.2);
	ck_assert_str_eq(started(), "a1 a2 a3 b1 b2");
	/* The pause ends (1 s): the three order again, a4 still waits. */
	ck_assert(run_until(&x, a_restarted, 3));
	t = ev_now(x.loop) - paused_at;
	ck_assert_msg(t >= 0.95 && t < 2.5, "ordered again %.3f s after the pause began", t);
	/* In their queue order, not in the order they were deferred. */
	s = started() + strlen("a1 a2 a3 b1 b2 ");
	ck_assert_msg(strcmp(s, "a1 a2 a3") == 0, "after the pause: %s", s);
	ck_assert(rt(&x, "a4")->queued);
	job_complete("a2");
	ck_assert_str_eq(started() + strlen(started()) - 2, "a4");
	job_complete("a1");
	job_complete("a3");
	job_complete("a4");
	run_for(&x, 0.05);
	assert_all_issued_once(&x);
	ck_assert_int_eq(cert_log_of("a4")->starts, 1);
	fx_close(&x);
}
END_TEST

/* ---- everything at once, orders stepping in a pseudo-random order ---- */

static size_t soak_total;
static int soak_answers_two;
static double soak_paused_at;

/* Every 2 ms one order takes its next step (ask, answer, end); two's
 * third newOrder is refused as rateLimited.  Stops once all are issued. */
static void
soak_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct order_job *movable[MAX_JOBS], *j;
	size_t n = 0, issued = 0;

	(void)w;
	(void)revents;
	for (size_t i = 0; i < fk.njobs; i++) {
		j = fk.jobs[i];
		if (!j->done && (!j->asked || j->sent))
			movable[n++] = j;
	}
	if (n > 0) {
		fk.rand = fk.rand * 1103515245u + 12345u;
		j = movable[(fk.rand >> 8) % n];
		if (!j->asked) {
			job_ask(j);
		} else if (!j->answered) {
			bool refuse = j->acct == 1 && ++soak_answers_two == 3;

			if (refuse)
				soak_paused_at = ev_now(loop);
			job_answer(j, refuse ? "1" : NULL);
		} else {
			job_end(j, true);
		}
	}
	for (size_t i = 0; i < fk.ncerts; i++)
		issued += (size_t)fk.certs[i].issued;
	if (issued >= soak_total)
		ev_break(loop, EVBREAK_ALL);
}

/* The numbers of acct's certificates (a1 -> 1) in the order of their first
 * start must increase: queue order. */
static void
assert_first_starts_in_order(char prefix)
{
	int next = 1;
	char seen[MAX_CERTS] = {0};

	for (size_t i = 0; i < fk.njobs; i++) {
		const char *nm = fk.jobs[i]->name;
		int k = atoi(nm + 1);

		if (nm[0] != prefix || seen[k])
			continue;
		seen[k] = 1;
		ck_assert_msg(k == next, "%s started before %c%d; started: %s", nm, prefix, next,
		    started());
		next++;
	}
}

/*
 * Global 6; "one": max_inflight 3, new_orders_in_flight 1; "two":
 * max_inflight 3, new_orders_per 4/1s and one rateLimited pause of 1 s;
 * "three": max_inflight 4, no budget.  24 certificates interleaved: no
 * limit is ever exceeded, the global one is reached, each account's
 * certificates first start in queue order, no window of a second holds
 * more than 4 of two's newOrders, none during its pause, and every
 * certificate is issued exactly once (the refused one after ordering
 * again).
 */
START_TEST(test_soak)
{
	struct fx x;
	struct buf b = {0};
	ev_timer t;

	buf_appendf(&b, "%s", HEAD(6)
	    ACCT("one", ", max_inflight: 3, new_orders_in_flight: 1")
	    ACCT("two", ", max_inflight: 3, new_orders_in_flight: 8, new_orders_per: 4/1s")
	    ACCT("three", ", max_inflight: 4, new_orders_in_flight: 8")
	    "certificates:\n");
	for (int i = 1; i <= 8; i++)
		buf_appendf(&b, "  - {name: a%d, domains: [a%d.example.com], account: one}\n"
		    "  - {name: b%d, domains: [b%d.example.com], account: two}\n"
		    "  - {name: c%d, domains: [c%d.example.com], account: three}\n",
		    i, i, i, i, i, i);
	fx_open(&x, b.data);
	buf_free(&b);
	fk.budget = true;
	fk.rand = 12345;
	soak_total = x.f->ncerts;
	soak_answers_two = 0;
	soak_paused_at = 0;
	ev_timer_init(&t, soak_tick, 0.002, 0.002);
	ev_timer_start(x.loop, &t);
	fleet_start(x.f);
	ck_assert_msg(test_run_loop(x.loop, 30), "not all issued; started: %s", started());
	ev_timer_stop(x.loop, &t);
	run_for(&x, 0.05);

	ck_assert_msg(fk.violation[0] == '\0', "%s; started: %s", fk.violation, started());
	ck_assert_int_eq(fk.max_inflight, 6);
	ck_assert_int_eq(fk.sending_max[0], 1);
	assert_first_starts_in_order('a');
	assert_first_starts_in_order('b');
	assert_first_starts_in_order('c');
	ck_assert(soak_paused_at > 0);
	ck_assert_int_eq(fk.ngrants[1], 8 + 1);   /* the refused one ordered again */
	for (int i = 0; i + 4 < fk.ngrants[1]; i++)
		ck_assert_msg(fk.grants[1][i + 4] - fk.grants[1][i] >= 0.999,
		    "5 newOrders within %.3f s", fk.grants[1][i + 4] - fk.grants[1][i]);
	for (int i = 0; i < fk.ngrants[1]; i++)
		ck_assert_msg(fk.grants[1][i] <= soak_paused_at ||
		    fk.grants[1][i] >= soak_paused_at + 0.999,
		    "a newOrder %.3f s into the pause", fk.grants[1][i] - soak_paused_at);
	assert_all_issued_once(&x);
	fx_close(&x);
}
END_TEST

static Suite *
admission_suite(void)
{
	Suite *s = suite_create("fleet_admission");
	TCase *tc = tcase_create("admission");

	log_init("check_fleet_admission", LOG_ERR, LOG_STYLE_PLAIN);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_max_inflight_queue_order);
	tcase_add_test(tc, test_in_flight_budget);
	tcase_add_test(tc, test_resume_passes_budget);
	tcase_add_test(tc, test_reload_queued);
	tcase_add_test(tc, test_resume_lost_while_queued);
	tcase_add_test(tc, test_reload_while_settling);
	tcase_add_test(tc, test_per_budget);
	tcase_add_test(tc, test_pause);
	tcase_add_test(tc, test_soak);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(admission_suite)
