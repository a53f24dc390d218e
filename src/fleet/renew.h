/*
 * renew.h - what happens to an issued certificate before it goes live:
 * the post-issuance check, installation, the state update, and the deploy
 * hook's environment.  Synchronous and loop-free, so it is testable alone.
 */
#ifndef CERTFLEET_RENEW_H
#define CERTFLEET_RENEW_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "crypto.h"
#include "store.h"

/*
 * Records in st (not saved) the certificate info describes as version of
 * c's lineage: names, key type and account as the inventory has them,
 * serial, validity and the RFC 9773 CertID.  Shared by installation and
 * adoption so both leave the same state.
 */
void renew_record(struct cert_state *st, const struct config_cert *c,
    const struct cert_info *info, int version);

/*
 * Checks chain_pem against key and the certificate's names, installs it
 * and records it in st (saved).  A certificate that fails the check is
 * kept under the store for inspection and never installed.  0 ok; -1 with
 * a reason in err when the certificate was rejected; -2 when it passed the
 * check but could not be installed (hold it: renew_hold).  On failure the
 * previous installation is untouched.  On success a held certificate of
 * c's is removed from the store (it is either this one or superseded).
 */
int renew_install(struct store *s, const struct config_cert *c, struct cert_state *st,
    const char *chain_pem, size_t chain_len, const privkey_t *key, char *err, size_t errlen);

/*
 * Holds an issued certificate that could not be installed (store_held_save)
 * and records it in st (held_serial, held_not_after, held_since; the caller
 * saves st).  0 ok, -1 with err when it could not be kept.
 */
int renew_hold(struct store *s, const struct config_cert *c, struct cert_state *st,
    const char *chain_pem, size_t chain_len, const privkey_t *key, char *err, size_t errlen);

/*
 * Whether a held certificate may still be installed for c instead of
 * ordering a new one: its key has the inventory's type, it covers exactly
 * the inventory's names and matches its key, and now is before its renewal
 * time.  false with the reason in why.
 */
bool renew_held_usable(const struct config_cert *c, const char *chain_pem, size_t chain_len,
    const privkey_t *key, time_t now, char *why, size_t whylen);

/* The deploy hook environment (RENEWED_LINEAGE, RENEWED_DOMAINS, CERTFLEET_*). */
void renew_hook_env(const struct config_cert *c, const struct cert_state *st,
    struct strlist *env);

/* The key currently installed for c (for reuse_key), or NULL. */
privkey_t *renew_installed_key(const struct config_cert *c);

#endif
