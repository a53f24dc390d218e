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
#include <stdint.h>

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

/*
 * The map's hash, for other tables keyed by names (config_validate.c's):
 * FNV-1a from NAME_HASH_START over what name_hash_add and
 * name_hash_add_num fold in, finished by name_hash_end, which mixes it so
 * that its low bits (those that pick a slot) spread.  Each string is
 * followed by a separator, so ("ab", "c") and ("a", "bc") differ.
 */
#define NAME_HASH_START 0xcbf29ce484222325ULL
/* h with the bytes of s (NULL: none) and a separator folded in. */
uint64_t name_hash_add(uint64_t h, const char *s);
/* h with the number v folded in. */
uint64_t name_hash_add_num(uint64_t h, uint64_t v);
uint64_t name_hash_end(uint64_t h);
/* One name's hash: name_hash_end(name_hash_add(NAME_HASH_START, s)). */
uint64_t name_hash(const char *s);

#endif
