/*
 * ctl_client.c - certfleetctl's connection to the daemon: one request
 * line out, one reply line back (framing in ctl_proto.c), with a deadline,
 * and the reply's error code turned into the documented exit status.
 *
 * Blocking I/O with poll() is right here: certfleetctl does one thing and
 * waits for it.  The writing side is never shut down early, because the
 * daemon takes end-of-file as the client hanging up.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "ctl_client.h"
#include "json.h"
#include "util.h"

#define MAX_REPLY (256u << 20)

enum ctl_exit
ctl_exit_for_code(const char *code)
{
	if (code == NULL)
		return CTL_EXIT_FAILED;
	if (strcmp(code, CTL_E_USAGE) == 0)
		return CTL_EXIT_USAGE;
	if (strcmp(code, CTL_E_NOTFOUND) == 0)
		return CTL_EXIT_NOTFOUND;
	if (strcmp(code, CTL_E_DENIED) == 0)
		return CTL_EXIT_DENIED;
	return CTL_EXIT_FAILED;
}

/* Milliseconds left until deadline (now_mono() based), -1 for none. */
static int
ms_left(double deadline)
{
	double left;

	if (deadline <= 0)
		return -1;
	left = deadline - now_mono();
	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

static enum ctl_exit
do_connect(const char *path, int *fdp, char *err, size_t errlen)
{
	struct sockaddr_un sa = {0};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path %s is too long", path);
		return CTL_EXIT_USAGE;
	}
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return CTL_EXIT_FAILED;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		if (e == ENOENT || e == ECONNREFUSED) {
			snprintf(err, errlen, "certfleetd is not running (nothing listens on %s)",
			    path);
			return CTL_EXIT_NODAEMON;
		}
		if (e == EACCES || e == EPERM) {
			snprintf(err, errlen, "permission denied on the control socket %s", path);
			return CTL_EXIT_DENIED;
		}
		snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(e));
		return CTL_EXIT_FAILED;
	}
	*fdp = fd;
	return CTL_EXIT_OK;
}

static int
send_all(int fd, const char *data, size_t len, double deadline, char *err, size_t errlen)
{
	while (len > 0) {
		struct pollfd p = {fd, POLLOUT, 0};
		ssize_t n;
		int r = poll(&p, 1, ms_left(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			snprintf(err, errlen, "timed out sending the request to the daemon");
			return -1;
		}
		n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot send the request: %s", strerror(errno));
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads the reply line into b (without the newline). */
static int
recv_line(int fd, struct buf *b, double deadline, char *err, size_t errlen)
{
	char chunk[65536];

	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;
		int r = poll(&p, 1, ms_left(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			snprintf(err, errlen, "timed out waiting for the daemon's reply (the "
			    "operation may still complete; see certfleetctl status)");
			return -1;
		}
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read the daemon's reply: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			snprintf(err, errlen, "the daemon closed the connection without a reply");
			return -1;
		}
		buf_append(b, chunk, (size_t)n);
		if (memchr(chunk, '\n', (size_t)n)) {
			b->len = (size_t)((char *)memchr(b->data, '\n', b->len) - b->data);
			b->data[b->len] = '\0';
			return 0;
		}
		if (b->len > MAX_REPLY) {
			snprintf(err, errlen, "the daemon's reply is larger than %u bytes",
			    MAX_REPLY);
			return -1;
		}
	}
}

/* Connects, sends the request and reads the reply line into b. */
static enum ctl_exit
exchange(const char *path, const char *cmd, struct json *args, double timeout, struct buf *b,
    char *err, size_t errlen)
{
	double deadline = timeout > 0 ? now_mono() + timeout : 0;
	char *line = ctl_request_format(cmd, args);
	enum ctl_exit rc;
	int fd = -1;

	if ((rc = do_connect(path, &fd, err, errlen)) != CTL_EXIT_OK)
		goto out;
	rc = CTL_EXIT_FAILED;
	if (send_all(fd, line, strlen(line), deadline, err, errlen) < 0 ||
	    recv_line(fd, b, deadline, err, errlen) < 0)
		goto out;
	rc = CTL_EXIT_OK;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	return rc;
}

/* A reply line that is not a plain success: its verdict, from the parsed
 * object (*result set when it is a success after all). */
static enum ctl_exit
reply_verdict(const struct buf *b, struct json **result, char *err, size_t errlen)
{
	const struct json *res;
	const char *code, *error;
	struct json *reply = NULL;
	enum ctl_exit rc = CTL_EXIT_FAILED;
	bool ok;

	if (ctl_reply_parse(b->data, b->len, &reply, &ok, &res, &code, &error, err, errlen) < 0)
		goto out;
	if (!ok) {
		snprintf(err, errlen, "%s", error);
		rc = ctl_exit_for_code(code);
		goto out;
	}
	if (result)
		*result = res ? json_dup(res) : json_new_null();
	rc = CTL_EXIT_OK;
out:
	json_free(reply);
	return rc;
}

enum ctl_exit
ctl_call(const char *path, const char *cmd, struct json *args, double timeout,
    struct json **result, char *err, size_t errlen)
{
	struct buf b = {0};
	enum ctl_exit rc;

	*result = NULL;
	if ((rc = exchange(path, cmd, args, timeout, &b, err, errlen)) == CTL_EXIT_OK)
		rc = reply_verdict(&b, result, err, errlen);
	buf_free(&b);
	return rc;
}

enum ctl_exit
ctl_call_text(const char *path, const char *cmd, struct json *args, double timeout,
    char **text, size_t *start, size_t *len, char *err, size_t errlen)
{
	static const char prefix[] = CTL_REPLY_OK_PREFIX;
	struct buf b = {0};
	struct json *res = NULL;
	enum ctl_exit rc;

	*text = NULL;
	if ((rc = exchange(path, cmd, args, timeout, &b, err, errlen)) != CTL_EXIT_OK)
		goto out;
	while (b.len > 0 && b.data[b.len - 1] == '\r')
		b.len--;
	/* The daemon's success line: the result is everything between the
	 * opening and the last brace, checked by whoever reads it. */
	if (b.len > sizeof(prefix) && memcmp(b.data, prefix, sizeof(prefix) - 1) == 0 &&
	    b.data[b.len - 1] == '}') {
		*start = sizeof(prefix) - 1;
		*len = b.len - 1 - *start;
		*text = buf_steal(&b, NULL);
		goto out;
	}
	/* Anything else (errors, other field orders): the whole reply. */
	if ((rc = reply_verdict(&b, &res, err, errlen)) == CTL_EXIT_OK) {
		*text = json_print(res);
		*start = 0;
		*len = strlen(*text);
	}
out:
	json_free(res);
	buf_free(&b);
	return rc;
}
