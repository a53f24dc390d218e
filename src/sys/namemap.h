/*
 * namemap.h - a map from names (C strings) to pointers, for lookups by
 * name that a large fleet makes once per certificate: a reload matching
 * 100,000 new entries to the running ones by name was a pass over every
 * running entry per new one (O(n^2), minutes at that size).
 *
 * The map does not copy its keys: each must outlive its entry (they are
 * the names inside the objects mapped, in practice).
 */
#ifndef CERTFLEET_NAMEMAP_H
#define CERTFLEET_NAMEMAP_H

#include <stddef.h>

struct namemap;

/* An empty map sized for about hint entries (it grows past them).  Never
 * NULL; free with namemap_free. */
struct namemap *namemap_new(size_t hint);
/* NULL is ignored. */
void namemap_free(struct namemap *m);
/* Maps key to val (not NULL), replacing what key mapped to; returns the
 * value replaced, NULL when key was new. */
void *namemap_put(struct namemap *m, const char *key, void *val);
/* What key maps to, NULL when nothing. */
void *namemap_get(const struct namemap *m, const char *key);
/* How many keys are mapped. */
size_t namemap_count(const struct namemap *m);

#endif
