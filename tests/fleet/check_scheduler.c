/*
 * check_scheduler.c - renewal arithmetic: lifetime thirds, renew_before,
 * jitter bounds, ARI window picks and clamps, backoff.
 */
#include <math.h>

#include "scheduler.h"
#include "testutil.h"

#define DAY 86400

START_TEST(test_renewal_third)
{
	/* 90-day certificate: renew with 30 days left. */
	ck_assert_int_eq(sched_renewal_time(0, 90 * DAY, 0), 60 * DAY);
	/* 6-day certificate: 2 days left. */
	ck_assert_int_eq(sched_renewal_time(1000, 1000 + 6 * DAY, 0), 1000 + 4 * DAY);
	/* 199-day certificate. */
	ck_assert_int_eq(sched_renewal_time(0, 199 * DAY, 0), 199 * DAY - (199 * DAY) / 3);
}
END_TEST

START_TEST(test_renew_before)
{
	ck_assert_int_eq(sched_renewal_time(0, 90 * DAY, 30 * DAY), 60 * DAY);
	ck_assert_int_eq(sched_renewal_time(0, 90 * DAY, 10 * DAY), 80 * DAY);
	/* Longer than half the lifetime: capped, never "right after issuance". */
	ck_assert_int_eq(sched_renewal_time(500, 500 + 6 * DAY, 30 * DAY), 500 + 3 * DAY);
}
END_TEST

START_TEST(test_jitter_bounds)
{
	time_t nb = 0, na = 90 * DAY, t = 60 * DAY, lo = t + 3600, hi = t;

	/* Later than due, by less than the bound, and actually spread. */
	for (int i = 0; i < 1000; i++) {
		double r = i / 1000.0;
		time_t j = sched_apply_jitter(t, nb, na, 3600, r);
		ck_assert(j >= t);
		ck_assert(j < t + 3600);
		lo = j < lo ? j : lo;
		hi = j > hi ? j : hi;
	}
	ck_assert_int_eq(lo, t);
	ck_assert(hi >= t + 3590);
	ck_assert_int_eq(sched_apply_jitter(t, nb, na, 3600, 0.0), t);
	ck_assert_int_eq(sched_apply_jitter(t, nb, na, 3600, 0.5), t + 1800);
	/* No jitter configured. */
	ck_assert_int_eq(sched_apply_jitter(t, nb, na, 0, 0.7), t);
	/* A 1-hour certificate: jitter capped at a tenth of the lifetime. */
	ck_assert_int_eq(sched_apply_jitter(2400, 0, 3600, 3600, 0.9999), 2400 + 359);
	/* A renewal moment 100 s before expiry: at most half of that. */
	ck_assert(sched_apply_jitter(99900, 0, 100000, 5000, 0.9999) <= 99950);
	ck_assert(sched_apply_jitter(99900, 0, 100000, 5000, 0.9999) >= 99940);
	/* Already expired: no spread at all. */
	ck_assert_int_eq(sched_apply_jitter(200000, 0, 100000, 5000, 0.9), 200000);
}
END_TEST

START_TEST(test_ari_first_check)
{
	/* One certificate is checked at once, a big fleet spread out. */
	ck_assert(sched_ari_first_check(1, 0.99) < 0.1);
	ck_assert(sched_ari_first_check(100, 0.5) == 2.5);
	ck_assert(sched_ari_first_check(10000, 0.0) == 0.0);
	ck_assert(sched_ari_first_check(10000, 0.5) == 150.0);
	ck_assert(sched_ari_first_check(10000, 0.99) > 290.0);
	ck_assert(sched_ari_first_check(1000000, 0.99) <= SCHED_ARI_START_SPREAD);
}
END_TEST

START_TEST(test_ari)
{
	ck_assert_int_eq(sched_ari_pick(1000, 2000, 0.0), 1000);
	ck_assert_int_eq(sched_ari_pick(1000, 2000, 0.5), 1500);
	ck_assert(sched_ari_pick(1000, 2000, 0.99999) <= 2000);
	ck_assert_int_eq(sched_ari_pick(2000, 1000, 0.5), 2000);
	ck_assert_int_eq(sched_ari_recheck(5), 60);
	ck_assert_int_eq(sched_ari_recheck(3600), 3600);
	ck_assert_int_eq(sched_ari_recheck(10 * DAY), DAY);
}
END_TEST

START_TEST(test_backoff)
{
	ck_assert(sched_backoff(1, 0, 0.5) == 60.0);
	ck_assert(sched_backoff(2, 0, 0.5) == 120.0);
	ck_assert(sched_backoff(3, 0, 0.5) == 240.0);
	ck_assert(sched_backoff(30, 0, 0.5) == 6 * 3600.0);
	ck_assert(sched_backoff(1, 0, 0.0) == 48.0);
	ck_assert(sched_backoff(1, 0, 0.99999) < 72.0);
	/* rateLimited Retry-After wins when larger. */
	ck_assert(sched_backoff(1, 7200, 0.5) == 7200.0);
	ck_assert(sched_backoff(10, 60, 0.5) == 6 * 3600.0);
}
END_TEST

/* Every step doubles within +-20 % until the 6 h cap, for any draw. */
START_TEST(test_backoff_sequence)
{
	for (int k = 1; k <= 40; k++) {
		double base = 60.0 * pow(2, k - 1);

		if (base > SCHED_BACKOFF_MAX)
			base = SCHED_BACKOFF_MAX;
		for (int i = 0; i < 100; i++) {
			double d = sched_backoff(k, 0, i / 100.0);
			ck_assert_msg(d >= 0.8 * base && d < 1.2 * base,
			    "failure %d draw %d: %.1f outside [%.1f, %.1f)", k, i, d,
			    0.8 * base, 1.2 * base);
		}
	}
	/* Nonsense counts behave like a first failure. */
	ck_assert(sched_backoff(0, 0, 0.5) == 60.0);
	ck_assert(sched_backoff(-3, 0, 0.5) == 60.0);
	/* Beyond the cap, a CA's Retry-After still wins: it knows best. */
	ck_assert(sched_backoff(30, 86400, 0.99) == 86400.0);
	/* A smaller Retry-After does not shorten the backoff. */
	ck_assert(sched_backoff(5, 10, 0.5) == 960.0);
	/* A negative or zero Retry-After is ignored. */
	ck_assert(sched_backoff(2, -100, 0.5) == 120.0);
}
END_TEST

START_TEST(test_needs_issue)
{
	struct config_cert c = {0};
	struct cert_state st;
	char why[128];

	cert_state_init(&st);
	strlist_add(&c.domains, "a.example.com");
	strlist_add(&c.domains, "b.example.com");
	c.key_type = KEY_EC_P256;
	c.account_name = (char *)"acct";
	ck_assert(sched_needs_issue(&c, &st, why, sizeof(why)));
	ck_assert_str_eq(why, "no certificate issued yet");
	st.version = 1;
	st.not_before = 1;
	st.not_after = 2;
	strlist_add(&st.names, "b.example.com");
	strlist_add(&st.names, "a.example.com");
	st.key_type = KEY_EC_P256;
	st.account = xstrdup("acct");
	ck_assert(!sched_needs_issue(&c, &st, why, sizeof(why)));
	st.key_type = KEY_RSA_3072;
	ck_assert(sched_needs_issue(&c, &st, why, sizeof(why)));
	ck_assert_str_eq(why, "key type changed in the inventory");
	st.key_type = KEY_EC_P256;
	strlist_add(&c.domains, "c.example.com");
	ck_assert(sched_needs_issue(&c, &st, why, sizeof(why)));
	ck_assert_str_eq(why, "names changed in the inventory");
	strlist_free(&c.domains);
	cert_state_free(&st);
}
END_TEST

START_TEST(test_fault_transient)
{
	const char *e = "urn:ietf:params:acme:error:";
	char t[128];

	/* No answer at all: connection refused, reset, a timeout. */
	ck_assert(sched_fault_transient(0, NULL, 0, 900));
	/* Not an answer: local errors, invalid authorizations (even when
	 * their challenge error says connection). */
	ck_assert(!sched_fault_transient(-1, NULL, 0, 900));
	snprintf(t, sizeof(t), "%sconnection", e);
	ck_assert(!sched_fault_transient(-1, t, 0, 900));
	/* Server errors. */
	ck_assert(sched_fault_transient(500, NULL, 0, 900));
	ck_assert(sched_fault_transient(503, NULL, 0, 900));
	snprintf(t, sizeof(t), "%sserverInternal", e);
	ck_assert(sched_fault_transient(500, t, 0, 900));
	ck_assert(sched_fault_transient(500, "serverInternal", 0, 900));
	snprintf(t, sizeof(t), "%sbadNonce", e);
	ck_assert(sched_fault_transient(400, t, 0, 900));
	/* rateLimited: only with a Retry-After short enough to wait out. */
	snprintf(t, sizeof(t), "%srateLimited", e);
	ck_assert(sched_fault_transient(429, t, 30, 900));
	ck_assert(sched_fault_transient(429, t, 900, 900));
	ck_assert(!sched_fault_transient(429, t, 901, 900));
	ck_assert(!sched_fault_transient(429, t, 0, 900));
	ck_assert(sched_fault_transient(429, NULL, 60, 900));
	ck_assert(!sched_fault_transient(429, NULL, 0, 900));
	/* What retrying will not change. */
	const char *perm[] = {"unauthorized", "rejectedIdentifier", "malformed", "caa",
	    "externalAccountRequired", "accountDoesNotExist", "badCSR", "invalidProfile",
	    "userActionRequired", "unsupportedIdentifier", "orderNotReady"};
	for (size_t i = 0; i < sizeof(perm) / sizeof(perm[0]); i++) {
		snprintf(t, sizeof(t), "%s%s", e, perm[i]);
		ck_assert_msg(!sched_fault_transient(400, t, 0, 900), "%s", perm[i]);
		ck_assert_msg(!sched_fault_transient(403, t, 0, 900), "%s", perm[i]);
	}
	/* A 5xx naming a problem other than serverInternal says what is wrong. */
	snprintf(t, sizeof(t), "%sunauthorized", e);
	ck_assert(!sched_fault_transient(500, t, 0, 900));
	ck_assert(!sched_fault_transient(404, NULL, 0, 900));
	ck_assert(!sched_fault_transient(400, NULL, 0, 900));
	ck_assert(!sched_fault_transient(200, NULL, 0, 900));
}
END_TEST

static Suite *
scheduler_suite(void)
{
	Suite *s = suite_create("scheduler");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_renewal_third);
	tcase_add_test(tc, test_renew_before);
	tcase_add_test(tc, test_jitter_bounds);
	tcase_add_test(tc, test_ari);
	tcase_add_test(tc, test_backoff);
	tcase_add_test(tc, test_backoff_sequence);
	tcase_add_test(tc, test_ari_first_check);
	tcase_add_test(tc, test_needs_issue);
	tcase_add_test(tc, test_fault_transient);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(scheduler_suite)
