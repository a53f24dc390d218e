/*
 * daemon_slots.h - how many HTTP transfers the daemon lets run at once, and
 * the file-descriptor limit that bounds them (issue 12: slow CAs).
 */
#ifndef CERTFLEET_DAEMON_SLOTS_H
#define CERTFLEET_DAEMON_SLOTS_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct http_client;

struct slots_plan {
	size_t orders;          /* orders in flight at most: min(global, sum of accounts) */
	size_t slots;           /* HTTP transfers at once */
	size_t short_reserved;  /* of which never taken by long-held requests */
	size_t fds_wanted;      /* descriptors the configured concurrency may use */
	bool fd_limited;        /* slots cut to fit nofile */
};

/*
 * The plan for cfg under a soft RLIMIT_NOFILE of nofile (0: unlimited):
 * one slot per order in flight (each order has at most one finalize, the
 * long request, at a time), plus a reserve kept for short requests and
 * headroom for the rest (notifier, ARI, directory).  On HTTP/1.1 each slot
 * may hold a connection, so a limit too low for that cuts the slots (the
 * rest wait in http.c's queue) rather than let connections fail with
 * EMFILE.  Pure: for the tests.
 */
void daemon_slots_plan(const struct config *cfg, unsigned long long nofile,
    struct slots_plan *p);

/* Raises RLIMIT_NOFILE's soft limit to the hard one and logs the result;
 * returns the soft limit now in force (0: unlimited). */
unsigned long long daemon_raise_nofile(void);

/* Applies the plan for cfg to c, logging the slots and warning when the
 * limit is low for the configured concurrency.  At start and on reload. */
void daemon_slots_apply(struct http_client *c, const struct config *cfg,
    unsigned long long nofile);

#endif
