/*
 * http.c - libcurl's multi interface on a libev loop.
 *
 * The shape is curl's evhiperfifo example: CURLMOPT_SOCKETFUNCTION keeps
 * one ev_io per socket, CURLMOPT_TIMERFUNCTION arms one ev_timer, and
 * both watchers call curl_multi_socket_action() and then drain
 * curl_multi_info_read().  Unlike the example, libcurl is never called
 * from inside its own timer callback (we only arm the ev_timer there),
 * timeouts keep their milliseconds, and nothing exits on an error.
 * Completions run after the easy handle is removed from the multi, so a
 * callback may start or cancel requests freely.  A streaming request's
 * data is collected in libcurl's write callback and handed to on_data
 * only once curl_multi_socket_action() has returned, for the same reason.
 */
#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>
#include <openssl/ssl.h>

#include "http.h"
#include "log.h"
#include "util.h"

#ifndef CERTFLEET_VERSION
#define CERTFLEET_VERSION "dev"
#endif

#define BODY_MAX (4u << 20)
/* libcurl's buffers per request: receive (its default is 16 KB) and send
 * (64 KB, the smallest it takes is 16 KB).  ACME requests and answers are
 * a few KB, and a thousand requests held open by a slow CA each keep both:
 * the send buffer alone was half the heap of such a run (massif). */
#define RECV_BUFFER 4096L
#define SEND_BUFFER 16384L
/*
 * Transfers handed to libcurl at once by default (http_client_set_slots()
 * sets the client's own); the rest wait in our own FIFOs rather than in
 * libcurl's (CURLMOPT_MAX_HOST_CONNECTIONS): libcurl 7.88 did not always
 * wake transfers it had queued under the socket API, and they stalled
 * until their timeout.  Queued requests start their timeout only when they
 * are handed over.  Of the slots, SHORT_RESERVED_DEFAULT are kept for
 * requests not marked long_held, so that requests a server holds open
 * (a slow CA's finalize, streams) never take them all.
 */
#define SLOTS_DEFAULT 64
#define SHORT_RESERVED_DEFAULT 16
#define HTTP2_MIN_CURL 0x080600 /* libcurl 8.6.0 */
#define DEFAULT_TIMEOUT_MS 60000L
#define DEFAULT_CONNECT_TIMEOUT_MS 30000L
/* Unanswered keepalive probes before the kernel drops a stream's connection. */
#define KEEPALIVE_PROBES 3
#define RETRY_AFTER_MAX (10LL * 365 * 86400)

/* A FIFO of requests waiting for a slot, linked through qnext. */
struct queue {
	struct http_req *head, *tail;
	size_t n;
};

struct http_client {
	struct ev_loop *loop;
	CURLM *multi;
	ev_timer timer;
	struct http_req *reqs;      /* in flight */
	size_t ninflight;           /* all requests, queued or active */
	size_t nactive;             /* handed to libcurl */
	size_t nactive_long;        /* of which long_held */
	size_t slots;               /* nactive's bound */
	size_t short_reserved;      /* slots long_held requests never take */
	bool http2;
	bool default_bundle;        /* libcurl's built-in CA bundle is readable */
	struct queue q[2];          /* waiting for a slot: [0] short, [1] long */
	unsigned long long qseq;    /* arrival order across both queues */
	int running;
	bool pending;               /* some stream has data for its on_data */
};

struct sock_ctx {
	ev_io io;
	struct http_client *c;
	curl_socket_t fd;
};

struct http_req {
	struct http_client *c;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct buf resp_body;
	struct http_response resp;
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
	http_done_cb cb;
	void *arg;
	void (*on_data)(const char *data, size_t len, void *arg);
	struct buf stream;          /* on_data's data not handed over yet */
	bool active;
	bool long_held;             /* counted against the long requests' slots */
	unsigned long long qseq;    /* when it was queued, for FIFO across classes */
	struct http_req *prev, *next;
	struct http_req *qnext;
};

static void check_multi_info(struct http_client *c);

/* ---- response headers ---- */

static char *
trim_dup(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s))
		s++, n--;
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

static void
resolve_url(struct http_req *r, char **url)
{
	CURLU *u;
	char *effective = NULL, *out = NULL;

	if (strncmp(*url, "https://", 8) == 0 || strncmp(*url, "http://", 7) == 0)
		return;
	if ((u = curl_url()) == NULL)
		return;
	curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &effective);
	if (effective && curl_url_set(u, CURLUPART_URL, effective, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, *url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK) {
		free(*url);
		*url = xstrdup(out);
	}
	curl_free(out);
	curl_url_cleanup(u);
}

/* Link: <url>; rel="alternate", <url2>; rel=up */
static void
parse_link(struct http_req *r, const char *v, size_t n)
{
	const char *p = v, *end = v + n;

	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p)), *gt, *next;
		char *params, *url;
		if (lt == NULL)
			return;
		gt = memchr(lt, '>', (size_t)(end - lt));
		if (gt == NULL)
			return;
		next = memchr(gt, ',', (size_t)(end - gt));
		if (next == NULL)
			next = end;
		url = xstrndup(lt + 1, (size_t)(gt - lt - 1));
		params = xstrndup(gt + 1, (size_t)(next - gt - 1));
		for (char *q = params; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		resolve_url(r, &url);
		if (strstr(params, "rel=\"alternate\"") || strstr(params, "rel=alternate")) {
			r->resp.link_alternate = xrealloc(r->resp.link_alternate,
			    (r->resp.nlink_alternate + 2) * sizeof(char *));
			r->resp.link_alternate[r->resp.nlink_alternate++] = url;
			r->resp.link_alternate[r->resp.nlink_alternate] = NULL;
			url = NULL;
		} else if (strstr(params, "rel=\"up\"") || strstr(params, "rel=up")) {
			free(r->resp.link_up);
			r->resp.link_up = url;
			url = NULL;
		}
		free(url);
		free(params);
		p = next + 1;
	}
}

static size_t
header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_req *r = userp;
	size_t n = size * nmemb;
	char *colon = memchr(data, ':', n);
	size_t klen;
	const char *v;
	size_t vlen;
	char **slot = NULL;

	/* A new status line (redirect-free, but 100-continue) resets nothing we keep. */
	if (colon == NULL)
		return n;
	klen = (size_t)(colon - data);
	v = colon + 1;
	vlen = n - klen - 1;
#define IS(name) (klen == strlen(name) && strncasecmp(data, name, klen) == 0)
	if (IS("replay-nonce"))
		slot = &r->resp.replay_nonce;
	else if (IS("location"))
		slot = &r->resp.location;
	else if (IS("retry-after"))
		slot = &r->resp.retry_after;
	else if (IS("content-type"))
		slot = &r->resp.content_type;
	else if (IS("link"))
		parse_link(r, v, vlen);
#undef IS
	if (slot) {
		free(*slot);
		*slot = trim_dup(v, vlen);
	}
	return n;
}

static size_t
body_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_req *r = userp;
	size_t n = size * nmemb;

	if (r->on_data) {
		/* Bounded like a body: a reader that never comes back is a bug. */
		if (r->stream.len + n > BODY_MAX) {
			r->too_big = true;
			return 0;
		}
		buf_append(&r->stream, data, n);
		r->c->pending = true;
		return n;
	}
	if (r->resp_body.len + n > BODY_MAX) {
		r->too_big = true;
		return 0; /* aborts the transfer */
	}
	buf_append(&r->resp_body, data, n);
	return n;
}

/* ---- request lifecycle ---- */

static void
req_unlink(struct http_req *r)
{
	struct http_client *c = r->c;

	if (r->prev)
		r->prev->next = r->next;
	else if (c->reqs == r)
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	c->ninflight--;
}

static void
response_clear(struct http_response *resp)
{
	free(resp->error);
	free(resp->content_type);
	free(resp->location);
	free(resp->replay_nonce);
	free(resp->retry_after);
	for (size_t i = 0; i < resp->nlink_alternate; i++)
		free(resp->link_alternate[i]);
	free(resp->link_alternate);
	free(resp->link_up);
	memset(resp, 0, sizeof(*resp));
}

static void
req_free(struct http_req *r)
{
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->body);
	buf_free(&r->resp_body);
	buf_free(&r->stream);
	response_clear(&r->resp);
	free(r);
}

static void
queue_push(struct http_client *c, struct http_req *r)
{
	struct queue *q = &c->q[r->long_held];

	r->qseq = c->qseq++;
	r->qnext = NULL;
	if (q->tail)
		q->tail->qnext = r;
	else
		q->head = r;
	q->tail = r;
	q->n++;
}

static void
queue_remove(struct http_client *c, struct http_req *r)
{
	struct queue *q = &c->q[r->long_held];
	struct http_req **pp, *prev = NULL;

	for (pp = &q->head; *pp; prev = *pp, pp = &(*pp)->qnext) {
		if (*pp == r) {
			*pp = r->qnext;
			if (q->tail == r)
				q->tail = prev;
			r->qnext = NULL;
			q->n--;
			return;
		}
	}
}

/* Whether a request of that class may be handed to libcurl now, slots
 * permitting, ignoring those queued before it. */
static bool
slot_free(const struct http_client *c, bool long_held)
{
	if (c->nactive >= c->slots)
		return false;
	return !long_held || c->nactive_long < c->slots - c->short_reserved;
}

/*
 * The next request to hand over: the one queued first among those whose
 * class has a slot.  A long request waiting for the long slots does not
 * hold up the short ones queued behind it, and short ones do not overtake
 * a long one that has a slot.  NULL: none can start.
 */
static struct http_req *
queue_next(struct http_client *c)
{
	struct http_req *s = c->q[0].head, *l = c->q[1].head;

	if (l && !slot_free(c, true))
		l = NULL;
	if (s && !slot_free(c, false))
		s = NULL;
	if (s && l)
		return s->qseq < l->qseq ? s : l;
	return s ? s : l;
}

static void
slot_take(struct http_client *c, struct http_req *r)
{
	r->active = true;
	c->nactive++;
	if (r->long_held)
		c->nactive_long++;
}

static void
slot_release(struct http_client *c, struct http_req *r)
{
	r->active = false;
	c->nactive--;
	if (r->long_held)
		c->nactive_long--;
}

/* Hands queued requests to libcurl while there is room. */
static void
queue_run(struct http_client *c)
{
	struct http_req *r;

	while ((r = queue_next(c)) != NULL) {
		CURLMcode mrc;

		queue_remove(c, r);
		if ((mrc = curl_multi_add_handle(c->multi, r->easy)) != CURLM_OK) {
			/* Reported like any failed transfer, from the loop. */
			snprintf(r->errbuf, sizeof(r->errbuf), "%s", curl_multi_strerror(mrc));
			r->active = false;
			req_unlink(r);
			r->resp.error = xasprintf("cannot start request: %s", r->errbuf);
			r->resp.body = (char *)"";
			r->cb(&r->resp, r->arg);
			req_free(r);
			continue;
		}
		slot_take(c, r);
	}
}

void
http_cancel(struct http_req *r)
{
	struct http_client *c;

	if (r == NULL)
		return;
	c = r->c;
	if (r->active) {
		curl_multi_remove_handle(c->multi, r->easy);
		slot_release(c, r);
	} else {
		queue_remove(c, r);
	}
	req_unlink(r);
	req_free(r);
	queue_run(c);
}

static void
req_complete(struct http_req *r, CURLcode code)
{
	struct http_client *c = r->c;
	double t = 0;

	curl_multi_remove_handle(c->multi, r->easy);
	slot_release(c, r);
	req_unlink(r);
	curl_easy_getinfo(r->easy, CURLINFO_TOTAL_TIME, &t);
	r->resp.elapsed = t;
	if (code == CURLE_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->resp.status);
	} else {
		const char *url = NULL;
		long sent = 0;

		curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &url);
		/* Bytes of the request that went out: a request that reached the
		 * server may have been acted on even without an answer. */
		curl_easy_getinfo(r->easy, CURLINFO_REQUEST_SIZE, &sent);
		r->resp.request_sent = sent > 0;
		r->resp.status = 0;
		if (r->too_big)
			r->resp.error = xasprintf("%s: response larger than %u bytes",
			    url ? url : "?", BODY_MAX);
		else
			r->resp.error = xasprintf("%s: %s", url ? url : "?",
			    r->errbuf[0] ? r->errbuf : curl_easy_strerror(code));
	}
	r->resp.body = r->resp_body.data ? r->resp_body.data : (char *)"";
	r->resp.body_len = r->resp_body.len;
	r->cb(&r->resp, r->arg);
	req_free(r);
}

static void
check_multi_info(struct http_client *c)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		struct http_req *r = NULL;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		/* msg is invalid once the handle is removed: copy the code. */
		req_complete(r, msg->data.result);
	}
	queue_run(c);
}

/* ---- loop glue ---- */

/*
 * Hands streams their data, outside libcurl.  on_data may cancel any
 * request or start new ones, so the list is walked again from its head
 * after each call; each call empties one request's buffer.
 */
static void
deliver_streams(struct http_client *c)
{
	while (c->pending) {
		struct http_req *r;

		c->pending = false;
		for (r = c->reqs; r; r = r->next) {
			if (r->stream.len > 0)
				break;
		}
		if (r != NULL) {
			size_t n;
			char *data = buf_steal(&r->stream, &n);

			c->pending = true;
			r->on_data(data, n, r->arg);
			free(data);
		}
	}
}

static void
socket_action(struct http_client *c, curl_socket_t fd, int flags)
{
	CURLMcode rc = curl_multi_socket_action(c->multi, fd, flags, &c->running);

	if (rc != CURLM_OK)
		log_err("curl_multi_socket_action: %s", curl_multi_strerror(rc));
	/* Before the completions: a stream's last data comes before its end. */
	deliver_streams(c);
	check_multi_info(c);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_client *c = w->data;

	(void)loop;
	(void)revents;
	socket_action(c, CURL_SOCKET_TIMEOUT, 0);
}

static int
multi_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;

	(void)multi;
	ev_timer_stop(c->loop, &c->timer);
	if (timeout_ms >= 0) {
		/* 0 means "as soon as possible": never call libcurl from here. */
		ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0.);
		ev_timer_start(c->loop, &c->timer);
	}
	return 0;
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sock_ctx *s = (struct sock_ctx *)w;
	int flags = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
	    (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);

	(void)loop;
	socket_action(s->c, s->fd, flags);
}

static int
sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	struct sock_ctx *s = socketp;
	int events;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			ev_io_stop(c->loop, &s->io);
			curl_multi_assign(c->multi, fd, NULL);
			free(s);
		}
		return 0;
	}
	events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->c = c;
		s->fd = fd;
		curl_multi_assign(c->multi, fd, s);
	} else {
		ev_io_stop(c->loop, &s->io);
	}
	ev_io_init(&s->io, io_cb, fd, events);
	ev_io_start(c->loop, &s->io);
	return 0;
}

/*
 * Every TLS connection's context: OpenSSL frees a connection's 17 KB read
 * and write buffers while they are empty.  With libcurl 7.88 each request
 * held open (a slow CA's finalize) has a connection of its own, and those
 * wait with nothing to read or write.
 */
static CURLcode
ssl_ctx_cb(CURL *easy, void *ssl_ctx, void *arg)
{
	(void)easy;
	(void)arg;
	SSL_CTX_set_mode((SSL_CTX *)ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	return CURLE_OK;
}

/* A stream's connection gives up after a few unanswered probes, not
 * the kernel's default nine. */
static int
sockopt_cb(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
	int probes = KEEPALIVE_PROBES;

	(void)clientp;
	if (purpose == CURLSOCKTYPE_IPCXN)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
	return CURL_SOCKOPT_OK;
}

/* ---- public ---- */

struct http_client *
http_client_new(struct ev_loop *loop)
{
	static bool global_done;
	struct http_client *c;

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_err("curl_global_init failed");
			return NULL;
		}
		global_done = true;
	}
	c = xcalloc(1, sizeof(*c));
	c->loop = loop;
	c->slots = SLOTS_DEFAULT;
	c->short_reserved = SHORT_RESERVED_DEFAULT;
	if ((c->multi = curl_multi_init()) == NULL) {
		free(c);
		return NULL;
	}
	ev_timer_init(&c->timer, timer_cb, 0., 0.);
	c->timer.data = c;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	/*
	 * HTTP/2, multiplexed over one connection per CA, only with a libcurl
	 * whose HTTP/2 code was rewritten (8.x).  With 7.88 (Debian 12) and
	 * the socket API, streams multiplexed on a busy connection stalled
	 * until their timeout once a few hundred orders ran at once (seen in
	 * make bench); there each request in flight gets its own kept-alive
	 * HTTP/1.1 connection instead, at most one per slot.
	 */
	{
		const char *cainfo = curl_version_info(CURLVERSION_NOW)->cainfo;

		c->default_bundle = cainfo != NULL && access(cainfo, R_OK) == 0;
	}
	c->http2 = curl_version_info(CURLVERSION_NOW)->version_num >= HTTP2_MIN_CURL &&
	    (curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_HTTP2);
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING,
	    c->http2 ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
	/* No CURLMOPT_MAX_HOST_CONNECTIONS: with libcurl 7.88 transfers queued
	 * behind that limit were not always woken when a connection freed up
	 * under the socket API, and stalled until their timeout (seen with a
	 * few hundred concurrent orders).  Multiplexing keeps the number of
	 * connections small anyway. */
	curl_multi_setopt(c->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 100L);
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)SLOTS_DEFAULT);
	return c;
}

void
http_client_free(struct http_client *c)
{
	if (c == NULL)
		return;
	while (c->reqs)
		http_cancel(c->reqs);
	ev_timer_stop(c->loop, &c->timer);
	curl_multi_cleanup(c->multi);
	free(c);
}

size_t
http_inflight(const struct http_client *c)
{
	return c->ninflight;
}

int
http_client_set_slots(struct http_client *c, size_t slots, size_t short_reserved)
{
	if (slots < 2 || short_reserved < 1 || short_reserved >= slots)
		return -1;
	c->slots = slots;
	c->short_reserved = short_reserved;
	/* Idle connections kept for reuse: no more than there are slots, so
	 * the client's descriptors stay about one per slot (libcurl's default
	 * is four per transfer added). */
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)slots);
	/* More room starts queued requests now; less only stops new starts
	 * until enough of those in flight have ended. */
	queue_run(c);
	return 0;
}

void
http_client_slots(const struct http_client *c, struct http_slots *s)
{
	s->slots = c->slots;
	s->short_reserved = c->short_reserved;
	s->active = c->nactive;
	s->active_long = c->nactive_long;
	s->queued = c->q[0].n;
	s->queued_long = c->q[1].n;
}

struct http_req *
http_request(struct http_client *c, const struct http_request_opts *o, http_done_cb cb,
    void *arg)
{
	struct http_req *r = xcalloc(1, sizeof(*r));
	CURLMcode mrc;
	char *h;

	r->c = c;
	r->cb = cb;
	r->arg = arg;
	r->on_data = o->on_data;
	/* A stream holds its slot for as long as the server keeps it open. */
	r->long_held = o->long_held || o->on_data != NULL || o->timeout_ms < 0;
	if ((r->easy = curl_easy_init()) == NULL) {
		log_err("curl_easy_init failed");
		free(r);
		return NULL;
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, o->url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->http2) {
		curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
		curl_easy_setopt(r->easy, CURLOPT_PIPEWAIT, 1L);
	} else {
		curl_easy_setopt(r->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	}
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS,
	    o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS,
	    o->timeout_ms > 0 ? o->timeout_ms : o->timeout_ms < 0 ? 0L : DEFAULT_TIMEOUT_MS);
	if (o->keepalive_s > 0) {
		/* A pooled connection would not have the keepalive options. */
		curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPIDLE, o->keepalive_s);
		curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPINTVL, o->keepalive_s);
		curl_easy_setopt(r->easy, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
	}
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "certfleet/" CERTFLEET_VERSION);
	curl_easy_setopt(r->easy, CURLOPT_BUFFERSIZE, RECV_BUFFER);
	curl_easy_setopt(r->easy, CURLOPT_UPLOAD_BUFFERSIZE, SEND_BUFFER);
	curl_easy_setopt(r->easy, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
	if (o->ca_bundle)
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, o->ca_bundle);
	/*
	 * The bundle alone, without a CA directory: libcurl shares one store
	 * per multi handle (CURLOPT_CA_CACHE_TIMEOUT) only when no CApath is
	 * set, and Debian's libcurl has /etc/ssl/certs built in, so every new
	 * connection parsed the whole bundle again, a few milliseconds and a
	 * few hundred KB each with the system's 140 CAs.  A configured bundle
	 * is meant to be the only trust anyway; the system default is the
	 * same CAs as the directory (update-ca-certificates writes both).
	 */
	if (o->ca_bundle || c->default_bundle)
		curl_easy_setopt(r->easy, CURLOPT_CAPATH, NULL);
	if (o->cert)
		curl_easy_setopt(r->easy, CURLOPT_SSLCERT, o->cert);
	if (o->key)
		curl_easy_setopt(r->easy, CURLOPT_SSLKEY, o->key);
	if (o->content_type) {
		h = xasprintf("Content-Type: %s", o->content_type);
		r->headers = curl_slist_append(r->headers, h);
		free(h);
	}
	if (o->accept) {
		h = xasprintf("Accept: %s", o->accept);
		r->headers = curl_slist_append(r->headers, h);
		free(h);
	}
	if (o->header)
		r->headers = curl_slist_append(r->headers, o->header);
	for (size_t i = 0; o->headers && o->headers[i]; i++)
		r->headers = curl_slist_append(r->headers, o->headers[i]);
	/* Expect: 100-continue only adds a round trip for small JWS bodies. */
	r->headers = curl_slist_append(r->headers, "Expect:");
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	if (o->method && strcmp(o->method, "HEAD") == 0) {
		curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
	} else if (o->method && strcmp(o->method, "POST") == 0) {
		size_t blen = o->body ? o->body_len : 0;
		/* Copied by length, not as a string: the body may hold NULs. */
		r->body = xmalloc(blen + 1);
		if (blen > 0)
			memcpy(r->body, o->body, blen);
		r->body[blen] = '\0';
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)blen);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
	}
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->ninflight++;
	/* Behind those of its class already waiting: FIFO within a class. */
	if (c->q[r->long_held].head != NULL || !slot_free(c, r->long_held)) {
		queue_push(c, r);
		return r;
	}
	if ((mrc = curl_multi_add_handle(c->multi, r->easy)) != CURLM_OK) {
		log_err("%s: %s", o->url, curl_multi_strerror(mrc));
		req_unlink(r);
		req_free(r);
		return NULL;
	}
	slot_take(c, r);
	return r;
}

/* ---- Retry-After ---- */

static int
month_index(const char *m)
{
	static const char *const names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
		"aug", "sep", "oct", "nov", "dec"};

	for (int i = 0; i < 12; i++)
		if (strncasecmp(m, names[i], 3) == 0)
			return i;
	return -1;
}

static bool
parse_hms(const char *s, struct tm *tm)
{
	return sscanf(s, "%2d:%2d:%2d", &tm->tm_hour, &tm->tm_min, &tm->tm_sec) == 3 &&
	    tm->tm_hour < 24 && tm->tm_min < 60 && tm->tm_sec <= 60;
}

/* IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94
 * 08:49:37 GMT", asctime "Sun Nov  6 08:49:37 1994".  Locale-free. */
static int
parse_http_date(const char *v, time_t *out)
{
	struct tm tm = {0};
	char mon[4] = "", wday[16] = "", hms[9] = "", tz[4] = "";
	int day = 0, year = 0, n = 0;

	if (sscanf(v, "%15[A-Za-z], %2d %3s %4d %8s %3s%n", wday, &day, mon, &year, hms, tz,
	    &n) == 6 && n > 0) {
		/* IMF-fixdate */
	} else if (sscanf(v, "%15[A-Za-z], %2d-%3s-%2d %8s %3s%n", wday, &day, mon, &year, hms,
	    tz, &n) == 6 && n > 0) {
		year += year < 70 ? 2000 : 1900;
	} else if (sscanf(v, "%3s %3s %2d %8s %4d%n", wday, mon, &day, hms, &year, &n) == 5 &&
	    n > 0) {
		strcpy(tz, "GMT");
	} else {
		return -1;
	}
	/* Only blanks may follow: "19945" must not pass as 1994. */
	for (const char *q = v + n; *q; q++)
		if (*q != ' ' && *q != '\t')
			return -1;
	if (strcasecmp(tz, "GMT") != 0 && strcasecmp(tz, "UTC") != 0)
		return -1;
	if ((tm.tm_mon = month_index(mon)) < 0 || day < 1 || day > 31 || year < 1970 ||
	    !parse_hms(hms, &tm))
		return -1;
	tm.tm_mday = day;
	tm.tm_year = year - 1900;
	*out = timegm(&tm);
	return *out == (time_t)-1 ? -1 : 0;
}

int
http_parse_retry_after(const char *value, time_t now, long long *delay)
{
	const char *p;
	time_t t;

	if (value == NULL)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (*value >= '0' && *value <= '9') {
		long long d = 0;
		/* Absurd values are clamped to ten years rather than overflow. */
		for (p = value; *p >= '0' && *p <= '9'; p++)
			if (d <= RETRY_AFTER_MAX)
				d = d * 10 + (*p - '0');
		if (d > RETRY_AFTER_MAX)
			d = RETRY_AFTER_MAX;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0')
			return -1;
		*delay = d;
		return 0;
	}
	if (parse_http_date(value, &t) < 0)
		return -1;
	*delay = t > now ? (long long)(t - now) : 0;
	return 0;
}
