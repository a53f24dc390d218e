/*
 * fleet_metrics.h - the fleet's series in the Prometheus text format: one
 * set per certificate (expiry, schedule, readiness, failures) and the
 * fleet's counters (renewals, hook runs, orders in flight per account).
 */
#ifndef CERTFLEET_FLEET_METRICS_H
#define CERTFLEET_FLEET_METRICS_H

#include <stdbool.h>
#include <time.h>

#include "util.h"

struct fleet;
struct config_cert;
struct cert_state;

/* Appends every certfleet_certificate_* family and the fleet's counters to
 * b; now decides readiness (an expired certificate is not ready). */
void fleet_metrics_write(const struct fleet *f, struct buf *b, time_t now);

/* Whether st holds a valid certificate matching c (names, key type,
 * account; not revoked, not expired at now): certfleet_certificate_ready. */
bool fleet_metrics_ready(const struct config_cert *c, const struct cert_state *st, time_t now);

#endif
