/*
 * fleet_metrics.c - the fleet's part of /metrics (see fleet_metrics.h).
 *
 * A scrape of a fleet of 10,000 certificates writes six series per
 * certificate.  Each certificate's label set (name, account, key_type) is
 * rendered once per scrape into one scratch buffer and copied into each
 * family's lines, so the cost is a few allocations per scrape, not per
 * series, and the text is built in the caller's single buffer.  Series
 * without a value (a certificate never issued has no expiry) are left out
 * rather than written as 0, which would read as "expired in 1970".
 */
#include <string.h>
#include <strings.h>

#include <ev.h>

#include "cluster.h"
#include "crypto.h"
#include "fleet_internal.h"
#include "fleet_metrics.h"
#include "metrics.h"
#include "scheduler.h"

static const char *const hook_names[FLEET_HOOK__MAX] = {
	[FLEET_HOOK_DEPLOY] = "deploy",
	[FLEET_HOOK_POST] = "post",
};

bool
fleet_metrics_ready(const struct config_cert *c, const struct cert_state *st, time_t now)
{
	char why[128];
	bool same = c->domains.n == st->names.n;

	if (st->version == 0 || st->not_after <= now || st->revoked)
		return false;
	/* Names are stored as the inventory lists them: compare in order
	 * first, and only sort (sched_needs_issue allocates) when that
	 * fails. */
	for (size_t i = 0; same && i < c->domains.n; i++)
		same = strcasecmp(c->domains.v[i], st->names.v[i]) == 0;
	if (same)
		return st->key_type == (int)c->key_type && st->account != NULL &&
		    strcmp(st->account, c->account_name) == 0;
	return !sched_needs_issue(c, st, why, sizeof(why));
}

/* The moment shown as the next attempt: the scheduled one, or, while an
 * attempt is queued or running, when it began (0: none). */
static time_t
renewal_moment(const struct cert_rt *r)
{
	bool busy = r->job || r->hook || r->queued || ev_is_active(&r->settle);

	if (busy)
		return r->st.last_attempt > 0 ? r->st.last_attempt : r->next;
	return r->next;
}

enum cert_series {
	CS_EXPIRATION,
	CS_NOT_BEFORE,
	CS_RENEWAL,
	CS_LAST_SUCCESS,
	CS_READY,
	CS_FAILURES,
	CS__MAX
};

static const struct {
	const char *name;
	const char *help;
} cert_families[CS__MAX] = {
	[CS_EXPIRATION] = { "certfleet_certificate_expiration_timestamp_seconds",
	    "The installed certificate's notAfter, as a Unix time." },
	[CS_NOT_BEFORE] = { "certfleet_certificate_not_before_timestamp_seconds",
	    "The installed certificate's notBefore, as a Unix time." },
	[CS_RENEWAL] = { "certfleet_certificate_renewal_timestamp_seconds",
	    "The next scheduled renewal attempt (the start of the one in flight), as a "
	    "Unix time." },
	[CS_LAST_SUCCESS] = { "certfleet_certificate_last_success_timestamp_seconds",
	    "The last successful issuance or renewal, as a Unix time." },
	[CS_READY] = { "certfleet_certificate_ready",
	    "1 when a valid certificate matching the inventory is installed." },
	[CS_FAILURES] = { "certfleet_certificate_failures",
	    "Consecutive failed renewal attempts now (0 after a success)." },
};

/* The value of series s for r; false when it has none. */
static bool
cert_value(const struct cert_rt *r, enum cert_series s, time_t now, double *v)
{
	time_t t = 0;

	switch (s) {
	case CS_EXPIRATION:
		t = r->st.not_after;
		break;
	case CS_NOT_BEFORE:
		t = r->st.not_before;
		break;
	case CS_RENEWAL:
		t = renewal_moment(r);
		break;
	case CS_LAST_SUCCESS:
		t = r->st.last_success;
		break;
	case CS_READY:
		*v = fleet_metrics_ready(r->cfg, &r->st, now) ? 1 : 0;
		return true;
	case CS_FAILURES:
		*v = r->st.failures;
		return true;
	case CS__MAX:
		break;
	}
	*v = (double)t;
	return t > 0;
}

static void
write_certs(const struct fleet *f, struct buf *b, time_t now)
{
	struct buf lbl = {0};
	size_t *off = xcalloc(f->ncerts + 1, sizeof(*off));

	for (size_t i = 0; i < f->ncerts; i++) {
		const struct config_cert *c = f->certs[i]->cfg;

		off[i] = lbl.len;
		metrics_label(&lbl, 1, "name", c->name);
		metrics_label(&lbl, 0, "account", c->account_name);
		metrics_label(&lbl, 0, "key_type", key_type_name(c->key_type));
		buf_append(&lbl, "", 1);    /* each set NUL-terminated */
	}
	for (int s = 0; s < CS__MAX; s++) {
		metrics_family(b, cert_families[s].name, METRICS_GAUGE, cert_families[s].help);
		for (size_t i = 0; i < f->ncerts; i++) {
			double v;

			if (cert_value(f->certs[i], (enum cert_series)s, now, &v))
				metrics_sample(b, cert_families[s].name, lbl.data + off[i], v);
		}
	}
	free(off);
	buf_free(&lbl);
}

void
fleet_metrics_write(const struct fleet *f, struct buf *b, time_t now)
{
	const char *kv[4];

	write_certs(f, b, now);

	metrics_family(b, "certfleet_certificates", METRICS_GAUGE,
	    "Certificates in the inventory.");
	metrics_sample(b, "certfleet_certificates", NULL, (double)f->ncerts);

	metrics_family(b, "certfleet_renewals_total", METRICS_COUNTER,
	    "Issuance and renewal attempts that ended, by result, since the daemon started.");
	kv[0] = "result";
	kv[1] = "success";
	metrics_sample_kv(b, "certfleet_renewals_total", kv, 1, (double)f->succeeded);
	kv[1] = "failure";
	metrics_sample_kv(b, "certfleet_renewals_total", kv, 1, (double)f->failed);

	metrics_family(b, "certfleet_orders_in_flight", METRICS_GAUGE,
	    "Orders in flight now, per account.");
	kv[0] = "account";
	for (size_t i = 0; i < f->naccts; i++) {
		kv[1] = f->accts[i]->cfg->name;
		metrics_sample_kv(b, "certfleet_orders_in_flight", kv, 1,
		    (double)f->accts[i]->inflight);
	}

	fleet_budget_metrics((struct fleet *)f, b);

	metrics_family(b, "certfleet_hook_runs_total", METRICS_COUNTER,
	    "Deploy and post hook runs, by hook and result, since the daemon started.");
	kv[0] = "hook";
	kv[2] = "result";
	for (int h = 0; h < FLEET_HOOK__MAX; h++) {
		kv[1] = hook_names[h];
		kv[3] = "success";
		metrics_sample_kv(b, "certfleet_hook_runs_total", kv, 2,
		    (double)f->hook_runs[h][1]);
		kv[3] = "failure";
		metrics_sample_kv(b, "certfleet_hook_runs_total", kv, 2,
		    (double)f->hook_runs[h][0]);
	}

	/* Only with a cluster: section; a daemon alone has no etcd to count. */
	if (f->cluster) {
		metrics_family(b, "certfleet_etcd_requests_total", METRICS_COUNTER,
		    "Requests sent to etcd (watch streams opened included) since the daemon "
		    "started.");
		metrics_sample(b, "certfleet_etcd_requests_total", NULL,
		    (double)cluster_requests(f->cluster));
	}
}
