/*
 * util.c - checked allocation, growable buffers, string lists, time and
 * duration parsing, file reading and the non-cryptographic PRNG.
 *
 * Everything here is self-contained (libc only) so every other module and
 * every unit test can link against it without pulling in the rest.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/*
 * Out of memory: log (log_msg formats into a stack buffer, so it does not
 * allocate) and abort so systemd restarts us with a core for diagnosis.
 */
static void __attribute__((noreturn)) oom(size_t n)
{
	log_msg(LOG_CRIT, "out of memory allocating %zu bytes", n);
	abort();
}

void *xmalloc(size_t n)
{
	/* malloc(0) may return NULL, which callers would take for failure. */
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void mem_give_back(void)
{
#ifdef __GLIBC__
	/* glibc keeps freed small chunks in its heap for reuse; a tree of two
	 * million JSON nodes freed that way stayed resident (128 MiB before a
	 * status --json of 100,000 certificates, 353 MiB after it). */
	malloc_trim(0);
#endif
}

void *xcalloc(size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

char *xstrdup(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	if ((p = strdup(s)) == NULL)
		oom(strlen(s) + 1);
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p;

	if (s == NULL)
		return NULL;
	if ((p = strndup(s, n)) == NULL)
		oom(n + 1);
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		oom(strlen(fmt));
	return s;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void free_secret(void *p, size_t len)
{
	if (p == NULL)
		return;
	/* explicit_bzero survives dead-store elimination; memset would not. */
	explicit_bzero(p, len);
	free(p);
}

void free_secret_str(char *s)
{
	if (s == NULL)
		return;
	free_secret(s, strlen(s));
}

/* ---- struct buf ---- */

static void buf_reserve(struct buf *b, size_t extra)
{
	size_t need;

	if (extra > SIZE_MAX - b->len - 1)
		oom(SIZE_MAX);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_append(struct buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void buf_appendf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom(strlen(fmt));
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *buf_steal(struct buf *b, size_t *len)
{
	char *p = b->data;

	/* An untouched buffer still yields a string, so callers need no NULL case. */
	if (p == NULL)
		p = xstrdup("");
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

/* ---- struct strlist ---- */

/* Slots allocated for a list of n strings and its NULL: a power of two,
 * so a list grown one string at a time (10,000 directories) is copied
 * log n times, not n. */
static size_t
strlist_cap(size_t n)
{
	size_t c = 2;

	while (c < n + 1)
		c *= 2;
	return c;
}

void strlist_add(struct strlist *l, const char *s)
{
	if (l->v == NULL || strlist_cap(l->n + 1) != strlist_cap(l->n))
		l->v = xrealloc(l->v, strlist_cap(l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
	l->v[l->n] = NULL;
}

void strlist_free(struct strlist *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int cmp_casestr(const void *a, const void *b)
{
	return strcasecmp(*(char *const *)a, *(char *const *)b);
}

const char **strlist_sorted_set(const struct strlist *l, size_t *n)
{
	const char **v = xcalloc(l->n + 1, sizeof(*v));
	size_t k = 0;

	for (size_t i = 0; i < l->n; i++)
		v[i] = l->v[i];
	qsort(v, l->n, sizeof(*v), cmp_casestr);
	for (size_t i = 0; i < l->n; i++)
		if (k == 0 || strcasecmp(v[k - 1], v[i]) != 0)
			v[k++] = v[i];
	*n = k;
	return v;
}

bool strlist_equal_sorted(const struct strlist *a, const struct strlist *b)
{
	const char **va = NULL, **vb = NULL;
	size_t na, nb, i;
	bool eq = false;

	/* The common case, the same names in the same order, needs no sorted
	 * copies (a reload compares every certificate's names, twice). */
	for (i = 0; i < a->n && a->n == b->n; i++)
		if (strcasecmp(a->v[i], b->v[i]) != 0)
			break;
	if (a->n == b->n && i == a->n)
		return true;
	va = strlist_sorted_set(a, &na);
	vb = strlist_sorted_set(b, &nb);
	if (na != nb)
		goto out;
	for (i = 0; i < na; i++)
		if (strcasecmp(va[i], vb[i]) != 0)
			goto out;
	eq = true;
out:
	free(va);
	free(vb);
	return eq;
}

char *strlist_join(const struct strlist *l, const char *sep)
{
	struct buf b = { 0 };

	for (size_t i = 0; i < l->n; i++) {
		if (i)
			buf_append(&b, sep, strlen(sep));
		buf_append(&b, l->v[i], strlen(l->v[i]));
	}
	return buf_steal(&b, NULL);
}

/* ---- clocks and time ---- */

double now_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date, and back: counted in
 * 400-year eras of 146,097 days from 0000-03-01, so that February's leap
 * day ends each year.  What timegm() and gmtime_r() compute, without their
 * time zone machinery: the state files of 100,000 certificates hold half a
 * million such times, and status prints as many.
 */
static long long days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(long long z, long long *y, int *m, int *d)
{
	long long era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static void put_digits(char *p, long long v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void time_format_rfc3339(time_t t, char *buf, size_t len)
{
	long long days = (long long)t / 86400, secs = (long long)t % 86400, y;
	struct tm tm;
	int m, d;

	if (len == 0)
		return;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	/* Four-digit years by hand; strftime's %Y prints the others (and
	 * years before 1000 without leading zeros). */
	if (y >= 1000 && y <= 9999 && len >= 21) {
		put_digits(buf, y, 4);
		buf[4] = '-';
		put_digits(buf + 5, m, 2);
		buf[7] = '-';
		put_digits(buf + 8, d, 2);
		buf[10] = 'T';
		put_digits(buf + 11, secs / 3600, 2);
		buf[13] = ':';
		put_digits(buf + 14, secs / 60 % 60, 2);
		buf[16] = ':';
		put_digits(buf + 17, secs % 60, 2);
		buf[19] = 'Z';
		buf[20] = '\0';
		return;
	}
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
}

/* Reads exactly n digits; -1 if any is missing. */
static int parse_digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	return v;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int time_parse_rfc3339(const char *s, time_t *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo, d, h, mi, sec, off = 0;
	time_t t;

	if (s == NULL)
		return -1;
	if ((y = parse_digits(&p, 4)) < 0 || *p++ != '-' ||
	    (mo = parse_digits(&p, 2)) < 0 || *p++ != '-' ||
	    (d = parse_digits(&p, 2)) < 0)
		return -1;
	/* RFC 3339 5.6 allows lower-case 't' and, as a NOTE, a space. */
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if ((h = parse_digits(&p, 2)) < 0 || *p++ != ':' ||
	    (mi = parse_digits(&p, 2)) < 0 || *p++ != ':' ||
	    (sec = parse_digits(&p, 2)) < 0)
		return -1;
	if (*p == '.') {
		/* Fractions are dropped: certfleet schedules in whole seconds. */
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;

		if ((oh = parse_digits(&p, 2)) < 0 || *p++ != ':' ||
		    (om = parse_digits(&p, 2)) < 0 || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60);
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	if (mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && is_leap(y)) ||
	    h > 23 || mi > 59 || sec > 60)
		return -1;
	/* A leap second is folded into the next second, as POSIX time does
	 * (and timegm). */
	t = (time_t)(days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec);
	*out = t - off;
	return 0;
}

/* ---- durations ---- */

int duration_parse(const char *s, long long *out)
{
	const char *p = s;
	long long total = 0;
	int parts = 0;

	if (s == NULL)
		return -1;
	while (isspace((unsigned char)*p))
		p++;
	while (*p != '\0') {
		long long v = 0, mult;

		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			if (v > (LLONG_MAX - (*p - '0')) / 10)
				return -1;
			v = v * 10 + (*p++ - '0');
		}
		switch (*p) {
		case 'w': mult = 7 * 86400; p++; break;
		case 'd': mult = 86400; p++; break;
		case 'h': mult = 3600; p++; break;
		case 'm': mult = 60; p++; break;
		case 's': mult = 1; p++; break;
		case '\0':
			/* A bare number means seconds, but only on its own:
			 * "1h30" is more likely a typo than 1h and 30 s. */
			if (parts > 0)
				return -1;
			mult = 1;
			break;
		default:
			return -1;
		}
		if (v > LLONG_MAX / mult || total > LLONG_MAX - v * mult)
			return -1;
		total += v * mult;
		parts++;
		while (isspace((unsigned char)*p))
			p++;
	}
	if (parts == 0)
		return -1;
	*out = total;
	return 0;
}

void duration_format(double seconds, char *buf, size_t len)
{
	static const struct {
		char unit;
		long long secs;
	} units[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };
	const char *sign = "";
	long long s;
	size_t used = 0;
	int shown = 0;

	if (len == 0)
		return;
	if (seconds < 0) {
		sign = "-";
		seconds = -seconds;
	}
	s = seconds > (double)LLONG_MAX ? LLONG_MAX : (long long)(seconds + 0.5);
	buf[0] = '\0';
	if (s == 0) {
		snprintf(buf, len, "0s");
		return;
	}
	/* The two most significant non-zero units are enough for a log line. */
	for (size_t i = 0; i < ARRAY_SIZE(units) && shown < 2; i++) {
		long long q = s / units[i].secs;

		if (q == 0) {
			if (shown)
				break;
			continue;
		}
		s -= q * units[i].secs;
		int n = snprintf(buf + used, len - used, "%s%s%lld%c",
		    shown ? " " : "", shown ? "" : sign, q, units[i].unit);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
		shown++;
	}
}

/* ---- files ---- */

int read_file(const char *path, char **data, size_t *len, size_t max_len)
{
	int fd = -1, saved;
	struct buf b = { 0 };
	char chunk[8192];
	ssize_t n;

	*data = NULL;
	if (len != NULL)
		*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -1;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		if ((size_t)n > max_len - b.len) {
			errno = EFBIG;
			goto fail;
		}
		buf_append(&b, chunk, (size_t)n);
	}
	close(fd);
	*data = buf_steal(&b, len);
	return 0;
fail:
	saved = errno;
	close(fd);
	/* The file may be a private key: do not leave it in freed memory. */
	free_secret(b.data, b.len);
	errno = saved;
	return -1;
}

/* ---- misc ---- */

size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = xcalloc(lb + 1, sizeof(*row));
	size_t res;

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	res = row[lb];
	free(row);
	return res;
}

/*
 * xoshiro256** seeded from getrandom().  Jitter and backoff need good
 * spread across a fleet, not secrecy; the mutex makes it callable from the
 * key generation threads, and the pid check reseeds after fork so hook
 * children never replay the parent's sequence.
 */
static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rng_s[4];
static pid_t rng_pid;

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static void rng_seed(void)
{
	size_t got = 0;

	while (got < sizeof(rng_s)) {
		ssize_t n = getrandom((char *)rng_s + got, sizeof(rng_s) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* Only on pre-3.17 kernels; time and pid still spread a fleet. */
			log_warn("getrandom failed (%s); seeding jitter from the clock",
			    strerror(errno));
			rng_s[0] = (uint64_t)(now_wall() * 1e9) ^ (uint64_t)getpid();
			rng_s[1] = (uint64_t)(now_mono() * 1e9);
			rng_s[2] = 0x9e3779b97f4a7c15ULL;
			rng_s[3] = (uint64_t)getpid() << 32 | 1;
			break;
		}
		got += (size_t)n;
	}
	if ((rng_s[0] | rng_s[1] | rng_s[2] | rng_s[3]) == 0)
		rng_s[0] = 1;
	rng_pid = getpid();
}

double random_unit(void)
{
	uint64_t r, t;

	pthread_mutex_lock(&rng_lock);
	if (rng_pid != getpid())
		rng_seed();
	r = rotl(rng_s[1] * 5, 7) * 9;
	t = rng_s[1] << 17;
	rng_s[2] ^= rng_s[0];
	rng_s[3] ^= rng_s[1];
	rng_s[1] ^= rng_s[2];
	rng_s[0] ^= rng_s[3];
	rng_s[2] ^= t;
	rng_s[3] = rotl(rng_s[3], 45);
	pthread_mutex_unlock(&rng_lock);
	/* Top 53 bits: every double in [0,1) on the 2^-53 grid, never 1.0. */
	return (double)(r >> 11) * 0x1.0p-53;
}

/* ---- programs (hooks) ---- */

int
program_executable(const char *file)
{
	struct stat st;

	if (stat(file, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	/* For root, access() passes X_OK on some systems whatever the bits,
	 * and execve() then fails: no x bit at all is never runnable. */
	if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0) {
		errno = EACCES;
		return -1;
	}
	return faccessat(AT_FDCWD, file, X_OK, AT_EACCESS);
}

const char *
program_search_path(char *buf, size_t len)
{
	const char *env = getenv("PATH");
	size_t need;

	if (env != NULL)
		return env;
	/* execvpe()'s default when PATH is unset. */
	need = confstr(_CS_PATH, buf, len);
	if (need == 0 || need > len)
		snprintf(buf, len, "/bin:/usr/bin");
	return buf;
}

int
program_find(const char *name, const char *search)
{
	int found_errno = ENOENT;

	if (strchr(name, '/') != NULL)
		return program_executable(name);
	for (const char *p = search;; p++) {
		size_t l = strcspn(p, ":");
		char *file = xasprintf("%.*s%s%s", (int)l, p, l ? "/" : "", name);
		int rc = program_executable(file);

		if (rc < 0 && errno != ENOENT && errno != ENOTDIR)
			found_errno = errno;
		free(file);
		if (rc == 0)
			return 0;
		p += l;
		if (*p == '\0')
			break;
	}
	errno = found_errno;
	return -1;
}
