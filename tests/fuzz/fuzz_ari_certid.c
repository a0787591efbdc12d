/* fuzz_ari_certid.c - libFuzzer target: RFC 9773 certIDs (the last path segment
 * of GET /acme/renewal-info/, and newOrder's "replaces") through
 * hilt_ari_certid_parse(); a parsed one must give a lowercase hex serial of an
 * even length within 40 digits. The rest of the input, split at the first NUL,
 * drives the override selection (a name pattern against a name list) and the
 * default window arithmetic with the bytes as times. */
#include "api/ari.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    unsigned char kid[64];
    size_t kl = 0;
    char serial[80];
    if (hilt_ari_certid_parse(s, kid, &kl, serial, NULL) == 0) {
        size_t n = strlen(serial);
        if (kl == 0 || kl > 64 || n == 0 || n > 40 || n % 2) abort();
        for (size_t i = 0; i < n; i++)
            if (!strchr("0123456789abcdef", serial[i])) abort();
    }
    /* "PATTERN\0NAMES" */
    size_t pl = strlen(s);
    const char *names = pl < size ? s + pl + 1 : "";
    struct hilt_acme_ari_override o = {.kind = "names", .match = s, .cert_id_max = 100};
    hilt_ari_override_selects(&o, "48aa", names, 50);
    int64_t a = 0, b = 0, st, en;
    memcpy(&a, data, size < 8 ? size : 8);
    if (size > 8) memcpy(&b, data + 8, size - 8 < 8 ? size - 8 : 8);
    a %= (int64_t)1 << 40;
    b %= (int64_t)1 << 40;
    hilt_ari_default_window(a, b, &st, &en);
    if (en <= st) abort();
    free(s);
    return 0;
}
