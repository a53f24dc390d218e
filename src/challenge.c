/*
 * challenge.c - challenge selection and the glue from a chosen challenge
 * to the module that serves it.  http-01 is served by the built-in
 * responder (http01.c) or as a file under the certificate's webroot.
 */
#include <string.h>

#include "challenge.h"
#include "http01.h"
#include "jws.h"
#include "log.h"
#include "util.h"

struct challenge_solver {
	enum challenge_type type;
	struct acme_env *env;
	enum http01_mode mode;
	char *webroot;
	char *token;
};

static bool
type_matches(enum challenge_type t, const char *name)
{
	return strcmp(challenge_type_name(t), name) == 0;
}

static bool
supported(enum challenge_type t)
{
	return t == CHALLENGE_HTTP01;
}

const struct acme_challenge *
challenge_choose(const struct config_cert *cert, const struct acme_authz *a, char *err,
    size_t errlen)
{
	struct buf offered = {0};

	for (size_t p = 0; p < cert->nchallenges; p++) {
		enum challenge_type t = cert->challenges[p];
		if (!supported(t))
			continue;
		for (size_t i = 0; i < a->nchallenges; i++)
			if (type_matches(t, a->challenges[i].type) && a->challenges[i].token)
				return &a->challenges[i];
	}
	for (size_t i = 0; i < a->nchallenges; i++)
		buf_appendf(&offered, "%s%s", i ? ", " : "", a->challenges[i].type);
	{
		struct buf want = {0};
		for (size_t p = 0; p < cert->nchallenges; p++)
			buf_appendf(&want, "%s%s%s", p ? ", " : "",
			    challenge_type_name(cert->challenges[p]),
			    supported(cert->challenges[p]) ? "" : " (not supported)");
		snprintf(err, errlen, "the CA offers %s; configured: %s",
		    offered.len ? offered.data : "no challenges", want.len ? want.data : "none");
		buf_free(&want);
	}
	buf_free(&offered);
	return NULL;
}

struct challenge_solver *
challenge_publish(struct acme_env *env, const struct config_cert *cert,
    const char *identifier, const struct acme_challenge *ch, const privkey_t *account_key,
    char *err, size_t errlen)
{
	struct challenge_solver *s = NULL;
	char *keyauth = NULL;

	(void)identifier;
	if (!type_matches(CHALLENGE_HTTP01, ch->type)) {
		snprintf(err, errlen, "challenge type %s is not supported", ch->type);
		return NULL;
	}
	if ((keyauth = jws_key_authorization(ch->token, account_key)) == NULL) {
		snprintf(err, errlen, "cannot compute the key authorization");
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->type = CHALLENGE_HTTP01;
	s->env = env;
	s->mode = cert->http01_mode;
	s->token = xstrdup(ch->token);
	if (cert->http01_mode == HTTP01_WEBROOT) {
		s->webroot = xstrdup(cert->webroot);
		if (http01_webroot_publish(s->webroot, s->token, keyauth, err, errlen) < 0)
			goto fail;
	} else {
		if (env->http01 == NULL) {
			snprintf(err, errlen, "the built-in http-01 responder is not running");
			goto fail;
		}
		if (http01_server_add(env->http01, s->token, keyauth) < 0) {
			snprintf(err, errlen, "cannot publish token %s", s->token);
			goto fail;
		}
	}
	free(keyauth);
	return s;
fail:
	free(keyauth);
	free(s->webroot);
	free(s->token);
	free(s);
	return NULL;
}

void
challenge_unpublish(struct challenge_solver *s)
{
	if (s == NULL)
		return;
	if (s->mode == HTTP01_WEBROOT)
		http01_webroot_remove(s->webroot, s->token);
	else if (s->env->http01)
		http01_server_remove(s->env->http01, s->token);
	free(s->webroot);
	free(s->token);
	free(s);
}
