/*
 * check_store.c - unit tests for store.c and store_state.c: the state
 * directory lock, account records, per-certificate state, order keys,
 * rejected and held certificates, and the sweep of temporaries a crash
 * left in the state directory.  The file writes under them are
 * check_fsutil.c's.  Each test works in its own mkdtemp() directory under
 * /tmp, removed by the teardown (testdir.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "fsutil.h"
#include "store.h"
#include "testdir.h"
#include "testutil.h"
#include "util.h"

/* ---- store_open and its lock ---- */

START_TEST(test_store_open_layout)
{
	static const char *const subs[] = {"", "/accounts", "/certs"};
	char err[512] = "", pid[32];
	char *state = tp("state/deeper");
	struct store *s = NULL;

	umask(022);
	ck_assert_msg(store_open(state, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(store_dir(s), state);
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		char *d = tp("state/deeper%s", subs[i]);
		ck_assert_msg(mode_of(d) == 0700, "%s: mode %03o", d, (unsigned)mode_of(d));
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	ck_assert_str_eq(slurp(tp("state/deeper/lock")), pid);
	store_close(s);
	store_close(NULL);
}
END_TEST

/* Forks a child that tries store_open(state); true if it failed with want. */
static bool
child_open_fails(const char *state, const char *want)
{
	pid_t child = fork();
	int status;

	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct store *c = NULL;
		char cerr[512] = "";
		_exit(store_open(state, &c, cerr, sizeof(cerr)) == -1 &&
		    (want == NULL || strcmp(cerr, want) == 0) ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

START_TEST(test_store_open_locked)
{
	char err[512] = "", want[512];
	char *state = tp("state");
	struct store *s = NULL, *s2 = NULL;

	ck_assert_int_eq(store_open(state, &s, err, sizeof(err)), 0);
	/* A second open file description conflicts even in the same process. */
	ck_assert_int_eq(store_open(state, &s2, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
	    "state directory %s is in use by another certfleetd (pid %ld)", state,
	    (long)getpid());
	ck_assert_str_eq(err, want);
	ck_assert_msg(child_open_fails(state, want),
	    "a forked child could take the lock (or got another message)");
	/* The failed attempts did not release it. */
	ck_assert_int_eq(store_open(state, &s2, err, sizeof(err)), -1);
	store_close(s);
	ck_assert_msg(store_open(state, &s2, err, sizeof(err)) == 0, "%s", err);
	ck_assert(child_open_fails(state, NULL));
	store_close(s2);
}
END_TEST

START_TEST(test_store_open_readonly)
{
	char err[512] = "";
	char *missing = tp("nonexistent"), *file = tp("plainfile"), *state = tp("state");
	struct store *s = NULL, *ro = NULL;
	struct cert_state st;

	ck_assert_int_eq(store_open_readonly(missing, &ro, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, missing) != NULL, "%s", err);
	ck_assert_int_eq(access(missing, F_OK), -1); /* not created */
	spew(file, "x");
	ck_assert_int_eq(store_open_readonly(file, &ro, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, file) && strstr(err, "not a directory"), "%s", err);

	/* Read-only use takes no lock: works beside the daemon. */
	ck_assert_int_eq(store_open(state, &s, err, sizeof(err)), 0);
	ck_assert_msg(store_open_readonly(state, &ro, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(store_dir(ro), state);
	ck_assert_int_eq(store_cert_load(ro, "none", &st, err, sizeof(err)), 0);
	/* ... and writes nothing through it. */
	ck_assert_int_eq(store_cert_save(ro, "none", &st, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "read-only") != NULL, "%s", err);
	ck_assert_int_eq(access(tp("state/certs/none"), F_OK), -1);
	cert_state_free(&st);
	store_close(ro);
	store_close(s);
}
END_TEST

/* ---- accounts ---- */

static struct store *
open_store(void)
{
	char err[512] = "";
	struct store *s = NULL;

	ck_assert_msg(store_open(tp("state"), &s, err, sizeof(err)) == 0, "%s", err);
	return s;
}

static void
assert_same_key(const privkey_t *a, const privkey_t *b)
{
	char *ja = own(privkey_jwk_json(a)), *jb = own(privkey_jwk_json(b));

	ck_assert(ja && jb);
	ck_assert_str_eq(ja, jb);
}

START_TEST(test_account_roundtrip)
{
	char err[512] = "";
	struct store *s = open_store();
	privkey_t *k = privkey_generate(KEY_EC_P384);
	struct account_record r = {0}, in;

	ck_assert_ptr_nonnull(k);
	/* Nothing stored: rc 0, every field NULL (whatever the caller left). */
	memset(&in, 0x5a, sizeof(in));
	ck_assert_int_eq(store_account_load(s, "sectigo", &in, err, sizeof(err)), 0);
	ck_assert(!in.url && !in.directory && !in.key);
	ck_assert_msg(store_account_save_key(s, "sectigo", k, err, sizeof(err)) == 0, "%s", err);
	/* Key alone: the URL is still unknown. */
	ck_assert_int_eq(store_account_load(s, "sectigo", &in, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(in.key);
	ck_assert_ptr_null(in.url);
	ck_assert_ptr_null(in.directory);
	account_record_free(&in);

	r.url = "https://acme.example/acct/17";
	r.directory = "https://acme.sectigo.com/v2/OV";
	ck_assert_msg(store_account_save(s, "sectigo", &r, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(store_account_load(s, "sectigo", &in, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(in.key);
	ck_assert_int_eq(privkey_type(in.key), KEY_EC_P384);
	assert_same_key(k, in.key);
	ck_assert_str_eq(in.url, r.url);
	ck_assert_str_eq(in.directory, r.directory);
	account_record_free(&in);
	account_record_free(&in); /* twice is harmless */
	account_record_free(NULL);
	ck_assert_uint_eq(mode_of(tp("state/accounts/sectigo/key.pem")), 0600);
	ck_assert_uint_eq(mode_of(tp("state/accounts/sectigo/account.json")), 0600);
	privkey_free(k);
	store_close(s);
}
END_TEST

START_TEST(test_account_corrupt)
{
	char err[512] = "";
	struct store *s = open_store();
	struct account_record in;
	char *jp = tp("state/accounts/acme/account.json"), *kp = tp("state/accounts/acme/key.pem");

	ck_assert_int_eq(mkdir(tp("state/accounts/acme"), 0700), 0);
	spew(jp, "{\"url\": \"https://x\", ");
	ck_assert_int_eq(store_account_load(s, "acme", &in, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, jp) != NULL, "message does not name %s: %s", jp, err);
	ck_assert_ptr_null(in.url);

	spew(jp, "{\"url\": \"https://x\"}");
	spew(kp, "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n");
	err[0] = '\0';
	ck_assert_int_eq(store_account_load(s, "acme", &in, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, kp) != NULL, "message does not name %s: %s", kp, err);
	ck_assert_ptr_null(in.key);
	ck_assert_ptr_null(in.url);
	store_close(s);
}
END_TEST

/* budget.json: nothing stored is not an error; a record comes back as
 * saved; a bad one is refused with the file named. */
START_TEST(test_account_budget)
{
	static const char *const bad[] = {
		"{\"new_orders\": [1]}",                            /* no version */
		"{\"v\": 2, \"new_orders\": [1]}",                  /* a later version */
		"{\"v\": 1, \"new_orders\": [1], \"paused_until\": \"soon\"}",
		"{\"v\": 1, \"paused_until\": 1800000000}",       /* a time is text */
		"{\"v\": 1, \"directory\": 7}",
		"{\"v\": 1, \"new_orders\": 1}",
	};
	char err[512] = "";
	struct store *s = open_store();
	time_t spent[3] = { 1795894427, 1795894430, 1795894431 }, *in = NULL, paused = 7;
	int n = 5;
	char *bp = tp("state/accounts/le/budget.json"), *dir = NULL;

	ck_assert_int_eq(store_account_load_budget(s, "le", &dir, &in, &n, &paused, err,
	    sizeof(err)), 0);
	ck_assert(in == NULL && n == 0 && paused == 0 && dir == NULL);
	ck_assert_msg(store_account_save_budget(s, "le", "https://ca.example/dir", spent, 3,
	    1795898000, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(mode_of(bp), 0600);
	ck_assert_int_eq(store_account_load_budget(s, "le", &dir, &in, &n, &paused, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(n, 3);
	ck_assert(in[0] == spent[0] && in[1] == spent[1] && in[2] == spent[2]);
	ck_assert(paused == 1795898000);
	ck_assert_str_eq(dir, "https://ca.example/dir");
	free(in);
	free(dir);
	/* No pause, no spend, no directory (as stop 16 wrote them). */
	ck_assert_int_eq(store_account_save_budget(s, "le", NULL, NULL, 0, 0, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(store_account_load_budget(s, "le", &dir, &in, &n, &paused, err,
	    sizeof(err)), 0);
	ck_assert(n == 0 && paused == 0 && dir == NULL);
	free(in);

	spew(bp, "{\"v\": 1, \"new_orders\": [1, \"x\"]}");
	ck_assert_int_eq(store_account_load_budget(s, "le", &dir, &in, &n, &paused, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, bp) && strstr(err, "new_orders[1]"), "%s", err);
	ck_assert(in == NULL && n == 0 && dir == NULL);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		spew(bp, bad[i]);
		ck_assert_msg(store_account_load_budget(s, "le", &dir, &in, &n, &paused, err,
		    sizeof(err)) == -1, "%s accepted", bad[i]);
		ck_assert_msg(strstr(err, bp) != NULL, "%s: %s", bad[i], err);
		ck_assert(in == NULL && n == 0 && paused == 0 && dir == NULL);
	}
	spew(bp, "[1, 2");
	ck_assert_int_eq(store_account_load_budget(s, "le", &dir, &in, &n, &paused, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not valid JSON") != NULL, "%s", err);
	ck_assert_int_eq(store_account_load_budget(s, "../x", &dir, &in, &n, &paused, err,
	    sizeof(err)), -1);
	store_close(s);
}
END_TEST

/* spew() for text with NUL bytes in it: len bytes of text. */
static void
spew_len(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* account.json's exact text, and the reading rules it has always had:
 * member names in any case, whitespace (bytes up to 0x20, NUL included)
 * after the object accepted, anything else after it refused. */
START_TEST(test_account_file)
{
	static const char head[] = "{\n\t\"url\":\t\"https://acme.example/acct/17\",\n"
	    "\t\"directory\":\t\"https://acme.example/dir\",\n"
	    "\t\"deactivated\":\t\"2026-11-28T19:33:47Z\",\n\t\"saved\":\t\"";
	static const char trailing_ok[] = "{\"url\": \"https://x\"}\n\t\r \0\001\n";
	static const char trailing_bad[] = "{\"url\": \"https://x\"}\n\0}";
	char err[512] = "", want[600];
	struct store *s = open_store();
	struct account_record r = {.url = "https://acme.example/acct/17",
	    .directory = "https://acme.example/dir", .deactivated = 1795894427}, in;
	char *jp = tp("state/accounts/acme/account.json"), *text;
	time_t saved = 0;

	ck_assert_msg(store_account_save(s, "acme", &r, err, sizeof(err)) == 0, "%s", err);
	text = slurp(jp);
	ck_assert_msg(strncmp(text, head, strlen(head)) == 0, "%s", text);
	/* "saved" is the time of writing, then the end of the object. */
	ck_assert_uint_eq(strlen(text), strlen(head) + 20 + 3);
	ck_assert_str_eq(text + strlen(head) + 20, "\"\n}");
	text[strlen(head) + 20] = '\0';
	ck_assert_int_eq(time_parse_rfc3339(text + strlen(head), &saved), 0);
	ck_assert(saved > 1795894427);

	spew(jp, "{\"URL\": \"https://u\", \"Directory\": \"https://d\","
	    " \"DEACTIVATED\": \"2026-11-28T19:33:47Z\"}");
	ck_assert_msg(store_account_load(s, "acme", &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert_pstr_eq(in.url, "https://u");
	ck_assert_pstr_eq(in.directory, "https://d");
	ck_assert_time_eq(in.deactivated, 1795894427);
	account_record_free(&in);

	spew_len(jp, trailing_ok, sizeof(trailing_ok) - 1);
	ck_assert_msg(store_account_load(s, "acme", &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert_pstr_eq(in.url, "https://x");
	account_record_free(&in);

	snprintf(want, sizeof(want), "%s: not valid JSON", jp);
	spew_len(jp, trailing_bad, sizeof(trailing_bad) - 1);
	err[0] = '\0';
	ck_assert_int_eq(store_account_load(s, "acme", &in, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(in.url);
	store_close(s);
}
END_TEST

START_TEST(test_account_unsafe_names)
{
	static const char *const bad[] = {"../x", ".x", "a/b", "", "..", "."};
	char err[512];
	struct store *s = open_store();
	privkey_t *k = privkey_generate(KEY_EC_P256);
	struct account_record r = {.url = "https://u", .directory = "https://d"}, in;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		ck_assert_msg(store_account_save_key(s, bad[i], k, err, sizeof(err)) == -1,
		    "saved a key under '%s'", bad[i]);
		ck_assert(err[0] != '\0');
		err[0] = '\0';
		ck_assert_int_eq(store_account_save(s, bad[i], &r, err, sizeof(err)), -1);
		ck_assert(err[0] != '\0');
		err[0] = '\0';
		ck_assert_int_eq(store_account_load(s, bad[i], &in, err, sizeof(err)), -1);
		ck_assert(err[0] != '\0');
		ck_assert_ptr_null(in.key);
	}
	/* Nothing escaped the accounts directory. */
	ck_assert_int_eq(access(tp("state/x"), F_OK), -1);
	ck_assert_int_eq(access(tp("state/accounts/a"), F_OK), -1);
	ck_assert_int_eq(count_prefixed(tmpdir, "x"), 0);
	privkey_free(k);
	store_close(s);
}
END_TEST

/* ---- cert_state ---- */

static void
fill_state(struct cert_state *st)
{
	cert_state_init(st);
	strlist_add(&st->names, "www.example.com");
	strlist_add(&st->names, "example.com");
	strlist_add(&st->names, "192.0.2.7");
	st->key_type = KEY_RSA_3072;
	st->account = xstrdup("sectigo-ov");
	st->order_url = xstrdup("https://acme.example/order/99");
	st->order_finalized = true;
	st->order_started = 1795894427;
	st->version = 7;
	st->serial = xstrdup("04A1B2C3D4E5F60718293A4B5C6D7E8F");
	st->not_before = 1790000000;
	st->not_after = 1807000000;
	st->cert_id = xstrdup("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	st->last_success = 1790000100;
	st->last_attempt = 1795894500;
	st->failures = 3;
	st->last_error = xstrdup("finalize: urn:ietf:params:acme:error:rateLimited: slow down");
	st->last_problem = xstrdup("{\"type\":\"urn:ietf:params:acme:error:rateLimited\","
	    "\"detail\":\"too many \\\"orders\\\"\",\"status\":429,"
	    "\"subproblems\":[{\"type\":\"urn:ietf:params:acme:error:caa\"}]}");
	st->next_attempt = 1795898100;
	st->ari_start = 1801000000;
	st->ari_end = 1801086400;
	st->ari_checked = 1795890000;
	st->revoked = true;
}

START_TEST(test_cert_state_roundtrip)
{
	char err[512] = "";
	struct store *s = open_store();
	struct cert_state st, in;

	/* No file yet: an empty state and rc 0. */
	memset(&in, 0x5a, sizeof(in));
	ck_assert_int_eq(store_cert_load(s, "web", &in, err, sizeof(err)), 0);
	ck_assert_int_eq(in.key_type, -1);
	ck_assert(in.names.n == 0 && !in.names.v && !in.account && !in.last_problem);
	ck_assert(in.version == 0 && in.not_after == 0 && !in.revoked);

	fill_state(&st);
	ck_assert_msg(store_cert_save(s, "web", &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(store_cert_load(s, "web", &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(in.names.n, 3);
	ck_assert_str_eq(in.names.v[0], "www.example.com");
	ck_assert_str_eq(in.names.v[1], "example.com");
	ck_assert_str_eq(in.names.v[2], "192.0.2.7");
	ck_assert_int_eq(in.key_type, KEY_RSA_3072);
	ck_assert_str_eq(in.account, st.account);
	ck_assert_str_eq(in.order_url, st.order_url);
	ck_assert(in.order_finalized);
	ck_assert_time_eq(in.order_started, st.order_started);
	ck_assert_int_eq(in.version, 7);
	ck_assert_str_eq(in.serial, st.serial);
	ck_assert_time_eq(in.not_before, st.not_before);
	ck_assert_time_eq(in.not_after, st.not_after);
	ck_assert_str_eq(in.cert_id, st.cert_id);
	ck_assert_time_eq(in.last_success, st.last_success);
	ck_assert_time_eq(in.last_attempt, st.last_attempt);
	ck_assert_int_eq(in.failures, 3);
	ck_assert_str_eq(in.last_error, st.last_error);
	ck_assert_pstr_eq(in.last_problem, st.last_problem);
	ck_assert_time_eq(in.next_attempt, st.next_attempt);
	ck_assert_time_eq(in.ari_start, st.ari_start);
	ck_assert_time_eq(in.ari_end, st.ari_end);
	ck_assert_time_eq(in.ari_checked, st.ari_checked);
	ck_assert(in.revoked);
	cert_state_free(&in);
	ck_assert_uint_eq(mode_of(tp("state/certs/web/state.json")), 0600);

	/* Saving a cleared state must clear every field on disk too. */
	cert_state_free(&st);
	ck_assert_int_eq(st.key_type, -1);
	st.key_type = KEY_EC_P256; /* 0 is a real key type, not "none" */
	ck_assert_int_eq(store_cert_save(s, "web", &st, err, sizeof(err)), 0);
	ck_assert_int_eq(store_cert_load(s, "web", &in, err, sizeof(err)), 0);
	ck_assert_int_eq(in.key_type, KEY_EC_P256);
	ck_assert_uint_eq(in.names.n, 0);
	ck_assert(!in.account && !in.order_url && !in.serial && !in.cert_id);
	ck_assert(!in.last_error && !in.last_problem);
	ck_assert(!in.order_finalized && !in.revoked);
	ck_assert_int_eq(in.version, 0);
	ck_assert_int_eq(in.failures, 0);
	ck_assert_time_eq(in.order_started | in.not_before | in.not_after | in.last_success |
	    in.last_attempt | in.next_attempt | in.ari_start | in.ari_end | in.ari_checked, 0);
	cert_state_free(&in);
	cert_state_free(&st);
	cert_state_free(NULL);
	store_close(s);
}
END_TEST

START_TEST(test_cert_state_corrupt)
{
	static const char *const bad[] = {"{\"names\": [\"a\"", "", "[1, 2]", "\"text\"",
	    "{} trailing"};
	char err[512] = "", want[600];
	struct store *s = open_store();
	struct cert_state in;
	char *p = tp("state/certs/broken/state.json");

	ck_assert_int_eq(mkdir(tp("state/certs/broken"), 0700), 0);
	snprintf(want, sizeof(want), "%s: not valid JSON", p);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		spew(p, bad[i]);
		err[0] = '\0';
		ck_assert_msg(store_cert_load(s, "broken", &in, err, sizeof(err)) == -1,
		    "accepted \"%s\"", bad[i]);
		ck_assert_str_eq(err, want);
		ck_assert_int_eq(in.key_type, -1);
		ck_assert_uint_eq(in.names.n, 0);
	}
	/* A directory where the file should be is unreadable, not "absent". */
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	err[0] = '\0';
	ck_assert_int_eq(store_cert_load(s, "broken", &in, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, p) != NULL, "%s", err);

	err[0] = '\0';
	ck_assert_int_eq(store_cert_load(s, "../accounts", &in, err, sizeof(err)), -1);
	ck_assert(err[0] != '\0');
	ck_assert_int_eq(store_cert_save(s, "a/b", &in, err, sizeof(err)), -1);
	store_close(s);
}
END_TEST

START_TEST(test_cert_state_unknown_fields)
{
	char err[512] = "";
	struct store *s = open_store();
	struct cert_state in;

	ck_assert_int_eq(mkdir(tp("state/certs/future"), 0700), 0);
	spew(tp("state/certs/future/state.json"),
	    "{\"v\": 9, \"names\": [\"a.example\", 5, \"b.example\"], \"colour\": \"blue\","
	    " \"nested\": {\"version\": 99}, \"version\": 4, \"key_type\": 2,"
	    " \"not_after\": \"2026-11-28T19:33:47Z\", \"last_problem\": \"not an object\","
	    " \"revoked\": false, \"list\": [1, {\"x\": null}]}");
	ck_assert_msg(store_cert_load(s, "future", &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(in.names.n, 2);
	ck_assert_str_eq(in.names.v[0], "a.example");
	ck_assert_str_eq(in.names.v[1], "b.example");
	ck_assert_int_eq(in.version, 4);
	ck_assert_int_eq(in.key_type, KEY_RSA_2048);
	ck_assert_time_eq(in.not_after, 1795894427LL);
	ck_assert_ptr_null(in.last_problem);
	ck_assert(!in.revoked);
	cert_state_free(&in);
	store_close(s);
}
END_TEST

/* Every field set, written exactly as tests/data/store/state-full.json
 * (cJSON's tab-indented print, this key order); that file read back and
 * saved again gives the same bytes. */
START_TEST(test_cert_state_fixture)
{
	char err[512] = "";
	struct store *s = open_store();
	struct cert_state st, in;
	char *want = slurp(TEST_DATA_DIR "/store/state-full.json");

	fill_state(&st);
	st.revoked_serial = xstrdup("03F1E2D3C4B5A697");
	st.revoked_at = 1795000000;
	st.revoked_reason = 4;
	st.revoked_no_reissue = true;
	st.held_serial = xstrdup("05AABBCCDDEEFF00");
	st.held_not_after = 1810000000;
	st.held_since = 1795894600;
	ck_assert_msg(store_cert_save(s, "web", &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(slurp(tp("state/certs/web/state.json")), want);

	ck_assert_int_eq(mkdir(tp("state/certs/copy"), 0700), 0);
	spew(tp("state/certs/copy/state.json"), want);
	ck_assert_msg(store_cert_load(s, "copy", &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert_pstr_eq(in.revoked_serial, st.revoked_serial);
	ck_assert_time_eq(in.revoked_at, st.revoked_at);
	ck_assert_int_eq(in.revoked_reason, 4);
	ck_assert(in.revoked_no_reissue);
	ck_assert_pstr_eq(in.held_serial, st.held_serial);
	ck_assert_time_eq(in.held_not_after, st.held_not_after);
	ck_assert_time_eq(in.held_since, st.held_since);
	ck_assert_pstr_eq(in.last_problem, st.last_problem);
	ck_assert_msg(store_cert_save(s, "copy", &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(slurp(tp("state/certs/copy/state.json")), want);
	cert_state_free(&in);
	cert_state_free(&st);
	store_close(s);
}
END_TEST

/* What may follow the object: bytes up to 0x20 (NUL too), nothing else. */
START_TEST(test_cert_state_trailing)
{
	static const char ok[] = "\xef\xbb\xbf {\"version\": 2}\n\t\r \0\037\n";
	static const char bad[] = "{\"version\": 2}\n\0x";
	char err[512] = "", want[600];
	struct store *s = open_store();
	struct cert_state in;
	char *p = tp("state/certs/t/state.json");

	ck_assert_int_eq(mkdir(tp("state/certs/t"), 0700), 0);
	spew_len(p, ok, sizeof(ok) - 1);
	ck_assert_msg(store_cert_load(s, "t", &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(in.version, 2);
	cert_state_free(&in);

	spew_len(p, bad, sizeof(bad) - 1);
	snprintf(want, sizeof(want), "%s: not valid JSON", p);
	err[0] = '\0';
	ck_assert_int_eq(store_cert_load(s, "t", &in, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(in.version, 0);
	store_close(s);
}
END_TEST

/* ---- order keys, rejected certificates, listing ---- */

START_TEST(test_order_key)
{
	char err[512] = "";
	struct store *s = open_store();
	privkey_t *k = privkey_generate(KEY_EC_P256), *in = NULL;
	char *p = tp("state/certs/mail/order-key.pem");

	ck_assert_ptr_null(store_order_key_load(s, "mail"));
	ck_assert_msg(store_order_key_save(s, "mail", k, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(mode_of(p), 0600);
	in = store_order_key_load(s, "mail");
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(privkey_type(in), KEY_EC_P256);
	assert_same_key(k, in);
	privkey_free(in);

	store_order_key_remove(s, "mail");
	ck_assert_int_eq(access(p, F_OK), -1);
	ck_assert_ptr_null(store_order_key_load(s, "mail"));
	store_order_key_remove(s, "mail"); /* already gone: harmless */
	store_order_key_remove(s, "../mail");

	ck_assert_int_eq(store_order_key_save(s, "../mail", k, err, sizeof(err)), -1);
	ck_assert_ptr_null(store_order_key_load(s, "../certs/mail"));
	spew(p, "garbage");
	ck_assert_ptr_null(store_order_key_load(s, "mail"));
	privkey_free(k);
	store_close(s);
}
END_TEST

START_TEST(test_keep_rejected)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	struct store *s = open_store();
	char *dir = tp("state/certs/shop/"), *p1, *p2;

	umask(0);
	p1 = own(store_keep_rejected(s, "shop", pem, sizeof(pem) - 1));
	ck_assert_ptr_nonnull(p1);
	ck_assert_msg(strncmp(p1, dir, strlen(dir)) == 0, "%s not under %s", p1, dir);
	ck_assert_msg(strncmp(p1 + strlen(dir), "rejected-", 9) == 0, "%s", p1);
	ck_assert_uint_eq(mode_of(p1), 0600);
	ck_assert_str_eq(slurp(p1), pem);

	/* A second rejection (same second, most likely) keeps the first. */
	p2 = own(store_keep_rejected(s, "shop", "other", 5));
	ck_assert_ptr_nonnull(p2);
	ck_assert_str_ne(p1, p2);
	ck_assert_str_eq(slurp(p1), pem);
	ck_assert_str_eq(slurp(p2), "other");
	ck_assert_ptr_null(store_keep_rejected(s, "../shop", pem, sizeof(pem) - 1));
	store_close(s);
}
END_TEST

START_TEST(test_held)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	char err[512] = "", *chain = NULL, *moved;
	struct store *s = open_store();
	privkey_t *k = privkey_generate(KEY_EC_P384), *in = NULL;
	char *cp = tp("state/certs/web/held.pem"), *kp = tp("state/certs/web/held-key.pem");
	size_t len = 99;

	/* Nothing held yet. */
	ck_assert_int_eq(store_held_load(s, "web", &chain, &len, &in), 0);
	ck_assert(chain == NULL && in == NULL && len == 0);

	umask(0);
	ck_assert_msg(store_held_save(s, "web", pem, sizeof(pem) - 1, k, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_uint_eq(mode_of(cp), 0600);
	ck_assert_uint_eq(mode_of(kp), 0600);
	ck_assert_int_eq(count_prefixed(tp("state/certs/web"), ".held"), 0);
	ck_assert_int_eq(store_held_load(s, "web", &chain, &len, &in), 1);
	ck_assert_str_eq(chain, pem);
	ck_assert_uint_eq(len, sizeof(pem) - 1);
	ck_assert_int_eq(privkey_type(in), KEY_EC_P384);
	assert_same_key(k, in);
	free(chain);
	privkey_free(in);

	/* A second save replaces the pair. */
	ck_assert_int_eq(store_held_save(s, "web", "other", 5, k, err, sizeof(err)), 0);
	ck_assert_str_eq(slurp(cp), "other");

	/* A chain whose key is gone is not usable: -1, nothing returned. */
	ck_assert_int_eq(unlink(kp), 0);
	ck_assert_int_eq(store_held_load(s, "web", &chain, &len, &in), -1);
	ck_assert(chain == NULL && in == NULL);

	/* Removal takes both; a second one is harmless. */
	ck_assert_int_eq(store_held_save(s, "web", pem, sizeof(pem) - 1, k, err, sizeof(err)), 0);
	store_held_remove(s, "web");
	ck_assert_int_eq(access(cp, F_OK), -1);
	ck_assert_int_eq(access(kp, F_OK), -1);
	store_held_remove(s, "web");
	ck_assert_int_eq(store_held_load(s, "web", &chain, &len, &in), 0);

	/* Moved aside, never deleted: twice in the same second keeps both. */
	ck_assert_ptr_null(store_held_move_aside(s, "web"));
	ck_assert_int_eq(store_held_save(s, "web", pem, sizeof(pem) - 1, k, err, sizeof(err)), 0);
	moved = own(store_held_move_aside(s, "web"));
	ck_assert_ptr_nonnull(moved);
	ck_assert_msg(strstr(moved, "/certs/web/unusable-") != NULL, "%s", moved);
	ck_assert_str_eq(slurp(moved), pem);
	ck_assert_int_eq(access(own(xasprintf("%.*s-key.pem", (int)strlen(moved) - 4, moved)),
	    F_OK), 0);
	ck_assert_int_eq(access(cp, F_OK), -1);
	ck_assert_int_eq(access(kp, F_OK), -1);
	ck_assert_int_eq(store_held_save(s, "web", "second", 6, k, err, sizeof(err)), 0);
	ck_assert_str_ne(own(store_held_move_aside(s, "web")), moved);
	ck_assert_int_eq(count_prefixed(tp("state/certs/web"), "unusable-"), 4);
	ck_assert_int_eq(store_held_load(s, "web", &chain, &len, &in), 0);

	/* Unsafe names reach nothing outside the store. */
	ck_assert_int_eq(store_held_save(s, "../web", pem, sizeof(pem) - 1, k, err, sizeof(err)),
	    -1);
	ck_assert_int_eq(store_held_load(s, "../web", &chain, &len, &in), 0);
	ck_assert_ptr_null(store_held_move_aside(s, "../web"));
	privkey_free(k);
	store_close(s);
}
END_TEST

START_TEST(test_held_state)
{
	char err[512] = "";
	struct store *s = open_store();
	struct cert_state st, in;

	/* No state file: on_disk says so (the held copy is looked for). */
	ck_assert_int_eq(store_cert_load(s, "web", &in, err, sizeof(err)), 0);
	ck_assert(!in.on_disk);
	cert_state_free(&in);
	cert_state_init(&st);
	st.held_check = true;
	ck_assert_int_eq(store_cert_save(s, "web", &st, err, sizeof(err)), 0);
	ck_assert_int_eq(store_cert_load(s, "web", &in, err, sizeof(err)), 0);
	ck_assert(in.on_disk);
	ck_assert(in.held_check);
	cert_state_free(&in);
	st.held_check = false;
	st.held_serial = xstrdup("0A1B2C");
	st.held_not_after = 1900000000;
	st.held_since = 1800000000;
	ck_assert_msg(store_cert_save(s, "web", &st, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(store_cert_load(s, "web", &in, err, sizeof(err)) == 0, "%s", err);
	ck_assert_pstr_eq(in.held_serial, "0A1B2C");
	ck_assert(!in.held_check);
	ck_assert_time_eq(in.held_not_after, 1900000000);
	ck_assert_time_eq(in.held_since, 1800000000);
	cert_state_free(&in);
	ck_assert_ptr_null(in.held_serial);
	cert_state_free(&st);
	ck_assert_int_eq(store_cert_save(s, "web", &st, err, sizeof(err)), 0);
	ck_assert_int_eq(store_cert_load(s, "web", &in, err, sizeof(err)), 0);
	ck_assert_ptr_null(in.held_serial);
	ck_assert_time_eq(in.held_not_after | in.held_since, 0);
	cert_state_free(&in);
	store_close(s);
}
END_TEST

START_TEST(test_cert_list)
{
	char err[512] = "";
	struct store *s = open_store();
	struct strlist l = {0}, want = {0};
	struct cert_state st;
	privkey_t *k = privkey_generate(KEY_EC_P256);

	ck_assert_int_eq(store_cert_list(s, &l), 0);
	ck_assert_uint_eq(l.n, 0);
	cert_state_init(&st);
	ck_assert_int_eq(store_cert_save(s, "alpha", &st, err, sizeof(err)), 0);
	ck_assert_int_eq(store_cert_save(s, "beta", &st, err, sizeof(err)), 0);
	ck_assert_int_eq(store_order_key_save(s, "gamma", k, err, sizeof(err)), 0);
	privkey_free(k);
	/* Neither a stray file nor a hidden directory is a certificate. */
	spew(tp("state/certs/notes.txt"), "x");
	ck_assert_int_eq(mkdir(tp("state/certs/.trash"), 0700), 0);

	ck_assert_int_eq(store_cert_list(s, &l), 0);
	strlist_add(&want, "alpha");
	strlist_add(&want, "beta");
	strlist_add(&want, "gamma");
	ck_assert_uint_eq(l.n, 3);
	ck_assert(strlist_equal_sorted(&l, &want));
	strlist_free(&l);
	strlist_free(&want);
	store_close(s);
}
END_TEST

/* ---- temporaries left by a crash ---- */

/* A child killed in the middle of atomic_write_file() (SIGXFSZ at its first
 * byte past the file size limit, before it can clean up) leaves the real
 * temporary behind, whatever name atomic_write_file_ex() gives it. */
static void
crash_in_write(const char *path)
{
	pid_t child = fork();
	int status;

	ck_assert_int_ge(child, 0);
	if (child == 0) {
		struct rlimit one = { 1, 1 }, none = { 0, 0 };
		char err[256], big[4096];

		memset(big, 'k', sizeof(big));
		signal(SIGXFSZ, SIG_DFL);
		setrlimit(RLIMIT_CORE, &none);
		setrlimit(RLIMIT_FSIZE, &one);
		atomic_write_file(path, big, sizeof(big), 0600, (uid_t)-1, (gid_t)-1, err,
		    sizeof(err));
		_exit(0);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ, "status %d", status);
}

/* What daemon_sweep.c does with the walk, all at once. */
static unsigned
sweep_store(struct store *s)
{
	struct store_walk *w = store_walk_new(s);
	const char *dir;
	unsigned n = 0;

	while ((dir = store_walk_next(w)) != NULL)
		n += sweep_atomic_temps(dir);
	store_walk_free(w);
	return n;
}

START_TEST(test_sweep_temps)
{
	static const char *const decoys[] = { "certs/w/state.json.tmp.0123456789ab",
		"certs/w/.state.json.tmp.0123456789AB", "certs/w/.state.json.tmp.012345",
		"certs/w/.notes", "accounts/ca/.key.pem.tmp", "certs/w/state.json" };
	char err[512] = "";
	struct store *s = NULL, *ro = NULL;

	ck_assert_msg(store_open(tp("state"), &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(mkdir_p(tp("state/certs/w"), 0700), 0);
	ck_assert_int_eq(mkdir_p(tp("state/accounts/ca"), 0700), 0);
	crash_in_write(tp("state/certs/w/state.json"));
	crash_in_write(tp("state/accounts/ca/key.pem"));
	ck_assert_int_eq(count_prefixed(tp("state/certs/w"), ".state.json.tmp."), 1);
	ck_assert_int_eq(count_prefixed(tp("state/accounts/ca"), ".key.pem.tmp."), 1);
	spew(tp("state/.lock.tmp.a1b2c3d4e5f6"), "x");
	for (size_t i = 0; i < ARRAY_SIZE(decoys); i++)
		spew(tp("state/%s", decoys[i]), "keep");
	/* Our names, but not files: nothing we would have made. */
	ck_assert_int_eq(mkdir(tp("state/certs/w/.d.tmp.0123456789ab"), 0700), 0);
	ck_assert_int_eq(symlink("state.json", tp("state/certs/w/.l.tmp.0123456789ab")), 0);

	/* A read-only user (certfleetctl) never sweeps: a daemon may be writing. */
	ck_assert_msg(store_open_readonly(tp("state"), &ro, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(sweep_store(ro), 0);
	store_close(ro);
	ck_assert_uint_eq(sweep_store(s), 3);
	/* The crash's temporary is gone, the two look-alike decoys stay. */
	ck_assert_int_eq(count_prefixed(tp("state/certs/w"), ".state.json.tmp."), 2);
	ck_assert_int_eq(count_prefixed(tp("state/accounts/ca"), ".key.pem.tmp."), 0);
	ck_assert_int_eq(access(tp("state/.lock.tmp.a1b2c3d4e5f6"), F_OK), -1);
	for (size_t i = 0; i < ARRAY_SIZE(decoys); i++)
		ck_assert_str_eq(slurp(tp("state/%s", decoys[i])), "keep");
	ck_assert_int_eq(access(tp("state/certs/w/.d.tmp.0123456789ab"), F_OK), 0);
	ck_assert_int_eq(access(tp("state/certs/w/.l.tmp.0123456789ab"), F_OK), 0);
	ck_assert_uint_eq(sweep_store(s), 0);
	store_close(s);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("open");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_store_open_layout);
	tcase_add_test(tc, test_store_open_locked);
	tcase_add_test(tc, test_store_open_readonly);
	suite_add_tcase(s, tc);

	tc = tcase_create("records");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_account_roundtrip);
	tcase_add_test(tc, test_account_corrupt);
	tcase_add_test(tc, test_account_budget);
	tcase_add_test(tc, test_account_file);
	tcase_add_test(tc, test_account_unsafe_names);
	tcase_add_test(tc, test_cert_state_roundtrip);
	tcase_add_test(tc, test_cert_state_corrupt);
	tcase_add_test(tc, test_cert_state_unknown_fields);
	tcase_add_test(tc, test_cert_state_fixture);
	tcase_add_test(tc, test_cert_state_trailing);
	tcase_add_test(tc, test_order_key);
	tcase_add_test(tc, test_keep_rejected);
	tcase_add_test(tc, test_held);
	tcase_add_test(tc, test_held_state);
	tcase_add_test(tc, test_cert_list);
	suite_add_tcase(s, tc);

	tc = tcase_create("sweep");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sweep_temps);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(store_suite)
