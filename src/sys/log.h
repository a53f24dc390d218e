/*
 * log.h - one line per event on stderr.
 *
 * Levels are syslog's.  When stderr is connected to journald
 * (JOURNAL_STREAM matches stderr) or --log-prefix is forced, lines carry the
 * "<N>" priority prefix sd-daemon(3) describes; otherwise a timestamp and
 * level name.  Never pass a private key or an EAB HMAC key to these.
 *
 * When stderr is the journal and the style is automatic, each event goes
 * to journald as one structured entry instead (journal.c): MESSAGE,
 * PRIORITY, SYSLOG_IDENTIFIER and, for an event about one certificate
 * (log_fields_msg, log_cert), CERTFLEET_CERT, CERTFLEET_ACCOUNT,
 * CERTFLEET_ORDER (the order URL) and CERTFLEET_EVENT (log_event_name), so
 * "journalctl -u certfleetd CERTFLEET_CERT=www" selects one certificate.
 * The message text is the same in both forms.
 */
#ifndef CERTFLEET_LOG_H
#define CERTFLEET_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>
#include <syslog.h>

enum log_style { LOG_STYLE_AUTO, LOG_STYLE_JOURNAL, LOG_STYLE_PLAIN };

void log_init(const char *progname, int max_level, enum log_style style);
void log_set_level(int max_level);
int log_get_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What a line about one certificate reports, as CERTFLEET_EVENT (only the
 * lines that mark a step an operator filters for carry one). */
enum log_event {
	LOG_EVENT_NONE,             /* no CERTFLEET_EVENT field */
	LOG_EVENT_RENEWAL_STARTED,  /* "renewal_started": an attempt begins */
	LOG_EVENT_ORDER_CREATED,    /* "order_created": the CA returned the order URL */
	LOG_EVENT_ISSUED,           /* "issued": the certificate was downloaded */
	LOG_EVENT_INSTALLED,        /* "installed": a new version is live */
	LOG_EVENT_RENEWAL_FAILED,   /* "renewal_failed": an attempt failed */
	LOG_EVENT_HOOK_FAILED,      /* "hook_failed": the deploy hook failed */
	LOG_EVENT_RELOAD,           /* "reload": added, changed or removed by a reload */
	LOG_EVENT_ADOPTED,          /* "adopted": an existing lineage taken over */
	LOG_EVENT__MAX
};
/* The event's field value ("issued"), NULL for LOG_EVENT_NONE; static. */
const char *log_event_name(enum log_event e);

/* The structured part of a line; NULL members are left out.  cert, when
 * set, is also the line's "cert: " prefix. */
struct log_fields {
	const char *cert;
	const char *account;
	const char *order;          /* the order URL */
	enum log_event event;
};

/* A line about one certificate: "CERT: " + fmt, with lf's fields in the
 * journal.  lf may be NULL (then as log_msg). */
void log_fields_msg(int level, const struct log_fields *lf, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_cert(level, name, ev, ...) \
	log_fields_msg((level), &(const struct log_fields){ .cert = (name), .event = (ev) }, \
	    __VA_ARGS__)

/*
 * The journal entry for one line, for tests and log.c: fills iov with the
 * "KEY=value" fields (MESSAGE first, then PRIORITY, SYSLOG_IDENTIFIER and
 * those of lf that are set), their text kept in buf.  Returns how many
 * iovecs were filled (at most LOG_JOURNAL_FIELDS_MAX), 0 when buf is too
 * small.  Pure: no I/O, nothing allocated.
 */
#define LOG_JOURNAL_FIELDS_MAX 7
size_t log_journal_fields(int level, const char *ident, const struct log_fields *lf,
    const char *msg, char *buf, size_t buflen, struct iovec *iov);
/* Whether a JOURNAL_STREAM value ("DEVICE:INODE") names the file whose
 * fstat(2) gave dev and ino; false for NULL or anything malformed. */
bool log_journal_stream_matches(const char *env, unsigned long long dev,
    unsigned long long ino);

/*
 * A status line kept at the bottom of a terminal (certfleetd --once's
 * progress): log_status_show() draws text in place ("\r", text, clear to
 * end of line, no newline); every log line first erases it, so the two
 * never mix on one line; the owner redraws it later.  log_status_clear()
 * erases it for good.  Only for a terminal stderr; the caller checks.
 */
void log_status_show(const char *text);
void log_status_clear(void);

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
