/*
 * tlsalpn.h - the built-in tls-alpn-01 responder (RFC 8737).
 *
 * It answers only ACME validation handshakes: the client must offer the
 * ALPN protocol "acme-tls/1" and name, by SNI, an identifier whose
 * challenge is published; it then gets a self-signed certificate with the
 * critical acmeIdentifier extension and the connection is closed.  Any
 * other handshake fails.
 */
#ifndef CERTFLEET_TLSALPN_H
#define CERTFLEET_TLSALPN_H

#include <stddef.h>

struct ev_loop;
struct tlsalpn_server;

/* Listens on "ADDR:PORT" at once, so errors show at start.  NULL with err. */
struct tlsalpn_server *tlsalpn_server_new(struct ev_loop *loop, const char *listen_addr,
    char *err, size_t errlen);
void tlsalpn_server_free(struct tlsalpn_server *s);

/*
 * Serves the validation certificate for name (an identifier) made from
 * keyauth.  Several publications of one name may coexist (two orders for
 * the same names); the newest is served.  0 ok, -1 with err.
 */
int tlsalpn_server_add(struct tlsalpn_server *s, const char *name, const char *keyauth,
    char *err, size_t errlen);
/* Withdraws what tlsalpn_server_add(name, keyauth) published. */
void tlsalpn_server_remove(struct tlsalpn_server *s, const char *name, const char *keyauth);

/* The bound port (useful with port 0 in tests). */
int tlsalpn_server_port(const struct tlsalpn_server *s);
/* Validation handshakes completed so far (tests, stats). */
unsigned long tlsalpn_server_hits(const struct tlsalpn_server *s);

#endif
