/*
 * store_state.c - certs/NAME/state.json, the persisted struct cert_state.
 *
 * Times are RFC 3339 strings so an operator can read the file; unknown
 * members are ignored (a newer certfleet may add some) and "v" records the
 * format version.  last_problem is kept as the CA's JSON object.
 */
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "fsutil.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"
#include "util.h"

#define STATE_VERSION 1

/* A time as RFC 3339 (nothing for 0) and a string (nothing for NULL).  The
 * state file is still written with cJSON directly; these were util.c's
 * until cJSON moved behind json.h, and go once the store speaks
 * struct json too. */
static void
json_add_time(cJSON *o, const char *key, time_t t)
{
	char buf[32];

	if (t == 0)
		return;
	time_format_rfc3339(t, buf, sizeof(buf));
	cJSON_AddStringToObject(o, key, buf);
}

static void
json_add_str(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
}

void
cert_state_init(struct cert_state *st)
{
	memset(st, 0, sizeof(*st));
	st->key_type = -1;
}

void
cert_state_free(struct cert_state *st)
{
	if (st == NULL)
		return;
	strlist_free(&st->names);
	free(st->account);
	free(st->order_url);
	free(st->serial);
	free(st->cert_id);
	free(st->last_error);
	free(st->last_problem);
	free(st->revoked_serial);
	free(st->held_serial);
	cert_state_init(st);
}

static time_t
get_time(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	time_t t = 0;

	if (s && time_parse_rfc3339(s, &t) == 0)
		return t;
	return 0;
}

static char *
get_str(const cJSON *o, const char *key)
{
	return xstrdup(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key)));
}

static long long
get_int(const cJSON *o, const char *key, long long dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? (long long)v->valuedouble : dflt;
}

int
store_cert_save(struct store *s, const char *name, const struct cert_state *st, char *err,
    size_t errlen)
{
	cJSON *o;
	char *json, *path;
	int rc;

	if (store_ensure_dir(s, "certs", name, err, errlen) < 0)
		return -1;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "v", STATE_VERSION);
	if (st->names.n)
		cJSON_AddItemToObject(o, "names",
		    cJSON_CreateStringArray((const char *const *)st->names.v, (int)st->names.n));
	if (st->key_type >= 0)
		cJSON_AddNumberToObject(o, "key_type", st->key_type);
	json_add_str(o, "account", st->account);
	json_add_str(o, "order_url", st->order_url);
	if (st->order_finalized)
		cJSON_AddTrueToObject(o, "order_finalized");
	json_add_time(o, "order_started", st->order_started);
	if (st->version)
		cJSON_AddNumberToObject(o, "version", st->version);
	json_add_str(o, "serial", st->serial);
	json_add_time(o, "not_before", st->not_before);
	json_add_time(o, "not_after", st->not_after);
	json_add_str(o, "cert_id", st->cert_id);
	json_add_time(o, "last_success", st->last_success);
	json_add_time(o, "last_attempt", st->last_attempt);
	if (st->failures)
		cJSON_AddNumberToObject(o, "failures", st->failures);
	json_add_str(o, "last_error", st->last_error);
	if (st->last_problem) {
		cJSON *p = cJSON_Parse(st->last_problem);
		if (p)
			cJSON_AddItemToObject(o, "last_problem", p);
	}
	json_add_time(o, "next_attempt", st->next_attempt);
	json_add_time(o, "ari_start", st->ari_start);
	json_add_time(o, "ari_end", st->ari_end);
	json_add_time(o, "ari_checked", st->ari_checked);
	if (st->revoked)
		cJSON_AddTrueToObject(o, "revoked");
	if (st->revoked_at) {
		json_add_time(o, "revoked_at", st->revoked_at);
		json_add_str(o, "revoked_serial", st->revoked_serial);
		cJSON_AddNumberToObject(o, "revoked_reason", st->revoked_reason);
		if (st->revoked_no_reissue)
			cJSON_AddTrueToObject(o, "revoked_no_reissue");
	}
	if (st->held_serial) {
		cJSON *h = cJSON_AddObjectToObject(o, "held");
		cJSON_AddStringToObject(h, "serial", st->held_serial);
		json_add_time(h, "not_after", st->held_not_after);
		json_add_time(h, "since", st->held_since);
	}
	json = cJSON_Print(o);
	cJSON_Delete(o);
	path = store_path(s, "certs", name, "state.json");
	rc = atomic_write_file(path, json, strlen(json), 0600, (uid_t)-1, (gid_t)-1, err, errlen);
	free(path);
	free(json);
	return rc;
}

int
store_cert_load(struct store *s, const char *name, struct cert_state *st, char *err,
    size_t errlen)
{
	char *path = NULL, *json = NULL;
	size_t len = 0;
	cJSON *o = NULL, *it;
	int rc = -1;

	cert_state_init(st);
	if (name == NULL || *name == '\0' || *name == '.' || strchr(name, '/')) {
		snprintf(err, errlen, "invalid certificate name '%s'", name ? name : "");
		return -1;
	}
	path = store_path(s, "certs", name, "state.json");
	if (read_file(path, &json, &len, 1 << 20) < 0) {
		if (errno == ENOENT)
			rc = 0;
		else
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	/* Trailing bytes after the object mean the file is damaged: refuse it
	 * rather than trust its first part.  read_file() NUL-terminates. */
	o = cJSON_ParseWithLengthOpts(json, len + 1, NULL, true);
	if (!cJSON_IsObject(o)) {
		snprintf(err, errlen, "%s: not valid JSON", path);
		goto out;
	}
	if (get_int(o, "v", STATE_VERSION) > STATE_VERSION)
		log_warn("%s: written by a newer certfleet (format %lld); reading what we know",
		    path, get_int(o, "v", 0));
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(o, "names"))
		if (cJSON_IsString(it))
			strlist_add(&st->names, it->valuestring);
	st->key_type = (int)get_int(o, "key_type", -1);
	st->account = get_str(o, "account");
	st->order_url = get_str(o, "order_url");
	st->order_finalized = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "order_finalized"));
	st->order_started = get_time(o, "order_started");
	st->version = (int)get_int(o, "version", 0);
	st->serial = get_str(o, "serial");
	st->not_before = get_time(o, "not_before");
	st->not_after = get_time(o, "not_after");
	st->cert_id = get_str(o, "cert_id");
	st->last_success = get_time(o, "last_success");
	st->last_attempt = get_time(o, "last_attempt");
	st->failures = (int)get_int(o, "failures", 0);
	st->last_error = get_str(o, "last_error");
	it = cJSON_GetObjectItemCaseSensitive(o, "last_problem");
	if (cJSON_IsObject(it))
		st->last_problem = cJSON_PrintUnformatted(it);
	st->next_attempt = get_time(o, "next_attempt");
	st->ari_start = get_time(o, "ari_start");
	st->ari_end = get_time(o, "ari_end");
	st->ari_checked = get_time(o, "ari_checked");
	st->revoked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "revoked"));
	st->revoked_at = get_time(o, "revoked_at");
	st->revoked_serial = get_str(o, "revoked_serial");
	st->revoked_reason = (int)get_int(o, "revoked_reason", 0);
	st->revoked_no_reissue = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o,
	    "revoked_no_reissue"));
	it = cJSON_GetObjectItemCaseSensitive(o, "held");
	if (cJSON_IsObject(it)) {
		st->held_serial = get_str(it, "serial");
		st->held_not_after = get_time(it, "not_after");
		st->held_since = get_time(it, "since");
	}
	rc = 0;
out:
	if (rc < 0)
		cert_state_free(st);
	cJSON_Delete(o);
	free(json);
	free(path);
	return rc;
}
