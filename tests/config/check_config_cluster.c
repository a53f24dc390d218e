/*
 * check_config_cluster.c - unit tests for config_cluster.c and shared:
 * a full cluster: section lands in struct config_cluster, the defaults
 * apply (prefix, node from the host name, lease_ttl, fallback, shared),
 * the password and the secret key are read from files only their owner
 * may read, and every mistake is refused with its exact FILE:LINE:COL
 * message, none of which shows a secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "testutil.h"
#include "util.h"

#define ACCOUNT "accounts:\n  ca:\n    directory: https://acme.example.com/directory\n" \
	"    contact: mailto:ops@example.com\n"
#define CERT "certificates:\n  - {name: www, domains: [www.example.com]}\n"
/* The smallest valid section, at line 7 after ACCOUNT CERT. */
#define CLUSTER "cluster:\n  etcd:\n    endpoints: [\"http://127.0.0.1:2379\"]\n" \
	"  secret_key_file: pool.key\n"
/* base64 of the 32 bytes 0x00..0x1f, as `openssl rand -base64 32` prints a key. */
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define PASSWORD "s3cret-Pa55"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
#define KEY_PEM "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n"

static char dir[64];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

/* Writes dir/name with exactly this mode (whatever the umask). */
static void put(const char *name, const char *text, mode_t mode)
{
	char *p = xasprintf("%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	free(p);
}

/* Every test starts with the files a full section names, all valid. */
static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_config_cluster.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	put("pool.key", KEY_B64 "\n", 0600);
	put("etcd.pass", PASSWORD "\n", 0600);
	put("ca.pem", CERT_PEM, 0644);
	put("client.pem", CERT_PEM, 0644);
	put("client.key", KEY_PEM, 0600);
}

static void teardown(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* dir/name; caller frees. */
static char *tpath(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static struct config *load_ok(const char *text)
{
	struct config *c = NULL;
	char err[1024] = "", *p = tpath("inv.yaml");

	put("inv.yaml", text, 0600);
	ck_assert_msg(config_load(p, &c, err, sizeof(err)) == 0, "%s", err);
	free(p);
	return c;
}

/* Replaces every "@DIR@" in s with the test directory; caller frees. */
static char *subst_dir(const char *s)
{
	struct buf b = { 0 };
	const char *at;

	while ((at = strstr(s, "@DIR@")) != NULL) {
		buf_append(&b, s, (size_t)(at - s));
		buf_append(&b, dir, strlen(dir));
		s = at + 5;
	}
	buf_append(&b, s, strlen(s));
	return buf_steal(&b, NULL);
}

/* ---- good inventories ---- */

START_TEST(test_full)
{
	static const unsigned char want_key[32] = {
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
	};
	const struct config_cluster *cl;
	struct config *c;
	char *p;

	c = load_ok(ACCOUNT CERT
	    "cluster:\n"
	    "  etcd:\n"
	    "    endpoints:\n"
	    "      - https://10.0.0.1:2379\n"
	    "      - \"https://etcd2.example.com:2379/\"\n"
	    "      - \"https://[2001:db8::3]:2379\"\n"
	    "      - http://127.0.0.1:2379\n"
	    "    ca_bundle: ca.pem\n"
	    "    cert: client.pem\n"
	    "    key: client.key\n"
	    "    username: certfleet\n"
	    "    password_file: etcd.pass\n"
	    "  prefix: /pools/web\n"
	    "  node: web1.example.com\n"
	    "  lease_ttl: 45s\n"
	    "  secret_key_file: pool.key\n"
	    "  fallback: local\n");
	cl = c->cluster;
	ck_assert_ptr_nonnull(cl);
	ck_assert_uint_eq(cl->endpoints.n, 4);
	ck_assert_str_eq(cl->endpoints.v[0], "https://10.0.0.1:2379");
	/* The client appends /v3/...: a trailing '/' is dropped. */
	ck_assert_str_eq(cl->endpoints.v[1], "https://etcd2.example.com:2379");
	ck_assert_str_eq(cl->endpoints.v[2], "https://[2001:db8::3]:2379");
	ck_assert_str_eq(cl->endpoints.v[3], "http://127.0.0.1:2379");
	p = tpath("ca.pem");
	ck_assert_str_eq(cl->ca_bundle, p);
	free(p);
	p = tpath("client.pem");
	ck_assert_str_eq(cl->cert, p);
	free(p);
	p = tpath("client.key");
	ck_assert_str_eq(cl->key, p);
	free(p);
	ck_assert_str_eq(cl->username, "certfleet");
	p = tpath("etcd.pass");
	ck_assert_str_eq(cl->password_file, p);
	free(p);
	ck_assert_str_eq(cl->password, PASSWORD);
	/* Always ends in '/', so /pools/web never also matches /pools/web2. */
	ck_assert_str_eq(cl->prefix, "/pools/web/");
	ck_assert_str_eq(cl->node, "web1.example.com");
	ck_assert_int_eq(cl->lease_ttl, 45);
	p = tpath("pool.key");
	ck_assert_str_eq(cl->secret_key_file, p);
	free(p);
	ck_assert_mem_eq(cl->secret_key.k, want_key, sizeof(want_key));
	ck_assert_int_eq(cl->fallback, CLUSTER_FALLBACK_LOCAL);
	ck_assert_int_eq(cl->line, 8);
	/* With cluster:, accounts and certificates are the pool's. */
	ck_assert(c->accounts[0].shared);
	ck_assert(c->certs[0].shared);
	config_free(c);
}
END_TEST

START_TEST(test_defaults)
{
	const struct config_cluster *cl;
	char host[256] = "";
	struct config *c;

	/* At the top of the file: cluster: is read before the accounts it
	 * sets shared: for, wherever it stands. */
	c = load_ok(CLUSTER ACCOUNT CERT);
	cl = c->cluster;
	ck_assert_ptr_nonnull(cl);
	ck_assert_uint_eq(cl->endpoints.n, 1);
	ck_assert_ptr_null(cl->ca_bundle);
	ck_assert_ptr_null(cl->cert);
	ck_assert_ptr_null(cl->key);
	ck_assert_ptr_null(cl->username);
	ck_assert_ptr_null(cl->password_file);
	ck_assert_ptr_null(cl->password);
	ck_assert_str_eq(cl->prefix, "/certfleet/");
	ck_assert_int_eq(gethostname(host, sizeof(host) - 1), 0);
	ck_assert_str_eq(cl->node, host);
	ck_assert_int_eq(cl->lease_ttl, 30);
	ck_assert_int_eq(cl->fallback, CLUSTER_FALLBACK_NONE);
	ck_assert(c->accounts[0].shared);
	ck_assert(c->certs[0].shared);
	config_free(c);

	/* Without it everything is this host's own. */
	c = load_ok(ACCOUNT CERT);
	ck_assert_ptr_null(c->cluster);
	ck_assert(!c->accounts[0].shared);
	ck_assert(!c->certs[0].shared);
	config_free(c);
	/* shared: false says the same, and is fine without a cluster. */
	c = load_ok(ACCOUNT "    shared: false\n"
	    "certificates:\n  - {name: www, domains: [www.example.com], shared: false}\n");
	ck_assert(!c->accounts[0].shared);
	ck_assert(!c->certs[0].shared);
	config_free(c);
}
END_TEST

/* Inside a pool, a host may keep accounts and certificates of its own. */
START_TEST(test_shared_mix)
{
	struct config *c = load_ok(ACCOUNT
	    "  mine:\n    directory: https://acme.example.com/directory\n"
	    "    contact: mailto:ops@example.com\n    shared: false\n"
	    "certificates:\n"
	    "  - {name: www, account: ca, domains: [www.example.com]}\n"
	    "  - {name: pool-private, account: ca, domains: [p.example.com], shared: false}\n"
	    "  - {name: host, account: mine, domains: [host.example.com], shared: false}\n"
	    CLUSTER);

	ck_assert(c->accounts[0].shared);
	ck_assert(!c->accounts[1].shared);
	ck_assert(c->certs[0].shared);
	ck_assert(!c->certs[1].shared);
	ck_assert(!c->certs[2].shared);
	config_free(c);

	/* defaults: shared: false keeps every certificate local but one. */
	c = load_ok(ACCOUNT "defaults:\n  shared: false\n"
	    "certificates:\n"
	    "  - {name: a, domains: [a.example.com]}\n"
	    "  - {name: b, domains: [b.example.com], shared: true}\n" CLUSTER);
	ck_assert(c->accounts[0].shared);
	ck_assert(!c->certs[0].shared);
	ck_assert(c->certs[1].shared);
	config_free(c);
}
END_TEST

/* The same entry shared and not shared orders differently (the pool's
 * holder orders one, this host the other): a reload must notice. */
START_TEST(test_order_equal_shared)
{
	struct config *a = load_ok(ACCOUNT CERT CLUSTER);
	struct config *b = load_ok(ACCOUNT "certificates:\n  - {name: www, domains: "
	    "[www.example.com], shared: false}\n" CLUSTER);
	struct config *a2 = load_ok(ACCOUNT CERT CLUSTER);

	ck_assert(!config_cert_order_equal(&a->certs[0], &b->certs[0]));
	ck_assert(config_cert_order_equal(&a->certs[0], &a2->certs[0]));
	config_free(a);
	config_free(b);
	config_free(a2);
}
END_TEST

START_TEST(test_secret_modes)
{
	static const mode_t ok[] = { 0600, 0400 };
	struct config *c;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		put("etcd.pass", PASSWORD "\n", ok[i]);
		put("pool.key", KEY_B64 "\n", ok[i]);
		put("client.key", KEY_PEM, ok[i]);
		c = load_ok(ACCOUNT CERT "cluster:\n  etcd:\n"
		    "    endpoints: [\"https://10.0.0.1:2379\"]\n"
		    "    username: u\n    password_file: etcd.pass\n"
		    "    cert: client.pem\n    key: client.key\n"
		    "  secret_key_file: pool.key\n");
		ck_assert_str_eq(c->cluster->password, PASSWORD);
		config_free(c);
	}
}
END_TEST

/* ---- every error, exactly ---- */

static const struct {
	const char *text;       /* the inventory, after ACCOUNT CERT (line 7 on) */
	const char *file;       /* dir/file rewritten with text and mode, or NULL */
	const char *file_text;
	mode_t file_mode;
	const char *expect;     /* after "FILE:"; @DIR@ is the directory */
} bad[] = {
	/* the section */
	{ "cluster:\n", NULL, NULL, 0,
	  "7:9: cluster: expected a mapping with etcd and secret_key_file, got an empty value" },
	{ "cluster: [etcd]\n", NULL, NULL, 0,
	  "7:10: cluster: expected a mapping with etcd and secret_key_file, got a list" },
	{ "cluster:\n  secret_key_file: pool.key\n", NULL, NULL, 0,
	  "8:3: cluster: missing required key 'etcd'" },
	{ "cluster:\n  etcd:\n  secret_key_file: pool.key\n", NULL, NULL, 0,
	  "8:8: cluster.etcd: expected a mapping with endpoints, got an empty value" },
	{ "cluster:\n  etcd: {endpoints: \"https://10.0.0.1:2379\"}\n  prefx: /p/\n", NULL,
	  NULL, 0, "9:3: cluster.prefx: unknown key; did you mean 'prefix'?" },
	{ "cluster:\n  etcd: {endpoints: \"https://10.0.0.1:2379\", ca: x}\n", NULL, NULL, 0,
	  "8:46: cluster.etcd.ca: unknown key (expected one of: endpoints, ca_bundle, cert, "
	  "key, username, password_file)" },
	/* endpoints */
	{ "cluster:\n  etcd: {ca_bundle: ca.pem}\n  secret_key_file: pool.key\n", NULL, NULL,
	  0, "8:9: cluster.etcd: missing required key 'endpoints'" },
	{ "cluster:\n  etcd: {endpoints: []}\n  secret_key_file: pool.key\n", NULL, NULL, 0,
	  "8:21: cluster.etcd.endpoints: must list at least one etcd endpoint URL" },
	{ "cluster:\n  etcd: {endpoints: {a: b}}\n", NULL, NULL, 0,
	  "8:21: cluster.etcd.endpoints: expected a list of etcd endpoint URLs, got a mapping" },
	{ "cluster:\n  etcd:\n"
	  "    endpoints: [\"https://10.0.0.1:2379\", \"ftp://10.0.0.2:2379\"]\n",
	  NULL, NULL, 0, "9:42: cluster.etcd.endpoints[1]: etcd endpoint 'ftp://10.0.0.2:2379' "
	  "must start with https:// or http://" },
	{ "cluster:\n  etcd:\n    endpoints: 10.0.0.1:2379\n", NULL, NULL, 0,
	  "9:16: cluster.etcd.endpoints: etcd endpoint '10.0.0.1:2379' must start with "
	  "https:// or http://" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379/v3\"]\n", NULL, NULL, 0,
	  "9:17: cluster.etcd.endpoints[0]: etcd endpoint 'https://10.0.0.1:2379/v3' must be "
	  "a scheme, a host and a port only (such as https://10.0.0.1:2379)" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:99999\"]\n", NULL, NULL, 0,
	  "9:17: cluster.etcd.endpoints[0]: etcd endpoint 'https://10.0.0.1:99999' has a bad "
	  "port" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:\"]\n", NULL, NULL, 0,
	  "9:17: cluster.etcd.endpoints[0]: etcd endpoint 'https://10.0.0.1:' has a bad port" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://:2379\"]\n", NULL, NULL, 0,
	  "9:17: cluster.etcd.endpoints[0]: etcd endpoint 'https://:2379' has no host" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://[::1:2379\"]\n", NULL, NULL, 0,
	  "9:17: cluster.etcd.endpoints[0]: etcd endpoint 'https://[::1:2379' has an "
	  "unterminated IPv6 address" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://root:pw@10.0.0.1:2379\"]\n", NULL, NULL,
	  0, "9:17: cluster.etcd.endpoints[0]: etcd endpoint 'https://root:pw@10.0.0.1:2379' "
	  "must not contain credentials; use username and password_file" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1 :2379\"]\n", NULL, NULL, 0,
	  "9:17: cluster.etcd.endpoints[0]: etcd endpoint 'https://10.0.0.1 :2379' contains "
	  "spaces or non-ASCII characters" },
	{ "cluster:\n  etcd:\n    endpoints:\n      - https://10.0.0.1:2379\n"
	  "      - https://10.0.0.2:2379\n      - \"HTTPS://10.0.0.1:2379/\"\n", NULL, NULL, 0,
	  "12:9: cluster.etcd.endpoints[2]: duplicate endpoint 'HTTPS://10.0.0.1:2379' (first "
	  "at line 10)" },
	/* TLS and authentication */
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n    cert: client.pem\n",
	  NULL, NULL, 0, "10:11: cluster.etcd.cert: given without key: a TLS client "
	  "certificate needs its private key" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n    key: client.key\n",
	  NULL, NULL, 0, "10:10: cluster.etcd.key: given without cert: a TLS client key needs "
	  "its certificate" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n    username: cf\n",
	  NULL, NULL, 0, "10:15: cluster.etcd.username: given without password_file: etcd's "
	  "token authentication needs the user's password, read from a file" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n"
	  "    password_file: etcd.pass\n", NULL, NULL, 0, "10:20: cluster.etcd.password_file: "
	  "given without username: the password is the password of an etcd user" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n"
	  "    username: cf\n    password_file: etcd.pass\n", "etcd.pass", PASSWORD "\n", 0644,
	  "11:20: cluster.etcd.password_file: permissions 0644 for '@DIR@/etcd.pass' are too "
	  "open; it holds the etcd password (chmod 600)" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n"
	  "    username: cf\n    password_file: etcd.pass\n", "etcd.pass", PASSWORD "\n", 0640,
	  "11:20: cluster.etcd.password_file: permissions 0640 for '@DIR@/etcd.pass' are too "
	  "open; it holds the etcd password (chmod 600)" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n"
	  "    username: cf\n    password_file: nosuch.pass\n", NULL, NULL, 0,
	  "11:20: cluster.etcd.password_file: cannot open '@DIR@/nosuch.pass': No such file or "
	  "directory" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n"
	  "    username: cf\n    password_file: etcd.pass\n", "etcd.pass", "\n", 0600,
	  "11:20: cluster.etcd.password_file: '@DIR@/etcd.pass' is empty; it must hold the "
	  "password" },
	/* The password itself never shows, even when it is the problem. */
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n"
	  "    username: cf\n    password_file: etcd.pass\n", "etcd.pass", PASSWORD "\n"
	  PASSWORD "\n", 0600, "11:20: cluster.etcd.password_file: '@DIR@/etcd.pass' must hold "
	  "one line (the password) without control characters" },
	{ "cluster:\n  etcd:\n"
	  "    endpoints: [\"https://10.0.0.1:2379\", \"http://10.0.0.2:2379\"]\n"
	  "    username: cf\n    password_file: etcd.pass\n", NULL, NULL, 0,
	  "9:42: cluster.etcd.endpoints[1]: etcd endpoint 'http://10.0.0.2:2379' is plain "
	  "http:// to another machine: the etcd password would cross the network in clear; "
	  "use https://" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n"
	  "    cert: client.pem\n    key: client.key\n", "client.key", KEY_PEM, 0644,
	  "11:10: cluster.etcd.key: permissions 0644 for '@DIR@/client.key' are too open; it "
	  "holds the etcd client key (chmod 600)" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n"
	  "    cert: client.pem\n    key: client.key\n", "client.key", CERT_PEM, 0600,
	  "11:10: cluster.etcd.key: '@DIR@/client.key' holds no PEM private key" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n"
	  "    cert: client.key\n    key: client.key\n", NULL, NULL, 0,
	  "10:11: cluster.etcd.cert: '@DIR@/client.key' holds no PEM certificate" },
	{ "cluster:\n  etcd:\n    endpoints: [\"https://10.0.0.1:2379\"]\n"
	  "    ca_bundle: nosuch.pem\n", NULL, NULL, 0,
	  "10:16: cluster.etcd.ca_bundle: cannot open '@DIR@/nosuch.pem': No such file or "
	  "directory" },
	/* prefix, node, lease_ttl, fallback */
	{ CLUSTER "  prefix: certfleet/\n", NULL, NULL, 0,
	  "11:11: cluster.prefix: prefix 'certfleet/' must start with '/' (such as /certfleet/)" },
	{ CLUSTER "  prefix: \"/cert fleet/\"\n", NULL, NULL, 0,
	  "11:11: cluster.prefix: prefix '/cert fleet/' contains spaces or non-ASCII characters" },
	{ CLUSTER "  node: web 1\n", NULL, NULL, 0, "11:9: cluster.node: bad node name 'web 1': "
	  "use up to 64 letters, digits, '.', '_' and '-', not starting with '.'" },
	{ CLUSTER "  node: web/1\n", NULL, NULL, 0, "11:9: cluster.node: bad node name 'web/1': "
	  "use up to 64 letters, digits, '.', '_' and '-', not starting with '.'" },
	{ CLUSTER "  node: [web1]\n", NULL, NULL, 0,
	  "11:9: cluster.node: expected a string, got a list" },
	{ CLUSTER "  lease_ttl: 4s\n", NULL, NULL, 0,
	  "11:14: cluster.lease_ttl: must be between 5s and 1h, got 4s" },
	{ CLUSTER "  lease_ttl: 61m\n", NULL, NULL, 0,
	  "11:14: cluster.lease_ttl: must be between 5s and 1h, got 61m" },
	{ CLUSTER "  lease_ttl: 0\n", NULL, NULL, 0,
	  "11:14: cluster.lease_ttl: must be longer than zero" },
	{ CLUSTER "  lease_ttl: soon\n", NULL, NULL, 0, "11:14: cluster.lease_ttl: bad duration "
	  "'soon': expected a number with a unit s, m, h, d or w (90s, 30m, 2h, 7d) or plain "
	  "seconds" },
	{ CLUSTER "  fallback: remote\n", NULL, NULL, 0,
	  "11:13: cluster.fallback: unknown fallback 'remote'; expected none or local" },
	{ CLUSTER "  fallback: locale\n", NULL, NULL, 0,
	  "11:13: cluster.fallback: unknown fallback 'locale'; did you mean 'local'?" },
	{ CLUSTER "  fallback: true\n", NULL, NULL, 0,
	  "11:13: cluster.fallback: unknown fallback 'true'; expected none or local" },
	/* the secret key */
	{ "cluster:\n  etcd: {endpoints: \"https://10.0.0.1:2379\"}\n", NULL, NULL, 0,
	  "8:3: cluster: missing required key 'secret_key_file' (the pool's key that private "
	  "keys are sealed under in etcd)" },
	{ "cluster:\n  etcd: {endpoints: \"https://10.0.0.1:2379\"}\n"
	  "  secret_key_file: /nonexistent/certfleet/pool.key\n", NULL, NULL, 0,
	  "9:20: cluster.secret_key_file: cannot open '/nonexistent/certfleet/pool.key': No "
	  "such file or directory; every host of the pool needs the same secret key (make it "
	  "once with openssl rand -base64 32 and copy it to each host, mode 0600)" },
	{ CLUSTER, "pool.key", KEY_B64 "\n", 0644, "10:20: cluster.secret_key_file: permissions "
	  "0644 for '@DIR@/pool.key' are too open; it holds the cluster's secret key (chmod 600)" },
	{ CLUSTER, "pool.key", KEY_B64 "\n", 0640, "10:20: cluster.secret_key_file: permissions "
	  "0640 for '@DIR@/pool.key' are too open; it holds the cluster's secret key (chmod 600)" },
	{ CLUSTER, "pool.key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n", 0600,
	  "10:20: cluster.secret_key_file: the secret key in '@DIR@/pool.key' is 31 bytes, not "
	  "32 (as openssl rand -base64 32 writes it)" },
	{ CLUSTER, "pool.key", "this is not base64 at all!!!!!!!!!!!!!!!!!!!\n", 0600,
	  "10:20: cluster.secret_key_file: the secret key in '@DIR@/pool.key' is not base64 on "
	  "one line (as openssl rand -base64 32 writes it)" },
	{ CLUSTER, "pool.key", "", 0600, "10:20: cluster.secret_key_file: '@DIR@/pool.key' is "
	  "empty; it must hold 32 bytes in base64, as openssl rand -base64 32 writes them" },
	/* shared: */
	{ "defaults:\n  shared: true\n", NULL, NULL, 0, "8:11: defaults.shared: shared: true "
	  "needs a cluster: section (the etcd cluster a pool shares through)" },
	{ "  - {name: api, domains: [api.example.com], shared: true}\n", NULL, NULL, 0,
	  "7:53: certificates[1].shared: shared: true needs a cluster: section (the etcd "
	  "cluster a pool shares through)" },
	{ "  - {name: api, domains: [api.example.com], shared: maybe}\n", NULL, NULL, 0,
	  "7:53: certificates[1].shared: expected a boolean (true or false), got 'maybe'" },
};

START_TEST(test_bad)
{
	struct config *c = (struct config *)1;
	char err[1024] = "", *p = tpath("inv.yaml");
	char *text = xasprintf(ACCOUNT CERT "%s", bad[_i].text);
	char *e = subst_dir(bad[_i].expect), *want = xasprintf("%s:%s", p, e);

	if (bad[_i].file != NULL)
		put(bad[_i].file, bad[_i].file_text, bad[_i].file_mode);
	put("inv.yaml", text, 0600);
	ck_assert_int_eq(config_load(p, &c, err, sizeof(err)), -1);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(strstr(err, PASSWORD));
	ck_assert_ptr_null(strstr(err, KEY_B64));
	free(want);
	free(e);
	free(text);
	free(p);
}
END_TEST

/* shared: on an account, and a shared certificate of an unshared account. */
static const struct {
	const char *text;
	const char *expect;
} bad_shared[] = {
	{ ACCOUNT "    shared: true\n" CERT,
	  "5:13: accounts.ca.shared: shared: true needs a cluster: section (the etcd cluster "
	  "a pool shares through)" },
	{ ACCOUNT "    shared: false\n" CERT CLUSTER,
	  "7:5: certificates[0]: certificate 'www' is shared but its account 'ca' (line 2) is "
	  "not; set shared: false on the certificate or share the account" },
	{ ACCOUNT "    shared: false\ndefaults:\n  shared: false\n" "certificates:\n"
	  "  - {name: www, domains: [www.example.com]}\n"
	  "  - {name: api, domains: [api.example.com], shared: true}\n" CLUSTER,
	  "10:5: certificates[1]: certificate 'api' is shared but its account 'ca' (line 2) is "
	  "not; set shared: false on the certificate or share the account" },
};

START_TEST(test_bad_shared)
{
	struct config *c = (struct config *)1;
	char err[1024] = "", *p = tpath("inv.yaml");
	char *want = xasprintf("%s:%s", p, bad_shared[_i].expect);

	put("inv.yaml", bad_shared[_i].text, 0600);
	ck_assert_int_eq(config_load(p, &c, err, sizeof(err)), -1);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, want);
	free(want);
	free(p);
}
END_TEST

static Suite *config_cluster_suite(void)
{
	Suite *s = suite_create("config_cluster");
	TCase *tc = tcase_create("cluster");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_shared_mix);
	tcase_add_test(tc, test_order_equal_shared);
	tcase_add_test(tc, test_secret_modes);
	tcase_add_loop_test(tc, test_bad, 0, (int)ARRAY_SIZE(bad));
	tcase_add_loop_test(tc, test_bad_shared, 0, (int)ARRAY_SIZE(bad_shared));
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(config_cluster_suite)
