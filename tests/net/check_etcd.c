/*
 * check_etcd.c - unit tests for etcd_json.c and etcd_watch.c's splitter:
 * the gateway's answers as etcd 3.4 writes them (fields at their default
 * left out), its two error shapes, the request bodies (base64 keys, int64
 * as strings, prefix range ends), watch messages, and the stream splitter
 * fed in every way a chunked stream can cut it.  The answers below were
 * taken from a real etcd 3.4.23; tests/integration/t_96_etcd.sh runs the
 * client against a real cluster.
 */
#include <string.h>

#include <ev.h>

#include "b64.h"
#include "etcd.h"
#include "etcd_internal.h"
#include "json.h"
#include "log.h"
#include "testutil.h"
#include "util.h"

#define HDR "\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":" \
	"\"3319814642761637952\",\"revision\":\"7\",\"raft_term\":\"2\"}"

static int
parse(enum etcd_call call, long status, const char *body, struct etcd_result *r)
{
	return etcd_parse_answer(call, status, body, strlen(body), r);
}

/* ---- answers ---- */

START_TEST(test_range_empty)
{
	struct etcd_result r;

	/* No "kvs", no "count": an empty range. */
	ck_assert_int_eq(parse(ETCD_CALL_RANGE, 200, "{" HDR "}", &r), 0);
	ck_assert(r.ok);
	ck_assert_ptr_null(r.error);
	ck_assert_int_eq(r.revision, 7);
	ck_assert_uint_eq(r.nkvs, 0);
	etcd_result_clear(&r);
}
END_TEST

START_TEST(test_range_kvs)
{
	struct etcd_result r;
	/* "foo"="bar", a key with a value left out (empty), a binary value. */
	const char *body = "{" HDR ",\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\","
	    "\"mod_revision\":\"5\",\"version\":\"3\",\"value\":\"YmFy\","
	    "\"lease\":\"2324035758644483345\"},"
	    "{\"key\":\"Zm9vMQ==\",\"create_revision\":\"7\",\"mod_revision\":\"7\","
	    "\"version\":\"1\"},"
	    "{\"key\":\"L2NlcnRmbGVldC9jZXJ0cy93d3cva2V5\",\"value\":\"AP8ACg==\","
	    "\"mod_revision\":6}],\"count\":\"3\"}";

	ck_assert_int_eq(parse(ETCD_CALL_RANGE, 200, body, &r), 0);
	ck_assert_uint_eq(r.nkvs, 3);
	ck_assert_str_eq(r.kvs[0].key, "foo");
	ck_assert_uint_eq(r.kvs[0].value_len, 3);
	ck_assert_str_eq(r.kvs[0].value, "bar");
	ck_assert_int_eq(r.kvs[0].create_revision, 2);
	ck_assert_int_eq(r.kvs[0].mod_revision, 5);
	ck_assert_int_eq(r.kvs[0].version, 3);
	/* Beyond a double's 53 bits: read as a string, exact. */
	ck_assert(r.kvs[0].lease == 2324035758644483345LL);
	ck_assert_str_eq(r.kvs[1].key, "foo1");
	ck_assert_uint_eq(r.kvs[1].value_len, 0);
	ck_assert_str_eq(r.kvs[1].value, "");
	ck_assert_int_eq(r.kvs[1].lease, 0);
	ck_assert_str_eq(r.kvs[2].key, "/certfleet/certs/www/key");
	ck_assert_uint_eq(r.kvs[2].value_len, 4);
	ck_assert_int_eq(memcmp(r.kvs[2].value, "\0\xff\0\n", 4), 0);
	ck_assert_int_eq(r.kvs[2].value[4], '\0');
	/* A plain number is accepted where a string is expected. */
	ck_assert_int_eq(r.kvs[2].mod_revision, 6);
	ck_assert_int_eq(r.kvs[2].create_revision, 0);
	etcd_result_clear(&r);
}
END_TEST

START_TEST(test_range_malformed)
{
	static const char *const bad[] = {
		"{" HDR ",\"kvs\":[{\"key\":\"not base64!\"}]}",
		"{" HDR ",\"kvs\":[{\"key\":\"Zm9v\",\"value\":\"Zm9\"}]}",
		"{" HDR ",\"kvs\":[{\"key\":\"Zm9v\",\"version\":\"1x\"}]}",
		"{" HDR ",\"kvs\":{\"key\":\"Zm9v\"}}",
		"{" HDR ",\"kvs\":[{\"key\":\"AGE=\"}]}",       /* a NUL inside a key */
		"{\"header\":{\"revision\":true}}",
		"[1,2]",
		"not json",
		"",
	};
	struct etcd_result r;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ck_assert_msg(parse(ETCD_CALL_RANGE, 200, bad[i], &r) == -1, "accepted %s", bad[i]);
		ck_assert(!r.ok);
		ck_assert_ptr_nonnull(r.error);
		ck_assert(!r.unavailable);
		ck_assert_uint_eq(r.nkvs, 0);
		etcd_result_clear(&r);
	}
}
END_TEST

START_TEST(test_txn)
{
	struct etcd_result r;

	/* The lock taken: "succeeded", a put's answer. */
	ck_assert_int_eq(parse(ETCD_CALL_TXN, 200, "{" HDR ",\"succeeded\":true,"
	    "\"responses\":[{\"response_put\":{\"header\":{\"revision\":\"3\"}}}]}", &r), 0);
	ck_assert(r.ok);
	ck_assert(r.succeeded);
	ck_assert_uint_eq(r.nkvs, 0);
	etcd_result_clear(&r);
	/* The lock held by another: no "succeeded"; the failure branch's range. */
	ck_assert_int_eq(parse(ETCD_CALL_TXN, 200, "{" HDR ",\"responses\":[{\"response_range\":"
	    "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"Zm9v\",\"create_revision\":\"2\","
	    "\"mod_revision\":\"2\",\"version\":\"1\",\"value\":\"YmFy\",\"lease\":\"77\"}],"
	    "\"count\":\"1\"}}]}", &r), 0);
	ck_assert(r.ok);
	ck_assert(!r.succeeded);
	ck_assert_int_eq(r.revision, 7);
	ck_assert_uint_eq(r.nkvs, 1);
	ck_assert_str_eq(r.kvs[0].value, "bar");
	ck_assert_int_eq(r.kvs[0].lease, 77);
	etcd_result_clear(&r);
	/* A failed compare without operations: nothing but the header. */
	ck_assert_int_eq(parse(ETCD_CALL_TXN, 200, "{" HDR "}", &r), 0);
	ck_assert(r.ok);
	ck_assert(!r.succeeded);
	etcd_result_clear(&r);
	/* The first range and the first delete are reported. */
	ck_assert_int_eq(parse(ETCD_CALL_TXN, 200, "{" HDR ",\"succeeded\":true,\"responses\":["
	    "{\"response_delete_range\":{\"deleted\":\"4\"}},{\"response_range\":{}},"
	    "{\"response_delete_range\":{\"deleted\":\"9\"}},"
	    "{\"response_range\":{\"kvs\":[{\"key\":\"YQ==\"}]}}]}", &r), 0);
	ck_assert_int_eq(r.deleted, 4);
	ck_assert_uint_eq(r.nkvs, 0);
	etcd_result_clear(&r);
}
END_TEST

START_TEST(test_delete_and_put)
{
	struct etcd_result r;

	ck_assert_int_eq(parse(ETCD_CALL_DELETE, 200, "{" HDR ",\"deleted\":\"1\"}", &r), 0);
	ck_assert_int_eq(r.deleted, 1);
	etcd_result_clear(&r);
	/* Nothing deleted: no "deleted". */
	ck_assert_int_eq(parse(ETCD_CALL_DELETE, 200, "{" HDR "}", &r), 0);
	ck_assert(r.ok);
	ck_assert_int_eq(r.deleted, 0);
	etcd_result_clear(&r);
	ck_assert_int_eq(parse(ETCD_CALL_PUT, 200, "{" HDR "}", &r), 0);
	ck_assert(r.ok);
	ck_assert_int_eq(r.revision, 7);
	etcd_result_clear(&r);
}
END_TEST

START_TEST(test_leases)
{
	struct etcd_result r;

	ck_assert_int_eq(parse(ETCD_CALL_LEASE_GRANT, 200, "{" HDR ","
	    "\"ID\":\"2324035758644483338\","
	    "\"TTL\":\"30\"}", &r), 0);
	ck_assert(r.lease_id == 2324035758644483338LL);
	ck_assert_int_eq(r.ttl, 30);
	etcd_result_clear(&r);
	/* LeaseGrantResponse's own "error" field (no "code"): an error. */
	ck_assert_int_eq(parse(ETCD_CALL_LEASE_GRANT, 200, "{" HDR ",\"error\":\"lease exists\"}",
	    &r), -1);
	ck_assert_str_eq(r.error, "lease exists");
	etcd_result_clear(&r);
	/* A keepalive answer is a stream message, with its TTL... */
	ck_assert_int_eq(parse(ETCD_CALL_LEASE_KEEPALIVE, 200, "{\"result\":{" HDR ","
	    "\"ID\":\"2324035758644483345\",\"TTL\":\"30\"}}\n", &r), 0);
	ck_assert(r.ok);
	ck_assert_int_eq(r.ttl, 30);
	ck_assert_int_eq(r.revision, 7);
	ck_assert(r.lease_id == 2324035758644483345LL);
	etcd_result_clear(&r);
	/* ...and without one when the lease has expired or was revoked. */
	ck_assert_int_eq(parse(ETCD_CALL_LEASE_KEEPALIVE, 200, "{\"result\":{" HDR ","
	    "\"ID\":\"2324035758644483345\"}}\n", &r), 0);
	ck_assert(r.ok);
	ck_assert_int_eq(r.ttl, 0);
	etcd_result_clear(&r);
	ck_assert_int_eq(parse(ETCD_CALL_LEASE_KEEPALIVE, 200, "{\"result\":{" HDR ","
	    "\"ID\":\"5\",\"TTL\":\"-1\"}}", &r), 0);
	ck_assert_int_eq(r.ttl, 0);
	etcd_result_clear(&r);
	ck_assert_int_eq(parse(ETCD_CALL_LEASE_REVOKE, 200, "{" HDR "}", &r), 0);
	ck_assert(r.ok);
	etcd_result_clear(&r);
}
END_TEST

START_TEST(test_errors)
{
	static const struct {
		enum etcd_call call;
		long status;
		const char *body;
		const char *error;
		int code;
		bool unavailable;
	} v[] = {
		{ETCD_CALL_LEASE_REVOKE, 404, "{\"error\":\"etcdserver: requested lease not "
		    "found\","
		    "\"message\":\"etcdserver: requested lease not found\",\"code\":5}",
		    "etcdserver: requested lease not found", 5, false},
		{ETCD_CALL_RANGE, 400, "{\"error\":\"etcdserver: mvcc: required revision has been "
		    "compacted\",\"message\":\"etcdserver: mvcc: required revision has been "
		    "compacted\",\"code\":11}",
		    "etcdserver: mvcc: required revision has been compacted", 11, false},
		{ETCD_CALL_PUT, 503, "{\"error\":\"etcdserver: no leader\",\"message\":"
		    "\"etcdserver: no leader\",\"code\":14}", "etcdserver: no leader", 14, true},
		{ETCD_CALL_TXN, 503, "{\"error\":\"etcdserver: request timed out\",\"message\":"
		    "\"etcdserver: request timed out\",\"code\":14}",
		    "etcdserver: request timed out", 14, true},
		{ETCD_CALL_RANGE, 401, "{\"error\":\"etcdserver: invalid auth token\",\"message\":"
		    "\"etcdserver: invalid auth token\",\"code\":16}",
		    "etcdserver: invalid auth token", 16, false},
		{ETCD_CALL_AUTH, 400, "{\"error\":\"etcdserver: authentication failed, invalid "
		    "user ID or password\",\"message\":\"etcdserver: authentication failed, "
		    "invalid user ID or password\",\"code\":3}",
		    "etcdserver: authentication failed, invalid user ID or password", 3, false},
		/* The stream shape, in a keepalive answer. */
		{ETCD_CALL_LEASE_KEEPALIVE, 200, "{\"error\":{\"grpc_code\":14,\"http_code\":503,"
		    "\"message\":\"etcdserver: no leader\","
		    "\"http_status\":\"Service Unavailable\"}}",
		    "etcdserver: no leader", 14, true},
		/* A proxy's page, an error without a message. */
		{ETCD_CALL_RANGE, 502, "<html>Bad Gateway</html>",
		    "HTTP status 502, answer not JSON", 0, true},
		{ETCD_CALL_RANGE, 500, "{}", "HTTP status 500", 0, true},
		{ETCD_CALL_RANGE, 404, "", "HTTP status 404", 0, false},
	};
	struct etcd_result r;

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		ck_assert_int_eq(parse(v[i].call, v[i].status, v[i].body, &r), -1);
		ck_assert(!r.ok);
		ck_assert_str_eq(r.error, v[i].error);
		ck_assert_int_eq(r.code, v[i].code);
		ck_assert_msg(r.unavailable == v[i].unavailable, "%s: unavailable %d", v[i].body,
		    r.unavailable);
		etcd_result_clear(&r);
	}
	ck_assert(etcd_auth_error(16, "etcdserver: invalid auth token"));
	ck_assert(etcd_auth_error(3, "etcdserver: user name is empty"));
	ck_assert(etcd_auth_error(3, "etcdserver: revision of auth store is old"));
	ck_assert(!etcd_auth_error(3, "etcdserver: authentication failed, invalid user ID or "
	    "password"));
	ck_assert(!etcd_auth_error(14, "etcdserver: no leader"));
}
END_TEST

START_TEST(test_auth_token)
{
	const char *body = "{" HDR ",\"token\":\"GflBNUIaRSiDLKcd.25\"}";
	struct etcd_result r;
	char *tok;

	ck_assert_int_eq(parse(ETCD_CALL_AUTH, 200, body, &r), 0);
	etcd_result_clear(&r);
	tok = etcd_json_token(body, strlen(body));
	ck_assert_str_eq(tok, "GflBNUIaRSiDLKcd.25");
	free_secret_str(tok);
	ck_assert_ptr_null(etcd_json_token("{" HDR "}", strlen("{" HDR "}")));
}
END_TEST

/* ---- request bodies ---- */

/* The base64 member name of o, decoded (caller frees). */
static char *
decoded(const struct json *o, const char *name, size_t *len)
{
	unsigned char *d = NULL;

	ck_assert_msg(b64_decode(json_get_str(o, name), &d, len) == 0, "%s not base64", name);
	return (char *)d;
}

START_TEST(test_bodies_keys)
{
	char *s = etcd_json_range("/certfleet/certs/", true), *k, *e;
	struct json *j = json_parse(s, strlen(s), NULL);
	size_t n;

	k = decoded(j, "key", &n);
	ck_assert_str_eq(k, "/certfleet/certs/");
	e = decoded(j, "range_end", &n);
	ck_assert_str_eq(e, "/certfleet/certs0");
	free(k);
	free(e);
	json_free(j);
	free(s);
	/* A single key has no range_end. */
	s = etcd_json_range("/certfleet/locks/www", false);
	j = json_parse(s, strlen(s), NULL);
	ck_assert_ptr_null(json_get(j, "range_end"));
	ck_assert_str_eq(json_get_str(j, "key"), "L2NlcnRmbGVldC9sb2Nrcy93d3c=");
	json_free(j);
	free(s);
	/* Everything: key and range_end a NUL byte. */
	s = etcd_json_delete("", true);
	ck_assert_str_eq(s, "{\"key\":\"AA==\",\"range_end\":\"AA==\"}");
	free(s);
	/* A put: value base64, lease a string, no lease when 0. */
	s = etcd_json_put("a", "\0\xff", 2, 2324035758644483345LL);
	ck_assert_str_eq(s, "{\"key\":\"YQ==\",\"value\":\"AP8=\","
	    "\"lease\":\"2324035758644483345\"}");
	free(s);
	s = etcd_json_put("a", "", 0, 0);
	ck_assert_str_eq(s, "{\"key\":\"YQ==\",\"value\":\"\"}");
	free(s);
}
END_TEST

START_TEST(test_prefix_end)
{
	size_t n;
	char *e;

	e = etcd_prefix_end("abc", &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(e, "abd");
	free(e);
	e = etcd_prefix_end("a\xff\xff", &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(e, "b");
	free(e);
	e = etcd_prefix_end("\xff", &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(e[0], '\0');
	free(e);
}
END_TEST

START_TEST(test_bodies_txn_lease_watch)
{
	const struct etcd_cmp cmp[] = {
		{.key = "/l/www", .target = ETCD_CMP_CREATE, .result = ETCD_CMP_EQUAL, .num = 0},
		{.key = "/l/www", .target = ETCD_CMP_VALUE, .result = ETCD_CMP_NOT_EQUAL,
		    .value = "x", .value_len = 1},
		{.key = "/l/www", .target = ETCD_CMP_LEASE, .result = ETCD_CMP_GREATER, .num = 9},
	};
	const struct etcd_txn_op ok[] = {
		{.type = ETCD_TXN_PUT, .key = "/l/www", .value = "me", .value_len = 2, .lease = 42},
		{.type = ETCD_TXN_DELETE, .key = "/c/", .prefix = true},
	};
	const struct etcd_txn_op ko[] = {{.type = ETCD_TXN_RANGE, .key = "/l/www"}};
	const struct etcd_txn t = {cmp, 3, ok, 2, ko, 1};
	char *s = etcd_json_txn(&t);

	ck_assert_str_eq(s, "{\"compare\":["
	    "{\"key\":\"L2wvd3d3\",\"target\":\"CREATE\",\"result\":\"EQUAL\","
	    "\"create_revision\":\"0\"},"
	    "{\"key\":\"L2wvd3d3\",\"target\":\"VALUE\",\"result\":\"NOT_EQUAL\","
	    "\"value\":\"eA==\"},"
	    "{\"key\":\"L2wvd3d3\",\"target\":\"LEASE\",\"result\":\"GREATER\",\"lease\":\"9\"}],"
	    "\"success\":[{\"request_put\":{\"key\":\"L2wvd3d3\",\"value\":\"bWU=\","
	    "\"lease\":\"42\"}},"
	    "{\"request_delete_range\":{\"key\":\"L2Mv\",\"range_end\":\"L2Mw\"}}],"
	    "\"failure\":[{\"request_range\":{\"key\":\"L2wvd3d3\"}}]}");
	free(s);
	s = etcd_json_lease_grant(30);
	ck_assert_str_eq(s, "{\"TTL\":\"30\"}");
	free(s);
	s = etcd_json_lease_id(2324035758644483345LL);
	ck_assert_str_eq(s, "{\"ID\":\"2324035758644483345\"}");
	free(s);
	s = etcd_json_watch_create("/c/", 0);
	ck_assert_str_eq(s, "{\"create_request\":{\"key\":\"L2Mv\",\"range_end\":\"L2Mw\","
	    "\"progress_notify\":true}}");
	free(s);
	s = etcd_json_watch_create("/c/", 12);
	ck_assert_str_eq(s, "{\"create_request\":{\"key\":\"L2Mv\",\"range_end\":\"L2Mw\","
	    "\"start_revision\":\"12\",\"progress_notify\":true}}");
	free(s);
	s = etcd_json_auth("root", "pw\"");
	ck_assert_str_eq(s, "{\"name\":\"root\",\"password\":\"pw\\\"\"}");
	free_secret_str(s);
}
END_TEST

/* ---- watch messages ---- */

static void
watch_msg(const char *msg, struct etcd_watch_msg *m)
{
	ck_assert_msg(etcd_parse_watch_message(msg, strlen(msg), m) == 0, "rejected %s", msg);
}

START_TEST(test_watch_messages)
{
	struct etcd_watch_msg m;

	watch_msg("{\"result\":{" HDR ",\"created\":true}}", &m);
	ck_assert(m.created);
	ck_assert(!m.canceled);
	ck_assert_int_eq(m.revision, 7);
	ck_assert_uint_eq(m.nevents, 0);
	etcd_watch_msg_clear(&m);
	/* A PUT has no "type"; a DELETE's kv only its key and mod_revision. */
	watch_msg("{\"result\":{\"header\":{\"revision\":\"6\"},\"events\":["
	    "{\"kv\":{\"key\":\"Zm9vMQ==\",\"create_revision\":\"5\",\"mod_revision\":\"5\","
	    "\"version\":\"1\",\"value\":\"YQ==\"}},"
	    "{\"type\":\"DELETE\",\"kv\":{\"key\":\"Zm9vMQ==\",\"mod_revision\":\"6\"}}]}}", &m);
	ck_assert_uint_eq(m.nevents, 2);
	ck_assert_int_eq(m.events[0].type, ETCD_EVENT_PUT);
	ck_assert_str_eq(m.events[0].kv->key, "foo1");
	ck_assert_str_eq(m.events[0].kv->value, "a");
	ck_assert_int_eq(m.events[0].kv->mod_revision, 5);
	ck_assert_int_eq(m.events[1].type, ETCD_EVENT_DELETE);
	ck_assert_str_eq(m.events[1].kv->key, "foo1");
	ck_assert_int_eq(m.events[1].kv->mod_revision, 6);
	ck_assert_uint_eq(m.events[1].kv->value_len, 0);
	ck_assert_int_eq(m.revision, 6);
	etcd_watch_msg_clear(&m);
	/* Compacted away: canceled with the oldest revision left. */
	watch_msg("{\"result\":{\"header\":{\"cluster_id\":\"1\",\"raft_term\":\"2\"},"
	    "\"canceled\":true,\"compact_revision\":\"3\"}}", &m);
	ck_assert(m.canceled);
	ck_assert_int_eq(m.compact_revision, 3);
	ck_assert_int_eq(m.revision, 0);
	etcd_watch_msg_clear(&m);
	/* Canceled for a bad token, in the same message as created. */
	watch_msg("{\"result\":{" HDR ",\"watch_id\":\"-1\",\"created\":true,\"canceled\":true,"
	    "\"cancel_reason\":\"rpc error: code = Unauthenticated desc = etcdserver: invalid "
	    "auth token\"}}", &m);
	ck_assert(m.canceled);
	ck_assert(etcd_auth_error(0, m.cancel_reason));
	etcd_watch_msg_clear(&m);
	/* A progress notification: a header, nothing else. */
	watch_msg("{\"result\":{" HDR "}}", &m);
	ck_assert(!m.created && !m.canceled);
	ck_assert_uint_eq(m.nevents, 0);
	ck_assert_int_eq(m.revision, 7);
	etcd_watch_msg_clear(&m);
	/* A stream error. */
	watch_msg("{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"etcdserver: no "
	    "leader\",\"http_status\":\"Service Unavailable\"}}", &m);
	ck_assert_str_eq(m.error, "etcdserver: no leader");
	ck_assert_int_eq(m.code, 14);
	ck_assert(m.unavailable);
	etcd_watch_msg_clear(&m);
	/* Not watch messages. */
	ck_assert_int_eq(etcd_parse_watch_message("{\"x\":1}", 7, &m), -1);
	ck_assert_ptr_nonnull(m.error);
	etcd_watch_msg_clear(&m);
	{
		const char *patch = "{\"result\":{\"events\":[{\"type\":\"PATCH\","
		    "\"kv\":{\"key\":\"YQ==\"}}]}}";
		ck_assert_int_eq(etcd_parse_watch_message(patch, strlen(patch), &m), -1);
	}
	etcd_watch_msg_clear(&m);
	ck_assert_int_eq(etcd_parse_watch_message("{\"result\":", 10, &m), -1);
	etcd_watch_msg_clear(&m);
}
END_TEST

/* ---- the splitter ---- */

static void
line_cb(void *arg, const char *msg, size_t len)
{
	struct strlist *l = arg;
	char *s = xstrndup(msg, len);

	strlist_add(l, s);
	free(s);
}

#define M1 "{\"result\":{\"created\":true}}"
#define M2 "{\"result\":{\"events\":[{\"kv\":{\"key\":\"YQ==\"}}]}}"
#define M3 "{\"result\":{\"header\":{\"revision\":\"9\"}}}"

static void
assert_three(const struct strlist *l)
{
	ck_assert_uint_eq(l->n, 3);
	ck_assert_str_eq(l->v[0], M1);
	ck_assert_str_eq(l->v[1], M2);
	ck_assert_str_eq(l->v[2], M3);
}

START_TEST(test_split_several_in_one_chunk)
{
	struct etcd_splitter s = {0};
	struct strlist l = {0};
	const char *all = M1 "\n" M2 "\n\n" M3 "\n";

	ck_assert_int_eq(etcd_splitter_feed(&s, all, strlen(all), line_cb, &l), 0);
	assert_three(&l);
	ck_assert_uint_eq(s.len, 0);
	strlist_free(&l);
	etcd_splitter_clear(&s);
}
END_TEST

START_TEST(test_split_across_chunks)
{
	struct etcd_splitter s = {0};
	struct strlist l = {0};
	/* Cuts inside M2, right after a newline, inside M3 and before its newline;
	 * a CRLF line end. */
	const char *chunks[] = {M1 "\n{\"result\":{\"ev", "ents\":[{\"kv\":{\"key\":\"YQ==\"}}]}}",
		"\r\n", "{\"result\":{\"header\":", "{\"revision\":\"9\"}}}", "\n"};

	for (size_t i = 0; i < ARRAY_SIZE(chunks); i++) {
		ck_assert_int_eq(etcd_splitter_feed(&s, chunks[i], strlen(chunks[i]), line_cb, &l),
		    0);
		ck_assert_uint_eq(l.n, i == 0 ? 1 : i < 2 ? 1 : i < 5 ? 2 : 3);
	}
	assert_three(&l);
	strlist_free(&l);
	etcd_splitter_clear(&s);
}
END_TEST

START_TEST(test_split_byte_by_byte)
{
	struct etcd_splitter s = {0};
	struct strlist l = {0};
	const char *all = M1 "\n" M2 "\n" M3 "\n";

	for (size_t i = 0; all[i]; i++)
		ck_assert_int_eq(etcd_splitter_feed(&s, all + i, 1, line_cb, &l), 0);
	assert_three(&l);
	/* A partial message stays until its newline. */
	ck_assert_int_eq(etcd_splitter_feed(&s, "{\"par", 5, line_cb, &l), 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_uint_eq(s.len, 5);
	strlist_free(&l);
	etcd_splitter_clear(&s);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_ptr_null(s.buf);
}
END_TEST

START_TEST(test_split_too_long)
{
	struct etcd_splitter s = {.max = 16};
	struct strlist l = {0};

	/* Exactly max is fine, in one piece or two. */
	ck_assert_int_eq(etcd_splitter_feed(&s, "0123456789abcdef\n", 17, line_cb, &l), 0);
	ck_assert_int_eq(etcd_splitter_feed(&s, "01234567", 8, line_cb, &l), 0);
	ck_assert_int_eq(etcd_splitter_feed(&s, "89abcdef\n", 9, line_cb, &l), 0);
	ck_assert_uint_eq(l.n, 2);
	/* One byte more, buffered across feeds or in one: refused, dropped. */
	ck_assert_int_eq(etcd_splitter_feed(&s, "0123456789", 10, line_cb, &l), 0);
	ck_assert_int_eq(etcd_splitter_feed(&s, "abcdefg", 7, line_cb, &l), -1);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_int_eq(etcd_splitter_feed(&s, "short\n0123456789abcdefg\n", 24, line_cb, &l),
	    -1);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_str_eq(l.v[2], "short");
	/* The splitter works again afterwards. */
	ck_assert_int_eq(etcd_splitter_feed(&s, "again\n", 6, line_cb, &l), 0);
	ck_assert_str_eq(l.v[3], "again");
	strlist_free(&l);
	etcd_splitter_clear(&s);
}
END_TEST

/* ---- the client without a server ---- */

START_TEST(test_client_settings)
{
	struct ev_loop *loop = ev_default_loop(0);
	struct strlist eps = {0};
	struct etcd_settings st = {.endpoints = &eps};
	struct etcd_client *c;
	char err[256];

	ck_assert_ptr_null(etcd_client_new(loop, &st, err, sizeof(err)));
	ck_assert_str_eq(err, "no etcd endpoint");
	strlist_add(&eps, "http://127.0.0.1:2379/");
	strlist_add(&eps, "127.0.0.1:2380");
	ck_assert_ptr_null(etcd_client_new(loop, &st, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "\"127.0.0.1:2380\""));
	strlist_free(&eps);
	strlist_add(&eps, "http://127.0.0.1:2379/");
	strlist_add(&eps, "https://[::1]:2379");
	c = etcd_client_new(loop, &st, err, sizeof(err));
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(etcd_client_endpoint(c), "http://127.0.0.1:2379");
	ck_assert_uint_eq(etcd_client_requests(c), 0);
	etcd_client_free(c);
	st.username = "root";
	ck_assert_ptr_null(etcd_client_new(loop, &st, err, sizeof(err)));
	strlist_free(&eps);
	etcd_client_free(NULL);
	etcd_cancel(NULL);
	etcd_watch_free(NULL);
}
END_TEST

static Suite *
etcd_suite(void)
{
	Suite *s = suite_create("etcd");
	TCase *ans = tcase_create("answers");
	TCase *req = tcase_create("requests");
	TCase *watch = tcase_create("watch");

	log_init("check_etcd", LOG_WARNING, LOG_STYLE_PLAIN);
	tcase_add_test(ans, test_range_empty);
	tcase_add_test(ans, test_range_kvs);
	tcase_add_test(ans, test_range_malformed);
	tcase_add_test(ans, test_txn);
	tcase_add_test(ans, test_delete_and_put);
	tcase_add_test(ans, test_leases);
	tcase_add_test(ans, test_errors);
	tcase_add_test(ans, test_auth_token);
	suite_add_tcase(s, ans);
	tcase_add_test(req, test_bodies_keys);
	tcase_add_test(req, test_prefix_end);
	tcase_add_test(req, test_bodies_txn_lease_watch);
	tcase_add_test(req, test_client_settings);
	suite_add_tcase(s, req);
	tcase_add_test(watch, test_watch_messages);
	tcase_add_test(watch, test_split_several_in_one_chunk);
	tcase_add_test(watch, test_split_across_chunks);
	tcase_add_test(watch, test_split_byte_by_byte);
	tcase_add_test(watch, test_split_too_long);
	suite_add_tcase(s, watch);
	return s;
}

CHECK_MAIN(etcd_suite)
