/*
 * fake_ca.c - the scripted ACME CA of fake_ca.h: a one-request-per-
 * connection HTTP/1.1 server on the test's event loop.
 *
 * Chosen over a fake http.c because the engine then runs exactly as in
 * the daemon (curl, header parsing, Link and Retry-After extraction), and
 * because the static library cannot be overridden piecemeal: acme_order.c
 * needs http_parse_retry_after() from http.o, which would drag the real
 * client in beside a fake one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <ev.h>

#include "b64.h"
#include "config.h"
#include "fake_ca.h"
#include "fleet_account.h"
#include "fsutil.h"
#include "store.h"
#include "util.h"
#include "workpool.h"

#define DEFAULT_DIRECTORY \
	"{\"newNonce\":\"$B/nonce\",\"newAccount\":\"$B/acct/new\"," \
	"\"newOrder\":\"$B/order/new\",\"revokeCert\":\"$B/revoke\"," \
	"\"keyChange\":\"$B/key-change\"}"

struct script {
	char *method;
	char *path;
	int times;              /* 0: unlimited */
	int used;
	int status;
	char *headers;
	char *body;
};

struct conn {
	struct fake_ca *ca;
	int fd;
	ev_io io;
	struct buf in;
	struct conn *next;
};

struct fake_ca {
	struct ev_loop *loop;
	int lfd;
	ev_io accept_io;
	char base[64];
	char dir_url[80];
	char *directory;
	struct script *scripts;
	size_t nscripts;
	struct fake_request *reqs;
	size_t nreqs;
	size_t unmatched;
	unsigned long nonce_seq;
	struct conn *conns;
};

/* s with every "$B" replaced by the base URL; caller frees. */
static char *
expand(const struct fake_ca *ca, const char *s)
{
	struct buf b = {0};
	const char *p;

	if (s == NULL)
		return xstrdup("");
	while ((p = strstr(s, "$B")) != NULL) {
		buf_append(&b, s, (size_t)(p - s));
		buf_append(&b, ca->base, strlen(ca->base));
		s = p + 2;
	}
	buf_append(&b, s, strlen(s));
	return buf_steal(&b, NULL);
}

static void
conn_close(struct conn *c)
{
	struct conn **pp;

	for (pp = &c->ca->conns; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ev_io_stop(c->ca->loop, &c->io);
	close(c->fd);
	buf_free(&c->in);
	free(c);
}

static void
send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;     /* the client went away */
		p += n;
		len -= (size_t)n;
	}
}

/* A decoded base64url member of the JWS object, or NULL. */
static char *
jws_member(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	unsigned char *out = NULL;
	size_t len = 0;
	char *s;

	if (!cJSON_IsString(v) || b64url_decode(v->valuestring, &out, &len) < 0)
		return NULL;
	s = xstrndup((const char *)out, len);
	free(out);
	return s;
}

static char *
json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

static void
decode_jws(struct fake_request *r)
{
	cJSON *o = cJSON_Parse(r->body), *h = NULL;

	if (o == NULL)
		return;
	r->protected_json = jws_member(o, "protected");
	r->payload = jws_member(o, "payload");
	if (r->payload == NULL && cJSON_GetObjectItemCaseSensitive(o, "payload"))
		r->payload = xstrdup("");
	if (r->protected_json && (h = cJSON_Parse(r->protected_json)) != NULL) {
		r->nonce = json_str(h, "nonce");
		r->url = json_str(h, "url");
		r->kid = json_str(h, "kid");
		r->has_jwk = cJSON_GetObjectItemCaseSensitive(h, "jwk") != NULL;
	}
	cJSON_Delete(h);
	cJSON_Delete(o);
}

static const struct script *
script_take(struct fake_ca *ca, const char *method, const char *path)
{
	for (size_t i = 0; i < ca->nscripts; i++) {
		struct script *s = &ca->scripts[i];

		if (strcmp(s->method, method) != 0 || strcmp(s->path, path) != 0)
			continue;
		if (s->times != 0 && s->used >= s->times)
			continue;
		s->used++;
		return s;
	}
	return NULL;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 429: return "Too Many Requests";
	default: return "Status";
	}
}

/* Answers one complete request on c, then closes it. */
static void
serve(struct conn *c, const char *method, const char *path, const char *body)
{
	struct fake_ca *ca = c->ca;
	const struct script *s;
	struct fake_request *r;
	char *hdrs = NULL, *rbody = NULL, *nonce = NULL, *head = NULL;
	int status;

	ca->reqs = xrealloc(ca->reqs, (ca->nreqs + 1) * sizeof(*ca->reqs));
	r = &ca->reqs[ca->nreqs++];
	memset(r, 0, sizeof(*r));
	r->method = xstrdup(method);
	r->path = xstrdup(path);
	r->body = xstrdup(body);
	r->at = ev_now(ca->loop);
	if (strcmp(method, "POST") == 0)
		decode_jws(r);

	if ((s = script_take(ca, method, path)) != NULL) {
		status = s->status;
		hdrs = expand(ca, s->headers);
		rbody = expand(ca, s->body);
	} else if (strcmp(method, "GET") == 0 && strcmp(path, "/dir") == 0) {
		status = 200;
		hdrs = xstrdup("Content-Type: application/json\r\n");
		rbody = expand(ca, ca->directory);
	} else if (strcmp(method, "HEAD") == 0 && strcmp(path, "/nonce") == 0) {
		status = 200;
		hdrs = xstrdup("Cache-Control: no-store\r\n");
		rbody = xstrdup("");
	} else {
		ca->unmatched++;
		status = 500;
		hdrs = xstrdup("Content-Type: application/problem+json\r\n");
		rbody = xasprintf("{\"type\":\"urn:ietf:params:acme:error:serverInternal\","
		    "\"detail\":\"fake CA: no scripted reply for %s %s\"}", method, path);
	}
	r->status = status;
	if (status == FAKE_NO_ANSWER)
		goto out;
	if (strcasestr(hdrs, "Replay-Nonce:") == NULL) {
		nonce = xasprintf("n%lu", ++ca->nonce_seq);
		r->nonce_sent = xstrdup(nonce);
	}
	head = xasprintf("HTTP/1.1 %d %s\r\n%s%s%s%sContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", status, reason(status), hdrs,
	    nonce ? "Replay-Nonce: " : "", nonce ? nonce : "", nonce ? "\r\n" : "",
	    strlen(rbody));
	send_all(c->fd, head, strlen(head));
	if (strcmp(method, "HEAD") != 0)
		send_all(c->fd, rbody, strlen(rbody));
out:
	free(hdrs);
	free(rbody);
	free(nonce);
	free(head);
	conn_close(c);
}

/* Serves the request once its headers and Content-Length bytes are in. */
static void
conn_try(struct conn *c)
{
	char *end, *cl, method[16] = "", path[512] = "";
	size_t hlen, blen = 0;
	char *body;

	if (c->in.data == NULL || (end = strstr(c->in.data, "\r\n\r\n")) == NULL)
		return;
	hlen = (size_t)(end - c->in.data) + 4;
	*end = '\0';
	cl = strcasestr(c->in.data, "\r\nContent-Length:");
	if (cl != NULL)
		blen = strtoul(cl + 17, NULL, 10);
	*end = '\r';
	if (c->in.len < hlen + blen)
		return;
	if (sscanf(c->in.data, "%15s %511s", method, path) != 2) {
		conn_close(c);
		return;
	}
	body = xstrndup(c->in.data + hlen, blen);
	serve(c, method, path, body);
	free(body);
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	char chunk[16384];
	ssize_t n;

	(void)loop;
	(void)revents;
	n = recv(c->fd, chunk, sizeof(chunk), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	buf_append(&c->in, chunk, (size_t)n);
	conn_try(c);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fake_ca *ca = w->data;
	struct conn *c;
	int fd;

	(void)revents;
	while ((fd = accept4(ca->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		c = xcalloc(1, sizeof(*c));
		c->ca = ca;
		c->fd = fd;
		/* Blocking writes: replies are small and the peer is local. */
		ev_io_init(&c->io, conn_read_cb, fd, EV_READ);
		c->io.data = c;
		ev_io_start(loop, &c->io);
		c->next = ca->conns;
		ca->conns = c;
	}
}

struct fake_ca *
fake_ca_new(struct ev_loop *loop)
{
	struct fake_ca *ca = xcalloc(1, sizeof(*ca));
	struct sockaddr_in sin = {0};
	socklen_t slen = sizeof(sin);
	int one = 1;

	ca->loop = loop;
	ca->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(ca->lfd, 0);
	setsockopt(ca->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(ca->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(ca->lfd, 64), 0);
	ck_assert_int_eq(getsockname(ca->lfd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(ca->base, sizeof(ca->base), "http://127.0.0.1:%d", ntohs(sin.sin_port));
	snprintf(ca->dir_url, sizeof(ca->dir_url), "%s/dir", ca->base);
	ca->directory = xstrdup(DEFAULT_DIRECTORY);
	ev_io_init(&ca->accept_io, accept_cb, ca->lfd, EV_READ);
	ca->accept_io.data = ca;
	ev_io_start(loop, &ca->accept_io);
	return ca;
}

void
fake_ca_free(struct fake_ca *ca)
{
	if (ca == NULL)
		return;
	while (ca->conns)
		conn_close(ca->conns);
	ev_io_stop(ca->loop, &ca->accept_io);
	close(ca->lfd);
	for (size_t i = 0; i < ca->nscripts; i++) {
		free(ca->scripts[i].method);
		free(ca->scripts[i].path);
		free(ca->scripts[i].headers);
		free(ca->scripts[i].body);
	}
	for (size_t i = 0; i < ca->nreqs; i++) {
		struct fake_request *r = &ca->reqs[i];
		free(r->method);
		free(r->path);
		free(r->body);
		free(r->protected_json);
		free(r->payload);
		free(r->nonce);
		free(r->url);
		free(r->kid);
		free(r->nonce_sent);
	}
	free(ca->scripts);
	free(ca->reqs);
	free(ca->directory);
	free(ca);
}

const char *
fake_ca_base(const struct fake_ca *ca)
{
	return ca->base;
}

const char *
fake_ca_directory_url(const struct fake_ca *ca)
{
	return ca->dir_url;
}

void
fake_ca_reply(struct fake_ca *ca, const char *method, const char *path, int times,
    int status, const char *headers, const char *body)
{
	struct script *s;

	ca->scripts = xrealloc(ca->scripts, (ca->nscripts + 1) * sizeof(*ca->scripts));
	s = &ca->scripts[ca->nscripts++];
	memset(s, 0, sizeof(*s));
	s->method = xstrdup(method);
	s->path = xstrdup(path);
	s->times = times;
	s->status = status;
	s->headers = xstrdup(headers);
	s->body = xstrdup(body);
}

void
fake_ca_set_directory(struct fake_ca *ca, const char *json)
{
	free(ca->directory);
	ca->directory = xstrdup(json);
}

size_t
fake_ca_nrequests(const struct fake_ca *ca)
{
	return ca->nreqs;
}

const struct fake_request *
fake_ca_request(const struct fake_ca *ca, size_t i)
{
	return i < ca->nreqs ? &ca->reqs[i] : NULL;
}

const struct fake_request *
fake_ca_find(const struct fake_ca *ca, const char *method, const char *path, size_t k)
{
	for (size_t i = 0; i < ca->nreqs; i++)
		if (strcmp(ca->reqs[i].method, method) == 0 &&
		    strcmp(ca->reqs[i].path, path) == 0 && k-- == 0)
			return &ca->reqs[i];
	return NULL;
}

size_t
fake_ca_count(const struct fake_ca *ca, const char *method, const char *path)
{
	size_t n = 0;

	for (size_t i = 0; i < ca->nreqs; i++)
		if (strcmp(ca->reqs[i].method, method) == 0 && strcmp(ca->reqs[i].path, path) == 0)
			n++;
	return n;
}

size_t
fake_ca_unmatched(const struct fake_ca *ca)
{
	return ca->unmatched;
}

char *
fake_ca_dump(const struct fake_ca *ca)
{
	struct buf b = {0};

	for (size_t i = 0; i < ca->nreqs; i++)
		buf_appendf(&b, "%s %s %d; ", ca->reqs[i].method, ca->reqs[i].path,
		    ca->reqs[i].status);
	return buf_steal(&b, NULL);
}

/* ---- the engine around it ---- */


static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static char *
replace_all(const char *s, const char *what, const char *with)
{
	struct buf b = {0};
	const char *p;

	while ((p = strstr(s, what)) != NULL) {
		buf_append(&b, s, (size_t)(p - s));
		buf_append(&b, with, strlen(with));
		s = p + strlen(what);
	}
	buf_append(&b, s, strlen(s));
	return buf_steal(&b, NULL);
}

struct fake_env *
fake_env_new(const char *account_extra, const char *certs)
{
	struct fake_env *e = xcalloc(1, sizeof(*e));
	char err[1024] = "", *inv = NULL, *path = NULL, *state = NULL, *c = NULL;

	e->loop = ev_default_loop(0);
	e->ca = fake_ca_new(e->loop);
	snprintf(e->dir, sizeof(e->dir), "/tmp/check_fake_ca.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(e->dir));
	e->webroot = xasprintf("%s/www", e->dir);
	ck_assert_int_eq(mkdir(e->webroot, 0755), 0);
	state = xasprintf("%s/state", e->dir);
	c = replace_all(certs, "$W", e->webroot);
	inv = xasprintf("state_dir: %s\naccounts:\n  ca:\n    directory: %s\n"
	    "    contact: mailto:ops@example.com\n%scertificates:\n%s", state,
	    fake_ca_directory_url(e->ca), account_extra, c);
	path = xasprintf("%s/inv.yaml", e->dir);
	ck_assert_int_eq(atomic_write_file(path, inv, strlen(inv), 0600, (uid_t)-1,
	    (gid_t)-1, err, sizeof(err)), 0);
	ck_assert_msg(config_load(path, &e->cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(store_open(state, &e->store, err, sizeof(err)) == 0, "%s", err);
	e->env.loop = e->loop;
	e->env.http = http_client_new(e->loop);
	e->env.keygen = workpool_new(e->loop, 1, "keygen");
	e->env.hook_timeout = 10;
	e->env.dns_propagation_timeout = 10;
	e->env.finalize_timeout = 10;
	e->env.order_timeout = 30;
	e->acct = fleet_account_new(&e->env, e->store, config_find_account(e->cfg, "ca"));
	free(inv);
	free(path);
	free(state);
	free(c);
	return e;
}

void
fake_env_free(struct fake_env *e)
{
	if (e == NULL)
		return;
	acme_account_free(e->acct);
	workpool_free(e->env.keygen);
	http_client_free(e->env.http);
	store_close(e->store);
	config_free(e->cfg);
	fake_ca_free(e->ca);
	nftw(e->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(e->webroot);
	free(e);
}

char *
fake_fixture(const char *rel, size_t *len)
{
	char *path = xasprintf("%s/%s", TEST_DATA_DIR, rel), *data = NULL;
	size_t n = 0;

	ck_assert_msg(read_file(path, &data, &n, 1 << 20) == 0, "%s: %s", path,
	    strerror(errno));
	free(path);
	if (len)
		*len = n;
	return data;
}

/* ---- an order as the fleet runs it ---- */

#include "fleet.h"

static void
fake_order_note(struct fake_order *fo, const char *what, int rc)
{
	struct fake_order_event *ev;
	struct cert_state disk;
	privkey_t *key;
	char err[256];

	if (fo->nev >= FAKE_ORDER_EVENTS)
		return;
	ev = &fo->ev[fo->nev++];
	ev->what = what;
	ev->nrequests = fake_ca_nrequests(fo->e->ca);
	ev->rc = rc;
	cert_state_init(&disk);
	ck_assert_msg(store_cert_load(fo->e->store, fo->name, &disk, err, sizeof(err)) == 0,
	    "%s", err);
	ev->disk_url = disk.order_url != NULL;
	ev->disk_finalized = disk.order_finalized;
	cert_state_free(&disk);
	key = store_order_key_load(fo->e->store, fo->name);
	ev->disk_key = key != NULL;
	privkey_free(key);
}

static int
fake_order_begin(void *arg, const privkey_t *key, char *err, size_t errlen)
{
	struct fake_order *fo = arg;
	int rc = store_order_key_save(fo->store, fo->name, key, err, errlen);

	fake_order_note(fo, "begin", rc);
	return rc;
}

static int
fake_order_created(void *arg, const char *order_url, char *err, size_t errlen)
{
	struct fake_order *fo = arg;
	int rc = store_order_created(fo->store, fo->name, fo->st, order_url, err, errlen);

	fake_order_note(fo, "created", rc);
	return rc;
}

static int
fake_order_finalized(void *arg, char *err, size_t errlen)
{
	struct fake_order *fo = arg;
	int rc = store_order_finalized(fo->store, fo->name, fo->st, err, errlen);

	fake_order_note(fo, "finalized", rc);
	return rc;
}

static void
fake_order_forget(void *arg)
{
	struct fake_order *fo = arg;

	store_order_forget(fo->store, fo->name, fo->st);
	fake_order_note(fo, "forget", 0);
}

static void
fake_order_done(struct order_job *j, struct order_result *r, void *arg)
{
	struct fake_order *fo = arg;

	fo->done(j, r, fo->arg);
}

static const struct order_ops fake_order_ops = {
	.begin = fake_order_begin,
	.created = fake_order_created,
	.finalized = fake_order_finalized,
	.forget = fake_order_forget,
	.done = fake_order_done,
};

static void
fake_gate_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fake_order *fo = w->data;
	struct order_gate *g = fo->gate;

	(void)loop;
	(void)revents;
	fo->gate = NULL;
	fake_order_note(fo, fo->gate_ok ? "gate-open" : "gate-refused", 0);
	order_gate_done(g, fo->gate_ok, fo->gate_ok ? NULL : "refused by the test's pool");
}

static void
fake_order_gate(void *arg, enum order_gate_point what, const char *token, const char *keyauth,
    struct order_gate *g)
{
	static const char *const names[] = { "gate-created", "gate-finalize", "gate-challenge" };
	struct fake_order *fo = arg;

	fake_order_note(fo, names[what], 0);
	if (what == ORDER_GATE_CHALLENGE) {
		ck_assert_ptr_nonnull(token);
		free(fo->gate_keyauth);
		fo->gate_keyauth = xstrdup(keyauth);
	}
	ck_assert_ptr_null(fo->gate);
	fo->gate = g;
	fo->gate_ok = fo->refuse_gate != (int)what + 1;
	ev_timer_init(&fo->gate_timer, fake_gate_timer, 0.05, 0.);
	fo->gate_timer.data = fo;
	ev_timer_start(fo->e->loop, &fo->gate_timer);
}

static void
fake_order_gate_cancel(void *arg, struct order_gate *g)
{
	struct fake_order *fo = arg;

	if (fo->gate == g) {
		ev_timer_stop(fo->e->loop, &fo->gate_timer);
		fo->gate = NULL;
	}
	fake_order_note(fo, "gate-cancel", 0);
}

static void
fake_order_challenge_gone(void *arg, const char *token)
{
	(void)token;
	fake_order_note(arg, "challenge-gone", 0);
}

static const struct order_ops fake_order_gated_ops = {
	.begin = fake_order_begin,
	.created = fake_order_created,
	.finalized = fake_order_finalized,
	.forget = fake_order_forget,
	.done = fake_order_done,
	.gate = fake_order_gate,
	.gate_cancel = fake_order_gate_cancel,
	.challenge_gone = fake_order_challenge_gone,
};

struct order_job *
fake_order_start(struct fake_order *fo, struct fake_env *e, size_t cert,
    struct cert_state *st, order_done_cb done, void *arg)
{
	const struct config_cert *c = &e->cfg->certs[cert];
	struct order_params p;

	fo->e = e;
	if (fo->store == NULL)
		fo->store = e->store;
	fo->name = c->name;
	fo->st = st;
	fo->done = done;
	fo->arg = arg;
	fleet_order_params(&p, c);
	p.resume_url = st->order_url;
	p.resume_finalized = st->order_finalized;
	if (st->order_url)
		p.resume_key = store_order_key_load(e->store, c->name);
	return order_start(&e->env, e->acct, &p, fo->gates ? &fake_order_gated_ops :
	    &fake_order_ops, fo);
}
