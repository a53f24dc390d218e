/*
 * notify.h - the service manager protocol (sd_notify).  One function per
 * state, named for its intent; without libsystemd (CERTFLEET_NO_SYSTEMD)
 * they compile to nothing, so callers carry no #ifdef.
 */
#ifndef CERTFLEET_NOTIFY_H
#define CERTFLEET_NOTIFY_H

#include <stdint.h>

void notify_ready(void);
void notify_reloading(void);      /* RELOADING=1 + MONOTONIC_USEC */
void notify_stopping(void);
void notify_status(const char *status);
/* WATCHDOG=1, and STATUS=status in the same datagram unless NULL. */
void notify_watchdog_status(const char *status);
/* WATCHDOG_USEC for this process, 0 when the watchdog is off. */
uint64_t notify_watchdog_usec(void);

#endif
