/*
 * adopt.c - takes over a certificate that is already installed when the
 * store knows nothing of it, typically certbot's lineage in
 * /etc/letsencrypt after `certfleetctl import-certbot`.
 *
 * Without this the first start would see "no certificate issued yet" and
 * order every certificate at once, throwing away valid ones (and, at a
 * paid CA, money).  Adoption only records: nothing on disk changes but
 * certbot's renewal/NAME.conf, renamed so that certbot's timer and
 * certfleet do not both renew the lineage.  The layout itself is converted
 * by the next install (install.c).
 */
#include <string.h>

#include "adopt.h"
#include "crypto.h"
#include "install.h"
#include "log.h"
#include "renew.h"
#include "util.h"

int
adopt_lineage(struct store *s, const struct config_cert *c, struct cert_state *st)
{
	struct cert_info info = {0};
	enum install_live_kind kind;
	privkey_t *key = NULL;
	char *full = NULL, *kpem = NULL;
	size_t flen = 0, klen = 0;
	char why[512], err[512], na[32];
	int version = 0, rc = 0;

	if (st->version != 0 || st->order_url != NULL)
		return 0;
	kind = install_live_kind(c->output_dir, c->name, &version, NULL, 0);
	if (kind != INSTALL_LIVE_CERTBOT && kind != INSTALL_LIVE_CERTFLEET)
		return 0;
	full = install_read_live(c->output_dir, c->name, "fullchain.pem", &flen);
	kpem = install_read_live(c->output_dir, c->name, "privkey.pem", &klen);
	if (full == NULL || kpem == NULL) {
		log_cert(LOG_INFO, c->name, LOG_EVENT_NONE,
		    "%s lineage in %s/live/%s is unreadable: ordering a new certificate",
		    install_live_kind_name(kind), c->output_dir, c->name);
		goto out;
	}
	if ((key = privkey_from_pem(kpem, klen)) == NULL) {
		log_cert(LOG_INFO, c->name, LOG_EVENT_NONE,
		    "the key of %s/live/%s cannot be used: ordering a new certificate",
		    c->output_dir, c->name);
		goto out;
	}
	if (privkey_type(key) != c->key_type) {
		log_cert(LOG_INFO, c->name, LOG_EVENT_NONE,
		    "%s/live/%s has a %s key, the inventory asks for %s: ordering a new "
		    "certificate", c->output_dir, c->name, key_type_name(privkey_type(key)),
		    key_type_name(c->key_type));
		goto out;
	}
	/* The same check as a freshly issued certificate passes: the names
	 * exactly, the key, the chain, not expired. */
	if (cert_check_issued(full, flen, key, &c->domains, &info, why, sizeof(why)) < 0) {
		log_cert(LOG_INFO, c->name, LOG_EVENT_NONE,
		    "not adopting %s/live/%s (%s): ordering a new certificate", c->output_dir, c->name, why);
		goto out;
	}
	renew_record(st, c, &info, version);
	if (store_cert_save(s, c->name, st, err, sizeof(err)) < 0) {
		log_cert(LOG_ERR, c->name, LOG_EVENT_NONE,
		    "adopting %s/live/%s: %s", c->output_dir, c->name, err);
		rc = -1;
		goto out;
	}
	time_format_rfc3339(info.not_after, na, sizeof(na));
	log_cert(LOG_NOTICE, c->name, LOG_EVENT_ADOPTED,
	    "adopted the %s lineage %s/live/%s as version %d (serial %s, valid until "
	    "%s)", install_live_kind_name(kind), c->output_dir, c->name, version,
	    info.serial_hex, na);
	if (kind == INSTALL_LIVE_CERTBOT &&
	    install_retire_certbot_conf(c->output_dir, c->name, err, sizeof(err)) < 0)
		log_cert(LOG_WARNING, c->name, LOG_EVENT_NONE, "%s", err);
	rc = 1;
out:
	cert_info_free(&info);
	privkey_free(key);
	free(full);
	free_secret(kpem, klen);
	return rc;
}
