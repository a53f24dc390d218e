/*
 * certfleetd.c - command line of the daemon.  Everything else lives in
 * daemon.c; only main() exits.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "dryrun.h"
#include "log.h"
#include "util.h"

#ifndef CERTFLEET_SYSCONFDIR
#define CERTFLEET_SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG CERTFLEET_SYSCONFDIR "/certfleet/certfleet.yaml"

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: certfleetd [-c FILE] [--once [--force] [--once-deadline DURATION] | --check |\n"
	    "                  --dry-run] [-v] [-q] [--log-style=auto|journal|plain]\n"
	    "  -c, --config FILE   inventory (default " DEFAULT_CONFIG ")\n"
	    "      --once          issue what is missing, renew what is due, then exit\n"
	    "                      (0 only when every certificate succeeded)\n"
	    "      --force         with --once: renew every certificate, due or not\n"
	    "      --once-deadline DURATION\n"
	    "                      how long --once retries transient failures (CA\n"
	    "                      unreachable, 5xx, badNonce, short rateLimited);\n"
	    "                      e.g. 90s, 15m (default 15m)\n"
	    "      --check         validate the inventory and exit (78 when invalid)\n"
	    "      --dry-run       for each certificate that is due, check everything short\n"
	    "                      of newOrder (directory, account, output, hooks, responders)\n"
	    "                      and issue at the account's staging_directory if set;\n"
	    "                      installs nothing; one line per certificate (0: all would work)\n"
	    "  -v, --verbose       more detail (repeat for debug)\n"
	    "  -q, --quiet         warnings and errors only\n"
	    "  -V, --version       print the version\n");
}

/* --check answers like a command, not a log: no timestamp, no pid, the
 * error as "certfleetd: FILE:LINE:COL: ..." on stderr.  It checks what
 * the daemon will check at start, against this machine (hooks, directories). */
static int
check_inventory(const char *path)
{
	struct config *cfg = NULL;
	char err[1024];

	if (config_load_ex(path, CONFIG_LOAD_HOST | CONFIG_LOAD_CERTS, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "certfleetd: %s\n", err);
		return CONFIG_EXIT_INVALID;
	}
	printf("%s: OK (%zu account%s, %zu certificate%s)\n", path, cfg->naccounts,
	    cfg->naccounts == 1 ? "" : "s", cfg->ncerts, cfg->ncerts == 1 ? "" : "s");
	config_free(cfg);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"once", no_argument, NULL, 'o'},
		{"force", no_argument, NULL, 'f'},
		{"once-deadline", required_argument, NULL, 'D'},
		{"check", no_argument, NULL, 'k'},
		{"dry-run", no_argument, NULL, 'n'},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"log-style", required_argument, NULL, 'L'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct daemon_opts o = {DEFAULT_CONFIG, false, false, ONCE_DEADLINE_DEFAULT};
	enum log_style style = LOG_STYLE_AUTO;
	int level = LOG_INFO, ch;
	bool check = false, dry_run = false;

	while ((ch = getopt_long(argc, argv, "c:vqVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o.config_path = optarg; break;
		case 'o': o.once = true; break;
		case 'f': o.force = true; break;
		case 'D':
			if (duration_parse(optarg, &o.once_deadline) < 0 || o.once_deadline < 0) {
				fprintf(stderr, "certfleetd: --once-deadline: '%s' is not a duration "
				    "(e.g. 90s, 15m, 1h)\n", optarg);
				return 64;
			}
			break;
		case 'k': check = true; break;
		case 'n': dry_run = true; break;
		case 'v': level = level < LOG_DEBUG ? LOG_DEBUG : level; break;
		case 'q': level = LOG_WARNING; break;
		case 'L':
			if (strcmp(optarg, "journal") == 0)
				style = LOG_STYLE_JOURNAL;
			else if (strcmp(optarg, "plain") == 0)
				style = LOG_STYLE_PLAIN;
			else if (strcmp(optarg, "auto") == 0)
				style = LOG_STYLE_AUTO;
			else {
				fprintf(stderr, "certfleetd: unknown log style '%s'\n", optarg);
				return 64;
			}
			break;
		case 'V': printf("certfleetd %s\n", CERTFLEET_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 64; /* EX_USAGE */
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	if (dry_run && (check || o.once)) {
		fprintf(stderr, "certfleetd: --dry-run goes with neither --once nor --check\n");
		return 64;
	}
	if (o.force && !o.once) {
		fprintf(stderr, "certfleetd: --force needs --once (a running daemon renews on "
		    "demand with certfleetctl renew --force)\n");
		return 64;
	}
	if (check)
		return check_inventory(o.config_path);
	log_init("certfleetd", level, style);
	if (dry_run)
		return dryrun_run(o.config_path);
	return daemon_run(&o);
}
