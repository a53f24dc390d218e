/*
 * fleet_report.c - status and show reports (see fleet_report.h).
 *
 * report_cert_json() is the one place that turns a certificate's inventory
 * entry and persisted state into JSON; the daemon adds what only it knows
 * (the in-flight state and the scheduled moment, jitter included), the
 * offline path estimates the moment with report_next_renewal().
 */
#include <string.h>

#include "crypto.h"
#include "fleet.h"
#include "fleet_internal.h"
#include "fleet_report.h"
#include "install.h"
#include "scheduler.h"
#include "util.h"

static cJSON *
strlist_json(const struct strlist *l)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < l->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(l->v[i]));
	return a;
}

static const char *
last_result(const struct cert_state *st)
{
	if (st->failures > 0)
		return "failed";
	if (st->last_success > 0 || st->version > 0)
		return "ok";
	return "never";
}

time_t
report_next_renewal(const struct config_cert *cc, const struct cert_state *st)
{
	char why[128];
	time_t t;

	if (sched_needs_issue(cc, st, why, sizeof(why)))
		t = time(NULL);
	else if (st->ari_start > 0 && st->ari_end > 0)
		t = st->ari_start;
	else
		t = sched_renewal_time(st->not_before, st->not_after, cc->renew_before);
	if (st->failures > 0 && st->next_attempt > t)
		t = st->next_attempt;
	return t;
}

static cJSON *
config_json(const struct config_cert *cc)
{
	cJSON *o = cJSON_CreateObject(), *ch = cJSON_CreateArray();
	char *live;

	for (size_t i = 0; i < cc->nchallenges; i++)
		cJSON_AddItemToArray(ch, cJSON_CreateString(challenge_type_name(cc->challenges[i])));
	cJSON_AddItemToObject(o, "challenges", ch);
	cJSON_AddStringToObject(o, "output_dir", cc->output_dir);
	live = install_live_path(cc->output_dir, cc->name, "fullchain.pem");
	cJSON_AddStringToObject(o, "fullchain", live);
	free(live);
	cJSON_AddBoolToObject(o, "reuse_key", cc->reuse_key);
	if (cc->renew_before > 0)
		cJSON_AddNumberToObject(o, "renew_before", (double)cc->renew_before);
	json_add_str(o, "profile", cc->profile);
	json_add_str(o, "preferred_chain", cc->preferred_chain);
	if (cc->webroot)
		json_add_str(o, "webroot", cc->webroot);
	json_add_str(o, "dns01_hook", cc->dns01_hook);
	if (cc->deploy_hook.n)
		cJSON_AddItemToObject(o, "deploy_hook", strlist_json(&cc->deploy_hook));
	return o;
}

cJSON *
report_cert_json(const struct config_cert *cc, const struct cert_state *st, const char *state,
    time_t next, bool detail)
{
	cJSON *o = cJSON_CreateObject();
	time_t now = time(NULL);
	char why[128];

	cJSON_AddStringToObject(o, "name", cc->name);
	cJSON_AddItemToObject(o, "names", strlist_json(&cc->domains));
	cJSON_AddStringToObject(o, "key_type", key_type_name(cc->key_type));
	cJSON_AddStringToObject(o, "account", cc->account_name);
	cJSON_AddStringToObject(o, "state", state);
	cJSON_AddBoolToObject(o, "installed", st->version > 0);
	if (st->version > 0)
		cJSON_AddNumberToObject(o, "version", st->version);
	json_add_str(o, "serial", st->serial);
	json_add_time(o, "not_before", st->not_before);
	json_add_time(o, "not_after", st->not_after);
	if (st->not_after > 0)
		cJSON_AddNumberToObject(o, "seconds_left", (double)(st->not_after - now));
	json_add_time(o, "next_renewal", next);
	if (sched_needs_issue(cc, st, why, sizeof(why)))
		cJSON_AddStringToObject(o, "due_reason", why);
	cJSON_AddStringToObject(o, "last_result", last_result(st));
	json_add_time(o, "last_success", st->last_success);
	json_add_time(o, "last_attempt", st->last_attempt);
	cJSON_AddNumberToObject(o, "failures", st->failures);
	json_add_str(o, "last_error", st->last_error);
	cJSON_AddBoolToObject(o, "revoked", st->revoked);
	if (st->held_serial) {
		cJSON *h = cJSON_AddObjectToObject(o, "held");
		cJSON_AddStringToObject(h, "status", "issued, not installed");
		cJSON_AddStringToObject(h, "serial", st->held_serial);
		json_add_time(h, "not_after", st->held_not_after);
		json_add_time(h, "since", st->held_since);
	}
	if (!detail)
		return o;

	/* show: everything else that is known. */
	if (st->names.n)
		cJSON_AddItemToObject(o, "installed_names", strlist_json(&st->names));
	if (st->key_type >= 0 && st->key_type < KEY_TYPE__MAX)
		cJSON_AddStringToObject(o, "installed_key_type",
		    key_type_name((enum key_type)st->key_type));
	json_add_str(o, "installed_account", st->account);
	json_add_str(o, "cert_id", st->cert_id);
	json_add_time(o, "next_attempt", st->next_attempt);
	if (st->order_url) {
		cJSON *ord = cJSON_AddObjectToObject(o, "order");
		cJSON_AddStringToObject(ord, "url", st->order_url);
		cJSON_AddBoolToObject(ord, "finalized", st->order_finalized);
		json_add_time(ord, "started", st->order_started);
	}
	if (st->ari_start || st->ari_checked) {
		cJSON *ari = cJSON_AddObjectToObject(o, "ari");
		json_add_time(ari, "start", st->ari_start);
		json_add_time(ari, "end", st->ari_end);
		json_add_time(ari, "checked", st->ari_checked);
	}
	if (st->last_problem) {
		cJSON *p = cJSON_Parse(st->last_problem);
		if (p)
			cJSON_AddItemToObject(o, "last_problem", p);
	}
	cJSON_AddItemToObject(o, "config", config_json(cc));
	return o;
}

/* ---- from the running fleet ---- */

static const char *
rt_state(const struct cert_rt *r)
{
	if (r->job)
		return "renewing";
	if (r->hook)
		return "deploy-hook";
	if (r->queued)
		return "queued";
	if (r->ari_req || r->ari_waiter)
		return "checking-ari";
	return "idle";
}

static cJSON *
rt_json(const struct cert_rt *r, bool detail)
{
	time_t next = r->next;

	/* Queued or renewing: its moment is now, not the stale timer. */
	if (r->job || r->queued)
		next = 0;
	return report_cert_json(r->cfg, &r->st, rt_state(r), next, detail);
}

cJSON *
fleet_status_json(struct fleet *f)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
	struct fleet_stats s;

	for (size_t i = 0; i < f->ncerts; i++)
		cJSON_AddItemToArray(a, rt_json(f->certs[i], false));
	cJSON_AddItemToObject(o, "certificates", a);
	fleet_get_stats(f, &s);
	cJSON_AddNumberToObject(o, "total", (double)s.total);
	cJSON_AddNumberToObject(o, "renewing", (double)s.renewing);
	cJSON_AddNumberToObject(o, "queued", (double)s.queued);
	cJSON_AddNumberToObject(o, "failing", (double)s.failing);
	cJSON_AddNumberToObject(o, "succeeded", (double)s.succeeded);
	cJSON_AddNumberToObject(o, "failed", (double)s.failed);
	return o;
}

cJSON *
fleet_cert_json(struct fleet *f, const char *name)
{
	for (size_t i = 0; i < f->ncerts; i++)
		if (strcmp(f->certs[i]->cfg->name, name) == 0)
			return rt_json(f->certs[i], true);
	return NULL;
}

bool
fleet_cert_known(const struct fleet *f, const char *name)
{
	for (size_t i = 0; i < f->ncerts; i++)
		if (strcmp(f->certs[i]->cfg->name, name) == 0)
			return true;
	return false;
}

void
fleet_cert_names(const struct fleet *f, struct strlist *out)
{
	for (size_t i = 0; i < f->ncerts; i++)
		strlist_add(out, f->certs[i]->cfg->name);
}

/* ---- from the store ---- */

static cJSON *
offline_cert(const struct config_cert *cc, struct store *s, bool detail)
{
	struct cert_state st;
	char err[512];
	cJSON *o;

	if (store_cert_load(s, cc->name, &st, err, sizeof(err)) < 0) {
		cert_state_init(&st);
		o = report_cert_json(cc, &st, "stopped", 0, detail);
		cJSON_AddStringToObject(o, "state_error", err);
		return o;
	}
	o = report_cert_json(cc, &st, st.order_url ? "interrupted-order" : "stopped",
	    report_next_renewal(cc, &st), detail);
	cert_state_free(&st);
	return o;
}

cJSON *
report_offline_status(const struct config *cfg, struct store *s)
{
	cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
	size_t failing = 0;

	for (size_t i = 0; i < cfg->ncerts; i++) {
		cJSON *c = offline_cert(&cfg->certs[i], s, false);
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "last_result")),
		    "failed") == 0)
			failing++;
		cJSON_AddItemToArray(a, c);
	}
	cJSON_AddItemToObject(o, "certificates", a);
	cJSON_AddNumberToObject(o, "total", (double)cfg->ncerts);
	cJSON_AddNumberToObject(o, "failing", (double)failing);
	return o;
}

cJSON *
report_offline_cert(const struct config *cfg, struct store *s, const char *name)
{
	const struct config_cert *cc = config_find_cert(cfg, name);

	return cc ? offline_cert(cc, s, true) : NULL;
}
