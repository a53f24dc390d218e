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
	    "usage: certfleetd [-c FILE] [--once [--once-deadline DURATION] | --check] [-v] [-q]\n"
	    "                  [--log-style=auto|journal|plain]\n"
	    "  -c, --config FILE   inventory (default " DEFAULT_CONFIG ")\n"
	    "      --once          issue what is missing, renew what is due, then exit\n"
	    "                      (0 only when every certificate succeeded)\n"
	    "      --once-deadline DURATION\n"
	    "                      how long --once retries transient failures (CA\n"
	    "                      unreachable, 5xx, badNonce, short rateLimited);\n"
	    "                      e.g. 90s, 15m (default 15m)\n"
	    "      --check         validate the inventory and exit (78 when invalid)\n"
	    "  -v, --verbose       more detail (repeat for debug)\n"
	    "  -q, --quiet         warnings and errors only\n"
	    "  -V, --version       print the version\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"once", no_argument, NULL, 'o'},
		{"once-deadline", required_argument, NULL, 'D'},
		{"check", no_argument, NULL, 'k'},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"log-style", required_argument, NULL, 'L'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct daemon_opts o = {DEFAULT_CONFIG, false, ONCE_DEADLINE_DEFAULT};
	enum log_style style = LOG_STYLE_AUTO;
	int level = LOG_INFO, ch;
	bool check = false;

	while ((ch = getopt_long(argc, argv, "c:vqVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o.config_path = optarg; break;
		case 'o': o.once = true; break;
		case 'D':
			if (duration_parse(optarg, &o.once_deadline) < 0 || o.once_deadline < 0) {
				fprintf(stderr, "certfleetd: --once-deadline: '%s' is not a duration "
				    "(e.g. 90s, 15m, 1h)\n", optarg);
				return 64;
			}
			break;
		case 'k': check = true; break;
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
	log_init("certfleetd", level, style);
	if (check) {
		struct config *cfg = NULL;
		char err[1024];
		if (config_load(o.config_path, &cfg, err, sizeof(err)) < 0) {
			log_err("%s", err);
			return CONFIG_EXIT_INVALID;
		}
		printf("%s: OK (%zu accounts, %zu certificates)\n", o.config_path, cfg->naccounts,
		    cfg->ncerts);
		config_free(cfg);
		return 0;
	}
	return daemon_run(&o);
}
