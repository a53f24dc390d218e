/*
 * check_acme_chain.c - unit tests for acme_chain.c: profiles against a
 * recorded directory (and the CA's invalidProfile problem), and
 * preferred-chain matching against fixture chains (tests/data/chain/gen.sh).
 */
#include <errno.h>
#include <string.h>

#include "acme.h"
#include "fsutil.h"
#include "testutil.h"
#include "util.h"

/* TEST_DATA_DIR/rel, whole; caller frees. */
static char *
fixture(const char *rel, size_t *len)
{
	char *path = xasprintf("%s/%s", TEST_DATA_DIR, rel), *data = NULL;
	size_t n = 0;

	ck_assert_msg(read_file(path, &data, &n, 1 << 20) == 0, "%s: %s", path, strerror(errno));
	free(path);
	if (len)
		*len = n;
	return data;
}

static void
load_directory(const char *rel, struct acme_directory *d)
{
	size_t len;
	char err[256] = "", *json = fixture(rel, &len);

	ck_assert_msg(acme_directory_parse(json, len, d, err, sizeof(err)) == 0, "%s", err);
	free(json);
}

/* ---- profiles ---- */

START_TEST(test_profile_listed)
{
	struct acme_directory d;
	char err[256] = "";

	load_directory("acme/directory-profiles.json", &d);
	ck_assert_int_eq(acme_profile_check(&d, "shortlived", err, sizeof(err)), 0);
	ck_assert_int_eq(acme_profile_check(&d, "classic", err, sizeof(err)), 0);
	ck_assert_int_eq(acme_profile_check(&d, NULL, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	acme_directory_free(&d);
}
END_TEST

START_TEST(test_profile_unknown)
{
	struct acme_directory d;
	char err[256] = "";

	load_directory("acme/directory-profiles.json", &d);
	ck_assert_int_eq(acme_profile_check(&d, "tlsclient", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "the CA offers no profile 'tlsclient' (it offers: classic, "
	    "shortlived, tlsserver)");
	/* Names are exact: the draft does not fold case. */
	ck_assert_int_eq(acme_profile_check(&d, "ShortLived", err, sizeof(err)), -1);
	acme_directory_free(&d);
}
END_TEST

START_TEST(test_profile_not_advertised)
{
	struct acme_directory d;
	char err[256] = "";

	/* A directory without meta.profiles: nothing to check against, the
	 * CA decides. */
	load_directory("acme/directory-sectigo.json", &d);
	ck_assert_uint_eq(d.profiles.n, 0);
	ck_assert_int_eq(acme_profile_check(&d, "shortlived", err, sizeof(err)), 0);
	acme_directory_free(&d);
}
END_TEST

START_TEST(test_profile_problem)
{
	size_t len;
	char *json = fixture("acme/problem-invalid-profile.json", &len), *line;
	struct acme_problem *p = acme_problem_parse(json, len);

	ck_assert_ptr_nonnull(p);
	ck_assert(acme_problem_is(p, "invalidProfile"));
	ck_assert(!acme_problem_is(p, "malformed"));
	line = acme_problem_format(p);
	ck_assert_str_eq(line, "invalidProfile: profile "
	    "\"tlsclient\" is not supported by this CA");
	free(line);
	acme_problem_free(p);
	free(json);
}
END_TEST

/* ---- preferred chain ---- */

static char *
fixture_line(const char *rel)
{
	char *s = fixture(rel, NULL);

	s[strcspn(s, "\n")] = '\0';
	return s;
}

START_TEST(test_chain_issuer_cn)
{
	size_t la, lb;
	char *a = fixture("chain/chain-a.pem", &la), *b = fixture("chain/chain-b.pem", &lb);

	ck_assert(acme_chain_matches(a, la, "certfleet test root A"));
	ck_assert(!acme_chain_matches(a, la, "certfleet test root B"));
	ck_assert(acme_chain_matches(b, lb, "certfleet test root B"));
	ck_assert(!acme_chain_matches(b, lb, "certfleet test root A"));
	/* Case-insensitive, but whole names only. */
	ck_assert(acme_chain_matches(b, lb, "CERTFLEET TEST ROOT b"));
	ck_assert(!acme_chain_matches(b, lb, "certfleet test root"));
	/* The top certificate's issuer, not the leaf's. */
	ck_assert(!acme_chain_matches(a, la, "certfleet test intermediate"));
	free(a);
	free(b);
}
END_TEST

START_TEST(test_chain_fingerprint)
{
	size_t la, lb;
	char *a = fixture("chain/chain-a.pem", &la), *b = fixture("chain/chain-b.pem", &lb);
	char *fp = fixture_line("chain/int-b.sha256"), *leaf = fixture_line("chain/leaf.sha256");
	char *plain = xstrdup(fp), *q = plain;

	ck_assert(acme_chain_matches(b, lb, fp));
	ck_assert(!acme_chain_matches(a, la, fp));
	/* Without colons, lower case. */
	for (const char *p = fp; *p; p++)
		if (*p != ':' || p < fp + 7)
			*q++ = (char)(p >= fp + 7 && *p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	*q = '\0';
	ck_assert_uint_eq(strlen(plain), 7 + 64);
	ck_assert(acme_chain_matches(b, lb, plain));
	/* The leaf is in both chains: it selects nothing. */
	ck_assert(!acme_chain_matches(a, la, leaf));
	ck_assert(!acme_chain_matches(b, lb, leaf));
	/* A fingerprint one digit short never matches. */
	plain[strlen(plain) - 1] = '\0';
	ck_assert(!acme_chain_matches(b, lb, plain));
	ck_assert(!acme_chain_matches("", 0, "certfleet test root A"));
	free(a);
	free(b);
	free(fp);
	free(leaf);
	free(plain);
}
END_TEST

static Suite *
acme_chain_suite(void)
{
	Suite *s = suite_create("acme_chain");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_profile_listed);
	tcase_add_test(tc, test_profile_unknown);
	tcase_add_test(tc, test_profile_not_advertised);
	tcase_add_test(tc, test_profile_problem);
	tcase_add_test(tc, test_chain_issuer_cn);
	tcase_add_test(tc, test_chain_fingerprint);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(acme_chain_suite)
