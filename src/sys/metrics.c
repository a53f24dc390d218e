/*
 * metrics.c - Prometheus text exposition 0.0.4: the writer and the
 * labelled series behind the daemon's own counters (see metrics.h).
 *
 * The writer is on the scrape path for every certificate, so it avoids
 * printf where it can: label values are copied in runs between the three
 * characters that need escaping, and integral values (timestamps, counts,
 * which is nearly everything here) are converted by hand.  A vector finds
 * its series by the rendered label string; the daemon has a few dozen of
 * them (accounts x endpoints x status codes), so a linear search is the
 * simple and sufficient choice.
 */
#include <math.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

static const char *const type_names[METRICS_TYPE__MAX] = {
	[METRICS_COUNTER] = "counter",
	[METRICS_GAUGE] = "gauge",
	[METRICS_HISTOGRAM] = "histogram",
};

const char *
metrics_type_name(enum metrics_type t)
{
	return (unsigned)t < METRICS_TYPE__MAX ? type_names[t] : "?";
}

/* ---- the writer ---- */

static void
put(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

/* HELP text escapes backslash and newline (not quotes). */
static void
escape_help(struct buf *b, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		if (*s != '\\' && *s != '\n')
			continue;
		buf_append(b, run, (size_t)(s - run));
		put(b, *s == '\\' ? "\\\\" : "\\n");
		run = s + 1;
	}
	buf_append(b, run, (size_t)(s - run));
}

void
metrics_family(struct buf *b, const char *name, enum metrics_type t, const char *help)
{
	put(b, "# HELP ");
	put(b, name);
	buf_append(b, " ", 1);
	escape_help(b, help ? help : "");
	put(b, "\n# TYPE ");
	put(b, name);
	buf_append(b, " ", 1);
	put(b, metrics_type_name(t));
	buf_append(b, "\n", 1);
}

void
metrics_escape_label(struct buf *b, const char *v)
{
	const char *run, *s;

	if (v == NULL)
		return;
	for (run = s = v; *s; s++) {
		const char *rep;

		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '"')
			rep = "\\\"";
		else if (*s == '\n')
			rep = "\\n";
		else
			continue;
		buf_append(b, run, (size_t)(s - run));
		buf_append(b, rep, 2);
		run = s + 1;
	}
	buf_append(b, run, (size_t)(s - run));
}

void
metrics_label(struct buf *b, int first, const char *key, const char *value)
{
	if (!first)
		buf_append(b, ",", 1);
	put(b, key);
	buf_append(b, "=\"", 2);
	metrics_escape_label(b, value);
	buf_append(b, "\"", 1);
}

/* v as text into dst (at least 32 bytes); returns its length. */
static size_t
value_format(char *dst, double v)
{
	if (isnan(v)) {
		memcpy(dst, "NaN", 3);
		return 3;
	}
	if (isinf(v)) {
		memcpy(dst, v > 0 ? "+Inf" : "-Inf", 4);
		return 4;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		/* Exact below 2^53: what timestamps and counts are. */
		long long n = (long long)v;
		unsigned long long u = n < 0 ? 0ULL - (unsigned long long)n :
		    (unsigned long long)n;
		char tmp[24], *p = tmp + sizeof(tmp);
		size_t len;

		do {
			*--p = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (n < 0)
			*--p = '-';
		len = (size_t)(tmp + sizeof(tmp) - p);
		memcpy(dst, p, len);
		return len;
	}
	/* 15 significant digits: reads back as written for the durations and
	 * sums we produce, without 0.1's tail of 17. */
	return (size_t)snprintf(dst, 32, "%.15g", v);
}

void
metrics_value(struct buf *b, double v)
{
	char tmp[32];

	buf_append(b, tmp, value_format(tmp, v));
}

void
metrics_sample(struct buf *b, const char *name, const char *labels, double v)
{
	size_t nlen = strlen(name), llen = labels ? strlen(labels) : 0;
	char line[512], *p = line;

	if (nlen + llen + 36 > sizeof(line)) {
		put(b, name);
		if (llen > 0) {
			buf_append(b, "{", 1);
			buf_append(b, labels, llen);
			buf_append(b, "}", 1);
		}
		buf_append(b, " ", 1);
		metrics_value(b, v);
		buf_append(b, "\n", 1);
		return;
	}
	/* The common case, one copy into b per line: a scrape of a large
	 * fleet is tens of thousands of these. */
	memcpy(p, name, nlen);
	p += nlen;
	if (llen > 0) {
		*p++ = '{';
		memcpy(p, labels, llen);
		p += llen;
		*p++ = '}';
	}
	*p++ = ' ';
	p += value_format(p, v);
	*p++ = '\n';
	buf_append(b, line, (size_t)(p - line));
}

void
metrics_sample_kv(struct buf *b, const char *name, const char *const *kv, size_t npairs,
    double v)
{
	put(b, name);
	if (npairs > 0) {
		buf_append(b, "{", 1);
		for (size_t i = 0; i < npairs; i++)
			metrics_label(b, i == 0, kv[2 * i], kv[2 * i + 1]);
		buf_append(b, "}", 1);
	}
	buf_append(b, " ", 1);
	metrics_value(b, v);
	buf_append(b, "\n", 1);
}

/* ---- labelled series ---- */

struct series {
	char *labels;               /* rendered, without braces */
	double value;               /* counter, gauge */
	unsigned long long *buckets; /* histogram: nbounds + 1 (the last is +Inf) */
	double sum;
	unsigned long long count;
};

struct metrics_vec {
	char *name;
	enum metrics_type type;
	char *help;
	char **label_names;
	size_t nlabels;
	double *bounds;
	size_t nbounds;
	struct series *series;
	size_t nseries;
	struct buf key;             /* scratch: the labels being looked up */
	struct metrics_vec *next;   /* in a registry */
};

struct metrics_vec *
metrics_vec_new(const char *name, enum metrics_type type, const char *help,
    const char *const *label_names, const double *bounds, size_t nbounds)
{
	struct metrics_vec *v = xcalloc(1, sizeof(*v));

	v->name = xstrdup(name);
	v->type = type;
	v->help = xstrdup(help ? help : "");
	while (label_names && label_names[v->nlabels])
		v->nlabels++;
	v->label_names = xcalloc(v->nlabels + 1, sizeof(char *));
	for (size_t i = 0; i < v->nlabels; i++)
		v->label_names[i] = xstrdup(label_names[i]);
	if (type == METRICS_HISTOGRAM && nbounds > 0) {
		v->bounds = xcalloc(nbounds, sizeof(double));
		memcpy(v->bounds, bounds, nbounds * sizeof(double));
		v->nbounds = nbounds;
	}
	return v;
}

void
metrics_vec_free(struct metrics_vec *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->nseries; i++) {
		free(v->series[i].labels);
		free(v->series[i].buckets);
	}
	free(v->series);
	for (size_t i = 0; i < v->nlabels; i++)
		free(v->label_names[i]);
	free(v->label_names);
	free(v->bounds);
	free(v->name);
	free(v->help);
	buf_free(&v->key);
	free(v);
}

/* The series for values, created when missing. */
static struct series *
vec_series(struct metrics_vec *v, const char *const *values)
{
	struct series *s;

	v->key.len = 0;
	buf_append(&v->key, "", 0);
	for (size_t i = 0; i < v->nlabels; i++)
		metrics_label(&v->key, i == 0, v->label_names[i], values[i] ? values[i] : "");
	for (size_t i = 0; i < v->nseries; i++)
		if (strcmp(v->series[i].labels, v->key.data) == 0)
			return &v->series[i];
	v->series = xrealloc(v->series, (v->nseries + 1) * sizeof(*v->series));
	s = &v->series[v->nseries++];
	memset(s, 0, sizeof(*s));
	s->labels = xstrdup(v->key.data);
	if (v->type == METRICS_HISTOGRAM)
		s->buckets = xcalloc(v->nbounds + 1, sizeof(*s->buckets));
	return s;
}

void
metrics_vec_add(struct metrics_vec *v, const char *const *values, double delta)
{
	vec_series(v, values)->value += delta;
}

void
metrics_vec_set(struct metrics_vec *v, const char *const *values, double x)
{
	vec_series(v, values)->value = x;
}

void
metrics_vec_observe(struct metrics_vec *v, const char *const *values, double x)
{
	struct series *s = vec_series(v, values);
	size_t i = 0;

	if (s->buckets == NULL)
		return;
	/* Stored per bucket, made cumulative when written. */
	while (i < v->nbounds && x > v->bounds[i])
		i++;
	s->buckets[i]++;
	s->sum += x;
	s->count++;
}

double
metrics_vec_get(const struct metrics_vec *v, const char *const *values)
{
	struct buf key = {0};
	double x = 0;

	buf_append(&key, "", 0);
	for (size_t i = 0; i < v->nlabels; i++)
		metrics_label(&key, i == 0, v->label_names[i], values[i] ? values[i] : "");
	for (size_t i = 0; i < v->nseries; i++)
		if (strcmp(v->series[i].labels, key.data) == 0)
			x = v->type == METRICS_HISTOGRAM ? (double)v->series[i].count :
			    v->series[i].value;
	buf_free(&key);
	return x;
}

/* name + suffix into a small buffer (names are short and ours). */
static const char *
suffixed(char *dst, size_t len, const char *name, const char *suffix)
{
	snprintf(dst, len, "%s%s", name, suffix);
	return dst;
}

static void
write_histogram(const struct metrics_vec *v, const struct series *s, struct buf *b)
{
	char bucket[256], sum[256], count[256];
	unsigned long long cum = 0;

	suffixed(bucket, sizeof(bucket), v->name, "_bucket");
	for (size_t i = 0; i <= v->nbounds; i++) {
		cum += s->buckets[i];
		put(b, bucket);
		buf_append(b, "{", 1);
		if (*s->labels) {
			put(b, s->labels);
			buf_append(b, ",", 1);
		}
		put(b, "le=\"");
		if (i == v->nbounds)
			put(b, "+Inf");
		else
			metrics_value(b, v->bounds[i]);
		put(b, "\"} ");
		metrics_value(b, (double)cum);
		buf_append(b, "\n", 1);
	}
	metrics_sample(b, suffixed(sum, sizeof(sum), v->name, "_sum"), s->labels, s->sum);
	metrics_sample(b, suffixed(count, sizeof(count), v->name, "_count"), s->labels,
	    (double)s->count);
}

void
metrics_vec_write(const struct metrics_vec *v, struct buf *b)
{
	metrics_family(b, v->name, v->type, v->help);
	if (v->nseries == 0 && v->nlabels == 0) {
		struct series zero = {0};
		unsigned long long *bk = NULL;

		zero.labels = "";
		if (v->type == METRICS_HISTOGRAM) {
			bk = xcalloc(v->nbounds + 1, sizeof(*bk));
			zero.buckets = bk;
			write_histogram(v, &zero, b);
		} else {
			metrics_sample(b, v->name, NULL, 0);
		}
		free(bk);
		return;
	}
	for (size_t i = 0; i < v->nseries; i++) {
		if (v->type == METRICS_HISTOGRAM)
			write_histogram(v, &v->series[i], b);
		else
			metrics_sample(b, v->name, v->series[i].labels, v->series[i].value);
	}
}

/* ---- the registry ---- */

struct metrics_registry {
	struct metrics_vec *head, *tail;
};

struct metrics_registry *
metrics_registry_new(void)
{
	return xcalloc(1, sizeof(struct metrics_registry));
}

void
metrics_registry_free(struct metrics_registry *r)
{
	if (r == NULL)
		return;
	while (r->head) {
		struct metrics_vec *v = r->head;
		r->head = v->next;
		metrics_vec_free(v);
	}
	free(r);
}

struct metrics_vec *
metrics_registry_add(struct metrics_registry *r, struct metrics_vec *v)
{
	v->next = NULL;
	if (r->tail)
		r->tail->next = v;
	else
		r->head = v;
	r->tail = v;
	return v;
}

void
metrics_registry_write(const struct metrics_registry *r, struct buf *b)
{
	for (const struct metrics_vec *v = r->head; v; v = v->next)
		metrics_vec_write(v, b);
}
