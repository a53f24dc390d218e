/*
 * store.c - the state directory: its lock, account records and keys, the
 * order key of a certificate in flight, held and rejected certificates.
 * The per-certificate state file format lives in store_state.c.
 *
 * Every file is written through fsutil.c's atomic_write_file(): after a
 * crash a reader finds the old file or the new one, never a mix, and a
 * private key has its final mode before its first byte.  This file adds
 * what is the state directory's own: its layout, the lock, safe names.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"
#include "util.h"

struct store {
	char *dir;
	int lock_fd;
	bool readonly;
};

const char *
store_dir(const struct store *s)
{
	return s->dir;
}

/* ---- open, lock ---- */

static bool
safe_name(const char *name)
{
	return name && *name && *name != '.' && strchr(name, '/') == NULL;
}

char *
store_path(const struct store *s, const char *kind, const char *name, const char *file)
{
	return xasprintf("%s/%s/%s/%s", s->dir, kind, name, file);
}

int
store_ensure_dir(const struct store *s, const char *kind, const char *name, char *err,
    size_t errlen)
{
	char *d;

	if (!safe_name(name)) {
		snprintf(err, errlen, "invalid name '%s' in the state directory", name);
		return -1;
	}
	/* Every write goes through here: a store opened read-only (certfleetctl
	 * offline, certfleetd --dry-run) never changes. */
	if (s->readonly) {
		snprintf(err, errlen, "state directory %s was opened read-only", s->dir);
		return -1;
	}
	d = xasprintf("%s/%s/%s", s->dir, kind, name);
	if (mkdir_p(d, 0700) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", d, strerror(errno));
		free(d);
		return -1;
	}
	free(d);
	return 0;
}

static int
store_open_common(const char *state_dir, struct store **out, bool lock, char *err,
    size_t errlen)
{
	struct store *s = xcalloc(1, sizeof(*s));
	char *p = NULL;
	char pid[32];

	s->dir = xstrdup(state_dir);
	s->lock_fd = -1;
	s->readonly = !lock;
	if (!lock) {
		struct stat st;
		if (stat(state_dir, &st) < 0) {
			snprintf(err, errlen, "state directory %s: %s", state_dir, strerror(errno));
			goto fail;
		}
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "state directory %s: not a directory", state_dir);
			goto fail;
		}
		*out = s;
		return 0;
	}
	const char *subs[] = {"", "/accounts", "/certs"};
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		free(p);
		p = xasprintf("%s%s", state_dir, subs[i]);
		if (mkdir_p(p, 0700) < 0) {
			snprintf(err, errlen, "cannot create state directory %s: %s", p,
			    strerror(errno));
			goto fail;
		}
	}
	free(p);
	p = xasprintf("%s/lock", state_dir);
	s->lock_fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", p, strerror(errno));
		goto fail;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int lock_errno = errno; /* pread() below may overwrite it */
		char other[32] = "";
		ssize_t n;

		if (lock_errno != EWOULDBLOCK) {
			snprintf(err, errlen, "cannot lock %s: %s", p, strerror(lock_errno));
			goto fail;
		}
		n = pread(s->lock_fd, other, sizeof(other) - 1, 0);
		other[n > 0 ? n : 0] = '\0';
		other[strcspn(other, "\n")] = '\0';
		snprintf(err, errlen, "state directory %s is in use by another certfleetd "
		    "(pid %s)", state_dir, *other ? other : "unknown");
		goto fail;
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, pid, strlen(pid), 0) < 0)
		log_warn("cannot record our pid in %s: %s", p, strerror(errno));
	free(p);
	*out = s;
	return 0;
fail:
	free(p);
	store_close(s);
	return -1;
}

int
store_open(const char *state_dir, struct store **out, char *err, size_t errlen)
{
	return store_open_common(state_dir, out, true, err, errlen);
}

int
store_open_readonly(const char *state_dir, struct store **out, char *err, size_t errlen)
{
	return store_open_common(state_dir, out, false, err, errlen);
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->dir);
	free(s);
}

/* ---- keys ---- */

static int
save_key(struct store *s, const char *kind, const char *name, const char *file,
    const privkey_t *key, unsigned flags, char *err, size_t errlen)
{
	char *path = NULL, *pem = NULL;
	size_t len = 0;
	int rc = -1;

	if (store_ensure_dir(s, kind, name, err, errlen) < 0)
		return -1;
	if ((pem = privkey_to_pem(key, &len)) == NULL) {
		snprintf(err, errlen, "cannot encode the key for %s", name);
		return -1;
	}
	path = store_path(s, kind, name, file);
	rc = atomic_write_file_ex(path, pem, len, 0600, (uid_t)-1, (gid_t)-1, flags, err,
	    errlen);
	free(path);
	free_secret(pem, len);
	return rc;
}

static privkey_t *
load_key(struct store *s, const char *kind, const char *name, const char *file, bool *absent)
{
	char *path = store_path(s, kind, name, file), *pem = NULL;
	size_t len = 0;
	privkey_t *k = NULL;

	*absent = false;
	if (read_file(path, &pem, &len, 1 << 20) < 0) {
		if (errno == ENOENT)
			*absent = true;
		else
			log_err("cannot read %s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	if ((k = privkey_from_pem(pem, len)) == NULL)
		log_err("%s: not a usable private key", path);
	free_secret(pem, len);
	free(path);
	return k;
}

int
store_account_save_key(struct store *s, const char *name, const privkey_t *key, char *err,
    size_t errlen)
{
	return save_key(s, "accounts", name, "key.pem", key, 0, err, errlen);
}

int
store_order_key_save(struct store *s, const char *name, const privkey_t *key, char *err,
    size_t errlen)
{
	/* The file is fsynced before its rename, but not the directory: the
	 * key matters only once state.json names the order, and that save
	 * (store_order_created, always after this one, same directory)
	 * fsyncs the directory, which makes this entry durable with its own.
	 * A crash before it leaves a key no state refers to, overwritten by
	 * the next order. */
	return save_key(s, "certs", name, "order-key.pem", key, AW_NO_DIRSYNC, err, errlen);
}

privkey_t *
store_order_key_load(struct store *s, const char *name)
{
	bool absent;

	if (!safe_name(name))
		return NULL;
	return load_key(s, "certs", name, "order-key.pem", &absent);
}

void
store_order_key_remove(struct store *s, const char *name)
{
	char *path;

	if (!safe_name(name))
		return;
	path = store_path(s, "certs", name, "order-key.pem");
	/* No directory fsync: every caller has just saved (durably) a state
	 * without order_url, and a key that a crash brings back is one no
	 * state refers to, never loaded and overwritten by the next order. */
	if (unlink(path) < 0 && errno != ENOENT) {
		log_warn("cannot remove %s: %s", path, strerror(errno));
	}
	free(path);
}

/* ---- account key rollover ---- */

int
store_account_save_next_key(struct store *s, const char *name, const privkey_t *key,
    char *err, size_t errlen)
{
	return save_key(s, "accounts", name, "key-next.pem", key, 0, err, errlen);
}

int
store_account_load_next_key(struct store *s, const char *name, privkey_t **key, char *err,
    size_t errlen)
{
	bool absent;

	*key = NULL;
	if (!safe_name(name)) {
		snprintf(err, errlen, "invalid account name '%s'", name);
		return -1;
	}
	*key = load_key(s, "accounts", name, "key-next.pem", &absent);
	if (*key == NULL && !absent) {
		snprintf(err, errlen, "%s/accounts/%s/key-next.pem is unreadable or corrupt",
		    s->dir, name);
		return -1;
	}
	return 0;
}

int
store_account_promote_next_key(struct store *s, const char *name, char *err, size_t errlen)
{
	char *from = NULL, *to = NULL, *dir = NULL;
	int rc = -1;

	if (!safe_name(name)) {
		snprintf(err, errlen, "invalid account name '%s'", name);
		return -1;
	}
	from = store_path(s, "accounts", name, "key-next.pem");
	to = store_path(s, "accounts", name, "key.pem");
	dir = xasprintf("%s/accounts/%s", s->dir, name);
	/* One rename: after a crash key.pem is either the old key (and
	 * key-next.pem is still there to be resolved) or the new one. */
	if (rename(from, to) < 0) {
		snprintf(err, errlen, "cannot rename %s to %s: %s", from, to, strerror(errno));
		goto out;
	}
	if (fsync_dir(dir) < 0) {
		snprintf(err, errlen, "%s renamed but cannot sync %s: %s", from, dir,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(from);
	free(to);
	free(dir);
	return rc;
}

void
store_account_drop_next_key(struct store *s, const char *name)
{
	char *path, *dir;

	if (!safe_name(name))
		return;
	path = store_path(s, "accounts", name, "key-next.pem");
	if (unlink(path) == 0) {
		dir = xasprintf("%s/accounts/%s", s->dir, name);
		fsync_dir(dir);
		free(dir);
	} else if (errno != ENOENT) {
		log_warn("cannot remove %s: %s", path, strerror(errno));
	}
	free(path);
}

/* ---- account records ---- */

void
account_record_free(struct account_record *r)
{
	if (r == NULL)
		return;
	free(r->url);
	free(r->directory);
	privkey_free(r->key);
	memset(r, 0, sizeof(*r));
}

/*
 * The string member key of o, its name matched without regard to case
 * (the first such member), or NULL.  account.json has always been read
 * this way (a case-blind lookup), so a hand-edited "URL" still counts.
 * Borrowed.
 */
static const char *
get_str_anycase(const struct json *o, const char *key)
{
	const struct json *it;

	JSON_FOREACH(it, o)
		if (strcasecmp(json_key(it), key) == 0)
			return json_str(it);
	return NULL;
}

int
store_account_load(struct store *s, const char *name, struct account_record *out, char *err,
    size_t errlen)
{
	char *path = NULL, *json = NULL;
	size_t len = 0;
	struct json *root = NULL;
	const char *ts;
	bool absent;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!safe_name(name)) {
		snprintf(err, errlen, "invalid account name '%s'", name);
		return -1;
	}
	out->key = load_key(s, "accounts", name, "key.pem", &absent);
	if (out->key == NULL && !absent) {
		snprintf(err, errlen, "%s/accounts/%s/key.pem is unreadable or corrupt", s->dir,
		    name);
		goto out;
	}
	path = store_path(s, "accounts", name, "account.json");
	if (read_file(path, &json, &len, 1 << 20) < 0) {
		if (errno == ENOENT) {
			rc = 0;
			goto out;
		}
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if ((root = store_parse_object(json, len)) == NULL) {
		snprintf(err, errlen, "%s: not valid JSON", path);
		goto out;
	}
	out->url = xstrdup(get_str_anycase(root, "url"));
	out->directory = xstrdup(get_str_anycase(root, "directory"));
	ts = get_str_anycase(root, "deactivated");
	if (ts != NULL && time_parse_rfc3339(ts, &out->deactivated) < 0)
		out->deactivated = 0;
	rc = 0;
out:
	if (rc < 0)
		account_record_free(out);
	json_free(root);
	free(json);
	free(path);
	return rc;
}

/* accounts/NAME/FILE: root (freed here) with "saved" added (always
 * written, unlike json_set_time()'s), atomically, 0600. */
static int
write_account_json(struct store *s, const char *name, const char *file, struct json *root,
    bool pretty, char *err, size_t errlen)
{
	char *json, *path, ts[32];
	int rc;

	time_format_rfc3339(time(NULL), ts, sizeof(ts));
	json_set_str(root, "saved", ts);
	json = pretty ? json_print_pretty(root) : json_print(root);
	json_free(root);
	path = store_path(s, "accounts", name, file);
	rc = atomic_write_file(path, json, strlen(json), 0600, (uid_t)-1, (gid_t)-1, err, errlen);
	free(path);
	free(json);
	return rc;
}

int
store_account_save(struct store *s, const char *name, const struct account_record *r,
    char *err, size_t errlen)
{
	struct json *root;

	if (store_ensure_dir(s, "accounts", name, err, errlen) < 0)
		return -1;
	root = json_new_object();
	json_set_str(root, "url", r->url);
	json_set_str(root, "directory", r->directory);
	json_set_time(root, "deactivated", r->deactivated);
	return write_account_json(s, name, "account.json", root, true, err, errlen);
}

/* The largest budget.json read: 2^20 spends of 11 digits and a comma. */
#define BUDGET_FILE_MAX (16 << 20)

int
store_account_save_budget(struct store *s, const char *name, const char *directory,
    const time_t *spent, int nspent, time_t paused_until, char *err, size_t errlen)
{
	struct json *root, *a;

	if (store_ensure_dir(s, "accounts", name, err, errlen) < 0)
		return -1;
	root = json_new_object();
	json_set_num(root, "v", 1);
	if (directory != NULL)
		json_set_str(root, "directory", directory);
	a = json_set_array(root, "new_orders");
	for (int i = 0; i < nspent; i++)
		json_push(a, json_new_number((double)spent[i]));
	json_set_time(root, "paused_until", paused_until);
	return write_account_json(s, name, "budget.json", root, false, err, errlen);
}

int
store_account_load_budget(struct store *s, const char *name, char **directory,
    time_t **spent, int *nspent, time_t *paused_until, char *err, size_t errlen)
{
	char *path, *json = NULL;
	size_t len = 0, n;
	struct json *root = NULL;
	const struct json *a, *v, *pu, *d = NULL;
	int rc = -1;

	*directory = NULL;
	*spent = NULL;
	*nspent = 0;
	*paused_until = 0;
	if (!safe_name(name)) {
		snprintf(err, errlen, "invalid account name '%s'", name);
		return -1;
	}
	path = store_path(s, "accounts", name, "budget.json");
	if (read_file(path, &json, &len, BUDGET_FILE_MAX) < 0) {
		if (errno == ENOENT)
			rc = 0;
		else
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if ((root = store_parse_object(json, len)) == NULL) {
		snprintf(err, errlen, "%s: not valid JSON", path);
		goto out;
	}
	v = json_get(root, "v");
	a = json_get(root, "new_orders");
	pu = json_get(root, "paused_until");
	d = json_get(root, "directory");
	if (v == NULL || !json_is_number(v) || json_num(v) != 1) {
		snprintf(err, errlen, "%s: not a version 1 budget record (\"v\": 1)", path);
		goto out;
	}
	if ((a != NULL && !json_is_array(a)) || (d != NULL && !json_is_string(d)) ||
	    (pu != NULL && (!json_is_string(pu) ||
	    time_parse_rfc3339(json_str(pu), paused_until) < 0))) {
		snprintf(err, errlen, "%s: not a budget record (new_orders, paused_until, "
		    "directory)", path);
		goto out;
	}
	n = a ? json_size(a) : 0;
	*spent = xcalloc(n + 1, sizeof(**spent));
	for (size_t i = 0; i < n; i++) {
		const struct json *t = json_at(a, i);

		if (!json_is_number(t) || json_num(t) < 0 || json_num(t) > 1e12) {
			snprintf(err, errlen, "%s: new_orders[%zu] is not a time", path, i);
			goto out;
		}
		(*spent)[(*nspent)++] = (time_t)json_num(t);
	}
	rc = 0;
out:
	if (rc < 0) {
		free(*spent);
		*spent = NULL;
		*nspent = 0;
		*paused_until = 0;
	} else if (d != NULL) {
		*directory = xstrdup(json_str(d));
	}
	json_free(root);
	free(json);
	free(path);
	return rc;
}

/* ---- misc ---- */

struct json *
store_parse_object(const char *text, size_t len)
{
	size_t used = 0;
	struct json *o = json_parse(text, len, &used);

	if (!json_is_object(o))
		goto out;
	while (used < len && (unsigned char)text[used] <= ' ')
		used++;
	if (used == len)
		return o;
out:
	json_free(o);
	return NULL;
}

int
store_cert_list(struct store *s, struct strlist *out)
{
	char *d = xasprintf("%s/certs", s->dir);
	DIR *dp = opendir(d);
	struct dirent *e;
	struct stat st;

	free(d);
	if (dp == NULL)
		return -1;
	/* Only directories: a stray file (an editor's backup, say) is not a
	 * certificate. */
	while ((e = readdir(dp)) != NULL)
		if (safe_name(e->d_name) && fstatat(dirfd(dp), e->d_name, &st, 0) == 0 &&
		    S_ISDIR(st.st_mode))
			strlist_add(out, e->d_name);
	closedir(dp);
	return 0;
}

char *
store_keep_rejected(struct store *s, const char *name, const char *pem, size_t len)
{
	char err[512], file[64], *path = NULL;
	long long now = (long long)time(NULL);
	struct stat st;

	if (store_ensure_dir(s, "certs", name, err, sizeof(err)) < 0) {
		log_err("%s", err);
		return NULL;
	}
	/* A second rejection within the same second must not replace the
	 * first: both are evidence. */
	for (int i = 1; ; i++) {
		if (i == 1)
			snprintf(file, sizeof(file), "rejected-%lld.pem", now);
		else
			snprintf(file, sizeof(file), "rejected-%lld-%d.pem", now, i);
		free(path);
		path = store_path(s, "certs", name, file);
		if (lstat(path, &st) < 0 && errno == ENOENT)
			break;
		if (i == 1000) {
			log_err("%s: too many rejected certificates kept this second", path);
			free(path);
			return NULL;
		}
	}
	if (atomic_write_file(path, pem, len, 0600, (uid_t)-1, (gid_t)-1, err, sizeof(err)) < 0) {
		log_err("%s", err);
		free(path);
		return NULL;
	}
	return path;
}

/* ---- issued, not installed ---- */

int
store_held_save(struct store *s, const char *name, const char *chain_pem, size_t len,
    const privkey_t *key, char *err, size_t errlen)
{
	char *path = NULL;
	int rc = -1;

	/* The key first: a chain without its key would be useless. */
	if (save_key(s, "certs", name, "held-key.pem", key, 0, err, errlen) < 0)
		return -1;
	path = store_path(s, "certs", name, "held.pem");
	rc = atomic_write_file(path, chain_pem, len, 0600, (uid_t)-1, (gid_t)-1, err, errlen);
	free(path);
	return rc;
}

int
store_held_load(struct store *s, const char *name, char **chain_pem, size_t *len,
    privkey_t **key)
{
	char *path = NULL;
	bool absent;
	int rc = -1;

	*chain_pem = NULL;
	*len = 0;
	*key = NULL;
	if (!safe_name(name))
		return 0;
	path = store_path(s, "certs", name, "held.pem");
	if (read_file(path, chain_pem, len, 1 << 20) < 0) {
		if (errno == ENOENT)
			rc = 0;
		else
			log_err("cannot read %s: %s", path, strerror(errno));
		*chain_pem = NULL;
		goto out;
	}
	if ((*key = load_key(s, "certs", name, "held-key.pem", &absent)) == NULL) {
		if (absent)
			log_err("%s: held certificate without its key (held-key.pem)", path);
		free(*chain_pem);
		*chain_pem = NULL;
		*len = 0;
		goto out;
	}
	rc = 1;
out:
	free(path);
	return rc;
}

/* 1 when it removed the file, 0 when there was none or it failed. */
static int
held_unlink(struct store *s, const char *name, const char *file)
{
	char *path = store_path(s, "certs", name, file);
	int removed = 0;

	if (unlink(path) == 0)
		removed = 1;
	else if (errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
	free(path);
	return removed;
}

void
store_held_remove(struct store *s, const char *name)
{
	char *dir;

	if (!safe_name(name))
		return;
	/* The directory is synced only when something was removed: after
	 * every install there is nothing, and nothing to make durable. */
	if (held_unlink(s, name, "held.pem") + held_unlink(s, name, "held-key.pem") == 0)
		return;
	dir = xasprintf("%s/certs/%s", s->dir, name);
	fsync_dir(dir);
	free(dir);
}

char *
store_held_move_aside(struct store *s, const char *name)
{
	char file[64], *from = NULL, *to = NULL, *kfrom = NULL, *kto = NULL, *dir = NULL;
	long long now = (long long)time(NULL);
	struct stat st;

	if (!safe_name(name))
		return NULL;
	from = store_path(s, "certs", name, "held.pem");
	kfrom = store_path(s, "certs", name, "held-key.pem");
	for (int i = 1; i < 1000; i++) {
		if (i == 1)
			snprintf(file, sizeof(file), "unusable-%lld", now);
		else
			snprintf(file, sizeof(file), "unusable-%lld-%d", now, i);
		free(to);
		to = xasprintf("%s/certs/%s/%s.pem", s->dir, name, file);
		if (lstat(to, &st) < 0 && errno == ENOENT)
			break;
	}
	kto = xasprintf("%.*s-key.pem", (int)(strlen(to) - 4), to);
	/* The chain first: once it is gone nothing is held any more, and a
	 * crash before the key follows leaves a key nothing refers to. */
	if (rename(from, to) < 0) {
		if (errno != ENOENT)
			log_err("cannot move %s to %s: %s", from, to, strerror(errno));
		free(to);
		to = NULL;
		goto out;
	}
	if (rename(kfrom, kto) < 0 && errno != ENOENT)
		log_err("cannot move %s to %s: %s", kfrom, kto, strerror(errno));
	dir = xasprintf("%s/certs/%s", s->dir, name);
	fsync_dir(dir);
out:
	free(from);
	free(kfrom);
	free(kto);
	free(dir);
	return to;
}

/* ---- temporaries left by a crash ---- */

/* Where a walk is: the top, then each of walk_kinds[] entry by entry. */
struct store_walk {
	const struct store *s;
	bool top_done;
	size_t kind;
	DIR *dir;
	char *top;                  /* the kind's directory */
	char *path;                 /* what store_walk_next() last returned */
};

static const char *const walk_kinds[] = { "accounts", "certs" };

struct store_walk *
store_walk_new(const struct store *s)
{
	struct store_walk *w;

	/* Without the lock another daemon may be writing them right now. */
	if (s->readonly)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->s = s;
	return w;
}

const char *
store_walk_next(struct store_walk *w)
{
	struct dirent *e;

	if (w == NULL)
		return NULL;
	free(w->path);
	w->path = NULL;
	if (!w->top_done) {
		w->top_done = true;
		return w->path = xstrdup(w->s->dir);
	}
	while (w->kind < ARRAY_SIZE(walk_kinds)) {
		if (w->dir == NULL) {
			free(w->top);
			w->top = xasprintf("%s/%s", w->s->dir, walk_kinds[w->kind]);
			if ((w->dir = opendir(w->top)) == NULL) {
				w->kind++;
				continue;
			}
		}
		while ((e = readdir(w->dir)) != NULL)
			if (safe_name(e->d_name))
				return w->path = xasprintf("%s/%s", w->top, e->d_name);
		closedir(w->dir);
		w->dir = NULL;
		w->kind++;
	}
	return NULL;
}

void
store_walk_free(struct store_walk *w)
{
	if (w == NULL)
		return;
	if (w->dir)
		closedir(w->dir);
	free(w->top);
	free(w->path);
	free(w);
}
