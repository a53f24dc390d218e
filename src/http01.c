/*
 * http01.c - http-01 responses: a tiny HTTP/1.x responder on the event
 * loop serving key authorizations from memory, and webroot files.
 *
 * The responder only ever answers GET/HEAD for
 * /.well-known/acme-challenge/TOKEN; everything else gets a 404 (or 400
 * for garbage).  Every connection has a small buffer, an idle timeout and
 * non-blocking reads and writes, and the number of connections is capped,
 * so a slow or hostile client cannot stall the loop or eat memory.
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
#include "netaddr.h"
#include "util.h"

#define REQ_MAX 8192
#define CONN_MAX 256
#define IDLE_TIMEOUT 10.0
#define PREFIX "/.well-known/acme-challenge/"

struct token {
	char *token;
	char *keyauth;
	struct token *next;
};

struct conn {
	struct http01_server *s;
	int fd;
	ev_io io;
	ev_timer idle;
	char req[REQ_MAX];
	size_t reqlen;
	char *out;
	size_t outlen, outoff;
	struct conn *prev, *next;
};

struct http01_server {
	struct ev_loop *loop;
	int fd;
	int port;
	ev_io accept_io;
	struct token *tokens;
	struct conn *conns;
	unsigned nconns;
	unsigned long hits;
};

static bool
token_valid(const char *t)
{
	if (t == NULL || *t == '\0' || strlen(t) > 256)
		return false;
	for (; *t; t++)
		if (!((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') ||
		    (*t >= '0' && *t <= '9') || *t == '-' || *t == '_'))
			return false;
	return true;
}

/* ---- connections ---- */

static void
conn_close(struct conn *c)
{
	struct http01_server *s = c->s;

	ev_io_stop(s->loop, &c->io);
	ev_timer_stop(s->loop, &c->idle);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	free(c->out);
	free(c);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);

static void
conn_respond(struct conn *c, int status, const char *reason, const char *body, bool head)
{
	size_t blen = body ? strlen(body) : 0;

	c->out = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\nServer: certfleet\r\n\r\n%s",
	    status, reason, blen, head || !body ? "" : body);
	c->outlen = strlen(c->out);
	c->outoff = 0;
	ev_io_stop(c->s->loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_io_start(c->s->loop, &c->io);
}

static const char *
lookup(struct http01_server *s, const char *token)
{
	for (struct token *t = s->tokens; t; t = t->next)
		if (strcmp(t->token, token) == 0)
			return t->keyauth;
	return NULL;
}

static void
conn_handle_request(struct conn *c)
{
	char method[8], target[1024], version[16];
	const char *ka;
	bool head;

	if (sscanf(c->req, "%7s %1023s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		conn_respond(c, 400, "Bad Request", "bad request\n", false);
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		conn_respond(c, 405, "Method Not Allowed", "method not allowed\n", false);
		return;
	}
	if (strncmp(target, PREFIX, strlen(PREFIX)) != 0 ||
	    !token_valid(target + strlen(PREFIX)) ||
	    (ka = lookup(c->s, target + strlen(PREFIX))) == NULL) {
		log_debug("http-01 responder: 404 for %s", target);
		conn_respond(c, 404, "Not Found", "not found\n", head);
		return;
	}
	c->s->hits++;
	log_debug("http-01 responder: served token %s", target + strlen(PREFIX));
	conn_respond(c, 200, "OK", ka, head);
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	ssize_t n;

	(void)loop;
	if (revents & EV_WRITE) {
		n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->outoff += (size_t)n;
		if (c->outoff == c->outlen) {
			shutdown(c->fd, SHUT_WR);
			conn_close(c);
		}
		return;
	}
	n = read(c->fd, c->req + c->reqlen, sizeof(c->req) - 1 - c->reqlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->reqlen += (size_t)n;
	c->req[c->reqlen] = '\0';
	ev_timer_again(c->s->loop, &c->idle);
	/* The request line and headers are complete at the blank line. */
	if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
		conn_handle_request(c);
		return;
	}
	if (c->reqlen == sizeof(c->req) - 1)
		conn_respond(c, 400, "Bad Request", "request too large\n", false);
}

static void
conn_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_close(w->data);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http01_server *s = w->data;
	struct conn *c;
	int fd;

	(void)revents;
	for (;;) {
		fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("http-01 responder: accept: %s", strerror(errno));
			return;
		}
		if (s->nconns >= CONN_MAX) {
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->s = s;
		c->fd = fd;
		ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
		c->io.data = c;
		ev_init(&c->idle, conn_idle_cb);
		c->idle.repeat = IDLE_TIMEOUT;
		c->idle.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_again(loop, &c->idle);
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
	}
}

/* ---- server ---- */

struct http01_server *
http01_server_new(struct ev_loop *loop, const char *listen_addr, char *err, size_t errlen)
{
	struct http01_server *s;
	int fd, port;

	if ((fd = netaddr_listen(listen_addr, &port, err, errlen)) < 0)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->fd = fd;
	s->port = port;
	ev_io_init(&s->accept_io, accept_cb, fd, EV_READ);
	s->accept_io.data = s;
	ev_io_start(loop, &s->accept_io);
	return s;
}

void
http01_server_free(struct http01_server *s)
{
	if (s == NULL)
		return;
	while (s->conns)
		conn_close(s->conns);
	ev_io_stop(s->loop, &s->accept_io);
	close(s->fd);
	while (s->tokens) {
		struct token *t = s->tokens;
		s->tokens = t->next;
		free(t->token);
		free(t->keyauth);
		free(t);
	}
	free(s);
}

int
http01_server_port(const struct http01_server *s)
{
	return s->port;
}

int
http01_server_add(struct http01_server *s, const char *token, const char *keyauth)
{
	struct token *t;

	if (!token_valid(token) || keyauth == NULL)
		return -1;
	for (t = s->tokens; t; t = t->next) {
		if (strcmp(t->token, token) == 0) {
			free(t->keyauth);
			t->keyauth = xstrdup(keyauth);
			return 0;
		}
	}
	t = xcalloc(1, sizeof(*t));
	t->token = xstrdup(token);
	t->keyauth = xstrdup(keyauth);
	t->next = s->tokens;
	s->tokens = t;
	return 0;
}

void
http01_server_remove(struct http01_server *s, const char *token)
{
	for (struct token **pp = &s->tokens; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->token, token) == 0) {
			struct token *t = *pp;
			*pp = t->next;
			free(t->token);
			free(t->keyauth);
			free(t);
			return;
		}
	}
}

unsigned long
http01_server_hits(const struct http01_server *s)
{
	return s->hits;
}

/* ---- webroot ---- */

/*
 * mkdir -p where each directory we create gets exactly 0755 whatever the
 * umask (root's is often 027 or 077 on hardened hosts, and the web server
 * must traverse them); directories that exist keep their mode.
 */
static int
mkdir_public(const char *path)
{
	char *p = xstrdup(path), *q;
	struct stat st;
	int rc = -1, e;

	if (*p == '\0') {
		errno = ENOENT;
		goto out;
	}
	for (q = p + 1; ; q++) {
		char c = *q;
		if (c != '/' && c != '\0')
			continue;
		*q = '\0';
		if (mkdir(p, 0755) == 0) {
			if (chmod(p, 0755) < 0)
				goto out;
		} else if (errno != EEXIST) {
			goto out;
		}
		*q = c;
		if (c == '\0')
			break;
	}
	if (stat(path, &st) < 0)
		goto out;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto out;
	}
	rc = 0;
out:
	e = errno;
	free(p);
	errno = e;
	return rc;
}

int
http01_webroot_publish(const char *docroot, const char *token, const char *keyauth,
    char *err, size_t errlen)
{
	char *dir, *path;
	int rc;

	if (!token_valid(token)) {
		snprintf(err, errlen, "refusing unsafe token '%s'", token);
		return -1;
	}
	dir = xasprintf("%s/.well-known/acme-challenge", docroot);
	if (mkdir_public(dir) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	path = xasprintf("%s/%s", dir, token);
	/* Lives for one validation: whole when seen, no need to survive a crash. */
	rc = atomic_write_file_ex(path, keyauth, strlen(keyauth), 0644, (uid_t)-1, (gid_t)-1,
	    AW_NO_FSYNC, err, errlen);
	free(path);
	free(dir);
	return rc;
}

void
http01_webroot_remove(const char *docroot, const char *token)
{
	char *path;

	if (!token_valid(token))
		return;
	path = xasprintf("%s/.well-known/acme-challenge/%s", docroot, token);
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
	free(path);
}
