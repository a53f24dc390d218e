/*
 * check_log.c - unit tests for log.c: the journald entry built for a line
 * (log_journal_fields, a pure function), the JOURNAL_STREAM match against
 * fstat(2) of stderr, the plain lines (byte for byte the "NAME: " prefix
 * of old), and the terminal status line being erased before a log line.
 * journald itself is not run here: sending is journal.c's one call.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "testutil.h"

/* The iovec's text as a string, into buf. */
static const char *
iov_str(const struct iovec *v, char *buf, size_t len)
{
	size_t n = v->iov_len < len - 1 ? v->iov_len : len - 1;

	memcpy(buf, v->iov_base, n);
	buf[n] = '\0';
	return buf;
}

START_TEST(test_fields_all)
{
	const struct log_fields lf = { .cert = "www", .account = "le",
		.order = "https://ca.test/order/7", .event = LOG_EVENT_ORDER_CREATED };
	struct iovec iov[LOG_JOURNAL_FIELDS_MAX];
	char buf[1024], s[256];
	size_t n = log_journal_fields(LOG_INFO, "certfleetd", &lf,
	    "www: order https://ca.test/order/7 created", buf, sizeof(buf), iov);

	ck_assert_uint_eq(n, 7);
	ck_assert_str_eq(iov_str(&iov[0], s, sizeof(s)),
	    "MESSAGE=www: order https://ca.test/order/7 created");
	ck_assert_str_eq(iov_str(&iov[1], s, sizeof(s)), "PRIORITY=6");
	ck_assert_str_eq(iov_str(&iov[2], s, sizeof(s)), "SYSLOG_IDENTIFIER=certfleetd");
	ck_assert_str_eq(iov_str(&iov[3], s, sizeof(s)), "CERTFLEET_CERT=www");
	ck_assert_str_eq(iov_str(&iov[4], s, sizeof(s)), "CERTFLEET_ACCOUNT=le");
	ck_assert_str_eq(iov_str(&iov[5], s, sizeof(s)),
	    "CERTFLEET_ORDER=https://ca.test/order/7");
	ck_assert_str_eq(iov_str(&iov[6], s, sizeof(s)), "CERTFLEET_EVENT=order_created");
}
END_TEST

START_TEST(test_fields_partial)
{
	const struct log_fields cert_only = { .cert = "api", .event = LOG_EVENT_NONE };
	const struct log_fields failed = { .cert = "api", .event = LOG_EVENT_RENEWAL_FAILED };
	struct iovec iov[LOG_JOURNAL_FIELDS_MAX];
	char buf[1024], s[256];

	/* A line about nothing in particular: the three standard fields. */
	ck_assert_uint_eq(log_journal_fields(LOG_ERR, "certfleetd", NULL, "boom", buf,
	    sizeof(buf), iov), 3);
	ck_assert_str_eq(iov_str(&iov[0], s, sizeof(s)), "MESSAGE=boom");
	ck_assert_str_eq(iov_str(&iov[1], s, sizeof(s)), "PRIORITY=3");

	/* No event: no CERTFLEET_EVENT field at all. */
	ck_assert_uint_eq(log_journal_fields(LOG_DEBUG, "x", &cert_only, "api: m", buf,
	    sizeof(buf), iov), 4);
	ck_assert_str_eq(iov_str(&iov[1], s, sizeof(s)), "PRIORITY=7");
	ck_assert_str_eq(iov_str(&iov[3], s, sizeof(s)), "CERTFLEET_CERT=api");

	ck_assert_uint_eq(log_journal_fields(LOG_WARNING, "x", &failed, "api: m", buf,
	    sizeof(buf), iov), 5);
	ck_assert_str_eq(iov_str(&iov[4], s, sizeof(s)), "CERTFLEET_EVENT=renewal_failed");

	/* Too small a buffer: nothing half-built. */
	ck_assert_uint_eq(log_journal_fields(LOG_INFO, "certfleetd", &failed, "api: m", buf,
	    20, iov), 0);
}
END_TEST

START_TEST(test_event_names)
{
	ck_assert_ptr_null(log_event_name(LOG_EVENT_NONE));
	ck_assert_ptr_null(log_event_name(LOG_EVENT__MAX));
	for (int e = LOG_EVENT_NONE + 1; e < LOG_EVENT__MAX; e++) {
		const char *n = log_event_name((enum log_event)e);

		ck_assert_ptr_nonnull(n);
		/* journalctl matches are typed by hand: lower case, no spaces. */
		for (const char *p = n; *p; p++)
			ck_assert(*p == '_' || (*p >= 'a' && *p <= 'z'));
	}
	ck_assert_str_eq(log_event_name(LOG_EVENT_ISSUED), "issued");
	ck_assert_str_eq(log_event_name(LOG_EVENT_HOOK_FAILED), "hook_failed");
}
END_TEST

START_TEST(test_stream_match)
{
	ck_assert(log_journal_stream_matches("8:123456", 8, 123456));
	ck_assert(!log_journal_stream_matches("8:123456", 9, 123456));
	ck_assert(!log_journal_stream_matches("8:123456", 8, 123457));
	ck_assert(!log_journal_stream_matches(NULL, 8, 123456));
	ck_assert(!log_journal_stream_matches("", 0, 0));
	ck_assert(!log_journal_stream_matches("8:", 8, 0));
	ck_assert(!log_journal_stream_matches("8", 8, 0));
	ck_assert(!log_journal_stream_matches("8:123456x", 8, 123456));
	ck_assert(!log_journal_stream_matches("8:123456 ", 8, 123456));
	ck_assert(!log_journal_stream_matches(" 8:123456", 8, 123456));
	ck_assert(!log_journal_stream_matches("-8:123456", (unsigned long long)-8, 123456));
	ck_assert(!log_journal_stream_matches("journal", 0, 0));
}
END_TEST

/* Runs fn with stderr on a pipe; returns what it wrote (static). */
static const char *
capture(void (*fn)(void))
{
	static char out[8192];
	int p[2], saved = dup(STDERR_FILENO);
	ssize_t n, got = 0;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	close(p[1]);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	while ((n = read(p[0], out + got, sizeof(out) - 1 - (size_t)got)) > 0)
		got += n;
	close(p[0]);
	out[got] = '\0';
	return out;
}

static void
emit_plain(void)
{
	log_init("certfleetd", LOG_INFO, LOG_STYLE_PLAIN);
	log_cert(LOG_NOTICE, "www", LOG_EVENT_INSTALLED, "installed version %d", 3);
	log_msg(LOG_NOTICE, "%s: installed version %d", "www", 3);
	log_fields_msg(LOG_INFO, NULL, "no prefix");
}

START_TEST(test_plain_lines_unchanged)
{
	const char *out = capture(emit_plain);
	const char *l1 = strstr(out, "notice: www: installed version 3\n");
	const char *l2 = l1 ? strstr(l1 + 1, "notice: www: installed version 3\n") : NULL;

	ck_assert_msg(l1 && l2, "got: %s", out);
	ck_assert_ptr_nonnull(strstr(out, "info: no prefix\n"));
	ck_assert_ptr_null(strchr(out, '\r'));
	ck_assert_ptr_null(strstr(out, "CERTFLEET_"));
}
END_TEST

static void
emit_status(void)
{
	log_init("certfleetd", LOG_INFO, LOG_STYLE_PLAIN);
	log_status_show("1 done, 0 failed, 1 in flight, 0 queued, of 2");
	log_info("a line");
	log_info("another line");
	log_status_show("2 done, 0 failed, 0 in flight, 0 queued, of 2");
	log_status_clear();
	log_status_clear();
}

START_TEST(test_status_erased_before_lines)
{
	const char *out = capture(emit_status);
	const char *show = "\r1 done, 0 failed, 1 in flight, 0 queued, of 2\033[K";
	const char *a = strstr(out, "a line\n");
	const char *erase;

	ck_assert_msg(strncmp(out, show, strlen(show)) == 0, "got: %s", out);
	/* Erased once, right after the status and before the first line. */
	erase = out + strlen(show);
	ck_assert(strncmp(erase, "\r\033[K", 4) == 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_null(strchr(erase + 4, '\r') < a ? strchr(erase + 4, '\r') : NULL);
	/* Nothing between the two lines; the last status erased once at the end. */
	ck_assert_ptr_nonnull(strstr(out, "a line\n"));
	ck_assert_ptr_nonnull(strstr(out, "another line\n\r2 done"));
	ck_assert_str_eq(out + strlen(out) - 4 - strlen("\033[K"), "\033[K\r\033[K");
}
END_TEST

static void
emit_journal(void)
{
	struct stat st;
	char env[64];

	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("certfleetd", LOG_INFO, LOG_STYLE_AUTO);
	log_cert(LOG_ERR, "www", LOG_EVENT_RENEWAL_FAILED, "attempt %d failed", 1);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("certfleetd", LOG_INFO, LOG_STYLE_AUTO);
	log_cert(LOG_ERR, "www", LOG_EVENT_RENEWAL_FAILED, "plain again");
	unsetenv("JOURNAL_STREAM");
}

/* stderr named by JOURNAL_STREAM is the journal.  journald's native socket
 * does not exist on a test machine without systemd, so the line keeps the
 * "<N>" form sd-daemon(3) describes, never the terminal form; a
 * mismatching inode means the plain line. */
START_TEST(test_journal_stream_detected)
{
	const char *out;

	if (access("/run/systemd/journal/socket", F_OK) == 0)
		return; /* a real journald would take the entry: nothing on the pipe */
	out = capture(emit_journal);
	ck_assert_msg(strncmp(out, "<3>www: attempt 1 failed\n", 25) == 0, "got: %s", out);
	ck_assert_ptr_nonnull(strstr(out + 25, "error: www: plain again\n"));
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_fields_all);
	tcase_add_test(tc, test_fields_partial);
	tcase_add_test(tc, test_event_names);
	tcase_add_test(tc, test_stream_match);
	tcase_add_test(tc, test_plain_lines_unchanged);
	tcase_add_test(tc, test_status_erased_before_lines);
	tcase_add_test(tc, test_journal_stream_detected);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(log_suite)
