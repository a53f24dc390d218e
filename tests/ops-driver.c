/*
 * ops-driver.c - test-only program for tests/integration/t_50_ops.sh: loads
 * an inventory and its store like certfleetd, runs one operator operation
 * through the fleet_* API on an event loop (the same calls the control
 * socket makes), waits until any renewal it triggered is done, and exits.
 * Built by the test script with the project's flags against
 * build/libcertfleet.a; never installed.
 *
 *   ops-driver -c FILE [-v] revoke NAME [--reason N] [--cert-key] [--no-reissue]
 *   ops-driver -c FILE [-v] rollover ACCOUNT | deactivate ACCOUNT | accounts
 *   ops-driver -c FILE [-v] renew NAME          (a forced renewal; ok when it
 *                                                succeeded)
 *   ops-driver -c FILE [-v] probe ACCOUNT       (POST-as-GET of the account
 *                                                URL: what the CA says of it)
 *
 * Prints "ok" or "error: LINE" (and "problem: JSON") on stdout; exit status
 * 0 ok, 1 failed, 2 usage, 3 not found, 4 busy, 124 gave up (a deadline of
 * DEADLINE seconds, so a test never hangs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "acme.h"
#include "config.h"
#include "fleet.h"
#include "fleet_account.h"
#include "http01.h"
#include "json.h"
#include "keygen.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "workpool.h"

static struct ev_loop *loop;
static struct fleet *fleet;
#define DEADLINE 120

static int exit_code = -1;
static bool renewing;
static bool op_done;

static int
status_exit(enum fleet_op_status st)
{
	switch (st) {
	case FLEET_OP_OK: return 0;
	case FLEET_OP_USAGE: return 2;
	case FLEET_OP_NOTFOUND: return 3;
	case FLEET_OP_BUSY: return 4;
	case FLEET_OP_FAILED: break;
	}
	return 1;
}

static void
idle_cb(struct fleet *f, void *arg)
{
	(void)f;
	(void)arg;
	if (op_done)
		ev_break(loop, EVBREAK_ALL);
}

/* A test must end even when the code under test loops. */
static void
deadline_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	printf("error: ops-driver gave up after %d s\n", DEADLINE);
	exit_code = 124;
	ev_break(l, EVBREAK_ALL);
}

static void
op_cb(void *arg, enum fleet_op_status st, const char *error, const struct json *problem)
{
	(void)arg;
	if (st == FLEET_OP_OK) {
		printf("ok\n");
	} else {
		printf("error: %s\n", error ? error : "?");
		if (problem) {
			char *p = json_print(problem);
			printf("problem: %s\n", p);
			free(p);
		}
	}
	fflush(stdout);
	exit_code = status_exit(st);
	op_done = true;
	/* A revocation may have started a re-issue: wait for the fleet. */
	if (!fleet_busy(fleet))
		ev_break(loop, EVBREAK_ALL);
}

static void
probe_cb(const struct acme_reply *r, void *arg)
{
	(void)arg;
	printf("status %ld\n", r->status);
	if (r->problem)
		printf("problem: %s\n", r->problem->raw);
	exit_code = r->status == 200 ? 0 : 1;
	op_done = true;
	ev_break(loop, EVBREAK_ALL);
}

static struct acme_account *probe_acct;

static void
probe_ready_cb(bool ok, const char *error, void *arg)
{
	struct acme_post_opts o = {0};

	(void)arg;
	if (!ok) {
		printf("error: %s\n", error);
		exit_code = 1;
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	o.url = acme_account_url(probe_acct);
	o.payload = "";
	if (acme_post(probe_acct, &o, probe_cb, NULL) == NULL) {
		printf("error: cannot send\n");
		exit_code = 1;
		ev_break(loop, EVBREAK_ALL);
	}
}

static int
usage(void)
{
	fprintf(stderr, "usage: ops-driver -c FILE [-v] revoke NAME [--reason N] [--cert-key] "
	    "[--no-reissue] | rollover ACCOUNT | deactivate ACCOUNT | accounts | renew NAME | "
	    "probe ACCOUNT\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct acme_env env = {0};
	struct config *cfg = NULL;
	struct store *store = NULL;
	const char *path = NULL, *cmd, *arg = NULL;
	enum fleet_op_status st = FLEET_OP_OK;
	char err[1024] = "";
	int i = 1, level = LOG_INFO;
	ev_timer deadline;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "-v") == 0)
			level = LOG_DEBUG;
		else
			return usage();
	}
	if (path == NULL || i >= argc)
		return usage();
	cmd = argv[i++];
	if (strcmp(cmd, "accounts") != 0) {
		if (i >= argc)
			return usage();
		arg = argv[i++];
	}
	log_init("ops-driver", level, LOG_STYLE_PLAIN);
	if (config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 78;
	}
	if (store_open(cfg->state_dir, &store, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		config_free(cfg);
		return 1;
	}
	loop = EV_DEFAULT;
	env.loop = loop;
	env.finalize_timeout = cfg->finalize_timeout;
	env.order_timeout = cfg->order_timeout;
	env.hook_timeout = cfg->hook_timeout;
	env.dns_propagation_timeout = cfg->dns_propagation_timeout;
	env.http = http_client_new(loop);
	env.keygen = workpool_new(loop, 2, "key generation");
	env.http01 = http01_server_new(loop, cfg->http01_listen, err, sizeof(err));
	if (env.http01 == NULL)
		fprintf(stderr, "http-01 responder: %s (re-issue will fail)\n", err);
	fleet = fleet_new(&env, store, cfg, false);
	fleet_set_idle_cb(fleet, idle_cb, NULL);
	if (fleet_load(fleet, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		exit_code = 1;
		goto out;
	}

	if (strcmp(cmd, "revoke") == 0) {
		int reason = 0;
		bool cert_key = false, no_reissue = false;

		for (; i < argc; i++) {
			if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc)
				reason = atoi(argv[++i]);
			else if (strcmp(argv[i], "--cert-key") == 0)
				cert_key = true;
			else if (strcmp(argv[i], "--no-reissue") == 0)
				no_reissue = true;
			else
				return usage();
		}
		st = fleet_revoke(fleet, arg, reason, cert_key, no_reissue, op_cb, NULL, err,
		    sizeof(err));
	} else if (strcmp(cmd, "rollover") == 0) {
		st = fleet_account_rollover(fleet, arg, op_cb, NULL, err, sizeof(err));
	} else if (strcmp(cmd, "deactivate") == 0) {
		st = fleet_account_deactivate(fleet, arg, op_cb, NULL, err, sizeof(err));
	} else if (strcmp(cmd, "accounts") == 0) {
		struct json *j = fleet_accounts_json(fleet);
		char *s = json_print_pretty(j);

		printf("%s\n", s);
		free(s);
		json_free(j);
		exit_code = 0;
		goto out;
	} else if (strcmp(cmd, "renew") == 0) {
		if (fleet_renew_now(fleet, arg, true) < 0) {
			printf("error: no certificate named '%s'\n", arg);
			exit_code = 3;
			goto out;
		}
		op_done = true;
		renewing = true;
	} else if (strcmp(cmd, "probe") == 0) {
		const struct config_account *ca = config_find_account(cfg, arg);

		if (ca == NULL) {
			exit_code = 3;
			goto out;
		}
		probe_acct = fleet_account_new(&env, store, ca);
		acme_account_when_ready(probe_acct, probe_ready_cb, NULL);
	} else {
		return usage();
	}
	if (st != FLEET_OP_OK) {
		printf("error: %s\n", err);
		exit_code = status_exit(st);
		goto out;
	}
	ev_timer_init(&deadline, deadline_cb, DEADLINE, 0.);
	ev_timer_start(loop, &deadline);
	ev_run(loop, 0);
	ev_timer_stop(loop, &deadline);
	if (renewing && exit_code < 0) {
		struct fleet_stats fs;

		fleet_get_stats(fleet, &fs);
		printf("%s\n", fs.succeeded > 0 && fs.failed == 0 ? "ok" : "error: renewal failed");
		exit_code = fs.succeeded > 0 && fs.failed == 0 ? 0 : 1;
	}
out:
	if (probe_acct)
		acme_account_free(probe_acct);
	fleet_free(fleet);
	http01_server_free(env.http01);
	workpool_free(env.keygen);
	http_client_free(env.http);
	store_close(store);
	config_free(cfg);
	return exit_code < 0 ? 1 : exit_code;
}
