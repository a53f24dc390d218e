/*
 * store.h - the on-disk state directory.
 *
 * Layout under state_dir:
 *   lock                       flock()ed by the one daemon using it
 *   accounts/NAME/key.pem      account private key (0600)
 *   accounts/NAME/key-next.pem key of a rollover in progress (0600)
 *   accounts/NAME/account.json {"url":..., "directory":..., "key_type":...}
 *   accounts/NAME/budget.json  {"new_orders": [unix times], "paused_until":...}
 *   certs/NAME/state.json      struct cert_state
 *   certs/NAME/order-key.pem   key of the order in flight (0600)
 *   certs/NAME/rejected-*.pem  issued certificates that failed the check
 *   certs/NAME/held.pem        issued, not installed: the chain as downloaded
 *   certs/NAME/held-key.pem    its key (0600)
 *   certs/NAME/unusable-*.pem  held certificates (and -key.pem keys) that
 *                              expired or no longer match the inventory
 *
 * Every write goes through atomic_write_file() (fsutil.h): a crash leaves
 * either the old or the new file, never a partial one.
 */
#ifndef CERTFLEET_STORE_H
#define CERTFLEET_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "crypto.h"
#include "util.h"

struct store;

/* Creates the directory tree (0700) if needed and takes the lock.  A second
 * process on the same state_dir gets -1 and "state directory X is in use by
 * process N".  Caller frees with store_close(). */
int store_open(const char *state_dir, struct store **out, char *err, size_t errlen);
/* Opens without the lock, read-only use (certfleetctl status offline,
 * certfleetd --dry-run): every save through it fails. */
int store_open_readonly(const char *state_dir, struct store **out, char *err, size_t errlen);
void store_close(struct store *s);
const char *store_dir(const struct store *s);

/*
 * The directories that hold the store's files (its top, then each
 * accounts/ and certs/ entry), one per store_walk_next() (valid until the
 * next call; NULL at the end), for a caller that sweeps them with
 * sweep_atomic_temps() (fsutil.h) a few at a time: the walk holds one open
 * directory, no list.  NULL, a walk that yields nothing, for a read-only
 * store: without the lock another daemon may be writing them.
 */
struct store_walk;
struct store_walk *store_walk_new(const struct store *s);
const char *store_walk_next(struct store_walk *w);
void store_walk_free(struct store_walk *w);

/* Account persistence. */
struct account_record {
	char *url;          /* account URL (kid); NULL if never registered */
	char *directory;    /* directory URL it was registered with */
	privkey_t *key;     /* NULL if none stored yet */
	time_t deactivated; /* when the CA confirmed deactivation; 0: active */
};
void account_record_free(struct account_record *r);
/* 0 ok (fields NULL when nothing stored), -1 on unreadable/corrupt data. */
int store_account_load(struct store *s, const char *name, struct account_record *out,
    char *err, size_t errlen);
/* Persists the key first (so a lost URL can be recovered with
 * onlyReturnExisting) then the record. */
int store_account_save_key(struct store *s, const char *name, const privkey_t *key,
    char *err, size_t errlen);
int store_account_save(struct store *s, const char *name, const struct account_record *r,
    char *err, size_t errlen);

/*
 * The account's request budget between runs (accounts/NAME/budget.json):
 * when the newOrders still inside new_orders_per's window were answered
 * (spent, nspent) and the end of a pause the CA asked for (0: none).
 * load: 0 with nothing (*spent NULL, 0, 0) when there is no record, -1
 * with err naming the file when it is unreadable; *spent is the caller's.
 */
int store_account_save_budget(struct store *s, const char *name, const char *directory,
    const time_t *spent, int nspent, time_t paused_until, char *err, size_t errlen);
int store_account_load_budget(struct store *s, const char *name, char **directory,
    time_t **spent, int *nspent, time_t *paused_until, char *err, size_t errlen);

/*
 * Key rollover (RFC 8555 7.3.5) is made crash-safe by key-next.pem: the new
 * key is saved there before keyChange is sent, promoted over key.pem (one
 * rename) once the CA confirms, and dropped when the CA refuses.  A
 * leftover key-next.pem means a rollover whose outcome is unknown.
 * load: 0 with *key NULL when there is none, -1 when it is unreadable.
 */
int store_account_save_next_key(struct store *s, const char *name, const privkey_t *key,
    char *err, size_t errlen);
int store_account_load_next_key(struct store *s, const char *name, privkey_t **key,
    char *err, size_t errlen);
int store_account_promote_next_key(struct store *s, const char *name, char *err,
    size_t errlen);
void store_account_drop_next_key(struct store *s, const char *name);

/* Per-certificate state, kept small: read once at start, written on change.
 * One is held per tracked certificate (100,000 in the idle bench): the
 * members are grouped by size so that the struct has no padding holes. */
struct cert_state {
	struct strlist names;   /* names last ordered/installed */
	char *account;          /* account that issued it */
	char *order_url;        /* order in flight, NULL when none */
	time_t order_started;
	long long pool_version; /* shared certificate: the pool's version installed
	                         * here (its lock's fencing revision), 0 none */
	char *serial;           /* installed certificate's serial, hex */
	time_t not_before;
	time_t not_after;
	char *cert_id;          /* ARI certID of the installed certificate */
	time_t last_success;
	time_t last_attempt;
	char *last_error;       /* one line, NULL after a success */
	char *last_problem;     /* problem document JSON of the last error, or NULL */
	time_t next_attempt;    /* earliest retry after failures (0: none) */
	time_t ari_start, ari_end, ari_checked; /* ARI window; 0 unknown */
	/* The last revocation (certfleetctl revoke), kept after re-issue. */
	char *revoked_serial;
	time_t revoked_at;      /* 0: never revoked */
	/* A certificate issued but not installed (store_held_save), for
	 * status; the files are what counts. */
	char *held_serial;      /* hex; NULL: none held */
	time_t held_not_after;
	time_t held_since;
	/* What the operator was told (fleet_notify.c), kept so that a restart
	 * tells nothing twice.  0: not told / not in that state. */
	time_t notified_failed;     /* renewal_failed sent at */
	time_t notified_expiring;   /* expiring sent at */
	time_t notified_not_after;  /* the notAfter that expiring was about */
	time_t notified_last;       /* the last notice or daily reminder */
	int key_type;           /* enum key_type last installed, -1 none */
	int version;            /* N of the installed archive/NAME/certN.pem, 0 none */
	int failures;           /* consecutive failures */
	int revoked_reason;     /* RFC 5280 CRLReason (with revoked_at) */
	bool order_finalized;   /* finalize was POSTed: never POST it again */
	bool revoked;           /* the installed certificate was revoked: re-issue */
	bool revoked_no_reissue; /* with revoked: renew on the normal schedule only */
	/* A held copy may still be on disk though none is recorded: set when
	 * renew_install saves the state of a held certificate it installed,
	 * before it removes the copy (a crash in between leaves it). */
	bool held_check;
	/* Whether store_cert_load found a state file (not saved). */
	bool on_disk;
};
void cert_state_init(struct cert_state *st);
void cert_state_free(struct cert_state *st);
/* 0 ok (st initialised empty if no file), -1 corrupt/unreadable (err). */
int store_cert_load(struct store *s, const char *name, struct cert_state *st,
    char *err, size_t errlen);
int store_cert_save(struct store *s, const char *name, const struct cert_state *st,
    char *err, size_t errlen);
/* List of names having a certs/NAME directory. */
int store_cert_list(struct store *s, struct strlist *out);

/* The key of an order in flight (certs/NAME/order-key.pem): persisted
 * before the order is created so a resumed order finalizes with it. */
int store_order_key_save(struct store *s, const char *name, const privkey_t *key,
    char *err, size_t errlen);
privkey_t *store_order_key_load(struct store *s, const char *name);
void store_order_key_remove(struct store *s, const char *name);

/*
 * The order in flight's persisted progress, in st and saved at once (the
 * one place that decides which fields mean what; store_state.c):
 * created records the order URL (finalize not sent, started now); finalized
 * that finalize is about to be POSTed.  Both 0, or -1 with err (st is
 * updated in memory either way).  forget drops the order: the URL and every
 * per-order field, saved, and the order key removed, so the next attempt
 * orders afresh; a failed save is logged.  Every path that orders again
 * goes through forget.
 */
int store_order_created(struct store *s, const char *name, struct cert_state *st,
    const char *order_url, char *err, size_t errlen);
int store_order_finalized(struct store *s, const char *name, struct cert_state *st,
    char *err, size_t errlen);
void store_order_forget(struct store *s, const char *name, struct cert_state *st);

/* Keeps a certificate that failed the post-issuance check for inspection;
 * returns the path written (caller frees) or NULL. */
char *store_keep_rejected(struct store *s, const char *name, const char *pem, size_t len);

/*
 * A certificate that was issued but could not be installed ("issued, not
 * installed") is held in the store with its key until an installation
 * works, so it is never ordered twice.  save writes the key first, then
 * the chain, each atomically: held.pem never exists without its key, and
 * a crash leaves either the previous held pair or the new one.  0 ok, -1
 * with err.
 */
int store_held_save(struct store *s, const char *name, const char *chain_pem, size_t len,
    const privkey_t *key, char *err, size_t errlen);
/* 1 with the chain (caller frees) and key (caller frees) when a held
 * certificate exists, 0 when none, -1 when it is unreadable (logged). */
int store_held_load(struct store *s, const char *name, char **chain_pem, size_t *len,
    privkey_t **key);
/* After it was installed: chain first, then key. */
void store_held_remove(struct store *s, const char *name);
/* A held certificate that can no longer be used (expired, inventory
 * changed) is renamed to unusable-TIME.pem and unusable-TIME-key.pem, never
 * deleted.  Returns the chain's new path (caller frees) or NULL. */
char *store_held_move_aside(struct store *s, const char *name);

#endif
