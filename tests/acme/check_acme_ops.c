/*
 * check_acme_ops.c - unit tests for what certificate and account
 * operations decide without a CA (acme_ops.c; profiles and chains are in
 * check_acme_chain.c): revocation reason codes, the store's
 * rollover key and deactivation record, the revocation fields of the
 * certificate state (and state files written before they existed), the
 * scheduler's answer for a revoked certificate, and the inventory rules
 * for dual RSA/ECDSA certificates and preferred_chain values.
 */
#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme.h"
#include "config.h"
#include "fsutil.h"
#include "scheduler.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

static char tmpdir[64];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_acme_ops.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

START_TEST(test_revoke_reasons)
{
	ck_assert(acme_revoke_reason_valid(0));
	ck_assert(acme_revoke_reason_valid(1));
	ck_assert(acme_revoke_reason_valid(5));
	ck_assert(acme_revoke_reason_valid(10));
	ck_assert(!acme_revoke_reason_valid(7));
	ck_assert(!acme_revoke_reason_valid(-1));
	ck_assert(!acme_revoke_reason_valid(11));
}
END_TEST

/* ---- store: rollover key, deactivation, revocation state ---- */

static struct store *
open_store(void)
{
	struct store *s = NULL;
	char err[512] = "", *d = xasprintf("%s/state", tmpdir);

	ck_assert_msg(store_open(d, &s, err, sizeof(err)) == 0, "%s", err);
	free(d);
	return s;
}

static bool
same_key(const privkey_t *a, const privkey_t *b)
{
	char *ja = privkey_jwk_json(a), *jb = privkey_jwk_json(b);
	bool eq = strcmp(ja, jb) == 0;

	free(ja);
	free(jb);
	return eq;
}

START_TEST(test_store_next_key)
{
	struct store *s = open_store();
	privkey_t *old = privkey_generate(KEY_EC_P256), *nk = privkey_generate(KEY_EC_P384);
	privkey_t *got = (privkey_t *)1;
	struct account_record rec;
	char err[512] = "", *p;
	struct stat st;

	ck_assert_int_eq(store_account_save_key(s, "acme", old, err, sizeof(err)), 0);
	ck_assert_int_eq(store_account_load_next_key(s, "acme", &got, err, sizeof(err)), 0);
	ck_assert_ptr_null(got);
	ck_assert_msg(store_account_save_next_key(s, "acme", nk, err, sizeof(err)) == 0, "%s",
	    err);
	p = xasprintf("%s/state/accounts/acme/key-next.pem", tmpdir);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	/* Both keys exist while the rollover is in flight. */
	ck_assert_int_eq(store_account_load_next_key(s, "acme", &got, err, sizeof(err)), 0);
	ck_assert(got != NULL && same_key(got, nk));
	privkey_free(got);
	ck_assert_int_eq(store_account_load(s, "acme", &rec, err, sizeof(err)), 0);
	ck_assert(same_key(rec.key, old));
	account_record_free(&rec);
	/* Promotion: the new key is the account key, the staged one gone. */
	ck_assert_msg(store_account_promote_next_key(s, "acme", err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_int_eq(stat(p, &st), -1);
	ck_assert_int_eq(store_account_load(s, "acme", &rec, err, sizeof(err)), 0);
	ck_assert(same_key(rec.key, nk));
	account_record_free(&rec);
	/* Nothing staged: promoting fails and says so. */
	ck_assert_int_eq(store_account_promote_next_key(s, "acme", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "key-next.pem"));
	/* Dropping keeps the account key. */
	ck_assert_int_eq(store_account_save_next_key(s, "acme", old, err, sizeof(err)), 0);
	store_account_drop_next_key(s, "acme");
	ck_assert_int_eq(stat(p, &st), -1);
	ck_assert_int_eq(store_account_load(s, "acme", &rec, err, sizeof(err)), 0);
	ck_assert(same_key(rec.key, nk));
	account_record_free(&rec);
	/* A damaged staged key is an error, not "none". */
	ck_assert_int_eq(atomic_write_file(p, "garbage", 7, 0600, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(store_account_load_next_key(s, "acme", &got, err, sizeof(err)), -1);
	ck_assert_ptr_null(got);
	ck_assert_ptr_nonnull(strstr(err, "key-next.pem"));
	free(p);
	privkey_free(old);
	privkey_free(nk);
	store_close(s);
}
END_TEST

START_TEST(test_store_deactivated)
{
	struct store *s = open_store();
	struct account_record r = {0}, in;
	char err[512] = "";

	r.url = "https://acme.example/acct/1";
	r.directory = "https://acme.example/dir";
	ck_assert_int_eq(store_account_save(s, "acme", &r, err, sizeof(err)), 0);
	ck_assert_int_eq(store_account_load(s, "acme", &in, err, sizeof(err)), 0);
	ck_assert_int_eq(in.deactivated, 0);
	account_record_free(&in);
	r.deactivated = 1790000000;
	ck_assert_int_eq(store_account_save(s, "acme", &r, err, sizeof(err)), 0);
	ck_assert_int_eq(store_account_load(s, "acme", &in, err, sizeof(err)), 0);
	ck_assert_int_eq(in.deactivated, 1790000000);
	ck_assert_str_eq(in.url, r.url);
	account_record_free(&in);
	store_close(s);
}
END_TEST

START_TEST(test_state_revocation)
{
	struct store *s = open_store();
	struct cert_state st, in;
	char err[512] = "";

	cert_state_init(&st);
	st.version = 2;
	st.serial = xstrdup("0A1B");
	st.revoked = true;
	st.revoked_serial = xstrdup("0A1B");
	st.revoked_at = 1790000000;
	st.revoked_reason = 4;
	st.revoked_no_reissue = true;
	ck_assert_int_eq(store_cert_save(s, "web", &st, err, sizeof(err)), 0);
	ck_assert_int_eq(store_cert_load(s, "web", &in, err, sizeof(err)), 0);
	ck_assert(in.revoked);
	ck_assert_str_eq(in.revoked_serial, "0A1B");
	ck_assert_int_eq(in.revoked_at, 1790000000);
	ck_assert_int_eq(in.revoked_reason, 4);
	ck_assert(in.revoked_no_reissue);
	cert_state_free(&in);
	cert_state_free(&st);
	store_close(s);
}
END_TEST

START_TEST(test_state_before_revocation_fields)
{
	struct store *s = open_store();
	struct cert_state in;
	char err[512] = "", *p;
	/* As a certfleet without the revocation fields wrote it. */
	const char *old = "{\"v\":1,\"names\":[\"a.example\"],\"key_type\":0,\"version\":3,"
	    "\"serial\":\"0C\",\"revoked\":true}";

	p = xasprintf("%s/state/certs/web", tmpdir);
	ck_assert_int_eq(mkdir_p(p, 0700), 0);
	free(p);
	p = xasprintf("%s/state/certs/web/state.json", tmpdir);
	ck_assert_int_eq(atomic_write_file(p, old, strlen(old), 0600, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)), 0);
	ck_assert_msg(store_cert_load(s, "web", &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert(in.revoked);
	ck_assert_int_eq(in.version, 3);
	ck_assert_ptr_null(in.revoked_serial);
	ck_assert_int_eq(in.revoked_at, 0);
	ck_assert(!in.revoked_no_reissue);
	cert_state_free(&in);
	free(p);
	store_close(s);
}
END_TEST

START_TEST(test_sched_revoked)
{
	struct config_cert c = {0};
	struct cert_state st;
	char why[128] = "";

	cert_state_init(&st);
	strlist_add(&c.domains, "a.example");
	c.key_type = KEY_EC_P256;
	c.account_name = "acme";
	strlist_add(&st.names, "a.example");
	st.key_type = KEY_EC_P256;
	st.account = xstrdup("acme");
	st.version = 1;
	st.not_before = 1780000000;
	st.not_after = 1790000000;
	ck_assert(!sched_needs_issue(&c, &st, why, sizeof(why)));
	st.revoked = true;
	ck_assert(sched_needs_issue(&c, &st, why, sizeof(why)));
	ck_assert_str_eq(why, "certificate was revoked");
	/* --no-reissue: the normal schedule decides. */
	st.revoked_no_reissue = true;
	ck_assert(!sched_needs_issue(&c, &st, why, sizeof(why)));
	strlist_free(&c.domains);
	cert_state_free(&st);
}
END_TEST

/* ---- inventory: dual certificates, preferred_chain ---- */

#define INV_HEAD "state_dir: /tmp/unused-state\naccounts:\n  ca:\n" \
	"    directory: https://acme.example.com/directory\n" \
	"    contact: mailto:ops@example.com\n  other:\n" \
	"    directory: https://acme2.example.com/directory\n" \
	"    contact: mailto:ops@example.com\ncertificates:\n"

/* Loads INV_HEAD + certs; 0 or -1 with err. */
static int
load_inventory(const char *certs, struct config **c, char *err, size_t errlen)
{
	char *p = xasprintf("%s/inv.yaml", tmpdir), *text = xasprintf("%s%s", INV_HEAD, certs);
	int rc;

	ck_assert_int_eq(atomic_write_file(p, text, strlen(text), 0600, (uid_t)-1, (gid_t)-1,
	    err, errlen), 0);
	*c = NULL;
	rc = config_load(p, c, err, errlen);
	free(p);
	free(text);
	return rc;
}

START_TEST(test_config_dual_certificates)
{
	struct config *c = NULL;
	char err[1024] = "";

	ck_assert_msg(load_inventory(
	    "  - {name: web-ec, account: ca, domains: [a.example, b.example]}\n"
	    "  - {name: web-rsa, account: ca, domains: [b.example, a.example], key_type: rsa-2048}\n",
	    &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(c->ncerts, 2);
	ck_assert_int_eq(c->certs[0].key_type, KEY_EC_P256);
	ck_assert_int_eq(c->certs[1].key_type, KEY_RSA_2048);
	config_free(c);
	/* The same names at another CA, or with another profile, are other
	 * certificates too. */
	ck_assert_msg(load_inventory(
	    "  - {name: one, account: ca, domains: [a.example]}\n"
	    "  - {name: two, account: other, domains: [a.example]}\n"
	    "  - {name: three, account: ca, domains: [a.example], profile: shortlived}\n",
	    &c, err, sizeof(err)) == 0, "%s", err);
	config_free(c);
}
END_TEST

START_TEST(test_config_true_duplicate)
{
	struct config *c = NULL;
	char err[1024] = "";

	ck_assert_int_eq(load_inventory(
	    "  - {name: web, account: ca, domains: [a.example, b.example]}\n"
	    "  - {name: web2, account: ca, domains: [B.example, a.example]}\n",
	    &c, err, sizeof(err)), -1);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, "certificates[1]: certificate 'web2' orders the same names "
	    "with the same key type, account and profile as 'web' (line 10)") != NULL, "%s", err);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(test_config_preferred_chain)
{
	struct config *c = NULL;
	char err[1024] = "";

	ck_assert_msg(load_inventory(
	    "  - {name: a, account: ca, domains: [a.example], preferred_chain: ISRG Root X1}\n"
	    "  - {name: b, account: ca, domains: [b.example], preferred_chain: \"sha256:"
	    "BD:84:35:6D:80:E3:CC:10:6D:A5:30:99:1E:7F:73:BF:83:03:F5:1F:67:08:20:32:9B:8F:E4:6A:"
	    "AE:84:33:73\"}\n"
	    "  - {name: c, account: ca, domains: [c.example], preferred_chain: sha256:"
	    "bd84356d80e3cc106da530991e7f73bf8303f51f670820329b8fe46aae843373}\n",
	    &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c->certs[0].preferred_chain, "ISRG Root X1");
	config_free(c);
	ck_assert_int_eq(load_inventory(
	    "  - {name: a, account: ca, domains: [a.example], preferred_chain: \"sha256:BD84\"}\n",
	    &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "preferred_chain: 'sha256:BD84' is not sha256: followed by") !=
	    NULL, "%s", err);
	ck_assert_int_eq(load_inventory(
	    "  - {name: a, account: ca, domains: [a.example], preferred_chain: \"\"}\n",
	    &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "preferred_chain: must not be empty") != NULL, "%s", err);
}
END_TEST

static Suite *
acme_ops_suite(void)
{
	Suite *s = suite_create("acme_ops");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_revoke_reasons);
	tcase_add_test(tc, test_store_next_key);
	tcase_add_test(tc, test_store_deactivated);
	tcase_add_test(tc, test_state_revocation);
	tcase_add_test(tc, test_state_before_revocation_fields);
	tcase_add_test(tc, test_sched_revoked);
	tcase_add_test(tc, test_config_dual_certificates);
	tcase_add_test(tc, test_config_true_duplicate);
	tcase_add_test(tc, test_config_preferred_chain);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(acme_ops_suite)
