/*
 * dns_probe.h - the dns-01 propagation check: asks DNS servers whether a
 * TXT record carries a value, on worker threads so the event loop never
 * waits for a DNS answer.
 *
 * Without an explicit server the zone's authoritative servers are found
 * first (CNAME followed, then NS/SOA walked up from the record name with
 * the system resolver) and every address of every one of them is asked
 * directly, without recursion: a record counts as published only when
 * all of them serve it, since the CA may ask any.
 *
 * Probes run on a workpool (workpool.h; the daemon makes one for them).
 * workpool_cancel() drops a probe's callback; a probe already running is
 * not interrupted (the resolver has no cancel), but each exchange has a
 * short timeout, so workpool_free() waits a bounded time.
 */
#ifndef CERTFLEET_DNS_PROBE_H
#define CERTFLEET_DNS_PROBE_H

#include <stdbool.h>
#include <stddef.h>

struct workpool;
struct workpool_job;

struct dns_probe_result {
	bool ok;            /* every server answered with the value */
	unsigned nservers;  /* servers asked */
	const char *detail; /* !ok: the servers without the value and what they
	                     * said, or why none could be asked; ok: who was asked */
};

/* r is valid during the call only. */
typedef void (*dns_probe_cb)(const struct dns_probe_result *r, void *arg);


/*
 * Checks once whether the TXT record name ("_acme-challenge.example.com."
 * or without the final dot) holds value.  server "ADDR[:PORT]" asks only
 * that server, with recursion desired (a test DNS server or a resolver the
 * operator trusts); NULL discovers the authoritative servers.  cb runs on
 * the loop.  Never NULL.
 */
struct workpool_job *dns_probe_submit(struct workpool *p, const char *name,
    const char *value, const char *server, dns_probe_cb cb, void *arg);

/* ---- wire format helpers (exposed for the unit tests) ---- */

/* A query for name/type with a random id into buf; its length, -1 if the
 * name does not fit or has an empty or over-long label. */
int dns_build_query(const char *name, int type, bool recursion, unsigned char *buf,
    size_t buflen, unsigned *id);

/*
 * Looks for value among the TXT records of the answer section of a
 * response (the character-strings of one record concatenated, as RFC 8555
 * section 8.4 values are).  1 found; 0 not found, with what was found in
 * err ("NXDOMAIN", "no TXT record", "2 other values"); -1 malformed or an
 * error response, reason in err.
 */
int dns_txt_match(const unsigned char *msg, size_t len, const char *value, char *err,
    size_t errlen);

#endif
