/*
 * netaddr.h - numeric socket addresses as the inventory writes them
 * ("127.0.0.1:5001", "[::]:443", "192.0.2.53"), for the listeners and the
 * DNS client of the challenge modules.  No name lookups: only numbers.
 */
#ifndef CERTFLEET_NETADDR_H
#define CERTFLEET_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Parses "ADDR:PORT", "[V6ADDR]:PORT", or, when default_port > 0, also a
 * bare "ADDR" / "V6ADDR" (which then gets default_port).  An empty ADDR
 * before the colon means 0.0.0.0.  0 ok, -1 when spec is not one of those.
 */
int netaddr_parse(const char *spec, int default_port, struct sockaddr_storage *ss,
    socklen_t *len);

/* "192.0.2.1:53" or "[2001:db8::1]:53" into buf (also returned). */
const char *netaddr_format(const struct sockaddr *sa, char *buf, size_t len);

/* The port of an AF_INET or AF_INET6 address, else 0. */
int netaddr_port(const struct sockaddr *sa);

/*
 * A non-blocking, close-on-exec TCP listener on spec ("ADDR:PORT" or
 * "[V6ADDR]:PORT"; "[::]" also takes IPv4).  *port gets the bound port
 * (useful with port 0).  The fd, or -1 with a one-line reason in err.
 */
int netaddr_listen(const char *spec, int *port, char *err, size_t errlen);

#endif
