/* deploy.h - a manifest's files on disk (docs/clm.md, "Revisions and atomic
 * deployment"): DATA = <first target's directory>/.hilt/<name>/ holds one
 * directory per revision (rev-N/, files t<i>.crt, t<i>.key, t<i>.chain.pem
 * with the modes asked for) and the link `current -> rev-N`; every target
 * path is a link to DATA/current/<file>. Switching revisions is one rename()
 * of the `current` link, so every file of every target changes at once.
 *
 * Nothing here talks to the store or the CA; clm.c orders these steps
 * around the store's records.
 */
#ifndef HILT_CLM_DEPLOY_H
#define HILT_CLM_DEPLOY_H

#include "clm/manifest.h"

#include <stddef.h>

struct hilt_err;

#define HILT_DEPLOY_PATH_MAX 4096

/* DATA for a manifest. */
int hilt_deploy_data_dir(const struct hilt_manifest *m, char *out, size_t cap, struct hilt_err *e);

/* Create DATA (0755) and take its exclusive lock. wait = 0: return 1 at
 * once when another process holds it. The lock ends with the process too
 * (flock), so a killed apply never leaves it taken. */
int hilt_deploy_lock(const char *data_dir, int wait, int *fd, struct hilt_err *e);
void hilt_deploy_unlock(int fd);

/* What revision N's files hold. */
struct hilt_bundle {
    const char *cert;  /* leaf PEM */
    const char *key;   /* private key PEM (PKCS#8) */
    const char *chain; /* leaf + intermediates PEM */
};
/* The file name of a target's file in a revision directory ("t0.crt"). */
void hilt_deploy_file(size_t target, int which, char *out,
                      size_t cap); /* which: 0 cert 1 key 2 chain */

/* Write DATA/revdir/ completely (removing a leftover of the same name
 * first), every file fsync'd, then the directory. */
int hilt_deploy_write_rev(const char *data_dir, const char *revdir, const struct hilt_manifest *m,
                          const struct hilt_bundle *b, struct hilt_err *e);
/* Read one file of a revision (a redeploy with changed targets reuses the
 * certificate and key of the current one). *out is NUL-terminated, the
 * caller's (key material: cleanse before freeing). */
int hilt_deploy_read_rev(const char *data_dir, const char *revdir, size_t target, int which,
                         char **out, struct hilt_err *e);

/* The revision `current` points at: 1 found (out = "rev-N"), 0 none, -1 error. */
int hilt_deploy_current(const char *data_dir, char *out, size_t cap);
/* Point `current` at revdir: a new link renamed over the old one, then the
 * directory fsync'd. The commit point of an apply. */
int hilt_deploy_switch(const char *data_dir, const char *revdir, struct hilt_err *e);

/* Make every target path a link to DATA/current/<file>, creating missing
 * parent directories. Regular files found at target paths (deployed before
 * hilt managed them) are adopted first: copied into DATA/rev-0/, `current`
 * pointed there when nothing else is current, and replaced by links to
 * identical files, so every step shows complete old content. */
int hilt_deploy_link_targets(const char *data_dir, const struct hilt_manifest *m,
                             struct hilt_err *e);

/* Are the targets showing revdir's files, with the certificate whose
 * SHA-256 is given? 1 yes, 0 no (why says what differs), -1 error. */
int hilt_deploy_check(const char *data_dir, const char *revdir, const struct hilt_manifest *m,
                      const char *cert_sha256, char *why, size_t cap);

/* Remove DATA/revdir/ (its files, then it). Refuses the current one. */
int hilt_deploy_remove_rev(const char *data_dir, const char *revdir);
/* Revision directories present under DATA ("rev-N"), for pruning;
 * callback returns non-zero to stop. */
int hilt_deploy_list_revs(const char *data_dir, int (*cb)(const char *revdir, void *arg),
                          void *arg);

#endif
