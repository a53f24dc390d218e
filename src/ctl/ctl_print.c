/*
 * ctl_print.c - certfleetctl's human output: the status table, the show
 * listing and the account table, all read from the same JSON a script gets
 * with --json (fleet_report.h), so the two never disagree.
 */
#include <string.h>

#include "ctl_client.h"
#include "json.h"
#include "util.h"

static const char *
jstr(const struct json *o, const char *key)
{
	return json_str(json_get(o, key));
}

static double
jnum(const struct json *o, const char *key, double dflt)
{
	const struct json *v = json_get(o, key);

	return json_is_number(v) ? json_num(v) : dflt;
}

static time_t
jtime(const struct json *o, const char *key)
{
	const char *s = jstr(o, key);
	time_t t = 0;

	if (s && time_parse_rfc3339(s, &t) == 0)
		return t;
	return 0;
}

/* "2026-12-28 10:00" (UTC) into buf. */
static void
fmt_date(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

static void
fmt_left(const struct json *c, char *buf, size_t len)
{
	time_t na = jtime(c, "not_after"), now = time(NULL);

	if (na == 0)
		snprintf(buf, len, "-");
	else if (na <= now)
		snprintf(buf, len, "expired");
	else
		duration_format((double)(na - now), buf, len);
}

static void
fmt_next(const struct json *c, char *buf, size_t len)
{
	const char *state = jstr(c, "state");
	time_t t = jtime(c, "next_renewal"), now = time(NULL);
	char d[48];

	if (state && (strcmp(state, "renewing") == 0 || strcmp(state, "queued") == 0 ||
	    strcmp(state, "deploy-hook") == 0)) {
		snprintf(buf, len, "%s", state);
		return;
	}
	if (t == 0) {
		snprintf(buf, len, "-");
		return;
	}
	if (t <= now) {
		snprintf(buf, len, "now");
		return;
	}
	duration_format((double)(t - now), d, sizeof(d));
	snprintf(buf, len, "in %s", d);
}

static void
fmt_last(const struct json *c, char *buf, size_t len)
{
	const char *r = jstr(c, "last_result");
	int failures = (int)jnum(c, "failures", 0);

	if (r && strcmp(r, "failed") == 0)
		snprintf(buf, len, "failed (%d)", failures);
	else
		snprintf(buf, len, "%s", r ? r : "-");
	if (json_is_true(json_get(c, "revoked")))
		snprintf(buf + strlen(buf), len - strlen(buf), ", revoked");
	if (json_get(c, "held"))
		snprintf(buf + strlen(buf), len - strlen(buf), ", issued, not installed");
}

static void
fmt_names(const struct json *c, char *buf, size_t len)
{
	const struct json *names = json_get(c, "names");
	int n = json_size(names);
	const char *first = json_str(json_at(names, 0));

	if (n > 1)
		snprintf(buf, len, "%s (+%d)", first ? first : "?", n - 1);
	else
		snprintf(buf, len, "%s", first ? first : "-");
}

/* "validating a.example by http-01 since 2026-12-02 10:00:05 UTC (12s)" */
static void
fmt_phase(const struct json *c, char *buf, size_t len)
{
	time_t since = jtime(c, "phase_since"), now = time(NULL);
	char when[32], d[48];
	struct tm tm;

	if (since == 0 || gmtime_r(&since, &tm) == NULL) {
		snprintf(buf, len, "%s", jstr(c, "phase"));
		return;
	}
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	duration_format((double)(now > since ? now - since : 0), d, sizeof(d));
	snprintf(buf, len, "%s since %s UTC (%s)", jstr(c, "phase"), when, d);
}

/* Below the table, so its columns stay as they were: what each
 * certificate in flight is doing. */
static void
print_phases(const struct json *certs)
{
	const struct json *c;
	bool first = true;
	char buf[512];

	JSON_FOREACH(c, certs) {
		if (jstr(c, "phase") == NULL)
			continue;
		if (first)
			printf("\nIN FLIGHT\n");
		first = false;
		fmt_phase(c, buf, sizeof(buf));
		printf("%s: %s\n", jstr(c, "name"), buf);
	}
}

#define NCOLS 7

/* The pool's view: the state line, then each shared certificate whose
 * version here is not the pool's (the others agree). */
static void
print_pool(const struct json *status, const struct json *certs)
{
	const struct json *c, *p;

	if (jstr(status, "pool") == NULL)
		return;
	printf("\n%s\n", jstr(status, "pool"));
	JSON_FOREACH(c, certs) {
		double here, pool;

		if ((p = json_get(c, "pool")) == NULL)
			continue;
		here = jnum(p, "installed_version", 0);
		pool = jnum(p, "pool_version", 0);
		if (here == pool && jstr(p, "holder") == NULL)
			continue;
		printf("  %s: version %.0f here, %.0f in the pool", jstr(c, "name"), here, pool);
		if (jstr(p, "holder"))
			printf("; %s holds its lock", jstr(p, "holder"));
		printf("\n");
	}
}

void
ctl_print_cluster(const struct json *st)
{
	const struct json *m, *l;

	printf("node      %s\n", jstr(st, "node") ? jstr(st, "node") : "?");
	printf("state     %s\n", jstr(st, "state") ? jstr(st, "state") : "?");
	if (jstr(st, "error"))
		printf("error     %s\n", jstr(st, "error"));
	printf("endpoint  %s (revision %.0f)\n", jstr(st, "endpoint") ? jstr(st, "endpoint") : "?",
	    jnum(st, "revision", 0));
	printf("prefix    %s\n", jstr(st, "prefix") ? jstr(st, "prefix") : "?");
	printf("\nMEMBERS (%zu)\n", json_size(json_get(st, "members")));
	JSON_FOREACH(m, json_get(st, "members")) {
		char when[48] = "never";

		if (jtime(m, "last_ack_at") > 0)
			fmt_date(jtime(m, "last_ack_at"), when, sizeof(when));
		printf("  %-24s pid %-8.0f last ack %s%s%s\n", jstr(m, "node") ? jstr(m, "node") : "?",
		    jnum(m, "pid", 0), when, jstr(m, "last_ack") ? " token " : "",
		    jstr(m, "last_ack") ? jstr(m, "last_ack") : "");
	}
	printf("\nLOCKS (%zu)\n", json_size(json_get(st, "locks")));
	JSON_FOREACH(l, json_get(st, "locks"))
		printf("  %-32s held by %s (fence %.0f)\n", jstr(l, "name") ? jstr(l, "name") : "?",
		    jstr(l, "holder") ? jstr(l, "holder") : "?", jnum(l, "fence", 0));
}

/* One line per account whose budgets hold orders back (or that has
 * newOrders in flight under a limit): what waits for what, and until when. */
static void
print_budgets(const struct json *status)
{
	const struct json *a, *w;
	time_t now = time(NULL);
	bool first = true;

	JSON_FOREACH(a, json_get(status, "budgets")) {
		const char *blocked = jstr(a, "blocked_by");
		double nwait = 0;
		char d[64];

		w = json_get(a, "waiting");
		if (blocked != NULL)
			nwait = jnum(w, blocked, 0);
		if (nwait == 0 && jnum(w, "new_order_ticket", 0) == 0 &&
		    jtime(a, "paused_until") == 0)
			continue;
		if (first)
			printf("\nBUDGETS\n");
		first = false;
		printf("  %s:", jstr(a, "account") ? jstr(a, "account") : "?");
		if (nwait > 0) {
			printf(" %.0f queued for %s", nwait, blocked);
			if (strcmp(blocked, "new_orders_per") == 0 && jstr(a, "new_orders_per"))
				printf(" (%s)", jstr(a, "new_orders_per"));
		}
		if (jtime(a, "paused_until") > now) {
			duration_format((double)(jtime(a, "paused_until") - now), d, sizeof(d));
			printf("%s paused by the CA for %s more", nwait > 0 ? ";" : "", d);
		} else if (jtime(a, "opens_at") > now) {
			duration_format((double)(jtime(a, "opens_at") - now), d, sizeof(d));
			printf("; next token in %s", d);
		}
		if (jnum(w, "new_order_ticket", 0) > 0)
			printf("; %.0f started, waiting to send newOrder", jnum(w, "new_order_ticket", 0));
		printf("; newOrders in flight %.0f", jnum(a, "new_orders_sending", 0));
		if (jnum(a, "new_orders_in_flight", 0) > 0)
			printf(" of %.0f", jnum(a, "new_orders_in_flight", 0));
		printf("\n");
	}
}

void
ctl_print_status(const struct json *status)
{
	static const char *const head[NCOLS] = { "NAME", "NAMES", "KEY", "NOT AFTER (UTC)",
		"LEFT", "NEXT RENEWAL", "LAST RESULT" };
	const struct json *certs = json_get(status, "certificates"), *c;
	int n = json_size(certs), w[NCOLS];
	char (*cell)[NCOLS][128];
	int i = 0;

	for (int k = 0; k < NCOLS; k++)
		w[k] = (int)strlen(head[k]);
	cell = xcalloc((size_t)n + 1, sizeof(*cell));
	JSON_FOREACH(c, certs) {
		const char *name = jstr(c, "name"), *kt = jstr(c, "key_type");
		snprintf(cell[i][0], sizeof(cell[i][0]), "%s", name ? name : "?");
		fmt_names(c, cell[i][1], sizeof(cell[i][1]));
		snprintf(cell[i][2], sizeof(cell[i][2]), "%s", kt ? kt : "-");
		fmt_date(jtime(c, "not_after"), cell[i][3], sizeof(cell[i][3]));
		fmt_left(c, cell[i][4], sizeof(cell[i][4]));
		fmt_next(c, cell[i][5], sizeof(cell[i][5]));
		fmt_last(c, cell[i][6], sizeof(cell[i][6]));
		for (int k = 0; k < NCOLS; k++)
			if ((int)strlen(cell[i][k]) > w[k])
				w[k] = (int)strlen(cell[i][k]);
		i++;
	}
	for (int k = 0; k < NCOLS; k++)
		printf("%-*s%s", k + 1 < NCOLS ? w[k] : 0, head[k], k + 1 < NCOLS ? "  " : "\n");
	for (i = 0; i < n; i++)
		for (int k = 0; k < NCOLS; k++)
			printf("%-*s%s", k + 1 < NCOLS ? w[k] : 0, cell[i][k],
			    k + 1 < NCOLS ? "  " : "\n");
	free(cell);
	print_phases(certs);
	print_budgets(status);
	print_pool(status, certs);
}

static void
line(const char *label, const char *value)
{
	if (value && *value)
		printf("%-16s %s\n", label, value);
}

static void
line_time(const struct json *o, const char *key, const char *label)
{
	time_t t = jtime(o, key);
	char d[48], when[96];

	if (t == 0)
		return;
	fmt_date(t, when, sizeof(when));
	if (t > time(NULL)) {
		duration_format((double)(t - time(NULL)), d, sizeof(d));
		printf("%-16s %s UTC (in %s)\n", label, when, d);
	} else {
		duration_format((double)(time(NULL) - t), d, sizeof(d));
		printf("%-16s %s UTC (%s ago)\n", label, when, d);
	}
}

static char *
join_array(const struct json *a)
{
	struct buf b = {0};
	const struct json *it;

	JSON_FOREACH(it, a)
		buf_appendf(&b, "%s%s", b.len ? ", " : "", json_is_string(it) ? json_str(it) : "?");
	return buf_steal(&b, NULL);
}

void
ctl_print_show(const struct json *c)
{
	const struct json *cfg = json_get(c, "config");
	const struct json *ord = json_get(c, "order");
	const struct json *ari = json_get(c, "ari");
	const struct json *prob = json_get(c, "last_problem");
	char buf[256], *s;

	line("name:", jstr(c, "name"));
	s = join_array(json_get(c, "names"));
	line("names:", s);
	free(s);
	line("key type:", jstr(c, "key_type"));
	line("account:", jstr(c, "account"));
	line("state:", jstr(c, "state"));
	if (jstr(c, "phase")) {
		char ph[512];

		fmt_phase(c, ph, sizeof(ph));
		line("phase:", ph);
	}
	if (json_is_true(json_get(c, "installed"))) {
		snprintf(buf, sizeof(buf), "version %d, serial %s", (int)jnum(c, "version", 0),
		    jstr(c, "serial") ? jstr(c, "serial") : "?");
		line("installed:", buf);
	} else {
		line("installed:", "no");
	}
	if (json_get(c, "held")) {
		const struct json *h = json_get(c, "held");
		char na[48];
		fmt_date(jtime(h, "not_after"), na, sizeof(na));
		snprintf(buf, sizeof(buf), "issued, not installed: serial %s, valid until %s UTC; "
		    "the next attempt installs it", jstr(h, "serial") ? jstr(h, "serial") : "?", na);
		line("held:", buf);
	}
	line_time(c, "not_before", "not before:");
	line_time(c, "not_after", "not after:");
	fmt_next(c, buf, sizeof(buf));
	if (strcmp(buf, "-") == 0 || strcmp(buf, "now") == 0 || strncmp(buf, "in ", 3) == 0)
		line_time(c, "next_renewal", "next renewal:");
	else
		line("next renewal:", buf);
	line("due because:", jstr(c, "due_reason"));
	fmt_last(c, buf, sizeof(buf));
	line("last result:", buf);
	line_time(c, "last_success", "last success:");
	line_time(c, "last_attempt", "last attempt:");
	line("last error:", jstr(c, "last_error"));
	line_time(c, "next_attempt", "next attempt:");
	if (prob) {
		s = json_print_pretty(prob);
		printf("%-16s ", "last problem:");
		for (const char *p = s; *p; p++) {
			putchar(*p);
			if (*p == '\n')
				printf("%-16s ", "");
		}
		putchar('\n');
		free(s);
	}
	if (ord) {
		snprintf(buf, sizeof(buf), "%s%s", jstr(ord, "url") ? jstr(ord, "url") : "?",
		    json_is_true(json_get(ord, "finalized")) ? " (finalized)" : "");
		line("order:", buf);
		line_time(ord, "started", "order started:");
	}
	if (ari) {
		line_time(ari, "start", "ARI from:");
		line_time(ari, "end", "ARI until:");
		line_time(ari, "checked", "ARI checked:");
	}
	line("cert id:", jstr(c, "cert_id"));
	if (json_get(c, "installed_names")) {
		s = join_array(json_get(c, "installed_names"));
		line("installed names:", s);
		free(s);
	}
	line("state error:", jstr(c, "state_error"));
	if (cfg) {
		s = join_array(json_get(cfg, "challenges"));
		line("challenges:", s);
		free(s);
		line("fullchain:", jstr(cfg, "fullchain"));
		line("profile:", jstr(cfg, "profile"));
		line("preferred chain:", jstr(cfg, "preferred_chain"));
		line("webroot:", jstr(cfg, "webroot"));
		line("dns-01 hook:", jstr(cfg, "dns01_hook"));
		if (json_get(cfg, "deploy_hook")) {
			s = join_array(json_get(cfg, "deploy_hook"));
			line("deploy hook:", s);
			free(s);
		}
		line("reuse key:", json_is_true(json_get(cfg, "reuse_key")) ? "yes" : "no");
		line("combined.pem:", json_is_true(json_get(cfg, "combined")) ? "yes" : "no");
	}
}

void
ctl_print_accounts(const struct json *accounts)
{
	static const char *const head[4] = { "NAME", "STATUS", "KEY", "URL" };
	const struct json *a;
	int w[4];

	for (int k = 0; k < 4; k++)
		w[k] = (int)strlen(head[k]);
	JSON_FOREACH(a, accounts) {
		const char *v[4] = { jstr(a, "name"), jstr(a, "status"), jstr(a, "key_type"),
			jstr(a, "url") };
		for (int k = 0; k < 4; k++)
			if (v[k] && (int)strlen(v[k]) > w[k])
				w[k] = (int)strlen(v[k]);
	}
	printf("%-*s  %-*s  %-*s  %s\n", w[0], head[0], w[1], head[1], w[2], head[2], head[3]);
	JSON_FOREACH(a, accounts) {
		const char *v[4] = { jstr(a, "name"), jstr(a, "status"), jstr(a, "key_type"),
			jstr(a, "url") };
		printf("%-*s  %-*s  %-*s  %s\n", w[0], v[0] ? v[0] : "?", w[1],
		    v[1] ? v[1] : "-", w[2], v[2] ? v[2] : "-", v[3] ? v[3] : "(not registered)");
		if (jstr(a, "directory"))
			printf("%-*s  directory %s\n", w[0], "", jstr(a, "directory"));
	}
}

void
ctl_print_json(const struct json *o)
{
	char *s = json_print_pretty(o);

	printf("%s\n", s ? s : "null");
	free(s);
}
