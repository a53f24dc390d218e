/*
 * fleet_notify.c - telling the operator when a certificate is in danger:
 * the events, the per-certificate state machine and the messages; the
 * notifier (notifier.c) carries them.
 *
 * A certificate is in danger when its renewal has failed after_failures
 * times in a row, or when its installed certificate is within warn_before
 * of its end.  Each danger is told once when it begins, reminded once a
 * day while it lasts, and its end ("recovered") told once; an attempt that
 * fails again tells nothing new.  What was told is kept in the
 * certificate's state file (cert_state.notified_*), written when the
 * notice is queued, so a restart neither repeats a notice nor forgets a
 * danger (at most one notice is lost to a crash between the two).
 *
 * The state machine, fleet_notify_eval(), is a pure function of the
 * policy, the state and the time, which its tests drive with their own
 * clock.  It runs after every attempt settles (fleet_cert_settled), after
 * a reload, at start, and from an hourly timer that catches the moments
 * nothing else marks: entering the warn_before window, the daily reminder.
 *
 * revoked, account_deactivated and reload_rejected are the results of one
 * operator action each and are told when they happen, without state.
 * The fleet's own events (account, reload) go to the top level's notify:,
 * a certificate's to its own (merged) one.  --once runs notify nothing:
 * the run's exit status is what cron reports.
 */
#include "fleet_notify.h"

#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "acme_json.h"
#include "fleet_internal.h"
#include "json.h"
#include "log.h"
#include "namemap.h"
#include "notifier.h"
#include "util.h"

#define CHECK_PERIOD 3600.0     /* seconds between the timer's checks */

static const char *const event_names[FLEET_EVENT__MAX] = {
	[FLEET_EVENT_RENEWAL_FAILED] = "renewal_failed",
	[FLEET_EVENT_EXPIRING] = "expiring",
	[FLEET_EVENT_RECOVERED] = "recovered",
	[FLEET_EVENT_REVOKED] = "revoked",
	[FLEET_EVENT_ACCOUNT_DEACTIVATED] = "account_deactivated",
	[FLEET_EVENT_RELOAD_REJECTED] = "reload_rejected",
};

const char *
fleet_event_name(enum fleet_event e)
{
	return (unsigned)e < FLEET_EVENT__MAX ? event_names[e] : "unknown";
}

/* ---- the state machine ---- */

time_t
fleet_notify_warn_at(const struct config_notify *p, const struct cert_state *st)
{
	long long warn;

	if (st->not_after == 0)
		return 0;
	warn = p->warn_before;
	if (warn == 0) {
		long long life = (long long)(st->not_after - st->not_before);

		/* A state without notBefore (written by hand, say): the lifetime
		 * of most public certificates, rather than decades. */
		if (st->not_before == 0 || life <= 0)
			life = 90LL * 86400;
		warn = life * p->warn_before_pct / 100;
	}
	return st->not_after - (time_t)warn;
}

size_t
fleet_notify_eval(const struct config_notify *p, struct cert_state *st, time_t now,
    struct fleet_notice out[3])
{
	time_t warn_at = fleet_notify_warn_at(p, st);
	bool failing = st->failures >= p->after_failures;
	bool expiring = warn_at != 0 && now >= warn_at;
	bool was_told = st->notified_failed != 0 || st->notified_expiring != 0;
	bool over = false;
	size_t n = 0;

	/* The ends of a danger: a success, a new certificate. */
	if (st->notified_failed != 0 && st->failures == 0) {
		st->notified_failed = 0;
		over = true;
	}
	if (st->notified_expiring != 0 && st->not_after != st->notified_not_after) {
		st->notified_expiring = 0;
		st->notified_not_after = 0;
		over = true;
	} else if (st->notified_expiring != 0 && !expiring) {
		/* Same certificate, a shorter warn_before since: nothing was
		 * renewed, so nothing recovered; the mark goes quietly. */
		st->notified_expiring = 0;
		st->notified_not_after = 0;
	}
	if (was_told && over && st->notified_failed == 0 && st->notified_expiring == 0)
		out[n++] = (struct fleet_notice){ FLEET_EVENT_RECOVERED, false };

	/* The beginnings. */
	if (failing && st->notified_failed == 0) {
		out[n++] = (struct fleet_notice){ FLEET_EVENT_RENEWAL_FAILED, false };
		st->notified_failed = now;
		st->notified_last = now;
	}
	if (expiring && st->notified_expiring == 0) {
		out[n++] = (struct fleet_notice){ FLEET_EVENT_EXPIRING, false };
		st->notified_expiring = now;
		st->notified_not_after = st->not_after;
		st->notified_last = now;
	}

	/* A danger told before and still there: once a day, the most urgent. */
	if (n == 0 && (st->notified_failed != 0 || st->notified_expiring != 0) &&
	    now - st->notified_last >= FLEET_NOTIFY_REMINDER) {
		out[n++] = (struct fleet_notice){ st->notified_expiring != 0 ?
		    FLEET_EVENT_EXPIRING : FLEET_EVENT_RENEWAL_FAILED, true };
		st->notified_last = now;
	}
	if (st->notified_failed == 0 && st->notified_expiring == 0)
		st->notified_last = 0;
	return n;
}

/* ---- the messages ---- */

static void
host_name(char *buf, size_t len)
{
	if (gethostname(buf, len) < 0 || buf[0] == '\0')
		snprintf(buf, len, "localhost");
	buf[len - 1] = '\0';
}

/* The members every event has. */
static struct json *
event_json(enum fleet_event e, bool reminder, const char *host, time_t now)
{
	struct json *o = json_new_object();

	json_set_str(o, "event", fleet_event_name(e));
	json_set_bool(o, "reminder", reminder);
	json_set_str(o, "host", host);
	json_set_time(o, "time", now);
	return o;
}

static void
cert_members(struct json *o, const char *name, const struct config_cert *cc,
    const struct cert_state *st, time_t now)
{
	const struct strlist *names = cc ? &cc->domains : &st->names;
	const struct json *pj;
	struct json *problem = NULL;

	json_set_str(o, "certificate", name);
	json_set(o, "names", json_new_string_array((const char *const *)names->v, names->n));
	if (cc && cc->account_name)
		json_set_str(o, "account", cc->account_name);
	if (st->not_after != 0) {
		json_set_time(o, "not_after", st->not_after);
		json_set_num(o, "seconds_left", (double)(st->not_after - now));
	} else {
		json_set_null(o, "not_after");
		json_set_null(o, "seconds_left");
	}
	json_set_str(o, "serial", st->serial);
	json_set_num(o, "failures", st->failures);
	json_set_time(o, "last_success", st->last_success);
	if (st->last_error && st->failures > 0)
		json_set_str(o, "error", st->last_error);
	else
		json_set_null(o, "error");
	if (st->last_problem && st->failures > 0)
		problem = json_parse(st->last_problem, strlen(st->last_problem), NULL);
	pj = problem;
	if (json_is_object(pj))
		json_set(o, "problem", problem);
	else {
		json_free(problem);
		json_set_null(o, "problem");
	}
}

char *
fleet_notify_cert_json(enum fleet_event e, bool reminder, const char *name,
    const struct config_cert *cc, const struct cert_state *st, const char *host, time_t now)
{
	struct json *o = event_json(e, reminder, host, now);
	char *s;

	cert_members(o, name, cc, st, now);
	if (e == FLEET_EVENT_REVOKED) {
		json_set_str(o, "revoked_serial", st->revoked_serial);
		json_set_num(o, "reason", st->revoked_reason);
	}
	s = json_print(o);
	json_free(o);
	return s;
}

/* "12d 3h" left, or "expired 2h ago". */
static void
left_text(time_t not_after, time_t now, char *buf, size_t len)
{
	char d[64];

	duration_format((double)(not_after > now ? not_after - now : now - not_after), d,
	    sizeof(d));
	if (not_after > now)
		snprintf(buf, len, "in %s", d);
	else
		snprintf(buf, len, "expired %s ago", d);
}

/* The mail's subject and text for a certificate event. */
static void
cert_text(enum fleet_event e, bool reminder, const char *name, const struct config_cert *cc,
    const struct cert_state *st, const char *host, time_t now, char **subject, char **text)
{
	const struct strlist *names = cc ? &cc->domains : &st->names;
	char left[96] = "", at[32] = "", *joined = strlist_join(names, ", ");
	struct acme_problem *p = NULL;
	char *pf = NULL;
	struct buf b = { 0 };
	const char *re = reminder ? "reminder: " : "";

	if (st->not_after) {
		left_text(st->not_after, now, left, sizeof(left));
		time_format_rfc3339(st->not_after, at, sizeof(at));
	}
	switch (e) {
	case FLEET_EVENT_RENEWAL_FAILED:
		*subject = xasprintf("[certfleet] %s%s: renewal failing (%d attempts in a row)", re,
		    name, st->failures);
		buf_appendf(&b, "certfleetd on %s cannot renew %s: %d attempts in a row failed.\n",
		    host, name, st->failures);
		break;
	case FLEET_EVENT_EXPIRING:
		*subject = xasprintf("[certfleet] %s%s: certificate expires %s", re, name, left);
		buf_appendf(&b, "certfleetd on %s: the certificate %s expires %s and has not "
		    "been renewed.\n", host, name, left);
		break;
	case FLEET_EVENT_RECOVERED:
		*subject = xasprintf("[certfleet] %s: recovered", name);
		buf_appendf(&b, "certfleetd on %s renewed %s: the trouble reported before is "
		    "over.\n", host, name);
		break;
	case FLEET_EVENT_REVOKED:
		*subject = xasprintf("[certfleet] %s: certificate revoked", name);
		buf_appendf(&b, "certfleetd on %s: the certificate %s (serial %s) was revoked.\n",
		    host, name, st->revoked_serial ? st->revoked_serial : "?");
		break;
	default:
		*subject = xasprintf("[certfleet] %s: %s", name, fleet_event_name(e));
		break;
	}
	buf_appendf(&b, "\nCertificate: %s\nNames:       %s\n", name, joined);
	if (cc && cc->account_name)
		buf_appendf(&b, "Account:     %s\n", cc->account_name);
	if (st->not_after)
		buf_appendf(&b, "Expires:     %s (%s)\n", at, left);
	else
		buf_appendf(&b, "Expires:     (no certificate issued yet)\n");
	if (st->failures > 0) {
		buf_appendf(&b, "Failures:    %d in a row\n", st->failures);
		if (st->last_error)
			buf_appendf(&b, "Last error:  %s\n", st->last_error);
		if (st->last_problem &&
		    (p = acme_problem_parse(st->last_problem, strlen(st->last_problem))) != NULL &&
		    (pf = acme_problem_format(p)) != NULL)
			buf_appendf(&b, "CA problem:  %s\n", pf);
	}
	if (e == FLEET_EVENT_REVOKED)
		buf_appendf(&b, "Reason:      %d (RFC 5280 CRLReason)\n", st->revoked_reason);
	if (e == FLEET_EVENT_RENEWAL_FAILED || e == FLEET_EVENT_EXPIRING)
		buf_appendf(&b, "\nA reminder follows every day while this lasts, and a "
		    "\"recovered\" notice when it is over.\nSee: certfleetctl status %s\n", name);
	*text = buf_steal(&b, NULL);
	acme_problem_free(p);
	free(pf);
	free(joined);
}

/* ---- sending ---- */

static void
send_msg(struct fleet *f, const struct config_notify *to, enum fleet_event e,
    const char *about, const char *subject, const char *json, const char *text)
{
	struct notifier_msg m = {
		.event = fleet_event_name(e),
		.about = about,
		.subject = subject,
		.json = json,
		.text = text,
	};
	struct notifier_target t = {
		.webhook_url = to->webhook_url,
		.webhook_header = to->webhook_header,
		.webhook_ca_bundle = to->webhook_ca_bundle,
		.webhook_timeout = to->webhook_timeout,
		.mail_argv = &to->mail_argv,
		.mail_to = &to->mail_to,
		.mail_from = to->mail_from,
	};

	notifier_send(f->notifier, &t, &m);
}

static void
send_cert(struct cert_rt *r, enum fleet_event e, bool reminder, time_t now)
{
	char host[256], *json, *subject = NULL, *text = NULL;

	host_name(host, sizeof(host));
	json = fleet_notify_cert_json(e, reminder, r->cfg->name, r->cfg, &r->st, host, now);
	cert_text(e, reminder, r->cfg->name, r->cfg, &r->st, host, now, &subject, &text);
	cert_log(r, LOG_NOTICE, LOG_EVENT_NONE, "notifying %s%s", fleet_event_name(e),
	    reminder ? " (daily reminder)" : "");
	send_msg(r->f, r->cfg->notify, e, r->cfg->name, subject, json, text);
	free(json);
	free(subject);
	free(text);
}

void
fleet_notify_cert(struct cert_rt *r)
{
	struct fleet_notice out[3];
	struct cert_state before;
	time_t now = time(NULL);
	size_t n;

	if (r->f->notifier == NULL || r->cfg == NULL || !config_notify_enabled(r->cfg->notify))
		return;
	before = r->st;
	n = fleet_notify_eval(r->cfg->notify, &r->st, now, out);
	/* Saved before anything is sent: a restart must not tell it again. */
	if (before.notified_failed != r->st.notified_failed ||
	    before.notified_expiring != r->st.notified_expiring ||
	    before.notified_not_after != r->st.notified_not_after ||
	    before.notified_last != r->st.notified_last)
		fleet_cert_save(r);
	for (size_t i = 0; i < n; i++)
		send_cert(r, out[i].event, out[i].reminder, now);
}

void
fleet_notify_all(struct fleet *f)
{
	for (size_t i = 0; i < f->ncerts; i++)
		fleet_notify_cert(f->certs[i]);
}

void
fleet_notify_revoked(struct fleet *f, const char *name)
{
	struct cert_rt *r = NULL;

	if (f->notifier == NULL)
		return;
	r = namemap_get(f->by_name, name);
	/* Removed by a reload meanwhile: nobody's policy to follow. */
	if (r == NULL || !config_notify_enabled(r->cfg->notify))
		return;
	send_cert(r, FLEET_EVENT_REVOKED, false, time(NULL));
}

void
fleet_notify_account_deactivated(struct fleet *f, const char *account)
{
	const struct config_notify *to = &f->cfg->notify;
	char host[256], *json, *subject, *text;
	struct strlist certs = { 0 };
	struct json *o, *a;
	time_t now = time(NULL);
	char *joined;

	if (f->notifier == NULL || !config_notify_enabled(to))
		return;
	host_name(host, sizeof(host));
	for (size_t i = 0; i < f->ncerts; i++)
		if (f->certs[i]->cfg->account_name &&
		    strcmp(f->certs[i]->cfg->account_name, account) == 0)
			strlist_add(&certs, f->certs[i]->cfg->name);
	o = event_json(FLEET_EVENT_ACCOUNT_DEACTIVATED, false, host, now);
	json_set_str(o, "account", account);
	a = json_set_array(o, "certificates");
	for (size_t i = 0; i < certs.n; i++)
		json_push(a, json_new_string(certs.v[i]));
	json = json_print(o);
	json_free(o);
	joined = certs.n ? strlist_join(&certs, ", ") : xstrdup("(none)");
	subject = xasprintf("[certfleet] account %s deactivated", account);
	text = xasprintf("certfleetd on %s: the ACME account %s was deactivated at its CA.\n"
	    "Its certificates can no longer be renewed through it: %s\n", host, account, joined);
	log_notice("account %s: notifying %s", account,
	    fleet_event_name(FLEET_EVENT_ACCOUNT_DEACTIVATED));
	send_msg(f, to, FLEET_EVENT_ACCOUNT_DEACTIVATED, account, subject, json, text);
	free(joined);
	free(json);
	free(subject);
	free(text);
	strlist_free(&certs);
}

void
fleet_notify_reload_rejected(struct fleet *f, const char *error)
{
	const struct config_notify *to = &f->cfg->notify;
	char host[256], *json, *subject, *text;
	time_t now = time(NULL);
	struct json *o;

	if (f->notifier == NULL || !config_notify_enabled(to))
		return;
	host_name(host, sizeof(host));
	o = event_json(FLEET_EVENT_RELOAD_REJECTED, false, host, now);
	json_set_str(o, "inventory", f->cfg->path);
	json_set_str(o, "error", error);
	json = json_print(o);
	json_free(o);
	subject = xasprintf("[certfleet] inventory reload rejected on %s", host);
	text = xasprintf("certfleetd on %s refused to reload %s and keeps running the "
	    "inventory it had:\n\n%s\n\nFix the file and reload again (certfleetd --check -c "
	    "%s tells what is wrong).\n", host, f->cfg->path, error, f->cfg->path);
	log_notice("notifying %s", fleet_event_name(FLEET_EVENT_RELOAD_REJECTED));
	send_msg(f, to, FLEET_EVENT_RELOAD_REJECTED, "the inventory", subject, json, text);
	free(json);
	free(subject);
	free(text);
}

void
fleet_set_notifier(struct fleet *f, struct notifier *n)
{
	f->notifier = n;
}

/* ---- the timer ---- */

static void
check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	fleet_notify_all(w->data);
}

void
fleet_notify_init(struct fleet *f)
{
	ev_timer_init(&f->notify_timer, check_cb, CHECK_PERIOD, CHECK_PERIOD);
	f->notify_timer.data = f;
}

void
fleet_notify_start(struct fleet *f)
{
	if (f->notifier == NULL)
		return;
	ev_timer_start(f->env->loop, &f->notify_timer);
	fleet_notify_all(f);
}

void
fleet_notify_stop(struct fleet *f)
{
	ev_timer_stop(f->env->loop, &f->notify_timer);
}
