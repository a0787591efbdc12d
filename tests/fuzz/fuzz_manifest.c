/* fuzz_manifest.c - libFuzzer target: the certificate manifest loader
 * (clm/manifest.h) over arbitrary bytes - YAML syntax, structure, names,
 * durations, modes, paths - and, for what loads, the canonical JSON round
 * trip the store relies on (same hashes back). Deterministic: no clock, no
 * I/O. */
#include "clm/manifest.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hilt_manifest m;
    if (hilt_manifest_parse(data, size, "fuzz.yaml", "/srv/tls", &m, NULL) == 0) {
        char *js = hilt_manifest_to_json(&m);
        struct hilt_manifest back;
        if (js && hilt_manifest_from_json(js, &back, NULL) == 0) {
            if (strcmp(back.spec_hash, m.spec_hash) || strcmp(back.cert_hash, m.cert_hash) ||
                strcmp(back.deploy_hash, m.deploy_hash))
                abort();
            hilt_manifest_free(&back);
        }
        free(js);
        hilt_manifest_free(&m);
    }
    return 0;
}
