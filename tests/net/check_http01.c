/*
 * check_http01.c - unit tests for http01.c: the built-in http-01 responder
 * (driven on the default loop by non-blocking test clients on 127.0.0.1,
 * and [::1] when the host has IPv6) and webroot publishing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "fsutil.h"
#include "http01.h"
#include "log.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"

#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define KEYAUTH TOKEN ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define PATH "/.well-known/acme-challenge/"

/* One test client: sends its pieces with pauses, reads until EOF. */
struct client {
	const char *const *pieces;
	size_t npieces, next;
	double pause;
	int fd;
	ev_io io;
	ev_timer send_timer;
	struct buf resp;
	bool eof;
};

static struct ev_loop *loop;
static struct http01_server *srv;
static int clients_left;
static char tmpdir[64];

static void
setup(void)
{
	char err[256] = "";

	log_init("check_http01", LOG_WARNING, LOG_STYLE_PLAIN);
	loop = ev_default_loop(0);
	srv = http01_server_new(loop, "127.0.0.1:0", err, sizeof(err));
	ck_assert_msg(srv != NULL, "http01_server_new: %s", err);
	tmpdir[0] = '\0';
}

static void
teardown(void)
{
	http01_server_free(srv);
	srv = NULL;
	if (tmpdir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
}

static void
client_done(struct client *c)
{
	ev_io_stop(loop, &c->io);
	ev_timer_stop(loop, &c->send_timer);
	c->eof = true;
	if (--clients_left == 0)
		ev_break(loop, EVBREAK_ALL);
}

static void
client_read_cb(struct ev_loop *l, ev_io *w, int revents)
{
	struct client *c = w->data;
	char buf[4096];
	ssize_t n;

	(void)l;
	(void)revents;
	n = read(c->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_done(c);
		return;
	}
	buf_append(&c->resp, buf, (size_t)n);
}

static void
client_send_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	struct client *c = w->data;
	const char *p = c->pieces[c->next++];

	(void)revents;
	/* The server may already have answered and closed (400): ignore EPIPE. */
	if (send(c->fd, p, strlen(p), MSG_NOSIGNAL) < 0 && errno != EPIPE &&
	    errno != ECONNRESET)
		ck_abort_msg("send: %s", strerror(errno));
	if (c->next < c->npieces) {
		ev_timer_set(w, c->pause, 0.);
		ev_timer_start(l, w);
	}
}

static void
client_connect(struct client *c, int family, const char *const *pieces, size_t npieces,
    double pause)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;

	memset(c, 0, sizeof(*c));
	c->pieces = pieces;
	c->npieces = npieces;
	c->pause = pause;
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		s6->sin6_port = htons((uint16_t)http01_server_port(srv));
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s4->sin_port = htons((uint16_t)http01_server_port(srv));
		len = sizeof(*s4);
	}
	c->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c->fd, 0);
	/* Completes from the listen backlog: the loop need not run yet. */
	ck_assert_msg(connect(c->fd, (struct sockaddr *)&ss, len) == 0, "connect: %s",
	    strerror(errno));
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	ev_io_init(&c->io, client_read_cb, c->fd, EV_READ);
	c->io.data = c;
	ev_io_start(loop, &c->io);
	ev_timer_init(&c->send_timer, client_send_cb, 0., 0.);
	c->send_timer.data = c;
	if (npieces > 0)
		ev_timer_start(loop, &c->send_timer);
	clients_left++;
}

/* Runs the loop until every client saw EOF (bounded: fails after 10 s). */
static void
run_clients(void)
{
	ck_assert_msg(clients_left == 0 || test_run_loop(loop, 10.),
	    "%d clients still waiting after 10 s", clients_left);
}

static void
client_close(struct client *c)
{
	close(c->fd);
	buf_free(&c->resp);
}

struct reply {
	int status;
	long content_length;
	char body[1024];
	size_t body_len;
};

/* Parses a complete HTTP/1.1 response. */
static void
parse_reply(const struct client *c, struct reply *r)
{
	const char *data = c->resp.data ? c->resp.data : "", *end, *cl;

	memset(r, 0, sizeof(*r));
	r->content_length = -1;
	ck_assert_msg(sscanf(data, "HTTP/1.1 %d ", &r->status) == 1, "bad response \"%s\"", data);
	end = strstr(data, "\r\n\r\n");
	ck_assert_ptr_nonnull(end);
	cl = strstr(data, "\r\nContent-Length: ");
	if (cl && cl < end)
		r->content_length = strtol(cl + 18, NULL, 10);
	r->body_len = c->resp.len - (size_t)(end + 4 - data);
	ck_assert_uint_lt(r->body_len, sizeof(r->body));
	memcpy(r->body, end + 4, r->body_len);
	r->body[r->body_len] = '\0';
}

/* One request in one piece on a fresh connection. */
static void
request(const char *req, struct reply *r)
{
	struct client c;
	const char *pieces[] = {req};

	client_connect(&c, AF_INET, pieces, 1, 0);
	run_clients();
	parse_reply(&c, r);
	client_close(&c);
}

START_TEST(test_serves_key_authorization)
{
	struct reply r;

	ck_assert_int_gt(http01_server_port(srv), 0);
	ck_assert_uint_eq(http01_server_hits(srv), 0);
	ck_assert_int_eq(http01_server_add(srv, TOKEN, KEYAUTH), 0);

	request("GET " PATH TOKEN " HTTP/1.1\r\nHost: www.example.org\r\nUser-Agent: "
	    "Mozilla/5.0 (compatible; Let's Encrypt validation server)\r\nAccept: */*\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, KEYAUTH);
	ck_assert_int_eq(r.content_length, (long)strlen(KEYAUTH));
	ck_assert_uint_eq(http01_server_hits(srv), 1);

	/* HTTP/1.0 and bare LF line ends are fine too. */
	request("GET " PATH TOKEN " HTTP/1.0\n\n", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, KEYAUTH);
	ck_assert_uint_eq(http01_server_hits(srv), 2);

	request("HEAD " PATH TOKEN " HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_int_eq(r.content_length, (long)strlen(KEYAUTH));
	ck_assert_uint_eq(http01_server_hits(srv), 3);
}
END_TEST

START_TEST(test_errors)
{
	struct reply r;

	ck_assert_int_eq(http01_server_add(srv, TOKEN, KEYAUTH), 0);

	request("GET " PATH "unknownToken123 HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 404);
	request("GET /" TOKEN " HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 404);
	request("GET /.well-known/acme-challenge/ HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 404);
	request("GET " PATH TOKEN "/../" TOKEN " HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 404);
	request("GET " PATH TOKEN "x HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 404);
	request("HEAD " PATH "unknown HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 404);
	ck_assert_uint_eq(r.body_len, 0);

	request("POST " PATH TOKEN " HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 405);
	request("DELETE " PATH TOKEN " HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 405);

	request("\x16\x03\x01\x02garbage\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 400);
	request("GET " PATH TOKEN "\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 400);
	request("GET " PATH TOKEN " FTP/1.0\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 400);

	/* None of these counted as a served token. */
	ck_assert_uint_eq(http01_server_hits(srv), 0);
}
END_TEST

START_TEST(test_request_too_large)
{
	struct reply r;
	char *big = xmalloc(20000);

	/* A header block that never ends: refused once the buffer is full. */
	strcpy(big, "GET " PATH TOKEN " HTTP/1.1\r\nX-Junk: ");
	memset(big + strlen(big), 'a', 19000);
	big[19000] = '\0';
	request(big, &r);
	ck_assert_int_eq(r.status, 400);
	free(big);
}
END_TEST

START_TEST(test_request_in_pieces)
{
	static const char *const slow[] = {
		"GET /.well-known/acme-ch",
		"allenge/" TOKEN " HTTP/1.1\r\nHo",
		"st: www.example.org\r\n\r\n",
	};
	static const char *const quick[] = {"GET " PATH TOKEN " HTTP/1.1\r\nHost: y\r\n\r\n"};
	struct client a, b;
	struct reply r;

	ck_assert_int_eq(http01_server_add(srv, TOKEN, KEYAUTH), 0);
	client_connect(&a, AF_INET, slow, ARRAY_SIZE(slow), 0.1);
	/* A slow client does not hold up another one. */
	client_connect(&b, AF_INET, quick, 1, 0);
	run_clients();
	parse_reply(&a, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, KEYAUTH);
	parse_reply(&b, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, KEYAUTH);
	ck_assert_uint_eq(http01_server_hits(srv), 2);
	client_close(&a);
	client_close(&b);
}
END_TEST

START_TEST(test_add_replace_remove)
{
	struct reply r;

	ck_assert_int_eq(http01_server_add(srv, "tokenA", "tokenA.thumb"), 0);
	ck_assert_int_eq(http01_server_add(srv, "tokenB", "tokenB.thumb"), 0);
	request("GET " PATH "tokenA HTTP/1.1\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "tokenA.thumb");
	request("GET " PATH "tokenB HTTP/1.1\r\n\r\n", &r);
	ck_assert_str_eq(r.body, "tokenB.thumb");

	/* Adding again replaces the key authorization. */
	ck_assert_int_eq(http01_server_add(srv, "tokenA", "tokenA.other"), 0);
	request("GET " PATH "tokenA HTTP/1.1\r\n\r\n", &r);
	ck_assert_str_eq(r.body, "tokenA.other");

	http01_server_remove(srv, "tokenA");
	request("GET " PATH "tokenA HTTP/1.1\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 404);
	request("GET " PATH "tokenB HTTP/1.1\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 200);
	http01_server_remove(srv, "tokenA"); /* twice: harmless */
	http01_server_remove(srv, "never-added");
	http01_server_remove(srv, "tokenB");
	request("GET " PATH "tokenB HTTP/1.1\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 404);
	ck_assert_uint_eq(http01_server_hits(srv), 4);
}
END_TEST

START_TEST(test_invalid_tokens_refused)
{
	static const char *const bad[] = {
		"../x", "a/b", "", "..", "a b", "tok\n", "tok%2F", "tok.en", "tok?x",
	};
	char *long_token = xmalloc(300);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(http01_server_add(srv, bad[i], "ka") == -1, "accepted \"%s\"", bad[i]);
	ck_assert_int_eq(http01_server_add(srv, NULL, "ka"), -1);
	memset(long_token, 'a', 299);
	long_token[299] = '\0';
	ck_assert_int_eq(http01_server_add(srv, long_token, "ka"), -1);
	long_token[256] = '\0';
	ck_assert_int_eq(http01_server_add(srv, long_token, "ka"), 0);
	free(long_token);
	ck_assert_int_eq(http01_server_add(srv, "Az09-_", "ka"), 0);
}
END_TEST

START_TEST(test_listen_errors)
{
	static const char *const bad[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "127.0.0.1:-1", "127.0.0.1:80x",
		"[::1", "[::1]80", "localhost:0", "999.1.1.1:0", "",
	};
	struct http01_server *s;
	char err[256], spec[64];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		s = http01_server_new(loop, bad[i], err, sizeof(err));
		ck_assert_msg(s == NULL, "accepted \"%s\"", bad[i]);
		ck_assert_msg(strstr(err, bad[i]) != NULL, "error for \"%s\" does not name it: %s",
		    bad[i], err);
	}
	/* The port is taken by the fixture's server. */
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", http01_server_port(srv));
	err[0] = '\0';
	ck_assert_ptr_null(http01_server_new(loop, spec, err, sizeof(err)));
	ck_assert_msg(strstr(err, spec) != NULL, "error does not name %s: %s", spec, err);
	http01_server_free(NULL);
}
END_TEST

START_TEST(test_ipv6_loopback)
{
	struct http01_server *v4 = srv;
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	static const char *const req[] = {"GET " PATH TOKEN " HTTP/1.1\r\nHost: [::1]\r\n\r\n"};
	struct client c;
	struct reply r;
	char err[256] = "";
	int fd;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "check_http01: no IPv6 loopback here, test_ipv6_loopback skipped\n");
		return;
	}
	close(fd);
	srv = http01_server_new(loop, "[::1]:0", err, sizeof(err));
	ck_assert_msg(srv != NULL, "[::1]:0: %s", err);
	ck_assert_int_gt(http01_server_port(srv), 0);
	ck_assert_int_eq(http01_server_add(srv, TOKEN, KEYAUTH), 0);
	client_connect(&c, AF_INET6, req, 1, 0);
	run_clients();
	parse_reply(&c, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, KEYAUTH);
	ck_assert_uint_eq(http01_server_hits(srv), 1);
	client_close(&c);
	http01_server_free(srv);
	srv = v4;
}
END_TEST

START_TEST(test_free_with_open_connections)
{
	static const char *const partial[] = {"GET " PATH};
	struct client a, b;

	/* One client idle, one mid-request: freeing the server closes both. */
	client_connect(&a, AF_INET, NULL, 0, 0);
	client_connect(&b, AF_INET, partial, 1, 0);
	(void)test_run_loop(loop, 0.2); /* accepts both, reads the partial request */
	http01_server_free(srv);
	srv = NULL;
	run_clients();
	ck_assert(a.eof && b.eof);
	ck_assert_uint_eq(a.resp.len + b.resp.len, 0);
	client_close(&a);
	client_close(&b);
}
END_TEST

/* ---- webroot ---- */

static void
make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/certfleet-http01.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

START_TEST(test_webroot_publish_remove)
{
	char docroot[128], path[256], err[256] = "", *data = NULL;
	size_t len;
	struct stat st;

	make_tmpdir();
	/* The docroot itself need not exist yet. */
	snprintf(docroot, sizeof(docroot), "%s/www/htdocs", tmpdir);
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge/%s", docroot, TOKEN);
	umask(022);
	ck_assert_msg(http01_webroot_publish(docroot, TOKEN, KEYAUTH, err, sizeof(err)) == 0,
	    "publish: %s", err);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	ck_assert_int_eq(read_file(path, &data, &len, 4096), 0);
	ck_assert_uint_eq(len, strlen(KEYAUTH));
	ck_assert_str_eq(data, KEYAUTH);
	free(data);
	data = NULL;
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge", docroot);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0755);

	/* Publishing again replaces the content, mode unchanged, even when a
	 * restrictive umask is in force. */
	umask(077);
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge/%s", docroot, TOKEN);
	ck_assert_int_eq(http01_webroot_publish(docroot, TOKEN, "second", err, sizeof(err)), 0);
	ck_assert_int_eq(read_file(path, &data, &len, 4096), 0);
	ck_assert_str_eq(data, "second");
	free(data);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	umask(022);

	http01_webroot_remove(docroot, TOKEN);
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* Removing what is not there is quiet and harmless. */
	http01_webroot_remove(docroot, TOKEN);
	http01_webroot_remove(tmpdir, "never-published");
}
END_TEST

START_TEST(test_webroot_unsafe_token)
{
	static const char *const bad[] = {"../evil", "a/b", "", "..", "."};
	char docroot[128], path[256], err[256];
	struct stat st;
	FILE *f;

	make_tmpdir();
	snprintf(docroot, sizeof(docroot), "%s/htdocs", tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		ck_assert_msg(http01_webroot_publish(docroot, bad[i], "ka", err, sizeof(err)) == -1,
		    "published \"%s\"", bad[i]);
		ck_assert_msg(strstr(err, "unsafe token") != NULL, "error: %s", err);
	}
	/* Nothing was created, inside or outside the docroot. */
	snprintf(path, sizeof(path), "%s/.well-known/evil", docroot);
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(stat(docroot, &st), -1);

	/* remove refuses them too: a file outside the challenge directory stays. */
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge", docroot);
	ck_assert_int_eq(mkdir_p(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/evil", tmpdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	http01_webroot_remove(docroot, "../../../evil");
	ck_assert_int_eq(stat(path, &st), 0);
}
END_TEST

START_TEST(test_webroot_directories_despite_umask)
{
	char docroot[128], path[256], err[256] = "";
	static const char *const dirs[] = {
		"/srv", "/srv/www", "/srv/www/.well-known", "/srv/www/.well-known/acme-challenge",
	};
	struct stat st;

	make_tmpdir();
	/* The web server must be able to reach the file whatever our umask. */
	umask(077);
	snprintf(docroot, sizeof(docroot), "%s/srv/www", tmpdir);
	ck_assert_msg(http01_webroot_publish(docroot, TOKEN, KEYAUTH, err, sizeof(err)) == 0,
	    "publish: %s", err);
	umask(022);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(path, sizeof(path), "%s%s", tmpdir, dirs[i]);
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_msg((st.st_mode & 0777) == 0755, "%s has mode %03o", dirs[i],
		    (unsigned)(st.st_mode & 0777));
	}
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge/%s", docroot, TOKEN);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);

	/* Existing directories keep the mode the administrator gave them. */
	snprintf(path, sizeof(path), "%s/.well-known", docroot);
	ck_assert_int_eq(chmod(path, 0751), 0);
	ck_assert_int_eq(http01_webroot_publish(docroot, "other", "other.ka", err, sizeof(err)),
	    0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0751);
}
END_TEST

START_TEST(test_webroot_unwritable)
{
	char docroot[128], err[256] = "";
	FILE *f;

	make_tmpdir();
	/* A regular file where the docroot should be. */
	snprintf(docroot, sizeof(docroot), "%s/file", tmpdir);
	f = fopen(docroot, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(http01_webroot_publish(docroot, TOKEN, KEYAUTH, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, docroot) != NULL, "error does not name the path: %s", err);
}
END_TEST

static Suite *
http01_suite(void)
{
	Suite *s = suite_create("http01");
	TCase *tc = tcase_create("responder");
	TCase *wr = tcase_create("webroot");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_serves_key_authorization);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_request_too_large);
	tcase_add_test(tc, test_request_in_pieces);
	tcase_add_test(tc, test_add_replace_remove);
	tcase_add_test(tc, test_invalid_tokens_refused);
	tcase_add_test(tc, test_listen_errors);
	tcase_add_test(tc, test_ipv6_loopback);
	tcase_add_test(tc, test_free_with_open_connections);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(wr, setup, teardown);
	tcase_set_timeout(wr, 30);
	tcase_add_test(wr, test_webroot_publish_remove);
	tcase_add_test(wr, test_webroot_unsafe_token);
	tcase_add_test(wr, test_webroot_directories_despite_umask);
	tcase_add_test(wr, test_webroot_unwritable);
	suite_add_tcase(s, wr);
	return s;
}

CHECK_MAIN(http01_suite)
