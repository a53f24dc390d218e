/*
 * check_acme_json.c - ACME object parsing and payload building, against
 * recorded responses (tests/data/acme/).
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "acme_json.h"
#include "testutil.h"
#include "util.h"

static char *
load(const char *name, size_t *len)
{
	char path[512], *data = NULL;

	snprintf(path, sizeof(path), "%s/acme/%s", TEST_DATA_DIR, name);
	ck_assert_msg(read_file(path, &data, len, 1 << 20) == 0, "cannot read %s", path);
	return data;
}

START_TEST(test_directory_sectigo)
{
	struct acme_directory d;
	char err[256];
	size_t len;
	char *json = load("directory-sectigo.json", &len);

	ck_assert_int_eq(acme_directory_parse(json, len, &d, err, sizeof(err)), 0);
	ck_assert_str_eq(d.new_account, "https://acme.sectigo.com/v2/DV/newAccount");
	ck_assert_str_eq(d.new_nonce, "https://acme.sectigo.com/v2/DV/newNonce");
	ck_assert(d.eab_required);
	ck_assert_ptr_null(d.renewal_info);
	ck_assert_uint_eq(d.profiles.n, 0);
	acme_directory_free(&d);
	free(json);
}
END_TEST

START_TEST(test_directory_profiles_ari)
{
	struct acme_directory d;
	char err[256];
	size_t len;
	char *json = load("directory-profiles.json", &len);

	ck_assert_int_eq(acme_directory_parse(json, len, &d, err, sizeof(err)), 0);
	ck_assert_str_eq(d.renewal_info, "https://acme.example/acme/renewal-info");
	ck_assert(!d.eab_required);
	ck_assert_uint_eq(d.profiles.n, 3);
	ck_assert_str_eq(d.profiles.v[1], "shortlived");
	acme_directory_free(&d);
	free(json);
}
END_TEST

START_TEST(test_directory_bad)
{
	struct acme_directory d;
	char err[256];
	const char *missing = "{\"newNonce\":\"a\",\"newAccount\":\"b\"}";

	ck_assert_int_eq(acme_directory_parse("[1,2]", 5, &d, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "directory: response is not a JSON object");
	ck_assert_int_eq(acme_directory_parse(missing, strlen(missing), &d, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "directory lacks newOrder");
	ck_assert_int_eq(acme_directory_parse("", 0, &d, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_authz_prevalidated)
{
	struct acme_authz a;
	char err[256];
	size_t len;
	char *json = load("authz-scm-valid.json", &len);

	ck_assert_int_eq(acme_authz_parse(json, len, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(a.status, ACME_STATUS_VALID);
	ck_assert_str_eq(a.identifier, "www.example.com");
	/* The one without a url is skipped, not fatal. */
	ck_assert_uint_eq(a.nchallenges, 1);
	ck_assert_str_eq(a.challenges[0].type, "sectigo-email-01");
	acme_authz_free(&a);
	free(json);
}
END_TEST

START_TEST(test_authz_pending)
{
	struct acme_authz a;
	char err[256];
	size_t len;
	char *json = load("authz-pending.json", &len);

	ck_assert_int_eq(acme_authz_parse(json, len, &a, err, sizeof(err)), 0);
	ck_assert_int_eq(a.status, ACME_STATUS_PENDING);
	ck_assert_uint_eq(a.nchallenges, 3);
	ck_assert_str_eq(a.challenges[1].type, "http-01");
	ck_assert_str_eq(a.challenges[1].token, "tok_http-01");
	ck_assert_int_eq(a.challenges[1].status, ACME_STATUS_PENDING);
	ck_assert(a.expires > 0);
	acme_authz_free(&a);
	free(json);
}
END_TEST

START_TEST(test_order_invalid_compound)
{
	struct acme_order o;
	char err[256], *s;
	size_t len;
	char *json = load("order-invalid.json", &len);

	ck_assert_int_eq(acme_order_parse(json, len, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(o.status, ACME_STATUS_INVALID);
	ck_assert_uint_eq(o.identifiers.n, 2);
	ck_assert_uint_eq(o.authorizations.n, 2);
	ck_assert_ptr_nonnull(o.error);
	ck_assert(acme_problem_is(o.error, "compound"));
	ck_assert_uint_eq(o.error->nsub, 2);
	s = acme_problem_format(o.error);
	ck_assert_str_eq(s, "compound: Errors during validation [a.example.com: dns: no A record; "
	    "b.example.com: unauthorized: wrong key authorization]");
	free(s);
	acme_order_free(&o);
	free(json);
}
END_TEST

START_TEST(test_order_valid_and_bad)
{
	struct acme_order o;
	char err[256];
	size_t len;
	char *json = load("order-valid.json", &len);
	const char *nocert = "{\"status\":\"valid\",\"finalize\":\"f\"}";
	const char *nostatus = "{\"finalize\":\"f\"}";

	ck_assert_int_eq(acme_order_parse(json, len, &o, err, sizeof(err)), 0);
	ck_assert_str_eq(o.certificate, "https://127.0.0.1:14000/certZ/x");
	acme_order_free(&o);
	free(json);
	ck_assert_int_eq(acme_order_parse(nocert, strlen(nocert), &o, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "order is valid but has no certificate URL");
	ck_assert_int_eq(acme_order_parse(nostatus, strlen(nostatus), &o, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "order has no valid status");
}
END_TEST

START_TEST(test_problem)
{
	const char *bn = "{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"JWS has an invalid anti-replay nonce\",\"status\":400}";
	const char *other = "{\"type\":\"about:blank\",\"detail\":\"x\"}";
	struct acme_problem *p = acme_problem_parse(bn, strlen(bn));
	char *s;

	ck_assert_ptr_nonnull(p);
	ck_assert(acme_problem_is(p, "badNonce"));
	ck_assert(!acme_problem_is(p, "badNonceX"));
	ck_assert(!acme_problem_is(p, "badNonc"));
	s = acme_problem_format(p);
	ck_assert_str_eq(s, "badNonce: JWS has an invalid anti-replay nonce");
	free(s);
	ck_assert_ptr_nonnull(strstr(p->raw, "badNonce"));
	acme_problem_free(p);
	p = acme_problem_parse(other, strlen(other));
	s = acme_problem_format(p);
	ck_assert_str_eq(s, "about:blank: x");
	free(s);
	acme_problem_free(p);
	ck_assert_ptr_null(acme_problem_parse("not json", 8));
	ck_assert_ptr_null(acme_problem_parse("{\"a\":1}", 7));
}
END_TEST

START_TEST(test_renewal_info)
{
	struct acme_renewal_info r;
	char err[256];
	size_t len;
	char *json = load("renewal-info.json", &len);
	const char *rev = "{\"suggestedWindow\":{\"start\":\"2027-01-12T00:00:00Z\",\"end\":\"2027-01-10T00:00:00Z\"}}";

	ck_assert_int_eq(acme_renewal_info_parse(json, len, &r, err, sizeof(err)), 0);
	ck_assert_int_eq(r.end - r.start, 2 * 86400);
	ck_assert_str_eq(r.explanation_url, "https://acme.example/docs/ari");
	acme_renewal_info_free(&r);
	free(json);
	ck_assert_int_eq(acme_renewal_info_parse(rev, strlen(rev), &r, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_builders)
{
	struct strlist names = {0}, contact = {0};
	char *s;
	cJSON *j, *ids;

	strlist_add(&names, "a.example.com");
	strlist_add(&names, "b.example.com");
	s = acme_json_new_order(&names, "shortlived", "aki.serial");
	j = cJSON_Parse(s);
	ids = cJSON_GetObjectItem(j, "identifiers");
	ck_assert_int_eq(cJSON_GetArraySize(ids), 2);
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ids, 1), "value")->valuestring,
	    "b.example.com");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ids, 0), "type")->valuestring, "dns");
	ck_assert_str_eq(cJSON_GetObjectItem(j, "profile")->valuestring, "shortlived");
	ck_assert_str_eq(cJSON_GetObjectItem(j, "replaces")->valuestring, "aki.serial");
	cJSON_Delete(j);
	free(s);

	s = acme_json_new_order(&names, NULL, NULL);
	ck_assert_ptr_null(strstr(s, "profile"));
	ck_assert_ptr_null(strstr(s, "replaces"));
	free(s);

	strlist_add(&contact, "mailto:ops@example.com");
	s = acme_json_new_account(&contact, "{\"protected\":\"x\",\"payload\":\"y\",\"signature\":\"z\"}", false);
	j = cJSON_Parse(s);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "termsOfServiceAgreed")));
	ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "contact"), 0)->valuestring,
	    "mailto:ops@example.com");
	ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "externalAccountBinding"),
	    "signature")->valuestring, "z");
	cJSON_Delete(j);
	free(s);
	s = acme_json_new_account(&contact, NULL, true);
	ck_assert_str_eq(s, "{\"onlyReturnExisting\":true}");
	free(s);
	s = acme_json_finalize("MIIB");
	ck_assert_str_eq(s, "{\"csr\":\"MIIB\"}");
	free(s);
	s = acme_json_revoke("MIIC", 4);
	ck_assert_str_eq(s, "{\"certificate\":\"MIIC\",\"reason\":4}");
	free(s);
	s = acme_json_deactivate();
	ck_assert_str_eq(s, "{\"status\":\"deactivated\"}");
	free(s);
	strlist_free(&names);
	strlist_free(&contact);
}
END_TEST

static Suite *
acme_json_suite(void)
{
	Suite *s = suite_create("acme_json");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_directory_sectigo);
	tcase_add_test(tc, test_directory_profiles_ari);
	tcase_add_test(tc, test_directory_bad);
	tcase_add_test(tc, test_authz_prevalidated);
	tcase_add_test(tc, test_authz_pending);
	tcase_add_test(tc, test_order_invalid_compound);
	tcase_add_test(tc, test_order_valid_and_bad);
	tcase_add_test(tc, test_problem);
	tcase_add_test(tc, test_renewal_info);
	tcase_add_test(tc, test_builders);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(acme_json_suite)
