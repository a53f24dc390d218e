/*
 * check_install.c - unit tests for install.c: version numbering, the
 * live/NAME -> ../archive/NAME/.liveN switch, file modes and ownership,
 * failures that must leave the live link alone, the live path helpers, and
 * combined.pem switched with the other four.
 * The material is plain text: install.c copies bytes and parses nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "install.h"
#include "testutil.h"
#include "util.h"

/* basedir belongs to the parent (unchecked fixture) so that the tmpdir of
 * a failed test, which ends without the checked teardown, still goes. */
static char basedir[64], tmpdir[96];
static const char *const files[] = {"cert", "chain", "fullchain", "privkey"};

static void
base_setup(void)
{
	snprintf(basedir, sizeof(basedir), "/tmp/check_install.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(basedir));
}

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/t.XXXXXX", basedir);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
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
teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
base_teardown(void)
{
	nftw(basedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Material of version v: every file's text says which file and version. */
struct material {
	char text[4][64];
	struct install_material m;
};

static void
material_make(struct material *mt, int v)
{
	for (int i = 0; i < 4; i++)
		snprintf(mt->text[i], sizeof(mt->text[i]), "%s of version %d\n", files[i], v);
	mt->m.cert_pem = mt->text[0];
	mt->m.chain_pem = mt->text[1];
	mt->m.fullchain_pem = mt->text[2];
	mt->m.key_pem = mt->text[3];
	mt->m.key_len = strlen(mt->text[3]);
}

static struct install_opts
opts_make(void)
{
	struct install_opts o = {
		.output_dir = tmpdir, .name = "example.com",
		.owner = (uid_t)-1, .group = (gid_t)-1, .mode = 0644,
	};
	return o;
}

static int
install(const struct install_opts *o, int v_material, int *version, char *err, size_t errlen)
{
	struct material mt;

	material_make(&mt, v_material);
	*version = -42;
	err[0] = '\0';
	return install_lineage(o, &mt.m, version, err, errlen);
}

static char *
live_link(const char *name)
{
	char *link = xasprintf("%s/live/%s", tmpdir, name), buf[PATH_MAX];
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);

	ck_assert_msg(n > 0, "readlink %s: %s", link, strerror(errno));
	buf[n] = '\0';
	free(link);
	return xstrdup(buf);
}

/* Every live/NAME/X.pem holds version v's text. */
static void
assert_live_is(const char *name, int v)
{
	char want_link[128];
	char *l = live_link(name);

	snprintf(want_link, sizeof(want_link), "../archive/%s/.live%d", name, v);
	ck_assert_str_eq(l, want_link);
	free(l);
	for (int i = 0; i < 4; i++) {
		char file[32], want[64];
		size_t len = 0;
		snprintf(file, sizeof(file), "%s.pem", files[i]);
		snprintf(want, sizeof(want), "%s of version %d\n", files[i], v);
		char *data = install_read_live(tmpdir, name, file, &len);
		ck_assert_msg(data != NULL, "live/%s/%s unreadable", name, file);
		ck_assert_str_eq(data, want);
		ck_assert_uint_eq(len, strlen(want));
		free(data);
	}
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

/* Entries of dir whose name starts with prefix. */
static int
count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

START_TEST(test_versions)
{
	struct install_opts o = opts_make();
	char err[512];
	int v;

	for (int n = 1; n <= 3; n++) {
		ck_assert_msg(install(&o, n, &v, err, sizeof(err)) == 0, "%s", err);
		ck_assert_int_eq(v, n);
		assert_live_is("example.com", n);
	}
	/* Older versions stay in the archive, as real files, and each
	 * .liveN holds relative links to its own version. */
	for (int n = 1; n <= 3; n++) {
		for (int i = 0; i < 4; i++) {
			struct stat st;
			char buf[64], want[64];
			char *p = xasprintf("%s/archive/example.com/%s%d.pem", tmpdir, files[i], n);
			char *q = xasprintf("%s/archive/example.com/.live%d/%s.pem", tmpdir, n,
			    files[i]);
			ck_assert_int_eq(lstat(p, &st), 0);
			ck_assert(S_ISREG(st.st_mode));
			ssize_t len = readlink(q, buf, sizeof(buf) - 1);
			ck_assert_int_gt(len, 0);
			buf[len] = '\0';
			snprintf(want, sizeof(want), "../%s%d.pem", files[i], n);
			ck_assert_str_eq(buf, want);
			free(p);
			free(q);
		}
	}
	/* No temporary left beside the link or in the archive. */
	char *live = xasprintf("%s/live", tmpdir);
	char *arch = xasprintf("%s/archive/example.com", tmpdir);
	ck_assert_int_eq(count_prefixed(live, "."), 2);
	ck_assert_int_eq(count_prefixed(arch, "."), 2 + 3); /* ., .., .live1-3 */
	free(live);
	free(arch);

	/* Lineages are independent. */
	o.name = "other.example";
	ck_assert_int_eq(install(&o, 1, &v, err, sizeof(err)), 0);
	ck_assert_int_eq(v, 1);
	assert_live_is("other.example", 1);
	assert_live_is("example.com", 3);
}
END_TEST

START_TEST(test_modes)
{
	struct install_opts o = opts_make();
	char err[512];
	int v;

	umask(077); /* the modes asked for win over the daemon's umask */
	o.mode = 0644;
	ck_assert_msg(install(&o, 1, &v, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < 4; i++) {
		char *p = xasprintf("%s/live/example.com/%s.pem", tmpdir, files[i]);
		mode_t want = i == 3 ? 0600 : 0644;
		ck_assert_msg(mode_of(p) == want, "%s: %03o", p, (unsigned)mode_of(p));
		free(p);
	}

	/* With a group the key becomes group-readable, never more. */
	o.mode = 0640;
	o.group = getgid();
	o.owner = getuid();
	ck_assert_msg(install(&o, 2, &v, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < 4; i++) {
		struct stat st;
		char *p = xasprintf("%s/live/example.com/%s.pem", tmpdir, files[i]);
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_uint_eq(st.st_mode & 07777, 0640);
		ck_assert_uint_eq(st.st_uid, getuid());
		ck_assert_uint_eq(st.st_gid, getgid());
		free(p);
	}

	if (geteuid() == 0) {
		/* Root installs for a service user: owner and group applied. */
		o.owner = 4242;
		o.group = 4343;
		o.mode = 0604;
		ck_assert_msg(install(&o, 3, &v, err, sizeof(err)) == 0, "%s", err);
		for (int i = 0; i < 4; i++) {
			struct stat st;
			char *p = xasprintf("%s/live/example.com/%s.pem", tmpdir, files[i]);
			ck_assert_int_eq(stat(p, &st), 0);
			ck_assert_uint_eq(st.st_uid, 4242);
			ck_assert_uint_eq(st.st_gid, 4343);
			ck_assert_uint_eq(st.st_mode & 07777, i == 3 ? 0640 : 0604);
			free(p);
		}
	}
}
END_TEST

START_TEST(test_chain_absent)
{
	struct install_opts o = opts_make();
	struct material mt;
	char err[512] = "";
	size_t len = 99;
	int v;

	material_make(&mt, 1);
	mt.m.chain_pem = NULL; /* a lone leaf */
	ck_assert_msg(install_lineage(&o, &mt.m, &v, err, sizeof(err)) == 0, "%s", err);
	char *data = install_read_live(tmpdir, "example.com", "chain.pem", &len);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(len, 0);
	free(data);
	/* The key is written with its explicit length, not strlen(). */
	mt.m.key_len = 5;
	ck_assert_int_eq(install_lineage(&o, &mt.m, &v, err, sizeof(err)), 0);
	data = install_read_live(tmpdir, "example.com", "privkey.pem", &len);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(len, 5);
	ck_assert_str_eq(data, "privk");
	free(data);
}
END_TEST

START_TEST(test_failure_keeps_live)
{
	struct install_opts o = opts_make();
	char err[512];
	int v;

	ck_assert_int_eq(install(&o, 1, &v, err, sizeof(err)), 0);
	/* Block the switch itself: a non-empty directory where the temporary
	 * link is made.  Everything for version 2 gets written, then the
	 * switch fails. */
	char *blocker = xasprintf("%s/live/.example.com.tmp", tmpdir);
	char *inside = xasprintf("%s/keep", blocker);
	ck_assert_int_eq(mkdir(blocker, 0700), 0);
	FILE *f = fopen(inside, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(install(&o, 2, &v, err, sizeof(err)), -1);
	ck_assert_int_eq(v, -42); /* not touched on failure */
	ck_assert_msg(strstr(err, blocker) != NULL, "message does not name %s: %s", blocker,
	    err);
	assert_live_is("example.com", 1);

	/* The next attempt never reuses the half-made version 2. */
	ck_assert_int_eq(unlink(inside), 0);
	ck_assert_int_eq(rmdir(blocker), 0);
	ck_assert_msg(install(&o, 3, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(v, 3);
	assert_live_is("example.com", 3);
	free(blocker);
	free(inside);
}
END_TEST

START_TEST(test_stray_version_skipped)
{
	struct install_opts o = opts_make();
	char err[512];
	int v;

	ck_assert_int_eq(install(&o, 1, &v, err, sizeof(err)), 0);
	/* Leftovers of an interrupted version 2 (a .live2 that is a plain
	 * file, say) push the number past them and stay untouched. */
	char *stray = xasprintf("%s/archive/example.com/.live2", tmpdir);
	FILE *f = fopen(stray, "w");
	ck_assert_ptr_nonnull(f);
	fputs("stray", f);
	fclose(f);
	ck_assert_msg(install(&o, 3, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(v, 3);
	assert_live_is("example.com", 3);
	struct stat st;
	ck_assert_int_eq(lstat(stray, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 5);

	/* So does a lone archive file of a higher version. */
	char *high = xasprintf("%s/archive/example.com/fullchain9.pem", tmpdir);
	f = fopen(high, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(install(&o, 10, &v, err, sizeof(err)), 0);
	ck_assert_int_eq(v, 10);
	assert_live_is("example.com", 10);
	free(stray);
	free(high);
}
END_TEST

START_TEST(test_refuses_real_directory)
{
	struct install_opts o = opts_make();
	char err[512];
	int v;
	char *link = xasprintf("%s/live/example.com", tmpdir);
	char *mine = xasprintf("%s/fullchain.pem", link);

	/* Someone's hand-made live/NAME (certbot's own layout, say). */
	ck_assert_int_eq(mkdir_p(link, 0755), 0);
	FILE *f = fopen(mine, "w");
	ck_assert_ptr_nonnull(f);
	fputs("operator's file", f);
	fclose(f);
	ck_assert_int_eq(install(&o, 1, &v, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, link) != NULL, "message does not name %s: %s", link, err);
	ck_assert_msg(strstr(err, "not a symbolic link") != NULL, "%s", err);
	struct stat st;
	ck_assert_int_eq(lstat(link, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	size_t len;
	char *data = install_read_live(tmpdir, "example.com", "fullchain.pem", &len);
	ck_assert_ptr_nonnull(data);
	ck_assert_str_eq(data, "operator's file");
	free(data);
	/* Refused before writing anything into the archive. */
	char *arch = xasprintf("%s/archive/example.com/cert1.pem", tmpdir);
	ck_assert_int_eq(access(arch, F_OK), -1);
	free(arch);
	free(link);
	free(mine);
}
END_TEST

START_TEST(test_check_live)
{
	struct install_opts o = opts_make();
	char err[512], *link = xasprintf("%s/live/example.com", tmpdir);
	char *live = xasprintf("%s/live", tmpdir), *other = xasprintf("%s/live/other", tmpdir);
	int v;

	/* Absent (no live/ at all, then an empty live/): may be created. */
	err[0] = '\0';
	ck_assert_msg(install_check_live(tmpdir, "example.com", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(mkdir(live, 0755), 0);
	ck_assert_int_eq(install_check_live(tmpdir, "example.com", err, sizeof(err)), 0);
	/* Reads only: nothing was created for the check. */
	ck_assert_int_eq(count_prefixed(live, ""), 2);

	/* certfleet's own link, version 1 and then 2. */
	ck_assert_msg(install(&o, 1, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(install_check_live(tmpdir, "example.com", err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(install(&o, 2, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(install_check_live(tmpdir, "example.com", err, sizeof(err)), 0);

	/* A link someone else made, even into our archive under another
	 * name: refused, with the path and where it points. */
	ck_assert_int_eq(symlink("/etc/ssl", other), 0);
	ck_assert_int_eq(install_check_live(tmpdir, "other", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, other) && strstr(err, "/etc/ssl"), "%s", err);
	ck_assert_int_eq(unlink(other), 0);
	ck_assert_int_eq(symlink("../archive/example.com/.live2", other), 0);
	ck_assert_int_eq(install_check_live(tmpdir, "other", err, sizeof(err)), -1);
	ck_assert_int_eq(unlink(other), 0);
	ck_assert_int_eq(symlink("../archive/other/.liveX", other), 0);
	ck_assert_int_eq(install_check_live(tmpdir, "other", err, sizeof(err)), -1);
	/* install_lineage uses the same check: the foreign link stays. */
	o.name = "other";
	ck_assert_int_eq(install(&o, 1, &v, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not at a version certfleet made"), "%s", err);
	free(live_link("other"));
	ck_assert_int_eq(unlink(other), 0);

	/* A plain file, an empty directory (not a certbot lineage). */
	FILE *f = fopen(other, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(install_check_live(tmpdir, "other", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, other) && strstr(err, "not a symbolic link"), "%s", err);
	ck_assert_int_eq(unlink(other), 0);
	ck_assert_int_eq(mkdir(other, 0755), 0);
	ck_assert_int_eq(install_check_live(tmpdir, "other", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "move it away"), "%s", err);
	ck_assert_int_eq(rmdir(other), 0);

	/* output_dir/live itself is not a directory. */
	char *out2 = xasprintf("%s/out2", tmpdir), *live2 = xasprintf("%s/out2/live", tmpdir);
	ck_assert_int_eq(mkdir(out2, 0755), 0);
	f = fopen(live2, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(install_check_live(out2, "example.com", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, live2) && strstr(err, "not a directory"), "%s", err);
	free(out2);
	free(live2);
	free(link);
	free(live);
	free(other);
}
END_TEST

START_TEST(test_live_paths)
{
	struct install_opts o = opts_make();
	char err[512], *p, want[256];
	size_t len = 7;
	int v;

	p = install_live_path("/srv/tls", "example.com", "fullchain.pem");
	ck_assert_str_eq(p, "/srv/tls/live/example.com/fullchain.pem");
	free(p);
	p = install_live_path("/srv/tls", "example.com", NULL);
	ck_assert_str_eq(p, "/srv/tls/live/example.com");
	free(p);

	ck_assert_ptr_null(install_read_live(tmpdir, "example.com", "fullchain.pem", &len));
	ck_assert_int_eq(install(&o, 1, &v, err, sizeof(err)), 0);
	char *data = install_read_live(tmpdir, "example.com", "fullchain.pem", &len);
	snprintf(want, sizeof(want), "fullchain of version 1\n");
	ck_assert_ptr_nonnull(data);
	ck_assert_str_eq(data, want);
	ck_assert_uint_eq(len, strlen(want));
	free(data);
	ck_assert_ptr_null(install_read_live(tmpdir, "example.com", "missing.pem", &len));
	/* The path helper names a path that reaches the same file. */
	p = install_live_path(tmpdir, "example.com", "cert.pem");
	ck_assert_int_eq(read_file(p, &data, &len, 1 << 20), 0);
	ck_assert_str_eq(data, "cert of version 1\n");
	free(data);
	free(p);
}
END_TEST

/* TMPDIR/rel in one of a few static buffers: short-lived paths in a test. */
static const char *
in_tmp(const char *rel)
{
	static char bufs[4][256];
	static unsigned next;
	char *b = bufs[next++ % ARRAY_SIZE(bufs)];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, rel);
	return b;
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* What a crash in install_lineage() leaves is removed at the next start,
 * and nothing that only looks like it. */
START_TEST(test_sweep_temps)
{
	struct install_opts o = opts_make();
	char err[256], *p;
	int v;

	ck_assert_msg(install(&o, 1, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(install_sweep_temps(tmpdir, "example.com"), 0);
	/* The switch's link, made just before the rename, and a version's file
	 * caught between create and rename. */
	p = xasprintf("%s/live/.example.com.tmp", tmpdir);
	ck_assert_int_eq(symlink("../archive/example.com/.live2", p), 0);
	free(p);
	p = xasprintf("%s/archive/example.com/.privkey2.pem.tmp.0a1b2c3d4e5f", tmpdir);
	write_text(p, "half a key");
	free(p);
	/* Not ours: another lineage's link, a file under the link's name, a
	 * version directory, a backup. */
	p = xasprintf("%s/live/.other.tmp", tmpdir);
	ck_assert_int_eq(symlink("x", p), 0);
	free(p);
	ck_assert_int_eq(mkdir(in_tmp("live/.shop.tmp"), 0755), 0);
	write_text(in_tmp("archive/example.com/.cert1.pem.tmp"), "keep");
	write_text(in_tmp("archive/example.com/cert1.pem.tmp.0a1b2c3d4e5f"),
	    "keep");

	ck_assert_uint_eq(install_sweep_temps(tmpdir, "example.com"), 2);
	ck_assert_int_eq(count_prefixed(in_tmp("live"), ".example.com.tmp"), 0);
	ck_assert_int_eq(count_prefixed(in_tmp("archive/example.com"),
	    ".privkey2"), 0);
	ck_assert_int_eq(count_prefixed(in_tmp("live"), ".other.tmp"), 1);
	ck_assert_int_eq(count_prefixed(in_tmp("live"), ".shop.tmp"), 1);
	ck_assert_int_eq(count_prefixed(in_tmp("archive/example.com"),
	    ".cert1.pem.tmp"), 1);
	ck_assert_int_eq(count_prefixed(in_tmp("archive/example.com"),
	    "cert1.pem.tmp."), 1);
	ck_assert_int_eq(count_prefixed(in_tmp("archive/example.com"),
	    ".live1"), 1);
	assert_live_is("example.com", 1);
	ck_assert_msg(install(&o, 2, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(v, 2);
	assert_live_is("example.com", 2);
	/* A lineage never installed: nothing there, nothing to do. */
	ck_assert_uint_eq(install_sweep_temps(tmpdir, "never"), 0);
}
END_TEST

/* ---- certbot lineages ---- */

/* certbot's layout for NAME: archive versions 1..v (text as material_make
 * writes it), live/NAME a directory of links to version v plus README,
 * and renewal/NAME.conf. */
static void
certbot_lineage(const char *name, int v)
{
	char *arch = xasprintf("%s/archive/%s", tmpdir, name);
	char *live = xasprintf("%s/live/%s", tmpdir, name);
	char *ren = xasprintf("%s/renewal", tmpdir);
	char *p;

	ck_assert_int_eq(mkdir_p(arch, 0700), 0);
	ck_assert_int_eq(mkdir_p(live, 0755), 0);
	ck_assert_int_eq(mkdir_p(ren, 0755), 0);
	for (int k = 1; k <= v; k++) {
		for (int i = 0; i < 4; i++) {
			char text[64];
			snprintf(text, sizeof(text), "%s of version %d\n", files[i], k);
			p = xasprintf("%s/%s%d.pem", arch, files[i], k);
			write_text(p, text);
			free(p);
		}
	}
	for (int i = 0; i < 4; i++) {
		char *target = xasprintf("../../archive/%s/%s%d.pem", name, files[i], v);
		p = xasprintf("%s/%s.pem", live, files[i]);
		ck_assert_int_eq(symlink(target, p), 0);
		free(p);
		free(target);
	}
	p = xasprintf("%s/README", live);
	write_text(p, "This directory contains your keys and certificates.\n");
	free(p);
	p = xasprintf("%s/%s.conf", ren, name);
	write_text(p, "[renewalparams]\n");
	free(p);
	free(arch);
	free(live);
	free(ren);
}

START_TEST(test_certbot_adopted)
{
	struct install_opts o = opts_make();
	char err[512], why[256];
	int v, cur;
	char *p;

	certbot_lineage("example.com", 2);
	ck_assert_int_eq(install_live_kind(tmpdir, "example.com", &cur, why, sizeof(why)),
	    INSTALL_LIVE_CERTBOT);
	ck_assert_int_eq(cur, 2);
	/* Readers see certbot's version 2 until the switch... */
	p = install_read_live(tmpdir, "example.com", "fullchain.pem", NULL);
	ck_assert_str_eq(p, "fullchain of version 2\n");
	free(p);
	ck_assert_msg(install(&o, 3, &v, err, sizeof(err)) == 0, "%s", err);
	/* ...and version 3, written after certbot's, in certfleet's layout. */
	ck_assert_int_eq(v, 3);
	assert_live_is("example.com", 3);
	ck_assert_int_eq(install_live_kind(tmpdir, "example.com", &cur, why, sizeof(why)),
	    INSTALL_LIVE_CERTFLEET);
	ck_assert_int_eq(cur, 3);
	/* certbot's archive is kept; its old links and the exchange's
	 * temporary name are gone; certbot no longer renews it. */
	p = xasprintf("%s/archive/example.com/privkey2.pem", tmpdir);
	ck_assert_int_eq(access(p, F_OK), 0);
	free(p);
	ck_assert_int_eq(count_prefixed(p = xasprintf("%s/live", tmpdir), ".e"), 0);
	free(p);
	p = xasprintf("%s/renewal/example.com.conf", tmpdir);
	ck_assert_int_eq(access(p, F_OK), -1);
	free(p);
	p = xasprintf("%s/renewal/example.com.conf.certfleet", tmpdir);
	ck_assert_int_eq(access(p, F_OK), 0);
	free(p);
	/* The next renewal is an ordinary one. */
	ck_assert_msg(install(&o, 4, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(v, 4);
	assert_live_is("example.com", 4);
}
END_TEST

/* A crash right after the exchange left certbot's old links at the
 * temporary name: the next install clears them and proceeds. */
START_TEST(test_certbot_crash_after_exchange)
{
	struct install_opts o = opts_make();
	char err[512];
	int v;
	char *live = xasprintf("%s/live/example.com", tmpdir);
	char *tmp = xasprintf("%s/live/.example.com.tmp", tmpdir);

	certbot_lineage("example.com", 1);
	/* The state after the exchange: the link live, the directory aside. */
	ck_assert_int_eq(rename(live, tmp), 0);
	{
		char *vdir = xasprintf("%s/archive/example.com/.live2", tmpdir);
		ck_assert_int_eq(mkdir_p(vdir, 0755), 0);
		free(vdir);
	}
	ck_assert_int_eq(symlink("../archive/example.com/.live2", live), 0);
	ck_assert_msg(install(&o, 3, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(v, 3);
	assert_live_is("example.com", 3);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	free(live);
	free(tmp);
}
END_TEST

START_TEST(test_certbot_not_quite)
{
	struct install_opts o = opts_make();
	char err[512], why[256];
	int v, cur;
	char *live = xasprintf("%s/live/example.com", tmpdir), *p;

	/* An operator's extra file: taking over would delete it. */
	certbot_lineage("example.com", 2);
	p = xasprintf("%s/extra.pem", live);
	write_text(p, "mine");
	ck_assert_int_eq(install_live_kind(tmpdir, "example.com", &cur, why, sizeof(why)),
	    INSTALL_LIVE_FOREIGN);
	ck_assert_msg(strstr(why, "extra.pem") != NULL, "%s", why);
	ck_assert_int_eq(install(&o, 3, &v, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a symbolic link made by certfleet") != NULL, "%s", err);
	unlink(p);
	free(p);
	/* Links of two versions. */
	p = xasprintf("%s/privkey.pem", live);
	unlink(p);
	ck_assert_int_eq(symlink("../../archive/example.com/privkey1.pem", p), 0);
	ck_assert_int_eq(install_live_kind(tmpdir, "example.com", &cur, why, sizeof(why)),
	    INSTALL_LIVE_FOREIGN);
	ck_assert_msg(strstr(why, "same certbot version") != NULL, "%s", why);
	/* A link missing. */
	unlink(p);
	ck_assert_int_eq(install_live_kind(tmpdir, "example.com", &cur, why, sizeof(why)),
	    INSTALL_LIVE_FOREIGN);
	ck_assert_msg(strstr(why, "lacks some of") != NULL, "%s", why);
	/* A dangling link (its archive file is gone). */
	ck_assert_int_eq(symlink("../../archive/example.com/privkey7.pem", p), 0);
	ck_assert_int_eq(install_live_kind(tmpdir, "example.com", &cur, why, sizeof(why)),
	    INSTALL_LIVE_FOREIGN);
	free(p);
	/* A symbolic link somewhere else. */
	p = xasprintf("%s/live/other", tmpdir);
	ck_assert_int_eq(symlink("/etc", p), 0);
	ck_assert_int_eq(install_live_kind(tmpdir, "other", &cur, why, sizeof(why)),
	    INSTALL_LIVE_FOREIGN);
	ck_assert_int_eq(install_live_kind(tmpdir, "absent", &cur, why, sizeof(why)),
	    INSTALL_LIVE_ABSENT);
	ck_assert_str_eq(install_live_kind_name(INSTALL_LIVE_CERTBOT), "certbot");
	free(p);
	free(live);
}
END_TEST

/*
 * The one-time conversion never leaves live/NAME/fullchain.pem missing: a
 * reader opening it by path in a loop (as a web server reloading does)
 * while certbot lineages are converted again and again never fails.
 * Each round puts a certbot directory back in place with an exchange of
 * its own (the reader must not see a gap there either), then installs.
 */
START_TEST(test_certbot_conversion_atomic)
{
	struct install_opts o = opts_make();
	char *path = xasprintf("%s/live/example.com/fullchain.pem", tmpdir);
	char *live = xasprintf("%s/live/example.com", tmpdir);
	char *stage = xasprintf("%s/live/.example.com.stage", tmpdir);
	char err[512];
	int fds[2], v, rounds = 60;
	long misses = -1, reads = 0;
	pid_t pid;

	certbot_lineage("example.com", 1);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		long n[2] = { 0, 0 };

		close(fds[0]);
		/* Until the parent creates the stop directory. */
		while (access(stage, F_OK) != 0) {
			int fd = open(path, O_RDONLY);
			if (fd < 0)
				n[0]++;
			else
				close(fd);
			n[1]++;
		}
		ck_assert_int_eq(write(fds[1], n, sizeof(n)), (ssize_t)sizeof(n));
		_exit(0);
	}
	close(fds[1]);
	for (int r = 0; r < rounds; r++) {
		ck_assert_msg(install(&o, 2 + 2 * r, &v, err, sizeof(err)) == 0, "%s", err);
		/* Back to a certbot directory of links to the version just
		 * written, swapped in atomically. */
		char *d = xasprintf("%s.cb", stage);
		ck_assert_int_eq(mkdir(d, 0755), 0);
		for (int i = 0; i < 4; i++) {
			char *t = xasprintf("../../archive/example.com/%s%d.pem", files[i], v);
			char *l = xasprintf("%s/%s.pem", d, files[i]);
			ck_assert_int_eq(symlink(t, l), 0);
			free(t);
			free(l);
		}
		ck_assert_int_eq(renameat2(AT_FDCWD, d, AT_FDCWD, live, RENAME_EXCHANGE), 0);
		ck_assert_int_eq(unlink(d), 0);
		free(d);
	}
	/* The stop signal for the reader. */
	ck_assert_int_eq(mkdir(stage, 0755), 0);
	{
		long n[2];
		ck_assert_int_eq(read(fds[0], n, sizeof(n)), (ssize_t)sizeof(n));
		misses = n[0];
		reads = n[1];
	}
	waitpid(pid, NULL, 0);
	close(fds[0]);
	rmdir(stage);
	ck_assert_msg(reads > 0, "the reader never ran");
	ck_assert_msg(misses == 0, "%ld of %ld opens of %s failed during the conversions",
	    misses, reads, path);
	free(path);
	free(live);
	free(stage);
}
END_TEST

/* ---- combined.pem ---- */

/* live/NAME/combined.pem holds version v's key then its full chain. */
static void
assert_combined_is(const char *name, int v)
{
	char want[128];
	size_t len = 0;
	char *data = install_read_live(tmpdir, name, "combined.pem", &len);

	snprintf(want, sizeof(want), "privkey of version %d\nfullchain of version %d\n", v, v);
	ck_assert_msg(data != NULL, "live/%s/combined.pem unreadable", name);
	ck_assert_str_eq(data, want);
	ck_assert_uint_eq(len, strlen(want));
	free(data);
}

START_TEST(test_combined)
{
	struct install_opts o = opts_make();
	struct material mt;
	char err[512], buf[64];
	char *p, *q;
	ssize_t n;
	int v;

	umask(077);
	/* Without it, no fifth file. */
	ck_assert_msg(install(&o, 1, &v, err, sizeof(err)) == 0, "%s", err);
	p = xasprintf("%s/live/example.com/combined.pem", tmpdir);
	ck_assert_int_eq(access(p, F_OK), -1);
	/* A lineage without it gets it with its next version, mode 0600
	 * like the key, a real file in the archive linked from .live2. */
	o.combined = true;
	ck_assert_msg(install(&o, 2, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(v, 2);
	assert_live_is("example.com", 2);
	assert_combined_is("example.com", 2);
	ck_assert_uint_eq(mode_of(p), 0600);
	q = xasprintf("%s/archive/example.com/.live2/combined.pem", tmpdir);
	n = readlink(q, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "../combined2.pem");
	free(q);
	q = xasprintf("%s/archive/example.com/combined2.pem", tmpdir);
	{
		struct stat st;
		ck_assert_int_eq(lstat(q, &st), 0);
		ck_assert(S_ISREG(st.st_mode));
	}
	free(q);

	/* With a group: 0640 and the key's owner and group, whatever the
	 * public files' mode. */
	o.group = getgid();
	o.owner = getuid();
	o.mode = 0644;
	ck_assert_msg(install(&o, 3, &v, err, sizeof(err)) == 0, "%s", err);
	assert_combined_is("example.com", 3);
	{
		struct stat st;
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_uint_eq(st.st_mode & 07777, 0640);
		ck_assert_uint_eq(st.st_uid, getuid());
		ck_assert_uint_eq(st.st_gid, getgid());
	}

	/* A key without its final newline still makes two PEM blocks. */
	material_make(&mt, 4);
	mt.m.key_len--;
	ck_assert_msg(install_lineage(&o, &mt.m, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(v, 4);
	assert_combined_is("example.com", 4);

	/* combinedN.pem counts for the numbering like the other four: a
	 * stray one is never overwritten. */
	q = xasprintf("%s/archive/example.com/combined9.pem", tmpdir);
	write_text(q, "stray\n");
	ck_assert_msg(install(&o, 10, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(v, 10);
	assert_combined_is("example.com", 10);
	free(q);

	/* Turned off again: the next version has none; older ones stay. */
	o.combined = false;
	ck_assert_msg(install(&o, 11, &v, err, sizeof(err)) == 0, "%s", err);
	assert_live_is("example.com", 11);
	ck_assert_int_eq(access(p, F_OK), -1);
	q = xasprintf("%s/archive/example.com/combined10.pem", tmpdir);
	ck_assert_int_eq(access(q, F_OK), 0);
	free(q);

	if (geteuid() == 0) {
		/* Root installs for a service user: owner and group applied. */
		struct stat st;
		o.combined = true;
		o.owner = 4242;
		o.group = 4343;
		ck_assert_msg(install(&o, 12, &v, err, sizeof(err)) == 0, "%s", err);
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_uint_eq(st.st_uid, 4242);
		ck_assert_uint_eq(st.st_gid, 4343);
		ck_assert_uint_eq(st.st_mode & 07777, 0640);
		assert_combined_is("example.com", 12);
	}
	free(p);
}
END_TEST

/* A certbot lineage taken over with combined: true has it at once. */
START_TEST(test_combined_certbot_adopted)
{
	struct install_opts o = opts_make();
	char err[512], why[256];
	int v, cur;

	certbot_lineage("example.com", 2);
	o.combined = true;
	ck_assert_msg(install(&o, 3, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(v, 3);
	ck_assert_int_eq(install_live_kind(tmpdir, "example.com", &cur, why, sizeof(why)),
	    INSTALL_LIVE_CERTFLEET);
	assert_live_is("example.com", 3);
	assert_combined_is("example.com", 3);
}
END_TEST

/* Reads the five files of one live version through one directory
 * descriptor, as a server that opens live/NAME once would: 0 when all are
 * of the same version (and combined is that version's key + fullchain),
 * 1 when mixed, -1 when the directory could not be opened. */
static int
live_snapshot_mixed(const char *live)
{
	int dfd = open(live, O_RDONLY | O_DIRECTORY), v = -1, rc = 0;
	char buf[160];

	if (dfd < 0)
		return -1;
	for (int i = 0; i < 5 && rc == 0; i++) {
		static const char *const names[] = { "cert.pem", "chain.pem", "fullchain.pem",
			"privkey.pem", "combined.pem" };
		int fd = openat(dfd, names[i], O_RDONLY), k = -1, k2 = -1;
		ssize_t n;

		if (fd < 0) {
			rc = 1;
			break;
		}
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		if (i < 4) {
			const char *sp = strstr(buf, "of version ");
			k = sp ? atoi(sp + 11) : -1;
		} else if (sscanf(buf, "privkey of version %d\nfullchain of version %d\n", &k,
		    &k2) != 2 || k != k2) {
			k = -1;
		}
		if (k < 0 || (v >= 0 && k != v))
			rc = 1;
		v = k;
	}
	close(dfd);
	return rc;
}

START_TEST(test_combined_switch_consistent)
{
	struct install_opts o = opts_make();
	char *live = xasprintf("%s/live/example.com", tmpdir);
	char *stop = xasprintf("%s/stop", tmpdir);
	char err[512];
	int fds[2], v, rounds = 30;
	long n[3] = { 0, 0, 0 };
	pid_t pid;

	o.combined = true;
	ck_assert_msg(install(&o, 1, &v, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		long c[3] = { 0, 0, 0 }; /* mixed, unopenable, reads */

		close(fds[0]);
		while (access(stop, F_OK) != 0) {
			int r = live_snapshot_mixed(live);
			if (r > 0)
				c[0]++;
			else if (r < 0)
				c[1]++;
			c[2]++;
		}
		ck_assert_int_eq(write(fds[1], c, sizeof(c)), (ssize_t)sizeof(c));
		_exit(0);
	}
	close(fds[1]);
	for (int r = 2; r < 2 + rounds; r++)
		ck_assert_msg(install(&o, r, &v, err, sizeof(err)) == 0, "%s", err);
	write_text(stop, "stop\n");
	ck_assert_int_eq(read(fds[0], n, sizeof(n)), (ssize_t)sizeof(n));
	waitpid(pid, NULL, 0);
	close(fds[0]);
	ck_assert_msg(n[2] > 0, "the reader never ran");
	ck_assert_msg(n[0] == 0 && n[1] == 0, "%ld mixed and %ld missing of %ld snapshots",
	    n[0], n[1], n[2]);
	assert_live_is("example.com", 1 + rounds);
	assert_combined_is("example.com", 1 + rounds);
	free(live);
	free(stop);
}
END_TEST

static Suite *
install_suite(void)
{
	Suite *s = suite_create("install");
	TCase *tc = tcase_create("lineage");

	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_modes);
	tcase_add_test(tc, test_chain_absent);
	tcase_add_test(tc, test_failure_keeps_live);
	tcase_add_test(tc, test_stray_version_skipped);
	tcase_add_test(tc, test_refuses_real_directory);
	tcase_add_test(tc, test_check_live);
	tcase_add_test(tc, test_live_paths);
	tcase_add_test(tc, test_sweep_temps);
	tcase_add_test(tc, test_certbot_adopted);
	tcase_add_test(tc, test_certbot_crash_after_exchange);
	tcase_add_test(tc, test_certbot_not_quite);
	tcase_add_test(tc, test_certbot_conversion_atomic);
	tcase_add_test(tc, test_combined);
	tcase_add_test(tc, test_combined_certbot_adopted);
	tcase_add_test(tc, test_combined_switch_consistent);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(install_suite)
