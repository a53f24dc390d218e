/*
 * config_validate.c - checks between entries of the inventory: no two
 * certificates with one name, none ordering what another already orders.
 *
 * The certificates parsed so far are hashed by name and by what they order,
 * so each check costs O(1) and not a pass over every earlier entry (10,000
 * certificates must load in well under a second), with namemap's hash
 * (namemap.h).  Called by config_schema.c as it adds each certificate;
 * calls only config_tree.c and that hash.
 */
#include "config_validate.h"

#include <stdint.h>
#include <string.h>

#include "namemap.h"

struct cfg_cert_index {
	size_t mask;                    /* slots - 1, a power of two less one */
	size_t *name_slot, *set_slot;   /* cert index + 1; 0: empty */
	uint64_t *name_h, *set_h;       /* per cert index */
};

/* What a certificate orders, as strlist_equal_sorted() and the checks below
 * compare it: the set of names (order and repeats ignored; they are lower
 * case already), key type, account and profile. */
static uint64_t
order_hash(const struct config_cert *cc)
{
	size_t n;
	const char **v = strlist_sorted_set(&cc->domains, &n);
	uint64_t h = NAME_HASH_START;

	for (size_t i = 0; i < n; i++)
		h = name_hash_add(h, v[i]);
	free(v);
	h = name_hash_add_num(h, (uint64_t)cc->key_type);
	h = name_hash_add(h, cc->account_name);
	return name_hash_end(name_hash_add(h, cc->profile ? cc->profile : "\x01"));
}

struct cfg_cert_index *
cfg_cert_index_new(size_t ncerts)
{
	struct cfg_cert_index *ix = xcalloc(1, sizeof(*ix));
	size_t slots = 16;

	while (slots < 2 * ncerts)
		slots *= 2;
	ix->mask = slots - 1;
	ix->name_slot = xcalloc(slots, sizeof(size_t));
	ix->set_slot = xcalloc(slots, sizeof(size_t));
	ix->name_h = xcalloc(ncerts + 1, sizeof(uint64_t));
	ix->set_h = xcalloc(ncerts + 1, sizeof(uint64_t));
	return ix;
}

void
cfg_cert_index_free(struct cfg_cert_index *ix)
{
	if (ix == NULL)
		return;
	free(ix->name_slot);
	free(ix->set_slot);
	free(ix->name_h);
	free(ix->set_h);
	free(ix);
}

static bool
same_order(const struct config_cert *o, const struct config_cert *cc)
{
	/* Same names with another key type is the dual RSA/ECDSA setup (or
	 * another CA, another profile): a different certificate. */
	return o->key_type == cc->key_type && strlist_equal_sorted(&o->domains, &cc->domains) &&
	    strcmp(o->account_name, cc->account_name) == 0 &&
	    (o->profile == NULL) == (cc->profile == NULL) &&
	    (o->profile == NULL || strcmp(o->profile, cc->profile) == 0);
}

int cfg_cert_name_unique(struct cfg_ctx *x, const struct config *c,
    const struct cfg_cert_index *ix, const struct ynode *map, const char *path,
    const char *name)
{
	uint64_t nh = name_hash(name);
	size_t i, k;
	char sub[CFG_PATH_LEN];

	for (i = nh & ix->mask; (k = ix->name_slot[i]) != 0; i = (i + 1) & ix->mask) {
		const struct config_cert *o = &c->certs[k - 1];

		if (ix->name_h[k - 1] == nh && strcmp(o->name, name) == 0) {
			cfg_path_key(sub, sizeof(sub), path, "name");
			return cfg_error(x, cfg_map_get(map, "name"), sub, "duplicate certificate "
			    "name '%s' (first at line %d)", name, o->line);
		}
	}
	return 0;
}

int cfg_cert_unique(struct cfg_ctx *x, const struct config *c, struct cfg_cert_index *ix,
    const struct ynode *map, const char *path, const struct config_cert *cc)
{
	uint64_t nh = name_hash(cc->name), sh = order_hash(cc);
	size_t i, k;

	for (i = sh & ix->mask; (k = ix->set_slot[i]) != 0; i = (i + 1) & ix->mask) {
		const struct config_cert *o = &c->certs[k - 1];

		if (ix->set_h[k - 1] == sh && same_order(o, cc))
			return cfg_error(x, map, path, "certificate '%s' orders the same names "
			    "with the same key type, account and profile as '%s' (line %d); "
			    "remove one, or give it another key_type to install RSA and ECDSA "
			    "certificates side by side", cc->name, o->name, o->line);
	}
	/* Recorded under the index the caller stores it at. */
	k = c->ncerts;
	ix->name_h[k] = nh;
	ix->set_h[k] = sh;
	for (i = nh & ix->mask; ix->name_slot[i] != 0; i = (i + 1) & ix->mask)
		;
	ix->name_slot[i] = k + 1;
	for (i = sh & ix->mask; ix->set_slot[i] != 0; i = (i + 1) & ix->mask)
		;
	ix->set_slot[i] = k + 1;
	return 0;
}
