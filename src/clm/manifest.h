/* manifest.h - certificate manifests (`kind: Certificate`, docs/clm.md):
 * the model, the bounded YAML loader with file:line:column errors, and the
 * canonical JSON form the store keeps (so renewal needs no manifest files).
 *
 * Three hashes of the canonical form decide what an apply does: cert_hash
 * (names, duration, key, issuer: a new certificate), deploy_hash (targets:
 * the same certificate deployed again), spec_hash (everything).
 *
 * Ownership: a struct hilt_manifest owns every string in it; free it with
 * hilt_manifest_free(). A manifest set owns its manifests.
 */
#ifndef HILT_CLM_MANIFEST_H
#define HILT_CLM_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

struct hilt_err;

#define HILT_MANIFEST_MAX_BYTES (256u * 1024)
#define HILT_MANIFEST_MAX_DEPTH 8
#define HILT_MANIFEST_MAX_NODES 5000
#define HILT_MANIFEST_MAX_SCALAR 4096
#define HILT_MANIFEST_TARGETS_MAX 16
#define HILT_MANIFEST_NAMES_MAX 100
#define HILT_MANIFESTS_MAX 10000 /* files in one DIR */

struct hilt_target {
    char *cert, *key, *chain; /* absolute paths, or NULL */
    unsigned cert_mode, key_mode;
};

struct hilt_manifest {
    char *name;
    char *source; /* the file it came from ("store" when read back from the store) */
    int line;     /* where `metadata.name` is, for messages */
    char *common_name;
    char *names[HILT_MANIFEST_NAMES_MAX]; /* DNS names then IP addresses; commonName first */
    size_t nnames;
    int64_t duration;     /* seconds */
    int64_t renew_before; /* seconds; 0 = 2/3 of the lifetime */
    char key_type[16];    /* hilt's key type name: ec-p256, rsa-2048, ed25519, … */
    int rotate_never;     /* rotationPolicy: Never (keep the key) */
    char *issuer;         /* CA name */
    char *owner, *service, *env, *policy;
    struct hilt_target targets[HILT_MANIFEST_TARGETS_MAX];
    size_t ntargets;
    char *reload;
    int history_limit;
    char cert_hash[65], deploy_hash[65], spec_hash[65];
};

void hilt_manifest_free(struct hilt_manifest *m);

/* Parse one manifest held in memory. `source` names it in messages;
 * relative target paths are resolved against `basedir`. HILT_E_INPUT on
 * anything malformed, with source:line:column. */
int hilt_manifest_parse(const void *data, size_t len, const char *source, const char *basedir,
                        struct hilt_manifest *m, struct hilt_err *e);
int hilt_manifest_load_file(const char *path, struct hilt_manifest *m, struct hilt_err *e);

/* The canonical JSON (no source, absolute paths, defaults filled in);
 * caller frees. NULL when out of memory. */
char *hilt_manifest_to_json(const struct hilt_manifest *m);
int hilt_manifest_from_json(const char *json, struct hilt_manifest *m, struct hilt_err *e);

struct hilt_manifest_set {
    struct hilt_manifest *v;
    size_t n;
};
/* PATH is a manifest file, or a directory whose *.yaml / *.yml files (not
 * recursive) are manifests, loaded in name order. Every file is loaded and
 * checked; duplicate names and targets shared by two manifests are errors. */
int hilt_manifest_load_path(const char *path, struct hilt_manifest_set *out, struct hilt_err *e);
void hilt_manifest_set_free(struct hilt_manifest_set *s);

#endif
