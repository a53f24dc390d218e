/*
 * renew.c - from a downloaded chain to a live certificate.
 *
 * Order matters for crash safety: the material is checked, installed
 * (install_lineage switches live/NAME in one rename), and only then is the
 * state updated and the order forgotten.  A crash between install and the
 * state write leaves the order URL in the state: the restart downloads the
 * same certificate again and installs it as the next version, which is
 * harmless.
 *
 * A certificate that passed the check but could not be installed is held
 * (renew_hold: certs/NAME/held.pem and its key) before the order is
 * forgotten, and the next attempt installs it instead of ordering again
 * (renew_held_usable decides whether it still may be).  A crash between
 * the hold and the state write leaves both the held certificate and the
 * order: the held certificate wins.
 */
#include <string.h>

#include "b64.h"
#include "install.h"
#include "log.h"
#include "renew.h"
#include "scheduler.h"
#include "util.h"

void
renew_record(struct cert_state *st, const struct config_cert *c, const struct cert_info *info,
    int version)
{
	strlist_free(&st->names);
	for (size_t i = 0; i < c->domains.n; i++)
		strlist_add(&st->names, c->domains.v[i]);
	st->key_type = (int)c->key_type;
	free(st->account);
	st->account = xstrdup(c->account_name);
	st->version = version;
	free(st->serial);
	st->serial = xstrdup(info->serial_hex);
	st->not_before = info->not_before;
	st->not_after = info->not_after;
	/* The RFC 9773 CertID, the key of the renewalInfo look-ups. */
	free(st->cert_id);
	st->cert_id = NULL;
	if (info->aki != NULL && info->serial != NULL) {
		char *a = b64url_encode(info->aki, info->aki_len);
		char *b = b64url_encode(info->serial, info->serial_len);
		st->cert_id = xasprintf("%s.%s", a, b);
		free(a);
		free(b);
	}
}

int
renew_install(struct store *s, const struct config_cert *c, struct cert_state *st,
    const char *chain_pem, size_t chain_len, const privkey_t *key, char *err, size_t errlen)
{
	struct cert_info info = {0};
	struct install_opts io = {0};
	struct install_material m = {0};
	char *leaf = NULL, *chain = NULL, *full = NULL, *kpem = NULL, *kept;
	char why[512], serr[512];
	size_t klen = 0;
	int version = 0, rc = -1;

	if (cert_accept_issued(chain_pem, chain_len, key, &c->domains, &info, &leaf, &chain,
	    &full, why, sizeof(why)) < 0) {
		kept = store_keep_rejected(s, c->name, chain_pem, chain_len);
		snprintf(err, errlen, "issued certificate rejected: %s (kept in %s)", why,
		    kept ? kept : "nowhere: could not save it");
		free(kept);
		goto out;
	}
	if ((kpem = privkey_to_pem(key, &klen)) == NULL) {
		snprintf(err, errlen, "cannot encode the private key");
		goto out;
	}
	io.output_dir = c->output_dir;
	io.name = c->name;
	io.owner = c->owner;
	io.group = c->group;
	io.mode = c->mode;
	io.combined = c->combined;
	m.key_pem = kpem;
	m.key_len = klen;
	m.cert_pem = leaf;
	m.chain_pem = chain ? chain : "";
	m.fullchain_pem = full;
	if (install_lineage(&io, &m, &version, err, errlen) < 0) {
		rc = -2;
		goto out;
	}

	renew_record(st, c, &info, version);
	st->last_success = time(NULL);
	st->failures = 0;
	st->next_attempt = 0;
	st->revoked = false;
	st->ari_start = st->ari_end = st->ari_checked = 0;
	free(st->last_error);
	st->last_error = NULL;
	free(st->last_problem);
	st->last_problem = NULL;
	free(st->order_url);
	st->order_url = NULL;
	st->order_finalized = false;
	/* Recorded so that the next start looks for a copy left by a crash
	 * before store_held_remove (fleet_cert_load_held). */
	st->held_check = st->held_serial != NULL;
	free(st->held_serial);
	st->held_serial = NULL;
	st->held_not_after = st->held_since = 0;
	if (store_cert_save(s, c->name, st, serr, sizeof(serr)) < 0)
		log_cert(LOG_ERR, c->name, LOG_EVENT_NONE,
		    "installed version %d but %s", version, serr);
	store_order_key_remove(s, c->name);
	/* After the state: a crash before this line leaves a held copy of
	 * what is installed, which the next start recognises by its serial. */
	store_held_remove(s, c->name);
	st->held_check = false;
	{
		char na[32];
		time_format_rfc3339(info.not_after, na, sizeof(na));
		log_cert(LOG_NOTICE, c->name, LOG_EVENT_INSTALLED,
		    "installed certificate %s (serial %s, valid until %s) as version %d",
		    c->domains.v[0], info.serial_hex, na, version);
	}
	rc = 0;
out:
	cert_info_free(&info);
	free(leaf);
	free(chain);
	free(full);
	free_secret_str(kpem);
	return rc;
}

/* The post-issuance check, for its cert_info only. */
static int
accept_info(const struct config_cert *c, const char *chain_pem, size_t chain_len,
    const privkey_t *key, struct cert_info *info, char *err, size_t errlen)
{
	char *leaf = NULL, *chain = NULL, *full = NULL;
	int rc;

	rc = cert_accept_issued(chain_pem, chain_len, key, &c->domains, info, &leaf, &chain,
	    &full, err, errlen);
	free(leaf);
	free(chain);
	free(full);
	return rc;
}

int
renew_hold(struct store *s, const struct config_cert *c, struct cert_state *st,
    const char *chain_pem, size_t chain_len, const privkey_t *key, char *err, size_t errlen)
{
	struct cert_info info = {0};
	char why[512];
	int rc = -1;

	if (accept_info(c, chain_pem, chain_len, key, &info, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "cannot hold the certificate: %s", why);
		goto out;
	}
	if (store_held_save(s, c->name, chain_pem, chain_len, key, err, errlen) < 0)
		goto out;
	free(st->held_serial);
	st->held_serial = xstrdup(info.serial_hex);
	st->held_not_after = info.not_after;
	st->held_since = time(NULL);
	rc = 0;
out:
	cert_info_free(&info);
	return rc;
}

bool
renew_held_usable(const struct config_cert *c, const char *chain_pem, size_t chain_len,
    const privkey_t *key, time_t now, char *why, size_t whylen)
{
	struct cert_info info = {0};
	char err[512];
	bool ok = false;

	if (privkey_type(key) != c->key_type) {
		snprintf(why, whylen, "its key is %s, the inventory asks for %s",
		    key_type_name(privkey_type(key)), key_type_name(c->key_type));
		goto out;
	}
	if (accept_info(c, chain_pem, chain_len, key, &info, err, sizeof(err)) < 0) {
		snprintf(why, whylen, "%s", err);
		goto out;
	}
	/* Past its renewal moment it would be replaced at once: a new order
	 * is worth more than installing it now. */
	if (now >= sched_renewal_time(info.not_before, info.not_after, c->renew_before)) {
		char na[32];
		time_format_rfc3339(info.not_after, na, sizeof(na));
		snprintf(why, whylen, "serial %s is past its renewal time (valid until %s)",
		    info.serial_hex, na);
		goto out;
	}
	ok = true;
out:
	cert_info_free(&info);
	return ok;
}

void
renew_hook_env(const struct config_cert *c, const struct cert_state *st, struct strlist *env)
{
	char *lineage = install_live_path(c->output_dir, c->name, NULL);
	char *names = strlist_join(&c->domains, " ");
	char na[32];
	char *p;

	time_format_rfc3339(st->not_after, na, sizeof(na));
#define ADD(fmt, ...) do { p = xasprintf(fmt, __VA_ARGS__); strlist_add(env, p); free(p); } while (0)
	ADD("RENEWED_LINEAGE=%s", lineage);
	ADD("RENEWED_DOMAINS=%s", names);
	ADD("CERTFLEET_NAME=%s", c->name);
	ADD("CERTFLEET_CERT=%s/cert.pem", lineage);
	ADD("CERTFLEET_KEY=%s/privkey.pem", lineage);
	ADD("CERTFLEET_FULLCHAIN=%s/fullchain.pem", lineage);
	ADD("CERTFLEET_CHAIN=%s/chain.pem", lineage);
	if (c->combined)
		ADD("CERTFLEET_COMBINED=%s/combined.pem", lineage);
	ADD("CERTFLEET_SERIAL=%s", st->serial ? st->serial : "");
	ADD("CERTFLEET_NOT_AFTER=%s", na);
#undef ADD
	free(lineage);
	free(names);
}

privkey_t *
renew_installed_key(const struct config_cert *c)
{
	size_t len = 0;
	char *pem = install_read_live(c->output_dir, c->name, "privkey.pem", &len);
	privkey_t *k;

	if (pem == NULL)
		return NULL;
	k = privkey_from_pem(pem, len);
	free_secret(pem, len);
	if (k == NULL) {
		log_cert(LOG_WARNING, c->name, LOG_EVENT_NONE,
		    "reuse_key: cannot read %s/live/%s/privkey.pem; generating a new key",
		    c->output_dir, c->name);
		return NULL;
	}
	if (privkey_type(k) != c->key_type) {
		log_cert(LOG_INFO, c->name, LOG_EVENT_NONE,
		    "reuse_key: the installed key is %s, the inventory asks for %s; "
		    "generating a new key", key_type_name(privkey_type(k)),
		    key_type_name(c->key_type));
		privkey_free(k);
		return NULL;
	}
	return k;
}
