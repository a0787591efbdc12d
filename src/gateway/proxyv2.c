/* proxyv2.c - PROXY v2 header encoder and bounded parser. */
#include "gateway/proxyv2.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static int tlv(struct hilt_buf *b, uint8_t type, const char *v)
{
    if (!v) return 0;
    size_t n = strlen(v);
    if (n > 1024) n = 1024;
    return hilt_buf_add_u8(b, type) || hilt_buf_add_u16(b, (uint16_t)n) || hilt_buf_add(b, v, n);
}

int pp2_encode(const struct pp2_info *in, struct hilt_buf *out)
{
    struct hilt_buf body, ssl;
    hilt_buf_init(&body, PP2_MAX_HEADER);
    hilt_buf_init(&ssl, PP2_MAX_HEADER);
    int rc = -1;
    uint8_t fam;
    if (in->src.ss_family == AF_INET && in->dst.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const void *)&in->src, *d = (const void *)&in->dst;
        fam = 0x11;
        if (hilt_buf_add(&body, &s->sin_addr, 4) || hilt_buf_add(&body, &d->sin_addr, 4) ||
            hilt_buf_add(&body, &s->sin_port, 2) || hilt_buf_add(&body, &d->sin_port, 2))
            goto out;
    } else if (in->src.ss_family == AF_INET6 && in->dst.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const void *)&in->src, *d = (const void *)&in->dst;
        fam = 0x21;
        if (hilt_buf_add(&body, &s->sin6_addr, 16) || hilt_buf_add(&body, &d->sin6_addr, 16) ||
            hilt_buf_add(&body, &s->sin6_port, 2) || hilt_buf_add(&body, &d->sin6_port, 2))
            goto out;
    } else {
        fam = 0x00; /* UNSPEC: mixed families carry no addresses */
    }
    if (tlv(&body, PP2_TYPE_ALPN, in->alpn) || tlv(&body, PP2_TYPE_AUTHORITY, in->sni) ||
        tlv(&body, PP2_TYPE_HILT_SUBJECT, in->subject) || tlv(&body, PP2_TYPE_HILT_JA4, in->ja4))
        goto out;
    if (in->ssl) {
        uint8_t client = PP2_CLIENT_SSL | (in->client_cert ? PP2_CLIENT_CERT_CONN : 0);
        if (hilt_buf_add_u8(&ssl, client) || hilt_buf_add_u16(&ssl, (uint16_t)(in->verify >> 16)) ||
            hilt_buf_add_u16(&ssl, (uint16_t)in->verify) ||
            tlv(&ssl, PP2_SUBTYPE_SSL_VERSION, in->version) ||
            tlv(&ssl, PP2_SUBTYPE_SSL_CN, in->cn) ||
            tlv(&ssl, PP2_SUBTYPE_SSL_CIPHER, in->cipher) ||
            tlv(&ssl, PP2_SUBTYPE_SSL_SIG_ALG, in->sig_alg) ||
            tlv(&ssl, PP2_SUBTYPE_SSL_KEY_ALG, in->key_alg))
            goto out;
        if (hilt_buf_add_u8(&body, PP2_TYPE_SSL) || hilt_buf_add_u16(&body, (uint16_t)ssl.len) ||
            hilt_buf_add(&body, ssl.data, ssl.len))
            goto out;
    }
    if (hilt_buf_add(out, sig, sizeof(sig)) || hilt_buf_add_u8(out, 0x21) ||
        hilt_buf_add_u8(out, fam) || hilt_buf_add_u16(out, (uint16_t)body.len) ||
        (body.len && hilt_buf_add(out, body.data, body.len)))
        goto out;
    rc = 0;
out:
    hilt_buf_free(&body);
    hilt_buf_free(&ssl);
    return rc;
}

static void copy_str(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        dst[k++] = (char)(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?');
    dst[k] = 0;
}

static int parse_tlvs(struct hilt_rd *r, struct pp2_parsed *o, int in_ssl)
{
    while (hilt_rd_left(r)) {
        uint8_t type;
        struct hilt_rd v;
        if (hilt_rd_u8(r, &type) < 0 || hilt_rd_vec(r, 2, &v) < 0) return -1;
        char *dst = NULL;
        size_t cap = 0;
        switch (type) {
        case PP2_TYPE_ALPN:
            dst = o->alpn, cap = sizeof(o->alpn);
            break;
        case PP2_TYPE_AUTHORITY:
            dst = o->sni, cap = sizeof(o->sni);
            break;
        case PP2_TYPE_HILT_SUBJECT:
            dst = o->subject, cap = sizeof(o->subject);
            break;
        case PP2_TYPE_HILT_JA4:
            dst = o->ja4, cap = sizeof(o->ja4);
            break;
        case PP2_SUBTYPE_SSL_VERSION:
            dst = o->version, cap = sizeof(o->version);
            break;
        case PP2_SUBTYPE_SSL_CN:
            dst = o->cn, cap = sizeof(o->cn);
            break;
        case PP2_SUBTYPE_SSL_CIPHER:
            dst = o->cipher, cap = sizeof(o->cipher);
            break;
        case PP2_SUBTYPE_SSL_SIG_ALG:
            dst = o->sig_alg, cap = sizeof(o->sig_alg);
            break;
        case PP2_SUBTYPE_SSL_KEY_ALG:
            dst = o->key_alg, cap = sizeof(o->key_alg);
            break;
        case PP2_TYPE_SSL: {
            uint8_t client;
            uint16_t hi, lo;
            if (in_ssl || hilt_rd_u8(&v, &client) < 0 || hilt_rd_u16(&v, &hi) < 0 ||
                hilt_rd_u16(&v, &lo) < 0)
                return -1;
            o->has_ssl = 1;
            o->client = client;
            o->verify = (uint32_t)hi << 16 | lo;
            if (parse_tlvs(&v, o, 1) < 0) return -1;
            continue;
        }
        default:
            continue;
        }
        copy_str(dst, cap, v.p + v.off, hilt_rd_left(&v));
    }
    return 0;
}

int pp2_parse(const uint8_t *p, size_t n, struct pp2_parsed *out)
{
    memset(out, 0, sizeof(*out));
    size_t cmp = n < sizeof(sig) ? n : sizeof(sig);
    if (memcmp(p, sig, cmp)) return -1;
    if (n < 16) return 0;
    if ((p[12] >> 4) != 2 || (p[12] & 0x0f) > 1) return -1;
    size_t len = (size_t)p[14] << 8 | p[15];
    if (n < 16 + len) return 0;
    out->header_len = 16 + len;
    out->local = (p[12] & 0x0f) == 0;
    struct hilt_rd r;
    hilt_rd_init(&r, p + 16, len);
    uint8_t fam = p[13];
    if (fam == 0x11) {
        const uint8_t *a;
        if (hilt_rd_bytes(&r, 12, &a) < 0) return -1;
        char s[INET_ADDRSTRLEN], d[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, a, s, sizeof(s));
        inet_ntop(AF_INET, a + 4, d, sizeof(d));
        snprintf(out->src, sizeof(out->src), "%s:%u", s, (unsigned)(a[8] << 8 | a[9]));
        snprintf(out->dst, sizeof(out->dst), "%s:%u", d, (unsigned)(a[10] << 8 | a[11]));
        out->family = AF_INET;
    } else if (fam == 0x21) {
        const uint8_t *a;
        if (hilt_rd_bytes(&r, 36, &a) < 0) return -1;
        char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, a, s, sizeof(s));
        inet_ntop(AF_INET6, a + 16, d, sizeof(d));
        snprintf(out->src, sizeof(out->src), "[%s]:%u", s, (unsigned)(a[32] << 8 | a[33]));
        snprintf(out->dst, sizeof(out->dst), "[%s]:%u", d, (unsigned)(a[34] << 8 | a[35]));
        out->family = AF_INET6;
    } else if (fam != 0x00) {
        return -1;
    }
    return parse_tlvs(&r, out, 0) < 0 ? -1 : 1;
}
