/*
 * http01.c - http-01 responses: a tiny HTTP/1.x responder on the event
 * loop serving key authorizations from memory, and webroot files.
 *
 * The responder only ever answers GET/HEAD for
 * /.well-known/acme-challenge/TOKEN; everything else gets a 404 (or 400
 * for garbage).  Every connection has a small buffer, an idle timeout and
 * non-blocking reads and writes, and the number of connections is capped,
 * so a slow or hostile client cannot stall the loop or eat memory; the
 * listener module (listener.c) does all of that, this file only speaks HTTP.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "http01.h"
#include "listener.h"
#include "log.h"
#include "util.h"

#define REQ_MAX 8192
/* A CA validates every order in flight at once (1,000 of them in make
 * bench's slowca part): at 256, Pebble's fetches beyond it were closed
 * unanswered and those authorizations went invalid. */
#define CONN_MAX 1024
#define IDLE_TIMEOUT 10.0
#define PREFIX "/.well-known/acme-challenge/"

struct token {
	char *token;
	char *keyauth;
	struct token *next;
};

struct http01_server {
	struct listener *l;
	struct token *tokens;
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
conn_respond(struct listener_conn *c, int status, const char *reason, const char *body,
    bool head)
{
	size_t blen = body ? strlen(body) : 0;
	char *out;

	out = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\nServer: certfleet\r\n\r\n%s",
	    status, reason, blen, head || !body ? "" : body);
	listener_conn_send(c, out, strlen(out));
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
conn_handle_request(struct listener_conn *c, struct http01_server *s, const char *req)
{
	char method[8], target[1024], version[16];
	const char *ka;
	bool head;

	if (sscanf(req, "%7s %1023s %15s", method, target, version) != 3 ||
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
	    (ka = lookup(s, target + strlen(PREFIX))) == NULL) {
		log_debug("http-01 responder: 404 for %s", target);
		conn_respond(c, 404, "Not Found", "not found\n", head);
		return;
	}
	s->hits++;
	log_debug("http-01 responder: served token %s", target + strlen(PREFIX));
	conn_respond(c, 200, "OK", ka, head);
}

/* The request line and headers are complete at the blank line. */
static void
conn_data_cb(struct listener_conn *c, const char *req, size_t len, void *cdata)
{
	if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) {
		conn_handle_request(c, cdata, req);
		return;
	}
	if (len == REQ_MAX - 1)
		conn_respond(c, 400, "Bad Request", "request too large\n", false);
}

static int
conn_accept_cb(struct listener_conn *c, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	(void)sa;
	(void)salen;
	listener_conn_set_data(c, arg);
	return 0;
}

/* An idle timeout that every read restarts; the reply is written within
 * what is left of it. */
static const struct listener_ops responder_ops = {
	.name = "http-01 responder",
	.max_conns = CONN_MAX,
	.read_max = REQ_MAX - 1,
	.timeout = IDLE_TIMEOUT,
	.timeout_on_read = true,
	.on_accept = conn_accept_cb,
	.on_data = conn_data_cb,
};

/* ---- server ---- */

struct http01_server *
http01_server_new(struct ev_loop *loop, const char *listen_addr, char *err, size_t errlen)
{
	struct http01_server *s = xcalloc(1, sizeof(*s));

	if ((s->l = listener_new_tcp(loop, listen_addr, &responder_ops, s, err, errlen)) == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void
http01_server_free(struct http01_server *s)
{
	if (s == NULL)
		return;
	listener_free(s->l);
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
	return listener_port(s->l);
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
