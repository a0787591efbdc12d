/* ocsp_responder.c - pre-signed OCSP responses (RFC 6960 §4.2, RFC 5019)
 * for one CA, and the HTTP service that hands them out. */
#include "ca/ocsp_responder.h"

#include "ca/ca.h"
#include "ca/signer.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/net.h"
#include "store/store.h"
#include "x509/der.h"
#include "x509/mintfast.h"
#include "x509/ocsp.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_VALIDITY 86400
#define DEFAULT_POLL 5
#define DEFAULT_MAX 1000000
#define DEFAULT_RATE 500
#define SIGN_BATCH 1024
#define RESP_MAX 8192

struct ent {
    uint8_t serial[20];
    uint8_t slen;
    uint8_t used;
    uint8_t status; /* V_OCSP_CERTSTATUS_GOOD / _REVOKED */
    int16_t reason; /* CRLReason, 0 = none given */
    int64_t revoked_at, not_after;
    uint8_t *resp; /* the signed OCSPResponse, DER */
    uint32_t resp_len;
    int64_t this_update, next_update;
};

struct hilt_ocsp_responder {
    struct hilt_ca *ca;
    struct hilt_ocsp_responder_opts o;
    struct ent *tab;
    size_t cap, n;
    uint8_t name_hash[20], key_hash[20];
    struct hilt_mint_issuer mi; /* sigalg, digest (the mint template's) */
    uint8_t *issuer_der;        /* for the response's certs */
    size_t issuer_der_len;
    int64_t cursor_id, last_poll;
    double tokens; /* on-demand signatures allowed now */
    int64_t tokens_at;
    struct hilt_ocsp_stats st;
    EVP_MD_CTX *mc;
};

/* ---- the table ------------------------------------------------------------------------ */

static uint64_t hash_serial(const uint8_t *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static struct ent *find(struct hilt_ocsp_responder *r, const uint8_t *s, size_t n)
{
    if (!r->cap || n == 0 || n > 20) return NULL;
    size_t i = (size_t)hash_serial(s, n) & (r->cap - 1);
    for (;;) {
        struct ent *x = &r->tab[i];
        if (!x->used) return NULL;
        if (x->slen == n && !memcmp(x->serial, s, n)) return x;
        i = (i + 1) & (r->cap - 1);
    }
}

static int grow(struct hilt_ocsp_responder *r)
{
    size_t nc = r->cap ? r->cap * 2 : 1024;
    struct ent *nt = calloc(nc, sizeof(*nt));
    if (!nt) return -1;
    for (size_t k = 0; k < r->cap; k++) {
        struct ent *x = &r->tab[k];
        if (!x->used) continue;
        size_t i = (size_t)hash_serial(x->serial, x->slen) & (nc - 1);
        while (nt[i].used)
            i = (i + 1) & (nc - 1);
        nt[i] = *x;
    }
    free(r->tab);
    r->tab = nt;
    r->cap = nc;
    return 0;
}

/* Insert or update; NULL when the table is full (max_certs) or no memory. */
static struct ent *upsert(struct hilt_ocsp_responder *r, const uint8_t *s, size_t n)
{
    struct ent *x = find(r, s, n);
    if (x) return x;
    if (n == 0 || n > 20 || r->n >= r->o.max_certs) return NULL;
    if ((r->n + 1) * 2 > r->cap && grow(r) < 0) return NULL;
    size_t i = (size_t)hash_serial(s, n) & (r->cap - 1);
    while (r->tab[i].used)
        i = (i + 1) & (r->cap - 1);
    x = &r->tab[i];
    memset(x, 0, sizeof(*x));
    x->used = 1;
    x->slen = (uint8_t)n;
    memcpy(x->serial, s, n);
    r->n++;
    return x;
}

static int hex_bytes(const char *hex, uint8_t *out, size_t cap, size_t *n)
{
    size_t l = strlen(hex);
    if (l == 0 || l % 2 || l / 2 > cap) return -1;
    for (size_t i = 0; i < l / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    *n = l / 2;
    /* the magnitude, as an INTEGER's content would be without a sign byte */
    size_t z = 0;
    while (z + 1 < *n && out[z] == 0)
        z++;
    if (z) {
        memmove(out, out + z, *n - z);
        *n -= z;
    }
    return 0;
}

/* Record a certificate's status; mark its response for signing when it is
 * new or its status changed. */
static void track(struct hilt_ocsp_responder *r, const struct hilt_cert_rec *c)
{
    uint8_t s[20];
    size_t n;
    if (hex_bytes(c->serial, s, sizeof(s), &n) < 0) return;
    struct ent *x = upsert(r, s, n);
    if (!x) return;
    uint8_t status = c->revoked_at ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD;
    if (x->resp && x->status == status && x->revoked_at == c->revoked_at) return;
    x->status = status;
    x->revoked_at = c->revoked_at;
    x->reason = (int16_t)(c->revoked_at ? c->revoke_reason : 0);
    x->not_after = c->not_after;
    x->next_update = 0; /* sign (again) at the next refresh */
}

static int track_cb(const struct hilt_cert_rec *c, const uint8_t *der, size_t dl, void *arg)
{
    (void)der;
    (void)dl;
    track(arg, c);
    return 0;
}

/* ---- building responses ------------------------------------------------------------------ */

static const uint8_t SHA1_ALG[] = {0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e,
                                   0x03, 0x02, 0x1a, 0x05, 0x00};
static const uint8_t OID_OCSP_BASIC[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};

/* ResponseData (RFC 6960 §4.2.1) for one entry, responder by name. */
static int response_data(struct hilt_ocsp_responder *r, const struct ent *x, int64_t now,
                         struct hilt_buf *out)
{
    struct hilt_der d;
    hilt_der_init(&d, out);
    hilt_der_open(&d, 0x30);
    hilt_der_open(&d, 0xa1); /* responderID byName [1] EXPLICIT Name */
    hilt_der_put(&d, r->mi.name, r->mi.name_len);
    hilt_der_close(&d);
    hilt_der_gentime(&d, now); /* producedAt */
    hilt_der_open(&d, 0x30);   /* responses */
    hilt_der_open(&d, 0x30);   /* SingleResponse */
    hilt_der_open(&d, 0x30);   /* CertID */
    hilt_der_put(&d, SHA1_ALG, sizeof(SHA1_ALG));
    hilt_der_tlv(&d, 0x04, r->name_hash, 20);
    hilt_der_tlv(&d, 0x04, r->key_hash, 20);
    hilt_der_uint(&d, x->serial, x->slen);
    hilt_der_close(&d);
    if (x->status == V_OCSP_CERTSTATUS_REVOKED) {
        hilt_der_open(&d, 0xa1); /* revoked [1] IMPLICIT RevokedInfo */
        hilt_der_gentime(&d, x->revoked_at);
        if (x->reason > 0) {
            uint8_t rs[] = {0xa0, 0x03, 0x0a, 0x01, (uint8_t)x->reason};
            hilt_der_put(&d, rs, sizeof(rs));
        }
        hilt_der_close(&d);
    } else {
        hilt_der_put(&d, "\x80\x00", 2); /* good [0] IMPLICIT NULL */
    }
    hilt_der_gentime(&d, now); /* thisUpdate */
    hilt_der_open(&d, 0xa0);   /* nextUpdate [0] EXPLICIT */
    hilt_der_gentime(&d, now + r->o.validity);
    hilt_der_close(&d);
    hilt_der_close(&d);
    hilt_der_close(&d);
    hilt_der_close(&d);
    return hilt_der_done(&d);
}

/* OCSPResponse { successful, BasicOCSPResponse { tbs, alg, sig, [0] certs } } */
static int assemble(struct hilt_ocsp_responder *r, const uint8_t *tbs, size_t tbs_len,
                    const uint8_t *sig, size_t sig_len, struct hilt_buf *out)
{
    struct hilt_der d;
    hilt_der_init(&d, out);
    hilt_der_open(&d, 0x30);
    hilt_der_put(&d, "\x0a\x01\x00", 3); /* responseStatus successful */
    hilt_der_open(&d, 0xa0);
    hilt_der_open(&d, 0x30);
    hilt_der_tlv(&d, 0x06, OID_OCSP_BASIC, sizeof(OID_OCSP_BASIC));
    hilt_der_open(&d, 0x04);
    hilt_der_open(&d, 0x30); /* BasicOCSPResponse */
    hilt_der_put(&d, tbs, tbs_len);
    hilt_der_put(&d, r->mi.sigalg, r->mi.sigalg_len);
    hilt_der_open(&d, 0x03);
    hilt_der_put1(&d, 0);
    hilt_der_put(&d, sig, sig_len);
    hilt_der_close(&d);
    /* the CA's certificate, so clients that lack it can verify */
    hilt_der_open(&d, 0xa0);
    hilt_der_open(&d, 0x30);
    hilt_der_put(&d, r->issuer_der, r->issuer_der_len);
    hilt_der_close(&d);
    hilt_der_close(&d);
    hilt_der_close(&d);
    hilt_der_close(&d);
    hilt_der_close(&d);
    hilt_der_close(&d);
    hilt_der_close(&d);
    return hilt_der_done(&d);
}

/* Sign the given entries' responses in one batch. */
static int sign_entries(struct hilt_ocsp_responder *r, struct ent **v, size_t n, int64_t now,
                        struct hilt_err *e)
{
    if (!n) return 0;
    struct hilt_buf tbs, one;
    hilt_buf_init(&tbs, n * 2048 + 1024);
    hilt_buf_init(&one, RESP_MAX);
    size_t *off = calloc(n + 1, sizeof(*off));
    uint8_t *dg = malloc(n * 64), *sigs = malloc(n * HILT_SIG_MAX);
    size_t *sl = calloc(n, sizeof(*sl));
    int rc = -1;
    if (!off || !dg || !sigs || !sl) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        goto out;
    }
    size_t dlen = 0;
    for (size_t i = 0; i < n; i++) {
        off[i] = tbs.len;
        hilt_buf_reset(&one);
        unsigned l = 0;
        if (response_data(r, v[i], now, &one) < 0 || hilt_buf_add(&tbs, one.data, one.len) < 0 ||
            hilt_mint_digest(r->mc, r->mi.md, one.data, one.len, dg + i * 64, &l) < 0) {
            hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot build an OCSP response");
            goto out;
        }
        dlen = l;
    }
    off[n] = tbs.len;
    /* pack the digests for one exchange with the signer */
    for (size_t i = 1; i < n; i++)
        memmove(dg + i * dlen, dg + i * 64, dlen);
    if (hilt_signer_sign_digests(r->ca->signer, r->mi.md_nid, dg, dlen, n, sigs, sl, e) < 0) {
        r->st.sign_failures++;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        hilt_buf_reset(&one);
        if (assemble(r, tbs.data + off[i], off[i + 1] - off[i], sigs + i * HILT_SIG_MAX, sl[i],
                     &one) < 0) {
            hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot assemble an OCSP response");
            goto out;
        }
        uint8_t *p = realloc(v[i]->resp, one.len);
        if (!p) {
            hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
            goto out;
        }
        memcpy(p, one.data, one.len);
        v[i]->resp = p;
        v[i]->resp_len = (uint32_t)one.len;
        v[i]->this_update = now;
        v[i]->next_update = now + r->o.validity;
    }
    r->st.signatures += (int64_t)n;
    rc = 0;
out:
    hilt_buf_free(&tbs);
    hilt_buf_free(&one);
    free(off);
    free(dg);
    free(sigs);
    free(sl);
    return rc;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

struct hilt_ocsp_responder *hilt_ocsp_responder_new(struct hilt_ca *ca,
                                                    const struct hilt_ocsp_responder_opts *o,
                                                    struct hilt_err *e)
{
    struct hilt_ocsp_responder *r = calloc(1, sizeof(*r));
    if (!r) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        return NULL;
    }
    r->ca = ca;
    if (o) r->o = *o;
    if (r->o.validity <= 0) r->o.validity = DEFAULT_VALIDITY;
    if (r->o.poll_interval <= 0) r->o.poll_interval = DEFAULT_POLL;
    if (!r->o.max_certs) r->o.max_certs = DEFAULT_MAX;
    if (r->o.on_demand_rate <= 0) r->o.on_demand_rate = DEFAULT_RATE;
    r->cursor_id = -1;
    if (!(r->mc = EVP_MD_CTX_new())) goto oom;
    if (!ca->signer) {
        hilt_err_set(e, HILT_E_USAGE, 0, "the OCSP responder needs the CA's signer opened");
        goto fail;
    }
    if (hilt_mint_issuer_init(&r->mi, ca->issuer, hilt_signer_key(ca->signer), "sha256", e) < 0) {
        hilt_err_prefix(e, "OCSP responder");
        goto fail;
    }
    /* issuerNameHash / issuerKeyHash of SHA-1 CertIDs (RFC 6960 §4.1.1) */
    unsigned l = 0;
    const ASN1_BIT_STRING *kb = X509_get0_pubkey_bitstr(ca->issuer);
    if (!EVP_Digest(r->mi.name, r->mi.name_len, r->name_hash, &l, EVP_sha1(), NULL) || !kb ||
        !EVP_Digest(ASN1_STRING_get0_data(kb), (size_t)ASN1_STRING_length(kb), r->key_hash, &l,
                    EVP_sha1(), NULL))
        goto oom;
    unsigned char *der = NULL;
    int dl = i2d_X509(ca->issuer, &der);
    if (dl <= 0) goto oom;
    r->issuer_der = der;
    r->issuer_der_len = (size_t)dl;
    return r;
oom:
    hilt_err_ossl(e, HILT_E_RUNTIME, "OCSP responder: out of memory");
fail:
    hilt_ocsp_responder_free(r);
    return NULL;
}

void hilt_ocsp_responder_free(struct hilt_ocsp_responder *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->cap; i++)
        free(r->tab[i].resp);
    free(r->tab);
    OPENSSL_free(r->issuer_der);
    hilt_mint_issuer_free(&r->mi);
    EVP_MD_CTX_free(r->mc);
    free(r);
}

int64_t hilt_ocsp_responder_refresh(struct hilt_ocsp_responder *r, int64_t now, size_t max,
                                    struct hilt_err *e)
{
    struct ent **v = malloc(SIGN_BATCH * sizeof(*v));
    if (!v) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    int64_t done = 0;
    size_t k = 0;
    for (size_t i = 0; i < r->cap && (size_t)done + k < max; i++) {
        struct ent *x = &r->tab[i];
        /* due: never signed, or half its validity gone */
        if (!x->used || (x->resp && x->next_update - now > r->o.validity / 2)) continue;
        v[k++] = x;
        if (k == SIGN_BATCH) {
            if (sign_entries(r, v, k, now, e) < 0) {
                free(v);
                return -1;
            }
            done += (int64_t)k;
            k = 0;
        }
    }
    if (k && sign_entries(r, v, k, now, e) < 0) {
        free(v);
        return -1;
    }
    done += (int64_t)k;
    free(v);
    r->st.refreshed += done;
    return done;
}

int hilt_ocsp_responder_load(struct hilt_ocsp_responder *r, int64_t now, struct hilt_err *e)
{
    /* the cursor first, so nothing issued during the load is missed */
    r->cursor_id = -1;
    if (hilt_store_cert_changed_ca(r->ca->st, r->ca->rec.name, &r->cursor_id, now, NULL, NULL, e) <
        0)
        return -1;
    if (hilt_store_cert_list_ca(r->ca->st, r->ca->rec.name, now - 86400, track_cb, r, e) < 0)
        return -1;
    r->last_poll = now;
    r->st.certs = (int64_t)r->n;
    return hilt_ocsp_responder_refresh(r, now, SIZE_MAX, e) < 0 ? -1 : 0;
}

int hilt_ocsp_responder_poll(struct hilt_ocsp_responder *r, int64_t now, struct hilt_err *e)
{
    /* revocations are looked for with a margin: another process's clock
     * wrote revoked_at; a response already revoked is not signed again */
    int64_t since = r->last_poll - r->o.poll_interval - 60;
    if (hilt_store_cert_changed_ca(r->ca->st, r->ca->rec.name, &r->cursor_id, since, track_cb, r,
                                   e) < 0)
        return -1;
    r->last_poll = now;
    r->st.certs = (int64_t)r->n;
    return 0;
}

void hilt_ocsp_responder_stats(const struct hilt_ocsp_responder *r, struct hilt_ocsp_stats *s)
{
    *s = r->st;
}

/* ---- answering ---------------------------------------------------------------------------------
 */

static int take_token(struct hilt_ocsp_responder *r, int64_t now)
{
    if (now != r->tokens_at) {
        double add = (double)(now - r->tokens_at) * r->o.on_demand_rate;
        r->tokens = r->tokens + add > r->o.on_demand_rate ? r->o.on_demand_rate : r->tokens + add;
        r->tokens_at = now;
    }
    if (r->tokens < 1) return 0;
    r->tokens -= 1;
    return 1;
}

static void error_resp(struct hilt_ocsp_responder *r, int status, struct hilt_buf *out,
                       struct hilt_ocsp_answer *info)
{
    hilt_buf_reset(out);
    hilt_ocsp_resp_error(status, out, NULL);
    info->ocsp_status = status;
    r->st.errors++;
}

/* The status of a serial: from the table, else from the store (a
 * certificate issued since the last poll). NULL: not this CA's. */
static struct ent *lookup(struct hilt_ocsp_responder *r, const uint8_t *s, size_t n, int64_t now,
                          int *tokened)
{
    struct ent *x = find(r, s, n);
    if (x) return x;
    if (!take_token(r, now)) return NULL;
    *tokened = 1;
    char hex[48];
    for (size_t i = 0; i < n && i < 20; i++)
        snprintf(hex + 2 * i, 3, "%02x", s[i]);
    struct hilt_cert_rec c;
    if (hilt_store_cert_get(r->ca->st, hex, &c, NULL, NULL) != 1) return NULL;
    if (c.ca && !strcmp(c.ca, r->ca->rec.name)) track(r, &c);
    hilt_cert_rec_free(&c);
    return find(r, s, n);
}

int hilt_ocsp_responder_answer(struct hilt_ocsp_responder *r, const uint8_t *der, size_t len,
                               const char *get, size_t get_len, int64_t now, struct hilt_buf *out,
                               struct hilt_ocsp_answer *info)
{
    memset(info, 0, sizeof(*info));
    info->cert_status = -1;
    struct hilt_ocsp_req req = {0};
    int rc = get ? hilt_ocsp_req_parse_get(get, get_len, &req, NULL)
                 : hilt_ocsp_req_parse(der, len, &req, NULL);
    if (rc < 0) {
        error_resp(r, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, out, info);
        return 0;
    }
    int tokened = 0;
    /* the fast path: one SHA-1 CertID of this CA, answered from the table */
    if (req.n == 1) {
        OCSP_CERTID *id = hilt_ocsp_req_id(&req, 0);
        ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
        ASN1_OBJECT *md = NULL;
        ASN1_INTEGER *serial = NULL;
        if (id && OCSP_id_get0_info(&nh, &md, &kh, &serial, id) && OBJ_obj2nid(md) == NID_sha1 &&
            serial && ASN1_STRING_length(nh) == 20 && ASN1_STRING_length(kh) == 20) {
            if (memcmp(ASN1_STRING_get0_data(nh), r->name_hash, 20) ||
                memcmp(ASN1_STRING_get0_data(kh), r->key_hash, 20)) {
                /* RFC 5019 §2.2.3: not a CA this responder answers for */
                error_resp(r, OCSP_RESPONSE_STATUS_UNAUTHORIZED, out, info);
                hilt_ocsp_req_free(&req);
                return 0;
            }
            hilt_ocsp_id_serial_hex(id, info->serial, sizeof(info->serial));
            struct ent *x = lookup(r, ASN1_STRING_get0_data(serial),
                                   (size_t)ASN1_STRING_length(serial), now, &tokened);
            if (x && (!x->resp || x->next_update <= now) && (tokened || take_token(r, now))) {
                struct ent *one[1] = {x};
                sign_entries(r, one, 1, now, NULL);
                tokened = 1;
            }
            if (x && x->resp && x->next_update > now) {
                hilt_buf_reset(out);
                if (hilt_buf_add(out, x->resp, x->resp_len) < 0) {
                    hilt_ocsp_req_free(&req);
                    return -1;
                }
                info->presigned = !tokened;
                info->cert_status = x->status;
                info->this_update = x->this_update;
                info->next_update = x->next_update;
                if (tokened)
                    r->st.signed_answers++;
                else
                    r->st.presigned_answers++;
                hilt_ocsp_req_free(&req);
                return 0;
            }
        }
        ERR_clear_error();
    }
    /* everything else is signed now, at a bounded rate: SHA-256 CertIDs,
     * several CertIDs, serials this CA never issued (unknown), a nonce */
    if (!tokened && !take_token(r, now)) {
        error_resp(r, OCSP_RESPONSE_STATUS_TRYLATER, out, info);
        hilt_ocsp_req_free(&req);
        return 0;
    }
    struct hilt_ocsp_single s[HILT_OCSP_IDS_MAX];
    for (size_t i = 0; i < req.n; i++) {
        OCSP_CERTID *id = hilt_ocsp_req_id(&req, i);
        if (!hilt_ocsp_id_issued_by(id, r->ca->issuer)) {
            error_resp(r, OCSP_RESPONSE_STATUS_UNAUTHORIZED, out, info);
            hilt_ocsp_req_free(&req);
            return 0;
        }
        ASN1_INTEGER *serial = NULL;
        OCSP_id_get0_info(NULL, NULL, NULL, &serial, id);
        struct ent *x =
            serial ? find(r, ASN1_STRING_get0_data(serial), (size_t)ASN1_STRING_length(serial))
                   : NULL;
        if (!x && serial) {
            int t2 = 1;
            x = lookup(r, ASN1_STRING_get0_data(serial), (size_t)ASN1_STRING_length(serial), now,
                       &t2);
        }
        s[i] = (struct hilt_ocsp_single){.id = id,
                                         .status = x ? (enum hilt_ocsp_status)x->status
                                                     : HILT_OCSP_UNKNOWN,
                                         .revoked_at = x ? x->revoked_at : 0,
                                         .reason = x && x->reason > 0 ? x->reason : -1,
                                         .this_update = now,
                                         .next_update = now + r->o.validity};
        if (i == 0) {
            info->cert_status = s[i].status;
            hilt_ocsp_id_serial_hex(id, info->serial, sizeof(info->serial));
        }
    }
    struct hilt_ocsp_signer sg = {r->ca->issuer, NULL, hilt_signer_key(r->ca->signer), "sha256"};
    hilt_buf_reset(out);
    if (hilt_ocsp_resp_build(s, req.n, &sg, &req, now, out, NULL) < 0) {
        r->st.sign_failures++;
        error_resp(r, OCSP_RESPONSE_STATUS_INTERNALERROR, out, info);
    } else {
        info->this_update = now;
        info->next_update = now + r->o.validity;
        r->st.signed_answers++;
        r->st.signatures++;
    }
    hilt_ocsp_req_free(&req);
    ERR_clear_error();
    return 0;
}

/* ---- HTTP ---------------------------------------------------------------------------------------
 */

struct serve {
    struct hilt_ocsp_responder *r;
    const struct hilt_ocsp_serve_opts *o;
    int64_t failures_seen, last_restart;
    struct event_base *base;
    struct evhttp *http;
    struct event *tick, *sigint, *sigterm;
    struct hilt_buf out;
    int64_t last_refresh_log;
};

static void reply(struct serve *sv, struct evhttp_request *req, int is_get,
                  const struct hilt_ocsp_answer *a)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evbuffer_add(b, sv->out.data, sv->out.len);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/ocsp-response");
    if (is_get && a->ocsp_status == 0 && a->next_update > a->this_update) {
        /* RFC 5019 §6: let caches keep GET answers until nextUpdate */
        char v[120], t[40];
        int64_t left = a->next_update - hilt_now();
        snprintf(v, sizeof(v), "max-age=%lld, public, no-transform, must-revalidate",
                 (long long)(left > 0 ? left : 0));
        evhttp_add_header(h, "Cache-Control", v);
        hilt_time_fmt_http(a->this_update, t);
        evhttp_add_header(h, "Last-Modified", t);
        hilt_time_fmt_http(a->next_update, t);
        evhttp_add_header(h, "Expires", t);
    } else {
        evhttp_add_header(h, "Cache-Control", "no-store");
    }
    evhttp_send_reply(req, HTTP_OK, "OK", b);
    evbuffer_free(b);
}

static void http_cb(struct evhttp_request *req, void *arg)
{
    struct serve *sv = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct hilt_ocsp_answer a;
    int64_t now = hilt_now();
    if (cmd == EVHTTP_REQ_POST) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        uint8_t body[HILT_OCSP_REQ_MAX];
        if (n > sizeof(body)) n = sizeof(body) + 1; /* parse refuses it */
        ev_ssize_t got = evbuffer_copyout(in, body, n > sizeof(body) ? sizeof(body) : n);
        if (hilt_ocsp_responder_answer(sv->r, body, got < 0 ? 0 : (size_t)got + (n > sizeof(body)),
                                       NULL, 0, now, &sv->out, &a) < 0) {
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
            return;
        }
        reply(sv, req, 0, &a);
        return;
    }
    if (cmd == EVHTTP_REQ_GET) {
        const char *uri = evhttp_request_get_uri(req);
        const char *q = strchr(uri, '?');
        size_t ul = q ? (size_t)(q - uri) : strlen(uri);
        const char *seg = uri;
        for (size_t i = 0; i < ul; i++)
            if (uri[i] == '/') seg = uri + i + 1;
        size_t sl = (size_t)(uri + ul - seg);
        if (sl == 0) {
            evhttp_send_error(req, HTTP_NOTFOUND, "send an OCSP request (RFC 6960 A.1)");
            return;
        }
        if (hilt_ocsp_responder_answer(sv->r, NULL, 0, seg, sl, now, &sv->out, &a) < 0) {
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
            return;
        }
        reply(sv, req, 1, &a);
        return;
    }
    evhttp_send_error(req, HTTP_BADMETHOD, NULL);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct serve *sv = arg;
    int64_t now = hilt_now();
    struct hilt_err e = {0};
    if (now - sv->r->last_poll >= sv->r->o.poll_interval &&
        hilt_ocsp_responder_poll(sv->r, now, &e) < 0)
        fprintf(stderr, "hilt ocsp serve: polling the store: %s\n", e.msg);
    /* bounded per tick, so answering never waits long behind signing */
    if (hilt_ocsp_responder_refresh(sv->r, now, 4096, &e) < 0)
        fprintf(stderr, "hilt ocsp serve: signing responses: %s\n", e.msg);
    /* the signer process is gone: start another (it loads the key itself) */
    if (sv->r->st.sign_failures > sv->failures_seen && sv->o->restart_signer &&
        now - sv->last_restart >= 10) {
        sv->failures_seen = sv->r->st.sign_failures;
        sv->last_restart = now;
        struct hilt_err re = {0};
        if (hilt_ca_use_signer_process(sv->r->ca, sv->o->restart_signer, &re) < 0) {
            fprintf(stderr, "hilt ocsp serve: cannot restart the signer process: %s\n", re.msg);
        } else {
            sv->r->st.signer_restarts++;
            fprintf(stderr, "hilt ocsp serve: signing failed; started a new signer process (%d)\n",
                    (int)hilt_signer_pid(sv->r->ca->signer));
        }
    }
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(((struct serve *)arg)->base);
}

int hilt_ocsp_serve(struct hilt_ocsp_responder *r, const struct hilt_ocsp_serve_opts *o,
                    struct hilt_err *e)
{
    struct hilt_hostport hp;
    if (hilt_hostport_parse(o->listen, 0, &hp, e) < 0) {
        hilt_err_prefix(e, "--listen");
        return -1;
    }
    if (!hp.is_ip)
        return hilt_err_set(e, HILT_E_USAGE, 0, "--listen %s: give an IP address and a port",
                            o->listen);
    int fd = -1, rc = -1;
    if (hilt_tcp_listen(hp.host, hp.port, 1024, 0, &fd, e) < 0) return -1;
    int port = hilt_sock_port(fd);
    struct serve sv = {.r = r, .o = o};
    hilt_buf_init(&sv.out, HILT_OCSP_RESP_MAX);
    struct timeval one = {1, 0};
    if (!(sv.base = event_base_new()) || !(sv.http = evhttp_new(sv.base)) ||
        !(sv.tick = event_new(sv.base, -1, EV_PERSIST, on_tick, &sv)) ||
        !(sv.sigint = evsignal_new(sv.base, SIGINT, on_signal, &sv)) ||
        !(sv.sigterm = evsignal_new(sv.base, SIGTERM, on_signal, &sv))) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot create the event loop");
        goto out;
    }
    evhttp_set_allowed_methods(sv.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_max_body_size(sv.http, HILT_OCSP_REQ_MAX);
    evhttp_set_max_headers_size(sv.http, 16384);
    evhttp_set_timeout(sv.http, 30);
    evhttp_set_gencb(sv.http, http_cb, &sv);
    if (!evhttp_accept_socket_with_handle(sv.http, fd)) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot serve HTTP on %s", o->listen);
        goto out;
    }
    fd = -1; /* evhttp owns it */
    event_add(sv.tick, &one);
    event_add(sv.sigint, NULL);
    event_add(sv.sigterm, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (o->ready) o->ready(port, o->ready_arg);
    if (event_base_dispatch(sv.base) < 0) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "the event loop failed");
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0) close(fd);
    if (sv.http) evhttp_free(sv.http);
    if (sv.tick) event_free(sv.tick);
    if (sv.sigint) event_free(sv.sigint);
    if (sv.sigterm) event_free(sv.sigterm);
    if (sv.base) event_base_free(sv.base);
    hilt_buf_free(&sv.out);
    return rc;
}
