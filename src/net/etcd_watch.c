/*
 * etcd_watch.c - a watch over etcd's gateway: POST /v3/watch with one
 * create_request, answered by a stream that never ends by itself, one JSON
 * message per line ({"result":{...}}) in chunks of any size.
 *
 * The stream is split on newlines (etcd_splitter), never on chunk
 * boundaries: a message may arrive a byte at a time or several in one
 * chunk.  The request has no timeout (it lives as long as the watch) but
 * TCP keepalive, and "hasleader" so a member cut off from the leader ends
 * it rather than going quiet.  When it breaks it is made again, on the
 * next endpoint, after a backoff (0.5 s doubling to 30 s, jittered, back
 * to 0.5 s after a stream that stayed up), from the revision after the
 * last one seen: events, progress notifications and the "created" answer
 * of a watch from now all move that revision on, so nothing is delivered
 * twice or missed.
 *
 * User callbacks run from http.c's on_data (outside libcurl) or a timer.
 * They may free or restart the watch: the messages of one chunk are
 * copied out of the splitter first, and the watch is only marked while
 * they are delivered (freed afterwards; a restart drops the rest).
 */
#include <string.h>

#include <ev.h>

#include "etcd_internal.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define SPLIT_MAX_DEFAULT (64u << 20)
#define BACKOFF_MIN 0.5
#define BACKOFF_MAX 30.
/* A stream up this long resets the backoff. */
#define HEALTHY_S 10.
/* Idle seconds before TCP keepalive probes a stream's peer (then every
 * as many seconds, three probes). */
#define KEEPALIVE_S 5L

enum watch_state { W_IDLE, W_AUTH, W_CONNECTING, W_UP, W_COMPACTED };

struct etcd_watch {
	struct etcd_client *c;
	char *prefix;
	struct etcd_watch_cbs cbs;
	void *arg;
	long long next_rev;         /* where a new stream starts; 0: now */
	enum watch_state st;
	struct http_req *req;
	size_t ep;
	struct etcd_splitter sp;
	double backoff, up_since;
	ev_timer timer;
	int reported;               /* state() last said: -1 nothing yet, 0 down, 1 up */
	unsigned gen;               /* bumped whenever a stream is dropped */
	bool dispatching, free_pending;
	bool reauthed;
	char *token_used;
	struct etcd_watch *prev, *next;
};

/* ---- the splitter ---- */

static void
split_append(struct etcd_splitter *s, const char *data, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		s->buf = xrealloc(s->buf, cap);
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

static void
split_emit(const char *msg, size_t n, etcd_line_cb line, void *arg)
{
	if (n > 0 && msg[n - 1] == '\r')
		n--;
	if (n > 0)
		line(arg, msg, n);
}

int
etcd_splitter_feed(struct etcd_splitter *s, const char *data, size_t len, etcd_line_cb line,
    void *arg)
{
	size_t max = s->max ? s->max : SPLIT_MAX_DEFAULT;

	/* The buffer never holds a newline: only the new data is searched. */
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;

		if (s->len + n > max) {
			etcd_splitter_clear(s);
			return -1;
		}
		if (nl == NULL) {
			split_append(s, data, n);
			return 0;
		}
		if (s->len > 0) {
			size_t total;

			split_append(s, data, n);
			total = s->len;
			s->len = 0;
			split_emit(s->buf, total, line, arg);
		} else {
			split_emit(data, n, line, arg);
		}
		data += n + 1;
		len -= n + 1;
	}
	return 0;
}

void
etcd_splitter_clear(struct etcd_splitter *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
}

/* ---- the watch ---- */

static void watch_connect(struct etcd_watch *w);

bool
etcd_watch_waiting_auth(const struct etcd_watch *w)
{
	return w->st == W_AUTH;
}

struct etcd_watch *
etcd_watch_next(const struct etcd_watch *w)
{
	return w->next;
}

static void
report(struct etcd_watch *w, bool up, const char *error)
{
	if (w->reported == (up ? 1 : 0))
		return;
	w->reported = up ? 1 : 0;
	if (w->cbs.state)
		w->cbs.state(w->arg, up, error);
}

/* Drops the stream in flight, if any; messages of it still being
 * delivered are dropped too. */
static void
stream_stop(struct etcd_watch *w)
{
	w->gen++;
	http_cancel(w->req);
	w->req = NULL;
	w->sp.len = 0;
}

static void
schedule(struct etcd_watch *w, double delay)
{
	w->st = W_IDLE;
	ev_timer_stop(w->c->loop, &w->timer);
	ev_timer_set(&w->timer, delay, 0.);
	ev_timer_start(w->c->loop, &w->timer);
}

/* The stream broke (or never came up): again later, on the next endpoint.
 * Calls state() last: it may free the watch. */
static void
watch_broken(struct etcd_watch *w, const char *error)
{
	double delay;
	char *msg = xasprintf("%s: watch %s: %s", w->c->endpoints[w->ep], w->prefix, error);

	if (w->st == W_UP && ev_now(w->c->loop) - w->up_since >= HEALTHY_S)
		w->backoff = BACKOFF_MIN;
	stream_stop(w);
	delay = w->backoff * (0.9 + 0.2 * random_unit());
	w->backoff = w->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : w->backoff * 2;
	w->ep = (w->ep + 1) % w->c->nendpoints;
	schedule(w, delay);
	log_debug("etcd: %s; again in %.1f s", msg, delay);
	report(w, false, msg);
	free(msg);
}

/* The token was refused: authenticate again once, then reconnect. */
static bool
watch_reauth(struct etcd_watch *w, int code, const char *error)
{
	if (w->c->username == NULL || w->reauthed || !etcd_auth_error(code, error))
		return false;
	w->reauthed = true;
	stream_stop(w);
	etcd_drop_token(w->c, w->token_used);
	watch_connect(w);
	return true;
}

/* One message of the stream.  May free the watch (dispatch guards it). */
static void
handle_msg(struct etcd_watch *w, const char *msg, size_t len)
{
	struct etcd_watch_msg m;

	if (etcd_parse_watch_message(msg, len, &m) < 0) {
		watch_broken(w, m.error);
		goto out;
	}
	if (m.error) {
		if (!watch_reauth(w, m.code, m.error))
			watch_broken(w, m.error);
		goto out;
	}
	if (m.compact_revision > 0) {
		/* Nothing more comes from here: the caller reads and restarts. */
		stream_stop(w);
		w->st = W_COMPACTED;
		log_debug("etcd: watch %s: revision %lld compacted (oldest %lld)", w->prefix,
		    w->next_rev, m.compact_revision);
		w->cbs.compacted(w->arg, m.compact_revision);
		goto out;
	}
	if (m.canceled) {
		const char *why = m.cancel_reason && *m.cancel_reason ? m.cancel_reason :
		    "canceled by the server";
		if (!watch_reauth(w, 0, why))
			watch_broken(w, why);
		goto out;
	}
	if (m.created) {
		w->st = W_UP;
		w->up_since = ev_now(w->c->loop);
		w->reauthed = false;
		w->c->cur = w->ep;
		/* A watch from now starts after the revision it was created at. */
		if (w->next_rev == 0)
			w->next_rev = m.revision + 1;
		report(w, true, NULL);
		goto out;
	}
	if (m.nevents > 0) {
		long long last = m.events[m.nevents - 1].kv->mod_revision;
		if (last + 1 > w->next_rev)
			w->next_rev = last + 1;
		w->cbs.events(w->arg, m.events, m.nevents, m.revision);
	} else if (m.revision + 1 > w->next_rev) {
		/* A progress notification: everything up to it has been sent. */
		w->next_rev = m.revision + 1;
	}
out:
	etcd_watch_msg_clear(&m);
}

struct msgs {
	char **v;
	size_t *len;
	size_t n;
};

static void
collect(void *arg, const char *msg, size_t len)
{
	struct msgs *ms = arg;

	ms->v = xrealloc(ms->v, (ms->n + 1) * sizeof(*ms->v));
	ms->len = xrealloc(ms->len, (ms->n + 1) * sizeof(*ms->len));
	ms->v[ms->n] = xstrndup(msg, len);
	ms->len[ms->n] = len;
	ms->n++;
}

static void
watch_destroy(struct etcd_watch *w)
{
	etcd_splitter_clear(&w->sp);
	free(w->prefix);
	free_secret_str(w->token_used);
	free(w);
}

static void
watch_data(const char *data, size_t len, void *arg)
{
	struct etcd_watch *w = arg;
	struct msgs ms = {0};
	unsigned gen = w->gen;
	int rc = etcd_splitter_feed(&w->sp, data, len, collect, &ms);

	w->dispatching = true;
	for (size_t i = 0; i < ms.n; i++) {
		if (!w->free_pending && w->gen == gen)
			handle_msg(w, ms.v[i], ms.len[i]);
		free(ms.v[i]);
	}
	free(ms.v);
	free(ms.len);
	w->dispatching = false;
	if (w->free_pending) {
		watch_destroy(w);
		return;
	}
	if (rc < 0 && w->gen == gen) {
		w->dispatching = true;
		watch_broken(w, "a message longer than the splitter's limit");
		w->dispatching = false;
		if (w->free_pending)
			watch_destroy(w);
	}
}

/* The stream ended: a transport error, or an answer that was no stream
 * (its body, an error, left in the splitter without a newline). */
static void
watch_done(const struct http_response *resp, void *arg)
{
	struct etcd_watch *w = arg;
	struct etcd_watch_msg m = {0};
	char *error = NULL;

	w->req = NULL;
	if (resp->status == 0) {
		error = xstrdup(resp->error ? resp->error : "no answer");
	} else if (w->sp.len > 0 && etcd_parse_watch_message(w->sp.buf, w->sp.len, &m) == 0 &&
	    m.error) {
		if (watch_reauth(w, m.code, m.error)) {
			etcd_watch_msg_clear(&m);
			return;
		}
		error = xasprintf("%s (HTTP status %ld)", m.error, resp->status);
	} else {
		error = xasprintf("stream ended (HTTP status %ld)", resp->status);
	}
	etcd_watch_msg_clear(&m);
	w->dispatching = true;
	watch_broken(w, error);
	w->dispatching = false;
	free(error);
	if (w->free_pending)
		watch_destroy(w);
}

static void
watch_connect(struct etcd_watch *w)
{
	struct etcd_client *c = w->c;
	struct http_request_opts o;
	const char *headers[3];
	char *url, *body;

	if (c->username && c->token == NULL) {
		w->st = W_AUTH;
		etcd_auth_needed(c);
		return;
	}
	stream_stop(w);
	url = xasprintf("%s/v3/watch", c->endpoints[w->ep]);
	body = etcd_json_watch_create(w->prefix, w->next_rev);
	etcd_request_opts(c, url, headers, &o);
	o.body = body;
	o.body_len = strlen(body);
	o.timeout_ms = -1;
	o.keepalive_s = KEEPALIVE_S;
	o.on_data = watch_data;
	free_secret_str(w->token_used);
	w->token_used = xstrdup(c->token);
	w->st = W_CONNECTING;
	c->nrequests++;
	w->req = http_request(c->http, &o, watch_done, w);
	free(url);
	free(body);
	if (w->req == NULL) {
		/* Tried again from the timer, without a callback from in here. */
		schedule(w, w->backoff);
		w->backoff = w->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : w->backoff * 2;
	}
}

static void
timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct etcd_watch *w = t->data;

	(void)loop;
	(void)revents;
	if (w->st == W_IDLE)
		watch_connect(w);
}

void
etcd_watch_auth_done(struct etcd_watch *w, const char *error, bool unavailable)
{
	(void)unavailable;
	w->st = W_IDLE;
	if (error == NULL) {
		watch_connect(w);
		return;
	}
	w->dispatching = true;
	watch_broken(w, error);
	w->dispatching = false;
	if (w->free_pending)
		watch_destroy(w);
}

struct etcd_watch *
etcd_watch_new(struct etcd_client *c, const char *prefix, long long start_revision,
    const struct etcd_watch_cbs *cbs, void *arg)
{
	struct etcd_watch *w;

	if (prefix == NULL || cbs == NULL || cbs->events == NULL || cbs->compacted == NULL) {
		log_err("etcd: a watch needs a prefix and its events and compacted callbacks");
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->prefix = xstrdup(prefix);
	w->cbs = *cbs;
	w->arg = arg;
	w->next_rev = start_revision > 0 ? start_revision : 0;
	w->ep = c->cur;
	w->backoff = BACKOFF_MIN;
	w->reported = -1;
	ev_timer_init(&w->timer, timer_cb, 0., 0.);
	w->timer.data = w;
	w->next = c->watches;
	if (c->watches)
		c->watches->prev = w;
	c->watches = w;
	schedule(w, 0.);
	return w;
}

void
etcd_watch_restart(struct etcd_watch *w, long long start_revision)
{
	stream_stop(w);
	w->next_rev = start_revision > 0 ? start_revision : 0;
	w->backoff = BACKOFF_MIN;
	w->reauthed = false;
	schedule(w, 0.);
}

static void
watch_unlink(struct etcd_watch *w)
{
	struct etcd_client *c = w->c;

	if (w->prev)
		w->prev->next = w->next;
	else if (c->watches == w)
		c->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
}

void
etcd_watch_free(struct etcd_watch *w)
{
	if (w == NULL)
		return;
	stream_stop(w);
	ev_timer_stop(w->c->loop, &w->timer);
	watch_unlink(w);
	if (w->dispatching) {
		w->free_pending = true;
		return;
	}
	watch_destroy(w);
}

void
etcd_watch_free_all(struct etcd_client *c)
{
	while (c->watches)
		etcd_watch_free(c->watches);
}
