/*
 * certbot_account.c - one account certbot registered, read from its
 * configuration directory (accounts/SERVER/PATH/ID): the key from
 * private_key.json (a JWK) and the account URL from regr.json.  The
 * certbot_account inventory key points at such a directory; the fleet
 * (fleet_account.c) adopts what this returns.  Here, below the fleet and
 * the operator tool, so both can use it.
 */
#include <errno.h>
#include <string.h>

#include "acme_json.h"
#include "certbot_account.h"
#include "util.h"

/* Bigger than any JWK or registration certbot writes. */
#define CERTBOT_FILE_MAX (1 << 20)

int certbot_account_read(const char *dir, privkey_t **key, char **url, char *err,
    size_t errlen)
{
	char *kpath = xasprintf("%s/private_key.json", dir);
	char *rpath = xasprintf("%s/regr.json", dir);
	char *kjson = NULL, *rjson = NULL;
	struct jwk_text j = {0};
	size_t klen = 0, rlen = 0;
	char reason[256];
	int rc = -1;

	*key = NULL;
	*url = NULL;
	if (read_file(kpath, &kjson, &klen, CERTBOT_FILE_MAX) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", kpath, strerror(errno));
		goto out;
	}
	if (acme_json_jwk_parse(kjson, klen, &j, reason, sizeof(reason)) < 0 ||
	    (*key = privkey_from_jwk(&j, reason, sizeof(reason))) == NULL) {
		snprintf(err, errlen, "%s: %s", kpath, reason);
		goto out;
	}
	if (read_file(rpath, &rjson, &rlen, CERTBOT_FILE_MAX) < 0) {
		snprintf(err, errlen, "cannot read %s: %s", rpath, strerror(errno));
		goto out;
	}
	if ((*url = acme_json_get_string(rjson, rlen, "uri", reason, sizeof(reason))) == NULL) {
		snprintf(err, errlen, "%s: %s", rpath, reason);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0) {
		privkey_free(*key);
		*key = NULL;
		free(*url);
		*url = NULL;
	}
	jwk_text_free(&j);
	free_secret(kjson, klen);
	free(rjson);
	free(kpath);
	free(rpath);
	return rc;
}
