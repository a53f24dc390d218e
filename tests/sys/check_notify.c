/*
 * check_notify.c - unit tests for notify.c: the exact sd_notify datagrams
 * sent to $NOTIFY_SOCKET (read back from an AF_UNIX socket bound in a
 * temporary directory) and the WATCHDOG_USEC/WATCHDOG_PID handling.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "testutil.h"

static char tmpdir[64];
static char sock_path[128];
static int sock_fd = -1;

static void
setup(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/certfleet-notify.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(sock_path, sizeof(sock_path), "%s/notify.sock", tmpdir);
	ck_assert_uint_lt(strlen(sock_path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	sock_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(sock_fd, 0);
	ck_assert_int_eq(bind(sock_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", sock_path, 1), 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

static void
teardown(void)
{
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (sock_fd >= 0)
		close(sock_fd);
	sock_fd = -1;
	unlink(sock_path);
	rmdir(tmpdir);
}

/* Receives one datagram (bounded wait: 10 s), NUL-terminated into buf. */
static void
recv_msg(char *buf, size_t len)
{
	struct pollfd pfd = {.fd = sock_fd, .events = POLLIN};
	ssize_t n;

	ck_assert_msg(poll(&pfd, 1, 10000) == 1, "no datagram on %s within 10 s", sock_path);
	n = recv(sock_fd, buf, len - 1, 0);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
}

/* Nothing else is waiting on the socket. */
static void
assert_no_more(void)
{
	struct pollfd pfd = {.fd = sock_fd, .events = POLLIN};

	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
}

static uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

START_TEST(test_ready_status_stopping_watchdog)
{
	char buf[512];

	notify_ready();
	recv_msg(buf, sizeof(buf));
	ck_assert_str_eq(buf, "READY=1");

	notify_status("x");
	recv_msg(buf, sizeof(buf));
	ck_assert_str_eq(buf, "STATUS=x");

	notify_status("3 certificates, next renewal in 11d 3h");
	recv_msg(buf, sizeof(buf));
	ck_assert_str_eq(buf, "STATUS=3 certificates, next renewal in 11d 3h");

	notify_stopping();
	recv_msg(buf, sizeof(buf));
	ck_assert_str_eq(buf, "STOPPING=1");

	notify_watchdog_status(NULL);
	recv_msg(buf, sizeof(buf));
	ck_assert_str_eq(buf, "WATCHDOG=1");

	/* The ping and a changed status go in one datagram. */
	notify_watchdog_status("2 certificates, 1 renewing");
	recv_msg(buf, sizeof(buf));
	ck_assert_str_eq(buf, "WATCHDOG=1\nSTATUS=2 certificates, 1 renewing");
	assert_no_more();
	/* The variable stays for the next notification (unset_environment=0). */
	ck_assert_str_eq(getenv("NOTIFY_SOCKET"), sock_path);
}
END_TEST

START_TEST(test_reloading)
{
	char buf[512];
	const char *prefix = "RELOADING=1\nMONOTONIC_USEC=";
	unsigned long long usec;
	uint64_t before, after;
	int n = 0;

	before = mono_usec();
	notify_reloading();
	after = mono_usec();
	recv_msg(buf, sizeof(buf));
	ck_assert_msg(strncmp(buf, prefix, strlen(prefix)) == 0, "got \"%s\"", buf);
	ck_assert_msg(strspn(buf + strlen(prefix), "0123456789") == strlen(buf + strlen(prefix)) &&
	    buf[strlen(prefix)] != '\0', "MONOTONIC_USEC not all digits: \"%s\"", buf);
	ck_assert_int_eq(sscanf(buf + strlen(prefix), "%llu%n", &usec, &n), 1);
	ck_assert_uint_eq((size_t)n, strlen(buf + strlen(prefix)));
	/* CLOCK_MONOTONIC, as systemd requires, taken during the call. */
	ck_assert_uint_ge(usec, before);
	ck_assert_uint_le(usec, after);
	assert_no_more();
}
END_TEST

START_TEST(test_no_socket_is_harmless)
{
	unsetenv("NOTIFY_SOCKET");
	notify_ready();
	notify_reloading();
	notify_status("x");
	notify_stopping();
	notify_watchdog_status(NULL);
	notify_watchdog_status("x");
	assert_no_more();
}
END_TEST

START_TEST(test_watchdog_usec)
{
	char pid[32];

	ck_assert_uint_eq(notify_watchdog_usec(), 0);

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "30000000", 1), 0);
	ck_assert_int_eq(setenv("WATCHDOG_PID", pid, 1), 0);
	ck_assert_uint_eq(notify_watchdog_usec(), 30000000u);
	/* Read-only: asking twice gives the same answer. */
	ck_assert_uint_eq(notify_watchdog_usec(), 30000000u);

	/* Meant for another process (e.g. our parent): off for us. */
	snprintf(pid, sizeof(pid), "%ld", (long)getppid());
	ck_assert_int_eq(setenv("WATCHDOG_PID", pid, 1), 0);
	ck_assert_uint_eq(notify_watchdog_usec(), 0);

	/* No WATCHDOG_PID: applies to whoever reads it. */
	unsetenv("WATCHDOG_PID");
	ck_assert_uint_eq(notify_watchdog_usec(), 30000000u);

	ck_assert_int_eq(setenv("WATCHDOG_USEC", "soon", 1), 0);
	ck_assert_uint_eq(notify_watchdog_usec(), 0);
	ck_assert_int_eq(setenv("WATCHDOG_USEC", "0", 1), 0);
	ck_assert_uint_eq(notify_watchdog_usec(), 0);

	unsetenv("WATCHDOG_USEC");
	ck_assert_uint_eq(notify_watchdog_usec(), 0);
}
END_TEST

static Suite *
notify_suite(void)
{
	Suite *s = suite_create("notify");
	TCase *tc = tcase_create("notify");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ready_status_stopping_watchdog);
	tcase_add_test(tc, test_reloading);
	tcase_add_test(tc, test_no_socket_is_harmless);
	tcase_add_test(tc, test_watchdog_usec);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(notify_suite)
