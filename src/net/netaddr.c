/*
 * netaddr.c - numeric socket address parsing and formatting shared by the
 * challenge responders (http-01, tls-alpn-01) and the dns-01 propagation
 * check.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netaddr.h"

static int
port_parse(const char *s, int *port)
{
	char *end;
	long v;

	if (*s == '\0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 5)
		return -1;
	v = strtol(s, &end, 10);
	if (v < 0 || v > 65535)
		return -1;
	*port = (int)v;
	return 0;
}

static int
fill(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return 0;
	}
	return -1;
}

int
netaddr_parse(const char *spec, int default_port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *p, *colon;
	size_t hlen;
	int port = default_port;

	if (spec == NULL)
		return -1;
	if (spec[0] == '[') {
		if ((p = strchr(spec, ']')) == NULL)
			return -1;
		hlen = (size_t)(p - spec - 1);
		if (p[1] == ':') {
			if (port_parse(p + 2, &port) < 0)
				return -1;
		} else if (p[1] != '\0' || default_port <= 0) {
			return -1;
		}
		spec++;
	} else if ((colon = strrchr(spec, ':')) != NULL && strchr(spec, ':') == colon) {
		hlen = (size_t)(colon - spec);
		if (port_parse(colon + 1, &port) < 0)
			return -1;
	} else {
		/* No port, or a bare IPv6 address (several colons). */
		if (default_port <= 0)
			return -1;
		hlen = strlen(spec);
		if (hlen == 0)
			return -1;
	}
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	return fill(host, port, ss, len);
}

const char *
netaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &v4->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%d", a, ntohs(v4->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &v6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%d", a, ntohs(v6->sin6_port));
	} else {
		snprintf(buf, len, "(address family %d)", sa->sa_family);
	}
	return buf;
}

int
netaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

int
netaddr_listen(const char *spec, int *port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, zero = 0;

	if (netaddr_parse(spec, 0, &ss, &len) < 0) {
		snprintf(err, errlen, "invalid listen address '%s' (want ADDR:PORT or [ADDR]:PORT)",
		    spec);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket for %s: %s", spec, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	/* SOMAXCONN (4096 on Linux 5.4+), not 128: a CA validating 1,000 orders
	 * at once overflowed 128 and its fetches timed out (make bench slowca). */
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	len = sizeof(ss);
	*port = getsockname(fd, (struct sockaddr *)&ss, &len) == 0 ?
	    netaddr_port((struct sockaddr *)&ss) : 0;
	return fd;
}
