/*
 * check_listener.c - the listener module: accepting, the connection cap,
 * buffered and raw reads, replies, timeouts, hang-ups and teardown, with a
 * small line-echo protocol on top and plain blocking clients on loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "listener.h"
#include "log.h"
#include "testutil.h"
#include "util.h"

static struct ev_loop *loop;
static int accepted, fulls, datas, ios, refuse_next;
static int closes[LISTENER_CLOSE__MAX];
static int open_states;         /* protocol states not yet freed */
static bool in_data;            /* on_data is on the stack */
static bool closed_inside;      /* on_close ran while on_data was on the stack */
static size_t last_len;

/* The protocol's per-connection state: counted, so a leak or a double
 * free shows in open_states (and under valgrind). */
struct echo {
	int id;
};

static int
t_accept(struct listener_conn *c, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	struct echo *e;

	ck_assert_ptr_eq(arg, &accepted);
	ck_assert_int_eq(sa->sa_family, AF_INET);
	ck_assert_uint_ge(salen, sizeof(struct sockaddr_in));
	if (refuse_next) {
		refuse_next--;
		return -1;
	}
	e = xcalloc(1, sizeof(*e));
	e->id = ++accepted;
	open_states++;
	listener_conn_set_data(c, e);
	return 0;
}

static void
t_full(int fd, void *arg)
{
	ck_assert_ptr_eq(arg, &accepted);
	ck_assert_int_ge(fd, 0);
	fulls++;
}

/* "quit\n" closes without a reply; any other line is echoed back with
 * "echo " in front; a full buffer gets "full\n". */
static void
t_data(struct listener_conn *c, const char *data, size_t len, void *cdata)
{
	const char *nl;

	ck_assert_ptr_nonnull(cdata);
	ck_assert_int_eq(data[len], '\0');
	datas++;
	last_len = len;
	in_data = true;
	if ((nl = memchr(data, '\n', len)) != NULL) {
		if (strncmp(data, "quit\n", 5) == 0) {
			listener_conn_close(c);
		} else {
			char *out = xasprintf("echo %.*s", (int)(nl - data + 1), data);
			listener_conn_send(c, out, strlen(out));
		}
	} else if (len == 16) {
		listener_conn_send(c, xstrdup("full\n"), 5);
	}
	in_data = false;
}

static void
t_close(struct listener_conn *c, enum listener_close why, int error, void *cdata)
{
	(void)c;
	(void)error;
	ck_assert_int_lt(why, LISTENER_CLOSE__MAX);
	closes[why]++;
	if (in_data)
		closed_inside = true;
	free(cdata);
	open_states--;
}

/* Raw mode: reads one byte and answers it by hand. */
static void
t_io(struct listener_conn *c, void *cdata)
{
	char ch;
	ssize_t n;

	(void)cdata;
	ios++;
	n = recv(listener_conn_fd(c), &ch, 1, 0);
	if (n == 1) {
		ck_assert_int_eq(send(listener_conn_fd(c), "!", 1, MSG_NOSIGNAL), 1);
		listener_conn_close(c);
	} else if (n == 0) {
		listener_conn_close(c);
	}
}

static struct listener_ops echo_ops = {
	.name = "check",
	.max_conns = 4,
	.read_max = 16,
	.timeout = 5.0,
	.on_full = t_full,
	.on_accept = t_accept,
	.on_data = t_data,
	.on_close = t_close,
};

static void
setup(void)
{
	log_init("check_listener", LOG_CRIT, LOG_STYLE_PLAIN);
	loop = ev_default_loop(0);
	accepted = fulls = datas = ios = refuse_next = 0;
	memset(closes, 0, sizeof(closes));
	open_states = 0;
	in_data = closed_inside = false;
	last_len = 0;
	echo_ops.max_conns = 4;
	echo_ops.read_max = 16;
	echo_ops.timeout = 5.0;
	echo_ops.timeout_on_read = false;
	echo_ops.read_while_writing = false;
}

static void
pump_done_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ONE);
}

/* Runs the loop for about seconds. */
static void
pump(double seconds)
{
	ev_timer t;

	ev_timer_init(&t, pump_done_cb, seconds, 0.);
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	ev_timer_stop(loop, &t);
}

static struct listener *
server(const struct listener_ops *ops)
{
	char err[256] = "";
	struct listener *l = listener_new_tcp(loop, "127.0.0.1:0", ops, &accepted, err,
	    sizeof(err));

	ck_assert_msg(l != NULL, "listener_new_tcp: %s", err);
	ck_assert_int_gt(listener_port(l), 0);
	return l;
}

static int
client(const struct listener *l)
{
	struct sockaddr_in sin = {0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)listener_port(l));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void
say(int fd, const char *s)
{
	ck_assert_int_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* What the server sent, after the loop ran; "" when nothing (yet). */
static char *
heard(int fd)
{
	static char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* True when the server closed its end: EOF (after any data) or a reset. */
static bool
hung_up(int fd)
{
	char buf[64];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

START_TEST(test_close_names)
{
	ck_assert_str_eq(listener_close_name(LISTENER_CLOSE_DONE), "done");
	ck_assert_str_eq(listener_close_name(LISTENER_CLOSE_TIMEOUT), "timeout");
	ck_assert_str_eq(listener_close_name(LISTENER_CLOSE_FREE), "free");
	ck_assert_str_eq(listener_close_name(LISTENER_CLOSE__MAX), "?");
	for (int i = 0; i < LISTENER_CLOSE__MAX; i++)
		ck_assert_str_ne(listener_close_name((enum listener_close)i), "?");
}
END_TEST

START_TEST(test_accept_and_reply)
{
	struct listener *l = server(&echo_ops);
	int fd = client(l);

	say(fd, "hel");
	pump(0.05);
	ck_assert_int_eq(accepted, 1);
	ck_assert_uint_eq(listener_nconns(l), 1);
	ck_assert_str_eq(heard(fd), "");
	say(fd, "lo\n");
	pump(0.05);
	/* The whole buffer each time: 3 bytes, then 6. */
	ck_assert_int_eq(datas, 2);
	ck_assert_uint_eq(last_len, 6);
	ck_assert_str_eq(heard(fd), "echo hello\n");
	ck_assert(hung_up(fd));
	ck_assert_int_eq(closes[LISTENER_CLOSE_DONE], 1);
	/* Closed from inside on_data: on_close waited until it returned. */
	ck_assert(!closed_inside);
	ck_assert_uint_eq(listener_nconns(l), 0);
	ck_assert_int_eq(open_states, 0);
	close(fd);
	listener_free(l);
}
END_TEST

START_TEST(test_many_connections)
{
	struct listener *l;
	int fds[10];

	echo_ops.max_conns = 8;
	l = server(&echo_ops);
	for (int i = 0; i < 10; i++)
		fds[i] = client(l);
	pump(0.1);
	/* Eight kept, two turned away (on_full, then closed). */
	ck_assert_int_eq(accepted, 8);
	ck_assert_int_eq(fulls, 2);
	ck_assert_uint_eq(listener_nconns(l), 8);
	for (int i = 0; i < 8; i++) {
		char line[16];
		snprintf(line, sizeof(line), "n%d\n", i);
		say(fds[i], line);
	}
	pump(0.1);
	for (int i = 0; i < 8; i++) {
		char want[16];
		snprintf(want, sizeof(want), "echo n%d\n", i);
		ck_assert_str_eq(heard(fds[i]), want);
	}
	ck_assert(hung_up(fds[8]));
	ck_assert(hung_up(fds[9]));
	ck_assert_int_eq(closes[LISTENER_CLOSE_DONE], 8);
	ck_assert_uint_eq(listener_nconns(l), 0);
	/* Room again: a new one is kept. */
	close(fds[0]);
	fds[0] = client(l);
	pump(0.05);
	ck_assert_int_eq(accepted, 9);
	for (int i = 0; i < 10; i++)
		close(fds[i]);
	pump(0.05);
	ck_assert_int_eq(open_states, 0);
	listener_free(l);
}
END_TEST

START_TEST(test_refused_by_protocol)
{
	struct listener *l = server(&echo_ops);
	int fd;

	refuse_next = 1;
	fd = client(l);
	pump(0.05);
	ck_assert(hung_up(fd));
	ck_assert_int_eq(accepted, 0);
	ck_assert_uint_eq(listener_nconns(l), 0);
	/* No state was made, so no on_close either. */
	for (int i = 0; i < LISTENER_CLOSE__MAX; i++)
		ck_assert_int_eq(closes[i], 0);
	close(fd);
	listener_free(l);
}
END_TEST

START_TEST(test_peer_closes)
{
	struct listener *l = server(&echo_ops);
	int a = client(l), b = client(l);

	say(a, "half a line");
	pump(0.05);
	ck_assert_uint_eq(listener_nconns(l), 2);
	close(a);
	pump(0.05);
	ck_assert_int_eq(closes[LISTENER_CLOSE_PEER], 1);
	ck_assert_uint_eq(listener_nconns(l), 1);
	ck_assert_int_eq(open_states, 1);
	/* The other one is untouched. */
	say(b, "still\n");
	pump(0.05);
	ck_assert_str_eq(heard(b), "echo still\n");
	close(b);
	listener_free(l);
	ck_assert_int_eq(open_states, 0);
}
END_TEST

START_TEST(test_local_close)
{
	struct listener *l = server(&echo_ops);
	int fd = client(l);

	say(fd, "quit\n");
	pump(0.05);
	ck_assert_int_eq(closes[LISTENER_CLOSE_LOCAL], 1);
	ck_assert(!closed_inside);
	ck_assert(hung_up(fd));
	ck_assert_str_eq(heard(fd), "");
	close(fd);
	listener_free(l);
	ck_assert_int_eq(open_states, 0);
}
END_TEST

START_TEST(test_full_buffer)
{
	struct listener *l = server(&echo_ops);
	int fd = client(l);

	/* 20 bytes, no newline: on_data sees at most read_max (16). */
	say(fd, "aaaaaaaaaaaaaaaaaaaa");
	pump(0.05);
	ck_assert_uint_eq(last_len, 16);
	ck_assert_str_eq(heard(fd), "full\n");
	ck_assert_int_eq(closes[LISTENER_CLOSE_DONE], 1);
	close(fd);
	listener_free(l);
}
END_TEST

START_TEST(test_timeout)
{
	struct listener *l;
	int fd;

	echo_ops.timeout = 0.2;
	l = server(&echo_ops);
	fd = client(l);
	pump(0.1);
	say(fd, "x");
	pump(0.15);
	/* Not an idle timeout: the read did not restart it. */
	ck_assert_int_eq(closes[LISTENER_CLOSE_TIMEOUT], 1);
	ck_assert(hung_up(fd));
	close(fd);
	ck_assert_int_eq(open_states, 0);
	listener_free(l);
}
END_TEST

START_TEST(test_idle_timeout)
{
	struct listener *l;
	int fd;

	echo_ops.timeout = 0.3;
	echo_ops.timeout_on_read = true;
	l = server(&echo_ops);
	fd = client(l);
	/* Each byte restarts the 0.3 s: alive after 0.6 s of trickling. */
	for (int i = 0; i < 4; i++) {
		pump(0.15);
		say(fd, "x");
	}
	pump(0.05);
	ck_assert_int_eq(closes[LISTENER_CLOSE_TIMEOUT], 0);
	ck_assert_uint_eq(listener_nconns(l), 1);
	/* Then silence. */
	pump(0.45);
	ck_assert_int_eq(closes[LISTENER_CLOSE_TIMEOUT], 1);
	ck_assert_uint_eq(listener_nconns(l), 0);
	ck_assert(hung_up(fd));
	close(fd);
	listener_free(l);
}
END_TEST

START_TEST(test_free_with_connections_open)
{
	struct listener *l = server(&echo_ops);
	int fds[3];

	for (int i = 0; i < 3; i++)
		fds[i] = client(l);
	say(fds[0], "partial");
	pump(0.05);
	ck_assert_int_eq(open_states, 3);
	listener_free(l);
	ck_assert_int_eq(closes[LISTENER_CLOSE_FREE], 3);
	ck_assert_int_eq(open_states, 0);
	for (int i = 0; i < 3; i++) {
		ck_assert(hung_up(fds[i]));
		close(fds[i]);
	}
	listener_free(NULL);
}
END_TEST

START_TEST(test_raw_mode)
{
	struct listener_ops raw = {
		.name = "check-raw",
		.max_conns = 4,
		.timeout = 5.0,
		.on_accept = t_accept,
		.on_io = t_io,
		.on_close = t_close,
	};
	struct listener *l = server(&raw);
	int fd = client(l);

	pump(0.05);
	ck_assert_int_eq(ios, 0);
	say(fd, "?");
	pump(0.05);
	ck_assert_int_eq(ios, 1);
	ck_assert_str_eq(heard(fd), "!");
	ck_assert_int_eq(closes[LISTENER_CLOSE_LOCAL], 1);
	close(fd);
	listener_free(l);
	ck_assert_int_eq(open_states, 0);
}
END_TEST

START_TEST(test_bad_address)
{
	char err[256] = "";

	ck_assert_ptr_null(listener_new_tcp(loop, "not an address", &echo_ops, NULL, err,
	    sizeof(err)));
	ck_assert_str_ne(err, "");
}
END_TEST

static Suite *
listener_suite(void)
{
	Suite *s = suite_create("listener");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_close_names);
	tcase_add_test(tc, test_accept_and_reply);
	tcase_add_test(tc, test_many_connections);
	tcase_add_test(tc, test_refused_by_protocol);
	tcase_add_test(tc, test_peer_closes);
	tcase_add_test(tc, test_local_close);
	tcase_add_test(tc, test_full_buffer);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_idle_timeout);
	tcase_add_test(tc, test_free_with_connections_open);
	tcase_add_test(tc, test_raw_mode);
	tcase_add_test(tc, test_bad_address);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(listener_suite)
