/*
 * notifier.c - carries notifications to their channels: a webhook (a JSON
 * POST through the daemon's own HTTP client, http.c) and a mail program
 * (run as argv through hooks.c with the message on its stdin).
 *
 * Every message becomes one delivery per channel, queued here and driven
 * from the loop: started while fewer than inflight_max are in flight,
 * retried after 2 s, 6 s, 18 s ... (capped) up to `attempts` times, then
 * given up.  Nothing waits on a delivery: a dead webhook costs a queue
 * entry and a timer, never a renewal.  The queue is bounded; when full,
 * the oldest message not in flight makes room for the new one.
 *
 * A channel that stops working is logged once, when it starts failing,
 * and once when it works again (with what it dropped meanwhile): a
 * webhook down for a day must not fill the journal with one line per
 * retry of every message.
 */
#include "notifier.h"

#include <string.h>
#include <time.h>

#include <ev.h>

#include "hooks.h"
#include "http.h"
#include "log.h"
#include "util.h"

enum delivery_kind { DELIVERY_WEBHOOK, DELIVERY_MAIL, DELIVERY_KIND__MAX };
static const char *const delivery_kind_names[DELIVERY_KIND__MAX] = { "webhook", "mail" };

enum delivery_state { DELIVERY_READY, DELIVERY_INFLIGHT, DELIVERY_WAITING,
	DELIVERY_STATE__MAX };

/* A webhook URL or a mail program, and whether it is in an outage. */
struct channel {
	char *name;                 /* "webhook https://...", "mail /usr/sbin/sendmail" */
	bool down;
	unsigned long dropped;      /* messages given up during this outage */
	struct channel *next;
};

struct delivery {
	struct notifier *n;         /* NULL once notifier_free orphaned it */
	enum delivery_kind kind;
	enum delivery_state state;
	struct channel *ch;
	char *event, *about;
	char *url, *header, *ca_bundle;
	long timeout_ms;
	struct strlist argv;
	char *payload;              /* the JSON body, or the whole mail */
	size_t payload_len;
	char *to;                   /* mail: the recipients, for logs */
	int attempt;                /* attempts started */
	ev_timer retry;
	struct http_req *req;
	struct hook_run *hook;
	struct delivery *prev, *next;
};

struct notifier {
	struct ev_loop *loop;
	struct http_client *http;
	struct notifier_limits lim;
	struct delivery *head, *tail;
	size_t ndeliveries;
	int inflight;
	struct channel *channels;
	unsigned long delivered, dropped;
	bool draining;              /* stopping: no more retries */
	void (*idle)(void *arg);    /* draining: called once nothing is left */
	void *idle_arg;
};

static void pump(struct notifier *n);

struct notifier *
notifier_new(struct ev_loop *loop, struct http_client *http)
{
	struct notifier *n = xcalloc(1, sizeof(*n));

	n->loop = loop;
	n->http = http;
	n->lim.attempts = 8;
	n->lim.first_delay = 2.0;
	n->lim.max_delay = 600.0;
	n->lim.queue_max = 1000;
	n->lim.inflight_max = 8;
	n->lim.mail_timeout = 60.0;
	return n;
}

struct notifier_limits *
notifier_limits(struct notifier *n)
{
	return &n->lim;
}

size_t
notifier_pending(const struct notifier *n)
{
	return n->ndeliveries;
}

unsigned long
notifier_delivered(const struct notifier *n)
{
	return n->delivered;
}

unsigned long
notifier_dropped(const struct notifier *n)
{
	return n->dropped;
}

static struct channel *
channel_get(struct notifier *n, const char *name)
{
	struct channel *c;

	for (c = n->channels; c; c = c->next)
		if (strcmp(c->name, name) == 0)
			return c;
	c = xcalloc(1, sizeof(*c));
	c->name = xstrdup(name);
	c->next = n->channels;
	n->channels = c;
	return c;
}

static void
delivery_free(struct delivery *d)
{
	free(d->event);
	free(d->about);
	free(d->url);
	free_secret(d->header, d->header ? strlen(d->header) : 0);
	free(d->ca_bundle);
	strlist_free(&d->argv);
	free(d->payload);
	free(d->to);
	free(d);
}

/* Takes d out of the notifier's list (d is then the caller's). */
static void
delivery_unlink(struct delivery *d)
{
	struct notifier *n = d->n;

	ev_timer_stop(n->loop, &d->retry);
	if (d->prev)
		d->prev->next = d->next;
	else
		n->head = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		n->tail = d->prev;
	d->prev = d->next = NULL;
	n->ndeliveries--;
}

static void
delivered(struct delivery *d, const char *how)
{
	struct notifier *n = d->n;

	if (d->ch->down) {
		if (d->ch->dropped > 0)
			log_notice("notifications: %s works again (%lu message%s given up during "
			    "the outage)", d->ch->name, d->ch->dropped, d->ch->dropped == 1 ? " was" :
			    "s were");
		else
			log_notice("notifications: %s works again", d->ch->name);
		d->ch->down = false;
		d->ch->dropped = 0;
	}
	if (d->kind == DELIVERY_WEBHOOK)
		log_info("notification %s for %s sent to %s (%s)", d->event, d->about, d->url, how);
	else
		log_info("notification %s for %s mailed to %s (%s)", d->event, d->about, d->to,
		    how);
	n->delivered++;
	delivery_unlink(d);
	delivery_free(d);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct delivery *d = w->data;

	(void)revents;
	ev_timer_stop(loop, w);
	d->state = DELIVERY_READY;
	pump(d->n);
}

/*
 * An attempt failed (why, one line).  permanent: retrying cannot help (the
 * webhook refused the request itself).  retry_after: the server's wish in
 * seconds, 0 none.
 */
static void
failed(struct delivery *d, const char *why, bool permanent, long long retry_after)
{
	struct notifier *n = d->n;
	double delay;

	if (!d->ch->down) {
		log_warn("notifications: %s failing: %s%s", d->ch->name, why, permanent ?
		    " (not retried: the request itself was refused)" : "; retrying (nothing more "
		    "is logged until it works again)");
		d->ch->down = true;
	} else {
		log_debug("notifications: %s: %s for %s, attempt %d: %s", d->ch->name, d->event,
		    d->about, d->attempt, why);
	}
	if (permanent || d->attempt >= n->lim.attempts || n->draining) {
		if (d->ch->dropped++ == 0)
			log_err("notification %s for %s to %s given up after %d attempt%s: %s",
			    d->event, d->about, d->ch->name, d->attempt, d->attempt == 1 ? "" : "s",
			    why);
		n->dropped++;
		delivery_unlink(d);
		delivery_free(d);
		return;
	}
	delay = n->lim.first_delay;
	for (int i = 1; i < d->attempt && delay < n->lim.max_delay; i++)
		delay *= 3;
	/* A little spread: many messages queued together do not retry in step. */
	delay *= 0.9 + 0.2 * random_unit();
	if (retry_after > 0 && (double)retry_after > delay)
		delay = (double)retry_after;
	if (delay > n->lim.max_delay)
		delay = n->lim.max_delay;
	d->state = DELIVERY_WAITING;
	ev_timer_set(&d->retry, delay, 0.);
	ev_timer_start(n->loop, &d->retry);
}

/* A delivery's slot is free again: start what waits, or, when stopping
 * and nothing is left, say so. */
static void
settled(struct notifier *n)
{
	n->inflight--;
	pump(n);
	if (n->draining && n->ndeliveries == 0 && n->idle != NULL) {
		void (*idle)(void *) = n->idle;

		n->idle = NULL;
		idle(n->idle_arg);
	}
}

static void
webhook_done(const struct http_response *resp, void *arg)
{
	struct delivery *d = arg;
	struct notifier *n = d->n;
	long long ra = 0;
	char why[512];

	d->req = NULL;
	if (resp->status >= 200 && resp->status < 300) {
		snprintf(why, sizeof(why), "HTTP %ld", resp->status);
		delivered(d, why);
	} else if (resp->status == 0) {
		snprintf(why, sizeof(why), "%s", resp->error ? resp->error : "transfer failed");
		failed(d, why, false, 0);
	} else {
		/* 408, 425, 429 and 5xx are the server's trouble and may pass;
		 * a redirect (never followed) or another 4xx is the URL's or the
		 * request's, and will not. */
		bool permanent = resp->status < 500 && resp->status != 408 &&
		    resp->status != 425 && resp->status != 429;

		if (resp->retry_after)
			http_parse_retry_after(resp->retry_after, time(NULL), &ra);
		snprintf(why, sizeof(why), "HTTP %ld", resp->status);
		failed(d, why, permanent, ra);
	}
	settled(n);
}

static void
mail_done(const struct hook_result *res, void *arg)
{
	struct delivery *d = arg;
	struct notifier *n = d->n;
	char why[256];

	d->hook = NULL;
	if (n == NULL) {
		/* notifier_free left it running; nobody waits for it. */
		delivery_free(d);
		return;
	}
	if (res->exited && res->status == 0) {
		snprintf(why, sizeof(why), "%s exited with status 0", d->argv.v[0]);
		delivered(d, why);
	} else {
		if (res->spawn_error)
			snprintf(why, sizeof(why), "cannot execute %s: %s", d->argv.v[0],
			    strerror(res->spawn_error));
		else if (res->timed_out)
			snprintf(why, sizeof(why), "%s killed after %.0fs", d->argv.v[0],
			    n->lim.mail_timeout);
		else if (res->exited)
			snprintf(why, sizeof(why), "%s exited with status %d", d->argv.v[0],
			    res->status);
		else
			snprintf(why, sizeof(why), "%s killed by signal %d", d->argv.v[0],
			    res->status);
		failed(d, why, false, 0);
	}
	settled(n);
}

/* Starts one attempt; false when it could not even start (d failed). */
static bool
delivery_start(struct delivery *d)
{
	struct notifier *n = d->n;
	char *label;

	d->attempt++;
	d->state = DELIVERY_INFLIGHT;
	n->inflight++;
	if (d->kind == DELIVERY_WEBHOOK) {
		struct http_request_opts o = {
			.method = "POST",
			.url = d->url,
			.body = d->payload,
			.body_len = d->payload_len,
			.content_type = "application/json",
			.header = d->header,
			.ca_bundle = d->ca_bundle,
			.timeout_ms = d->timeout_ms,
		};

		d->req = http_request(n->http, &o, webhook_done, d);
		if (d->req != NULL)
			return true;
		n->inflight--;
		failed(d, "the request could not be started", false, 0);
		return false;
	}
	label = xasprintf("mail for %s (%s)", d->about, d->event);
	d->hook = hook_start_input(n->loop, label, &d->argv, NULL, d->payload, d->payload_len,
	    n->lim.mail_timeout, mail_done, d);
	free(label);
	if (d->hook != NULL)
		return true;
	n->inflight--;
	failed(d, "cannot start the mail program", false, 0);
	return false;
}

static void
pump(struct notifier *n)
{
	struct delivery *d, *next;

	for (d = n->head; d && n->inflight < n->lim.inflight_max; d = next) {
		next = d->next;
		if (d->state == DELIVERY_READY)
			delivery_start(d);
	}
}

/* Header text: one line, ASCII (the subject is built from names and
 * fixed words; anything else is replaced). */
static void
header_line(struct buf *b, const char *name, const char *value)
{
	buf_appendf(b, "%s: ", name);
	for (const char *p = value; *p; p++) {
		unsigned char c = (unsigned char)*p;
		char ch = c < ' ' || c >= 0x7f ? (c == '\t' ? ' ' : (c < ' ' ? ' ' : '?')) :
		    (char)c;

		buf_append(b, &ch, 1);
	}
	buf_append(b, "\n", 1);
}

/* The whole mail for sendmail -t: headers, a blank line, the text. */
static char *
mail_message(const struct notifier_target *to, const struct notifier_msg *m, size_t *len)
{
	struct buf b = { 0 };
	char *rcpt = to->mail_to ? strlist_join(to->mail_to, ", ") : xstrdup("");
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	/* RFC 5322 wants English names whatever the locale. */
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
		"Aug", "Sep", "Oct", "Nov", "Dec" };
	snprintf(date, sizeof(date), "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
	    tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	header_line(&b, "To", rcpt);
	if (to->mail_from)
		header_line(&b, "From", to->mail_from);
	header_line(&b, "Subject", m->subject);
	header_line(&b, "Date", date);
	header_line(&b, "Auto-Submitted", "auto-generated");
	header_line(&b, "X-Certfleet-Event", m->event);
	header_line(&b, "MIME-Version", "1.0");
	header_line(&b, "Content-Type", "text/plain; charset=utf-8");
	header_line(&b, "Content-Transfer-Encoding", "8bit");
	buf_append(&b, "\n", 1);
	buf_append(&b, m->text, strlen(m->text));
	if (b.len > 0 && b.data[b.len - 1] != '\n')
		buf_append(&b, "\n", 1);
	free(rcpt);
	return buf_steal(&b, len);
}

/* Makes room for one more: drops the oldest delivery not in flight; false
 * when every one is in flight. */
static bool
make_room(struct notifier *n)
{
	for (struct delivery *d = n->head; d; d = d->next) {
		if (d->state == DELIVERY_INFLIGHT)
			continue;
		log_err("notifications: queue full (%zu): dropping %s for %s to %s", n->ndeliveries,
		    d->event, d->about, d->ch->name);
		n->dropped++;
		delivery_unlink(d);
		delivery_free(d);
		return true;
	}
	return false;
}

static void
enqueue(struct notifier *n, struct delivery *d)
{
	d->n = n;
	d->state = DELIVERY_READY;
	ev_timer_init(&d->retry, retry_cb, 0., 0.);
	d->retry.data = d;
	d->prev = n->tail;
	if (n->tail)
		n->tail->next = d;
	else
		n->head = d;
	n->tail = d;
	n->ndeliveries++;
}

int
notifier_send(struct notifier *n, const struct notifier_target *to,
    const struct notifier_msg *m)
{
	struct delivery *d;
	char *chan;
	int queued = 0;

	for (int k = 0; k < DELIVERY_KIND__MAX; k++) {
		if ((k == DELIVERY_WEBHOOK && to->webhook_url == NULL) ||
		    (k == DELIVERY_MAIL && (to->mail_argv == NULL || to->mail_argv->n == 0)))
			continue;
		if (n->ndeliveries >= n->lim.queue_max && !make_room(n)) {
			log_err("notifications: queue full (%zu in flight): dropping %s for %s",
			    n->ndeliveries, m->event, m->about);
			n->dropped++;
			continue;
		}
		d = xcalloc(1, sizeof(*d));
		d->kind = (enum delivery_kind)k;
		d->event = xstrdup(m->event);
		d->about = xstrdup(m->about);
		if (k == DELIVERY_WEBHOOK) {
			d->url = xstrdup(to->webhook_url);
			d->header = xstrdup(to->webhook_header);
			d->ca_bundle = xstrdup(to->webhook_ca_bundle);
			d->timeout_ms = (long)to->webhook_timeout * 1000;
			d->payload = xstrdup(m->json);
			d->payload_len = strlen(m->json);
			chan = xasprintf("%s %s", delivery_kind_names[k], to->webhook_url);
		} else {
			for (size_t i = 0; i < to->mail_argv->n; i++)
				strlist_add(&d->argv, to->mail_argv->v[i]);
			d->to = to->mail_to ? strlist_join(to->mail_to, ", ") : xstrdup("");
			d->payload = mail_message(to, m, &d->payload_len);
			chan = xasprintf("%s %s", delivery_kind_names[k], to->mail_argv->v[0]);
		}
		d->ch = channel_get(n, chan);
		free(chan);
		enqueue(n, d);
		queued++;
	}
	pump(n);
	return queued;
}

bool
notifier_drain(struct notifier *n, void (*idle)(void *arg), void *arg)
{
	n->draining = true;
	n->idle = idle;
	n->idle_arg = arg;
	for (struct delivery *d = n->head; d; d = d->next) {
		if (d->state == DELIVERY_WAITING) {
			ev_timer_stop(n->loop, &d->retry);
			d->state = DELIVERY_READY;
		}
	}
	pump(n);
	if (n->ndeliveries == 0) {
		n->idle = NULL;
		return false;
	}
	log_info("notifications: %zu still being delivered", n->ndeliveries);
	return true;
}

void
notifier_free(struct notifier *n)
{
	struct delivery *d, *next;
	struct channel *c, *cn;

	if (n == NULL)
		return;
	if (n->ndeliveries > 0)
		log_warn("notifications: %zu not delivered at exit", n->ndeliveries);
	for (d = n->head; d; d = next) {
		next = d->next;
		ev_timer_stop(n->loop, &d->retry);
		if (d->req)
			http_cancel(d->req);
		if (d->hook) {
			/* Its callback frees it, whenever the program ends. */
			d->n = NULL;
			d->ch = NULL;
			continue;
		}
		delivery_free(d);
	}
	for (c = n->channels; c; c = cn) {
		cn = c->next;
		free(c->name);
		free(c);
	}
	free(n);
}
