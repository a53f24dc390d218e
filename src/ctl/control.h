/*
 * control.h - the daemon's control socket (certfleetctl talks to it).
 *
 * A Unix stream socket; each connection sends one request line and reads
 * one reply line, both JSON objects (protocol version 1, documented in
 * certfleetctl(1)):
 *
 *   request: {"v":1,"cmd":"renew","args":{...}}
 *   reply:   {"v":1,"ok":true,"result":...}
 *            {"v":1,"ok":false,"error":"one line","code":"not-found",...}
 *
 * Commands are looked up in a table of handlers; a handler answers at once
 * or later (an ACME request in flight) through exactly one ctl_reply_*
 * call.  If the client hangs up first the reply is dropped quietly: the
 * connection object lives until its reply, whatever the client does.
 *
 * control.c is the server, ctl_proto.c the framing shared with the client
 * (certfleetctl), control_cmds.c the daemon's command table.
 */
#ifndef CERTFLEET_CONTROL_H
#define CERTFLEET_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>


struct ctl_server;
struct ctl_conn;
struct ev_loop;
struct fleet;
struct json;
struct buf;

#define CTL_PROTOCOL_VERSION 1
#define CTL_MAX_REQUEST (64 * 1024)     /* bytes of one request line */
#define CTL_REQUEST_TIMEOUT 10.0        /* seconds to send the request */
#define CTL_WRITE_TIMEOUT 30.0          /* seconds to take the reply */
#define CTL_MAX_CONNS 64                /* connections at once */

/* Error codes in replies; certfleetctl maps them to exit statuses. */
#define CTL_E_USAGE     "usage"      /* bad arguments, unknown command */
#define CTL_E_NOTFOUND  "not-found"  /* unknown certificate or account */
#define CTL_E_BUSY      "busy"       /* an operation is already running */
#define CTL_E_FAILED    "failed"     /* the CA or the store said no */
#define CTL_E_DENIED    "denied"     /* peer not allowed */
#define CTL_E_VERSION   "version"    /* protocol version not spoken */
#define CTL_E_PROTOCOL  "protocol"   /* not a request (bad JSON, too long) */

/* A handler.  args is the request's "args" object (never NULL: an empty
 * object when absent; valid only during the call); ctx is what was given
 * to ctl_server_new. */
typedef void (*ctl_handler_fn)(struct ctl_conn *c, const struct json *args, void *ctx);

struct ctl_command {
	const char *name;           /* "status", "renew", "revoke", "account-rollover", ... */
	ctl_handler_fn fn;
	bool mutating;              /* needs full access (see ctl_peer_access) */
};

/*
 * Who may do what.  Root and the daemon's own user may do everything;
 * members of admin_group (when not (gid_t)-1) too; members of read_group
 * (the socket's group) may run the commands that change nothing.  gids is
 * the peer's primary and supplementary groups (SO_PEERCRED, SO_PEERGROUPS).
 */
enum ctl_access { CTL_ACCESS_NONE, CTL_ACCESS_READ, CTL_ACCESS_ALL };
enum ctl_access ctl_peer_access(uid_t uid, const gid_t *gids, size_t ngids,
    uid_t daemon_uid, gid_t read_group, gid_t admin_group);

struct ctl_server_opts {
	const char *path;
	mode_t mode;                /* of the socket file, e.g. 0660 */
	uid_t owner;                /* (uid_t)-1: the daemon's user */
	gid_t group;                /* (gid_t)-1: the daemon's group */
	gid_t admin_group;          /* (gid_t)-1: none */
	double request_timeout;     /* 0: CTL_REQUEST_TIMEOUT (tests shorten it) */
};

/*
 * Creates the socket: the parent directory (0755) if missing, a stale
 * socket file removed (only a socket, and only when nobody answers on it),
 * bound with mode 0600 and then given its owner, group and mode.  cmds is
 * terminated by an entry with a NULL name and must outlive the server.
 * NULL with a one-line err on failure.
 */
struct ctl_server *ctl_server_new(struct ev_loop *loop, const struct ctl_server_opts *o,
    const struct ctl_command *cmds, void *ctx, char *err, size_t errlen);
/* After a reload: a new path re-creates the socket (the old one is removed
 * once the new one works), otherwise owner, group, mode and admin group are
 * applied in place.  0 ok, -1 with err (the old settings stay). */
int ctl_server_reconfigure(struct ctl_server *s, const struct ctl_server_opts *o, char *err,
    size_t errlen);
/* Closes every connection and frees those whose reply is still owed, so
 * call it only once nothing can reply any more (after fleet_free(), which
 * drops operations without calling back); removes the socket file. */
void ctl_server_free(struct ctl_server *s);

/* Replies; result/extra are taken over (freed) in every case.  extra's
 * members are added to the reply object (e.g. "problem"). */
void ctl_reply_ok(struct ctl_conn *c, struct json *result);
void ctl_reply_error(struct ctl_conn *c, const char *code, struct json *extra,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A success reply whose result is already text: ctl_reply_ok_begin()
 * starts b with the reply's opening (what ctl_reply_format_ok prints before
 * the result), the caller appends the result's compact JSON, and
 * ctl_reply_ok_text() ends the line and sends it, taking b's data over. */
void ctl_reply_ok_begin(struct buf *b);
void ctl_reply_ok_text(struct ctl_conn *c, struct buf *b);
/* The bytes before the result in every success reply line. */
#define CTL_REPLY_OK_PREFIX "{\"v\":1,\"ok\":true,\"result\":"
/* Peer of the connection, for log lines: "uid 0 pid 123". */
const char *ctl_conn_peer(const struct ctl_conn *c);

/* ---- framing (ctl_proto.c), shared by the daemon and certfleetctl ---- */

/*
 * Parses one request (the line without its newline).  0 ok: *req is the
 * whole object (caller deletes it), *cmd and *args point into it (*args
 * NULL when absent).  -1: *code is CTL_E_PROTOCOL, CTL_E_VERSION or
 * CTL_E_USAGE and err says why in one line.
 */
int ctl_request_parse(const char *line, size_t len, struct json **req, const char **cmd,
    const struct json **args, const char **code, char *err, size_t errlen);
/* A request line with its newline; args is taken over (may be NULL).
 * Caller frees. */
char *ctl_request_format(const char *cmd, struct json *args);
/* Reply lines with their newline; result/extra taken over.  Caller frees. */
char *ctl_reply_format_ok(struct json *result);
char *ctl_reply_format_error(const char *code, struct json *extra, const char *msg);
/*
 * Parses a reply line.  0: *reply is the object (caller deletes), *ok its
 * verdict, *result / *code / *error point into it (NULL when absent).  -1
 * when it is not a version-1 reply (err says why).
 */
int ctl_reply_parse(const char *line, size_t len, struct json **reply, bool *ok,
    const struct json **result, const char **code, const char **error, char *err,
    size_t errlen);

/* ---- the daemon's commands (control_cmds.c) ---- */

/* What the commands work on; the daemon owns it. */
struct ctl_env {
	struct fleet *fleet;
	/* The SIGHUP path, asynchronous (the inventory is parsed off the
	 * loop): done(done_arg, 0, NULL) once reloaded, done(done_arg, -1,
	 * reason) when the running configuration stays; called exactly once,
	 * possibly before reload returns. */
	void (*reload)(void *arg, void (*done)(void *done_arg, int rc, const char *err),
	    void *done_arg);
	void *reload_arg;
	const char *config_path;
	time_t started;
};
extern const struct ctl_command ctl_daemon_commands[];

#endif
