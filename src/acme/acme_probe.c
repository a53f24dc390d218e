/*
 * acme_probe.c - certfleetd --dry-run's question to one account: could it
 * be used?  acme_account_probe() runs the account's own machine
 * (account_step() in acme_account.c) with a->probe_cb set: it reads the
 * store, fetches the directory and, with a stored key, asks the CA with
 * onlyReturnExisting whether it knows the key; with none (or one it does
 * not know) it only checks that a registration could work (EAB given when
 * the directory requires it).  It never generates a key, registers or
 * resolves a rollover, and its outcome goes to its callback, not to the
 * account's waiters.  Nothing is changed at the CA or in the store.
 */
#include <stdio.h>

#include "acme.h"
#include "acme_account_internal.h"
#include "util.h"

/* While acme_account_probe() is still starting, a failure is kept for its
 * return instead (the callback is then never called). */
void
probe_settle(struct acme_account *a, bool ok, const char *msg)
{
	acme_probe_cb cb = a->probe_cb;
	void *arg = a->probe_arg;

	a->probe_cb = NULL;
	a->state = ACCT_IDLE;
	if (a->probe_starting) {
		a->probe_error = xstrdup(msg);
		return;
	}
	/* Certificates that came to wait meanwhile get the real thing. */
	if (a->waiters != NULL)
		account_step(a);
	cb(ok, msg, arg);
}

void
probe_registrable(struct acme_account *a, const char *what)
{
	char *msg;

	if (a->dir.eab_required && a->eab_kid == NULL) {
		msg = xasprintf("%s, and %s requires external account binding "
		    "(meta.externalAccountRequired) but the inventory gives no eab", what,
		    a->directory_url);
		probe_settle(a, false, msg);
	} else {
		msg = xasprintf("%s; would register%s", what, a->eab_kid ?
		    " with the EAB given" : "");
		probe_settle(a, true, msg);
	}
	free(msg);
}

char *
probe_looked_up(struct acme_account *a, const struct acme_reply *r, bool found)
{
	char *msg, *p;

	if (found) {
		msg = xasprintf("registered as %s", r->http->location);
		probe_settle(a, true, msg);
		free(msg);
		return NULL;
	}
	if (acme_problem_is(r->problem, "accountDoesNotExist")) {
		probe_registrable(a, "the stored key is not registered");
		return NULL;
	}
	p = r->problem ? acme_problem_format(r->problem) : NULL;
	msg = xasprintf("account lookup (onlyReturnExisting) at %s failed: %s",
	    a->dir.new_account, p ? p : r->error ? r->error : "unexpected reply");
	free(p);
	return msg;
}

/* The dry run's question (the outcomes are in account_step's probe
 * branches and the functions above). */
int
acme_account_probe(struct acme_account *a, acme_probe_cb cb, void *arg, char *err,
    size_t errlen)
{
	if (a->probe_cb != NULL || a->state != ACCT_IDLE) {
		snprintf(err, errlen, "account %s is busy", a->name);
		return -1;
	}
	if (!a->loaded && account_load(a, err, errlen) < 0)
		return -1;
	if (a->deactivated != 0) {
		char when[32];
		time_format_rfc3339(a->deactivated, when, sizeof(when));
		snprintf(err, errlen, "account %s was deactivated at %s", a->name, when);
		return -1;
	}
	a->probe_cb = cb;
	a->probe_arg = arg;
	a->probe_starting = true;
	account_step(a);
	a->probe_starting = false;
	if (a->probe_error != NULL) {
		snprintf(err, errlen, "%s", a->probe_error);
		free(a->probe_error);
		a->probe_error = NULL;
		return -1;
	}
	return 0;
}
