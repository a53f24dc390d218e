/*
 * preflight.h - what can be checked about a certificate before its order
 * is sent.  An order costs the CA's rate limits (and, at a paid CA, money,
 * with every certificate CT-logged): a certificate that could not be
 * installed or deployed once issued must fail here, with nothing sent.
 * Used by the fleet right before newOrder and by certfleetd --dry-run.
 * Reads only; creates nothing.
 */
#ifndef CERTFLEET_PREFLIGHT_H
#define CERTFLEET_PREFLIGHT_H

#include <stddef.h>

#include "config.h"

/* Room the state directory must have for an order's key, state and a held
 * certificate, with a wide margin. */
#define PREFLIGHT_MIN_FREE_BYTES (1024 * 1024)
#define PREFLIGHT_MIN_FREE_INODES 16

/*
 * Checks, for certificate c of cfg: output_dir (or the directory it would
 * be created in), live/ and archive/NAME can be written; live/NAME can be
 * replaced (install_check_live); files can be given to owner and group;
 * the deploy hook, the post hook and the dns-01 hook exist and are
 * executable; the state directory has room.  0 ok, -1 with one line in err
 * naming the path or program.
 */
int preflight_cert(const struct config *cfg, const struct config_cert *c, char *err,
    size_t errlen);

/*
 * Whether argv0 can be executed as execvp() would find it: a path (with a
 * '/') must be an executable regular file; a bare name must be one in
 * $PATH.  what names the hook in err ("deploy hook").  0 ok, -1.
 */
int preflight_program(const char *argv0, const char *what, char *err, size_t errlen);

#endif
