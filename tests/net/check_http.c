/*
 * check_http.c - unit tests for http.c: Retry-After parsing, and real
 * transfers on the default loop against a tiny HTTP/1.1 server that the
 * test forks on 127.0.0.1 (one process per connection, so a hanging
 * request never blocks the others).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "http.h"
#include "log.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"

#define FULL_BODY_LEN (1u << 20)
#define BIG_BODY_LEN (5u << 20)
#define LIMIT_BODY_LEN (4u << 20)
#define TEN_YEARS (10LL * 365 * 86400)
#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
#define PROBLEM "{\"type\":\"urn:ietf:params:acme:error:badNonce\"}"

/* ---- the test server (runs in a child process) ---- */

static pid_t server_pid = -1;
static int server_port;

/* Byte i of generated bodies: every value, NULs included. */
static unsigned char
body_byte(size_t i)
{
	return (unsigned char)((i * 31u + (i >> 8)) & 0xff);
}

static void
send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0); /* the client went away (e.g. a body too large) */
		p += n;
		len -= (size_t)n;
	}
}

static void
send_generated(int fd, size_t len)
{
	char chunk[65536];

	for (size_t off = 0; off < len; off += sizeof(chunk)) {
		size_t n = len - off < sizeof(chunk) ? len - off : sizeof(chunk);
		for (size_t i = 0; i < n; i++)
			chunk[i] = (char)body_byte(off + i);
		send_all(fd, chunk, n);
	}
}

static void
send_head(int fd, const char *status, const char *extra, size_t content_length)
{
	char *h = xasprintf("HTTP/1.1 %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
	    status, extra, content_length);

	send_all(fd, h, strlen(h));
	free(h);
}

/* One HTTP/1.1 chunk. */
static void
send_chunk(int fd, const char *data)
{
	char *c = xasprintf("%zx\r\n%s\r\n", strlen(data), data);

	send_all(fd, c, strlen(c));
	free(c);
}

static void
send_canned(int fd, const char *status, const char *extra, const char *body)
{
	send_head(fd, status, extra, strlen(body));
	send_all(fd, body, strlen(body));
}

/* Serves one request on fd, then returns (the caller exits). */
static void
serve_conn(int fd)
{
	struct buf req = {0};
	char chunk[65536], method[16] = "", target[256] = "", *end = NULL, *cl, *extra;
	size_t head_len, body_len = 0;
	ssize_t n;
	bool head;

	/* The headers... */
	while ((end = req.data ? strstr(req.data, "\r\n\r\n") : NULL) == NULL) {
		if ((n = read(fd, chunk, sizeof(chunk))) <= 0)
			return;
		buf_append(&req, chunk, (size_t)n);
	}
	head_len = (size_t)(end + 4 - req.data);
	if (sscanf(req.data, "%15s %255s", method, target) != 2)
		return;
	head = strcmp(method, "HEAD") == 0;
	for (cl = req.data; (cl = strchr(cl, '\n')) != NULL && cl < end; cl++)
		if (strncasecmp(cl + 1, "Content-Length:", 15) == 0)
			body_len = strtoul(cl + 16, NULL, 10);
	/* ...and the body. */
	while (req.len < head_len + body_len) {
		if ((n = read(fd, chunk, sizeof(chunk))) <= 0)
			return;
		buf_append(&req, chunk, (size_t)n);
	}

	if (strcmp(target, "/full") == 0) {
		extra = xasprintf("Replay-Nonce: nonce-abc_123\r\n"
		    "Location: http://127.0.0.1:%d/order/1\r\n"
		    "Retry-After:   30 \r\n"
		    "Content-Type: application/json\r\n"
		    "Link: <http://127.0.0.1:%d/cert/1/alt/1>;rel=\"alternate\"\r\n"
		    "Link: <http://127.0.0.1:%d/directory>;rel=\"up\"\r\n"
		    "link: </cert/1/alt/2>; rel=alternate, <http://127.0.0.1:%d/x>;rel=\"index\"\r\n",
		    server_port, server_port, server_port, server_port);
		send_head(fd, "201 Created", extra, FULL_BODY_LEN);
		free(extra);
		if (!head)
			send_generated(fd, FULL_BODY_LEN);
	} else if (strcmp(target, "/echo") == 0) {
		/* The request as received, and the body length in a header. */
		extra = xasprintf("replay-nonce: len-%zu\r\nContent-Type: text/plain\r\n",
		    req.len - head_len);
		send_head(fd, "200 OK", extra, req.len);
		free(extra);
		send_all(fd, req.data, req.len);
	} else if (strncmp(target, "/n/", 3) == 0) {
		extra = xasprintf("response %s", target + 3);
		send_canned(fd, "200 OK", "", extra);
		free(extra);
	} else if (strcmp(target, "/big") == 0) {
		send_head(fd, "200 OK", "", BIG_BODY_LEN);
		send_generated(fd, BIG_BODY_LEN);
	} else if (strcmp(target, "/limit") == 0) {
		send_head(fd, "200 OK", "", LIMIT_BODY_LEN);
		send_generated(fd, LIMIT_BODY_LEN);
	} else if (strcmp(target, "/redirect") == 0) {
		send_canned(fd, "301 Moved Permanently", "Location: /full\r\n", "moved");
	} else if (strcmp(target, "/problem") == 0) {
		send_canned(fd, "400 Bad Request", "Content-Type: application/problem+json\r\n"
		    "Replay-Nonce: fresh\r\n", PROBLEM);
	} else if (strcmp(target, "/stream") == 0) {
		/* Chunks apart in time, one message split across two of them. */
		send_all(fd, CHUNKED_HEAD, strlen(CHUNKED_HEAD));
		send_chunk(fd, "one\n");
		usleep(200000);
		send_chunk(fd, "tw");
		usleep(200000);
		send_chunk(fd, "o\nthree\n");
		send_all(fd, "0\r\n\r\n", 5);
	} else if (strcmp(target, "/endless") == 0) {
		/* A chunk every 50 ms until the client goes away. */
		send_all(fd, CHUNKED_HEAD, strlen(CHUNKED_HEAD));
		for (;;) {
			send_chunk(fd, "tick\n");
			usleep(50000);
		}
	} else if (strcmp(target, "/hang") == 0) {
		/* Never answers; ends when the client closes. */
		while (read(fd, chunk, sizeof(chunk)) > 0)
			;
	} else {
		send_canned(fd, "404 Not Found", "", "");
	}
	shutdown(fd, SHUT_WR);
	/* Let the client close first, so it never sees a reset. */
	while (read(fd, chunk, sizeof(chunk)) > 0)
		;
	buf_free(&req);
}

static void
server_start(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int lfd, one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 128), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	server_port = ntohs(sa.sin_port);
	server_pid = fork();
	ck_assert_int_ge(server_pid, 0);
	if (server_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGCHLD, SIG_IGN); /* connection processes reap themselves */
		for (;;) {
			int fd = accept(lfd, NULL, NULL);
			if (fd < 0) {
				if (errno == EINTR)
					continue;
				_exit(1);
			}
			if (fork() == 0) {
				close(lfd);
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				alarm(30); /* never outlive a broken test */
				serve_conn(fd);
				_exit(0);
			}
			close(fd);
		}
	}
	close(lfd);
}

/* ---- client side ---- */

struct got {
	int calls;
	bool during_request;
	long status;
	char *error;
	char *body;
	size_t body_len;
	bool body_terminated;
	char *content_type, *location, *replay_nonce, *retry_after, *link_up;
	struct strlist alternates;
	double elapsed;
};

static struct ev_loop *loop;
static struct http_client *client;
static int pending;
static bool in_request;

static void
setup(void)
{
	log_init("check_http", LOG_WARNING, LOG_STYLE_PLAIN);
	server_start();
	loop = ev_default_loop(0);
	client = http_client_new(loop);
	ck_assert_ptr_nonnull(client);
	pending = 0;
}

static void
teardown(void)
{
	http_client_free(client);
	client = NULL;
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		/* libev's SIGCHLD handler may have reaped it already. */
		waitpid(server_pid, NULL, 0);
	}
	server_pid = -1;
}

static void
got_free(struct got *g)
{
	free(g->error);
	free(g->body);
	free(g->content_type);
	free(g->location);
	free(g->replay_nonce);
	free(g->retry_after);
	free(g->link_up);
	strlist_free(&g->alternates);
	memset(g, 0, sizeof(*g));
}

static void
done_cb(const struct http_response *resp, void *arg)
{
	struct got *g = arg;

	g->calls++;
	g->during_request = in_request;
	g->status = resp->status;
	g->error = xstrdup(resp->error);
	g->body = xmalloc(resp->body_len + 1);
	memcpy(g->body, resp->body, resp->body_len + 1);
	g->body_len = resp->body_len;
	g->body_terminated = resp->body[resp->body_len] == '\0';
	g->content_type = xstrdup(resp->content_type);
	g->location = xstrdup(resp->location);
	g->replay_nonce = xstrdup(resp->replay_nonce);
	g->retry_after = xstrdup(resp->retry_after);
	g->link_up = xstrdup(resp->link_up);
	for (size_t i = 0; i < resp->nlink_alternate; i++)
		strlist_add(&g->alternates, resp->link_alternate[i]);
	if (resp->nlink_alternate > 0)
		ck_assert_ptr_null(resp->link_alternate[resp->nlink_alternate]);
	g->elapsed = resp->elapsed;
	if (--pending == 0)
		ev_break(loop, EVBREAK_ALL);
}

static char *
url(const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", server_port, path);
}

static struct http_req *
start_url(const char *method, const char *u, struct got *g)
{
	struct http_request_opts o = {.method = method, .url = u};
	struct http_req *r;

	in_request = true;
	r = http_request(client, &o, done_cb, g);
	in_request = false;
	ck_assert_ptr_nonnull(r);
	pending++;
	return r;
}

static struct http_req *
start(const char *method, const char *path, struct got *g)
{
	char *u = url(path);
	struct http_req *r = start_url(method, u, g);

	free(u);
	return r;
}

/* Runs the loop for seconds, or (until_done) until every pending callback
 * ran, which must happen within that bound. */
static void
run_loop(double seconds, bool until_done)
{
	if (!until_done) {
		(void)test_run_loop(loop, seconds);
		return;
	}
	ck_assert_msg(pending == 0 || test_run_loop(loop, seconds),
	    "%d requests still pending after %.0f s", pending, seconds);
}

#define run_pending() run_loop(10., true)
#define run_for(seconds) run_loop(seconds, false)

/* got equals http://127.0.0.1:PORT<path>. */
static void
assert_url(const char *got, const char *path)
{
	char *want = url(path);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	free(want);
}

/* A transport error that names the request's URL. */
static void
assert_error_names_url(const struct got *g, const char *path)
{
	char *want = url(path);

	ck_assert_int_eq(g->status, 0);
	ck_assert_ptr_nonnull(g->error);
	ck_assert_msg(strstr(g->error, want) != NULL, "error does not name %s: %s", want,
	    g->error);
	free(want);
}

static void
assert_generated(const struct got *g, size_t len)
{
	ck_assert_uint_eq(g->body_len, len);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)g->body[i] != body_byte(i))
			ck_abort_msg("body differs at byte %zu", i);
	ck_assert(g->body_terminated);
}

/* ---- Retry-After ---- */

START_TEST(test_retry_after_seconds)
{
	static const struct {
		const char *in;
		long long want;
	} ok[] = {
		{"120", 120}, {" 5 ", 5}, {"0", 0}, {"\t7\t", 7}, {"007", 7},
		{"86400", 86400}, {"315360000", TEN_YEARS},
		/* Absurd values are clamped, never overflow or wrap negative. */
		{"315360001", TEN_YEARS}, {"4000000000", TEN_YEARS},
		{"99999999999999999999999999999999", TEN_YEARS},
		{"18446744073709551617", TEN_YEARS},
	};
	long long d;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		d = -1;
		ck_assert_msg(http_parse_retry_after(ok[i].in, 1700000000, &d) == 0,
		    "rejected \"%s\"", ok[i].in);
		ck_assert_msg(d == ok[i].want, "\"%s\" -> %lld, want %lld", ok[i].in, d,
		    ok[i].want);
	}
}
END_TEST

START_TEST(test_retry_after_dates)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example. */
	const time_t t = 784111777;
	static const char *const forms[] = {
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994",
		"sun, 06 nov 1994 08:49:37 gmt",
		"sunday, 06-nov-94 08:49:37 GMT",
		"Sun nov  6 08:49:37 1994",
		"SUN, 06 NOV 1994 08:49:37 GMT",
		"  Sun, 06 Nov 1994 08:49:37 GMT  ",
	};
	static const char *const recent[] = {
		"Sat, 28 Nov 2026 19:35:47 GMT", "Saturday, 28-Nov-26 19:35:47 GMT",
		"Sat Nov 28 19:35:47 2026",
	};
	long long d;

	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		d = -1;
		ck_assert_msg(http_parse_retry_after(forms[i], t - 100, &d) == 0,
		    "rejected \"%s\"", forms[i]);
		ck_assert_msg(d == 100, "\"%s\" -> %lld, want 100", forms[i], d);
		/* In the past (or now): retry at once, never a negative delay. */
		d = -1;
		ck_assert_int_eq(http_parse_retry_after(forms[i], t + 3600, &d), 0);
		ck_assert_int_eq(d, 0);
		d = -1;
		ck_assert_int_eq(http_parse_retry_after(forms[i], t, &d), 0);
		ck_assert_int_eq(d, 0);
	}
	/* Recent dates, and RFC 850's two-digit years on both sides of 2000. */
	for (size_t i = 0; i < ARRAY_SIZE(recent); i++) {
		ck_assert_msg(http_parse_retry_after(recent[i], 1795894427, &d) == 0,
		    "rejected \"%s\"", recent[i]);
		ck_assert_int_eq(d, 120);
	}
	ck_assert_int_eq(http_parse_retry_after("Thu, 29 Feb 2024 00:00:00 GMT", 1709164799,
	    &d), 0);
	ck_assert_int_eq(d, 1);
}
END_TEST

START_TEST(test_retry_after_garbage)
{
	static const char *const bad[] = {
		"soon", "12abc", "", " ", "-5", "+5", "1.5", "0x10", "5 s", "120, 30",
		"Sun, 06 Nov 1994 08:49:37 PST",
		"Sun, 06 Nov 1994 08:49:37",
		"Sun, 06 Foo 1994 08:49:37 GMT",
		"Sun, 32 Nov 1994 08:49:37 GMT",
		"Sun, 00 Nov 1994 08:49:37 GMT",
		"Sun, 06 Nov 1994 24:00:00 GMT",
		"Sun, 06 Nov 1994 08:60:00 GMT",
		"Sun, 06 Nov 1994 08:49 GMT",
		"Sun, 06 Nov 1969 08:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 GMT trailing",
		"Sun Nov  6 08:49:37 19945",
		"Sun Nov  6 08:49:37 1994 x",
		"Sunday, 06-Nov-94 08:49:37 GMTx",
		"Nov 1994",
	};
	long long d = 42;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_msg(http_parse_retry_after(bad[i], 784111777, &d) == -1,
		    "accepted \"%s\" (%lld)", bad[i], d);
		ck_assert_int_eq(d, 42);
	}
	ck_assert_int_eq(http_parse_retry_after(NULL, 784111777, &d), -1);
	ck_assert_int_eq(d, 42);
}
END_TEST

/* ---- transfers ---- */

START_TEST(test_full_response)
{
	struct got g = {0}, head = {0};

	start("GET", "/full", &g);
	ck_assert_uint_eq(http_inflight(client), 1);
	run_pending();
	ck_assert_uint_eq(http_inflight(client), 0);
	ck_assert_int_eq(g.calls, 1);
	ck_assert(!g.during_request);
	ck_assert_msg(g.error == NULL, "error: %s", g.error);
	ck_assert_int_eq(g.status, 201);
	assert_generated(&g, FULL_BODY_LEN);
	ck_assert_str_eq(g.content_type, "application/json");
	ck_assert_str_eq(g.replay_nonce, "nonce-abc_123");
	ck_assert_str_eq(g.retry_after, "30");
	assert_url(g.location, "/order/1");
	/* Absolute and relative (resolved against the request URL) targets;
	 * rel="index" is ignored. */
	ck_assert_uint_eq(g.alternates.n, 2);
	assert_url(g.alternates.v[0], "/cert/1/alt/1");
	assert_url(g.alternates.v[1], "/cert/1/alt/2");
	assert_url(g.link_up, "/directory");
	ck_assert(g.elapsed >= 0);

	start("HEAD", "/full", &head);
	run_pending();
	ck_assert_ptr_null(head.error);
	ck_assert_int_eq(head.status, 201);
	ck_assert_uint_eq(head.body_len, 0);
	ck_assert_str_eq(head.body, "");
	ck_assert_str_eq(head.replay_nonce, "nonce-abc_123");
	got_free(&g);
	got_free(&head);
}
END_TEST

START_TEST(test_post_body_intact)
{
	const size_t len = 200000;
	char *body = xmalloc(len), *nonce;
	struct http_request_opts o = {
		.method = "POST", .content_type = "application/jose+json",
		.accept = "application/pem-certificate-chain",
	};
	struct got g = {0}, empty = {0};
	const char *sep;

	/* Binary, NULs included: the length is what counts. */
	for (size_t i = 0; i < len; i++)
		body[i] = (char)body_byte(i);
	o.url = url("/echo");
	o.body = body;
	o.body_len = len;
	ck_assert_ptr_nonnull(http_request(client, &o, done_cb, &g));
	pending++;
	/* The request keeps its own copy. */
	memset(body, 'x', len);
	/* POST-as-GET: an empty body. */
	o.body = NULL;
	o.body_len = 0;
	ck_assert_ptr_nonnull(http_request(client, &o, done_cb, &empty));
	pending++;
	free((char *)o.url);
	run_pending();

	ck_assert_ptr_null(g.error);
	ck_assert_int_eq(g.status, 200);
	nonce = xasprintf("len-%zu", len);
	ck_assert_str_eq(g.replay_nonce, nonce);
	free(nonce);
	ck_assert_str_eq(g.content_type, "text/plain");
	sep = strstr(g.body, "\r\n\r\n");
	ck_assert_ptr_nonnull(sep);
	ck_assert_msg(strncmp(g.body, "POST /echo HTTP/1.1\r\n", 21) == 0, "request: %.60s", g.body);
	ck_assert(strcasestr(g.body, "\r\nContent-Type: application/jose+json\r\n") < sep);
	ck_assert(strcasestr(g.body, "\r\nAccept: application/pem-certificate-chain\r\n") < sep);
	ck_assert(strcasestr(g.body, "\r\nUser-Agent: certfleet/") < sep);
	ck_assert_ptr_null(strcasestr(g.body, "100-continue"));
	ck_assert_uint_eq(g.body_len - (size_t)(sep + 4 - g.body), len);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)sep[4 + i] != body_byte(i))
			ck_abort_msg("POST body differs at byte %zu", i);

	ck_assert_int_eq(empty.status, 200);
	ck_assert_str_eq(empty.replay_nonce, "len-0");
	ck_assert(strncmp(empty.body, "POST /echo HTTP/1.1\r\n", 21) == 0);
	got_free(&g);
	got_free(&empty);
	free(body);
}
END_TEST

START_TEST(test_connection_refused)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct got g = {0};
	int fd;

	/* Bound but not listening: connections to it are refused, and the port
	 * stays ours for the test. */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	server_port = ntohs(sa.sin_port);
	start("GET", "/directory", &g);
	run_pending();
	close(fd);
	ck_assert_int_eq(g.calls, 1);
	ck_assert(!g.during_request);
	assert_error_names_url(&g, "/directory");
	ck_assert_uint_eq(g.body_len, 0);
	ck_assert_str_eq(g.body, "");
	got_free(&g);
}
END_TEST

START_TEST(test_cancel)
{
	struct got hang = {0}, early = {0}, after = {0};
	struct http_req *r;

	/* Cancelled before the loop ever ran. */
	r = start("GET", "/n/early", &early);
	http_cancel(r);
	pending--;
	/* Cancelled while waiting for an answer. */
	r = start("GET", "/hang", &hang);
	run_for(0.3);
	ck_assert_uint_eq(http_inflight(client), 1);
	http_cancel(r);
	pending--;
	http_cancel(NULL);
	ck_assert_uint_eq(http_inflight(client), 0);
	/* Later requests work, and only their callbacks run. */
	start("GET", "/n/after", &after);
	run_pending();
	ck_assert_int_eq(after.calls, 1);
	ck_assert_str_eq(after.body, "response after");
	run_for(0.2);
	ck_assert_int_eq(early.calls, 0);
	ck_assert_int_eq(hang.calls, 0);
	got_free(&after);
}
END_TEST

/* n concurrent requests to /n/<i>, those flagged in cancel cancelled at
 * once; every other one gets its own answer. */
static void
run_numbered(int n, const bool *cancel)
{
	struct got *g = xcalloc((size_t)n, sizeof(*g));
	struct http_req **r = xcalloc((size_t)n, sizeof(*r));
	char path[32], want[32];
	size_t left = (size_t)n;

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/n/%d", i);
		r[i] = start("GET", path, &g[i]);
	}
	ck_assert_uint_eq(http_inflight(client), (size_t)n);
	for (int i = 0; cancel && i < n; i++) {
		if (cancel[i]) {
			http_cancel(r[i]);
			pending--;
			left--;
		}
	}
	ck_assert_uint_eq(http_inflight(client), left);
	run_pending();
	ck_assert_uint_eq(http_inflight(client), 0);
	for (int i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "response %d", i);
		ck_assert_int_eq(g[i].calls, cancel && cancel[i] ? 0 : 1);
		if (g[i].calls == 0)
			continue;
		ck_assert_msg(g[i].status == 200, "request %d: %ld %s", i, g[i].status,
		    g[i].error ? g[i].error : "");
		ck_assert_str_eq(g[i].body, want);
		got_free(&g[i]);
	}
	free(g);
	free(r);
}

START_TEST(test_ten_concurrent)
{
	run_numbered(10, NULL);
}
END_TEST

START_TEST(test_many_queued_and_cancelled)
{
	/* More than libcurl is handed at once (64): the rest wait in our queue.
	 * Cancelled: one active, one queued, and the queue's last one. */
	bool cancel[80] = {[0] = true, [70] = true, [79] = true};

	run_numbered(80, cancel);
}
END_TEST

START_TEST(test_body_limit)
{
	struct got big = {0}, limit = {0};

	start("GET", "/big", &big);
	start("GET", "/limit", &limit);
	run_pending();
	assert_error_names_url(&big, "/big");
	ck_assert_ptr_nonnull(strstr(big.error, "larger than"));
	/* Exactly at the limit is fine. */
	ck_assert_ptr_null(limit.error);
	ck_assert_int_eq(limit.status, 200);
	assert_generated(&limit, LIMIT_BODY_LEN);
	got_free(&big);
	got_free(&limit);
}
END_TEST

START_TEST(test_redirect_and_error_statuses)
{
	struct got g = {0}, moved = {0};

	/* Never followed: the 301 itself comes back. */
	start("GET", "/redirect", &moved);
	start("GET", "/problem", &g);
	run_pending();
	ck_assert_ptr_null(moved.error);
	ck_assert_int_eq(moved.status, 301);
	ck_assert_str_eq(moved.location, "/full");
	ck_assert_str_eq(moved.body, "moved");
	ck_assert_ptr_null(moved.replay_nonce);
	got_free(&moved);
	/* A 4xx is an answer, not a transport error. */
	ck_assert_ptr_null(g.error);
	ck_assert_int_eq(g.status, 400);
	ck_assert_str_eq(g.content_type, "application/problem+json");
	ck_assert_str_eq(g.replay_nonce, "fresh");
	ck_assert_str_eq(g.body, PROBLEM);
	ck_assert_ptr_null(g.location);
	ck_assert_ptr_null(g.retry_after);
	ck_assert_ptr_null(g.link_up);
	ck_assert_uint_eq(g.alternates.n, 0);
	got_free(&g);
}
END_TEST

START_TEST(test_timeout)
{
	struct http_request_opts o = {.method = "GET", .timeout_ms = 300};
	struct got g = {0};

	o.url = url("/hang");
	ck_assert_ptr_nonnull(http_request(client, &o, done_cb, &g));
	free((char *)o.url);
	pending++;
	run_pending();
	assert_error_names_url(&g, "/hang");
	got_free(&g);
}
END_TEST

START_TEST(test_other_protocols_refused)
{
	static const char *const urls[] = {"file:///etc/passwd", "ftp://127.0.0.1:1/x",
		"not a url"};
	struct got g[3];

	memset(g, 0, sizeof(g));
	for (size_t i = 0; i < ARRAY_SIZE(urls); i++)
		start_url("GET", urls[i], &g[i]);
	run_pending();
	for (size_t i = 0; i < ARRAY_SIZE(urls); i++) {
		ck_assert_int_eq(g[i].calls, 1);
		ck_assert(!g[i].during_request);
		ck_assert_msg(g[i].status == 0, "%s: status %ld", urls[i], g[i].status);
		ck_assert_ptr_nonnull(g[i].error);
		ck_assert_uint_eq(g[i].body_len, 0);
		got_free(&g[i]);
	}
}
END_TEST

static struct got chained;

static void
chain_cb(const struct http_response *resp, void *arg)
{
	struct got *g = arg;
	char *u = url("/n/second");
	struct http_request_opts o = {.method = "GET", .url = u};

	/* Starting a request from a completion is allowed. */
	g->calls++;
	g->status = resp->status;
	ck_assert_ptr_nonnull(http_request(client, &o, done_cb, &chained));
	free(u);
	pending++;
	if (--pending == 0)
		ev_break(loop, EVBREAK_ALL);
}

START_TEST(test_request_from_callback)
{
	struct got first = {0};
	char *u = url("/n/first");
	struct http_request_opts o = {.method = "GET", .url = u};

	ck_assert_ptr_nonnull(http_request(client, &o, chain_cb, &first));
	free(u);
	pending++;
	run_pending();
	ck_assert_int_eq(first.calls, 1);
	ck_assert_int_eq(first.status, 200);
	ck_assert_int_eq(chained.calls, 1);
	ck_assert_str_eq(chained.body, "response second");
	got_free(&chained);
}
END_TEST

START_TEST(test_free_with_requests_in_flight)
{
	struct got g[3];

	memset(g, 0, sizeof(g));
	start("GET", "/hang", &g[0]);
	start("GET", "/hang", &g[1]);
	start("GET", "/n/never", &g[2]);
	run_for(0.2);
	ck_assert_uint_eq(http_inflight(client), 3 - (size_t)g[2].calls);
	http_client_free(client);
	client = NULL;
	run_for(0.2);
	ck_assert_int_eq(g[0].calls, 0);
	ck_assert_int_eq(g[1].calls, 0);
	got_free(&g[2]);
	http_client_free(NULL);
}
END_TEST

/* ---- streaming ---- */

struct stream_got {
	struct buf data;
	int pieces;
	bool during_request;
	struct http_req *req;       /* cancelled from on_data after stop_after pieces */
	int stop_after;
	struct got after;           /* a request started from on_data */
};

static void
stream_data(const char *data, size_t len, void *arg)
{
	struct got *g = arg;
	struct stream_got *sg = (struct stream_got *)g->body; /* see start_stream */

	sg->pieces++;
	sg->during_request |= in_request;
	buf_append(&sg->data, data, len);
	if (sg->stop_after > 0 && sg->pieces == sg->stop_after) {
		/* Cancelling the stream and starting another request from here. */
		http_cancel(sg->req);
		pending--;
		start("GET", "/n/after-stream", &sg->after);
	}
}

static struct http_req *
start_stream(const char *path, struct got *g, struct stream_got *sg, long keepalive_s)
{
	char *u = url(path);
	static const char *const extra[] = {"X-One: 1", "X-Two: 2", NULL};
	struct http_request_opts o = {.method = "POST", .url = u, .body = "{}", .body_len = 2,
		.timeout_ms = -1, .keepalive_s = keepalive_s, .on_data = stream_data,
		.headers = extra};
	struct http_req *r;

	/* The completion overwrites body: stream_data finds sg there before. */
	g->body = (char *)sg;
	in_request = true;
	r = http_request(client, &o, done_cb, g);
	in_request = false;
	free(u);
	ck_assert_ptr_nonnull(r);
	pending++;
	sg->req = r;
	return r;
}

START_TEST(test_stream_pieces)
{
	struct got g = {0};
	struct stream_got sg = {0};

	start_stream("/stream", &g, &sg, 5);
	run_pending();
	ck_assert_int_eq(g.calls, 1);
	ck_assert_ptr_null(g.error);
	ck_assert_int_eq(g.status, 200);
	/* Not accumulated: the completion has no body. */
	ck_assert_uint_eq(g.body_len, 0);
	ck_assert_int_ge(sg.pieces, 3);
	ck_assert(!sg.during_request);
	ck_assert_uint_eq(sg.data.len, strlen("one\ntwo\nthree\n"));
	ck_assert_int_eq(memcmp(sg.data.data, "one\ntwo\nthree\n", sg.data.len), 0);
	buf_free(&sg.data);
	got_free(&g);
}
END_TEST

START_TEST(test_stream_cancel_from_data)
{
	struct got g = {0};
	struct stream_got sg = {.stop_after = 3};

	start_stream("/endless", &g, &sg, 0);
	run_pending();
	/* The stream's completion never runs; the request started from on_data does. */
	ck_assert_int_eq(g.calls, 0);
	ck_assert_int_eq(sg.pieces, 3);
	ck_assert_int_eq(sg.after.calls, 1);
	ck_assert_str_eq(sg.after.body, "response after-stream");
	ck_assert_uint_eq(http_inflight(client), 0);
	got_free(&sg.after);
	buf_free(&sg.data);
}
END_TEST

START_TEST(test_extra_headers)
{
	static const char *const extra[] = {"Authorization: tok3n", "X-Two: 2", NULL};
	struct http_request_opts o = {.method = "GET", .headers = extra};
	struct got g = {0};

	o.url = url("/echo");
	ck_assert_ptr_nonnull(http_request(client, &o, done_cb, &g));
	free((char *)o.url);
	pending++;
	run_pending();
	ck_assert_int_eq(g.status, 200);
	ck_assert_ptr_nonnull(strstr(g.body, "\r\nAuthorization: tok3n\r\n"));
	ck_assert_ptr_nonnull(strstr(g.body, "\r\nX-Two: 2\r\n"));
	got_free(&g);
}
END_TEST

/* ---- slot accounting ---- */

static struct http_req *
start_class(const char *path, bool long_held, struct got *g)
{
	struct http_request_opts o = {.method = "GET", .long_held = long_held};
	struct http_req *r;

	o.url = url(path);
	r = http_request(client, &o, done_cb, g);
	free((char *)o.url);
	ck_assert_ptr_nonnull(r);
	pending++;
	return r;
}

static void
assert_slots(size_t active, size_t active_long, size_t queued, size_t queued_long)
{
	struct http_slots s;

	http_client_slots(client, &s);
	ck_assert_msg(s.active == active && s.active_long == active_long &&
	    s.queued == queued && s.queued_long == queued_long,
	    "slots: active %zu (long %zu), queued %zu short %zu long; want %zu (%zu), %zu, %zu",
	    s.active, s.active_long, s.queued, s.queued_long, active, active_long, queued,
	    queued_long);
}

static void
cancel_req(struct http_req *r)
{
	http_cancel(r);
	pending--;
}

START_TEST(test_slots_bounds)
{
	struct http_slots s;

	http_client_slots(client, &s);
	ck_assert_uint_eq(s.slots, 64);
	ck_assert_uint_eq(s.short_reserved, 16);
	ck_assert_int_eq(http_client_set_slots(client, 1, 0), -1);
	ck_assert_int_eq(http_client_set_slots(client, 4, 0), -1);
	ck_assert_int_eq(http_client_set_slots(client, 4, 4), -1);
	http_client_slots(client, &s);
	ck_assert_uint_eq(s.slots, 64);
	ck_assert_int_eq(http_client_set_slots(client, 4, 3), 0);
	http_client_slots(client, &s);
	ck_assert_uint_eq(s.slots, 4);
	ck_assert_uint_eq(s.short_reserved, 3);
}
END_TEST

/* A wall of long requests the server never answers takes only the long
 * slots: short requests still get through, answered, while they hang. */
START_TEST(test_slots_long_wall)
{
	struct got lg[5] = {{0}}, sh[5] = {{0}};
	struct http_req *lr[5];

	ck_assert_int_eq(http_client_set_slots(client, 4, 2), 0);
	for (int i = 0; i < 5; i++)
		lr[i] = start_class("/hang", true, &lg[i]);
	assert_slots(2, 2, 0, 3);
	start_class("/n/a", false, &sh[0]);
	start_class("/n/b", false, &sh[1]);
	assert_slots(4, 2, 0, 3);
	/* Beyond every slot: short requests queue too, and still come through. */
	start_class("/n/c", false, &sh[2]);
	start_class("/n/d", false, &sh[3]);
	start_class("/n/e", false, &sh[4]);
	assert_slots(4, 2, 3, 3);
	/* The long ones never end, so done_cb never breaks the loop: poll. */
	for (int k = 0; k < 100 && pending > 5; k++)
		run_for(0.1);
	ck_assert_msg(pending == 5, "%d short requests stuck behind long ones", pending - 5);
	for (int i = 0; i < 5; i++) {
		char want[16];

		snprintf(want, sizeof(want), "response %c", 'a' + i);
		ck_assert_int_eq(sh[i].calls, 1);
		ck_assert_str_eq(sh[i].body, want);
		got_free(&sh[i]);
	}
	assert_slots(2, 2, 0, 3);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(lg[i].calls, 0);
	/* An active long one ending lets the next long one in. */
	cancel_req(lr[0]);
	assert_slots(2, 2, 0, 2);
	/* A queued one cancelled leaves the queue. */
	cancel_req(lr[4]);
	assert_slots(2, 2, 0, 1);
	cancel_req(lr[1]);
	cancel_req(lr[2]);
	assert_slots(1, 1, 0, 0);
	cancel_req(lr[3]);
	assert_slots(0, 0, 0, 0);
	ck_assert_uint_eq(http_inflight(client), 0);
}
END_TEST

/* First come first served across the classes, each within what it may
 * take: a long request without a slot does not hold up a short one queued
 * after it, and a short one does not overtake a long one that has a slot. */
START_TEST(test_slots_fifo_across_classes)
{
	struct got g[7] = {{0}};
	struct http_req *l1, *l2, *l3, *s1, *s2, *s3;

	ck_assert_int_eq(http_client_set_slots(client, 3, 1), 0);
	l1 = start_class("/hang", true, &g[0]);
	l2 = start_class("/hang", true, &g[1]);
	s1 = start_class("/hang", false, &g[2]);
	assert_slots(3, 2, 0, 0);
	l3 = start_class("/hang", true, &g[3]);
	s2 = start_class("/hang", false, &g[4]);
	assert_slots(3, 2, 1, 1);
	/* A slot frees; the long one queued first may not take it. */
	cancel_req(s1);
	assert_slots(3, 2, 0, 1);
	/* A long slot frees: the long one starts. */
	cancel_req(l1);
	assert_slots(3, 2, 0, 0);
	cancel_req(l2);
	assert_slots(2, 1, 0, 0);
	/* Full with one long: a long one queued before a short one goes first
	 * once a slot frees, since it has a long slot. */
	s3 = start_class("/hang", false, &g[5]);
	assert_slots(3, 1, 0, 0);
	l2 = start_class("/hang", true, &g[6]);
	s1 = start_class("/hang", false, &g[2]);
	assert_slots(3, 1, 1, 1);
	cancel_req(s2);
	assert_slots(3, 2, 1, 0);
	cancel_req(l3);
	assert_slots(3, 1, 0, 0);
	cancel_req(l2);
	cancel_req(s1);
	cancel_req(s3);
	assert_slots(0, 0, 0, 0);
	for (int i = 0; i < 7; i++)
		ck_assert_int_eq(g[i].calls, 0);
}
END_TEST

static void
ignore_data(const char *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	(void)arg;
}

/* Streams hold a long slot whatever the caller said; changing the slots
 * starts queued requests at once and never stops those in flight. */
START_TEST(test_slots_streams_and_resize)
{
	struct http_request_opts o = {.method = "GET", .on_data = ignore_data, .timeout_ms = -1};
	struct got st = {0}, g[4] = {{0}};
	struct http_req *rs, *r[4];

	ck_assert_int_eq(http_client_set_slots(client, 2, 1), 0);
	o.url = url("/endless");
	rs = http_request(client, &o, done_cb, &st);
	free((char *)o.url);
	ck_assert_ptr_nonnull(rs);
	pending++;
	assert_slots(1, 1, 0, 0);
	for (int i = 0; i < 4; i++)
		r[i] = start_class("/hang", false, &g[i]);
	assert_slots(2, 1, 3, 0);
	ck_assert_int_eq(http_client_set_slots(client, 4, 1), 0);
	assert_slots(4, 1, 1, 0);
	/* Fewer: nothing in flight stops, nothing new starts. */
	ck_assert_int_eq(http_client_set_slots(client, 2, 1), 0);
	assert_slots(4, 1, 1, 0);
	cancel_req(r[0]);
	assert_slots(3, 1, 1, 0);
	cancel_req(r[1]);
	assert_slots(2, 1, 1, 0);
	/* Below the new bound again: the queued one starts. */
	cancel_req(r[2]);
	assert_slots(2, 1, 0, 0);
	cancel_req(rs);
	assert_slots(1, 0, 0, 0);
	cancel_req(r[3]);
	assert_slots(0, 0, 0, 0);
	ck_assert_int_eq(st.calls, 0);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *ra = tcase_create("retry_after");
	TCase *tc = tcase_create("transfers");

	tcase_add_test(ra, test_retry_after_seconds);
	tcase_add_test(ra, test_retry_after_dates);
	tcase_add_test(ra, test_retry_after_garbage);
	suite_add_tcase(s, ra);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_full_response);
	tcase_add_test(tc, test_post_body_intact);
	tcase_add_test(tc, test_connection_refused);
	tcase_add_test(tc, test_cancel);
	tcase_add_test(tc, test_ten_concurrent);
	tcase_add_test(tc, test_many_queued_and_cancelled);
	tcase_add_test(tc, test_body_limit);
	tcase_add_test(tc, test_redirect_and_error_statuses);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_other_protocols_refused);
	tcase_add_test(tc, test_request_from_callback);
	tcase_add_test(tc, test_free_with_requests_in_flight);
	tcase_add_test(tc, test_stream_pieces);
	tcase_add_test(tc, test_stream_cancel_from_data);
	tcase_add_test(tc, test_extra_headers);
	tcase_add_test(tc, test_slots_bounds);
	tcase_add_test(tc, test_slots_long_wall);
	tcase_add_test(tc, test_slots_fifo_across_classes);
	tcase_add_test(tc, test_slots_streams_and_resize);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(http_suite)
