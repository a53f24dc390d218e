/*
 * check_acme_states.c - the order and authorization machines' name
 * tables: every state has its own name, so a state added to an enum
 * without one (logs and status would show "?") fails here.
 */
#include <string.h>

#include "acme.h"
#include "acme_order_internal.h"
#include "testutil.h"

START_TEST(test_order_state_names)
{
	for (int s = 0; s < ORDER_STATE__MAX; s++) {
		const char *n = order_state_name((enum order_state)s);

		ck_assert_ptr_nonnull(n);
		ck_assert_str_ne(n, "?");
		for (int t = 0; t < s; t++)
			ck_assert_str_ne(n, order_state_name((enum order_state)t));
	}
	ck_assert_str_eq(order_state_name(ORDER_STATE__MAX), "?");
	ck_assert_str_eq(order_state_name(ORDER_FINALIZE), "finalize");
}
END_TEST

START_TEST(test_authz_state_names)
{
	for (int s = 0; s < AUTHZ_STATE__MAX; s++) {
		const char *n = authz_state_name((enum authz_state)s);

		ck_assert_ptr_nonnull(n);
		ck_assert_str_ne(n, "?");
		for (int t = 0; t < s; t++)
			ck_assert_str_ne(n, authz_state_name((enum authz_state)t));
	}
	ck_assert_str_eq(authz_state_name(AUTHZ_STATE__MAX), "?");
	ck_assert_str_eq(authz_state_name(AUTHZ_PUBLISH), "publish");
}
END_TEST

static Suite *
acme_states_suite(void)
{
	Suite *s = suite_create("acme_states");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_order_state_names);
	tcase_add_test(tc, test_authz_state_names);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(acme_states_suite)
