/*
 * check_metrics_http.c - unit tests for metrics_http.c: the /metrics
 * endpoint on the default loop, driven by non-blocking test clients on
 * 127.0.0.1 (paths, methods, sizes, a reply far larger than a socket
 * buffer written without blocking).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"

struct client {
	const char *const *pieces;
	size_t npieces, next;
	int fd;
	ev_io io;
	ev_timer send_timer;
	struct buf resp;
};

static struct ev_loop *loop;
static struct metrics_server *srv;
static int clients_left;
static size_t body_size;        /* bytes render() writes */
static unsigned renders;

static void
render(struct buf *b, void *arg)
{
	size_t start = b->len;

	ck_assert_ptr_eq(arg, &body_size);
	renders++;
	if (body_size == 0) {
		buf_append(b, "# TYPE t gauge\nt 1\n", 19);
		return;
	}

	while (b->len - start < body_size)
		buf_append(b, "certfleet_x{name=\"n\"} 1796083200\n", 33);
}

static void
setup(void)
{
	char err[256] = "";

	log_init("check_metrics_http", LOG_WARNING, LOG_STYLE_PLAIN);
	loop = ev_default_loop(0);
	body_size = 0;
	renders = 0;
	srv = metrics_server_new(loop, "127.0.0.1:0", render, &body_size, err, sizeof(err));
	ck_assert_msg(srv != NULL, "metrics_server_new: %s", err);
}

static void
teardown(void)
{
	metrics_server_free(srv);
	srv = NULL;
}

static void
read_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct client *c = w->data;
	char buf[65536];
	ssize_t n;

	(void)revents;
	n = read(c->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ev_io_stop(l, &c->io);
		ev_timer_stop(l, &c->send_timer);
		if (--clients_left == 0)
			ev_break(l, EVBREAK_ALL);
		return;
	}
	buf_append(&c->resp, buf, (size_t)n);
}

static void
send_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct client *c = w->data;
	const char *p = c->pieces[c->next++];

	(void)revents;
	if (send(c->fd, p, strlen(p), MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
		ck_abort_msg("send: %s", strerror(errno));
	if (c->next < c->npieces) {
		ev_timer_set(w, 0.05, 0.);
		ev_timer_start(l, w);
	}
}

/* Sends pieces 50 ms apart and reads the reply until the server closes. */
static void
exchange(const char *const *pieces, size_t npieces, struct buf *out)
{
	struct client c = {0};
	struct sockaddr_in sa = {0};

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)metrics_server_port(srv));
	c.pieces = pieces;
	c.npieces = npieces;
	c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c.fd, 0);
	ck_assert_int_eq(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	fcntl(c.fd, F_SETFL, O_NONBLOCK);
	ev_io_init(&c.io, read_cb, c.fd, EV_READ);
	c.io.data = &c;
	ev_io_start(loop, &c.io);
	ev_timer_init(&c.send_timer, send_cb, 0., 0.);
	c.send_timer.data = &c;
	ev_timer_start(loop, &c.send_timer);
	clients_left = 1;
	ck_assert_msg(test_run_loop(loop, 20.), "no reply within 20 s");
	close(c.fd);
	*out = c.resp;
}

static int
status_of(const struct buf *b)
{
	int status = 0;

	ck_assert_msg(b->data && sscanf(b->data, "HTTP/1.1 %d ", &status) == 1,
	    "bad response \"%s\"", b->data ? b->data : "");
	return status;
}

static const char *
body_of(const struct buf *b)
{
	const char *end = strstr(b->data, "\r\n\r\n");

	ck_assert_ptr_nonnull(end);
	return end + 4;
}

/* The Content-Length header's value; -1 without one.  Plain decimal: no
 * leading zero (some proxies refuse one), only spaces after the digits. */
static long
content_length(const struct buf *b)
{
	const char *h = strstr(b->data, "\r\nContent-Length: ");
	char *end;
	long n;

	if (h == NULL || h >= body_of(b))
		return -1;
	n = strtol(h + 18, &end, 10);
	ck_assert_msg(h[18] != '0' || n == 0, "Content-Length with a leading zero");
	end += strspn(end, " ");
	ck_assert_msg(strncmp(end, "\r\n", 2) == 0, "Content-Length: %.30s", h + 18);
	return n;
}

static int
one(const char *req, struct buf *out)
{
	const char *p[] = { req };

	exchange(p, 1, out);
	return status_of(out);
}

START_TEST(test_get)
{
	struct buf b = {0};

	ck_assert_int_eq(one("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", &b), 200);
	ck_assert_ptr_nonnull(strstr(b.data,
	    "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	ck_assert_int_eq(content_length(&b), 19);
	ck_assert_ptr_nonnull(strstr(b.data, "\r\nConnection: close\r\n"));
	ck_assert_str_eq(body_of(&b), "# TYPE t gauge\nt 1\n");
	buf_free(&b);
	/* Prometheus may add a query string; bare \n line ends are read too. */
	ck_assert_int_eq(one("GET /metrics?format=prometheus HTTP/1.0\n\n", &b), 200);
	buf_free(&b);
	ck_assert_int_eq(one("HEAD /metrics HTTP/1.1\r\n\r\n", &b), 200);
	ck_assert_int_eq(content_length(&b), 19);
	ck_assert_str_eq(body_of(&b), "");
	buf_free(&b);
	ck_assert_uint_eq(metrics_server_scrapes(srv), 3);
}
END_TEST

START_TEST(test_split_request)
{
	static const char *const p[] = { "GET /met", "rics HTTP/1.1\r\nHo", "st: x\r\n", "\r\n" };
	struct buf b = {0};

	exchange(p, ARRAY_SIZE(p), &b);
	ck_assert_int_eq(status_of(&b), 200);
	ck_assert_uint_eq(renders, 1);
	buf_free(&b);
}
END_TEST

START_TEST(test_refusals)
{
	struct buf b = {0};
	char *big;

	ck_assert_int_eq(one("GET / HTTP/1.1\r\n\r\n", &b), 404);
	buf_free(&b);
	ck_assert_int_eq(one("GET /metricsx HTTP/1.1\r\n\r\n", &b), 404);
	buf_free(&b);
	ck_assert_int_eq(one("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &b), 405);
	ck_assert_ptr_nonnull(strstr(b.data, "\r\nAllow: GET, HEAD\r\n"));
	buf_free(&b);
	ck_assert_int_eq(one("hello\r\n\r\n", &b), 400);
	buf_free(&b);
	ck_assert_int_eq(one("GET /metrics SPDY/3\r\n\r\n", &b), 400);
	buf_free(&b);
	/* Headers that never end within 8 KiB. */
	big = xmalloc(10000);
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	memset(big + 26, 'a', 10000 - 27);
	big[9999] = '\0';
	ck_assert_int_eq(one(big, &b), 431);
	buf_free(&b);
	free(big);
	ck_assert_uint_eq(renders, 0);
	ck_assert_uint_eq(metrics_server_scrapes(srv), 0);
}
END_TEST

/* Several MiB (what 10,000 certificates make) go out whole through the
 * listener's non-blocking writes. */
START_TEST(test_large)
{
	struct buf b = {0};
	const char *body;

	body_size = 6u << 20;
	ck_assert_int_eq(one("GET /metrics HTTP/1.1\r\n\r\n", &b), 200);
	body = body_of(&b);
	ck_assert_uint_ge(strlen(body), body_size);
	ck_assert_int_eq(content_length(&b), (long)strlen(body));
	ck_assert_uint_eq(strlen(body) % 33, 0);
	ck_assert_int_eq(strncmp(body + strlen(body) - 33,
	    "certfleet_x{name=\"n\"} 1796083200\n", 33), 0);
	buf_free(&b);
}
END_TEST

START_TEST(test_bind_error)
{
	char err[256] = "";
	char spec[64];
	struct metrics_server *s2;

	snprintf(spec, sizeof(spec), "127.0.0.1:%d", metrics_server_port(srv));
	s2 = metrics_server_new(loop, spec, render, &body_size, err, sizeof(err));
	ck_assert_ptr_null(s2);
	ck_assert_msg(strstr(err, "127.0.0.1") != NULL, "err: %s", err);
}
END_TEST

static Suite *
metrics_http_suite(void)
{
	Suite *s = suite_create("metrics_http");
	TCase *tc = tcase_create("metrics_http");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_split_request);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_large);
	tcase_add_test(tc, test_bind_error);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(metrics_http_suite)
