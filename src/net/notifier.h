/*
 * notifier.h - delivers notifications (notifier.c): a JSON body POSTed to
 * a webhook through http.c, a plain-text mail piped into a mail program
 * through hooks.c; each retried with backoff from the loop, never
 * blocking it.  What to say and when is fleet_notify.c's business; this
 * module only carries messages.
 */
#ifndef CERTFLEET_NOTIFIER_H
#define CERTFLEET_NOTIFIER_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

struct ev_loop;
struct http_client;
struct notifier;

/* One notification, in each channel's form; copied by notifier_send. */
struct notifier_msg {
	const char *event;      /* "renewal_failed", for logs and X-Certfleet-Event */
	const char *about;      /* "www", "account pebble": for logs */
	const char *subject;    /* one line, the mail's Subject */
	const char *json;       /* the webhook's body */
	const char *text;       /* the mail's body, without headers */
};

/* Where one notification goes (the fleet fills it from the inventory's
 * notify:); copied by notifier_send. */
struct notifier_target {
	const char *webhook_url;            /* NULL: no webhook */
	const char *webhook_header;         /* "Name: value", or NULL */
	const char *webhook_ca_bundle;      /* NULL: the system store */
	long long webhook_timeout;          /* seconds per attempt */
	const struct strlist *mail_argv;    /* NULL or empty: no mail */
	const struct strlist *mail_to;      /* the To: addresses */
	const char *mail_from;              /* NULL: no From: header */
};

/* Retries and limits; notifier_new sets the defaults, tests shorten them. */
struct notifier_limits {
	int attempts;           /* per message and channel, the first included (8) */
	double first_delay;     /* seconds before the first retry (2), tripled each time */
	double max_delay;       /* seconds (600) */
	size_t queue_max;       /* messages waiting or in flight (1000) */
	int inflight_max;       /* deliveries in flight at once (8) */
	double mail_timeout;    /* seconds the mail program may run (60) */
};

/* The loop and the HTTP client must outlive it.  Caller frees. */
struct notifier *notifier_new(struct ev_loop *loop, struct http_client *http);
/* Cancels what is in flight (no more retries); NULL is fine. */
void notifier_free(struct notifier *n);
struct notifier_limits *notifier_limits(struct notifier *n);

/*
 * Queues m for every channel of to (its webhook and/or its mail); nothing
 * when to has none.  A full queue drops its oldest waiting message
 * (logged).  Returns the number of deliveries queued.
 */
int notifier_send(struct notifier *n, const struct notifier_target *to,
    const struct notifier_msg *m);

/*
 * Shutdown: what waits for a retry is tried once more now, and nothing
 * failing is retried again.  true when deliveries remain: idle(arg) is
 * called from the loop once the last one ends; false when none (idle is
 * never called).
 */
bool notifier_drain(struct notifier *n, void (*idle)(void *arg), void *arg);
/* Deliveries waiting or in flight. */
size_t notifier_pending(const struct notifier *n);
/* Deliveries that succeeded / were given up, since start. */
unsigned long notifier_delivered(const struct notifier *n);
unsigned long notifier_dropped(const struct notifier *n);

#endif
