/*
 * etcd_internal.h - what etcd.c (the client, its requests, endpoints and
 * token), etcd_json.c (the gateway's JSON both ways) and etcd_watch.c (the
 * watch stream) share.  Not for callers of etcd.h; the unit tests use the
 * JSON builders and the watch message reader.
 */
#ifndef CERTFLEET_ETCD_INTERNAL_H
#define CERTFLEET_ETCD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "etcd.h"

struct http_client;
struct http_request_opts;

struct etcd_client {
	struct ev_loop *loop;
	struct http_client *http;
	char **endpoints;           /* without a trailing '/' */
	size_t nendpoints;
	size_t cur;                 /* the endpoint that last answered */
	char *ca_bundle, *cert, *key;
	char *username, *password;  /* password: a secret */
	long timeout_ms;
	char *token;                /* NULL: none yet (or dropped as invalid) */
	char *auth_header;          /* "Authorization: TOKEN" */
	struct etcd_op *auth;       /* the authentication in flight */
	unsigned long nrequests;
	struct etcd_op *ops;        /* every request in flight, auth included */
	struct etcd_watch *watches;
};

/* ---- etcd.c, for the watch ---- */

/* The common options of a POST to url: TLS, the token, the leader
 * requirement; headers (3 slots) receives the extra header lines. */
void etcd_request_opts(struct etcd_client *c, const char *url, const char *headers[3],
    struct http_request_opts *o);
/* Starts an authentication unless one is in flight; the watches whose
 * waiting_auth is set hear of its outcome through etcd_watch_auth_done(). */
void etcd_auth_needed(struct etcd_client *c);
/* The answer (gRPC code, message) says the token is not (or no longer)
 * valid: authenticate again and resend. */
bool etcd_auth_error(int code, const char *message);
/* Forgets the client's token when it is still the one a failed request
 * carried (tok), so that many requests failing at once authenticate once. */
void etcd_drop_token(struct etcd_client *c, const char *tok);

/* ---- etcd_watch.c, for the client ---- */

bool etcd_watch_waiting_auth(const struct etcd_watch *w);
struct etcd_watch *etcd_watch_next(const struct etcd_watch *w);
/* The authentication a waiting watch needed ended (error NULL: a token). */
void etcd_watch_auth_done(struct etcd_watch *w, const char *error, bool unavailable);
/* Frees every watch of the client, without callbacks (etcd_client_free). */
void etcd_watch_free_all(struct etcd_client *c);

/* ---- etcd_json.c ---- */

/* Request bodies; caller frees (etcd_json_auth's with free_secret_str). */
char *etcd_json_range(const char *key, bool prefix);
char *etcd_json_put(const char *key, const void *value, size_t len, long long lease);
char *etcd_json_delete(const char *key, bool prefix);
char *etcd_json_txn(const struct etcd_txn *t);
char *etcd_json_lease_grant(long long ttl);
/* {"ID":"id"}: keepalive and revoke. */
char *etcd_json_lease_id(long long id);
char *etcd_json_auth(const char *name, const char *password);
/* A create_request for every key under prefix, from start_revision (0: now),
 * with progress notifications. */
char *etcd_json_watch_create(const char *prefix, long long start_revision);

/* The range end that selects every key starting with key: key with its
 * last byte incremented once trailing 0xff bytes are dropped, or a single
 * NUL byte (every key from key on) when nothing is left.  Caller frees;
 * *len gets its length. */
char *etcd_prefix_end(const char *key, size_t *len);

/* The token of an authenticate answer; NULL when absent.  Caller frees
 * (free_secret_str). */
char *etcd_json_token(const char *body, size_t len);

/* One message of a watch stream: {"result":{...}} or {"error":{...}}. */
struct etcd_watch_msg {
	long long revision;         /* header.revision */
	bool created, canceled;
	long long compact_revision;
	char *cancel_reason;
	char *error;                /* a stream error: etcd's message */
	int code;                   /* its gRPC code */
	bool unavailable;
	struct etcd_event *events;
	struct etcd_kv *kvs;        /* what events[i].kv points to */
	size_t nevents;
};
/* 0, or -1 when msg is not a watch message (out->error says why). */
int etcd_parse_watch_message(const char *msg, size_t len, struct etcd_watch_msg *out);
void etcd_watch_msg_clear(struct etcd_watch_msg *m);

#endif
