/*
 * acme_json.h - ACME objects (RFC 8555 section 7.1) to and from JSON.
 *
 * Parsers fill project structs and never keep a cJSON tree; each has its
 * destructor.  Builders return request payloads as JSON text.
 */
#ifndef CERTFLEET_ACME_JSON_H
#define CERTFLEET_ACME_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "crypto.h"
#include "util.h"

enum acme_status {
	ACME_STATUS_UNKNOWN,
	ACME_STATUS_PENDING,
	ACME_STATUS_READY,
	ACME_STATUS_PROCESSING,
	ACME_STATUS_VALID,
	ACME_STATUS_INVALID,
	ACME_STATUS_DEACTIVATED,
	ACME_STATUS_EXPIRED,
	ACME_STATUS_REVOKED,
	ACME_STATUS__MAX
};
const char *acme_status_name(enum acme_status s);

/* The challenge types certfleet knows by name (RFC 8555 8.3, 8.4; RFC 8737):
 * the inventory lists them in preference order, challenge.c solves them. */
enum challenge_type {
	CHALLENGE_HTTP01,
	CHALLENGE_DNS01,
	CHALLENGE_TLSALPN01,
	CHALLENGE_TYPE__MAX
};
/* "http-01", "dns-01", "tls-alpn-01"; "unknown" for none (static). */
const char *challenge_type_name(enum challenge_type t);

struct acme_problem {
	char *type;                 /* full URN, or NULL */
	char *detail;
	char *identifier;           /* subproblems: the identifier value */
	struct acme_problem *sub;   /* subproblems */
	size_t nsub;
	char *raw;                  /* the JSON text as received */
};

struct acme_directory {
	char *new_nonce;
	char *new_account;
	char *new_order;
	char *revoke_cert;
	char *key_change;
	char *renewal_info;         /* ARI; NULL when not offered */
	char *terms_of_service;
	bool eab_required;
	struct strlist profiles;    /* meta.profiles names */
};

struct acme_challenge {
	char *type;
	char *url;
	char *token;
	enum acme_status status;
	struct acme_problem *error;
};

struct acme_authz {
	char *identifier;           /* identifier value */
	char *identifier_type;      /* "dns", "ip", ... */
	bool wildcard;
	enum acme_status status;
	time_t expires;
	struct acme_challenge *challenges;
	size_t nchallenges;
};

struct acme_order {
	enum acme_status status;
	struct strlist identifiers;
	struct strlist authorizations;
	char *finalize;
	char *certificate;
	time_t expires;
	struct acme_problem *error;
};

struct acme_account_obj {
	enum acme_status status;
	char *orders;
};

struct acme_renewal_info {
	time_t start;
	time_t end;
	char *explanation_url;
};

/* Parsers: 0 ok, -1 with a reason in err (which names what is missing). */
int acme_directory_parse(const char *json, size_t len, struct acme_directory *out,
    char *err, size_t errlen);
void acme_directory_free(struct acme_directory *d);
int acme_order_parse(const char *json, size_t len, struct acme_order *out,
    char *err, size_t errlen);
void acme_order_free(struct acme_order *o);
int acme_authz_parse(const char *json, size_t len, struct acme_authz *out,
    char *err, size_t errlen);
void acme_authz_free(struct acme_authz *a);
int acme_challenge_parse(const char *json, size_t len, struct acme_challenge *out,
    char *err, size_t errlen);
void acme_challenge_free(struct acme_challenge *c);
int acme_account_parse(const char *json, size_t len, struct acme_account_obj *out,
    char *err, size_t errlen);
void acme_account_obj_free(struct acme_account_obj *a);
int acme_renewal_info_parse(const char *json, size_t len, struct acme_renewal_info *out,
    char *err, size_t errlen);
void acme_renewal_info_free(struct acme_renewal_info *r);

/* A problem document; NULL when the text is not one. Free with acme_problem_free. */
struct acme_problem *acme_problem_parse(const char *json, size_t len);
void acme_problem_free(struct acme_problem *p);
/* True when p's type is urn:ietf:params:acme:error:<short_type>. */
bool acme_problem_is(const struct acme_problem *p, const char *short_type);
/* One line: "TYPE: DETAIL [IDENT: TYPE: DETAIL; ...]"; caller frees. */
char *acme_problem_format(const struct acme_problem *p);

/*
 * A private JWK's members (certbot's accounts/.../private_key.json) into
 * j, for privkey_from_jwk().  0 ok (free with jwk_text_free), -1 with a
 * reason in err when it is not a JSON object or a member is not a string.
 */
int acme_json_jwk_parse(const char *json, size_t len, struct jwk_text *j, char *err,
    size_t errlen);
/* The string member key of a JSON object (certbot's regr.json "uri"): malloc'd,
 * or NULL with a reason in err. */
char *acme_json_get_string(const char *json, size_t len, const char *key, char *err,
    size_t errlen);

/* Builders; caller frees. */
char *acme_json_new_account(const struct strlist *contact, const char *eab_jws,
    bool only_return_existing);
char *acme_json_new_order(const struct strlist *names, const char *profile,
    const char *replaces);
char *acme_json_finalize(const char *csr_b64url);
char *acme_json_revoke(const char *cert_b64url, int reason);
char *acme_json_key_change(const char *account_url, const char *old_jwk_json);
char *acme_json_deactivate(void);

#endif
