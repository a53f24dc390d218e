/*
 * dns_probe.c - TXT record propagation checks on worker threads.
 *
 * Each probe is a handful of blocking DNS exchanges (system resolver for
 * the discovery, then one UDP query per authoritative address, TCP when
 * the answer is truncated), each bounded by a short timeout.  They run on
 * a workpool (workpool.c), like key generation (keygen.c): the callbacks
 * run on the loop thread.  A cancelled probe is only marked; the loop
 * frees it when the worker hands it back.
 *
 * Queries are built here and answers parsed with libresolv's ns_* parser
 * (pure functions, safe on any thread); the system resolver is used
 * through a res_state of the probe's own (res_ninit), never the global one.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <resolv.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto.h"
#include "dns_probe.h"
#include "log.h"
#include "netaddr.h"
#include "util.h"
#include "workpool.h"

#define QUERY_TIMEOUT_MS 2000   /* one UDP try, or one TCP exchange */
#define QUERY_TRIES 2
#define MAX_SERVERS 16
#define MAX_CNAME_HOPS 8
#define MAX_WALK 32
#define ANSWER_MAX 65536

/* What a job carries. */
struct probe_req {
	char *name;
	char *value;
	char *server;
	dns_probe_cb cb;
	void *arg;
	/* results, written by the worker, read on the loop */
	bool ok;
	unsigned nservers;
	char *detail;
};

struct server {
	char label[NS_MAXDNAME + 64];
	struct sockaddr_storage ss;
	socklen_t len;
};

/* ---- wire format ---- */

int
dns_build_query(const char *name, int type, bool recursion, unsigned char *buf, size_t buflen,
    unsigned *id)
{
	unsigned char rnd[2] = {0, 0};
	size_t off = 12;
	const char *p = name;

	if (buflen < 12 + 1 + 4)
		return -1;
	(void)crypto_random(rnd, sizeof(rnd));
	memset(buf, 0, 12);
	buf[0] = rnd[0];
	buf[1] = rnd[1];
	buf[2] = recursion ? 0x01 : 0x00;  /* opcode QUERY, RD as asked */
	buf[5] = 1;                          /* one question */
	while (*p) {
		size_t l = strcspn(p, ".");
		if (l == 0 || l > 63 || off + 1 + l + 1 + 4 > buflen || off + 1 + l > 12 + 254)
			return -1;
		buf[off++] = (unsigned char)l;
		memcpy(buf + off, p, l);
		off += l;
		p += l;
		if (*p == '.')
			p++;
	}
	buf[off++] = 0;
	buf[off++] = (unsigned char)(type >> 8);
	buf[off++] = (unsigned char)type;
	buf[off++] = 0;
	buf[off++] = ns_c_in;
	if (id)
		*id = (unsigned)rnd[0] << 8 | rnd[1];
	return (int)off;
}

static const char *
rcode_name(int rcode)
{
	switch (rcode) {
	case ns_r_formerr: return "FORMERR";
	case ns_r_servfail: return "SERVFAIL";
	case ns_r_nxdomain: return "NXDOMAIN";
	case ns_r_notimpl: return "NOTIMP";
	case ns_r_refused: return "REFUSED";
	default: return "error";
	}
}

int
dns_txt_match(const unsigned char *msg, size_t len, const char *value, char *err,
    size_t errlen)
{
	ns_msg h;
	ns_rr rr;
	unsigned others = 0;
	int rcode;

	if (len > ANSWER_MAX || ns_initparse(msg, (int)len, &h) < 0) {
		snprintf(err, errlen, "malformed DNS response");
		return -1;
	}
	rcode = ns_msg_getflag(h, ns_f_rcode);
	if (rcode == ns_r_nxdomain) {
		snprintf(err, errlen, "NXDOMAIN");
		return 0;
	}
	if (rcode != ns_r_noerror) {
		snprintf(err, errlen, "%s (rcode %d)", rcode_name(rcode), rcode);
		return -1;
	}
	for (int i = 0; i < ns_msg_count(h, ns_s_an); i++) {
		const unsigned char *rd, *end;
		struct buf txt = {0};
		bool eq;

		if (ns_parserr(&h, ns_s_an, i, &rr) < 0) {
			snprintf(err, errlen, "malformed DNS response");
			return -1;
		}
		if (ns_rr_type(rr) != ns_t_txt)
			continue;
		rd = ns_rr_rdata(rr);
		end = rd + ns_rr_rdlen(rr);
		while (rd < end) {
			size_t l = *rd++;
			if (l > (size_t)(end - rd)) {
				buf_free(&txt);
				snprintf(err, errlen, "malformed TXT record");
				return -1;
			}
			buf_append(&txt, rd, l);
			rd += l;
		}
		eq = txt.len == strlen(value) && (txt.len == 0 || memcmp(txt.data, value,
		    txt.len) == 0);
		buf_free(&txt);
		if (eq)
			return 1;
		others++;
	}
	if (others == 0)
		snprintf(err, errlen, "no TXT record");
	else
		snprintf(err, errlen, "%u other value%s", others, others == 1 ? "" : "s");
	return 0;
}

/* ---- talking to one server ---- */

static int
wait_fd(int fd, short events, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&pfd, 1, ms);
	} while (n < 0 && errno == EINTR);
	return n;
}

static bool
unreachable_errno(int e)
{
	return e == ENETUNREACH || e == EHOSTUNREACH || e == EADDRNOTAVAIL || e == EAFNOSUPPORT;
}

/* Reads exactly len bytes, or -1. */
static int
read_full(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;
		if (wait_fd(fd, POLLIN, QUERY_TIMEOUT_MS) <= 0)
			return -1;
		n = read(fd, buf + got, len - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int
exchange_tcp(const struct server *s, const unsigned char *q, int qlen, unsigned char *ans,
    char *err, size_t errlen)
{
	unsigned char hdr[2], out[2 + 512];
	int fd, rc = -1, soerr = 0;
	socklen_t sl = sizeof(soerr);
	size_t alen;

	fd = socket(s->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (const struct sockaddr *)&s->ss, s->len) < 0 && errno != EINPROGRESS) {
		snprintf(err, errlen, "TCP connect: %s", strerror(errno));
		goto out;
	}
	if (wait_fd(fd, POLLOUT, QUERY_TIMEOUT_MS) <= 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
		snprintf(err, errlen, "TCP connect: %s", soerr ? strerror(soerr) : "timed out");
		goto out;
	}
	out[0] = (unsigned char)(qlen >> 8);
	out[1] = (unsigned char)qlen;
	memcpy(out + 2, q, (size_t)qlen);
	if (write(fd, out, (size_t)qlen + 2) != qlen + 2 || read_full(fd, hdr, 2) < 0) {
		snprintf(err, errlen, "no answer over TCP within %ds", QUERY_TIMEOUT_MS / 1000);
		goto out;
	}
	alen = (size_t)hdr[0] << 8 | hdr[1];
	if (alen < 12 || read_full(fd, ans, alen) < 0) {
		snprintf(err, errlen, "short answer over TCP");
		goto out;
	}
	rc = (int)alen;
out:
	close(fd);
	return rc;
}

/*
 * One query to one server: the answer's length, -1 with err, or -2 when
 * the server cannot be reached from here at all (no route, no IPv6).
 */
static int
exchange(const struct server *s, const char *name, int type, bool rd, unsigned char *ans,
    char *err, size_t errlen)
{
	unsigned char q[512];
	unsigned id;
	int qlen, fd, rc = -1;

	if ((qlen = dns_build_query(name, type, rd, q, sizeof(q), &id)) < 0) {
		snprintf(err, errlen, "cannot build a query for %s", name);
		return -1;
	}
	fd = socket(s->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return unreachable_errno(errno) ? -2 : -1;
	}
	if (connect(fd, (const struct sockaddr *)&s->ss, s->len) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		rc = unreachable_errno(errno) ? -2 : -1;
		goto out;
	}
	snprintf(err, errlen, "no answer within %ds", QUERY_TIMEOUT_MS / 1000);
	for (int t = 0; t < QUERY_TRIES && rc == -1; t++) {
		if (send(fd, q, (size_t)qlen, 0) != qlen) {
			snprintf(err, errlen, "send: %s", strerror(errno));
			rc = unreachable_errno(errno) ? -2 : -1;
			break;
		}
		while (wait_fd(fd, POLLIN, QUERY_TIMEOUT_MS) > 0) {
			ssize_t n = recv(fd, ans, ANSWER_MAX, 0);
			if (n < 0) {
				snprintf(err, errlen, "%s", strerror(errno));
				if (errno == ECONNREFUSED)
					t = QUERY_TRIES;
				break;
			}
			/* Not ours (a late answer to the first try): keep waiting. */
			if (n < 12 || ((unsigned)ans[0] << 8 | ans[1]) != id || !(ans[2] & 0x80))
				continue;
			if (ans[2] & 0x02) /* TC: the full answer comes over TCP */
				rc = exchange_tcp(s, q, qlen, ans, err, errlen);
			else
				rc = (int)n;
			break;
		}
	}
out:
	close(fd);
	return rc;
}

/* ---- finding the authoritative servers ---- */

/* The system resolver's answer to name/type, or -1. */
static int
sys_query(res_state rs, const char *name, int type, unsigned char *ans)
{
	unsigned char q[512];
	int qlen;

	qlen = res_nmkquery(rs, ns_o_query, name, ns_c_in, type, NULL, 0, NULL, q, sizeof(q));
	if (qlen < 0)
		return -1;
	return res_nsend(rs, q, qlen, ans, ANSWER_MAX);
}

/* The target of a CNAME at name (into out), or false. */
static bool
find_cname(res_state rs, const char *name, unsigned char *ans, char *out, size_t outlen)
{
	ns_msg h;
	ns_rr rr;
	int n = sys_query(rs, name, ns_t_cname, ans);

	if (n < 0 || ns_initparse(ans, n, &h) < 0)
		return false;
	for (int i = 0; i < ns_msg_count(h, ns_s_an); i++) {
		if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
			return false;
		if (ns_rr_type(rr) == ns_t_cname && strcasecmp(ns_rr_name(rr), name) == 0 &&
		    dn_expand(ns_msg_base(h), ns_msg_end(h), ns_rr_rdata(rr), out,
		    (int)outlen) >= 0)
			return true;
	}
	return false;
}

static void
add_server(struct server *srv, unsigned *n, const char *host, const struct sockaddr *sa,
    socklen_t len)
{
	char a[INET6_ADDRSTRLEN + 8];

	for (unsigned i = 0; i < *n; i++)
		if (srv[i].len == len && memcmp(&srv[i].ss, sa, len) == 0)
			return;
	if (*n >= MAX_SERVERS)
		return;
	memcpy(&srv[*n].ss, sa, len);
	srv[*n].len = len;
	if (host)
		snprintf(srv[*n].label, sizeof(srv[*n].label), "%s (%s)", host,
		    netaddr_format(sa, a, sizeof(a)));
	else
		netaddr_format(sa, srv[*n].label, sizeof(srv[*n].label));
	(*n)++;
}

/*
 * Walks up from name to the zone that holds it and collects the addresses
 * of the zone's name servers.  0 ok, -1 with err.
 */
static int
discover(const char *name, struct server *srv, unsigned *nsrv, char *zone, size_t zonelen,
    char *err, size_t errlen)
{
	struct __res_state rs;
	unsigned char *ans = xmalloc(ANSWER_MAX);
	char cur[NS_MAXDNAME], host[NS_MAXDNAME];
	struct strlist hosts = {0};
	int rc = -1;

	memset(&rs, 0, sizeof(rs));
	if (res_ninit(&rs) < 0) {
		snprintf(err, errlen, "cannot initialise the system resolver");
		free(ans);
		return -1;
	}
	snprintf(cur, sizeof(cur), "%s", name);
	for (int walk = 0; walk < MAX_WALK && hosts.n == 0; walk++) {
		ns_msg h;
		ns_rr rr;
		char soa[NS_MAXDNAME] = "";
		int n = sys_query(&rs, cur, ns_t_ns, ans);

		if (n < 0 || ns_initparse(ans, n, &h) < 0) {
			snprintf(err, errlen, "the system resolver did not answer for NS %s", cur);
			goto out;
		}
		for (int i = 0; i < ns_msg_count(h, ns_s_an); i++) {
			if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
				break;
			if (ns_rr_type(rr) == ns_t_ns && strcasecmp(ns_rr_name(rr), cur) == 0 &&
			    dn_expand(ns_msg_base(h), ns_msg_end(h), ns_rr_rdata(rr), host,
			    sizeof(host)) >= 0)
				strlist_add(&hosts, host);
		}
		if (hosts.n > 0)
			break;
		/* NODATA/NXDOMAIN: the SOA in the authority section names the zone. */
		for (int i = 0; i < ns_msg_count(h, ns_s_ns); i++) {
			if (ns_parserr(&h, ns_s_ns, i, &rr) < 0)
				break;
			if (ns_rr_type(rr) == ns_t_soa)
				snprintf(soa, sizeof(soa), "%s", ns_rr_name(rr));
		}
		if (soa[0] && strcasecmp(soa, cur) != 0) {
			snprintf(cur, sizeof(cur), "%s", soa);
			continue;
		}
		if (strchr(cur, '.') == NULL) {
			snprintf(err, errlen, "no zone with name servers found above %s", name);
			goto out;
		}
		memmove(cur, strchr(cur, '.') + 1, strlen(strchr(cur, '.') + 1) + 1);
	}
	if (hosts.n == 0) {
		snprintf(err, errlen, "no zone with name servers found above %s", name);
		goto out;
	}
	snprintf(zone, zonelen, "%s", cur);
	for (size_t i = 0; i < hosts.n; i++) {
		struct addrinfo hints = {0}, *res = NULL;

		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_DGRAM;
		hints.ai_flags = AI_NUMERICSERV;
		if (getaddrinfo(hosts.v[i], "53", &hints, &res) != 0)
			continue;
		for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
			add_server(srv, nsrv, hosts.v[i], ai->ai_addr, ai->ai_addrlen);
		freeaddrinfo(res);
	}
	if (*nsrv == 0) {
		snprintf(err, errlen, "none of the name servers of %s has an address (%s)", cur,
		    hosts.v[0]);
		goto out;
	}
	rc = 0;
out:
	strlist_free(&hosts);
	res_nclose(&rs);
	free(ans);
	return rc;
}

/* ---- one probe ---- */

static void
run_probe(struct probe_req *j)
{
	struct server srv[MAX_SERVERS];
	unsigned nsrv = 0, have = 0, skipped = 0;
	unsigned char *ans = xmalloc(ANSWER_MAX);
	char name[NS_MAXDNAME], zone[NS_MAXDNAME] = "", err[3 * NS_MAXDNAME];
	struct buf missing = {0};
	bool rd = j->server != NULL;

	snprintf(name, sizeof(name), "%s", j->name);
	if (name[0] && name[strlen(name) - 1] == '.')
		name[strlen(name) - 1] = '\0';
	if (j->server) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (netaddr_parse(j->server, 53, &ss, &len) < 0) {
			j->detail = xasprintf("bad DNS server address '%s'", j->server);
			goto out;
		}
		add_server(srv, &nsrv, NULL, (struct sockaddr *)&ss, len);
	} else {
		struct __res_state rs;
		char target[NS_MAXDNAME];

		/* A delegated _acme-challenge (CNAME to another zone) is
		 * checked where it points. */
		memset(&rs, 0, sizeof(rs));
		if (res_ninit(&rs) == 0) {
			for (int hop = 0; hop < MAX_CNAME_HOPS &&
			    find_cname(&rs, name, ans, target, sizeof(target)); hop++)
				snprintf(name, sizeof(name), "%s", target);
			res_nclose(&rs);
		}
		if (discover(name, srv, &nsrv, zone, sizeof(zone), err, sizeof(err)) < 0) {
			j->detail = xasprintf("%s", err);
			goto out;
		}
	}
	j->nservers = nsrv;
	for (unsigned i = 0; i < nsrv; i++) {
		int n = exchange(&srv[i], name, ns_t_txt, rd, ans, err, sizeof(err));
		int m = n < 0 ? -1 : dns_txt_match(ans, (size_t)n, j->value, err, sizeof(err));

		if (m == 1) {
			have++;
			continue;
		}
		if (n == -2) {
			skipped++;
			log_debug("dns-01: %s unreachable from here (%s), not waited for",
			    srv[i].label, err);
			continue;
		}
		buf_appendf(&missing, "%s%s: %s", missing.len ? "; " : "", srv[i].label, err);
	}
	if (missing.len == 0 && have > 0) {
		j->ok = true;
		if (zone[0])
			j->detail = xasprintf("%u server%s of zone %s", have, have == 1 ? "" : "s",
			    zone);
		else
			j->detail = xasprintf("%s", srv[0].label);
	} else if (missing.len == 0) {
		j->detail = xasprintf("none of the %u name servers%s%s can be reached", skipped,
		    zone[0] ? " of zone " : "", zone);
	} else {
		j->detail = buf_steal(&missing, NULL);
	}
out:
	buf_free(&missing);
	free(ans);
}

/* ---- the pool ---- */

/* On a worker thread. */
static void
job_work(void *arg)
{
	run_probe(arg);
}

/* On the loop thread, unless cancelled. */
static void
job_done(void *arg)
{
	struct probe_req *j = arg;
	struct dns_probe_result r = {
		.ok = j->ok,
		.nservers = j->nservers,
		.detail = j->detail ? j->detail : "",
	};

	j->cb(&r, j->arg);
}

/* Every probe ends here, delivered, cancelled or dropped. */
static void
job_free(void *arg)
{
	struct probe_req *j = arg;

	free(j->name);
	free(j->value);
	free(j->server);
	free(j->detail);
	free(j);
}

struct workpool_job *
dns_probe_submit(struct workpool *p, const char *name, const char *value,
    const char *server, dns_probe_cb cb, void *arg)
{
	struct probe_req *j = xcalloc(1, sizeof(*j));

	j->name = xstrdup(name);
	j->value = xstrdup(value);
	j->server = xstrdup(server);
	j->cb = cb;
	j->arg = arg;
	return workpool_submit(p, job_work, job_done, job_free, j);
}
