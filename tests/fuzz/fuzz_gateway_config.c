/* fuzz_gateway_config.c - libFuzzer target: the gateway config loader (the
 * bounded YAML tree, every section's checks, profile resolution through the
 * policy module) from memory. Nothing is read from disk or bound: paths are
 * resolved but not opened. */
#include "core/err.h"
#include "gateway/config.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hilt_err e = {0};
    struct gw_config *c = NULL;
    if (gw_config_load_mem(data, size, "/fuzz/gw.yaml", &c, &e) == 0) {
        for (size_t i = 0; i < c->nlisteners; i++)
            for (size_t r = 0; r < c->listeners[i].nroutes; r++)
                (void)gw_name_match(c->listeners[i].routes[r].sni, "a.example");
        gw_config_free(&c);
    }
    return 0;
}
