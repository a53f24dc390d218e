/*
 * listener.h - one accepting socket on the event loop and its connections.
 *
 * Every socket certfleetd accepts on (the http-01 responder, the
 * tls-alpn-01 responder, the control socket, later the metrics endpoint)
 * needs the same things: accept without blocking, a cap on connections,
 * a bounded read buffer, a timeout per connection, a reply written without
 * blocking, and every connection closed when the listener goes.  This
 * module does that once; the protocol on top gets callbacks (a connection
 * came, bytes arrived, it was closed and why) and never touches accept(),
 * the connection list or the descriptors' teardown.
 *
 * Two ways to read: buffered (read_max > 0: the listener reads, keeps at
 * most read_max bytes and hands the whole buffer to on_data after each
 * read), or raw (read_max == 0: the protocol reads the descriptor itself,
 * e.g. through OpenSSL, and on_io says when it is ready).
 *
 * A connection closed from inside one of its own callbacks stays valid
 * until that callback returns; on_close runs then.  So a protocol may
 * reply and close from on_data without its state going away under it.
 */
#ifndef CERTFLEET_LISTENER_H
#define CERTFLEET_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct ev_loop;
struct listener;
struct listener_conn;

/* Why a connection was closed (on_close). */
enum listener_close {
	LISTENER_CLOSE_DONE,        /* the reply was sent */
	LISTENER_CLOSE_PEER,        /* the peer hung up (or reading failed) */
	LISTENER_CLOSE_SEND_FAILED, /* writing the reply failed (error says why) */
	LISTENER_CLOSE_TIMEOUT,     /* the connection's timeout ran out */
	LISTENER_CLOSE_LOCAL,       /* the protocol called listener_conn_close() */
	LISTENER_CLOSE_FREE,        /* the listener is being freed */
	LISTENER_CLOSE__MAX
};
/* "done", "peer", ... for logs and tests; "?" out of range.  Static. */
const char *listener_close_name(enum listener_close why);

struct listener_ops {
	const char *name;           /* log prefix: "http-01 responder", "control" */
	unsigned max_conns;         /* beyond it new connections are refused */
	size_t read_max;            /* bytes buffered per connection; 0: raw mode */
	double timeout;             /* seconds from the accept; 0: none */
	bool timeout_on_read;       /* each read restarts the timeout (idle timeout) */
	double write_timeout;       /* a blocked reply restarts the timer with it; 0: keep */
	bool read_while_writing;    /* keep watching for a hang-up while replying */

	/* Optional: a connection beyond max_conns, before it is closed (to log
	 * or to answer "busy" without blocking). */
	void (*on_full)(int fd, void *arg);
	/* A new connection (sa: the peer).  0 keeps it (set its data with
	 * listener_conn_set_data), -1 has it closed at once, with no on_close. */
	int (*on_accept)(struct listener_conn *c, const struct sockaddr *sa, socklen_t salen,
	    void *arg);
	/* Buffered mode: data (NUL-terminated, len bytes, len <= read_max) is
	 * everything read so far.  With len == read_max and no reply the input
	 * is dropped from then on, so the protocol should answer a full buffer. */
	void (*on_data)(struct listener_conn *c, const char *data, size_t len, void *cdata);
	/* Raw mode: the descriptor is ready for what listener_conn_want asked. */
	void (*on_io)(struct listener_conn *c, void *cdata);
	/* Once per accepted connection, before its descriptor is closed; error is
	 * the errno of a failed read or send, else 0.  Frees the protocol's state. */
	void (*on_close)(struct listener_conn *c, enum listener_close why, int error,
	    void *cdata);
};

/*
 * A listener on "ADDR:PORT" (netaddr_listen: bound at once, so errors show
 * at start).  ops must outlive it; arg goes to on_accept and on_full.
 * NULL with a one-line err on failure.  Free with listener_free().
 */
struct listener *listener_new_tcp(struct ev_loop *loop, const char *spec,
    const struct listener_ops *ops, void *arg, char *err, size_t errlen);
/* A listener on fd, a bound, listening, non-blocking socket it takes over
 * (closes on free).  where (may be NULL) names it in log lines ("accept on
 * WHERE: ..."), copied.  Never NULL. */
struct listener *listener_new_fd(struct ev_loop *loop, int fd, const char *where,
    const struct listener_ops *ops, void *arg);
/* Accepts on fd from now on (closing the old one); the connections already
 * accepted carry on. */
void listener_replace_fd(struct listener *l, int fd, const char *where);
/* Closes every connection (on_close with LISTENER_CLOSE_FREE) and the
 * listening socket.  NULL is fine.  Not from inside a connection callback. */
void listener_free(struct listener *l);
/* The bound port of a TCP listener (useful with port 0), else 0. */
int listener_port(const struct listener *l);
/* Connections open now. */
unsigned listener_nconns(const struct listener *l);

/* The protocol's state for c (on_accept sets it). */
void listener_conn_set_data(struct listener_conn *c, void *data);
/* The connection's descriptor (raw mode reads and writes it). */
int listener_conn_fd(const struct listener_conn *c);
/* Raw mode: which readiness to wait for, EV_READ or EV_WRITE. */
void listener_conn_want(struct listener_conn *c, int events);
/* (Re)starts the timeout with seconds from now; 0 stops it. */
void listener_conn_set_timeout(struct listener_conn *c, double seconds);
/* Buffered mode: the request is complete; the buffer is freed and further
 * bytes are read and dropped (a hang-up is still seen). */
void listener_conn_discard_input(struct listener_conn *c);
/*
 * Sends out (len bytes; taken over, freed by the listener) without
 * blocking, then closes the connection (LISTENER_CLOSE_DONE).  Input is
 * dropped from now on.  Outside a callback of c, on_close may run before
 * this returns.
 */
void listener_conn_send(struct listener_conn *c, char *out, size_t len);
/* Closes c (LISTENER_CLOSE_LOCAL); deferred while one of its callbacks runs. */
void listener_conn_close(struct listener_conn *c);

#endif
