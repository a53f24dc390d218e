/*
 * check_config_api.c - unit tests for the functions of config.h that work
 * without an inventory file: config_check_domain() (every name a CA would
 * reject is refused with a reason naming it, every valid one accepted),
 * config_cert_order_equal() and challenge_type_name().  Loading is tested
 * by check_config.c.
 */
#include <string.h>

#include "config.h"
#include "config_tree.h"
#include "testutil.h"
#include "util.h"

/* ---- config_check_domain ---- */

static const char *const good_domains[] = {
	"example.com", "www.example.com", "*.example.com", "xn--bcher-kva.example",
	"a-b.example.com", "WWW.Example.COM", "a1.b2",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
};

static const struct {
	const char *name;
	const char *why;
} bad_domains[] = {
	{ "", "empty DNS name" },
	{ "localhost", "invalid DNS name 'localhost': needs at least two labels (a fully "
	  "qualified name such as www.example.com)" },
	{ "*.com", "invalid DNS name '*.com': needs at least two labels (a fully qualified "
	  "name such as www.example.com)" },
	{ "example.com.", "invalid DNS name 'example.com.': remove the trailing dot" },
	{ ".example.com", "invalid DNS name '.example.com': empty label" },
	{ "a..example.com", "invalid DNS name 'a..example.com': empty label" },
	{ "-a.example.com", "invalid DNS name '-a.example.com': label '-a' starts or ends "
	  "with '-'" },
	{ "a-.example.com", "invalid DNS name 'a-.example.com': label 'a-' starts or ends "
	  "with '-'" },
	{ "www.*.example.com", "invalid DNS name 'www.*.example.com': '*' is only allowed as "
	  "the whole leftmost label (*.example.com)" },
	{ "*x.example.com", "invalid DNS name '*x.example.com': '*' is only allowed as the "
	  "whole leftmost label (*.example.com)" },
	{ "ex ample.com", "invalid DNS name 'ex ample.com': character ' ' is not allowed" },
	{ "b\xc3\xbc" "cher.example", "invalid DNS name 'b\xc3\xbc" "cher.example': "
	  "non-ASCII names must be written in punycode (xn--...)" },
	{ "192.0.2.1", "'192.0.2.1' is an IP address; IP identifiers are not supported, "
	  "use a DNS name" },
	{ "10.1", "'10.1' is an IP address; IP identifiers are not supported, use a DNS name" },
	{ "2001:db8::1", "'2001:db8::1' is an IP address; IP identifiers are not supported, "
	  "use a DNS name" },
	{ "[::1]", "'[::1]' is an IP address; IP identifiers are not supported, use a DNS "
	  "name" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
	  "invalid DNS name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  ".com': label 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is "
	  "longer than 63 characters" },
};

START_TEST(test_domain_good)
{
	char err[512] = "";

	ck_assert_msg(config_check_domain(good_domains[_i], err, sizeof(err)) == 0, "%s: %s",
	    good_domains[_i], err);
}
END_TEST

START_TEST(test_domain_bad)
{
	char err[512] = "";

	ck_assert_int_eq(config_check_domain(bad_domains[_i].name, err, sizeof(err)), -1);
	ck_assert_str_eq(err, bad_domains[_i].why);
}
END_TEST

/* The key paths of the messages: what snprintf would write, cut alike. */
START_TEST(test_paths)
{
	static const char *const parents[] = { "", "certificates[12]", "notify.webhook" };
	static const size_t idx[] = { 0, 7, 12, 100000, (size_t)-1 };
	char got[40], want[40];

	for (size_t p = 0; p < sizeof(parents) / sizeof(parents[0]); p++) {
		for (size_t len = 1; len <= sizeof(got); len++) {
			memset(got, 'x', sizeof(got));
			cfg_path_key(got, len, parents[p], "domains");
			snprintf(want, len, "%s%s%s", parents[p], *parents[p] ? "." : "", "domains");
			ck_assert_str_eq(got, want);
			for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
				cfg_path_index(got, len, parents[p], idx[i]);
				snprintf(want, len, "%s[%zu]", parents[p], idx[i]);
				ck_assert_str_eq(got, want);
			}
		}
	}
}
END_TEST

START_TEST(test_domain_lengths)
{
	char name[300], err[512];

	/* 4 labels of 63 + 3 dots = 255 > 253; trimming two characters fits. */
	memset(name, 'a', sizeof(name));
	for (int i = 63; i < 255; i += 64)
		name[i] = '.';
	name[255] = '\0';
	ck_assert_int_eq(config_check_domain(name, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "longer than 253 characters"));
	name[253] = '\0';
	ck_assert_msg(config_check_domain(name, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

/* ---- config_cert_order_equal ---- */

static void cert_init(struct config_cert *c, const char *acct)
{
	memset(c, 0, sizeof(*c));
	strlist_add(&c->domains, "www.example.com");
	strlist_add(&c->domains, "example.com");
	c->account_name = acct;
	c->key_type = KEY_EC_P256;
	c->challenges[0] = CHALLENGE_HTTP01;
	c->challenges[1] = CHALLENGE_DNS01;
	c->nchallenges = 2;
	c->mode = 0644;
}

static void cert_done(struct config_cert *c)
{
	strlist_free(&c->domains);
	free(c->profile);
}

START_TEST(test_order_equal)
{
	struct config_cert a, b;

	cert_init(&a, "sectigo");
	cert_init(&b, "sectigo");
	ck_assert(config_cert_order_equal(&a, &b));
	/* Names compare as a set, case-insensitively. */
	strlist_free(&b.domains);
	strlist_add(&b.domains, "EXAMPLE.com");
	strlist_add(&b.domains, "www.example.com");
	ck_assert(config_cert_order_equal(&a, &b));
	/* What only affects installation does not need a new order. */
	b.mode = 0640;
	b.output_dir = "/elsewhere";
	b.reuse_key = true;
	b.combined = true;
	ck_assert(config_cert_order_equal(&a, &b));
	strlist_add(&b.domains, "api.example.com");
	ck_assert(!config_cert_order_equal(&a, &b));
	cert_done(&b);

	cert_init(&b, "sectigo");
	b.key_type = KEY_EC_P384;
	ck_assert(!config_cert_order_equal(&a, &b));
	cert_done(&b);
	cert_init(&b, "letsencrypt");
	ck_assert(!config_cert_order_equal(&a, &b));
	cert_done(&b);
	cert_init(&b, "sectigo");
	b.challenges[0] = CHALLENGE_DNS01;
	b.challenges[1] = CHALLENGE_HTTP01;
	ck_assert(!config_cert_order_equal(&a, &b));
	b.nchallenges = 1;
	b.challenges[0] = CHALLENGE_HTTP01;
	ck_assert(!config_cert_order_equal(&a, &b));
	cert_done(&b);
	cert_init(&b, "sectigo");
	b.profile = xstrdup("shortlived");
	ck_assert(!config_cert_order_equal(&a, &b));
	a.profile = xstrdup("shortlived");
	ck_assert(config_cert_order_equal(&a, &b));
	cert_done(&b);
	/* Turning shared on or off moves the order between this host and the pool. */
	cert_init(&b, "sectigo");
	b.profile = xstrdup("shortlived");
	b.shared = true;
	ck_assert(!config_cert_order_equal(&a, &b));
	a.shared = true;
	ck_assert(config_cert_order_equal(&a, &b));
	cert_done(&b);
	cert_done(&a);
}
END_TEST

START_TEST(test_challenge_names)
{
	ck_assert_str_eq(challenge_type_name(CHALLENGE_HTTP01), "http-01");
	ck_assert_str_eq(challenge_type_name(CHALLENGE_DNS01), "dns-01");
	ck_assert_str_eq(challenge_type_name(CHALLENGE_TLSALPN01), "tls-alpn-01");
	ck_assert_str_eq(challenge_type_name(CHALLENGE_TYPE__MAX), "unknown");
}
END_TEST

static Suite *config_api_suite(void)
{
	Suite *s = suite_create("config_api");
	TCase *tc = tcase_create("domains");

	tcase_add_loop_test(tc, test_domain_good, 0, (int)ARRAY_SIZE(good_domains));
	tcase_add_loop_test(tc, test_domain_bad, 0, (int)ARRAY_SIZE(bad_domains));
	tcase_add_test(tc, test_domain_lengths);
	tcase_add_test(tc, test_paths);
	suite_add_tcase(s, tc);
	tc = tcase_create("cert");
	tcase_add_test(tc, test_order_equal);
	tcase_add_test(tc, test_challenge_names);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(config_api_suite)
