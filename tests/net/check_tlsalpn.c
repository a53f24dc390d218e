/*
 * check_tlsalpn.c - unit tests for the tls-alpn-01 responder: a client
 * thread makes real TLS handshakes against it while the test runs the
 * loop.  A validation (ALPN acme-tls/1, SNI of a published name) gets the
 * self-signed certificate for that name with the critical acmeIdentifier
 * extension holding SHA-256 of the key authorization; anything else (other
 * ALPN, no ALPN, unknown or withdrawn name, no SNI) fails the handshake.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "testutil.h"
#include "tlsalpn.h"
#include "util.h"

#define NAME "www.example.org"
#define KEYAUTH "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define KEYAUTH2 "second-token.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

struct attempt {
	/* in */
	int port;
	const char *sni;            /* NULL: none */
	const unsigned char *alpn;  /* wire format; NULL: none */
	unsigned alpnlen;
	/* out */
	bool handshake_ok;
	char selected[32];
	X509 *peer;
	ev_async *done;
};

static struct ev_loop *loop;
static ev_async done_async;

static void *
client_main(void *arg)
{
	struct attempt *a = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_port = htons((uint16_t)a->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (a->sni)
		SSL_set_tlsext_host_name(ssl, a->sni);
	if (a->alpn)
		SSL_set_alpn_protos(ssl, a->alpn, a->alpnlen);
	/* The validator does not verify the chain: the certificate is self-signed. */
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	if (SSL_connect(ssl) == 1) {
		const unsigned char *p;
		unsigned int l;

		a->handshake_ok = true;
		SSL_get0_alpn_selected(ssl, &p, &l);
		if (l < sizeof(a->selected)) {
			memcpy(a->selected, p, l);
			a->selected[l] = '\0';
		}
		a->peer = SSL_get1_peer_certificate(ssl);
	}
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	ev_async_send(loop, a->done);
	return NULL;
}

static void
done_cb(struct ev_loop *l, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(l, EVBREAK_ALL);
}

static void
attempt(struct attempt *a)
{
	pthread_t th;

	a->done = &done_async;
	ck_assert_int_eq(pthread_create(&th, NULL, client_main, a), 0);
	ev_run(loop, 0);
	pthread_join(th, NULL);
}

static const unsigned char acme_alpn[] = "\x0a" "acme-tls/1";
static const unsigned char h2_and_acme[] = "\x02h2\x0a" "acme-tls/1";
static const unsigned char http11[] = "\x08http/1.1";

static struct tlsalpn_server *srv;

static void
setup(void)
{
	char err[256];

	log_init("check_tlsalpn", LOG_CRIT, LOG_STYLE_PLAIN);
	loop = ev_default_loop(0);
	ev_async_init(&done_async, done_cb);
	ev_async_start(loop, &done_async);
	srv = tlsalpn_server_new(loop, "127.0.0.1:0", err, sizeof(err));
	ck_assert_msg(srv != NULL, "%s", err);
	ck_assert_int_gt(tlsalpn_server_port(srv), 0);
}

static void
teardown(void)
{
	tlsalpn_server_free(srv);
	ev_async_stop(loop, &done_async);
}

/* The acmeIdentifier extension of x: critical, OCTET STRING of sha256(ka). */
static void
check_identifier(X509 *x, const char *keyauth)
{
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	unsigned char want[34];
	const ASN1_OCTET_STRING *val;
	X509_EXTENSION *ext;
	int idx;

	idx = X509_get_ext_by_OBJ(x, oid, -1);
	ASN1_OBJECT_free(oid);
	ck_assert_int_ge(idx, 0);
	ext = X509_get_ext(x, idx);
	ck_assert_int_eq(X509_EXTENSION_get_critical(ext), 1);
	want[0] = 0x04;
	want[1] = 32;
	EVP_Digest(keyauth, strlen(keyauth), want + 2, NULL, EVP_sha256(), NULL);
	val = X509_EXTENSION_get_data(ext);
	ck_assert_int_eq(ASN1_STRING_length(val), (int)sizeof(want));
	ck_assert_int_eq(memcmp(ASN1_STRING_get0_data(val), want, sizeof(want)), 0);
}

START_TEST(test_validation)
{
	struct attempt a = { .sni = NAME, .alpn = h2_and_acme, .alpnlen = sizeof(h2_and_acme) - 1 };
	char err[256];

	ck_assert_int_eq(tlsalpn_server_add(srv, NAME, KEYAUTH, err, sizeof(err)), 0);
	a.port = tlsalpn_server_port(srv);
	attempt(&a);
	ck_assert(a.handshake_ok);
	ck_assert_str_eq(a.selected, "acme-tls/1");
	ck_assert_ptr_nonnull(a.peer);
	ck_assert_int_eq(X509_check_host(a.peer, NAME, 0, 0, NULL), 1);
	check_identifier(a.peer, KEYAUTH);
	ck_assert_uint_eq(tlsalpn_server_hits(srv), 1);
	X509_free(a.peer);

	/* SNI is case-insensitive, as DNS names are. */
	memset(&a, 0, sizeof(a));
	a.sni = "WWW.Example.ORG";
	a.alpn = acme_alpn;
	a.alpnlen = sizeof(acme_alpn) - 1;
	a.port = tlsalpn_server_port(srv);
	attempt(&a);
	ck_assert(a.handshake_ok);
	X509_free(a.peer);
	ck_assert_uint_eq(tlsalpn_server_hits(srv), 2);
}
END_TEST

START_TEST(test_refusals)
{
	struct {
		const char *sni;
		const unsigned char *alpn;
		unsigned alpnlen;
	} bad[] = {
		{ NAME, http11, sizeof(http11) - 1 },           /* not ACME */
		{ NAME, NULL, 0 },                              /* no ALPN at all */
		{ "other.example.org", acme_alpn, sizeof(acme_alpn) - 1 }, /* not published */
		{ NULL, acme_alpn, sizeof(acme_alpn) - 1 },     /* no SNI */
	};
	char err[256];

	ck_assert_int_eq(tlsalpn_server_add(srv, NAME, KEYAUTH, err, sizeof(err)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct attempt a = { .sni = bad[i].sni, .alpn = bad[i].alpn,
		    .alpnlen = bad[i].alpnlen, .port = tlsalpn_server_port(srv) };

		attempt(&a);
		ck_assert_msg(!a.handshake_ok, "attempt %zu succeeded", i);
		ck_assert_ptr_null(a.peer);
	}
	ck_assert_uint_eq(tlsalpn_server_hits(srv), 0);
}
END_TEST

START_TEST(test_add_remove)
{
	struct attempt a = { .sni = NAME, .alpn = acme_alpn, .alpnlen = sizeof(acme_alpn) - 1 };
	char err[256];

	a.port = tlsalpn_server_port(srv);
	/* Two orders publish the same name: the newest is served, and
	 * withdrawing it brings back the other. */
	ck_assert_int_eq(tlsalpn_server_add(srv, NAME, KEYAUTH, err, sizeof(err)), 0);
	ck_assert_int_eq(tlsalpn_server_add(srv, NAME, KEYAUTH2, err, sizeof(err)), 0);
	attempt(&a);
	ck_assert(a.handshake_ok);
	check_identifier(a.peer, KEYAUTH2);
	X509_free(a.peer);

	tlsalpn_server_remove(srv, NAME, KEYAUTH2);
	memset(&a.handshake_ok, 0, sizeof(a) - offsetof(struct attempt, handshake_ok));
	attempt(&a);
	ck_assert(a.handshake_ok);
	check_identifier(a.peer, KEYAUTH);
	X509_free(a.peer);

	tlsalpn_server_remove(srv, NAME, KEYAUTH);
	memset(&a.handshake_ok, 0, sizeof(a) - offsetof(struct attempt, handshake_ok));
	attempt(&a);
	ck_assert(!a.handshake_ok);

	ck_assert_int_eq(tlsalpn_server_add(srv, "bad name", KEYAUTH, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "bad name"));
}
END_TEST

START_TEST(test_listen_errors)
{
	char err[256], addr[64];
	struct tlsalpn_server *s2;

	ck_assert_ptr_null(tlsalpn_server_new(loop, "nonsense", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "invalid listen address 'nonsense'"));
	/* The port is taken by srv. */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", tlsalpn_server_port(srv));
	s2 = tlsalpn_server_new(loop, addr, err, sizeof(err));
	ck_assert_ptr_null(s2);
	ck_assert_ptr_nonnull(strstr(err, "cannot listen on 127.0.0.1:"));
}
END_TEST

static Suite *
tlsalpn_suite(void)
{
	Suite *s = suite_create("tlsalpn");
	TCase *tc = tcase_create("responder");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_validation);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_add_remove);
	tcase_add_test(tc, test_listen_errors);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(tlsalpn_suite)
