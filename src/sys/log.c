/*
 * log.c - one line per event on stderr, for journald or a terminal/file.
 *
 * Each event is formatted into a stack buffer and emitted with a single
 * write(2), so lines from the key generation threads and the event loop
 * never interleave and logging never allocates (xmalloc logs when out of
 * memory).  Control characters in messages (a CA's problem detail may hold
 * newlines or escape sequences) are replaced so one event stays one line.
 */
#include "log.h"

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
static atomic_bool log_journal;
static atomic_bool log_inited;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

/* sd-daemon(3): stderr goes to journald iff JOURNAL_STREAM names its inode. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	if (e == NULL || sscanf(e, "%llu:%llu%n", &dev, &ino, &n) != 2 ||
	    e[n] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* Used when something logs before log_init (or a test never calls it). */
static void log_default_init(void)
{
	if (!atomic_load(&log_inited))
		atomic_store(&log_journal, stderr_is_journal());
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
		atomic_store(&log_journal, true);
		break;
	case LOG_STYLE_PLAIN:
		atomic_store(&log_journal, false);
		break;
	case LOG_STYLE_AUTO:
	default:
		atomic_store(&log_journal, stderr_is_journal());
		break;
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

void log_msg(int level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	int saved = errno;
	size_t pre, used;
	va_list ap;
	int n;

	if (level < LOG_EMERG)
		level = LOG_EMERG;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	if (level > atomic_load(&log_level))
		return;
	pthread_once(&log_once, log_default_init);

	if (atomic_load(&log_journal)) {
		n = snprintf(line, sizeof(line), "<%d>", level);
	} else {
		char ts[32];
		struct tm tm;
		time_t t = time(NULL);

		if (gmtime_r(&t, &tm) == NULL ||
		    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(ts, sizeof(ts), "%lld", (long long)t);
		n = snprintf(line, sizeof(line), "%s %s[%ld]: %s: ", ts,
		    log_progname, (long)getpid(), level_names[level]);
	}
	pre = n > 0 ? (size_t)n : 0;
	if (pre >= sizeof(line) - 1)
		pre = 0;

	/* Callers may use %m: give vsnprintf their errno back. */
	errno = saved;
	va_start(ap, fmt);
	n = vsnprintf(line + pre, sizeof(line) - pre - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	used = (size_t)n;
	if (used >= sizeof(line) - pre - 1) {
		used = sizeof(line) - pre - 2;
		memcpy(line + pre + used - 3, "...", 3);
	}
	sanitize(line + pre, used);
	line[pre + used] = '\n';
	write_all(line, pre + used + 1);
	errno = saved;
}
