/*
 * install.h - installs issued material in certbot's layout:
 *
 *   OUT/archive/NAME/{cert,chain,fullchain,privkey}N.pem   (real files)
 *   OUT/archive/NAME/.liveN/{cert,chain,fullchain,privkey}.pem
 *                                      (symlinks to ../certN.pem ...)
 *   OUT/live/NAME -> ../archive/NAME/.liveN
 *
 * so web servers keep reading OUT/live/NAME/fullchain.pem and privkey.pem.
 * With install_opts.combined a fifth file, combinedN.pem (the key followed
 * by the full chain, for haproxy and others that want one file), is part of
 * the same version.  The switch from version N-1 to N is one rename() of
 * the live/NAME symlink: all names change together, a reader never sees the
 * new certificate with the old key.  Every file is written with
 * atomic_write_file().
 *
 * A lineage certbot made (live/NAME a real directory of four links to
 * ../../archive/NAME/xxxN.pem) is adopted in place: the first install
 * writes version N+1 as above and swaps the directory for the symlink with
 * renameat2(RENAME_EXCHANGE), one atomic step, then removes the old
 * directory of links and renames certbot's renewal/NAME.conf to
 * NAME.conf.certfleet so certbot no longer renews it.
 */
#ifndef CERTFLEET_INSTALL_H
#define CERTFLEET_INSTALL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct install_opts {
	const char *output_dir; /* OUT */
	const char *name;       /* NAME */
	uid_t owner;            /* -1: unchanged */
	gid_t group;            /* -1: unchanged */
	mode_t mode;            /* cert/chain/fullchain; privkey is 0600 or 0640 with group */
	bool combined;          /* also combined.pem: key + fullchain, with privkey's mode */
};

struct install_material {
	const char *key_pem;
	size_t key_len;
	const char *cert_pem;       /* leaf */
	const char *chain_pem;      /* intermediates */
	const char *fullchain_pem;  /* leaf + intermediates */
};

/* What live/NAME is. */
enum install_live_kind {
	INSTALL_LIVE_ABSENT,        /* nothing there yet */
	INSTALL_LIVE_CERTFLEET,     /* our symlink to ../archive/NAME/.liveN */
	INSTALL_LIVE_CERTBOT,       /* certbot's directory of four links (and README) */
	INSTALL_LIVE_FOREIGN,       /* anything else: never touched */
	INSTALL_LIVE_KIND__MAX
};
/* "absent", "certfleet", "certbot", "foreign" */
const char *install_live_kind_name(enum install_live_kind k);

/*
 * Classifies OUT/live/NAME.  For certfleet and certbot lineages *version
 * is the live version N; for a foreign one why says what is wrong with it
 * (why may be NULL).
 */
enum install_live_kind install_live_kind(const char *output_dir, const char *name,
    int *version, char *why, size_t whylen);

/*
 * Renames certbot's OUT/renewal/NAME.conf to NAME.conf.certfleet (certbot
 * renews only *.conf), so certbot's timer stops renewing a lineage that
 * certfleet has taken over.  Nothing when there is none.  0 ok, -1 with
 * err.
 */
int install_retire_certbot_conf(const char *output_dir, const char *name, char *err,
    size_t errlen);

/*
 * Writes version N = (highest existing + 1) and switches live/NAME to it.
 * On success returns 0 and the version in *version.  On failure nothing
 * visible changes (the live link still points at the old version) and err
 * says why.
 */
int install_lineage(const struct install_opts *o, const struct install_material *m,
    int *version, char *err, size_t errlen);

/*
 * Whether live/NAME under output_dir may be replaced by install_lineage:
 * 0 when it is absent or a link certfleet made (to ../archive/NAME/.liveN),
 * -1 with a message naming the path otherwise (a directory, a file, a
 * foreign link, output_dir/live not a directory).  Reads only.
 */
int install_check_live(const char *output_dir, const char *name, char *err, size_t errlen);

/*
 * Removes what an interrupted install_lineage() of NAME leaves behind: the
 * symlink live/.NAME.tmp and archive/NAME's atomic-write temporaries.
 * Nothing else is touched.  Returns how many were removed.  For the start
 * of the one daemon that owns the lineage.
 */
unsigned install_sweep_temps(const char *output_dir, const char *name);

/* Paths of the live files, e.g. install_live_path(o, "fullchain.pem"). Caller frees. */
char *install_live_path(const char *output_dir, const char *name, const char *file);

/* Reads live/NAME/fullchain.pem (NULL when absent). Caller frees. */
char *install_read_live(const char *output_dir, const char *name, const char *file,
    size_t *len);

#endif
