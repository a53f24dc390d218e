/*
 * http01.h - http-01 challenge solving: a built-in responder on the event
 * loop that serves key authorizations from memory, and webroot mode, which
 * writes the token file under DOCROOT/.well-known/acme-challenge/.
 */
#ifndef CERTFLEET_HTTP01_H
#define CERTFLEET_HTTP01_H

struct ev_loop;
struct http01_server;

/* Listens on "ADDR:PORT" ("0.0.0.0:80", "[::]:80", "127.0.0.1:5002").  The
 * socket is bound at once so errors show at start. NULL with err on failure. */
struct http01_server *http01_server_new(struct ev_loop *loop, const char *listen_addr,
    char *err, size_t errlen);
void http01_server_free(struct http01_server *s);

/* Adds/removes a token -> key authorization mapping.  Several orders may
 * publish at once; a token is served until removed.  0 ok. */
int http01_server_add(struct http01_server *s, const char *token, const char *keyauth);
void http01_server_remove(struct http01_server *s, const char *token);
/* The bound port (useful with port 0 in tests). */
int http01_server_port(const struct http01_server *s);
/* Requests answered so far (tests, stats). */
unsigned long http01_server_hits(const struct http01_server *s);

/* Webroot: writes DOCROOT/.well-known/acme-challenge/TOKEN (0644, creating
 * directories 0755), atomically. 0 ok, -1 with err. */
int http01_webroot_publish(const char *docroot, const char *token, const char *keyauth,
    char *err, size_t errlen);
/* Removes the token file; never fails loudly (logs). */
void http01_webroot_remove(const char *docroot, const char *token);

#endif
