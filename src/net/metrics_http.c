/*
 * metrics_http.c - GET /metrics over HTTP/1.1 (see metrics_http.h).
 *
 * Prometheus sends one small GET and reads the answer; nothing else is
 * needed, so this is not a general HTTP server: the request line is read
 * up to the blank line after the headers (at most REQ_MAX bytes), the
 * reply is rendered into one buffer and handed to the listener, which
 * writes it without blocking and closes.  Keep-alive is not offered: a
 * scrape every 15 s gains nothing from it, and closing keeps the state
 * per connection to one buffer.
 */
#include <string.h>

#include "listener.h"
#include "metrics.h"
#include "metrics_http.h"
#include "util.h"

#define REQ_MAX 8192
#define CONN_MAX 16
#define IDLE_TIMEOUT 10.0       /* seconds to send the request */
#define WRITE_TIMEOUT 30.0      /* seconds a blocked reply may wait */
#define PATH "/metrics"
#define CL_DIGITS 12            /* Content-Length digits: up to 999 GB */

struct metrics_server {
	struct listener *l;
	metrics_render_cb render;
	void *arg;
	unsigned long scrapes;
	size_t last_size;           /* of the last reply: the next one's buffer */
};

static void
respond(struct listener_conn *c, int status, const char *reason, const char *extra,
    const char *body)
{
	char *out = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\nServer: certfleet\r\n\r\n%s",
	    status, reason, strlen(body), extra ? extra : "", body);

	listener_conn_send(c, out, strlen(out));
}

/* The path of target without its query string is PATH. */
static bool
is_metrics_path(const char *target)
{
	size_t n = strlen(PATH);

	return strncmp(target, PATH, n) == 0 && (target[n] == '\0' || target[n] == '?');
}

/*
 * The reply is rendered behind its own headers in one buffer, so a text of
 * several MiB is neither copied nor allocated twice: the Content-Length is
 * a fixed-width field filled in once the body's size is known, the digits
 * followed by spaces.  Trailing white space is the field line's OWS (RFC
 * 9110 5.5), which every parser strips; leading zeros would be valid too
 * (1*DIGIT), but some proxies take them for request smuggling.
 * The buffer starts at the last reply's size, sparing the reallocations.
 */
static void
serve(struct listener_conn *c, struct metrics_server *s, bool head)
{
	static const char len_field[] = "Content-Length: ";
	struct buf out = {0};
	char digits[CL_DIGITS + 1];
	size_t at, hlen, len;
	char *reply;

	out.cap = s->last_size + 4096;
	out.data = xmalloc(out.cap);
	buf_appendf(&out, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n%s", METRICS_CONTENT_TYPE,
	    len_field);
	at = out.len;
	buf_appendf(&out, "%*s\r\nConnection: close\r\nServer: certfleet\r\n\r\n", CL_DIGITS, "");
	hlen = out.len;
	s->render(&out, s->arg);
	snprintf(digits, sizeof(digits), "%-*zu", CL_DIGITS, out.len - hlen);
	memcpy(out.data + at, digits, CL_DIGITS);
	s->last_size = out.len;
	if (head)
		out.len = hlen;
	s->scrapes++;
	reply = buf_steal(&out, &len);
	listener_conn_send(c, reply, len);
}

static void
handle(struct listener_conn *c, struct metrics_server *s, const char *req)
{
	char method[16], target[1024], version[16];
	bool head;

	if (sscanf(req, "%15s %1023s %15s", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		respond(c, 400, "Bad Request", NULL, "bad request\n");
		return;
	}
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		respond(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
		    "method not allowed\n");
		return;
	}
	if (!is_metrics_path(target)) {
		respond(c, 404, "Not Found", NULL, "not found; the metrics are at " PATH "\n");
		return;
	}
	serve(c, s, head);
}

/* Complete at the blank line that ends the headers. */
static void
data_cb(struct listener_conn *c, const char *req, size_t len, void *cdata)
{
	if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) {
		handle(c, cdata, req);
		return;
	}
	if (len == REQ_MAX - 1)
		respond(c, 431, "Request Header Fields Too Large", NULL, "request too large\n");
}

static int
accept_cb(struct listener_conn *c, const struct sockaddr *sa, socklen_t salen, void *arg)
{
	(void)sa;
	(void)salen;
	listener_conn_set_data(c, arg);
	return 0;
}

static const struct listener_ops metrics_ops = {
	.name = "metrics",
	.max_conns = CONN_MAX,
	.read_max = REQ_MAX - 1,
	.timeout = IDLE_TIMEOUT,
	.timeout_on_read = true,
	.write_timeout = WRITE_TIMEOUT,
	.on_accept = accept_cb,
	.on_data = data_cb,
};

struct metrics_server *
metrics_server_new(struct ev_loop *loop, const char *listen_addr, metrics_render_cb render,
    void *arg, char *err, size_t errlen)
{
	struct metrics_server *s = xcalloc(1, sizeof(*s));

	s->render = render;
	s->arg = arg;
	if ((s->l = listener_new_tcp(loop, listen_addr, &metrics_ops, s, err, errlen)) == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void
metrics_server_free(struct metrics_server *s)
{
	if (s == NULL)
		return;
	listener_free(s->l);
	free(s);
}

int
metrics_server_port(const struct metrics_server *s)
{
	return listener_port(s->l);
}

unsigned long
metrics_server_scrapes(const struct metrics_server *s)
{
	return s->scrapes;
}
