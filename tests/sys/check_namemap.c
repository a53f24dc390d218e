/*
 * check_namemap.c - unit tests for namemap.c: lookups across growth,
 * replacement, names that differ only in their last characters (the
 * fleet's c1, c2, ... which FNV alone crowds together), and that 100,000
 * names map and look up fast enough to stay far from quadratic.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "namemap.h"
#include "testutil.h"
#include "util.h"

START_TEST(test_put_get)
{
	struct namemap *m = namemap_new(0);
	int a = 1, b = 2, c = 3;

	ck_assert_ptr_null(namemap_get(m, "a"));
	ck_assert_ptr_null(namemap_put(m, "a", &a));
	ck_assert_ptr_null(namemap_put(m, "b", &b));
	ck_assert_ptr_eq(namemap_get(m, "a"), &a);
	ck_assert_ptr_eq(namemap_get(m, "b"), &b);
	ck_assert_ptr_null(namemap_get(m, "ab"));
	ck_assert_ptr_null(namemap_get(m, ""));
	/* Replacing returns the old value and keeps the count. */
	ck_assert_ptr_eq(namemap_put(m, "a", &c), &a);
	ck_assert_ptr_eq(namemap_get(m, "a"), &c);
	ck_assert_uint_eq(namemap_count(m), 2);
	namemap_free(m);
	namemap_free(NULL);
}
END_TEST

/* Many names from a small hint: the map grows and finds every one, and
 * keys are compared as strings, not as pointers. */
START_TEST(test_grow)
{
	enum { N = 20000 };
	char **keys = xcalloc(N, sizeof(*keys));
	struct namemap *m = namemap_new(4);
	char probe[32];

	for (size_t i = 0; i < N; i++) {
		keys[i] = xasprintf("c%zu", i);
		ck_assert_ptr_null(namemap_put(m, keys[i], keys[i]));
	}
	ck_assert_uint_eq(namemap_count(m), N);
	for (size_t i = 0; i < N; i++) {
		snprintf(probe, sizeof(probe), "c%zu", i);
		ck_assert_ptr_eq(namemap_get(m, probe), keys[i]);
	}
	snprintf(probe, sizeof(probe), "c%d", N);
	ck_assert_ptr_null(namemap_get(m, probe));
	ck_assert_ptr_null(namemap_get(m, "c"));
	namemap_free(m);
	for (size_t i = 0; i < N; i++)
		free(keys[i]);
	free(keys);
}
END_TEST

/* 100,000 names in and out, twice over (a reload's work): well under a
 * second even on a slow machine, where a pass over every entry per name
 * (what the reload did before) takes minutes. */
START_TEST(test_scale)
{
	enum { N = 100000 };
	char **keys = xcalloc(N, sizeof(*keys));
	struct namemap *m = namemap_new(N);
	struct timespec t0, t1;
	double secs;

	for (size_t i = 0; i < N; i++)
		keys[i] = xasprintf("t%zu", i + 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < N; i++)
		namemap_put(m, keys[i], keys[i]);
	for (size_t i = 0; i < N; i++)
		ck_assert_ptr_eq(namemap_get(m, keys[N - 1 - i]), keys[N - 1 - i]);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(secs < 1.0, "100,000 puts and gets took %.3f s", secs);
	namemap_free(m);
	for (size_t i = 0; i < N; i++)
		free(keys[i]);
	free(keys);
}
END_TEST

static Suite *
namemap_suite(void)
{
	Suite *s = suite_create("namemap");
	TCase *tc = tcase_create("namemap");

	tcase_add_test(tc, test_put_get);
	tcase_add_test(tc, test_grow);
	tcase_add_test(tc, test_scale);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(namemap_suite)
