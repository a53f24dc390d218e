/*
 * renew.h - what happens to an issued certificate before it goes live:
 * the post-issuance check, installation, the state update, and the deploy
 * hook's environment.  Synchronous and loop-free, so it is testable alone.
 */
#ifndef CERTFLEET_RENEW_H
#define CERTFLEET_RENEW_H

#include <stddef.h>

#include "config.h"
#include "crypto.h"
#include "store.h"

/*
 * Checks chain_pem against key and the certificate's names, installs it
 * and records it in st (saved).  A certificate that fails the check is
 * kept under the store for inspection and never installed.  0 ok, -1 with
 * a reason in err (the previous installation is untouched).
 */
int renew_install(struct store *s, const struct config_cert *c, struct cert_state *st,
    const char *chain_pem, size_t chain_len, const privkey_t *key, char *err, size_t errlen);

/* The deploy hook environment (RENEWED_LINEAGE, RENEWED_DOMAINS, CERTFLEET_*). */
void renew_hook_env(const struct config_cert *c, const struct cert_state *st,
    struct strlist *env);

/* The key currently installed for c (for reuse_key), or NULL. */
privkey_t *renew_installed_key(const struct config_cert *c);

#endif
