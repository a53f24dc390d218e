/*
 * fleet_ops.c - what an operator asks of the fleet beside renewals
 * (certfleetctl revoke, account list|rollover|deactivate through the
 * control socket): argument checks done at once, then the ACME request
 * (acme_ops.c) once the account is ready, then what follows from the CA's
 * answer - the revocation recorded and the certificate re-issued, the new
 * account key made current, the account marked deactivated.
 *
 * One operation at a time per certificate and per account; each is a
 * struct fleet_op on the fleet's list so a reload that drops its account,
 * or the fleet's end, can stop it cleanly.
 */
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "acme.h"
#include "fleet.h"
#include "fleet_internal.h"
#include "install.h"
#include "json.h"
#include "keygen.h"
#include "log.h"
#include "renew.h"
#include "util.h"
#include "workpool.h"

enum op_kind { OP_REVOKE, OP_ROLLOVER, OP_DEACTIVATE, OP_KIND__MAX };

static const char *const op_names[OP_KIND__MAX] = {
	[OP_REVOKE] = "revocation",
	[OP_ROLLOVER] = "key rollover",
	[OP_DEACTIVATE] = "deactivation",
};

struct fleet_op {
	struct fleet *f;
	enum op_kind kind;
	char *cert;                 /* OP_REVOKE: the certificate's name */
	char *account;              /* the account's name */
	struct acme_account *acme;  /* the account the request goes through */
	/* OP_REVOKE */
	int reason;
	bool no_reissue;
	char *pem;                  /* the installed certificate */
	size_t pem_len;
	char *serial;
	privkey_t *cert_key;        /* signing key when revoking by certificate key */

	struct acme_waiter *waiter;
	struct workpool_job *keygen;
	struct acme_call *call;
	fleet_op_cb cb;
	void *arg;
	struct fleet_op *next;
};

/* ---- bookkeeping ---- */

static struct cert_rt *
find_cert(struct fleet *f, const char *name)
{
	for (size_t i = 0; i < f->ncerts; i++)
		if (strcmp(f->certs[i]->cfg->name, name) == 0)
			return f->certs[i];
	return NULL;
}

static struct acct_rt *
find_acct(struct fleet *f, const char *name)
{
	for (size_t i = 0; i < f->naccts; i++)
		if (strcmp(f->accts[i]->cfg->name, name) == 0)
			return f->accts[i];
	return NULL;
}

static struct fleet_op *
find_op(struct fleet *f, const char *cert, const char *account)
{
	for (struct fleet_op *op = f->ops; op; op = op->next)
		if ((cert && op->cert && strcmp(op->cert, cert) == 0) ||
		    (account && op->kind != OP_REVOKE && strcmp(op->account, account) == 0))
			return op;
	return NULL;
}

static struct fleet_op *
op_new(struct fleet *f, enum op_kind kind, const char *account, struct acme_account *acme,
    fleet_op_cb cb, void *arg)
{
	struct fleet_op *op = xcalloc(1, sizeof(*op));

	op->f = f;
	op->kind = kind;
	op->account = xstrdup(account);
	op->acme = acme;
	op->cb = cb;
	op->arg = arg;
	return op;
}

/* Stops whatever is in flight and frees op (already off the list). */
static void
op_free(struct fleet_op *op)
{
	if (op == NULL)
		return;
	acme_waiter_cancel(op->waiter);
	if (op->keygen)
		workpool_cancel(op->keygen);
	acme_call_cancel(op->call);
	free(op->cert);
	free(op->account);
	free(op->pem);
	free(op->serial);
	privkey_free(op->cert_key);
	free(op);
}

static void
op_unlink(struct fleet_op *op)
{
	for (struct fleet_op **pp = &op->f->ops; *pp; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			break;
		}
	}
	op->next = NULL;
}

/* Reports the outcome (problem: the CA's document, may be NULL) and frees op. */
static void
op_finish(struct fleet_op *op, enum fleet_op_status st, const struct acme_problem *p,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
op_finish(struct fleet_op *op, enum fleet_op_status st, const struct acme_problem *p,
    const char *fmt, ...)
{
	struct json *pj = p && p->raw ? json_parse(p->raw, strlen(p->raw), NULL) : NULL;
	char *msg = NULL;
	va_list ap;

	op->waiter = NULL;
	op->keygen = NULL;
	op->call = NULL;
	if (fmt) {
		va_start(ap, fmt);
		msg = xvasprintf(fmt, ap);
		va_end(ap);
		log_err("%s", msg);
	}
	op_unlink(op);
	op->cb(op->arg, st, msg, pj);
	json_free(pj);
	free(msg);
	op_free(op);
}

/* "TYPE: DETAIL" of a failed reply; caller frees. */
static char *
reply_error(const struct acme_reply *r)
{
	if (r->problem)
		return acme_problem_format(r->problem);
	if (r->error)
		return xstrdup(r->error);
	return xasprintf("unexpected HTTP %ld", r->status);
}

void
fleet_ops_account_gone(struct fleet *f, struct acme_account *a)
{
	struct fleet_op *op, *next;

	for (op = f->ops; op; op = next) {
		next = op->next;
		if (op->acme == a)
			op_finish(op, FLEET_OP_FAILED, NULL, "%s for account %s stopped: the "
			    "account was changed by a reload", op_names[op->kind], op->account);
	}
}

void
fleet_ops_drop(struct fleet *f)
{
	struct fleet_op *op;

	while ((op = f->ops) != NULL) {
		f->ops = op->next;
		op_free(op);
	}
}

/* ---- revocation ---- */

/* Records the revocation in the certificate's state (directly in the
 * store when a reload removed the certificate meanwhile). */
static void
revoke_record(struct fleet_op *op, time_t now)
{
	struct cert_rt *r = find_cert(op->f, op->cert);
	struct cert_state tmp, *st;
	char err[512];

	if (r != NULL) {
		st = &r->st;
	} else {
		if (store_cert_load(op->f->store, op->cert, &tmp, err, sizeof(err)) < 0) {
			log_cert(LOG_ERR, op->cert, LOG_EVENT_NONE,
			    "%s (revocation not recorded)", err);
			return;
		}
		st = &tmp;
	}
	/* A renewal may have replaced the certificate meanwhile: only the one
	 * revoked is marked so. */
	if (st->serial && op->serial && strcasecmp(st->serial, op->serial) == 0) {
		st->revoked = true;
		st->revoked_no_reissue = op->no_reissue;
	}
	free(st->revoked_serial);
	st->revoked_serial = xstrdup(op->serial);
	st->revoked_at = now;
	st->revoked_reason = op->reason;
	if (r != NULL) {
		fleet_cert_save(r);
	} else {
		if (store_cert_save(op->f->store, op->cert, st, err, sizeof(err)) < 0)
			log_cert(LOG_ERR, op->cert, LOG_EVENT_NONE, "%s", err);
		cert_state_free(&tmp);
	}
}

static void
revoke_done_cb(const struct acme_reply *r, void *arg)
{
	struct fleet_op *op = arg;
	struct fleet *f = op->f;
	bool already = acme_problem_is(r->problem, "alreadyRevoked");
	char *name, *e;

	op->call = NULL;
	if (r->status != 200 && !already) {
		e = reply_error(r);
		op_finish(op, FLEET_OP_FAILED, r->problem, "%s: revocation of serial %s refused by "
		    "the CA: %s", op->cert, op->serial, e);
		free(e);
		return;
	}
	log_cert(LOG_NOTICE, op->cert, LOG_EVENT_NONE,
	    "certificate serial %s %s (reason %d)", op->serial,
	    already ? "was already revoked" : "revoked", op->reason);
	revoke_record(op, time(NULL));
	fleet_notify_revoked(f, op->cert);
	name = xstrdup(op->cert);
	if (op->no_reissue) {
		log_cert(LOG_NOTICE, name, LOG_EVENT_NONE,
		    "not re-issued (as asked); it renews on its normal schedule");
	} else if (find_cert(f, name) != NULL) {
		log_cert(LOG_NOTICE, name, LOG_EVENT_NONE,
		    "re-issuing the revoked certificate now");
		fleet_renew_now(f, name, true);
	}
	op_finish(op, FLEET_OP_OK, NULL, NULL);
	free(name);
}

static void
revoke_ready_cb(bool ok, const char *error, void *arg)
{
	struct fleet_op *op = arg;
	char err[512];

	op->waiter = NULL;
	if (!ok) {
		op_finish(op, FLEET_OP_FAILED, NULL, "%s: cannot revoke: account %s unavailable: %s",
		    op->cert, op->account, error ? error : "unknown error");
		return;
	}
	log_cert(LOG_INFO, op->cert, LOG_EVENT_NONE,
	    "revoking serial %s (reason %d, signed by the %s key)", op->serial,
	    op->reason, op->cert_key ? "certificate" : "account");
	op->call = acme_revoke(op->acme, op->pem, op->pem_len, op->cert_key, op->reason,
	    revoke_done_cb, op, err, sizeof(err));
	if (op->call == NULL)
		op_finish(op, FLEET_OP_FAILED, NULL, "%s: %s", op->cert, err);
}

enum fleet_op_status
fleet_revoke(struct fleet *f, const char *name, int reason, bool by_cert_key, bool no_reissue,
    fleet_op_cb cb, void *arg, char *err, size_t errlen)
{
	struct cert_rt *r = find_cert(f, name);
	struct acct_rt *acct;
	struct fleet_op *op;
	struct cert_info ci = {0};
	char *pem;
	size_t len = 0;

	if (r == NULL) {
		snprintf(err, errlen, "no certificate named '%s' in the inventory", name);
		return FLEET_OP_NOTFOUND;
	}
	if (!acme_revoke_reason_valid(reason)) {
		snprintf(err, errlen, "invalid revocation reason %d (RFC 5280 codes 0-10 but 7)",
		    reason);
		return FLEET_OP_USAGE;
	}
	if (find_op(f, name, NULL) != NULL || r->job != NULL || r->hook != NULL) {
		snprintf(err, errlen, "%s: %s is in progress; try again when it is done", name,
		    r->job ? "a renewal" : r->hook ? "its deploy hook" : "a revocation");
		return FLEET_OP_BUSY;
	}
	/* The certificate that issued it: its account, if still configured. */
	acct = r->st.account ? find_acct(f, r->st.account) : NULL;
	if (acct == NULL)
		acct = r->acct;
	if (acct == NULL) {
		snprintf(err, errlen, "%s: its account is not in the inventory", name);
		return FLEET_OP_FAILED;
	}
	if ((pem = install_read_live(r->cfg->output_dir, name, "cert.pem", &len)) == NULL) {
		snprintf(err, errlen, "%s: no installed certificate to revoke (%s/live/%s/cert.pem)",
		    name, r->cfg->output_dir, name);
		return FLEET_OP_FAILED;
	}
	if (cert_info_from_pem(pem, len, &ci) < 0) {
		snprintf(err, errlen, "%s: %s/live/%s/cert.pem is not a certificate", name,
		    r->cfg->output_dir, name);
		free(pem);
		return FLEET_OP_FAILED;
	}
	op = op_new(f, OP_REVOKE, acct->cfg->name, acct->acme, cb, arg);
	op->cert = xstrdup(name);
	op->reason = reason;
	op->no_reissue = no_reissue;
	op->pem = pem;
	op->pem_len = len;
	op->serial = xstrdup(ci.serial_hex);
	cert_info_free(&ci);
	if (by_cert_key && (op->cert_key = renew_installed_key(r->cfg)) == NULL) {
		snprintf(err, errlen, "%s: cannot read its private key (%s/live/%s/privkey.pem)",
		    name, r->cfg->output_dir, name);
		op_free(op);
		return FLEET_OP_FAILED;
	}
	op->next = f->ops;
	f->ops = op;
	op->waiter = acme_account_when_ready(op->acme, revoke_ready_cb, op);
	return FLEET_OP_OK;
}

/* ---- account operations: common checks ---- */

/* The account, loaded from the store and registered; NULL with the
 * status in *st and a reason in err. */
static struct acct_rt *
account_checks(struct fleet *f, const char *account, enum fleet_op_status *st, char *err,
    size_t errlen)
{
	struct acct_rt *a = find_acct(f, account);
	char when[32];

	*st = FLEET_OP_FAILED;
	if (a == NULL) {
		snprintf(err, errlen, "no account named '%s' in the inventory", account);
		*st = FLEET_OP_NOTFOUND;
		return NULL;
	}
	if (find_op(f, NULL, account) != NULL) {
		snprintf(err, errlen, "account %s: a %s is in progress", account,
		    op_names[find_op(f, NULL, account)->kind]);
		*st = FLEET_OP_BUSY;
		return NULL;
	}
	if (acme_account_load(a->acme, err, errlen) < 0)
		return NULL;
	if (acme_account_deactivated(a->acme) != 0) {
		time_format_rfc3339(acme_account_deactivated(a->acme), when, sizeof(when));
		snprintf(err, errlen, "account %s was deactivated at %s", account, when);
		return NULL;
	}
	if (acme_account_url(a->acme) == NULL) {
		snprintf(err, errlen, "account %s has never been registered with %s", account,
		    a->cfg->directory_url);
		return NULL;
	}
	return a;
}

/* ---- key rollover ---- */

static void
rollover_done_cb(const struct acme_reply *r, void *arg)
{
	struct fleet_op *op = arg;
	char err[512], *e;

	op->call = NULL;
	if (r->status == 200) {
		if (acme_account_commit_key(op->acme, err, sizeof(err)) < 0) {
			/* The CA has the new key; key-next.pem is still there
			 * and the next start (or request) resolves it. */
			acme_account_recheck(op->acme);
			op_finish(op, FLEET_OP_FAILED, NULL, "account %s: the CA switched to the new "
			    "key but it could not be made current: %s", op->account, err);
			return;
		}
		log_notice("account %s: key rollover done; the account key is now the new %s key",
		    op->account, key_type_name(privkey_type(acme_account_key(op->acme))));
		op_finish(op, FLEET_OP_OK, NULL, NULL);
		return;
	}
	e = reply_error(r);
	if (r->status == 0) {
		/* The CA may or may not have switched: ask it before the next
		 * request, keeping both keys until then. */
		acme_account_recheck(op->acme);
		op_finish(op, FLEET_OP_FAILED, NULL, "account %s: key rollover outcome unknown (%s); "
		    "both keys are kept and the CA is asked which it has before the next request",
		    op->account, e);
	} else {
		acme_account_drop_key(op->acme);
		op_finish(op, FLEET_OP_FAILED, r->problem, "account %s: key rollover refused by the "
		    "CA%s: %s; the old key stays", op->account, r->status == 409 ?
		    " (the new key belongs to another account)" : "", e);
	}
	free(e);
}

static void
rollover_key_cb(privkey_t *key, void *arg)
{
	struct fleet_op *op = arg;
	char err[512];

	op->keygen = NULL;
	if (key == NULL) {
		op_finish(op, FLEET_OP_FAILED, NULL, "account %s: cannot generate the new key",
		    op->account);
		return;
	}
	if (acme_account_stage_key(op->acme, key, err, sizeof(err)) < 0) {
		op_finish(op, FLEET_OP_FAILED, NULL, "account %s: %s (rollover not started)",
		    op->account, err);
		return;
	}
	log_info("account %s: new %s key stored; asking the CA to switch to it", op->account,
	    key_type_name(privkey_type(key)));
	op->call = acme_key_change(op->acme, rollover_done_cb, op, err, sizeof(err));
	if (op->call == NULL) {
		acme_account_drop_key(op->acme);
		op_finish(op, FLEET_OP_FAILED, NULL, "%s", err);
	}
}

static void
rollover_ready_cb(bool ok, const char *error, void *arg)
{
	struct fleet_op *op = arg;
	const struct acme_account_params *p = acme_account_params(op->acme);

	op->waiter = NULL;
	if (!ok) {
		op_finish(op, FLEET_OP_FAILED, NULL, "account %s unavailable: %s", op->account,
		    error ? error : "unknown error");
		return;
	}
	op->keygen = keygen_submit(op->f->env->keygen, p->key_type, rollover_key_cb, op);
	if (op->keygen == NULL)
		op_finish(op, FLEET_OP_FAILED, NULL, "account %s: cannot queue key generation",
		    op->account);
}

enum fleet_op_status
fleet_account_rollover(struct fleet *f, const char *account, fleet_op_cb cb, void *arg,
    char *err, size_t errlen)
{
	enum fleet_op_status st;
	struct acct_rt *a = account_checks(f, account, &st, err, errlen);
	struct fleet_op *op;

	if (a == NULL)
		return st;
	/* Requests signed with the old key while the CA switches would fail. */
	if (a->inflight > 0) {
		snprintf(err, errlen, "account %s has %d order%s in flight; try again when %s done",
		    account, a->inflight, a->inflight == 1 ? "" : "s",
		    a->inflight == 1 ? "it is" : "they are");
		return FLEET_OP_BUSY;
	}
	op = op_new(f, OP_ROLLOVER, account, a->acme, cb, arg);
	op->next = f->ops;
	f->ops = op;
	log_info("account %s: key rollover requested", account);
	op->waiter = acme_account_when_ready(a->acme, rollover_ready_cb, op);
	return FLEET_OP_OK;
}

/* ---- deactivation ---- */

static void
deactivate_done_cb(const struct acme_reply *r, void *arg)
{
	struct fleet_op *op = arg;
	char err[512], *e;

	op->call = NULL;
	if (r->status != 200) {
		e = reply_error(r);
		op_finish(op, FLEET_OP_FAILED, r->problem, "account %s: deactivation refused by "
		    "the CA: %s", op->account, e);
		free(e);
		return;
	}
	if (acme_account_set_deactivated(op->acme, time(NULL), err, sizeof(err)) < 0)
		log_err("account %s: deactivated at the CA but not recorded: %s", op->account,
		    err);
	log_notice("account %s: deactivated at the CA; its certificates can no longer be "
	    "renewed through it", op->account);
	fleet_notify_account_deactivated(op->f, op->account);
	op_finish(op, FLEET_OP_OK, NULL, NULL);
}

static void
deactivate_ready_cb(bool ok, const char *error, void *arg)
{
	struct fleet_op *op = arg;
	char err[512];

	op->waiter = NULL;
	if (!ok) {
		op_finish(op, FLEET_OP_FAILED, NULL, "account %s unavailable: %s", op->account,
		    error ? error : "unknown error");
		return;
	}
	op->call = acme_deactivate(op->acme, deactivate_done_cb, op, err, sizeof(err));
	if (op->call == NULL)
		op_finish(op, FLEET_OP_FAILED, NULL, "%s", err);
}

enum fleet_op_status
fleet_account_deactivate(struct fleet *f, const char *account, fleet_op_cb cb, void *arg,
    char *err, size_t errlen)
{
	enum fleet_op_status st;
	struct acct_rt *a = account_checks(f, account, &st, err, errlen);
	struct fleet_op *op;

	if (a == NULL)
		return st;
	op = op_new(f, OP_DEACTIVATE, account, a->acme, cb, arg);
	op->next = f->ops;
	f->ops = op;
	log_notice("account %s: deactivation requested", account);
	op->waiter = acme_account_when_ready(a->acme, deactivate_ready_cb, op);
	return FLEET_OP_OK;
}

/* ---- listing ---- */

struct json *
fleet_accounts_json(struct fleet *f)
{
	struct json *arr = json_new_array();

	for (size_t i = 0; i < f->naccts; i++) {
		struct acct_rt *a = f->accts[i];
		struct json *o = json_new_object();
		const privkey_t *k;
		struct fleet_op *op;
		size_t ncerts = 0;
		char err[512], when[32];
		const char *status;

		if (acme_account_load(a->acme, err, sizeof(err)) < 0) {
			status = "error";
			json_set_str(o, "error", err);
		} else if (acme_account_deactivated(a->acme) != 0) {
			status = "deactivated";
		} else if (acme_account_url(a->acme) != NULL) {
			status = "valid";
		} else {
			status = "unregistered";
		}
		k = acme_account_key(a->acme);
		for (size_t c = 0; c < f->ncerts; c++)
			if (f->certs[c]->acct == a)
				ncerts++;
		json_set_str(o, "name", a->cfg->name);
		json_set_str(o, "directory", a->cfg->directory_url);
		if (acme_account_url(a->acme))
			json_set_str(o, "url", acme_account_url(a->acme));
		else
			json_set_null(o, "url");
		json_set_str(o, "status", status);
		json_set_str(o, "key_type",
		    key_type_name(k ? privkey_type(k) : a->cfg->key_type));
		if (acme_account_deactivated(a->acme) != 0) {
			time_format_rfc3339(acme_account_deactivated(a->acme), when, sizeof(when));
			json_set_str(o, "deactivated_at", when);
		}
		json_set_bool(o, "rollover_pending", acme_account_next_key(a->acme) != NULL);
		if ((op = find_op(f, NULL, a->cfg->name)) != NULL)
			json_set_str(o, "operation", op_names[op->kind]);
		json_set_num(o, "certificates", (double)ncerts);
		json_set_num(o, "inflight", a->inflight);
		json_push(arr, o);
	}
	return arr;
}
