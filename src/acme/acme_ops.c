/*
 * acme_ops.c - the ACME requests an operator asks for, beside orders:
 * revocation (RFC 8555 7.6), account key rollover (7.3.5) and account
 * deactivation (7.3.6).  What an order chooses against the CA's offer
 * (profile, preferred chain) is in acme_chain.c.
 *
 * Each request goes through acme_post(), so it shares the account's nonce
 * pool and badNonce retries; the callers (fleet_ops.c) own the sequencing
 * and what is persisted around it.
 */
#include <string.h>

#include "acme.h"
#include "b64.h"
#include "jws.h"
#include "util.h"

/* ---- revocation, key change, deactivation ---- */

bool
acme_revoke_reason_valid(int reason)
{
	/* RFC 5280 5.3.1: 7 is unused; RFC 8555 allows the rest. */
	return reason >= 0 && reason <= 10 && reason != 7;
}

/* The directory of a ready account, or NULL with err. */
static const struct acme_directory *
ready_directory(struct acme_account *a, char *err, size_t errlen)
{
	const struct acme_directory *d = acme_account_directory(a);

	if (d == NULL || acme_account_key(a) == NULL)
		snprintf(err, errlen, "account %s is not ready", acme_account_name(a));
	return d != NULL && acme_account_key(a) != NULL ? d : NULL;
}

struct acme_call *
acme_revoke(struct acme_account *a, const char *cert_pem, size_t len, const privkey_t *cert_key,
    int reason, acme_reply_cb cb, void *arg, char *err, size_t errlen)
{
	const struct acme_directory *d;
	struct acme_post_opts o = {0};
	struct acme_call *c = NULL;
	unsigned char *der = NULL;
	size_t derlen = 0;
	char *b64 = NULL, *payload = NULL;

	if ((d = ready_directory(a, err, errlen)) == NULL)
		return NULL;
	if (d->revoke_cert == NULL) {
		snprintf(err, errlen, "the directory of %s offers no revokeCert",
		    acme_account_name(a));
		return NULL;
	}
	if (!acme_revoke_reason_valid(reason)) {
		snprintf(err, errlen, "invalid revocation reason %d", reason);
		return NULL;
	}
	if (cert_pem_to_der(cert_pem, len, &der, &derlen) < 0) {
		snprintf(err, errlen, "cannot read the certificate to revoke");
		return NULL;
	}
	b64 = b64url_encode(der, derlen);
	payload = acme_json_revoke(b64, reason);
	o.url = d->revoke_cert;
	o.payload = payload;
	o.jwk_key = cert_key;
	if ((c = acme_post(a, &o, cb, arg)) == NULL)
		snprintf(err, errlen, "cannot send the revocation to %s", d->revoke_cert);
	free(der);
	free(b64);
	free(payload);
	return c;
}

struct acme_call *
acme_key_change(struct acme_account *a, acme_reply_cb cb, void *arg, char *err, size_t errlen)
{
	const struct acme_directory *d;
	const privkey_t *nk = acme_account_next_key(a);
	struct acme_post_opts o = {0};
	struct acme_call *c = NULL;
	char *old_jwk = NULL, *inner_payload = NULL, *inner = NULL;

	if ((d = ready_directory(a, err, errlen)) == NULL)
		return NULL;
	if (d->key_change == NULL || acme_account_url(a) == NULL || nk == NULL) {
		snprintf(err, errlen, "account %s: %s", acme_account_name(a),
		    d->key_change == NULL ? "the directory offers no keyChange" :
		    nk == NULL ? "no new key staged" : "not registered");
		return NULL;
	}
	/* The inner JWS proves possession of the new key: signed by it, its
	 * jwk embedded, the same url as the outer one and no nonce. */
	old_jwk = privkey_jwk_json(acme_account_key(a));
	inner_payload = acme_json_key_change(acme_account_url(a), old_jwk);
	inner = jws_sign(nk, NULL, NULL, d->key_change, inner_payload);
	if (old_jwk == NULL || inner == NULL) {
		snprintf(err, errlen, "account %s: cannot sign the key change",
		    acme_account_name(a));
		goto out;
	}
	o.url = d->key_change;
	o.payload = inner;
	if ((c = acme_post(a, &o, cb, arg)) == NULL)
		snprintf(err, errlen, "cannot send the key change to %s", d->key_change);
out:
	free(old_jwk);
	free(inner_payload);
	free(inner);
	return c;
}

struct acme_call *
acme_deactivate(struct acme_account *a, acme_reply_cb cb, void *arg, char *err, size_t errlen)
{
	struct acme_post_opts o = {0};
	struct acme_call *c;
	char *payload;

	if (ready_directory(a, err, errlen) == NULL)
		return NULL;
	if (acme_account_url(a) == NULL) {
		snprintf(err, errlen, "account %s is not registered", acme_account_name(a));
		return NULL;
	}
	payload = acme_json_deactivate();
	o.url = acme_account_url(a);
	o.payload = payload;
	if ((c = acme_post(a, &o, cb, arg)) == NULL)
		snprintf(err, errlen, "cannot send the deactivation to %s", o.url);
	free(payload);
	return c;
}
