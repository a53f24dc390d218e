/*
 * json.c - struct json on top of cJSON (see json.h).
 *
 * A struct json is a cJSON node: the struct's only member is the node, so
 * a pointer to one is a pointer to the other and no value is copied on the
 * way in or out.  cJSON reports allocation failure as NULL; here that
 * aborts like every allocation in certfleet, so callers need no checks.
 */
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
	if (!cJSON_IsObject(CC(o)))
		return NULL;
	return CJ(cJSON_GetObjectItemCaseSensitive(CC(o), key));
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
