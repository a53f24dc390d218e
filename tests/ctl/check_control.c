/*
 * check_control.c - unit tests for the control protocol's framing
 * (ctl_proto.c), the permission decision and the socket server (control.c)
 * driven on the default loop by plain blocking clients: replies at once
 * and later, a reply after the client hung up (dropped, no use after
 * free under valgrind), refusals, the connection cap and the socket file.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "control.h"
#include "json.h"
#include "log.h"
#include "testutil.h"
#include "util.h"

/* ---- framing ---- */

START_TEST(request_ok)
{
	static const char line[] = "{\"v\":1,\"cmd\":\"renew\",\"args\":{\"all\":true}}\r";
	static const char line2[] = "{\"v\":1,\"cmd\":\"status\"}";
	struct json *req;
	const char *cmd, *code;
	const struct json *args;
	char err[128];

	ck_assert_int_eq(ctl_request_parse(line, strlen(line), &req, &cmd, &args, &code, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(cmd, "renew");
	ck_assert_ptr_nonnull(args);
	ck_assert(json_is_true(json_get(args, "all")));
	json_free(req);

	/* No args at all is fine too. */
	ck_assert_int_eq(ctl_request_parse(line2, strlen(line2), &req, &cmd, &args, &code, err,
	    sizeof(err)), 0);
	ck_assert_ptr_null(args);
	json_free(req);
}
END_TEST

static void
bad_request(const char *line, const char *want_code, const char *want_err)
{
	struct json *req = (struct json *)1;
	const char *cmd, *code;
	const struct json *args;
	char err[128] = "";

	ck_assert_int_eq(ctl_request_parse(line, strlen(line), &req, &cmd, &args, &code, err,
	    sizeof(err)), -1);
	ck_assert_ptr_null(req);
	ck_assert_str_eq(code, want_code);
	ck_assert_msg(strstr(err, want_err) != NULL, "'%s' lacks '%s'", err, want_err);
}

START_TEST(request_bad)
{
	bad_request("status", CTL_E_PROTOCOL, "not a JSON object");
	bad_request("[1,2]", CTL_E_PROTOCOL, "not a JSON object");
	bad_request("{\"cmd\":\"status\"}", CTL_E_PROTOCOL, "no protocol version");
	bad_request("{\"v\":2,\"cmd\":\"status\"}", CTL_E_VERSION, "version 2 not supported");
	bad_request("{\"v\":1}", CTL_E_USAGE, "no command");
	bad_request("{\"v\":1,\"cmd\":\"\"}", CTL_E_USAGE, "no command");
	bad_request("{\"v\":1,\"cmd\":\"show\",\"args\":[1]}", CTL_E_USAGE, "must be an object");
	bad_request("{\"v\":1,\"cmd\":\"status\"} {\"v\":1}", CTL_E_PROTOCOL, "trailing");
}
END_TEST

START_TEST(reply_round_trip)
{
	struct json *res = json_new_object(), *reply, *extra, *prob;
	const struct json *result;
	const char *code, *error;
	char *line, err[128];
	bool ok;

	json_set_str(res, "name", "www");
	line = ctl_reply_format_ok(res);
	ck_assert_ptr_nonnull(strchr(line, '\n'));
	ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
	ck_assert_int_eq(ctl_reply_parse(line, strlen(line), &reply, &ok, &result, &code, &error,
	    err, sizeof(err)), 0);
	ck_assert(ok);
	ck_assert_str_eq(json_get_str(result, "name"), "www");
	json_free(reply);
	free(line);

	/* An error: one line whatever the message holds, extra members kept,
	 * the reserved ones not overwritten. */
	extra = json_new_object();
	prob = json_set_object(extra, "problem");
	json_set_str(prob, "type", "urn:ietf:params:acme:error:unauthorized");
	json_set_str(extra, "code", "forged");
	line = ctl_reply_format_error(CTL_E_FAILED, extra, "the CA said\nno");
	ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
	ck_assert_int_eq(ctl_reply_parse(line, strlen(line), &reply, &ok, &result, &code, &error,
	    err, sizeof(err)), 0);
	ck_assert(!ok);
	ck_assert_str_eq(code, CTL_E_FAILED);
	ck_assert_str_eq(error, "the CA said no");
	ck_assert_str_eq(json_str(json_get(json_get(reply,
	    "problem"), "type")), "urn:ietf:params:acme:error:unauthorized");
	json_free(reply);
	free(line);

	ck_assert_int_eq(ctl_reply_parse("{\"v\":2,\"ok\":true}", 17, &reply, &ok, &result, &code,
	    &error, err, sizeof(err)), -1);
	ck_assert_int_eq(ctl_reply_parse("{\"v\":1}", 7, &reply, &ok, &result, &code,
	    &error, err, sizeof(err)), -1);
	ck_assert_int_eq(ctl_reply_parse("garbage", 7, &reply, &ok, &result, &code,
	    &error, err, sizeof(err)), -1);

	line = ctl_request_format("show", json_new_object());
	ck_assert_str_eq(line, "{\"v\":1,\"cmd\":\"show\",\"args\":{}}\n");
	free(line);
}
END_TEST

/* ---- who may do what ---- */

START_TEST(access_decision)
{
	gid_t staff[] = { 100, 50 };    /* primary 100, supplementary 50 */
	gid_t other[] = { 65534 };
	gid_t none = (gid_t)-1;

	ck_assert_int_eq(ctl_peer_access(0, other, 1, 999, 50, none), CTL_ACCESS_ALL);
	ck_assert_int_eq(ctl_peer_access(999, other, 1, 999, 50, none), CTL_ACCESS_ALL);
	/* The socket's group: read-only, as primary or supplementary group. */
	ck_assert_int_eq(ctl_peer_access(1000, staff, 2, 999, 50, none), CTL_ACCESS_READ);
	ck_assert_int_eq(ctl_peer_access(1000, staff, 2, 999, 100, none), CTL_ACCESS_READ);
	/* The admin group: everything. */
	ck_assert_int_eq(ctl_peer_access(1000, staff, 2, 999, 7, 50), CTL_ACCESS_ALL);
	ck_assert_int_eq(ctl_peer_access(1000, staff, 2, 999, 50, 100), CTL_ACCESS_ALL);
	/* Anybody else: nothing. */
	ck_assert_int_eq(ctl_peer_access(65534, other, 1, 999, 50, 100), CTL_ACCESS_NONE);
	ck_assert_int_eq(ctl_peer_access(1000, staff, 2, 999, none, none), CTL_ACCESS_NONE);
	ck_assert_int_eq(ctl_peer_access(1000, staff, 0, 999, 100, 50), CTL_ACCESS_NONE);
}
END_TEST

/* ---- the server ---- */

static struct ev_loop *loop;
static char dir[64], sock_path[128];
static struct ctl_conn *held;      /* a request waiting for its reply */
static int handled;

static void
h_echo(struct ctl_conn *c, const struct json *args, void *ctx)
{
	handled++;
	ck_assert_ptr_eq(ctx, &handled);
	ctl_reply_ok(c, json_dup(args));
}

static void
h_later(struct ctl_conn *c, const struct json *args, void *ctx)
{
	(void)args;
	(void)ctx;
	handled++;
	held = c;
}

static void
h_fail(struct ctl_conn *c, const struct json *args, void *ctx)
{
	(void)args;
	(void)ctx;
	handled++;
	ctl_reply_error(c, CTL_E_NOTFOUND, NULL, "no certificate named '%s'", "x");
	/* A second reply is a handler bug: ignored, not sent. */
	ctl_reply_ok(c, NULL);
}

static const struct ctl_command cmds[] = {
	{"echo", h_echo, false},
	{"later", h_later, true},
	{"fail", h_fail, false},
	{NULL, NULL, false},
};

static void
setup(void)
{
	log_init("check_control", LOG_CRIT, LOG_STYLE_PLAIN);
	loop = ev_default_loop(0);
	snprintf(dir, sizeof(dir), "/tmp/check_control.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/sub/control.sock", dir);
	held = NULL;
	handled = 0;
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* timeout 0: the default CTL_REQUEST_TIMEOUT. */
static struct ctl_server *
server_t(mode_t mode, double timeout)
{
	struct ctl_server_opts o = { sock_path, mode, (uid_t)-1, (gid_t)-1, (gid_t)-1, timeout };
	char err[256] = "";
	struct ctl_server *s = ctl_server_new(loop, &o, cmds, &handled, err, sizeof(err));

	ck_assert_msg(s != NULL, "ctl_server_new: %s", err);
	return s;
}

static struct ctl_server *
server(mode_t mode)
{
	return server_t(mode, 0);
}

/* Runs the loop for a while (the server has no timer of its own that
 * would end it sooner). */
static void
pump(double secs)
{
	double end = now_mono() + secs;

	while (now_mono() < end)
		ev_run(loop, EVRUN_NOWAIT), usleep(2000);
}

static int
client(const char *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memcpy(sa.sun_path, sock_path, strlen(sock_path));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (req)
		ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	return fd;
}

/* The reply on fd (the loop is pumped until it arrives); caller frees. */
static char *
reply_of(int fd)
{
	struct buf b = {0};
	char chunk[4096];

	for (int i = 0; i < 500; i++) {
		ssize_t n;
		pump(0.005);
		n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n > 0) {
			buf_append(&b, chunk, (size_t)n);
			if (memchr(chunk, '\n', (size_t)n))
				break;
		} else if (n == 0) {
			break;
		}
	}
	return buf_steal(&b, NULL);
}

START_TEST(server_replies)
{
	struct ctl_server *s = server(0660);
	struct stat st;
	char *r;
	int fd;

	ck_assert_int_eq(lstat(sock_path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0660);

	fd = client("{\"v\":1,\"cmd\":\"echo\",\"args\":{\"x\":42}}\n");
	r = reply_of(fd);
	ck_assert_str_eq(r, "{\"v\":1,\"ok\":true,\"result\":{\"x\":42}}\n");
	free(r);
	/* One request per connection: the daemon closes after the reply. */
	ck_assert_int_eq(recv(fd, &(char){0}, 1, 0), 0);
	close(fd);

	fd = client("{\"v\":1,\"cmd\":\"fail\"}\n");
	r = reply_of(fd);
	ck_assert_str_eq(r, "{\"v\":1,\"ok\":false,\"code\":\"not-found\","
	    "\"error\":\"no certificate named 'x'\"}\n");
	free(r);
	close(fd);

	fd = client("{\"v\":1,\"cmd\":\"nope\"}\n");
	r = reply_of(fd);
	ck_assert_ptr_nonnull(strstr(r, "\"code\":\"usage\""));
	ck_assert_ptr_nonnull(strstr(r, "unknown command 'nope'"));
	free(r);
	close(fd);

	/* A request sent in pieces. */
	fd = client("{\"v\":1,\"cmd\":");
	pump(0.05);
	ck_assert_int_eq(write(fd, "\"echo\"}\n", 8), 8);
	r = reply_of(fd);
	ck_assert_str_eq(r, "{\"v\":1,\"ok\":true,\"result\":{}}\n");
	free(r);
	close(fd);
	ck_assert_int_eq(handled, 3);

	ctl_server_free(s);
	ck_assert_int_eq(lstat(sock_path, &st), -1);
}
END_TEST

START_TEST(server_too_long)
{
	struct ctl_server *s = server(0600);
	size_t n = CTL_MAX_REQUEST + 100;
	char *big = xmalloc(n + 1), *r;
	int fd;

	memset(big, 'a', n);
	big[n] = '\0';
	fd = client(NULL);
	/* Blocking write from the loop's own thread: feed it in pieces. */
	for (size_t off = 0; off < n; ) {
		ssize_t w = send(fd, big + off, n - off, MSG_DONTWAIT);
		if (w > 0)
			off += (size_t)w;
		pump(0.002);
		if (w < 0 && errno != EAGAIN)
			break;
	}
	r = reply_of(fd);
	ck_assert_ptr_nonnull(strstr(r, "\"code\":\"protocol\""));
	ck_assert_ptr_nonnull(strstr(r, "longer than"));
	ck_assert_int_eq(handled, 0);
	free(r);
	free(big);
	close(fd);
	ctl_server_free(s);
}
END_TEST

START_TEST(server_async_reply)
{
	struct ctl_server *s = server(0600);
	char *r;
	int fd;

	fd = client("{\"v\":1,\"cmd\":\"later\"}\n");
	pump(0.05);
	ck_assert_ptr_nonnull(held);
	/* Nothing yet... */
	ck_assert_int_eq(recv(fd, &(char){0}, 1, MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ctl_reply_ok(held, json_new_string("done"));
	held = NULL;
	r = reply_of(fd);
	ck_assert_str_eq(r, "{\"v\":1,\"ok\":true,\"result\":\"done\"}\n");
	free(r);
	close(fd);
	ctl_server_free(s);
}
END_TEST

START_TEST(server_reply_after_hangup)
{
	struct ctl_server *s = server(0600);
	struct ctl_conn *first;
	char *r;
	int fd;

	fd = client("{\"v\":1,\"cmd\":\"later\"}\n");
	pump(0.05);
	ck_assert_ptr_nonnull(held);
	first = held;
	close(fd);
	pump(0.05);     /* the server sees the hangup and closes its end */
	/* The reply comes later: dropped, the object freed (valgrind would
	 * report a use after free or a leak). */
	ctl_reply_error(first, CTL_E_FAILED, json_new_object(), "too late");
	held = NULL;

	/* The server still works. */
	fd = client("{\"v\":1,\"cmd\":\"echo\"}\n");
	r = reply_of(fd);
	ck_assert_str_eq(r, "{\"v\":1,\"ok\":true,\"result\":{}}\n");
	free(r);
	close(fd);

	/* A reply still owed when the server goes: freed with it. */
	fd = client("{\"v\":1,\"cmd\":\"later\"}\n");
	pump(0.05);
	ck_assert_ptr_nonnull(held);
	close(fd);
	pump(0.05);
	ctl_server_free(s);
}
END_TEST

START_TEST(server_request_timeout)
{
	mode_t um = umask(077);
	struct ctl_server *s = server_t(0600, 0.3);
	struct stat st;
	char *r;
	int fd;

	umask(um);

	/* Half a request, then silence: closed after the timeout, unanswered. */
	fd = client("{\"v\":1,");
	pump(0.1);
	ck_assert_int_eq(recv(fd, &(char){0}, 1, MSG_DONTWAIT), -1);
	r = reply_of(fd);   /* pumps until EOF */
	ck_assert_str_eq(r, "");
	ck_assert_int_eq(recv(fd, &(char){0}, 1, MSG_DONTWAIT), 0);
	free(r);
	close(fd);
	ck_assert_int_eq(handled, 0);
	/* The directory was created 0755 whatever the umask. */
	*strrchr(sock_path, '/') = '\0';
	ck_assert_int_eq(stat(sock_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0755);
	*strchr(sock_path, '\0') = '/';
	ctl_server_free(s);
}
END_TEST

START_TEST(server_connection_cap)
{
	struct ctl_server *s = server(0600);
	int fds[CTL_MAX_CONNS], extra;
	char *r;

	for (int i = 0; i < CTL_MAX_CONNS; i++) {
		fds[i] = client(NULL);
		pump(0.002);
	}
	pump(0.05);
	extra = client(NULL);
	r = reply_of(extra);
	ck_assert_ptr_nonnull(strstr(r, "\"code\":\"busy\""));
	free(r);
	close(extra);
	/* Once one goes, a newcomer is served again. */
	close(fds[0]);
	pump(0.05);
	extra = client("{\"v\":1,\"cmd\":\"echo\"}\n");
	r = reply_of(extra);
	ck_assert_str_eq(r, "{\"v\":1,\"ok\":true,\"result\":{}}\n");
	free(r);
	close(extra);
	for (int i = 1; i < CTL_MAX_CONNS; i++)
		close(fds[i]);
	ctl_server_free(s);
}
END_TEST

START_TEST(socket_file_safety)
{
	struct ctl_server_opts o = { sock_path, 0600, (uid_t)-1, (gid_t)-1, (gid_t)-1, 0 };
	struct ctl_server *s, *s2;
	char err[256] = "";
	struct stat st;
	FILE *f;

	/* A live socket is not stolen by a second server. */
	s = server(0600);
	ck_assert_ptr_null(ctl_server_new(loop, &o, cmds, NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
	ck_assert_int_eq(lstat(sock_path, &st), 0);
	ctl_server_free(s);

	/* A stale socket (nobody listening) is replaced. */
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		memcpy(sa.sun_path, sock_path, strlen(sock_path));
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	s = server(0600);
	ctl_server_free(s);

	/* Anything else at the path is left alone. */
	f = fopen(sock_path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_ptr_null(ctl_server_new(loop, &o, cmds, NULL, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a socket") != NULL, "%s", err);
	ck_assert_int_eq(lstat(sock_path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	unlink(sock_path);

	/* Reconfigure: new mode in place, then a new path. */
	s = server(0600);
	o.mode = 0660;
	ck_assert_int_eq(ctl_server_reconfigure(s, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(lstat(sock_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0660);
	{
		char p2[160];
		snprintf(p2, sizeof(p2), "%s/other.sock", dir);
		o.path = p2;
		ck_assert_int_eq(ctl_server_reconfigure(s, &o, err, sizeof(err)), 0);
		ck_assert_int_eq(lstat(sock_path, &st), -1);
		ck_assert_int_eq(lstat(p2, &st), 0);
		s2 = s;
		ctl_server_free(s2);
		ck_assert_int_eq(lstat(p2, &st), -1);
	}
}
END_TEST

static Suite *
control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *t = tcase_create("proto");

	tcase_add_test(t, request_ok);
	tcase_add_test(t, request_bad);
	tcase_add_test(t, reply_round_trip);
	tcase_add_test(t, access_decision);
	suite_add_tcase(s, t);
	t = tcase_create("server");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 30);
	tcase_add_test(t, server_replies);
	tcase_add_test(t, server_too_long);
	tcase_add_test(t, server_async_reply);
	tcase_add_test(t, server_reply_after_hangup);
	tcase_add_test(t, server_request_timeout);
	tcase_add_test(t, server_connection_cap);
	tcase_add_test(t, socket_file_safety);
	suite_add_tcase(s, t);
	return s;
}

CHECK_MAIN(control_suite)
