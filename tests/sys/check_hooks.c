/*
 * check_hooks.c - unit tests for hooks.c: argv reaches the program without
 * a shell, the environment is inherited plus overrides, exit statuses and
 * signals are reported, timeouts kill the whole process group (SIGTERM,
 * then SIGKILL), exec failures are reported, and output is logged line by
 * line before the result callback runs (stderr is captured into a file).
 * Hooks are /bin/sh scripts or coreutils; everything runs on the default
 * libev loop, which ev_child requires.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "hooks.h"
#include "log.h"
#include "testloop.h"
#include "testutil.h"
#include "util.h"

#define LABEL "deploy hook for www"

struct outcome {
	int calls;
	struct hook_result r;
	char *log_at_cb; /* captured stderr when the callback ran */
};

static char tmpdir[64];
static char capture_path[128];
static int saved_stderr = -1;
static int pending;

static void
setup(void)
{
	log_init("check_hooks", LOG_INFO, LOG_STYLE_PLAIN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/certfleet-hooks.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(capture_path, sizeof(capture_path), "%s/stderr", tmpdir);
	pending = 0;
}

static void
capture_stop(void)
{
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

static void
teardown(void)
{
	char cmd[160];

	capture_stop();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* Sends our own log lines (stderr) to capture_path. */
static void
capture_start(void)
{
	int fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(saved_stderr, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	close(fd);
}

static char *
slurp(const char *path)
{
	char *data = NULL;
	size_t len;

	if (read_file(path, &data, &len, 1 << 20) < 0)
		return xstrdup("");
	return data;
}

/* Counts lines of text equal to line. */
static int
count_lines(const char *text, const char *line)
{
	int n = 0;
	size_t len = strlen(line);

	for (const char *p = text; p && *p; ) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l == len && memcmp(p, line, len) == 0)
			n++;
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

/* Counts log lines whose message (after "level: ") is exactly msg. */
static int
count_log(const char *log, const char *msg)
{
	int n = 0;
	size_t len = strlen(msg);

	for (const char *p = log; p && *p; ) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l >= len + 2 && memcmp(p + l - len, msg, len) == 0 &&
		    memcmp(p + l - len - 2, ": ", 2) == 0)
			n++;
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

static void
done_cb(const struct hook_result *r, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->r = *r;
	if (saved_stderr >= 0) {
		free(o->log_at_cb);
		o->log_at_cb = slurp(capture_path);
	}
	if (--pending == 0)
		ev_break(ev_default_loop(0), EVBREAK_ALL);
}

/* Runs the loop until every started hook has called back; limit bounds
 * the wait and fails the test. */
static void
run_hooks(double limit)
{
	ck_assert_msg(pending == 0 || test_run_loop(ev_default_loop(0), limit),
	    "%d hooks still running after %.0f s", pending, limit);
}

/* argv from a NULL-terminated list. */
static struct strlist
args(const char *first, ...)
{
	struct strlist l = {0};
	va_list ap;

	va_start(ap, first);
	for (const char *a = first; a; a = va_arg(ap, const char *))
		strlist_add(&l, a);
	va_end(ap);
	return l;
}

static void
start(const char *label, struct strlist *argv, const struct strlist *env, double timeout,
    struct outcome *o)
{
	struct hook_run *h = hook_start(ev_default_loop(0), label, argv, env, timeout, done_cb, o);

	ck_assert_ptr_nonnull(h);
	pending++;
	strlist_free(argv);
}

static void
outcome_free(struct outcome *o)
{
	free(o->log_at_cb);
	o->log_at_cb = NULL;
}

/* Bounded wait (10 s) for pid to be gone or a zombie awaiting its reaper. */
static bool
process_dead(pid_t pid)
{
	char path[64], *stat = NULL, *paren;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	for (int i = 0; i < 1000; i++) {
		if (read_file(path, &stat, &len, 4096) < 0)
			return errno == ENOENT || errno == ESRCH;
		paren = strrchr(stat, ')');
		if (paren && (paren[2] == 'Z' || paren[2] == 'X')) {
			free(stat);
			return true;
		}
		free(stat);
		stat = NULL;
		usleep(10000);
	}
	return false;
}

static pid_t
read_pid(const char *path)
{
	char *s = slurp(path);
	long pid = strtol(s, NULL, 10);

	free(s);
	ck_assert_msg(pid > 1, "hook wrote no pid to %s", path);
	return (pid_t)pid;
}

START_TEST(test_argv_without_shell)
{
	struct outcome a = {0}, b = {0};
	struct strlist argv, env = {0};
	char out[160], *got;

	capture_start();
	/* Not a shell: "$HOME", "*" and ";" would be expanded or split by one. */
	argv = args("printf", "<%s>|", "a b  c", "$HOME", "*", "", "x; echo pwned", "`id`",
	    NULL);
	start(LABEL, &argv, NULL, 10, &a);

	snprintf(out, sizeof(out), "%s/args", tmpdir);
	got = xasprintf("OUT=%s", out);
	strlist_add(&env, got);
	free(got);
	argv = args("/bin/sh", "-c", "for a; do printf '[%s]\\n' \"$a\"; done > \"$OUT\"", "sh",
	    "a b", "$HOME", "*", "", "'quoted'", NULL);
	start("args hook", &argv, &env, 10, &b);
	strlist_free(&env);
	run_hooks(10);
	capture_stop();

	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.r.exited, 1);
	ck_assert_int_eq(a.r.status, 0);
	ck_assert_msg(count_log(a.log_at_cb,
	    LABEL ": <a b  c>|<$HOME>|<*>|<>|<x; echo pwned>|<`id`>|") == 1,
	    "printf output not logged literally:\n%s", a.log_at_cb);

	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(b.r.exited, 1);
	ck_assert_int_eq(b.r.status, 0);
	got = slurp(out);
	ck_assert_str_eq(got, "[a b]\n[$HOME]\n[*]\n[]\n['quoted']\n");
	free(got);
	outcome_free(&a);
	outcome_free(&b);
}
END_TEST

START_TEST(test_environment)
{
	struct outcome o = {0};
	struct strlist argv, env = {0};
	char out[160], *got = NULL;
	size_t len;

	ck_assert_int_eq(setenv("CERTFLEET_T_KEEP", "kept", 1), 0);
	ck_assert_int_eq(setenv("CERTFLEET_T_OVER", "inherited", 1), 0);
	ck_assert_int_eq(setenv("CERTFLEET_T_OVERX", "longer name, same prefix", 1), 0);
	ck_assert_int_eq(setenv("CERTFLEET_T_OVE", "shorter name", 1), 0);
	strlist_add(&env, "CERTFLEET_T_NEW=new value with spaces");
	strlist_add(&env, "CERTFLEET_T_OVER=from the hook env");
	strlist_add(&env, "CERTFLEET_T_EMPTY=");
	snprintf(out, sizeof(out), "%s/env", tmpdir);
	/* The environment exactly as exec'd (a shell would hide duplicates). */
	argv = args("cp", "/proc/self/environ", out, NULL);
	start(LABEL, &argv, &env, 10, &o);
	strlist_free(&env);
	run_hooks(10);

	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o.r.status, 0);
	ck_assert_int_eq(read_file(out, &got, &len, 1 << 20), 0);
	for (size_t i = 0; i < len; i++)
		if (got[i] == '\0')
			got[i] = '\n';
	ck_assert_int_eq(count_lines(got, "CERTFLEET_T_KEEP=kept"), 1);
	ck_assert_int_eq(count_lines(got, "CERTFLEET_T_NEW=new value with spaces"), 1);
	ck_assert_int_eq(count_lines(got, "CERTFLEET_T_OVER=from the hook env"), 1);
	ck_assert_int_eq(count_lines(got, "CERTFLEET_T_OVER=inherited"), 0);
	ck_assert_int_eq(count_lines(got, "CERTFLEET_T_OVERX=longer name, same prefix"), 1);
	ck_assert_int_eq(count_lines(got, "CERTFLEET_T_OVE=shorter name"), 1);
	ck_assert_int_eq(count_lines(got, "CERTFLEET_T_EMPTY="), 1);
	free(got);
	/* The daemon's own environment is untouched. */
	ck_assert_ptr_null(getenv("CERTFLEET_T_NEW"));
	ck_assert_str_eq(getenv("CERTFLEET_T_OVER"), "inherited");
}
END_TEST

START_TEST(test_exit_status_and_running_count)
{
	struct outcome ok = {0}, seven = {0}, sig = {0};
	struct strlist argv;

	ck_assert_uint_eq(hook_running(), 0);
	argv = args("/bin/sh", "-c", "exit 0", NULL);
	start(LABEL, &argv, NULL, 10, &ok);
	argv = args("sh", "-c", "exit 7", NULL); /* found in PATH */
	start(LABEL, &argv, NULL, 10, &seven);
	argv = args("/bin/sh", "-c", "kill -USR1 $$; sleep 5", NULL);
	start(LABEL, &argv, NULL, 10, &sig);
	ck_assert_uint_eq(hook_running(), 3);
	/* Results come from the loop, never from hook_start(). */
	ck_assert_int_eq(ok.calls + seven.calls + sig.calls, 0);
	run_hooks(10);
	ck_assert_uint_eq(hook_running(), 0);

	ck_assert_int_eq(ok.calls, 1);
	ck_assert_int_eq(ok.r.exited, 1);
	ck_assert_int_eq(ok.r.status, 0);
	ck_assert_int_eq(ok.r.timed_out, 0);
	ck_assert_int_eq(ok.r.spawn_error, 0);

	ck_assert_int_eq(seven.calls, 1);
	ck_assert_int_eq(seven.r.exited, 1);
	ck_assert_int_eq(seven.r.status, 7);
	ck_assert_int_eq(seven.r.timed_out, 0);
	ck_assert_int_eq(seven.r.spawn_error, 0);

	ck_assert_int_eq(sig.calls, 1);
	ck_assert_int_eq(sig.r.exited, 0);
	ck_assert_int_eq(sig.r.status, SIGUSR1);
	ck_assert_int_eq(sig.r.timed_out, 0);
}
END_TEST

START_TEST(test_timeout_kills_process_group)
{
	struct outcome o = {0};
	struct strlist argv;
	char pidfile[160];
	pid_t grandchild;

	capture_start();
	snprintf(pidfile, sizeof(pidfile), "%s/pid", tmpdir);
	/* The background sleep is the hook's own child: the group kill must
	 * reach it too. */
	argv = args("/bin/sh", "-c", "sleep 60 & echo $! > \"$1\"; wait", "sh", pidfile, NULL);
	/* Short, yet ample for the shell to start its child and write the pid. */
	start(LABEL, &argv, NULL, 1.0, &o);
	ck_assert_uint_eq(hook_running(), 1);
	run_hooks(10);
	capture_stop();

	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o.r.timed_out, 1);
	ck_assert_int_eq(o.r.exited, 0);
	ck_assert_int_eq(o.r.status, SIGTERM);
	ck_assert_int_eq(o.r.spawn_error, 0);
	ck_assert_uint_eq(hook_running(), 0);
	grandchild = read_pid(pidfile);
	ck_assert_msg(process_dead(grandchild), "hook's child %ld survived the timeout",
	    (long)grandchild);
	ck_assert_int_eq(count_log(o.log_at_cb, LABEL ": timed out, sending SIGTERM"), 1);
	outcome_free(&o);
}
END_TEST

START_TEST(test_timeout_escalates_to_sigkill)
{
	struct outcome o = {0};
	struct strlist argv;
	char pidfile[160];
	pid_t grandchild;

	snprintf(pidfile, sizeof(pidfile), "%s/pid", tmpdir);
	/* SIGTERM is ignored by the shell and (inherited) by its child. */
	argv = args("/bin/sh", "-c", "trap '' TERM; sleep 60 & echo $! > \"$1\"; wait", "sh",
	    pidfile, NULL);
	start(LABEL, &argv, NULL, 1.0, &o);
	run_hooks(20); /* 1 s + the 5 s grace period */

	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o.r.timed_out, 1);
	ck_assert_int_eq(o.r.exited, 0);
	ck_assert_int_eq(o.r.status, SIGKILL);
	grandchild = read_pid(pidfile);
	ck_assert_msg(process_dead(grandchild), "hook's child %ld survived SIGKILL",
	    (long)grandchild);
}
END_TEST

START_TEST(test_spawn_errors)
{
	struct outcome missing = {0}, unfound = {0}, noexec = {0};
	struct strlist argv;
	char script[160], *log;
	int fd;

	capture_start();
	argv = args("/nonexistent/certfleet-hook", "arg", NULL);
	start("missing hook", &argv, NULL, 10, &missing);
	argv = args("certfleet-no-such-hook-in-path", NULL);
	start("unfound hook", &argv, NULL, 10, &unfound);
	snprintf(script, sizeof(script), "%s/not-executable", tmpdir);
	fd = open(script, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
	close(fd);
	argv = args(script, NULL);
	start("noexec hook", &argv, NULL, 10, &noexec);
	run_hooks(10);
	capture_stop();
	log = slurp(capture_path);

	ck_assert_int_eq(missing.calls, 1);
	ck_assert_int_eq(missing.r.spawn_error, ENOENT);
	ck_assert_int_eq(missing.r.exited, 1);
	ck_assert_int_eq(missing.r.status, 127);
	ck_assert_int_eq(missing.r.timed_out, 0);
	ck_assert_int_eq(unfound.r.spawn_error, ENOENT);
	ck_assert_int_eq(unfound.r.status, 127);
	ck_assert_int_eq(noexec.r.spawn_error, EACCES);
	ck_assert_int_eq(noexec.r.status, 127);
	/* The failure is logged with the hook's label and the program. */
	ck_assert_msg(strstr(log, "missing hook: cannot execute /nonexistent/certfleet-hook: ") !=
	    NULL, "no spawn error logged:\n%s", log);
	free(log);
	outcome_free(&missing);
	outcome_free(&unfound);
	outcome_free(&noexec);
}
END_TEST

START_TEST(test_empty_argv)
{
	struct strlist empty = {0};
	struct outcome o = {0};

	ck_assert_ptr_null(hook_start(ev_default_loop(0), LABEL, &empty, NULL, 10, done_cb, &o));
	ck_assert_uint_eq(hook_running(), 0);
	ck_assert_int_eq(o.calls, 0);
}
END_TEST

START_TEST(test_output_logged_before_result)
{
	struct outcome o = {0};
	struct strlist argv;

	capture_start();
	argv = args("/bin/sh", "-c",
	    "echo 'line one'; echo 'line two' >&2; printf 'cr\\rhere\\n'; echo; "
	    "printf 'no newline'", NULL);
	start(LABEL, &argv, NULL, 10, &o);
	run_hooks(10);
	capture_stop();

	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o.r.status, 0);
	/* Every line was in the log when the callback ran: it waited for EOF. */
	ck_assert_ptr_nonnull(o.log_at_cb);
	ck_assert_msg(count_log(o.log_at_cb, LABEL ": line one") == 1, "log:\n%s", o.log_at_cb);
	ck_assert_int_eq(count_log(o.log_at_cb, LABEL ": line two"), 1);
	ck_assert_int_eq(count_log(o.log_at_cb, LABEL ": cr here"), 1);
	ck_assert_int_eq(count_log(o.log_at_cb, LABEL ": no newline"), 1);
	/* stdout and stderr share the pipe, in order. */
	ck_assert(strstr(o.log_at_cb, LABEL ": line one") <
	    strstr(o.log_at_cb, LABEL ": line two"));
	outcome_free(&o);
}
END_TEST

START_TEST(test_output_capped)
{
	struct outcome o = {0};
	struct strlist argv;
	char msg[64];

	capture_start();
	argv = args("/bin/sh", "-c", "i=1; while [ $i -le 150 ]; do echo \"out $i\"; i=$((i+1)); done",
	    NULL);
	start(LABEL, &argv, NULL, 10, &o);
	run_hooks(10);
	capture_stop();

	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o.r.status, 0);
	for (int i = 1; i <= 150; i++) {
		snprintf(msg, sizeof(msg), LABEL ": out %d", i);
		ck_assert_msg(count_log(o.log_at_cb, msg) == (i <= 100),
		    "line %d logged %d times", i, count_log(o.log_at_cb, msg));
	}
	ck_assert_int_eq(count_log(o.log_at_cb, LABEL ": (further output not logged)"), 1);
	outcome_free(&o);
}
END_TEST

START_TEST(test_long_line_split)
{
	struct outcome o = {0};
	struct strlist argv;
	char *expect;

	capture_start();
	/* 1500 'x' and a newline: one full line buffer, then the rest. */
	argv = args("/bin/sh", "-c", "i=0; while [ $i -lt 1500 ]; do printf x; i=$((i+1)); done; echo",
	    NULL);
	start(LABEL, &argv, NULL, 10, &o);
	run_hooks(10);
	capture_stop();

	ck_assert_int_eq(o.r.status, 0);
	expect = xmalloc(1500 + sizeof(LABEL ": "));
	strcpy(expect, LABEL ": ");
	memset(expect + strlen(expect), 'x', 1023);
	expect[strlen(LABEL ": ") + 1023] = '\0';
	ck_assert_int_eq(count_log(o.log_at_cb, expect), 1);
	expect[strlen(LABEL ": ") + 1500 - 1023] = '\0';
	ck_assert_int_eq(count_log(o.log_at_cb, expect), 1);
	free(expect);
	outcome_free(&o);
}
END_TEST

START_TEST(test_background_child_holding_output)
{
	struct outcome o = {0};
	struct strlist argv;
	char pidfile[160];

	snprintf(pidfile, sizeof(pidfile), "%s/pid", tmpdir);
	/* The hook exits at once but leaves a process holding the pipe: the
	 * result must still come (after a short grace), not wait 30 s. */
	argv = args("/bin/sh", "-c", "sleep 30 & echo $! > \"$1\"; exit 3", "sh", pidfile, NULL);
	start(LABEL, &argv, NULL, 60, &o);
	run_hooks(10);

	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o.r.exited, 1);
	ck_assert_int_eq(o.r.status, 3);
	ck_assert_int_eq(o.r.timed_out, 0);
	ck_assert_uint_eq(hook_running(), 0);
	kill(read_pid(pidfile), SIGKILL);
}
END_TEST

START_TEST(test_kill_all)
{
	struct outcome a = {0}, b = {0};
	struct strlist argv;

	argv = args("sleep", "60", NULL);
	start(LABEL, &argv, NULL, 100, &a);
	argv = args("/bin/sh", "-c", "sleep 60; exit 0", NULL);
	start(LABEL, &argv, NULL, 100, &b);
	ck_assert_uint_eq(hook_running(), 2);
	hook_kill_all();
	run_hooks(10);
	ck_assert_uint_eq(hook_running(), 0);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.r.exited, 0);
	ck_assert_int_eq(a.r.status, SIGKILL);
	ck_assert_int_eq(a.r.timed_out, 0);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(b.r.status, SIGKILL);
}
END_TEST

START_TEST(test_stdin_and_descriptors)
{
	struct outcome o = {0};
	struct strlist argv;
	struct rlimit rl;
	int fd, high = 1500;

	/* Descriptors of ours without CLOEXEC, low and past 1024, must not
	 * reach the hook. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur <= (rlim_t)high)
		high = 900; /* cannot go higher here: test what we can */
	fd = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, 57), 57);
	ck_assert_int_eq(dup2(fd, high), high);
	close(fd);
	argv = args("/bin/sh", "-c",
	    "[ -e /proc/$$/fd/57 ] && exit 3; [ -e /proc/$$/fd/$1 ] && exit 5; "
	    "if read x; then exit 4; fi; exit 0", "sh", high == 1500 ? "1500" : "900", NULL);
	start(LABEL, &argv, NULL, 10, &o);
	run_hooks(10);
	close(57);
	close(high);
	ck_assert_int_eq(o.calls, 1);
	ck_assert_int_eq(o.r.exited, 1);
	ck_assert_int_eq(o.r.status, 0);
}
END_TEST

START_TEST(test_input_on_stdin)
{
	struct outcome a = {0}, b = {0}, c = {0};
	struct strlist argv;
	char out[160], *got, *big;
	struct hook_run *h;
	size_t biglen = 1u << 20;

	signal(SIGPIPE, SIG_IGN);
	/* The input, whole, then EOF (cat ends). */
	snprintf(out, sizeof(out), "%s/stdin", tmpdir);
	argv = args("/bin/sh", "-c", "cat > \"$1\"", "sh", out, NULL);
	h = hook_start_input(ev_default_loop(0), LABEL, &argv, NULL, "To: a@b\n\nhello\n", 15,
	    10, done_cb, &a);
	ck_assert_ptr_nonnull(h);
	pending++;
	strlist_free(&argv);
	/* More than a pipe holds, to a program that never reads it. */
	big = xmalloc(biglen);
	memset(big, 'm', biglen);
	argv = args("/bin/sh", "-c", "exit 7", NULL);
	h = hook_start_input(ev_default_loop(0), LABEL, &argv, NULL, big, biglen, 10, done_cb,
	    &b);
	ck_assert_ptr_nonnull(h);
	pending++;
	strlist_free(&argv);
	/* And read whole: the byte count arrives. */
	snprintf(out + strlen(out), sizeof(out) - strlen(out), ".n");
	argv = args("/bin/sh", "-c", "wc -c > \"$1\"", "sh", out, NULL);
	h = hook_start_input(ev_default_loop(0), LABEL, &argv, NULL, big, biglen, 10, done_cb,
	    &c);
	ck_assert_ptr_nonnull(h);
	pending++;
	strlist_free(&argv);
	free(big);
	run_hooks(10);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.r.status, 0);
	snprintf(out, sizeof(out), "%s/stdin", tmpdir);
	got = slurp(out);
	ck_assert_str_eq(got, "To: a@b\n\nhello\n");
	free(got);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(b.r.exited, 1);
	ck_assert_int_eq(b.r.status, 7);
	ck_assert_int_eq(c.calls, 1);
	snprintf(out, sizeof(out), "%s/stdin.n", tmpdir);
	got = slurp(out);
	ck_assert_int_eq(strtol(got, NULL, 10), (long)biglen);
	free(got);
}
END_TEST

static Suite *
hooks_suite(void)
{
	Suite *s = suite_create("hooks");
	TCase *tc = tcase_create("hooks");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_argv_without_shell);
	tcase_add_test(tc, test_environment);
	tcase_add_test(tc, test_exit_status_and_running_count);
	tcase_add_test(tc, test_timeout_kills_process_group);
	tcase_add_test(tc, test_timeout_escalates_to_sigkill);
	tcase_add_test(tc, test_spawn_errors);
	tcase_add_test(tc, test_empty_argv);
	tcase_add_test(tc, test_output_logged_before_result);
	tcase_add_test(tc, test_output_capped);
	tcase_add_test(tc, test_long_line_split);
	tcase_add_test(tc, test_background_child_holding_output);
	tcase_add_test(tc, test_kill_all);
	tcase_add_test(tc, test_stdin_and_descriptors);
	tcase_add_test(tc, test_input_on_stdin);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(hooks_suite)
