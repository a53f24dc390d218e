/*
 * check_util.c - unit tests for util.c (time, durations, buffers, string
 * lists, files, edit distance, PRNG) and log.c (line format and filtering).
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"
#include "util.h"

START_TEST(test_rfc3339_parse)
{
	time_t t;

	ck_assert_int_eq(time_parse_rfc3339("2026-11-28T19:33:47Z", &t), 0);
	ck_assert_int_eq((long long)t, 1795894427LL);
	ck_assert_int_eq(time_parse_rfc3339("2026-12-01T00:00:00.123456Z", &t), 0);
	ck_assert_int_eq((long long)t, 1796083200LL);
	ck_assert_int_eq(time_parse_rfc3339("2026-12-01t00:00:00z", &t), 0);
	ck_assert_int_eq((long long)t, 1796083200LL);
	ck_assert_int_eq(time_parse_rfc3339("2026-12-01T01:00:00+01:00", &t), 0);
	ck_assert_int_eq((long long)t, 1796083200LL);
	ck_assert_int_eq(time_parse_rfc3339("2026-11-30T18:30:00.5-05:30", &t), 0);
	ck_assert_int_eq((long long)t, 1796083200LL);
	ck_assert_int_eq(time_parse_rfc3339("2024-02-29T12:00:00Z", &t), 0);
	ck_assert_int_eq((long long)t, 1709208000LL);
	ck_assert_int_eq(time_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_int_eq((long long)t, 0);
}
END_TEST

/* The arithmetic of time_format_rfc3339 and time_parse_rfc3339 against
 * gmtime_r + strftime and timegm, over the years 0 to 9999 (a step
 * of a little over 29 days, an hour and 7 seconds more each time so the
 * time of day moves through the day, about 126,000 steps: a week's step took
 * over Check's 4 s timeout on a loaded machine), the epoch's
 * neighbours, leap days and the last second of 9999. */
START_TEST(test_rfc3339_vs_libc)
{
	const long long first = -62167219200LL, last = 253402300799LL;
	const long long extra[] = { -1, 0, 1, 86399, 86400, 951782400, 951868799,
		1709164800, 4107542399LL, first, last, first + 86399, -30610224001LL,
		-30610224000LL };
	char got[32], want[32];
	struct tm tm;
	time_t back;
	size_t n = 0;

	for (long long t = first, k = 0; t <= last + 700000; t += 86400 * 29 + 3607, k++) {
		long long v = n < sizeof(extra) / sizeof(extra[0]) ? extra[n++] : t;
		time_t tt = (time_t)v;

		ck_assert_ptr_nonnull(gmtime_r(&tt, &tm));
		ck_assert(strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
		time_format_rfc3339(tt, got, sizeof(got));
		ck_assert_str_eq(got, want);
		/* What it parses back: four-digit years (strftime prints
		 * 0-999 unpadded, which the parser refuses, as before). */
		if (v > last || strlen(want) != 20)
			continue;
		ck_assert_int_eq(time_parse_rfc3339(got, &back), 0);
		ck_assert_int_eq((long long)back, v);
		ck_assert_int_eq((long long)back, (long long)timegm(&tm));
		(void)k;
	}
	/* A leap second is the next second; a short buffer gets "". */
	ck_assert_int_eq(time_parse_rfc3339("2016-12-31T23:59:60Z", &back), 0);
	ck_assert_int_eq((long long)back, 1483228800LL);
	time_format_rfc3339(0, got, 20);
	ck_assert_str_eq(got, "");
}
END_TEST

START_TEST(test_rfc3339_reject)
{
	static const char *const bad[] = {
		"", "2026-11-28", "2026-11-28T19:33:47", "2026-11-28T19:33:47+0100",
		"2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
		"2026-11-28T24:00:00Z", "2026-11-28T19:60:00Z", "2026-11-28T19:33:47.Z",
		"2026-11-28T19:33:47Zjunk", "2026-11-28X19:33:47Z", "26-11-28T19:33:47Z",
		"2026-11-28T19:33:47+24:00", "garbage",
	};
	time_t t = 42;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_msg(time_parse_rfc3339(bad[i], &t) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_int_eq((long long)t, 42);
	}
	ck_assert_int_eq(time_parse_rfc3339(NULL, &t), -1);
}
END_TEST

START_TEST(test_rfc3339_format)
{
	char buf[32];
	time_t t;

	time_format_rfc3339(1795894427, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-11-28T19:33:47Z");
	ck_assert_int_eq(time_parse_rfc3339(buf, &t), 0);
	ck_assert_int_eq((long long)t, 1795894427LL);
}
END_TEST

START_TEST(test_duration_parse)
{
	static const struct {
		const char *in;
		long long want;
	} ok[] = {
		{ "90d", 90LL * 86400 }, { "12h", 43200 }, { "30m", 1800 }, { "45s", 45 },
		{ "2w", 1209600 }, { "3600", 3600 }, { "0", 0 }, { "1d12h", 129600 },
		{ " 1d 12h ", 129600 }, { "1h30m15s", 5415 },
	};
	static const char *const bad[] = {
		"", "   ", "-5", "-5s", "5x", "d", "1.5h", "1h30", "1 h", "+3",
		"9999999999999999999", "99999999999999999d", "15250284452472w", "0x10",
	};
	long long v;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		v = -1;
		ck_assert_msg(duration_parse(ok[i].in, &v) == 0, "rejected \"%s\"", ok[i].in);
		ck_assert_msg(v == ok[i].want, "\"%s\" -> %lld", ok[i].in, v);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		v = 7;
		ck_assert_msg(duration_parse(bad[i], &v) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_int_eq(v, 7);
	}
	/* Largest representable value parses; one more overflows. */
	ck_assert_int_eq(duration_parse("9223372036854775807", &v), 0);
	ck_assert_int_eq(duration_parse("9223372036854775808", &v), -1);
}
END_TEST

START_TEST(test_duration_format)
{
	char buf[32];

	duration_format(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0s");
	duration_format(45, buf, sizeof(buf));
	ck_assert_str_eq(buf, "45s");
	duration_format(3700, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1h 1m");
	duration_format(11 * 86400 + 3 * 3600 + 59, buf, sizeof(buf));
	ck_assert_str_eq(buf, "11d 3h");
	duration_format(86400, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1d");
	duration_format(-90, buf, sizeof(buf));
	ck_assert_str_eq(buf, "-1m 30s");
	duration_format(86400 + 5, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1d");
	duration_format(3600, buf, 3); /* truncated, still terminated */
	ck_assert_uint_lt(strlen(buf), 3);
}
END_TEST

START_TEST(test_buf)
{
	struct buf b = { 0 };
	char *s;
	size_t len;

	s = buf_steal(&b, &len);
	ck_assert_str_eq(s, "");
	ck_assert_uint_eq(len, 0);
	free(s);

	buf_append(&b, "abc", 3);
	ck_assert_str_eq(b.data, "abc");
	buf_appendf(&b, "-%d-%s", 42, "x");
	ck_assert_str_eq(b.data, "abc-42-x");
	ck_assert_uint_eq(b.len, 8);
	for (int i = 0; i < 1000; i++)
		buf_appendf(&b, "%04d", i);
	ck_assert_uint_eq(b.len, 8 + 4000);
	ck_assert_int_eq(memcmp(b.data + b.len - 4, "0999", 4), 0);
	ck_assert_int_eq(b.data[b.len], '\0');
	buf_append(&b, "\0z", 2); /* binary data keeps its length */
	ck_assert_uint_eq(b.len, 4010);
	s = buf_steal(&b, &len);
	ck_assert_uint_eq(len, 4010);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(s);
	buf_free(&b);
	buf_free(NULL);
}
END_TEST

START_TEST(test_strlist)
{
	struct strlist a = { 0 }, b = { 0 };
	char *j;

	j = strlist_join(&a, ",");
	ck_assert_str_eq(j, "");
	free(j);
	ck_assert(strlist_equal_sorted(&a, &b));

	strlist_add(&a, "b.example");
	strlist_add(&a, "a.example");
	ck_assert_uint_eq(a.n, 2);
	ck_assert_ptr_null(a.v[2]);
	j = strlist_join(&a, ", ");
	ck_assert_str_eq(j, "b.example, a.example");
	free(j);

	strlist_add(&b, "A.example");
	ck_assert(!strlist_equal_sorted(&a, &b));
	strlist_add(&b, "b.EXAMPLE");
	ck_assert(strlist_equal_sorted(&a, &b));
	strlist_add(&b, "a.example"); /* duplicate: same set */
	ck_assert(strlist_equal_sorted(&a, &b));
	strlist_add(&b, "c.example");
	ck_assert(!strlist_equal_sorted(&a, &b));
	ck_assert(!strlist_equal_sorted(&b, &a));
	strlist_free(&a);
	strlist_free(&b);
	ck_assert_ptr_null(a.v);
	ck_assert_uint_eq(a.n, 0);
	strlist_free(NULL);
}
END_TEST

/* The same names in the same order are equal without sorting; anything
 * else still goes through the sorted sets (a prefix, a repeat, case). */
START_TEST(test_strlist_equal_fast)
{
	struct strlist a = { 0 }, b = { 0 };

	strlist_add(&a, "x.example");
	strlist_add(&a, "y.example");
	strlist_add(&b, "X.example");
	strlist_add(&b, "y.example");
	ck_assert(strlist_equal_sorted(&a, &b));
	/* b is longer and starts with a: not the same list, same set. */
	strlist_add(&b, "x.example");
	ck_assert(strlist_equal_sorted(&a, &b));
	ck_assert(strlist_equal_sorted(&b, &a));
	/* Longer with a new name: different both ways. */
	strlist_add(&a, "x.example");
	strlist_add(&a, "z.example");
	ck_assert(!strlist_equal_sorted(&a, &b));
	ck_assert(!strlist_equal_sorted(&b, &a));
	strlist_free(&a);
	strlist_free(&b);
	/* Same length, same first names, last one differs. */
	strlist_add(&a, "x.example");
	strlist_add(&a, "y.example");
	strlist_add(&b, "x.example");
	strlist_add(&b, "w.example");
	ck_assert(!strlist_equal_sorted(&a, &b));
	strlist_free(&a);
	strlist_free(&b);
}
END_TEST

/* Grown one string at a time across many doublings: every string kept in
 * order, the list NULL-terminated after each add, reusable after free. */
START_TEST(test_strlist_grow)
{
	struct strlist l = { 0 };
	char buf[32];

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 10000; i++) {
			snprintf(buf, sizeof(buf), "n%d", i);
			strlist_add(&l, buf);
			ck_assert_ptr_null(l.v[l.n]);
		}
		ck_assert_uint_eq(l.n, 10000);
		for (int i = 0; i < 10000; i++) {
			snprintf(buf, sizeof(buf), "n%d", i);
			ck_assert_str_eq(l.v[i], buf);
		}
		strlist_free(&l);
	}
}
END_TEST

START_TEST(test_alloc)
{
	char *s = xasprintf("%s-%d", "x", 7);

	ck_assert_str_eq(s, "x-7");
	free(s);
	ck_assert_ptr_null(xstrdup(NULL));
	s = xstrndup("abcdef", 3);
	ck_assert_str_eq(s, "abc");
	free_secret_str(s);
	free_secret(NULL, 10);
	free_secret_str(NULL);
	s = xmalloc(0);
	ck_assert_ptr_nonnull(s);
	free(s);
}
END_TEST

START_TEST(test_read_file)
{
	char dir[] = "/tmp/check_util.XXXXXX", path[256], *data = NULL;
	size_t len = 99;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "hello\nworld", 11), 11);
	close(fd);

	ck_assert_int_eq(read_file(path, &data, &len, 11), 0);
	ck_assert_uint_eq(len, 11);
	ck_assert_str_eq(data, "hello\nworld");
	free(data);

	errno = 0;
	ck_assert_int_eq(read_file(path, &data, &len, 10), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_ptr_null(data);

	snprintf(path, sizeof(path), "%s/missing", dir);
	ck_assert_int_eq(read_file(path, &data, &len, 100), -1);
	ck_assert_int_eq(errno, ENOENT);

	snprintf(path, sizeof(path), "%s/empty", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(read_file(path, &data, &len, 100), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(data, "");
	free(data);

	unlink(path);
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_edit_distance)
{
	ck_assert_uint_eq(edit_distance("kitten", "sitting"), 3);
	ck_assert_uint_eq(edit_distance("", "abc"), 3);
	ck_assert_uint_eq(edit_distance("abc", ""), 3);
	ck_assert_uint_eq(edit_distance("renew_before", "renew_before"), 0);
	ck_assert_uint_eq(edit_distance("domians", "domains"), 2);
	ck_assert_uint_eq(edit_distance("key_tpye", "key_type"), 2);
	ck_assert_uint_eq(edit_distance("flaw", "lawn"), 2);
}
END_TEST

START_TEST(test_random_unit)
{
	double sum = 0, min = 1, max = 0;
	const int n = 20000;

	for (int i = 0; i < n; i++) {
		double r = random_unit();

		ck_assert(r >= 0.0 && r < 1.0);
		sum += r;
		if (r < min)
			min = r;
		if (r > max)
			max = r;
	}
	/* 20000 uniform samples: mean within 0.48..0.52 is a >10 sigma bound. */
	ck_assert_double_gt(sum / n, 0.48);
	ck_assert_double_lt(sum / n, 0.52);
	ck_assert_double_lt(min, 0.01);
	ck_assert_double_gt(max, 0.99);
}
END_TEST

/* Runs fn with stderr redirected to a file and returns what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/check_util_log.XXXXXX", *data = NULL;
	size_t len;
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	fn();
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	close(fd);
	ck_assert_int_eq(read_file(path, &data, &len, 1 << 20), 0);
	unlink(path);
	return data;
}

static void log_plain_events(void)
{
	log_init("/usr/sbin/certfleetd", LOG_INFO, LOG_STYLE_PLAIN);
	log_warn("first\nsecond\r\x1b[31m %d", 7);
	log_debug("filtered out");
	log_err("%s", "two");
}

START_TEST(test_log_plain)
{
	char *out = capture_stderr(log_plain_events), pat[256];
	regex_t re;

	snprintf(pat, sizeof(pat),
	    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z certfleetd\\[%ld\\]: "
	    "warning: first second  \\[31m 7\n"
	    "[0-9T:Z-]{20} certfleetd\\[%ld\\]: error: two\n$",
	    (long)getpid(), (long)getpid());
	ck_assert_int_eq(regcomp(&re, pat, REG_EXTENDED), 0);
	ck_assert_msg(regexec(&re, out, 0, NULL, 0) == 0, "got: %s", out);
	regfree(&re);
	free(out);
}
END_TEST

static void log_journal_events(void)
{
	log_init("certfleetd", LOG_DEBUG, LOG_STYLE_JOURNAL);
	log_notice("hello %s", "world");
	log_debug("dbg");
	log_set_level(LOG_WARNING);
	ck_assert_int_eq(log_get_level(), LOG_WARNING);
	log_info("dropped");
	log_err("multi\nline");
}

START_TEST(test_log_journal)
{
	char *out = capture_stderr(log_journal_events);

	ck_assert_str_eq(out, "<5>hello world\n<7>dbg\n<3>multi line\n");
	free(out);
}
END_TEST

static void log_auto_events(void)
{
	struct stat st;
	char env[64];

	/* JOURNAL_STREAM naming stderr's own inode means journald. */
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("certfleetd", LOG_INFO, LOG_STYLE_AUTO);
	log_info("journal");
	/* A stale value (stderr redirected since) means plain output. */
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("certfleetd", LOG_INFO, LOG_STYLE_AUTO);
	log_info("plain");
	unsetenv("JOURNAL_STREAM");
}

START_TEST(test_log_auto)
{
	char *out;

	/* With journald there, the entry goes to it (check_log.c tests the
	 * fields), not to the pipe. */
	if (access("/run/systemd/journal/socket", F_OK) == 0)
		return;
	out = capture_stderr(log_auto_events);

	ck_assert_msg(strncmp(out, "<6>journal\n", 11) == 0, "got: %s", out);
	ck_assert_ptr_nonnull(strstr(out + 11, "certfleetd["));
	ck_assert_ptr_nonnull(strstr(out + 11, "]: info: plain\n"));
	free(out);
}
END_TEST

static void log_long_event(void)
{
	char big[10000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_init("certfleetd", LOG_INFO, LOG_STYLE_JOURNAL);
	log_err("%s", big);
	log_err("after");
}

START_TEST(test_log_long)
{
	char *out = capture_stderr(log_long_event);
	char *nl = strchr(out, '\n');

	/* Cut, marked, still one line, and the next event intact. */
	ck_assert_ptr_nonnull(nl);
	ck_assert_int_eq(memcmp(nl - 3, "...", 3), 0);
	ck_assert_uint_lt((size_t)(nl - out), 10000);
	ck_assert_str_eq(nl + 1, "<3>after\n");
	free(out);
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");
	TCase *tl = tcase_create("log");

	tcase_set_timeout(tc, 30);  /* test_rfc3339_vs_libc: a second, more when loaded */

	tcase_add_test(tc, test_rfc3339_parse);
	tcase_add_test(tc, test_rfc3339_reject);
	tcase_add_test(tc, test_rfc3339_vs_libc);
	tcase_add_test(tc, test_rfc3339_format);
	tcase_add_test(tc, test_duration_parse);
	tcase_add_test(tc, test_duration_format);
	tcase_add_test(tc, test_buf);
	tcase_add_test(tc, test_strlist);
	tcase_add_test(tc, test_strlist_equal_fast);
	tcase_add_test(tc, test_strlist_grow);
	tcase_add_test(tc, test_alloc);
	tcase_add_test(tc, test_read_file);
	tcase_add_test(tc, test_edit_distance);
	tcase_add_test(tc, test_random_unit);
	suite_add_tcase(s, tc);
	tcase_add_test(tl, test_log_plain);
	tcase_add_test(tl, test_log_journal);
	tcase_add_test(tl, test_log_auto);
	tcase_add_test(tl, test_log_long);
	suite_add_tcase(s, tl);
	return s;
}

CHECK_MAIN(util_suite)
