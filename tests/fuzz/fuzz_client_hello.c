/* fuzz_client_hello.c - libFuzzer target: ClientHello parsing and JA4
 * (hilt_client_hello_parse + hilt_ja4), which the gateway runs on every
 * client's first bytes. The first byte picks record or message framing. */
#include "tls/hello.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct hilt_client_hello ch;
    if (hilt_client_hello_parse(data + 1, size - 1, data[0] & 1, &ch) == 0) {
        char ja4[40], raw[4096];
        hilt_ja4(&ch, ja4);
        hilt_ja4_raw(&ch, raw, sizeof(raw));
    }
    return 0;
}
