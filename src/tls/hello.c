/* hello.c - raw ClientHello building, server flight parsing, ClientHello parsing and JA4. */
#include "tls/hello.h"

#include "core/err.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXT_SERVER_NAME 0x0000
#define EXT_STATUS_REQUEST 0x0005
#define EXT_SUPPORTED_GROUPS 0x000a
#define EXT_EC_POINT_FORMATS 0x000b
#define EXT_SIGALGS 0x000d
#define EXT_ALPN 0x0010
#define EXT_SCT 0x0012
#define EXT_PADDING 0x0015
#define EXT_ETM 0x0016
#define EXT_EMS 0x0017
#define EXT_SESSION_TICKET 0x0023
#define EXT_SUPPORTED_VERSIONS 0x002b
#define EXT_PSK_MODES 0x002d
#define EXT_KEY_SHARE 0x0033
#define EXT_RENEG_INFO 0xff01

#define FLIGHT_MAX (64u << 10)

int hilt_is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/* ---------- key shares: one real key per group, made once per process ---------- */

struct share {
    uint16_t group;
    const char *name; /* for EVP */
    const char *alg;
    unsigned char *pub;
    size_t len;
    int tried;
};

static struct share shares[] = {
    {0x001d, "X25519", "X25519", NULL, 0, 0},       {0x001e, "X448", "X448", NULL, 0, 0},
    {0x0017, "P-256", "EC", NULL, 0, 0},            {0x0018, "P-384", "EC", NULL, 0, 0},
    {0x0019, "P-521", "EC", NULL, 0, 0},            {0x0100, "ffdhe2048", "DH", NULL, 0, 0},
    {0x0101, "ffdhe3072", "DH", NULL, 0, 0},        {0x0102, "ffdhe4096", "DH", NULL, 0, 0},
    {0x0103, "ffdhe6144", "DH", NULL, 0, 0},        {0x0104, "ffdhe8192", "DH", NULL, 0, 0},
};
static pthread_mutex_t shares_lock = PTHREAD_MUTEX_INITIALIZER;

static void shares_free(void)
{
    for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
        OPENSSL_free(shares[i].pub);
        shares[i].pub = NULL;
    }
}

/* A valid public value for `group`, or NULL for groups without key shares. */
static const unsigned char *share_for(uint16_t group, size_t *len)
{
    struct share *s = NULL;
    for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++)
        if (shares[i].group == group) s = &shares[i];
    if (!s) return NULL;
    pthread_mutex_lock(&shares_lock);
    if (!s->tried) {
        static int registered;
        if (!registered) {
            atexit(shares_free);
            registered = 1;
        }
        s->tried = 1;
        EVP_PKEY *k = NULL;
        if (!strcmp(s->alg, "EC") || !strcmp(s->alg, "DH"))
            k = EVP_PKEY_Q_keygen(NULL, NULL, s->alg, s->name);
        else
            k = EVP_PKEY_Q_keygen(NULL, NULL, s->alg);
        if (k) {
            unsigned char *pub = NULL;
            size_t n = EVP_PKEY_get1_encoded_public_key(k, &pub);
            /* RFC 8446 §4.2.8.1: DH values are left-padded to the size of p. */
            size_t want = !strcmp(s->alg, "DH") ? (size_t)EVP_PKEY_get_size(k) : n;
            if (pub && n && n <= want) {
                s->pub = OPENSSL_zalloc(want);
                if (s->pub) {
                    memcpy(s->pub + (want - n), pub, n);
                    s->len = want;
                }
            }
            OPENSSL_free(pub);
            EVP_PKEY_free(k);
        }
    }
    pthread_mutex_unlock(&shares_lock);
    *len = s->len;
    return s->pub;
}

/* ---------- ClientHello builder ---------- */

static uint16_t grease_value(void)
{
    unsigned char b;
    RAND_bytes(&b, 1);
    uint16_t g = (uint16_t)(((b & 0xf0) | 0x0a) << 8 | ((b & 0xf0) | 0x0a));
    return g;
}

/* Write a u16-length-prefixed block: remember where the length goes. */
static size_t open_vec16(struct hilt_buf *b)
{
    size_t at = b->len;
    hilt_buf_add_u16(b, 0);
    return at;
}

static void close_vec16(struct hilt_buf *b, size_t at)
{
    size_t n = b->len - at - 2;
    b->data[at] = (uint8_t)(n >> 8);
    b->data[at + 1] = (uint8_t)n;
}

static int alpn_add(struct hilt_buf *b, const char *list)
{
    const char *p = list;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == 0 || n > 255) return -1;
        hilt_buf_add_u8(b, (uint8_t)n);
        hilt_buf_add(b, p, n);
        p += n + (c ? 1 : 0);
    }
    return 0;
}

int hilt_client_hello_build(const struct hilt_ch_spec *s, struct hilt_buf *out, struct hilt_err *e)
{
    struct hilt_buf body, ext;
    hilt_buf_init(&body, 1 << 16);
    hilt_buf_init(&ext, 1 << 16);
    int rc = -1;
    int grease = (s->flags & HILT_CH_GREASE) != 0;
    uint16_t g1 = grease_value(), g2 = grease_value();
    if (g2 == g1) g2 ^= 0x1010;

    /* extensions */
    if (grease) {
        hilt_buf_add_u16(&ext, g1);
        hilt_buf_add_u16(&ext, 0);
    }
    if (s->sni) {
        size_t sl = strlen(s->sni);
        if (sl == 0 || sl > 255) {
            hilt_err_set(e, HILT_E_USAGE, 0, "server name '%s' is not 1-255 bytes", s->sni);
            goto out;
        }
        hilt_buf_add_u16(&ext, EXT_SERVER_NAME);
        hilt_buf_add_u16(&ext, (uint16_t)(sl + 5));
        hilt_buf_add_u16(&ext, (uint16_t)(sl + 3));
        hilt_buf_add_u8(&ext, 0); /* host_name */
        hilt_buf_add_u16(&ext, (uint16_t)sl);
        hilt_buf_add(&ext, s->sni, sl);
    }
    if (s->flags & HILT_CH_EC_POINT_FORMATS) {
        const uint8_t pf[] = {0x00, 0x0b, 0x00, 0x02, 0x01, 0x00};
        hilt_buf_add(&ext, pf, sizeof(pf));
    }
    if (s->groups) {
        hilt_buf_add_u16(&ext, EXT_SUPPORTED_GROUPS);
        size_t at = open_vec16(&ext);
        size_t lat = open_vec16(&ext);
        if (grease) hilt_buf_add_u16(&ext, g2);
        for (size_t i = 0; i < s->ngroups; i++) hilt_buf_add_u16(&ext, s->groups[i]);
        close_vec16(&ext, lat);
        close_vec16(&ext, at);
    }
    if (s->flags & HILT_CH_SESSION_TICKET) {
        hilt_buf_add_u16(&ext, EXT_SESSION_TICKET);
        hilt_buf_add_u16(&ext, 0);
    }
    if (s->alpn) {
        hilt_buf_add_u16(&ext, EXT_ALPN);
        size_t at = open_vec16(&ext);
        size_t lat = open_vec16(&ext);
        if (alpn_add(&ext, s->alpn) < 0) {
            hilt_err_set(e, HILT_E_USAGE, 0, "ALPN list '%s' is malformed", s->alpn);
            goto out;
        }
        close_vec16(&ext, lat);
        close_vec16(&ext, at);
    }
    if (s->flags & HILT_CH_ETM) {
        hilt_buf_add_u16(&ext, EXT_ETM);
        hilt_buf_add_u16(&ext, 0);
    }
    if (s->flags & HILT_CH_EMS) {
        hilt_buf_add_u16(&ext, EXT_EMS);
        hilt_buf_add_u16(&ext, 0);
    }
    if (s->sigalgs) {
        hilt_buf_add_u16(&ext, EXT_SIGALGS);
        size_t at = open_vec16(&ext);
        size_t lat = open_vec16(&ext);
        for (size_t i = 0; i < s->nsigalgs; i++) hilt_buf_add_u16(&ext, s->sigalgs[i]);
        close_vec16(&ext, lat);
        close_vec16(&ext, at);
    }
    if (s->flags & HILT_CH_STATUS_REQUEST) {
        const uint8_t sr[] = {0x00, 0x05, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00};
        hilt_buf_add(&ext, sr, sizeof(sr));
    }
    if (s->flags & HILT_CH_SCT) {
        hilt_buf_add_u16(&ext, EXT_SCT);
        hilt_buf_add_u16(&ext, 0);
    }
    if (s->flags & HILT_CH_RENEG_INFO) {
        const uint8_t ri[] = {0xff, 0x01, 0x00, 0x01, 0x00};
        hilt_buf_add(&ext, ri, sizeof(ri));
    }
    if (s->versions) {
        hilt_buf_add_u16(&ext, EXT_SUPPORTED_VERSIONS);
        size_t n = s->nversions + (grease ? 1 : 0);
        hilt_buf_add_u16(&ext, (uint16_t)(1 + 2 * n));
        hilt_buf_add_u8(&ext, (uint8_t)(2 * n));
        if (grease) hilt_buf_add_u16(&ext, g1);
        for (size_t i = 0; i < s->nversions; i++) hilt_buf_add_u16(&ext, s->versions[i]);
    }
    if (s->flags & HILT_CH_PSK_MODES) {
        const uint8_t pm[] = {0x00, 0x2d, 0x00, 0x02, 0x01, 0x01};
        hilt_buf_add(&ext, pm, sizeof(pm));
    }
    if (s->key_shares) {
        hilt_buf_add_u16(&ext, EXT_KEY_SHARE);
        size_t at = open_vec16(&ext);
        size_t lat = open_vec16(&ext);
        if (grease) {
            hilt_buf_add_u16(&ext, g2);
            hilt_buf_add_u16(&ext, 1);
            hilt_buf_add_u8(&ext, 0);
        }
        for (size_t i = 0; i < s->nkey_shares; i++) {
            size_t kl = 0;
            const unsigned char *k = share_for(s->key_shares[i], &kl);
            if (!k) continue;
            hilt_buf_add_u16(&ext, s->key_shares[i]);
            hilt_buf_add_u16(&ext, (uint16_t)kl);
            hilt_buf_add(&ext, k, kl);
        }
        close_vec16(&ext, lat);
        close_vec16(&ext, at);
    }
    if (grease) {
        hilt_buf_add_u16(&ext, g2);
        hilt_buf_add_u16(&ext, 1);
        hilt_buf_add_u8(&ext, 0);
    }

    /* body */
    hilt_buf_add_u16(&body, s->client_version ? s->client_version : 0x0303);
    uint8_t *rnd = hilt_buf_reserve(&body, 32);
    if (!rnd || RAND_bytes(rnd, 32) != 1) goto oom;
    hilt_buf_commit(&body, 32);
    if (s->flags & HILT_CH_SESSION_ID) {
        hilt_buf_add_u8(&body, 32);
        uint8_t *sid = hilt_buf_reserve(&body, 32);
        if (!sid || RAND_bytes(sid, 32) != 1) goto oom;
        hilt_buf_commit(&body, 32);
    } else {
        hilt_buf_add_u8(&body, 0);
    }
    size_t nc = s->nciphers + (grease ? 1 : 0) + ((s->flags & HILT_CH_SCSV_RENEG) ? 1 : 0) +
                ((s->flags & HILT_CH_FALLBACK_SCSV) ? 1 : 0);
    if (nc == 0 || nc > 0x7fff) {
        hilt_err_set(e, HILT_E_USAGE, 0, "a ClientHello needs 1 to 32767 cipher suites");
        goto out;
    }
    hilt_buf_add_u16(&body, (uint16_t)(2 * nc));
    if (grease) hilt_buf_add_u16(&body, g1);
    for (size_t i = 0; i < s->nciphers; i++) hilt_buf_add_u16(&body, s->ciphers[i]);
    if (s->flags & HILT_CH_SCSV_RENEG) hilt_buf_add_u16(&body, 0x00ff);
    if (s->flags & HILT_CH_FALLBACK_SCSV) hilt_buf_add_u16(&body, 0x5600);
    if (s->flags & HILT_CH_COMPRESSION) {
        const uint8_t cm[] = {2, 1, 0};
        hilt_buf_add(&body, cm, 3);
    } else {
        const uint8_t cm[] = {1, 0};
        hilt_buf_add(&body, cm, 2);
    }
    /* Some middleboxes hang on hellos of 256-511 bytes: pad past them (RFC 7685). */
    size_t hs_len = 4 + body.len + (ext.len ? 2 + ext.len : 0);
    if (ext.len && hs_len >= 256 && hs_len < 512) {
        size_t pad = 512 - hs_len;
        pad = pad >= 4 ? pad - 4 : 0;
        hilt_buf_add_u16(&ext, EXT_PADDING);
        hilt_buf_add_u16(&ext, (uint16_t)pad);
        uint8_t *z = hilt_buf_reserve(&ext, pad);
        if (!z) goto oom;
        memset(z, 0, pad);
        hilt_buf_commit(&ext, pad);
    }
    if (ext.len) {
        hilt_buf_add_u16(&body, (uint16_t)ext.len);
        hilt_buf_add(&body, ext.data, ext.len);
    }
    if (body.len + 4 > 16384) {
        hilt_err_set(e, HILT_E_USAGE, 0, "the ClientHello would not fit one record");
        goto out;
    }
    int bad = 0;
    bad |= hilt_buf_add_u8(out, 0x16);
    bad |= hilt_buf_add_u16(out, s->record_version ? s->record_version : 0x0301);
    bad |= hilt_buf_add_u16(out, (uint16_t)(body.len + 4));
    bad |= hilt_buf_add_u8(out, 0x01);
    bad |= hilt_buf_add_u24(out, (uint32_t)body.len);
    bad |= hilt_buf_add(out, body.data, body.len);
    if (bad) goto oom;
    rc = 0;
    goto out;
oom:
    hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory building a ClientHello");
out:
    hilt_buf_free(&body);
    hilt_buf_free(&ext);
    return rc;
}

/* ---------- server flight ---------- */

static const uint8_t hrr_magic[32] = {0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11,
                                      0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
                                      0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E,
                                      0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C};

void hilt_server_flight_free(struct hilt_server_flight *f)
{
    f->ncerts = 0; /* nothing is owned: kept for callers that reset a flight */
}

X509 *hilt_server_flight_cert(const struct hilt_server_flight *f, int i)
{
    if (i < 0 || i >= f->ncerts) return NULL;
    const unsigned char *q = f->cert_der[i];
    X509 *x = d2i_X509(NULL, &q, (long)f->cert_len[i]);
    if (x && q != f->cert_der[i] + f->cert_len[i]) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int parse_server_hello(struct hilt_rd *r, struct hilt_server_flight *f)
{
    const uint8_t *rnd;
    struct hilt_rd sid, exts;
    if (hilt_rd_u16(r, &f->legacy_version) < 0 || hilt_rd_bytes(r, 32, &rnd) < 0 ||
        hilt_rd_vec(r, 1, &sid) < 0 || hilt_rd_u16(r, &f->cipher) < 0 ||
        hilt_rd_u8(r, &f->compression) < 0)
        return -1;
    f->hrr = memcmp(rnd, hrr_magic, 32) == 0;
    f->session_id_len = hilt_rd_left(&sid);
    if (f->session_id_len > 32) return -1;
    f->version = f->legacy_version;
    if (hilt_rd_left(r) == 0) return 0; /* no extensions (SSLv3, early TLS) */
    if (hilt_rd_vec(r, 2, &exts) < 0 || hilt_rd_left(r) != 0) return -1;
    while (hilt_rd_left(&exts)) {
        uint16_t type;
        struct hilt_rd body;
        if (hilt_rd_u16(&exts, &type) < 0 || hilt_rd_vec(&exts, 2, &body) < 0) return -1;
        if (f->nexts < HILT_FLIGHT_MAX_EXTS) f->exts[f->nexts++] = type;
        switch (type) {
        case EXT_SUPPORTED_VERSIONS:
            if (hilt_rd_u16(&body, &f->version) < 0) return -1;
            break;
        case EXT_KEY_SHARE:
            if (hilt_rd_u16(&body, &f->key_share_group) < 0) return -1;
            break;
        case EXT_ALPN: {
            struct hilt_rd list, name;
            if (hilt_rd_vec(&body, 2, &list) < 0 || hilt_rd_vec(&list, 1, &name) < 0) return -1;
            size_t n = hilt_rd_left(&name);
            for (size_t i = 0; i < n && i + 1 < sizeof(f->alpn); i++) {
                uint8_t ch = name.p[i];
                f->alpn[i] = (char)(ch >= 0x20 && ch < 0x7f ? ch : '?');
                f->alpn[i + 1] = '\0';
            }
            break;
        }
        case EXT_RENEG_INFO: f->reneg_info = 1; break;
        case EXT_EMS: f->ems = 1; break;
        case EXT_ETM: f->etm = 1; break;
        case EXT_SESSION_TICKET: f->ticket_ext = 1; break;
        case EXT_STATUS_REQUEST: f->status_request_ext = 1; break;
        default: break;
        }
    }
    return 0;
}

static int parse_certificate(struct hilt_rd *r, struct hilt_server_flight *f)
{
    struct hilt_rd list;
    if (hilt_rd_vec(r, 3, &list) < 0) return -1;
    while (hilt_rd_left(&list)) {
        struct hilt_rd der;
        if (hilt_rd_vec(&list, 3, &der) < 0) return -1;
        if (f->ncerts >= HILT_FLIGHT_MAX_CERTS || der.len == 0) continue;
        f->cert_der[f->ncerts] = der.p;
        f->cert_len[f->ncerts] = der.len;
        f->ncerts++;
    }
    return 0;
}

/* The TLS 1.2 ServerKeyExchange ends with SignatureAndHashAlgorithm, a length and
 * the signature; read the scheme when the rest of the message has that shape. */
static void parse_ske_sigalg(struct hilt_rd *r, struct hilt_server_flight *f)
{
    uint16_t alg;
    struct hilt_rd sig;
    if (f->version != 0x0303) return;
    if (hilt_rd_u16(r, &alg) == 0 && hilt_rd_vec(r, 2, &sig) == 0 && hilt_rd_left(r) == 0)
        f->ske_sigalg = alg;
}

/* ECDHE params: curve_type 3 (named_curve), curve, a point of the curve's size.
 * Anything else is taken as DHE (p, g, Ys). */
static void parse_ske(struct hilt_rd *r, struct hilt_server_flight *f)
{
    struct hilt_rd c = *r;
    uint8_t type, plen;
    uint16_t curve;
    if (hilt_rd_u8(&c, &type) == 0 && type == 3 && hilt_rd_u16(&c, &curve) == 0 &&
        hilt_rd_u8(&c, &plen) == 0 && hilt_rd_left(&c) >= plen) {
        static const struct {
            uint16_t curve;
            uint8_t len;
        } sizes[] = {{0x001d, 32}, {0x001e, 56}, {0x0017, 65}, {0x0018, 97}, {0x0019, 133},
                     {0x001a, 65}, {0x001b, 97}, {0x001c, 129}, {0x0016, 65}, {0x0015, 57},
                     {0x0013, 49}, {0x0014, 57}};
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
            if (sizes[i].curve == curve && sizes[i].len == plen) {
                f->have_ske = 1;
                f->ske_curve = curve;
                hilt_rd_skip(&c, plen);
                parse_ske_sigalg(&c, f);
                return;
            }
    }
    c = *r;
    struct hilt_rd dh_p, dh_g, dh_y;
    if (hilt_rd_vec(&c, 2, &dh_p) == 0) {
        size_t n = hilt_rd_left(&dh_p);
        const uint8_t *q = dh_p.p;
        while (n && *q == 0) { /* leading zero bytes do not count */
            q++;
            n--;
        }
        int bits = (int)n * 8;
        if (n) {
            uint8_t top = q[0];
            while (!(top & 0x80)) {
                bits--;
                top = (uint8_t)(top << 1);
            }
        }
        f->have_ske = 1;
        f->ske_dh_bits = bits;
        if (hilt_rd_vec(&c, 2, &dh_g) == 0 && hilt_rd_vec(&c, 2, &dh_y) == 0)
            parse_ske_sigalg(&c, f);
    }
}

int hilt_server_flight_parse(const uint8_t *p, size_t n, int want_rest, struct hilt_server_flight *out)
{
    hilt_server_flight_free(out);
    memset(out, 0, sizeof(*out));
    if (n == 0) return 0;
    if (n > FLIGHT_MAX) {
        out->kind = HILT_FLIGHT_MALFORMED;
        return 1;
    }
    /* SSLv2 SERVER-HELLO: 2-byte header with the top bit set, then type 4. */
    if ((p[0] & 0x80) && !(p[0] >= 20 && p[0] <= 24)) {
        if (n < 3) return 0;
        out->kind = p[2] == 4 ? HILT_FLIGHT_SSLV2 : HILT_FLIGHT_NOT_TLS;
        return 1;
    }
    if (p[0] < 20 || p[0] > 24 || (n >= 2 && p[1] != 3)) {
        out->kind = HILT_FLIGHT_NOT_TLS;
        return 1;
    }
    uint8_t hs[FLIGHT_MAX];
    size_t hslen = 0, hsoff = 0;
    struct hilt_rd rec;
    hilt_rd_init(&rec, p, n);
    int have_hello = 0;
    while (hilt_rd_left(&rec) >= 5) {
        uint8_t type;
        uint16_t ver, len;
        hilt_rd_u8(&rec, &type);
        hilt_rd_u16(&rec, &ver);
        hilt_rd_u16(&rec, &len);
        if ((ver >> 8) != 3 || len > 16384 + 2048) {
            out->kind = HILT_FLIGHT_MALFORMED;
            return 1;
        }
        const uint8_t *frag;
        if (hilt_rd_bytes(&rec, len, &frag) < 0) return have_hello && !want_rest ? 1 : 0;
        if (type == 21) { /* alert */
            if (len < 2) {
                out->kind = HILT_FLIGHT_MALFORMED;
                return 1;
            }
            if (!have_hello) {
                out->kind = HILT_FLIGHT_ALERT;
                out->alert_level = frag[0];
                out->alert_desc = frag[1];
            }
            return 1;
        }
        if (type == 20 || type == 23) { /* CCS or encrypted: nothing more in clear */
            if (have_hello) {
                out->ccs_or_encrypted = 1;
                return 1;
            }
            out->kind = HILT_FLIGHT_MALFORMED;
            return 1;
        }
        if (type != 22) {
            out->kind = HILT_FLIGHT_MALFORMED;
            return 1;
        }
        if (hslen + len > sizeof(hs)) {
            out->kind = HILT_FLIGHT_MALFORMED;
            return 1;
        }
        memcpy(hs + hslen, frag, len);
        hslen += len;
        /* Handshake messages completed so far. */
        for (;;) {
            struct hilt_rd m;
            hilt_rd_init(&m, hs + hsoff, hslen - hsoff);
            uint8_t mt;
            uint32_t ml;
            if (hilt_rd_u8(&m, &mt) < 0 || hilt_rd_u24(&m, &ml) < 0 || hilt_rd_left(&m) < ml) break;
            struct hilt_rd body;
            hilt_rd_init(&body, hs + hsoff + 4, ml);
            hsoff += 4 + ml;
            if (!have_hello) {
                if (mt != 2 || parse_server_hello(&body, out) < 0) {
                    out->kind = HILT_FLIGHT_MALFORMED;
                    return 1;
                }
                out->kind = HILT_FLIGHT_HELLO;
                have_hello = 1;
                if (!want_rest || out->hrr || out->version >= 0x0304) return 1;
                continue;
            }
            switch (mt) {
            case 11:
                if (parse_certificate(&body, out) < 0) {
                    out->kind = HILT_FLIGHT_MALFORMED;
                    return 1;
                }
                break;
            case 22: out->cert_status = 1; break;
            case 12: parse_ske(&body, out); break;
            case 14: out->done = 1; return 1;
            default: break;
            }
        }
    }
    return 0;
}

/* ---------- ClientHello parsing and JA4 ---------- */

static int parse_ch_body(struct hilt_rd *r, struct hilt_client_hello *ch)
{
    const uint8_t *rnd;
    struct hilt_rd sid, ciphers, comp, exts;
    if (hilt_rd_u16(r, &ch->legacy_version) < 0 || hilt_rd_bytes(r, 32, &rnd) < 0 ||
        hilt_rd_vec(r, 1, &sid) < 0 || hilt_rd_vec(r, 2, &ciphers) < 0 ||
        hilt_rd_vec(r, 1, &comp) < 0)
        return -1;
    if (hilt_rd_left(&ciphers) % 2 || hilt_rd_left(&comp) == 0) return -1;
    ch->max_version = ch->legacy_version;
    while (hilt_rd_left(&ciphers)) {
        uint16_t c;
        hilt_rd_u16(&ciphers, &c);
        if (hilt_is_grease(c)) {
            ch->grease = 1;
            continue;
        }
        if (ch->nciphers < HILT_CH_MAX_CIPHERS) ch->ciphers[ch->nciphers++] = c;
    }
    if (hilt_rd_left(r) == 0) return 0;
    if (hilt_rd_vec(r, 2, &exts) < 0) return -1;
    while (hilt_rd_left(&exts)) {
        uint16_t type;
        struct hilt_rd b;
        if (hilt_rd_u16(&exts, &type) < 0 || hilt_rd_vec(&exts, 2, &b) < 0) return -1;
        if (hilt_is_grease(type)) {
            ch->grease = 1;
            continue;
        }
        if (ch->nexts < HILT_CH_MAX_EXTS) ch->exts[ch->nexts++] = type;
        struct hilt_rd l;
        switch (type) {
        case EXT_SERVER_NAME: {
            struct hilt_rd name;
            uint8_t nt;
            if (hilt_rd_vec(&b, 2, &l) < 0 || hilt_rd_u8(&l, &nt) < 0 || hilt_rd_vec(&l, 2, &name) < 0)
                return -1;
            ch->has_sni = 1;
            size_t k = 0;
            for (size_t i = 0; i < name.len && k + 1 < sizeof(ch->sni); i++) {
                uint8_t c = name.p[i];
                ch->sni[k++] = (char)(c > 0x20 && c < 0x7f ? c : '?');
            }
            ch->sni[k] = '\0';
            break;
        }
        case EXT_ALPN: {
            if (hilt_rd_vec(&b, 2, &l) < 0) return -1;
            size_t ao = 0;
            int first = 1;
            while (hilt_rd_left(&l)) {
                struct hilt_rd proto;
                if (hilt_rd_vec(&l, 1, &proto) < 0) return -1;
                if (first) {
                    memcpy(ch->alpn_first, proto.p, proto.len);
                    ch->alpn_first_len = proto.len;
                    first = 0;
                }
                if (ao + proto.len + 2 < sizeof(ch->alpn)) {
                    if (ao) ch->alpn[ao++] = ',';
                    for (size_t i = 0; i < proto.len; i++) {
                        uint8_t c = proto.p[i];
                        ch->alpn[ao++] = (char)(c >= 0x20 && c < 0x7f && c != ',' ? c : '?');
                    }
                    ch->alpn[ao] = '\0';
                }
            }
            break;
        }
        case EXT_SUPPORTED_GROUPS:
        case EXT_SIGALGS: {
            if (hilt_rd_vec(&b, 2, &l) < 0 || hilt_rd_left(&l) % 2) return -1;
            uint16_t *arr = type == EXT_SIGALGS ? ch->sigalgs : ch->groups;
            size_t *cnt = type == EXT_SIGALGS ? &ch->nsigalgs : &ch->ngroups;
            while (hilt_rd_left(&l)) {
                uint16_t v;
                hilt_rd_u16(&l, &v);
                if (hilt_is_grease(v)) {
                    ch->grease = 1;
                    continue;
                }
                if (*cnt < HILT_CH_MAX_LIST) arr[(*cnt)++] = v;
            }
            break;
        }
        case EXT_SUPPORTED_VERSIONS: {
            if (hilt_rd_vec(&b, 1, &l) < 0 || hilt_rd_left(&l) % 2) return -1;
            uint16_t best = 0;
            while (hilt_rd_left(&l)) {
                uint16_t v;
                hilt_rd_u16(&l, &v);
                if (hilt_is_grease(v)) {
                    ch->grease = 1;
                    continue;
                }
                if (ch->nversions < 16) ch->versions[ch->nversions++] = v;
                if (v > best && (v >> 8) == 3) best = v;
            }
            if (best) ch->max_version = best;
            break;
        }
        default: break;
        }
    }
    return 0;
}

int hilt_client_hello_parse(const uint8_t *p, size_t n, int is_record, struct hilt_client_hello *out)
{
    memset(out, 0, sizeof(*out));
    uint8_t hs[FLIGHT_MAX];
    size_t hslen = 0;
    if (is_record) {
        /* Reassemble handshake fragments across records (a big hello spans several). */
        struct hilt_rd rec;
        hilt_rd_init(&rec, p, n);
        while (hilt_rd_left(&rec)) {
            uint8_t type;
            uint16_t ver;
            struct hilt_rd frag;
            if (hilt_rd_u8(&rec, &type) < 0 || hilt_rd_u16(&rec, &ver) < 0 || type != 22 ||
                (ver >> 8) != 3 || hilt_rd_vec(&rec, 2, &frag) < 0)
                return -1;
            if (hslen + frag.len > sizeof(hs)) return -1;
            memcpy(hs + hslen, frag.p, frag.len);
            hslen += frag.len;
            if (hslen >= 4) {
                size_t ml = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];
                if (hslen >= 4 + ml) break;
            }
        }
        p = hs;
        n = hslen;
    }
    struct hilt_rd r, body;
    hilt_rd_init(&r, p, n);
    uint8_t type;
    uint32_t len;
    if (hilt_rd_u8(&r, &type) < 0 || type != 1 || hilt_rd_u24(&r, &len) < 0) return -1;
    const uint8_t *b;
    if (hilt_rd_bytes(&r, len, &b) < 0) return -1;
    hilt_rd_init(&body, b, len);
    return parse_ch_body(&body, out);
}

static int cmp_u16(const void *a, const void *b)
{
    return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static void hash12(const char *s, char out[13])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, strlen(s), md);
    for (int i = 0; i < 6; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void hex_list(const uint16_t *v, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o + 6 < cap; i++) o += (size_t)snprintf(out + o, cap - o, "%s%04x", i ? "," : "", v[i]);
}

static int is_alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void ja4_a(const struct hilt_client_hello *ch, char out[11])
{
    const char *ver;
    switch (ch->max_version) {
    case 0x0304: ver = "13"; break;
    case 0x0303: ver = "12"; break;
    case 0x0302: ver = "11"; break;
    case 0x0301: ver = "10"; break;
    case 0x0300: ver = "s3"; break;
    case 0x0002: ver = "s2"; break;
    default: ver = "00"; break;
    }
    char alpn[3] = "00";
    if (ch->alpn_first_len) {
        uint8_t f = ch->alpn_first[0], l = ch->alpn_first[ch->alpn_first_len - 1];
        if (is_alnum(f) && is_alnum(l)) {
            alpn[0] = (char)f;
            alpn[1] = (char)l;
        } else {
            /* Non-alphanumeric: the first and last hex digits of the value. */
            static const char hx[] = "0123456789abcdef";
            alpn[0] = hx[f >> 4];
            alpn[1] = hx[l & 15];
        }
    }
    size_t nc = ch->nciphers > 99 ? 99 : ch->nciphers, ne = ch->nexts > 99 ? 99 : ch->nexts;
    snprintf(out, 11, "t%s%c%02zu%02zu%s", ver, ch->has_sni ? 'd' : 'i', nc, ne, alpn);
}

/* Parts b and c before hashing: sorted ciphers; sorted extensions (without SNI
 * and ALPN) "_" signature algorithms in wire order. */
static void ja4_lists(const struct hilt_client_hello *ch, char *b, size_t bcap, char *c, size_t ccap)
{
    uint16_t tmp[HILT_CH_MAX_CIPHERS];
    memcpy(tmp, ch->ciphers, ch->nciphers * sizeof(uint16_t));
    qsort(tmp, ch->nciphers, sizeof(uint16_t), cmp_u16);
    hex_list(tmp, ch->nciphers, b, bcap);
    size_t ne = 0;
    for (size_t i = 0; i < ch->nexts; i++)
        if (ch->exts[i] != EXT_SERVER_NAME && ch->exts[i] != EXT_ALPN) tmp[ne++] = ch->exts[i];
    qsort(tmp, ne, sizeof(uint16_t), cmp_u16);
    hex_list(tmp, ne, c, ccap);
    if (ch->nsigalgs) {
        size_t l = strlen(c);
        if (l + 2 < ccap) {
            c[l] = '_';
            hex_list(ch->sigalgs, ch->nsigalgs, c + l + 1, ccap - l - 1);
        }
    }
}

void hilt_ja4(const struct hilt_client_hello *ch, char out[40])
{
    char a[11], b[1400], c[1400], hb[13], hc[13];
    ja4_a(ch, a);
    ja4_lists(ch, b, sizeof(b), c, sizeof(c));
    if (ch->nciphers) hash12(b, hb);
    else snprintf(hb, sizeof(hb), "000000000000");
    if (ch->nexts) hash12(c, hc);
    else snprintf(hc, sizeof(hc), "000000000000");
    snprintf(out, 40, "%s_%s_%s", a, hb, hc);
}

void hilt_ja4_raw(const struct hilt_client_hello *ch, char *out, size_t cap)
{
    char a[11], b[1400], c[1400];
    ja4_a(ch, a);
    ja4_lists(ch, b, sizeof(b), c, sizeof(c));
    snprintf(out, cap, "%s_%s_%s", a, b, c);
}
