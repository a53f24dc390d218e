/*
 * json.h - JSON values for the control protocol, the reports and
 * certfleetctl's printers, in the project's own type.
 *
 * cJSON belongs to two modules: acme_json.c (ACME objects) and this one
 * (everything else we build or read: status reports, control requests and
 * replies, JWS headers, the store's account.json and state.json).  The
 * rest of the code speaks `struct json`, so the library stays replaceable
 * and no header includes cJSON's.
 *
 * Ownership: a value made by json_new_*, json_dup or json_parse belongs to
 * the caller until it is given to json_set / json_push (which take it
 * over) and is freed with json_free.  Getters return borrowed pointers,
 * valid while the containing value lives.  Objects keep their members in
 * insertion order, and printing is byte-for-byte what cJSON prints.
 */
#ifndef CERTFLEET_JSON_H
#define CERTFLEET_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

struct json;
struct buf;

/* ---- building ---- */

/* New values; the caller owns them (json_free).  Never NULL: allocation
 * failure aborts, as everywhere in certfleet (util.h). */
struct json *json_new_object(void);
struct json *json_new_array(void);
struct json *json_new_null(void);
struct json *json_new_bool(bool b);
struct json *json_new_number(double n);
/* JSON null when s is NULL. */
struct json *json_new_string(const char *s);
/* An array of n strings. */
struct json *json_new_string_array(const char *const *v, size_t n);
/* A deep copy of j (JSON null for NULL); caller frees. */
struct json *json_dup(const struct json *j);
/* Frees j and everything in it; NULL is fine. */
void json_free(struct json *j);

/* Adds member key to object o, taking v over (freed on failure too).
 * 0 ok, -1 when o is not an object or v is NULL. */
int json_set(struct json *o, const char *key, struct json *v);
/* Adds a string member; nothing (and -1) when v is NULL. */
int json_set_str(struct json *o, const char *key, const char *v);
int json_set_num(struct json *o, const char *key, double v);
int json_set_bool(struct json *o, const char *key, bool v);
int json_set_null(struct json *o, const char *key);
/* A time as RFC 3339 ("2026-11-28T19:33:47Z"); nothing when t is 0. */
void json_set_time(struct json *o, const char *key, time_t t);
/* A new empty object / array as member key; the member (owned by o), or
 * NULL when o is not an object. */
struct json *json_set_object(struct json *o, const char *key);
struct json *json_set_array(struct json *o, const char *key);
/* Appends v to array a, taking it over.  0 ok, -1 (v freed) otherwise. */
int json_push(struct json *a, struct json *v);
/* Moves the members of extra into o, except those o already has (those
 * are dropped); takes extra over.  Nothing when extra is not an object. */
void json_merge(struct json *o, struct json *extra);

/* ---- reading ---- */

/* Member key of object o (exact case), NULL when absent or o is not an
 * object.  Borrowed. */
const struct json *json_get(const struct json *o, const char *key);
/* The string's text, or NULL when j is not a string.  Borrowed. */
const char *json_str(const struct json *j);
/* json_str(json_get(o, key)). */
const char *json_get_str(const struct json *o, const char *key);
/* The number, or NAN when j is not a number. */
double json_num(const struct json *j);
bool json_is_object(const struct json *j);
bool json_is_array(const struct json *j);
bool json_is_string(const struct json *j);
bool json_is_number(const struct json *j);
bool json_is_bool(const struct json *j);
bool json_is_true(const struct json *j);
bool json_is_null(const struct json *j);
/* Elements of an array or members of an object; 0 for anything else. */
size_t json_size(const struct json *j);
/* Element i of an array (or member i of an object), NULL past the end.
 * Borrowed. */
const struct json *json_at(const struct json *a, size_t i);
/* Iteration over an array's elements or an object's members, in order:
 * for (it = json_first(a); it; it = json_next(it)).  Borrowed. */
const struct json *json_first(const struct json *j);
const struct json *json_next(const struct json *it);
#define JSON_FOREACH(it, j) for ((it) = json_first(j); (it) != NULL; (it) = json_next(it))
/* The member name of an object's member (from json_first/json_next), else
 * NULL.  Borrowed. */
const char *json_key(const struct json *it);

/* ---- text ---- */

/*
 * Parses the first JSON value in len bytes of text (NUL bytes not
 * needed).  Parsing stops after that value: *used (when not NULL) gets how
 * many bytes it took, and what follows is the caller's business.  The
 * value (caller frees) or NULL when the text does not start with JSON.
 */
struct json *json_parse(const char *text, size_t len, size_t *used);
/* Compact, on one line (strings escape their newlines).  Caller frees
 * (free()); NULL only for a NULL j. */
char *json_print(const struct json *j);
/* Indented with tabs, as certfleetctl --json prints.  Caller frees. */
char *json_print_pretty(const struct json *j);
/* json_print(j) appended to b (nothing for a NULL j): the streamed
 * replies print one small value at a time into one buffer. */
void json_print_append(const struct json *j, struct buf *b);

/*
 * Re-indents len bytes of compact JSON text (as json_print makes it) into
 * exactly what json_print_pretty would print for the same value, onto
 * out, without building the value: certfleetctl passes a large reply
 * through this way.  The check is structural and cheap (brackets match,
 * strings end, no stray blanks, one value); 0 ok, -1 when the text is not
 * compact JSON (out may then hold part of it).
 */
int json_pretty_stream(const char *text, size_t len, FILE *out);

/*
 * Writing compact JSON text straight into a buffer, for the replies too
 * large for a tree (status of 100,000 certificates: a tree of 20 nodes a
 * certificate, built, printed and freed, cost about 7 us each).  The text
 * is byte for byte what json_print() prints for the tree that the
 * json_set_* calls of the same name build: jw_str and jw_time skip what
 * json_set_str (NULL) and json_set_time (0) skip, numbers and strings are
 * printed as cJSON prints them.  key is NULL for an array's elements and
 * the outermost value.  Nesting deeper than JSON_WRITER_DEPTH aborts.
 */
#define JSON_WRITER_DEPTH 16
struct json_writer {
	struct buf *b;
	int depth;
	bool first[JSON_WRITER_DEPTH]; /* nothing written yet at that level */
};
void jw_init(struct json_writer *w, struct buf *b);
void jw_object_begin(struct json_writer *w, const char *key);
void jw_object_end(struct json_writer *w);
void jw_array_begin(struct json_writer *w, const char *key);
void jw_array_end(struct json_writer *w);
void jw_str(struct json_writer *w, const char *key, const char *v);
void jw_num(struct json_writer *w, const char *key, double v);
void jw_bool(struct json_writer *w, const char *key, bool v);
void jw_time(struct json_writer *w, const char *key, time_t t);
/* v as json_print prints it (nothing for NULL, like json_set). */
void jw_json(struct json_writer *w, const char *key, const struct json *v);
/* s as a JSON string (quoted and escaped as cJSON does) appended to b. */
void json_write_string(struct buf *b, const char *s);
/* n as cJSON prints a number, appended to b. */
void json_write_number(struct buf *b, double n);

#endif
