/*
 * metrics.h - the Prometheus text exposition format (version 0.0.4) and a
 * small registry of labelled counters, gauges and histograms.
 *
 * Two layers.  The writer (metrics_family, metrics_sample, ...) appends
 * text to a struct buf: HELP and TYPE lines, label values escaped (\\, \"
 * and \n), numbers without printf on the common integer path, so a caller
 * formatting tens of thousands of series (one per certificate) pays for
 * copying bytes and little else.  The vectors (metrics_vec) keep series
 * that change as the daemon runs (requests to the CA, hook runs, reloads)
 * keyed by their label values; a registry writes its vectors in the order
 * they were added.  Knows nothing of certificates or ACME: the fleet and
 * the daemon name their own series.
 */
#ifndef CERTFLEET_METRICS_H
#define CERTFLEET_METRICS_H

#include <stddef.h>

#include "util.h"

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM,
	METRICS_TYPE__MAX
};
/* "counter", "gauge", "histogram" (the TYPE line's word); "?" out of range.
 * Static. */
const char *metrics_type_name(enum metrics_type t);

/* The Content-Type of the format. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- the writer ---- */

/* "# HELP name help\n# TYPE name type\n"; help is escaped (\\ and \n). */
void metrics_family(struct buf *b, const char *name, enum metrics_type t, const char *help);
/* Appends v escaped for a label value (\\ -> \\\\, " -> \", newline -> \n),
 * without the quotes. */
void metrics_escape_label(struct buf *b, const char *v);
/* Appends one label pair, key="value" (escaped), preceded by a comma when
 * first is 0. */
void metrics_label(struct buf *b, int first, const char *key, const char *value);
/* Appends a sample value: integers exactly (no exponent below 2^53), NaN,
 * +Inf, -Inf, anything else with enough digits to read back. */
void metrics_value(struct buf *b, double v);
/*
 * One sample line: name, then labels (already rendered as `a="x",b="y"`,
 * without braces; NULL or "" for none), a space, the value, a newline.
 */
void metrics_sample(struct buf *b, const char *name, const char *labels, double v);
/* The same with labels given as pairs: kv[0]=kv[1], ... (npairs pairs). */
void metrics_sample_kv(struct buf *b, const char *name, const char *const *kv, size_t npairs,
    double v);

/* ---- labelled series ---- */

struct metrics_vec;

/*
 * A family of series of one type, one series per set of label values.
 * label_names: NULL-terminated (may be empty); bounds: a histogram's
 * upper bounds, ascending, nbounds of them (+Inf is added); both copied.
 * Free with metrics_vec_free() (unless a registry owns it).
 */
struct metrics_vec *metrics_vec_new(const char *name, enum metrics_type type,
    const char *help, const char *const *label_names, const double *bounds, size_t nbounds);
void metrics_vec_free(struct metrics_vec *v);
/* values: one per label name, in order (NULL counts as "").  A counter's
 * or gauge's series gains delta; created at 0 on first use. */
void metrics_vec_add(struct metrics_vec *v, const char *const *values, double delta);
/* A gauge's series is set to x. */
void metrics_vec_set(struct metrics_vec *v, const char *const *values, double x);
/* A histogram's series counts x in its buckets, sum and count. */
void metrics_vec_observe(struct metrics_vec *v, const char *const *values, double x);
/* The value of a counter's or gauge's series (the count of a histogram's),
 * 0 when it does not exist; for tests. */
double metrics_vec_get(const struct metrics_vec *v, const char *const *values);
/* HELP, TYPE and every series, in the order they were created; a family
 * without labels and no series yet writes its one series at 0 (a counter
 * that has not counted yet still exists). */
void metrics_vec_write(const struct metrics_vec *v, struct buf *b);

struct metrics_registry;

/* Free with metrics_registry_free(), which frees the vectors too. */
struct metrics_registry *metrics_registry_new(void);
void metrics_registry_free(struct metrics_registry *r);
/* Takes v over; returns it for the caller to keep using. */
struct metrics_vec *metrics_registry_add(struct metrics_registry *r, struct metrics_vec *v);
/* Every vector, in the order added. */
void metrics_registry_write(const struct metrics_registry *r, struct buf *b);

#endif
