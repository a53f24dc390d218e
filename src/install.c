/*
 * install.c - certbot-compatible installation with a one-rename switch.
 * See install.h for the layout and why live/NAME is a symbolic link to a
 * per-version directory rather than a directory of four links.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "install.h"
#include "log.h"
#include "store.h"
#include "util.h"

static const char *const files[] = {"cert", "chain", "fullchain", "privkey"};

char *
install_live_path(const char *output_dir, const char *name, const char *file)
{
	if (file == NULL)
		return xasprintf("%s/live/%s", output_dir, name);
	return xasprintf("%s/live/%s/%s", output_dir, name, file);
}

char *
install_read_live(const char *output_dir, const char *name, const char *file, size_t *len)
{
	char *path = install_live_path(output_dir, name, file), *data = NULL;

	if (read_file(path, &data, len, 1 << 20) < 0)
		data = NULL;
	free(path);
	return data;
}

/* Parses "certN.pem" style names: N for a known prefix, else 0. */
static int
version_of(const char *fname)
{
	const char *p = NULL;
	char *end;
	long n;

	if (strncmp(fname, ".live", 5) == 0) {
		p = fname + 5;
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
			size_t l = strlen(files[i]);
			if (strncmp(fname, files[i], l) == 0 && fname[l] >= '0' && fname[l] <= '9') {
				p = fname + l;
				break;
			}
		}
	}
	if (p == NULL || *p < '0' || *p > '9')
		return 0;
	n = strtol(p, &end, 10);
	if (n <= 0 || n > INT_MAX - 1 || (*end != '\0' && strcmp(end, ".pem") != 0))
		return 0;
	return (int)n;
}

/* 1 + the highest version present in any form, so a half-written earlier
 * attempt is never reused or overwritten. */
static int
next_version(const char *archive)
{
	DIR *d = opendir(archive);
	struct dirent *e;
	int max = 0;

	if (d == NULL)
		return 1;
	while ((e = readdir(d)) != NULL) {
		int v = version_of(e->d_name);
		if (v > max)
			max = v;
	}
	closedir(d);
	return max + 1;
}

/* Whether target is what install_lineage points live/NAME at:
 * "../archive/NAME/.liveN". */
static bool
is_own_target(const char *target, const char *name)
{
	size_t l = strlen(name);

	if (strncmp(target, "../archive/", 11) != 0 || strncmp(target + 11, name, l) != 0 ||
	    strncmp(target + 11 + l, "/.live", 6) != 0)
		return false;
	return version_of(target + 11 + l + 1) > 0;
}

int
install_check_live(const char *output_dir, const char *name, char *err, size_t errlen)
{
	char *link = install_live_path(output_dir, name, NULL), *live = NULL;
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;
	int rc = -1;

	live = xasprintf("%s/live", output_dir);
	if (lstat(live, &st) == 0 && !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a directory", live);
		goto out;
	}
	if (lstat(link, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			rc = 0;
			goto out;
		}
		snprintf(err, errlen, "cannot inspect %s: %s", link, strerror(errno));
		goto out;
	}
	if (!S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a symbolic link made by certfleet; "
		    "move it away (certfleet never deletes it)", link);
		goto out;
	}
	if ((n = readlink(link, target, sizeof(target) - 1)) < 0) {
		snprintf(err, errlen, "cannot read the link %s: %s", link, strerror(errno));
		goto out;
	}
	target[n] = '\0';
	if (!is_own_target(target, name)) {
		snprintf(err, errlen, "%s is a symbolic link to %s, not one made by certfleet; "
		    "move it away (certfleet never deletes it)", link, target);
		goto out;
	}
	rc = 0;
out:
	free(link);
	free(live);
	return rc;
}

int
install_lineage(const struct install_opts *o, const struct install_material *m, int *version,
    char *err, size_t errlen)
{
	char *live_dir = NULL, *archive = NULL, *vdir = NULL, *link = NULL, *tmp = NULL;
	char *target = NULL, *path = NULL, *rel = NULL;
	const char *data[4];
	size_t lens[4];
	int v, rc = -1;

	data[0] = m->cert_pem;
	data[1] = m->chain_pem ? m->chain_pem : "";
	data[2] = m->fullchain_pem;
	data[3] = m->key_pem;
	for (int i = 0; i < 3; i++)
		lens[i] = strlen(data[i]);
	lens[3] = m->key_len;

	live_dir = xasprintf("%s/live", o->output_dir);
	archive = xasprintf("%s/archive/%s", o->output_dir, o->name);
	link = xasprintf("%s/%s", live_dir, o->name);
	/* Checked again here, not only before the order: the conflict may
	 * have appeared while the order ran. */
	if (install_check_live(o->output_dir, o->name, err, errlen) < 0)
		goto out;
	if (mkdir_p(live_dir, 0755) < 0 || mkdir_p(archive, 0755) < 0) {
		snprintf(err, errlen, "cannot create %s or %s: %s", live_dir, archive,
		    strerror(errno));
		goto out;
	}
	v = next_version(archive);
	for (int i = 0; i < 4; i++) {
		bool key = i == 3;
		mode_t mode = key ? (o->group != (gid_t)-1 ? 0640 : 0600) : o->mode;
		free(path);
		path = xasprintf("%s/%s%d.pem", archive, files[i], v);
		/* New names nothing points at yet: the directory is synced
		 * once, below, before the switch makes them live. */
		if (atomic_write_file_ex(path, data[i], lens[i], mode, o->owner, o->group,
		    AW_NO_DIRSYNC, err, errlen) < 0)
			goto out;
	}
	vdir = xasprintf("%s/.live%d", archive, v);
	if (mkdir(vdir, 0755) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", vdir, strerror(errno));
		goto out;
	}
	for (int i = 0; i < 4; i++) {
		free(path);
		free(target);
		path = xasprintf("%s/%s.pem", vdir, files[i]);
		target = xasprintf("../%s%d.pem", files[i], v);
		if (symlink(target, path) < 0) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			goto out;
		}
	}
	if (fsync_dir(vdir) < 0 || fsync_dir(archive) < 0) {
		snprintf(err, errlen, "cannot sync %s: %s", vdir, strerror(errno));
		goto out;
	}
	/* The switch: one rename of the live/NAME link to the new version. */
	rel = xasprintf("../archive/%s/.live%d", o->name, v);
	tmp = xasprintf("%s/.%s.tmp", live_dir, o->name);
	unlink(tmp);
	if (symlink(rel, tmp) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, link) < 0) {
		snprintf(err, errlen, "cannot switch %s: %s", link, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (fsync_dir(live_dir) < 0) {
		snprintf(err, errlen, "cannot sync %s: %s", live_dir, strerror(errno));
		goto out;
	}
	*version = v;
	rc = 0;
out:
	free(live_dir);
	free(archive);
	free(vdir);
	free(link);
	free(tmp);
	free(target);
	free(path);
	free(rel);
	return rc;
}

unsigned
install_sweep_temps(const char *output_dir, const char *name)
{
	char *tmp = xasprintf("%s/live/.%s.tmp", output_dir, name);
	char *archive = xasprintf("%s/archive/%s", output_dir, name);
	struct stat st;
	unsigned n;

	/* install_lineage() makes it a symlink just before the switch; a
	 * file or directory of that name is someone else's. */
	n = sweep_atomic_temps(archive);
	if (lstat(tmp, &st) == 0 && S_ISLNK(st.st_mode)) {
		if (unlink(tmp) == 0) {
			log_debug("removed %s, left by an interrupted switch", tmp);
			n++;
		} else {
			log_warn("cannot remove %s: %s", tmp, strerror(errno));
		}
	}
	free(tmp);
	free(archive);
	return n;
}
