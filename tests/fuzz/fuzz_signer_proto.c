/* fuzz_signer_proto.c - libFuzzer target: the signer protocol's parsers
 * (ca/sigproto.h). The signer child parses requests from the network-facing
 * parent, and the parent parses the child's answers; neither may read
 * outside its frame or accept inconsistent counts. Deterministic. */
#include "ca/sigproto.h"

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hilt_sigproto_req r;
    if (hilt_sigproto_req_parse(data, size, &r, NULL) == 0 && r.op == HILT_SIGOP_SIGN) {
        /* a parsed request re-encodes to the same bytes */
        struct hilt_buf b;
        hilt_buf_init(&b, HILT_SIGPROTO_FRAME_MAX + 8);
        if (hilt_sigproto_req_encode(&b, r.op, r.md, r.digests, r.count, r.dlen) < 0 ||
            b.len - 4 != size)
            abort();
        hilt_buf_free(&b);
    }
    static uint8_t sigs[HILT_SIGPROTO_BATCH_MAX * HILT_SIG_MAX];
    size_t lens[HILT_SIGPROTO_BATCH_MAX];
    size_t count = size ? (size_t)data[0] % HILT_SIGPROTO_BATCH_MAX + 1 : 1;
    hilt_sigproto_sign_resp_parse(data, size, count, sigs, lens, NULL);
    const uint8_t *spki;
    size_t sl;
    char desc[64];
    hilt_sigproto_hello_resp_parse(data, size, &spki, &sl, desc, sizeof(desc), NULL);
    return 0;
}
