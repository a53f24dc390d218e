/*
 * namemap.c - open addressing with linear probing, FNV-1a hashes kept
 * beside the keys (a probe compares strings only when hashes match), at
 * most half full.  No deletion: the fleet builds a new map at each reload.
 * The hash is the one every table keyed by names uses (namemap.h).
 */
#include <stdint.h>
#include <string.h>

#include "namemap.h"
#include "util.h"

struct slot {
	const char *key;            /* NULL: empty */
	void *val;
	uint64_t hash;
};

struct namemap {
	struct slot *slots;
	size_t mask;                /* slots - 1, slots a power of two */
	size_t count;
};

#define FNV_PRIME 0x100000001b3ULL

uint64_t
name_hash_add(uint64_t h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * FNV_PRIME;
	return (h ^ 0xff) * FNV_PRIME;              /* a separator */
}

uint64_t
name_hash_add_num(uint64_t h, uint64_t v)
{
	return (h ^ v) * FNV_PRIME;
}

uint64_t
name_hash_end(uint64_t h)
{
	/* FNV's low bits, which pick the slot, barely differ between names
	 * that differ in their last characters (c1, c2, ...): without this
	 * mix such names crowd into long runs of neighbouring slots. */
	h ^= h >> 32;
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 29);
}

uint64_t
name_hash(const char *s)
{
	return name_hash_end(name_hash_add(NAME_HASH_START, s));
}

static void
map_alloc(struct namemap *m, size_t nslots)
{
	m->slots = xcalloc(nslots, sizeof(*m->slots));
	m->mask = nslots - 1;
}

struct namemap *
namemap_new(size_t hint)
{
	struct namemap *m = xcalloc(1, sizeof(*m));
	size_t n = 16;

	while (n < 2 * hint)
		n *= 2;
	map_alloc(m, n);
	return m;
}

void
namemap_free(struct namemap *m)
{
	if (m == NULL)
		return;
	free(m->slots);
	free(m);
}

/* The slot holding key, or the empty slot where it would go. */
static struct slot *
map_find(const struct namemap *m, const char *key, uint64_t h)
{
	size_t i = (size_t)h & m->mask;

	while (m->slots[i].key != NULL &&
	    (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
		i = (i + 1) & m->mask;
	return &m->slots[i];
}

static void
map_grow(struct namemap *m)
{
	struct slot *old = m->slots;
	size_t n = m->mask + 1;

	map_alloc(m, 2 * n);
	for (size_t i = 0; i < n; i++)
		if (old[i].key != NULL)
			*map_find(m, old[i].key, old[i].hash) = old[i];
	free(old);
}

void *
namemap_put(struct namemap *m, const char *key, void *val)
{
	uint64_t h = name_hash(key);
	struct slot *s = map_find(m, key, h);
	void *prev = s->key ? s->val : NULL;

	if (s->key == NULL) {
		if (2 * (m->count + 1) > m->mask + 1) {
			map_grow(m);
			s = map_find(m, key, h);
		}
		m->count++;
	}
	s->key = key;
	s->val = val;
	s->hash = h;
	return prev;
}

void *
namemap_get(const struct namemap *m, const char *key)
{
	const struct slot *s = map_find(m, key, name_hash(key));

	return s->key ? s->val : NULL;
}

size_t
namemap_count(const struct namemap *m)
{
	return m->count;
}
