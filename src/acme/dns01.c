/*
 * dns01.c - a dns-01 record's life: hook add, propagation polling, hook
 * remove.
 *
 * A task is owned by its caller (challenge.c) until dns01_unpublish();
 * from then on it owns itself: it waits for a running "add" to finish,
 * runs "remove" and frees itself when that is done.  So a record is
 * removed whatever became of the order (validated, failed, cancelled by a
 * reload or a shutdown), and a hook that failed to add still gets its
 * remove call, since it may have added part of what it meant to.  All
 * tasks sit on one list so the daemon can give removals a little time at
 * shutdown (dns01_drain).
 */
#include <string.h>

#include <ev.h>

#include "dns01.h"
#include "dns_probe.h"
#include "hooks.h"
#include "log.h"
#include "util.h"
#include "workpool.h"

#define DEFAULT_POLL 5.0

enum dns01_state { D_ADDING, D_CHECKING, D_PUBLISHED, D_FAILED, D_REMOVING };

struct dns01_task {
	struct ev_loop *loop;
	struct workpool *probes;
	char *cert_name, *domain, *record, *value, *hook, *resolver;
	double hook_timeout, propagation_timeout, poll_interval;
	enum dns01_state state;
	dns01_done_cb cb;
	void *arg;
	bool detached;              /* dns01_unpublish() was called */
	bool add_running;
	bool remove_running;
	struct workpool_job *probe;
	ev_timer timer;             /* next check; deferred report or free */
	double started, deadline;
	char *error;                /* a failure not yet reported */
	struct dns01_task *prev, *next;
};

static struct dns01_task *tasks;
static unsigned ntasks;

unsigned
dns01_pending(void)
{
	return ntasks;
}

char *
dns01_record_name(const char *identifier)
{
	if (strncmp(identifier, "*.", 2) == 0)
		identifier += 2;
	return xasprintf("_acme-challenge.%s%s", identifier,
	    identifier[0] && identifier[strlen(identifier) - 1] == '.' ? "" : ".");
}

void
dns01_hook_argv(const char *hook, const char *action, const char *record, const char *value,
    struct strlist *argv)
{
	strlist_add(argv, hook);
	strlist_add(argv, action);
	strlist_add(argv, record);
	strlist_add(argv, value);
}

static void
task_free(struct dns01_task *t)
{
	ev_timer_stop(t->loop, &t->timer);
	workpool_cancel(t->probe);
	if (t->prev)
		t->prev->next = t->next;
	else
		tasks = t->next;
	if (t->next)
		t->next->prev = t->prev;
	ntasks--;
	free(t->cert_name);
	free(t->domain);
	free(t->record);
	free(t->value);
	free(t->hook);
	free(t->resolver);
	free(t->error);
	free(t);
}

static void
describe_hook(const struct hook_result *r, double timeout, char *buf, size_t len)
{
	if (r->spawn_error)
		snprintf(buf, len, "could not be executed: %s", strerror(r->spawn_error));
	else if (r->timed_out)
		snprintf(buf, len, "timed out after %.0fs", timeout);
	else if (r->exited)
		snprintf(buf, len, "exited with status %d", r->status);
	else
		snprintf(buf, len, "was killed by signal %d", r->status);
}

static bool
hook_ok(const struct hook_result *r)
{
	return r->exited && r->status == 0 && !r->timed_out && !r->spawn_error;
}

static struct hook_run *
run_hook(struct dns01_task *t, const char *action, hook_done_cb cb)
{
	struct strlist argv = {0}, env = {0};
	struct hook_run *h;
	char *label, *e;

	dns01_hook_argv(t->hook, action, t->record, t->value, &argv);
	e = xasprintf("CERTFLEET_NAME=%s", t->cert_name);
	strlist_add(&env, e);
	free(e);
	e = xasprintf("CERTFLEET_DOMAIN=%s", t->domain);
	strlist_add(&env, e);
	free(e);
	e = xasprintf("CERTFLEET_DNS_ACTION=%s", action);
	strlist_add(&env, e);
	free(e);
	e = xasprintf("CERTFLEET_DNS_RECORD=%s", t->record);
	strlist_add(&env, e);
	free(e);
	e = xasprintf("CERTFLEET_DNS_VALUE=%s", t->value);
	strlist_add(&env, e);
	free(e);
	label = xasprintf("%s: dns-01 hook %s %s", t->cert_name, action, t->record);
	h = hook_start(t->loop, label, &argv, &env, t->hook_timeout, cb, t);
	free(label);
	strlist_free(&argv);
	strlist_free(&env);
	return h;
}

/* Reports once to the owner, unless it has let go already. */
static void
report(struct dns01_task *t, bool ok, const char *error)
{
	dns01_done_cb cb = t->cb;

	if (t->detached || cb == NULL)
		return;
	t->cb = NULL;
	cb(ok, error, t->arg);
}

static void
remove_done(const struct hook_result *r, void *arg)
{
	struct dns01_task *t = arg;
	char why[128];

	t->remove_running = false;
	if (hook_ok(r)) {
		log_cert(LOG_INFO, t->cert_name, LOG_EVENT_NONE,
		    "dns-01 record %s removed", t->record);
	} else {
		describe_hook(r, t->hook_timeout, why, sizeof(why));
		log_cert(LOG_ERR, t->cert_name, LOG_EVENT_NONE,
		    "dns-01 hook %s remove %s %s; the TXT record may be left behind",
		    t->hook, t->record, why);
	}
	task_free(t);
}

static void
start_remove(struct dns01_task *t)
{
	t->state = D_REMOVING;
	ev_timer_stop(t->loop, &t->timer);
	if (run_hook(t, "remove", remove_done) != NULL) {
		t->remove_running = true;
		return;
	}
	log_cert(LOG_ERR, t->cert_name, LOG_EVENT_NONE,
	    "cannot run the dns-01 hook to remove %s", t->record);
	/* Freed from the loop, never under the caller of dns01_unpublish(). */
	ev_timer_set(&t->timer, 0., 0.);
	ev_timer_start(t->loop, &t->timer);
}

static void
fail_later(struct dns01_task *t, char *error)
{
	t->state = D_FAILED;
	free(t->error);
	t->error = error;
	ev_timer_stop(t->loop, &t->timer);
	ev_timer_set(&t->timer, 0., 0.);
	ev_timer_start(t->loop, &t->timer);
}

static void check(struct dns01_task *t);

static void
probe_done(const struct dns_probe_result *r, void *arg)
{
	struct dns01_task *t = arg;
	double now = ev_now(t->loop), left;

	t->probe = NULL;
	if (r->ok) {
		t->state = D_PUBLISHED;
		log_cert(LOG_INFO, t->cert_name, LOG_EVENT_NONE,
		    "dns-01 record %s visible on %s after %.0fs", t->record, r->detail, now - t->started);
		report(t, true, NULL);
		return;
	}
	left = t->deadline - now;
	if (left <= 0) {
		char *e = xasprintf("dns-01 record %s (value %s) not visible after %.0fs "
		    "(dns_propagation timeout): %s", t->record, t->value,
		    t->propagation_timeout, r->detail);
		t->state = D_FAILED;
		report(t, false, e);
		free(e);
		return;
	}
	log_cert(LOG_DEBUG, t->cert_name, LOG_EVENT_NONE,
	    "dns-01 record %s not there yet: %s", t->record,
	    r->detail);
	ev_timer_set(&t->timer, left < t->poll_interval ? left : t->poll_interval, 0.);
	ev_timer_start(t->loop, &t->timer);
}

static void
check(struct dns01_task *t)
{
	t->probe = dns_probe_submit(t->probes, t->record, t->value, t->resolver, probe_done, t);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dns01_task *t = w->data;
	char *e;

	(void)revents;
	ev_timer_stop(loop, w);
	switch (t->state) {
	case D_CHECKING:
		check(t);
		return;
	case D_FAILED:
		e = t->error;
		t->error = NULL;
		report(t, false, e ? e : "dns-01 failed");
		free(e);
		return;
	case D_REMOVING:
		if (!t->remove_running)
			task_free(t);
		return;
	default:
		return;
	}
}

static void
add_done(const struct hook_result *r, void *arg)
{
	struct dns01_task *t = arg;
	char why[128];
	char *e;

	t->add_running = false;
	if (t->detached) {
		start_remove(t);
		return;
	}
	if (!hook_ok(r)) {
		describe_hook(r, t->hook_timeout, why, sizeof(why));
		e = xasprintf("dns-01 hook %s add %s %s", t->hook, t->record, why);
		t->state = D_FAILED;
		report(t, false, e);
		free(e);
		return;
	}
	log_cert(LOG_INFO, t->cert_name, LOG_EVENT_NONE,
	    "dns-01 record %s added for %s; waiting until %s serve%s it",
	    t->record, t->domain, t->resolver ? t->resolver :
	    "its authoritative servers", t->resolver ? "s" : "");
	t->state = D_CHECKING;
	t->started = ev_now(t->loop);
	t->deadline = t->started + t->propagation_timeout;
	check(t);
}

struct dns01_task *
dns01_publish(struct ev_loop *loop, struct workpool *probes, const struct dns01_opts *o,
    dns01_done_cb cb, void *arg)
{
	struct dns01_task *t = xcalloc(1, sizeof(*t));

	t->loop = loop;
	t->probes = probes;
	t->cert_name = xstrdup(o->cert_name);
	t->domain = xstrdup(o->domain);
	t->record = xstrdup(o->record);
	t->value = xstrdup(o->value);
	t->hook = xstrdup(o->hook);
	t->resolver = xstrdup(o->resolver);
	t->hook_timeout = o->hook_timeout;
	t->propagation_timeout = o->propagation_timeout;
	t->poll_interval = o->poll_interval > 0 ? o->poll_interval : DEFAULT_POLL;
	t->cb = cb;
	t->arg = arg;
	ev_timer_init(&t->timer, timer_cb, 0., 0.);
	t->timer.data = t;
	t->next = tasks;
	if (tasks)
		tasks->prev = t;
	tasks = t;
	ntasks++;
	t->state = D_ADDING;
	if (run_hook(t, "add", add_done) != NULL)
		t->add_running = true;
	else
		fail_later(t, xasprintf("cannot run the dns-01 hook %s", t->hook));
	return t;
}

void
dns01_unpublish(struct dns01_task *t)
{
	if (t == NULL || t->detached)
		return;
	t->detached = true;
	t->cb = NULL;
	workpool_cancel(t->probe);
	t->probe = NULL;
	ev_timer_stop(t->loop, &t->timer);
	if (t->add_running)
		return; /* add_done() starts the removal */
	start_remove(t);
}

static void
drain_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	*(bool *)w->data = true;
}

void
dns01_drain(struct ev_loop *loop, double max_wait)
{
	ev_timer guard;
	bool expired = false;

	if (tasks == NULL)
		return;
	/* Whatever still has an owner is abandoned now: remove it too. */
	for (struct dns01_task *t = tasks; t; t = t->next)
		dns01_unpublish(t);
	log_info("removing %u dns-01 record%s before exiting (up to %.0fs)", ntasks,
	    ntasks == 1 ? "" : "s", max_wait);
	ev_timer_init(&guard, drain_timeout_cb, max_wait, 0.);
	guard.data = &expired;
	ev_timer_start(loop, &guard);
	while (tasks != NULL && !expired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &guard);
	for (struct dns01_task *t = tasks; t; t = t->next)
		log_cert(LOG_WARNING, t->cert_name, LOG_EVENT_NONE,
		    "dns-01 record %s (value %s) may be left behind: its removal did "
		    "not finish in time", t->record, t->value);
}
