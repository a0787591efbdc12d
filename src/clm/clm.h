/* clm.h - certificate-as-code: plan, apply, rollback and renewal of
 * manifests (docs/clm.md), over the CA (ca/ca.h), the store and the
 * deployment directories (clm/deploy.h).
 *
 * Every entry point first recovers interrupted applies (staged revisions)
 * so the store agrees with the files, then checks every manifest (its CA,
 * its names and lifetime against the CA's rules and its policy profile)
 * before it issues or writes anything.
 *
 * Ownership: result arrays are the caller's (free()); manifests, the store
 * and the policy are borrowed.
 */
#ifndef HILT_CLM_CLM_H
#define HILT_CLM_CLM_H

#include "clm/manifest.h"

#include <stddef.h>
#include <stdint.h>

struct hilt_err;
struct hilt_store;
struct hilt_policy;

enum hilt_clm_action {
    HILT_CLM_UNCHANGED,
    HILT_CLM_CREATE,
    HILT_CLM_REISSUE,
    HILT_CLM_RENEW,
    HILT_CLM_REDEPLOY,
    HILT_CLM_REPAIR,
    HILT_CLM_UPDATE,
    HILT_CLM_ROLLBACK,
    HILT_CLM_UNMANAGED,
};
const char *hilt_clm_action_name(enum hilt_clm_action a);

struct hilt_clm_opts {
    struct hilt_store *st;
    const char *home;                 /* HILT_HOME: CA keys */
    const struct hilt_policy *policy; /* --policy FILE, or NULL: built-in profiles only */
    int dry_run;                      /* plan */
};

struct hilt_clm_result {
    char name[64];
    char file[512];
    enum hilt_clm_action action;
    char reason[400];
    int64_t current_rev; /* before */
    int64_t rev;         /* after (the new revision, or current_rev) */
    char serial[64], sha256[65];
    int64_t not_after, renew_at;
    int reloaded; /* -1 no reload command or nothing changed, 0 failed, 1 ok */
    int failed;   /* this manifest failed at run time; error says why */
    char error[700];
    int64_t attempts, next_attempt_at; /* renewal state, when failing */
    char last_error[400];
};

/* Finish or abandon interrupted applies so the store agrees with the files. */
int hilt_clm_recover(struct hilt_store *st, struct hilt_err *e);

/* Plan (o->dry_run) or apply every manifest of the set. Results: one per
 * manifest, then one per manifest in the store that the set does not hold
 * (unmanaged). Returns 0 when done, 1 when a manifest failed at run time
 * (see results), -1 when a manifest was refused or the store failed: then
 * nothing was issued or written. */
int hilt_clm_apply(const struct hilt_clm_opts *o, const struct hilt_manifest_set *ms,
                   struct hilt_clm_result **res, size_t *nres, struct hilt_err *e);

/* Deploy revision `to` of manifest `name` again, as a new revision. */
int hilt_clm_rollback(const struct hilt_clm_opts *o, const char *name, int64_t to,
                      struct hilt_clm_result *res, struct hilt_err *e);

/* names NULL: every manifest past its renewal point (--due); else those
 * manifests now, whatever their renewal point or backoff. Returns as
 * hilt_clm_apply; a renewal that failed, or waits for its next attempt,
 * makes it return 1. */
int hilt_clm_renew(const struct hilt_clm_opts *o, const char *const *names, size_t nnames,
                   struct hilt_clm_result **res, size_t *nres, struct hilt_err *e);

/* When a certificate of this manifest is due: notAfter - renewBefore, or
 * 2/3 of its lifetime, minus a jitter derived from its SHA-256. */
int64_t hilt_clm_renew_at(const struct hilt_manifest *m, int64_t not_before, int64_t not_after,
                          const char *sha256);
/* The wait before renewal attempt `attempts` + 1 (1 min doubling to 6 h, ±10 %). */
int64_t hilt_clm_backoff(int64_t attempts, const char *name);

#endif
