/* peek.c - finding a whole ClientHello in the first bytes of a connection
 * (peek.h). Bounds-checked by hand: every index is compared with n first. */
#include "gateway/peek.h"

int gw_peek_hello(const uint8_t *p, size_t n, size_t *used)
{
    size_t off = 0, total = 0, need = 0, nh = 0;
    uint8_t head[4];
    if (used) *used = 0;
    for (;;) {
        /* TLSPlaintext (RFC 8446 §5.1): type 22, legacy_record_version 3.x, length */
        if (n - off >= 1 && p[off] != 22) return GW_PEEK_NOT_HELLO;
        if (n - off >= 2 && p[off + 1] != 3) return GW_PEEK_NOT_HELLO;
        if (n - off < 5) return GW_PEEK_MORE;
        size_t len = (size_t)p[off + 3] << 8 | p[off + 4];
        if (len == 0 || len > 16384 || off + 5 + len > GW_PEEK_MAX) return GW_PEEK_NOT_HELLO;
        if (n - off - 5 < len) return GW_PEEK_MORE;
        const uint8_t *frag = p + off + 5;
        /* the handshake header (type, 24-bit length) may itself span records */
        for (size_t i = 0; i < len && nh < 4; i++)
            head[nh++] = frag[i];
        if (nh == 4 && !need) {
            if (head[0] != 1) return GW_PEEK_NOT_HELLO;
            need = 4 + ((size_t)head[1] << 16 | (size_t)head[2] << 8 | head[3]);
            if (need > GW_PEEK_MAX) return GW_PEEK_NOT_HELLO;
        }
        total += len;
        off += 5 + len;
        if (need && total >= need) {
            if (used) *used = off;
            return GW_PEEK_HELLO;
        }
    }
}
