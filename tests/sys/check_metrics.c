/*
 * check_metrics.c - unit tests for metrics.c: label and HELP escaping,
 * number formatting, cumulative histogram buckets, and a golden text of a
 * registry (tests/data/metrics/golden.prom, which the integration tests
 * also feed to promtool).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "testutil.h"
#include "util.h"

static char *
value_text(double v)
{
	struct buf b = {0};

	metrics_value(&b, v);
	return buf_steal(&b, NULL);
}

START_TEST(test_escape_label)
{
	struct buf b = {0};

	metrics_escape_label(&b, "plain");
	ck_assert_str_eq(b.data, "plain");
	b.len = 0;
	metrics_escape_label(&b, "a\\b\"c\nd");
	ck_assert_str_eq(b.data, "a\\\\b\\\"c\\nd");
	b.len = 0;
	metrics_escape_label(&b, "\"\"\n\\");
	ck_assert_str_eq(b.data, "\\\"\\\"\\n\\\\");
	b.len = 0;
	/* UTF-8 and tabs are kept as they are. */
	metrics_escape_label(&b, "caf\xc3\xa9\t");
	ck_assert_str_eq(b.data, "caf\xc3\xa9\t");
	b.len = 0;
	metrics_label(&b, 1, "name", "w\"w");
	metrics_label(&b, 0, "account", "");
	ck_assert_str_eq(b.data, "name=\"w\\\"w\",account=\"\"");
	buf_free(&b);
}
END_TEST

START_TEST(test_family_help)
{
	struct buf b = {0};

	/* HELP escapes backslash and newline but not quotes. */
	metrics_family(&b, "x_total", METRICS_COUNTER, "a \"b\" c\\d\ne");
	ck_assert_str_eq(b.data, "# HELP x_total a \"b\" c\\\\d\\ne\n# TYPE x_total counter\n");
	ck_assert_str_eq(metrics_type_name(METRICS_GAUGE), "gauge");
	ck_assert_str_eq(metrics_type_name(METRICS_HISTOGRAM), "histogram");
	ck_assert_str_eq(metrics_type_name(METRICS_TYPE__MAX), "?");
	buf_free(&b);
}
END_TEST

START_TEST(test_values)
{
	static const struct {
		double v;
		const char *text;
	} t[] = {
		{ 0, "0" }, { 1, "1" }, { -1, "-1" }, { 1796083200, "1796083200" },
		{ 9007199254740991.0, "9007199254740991" }, { 0.25, "0.25" }, { 0.1, "0.1" },
		{ 1.5e-9, "1.5e-09" }, { 1e300, "1e+300" }, { -2.5, "-2.5" },
	};
	char *s;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		s = value_text(t[i].v);
		ck_assert_msg(strcmp(s, t[i].text) == 0, "%g: got %s, want %s", t[i].v, s,
		    t[i].text);
		free(s);
	}
	s = value_text(INFINITY);
	ck_assert_str_eq(s, "+Inf");
	free(s);
	s = value_text(-INFINITY);
	ck_assert_str_eq(s, "-Inf");
	free(s);
	s = value_text(NAN);
	ck_assert_str_eq(s, "NaN");
	free(s);
}
END_TEST

START_TEST(test_sample)
{
	static const char *const kv[] = { "a", "x\ny", "b", "2" };
	struct buf b = {0};

	metrics_sample(&b, "m", NULL, 3);
	metrics_sample(&b, "m", "", 4);
	metrics_sample(&b, "m", "k=\"v\"", 5);
	metrics_sample_kv(&b, "n", kv, 2, 0.5);
	metrics_sample_kv(&b, "n", kv, 0, 1);
	ck_assert_str_eq(b.data, "m 3\nm 4\nm{k=\"v\"} 5\nn{a=\"x\\ny\",b=\"2\"} 0.5\nn 1\n");
	buf_free(&b);
}
END_TEST

START_TEST(test_histogram)
{
	static const double bounds[] = { 0.1, 1, 10 };
	static const char *const names[] = { "endpoint", NULL };
	const char *ep[] = { "newOrder" };
	struct metrics_vec *v = metrics_vec_new("d_seconds", METRICS_HISTOGRAM, "Durations.",
	    names, bounds, ARRAY_SIZE(bounds));
	struct buf b = {0};

	/* On a bound counts in that bucket (le is "less or equal"). */
	metrics_vec_observe(v, ep, 0.05);
	metrics_vec_observe(v, ep, 0.1);
	metrics_vec_observe(v, ep, 0.5);
	metrics_vec_observe(v, ep, 20);
	metrics_vec_observe(v, ep, 20);
	ck_assert(metrics_vec_get(v, ep) == 5);
	metrics_vec_write(v, &b);
	ck_assert_str_eq(b.data,
	    "# HELP d_seconds Durations.\n"
	    "# TYPE d_seconds histogram\n"
	    "d_seconds_bucket{endpoint=\"newOrder\",le=\"0.1\"} 2\n"
	    "d_seconds_bucket{endpoint=\"newOrder\",le=\"1\"} 3\n"
	    "d_seconds_bucket{endpoint=\"newOrder\",le=\"10\"} 3\n"
	    "d_seconds_bucket{endpoint=\"newOrder\",le=\"+Inf\"} 5\n"
	    "d_seconds_sum{endpoint=\"newOrder\"} 40.65\n"
	    "d_seconds_count{endpoint=\"newOrder\"} 5\n");
	buf_free(&b);
	metrics_vec_free(v);
}
END_TEST

START_TEST(test_vec)
{
	static const char *const names[] = { "account", "code", NULL };
	struct metrics_vec *v = metrics_vec_new("r_total", METRICS_COUNTER, "R.", names, NULL, 0);
	const char *a[] = { "a", "200" }, *b2[] = { "b", "400" }, *n[] = { NULL, "0" };
	struct buf b = {0};

	metrics_vec_add(v, a, 1);
	metrics_vec_add(v, b2, 1);
	metrics_vec_add(v, a, 2);
	metrics_vec_add(v, n, 1);
	ck_assert(metrics_vec_get(v, a) == 3);
	ck_assert(metrics_vec_get(v, b2) == 1);
	ck_assert(metrics_vec_get(v, (const char *[]){ "c", "200" }) == 0);
	metrics_vec_write(v, &b);
	ck_assert_str_eq(b.data, "# HELP r_total R.\n# TYPE r_total counter\n"
	    "r_total{account=\"a\",code=\"200\"} 3\nr_total{account=\"b\",code=\"400\"} 1\n"
	    "r_total{account=\"\",code=\"0\"} 1\n");
	buf_free(&b);
	metrics_vec_free(v);
}
END_TEST

/* The whole registry, against the golden file. */
START_TEST(test_golden)
{
	static const double bounds[] = { 0.5, 2 };
	static const char *const req[] = { "account", "endpoint", "code", NULL };
	static const char *const ep[] = { "endpoint", NULL };
	struct metrics_registry *r = metrics_registry_new();
	struct metrics_vec *c, *g, *h;
	struct buf b = {0};
	char *want = NULL;
	size_t len;

	c = metrics_registry_add(r, metrics_vec_new("certfleet_acme_requests_total",
	    METRICS_COUNTER, "Requests to the CA.", req, NULL, 0));
	g = metrics_registry_add(r, metrics_vec_new("certfleet_up", METRICS_GAUGE,
	    "A gauge\nover two lines with a \\.", NULL, NULL, 0));
	h = metrics_registry_add(r, metrics_vec_new("certfleet_acme_request_duration_seconds",
	    METRICS_HISTOGRAM, "Durations.", ep, bounds, ARRAY_SIZE(bounds)));
	metrics_registry_add(r, metrics_vec_new("certfleet_idle_seconds", METRICS_HISTOGRAM,
	    "Nothing observed yet.", NULL, bounds, ARRAY_SIZE(bounds)));
	metrics_vec_add(c, (const char *[]){ "se\"ct\\igo\n", "newOrder", "201" }, 1);
	metrics_vec_add(c, (const char *[]){ "pebble", "finalize", "200" }, 2);
	metrics_vec_set(g, (const char *[]){ NULL }, 1);
	metrics_vec_observe(h, (const char *[]){ "newOrder" }, 0.25);
	metrics_vec_observe(h, (const char *[]){ "newOrder" }, 1.5);
	metrics_vec_observe(h, (const char *[]){ "finalize" }, 45);
	metrics_registry_write(r, &b);
	ck_assert_int_eq(read_file(TEST_DATA_DIR "/metrics/golden.prom", &want, &len, 1 << 20), 0);
	ck_assert_str_eq(b.data, want);
	free(want);
	buf_free(&b);
	metrics_registry_free(r);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_add_test(tc, test_escape_label);
	tcase_add_test(tc, test_family_help);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_sample);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_vec);
	tcase_add_test(tc, test_golden);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(metrics_suite)
