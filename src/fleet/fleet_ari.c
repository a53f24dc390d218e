/*
 * fleet_ari.c - ACME Renewal Information (RFC 9773) for the fleet: fetch a
 * certificate's suggested window, record it in its state, and re-check
 * after the server's Retry-After (clamped) or a fixed delay after an error.
 */
#include <string.h>

#include "fleet_internal.h"
#include "log.h"
#include "scheduler.h"
#include "util.h"

/* ---- ARI (RFC 9773) ---- */

bool
fleet_ari_applies(const struct cert_rt *r)
{
	return !r->f->once && r->st.cert_id != NULL && r->acct != NULL && r->acct->ari != 0;
}

static void
ari_settle(struct cert_rt *r, long long recheck)
{
	r->ari_next = time(NULL) + (time_t)recheck;
	fleet_cert_save(r);
	if (r->f->draining)
		return;
	/* A window already passed makes the certificate due now: it is only
	 * queued by fleet_cert_schedule, so start the queue too. */
	fleet_cert_schedule(r);
	fleet_queue_run(r->f);
}

static void
ari_done_cb(const struct http_response *resp, void *arg)
{
	struct cert_rt *r = arg;
	struct acme_renewal_info ri;
	long long ra = 0;
	char err[256], a[32], b[32];

	r->ari_req = NULL;
	acme_observe_reply(r->f->env, r->acct->cfg->name, ACME_EP_RENEWAL_INFO, resp);
	if (resp->status != 200) {
		if (resp->error)
			cert_log(r, LOG_WARNING, LOG_EVENT_NONE,
			    "renewalInfo for %s: %s; checking again in 6h",
			    r->st.cert_id, resp->error);
		else
			cert_log(r, LOG_WARNING, LOG_EVENT_NONE,
			    "renewalInfo for %s: HTTP %ld; checking again in 6h",
			    r->st.cert_id, resp->status);
		ari_settle(r, SCHED_ARI_ERROR_RETRY);
		return;
	}
	if (acme_renewal_info_parse(resp->body, resp->body_len, &ri, err, sizeof(err)) < 0) {
		cert_log(r, LOG_WARNING, LOG_EVENT_NONE, "%s; checking again in 6h", err);
		ari_settle(r, SCHED_ARI_ERROR_RETRY);
		return;
	}
	if (ri.start != r->st.ari_start || ri.end != r->st.ari_end) {
		time_format_rfc3339(ri.start, a, sizeof(a));
		time_format_rfc3339(ri.end, b, sizeof(b));
		cert_log(r, LOG_INFO, LOG_EVENT_NONE,
		    "the CA suggests renewing between %s and %s%s%s", a, b,
		    ri.explanation_url ? "; see " : "",
		    ri.explanation_url ? ri.explanation_url : "");
	}
	r->st.ari_start = ri.start;
	r->st.ari_end = ri.end;
	r->st.ari_checked = time(NULL);
	acme_renewal_info_free(&ri);
	if (resp->retry_after == NULL ||
	    http_parse_retry_after(resp->retry_after, time(NULL), &ra) < 0)
		ra = SCHED_ARI_POLL;
	ari_settle(r, sched_ari_recheck(ra));
}

static void
ari_ready_cb(bool ok, const char *error, void *arg)
{
	struct cert_rt *r = arg;
	const struct acme_directory *dir;
	char *url;

	r->ari_waiter = NULL;
	if (!ok) {
		const char *step = acme_account_fault_step(r->acct->acme);

		/* Log once: the account logged the cause itself, for every
		 * certificate waiting on it; this line points there. */
		if (step != NULL)
			cert_log(r, LOG_WARNING, LOG_EVENT_NONE, "cannot check renewalInfo: "
			    "account %s unavailable: %s failed (see above)",
			    acme_account_name(r->acct->acme), step);
		else
			cert_log(r, LOG_WARNING, LOG_EVENT_NONE, "cannot check renewalInfo: %s",
			    error);
		ari_settle(r, SCHED_ARI_ERROR_RETRY);
		return;
	}
	dir = acme_account_directory(r->acct->acme);
	if (dir->renewal_info == NULL) {
		r->acct->ari = 0;
		r->ari_next = 0;
		fleet_cert_schedule(r);
		fleet_queue_run(r->f);
		return;
	}
	r->acct->ari = 1;
	url = xasprintf("%s%s%s", dir->renewal_info,
	    dir->renewal_info[strlen(dir->renewal_info) - 1] == '/' ? "" : "/", r->st.cert_id);
	r->ari_req = acme_get(r->acct->acme, url, ari_done_cb, r);
	free(url);
	if (r->ari_req == NULL)
		ari_settle(r, SCHED_ARI_ERROR_RETRY);
}

void
fleet_ari_cancel(struct cert_rt *r)
{
	if (r->ari_waiter)
		acme_waiter_cancel(r->ari_waiter);
	if (r->ari_req)
		http_cancel(r->ari_req);
	r->ari_waiter = NULL;
	r->ari_req = NULL;
}

/* Starts a renewalInfo check; its outcome reschedules the certificate. */
void
fleet_ari_check(struct cert_rt *r)
{
	r->ari_waiter = acme_account_when_ready(r->acct->acme, ari_ready_cb, r);
}
