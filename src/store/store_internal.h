/*
 * store_internal.h - shared by store.c and store_state.c only.
 */
#ifndef CERTFLEET_STORE_INTERNAL_H
#define CERTFLEET_STORE_INTERNAL_H

#include <stddef.h>

struct json;
struct store;

/* STATE/KIND/NAME/FILE; caller frees. */
char *store_path(const struct store *s, const char *kind, const char *name, const char *file);
/* Creates STATE/KIND/NAME (0700); -1 with err for an unsafe name. */
int store_ensure_dir(const struct store *s, const char *kind, const char *name, char *err,
    size_t errlen);

/*
 * The JSON object that is the whole of text (len bytes, as read_file()
 * returns them), or NULL when text is not JSON, is not an object, or has
 * anything but whitespace after the object: trailing bytes mean a damaged
 * file, and its first part is not to be trusted.  "Whitespace" is every
 * byte up to 0x20, NUL included: what the store's files have always been
 * allowed to end with.  Caller frees (json_free).
 */
struct json *store_parse_object(const char *text, size_t len);

#endif
