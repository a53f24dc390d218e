/*
 * testutil.h - shared helpers for the Check unit tests.
 */
#ifndef CERTFLEET_TESTUTIL_H
#define CERTFLEET_TESTUTIL_H

#include <check.h>
#include <stdlib.h>

/* Every check_*.c defines its suite factory and uses this main. */
#define CHECK_MAIN(suite_fn)                                              \
	int main(void)                                                    \
	{                                                                 \
		SRunner *sr = srunner_create(suite_fn());                 \
		srunner_run_all(sr, CK_NORMAL);                           \
		int failed = srunner_ntests_failed(sr);                   \
		srunner_free(sr);                                         \
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;         \
	}

#endif
