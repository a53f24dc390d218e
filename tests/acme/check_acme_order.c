/*
 * check_acme_order.c - unit tests for the order state machine
 * (acme_order.c, acme_authz.c) through its public interface (acme.h),
 * against the scripted CA of fake_ca.h: a fresh order to download, resume
 * after a 404 (with and without a prior finalize), an order for other
 * names, a finalize whose answer is lost, Retry-After in both forms,
 * badNonce on every step, an invalid order's problem document, an
 * alternate chain picked by preferred_chain, pre-validated
 * authorizations whose challenges are never touched, the gates of a
 * caller whose record is remote (the pool: order_ops.gate), and a newOrder
 * refused as rateLimited: the order is deferred (not failed), the account
 * pauses for the Retry-After, and the next order after it succeeds.
 */
#include <string.h>
#include <time.h>

#include <ev.h>

#include "acme.h"
#include "fake_ca.h"
#include "store.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"

#define CT_JSON "Content-Type: application/json\r\n"
#define CT_PROBLEM "Content-Type: application/problem+json\r\n"
#define BAD_NONCE "{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"stale\"}"
#define ACCOUNT_REPLY "{\"status\":\"valid\"}"

#define CERT_ONE "  - {name: web, account: ca, domains: [a.example], " \
	"challenge: {types: [http-01], http01: webroot, webroot: $W}}\n"

static struct fake_env *fx;
static struct cert_state st;
static struct fake_order fo;    /* the order, driven as the fleet does */
static struct order_result res;
static bool done;
static char *chain_a;

static void
setup_with(const char *certs)
{
	fx = fake_env_new("", certs);
	cert_state_init(&st);
	memset(&fo, 0, sizeof(fo));
	memset(&res, 0, sizeof(res));
	done = false;
	chain_a = fake_fixture("chain/chain-a.pem", NULL);
	fake_ca_reply(fx->ca, "POST", "/acct/new", 0, 201, CT_JSON "Location: $B/acct/1\r\n",
	    ACCOUNT_REPLY);
}

static void
setup(void)
{
	setup_with(CERT_ONE);
}

static void
teardown(void)
{
	order_result_clear(&res);
	cert_state_free(&st);
	free(chain_a);
	fake_env_free(fx);
	fx = NULL;
}

static void
order_cb(struct order_job *j, struct order_result *r, void *arg)
{
	(void)j;
	(void)arg;
	res = *r;
	memset(r, 0, sizeof(*r));
	done = true;
	ev_break(fx->loop, EVBREAK_ALL);
}

/* Runs one order for the first certificate to its callback. */
static void
run_order(void)
{
	char *dump;

	(void)fake_order_start(&fo, fx, 0, &st, order_cb, NULL);
	ck_assert(test_run_loop(fx->loop, 25));
	dump = fake_ca_dump(fx->ca);
	ck_assert_msg(done, "no result; requests: %s", dump);
	ck_assert_msg(fake_ca_unmatched(fx->ca) == 0, "unscripted requests: %s", dump);
	free(dump);
}

static void
assert_ok(void)
{
	char *dump = fake_ca_dump(fx->ca);

	ck_assert_msg(res.ok, "order failed: %s; requests: %s", res.error, dump);
	ck_assert_ptr_nonnull(res.chain_pem);
	ck_assert_ptr_nonnull(res.key);
	free(dump);
}

/* An order object as the CA sends it. */
static char *
order_json(const char *status, const char *names, const char *n, const char *extra)
{
	return xasprintf("{\"status\":\"%s\",\"identifiers\":[%s],"
	    "\"authorizations\":[\"$B/authz/%s\"],\"finalize\":\"$B/order/%s/finalize\"%s}",
	    status, names, n, n, extra ? extra : "");
}

#define NAME_A "{\"type\":\"dns\",\"value\":\"a.example\"}"

/*
 * Scripts order n (paths /order/N, /authz/N, /chall/N, /cert/N) for
 * a.example from the given order status through to a downloaded chain.
 * bad: a path whose first POST is answered badNonce, or NULL;
 * poll_headers: when not NULL, the first poll after finalize answers
 * processing with these headers; final_order: the order the polls then
 * get (NULL: valid, with the certificate URL).
 */
static void
script_order_ex(const char *n, const char *first_status, const char *bad,
    const char *poll_headers, const char *final_order)
{
	char *order = xasprintf("/order/%s", n), *authz = xasprintf("/authz/%s", n);
	char *chall = xasprintf("/chall/%s", n), *fin = xasprintf("/order/%s/finalize", n);
	char *certp = xasprintf("/cert/%s", n), *j, *loc;
	char *az_pending = xasprintf("{\"status\":\"pending\",\"identifier\":" NAME_A ","
	    "\"challenges\":[{\"type\":\"http-01\",\"url\":\"$B/chall/%s\",\"token\":\"tok%s\","
	    "\"status\":\"pending\"}]}", n, n);
	char *az_valid = xasprintf("{\"status\":\"valid\",\"identifier\":" NAME_A ","
	    "\"challenges\":[{\"type\":\"http-01\",\"url\":\"$B/chall/%s\",\"token\":\"tok%s\","
	    "\"status\":\"valid\"}]}", n, n);
	char *ch = xasprintf("{\"type\":\"http-01\",\"url\":\"$B/chall/%s\",\"token\":\"tok%s\","
	    "\"status\":\"processing\"}", n, n);
	char *valid_extra = xasprintf(",\"certificate\":\"$B/cert/%s\"", n);
	const char *paths[] = { "/order/new", authz, chall, fin, order, certp };

	for (size_t i = 0; bad && i < sizeof(paths) / sizeof(paths[0]); i++)
		if (strcmp(bad, paths[i]) == 0)
			fake_ca_reply(fx->ca, "POST", bad, 1, 400, CT_PROBLEM, BAD_NONCE);
	if (first_status != NULL) {
		loc = xasprintf(CT_JSON "Location: $B/order/%s\r\n", n);
		j = order_json(first_status, NAME_A, n, NULL);
		fake_ca_reply(fx->ca, "POST", "/order/new", 1, 201, loc, j);
		free(loc);
		free(j);
	}
	fake_ca_reply(fx->ca, "POST", authz, 1, 200, CT_JSON, az_pending);
	fake_ca_reply(fx->ca, "POST", chall, 1, 200, CT_JSON, ch);
	fake_ca_reply(fx->ca, "POST", authz, 0, 200, CT_JSON, az_valid);
	j = order_json("ready", NAME_A, n, NULL);
	fake_ca_reply(fx->ca, "POST", order, 1, 200, CT_JSON, j);
	free(j);
	j = order_json("processing", NAME_A, n, NULL);
	fake_ca_reply(fx->ca, "POST", fin, 1, 200, CT_JSON, j);
	free(j);
	if (poll_headers != NULL) {
		char *h = xasprintf(CT_JSON "%s", poll_headers);

		j = order_json("processing", NAME_A, n, NULL);
		fake_ca_reply(fx->ca, "POST", order, 1, 200, h, j);
		free(j);
		free(h);
	}
	j = final_order ? xstrdup(final_order) : order_json("valid", NAME_A, n, valid_extra);
	fake_ca_reply(fx->ca, "POST", order, 0, 200, CT_JSON, j);
	free(j);
	fake_ca_reply(fx->ca, "POST", certp, 0, 200,
	    "Content-Type: application/pem-certificate-chain\r\n", chain_a);
	free(order);
	free(authz);
	free(chall);
	free(fin);
	free(certp);
	free(az_pending);
	free(az_valid);
	free(ch);
	free(valid_extra);
}

static void
script_order(const char *n, const char *first_status, const char *bad)
{
	script_order_ex(n, first_status, bad, NULL, NULL);
}

/* A stored order N for the certificate, as a run before a restart left it. */
static void
store_resumable(const char *n, bool finalized)
{
	privkey_t *k = privkey_generate(KEY_EC_P256);
	char err[256] = "";

	ck_assert_int_eq(store_order_key_save(fx->store, "web", k, err, sizeof(err)), 0);
	privkey_free(k);
	st.order_url = xasprintf("%s/order/%s", fake_ca_base(fx->ca), n);
	st.order_finalized = finalized;
	st.order_started = time(NULL);
	ck_assert_int_eq(store_cert_save(fx->store, "web", &st, err, sizeof(err)), 0);
}

START_TEST(test_fresh_order)
{
	const struct fake_request *r;
	char *url;

	script_order("1", "pending", NULL);
	run_order();
	assert_ok();
	ck_assert_str_eq(res.chain_pem, chain_a);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/new"), 1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/chall/1"), 1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"), 1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/cert/1"), 1);
	/* newOrder names the certificate's identifiers and is signed with the
	 * account's kid, for the URL it was sent to. */
	r = fake_ca_find(fx->ca, "POST", "/order/new", 0);
	ck_assert_ptr_nonnull(strstr(r->payload, "\"a.example\""));
	url = xasprintf("%s/acct/1", fake_ca_base(fx->ca));
	ck_assert_str_eq(r->kid, url);
	free(url);
	url = xasprintf("%s/order/new", fake_ca_base(fx->ca));
	ck_assert_str_eq(r->url, url);
	free(url);
	/* The challenge answer is "{}", fetches are POST-as-GET. */
	ck_assert_str_eq(fake_ca_find(fx->ca, "POST", "/chall/1", 0)->payload, "{}");
	ck_assert_str_eq(fake_ca_find(fx->ca, "POST", "/authz/1", 0)->payload, "");
	ck_assert_ptr_nonnull(strstr(fake_ca_find(fx->ca, "POST", "/order/1/finalize", 0)->payload,
	    "\"csr\""));
	/* The order URL and the finalize were persisted as they happened. */
	ck_assert_ptr_nonnull(strstr(st.order_url, "/order/1"));
	ck_assert(st.order_finalized);
}
END_TEST

START_TEST(test_rate_limited_waits)
{
	time_t when = 0;
	double t0;

	fake_ca_reply(fx->ca, "POST", "/order/new", 1, 429, CT_PROBLEM "Retry-After: 1\r\n",
	    "{\"type\":\"urn:ietf:params:acme:error:rateLimited\",\"detail\":\"slow down\"}");
	script_order("1", "pending", NULL);
	(void)fake_order_start(&fo, fx, 0, &st, order_cb, NULL);
	ck_assert(test_run_loop(fx->loop, 25));
	/* Deferred, not failed: nothing of the order is kept, the account's
	 * new orders wait for the pause. */
	ck_assert(done && !res.ok && res.deferred);
	ck_assert_ptr_null(st.order_url);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/new"), 1);
	ck_assert_int_eq(acme_new_order_room(fx->acct, &when), ACME_BUDGET_PAUSED);
	ck_assert(when >= time(NULL) && when <= time(NULL) + 2);
	/* Ordered again once the pause is over. */
	t0 = ev_time();
	while (acme_new_order_room(fx->acct, &when) != ACME_BUDGET_OPEN && ev_time() - t0 < 5)
		ev_run(fx->loop, EVRUN_ONCE);
	ck_assert_int_eq(acme_new_order_room(fx->acct, &when), ACME_BUDGET_OPEN);
	order_result_clear(&res);
	done = false;
	run_order();
	assert_ok();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/new"), 2);
	ck_assert(fake_ca_find(fx->ca, "POST", "/order/new", 1)->at -
	    fake_ca_find(fx->ca, "POST", "/order/new", 0)->at >= 0.99);
}
END_TEST

START_TEST(test_resume_404)
{
	/* _i: 0 the lost order was never finalized, 1 it was. */
	store_resumable("1", _i == 1);
	fake_ca_reply(fx->ca, "POST", "/order/1", 1, 404, CT_PROBLEM,
	    "{\"type\":\"urn:ietf:params:acme:error:malformed\",\"detail\":\"no such order\"}");
	script_order("2", "pending", NULL);
	run_order();
	assert_ok();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1"), 1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/new"), 1);
	/* The new order is authorized and finalized like a first one; a kept
	 * finalize_sent would poll it at ready until order_timeout. */
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/chall/2"), 1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/2/finalize"), 1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"), 0);
	ck_assert_ptr_nonnull(strstr(st.order_url, "/order/2"));
}
END_TEST

/* Order 1 valid from now on, and its certificate. */
static void
script_valid_order_1(void)
{
	char *j = order_json("valid", NAME_A, "1", ",\"certificate\":\"$B/cert/1\"");

	fake_ca_reply(fx->ca, "POST", "/order/1", 0, 200, CT_JSON, j);
	free(j);
	fake_ca_reply(fx->ca, "POST", "/cert/1", 0, 200,
	    "Content-Type: application/pem-certificate-chain\r\n", chain_a);
}

START_TEST(test_resume_finalized_polls)
{
	char *j = order_json("processing", NAME_A, "1", NULL);

	/* Finalized before the restart and still processing: polled, never
	 * finalized again. */
	store_resumable("1", true);
	fake_ca_reply(fx->ca, "POST", "/order/1", 1, 200, CT_JSON, j);
	free(j);
	script_valid_order_1();
	run_order();
	assert_ok();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1"), 2);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/new"), 0);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"), 0);
}
END_TEST

/* A resumed order recorded as finalized that the CA still has "ready"
 * (_i 0: briefly, the finalize on its way, as when a proxy or the CA holds
 * it; _i 1: past twice finalize_timeout, so the finalize was lost with the
 * process that recorded it). */
START_TEST(test_resume_finalized_ready)
{
	char *h = xstrdup(CT_JSON "Retry-After: 1\r\n");
	char *j = order_json("ready", NAME_A, "1", NULL);

	fx->env.finalize_timeout = _i == 0 ? 10 : 1;
	store_resumable("1", true);
	/* Three fetches at ready, a second apart: 2 s in all. */
	fake_ca_reply(fx->ca, "POST", "/order/1", 3, 200, h, j);
	free(j);
	free(h);
	j = order_json("processing", NAME_A, "1", NULL);
	fake_ca_reply(fx->ca, "POST", "/order/1/finalize", 1, 200, CT_JSON, j);
	free(j);
	script_valid_order_1();
	run_order();
	assert_ok();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/new"), 0);
	if (_i == 0) {
		/* Within the grace: polled until valid, never finalized. */
		ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"), 0);
		ck_assert_uint_ge(fake_ca_count(fx->ca, "POST", "/order/1"), 4);
	} else {
		const struct fake_request *f = fake_ca_find(fx->ca, "POST", "/order/1/finalize", 0);
		const struct fake_request *first = fake_ca_find(fx->ca, "POST", "/order/1", 0);

		/* Finalized once, not before the grace (2 s) was over. */
		ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"), 1);
		ck_assert_ptr_nonnull(f);
		ck_assert(f->at - first->at >= 1.9);
		ck_assert(st.order_finalized);
	}
}
END_TEST

START_TEST(test_resume_names_changed)
{
	char *j = order_json("ready", "{\"type\":\"dns\",\"value\":\"b.example\"}", "1", NULL);

	store_resumable("1", false);
	fake_ca_reply(fx->ca, "POST", "/order/1", 1, 200, CT_JSON, j);
	free(j);
	script_order("2", "pending", NULL);
	run_order();
	assert_ok();
	/* Not finalized for the old names: ordered again for ours. */
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"), 0);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/new"), 1);
	ck_assert_ptr_nonnull(strstr(fake_ca_find(fx->ca, "POST", "/order/new", 0)->payload,
	    "\"a.example\""));
	ck_assert_ptr_null(strstr(fake_ca_find(fx->ca, "POST", "/order/new", 0)->payload,
	    "b.example"));
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/2/finalize"), 1);
}
END_TEST

START_TEST(test_finalize_timeout_polls)
{
	const struct fake_request *f, *p;

	/* The finalize's answer is lost (status 0): the CA may be issuing. */
	fake_ca_reply(fx->ca, "POST", "/order/1/finalize", 1, FAKE_NO_ANSWER, NULL, NULL);
	script_order("1", "pending", NULL);
	run_order();
	assert_ok();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"), 1);
	f = fake_ca_find(fx->ca, "POST", "/order/1/finalize", 0);
	ck_assert_int_eq(f->status, FAKE_NO_ANSWER);
	/* Then the order is polled: the ready fetch before, the valid one after. */
	p = fake_ca_find(fx->ca, "POST", "/order/1", 1);
	ck_assert_ptr_nonnull(p);
	ck_assert(p->at > f->at);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/cert/1"), 1);
	ck_assert(st.order_finalized);
}
END_TEST

/* The gap between the finalize and the next order fetch after it. */
static double
gap_after_finalize(size_t *nfetch_after)
{
	const struct fake_request *f = fake_ca_find(fx->ca, "POST", "/order/1/finalize", 0);
	const struct fake_request *p = NULL;

	*nfetch_after = 0;
	for (size_t k = 0; (p = fake_ca_find(fx->ca, "POST", "/order/1", k)) != NULL; k++) {
		if (p->at >= f->at) {
			(*nfetch_after)++;
			if (*nfetch_after == 1)
				return p->at - f->at;
		}
	}
	ck_abort_msg("no order fetch after the finalize");
	return 0;
}

START_TEST(test_retry_after_seconds)
{
	const struct fake_request *p1, *p2;

	/*
	 * The poll after finalize answers processing with Retry-After: 2;
	 * without it the next poll would come after 1 s (the doubling
	 * interval's second step).
	 */
	script_order_ex("1", "pending", NULL, "Retry-After: 2\r\n", NULL);
	run_order();
	assert_ok();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1"), 3);
	p1 = fake_ca_find(fx->ca, "POST", "/order/1", 1);
	p2 = fake_ca_find(fx->ca, "POST", "/order/1", 2);
	ck_assert_msg(p2->at - p1->at >= 1.99, "next poll after %.3fs", p2->at - p1->at);
	ck_assert_msg(p2->at - p1->at < 3.5, "next poll after %.3fs", p2->at - p1->at);
}
END_TEST

START_TEST(test_retry_after_date)
{
	char date[64], *hdr, *j;
	time_t when = time(NULL) + 3;
	struct tm tm;
	size_t n;
	double gap;

	/* The finalize answers processing with an HTTP-date 3 s ahead; the
	 * first poll would otherwise come after 0.5 s. */
	gmtime_r(&when, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	hdr = xasprintf(CT_JSON "Retry-After: %s\r\n", date);
	j = order_json("processing", NAME_A, "1", NULL);
	fake_ca_reply(fx->ca, "POST", "/order/1/finalize", 1, 200, hdr, j);
	free(hdr);
	free(j);
	script_order("1", "pending", NULL);
	run_order();
	assert_ok();
	gap = gap_after_finalize(&n);
	/* Whole seconds on both sides: at least 2 s of the 3 remain. */
	ck_assert_msg(gap >= 1.5, "first poll after %.3fs", gap);
	ck_assert_msg(gap < 4.5, "first poll after %.3fs", gap);
}
END_TEST

/* badNonce on each step, retried with the nonce of the error response. */
static const char *const bad_steps[] = {
	"/order/new", "/authz/1", "/chall/1", "/order/1/finalize", "/order/1", "/cert/1",
};

START_TEST(test_bad_nonce_each_step)
{
	const char *path = bad_steps[_i];
	const struct fake_request *bad, *again;

	script_order("1", "pending", path);
	run_order();
	assert_ok();
	bad = fake_ca_find(fx->ca, "POST", path, 0);
	again = fake_ca_find(fx->ca, "POST", path, 1);
	ck_assert_int_eq(bad->status, 400);
	ck_assert_ptr_nonnull(again);
	ck_assert_ptr_nonnull(bad->nonce_sent);
	ck_assert_str_eq(again->nonce, bad->nonce_sent);
	ck_assert_str_eq(again->payload, bad->payload);
	/* Each step happened once more, not more: one order, one finalize
	 * that reached the CA. */
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/new"),
	    strcmp(path, "/order/new") == 0 ? 2 : 1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"),
	    strcmp(path, "/order/1/finalize") == 0 ? 2 : 1);
	ck_assert_uint_eq(acme_account_counters(fx->acct)->bad_nonce_retries, 1);
}
END_TEST

START_TEST(test_invalid_order_problem)
{
	char *j = order_json("invalid", NAME_A, "1", ",\"error\":{\"type\":"
	    "\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"a.example is "
	    "on a blocklist\"}");

	/* Issuance fails after finalize: the poll finds the order invalid. */
	script_order_ex("1", "pending", NULL, NULL, j);
	free(j);
	run_order();
	ck_assert(!res.ok);
	ck_assert_ptr_nonnull(res.problem);
	ck_assert_str_eq(res.problem->type, "urn:ietf:params:acme:error:rejectedIdentifier");
	ck_assert_str_eq(res.problem->detail, "a.example is on a blocklist");
	ck_assert_str_eq(res.problem_type, "urn:ietf:params:acme:error:rejectedIdentifier");
	ck_assert_msg(strstr(res.error, "a.example is on a blocklist") != NULL, "%s", res.error);
	ck_assert_ptr_null(res.chain_pem);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/cert/1"), 0);
	/* Spent: the next attempt orders afresh. */
	ck_assert_ptr_null(st.order_url);
	ck_assert(!st.order_finalized);
}
END_TEST

START_TEST(test_alternate_chain)
{
	char *chain_b = fake_fixture("chain/chain-b.pem", NULL);
	const struct fake_request *alt;

	/* preferred_chain names chain B's root; the default is chain A. */
	fake_ca_reply(fx->ca, "POST", "/cert/1", 1, 200,
	    "Content-Type: application/pem-certificate-chain\r\n"
	    "Link: <$B/cert/1/alt>;rel=\"alternate\"\r\n"
	    "Link: <$B/dir>;rel=\"index\"\r\n", chain_a);
	fake_ca_reply(fx->ca, "POST", "/cert/1/alt", 0, 200,
	    "Content-Type: application/pem-certificate-chain\r\n", chain_b);
	script_order("1", "pending", NULL);
	run_order();
	assert_ok();
	ck_assert_str_eq(res.chain_pem, chain_b);
	ck_assert_uint_eq(res.chain_len, strlen(chain_b));
	alt = fake_ca_find(fx->ca, "POST", "/cert/1/alt", 0);
	ck_assert_ptr_nonnull(alt);
	ck_assert_str_eq(alt->payload, "");
	free(chain_b);
}
END_TEST

START_TEST(test_prevalidated_authz)
{
	char *j;

	/* Two names whose authorizations the CA validated beforehand (Sectigo
	 * SCM): one listing http-01, one only a type we do not know. */
	j = xasprintf("{\"status\":\"pending\",\"identifiers\":[" NAME_A ",{\"type\":\"dns\","
	    "\"value\":\"b.example\"}],\"authorizations\":[\"$B/authz/1\",\"$B/authz/2\"],"
	    "\"finalize\":\"$B/order/1/finalize\"}");
	fake_ca_reply(fx->ca, "POST", "/order/new", 1, 201, CT_JSON "Location: $B/order/1\r\n", j);
	free(j);
	fake_ca_reply(fx->ca, "POST", "/authz/1", 0, 200, CT_JSON,
	    "{\"status\":\"valid\",\"identifier\":" NAME_A ",\"challenges\":[{\"type\":"
	    "\"http-01\",\"url\":\"$B/chall/1\",\"token\":\"t1\",\"status\":\"pending\"}]}");
	fake_ca_reply(fx->ca, "POST", "/authz/2", 0, 200, CT_JSON,
	    "{\"status\":\"valid\",\"identifier\":{\"type\":\"dns\",\"value\":\"b.example\"},"
	    "\"challenges\":[{\"type\":\"email-reply-00\",\"url\":\"$B/chall/2\",\"token\":\"t2\","
	    "\"status\":\"pending\"}]}");
	j = xasprintf("{\"status\":\"ready\",\"identifiers\":[" NAME_A ",{\"type\":\"dns\","
	    "\"value\":\"b.example\"}],\"authorizations\":[\"$B/authz/1\",\"$B/authz/2\"],"
	    "\"finalize\":\"$B/order/1/finalize\"}");
	fake_ca_reply(fx->ca, "POST", "/order/1", 0, 200, CT_JSON, j);
	free(j);
	j = xasprintf("{\"status\":\"valid\",\"identifiers\":[" NAME_A ",{\"type\":\"dns\","
	    "\"value\":\"b.example\"}],\"authorizations\":[\"$B/authz/1\",\"$B/authz/2\"],"
	    "\"finalize\":\"$B/order/1/finalize\",\"certificate\":\"$B/cert/1\"}");
	fake_ca_reply(fx->ca, "POST", "/order/1/finalize", 0, 200, CT_JSON, j);
	free(j);
	fake_ca_reply(fx->ca, "POST", "/cert/1", 0, 200,
	    "Content-Type: application/pem-certificate-chain\r\n", chain_a);
	run_order();
	assert_ok();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/authz/1"), 1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/authz/2"), 1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/chall/1"), 0);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/chall/2"), 0);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"), 1);
}
END_TEST

/* ---- what is persisted before what is sent (struct order_ops) ---- */

/* How many of the first n requests the CA saw had method and path. */
static size_t
count_before(size_t n, const char *method, const char *path)
{
	size_t c = 0;

	for (size_t i = 0; i < n && i < fake_ca_nrequests(fx->ca); i++) {
		const struct fake_request *r = fake_ca_request(fx->ca, i);
		if (strcmp(r->method, method) == 0 && strcmp(r->path, path) == 0)
			c++;
	}
	return c;
}

/* The progress callbacks in the order they came, "begin created ...". */
static char *
events(void)
{
	struct buf b = {0};

	for (size_t i = 0; i < fo.nev; i++)
		buf_appendf(&b, "%s%s", i ? " " : "", fo.ev[i].what);
	return b.len ? buf_steal(&b, NULL) : xstrdup("");
}

START_TEST(test_progress_order)
{
	const struct fake_order_event *begin = &fo.ev[0], *created = &fo.ev[1];
	const struct fake_order_event *fin = &fo.ev[2];
	char *ev;

	script_order("1", "pending", NULL);
	run_order();
	assert_ok();
	ev = events();
	ck_assert_str_eq(ev, "begin created finalized");
	free(ev);
	/* The key is on disk before newOrder is sent. */
	ck_assert_int_eq(begin->rc, 0);
	ck_assert(begin->disk_key);
	ck_assert_uint_eq(count_before(begin->nrequests, "POST", "/order/new"), 0);
	/* The order URL as soon as the CA gave it, before any authorization. */
	ck_assert_int_eq(created->rc, 0);
	ck_assert(created->disk_url);
	ck_assert(!created->disk_finalized);
	ck_assert_uint_eq(count_before(created->nrequests, "POST", "/order/new"), 1);
	ck_assert_uint_eq(count_before(created->nrequests, "POST", "/authz/1"), 0);
	/* finalize_sent on disk before the finalize reaches the CA, after the
	 * order was found ready. */
	ck_assert_int_eq(fin->rc, 0);
	ck_assert(fin->disk_finalized);
	ck_assert(fin->disk_key);
	ck_assert_uint_eq(count_before(fin->nrequests, "POST", "/order/1/finalize"), 0);
	ck_assert_uint_eq(count_before(fin->nrequests, "POST", "/chall/1"), 1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"), 1);
}
END_TEST

START_TEST(test_progress_forget_on_404)
{
	const struct fake_order_event *forget = &fo.ev[0], *begin = &fo.ev[1];
	char *ev;

	/* _i: 0 the lost order was never finalized, 1 it was. */
	store_resumable("1", _i == 1);
	fake_ca_reply(fx->ca, "POST", "/order/1", 1, 404, CT_PROBLEM,
	    "{\"type\":\"urn:ietf:params:acme:error:malformed\",\"detail\":\"no such order\"}");
	script_order("2", "pending", NULL);
	run_order();
	assert_ok();
	ev = events();
	ck_assert_str_eq(ev, "forget begin created finalized");
	free(ev);
	/* Forgotten after the 404 and before anything else was sent: no URL,
	 * no finalized flag, no order key left on disk. */
	ck_assert_int_eq(fake_ca_find(fx->ca, "POST", "/order/1", 0)->status, 404);
	ck_assert_uint_eq(count_before(forget->nrequests, "POST", "/order/1"), 1);
	ck_assert_uint_eq(count_before(forget->nrequests, "POST", "/order/new"), 0);
	ck_assert(!forget->disk_url);
	ck_assert(!forget->disk_finalized);
	ck_assert(!forget->disk_key);
	ck_assert_ptr_null(strstr(st.order_url ? st.order_url : "", "/order/1"));
	/* Then the new order begins as a first one would. */
	ck_assert(begin->disk_key);
	ck_assert_uint_eq(count_before(begin->nrequests, "POST", "/order/new"), 0);
	ck_assert_ptr_nonnull(strstr(st.order_url, "/order/2"));
	ck_assert(st.order_finalized);
}
END_TEST

START_TEST(test_begin_fails_nothing_sent)
{
	struct store *ro = NULL;
	char err[512], *ev, *dir = xasprintf("%s/state", fx->dir);

	/* The store cannot take the certificate key (here one that refuses
	 * every write, as a full disk would): the order fails before newOrder,
	 * so nothing is ordered, let alone finalized. */
	ck_assert_msg(store_open_readonly(dir, &ro, err, sizeof(err)) == 0, "%s", err);
	fo.store = ro;
	run_order();
	ck_assert(!res.ok);
	ck_assert_msg(strstr(res.error, "opened read-only") != NULL, "%s", res.error);
	ck_assert_int_eq(res.status, -1);
	ev = events();
	ck_assert_str_eq(ev, "begin");
	free(ev);
	ck_assert_int_eq(fo.ev[0].rc, -1);
	ck_assert(!fo.ev[0].disk_key);
	for (size_t i = 0; i < fake_ca_nrequests(fx->ca); i++)
		ck_assert_msg(strncmp(fake_ca_request(fx->ca, i)->path, "/order", 6) != 0,
		    "sent %s %s", fake_ca_request(fx->ca, i)->method,
		    fake_ca_request(fx->ca, i)->path);
	ck_assert_ptr_null(st.order_url);
	store_close(ro);
	free(dir);
}
END_TEST


/* The events' names in order, and the index of the first named what. */
static size_t
event_at(const char *what)
{
	for (size_t i = 0; i < fo.nev; i++)
		if (strcmp(fo.ev[i].what, what) == 0)
			return i;
	ck_abort_msg("no %s event", what);
	return 0;
}

START_TEST(test_gates_wait)
{
	size_t gc, gch, gf;
	char *ev;

	/* A caller with a remote record (the pool): the engine waits at each
	 * gate and sends nothing meanwhile. */
	fo.gates = true;
	script_order("1", "pending", NULL);
	run_order();
	assert_ok();
	ev = events();
	ck_assert_str_eq(ev, "begin created gate-created gate-open gate-challenge gate-open "
	    "challenge-gone finalized gate-finalize gate-open");
	free(ev);
	gc = event_at("gate-created");
	gch = event_at("gate-challenge");
	gf = event_at("gate-finalize");
	/* CREATED: after newOrder, before any authorization is fetched. */
	ck_assert_uint_eq(count_before(fo.ev[gc].nrequests, "POST", "/order/new"), 1);
	ck_assert_uint_eq(count_before(fo.ev[gc].nrequests, "POST", "/authz/1"), 0);
	ck_assert_uint_eq(fo.ev[gc + 1].nrequests, fo.ev[gc].nrequests);
	/* CHALLENGE: the response in place, the CA not yet told. */
	ck_assert_uint_eq(count_before(fo.ev[gch].nrequests, "POST", "/chall/1"), 0);
	ck_assert_uint_eq(fo.ev[gch + 1].nrequests, fo.ev[gch].nrequests);
	ck_assert_ptr_nonnull(fo.gate_keyauth);
	ck_assert_ptr_nonnull(strchr(fo.gate_keyauth, '.'));
	/* FINALIZE: recorded locally first, the POST only after the gate. */
	ck_assert(fo.ev[gf].disk_finalized);
	ck_assert_uint_eq(count_before(fo.ev[gf].nrequests, "POST", "/order/1/finalize"), 0);
	ck_assert_uint_eq(fo.ev[gf + 1].nrequests, fo.ev[gf].nrequests);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"), 1);
	free(fo.gate_keyauth);
	fo.gate_keyauth = NULL;
}
END_TEST

START_TEST(test_gate_refused)
{
	/* _i: the gate refused, 1 + enum order_gate_point.  A refusal (the
	 * pool lock lost) fails the order at once, sends nothing more and
	 * keeps what is recorded, for the host that takes the order over. */
	fo.gates = true;
	fo.refuse_gate = _i;
	script_order("1", "pending", NULL);
	(void)fake_order_start(&fo, fx, 0, &st, order_cb, NULL);
	ck_assert(test_run_loop(fx->loop, 25));
	ck_assert(done);
	ck_assert(!res.ok);
	ck_assert_msg(strstr(res.error, "refused by the test's pool") != NULL, "%s", res.error);
	ck_assert_int_eq(res.status, -1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/order/1/finalize"), 0);
	if (_i == 1 + ORDER_GATE_CREATED)
		ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/authz/1"), 0);
	if (_i == 1 + ORDER_GATE_CHALLENGE) {
		ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/chall/1"), 0);
		(void)event_at("challenge-gone");
	}
	if (_i == 1 + ORDER_GATE_FINALIZE)
		ck_assert(st.order_finalized);
	/* Not forgotten: the URL stays for a resume. */
	ck_assert_ptr_nonnull(st.order_url);
	for (size_t i = 0; i < fo.nev; i++)
		ck_assert_str_ne(fo.ev[i].what, "forget");
	free(fo.gate_keyauth);
	fo.gate_keyauth = NULL;
}
END_TEST

#define CERT_TWO "  - {name: web, account: ca, domains: [a.example, b.example], " \
	"challenge: {types: [http-01], http01: webroot, webroot: $W}}\n"
#define CERT_PREFER "  - {name: web, account: ca, domains: [a.example], " \
	"preferred_chain: certfleet test root B, " \
	"challenge: {types: [http-01], http01: webroot, webroot: $W}}\n"

static void
setup_two(void)
{
	setup_with(CERT_TWO);
}

static void
setup_prefer(void)
{
	setup_with(CERT_PREFER);
}

static TCase *
tcase(const char *name, void (*set)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, set, teardown);
	tcase_set_timeout(tc, 30);
	return tc;
}

static Suite *
acme_order_suite(void)
{
	Suite *s = suite_create("acme_order");
	TCase *tc;

	tc = tcase("flow", setup);
	tcase_add_test(tc, test_fresh_order);
	tcase_add_test(tc, test_rate_limited_waits);
	tcase_add_test(tc, test_finalize_timeout_polls);
	tcase_add_test(tc, test_invalid_order_problem);
	suite_add_tcase(s, tc);

	tc = tcase("resume", setup);
	tcase_add_loop_test(tc, test_resume_404, 0, 2);
	tcase_add_test(tc, test_resume_finalized_polls);
	tcase_add_loop_test(tc, test_resume_finalized_ready, 0, 2);
	tcase_add_test(tc, test_resume_names_changed);
	suite_add_tcase(s, tc);

	tc = tcase("progress", setup);
	tcase_add_test(tc, test_progress_order);
	tcase_add_loop_test(tc, test_progress_forget_on_404, 0, 2);
	tcase_add_test(tc, test_begin_fails_nothing_sent);
	suite_add_tcase(s, tc);

	tc = tcase("retry_after", setup);
	tcase_add_test(tc, test_retry_after_seconds);
	tcase_add_test(tc, test_retry_after_date);
	suite_add_tcase(s, tc);

	tc = tcase("bad_nonce", setup);
	tcase_add_loop_test(tc, test_bad_nonce_each_step, 0,
	    (int)(sizeof(bad_steps) / sizeof(bad_steps[0])));
	suite_add_tcase(s, tc);

	tc = tcase("chain", setup_prefer);
	tcase_add_test(tc, test_alternate_chain);
	suite_add_tcase(s, tc);

	tc = tcase("prevalidated", setup_two);
	tcase_add_test(tc, test_prevalidated_authz);
	suite_add_tcase(s, tc);

	tc = tcase("gates", setup);
	tcase_add_test(tc, test_gates_wait);
	tcase_add_loop_test(tc, test_gate_refused, 1, 1 + ORDER_GATE_CHALLENGE + 1);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(acme_order_suite)
