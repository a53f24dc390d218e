/*
 * config_notify.h - the notify: settings (config_notify.c): the webhook,
 * the mailer and when to tell, at the top level, in defaults: and in each
 * certificate.  Beside config_files.h (it reads the webhook's secret file)
 * and below config_schema.c, which calls it (see config_tree.h).
 */
#ifndef CERTFLEET_CONFIG_NOTIFY_H
#define CERTFLEET_CONFIG_NOTIFY_H

#include "config_files.h"

/* The built-in policy: nothing to tell anyone, after_failures 3, 10 %. */
void cfg_notify_init(struct config_notify *n);
/* A deep copy of src into dst (dst's old members are not freed). */
void cfg_notify_copy(struct config_notify *dst, const struct config_notify *src);
/* Frees what n owns (the header wiped) and re-initialises it. */
void cfg_notify_free_members(struct config_notify *n);

/*
 * Applies the notify: mapping n over *out, key by key: a key given
 * replaces the inherited setting (webhook: and mail: as a whole; false
 * removes them), keys not given are kept; `notify: false` turns every
 * channel off.  0, or -1 with the error written (naming path).
 */
int cfg_notify(struct cfg_ctx *x, const struct ynode *n, const char *path,
    struct config_notify *out);

#endif
