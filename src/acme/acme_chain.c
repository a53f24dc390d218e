/*
 * acme_chain.c - the two per-certificate choices an order makes against
 * what the CA offers: the profile (checked against the directory's
 * meta.profiles before any order is sent) and the preferred chain (picked
 * among the default and the Link: rel="alternate" chains after download,
 * each alternate fetched with a POST-as-GET through the account).
 *
 * The order machine (acme_order.c) calls both; nothing here is persisted.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "acme.h"
#include "log.h"
#include "util.h"

/* ---- profiles ---- */

int
acme_profile_check(const struct acme_directory *d, const char *profile, char *err,
    size_t errlen)
{
	char *offered;

	if (profile == NULL || d->profiles.n == 0)
		return 0;
	for (size_t i = 0; i < d->profiles.n; i++)
		if (strcmp(d->profiles.v[i], profile) == 0)
			return 0;
	offered = strlist_join(&d->profiles, ", ");
	snprintf(err, errlen, "the CA offers no profile '%s' (it offers: %s)", profile, offered);
	free(offered);
	return -1;
}

/* ---- preferred chain ---- */

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"

/* The certificate blocks of a PEM text, in order; each a copy. */
static void
pem_blocks(const char *pem, size_t len, struct strlist *out)
{
	const char *p = pem, *end = pem + len, *b, *e;
	char *blk;

	while (p < end && (b = memmem(p, (size_t)(end - p), PEM_BEGIN, strlen(PEM_BEGIN)))) {
		e = memmem(b, (size_t)(end - b), PEM_END, strlen(PEM_END));
		if (e == NULL)
			break;
		e += strlen(PEM_END);
		blk = xstrndup(b, (size_t)(e - b));
		strlist_add(out, blk);
		free(blk);
		p = e;
	}
}

/* "sha256:AB:CD..." or "sha256:abcd..." to 32 bytes.  0 ok. */
static int
parse_fingerprint(const char *s, unsigned char out[32])
{
	size_t n = 0;
	int hi = -1;

	if (strncasecmp(s, "sha256:", 7) != 0)
		return -1;
	for (s += 7; *s; s++) {
		int v;

		if (*s == ':' && hi < 0)
			continue;
		if (!isxdigit((unsigned char)*s) || n == 32)
			return -1;
		v = isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10;
		if (hi < 0) {
			hi = v;
		} else {
			out[n++] = (unsigned char)(hi << 4 | v);
			hi = -1;
		}
	}
	return n == 32 && hi < 0 ? 0 : -1;
}

/* Issuer CN of the chain's top certificate; caller frees; NULL if none. */
static char *
top_issuer(const struct strlist *blocks)
{
	struct cert_info ci = {0};
	char *cn = NULL;

	if (blocks->n == 0)
		return NULL;
	if (cert_info_from_pem(blocks->v[blocks->n - 1], strlen(blocks->v[blocks->n - 1]),
	    &ci) == 0) {
		cn = xstrdup(ci.issuer_cn);
		cert_info_free(&ci);
	}
	return cn;
}

static bool
blocks_match(const struct strlist *blocks, const char *preferred)
{
	unsigned char want[32], got[32];
	bool match = false;
	char *cn;

	if (parse_fingerprint(preferred, want) == 0) {
		/* Above the leaf: the leaf is ours whatever the chain. */
		for (size_t i = 1; i < blocks->n && !match; i++) {
			unsigned char *der = NULL;
			size_t derlen = 0;

			if (cert_pem_to_der(blocks->v[i], strlen(blocks->v[i]), &der, &derlen) < 0)
				continue;
			crypto_sha256(der, derlen, got);
			match = memcmp(want, got, sizeof(got)) == 0;
			free(der);
		}
		return match;
	}
	cn = top_issuer(blocks);
	match = cn != NULL && strcasecmp(cn, preferred) == 0;
	free(cn);
	return match;
}

bool
acme_chain_matches(const char *pem, size_t len, const char *preferred)
{
	struct strlist blocks = {0};
	bool match;

	pem_blocks(pem, len, &blocks);
	match = blocks_match(&blocks, preferred);
	strlist_free(&blocks);
	return match;
}

/* For log lines: the top issuer CN of a chain, or "?". Caller frees. */
static char *
chain_label(const char *pem, size_t len)
{
	struct strlist blocks = {0};
	char *cn;

	pem_blocks(pem, len, &blocks);
	cn = top_issuer(&blocks);
	strlist_free(&blocks);
	return cn ? cn : xstrdup("?");
}

struct acme_chain_pick {
	struct acme_account *a;
	char *name;
	char *preferred;
	struct strlist urls;        /* alternates still to try, from next */
	size_t next;
	struct strlist seen;        /* top issuers of what was offered, for the log */
	char *dflt;                 /* the default chain */
	size_t dflt_len;
	struct acme_call *call;
	acme_chain_cb cb;
	void *arg;
};

static void
pick_free(struct acme_chain_pick *p)
{
	if (p == NULL)
		return;
	acme_call_cancel(p->call);
	free(p->name);
	free(p->preferred);
	strlist_free(&p->urls);
	strlist_free(&p->seen);
	free(p->dflt);
	free(p);
}

void
acme_chain_pick_cancel(struct acme_chain_pick *p)
{
	pick_free(p);
}

static void pick_done_cb(const struct acme_reply *r, void *arg);

/* Starts the next alternate's download; false when none is left. */
static bool
pick_next(struct acme_chain_pick *p)
{
	struct acme_post_opts o = {0};

	while (p->next < p->urls.n) {
		o.url = p->urls.v[p->next++];
		o.endpoint = ACME_EP_CERT;
		o.label = p->name;
		o.payload = "";
		o.accept = "application/pem-certificate-chain";
		if ((p->call = acme_post(p->a, &o, pick_done_cb, p)) != NULL)
			return true;
		log_cert(LOG_WARNING, p->name, LOG_EVENT_NONE,
		    "cannot request alternate chain %s", o.url);
	}
	return false;
}

/* Hands over the default chain (nothing matched) and frees p. */
static void
pick_default(struct acme_chain_pick *p)
{
	char *offered = strlist_join(&p->seen, "', '");
	char *pem = p->dflt;
	size_t len = p->dflt_len;

	log_cert(LOG_WARNING, p->name, LOG_EVENT_NONE,
	    "no chain matches preferred_chain '%s' (top issuers offered: '%s'); "
	    "installing the default chain", p->preferred, offered);
	free(offered);
	p->dflt = NULL;
	p->cb(pem, len, p->arg);
	pick_free(p);
}

static void
pick_done_cb(const struct acme_reply *r, void *arg)
{
	struct acme_chain_pick *p = arg;
	const char *url = p->urls.v[p->next - 1];
	char *pem, *cn;

	p->call = NULL;
	if (r->status == 200 && r->http->body_len > 0) {
		if (acme_chain_matches(r->http->body, r->http->body_len, p->preferred)) {
			pem = xstrndup(r->http->body, r->http->body_len);
			log_cert(LOG_INFO, p->name, LOG_EVENT_NONE,
			    "installing alternate chain %s (matches preferred_chain '%s')",
			    url, p->preferred);
			p->cb(pem, r->http->body_len, p->arg);
			pick_free(p);
			return;
		}
		cn = chain_label(r->http->body, r->http->body_len);
		strlist_add(&p->seen, cn);
		free(cn);
	} else {
		log_cert(LOG_WARNING, p->name, LOG_EVENT_NONE,
		    "cannot download alternate chain %s: %s", url,
		    r->error ? r->error : "unexpected HTTP status");
	}
	if (!pick_next(p))
		pick_default(p);
}

struct acme_chain_pick *
acme_chain_pick(struct acme_account *a, const char *name, const char *preferred,
    const struct http_response *resp, acme_chain_cb cb, void *arg)
{
	struct acme_chain_pick *p;
	char *cn;

	if (preferred == NULL || acme_chain_matches(resp->body, resp->body_len, preferred))
		return NULL;
	cn = chain_label(resp->body, resp->body_len);
	if (resp->nlink_alternate == 0) {
		log_cert(LOG_WARNING, name, LOG_EVENT_NONE,
		    "the default chain (top issuer '%s') does not match preferred_chain "
		    "'%s' and the CA offers no alternate; installing it", cn, preferred);
		free(cn);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->a = a;
	p->name = xstrdup(name);
	p->preferred = xstrdup(preferred);
	p->cb = cb;
	p->arg = arg;
	p->dflt = xstrndup(resp->body, resp->body_len);
	p->dflt_len = resp->body_len;
	strlist_add(&p->seen, cn);
	free(cn);
	for (size_t i = 0; i < resp->nlink_alternate; i++)
		strlist_add(&p->urls, resp->link_alternate[i]);
	log_cert(LOG_INFO, name, LOG_EVENT_NONE,
	    "the default chain does not match preferred_chain '%s'; trying %zu "
	    "alternate%s", preferred, p->urls.n, p->urls.n == 1 ? "" : "s");
	if (!pick_next(p)) {
		/* Nothing could even be sent: keep the default, at once. */
		log_cert(LOG_WARNING, name, LOG_EVENT_NONE, "installing the default chain");
		pick_free(p);
		return NULL;
	}
	return p;
}
