/*
 * daemon_sweep.c - the temporary files of writes a crash (kill -9, power
 * loss) interrupted: harmless, but they pile up and a private key's may
 * hold key material.  Only our exact temporary names are removed
 * (fsutil.c's sweep_atomic_temps), and only with the state lock held
 * (store.c refuses a read-only store).
 *
 * A store of 10,000 certificates means 20,000 directory listings; done
 * before READY=1 they doubled the time to it (0.14 s to 0.29 s, the
 * bench's idle store).  So the daemon sweeps after READY, a few
 * directories per loop iteration from an ev_idle watcher, which libev runs
 * only when no other event is pending: a renewal or a scrape never waits
 * behind it.  That is safe while orders run: every atomic write of ours
 * goes from creating its temporary to the rename within one loop callback
 * (keys are generated in threads, but written from the loop), so between
 * two callbacks a temporary name on disk is always a crash's leftover; and
 * install_lineage() removes a stale live/.NAME.tmp itself before using it.
 */
#include <stdlib.h>

#include <ev.h>

#include "config.h"
#include "daemon_sweep.h"
#include "fsutil.h"
#include "install.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* Directories per idle callback: about a millisecond of work. */
#define SWEEP_BATCH 32

/*
 * Where the sweep is, holding no copy of what it walks (a list of 10,000
 * paths kept 1.5 MiB more resident after READY): the state directory
 * through store_walk (one open directory at a time), then each
 * certificate's archive by its index in the current configuration.
 */
struct daemon_sweep {
	struct ev_loop *loop;
	ev_idle idle;
	struct store_walk *walk;    /* NULL once walked (or a read-only store) */
	const struct config *cfg;
	size_t next_cert;
	bool archives;              /* false: not ours to sweep (read-only store) */
	unsigned removed;
	double began;
};

static void
sweep_report(unsigned n)
{
	if (n > 0)
		log_notice("removed %u temporary file%s left by an interrupted write", n,
		    n == 1 ? "" : "s");
}

/* One batch; true when there is nothing left. */
static bool
sweep_batch(struct daemon_sweep *s, size_t batch)
{
	size_t done = 0;
	const char *dir;

	while (done < batch && s->walk != NULL) {
		if ((dir = store_walk_next(s->walk)) == NULL) {
			store_walk_free(s->walk);
			s->walk = NULL;
			break;
		}
		s->removed += sweep_atomic_temps(dir);
		done++;
	}
	while (done < batch && s->archives && s->next_cert < s->cfg->ncerts) {
		const struct config_cert *c = &s->cfg->certs[s->next_cert++];

		s->removed += install_sweep_temps(c->output_dir, c->name);
		done++;
	}
	return s->walk == NULL && (!s->archives || s->next_cert >= s->cfg->ncerts);
}

static void
sweep_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct daemon_sweep *s = w->data;

	(void)revents;
	if (!sweep_batch(s, SWEEP_BATCH))
		return;
	ev_idle_stop(loop, w);
	sweep_report(s->removed);
	/* When the start's work is over (the idle benchmark counts wakeups
	 * from here). */
	log_info("sweep of interrupted writes done, %.1f s after it began",
	    ev_now(loop) - s->began);
}

static struct daemon_sweep *
sweep_new(const struct config *cfg, struct store *st)
{
	struct daemon_sweep *s = xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	s->walk = store_walk_new(st);
	/* The archives belong to the store's owner too: none without the
	 * lock. */
	s->archives = s->walk != NULL;
	return s;
}

struct daemon_sweep *
daemon_sweep_start(struct ev_loop *loop, const struct config *cfg, struct store *st)
{
	struct daemon_sweep *s = sweep_new(cfg, st);

	s->loop = loop;
	s->began = ev_now(loop);
	ev_idle_init(&s->idle, sweep_idle_cb);
	s->idle.data = s;
	ev_idle_start(loop, &s->idle);
	return s;
}

void
daemon_sweep_reconfigure(struct daemon_sweep *s, const struct config *cfg)
{
	if (s == NULL)
		return;
	s->cfg = cfg;
	/* Indexes of the old configuration mean nothing in the new one: start
	 * its archives again (sweeping one twice removes nothing twice). */
	s->next_cert = 0;
}

void
daemon_sweep_free(struct daemon_sweep *s)
{
	if (s == NULL)
		return;
	if (s->loop)
		ev_idle_stop(s->loop, &s->idle);
	store_walk_free(s->walk);
	free(s);
}

unsigned
daemon_sweep_now(const struct config *cfg, struct store *st)
{
	struct daemon_sweep *s = sweep_new(cfg, st);
	unsigned n;

	sweep_batch(s, (size_t)-1);
	n = s->removed;
	sweep_report(n);
	daemon_sweep_free(s);
	return n;
}
