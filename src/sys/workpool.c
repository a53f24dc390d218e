/*
 * workpool.c - worker threads for blocking work, completions on the loop.
 *
 * Jobs go into a queue (mutex + condition variable) served by a few
 * threads; finished jobs go into a done list and an ev_async wakes the
 * loop, which runs the completions.  ev_async_send is the only libev call
 * that is safe from another thread, so nothing else of the loop is
 * touched by a worker.  Completing only on the loop thread is what lets
 * the users (keygen.c, dns_probe.c) call back into the state machines
 * without locks.
 *
 * A cancelled job is only marked, never freed under a worker's feet: it
 * still goes through the queue or the worker that holds it and is
 * released by the loop when it comes back.
 */
#include <pthread.h>
#include <stdbool.h>

#include <ev.h>

#include "log.h"
#include "util.h"
#include "workpool.h"

struct workpool_job {
	struct workpool *p;
	workpool_fn work_fn;
	workpool_fn done_fn;
	workpool_fn release_fn;
	void *arg;
	bool cancelled;         /* under p->mu */
	struct workpool_job *next;
};

struct workpool {
	struct ev_loop *loop;
	ev_async async;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct workpool_job *queue, *queue_tail;
	struct workpool_job *done;
	pthread_t *threads;
	int nthreads;
	bool stop;
};

static void
job_release(struct workpool_job *j)
{
	if (j->release_fn)
		j->release_fn(j->arg);
	free(j);
}

static void *
worker(void *arg)
{
	struct workpool *p = arg;
	struct workpool_job *j;
	bool skip;

	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->stop && p->queue == NULL)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		j = p->queue;
		p->queue = j->next;
		if (p->queue == NULL)
			p->queue_tail = NULL;
		/* Read under the lock: workpool_cancel() writes it from the
		 * loop thread. */
		skip = j->cancelled;
		pthread_mutex_unlock(&p->mu);

		if (!skip && j->work_fn)
			j->work_fn(j->arg);

		pthread_mutex_lock(&p->mu);
		j->next = p->done;
		p->done = j;
		pthread_mutex_unlock(&p->mu);
		ev_async_send(p->loop, &p->async);
	}
}

static void
async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct workpool *p = w->data;
	struct workpool_job *done, *next;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&p->mu);
	done = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->mu);
	/* No worker holds these any more and cancel runs on this thread, so
	 * j->cancelled needs no lock here. */
	for (; done; done = next) {
		next = done->next;
		if (!done->cancelled && done->done_fn)
			done->done_fn(done->arg);
		job_release(done);
	}
}

struct workpool *
workpool_new(struct ev_loop *loop, int nthreads, const char *what)
{
	struct workpool *p = xcalloc(1, sizeof(*p));

	p->loop = loop;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	ev_async_init(&p->async, async_cb);
	p->async.data = p;
	ev_async_start(loop, &p->async);
	p->threads = xcalloc(nthreads > 0 ? (size_t)nthreads : 1, sizeof(pthread_t));
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
			log_err("cannot start a %s thread", what);
			break;
		}
		p->nthreads++;
	}
	if (p->nthreads == 0) {
		workpool_free(p);
		return NULL;
	}
	return p;
}

void
workpool_free(struct workpool *p)
{
	struct workpool_job *j, *next;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	/* After the joins no worker can touch a job or send on the async. */
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	for (j = p->queue; j; j = next) {
		next = j->next;
		job_release(j);
	}
	for (j = p->done; j; j = next) {
		next = j->next;
		job_release(j);
	}
	ev_async_stop(p->loop, &p->async);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p);
}

struct workpool_job *
workpool_submit(struct workpool *p, workpool_fn work_fn, workpool_fn done_fn,
    workpool_fn release_fn, void *arg)
{
	struct workpool_job *j = xcalloc(1, sizeof(*j));

	j->p = p;
	j->work_fn = work_fn;
	j->done_fn = done_fn;
	j->release_fn = release_fn;
	j->arg = arg;
	pthread_mutex_lock(&p->mu);
	if (p->queue_tail)
		p->queue_tail->next = j;
	else
		p->queue = j;
	p->queue_tail = j;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return j;
}

void
workpool_cancel(struct workpool_job *j)
{
	struct workpool *p;

	if (j == NULL)
		return;
	p = j->p;
	/* Under the lock: a worker may be taking the job off the queue right
	 * now and reads the flag to decide whether to run it. */
	pthread_mutex_lock(&p->mu);
	j->cancelled = true;
	pthread_mutex_unlock(&p->mu);
}

/* ---- parallel for ---- */

struct par_for {
	void (*fn)(void *arg, size_t i);
	void *arg;
	size_t n;
	size_t next;            /* the next index to hand out, under lock */
	pthread_mutex_t lock;
};

/* Indices are handed out in blocks: fewer lock round trips, and a block's
 * files sit close together on disk. */
#define PAR_BLOCK 256

static void *
par_worker(void *v)
{
	struct par_for *p = v;

	for (;;) {
		size_t from, to;

		pthread_mutex_lock(&p->lock);
		from = p->next;
		to = from + PAR_BLOCK < p->n ? from + PAR_BLOCK : p->n;
		p->next = to;
		pthread_mutex_unlock(&p->lock);
		if (from >= to)
			return NULL;
		for (size_t i = from; i < to; i++)
			p->fn(p->arg, i);
	}
}

void
workpool_for(int nthreads, size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
	struct par_for p = { .fn = fn, .arg = arg, .n = n, .next = 0 };
	pthread_t *t = NULL;
	int started = 0;

	pthread_mutex_init(&p.lock, NULL);
	if (nthreads > 1 && n > PAR_BLOCK) {
		t = xcalloc((size_t)nthreads - 1, sizeof(*t));
		for (int k = 0; k < nthreads - 1; k++) {
			if (pthread_create(&t[k], NULL, par_worker, &p) != 0)
				break;
			started++;
		}
	}
	par_worker(&p);
	for (int k = 0; k < started; k++)
		pthread_join(t[k], NULL);
	free(t);
	pthread_mutex_destroy(&p.lock);
}
