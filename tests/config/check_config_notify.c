/*
 * check_config_notify.c - unit tests for config_notify.c: the notify:
 * settings at the top level, in defaults: and per certificate (merged key
 * by key, false removing a channel), the built-in policy, the webhook's
 * secret read from a file only its owner may read, and every bad value
 * refused with its exact FILE:LINE:COL message.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"
#include "util.h"

#define ACCOUNT "accounts:\n  ca:\n    directory: https://acme.example.com/directory\n" \
	"    contact: mailto:ops@example.com\n"
#define CERT "certificates:\n  - {name: www, domains: [www.example.com]}\n"

static char dir[64];

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_config_notify.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes dir/name with exactly this mode. */
static void
put(const char *name, const char *text, mode_t mode)
{
	char *p = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	free(p);
}

static struct config *
load_ok(const char *text)
{
	struct config *c = NULL;
	char err[1024] = "", *p = xasprintf("%s/inv.yaml", dir);

	put("inv.yaml", text, 0600);
	ck_assert_msg(config_load(p, &c, err, sizeof(err)) == 0, "%s", err);
	free(p);
	return c;
}

/* Replaces every "@DIR@" in s with the test directory; caller frees. */
static char *
subst_dir(const char *s)
{
	struct buf b = { 0 };
	const char *at;

	while ((at = strstr(s, "@DIR@")) != NULL) {
		buf_append(&b, s, (size_t)(at - s));
		buf_append(&b, dir, strlen(dir));
		s = at + 5;
	}
	buf_append(&b, s, strlen(s));
	return buf_steal(&b, NULL);
}

/* ---- good inventories ---- */

START_TEST(test_builtin_policy)
{
	struct config *c = load_ok(ACCOUNT CERT);

	ck_assert(!config_notify_enabled(&c->notify));
	ck_assert(!config_notify_enabled(c->certs[0].notify));
	ck_assert_int_eq(c->certs[0].notify->after_failures, 3);
	ck_assert_int_eq(c->certs[0].notify->warn_before, 0);
	ck_assert_int_eq(c->certs[0].notify->warn_before_pct, 10);
	config_free(c);
}
END_TEST

START_TEST(test_full)
{
	struct config *c;
	const struct config_notify *n;

	put("hook.secret", "Bearer abc123\n", 0600);
	put("sendmail", "#!/bin/sh\n", 0700);
	c = load_ok("notify:\n"
	    "  webhook:\n"
	    "    url: https://hooks.example.com/certfleet?x=1\n"
	    "    header: {name: Authorization, secret_file: hook.secret}\n"
	    "    timeout: 30s\n"
	    "  mail:\n"
	    "    program: [./sendmail, -t, -oi]\n"
	    "    to: [ops@example.com, pager@example.net]\n"
	    "    from: certfleet@host.example.com\n"
	    "  after_failures: 5\n"
	    "  warn_before: 10d\n"
	    ACCOUNT CERT);
	n = &c->notify;
	ck_assert(config_notify_enabled(n));
	ck_assert_str_eq(n->webhook_url, "https://hooks.example.com/certfleet?x=1");
	ck_assert_str_eq(n->webhook_header, "Authorization: Bearer abc123");
	ck_assert_int_eq(n->webhook_timeout, 30);
	ck_assert_uint_eq(n->mail_argv.n, 3);
	ck_assert_str_eq(n->mail_argv.v[0], xasprintf("%s/sendmail", dir));
	ck_assert_str_eq(n->mail_argv.v[2], "-oi");
	ck_assert_uint_eq(n->mail_to.n, 2);
	ck_assert_str_eq(n->mail_to.v[1], "pager@example.net");
	ck_assert_str_eq(n->mail_from, "certfleet@host.example.com");
	ck_assert_int_eq(n->after_failures, 5);
	ck_assert_int_eq(n->warn_before, 10 * 86400);
	/* The certificate inherits all of it. */
	n = c->certs[0].notify;
	ck_assert_str_eq(n->webhook_header, "Authorization: Bearer abc123");
	ck_assert_str_eq(n->mail_to.v[0], "ops@example.com");
	ck_assert_int_eq(n->after_failures, 5);
	ck_assert_int_eq(n->warn_before, 10 * 86400);
	config_free(c);
}
END_TEST

START_TEST(test_mail_defaults)
{
	struct config *c = load_ok("notify: {mail: {to: ops@example.com}}\n" ACCOUNT CERT);
	const struct config_notify *n = c->certs[0].notify;

	ck_assert_uint_eq(n->mail_argv.n, 2);
	ck_assert_str_eq(n->mail_argv.v[0], "/usr/sbin/sendmail");
	ck_assert_str_eq(n->mail_argv.v[1], "-t");
	ck_assert_ptr_null(n->mail_from);
	ck_assert_ptr_null(n->webhook_url);
	ck_assert_int_eq(n->webhook_timeout, 10);
	config_free(c);
}
END_TEST

START_TEST(test_merge)
{
	struct config *c = load_ok(
	    "notify:\n"
	    "  webhook: {url: \"http://127.0.0.1:8080/hook\"}\n"
	    "  mail: {to: ops@example.com}\n"
	    ACCOUNT
	    "defaults:\n"
	    "  notify: {warn_before: 20%}\n"
	    "certificates:\n"
	    "  - {name: a, domains: [a.example.com]}\n"
	    "  - {name: b, domains: [b.example.com], notify: {after_failures: 1}}\n"
	    "  - {name: c, domains: [c.example.com], notify: {webhook: false}}\n"
	    "  - {name: d, domains: [d.example.com], notify: false}\n"
	    "  - {name: e, domains: [e.example.com], notify: {warn_before: 36h,\n"
	    "      mail: {to: [web@example.com]}}}\n"
	    "  - {name: f, domains: [f.example.com]}\n");
	const struct config_notify *a = c->certs[0].notify, *b = c->certs[1].notify,
	    *cc = c->certs[2].notify, *d = c->certs[3].notify, *e = c->certs[4].notify;

	/* defaults: changed warn_before for all, not the top level's. */
	ck_assert_int_eq(c->notify.warn_before_pct, 10);
	ck_assert_int_eq(a->warn_before_pct, 20);
	ck_assert_str_eq(a->webhook_url, "http://127.0.0.1:8080/hook");
	ck_assert_uint_eq(a->mail_to.n, 1);
	ck_assert_int_eq(a->after_failures, 3);
	/* One key changed, the rest inherited. */
	ck_assert_int_eq(b->after_failures, 1);
	ck_assert_str_eq(b->webhook_url, "http://127.0.0.1:8080/hook");
	ck_assert_int_eq(b->warn_before_pct, 20);
	/* false removes one channel, keeps the other. */
	ck_assert_ptr_null(cc->webhook_url);
	ck_assert_str_eq(cc->mail_to.v[0], "ops@example.com");
	ck_assert(config_notify_enabled(cc));
	/* notify: false: nobody is told about d. */
	ck_assert(!config_notify_enabled(d));
	/* mail: replaced as a whole; a duration replaces the percentage. */
	ck_assert_uint_eq(e->mail_to.n, 1);
	ck_assert_str_eq(e->mail_to.v[0], "web@example.com");
	ck_assert_int_eq(e->warn_before, 36 * 3600);
	ck_assert_str_eq(e->webhook_url, "http://127.0.0.1:8080/hook");
	/* Entries without a notify: of their own share the merged one (f and a),
	 * those with one own theirs, which changed nobody else's. */
	ck_assert_ptr_eq(a, c->cert_notify);
	ck_assert_ptr_null(c->certs[0].notify_own);
	ck_assert_ptr_eq(c->certs[5].notify, a);
	ck_assert_ptr_eq(b, c->certs[1].notify_own);
	ck_assert_ptr_ne(b, cc);
	ck_assert_int_eq(c->certs[5].notify->after_failures, 3);
	config_free(c);
}
END_TEST

START_TEST(test_secret_modes)
{
	static const mode_t ok[] = { 0600, 0400, 0200 };
	struct config *c;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		put("s", "tok\n", ok[i]);
		c = load_ok("notify: {webhook: {url: \"https://h.example.com/\", header: "
		    "{name: X-Token, secret_file: s}}}\n" ACCOUNT CERT);
		ck_assert_str_eq(c->notify.webhook_header, "X-Token: tok");
		config_free(c);
	}
}
END_TEST

/* ---- every error, exactly ---- */

static const struct {
	const char *text;       /* the inventory, after ACCOUNT CERT */
	const char *secret;     /* dir/s with secret_mode, or NULL */
	mode_t secret_mode;
	const char *expect;     /* after "FILE:"; @DIR@ is the directory */
} bad[] = {
	{ "notify: {webhook: {url: \"https://h.example.com/\", header: {name: Authorization, "
	  "secret_file: s}}}\n", "x\n", 0644,
	  "7:94: notify.webhook.header.secret_file: permissions 0644 for '@DIR@/s' are too "
	  "open; it holds the webhook's secret (chmod 600)" },
	{ "notify: {webhook: {url: \"https://h.example.com/\", header: {name: Authorization, "
	  "secret_file: s}}}\n", "x\n", 0640,
	  "7:94: notify.webhook.header.secret_file: permissions 0640 for '@DIR@/s' are too "
	  "open; it holds the webhook's secret (chmod 600)" },
	{ "notify: {webhook: {url: \"https://h.example.com/\", header: {name: Authorization, "
	  "secret_file: s}}}\n", "x\n", 0700,
	  "7:94: notify.webhook.header.secret_file: permissions 0700 for '@DIR@/s' are too "
	  "open; it holds the webhook's secret (chmod 600)" },
	{ "notify: {webhook: {url: \"https://h.example.com/\", header: {name: Authorization, "
	  "secret_file: nosuch}}}\n", NULL, 0,
	  "7:94: notify.webhook.header.secret_file: cannot open '@DIR@/nosuch': No such file "
	  "or directory" },
	{ "notify: {webhook: {url: \"https://h.example.com/\", header: {name: Authorization, "
	  "secret_file: s}}}\n", "\n\n", 0600,
	  "7:94: notify.webhook.header.secret_file: '@DIR@/s' is empty; it must hold the "
	  "header's value" },
	{ "notify: {webhook: {url: \"https://h.example.com/\", header: {name: Authorization, "
	  "secret_file: s}}}\n", "a\nb\n", 0600,
	  "7:94: notify.webhook.header.secret_file: '@DIR@/s' must hold one line (the "
	  "header's value) without control characters" },
	{ "notify: {webhook: {url: \"https://h.example.com/\", header: {name: \"X Token\", "
	  "secret_file: s}}}\n", "x\n", 0600,
	  "7:66: notify.webhook.header.name: 'X Token' is not an HTTP header name (letters, "
	  "digits and -, such as Authorization or X-Api-Key)" },
	{ "notify: {webhook: {url: \"https://h.example.com/\", header: {name: X-Token}}}\n",
	  NULL, 0, "7:59: notify.webhook.header: missing required key 'secret_file'" },
	{ "notify: {webhook: {url: \"http://hooks.example.com/\", header: {name: X-Token, "
	  "secret_file: s}}}\n", "x\n", 0600,
	  "7:25: notify.webhook.url: webhook URL 'http://hooks.example.com/' is plain http:// "
	  "to another machine: the header's secret would cross the network in clear; use "
	  "https://" },
	{ "notify: {webhook: {url: \"ftp://h.example.com/\"}}\n", NULL, 0,
	  "7:25: notify.webhook.url: webhook URL 'ftp://h.example.com/' must start with "
	  "https:// or http://" },
	{ "notify: {webhook: {url: \"https://u:p@h.example.com/\"}}\n", NULL, 0,
	  "7:25: notify.webhook.url: webhook URL 'https://u:p@h.example.com/' must not contain "
	  "credentials; send them in header: with a secret_file" },
	{ "notify: {webhook: {url: \"https://:443/\"}}\n", NULL, 0,
	  "7:25: notify.webhook.url: webhook URL 'https://:443/' has no host" },
	{ "notify: {webhook: {url: \"https://h.example.com:99999/\"}}\n", NULL, 0,
	  "7:25: notify.webhook.url: webhook URL 'https://h.example.com:99999/' has a bad port" },
	{ "notify: {webhook: {url: \"https://[::1/\"}}\n", NULL, 0,
	  "7:25: notify.webhook.url: webhook URL 'https://[::1/' has an unterminated IPv6 address" },
	{ "notify: {webhook: {timeout: 5s}}\n", NULL, 0,
	  "7:19: notify.webhook: missing required key 'url'" },
	{ "notify: {webhook: {url: \"https://h.example.com/\", timeout: 10m}}\n", NULL, 0,
	  "7:60: notify.webhook.timeout: at most 5m: a webhook that slow is retried instead" },
	{ "notify: {webhook: true}\n", NULL, 0,
	  "7:19: notify.webhook: expected a mapping with url (or false), got a boolean" },
	{ "notify: {mail: {from: a@example.com}}\n", NULL, 0,
	  "7:16: notify.mail: missing required key 'to'" },
	{ "notify: {mail: {to: [ops@example.com, \"not an address\"]}}\n", NULL, 0,
	  "7:39: notify.mail.to[1]: 'not an address' is not a mail address (user@example.com)" },
	{ "notify: {mail: {to: []}}\n", NULL, 0,
	  "7:21: notify.mail.to: must list at least one address" },
	{ "notify: {mail: {to: ops@example.com, from: \"Ops <ops@example.com>\"}}\n", NULL, 0,
	  "7:44: notify.mail.from: 'Ops <ops@example.com>' is not a mail address "
	  "(user@example.com)" },
	{ "notify: {mail: {to: ops@example.com, program: \"sendmail -t\"}}\n", NULL, 0,
	  "7:47: notify.mail.program: 'sendmail -t' is one string with spaces, but hooks run "
	  "without a shell; write the program and its arguments as a list: [sendmail, -t]" },
	{ "notify: {mail: {to: ops@example.com, program: []}}\n", NULL, 0,
	  "7:47: notify.mail.program: must name a program (or leave program out for "
	  "/usr/sbin/sendmail -t)" },
	{ "notify: {after_failures: 0}\n", NULL, 0,
	  "7:26: notify.after_failures: must be between 1 and 1000, got 0" },
	{ "notify: {warn_before: 150%}\n", NULL, 0,
	  "7:23: notify.warn_before: bad percentage '150%': expected a whole number of percent "
	  "of the lifetime from 1% to 99% (such as 10%)" },
	{ "notify: {warn_before: soon}\n", NULL, 0,
	  "7:23: notify.warn_before: bad warn_before 'soon': expected a duration (such as 7d "
	  "or 36h) or a percentage of the lifetime (such as 10%)" },
	{ "notify: {after_failure: 2}\n", NULL, 0,
	  "7:10: notify.after_failure: unknown key; did you mean 'after_failures'?" },
	{ "notify: [webhook]\n", NULL, 0,
	  "7:9: notify: expected a mapping with webhook, mail, after_failures or warn_before "
	  "(or false), got a list" },
	{ "defaults:\n  notify: {mail: {to: x}}\n", NULL, 0,
	  "8:23: defaults.notify.mail.to: 'x' is not a mail address (user@example.com)" },
};

START_TEST(test_bad)
{
	struct config *c = (struct config *)1;
	char err[1024] = "", *p = xasprintf("%s/inv.yaml", dir);
	char *text = xasprintf(ACCOUNT CERT "%s", bad[_i].text);
	char *e = subst_dir(bad[_i].expect), *want = xasprintf("%s:%s", p, e);

	if (bad[_i].secret)
		put("s", bad[_i].secret, bad[_i].secret_mode);
	put("inv.yaml", text, 0600);
	ck_assert_int_eq(config_load(p, &c, err, sizeof(err)), -1);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, want);
	free(want);
	free(e);
	free(text);
	free(p);
}
END_TEST

START_TEST(test_bad_in_certificate)
{
	struct config *c = (struct config *)1;
	char err[1024] = "", *p = xasprintf("%s/inv.yaml", dir);
	char *want = xasprintf("%s:7:65: certificates[1].notify.webhook.url: webhook URL "
	    "'gopher://x' must start with https:// or http://", p);

	put("inv.yaml", ACCOUNT CERT "  - {name: b, domains: [b.example.com], notify: "
	    "{webhook: {url: \"gopher://x\"}}}\n", 0600);
	ck_assert_int_eq(config_load(p, &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
	free(want);
	free(p);
}
END_TEST

static Suite *
config_notify_suite(void)
{
	Suite *s = suite_create("config_notify");
	TCase *tc = tcase_create("notify");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_builtin_policy);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_mail_defaults);
	tcase_add_test(tc, test_merge);
	tcase_add_test(tc, test_secret_modes);
	tcase_add_loop_test(tc, test_bad, 0, (int)ARRAY_SIZE(bad));
	tcase_add_test(tc, test_bad_in_certificate);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(config_notify_suite)
