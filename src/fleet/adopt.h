/*
 * adopt.h - certificates certfleet finds installed but has no state for:
 * a certbot lineage in output_dir (or certfleet's own after its state
 * directory was lost).
 */
#ifndef CERTFLEET_ADOPT_H
#define CERTFLEET_ADOPT_H

#include "config.h"
#include "store.h"

/*
 * When st records nothing installed and no order in flight, and
 * output_dir/live/NAME holds a certificate that matches the inventory
 * entry (its names exactly, its key type, not expired, its key), records it
 * in st and the store as version N of the lineage: the daemon then renews
 * it on its lifetime's schedule instead of ordering at once.  A certbot
 * lineage's renewal/NAME.conf is renamed (install_retire_certbot_conf).
 * Returns 1 adopted, 0 nothing to adopt (the reason is logged at info when
 * there was a certificate), -1 when the state could not be saved (logged).
 */
int adopt_lineage(struct store *s, const struct config_cert *c, struct cert_state *st);

#endif
