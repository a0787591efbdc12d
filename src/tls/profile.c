/* profile.c - the client offer table. */
#include "tls/profile.h"

#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

/* OpenSSL 3.0's built-in defaults, spelled out so the machine's openssl.cnf
 * (Debian sets MinProtocol and CipherString there) cannot change them. */
#define OSSL3_SUITES "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define OSSL3_GROUPS "X25519:P-256:X448:P-521:P-384:ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192"

const char hilt_all_groups[] = "X25519:P-256:P-384:P-521:X448:ffdhe2048:ffdhe3072:ffdhe4096:"
                               "ffdhe6144:ffdhe8192:brainpoolP256r1:brainpoolP384r1:"
                               "brainpoolP512r1:secp256k1";

static const struct hilt_client_profile profiles[] = {
    {"default", "what an OpenSSL 3 client offers at security level 2: TLS 1.2-1.3",
     TLS1_2_VERSION, TLS1_3_VERSION, "DEFAULT:@SECLEVEL=2", OSSL3_SUITES, OSSL3_GROUPS, 2, 0},
    {"modern", "TLS 1.3 only, X25519/P-256/P-384 (Mozilla modern)", TLS1_3_VERSION,
     TLS1_3_VERSION, "DEFAULT:@SECLEVEL=2", OSSL3_SUITES, "X25519:P-256:P-384", 2, 0},
    {"legacy", "TLS 1.0-1.3, every cipher OpenSSL has, security level 0", TLS1_VERSION,
     TLS1_3_VERSION, "ALL:@SECLEVEL=0", OSSL3_SUITES, OSSL3_GROUPS, 0, 0},
    {"all", "internal: the widest offer, for differential re-probing", TLS1_VERSION,
     TLS1_3_VERSION, "ALL:COMPLEMENTOFALL:@SECLEVEL=0",
     OSSL3_SUITES ":TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256", hilt_all_groups, 0, 1},
};

const struct hilt_client_profile *hilt_client_profile_find(const char *name)
{
    for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
        if (!strcmp(profiles[i].name, name)) return &profiles[i];
    return NULL;
}

const struct hilt_client_profile *hilt_client_profile_at(int i)
{
    int n = 0;
    for (size_t k = 0; k < sizeof(profiles) / sizeof(profiles[0]); k++) {
        if (profiles[k].internal) continue;
        if (n++ == i) return &profiles[k];
    }
    return NULL;
}

static const struct {
    int v;
    const char *name;
} versions[] = {{SSL3_VERSION, "SSLv3"},     {TLS1_VERSION, "TLSv1.0"}, {TLS1_1_VERSION, "TLSv1.1"},
                {TLS1_2_VERSION, "TLSv1.2"}, {TLS1_3_VERSION, "TLSv1.3"}};

const char *hilt_tls_version_str(int version)
{
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (versions[i].v == version) return versions[i].name;
    return "unknown";
}

int hilt_tls_version_from_str(const char *name)
{
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
        if (!strcmp(versions[i].name, name)) return versions[i].v;
    if (!strcmp(name, "TLSv1")) return TLS1_VERSION;
    return 0;
}

void hilt_tls_version_range(int min, int max, char *out, unsigned long cap)
{
    if (min == max)
        snprintf(out, cap, "%s", hilt_tls_version_str(min));
    else
        snprintf(out, cap, "%s to %s", hilt_tls_version_str(min), hilt_tls_version_str(max));
}
