/*
 * acme_order.c - the order state machine for one certificate (RFC 8555
 * section 7.4): newOrder, authorizations, challenges, finalize, polling
 * and download.
 *
 * order_step() is the whole machine: the one switch over enum order_state.
 * Completions (account ready, key generated, HTTP reply, chain chosen, all
 * authorizations valid) and timers only store their result in the job and
 * re-enter it.  What a restart needs is handed to the caller (struct
 * order_ops: the fleet persists it) before it is relied on: the
 * certificate key before newOrder, the order URL as soon as the CA returns
 * it, and the fact that finalize was sent; and a spent order is forgotten
 * through the one ops->forget.  The engine never sees the inventory or
 * the store: it works from its own copy of struct order_params.  A job
 * given a stored order URL (the resume point) fetches the order and
 * carries on from its status instead of ordering again.
 *
 * Authorizations run in parallel, each with its own machine (authz_step()
 * in acme_authz.c).  What the machine asks of others on the way is in
 * acme_gate.c: the caller's pool at each gate point (ORDER_GATE) and the
 * account's request budget before each newOrder (ORDER_BUDGET).
 */
#include <string.h>

#include <ev.h>

#include "acme.h"
#include "acme_order_internal.h"
#include "b64.h"
#include "challenge.h"
#include "keygen.h"
#include "log.h"
#include "util.h"
#include "workpool.h"

#define POLL_FIRST 0.5          /* seconds before the first poll */
#define POLL_MAX_NO_HINT 30.0   /* backoff cap without Retry-After */
#define POLL_MAX_HINT 300.0     /* cap on a server's Retry-After */
#define FINALIZE_SLOW 10.0      /* seconds before a finalize is said to be slow */

static const char *const order_state_names[ORDER_STATE__MAX] = {
	[ORDER_INIT] = "init",
	[ORDER_WAIT_ACCOUNT] = "wait-account",
	[ORDER_KEYGEN] = "keygen",
	[ORDER_BUDGET] = "budget",
	[ORDER_NEW_ORDER] = "new-order",
	[ORDER_RESUME] = "resume",
	[ORDER_AUTHORIZE] = "authorize",
	[ORDER_FINALIZE] = "finalize",
	[ORDER_POLL] = "poll",
	[ORDER_DOWNLOAD] = "download",
	[ORDER_GATE] = "pool",
	[ORDER_DONE] = "done",
	[ORDER_FAILED] = "failed",
};

const char *
order_state_name(enum order_state s)
{
	return (unsigned)s < ORDER_STATE__MAX ? order_state_names[s] : "?";
}


void
order_result_clear(struct order_result *r)
{
	free(r->error);
	free(r->problem_type);
	acme_problem_free(r->problem);
	free(r->chain_pem);
	privkey_free(r->key);
	memset(r, 0, sizeof(*r));
}

/* Every state change goes through here, so status can say since when. */
static void
job_enter(struct order_job *j, enum order_state s)
{
	if (s != j->state || j->state_since == 0)
		j->state_since = time(NULL);
	j->state = s;
}

enum order_state
order_job_state(const struct order_job *j)
{
	return j->state;
}

void
order_job_progress(const struct order_job *j, struct order_progress *p)
{
	memset(p, 0, sizeof(*p));
	p->state = j->state;
	p->since = j->state_since;
	p->finalize_sent = j->finalize_sent || j->resume_finalized;
	if (j->state != ORDER_AUTHORIZE)
		return;
	for (size_t i = 0; i < j->nauthz; i++) {
		if (j->authz[i].state == AUTHZ_VALID)
			continue;
		p->identifier = j->authz[i].identifier;
		p->challenge_type = j->authz[i].challenge_type;
		return;
	}
}

/* Copies what order_start and order_update take from p (not the name,
 * the keys, replaces or the resume point). */
static void
job_set_params(struct order_job *j, const struct order_params *p)
{
	strlist_free(&j->domains);
	for (size_t i = 0; p->domains && i < p->domains->n; i++)
		strlist_add(&j->domains, p->domains->v[i]);
	j->key_type = p->key_type;
	free(j->profile);
	j->profile = xstrdup(p->profile);
	free(j->preferred_chain);
	j->preferred_chain = xstrdup(p->preferred_chain);
	challenge_settings_clear(&j->challenge);
	challenge_settings_copy(&j->challenge, &p->challenge);
}

void
order_update(struct order_job *j, const struct order_params *p)
{
	/* What is in flight keeps its copies (a published response, a chain
	 * being chosen); the next step uses the new ones. */
	job_set_params(j, p);
}

/* Forgets the order in flight: the next attempt orders afresh. */
void
forget_order(struct order_job *j)
{
	j->ops->forget(j->arg);
}

/* The outcome of handing the order URL or the finalize to the caller to
 * persist: a failure is logged here, naming the certificate, and the order
 * goes on, as it always has (only a certificate key that cannot be saved
 * stops an order: before newOrder, so nothing is lost). */
static void
progress_saved(struct order_job *j, int rc, const char *err)
{
	if (rc < 0)
		job_log(j, LOG_ERR, LOG_EVENT_NONE, "%s", err);
}

static void job_release(struct order_job *j);

/*
 * The one way back to newOrder within a job (a resumed order the CA no
 * longer knows, an order for other names): the stored order is forgotten
 * and every piece of per-order progress is reset, so the new order starts
 * as a first one would (finalize_sent above all: left set, the new order
 * would be polled at ready until order_timeout).  The certificate key is
 * kept; it is saved again before the new newOrder.
 */
static void
job_order_again(struct order_job *j)
{
	forget_order(j);
	job_release(j);
	free(j->order_url);
	j->order_url = NULL;
	acme_order_free(&j->order);
	j->resumed = false;
	j->finalize_sent = false;
	j->finalize_gated = false;
	j->finalize_logged = false;
	j->wait_logged = 0;
	j->interval = 0;
	/* A new order gets the whole order_timeout. */
	j->deadline = ev_now(j->env->loop) + (double)j->env->order_timeout;
	job_enter(j, ORDER_KEYGEN);
}


static void
job_release(struct order_job *j)
{
	for (size_t i = 0; i < j->nauthz; i++) {
		authz_cleanup(&j->authz[i]);
		free(j->authz[i].url);
		free(j->authz[i].identifier);
		free(j->authz[i].challenge_url);
		free(j->authz[i].challenge_type);
		free(j->authz[i].challenge_token);
	}
	free(j->authz);
	j->authz = NULL;
	j->nauthz = j->nauthz_done = 0;
	if (j->waiter)
		acme_waiter_cancel(j->waiter);
	order_ticket_drop(j);
	if (j->keygen)
		workpool_cancel(j->keygen);
	if (j->call)
		acme_call_cancel(j->call);
	acme_chain_pick_cancel(j->chain_pick);
	j->waiter = NULL;
	j->keygen = NULL;
	j->call = NULL;
	j->chain_pick = NULL;
	order_gate_close(&j->gate);
	ev_timer_stop(j->env->loop, &j->timer);
	ev_timer_stop(j->env->loop, &j->finalize_wait);
}

static void
job_free(struct order_job *j)
{
	job_release(j);
	order_budget_starting(j, false);
	privkey_free(j->key);
	privkey_free(j->resume_key);
	free(j->resume_url);
	free(j->name);
	strlist_free(&j->domains);
	free(j->profile);
	free(j->preferred_chain);
	challenge_settings_clear(&j->challenge);
	free(j->order_url);
	free(j->replaces);
	acme_order_free(&j->order);
	order_result_clear(&j->result);
	free(j);
}

void
order_cancel(struct order_job *j)
{
	if (j == NULL)
		return;
	job_free(j);
}

static void
job_finish(struct order_job *j)
{
	job_release(j);
	j->ops->done(j, &j->result, j->arg);
	job_free(j);
}

/* Fails the order; problem (if any) is moved into the result. */
void
job_fail(struct order_job *j, struct acme_problem *problem, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	if (problem) {
		char *p = acme_problem_format(problem);
		j->result.error = xasprintf("%s: %s", msg, p);
		free(p);
		free(msg);
	} else {
		j->result.error = msg;
	}
	acme_problem_free(j->result.problem);
	j->result.problem = problem;
	if (j->result.problem_type == NULL && problem != NULL && problem->type != NULL)
		j->result.problem_type = xstrdup(problem->type);
	j->result.ok = false;
	job_enter(j, ORDER_FAILED);
	job_log(j, LOG_ERR, LOG_EVENT_NONE, "%s", j->result.error);
	job_finish(j);
}

/* The account's new orders are paused (acme_budget.c logged it once, for
 * all of them): this order ends before it exists, not as a failure. */
void
job_defer(struct order_job *j)
{
	forget_order(j);
	j->result.ok = false;
	j->result.deferred = true;
	j->result.error = xstrdup("new orders paused at the CA's request");
	job_enter(j, ORDER_FAILED);
	job_log(j, LOG_DEBUG, LOG_EVENT_NONE, "no newOrder while the CA asks the account to "
	    "slow down; queued again for when the pause ends");
	job_finish(j);
}

/* Takes the problem out of a reply so it can outlive the callback. */
static struct acme_problem *
take_problem(const struct acme_reply *r)
{
	struct acme_problem *p = r->problem;

	((struct acme_reply *)r)->problem = NULL;
	return p;
}

void
fail_reply(struct order_job *j, const struct acme_reply *r, const char *what, const char *url)
{
	long long ra = 0;

	if (r->http && r->http->retry_after &&
	    http_parse_retry_after(r->http->retry_after, time(NULL), &ra) == 0)
		j->result.retry_after = ra;
	j->result.status = r->status;
	if (r->problem)
		job_fail(j, take_problem(r), "%s %s", what, url);
	else if (r->error)
		job_fail(j, NULL, "%s %s: %s", what, url, r->error);
	else
		job_fail(j, NULL, "%s %s: unexpected HTTP %ld", what, url, r->status);
}

bool
deadline_passed(struct order_job *j)
{
	return ev_now(j->env->loop) > j->deadline;
}

/* Delay before the next poll: the server's Retry-After (capped), else a
 * doubling interval. */
double
next_poll_delay(const struct acme_reply *r, double *interval)
{
	long long ra;

	if (r && r->http && r->http->retry_after &&
	    http_parse_retry_after(r->http->retry_after, time(NULL), &ra) == 0) {
		double d = ra < 1 ? 1.0 : (double)ra;
		return d > POLL_MAX_HINT ? POLL_MAX_HINT : d;
	}
	*interval = *interval <= 0 ? POLL_FIRST : *interval * 2;
	if (*interval > POLL_MAX_NO_HINT)
		*interval = POLL_MAX_NO_HINT;
	return *interval;
}

void
wait_announce(const char *name, const char *what, const char *url, int status,
    const struct acme_reply *r, double delay, int *logged)
{
	char d[64];

	if (r == NULL || r->http == NULL || r->http->retry_after == NULL ||
	    *logged == status + 1)
		return;
	*logged = status + 1;
	duration_format(delay, d, sizeof(d));
	log_cert(LOG_INFO, name, LOG_EVENT_NONE,
	    "%s %s %s; next check in %s (Retry-After)", what, url,
	    acme_status_name((enum acme_status)status), d);
}

/* A finalize whose certificate is not there FINALIZE_SLOW seconds later
 * (the POST unanswered, or the order still processing) gets one line, so a
 * slow CA (Sectigo takes a minute or more) is not mistaken for a hang. */
static void
finalize_wait_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct order_job *j = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	if (j->finalize_logged)
		return;
	j->finalize_logged = true;
	job_log(j, LOG_INFO, LOG_EVENT_NONE,
	    "finalize of %s has been waiting for %.0fs; the CA may take a while "
	    "(it is never sent twice; the order is given up %llds after it began)", j->order_url, FINALIZE_SLOW, j->env->order_timeout);
}

/* ---- the order machine ---- */

/* Every completion below only stores what it got in the job and re-enters
 * order_step(), which alone decides what happens next. */
static void
order_reply_cb(const struct acme_reply *r, void *arg)
{
	struct order_job *j = arg;

	j->call = NULL;
	j->reply = r;
	j->done = true;
	order_step(j);
}

static void
order_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct order_job *j = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	j->done = true;
	order_step(j);
}

static void
order_key_ready(privkey_t *key, void *arg)
{
	struct order_job *j = arg;

	j->keygen = NULL;
	j->key = key;
	j->done = true;
	order_step(j);
}

static void
account_ready_cb(bool ok, const char *error, void *arg)
{
	struct order_job *j = arg;

	j->waiter = NULL;
	j->account_ok = ok;
	j->account_error = error;
	j->done = true;
	order_step(j);
}

/* The chain to install (taken over): the default or a preferred alternate. */
static void
chain_chosen_cb(char *pem, size_t len, void *arg)
{
	struct order_job *j = arg;

	j->chain_pick = NULL;
	j->result.chain_pem = pem;
	j->result.chain_len = len;
	j->done = true;
	order_step(j);
}

/* Called when every authorization of the order is valid. */
void
order_authorized(struct order_job *j)
{
	j->done = true;
	order_step(j);
}

/* POST-as-GET (payload "") or POST of payload to url; the reply comes back
 * to order_step().  False when the job failed (and is freed). */
static bool
order_post(struct order_job *j, const char *url, const char *payload, long timeout_ms,
    const char *accept, const char *what)
{
	struct acme_post_opts o = {0};

	o.url = url;
	o.label = j->name;
	o.payload = payload;
	o.timeout_ms = timeout_ms;
	o.accept = accept;
	/* For the metrics; the callers pass these very strings. */
	o.endpoint = url == j->order.finalize ? ACME_EP_FINALIZE :
	    url == j->order.certificate ? ACME_EP_CERT : url == j->order_url ? ACME_EP_ORDER :
	    ACME_EP_OTHER;
	/* Sectigo holds a finalize for 50 s and more: a wall of them must not
	 * keep the other orders' polls from the CA. */
	o.long_held = o.endpoint == ACME_EP_FINALIZE;
	j->call = acme_post(j->acct, &o, order_reply_cb, j);
	if (j->call == NULL) {
		job_fail(j, NULL, "cannot %s %s", what, url);
		return false;
	}
	return true;
}

/* Arms the poll timer: order_step() fetches the order when it fires. */
static void
order_poll_in(struct order_job *j, double delay)
{
	job_enter(j, ORDER_POLL);
	ev_timer_set(&j->timer, delay, 0.);
	ev_timer_start(j->env->loop, &j->timer);
}

/* The order's identifiers must be exactly our names: a resumed order made
 * for an older inventory is dropped, not finalized. */
static bool
order_matches(struct order_job *j)
{
	struct strlist want = {0};
	bool eq;

	for (size_t i = 0; i < j->domains.n; i++)
		strlist_add(&want, j->domains.v[i]);
	eq = strlist_equal_sorted(&want, &j->order.identifiers);
	strlist_free(&want);
	return eq;
}

/* Parses the reply's body into j->order.  False when the job failed. */
static bool
order_parse(struct order_job *j, const struct acme_reply *r, const char *what)
{
	char err[256];

	acme_order_free(&j->order);
	if (acme_order_parse(r->http->body, r->http->body_len, &j->order, err,
	    sizeof(err)) < 0) {
		job_fail(j, NULL, "%s: %s", what, err);
		return false;
	}
	return true;
}

/* Whether a fetched order is still on its way (checked again later rather
 * than acted on): processing, ready after our finalize, or pending after
 * all our authorizations are valid. */
static bool
order_in_progress(const struct order_job *j)
{
	return j->order.status == ACME_STATUS_PROCESSING ||
	    (j->order.status == ACME_STATUS_READY && j->finalize_sent) ||
	    (j->order.status == ACME_STATUS_PENDING && j->authz != NULL &&
	     j->nauthz_done == j->nauthz);
}

/*
 * A finalize that never reached the CA.  A CA that accepts a finalize moves
 * the order out of "ready" at once (RFC 8555 7.4: to "processing"), so an
 * order still ready long after we sent one, or after we resumed an order
 * recorded as finalized, never got it: the connection broke before the
 * request was through, or the process that recorded it was killed before
 * sending it (a pool's holder, or this host, killed -9 between the record
 * and the POST).  Until then we only poll: the CA may be holding it
 * (Sectigo takes a minute), and a finalize it already has must not be sent
 * twice.  Twice finalize_timeout is well past any sender's own timeout (a
 * previous process's finalize was sent before this job resumed the order),
 * and at most half the order's own time, so the order does not time out
 * first; a second finalize cannot issue a second certificate (a CA that had
 * the first answers orderNotReady, which polls).
 */
static bool
finalize_lost(const struct order_job *j)
{
	double grace = 2.0 * (double)j->env->finalize_timeout;

	if (grace > (double)j->env->order_timeout / 2)
		grace = (double)j->env->order_timeout / 2;
	return j->finalize_sent && j->order.status == ACME_STATUS_READY &&
	    ev_now(j->env->loop) - j->finalize_since >= grace;
}

/*
 * The state an order in j->order (just created, fetched or finalized)
 * leads to: its status read as RFC 8555 7.1.6 says.
 */
static enum order_state
order_status_next(struct order_job *j)
{
	if (j->order.identifiers.n > 0 && !order_matches(j)) {
		job_log(j, LOG_WARNING, LOG_EVENT_NONE,
		    "order %s is for other names, ordering again", j->order_url);
		return ORDER_NEW_ORDER;
	}
	switch (j->order.status) {
	case ACME_STATUS_PENDING:
		return ORDER_AUTHORIZE;
	case ACME_STATUS_READY:
		return ORDER_FINALIZE;
	case ACME_STATUS_VALID:
		return ORDER_DOWNLOAD;
	default:
		return ORDER_FAILED;
	}
}

/*
 * The order machine: the one switch over enum order_state.
 *
 * Each state first issues its request (j->done false: just entered) and
 * returns; its completion comes back here with j->done set (and j->reply,
 * valid for this call only, for an HTTP reply), and the state decides the
 * next one.  "goto next" enters that state at once.  Every path that ends
 * the job (job_fail, job_finish) frees it: nothing touches j afterwards.
 *
 *   INIT         -> WAIT_ACCOUNT
 *   WAIT_ACCOUNT -> RESUME (a stored order and its key) | KEYGEN
 *   KEYGEN       -> BUDGET (the key given, loaded or generated)
 *   BUDGET       -> NEW_ORDER once the account's budget grants a ticket
 *   NEW_ORDER    -> BUDGET (refused with replaces: once without)
 *                 | deferred (refused while the CA pauses the account: the
 *                   caller orders again after the pause; BUDGET too)
 *                 | the order's status (order_status_next)
 *   RESUME, POLL -> NEW_ORDER (a resumed order gone: 404) | POLL (in
 *                   progress) | the order's status
 *   AUTHORIZE    -> POLL at once, when every authorization is valid
 *   GATE         -> (the caller's pool has recorded it) AUTHORIZE etc.
 *                   after newOrder | FINALIZE's POST; a refusal fails it
 *   FINALIZE     -> GATE (finalize recorded), then the POST -> POLL (no
 *                   answer; orderNotReady; not yet valid) | DOWNLOAD
 *   RESUME, POLL -> FINALIZE again when the order stays ready well past
 *                   its finalize (finalize_lost: the CA never got it)
 *   DOWNLOAD     -> DONE once the chain is chosen
 *   FAILED       -> the order is forgotten (invalid: it is spent)
 */
void
order_step(struct order_job *j)
{
	const struct acme_reply *r = j->reply;
	bool done = j->done;
	char err[256];
	char *payload = NULL;

	j->reply = NULL;
	j->done = false;
	goto step;
next:
	done = false;
	r = NULL;
step:
	switch (j->state) {
	case ORDER_INIT:
		job_enter(j, ORDER_WAIT_ACCOUNT);
		j->waiter = acme_account_when_ready(j->acct, account_ready_cb, j);
		return;

	case ORDER_WAIT_ACCOUNT:
		if (!j->account_ok) {
			const char *type, *step;
			const char *why = j->account_error ? j->account_error : "unknown error";

			j->result.status = acme_account_fault(j->acct, &type);
			j->result.problem_type = xstrdup(type);
			if ((step = acme_account_fault_step(j->acct)) == NULL) {
				job_fail(j, NULL, "account %s unavailable: %s",
				    acme_account_name(j->acct), why);
				return;
			}
			/* Log once: the account logged the cause for all its
			 * waiting certificates; this line points there, the
			 * stored error (status) keeps the cause. */
			j->result.error = xasprintf("account %s unavailable: %s",
			    acme_account_name(j->acct), why);
			j->result.ok = false;
			job_enter(j, ORDER_FAILED);
			job_log(j, LOG_ERR, LOG_EVENT_NONE,
			    "account %s unavailable: %s failed (see above)", acme_account_name(j->acct), step);
			job_finish(j);
			return;
		}
		j->account_error = NULL;
		job_enter(j, ORDER_KEYGEN);
		if (j->resume_url) {
			if (j->resume_key != NULL) {
				privkey_free(j->key);
				j->key = j->resume_key;
				j->resume_key = NULL;
				j->resumed = true;
				j->finalize_sent = j->resume_finalized;
				j->finalize_since = ev_now(j->env->loop);
				j->order_url = j->resume_url;
				j->resume_url = NULL;
				job_enter(j, ORDER_RESUME);
			} else {
				job_log(j, LOG_WARNING, LOG_EVENT_NONE,
				    "order %s has no stored key, ordering again", j->resume_url);
				free(j->resume_url);
				j->resume_url = NULL;
				forget_order(j);
			}
		}
		goto next;

	case ORDER_KEYGEN:
		if (!done && j->key == NULL) {
			j->keygen = keygen_submit(j->env->keygen, j->key_type,
			    order_key_ready, j);
			if (j->keygen == NULL)
				job_fail(j, NULL, "cannot queue key generation");
			return;
		}
		if (j->key == NULL) {
			job_fail(j, NULL, "cannot generate a %s key",
			    key_type_name(j->key_type));
			return;
		}
		job_enter(j, ORDER_BUDGET);
		goto next;

	case ORDER_BUDGET:
		if (!done && !order_budget_ask(j))
			return;
		job_enter(j, ORDER_NEW_ORDER);
		goto next;

	case ORDER_NEW_ORDER:
		if (!done) {
			/* A profile the directory does not list would only be refused. */
			if (acme_profile_check(acme_account_directory(j->acct), j->profile,
			    err, sizeof(err)) < 0) {
				job_fail(j, NULL, "profile: %s; no order sent", err);
				return;
			}
			/* The key goes to disk before the CA hears of the order. */
			if (j->ops->begin(j->arg, j->key, err, sizeof(err)) < 0) {
				job_fail(j, NULL, "%s", err);
				return;
			}
			/* RFC 9773: replaces only where the CA offers ARI. */
			if (j->replaces && acme_account_directory(j->acct)->renewal_info == NULL) {
				free(j->replaces);
				j->replaces = NULL;
			}
			/* The order's time runs from its newOrder, not from a
			 * wait for the account's budget. */
			j->deadline = ev_now(j->env->loop) + (double)j->env->order_timeout;
			payload = acme_json_new_order(&j->domains, j->profile, j->replaces);
			(void)order_post(j, acme_account_directory(j->acct)->new_order, payload, 0,
			    NULL, "send newOrder to");
			free(payload);
			return;
		}
		if (order_budget_answered(j, r))
			return;
		if (r->status != 201 || r->http->location == NULL) {
			if (acme_problem_is(r->problem, "invalidProfile")) {
				job_fail(j, take_problem(r),
				    "the CA refused profile '%s' for this order",
				    j->profile ? j->profile : "(none)");
				return;
			}
			if (j->replaces && r->problem &&
			    !acme_problem_is(r->problem, "rateLimited")) {
				char *p = acme_problem_format(r->problem);
				job_log(j, LOG_WARNING, LOG_EVENT_NONE,
				    "newOrder with replaces=%s refused (%s); "
				    "ordering without it", j->replaces, p);
				free(p);
				free(j->replaces);
				j->replaces = NULL;
				/* Another newOrder: another ticket, ahead of the rest. */
				j->ticket_first = true;
				job_enter(j, ORDER_BUDGET);
				goto next;
			}
			fail_reply(j, r, "newOrder", acme_account_directory(j->acct)->new_order);
			return;
		}
		/* Saved at once: a restart resumes this order. */
		j->order_url = xstrdup(r->http->location);
		progress_saved(j, j->ops->created(j->arg, j->order_url, err, sizeof(err)), err);
		job_log(j, LOG_INFO, LOG_EVENT_ORDER_CREATED, "order %s created", j->order_url);
		if (!order_parse(j, r, "newOrder"))
			return;
		if (j->order.status == ACME_STATUS_READY)
			job_log(j, LOG_INFO, LOG_EVENT_NONE,
			    "order ready at once: the CA reused valid authorizations, "
			    "no challenge to solve");
		/* The pool hears of the order before anything relies on it. */
		j->gate_point = ORDER_GATE_CREATED;
		job_enter(j, ORDER_GATE);
		goto next;

	case ORDER_GATE:
		if (!done) {
			if (order_gate_open(j, &j->gate, NULL, j->gate_point, NULL, NULL))
				return;
		} else if (!j->gate.ok) {
			j->result.status = -1;
			job_fail(j, NULL, "%s", j->gate.error);
			return;
		}
		if (j->gate_point == ORDER_GATE_FINALIZE) {
			j->finalize_gated = true;
			job_enter(j, ORDER_FINALIZE);
			goto next;
		}
		break;

	case ORDER_RESUME:
	case ORDER_POLL:
		if (!done && j->state == ORDER_RESUME)
			job_log(j, LOG_INFO, LOG_EVENT_NONE, "resuming order %s", j->order_url);
		if (r == NULL) {
			/* Entered (RESUME) or the poll timer fired: fetch the order. */
			(void)order_post(j, j->order_url, "", 0, NULL, "fetch order");
			return;
		}
		if (r->status == 404 && j->resumed) {
			job_log(j, LOG_WARNING, LOG_EVENT_NONE,
			    "order %s no longer exists, ordering again", j->order_url);
			job_order_again(j);
			goto next;
		}
		if (r->status != 200) {
			fail_reply(j, r, "fetching order", j->order_url);
			return;
		}
		if (!order_parse(j, r, j->order_url))
			return;
		if (finalize_lost(j)) {
			job_log(j, LOG_WARNING, LOG_EVENT_NONE,
			    "order %s is still ready %.0fs after its finalize was sent: "
			    "the CA never took it; finalizing again", j->order_url,
			    ev_now(j->env->loop) - j->finalize_since);
			j->finalize_sent = false;
			j->wait_logged = 0;
			job_enter(j, ORDER_FINALIZE);
			goto next;
		}
		if (order_in_progress(j)) {
			double d = next_poll_delay(r, &j->interval);
			if (deadline_passed(j)) {
				j->result.status = 0;   /* a timeout, not the CA's verdict */
				job_fail(j, NULL, "order %s still %s after %llds", j->order_url,
				    acme_status_name(j->order.status), j->env->order_timeout);
				return;
			}
			wait_announce(j->name, "order", j->order_url, (int)j->order.status, r, d,
			    &j->wait_logged);
			order_poll_in(j, d);
			return;
		}
		break;

	case ORDER_AUTHORIZE:
		if (!done) {
			start_authorizations(j);
			return;
		}
		/* Every name is authorized: the order should now be ready. */
		j->interval = 0;
		job_enter(j, ORDER_POLL);
		goto next;

	case ORDER_FINALIZE:
		if (!done && !j->finalize_gated) {
			/* Persisted first: after a crash we poll rather than
			 * finalize twice; with a pool, the pool records it too. */
			j->finalize_sent = true;
			j->finalize_since = ev_now(j->env->loop);
			progress_saved(j, j->ops->finalized(j->arg, err, sizeof(err)), err);
			j->gate_point = ORDER_GATE_FINALIZE;
			job_enter(j, ORDER_GATE);
			goto next;
		}
		if (!done) {
			unsigned char *der = NULL;
			size_t derlen = 0;
			char *csr;

			j->finalize_gated = false;
			if (csr_generate(j->key, &j->domains, &der, &derlen) < 0) {
				job_fail(j, NULL, "cannot build the CSR");
				return;
			}
			csr = b64url_encode(der, derlen);
			payload = acme_json_finalize(csr);
			free(der);
			free(csr);
			job_log(j, LOG_INFO, LOG_EVENT_NONE, "finalizing %s", j->order_url);
			if (order_post(j, j->order.finalize, payload,
			    (long)j->env->finalize_timeout * 1000, NULL, "send finalize to")) {
				/* Still running when a lost finalize is sent again. */
				ev_timer_stop(j->env->loop, &j->finalize_wait);
				ev_timer_set(&j->finalize_wait, FINALIZE_SLOW, 0.);
				ev_timer_start(j->env->loop, &j->finalize_wait);
			}
			free(payload);
			return;
		}
		if (r->status == 0) {
			/* Timed out or the connection broke: the CA may well be issuing.
			 * Never finalize again; poll the order instead. */
			job_log(j, LOG_WARNING, LOG_EVENT_NONE,
			    "finalize %s: %s; polling the order", j->order.finalize, r->error ? r->error : "no response");
			order_poll_in(j, POLL_FIRST);
			return;
		}
		if (acme_problem_is(r->problem, "orderNotReady")) {
			job_enter(j, ORDER_POLL);
			goto next;
		}
		if (r->status != 200) {
			fail_reply(j, r, "finalize", j->order.finalize);
			return;
		}
		if (!order_parse(j, r, "finalize"))
			return;
		if (j->order.status != ACME_STATUS_VALID) {
			double d;

			j->interval = 0;
			d = next_poll_delay(r, &j->interval);
			wait_announce(j->name, "order", j->order_url, (int)j->order.status, r, d,
			    &j->wait_logged);
			order_poll_in(j, d);
			return;
		}
		break;

	case ORDER_DOWNLOAD:
		if (!done) {
			ev_timer_stop(j->env->loop, &j->finalize_wait);
			(void)order_post(j, j->order.certificate, "", 0,
			    "application/pem-certificate-chain", "download");
			return;
		}
		if (r == NULL) {
			/* The chain is chosen (chain_chosen_cb). */
			j->result.key = j->key;
			j->key = NULL;
			j->result.ok = true;
			job_enter(j, ORDER_DONE);
			job_finish(j);
			return;
		}
		if (r->status != 200 || r->http->body_len == 0) {
			fail_reply(j, r, "downloading certificate", j->order.certificate);
			return;
		}
		job_log(j, LOG_INFO, LOG_EVENT_ISSUED,
		    "certificate downloaded from %s", j->order.certificate);
		j->chain_pick = acme_chain_pick(j->acct, j->name, j->preferred_chain,
		    r->http, chain_chosen_cb, j);
		if (j->chain_pick == NULL) {
			j->result.chain_pem = xstrndup(r->http->body, r->http->body_len);
			j->result.chain_len = r->http->body_len;
			r = NULL;
			done = true;
			goto step;
		}
		return;

	case ORDER_FAILED: {
		struct acme_problem *p = j->order.error;

		j->order.error = NULL;
		/* Definitive: this order is spent, the next attempt starts anew. */
		forget_order(j);
		job_fail(j, p, "order %s is %s", j->order_url, acme_status_name(j->order.status));
		return;
	}

	case ORDER_DONE:
	case ORDER_STATE__MAX:
		return;
	}

	/* Here with an order in j->order (created, fetched, finalized): its
	 * status says where to go. */
	job_enter(j, order_status_next(j));
	if (j->state == ORDER_NEW_ORDER)
		job_order_again(j);
	goto next;
}

struct order_job *
order_start(struct acme_env *env, struct acme_account *a, const struct order_params *p,
    const struct order_ops *ops, void *arg)
{
	struct order_job *j = xcalloc(1, sizeof(*j));

	j->env = env;
	j->acct = a;
	j->name = xstrdup(p->name);
	job_set_params(j, p);
	j->resume_url = xstrdup(p->resume_url);
	j->resume_finalized = p->resume_finalized;
	j->resume_key = p->resume_key;
	j->ops = ops;
	j->arg = arg;
	j->key = p->reuse_key;
	j->replaces = xstrdup(p->replaces);
	j->pause_limit = p->pause_limit;
	/* An order that will send a newOrder counts against the account's
	 * budget from now (acme_new_order_room), not only once it asks. */
	if (p->resume_url == NULL)
		order_budget_starting(j, true);
	j->deadline = ev_now(env->loop) + (double)env->order_timeout;
	j->result.status = -1;
	ev_timer_init(&j->timer, order_timer_cb, 0., 0.);
	j->timer.data = j;
	ev_timer_init(&j->finalize_wait, finalize_wait_cb, 0., 0.);
	j->finalize_wait.data = j;
	job_enter(j, ORDER_INIT);
	order_step(j);
	return j;
}
