/*
 * fleet_report.h - what certfleetctl status and show print, as JSON: from
 * the running fleet (in the daemon, through the control socket) or, when
 * no daemon runs, from the inventory and the store.  Both paths build the
 * same objects with the same code, so a script sees one format.
 *
 * Per certificate (status): name, names, key_type, account, installed,
 * version, serial, not_before, not_after, seconds_left, next_renewal,
 * last_result ("ok", "failed", "never"), last_success, last_attempt,
 * failures, last_error, state ("idle", "queued", "renewing",
 * "deploy-hook", "checking-ari"; offline: "stopped", "interrupted-order"),
 * revoked, held (only when a certificate was issued but not installed:
 * {"status":"issued, not installed","serial","not_after","since"}; the
 * next attempt installs it instead of ordering).  While a certificate is in
 * flight (daemon only): phase (report_phase_text) and phase_since.  show adds the order in flight, the ARI window, the last
 * problem document and the inventory's settings.  Times are RFC 3339
 * strings (absent when unknown).
 */
#ifndef CERTFLEET_FLEET_REPORT_H
#define CERTFLEET_FLEET_REPORT_H

#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "store.h"

struct fleet;
struct json;
struct buf;

/* One certificate.  state is one of the words above; next is the next
 * renewal moment (0 unknown or none).  detail: the show form.  Caller
 * deletes. */
struct json *report_cert_json(const struct config_cert *cc, const struct cert_state *st,
    const char *state, time_t next, bool detail);

/* The words status prints for an order in p's state: "waiting for the
 * account", "ordering", "validating NAME by TYPE", "finalizing",
 * "downloading", "installing".  Into buf; returns buf. */
struct order_progress;
const char *report_phase_text(const struct order_progress *p, char *buf, size_t len);

/* The renewal moment a stopped daemon would pick on start, without its
 * random spread (so at the latest): now when the certificate must be
 * (re)issued, the CA's window start, or the lifetime rule; then no earlier
 * than the backoff after failures. */
time_t report_next_renewal(const struct config_cert *cc, const struct cert_state *st);

/* From the running fleet: {"certificates":[...],"total":..,"renewing":..,
 * "queued":..,"failing":..,"succeeded":..,"failed":..}.  Caller deletes. */
struct json *fleet_status_json(struct fleet *f);
/* The same object as text, json_print's bytes, appended to b, with the
 * members of extra (taken over; may be NULL) after the counts; no tree of
 * the whole list is ever built. */
void fleet_status_print(struct fleet *f, struct json *extra, struct buf *b);
/* show NAME from the running fleet; NULL when name is unknown. */
struct json *fleet_cert_json(struct fleet *f, const char *name);
/* Whether the fleet has a certificate called name; the names of all. */
bool fleet_cert_known(const struct fleet *f, const char *name);
void fleet_cert_names(const struct fleet *f, struct strlist *out);

/* The same from the store, read-only (no lock taken).  A state file that
 * cannot be read is reported in that certificate's "state_error".  show:
 * NULL when name is not in the inventory. */
struct json *report_offline_status(const struct config *cfg, struct store *s);
struct json *report_offline_cert(const struct config *cfg, struct store *s, const char *name);

#endif
