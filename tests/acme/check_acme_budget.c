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

/* ---- kept between runs ---- */

/* A store holding one budget record in memory, as the state directory's
 * budget.json would. */
static struct {
	time_t spent[64];
	int nspent;
	time_t paused_until;
	int saves, loads;
	int attempts, fail_saves;   /* save calls; how many of the first fail */
	bool stored, fail_load;
} kept;

static int
kept_load(void *arg, struct acme_budget_record *out, char *err, size_t errlen)
{
	(void)arg;
	memset(out, 0, sizeof(*out));
	kept.loads++;
	if (kept.fail_load) {
		snprintf(err, errlen, "budget.json: not valid JSON");
		return -1;
	}
	if (!kept.stored)
		return 0;
	out->spent = xcalloc((size_t)kept.nspent + 1, sizeof(*out->spent));
	memcpy(out->spent, kept.spent, (size_t)kept.nspent * sizeof(*out->spent));
	out->nspent = kept.nspent;
	out->paused_until = kept.paused_until;
	return 0;
}

static int
kept_save(void *arg, const struct acme_budget_record *rec, char *err, size_t errlen)
{
	(void)arg;
	if (kept.attempts++ < kept.fail_saves) {
		snprintf(err, errlen, "budget.json: No space left on device");
		return -1;
	}
	ck_assert_int_le(rec->nspent, 64);
	memcpy(kept.spent, rec->spent, (size_t)rec->nspent * sizeof(*rec->spent));
	kept.nspent = rec->nspent;
	kept.paused_until = rec->paused_until;
	kept.stored = true;
	kept.saves++;
	return 0;
}

static const struct acme_account_store kept_store = {
	.load_budget = kept_load,
	.save_budget = kept_save,
};

static struct acme_budget *
kept_budget(const struct acme_budget_params *p)
{
	struct acme_budget *b = acme_budget_new(&env, "ca", p);

	acme_budget_attach_store(b, &kept_store, NULL);
	return b;
}

static void
stop_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
}

/* Runs the loop for s seconds. */
static void
run_for(double s)
{
	ev_timer t;

	ev_timer_init(&t, stop_cb, s, 0.);
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	ev_timer_stop(loop, &t);
}

/* The spends of new_orders_per survive a restart: a budget made after
 * the first is freed has no token left until the first's come back, and
 * a newOrder in flight at the save counts as spent. */
START_TEST(test_kept_spends)
{
	struct acme_budget_params p = { .per_count = 3, .per_seconds = 2 };
	struct acme_budget *b;
	struct acme_ticket *t[3];
	double t0;

	memset(&kept, 0, sizeof(kept));
	b = kept_budget(&p);
	ck_assert_int_eq(kept.loads, 1);
	for (int i = 0; i < 3; i++)
		t[i] = acme_ticket_wait(b, false, ticket_cb, (void *)(long)i);
	ck_assert(acme_ticket_granted(t[2]));
	acme_ticket_done(t[0]);
	acme_ticket_done(t[1]);
	/* Saved within a second of the change, not at every spend. */
	ck_assert_int_eq(kept.saves, 0);
	run_for(1.2);
	ck_assert_int_eq(kept.saves, 1);
	ck_assert_int_eq(kept.nspent, 3);   /* two answered, one in flight */
	ck_assert(kept.paused_until == 0);
	/* The third's answer is saved as the budget is freed (the end of
	 * the process), not left to the timer. */
	acme_ticket_done(t[2]);
	acme_budget_free(b);
	ck_assert_int_eq(kept.saves, 2);
	ck_assert_int_eq(kept.nspent, 3);

	ev_now_update(loop);
	t0 = ev_now(loop);
	b = kept_budget(&p);
	t[0] = acme_ticket_wait(b, false, ticket_cb, (void *)9L);
	ck_assert(!acme_ticket_granted(t[0]));
	want = 1;
	norder = 0;
	ck_assert(test_run_loop(loop, 5));
	ck_assert_int_eq(order[0], 9);
	/* The oldest spend was about 1.2 s ago, remembered up to a second
	 * late: its token comes back 0.8 to 1.8 s from now, never sooner. */
	ck_assert(granted_at[0] - t0 >= 0.75);
	ck_assert(granted_at[0] - t0 < 2.5);
	acme_ticket_done(t[0]);
	acme_budget_free(b);
}
END_TEST

/* Spends older than the window are not counted; a new window smaller
 * than the record keeps the newest. */
START_TEST(test_kept_old_spends)
{
	struct acme_budget_params p = { .per_count = 2, .per_seconds = 60 };
	struct acme_budget *b;
	struct acme_ticket *t;
	time_t now = time(NULL);

	memset(&kept, 0, sizeof(kept));
	kept.stored = true;
	kept.spent[0] = now - 3600;
	kept.spent[1] = now - 30;
	kept.nspent = 2;
	b = kept_budget(&p);
	t = acme_ticket_wait(b, false, ticket_cb, (void *)1L);
	ck_assert(acme_ticket_granted(t));  /* one token left of two */
	acme_ticket_done(t);
	t = acme_ticket_wait(b, false, ticket_cb, (void *)2L);
	ck_assert(!acme_ticket_granted(t));
	acme_ticket_done(t);
	acme_budget_free(b);
}
END_TEST

/* A pause the CA asked for outlives the process. */
START_TEST(test_kept_pause)
{
	struct acme_budget_params p = {0};
	struct acme_problem rl = { .type = (char *)"urn:ietf:params:acme:error:rateLimited",
		.detail = (char *)"too many new orders" };
	struct http_response r = { .status = 429, .retry_after = (char *)"2" };
	struct acme_budget *b;
	struct acme_ticket *t;
	double t0;

	memset(&kept, 0, sizeof(kept));
	b = kept_budget(&p);
	ck_assert(acme_budget_note_reply(b, &r, &rl));
	acme_budget_free(b);                /* before the save timer: saved at the end */
	ck_assert_int_eq(kept.saves, 1);
	ck_assert(kept.paused_until >= time(NULL) + 1);
	ck_assert_int_eq(kept.nspent, 0);   /* unlimited: no window */

	ev_now_update(loop);
	t0 = ev_now(loop);
	b = kept_budget(&p);
	ck_assert(acme_budget_paused_until(b) >= time(NULL) + 1);
	t = acme_ticket_wait(b, false, ticket_cb, (void *)5L);
	ck_assert(!acme_ticket_granted(t));
	want = 1;
	norder = 0;
	ck_assert(test_run_loop(loop, 5));
	ck_assert(granted_at[0] - t0 >= 0.9);
	acme_ticket_done(t);
	acme_budget_free(b);
}
END_TEST

/* A newOrder granted and not yet answered is saved as spent within the
 * save delay, with no other change to prompt it: a crash before the CA
 * answers must not give its token back. */
START_TEST(test_kept_in_flight)
{
	struct acme_budget_params p = { .per_count = 2, .per_seconds = 3600 };
	struct acme_budget *b;
	struct acme_ticket *t;

	memset(&kept, 0, sizeof(kept));
	b = kept_budget(&p);
	t = acme_ticket_wait(b, false, ticket_cb, (void *)1L);
	ck_assert(acme_ticket_granted(t));
	run_for(1.3);
	ck_assert_int_eq(kept.saves, 1);
	ck_assert_int_eq(kept.nspent, 1);
	ck_assert(kept.spent[0] >= time(NULL) - 2);
	acme_ticket_done(t);
	acme_budget_free(b);
}
END_TEST

/* A save that fails is tried again, and once more as the budget is freed:
 * the spend is not forgotten because the first write hit a full disk. */
START_TEST(test_kept_save_fails)
{
	struct acme_budget_params p = { .per_count = 3, .per_seconds = 3600 };
	struct acme_budget *b;
	struct acme_ticket *t;

	memset(&kept, 0, sizeof(kept));
	kept.fail_saves = 1;
	b = kept_budget(&p);
	t = acme_ticket_wait(b, false, ticket_cb, (void *)1L);
	ck_assert(acme_ticket_granted(t));
	acme_ticket_done(t);
	run_for(1.3);
	ck_assert_int_eq(kept.attempts, 1);
	ck_assert(!kept.stored);
	acme_budget_free(b);                /* before the retry: saved at the end */
	ck_assert_int_eq(kept.attempts, 2);
	ck_assert_int_eq(kept.saves, 1);
	ck_assert_int_eq(kept.nspent, 1);

	/* A restart sees it: two of three tokens left. */
	b = kept_budget(&p);
	for (long i = 0; i < 3; i++) {
		t = acme_ticket_wait(b, false, ticket_cb, (void *)i);
		ck_assert(acme_ticket_granted(t) == (i < 2));
		acme_ticket_done(t);
	}
	acme_budget_free(b);
}
END_TEST

/* A stored pause further away than any a CA could ask for (a clock that
 * was wrong, an edited file) is cut to the longest one. */
START_TEST(test_kept_pause_capped)
{
	struct acme_budget_params p = {0};
	struct acme_budget *b;

	memset(&kept, 0, sizeof(kept));
	kept.stored = true;
	kept.paused_until = time(NULL) + 10 * 365 * 86400L;
	b = kept_budget(&p);
	ck_assert(acme_budget_paused_until(b) > time(NULL) + 86000);
	ck_assert(acme_budget_paused_until(b) <= time(NULL) + 86401);
	acme_budget_free(b);
}
END_TEST

/* An unreadable record: logged, and the budget starts empty; with no
 * limit and no pause nothing is ever written. */
START_TEST(test_kept_unreadable)
{
	struct acme_budget_params p = { .per_count = 1, .per_seconds = 60 };
	struct acme_budget_params open = {0};
	struct acme_budget *b;
	struct acme_ticket *t;

	memset(&kept, 0, sizeof(kept));
	kept.fail_load = true;
	b = kept_budget(&p);
	t = acme_ticket_wait(b, false, ticket_cb, (void *)1L);
	ck_assert(acme_ticket_granted(t));
	acme_ticket_done(t);
	acme_budget_free(b);
	ck_assert_int_eq(kept.saves, 1);
	ck_assert_int_eq(kept.nspent, 1);

	memset(&kept, 0, sizeof(kept));
	b = kept_budget(&open);
	t = acme_ticket_wait(b, false, ticket_cb, (void *)1L);
	ck_assert(acme_ticket_granted(t));
	acme_ticket_done(t);
	run_for(1.2);
	acme_budget_free(b);
	ck_assert_int_eq(kept.saves, 0);
}
END_TEST

static Suite *
budget_suite(void)
{
	Suite *s = suite_create("acme_budget");
	TCase *tw = tcase_create("window");
	TCase *tb = tcase_create("budget");

	/* Its cases wait on real timers (up to a few seconds each): Check's
	 * 4 s default is too close on a loaded machine. */
	tcase_set_timeout(tb, 30);

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
	tcase_add_test(tb, test_kept_spends);
	tcase_add_test(tb, test_kept_old_spends);
	tcase_add_test(tb, test_kept_pause);
	tcase_add_test(tb, test_kept_unreadable);
	tcase_add_test(tb, test_kept_in_flight);
	tcase_add_test(tb, test_kept_save_fails);
	tcase_add_test(tb, test_kept_pause_capped);
	suite_add_tcase(s, tb);
	return s;
}

CHECK_MAIN(budget_suite)
