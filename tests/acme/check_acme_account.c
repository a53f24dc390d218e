/*
 * check_acme_account.c - unit tests for account registration and key
 * rollover (acme_account.c, acme_ops.c) through acme.h, against the
 * scripted CA of fake_ca.h: External Account Binding, reuse of a stored
 * key and URL, onlyReturnExisting recovery of a lost URL, and a key
 * rollover whose keyChange is answered or whose answer is lost (then the
 * recheck asks the CA which key it has, in this run or after a restart);
 * the account machine's states and their names; the store seam (struct
 * acme_account_store): what is saved when, a save that fails, parameters
 * copied, and certbot's account adopted through the fleet's store and
 * verified, never registered; and log once: an account failure with
 * several certificates waiting on it is logged once, by the account.
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
#include "certbot_account.h"
#include "config.h"
#include "fake_ca.h"
#include "fleet_account.h"
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
		fx->acct = fleet_account_new(&fx->env, fx->store, config_find_account(fx->cfg, "ca"));
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

/* ---- the machine's states ---- */

START_TEST(test_state_names)
{
	privkey_t *k;

	/* Every state has its own name for the logs and tests. */
	for (int i = 0; i < ACCT_STATE__MAX; i++) {
		const char *n = account_state_name((enum account_state)i);

		ck_assert_ptr_nonnull(n);
		ck_assert_msg(strcmp(n, "?") != 0, "state %d has no name", i);
		for (int k2 = 0; k2 < i; k2++)
			ck_assert_str_ne(n, account_state_name((enum account_state)k2));
	}
	ck_assert_str_eq(account_state_name(ACCT_STATE__MAX), "?");
	ck_assert_str_eq(account_state_name(ACCT_IDLE), "idle");
	ck_assert_str_eq(account_state_name(ACCT_READY), "ready");
	/* At rest until a certificate waits; ready once registered. */
	k = store_account("/acct/3");
	ck_assert_int_eq(acme_account_state(fx->acct), ACCT_IDLE);
	wait_ready();
	ck_assert_int_eq(acme_account_state(fx->acct), ACCT_READY);
	privkey_free(k);
}
END_TEST

/* ---- the store seam ---- */

/*
 * A struct acme_account_store that passes every call on to the fleet's
 * (fleet_account.c) and notes it with what the CA had seen by then, or
 * fails save_key when told to: the order of what is saved against what is
 * sent, seen from the account's side of the seam.
 */
struct spy_call {
	char what[16];
	size_t new_accounts;        /* POST /acct/new the CA had received */
	int last_status;            /* its answer to the last of them, -1 none */
	char *url;                  /* save: the URL given */
	char *directory;
	long long deactivated;
};
static struct {
	void *inner;
	struct spy_call calls[16];
	size_t ncalls;
	bool fail_save_key;
} spy;

static struct spy_call *
spy_note(const char *what)
{
	size_t n = fake_ca_count(fx->ca, "POST", "/acct/new");
	struct spy_call *c;

	ck_assert_uint_lt(spy.ncalls, 16);
	c = &spy.calls[spy.ncalls++];
	snprintf(c->what, sizeof(c->what), "%s", what);
	c->new_accounts = n;
	c->last_status = n ? fake_ca_find(fx->ca, "POST", "/acct/new", n - 1)->status : -1;
	return c;
}

static int
spy_load(void *arg, struct acme_account_record *out, char *err, size_t errlen)
{
	(void)arg;
	spy_note("load");
	return fleet_account_store.load(spy.inner, out, err, errlen);
}

static int
spy_save_key(void *arg, const privkey_t *key, char *err, size_t errlen)
{
	(void)arg;
	spy_note("save_key");
	if (spy.fail_save_key) {
		snprintf(err, errlen, "cannot write /spy/accounts/ca/key.pem: No space left on "
		    "device");
		return -1;
	}
	return fleet_account_store.save_key(spy.inner, key, err, errlen);
}

static int
spy_save(void *arg, const char *url, const char *directory, time_t deactivated, char *err,
    size_t errlen)
{
	struct spy_call *c = spy_note("save");

	(void)arg;
	c->url = xstrdup(url);
	c->directory = xstrdup(directory);
	c->deactivated = (long long)deactivated;
	return fleet_account_store.save(spy.inner, url, directory, deactivated, err, errlen);
}

static int
spy_stage_key(void *arg, const privkey_t *key, char *err, size_t errlen)
{
	(void)arg;
	spy_note("stage_key");
	return fleet_account_store.stage_key(spy.inner, key, err, errlen);
}

static int
spy_promote_key(void *arg, char *err, size_t errlen)
{
	(void)arg;
	spy_note("promote_key");
	return fleet_account_store.promote_key(spy.inner, err, errlen);
}

static void
spy_drop_key(void *arg)
{
	(void)arg;
	spy_note("drop_key");
	fleet_account_store.drop_key(spy.inner);
}

static const char *
spy_where(void *arg)
{
	(void)arg;
	return fleet_account_store.where(spy.inner);
}

static void
spy_release(void *arg)
{
	(void)arg;
	fleet_account_store.release(spy.inner);
	spy.inner = NULL;
	for (size_t i = 0; i < spy.ncalls; i++) {
		free(spy.calls[i].url);
		free(spy.calls[i].directory);
	}
	spy.ncalls = 0;
}

static const struct acme_account_store spy_store = {
	.load = spy_load,
	.save_key = spy_save_key,
	.save = spy_save,
	.stage_key = spy_stage_key,
	.promote_key = spy_promote_key,
	.drop_key = spy_drop_key,
	.where = spy_where,
	.release = spy_release,
};

/* Replaces the fixture's account by one whose store is the spy. */
static void
use_spy(void)
{
	const struct config_account *ca = config_find_account(fx->cfg, "ca");
	struct acme_account_params p;

	acme_account_free(fx->acct);
	memset(&spy, 0, sizeof(spy));
	spy.inner = fleet_account_store_new(fx->store, ca);
	fleet_account_params(ca, &p);
	fx->acct = acme_account_new(&fx->env, &p, &spy_store, NULL);
}

/* Waits for the account; asserts it failed and returns its error (the
 * caller frees). */
static char *
wait_failed(void)
{
	char *dump, *e;

	ready_done = false;
	(void)acme_account_when_ready(fx->acct, ready_cb, NULL);
	ck_assert(test_run_loop(fx->loop, 20));
	dump = fake_ca_dump(fx->ca);
	ck_assert_msg(ready_done && !ready_ok, "not failed; requests: %s", dump);
	ck_assert_msg(fake_ca_unmatched(fx->ca) == 0, "unscripted requests: %s", dump);
	ck_assert_ptr_nonnull(ready_error);
	free(dump);
	e = ready_error;
	ready_error = NULL;
	return e;
}

START_TEST(test_store_order_registration)
{
	char *url = base_url("/acct/9");
	struct account_record rec;

	use_spy();
	fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 201, CT_JSON "Location: $B/acct/9\r\n",
	    "{\"status\":\"valid\"}");
	wait_ready();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/acct/new"), 1);
	/* Read, then the generated key saved before newAccount went out, then
	 * the URL the CA gave, once its 201 was in: nothing else. */
	ck_assert_uint_eq(spy.ncalls, 3);
	ck_assert_str_eq(spy.calls[0].what, "load");
	ck_assert_uint_eq(spy.calls[0].new_accounts, 0);
	ck_assert_str_eq(spy.calls[1].what, "save_key");
	ck_assert_uint_eq(spy.calls[1].new_accounts, 0);
	ck_assert_str_eq(spy.calls[2].what, "save");
	ck_assert_uint_eq(spy.calls[2].new_accounts, 1);
	ck_assert_int_eq(spy.calls[2].last_status, 201);
	ck_assert_str_eq(spy.calls[2].url, url);
	ck_assert_str_eq(spy.calls[2].directory, fake_ca_directory_url(fx->ca));
	ck_assert_int_eq(spy.calls[2].deactivated, 0);
	/* Through the fleet's store: on disk as before. */
	load_record(&rec);
	ck_assert_str_eq(rec.url, url);
	ck_assert(same_key(rec.key, acme_account_key(fx->acct)));
	account_record_free(&rec);
	free(url);
}
END_TEST

START_TEST(test_store_save_key_fails)
{
	struct account_record rec;
	const char *type = NULL;
	char *e;

	use_spy();
	spy.fail_save_key = true;
	e = wait_failed();
	/* The store's reason as the account's error; no newAccount with a key
	 * that could be lost. */
	ck_assert_str_eq(e, "cannot write /spy/accounts/ca/key.pem: No space left on device");
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/acct/new"), 0);
	ck_assert_uint_eq(acme_account_counters(fx->acct)->new_account, 0);
	ck_assert_uint_eq(acme_account_counters(fx->acct)->post, 0);
	ck_assert_uint_eq(spy.ncalls, 2);
	ck_assert_str_eq(spy.calls[1].what, "save_key");
	ck_assert_ptr_null(acme_account_key(fx->acct));
	ck_assert_int_eq(acme_account_state(fx->acct), ACCT_IDLE);
	ck_assert_int_eq(acme_account_fault(fx->acct, &type), -1);
	ck_assert_ptr_null(type);
	ck_assert_str_eq(acme_account_fault_step(fx->acct), "generating the account key");
	load_record(&rec);
	ck_assert_ptr_null(rec.key);
	ck_assert_ptr_null(rec.url);
	account_record_free(&rec);
	free(e);

	/* The next wait tries again: a key saved, then registered. */
	spy.fail_save_key = false;
	fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 201, CT_JSON "Location: $B/acct/9\r\n",
	    "{\"status\":\"valid\"}");
	wait_ready();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/acct/new"), 1);
	load_record(&rec);
	ck_assert(same_key(rec.key, acme_account_key(fx->acct)));
	ck_assert_ptr_nonnull(strstr(rec.url, "/acct/9"));
	account_record_free(&rec);
}
END_TEST

START_TEST(test_params_copied)
{
	const struct config_account *ca = config_find_account(fx->cfg, "ca");
	struct acme_account_params p;
	struct strlist contact = {0};
	char *kid = xstrdup("kid-7"), *dir = xstrdup(fake_ca_directory_url(fx->ca));
	unsigned char *hmac = xmalloc(strlen(HMAC_KEY));
	const struct fake_request *r;
	cJSON *pay, *eprot;
	char *prot_s;

	/* The caller's strings are its own: changed after the account was
	 * made, they change nothing. */
	memcpy(hmac, HMAC_KEY, strlen(HMAC_KEY));
	strlist_add(&contact, "mailto:copy@example.net");
	fleet_account_params(ca, &p);
	p.directory_url = dir;
	p.contact = &contact;
	p.eab_kid = kid;
	p.eab_hmac = hmac;
	p.eab_hmac_len = strlen(HMAC_KEY);
	acme_account_free(fx->acct);
	fx->acct = fleet_account_new(&fx->env, fx->store, ca);
	acme_account_set_params(fx->acct, &p);
	memset(hmac, 'x', strlen(HMAC_KEY));
	strcpy(kid, "kid-0");
	contact.v[0][0] = 'X';
	dir[0] = 'X';
	ck_assert_str_eq(acme_account_params(fx->acct)->eab_kid, "kid-7");
	ck_assert_str_eq(acme_account_params(fx->acct)->directory_url,
	    fake_ca_directory_url(fx->ca));

	fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 201, CT_JSON "Location: $B/acct/9\r\n",
	    "{\"status\":\"valid\"}");
	wait_ready();
	r = fake_ca_find(fx->ca, "POST", "/acct/new", 0);
	ck_assert_ptr_nonnull(strstr(r->payload, "mailto:copy@example.net"));
	pay = cJSON_Parse(r->payload);
	prot_s = decoded_member(cJSON_GetObjectItemCaseSensitive(pay, "externalAccountBinding"),
	    "protected");
	eprot = cJSON_Parse(prot_s);
	ck_assert_str_eq(str_of(eprot, "kid"), "kid-7");
	cJSON_Delete(eprot);
	cJSON_Delete(pay);
	free(prot_s);
	strlist_free(&contact);
	free(kid);
	free(dir);
	free(hmac);
}
END_TEST

/* ---- certbot's account, adopted through the fleet's store ---- */

#define CERTBOT_DIR TEST_DATA_DIR "/certbot/accounts/acme.example.test/directory/" \
	"0123456789abcdef0123456789abcdef"

static void
setup_certbot(void)
{
	fx = fake_env_new("    certbot_account: " CERTBOT_DIR "\n" EAB_LINES, CERTS);
	ready_done = ready_ok = false;
	ready_error = NULL;
}

START_TEST(test_certbot_adopted)
{
	privkey_t *cb_key = NULL;
	char *cb_url = NULL, *url = base_url("/acct/77"), err[512] = "";
	const struct fake_request *r;
	struct account_record rec;
	cJSON *pay;

	ck_assert_msg(certbot_account_read(CERTBOT_DIR, &cb_key, &cb_url, err, sizeof(err)) ==
	    0, "%s", err);
	use_spy();
	/* certbot recorded another URL: the CA's answer wins. */
	fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 200, CT_JSON "Location: $B/acct/77\r\n",
	    "{\"status\":\"valid\"}");
	wait_ready();
	/* Verified once with onlyReturnExisting, signed by certbot's key: no
	 * registration, no EAB although the inventory gives one. */
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/acct/new"), 1);
	ck_assert_uint_eq(acme_account_counters(fx->acct)->new_account, 0);
	r = fake_ca_find(fx->ca, "POST", "/acct/new", 0);
	ck_assert(r->has_jwk);
	pay = cJSON_Parse(r->payload);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pay, "onlyReturnExisting")));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(pay, "externalAccountBinding"));
	cJSON_Delete(pay);
	ck_assert(same_key(acme_account_key(fx->acct), cb_key));
	ck_assert_str_eq(acme_account_url(fx->acct), url);
	/* The fleet's load adopted (saving the key and certbot's URL itself);
	 * the account then saved the CA's URL once it answered. */
	ck_assert_uint_eq(spy.ncalls, 2);
	ck_assert_str_eq(spy.calls[0].what, "load");
	ck_assert_str_eq(spy.calls[1].what, "save");
	ck_assert_uint_eq(spy.calls[1].new_accounts, 1);
	ck_assert_int_eq(spy.calls[1].last_status, 200);
	ck_assert_str_eq(spy.calls[1].url, url);
	load_record(&rec);
	ck_assert(same_key(rec.key, cb_key));
	ck_assert_str_eq(rec.url, url);
	account_record_free(&rec);

	/* Adopted once: after a restart the stored account is used as is,
	 * without asking the CA again. */
	acme_account_free(fx->acct);
	fx->acct = fleet_account_new(&fx->env, fx->store, config_find_account(fx->cfg, "ca"));
	wait_ready();
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/acct/new"), 1);
	ck_assert_str_eq(acme_account_url(fx->acct), url);
	ck_assert(same_key(acme_account_key(fx->acct), cb_key));
	privkey_free(cb_key);
	free(cb_url);
	free(url);
}
END_TEST

START_TEST(test_certbot_unknown)
{
	char *e, *want;
	struct account_record rec;

	fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 400, CT_PROBLEM, NO_ACCOUNT);
	e = wait_failed();
	/* Never registered anew: that would spend the EAB credential. */
	want = xasprintf("the account adopted from certbot (%s) is not known to %s; remove "
	    "%s/state/accounts/ca and certbot_account to register a new one", CERTBOT_DIR,
	    fake_ca_directory_url(fx->ca), fx->dir);
	ck_assert_str_eq(e, want);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/acct/new"), 1);
	ck_assert_uint_eq(acme_account_counters(fx->acct)->new_account, 0);
	ck_assert_str_eq(acme_account_fault_step(fx->acct), "looking the account up");
	/* What was adopted stays in the store for the operator to look at. */
	load_record(&rec);
	ck_assert_ptr_nonnull(rec.key);
	ck_assert_str_eq(rec.url, "https://acme.example.test/acme/acct/42");
	account_record_free(&rec);
	free(want);
	free(e);
}
END_TEST

/* ---- the dry run's probe ---- */

static bool probe_done, probe_ok;
static char *probe_msg;

static void
probe_cb(bool ok, const char *msg, void *arg)
{
	(void)arg;
	probe_done = true;
	probe_ok = ok;
	probe_msg = xstrdup(msg);
	ev_break(fx->loop, EVBREAK_ALL);
}

/*
 * The probe runs the account machine but only asks.  _i: 0 no key stored;
 * 1 a stored key the CA knows; 2 one it does not know; 3 the directory
 * fails.  Nothing is saved and nothing registered in any case.
 */
START_TEST(test_probe)
{
	privkey_t *k = _i == 1 || _i == 2 ? store_account(NULL) : NULL;
	struct account_record rec;
	char err[512] = "", *want = NULL;

	if (_i == 1)
		fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 200,
		    CT_JSON "Location: $B/acct/5\r\n", "{\"status\":\"valid\"}");
	else if (_i == 2)
		fake_ca_reply(fx->ca, "POST", "/acct/new", 1, 400, CT_PROBLEM, NO_ACCOUNT);
	else if (_i == 3)
		fake_ca_reply(fx->ca, "GET", "/dir", 1, 503, NULL, NULL);
	probe_done = false;
	probe_msg = NULL;
	ck_assert_msg(acme_account_probe(fx->acct, probe_cb, NULL, err, sizeof(err)) == 0, "%s",
	    err);
	/* Asking twice at once is refused. */
	ck_assert_int_eq(acme_account_probe(fx->acct, probe_cb, NULL, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "account ca is busy");
	ck_assert(test_run_loop(fx->loop, 20));
	ck_assert(probe_done);
	switch (_i) {
	case 0:
		want = xstrdup("no account key stored yet; would register with the EAB given");
		break;
	case 1:
		want = xasprintf("registered as %s/acct/5", fake_ca_base(fx->ca));
		break;
	case 2:
		want = xstrdup("the stored key is not registered; would register with the EAB "
		    "given");
		break;
	default:
		want = xasprintf("directory %s: HTTP 503", fake_ca_directory_url(fx->ca));
		break;
	}
	ck_assert_msg(probe_ok == (_i != 3), "%s", probe_msg);
	ck_assert_str_eq(probe_msg, want);
	ck_assert_uint_eq(fake_ca_count(fx->ca, "POST", "/acct/new"), _i == 1 || _i == 2 ? 1 : 0);
	ck_assert_uint_eq(acme_account_counters(fx->acct)->new_account, 0);
	ck_assert_int_eq(acme_account_state(fx->acct), ACCT_IDLE);
	ck_assert_ptr_null(acme_account_url(fx->acct));
	load_record(&rec);
	ck_assert_ptr_null(rec.url);
	ck_assert(_i == 1 || _i == 2 ? rec.key != NULL : rec.key == NULL);
	account_record_free(&rec);
	free(want);
	free(probe_msg);
	privkey_free(k);
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

	tc = tcase("machine");
	tcase_add_test(tc, test_state_names);
	suite_add_tcase(s, tc);

	tc = tcase("probe");
	tcase_add_loop_test(tc, test_probe, 0, 4);
	suite_add_tcase(s, tc);

	tc = tcase("store");
	tcase_add_test(tc, test_store_order_registration);
	tcase_add_test(tc, test_store_save_key_fails);
	tcase_add_test(tc, test_params_copied);
	suite_add_tcase(s, tc);

	tc = tcase_create("certbot");
	tcase_add_checked_fixture(tc, setup_certbot, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_certbot_adopted);
	tcase_add_test(tc, test_certbot_unknown);
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
