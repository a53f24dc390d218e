/*
 * log.c - one line per event on stderr, for journald or a terminal/file.
 *
 * Each event is formatted into a stack buffer and emitted with a single
 * write(2), so lines from the key generation threads and the event loop
 * never interleave and logging never allocates (xmalloc logs when out of
 * memory).  Control characters in messages (a CA's problem detail may hold
 * newlines or escape sequences) are replaced so one event stays one line.
 *
 * When the automatic style finds stderr connected to journald, the same
 * text goes out through journal.c as one structured entry (fields built by
 * log_journal_fields, a pure function the unit tests check); if journald
 * refuses it the plain line is written as before.  A terminal's status line
 * (log_status_show) is erased under the same lock before each line.
 */
#include "log.h"
#include "journal.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Longer messages are cut and marked; a log line is not a data channel. */
#define LOG_LINE_MAX 4096

static const char *const level_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

static char log_progname[64] = "certfleetd";
static atomic_int log_level = LOG_INFO;
static atomic_bool log_journal;        /* "<N>" prefixes on stderr */
static atomic_bool log_journal_native; /* entries through journal.c */
static pthread_mutex_t log_write_lock = PTHREAD_MUTEX_INITIALIZER;
static bool log_status_shown;          /* under log_write_lock */
/* The pid in every stderr line, asked once per process rather than once
 * per line (a forked child, a hook before its exec, asks again). */
static atomic_long log_pid;
static pthread_once_t log_pid_once = PTHREAD_ONCE_INIT;

static void log_pid_forget(void)
{
	atomic_store(&log_pid, 0);
}

static void log_pid_register(void)
{
	pthread_atfork(NULL, NULL, log_pid_forget);
}

static long log_getpid(void)
{
	long pid = atomic_load(&log_pid);

	if (pid == 0) {
		pthread_once(&log_pid_once, log_pid_register);
		pid = (long)getpid();
		atomic_store(&log_pid, pid);
	}
	return pid;
}

static const char *const log_event_names[LOG_EVENT__MAX] = {
	[LOG_EVENT_NONE] = NULL,
	[LOG_EVENT_RENEWAL_STARTED] = "renewal_started",
	[LOG_EVENT_ORDER_CREATED] = "order_created",
	[LOG_EVENT_ISSUED] = "issued",
	[LOG_EVENT_INSTALLED] = "installed",
	[LOG_EVENT_RENEWAL_FAILED] = "renewal_failed",
	[LOG_EVENT_HOOK_FAILED] = "hook_failed",
	[LOG_EVENT_RELOAD] = "reload",
	[LOG_EVENT_ADOPTED] = "adopted",
};

const char *
log_event_name(enum log_event e)
{
	if ((int)e < 0 || e >= LOG_EVENT__MAX)
		return NULL;
	return log_event_names[e];
}

bool
log_journal_stream_matches(const char *env, unsigned long long dev, unsigned long long ino)
{
	unsigned long long d, i;
	int n = 0;

	if (env == NULL || *env < '0' || *env > '9' ||
	    sscanf(env, "%llu:%llu%n", &d, &i, &n) != 2 || env[n] != '\0')
		return false;
	return d == dev && i == ino;
}
static atomic_bool log_inited;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

/* sd-daemon(3): stderr goes to journald iff JOURNAL_STREAM names its inode. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	struct stat st;

	if (e == NULL || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return log_journal_stream_matches(e, (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
}

/* Used when something logs before log_init (or a test never calls it). */
static void log_default_init(void)
{
	if (!atomic_load(&log_inited)) {
		bool j = stderr_is_journal();

		atomic_store(&log_journal, j);
		atomic_store(&log_journal_native, j && journal_available());
	}
}

void log_init(const char *progname, int max_level, enum log_style style)
{
	if (progname != NULL) {
		const char *slash = strrchr(progname, '/');

		snprintf(log_progname, sizeof(log_progname), "%s",
		    slash ? slash + 1 : progname);
	}
	log_set_level(max_level);
	switch (style) {
	case LOG_STYLE_JOURNAL:
		/* Forced: "<N>" lines on stderr, whoever reads them. */
		atomic_store(&log_journal, true);
		atomic_store(&log_journal_native, false);
		break;
	case LOG_STYLE_PLAIN:
		atomic_store(&log_journal, false);
		atomic_store(&log_journal_native, false);
		break;
	case LOG_STYLE_AUTO:
	default: {
		bool j = stderr_is_journal();

		atomic_store(&log_journal, j);
		atomic_store(&log_journal_native, j && journal_available());
		break;
	}
	}
	atomic_store(&log_inited, true);
}

void log_set_level(int max_level)
{
	if (max_level < LOG_EMERG)
		max_level = LOG_EMERG;
	if (max_level > LOG_DEBUG)
		max_level = LOG_DEBUG;
	atomic_store(&log_level, max_level);
}

int log_get_level(void)
{
	return atomic_load(&log_level);
}

/* Replaces control characters in s[0..len) so the event stays one line. */
static void sanitize(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			s[i] = ' ';
	}
}

static void write_all(const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* nowhere left to report it */
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Appends "KEY=value" to buf at *used as the next iovec; false when it
 * does not fit. */
static bool
field_add(struct iovec *iov, size_t *n, char *buf, size_t buflen, size_t *used,
    const char *key, const char *value)
{
	size_t kl = strlen(key), vl = strlen(value);

	if (*used + kl + 1 + vl > buflen)
		return false;
	memcpy(buf + *used, key, kl);
	buf[*used + kl] = '=';
	memcpy(buf + *used + kl + 1, value, vl);
	iov[*n].iov_base = buf + *used;
	iov[*n].iov_len = kl + 1 + vl;
	*used += kl + 1 + vl;
	(*n)++;
	return true;
}

size_t
log_journal_fields(int level, const char *ident, const struct log_fields *lf,
    const char *msg, char *buf, size_t buflen, struct iovec *iov)
{
	const char *ev = lf ? log_event_name(lf->event) : NULL;
	char prio[4];
	size_t n = 0, used = 0;
	bool ok;

	snprintf(prio, sizeof(prio), "%d", level < 0 ? 0 : level > 7 ? 7 : level);
	ok = field_add(iov, &n, buf, buflen, &used, "MESSAGE", msg) &&
	    field_add(iov, &n, buf, buflen, &used, "PRIORITY", prio) &&
	    field_add(iov, &n, buf, buflen, &used, "SYSLOG_IDENTIFIER", ident);
	if (ok && lf && lf->cert)
		ok = field_add(iov, &n, buf, buflen, &used, "CERTFLEET_CERT", lf->cert);
	if (ok && lf && lf->account)
		ok = field_add(iov, &n, buf, buflen, &used, "CERTFLEET_ACCOUNT", lf->account);
	if (ok && lf && lf->order)
		ok = field_add(iov, &n, buf, buflen, &used, "CERTFLEET_ORDER", lf->order);
	if (ok && ev)
		ok = field_add(iov, &n, buf, buflen, &used, "CERTFLEET_EVENT", ev);
	return ok ? n : 0;
}

/* Erases the status line if one is drawn; under log_write_lock. */
static void
status_erase_locked(void)
{
	if (log_status_shown) {
		write_all("\r\033[K", 4);
		log_status_shown = false;
	}
}

void
log_status_show(const char *text)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "\r%s\033[K", text);

	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	pthread_mutex_lock(&log_write_lock);
	write_all(line, (size_t)n);
	log_status_shown = true;
	pthread_mutex_unlock(&log_write_lock);
}

void
log_status_clear(void)
{
	pthread_mutex_lock(&log_write_lock);
	status_erase_locked();
	pthread_mutex_unlock(&log_write_lock);
}

static void log_vmsg(int level, const struct log_fields *lf, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}

void
log_fields_msg(int level, const struct log_fields *lf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, lf, fmt, ap);
	va_end(ap);
}

static void
log_vmsg(int level, const struct log_fields *lf, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int saved = errno;
	size_t pre, used, cpre = 0;
	char prio[8] = "";
	int n;

	if (level < LOG_EMERG)
		level = LOG_EMERG;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	if (level > atomic_load(&log_level))
		return;
	pthread_once(&log_once, log_default_init);

	if (atomic_load(&log_journal_native)) {
		n = 0;
	} else if (atomic_load(&log_journal)) {
		n = snprintf(line, sizeof(line), "<%d>", level);
	} else {
		char ts[32];
		struct tm tm;
		time_t t = time(NULL);

		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(ts, sizeof(ts), "%lld", (long long)t);
		n = snprintf(line, sizeof(line), "%s %s[%ld]: %s: ", ts,
		    log_progname, log_getpid(), level_names[level]);
	}
	pre = n > 0 ? (size_t)n : 0;
	if (pre >= sizeof(line) - 1)
		pre = 0;
	/* The certificate's "NAME: " prefix is part of the message text. */
	if (lf && lf->cert) {
		n = snprintf(line + pre, sizeof(line) - pre - 1, "%s: ", lf->cert);
		cpre = n > 0 && (size_t)n < sizeof(line) - pre - 1 ? (size_t)n : 0;
	}

	/* Callers may use %m: give vsnprintf their errno back. */
	errno = saved;
	n = vsnprintf(line + pre + cpre, sizeof(line) - pre - cpre - 1, fmt, ap);
	if (n < 0)
		n = 0;
	used = cpre + (size_t)n;
	if (used >= sizeof(line) - pre - 1) {
		used = sizeof(line) - pre - 2;
		memcpy(line + pre + used - 3, "...", 3);
	}
	sanitize(line + pre, used);
	if (atomic_load(&log_journal_native)) {
		struct iovec iov[LOG_JOURNAL_FIELDS_MAX];
		char fields[LOG_LINE_MAX + 1024];
		size_t nf;

		line[used] = '\0';
		nf = log_journal_fields(level, log_progname, lf, line, fields, sizeof(fields), iov);
		if (nf > 0 && journal_send(iov, nf) == 0) {
			errno = saved;
			return;
		}
		/* journald said no: the stream still reads "<N>" lines. */
		snprintf(prio, sizeof(prio), "<%d>", level);
	}
	line[pre + used] = '\n';
	pthread_mutex_lock(&log_write_lock);
	status_erase_locked();
	if (*prio)
		write_all(prio, strlen(prio));
	write_all(line, pre + used + 1);
	pthread_mutex_unlock(&log_write_lock);
	errno = saved;
}
