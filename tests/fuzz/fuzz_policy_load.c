/* fuzz_policy_load.c - libFuzzer target: the policy YAML loader (bounded tree
 * builder, field tables, extends: resolution) over bytes from memory, then the
 * JSON form and every renderer over what loaded. */
#include "core/buf.h"
#include "core/err.h"
#include "policy/policy.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hilt_err e = {0};
    struct hilt_policy *p = NULL;
    if (hilt_policy_load_mem(data, size, "fuzz.yaml", &p, &e) == 0) {
        json_t *j = hilt_policy_json(p);
        char *s = json_dumps(j, 0);
        free(s);
        json_decref(j);
        size_t nt;
        const struct hilt_render_target *t = hilt_render_targets(&nt);
        for (size_t i = 0; i < p->nprofiles; i++)
            for (size_t k = 0; k < nt; k++) {
                struct hilt_buf b;
                hilt_buf_init(&b, 1 << 20);
                hilt_policy_render(&p->profiles[i], t[k].name, &b, NULL);
                hilt_buf_free(&b);
            }
        hilt_policy_free(&p);
    }
    return 0;
}
