/*
 * certfleetctl.c - the operator's command line: parses the command, asks
 * the daemon over the control socket (ctl_client.c) and prints the answer
 * (ctl_print.c).  status and show fall back to reading the inventory and
 * the store directly, read-only and without the daemon's lock, when no
 * daemon answers.  Only main() exits; every failure is one line on stderr
 * and a documented exit status (enum ctl_exit).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "certbot_import.h"
#include "config.h"
#include "control.h"
#include "ctl_client.h"
#include "fleet_report.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "util.h"

#ifndef CERTFLEET_SYSCONFDIR
#define CERTFLEET_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG CERTFLEET_SYSCONFDIR "/certfleet/certfleet.yaml"
#define DEFAULT_SOCKET "/run/certfleet/control.sock"
#define DEFAULT_TIMEOUT 300.0

struct ctl {
	const char *config_path;
	bool config_given;
	const char *socket;
	double timeout;
	struct config *cfg;         /* loaded on demand */
	struct config *top;         /* its top level alone, for the socket */
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: certfleetctl [-c FILE] [--socket PATH] [--timeout SECONDS] COMMAND [ARGS]\n"
	    "commands:\n"
	    "  status [--json]                       every certificate, one line each\n"
	    "  show NAME [--json]                    everything known about one certificate\n"
	    "  renew NAME... | --all [--force] [--wait [--timeout SECS]]\n"
	    "                                        renew now (--force: even if not due;\n"
	    "                                        --wait: until it settles, exit with its outcome)\n"
	    "  reload                                re-read the inventory (as SIGHUP)\n"
	    "  revoke NAME [--reason R] [--cert-key] [--no-reissue]\n"
	    "  account list [--json]\n"
	    "  account rollover ACCOUNT              replace the account key\n"
	    "  account deactivate ACCOUNT --yes      deactivate at the CA (permanent)\n"
	    "  cluster status [--json]               the pool: members, locks, etcd endpoint\n"
	    "  import-certbot [--config-dir DIR] [--write FILE] [--contact EMAIL]\n"
	    "                                        inventory from certbot's configuration\n"
	    "options:\n"
	    "  -c, --config FILE   inventory (default " DEFAULT_CONFIG ")\n"
	    "      --socket PATH   control socket (default: control_socket of the inventory)\n"
	    "      --timeout SECS  how long to wait for the daemon (default 300, 0: no limit)\n"
	    "exit status: 0 ok, 1 failed, 2 usage, 3 not found, 4 daemon not running,\n"
	    "             5 permission denied, 6 renew --wait timed out, 78 invalid inventory\n");
}

static int
fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(int rc, const char *fmt, ...)
{
	va_list ap;

	fputs("certfleetctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return rc;
}

static int
load_config(struct ctl *x)
{
	char err[1024];

	if (x->cfg)
		return CTL_EXIT_OK;
	if (access(x->config_path, R_OK) < 0 && errno == EACCES)
		return fail(CTL_EXIT_DENIED, "cannot read the inventory %s: %s", x->config_path,
		    strerror(errno));
	if (config_load(x->config_path, &x->cfg, err, sizeof(err)) < 0)
		return fail(CTL_EXIT_CONFIG, "%s", err);
	return CTL_EXIT_OK;
}

/*
 * The socket: --socket, else the inventory's control_socket.  Without -c,
 * an inventory this user may not read (an operator in the socket's group)
 * means the default socket rather than an error.
 */
static int
socket_path(struct ctl *x, const char **out)
{
	if (x->socket) {
		*out = x->socket;
		return CTL_EXIT_OK;
	}
	if (!x->config_given && access(x->config_path, R_OK) < 0 && errno == EACCES) {
		*out = DEFAULT_SOCKET;
		return CTL_EXIT_OK;
	}
	if (x->cfg) {
		*out = x->cfg->control_socket;
		return CTL_EXIT_OK;
	}
	/* The top level alone: the certificates are the daemon's to check
	 * (and at 100,000 of them a full load takes most of a second). */
	if (x->top == NULL) {
		char err[1024];

		if (access(x->config_path, R_OK) < 0 && errno == EACCES)
			return fail(CTL_EXIT_DENIED, "cannot read the inventory %s: %s",
			    x->config_path, strerror(errno));
		if (config_load_ex(x->config_path, CONFIG_LOAD_TOP, &x->top, err,
		    sizeof(err)) < 0)
			return fail(CTL_EXIT_CONFIG, "%s", err);
	}
	*out = x->top->control_socket;
	return CTL_EXIT_OK;
}

/* One request; on success *result (caller deletes). */
static int
call(struct ctl *x, const char *cmd, struct json *args, struct json **result,
    bool quiet_nodaemon)
{
	const char *path;
	char err[1024];
	int rc;

	*result = NULL;
	if ((rc = socket_path(x, &path)) != CTL_EXIT_OK) {
		json_free(args);
		return rc;
	}
	rc = ctl_call(path, cmd, args, x->timeout, result, err, sizeof(err));
	if (rc != CTL_EXIT_OK && !(rc == CTL_EXIT_NODAEMON && quiet_nodaemon))
		fail(rc, "%s", err);
	return rc;
}

/* call(), with the result as text (ctl_call_text). */
static int
call_text(struct ctl *x, const char *cmd, char **text, size_t *start, size_t *len,
    bool quiet_nodaemon)
{
	const char *path;
	char err[1024];
	int rc;

	*text = NULL;
	if ((rc = socket_path(x, &path)) != CTL_EXIT_OK)
		return rc;
	rc = ctl_call_text(path, cmd, NULL, x->timeout, text, start, len, err, sizeof(err));
	if (rc != CTL_EXIT_OK && !(rc == CTL_EXIT_NODAEMON && quiet_nodaemon))
		fail(rc, "%s", err);
	return rc;
}

/* status --json from the daemon: its text re-indented as it comes, never
 * parsed into a value (at 100,000 certificates that was half a gigabyte
 * and seconds). */
static int
status_json_passthrough(struct ctl *x)
{
	size_t start = 0, len = 0;
	char *text = NULL;
	int rc;

	if ((rc = call_text(x, "status", &text, &start, &len, true)) != CTL_EXIT_OK)
		return rc;
	if (json_pretty_stream(text + start, len, stdout) < 0) {
		free(text);
		printf("\n");
		return fail(CTL_EXIT_FAILED, "the daemon's status reply is not valid JSON");
	}
	printf("\n");
	free(text);
	return CTL_EXIT_OK;
}

/* Per-command options (argv[0] is the command), permuted so that options
 * may follow the names: "show www --json".  Returns the option character,
 * -1 at the end, '?' after getopt's own message. */
static int
next_opt(int argc, char **argv, const struct option *longopts)
{
	return getopt_long(argc, argv, "", longopts, NULL);
}

static void
reset_getopt(void)
{
	optind = 0;     /* GNU: reinitialise fully */
	opterr = 1;
}

/* ---- status, show: the daemon, else the store ---- */

static int
open_store(struct ctl *x, struct store **s)
{
	char err[1024];
	int rc;

	if ((rc = load_config(x)) != CTL_EXIT_OK)
		return rc;
	if (access(x->cfg->state_dir, R_OK | X_OK) < 0)
		return fail(errno == EACCES ? CTL_EXIT_DENIED : CTL_EXIT_FAILED,
		    "cannot read the state directory %s: %s", x->cfg->state_dir, strerror(errno));
	if (store_open_readonly(x->cfg->state_dir, s, err, sizeof(err)) < 0)
		return fail(CTL_EXIT_FAILED, "%s", err);
	return CTL_EXIT_OK;
}

static const char offline_note[] = "(daemon not running; from the store)";

static int
cmd_status(struct ctl *x, int argc, char **argv)
{
	static const struct option lo[] = { {"json", no_argument, NULL, 'j'}, {0, 0, 0, 0} };
	struct store *s = NULL;
	struct json *r = NULL;
	bool json = false;
	int ch, rc;

	while ((ch = next_opt(argc, argv, lo)) != -1) {
		if (ch != 'j')
			return CTL_EXIT_USAGE;
		json = true;
	}
	if (optind != argc)
		return fail(CTL_EXIT_USAGE, "status takes no arguments");
	if (json && (rc = status_json_passthrough(x)) != CTL_EXIT_NODAEMON)
		return rc;
	if (!json)
		rc = call(x, "status", NULL, &r, true);
	if (rc == CTL_EXIT_NODAEMON) {
		if ((rc = open_store(x, &s)) != CTL_EXIT_OK)
			return rc;
		r = report_offline_status(x->cfg, s);
		json_set_str(r, "source", "store");
		store_close(s);
		if (json)
			fprintf(stderr, "%s\n", offline_note);
		else
			printf("%s\n", offline_note);
	} else if (rc != CTL_EXIT_OK) {
		return rc;
	}
	if (json)
		ctl_print_json(r);
	else
		ctl_print_status(r);
	json_free(r);
	return CTL_EXIT_OK;
}

static int
cmd_show(struct ctl *x, int argc, char **argv)
{
	static const struct option lo[] = { {"json", no_argument, NULL, 'j'}, {0, 0, 0, 0} };
	struct store *s = NULL;
	struct json *r = NULL, *args;
	bool json = false;
	int ch, rc;

	while ((ch = next_opt(argc, argv, lo)) != -1) {
		if (ch != 'j')
			return CTL_EXIT_USAGE;
		json = true;
	}
	if (optind + 1 != argc)
		return fail(CTL_EXIT_USAGE, "usage: certfleetctl show NAME [--json]");
	args = json_new_object();
	json_set_str(args, "name", argv[optind]);
	rc = call(x, "show", args, &r, true);
	if (rc == CTL_EXIT_NODAEMON) {
		if ((rc = open_store(x, &s)) != CTL_EXIT_OK)
			return rc;
		r = report_offline_cert(x->cfg, s, argv[optind]);
		store_close(s);
		if (r == NULL)
			return fail(CTL_EXIT_NOTFOUND, "no certificate named '%s' in %s",
			    argv[optind], x->config_path);
		json_set_str(r, "source", "store");
		if (json)
			fprintf(stderr, "%s\n", offline_note);
		else
			printf("%s\n", offline_note);
	} else if (rc != CTL_EXIT_OK) {
		return rc;
	}
	if (json)
		ctl_print_json(r);
	else
		ctl_print_show(r);
	json_free(r);
	return CTL_EXIT_OK;
}

/* ---- commands that need the daemon ---- */

/* How often renew --wait asks: often enough to feel immediate, rarely
 * enough that a waiting operator costs the daemon nothing. */
#define RENEW_WAIT_POLL 0.5

/*
 * renew --wait for one certificate: asks for it (show) until the attempt
 * begun at or after since has settled (no phase, not queued, renewing or in
 * its hook).  CTL_EXIT_OK when it was installed, CTL_EXIT_FAILED with the
 * error line when it failed, CTL_EXIT_NODAEMON when the daemon went away,
 * CTL_EXIT_TIMEOUT after deadline (monotonic, 0: none).
 */
static int
renew_wait_one(struct ctl *x, const char *name, time_t since, double deadline)
{
	struct timespec pause = { 0, (long)(RENEW_WAIT_POLL * 1e9) };
	struct json *r = NULL, *args;
	int rc;

	for (;;) {
		const char *state, *err;
		double attempt = 0, success = 0;
		time_t t;

		args = json_new_object();
		json_set_str(args, "name", name);
		rc = call(x, "show", args, &r, true);
		if (rc == CTL_EXIT_NODAEMON)
			return fail(rc, "%s: the daemon stopped before the renewal settled", name);
		if (rc != CTL_EXIT_OK)
			return rc;
		state = json_str(json_get(r, "state"));
		if (time_parse_rfc3339(json_str(json_get(r, "last_attempt")) ?
		    json_str(json_get(r, "last_attempt")) : "", &t) == 0)
			attempt = (double)t;
		if (time_parse_rfc3339(json_str(json_get(r, "last_success")) ?
		    json_str(json_get(r, "last_success")) : "", &t) == 0)
			success = (double)t;
		if (json_get(r, "phase") == NULL && state &&
		    (strcmp(state, "idle") == 0 || strcmp(state, "checking-ari") == 0)) {
			if (attempt < (double)since) {
				/* Not due and not forced: the daemon started nothing. */
				printf("%s: not due, nothing renewed (--force renews anyway)\n", name);
				rc = CTL_EXIT_OK;
			} else if (success >= (double)since &&
			    json_num(json_get(r, "failures")) == 0) {
				printf("%s: renewed: serial %s\n", name,
				    json_str(json_get(r, "serial")) ? json_str(json_get(r, "serial")) :
				    "?");
				rc = CTL_EXIT_OK;
			} else {
				err = json_str(json_get(r, "last_error"));
				rc = fail(CTL_EXIT_FAILED, "%s: renewal failed: %s", name,
				    err ? err : "no reason recorded");
			}
			json_free(r);
			return rc;
		}
		if (deadline > 0 && now_mono() >= deadline) {
			rc = fail(CTL_EXIT_TIMEOUT, "%s: still %s after the --timeout", name,
			    state ? state : "in flight");
			json_free(r);
			return rc;
		}
		json_free(r);
		r = NULL;
		nanosleep(&pause, NULL);
	}
}

static int
cmd_renew(struct ctl *x, int argc, char **argv)
{
	static const struct option lo[] = { {"all", no_argument, NULL, 'a'},
		{"force", no_argument, NULL, 'f'}, {"wait", no_argument, NULL, 'w'},
		{"timeout", required_argument, NULL, 't'}, {0, 0, 0, 0} };
	bool all = false, force = false, wait = false;
	double wait_timeout = x->timeout;
	struct json *args, *names, *r = NULL;
	const struct json *it;
	time_t since = time(NULL);
	char *end;
	int ch, rc;

	while ((ch = next_opt(argc, argv, lo)) != -1) {
		if (ch == 'a')
			all = true;
		else if (ch == 'f')
			force = true;
		else if (ch == 'w')
			wait = true;
		else if (ch == 't') {
			wait_timeout = strtod(optarg, &end);
			if (end == optarg || *end || wait_timeout < 0)
				return fail(CTL_EXIT_USAGE, "--timeout takes seconds, not '%s'",
				    optarg);
		} else
			return CTL_EXIT_USAGE;
	}
	if (all == (optind < argc))
		return fail(CTL_EXIT_USAGE, "usage: certfleetctl renew NAME... | --all [--force] "
		    "[--wait [--timeout SECS]]");
	args = json_new_object();
	names = json_set_array(args, "names");
	for (int i = optind; i < argc; i++)
		json_push(names, json_new_string(argv[i]));
	json_set_bool(args, "all", all);
	json_set_bool(args, "force", force);
	if ((rc = call(x, "renew", args, &r, false)) != CTL_EXIT_OK)
		return rc;
	JSON_FOREACH(it, json_get(r, "requested"))
		printf("%s: renewal requested%s\n", json_str(it), force ? " (forced)" : "");
	if (wait) {
		double deadline = wait_timeout > 0 ? now_mono() + wait_timeout : 0;

		fflush(stdout);
		/* Every name to its end; the worst outcome is the exit status. */
		JSON_FOREACH(it, json_get(r, "requested")) {
			int one = renew_wait_one(x, json_str(it), since, deadline);

			fflush(stdout);
			if (one != CTL_EXIT_OK && rc == CTL_EXIT_OK)
				rc = one;
			if (one == CTL_EXIT_NODAEMON)
				break;
		}
	}
	json_free(r);
	return rc;
}

static int
cmd_reload(struct ctl *x, int argc, char **argv)
{
	struct json *r = NULL;
	int rc;

	(void)argv;
	if (argc != 1)
		return fail(CTL_EXIT_USAGE, "reload takes no arguments");
	if ((rc = call(x, "reload", NULL, &r, false)) != CTL_EXIT_OK)
		return rc;
	printf("reloaded: %d certificates\n",
	    (int)json_num(json_get(r, "certificates")));
	json_free(r);
	return CTL_EXIT_OK;
}

/* RFC 5280 CRLReason, by name (any case, '-' or '_' ignored) or number. */
static int
parse_reason(const char *s)
{
	static const char *const names[] = { "unspecified", "keycompromise", "cacompromise",
		"affiliationchanged", "superseded", "cessationofoperation", "certificatehold",
		NULL, "removefromcrl", "privilegewithdrawn", "aacompromise" };
	char norm[64];
	size_t k = 0;
	char *end;
	long v;

	v = strtol(s, &end, 10);
	if (*s && *end == '\0')
		return v >= 0 && v <= 10 && v != 7 ? (int)v : -1;
	for (; *s && k + 1 < sizeof(norm); s++)
		if (*s != '-' && *s != '_')
			norm[k++] = *s;
	norm[k] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i] && strcasecmp(norm, names[i]) == 0)
			return (int)i;
	return -1;
}

static int
cmd_revoke(struct ctl *x, int argc, char **argv)
{
	static const struct option lo[] = { {"reason", required_argument, NULL, 'r'},
		{"cert-key", no_argument, NULL, 'k'}, {"no-reissue", no_argument, NULL, 'n'},
		{0, 0, 0, 0} };
	bool cert_key = false, no_reissue = false;
	int ch, rc, reason = 0;
	struct json *args, *r = NULL;

	while ((ch = next_opt(argc, argv, lo)) != -1) {
		switch (ch) {
		case 'r':
			if ((reason = parse_reason(optarg)) < 0)
				return fail(CTL_EXIT_USAGE, "unknown revocation reason '%s' (use a "
				    "name such as keyCompromise or superseded, or 0-10)", optarg);
			break;
		case 'k': cert_key = true; break;
		case 'n': no_reissue = true; break;
		default: return CTL_EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return fail(CTL_EXIT_USAGE, "usage: certfleetctl revoke NAME [--reason R] "
		    "[--cert-key] [--no-reissue]");
	args = json_new_object();
	json_set_str(args, "name", argv[optind]);
	json_set_num(args, "reason", reason);
	json_set_bool(args, "cert_key", cert_key);
	json_set_bool(args, "no_reissue", no_reissue);
	if ((rc = call(x, "revoke", args, &r, false)) != CTL_EXIT_OK)
		return rc;
	printf("%s: revoked%s\n", argv[optind], no_reissue ? "" : "; a new certificate is "
	    "being issued");
	json_free(r);
	return CTL_EXIT_OK;
}

static int
cmd_account(struct ctl *x, int argc, char **argv)
{
	static const struct option lo[] = { {"json", no_argument, NULL, 'j'},
		{"yes", no_argument, NULL, 'y'}, {0, 0, 0, 0} };
	bool json = false, yes = false;
	const char *sub;
	struct json *args = NULL, *r = NULL;
	int ch, rc;

	if (argc < 2)
		return fail(CTL_EXIT_USAGE, "usage: certfleetctl account list [--json] | "
		    "rollover ACCOUNT | deactivate ACCOUNT --yes");
	sub = argv[1];
	argc--;
	argv++;
	while ((ch = next_opt(argc, argv, lo)) != -1) {
		if (ch == 'j')
			json = true;
		else if (ch == 'y')
			yes = true;
		else
			return CTL_EXIT_USAGE;
	}
	if (strcmp(sub, "list") == 0) {
		if (optind != argc || yes)
			return fail(CTL_EXIT_USAGE, "usage: certfleetctl account list [--json]");
		if ((rc = call(x, "account-list", NULL, &r, false)) != CTL_EXIT_OK)
			return rc;
		if (json)
			ctl_print_json(r);
		else
			ctl_print_accounts(r);
		json_free(r);
		return CTL_EXIT_OK;
	}
	if (strcmp(sub, "rollover") != 0 && strcmp(sub, "deactivate") != 0)
		return fail(CTL_EXIT_USAGE, "unknown account command '%s' (list, rollover, "
		    "deactivate)", sub);
	if (optind + 1 != argc || json || (yes && strcmp(sub, "rollover") == 0))
		return fail(CTL_EXIT_USAGE, "usage: certfleetctl account %s ACCOUNT%s", sub,
		    strcmp(sub, "deactivate") == 0 ? " --yes" : "");
	if (strcmp(sub, "deactivate") == 0 && !yes)
		return fail(CTL_EXIT_USAGE, "deactivating account '%s' cannot be undone: its "
		    "certificates stop renewing; add --yes to confirm", argv[optind]);
	args = json_new_object();
	json_set_str(args, "account", argv[optind]);
	if (yes)
		json_set_bool(args, "confirm", true);
	rc = call(x, strcmp(sub, "rollover") == 0 ? "account-rollover" : "account-deactivate",
	    args, &r, false);
	if (rc != CTL_EXIT_OK)
		return rc;
	printf("%s: %s\n", argv[optind], strcmp(sub, "rollover") == 0 ?
	    "account key replaced" : "account deactivated");
	json_free(r);
	return CTL_EXIT_OK;
}

static int
cmd_cluster(struct ctl *x, int argc, char **argv)
{
	static const struct option lo[] = { {"json", no_argument, NULL, 'j'}, {0, 0, 0, 0} };
	struct json *r = NULL;
	bool json = false;
	int ch, rc;

	if (argc < 2 || strcmp(argv[1], "status") != 0)
		return fail(CTL_EXIT_USAGE, "usage: certfleetctl cluster status [--json]");
	argc--;
	argv++;
	while ((ch = next_opt(argc, argv, lo)) != -1) {
		if (ch == 'j')
			json = true;
		else
			return CTL_EXIT_USAGE;
	}
	if (optind != argc)
		return fail(CTL_EXIT_USAGE, "usage: certfleetctl cluster status [--json]");
	if ((rc = call(x, "cluster-status", NULL, &r, false)) != CTL_EXIT_OK)
		return rc;
	if (json)
		ctl_print_json(r);
	else
		ctl_print_cluster(r);
	json_free(r);
	return CTL_EXIT_OK;
}

/*
 * import-certbot: needs no daemon and no inventory.  REQUESTS_CA_BUNDLE is
 * how certbot was pointed at a private CA: when set, it becomes each
 * account's ca_bundle.
 */
static int
cmd_import_certbot(struct ctl *x, int argc, char **argv)
{
	static const struct option lo[] = { {"config-dir", required_argument, NULL, 'd'},
		{"write", required_argument, NULL, 'w'}, {"contact", required_argument, NULL, 'm'},
		{0, 0, 0, 0} };
	struct certbot_import_opts o = { "/etc/letsencrypt", NULL, NULL };
	char *contact = NULL;
	const char *out = NULL, *bundle = getenv("REQUESTS_CA_BUNDLE");
	char err[1024], *yaml = NULL;
	size_t ncerts = 0, naccts = 0;
	int ch, rc;

	(void)x;
	while ((ch = next_opt(argc, argv, lo)) != -1) {
		if (ch == 'd')
			o.config_dir = optarg;
		else if (ch == 'w')
			out = optarg;
		else if (ch == 'm' && contact == NULL)
			contact = strncasecmp(optarg, "mailto:", 7) == 0 ? xstrdup(optarg) :
			    xasprintf("mailto:%s", optarg);
		else {
			free(contact);
			return CTL_EXIT_USAGE;
		}
	}
	o.contact = contact;
	if (optind != argc) {
		free(contact);
		return fail(CTL_EXIT_USAGE, "usage: certfleetctl import-certbot [--config-dir DIR] "
		    "[--write FILE] [--contact EMAIL]");
	}
	if (bundle != NULL && *bundle != '\0')
		o.ca_bundle = bundle;
	rc = certbot_import(&o, &yaml, &ncerts, &naccts, err, sizeof(err));
	free(contact);
	if (rc < 0)
		return fail(CTL_EXIT_FAILED, "%s", err);
	if (out == NULL) {
		fputs(yaml, stdout);
		free(yaml);
		return fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILED;
	}
	/* 0600: the inventory may later hold an EAB key; never over an
	 * existing inventory. */
	if (atomic_write_file_ex(out, yaml, strlen(yaml), 0600, (uid_t)-1, (gid_t)-1,
	    AW_NO_REPLACE, err, sizeof(err)) < 0) {
		free(yaml);
		return fail(CTL_EXIT_FAILED, "%s", err);
	}
	free(yaml);
	printf("%s: %zu certificate%s, %zu account%s from %s\n", out, ncerts,
	    ncerts == 1 ? "" : "s", naccts, naccts == 1 ? "" : "s", o.config_dir);
	return CTL_EXIT_OK;
}

static const struct {
	const char *name;
	int (*fn)(struct ctl *x, int argc, char **argv);
} commands[] = {
	{"status", cmd_status},
	{"show", cmd_show},
	{"renew", cmd_renew},
	{"reload", cmd_reload},
	{"revoke", cmd_revoke},
	{"account", cmd_account},
	{"cluster", cmd_cluster},
	{"import-certbot", cmd_import_certbot},
};

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"timeout", required_argument, NULL, 't'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ctl x = { DEFAULT_CONFIG, false, NULL, DEFAULT_TIMEOUT, NULL, NULL };
	char *end;
	int ch, rc = -1;

	/* config_load() may log (warnings about the inventory): plain lines on
	 * stderr, warnings and worse only. */
	log_init("certfleetctl", LOG_WARNING, LOG_STYLE_PLAIN);
	while ((ch = getopt_long(argc, argv, "+c:Vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': x.config_path = optarg; x.config_given = true; break;
		case 's': x.socket = optarg; break;
		case 't':
			x.timeout = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || x.timeout < 0)
				return fail(CTL_EXIT_USAGE, "--timeout: expected seconds, got '%s'",
				    optarg);
			break;
		case 'V': printf("certfleetctl %s\n", CERTFLEET_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			int sub_argc = argc - optind;
			char **sub_argv = argv + optind;
			/* getopt's messages then read "certfleetctl renew: ...". */
			char *prog = xasprintf("certfleetctl %s", commands[i].name);
			sub_argv[0] = prog;
			reset_getopt();
			rc = commands[i].fn(&x, sub_argc, sub_argv);
			free(prog);
			break;
		}
	}
	if (rc < 0) {
		fprintf(stderr, "certfleetctl: unknown command '%s'\n", argv[optind]);
		usage(stderr);
		rc = CTL_EXIT_USAGE;
	}
	config_free(x.cfg);
	config_free(x.top);
	return rc;
}
