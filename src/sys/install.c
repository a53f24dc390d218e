/*
 * install.c - certbot-compatible installation with a one-rename switch.
 * See install.h for the layout and why live/NAME is a symbolic link to a
 * per-version directory rather than a directory of four links, and for
 * how a certbot lineage is taken over.
 *
 * Why the grouped syncs are crash safe.  install_lineage() does, in order:
 *   1. writes every file of version N as a temporary in archive/NAME (mode
 *      and owner set while empty), none synced yet;
 *   2. fsyncs each temporary, and only then renames each to xxxN.pem;
 *   3. makes .liveN and its links, fsyncs .liveN, then archive/NAME once
 *      (the xxxN.pem names and .liveN's entry together);
 *   4. the switch: one rename of live/NAME to the new version; then fsyncs
 *      live/.
 * So before the switch every byte and name that live/NAME will reach is
 * durable, as it was when each file was synced on its own.  A crash
 *   - in 1 or 2 before the renames leaves temporaries, which
 *     install_sweep_temps() removes, and the old version live;
 *   - between the renames and 3 leaves some xxxN.pem, each complete (its
 *     data was synced before it got its name), and the old version live;
 *     next_version() never reuses N;
 *   - in 3 leaves a .liveN nothing points at, and the old version live;
 *   - after the switch and before live/ is synced leaves either version
 *     live, each complete; the caller records the install only after
 *     install_lineage() returns, so a crash there installs again.
 * What grouping saves is the directory work: ext4 makes a new file's
 * entry durable with its first fsync, so syncing the temporaries together
 * writes archive/NAME once instead of once per file, and no directory is
 * synced twice.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "install.h"
#include "log.h"
#include "util.h"

/* The four files of every version, certbot's; combined.pem is the fifth
 * when asked for, never part of a certbot lineage. */
static const char *const files[] = {"cert", "chain", "fullchain", "privkey", "combined"};
#define NFILES_CERTBOT 4

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

static const char *const kind_names[INSTALL_LIVE_KIND__MAX] = {
	[INSTALL_LIVE_ABSENT] = "absent",
	[INSTALL_LIVE_CERTFLEET] = "certfleet",
	[INSTALL_LIVE_CERTBOT] = "certbot",
	[INSTALL_LIVE_FOREIGN] = "foreign",
};

const char *
install_live_kind_name(enum install_live_kind k)
{
	return (unsigned)k < INSTALL_LIVE_KIND__MAX ? kind_names[k] : "unknown";
}

#define WHY(...) do { if (why != NULL) snprintf(why, whylen, __VA_ARGS__); } while (0)

/*
 * certbot's live/NAME: exactly cert, chain, fullchain and privkey.pem as
 * links to ../../archive/NAME/<file>N.pem (one N for all four, each an
 * existing regular file), plus certbot's README.  Nothing else, because
 * taking it over removes the directory.  The version, or 0 with why.
 */
static int
certbot_dir_version(const char *dir, const char *name, char *why, size_t whylen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int version = 0, seen = 0;

	if (d == NULL) {
		WHY("%s: %s", dir, strerror(errno));
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		char target[PATH_MAX], *want = NULL, *abs = NULL;
		ssize_t n;
		int v = 0, fi = -1;
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, "README") == 0)
			continue;
		for (int i = 0; i < NFILES_CERTBOT; i++) {
			size_t l = strlen(files[i]);
			if (strncmp(e->d_name, files[i], l) == 0 &&
			    strcmp(e->d_name + l, ".pem") == 0)
				fi = i;
		}
		abs = xasprintf("%s/%s", dir, e->d_name);
		if (fi < 0 || (n = readlink(abs, target, sizeof(target) - 1)) < 0) {
			WHY("%s is not one of certbot's links", abs);
			free(abs);
			goto fail;
		}
		target[n] = '\0';
		want = xasprintf("../../archive/%s/%s", name, files[fi]);
		if (strncmp(target, want, strlen(want)) != 0 ||
		    (v = version_of(target + strlen(want) - strlen(files[fi]))) <= 0 ||
		    (version != 0 && v != version) || stat(abs, &st) < 0 || !S_ISREG(st.st_mode)) {
			WHY("%s -> %s is not a link to the same certbot version as the others",
			    abs, target);
			free(want);
			free(abs);
			goto fail;
		}
		version = v;
		seen |= 1 << fi;
		free(want);
		free(abs);
	}
	closedir(d);
	if (seen != 0xf) {
		WHY("%s lacks some of cert.pem, chain.pem, fullchain.pem, privkey.pem", dir);
		return 0;
	}
	return version;
fail:
	closedir(d);
	return 0;
}

enum install_live_kind
install_live_kind(const char *output_dir, const char *name, int *version, char *why,
    size_t whylen)
{
	char *link = install_live_path(output_dir, name, NULL);
	char *want = NULL, target[PATH_MAX];
	enum install_live_kind k = INSTALL_LIVE_FOREIGN;
	struct stat st;
	ssize_t n;
	int v;

	*version = 0;
	if (lstat(link, &st) < 0) {
		if (errno == ENOENT) {
			k = INSTALL_LIVE_ABSENT;
		} else {
			WHY("%s: %s", link, strerror(errno));
		}
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		want = xasprintf("../archive/%s/.live", name);
		if ((n = readlink(link, target, sizeof(target) - 1)) < 0)
			goto out;
		target[n] = '\0';
		if (strncmp(target, want, strlen(want)) == 0 &&
		    (v = version_of(target + strlen(want) - 5)) > 0) {
			*version = v;
			k = INSTALL_LIVE_CERTFLEET;
		} else {
			WHY("%s points at %s, not at a version certfleet made", link, target);
		}
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		if ((v = certbot_dir_version(link, name, why, whylen)) > 0) {
			*version = v;
			k = INSTALL_LIVE_CERTBOT;
		}
		goto out;
	}
	WHY("%s is neither a directory nor a symbolic link", link);
out:
	free(want);
	free(link);
	return k;
}

int
install_retire_certbot_conf(const char *output_dir, const char *name, char *err,
    size_t errlen)
{
	char *conf = xasprintf("%s/renewal/%s.conf", output_dir, name);
	char *to = xasprintf("%s.certfleet", conf);
	char *dir = xasprintf("%s/renewal", output_dir);
	int rc = 0;

	if (rename(conf, to) == 0) {
		fsync_dir(dir);
		log_cert(LOG_NOTICE, name, LOG_EVENT_NONE,
		    "renamed certbot's %s to %s: certbot no longer renews it", conf, to);
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "cannot rename certbot's %s to %s: %s", conf, to,
		    strerror(errno));
		rc = -1;
	}
	free(conf);
	free(to);
	free(dir);
	return rc;
}

/* Removes a directory certbot_dir_version() accepted: its links and
 * README, then the directory.  Never anything else. */
static int
remove_link_dir(const char *dir)
{
	const char *names[] = { "cert.pem", "chain.pem", "fullchain.pem", "privkey.pem",
		"README" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char *p = xasprintf("%s/%s", dir, names[i]);
		struct stat st;

		if (lstat(p, &st) == 0 && (S_ISLNK(st.st_mode) || strcmp(names[i], "README") == 0))
			unlink(p);
		free(p);
	}
	return rmdir(dir);
}

/*
 * The switch for an adopted certbot lineage: tmp (a symlink to the new
 * version) and link (certbot's directory) trade places in one
 * renameat2(RENAME_EXCHANGE), so a reader sees the old directory or the
 * new version, never neither and never a mix.  The old directory, now at
 * tmp, is then removed.  A crash before the exchange leaves certbot's
 * directory live; one after it leaves the old links at tmp, which the
 * next install removes.
 */
static int
switch_certbot_dir(const char *live_dir, const char *tmp, const char *link, char *err,
    size_t errlen)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, link, RENAME_EXCHANGE) < 0) {
		char *aside;

		if (errno != EINVAL && errno != ENOSYS) {
			snprintf(err, errlen, "cannot switch %s: %s", link, strerror(errno));
			return -1;
		}
		/* A file system without RENAME_EXCHANGE: two renames, with a
		 * moment in which live/NAME does not exist (but still never
		 * the new certificate with the old key). */
		log_warn("%s: the file system cannot exchange a directory and a link "
		    "atomically; live/ is briefly absent during this one-time conversion", link);
		aside = xasprintf("%s.certbot", tmp);
		if (rename(link, aside) < 0) {
			snprintf(err, errlen, "cannot move %s aside: %s", link, strerror(errno));
			free(aside);
			return -1;
		}
		if (rename(tmp, link) < 0) {
			snprintf(err, errlen, "cannot switch %s: %s", link, strerror(errno));
			if (rename(aside, link) < 0)
				log_err("%s: cannot put certbot's directory back from %s: %s", link,
				    aside, strerror(errno));
			free(aside);
			return -1;
		}
		fsync_dir(live_dir);
		remove_link_dir(aside);
		free(aside);
		return 0;
	}
	fsync_dir(live_dir);
	if (remove_link_dir(tmp) < 0)
		log_warn("%s: cannot remove certbot's old directory of links %s: %s", link, tmp,
		    strerror(errno));
	return 0;
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

/*
 * What install_lineage may do with live/NAME: 0 with its kind (absent,
 * certfleet's link, certbot's directory to take over) and version, or -1
 * with a message naming the path (output_dir/live not a directory,
 * anything foreign).
 */
static int
live_classify(const char *output_dir, const char *name, enum install_live_kind *kind,
    int *version, char *err, size_t errlen)
{
	char *live = xasprintf("%s/live", output_dir), *link = NULL, why[512] = "";
	struct stat st;
	int rc = -1;

	if (lstat(live, &st) == 0 && !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a directory", live);
		goto out;
	}
	*kind = install_live_kind(output_dir, name, version, why, sizeof(why));
	if (*kind == INSTALL_LIVE_FOREIGN) {
		link = install_live_path(output_dir, name, NULL);
		snprintf(err, errlen, "%s exists and is not a symbolic link made by certfleet "
		    "nor a certbot lineage (%s); move it away (certfleet never deletes it)", link,
		    why);
		goto out;
	}
	rc = 0;
out:
	free(live);
	free(link);
	return rc;
}

int
install_check_live(const char *output_dir, const char *name, char *err, size_t errlen)
{
	enum install_live_kind kind;
	int v;

	return live_classify(output_dir, name, &kind, &v, err, errlen);
}

/*
 * combined.pem: the private key, then the full chain, one PEM file.  A
 * secret like the key itself (the caller wipes it).
 */
static char *
combined_make(const struct install_material *m, size_t *len)
{
	size_t flen = strlen(m->fullchain_pem);
	bool nl = m->key_len > 0 && m->key_pem[m->key_len - 1] != '\n';
	char *p;

	*len = m->key_len + (nl ? 1 : 0) + flen;
	p = xmalloc(*len + 1);
	memcpy(p, m->key_pem, m->key_len);
	if (nl)
		p[m->key_len] = '\n';
	memcpy(p + m->key_len + (nl ? 1 : 0), m->fullchain_pem, flen);
	p[*len] = '\0';
	return p;
}

int
install_lineage(const struct install_opts *o, const struct install_material *m, int *version,
    char *err, size_t errlen)
{
	char *live_dir = NULL, *archive = NULL, *vdir = NULL, *link = NULL, *tmp = NULL;
	char *target = NULL, *path = NULL, *rel = NULL, *combined = NULL;
	const char *data[ARRAY_SIZE(files)];
	size_t lens[ARRAY_SIZE(files)], nfiles = NFILES_CERTBOT;
	enum install_live_kind kind;
	char why[512] = "";
	struct aw_batch batch;
	struct stat st;
	int v, live_v, rc = -1;

	aw_batch_init(&batch);
	data[0] = m->cert_pem;
	data[1] = m->chain_pem ? m->chain_pem : "";
	data[2] = m->fullchain_pem;
	data[3] = m->key_pem;
	for (int i = 0; i < 3; i++)
		lens[i] = strlen(data[i]);
	lens[3] = m->key_len;
	if (o->combined) {
		combined = combined_make(m, &lens[4]);
		data[4] = combined;
		nfiles++;
	}

	live_dir = xasprintf("%s/live", o->output_dir);
	archive = xasprintf("%s/archive/%s", o->output_dir, o->name);
	link = xasprintf("%s/%s", live_dir, o->name);
	/* Checked again here, not only before the order: the conflict may
	 * have appeared while the order ran. */
	if (live_classify(o->output_dir, o->name, &kind, &live_v, err, errlen) < 0)
		goto out;
	if (mkdir_p(live_dir, 0755) < 0 || mkdir_p(archive, 0755) < 0) {
		snprintf(err, errlen, "cannot create %s or %s: %s", live_dir, archive,
		    strerror(errno));
		goto out;
	}
	v = next_version(archive);
	for (size_t i = 0; i < nfiles; i++) {
		bool key = i >= 3;  /* privkey and combined hold the key */
		mode_t mode = key ? (o->group != (gid_t)-1 ? 0640 : 0600) : o->mode;
		free(path);
		path = xasprintf("%s/%s%d.pem", archive, files[i], v);
		if (aw_batch_write(&batch, path, data[i], lens[i], mode, o->owner, o->group, err,
		    errlen) < 0)
			goto out;
	}
	/* All the files' data at once, then their names; the directory is
	 * synced once, below, with .liveN's entry, before the switch makes
	 * any of them live.  See the top of this file. */
	if (aw_batch_commit(&batch, err, errlen) < 0)
		goto out;
	vdir = xasprintf("%s/.live%d", archive, v);
	if (mkdir(vdir, 0755) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", vdir, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < nfiles; i++) {
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
	/* A directory there is certbot's old links, left by a crash right
	 * after the exchange below. */
	if (lstat(tmp, &st) == 0 && S_ISDIR(st.st_mode))
		remove_link_dir(tmp);
	unlink(tmp);
	if (symlink(rel, tmp) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (kind == INSTALL_LIVE_CERTBOT) {
		if (switch_certbot_dir(live_dir, tmp, link, err, errlen) < 0) {
			unlink(tmp);
			goto out;
		}
		log_cert(LOG_NOTICE, o->name, LOG_EVENT_NONE,
		    "took over certbot's lineage %s (version %d) as version %d", link, live_v, v);
		if (install_retire_certbot_conf(o->output_dir, o->name, why, sizeof(why)) < 0)
			log_cert(LOG_WARNING, o->name, LOG_EVENT_NONE, "%s", why);
	} else if (rename(tmp, link) < 0) {
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
	aw_batch_free(&batch);
	free(live_dir);
	free(archive);
	free(vdir);
	free(link);
	free(tmp);
	free(target);
	free(path);
	free(rel);
	if (combined != NULL)
		free_secret(combined, lens[4]);
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
