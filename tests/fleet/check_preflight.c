/*
 * check_preflight.c - unit tests for preflight.c: hook programs as execvp
 * would find them, and the checks on a certificate's output directory and
 * live/NAME made before an order.  Runs in a mkdtemp() directory.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsutil.h"
#include "preflight.h"
#include "testutil.h"
#include "util.h"

static char tmpdir[64];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_preflight.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* TMPDIR/rel in one of a few static buffers: short-lived paths, no frees. */
static const char *
tq(const char *rel)
{
	static char bufs[8][256];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, rel);
	return b;
}

static char *
tp(const char *rel)
{
	return xasprintf("%s/%s", tmpdir, rel);
}

static void
touch(const char *path, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fputs("#!/bin/sh\nexit 0\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

#define ck_assert_err_has(err, s) ck_assert_msg(strstr(err, s) != NULL, "'%s' not in '%s'", s, err)

START_TEST(test_program)
{
	char err[512], *hook = tp("hook"), *plain = tp("plain");

	touch(hook, 0755);
	touch(plain, 0644);
	ck_assert_msg(preflight_program(hook, "deploy hook", err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(preflight_program("sh", "post hook", err, sizeof(err)), 0);

	ck_assert_int_eq(preflight_program(tmpdir, "deploy hook", err, sizeof(err)), -1);
	ck_assert_err_has(err, "a directory, not a program");
	ck_assert_int_eq(preflight_program("/nonexistent/hook", "deploy hook", err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "deploy hook /nonexistent/hook: No such file or directory");
	ck_assert_int_eq(preflight_program("certfleet-no-such-program", "post hook", err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, "post hook certfleet-no-such-program: no executable of that name "
	    "in PATH");
	ck_assert_int_eq(preflight_program("", "deploy hook", err, sizeof(err)), -1);
	/* Root may run nothing without an x bit either. */
	ck_assert_int_eq(preflight_program(plain, "deploy hook", err, sizeof(err)), -1);
	ck_assert_err_has(err, "not executable");
	/* A bare name is looked up in $PATH as execvp() does. */
	setenv("PATH", tmpdir, 1);
	ck_assert_int_eq(preflight_program("hook", "deploy hook", err, sizeof(err)), 0);
	ck_assert_int_eq(preflight_program("plain", "deploy hook", err, sizeof(err)), -1);
	free(hook);
	free(plain);
}
END_TEST

START_TEST(test_cert)
{
	struct config cfg = {0};
	struct config_cert c = {0};
	char err[512], *out = tp("out"), *state = tp("state/deeper"), *hook = tp("hook");
	char *live = tp("out/live/web"), *file = tp("file");

	cfg.state_dir = state;
	c.name = "web";
	c.output_dir = out;
	c.owner = (uid_t)-1;
	c.group = (gid_t)-1;
	touch(hook, 0755);
	strlist_add(&c.deploy_hook, hook);

	/* Nothing exists yet: created where the parents are writable. */
	ck_assert_msg(preflight_cert(&cfg, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(access(out, F_OK), -1);
	ck_assert_int_eq(access(tq("state"), F_OK), -1);

	/* A foreign live/NAME (certbot's directory of links). */
	ck_assert_int_eq(mkdir_p(live, 0755), 0);
	ck_assert_int_eq(preflight_cert(&cfg, &c, err, sizeof(err)), -1);
	ck_assert_err_has(err, live);
	ck_assert_err_has(err, "not a symbolic link made by certfleet");
	ck_assert_int_eq(rmdir(live), 0);

	/* A file where archive/NAME must go, or where output_dir must be. */
	ck_assert_int_eq(mkdir_p(tq("out/archive"), 0755), 0);
	touch(tq("out/archive/web"), 0644);
	ck_assert_int_eq(preflight_cert(&cfg, &c, err, sizeof(err)), -1);
	ck_assert_err_has(err, "out/archive/web is not a directory");
	touch(file, 0644);
	c.output_dir = file;
	ck_assert_int_eq(preflight_cert(&cfg, &c, err, sizeof(err)), -1);
	ck_assert_err_has(err, "is not a directory");
	c.output_dir = out;
	unlink(tq("out/archive/web"));

	/* The deploy hook and the post hook. */
	ck_assert_int_eq(chmod(hook, 0644), 0);
	ck_assert_int_eq(preflight_cert(&cfg, &c, err, sizeof(err)), -1);
	ck_assert_err_has(err, "deploy hook");
	ck_assert_int_eq(chmod(hook, 0755), 0);
	strlist_add(&cfg.post_hook, "/nonexistent/reload");
	ck_assert_int_eq(preflight_cert(&cfg, &c, err, sizeof(err)), -1);
	ck_assert_err_has(err, "post hook /nonexistent/reload");
	strlist_free(&cfg.post_hook);

	/* A state_dir that cannot be statted at all. */
	cfg.state_dir = xasprintf("%s/sub", file);
	ck_assert_int_eq(preflight_cert(&cfg, &c, err, sizeof(err)), -1);
	ck_assert_err_has(err, "state directory");
	free(cfg.state_dir);
	cfg.state_dir = state;
	ck_assert_msg(preflight_cert(&cfg, &c, err, sizeof(err)) == 0, "%s", err);

	strlist_free(&c.deploy_hook);
	free(out);
	free(state);
	free(hook);
	free(live);
	free(file);
}
END_TEST

static Suite *
preflight_suite(void)
{
	Suite *s = suite_create("preflight");
	TCase *tc = tcase_create("preflight");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_program);
	tcase_add_test(tc, test_cert);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(preflight_suite)
