/*
 * check_dns01.c - unit tests for dns01.c and dns_probe.c: record names and
 * the hook's argv, the DNS query encoder, TXT matching on hand-built
 * answers (several values, split strings, NXDOMAIN, SERVFAIL, garbage),
 * and whole dns-01 publications on the default loop against a small fake
 * DNS server on a loopback UDP port: the value found, a propagation
 * timeout naming the server, a failing add hook, and "remove" always run
 * with the same argv.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "dns01.h"
#include "dns_probe.h"
#include "log.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"
#include "workpool.h"

/* ---- hand-built answers ---- */

struct msg {
	unsigned char b[2048];
	size_t len;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	ck_assert_uint_le(m->len + n, sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void
put16(struct msg *m, unsigned v)
{
	unsigned char b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(m, b, 2);
}

/* Header + question for name/TXT, answers added by add_rr(). */
static void
start_answer(struct msg *m, const unsigned char *q, size_t qlen, unsigned rcode)
{
	m->len = 0;
	put(m, q, qlen);
	m->b[2] = (unsigned char)(0x80 | 0x04 | (q[2] & 0x01)); /* QR, AA, RD copied */
	m->b[3] = (unsigned char)rcode;
	m->b[6] = m->b[7] = 0;
}

/* One TXT record at the question's name (pointer 0xc00c) holding the
 * given character-strings. */
static void
add_txt(struct msg *m, const char *const *strings, size_t n)
{
	size_t rdlen = 0;

	for (size_t i = 0; i < n; i++)
		rdlen += 1 + strlen(strings[i]);
	put16(m, 0xc00c);
	put16(m, ns_t_txt);
	put16(m, ns_c_in);
	put16(m, 0);
	put16(m, 60);
	put16(m, (unsigned)rdlen);
	for (size_t i = 0; i < n; i++) {
		unsigned char l = (unsigned char)strlen(strings[i]);
		put(m, &l, 1);
		put(m, strings[i], l);
	}
	m->b[7]++;
}

static void
add_cname(struct msg *m)
{
	static const unsigned char target[] = "\x05other\x07example\x03net";

	put16(m, 0xc00c);
	put16(m, ns_t_cname);
	put16(m, ns_c_in);
	put16(m, 0);
	put16(m, 60);
	put16(m, sizeof(target));
	put(m, target, sizeof(target));
	m->b[7]++;
}

static size_t
make_query(unsigned char *q, size_t qlen)
{
	int n = dns_build_query("_acme-challenge.example.com", ns_t_txt, false, q, qlen, NULL);

	ck_assert_int_gt(n, 12);
	return (size_t)n;
}

START_TEST(test_record_name)
{
	struct strlist argv = {0};
	char *r;

	r = dns01_record_name("example.com");
	ck_assert_str_eq(r, "_acme-challenge.example.com.");
	free(r);
	r = dns01_record_name("*.example.com");
	ck_assert_str_eq(r, "_acme-challenge.example.com.");
	free(r);
	r = dns01_record_name("www.example.com.");
	ck_assert_str_eq(r, "_acme-challenge.www.example.com.");
	free(r);

	dns01_hook_argv("/usr/lib/hook", "add", "_acme-challenge.example.com.", "v4lue", &argv);
	ck_assert_uint_eq(argv.n, 4);
	ck_assert_str_eq(argv.v[0], "/usr/lib/hook");
	ck_assert_str_eq(argv.v[1], "add");
	ck_assert_str_eq(argv.v[2], "_acme-challenge.example.com.");
	ck_assert_str_eq(argv.v[3], "v4lue");
	ck_assert_ptr_null(argv.v[4]);
	strlist_free(&argv);
}
END_TEST

START_TEST(test_build_query)
{
	static const unsigned char qname[] = "\x0f_acme-challenge\x07" "example\x03" "com";
	unsigned char q[512];
	unsigned id;
	char longlabel[80];
	int n;

	n = dns_build_query("_acme-challenge.example.com.", ns_t_txt, true, q, sizeof(q), &id);
	ck_assert_int_eq(n, 12 + (int)sizeof(qname) + 4);
	ck_assert_uint_eq(((unsigned)q[0] << 8 | q[1]), id);
	ck_assert_uint_eq(q[2], 0x01);              /* RD, opcode QUERY */
	ck_assert_uint_eq(q[5], 1);                 /* one question */
	ck_assert_uint_eq(q[7] | q[9] | q[11], 0);  /* no records */
	ck_assert_int_eq(memcmp(q + 12, qname, sizeof(qname)), 0);
	ck_assert_uint_eq(q[12 + sizeof(qname) + 1], ns_t_txt);
	ck_assert_uint_eq(q[12 + sizeof(qname) + 3], ns_c_in);

	n = dns_build_query("example.com", ns_t_ns, false, q, sizeof(q), NULL);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq(q[2], 0x00);
	ck_assert_int_eq(dns_build_query("a..b", ns_t_txt, false, q, sizeof(q), NULL), -1);
	memset(longlabel, 'a', 64);
	strcpy(longlabel + 64, ".com");
	ck_assert_int_eq(dns_build_query(longlabel, ns_t_txt, false, q, sizeof(q), NULL), -1);
	ck_assert_int_eq(dns_build_query("example.com", ns_t_txt, false, q, 20, NULL), -1);
}
END_TEST

START_TEST(test_txt_match)
{
	const char *mine[] = { "MINE-value_43chars" };
	const char *other[] = { "someone-elses" };
	const char *split[] = { "MINE-val", "ue_43chars" };
	unsigned char q[512];
	size_t qlen = make_query(q, sizeof(q));
	struct msg m;
	char err[128];

	start_answer(&m, q, qlen, ns_r_noerror);
	add_txt(&m, mine, 1);
	ck_assert_int_eq(dns_txt_match(m.b, m.len, "MINE-value_43chars", err, sizeof(err)), 1);
	/* A prefix or a longer value is not the value. */
	ck_assert_int_eq(dns_txt_match(m.b, m.len, "MINE-value", err, sizeof(err)), 0);
	ck_assert_str_eq(err, "1 other value");

	/* Two authorizations share the name: ours is the second value. */
	start_answer(&m, q, qlen, ns_r_noerror);
	add_txt(&m, other, 1);
	add_txt(&m, mine, 1);
	ck_assert_int_eq(dns_txt_match(m.b, m.len, "MINE-value_43chars", err, sizeof(err)), 1);
	ck_assert_int_eq(dns_txt_match(m.b, m.len, "absent", err, sizeof(err)), 0);
	ck_assert_str_eq(err, "2 other values");

	/* character-strings of one record are concatenated */
	start_answer(&m, q, qlen, ns_r_noerror);
	add_txt(&m, split, 2);
	ck_assert_int_eq(dns_txt_match(m.b, m.len, "MINE-value_43chars", err, sizeof(err)), 1);

	/* a CNAME alone is no TXT record */
	start_answer(&m, q, qlen, ns_r_noerror);
	add_cname(&m);
	ck_assert_int_eq(dns_txt_match(m.b, m.len, "MINE-value_43chars", err, sizeof(err)), 0);
	ck_assert_str_eq(err, "no TXT record");

	start_answer(&m, q, qlen, ns_r_nxdomain);
	ck_assert_int_eq(dns_txt_match(m.b, m.len, "x", err, sizeof(err)), 0);
	ck_assert_str_eq(err, "NXDOMAIN");

	start_answer(&m, q, qlen, ns_r_servfail);
	ck_assert_int_eq(dns_txt_match(m.b, m.len, "x", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "SERVFAIL"));

	/* truncated in the middle of the record */
	start_answer(&m, q, qlen, ns_r_noerror);
	add_txt(&m, mine, 1);
	ck_assert_int_eq(dns_txt_match(m.b, m.len - 5, "MINE-value_43chars", err,
	    sizeof(err)), -1);
	/* a character-string longer than the record */
	m.b[m.len - strlen(mine[0]) - 1] = 200;
	ck_assert_int_eq(dns_txt_match(m.b, m.len, "MINE-value_43chars", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "malformed TXT record");
	ck_assert_int_eq(dns_txt_match(q, 5, "x", err, sizeof(err)), -1);
}
END_TEST

/* ---- a fake DNS server on a loopback UDP port ---- */

static struct {
	int fd;
	int port;
	pthread_t th;
	pthread_mutex_t mu;
	bool stop;
	char values[4][64];
	size_t nvalues;
	unsigned queries;
} fake;

static void *
fake_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd pfd = { .fd = fake.fd, .events = POLLIN };
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		unsigned char q[512];
		struct msg m;
		ssize_t n;
		bool stop;

		pthread_mutex_lock(&fake.mu);
		stop = fake.stop;
		pthread_mutex_unlock(&fake.mu);
		if (stop)
			return NULL;
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = recvfrom(fake.fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		if (n < 12)
			continue;
		start_answer(&m, q, (size_t)n, ns_r_noerror);
		pthread_mutex_lock(&fake.mu);
		fake.queries++;
		for (size_t i = 0; i < fake.nvalues; i++) {
			const char *one[] = { fake.values[i] };
			add_txt(&m, one, 1);
		}
		pthread_mutex_unlock(&fake.mu);
		sendto(fake.fd, m.b, m.len, 0, (struct sockaddr *)&from, fl);
	}
}

static void
fake_start(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);

	memset(&fake, 0, sizeof(fake));
	pthread_mutex_init(&fake.mu, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fake.fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(fake.fd, 0);
	ck_assert_int_eq(bind(fake.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fake.fd, (struct sockaddr *)&sa, &sl), 0);
	fake.port = ntohs(sa.sin_port);
	ck_assert_int_eq(pthread_create(&fake.th, NULL, fake_main, NULL), 0);
}

static void
fake_set(const char *v1, const char *v2)
{
	pthread_mutex_lock(&fake.mu);
	fake.nvalues = 0;
	if (v1)
		snprintf(fake.values[fake.nvalues++], sizeof(fake.values[0]), "%s", v1);
	if (v2)
		snprintf(fake.values[fake.nvalues++], sizeof(fake.values[0]), "%s", v2);
	pthread_mutex_unlock(&fake.mu);
}

static void
fake_stop(void)
{
	pthread_mutex_lock(&fake.mu);
	fake.stop = true;
	pthread_mutex_unlock(&fake.mu);
	pthread_join(fake.th, NULL);
	close(fake.fd);
	pthread_mutex_destroy(&fake.mu);
}

/* ---- whole publications ---- */

static char tmpdir[64], hook[128], hooklog[128], resolver[64];
static struct workpool *pool;

struct outcome {
	int calls;
	bool ok;
	char *error;
};

static void
done_cb(bool ok, const char *error, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->ok = ok;
	free(o->error);
	o->error = xstrdup(error);
	ev_break(ev_default_loop(0), EVBREAK_ALL);
}

/* Runs the loop until a callback breaks it or `secs` pass. */
static void
run_loop(double secs)
{
	(void)test_run_loop(ev_default_loop(0), secs);
}

/* Runs the loop until every task is gone (removals done). */
static void
run_until_idle(void)
{
	for (int i = 0; i < 100 && dns01_pending() > 0; i++)
		run_loop(0.1);
	ck_assert_uint_eq(dns01_pending(), 0);
}

static char *
hook_calls(void)
{
	char *data = NULL;
	size_t len = 0;

	if (read_file(hooklog, &data, &len, 1 << 20) < 0)
		return xstrdup("");
	return data;
}

static void
setup(void)
{
	FILE *f;

	log_init("check_dns01", LOG_ERR, LOG_STYLE_PLAIN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/certfleet-dns01.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(hook, sizeof(hook), "%s/hook", tmpdir);
	snprintf(hooklog, sizeof(hooklog), "%s/calls", tmpdir);
	f = fopen(hook, "w");
	ck_assert_ptr_nonnull(f);
	/* Logs argv and the environment it was promised; HOOK_ADD_EXIT makes
	 * add fail. */
	fprintf(f, "#!/bin/sh\n"
	    "echo \"$1 $2 $3 name=$CERTFLEET_NAME domain=$CERTFLEET_DOMAIN "
	    "rec=$CERTFLEET_DNS_RECORD val=$CERTFLEET_DNS_VALUE\" >> %s\n"
	    "[ \"$1\" = add ] && exit ${HOOK_ADD_EXIT:-0}\n"
	    "exit 0\n", hooklog);
	fclose(f);
	chmod(hook, 0755);
	unsetenv("HOOK_ADD_EXIT");
	fake_start();
	snprintf(resolver, sizeof(resolver), "127.0.0.1:%d", fake.port);
	pool = workpool_new(ev_default_loop(0), 2, "DNS check");
	ck_assert_ptr_nonnull(pool);
}

static void
teardown(void)
{
	char cmd[128];

	workpool_free(pool);
	fake_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static void
opts(struct dns01_opts *o, const char *value, double propagation)
{
	memset(o, 0, sizeof(*o));
	o->cert_name = "wild";
	o->domain = "*.example.com";
	o->record = "_acme-challenge.example.com.";
	o->value = value;
	o->hook = hook;
	o->hook_timeout = 10;
	o->propagation_timeout = propagation;
	o->poll_interval = 0.2;
	o->resolver = resolver;
}

START_TEST(test_publish_found)
{
	struct dns01_opts o;
	struct outcome out = {0};
	struct dns01_task *t;
	char *calls;

	/* Another authorization's value is there too: ours is found among them. */
	fake_set("other-authorization", "the-value");
	opts(&o, "the-value", 10);
	t = dns01_publish(ev_default_loop(0), pool, &o, done_cb, &out);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(out.calls, 0); /* never from inside publish */
	run_loop(15);
	ck_assert_int_eq(out.calls, 1);
	ck_assert(out.ok);
	dns01_unpublish(t);
	run_until_idle();
	calls = hook_calls();
	ck_assert_str_eq(calls,
	    "add _acme-challenge.example.com. the-value name=wild domain=*.example.com "
	    "rec=_acme-challenge.example.com. val=the-value\n"
	    "remove _acme-challenge.example.com. the-value name=wild domain=*.example.com "
	    "rec=_acme-challenge.example.com. val=the-value\n");
	free(calls);
	free(out.error);
}
END_TEST

START_TEST(test_publish_late)
{
	struct dns01_opts o;
	struct outcome out = {0};
	struct dns01_task *t;
	unsigned before;

	/* Not there at first: polled until it appears. */
	fake_set("stale", NULL);
	opts(&o, "late-value", 10);
	t = dns01_publish(ev_default_loop(0), pool, &o, done_cb, &out);
	run_loop(0.7);
	ck_assert_int_eq(out.calls, 0);
	pthread_mutex_lock(&fake.mu);
	before = fake.queries;
	pthread_mutex_unlock(&fake.mu);
	ck_assert_uint_ge(before, 2);
	fake_set("stale", "late-value");
	run_loop(10);
	ck_assert_int_eq(out.calls, 1);
	ck_assert(out.ok);
	dns01_unpublish(t);
	run_until_idle();
	free(out.error);
}
END_TEST

START_TEST(test_publish_timeout)
{
	struct dns01_opts o;
	struct outcome out = {0};
	struct dns01_task *t;
	char *calls;

	fake_set("not-ours", NULL);
	opts(&o, "never-there", 1.0);
	t = dns01_publish(ev_default_loop(0), pool, &o, done_cb, &out);
	run_loop(15);
	ck_assert_int_eq(out.calls, 1);
	ck_assert(!out.ok);
	ck_assert_ptr_nonnull(out.error);
	ck_assert_ptr_nonnull(strstr(out.error, "_acme-challenge.example.com. (value never-there) "
	    "not visible after 1s"));
	ck_assert_ptr_nonnull(strstr(out.error, resolver));
	ck_assert_ptr_nonnull(strstr(out.error, "1 other value"));
	dns01_unpublish(t);
	run_until_idle();
	calls = hook_calls();
	ck_assert_ptr_nonnull(strstr(calls, "\nremove _acme-challenge.example.com. never-there"));
	free(calls);
	free(out.error);
}
END_TEST

START_TEST(test_publish_hook_fails)
{
	struct dns01_opts o;
	struct outcome out = {0};
	struct dns01_task *t;
	char *calls;

	setenv("HOOK_ADD_EXIT", "3", 1);
	fake_set("v", NULL);
	opts(&o, "v", 10);
	t = dns01_publish(ev_default_loop(0), pool, &o, done_cb, &out);
	run_loop(15);
	unsetenv("HOOK_ADD_EXIT");
	ck_assert_int_eq(out.calls, 1);
	ck_assert(!out.ok);
	ck_assert_ptr_nonnull(strstr(out.error, " add _acme-challenge.example.com. exited with "
	    "status 3"));
	ck_assert_ptr_nonnull(strstr(out.error, hook));
	/* remove runs all the same */
	dns01_unpublish(t);
	run_until_idle();
	calls = hook_calls();
	ck_assert_ptr_nonnull(strstr(calls, "\nremove _acme-challenge.example.com. v "));
	free(calls);
	free(out.error);
}
END_TEST

START_TEST(test_unpublish_during_add)
{
	struct dns01_opts o;
	struct outcome out = {0};
	struct dns01_task *t;
	char *calls;

	/* Cancelled while add still runs: no callback, remove after add. */
	fake_set("v", NULL);
	opts(&o, "v", 10);
	t = dns01_publish(ev_default_loop(0), pool, &o, done_cb, &out);
	dns01_unpublish(t);
	ck_assert_uint_eq(dns01_pending(), 1);
	run_until_idle();
	ck_assert_int_eq(out.calls, 0);
	calls = hook_calls();
	ck_assert_ptr_nonnull(strstr(calls, "add _acme-challenge.example.com. v "));
	ck_assert_ptr_nonnull(strstr(calls, "\nremove _acme-challenge.example.com. v "));
	free(calls);
}
END_TEST

START_TEST(test_drain)
{
	struct dns01_opts o;
	struct outcome out = {0};
	char *calls;

	/* An abandoned task (owner gone without unpublish) is removed by the
	 * shutdown drain. */
	fake_set("v", NULL);
	opts(&o, "v", 10);
	(void)dns01_publish(ev_default_loop(0), pool, &o, done_cb, &out);
	run_loop(15);
	ck_assert(out.ok);
	dns01_drain(ev_default_loop(0), 10);
	ck_assert_uint_eq(dns01_pending(), 0);
	calls = hook_calls();
	ck_assert_ptr_nonnull(strstr(calls, "\nremove _acme-challenge.example.com. v "));
	free(calls);
	free(out.error);
}
END_TEST

START_TEST(test_probe_bad_server)
{
	struct dns01_opts o;
	struct outcome out = {0};
	struct dns01_task *t;

	/* Nobody answers on this port: the failure names the server. */
	opts(&o, "v", 1.0);
	o.resolver = "127.0.0.1:1";
	t = dns01_publish(ev_default_loop(0), pool, &o, done_cb, &out);
	run_loop(20);
	ck_assert_int_eq(out.calls, 1);
	ck_assert(!out.ok);
	ck_assert_ptr_nonnull(strstr(out.error, "127.0.0.1:1: "));
	dns01_unpublish(t);
	run_until_idle();
	free(out.error);
}
END_TEST

static Suite *
dns01_suite(void)
{
	Suite *s = suite_create("dns01");
	TCase *wire = tcase_create("wire");
	TCase *life = tcase_create("publish");

	tcase_add_test(wire, test_record_name);
	tcase_add_test(wire, test_build_query);
	tcase_add_test(wire, test_txt_match);
	suite_add_tcase(s, wire);

	tcase_add_checked_fixture(life, setup, teardown);
	tcase_set_timeout(life, 60);
	tcase_add_test(life, test_publish_found);
	tcase_add_test(life, test_publish_late);
	tcase_add_test(life, test_publish_timeout);
	tcase_add_test(life, test_publish_hook_fails);
	tcase_add_test(life, test_unpublish_during_add);
	tcase_add_test(life, test_drain);
	tcase_add_test(life, test_probe_bad_server);
	suite_add_tcase(s, life);
	return s;
}

CHECK_MAIN(dns01_suite)
