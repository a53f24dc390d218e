/*
 * keygen.h - private key generation off the loop thread.
 *
 * Keys are generated on a workpool (workpool.h; the daemon makes one for
 * key generation) and the callback runs on the loop thread.  Cancel a job
 * with workpool_cancel(): the callback is then not called and a key made
 * anyway is freed.
 */
#ifndef CERTFLEET_KEYGEN_H
#define CERTFLEET_KEYGEN_H

#include "crypto.h"

struct workpool;
struct workpool_job;

/* key is owned by the callback (NULL when generation failed). */
typedef void (*keygen_done_cb)(privkey_t *key, void *arg);

struct workpool_job *keygen_submit(struct workpool *p, enum key_type t,
    keygen_done_cb cb, void *arg);

#endif
