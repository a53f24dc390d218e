/*
 * acme_json.c - ACME objects to and from JSON (the only ACME code that
 * touches cJSON).  Every parser copies what it needs out of the cJSON tree
 * and frees it before returning, so callers deal only in plain structs.
 * Unknown fields are ignored: CAs add members (Sectigo's authorizations
 * list challenge types such as "sectigo-email-01") and we must not care.
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "acme_json.h"
#include "log.h"
#include "util.h"

#define ACME_ERR_PREFIX "urn:ietf:params:acme:error:"

static const char *const status_names[ACME_STATUS__MAX] = {
	[ACME_STATUS_UNKNOWN] = "unknown",
	[ACME_STATUS_PENDING] = "pending",
	[ACME_STATUS_READY] = "ready",
	[ACME_STATUS_PROCESSING] = "processing",
	[ACME_STATUS_VALID] = "valid",
	[ACME_STATUS_INVALID] = "invalid",
	[ACME_STATUS_DEACTIVATED] = "deactivated",
	[ACME_STATUS_EXPIRED] = "expired",
	[ACME_STATUS_REVOKED] = "revoked",
};

const char *
acme_status_name(enum acme_status s)
{
	if ((unsigned)s >= ACME_STATUS__MAX)
		return "unknown";
	return status_names[s];
}

static const char *const challenge_names[CHALLENGE_TYPE__MAX] = {
	[CHALLENGE_HTTP01] = "http-01",
	[CHALLENGE_DNS01] = "dns-01",
	[CHALLENGE_TLSALPN01] = "tls-alpn-01",
};

const char *
challenge_type_name(enum challenge_type t)
{
	if ((unsigned)t >= CHALLENGE_TYPE__MAX)
		return "unknown";
	return challenge_names[t];
}

static enum acme_status
status_parse(const char *s)
{
	if (s == NULL)
		return ACME_STATUS_UNKNOWN;
	for (size_t i = 1; i < ACME_STATUS__MAX; i++)
		if (strcmp(s, status_names[i]) == 0)
			return (enum acme_status)i;
	return ACME_STATUS_UNKNOWN;
}

/* Parses text that must be a JSON object. */
static cJSON *
parse_object(const char *json, size_t len, const char *what, char *err, size_t errlen)
{
	cJSON *root;

	if (json == NULL || len == 0) {
		snprintf(err, errlen, "%s: empty response body", what);
		return NULL;
	}
	root = cJSON_ParseWithLength(json, len);
	if (root == NULL || !cJSON_IsObject(root)) {
		snprintf(err, errlen, "%s: response is not a JSON object", what);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static char *
dup_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

static time_t
get_time(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	time_t t = 0;

	if (cJSON_IsString(v) && time_parse_rfc3339(v->valuestring, &t) == 0)
		return t;
	return 0;
}

static void
string_array(const cJSON *obj, const char *key, struct strlist *out)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
	const cJSON *it;

	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsString(it))
			strlist_add(out, it->valuestring);
}

/* ---- certbot's files ---- */

int
acme_json_jwk_parse(const char *json, size_t len, struct jwk_text *j, char *err,
    size_t errlen)
{
	const char *names[] = { "kty", "crv", "n", "e", "d", "p", "q", "dp", "dq", "qi", "x",
		"y" };
	char **dst[] = { &j->kty, &j->crv, &j->n, &j->e, &j->d, &j->p, &j->q, &j->dp, &j->dq,
		&j->qi, &j->x, &j->y };
	cJSON *root = NULL;
	int rc = -1;

	memset(j, 0, sizeof(*j));
	if (json == NULL || len == 0 || (root = cJSON_ParseWithLength(json, len)) == NULL ||
	    !cJSON_IsObject(root)) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, names[i]);

		if (v == NULL)
			continue;
		if (!cJSON_IsString(v)) {
			snprintf(err, errlen, "JWK member '%s' is not a string", names[i]);
			jwk_text_free(j);
			goto out;
		}
		*dst[i] = xstrdup(v->valuestring);
	}
	rc = 0;
out:
	/* The tree held the private key's text: wiped before it is freed. */
	if (root != NULL) {
		cJSON *it;
		cJSON_ArrayForEach(it, root)
			if (cJSON_IsString(it) && it->valuestring != NULL)
				memset(it->valuestring, 0, strlen(it->valuestring));
	}
	cJSON_Delete(root);
	return rc;
}

char *
acme_json_get_string(const char *json, size_t len, const char *key, char *err, size_t errlen)
{
	cJSON *root = NULL;
	char *s = NULL;

	if (json == NULL || len == 0 || (root = cJSON_ParseWithLength(json, len)) == NULL ||
	    !cJSON_IsObject(root)) {
		snprintf(err, errlen, "not a JSON object");
		goto out;
	}
	if ((s = dup_string(root, key)) == NULL)
		snprintf(err, errlen, "no string member '%s'", key);
out:
	cJSON_Delete(root);
	return s;
}

/* ---- problem documents ---- */

static struct acme_problem *
problem_from_json(const cJSON *obj)
{
	struct acme_problem *p;
	const cJSON *subs, *it, *ident;

	if (!cJSON_IsObject(obj))
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->type = dup_string(obj, "type");
	p->detail = dup_string(obj, "detail");
	p->raw = cJSON_PrintUnformatted(obj);
	ident = cJSON_GetObjectItemCaseSensitive(obj, "identifier");
	if (cJSON_IsObject(ident))
		p->identifier = dup_string(ident, "value");
	subs = cJSON_GetObjectItemCaseSensitive(obj, "subproblems");
	if (cJSON_IsArray(subs) && cJSON_GetArraySize(subs) > 0) {
		p->sub = xcalloc((size_t)cJSON_GetArraySize(subs), sizeof(*p->sub));
		cJSON_ArrayForEach(it, subs) {
			struct acme_problem *s = problem_from_json(it);
			if (s == NULL)
				continue;
			p->sub[p->nsub++] = *s;
			free(s);
		}
	}
	return p;
}

static void
problem_clear(struct acme_problem *p)
{
	free(p->type);
	free(p->detail);
	free(p->identifier);
	free(p->raw);
	for (size_t i = 0; i < p->nsub; i++)
		problem_clear(&p->sub[i]);
	free(p->sub);
}

void
acme_problem_free(struct acme_problem *p)
{
	if (p == NULL)
		return;
	problem_clear(p);
	free(p);
}

struct acme_problem *
acme_problem_parse(const char *json, size_t len)
{
	cJSON *root;
	struct acme_problem *p = NULL;

	if (json == NULL || len == 0)
		return NULL;
	root = cJSON_ParseWithLength(json, len);
	if (cJSON_IsObject(root) &&
	    (cJSON_GetObjectItemCaseSensitive(root, "type") != NULL ||
	     cJSON_GetObjectItemCaseSensitive(root, "detail") != NULL))
		p = problem_from_json(root);
	cJSON_Delete(root);
	return p;
}

bool
acme_problem_is(const struct acme_problem *p, const char *short_type)
{
	size_t n = strlen(ACME_ERR_PREFIX);

	return p != NULL && p->type != NULL && strncmp(p->type, ACME_ERR_PREFIX, n) == 0 &&
	    strcmp(p->type + n, short_type) == 0;
}

static void
problem_format_into(struct buf *b, const struct acme_problem *p)
{
	const char *type = p->type ? p->type : "(no type)";

	if (strncmp(type, ACME_ERR_PREFIX, strlen(ACME_ERR_PREFIX)) == 0)
		type += strlen(ACME_ERR_PREFIX);
	buf_appendf(b, "%s: %s", type, p->detail ? p->detail : "(no detail)");
	if (p->nsub == 0)
		return;
	buf_appendf(b, " [");
	for (size_t i = 0; i < p->nsub; i++) {
		if (i > 0)
			buf_appendf(b, "; ");
		if (p->sub[i].identifier)
			buf_appendf(b, "%s: ", p->sub[i].identifier);
		problem_format_into(b, &p->sub[i]);
	}
	buf_appendf(b, "]");
}

char *
acme_problem_format(const struct acme_problem *p)
{
	struct buf b = {0};

	if (p == NULL)
		return xstrdup("(no problem document)");
	problem_format_into(&b, p);
	return buf_steal(&b, NULL);
}

/* ---- directory ---- */

int
acme_directory_parse(const char *json, size_t len, struct acme_directory *d,
    char *err, size_t errlen)
{
	cJSON *root, *meta, *profiles, *it;

	memset(d, 0, sizeof(*d));
	if ((root = parse_object(json, len, "directory", err, errlen)) == NULL)
		return -1;
	d->new_nonce = dup_string(root, "newNonce");
	d->new_account = dup_string(root, "newAccount");
	d->new_order = dup_string(root, "newOrder");
	d->revoke_cert = dup_string(root, "revokeCert");
	d->key_change = dup_string(root, "keyChange");
	d->renewal_info = dup_string(root, "renewalInfo");
	meta = cJSON_GetObjectItemCaseSensitive(root, "meta");
	if (cJSON_IsObject(meta)) {
		d->terms_of_service = dup_string(meta, "termsOfService");
		d->eab_required = cJSON_IsTrue(
		    cJSON_GetObjectItemCaseSensitive(meta, "externalAccountRequired"));
		/* The profiles draft uses an object of name -> description. */
		profiles = cJSON_GetObjectItemCaseSensitive(meta, "profiles");
		cJSON_ArrayForEach(it, profiles) {
			if (cJSON_IsObject(profiles) && it->string)
				strlist_add(&d->profiles, it->string);
			else if (cJSON_IsString(it))
				strlist_add(&d->profiles, it->valuestring);
		}
	}
	cJSON_Delete(root);
	if (!d->new_nonce || !d->new_account || !d->new_order) {
		snprintf(err, errlen, "directory lacks %s",
		    !d->new_nonce ? "newNonce" : !d->new_account ? "newAccount" : "newOrder");
		acme_directory_free(d);
		return -1;
	}
	return 0;
}

void
acme_directory_free(struct acme_directory *d)
{
	if (d == NULL)
		return;
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->revoke_cert);
	free(d->key_change);
	free(d->renewal_info);
	free(d->terms_of_service);
	strlist_free(&d->profiles);
	memset(d, 0, sizeof(*d));
}

/* ---- order ---- */

int
acme_order_parse(const char *json, size_t len, struct acme_order *o, char *err, size_t errlen)
{
	cJSON *root, *ids, *it;

	memset(o, 0, sizeof(*o));
	if ((root = parse_object(json, len, "order", err, errlen)) == NULL)
		return -1;
	o->status = status_parse(cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(root, "status")));
	ids = cJSON_GetObjectItemCaseSensitive(root, "identifiers");
	cJSON_ArrayForEach(it, ids) {
		const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "value"));
		if (v)
			strlist_add(&o->identifiers, v);
	}
	string_array(root, "authorizations", &o->authorizations);
	o->finalize = dup_string(root, "finalize");
	o->certificate = dup_string(root, "certificate");
	o->expires = get_time(root, "expires");
	o->error = problem_from_json(cJSON_GetObjectItemCaseSensitive(root, "error"));
	cJSON_Delete(root);
	if (o->status == ACME_STATUS_UNKNOWN) {
		snprintf(err, errlen, "order has no valid status");
		goto bad;
	}
	if (o->finalize == NULL) {
		snprintf(err, errlen, "order has no finalize URL");
		goto bad;
	}
	if (o->status == ACME_STATUS_VALID && o->certificate == NULL) {
		snprintf(err, errlen, "order is valid but has no certificate URL");
		goto bad;
	}
	return 0;
bad:
	acme_order_free(o);
	return -1;
}

void
acme_order_free(struct acme_order *o)
{
	if (o == NULL)
		return;
	strlist_free(&o->identifiers);
	strlist_free(&o->authorizations);
	free(o->finalize);
	free(o->certificate);
	acme_problem_free(o->error);
	memset(o, 0, sizeof(*o));
}

/* ---- challenge and authorization ---- */

static int
challenge_from_json(const cJSON *obj, struct acme_challenge *c)
{
	memset(c, 0, sizeof(*c));
	c->type = dup_string(obj, "type");
	c->url = dup_string(obj, "url");
	c->token = dup_string(obj, "token");
	c->status = status_parse(cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(obj, "status")));
	c->error = problem_from_json(cJSON_GetObjectItemCaseSensitive(obj, "error"));
	return c->type != NULL && c->url != NULL ? 0 : -1;
}

int
acme_challenge_parse(const char *json, size_t len, struct acme_challenge *c,
    char *err, size_t errlen)
{
	cJSON *root;
	int rc;

	memset(c, 0, sizeof(*c));
	if ((root = parse_object(json, len, "challenge", err, errlen)) == NULL)
		return -1;
	rc = challenge_from_json(root, c);
	cJSON_Delete(root);
	if (rc < 0) {
		snprintf(err, errlen, "challenge lacks type or url");
		acme_challenge_free(c);
	}
	return rc;
}

void
acme_challenge_free(struct acme_challenge *c)
{
	if (c == NULL)
		return;
	free(c->type);
	free(c->url);
	free(c->token);
	acme_problem_free(c->error);
	memset(c, 0, sizeof(*c));
}

int
acme_authz_parse(const char *json, size_t len, struct acme_authz *a, char *err, size_t errlen)
{
	cJSON *root, *ident, *chs, *it;

	memset(a, 0, sizeof(*a));
	if ((root = parse_object(json, len, "authorization", err, errlen)) == NULL)
		return -1;
	ident = cJSON_GetObjectItemCaseSensitive(root, "identifier");
	if (cJSON_IsObject(ident)) {
		a->identifier = dup_string(ident, "value");
		a->identifier_type = dup_string(ident, "type");
	}
	a->status = status_parse(cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(root, "status")));
	a->wildcard = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "wildcard"));
	a->expires = get_time(root, "expires");
	chs = cJSON_GetObjectItemCaseSensitive(root, "challenges");
	if (cJSON_IsArray(chs) && cJSON_GetArraySize(chs) > 0) {
		a->challenges = xcalloc((size_t)cJSON_GetArraySize(chs), sizeof(*a->challenges));
		/* A challenge we cannot read is skipped, not fatal: a valid
		 * authorization may list types we have never heard of. */
		cJSON_ArrayForEach(it, chs) {
			if (challenge_from_json(it, &a->challenges[a->nchallenges]) == 0)
				a->nchallenges++;
			else
				acme_challenge_free(&a->challenges[a->nchallenges]);
		}
	}
	cJSON_Delete(root);
	if (a->identifier == NULL || a->status == ACME_STATUS_UNKNOWN) {
		snprintf(err, errlen, "authorization lacks %s",
		    a->identifier == NULL ? "an identifier" : "a valid status");
		acme_authz_free(a);
		return -1;
	}
	return 0;
}

void
acme_authz_free(struct acme_authz *a)
{
	if (a == NULL)
		return;
	free(a->identifier);
	free(a->identifier_type);
	for (size_t i = 0; i < a->nchallenges; i++)
		acme_challenge_free(&a->challenges[i]);
	free(a->challenges);
	memset(a, 0, sizeof(*a));
}

/* ---- account, ARI ---- */

int
acme_account_parse(const char *json, size_t len, struct acme_account_obj *a,
    char *err, size_t errlen)
{
	cJSON *root;

	memset(a, 0, sizeof(*a));
	if ((root = parse_object(json, len, "account", err, errlen)) == NULL)
		return -1;
	a->status = status_parse(cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(root, "status")));
	a->orders = dup_string(root, "orders");
	cJSON_Delete(root);
	return 0;
}

void
acme_account_obj_free(struct acme_account_obj *a)
{
	if (a == NULL)
		return;
	free(a->orders);
	memset(a, 0, sizeof(*a));
}

int
acme_renewal_info_parse(const char *json, size_t len, struct acme_renewal_info *r,
    char *err, size_t errlen)
{
	cJSON *root, *win;

	memset(r, 0, sizeof(*r));
	if ((root = parse_object(json, len, "renewalInfo", err, errlen)) == NULL)
		return -1;
	win = cJSON_GetObjectItemCaseSensitive(root, "suggestedWindow");
	if (cJSON_IsObject(win)) {
		r->start = get_time(win, "start");
		r->end = get_time(win, "end");
	}
	r->explanation_url = dup_string(root, "explanationURL");
	cJSON_Delete(root);
	if (r->start == 0 || r->end == 0 || r->end < r->start) {
		snprintf(err, errlen, "renewalInfo has no valid suggestedWindow");
		acme_renewal_info_free(r);
		return -1;
	}
	return 0;
}

void
acme_renewal_info_free(struct acme_renewal_info *r)
{
	if (r == NULL)
		return;
	free(r->explanation_url);
	memset(r, 0, sizeof(*r));
}

/* ---- builders ---- */

static char *
print_and_free(cJSON *obj)
{
	char *s = cJSON_PrintUnformatted(obj);

	cJSON_Delete(obj);
	if (s == NULL) {
		log_err("out of memory printing JSON");
		abort();
	}
	return s;
}

char *
acme_json_new_account(const struct strlist *contact, const char *eab_jws,
    bool only_return_existing)
{
	cJSON *obj = cJSON_CreateObject();

	if (only_return_existing) {
		cJSON_AddTrueToObject(obj, "onlyReturnExisting");
		return print_and_free(obj);
	}
	cJSON_AddTrueToObject(obj, "termsOfServiceAgreed");
	if (contact && contact->n > 0)
		cJSON_AddItemToObject(obj, "contact",
		    cJSON_CreateStringArray((const char *const *)contact->v, (int)contact->n));
	if (eab_jws)
		cJSON_AddItemToObject(obj, "externalAccountBinding", cJSON_Parse(eab_jws));
	return print_and_free(obj);
}

char *
acme_json_new_order(const struct strlist *names, const char *profile, const char *replaces)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON *ids = cJSON_AddArrayToObject(obj, "identifiers");

	for (size_t i = 0; i < names->n; i++) {
		cJSON *id = cJSON_CreateObject();
		cJSON_AddStringToObject(id, "type", "dns");
		cJSON_AddStringToObject(id, "value", names->v[i]);
		cJSON_AddItemToArray(ids, id);
	}
	if (profile)
		cJSON_AddStringToObject(obj, "profile", profile);
	if (replaces)
		cJSON_AddStringToObject(obj, "replaces", replaces);
	return print_and_free(obj);
}

char *
acme_json_finalize(const char *csr_b64url)
{
	cJSON *obj = cJSON_CreateObject();

	cJSON_AddStringToObject(obj, "csr", csr_b64url);
	return print_and_free(obj);
}

char *
acme_json_revoke(const char *cert_b64url, int reason)
{
	cJSON *obj = cJSON_CreateObject();

	cJSON_AddStringToObject(obj, "certificate", cert_b64url);
	if (reason >= 0)
		cJSON_AddNumberToObject(obj, "reason", reason);
	return print_and_free(obj);
}

char *
acme_json_key_change(const char *account_url, const char *old_jwk_json)
{
	cJSON *obj = cJSON_CreateObject();

	cJSON_AddStringToObject(obj, "account", account_url);
	cJSON_AddItemToObject(obj, "oldKey", cJSON_Parse(old_jwk_json));
	return print_and_free(obj);
}

char *
acme_json_deactivate(void)
{
	cJSON *obj = cJSON_CreateObject();

	cJSON_AddStringToObject(obj, "status", "deactivated");
	return print_and_free(obj);
}
