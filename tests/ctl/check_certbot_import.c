/*
 * check_certbot_import.c - unit tests for certbot_import.c: a certbot
 * configuration directory (tests/data/certbot, made by gen.sh there) turned
 * into an inventory that config_load() accepts with the values certbot
 * had, lineages that cannot be mapped written commented out, errors that
 * name the file, and certbot's account files read into a key and a URL.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certbot_account.h"
#include "certbot_import.h"
#include "config.h"
#include "crypto.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

#define FIXTURE TEST_DATA_DIR "/certbot"
#define ACCOUNT "accounts/acme.example.test/directory/0123456789abcdef0123456789abcdef"

static char basedir[64], tmpdir[96];

static void
base_setup(void)
{
	snprintf(basedir, sizeof(basedir), "/tmp/check_certbot.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(basedir));
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
base_teardown(void)
{
	nftw(basedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Replaces every @DIR@ in path with dir. */
static void
fill_in(const char *path, const char *dir)
{
	char *data = NULL, *p, *q;
	size_t len;
	struct buf b = {0};

	ck_assert_int_eq(read_file(path, &data, &len, 1 << 20), 0);
	for (p = data; (q = strstr(p, "@DIR@")) != NULL; p = q + 5) {
		buf_append(&b, p, (size_t)(q - p));
		buf_appendf(&b, "%s", dir);
	}
	buf_appendf(&b, "%s", p);
	write_text(path, b.data);
	buf_free(&b);
	free(data);
}

/* A copy of the fixture in its own directory, as certbot would have
 * written it there. */
static void
setup(void)
{
	static const char *const confs[] = { "web", "api", "two", "manual", "dns" };
	char *cmd, *p;

	snprintf(tmpdir, sizeof(tmpdir), "%s/le.XXXXXX", basedir);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	cmd = xasprintf("cp -a '%s/.' '%s/'", FIXTURE, tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	for (size_t i = 0; i < ARRAY_SIZE(confs); i++) {
		p = xasprintf("%s/renewal/%s.conf", tmpdir, confs[i]);
		fill_in(p, tmpdir);
		free(p);
	}
}

static void
teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static char *
import(size_t *ncerts, size_t *naccts)
{
	struct certbot_import_opts o = { tmpdir, NULL, NULL };
	char err[1024], *yaml = NULL;

	ck_assert_msg(certbot_import(&o, &yaml, ncerts, naccts, err, sizeof(err)) == 0, "%s",
	    err);
	return yaml;
}

/* The inventory as written, plus a state_dir, loaded like --check does. */
static struct config *
load(const char *yaml)
{
	char *path = xasprintf("%s/inventory.yaml", tmpdir), *text, err[1024];
	struct config *c = NULL;

	text = xasprintf("%sstate_dir: %s/state\n", yaml, tmpdir);
	write_text(path, text);
	chmod(path, 0600);
	ck_assert_msg(config_load(path, &c, err, sizeof(err)) == 0, "%s\n%s", err, yaml);
	free(text);
	free(path);
	return c;
}

START_TEST(test_import_maps_certbot)
{
	size_t ncerts = 0, naccts = 0;
	char *yaml = import(&ncerts, &naccts);
	struct config *c = load(yaml);
	const struct config_cert *web, *api;
	const struct config_account *a, *b;
	char *acct = xasprintf("%s/" ACCOUNT, tmpdir);

	ck_assert_uint_eq(ncerts, 2);
	ck_assert_uint_eq(naccts, 2);
	ck_assert_uint_eq(c->ncerts, 2);
	ck_assert_str_eq(c->certs[0].output_dir, tmpdir);

	/* web: webroot, RSA 3072, names from the certificate with the CN
	 * first, renew_before, certbot's deploy hook after the executables
	 * of renewal-hooks/deploy. */
	web = config_find_cert(c, "web");
	ck_assert_ptr_nonnull(web);
	ck_assert_uint_eq(web->domains.n, 2);
	ck_assert_str_eq(web->domains.v[0], "www.example.org");
	ck_assert_str_eq(web->domains.v[1], "example.org");
	ck_assert_int_eq(web->key_type, KEY_RSA_3072);
	ck_assert_int_eq(web->http01_mode, HTTP01_WEBROOT);
	ck_assert_str_eq(web->webroot, "/var/www/example");
	ck_assert_int_eq(web->renew_before, 30 * 86400);
	ck_assert_uint_eq(web->deploy_hook.n, 3);
	ck_assert_str_eq(web->deploy_hook.v[0], "/bin/sh");
	ck_assert_str_eq(web->deploy_hook.v[1], "-c");
	ck_assert_ptr_nonnull(strstr(web->deploy_hook.v[2], "/renewal-hooks/deploy/*"));
	ck_assert_ptr_nonnull(strstr(web->deploy_hook.v[2], "; systemctl reload nginx"));
	ck_assert_int_eq(web->reuse_key, false);

	/* api: standalone, P-384, reuse_key, preferred chain, "2 weeks 3 days". */
	api = config_find_cert(c, "api");
	ck_assert_ptr_nonnull(api);
	ck_assert_int_eq(api->key_type, KEY_EC_P384);
	ck_assert_int_eq(api->http01_mode, HTTP01_STANDALONE);
	ck_assert_int_eq(api->reuse_key, true);
	ck_assert_str_eq(api->preferred_chain, "ISRG Root X1");
	ck_assert_int_eq(api->renew_before, 17 * 86400);

	/* One post hook for the batch, however many lineages had it. */
	ck_assert_uint_eq(c->post_hook.n, 3);
	ck_assert_str_eq(c->post_hook.v[2], "service haproxy start");

	/* The account certbot has on disk is adopted; the other one is not
	 * there, so a comment says it will be registered. */
	a = config_find_account(c, web->account_name);
	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a->directory_url, "https://acme.example.test/directory");
	ck_assert_str_eq(a->certbot_account, acct);
	b = config_find_account(c, api->account_name);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(b->directory_url, "https://other.example.test/dir");
	ck_assert_ptr_null(b->certbot_account);
	ck_assert_ptr_nonnull(strstr(yaml, "# certbot account ffffffffffffffffffffffffffffffff "
	    "not found"));

	/* What could not be mapped is said, next to where it would go. */
	ck_assert_ptr_nonnull(strstr(yaml, "# certbot pre_hook is not mapped"));
	ck_assert_ptr_nonnull(strstr(yaml, "# renewal-hooks/pre/ is not mapped"));
	ck_assert_ptr_nonnull(strstr(yaml, "# certbot installer is not used"));
	ck_assert_ptr_nonnull(strstr(yaml, "# certbot option some_new_option = 7 is not mapped"));
	ck_assert_ptr_nonnull(strstr(yaml, "# certbot's standalone server used http01_port"));
	/* Lineages that cannot be mapped are commented out whole, with why. */
	ck_assert_uint_eq(count_of(yaml, "# NOT IMPORTED: "), 3);
	ck_assert_ptr_nonnull(strstr(yaml, "certbot's dns-cloudflare plugin has no certfleet "
	    "equivalent"));
	ck_assert_ptr_nonnull(strstr(yaml, "the manual authenticator cannot be automated"));
	ck_assert_ptr_nonnull(strstr(yaml, "several webroots (/var/www/a, /var/www/b)"));
	ck_assert_ptr_nonnull(strstr(yaml, "  # - name: manual\n  #   domains: [m.example.org]\n"));
	ck_assert_ptr_null(config_find_cert(c, "manual"));
	ck_assert_ptr_null(config_find_cert(c, "dns"));
	ck_assert_ptr_null(config_find_cert(c, "two"));

	config_free(c);
	free(yaml);
	free(acct);
}
END_TEST

/* The current certificate is read through the crypto module, from live/
 * or, when live/ is gone, from the highest archive version. */
START_TEST(test_import_names_from_archive)
{
	size_t ncerts, naccts;
	char *p = xasprintf("%s/live/web/cert.pem", tmpdir), *yaml;

	ck_assert_int_eq(unlink(p), 0);
	yaml = import(&ncerts, &naccts);
	ck_assert_ptr_nonnull(strstr(yaml, "current certificate "));
	ck_assert_ptr_nonnull(strstr(yaml, "/archive/web/cert1.pem\n"));
	ck_assert_ptr_nonnull(strstr(yaml, "domains: [\"www.example.org\", \"example.org\"]"));
	free(yaml);
	free(p);
}
END_TEST

START_TEST(test_import_unmappable_values)
{
	size_t ncerts, naccts;
	char *p = xasprintf("%s/renewal/web.conf", tmpdir), *text, *yaml;

	/* An expiry margin certbot's parser took but ours does not, a key
	 * type certfleet does not have, and webroot_path without a map. */
	text = xasprintf("renew_before_expiry = a fortnight\n"
	    "cert = %s/live/web/cert.pem\n"
	    "[renewalparams]\n"
	    "account = 0123456789abcdef0123456789abcdef\n"
	    "key_type = ed25519\n"
	    "server = https://acme.example.test/directory\n"
	    "authenticator = webroot\n"
	    "webroot_path = /srv/www ,\n", tmpdir);
	write_text(p, text);
	yaml = import(&ncerts, &naccts);
	ck_assert_ptr_nonnull(strstr(yaml, "# certbot renew_before_expiry = a fortnight is not "
	    "understood"));
	ck_assert_ptr_nonnull(strstr(yaml, "# certbot key_type ed25519 is not rsa or ecdsa; "
	    "using rsa-3072\n    key_type: rsa-3072\n"));
	ck_assert_ptr_nonnull(strstr(yaml, "webroot: \"/srv/www\"}"));
	config_free(load(yaml));
	free(yaml);
	free(text);
	free(p);

	/* No key_type at all (older certbots): the current key's, P-384 for
	 * api, without a note. */
	p = xasprintf("%s/renewal/api.conf", tmpdir);
	text = xasprintf("[renewalparams]\naccount = 0123456789abcdef0123456789abcdef\n"
	    "server = https://acme.example.test/directory\nauthenticator = standalone\n");
	write_text(p, text);
	yaml = import(&ncerts, &naccts);
	ck_assert_ptr_nonnull(strstr(yaml, "    domains: [\"api.example.org\"]\n"
	    "    account: certbot-01234567\n    key_type: ec-p384\n"));
	free(yaml);
	free(text);
	free(p);
}
END_TEST

START_TEST(test_import_errors)
{
	struct certbot_import_opts o = { NULL, NULL, NULL };
	char err[1024], *yaml = NULL, *p;
	size_t n1, n2;

	o.config_dir = "/nonexistent/letsencrypt";
	ck_assert_int_eq(certbot_import(&o, &yaml, &n1, &n2, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot read /nonexistent/letsencrypt/renewal") != NULL &&
	    strstr(err, "certbot's --config-dir") != NULL, "%s", err);

	o.config_dir = tmpdir;
	p = xasprintf("%s/renewal/bad.conf", tmpdir);
	write_text(p, "version = 2.1.0\n[renewalparams]\nthis line has no equals sign\n");
	ck_assert_int_eq(certbot_import(&o, &yaml, &n1, &n2, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "bad.conf:3: expected 'key = value'") != NULL, "%s", err);
	ck_assert_ptr_null(yaml);
	free(p);

	p = xasprintf("rm -f '%s'/renewal/*.conf", tmpdir);
	ck_assert_int_eq(system(p), 0);
	free(p);
	ck_assert_int_eq(certbot_import(&o, &yaml, &n1, &n2, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "holds no NAME.conf") != NULL, "%s", err);
}
END_TEST

START_TEST(test_account_read)
{
	char *dir = xasprintf("%s/" ACCOUNT, tmpdir), *p, *url = NULL, err[1024];
	privkey_t *key = NULL;

	ck_assert_msg(certbot_account_read(dir, &key, &url, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(privkey_type(key), KEY_RSA_2048);
	ck_assert_str_eq(url, "https://acme.example.test/acme/acct/42");
	privkey_free(key);
	free(url);

	/* regr.json without "uri". */
	p = xasprintf("%s/regr.json", dir);
	write_text(p, "{\"body\": {}}");
	ck_assert_int_eq(certbot_account_read(dir, &key, &url, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "regr.json: no string member 'uri'") != NULL, "%s", err);
	ck_assert_ptr_null(key);
	ck_assert_ptr_null(url);
	unlink(p);
	ck_assert_int_eq(certbot_account_read(dir, &key, &url, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "cannot read ") != NULL && strstr(err, "regr.json") != NULL,
	    "%s", err);
	free(p);

	/* A private_key.json that is not a usable JWK. */
	p = xasprintf("%s/private_key.json", dir);
	write_text(p, "{\"kty\": \"RSA\", \"n\": \"AQAB\"}");
	ck_assert_int_eq(certbot_account_read(dir, &key, &url, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "private_key.json: RSA JWK lacks 'e'") != NULL, "%s", err);
	write_text(p, "not json");
	ck_assert_int_eq(certbot_account_read(dir, &key, &url, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "private_key.json: not a JSON object") != NULL, "%s", err);
	ck_assert_ptr_null(key);
	free(p);
	free(dir);
}
END_TEST

static Suite *
certbot_import_suite(void)
{
	Suite *s = suite_create("certbot_import");
	TCase *tc = tcase_create("import");

	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_import_maps_certbot);
	tcase_add_test(tc, test_import_names_from_archive);
	tcase_add_test(tc, test_import_unmappable_values);
	tcase_add_test(tc, test_import_errors);
	tcase_add_test(tc, test_account_read);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(certbot_import_suite)
