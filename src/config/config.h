/*
 * config.h - the YAML inventory, parsed into an immutable struct config.
 *
 * config_load() either returns a complete, validated configuration or one
 * error message of the form "FILE:LINE:COLUMN: KEY.PATH: what is wrong"
 * and touches nothing.  The daemon keeps the old configuration until a new
 * one loads completely (reload is all-or-nothing).
 */
#ifndef CERTFLEET_CONFIG_H
#define CERTFLEET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "acme_json.h"   /* enum challenge_type: the ACME name of each */
#include "crypto.h"
#include "envelope.h"
#include "util.h"

#define CONFIG_EXIT_INVALID 78 /* EX_CONFIG */

enum http01_mode { HTTP01_STANDALONE, HTTP01_WEBROOT };

/*
 * notify: who is told when a certificate is in danger, and when (see
 * fleet_notify.c).  The top level's is the fleet's; each certificate's is
 * that one merged key by key with defaults: and the entry's own.
 */
struct config_notify {
	char *webhook_url;          /* NULL: no webhook */
	char *webhook_header;       /* "Name: secret" (a secret: free_secret); NULL: none */
	char *webhook_ca_bundle;    /* NULL: the system store */
	long long webhook_timeout;  /* seconds per attempt, default 10 */
	struct strlist mail_argv;   /* mailer argv; empty: no mail */
	struct strlist mail_to;     /* addresses (at least one with mail) */
	char *mail_from;            /* NULL: no From: header (the mailer's default) */
	int after_failures;         /* consecutive failures before renewal_failed (3) */
	long long warn_before;      /* seconds before notAfter; 0: warn_before_pct */
	int warn_before_pct;        /* of the lifetime, with warn_before 0 (10) */
};
/* True when n has a webhook or a mailer. */
bool config_notify_enabled(const struct config_notify *n);

/*
 * cluster: the pool this host belongs to (fleet/cluster.c): an etcd
 * cluster that shared certificates and accounts are coordinated through.
 */
enum cluster_fallback { CLUSTER_FALLBACK_NONE, CLUSTER_FALLBACK_LOCAL };
struct config_cluster {
	struct strlist endpoints;   /* etcd.endpoints: URLs, tried in turn */
	char *ca_bundle;            /* etcd.ca_bundle; NULL: the system store */
	char *cert, *key;           /* etcd.cert / etcd.key: TLS client auth; NULL: none */
	char *username;             /* etcd.username; NULL: no token auth */
	char *password_file;        /* etcd.password_file (0600, like the EAB file) */
	char *password;             /* its content, trailing newline removed (a secret) */
	char *prefix;               /* default "/certfleet/"; always ends in '/' */
	char *node;                 /* this host's name in the pool; default the host name */
	long long lease_ttl;        /* seconds, default 30 (5..3600) */
	char *secret_key_file;      /* required: AES-256-GCM key for private keys in etcd */
	struct envelope_key secret_key; /* loaded from it (wiped by config_free) */
	enum cluster_fallback fallback; /* cluster.fallback: none (default) or local */
	int line;
};

struct config_account {
	bool shared;                /* key and URL live in etcd (default: true with cluster:) */
	char *name;
	char *directory_url;        /* used exactly as given */
	char *staging_directory_url; /* --dry-run issues here; NULL: none */
	struct strlist contact;     /* "mailto:..." */
	char *eab_kid;              /* NULL: no EAB */
	unsigned char *eab_hmac;    /* decoded key (secret) */
	size_t eab_hmac_len;
	enum hmac_alg eab_alg;
	enum key_type key_type;     /* account key; default ec-p256 */
	char *ca_bundle;            /* CA file to verify the ACME server; NULL: system */
	int max_inflight;           /* per-account orders in flight (default 256) */
	/* Request budgets (acme_budget.c); 0: unlimited. */
	int new_orders_in_flight;   /* newOrder requests in flight at once (default 4) */
	int new_orders_per_count;   /* new_orders_per: COUNT/DURATION */
	long long new_orders_per_seconds;
	int requests_per_second;    /* signed POSTs of the account */
	char *certbot_account;      /* certbot's accounts/.../ID directory to adopt
	                             * when the store has no key yet; NULL: none */
	int line;                   /* where it was defined, for messages */
};

struct config_cert {
	/* Grouped by size, without padding holes: one per certificate. */
	char *name;                 /* lineage name: live/NAME */
	struct strlist domains;     /* lower case, first is CN */
	const char *account_name;   /* account->name (the config's, not a copy) */
	const struct config_account *account;
	char *webroot;              /* HTTP01_WEBROOT: document root */
	char *dns01_hook;           /* dns-01: program (argv[0]) */
	/* The parent of live/ and archive/: the config's cert_output_dir, or
	 * output_dir_own when this entry sets its own (like notify below). */
	const char *output_dir;
	char *output_dir_own;       /* owned; NULL: shares cert_output_dir */
	struct strlist deploy_hook; /* argv; empty: none */
	long long renew_before;     /* seconds before expiry; 0: a third of lifetime */
	char *profile;              /* ACME profile; NULL: none */
	char *preferred_chain;      /* issuer CN; NULL: default chain */
	/* The top level's notify: merged with defaults: and this entry's.  An
	 * entry without a notify: of its own points to the config's
	 * cert_notify, shared by all of them (a copy in each entry cost 96
	 * bytes a certificate); one with its own points to notify_own. */
	const struct config_notify *notify;
	struct config_notify *notify_own; /* owned; NULL: shares cert_notify */
	size_t nchallenges;
	enum challenge_type challenges[CHALLENGE_TYPE__MAX]; /* preference order */
	enum key_type key_type;
	enum http01_mode http01_mode;
	uid_t owner;                /* (uid_t)-1: unchanged */
	gid_t group;                /* (gid_t)-1: unchanged */
	mode_t mode;                /* public files; keys are always 0600 (0640 with group) */
	int line;
	bool shared;                /* ordered once per pool through etcd (default: true
	                             * with cluster:; needs a shared account) */
	bool reuse_key;
	bool combined;              /* also live/NAME/combined.pem (key + fullchain) */
};

struct config {
	char *path;
	char *state_dir;            /* default /var/lib/certfleet */
	char *control_socket;       /* default /run/certfleet/control.sock */
	mode_t control_socket_mode; /* default 0660 */
	uid_t control_socket_owner; /* (uid_t)-1: the daemon's user */
	gid_t control_socket_group; /* (gid_t)-1: the daemon's group; read-only access */
	gid_t control_admin_group;  /* (gid_t)-1: none; members may run every command */
	char *http01_listen;        /* built-in responder "ADDR:PORT"; default "[::]:80" */
	char *tlsalpn01_listen;     /* default "[::]:443" */
	char *dns_resolver;         /* "ADDR[:PORT]" asked for dns-01 propagation instead
	                             * of the authoritative servers; NULL: discover them */
	long long finalize_timeout; /* seconds, default 120 */
	long long order_timeout;    /* seconds, default 1800 */
	long long hook_timeout;     /* seconds, default 300 */
	long long dns_propagation_timeout; /* seconds, default 600 */
	long long renew_jitter;     /* seconds of random spread, default 3600 */
	int max_inflight;           /* global orders in flight (default 256) */
	struct strlist post_hook;   /* argv; after a batch of renewals */
	char *metrics_listen;       /* "ADDR:PORT" of GET /metrics; NULL: off */
	char *metrics_textfile;     /* node_exporter textfile to keep current; NULL: off */
	struct config_notify notify; /* fleet events: reloads, accounts */
	/* The top level's notify: merged with defaults:'s, which the
	 * certificates without a notify: of their own point to. */
	struct config_notify *cert_notify;
	/* The top level's output_dir, or defaults:'s: what the certificates
	 * without one of their own point to. */
	char *cert_output_dir;
	struct config_cluster *cluster; /* NULL: no cluster: section */
	struct config_account *accounts;
	size_t naccounts;
	struct config_cert *certs;
	size_t ncerts;
};

/*
 * Loads and validates FILE.  On success returns 0 and *out (free with
 * config_free).  On failure returns -1 and writes exactly one line into err
 * ("FILE:LINE:COL: path.to.key: message").
 */
int config_load(const char *path, struct config **out, char *err, size_t errlen);
/*
 * The same, and with CONFIG_LOAD_HOST also what the whole daemon needs from
 * this machine, as the user calling it: state_dir and the control socket's
 * directory exist as directories or can be created (their nearest existing
 * ancestor is a writable directory).  With CONFIG_LOAD_CERTS as well, what
 * each certificate needs: every hook program exists and is executable (a
 * bare name in PATH) and each output_dir is usable like state_dir.
 *
 * `certfleetd --check` asks for both.  The daemon (start and reload) asks
 * only for CONFIG_LOAD_HOST: one certificate's missing hook must not stop
 * the renewals of all the others; its preflight (preflight.h) refuses to
 * order that one certificate and reports why.  Plain config_load() stays
 * independent of the machine, for tools and tests reading an inventory.
 */
#define CONFIG_LOAD_HOST 0x1u
#define CONFIG_LOAD_CERTS 0x4u
/* With CONFIG_LOAD_HOST: no control socket will be made (--once), so its
 * directory is not checked. */
#define CONFIG_LOAD_NO_CONTROL 0x2u
/* The top-level settings alone (certfleetctl finding the control socket):
 * accounts:, defaults: and certificates: are parsed as YAML (a syntax error
 * anywhere is still one) but neither kept nor checked, so the result has
 * no account and no certificate.  At 100,000 certificates that is a tenth
 * of the time of a full load. */
#define CONFIG_LOAD_TOP 0x8u
int config_load_ex(const char *path, unsigned flags, struct config **out, char *err,
    size_t errlen);
void config_free(struct config *c);

const struct config_cert *config_find_cert(const struct config *c, const char *name);
const struct config_account *config_find_account(const struct config *c, const char *name);

/* True when two cert entries would order the same thing (names, key type,
 * account, challenges, profile). Output/hook changes do not need a new order. */
bool config_cert_order_equal(const struct config_cert *a, const struct config_cert *b);

/* Valid DNS name (or "*.name" wildcard) for a certificate: 0 ok, -1 with a
 * reason in err. */
int config_check_domain(const char *name, char *err, size_t errlen);

#endif
