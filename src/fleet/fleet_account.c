/*
 * fleet_account.c - the fleet's side of an ACME account: the parameters
 * it is given from the inventory and the store it persists through (the
 * callbacks of struct acme_account_store over store.h's accounts/NAME/).
 *
 * certbot_account is handled here, not in the engine: when the store has
 * nothing for the account (no key, no staged key, no URL), the load copies
 * certbot's key and URL into the store, once (the key first, as for a
 * generated key, then the record), and returns them marked adopted_from,
 * so the account verifies them with onlyReturnExisting and never
 * registers.  From then on the account is certfleet's own and certbot's
 * directory is not read again.
 */
#include <string.h>

#include "certbot_account.h"
#include "fleet_account.h"
#include "log.h"
#include "util.h"

/* What the callbacks are given: the store and the inventory entry. */
struct fleet_account_rec {
	struct store *store;
	const struct config_account *cfg;
	char *where;                /* STATE/accounts/NAME, for messages */
	char *name;                 /* cfg's name and directory, kept: the budget is */
	char *directory;            /* saved as the account is freed, maybe after its
	                             * inventory */
};

void
fleet_account_params(const struct config_account *cfg, struct acme_account_params *p)
{
	memset(p, 0, sizeof(*p));
	p->name = cfg->name;
	p->directory_url = cfg->directory_url;
	p->ca_bundle = cfg->ca_bundle;
	p->contact = &cfg->contact;
	p->eab_kid = cfg->eab_kid;
	p->eab_hmac = cfg->eab_hmac;
	p->eab_hmac_len = cfg->eab_hmac_len;
	p->eab_alg = cfg->eab_alg;
	p->key_type = cfg->key_type;
	p->budget.new_orders_in_flight = cfg->new_orders_in_flight;
	p->budget.per_count = cfg->new_orders_per_count;
	p->budget.per_seconds = cfg->new_orders_per_seconds;
	p->budget.requests_per_second = cfg->requests_per_second;
}

/* certbot's key and URL into the store; out then holds them as a load
 * would have read them, marked adopted.  -1 with err. */
static int
store_adopt(struct fleet_account_rec *fa, struct acme_account_record *out, char *err,
    size_t errlen)
{
	const struct config_account *cfg = fa->cfg;
	struct account_record rec = {0};
	privkey_t *key = NULL;
	char *url = NULL, why[512];

	if (certbot_account_read(cfg->certbot_account, &key, &url, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "cannot adopt certbot's account: %s", why);
		return -1;
	}
	rec.url = url;
	rec.directory = cfg->directory_url;
	if (store_account_save_key(fa->store, cfg->name, key, err, errlen) < 0 ||
	    store_account_save(fa->store, cfg->name, &rec, err, errlen) < 0) {
		privkey_free(key);
		free(url);
		return -1;
	}
	log_notice("account %s: adopted certbot's account %s (%s key) from %s", cfg->name, url,
	    key_type_name(privkey_type(key)), cfg->certbot_account);
	out->key = key;
	out->url = url;
	out->directory = xstrdup(cfg->directory_url);
	out->adopted_from = xstrdup(cfg->certbot_account);
	return 0;
}

static int
store_load(void *arg, struct acme_account_record *out, char *err, size_t errlen)
{
	struct fleet_account_rec *fa = arg;
	struct account_record rec = {0};
	privkey_t *next = NULL;

	memset(out, 0, sizeof(*out));
	if (store_account_load(fa->store, fa->cfg->name, &rec, err, errlen) < 0 ||
	    store_account_load_next_key(fa->store, fa->cfg->name, &next, err, errlen) < 0) {
		account_record_free(&rec);
		return -1;
	}
	if (rec.key == NULL && next == NULL && rec.url == NULL && fa->cfg->certbot_account) {
		account_record_free(&rec);
		return store_adopt(fa, out, err, errlen);
	}
	out->key = rec.key;
	out->next_key = next;
	out->url = rec.url;
	out->directory = rec.directory;
	out->deactivated = rec.deactivated;
	return 0;
}

static int
store_save_key(void *arg, const privkey_t *key, char *err, size_t errlen)
{
	struct fleet_account_rec *fa = arg;

	return store_account_save_key(fa->store, fa->cfg->name, key, err, errlen);
}

static int
store_save(void *arg, const char *url, const char *directory, time_t deactivated, char *err,
    size_t errlen)
{
	struct fleet_account_rec *fa = arg;
	struct account_record rec = {0};

	rec.url = (char *)url;
	rec.directory = (char *)directory;
	rec.deactivated = deactivated;
	return store_account_save(fa->store, fa->cfg->name, &rec, err, errlen);
}

static int
store_stage_key(void *arg, const privkey_t *key, char *err, size_t errlen)
{
	struct fleet_account_rec *fa = arg;

	return store_account_save_next_key(fa->store, fa->cfg->name, key, err, errlen);
}

static int
store_promote_key(void *arg, char *err, size_t errlen)
{
	struct fleet_account_rec *fa = arg;

	return store_account_promote_next_key(fa->store, fa->cfg->name, err, errlen);
}

static void
store_drop_key(void *arg)
{
	struct fleet_account_rec *fa = arg;

	store_account_drop_next_key(fa->store, fa->cfg->name);
}

static int
store_load_budget(void *arg, struct acme_budget_record *out, char *err, size_t errlen)
{
	struct fleet_account_rec *fa = arg;

	char *dir = NULL;

	memset(out, 0, sizeof(*out));
	if (store_account_load_budget(fa->store, fa->name, &dir, &out->spent, &out->nspent,
	    &out->paused_until, err, errlen) < 0)
		return -1;
	/* A record from before the account moved to another CA (a reload or
	 * restart with a new directory) says nothing about this one's limits. */
	if (dir != NULL && strcmp(dir, fa->directory) != 0) {
		log_notice("account %s: its request budget was kept for %s, not %s; it starts "
		    "from nothing", fa->name, dir, fa->directory);
		free(out->spent);
		memset(out, 0, sizeof(*out));
	}
	free(dir);
	return 0;
}

static int
store_save_budget(void *arg, const struct acme_budget_record *rec, char *err, size_t errlen)
{
	struct fleet_account_rec *fa = arg;

	return store_account_save_budget(fa->store, fa->name, fa->directory, rec->spent,
	    rec->nspent, rec->paused_until, err, errlen);
}

static const char *
store_where(void *arg)
{
	struct fleet_account_rec *fa = arg;

	return fa->where;
}

static void
store_release(void *arg)
{
	struct fleet_account_rec *fa = arg;

	free(fa->where);
	free(fa->name);
	free(fa->directory);
	free(fa);
}

const struct acme_account_store fleet_account_store = {
	.load = store_load,
	.save_key = store_save_key,
	.save = store_save,
	.stage_key = store_stage_key,
	.promote_key = store_promote_key,
	.drop_key = store_drop_key,
	.load_budget = store_load_budget,
	.save_budget = store_save_budget,
	.where = store_where,
	.release = store_release,
};

void *
fleet_account_store_new(struct store *s, const struct config_account *cfg)
{
	struct fleet_account_rec *fa = xcalloc(1, sizeof(*fa));

	fa->store = s;
	fa->cfg = cfg;
	fa->where = xasprintf("%s/accounts/%s", store_dir(s), cfg->name);
	fa->name = xstrdup(cfg->name);
	fa->directory = xstrdup(cfg->directory_url);
	return fa;
}

struct acme_account *
fleet_account_new(struct acme_env *env, struct store *s, const struct config_account *cfg)
{
	struct acme_account_params p;

	fleet_account_params(cfg, &p);
	return acme_account_new(env, &p, &fleet_account_store, fleet_account_store_new(s, cfg));
}

void
fleet_account_set_config(struct acme_account *a, const struct config_account *cfg)
{
	struct fleet_account_rec *fa = acme_account_store_arg(a);
	struct acme_account_params p;

	fleet_account_params(cfg, &p);
	acme_account_set_params(a, &p);
	fa->cfg = cfg;
}
