/*
 * check_config.c - unit tests for the inventory parser (src/config*.c).
 *
 * Every error case is a fixture under tests/data/config/ (or a few inline
 * lines) with the exact one-line message it must produce; the good cases
 * check that every key of a full inventory lands in struct config, that
 * the built-in defaults apply, that EAB keys decode in every accepted
 * encoding and that the shipped etc/certfleet.yaml loads.  Each test works
 * in its own mkdtemp() directory, because relative paths in an inventory
 * resolve next to it and because key files need mode 0600.
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

#define SAMPLE TEST_DATA_DIR "/../../etc/certfleet.yaml"
/* The key of Pebble's example configuration, and its 48 bytes. */
#define PEBBLE_KEY "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
static const unsigned char pebble_key[48] = {
	0xcd, 0x63, 0x43, 0x64, 0xce, 0x9e, 0x40, 0x61, 0xd6, 0xa5, 0x24, 0x53,
	0x3d, 0xa9, 0x79, 0x78, 0x85, 0x18, 0x15, 0x3b, 0xbb, 0x11, 0xa8, 0xd5,
	0x22, 0x88, 0x2e, 0xca, 0xca, 0x99, 0xf7, 0x01, 0xb8, 0xe2, 0x73, 0x04,
	0xb7, 0x1d, 0xcc, 0x50, 0x0b, 0x14, 0x0e, 0x43, 0x13, 0x43, 0x5d, 0x96,
};
#define ACCOUNT "accounts:\n  ca:\n    directory: https://acme.example.com/directory\n" \
	"    contact: mailto:ops@example.com\n"

static char dir[64];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
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

/* Writes dir/name with exactly this mode (whatever the umask). */
static void put(const char *name, const char *text, mode_t mode)
{
	char *p = tpath(name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	free(p);
}

static void put_file(const char *name, const char *src, mode_t mode)
{
	char *text = NULL;
	size_t len;

	ck_assert_msg(read_file(src, &text, &len, 1 << 20) == 0, "%s: %s", src,
	    strerror(errno));
	put(name, text, mode);
	free(text);
}

static void put_fixture(const char *name, const char *fixture, mode_t mode)
{
	char *src = xasprintf("%s/config/%s", TEST_DATA_DIR, fixture);

	put_file(name, src, mode);
	free(src);
}

static struct config *load_ok(const char *name)
{
	struct config *c = NULL;
	char err[1024] = "", *p = tpath(name);

	ck_assert_msg(config_load(p, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_nonnull(c);
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

/* Loads dir/name, which must fail with exactly "dir/name:" expect. */
static void load_err(const char *name, const char *expect)
{
	struct config *c = (struct config *)1;
	char err[1024] = "", *p = tpath(name), *e = subst_dir(expect);
	char *want = xasprintf("%s:%s", p, e);

	ck_assert_int_eq(config_load(p, &c, err, sizeof(err)), -1);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(strchr(err, '\n'));
	free(want);
	free(e);
	free(p);
}

/* ---- every error, exactly ---- */

struct bad_case {
	const char *fixture;  /* under tests/data/config/, or NULL: text */
	const char *text;
	mode_t mode;          /* of the inventory; 0 means 0600 */
	const char *aux;      /* a file next to it, or NULL */
	const char *aux_text;
	mode_t aux_mode;
	const char *expect;   /* after "FILE:"; @DIR@ is the directory */
};

#define KEYFILE "ca.hmac", PEBBLE_KEY "\n", 0600

static const struct bad_case bad_cases[] = {
	/* YAML itself */
	{ "syntax-indent.yaml", NULL, 0, NULL, NULL, 0, "8:4: YAML syntax error: did not find "
	  "expected '-' indicator (while parsing a block collection at line 6, column 3)" },
	{ "syntax-colon.yaml", NULL, 0, NULL, NULL, 0,
	  "1:13: YAML syntax error: mapping values are not allowed in this context" },
	{ "syntax-quote.yaml", NULL, 0, NULL, NULL, 0, "2:1: YAML syntax error: found unexpected "
	  "end of stream (while scanning a quoted scalar at line 1, column 12)" },
	{ "syntax-utf8.yaml", NULL, 0, NULL, NULL, 0,
	  "1:25: YAML syntax error: invalid leading UTF-8 octet" },
	{ "empty.yaml", NULL, 0, NULL, NULL, 0,
	  "1:1: the inventory is empty; expected a mapping with accounts: and certificates:" },
	{ NULL, "", 0, NULL, NULL, 0,
	  "1:1: the inventory is empty; expected a mapping with accounts: and certificates:" },
	{ "top-list.yaml", NULL, 0, NULL, NULL, 0,
	  "1:1: expected a mapping of settings at the top level, got a list" },
	{ NULL, "just a string\n", 0, NULL, NULL, 0,
	  "1:1: expected a mapping of settings at the top level, got a string" },
	{ "two-docs.yaml", NULL, 0, NULL, NULL, 0,
	  "5:1: more than one YAML document; the inventory must be a single document" },
	{ "anchor.yaml", NULL, 0, NULL, NULL, 0, "5:11: YAML anchors (&d) are not supported; "
	  "put shared settings under defaults:" },
	{ "alias.yaml", NULL, 0, NULL, NULL, 0, "7:14: YAML aliases (*names) are not supported; "
	  "put shared settings under defaults:" },
	{ "tag.yaml", NULL, 0, NULL, NULL, 0,
	  "5:12: YAML tag 'tag:yaml.org,2002:binary' is not supported" },
	{ NULL, "? [a, b]\n: c\n", 0, NULL, NULL, 0,
	  "1:3: mapping keys must be non-empty strings, got a list" },
	{ NULL, "\"\": 1\n", 0, NULL, NULL, 0,
	  "1:1: mapping keys must be non-empty strings, got a string" },
	{ "dup-yaml-key.yaml", NULL, 0, NULL, NULL, 0,
	  "9:5: certificates[0].key_type: duplicate key (first at line 8)" },
	/* keys */
	{ "unknown-key.yaml", NULL, 0, NULL, NULL, 0,
	  "7:5: certificates[0].domain: unknown key; did you mean 'domains'?" },
	{ "unknown-key-nohint.yaml", NULL, 0, NULL, NULL, 0, "1:1: colour: unknown key "
	  "(expected one of: state_dir, output_dir, control_socket, control_socket_mode, "
	  "control_socket_owner, control_socket_group, control_admin_group, http01_listen, "
	  "tlsalpn01_listen, dns_resolver, timeouts, renew_jitter, max_inflight, "
	  "metrics_listen, metrics_textfile, post_hook, notify, cluster, accounts, defaults, "
	  "certificates)" },
	{ NULL, "timeouts:\n  finalise: 5m\n", 0, NULL, NULL, 0,
	  "2:3: timeouts.finalise: unknown key; did you mean 'finalize'?" },
	{ "missing-domains.yaml", NULL, 0, NULL, NULL, 0,
	  "6:5: certificates[0]: missing required key 'domains'" },
	{ "missing-directory.yaml", NULL, 0, NULL, NULL, 0,
	  "3:5: accounts.ca: missing required key 'directory'" },
	{ "missing-contact.yaml", NULL, 0, NULL, NULL, 0,
	  "3:5: accounts.ca: missing required key 'contact'" },
	{ "missing-kid.yaml", NULL, 0, KEYFILE,
	  "6:7: accounts.ca.eab: missing required key 'kid'" },
	{ "missing-hmac.yaml", NULL, 0, NULL, NULL, 0,
	  "6:7: accounts.ca.eab: missing required key 'hmac_key_file' or 'hmac_key'" },
	{ "both-hmac.yaml", NULL, 0, KEYFILE,
	  "8:17: accounts.ca.eab.hmac_key: give either hmac_key or hmac_key_file, not both" },
	{ "defaults-name.yaml", NULL, 0, NULL, NULL, 0, "7:3: defaults.domains: cannot be set "
	  "in defaults; it belongs to each certificate" },
	/* types */
	{ "type-string.yaml", NULL, 0, NULL, NULL, 0,
	  "6:11: certificates[0].name: expected a string, got a list" },
	{ "type-list.yaml", NULL, 0, NULL, NULL, 0,
	  "8:7: certificates[0].domains: expected a list of DNS names, got a mapping" },
	{ "type-mapping.yaml", NULL, 0, NULL, NULL, 0,
	  "2:3: accounts: expected a mapping of account names to accounts, got a list" },
	{ "type-int.yaml", NULL, 0, NULL, NULL, 0,
	  "1:15: max_inflight: expected an integer, got a string 'many'" },
	/* What was found, named: a decimal is not "a string" to the reader. */
	{ NULL, "max_inflight: 1.5\n", 0, NULL, NULL, 0,
	  "1:15: max_inflight: expected an integer, got 1.5, a decimal" },
	{ NULL, "max_inflight: -2e3\n", 0, NULL, NULL, 0,
	  "1:15: max_inflight: expected an integer, got -2e3, a decimal" },
	{ NULL, "max_inflight: abc\n", 0, NULL, NULL, 0,
	  "1:15: max_inflight: expected an integer, got a string 'abc'" },
	{ NULL, "max_inflight: \"12\"\n", 0, NULL, NULL, 0,
	  "1:15: max_inflight: expected an integer, got a string '12'" },
	{ NULL, "max_inflight: true\n", 0, NULL, NULL, 0,
	  "1:15: max_inflight: expected an integer, got true, a boolean" },
	{ NULL, "max_inflight: [1]\n", 0, NULL, NULL, 0,
	  "1:15: max_inflight: expected an integer, got a list" },
	{ NULL, ACCOUNT "    max_inflight: {a: 1}\n", 0, NULL, NULL, 0,
	  "5:19: accounts.ca.max_inflight: expected an integer, got a mapping" },
	{ "type-bool.yaml", NULL, 0, NULL, NULL, 0, "8:16: certificates[0].reuse_key: expected "
	  "a boolean (true or false), got 'yes'" },
	{ NULL, ACCOUNT "certificates:\n  - name: w\n    domains: [w.example.com]\n"
	  "    combined: 1\n", 0, NULL, NULL, 0, "8:15: certificates[0].combined: expected "
	  "a boolean (true or false), got '1'" },
	{ "cert-not-mapping.yaml", NULL, 0, NULL, NULL, 0, "6:5: certificates[0]: expected a "
	  "mapping with name and domains, got a string" },
	{ NULL, "certificates: {}\n", 0, NULL, NULL, 0,
	  "1:15: certificates: expected a list of certificates, got a mapping" },
	{ NULL, "accounts:\n  ca:\n", 0, NULL, NULL, 0, "2:3: accounts.ca: expected a mapping "
	  "with directory and contact, got an empty value" },
	{ NULL, "state_dir: \"\"\n", 0, NULL, NULL, 0, "1:12: state_dir: must not be empty" },
	{ NULL, "state_dir:\n", 0, NULL, NULL, 0,
	  "1:11: state_dir: expected a string, got an empty value" },
	{ NULL, "max_inflight: 0\n", 0, NULL, NULL, 0,
	  "1:15: max_inflight: must be between 1 and 65536, got 0" },
	/* the request budgets */
	{ NULL, ACCOUNT "    new_orders_in_flight: 0\n", 0, NULL, NULL, 0,
	  "5:27: accounts.ca.new_orders_in_flight: must be between 1 and 65536, got 0" },
	{ NULL, ACCOUNT "    new_orders_in_flight: four\n", 0, NULL, NULL, 0,
	  "5:27: accounts.ca.new_orders_in_flight: expected an integer, got a string 'four'" },
	{ NULL, ACCOUNT "    requests_per_second: 0.5\n", 0, NULL, NULL, 0,
	  "5:26: accounts.ca.requests_per_second: expected an integer, got 0.5, a decimal" },
	{ NULL, ACCOUNT "    requests_per_second: 100001\n", 0, NULL, NULL, 0,
	  "5:26: accounts.ca.requests_per_second: must be between 1 and 100000, got 100001" },
	{ NULL, ACCOUNT "    new_orders_per: 300\n", 0, NULL, NULL, 0,
	  "5:21: accounts.ca.new_orders_per: expected COUNT/DURATION such as 300/3h, got 300, "
	  "an integer" },
	{ NULL, ACCOUNT "    new_orders_per: 300/3\n", 0, NULL, NULL, 0,
	  "5:21: accounts.ca.new_orders_per: bad rate '300/3': DURATION must be a number with "
	  "a unit s, m, h, d or w, such as 10s or 3h" },
	{ NULL, ACCOUNT "    new_orders_per: 300/3x\n", 0, NULL, NULL, 0,
	  "5:21: accounts.ca.new_orders_per: bad rate '300/3x': DURATION must be a number with "
	  "a unit s, m, h, d or w, such as 10s or 3h" },
	{ NULL, ACCOUNT "    new_orders_per: /3h\n", 0, NULL, NULL, 0,
	  "5:21: accounts.ca.new_orders_per: bad rate '/3h': expected COUNT/DURATION such as "
	  "300/3h (300 new orders in any 3 hours)" },
	{ NULL, ACCOUNT "    new_orders_per: 0/3h\n", 0, NULL, NULL, 0,
	  "5:21: accounts.ca.new_orders_per: bad rate '0/3h': COUNT must be a whole number "
	  "from 1 to 1000000" },
	{ NULL, ACCOUNT "    new_orders_per: -1/3h\n", 0, NULL, NULL, 0,
	  "5:21: accounts.ca.new_orders_per: bad rate '-1/3h': COUNT must be a whole number "
	  "from 1 to 1000000" },
	{ NULL, ACCOUNT "    new_orders_per: 2000000/3h\n", 0, NULL, NULL, 0,
	  "5:21: accounts.ca.new_orders_per: bad rate '2000000/3h': COUNT must be a whole "
	  "number from 1 to 1000000" },
	{ NULL, ACCOUNT "    new_orders_per: 5/0s\n", 0, NULL, NULL, 0,
	  "5:21: accounts.ca.new_orders_per: bad rate '5/0s': DURATION must be longer than "
	  "zero" },
	{ NULL, ACCOUNT "    new_orders_per: 5/3651d\n", 0, NULL, NULL, 0,
	  "5:21: accounts.ca.new_orders_per: bad rate '5/3651d': DURATION is too long (at "
	  "most 3650d)" },
	{ NULL, ACCOUNT "    new_orders_per: 300 / 3h\n", 0, NULL, NULL, 0,
	  "5:21: accounts.ca.new_orders_per: bad rate '300 / 3h': COUNT must be a whole number "
	  "from 1 to 1000000" },
	{ NULL, ACCOUNT "    new_orders_per: [300, 3h]\n", 0, NULL, NULL, 0,
	  "5:21: accounts.ca.new_orders_per: expected COUNT/DURATION such as 300/3h, got a list" },
	{ NULL, ACCOUNT "    new_order_per: 300/3h\n", 0, NULL, NULL, 0,
	  "5:5: accounts.ca.new_order_per: unknown key; did you mean 'new_orders_per'?" },
	/* values */
	{ "bad-duration.yaml", NULL, 0, NULL, NULL, 0, "2:13: timeouts.finalize: bad duration "
	  "'5x': expected a number with a unit s, m, h, d or w (90s, 30m, 2h, 7d) or plain "
	  "seconds" },
	{ "zero-duration.yaml", NULL, 0, NULL, NULL, 0,
	  "8:19: certificates[0].renew_before: must be longer than zero" },
	{ NULL, "renew_jitter: [1h]\n", 0, NULL, NULL, 0, "1:15: renew_jitter: expected a "
	  "duration such as 90s, 30m, 2h or 7d, got a list" },
	{ NULL, "renew_jitter: 3651d\n", 0, NULL, NULL, 0,
	  "1:15: renew_jitter: duration '3651d' is too long (at most 3650d)" },
	{ "bad-mode.yaml", NULL, 0, NULL, NULL, 0, "6:9: defaults.mode: bad mode '0999': "
	  "expected octal permissions such as \"0644\"" },
	{ "bad-mode-writable.yaml", NULL, 0, NULL, NULL, 0, "6:9: defaults.mode: mode 0666 "
	  "lets group or others replace the certificate; use \"0644\" or \"0640\"" },
	{ NULL, ACCOUNT "defaults:\n  mode: \"4755\"\n", 0, NULL, NULL, 0, "6:9: defaults.mode: "
	  "mode 4755 has setuid, setgid or sticky bits; expected permissions such as "
	  "\"0644\"" },
	{ NULL, ACCOUNT "defaults:\n  mode: \"0044\"\n", 0, NULL, NULL, 0, "6:9: defaults.mode: "
	  "mode 0044 does not let the owner read the certificate; use \"0644\" or \"0640\"" },
	{ NULL, ACCOUNT "defaults:\n  deploy_hook: [/bin/hook, {a: b}]\n", 0, NULL, NULL, 0,
	  "6:28: defaults.deploy_hook[1]: expected a string, got a mapping" },
	{ NULL, ACCOUNT "defaults:\n  deploy_hook: {a: b}\n", 0, NULL, NULL, 0,
	  "6:16: defaults.deploy_hook: expected a program and its arguments as a list, got a "
	  "mapping" },
	/* No shell runs a hook: one string with spaces is one program name. */
	{ NULL, ACCOUNT "post_hook: systemctl reload nginx\n", 0, NULL, NULL, 0,
	  "5:12: post_hook: 'systemctl reload nginx' is one string with spaces, but hooks "
	  "run without a shell; write the program and its arguments as a list: "
	  "[systemctl, reload, nginx]" },
	{ NULL, ACCOUNT "defaults:\n  deploy_hook: \"/usr/bin/systemctl  reload\tnginx\"\n", 0,
	  NULL, NULL, 0, "6:16: defaults.deploy_hook: '/usr/bin/systemctl  reload?nginx' is "
	  "one string with spaces, but hooks run without a shell; write the program and its "
	  "arguments as a list: [/usr/bin/systemctl, reload, nginx]" },
	{ NULL, ACCOUNT "certificates:\n  - name: w\n    domains: [w.example.com]\n"
	  "    challenge: {types: dns-01, dns01_hook: \"/usr/local/bin/dns --zone x\"}\n", 0,
	  NULL, NULL, 0, "8:44: certificates[0].challenge.dns01_hook: '/usr/local/bin/dns "
	  "--zone x' has spaces: dns01_hook is one program, run without a shell as PROGRAM "
	  "add|remove RECORD VALUE; put other arguments in a script" },
	{ "unknown-user.yaml", NULL, 0, NULL, NULL, 0,
	  "6:10: defaults.owner: unknown user 'certfleet-no-such-user'" },
	{ "unknown-group.yaml", NULL, 0, NULL, NULL, 0,
	  "8:12: certificates[0].group: unknown group 'certfleet-no-such-group'" },
	{ "unknown-key-type.yaml", NULL, 0, NULL, NULL, 0, "8:15: certificates[0].key_type: "
	  "unknown key type 'ec-p265'; did you mean 'ec-p256'?" },
	{ "unknown-key-type-nohint.yaml", NULL, 0, NULL, NULL, 0, "5:15: accounts.ca.key_type: "
	  "unknown key type 'ed25519'; expected ec-p256, ec-p384, rsa-2048, rsa-3072 or "
	  "rsa-4096" },
	/* A name pasted from a browser, and a tab YAML cannot indent with. */
	{ NULL, ACCOUNT "certificates:\n  - name: api\n    domains: [https://api.example.org]\n",
	  0, NULL, NULL, 0, "7:15: certificates[0].domains[0]: 'https://api.example.org' "
	  "looks like a URL; write the host name only (api.example.org)" },
	{ NULL, ACCOUNT "certificates:\n  - name: x\n    domains: [\"http://x.example.com/\"]\n",
	  0, NULL, NULL, 0, "7:15: certificates[0].domains[0]: 'http://x.example.com/' "
	  "looks like a URL; write the host name only (x.example.com)" },
	{ NULL, ACCOUNT "certificates:\n  - name: x\n    domains: [\"https://x.example.com:8443/a\"]\n",
	  0, NULL, NULL, 0, "7:15: certificates[0].domains[0]: 'https://x.example.com:8443/a' "
	  "looks like a URL; write the host name only (x.example.com)" },
	{ NULL, "accounts:\n\tca:\n", 0, NULL, NULL, 0,
	  "2:1: YAML syntax error: tab characters are not allowed for indentation; indent "
	  "with spaces" },
	{ NULL, ACCOUNT "certificates:\n  - name: x\n\t  domains: [x.example.com]\n", 0, NULL,
	  NULL, 0, "7:1: YAML syntax error: tab characters are not allowed for indentation; "
	  "indent with spaces" },
	{ "unknown-challenge.yaml", NULL, 0, NULL, NULL, 0, "8:25: certificates[0].challenge[1]: "
	  "unknown challenge type 'http01'; did you mean 'http-01'?" },
	{ "dup-challenge.yaml", NULL, 0, NULL, NULL, 0,
	  "7:35: defaults.challenge.types[2]: challenge type 'http-01' is listed twice" },
	{ NULL, ACCOUNT "defaults:\n  challenge: {http01: apache}\n", 0, NULL, NULL, 0,
	  "6:23: defaults.challenge.http01: unknown http01 mode 'apache'; expected "
	  "standalone or webroot" },
	{ "unknown-eab-alg.yaml", NULL, 0, KEYFILE,
	  "8:12: accounts.ca.eab.alg: unknown EAB alg 'HS257'; did you mean 'HS256'?" },
	{ "bad-listen.yaml", NULL, 0, NULL, NULL, 0, "1:16: http01_listen: bad listen address "
	  "'*:80': expected a numeric ADDR:PORT such as \"[::]:80\" or \"0.0.0.0:80\"" },
	{ NULL, "tlsalpn01_listen: \"[::]:0\"\n", 0, NULL, NULL, 0, "1:19: tlsalpn01_listen: "
	  "bad listen address '[::]:0': expected a numeric ADDR:PORT such as \"[::]:80\" or "
	  "\"0.0.0.0:80\"" },
	{ NULL, "metrics_listen: localhost:9702\n", 0, NULL, NULL, 0, "1:17: metrics_listen: "
	  "bad listen address 'localhost:9702': expected a numeric ADDR:PORT such as "
	  "\"[::]:80\" or \"0.0.0.0:80\"" },
	{ NULL, "metrics_listen: [9702]\n", 0, NULL, NULL, 0,
	  "1:17: metrics_listen: expected a string, got a list" },
	{ NULL, "metrics_textfile: /var/lib/node_exporter/certfleet.txt\n", 0, NULL, NULL, 0,
	  "1:19: metrics_textfile: '/var/lib/node_exporter/certfleet.txt' does not end in "
	  ".prom, so node_exporter's textfile collector would not read it" },
	{ NULL, "metrics_textfile: /var/lib/node_exporter/\n", 0, NULL, NULL, 0,
	  "1:19: metrics_textfile: '/var/lib/node_exporter/' names a directory; expected a "
	  "file such as /var/lib/node_exporter/textfile/certfleet.prom" },
	{ NULL, "control_socket: /run/certfleet/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n", 0, NULL, NULL, 0,
	  "1:17: control_socket: '/run/certfleet/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock' is too long for a unix "
	  "socket path (at most 107 bytes)" },
	{ "http-directory.yaml", NULL, 0, NULL, NULL, 0, "3:16: accounts.ca.directory: "
	  "directory URL 'http://acme.example.com/directory': plain http:// is only allowed "
	  "to this machine (localhost, 127.0.0.0/8, [::1]); use https://" },
	{ NULL, "accounts:\n  ca:\n    directory: ftp://example.com/\n", 0, NULL, NULL, 0,
	  "3:16: accounts.ca.directory: directory URL 'ftp://example.com/' must start with "
	  "https://" },
	{ NULL, "accounts:\n  ca:\n    directory: https://acme.example.com:0/dir\n", 0, NULL, NULL, 0,
	  "3:16: accounts.ca.directory: directory URL 'https://acme.example.com:0/dir' has a bad port" },
	{ NULL, "accounts:\n  ca:\n    directory: https:///dir\n", 0, NULL, NULL, 0,
	  "3:16: accounts.ca.directory: directory URL 'https:///dir' has no host" },
	{ NULL, ACCOUNT "    staging_directory: ftp://example.com/\n", 0, NULL, NULL, 0,
	  "5:24: accounts.ca.staging_directory: directory URL 'ftp://example.com/' must start "
	  "with https://" },
	{ "contact-not-mailto.yaml", NULL, 0, NULL, NULL, 0, "4:39: accounts.ca.contact[1]: "
	  "contact 'ops@example.com' must be a mailto: URI with one e-mail address, e.g. "
	  "mailto:ops@example.com" },
	{ NULL, "accounts:\n  ca:\n    directory: https://a.example/\n    contact: []\n", 0,
	  NULL, NULL, 0, "4:14: accounts.ca.contact: must list at least one mailto: address" },
	{ NULL, "accounts:\n  c a:\n    directory: https://a.example/\n", 0, NULL, NULL, 0,
	  "2:3: accounts.c a: bad account name 'c a': use up to 64 letters, digits, '.', '_' "
	  "and '-', not starting with '.'" },
	{ "bad-cert-name.yaml", NULL, 0, NULL, NULL, 0, "6:11: certificates[0].name: bad "
	  "certificate name '.hidden': use up to 64 letters, digits, '.', '_' and '-', not "
	  "starting with '.'" },
	/* domains */
	{ "bad-domain-underscore.yaml", NULL, 0, NULL, NULL, 0, "7:32: certificates[0].domains[1]: "
	  "invalid DNS name 'my_host.example.com': character '_' is not allowed" },
	{ "bad-domain-ip.yaml", NULL, 0, NULL, NULL, 0, "8:9: certificates[0].domains[0]: "
	  "'192.0.2.10' is an IP address; IP identifiers are not supported, use a DNS name" },
	{ "bad-domain-single-label.yaml", NULL, 0, NULL, NULL, 0, "7:15: certificates[0]."
	  "domains[0]: invalid DNS name 'localhost': needs at least two labels (a fully "
	  "qualified name such as www.example.com)" },
	{ "dup-domain.yaml", NULL, 0, NULL, NULL, 0, "9:9: certificates[0].domains[1]: "
	  "duplicate name 'www.example.com' (first at line 8)" },
	{ NULL, ACCOUNT "certificates:\n  - name: www\n    domains: []\n", 0, NULL, NULL, 0,
	  "7:14: certificates[0].domains: must list at least one DNS name" },
	{ "wildcard-no-dns01.yaml", NULL, 0, NULL, NULL, 0, "7:28: certificates[0].domains[1]: "
	  "wildcard name *.example.com requires dns-01 among the challenge types (only dns-01 "
	  "can validate a wildcard)" },
	/* references between entries */
	{ "dup-cert-name.yaml", NULL, 0, NULL, NULL, 0, "10:11: certificates[2].name: duplicate "
	  "certificate name 'www' (first at line 6)" },
	/* a repeated name is what is reported, not what else the entry lacks */
	{ NULL, ACCOUNT "  cb:\n    directory: https://b.example.com/dir\n"
	  "    contact: mailto:ops@example.com\ncertificates:\n"
	  "  - {name: www, account: ca, domains: [www.example.com]}\n"
	  "  - name: www\n    domains: [other.example.com]\n", 0, NULL, NULL, 0,
	  "10:11: certificates[1].name: duplicate certificate name 'www' (first at line 9)" },
	/* the same order under two names: names compared as a set (order and
	 * case ignored), whatever stands between the two */
	{ NULL, ACCOUNT "certificates:\n  - name: a\n    domains: [www.example.com, example.com]\n"
	  "  - name: other\n    domains: [other.example.com]\n"
	  "  - name: b\n    domains: [Example.COM, WWW.example.com]\n", 0, NULL,
	  NULL, 0, "10:5: certificates[2]: certificate 'b' orders the same names with the "
	  "same key type, account and profile as 'a' (line 6); remove one, or give it another "
	  "key_type to install RSA and ECDSA certificates side by side" },
	{ "unknown-account.yaml", NULL, 0, NULL, NULL, 0,
	  "8:14: certificates[0].account: unknown account 'cb'; did you mean 'ca'?" },
	{ NULL, ACCOUNT "defaults:\n  account: sectigo\n", 0, NULL, NULL, 0,
	  "6:12: defaults.account: unknown account 'sectigo'; it must be one of the names "
	  "under accounts:" },
	{ "account-ambiguous.yaml", NULL, 0, NULL, NULL, 0, "9:5: certificates[0]: missing "
	  "required key 'account' (2 accounts are defined and defaults: sets none)" },
	{ "no-accounts.yaml", NULL, 0, NULL, NULL, 0,
	  "2:5: certificates[0]: no accounts are defined; add one under accounts:" },
	{ "webroot-missing.yaml", NULL, 0, NULL, NULL, 0, "6:5: certificates[0]: missing "
	  "required key 'challenge.webroot' (needed for http01: webroot)" },
	{ "dns01-hook-missing.yaml", NULL, 0, NULL, NULL, 0, "8:5: certificates[0]: missing "
	  "required key 'challenge.dns01_hook' (needed for dns-01)" },
	/* files and secrets */
	{ "hmac-file-missing.yaml", NULL, 0, NULL, NULL, 0, "7:22: accounts.ca.eab.hmac_key_file: "
	  "cannot open '@DIR@/missing.hmac': No such file or directory" },
	{ "hmac-file.yaml", NULL, 0, "ca.hmac", PEBBLE_KEY, 0644, "7:22: accounts.ca.eab."
	  "hmac_key_file: permissions 0644 for '@DIR@/ca.hmac' are too open; it holds an EAB "
	  "HMAC key (chmod 600)" },
	{ "hmac-file.yaml", NULL, 0, "ca.hmac", PEBBLE_KEY, 0640, "7:22: accounts.ca.eab."
	  "hmac_key_file: permissions 0640 for '@DIR@/ca.hmac' are too open; it holds an EAB "
	  "HMAC key (chmod 600)" },
	{ "hmac-file.yaml", NULL, 0, "ca.hmac", "not base64!\n", 0600, "7:22: accounts.ca.eab."
	  "hmac_key_file: the EAB HMAC key in '@DIR@/ca.hmac' is not valid base64url (the "
	  "HMAC key as SCM shows it)" },
	{ "hmac-file.yaml", NULL, 0, "ca.hmac", " \n", 0600, "7:22: accounts.ca.eab."
	  "hmac_key_file: the EAB HMAC key in '@DIR@/ca.hmac' is empty" },
	{ "hmac-inline.yaml", NULL, 0, NULL, NULL, 0, "7:17: accounts.ca.eab.hmac_key: the EAB "
	  "HMAC key is not valid base64url (the HMAC key as SCM shows it)" },
	{ "hmac-inline.yaml", NULL, 0644, NULL, NULL, 0, "7:17: accounts.ca.eab.hmac_key: "
	  "permissions 0644 for '@DIR@/c.yaml' are too open; it holds an inline EAB HMAC key "
	  "(chmod 600, or move the key to an hmac_key_file)" },
	{ "hmac-inline.yaml", NULL, 0604, NULL, NULL, 0, "7:17: accounts.ca.eab.hmac_key: "
	  "permissions 0604 for '@DIR@/c.yaml' are too open; it holds an inline EAB HMAC key "
	  "(chmod 600, or move the key to an hmac_key_file)" },
	{ NULL, ACCOUNT "    eab:\n    key_type: ec-p256\n", 0, NULL, NULL, 0,
	  "5:9: accounts.ca.eab: expected a mapping with kid and hmac_key or hmac_key_file, "
	  "got an empty value" },
	{ "ca-bundle-missing.yaml", NULL, 0, NULL, NULL, 0, "5:16: accounts.ca.ca_bundle: cannot "
	  "open '/nonexistent/certfleet/ca.pem': No such file or directory" },
	{ "ca-bundle-not-pem.yaml", NULL, 0, "ca.pem", "hello\n", 0644,
	  "5:16: accounts.ca.ca_bundle: '@DIR@/ca.pem' holds no PEM certificate" },
	{ NULL, "accounts:\n  ca:\n    directory: https://a.example/\n    contact: "
	  "mailto:a@example.com\n    ca_bundle: .\n", 0, NULL, NULL, 0,
	  "5:16: accounts.ca.ca_bundle: '@DIR@/.' is not a regular file" },
};

START_TEST(test_bad)
{
	const struct bad_case *b = &bad_cases[_i];

	if (b->fixture != NULL)
		put_fixture("c.yaml", b->fixture, b->mode ? b->mode : 0600);
	else
		put("c.yaml", b->text, b->mode ? b->mode : 0600);
	if (b->aux != NULL)
		put(b->aux, b->aux_text, b->aux_mode);
	load_err("c.yaml", b->expect);
}
END_TEST

/*
 * With CONFIG_LOAD_HOST and CONFIG_LOAD_CERTS (--check): what the machine must
 * offer.  The test directory holds "file" (a regular file), "noexec"
 * (0644), "bin/found" (0755) and "bin/plain" (0644); PATH is "@DIR@/bin:
 * /nonexistent" while these load.
 */
struct host_case {
	const char *text;     /* @DIR@ is the directory */
	const char *expect;   /* after "FILE:", or NULL: must load */
	bool per_cert;        /* only with CONFIG_LOAD_CERTS (not the daemon's start) */
};

#define CERT1 "certificates:\n  - name: w\n    domains: [w.example.com]\n"

static const struct host_case host_cases[] = {
	{ "state_dir: @DIR@/file\n",
	  "1:12: state_dir: '@DIR@/file' exists and is not a directory", false },
	{ "state_dir: @DIR@/file/sub/state\n",
	  "1:12: state_dir: cannot create '@DIR@/file/sub/state': '@DIR@/file' is not a "
	  "directory", false },
	{ "state_dir: @DIR@/new/state\noutput_dir: @DIR@/out\ncontrol_socket: @DIR@/run/s\n"
	  ACCOUNT CERT1, NULL, false },
	{ "output_dir: @DIR@/file\n" ACCOUNT CERT1,
	  "1:13: output_dir: '@DIR@/file' exists and is not a directory", true },
	/* Not used by any certificate: not the daemon's concern. */
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\noutput_dir: @DIR@/file\n"
	  ACCOUNT CERT1 "    output_dir: @DIR@/out\n", NULL, false },
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\n" ACCOUNT CERT1
	  "    output_dir: @DIR@/file/x\n", "10:17: certificates[0].output_dir: cannot create "
	  "'@DIR@/file/x': '@DIR@/file' is not a directory", true },
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\n" ACCOUNT
	  "defaults:\n  output_dir: file\n" CERT1, "8:15: defaults.output_dir: '@DIR@/file' "
	  "exists and is not a directory", true },
	{ "control_socket: @DIR@/file/ctl.sock\n",
	  "1:17: control_socket: '@DIR@/file' exists and is not a directory", false },
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\n"
	  "metrics_textfile: @DIR@/file/certfleet.prom\n",
	  "3:19: metrics_textfile: '@DIR@/file' exists and is not a directory", false },
	/* Hooks */
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\npost_hook: [@DIR@/missing]\n",
	  "3:13: post_hook[0]: program '@DIR@/missing' does not exist", true },
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\npost_hook: noexec\n",
	  "3:12: post_hook: program 'noexec' is not in PATH (@DIR@/bin:/nonexistent); give "
	  "its absolute path", true },
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\npost_hook: ./noexec\n",
	  "3:12: post_hook: program '@DIR@/noexec' is not executable: not a regular file "
	  "with execute permission", true },
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\npost_hook: [bin, x]\n",
	  "3:13: post_hook[0]: program 'bin' is not in PATH (@DIR@/bin:/nonexistent); give "
	  "its absolute path", true },
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\npost_hook: [@DIR@/bin, x]\n",
	  "3:13: post_hook[0]: program '@DIR@/bin' is a directory", true },
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\npost_hook: [plain]\n",
	  "3:13: post_hook[0]: program 'plain' is in PATH but not executable: Permission "
	  "denied", true },
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\n" ACCOUNT
	  "defaults:\n  deploy_hook: [@DIR@/bin/found, --reload]\n" CERT1
	  "    deploy_hook: [bin/plain]\n", "12:19: certificates[0].deploy_hook[0]: program "
	  "'@DIR@/bin/plain' is not executable: not a regular file with execute permission", true },
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\n" ACCOUNT CERT1
	  "    challenge: {types: dns-01, dns01_hook: nsupdate-hook}\n",
	  "10:44: certificates[0].challenge.dns01_hook: program 'nsupdate-hook' is not in PATH "
	  "(@DIR@/bin:/nonexistent); give its absolute path", true },
	{ "state_dir: @DIR@/s\ncontrol_socket: @DIR@/c.sock\npost_hook: [found, x]\n" ACCOUNT
	  "defaults:\n  deploy_hook: ./bin/found\n" CERT1
	  "    challenge: {types: dns-01, dns01_hook: found}\n", NULL, false },
};

START_TEST(test_bad_host)
{
	const struct host_case *h = &host_cases[_i];
	char *text = subst_dir(h->text), *p = tpath("c.yaml"), *bin = tpath("bin");
	char *path = xasprintf("%s:/nonexistent", bin), *saved = NULL;
	struct config *c = NULL;
	char err[1024] = "";

	if (getenv("PATH") != NULL)
		saved = xstrdup(getenv("PATH"));
	put("c.yaml", text, 0600);
	put("file", "x\n", 0644);
	put("noexec", "#!/bin/sh\n", 0644);
	ck_assert_int_eq(mkdir(bin, 0755), 0);
	put("bin/found", "#!/bin/sh\n", 0755);
	put("bin/plain", "#!/bin/sh\n", 0644);
	setenv("PATH", path, 1);
	if (h->expect == NULL) {
		ck_assert_msg(config_load_ex(p, CONFIG_LOAD_HOST | CONFIG_LOAD_CERTS, &c, err,
		    sizeof(err)) == 0, "%s", err);
		config_free(c);
	} else {
		char *e = subst_dir(h->expect), *want = xasprintf("%s:%s", p, e);

		ck_assert_int_eq(config_load_ex(p, CONFIG_LOAD_HOST | CONFIG_LOAD_CERTS, &c, err,
		    sizeof(err)), -1);
		ck_assert_ptr_null(c);
		ck_assert_str_eq(err, want);
		/* The daemon leaves what one certificate needs to its preflight. */
		if (h->per_cert) {
			ck_assert_msg(config_load_ex(p, CONFIG_LOAD_HOST, &c, err, sizeof(err)) == 0,
			    "%s", err);
			config_free(c);
		} else {
			ck_assert_int_eq(config_load_ex(p, CONFIG_LOAD_HOST, &c, err, sizeof(err)),
			    -1);
		}
		/* Without the flag the same inventory is only read. */
		ck_assert_msg(config_load(p, &c, err, sizeof(err)) == 0, "%s", err);
		config_free(c);
		free(want);
		free(e);
	}
	if (saved != NULL)
		setenv("PATH", saved, 1);
	free(saved);
	free(path);
	free(bin);
	free(p);
	free(text);
}
END_TEST

/* --once makes no control socket: its directory is none of its business. */
START_TEST(test_host_no_control)
{
	char *text = subst_dir("state_dir: @DIR@/s\ncontrol_socket: @DIR@/file/ctl.sock\n");
	char *p = tpath("c.yaml"), err[1024] = "";
	struct config *c = NULL;

	put("c.yaml", text, 0600);
	put("file", "x\n", 0644);
	ck_assert_int_eq(config_load_ex(p, CONFIG_LOAD_HOST, &c, err, sizeof(err)), -1);
	ck_assert_msg(config_load_ex(p, CONFIG_LOAD_HOST | CONFIG_LOAD_NO_CONTROL, &c, err,
	    sizeof(err)) == 0, "%s", err);
	config_free(c);
	free(p);
	free(text);
}
END_TEST

/* CONFIG_LOAD_TOP (certfleetctl finding its socket): a certificate the
 * full load refuses does not matter, the top level still does, and so
 * does YAML that does not parse anywhere. */
START_TEST(test_load_top)
{
	char *text = subst_dir("control_socket: @DIR@/ctl.sock\nstate_dir: @DIR@/s\n"
	    "accounts:\n  a: {directory: 'https://127.0.0.1:14000/dir', bogus: 1}\n"
	    "defaults: {renew_before: nonsense}\n"
	    "certificates:\n  - {name: 'bad name', domains: ['-x-']}\n  - [1, {2: 3}]\n"
	    "metrics_listen: '127.0.0.1:9' \n");
	char *p = tpath("c.yaml"), *want = subst_dir("@DIR@/ctl.sock"), err[1024] = "";
	struct config *c = NULL;

	put("c.yaml", text, 0600);
	ck_assert_int_eq(config_load(p, &c, err, sizeof(err)), -1);
	ck_assert_msg(config_load_ex(p, CONFIG_LOAD_TOP, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c->control_socket, want);
	ck_assert_str_eq(c->metrics_listen, "127.0.0.1:9");
	ck_assert_uint_eq(c->ncerts, 0);
	ck_assert_uint_eq(c->naccounts, 0);
	config_free(c);
	free(text);

	/* A bad top-level value: refused, with its line. */
	put("c.yaml", "control_socket: [1]\ncertificates: []\n", 0600);
	ck_assert_int_eq(config_load_ex(p, CONFIG_LOAD_TOP, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "c.yaml:1:") != NULL, "%s", err);
	/* Broken YAML inside the skipped list: refused too. */
	put("c.yaml", "certificates:\n  - {name: a, domains: [a.example\n", 0600);
	ck_assert_int_eq(config_load_ex(p, CONFIG_LOAD_TOP, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "c.yaml:") != NULL, "%s", err);
	/* An unknown top-level key is still one. */
	put("c.yaml", "certificatez: []\n", 0600);
	ck_assert_int_eq(config_load_ex(p, CONFIG_LOAD_TOP, &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "certificatez") != NULL, "%s", err);
	free(want);
	free(p);
}
END_TEST

/* A FIFO (a mistake, or an attack on a reload) is refused at once: open()
 * must not wait for a writer.  Check's per-test timeout fails a hang. */
START_TEST(test_fifo_inventory)
{
	struct config *c = NULL;
	char err[512], *p = tpath("c.yaml"), *k = tpath("ca.hmac"), *want;

	ck_assert_int_eq(mkfifo(p, 0600), 0);
	ck_assert_int_eq(config_load(p, &c, err, sizeof(err)), -1);
	want = xasprintf("%s: cannot read: not a regular file (a FIFO)", p);
	ck_assert_str_eq(err, want);
	free(want);
	ck_assert_int_eq(config_load("/dev/null", &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/dev/null: cannot read: not a regular file (a character device)");
	ck_assert_ptr_null(c);
	/* The files it points at, too. */
	ck_assert_int_eq(unlink(p), 0);
	put_fixture("c.yaml", "hmac-file.yaml", 0600);
	ck_assert_int_eq(mkfifo(k, 0600), 0);
	ck_assert_int_eq(config_load(p, &c, err, sizeof(err)), -1);
	want = xasprintf("%s:7:22: accounts.ca.eab.hmac_key_file: '%s' is not a regular file",
	    p, k);
	ck_assert_str_eq(err, want);
	free(want);
	free(k);
	free(p);
}
END_TEST

/* Many entries load quickly (the duplicate checks are hashed) and the
 * same names stay allowed with another key type, profile or account. */
START_TEST(test_many_and_dual)
{
	struct buf b = { 0 };
	struct config *c;

	buf_appendf(&b, "%s  cb:\n    directory: https://b.example.com/dir\n"
	    "    contact: mailto:ops@example.com\ncertificates:\n", ACCOUNT);
	for (int i = 0; i < 3000; i++)
		buf_appendf(&b, "  - {name: c%d, account: ca, domains: [c%d.example.com, "
		    "www.c%d.example.com]}\n", i, i, i);
	buf_appendf(&b, "  - {name: rsa, account: ca, key_type: rsa2048, "
	    "domains: [www.c7.example.com, c7.example.com]}\n"
	    "  - {name: other-ca, account: cb, domains: [c7.example.com, www.c7.example.com]}\n"
	    "  - {name: prof, account: ca, profile: shortlived, "
	    "domains: [c7.example.com, www.c7.example.com]}\n");
	buf_append(&b, "", 1);
	put("c.yaml", b.data, 0600);
	c = load_ok("c.yaml");
	ck_assert_uint_eq(c->ncerts, 3003);
	config_free(c);
	free(b.data);
}
END_TEST

START_TEST(test_unreadable_inventory)
{
	struct config *c = NULL;
	char err[512], *p = tpath("nope.yaml"), *want;

	ck_assert_int_eq(config_load(p, &c, err, sizeof(err)), -1);
	want = xasprintf("%s: cannot open: No such file or directory", p);
	ck_assert_str_eq(err, want);
	free(want);
	ck_assert_int_eq(config_load(dir, &c, err, sizeof(err)), -1);
	want = xasprintf("%s: cannot read: Is a directory", dir);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(c);
	free(want);
	free(p);
}
END_TEST

/* Values echoed from the file cannot break the one-line rule or the buffer. */
START_TEST(test_error_one_line)
{
	struct config *c = NULL;
	char err[1024], small[16], *p;

	put("c.yaml", "\"bad\\nkey\\tname\": 1\n", 0600);
	p = tpath("c.yaml");
	ck_assert_int_eq(config_load(p, &c, err, sizeof(err)), -1);
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_ptr_null(strchr(err, '\t'));
	ck_assert_ptr_nonnull(strstr(err, ":1:1: bad?key?name: unknown key"));
	ck_assert_int_eq(config_load(p, &c, small, sizeof(small)), -1);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	free(p);
}
END_TEST

/* ---- good inventories ---- */

static void assert_list(const struct strlist *l, size_t n, const char *const *want)
{
	ck_assert_uint_eq(l->n, n);
	for (size_t i = 0; i < n; i++) {
		char *w = subst_dir(want[i]);

		ck_assert_str_eq(l->v[i], w);
		free(w);
	}
	ck_assert_ptr_null(n ? l->v[n] : NULL);
}

static void assert_dir_str(const char *got, const char *want)
{
	char *w = subst_dir(want);

	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, w);
	free(w);
}

START_TEST(test_full)
{
	const struct config_account *a, *p;
	const struct config_cert *w, *api, *wild;
	struct config *c;
	char *path;

	put_fixture("full.yaml", "full.yaml", 0600);
	put("sectigo.hmac", "  " PEBBLE_KEY "\n\n", 0600);
	put("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", 0644);
	c = load_ok("full.yaml");
	path = tpath("full.yaml");
	ck_assert_str_eq(c->path, path);
	free(path);
	ck_assert_str_eq(c->state_dir, "/srv/certfleet/state");
	ck_assert_str_eq(c->control_socket, "/run/cf/control.sock");
	ck_assert_str_eq(c->http01_listen, "127.0.0.1:5002");
	ck_assert_str_eq(c->tlsalpn01_listen, "[::1]:5001");
	ck_assert_str_eq(c->metrics_listen, "127.0.0.1:9702");
	ck_assert_str_eq(c->metrics_textfile, "/var/lib/node_exporter/textfile/certfleet.prom");
	ck_assert_int_eq(c->finalize_timeout, 180);
	ck_assert_int_eq(c->order_timeout, 3600);
	ck_assert_int_eq(c->hook_timeout, 90);
	ck_assert_int_eq(c->dns_propagation_timeout, 150);
	ck_assert_int_eq(c->renew_jitter, 0);
	ck_assert_int_eq(c->max_inflight, 100);
	assert_list(&c->post_hook, 3, (const char *[]){ "/usr/sbin/nginx", "-s", "reload" });

	ck_assert_uint_eq(c->naccounts, 2);
	a = &c->accounts[0];
	ck_assert_str_eq(a->name, "sectigo");
	ck_assert_str_eq(a->directory_url, "https://acme.sectigo.com/v2/DV");
	assert_list(&a->contact, 2,
	    (const char *[]){ "mailto:ops@example.com", "mailto:pki@example.com" });
	ck_assert_str_eq(a->eab_kid, "0123456789");
	ck_assert_uint_eq(a->eab_hmac_len, sizeof(pebble_key));
	ck_assert_mem_eq(a->eab_hmac, pebble_key, sizeof(pebble_key));
	ck_assert_int_eq(a->eab_alg, HMAC_HS384);
	ck_assert_int_eq(a->key_type, KEY_EC_P384);
	assert_dir_str(a->ca_bundle, "@DIR@/ca.pem");
	ck_assert_int_eq(a->max_inflight, 8);
	ck_assert_int_eq(a->line, 23);
	p = &c->accounts[1];
	ck_assert_str_eq(p->name, "pebble");
	ck_assert_str_eq(p->directory_url, "http://127.0.0.1:14000/dir");
	assert_list(&p->contact, 1, (const char *[]){ "mailto:test@example.com" });
	ck_assert_str_eq(p->eab_kid, "kid-1");
	ck_assert_uint_eq(p->eab_hmac_len, sizeof(pebble_key));
	ck_assert_mem_eq(p->eab_hmac, pebble_key, sizeof(pebble_key));
	ck_assert_int_eq(p->eab_alg, HMAC_HS256);
	ck_assert_int_eq(p->key_type, KEY_EC_P256);
	ck_assert_ptr_null(p->ca_bundle);
	ck_assert_int_eq(p->max_inflight, 256);

	ck_assert_uint_eq(c->ncerts, 3);
	w = &c->certs[0];
	ck_assert_str_eq(w->name, "www");
	assert_list(&w->domains, 2, (const char *[]){ "www.example.com", "example.com" });
	ck_assert_str_eq(w->account_name, "sectigo");
	ck_assert_ptr_eq(w->account, a);
	ck_assert_int_eq(w->key_type, KEY_RSA_3072);
	ck_assert(w->reuse_key);
	ck_assert(!w->combined);
	ck_assert_uint_eq(w->nchallenges, 1);
	ck_assert_int_eq(w->challenges[0], CHALLENGE_HTTP01);
	/* A webroot and no explicit http01 mode means webroot mode. */
	ck_assert_int_eq(w->http01_mode, HTTP01_WEBROOT);
	ck_assert_str_eq(w->webroot, "/var/www/html");
	ck_assert_str_eq(w->dns01_hook, "dns-hook");
	assert_dir_str(w->output_dir, "@DIR@/out");
	ck_assert_int_eq(w->owner, 0);
	ck_assert_int_eq(w->group, 0);
	ck_assert_int_eq(w->mode, 0640);
	assert_list(&w->deploy_hook, 1, (const char *[]){ "/usr/local/bin/deploy" });
	ck_assert_int_eq(w->renew_before, 10 * 86400);
	ck_assert_str_eq(w->profile, "classic");
	ck_assert_str_eq(w->preferred_chain, "ISRG Root X1");
	ck_assert_int_eq(w->line, 57);

	api = &c->certs[1];
	ck_assert_str_eq(api->name, "api.v2");
	assert_list(&api->domains, 1, (const char *[]){ "api.example.com" });
	ck_assert_str_eq(api->account_name, "pebble");
	ck_assert_ptr_eq(api->account, p);
	ck_assert_int_eq(api->key_type, KEY_EC_P256);
	ck_assert(!api->reuse_key);
	ck_assert(api->combined);
	ck_assert_uint_eq(api->nchallenges, 2);
	ck_assert_int_eq(api->challenges[0], CHALLENGE_TLSALPN01);
	ck_assert_int_eq(api->challenges[1], CHALLENGE_HTTP01);
	ck_assert_str_eq(api->webroot, "/var/www/html");
	ck_assert_str_eq(api->output_dir, "/etc/ssl/certfleet");
	ck_assert_int_eq(api->owner, 0);
	ck_assert_int_eq(api->group, 0);
	ck_assert_int_eq(api->mode, 0644);
	assert_list(&api->deploy_hook, 3,
	    (const char *[]){ "@DIR@/bin/deploy", "--reload", "two words" });
	ck_assert_int_eq(api->renew_before, 36 * 3600);
	ck_assert_str_eq(api->profile, "shortlived");
	ck_assert_str_eq(api->preferred_chain, "Other Root");

	wild = &c->certs[2];
	ck_assert_str_eq(wild->name, "wild_card-1");
	assert_list(&wild->domains, 2, (const char *[]){ "*.example.com", "example.com" });
	ck_assert_ptr_eq(wild->account, a);
	ck_assert_uint_eq(wild->nchallenges, 2);
	ck_assert_int_eq(wild->challenges[0], CHALLENGE_DNS01);
	ck_assert_int_eq(wild->challenges[1], CHALLENGE_HTTP01);
	ck_assert_int_eq(wild->http01_mode, HTTP01_STANDALONE);
	assert_dir_str(wild->dns01_hook, "@DIR@/hooks/dns");
	/* "deploy_hook: []" removes the hook inherited from defaults. */
	ck_assert_uint_eq(wild->deploy_hook.n, 0);
	/* Shared, not copied: the inherited output_dir and notify:, and the
	 * account's name; an entry's own output_dir is its own. */
	ck_assert_ptr_eq(wild->output_dir, c->cert_output_dir);
	ck_assert_ptr_eq(w->output_dir, c->cert_output_dir);
	ck_assert_ptr_null(w->output_dir_own);
	ck_assert_ptr_eq(api->output_dir, api->output_dir_own);
	ck_assert_ptr_eq(w->account_name, a->name);
	ck_assert_ptr_eq(api->account_name, p->name);
	ck_assert_ptr_eq(w->notify, c->cert_notify);

	ck_assert_ptr_eq(config_find_cert(c, "api.v2"), api);
	ck_assert_ptr_null(config_find_cert(c, "API.v2"));
	ck_assert_ptr_eq(config_find_account(c, "pebble"), p);
	ck_assert_ptr_null(config_find_account(c, "nope"));
	ck_assert_ptr_null(config_find_account(c, NULL));
	config_free(c);
}
END_TEST

START_TEST(test_budgets)
{
	struct config *c;
	const struct config_account *a;

	put("c.yaml", ACCOUNT "    new_orders_in_flight: 1\n    new_orders_per: 300/3h\n"
	    "    requests_per_second: 20\n"
	    "certificates:\n  - name: www\n    domains: [www.example.com]\n", 0644);
	c = load_ok("c.yaml");
	a = &c->accounts[0];
	ck_assert_int_eq(a->new_orders_in_flight, 1);
	ck_assert_int_eq(a->new_orders_per_count, 300);
	ck_assert_int_eq(a->new_orders_per_seconds, 3 * 3600);
	ck_assert_int_eq(a->requests_per_second, 20);
	config_free(c);
	put("c.yaml", ACCOUNT "    new_orders_per: 2/1m30s\n"
	    "certificates:\n  - name: www\n    domains: [www.example.com]\n", 0644);
	c = load_ok("c.yaml");
	ck_assert_int_eq(c->accounts[0].new_orders_per_count, 2);
	ck_assert_int_eq(c->accounts[0].new_orders_per_seconds, 90);
	config_free(c);
}
END_TEST

START_TEST(test_builtin_defaults)
{
	struct config *c;
	const struct config_cert *w;
	const struct config_account *a;

	put("c.yaml", ACCOUNT "certificates:\n  - name: www\n    domains: [www.example.com]\n",
	    0644);
	c = load_ok("c.yaml");
	ck_assert_str_eq(c->state_dir, "/var/lib/certfleet");
	ck_assert_str_eq(c->control_socket, "/run/certfleet/control.sock");
	ck_assert_str_eq(c->http01_listen, "[::]:80");
	ck_assert_str_eq(c->tlsalpn01_listen, "[::]:443");
	ck_assert_ptr_null(c->metrics_listen);
	ck_assert_ptr_null(c->metrics_textfile);
	ck_assert_int_eq(c->finalize_timeout, 120);
	ck_assert_int_eq(c->order_timeout, 1800);
	ck_assert_int_eq(c->hook_timeout, 300);
	ck_assert_int_eq(c->dns_propagation_timeout, 600);
	ck_assert_int_eq(c->renew_jitter, 3600);
	ck_assert_int_eq(c->max_inflight, 256);
	ck_assert_uint_eq(c->post_hook.n, 0);
	ck_assert_uint_eq(c->naccounts, 1);
	a = &c->accounts[0];
	ck_assert_ptr_null(a->eab_kid);
	ck_assert_ptr_null(a->eab_hmac);
	ck_assert_uint_eq(a->eab_hmac_len, 0);
	ck_assert_int_eq(a->key_type, KEY_EC_P256);
	ck_assert_ptr_null(a->ca_bundle);
	ck_assert_int_eq(a->max_inflight, 256);
	/* The budgets: 4 newOrders at once, nothing else limited. */
	ck_assert_int_eq(a->new_orders_in_flight, 4);
	ck_assert_int_eq(a->new_orders_per_count, 0);
	ck_assert_int_eq(a->requests_per_second, 0);
	ck_assert_uint_eq(c->ncerts, 1);
	w = &c->certs[0];
	/* The only account is every certificate's account. */
	ck_assert_str_eq(w->account_name, "ca");
	ck_assert_ptr_eq(w->account, a);
	ck_assert_int_eq(w->key_type, KEY_EC_P256);
	ck_assert(!w->reuse_key);
	ck_assert_uint_eq(w->nchallenges, 1);
	ck_assert_int_eq(w->challenges[0], CHALLENGE_HTTP01);
	ck_assert_int_eq(w->http01_mode, HTTP01_STANDALONE);
	ck_assert_ptr_null(w->webroot);
	ck_assert_ptr_null(w->dns01_hook);
	ck_assert_str_eq(w->output_dir, "/etc/certfleet");
	ck_assert_int_eq(w->owner, (uid_t)-1);
	ck_assert_int_eq(w->group, (gid_t)-1);
	ck_assert_int_eq(w->mode, 0644);
	ck_assert_uint_eq(w->deploy_hook.n, 0);
	ck_assert_int_eq(w->renew_before, 0);
	ck_assert_ptr_null(w->profile);
	ck_assert_ptr_null(w->preferred_chain);
	ck_assert_int_eq(w->line, 6);
	config_free(c);

	/* A hook argument may be empty; argv[0] may not. */
	put("c.yaml", ACCOUNT "post_hook: [/bin/hook, \"\", x]\n", 0644);
	c = load_ok("c.yaml");
	assert_list(&c->post_hook, 3, (const char *[]){ "/bin/hook", "", "x" });
	config_free(c);
	put("c.yaml", ACCOUNT "post_hook: [\"\", x]\n", 0644);
	load_err("c.yaml", "5:13: post_hook[0]: must not be empty");

	/* Nothing but empty sections is a valid (idle) inventory. */
	put("c.yaml", "accounts:\ndefaults:\ncertificates: []\n", 0644);
	c = load_ok("c.yaml");
	ck_assert_uint_eq(c->naccounts, 0);
	ck_assert_uint_eq(c->ncerts, 0);
	config_free(c);
}
END_TEST

/* Every encoding SCM or an operator's paste may produce, inline and in a file. */
static const char *const key_texts[] = {
	"--__AD5__g", "--__AD5__g==", "++//AD5//g==", "++//AD5//g", " --__AD5__g==\n\n",
};

START_TEST(test_hmac_encodings)
{
	static const unsigned char want[] = { 0xfb, 0xef, 0xff, 0x00, 0x3e, 0x7f, 0xfe };
	struct config *c;
	char *inv;

	for (int file = 0; file < 2; file++) {
		if (file) {
			put("k.hmac", key_texts[_i], 0600);
			inv = xasprintf("%s    eab: {kid: k, hmac_key_file: k.hmac}\n", ACCOUNT);
		} else {
			inv = xasprintf("%s    eab:\n      kid: k\n      hmac_key: \"%s\"\n", ACCOUNT,
			    key_texts[_i]);
		}
		put("c.yaml", inv, 0600);
		free(inv);
		c = load_ok("c.yaml");
		ck_assert_uint_eq(c->accounts[0].eab_hmac_len, sizeof(want));
		ck_assert_mem_eq(c->accounts[0].eab_hmac, want, sizeof(want));
		config_free(c);
	}
}
END_TEST

/*
 * The shipped sample as an operator meets it: control_socket_group names
 * the certfleet group, which the package creates but a build machine may
 * lack, so the test's own gid stands in for it.  With uncomment set, every
 * line between "# ----- begin example -----" and "# ----- end example -----"
 * loses its first '#', as the sample tells the operator to do.  Caller frees.
 */
static char *sample_text(bool uncomment)
{
	char *text = NULL, *line, *nl, *gid = xasprintf("%u", (unsigned)getegid());
	struct buf b = { 0 };
	bool in = false;
	int groups = 0;
	size_t len;

	ck_assert_msg(read_file(SAMPLE, &text, &len, 1 << 20) == 0, "%s: %s", SAMPLE,
	    strerror(errno));
	/* Line by line, empty lines kept so error positions match the file. */
	for (line = text; *line; line = nl + 1) {
		ck_assert_ptr_nonnull(nl = strchr(line, '\n'));
		*nl = '\0';
		if (strcmp(line, "# ----- begin example -----") == 0) {
			ck_assert(!in);
			in = true;
		} else if (strcmp(line, "# ----- end example -----") == 0) {
			ck_assert(in);
			in = false;
		} else if (strcmp(line, "control_socket_group: certfleet") == 0) {
			buf_appendf(&b, "control_socket_group: %s\n", gid);
			groups++;
			continue;
		} else if (in && uncomment) {
			ck_assert_msg(line[0] == '#', "example line not commented: %s", line);
			line++;
		}
		buf_appendf(&b, "%s\n", line);
	}
	ck_assert(!in);
	ck_assert_int_eq(groups, 1);
	free(text);
	free(gid);
	return buf_steal(&b, NULL);
}

START_TEST(test_sample)
{
	struct config *c;
	const struct config_cert *w;
	char *text = sample_text(false);

	/* As shipped it is valid and inert: the package starts the daemon on it. */
	put("certfleet.yaml", text, 0600);
	free(text);
	c = load_ok("certfleet.yaml");
	ck_assert_uint_eq(c->naccounts, 0);
	ck_assert_uint_eq(c->ncerts, 0);
	ck_assert_uint_eq(c->control_socket_group, getegid());
	ck_assert_str_eq(c->state_dir, "/var/lib/certfleet");
	config_free(c);

	/* Its examples, uncommented, refuse to run until the operator supplies
	 * the key. */
	text = sample_text(true);
	put("certfleet.yaml", text, 0600);
	free(text);
	load_err("certfleet.yaml", "103:22: accounts.sectigo.eab.hmac_key_file: cannot open "
	    "'@DIR@/sectigo.hmac': No such file or directory");
	put("sectigo.hmac", PEBBLE_KEY "\n", 0600);
	c = load_ok("certfleet.yaml");
	ck_assert_uint_eq(c->naccounts, 1);
	ck_assert_str_eq(c->accounts[0].name, "sectigo");
	ck_assert_str_eq(c->accounts[0].directory_url, "https://acme.sectigo.com/v2/DV");
	ck_assert_str_eq(c->accounts[0].eab_kid, "REPLACE-WITH-THE-KEY-ID-FROM-SCM");
	ck_assert_int_eq(c->accounts[0].eab_alg, HMAC_HS256);
	ck_assert_uint_eq(c->ncerts, 1);
	w = &c->certs[0];
	ck_assert_str_eq(w->name, "www.example.com");
	assert_list(&w->domains, 2, (const char *[]){ "www.example.com", "example.com" });
	ck_assert_str_eq(w->account_name, "sectigo");
	ck_assert_int_eq(w->http01_mode, HTTP01_WEBROOT);
	ck_assert_str_eq(w->webroot, "/var/www/html");
	ck_assert_str_eq(c->state_dir, "/var/lib/certfleet");
	config_free(c);
}
END_TEST

/* staging_directory is optional and kept as given, beside directory. */
START_TEST(test_staging_directory)
{
	struct config *c;

	put("s.yaml", ACCOUNT "    staging_directory: https://staging.example.com/dir\n"
	    "  other:\n    directory: https://acme.example.com/directory\n"
	    "    contact: mailto:ops@example.com\n"
	    "certificates:\n  - {name: w, domains: [w.example.com], account: ca}\n", 0600);
	c = load_ok("s.yaml");
	ck_assert_str_eq(c->accounts[0].directory_url, "https://acme.example.com/directory");
	ck_assert_str_eq(c->accounts[0].staging_directory_url, "https://staging.example.com/dir");
	ck_assert_ptr_null(c->accounts[1].staging_directory_url);
	config_free(c);
}
END_TEST

/* A relative inventory path still resolves relative paths next to it. */
START_TEST(test_relative_inventory_path)
{
	char cwd[4096], *want;
	struct config *c = NULL;
	char err[1024];

	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(mkdir(strcat(strcpy(err, dir), "/sub"), 0700), 0);
	put("sub/c.yaml", "state_dir: state\noutput_dir: ../out\n", 0600);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_msg(config_load("sub/c.yaml", &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(chdir(cwd), 0);
	want = xasprintf("%s/sub/state", dir);
	ck_assert_str_eq(c->state_dir, want);
	ck_assert_str_eq(c->path, "sub/c.yaml");
	free(want);
	config_free(c);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad, 0, (int)ARRAY_SIZE(bad_cases));
	tcase_add_loop_test(tc, test_bad_host, 0, (int)ARRAY_SIZE(host_cases));
	tcase_add_test(tc, test_host_no_control);
	tcase_add_test(tc, test_fifo_inventory);
	tcase_add_test(tc, test_many_and_dual);
	tcase_add_test(tc, test_unreadable_inventory);
	tcase_add_test(tc, test_error_one_line);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_builtin_defaults);
	tcase_add_test(tc, test_budgets);
	tcase_add_loop_test(tc, test_hmac_encodings, 0, (int)ARRAY_SIZE(key_texts));
	tcase_add_test(tc, test_sample);
	tcase_add_test(tc, test_relative_inventory_path);
	tcase_add_test(tc, test_staging_directory);
	tcase_add_test(tc, test_load_top);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(config_suite)
