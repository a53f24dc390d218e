/*
 * ctl_client.h - certfleetctl's side of the control socket, and its
 * output: the human tables (ctl_print.c) beside the JSON.
 */
#ifndef CERTFLEET_CTL_CLIENT_H
#define CERTFLEET_CTL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct json;

/* Exit statuses a script can rely on (certfleetctl(1)). */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,        /* the operation failed */
	CTL_EXIT_USAGE = 2,         /* bad command line */
	CTL_EXIT_NOTFOUND = 3,      /* unknown certificate or account */
	CTL_EXIT_NODAEMON = 4,      /* the daemon is not running */
	CTL_EXIT_DENIED = 5,        /* permission denied */
	CTL_EXIT_TIMEOUT = 6,       /* renew --wait: not settled within --timeout */
	CTL_EXIT_CONFIG = 78        /* the inventory is invalid (EX_CONFIG) */
};

/* The exit status for a reply's error code. */
enum ctl_exit ctl_exit_for_code(const char *code);

/*
 * One request: connects to path, sends cmd with args (taken over, may be
 * NULL), waits up to timeout seconds (0: no limit) for the reply.
 * CTL_EXIT_OK with *result (the reply's result, caller deletes; JSON null
 * when there was none), else the exit status and a one-line err;
 * CTL_EXIT_NODAEMON when nothing listens at path.
 */
enum ctl_exit ctl_call(const char *path, const char *cmd, struct json *args, double timeout,
    struct json **result, char *err, size_t errlen);

/*
 * The same, with the result as compact JSON text rather than a value, for
 * replies too large to parse cheaply (status --json at 100,000
 * certificates): on CTL_EXIT_OK the result is the len bytes at *text +
 * *start (caller frees *text), unchecked but for the reply's frame.
 */
enum ctl_exit ctl_call_text(const char *path, const char *cmd, struct json *args,
    double timeout, char **text, size_t *start, size_t *len, char *err, size_t errlen);

/* Human output (ctl_print.c). */
void ctl_print_status(const struct json *status);
void ctl_print_show(const struct json *cert);
void ctl_print_accounts(const struct json *accounts);
/* certfleetctl cluster status: the members, the locks, the endpoint. */
void ctl_print_cluster(const struct json *status);
/* JSON, indented, on stdout. */
void ctl_print_json(const struct json *o);

#endif
