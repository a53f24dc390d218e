/*
 * check_acme_budget.c - unit tests for acme_budget.c: the sliding window
 * (no window of `period` ever holds more than `count` spends; a held
 * token counts until put; resize keeps the recent spends), and the
 * account's budget on a real event loop: newOrder tickets granted first
 * come first served under new_orders_in_flight and new_orders_per, a
 * token coming back a period after its newOrder was answered, a
 * rateLimited answer (or a 503 with Retry-After) pausing every ticket
 * until its end, one ticket asked "first" going ahead, requests_per_second.
 */
#include <limits.h>
#include <string.h>

#include <ev.h>

#include "acme.h"
#include "acme_budget.h"
#include "log.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"

/* ---- the window, with an explicit clock ---- */

START_TEST(test_window_unlimited)
{
	struct rate_window w;

	rate_window_init(&w, 0, 10);
	ck_assert_int_eq(rate_window_available(&w, 0), INT_MAX);
	rate_window_spend(&w, 0);
	ck_assert_int_eq(rate_window_available(&w, 0), INT_MAX);
	ck_assert(rate_window_next(&w, 5) == 5);
	rate_window_free(&w);
}
END_TEST

START_TEST(test_window_sliding)
{
	struct rate_window w;

	rate_window_init(&w, 2, 10);
	ck_assert_int_eq(rate_window_available(&w, 100), 2);
	rate_window_spend(&w, 100);
	rate_window_spend(&w, 103);
	ck_assert_int_eq(rate_window_available(&w, 103), 0);
	/* The first token comes back 10 s after it was spent, not before. */
	ck_assert(rate_window_next(&w, 104) == 110);
	ck_assert_int_eq(rate_window_available(&w, 109.999), 0);
	ck_assert_int_eq(rate_window_available(&w, 110), 1);
	rate_window_spend(&w, 110);
	ck_assert_int_eq(rate_window_available(&w, 112.9), 0);
	ck_assert(rate_window_next(&w, 111) == 113);
	ck_assert_int_eq(rate_window_available(&w, 113), 1);
	ck_assert_int_eq(rate_window_available(&w, 120), 2);
	rate_window_free(&w);
}
END_TEST

/* Whatever the pattern of spends allowed by the window, no window of the
 * period ever holds more than count of them: the CA's count per window. */
START_TEST(test_window_never_exceeds)
{
	struct rate_window w;
	double t[4000];
	int n = 0;

	rate_window_init(&w, 3, 7);
	for (double now = 0; now < 200; now += 0.25 + random_unit() * 0.5) {
		if (random_unit() < 0.7 && rate_window_available(&w, now) > 0 && n < 4000) {
			rate_window_spend(&w, now);
			t[n++] = now;
		}
	}
	ck_assert_int_gt(n, 60);       /* close to 3 per 7 s: it did spend */
	for (int i = 0; i + 3 < n; i++)
		ck_assert_msg(t[i + 3] - t[i] >= 7, "4 spends within 7 s at %f..%f", t[i],
		    t[i + 3]);
	rate_window_free(&w);
}
END_TEST

START_TEST(test_window_held)
{
	struct rate_window w;

	rate_window_init(&w, 2, 10);
	rate_window_take(&w);
	rate_window_take(&w);
	ck_assert_int_eq(rate_window_available(&w, 0), 0);
	/* Held tokens come back only once put, a period after that. */
	ck_assert(rate_window_next(&w, 50) == -1);
	ck_assert_int_eq(rate_window_available(&w, 1000), 0);
	rate_window_put(&w, 1000);
	ck_assert_int_eq(rate_window_available(&w, 1000), 0);
	ck_assert(rate_window_next(&w, 1000) == 1010);
	ck_assert_int_eq(rate_window_available(&w, 1010), 1);
	rate_window_free(&w);
}
END_TEST

START_TEST(test_window_resize)
{
	struct rate_window w;

	rate_window_init(&w, 4, 100);
	rate_window_spend(&w, 10);
	rate_window_spend(&w, 20);
	rate_window_spend(&w, 30);
	rate_window_take(&w);
	/* Down to 2 in 100 s: the two most recent and the held one fill it. */
	rate_window_resize(&w, 2, 100, 40);
	ck_assert_int_eq(w.n, 2);
	ck_assert_int_eq(rate_window_available(&w, 40), 0);
	/* A shorter period forgets what is out of it. */
	rate_window_resize(&w, 2, 15, 40);
	ck_assert_int_eq(w.n, 1);
	ck_assert_int_eq(w.held, 1);
	ck_assert_int_eq(rate_window_available(&w, 40), 0);
	ck_assert_int_eq(rate_window_available(&w, 45), 1);
	rate_window_resize(&w, 0, 0, 45);
	ck_assert_int_eq(rate_window_available(&w, 45), INT_MAX);
	rate_window_free(&w);
}
END_TEST

/* ---- the budget, on a loop ---- */

static struct ev_loop *loop;
static struct acme_env env;
static int order[16];
static int norder;
static double granted_at[16];
static int want;

static void
ticket_cb(void *arg)
{
	int i = (int)(long)arg;

	granted_at[norder] = ev_now(loop);
	order[norder++] = i;
	if (norder >= want)
		ev_break(loop, EVBREAK_ALL);
}

static void
setup(void)
{
	log_init("check_acme_budget", LOG_CRIT, LOG_STYLE_PLAIN);
	loop = ev_loop_new(EVFLAG_AUTO);
	memset(&env, 0, sizeof(env));
	env.loop = loop;
	norder = 0;
}

static void
teardown(void)
{
	ev_loop_destroy(loop);
}

START_TEST(test_in_flight_fifo)
{
	struct acme_budget_params p = { .new_orders_in_flight = 2 };
	struct acme_budget *b = acme_budget_new(&env, "ca", &p);
	struct acme_ticket *t[5];

	for (int i = 0; i < 5; i++)
		t[i] = acme_ticket_wait(b, false, ticket_cb, (void *)(long)i);
	ck_assert(acme_ticket_granted(t[0]));
	ck_assert(acme_ticket_granted(t[1]));
	ck_assert(!acme_ticket_granted(t[2]));
	/* One answered: the next in line gets its slot, in order. */
	acme_ticket_done(t[1]);
	want = 1;
	ck_assert(test_run_loop(loop, 2));
	ck_assert_int_eq(order[0], 2);
	ck_assert(!acme_ticket_granted(t[3]));
	/* A waiter that gives up keeps the others' order. */
	acme_ticket_done(t[3]);
	acme_ticket_done(t[0]);
	want = 2;
	ck_assert(test_run_loop(loop, 2));
	ck_assert_int_eq(order[1], 4);
	acme_ticket_done(t[2]);
	acme_ticket_done(t[4]);
	acme_budget_free(b);
}
END_TEST

START_TEST(test_per_window)
{
	struct acme_budget_params p = { .per_count = 2, .per_seconds = 1 };
	struct acme_budget *b = acme_budget_new(&env, "ca", &p);
	struct acme_ticket *t[4];
	double t0;

	ev_now_update(loop);
	t0 = ev_now(loop);
	t[0] = acme_ticket_wait(b, false, ticket_cb, (void *)0L);
	t[1] = acme_ticket_wait(b, false, ticket_cb, (void *)1L);
	t[2] = acme_ticket_wait(b, false, ticket_cb, (void *)2L);
	t[3] = acme_ticket_wait(b, true, ticket_cb, (void *)3L);
	ck_assert(acme_ticket_granted(t[0]) && acme_ticket_granted(t[1]));
	ck_assert(!acme_ticket_granted(t[2]) && !acme_ticket_granted(t[3]));
	acme_ticket_done(t[0]);
	acme_ticket_done(t[1]);
	/* Both tokens come back a second after their answers; the one asked
	 * "first" goes ahead. */
	want = 2;
	ck_assert(test_run_loop(loop, 5));
	ck_assert_int_eq(order[0], 3);
	ck_assert_int_eq(order[1], 2);
	ck_assert(granted_at[0] - t0 >= 0.99);
	ck_assert(granted_at[0] - t0 < 1.5);
	acme_ticket_done(t[2]);
	acme_ticket_done(t[3]);
	acme_budget_free(b);
}
END_TEST

START_TEST(test_pause)
{
	struct acme_budget_params p = {0};
	struct acme_budget *b = acme_budget_new(&env, "ca", &p);
	struct acme_problem rl = { .type = (char *)"urn:ietf:params:acme:error:rateLimited",
		.detail = (char *)"too many new orders" };
	struct http_response r = { .status = 429, .retry_after = (char *)"1" };
	struct http_response plain = { .status = 503 };
	struct acme_ticket *t;
	double t0;
	time_t when;

	(void)when;
	/* A 503 without Retry-After is the server's trouble, no pause. */
	ck_assert(!acme_budget_note_reply(b, &plain, NULL));
	ck_assert(acme_budget_paused_until(b) == 0);
	ev_now_update(loop);
	t0 = ev_now(loop);
	ck_assert(acme_budget_note_reply(b, &r, &rl));
	ck_assert(acme_budget_paused_until(b) >= time(NULL));
	/* Asked again during the pause: the same pause. */
	ck_assert(acme_budget_note_reply(b, &r, &rl));
	t = acme_ticket_wait(b, false, ticket_cb, (void *)7L);
	ck_assert(!acme_ticket_granted(t));
	want = 1;
	ck_assert(test_run_loop(loop, 5));
	ck_assert_int_eq(order[0], 7);
	ck_assert(granted_at[0] - t0 >= 0.99);
	ck_assert(acme_budget_paused_until(b) == 0);
	acme_ticket_done(t);
	acme_budget_free(b);
}
END_TEST

START_TEST(test_requests_per_second)
{
	struct acme_budget_params p = { .requests_per_second = 3 };
	struct acme_budget *b = acme_budget_new(&env, "ca", &p);
	double d;

	ck_assert(acme_budget_post_delay(b) == 0);
	ck_assert(acme_budget_post_delay(b) == 0);
	ck_assert(acme_budget_post_delay(b) == 0);
	d = acme_budget_post_delay(b);
	ck_assert(d > 0.9 && d <= 1.01);
	acme_budget_free(b);
}
END_TEST

static Suite *
budget_suite(void)
{
	Suite *s = suite_create("acme_budget");
	TCase *tw = tcase_create("window");
	TCase *tb = tcase_create("budget");

	tcase_add_test(tw, test_window_unlimited);
	tcase_add_test(tw, test_window_sliding);
	tcase_add_test(tw, test_window_never_exceeds);
	tcase_add_test(tw, test_window_held);
	tcase_add_test(tw, test_window_resize);
	suite_add_tcase(s, tw);
	tcase_add_checked_fixture(tb, setup, teardown);
	tcase_add_test(tb, test_in_flight_fifo);
	tcase_add_test(tb, test_per_window);
	tcase_add_test(tb, test_pause);
	tcase_add_test(tb, test_requests_per_second);
	suite_add_tcase(s, tb);
	return s;
}

CHECK_MAIN(budget_suite)
