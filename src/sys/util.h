/*
 * util.h - small helpers shared by every module: checked allocation, a
 * growable byte buffer and string lists.
 *
 * Allocation failure aborts the process (after logging): certfleet's
 * allocations are small and a daemon that cannot allocate a few hundred
 * bytes cannot do anything useful; systemd restarts it.
 */
#ifndef CERTFLEET_UTIL_H
#define CERTFLEET_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
/* Hands memory freed after a large transient structure back to the system
 * (nothing where the allocator cannot). */
void mem_give_back(void);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);           /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

/* Overwrites then frees a secret (private key PEM, HMAC key). NULL is fine. */
void free_secret(void *p, size_t len);
void free_secret_str(char *s);

/* Growable buffer, always NUL-terminated (data may be NULL while len==0). */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
void buf_append(struct buf *b, const void *data, size_t len);
void buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);
/* Hands the data to the caller (who frees it) and resets the buffer; an
 * empty buffer yields "" (never NULL). len may be NULL. */
char *buf_steal(struct buf *b, size_t *len);

/* NULL-terminated list of strings. */
struct strlist {
	char **v;
	size_t n;
};
void strlist_add(struct strlist *l, const char *s);
void strlist_free(struct strlist *l);
/* l's strings sorted and de-duplicated (both ASCII case-insensitively): *n
 * of l's own pointers; free() the array only. */
const char **strlist_sorted_set(const struct strlist *l, size_t *n);
/* As sets: order and duplicates ignored, ASCII case-insensitive (the lists
 * hold DNS names). */
bool strlist_equal_sorted(const struct strlist *a, const struct strlist *b);
/* Joins with sep; caller frees. */
char *strlist_join(const struct strlist *l, const char *sep);

/* Wall clock and monotonic clock in seconds (double). */
double now_wall(void);
double now_mono(void);

/* RFC 3339 "2026-11-28T19:33:47Z" into buf (>= 32 bytes); parse returns 0/-1
 * and accepts fractional seconds (dropped) and "Z" or "+hh:mm" offsets. */
void time_format_rfc3339(time_t t, char *buf, size_t len);
int time_parse_rfc3339(const char *s, time_t *out);

/* "90d", "12h", "30m", "45s", "2w", "3600", "1d12h" -> seconds. 0 ok, -1 on
 * garbage, a sign or overflow. */
int duration_parse(const char *s, long long *out);
/* "11d 3h" style for logs and STATUS=, into buf. */
void duration_format(double seconds, char *buf, size_t len);

/* Reads a whole file (max_len cap, EFBIG beyond it). 0 ok, -1 with errno set
 * and nothing logged (the caller knows what the file is for). The data is
 * NUL-terminated; caller frees. */
int read_file(const char *path, char **data, size_t *len, size_t max_len);

/* Levenshtein distance, for "did you mean". */
size_t edit_distance(const char *a, const char *b);

/* Uniform random double in [0,1) from the OS CSPRNG-seeded PRNG. */
double random_unit(void);

/*
 * Hook programs, found the way hooks.c runs them (execvpe, no shell).
 * program_executable: 0 when file is a regular file with an x bit that
 * this user may execute, else -1 with errno (EISDIR for a directory,
 * EACCES without execute permission, ENOENT, ...).
 * program_search_path: PATH, or (unset) the C library's default written
 * into buf.
 * program_find: a name with a slash is checked as it is; a bare name is
 * looked up in search (a PATH value).  0 when runnable; -1 with errno
 * ENOENT when no such file exists, or the errno of a file found but not
 * runnable.
 */
int program_executable(const char *file);
const char *program_search_path(char *buf, size_t len);
int program_find(const char *name, const char *search);

#endif
