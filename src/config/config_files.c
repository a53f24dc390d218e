/*
 * config_files.c - the inventory's paths and the files it points at: where
 * relative paths lead, the programs hooks run (and their argv lists), the
 * daemon's own directories, the CA bundle, and the EAB HMAC key with the
 * permissions that guard it.  Built on config_types.c (a path is first a
 * string) and config_tree.c; nothing below calls back up here.
 *
 * The files are opened and read at load time, so a typo, a missing file or
 * a key readable by other users shows at `certfleetd --check` or on reload,
 * not in the middle of an account registration.  Key material is wiped
 * from every buffer that held it.
 */
#include "config_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"

/* A CA bundle is a few hundred kB at most; an HMAC key file a few bytes. */
#define CA_BUNDLE_MAX (8u << 20)
#define HMAC_KEY_FILE_MAX 4096u
#define SECRET_FILE_MAX 4096u
#define PRIVATE_KEY_FILE_MAX (64u << 10)

int cfg_path(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out)
{
	char *s = NULL;

	*out = NULL;
	if (cfg_string(x, n, path, &s) < 0)
		return -1;
	/* The daemon runs from "/": a relative path can only mean one next to
	 * the inventory, as it does for `certfleetd --check` run anywhere. */
	if (s[0] != '/') {
		const char *rel = s;

		while (rel[0] == '.' && rel[1] == '/')
			rel += 2;
		size_t blen = strlen(x->basedir);

		*out = xasprintf("%s%s%s", x->basedir,
		    blen > 0 && x->basedir[blen - 1] == '/' ? "" : "/", rel);
		free(s);
	} else {
		*out = s;
	}
	return 0;
}

/*
 * hooks.c runs a bare name with execvpe() in the daemon's environment:
 * the same search, PATH or (unset) the C library's default, so --check
 * run from a shell with another PATH can still differ from the service.
 */
static int program_in_path(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *name)
{
	char defpath[256];
	const char *search = program_search_path(defpath, sizeof(defpath));

	if (program_find(name, search) == 0)
		return 0;
	if (errno != ENOENT)
		return cfg_error(x, n, path, "program '%s' is in PATH but not executable: %s",
		    name, strerror(errno));
	return cfg_error(x, n, path, "program '%s' is not in PATH (%s); give its absolute "
	    "path", name, search);
}

int cfg_program(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out)
{
	char *s = NULL;

	*out = NULL;
	if (n->kind == YNODE_SCALAR && !cfg_null(n) && strchr(n->str, '/') == NULL) {
		/* A bare name is looked up in PATH when the hook runs. */
		if (cfg_string(x, n, path, &s) < 0)
			return -1;
		if ((x->flags & CONFIG_LOAD_CERTS) && program_in_path(x, n, path, s) < 0) {
			free(s);
			return -1;
		}
		*out = s;
		return 0;
	}
	if (cfg_path(x, n, path, &s) < 0)
		return -1;
	if ((x->flags & CONFIG_LOAD_CERTS) && program_executable(s) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			cfg_error(x, n, path, "program '%s' does not exist", s);
		else if (errno == EISDIR)
			cfg_error(x, n, path, "program '%s' is a directory", s);
		else
			cfg_error(x, n, path, "program '%s' is not executable: %s", s,
			    errno == EACCES ? "not a regular file with execute permission" :
			    strerror(errno));
		free(s);
		return -1;
	}
	*out = s;
	return 0;
}

int cfg_argv(struct cfg_ctx *x, const struct ynode *n, const char *path, struct strlist *out)
{
	struct strlist l = { 0 };
	char sub[CFG_PATH_LEN];
	char *s = NULL;

	if (n->kind == YNODE_SCALAR && !cfg_null(n)) {
		/* No shell runs the hook: "systemctl reload nginx" would be
		 * looked up as one program name, and fail only when it runs. */
		if (strpbrk(n->str, " \t") != NULL) {
			struct strlist words = { 0 };
			char *w, *save = NULL, *copy = xstrdup(n->str), *list;

			for (w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
				strlist_add(&words, w);
			list = strlist_join(&words, ", ");
			cfg_error(x, n, path, "'%s' is one string with spaces, but hooks run "
			    "without a shell; write the program and its arguments as a list: "
			    "[%s]", n->str, list);
			free(list);
			free(copy);
			strlist_free(&words);
			return -1;
		}
		if (cfg_program(x, n, path, &s) < 0)
			return -1;
		strlist_add(&l, s);
		free(s);
	} else if (n->kind == YNODE_SEQ) {
		for (size_t i = 0; i < n->nkids; i++) {
			const struct ynode *it = n->kids[i];

			cfg_path_index(sub, sizeof(sub), path, i);
			if (i == 0) {
				if (cfg_program(x, it, sub, &s) < 0)
					return -1;
				strlist_add(&l, s);
				free(s);
				continue;
			}
			/* An argument may be empty; it must still be a string. */
			if (it->kind != YNODE_SCALAR || cfg_null(it)) {
				cfg_error(x, it, sub, "expected a string, got %s", ynode_describe(it));
				strlist_free(&l);
				return -1;
			}
			strlist_add(&l, it->str);
		}
	} else if (!cfg_null(n)) {
		return cfg_error(x, n, path,
		    "expected a program and its arguments as a list, got %s", ynode_describe(n));
	}
	/* An empty list (or null) removes a hook inherited from defaults. */
	strlist_free(out);
	*out = l;
	return 0;
}

/*
 * What the daemon's mkdir_p() will meet: dir itself, or else its nearest
 * existing ancestor, must be a directory the calling user can write to.
 * A file in the way ("state_dir: /etc/hostname") is named as such.
 */
int cfg_host_dir(struct cfg_ctx *x, const struct ynode *n, const char *path, const char *dir)
{
	const char *dflt = n == NULL ? " (the default)" : "";
	char *p = NULL;
	struct stat st;
	int rc = -1;

	if (!(x->flags & CONFIG_LOAD_HOST))
		return 0;
	p = xstrdup(dir);
	for (;;) {
		char *slash;

		if (stat(p, &st) == 0)
			break;
		if (errno != ENOENT && errno != ENOTDIR) {
			cfg_error(x, n, path, "cannot use '%s'%s: %s: %s", dir, dflt, p,
			    strerror(errno));
			goto out;
		}
		/* Strip the last component: "/a/b" -> "/a", "/a" -> "/". */
		slash = strrchr(p, '/');
		if (slash == NULL || strcmp(p, "/") == 0) {
			cfg_error(x, n, path, "cannot use '%s'%s: %s", dir, dflt, strerror(errno));
			goto out;
		}
		if (slash == p)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	if (!S_ISDIR(st.st_mode)) {
		if (strcmp(p, dir) == 0)
			cfg_error(x, n, path, "'%s'%s exists and is not a directory", dir, dflt);
		else
			cfg_error(x, n, path, "cannot create '%s'%s: '%s' is not a directory", dir,
			    dflt, p);
		goto out;
	}
	/* As the calling user: the daemon at start, the operator at --check. */
	if (faccessat(AT_FDCWD, p, W_OK | X_OK, AT_EACCESS) < 0) {
		if (strcmp(p, dir) == 0)
			cfg_error(x, n, path, "directory '%s'%s is not writable: %s", dir, dflt,
			    strerror(errno));
		else
			cfg_error(x, n, path, "cannot create '%s'%s: '%s' is not writable: %s",
			    dir, dflt, p, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(p);
	return rc;
}

/* Opens path for reading as a regular file; -1 with the error written. */
static int open_regular(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *file, struct stat *st)
{
	int fd;

	/* O_NONBLOCK: a FIFO put there by mistake must not hang a reload. */
	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0)
		return cfg_error(x, n, path, "cannot open '%s': %s", file, strerror(errno));
	if (fstat(fd, st) < 0) {
		cfg_error(x, n, path, "cannot stat '%s': %s", file, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		cfg_error(x, n, path, "'%s' is not a regular file", file);
		close(fd);
		return -1;
	}
	return fd;
}

int cfg_ca_bundle(struct cfg_ctx *x, const struct ynode *n, const char *path, char **out)
{
	char *file = NULL, *data = NULL;
	struct stat st;
	size_t len;
	int fd = -1, rc = -1;

	*out = NULL;
	if (cfg_path(x, n, path, &file) < 0)
		goto out;
	if ((fd = open_regular(x, n, path, file, &st)) < 0)
		goto out;
	if (cfg_read_fd(fd, CA_BUNDLE_MAX, &data, &len) < 0) {
		cfg_error(x, n, path, "cannot read '%s': %s", file, strerror(errno));
		goto out;
	}
	if (strstr(data, "-----BEGIN CERTIFICATE-----") == NULL) {
		cfg_error(x, n, path, "'%s' holds no PEM certificate", file);
		goto out;
	}
	*out = file;
	file = NULL;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(data);
	free(file);
	return rc;
}

/* Decodes the key text; the error never shows it. */
static int decode_hmac(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *text, size_t textlen, const char *where, unsigned char **key, size_t *keylen)
{
	if (memchr(text, '\0', textlen) != NULL || b64url_decode(text, key, keylen) < 0)
		return cfg_error(x, n, path, "%s is not valid base64url (the HMAC key as SCM "
		    "shows it)", where);
	if (*keylen == 0) {
		free_secret(*key, 1);
		*key = NULL;
		return cfg_error(x, n, path, "%s is empty", where);
	}
	return 0;
}

int cfg_hmac_key(struct cfg_ctx *x, const struct ynode *inline_node,
    const struct ynode *file_node, const char *path, unsigned char **key, size_t *keylen)
{
	char *file = NULL, *data = NULL, *where = NULL;
	struct stat st;
	size_t len = 0;
	int fd = -1, rc = -1;

	*key = NULL;
	*keylen = 0;
	if (inline_node != NULL) {
		if (x->file_mode & (S_IRGRP | S_IROTH)) {
			cfg_error(x, inline_node, path, "permissions %04o for '%s' are too open; "
			    "it holds an inline EAB HMAC key (chmod 600, or move the key to an "
			    "hmac_key_file)", (unsigned)(x->file_mode & 07777), x->file);
			goto out;
		}
		if (cfg_string(x, inline_node, path, &data) < 0)
			goto out;
		len = strlen(data);
		rc = decode_hmac(x, inline_node, path, data, len, "the EAB HMAC key", key,
		    keylen);
		goto out;
	}
	if (cfg_path(x, file_node, path, &file) < 0)
		goto out;
	if ((fd = open_regular(x, file_node, path, file, &st)) < 0)
		goto out;
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		cfg_error(x, file_node, path, "permissions %04o for '%s' are too open; it holds "
		    "an EAB HMAC key (chmod 600)", (unsigned)(st.st_mode & 07777), file);
		goto out;
	}
	if (cfg_read_fd(fd, HMAC_KEY_FILE_MAX, &data, &len) < 0) {
		cfg_error(x, file_node, path, "cannot read '%s': %s", file, strerror(errno));
		goto out;
	}
	where = xasprintf("the EAB HMAC key in '%s'", file);
	rc = decode_hmac(x, file_node, path, data, len, where, key, keylen);
out:
	if (fd >= 0)
		close(fd);
	free_secret(data, len);
	free(file);
	free(where);
	return rc;
}

/*
 * Reads the file named by n, which must be a regular file of mode 0600 or
 * less (it holds what) and at most max bytes: 0 with its path in *file
 * and its contents in *data (NUL-terminated, *len bytes, the caller
 * frees it with free_secret); -1 after the error, nothing returned.
 */
static int read_owner_only(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *what, size_t max, char **file, char **data, size_t *len)
{
	struct stat st;
	int fd, rc = -1;

	*data = NULL;
	*len = 0;
	if (cfg_path(x, n, path, file) < 0)
		return -1;
	if ((fd = open_regular(x, n, path, *file, &st)) < 0)
		goto out;
	if ((st.st_mode & 07777) & ~(mode_t)0600) {
		cfg_error(x, n, path, "permissions %04o for '%s' are too open; it holds %s "
		    "(chmod 600)", (unsigned)(st.st_mode & 07777), *file, what);
		goto out;
	}
	if (cfg_read_fd(fd, max, data, len) < 0) {
		cfg_error(x, n, path, "cannot read '%s': %s", *file, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		free_secret(*data, *len);
		*data = NULL;
		*len = 0;
		free(*file);
		*file = NULL;
	}
	return rc;
}

int cfg_secret_line(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *what, const char *value, char **secret, size_t *secretlen)
{
	char *file = NULL, *data = NULL;
	size_t len = 0;
	int rc = -1;

	*secret = NULL;
	*secretlen = 0;
	if (read_owner_only(x, n, path, what, SECRET_FILE_MAX, &file, &data, &len) < 0)
		goto out;
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' ||
	    data[len - 1] == ' ' || data[len - 1] == '\t'))
		data[--len] = '\0';
	if (len == 0) {
		cfg_error(x, n, path, "'%s' is empty; it must hold %s", file, value);
		goto out;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)data[i] < ' ' && data[i] != '\t') {
			/* Never show the secret itself. */
			cfg_error(x, n, path, "'%s' must hold one line (%s) without control "
			    "characters", file, value);
			goto out;
		}
	}
	*secret = data;
	*secretlen = len;
	data = NULL;
	rc = 0;
out:
	free_secret(data, len);
	free(file);
	return rc;
}

int cfg_private_key_file(struct cfg_ctx *x, const struct ynode *n, const char *path,
    const char *what, char **out)
{
	char *file = NULL, *data = NULL;
	size_t len = 0;
	int rc = -1;

	*out = NULL;
	if (read_owner_only(x, n, path, what, PRIVATE_KEY_FILE_MAX, &file, &data, &len) < 0)
		goto out;
	if (strstr(data, "-----BEGIN ") == NULL || strstr(data, "PRIVATE KEY-----") == NULL) {
		cfg_error(x, n, path, "'%s' holds no PEM private key", file);
		goto out;
	}
	*out = file;
	file = NULL;
	rc = 0;
out:
	free_secret(data, len);
	free(file);
	return rc;
}
