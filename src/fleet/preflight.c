/*
 * preflight.c - the checks made before an order is sent (see preflight.h).
 *
 * Everything here is a stat(), access() or statvfs(): cheap enough to run
 * on the loop before each order, and without side effects, so a dry run
 * can use it as is.  access() answers for the real uid, which is the
 * daemon's (it is never setuid), and for root it still refuses writes to
 * a read-only mount or an immutable directory.
 */
#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "install.h"
#include "preflight.h"
#include "util.h"

int
preflight_program(const char *argv0, const char *what, char *err, size_t errlen)
{
	char defpath[256];
	const char *search = program_search_path(defpath, sizeof(defpath));

	if (argv0 == NULL || *argv0 == '\0') {
		snprintf(err, errlen, "%s: empty program name", what);
		return -1;
	}
	if (program_find(argv0, search) == 0)
		return 0;
	if (strchr(argv0, '/') != NULL && errno == EISDIR)
		snprintf(err, errlen, "%s %s: a directory, not a program", what, argv0);
	else if (strchr(argv0, '/') != NULL && errno == EACCES)
		snprintf(err, errlen, "%s %s: not executable", what, argv0);
	else if (strchr(argv0, '/') != NULL)
		snprintf(err, errlen, "%s %s: %s", what, argv0, strerror(errno));
	else if (errno == ENOENT)
		snprintf(err, errlen, "%s %s: no executable of that name in PATH (%s)", what,
		    argv0, search);
	else
		snprintf(err, errlen, "%s %s: in PATH but not executable: %s", what, argv0,
		    strerror(errno));
	return -1;
}

/* dir must be a directory we can create entries in; when it does not exist
 * yet, the same for the nearest ancestor that does (it is created there). */
static int
check_writable_dir(const char *dir, char *err, size_t errlen)
{
	char *p = xstrdup(dir), *slash;
	struct stat st;
	int rc = -1;

	for (;;) {
		if (stat(p, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				if (strcmp(p, dir) == 0)
					snprintf(err, errlen, "%s is not a directory", p);
				else
					snprintf(err, errlen, "%s is not a directory (needed for %s)",
					    p, dir);
				goto out;
			}
			if (access(p, W_OK | X_OK) < 0) {
				snprintf(err, errlen, "cannot write in %s: %s", p, strerror(errno));
				goto out;
			}
			rc = 0;
			goto out;
		}
		/* ENOTDIR: a file on the way, found and named as we go up. */
		if (errno != ENOENT && errno != ENOTDIR) {
			snprintf(err, errlen, "cannot inspect %s: %s", p, strerror(errno));
			goto out;
		}
		if ((slash = strrchr(p, '/')) == NULL || slash == p) {
			/* Relative with no existing part, or only "/" left. */
			rc = 0;
			goto out;
		}
		*slash = '\0';
	}
out:
	free(p);
	return rc;
}

/* Files are chowned to owner and group at creation: as anyone but root
 * that works only for our own uid and for groups we are in. */
static int
check_owner(const struct config_cert *c, char *err, size_t errlen)
{
	gid_t groups[256];
	int n;

	if (geteuid() == 0)
		return 0;
	if (c->owner != (uid_t)-1 && c->owner != geteuid()) {
		snprintf(err, errlen, "owner uid %lu: certfleetd runs as uid %lu and cannot give "
		    "files to another user", (unsigned long)c->owner, (unsigned long)geteuid());
		return -1;
	}
	if (c->group == (gid_t)-1 || c->group == getegid())
		return 0;
	n = getgroups((int)ARRAY_SIZE(groups), groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == c->group)
			return 0;
	snprintf(err, errlen, "group gid %lu: certfleetd (uid %lu) is not a member and cannot "
	    "give files to it", (unsigned long)c->group, (unsigned long)geteuid());
	return -1;
}

/* The state directory, or where it will be created, has room. */
static int
check_room(const char *dir, char *err, size_t errlen)
{
	struct statvfs sv;
	unsigned long long bytes;
	char *p = xstrdup(dir), *slash;
	int r;

	while ((r = statvfs(p, &sv)) < 0 && errno == ENOENT && strcmp(p, ".") != 0) {
		if ((slash = strrchr(p, '/')) == NULL)
			strcpy(p, ".");         /* relative: created in the cwd */
		else if (slash == p)
			break;
		else
			*slash = '\0';
	}
	free(p);
	if (r < 0) {
		snprintf(err, errlen, "state directory %s: %s", dir, strerror(errno));
		return -1;
	}
	bytes = (unsigned long long)sv.f_bavail * (unsigned long long)sv.f_frsize;
	if (bytes < PREFLIGHT_MIN_FREE_BYTES) {
		snprintf(err, errlen, "state directory %s has %llu KiB free; at least %d KiB are "
		    "needed to keep an order's key and certificate", dir, bytes / 1024,
		    PREFLIGHT_MIN_FREE_BYTES / 1024);
		return -1;
	}
	/* f_files 0: a filesystem without an inode limit. */
	if (sv.f_files > 0 && sv.f_favail < PREFLIGHT_MIN_FREE_INODES) {
		snprintf(err, errlen, "state directory %s has %lu free inodes; at least %d are "
		    "needed", dir, (unsigned long)sv.f_favail, PREFLIGHT_MIN_FREE_INODES);
		return -1;
	}
	return 0;
}

int
preflight_cert(const struct config *cfg, const struct config_cert *c, char *err,
    size_t errlen)
{
	char *live = NULL, *archive = NULL;
	int rc = -1;

	live = xasprintf("%s/live", c->output_dir);
	archive = xasprintf("%s/archive/%s", c->output_dir, c->name);
	if (check_writable_dir(live, err, errlen) < 0 ||
	    check_writable_dir(archive, err, errlen) < 0)
		goto out;
	if (install_check_live(c->output_dir, c->name, err, errlen) < 0)
		goto out;
	if (check_owner(c, err, errlen) < 0)
		goto out;
	if (c->deploy_hook.n > 0 &&
	    preflight_program(c->deploy_hook.v[0], "deploy hook", err, errlen) < 0)
		goto out;
	if (cfg->post_hook.n > 0 &&
	    preflight_program(cfg->post_hook.v[0], "post hook", err, errlen) < 0)
		goto out;
	for (size_t i = 0; i < c->nchallenges; i++)
		if (c->challenges[i] == CHALLENGE_DNS01 && c->dns01_hook != NULL &&
		    preflight_program(c->dns01_hook, "dns-01 hook", err, errlen) < 0)
			goto out;
	if (check_room(cfg->state_dir, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	free(live);
	free(archive);
	return rc;
}
