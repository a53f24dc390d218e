/*
 * notify.c - sd_notify(3) wrappers, one per state.  Built with
 * -DCERTFLEET_NO_SYSTEMD they do nothing, so no caller needs an #ifdef.
 */
#include <stdio.h>
#include <time.h>

#include "notify.h"

#ifndef CERTFLEET_NO_SYSTEMD
#include <systemd/sd-daemon.h>

void
notify_ready(void)
{
	sd_notify(0, "READY=1");
}

void
notify_reloading(void)
{
	struct timespec ts;
	char msg[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
	sd_notify(0, msg);
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void
notify_status(const char *status)
{
	sd_notifyf(0, "STATUS=%s", status);
}

void
notify_watchdog_status(const char *status)
{
	if (status == NULL)
		sd_notify(0, "WATCHDOG=1");
	else
		sd_notifyf(0, "WATCHDOG=1\nSTATUS=%s", status);
}

uint64_t
notify_watchdog_usec(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0)
		return usec;
	return 0;
}

#else

void notify_ready(void) {}
void notify_reloading(void) {}
void notify_stopping(void) {}
void notify_status(const char *status) { (void)status; }
void notify_watchdog_status(const char *status) { (void)status; }
uint64_t notify_watchdog_usec(void) { return 0; }

#endif
