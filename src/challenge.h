/*
 * challenge.h - picks a challenge for an authorization and publishes the
 * response by whichever means the certificate's inventory entry says
 * (built-in http-01 responder, webroot, ...).  The order state machine
 * knows nothing of how a response is served.
 */
#ifndef CERTFLEET_CHALLENGE_H
#define CERTFLEET_CHALLENGE_H

#include <stddef.h>

#include "acme.h"

struct challenge_solver;

/*
 * The first challenge of the certificate's preference list that the
 * authorization offers and that certfleet can solve, or NULL with a reason
 * naming what was offered and what is configured.
 */
const struct acme_challenge *challenge_choose(const struct config_cert *cert,
    const struct acme_authz *a, char *err, size_t errlen);

/* Publishes the response for ch (synchronously: token file or responder
 * table).  NULL with err on failure.  Undo with challenge_unpublish. */
struct challenge_solver *challenge_publish(struct acme_env *env,
    const struct config_cert *cert, const char *identifier,
    const struct acme_challenge *ch, const privkey_t *account_key,
    char *err, size_t errlen);
/* Removes what was published, whatever the outcome; NULL is fine. */
void challenge_unpublish(struct challenge_solver *s);

#endif
