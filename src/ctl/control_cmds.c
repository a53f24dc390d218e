/*
 * control_cmds.c - the daemon's control commands: the table control.c
 * dispatches to, each handler turning a request's args into a fleet call
 * and its outcome into one reply.
 *
 * Operations that talk to the CA (revoke, account rollover and
 * deactivation) answer later: the connection is the callback's argument
 * and control.c keeps it alive until that one reply, even when the client
 * has gone.
 */
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "fleet.h"
#include "fleet_report.h"
#include "json.h"
#include "util.h"

/* ---- arguments ---- */

/* A required non-empty string argument; replies usage and returns NULL
 * when missing. */
static const char *
arg_string(struct ctl_conn *c, const struct json *args, const char *key)
{
	const char *s = json_str(json_get(args, key));

	if (s == NULL || *s == '\0')
		ctl_reply_error(c, CTL_E_USAGE, NULL, "missing argument \"%s\"", key);
	return s && *s ? s : NULL;
}

static bool
arg_bool(const struct json *args, const char *key)
{
	return json_is_true(json_get(args, key));
}

/* ---- asynchronous outcomes ---- */

static const char *
op_code(enum fleet_op_status st)
{
	switch (st) {
	case FLEET_OP_OK: return NULL;
	case FLEET_OP_NOTFOUND: return CTL_E_NOTFOUND;
	case FLEET_OP_BUSY: return CTL_E_BUSY;
	case FLEET_OP_USAGE: return CTL_E_USAGE;
	case FLEET_OP_FAILED: break;
	}
	return CTL_E_FAILED;
}

static void
op_done(void *arg, enum fleet_op_status status, const char *error, const struct json *problem)
{
	struct ctl_conn *c = arg;
	struct json *extra = NULL;

	if (status == FLEET_OP_OK) {
		ctl_reply_ok(c, NULL);
		return;
	}
	if (problem) {
		extra = json_new_object();
		json_set(extra, "problem", json_dup(problem));
	}
	ctl_reply_error(c, op_code(status), extra, "%s", error ? error : "operation failed");
}

/* The immediate part of an operation: a refusal is the reply, an accepted
 * operation replies from op_done(). */
static void
op_started(struct ctl_conn *c, enum fleet_op_status st, const char *err)
{
	if (st != FLEET_OP_OK)
		ctl_reply_error(c, op_code(st), NULL, "%s", *err ? err : "refused");
}

/* ---- handlers ---- */

static void
cmd_status(struct ctl_conn *c, const struct json *args, void *ctx)
{
	struct ctl_env *env = ctx;
	struct json *r = json_new_object();
	struct buf b = {0};
	char buf[32];

	(void)args;
	json_set_str(r, "source", "daemon");
	json_set_num(r, "pid", (double)getpid());
	json_set_str(r, "version", CERTFLEET_VERSION);
	if (env->config_path)
		json_set_str(r, "config", env->config_path);
	time_format_rfc3339(env->started, buf, sizeof(buf));
	json_set_str(r, "started", buf);
	if (fleet_cluster_line(env->fleet) != NULL)
		json_set_str(r, "pool", fleet_cluster_line(env->fleet));
	/* Printed as it is built: no tree of the whole fleet (fleet_report.c). */
	ctl_reply_ok_begin(&b);
	fleet_status_print(env->fleet, r, &b);
	ctl_reply_ok_text(c, &b);
	mem_give_back();
}

static void
cluster_status_done(void *arg, struct json *status, const char *error)
{
	struct ctl_conn *c = arg;

	if (status == NULL) {
		ctl_reply_error(c, CTL_E_FAILED, NULL, "etcd: %s", error ? error : "no answer");
		return;
	}
	ctl_reply_ok(c, status);
}

static void
cmd_cluster_status(struct ctl_conn *c, const struct json *args, void *ctx)
{
	struct ctl_env *env = ctx;
	char err[512] = "";

	(void)args;
	op_started(c, fleet_cluster_status(env->fleet, cluster_status_done, c, err,
	    sizeof(err)), err);
}

static void
cmd_show(struct ctl_conn *c, const struct json *args, void *ctx)
{
	struct ctl_env *env = ctx;
	const char *name;
	struct json *r;

	if ((name = arg_string(c, args, "name")) == NULL)
		return;
	if ((r = fleet_cert_json(env->fleet, name)) == NULL) {
		ctl_reply_error(c, CTL_E_NOTFOUND, NULL, "no certificate named '%s'", name);
		return;
	}
	json_set_str(r, "source", "daemon");
	ctl_reply_ok(c, r);
}

static void
cmd_renew(struct ctl_conn *c, const struct json *args, void *ctx)
{
	struct ctl_env *env = ctx;
	const struct json *names = json_get(args, "names"), *it;
	bool all = arg_bool(args, "all"), force = arg_bool(args, "force");
	struct strlist todo = {0}, unknown = {0};
	struct json *r;

	if (all == (json_size(names) > 0) ||
	    (names != NULL && !json_is_array(names))) {
		ctl_reply_error(c, CTL_E_USAGE, NULL, "renew takes certificate names or \"all\"");
		return;
	}
	/* Check every name before starting anything: all or nothing. */
	if (all) {
		fleet_cert_names(env->fleet, &todo);
	} else {
		JSON_FOREACH(it, names) {
			if (!json_is_string(it)) {
				ctl_reply_error(c, CTL_E_USAGE, NULL, "certificate names must be "
				    "strings");
				goto out;
			}
			if (fleet_cert_known(env->fleet, json_str(it)))
				strlist_add(&todo, json_str(it));
			else
				strlist_add(&unknown, json_str(it));
		}
	}
	if (unknown.n) {
		char *u = strlist_join(&unknown, ", ");
		ctl_reply_error(c, CTL_E_NOTFOUND, NULL, "no certificate named %s", u);
		free(u);
		goto out;
	}
	r = json_new_object();
	for (size_t i = 0; i < todo.n; i++)
		fleet_renew_now(env->fleet, todo.v[i], force);
	json_set(r, "requested",
	    json_new_string_array((const char *const *)todo.v, todo.n));
	json_set_bool(r, "force", force);
	ctl_reply_ok(c, r);
out:
	strlist_free(&todo);
	strlist_free(&unknown);
}

/* A reload's connection, waiting for its end. */
struct reload_wait {
	struct ctl_conn *c;
	struct ctl_env *env;
};

/* The reload is over (the connection waited for it). */
static void
reload_done(void *arg, int rc, const char *err)
{
	struct reload_wait *w = arg;
	struct ctl_conn *c = w->c;
	struct ctl_env *env = w->env;
	struct fleet_stats s;
	struct json *r;

	free(w);
	if (rc < 0) {
		ctl_reply_error(c, CTL_E_FAILED, NULL, "reload failed, the running configuration "
		    "stays: %s", err && *err ? err : "not possible now");
		return;
	}
	fleet_get_stats(env->fleet, &s);
	r = json_new_object();
	json_set_num(r, "certificates", (double)s.total);
	ctl_reply_ok(c, r);
}

static void
cmd_reload(struct ctl_conn *c, const struct json *args, void *ctx)
{
	struct ctl_env *env = ctx;
	struct reload_wait *w;

	(void)args;
	if (env->reload == NULL) {
		ctl_reply_error(c, CTL_E_FAILED, NULL, "reload failed, the running configuration "
		    "stays: not possible now");
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->env = env;
	env->reload(env->reload_arg, reload_done, w);
}

static void
cmd_revoke(struct ctl_conn *c, const struct json *args, void *ctx)
{
	struct ctl_env *env = ctx;
	const struct json *reason = json_get(args, "reason");
	const char *name;
	char err[512] = "";
	int code = 0;

	if ((name = arg_string(c, args, "name")) == NULL)
		return;
	if (reason != NULL) {
		double r = json_num(reason);

		if (!json_is_number(reason) || r < 0 || r > 10 || r != (int)r || (int)r == 7) {
			ctl_reply_error(c, CTL_E_USAGE, NULL, "\"reason\" must be an RFC 5280 "
			    "reason code (0-10 but 7)");
			return;
		}
		code = (int)r;
	}
	op_started(c, fleet_revoke(env->fleet, name, code, arg_bool(args, "cert_key"),
	    arg_bool(args, "no_reissue"), op_done, c, err, sizeof(err)), err);
}

static void
cmd_account_list(struct ctl_conn *c, const struct json *args, void *ctx)
{
	struct ctl_env *env = ctx;

	(void)args;
	ctl_reply_ok(c, fleet_accounts_json(env->fleet));
}

static void
cmd_account_rollover(struct ctl_conn *c, const struct json *args, void *ctx)
{
	struct ctl_env *env = ctx;
	const char *acct;
	char err[512] = "";

	if ((acct = arg_string(c, args, "account")) == NULL)
		return;
	op_started(c, fleet_account_rollover(env->fleet, acct, op_done, c, err, sizeof(err)),
	    err);
}

static void
cmd_account_deactivate(struct ctl_conn *c, const struct json *args, void *ctx)
{
	struct ctl_env *env = ctx;
	const char *acct;
	char err[512] = "";

	if ((acct = arg_string(c, args, "account")) == NULL)
		return;
	/* Permanent at the CA: the client must say so explicitly. */
	if (!arg_bool(args, "confirm")) {
		ctl_reply_error(c, CTL_E_USAGE, NULL, "deactivating account '%s' is permanent; "
		    "confirm it (certfleetctl account deactivate %s --yes)", acct, acct);
		return;
	}
	op_started(c, fleet_account_deactivate(env->fleet, acct, op_done, c, err, sizeof(err)),
	    err);
}

const struct ctl_command ctl_daemon_commands[] = {
	{"status", cmd_status, false},
	{"show", cmd_show, false},
	{"account-list", cmd_account_list, false},
	{"cluster-status", cmd_cluster_status, false},
	{"renew", cmd_renew, true},
	{"reload", cmd_reload, true},
	{"revoke", cmd_revoke, true},
	{"account-rollover", cmd_account_rollover, true},
	{"account-deactivate", cmd_account_deactivate, true},
	{NULL, NULL, false},
};
