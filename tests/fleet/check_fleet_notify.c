/*
 * check_fleet_notify.c - unit tests for fleet_notify.c: the state machine
 * that turns a certificate's state into notices, driven by the test's own
 * clock (fleet_notify_eval takes the time): one notice per change of
 * state, none per attempt, the daily reminder, recovered, the warn_before
 * window (a duration, a percentage of the lifetime); what was told
 * surviving a round trip through the store (and old state files without
 * it); and the webhook's JSON.
 */
#include <math.h>
#include <string.h>

#include "config.h"
#include "fleet_notify.h"
#include "json.h"
#include "store.h"
#include "testdir.h"
#include "testutil.h"
#include "util.h"

#define DAY 86400
#define T0 1800000000      /* the test clock's start */

static struct config_notify pol;
static struct cert_state st;

static void
sm_setup(void)
{
	memset(&pol, 0, sizeof(pol));
	pol.after_failures = 3;
	pol.warn_before_pct = 10;
	cert_state_init(&st);
	/* A 90-day certificate issued 10 days before the clock starts. */
	st.not_before = T0 - 10 * DAY;
	st.not_after = st.not_before + 90 * DAY;
}

static void
sm_teardown(void)
{
	cert_state_free(&st);
}

/* eval at now; the one notice's event (or -1 for none), asserting at
 * most one. */
static int
eval1(time_t now, bool *reminder)
{
	struct fleet_notice out[3];
	size_t n = fleet_notify_eval(&pol, &st, now, out);

	ck_assert_uint_le(n, 1);
	if (reminder)
		*reminder = n ? out[0].reminder : false;
	return n ? (int)out[0].event : -1;
}

static void
fail_once(void)
{
	st.failures++;
}

START_TEST(test_failures_told_once)
{
	time_t now = T0;
	bool rem;

	for (int i = 1; i < 3; i++) {
		fail_once();
		ck_assert_int_eq(eval1(now += 60, NULL), -1);
	}
	fail_once();
	ck_assert_int_eq(eval1(now += 60, &rem), FLEET_EVENT_RENEWAL_FAILED);
	ck_assert(!rem);
	ck_assert_int_eq(st.notified_failed, now);
	/* Every further attempt fails too: nothing new, however many. */
	for (int i = 0; i < 50; i++) {
		fail_once();
		ck_assert_int_eq(eval1(now += 600, NULL), -1);
	}
	/* And the same moment twice tells nothing twice. */
	ck_assert_int_eq(eval1(now, NULL), -1);
}
END_TEST

START_TEST(test_daily_reminder)
{
	time_t told, now;
	bool rem;

	st.failures = 3;
	ck_assert_int_eq(eval1(T0, NULL), FLEET_EVENT_RENEWAL_FAILED);
	told = T0;
	/* Hourly checks for a day: silent until a full day has passed. */
	for (now = told + 3600; now < told + DAY; now += 3600)
		ck_assert_int_eq(eval1(now, NULL), -1);
	ck_assert_int_eq(eval1(told + DAY, &rem), FLEET_EVENT_RENEWAL_FAILED);
	ck_assert(rem);
	/* The next one a day after that reminder, not after the first. */
	ck_assert_int_eq(eval1(told + DAY + 3600, NULL), -1);
	ck_assert_int_eq(eval1(told + 2 * DAY - 1, NULL), -1);
	ck_assert_int_eq(eval1(told + 2 * DAY, &rem), FLEET_EVENT_RENEWAL_FAILED);
	ck_assert(rem);
	/* The first notice's time stays: it says when the danger began. */
	ck_assert_int_eq(st.notified_failed, told);
}
END_TEST

START_TEST(test_recovered_once)
{
	st.failures = 3;
	ck_assert_int_eq(eval1(T0, NULL), FLEET_EVENT_RENEWAL_FAILED);
	/* A success: failures back to 0, a new certificate. */
	st.failures = 0;
	st.not_before = T0 + 100;
	st.not_after = st.not_before + 90 * DAY;
	ck_assert_int_eq(eval1(T0 + 200, NULL), FLEET_EVENT_RECOVERED);
	ck_assert_int_eq(st.notified_failed, 0);
	ck_assert_int_eq(st.notified_last, 0);
	ck_assert_int_eq(eval1(T0 + 300, NULL), -1);
	ck_assert_int_eq(eval1(T0 + 2 * DAY, NULL), -1);
}
END_TEST

START_TEST(test_no_recovered_without_notice)
{
	/* Two failures (below after_failures), then a success: nothing was
	 * told, so nothing recovers. */
	st.failures = 2;
	ck_assert_int_eq(eval1(T0, NULL), -1);
	st.failures = 0;
	ck_assert_int_eq(eval1(T0 + 60, NULL), -1);
}
END_TEST

START_TEST(test_raised_after_failures_keeps_danger)
{
	/* Told at 3; a reload raises after_failures to 10 while it still
	 * fails: not recovered (nothing was renewed), still reminded. */
	st.failures = 3;
	ck_assert_int_eq(eval1(T0, NULL), FLEET_EVENT_RENEWAL_FAILED);
	pol.after_failures = 10;
	st.failures = 4;
	ck_assert_int_eq(eval1(T0 + 60, NULL), -1);
	ck_assert_int_eq(eval1(T0 + DAY, NULL), FLEET_EVENT_RENEWAL_FAILED);
}
END_TEST

START_TEST(test_expiring_percent)
{
	/* 10 % of 90 days: 9 days before notAfter. */
	time_t warn = st.not_after - 9 * DAY;
	bool rem;

	ck_assert_int_eq(fleet_notify_warn_at(&pol, &st), warn);
	ck_assert_int_eq(eval1(warn - 1, NULL), -1);
	ck_assert_int_eq(eval1(warn, &rem), FLEET_EVENT_EXPIRING);
	ck_assert(!rem);
	ck_assert_int_eq(st.notified_not_after, st.not_after);
	ck_assert_int_eq(eval1(warn + 3600, NULL), -1);
	ck_assert_int_eq(eval1(warn + DAY, &rem), FLEET_EVENT_EXPIRING);
	ck_assert(rem);
	/* Renewed: a new notAfter ends it. */
	st.not_before = warn + DAY + 10;
	st.not_after = st.not_before + 90 * DAY;
	ck_assert_int_eq(eval1(warn + DAY + 20, NULL), FLEET_EVENT_RECOVERED);
	ck_assert_int_eq(eval1(warn + 2 * DAY, NULL), -1);
}
END_TEST

START_TEST(test_expiring_duration)
{
	pol.warn_before = 3 * DAY;
	ck_assert_int_eq(fleet_notify_warn_at(&pol, &st), st.not_after - 3 * DAY);
	ck_assert_int_eq(eval1(st.not_after - 3 * DAY - 1, NULL), -1);
	ck_assert_int_eq(eval1(st.not_after - 3 * DAY, NULL), FLEET_EVENT_EXPIRING);
	/* A shorter warn_before by reload, same certificate: the mark goes
	 * without a recovered (nothing was renewed) ... */
	pol.warn_before = DAY;
	ck_assert_int_eq(eval1(st.not_after - 2 * DAY, NULL), -1);
	ck_assert_int_eq(st.notified_expiring, 0);
	/* ... and the new window is told when it comes. */
	ck_assert_int_eq(eval1(st.not_after - DAY, NULL), FLEET_EVENT_EXPIRING);
}
END_TEST

START_TEST(test_never_issued_not_expiring)
{
	st.not_after = st.not_before = 0;
	ck_assert_int_eq(fleet_notify_warn_at(&pol, &st), 0);
	ck_assert_int_eq(eval1(T0 + 1000 * DAY, NULL), -1);
}
END_TEST

START_TEST(test_both_dangers)
{
	struct fleet_notice out[3];
	time_t warn = st.not_after - 9 * DAY;
	bool rem;

	st.failures = 3;
	ck_assert_int_eq(eval1(warn - DAY / 2, NULL), FLEET_EVENT_RENEWAL_FAILED);
	/* The window begins while it fails: told, as a change of state. */
	ck_assert_int_eq(eval1(warn, NULL), FLEET_EVENT_EXPIRING);
	/* One reminder a day for both, the more urgent. */
	ck_assert_int_eq(eval1(warn + DAY, &rem), FLEET_EVENT_EXPIRING);
	ck_assert(rem);
	/* Both at once in one evaluation: two notices. */
	sm_teardown();
	sm_setup();
	st.failures = 5;
	ck_assert_uint_eq(fleet_notify_eval(&pol, &st, warn, out), 2);
	ck_assert_int_eq(out[0].event, FLEET_EVENT_RENEWAL_FAILED);
	ck_assert_int_eq(out[1].event, FLEET_EVENT_EXPIRING);
	/* One success ends both: one recovered. */
	st.failures = 0;
	st.not_after += 90 * DAY;
	ck_assert_uint_eq(fleet_notify_eval(&pol, &st, warn + 60, out), 1);
	ck_assert_int_eq(out[0].event, FLEET_EVENT_RECOVERED);
}
END_TEST

START_TEST(test_event_names)
{
	static const char *const want[] = { "renewal_failed", "expiring", "recovered",
		"revoked", "account_deactivated", "reload_rejected" };

	ck_assert_int_eq(ARRAY_SIZE(want), FLEET_EVENT__MAX);
	for (int i = 0; i < FLEET_EVENT__MAX; i++)
		ck_assert_str_eq(fleet_event_name((enum fleet_event)i), want[i]);
	ck_assert_str_eq(fleet_event_name(FLEET_EVENT__MAX), "unknown");
}
END_TEST

/* ---- persistence ---- */

START_TEST(test_persist_round_trip)
{
	struct store *s = NULL;
	struct cert_state in;
	char err[512];
	time_t now;

	ck_assert_msg(store_open(tp("state"), &s, err, sizeof(err)) == 0, "%s", err);
	st.failures = 3;
	ck_assert_int_eq(eval1(T0, NULL), FLEET_EVENT_RENEWAL_FAILED);
	ck_assert_int_eq(eval1(st.not_after - 9 * DAY, NULL), FLEET_EVENT_EXPIRING);
	now = st.not_after - 9 * DAY;
	ck_assert_msg(store_cert_save(s, "www", &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(mode_of(tp("state/certs/www/state.json")), 0600);
	ck_assert_int_eq(count_prefixed(tp("state/certs/www"), "state.json"), 1);
	/* A restart: the state read back tells nothing again. */
	ck_assert_msg(store_cert_load(s, "www", &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(in.notified_failed, st.notified_failed);
	ck_assert_int_eq(in.notified_expiring, st.notified_expiring);
	ck_assert_int_eq(in.notified_not_after, st.notified_not_after);
	ck_assert_int_eq(in.notified_last, st.notified_last);
	cert_state_free(&st);
	st = in;
	ck_assert_int_eq(eval1(now + 60, NULL), -1);
	/* Its reminder is still a day after the last notice. */
	ck_assert_int_eq(eval1(now + DAY, NULL), FLEET_EVENT_EXPIRING);
	/* Recovered: the marks go, and so does "notified" in the file. */
	st.failures = 0;
	st.not_after += 90 * DAY;
	ck_assert_int_eq(eval1(now + DAY + 60, NULL), FLEET_EVENT_RECOVERED);
	ck_assert_msg(store_cert_save(s, "www", &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_null(strstr(slurp(tp("state/certs/www/state.json")), "notified"));
	store_close(s);
}
END_TEST

START_TEST(test_old_state_file)
{
	struct store *s = NULL;
	struct cert_state in;
	char err[512];

	/* Written before notifications existed: nothing was told. */
	ck_assert_msg(store_open(tp("state"), &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(mkdir(tp("state/certs/old"), 0700), 0);
	spew(tp("state/certs/old/state.json"), "{\"v\":1,\"names\":[\"old.example.com\"],"
	    "\"failures\":7,\"not_after\":\"2028-01-01T00:00:00Z\"}");
	ck_assert_msg(store_cert_load(s, "old", &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(in.failures, 7);
	ck_assert_int_eq(in.notified_failed, 0);
	ck_assert_int_eq(in.notified_expiring, 0);
	ck_assert_int_eq(in.notified_last, 0);
	cert_state_free(&st);
	st = in;
	/* So its danger is told on the first check after the upgrade. */
	ck_assert_int_eq(eval1(T0, NULL), FLEET_EVENT_RENEWAL_FAILED);
	store_close(s);
}
END_TEST

/* ---- the webhook's JSON ---- */

START_TEST(test_cert_json)
{
	struct config_cert cc = { 0 };
	struct json *j;
	const struct json *p;
	char *s;

	cc.name = "www";
	cc.account_name = "le";
	strlist_add(&cc.domains, "www.example.com");
	strlist_add(&cc.domains, "example.com");
	st.failures = 4;
	st.last_error = xstrdup("newOrder https://ca/new-order: rateLimited: slow down");
	st.last_problem = xstrdup("{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
	    "\"detail\":\"slow down\",\"status\":429}");
	st.serial = xstrdup("0abc");
	s = fleet_notify_cert_json(FLEET_EVENT_RENEWAL_FAILED, true, "www", &cc, &st, "host1",
	    T0);
	j = json_parse(s, strlen(s), NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_get_str(j, "event"), "renewal_failed");
	ck_assert(json_is_true(json_get(j, "reminder")));
	ck_assert_str_eq(json_get_str(j, "certificate"), "www");
	ck_assert_str_eq(json_str(json_at(json_get(j, "names"), 0)), "www.example.com");
	ck_assert_str_eq(json_str(json_at(json_get(j, "names"), 1)), "example.com");
	ck_assert_str_eq(json_get_str(j, "account"), "le");
	ck_assert_str_eq(json_get_str(j, "not_after"), "2027-04-05T08:00:00Z");
	ck_assert(fabs(json_num(json_get(j, "seconds_left")) - 80.0 * DAY) < 0.5);
	ck_assert(json_num(json_get(j, "failures")) == 4);
	ck_assert_str_eq(json_get_str(j, "error"), st.last_error);
	p = json_get(j, "problem");
	ck_assert(json_is_object(p));
	ck_assert_str_eq(json_get_str(p, "type"), "urn:ietf:params:acme:error:rateLimited");
	ck_assert(json_num(json_get(p, "status")) == 429);
	ck_assert_str_eq(json_get_str(j, "host"), "host1");
	ck_assert_str_eq(json_get_str(j, "time"), "2027-01-15T08:00:00Z");
	json_free(j);
	free(s);
	/* Recovered: no error, no problem (null, not absent). */
	st.failures = 0;
	s = fleet_notify_cert_json(FLEET_EVENT_RECOVERED, false, "www", &cc, &st, "host1", T0);
	j = json_parse(s, strlen(s), NULL);
	ck_assert(json_is_null(json_get(j, "error")));
	ck_assert(json_is_null(json_get(j, "problem")));
	json_free(j);
	free(s);
	strlist_free(&cc.domains);
}
END_TEST

static Suite *
fleet_notify_suite(void)
{
	Suite *s = suite_create("fleet_notify");
	TCase *tc = tcase_create("state machine");

	tcase_add_checked_fixture(tc, sm_setup, sm_teardown);
	tcase_add_test(tc, test_failures_told_once);
	tcase_add_test(tc, test_daily_reminder);
	tcase_add_test(tc, test_recovered_once);
	tcase_add_test(tc, test_no_recovered_without_notice);
	tcase_add_test(tc, test_raised_after_failures_keeps_danger);
	tcase_add_test(tc, test_expiring_percent);
	tcase_add_test(tc, test_expiring_duration);
	tcase_add_test(tc, test_never_issued_not_expiring);
	tcase_add_test(tc, test_both_dangers);
	tcase_add_test(tc, test_event_names);
	tcase_add_test(tc, test_cert_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("persistence");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_checked_fixture(tc, sm_setup, sm_teardown);
	tcase_add_test(tc, test_persist_round_trip);
	tcase_add_test(tc, test_old_state_file);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(fleet_notify_suite)
