/*
 * testdir.h - a fresh directory per test for the Check tests that work on
 * files (check_store.c, check_fsutil.c): base_setup()/base_teardown() as
 * the unchecked fixture make /tmp/PROGRAM.XXXXXX, setup()/teardown() as
 * the checked one a t.XXXXXX inside it (tmpdir), and small helpers to
 * name, read, write and inspect files there.  Each includer gets its own
 * copy (everything is static).
 */
#ifndef CERTFLEET_TESTDIR_H
#define CERTFLEET_TESTDIR_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

/* basedir is made and removed by the parent (unchecked fixture): a test
 * that fails ends its forked process without the checked teardown, and
 * its tmpdir inside basedir must still go. */
static char basedir[64], tmpdir[96];
/* Strings made by tp(), freed by the teardown: keeps tests short. */
static char *owned[64];
static size_t nowned;

static void
base_setup(void)
{
	snprintf(basedir, sizeof(basedir), "/tmp/%s.XXXXXX", program_invocation_short_name);
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
	while (nowned > 0)
		free(owned[--nowned]);
}

static void
base_teardown(void)
{
	nftw(basedir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
own(char *p)
{
	ck_assert_uint_lt(nowned, ARRAY_SIZE(owned));
	owned[nowned++] = p;
	return p;
}

/* TMPDIR/fmt...; freed by the teardown. */
static char *tp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *
tp(const char *fmt, ...)
{
	va_list ap;
	char *rel;

	va_start(ap, fmt);
	rel = own(xvasprintf(fmt, ap));
	va_end(ap);
	return own(xasprintf("%s/%s", tmpdir, rel));
}

#define ck_assert_time_eq(a, b) ck_assert_int_eq((long long)(a), (long long)(b))

static mode_t
mode_of(const char *path)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

static char *
slurp(const char *path)
{
	char *data = NULL;
	size_t len;

	ck_assert_msg(read_file(path, &data, &len, 1 << 20) == 0, "read %s: %s", path,
	    strerror(errno));
	return own(data);
}

static void
spew(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "fopen %s: %s", path, strerror(errno));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Entries of dir whose name starts with prefix (e.g. ".f.tmp."). */
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

#endif
