/* sigproto.c - frames of the signer protocol (see sigproto.h), encoded and
 * parsed with bounds on every length. */
#include "ca/sigproto.h"

#include "core/buf.h"
#include "core/err.h"

#include <openssl/obj_mac.h>
#include <string.h>

size_t hilt_sigproto_md_size(int md)
{
    switch (md) {
    case HILT_SIGMD_SHA256:
        return 32;
    case HILT_SIGMD_SHA384:
        return 48;
    case HILT_SIGMD_SHA512:
        return 64;
    }
    return 0;
}

int hilt_sigproto_md_from_nid(int nid)
{
    switch (nid) {
    case NID_sha256:
        return HILT_SIGMD_SHA256;
    case NID_sha384:
        return HILT_SIGMD_SHA384;
    case NID_sha512:
        return HILT_SIGMD_SHA512;
    }
    return 0;
}

const char *hilt_sigproto_md_name(int md)
{
    switch (md) {
    case HILT_SIGMD_SHA256:
        return "SHA256";
    case HILT_SIGMD_SHA384:
        return "SHA384";
    case HILT_SIGMD_SHA512:
        return "SHA512";
    }
    return NULL;
}

int hilt_sigproto_req_parse(const uint8_t *body, size_t len, struct hilt_sigproto_req *out,
                            struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    if (len > HILT_SIGPROTO_FRAME_MAX)
        return hilt_err_set(e, HILT_E_INPUT, 0, "signer request of %zu bytes is over the limit",
                            len);
    struct hilt_rd rd;
    uint8_t ver, op;
    hilt_rd_init(&rd, body, len);
    if (hilt_rd_u8(&rd, &ver) < 0 || hilt_rd_u8(&rd, &op) < 0)
        return hilt_err_set(e, HILT_E_INPUT, 0, "signer request is truncated");
    if (ver != HILT_SIGPROTO_VERSION)
        return hilt_err_set(e, HILT_E_INPUT, 0, "signer protocol version %u is not %d", ver,
                            HILT_SIGPROTO_VERSION);
    if (op == HILT_SIGOP_HELLO) {
        if (hilt_rd_left(&rd))
            return hilt_err_set(e, HILT_E_INPUT, 0, "signer HELLO has trailing bytes");
        out->op = HILT_SIGOP_HELLO;
        return 0;
    }
    if (op != HILT_SIGOP_SIGN) return hilt_err_set(e, HILT_E_INPUT, 0, "unknown signer op %u", op);
    uint8_t md;
    uint16_t count;
    if (hilt_rd_u8(&rd, &md) < 0 || hilt_rd_u16(&rd, &count) < 0)
        return hilt_err_set(e, HILT_E_INPUT, 0, "signer SIGN request is truncated");
    size_t dlen = hilt_sigproto_md_size(md);
    if (!dlen) return hilt_err_set(e, HILT_E_INPUT, 0, "unknown digest %u in SIGN", md);
    if (count == 0 || count > HILT_SIGPROTO_BATCH_MAX)
        return hilt_err_set(e, HILT_E_INPUT, 0, "SIGN of %u digests (1 to %d allowed)", count,
                            HILT_SIGPROTO_BATCH_MAX);
    if (hilt_rd_left(&rd) != (size_t)count * dlen)
        return hilt_err_set(e, HILT_E_INPUT, 0, "SIGN carries %zu digest bytes, not %zu",
                            hilt_rd_left(&rd), (size_t)count * dlen);
    const uint8_t *d;
    if (hilt_rd_bytes(&rd, (size_t)count * dlen, &d) < 0)
        return hilt_err_set(e, HILT_E_INPUT, 0, "signer SIGN request is truncated");
    out->op = HILT_SIGOP_SIGN;
    out->md = md;
    out->count = count;
    out->dlen = dlen;
    out->digests = d;
    return 0;
}

static int add_u32(struct hilt_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return hilt_buf_add(b, x, 4);
}

/* Write the length prefix over the 4 bytes reserved at the start. */
static int seal(struct hilt_buf *out)
{
    if (out->len < 4 || out->len - 4 > HILT_SIGPROTO_FRAME_MAX) return -1;
    uint32_t n = (uint32_t)(out->len - 4);
    out->data[0] = (uint8_t)(n >> 24);
    out->data[1] = (uint8_t)(n >> 16);
    out->data[2] = (uint8_t)(n >> 8);
    out->data[3] = (uint8_t)n;
    return 0;
}

int hilt_sigproto_req_encode(struct hilt_buf *out, enum hilt_sigproto_op op, int md,
                             const uint8_t *digests, size_t count, size_t dlen)
{
    hilt_buf_reset(out);
    if (add_u32(out, 0) < 0 || hilt_buf_add_u8(out, HILT_SIGPROTO_VERSION) < 0 ||
        hilt_buf_add_u8(out, (uint8_t)op) < 0)
        return -1;
    if (op == HILT_SIGOP_SIGN) {
        if (count == 0 || count > HILT_SIGPROTO_BATCH_MAX || dlen != hilt_sigproto_md_size(md))
            return -1;
        if (hilt_buf_add_u8(out, (uint8_t)md) < 0 || hilt_buf_add_u16(out, (uint16_t)count) < 0 ||
            hilt_buf_add(out, digests, count * dlen) < 0)
            return -1;
    }
    return seal(out);
}

int hilt_sigproto_err_encode(struct hilt_buf *out, const char *msg)
{
    size_t n = strlen(msg);
    if (n > 1000) n = 1000;
    hilt_buf_reset(out);
    if (add_u32(out, 0) < 0 || hilt_buf_add_u8(out, 1) < 0 ||
        hilt_buf_add_u16(out, (uint16_t)n) < 0 || hilt_buf_add(out, msg, n) < 0)
        return -1;
    return seal(out);
}

/* An error response: status 1, then the child's message. */
static int child_error(struct hilt_rd *rd, struct hilt_err *e)
{
    uint16_t n;
    const uint8_t *m;
    if (hilt_rd_u16(rd, &n) < 0 || hilt_rd_bytes(rd, n, &m) < 0)
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "signer: malformed error response");
    char msg[1024];
    size_t k = n < sizeof(msg) - 1 ? n : sizeof(msg) - 1;
    for (size_t i = 0; i < k; i++)
        msg[i] = m[i] >= 0x20 && m[i] < 0x7f ? (char)m[i] : '?';
    msg[k] = '\0';
    return hilt_err_set(e, HILT_E_RUNTIME, 0, "signer: %s", msg);
}

int hilt_sigproto_sign_resp_parse(const uint8_t *body, size_t len, size_t count, uint8_t *sigs,
                                  size_t *lens, struct hilt_err *e)
{
    struct hilt_rd rd;
    uint8_t status;
    uint16_t n;
    hilt_rd_init(&rd, body, len);
    if (hilt_rd_u8(&rd, &status) < 0)
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "signer: empty response");
    if (status != 0) return child_error(&rd, e);
    if (hilt_rd_u16(&rd, &n) < 0 || n != count)
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "signer: %zu signatures expected", count);
    for (size_t i = 0; i < count; i++) {
        uint16_t sl;
        const uint8_t *s;
        if (hilt_rd_u16(&rd, &sl) < 0 || sl == 0 || sl > HILT_SIG_MAX ||
            hilt_rd_bytes(&rd, sl, &s) < 0)
            return hilt_err_set(e, HILT_E_RUNTIME, 0, "signer: malformed signature %zu", i);
        memcpy(sigs + i * HILT_SIG_MAX, s, sl);
        lens[i] = sl;
    }
    if (hilt_rd_left(&rd)) return hilt_err_set(e, HILT_E_RUNTIME, 0, "signer: trailing bytes");
    return 0;
}

int hilt_sigproto_hello_resp_parse(const uint8_t *body, size_t len, const uint8_t **spki,
                                   size_t *spki_len, char *desc, size_t desc_cap,
                                   struct hilt_err *e)
{
    struct hilt_rd rd;
    uint8_t status, dl;
    uint16_t sl;
    const uint8_t *d;
    hilt_rd_init(&rd, body, len);
    if (hilt_rd_u8(&rd, &status) < 0)
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "signer: empty response");
    if (status != 0) return child_error(&rd, e);
    if (hilt_rd_u16(&rd, &sl) < 0 || sl == 0 || sl > HILT_SPKI_MAX ||
        hilt_rd_bytes(&rd, sl, spki) < 0 || hilt_rd_u8(&rd, &dl) < 0 ||
        hilt_rd_bytes(&rd, dl, &d) < 0 || hilt_rd_left(&rd) || (size_t)dl >= desc_cap)
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "signer: malformed HELLO response");
    *spki_len = sl;
    memcpy(desc, d, dl);
    desc[dl] = '\0';
    return 0;
}
