/*
 * check_acme_account.c - unit tests for account registration and key
 * rollover (acme_account.c, acme_ops.c) through acme.h, against the
 * scripted CA of fake_ca.h: External Account Binding, reuse of a stored
 * key and URL, onlyReturnExisting recovery of a lost URL, and a key
 * rollover whose keyChange is answered or whose answer is lost (then the
 * recheck asks the CA which key it has, in this run or after a restart);
 * and log once: an account failure with several certificates waiting on
 * it is logged once, by the account.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <ev.h>

#include "acme.h"
#include "b64.h"
#include "config.h"
#include "fake_ca.h"
#include "store.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"

#define CT_JSON "Content-Type: application/json\r\n"
#define CT_PROBLEM "Content-Type: application/problem+json\r\n"
#define NO_ACCOUNT "{\"type\":\"urn:ietf:params:acme:error:accountDoesNotExist\"," \
	"\"detail\":\"no account for this key\"}"
#define HMAC_KEY "certfleet-test-hmac-key-32-bytes"
#define EAB_LINES "    eab: {kid: kid-1, hmac_key: Y2VydGZsZWV0LXRlc3QtaG1hYy1rZXktMzItYnl0ZXM}\n"
#define CERTS "  - {name: web, account: ca, domains: [a.example]}\n"
#define CERTS_TWO CERTS "  - {name: api, account: ca, domains: [b.example]}\n"

static struct fake_env *fx;
static bool ready_done, ready_ok;
static char *ready_error;

static void
setup_eab(void)
{
	fx = fake_env_new(EAB_LINES, CERTS);
	ready_done = ready_ok = false;
	ready_error = NULL;
}

static void
teardown(void)
{
	free(ready_error);
	fake_env_free(fx);
	fx = NULL;
}

static void
ready_cb(bool ok, const char *error, void *arg)
{
	(void)arg;
	ready_done = true;
	ready_ok = ok;
	free(ready_error);
	ready_error = xstrdup(error);
	ev_break(fx->loop, EVBREAK_ALL);
}

/* Waits for the account; asserts it got ready. */
static void
wait_ready(void)
{
	char *dump;

	ready_done = false;
	(void)acme_account_when_ready(fx->acct, ready_cb, NULL);
	ck_assert(test_run_loop(fx->loop, 20));
	dump = fake_ca_dump(fx->ca);
	ck_assert_msg(ready_done && ready_ok, "not ready: %s; requests: %s", ready_error, dump);
	ck_assert_msg(fake_ca_unmatched(fx->ca) == 0, "unscripted requests: %s", dump);
	free(dump);
}

static char *
base_url(const char *path)
{
	return xasprintf("%s%s", fake_ca_base(fx->ca), path);
}

/* Stores an account key and, when url_path is given, its URL. */
static privkey_t *
store_account(const char *url_path)
{
	privkey_t *k = privkey_generate(KEY_EC_P256);
	struct account_record rec = {0};
	char err[256] = "";

	ck_assert_int_eq(store_account_save_key(fx->store, "ca", k, err, sizeof(err)), 0);
	if (url_path != NULL) {
		rec.url = base_url(url_path);
		rec.directory = (char *)fake_ca_directory_url(fx->ca);
		ck_assert_int_eq(store_account_save(fx->store, "ca", &rec, err, sizeof(err)), 0);
		free(rec.url);
	}
	return k;
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

/* True when JSON text js holds the same JSON as the key's JWK. */
static bool
json_is_jwk(const cJSON *js, const privkey_t *k)
{
	char *jwk = privkey_jwk_json(k);
	cJSON *want = cJSON_Parse(jwk);
	bool eq = cJSON_Compare(js, want, true);

	cJSON_Delete(want);
	free(jwk);
	return eq;
}

static char *
decoded_member(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	unsigned char *out = NULL;
	size_t len = 0;
	char *s;

	ck_assert_msg(cJSON_IsString(v), "no %s", key);
	ck_assert_int_eq(b64url_decode(v->valuestring, &out, &len), 0);
	s = xstrndup((const char *)out, len);
	free(out);
	return s;
}

static const char *
str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The stored account record (key, URL). */
static void
load_record(struct account_record *rec)
{
	char err[256] = "";

	memset(rec, 0, sizeof(*rec));
	ck_assert_int_eq(store_account_load(fx->store, "ca", rec, err, sizeof(err)), 0);
}

START_TEST(test_eab_registration)
{
	const struct fake_request *r;
	cJSON *pay, *eab, *eprot, *ejwk;
	char *prot_s, *pay_s, *input, *url;
	unsigned char mac[64], *sig = NULL;
	size_t maclen = 0, siglen = 0;
	struct account_record rec;

	fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 201, CT_JSON "Location: $B/acct/9\r\n",
	    "{\"status\":\"valid\"}");
	wait_ready();
	/* No key stored: straight to registration, no lookup. */
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/acct/new"), 1);
	ck_assert_uint_eq(acme_account_counters(fx->acct)->new_account, 1);
	r = fake_ca_find(fx->ca, "POST", "/acct/new", 0);
	ck_assert(r->has_jwk);
	ck_assert_ptr_null(r->kid);
	pay = cJSON_Parse(r->payload);
	ck_assert_ptr_nonnull(pay);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(pay, "onlyReturnExisting"));
	ck_assert_ptr_nonnull(strstr(r->payload, "mailto:ops@example.com"));

	/* The binding: a JWS MACed with the EAB key over the account's JWK,
	 * for the newAccount URL. */
	eab = cJSON_GetObjectItemCaseSensitive(pay, "externalAccountBinding");
	ck_assert_ptr_nonnull(eab);
	prot_s = decoded_member(eab, "protected");
	pay_s = decoded_member(eab, "payload");
	eprot = cJSON_Parse(prot_s);
	ck_assert_ptr_nonnull(eprot);
	ck_assert_str_eq(str_of(eprot, "alg"), "HS256");
	ck_assert_str_eq(str_of(eprot, "kid"), "kid-1");
	url = base_url("/acct/new");
	ck_assert_str_eq(str_of(eprot, "url"), url);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(eprot, "nonce"));
	ejwk = cJSON_Parse(pay_s);
	ck_assert(json_is_jwk(ejwk, acme_account_key(fx->acct)));
	input = xasprintf("%s.%s", str_of(eab, "protected"), str_of(eab, "payload"));
	ck_assert_int_eq(crypto_hmac(HMAC_HS256, HMAC_KEY, strlen(HMAC_KEY), input,
	    strlen(input), mac, &maclen), 0);
	ck_assert_int_eq(b64url_decode(str_of(eab, "signature"), &sig, &siglen), 0);
	ck_assert_uint_eq(siglen, maclen);
	ck_assert(memcmp(sig, mac, maclen) == 0);

	/* Key and URL stored for the next start. */
	free(url);
	url = base_url("/acct/9");
	ck_assert_str_eq(acme_account_url(fx->acct), url);
	load_record(&rec);
	ck_assert_str_eq(rec.url, url);
	ck_assert(same_key(rec.key, acme_account_key(fx->acct)));
	account_record_free(&rec);
	free(url);
	free(sig);
	free(input);
	free(prot_s);
	free(pay_s);
	cJSON_Delete(ejwk);
	cJSON_Delete(eprot);
	cJSON_Delete(pay);
}
END_TEST

START_TEST(test_stored_key_and_url)
{
	privkey_t *k = store_account("/acct/3");
	char *url = base_url("/acct/3");

	wait_ready();
	/* Only the directory: nothing signed, no newAccount. */
	ck_assert_uint_eq(fake_ca_nrequests(fx->ca), 1);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "GET", "/dir"), 1);
	ck_assert_uint_eq(acme_account_counters(fx->acct)->post, 0);
	ck_assert_str_eq(acme_account_url(fx->acct), url);
	ck_assert(same_key(acme_account_key(fx->acct), k));
	/* And once ready, a second waiter sends nothing either. */
	wait_ready();
	ck_assert_uint_eq(fake_ca_nrequests(fx->ca), 1);
	privkey_free(k);
	free(url);
}
END_TEST

START_TEST(test_only_return_existing)
{
	privkey_t *k = store_account(NULL);
	const struct fake_request *r;
	struct account_record rec;
	char *url = base_url("/acct/5");
	cJSON *pay;

	/* A stored key whose URL was lost: looked up, never registered again
	 * (a single-use EAB credential would be refused). */
	fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 200, CT_JSON "Location: $B/acct/5\r\n",
	    "{\"status\":\"valid\"}");
	wait_ready();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/acct/new"), 1);
	ck_assert_uint_eq(acme_account_counters(fx->acct)->new_account, 0);
	r = fake_ca_find(fx->ca, "POST", "/acct/new", 0);
	pay = cJSON_Parse(r->payload);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pay, "onlyReturnExisting")));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(pay, "externalAccountBinding"));
	ck_assert(r->has_jwk);
	ck_assert(same_key(acme_account_key(fx->acct), k));
	ck_assert_str_eq(acme_account_url(fx->acct), url);
	load_record(&rec);
	ck_assert_str_eq(rec.url, url);
	account_record_free(&rec);
	cJSON_Delete(pay);
	privkey_free(k);
	free(url);
}
END_TEST

START_TEST(test_lookup_then_register)
{
	privkey_t *k = store_account(NULL);
	const struct fake_request *r;
	cJSON *pay;

	/* The CA does not know the stored key: registered with it and EAB. */
	fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 400, CT_PROBLEM, NO_ACCOUNT);
	fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 201, CT_JSON "Location: $B/acct/6\r\n",
	    "{\"status\":\"valid\"}");
	wait_ready();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/acct/new"), 2);
	r = fake_ca_find(fx->ca, "POST", "/acct/new", 1);
	pay = cJSON_Parse(r->payload);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(pay, "onlyReturnExisting"));
	ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(pay, "externalAccountBinding"));
	ck_assert(same_key(acme_account_key(fx->acct), k));
	ck_assert_ptr_nonnull(strstr(acme_account_url(fx->acct), "/acct/6"));
	cJSON_Delete(pay);
	privkey_free(k);
}
END_TEST

/* ---- key rollover ---- */

static bool call_done;
static long call_status;

static void
call_cb(const struct acme_reply *r, void *arg)
{
	(void)arg;
	call_done = true;
	call_status = r->status;
	ev_break(fx->loop, EVBREAK_ALL);
}

/* Sends the keyChange for a freshly staged key; returns a copy of it. */
static privkey_t *
send_key_change(void)
{
	privkey_t *nk = privkey_generate(KEY_EC_P256), *copy = NULL;
	char err[512] = "";

	ck_assert_int_eq(acme_account_stage_key(fx->acct, nk, err, sizeof(err)), 0);
	/* The caller's copy, as staged on disk (key-next.pem). */
	ck_assert_int_eq(store_account_load_next_key(fx->store, "ca", &copy, err, sizeof(err)),
	    0);
	ck_assert_ptr_nonnull(copy);
	ck_assert(same_key(copy, nk));
	call_done = false;
	ck_assert_msg(acme_key_change(fx->acct, call_cb, NULL, err, sizeof(err)) != NULL, "%s",
	    err);
	ck_assert(test_run_loop(fx->loop, 20));
	ck_assert(call_done);
	return copy;
}

static bool
next_key_stored(void)
{
	privkey_t *next = NULL;
	char err[256] = "";
	bool there;

	ck_assert_int_eq(store_account_load_next_key(fx->store, "ca", &next, err, sizeof(err)),
	    0);
	there = next != NULL;
	privkey_free(next);
	return there;
}

START_TEST(test_rollover_answered)
{
	privkey_t *old = store_account("/acct/1"), *nk;
	const struct fake_request *r;
	cJSON *outer, *iprot, *ipay;
	char *ip, *ipl, *url = base_url("/acct/1"), *kc = base_url("/key-change");
	char err[256] = "";
	struct account_record rec;

	wait_ready();
	fake_ca_reply(fx->ca, "POST", "/key-change", 1, 200, CT_JSON, "{\"status\":\"valid\"}");
	nk = send_key_change();
	ck_assert_int_eq(call_status, 200);
	/* Outer: the account's kid; inner: signed by the new key with its
	 * jwk, the same url, no nonce; payload the account and the old key. */
	r = fake_ca_find(fx->ca, "POST", "/key-change", 0);
	ck_assert_str_eq(r->kid, url);
	ck_assert(!r->has_jwk);
	outer = cJSON_Parse(r->payload);
	ck_assert_ptr_nonnull(outer);
	ip = decoded_member(outer, "protected");
	ipl = decoded_member(outer, "payload");
	iprot = cJSON_Parse(ip);
	ipay = cJSON_Parse(ipl);
	ck_assert(json_is_jwk(cJSON_GetObjectItemCaseSensitive(iprot, "jwk"), nk));
	ck_assert_str_eq(str_of(iprot, "url"), kc);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(iprot, "nonce"));
	ck_assert_str_eq(str_of(ipay, "account"), url);
	ck_assert(json_is_jwk(cJSON_GetObjectItemCaseSensitive(ipay, "oldKey"), old));
	/* The caller commits on the CA's yes: the new key is the key. */
	ck_assert(next_key_stored());
	ck_assert_int_eq(acme_account_commit_key(fx->acct, err, sizeof(err)), 0);
	ck_assert(same_key(acme_account_key(fx->acct), nk));
	ck_assert(!next_key_stored());
	load_record(&rec);
	ck_assert(same_key(rec.key, nk));
	account_record_free(&rec);
	cJSON_Delete(outer);
	cJSON_Delete(iprot);
	cJSON_Delete(ipay);
	free(ip);
	free(ipl);
	free(url);
	free(kc);
	privkey_free(old);
	privkey_free(nk);
}
END_TEST

/*
 * The keyChange's answer is lost (status 0): the CA may or may not have
 * switched.  _i: 0 it did, 1 it did not; 2 it did and the daemon restarts
 * before asking (a new account object finds key-next.pem).
 */
START_TEST(test_rollover_lost)
{
	privkey_t *old = store_account("/acct/1"), *nk;
	const struct fake_request *r;
	struct account_record rec;
	bool switched = _i != 1;

	wait_ready();
	fake_ca_reply(fx->ca, "POST", "/key-change", 1, FAKE_NO_ANSWER, NULL, NULL);
	nk = send_key_change();
	ck_assert_int_eq(call_status, 0);
	if (_i == 2) {
		acme_account_free(fx->acct);
		fx->acct = acme_account_new(&fx->env, config_find_account(fx->cfg, "ca"));
	}
	acme_account_recheck(fx->acct);
	if (switched)
		fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 200,
		    CT_JSON "Location: $B/acct/1\r\n", "{\"status\":\"valid\"}");
	else
		fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 400, CT_PROBLEM, NO_ACCOUNT);
	wait_ready();
	/* One question, signed by the new key with its jwk, only for an
	 * existing account (never a registration). */
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/acct/new"), 1);
	r = fake_ca_find(fx->ca, "POST", "/acct/new", 0);
	ck_assert(r->has_jwk);
	ck_assert_ptr_nonnull(strstr(r->protected_json, "\"jwk\""));
	{
		cJSON *h = cJSON_Parse(r->protected_json), *p = cJSON_Parse(r->payload);

		ck_assert(json_is_jwk(cJSON_GetObjectItemCaseSensitive(h, "jwk"), nk));
		ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "onlyReturnExisting")));
		cJSON_Delete(h);
		cJSON_Delete(p);
	}
	ck_assert_uint_eq(acme_account_counters(fx->acct)->new_account, 0);
	ck_assert(same_key(acme_account_key(fx->acct), switched ? nk : old));
	ck_assert_ptr_null(acme_account_next_key(fx->acct));
	ck_assert(!next_key_stored());
	load_record(&rec);
	ck_assert(same_key(rec.key, switched ? nk : old));
	ck_assert_ptr_nonnull(strstr(rec.url, "/acct/1"));
	account_record_free(&rec);
	privkey_free(old);
	privkey_free(nk);
}
END_TEST

/* ---- log once ---- */

static struct order_result once_res[2];
static int once_done;

static void
once_order_cb(struct order_job *j, struct order_result *r, void *arg)
{
	int i = (int)(intptr_t)arg;

	(void)j;
	once_res[i] = *r;
	memset(r, 0, sizeof(*r));
	if (++once_done == 2)
		ev_break(fx->loop, EVBREAK_ALL);
}

/* Lines of text holding needle. */
static int
count_lines(const char *text, const char *needle)
{
	const char *l = text, *e, *hit;
	int n = 0;

	while (l != NULL && *l != '\0') {
		e = strchr(l, '\n');
		hit = strstr(l, needle);
		if (hit != NULL && (e == NULL || hit < e))
			n++;
		l = e ? e + 1 : NULL;
	}
	return n;
}

START_TEST(test_failure_logged_once)
{
	struct cert_state st[2];
	struct fake_order fo[2];
	char *path = xasprintf("%s/stderr.log", fx->dir), *log = NULL, *dump;
	int fd, saved;
	size_t len = 0;

	memset(st, 0, sizeof(st));
	memset(fo, 0, sizeof(fo));
	memset(once_res, 0, sizeof(once_res));
	once_done = 0;
	/* The CA's directory fails once: both certificates wait on that one
	 * attempt. */
	fake_ca_reply(fx->ca, "GET", "/dir", 1, 503, CT_PROBLEM,
	    "{\"type\":\"urn:ietf:params:acme:error:serverInternal\","
	    "\"detail\":\"down for maintenance\"}");
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	close(fd);
	for (int i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(fake_order_start(&fo[i], fx, (size_t)i, &st[i],
		    once_order_cb, (void *)(intptr_t)i));
	}
	ck_assert(test_run_loop(fx->loop, 20));
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	dump = fake_ca_dump(fx->ca);
	ck_assert_msg(once_done == 2, "results: %d; requests: %s", once_done, dump);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "GET", "/dir"), 1);
	ck_assert_int_eq(read_file(path, &log, &len, 1 << 20), 0);
	/* The cause once, where it happened: not once per certificate. */
	ck_assert_msg(count_lines(log, "HTTP 503") == 1, "log:\n%s", log);
	ck_assert_msg(count_lines(log, "account ca: directory ") == 1, "log:\n%s", log);
	/* Each certificate's line points at it. */
	ck_assert_msg(count_lines(log, "web: account ca unavailable: fetching the directory "
	    "failed (see above)") == 1, "log:\n%s", log);
	ck_assert_msg(count_lines(log, "api: account ca unavailable: fetching the directory "
	    "failed (see above)") == 1, "log:\n%s", log);
	ck_assert_str_eq(acme_account_fault_step(fx->acct), "fetching the directory");
	/* The stored error keeps the whole cause (status shows it). */
	for (int i = 0; i < 2; i++) {
		ck_assert(!once_res[i].ok);
		ck_assert_ptr_nonnull(once_res[i].error);
		ck_assert_msg(strstr(once_res[i].error, "account ca unavailable: directory ") &&
		    strstr(once_res[i].error, "HTTP 503"), "%s", once_res[i].error);
		ck_assert_int_eq(once_res[i].status, 503);
		order_result_clear(&once_res[i]);
	}
	free(dump);
	free(log);
	free(path);
}
END_TEST

static void
setup_two(void)
{
	fx = fake_env_new("", CERTS_TWO);
	ready_done = ready_ok = false;
	ready_error = NULL;
}

static TCase *
tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup_eab, teardown);
	tcase_set_timeout(tc, 30);
	return tc;
}

static Suite *
acme_account_suite(void)
{
	Suite *s = suite_create("acme_account");
	TCase *tc;

	tc = tcase("register");
	tcase_add_test(tc, test_eab_registration);
	tcase_add_test(tc, test_stored_key_and_url);
	tcase_add_test(tc, test_only_return_existing);
	tcase_add_test(tc, test_lookup_then_register);
	suite_add_tcase(s, tc);

	tc = tcase("rollover");
	tcase_add_test(tc, test_rollover_answered);
	tcase_add_loop_test(tc, test_rollover_lost, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("log_once");
	tcase_add_checked_fixture(tc, setup_two, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_failure_logged_once);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(acme_account_suite)
