/*
 * progress.c - the --once progress line (see progress.h).  The counts are
 * the fleet's own (fleet_get_stats); drawing goes through log.c, which
 * owns stderr and erases the line under its lock before any log line, so
 * a line from a key generation thread never lands in the middle of it.
 */
#include <ev.h>
#include <stdio.h>

#include "fleet.h"
#include "log.h"
#include "progress.h"
#include "util.h"

struct progress {
	struct ev_loop *loop;
	struct fleet *f;
	ev_timer timer;
};

const char *
progress_format(const struct fleet_stats *s, char *buf, size_t len)
{
	snprintf(buf, len, "%lu done, %lu failed, %zu in flight, %zu queued, of %zu",
	    s->succeeded, s->failed, s->renewing, s->queued, s->total);
	return buf;
}

static void
progress_draw(struct progress *p)
{
	struct fleet_stats s;
	char line[160];

	fleet_get_stats(p->f, &s);
	log_status_show(progress_format(&s, line, sizeof(line)));
}

static void
progress_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	progress_draw(w->data);
}

struct progress *
progress_new(struct ev_loop *loop, struct fleet *f)
{
	struct progress *p = xcalloc(1, sizeof(*p));

	p->loop = loop;
	p->f = f;
	ev_timer_init(&p->timer, progress_cb, PROGRESS_INTERVAL, PROGRESS_INTERVAL);
	p->timer.data = p;
	ev_timer_start(loop, &p->timer);
	/* The timer alone must not keep a finished run's loop going. */
	ev_unref(loop);
	progress_draw(p);
	return p;
}

void
progress_free(struct progress *p)
{
	if (p == NULL)
		return;
	ev_ref(p->loop);
	ev_timer_stop(p->loop, &p->timer);
	log_status_clear();
	free(p);
}
