/*
 * hooks.c - hook programs run from the event loop.
 *
 * fork + execvp, no shell: the inventory gives argv.  The child gets its
 * own process group (so a timeout kills the whole tree), /dev/null as
 * stdin (or a pipe the loop writes the given input into, for the mailer), a pipe for stdout and stderr that the loop reads and logs line by
 * line, default signal dispositions and no inherited descriptors.  A
 * CLOEXEC pipe tells the parent why exec failed.  The result callback runs
 * once both the child has been reaped (ev_child) and its output has
 * reached EOF, so the output lines precede the result line in the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ev.h>

#include "hooks.h"
#include "log.h"
#include "util.h"

#define OUTPUT_MAX_LINES 100
#define LINE_MAX_LEN 1024
#define KILL_GRACE 5.0

extern char **environ;

struct hook_run {
	struct ev_loop *loop;
	char *label;
	pid_t pid;
	ev_child child;
	ev_io out;
	ev_timer timeout;
	int outfd;
	ev_io in;                   /* writing input to the child's stdin */
	int infd;                   /* -1: no input, or all written */
	char *input;
	size_t input_len, input_off;
	char line[LINE_MAX_LEN];
	size_t linelen;
	unsigned lines;
	bool exited_seen;
	bool eof;
	bool term_sent;
	struct hook_result res;
	hook_done_cb cb;
	void *arg;
	struct hook_run *prev, *next;
};

static struct hook_run *running;
static unsigned nrunning;

unsigned
hook_running(void)
{
	return nrunning;
}

/* Done with the child's stdin: all written, or it will not read more. */
static void
input_close(struct hook_run *h)
{
	if (h->infd < 0)
		return;
	ev_io_stop(h->loop, &h->in);
	close(h->infd);
	h->infd = -1;
}

static void
in_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct hook_run *h = w->data;
	ssize_t n;

	(void)loop;
	(void)revents;
	n = write(h->infd, h->input + h->input_off, h->input_len - h->input_off);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		/* EPIPE: it closed its stdin; what it does about it is its exit status. */
		log_debug("%s: stdin: %s", h->label, strerror(errno));
		input_close(h);
		return;
	}
	h->input_off += (size_t)n;
	if (h->input_off == h->input_len)
		input_close(h);
}

static void
hook_finish(struct hook_run *h)
{
	if (!h->exited_seen || !h->eof)
		return;
	input_close(h);
	ev_timer_stop(h->loop, &h->timeout);
	if (h->prev)
		h->prev->next = h->next;
	else
		running = h->next;
	if (h->next)
		h->next->prev = h->prev;
	nrunning--;
	h->cb(&h->res, h->arg);
	free(h->label);
	free(h->input);
	free(h);
}

static void
flush_line(struct hook_run *h)
{
	if (h->linelen == 0)
		return;
	h->line[h->linelen] = '\0';
	if (h->lines < OUTPUT_MAX_LINES)
		log_info("%s: %s", h->label, h->line);
	else if (h->lines == OUTPUT_MAX_LINES)
		log_info("%s: (further output not logged)", h->label);
	h->lines++;
	h->linelen = 0;
}

static void
out_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct hook_run *h = w->data;
	char buf[4096];
	ssize_t n;

	(void)revents;
	n = read(h->outfd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		flush_line(h);
		ev_io_stop(loop, w);
		close(h->outfd);
		h->outfd = -1;
		h->eof = true;
		hook_finish(h);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			flush_line(h);
		} else {
			if (h->linelen == sizeof(h->line) - 1)
				flush_line(h);
			h->line[h->linelen++] = buf[i] == '\r' ? ' ' : buf[i];
		}
	}
}

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct hook_run *h = w->data;

	(void)revents;
	ev_child_stop(loop, w);
	if (WIFEXITED(w->rstatus)) {
		h->res.exited = 1;
		h->res.status = WEXITSTATUS(w->rstatus);
	} else if (WIFSIGNALED(w->rstatus)) {
		h->res.status = WTERMSIG(w->rstatus);
	}
	h->exited_seen = true;
	/* A grandchild may keep the pipe open: don't wait for it forever. */
	if (!h->eof) {
		ev_timer_stop(loop, &h->timeout);
		ev_timer_set(&h->timeout, 2.0, 0.);
		ev_timer_start(loop, &h->timeout);
	}
	hook_finish(h);
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hook_run *h = w->data;

	(void)revents;
	if (h->exited_seen) {
		/* Exited, but something it started still holds the output pipe. */
		ev_io_stop(loop, &h->out);
		if (h->outfd >= 0)
			close(h->outfd);
		h->outfd = -1;
		h->eof = true;
		hook_finish(h);
		return;
	}
	if (!h->term_sent) {
		log_warn("%s: timed out, sending SIGTERM", h->label);
		h->res.timed_out = 1;
		h->term_sent = true;
		kill(-h->pid, SIGTERM);
		ev_timer_set(w, KILL_GRACE, 0.);
		ev_timer_start(loop, w);
		return;
	}
	log_warn("%s: still running, sending SIGKILL", h->label);
	kill(-h->pid, SIGKILL);
}

static void __attribute__((noreturn))
child_exec(const struct strlist *argv, char **envp, int infd, int outfd, int errpipe)
{
	sigset_t all;
	int nullfd, e;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	setpgid(0, 0);
	nullfd = infd >= 0 ? infd : open("/dev/null", O_RDONLY);
	if (nullfd < 0 || dup2(nullfd, 0) < 0 || dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0)
		goto fail;
	/* Keep 0-2 and the error pipe (CLOEXEC) only, however high the
	 * daemon's descriptors go (many connections reach past 1024). */
	if (errpipe < 3 || close_range(3, (unsigned)errpipe - 1, 0) < 0 ||
	    close_range((unsigned)errpipe + 1, ~0u, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);
		for (int fd = 3; fd < (max > 0 ? max : 1024); fd++)
			if (fd != errpipe)
				close(fd);
	}
	execvpe(argv->v[0], argv->v, envp);
fail:
	e = errno;
	if (write(errpipe, &e, sizeof(e)) < 0) {
		/* Nothing left to report it to. */
	}
	_exit(127);
}

struct hook_run *
hook_start(struct ev_loop *loop, const char *label, const struct strlist *argv,
    const struct strlist *env, double timeout, hook_done_cb cb, void *arg)
{
	return hook_start_input(loop, label, argv, env, NULL, 0, timeout, cb, arg);
}

struct hook_run *
hook_start_input(struct ev_loop *loop, const char *label, const struct strlist *argv,
    const struct strlist *env, const char *input, size_t len, double timeout,
    hook_done_cb cb, void *arg)
{
	struct hook_run *h = NULL;
	struct strlist envp = {0};
	int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1}, e = 0;
	ssize_t n;
	pid_t pid;

	if (argv->n == 0)
		return NULL;
	for (char **ep = environ; ep && *ep; ep++) {
		/* Variables we set replace inherited ones of the same name. */
		size_t klen = strcspn(*ep, "=");
		bool overridden = false;
		for (size_t i = 0; env && i < env->n; i++)
			if (strncmp(env->v[i], *ep, klen + 1) == 0)
				overridden = true;
		if (!overridden)
			strlist_add(&envp, *ep);
	}
	for (size_t i = 0; env && i < env->n; i++)
		strlist_add(&envp, env->v[i]);
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    (input != NULL && pipe2(inp, O_CLOEXEC) < 0)) {
		log_err("%s: pipe: %s", label, strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		log_err("%s: fork: %s", label, strerror(errno));
		goto fail;
	}
	if (pid == 0)
		child_exec(argv, envp.v, inp[0], outp[1], errp[1]);
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	if (inp[0] >= 0)
		close(inp[0]);
	inp[0] = -1;
	setpgid(pid, pid); /* also in the child: whichever runs first */

	h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->label = xstrdup(label);
	h->pid = pid;
	h->cb = cb;
	h->arg = arg;
	h->outfd = outp[0];
	fcntl(h->outfd, F_SETFL, O_NONBLOCK);
	h->infd = inp[1];
	inp[1] = -1;
	if (h->infd >= 0) {
		/* Written from the loop: a mailer may read slowly, or never. */
		fcntl(h->infd, F_SETFL, O_NONBLOCK);
		h->input = xmalloc(len > 0 ? len : 1);
		memcpy(h->input, input, len);
		h->input_len = len;
		ev_io_init(&h->in, in_cb, h->infd, EV_WRITE);
		h->in.data = h;
		if (len > 0)
			ev_io_start(loop, &h->in);
		else
			input_close(h);
	}
	/* The exec status: EOF (exec worked) or an errno.  This read is
	 * bounded by the child's exec, which does not block. */
	do {
		n = read(errp[0], &e, sizeof(e));
	} while (n < 0 && errno == EINTR);
	close(errp[0]);
	errp[0] = -1;
	if (n == sizeof(e)) {
		h->res.spawn_error = e;
		log_err("%s: cannot execute %s: %s", label, argv->v[0], strerror(e));
	}
	ev_child_init(&h->child, child_cb, pid, 0);
	h->child.data = h;
	ev_child_start(loop, &h->child);
	ev_io_init(&h->out, out_cb, h->outfd, EV_READ);
	h->out.data = h;
	ev_io_start(loop, &h->out);
	ev_timer_init(&h->timeout, timeout_cb, timeout > 0 ? timeout : 300., 0.);
	h->timeout.data = h;
	ev_timer_start(loop, &h->timeout);
	h->next = running;
	if (running)
		running->prev = h;
	running = h;
	nrunning++;
	strlist_free(&envp);
	return h;
fail:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
		if (inp[i] >= 0)
			close(inp[i]);
	}
	strlist_free(&envp);
	return NULL;
}

void
hook_kill_all(void)
{
	for (struct hook_run *h = running; h; h = h->next)
		kill(-h->pid, SIGKILL);
}
