/*
 * challenge.c - challenge selection and the glue from a chosen challenge
 * to the module that serves it: http-01 by the built-in responder
 * (http01.c) or as a file under the certificate's webroot, tls-alpn-01 by
 * the built-in responder (tlsalpn.c), dns-01 by the certificate's hook and
 * the propagation check (dns01.c), as its struct challenge_settings say.
 *
 * Every publication completes through the same callback so the order
 * state machine has one path: the immediate kinds report from a zero
 * timer, never from inside challenge_publish().
 */
#include <string.h>

#include <ev.h>

#include "challenge.h"
#include "dns01.h"
#include "http01.h"
#include "jws.h"
#include "log.h"
#include "tlsalpn.h"
#include "util.h"

struct challenge_solver {
	enum challenge_type type;
	struct acme_env *env;
	char *webroot;              /* http-01 as a file under it; NULL: responder */
	char *token;
	char *name;                 /* tls-alpn-01: the identifier */
	char *keyauth;              /* tls-alpn-01: to withdraw the right entry */
	struct dns01_task *dns;
	ev_timer ready;
	challenge_ready_cb cb;
	void *arg;
};

static bool
type_matches(enum challenge_type t, const char *name)
{
	return strcmp(challenge_type_name(t), name) == 0;
}

bool
challenge_supported(enum challenge_type t)
{
	return t == CHALLENGE_HTTP01 || t == CHALLENGE_DNS01 || t == CHALLENGE_TLSALPN01;
}

void
challenge_settings_copy(struct challenge_settings *dst,
    const struct challenge_settings *src)
{
	memset(dst, 0, sizeof(*dst));
	for (size_t i = 0; i < src->ntypes && i < CHALLENGE_TYPE__MAX; i++)
		dst->types[dst->ntypes++] = src->types[i];
	dst->webroot = xstrdup(src->webroot);
	dst->dns01_hook = xstrdup(src->dns01_hook);
}

void
challenge_settings_clear(struct challenge_settings *cs)
{
	if (cs == NULL)
		return;
	free(cs->webroot);
	free(cs->dns01_hook);
	memset(cs, 0, sizeof(*cs));
}

const struct acme_challenge *
challenge_choose(const struct challenge_settings *cs, const struct acme_authz *a, char *err,
    size_t errlen)
{
	struct buf offered = {0}, want = {0};

	for (size_t p = 0; p < cs->ntypes; p++) {
		enum challenge_type t = cs->types[p];
		if (!challenge_supported(t))
			continue;
		for (size_t i = 0; i < a->nchallenges; i++)
			if (type_matches(t, a->challenges[i].type) && a->challenges[i].token)
				return &a->challenges[i];
	}
	for (size_t i = 0; i < a->nchallenges; i++)
		buf_appendf(&offered, "%s%s", i ? ", " : "", a->challenges[i].type);
	for (size_t p = 0; p < cs->ntypes; p++)
		buf_appendf(&want, "%s%s%s", p ? ", " : "", challenge_type_name(cs->types[p]),
		    challenge_supported(cs->types[p]) ? "" : " (not supported)");
	snprintf(err, errlen, "the CA offers %s for %s%s; configured: %s",
	    offered.len ? offered.data : "no challenges", a->wildcard ? "*." : "",
	    a->identifier ? a->identifier : "?", want.len ? want.data : "none");
	buf_free(&offered);
	buf_free(&want);
	return NULL;
}

static void
ready_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct challenge_solver *s = w->data;
	challenge_ready_cb cb = s->cb;

	(void)revents;
	ev_timer_stop(loop, w);
	s->cb = NULL;
	if (cb)
		cb(true, NULL, s->arg);
}

static void
dns_done(bool ok, const char *error, void *arg)
{
	struct challenge_solver *s = arg;
	challenge_ready_cb cb = s->cb;

	s->cb = NULL;
	if (cb)
		cb(ok, error, s->arg);
}

static int
publish_http01(struct challenge_solver *s, const struct challenge_settings *cs,
    const char *keyauth, char *err, size_t errlen)
{
	if (cs->webroot != NULL) {
		s->webroot = xstrdup(cs->webroot);
		return http01_webroot_publish(s->webroot, s->token, keyauth, err, errlen);
	}
	if (s->env->http01 == NULL) {
		snprintf(err, errlen, "the built-in http-01 responder is not running");
		return -1;
	}
	if (http01_server_add(s->env->http01, s->token, keyauth) < 0) {
		snprintf(err, errlen, "cannot publish token %s", s->token);
		return -1;
	}
	return 0;
}

static int
publish_tlsalpn01(struct challenge_solver *s, const struct acme_authz *a,
    const char *keyauth, char *err, size_t errlen)
{
	if (s->env->tlsalpn == NULL) {
		snprintf(err, errlen, "the built-in tls-alpn-01 responder is not running");
		return -1;
	}
	if (tlsalpn_server_add(s->env->tlsalpn, a->identifier, keyauth, err, errlen) < 0)
		return -1;
	s->name = xstrdup(a->identifier);
	s->keyauth = xstrdup(keyauth);
	return 0;
}

static int
publish_dns01(struct challenge_solver *s, const char *cert_name,
    const struct challenge_settings *cs, const struct acme_authz *a, const char *keyauth,
    char *err, size_t errlen)
{
	struct dns01_opts o = {0};
	char *value = NULL, *record = NULL, *domain = NULL;

	if (cs->dns01_hook == NULL) {
		snprintf(err, errlen, "no dns01_hook is configured");
		return -1;
	}
	if (s->env->dns == NULL) {
		snprintf(err, errlen, "the DNS check threads are not running");
		return -1;
	}
	value = jws_dns01_value(keyauth);
	record = dns01_record_name(a->identifier);
	domain = xasprintf("%s%s", a->wildcard ? "*." : "", a->identifier);
	o.cert_name = cert_name;
	o.domain = domain;
	o.record = record;
	o.value = value;
	o.hook = cs->dns01_hook;
	o.hook_timeout = (double)s->env->hook_timeout;
	o.propagation_timeout = (double)s->env->dns_propagation_timeout;
	o.resolver = s->env->dns_resolver;
	s->dns = dns01_publish(s->env->loop, s->env->dns, &o, dns_done, s);
	free(value);
	free(record);
	free(domain);
	return 0;
}

struct challenge_solver *
challenge_publish(struct acme_env *env, const char *cert_name,
    const struct challenge_settings *cs, const struct acme_authz *a,
    const struct acme_challenge *ch, const privkey_t *account_key, challenge_ready_cb cb,
    void *arg, char *err, size_t errlen)
{
	struct challenge_solver *s = NULL;
	char *keyauth = NULL;
	int t, rc = -1;

	for (t = 0; t < CHALLENGE_TYPE__MAX; t++)
		if (type_matches((enum challenge_type)t, ch->type))
			break;
	if (t == CHALLENGE_TYPE__MAX || !challenge_supported((enum challenge_type)t)) {
		snprintf(err, errlen, "challenge type %s is not supported", ch->type);
		return NULL;
	}
	if ((keyauth = jws_key_authorization(ch->token, account_key)) == NULL) {
		snprintf(err, errlen, "cannot compute the key authorization");
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->type = (enum challenge_type)t;
	s->env = env;
	s->token = xstrdup(ch->token);
	s->cb = cb;
	s->arg = arg;
	ev_timer_init(&s->ready, ready_cb, 0., 0.);
	s->ready.data = s;
	switch (s->type) {
	case CHALLENGE_HTTP01:
		rc = publish_http01(s, cs, keyauth, err, errlen);
		break;
	case CHALLENGE_TLSALPN01:
		rc = publish_tlsalpn01(s, a, keyauth, err, errlen);
		break;
	case CHALLENGE_DNS01:
		rc = publish_dns01(s, cert_name, cs, a, keyauth, err, errlen);
		break;
	default:
		break;
	}
	free_secret_str(keyauth);
	if (rc < 0) {
		/* Nothing of it was published (a webroot file failed as a whole). */
		s->type = CHALLENGE_TYPE__MAX;
		challenge_unpublish(s);
		return NULL;
	}
	if (s->type != CHALLENGE_DNS01)
		ev_timer_start(env->loop, &s->ready);
	return s;
}

void
challenge_unpublish(struct challenge_solver *s)
{
	if (s == NULL)
		return;
	ev_timer_stop(s->env->loop, &s->ready);
	switch (s->type) {
	case CHALLENGE_HTTP01:
		if (s->webroot != NULL)
			http01_webroot_remove(s->webroot, s->token);
		else if (s->env->http01)
			http01_server_remove(s->env->http01, s->token);
		break;
	case CHALLENGE_TLSALPN01:
		if (s->env->tlsalpn && s->name)
			tlsalpn_server_remove(s->env->tlsalpn, s->name, s->keyauth);
		break;
	case CHALLENGE_DNS01:
		dns01_unpublish(s->dns);
		break;
	default:
		break;
	}
	free(s->webroot);
	free(s->token);
	free(s->name);
	free_secret_str(s->keyauth);
	free(s);
}
