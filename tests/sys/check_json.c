/*
 * check_json.c - the JSON module: building, reading, merging, parsing with
 * and without trailing bytes, and printing exactly as the control protocol
 * and certfleetctl --json need it.
 */
#include <math.h>
#include <string.h>

#include "json.h"
#include "testutil.h"
#include "util.h"

/* Prints j compactly and compares; frees the text. */
static void
assert_prints(const struct json *j, const char *want)
{
	char *s = json_print(j);

	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, want);
	free(s);
}

START_TEST(test_build_and_print)
{
	struct json *o = json_new_object(), *a, *sub;
	static const char *const names[] = { "a.example", "b.example" };

	ck_assert_int_eq(json_set_num(o, "v", 1), 0);
	ck_assert_int_eq(json_set_str(o, "cmd", "renew"), 0);
	ck_assert_int_eq(json_set_bool(o, "ok", true), 0);
	ck_assert_int_eq(json_set_bool(o, "force", false), 0);
	ck_assert_int_eq(json_set_null(o, "url"), 0);
	/* A NULL string adds nothing (reports leave unknown fields out). */
	ck_assert_int_eq(json_set_str(o, "missing", NULL), -1);
	json_set_time(o, "never", 0);
	json_set_time(o, "at", 1795981427);
	a = json_set_array(o, "names");
	ck_assert_ptr_nonnull(a);
	json_push(a, json_new_string("x"));
	json_push(a, json_new_number(2.5));
	sub = json_set_object(o, "sub");
	json_set(sub, "list", json_new_string_array(names, 2));
	assert_prints(o, "{\"v\":1,\"cmd\":\"renew\",\"ok\":true,\"force\":false,\"url\":null,"
	    "\"at\":\"2026-11-29T19:43:47Z\",\"names\":[\"x\",2.5],"
	    "\"sub\":{\"list\":[\"a.example\",\"b.example\"]}}");
	json_free(o);
}
END_TEST

START_TEST(test_pretty_print)
{
	struct json *o = json_new_object();
	char *s;

	json_set_str(o, "name", "www");
	json_push(json_set_array(o, "names"), json_new_string("www.example"));
	s = json_print_pretty(o);
	/* cJSON's layout: tabs, "key":<TAB>value. */
	ck_assert_str_eq(s, "{\n\t\"name\":\t\"www\",\n\t\"names\":\t[\"www.example\"]\n}");
	free(s);
	json_free(o);
	ck_assert_ptr_null(json_print(NULL));
}
END_TEST

/* json_pretty_stream(json_print(j)) is json_print_pretty(j), byte for byte. */
static void
assert_stream_matches(const struct json *j)
{
	char *compact = json_print(j), *pretty = json_print_pretty(j), *got = NULL;
	size_t glen = 0;
	FILE *f = open_memstream(&got, &glen);

	ck_assert_int_eq(json_pretty_stream(compact, strlen(compact), f), 0);
	fclose(f);
	ck_assert_str_eq(got, pretty);
	free(got);
	free(compact);
	free(pretty);
}

/* -1 for text that is not one compact JSON value. */
static void
assert_stream_rejects(const char *text)
{
	char *got = NULL;
	size_t glen = 0;
	FILE *f = open_memstream(&got, &glen);

	ck_assert_msg(json_pretty_stream(text, strlen(text), f) < 0, "accepted: %s", text);
	fclose(f);
	free(got);
}

START_TEST(test_pretty_stream)
{
	struct json *o = json_new_object(), *a, *c, *v;
	static const char *const names[] = { "a.example", "b,}:[\"x\\" };

	a = json_set_array(o, "certificates");
	for (int i = 0; i < 3; i++) {
		c = json_new_object();
		json_set_str(c, "name", i == 1 ? "we\"ird {name}: [x], \\\n\t" : "www");
		json_set(c, "names", json_new_string_array(names, 2));
		json_set_num(c, "seconds_left", -7776000.5 * i);
		json_set_bool(c, "installed", i != 2);
		json_set_null(c, "none");
		json_set_object(c, "empty");
		json_set_array(c, "nothing");
		json_set_object(json_set_object(c, "held"), "deeper");
		json_push(a, c);
	}
	json_push(a, json_new_array());
	json_push(a, json_new_object());
	json_set_num(o, "total", 3);
	json_set_num(o, "big", 1e300);
	json_set_str(o, "source", "daemon");
	assert_stream_matches(o);
	json_free(o);

	/* Values that are not objects, and empty ones. */
	v = json_new_object();
	assert_stream_matches(v);
	json_free(v);
	v = json_new_array();
	assert_stream_matches(v);
	json_push(v, json_new_object());
	json_push(v, json_new_number(3));
	assert_stream_matches(v);
	json_free(v);
	v = json_new_string("just a string");
	assert_stream_matches(v);
	json_free(v);
	v = json_new_number(-0.25);
	assert_stream_matches(v);
	json_free(v);

	assert_stream_rejects("");
	assert_stream_rejects("{\"a\":1");
	assert_stream_rejects("{\"a\":1}}");
	assert_stream_rejects("[1,2}");
	assert_stream_rejects("{\"a\":[1,2]");
	assert_stream_rejects("\"unterminated");
	assert_stream_rejects("{\"a\": 1}");
	assert_stream_rejects("{}{}");
	assert_stream_rejects("[1]:");
	assert_stream_rejects("{\"a\":1}\n");
	assert_stream_rejects("{\"a\":@}");
	assert_stream_rejects("{\"a\":\"x\ny\"}");
}
END_TEST

START_TEST(test_print_append)
{
	struct json *o = json_new_object();
	struct buf b = {0};

	json_set_num(o, "n", 1);
	buf_append(&b, "x", 1);
	json_print_append(o, &b);
	json_print_append(NULL, &b);
	ck_assert_str_eq(b.data, "x{\"n\":1}");
	buf_free(&b);
	json_free(o);
}
END_TEST

START_TEST(test_escaping)
{
	struct json *o = json_new_object();

	/* A control line must stay one line whatever the strings hold. */
	json_set_str(o, "error", "line\none \"quoted\" \\ tab\t");
	assert_prints(o, "{\"error\":\"line\\none \\\"quoted\\\" \\\\ tab\\t\"}");
	json_free(o);
}
END_TEST

START_TEST(test_read)
{
	static const char text[] = "{\"s\":\"str\",\"n\":7,\"t\":true,\"f\":false,\"z\":null,"
	    "\"a\":[\"p\",\"q\",3],\"o\":{\"k\":\"v\"}}";
	struct json *j = json_parse(text, strlen(text), NULL);
	const struct json *a, *it;
	size_t i = 0;

	ck_assert_ptr_nonnull(j);
	ck_assert(json_is_object(j));
	ck_assert_str_eq(json_get_str(j, "s"), "str");
	ck_assert(json_is_string(json_get(j, "s")));
	ck_assert(json_num(json_get(j, "n")) == 7);
	ck_assert(json_is_number(json_get(j, "n")));
	ck_assert(isnan(json_num(json_get(j, "s"))));
	ck_assert(json_is_true(json_get(j, "t")));
	ck_assert(json_is_bool(json_get(j, "f")) && !json_is_true(json_get(j, "f")));
	ck_assert(json_is_null(json_get(j, "z")));
	ck_assert_ptr_null(json_get(j, "absent"));
	/* Exact case only. */
	ck_assert_ptr_null(json_get(j, "S"));
	ck_assert_ptr_null(json_get_str(j, "n"));
	ck_assert_ptr_null(json_get(json_get(j, "a"), "p"));
	a = json_get(j, "a");
	ck_assert(json_is_array(a));
	ck_assert_uint_eq(json_size(a), 3);
	ck_assert_str_eq(json_str(json_at(a, 1)), "q");
	ck_assert_ptr_null(json_at(a, 3));
	JSON_FOREACH(it, a)
		i++;
	ck_assert_uint_eq(i, 3);
	/* Members of an object, in order, with their names. */
	i = 0;
	JSON_FOREACH(it, j) {
		if (i == 0)
			ck_assert_str_eq(json_key(it), "s");
		i++;
	}
	ck_assert_uint_eq(i, 7);
	ck_assert_uint_eq(json_size(json_get(j, "s")), 0);
	ck_assert_ptr_null(json_first(json_get(j, "s")));
	ck_assert_ptr_null(json_key(json_at(a, 0)));
	/* NULL everywhere is harmless. */
	ck_assert_ptr_null(json_get(NULL, "s"));
	ck_assert_ptr_null(json_str(NULL));
	ck_assert_uint_eq(json_size(NULL), 0);
	ck_assert(!json_is_object(NULL));
	json_free(j);
	json_free(NULL);
}
END_TEST

START_TEST(test_parse_lengths)
{
	static const char two[] = "{\"v\":1} {\"v\":2}";
	size_t used = 0;
	struct json *j;

	/* Parsing stops after the first value; used says where. */
	j = json_parse(two, strlen(two), &used);
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(used, 7);
	ck_assert(json_num(json_get(j, "v")) == 1);
	json_free(j);
	/* Only len bytes are read: no NUL needed after them. */
	j = json_parse("{\"v\":1}garbage", 7, NULL);
	ck_assert_ptr_nonnull(j);
	json_free(j);
	ck_assert_ptr_null(json_parse("{\"v\":1}", 6, NULL));
	ck_assert_ptr_null(json_parse("not json", 8, NULL));
	ck_assert_ptr_null(json_parse("", 0, NULL));
}
END_TEST

START_TEST(test_set_takes_over)
{
	struct json *o = json_new_object(), *arr = json_new_array();

	/* Not an object / not an array: the value is freed (valgrind would
	 * see the leak otherwise). */
	ck_assert_int_eq(json_set(arr, "k", json_new_string("v")), -1);
	ck_assert_int_eq(json_push(o, json_new_string("v")), -1);
	ck_assert_int_eq(json_set(o, "k", NULL), -1);
	ck_assert_ptr_null(json_set_object(arr, "k"));
	assert_prints(o, "{}");
	assert_prints(arr, "[]");
	json_free(o);
	json_free(arr);
}
END_TEST

START_TEST(test_merge)
{
	struct json *o = json_new_object(), *extra = json_new_object();

	json_set_str(o, "code", "failed");
	json_set_str(extra, "code", "forged");
	json_set_str(json_set_object(extra, "problem"), "type", "urn:x");
	json_merge(o, extra);
	/* Members o already has stay as they were. */
	assert_prints(o, "{\"code\":\"failed\",\"problem\":{\"type\":\"urn:x\"}}");
	/* Not an object: freed, nothing added. */
	json_merge(o, json_new_string("x"));
	json_merge(o, NULL);
	assert_prints(o, "{\"code\":\"failed\",\"problem\":{\"type\":\"urn:x\"}}");
	json_free(o);
}
END_TEST

START_TEST(test_dup)
{
	struct json *o = json_new_object(), *d;

	json_push(json_set_array(o, "a"), json_new_bool(true));
	d = json_dup(o);
	json_free(o);
	assert_prints(d, "{\"a\":[true]}");
	json_free(d);
	d = json_dup(NULL);
	assert_prints(d, "null");
	json_free(d);
	d = json_new_string(NULL);
	assert_prints(d, "null");
	json_free(d);
}
END_TEST

/* json_get finds a member's first occurrence by its exact name. */
START_TEST(test_get_exact)
{
	static const char text[] = "{\"not\":1,\"not_after\":2,\"\":3,\"n\":4,\"not\":5,"
	    "\"Not\":6}";
	struct json *j = json_parse(text, strlen(text), NULL);

	ck_assert_ptr_nonnull(j);
	ck_assert(json_num(json_get(j, "not")) == 1);
	ck_assert(json_num(json_get(j, "not_after")) == 2);
	ck_assert(json_num(json_get(j, "")) == 3);
	ck_assert(json_num(json_get(j, "n")) == 4);
	ck_assert(json_num(json_get(j, "Not")) == 6);
	ck_assert_ptr_null(json_get(j, "not_"));
	ck_assert_ptr_null(json_get(j, "NOT"));
	ck_assert_ptr_null(json_get(j, NULL));
	ck_assert_ptr_null(json_get(json_at(j, 0), "not"));
	json_free(j);
}
END_TEST

/* The writer prints what json_print prints for the same tree: every
 * character below 32, quotes, backslashes, UTF-8 and DEL in strings; the
 * number forms cJSON chooses (int, 15 or 17 digits, null). */
static void
assert_writes_as_tree(const char *str, double num)
{
	struct json *o = json_new_object(), *a;
	struct json_writer w;
	struct buf b = {0};
	char *want;

	jw_init(&w, &b);
	jw_object_begin(&w, NULL);
	json_set_str(o, str, str);
	jw_str(&w, str, str);
	json_set_str(o, "none", NULL);
	jw_str(&w, "none", NULL);
	json_set_num(o, "n", num);
	jw_num(&w, "n", num);
	json_set_time(o, "t0", 0);
	jw_time(&w, "t0", 0);
	json_set_time(o, "t", 1700000000);
	jw_time(&w, "t", 1700000000);
	a = json_set_array(o, "a");
	jw_array_begin(&w, "a");
	json_push(a, json_new_bool(true));
	jw_bool(&w, NULL, true);
	json_push(a, json_new_object());
	jw_object_begin(&w, NULL);
	jw_object_end(&w);
	json_push(a, json_new_number(num));
	jw_num(&w, NULL, num);
	json_push(a, json_new_string(str));
	jw_json(&w, NULL, json_at(a, 3));
	jw_array_end(&w);
	json_set_bool(o, "f", false);
	jw_bool(&w, "f", false);
	jw_object_end(&w);
	want = json_print(o);
	ck_assert_str_eq(b.data, want);
	free(want);
	buf_free(&b);
	json_free(o);
}

START_TEST(test_writer)
{
	static const double nums[] = { 0, -0.0, 1, -1, 42, 2147483647.0, 2147483648.0,
		-2147483648.0, -2147483649.0, 1700000000, 7689148, 1e15, 123456789012345678.0,
		0.1, 1.5, -2.25, 1.0 / 3, 2.0 / 3, 1e-7, 1e300, 5e-324, 1e21,
		9007199254740993.0, NAN, INFINITY, -INFINITY };
	char all[160];
	size_t n = 0;

	/* Every byte from 1 to 127, then some UTF-8 and bytes above 127. */
	for (int c = 1; c < 128; c++)
		all[n++] = (char)c;
	memcpy(all + n, "\xc3\xa9\xe2\x82\xac\xff\x80", 7);
	all[n + 7] = '\0';
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		assert_writes_as_tree(all, nums[i]);
		assert_writes_as_tree("", nums[i]);
		assert_writes_as_tree("plain", nums[i]);
		assert_writes_as_tree("\"\\\n", nums[i]);
	}
}
END_TEST


static Suite *
json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_build_and_print);
	tcase_add_test(tc, test_pretty_print);
	tcase_add_test(tc, test_pretty_stream);
	tcase_add_test(tc, test_print_append);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_read);
	tcase_add_test(tc, test_parse_lengths);
	tcase_add_test(tc, test_set_takes_over);
	tcase_add_test(tc, test_merge);
	tcase_add_test(tc, test_dup);
	tcase_add_test(tc, test_writer);
	tcase_add_test(tc, test_get_exact);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(json_suite)
