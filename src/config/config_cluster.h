/*
 * config_cluster.h - the cluster: section (config_cluster.c): the etcd
 * cluster a pool of hosts coordinates through, this host's name in it and
 * the secret key private keys are sealed under.  Beside config_notify.h,
 * on config_files.h, below config_schema.c, which calls it (see
 * config_tree.h).
 */
#ifndef CERTFLEET_CONFIG_CLUSTER_H
#define CERTFLEET_CONFIG_CLUSTER_H

#include "config_files.h"

/*
 * Parses the cluster: mapping n into a new *out (NULL on error), reading
 * the password file and the secret key file now.  0, or -1 with the error
 * written (naming path).
 */
int cfg_cluster(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct config_cluster **out);
/*
 * shared: (an account's or a certificate's): in the pool, through etcd, or
 * this host's own.  true is refused when c has no cluster:.  0, or -1 with
 * the error written.
 */
int cfg_shared(struct cfg_ctx *x, const struct config *c, const struct ynode *v,
    const char *path, bool *out);
/* Frees cl, the password and the secret key wiped.  NULL is fine. */
void cfg_cluster_free(struct config_cluster *cl);

#endif
