/*
 * check_workpool.c - unit tests for workpool.c: work on worker threads,
 * completions on the loop thread, release exactly once per job,
 * cancellation of queued and of running jobs, and freeing a pool with
 * work still queued or undelivered (run under valgrind to catch leaks).
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <ev.h>

#include "testloop.h"
#include "testutil.h"
#include "util.h"
#include "workpool.h"

#define WAIT_LIMIT 60.0

struct rec {
	bool block;             /* work waits for the gate */
	int work_calls;         /* under mu */
	bool work_on_worker;    /* under mu */
	int done_calls;
	bool done_on_loop;
	int done_seq;
	int release_calls;
	int release_seq;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool started;            /* a blocking job has begun; under mu */
static bool gate_open;          /* under mu */
static pthread_t main_thread;
static int seq;
static int nreleased;
static int nexpected;

static void
setup(void)
{
	main_thread = pthread_self();
	started = false;
	gate_open = false;
	seq = 0;
	nreleased = 0;
	nexpected = 0;
}

static void
work_fn(void *arg)
{
	struct rec *r = arg;

	pthread_mutex_lock(&mu);
	r->work_calls++;
	r->work_on_worker = pthread_equal(pthread_self(), main_thread) == 0;
	if (r->block) {
		started = true;
		pthread_cond_broadcast(&cv);
		while (!gate_open)
			pthread_cond_wait(&cv, &mu);
	}
	pthread_mutex_unlock(&mu);
}

static void
done_fn(void *arg)
{
	struct rec *r = arg;

	r->done_calls++;
	r->done_on_loop = pthread_equal(pthread_self(), main_thread) != 0;
	r->done_seq = ++seq;
}

static void
release_fn(void *arg)
{
	struct rec *r = arg;

	r->release_calls++;
	r->release_seq = ++seq;
	if (++nreleased >= nexpected)
		ev_break(ev_default_loop(0), EVBREAK_ALL);
}

static void
wait_started(void)
{
	pthread_mutex_lock(&mu);
	while (!started)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
}

static void
open_gate(void)
{
	pthread_mutex_lock(&mu);
	gate_open = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static int
work_calls(struct rec *r)
{
	int n;

	pthread_mutex_lock(&mu);
	n = r->work_calls;
	pthread_mutex_unlock(&mu);
	return n;
}

/* Runs the loop until n jobs have been released (or fails the test). */
static void
run_until_released(struct ev_loop *loop, int n)
{
	nexpected = n;
	ck_assert_msg(nreleased >= nexpected || test_run_loop(loop, WAIT_LIMIT),
	    "only %d of %d jobs released within %.0f s", nreleased, n, WAIT_LIMIT);
}

START_TEST(test_completion_on_loop)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct workpool *p = workpool_new(loop, 3, "test");
	struct rec r[8];

	ck_assert_ptr_nonnull(p);
	memset(r, 0, sizeof(r));
	for (size_t i = 0; i < ARRAY_SIZE(r); i++)
		ck_assert_ptr_nonnull(workpool_submit(p, work_fn, done_fn, release_fn, &r[i]));
	run_until_released(loop, (int)ARRAY_SIZE(r));
	for (size_t i = 0; i < ARRAY_SIZE(r); i++) {
		ck_assert_int_eq(work_calls(&r[i]), 1);
		ck_assert_msg(r[i].work_on_worker, "job %zu worked on the loop thread", i);
		ck_assert_int_eq(r[i].done_calls, 1);
		ck_assert_msg(r[i].done_on_loop, "job %zu completed off the loop thread", i);
		ck_assert_int_eq(r[i].release_calls, 1);
		ck_assert_int_lt(r[i].done_seq, r[i].release_seq);
	}
	workpool_free(p);
}
END_TEST

START_TEST(test_cancel_queued_skips_work)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct workpool *p = workpool_new(loop, 1, "test");
	struct rec a = {.block = true}, b = {0}, c = {0};

	ck_assert_ptr_nonnull(p);
	workpool_submit(p, work_fn, done_fn, release_fn, &a);
	/* The only worker is inside a's work, so b is certainly queued. */
	wait_started();
	workpool_cancel(workpool_submit(p, work_fn, done_fn, release_fn, &b));
	workpool_submit(p, work_fn, done_fn, release_fn, &c);
	workpool_cancel(NULL);
	open_gate();
	run_until_released(loop, 3);
	ck_assert_int_eq(work_calls(&a), 1);
	ck_assert_int_eq(a.done_calls, 1);
	ck_assert_int_eq(work_calls(&b), 0);
	ck_assert_int_eq(b.done_calls, 0);
	ck_assert_int_eq(b.release_calls, 1);
	ck_assert_int_eq(work_calls(&c), 1);
	ck_assert_int_eq(c.done_calls, 1);
	ck_assert_int_eq(a.release_calls + c.release_calls, 2);
	workpool_free(p);
}
END_TEST

START_TEST(test_cancel_running)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct workpool *p = workpool_new(loop, 1, "test");
	struct rec a = {.block = true};
	struct workpool_job *j;

	ck_assert_ptr_nonnull(p);
	j = workpool_submit(p, work_fn, done_fn, release_fn, &a);
	wait_started();
	/* Running work is not interrupted; only its completion is dropped,
	 * and the job is released once the worker has let go of it. */
	workpool_cancel(j);
	ck_assert_int_eq(a.release_calls, 0);
	open_gate();
	run_until_released(loop, 1);
	ck_assert_int_eq(work_calls(&a), 1);
	ck_assert_int_eq(a.done_calls, 0);
	ck_assert_int_eq(a.release_calls, 1);
	workpool_free(p);
}
END_TEST

START_TEST(test_free_drops_queued_and_undelivered)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct workpool *p = workpool_new(loop, 1, "test");
	struct rec a = {.block = true}, b[3];

	ck_assert_ptr_nonnull(p);
	memset(b, 0, sizeof(b));
	workpool_submit(p, work_fn, done_fn, release_fn, &a);
	wait_started();
	for (size_t i = 0; i < ARRAY_SIZE(b); i++)
		workpool_submit(p, work_fn, done_fn, release_fn, &b[i]);
	open_gate();
	/* The loop never runs: a finishes but is never delivered, the b
	 * jobs are queued or done; all are released, none completed. */
	workpool_free(p);
	ck_assert_int_eq(work_calls(&a), 1);
	ck_assert_int_eq(a.done_calls, 0);
	ck_assert_int_eq(a.release_calls, 1);
	for (size_t i = 0; i < ARRAY_SIZE(b); i++) {
		ck_assert_int_le(work_calls(&b[i]), 1);
		ck_assert_int_eq(b[i].done_calls, 0);
		ck_assert_int_eq(b[i].release_calls, 1);
	}
	workpool_free(NULL);
}
END_TEST

START_TEST(test_optional_callbacks)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct workpool *p = workpool_new(loop, 1, "test");
	struct rec r = {0}, last = {0};

	ck_assert_ptr_nonnull(p);
	/* Work only, then completion only: the single worker takes them in
	 * order, so once last is released r has been worked on. */
	workpool_submit(p, work_fn, NULL, NULL, &r);
	workpool_submit(p, NULL, done_fn, release_fn, &last);
	run_until_released(loop, 1);
	ck_assert_int_eq(last.done_calls, 1);
	ck_assert_int_eq(work_calls(&last), 0);
	workpool_free(p);
	ck_assert_int_eq(work_calls(&r), 1);
	ck_assert_int_eq(r.done_calls, 0);
	ck_assert_int_eq(r.release_calls, 0);
}
END_TEST

/* workpool_for: every index exactly once, on more than one thread when
 * there is enough work, and all done when it returns. */
struct for_rec {
	int *hits;
	pthread_t *who;
};

static void
for_fn(void *arg, size_t i)
{
	struct for_rec *f = arg;

	__atomic_add_fetch(&f->hits[i], 1, __ATOMIC_RELAXED);
	f->who[i] = pthread_self();
}

START_TEST(test_parallel_for)
{
	static const size_t sizes[] = { 0, 1, 255, 256, 257, 10007 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		struct for_rec f = { xcalloc(n + 1, sizeof(int)),
			xcalloc(n + 1, sizeof(pthread_t)) };

		workpool_for(k % 2 ? 4 : 3, n, for_fn, &f);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(f.hits[i], 1);
		ck_assert_int_eq(f.hits[n], 0);
		free(f.hits);
		free(f.who);
	}
	/* One thread asked for: all on the caller's. */
	{
		struct for_rec f = { xcalloc(1000, sizeof(int)), xcalloc(1000, sizeof(pthread_t)) };

		workpool_for(1, 1000, for_fn, &f);
		for (size_t i = 0; i < 1000; i++)
			ck_assert(pthread_equal(f.who[i], pthread_self()));
		free(f.hits);
		free(f.who);
	}
}
END_TEST

static Suite *
workpool_suite(void)
{
	Suite *s = suite_create("workpool");
	TCase *tc = tcase_create("workpool");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, WAIT_LIMIT + 30);
	tcase_add_test(tc, test_completion_on_loop);
	tcase_add_test(tc, test_cancel_queued_skips_work);
	tcase_add_test(tc, test_cancel_running);
	tcase_add_test(tc, test_free_drops_queued_and_undelivered);
	tcase_add_test(tc, test_optional_callbacks);
	tcase_add_test(tc, test_parallel_for);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(workpool_suite)
