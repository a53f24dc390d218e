/*
 * fleet_notify.h - what the fleet tells the operator, and when
 * (fleet_notify.c): the events, the per-certificate state machine that
 * turns a certificate's state into notices, and the messages.
 */
#ifndef CERTFLEET_FLEET_NOTIFY_H
#define CERTFLEET_FLEET_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "store.h"

enum fleet_event {
	FLEET_EVENT_RENEWAL_FAILED,     /* after_failures consecutive failures */
	FLEET_EVENT_EXPIRING,           /* within warn_before of notAfter */
	FLEET_EVENT_RECOVERED,          /* renewed after one of the two above */
	FLEET_EVENT_REVOKED,            /* certfleetctl revoke went through */
	FLEET_EVENT_ACCOUNT_DEACTIVATED,
	FLEET_EVENT_RELOAD_REJECTED,    /* the running inventory was kept */
	FLEET_EVENT__MAX
};
/* "renewal_failed", "expiring", ... as the webhook's "event" says. */
const char *fleet_event_name(enum fleet_event e);

/* Seconds between reminders while a danger lasts. */
#define FLEET_NOTIFY_REMINDER (24 * 3600)

/* One notice the state calls for. */
struct fleet_notice {
	enum fleet_event event;
	bool reminder;              /* the daily reminder of a danger told before */
};

/* The moment st's installed certificate enters p's warn_before window, or
 * 0 when none is installed. */
time_t fleet_notify_warn_at(const struct config_notify *p, const struct cert_state *st);

/*
 * The state machine: what st calls for at now (at most 3 notices, in
 * out), with st's notified_* marks updated to say they were told.  One
 * notice per change of state: renewal_failed once failures reach
 * after_failures, expiring once the installed certificate is within
 * warn_before of its end, recovered once neither holds after one was
 * told (a success: failures back to 0, a new certificate), and while a
 * danger lasts one reminder every FLEET_NOTIFY_REMINDER.  Calling it
 * again at once returns 0.  Returns the number of notices.
 */
size_t fleet_notify_eval(const struct config_notify *p, struct cert_state *st, time_t now,
    struct fleet_notice out[3]);

/* The webhook's JSON for a certificate event (fleet_notify.c's format,
 * documented in certfleetd(8)); caller frees (free()). */
char *fleet_notify_cert_json(enum fleet_event e, bool reminder, const char *name,
    const struct config_cert *cc, const struct cert_state *st, const char *host,
    time_t now);

#endif
