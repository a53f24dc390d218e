/*
 * testloop.h - running a test's event loop with a bound on the wait.
 */
#ifndef CERTFLEET_TESTLOOP_H
#define CERTFLEET_TESTLOOP_H

#include <stdbool.h>

#include <ev.h>

static inline void
test_loop_expired_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	*(bool *)w->data = true;
	ev_break(loop, EVBREAK_ALL);
}

/*
 * Runs loop until a callback calls ev_break(), or for limit seconds at
 * most.  true when a callback ended it, false when the time ran out.
 */
static inline bool
test_run_loop(struct ev_loop *loop, double limit)
{
	bool expired = false;
	ev_timer t;

	ev_timer_init(&t, test_loop_expired_cb, limit, 0.);
	t.data = &expired;
	ev_timer_start(loop, &t);
	ev_run(loop, 0);
	ev_timer_stop(loop, &t);
	return !expired;
}

#endif
