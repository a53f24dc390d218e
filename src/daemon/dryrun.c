/*
 * dryrun.c - certfleetd --dry-run: for each certificate that is due,
 * everything short of newOrder, and a full issuance at the account's
 * staging_directory when it has one.
 *
 * Nothing is changed that the daemon relies on: the live state directory
 * is opened read-only (store.c refuses every write through it), the live
 * CA sees at most a directory GET and an onlyReturnExisting lookup
 * (acme_account_probe), and the staging issuance runs against a throwaway
 * store in a temporary directory, removed afterwards, with its certificate
 * checked and then dropped: nothing is installed.  The challenge
 * responders are bound as the daemon would bind them, which is the
 * check that they can be.
 */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "acme.h"
#include "config.h"
#include "daemon.h"
#include "dryrun.h"
#include "fleet.h"
#include "fleet_account.h"
#include "http.h"
#include "http01.h"
#include "log.h"
#include "preflight.h"
#include "renew.h"
#include "scheduler.h"
#include "store.h"
#include "tlsalpn.h"
#include "util.h"
#include "workpool.h"

#define KEYGEN_THREADS 2
#define DNS_THREADS 2

struct dryrun;

struct dr_acct {
	struct dryrun *d;
	const struct config_account *cfg;
	struct acme_account *live;      /* the live CA, read-only store */
	struct config_account scfg;     /* cfg with the staging directory (borrowed members) */
	char *sname;                    /* NAME-staging, scfg's name */
	struct acme_account *staging;   /* the staging CA, throwaway store */
	bool needed;
	bool probed;
	bool ok;
	char *msg;
};

struct dr_cert {
	struct dryrun *d;
	const struct config_cert *cfg;
	struct dr_acct *acct;
	bool due;
	bool held;                      /* a usable held certificate: no order needed */
	char *fail;                     /* first reason it would not work */
	struct buf notes;               /* what was checked, "; "-separated */
	char *staged;                   /* the staging issuance's outcome, when ok */
	struct cert_state st;           /* of the staging order */
	struct order_job *job;
};

struct dryrun {
	struct ev_loop *loop;
	struct config *cfg;
	struct store *live_store;
	struct store *tmp_store;
	char tmpdir[256];               /* the staging store */
	char emptydir[256];             /* stands in for a state_dir not made yet */
	struct acme_env env;            /* live */
	struct acme_env senv;           /* staging */
	struct dr_acct *accts;
	struct dr_cert *certs;
	int pending;
};

static void
cert_fail(struct dr_cert *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
cert_fail(struct dr_cert *c, const char *fmt, ...)
{
	va_list ap;

	if (c->fail != NULL)
		return;
	va_start(ap, fmt);
	c->fail = xvasprintf(fmt, ap);
	va_end(ap);
}

static void
cert_note(struct dr_cert *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
cert_note(struct dr_cert *c, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_appendf(&c->notes, "%s%s", c->notes.len ? "; " : "", s);
	free(s);
}

static void
pending_done(struct dryrun *d)
{
	if (--d->pending == 0)
		ev_break(d->loop, EVBREAK_ALL);
}

/* ---- what is due ---- */

/* The --once rule: missing, changed in the inventory, revoked, or past
 * its renewal time (no jitter, no backoff). */
static void
cert_decide(struct dryrun *d, struct dr_cert *c)
{
	struct cert_state st;
	char err[512], why[128];
	time_t t;

	if (store_cert_load(d->live_store, c->cfg->name, &st, err, sizeof(err)) < 0) {
		c->due = true;
		cert_fail(c, "%s", err);
		return;
	}
	if (sched_needs_issue(c->cfg, &st, why, sizeof(why))) {
		c->due = true;
		cert_note(c, "due: %s", why);
	} else if (time(NULL) >= (t = sched_renewal_time(st.not_before, st.not_after,
	    c->cfg->renew_before))) {
		c->due = true;
		cert_note(c, "due: renewal time reached");
	} else {
		char at[32];
		time_format_rfc3339(t, at, sizeof(at));
		cert_note(c, "not due (renewal at %s)", at);
	}
	cert_state_free(&st);
}

/* A held certificate the next run would install instead of ordering. */
static void
cert_check_held(struct dryrun *d, struct dr_cert *c)
{
	char *chain = NULL, why[512];
	privkey_t *key = NULL;
	size_t len = 0;

	if (store_held_load(d->live_store, c->cfg->name, &chain, &len, &key) <= 0)
		return;
	if (renew_held_usable(c->cfg, chain, len, key, time(NULL), why, sizeof(why))) {
		c->held = true;
		cert_note(c, "holds a certificate issued but not installed: would install it "
		    "without an order");
	} else {
		cert_note(c, "holds an unusable certificate (%s): would move it aside and order",
		    why);
	}
	free(chain);
	privkey_free(key);
}

/* ---- responders ---- */

static bool
uses(const struct config_cert *c, enum challenge_type t, bool standalone_only)
{
	for (size_t i = 0; i < c->nchallenges; i++)
		if (c->challenges[i] == t &&
		    (!standalone_only || c->http01_mode == HTTP01_STANDALONE))
			return true;
	return false;
}

/* Binds the responders the due certificates need, as the daemon would;
 * a certificate that needs one that cannot be bound fails. */
static void
bind_responders(struct dryrun *d)
{
	bool need_http = false, need_alpn = false;
	char herr[256] = "", aerr[256] = "";

	for (size_t i = 0; i < d->cfg->ncerts; i++) {
		struct dr_cert *c = &d->certs[i];
		if (!c->due || c->fail || c->held)
			continue;
		need_http |= uses(c->cfg, CHALLENGE_HTTP01, true);
		need_alpn |= uses(c->cfg, CHALLENGE_TLSALPN01, false);
	}
	if (need_http)
		d->env.http01 = http01_server_new(d->loop, d->cfg->http01_listen, herr,
		    sizeof(herr));
	if (need_alpn)
		d->env.tlsalpn = tlsalpn_server_new(d->loop, d->cfg->tlsalpn01_listen, aerr,
		    sizeof(aerr));
	d->senv.http01 = d->env.http01;
	d->senv.tlsalpn = d->env.tlsalpn;
	for (size_t i = 0; i < d->cfg->ncerts; i++) {
		struct dr_cert *c = &d->certs[i];
		if (!c->due || c->fail || c->held)
			continue;
		if (uses(c->cfg, CHALLENGE_HTTP01, true)) {
			if (d->env.http01 == NULL)
				cert_fail(c, "http-01 responder: %s", herr);
			else
				cert_note(c, "http-01 responder %s bindable", d->cfg->http01_listen);
		}
		if (uses(c->cfg, CHALLENGE_TLSALPN01, false)) {
			if (d->env.tlsalpn == NULL)
				cert_fail(c, "tls-alpn-01 responder: %s", aerr);
			else
				cert_note(c, "tls-alpn-01 responder %s bindable",
				    d->cfg->tlsalpn01_listen);
		}
	}
}

/* ---- the live account ---- */

static void
probe_done(bool ok, const char *msg, void *arg)
{
	struct dr_acct *a = arg;

	a->probed = true;
	a->ok = ok;
	a->msg = xstrdup(msg);
	pending_done(a->d);
}

static void
probe_accounts(struct dryrun *d)
{
	char err[512];

	for (size_t i = 0; i < d->cfg->naccounts; i++) {
		struct dr_acct *a = &d->accts[i];
		if (!a->needed)
			continue;
		a->live = fleet_account_new(&d->env, d->live_store, a->cfg);
		if (acme_account_probe(a->live, probe_done, a, err, sizeof(err)) < 0) {
			a->probed = true;
			a->msg = xstrdup(err);
			continue;
		}
		d->pending++;
	}
}

/* ---- the staging issuance ---- */

static void
staging_done(struct order_job *j, struct order_result *res, void *arg)
{
	struct dr_cert *c = arg;
	struct cert_info info = {0};
	char *leaf = NULL, *chain = NULL, *full = NULL, why[512];

	(void)j;
	c->job = NULL;
	if (!res->ok) {
		cert_fail(c, "staging issuance at %s failed: %s", c->acct->scfg.directory_url,
		    res->error ? res->error : "unknown error");
	} else if (cert_accept_issued(res->chain_pem, res->chain_len, res->key,
	    &c->cfg->domains, &info, &leaf, &chain, &full, why, sizeof(why)) < 0) {
		cert_fail(c, "staging certificate from %s rejected: %s",
		    c->acct->scfg.directory_url, why);
	} else {
		c->staged = xasprintf("staging issuance at %s ok (serial %s, not installed)",
		    c->acct->scfg.directory_url, info.serial_hex);
	}
	cert_info_free(&info);
	free(leaf);
	free(chain);
	free(full);
	pending_done(c->d);
}

/* The staging order's progress goes to the temporary store, as the
 * fleet's goes to the real one. */
static int
staging_begin(void *arg, const privkey_t *key, char *err, size_t errlen)
{
	struct dr_cert *c = arg;

	return store_order_key_save(c->d->tmp_store, c->cfg->name, key, err, errlen);
}

static int
staging_created(void *arg, const char *order_url, char *err, size_t errlen)
{
	struct dr_cert *c = arg;

	return store_order_created(c->d->tmp_store, c->cfg->name, &c->st, order_url, err,
	    errlen);
}

static int
staging_finalized(void *arg, char *err, size_t errlen)
{
	struct dr_cert *c = arg;

	return store_order_finalized(c->d->tmp_store, c->cfg->name, &c->st, err, errlen);
}

static void
staging_forget(void *arg)
{
	struct dr_cert *c = arg;

	store_order_forget(c->d->tmp_store, c->cfg->name, &c->st);
}

static const struct order_ops staging_ops = {
	.begin = staging_begin,
	.created = staging_created,
	.finalized = staging_finalized,
	.forget = staging_forget,
	.done = staging_done,
};

static int
staging_start(struct dryrun *d, struct dr_cert *c)
{
	struct order_params p;
	char err[512];

	if (d->tmp_store == NULL) {
		const char *tmp = getenv("TMPDIR");
		snprintf(d->tmpdir, sizeof(d->tmpdir), "%s/certfleet-dry-run.XXXXXX",
		    tmp && *tmp ? tmp : "/tmp");
		if (mkdtemp(d->tmpdir) == NULL) {
			cert_fail(c, "cannot create a temporary directory %s: %s", d->tmpdir,
			    strerror(errno));
			d->tmpdir[0] = '\0';
			return -1;
		}
		if (store_open(d->tmpdir, &d->tmp_store, err, sizeof(err)) < 0) {
			cert_fail(c, "%s", err);
			return -1;
		}
	}
	if (c->acct->staging == NULL) {
		c->acct->scfg = *c->acct->cfg;
		c->acct->scfg.directory_url = c->acct->cfg->staging_directory_url;
		/* Its own name in the log, beside the live account's. */
		c->acct->sname = xasprintf("%s-staging", c->acct->cfg->name);
		c->acct->scfg.name = c->acct->sname;
		c->acct->staging = fleet_account_new(&d->senv, d->tmp_store, &c->acct->scfg);
	}
	cert_state_init(&c->st);
	fleet_order_params(&p, c->cfg);
	c->job = order_start(&d->senv, c->acct->staging, &p, &staging_ops, c);
	if (c->job == NULL) {
		cert_fail(c, "cannot start the staging order");
		return -1;
	}
	d->pending++;
	return 0;
}

/* ---- the run ---- */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
dryrun_free(struct dryrun *d)
{
	for (size_t i = 0; d->certs && i < d->cfg->ncerts; i++) {
		if (d->certs[i].job)
			order_cancel(d->certs[i].job);
		cert_state_free(&d->certs[i].st);
		free(d->certs[i].fail);
		free(d->certs[i].staged);
		free(buf_steal(&d->certs[i].notes, NULL));
	}
	for (size_t i = 0; d->accts && i < d->cfg->naccounts; i++) {
		acme_account_free(d->accts[i].live);
		acme_account_free(d->accts[i].staging);
		free(d->accts[i].msg);
		free(d->accts[i].sname);
	}
	free(d->certs);
	free(d->accts);
	http01_server_free(d->env.http01);
	tlsalpn_server_free(d->env.tlsalpn);
	workpool_free(d->env.dns);
	workpool_free(d->env.keygen);
	http_client_free(d->env.http);
	store_close(d->live_store);
	store_close(d->tmp_store);
	if (d->tmpdir[0] != '\0')
		nftw(d->tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (d->emptydir[0] != '\0')
		rmdir(d->emptydir);
	config_free(d->cfg);
}

static struct dr_acct *
acct_of(struct dryrun *d, const char *name)
{
	for (size_t i = 0; i < d->cfg->naccounts; i++)
		if (strcmp(d->accts[i].cfg->name, name) == 0)
			return &d->accts[i];
	return NULL;
}

int
dryrun_run(const char *config_path)
{
	struct dryrun d = {0};
	char err[1024];
	size_t nfail = 0, ndue = 0;
	int rc = EXIT_RENEW_FAILED;

	if (config_load(config_path, &d.cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return CONFIG_EXIT_INVALID;
	}
	/* No state_dir yet: everything is due, nothing is registered. */
	if (access(d.cfg->state_dir, F_OK) == 0 &&
	    store_open_readonly(d.cfg->state_dir, &d.live_store, err, sizeof(err)) < 0) {
		log_err("%s", err);
		config_free(d.cfg);
		return EXIT_UNAVAILABLE;
	}
	signal(SIGPIPE, SIG_IGN);
	d.loop = ev_default_loop(EVFLAG_AUTO);
	d.env.loop = d.loop;
	d.env.http = http_client_new(d.loop);
	d.env.keygen = workpool_new(d.loop, KEYGEN_THREADS, "key generation");
	d.env.dns = workpool_new(d.loop, DNS_THREADS, "DNS check");
	d.env.hook_timeout = d.cfg->hook_timeout;
	d.env.dns_propagation_timeout = d.cfg->dns_propagation_timeout;
	d.env.dns_resolver = d.cfg->dns_resolver;
	d.env.finalize_timeout = d.cfg->finalize_timeout;
	d.env.order_timeout = d.cfg->order_timeout;
	if (d.env.http == NULL || d.env.keygen == NULL || d.env.dns == NULL) {
		log_err("cannot set up the HTTP client, the key generation or the DNS threads");
		rc = EXIT_UNAVAILABLE;
		goto out;
	}
	if (d.live_store == NULL) {
		/* An empty read-only stand-in, so every path reads the same. */
		const char *tmp = getenv("TMPDIR");
		snprintf(d.emptydir, sizeof(d.emptydir), "%s/certfleet-dry-run.XXXXXX",
		    tmp && *tmp ? tmp : "/tmp");
		if (mkdtemp(d.emptydir) == NULL ||
		    store_open_readonly(d.emptydir, &d.live_store, err, sizeof(err)) < 0) {
			log_err("cannot create a temporary directory: %s", strerror(errno));
			d.emptydir[0] = '\0';
			rc = EXIT_UNAVAILABLE;
			goto out;
		}
	}
	d.senv = d.env;
	d.senv.http01 = NULL;
	d.senv.tlsalpn = NULL;

	d.accts = xcalloc(d.cfg->naccounts ? d.cfg->naccounts : 1, sizeof(*d.accts));
	for (size_t i = 0; i < d.cfg->naccounts; i++) {
		d.accts[i].d = &d;
		d.accts[i].cfg = &d.cfg->accounts[i];
	}
	d.certs = xcalloc(d.cfg->ncerts ? d.cfg->ncerts : 1, sizeof(*d.certs));
	for (size_t i = 0; i < d.cfg->ncerts; i++) {
		struct dr_cert *c = &d.certs[i];
		c->d = &d;
		c->cfg = &d.cfg->certs[i];
		c->acct = acct_of(&d, c->cfg->account_name);
		cert_state_init(&c->st);
		cert_decide(&d, c);
		if (!c->due)
			continue;
		cert_check_held(&d, c);
		if (preflight_cert(d.cfg, c->cfg, err, sizeof(err)) < 0)
			cert_fail(c, "%s", err);
		else
			cert_note(c, "preflight ok");
		if (!c->fail && !c->held && c->acct)
			c->acct->needed = true;
	}
	bind_responders(&d);
	probe_accounts(&d);
	for (size_t i = 0; i < d.cfg->ncerts; i++) {
		struct dr_cert *c = &d.certs[i];
		if (c->due && !c->fail && !c->held && c->acct &&
		    c->acct->cfg->staging_directory_url != NULL)
			staging_start(&d, c);
	}
	if (d.pending > 0)
		ev_run(d.loop, 0);

	for (size_t i = 0; i < d.cfg->ncerts; i++) {
		struct dr_cert *c = &d.certs[i];
		if (c->due && !c->held && c->acct && c->acct->needed) {
			if (!c->acct->ok)
				cert_fail(c, "account %s: %s", c->acct->cfg->name, c->acct->msg ?
				    c->acct->msg : "not checked");
			else
				cert_note(c, "account %s: %s", c->acct->cfg->name, c->acct->msg);
		}
		if (c->staged)
			cert_note(c, "%s", c->staged);
		else if (c->due && !c->held && c->acct &&
		    c->acct->cfg->staging_directory_url == NULL)
			cert_note(c, "no staging_directory: no test issuance");
		ndue += c->due;
		if (c->fail) {
			nfail++;
			printf("%s: FAILED: %s\n", c->cfg->name, c->fail);
		} else {
			printf("%s: %s: %s\n", c->cfg->name, c->due ? "ok" : "skipped",
			    c->notes.data ? c->notes.data : "");
		}
	}
	printf("dry run: %zu certificate%s, %zu due, %zu would fail; no order was sent to "
	    "a live directory and nothing was installed\n", d.cfg->ncerts, d.cfg->ncerts == 1 ? "" : "s",
	    ndue, nfail);
	fflush(stdout);
	rc = nfail == 0 ? 0 : EXIT_RENEW_FAILED;
out:
	dryrun_free(&d);
	return rc;
}
