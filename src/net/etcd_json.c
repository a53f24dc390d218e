/*
 * etcd_json.c - etcd's v3 JSON gateway, both ways: the request bodies the
 * client sends and the answers it reads.
 *
 * The gateway is grpc-gateway over proto3, so every answer is read the
 * proto3 JSON way: bytes are standard base64, int64 and uint64 are quoted
 * decimal strings (numbers are accepted too), and any field at its default
 * (0, false, "", an empty list, the first enum value) is simply absent.  A
 * missing field is therefore never an error here but its default: no
 * "kvs" is an empty range, no "succeeded" a failed compare, no "TTL" in a
 * keepalive answer a lease that is gone, no "type" a PUT event.
 *
 * Errors come in two shapes: a unary call's {"error":..., "code":N,
 * "message":...} with an HTTP status, and a stream's
 * {"error":{"grpc_code":N, "http_code":N, "message":...}} (a keepalive or
 * watch answer).  Both become one line and a gRPC code, and "unavailable"
 * when another member or a later try may succeed.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "etcd_internal.h"
#include "json.h"
#include "util.h"

/* gRPC status codes etcd answers with. */
#define GRPC_DEADLINE_EXCEEDED 4
#define GRPC_UNAVAILABLE 14

/* ---- request bodies ---- */

static void
set_bytes(struct json *o, const char *name, const void *data, size_t len)
{
	char *e = b64_encode(data, len);

	json_set_str(o, name, e);
	free(e);
}

/* int64 fields go as strings: a double would lose lease IDs' low bits. */
static void
set_i64(struct json *o, const char *name, long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	json_set_str(o, name, num);
}

static char *
print_free(struct json *j)
{
	char *s = json_print(j);

	json_free(j);
	return s;
}

char *
etcd_prefix_end(const char *key, size_t *len)
{
	size_t n = strlen(key);
	char *end = xmalloc(n + 1);

	memcpy(end, key, n + 1);
	while (n > 0 && (unsigned char)end[n - 1] == 0xff)
		n--;
	if (n == 0) {
		end[0] = '\0';
		*len = 1;
		return end;
	}
	end[n - 1] = (char)((unsigned char)end[n - 1] + 1);
	end[n] = '\0';
	*len = n;
	return end;
}

/* key and, for a prefix, range_end.  An empty key with prefix means
 * every key: key and range_end both "\0". */
static void
set_key_range(struct json *o, const char *key, bool prefix)
{
	if (prefix && key[0] == '\0') {
		set_bytes(o, "key", "", 1);
		set_bytes(o, "range_end", "", 1);
		return;
	}
	set_bytes(o, "key", key, strlen(key));
	if (prefix) {
		size_t n;
		char *end = etcd_prefix_end(key, &n);

		set_bytes(o, "range_end", end, n);
		free(end);
	}
}

char *
etcd_json_range(const char *key, bool prefix)
{
	struct json *o = json_new_object();

	set_key_range(o, key, prefix);
	return print_free(o);
}

static void
set_put(struct json *o, const char *key, const void *value, size_t len, long long lease)
{
	set_bytes(o, "key", key, strlen(key));
	set_bytes(o, "value", value ? value : "", value ? len : 0);
	if (lease != 0)
		set_i64(o, "lease", lease);
}

char *
etcd_json_put(const char *key, const void *value, size_t len, long long lease)
{
	struct json *o = json_new_object();

	set_put(o, key, value, len, lease);
	return print_free(o);
}

char *
etcd_json_delete(const char *key, bool prefix)
{
	return etcd_json_range(key, prefix);
}

static const char *const cmp_targets[] = {
	[ETCD_CMP_CREATE] = "CREATE", [ETCD_CMP_MOD] = "MOD", [ETCD_CMP_VERSION] = "VERSION",
	[ETCD_CMP_VALUE] = "VALUE", [ETCD_CMP_LEASE] = "LEASE",
};
static const char *const cmp_fields[] = {
	[ETCD_CMP_CREATE] = "create_revision", [ETCD_CMP_MOD] = "mod_revision",
	[ETCD_CMP_VERSION] = "version", [ETCD_CMP_VALUE] = "value", [ETCD_CMP_LEASE] = "lease",
};
static const char *const cmp_results[] = {
	[ETCD_CMP_EQUAL] = "EQUAL", [ETCD_CMP_NOT_EQUAL] = "NOT_EQUAL",
	[ETCD_CMP_GREATER] = "GREATER", [ETCD_CMP_LESS] = "LESS",
};

static void
add_ops(struct json *txn, const char *name, const struct etcd_txn_op *ops, size_t n)
{
	struct json *a;

	if (n == 0)
		return;
	a = json_set_array(txn, name);
	for (size_t i = 0; i < n; i++) {
		struct json *w = json_new_object(), *r;

		switch (ops[i].type) {
		case ETCD_TXN_PUT:
			r = json_set_object(w, "request_put");
			set_put(r, ops[i].key, ops[i].value, ops[i].value_len, ops[i].lease);
			break;
		case ETCD_TXN_DELETE:
			r = json_set_object(w, "request_delete_range");
			set_key_range(r, ops[i].key, ops[i].prefix);
			break;
		case ETCD_TXN_RANGE:
		default:
			r = json_set_object(w, "request_range");
			set_key_range(r, ops[i].key, ops[i].prefix);
			break;
		}
		json_push(a, w);
	}
}

char *
etcd_json_txn(const struct etcd_txn *t)
{
	struct json *o = json_new_object(), *cmp;

	if (t->ncmp > 0) {
		cmp = json_set_array(o, "compare");
		for (size_t i = 0; i < t->ncmp; i++) {
			const struct etcd_cmp *c = &t->cmp[i];
			struct json *j = json_new_object();
			unsigned target = (unsigned)c->target, result = (unsigned)c->result;

			if (target >= ARRAY_SIZE(cmp_targets))
				target = ETCD_CMP_VERSION;
			if (result >= ARRAY_SIZE(cmp_results))
				result = ETCD_CMP_EQUAL;
			set_bytes(j, "key", c->key, strlen(c->key));
			json_set_str(j, "target", cmp_targets[target]);
			json_set_str(j, "result", cmp_results[result]);
			if (target == ETCD_CMP_VALUE)
				set_bytes(j, "value", c->value ? c->value : "",
				    c->value ? c->value_len : 0);
			else
				set_i64(j, cmp_fields[target], c->num);
			json_push(cmp, j);
		}
	}
	add_ops(o, "success", t->success, t->nsuccess);
	add_ops(o, "failure", t->failure, t->nfailure);
	return print_free(o);
}

char *
etcd_json_lease_grant(long long ttl)
{
	struct json *o = json_new_object();

	set_i64(o, "TTL", ttl);
	return print_free(o);
}

char *
etcd_json_lease_id(long long id)
{
	struct json *o = json_new_object();

	set_i64(o, "ID", id);
	return print_free(o);
}

char *
etcd_json_auth(const char *name, const char *password)
{
	struct json *o = json_new_object();
	const char *p;
	char *s;

	json_set_str(o, "name", name);
	json_set_str(o, "password", password);
	s = json_print(o);
	/* cJSON's copy of the password goes with the tree: wipe it first. */
	p = json_get_str(o, "password");
	if (p)
		explicit_bzero((char *)p, strlen(p));
	json_free(o);
	return s;
}

char *
etcd_json_watch_create(const char *prefix, long long start_revision)
{
	struct json *o = json_new_object(), *cr = json_set_object(o, "create_request");

	set_key_range(cr, prefix, true);
	if (start_revision > 0)
		set_i64(cr, "start_revision", start_revision);
	json_set_bool(cr, "progress_notify", true);
	return print_free(o);
}

/* ---- reading answers ---- */

/* An int64 field: absent is 0; a quoted decimal (proto3) or a number. */
static int
get_i64(const struct json *o, const char *name, long long *out)
{
	const struct json *v = json_get(o, name);
	const char *s;
	char *end;
	long long n;

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_number(v)) {
		double d = json_num(v);
		if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
			return -1;
		*out = (long long)d;
		return 0;
	}
	if ((s = json_str(v)) == NULL || *s == '\0')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = n;
	return 0;
}

/* A bytes field: absent is empty.  *out NUL-terminated, caller frees. */
static int
get_bytes(const struct json *o, const char *name, char **out, size_t *len)
{
	const struct json *v = json_get(o, name);
	unsigned char *d = NULL;

	*out = NULL;
	*len = 0;
	if (v == NULL || json_is_null(v)) {
		*out = xstrdup("");
		return 0;
	}
	if (!json_is_string(v) || b64_decode(json_str(v), &d, len) < 0)
		return -1;
	*out = (char *)d;
	return 0;
}

static void
kv_clear(struct etcd_kv *kv)
{
	free(kv->key);
	/* Values may be encrypted keys: wiped all the same. */
	if (kv->value)
		free_secret(kv->value, kv->value_len + 1);
	memset(kv, 0, sizeof(*kv));
}

static int
parse_kv(const struct json *j, struct etcd_kv *kv)
{
	size_t klen;

	memset(kv, 0, sizeof(*kv));
	if (!json_is_object(j))
		return -1;
	if (get_bytes(j, "key", &kv->key, &klen) < 0 || strlen(kv->key) != klen ||
	    get_bytes(j, "value", &kv->value, &kv->value_len) < 0 ||
	    get_i64(j, "create_revision", &kv->create_revision) < 0 ||
	    get_i64(j, "mod_revision", &kv->mod_revision) < 0 ||
	    get_i64(j, "version", &kv->version) < 0 || get_i64(j, "lease", &kv->lease) < 0) {
		kv_clear(kv);
		return -1;
	}
	return 0;
}

static int
parse_kvs(const struct json *o, struct etcd_kv **kvs, size_t *n)
{
	const struct json *a = json_get(o, "kvs"), *it;
	size_t i = 0;

	*kvs = NULL;
	*n = 0;
	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return -1;
	*kvs = xcalloc(json_size(a) + 1, sizeof(**kvs));
	JSON_FOREACH(it, a) {
		if (parse_kv(it, &(*kvs)[i]) < 0) {
			*n = i;
			return -1;
		}
		i++;
	}
	*n = i;
	return 0;
}

static int
header_revision(const struct json *o, long long *rev)
{
	const struct json *h = json_get(o, "header");

	*rev = 0;
	if (h == NULL)
		return 0;
	return get_i64(h, "revision", rev);
}

bool
etcd_auth_error(int code, const char *message)
{
	return code == 16 || (message != NULL &&
	    (strstr(message, "invalid auth token") != NULL ||
	    strstr(message, "user name is empty") != NULL ||
	    strstr(message, "auth store is old") != NULL ||
	    strstr(message, "Unauthenticated") != NULL));
}

static bool
is_unavailable(long status, int code, const char *message)
{
	return status == 0 || status >= 500 || code == GRPC_UNAVAILABLE ||
	    code == GRPC_DEADLINE_EXCEEDED || (message != NULL &&
	    (strstr(message, "no leader") != NULL || strstr(message, "leader changed") != NULL ||
	    strstr(message, "unavailable") != NULL || strstr(message, "timed out") != NULL));
}

/*
 * An error answer in either shape, into error, code and unavailable.  true
 * when j is one.  A 200 answer with a plain "error" string and no "code" is
 * not one: LeaseGrantResponse has an "error" field of its own.
 */
static bool
read_error(const struct json *j, long status, char **error, int *code, bool *unavailable)
{
	const struct json *e = json_get(j, "error");
	const char *msg = NULL;
	long long c = 0;

	if (json_is_object(e)) {
		msg = json_get_str(e, "message");
		(void)get_i64(e, "grpc_code", &c);
		if (status == 200 || status == 0) {
			long long hc = 0;
			(void)get_i64(e, "http_code", &hc);
			if (hc > 0)
				status = (long)hc;
			else if (status == 0)
				status = 200;
		}
	} else if (status != 200 || (json_is_string(e) && json_get(j, "code") != NULL)) {
		msg = json_get_str(j, "message");
		if (msg == NULL)
			msg = json_get_str(e, "error");
		if (msg == NULL)
			msg = json_str(e);
		(void)get_i64(j, "code", &c);
	} else {
		return false;
	}
	*code = (int)c;
	*unavailable = is_unavailable(status, *code, msg);
	*error = msg && *msg ? xstrdup(msg) : xasprintf("HTTP status %ld", status);
	return true;
}

void
etcd_result_clear(struct etcd_result *r)
{
	free(r->error);
	for (size_t i = 0; i < r->nkvs; i++)
		kv_clear(&r->kvs[i]);
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

static int
parse_txn(const struct json *o, struct etcd_result *out)
{
	const struct json *resps = json_get(o, "responses"), *it;
	bool have_range = false, have_delete = false;

	out->succeeded = json_is_true(json_get(o, "succeeded"));
	JSON_FOREACH(it, resps) {
		const struct json *r;

		if (!have_range && (r = json_get(it, "response_range")) != NULL) {
			have_range = true;
			if (parse_kvs(r, &out->kvs, &out->nkvs) < 0)
				return -1;
		} else if (!have_delete && (r = json_get(it, "response_delete_range")) != NULL) {
			have_delete = true;
			if (get_i64(r, "deleted", &out->deleted) < 0)
				return -1;
		}
	}
	return 0;
}

int
etcd_parse_answer(enum etcd_call call, long status, const char *body, size_t len,
    struct etcd_result *out)
{
	struct json *root = NULL;
	const struct json *o;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (body == NULL || len == 0 || (root = json_parse(body, len, NULL)) == NULL ||
	    !json_is_object(root)) {
		out->unavailable = is_unavailable(status, 0, NULL);
		out->error = status == 200 ? xstrdup("answer is not a JSON object") :
		    xasprintf("HTTP status %ld%s", status, len ? ", answer not JSON" : "");
		goto out;
	}
	if (read_error(root, status, &out->error, &out->code, &out->unavailable))
		goto out;
	/* A keepalive answer is a stream of one message. */
	o = root;
	if (call == ETCD_CALL_LEASE_KEEPALIVE && json_is_object(json_get(root, "result")))
		o = json_get(root, "result");
	if (header_revision(o, &out->revision) < 0)
		goto bad;
	switch (call) {
	case ETCD_CALL_RANGE:
		if (parse_kvs(o, &out->kvs, &out->nkvs) < 0)
			goto bad;
		break;
	case ETCD_CALL_DELETE:
		if (get_i64(o, "deleted", &out->deleted) < 0)
			goto bad;
		break;
	case ETCD_CALL_TXN:
		if (parse_txn(o, out) < 0)
			goto bad;
		break;
	case ETCD_CALL_LEASE_GRANT: {
		const char *e = json_get_str(o, "error");
		if (e && *e) {
			out->error = xstrdup(e);
			goto out;
		}
		if (get_i64(o, "ID", &out->lease_id) < 0 || get_i64(o, "TTL", &out->ttl) < 0)
			goto bad;
		break;
	}
	case ETCD_CALL_LEASE_KEEPALIVE:
		/* No TTL: the lease has expired or was revoked. */
		if (get_i64(o, "ID", &out->lease_id) < 0 || get_i64(o, "TTL", &out->ttl) < 0)
			goto bad;
		if (out->ttl < 0)
			out->ttl = 0;
		break;
	case ETCD_CALL_PUT:
	case ETCD_CALL_LEASE_REVOKE:
	case ETCD_CALL_AUTH:
		break;
	default:
		out->error = xstrdup("unknown call");
		goto out;
	}
	out->ok = true;
	rc = 0;
	goto out;
bad:
	etcd_result_clear(out);
	out->error = xstrdup("malformed answer");
out:
	json_free(root);
	return rc;
}

char *
etcd_json_token(const char *body, size_t len)
{
	struct json *root = json_parse(body, len, NULL);
	const char *t = json_get_str(root, "token");
	char *tok = t && *t ? xstrdup(t) : NULL;

	json_free(root);
	return tok;
}

/* ---- watch messages ---- */

void
etcd_watch_msg_clear(struct etcd_watch_msg *m)
{
	for (size_t i = 0; i < m->nevents; i++)
		kv_clear(&m->kvs[i]);
	free(m->kvs);
	free(m->events);
	free(m->cancel_reason);
	free(m->error);
	memset(m, 0, sizeof(*m));
}

static int
parse_events(const struct json *a, struct etcd_watch_msg *m)
{
	const struct json *it;
	size_t n = json_size(a);

	if (a == NULL || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return -1;
	m->events = xcalloc(n + 1, sizeof(*m->events));
	m->kvs = xcalloc(n + 1, sizeof(*m->kvs));
	JSON_FOREACH(it, a) {
		const char *type = json_get_str(it, "type");
		struct etcd_event *ev = &m->events[m->nevents];

		if (type == NULL || strcmp(type, "PUT") == 0)
			ev->type = ETCD_EVENT_PUT;
		else if (strcmp(type, "DELETE") == 0)
			ev->type = ETCD_EVENT_DELETE;
		else
			return -1;
		if (parse_kv(json_get(it, "kv"), &m->kvs[m->nevents]) < 0)
			return -1;
		ev->kv = &m->kvs[m->nevents];
		m->nevents++;
	}
	return 0;
}

int
etcd_parse_watch_message(const char *msg, size_t len, struct etcd_watch_msg *out)
{
	struct json *root = NULL;
	const struct json *r;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((root = json_parse(msg, len, NULL)) == NULL || !json_is_object(root)) {
		out->error = xstrdup("watch message is not a JSON object");
		goto out;
	}
	if (read_error(root, 200, &out->error, &out->code, &out->unavailable)) {
		rc = 0;
		goto out;
	}
	if (!json_is_object(r = json_get(root, "result")))
		goto bad;
	out->created = json_is_true(json_get(r, "created"));
	out->canceled = json_is_true(json_get(r, "canceled"));
	out->cancel_reason = xstrdup(json_get_str(r, "cancel_reason"));
	if (header_revision(r, &out->revision) < 0 ||
	    get_i64(r, "compact_revision", &out->compact_revision) < 0 ||
	    parse_events(json_get(r, "events"), out) < 0)
		goto bad;
	rc = 0;
	goto out;
bad:
	etcd_watch_msg_clear(out);
	out->error = xstrdup("malformed watch message");
out:
	json_free(root);
	return rc;
}
