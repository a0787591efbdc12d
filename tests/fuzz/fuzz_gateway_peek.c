/* fuzz_gateway_peek.c - libFuzzer target: the SNI-passthrough peek
 * (gateway/peek.h) on arbitrary first bytes of a connection, then the
 * ClientHello parser and JA4 on what it accepted, as step_peek() does.
 * Invariants checked: a reported hello lies within the input; every shorter
 * prefix of a hello is "need more", never "not a hello" (so a hello arriving
 * in pieces is never refused); more bytes never change a decision already
 * made on a prefix. */
#include "gateway/peek.h"
#include "tls/hello.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t used = 0;
    int r = gw_peek_hello(data, size, &used);
    if (r == GW_PEEK_HELLO) {
        if (used == 0 || used > size || used > GW_PEEK_MAX) abort();
        /* the arrival in pieces: each shorter prefix asks for more */
        size_t cuts[4] = {0, 1, used / 2, used - 1};
        for (int i = 0; i < 4; i++) {
            size_t u2;
            if (cuts[i] < used && gw_peek_hello(data, cuts[i], &u2) != GW_PEEK_MORE) abort();
        }
        static struct hilt_client_hello h;
        if (hilt_client_hello_parse(data, used, 1, &h) == 0) {
            char ja4[40];
            hilt_ja4(&h, ja4);
        }
    } else if (used != 0) {
        abort();
    }
    /* more bytes never change a decision already made on a prefix */
    size_t uh = 0;
    int rh = gw_peek_hello(data, size / 2, &uh);
    if (rh == GW_PEEK_NOT_HELLO && r != GW_PEEK_NOT_HELLO) abort();
    if (rh == GW_PEEK_HELLO && (r != GW_PEEK_HELLO || uh != used)) abort();
    return 0;
}
