/*
 * daemon_metrics.c - what certfleetd exports (see daemon_metrics.h).
 *
 * The ACME engine reports each request to the CA through acme_env.observe
 * (it knows nothing of metrics); this file counts them per account,
 * endpoint and status and times them per endpoint.  A scrape renders
 * everything on the loop into one buffer: the fleet's series
 * (fleet_metrics.c), these counters, and the process facts, read cheaply
 * at that moment (getrusage, /proc/self/statm).
 *
 * The textfile is rendered on a timer, never from a request or a
 * renewal: every TEXTFILE_INTERVAL seconds, and written (PATH.tmp, then
 * renamed over PATH, the textfile collector's rule) only when the text
 * differs from what was last written, so an idle fleet writes nothing.
 * The temporary file has a fixed name so a crash leaves at most one
 * behind, replaced by the next write, in a directory we do not own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "daemon_metrics.h"
#include "fleet_metrics.h"
#include "fsutil.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"

#define TEXTFILE_INTERVAL 5.0   /* seconds between renderings of the textfile */

/* Seconds: from a nonce fetch on loopback to a slow finalize. */
static const double duration_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120 };

struct daemon_metrics {
	struct ev_loop *loop;
	struct fleet *fleet;
	struct metrics_registry *reg;
	struct metrics_vec *requests;   /* {account, endpoint, code} */
	struct metrics_vec *durations;  /* {endpoint} */
	struct metrics_vec *bad_nonces; /* {account} */
	struct metrics_vec *reloads;    /* {result} */
	double start_time;
	struct metrics_server *server;
	char *listen;                   /* what server is bound to */
	char *textfile;
	ev_timer textfile_timer;
	uint64_t textfile_hash;         /* of the text last written; 0: none yet */
	bool textfile_failing;          /* the last write failed (logged once) */
};

/* ---- process facts ---- */

/* The process's start as a Unix time: /proc/self/stat's starttime (clock
 * ticks after boot) plus /proc/stat's btime; now when unreadable. */
static double
process_start_time(void)
{
	char buf[1024], *p;
	unsigned long long ticks = 0, btime = 0;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *fp;
	double t = now_wall();

	if ((fp = fopen("/proc/self/stat", "r")) == NULL)
		return t;
	p = fgets(buf, sizeof(buf), fp);
	fclose(fp);
	/* The command name may hold spaces and parentheses: fields are
	 * counted after the last ')'; starttime is field 22. */
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return t;
	p += 2;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (p == NULL || sscanf(p, "%llu", &ticks) != 1)
		return t;
	if ((fp = fopen("/proc/stat", "r")) == NULL)
		return t;
	while (fgets(buf, sizeof(buf), fp))
		if (sscanf(buf, "btime %llu", &btime) == 1)
			break;
	fclose(fp);
	if (btime == 0 || hz <= 0)
		return t;
	return (double)btime + (double)ticks / (double)hz;
}

static void
write_process(const struct daemon_metrics *m, struct buf *b)
{
	struct rusage ru;
	struct rlimit rl;
	unsigned long long vsz = 0, rss = 0;
	long page = sysconf(_SC_PAGESIZE);
	FILE *fp;
	DIR *dir;

	metrics_family(b, "process_start_time_seconds", METRICS_GAUGE,
	    "Start time of the process since unix epoch in seconds.");
	metrics_sample(b, "process_start_time_seconds", NULL, m->start_time);
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		metrics_family(b, "process_cpu_seconds_total", METRICS_COUNTER,
		    "Total user and system CPU time spent in seconds.");
		metrics_sample(b, "process_cpu_seconds_total", NULL,
		    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	}
	if ((fp = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(fp, "%llu %llu", &vsz, &rss) == 2 && page > 0) {
			metrics_family(b, "process_resident_memory_bytes", METRICS_GAUGE,
			    "Resident memory size in bytes.");
			metrics_sample(b, "process_resident_memory_bytes", NULL,
			    (double)(rss * (unsigned long long)page));
			metrics_family(b, "process_virtual_memory_bytes", METRICS_GAUGE,
			    "Virtual memory size in bytes.");
			metrics_sample(b, "process_virtual_memory_bytes", NULL,
			    (double)(vsz * (unsigned long long)page));
		}
		fclose(fp);
	}
	if ((dir = opendir("/proc/self/fd")) != NULL) {
		unsigned n = 0;
		struct dirent *de;

		while ((de = readdir(dir)) != NULL)
			if (de->d_name[0] != '.')
				n++;
		closedir(dir);
		metrics_family(b, "process_open_fds", METRICS_GAUGE,
		    "Number of open file descriptors.");
		metrics_sample(b, "process_open_fds", NULL, (double)(n > 0 ? n - 1 : 0));
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		metrics_family(b, "process_max_fds", METRICS_GAUGE,
		    "Maximum number of open file descriptors.");
		metrics_sample(b, "process_max_fds", NULL, (double)rl.rlim_cur);
	}
}

/* ---- rendering ---- */

void
daemon_metrics_render(struct daemon_metrics *m, struct buf *b, bool process)
{
	static const char *const version_kv[] = { "version", CERTFLEET_VERSION };

	metrics_family(b, "certfleet_build_info", METRICS_GAUGE,
	    "Always 1; the version of certfleetd in a label.");
	metrics_sample_kv(b, "certfleet_build_info", version_kv, 1, 1);
	if (m->fleet)
		fleet_metrics_write(m->fleet, b, time(NULL));
	metrics_registry_write(m->reg, b);
	if (process)
		write_process(m, b);
}

static void
render_cb(struct buf *b, void *arg)
{
	daemon_metrics_render(arg, b, true);
}

/* ---- the textfile ---- */

/* FNV-1a: enough to tell "changed" from "the same" between two renderings. */
static uint64_t
text_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

/* PATH.tmp written whole, then renamed over PATH.  No fsync: the text is
 * rewritten within seconds of any change, and an fsync could stall the
 * loop on a busy disk.  0 ok, -1 with err. */
static int
textfile_write(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	char *tmp = xasprintf("%s.tmp", path);
	size_t off = 0;
	int fd, rc = -1;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {
		/* The inventory check accepts a directory that can be created. */
		char *dir = xstrndup(path, (size_t)(strrchr(path, '/') - path));

		if (mkdir_p(*dir ? dir : "/", 0755) == 0)
			fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
		free(dir);
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	/* node_exporter runs as another user: readable whatever the umask. */
	(void)fchmod(fd, 0644);
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			goto out;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	rc = 0;
out:
	free(tmp);
	return rc;
}

/* Renders the textfile's text and writes it when it changed. */
static void
textfile_update(struct daemon_metrics *m)
{
	struct buf b = {0};
	uint64_t h;
	char err[512];

	if (m->textfile == NULL)
		return;
	daemon_metrics_render(m, &b, false);
	h = text_hash(b.data ? b.data : "", b.len);
	if (h == m->textfile_hash && !m->textfile_failing) {
		buf_free(&b);
		return;
	}
	if (textfile_write(m->textfile, b.data ? b.data : "", b.len, err, sizeof(err)) < 0) {
		/* Once per failing spell, not every few seconds. */
		if (!m->textfile_failing)
			log_err("metrics_textfile: %s (retrying every %.0fs)", err,
			    TEXTFILE_INTERVAL);
		m->textfile_failing = true;
	} else {
		if (m->textfile_failing)
			log_notice("metrics_textfile: %s written again", m->textfile);
		m->textfile_failing = false;
		m->textfile_hash = h;
	}
	buf_free(&b);
}

static void
textfile_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	textfile_update(w->data);
}

/* ---- life cycle ---- */

struct daemon_metrics *
daemon_metrics_new(struct ev_loop *loop)
{
	static const char *const req_labels[] = { "account", "endpoint", "code", NULL };
	static const char *const ep_labels[] = { "endpoint", NULL };
	static const char *const acct_labels[] = { "account", NULL };
	static const char *const result_labels[] = { "result", NULL };
	struct daemon_metrics *m = xcalloc(1, sizeof(*m));

	m->loop = loop;
	m->start_time = process_start_time();
	m->reg = metrics_registry_new();
	m->requests = metrics_registry_add(m->reg, metrics_vec_new(
	    "certfleet_acme_requests_total", METRICS_COUNTER,
	    "Requests to the CA, by account, endpoint and HTTP status (code 0: no answer).",
	    req_labels, NULL, 0));
	m->durations = metrics_registry_add(m->reg, metrics_vec_new(
	    "certfleet_acme_request_duration_seconds", METRICS_HISTOGRAM,
	    "Time from sending a request to the CA to its answer, by endpoint.",
	    ep_labels, duration_bounds, ARRAY_SIZE(duration_bounds)));
	m->bad_nonces = metrics_registry_add(m->reg, metrics_vec_new(
	    "certfleet_bad_nonce_retries_total", METRICS_COUNTER,
	    "Signed requests the CA answered badNonce and that were sent again, by account.",
	    acct_labels, NULL, 0));
	m->reloads = metrics_registry_add(m->reg, metrics_vec_new(
	    "certfleet_config_reloads_total", METRICS_COUNTER,
	    "Inventory reloads (SIGHUP, certfleetctl reload), by result.",
	    result_labels, NULL, 0));
	/* Both results exist from the start, so rate() and alerts see a 0. */
	{
		const char *ok[] = { "success" }, *bad[] = { "failure" };
		metrics_vec_add(m->reloads, ok, 0);
		metrics_vec_add(m->reloads, bad, 0);
	}
	ev_timer_init(&m->textfile_timer, textfile_timer_cb, TEXTFILE_INTERVAL,
	    TEXTFILE_INTERVAL);
	m->textfile_timer.data = m;
	return m;
}

void
daemon_metrics_free(struct daemon_metrics *m)
{
	if (m == NULL)
		return;
	ev_timer_stop(m->loop, &m->textfile_timer);
	textfile_update(m);
	metrics_server_free(m->server);
	metrics_registry_free(m->reg);
	free(m->listen);
	free(m->textfile);
	free(m);
}

void
daemon_metrics_set_fleet(struct daemon_metrics *m, struct fleet *f)
{
	m->fleet = f;
}

int
daemon_metrics_configure(struct daemon_metrics *m, const struct config *cfg,
    const struct config *old, bool serve, char *err, size_t errlen)
{
	const char *want = serve ? cfg->metrics_listen : NULL;

	if (want == NULL) {
		if (m->server)
			log_info("metrics endpoint on %s closed", m->listen);
		metrics_server_free(m->server);
		m->server = NULL;
		free(m->listen);
		m->listen = NULL;
	} else if (m->server == NULL || strcmp(m->listen, want) != 0) {
		struct metrics_server *s = metrics_server_new(m->loop, want, render_cb, m, err,
		    errlen);

		if (s == NULL && old == NULL)
			return -1;
		if (s == NULL) {
			log_err("metrics_listen: %s; %s", err, m->server ?
			    "keeping the previous endpoint" : "no metrics endpoint");
		} else {
			metrics_server_free(m->server);
			m->server = s;
			free(m->listen);
			m->listen = xstrdup(want);
			log_info("metrics endpoint listening on %s (GET /metrics)", want);
		}
	}
	/* Every account's retries exist from the start, at 0. */
	for (size_t i = 0; i < cfg->naccounts; i++) {
		const char *acct[] = { cfg->accounts[i].name };
		metrics_vec_add(m->bad_nonces, acct, 0);
	}
	if (cfg->metrics_textfile == NULL || m->textfile == NULL ||
	    strcmp(cfg->metrics_textfile, m->textfile) != 0) {
		free(m->textfile);
		m->textfile = xstrdup(cfg->metrics_textfile);
		m->textfile_hash = 0;
		m->textfile_failing = false;
	}
	if (m->textfile && !ev_is_active(&m->textfile_timer))
		ev_timer_start(m->loop, &m->textfile_timer);
	else if (m->textfile == NULL)
		ev_timer_stop(m->loop, &m->textfile_timer);
	return 0;
}

int
daemon_metrics_port(const struct daemon_metrics *m)
{
	return m->server ? metrics_server_port(m->server) : 0;
}

/* ---- what is counted ---- */

void
daemon_metrics_observe(const struct acme_request_event *e, void *arg)
{
	struct daemon_metrics *m = arg;
	char code[24];
	const char *req[3], *ep[1], *acct[1];

	snprintf(code, sizeof(code), "%ld", e->status > 0 ? e->status : 0);
	req[0] = e->account;
	req[1] = acme_endpoint_name(e->endpoint);
	req[2] = code;
	metrics_vec_add(m->requests, req, 1);
	ep[0] = req[1];
	if (e->status > 0)
		metrics_vec_observe(m->durations, ep, e->seconds);
	if (e->bad_nonce_retry) {
		acct[0] = e->account;
		metrics_vec_add(m->bad_nonces, acct, 1);
	}
}

void
daemon_metrics_reloaded(struct daemon_metrics *m, bool ok)
{
	const char *v[] = { ok ? "success" : "failure" };

	metrics_vec_add(m->reloads, v, 1);
}
