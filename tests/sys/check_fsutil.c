/*
 * check_fsutil.c - unit tests for fsutil.c: atomic file writes (modes and
 * owners from the first byte, replacement by rename, AW_NO_REPLACE, no
 * temporary left behind on failure), batches of new files, mkdir_p, fsync_dir, the names of the
 * temporaries and their sweep.  Each test works in its own mkdtemp()
 * directory under /tmp, removed by the teardown (testdir.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "testdir.h"
#include "testutil.h"
#include "util.h"

/* ---- atomic_write_file ---- */

static const mode_t umasks[] = {022, 000};

START_TEST(test_atomic_modes)
{
	static const mode_t modes[] = {0600, 0644, 0640};
	char err[512] = "";

	umask(umasks[_i]);
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		char *p = tp("f%zu", i);
		ck_assert_msg(atomic_write_file(p, "data", 4, modes[i], (uid_t)-1, (gid_t)-1,
		    err, sizeof(err)) == 0, "%s", err);
		ck_assert_msg(mode_of(p) == modes[i], "umask %03o mode %03o: got %03o",
		    (unsigned)umasks[_i], (unsigned)modes[i], (unsigned)mode_of(p));
		ck_assert_str_eq(slurp(p), "data");
		/* Rewriting with another mode takes the new one. */
		ck_assert_int_eq(atomic_write_file(p, "x", 1, 0600, (uid_t)-1, (gid_t)-1,
		    err, sizeof(err)), 0);
		ck_assert_uint_eq(mode_of(p), 0600);
	}
}
END_TEST

START_TEST(test_atomic_replaces)
{
	char err[512] = "", old[16] = "";
	char *p = tp("file");
	int fd;

	spew(p, "old contents");
	fd = open(p, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(atomic_write_file(p, "new", 3, 0644, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(slurp(p), "new");
	/* Replaced by rename, not rewritten in place: a reader that had the
	 * old file open still sees all of the old contents. */
	ck_assert_int_eq(read(fd, old, sizeof(old) - 1), 12);
	ck_assert_str_eq(old, "old contents");
	close(fd);
	ck_assert_int_eq(atomic_write_file(p, "", 0, 0644, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(slurp(p), "");
	ck_assert_int_eq(count_prefixed(tmpdir, ".file.tmp."), 0);
}
END_TEST

/* AW_NO_REPLACE (import-certbot --write): a new file is written with its
 * mode; an existing one is left exactly as it was, with no temporary file
 * behind. */
START_TEST(test_atomic_no_replace)
{
	char err[512] = "";
	char *p = tp("inventory.yaml");

	ck_assert_msg(atomic_write_file_ex(p, "first", 5, 0600, (uid_t)-1, (gid_t)-1,
	    AW_NO_REPLACE, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(slurp(p), "first");
	ck_assert_uint_eq(mode_of(p), 0600);
	ck_assert_int_eq(atomic_write_file_ex(p, "second", 6, 0600, (uid_t)-1, (gid_t)-1,
	    AW_NO_REPLACE, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "inventory.yaml exists; not overwritten") != NULL, "%s", err);
	ck_assert_str_eq(slurp(p), "first");
	ck_assert_int_eq(count_prefixed(tmpdir, ".inventory.yaml.tmp."), 0);
}
END_TEST

START_TEST(test_atomic_failures)
{
	char err[512] = "";
	char *dir = tp("dir"), *orphan = tp("missing/file");
	struct stat st;

	/* The target is a directory: rename() fails after the temporary
	 * file was written, and the temporary must go. */
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	ck_assert_int_eq(atomic_write_file(dir, "x", 1, 0600, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, dir) != NULL, "message does not name %s: %s", dir, err);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	/* The parent is missing: nothing is created. */
	err[0] = '\0';
	ck_assert_int_eq(atomic_write_file(orphan, "x", 1, 0600, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)), -1);
	ck_assert_msg(strstr(err, orphan) != NULL, "message does not name %s: %s", orphan,
	    err);
	ck_assert_int_eq(access(tp("missing"), F_OK), -1);
	ck_assert_int_eq(count_prefixed(tmpdir, "."), 2); /* "." and ".." only */
}
END_TEST

START_TEST(test_atomic_ownership)
{
	char err[512] = "";
	char *p = tp("owned");
	struct stat st;

	ck_assert_int_eq(atomic_write_file(p, "a", 1, 0644, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, geteuid());
	ck_assert_uint_eq(st.st_gid, getegid());
	ck_assert_msg(atomic_write_file(p, "b", 1, 0644, getuid(), getgid(), err,
	    sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, getuid());
	ck_assert_uint_eq(st.st_gid, getgid());
	ck_assert_uint_eq(st.st_mode & 07777, 0644);
	if (geteuid() != 0)
		return;
	/* Only root can give files away: owner and group apply independently. */
	ck_assert_int_eq(atomic_write_file(p, "c", 1, 0640, 4242, (gid_t)-1, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, 4242);
	ck_assert_uint_eq(st.st_gid, getegid());
	ck_assert_int_eq(atomic_write_file(p, "d", 1, 0640, (uid_t)-1, 4343, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, geteuid());
	ck_assert_uint_eq(st.st_gid, 4343);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
}
END_TEST

/* ---- aw_batch ---- */

START_TEST(test_batch_commit)
{
	struct aw_batch b;
	char err[512] = "";

	umask(022);
	aw_batch_init(&b);
	ck_assert_msg(aw_batch_write(&b, tp("a.pem"), "aaa", 3, 0644, (uid_t)-1, (gid_t)-1,
	    err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(aw_batch_write(&b, tp("k.pem"), "key", 3, 0600, (uid_t)-1, (gid_t)-1,
	    err, sizeof(err)) == 0, "%s", err);
	/* Before the commit only temporaries exist, already with their modes. */
	ck_assert_int_eq(access(tp("a.pem"), F_OK), -1);
	ck_assert_int_eq(access(tp("k.pem"), F_OK), -1);
	ck_assert_int_eq(access(b.f[1].tmp, F_OK), 0);
	ck_assert_uint_eq(mode_of(b.f[1].tmp), 0600);
	ck_assert_msg(aw_batch_commit(&b, err, sizeof(err)) == 0, "%s", err);
	aw_batch_free(&b);
	ck_assert_str_eq(slurp(tp("a.pem")), "aaa");
	ck_assert_str_eq(slurp(tp("k.pem")), "key");
	ck_assert_uint_eq(mode_of(tp("a.pem")), 0644);
	ck_assert_uint_eq(mode_of(tp("k.pem")), 0600);
	ck_assert_uint_eq(sweep_atomic_temps(tp(".")), 0);
}
END_TEST

START_TEST(test_batch_abandoned)
{
	struct aw_batch b;
	char err[512] = "";

	aw_batch_init(&b);
	ck_assert_int_eq(aw_batch_write(&b, tp("a.pem"), "aaa", 3, 0644, (uid_t)-1, (gid_t)-1,
	    err, sizeof(err)), 0);
	/* A failed write in the middle leaves nothing of its own. */
	ck_assert_int_eq(aw_batch_write(&b, tp("missing/b.pem"), "b", 1, 0644, (uid_t)-1,
	    (gid_t)-1, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "missing"));
	ck_assert_uint_eq(b.n, 1);
	/* Freed without a commit: no file, no temporary. */
	aw_batch_free(&b);
	ck_assert_int_eq(access(tp("a.pem"), F_OK), -1);
	ck_assert_uint_eq(sweep_atomic_temps(tp(".")), 0);
}
END_TEST

/* ---- mkdir_p ---- */

START_TEST(test_mkdir_p_nested)
{
	char *p = tp("a/b/c");

	umask(0);
	ck_assert_int_eq(mkdir_p(p, 0750), 0);
	ck_assert_uint_eq(mode_of(tp("a")), 0750);
	ck_assert_uint_eq(mode_of(tp("a/b")), 0750);
	ck_assert_uint_eq(mode_of(p), 0750);
	/* Existing components are fine, and keep their mode. */
	ck_assert_int_eq(chmod(tp("a/b"), 0700), 0);
	ck_assert_int_eq(mkdir_p(p, 0755), 0);
	ck_assert_uint_eq(mode_of(tp("a/b")), 0700);
	ck_assert_int_eq(mkdir_p(tp("x/y/"), 0700), 0);
	ck_assert_uint_eq(mode_of(tp("x/y")), 0700);
}
END_TEST

START_TEST(test_mkdir_p_file_in_the_way)
{
	spew(tp("file"), "x");
	errno = 0;
	ck_assert_int_eq(mkdir_p(tp("file/sub/dir"), 0700), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	errno = 0;
	ck_assert_int_eq(mkdir_p(tp("file"), 0700), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	ck_assert_int_eq(mkdir_p("", 0700), -1);
}
END_TEST
/* ---- fsync_dir ---- */

START_TEST(test_fsync_dir)
{
	ck_assert_int_eq(fsync_dir(tmpdir), 0);
	errno = 0;
	ck_assert_int_eq(fsync_dir(tp("missing")), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* O_DIRECTORY: a file is not synced as if it were its directory. */
	spew(tp("file"), "x");
	errno = 0;
	ck_assert_int_eq(fsync_dir(tp("file")), -1);
	ck_assert_int_eq(errno, ENOTDIR);
}
END_TEST

/* ---- temporaries left by a crash ---- */

START_TEST(test_temp_names)
{
	static const char *const ours[] = { ".state.json.tmp.0123456789ab",
		".key.pem.tmp.ffffffffffff", ".x.tmp.000000000000", ".a.tmp.b.tmp.abcdefabcdef" };
	static const char *const not_ours[] = { "state.json.tmp.0123456789ab",
		".state.json.tmp.0123456789AB", ".state.json.tmp.0123456789a",
		".state.json.tmp.0123456789abc", ".tmp.0123456789ab", "..tmp.0123456789ab",
		".state.json.tmp-0123456789ab", ".state.json.tmp.0123456789ag", ".example.com.tmp",
		".state.json", "", "." };

	for (size_t i = 0; i < ARRAY_SIZE(ours); i++)
		ck_assert_msg(atomic_temp_name(ours[i]), "%s", ours[i]);
	for (size_t i = 0; i < ARRAY_SIZE(not_ours); i++)
		ck_assert_msg(!atomic_temp_name(not_ours[i]), "%s", not_ours[i]);
}
END_TEST

/* One directory, not below it; only regular files named like ours. */
START_TEST(test_sweep_one_dir)
{
	static const char *const decoys[] = { "state.json.tmp.0123456789ab",
		".state.json.tmp.0123456789AB", ".state.json.tmp.012345", ".notes",
		"state.json" };

	spew(tp(".state.json.tmp.0123456789ab"), "half");
	spew(tp(".key.pem.tmp.a1b2c3d4e5f6"), "half");
	for (size_t i = 0; i < ARRAY_SIZE(decoys); i++)
		spew(tp("%s", decoys[i]), "keep");
	ck_assert_int_eq(mkdir(tp("sub"), 0700), 0);
	spew(tp("sub/.state.json.tmp.0123456789ab"), "below");
	ck_assert_int_eq(mkdir(tp(".d.tmp.0123456789ab"), 0700), 0);
	ck_assert_int_eq(symlink("state.json", tp(".l.tmp.0123456789ab")), 0);

	ck_assert_uint_eq(sweep_atomic_temps(tmpdir), 2);
	ck_assert_int_eq(access(tp(".state.json.tmp.0123456789ab"), F_OK), -1);
	ck_assert_int_eq(access(tp(".key.pem.tmp.a1b2c3d4e5f6"), F_OK), -1);
	for (size_t i = 0; i < ARRAY_SIZE(decoys); i++)
		ck_assert_str_eq(slurp(tp("%s", decoys[i])), "keep");
	ck_assert_str_eq(slurp(tp("sub/.state.json.tmp.0123456789ab")), "below");
	ck_assert_int_eq(access(tp(".d.tmp.0123456789ab"), F_OK), 0);
	ck_assert_int_eq(access(tp(".l.tmp.0123456789ab"), F_OK), 0);
	ck_assert_uint_eq(sweep_atomic_temps(tmpdir), 0);
	/* A directory that is not there has nothing to sweep. */
	ck_assert_uint_eq(sweep_atomic_temps(tp("missing")), 0);
}
END_TEST

static Suite *
fsutil_suite(void)
{
	Suite *s = suite_create("fsutil");
	TCase *tc;

	tc = tcase_create("atomic");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_atomic_modes, 0, (int)ARRAY_SIZE(umasks));
	tcase_add_test(tc, test_atomic_replaces);
	tcase_add_test(tc, test_atomic_no_replace);
	tcase_add_test(tc, test_atomic_failures);
	tcase_add_test(tc, test_atomic_ownership);
	tcase_add_test(tc, test_batch_commit);
	tcase_add_test(tc, test_batch_abandoned);
	suite_add_tcase(s, tc);

	tc = tcase_create("dirs");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_mkdir_p_nested);
	tcase_add_test(tc, test_mkdir_p_file_in_the_way);
	tcase_add_test(tc, test_fsync_dir);
	suite_add_tcase(s, tc);

	tc = tcase_create("sweep");
	tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_temp_names);
	tcase_add_test(tc, test_sweep_one_dir);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(fsutil_suite)
