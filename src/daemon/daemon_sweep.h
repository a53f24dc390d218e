/*
 * daemon_sweep.h - removing the temporary files of writes a crash
 * interrupted, in the background of a running daemon.
 */
#ifndef CERTFLEET_DAEMON_SWEEP_H
#define CERTFLEET_DAEMON_SWEEP_H

struct config;
struct ev_loop;
struct store;
struct daemon_sweep;

/*
 * Sweeps the state directory and every certificate's archive a few
 * directories per loop iteration, from an idle watcher (only when nothing
 * else is pending), and logs the count once at the end.  cfg and st must
 * outlive the sweep (see daemon_sweep_reconfigure for a reload).  Returns the sweep, freed by daemon_sweep_free()
 * (which stops it where it is: the next start finishes the job).
 */
struct daemon_sweep *daemon_sweep_start(struct ev_loop *loop, const struct config *cfg,
    struct store *st);
void daemon_sweep_free(struct daemon_sweep *s);
/* After a reload: cfg replaces the one the sweep was started with (which
 * is about to be freed); the archives are walked again from the first. */
void daemon_sweep_reconfigure(struct daemon_sweep *s, const struct config *cfg);

/* The same, all at once, before the caller writes anything (--once).
 * Returns how many it removed and logs the count. */
unsigned daemon_sweep_now(const struct config *cfg, struct store *st);

#endif
