/*
 * daemon.h - certfleetd's lifecycle: load, run the loop, reload on SIGHUP,
 * drain on SIGTERM, talk to the service manager.
 */
#ifndef CERTFLEET_DAEMON_H
#define CERTFLEET_DAEMON_H

#include <stdbool.h>

#define EXIT_RENEW_FAILED 1
#define EXIT_UNAVAILABLE 69    /* EX_UNAVAILABLE: state dir locked, port taken */

#define ONCE_DEADLINE_DEFAULT (15 * 60)  /* seconds */

struct daemon_opts {
	const char *config_path;
	bool once;
	bool force;     /* with once: renew every certificate, due or not */
	long long once_deadline;    /* seconds: --once retries transient failures this long */
};

/* Runs until done (once) or stopped; returns the process exit status. */
int daemon_run(const struct daemon_opts *o);

#endif
