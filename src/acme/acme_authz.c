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
#include "jws.h"
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
	order_gate_close(&az->gate);
	challenge_unpublish(az->solver);
	az->solver = NULL;
	if (az->token != NULL && j->ops->challenge_gone != NULL)
		j->ops->challenge_gone(j->arg, az->token);
	free(az->token);
	az->token = NULL;
}

/* ---- authorizations ---- */

static const char *const authz_state_names[AUTHZ_STATE__MAX] = {
	[AUTHZ_FETCH] = "fetch",
	[AUTHZ_PUBLISH] = "publish",
	[AUTHZ_SHARE] = "share",
	[AUTHZ_RESPOND] = "respond",
	[AUTHZ_POLL] = "poll",
	[AUTHZ_VALID] = "valid",
};

const char *
authz_state_name(enum authz_state s)
{
	return (unsigned)s < AUTHZ_STATE__MAX ? authz_state_names[s] : "?";
}

static void authz_step(struct authz_rt *az);

/* Completions store what they got and re-enter authz_step(). */
static void
authz_reply_cb(const struct acme_reply *r, void *arg)
{
	struct authz_rt *az = arg;

	az->call = NULL;
	az->reply = r;
	az->done = true;
	authz_step(az);
}

static void
authz_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct authz_rt *az = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	az->done = true;
	authz_step(az);
}

/* The response is in place (or could not be put there). */
static void
challenge_ready(bool ok, const char *error, void *arg)
{
	struct authz_rt *az = arg;

	az->publish_ok = ok;
	az->publish_error = error;
	az->done = true;
	authz_step(az);
}

/* POST-as-GET of the authorization, or the POST answering the challenge;
 * the reply comes back to authz_step().  False when the job failed. */
static bool
authz_post(struct authz_rt *az, const char *url, const char *payload, const char *what)
{
	struct acme_post_opts o = {0};

	o.url = url;
	o.label = az->job->name;
	o.payload = payload;
	o.endpoint = *payload ? ACME_EP_CHALLENGE : ACME_EP_AUTHZ;
	az->call = acme_post(az->job->acct, &o, authz_reply_cb, az);
	if (az->call == NULL) {
		job_fail(az->job, NULL, "cannot %s %s", what, url);
		return false;
	}
	return true;
}

static void
authz_poll_in(struct authz_rt *az, double delay)
{
	az->state = AUTHZ_POLL;
	ev_timer_set(&az->timer, delay, 0.);
	ev_timer_start(az->job->env->loop, &az->timer);
}

/* Fails the job for an authorization that went invalid (or expired, ...);
 * the first challenge error is the problem reported. */
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

/* Chooses the challenge of a pending authorization and publishes its
 * response; publication completes in challenge_ready().  False when the
 * job failed. */
static bool
authz_publish(struct authz_rt *az, const struct acme_authz *a)
{
	struct order_job *j = az->job;
	const struct acme_challenge *ch = NULL;
	char err[512];

	ch = challenge_choose(&j->challenge, a, err, sizeof(err));
	if (ch == NULL) {
		job_fail(j, NULL, "authorization for %s%s: %s", a->wildcard ? "*." : "",
		    a->identifier, err);
		return false;
	}
	free(az->challenge_url);
	free(az->challenge_type);
	az->challenge_url = xstrdup(ch->url);
	az->challenge_type = xstrdup(ch->type);
	az->challenge_triggered = ch->status == ACME_STATUS_PROCESSING;
	free(az->challenge_token);
	az->challenge_token = strcmp(ch->type, "http-01") == 0 ? xstrdup(ch->token) : NULL;
	if (a->wildcard && strncmp(az->identifier, "*.", 2) != 0) {
		char *w = xasprintf("*.%s", az->identifier);
		free(az->identifier);
		az->identifier = w;
	}
	challenge_unpublish(az->solver);
	job_log(j, LOG_INFO, LOG_EVENT_NONE, "solving %s for %s", ch->type, az->identifier);
	az->state = AUTHZ_PUBLISH;
	az->solver = challenge_publish(j->env, j->name, &j->challenge, a, ch,
	    acme_account_key(j->acct), challenge_ready, az, err, sizeof(err));
	if (az->solver == NULL) {
		job_fail(j, NULL, "%s for %s: %s", ch->type, az->identifier, err);
		return false;
	}
	return true;
}

/* Whether our challenge went invalid while the authorization is still
 * pending, as it does on some CAs. */
static bool
authz_challenge_invalid(const struct authz_rt *az, const struct acme_authz *a)
{
	for (size_t i = 0; i < a->nchallenges; i++)
		if (az->challenge_url && strcmp(a->challenges[i].url, az->challenge_url) == 0 &&
		    a->challenges[i].status == ACME_STATUS_INVALID)
			return true;
	return false;
}

/*
 * The authorization machine: the one switch over enum authz_state, entered
 * like order_step() (az->done false: just entered, issue the request; true:
 * its completion, az->reply valid for this call only).  A failure fails
 * the whole job, which frees az.
 *
 *   FETCH   -> VALID (already valid: pre-validated, whatever it lists)
 *            | PUBLISH (pending) | the job fails (any other status)
 *   PUBLISH -> POLL (already triggered at the CA: a resumed order)
 *            | SHARE
 *   SHARE   -> RESPOND once the caller's pool can serve an http-01
 *              response (order_ops.gate; at once without one)
 *   RESPOND -> POLL (the CA accepted the challenge response)
 *   POLL    -> VALID | POLL (pending) | the job fails (invalid challenge,
 *              any other status, order_timeout)
 *   VALID   -> the order goes on (order_authorized) once all are valid
 */
static void
authz_step(struct authz_rt *az)
{
	struct order_job *j = az->job;
	const struct acme_reply *r = az->reply;
	bool done = az->done;
	struct acme_authz a;
	char err[256];
	double d;

	az->reply = NULL;
	az->done = false;
	goto step;
next:
	done = false;
	r = NULL;
step:
	switch (az->state) {
	case AUTHZ_FETCH:
	case AUTHZ_POLL:
		if (!done) {
			if (az->state == AUTHZ_FETCH)
				(void)authz_post(az, az->url, "", "fetch authorization");
			else
				authz_poll_in(az, next_poll_delay(NULL, &az->interval));
			return;
		}
		if (r == NULL) {
			/* The poll timer fired. */
			if (deadline_passed(j)) {
				j->result.status = 0;   /* a timeout, not the CA's verdict */
				job_fail(j, NULL, "authorization for %s still pending after %llds",
				    az->identifier ? az->identifier : az->url,
				    j->env->order_timeout);
				return;
			}
			(void)authz_post(az, az->url, "", "fetch authorization");
			return;
		}
		if (r->status != 200) {
			fail_reply(j, r, "fetching authorization", az->url);
			return;
		}
		if (acme_authz_parse(r->http->body, r->http->body_len, &a, err,
		    sizeof(err)) < 0) {
			job_fail(j, NULL, "%s: %s", az->url, err);
			return;
		}
		if (az->identifier == NULL)
			az->identifier = xstrdup(a.identifier);
		if (a.status == ACME_STATUS_VALID) {
			/* Done, whatever challenge types it lists (SCM pre-validation). */
			if (az->state == AUTHZ_FETCH)
				job_log(j, LOG_INFO, LOG_EVENT_NONE,
				    "authorization for %s already valid", a.identifier);
			else
				job_log(j, LOG_INFO, LOG_EVENT_NONE,
				    "%s validated for %s", az->challenge_type ? az->challenge_type : "challenge",
				    az->identifier);
			acme_authz_free(&a);
			az->state = AUTHZ_VALID;
			goto next;
		}
		if (a.status != ACME_STATUS_PENDING ||
		    (az->state == AUTHZ_POLL && authz_challenge_invalid(az, &a))) {
			if (a.status == ACME_STATUS_PENDING)
				a.status = ACME_STATUS_INVALID;
			authz_failed(az, &a);
			acme_authz_free(&a);
			return;
		}
		if (az->state == AUTHZ_FETCH) {
			(void)authz_publish(az, &a);
			acme_authz_free(&a);
			return;
		}
		acme_authz_free(&a);
		d = next_poll_delay(r, &az->interval);
		wait_announce(j->name, "authorization", az->url, (int)ACME_STATUS_PENDING, r, d,
		    &az->wait_logged);
		authz_poll_in(az, d);
		return;

	case AUTHZ_PUBLISH:
		if (!az->publish_ok) {
			job_fail(j, NULL, "authorization for %s: %s (challenge tried: %s)",
			    az->identifier, az->publish_error, az->challenge_type);
			return;
		}
		/* Already triggered (a resumed order): just wait for it. */
		if (az->challenge_triggered) {
			az->state = AUTHZ_POLL;
			goto next;
		}
		az->state = AUTHZ_SHARE;
		goto next;

	case AUTHZ_SHARE:
		if (!done && az->challenge_token != NULL && j->ops->gate != NULL) {
			/* The CA may ask any host of the pool: every one must
			 * have the response before the CA is told to look. */
			char *keyauth = jws_key_authorization(az->challenge_token,
			    acme_account_key(j->acct));

			if (keyauth == NULL) {
				job_fail(j, NULL, "cannot compute the key authorization for %s",
				    az->identifier);
				return;
			}
			az->token = xstrdup(az->challenge_token);
			(void)order_gate_open(j, &az->gate, az, ORDER_GATE_CHALLENGE, az->token,
			    keyauth);
			free_secret_str(keyauth);
			return;
		}
		if (done && !az->gate.ok) {
			job_fail(j, NULL, "authorization for %s: %s", az->identifier, az->gate.error);
			return;
		}
		az->state = AUTHZ_RESPOND;
		goto next;

	case AUTHZ_RESPOND:
		if (!done) {
			/* The response is in place: tell the CA to validate it. */
			(void)authz_post(az, az->challenge_url, "{}", "respond to challenge");
			return;
		}
		if (r->status != 200) {
			fail_reply(j, r, "responding to challenge", az->challenge_url);
			return;
		}
		authz_poll_in(az, next_poll_delay(r, &az->interval));
		return;

	case AUTHZ_VALID:
		authz_cleanup(az);
		if (++j->nauthz_done == j->nauthz)
			order_authorized(j);
		return;

	case AUTHZ_STATE__MAX:
		return;
	}
}

void
authz_gate_done(struct authz_rt *az)
{
	az->done = true;
	authz_step(az);
}

void
start_authorizations(struct order_job *j)
{
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
	for (size_t i = 0; i < j->nauthz; i++) {
		struct authz_rt *az = &j->authz[i];

		if (!authz_post(az, az->url, "", "fetch authorization"))
			return;
	}
}
