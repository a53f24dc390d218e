/*
 * acme_authz.c - the authorizations of one order (RFC 8555 7.5): each is
 * fetched; a valid one is skipped whatever challenges it lists; a pending
 * one gets the certificate's preferred challenge published (challenge.c)
 * and answered, then is polled honouring Retry-After until it settles.
 * They run in parallel; the order moves on when all are valid.
 */
#include <string.h>

#include <ev.h>

#include "acme.h"
#include "acme_order_internal.h"
#include "challenge.h"
#include "log.h"
#include "util.h"

void
authz_cleanup(struct authz_rt *az)
{
	struct order_job *j = az->job;

	if (az->call) {
		acme_call_cancel(az->call);
		az->call = NULL;
	}
	ev_timer_stop(j->env->loop, &az->timer);
	challenge_unpublish(az->solver);
	az->solver = NULL;
}

/* ---- authorizations ---- */

static int authz_fetch(struct authz_rt *az);

static void
authz_settle(struct authz_rt *az, bool ok)
{
	struct order_job *j = az->job;

	authz_cleanup(az);
	az->state = ok ? AZ_DONE : AZ_FAILED;
	if (!ok)
		return;
	if (++j->nauthz_done == j->nauthz) {
		/* Every name is authorized: the order should now be ready. */
		j->interval = 0;
		fetch_order(j);
	}
}

static void
authz_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct authz_rt *az = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	if (deadline_passed(az->job)) {
		az->job->result.status = 0;   /* a timeout, not the CA's verdict */
		job_fail(az->job, NULL, "authorization for %s still pending after %llds",
		    az->identifier ? az->identifier : az->url, az->job->env->order_timeout);
		return;
	}
	(void)authz_fetch(az);
}

static void
authz_poll_later(struct authz_rt *az, const struct acme_reply *r)
{
	double d = next_poll_delay(r, &az->interval);

	az->state = AZ_POLL;
	ev_timer_set(&az->timer, d, 0.);
	ev_timer_start(az->job->env->loop, &az->timer);
}

static void
challenge_done_cb(const struct acme_reply *r, void *arg)
{
	struct authz_rt *az = arg;
	struct order_job *j = az->job;

	az->call = NULL;
	if (r->status != 200) {
		fail_reply(j, r, "responding to challenge", az->challenge_url);
		return;
	}
	authz_poll_later(az, r);
}

/* The response is in place: tell the CA to validate it. */
static void
challenge_ready(bool ok, const char *error, void *arg)
{
	struct authz_rt *az = arg;
	struct order_job *j = az->job;
	struct acme_post_opts o = {0};

	if (!ok) {
		job_fail(j, NULL, "authorization for %s: %s (challenge tried: %s)",
		    az->identifier, error, az->challenge_type);
		return;
	}
	if (az->challenge_triggered) {
		/* Already triggered (a resumed order): just wait for it. */
		authz_poll_later(az, NULL);
		return;
	}
	az->state = AZ_RESPOND;
	o.url = az->challenge_url;
	o.label = j->name;
	o.payload = "{}";
	az->call = acme_post(j->acct, &o, challenge_done_cb, az);
	if (az->call == NULL)
		job_fail(j, NULL, "cannot respond to challenge %s", az->challenge_url);
}

static void
authz_respond(struct authz_rt *az, const struct acme_authz *a)
{
	struct order_job *j = az->job;
	const struct acme_challenge *ch = NULL;
	char err[512];

	ch = challenge_choose(j->cert, a, err, sizeof(err));
	if (ch == NULL) {
		job_fail(j, NULL, "authorization for %s%s: %s", a->wildcard ? "*." : "",
		    a->identifier, err);
		return;
	}
	free(az->challenge_url);
	free(az->challenge_type);
	az->challenge_url = xstrdup(ch->url);
	az->challenge_type = xstrdup(ch->type);
	az->challenge_triggered = ch->status == ACME_STATUS_PROCESSING;
	if (a->wildcard && strncmp(az->identifier, "*.", 2) != 0) {
		char *w = xasprintf("*.%s", az->identifier);
		free(az->identifier);
		az->identifier = w;
	}
	challenge_unpublish(az->solver);
	log_info("%s: solving %s for %s", j->name, ch->type, az->identifier);
	/* Publication completes later (dns-01: hook and propagation), always
	 * through challenge_ready(). */
	az->state = AZ_PUBLISH;
	az->solver = challenge_publish(j->env, j->cert, a, ch, acme_account_key(j->acct),
	    challenge_ready, az, err, sizeof(err));
	if (az->solver == NULL)
		job_fail(j, NULL, "%s for %s: %s", ch->type, az->identifier, err);
}

static void
authz_failed(struct authz_rt *az, struct acme_authz *a)
{
	struct order_job *j = az->job;
	struct acme_problem *p = NULL;

	for (size_t i = 0; i < a->nchallenges; i++) {
		if (a->challenges[i].error) {
			p = a->challenges[i].error;
			a->challenges[i].error = NULL;
			break;
		}
	}
	/* Definitive: the order is invalid now, the next attempt starts anew. */
	forget_order(j);
	job_fail(j, p, "authorization for %s is %s (challenge tried: %s)",
	    az->identifier ? az->identifier : a->identifier, acme_status_name(a->status),
	    az->challenge_type ? az->challenge_type : "none");
}

static void
authz_done_cb(const struct acme_reply *r, void *arg)
{
	struct authz_rt *az = arg;
	struct order_job *j = az->job;
	struct acme_authz a;
	char err[256];

	az->call = NULL;
	if (r->status != 200) {
		fail_reply(j, r, "fetching authorization", az->url);
		return;
	}
	if (acme_authz_parse(r->http->body, r->http->body_len, &a, err, sizeof(err)) < 0) {
		job_fail(j, NULL, "%s: %s", az->url, err);
		return;
	}
	if (az->identifier == NULL)
		az->identifier = xstrdup(a.identifier);
	switch (a.status) {
	case ACME_STATUS_VALID:
		/* Done, whatever challenge types it lists (SCM pre-validation). */
		if (az->state == AZ_FETCH)
			log_info("%s: authorization for %s already valid", j->name,
			    a.identifier);
		else
			log_info("%s: %s validated for %s", j->name,
			    az->challenge_type ? az->challenge_type : "challenge", az->identifier);
		acme_authz_free(&a);
		authz_settle(az, true);
		return;
	case ACME_STATUS_PENDING:
		if (az->state == AZ_FETCH) {
			authz_respond(az, &a);
		} else {
			/* Our challenge may have gone invalid while the
			 * authorization is still pending on some CAs. */
			for (size_t i = 0; i < a.nchallenges; i++) {
				if (az->challenge_url &&
				    strcmp(a.challenges[i].url, az->challenge_url) == 0 &&
				    a.challenges[i].status == ACME_STATUS_INVALID) {
					a.status = ACME_STATUS_INVALID;
					authz_failed(az, &a);
					acme_authz_free(&a);
					return;
				}
			}
			authz_poll_later(az, r);
			wait_announce(j->name, "authorization", az->url, (int)a.status, r,
			    ev_timer_remaining(j->env->loop, &az->timer), &az->wait_logged);
		}
		acme_authz_free(&a);
		return;
	default:
		authz_failed(az, &a);
		acme_authz_free(&a);
		return;
	}
}

/* -1 when the job failed (and is freed). */
static int
authz_fetch(struct authz_rt *az)
{
	struct acme_post_opts o = {0};

	az->state = az->state == AZ_POLL ? AZ_POLL : AZ_FETCH;
	o.url = az->url;
	o.label = az->job->name;
	o.payload = "";
	az->call = acme_post(az->job->acct, &o, authz_done_cb, az);
	if (az->call == NULL) {
		job_fail(az->job, NULL, "cannot fetch authorization %s", az->url);
		return -1;
	}
	return 0;
}

void
start_authorizations(struct order_job *j)
{
	j->state = ORDER_AUTHORIZE;
	if (j->authz != NULL)
		return; /* already in progress; a re-fetch of the order said pending */
	if (j->order.authorizations.n == 0) {
		job_fail(j, NULL, "order %s is pending but lists no authorizations",
		    j->order_url);
		return;
	}
	j->nauthz = j->order.authorizations.n;
	j->nauthz_done = 0;
	j->authz = xcalloc(j->nauthz, sizeof(*j->authz));
	for (size_t i = 0; i < j->nauthz; i++) {
		struct authz_rt *az = &j->authz[i];
		az->job = j;
		az->url = xstrdup(j->order.authorizations.v[i]);
		ev_timer_init(&az->timer, authz_timer_cb, 0., 0.);
		az->timer.data = az;
	}
	/* Each fetch may complete (even fail the job) only from the loop,
	 * never inside acme_post, so starting them all here is safe. */
	for (size_t i = 0; i < j->nauthz; i++)
		if (authz_fetch(&j->authz[i]) < 0)
			return;
}
