/*
 * config.c - reads the YAML inventory (certfleet.yaml(5)) into an immutable
 * struct config: the entry point of the config module (config_load(),
 * config_free() and the comparisons of config.h).
 *
 * Two passes: config_tree.c reads the file into a tree of ynodes that keeps
 * every node's line and column, then config_schema.c walks the tree against
 * the inventory's schema (with values checked by config_types.c and
 * config_files.c, and the certificates against one another by
 * config_validate.c).  The walk stops at the first problem and reports it
 * as one line, "FILE:LINE:COL: key.path: what is wrong", so `certfleetd
 * --check` and a failed reload point at the exact spot.  Nothing is
 * half-loaded: on any error everything built so far is freed and the
 * caller keeps its old configuration.
 */
#include "config.h"

#include <string.h>

#include "config_cluster.h"
#include "config_notify.h"
#include "config_schema.h"
#include "config_tree.h"

/* ---- public API ---- */

int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	return config_load_ex(path, 0, out, err, errlen);
}

int config_load_ex(const char *path, unsigned flags, struct config **out, char *err,
    size_t errlen)
{
	struct cfg_ctx x = { .file = path, .flags = flags, .err = err, .errlen = errlen };
	struct ynode *root = NULL;
	struct config *c = NULL;
	int rc = -1;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if (cfg_tree_load(&x, &root) < 0)
		goto out;
	if (cfg_null(root)) {
		cfg_error(&x, root, NULL, "the inventory is empty; expected a mapping with "
		    "accounts: and certificates:");
		goto out;
	}
	c = xcalloc(1, sizeof(*c));
	if (cfg_build(&x, root, c) < 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	config_free(c);
	ynode_free(root);
	free(x.basedir);
	return rc;
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->state_dir);
	free(c->control_socket);
	free(c->http01_listen);
	free(c->tlsalpn01_listen);
	free(c->dns_resolver);
	free(c->metrics_listen);
	free(c->metrics_textfile);
	strlist_free(&c->post_hook);
	cfg_notify_free_members(&c->notify);
	free(c->cert_output_dir);
	if (c->cert_notify != NULL) {
		cfg_notify_free_members(c->cert_notify);
		free(c->cert_notify);
	}
	cfg_cluster_free(c->cluster);
	for (size_t i = 0; i < c->naccounts; i++)
		cfg_account_free_members(&c->accounts[i]);
	free(c->accounts);
	for (size_t i = 0; i < c->ncerts; i++)
		cfg_cert_free_members(&c->certs[i]);
	free(c->certs);
	free(c);
}

static bool str_equal(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool config_cert_order_equal(const struct config_cert *a, const struct config_cert *b)
{
	if (!strlist_equal_sorted(&a->domains, &b->domains) || a->key_type != b->key_type ||
	    !str_equal(a->account_name, b->account_name) ||
	    a->nchallenges != b->nchallenges || !str_equal(a->profile, b->profile) ||
	    a->shared != b->shared)
		return false;
	for (size_t i = 0; i < a->nchallenges; i++)
		if (a->challenges[i] != b->challenges[i])
			return false;
	return true;
}
