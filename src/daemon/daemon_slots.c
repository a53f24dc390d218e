/*
 * daemon_slots.c - sizes http.c's transfer slots from the configured
 * concurrency (global and per-account max_inflight) and keeps them within
 * the process's file-descriptor limit.
 *
 * Why: with a fixed 64 slots, 100 orders on a CA that holds finalize for
 * 50 s had their authorization polls queued behind 64 hanging finalizes.
 * Each order has at most one finalize in flight, so one slot per order plus
 * a reserve that long-held requests never take keeps every poll moving.
 * On HTTP/1.1 (libcurl before 8.6, see http.c) every slot may hold its own
 * connection, i.e. a descriptor, so the limit is raised at start to the
 * hard one and, if still short, the slots are cut to fit with a warning.
 */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "daemon_slots.h"
#include "http.h"
#include "log.h"

/* Slots for what is not an order's own request: notifier deliveries
 * (8 by default), ARI and directory GETs, revocations. */
#define HEADROOM 32
/* Descriptors besides HTTP connections: the http-01 responder's
 * connections (1,024 at most, http01.c) and tls-alpn-01's (256), listeners,
 * control and metrics connections, the store, journald, worker pipes. */
#define FDS_OTHER 1408
#define SLOTS_MIN 8

void
daemon_slots_plan(const struct config *cfg, unsigned long long nofile,
    struct slots_plan *p)
{
	size_t sum = 0, room, other;

	for (size_t i = 0; i < cfg->naccounts; i++)
		sum += (size_t)cfg->accounts[i].max_inflight;
	p->orders = (size_t)cfg->max_inflight < sum ? (size_t)cfg->max_inflight : sum;
	/* An eighth kept for short requests, never fewer than 16. */
	p->short_reserved = p->orders / 8 > 16 ? p->orders / 8 : 16;
	p->slots = p->orders + p->short_reserved + HEADROOM;
	p->fds_wanted = p->slots + FDS_OTHER;
	p->fd_limited = false;
	if (nofile == 0 || nofile >= p->fds_wanted)
		return;
	/* FDS_OTHER is the worst case (every responder connection taken):
	 * under a small limit, half of it goes to the HTTP slots anyway. */
	other = FDS_OTHER < nofile / 2 ? FDS_OTHER : (size_t)(nofile / 2);
	room = nofile > other + SLOTS_MIN ? (size_t)nofile - other : SLOTS_MIN;
	/* Short of the worst case only: the slots planned still fit. */
	if (room >= p->slots)
		return;
	p->fd_limited = true;
	p->slots = room;
	/* Keep a quarter for short requests when the slots are scarce. */
	p->short_reserved = p->slots / 4 > p->short_reserved ? p->short_reserved :
	    p->slots / 4 > 0 ? p->slots / 4 : 1;
}

unsigned long long
daemon_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return 0;
	}
	was = rl.rlim_cur;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_warn("cannot raise RLIMIT_NOFILE from %llu to %llu: %s",
			    (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
			rl.rlim_cur = was;
		} else {
			log_info("RLIMIT_NOFILE: soft limit raised from %llu to the hard limit %llu",
			    (unsigned long long)was, (unsigned long long)rl.rlim_cur);
		}
	} else {
		log_info("RLIMIT_NOFILE: %llu (soft = hard)", (unsigned long long)rl.rlim_cur);
	}
	return rl.rlim_cur == RLIM_INFINITY ? 0 : (unsigned long long)rl.rlim_cur;
}

void
daemon_slots_apply(struct http_client *c, const struct config *cfg,
    unsigned long long nofile)
{
	struct slots_plan p;

	daemon_slots_plan(cfg, nofile, &p);
	if (p.fd_limited)
		log_warn("RLIMIT_NOFILE %llu is low for %zu orders in flight (about %zu "
		    "descriptors wanted): HTTP requests limited to %zu at once, the rest wait; "
		    "raise the hard limit (LimitNOFILE=) or lower max_inflight",
		    nofile, p.orders, p.fds_wanted, p.slots);
	if (http_client_set_slots(c, p.slots, p.short_reserved) < 0) {
		log_err("cannot set %zu HTTP slots (%zu kept for short requests)", p.slots,
		    p.short_reserved);
		return;
	}
	log_info("HTTP: %zu requests at once for %zu orders in flight, %zu of them kept "
	    "for short requests", p.slots, p.orders, p.short_reserved);
}
