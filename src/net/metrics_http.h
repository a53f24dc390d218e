/*
 * metrics_http.h - the /metrics endpoint: a minimal HTTP/1.1 server on the
 * event loop (listener.c) that answers GET /metrics with whatever its
 * owner renders.  Knows nothing of what the text says.
 */
#ifndef CERTFLEET_METRICS_HTTP_H
#define CERTFLEET_METRICS_HTTP_H

#include "util.h"

struct ev_loop;
struct metrics_server;

/* Appends the exposition text to b (which already holds the reply's
 * headers: append only); called once per scrape, on the loop. */
typedef void (*metrics_render_cb)(struct buf *b, void *arg);

/*
 * Listens on "ADDR:PORT" (bound at once) and serves GET and HEAD of
 * /metrics (a query string is ignored) with Content-Type text/plain;
 * version=0.0.4; other paths get 404, other methods 405, requests larger
 * than 8 KiB 431, garbage 400.  One request per connection (Connection:
 * close), an idle timeout, replies written without blocking.  NULL with
 * a one-line err.  Free with metrics_server_free().
 */
struct metrics_server *metrics_server_new(struct ev_loop *loop, const char *listen_addr,
    metrics_render_cb render, void *arg, char *err, size_t errlen);
void metrics_server_free(struct metrics_server *s);
/* The bound port (useful with port 0). */
int metrics_server_port(const struct metrics_server *s);
/* Scrapes answered with 200. */
unsigned long metrics_server_scrapes(const struct metrics_server *s);

#endif
