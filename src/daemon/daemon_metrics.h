/*
 * daemon_metrics.h - certfleetd's metrics: the series only the daemon
 * knows (requests to the CA from the ACME engine's observer, reloads,
 * build and process facts) beside the fleet's, served on metrics_listen
 * and kept in metrics_textfile.
 */
#ifndef CERTFLEET_DAEMON_METRICS_H
#define CERTFLEET_DAEMON_METRICS_H

#include <stdbool.h>

#include "acme.h"
#include "config.h"
#include "util.h"

struct ev_loop;
struct fleet;
struct daemon_metrics;

/* Counts from now on; nothing is served or written before
 * daemon_metrics_configure().  Free with daemon_metrics_free(). */
struct daemon_metrics *daemon_metrics_new(struct ev_loop *loop);
/* Writes the textfile a last time (when it changed) and closes the
 * endpoint.  NULL is fine. */
void daemon_metrics_free(struct daemon_metrics *m);
/* The fleet whose series are shown (set once it exists; NULL: none). */
void daemon_metrics_set_fleet(struct daemon_metrics *m, struct fleet *f);

/*
 * Applies cfg's metrics_listen (with serve: false in --once runs, which
 * have nobody to scrape them) and metrics_textfile.  At start (old NULL) a
 * listener that cannot be bound is an error: -1 with err.  On reload the
 * previous listener is kept, with a log line, when the new one cannot be
 * bound, and 0 is returned.
 */
int daemon_metrics_configure(struct daemon_metrics *m, const struct config *cfg,
    const struct config *old, bool serve, char *err, size_t errlen);

/* acme_env.observe: counts one request to the CA (arg: the metrics). */
void daemon_metrics_observe(const struct acme_request_event *e, void *arg);
/* A reload of the inventory ended (ok: swapped in). */
void daemon_metrics_reloaded(struct daemon_metrics *m, bool ok);

/* The whole exposition: with process: also the process_* families (the
 * endpoint has them; the textfile not, since node_exporter exports its
 * own and two of the same name break its scrape). */
void daemon_metrics_render(struct daemon_metrics *m, struct buf *b, bool process);
/* The port metrics_listen is bound to, 0 when none (tests). */
int daemon_metrics_port(const struct daemon_metrics *m);

#endif
