/*
 * check_keygen.c - unit tests for keygen.c: keys of every type generated
 * concurrently by the worker threads, callbacks delivered on the loop
 * thread, cancellation, and freeing a pool with work still queued (run
 * under valgrind to catch leaks).
 */
#include <pthread.h>
#include <string.h>

#include <ev.h>

#include "crypto.h"
#include "keygen.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"
#include "workpool.h"

/* Generous: under valgrind one RSA-4096 key takes about a minute and the
 * threads are serialised. */
#define WAIT_LIMIT 480.0
#define PER_TYPE 2

struct result {
	enum key_type want;
	int calls;
	bool on_loop_thread;
	bool ok;
	int order;
};

static pthread_t main_thread;
static int ncallbacks;
static int nexpected;

static void
done_cb(privkey_t *key, void *arg)
{
	struct result *r = arg;

	r->calls++;
	r->order = ++ncallbacks;
	r->on_loop_thread = pthread_equal(pthread_self(), main_thread) != 0;
	r->ok = key != NULL && privkey_type(key) == r->want;
	privkey_free(key);
	if (ncallbacks >= nexpected)
		ev_break(ev_default_loop(0), EVBREAK_ALL);
}

/* Runs the loop until nexpected callbacks have run (or the bounded wait
 * expires, which fails the test). */
static void
run_until_done(struct ev_loop *loop)
{
	ck_assert_msg(ncallbacks >= nexpected || test_run_loop(loop, WAIT_LIMIT),
	    "only %d of %d keys generated within %.0f s", ncallbacks, nexpected, WAIT_LIMIT);
}

static void
setup(void)
{
	main_thread = pthread_self();
	ncallbacks = 0;
	nexpected = 0;
}

START_TEST(test_every_type_concurrently)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct workpool *p = workpool_new(loop, 4, "key generation");
	struct result res[KEY_TYPE__MAX * PER_TYPE];

	ck_assert_ptr_nonnull(p);
	memset(res, 0, sizeof(res));
	/* Slowest first, so the quick EC keys finish while RSA is running. */
	for (int i = (int)ARRAY_SIZE(res) - 1; i >= 0; i--) {
		res[i].want = (enum key_type)(i / PER_TYPE);
		ck_assert_ptr_nonnull(keygen_submit(p, res[i].want, done_cb, &res[i]));
	}
	/* Callbacks run on the loop, never from keygen_submit(). */
	ck_assert_int_eq(ncallbacks, 0);
	nexpected = (int)ARRAY_SIZE(res);
	run_until_done(loop);
	for (size_t i = 0; i < ARRAY_SIZE(res); i++) {
		ck_assert_msg(res[i].calls == 1, "%s #%zu: %d callbacks",
		    key_type_name(res[i].want), i, res[i].calls);
		ck_assert_msg(res[i].ok, "%s #%zu: no key or a key of another type",
		    key_type_name(res[i].want), i);
		ck_assert_msg(res[i].on_loop_thread, "%s #%zu: callback off the loop thread",
		    key_type_name(res[i].want), i);
	}
	workpool_free(p);
}
END_TEST

START_TEST(test_single_thread_pool_serves_all)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct workpool *p = workpool_new(loop, 1, "key generation");
	struct result res[6];

	ck_assert_ptr_nonnull(p);
	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < ARRAY_SIZE(res); i++) {
		res[i].want = i % 2 ? KEY_EC_P384 : KEY_EC_P256;
		keygen_submit(p, res[i].want, done_cb, &res[i]);
	}
	nexpected = (int)ARRAY_SIZE(res);
	run_until_done(loop);
	for (size_t i = 0; i < ARRAY_SIZE(res); i++) {
		ck_assert_int_eq(res[i].calls, 1);
		ck_assert(res[i].ok);
		ck_assert(res[i].on_loop_thread);
	}
	workpool_free(p);
}
END_TEST

START_TEST(test_cancel)
{
	struct ev_loop *loop = ev_default_loop(0);
	/* One worker: jobs finish in submission order, so once the last
	 * callback ran, the cancelled jobs have been through the worker and
	 * the loop too. */
	struct workpool *p = workpool_new(loop, 1, "key generation");
	struct result cancelled[3], kept[2];
	struct workpool_job *j;

	ck_assert_ptr_nonnull(p);
	memset(cancelled, 0, sizeof(cancelled));
	memset(kept, 0, sizeof(kept));
	cancelled[0].want = KEY_RSA_2048;
	j = keygen_submit(p, cancelled[0].want, done_cb, &cancelled[0]);
	workpool_cancel(j);
	kept[0].want = KEY_EC_P256;
	keygen_submit(p, kept[0].want, done_cb, &kept[0]);
	cancelled[1].want = KEY_EC_P256;
	j = keygen_submit(p, cancelled[1].want, done_cb, &cancelled[1]);
	cancelled[2].want = KEY_EC_P384;
	workpool_cancel(keygen_submit(p, cancelled[2].want, done_cb, &cancelled[2]));
	workpool_cancel(j);
	kept[1].want = KEY_EC_P384;
	keygen_submit(p, kept[1].want, done_cb, &kept[1]);
	workpool_cancel(NULL);

	nexpected = 2;
	run_until_done(loop);
	ck_assert_int_eq(kept[0].calls, 1);
	ck_assert_int_eq(kept[1].calls, 1);
	ck_assert(kept[0].ok && kept[1].ok);
	for (size_t i = 0; i < ARRAY_SIZE(cancelled); i++)
		ck_assert_msg(cancelled[i].calls == 0, "cancelled job %zu called back", i);
	workpool_free(p);
	ck_assert_int_eq(ncallbacks, 2);
}
END_TEST

START_TEST(test_free_with_queued_jobs)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct workpool *p = workpool_new(loop, 2, "key generation");
	struct result res[8];

	ck_assert_ptr_nonnull(p);
	memset(res, 0, sizeof(res));
	/* Two are probably running, the rest queued; some cancelled too. */
	for (size_t i = 0; i < ARRAY_SIZE(res); i++) {
		struct workpool_job *j;
		res[i].want = i < 2 ? KEY_RSA_2048 : KEY_EC_P256;
		j = keygen_submit(p, res[i].want, done_cb, &res[i]);
		if (i % 3 == 2)
			workpool_cancel(j);
	}
	workpool_free(p);
	/* Dropped without callbacks, and nothing left to wake the loop. */
	ev_run(loop, EVRUN_NOWAIT);
	for (size_t i = 0; i < ARRAY_SIZE(res); i++)
		ck_assert_int_eq(res[i].calls, 0);
	ck_assert_int_eq(ncallbacks, 0);
	workpool_free(NULL);
}
END_TEST

START_TEST(test_free_with_undelivered_results)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct workpool *p = workpool_new(loop, 1, "key generation");
	struct result first = {.want = KEY_EC_P256}, res[3];

	ck_assert_ptr_nonnull(p);
	memset(res, 0, sizeof(res));
	keygen_submit(p, first.want, done_cb, &first);
	nexpected = 1;
	run_until_done(loop);
	ck_assert_int_eq(first.calls, 1);
	/* Results finished by the worker but never collected by the loop are
	 * freed by workpool_free (valgrind checks), without callbacks. */
	for (size_t i = 0; i < ARRAY_SIZE(res); i++) {
		res[i].want = KEY_EC_P256;
		keygen_submit(p, res[i].want, done_cb, &res[i]);
	}
	workpool_free(p);
	for (size_t i = 0; i < ARRAY_SIZE(res); i++)
		ck_assert_int_eq(res[i].calls, 0);
	ck_assert_int_eq(ncallbacks, 1);
}
END_TEST

static Suite *
keygen_suite(void)
{
	Suite *s = suite_create("keygen");
	TCase *tc = tcase_create("keygen");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, WAIT_LIMIT + 30);
	tcase_add_test(tc, test_every_type_concurrently);
	tcase_add_test(tc, test_single_thread_pool_serves_all);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_free_with_queued_jobs);
	tcase_add_test(tc, test_free_with_undelivered_results);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(keygen_suite)
