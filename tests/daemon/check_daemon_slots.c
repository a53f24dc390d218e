/*
 * check_daemon_slots.c - the HTTP slot plan (daemon_slots.c): one slot per
 * order in flight plus a reserve and headroom; the smaller of the global
 * and the accounts' sum counts; a low RLIMIT_NOFILE cuts the slots, keeps a
 * share for short requests, and is flagged for the warning; and the real
 * rlimit: the soft limit is raised to the hard one.
 */
#include <check.h>
#include <ev.h>
#include <sys/resource.h>

#include "config.h"
#include "daemon_slots.h"
#include "http.h"
#include "log.h"
#include "testutil.h"

static struct config_account accts[2];
static struct config cfg;

static void
set(int global, int a1, int a2)
{
	cfg.max_inflight = global;
	accts[0].max_inflight = a1;
	accts[1].max_inflight = a2;
	cfg.accounts = accts;
	cfg.naccounts = 2;
}

START_TEST(test_plan_follows_orders)
{
	struct slots_plan p;

	/* The accounts' sum is smaller than the global bound. */
	set(256, 32, 32);
	daemon_slots_plan(&cfg, 0, &p);
	ck_assert_uint_eq(p.orders, 64);
	ck_assert_uint_eq(p.short_reserved, 16);
	ck_assert_uint_eq(p.slots, 64 + 16 + 32);
	ck_assert(!p.fd_limited);
	/* The global bound is smaller: 1,000 orders, an eighth kept. */
	set(1000, 1000, 1000);
	daemon_slots_plan(&cfg, 1 << 20, &p);
	ck_assert_uint_eq(p.orders, 1000);
	ck_assert_uint_eq(p.short_reserved, 125);
	ck_assert_uint_eq(p.slots, 1000 + 125 + 32);
	/* Long requests (one finalize per order) never reach the reserve. */
	ck_assert_uint_ge(p.slots - p.short_reserved, p.orders);
	ck_assert(!p.fd_limited);
	ck_assert_uint_gt(p.fds_wanted, p.slots);
}
END_TEST

START_TEST(test_plan_low_nofile)
{
	struct slots_plan p;

	set(1000, 1000, 0);
	daemon_slots_plan(&cfg, 1024, &p);
	ck_assert(p.fd_limited);
	ck_assert_uint_gt(p.fds_wanted, 1024);
	ck_assert_uint_ge(p.slots, 8);
	ck_assert_uint_lt(p.slots, 1024);
	ck_assert_uint_ge(p.short_reserved, 1);
	ck_assert_uint_lt(p.short_reserved, p.slots);
	/* Exactly enough is not low. */
	set(10, 10, 0);
	daemon_slots_plan(&cfg, 0, &p);
	daemon_slots_plan(&cfg, p.fds_wanted, &p);
	ck_assert(!p.fd_limited);
	/* Below the worst case but with room for every slot planned: nothing
	 * is cut, and no more slots than planned are given. */
	set(256, 256, 0);
	daemon_slots_plan(&cfg, 1500, &p);
	ck_assert(!p.fd_limited);
	ck_assert_uint_eq(p.slots, 256 + 32 + 32);
	ck_assert_uint_eq(p.short_reserved, 32);
	/* Enough for the other descriptors and some slots: a quarter kept. */
	set(4000, 4000, 0);
	daemon_slots_plan(&cfg, 2408, &p);
	ck_assert(p.fd_limited);
	ck_assert_uint_eq(p.slots, 1204);
	ck_assert_uint_eq(p.short_reserved, 301);
	/* Room for every other descriptor: the rest are slots, an eighth kept. */
	daemon_slots_plan(&cfg, 4408, &p);
	ck_assert(p.fd_limited);
	ck_assert_uint_eq(p.slots, 3000);
	ck_assert_uint_eq(p.short_reserved, 500);
	/* The plan is one http.c accepts. */
	{
		struct ev_loop *loop = ev_default_loop(0);
		struct http_client *c = http_client_new(loop);
		struct http_slots s;

		ck_assert_int_eq(http_client_set_slots(c, p.slots, p.short_reserved), 0);
		http_client_slots(c, &s);
		ck_assert_uint_eq(s.slots, 3000);
		daemon_slots_plan(&cfg, 100, &p);
		ck_assert_int_eq(http_client_set_slots(c, p.slots, p.short_reserved), 0);
		http_client_free(c);
	}
}
END_TEST

START_TEST(test_raise_nofile)
{
	struct rlimit rl;
	unsigned long long got;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max > 64) {
		rl.rlim_cur = 64;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	got = daemon_raise_nofile();
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert(rl.rlim_cur == rl.rlim_max);
	ck_assert(got == (rl.rlim_cur == RLIM_INFINITY ? 0 : (unsigned long long)rl.rlim_cur));
}
END_TEST

static Suite *
slots_suite(void)
{
	Suite *s = suite_create("daemon_slots");
	TCase *tc = tcase_create("plan");

	log_init("check_daemon_slots", LOG_WARNING, LOG_STYLE_PLAIN);
	tcase_add_test(tc, test_plan_follows_orders);
	tcase_add_test(tc, test_plan_low_nofile);
	tcase_add_test(tc, test_raise_nofile);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(slots_suite)
