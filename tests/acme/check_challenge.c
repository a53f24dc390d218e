/*
 * check_challenge.c - unit tests for challenge.c: the preference order
 * against what the CA offers, the message when nothing fits, publication
 * through the built-in responders (completion always from the loop, never
 * inside challenge_publish), the errors when a responder is not running or
 * a type is unknown, and the inventory keys that steer challenges
 * (dns_resolver, a wildcard with types that cannot validate it).
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "challenge.h"
#include "config.h"
#include "http01.h"
#include "log.h"
#include "testutil.h"
#include "tlsalpn.h"
#include "util.h"

static struct acme_challenge offer_all[] = {
	{ .type = "http-01", .url = "https://ca/chall/1", .token = "tokHTTP" },
	{ .type = "dns-01", .url = "https://ca/chall/2", .token = "tokDNS" },
	{ .type = "tls-alpn-01", .url = "https://ca/chall/3", .token = "tokALPN" },
};

/* Settings for the types in preference order: http-01 by the built-in
 * responder (no webroot), a dns-01 hook. */
static struct challenge_settings
cert_with(const enum challenge_type *types, size_t n)
{
	struct challenge_settings c;

	memset(&c, 0, sizeof(c));
	for (size_t i = 0; i < n; i++)
		c.types[i] = types[i];
	c.ntypes = n;
	c.webroot = NULL;
	c.dns01_hook = "/bin/true";
	return c;
}

START_TEST(test_choose_order)
{
	const enum challenge_type alpn_http[] = { CHALLENGE_TLSALPN01, CHALLENGE_HTTP01 };
	const enum challenge_type dns_only[] = { CHALLENGE_DNS01 };
	struct challenge_settings c = cert_with(alpn_http, 2);
	struct acme_authz a = { .identifier = "www.example.com", .challenges = offer_all,
	    .nchallenges = 3 };
	const struct acme_challenge *ch;
	char err[256];

	ch = challenge_choose(&c, &a, err, sizeof(err));
	ck_assert_ptr_nonnull(ch);
	ck_assert_str_eq(ch->type, "tls-alpn-01");

	/* The CA does not offer the first choice: the second one. */
	a.challenges = offer_all;
	a.nchallenges = 2;
	ch = challenge_choose(&c, &a, err, sizeof(err));
	ck_assert_ptr_nonnull(ch);
	ck_assert_str_eq(ch->type, "http-01");

	c = cert_with(dns_only, 1);
	a.nchallenges = 3;
	ch = challenge_choose(&c, &a, err, sizeof(err));
	ck_assert_ptr_nonnull(ch);
	ck_assert_str_eq(ch->type, "dns-01");
	ck_assert_str_eq(ch->token, "tokDNS");
}
END_TEST

START_TEST(test_choose_nothing_fits)
{
	const enum challenge_type alpn_http[] = { CHALLENGE_TLSALPN01, CHALLENGE_HTTP01 };
	struct acme_challenge only[] = {
		{ .type = "dns-01", .url = "u1", .token = "t1" },
		{ .type = "sectigo-email-01", .url = "u2", .token = "t2" },
		{ .type = "http-01", .url = "u3", .token = NULL }, /* unusable: no token */
	};
	struct challenge_settings c = cert_with(alpn_http, 2);
	struct acme_authz a = { .identifier = "example.com", .wildcard = true,
	    .challenges = only, .nchallenges = 3 };
	char err[256];

	ck_assert_ptr_null(challenge_choose(&c, &a, err, sizeof(err)));
	ck_assert_str_eq(err, "the CA offers dns-01, sectigo-email-01, http-01 for "
	    "*.example.com; configured: tls-alpn-01, http-01");
	a.nchallenges = 0;
	ck_assert_ptr_null(challenge_choose(&c, &a, err, sizeof(err)));
	ck_assert_str_eq(err, "the CA offers no challenges for *.example.com; configured: "
	    "tls-alpn-01, http-01");
}
END_TEST

/* ---- publication ---- */

struct outcome {
	int calls;
	bool ok;
};

static void
ready(bool ok, const char *error, void *arg)
{
	struct outcome *o = arg;

	(void)error;
	o->calls++;
	o->ok = ok;
}

static void
spin(struct ev_loop *loop)
{
	for (int i = 0; i < 5; i++)
		ev_run(loop, EVRUN_NOWAIT);
}

START_TEST(test_publish_responders)
{
	const enum challenge_type all[] = { CHALLENGE_TLSALPN01, CHALLENGE_HTTP01 };
	struct ev_loop *loop = ev_default_loop(0);
	struct acme_env env = { .loop = loop };
	struct challenge_settings c = cert_with(all, 2);
	struct acme_authz a = { .identifier = "www.example.com", .challenges = offer_all,
	    .nchallenges = 3 };
	struct challenge_solver *s;
	struct outcome o = {0};
	privkey_t *k = privkey_generate(KEY_EC_P256);
	char err[256];

	log_init("check_challenge", LOG_CRIT, LOG_STYLE_PLAIN);
	ck_assert_ptr_nonnull(k);
	/* No responders running: a clear error, no callback. */
	ck_assert_ptr_null(challenge_publish(&env, "web", &c, &a, &offer_all[0], k, ready, &o,
	    err, sizeof(err)));
	ck_assert_str_eq(err, "the built-in http-01 responder is not running");
	ck_assert_ptr_null(challenge_publish(&env, "web", &c, &a, &offer_all[2], k, ready, &o,
	    err, sizeof(err)));
	ck_assert_str_eq(err, "the built-in tls-alpn-01 responder is not running");
	{
		struct acme_challenge odd = { .type = "sectigo-email-01", .url = "u",
		    .token = "t" };
		ck_assert_ptr_null(challenge_publish(&env, "web", &c, &a, &odd, k, ready, &o, err,
		    sizeof(err)));
		ck_assert_str_eq(err, "challenge type sectigo-email-01 is not supported");
	}
	spin(loop);
	ck_assert_int_eq(o.calls, 0);

	env.http01 = http01_server_new(loop, "127.0.0.1:0", err, sizeof(err));
	env.tlsalpn = tlsalpn_server_new(loop, "127.0.0.1:0", err, sizeof(err));
	ck_assert_ptr_nonnull(env.http01);
	ck_assert_ptr_nonnull(env.tlsalpn);
	for (size_t i = 0; i < 3; i += 2) {
		memset(&o, 0, sizeof(o));
		s = challenge_publish(&env, "web", &c, &a, &offer_all[i], k, ready, &o, err,
		    sizeof(err));
		ck_assert_msg(s != NULL, "%s", err);
		ck_assert_int_eq(o.calls, 0); /* not from inside publish */
		spin(loop);
		ck_assert_int_eq(o.calls, 1);
		ck_assert(o.ok);
		challenge_unpublish(s);
	}
	/* Unpublished before the loop ran: no callback at all. */
	memset(&o, 0, sizeof(o));
	s = challenge_publish(&env, "web", &c, &a, &offer_all[0], k, ready, &o, err,
	    sizeof(err));
	ck_assert_ptr_nonnull(s);
	challenge_unpublish(s);
	spin(loop);
	ck_assert_int_eq(o.calls, 0);
	challenge_unpublish(NULL);

	http01_server_free(env.http01);
	tlsalpn_server_free(env.tlsalpn);
	privkey_free(k);
}
END_TEST

/* ---- inventory keys ---- */

static char dir[64];

static int
load(const char *text, struct config **cfg, char *err, size_t errlen)
{
	char path[128];
	int fd, rc;

	snprintf(dir, sizeof(dir), "/tmp/certfleet-chal.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	rc = config_load(path, cfg, err, errlen);
	unlink(path);
	rmdir(dir);
	return rc;
}

#define ACCOUNTS "accounts:\n  ca:\n    directory: https://acme.example.com/dir\n" \
	"    contact: mailto:ops@example.com\n"

START_TEST(test_config_keys)
{
	struct config *cfg = NULL;
	char err[512];

	ck_assert_int_eq(load("dns_resolver: \"127.0.0.1:8053\"\n" ACCOUNTS, &cfg, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(cfg->dns_resolver, "127.0.0.1:8053");
	config_free(cfg);
	cfg = NULL;
	ck_assert_int_eq(load("dns_resolver: \"[::1]\"\n" ACCOUNTS, &cfg, err, sizeof(err)), 0);
	config_free(cfg);
	cfg = NULL;
	ck_assert_int_eq(load(ACCOUNTS, &cfg, err, sizeof(err)), 0);
	ck_assert_ptr_null(cfg->dns_resolver);
	config_free(cfg);
	cfg = NULL;

	ck_assert_int_eq(load("dns_resolver: ns1.example.com\n" ACCOUNTS, &cfg, err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, ":1:15: dns_resolver: bad DNS server "
	    "'ns1.example.com': expected a numeric ADDR or ADDR:PORT"));

	/* A wildcard with types that cannot validate it names the name. */
	ck_assert_int_eq(load(ACCOUNTS "certificates:\n  - name: w\n"
	    "    domains: [example.com, \"*.example.com\"]\n"
	    "    challenge: [tls-alpn-01, http-01]\n", &cfg, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "certificates[0].domains[1]: wildcard name "
	    "*.example.com requires dns-01 among the challenge types"));
}
END_TEST

static Suite *
challenge_suite(void)
{
	Suite *s = suite_create("challenge");
	TCase *tc = tcase_create("challenge");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_choose_order);
	tcase_add_test(tc, test_choose_nothing_fits);
	tcase_add_test(tc, test_publish_responders);
	tcase_add_test(tc, test_config_keys);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(challenge_suite)
