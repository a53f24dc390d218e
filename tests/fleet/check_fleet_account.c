/*
 * check_fleet_account.c - unit tests for fleet_account.c, the fleet's side
 * of an ACME account: the parameters taken from the inventory's entry, and
 * the store callbacks over the state directory, with the adoption of
 * certbot's account (tests/data/certbot) when nothing is stored.  No CA:
 * only the store seam, called as the account calls it.
 */
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "acme.h"
#include "config.h"
#include "fleet_account.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

#define CERTBOT_DIR TEST_DATA_DIR "/certbot/accounts/acme.example.test/directory/" \
	"0123456789abcdef0123456789abcdef"
#define CERTBOT_URL "https://acme.example.test/acme/acct/42"
#define DIR_URL "https://ca.example.test/dir"

static char tmpdir[64];
static struct store *st;
static struct config_account cfg;

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
setup(void)
{
	char err[512] = "", *state;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_fleet_account.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	state = xasprintf("%s/state", tmpdir);
	ck_assert_msg(store_open(state, &st, err, sizeof(err)) == 0, "%s", err);
	free(state);
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "ca";
	cfg.directory_url = DIR_URL;
	cfg.key_type = KEY_EC_P384;
}

static void
teardown(void)
{
	store_close(st);
	st = NULL;
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
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

START_TEST(test_params)
{
	static unsigned char hmac[] = "secret";
	struct acme_account_params p;

	strlist_add(&cfg.contact, "mailto:ops@example.com");
	cfg.ca_bundle = "/etc/ca.pem";
	cfg.eab_kid = "kid-1";
	cfg.eab_hmac = hmac;
	cfg.eab_hmac_len = 6;
	cfg.eab_alg = HMAC_HS384;
	fleet_account_params(&cfg, &p);
	ck_assert_str_eq(p.name, "ca");
	ck_assert_str_eq(p.directory_url, DIR_URL);
	ck_assert_str_eq(p.ca_bundle, "/etc/ca.pem");
	ck_assert_ptr_eq(p.contact, &cfg.contact);
	ck_assert_str_eq(p.eab_kid, "kid-1");
	ck_assert_ptr_eq(p.eab_hmac, hmac);
	ck_assert_uint_eq(p.eab_hmac_len, 6);
	ck_assert_int_eq(p.eab_alg, HMAC_HS384);
	ck_assert_int_eq(p.key_type, KEY_EC_P384);
	strlist_free(&cfg.contact);
}
END_TEST

START_TEST(test_load_nothing)
{
	void *fa = fleet_account_store_new(st, &cfg);
	struct acme_account_record rec;
	char err[512] = "", *where = xasprintf("%s/state/accounts/ca", tmpdir);

	memset(&rec, 0xff, sizeof(rec));
	ck_assert_int_eq(fleet_account_store.load(fa, &rec, err, sizeof(err)), 0);
	ck_assert_ptr_null(rec.key);
	ck_assert_ptr_null(rec.next_key);
	ck_assert_ptr_null(rec.url);
	ck_assert_ptr_null(rec.adopted_from);
	ck_assert_int_eq(rec.deactivated, 0);
	ck_assert_str_eq(fleet_account_store.where(fa), where);
	acme_account_record_free(&rec);
	fleet_account_store.release(fa);
	free(where);
}
END_TEST

/* The budget record names the CA it counts for: after the account moves
 * to another directory its old spends and pause are not applied. */
START_TEST(test_budget_directory)
{
	void *fa = fleet_account_store_new(st, &cfg);
	time_t spent[2] = { time(NULL) - 5, time(NULL) - 1 };
	struct acme_budget_record in = { .spent = spent, .nspent = 2,
		.paused_until = time(NULL) + 600 }, out;
	struct config_account moved;
	char err[512] = "";

	ck_assert_msg(fleet_account_store.save_budget(fa, &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(fleet_account_store.load_budget(fa, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.nspent, 2);
	ck_assert(out.paused_until == in.paused_until);
	free(out.spent);
	fleet_account_store.release(fa);

	moved = cfg;
	moved.directory_url = "https://other-ca.example.test/dir";
	fa = fleet_account_store_new(st, &moved);
	ck_assert_int_eq(fleet_account_store.load_budget(fa, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.nspent, 0);
	ck_assert_ptr_null(out.spent);
	ck_assert(out.paused_until == 0);
	fleet_account_store.release(fa);
}
END_TEST

START_TEST(test_save_and_rollover)
{
	void *fa = fleet_account_store_new(st, &cfg);
	privkey_t *k = privkey_generate(KEY_EC_P256), *nk = privkey_generate(KEY_EC_P256);
	struct acme_account_record rec = {0};
	struct account_record raw = {0};
	char err[512] = "";

	ck_assert_int_eq(fleet_account_store.save_key(fa, k, err, sizeof(err)), 0);
	ck_assert_int_eq(fleet_account_store.save(fa, "https://ca.example.test/acct/1", DIR_URL,
	    1700000000, err, sizeof(err)), 0);
	/* On disk in the store's own format. */
	ck_assert_int_eq(store_account_load(st, "ca", &raw, err, sizeof(err)), 0);
	ck_assert_str_eq(raw.url, "https://ca.example.test/acct/1");
	ck_assert_str_eq(raw.directory, DIR_URL);
	ck_assert_int_eq(raw.deactivated, 1700000000);
	ck_assert(same_key(raw.key, k));
	account_record_free(&raw);

	ck_assert_int_eq(fleet_account_store.stage_key(fa, nk, err, sizeof(err)), 0);
	ck_assert_int_eq(fleet_account_store.load(fa, &rec, err, sizeof(err)), 0);
	ck_assert(same_key(rec.key, k));
	ck_assert_ptr_nonnull(rec.next_key);
	ck_assert(same_key(rec.next_key, nk));
	ck_assert_str_eq(rec.url, "https://ca.example.test/acct/1");
	ck_assert_int_eq(rec.deactivated, 1700000000);
	acme_account_record_free(&rec);
	ck_assert_int_eq(fleet_account_store.promote_key(fa, err, sizeof(err)), 0);
	ck_assert_int_eq(fleet_account_store.load(fa, &rec, err, sizeof(err)), 0);
	ck_assert(same_key(rec.key, nk));
	ck_assert_ptr_null(rec.next_key);
	acme_account_record_free(&rec);

	ck_assert_int_eq(fleet_account_store.stage_key(fa, k, err, sizeof(err)), 0);
	fleet_account_store.drop_key(fa);
	ck_assert_int_eq(fleet_account_store.load(fa, &rec, err, sizeof(err)), 0);
	ck_assert(same_key(rec.key, nk));
	ck_assert_ptr_null(rec.next_key);
	acme_account_record_free(&rec);
	fleet_account_store.release(fa);
	privkey_free(k);
	privkey_free(nk);
}
END_TEST

START_TEST(test_adopt_certbot)
{
	void *fa;
	struct acme_account_record rec = {0};
	struct account_record raw = {0};
	char err[512] = "";
	privkey_t *adopted;

	cfg.certbot_account = CERTBOT_DIR;
	fa = fleet_account_store_new(st, &cfg);
	/* Nothing stored: certbot's key and URL, marked for verification. */
	ck_assert_msg(fleet_account_store.load(fa, &rec, err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_nonnull(rec.key);
	ck_assert_int_eq(privkey_type(rec.key), KEY_RSA_2048);
	ck_assert_str_eq(rec.url, CERTBOT_URL);
	ck_assert_str_eq(rec.directory, DIR_URL);
	ck_assert_str_eq(rec.adopted_from, CERTBOT_DIR);
	ck_assert_ptr_null(rec.next_key);
	adopted = rec.key;
	rec.key = NULL;
	acme_account_record_free(&rec);
	/* Copied into the store first, for this directory. */
	ck_assert_int_eq(store_account_load(st, "ca", &raw, err, sizeof(err)), 0);
	ck_assert(same_key(raw.key, adopted));
	ck_assert_str_eq(raw.url, CERTBOT_URL);
	ck_assert_str_eq(raw.directory, DIR_URL);
	account_record_free(&raw);
	/* Once: the next load reads the store, certbot's files untouched. */
	ck_assert_int_eq(fleet_account_store.load(fa, &rec, err, sizeof(err)), 0);
	ck_assert(same_key(rec.key, adopted));
	ck_assert_str_eq(rec.url, CERTBOT_URL);
	ck_assert_ptr_null(rec.adopted_from);
	acme_account_record_free(&rec);
	fleet_account_store.release(fa);
	privkey_free(adopted);
}
END_TEST

START_TEST(test_adopt_unreadable)
{
	void *fa;
	struct acme_account_record rec = {0};
	struct account_record raw = {0};
	char err[512] = "";

	cfg.certbot_account = "/nonexistent/certbot/account";
	fa = fleet_account_store_new(st, &cfg);
	ck_assert_int_eq(fleet_account_store.load(fa, &rec, err, sizeof(err)), -1);
	ck_assert_msg(strncmp(err, "cannot adopt certbot's account: ", 32) == 0 &&
	    strstr(err, "/nonexistent/certbot/account") != NULL, "%s", err);
	ck_assert_ptr_null(rec.key);
	ck_assert_ptr_null(rec.adopted_from);
	ck_assert_int_eq(store_account_load(st, "ca", &raw, err, sizeof(err)), 0);
	ck_assert_ptr_null(raw.key);
	ck_assert_ptr_null(raw.url);
	account_record_free(&raw);
	fleet_account_store.release(fa);
}
END_TEST

START_TEST(test_stored_key_wins)
{
	void *fa;
	privkey_t *k = privkey_generate(KEY_EC_P256);
	struct acme_account_record rec = {0};
	char err[512] = "";

	/* A key of our own (its URL lost): looked up, not replaced by
	 * certbot's. */
	ck_assert_int_eq(store_account_save_key(st, "ca", k, err, sizeof(err)), 0);
	cfg.certbot_account = CERTBOT_DIR;
	fa = fleet_account_store_new(st, &cfg);
	ck_assert_int_eq(fleet_account_store.load(fa, &rec, err, sizeof(err)), 0);
	ck_assert(same_key(rec.key, k));
	ck_assert_ptr_null(rec.url);
	ck_assert_ptr_null(rec.adopted_from);
	acme_account_record_free(&rec);
	fleet_account_store.release(fa);
	privkey_free(k);
}
END_TEST

START_TEST(test_set_config)
{
	struct acme_env env = {0};
	struct config_account next;
	struct acme_account *a;
	char err[512] = "";

	/* A reload before the account was first used: the new entry's
	 * certbot_account and key type are the ones that count. */
	env.loop = ev_default_loop(0);
	cfg.certbot_account = "/nonexistent/certbot/account";
	a = fleet_account_new(&env, st, &cfg);
	ck_assert_str_eq(acme_account_name(a), "ca");
	ck_assert_int_eq(acme_account_params(a)->key_type, KEY_EC_P384);
	next = cfg;
	next.certbot_account = CERTBOT_DIR;
	next.key_type = KEY_RSA_3072;
	fleet_account_set_config(a, &next);
	ck_assert_int_eq(acme_account_params(a)->key_type, KEY_RSA_3072);
	ck_assert_msg(acme_account_load(a, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(acme_account_url(a), CERTBOT_URL);
	ck_assert_int_eq(privkey_type(acme_account_key(a)), KEY_RSA_2048);
	acme_account_free(a);
}
END_TEST

static Suite *
fleet_account_suite(void)
{
	Suite *s = suite_create("fleet_account");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_load_nothing);
	tcase_add_test(tc, test_save_and_rollover);
	tcase_add_test(tc, test_budget_directory);
	tcase_add_test(tc, test_adopt_certbot);
	tcase_add_test(tc, test_adopt_unreadable);
	tcase_add_test(tc, test_stored_key_wins);
	tcase_add_test(tc, test_set_config);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(fleet_account_suite)
