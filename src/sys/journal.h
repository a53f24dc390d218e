/*
 * journal.h - sending one structured entry to journald (sd_journal_sendv),
 * the journal half of the one module that touches libsystemd (notify.c is
 * the service manager half).  log.c builds the fields and decides when to
 * use it; without libsystemd (CERTFLEET_NO_SYSTEMD) sending always fails, so
 * log.c falls back to its plain lines and no caller needs an #ifdef.
 */
#ifndef CERTFLEET_JOURNAL_H
#define CERTFLEET_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

/* Sends the "KEY=value" fields in iov[0..n) as one entry.  0 sent, -1 not
 * (no journal socket, no libsystemd); never blocks on a full journal for
 * long (journald's socket is a datagram socket). */
int journal_send(const struct iovec *iov, size_t n);

/* Whether journald's native socket is there.  sd_journal_sendv() drops an
 * entry silently when it is missing, so log.c asks first and keeps its
 * stderr lines otherwise. */
bool journal_available(void);

#endif
