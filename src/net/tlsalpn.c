/*
 * tlsalpn.c - tls-alpn-01 responder on the event loop.
 *
 * A TLS server of its own, so it uses OpenSSL's SSL API directly; the
 * validation certificates themselves come from the crypto module
 * (crypto_tlsalpn_cert).  The certificate is chosen in the ClientHello
 * callback, where both the SNI name and the offered ALPN protocols are
 * known: a hello without "acme-tls/1", without SNI or for a name with no
 * published challenge is refused with a fatal alert, so the responder
 * never serves anything but ACME validations.
 *
 * Like the http-01 responder (http01.c), on the listener module: non-blocking
 * sockets, the connection's readiness driving SSL_accept through
 * WANT_READ/WANT_WRITE, a handshake timeout and a cap on connections, so no
 * client can stall the loop or exhaust memory.  After a completed handshake the connection is
 * closed at once, as RFC 8737 section 3 prescribes.
 */
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <ev.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "crypto.h"
#include "listener.h"
#include "log.h"
#include "netaddr.h"
#include "tlsalpn.h"
#include "util.h"

#define CONN_MAX 64
#define HANDSHAKE_TIMEOUT 10.0
#define ACME_TLS_1 "acme-tls/1"

struct entry {
	char *name;
	char *keyauth;
	X509 *cert;
	EVP_PKEY *key;
	struct entry *next;
};

struct conn {
	struct tlsalpn_server *s;
	struct listener_conn *lc;
	SSL *ssl;
	char peer[64];
	const char *refusal;        /* why the hello callback refused, for logs */
};

struct tlsalpn_server {
	struct listener *l;
	SSL_CTX *ctx;
	struct entry *entries;
	unsigned long hits;
};

/* ---- the handshake ---- */

/* True when the ALPN extension's protocol list offers acme-tls/1. */
static bool
offers_acme_tls(const unsigned char *p, size_t len)
{
	size_t list;

	if (len < 2)
		return false;
	list = (size_t)p[0] << 8 | p[1];
	if (list != len - 2)
		return false;
	for (p += 2, len -= 2; len > 0;) {
		size_t l = p[0];
		if (l + 1 > len)
			return false;
		if (l == strlen(ACME_TLS_1) && memcmp(p + 1, ACME_TLS_1, l) == 0)
			return true;
		p += l + 1;
		len -= l + 1;
	}
	return false;
}

/* The host_name of a server_name extension into buf, or false. */
static bool
sni_name(const unsigned char *p, size_t len, char *buf, size_t buflen)
{
	size_t nlen;

	if (len < 5 || ((size_t)p[0] << 8 | p[1]) != len - 2 || p[2] != 0 /* host_name */)
		return false;
	nlen = (size_t)p[3] << 8 | p[4];
	if (nlen == 0 || nlen + 5 > len || nlen >= buflen || memchr(p + 5, '\0', nlen))
		return false;
	memcpy(buf, p + 5, nlen);
	buf[nlen] = '\0';
	return true;
}

static struct entry *
lookup(struct tlsalpn_server *s, const char *name)
{
	for (struct entry *e = s->entries; e; e = e->next)
		if (strcasecmp(e->name, name) == 0)
			return e;
	return NULL;
}

static int
client_hello_cb(SSL *ssl, int *alert, void *arg)
{
	struct tlsalpn_server *s = arg;
	struct conn *c = SSL_get_app_data(ssl);
	const unsigned char *p;
	size_t len;
	char name[256];
	struct entry *e;

	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation,
	    &p, &len) || !offers_acme_tls(p, len)) {
		c->refusal = "no acme-tls/1 among the offered ALPN protocols";
		*alert = SSL_AD_NO_APPLICATION_PROTOCOL;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) ||
	    !sni_name(p, len, name, sizeof(name))) {
		c->refusal = "no server name (SNI)";
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if ((e = lookup(s, name)) == NULL) {
		log_info("tls-alpn-01 responder: validation for %s from %s, which has no "
		    "challenge published", name, c->peer);
		c->refusal = "no challenge published for that name";
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (SSL_use_certificate(ssl, e->cert) != 1 || SSL_use_PrivateKey(ssl, e->key) != 1) {
		c->refusal = "cannot use the validation certificate";
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

static int
alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x0a" ACME_TLS_1;
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* ---- connections ---- */

static void
conn_step(struct conn *c)
{
	int r, e;

	ERR_clear_error();
	r = SSL_accept(c->ssl);
	if (r == 1) {
		c->s->hits++;
		log_debug("tls-alpn-01 responder: validation handshake from %s done", c->peer);
		/* Best effort close_notify; the validator closes anyway. */
		SSL_shutdown(c->ssl);
		listener_conn_close(c->lc);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		listener_conn_want(c->lc, e == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE);
		return;
	}
	log_debug("tls-alpn-01 responder: refused %s: %s", c->peer,
	    c->refusal ? c->refusal : "TLS handshake failed");
	ERR_clear_error();
	listener_conn_close(c->lc);
}

static void
conn_io_cb(struct listener_conn *lc, void *cdata)
{
	(void)lc;
	conn_step(cdata);
}

static void
conn_close_cb(struct listener_conn *lc, enum listener_close why, int error, void *cdata)
{
	struct conn *c = cdata;

	(void)lc;
	(void)error;
	if (why == LISTENER_CLOSE_TIMEOUT)
		log_debug("tls-alpn-01 responder: handshake from %s timed out", c->peer);
	SSL_free(c->ssl);
	free(c);
}

static int
conn_accept_cb(struct listener_conn *lc, const struct sockaddr *sa, socklen_t salen,
    void *arg)
{
	struct tlsalpn_server *s = arg;
	struct conn *c = xcalloc(1, sizeof(*c));

	(void)salen;
	c->s = s;
	c->lc = lc;
	netaddr_format(sa, c->peer, sizeof(c->peer));
	if ((c->ssl = SSL_new(s->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, listener_conn_fd(lc)) != 1) {
		log_warn("tls-alpn-01 responder: cannot set up TLS for %s", c->peer);
		SSL_free(c->ssl);
		free(c);
		ERR_clear_error();
		return -1;
	}
	SSL_set_app_data(c->ssl, c);
	listener_conn_set_data(lc, c);
	return 0;
}

/* The listener drives the descriptor's readiness; OpenSSL reads and
 * writes it.  One handshake per connection, within HANDSHAKE_TIMEOUT. */
static const struct listener_ops responder_ops = {
	.name = "tls-alpn-01 responder",
	.max_conns = CONN_MAX,
	.read_max = 0,
	.timeout = HANDSHAKE_TIMEOUT,
	.on_accept = conn_accept_cb,
	.on_io = conn_io_cb,
	.on_close = conn_close_cb,
};

/* ---- server ---- */

struct tlsalpn_server *
tlsalpn_server_new(struct ev_loop *loop, const char *listen_addr, char *err, size_t errlen)
{
	struct tlsalpn_server *s = NULL;
	SSL_CTX *ctx = NULL;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		snprintf(err, errlen, "cannot create the TLS context");
		goto fail;
	}
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	s = xcalloc(1, sizeof(*s));
	s->ctx = ctx;
	if ((s->l = listener_new_tcp(loop, listen_addr, &responder_ops, s, err, errlen)) == NULL) {
		free(s);
		goto fail;
	}
	SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, s);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, s);
	return s;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

static void
entry_free(struct entry *e)
{
	free(e->name);
	free_secret_str(e->keyauth);
	X509_free(e->cert);
	EVP_PKEY_free(e->key);
	free(e);
}

void
tlsalpn_server_free(struct tlsalpn_server *s)
{
	if (s == NULL)
		return;
	listener_free(s->l);
	while (s->entries) {
		struct entry *e = s->entries;
		s->entries = e->next;
		entry_free(e);
	}
	SSL_CTX_free(s->ctx);
	free(s);
}

int
tlsalpn_server_add(struct tlsalpn_server *s, const char *name, const char *keyauth,
    char *err, size_t errlen)
{
	char *cert_pem = NULL, *key_pem = NULL;
	struct entry *e = NULL;
	BIO *b = NULL;
	int rc = -1;

	if (crypto_tlsalpn_cert(name, keyauth, &cert_pem, &key_pem) < 0) {
		snprintf(err, errlen, "cannot make the validation certificate for %s", name);
		goto out;
	}
	e = xcalloc(1, sizeof(*e));
	if ((b = BIO_new_mem_buf(cert_pem, -1)) == NULL ||
	    (e->cert = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "cannot load the validation certificate for %s", name);
		goto out;
	}
	BIO_free(b);
	if ((b = BIO_new_mem_buf(key_pem, -1)) == NULL ||
	    (e->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "cannot load the validation key for %s", name);
		goto out;
	}
	e->name = xstrdup(name);
	e->keyauth = xstrdup(keyauth);
	e->next = s->entries;
	s->entries = e;
	e = NULL;
	rc = 0;
out:
	ERR_clear_error();
	BIO_free(b);
	if (e != NULL)
		entry_free(e);
	free(cert_pem);
	free_secret_str(key_pem);
	return rc;
}

void
tlsalpn_server_remove(struct tlsalpn_server *s, const char *name, const char *keyauth)
{
	for (struct entry **pp = &s->entries; *pp; pp = &(*pp)->next) {
		struct entry *e = *pp;
		if (strcasecmp(e->name, name) == 0 && strcmp(e->keyauth, keyauth) == 0) {
			*pp = e->next;
			entry_free(e);
			return;
		}
	}
}

int
tlsalpn_server_port(const struct tlsalpn_server *s)
{
	return listener_port(s->l);
}

unsigned long
tlsalpn_server_hits(const struct tlsalpn_server *s)
{
	return s->hits;
}
