/*
 * check_acme_client.c - unit tests for what acme_client.c reports to the
 * environment's observer (acme_env.observe), which the metrics count:
 * against the scripted CA of fake_ca.h, a whole order (directory,
 * newNonce, newAccount, newOrder, authz, challenge, order, finalize with a
 * badNonce, cert) reports every request the CA saw, once, named by its
 * endpoint and with its status; a request nobody answers reports code 0;
 * the endpoint name table is complete.
 */
#include <string.h>

#include <ev.h>

#include "acme.h"
#include "fake_ca.h"
#include "log.h"
#include "store.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"

#define CT_JSON "Content-Type: application/json\r\n"
#define CT_PROBLEM "Content-Type: application/problem+json\r\n"
#define BAD_NONCE "{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"stale\"}"
#define NAME_A "{\"type\":\"dns\",\"value\":\"a.example\"}"
#define CERT_ONE "  - {name: web, account: ca, domains: [a.example], " \
	"challenge: {types: [http-01], http01: webroot, webroot: $W}}\n"
#define MAX_EVENTS 64

struct event {
	char account[16];
	enum acme_endpoint ep;
	long status;
	double seconds;
	bool bad_nonce_retry;
};

static struct fake_env *fx;
static struct event events[MAX_EVENTS];
static size_t nevents;
static bool done;
static struct order_result res;

static void
observe(const struct acme_request_event *e, void *arg)
{
	ck_assert_ptr_eq(arg, &nevents);
	ck_assert_uint_lt(nevents, MAX_EVENTS);
	snprintf(events[nevents].account, sizeof(events[nevents].account), "%s", e->account);
	events[nevents].ep = e->endpoint;
	events[nevents].status = e->status;
	events[nevents].seconds = e->seconds;
	events[nevents].bad_nonce_retry = e->bad_nonce_retry;
	nevents++;
}

static void
setup(void)
{
	log_init("check_acme_client", LOG_WARNING, LOG_STYLE_PLAIN);
	fx = fake_env_new("", CERT_ONE);
	fx->env.observe = observe;
	fx->env.observe_arg = &nevents;
	nevents = 0;
	done = false;
	memset(&res, 0, sizeof(res));
	fake_ca_reply(fx->ca, "POST", "/acct/new", 0, 201, CT_JSON "Location: $B/acct/1\r\n",
	    "{\"status\":\"valid\"}");
}

static void
teardown(void)
{
	order_result_clear(&res);
	fake_env_free(fx);
	fx = NULL;
}

/* Events for ep, and of those with status and the badNonce flag. */
static size_t
count(enum acme_endpoint ep)
{
	size_t n = 0;

	for (size_t i = 0; i < nevents; i++)
		n += events[i].ep == ep;
	return n;
}

static size_t
count_status(enum acme_endpoint ep, long status, bool retry)
{
	size_t n = 0;

	for (size_t i = 0; i < nevents; i++)
		n += events[i].ep == ep && events[i].status == status &&
		    events[i].bad_nonce_retry == retry;
	return n;
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

/* Order 1 for a.example, pending to downloaded; finalize's first POST is
 * answered badNonce. */
static void
script_order(const char *chain)
{
	fake_ca_reply(fx->ca, "POST", "/order/new", 1, 201, CT_JSON "Location: $B/order/1\r\n",
	    "{\"status\":\"pending\",\"identifiers\":[" NAME_A "],"
	    "\"authorizations\":[\"$B/authz/1\"],\"finalize\":\"$B/order/1/finalize\"}");
	fake_ca_reply(fx->ca, "POST", "/authz/1", 1, 200, CT_JSON,
	    "{\"status\":\"pending\",\"identifier\":" NAME_A ",\"challenges\":[{\"type\":"
	    "\"http-01\",\"url\":\"$B/chall/1\",\"token\":\"tok1\",\"status\":\"pending\"}]}");
	fake_ca_reply(fx->ca, "POST", "/chall/1", 1, 200, CT_JSON,
	    "{\"type\":\"http-01\",\"url\":\"$B/chall/1\",\"token\":\"tok1\","
	    "\"status\":\"processing\"}");
	fake_ca_reply(fx->ca, "POST", "/authz/1", 0, 200, CT_JSON,
	    "{\"status\":\"valid\",\"identifier\":" NAME_A ",\"challenges\":[{\"type\":"
	    "\"http-01\",\"url\":\"$B/chall/1\",\"token\":\"tok1\",\"status\":\"valid\"}]}");
	fake_ca_reply(fx->ca, "POST", "/order/1", 1, 200, CT_JSON,
	    "{\"status\":\"ready\",\"identifiers\":[" NAME_A "],"
	    "\"authorizations\":[\"$B/authz/1\"],\"finalize\":\"$B/order/1/finalize\"}");
	fake_ca_reply(fx->ca, "POST", "/order/1/finalize", 1, 400, CT_PROBLEM, BAD_NONCE);
	fake_ca_reply(fx->ca, "POST", "/order/1/finalize", 1, 200, CT_JSON,
	    "{\"status\":\"processing\",\"identifiers\":[" NAME_A "],"
	    "\"authorizations\":[\"$B/authz/1\"],\"finalize\":\"$B/order/1/finalize\"}");
	fake_ca_reply(fx->ca, "POST", "/order/1", 0, 200, CT_JSON,
	    "{\"status\":\"valid\",\"identifiers\":[" NAME_A "],"
	    "\"authorizations\":[\"$B/authz/1\"],\"finalize\":\"$B/order/1/finalize\","
	    "\"certificate\":\"$B/cert/1\"}");
	fake_ca_reply(fx->ca, "POST", "/cert/1", 0, 200,
	    "Content-Type: application/pem-certificate-chain\r\n", chain);
}

START_TEST(test_order_reported)
{
	static struct fake_order fo;
	struct cert_state st;
	char *chain = fake_fixture("chain/chain-a.pem", NULL), *dump;

	cert_state_init(&st);
	script_order(chain);
	memset(&fo, 0, sizeof(fo));
	(void)fake_order_start(&fo, fx, 0, &st, order_cb, NULL);
	ck_assert(test_run_loop(fx->loop, 25));
	dump = fake_ca_dump(fx->ca);
	ck_assert_msg(done && res.ok, "order failed: %s; requests: %s", res.error, dump);
	ck_assert_uint_eq(fake_ca_unmatched(fx->ca), 0);

	/* One report per request the CA saw, each named. */
	ck_assert_msg(nevents == fake_ca_nrequests(fx->ca), "%zu reports for: %s", nevents, dump);
	ck_assert_uint_eq(count(ACME_EP_DIRECTORY), fake_ca_count(fx->ca, "GET", "/dir"));
	ck_assert_uint_eq(count(ACME_EP_NEW_NONCE), fake_ca_count(fx->ca, "HEAD", "/nonce"));
	ck_assert_uint_ge(count(ACME_EP_NEW_NONCE), 1);
	ck_assert_uint_eq(count(ACME_EP_NEW_ACCOUNT), fake_ca_count(fx->ca, "POST", "/acct/new"));
	ck_assert_uint_eq(count(ACME_EP_NEW_ORDER), 1);
	ck_assert_uint_eq(count_status(ACME_EP_NEW_ORDER, 201, false), 1);
	ck_assert_uint_eq(count(ACME_EP_AUTHZ), fake_ca_count(fx->ca, "POST", "/authz/1"));
	ck_assert_uint_eq(count_status(ACME_EP_CHALLENGE, 200, false), 1);
	ck_assert_uint_eq(count(ACME_EP_CHALLENGE), 1);
	ck_assert_uint_eq(count(ACME_EP_ORDER), fake_ca_count(fx->ca, "POST", "/order/1"));
	/* The badNonce answer is a request of its own, flagged as retried. */
	ck_assert_uint_eq(count(ACME_EP_FINALIZE), 2);
	ck_assert_uint_eq(count_status(ACME_EP_FINALIZE, 400, true), 1);
	ck_assert_uint_eq(count_status(ACME_EP_FINALIZE, 200, false), 1);
	ck_assert_uint_eq(count_status(ACME_EP_CERT, 200, false), 1);
	ck_assert_uint_eq(count(ACME_EP_OTHER), 0);
	for (size_t i = 0; i < nevents; i++) {
		ck_assert_str_eq(events[i].account, "ca");
		ck_assert(events[i].seconds >= 0 && events[i].seconds < 25);
	}
	free(dump);
	free(chain);
	cert_state_free(&st);
}
END_TEST

static void
reply_cb(const struct acme_reply *r, void *arg)
{
	(void)r;
	(void)arg;
	done = true;
	ev_break(fx->loop, EVBREAK_ALL);
}

static void
account_ready_cb(bool ok, const char *error, void *arg)
{
	(void)arg;
	ck_assert_msg(ok, "account: %s", error);
	ev_break(fx->loop, EVBREAK_ALL);
}

/* A lost answer is code 0; the caller's endpoint wins over the URL, and a
 * directory URL names its endpoint without being told. */
START_TEST(test_post_reported)
{
	struct acme_post_opts o = {0};
	char *url;

	(void)acme_account_when_ready(fx->acct, account_ready_cb, NULL);
	ck_assert(test_run_loop(fx->loop, 25));
	nevents = 0;
	fake_ca_reply(fx->ca, "POST", "/authz/9", 1, FAKE_NO_ANSWER, NULL, NULL);
	url = xasprintf("%s/authz/9", fake_ca_base(fx->ca));
	o.url = url;
	o.payload = "";
	o.endpoint = ACME_EP_AUTHZ;
	o.timeout_ms = 5000;
	ck_assert_ptr_nonnull(acme_post(fx->acct, &o, reply_cb, NULL));
	ck_assert(test_run_loop(fx->loop, 25) && done);
	ck_assert_uint_eq(count_status(ACME_EP_AUTHZ, 0, false), 1);
	free(url);

	done = false;
	nevents = 0;
	fake_ca_reply(fx->ca, "POST", "/order/new", 1, 403, CT_PROBLEM,
	    "{\"type\":\"urn:ietf:params:acme:error:unauthorized\"}");
	memset(&o, 0, sizeof(o));
	url = xasprintf("%s/order/new", fake_ca_base(fx->ca));
	o.url = url;
	o.payload = "{}";
	ck_assert_ptr_nonnull(acme_post(fx->acct, &o, reply_cb, NULL));
	ck_assert(test_run_loop(fx->loop, 25) && done);
	ck_assert_uint_eq(count_status(ACME_EP_NEW_ORDER, 403, false), 1);
	free(url);
}
END_TEST

START_TEST(test_endpoint_names)
{
	for (int e = 0; e < ACME_EP__MAX; e++) {
		const char *n = acme_endpoint_name((enum acme_endpoint)e);

		ck_assert_ptr_nonnull(n);
		ck_assert_str_ne(n, "?");
		for (int k = 0; k < e; k++)
			ck_assert_str_ne(n, acme_endpoint_name((enum acme_endpoint)k));
	}
	ck_assert_str_eq(acme_endpoint_name(ACME_EP_NEW_ORDER), "newOrder");
	ck_assert_str_eq(acme_endpoint_name(ACME_EP_RENEWAL_INFO), "renewalInfo");
	ck_assert_str_eq(acme_endpoint_name(ACME_EP__MAX), "?");
}
END_TEST

static Suite *
acme_client_suite(void)
{
	Suite *s = suite_create("acme_client");
	TCase *tc = tcase_create("observer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_order_reported);
	tcase_add_test(tc, test_post_reported);
	tcase_add_test(tc, test_endpoint_names);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(acme_client_suite)
