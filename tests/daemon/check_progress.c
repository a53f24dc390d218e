/*
 * check_progress.c - unit tests for progress.c: the text of the --once
 * progress line for given fleet counts.  Drawing it on a terminal is
 * log.c's (tests/sys/check_log.c) and the whole under a pty is
 * tests/integration/t_94_progress.sh.
 */
#include <string.h>

#include "fleet.h"
#include "progress.h"
#include "testutil.h"

START_TEST(test_format)
{
	struct fleet_stats s;
	char buf[160];

	memset(&s, 0, sizeof(s));
	s.total = 40;
	ck_assert_str_eq(progress_format(&s, buf, sizeof(buf)),
	    "0 done, 0 failed, 0 in flight, 0 queued, of 40");
	s.succeeded = 3;
	s.failed = 1;
	s.renewing = 2;
	s.queued = 7;
	ck_assert_str_eq(progress_format(&s, buf, sizeof(buf)),
	    "3 done, 1 failed, 2 in flight, 7 queued, of 40");
	/* Never a newline or a carriage return: it is redrawn in place. */
	ck_assert_ptr_null(strpbrk(buf, "\r\n"));
	/* Cut, still terminated, when the buffer is short. */
	ck_assert_str_eq(progress_format(&s, buf, 7), "3 done");
}
END_TEST

static Suite *
progress_suite(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("progress");

	tcase_add_test(tc, test_format);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(progress_suite)
