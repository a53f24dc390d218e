/*
 * http.h - asynchronous HTTP client: libcurl's multi interface driven by a
 * libev loop (io watcher per socket, one timer).  Knows nothing of ACME.
 *
 * Connections are reused and HTTP/2 multiplexed where the server offers it.
 * A completion callback runs once per request, on the loop, never from
 * inside http_request() itself.
 */
#ifndef CERTFLEET_HTTP_H
#define CERTFLEET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct ev_loop;
struct http_client;
struct http_req;

struct http_response {
	long status;            /* 0 when the transfer failed (see error) */
	char *error;            /* transport error text, NULL on success */
	char *body;             /* NUL-terminated, may contain NULs before body_len */
	size_t body_len;
	char *content_type;     /* header values, NULL when absent */
	char *location;
	char *replay_nonce;
	char *retry_after;
	char **link_alternate;  /* Link: <...>;rel="alternate" targets, NULL-terminated */
	size_t nlink_alternate;
	char *link_up;          /* Link: <...>;rel="up" */
	double elapsed;         /* seconds */
	bool request_sent;      /* status 0: the request (or part of it) reached the
	                         * server, which may have acted on it */
};

struct http_request_opts {
	const char *method;       /* "GET", "HEAD", "POST" */
	const char *url;
	const char *body;         /* POST body, may be NULL */
	size_t body_len;
	const char *content_type; /* e.g. "application/jose+json" */
	const char *accept;       /* NULL: curl's default */
	const char *header;       /* one more "Name: value" line (a webhook's secret),
	                           * or NULL */
	const char *const *headers; /* more such lines, NULL-terminated, or NULL */
	const char *ca_bundle;    /* NULL: system store; TLS is always verified */
	const char *cert, *key;   /* TLS client certificate and its key (PEM files),
	                           * or NULL */
	long timeout_ms;          /* whole transfer; 0: 60 s; < 0: none (a stream) */
	long connect_timeout_ms;  /* 0: 30 s */
	long keepalive_s;         /* > 0: a connection of its own with TCP keepalive
	                           * probes after that many idle seconds, so a dead
	                           * peer ends a long-lived stream; 0: none */
	/*
	 * A streaming response: the body is handed to on_data (with the
	 * callback's arg) piece by piece as it arrives and is not accumulated;
	 * the completion then carries an empty body.  on_data runs on the loop
	 * outside libcurl, so it may start or cancel requests, this one too.
	 * A stream holds one of the client's long slots (see long_held) while
	 * it runs.  NULL: the whole body comes with the completion.
	 */
	void (*on_data)(const char *data, size_t len, void *arg);
	/*
	 * The server may hold this request open long before it answers (a
	 * slow CA's finalize): it only takes the slots not kept for short
	 * requests (http_client_set_slots), and waits in the queue when those
	 * are full, so that a wall of such requests never delays the short
	 * ones (polls, nonces).  Streams (on_data, or timeout_ms < 0) count as
	 * long whatever this says.
	 */
	bool long_held;
};

/* The response belongs to the client: valid during the callback only. */
typedef void (*http_done_cb)(const struct http_response *resp, void *arg);

struct http_client *http_client_new(struct ev_loop *loop);
/* Cancels every request in flight without calling their callbacks. */
void http_client_free(struct http_client *c);

/* Starts a request.  Returns a handle usable with http_cancel() until the
 * callback runs, or NULL on immediate failure (logged; no callback). */
struct http_req *http_request(struct http_client *c, const struct http_request_opts *o,
    http_done_cb cb, void *arg);
/* Aborts a request; its callback is not called. */
void http_cancel(struct http_req *r);
/* Requests in flight. */
size_t http_inflight(const struct http_client *c);

/*
 * Transfers handed to libcurl at once (each may hold a connection, so a
 * file descriptor, on HTTP/1.1), of which short_reserved are kept for
 * requests not marked long_held; the others wait in the client's queue,
 * first come first served within what their class may take.  The default
 * is 64 with 16 kept.  Takes effect at once: more slots start queued
 * requests (their callbacks may run inside this call only if libcurl
 * refuses a handle), fewer let those in flight finish.  -1 when slots < 2
 * or short_reserved is not in [1, slots - 1] (nothing changed).
 */
int http_client_set_slots(struct http_client *c, size_t slots, size_t short_reserved);

struct http_slots {
	size_t slots, short_reserved;   /* as set */
	size_t active, active_long;     /* handed to libcurl, of which long */
	size_t queued, queued_long;     /* waiting: short, long */
};
void http_client_slots(const struct http_client *c, struct http_slots *s);

/*
 * Parses a Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate,
 * RFC 850 and asctime forms).  Stores the delay from now in seconds
 * (never negative) and returns 0, or -1 when unparseable.
 */
int http_parse_retry_after(const char *value, time_t now, long long *delay);

#endif
