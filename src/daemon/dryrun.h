/*
 * dryrun.h - certfleetd --dry-run (see dryrun.c): what the next run would
 * do for each certificate that is due, checked as far as it can be without
 * a newOrder at the live CA, one line per certificate on stdout.
 */
#ifndef CERTFLEET_DRYRUN_H
#define CERTFLEET_DRYRUN_H

/* Returns the exit status: 0 when every due certificate would work, 1 when
 * one would not, 78 for an invalid inventory, 69 when it cannot run. */
int dryrun_run(const char *config_path);

#endif
