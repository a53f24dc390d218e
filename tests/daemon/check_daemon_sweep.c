/*
 * check_daemon_sweep.c - the sweep of crash leftovers (daemon_sweep.c):
 * all at once for --once; for the daemon a few directories per idle loop
 * iteration, so the first iteration leaves work for later, the end leaves
 * nothing; a reload in the middle walks the new configuration's archives;
 * a read-only store is never swept.
 */
#include <check.h>
#include <ev.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "daemon_sweep.h"
#include "fsutil.h"
#include "store.h"
#include "testdir.h"
#include "testutil.h"
#include "util.h"

#define NCERTS 60
#define TEMP ".state.json.tmp.0123456789ab"
#define ATEMP ".privkey1.pem.tmp.0123456789ab"

static struct config_cert certs[NCERTS];
static struct config cfg;
static char names[NCERTS][8];

static void
touch(const char *path)
{
	spew(path, "");
}

static bool
exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* A store with a leftover in certs/cI for every I, in accounts/ca, and in
 * every certificate's archive; a look-alike that stays in certs/c0. */
static struct store *
leftovers(void)
{
	char p[512], err[512] = "", *out;
	struct store *s = NULL;

	ck_assert_msg(store_open(tp("state"), &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(mkdir_p(tp("state/accounts/ca"), 0700), 0);
	touch(tp("state/accounts/ca/.key.pem.tmp.ffffffffffff"));
	for (size_t i = 0; i < NCERTS; i++) {
		snprintf(p, sizeof(p), "%s/state/certs/c%zu", tmpdir, i);
		ck_assert_int_eq(mkdir_p(p, 0700), 0);
		snprintf(p, sizeof(p), "%s/state/certs/c%zu/" TEMP, tmpdir, i);
		touch(p);
		snprintf(p, sizeof(p), "%s/out/archive/c%zu", tmpdir, i);
		ck_assert_int_eq(mkdir_p(p, 0755), 0);
		snprintf(p, sizeof(p), "%s/out/archive/c%zu/" ATEMP, tmpdir, i);
		touch(p);
	}
	spew(tp("state/certs/c0/.state.json.tmp.0123456789AB"), "keep");
	cfg.certs = certs;
	cfg.ncerts = NCERTS;
	out = tp("out");
	for (size_t i = 0; i < NCERTS; i++) {
		snprintf(names[i], sizeof(names[i]), "c%zu", i);
		certs[i].name = names[i];
		certs[i].output_dir = out;
	}
	return s;
}

static size_t
left(void)
{
	char p[512];
	size_t n = exists(tp("state/accounts/ca/.key.pem.tmp.ffffffffffff"));

	for (size_t i = 0; i < NCERTS; i++) {
		snprintf(p, sizeof(p), "%s/state/certs/c%zu/" TEMP, tmpdir, i);
		n += exists(p);
		snprintf(p, sizeof(p), "%s/out/archive/c%zu/" ATEMP, tmpdir, i);
		n += exists(p);
	}
	return n;
}

START_TEST(test_sweep_now)
{
	struct store *s = leftovers();

	ck_assert_uint_eq(left(), 2 * NCERTS + 1);
	ck_assert_uint_eq(daemon_sweep_now(&cfg, s), 2 * NCERTS + 1);
	ck_assert_uint_eq(left(), 0);
	/* The look-alike (upper-case hex) is not ours; nothing else moved. */
	ck_assert_str_eq(slurp(tp("state/certs/c0/.state.json.tmp.0123456789AB")), "keep");
	ck_assert_int_eq(count_prefixed(tp("state/certs/c0"), ".state.json.tmp."), 1);
	ck_assert_uint_eq(mode_of(tp("out/archive/c0")), 0755);
	ck_assert_uint_eq(daemon_sweep_now(&cfg, s), 0);
	store_close(s);
}
END_TEST

START_TEST(test_sweep_readonly)
{
	struct store *s = leftovers(), *ro = NULL;
	char err[512] = "";

	ck_assert_msg(store_open_readonly(tp("state"), &ro, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(daemon_sweep_now(&cfg, ro), 0);
	ck_assert_uint_eq(left(), 2 * NCERTS + 1);
	store_close(ro);
	store_close(s);
}
END_TEST

START_TEST(test_sweep_idle)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct store *s = leftovers();
	struct daemon_sweep *sw = daemon_sweep_start(loop, &cfg, s);
	size_t before = left();

	/* One iteration does one batch, not the whole store. */
	ev_run(loop, EVRUN_NOWAIT);
	ck_assert_uint_lt(left(), before);
	ck_assert_uint_gt(left(), 0);
	/* The idle watcher is the only one: the loop ends with the sweep. */
	ev_run(loop, 0);
	ck_assert_uint_eq(left(), 0);
	ck_assert(exists(tp("state/certs/c0/.state.json.tmp.0123456789AB")));
	daemon_sweep_free(sw);
	store_close(s);
	ev_loop_destroy(loop);
}
END_TEST

/* A reload mid-sweep: the new configuration (here: the archives of the
 * last certificate only) is walked, the old one is never read again. */
START_TEST(test_sweep_reload)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct store *s = leftovers();
	struct daemon_sweep *sw = daemon_sweep_start(loop, &cfg, s);
	struct config_cert last = certs[NCERTS - 1];
	struct config ncfg = { .certs = &last, .ncerts = 1 };
	char p[512];

	ev_run(loop, EVRUN_NOWAIT);
	daemon_sweep_reconfigure(sw, &ncfg);
	memset(certs, 0, sizeof(certs));    /* the old entries are gone */
	ev_run(loop, 0);
	snprintf(p, sizeof(p), "%s/out/archive/c%d/" ATEMP, tmpdir, NCERTS - 1);
	ck_assert(!exists(p));
	for (size_t i = 0; i < NCERTS; i++) {
		snprintf(p, sizeof(p), "%s/state/certs/c%zu/" TEMP, tmpdir, i);
		ck_assert_msg(!exists(p), "%s", p);
	}
	/* An archive of the old configuration the sweep had not reached. */
	snprintf(p, sizeof(p), "%s/out/archive/c%d/" ATEMP, tmpdir, NCERTS - 2);
	ck_assert(exists(p));
	daemon_sweep_free(sw);
	store_close(s);
	ev_loop_destroy(loop);
}
END_TEST

static Suite *
sweep_suite(void)
{
	Suite *s = suite_create("daemon_sweep");
	TCase *tc = tcase_create("sweep");

	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sweep_now);
	tcase_add_test(tc, test_sweep_readonly);
	tcase_add_test(tc, test_sweep_idle);
	tcase_add_test(tc, test_sweep_reload);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(sweep_suite)
