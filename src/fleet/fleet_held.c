/*
 * fleet_held.c - certificates issued but not installed ("held"): kept with
 * their key when installation fails, installed by the next attempt instead
 * of a new order while still usable (else moved aside), and reconciled
 * with the state at load after a crash.
 */
#include <string.h>

#include "fleet_internal.h"
#include "log.h"
#include "renew.h"
#include "scheduler.h"
#include "util.h"

/*
 * Installation of an issued certificate failed: keep it with its key
 * ("issued, not installed") so the next attempt installs it instead of
 * ordering again.  Written before the order is forgotten; if it cannot be
 * kept, the order is kept instead and the next attempt downloads the same
 * certificate again.
 */
void
fleet_cert_hold(struct cert_rt *r, const struct order_result *res, const char *why)
{
	struct store *s = r->f->store;
	char err[512];

	if (renew_hold(s, r->cfg, &r->st, res->chain_pem, res->chain_len, res->key, err,
	    sizeof(err)) < 0) {
		cert_log(r, LOG_ERR, LOG_EVENT_NONE,
		    "%s; keeping the order %s so the next attempt downloads the same "
		    "certificate", err, r->st.order_url ? r->st.order_url : "");
		fleet_record_failure(r, why, NULL, 0, false);
		return;
	}
	cert_log(r, LOG_NOTICE, LOG_EVENT_NONE,
	    "certificate %s issued, not installed; held in %s/certs/%s/held.pem, "
	    "the next attempt installs it without a new order", r->st.held_serial,
	    store_dir(s), r->cfg->name);
	/* The held copy is on disk: only now may the order be forgotten. */
	store_order_forget(s, r->cfg->name, &r->st);
	fleet_record_failure(r, why, NULL, 0, false);
}

/*
 * A held certificate ("issued, not installed") is installed instead of
 * ordering a new one while it is usable; one that is not any more is moved
 * aside (never deleted) and false returned: then order.  true when the
 * attempt is over (fleet_settle_later called).
 */
bool
fleet_cert_install_held(struct cert_rt *r)
{
	struct fleet *f = r->f;
	struct store *s = f->store;
	char *chain = NULL, *moved = NULL, why[512], err[1024];
	privkey_t *key = NULL;
	size_t len = 0;
	bool done = false;
	int h, rc;

	if ((h = store_held_load(s, r->cfg->name, &chain, &len, &key)) == 0)
		goto out;
	if (h < 0)
		snprintf(why, sizeof(why), "it cannot be read");
	if (h < 0 || !renew_held_usable(r->cfg, chain, len, key, time(NULL), why,
	    sizeof(why))) {
		moved = store_held_move_aside(s, r->cfg->name);
		cert_log(r, LOG_NOTICE, LOG_EVENT_NONE,
		    "the held certificate cannot be used (%s); moved to %s; ordering "
		    "a new one", why, moved ? moved : "nowhere (see above)");
		free(r->st.held_serial);
		r->st.held_serial = NULL;
		r->st.held_not_after = r->st.held_since = 0;
		fleet_cert_save(r);
		goto out;
	}
	cert_log(r, LOG_INFO, LOG_EVENT_NONE,
	    "installing the held certificate (serial %s) instead of ordering a new one",
	    r->st.held_serial ? r->st.held_serial : "?");
	r->st.last_attempt = time(NULL);
	rc = renew_install(s, r->cfg, &r->st, chain, len, key, err, sizeof(err));
	done = true;
	if (rc == -1) {
		/* Rejected after all (a copy is under rejected-*): not worth
		 * holding any longer. */
		moved = store_held_move_aside(s, r->cfg->name);
		cert_log(r, LOG_ERR, LOG_EVENT_NONE, "%s; the held certificate is moved to %s", err,
		    moved ? moved : "nowhere (see above)");
		free(r->st.held_serial);
		r->st.held_serial = NULL;
		r->st.held_not_after = r->st.held_since = 0;
		fleet_record_failure(r, err, NULL, 0, false);
		fleet_batch_note(f, r->cfg->name, false);
		fleet_settle_later(r, false);
		goto out;
	}
	if (rc < 0) {
		cert_log(r, LOG_ERR, LOG_EVENT_NONE, "%s (the certificate stays held)", err);
		fleet_record_failure(r, err, NULL, 0, false);
		fleet_batch_note(f, r->cfg->name, false);
		fleet_settle_later(r, false);
		goto out;
	}
	r->failing = false;
	r->force = false;
	r->ari_next = r->st.cert_id ? time(NULL) + SCHED_ARI_POLL : 0;
	f->succeeded++;
	fleet_batch_note(f, r->cfg->name, true);
	fleet_settle_later(r, true);
out:
	free(chain);
	free(moved);
	privkey_free(key);
	return done;
}

/*
 * The held certificate on disk is what counts; the state's copy of its
 * serial (for status) is brought in line after a crash: a held copy of
 * what is already installed is dropped, one the state does not mention
 * yet is recorded.
 *
 * Only states that may have a held copy are looked at (at 100,000
 * certificates the open of an absent held.pem was a seventh of the start):
 * held.pem is written only while the state on disk records the order
 * (store_order_created comes first, and its failure ends the order), and
 * the order is forgotten on disk only together with recording the held
 * serial (fleet_cert_hold) or after installing (renew_install, which marks
 * held_check while a copy may remain).  A move aside renames the file
 * before the state forgets it.  No state file at all: looked at too.
 */
void
fleet_cert_load_held(struct cert_rt *r)
{
	struct store *s = r->f->store;
	struct cert_info info = {0};
	char *chain = NULL;
	privkey_t *key = NULL;
	size_t len = 0;
	int h;

	if (r->st.on_disk && r->st.held_serial == NULL && r->st.order_url == NULL &&
	    !r->st.held_check)
		return;
	if ((h = store_held_load(s, r->cfg->name, &chain, &len, &key)) == 0)
		r->st.held_check = false;
	if (h <= 0 || cert_info_from_pem(chain, len, &info) < 0) {
		if (chain == NULL && r->st.held_serial != NULL) {
			free(r->st.held_serial);
			r->st.held_serial = NULL;
			r->st.held_not_after = r->st.held_since = 0;
		}
		goto out;
	}
	if (r->st.serial != NULL && strcmp(r->st.serial, info.serial_hex) == 0) {
		cert_log(r, LOG_INFO, LOG_EVENT_NONE,
		    "the held certificate %s is the installed one; dropping the copy",
		    info.serial_hex);
		store_held_remove(s, r->cfg->name);
		r->st.held_check = false;
		free(r->st.held_serial);
		r->st.held_serial = NULL;
		r->st.held_not_after = r->st.held_since = 0;
		goto out;
	}
	if (r->st.held_serial == NULL || strcmp(r->st.held_serial, info.serial_hex) != 0) {
		free(r->st.held_serial);
		r->st.held_serial = xstrdup(info.serial_hex);
		r->st.held_not_after = info.not_after;
		if (r->st.held_since == 0)
			r->st.held_since = time(NULL);
	}
	cert_log(r, LOG_NOTICE, LOG_EVENT_NONE,
	    "holds certificate %s, issued but not installed; it is installed on "
	    "the next attempt", r->st.held_serial);
out:
	cert_info_free(&info);
	free(chain);
	privkey_free(key);
}
