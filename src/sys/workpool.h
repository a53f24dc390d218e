/*
 * workpool.h - a small pool of worker threads for blocking work (key
 * generation, DNS probes) whose completions come back to the event loop.
 *
 * work_fn runs on a worker thread; done_fn and release_fn run on the loop
 * thread (through an ev_async), never on a worker, so a completion can
 * touch loop-owned state without locks.
 */
#ifndef CERTFLEET_WORKPOOL_H
#define CERTFLEET_WORKPOOL_H

struct ev_loop;
struct workpool;
struct workpool_job;

typedef void (*workpool_fn)(void *arg);

/*
 * Starts up to nthreads threads ("cannot start a <what> thread" is logged
 * for one that fails).  NULL when none could be started.
 */
struct workpool *workpool_new(struct ev_loop *loop, int nthreads, const char *what);
/*
 * Waits for running jobs, drops queued and undelivered ones (release_fn
 * only, no done_fn), joins the threads.  Call from the loop thread.  NULL
 * is ignored.
 */
void workpool_free(struct workpool *p);

/*
 * Queues a job: work_fn(arg) on a worker thread, then done_fn(arg) on the
 * loop thread, then release_fn(arg) (either may be NULL).  release_fn is
 * called exactly once for every job, cancelled or dropped ones included;
 * it is the place to free arg.  The handle is valid until done_fn has run
 * or the job is cancelled.  Never NULL.
 */
struct workpool_job *workpool_submit(struct workpool *p, workpool_fn work_fn,
    workpool_fn done_fn, workpool_fn release_fn, void *arg);
/*
 * From the loop thread: done_fn will not be called, work_fn is skipped if
 * it has not started (a running one is never interrupted), release_fn runs
 * later, once no worker holds the job.  NULL is ignored.
 */
void workpool_cancel(struct workpool_job *j);

/*
 * A parallel for, outside any loop: fn(arg, i) for every i in [0, n),
 * spread over up to nthreads threads (the caller's among them), returning
 * when all are done.  fn must not touch loop-owned state; the start-up
 * reads of a large store use it before the loop runs.  Runs everything on
 * the caller's thread when threads cannot be started.
 */
void workpool_for(int nthreads, size_t n, void (*fn)(void *arg, size_t i), void *arg);

#endif
