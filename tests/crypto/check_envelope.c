/*
 * check_envelope.c - unit tests for envelope.c: sealing round trips, the
 * exact wire form (checked against a value built here with OpenSSL
 * directly), every way a value must refuse to open (another key, another
 * name or version as associated data, any byte altered, cut short, a bad
 * prefix, bad base64), and the key file rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "envelope.h"
#include "testutil.h"
#include "util.h"

/* base64 of the 32 bytes 0x00..0x1f, as `openssl rand -base64 32` would print it. */
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static struct envelope_key key_a, key_b;
static char dir[64];
/* Paths made by tp(), freed by the teardown. */
static char *owned[8];
static size_t nowned;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_envelope.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	while (nowned > 0)
		free(owned[--nowned]);
}

/* dir/name, freed by the teardown. */
static char *tp(const char *name)
{
	ck_assert_uint_lt(nowned, ARRAY_SIZE(owned));
	return owned[nowned++] = xasprintf("%s/%s", dir, name);
}

static void keys_init(void)
{
	for (int i = 0; i < ENVELOPE_KEY_LEN; i++) {
		key_a.k[i] = (unsigned char)i;
		key_b.k[i] = (unsigned char)(i + 1);
	}
}

/* Writes path with exactly this mode (whatever the umask). */
static void put(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* The bytes behind a sealed value's base64; caller frees. */
static unsigned char *blob_of(const char *sealed, size_t *len)
{
	const char *b64 = sealed + strlen("cfenv1:");
	size_t n = strlen(b64);
	unsigned char *b = xmalloc(n / 4 * 3 + 1);
	int r = EVP_DecodeBlock(b, (const unsigned char *)b64, (int)n);

	ck_assert_int_ge(r, 0);
	*len = (size_t)r - (n > 0 && b64[n - 1] == '=') - (n > 1 && b64[n - 2] == '=');
	return b;
}

/* "cfenv1:" + base64 of len bytes; caller frees. */
static char *sealed_of(const unsigned char *blob, size_t len)
{
	char *s = xmalloc(7 + (len + 2) / 3 * 4 + 1);

	memcpy(s, "cfenv1:", 7);
	EVP_EncodeBlock((unsigned char *)s + 7, blob, (int)len);
	return s;
}

static void open_fails(const struct envelope_key *k, const char *ad, const char *sealed,
    const char *want)
{
	unsigned char *out = (unsigned char *)1;
	size_t outlen = 99;
	char err[256] = "";

	ck_assert_int_eq(envelope_open(k, ad, sealed, &out, &outlen, err, sizeof(err)), -1);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(outlen, 0);
	ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
}

#define NO_OPEN "does not open: another secret key, altered, or sealed for another name " \
	"or version"

/* ---- sealing and opening ---- */

START_TEST(test_round_trip)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 241, 3272, 65536 };
	unsigned char *plain = xmalloc(65536), *out = NULL;
	size_t outlen;
	char err[256];

	keys_init();
	for (size_t i = 0; i < 65536; i++)
		plain[i] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		char *s = envelope_seal(&key_a, "certs/www/3", plain, lens[i]);
		size_t bloblen;
		unsigned char *blob;

		ck_assert_ptr_nonnull(s);
		ck_assert_int_eq(strncmp(s, "cfenv1:", 7), 0);
		/* nonce | ciphertext (as long as the plaintext) | tag */
		blob = blob_of(s, &bloblen);
		ck_assert_uint_eq(bloblen, 12 + lens[i] + 16);
		free(blob);
		ck_assert_msg(envelope_open(&key_a, "certs/www/3", s, &out, &outlen, err,
		    sizeof(err)) == 0, "%s", err);
		ck_assert_uint_eq(outlen, lens[i]);
		ck_assert_int_eq(memcmp(out, plain, lens[i]), 0);
		ck_assert_int_eq(out[outlen], '\0');
		free_secret(out, outlen + 1);
		free(s);
	}
	free(plain);
}
END_TEST

/* A fresh nonce each time: the same key sealed twice gives two values. */
START_TEST(test_nonce_fresh)
{
	static const char pem[] = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n";
	char *s1, *s2;
	unsigned char *b1, *b2;
	size_t l1, l2;

	keys_init();
	s1 = envelope_seal(&key_a, "certs/www/1", pem, strlen(pem));
	s2 = envelope_seal(&key_a, "certs/www/1", pem, strlen(pem));
	ck_assert_str_ne(s1, s2);
	b1 = blob_of(s1, &l1);
	b2 = blob_of(s2, &l2);
	ck_assert_uint_eq(l1, l2);
	ck_assert_int_ne(memcmp(b1, b2, 12), 0);
	/* Nothing of the plaintext shows. */
	ck_assert_ptr_null(strstr(s1, "PRIVATE"));
	ck_assert_ptr_null(memmem(b1, l1, "PRIVATE", 7));
	free(b1);
	free(b2);
	free(s1);
	free(s2);
}
END_TEST

/* The wire form is exactly nonce | AES-256-GCM(plain) | tag, the ad as AAD:
 * a value built here with OpenSSL alone opens. */
START_TEST(test_wire_form)
{
	static const unsigned char nonce[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
	static const char ad[] = "certs/api/7", plain[] = "sealed elsewhere";
	unsigned char blob[12 + sizeof(plain) - 1 + 16], *out = NULL;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	size_t outlen;
	char err[256], *s;
	int l = 0, f = 0;

	keys_init();
	memcpy(blob, nonce, 12);
	ck_assert_int_eq(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key_a.k, nonce), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(ctx, NULL, &l, (const unsigned char *)ad,
	    (int)strlen(ad)), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(ctx, blob + 12, &l, (const unsigned char *)plain,
	    (int)strlen(plain)), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(ctx, blob + 12 + l, &f), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16,
	    blob + 12 + strlen(plain)), 1);
	EVP_CIPHER_CTX_free(ctx);
	s = sealed_of(blob, sizeof(blob));
	ck_assert_msg(envelope_open(&key_a, ad, s, &out, &outlen, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_uint_eq(outlen, strlen(plain));
	ck_assert_str_eq((char *)out, plain);
	free_secret(out, outlen + 1);
	free(s);
}
END_TEST

START_TEST(test_wrong_key)
{
	char *s;

	keys_init();
	s = envelope_seal(&key_a, "certs/www/3", "secret", 6);
	open_fails(&key_b, "certs/www/3", s, NO_OPEN);
	free(s);
}
END_TEST

/* A value copied under another certificate or version does not open. */
START_TEST(test_wrong_ad)
{
	char *s, *empty;

	keys_init();
	s = envelope_seal(&key_a, "certs/www/3", "secret", 6);
	open_fails(&key_a, "certs/api/3", s, NO_OPEN);
	open_fails(&key_a, "certs/www/2", s, NO_OPEN);
	open_fails(&key_a, "certs/www/30", s, NO_OPEN);
	open_fails(&key_a, "", s, NO_OPEN);
	open_fails(&key_a, NULL, s, NO_OPEN);
	/* An empty ad is an ad like any other. */
	empty = envelope_seal(&key_a, "", "secret", 6);
	open_fails(&key_a, "certs/www/3", empty, NO_OPEN);
	free(empty);
	free(s);
}
END_TEST

/* Any byte altered, in the nonce, the ciphertext or the tag. */
START_TEST(test_tampered)
{
	unsigned char *blob;
	size_t len;
	char *s;

	keys_init();
	s = envelope_seal(&key_a, "certs/www/3", "0123456789abcdef0123", 20);
	blob = blob_of(s, &len);
	ck_assert_uint_eq(len, 12 + 20 + 16);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			char *t;

			blob[i] ^= (unsigned char)(1u << bit);
			t = sealed_of(blob, len);
			open_fails(&key_a, "certs/www/3", t, NO_OPEN);
			free(t);
			blob[i] ^= (unsigned char)(1u << bit);
		}
	}
	/* Put back, it opens again: the loop changed only what it meant to. */
	{
		char *t = sealed_of(blob, len), err[256];
		unsigned char *out = NULL;
		size_t outlen;

		ck_assert_msg(envelope_open(&key_a, "certs/www/3", t, &out, &outlen, err,
		    sizeof(err)) == 0, "%s", err);
		free_secret(out, outlen + 1);
		free(t);
	}
	free(blob);
	free(s);
}
END_TEST

START_TEST(test_truncated)
{
	unsigned char *blob;
	size_t len;
	char *s, *t;

	keys_init();
	s = envelope_seal(&key_a, "a", "0123456789", 10);
	blob = blob_of(s, &len);
	/* Shorter than nonce and tag: refused before any decryption. */
	t = sealed_of(blob, 27);
	open_fails(&key_a, "a", t, "truncated sealed value (27 bytes, at least 28 expected)");
	free(t);
	t = sealed_of(blob, 0);
	open_fails(&key_a, "a", t, "truncated sealed value (0 bytes");
	free(t);
	/* Long enough to parse, but the tag is not where it was. */
	for (size_t n = 28; n < len; n++) {
		t = sealed_of(blob, n);
		open_fails(&key_a, "a", t, NO_OPEN);
		free(t);
	}
	/* Cut inside the base64. */
	s[strlen(s) - 1] = '\0';
	open_fails(&key_a, "a", s, "malformed sealed value (not base64)");
	free(blob);
	free(s);
}
END_TEST

START_TEST(test_bad_form)
{
	char *s, *t;

	keys_init();
	s = envelope_seal(&key_a, "a", "x", 1);
	open_fails(&key_a, "a", s + 1, "not a sealed value (it does not start with cfenv1:)");
	open_fails(&key_a, "a", "", "not a sealed value");
	open_fails(&key_a, "a", NULL, "not a sealed value");
	open_fails(&key_a, "a", "-----BEGIN PRIVATE KEY-----", "not a sealed value");
	t = xasprintf("cfenv2:%s", s + 7);
	open_fails(&key_a, "a", t, "not a sealed value");
	free(t);
	t = xasprintf("CFENV1:%s", s + 7);
	open_fails(&key_a, "a", t, "not a sealed value");
	free(t);
	/* Not the base64 it must be: another alphabet, spaces, stray padding. */
	t = xstrdup(s);
	t[10] = '-';
	open_fails(&key_a, "a", t, "malformed sealed value (not base64)");
	t[10] = ' ';
	open_fails(&key_a, "a", t, "malformed sealed value (not base64)");
	t[10] = '=';
	open_fails(&key_a, "a", t, "malformed sealed value (not base64)");
	free(t);
	t = xasprintf("%s\n", s);
	open_fails(&key_a, "a", t, "malformed sealed value (not base64)");
	free(t);
	open_fails(&key_a, "a", "cfenv1:", "truncated sealed value (0 bytes");
	free(s);
}
END_TEST

/* ---- the key file ---- */

static void key_fails(const char *path, const char *want)
{
	struct envelope_key k;
	char err[512] = "", *w = xasprintf(want, path);

	memset(&k, 0x5a, sizeof(k));
	ck_assert_int_eq(envelope_key_load(path, &k, err, sizeof(err)), -1);
	ck_assert_str_eq(err, w);
	free(w);
}

START_TEST(test_key_good)
{
	static const char *const texts[] = { KEY_B64 "\n", KEY_B64, "  " KEY_B64 " \r\n\n",
		"\n\t" KEY_B64 "\n" };
	static const mode_t modes[] = { 0600, 0400, 0700 };
	char *p = tp("pool.key"), err[512];
	struct envelope_key k;

	keys_init();
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
			put(p, texts[i], modes[m]);
			memset(&k, 0, sizeof(k));
			ck_assert_msg(envelope_key_load(p, &k, err, sizeof(err)) == 0, "%s", err);
			ck_assert_mem_eq(k.k, key_a.k, ENVELOPE_KEY_LEN);
		}
	}
	envelope_key_wipe(&k);
	for (int i = 0; i < ENVELOPE_KEY_LEN; i++)
		ck_assert_int_eq(k.k[i], 0);
	envelope_key_wipe(NULL);
}
END_TEST

/* The key from a file seals what the same file opens on another host. */
START_TEST(test_key_shared)
{
	char *p = tp("pool.key"), err[512], *s;
	struct envelope_key k1, k2;
	unsigned char *out = NULL;
	size_t outlen;

	put(p, KEY_B64 "\n", 0600);
	ck_assert_int_eq(envelope_key_load(p, &k1, err, sizeof(err)), 0);
	ck_assert_int_eq(envelope_key_load(p, &k2, err, sizeof(err)), 0);
	s = envelope_seal(&k1, "certs/www/1", "k", 1);
	ck_assert_int_eq(envelope_open(&k2, "certs/www/1", s, &out, &outlen, err, sizeof(err)), 0);
	ck_assert_str_eq((char *)out, "k");
	free_secret(out, outlen + 1);
	free(s);
	envelope_key_wipe(&k1);
	envelope_key_wipe(&k2);
}
END_TEST

START_TEST(test_key_wrong_length)
{
	char *p = tp("pool.key");

	/* 31 and 33 bytes, and a 48-byte EAB key put in the wrong place. */
	put(p, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n", 0600);
	key_fails(p, "the secret key in '%s' is 31 bytes, not 32 (as openssl rand -base64 32 "
	    "writes it)");
	put(p, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g\n", 0600);
	key_fails(p, "the secret key in '%s' is 33 bytes, not 32 (as openssl rand -base64 32 "
	    "writes it)");
	put(p, "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W\n", 0600);
	key_fails(p, "the secret key in '%s' is 48 bytes, not 32 (as openssl rand -base64 32 "
	    "writes it)");
	put(p, "\n \n", 0600);
	key_fails(p, "'%s' is empty; it must hold 32 bytes in base64, as openssl rand -base64 "
	    "32 writes them");
	put(p, "", 0600);
	key_fails(p, "'%s' is empty; it must hold 32 bytes in base64, as openssl rand -base64 "
	    "32 writes them");
}
END_TEST

START_TEST(test_key_not_base64)
{
	static const char *const texts[] = {
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",     /* padding missing */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nAAAA\n", /* two lines */
		"AAECAwQFBgcICQoLDA0O DxAREhMUFRYXGBkaGxwdHh8=\n",  /* a space inside */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd_h8=\n",   /* base64url */
		"not a key at all, just some text!!!!!!!!!!!\n",
		"-----BEGIN PRIVATE KEY-----\n",
	};
	char *p = tp("pool.key");

	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		put(p, texts[i], 0600);
		key_fails(p, "the secret key in '%s' is not base64 on one line (as openssl rand "
		    "-base64 32 writes it)");
	}
}
END_TEST

START_TEST(test_key_modes)
{
	static const mode_t loose[] = { 0644, 0640, 0604, 0660, 0620, 0602, 0610, 0601, 0666 };
	char *p = tp("pool.key");

	for (size_t i = 0; i < ARRAY_SIZE(loose); i++) {
		char *want = xasprintf("permissions %04o for '%%s' are too open; it holds the "
		    "cluster's secret key (chmod 600)", (unsigned)loose[i]);

		put(p, KEY_B64 "\n", loose[i]);
		key_fails(p, want);
		free(want);
	}
}
END_TEST

START_TEST(test_key_not_file)
{
	char *p = tp("missing.key"), *d = tp("dir"), *f = tp("fifo");

	key_fails(p, "cannot open '%s': No such file or directory");
	ck_assert_int_eq(mkdir(d, 0700), 0);
	key_fails(d, "'%s' is not a regular file");
	ck_assert_int_eq(mkfifo(f, 0600), 0);
	key_fails(f, "'%s' is not a regular file");
	key_fails(TEST_DATA_DIR "/nonexistent/pool.key",
	    "cannot open '%s': No such file or directory");
}
END_TEST

START_TEST(test_key_too_large)
{
	char *p = tp("pool.key"), *big = xmalloc(5001);

	memset(big, 'A', 5000);
	big[5000] = '\0';
	put(p, big, 0600);
	key_fails(p, "'%s' is too large to be a secret key (it must hold 32 bytes in base64, "
	    "as openssl rand -base64 32 writes them)");
	free(big);
}
END_TEST

static Suite *envelope_suite(void)
{
	Suite *s = suite_create("envelope");
	TCase *tc = tcase_create("seal");
	TCase *tk = tcase_create("key_file");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_nonce_fresh);
	tcase_add_test(tc, test_wire_form);
	tcase_add_test(tc, test_wrong_key);
	tcase_add_test(tc, test_wrong_ad);
	tcase_add_test(tc, test_tampered);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_bad_form);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tk, setup, teardown);
	tcase_add_test(tk, test_key_good);
	tcase_add_test(tk, test_key_shared);
	tcase_add_test(tk, test_key_wrong_length);
	tcase_add_test(tk, test_key_not_base64);
	tcase_add_test(tk, test_key_modes);
	tcase_add_test(tk, test_key_not_file);
	tcase_add_test(tk, test_key_too_large);
	suite_add_tcase(s, tk);
	return s;
}

CHECK_MAIN(envelope_suite)
