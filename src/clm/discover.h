/* discover.h - bringing certificates hilt did not issue into the inventory
 * (docs/clm.md, "Inventory discovery and coverage"): files (PEM bundles,
 * DER, PKCS#12), directories recursively, and `hilt scan --json` results,
 * whose endpoints feed the coverage figure.
 *
 * Ownership: stats are plain memory; the store is borrowed.
 */
#ifndef HILT_CLM_DISCOVER_H
#define HILT_CLM_DISCOVER_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

struct hilt_err;
struct hilt_store;

#define HILT_IMPORT_FILE_MAX (4u << 20)    /* one certificate file */
#define HILT_SCAN_RESULTS_MAX (256u << 20) /* one scan results file */
#define HILT_IMPORT_DEPTH_MAX 32           /* directory nesting */
#define HILT_IMPORT_ERRORS_MAX 16

struct hilt_import_opts {
    const char *password; /* PKCS#12; NULL = empty */
    const char *owner, *service, *env;
};

struct hilt_import_stats {
    int64_t files;        /* files that held certificates */
    int64_t certificates; /* certificates read */
    int64_t added;        /* new to the inventory */
    int64_t known;        /* already there (a new location is recorded) */
    int64_t endpoints;    /* scan results: endpoints seen */
    size_t nerrors;
    char errors[HILT_IMPORT_ERRORS_MAX][300]; /* unreadable files, bad passwords, … */
};

/* Import PATH: a file (an error when it holds no certificate), or a
 * directory walked recursively (files without certificates are skipped,
 * symbolic links are not followed). One store transaction. */
int hilt_import_path(struct hilt_store *st, const char *path, const struct hilt_import_opts *o,
                     struct hilt_import_stats *s, struct hilt_err *e);

/* Import `hilt scan --json` output: every object with a certificate summary
 * (sha256, subject, not_after; with `pem` the certificate itself) is a
 * certificate seen on its target's endpoint. */
int hilt_import_scan_results(struct hilt_store *st, const char *file,
                             const struct hilt_import_opts *o, struct hilt_import_stats *s,
                             struct hilt_err *e);

/* Record one certificate (the import of a single X509; used by both). */
int hilt_import_cert(struct hilt_store *st, X509 *x, const char *source, const char *location_kind,
                     const char *location, const struct hilt_import_opts *o,
                     struct hilt_import_stats *s, struct hilt_err *e);

#endif
