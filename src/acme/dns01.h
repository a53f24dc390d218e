/*
 * dns01.h - one dns-01 TXT record through its lifetime: the inventory's
 * hook adds it, the propagation check (dns_probe.c) polls until every
 * authoritative server serves it, and the hook removes it again, whatever
 * happened in between.
 *
 * Hook contract (also in certfleet.yaml(5)): argv, no shell,
 *   HOOK add    _acme-challenge.NAME. VALUE
 *   HOOK remove _acme-challenge.NAME. VALUE
 * with CERTFLEET_NAME (certificate), CERTFLEET_DOMAIN (the identifier,
 * "*." kept for a wildcard), CERTFLEET_DNS_ACTION, CERTFLEET_DNS_RECORD and
 * CERTFLEET_DNS_VALUE in the environment; exit status 0 means done; killed
 * after the hook timeout.  add must add the value beside any other (two
 * authorizations of one order can share the record name) and remove must
 * delete only that value.
 */
#ifndef CERTFLEET_DNS01_H
#define CERTFLEET_DNS01_H

#include <stdbool.h>

#include "util.h"

struct ev_loop;
struct workpool;
struct dns01_task;

struct dns01_opts {
	const char *cert_name;      /* for logs and CERTFLEET_NAME */
	const char *domain;         /* the identifier as ordered ("*.example.com") */
	const char *record;         /* "_acme-challenge.example.com." */
	const char *value;          /* base64url(SHA-256(key authorization)) */
	const char *hook;           /* program */
	double hook_timeout;        /* seconds */
	double propagation_timeout; /* seconds */
	double poll_interval;       /* seconds between checks; <= 0: 5 */
	const char *resolver;       /* "ADDR[:PORT]" to ask instead of the
	                             * authoritative servers, or NULL */
};

/* ok=false: error is one line naming the record and what failed. */
typedef void (*dns01_done_cb)(bool ok, const char *error, void *arg);

/*
 * Runs "HOOK add", then checks propagation every poll_interval until the
 * value is visible everywhere (cb with ok) or propagation_timeout passes
 * (cb with the servers that still lack it).  cb runs once, on the loop,
 * never from inside this call.  Strings are copied.  Always ends with
 * dns01_unpublish(), also after a failure.
 */
struct dns01_task *dns01_publish(struct ev_loop *loop, struct workpool *probes,
    const struct dns01_opts *o, dns01_done_cb cb, void *arg);

/*
 * Stops checking and runs "HOOK remove" (after "add" has finished if it
 * is still running).  The callback is not called any more; the task frees
 * itself when remove is done.  NULL is fine.
 */
void dns01_unpublish(struct dns01_task *t);

/* Tasks still alive (adding, checking, published or removing). */
unsigned dns01_pending(void);

/*
 * At shutdown: unpublished records still being removed get up to max_wait
 * seconds of loop time to finish, so no TXT record is left behind.
 */
void dns01_drain(struct ev_loop *loop, double max_wait);

/* "_acme-challenge.NAME." for an identifier ("*." dropped). Caller frees. */
char *dns01_record_name(const char *identifier);

/* The hook's argv: HOOK ACTION RECORD VALUE. */
void dns01_hook_argv(const char *hook, const char *action, const char *record,
    const char *value, struct strlist *argv);

#endif
