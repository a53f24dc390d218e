/*
 * daemon.c - wiring and lifecycle of certfleetd.
 *
 * Signals arrive as ev_signal watchers, so handlers run as ordinary loop
 * callbacks.  SIGHUP reloads all-or-nothing: the new inventory is parsed
 * and validated beside the old one and swapped in only if it is complete.
 * SIGTERM stops new work, gives requests in flight a grace period (their
 * state is persisted at every step, so anything cut short resumes on the
 * next start) and exits 0.
 */
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ev.h>

#include "acme.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "daemon_slots.h"
#include "daemon_sweep.h"
#include "daemon_metrics.h"
#include "dns01.h"
#include "fleet.h"
#include "hooks.h"
#include "http.h"
#include "http01.h"
#include "install.h"
#include "log.h"
#include "notifier.h"
#include "notify.h"
#include "progress.h"
#include "store.h"
#include "tlsalpn.h"
#include "util.h"
#include "workpool.h"

#define DRAIN_GRACE 20.0    /* seconds for requests in flight at SIGTERM */
#define KEYGEN_THREADS 2
#define DNS_THREADS 2
#define DNS01_DRAIN_MAX 60.0 /* seconds for dns-01 removals at exit */

typedef void (*daemon_reload_done_fn)(void *arg, int rc, const char *err);
struct reload_waiter;

struct daemon {
	const struct daemon_opts *opts;
	unsigned long long nofile;  /* soft RLIMIT_NOFILE after raising it (0: none) */
	struct ev_loop *loop;
	struct config *cfg;
	struct store *store;
	struct acme_env env;
	struct fleet *fleet;
	struct notifier *notifier;  /* NULL in --once runs */
	struct ctl_server *ctl;     /* NULL in --once runs or when it failed */
	struct ctl_env ctl_env;
	struct daemon_metrics *metrics;
	ev_signal sigterm, sigint, sighup;
	ev_timer watchdog;
	ev_timer grace;
	struct workpool *reload_pool;   /* the thread that parses reloads */
	struct workpool_job *reload;    /* the reload running, NULL: none */
	struct reload_waiter *reload_next; /* told at the end of the next reload */
	size_t reload_nnext;
	bool reload_again;              /* asked for while one ran */
	struct daemon_sweep *sweep; /* crash leftovers, swept after READY=1 */
	bool stopping;
	char *status_sent;          /* the last STATUS= sent */
};

static bool
needs_http01_server(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->ncerts; i++) {
		const struct config_cert *c = &cfg->certs[i];
		for (size_t k = 0; k < c->nchallenges; k++)
			if (c->challenges[k] == CHALLENGE_HTTP01 &&
			    c->http01_mode == HTTP01_STANDALONE)
				return true;
	}
	return false;
}

static bool
needs_tlsalpn_server(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->ncerts; i++)
		for (size_t k = 0; k < cfg->certs[i].nchallenges; k++)
			if (cfg->certs[i].challenges[k] == CHALLENGE_TLSALPN01)
				return true;
	return false;
}

/* STATUS= when it changed; with the watchdog's ping in the same datagram
 * when watchdog is set (one send a tick, none more while idle). */
static void
send_status(struct daemon *d, bool watchdog)
{
	char *s = fleet_status_line(d->fleet);
	bool same = d->status_sent != NULL && strcmp(s, d->status_sent) == 0;

	if (watchdog)
		notify_watchdog_status(same ? NULL : s);
	else if (!same)
		notify_status(s);
	if (same) {
		free(s);
	} else {
		free(d->status_sent);
		d->status_sent = s;
	}
}

static void
update_status(struct daemon *d)
{
	send_status(d, false);
}

/* (Re)binds the built-in http-01 responder when the inventory needs it. */
static int
setup_http01(struct daemon *d, const struct config *cfg, const struct config *old)
{
	char err[256];

	if (!needs_http01_server(cfg)) {
		http01_server_free(d->env.http01);
		d->env.http01 = NULL;
		return 0;
	}
	if (d->env.http01 && old && strcmp(old->http01_listen, cfg->http01_listen) == 0)
		return 0;
	if (d->env.http01 && d->fleet && fleet_busy(d->fleet)) {
		log_warn("http01_listen changed while orders are in flight; keeping %s until "
		    "the next reload", old->http01_listen);
		return 0;
	}
	http01_server_free(d->env.http01);
	d->env.http01 = http01_server_new(d->loop, cfg->http01_listen, err, sizeof(err));
	if (d->env.http01 == NULL) {
		log_err("http-01 responder: %s", err);
		return -1;
	}
	log_info("http-01 responder listening on %s", cfg->http01_listen);
	return 0;
}

/* (Re)binds the built-in tls-alpn-01 responder, as setup_http01 does. */
static int
setup_tlsalpn(struct daemon *d, const struct config *cfg, const struct config *old)
{
	char err[256];

	if (!needs_tlsalpn_server(cfg)) {
		tlsalpn_server_free(d->env.tlsalpn);
		d->env.tlsalpn = NULL;
		return 0;
	}
	if (d->env.tlsalpn && old && strcmp(old->tlsalpn01_listen, cfg->tlsalpn01_listen) == 0)
		return 0;
	if (d->env.tlsalpn && d->fleet && fleet_busy(d->fleet)) {
		log_warn("tlsalpn01_listen changed while orders are in flight; keeping %s until "
		    "the next reload", old->tlsalpn01_listen);
		return 0;
	}
	tlsalpn_server_free(d->env.tlsalpn);
	d->env.tlsalpn = tlsalpn_server_new(d->loop, cfg->tlsalpn01_listen, err, sizeof(err));
	if (d->env.tlsalpn == NULL) {
		log_err("tls-alpn-01 responder: %s", err);
		return -1;
	}
	log_info("tls-alpn-01 responder listening on %s", cfg->tlsalpn01_listen);
	return 0;
}

/* The settings the state machines read from the environment. */
static void
env_settings(struct acme_env *env, const struct config *cfg)
{
	env->hook_timeout = cfg->hook_timeout;
	env->dns_propagation_timeout = cfg->dns_propagation_timeout;
	env->dns_resolver = cfg->dns_resolver;
}

static void
on_fleet_idle(struct fleet *f, void *arg)
{
	struct daemon *d = arg;

	(void)f;
	update_status(d);
	/* Stopping: notifications still on their way get the grace period. */
	if (d->stopping && d->notifier && notifier_pending(d->notifier) > 0)
		return;
	if (d->opts->once || d->stopping)
		ev_break(d->loop, EVBREAK_ALL);
}

/* Stopping, and the last notification was delivered (or given up). */
static void
on_notifier_idle(void *arg)
{
	struct daemon *d = arg;

	if (!fleet_busy(d->fleet) && !fleet_leave(d->fleet))
		ev_break(d->loop, EVBREAK_ALL);
}

static void
grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	log_warn("grace period over; stopping with work in flight (it resumes on the next start)");
	hook_kill_all();
	ev_break(loop, EVBREAK_ALL);
}

static void
stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	bool notes;

	(void)revents;
	if (d->stopping) {
		log_notice("second signal: stopping now");
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	d->stopping = true;
	log_notice("%s received: finishing requests in flight", strsignal(w->signum));
	notify_stopping();
	fleet_drain(d->fleet);
	notes = d->notifier != NULL && notifier_drain(d->notifier, on_notifier_idle, d);
	/* Idle already: nothing comes back to the idle check but the pool's
	 * leave, when there is one to wait for. */
	if (!fleet_busy(d->fleet) && !notes && !fleet_leave(d->fleet)) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	ev_timer_init(&d->grace, grace_cb, DRAIN_GRACE, 0.);
	ev_timer_start(loop, &d->grace);
}

/* The control socket's settings from cfg. */
static void
ctl_opts(const struct config *cfg, struct ctl_server_opts *o)
{
	*o = (struct ctl_server_opts){0};
	o->path = cfg->control_socket;
	o->mode = cfg->control_socket_mode;
	o->owner = cfg->control_socket_owner;
	o->group = cfg->control_socket_group;
	o->admin_group = cfg->control_admin_group;
}

/*
 * Reloads run in two halves.  Parsing and validating the inventory (about
 * a second for 100,000 certificates: YAML, then a check of every entry)
 * runs on the reload thread, so the loop goes on answering challenges,
 * polls and scrapes meanwhile; what touches the running daemon (the
 * checks against it, the responders, the swap) runs on the loop once the
 * new configuration is complete.  All or nothing as before: nothing
 * changes until the whole new file has been validated.  A reload asked for
 * while one runs is done once more after it (the file may have changed
 * since it was read), for everyone who asked meanwhile.
 */
struct reload_waiter {
	daemon_reload_done_fn done;
	void *arg;
};

struct reload_run {
	struct daemon *d;
	char *why;
	char *path;
	struct config *ncfg;        /* parsed on the thread; NULL: failed (err) */
	char err[1024];
	struct reload_waiter *w;    /* told when this run ends */
	size_t nw;
	bool told;
};

static void reload_start(struct daemon *d, const char *why);

/* A configuration replaced by a reload, freed on the reload thread (arg:
 * a copy of the pointer, which config_free_release frees). */
static void
config_free_work(void *arg)
{
	struct config **cfg = arg;

	config_free(*cfg);
	*cfg = NULL;
}

static void
config_free_release(void *arg)
{
	config_free_work(arg);
	free(arg);
}

static void
reload_tell(struct reload_run *run, int rc, const char *err)
{
	if (run->told)
		return;
	run->told = true;
	for (size_t i = 0; i < run->nw; i++)
		run->w[i].done(run->w[i].arg, rc, err);
}

static void
reload_work(void *arg)
{
	struct reload_run *run = arg;

	if (config_load_ex(run->path, CONFIG_LOAD_HOST, &run->ncfg, run->err,
	    sizeof(run->err)) < 0)
		run->ncfg = NULL;
}

/* The second half, on the loop: 0 swapped in; -1 with the reason in err,
 * the running configuration kept. */
static int
reload_apply(struct daemon *d, struct config *ncfg, char *err, size_t errlen)
{
	struct config *old, **holder;
	struct ctl_server_opts co;
	char merr[256];
	double t0 = ev_time();

	if (strcmp(ncfg->state_dir, d->cfg->state_dir) != 0) {
		snprintf(err, errlen, "state_dir cannot change without a restart (%s -> %s)",
		    d->cfg->state_dir, ncfg->state_dir);
		log_err("reload failed, keeping the running configuration: %s", err);
		fleet_notify_reload_rejected(d->fleet, err);
		config_free(ncfg);
		return -1;
	}
	if (setup_http01(d, ncfg, d->cfg) < 0 || setup_tlsalpn(d, ncfg, d->cfg) < 0) {
		snprintf(err, errlen, "cannot set up a challenge responder (see the log)");
		log_err("reload failed, keeping the running configuration");
		fleet_notify_reload_rejected(d->fleet, err);
		config_free(ncfg);
		setup_http01(d, d->cfg, NULL);
		setup_tlsalpn(d, d->cfg, NULL);
		return -1;
	}
	/* Never fails a reload: a port that cannot be bound keeps the old one. */
	(void)daemon_metrics_configure(d->metrics, ncfg, d->cfg, !d->opts->once, merr,
	    sizeof(merr));
	ctl_opts(ncfg, &co);
	if (d->ctl && ctl_server_reconfigure(d->ctl, &co, err, errlen) < 0)
		log_err("control socket: %s (keeping the previous settings)", err);
	old = d->cfg;
	d->cfg = ncfg;
	d->env.finalize_timeout = ncfg->finalize_timeout;
	d->env.order_timeout = ncfg->order_timeout;
	env_settings(&d->env, ncfg);
	daemon_slots_apply(d->env.http, ncfg, d->nofile);
	fleet_reconfigure(d->fleet, ncfg);
	daemon_sweep_reconfigure(d->sweep, ncfg);
	/* Nothing points into it any more; freeing 100,000 entries is 25 ms
	 * the loop need not spend. */
	holder = xcalloc(1, sizeof(*holder));
	*holder = old;
	workpool_submit(d->reload_pool, config_free_work, NULL, config_free_release, holder);
	log_notice("reloaded: %zu certificates, %zu accounts (%.0f ms on the loop)", ncfg->ncerts,
	    ncfg->naccounts, (ev_time() - t0) * 1000.);
	return 0;
}

static void
reload_done(void *arg)
{
	struct reload_run *run = arg;
	struct daemon *d = run->d;
	struct config *ncfg = run->ncfg;
	int rc = -1;

	run->ncfg = NULL;
	d->reload = NULL;
	if (d->stopping) {
		config_free(ncfg);
		snprintf(run->err, sizeof(run->err), "the daemon is stopping");
	} else if (ncfg == NULL) {
		log_err("reload failed, keeping the running configuration: %s", run->err);
		fleet_notify_reload_rejected(d->fleet, run->err);
	} else {
		rc = reload_apply(d, ncfg, run->err, sizeof(run->err));
	}
	if (!d->stopping) {
		notify_ready();
		update_status(d);
	}
	daemon_metrics_reloaded(d->metrics, rc == 0);
	reload_tell(run, rc, rc == 0 ? NULL : run->err);
	if (d->reload_again && !d->stopping)
		reload_start(d, "reload asked for during the last one");
}

static void
reload_release(void *arg)
{
	struct reload_run *run = arg;

	/* Dropped at exit before its end. */
	reload_tell(run, -1, "the daemon is stopping");
	config_free(run->ncfg);
	free(run->w);
	free(run->why);
	free(run->path);
	free(run);
}

/* Starts a reload for everyone waiting for the next one. */
static void
reload_start(struct daemon *d, const char *why)
{
	struct reload_run *run = xcalloc(1, sizeof(*run));

	run->d = d;
	run->why = xstrdup(why);
	run->path = xstrdup(d->opts->config_path);
	run->w = d->reload_next;
	run->nw = d->reload_nnext;
	d->reload_next = NULL;
	d->reload_nnext = 0;
	d->reload_again = false;
	notify_reloading();
	log_notice("%s: reloading %s", why, d->opts->config_path);
	d->reload = workpool_submit(d->reload_pool, reload_work, reload_done, reload_release, run);
}

/*
 * Reloads the inventory, all or nothing: SIGHUP and certfleetctl reload.
 * done (when not NULL) is told the outcome: 0 done; -1 with the reason,
 * the running configuration kept.
 */
static void
daemon_reload(struct daemon *d, const char *why, daemon_reload_done_fn done, void *arg)
{
	if (d->opts->once || d->stopping) {
		if (done)
			done(arg, -1, "the daemon is stopping");
		return;
	}
	if (done) {
		d->reload_next = xrealloc(d->reload_next, (d->reload_nnext + 1) *
		    sizeof(*d->reload_next));
		d->reload_next[d->reload_nnext++] = (struct reload_waiter){ done, arg };
	}
	if (d->reload != NULL) {
		log_notice("%s: a reload is running; reloading once more after it", why);
		d->reload_again = true;
		return;
	}
	reload_start(d, why);
}

static void
reload_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	daemon_reload(d, "SIGHUP", NULL, NULL);
}

static void
ctl_reload(void *arg, daemon_reload_done_fn done, void *done_arg)
{
	daemon_reload(arg, "certfleetctl reload", done, done_arg);
}

/* The control socket; a daemon without one still renews, so a failure is
 * logged, not fatal. */
static void
setup_control(struct daemon *d)
{
	struct ctl_server_opts co;
	char err[512];

	d->ctl_env.fleet = d->fleet;
	d->ctl_env.reload = ctl_reload;
	d->ctl_env.reload_arg = d;
	d->ctl_env.config_path = d->opts->config_path;
	d->ctl_env.started = time(NULL);
	ctl_opts(d->cfg, &co);
	d->ctl = ctl_server_new(d->loop, &co, ctl_daemon_commands, &d->ctl_env, err,
	    sizeof(err));
	if (d->ctl == NULL)
		log_err("control socket: %s; certfleetctl cannot reach this daemon", err);
	else
		log_info("control socket %s", co.path);
}

static void
watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	send_status(d, true);
}

/* One line with what the run cost, for operators and the benchmark. */
static void
log_resources(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return;
	log_info("resources: cpu %.3fs user %.3fs system, peak RSS %ld KiB",
	    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, ru.ru_maxrss);
}

static void
daemon_cleanup(struct daemon *d)
{
	daemon_sweep_free(d->sweep);
	/* First: its last textfile shows the fleet as the run left it. */
	daemon_metrics_free(d->metrics);
	d->env.observe = NULL;
	fleet_free(d->fleet);
	free(d->status_sent);
	d->status_sent = NULL;
	notifier_free(d->notifier);
	/* Before the control socket: a reload's waiter is told it ends. */
	workpool_free(d->reload_pool);
	d->reload_pool = NULL;
	{
		struct reload_run waiting = { .d = d, .w = d->reload_next,
		    .nw = d->reload_nnext };
		reload_tell(&waiting, -1, "the daemon is stopping");
		free(d->reload_next);
		d->reload_next = NULL;
	}
	/* After the fleet: an operation's late reply must find its connection. */
	ctl_server_free(d->ctl);
	if (d->loop)
		dns01_drain(d->loop, d->cfg && d->cfg->hook_timeout < DNS01_DRAIN_MAX ?
		    (double)d->cfg->hook_timeout : DNS01_DRAIN_MAX);
	hook_kill_all();
	http01_server_free(d->env.http01);
	tlsalpn_server_free(d->env.tlsalpn);
	workpool_free(d->env.dns);
	workpool_free(d->env.keygen);
	http_client_free(d->env.http);
	store_close(d->store);
	config_free(d->cfg);
	if (d->loop) {
		ev_signal_stop(d->loop, &d->sigterm);
		ev_signal_stop(d->loop, &d->sigint);
		ev_signal_stop(d->loop, &d->sighup);
		ev_timer_stop(d->loop, &d->watchdog);
		ev_timer_stop(d->loop, &d->grace);
	}
}

int
daemon_run(const struct daemon_opts *o)
{
	struct daemon d = {0};
	struct fleet_stats st;
	struct progress *progress = NULL;
	char err[1024];
	uint64_t wd_usec;
	int rc = EXIT_RENEW_FAILED;

	d.opts = o;
	if (config_load_ex(o->config_path, CONFIG_LOAD_HOST |
	    (o->once ? CONFIG_LOAD_NO_CONTROL : 0), &d.cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return CONFIG_EXIT_INVALID;
	}
	if (store_open(d.cfg->state_dir, &d.store, err, sizeof(err)) < 0) {
		log_err("%s", err);
		config_free(d.cfg);
		return EXIT_UNAVAILABLE;
	}
	/* --once sweeps before it writes; the daemon after READY=1. */
	if (o->once)
		daemon_sweep_now(d.cfg, d.store);
	signal(SIGPIPE, SIG_IGN);
	/* Before any descriptor is opened for the orders: each HTTP/1.1
	 * request in flight may hold a connection. */
	d.nofile = daemon_raise_nofile();
	/* The default loop: hooks are reaped with ev_child, which needs it. */
	d.loop = ev_default_loop(EVFLAG_AUTO);
	d.env.loop = d.loop;
	d.env.finalize_timeout = d.cfg->finalize_timeout;
	d.env.order_timeout = d.cfg->order_timeout;
	d.env.http = http_client_new(d.loop);
	d.env.keygen = workpool_new(d.loop, KEYGEN_THREADS, "key generation");
	d.env.dns = workpool_new(d.loop, DNS_THREADS, "DNS check");
	if (!o->once)
		d.reload_pool = workpool_new(d.loop, 1, "configuration reload");
	env_settings(&d.env, d.cfg);
	d.metrics = daemon_metrics_new(d.loop);
	d.env.observe = daemon_metrics_observe;
	d.env.observe_arg = d.metrics;
	ev_timer_init(&d.grace, grace_cb, 0., 0.);
	if (d.env.http == NULL || d.env.keygen == NULL || d.env.dns == NULL ||
	    (!o->once && d.reload_pool == NULL)) {
		log_err("cannot set up the HTTP client, the key generation or the DNS threads");
		goto out;
	}
	daemon_slots_apply(d.env.http, d.cfg, d.nofile);
	if (setup_http01(&d, d.cfg, NULL) < 0 || setup_tlsalpn(&d, d.cfg, NULL) < 0) {
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	d.fleet = fleet_new(&d.env, d.store, d.cfg, o->once);
	if (fleet_load(d.fleet, err, sizeof(err)) < 0) {
		log_err("%s", err);
		goto out;
	}
	daemon_metrics_set_fleet(d.metrics, d.fleet);
	if (daemon_metrics_configure(d.metrics, d.cfg, NULL, !o->once, err, sizeof(err)) < 0) {
		log_err("metrics endpoint: %s", err);
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	if (o->once && o->force)
		fleet_force_all(d.fleet);
	fleet_set_idle_cb(d.fleet, on_fleet_idle, &d);
	if (o->once) {
		fleet_set_once_deadline(d.fleet, time(NULL) + (time_t)o->once_deadline);
	} else {
		d.notifier = notifier_new(d.loop, d.env.http);
		fleet_set_notifier(d.fleet, d.notifier);
		setup_control(&d);
	}

	ev_signal_init(&d.sigterm, stop_cb, SIGTERM);
	ev_signal_init(&d.sigint, stop_cb, SIGINT);
	ev_signal_init(&d.sighup, reload_cb, SIGHUP);
	d.sigterm.data = d.sigint.data = d.sighup.data = &d;
	ev_signal_start(d.loop, &d.sigterm);
	ev_signal_start(d.loop, &d.sigint);
	ev_signal_start(d.loop, &d.sighup);

	if ((wd_usec = notify_watchdog_usec()) > 0) {
		double every = (double)wd_usec / 2e6;
		ev_timer_init(&d.watchdog, watchdog_cb, every, every);
		d.watchdog.data = &d;
		ev_timer_start(d.loop, &d.watchdog);
	}
	log_notice("certfleetd %s: %zu certificate%s, %zu account%s, state in %s%s",
	    CERTFLEET_VERSION, d.cfg->ncerts, d.cfg->ncerts == 1 ? "" : "s", d.cfg->naccounts,
	    d.cfg->naccounts == 1 ? "" : "s", d.cfg->state_dir,
	    o->once ? " (one-shot run)" : "");
	fleet_start(d.fleet);
	notify_ready();
	update_status(&d);
	if (!o->once)
		d.sweep = daemon_sweep_start(d.loop, d.cfg, d.store);

	/* A terminal watching a one-shot run sees where it is; a log file or
	 * the journal gets only the lines. */
	if (o->once && isatty(STDERR_FILENO))
		progress = progress_new(d.loop, d.fleet);

	ev_run(d.loop, 0);

	progress_free(progress);
	fleet_get_stats(d.fleet, &st);
	log_resources();
	if (o->once) {
		char *failed = fleet_once_failures(d.fleet);
		/* The last line says what failed and why. */
		log_notice("done: %lu issued or renewed, %lu failed%s%s", st.succeeded, st.failed,
		    failed ? ": " : "", failed ? failed : "");
		free(failed);
		rc = (st.failed == 0 && !d.stopping) ? 0 : EXIT_RENEW_FAILED;
	} else {
		log_notice("stopped");
		rc = 0;
	}
out:
	daemon_cleanup(&d);
	return rc;
}
