/* profile.h - what a client offers: versions, ciphers, suites, groups, security level.
 *
 * The probe's --profile picks one of these. `default` is what an OpenSSL 3
 * client offers at security level 2 (independent of the machine's
 * openssl.cnf), `modern` is TLS 1.3 only with Mozilla's modern groups,
 * `legacy` is TLS 1.0-1.3 at security level 0. `all` is internal: the widest
 * offer OpenSSL 3 can make, used by differential re-probing to learn what a
 * server accepts. The table is static data; nothing here allocates.
 */
#ifndef HILT_TLS_PROFILE_H
#define HILT_TLS_PROFILE_H

struct hilt_client_profile {
    const char *name;
    const char *description;
    int min_version; /* TLS1_VERSION … TLS1_3_VERSION */
    int max_version;
    const char *cipher_list;  /* TLS <= 1.2, OpenSSL syntax */
    const char *ciphersuites; /* TLS 1.3 */
    const char *groups;       /* NULL: OpenSSL's default list */
    int sec_level;
    int internal; /* not offered to users */
};

const struct hilt_client_profile *hilt_client_profile_find(const char *name);
/* NULL-terminated iteration over the user-visible profiles. */
const struct hilt_client_profile *hilt_client_profile_at(int i);
/* "TLSv1.2" for TLS1_2_VERSION etc.; "unknown" otherwise. */
const char *hilt_tls_version_str(int version);
/* Inverse of hilt_tls_version_str; 0 when unknown. */
int hilt_tls_version_from_str(const char *name);
/* "TLSv1.2–TLSv1.3" or "TLSv1.3". */
void hilt_tls_version_range(int min, int max, char *out, unsigned long cap);

/* Every group name the `all` profile offers (for reporting). */
extern const char hilt_all_groups[];

#endif
