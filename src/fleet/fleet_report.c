/*
 * fleet_report.c - status and show reports (see fleet_report.h).
 *
 * report_cert_write() is the one place that turns a certificate's inventory
 * entry and persisted state into JSON, as text (what status lists;
 * report_cert_json() reads it back into a tree for show and the offline
 * path); the daemon adds what only it knows (the in-flight state and the
 * scheduled moment, jitter included), the offline path estimates the
 * moment with report_next_renewal().
 */
#include <string.h>

#include "crypto.h"
#include "fleet.h"
#include "fleet_internal.h"
#include "cluster.h"
#include "fleet_report.h"
#include "install.h"
#include "json.h"
#include "log.h"
#include "scheduler.h"
#include "util.h"

static struct json *
strlist_json(const struct strlist *l)
{
	struct json *a = json_new_array();

	for (size_t i = 0; i < l->n; i++)
		json_push(a, json_new_string(l->v[i]));
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

static struct json *
config_json(const struct config_cert *cc)
{
	struct json *o = json_new_object(), *ch = json_new_array();
	char *live;

	for (size_t i = 0; i < cc->nchallenges; i++)
		json_push(ch, json_new_string(challenge_type_name(cc->challenges[i])));
	json_set(o, "challenges", ch);
	json_set_str(o, "output_dir", cc->output_dir);
	live = install_live_path(cc->output_dir, cc->name, "fullchain.pem");
	json_set_str(o, "fullchain", live);
	free(live);
	json_set_bool(o, "reuse_key", cc->reuse_key);
	json_set_bool(o, "combined", cc->combined);
	if (cc->renew_before > 0)
		json_set_num(o, "renew_before", (double)cc->renew_before);
	json_set_str(o, "profile", cc->profile);
	json_set_str(o, "preferred_chain", cc->preferred_chain);
	if (cc->webroot)
		json_set_str(o, "webroot", cc->webroot);
	json_set_str(o, "dns01_hook", cc->dns01_hook);
	if (cc->deploy_hook.n)
		json_set(o, "deploy_hook", strlist_json(&cc->deploy_hook));
	return o;
}

/* The members every report has, into the object w is in. */
static void
report_cert_write(struct json_writer *w, const struct config_cert *cc,
    const struct cert_state *st, const char *state, time_t next, time_t now)
{
	char why[128];

	jw_str(w, "name", cc->name);
	jw_array_begin(w, "names");
	for (size_t i = 0; i < cc->domains.n; i++)
		jw_str(w, NULL, cc->domains.v[i]);
	jw_array_end(w);
	jw_str(w, "key_type", key_type_name(cc->key_type));
	jw_str(w, "account", cc->account_name);
	jw_str(w, "state", state);
	jw_bool(w, "installed", st->version > 0);
	if (st->version > 0)
		jw_num(w, "version", st->version);
	jw_str(w, "serial", st->serial);
	jw_time(w, "not_before", st->not_before);
	jw_time(w, "not_after", st->not_after);
	if (st->not_after > 0)
		jw_num(w, "seconds_left", (double)(st->not_after - now));
	jw_time(w, "next_renewal", next);
	if (sched_needs_issue(cc, st, why, sizeof(why)))
		jw_str(w, "due_reason", why);
	jw_str(w, "last_result", last_result(st));
	jw_time(w, "last_success", st->last_success);
	jw_time(w, "last_attempt", st->last_attempt);
	jw_num(w, "failures", st->failures);
	jw_str(w, "last_error", st->last_error);
	jw_bool(w, "revoked", st->revoked);
	if (st->held_serial) {
		jw_object_begin(w, "held");
		jw_str(w, "status", "issued, not installed");
		jw_str(w, "serial", st->held_serial);
		jw_time(w, "not_after", st->held_not_after);
		jw_time(w, "since", st->held_since);
		jw_object_end(w);
	}
}

struct json *
report_cert_json(const struct config_cert *cc, const struct cert_state *st, const char *state,
    time_t next, bool detail)
{
	struct json_writer w;
	struct buf b = {0};
	struct json *o;

	/* One list of the members, written as text (what status prints) and
	 * read back into a tree for those who add to it. */
	jw_init(&w, &b);
	jw_object_begin(&w, NULL);
	report_cert_write(&w, cc, st, state, next, time(NULL));
	jw_object_end(&w);
	o = json_parse(b.data, b.len, NULL);
	buf_free(&b);
	if (o == NULL) {
		log_msg(LOG_CRIT, "%s: the report's own JSON does not parse", cc->name);
		abort();
	}
	if (!detail)
		return o;

	/* show: everything else that is known. */
	if (st->names.n)
		json_set(o, "installed_names", strlist_json(&st->names));
	if (st->key_type >= 0 && st->key_type < KEY_TYPE__MAX)
		json_set_str(o, "installed_key_type",
		    key_type_name((enum key_type)st->key_type));
	json_set_str(o, "installed_account", st->account);
	json_set_str(o, "cert_id", st->cert_id);
	json_set_time(o, "next_attempt", st->next_attempt);
	if (st->order_url) {
		struct json *ord = json_set_object(o, "order");
		json_set_str(ord, "url", st->order_url);
		json_set_bool(ord, "finalized", st->order_finalized);
		json_set_time(ord, "started", st->order_started);
	}
	if (st->ari_start || st->ari_checked) {
		struct json *ari = json_set_object(o, "ari");
		json_set_time(ari, "start", st->ari_start);
		json_set_time(ari, "end", st->ari_end);
		json_set_time(ari, "checked", st->ari_checked);
	}
	/* What the notifications told (fleet_notify.c), while it lasts. */
	if (st->notified_failed || st->notified_expiring) {
		struct json *nt = json_set_object(o, "notified");
		json_set_time(nt, "renewal_failed", st->notified_failed);
		json_set_time(nt, "expiring", st->notified_expiring);
		json_set_time(nt, "last", st->notified_last);
	}
	if (st->last_problem) {
		struct json *p = json_parse(st->last_problem, strlen(st->last_problem), NULL);
		if (p)
			json_set(o, "last_problem", p);
	}
	json_set(o, "config", config_json(cc));
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

const char *
report_phase_text(const struct order_progress *p, char *buf, size_t len)
{
	switch (p->state) {
	case ORDER_WAIT_ACCOUNT:
		snprintf(buf, len, "waiting for the account");
		break;
	case ORDER_AUTHORIZE:
		if (p->identifier && p->challenge_type)
			snprintf(buf, len, "validating %s by %s", p->identifier, p->challenge_type);
		else if (p->identifier)
			snprintf(buf, len, "validating %s", p->identifier);
		else
			snprintf(buf, len, "validating");
		break;
	case ORDER_BUDGET:
		snprintf(buf, len, "waiting for the account's newOrder budget");
		break;
	case ORDER_FINALIZE:
		snprintf(buf, len, "finalizing");
		break;
	case ORDER_POLL:
		/* Before the finalize it waits for the order to become ready. */
		snprintf(buf, len, "%s", p->finalize_sent ? "finalizing" : "ordering");
		break;
	case ORDER_DOWNLOAD:
		snprintf(buf, len, "downloading");
		break;
	case ORDER_DONE:
		snprintf(buf, len, "installing");
		break;
	case ORDER_INIT:
	case ORDER_KEYGEN:
	case ORDER_NEW_ORDER:
	case ORDER_RESUME:
	case ORDER_FAILED:
	case ORDER_STATE__MAX:
	default:
		snprintf(buf, len, "ordering");
		break;
	}
	return buf;
}

/* What r is doing, when in flight: false when it is not; else the phase's
 * text (in buf) and since when. */
static bool
rt_phase(const struct cert_rt *r, char *buf, size_t len, const char **phase, time_t *since)
{
	struct order_progress p;

	if (r->job) {
		r->f->order_ops->progress(r->job, &p);
		*phase = report_phase_text(&p, buf, len);
		*since = p.since;
	} else if (r->hook) {
		*phase = "hook";
		*since = r->hook_since;
	} else if (r->queued) {
		*phase = "queued";
		*since = r->queued_since;
	} else {
		return false;
	}
	return true;
}

/* Queued or renewing: its moment is now, not the stale timer. */
static time_t
rt_next(const struct cert_rt *r)
{
	return r->job || r->queued ? 0 : r->next;
}

static struct json *
rt_json(const struct cert_rt *r, bool detail)
{
	struct json *o;
	const char *phase;
	char buf[512];
	time_t since;

	o = report_cert_json(r->cfg, &r->st, rt_state(r), rt_next(r), detail);
	if (rt_phase(r, buf, sizeof(buf), &phase, &since)) {
		json_set_str(o, "phase", phase);
		json_set_time(o, "phase_since", since);
	}
	if (r->f->cluster != NULL)
		cluster_cert_json(r->f->cluster, r, o);
	return o;
}

/* rt_json(r, false) printed into w without a tree (what status lists). */
static void
rt_write(struct json_writer *w, const struct cert_rt *r, time_t now)
{
	const char *phase;
	char buf[512];
	time_t since;

	jw_object_begin(w, NULL);
	report_cert_write(w, r->cfg, &r->st, rt_state(r), rt_next(r), now);
	if (rt_phase(r, buf, sizeof(buf), &phase, &since)) {
		jw_str(w, "phase", phase);
		jw_time(w, "phase_since", since);
	}
	jw_object_end(w);
}

/* The members after the list: the counts. */
static void
status_counts(struct fleet *f, struct json *o)
{
	struct fleet_stats s;

	fleet_get_stats(f, &s);
	json_set_num(o, "total", (double)s.total);
	json_set_num(o, "renewing", (double)s.renewing);
	json_set_num(o, "queued", (double)s.queued);
	json_set_num(o, "failing", (double)s.failing);
	json_set_num(o, "succeeded", (double)s.succeeded);
	json_set_num(o, "failed", (double)s.failed);
	json_set(o, "budgets", fleet_budgets_json(f));
}

struct json *
fleet_status_json(struct fleet *f)
{
	struct json *o = json_new_object(), *a = json_new_array();

	for (size_t i = 0; i < f->ncerts; i++)
		json_push(a, rt_json(f->certs[i], false));
	json_set(o, "certificates", a);
	status_counts(f, o);
	return o;
}

/*
 * The same text as json_print(fleet_status_json()) with extra's members
 * after the counts, written straight into b: at 100,000 certificates the
 * whole tree was two million nodes and hundreds of megabytes, and even a
 * small tree per certificate, printed and freed, cost 0.9 s of the loop.
 * A pool member's certificates carry the pool's members too
 * (cluster_cert_json), added to a tree each.
 */
void
fleet_status_print(struct fleet *f, struct json *extra, struct buf *b)
{
	struct json *tail = json_new_object();
	struct json_writer w;
	time_t now = time(NULL);
	size_t mark;

	jw_init(&w, b);
	jw_object_begin(&w, NULL);
	jw_array_begin(&w, "certificates");
	for (size_t i = 0; i < f->ncerts; i++) {
		struct json *c;

		if (f->cluster == NULL) {
			rt_write(&w, f->certs[i], now);
			continue;
		}
		c = rt_json(f->certs[i], false);
		jw_json(&w, NULL, c);
		json_free(c);
	}
	jw_array_end(&w);
	status_counts(f, tail);
	json_merge(tail, extra);
	/* The tail object's members, without its braces, after a comma. */
	mark = b->len;
	json_print_append(tail, b);
	b->data[mark] = ',';
	json_free(tail);
}

struct json *
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

static struct json *
offline_cert(const struct config_cert *cc, struct store *s, bool detail)
{
	struct cert_state st;
	char err[512];
	struct json *o;

	if (store_cert_load(s, cc->name, &st, err, sizeof(err)) < 0) {
		cert_state_init(&st);
		o = report_cert_json(cc, &st, "stopped", 0, detail);
		json_set_str(o, "state_error", err);
		return o;
	}
	o = report_cert_json(cc, &st, st.order_url ? "interrupted-order" : "stopped",
	    report_next_renewal(cc, &st), detail);
	cert_state_free(&st);
	return o;
}

struct json *
report_offline_status(const struct config *cfg, struct store *s)
{
	struct json *o = json_new_object(), *a = json_new_array();
	size_t failing = 0;

	for (size_t i = 0; i < cfg->ncerts; i++) {
		struct json *c = offline_cert(&cfg->certs[i], s, false);
		if (strcmp(json_get_str(c, "last_result"),
		    "failed") == 0)
			failing++;
		json_push(a, c);
	}
	json_set(o, "certificates", a);
	json_set_num(o, "total", (double)cfg->ncerts);
	json_set_num(o, "failing", (double)failing);
	return o;
}

struct json *
report_offline_cert(const struct config *cfg, struct store *s, const char *name)
{
	const struct config_cert *cc = config_find_cert(cfg, name);

	return cc ? offline_cert(cc, s, true) : NULL;
}
