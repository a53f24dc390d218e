/*
 * fsutil.c - durable file writes: atomic replacement of a file, the
 * directory fsync it rests on, mkdir -p, and the sweep of the temporaries
 * a crash leaves behind.
 *
 * Every write is "temp file in the same directory, fsync, rename, fsync
 * the directory": after a crash a reader finds the old file or the new
 * one, never a mix.  Files are created with their final mode (and owner)
 * before a byte is written, so a private key is never readable by others,
 * not even for a moment.  The store, the installer, the http-01 responder,
 * the control socket and certfleetctl all write through here; this file
 * knows nothing of any of them.
 */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* After a mkdir of path: its entry in the parent made durable, or a
 * crash could take away the directory with every file synced inside it.
 * Best effort: a parent the caller may not open (read permission) is left
 * as it is. */
static void
sync_parent(const char *path)
{
	char *parent = xstrdup(path), *slash;

	while ((slash = strrchr(parent, '/')) != NULL && slash > parent && slash[1] == '\0')
		*slash = '\0';
	if (slash == NULL)
		(void)fsync_dir(".");
	else {
		slash[slash == parent ? 1 : 0] = '\0';
		(void)fsync_dir(parent);
	}
	free(parent);
}

/*
 * mkdir -p that creates only what is missing: the common cases are "it
 * is there" (one stat) and "only the last component is new" (one stat,
 * one mkdir and the parent's fsync), so it starts at the leaf and walks
 * up only on ENOENT, instead of trying every component from the root
 * (each an EEXIST).  Each directory it creates is made durable in its
 * parent before it returns.
 */
int
mkdir_p(const char *path, mode_t mode)
{
	char *parent = NULL, *slash;
	struct stat st;
	int rc = -1;

	if (path == NULL || *path == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	if (mkdir(path, mode) == 0) {
		sync_parent(path);
		return 0;
	}
	if (errno == EEXIST)
		goto check;
	if (errno != ENOENT)
		return -1;
	/* A parent is missing too: make it, then this one. */
	parent = xstrdup(path);
	slash = strrchr(parent, '/');
	while (slash != NULL && slash > parent && slash[1] == '\0') {
		*slash = '\0';
		slash = strrchr(parent, '/');
	}
	if (slash == NULL || slash == parent) {
		errno = ENOENT;
		goto out;
	}
	*slash = '\0';
	if (mkdir_p(parent, mode) < 0)
		goto out;
	if (mkdir(path, mode) == 0) {
		sync_parent(path);
		rc = 0;
		goto out;
	}
	if (errno != EEXIST)
		goto out;
check:
	/* Someone else made it meanwhile, or a file is in the way (which
	 * must read as ENOTDIR, not EEXIST). */
	if (stat(path, &st) < 0)
		goto out;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		goto out;
	}
	rc = 0;
out:
	free(parent);
	return rc;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
atomic_write_file(const char *path, const void *data, size_t len, mode_t mode, uid_t owner,
    gid_t group, char *err, size_t errlen)
{
	return atomic_write_file_ex(path, data, len, mode, owner, group, 0, err, errlen);
}

/*
 * The first half of every atomic write: a fresh temporary beside path,
 * its mode and owner set while empty, then the data.  Not synced.  The
 * open descriptor in *fdp and the name in *tmpp (caller frees) on success;
 * on failure nothing is left behind.
 */
static int
temp_write(const char *path, const void *data, size_t len, mode_t mode, uid_t owner,
    gid_t group, int *fdp, char **tmpp, char *err, size_t errlen)
{
	char *dir = NULL, *tmp = NULL;
	const char *slash = strrchr(path, '/');
	unsigned char rnd[6];
	int fd = -1, rc = -1;

	dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	/* The kernel's generator, not libcrypto's: this layer sits below
	 * crypto/.  Up to 256 bytes it never returns short once seeded. */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		snprintf(err, errlen, "%s: no randomness for a temporary name", path);
		goto out;
	}
	tmp = xasprintf("%s/.%s.tmp.%02x%02x%02x%02x%02x%02x", dir, slash ? slash + 1 : path,
	    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	/* 0600 at creation whatever the umask; the final mode and owner are
	 * set on the empty file, before any data exists in it. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: cannot create %s: %s", path, tmp,
		    strerror(errno));
		goto out;
	}
	if ((owner != (uid_t)-1 || group != (gid_t)-1) && fchown(fd, owner, group) < 0) {
		snprintf(err, errlen, "cannot write %s: cannot chown %s: %s", path, tmp,
		    strerror(errno));
		goto out;
	}
	if (fchmod(fd, mode) < 0) {
		snprintf(err, errlen, "cannot write %s: cannot chmod %s: %s", path, tmp,
		    strerror(errno));
		goto out;
	}
	if (write_all(fd, data, len) < 0) {
		snprintf(err, errlen, "cannot write %s (via %s): %s", path, tmp, strerror(errno));
		goto out;
	}
	*fdp = fd;
	*tmpp = tmp;
	fd = -1;
	tmp = NULL;
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(tmp);
	free(dir);
	return rc;
}

int
atomic_write_file_ex(const char *path, const void *data, size_t len, mode_t mode,
    uid_t owner, gid_t group, unsigned flags, char *err, size_t errlen)
{
	char *dir = NULL, *tmp = NULL, *slash;
	int fd = -1, rc = -1;

	slash = strrchr(path, '/');
	dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	if (temp_write(path, data, len, mode, owner, group, &fd, &tmp, err, errlen) < 0)
		goto out_renamed;
	if (!(flags & AW_NO_FSYNC) && fsync(fd) < 0) {
		snprintf(err, errlen, "cannot write %s (via %s): %s", path, tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		snprintf(err, errlen, "cannot write %s (via %s): %s", path, tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (flags & AW_NO_REPLACE) {
		if (link(tmp, path) < 0) {
			if (errno == EEXIST)
				snprintf(err, errlen, "%s exists; not overwritten", path);
			else
				snprintf(err, errlen, "cannot link %s to %s: %s", tmp, path,
				    strerror(errno));
			goto out;
		}
		unlink(tmp);
	} else if (rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	if (!(flags & (AW_NO_FSYNC | AW_NO_DIRSYNC)) && fsync_dir(dir) < 0) {
		snprintf(err, errlen, "%s written but cannot sync directory %s: %s", path, dir,
		    strerror(errno));
		goto out_renamed;
	}
	rc = 0;
	goto out_renamed;
out:
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
out_renamed:
	free(tmp);
	free(dir);
	return rc;
}

/* ---- several files at once ---- */

void
aw_batch_init(struct aw_batch *b)
{
	memset(b, 0, sizeof(*b));
}

int
aw_batch_write(struct aw_batch *b, const char *path, const void *data, size_t len,
    mode_t mode, uid_t owner, gid_t group, char *err, size_t errlen)
{
	struct aw_batch_file *f;

	if (b->n >= AW_BATCH_MAX) {
		snprintf(err, errlen, "cannot write %s: more than %d files at once", path,
		    AW_BATCH_MAX);
		return -1;
	}
	f = &b->f[b->n];
	if (temp_write(path, data, len, mode, owner, group, &f->fd, &f->tmp, err, errlen) < 0)
		return -1;
	f->path = xstrdup(path);
	b->n++;
	return 0;
}

int
aw_batch_commit(struct aw_batch *b, char *err, size_t errlen)
{
	/* Every file's data first, while all are still temporaries: then
	 * no final name ever holds less than all of its bytes.  On ext4
	 * the first fsync of a new file also makes its directory entry
	 * durable (the journal commit, or without a journal the parent
	 * directory's blocks), which by now name every temporary: the
	 * fsyncs after it find that work done. */
	for (size_t i = 0; i < b->n; i++) {
		struct aw_batch_file *f = &b->f[i];

		if (fsync(f->fd) < 0 || close(f->fd) < 0) {
			snprintf(err, errlen, "cannot write %s (via %s): %s", f->path, f->tmp,
			    strerror(errno));
			f->fd = -1;
			return -1;
		}
		f->fd = -1;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct aw_batch_file *f = &b->f[i];

		if (rename(f->tmp, f->path) < 0) {
			snprintf(err, errlen, "cannot rename %s to %s: %s", f->tmp, f->path,
			    strerror(errno));
			return -1;
		}
		free(f->tmp);
		f->tmp = NULL;
	}
	return 0;
}

void
aw_batch_free(struct aw_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct aw_batch_file *f = &b->f[i];

		if (f->fd >= 0)
			close(f->fd);
		/* Still a temporary: not committed, or its rename failed. */
		if (f->tmp != NULL)
			unlink(f->tmp);
		free(f->tmp);
		free(f->path);
	}
	memset(b, 0, sizeof(*b));
}

/* ---- temporaries left by a crash ---- */

bool
atomic_temp_name(const char *name)
{
	size_t len = strlen(name);
	const char *suffix;

	/* ".BASE.tmp.XXXXXXXXXXXX", BASE not empty: exactly what
	 * atomic_write_file_ex() creates, and nothing an operator would. */
	if (name[0] != '.' || len < 1 + 1 + 5 + 12)
		return false;
	suffix = name + len - 12;
	if (strspn(suffix, "0123456789abcdef") != 12)
		return false;
	return strncmp(suffix - 5, ".tmp.", 5) == 0;
}

unsigned
sweep_atomic_temps(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		struct stat st;

		if (!atomic_temp_name(e->d_name))
			continue;
		/* Only files: we never create anything else under such a name. */
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			log_debug("removed %s/%s, left by an interrupted write", dir, e->d_name);
			n++;
		} else {
			log_warn("cannot remove %s/%s: %s", dir, e->d_name, strerror(errno));
		}
	}
	closedir(d);
	return n;
}
