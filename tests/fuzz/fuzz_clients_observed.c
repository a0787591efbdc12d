/* fuzz_clients_observed.c - libFuzzer target: the observed-clients JSON a
 * gateway serves on GET /observed (hilt policy impact --observed), then every
 * loaded client evaluated against the built-in profiles. */
#include "core/err.h"
#include "policy/impact.h"
#include "policy/policy.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hilt_err e = {0};
    struct hilt_observed *ob = NULL;
    if (hilt_observed_load_mem(data, size, "fuzz.json", &ob, &e) == 0) {
        const struct hilt_policy *bp = hilt_policy_builtin(NULL);
        for (size_t i = 0; i < ob->n && i < 64; i++) {
            struct hilt_offer o;
            hilt_offer_from_observed(&ob->v[i], &o);
            for (size_t k = 0; bp && k < bp->nprofiles; k++) {
                struct hilt_impact r;
                hilt_impact_eval(&o, &bp->profiles[k], &r);
                json_t *j = hilt_impact_json(&r);
                char *s = json_dumps(j, 0);
                free(s);
                json_decref(j);
            }
        }
        hilt_observed_free(&ob);
    }
    return 0;
}
