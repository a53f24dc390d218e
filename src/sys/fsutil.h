/*
 * fsutil.h - durable file writes (fsutil.c): atomic replacement of a file
 * with its mode and owner set before the first byte, directory fsync,
 * mkdir -p, and the sweep of temporaries a crash left.  Knows nothing of
 * the state directory; the store, the installer, the responders, the
 * control socket and certfleetctl all build on it.
 */
#ifndef CERTFLEET_FSUTIL_H
#define CERTFLEET_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Atomically replaces path with data.  The file is created with mode (umask
 * is cleared for the creation, so a key is 0600 from its first byte) and,
 * when owner/group are not -1, chowned before any data is written.
 * 0 ok, -1 with a message in err.
 */
int atomic_write_file(const char *path, const void *data, size_t len, mode_t mode,
    uid_t owner, gid_t group, char *err, size_t errlen);
/* The same with flags: AW_NO_DIRSYNC leaves the directory fsync to the
 * caller (who writes several files there and syncs it once);
 * AW_NO_FSYNC skips both (files that need no durability, such as http-01
 * tokens: still never seen half-written). */
#define AW_NO_DIRSYNC 0x1u
#define AW_NO_FSYNC   0x2u
/* AW_NO_REPLACE: fail with EEXIST ("... exists; not overwritten") when path
 * exists (link(2) instead of rename(2), so still all or nothing). */
#define AW_NO_REPLACE 0x4u
int atomic_write_file_ex(const char *path, const void *data, size_t len, mode_t mode,
    uid_t owner, gid_t group, unsigned flags, char *err, size_t errlen);
/*
 * Several new files in one directory, made durable together: each
 * aw_batch_write() writes a temporary (mode and owner set first, as
 * above) and keeps it open; aw_batch_commit() fsyncs every temporary, then
 * renames each to its name.  The directory is left to the caller, who
 * syncs it once.  aw_batch_free() (always, after commit too) closes what
 * is open and removes any temporary not renamed.  0 ok, -1 with err.
 */
#define AW_BATCH_MAX 8
struct aw_batch_file {
	char *path, *tmp;
	int fd;
};
struct aw_batch {
	size_t n;
	struct aw_batch_file f[AW_BATCH_MAX];
};
void aw_batch_init(struct aw_batch *b);
int aw_batch_write(struct aw_batch *b, const char *path, const void *data, size_t len,
    mode_t mode, uid_t owner, gid_t group, char *err, size_t errlen);
int aw_batch_commit(struct aw_batch *b, char *err, size_t errlen);
void aw_batch_free(struct aw_batch *b);
/* True for the names atomic_write_file_ex() gives its temporary files
 * (".BASE.tmp." and 12 hex digits). */
bool atomic_temp_name(const char *name);
/* Removes the regular files in dir (not below) named like those
 * temporaries: writes a crash interrupted.  Returns how many; each is
 * logged at debug.  Only the owner of dir's writers may call it. */
unsigned sweep_atomic_temps(const char *dir);
/* fsync() of a directory. 0 ok. */
int fsync_dir(const char *dir);
/* mkdir -p with mode for each created component, each one's entry synced
 * in its parent. 0 ok. */
int mkdir_p(const char *path, mode_t mode);

#endif
