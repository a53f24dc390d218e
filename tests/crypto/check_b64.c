/*
 * check_b64.c - unit tests for b64.c: RFC 4648 vectors, the URL alphabet,
 * the lenient decoding an operator's pasted EAB key needs, and rejection
 * of everything else; the standard padded form etcd's gateway uses, and
 * its strictness.
 */
#include <string.h>

#include "b64.h"
#include "testutil.h"
#include "util.h"

static const struct {
	const char *plain;
	const char *enc;
} rfc4648[] = {
	{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
};

START_TEST(test_rfc4648_vectors)
{
	for (size_t i = 0; i < ARRAY_SIZE(rfc4648); i++) {
		char *e = b64url_encode(rfc4648[i].plain, strlen(rfc4648[i].plain));
		unsigned char *d = NULL;
		size_t dlen = 99;

		ck_assert_str_eq(e, rfc4648[i].enc);
		ck_assert_int_eq(b64url_decode(e, &d, &dlen), 0);
		ck_assert_uint_eq(dlen, strlen(rfc4648[i].plain));
		ck_assert_int_eq(memcmp(d, rfc4648[i].plain, dlen), 0);
		ck_assert_int_eq(d[dlen], '\0');
		free(e);
		free(d);
	}
}
END_TEST

START_TEST(test_url_alphabet)
{
	static const unsigned char bytes[] = { 0xfb, 0xff, 0xbf, 0x00, 0x10 };
	char *e = b64url_encode(bytes, sizeof(bytes));
	unsigned char *d = NULL;
	size_t dlen;

	ck_assert_str_eq(e, "-_-_ABA");
	ck_assert_int_eq(b64url_decode(e, &d, &dlen), 0);
	ck_assert_uint_eq(dlen, sizeof(bytes));
	ck_assert_int_eq(memcmp(d, bytes, dlen), 0);
	free(e);
	free(d);
}
END_TEST

START_TEST(test_lenient_decode)
{
	static const struct {
		const char *in;
		const char *want;
		size_t len;
	} ok[] = {
		{ "Zm9vYg==", "foob", 4 },
		{ "Zm9vYmE=", "fooba", 5 },
		{ "+/+/", "\xfb\xff\xbf", 3 },
		{ "-_+/", "\xfb\xff\xbf", 3 },
		{ "  Zm9v\n", "foo", 3 },
		{ "\tZm9vYg==\r\n", "foob", 4 },
		{ "", "", 0 },
		{ " \n", "", 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		unsigned char *d = NULL;
		size_t dlen = 99;

		ck_assert_msg(b64url_decode(ok[i].in, &d, &dlen) == 0, "rejected \"%s\"", ok[i].in);
		ck_assert_uint_eq(dlen, ok[i].len);
		ck_assert_int_eq(memcmp(d, ok[i].want, dlen), 0);
		free(d);
	}
}
END_TEST

START_TEST(test_invalid_rejected)
{
	static const char *const bad[] = {
		"Zm9vY",     /* 5 symbols: 1 mod 4 */
		"Z",         /* 1 symbol */
		"Zm9v!",     /* invalid character */
		"Zm9v Yg",   /* whitespace inside */
		"Zm=9v",     /* padding in the middle */
		"Zg===",     /* too much padding */
		"Zm9v=",     /* padding after a full quantum */
		"Zg=",       /* padding that does not complete a quantum */
		"=",
		"Zm9v\x80",  /* non-ASCII */
		"Zm.v",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		unsigned char *d = (unsigned char *)"sentinel";
		size_t dlen = 99;

		ck_assert_msg(b64url_decode(bad[i], &d, &dlen) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_ptr_null(d);
		ck_assert_uint_eq(dlen, 0);
	}
	{
		unsigned char *d;
		size_t dlen;

		ck_assert_int_eq(b64url_decode(NULL, &d, &dlen), -1);
	}
}
END_TEST

START_TEST(test_round_trip_all_lengths)
{
	unsigned char in[300];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(in); n++) {
		char *e = b64url_encode(in, n);
		unsigned char *d = NULL;
		size_t dlen;

		ck_assert_uint_eq(strlen(e), (n * 4 + 2) / 3);
		ck_assert_ptr_null(strpbrk(e, "=+/"));
		ck_assert_int_eq(b64url_decode(e, &d, &dlen), 0);
		ck_assert_uint_eq(dlen, n);
		ck_assert_int_eq(memcmp(d, in, n), 0);
		free(e);
		free(d);
	}
}
END_TEST

START_TEST(test_std_vectors)
{
	static const struct {
		const char *plain, *enc;
	} v[] = {
		{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
		{"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
		/* the symbols the URL alphabet spells '-' and '_' */
		{"\xfb\xff\xbf", "+/+/"}, {"/certfleet/locks/www", "L2NlcnRmbGVldC9sb2Nrcy93d3c="},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = b64_encode(v[i].plain, strlen(v[i].plain));
		unsigned char *d = NULL;
		size_t dlen;

		ck_assert_str_eq(e, v[i].enc);
		ck_assert_int_eq(b64_decode(v[i].enc, &d, &dlen), 0);
		ck_assert_uint_eq(dlen, strlen(v[i].plain));
		ck_assert_int_eq(memcmp(d, v[i].plain, dlen), 0);
		ck_assert_int_eq(d[dlen], '\0');
		free(e);
		free(d);
	}
}
END_TEST

START_TEST(test_std_strict)
{
	static const char *const bad[] = {
		"Zg", "Zg=", "Zm8", "Z===", "====", "Zg==Zg==", "Z=g=", "Zm9v\n", " Zm9v",
		"-_-_", "Zm9v!A==", "Zm9vY===",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char *d = (unsigned char *)"sentinel";
		size_t dlen = 99;

		ck_assert_msg(b64_decode(bad[i], &d, &dlen) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_ptr_null(d);
		ck_assert_uint_eq(dlen, 0);
	}
	{
		unsigned char *d;
		size_t dlen;

		ck_assert_int_eq(b64_decode(NULL, &d, &dlen), -1);
	}
}
END_TEST

START_TEST(test_std_round_trip_all_lengths)
{
	unsigned char in[300];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 13 + 251);
	for (size_t n = 0; n <= sizeof(in); n++) {
		char *e = b64_encode(in, n);
		unsigned char *d = NULL;
		size_t dlen;

		ck_assert_uint_eq(strlen(e), (n + 2) / 3 * 4);
		ck_assert_ptr_null(strpbrk(e, "-_"));
		ck_assert_int_eq(b64_decode(e, &d, &dlen), 0);
		ck_assert_uint_eq(dlen, n);
		ck_assert_int_eq(memcmp(d, in, n), 0);
		free(e);
		free(d);
	}
}
END_TEST

static Suite *b64_suite(void)
{
	Suite *s = suite_create("b64");
	TCase *tc = tcase_create("b64");

	tcase_add_test(tc, test_rfc4648_vectors);
	tcase_add_test(tc, test_url_alphabet);
	tcase_add_test(tc, test_lenient_decode);
	tcase_add_test(tc, test_invalid_rejected);
	tcase_add_test(tc, test_round_trip_all_lengths);
	tcase_add_test(tc, test_std_vectors);
	tcase_add_test(tc, test_std_strict);
	tcase_add_test(tc, test_std_round_trip_all_lengths);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(b64_suite)
