/*
 * certbot_import.h - taking over from certbot: its renewal configuration
 * turned into a certfleet inventory (certfleetctl import-certbot).  The
 * daemon adopts certbot's accounts through certbot_account.h.
 *
 * Everything here only reads certbot's configuration directory; the
 * lineages themselves (live/NAME, archive/NAME) are taken over by
 * install.c and adopt.c.
 */
#ifndef CERTFLEET_CERTBOT_IMPORT_H
#define CERTFLEET_CERTBOT_IMPORT_H

#include <stddef.h>

#include "crypto.h"

struct certbot_import_opts {
	const char *config_dir;     /* certbot's --config-dir, e.g. /etc/letsencrypt */
	const char *ca_bundle;      /* written as every account's ca_bundle; NULL: none */
	const char *contact;        /* "mailto:..." for accounts certbot kept none for */
};

/*
 * Reads config_dir/renewal/ *.conf and builds an inventory: one account per
 * certbot account used (with certbot_account: pointing at it), one
 * certificate per lineage, and a "# " comment for every setting that could
 * not be mapped (a certificate that cannot be mapped at all is written
 * commented out, so the inventory still loads).  The names come from each
 * lineage's current certificate, read with the crypto module.  0 with
 * *yaml (caller frees) and the counts, -1 with err naming the file.
 */
int certbot_import(const struct certbot_import_opts *o, char **yaml, size_t *ncerts,
    size_t *naccounts, char *err, size_t errlen);

#endif
