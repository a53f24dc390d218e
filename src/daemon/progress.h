/*
 * progress.h - certfleetd --once on a terminal: one status line at the
 * bottom ("3 done, 0 failed, 2 in flight, 7 queued, of 40") redrawn in
 * place a few times a second from a timer, erased before every log line
 * (log.h's status line) and removed at the end.  The daemon creates it
 * only when stderr is a terminal, so logs to a file or a pipe stay exactly
 * their lines.
 */
#ifndef CERTFLEET_PROGRESS_H
#define CERTFLEET_PROGRESS_H

#include <stddef.h>

struct ev_loop;
struct fleet;
struct fleet_stats;

/* How often the line is redrawn, seconds. */
#define PROGRESS_INTERVAL 0.25

/* Draws the line now and starts its timer; the fleet must outlive it.
 * Never NULL; progress_free() it. */
struct progress *progress_new(struct ev_loop *loop, struct fleet *f);
/* Stops the timer and erases the line; NULL is fine. */
void progress_free(struct progress *p);

/* The line's text for s, into buf; returns buf.  Pure (tests). */
const char *progress_format(const struct fleet_stats *s, char *buf, size_t len);

#endif
