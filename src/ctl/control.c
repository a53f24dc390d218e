/*
 * control.c - the control socket server on the daemon's loop.
 *
 * One connection carries one request line and one reply line (framing in
 * ctl_proto.c).  Everything is non-blocking: a connection that does not
 * send a complete request within CTL_REQUEST_TIMEOUT, or does not take its
 * reply within CTL_WRITE_TIMEOUT, is closed; a request longer than
 * CTL_MAX_REQUEST is refused; beyond CTL_MAX_CONNS connections new ones
 * are turned away.
 *
 * Who is asking comes from the kernel (SO_PEERCRED, SO_PEERGROUPS), never
 * from the request, and is checked per command against the table's
 * "mutating" flag (ctl_peer_access).
 *
 * A reply may come long after the request (a revocation waits on the CA).
 * Meanwhile the connection keeps watching its socket: if the client hangs
 * up, the descriptor is closed but the ctl_conn stays, detached, until the
 * handler replies; the reply is then dropped and the object freed.  So a
 * handler's callback never holds a dangling pointer, whatever the client
 * does.  The server must therefore be freed only after whatever may still
 * reply (the fleet) is gone; ctl_server_free() frees detached connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "fsutil.h"
#include "json.h"
#include "listener.h"
#include "log.h"
#include "util.h"

#define PEER_GROUPS_MAX 65536

enum conn_state {
	CONN_READING,       /* waiting for the request line */
	CONN_WAITING,       /* handler called, reply owed */
	CONN_WRITING        /* reply being sent; freed when the listener closes it */
};

struct ctl_conn {
	struct ctl_server *srv;
	struct ctl_conn *prev, *next;   /* on srv->detached only */
	struct listener_conn *lc;   /* NULL once the client is gone */
	enum conn_state state;
	enum ctl_access access;
	size_t inlen;               /* bytes of the request seen so far */
	char peer[64];
	char cmd[32];
};

struct ctl_server {
	struct listener *l;
	char *path;
	dev_t dev;
	ino_t ino;
	gid_t read_group;
	gid_t admin_group;
	double request_timeout;
	const struct ctl_command *cmds;
	void *ctx;
	struct ctl_conn *detached;  /* client gone, reply still owed */
};

enum ctl_access
ctl_peer_access(uid_t uid, const gid_t *gids, size_t ngids, uid_t daemon_uid,
    gid_t read_group, gid_t admin_group)
{
	if (uid == 0 || uid == daemon_uid)
		return CTL_ACCESS_ALL;
	if (admin_group != (gid_t)-1)
		for (size_t i = 0; i < ngids; i++)
			if (gids[i] == admin_group)
				return CTL_ACCESS_ALL;
	if (read_group != (gid_t)-1)
		for (size_t i = 0; i < ngids; i++)
			if (gids[i] == read_group)
				return CTL_ACCESS_READ;
	return CTL_ACCESS_NONE;
}

const char *
ctl_conn_peer(const struct ctl_conn *c)
{
	return c->peer;
}

/* ---- connections ---- */

static void
conn_free(struct ctl_conn *c)
{
	struct ctl_server *s = c->srv;

	if (c->lc == NULL) {
		if (c->prev)
			c->prev->next = c->next;
		else
			s->detached = c->next;
		if (c->next)
			c->next->prev = c->prev;
	}
	free(c);
}

/* Takes line (a reply with its newline). */
static void
conn_send(struct ctl_conn *c, char *line)
{
	if (c->state == CONN_WRITING) {
		/* A handler bug: keep the first reply. */
		log_err("control: second reply to '%s' from %s ignored", c->cmd, c->peer);
		free(line);
		return;
	}
	if (c->lc == NULL) {
		log_debug("control: %s hung up before the reply to '%s'; dropped", c->peer,
		    c->cmd);
		free(line);
		conn_free(c);
		return;
	}
	c->state = CONN_WRITING;
	/* May close the connection, and free c, before it returns. */
	listener_conn_send(c->lc, line, line ? strlen(line) : 0);
}

void
ctl_reply_ok(struct ctl_conn *c, struct json *result)
{
	conn_send(c, ctl_reply_format_ok(result));
}

void
ctl_reply_ok_begin(struct buf *b)
{
	buf_append(b, CTL_REPLY_OK_PREFIX, sizeof(CTL_REPLY_OK_PREFIX) - 1);
}

void
ctl_reply_ok_text(struct ctl_conn *c, struct buf *b)
{
	buf_append(b, "}\n", 2);
	conn_send(c, buf_steal(b, NULL));
}

void
ctl_reply_error(struct ctl_conn *c, const char *code, struct json *extra, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	conn_send(c, ctl_reply_format_error(code, extra, msg));
	free(msg);
}

static const struct ctl_command *
command_find(const struct ctl_server *s, const char *name)
{
	for (const struct ctl_command *k = s->cmds; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static void
conn_dispatch(struct ctl_conn *c, const char *line, size_t len)
{
	const struct ctl_command *k;
	const struct json *args;
	struct json *req = NULL, *empty = NULL;
	const char *cmd, *code;
	char err[256];

	c->state = CONN_WAITING;
	if (ctl_request_parse(line, len, &req, &cmd, &args, &code, err, sizeof(err)) < 0) {
		log_warn("control: bad request from %s: %s", c->peer, err);
		ctl_reply_error(c, code, NULL, "%s", err);
		return;
	}
	snprintf(c->cmd, sizeof(c->cmd), "%s", cmd);
	if ((k = command_find(c->srv, cmd)) == NULL) {
		ctl_reply_error(c, CTL_E_USAGE, NULL, "unknown command '%s'", c->cmd);
		goto out;
	}
	if (c->access == CTL_ACCESS_NONE || (k->mutating && c->access != CTL_ACCESS_ALL)) {
		log_warn("control: denied '%s' to %s (%s)", k->name, c->peer,
		    c->access == CTL_ACCESS_NONE ? "not root, the daemon's user or a member of "
		    "the socket's group" : "read-only access");
		ctl_reply_error(c, CTL_E_DENIED, NULL, "permission denied: '%s' %s", k->name,
		    c->access == CTL_ACCESS_NONE ? "needs root, the daemon's user or the "
		    "control socket's group" : "changes state and needs root, the daemon's "
		    "user or control_admin_group");
		goto out;
	}
	if (k->mutating)
		log_info("control: '%s' from %s", k->name, c->peer);
	else
		log_debug("control: '%s' from %s", k->name, c->peer);
	if (args == NULL)
		args = empty = json_new_object();
	k->fn(c, args, c->srv->ctx);
out:
	json_free(empty);
	json_free(req);
}

static void
conn_data_cb(struct listener_conn *lc, const char *data, size_t len, void *cdata)
{
	struct ctl_conn *c = cdata;
	const char *nl;

	c->inlen = len;
	if ((nl = memchr(data, '\n', len)) != NULL) {
		size_t linelen = (size_t)(nl - data);
		if (linelen > CTL_MAX_REQUEST)
			goto toolong;
		/* One request per connection: the rest is read and ignored, so
		 * that a hang-up is still seen while the reply is owed. */
		listener_conn_set_timeout(lc, 0);
		conn_dispatch(c, data, linelen);
		listener_conn_discard_input(lc);
		return;
	}
	if (len > CTL_MAX_REQUEST)
		goto toolong;
	return;
toolong:
	log_warn("control: request from %s longer than %d bytes; refused", c->peer,
	    CTL_MAX_REQUEST);
	c->state = CONN_WAITING;
	ctl_reply_error(c, CTL_E_PROTOCOL, NULL, "request longer than %d bytes",
	    CTL_MAX_REQUEST);
}

static void
conn_close_cb(struct listener_conn *lc, enum listener_close why, int error, void *cdata)
{
	struct ctl_conn *c = cdata;
	struct ctl_server *s = c->srv;

	(void)lc;
	switch (why) {
	case LISTENER_CLOSE_PEER:
		/* Hung up.  A reply still owed is dropped when it comes. */
		if (c->state == CONN_READING && c->inlen > 0)
			log_debug("control: %s hung up in the middle of a request", c->peer);
		if (c->state == CONN_WAITING) {
			c->lc = NULL;
			c->prev = NULL;
			c->next = s->detached;
			if (s->detached)
				s->detached->prev = c;
			s->detached = c;
			return;
		}
		break;
	case LISTENER_CLOSE_SEND_FAILED:
		log_debug("control: reply to %s not delivered: %s", c->peer, strerror(error));
		break;
	case LISTENER_CLOSE_TIMEOUT:
		if (c->state == CONN_READING)
			log_warn("control: %s sent no complete request within %gs; closed",
			    c->peer, s->request_timeout);
		else
			log_warn("control: %s did not take its reply within %.0fs; closed",
			    c->peer, CTL_WRITE_TIMEOUT);
		break;
	case LISTENER_CLOSE_DONE:
	case LISTENER_CLOSE_LOCAL:
	case LISTENER_CLOSE_FREE:
	case LISTENER_CLOSE__MAX:
		break;
	}
	free(c);
}

/* The peer's groups, primary first.  Caller frees. */
static gid_t *
peer_groups(int fd, gid_t primary, size_t *n)
{
	socklen_t len = 64 * sizeof(gid_t);
	gid_t *g = NULL;

	for (;;) {
		g = xrealloc(g, sizeof(gid_t) + len);
		g[0] = primary;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g + 1, &len) == 0)
			break;
		if (errno != ERANGE || len > PEER_GROUPS_MAX * sizeof(gid_t)) {
			/* Old kernel: the primary group is all we know. */
			len = 0;
			break;
		}
	}
	*n = 1 + len / sizeof(gid_t);
	return g;
}

static void
busy_reply(int fd)
{
	char *line = ctl_reply_format_error(CTL_E_BUSY, NULL,
	    "too many control connections; try again");
	ssize_t n = send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)n;
	free(line);
}

/* The kernel's word on who connected, or false (logged). */
static bool
peer_cred(int fd, struct ucred *cr)
{
	socklen_t crlen = sizeof(*cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &crlen) < 0) {
		log_warn("control: cannot read the peer's credentials: %s", strerror(errno));
		return false;
	}
	return true;
}

static void
conn_full_cb(int fd, void *arg)
{
	struct ucred cr;

	(void)arg;
	if (!peer_cred(fd, &cr))
		return;
	log_warn("control: %d connections open; refusing uid %u pid %ld", CTL_MAX_CONNS,
	    (unsigned)cr.uid, (long)cr.pid);
	busy_reply(fd);
}

static int
conn_accept_cb(struct listener_conn *lc, const struct sockaddr *sa, socklen_t salen,
    void *arg)
{
	struct ctl_server *s = arg;
	struct ctl_conn *c;
	struct ucred cr;
	gid_t *gids;
	size_t ngids;
	int fd = listener_conn_fd(lc);

	(void)sa;
	(void)salen;
	if (!peer_cred(fd, &cr))
		return -1;
	c = xcalloc(1, sizeof(*c));
	c->srv = s;
	c->lc = lc;
	c->state = CONN_READING;
	snprintf(c->peer, sizeof(c->peer), "uid %u pid %ld", (unsigned)cr.uid, (long)cr.pid);
	gids = peer_groups(fd, cr.gid, &ngids);
	c->access = ctl_peer_access(cr.uid, gids, ngids, geteuid(), s->read_group,
	    s->admin_group);
	free(gids);
	listener_conn_set_data(lc, c);
	listener_conn_set_timeout(lc, s->request_timeout);
	return 0;
}

/* The request must come within request_timeout (set per connection, since
 * a reload may change it); the handler's reply may take as long as it
 * needs; a reply the client does not take within CTL_WRITE_TIMEOUT is
 * dropped.  The socket stays watched after the request so that a hang-up
 * while the reply is owed frees the descriptor at once. */
static const struct listener_ops control_ops = {
	.name = "control",
	.max_conns = CTL_MAX_CONNS,
	.read_max = CTL_MAX_REQUEST + 1,
	.write_timeout = CTL_WRITE_TIMEOUT,
	.read_while_writing = true,
	.on_full = conn_full_cb,
	.on_accept = conn_accept_cb,
	.on_data = conn_data_cb,
	.on_close = conn_close_cb,
};

/* ---- the listening socket ---- */

/* Removes a leftover socket file at path: only a socket, and only when no
 * one answers on it (a second daemon must not steal the first's socket). */
static int
remove_stale(const char *path, const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket; not removing it", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "%s is in use by another certfleetd", path);
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove the stale socket %s: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Unset owner and group mean the daemon's own, also after a reload that
 * drops them. */
static int
apply_owner_mode(const char *path, const struct ctl_server_opts *o, char *err,
    size_t errlen)
{
	uid_t uid = o->owner != (uid_t)-1 ? o->owner : geteuid();
	gid_t gid = o->group != (gid_t)-1 ? o->group : getegid();

	if (chown(path, uid, gid) < 0) {
		snprintf(err, errlen, "cannot chown %s: %s", path, strerror(errno));
		return -1;
	}
	if (chmod(path, o->mode) < 0) {
		snprintf(err, errlen, "cannot chmod %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Binds and listens at o->path; the socket file is 0600 from its creation
 * until apply_owner_mode() opens it up. */
static int
socket_create(const struct ctl_server_opts *o, dev_t *dev, ino_t *ino, char *err,
    size_t errlen)
{
	struct sockaddr_un sa = {0};
	struct stat st;
	char *dir;
	mode_t old;
	int fd = -1, rc;

	if (o->path == NULL || strlen(o->path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long (at most %zu bytes)",
		    sizeof(sa.sun_path) - 1);
		return -1;
	}
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, o->path, strlen(o->path));
	dir = xstrdup(o->path);
	old = umask(022);
	rc = mkdir_p(dirname(dir), 0755);
	umask(old);
	if (rc < 0)
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
	free(dir);
	if (rc < 0 || remove_stale(o->path, &sa, err, errlen) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	(void)fchmod(fd, 0600);
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", o->path, strerror(errno));
		goto fail;
	}
	if (listen(fd, 64) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", o->path, strerror(errno));
		goto fail_unlink;
	}
	if (apply_owner_mode(o->path, o, err, errlen) < 0)
		goto fail_unlink;
	if (lstat(o->path, &st) < 0) {
		snprintf(err, errlen, "%s: %s", o->path, strerror(errno));
		goto fail_unlink;
	}
	*dev = st.st_dev;
	*ino = st.st_ino;
	return fd;
fail_unlink:
	unlink(o->path);
fail:
	close(fd);
	return -1;
}

/* Removes our socket file, not one a successor may have put there. */
static void
socket_remove(struct ctl_server *s)
{
	struct stat st;

	if (s->path && lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
}

static void
set_groups(struct ctl_server *s, const struct ctl_server_opts *o)
{
	s->read_group = o->group != (gid_t)-1 ? o->group : getegid();
	s->admin_group = o->admin_group;
	s->request_timeout = o->request_timeout > 0 ? o->request_timeout : CTL_REQUEST_TIMEOUT;
}

struct ctl_server *
ctl_server_new(struct ev_loop *loop, const struct ctl_server_opts *o,
    const struct ctl_command *cmds, void *ctx, char *err, size_t errlen)
{
	struct ctl_server *s = xcalloc(1, sizeof(*s));
	int fd;

	s->cmds = cmds;
	s->ctx = ctx;
	if ((fd = socket_create(o, &s->dev, &s->ino, err, errlen)) < 0) {
		free(s);
		return NULL;
	}
	s->path = xstrdup(o->path);
	set_groups(s, o);
	s->l = listener_new_fd(loop, fd, s->path, &control_ops, s);
	return s;
}

int
ctl_server_reconfigure(struct ctl_server *s, const struct ctl_server_opts *o, char *err,
    size_t errlen)
{
	dev_t dev;
	ino_t ino;
	int fd;

	if (strcmp(o->path, s->path) == 0) {
		if (apply_owner_mode(s->path, o, err, errlen) < 0)
			return -1;
		set_groups(s, o);
		return 0;
	}
	if ((fd = socket_create(o, &dev, &ino, err, errlen)) < 0)
		return -1;
	/* Connections already accepted carry on; new ones come to the new
	 * path. */
	listener_replace_fd(s->l, fd, o->path);
	socket_remove(s);
	free(s->path);
	s->path = xstrdup(o->path);
	s->dev = dev;
	s->ino = ino;
	set_groups(s, o);
	return 0;
}

void
ctl_server_free(struct ctl_server *s)
{
	if (s == NULL)
		return;
	listener_free(s->l);
	while (s->detached)
		conn_free(s->detached);
	socket_remove(s);
	free(s->path);
	free(s);
}
