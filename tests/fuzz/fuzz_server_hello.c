/* fuzz_server_hello.c - libFuzzer target: the server flight parser
 * (hilt_server_flight_parse), which reads hostile ServerHellos, alerts,
 * certificates and key exchanges from scanned peers. The first byte picks
 * whether the rest of the flight is wanted. */
#include "tls/hello.h"

#include <openssl/err.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct hilt_server_flight f = {0};
    hilt_server_flight_parse(data + 1, size - 1, data[0] & 1, &f);
    for (int i = 0; i < f.ncerts; i++) X509_free(hilt_server_flight_cert(&f, i));
    hilt_server_flight_free(&f);
    ERR_clear_error();
    return 0;
}
