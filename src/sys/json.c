/*
 * json.c - struct json on top of cJSON (see json.h).
 *
 * A struct json is a cJSON node: the struct's only member is the node, so
 * a pointer to one is a pointer to the other and no value is copied on the
 * way in or out.  cJSON reports allocation failure as NULL; here that
 * aborts like every allocation in certfleet, so callers need no checks.
 */
#include <ctype.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "log.h"
#include "util.h"

struct json {
	cJSON node;
};

#define C(j) ((cJSON *)(j))
#define CC(j) ((const cJSON *)(j))
#define J(c) ((struct json *)(c))
#define CJ(c) ((const struct json *)(c))

static struct json *
made(cJSON *c)
{
	if (c == NULL) {
		log_msg(LOG_CRIT, "out of memory building JSON");
		abort();
	}
	return J(c);
}

/* ---- building ---- */

struct json *
json_new_object(void)
{
	return made(cJSON_CreateObject());
}

struct json *
json_new_array(void)
{
	return made(cJSON_CreateArray());
}

struct json *
json_new_null(void)
{
	return made(cJSON_CreateNull());
}

struct json *
json_new_bool(bool b)
{
	return made(cJSON_CreateBool(b));
}

struct json *
json_new_number(double n)
{
	return made(cJSON_CreateNumber(n));
}

struct json *
json_new_string(const char *s)
{
	return s ? made(cJSON_CreateString(s)) : json_new_null();
}

struct json *
json_new_string_array(const char *const *v, size_t n)
{
	struct json *a = json_new_array();

	for (size_t i = 0; i < n; i++)
		json_push(a, json_new_string(v[i]));
	return a;
}

struct json *
json_dup(const struct json *j)
{
	return j ? made(cJSON_Duplicate(CC(j), true)) : json_new_null();
}

void
json_free(struct json *j)
{
	cJSON_Delete(C(j));
}

int
json_set(struct json *o, const char *key, struct json *v)
{
	if (v == NULL)
		return -1;
	if (!cJSON_IsObject(C(o)) || !cJSON_AddItemToObject(C(o), key, C(v))) {
		json_free(v);
		return -1;
	}
	return 0;
}

int
json_set_str(struct json *o, const char *key, const char *v)
{
	return v ? json_set(o, key, json_new_string(v)) : -1;
}

int
json_set_num(struct json *o, const char *key, double v)
{
	return json_set(o, key, json_new_number(v));
}

int
json_set_bool(struct json *o, const char *key, bool v)
{
	return json_set(o, key, json_new_bool(v));
}

int
json_set_null(struct json *o, const char *key)
{
	return json_set(o, key, json_new_null());
}

void
json_set_time(struct json *o, const char *key, time_t t)
{
	char buf[32];

	if (t == 0)
		return;
	time_format_rfc3339(t, buf, sizeof(buf));
	json_set_str(o, key, buf);
}

struct json *
json_set_object(struct json *o, const char *key)
{
	struct json *v = json_new_object();

	return json_set(o, key, v) == 0 ? v : NULL;
}

struct json *
json_set_array(struct json *o, const char *key)
{
	struct json *v = json_new_array();

	return json_set(o, key, v) == 0 ? v : NULL;
}

int
json_push(struct json *a, struct json *v)
{
	if (v == NULL)
		return -1;
	if (!cJSON_IsArray(C(a)) || !cJSON_AddItemToArray(C(a), C(v))) {
		json_free(v);
		return -1;
	}
	return 0;
}

void
json_merge(struct json *o, struct json *extra)
{
	cJSON *it;

	if (cJSON_IsObject(C(extra)) && cJSON_IsObject(C(o))) {
		while ((it = C(extra)->child) != NULL) {
			cJSON_DetachItemViaPointer(C(extra), it);
			if (cJSON_GetObjectItemCaseSensitive(C(o), it->string))
				cJSON_Delete(it);
			else
				cJSON_AddItemToObject(C(o), it->string, it);
		}
	}
	json_free(extra);
}

/* ---- reading ---- */

const struct json *
json_get(const struct json *o, const char *key)
{
	const cJSON *it;

	if (!cJSON_IsObject(CC(o)) || key == NULL)
		return NULL;
	/* cJSON_GetObjectItemCaseSensitive's walk (the first member of that
	 * name; a member without a name ends it), with the first byte compared
	 * before strcmp is called: reading 100,000 state files at the start
	 * made three million lookups, and the calls were 12% of it. */
	for (it = CC(o)->child; it != NULL && it->string != NULL; it = it->next)
		if (it->string[0] == key[0] && strcmp(it->string, key) == 0)
			return CJ(it);
	return NULL;
}

const char *
json_str(const struct json *j)
{
	return cJSON_IsString(CC(j)) ? CC(j)->valuestring : NULL;
}

const char *
json_get_str(const struct json *o, const char *key)
{
	return json_str(json_get(o, key));
}

double
json_num(const struct json *j)
{
	return cJSON_IsNumber(CC(j)) ? CC(j)->valuedouble : NAN;
}

bool
json_is_object(const struct json *j)
{
	return cJSON_IsObject(CC(j));
}

bool
json_is_array(const struct json *j)
{
	return cJSON_IsArray(CC(j));
}

bool
json_is_string(const struct json *j)
{
	return cJSON_IsString(CC(j));
}

bool
json_is_number(const struct json *j)
{
	return cJSON_IsNumber(CC(j));
}

bool
json_is_bool(const struct json *j)
{
	return cJSON_IsBool(CC(j));
}

bool
json_is_true(const struct json *j)
{
	return cJSON_IsTrue(CC(j));
}

bool
json_is_null(const struct json *j)
{
	return cJSON_IsNull(CC(j));
}

size_t
json_size(const struct json *j)
{
	if (!cJSON_IsArray(CC(j)) && !cJSON_IsObject(CC(j)))
		return 0;
	return (size_t)cJSON_GetArraySize(CC(j));
}

const struct json *
json_at(const struct json *a, size_t i)
{
	if (i > (size_t)INT_MAX)
		return NULL;
	return CJ(cJSON_GetArrayItem(CC(a), (int)i));
}

const struct json *
json_first(const struct json *j)
{
	if (!cJSON_IsArray(CC(j)) && !cJSON_IsObject(CC(j)))
		return NULL;
	return CJ(CC(j)->child);
}

const struct json *
json_next(const struct json *it)
{
	return it ? CJ(CC(it)->next) : NULL;
}

const char *
json_key(const struct json *it)
{
	return it ? CC(it)->string : NULL;
}

/* ---- text ---- */

struct json *
json_parse(const char *text, size_t len, size_t *used)
{
	const char *end = NULL;
	cJSON *c = cJSON_ParseWithLengthOpts(text, len, &end, false);

	if (c != NULL && used != NULL)
		*used = (size_t)(end - text);
	return J(c);
}

char *
json_print(const struct json *j)
{
	return j ? cJSON_PrintUnformatted(CC(j)) : NULL;
}

char *
json_print_pretty(const struct json *j)
{
	return j ? cJSON_Print(CC(j)) : NULL;
}

void
json_print_append(const struct json *j, struct buf *b)
{
	char *s;

	if (j == NULL || (s = cJSON_PrintUnformatted(CC(j))) == NULL)
		return;
	buf_append(b, s, strlen(s));
	free(s);
}

/* ---- re-indenting compact text ---- */

/* As deep as cJSON parses (CJSON_NESTING_LIMIT). */
#define PRETTY_DEPTH 1000

struct pretty_out {
	FILE *f;
	char buf[65536];
	size_t len;
};

static void
pretty_put(struct pretty_out *o, const char *s, size_t n)
{
	if (o->len + n > sizeof(o->buf)) {
		fwrite(o->buf, 1, o->len, o->f);
		o->len = 0;
	}
	if (n > sizeof(o->buf)) {
		fwrite(s, 1, n, o->f);
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void
pretty_tabs(struct pretty_out *o, size_t n)
{
	static const char tabs[] = "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t";

	while (n > 0) {
		size_t k = n < sizeof(tabs) - 1 ? n : sizeof(tabs) - 1;
		pretty_put(o, tabs, k);
		n -= k;
	}
}

/*
 * cJSON's formatted printer: an object opens with "{\n", each member on
 * its own line indented by the depth in tabs, "key":\tvalue, members
 * separated by ",\n", and the closing brace on a line indented one less
 * ("{\n}" for an empty one at depth 0); arrays stay on one line with ", "
 * between elements.  Objects and arrays both count for the depth.
 */
int
json_pretty_stream(const char *text, size_t len, FILE *out)
{
	struct pretty_out *o = xcalloc(1, sizeof(*o));
	char stack[PRETTY_DEPTH];
	size_t depth = 0, i = 0, values = 0;
	int rc = -1;

	o->f = out;
	while (i < len) {
		char ch = text[i];

		if (ch == '"') {
			size_t start = i++;

			while (i < len && text[i] != '"') {
				if ((unsigned char)text[i] < 0x20)
					goto out;
				i += text[i] == '\\' ? 2 : 1;
			}
			if (i >= len)
				goto out;
			i++;
			pretty_put(o, text + start, i - start);
			if (depth == 0)
				values++;
			continue;
		}
		switch (ch) {
		case '{':
		case '[':
			if (depth == PRETTY_DEPTH)
				goto out;
			stack[depth++] = ch;
			if (ch == '[') {
				pretty_put(o, "[", 1);
			} else if (i + 1 < len && text[i + 1] == '}') {
				pretty_put(o, "{\n", 2);
				pretty_tabs(o, depth - 1);
				pretty_put(o, "}", 1);
				depth--;
				i++;
				if (depth == 0)
					values++;
			} else {
				pretty_put(o, "{\n", 2);
				pretty_tabs(o, depth);
			}
			break;
		case '}':
			if (depth == 0 || stack[depth - 1] != '{')
				goto out;
			pretty_put(o, "\n", 1);
			pretty_tabs(o, depth - 1);
			pretty_put(o, "}", 1);
			if (--depth == 0)
				values++;
			break;
		case ']':
			if (depth == 0 || stack[depth - 1] != '[')
				goto out;
			pretty_put(o, "]", 1);
			if (--depth == 0)
				values++;
			break;
		case ',':
			if (depth == 0)
				goto out;
			if (stack[depth - 1] == '{') {
				pretty_put(o, ",\n", 2);
				pretty_tabs(o, depth);
			} else {
				pretty_put(o, ", ", 2);
			}
			break;
		case ':':
			if (depth == 0 || stack[depth - 1] != '{')
				goto out;
			pretty_put(o, ":\t", 2);
			break;
		default:
			/* Numbers, true, false, null: as they are. */
			if (!((ch >= '0' && ch <= '9') || ch == '-' || ch == '+' || ch == '.' ||
			    (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
				goto out;
			{
				size_t start = i;
				while (i + 1 < len && strchr(",:]}", text[i + 1]) == NULL &&
				    text[i + 1] != '"')
					i++;
				pretty_put(o, text + start, i + 1 - start);
				for (size_t k = start; k <= i; k++)
					if (!isalnum((unsigned char)text[k]) &&
					    strchr("+-.", text[k]) == NULL)
						goto out;
				if (depth == 0)
					values++;
			}
			break;
		}
		i++;
	}
	if (depth == 0 && values == 1)
		rc = 0;
out:
	if (o->len)
		fwrite(o->buf, 1, o->len, o->f);
	free(o);
	return rc;
}

/* ---- writing text directly (json.h: struct json_writer) ---- */

void
json_write_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *run;
	char esc[6];

	buf_append(b, "\"", 1);
	for (;;) {
		/* The characters cJSON copies as they are, in one piece. */
		for (run = p; *p >= 32 && *p != '"' && *p != '\\'; p++)
			;
		if (p > run)
			buf_append(b, run, (size_t)(p - run));
		if (*p == '\0')
			break;
		esc[0] = '\\';
		switch (*p) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0xf];
			buf_append(b, esc, 6);
			p++;
			continue;
		}
		buf_append(b, esc, 2);
		p++;
	}
	buf_append(b, "\"", 1);
}

void
json_write_number(struct buf *b, double n)
{
	char tmp[32];
	double back;

	/* cJSON's rule: an integer that fits an int as "%d" (its valueint
	 * saturates, so only those compare equal), else 15 significant digits
	 * when they read back as the same double, else 17; -0 keeps its sign
	 * (check_json's test_writer compares each form with cJSON's). */
	if (isnan(n) || isinf(n)) {
		buf_append(b, "null", 4);
		return;
	}
	if (n >= INT_MIN && n <= INT_MAX && n == (double)(int)n && !(n == 0 && signbit(n))) {
		snprintf(tmp, sizeof(tmp), "%d", (int)n);
	} else {
		snprintf(tmp, sizeof(tmp), "%1.15g", n);
		if (sscanf(tmp, "%lg", &back) != 1 ||
		    fabs(back - n) > fmax(fabs(back), fabs(n)) * DBL_EPSILON)
			snprintf(tmp, sizeof(tmp), "%1.17g", n);
	}
	buf_append(b, tmp, strlen(tmp));
}

void
jw_init(struct json_writer *w, struct buf *b)
{
	w->b = b;
	w->depth = 0;
	w->first[0] = true;
}

/* The comma and "key": before a value at the current level. */
static void
jw_key(struct json_writer *w, const char *key)
{
	if (!w->first[w->depth])
		buf_append(w->b, ",", 1);
	w->first[w->depth] = false;
	if (key != NULL) {
		json_write_string(w->b, key);
		buf_append(w->b, ":", 1);
	}
}

static void
jw_open(struct json_writer *w, const char *key, const char *c)
{
	jw_key(w, key);
	if (w->depth + 1 >= JSON_WRITER_DEPTH) {
		log_msg(LOG_CRIT, "JSON writer nested too deep");
		abort();
	}
	buf_append(w->b, c, 1);
	w->first[++w->depth] = true;
}

static void
jw_close(struct json_writer *w, const char *c)
{
	buf_append(w->b, c, 1);
	w->depth--;
}

void
jw_object_begin(struct json_writer *w, const char *key)
{
	jw_open(w, key, "{");
}

void
jw_object_end(struct json_writer *w)
{
	jw_close(w, "}");
}

void
jw_array_begin(struct json_writer *w, const char *key)
{
	jw_open(w, key, "[");
}

void
jw_array_end(struct json_writer *w)
{
	jw_close(w, "]");
}

void
jw_str(struct json_writer *w, const char *key, const char *v)
{
	if (v == NULL)
		return;
	jw_key(w, key);
	json_write_string(w->b, v);
}

void
jw_num(struct json_writer *w, const char *key, double v)
{
	jw_key(w, key);
	json_write_number(w->b, v);
}

void
jw_bool(struct json_writer *w, const char *key, bool v)
{
	jw_key(w, key);
	if (v)
		buf_append(w->b, "true", 4);
	else
		buf_append(w->b, "false", 5);
}

void
jw_time(struct json_writer *w, const char *key, time_t t)
{
	char tmp[32];

	if (t == 0)
		return;
	time_format_rfc3339(t, tmp, sizeof(tmp));
	jw_str(w, key, tmp);
}

void
jw_json(struct json_writer *w, const char *key, const struct json *v)
{
	if (v == NULL)
		return;
	jw_key(w, key);
	json_print_append(v, w->b);
}
