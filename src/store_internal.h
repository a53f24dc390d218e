/*
 * store_internal.h - shared by store.c and store_state.c only.
 */
#ifndef CERTFLEET_STORE_INTERNAL_H
#define CERTFLEET_STORE_INTERNAL_H

#include <stddef.h>

struct store;

/* STATE/KIND/NAME/FILE; caller frees. */
char *store_path(const struct store *s, const char *kind, const char *name, const char *file);
/* Creates STATE/KIND/NAME (0700); -1 with err for an unsafe name. */
int store_ensure_dir(const struct store *s, const char *kind, const char *name, char *err,
    size_t errlen);

#endif
