/*
 * journal.c - sd_journal_sendv(3) behind one function (see journal.h), so
 * that libsystemd stays in src/sys/ beside notify.c and log.c knows only
 * iovecs.
 */
#include <unistd.h>

#include "journal.h"

#ifndef CERTFLEET_NO_SYSTEMD
#include <systemd/sd-journal.h>

bool
journal_available(void)
{
	return access("/run/systemd/journal/socket", W_OK) == 0;
}

int
journal_send(const struct iovec *iov, size_t n)
{
	if (n == 0 || n > 64)
		return -1;
	return sd_journal_sendv(iov, (int)n) < 0 ? -1 : 0;
}

#else

bool
journal_available(void)
{
	return false;
}

int
journal_send(const struct iovec *iov, size_t n)
{
	(void)iov;
	(void)n;
	return -1;
}

#endif
