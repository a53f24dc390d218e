/*
 * store_state.c - certs/NAME/state.json, the persisted struct cert_state.
 *
 * Times are RFC 3339 strings so an operator can read the file; unknown
 * members are ignored (a newer certfleet may add some) and "v" records the
 * format version.  last_problem is kept as the CA's JSON object.
 *
 * The order in flight's progress (store_order_created, _finalized,
 * _forget) is written here and nowhere else, so every caller - the fleet,
 * a held certificate, the dry run - means the same by it.
 *
 * "notified" (what the notifications told, fleet_notify.c) is optional:
 * older files without it read as "nothing told".
 */
#include <errno.h>
#include <string.h>

#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"
#include "util.h"

#define STATE_VERSION 1

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
get_time(const struct json *o, const char *key)
{
	const char *s = json_get_str(o, key);
	time_t t = 0;

	if (s && time_parse_rfc3339(s, &t) == 0)
		return t;
	return 0;
}

static char *
get_str(const struct json *o, const char *key)
{
	return xstrdup(json_get_str(o, key));
}

static long long
get_int(const struct json *o, const char *key, long long dflt)
{
	const struct json *v = json_get(o, key);

	return json_is_number(v) ? (long long)json_num(v) : dflt;
}

int
store_cert_save(struct store *s, const char *name, const struct cert_state *st, char *err,
    size_t errlen)
{
	struct json *o, *h;
	char *json, *path;
	int rc;

	if (store_ensure_dir(s, "certs", name, err, errlen) < 0)
		return -1;
	o = json_new_object();
	json_set_num(o, "v", STATE_VERSION);
	if (st->names.n)
		json_set(o, "names",
		    json_new_string_array((const char *const *)st->names.v, st->names.n));
	if (st->key_type >= 0)
		json_set_num(o, "key_type", st->key_type);
	json_set_str(o, "account", st->account);
	json_set_str(o, "order_url", st->order_url);
	if (st->order_finalized)
		json_set_bool(o, "order_finalized", true);
	json_set_time(o, "order_started", st->order_started);
	if (st->version)
		json_set_num(o, "version", st->version);
	/* A double holds every revision etcd will reach (2^53). */
	if (st->pool_version)
		json_set_num(o, "pool_version", (double)st->pool_version);
	json_set_str(o, "serial", st->serial);
	json_set_time(o, "not_before", st->not_before);
	json_set_time(o, "not_after", st->not_after);
	json_set_str(o, "cert_id", st->cert_id);
	json_set_time(o, "last_success", st->last_success);
	json_set_time(o, "last_attempt", st->last_attempt);
	if (st->failures)
		json_set_num(o, "failures", st->failures);
	json_set_str(o, "last_error", st->last_error);
	/* Whatever JSON value the text starts with, as it always was (the
	 * reader keeps objects only); nothing when it is not JSON. */
	if (st->last_problem)
		json_set(o, "last_problem",
		    json_parse(st->last_problem, strlen(st->last_problem), NULL));
	json_set_time(o, "next_attempt", st->next_attempt);
	json_set_time(o, "ari_start", st->ari_start);
	json_set_time(o, "ari_end", st->ari_end);
	json_set_time(o, "ari_checked", st->ari_checked);
	if (st->revoked)
		json_set_bool(o, "revoked", true);
	if (st->revoked_at) {
		json_set_time(o, "revoked_at", st->revoked_at);
		json_set_str(o, "revoked_serial", st->revoked_serial);
		json_set_num(o, "revoked_reason", st->revoked_reason);
		if (st->revoked_no_reissue)
			json_set_bool(o, "revoked_no_reissue", true);
	}
	if (st->held_serial) {
		h = json_set_object(o, "held");
		json_set_str(h, "serial", st->held_serial);
		json_set_time(h, "not_after", st->held_not_after);
		json_set_time(h, "since", st->held_since);
	}
	if (st->held_check)
		json_set_bool(o, "held_check", true);
	if (st->notified_failed || st->notified_expiring) {
		h = json_set_object(o, "notified");
		json_set_time(h, "renewal_failed", st->notified_failed);
		json_set_time(h, "expiring", st->notified_expiring);
		json_set_time(h, "expiring_not_after", st->notified_not_after);
		json_set_time(h, "last", st->notified_last);
	}
	json = json_print_pretty(o);
	json_free(o);
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
	struct json *o = NULL;
	const struct json *it;
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
	/* Trailing bytes after the object mean the file is damaged: refused
	 * rather than trusting its first part. */
	if ((o = store_parse_object(json, len)) == NULL) {
		snprintf(err, errlen, "%s: not valid JSON", path);
		goto out;
	}
	if (get_int(o, "v", STATE_VERSION) > STATE_VERSION)
		log_warn("%s: written by a newer certfleet (format %lld); reading what we know",
		    path, get_int(o, "v", 0));
	JSON_FOREACH(it, json_get(o, "names"))
		if (json_is_string(it))
			strlist_add(&st->names, json_str(it));
	st->key_type = (int)get_int(o, "key_type", -1);
	st->account = get_str(o, "account");
	st->order_url = get_str(o, "order_url");
	st->order_finalized = json_is_true(json_get(o, "order_finalized"));
	st->order_started = get_time(o, "order_started");
	st->version = (int)get_int(o, "version", 0);
	st->serial = get_str(o, "serial");
	st->not_before = get_time(o, "not_before");
	st->not_after = get_time(o, "not_after");
	st->cert_id = get_str(o, "cert_id");
	st->last_success = get_time(o, "last_success");
	st->last_attempt = get_time(o, "last_attempt");
	st->pool_version = get_int(o, "pool_version", 0);
	st->failures = (int)get_int(o, "failures", 0);
	st->last_error = get_str(o, "last_error");
	it = json_get(o, "last_problem");
	if (json_is_object(it))
		st->last_problem = json_print(it);
	st->next_attempt = get_time(o, "next_attempt");
	st->ari_start = get_time(o, "ari_start");
	st->ari_end = get_time(o, "ari_end");
	st->ari_checked = get_time(o, "ari_checked");
	st->revoked = json_is_true(json_get(o, "revoked"));
	st->revoked_at = get_time(o, "revoked_at");
	st->revoked_serial = get_str(o, "revoked_serial");
	st->revoked_reason = (int)get_int(o, "revoked_reason", 0);
	st->revoked_no_reissue = json_is_true(json_get(o, "revoked_no_reissue"));
	it = json_get(o, "held");
	if (json_is_object(it)) {
		st->held_serial = get_str(it, "serial");
		st->held_not_after = get_time(it, "not_after");
		st->held_since = get_time(it, "since");
	}
	st->held_check = json_is_true(json_get(o, "held_check"));
	st->on_disk = true;
	/* Absent in files from before notifications: nothing was told. */
	it = json_get(o, "notified");
	if (json_is_object(it)) {
		st->notified_failed = get_time(it, "renewal_failed");
		st->notified_expiring = get_time(it, "expiring");
		st->notified_not_after = get_time(it, "expiring_not_after");
		st->notified_last = get_time(it, "last");
	}
	rc = 0;
out:
	if (rc < 0)
		cert_state_free(st);
	json_free(o);
	free(json);
	free(path);
	return rc;
}

/* ---- the order in flight ---- */

int
store_order_created(struct store *s, const char *name, struct cert_state *st,
    const char *order_url, char *err, size_t errlen)
{
	free(st->order_url);
	st->order_url = xstrdup(order_url);
	st->order_finalized = false;
	st->order_started = time(NULL);
	return store_cert_save(s, name, st, err, errlen);
}

int
store_order_finalized(struct store *s, const char *name, struct cert_state *st, char *err,
    size_t errlen)
{
	st->order_finalized = true;
	return store_cert_save(s, name, st, err, errlen);
}

void
store_order_forget(struct store *s, const char *name, struct cert_state *st)
{
	char err[256];

	free(st->order_url);
	st->order_url = NULL;
	st->order_finalized = false;
	st->order_started = 0;
	if (store_cert_save(s, name, st, err, sizeof(err)) < 0)
		log_err("%s: %s", name, err);
	store_order_key_remove(s, name);
}
