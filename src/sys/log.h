/*
 * log.h - one line per event on stderr.
 *
 * Levels are syslog's.  When stderr is connected to journald
 * (JOURNAL_STREAM matches stderr) or --log-prefix is forced, lines carry the
 * "<N>" priority prefix sd-daemon(3) describes; otherwise a timestamp and
 * level name.  Never pass a private key or an EAB HMAC key to these.
 */
#ifndef CERTFLEET_LOG_H
#define CERTFLEET_LOG_H

#include <syslog.h>

enum log_style { LOG_STYLE_AUTO, LOG_STYLE_JOURNAL, LOG_STYLE_PLAIN };

void log_init(const char *progname, int max_level, enum log_style style);
void log_set_level(int max_level);
int log_get_level(void);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
