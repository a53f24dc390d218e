/*
 * listener.c - accepting sockets and their connections on libev, shared by
 * the responders and the control socket (see listener.h).
 *
 * Each connection has one read watcher (in raw mode the protocol's only
 * watcher, switched between EV_READ and EV_WRITE), one write watcher for a
 * reply that did not fit in the socket at once, and one timer.  Closing is
 * deferred while a callback of the connection is on the stack, so a
 * protocol never sees its connection freed under it.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#include "listener.h"
#include "log.h"
#include "netaddr.h"
#include "util.h"

struct listener_conn {
	struct listener *l;
	struct listener_conn *prev, *next;
	int fd;
	void *data;
	ev_io rio, wio;
	ev_timer timer;
	char *in;                   /* read_max + 1 bytes once something came */
	size_t inlen;
	bool discard;               /* input no longer wanted */
	char *out;
	size_t outlen, outoff;
	bool sending;
	bool in_callback;           /* a callback of ours for c is on the stack */
	bool closing;               /* close once the callback returns */
	enum listener_close why;
	int error;
};

struct listener {
	struct ev_loop *loop;
	const struct listener_ops *ops;
	void *arg;
	int fd;
	int port;
	char *where;
	ev_io accept_io;
	struct listener_conn *conns;
	unsigned nconns;
};

static const char *const close_names[LISTENER_CLOSE__MAX] = {
	[LISTENER_CLOSE_DONE] = "done",
	[LISTENER_CLOSE_PEER] = "peer",
	[LISTENER_CLOSE_SEND_FAILED] = "send-failed",
	[LISTENER_CLOSE_TIMEOUT] = "timeout",
	[LISTENER_CLOSE_LOCAL] = "local",
	[LISTENER_CLOSE_FREE] = "free",
};

const char *
listener_close_name(enum listener_close why)
{
	if ((unsigned)why >= LISTENER_CLOSE__MAX)
		return "?";
	return close_names[why];
}

/* ---- connections ---- */

static void
conn_destroy(struct listener_conn *c)
{
	struct listener *l = c->l;

	ev_io_stop(l->loop, &c->rio);
	ev_io_stop(l->loop, &c->wio);
	ev_timer_stop(l->loop, &c->timer);
	if (l->ops->on_close)
		l->ops->on_close(c, c->why, c->error, c->data);
	if (c->why == LISTENER_CLOSE_DONE)
		shutdown(c->fd, SHUT_WR);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->nconns--;
	free(c->in);
	free(c->out);
	free(c);
}

/* Closes c now, or when its running callback returns. */
static void
conn_close(struct listener_conn *c, enum listener_close why, int error)
{
	if (c->closing)
		return;
	c->closing = true;
	c->why = why;
	c->error = error;
	ev_io_stop(c->l->loop, &c->rio);
	ev_io_stop(c->l->loop, &c->wio);
	ev_timer_stop(c->l->loop, &c->timer);
	if (!c->in_callback)
		conn_destroy(c);
}

/* Ends a callback of c: true when c is gone. */
static bool
conn_leave(struct listener_conn *c)
{
	c->in_callback = false;
	if (!c->closing)
		return false;
	conn_destroy(c);
	return true;
}

static void
conn_flush(struct listener_conn *c)
{
	struct listener *l = c->l;

	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_io_start(l->loop, &c->wio);
			if (l->ops->write_timeout > 0)
				listener_conn_set_timeout(c, l->ops->write_timeout);
			return;
		}
		if (n <= 0) {
			conn_close(c, LISTENER_CLOSE_SEND_FAILED, n < 0 ? errno : EPIPE);
			return;
		}
		c->outoff += (size_t)n;
	}
	conn_close(c, LISTENER_CLOSE_DONE, 0);
}

static void
conn_read(struct listener_conn *c)
{
	const struct listener_ops *ops = c->l->ops;
	char scratch[4096], *p;
	size_t room;
	ssize_t n;

	for (;;) {
		if (c->discard || c->sending) {
			p = scratch;
			room = sizeof(scratch);
		} else {
			if (c->in == NULL)
				c->in = xmalloc(ops->read_max + 1);
			p = c->in + c->inlen;
			room = ops->read_max - c->inlen;
		}
		n = recv(c->fd, p, room, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_close(c, LISTENER_CLOSE_PEER, n < 0 ? errno : 0);
			return;
		}
		if (p == scratch)
			continue;
		c->inlen += (size_t)n;
		c->in[c->inlen] = '\0';
		if (ops->timeout_on_read)
			ev_timer_again(c->l->loop, &c->timer);
		ops->on_data(c, c->in, c->inlen, c->data);
		if (c->closing || !ev_is_active(&c->rio))
			return;
		/* A full buffer the protocol did not answer: stop keeping bytes
		 * rather than spin on it. */
		if (!c->sending && c->inlen == ops->read_max)
			listener_conn_discard_input(c);
	}
}

static void
conn_rio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener_conn *c = w->data;

	(void)loop;
	(void)revents;
	c->in_callback = true;
	if (c->l->ops->read_max == 0)
		c->l->ops->on_io(c, c->data);
	else
		conn_read(c);
	conn_leave(c);
}

static void
conn_wio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener_conn *c = w->data;

	(void)revents;
	ev_io_stop(loop, w);
	conn_flush(c);      /* may free c */
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_close(w->data, LISTENER_CLOSE_TIMEOUT, 0);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct sockaddr_storage ss;
	struct listener_conn *c;
	socklen_t sl;
	int fd;

	(void)revents;
	for (;;) {
		sl = sizeof(ss);
		fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED) {
				if (l->where)
					log_warn("%s: accept on %s: %s", l->ops->name, l->where,
					    strerror(errno));
				else
					log_warn("%s: accept: %s", l->ops->name, strerror(errno));
			}
			return;
		}
		if (l->nconns >= l->ops->max_conns) {
			if (l->ops->on_full)
				l->ops->on_full(fd, l->arg);
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->l = l;
		c->fd = fd;
		ev_io_init(&c->rio, conn_rio_cb, fd, EV_READ);
		ev_io_init(&c->wio, conn_wio_cb, fd, EV_WRITE);
		ev_init(&c->timer, conn_timer_cb);
		c->rio.data = c->wio.data = c->timer.data = c;
		if (l->ops->on_accept && l->ops->on_accept(c, (struct sockaddr *)&ss, sl,
		    l->arg) < 0) {
			ev_timer_stop(loop, &c->timer);
			close(fd);
			free(c);
			continue;
		}
		c->next = l->conns;
		if (l->conns)
			l->conns->prev = c;
		l->conns = c;
		l->nconns++;
		ev_io_start(loop, &c->rio);
		/* on_accept may have set its own timeout. */
		if (!ev_is_active(&c->timer) && l->ops->timeout > 0)
			listener_conn_set_timeout(c, l->ops->timeout);
	}
}

void
listener_conn_set_data(struct listener_conn *c, void *data)
{
	c->data = data;
}

int
listener_conn_fd(const struct listener_conn *c)
{
	return c->fd;
}

void
listener_conn_want(struct listener_conn *c, int events)
{
	if (c->closing || (c->rio.events & (EV_READ | EV_WRITE)) == events)
		return;
	ev_io_stop(c->l->loop, &c->rio);
	ev_io_set(&c->rio, c->fd, events);
	ev_io_start(c->l->loop, &c->rio);
}

void
listener_conn_set_timeout(struct listener_conn *c, double seconds)
{
	if (c->closing)
		return;
	/* ev_timer_again with repeat 0 stops the timer. */
	c->timer.repeat = seconds > 0 ? seconds : 0.;
	ev_timer_again(c->l->loop, &c->timer);
}

void
listener_conn_discard_input(struct listener_conn *c)
{
	c->discard = true;
	free(c->in);
	c->in = NULL;
	c->inlen = 0;
}

void
listener_conn_send(struct listener_conn *c, char *out, size_t len)
{
	if (c->closing || c->sending) {
		free(out);
		return;
	}
	c->sending = true;
	c->out = out;
	c->outlen = len;
	c->outoff = 0;
	if (!c->l->ops->read_while_writing)
		ev_io_stop(c->l->loop, &c->rio);
	conn_flush(c);
}

void
listener_conn_close(struct listener_conn *c)
{
	conn_close(c, LISTENER_CLOSE_LOCAL, 0);
}

/* ---- the listening socket ---- */

struct listener *
listener_new_fd(struct ev_loop *loop, int fd, const char *where,
    const struct listener_ops *ops, void *arg)
{
	struct listener *l = xcalloc(1, sizeof(*l));

	l->loop = loop;
	l->ops = ops;
	l->arg = arg;
	l->fd = fd;
	l->where = where ? xstrdup(where) : NULL;
	ev_io_init(&l->accept_io, accept_cb, fd, EV_READ);
	l->accept_io.data = l;
	ev_io_start(loop, &l->accept_io);
	return l;
}

struct listener *
listener_new_tcp(struct ev_loop *loop, const char *spec, const struct listener_ops *ops,
    void *arg, char *err, size_t errlen)
{
	struct listener *l;
	int fd, port;

	if ((fd = netaddr_listen(spec, &port, err, errlen)) < 0)
		return NULL;
	l = listener_new_fd(loop, fd, NULL, ops, arg);
	l->port = port;
	return l;
}

void
listener_replace_fd(struct listener *l, int fd, const char *where)
{
	ev_io_stop(l->loop, &l->accept_io);
	close(l->fd);
	l->fd = fd;
	free(l->where);
	l->where = where ? xstrdup(where) : NULL;
	ev_io_set(&l->accept_io, fd, EV_READ);
	ev_io_start(l->loop, &l->accept_io);
}

void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	while (l->conns) {
		struct listener_conn *c = l->conns;
		c->closing = true;
		c->why = LISTENER_CLOSE_FREE;
		c->error = 0;
		conn_destroy(c);
	}
	ev_io_stop(l->loop, &l->accept_io);
	close(l->fd);
	free(l->where);
	free(l);
}

int
listener_port(const struct listener *l)
{
	return l->port;
}

unsigned
listener_nconns(const struct listener *l)
{
	return l->nconns;
}
