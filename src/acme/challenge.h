/*
 * challenge.h - picks a challenge for an authorization and publishes the
 * response by whichever means the certificate's challenge settings
 * (struct challenge_settings, acme.h) say: http-01 (built-in responder or
 * webroot), dns-01 (a hook, then a propagation check) or tls-alpn-01
 * (built-in responder).  The order state machine knows nothing of how a
 * response is served.
 */
#ifndef CERTFLEET_CHALLENGE_H
#define CERTFLEET_CHALLENGE_H

#include <stdbool.h>
#include <stddef.h>

#include "acme.h"

struct challenge_solver;

/* The challenge types certfleet can solve. */
bool challenge_supported(enum challenge_type t);

/* Deep copy of src into dst (free with challenge_settings_clear). */
void challenge_settings_copy(struct challenge_settings *dst,
    const struct challenge_settings *src);
/* Frees what a copy owns and empties cs; NULL is fine. */
void challenge_settings_clear(struct challenge_settings *cs);

/*
 * The first challenge of the certificate's preference list that the
 * authorization offers and that certfleet can solve, or NULL with a reason
 * naming what was offered and what is configured.
 */
const struct acme_challenge *challenge_choose(const struct challenge_settings *cs,
    const struct acme_authz *a, char *err, size_t errlen);

/*
 * Called once the response is in place (ok) or could not be put in place
 * (error: one line).  Publication may take minutes for dns-01 (hook, then
 * DNS propagation); http-01 and tls-alpn-01 are ready at once.
 */
typedef void (*challenge_ready_cb)(bool ok, const char *error, void *arg);

/*
 * Starts publishing the response to ch for authorization a of certificate
 * cert_name (named in the dns-01 hook's environment and in log lines), as
 * cs says (only read during the call).  NULL with err
 * when it cannot even start (cb is not called).  Otherwise cb runs once,
 * on the loop and never from inside this call, unless the solver is
 * unpublished first.  Always undo with challenge_unpublish, whatever the
 * outcome.
 */
struct challenge_solver *challenge_publish(struct acme_env *env, const char *cert_name,
    const struct challenge_settings *cs, const struct acme_authz *a,
    const struct acme_challenge *ch, const privkey_t *account_key,
    challenge_ready_cb cb, void *arg, char *err, size_t errlen);

/* Removes what was published (for dns-01: the hook's remove, which
 * finishes in the background); cb is not called any more.  NULL is fine. */
void challenge_unpublish(struct challenge_solver *s);

#endif
