/*
 * check_notifier.c - unit tests for notifier.c on the default loop: the
 * webhook against a small HTTP server the test forks on 127.0.0.1 (it
 * records every request and answers the statuses the test scripts), the
 * mail program as real /bin/sh scripts reading their stdin.  Retries after
 * a 5xx and after a failing mailer, giving up after `attempts`, no retry
 * of a 4xx, the bounded queue, the mail's headers, and a notifier freed
 * with a mail program still running.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "hooks.h"
#include "http.h"
#include "notifier.h"
/* testdir.h's helpers are for every includer; not all are used here. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "testdir.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"

#define BODY "{\"event\":\"renewal_failed\",\"certificate\":\"www\"}"

/* ---- the test server (a child process, one connection at a time) ---- */

static pid_t server_pid = -1;
static int server_port;

static void
send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* Reads one request, appends it to log with a separator line, answers
 * status (and Retry-After: 1 with 429). */
static void
serve_one(int fd, const char *log, int status)
{
	struct buf req = { 0 };
	char chunk[8192], *end, *cl, *resp;
	size_t head_len, body_len = 0;
	ssize_t n;
	FILE *f;

	while ((end = req.data ? strstr(req.data, "\r\n\r\n") : NULL) == NULL) {
		if ((n = read(fd, chunk, sizeof(chunk))) <= 0)
			return;
		buf_append(&req, chunk, (size_t)n);
		buf_append(&req, "", 1);
		req.len--;
	}
	head_len = (size_t)(end + 4 - req.data);
	for (cl = req.data; (cl = strchr(cl, '\n')) != NULL && cl < end; cl++)
		if (strncasecmp(cl + 1, "Content-Length:", 15) == 0)
			body_len = strtoul(cl + 16, NULL, 10);
	while (req.len < head_len + body_len) {
		if ((n = read(fd, chunk, sizeof(chunk))) <= 0)
			return;
		buf_append(&req, chunk, (size_t)n);
	}
	if ((f = fopen(log, "a")) != NULL) {
		fwrite(req.data, 1, req.len, f);
		fputs("\n====\n", f);
		fclose(f);
	}
	resp = xasprintf("HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n%s\r\n",
	    status, status == 429 ? "Retry-After: 1\r\n" : "");
	send_all(fd, resp, strlen(resp));
	free(resp);
	shutdown(fd, SHUT_WR);
	while (read(fd, chunk, sizeof(chunk)) > 0)
		;
	buf_free(&req);
}

/* Answers statuses[0], statuses[1], ... (the last one from then on). */
static void
server_start(const char *log, const int *statuses, size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int lfd, one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	server_port = ntohs(sa.sin_port);
	server_pid = fork();
	ck_assert_int_ge(server_pid, 0);
	if (server_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(60); /* never outlive a broken test */
		for (size_t k = 0;; k++) {
			int fd = accept(lfd, NULL, NULL);

			if (fd < 0) {
				if (errno == EINTR)
					continue;
				_exit(1);
			}
			serve_one(fd, log, statuses[k < n ? k : n - 1]);
			close(fd);
		}
	}
	close(lfd);
}

static void
server_stop(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
	}
	server_pid = -1;
}

/* How many requests log holds. */
static int
requests(const char *log)
{
	char *s = NULL, *p;
	size_t len;
	int n = 0;

	if (read_file(log, &s, &len, 1 << 20) < 0)
		return 0;
	for (p = s; (p = strstr(p, "\n====\n")) != NULL; p += 6)
		n++;
	free(s);
	return n;
}

/* ---- the notifier ---- */

static struct ev_loop *loop;
static struct http_client *http;
static struct notifier *nf;
/* What the inventory would give; tgt() points a notifier_target at it. */
static struct {
	char *webhook_url, *webhook_header, *mail_from;
	long long webhook_timeout;
	struct strlist mail_argv, mail_to;
} to;

static const struct notifier_target *
tgt(void)
{
	static struct notifier_target t;

	t = (struct notifier_target){
		.webhook_url = to.webhook_url,
		.webhook_header = to.webhook_header,
		.webhook_timeout = to.webhook_timeout,
		.mail_argv = &to.mail_argv,
		.mail_to = &to.mail_to,
		.mail_from = to.mail_from,
	};
	return &t;
}

static void
n_setup(void)
{
	struct notifier_limits *l;

	setup();
	signal(SIGPIPE, SIG_IGN);
	loop = ev_default_loop(0);
	http = http_client_new(loop);
	nf = notifier_new(loop, http);
	l = notifier_limits(nf);
	l->first_delay = 0.05;
	l->max_delay = 0.2;
	memset(&to, 0, sizeof(to));
	to.webhook_timeout = 5;
}

static void
n_teardown(void)
{
	notifier_free(nf);
	http_client_free(http);
	free(to.webhook_url);
	free(to.webhook_header);
	strlist_free(&to.mail_argv);
	strlist_free(&to.mail_to);
	free(to.mail_from);
	server_stop();
	teardown();
}

static void
idle_check(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)revents;
	if (notifier_pending(w->data) == 0)
		ev_break(l, EVBREAK_ALL);
}

/* Runs the loop until nothing is pending (true) or 20 s pass. */
static bool
run_until_done(void)
{
	ev_timer t;
	bool ok;

	ev_timer_init(&t, idle_check, 0.01, 0.01);
	t.data = nf;
	ev_timer_start(loop, &t);
	ok = test_run_loop(loop, 20.0);
	ev_timer_stop(loop, &t);
	return ok;
}

static const struct notifier_msg msg = {
	.event = "renewal_failed",
	.about = "www",
	.subject = "[certfleet] www: renewal failing (3 attempts in a row)",
	.json = BODY,
	.text = "certfleetd on host cannot renew www.\n",
};

static void
webhook_to(const char *header)
{
	to.webhook_url = xasprintf("http://127.0.0.1:%d/hook", server_port);
	to.webhook_header = xstrdup(header);
}

START_TEST(test_webhook_retried_after_500)
{
	static const int st[] = { 500, 200 };
	const char *log = tp("requests");
	char *got;

	server_start(log, st, 2);
	webhook_to("X-Token: abc");
	ck_assert_int_eq(notifier_send(nf, tgt(), &msg), 1);
	ck_assert(run_until_done());
	ck_assert_int_eq(requests(log), 2);
	ck_assert_uint_eq(notifier_delivered(nf), 1);
	ck_assert_uint_eq(notifier_dropped(nf), 0);
	got = slurp(log);
	ck_assert_ptr_nonnull(strstr(got, "POST /hook HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(got, "\r\nX-Token: abc\r\n"));
	ck_assert_ptr_nonnull(strstr(got, "\r\nContent-Type: application/json\r\n"));
	/* The same body both times. */
	ck_assert_ptr_nonnull(strstr(strstr(got, "\r\n\r\n" BODY "\n====\n") + 1,
	    "\r\n\r\n" BODY "\n====\n"));
}
END_TEST

START_TEST(test_webhook_given_up)
{
	static const int st[] = { 503 };
	const char *log = tp("requests");

	server_start(log, st, 1);
	notifier_limits(nf)->attempts = 3;
	webhook_to(NULL);
	notifier_send(nf, tgt(), &msg);
	ck_assert(run_until_done());
	ck_assert_int_eq(requests(log), 3);
	ck_assert_uint_eq(notifier_delivered(nf), 0);
	ck_assert_uint_eq(notifier_dropped(nf), 1);
}
END_TEST

START_TEST(test_webhook_4xx_not_retried)
{
	static const int sts[][2] = { { 404, 200 }, { 301, 200 } };
	const int *st = sts[_i];
	const char *log = tp("requests");

	server_start(log, st, 2);
	webhook_to(NULL);
	notifier_send(nf, tgt(), &msg);
	ck_assert(run_until_done());
	ck_assert_int_eq(requests(log), 1);
	ck_assert_uint_eq(notifier_dropped(nf), 1);
}
END_TEST

START_TEST(test_webhook_429_retried)
{
	static const int st[] = { 429, 204 };
	const char *log = tp("requests");

	server_start(log, st, 2);
	notifier_limits(nf)->max_delay = 2.0;
	webhook_to(NULL);
	notifier_send(nf, tgt(), &msg);
	ck_assert(run_until_done());
	ck_assert_int_eq(requests(log), 2);
	ck_assert_uint_eq(notifier_delivered(nf), 1);
}
END_TEST

/* to's mailer: /bin/sh -c SCRIPT. */
static void
mail_to(const char *script)
{
	strlist_add(&to.mail_argv, "/bin/sh");
	strlist_add(&to.mail_argv, "-c");
	strlist_add(&to.mail_argv, script);
	strlist_add(&to.mail_to, "ops@example.com");
	strlist_add(&to.mail_to, "pager@example.com");
	to.mail_from = xstrdup("certfleet@example.com");
}

START_TEST(test_mail_message)
{
	char *script = xasprintf("cat > %s", tp("mail.txt"));
	const char *m;

	mail_to(script);
	ck_assert_int_eq(notifier_send(nf, tgt(), &msg), 1);
	ck_assert(run_until_done());
	ck_assert_uint_eq(notifier_delivered(nf), 1);
	m = slurp(tp("mail.txt"));
	ck_assert_msg(strncmp(m, "To: ops@example.com, pager@example.com\n"
	    "From: certfleet@example.com\n"
	    "Subject: [certfleet] www: renewal failing (3 attempts in a row)\n"
	    "Date: ", 125) == 0, "%s", m);
	ck_assert_ptr_nonnull(strstr(m, "\nAuto-Submitted: auto-generated\n"));
	ck_assert_ptr_nonnull(strstr(m, "\nX-Certfleet-Event: renewal_failed\n"));
	ck_assert_ptr_nonnull(strstr(m, "\nContent-Type: text/plain; charset=utf-8\n"));
	ck_assert_ptr_nonnull(strstr(m, "\n\ncertfleetd on host cannot renew www.\n"));
	free(script);
}
END_TEST

START_TEST(test_mail_retried)
{
	char *script = xasprintf("if [ -e %s ]; then cat > %s; else touch %s; exit 75; fi",
	    tp("once"), tp("mail.txt"), tp("once"));

	mail_to(script);
	notifier_send(nf, tgt(), &msg);
	ck_assert(run_until_done());
	ck_assert_uint_eq(notifier_delivered(nf), 1);
	ck_assert_ptr_nonnull(strstr(slurp(tp("mail.txt")), "X-Certfleet-Event: renewal_failed"));
	free(script);
}
END_TEST

START_TEST(test_mail_not_reading_stdin)
{
	/* A message larger than a pipe holds, to a program that never reads
	 * it: its exit status counts, nothing hangs. */
	struct notifier_msg big = msg;
	char *text = xmalloc(300000);

	memset(text, 'x', 299999);
	text[299999] = '\0';
	big.text = text;
	mail_to("exit 0");
	notifier_send(nf, tgt(), &big);
	ck_assert(run_until_done());
	ck_assert_uint_eq(notifier_delivered(nf), 1);
	free(text);
}
END_TEST

START_TEST(test_both_channels_and_none)
{
	static const int st[] = { 200 };
	char *script = xasprintf("cat > %s", tp("mail.txt"));

	/* No channel: nothing queued. */
	ck_assert_int_eq(notifier_send(nf, tgt(), &msg), 0);
	server_start(tp("requests"), st, 1);
	webhook_to(NULL);
	mail_to(script);
	ck_assert_int_eq(notifier_send(nf, tgt(), &msg), 2);
	ck_assert(run_until_done());
	ck_assert_uint_eq(notifier_delivered(nf), 2);
	ck_assert_int_eq(requests(tp("requests")), 1);
	free(script);
}
END_TEST

START_TEST(test_queue_bounded)
{
	struct notifier_limits *l = notifier_limits(nf);
	static const int st[] = { 503 };

	server_start(tp("requests"), st, 1);
	l->queue_max = 3;
	l->inflight_max = 1;
	webhook_to(NULL);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(notifier_send(nf, tgt(), &msg), 1);
	/* One in flight, two waiting; the two oldest waiting were dropped. */
	ck_assert_uint_eq(notifier_pending(nf), 3);
	ck_assert_uint_eq(notifier_dropped(nf), 2);
	/* Freed with a request in flight (teardown): cancelled, no callback. */
}
END_TEST

static int idle_calls;

static void
on_idle(void *arg)
{
	(void)arg;
	idle_calls++;
	ev_break(loop, EVBREAK_ALL);
}

static void
first_failed(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)revents;
	if (requests(w->data) >= 1)
		ev_break(l, EVBREAK_ALL);
}

START_TEST(test_drain)
{
	static const int st[] = { 503 };
	const char *log = tp("requests");
	ev_timer t;

	idle_calls = 0;
	ck_assert(!notifier_drain(nf, on_idle, NULL));
	notifier_free(nf);
	nf = notifier_new(loop, http);
	server_start(log, st, 1);
	notifier_limits(nf)->first_delay = 30.0;
	notifier_limits(nf)->max_delay = 60.0;
	webhook_to(NULL);
	notifier_send(nf, tgt(), &msg);
	/* The first attempt fails; its retry would be 30 s away... */
	ev_timer_init(&t, first_failed, 0.01, 0.01);
	t.data = (void *)log;
	ev_timer_start(loop, &t);
	ck_assert(test_run_loop(loop, 10.0));
	ev_timer_stop(loop, &t);
	/* Its answer reaches the client well within this (nothing breaks
	 * the loop early). */
	test_run_loop(loop, 1.0);
	ck_assert_uint_eq(notifier_pending(nf), 1);
	/* ... but at shutdown it is tried once more at once, then given up. */
	ck_assert(notifier_drain(nf, on_idle, NULL));
	ck_assert(test_run_loop(loop, 10.0));
	ck_assert_int_eq(idle_calls, 1);
	ck_assert_int_eq(requests(log), 2);
	ck_assert_uint_eq(notifier_pending(nf), 0);
	ck_assert_uint_eq(notifier_dropped(nf), 1);
}
END_TEST

START_TEST(test_free_with_mail_running)
{
	mail_to("sleep 0.3; cat > /dev/null");
	notifier_send(nf, tgt(), &msg);
	notifier_free(nf);
	nf = NULL;
	/* The program ends later; its orphaned delivery is freed then. */
	test_run_loop(loop, 1.0);
	ck_assert_uint_eq(hook_running(), 0);
}
END_TEST

static Suite *
notifier_suite(void)
{
	Suite *s = suite_create("notifier");
	TCase *tc = tcase_create("notifier");

	tcase_set_timeout(tc, 30);
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, n_setup, n_teardown);
	tcase_add_test(tc, test_webhook_retried_after_500);
	tcase_add_test(tc, test_webhook_given_up);
	tcase_add_loop_test(tc, test_webhook_4xx_not_retried, 0, 2);
	tcase_add_test(tc, test_webhook_429_retried);
	tcase_add_test(tc, test_mail_message);
	tcase_add_test(tc, test_mail_retried);
	tcase_add_test(tc, test_mail_not_reading_stdin);
	tcase_add_test(tc, test_both_channels_and_none);
	tcase_add_test(tc, test_queue_bounded);
	tcase_add_test(tc, test_drain);
	tcase_add_test(tc, test_free_with_mail_running);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(notifier_suite)
