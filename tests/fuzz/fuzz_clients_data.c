/* fuzz_clients_data.c - libFuzzer target: the client-profile loader
 * (data/clients.json schema), then the JSON form, the ClientHello each loaded
 * profile builds, and its impact against the built-in profiles. */
#include "core/buf.h"
#include "core/err.h"
#include "policy/clients.h"
#include "policy/impact.h"
#include "policy/policy.h"
#include "tls/hello.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hilt_err e = {0};
    struct hilt_clients *cs = NULL;
    if (hilt_clients_load_mem(data, size, "fuzz.json", &cs, &e) == 0) {
        const struct hilt_policy *bp = hilt_policy_builtin(NULL);
        for (size_t i = 0; i < cs->n && i < 16; i++) {
            const struct hilt_client *c = &cs->v[i];
            json_t *j = hilt_client_json(c, 1);
            char *s = json_dumps(j, 0);
            free(s);
            json_decref(j);
            struct hilt_ch_spec spec;
            struct hilt_client_spec_buf sb;
            hilt_client_ch_spec(c, "fuzz.example", &spec, &sb);
            struct hilt_buf b;
            hilt_buf_init(&b, 1 << 16);
            if (hilt_client_hello_build(&spec, &b, NULL) == 0) {
                struct hilt_client_hello ch;
                hilt_client_hello_parse(b.data, b.len, 1, &ch);
            }
            hilt_buf_free(&b);
            struct hilt_offer o;
            hilt_offer_from_client(c, &o);
            for (size_t k = 0; bp && k < bp->nprofiles; k++) {
                struct hilt_impact r;
                hilt_impact_eval(&o, &bp->profiles[k], &r);
            }
        }
        hilt_clients_free(&cs);
    }
    return 0;
}
