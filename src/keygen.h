/*
 * keygen.h - private key generation off the loop thread.
 *
 * A small pool of worker threads generates keys; completions are signalled
 * back to the loop with ev_async and the callback runs on the loop thread.
 */
#ifndef CERTFLEET_KEYGEN_H
#define CERTFLEET_KEYGEN_H

#include "crypto.h"

struct ev_loop;
struct keygen_pool;
struct keygen_job;

/* key is owned by the callback (NULL when generation failed). */
typedef void (*keygen_done_cb)(privkey_t *key, void *arg);

struct keygen_pool *keygen_pool_new(struct ev_loop *loop, int nthreads);
/* Waits for running jobs, drops queued ones (no callbacks), joins threads. */
void keygen_pool_free(struct keygen_pool *p);
struct keygen_job *keygen_submit(struct keygen_pool *p, enum key_type t,
    keygen_done_cb cb, void *arg);
/* Cancels: the callback will not be called; the key (if made) is freed. */
void keygen_cancel(struct keygen_job *j);

#endif
