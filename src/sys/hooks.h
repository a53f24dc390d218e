/*
 * hooks.h - runs hook programs from the event loop: fork/exec without a
 * shell, environment given explicitly, reaped with ev_child, killed after a
 * timeout (SIGTERM, then SIGKILL 5 s later), output captured and logged
 * line by line.  Never blocks the loop.
 */
#ifndef CERTFLEET_HOOKS_H
#define CERTFLEET_HOOKS_H

#include "util.h"

struct ev_loop;
struct hook_run;

struct hook_result {
	int exited;      /* 1 if it exited normally */
	int status;      /* exit status, or signal number when !exited */
	int timed_out;   /* 1 if killed after the timeout */
	int spawn_error; /* errno when exec failed (status 127) */
};

typedef void (*hook_done_cb)(const struct hook_result *r, void *arg);

/*
 * Starts argv (argv->v[0] is an absolute path or found in PATH) with the
 * daemon's environment plus env (a list of "NAME=value").  label names the
 * hook in logs ("deploy hook for www").  Returns a handle, or NULL when it
 * could not even fork (logged; cb not called).
 */
struct hook_run *hook_start(struct ev_loop *loop, const char *label,
    const struct strlist *argv, const struct strlist *env, double timeout,
    hook_done_cb cb, void *arg);
/*
 * The same with input (len bytes, copied) written to the program's
 * standard input, then closed; a program that exits without reading it
 * all is not waited for.  hook_start is this with no input (/dev/null).
 */
struct hook_run *hook_start_input(struct ev_loop *loop, const char *label,
    const struct strlist *argv, const struct strlist *env, const char *input, size_t len,
    double timeout, hook_done_cb cb, void *arg);
/* Running hooks. */
unsigned hook_running(void);
/* Kills every running hook (shutdown); callbacks are still called. */
void hook_kill_all(void);

#endif
