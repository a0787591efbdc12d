/* tickets.c - the process's session-ticket key ring, its three sources
 * (local rotation, a shared file, the store), and sealing for the store.
 * See tickets.h for the model and docs/gateway.md "Session resumption".
 *
 * Tickets are protected as RFC 5077 §4 recommends and OpenSSL implements
 * through SSL_CTX_set_tlsext_ticket_key_evp_cb: AES-256-CBC and
 * HMAC-SHA256 under a key named by 16 bytes that the ticket carries.
 */
#include "gateway/tickets.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/log.h"
#include "store/store_gateway.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct gw_tickets {
    pthread_rwlock_t lk;
    struct gw_tkey k[GW_TICKET_KEYS_MAX];
    int n, enc; /* enc < 0: no key may encrypt (no ticket is issued) */
    enum gw_tsource src;
    time_t rotated;
    EVP_CIPHER *cipher;
};

static struct gw_tickets *g_tickets; /* the process's ring, set by gw_tickets_new */

const char *gw_tsource_name(enum gw_tsource s)
{
    return s == GW_TSRC_FILE ? "file" : s == GW_TSRC_STORE ? "store" : "local";
}

struct gw_tickets *gw_tickets_new(struct hilt_err *e)
{
    struct gw_tickets *t = calloc(1, sizeof(*t));
    if (!t) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        return NULL;
    }
    pthread_rwlock_init(&t->lk, NULL);
    t->cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    if (!t->cipher || gw_tickets_rotate(t, 2) < 0) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "cannot set up session-ticket keys");
        gw_tickets_free(&t);
        return NULL;
    }
    g_tickets = t;
    return t;
}

void gw_tickets_free(struct gw_tickets **tp)
{
    if (!tp || !*tp) return;
    struct gw_tickets *t = *tp;
    if (g_tickets == t) g_tickets = NULL;
    OPENSSL_cleanse(t->k, sizeof(t->k));
    EVP_CIPHER_free(t->cipher);
    pthread_rwlock_destroy(&t->lk);
    free(t);
    *tp = NULL;
}

int gw_tickets_rotate(struct gw_tickets *t, int keep)
{
    struct gw_tkey k;
    memset(&k, 0, sizeof(k));
    if (RAND_bytes(k.name, sizeof(k.name)) != 1 || RAND_bytes(k.hmac, sizeof(k.hmac)) != 1 ||
        RAND_bytes(k.aes, sizeof(k.aes)) != 1)
        return -1;
    if (keep < 0) keep = 0;
    if (keep > GW_TICKET_KEEP_MAX) keep = GW_TICKET_KEEP_MAX;
    pthread_rwlock_wrlock(&t->lk);
    if (t->src != GW_TSRC_LOCAL) t->n = 0; /* a local ring never mixes with file/store keys */
    memmove(&t->k[1], &t->k[0], sizeof(t->k[0]) * (GW_TICKET_KEYS_MAX - 1));
    t->k[0] = k;
    t->n = t->n + 1 > keep + 1 ? keep + 1 : t->n + 1;
    OPENSSL_cleanse(&t->k[t->n], sizeof(t->k[0]) * (size_t)(GW_TICKET_KEYS_MAX - t->n));
    t->enc = 0;
    t->src = GW_TSRC_LOCAL;
    t->rotated = time(NULL);
    pthread_rwlock_unlock(&t->lk);
    OPENSSL_cleanse(&k, sizeof(k));
    return 0;
}

time_t gw_tickets_rotated(struct gw_tickets *t)
{
    pthread_rwlock_rdlock(&t->lk);
    time_t r = t->rotated;
    pthread_rwlock_unlock(&t->lk);
    return r;
}

void gw_tickets_set(struct gw_tickets *t, const struct gw_tkey *keys, int n, int enc,
                    enum gw_tsource src)
{
    if (n > GW_TICKET_KEYS_MAX) n = GW_TICKET_KEYS_MAX;
    if (enc >= n) enc = -1;
    pthread_rwlock_wrlock(&t->lk);
    int changed = t->n != n || t->enc != enc || t->src != src;
    for (int i = 0; !changed && i < n; i++)
        changed = memcmp(t->k[i].name, keys[i].name, 16) != 0;
    OPENSSL_cleanse(t->k, sizeof(t->k));
    if (n > 0) memcpy(t->k, keys, sizeof(*keys) * (size_t)n);
    t->n = n;
    t->enc = enc;
    t->src = src;
    if (changed) t->rotated = time(NULL);
    pthread_rwlock_unlock(&t->lk);
}

void gw_tickets_expire(struct gw_tickets *t, int64_t now)
{
    pthread_rwlock_rdlock(&t->lk);
    int any = 0;
    for (int i = 0; i < t->n && !any; i++)
        any = t->k[i].not_after && t->k[i].not_after < now;
    pthread_rwlock_unlock(&t->lk);
    if (!any) return;
    pthread_rwlock_wrlock(&t->lk);
    int j = 0, enc = -1;
    int64_t best = INT64_MIN;
    for (int i = 0; i < t->n; i++) {
        if (t->k[i].not_after && t->k[i].not_after < now) continue;
        if (j != i) t->k[j] = t->k[i];
        j++;
    }
    OPENSSL_cleanse(&t->k[j], sizeof(t->k[0]) * (size_t)(GW_TICKET_KEYS_MAX - j));
    t->n = j;
    /* the encrypting key: the newest whose period has begun */
    for (int i = 0; i < t->n; i++)
        if (t->k[i].period <= now && t->k[i].period > best) best = t->k[i].period, enc = i;
    t->enc = enc;
    t->rotated = time(NULL);
    pthread_rwlock_unlock(&t->lk);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0) return -1;
            v = v << 4 | d;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

void gw_tickets_info(struct gw_tickets *t, struct gw_tickets_info *out)
{
    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&t->lk);
    out->source = t->src;
    out->nkeys = t->n;
    out->rotated = t->rotated;
    if (t->enc >= 0 && t->enc < t->n) {
        hex(t->k[t->enc].name, 8, out->current);
        out->current_period = t->k[t->enc].period;
        out->current_not_after = t->k[t->enc].not_after;
    }
    pthread_rwlock_unlock(&t->lk);
}

int gw_tickets_load(struct gw_tickets *t, const char *path, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, 80 * 16);
    if (hilt_file_read(path, &b, e) < 0) {
        hilt_buf_free(&b);
        return -1;
    }
    if (b.len == 0 || b.len % 80) {
        OPENSSL_cleanse(b.data, b.len);
        hilt_buf_free(&b);
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "%s: expected one or more 80-byte ticket keys, got %zu bytes", path,
                            b.len);
    }
    struct gw_tkey k[GW_TICKET_KEYS_MAX];
    memset(k, 0, sizeof(k));
    int n = 0;
    for (size_t i = 0; i < b.len / 80 && n < GW_TICKET_KEYS_MAX; i++, n++) {
        memcpy(k[n].name, b.data + i * 80, 16);
        memcpy(k[n].hmac, b.data + i * 80 + 16, 32);
        memcpy(k[n].aes, b.data + i * 80 + 48, 32);
    }
    OPENSSL_cleanse(b.data, b.len);
    hilt_buf_free(&b);
    gw_tickets_set(t, k, n, 0, GW_TSRC_FILE);
    OPENSSL_cleanse(k, sizeof(k));
    return 0;
}

/* RFC 5077 §4 ticket protection; returns 1 (use), 2 (use, renew), 0 (unknown
 * key / no ticket), -1 (error). */
static int ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    (void)s;
    struct gw_tickets *t = g_tickets;
    if (!t) return -1;
    OSSL_PARAM params[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()};
    int rc = -1;
    pthread_rwlock_rdlock(&t->lk);
    if (enc) {
        if (t->enc < 0 || t->enc >= t->n) {
            rc = 0; /* no key may encrypt now: no ticket */
            goto out;
        }
        const struct gw_tkey *k = &t->k[t->enc];
        if (RAND_bytes(iv, 16) != 1) goto out;
        memcpy(name, k->name, 16);
        if (EVP_EncryptInit_ex(cctx, t->cipher, NULL, k->aes, iv) != 1 ||
            EVP_MAC_init(hctx, k->hmac, 32, params) != 1)
            goto out;
        rc = 1;
        goto out;
    }
    rc = 0;
    for (int i = 0; i < t->n; i++) {
        if (memcmp(name, t->k[i].name, 16)) continue;
        if (EVP_MAC_init(hctx, t->k[i].hmac, 32, params) != 1 ||
            EVP_DecryptInit_ex(cctx, t->cipher, NULL, t->k[i].aes, iv) != 1) {
            rc = -1;
            goto out;
        }
        rc = i == t->enc ? 1 : 2;
        break;
    }
out:
    pthread_rwlock_unlock(&t->lk);
    return rc;
}

void gw_ctx_install_tickets(SSL_CTX *ctx)
{
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}

/* ---- sealing ------------------------------------------------------------------------------- */

void gw_wrap_clear(struct gw_wrap *w)
{
    OPENSSL_cleanse(w, sizeof(*w));
}

int gw_wrap_load(const char *path, struct gw_wrap *w, struct hilt_err *e)
{
    struct stat st;
    memset(w, 0, sizeof(*w));
    if (stat(path, &st) < 0) {
        hilt_err_set(e, HILT_E_INPUT, 0, "%s: cannot read the ticket wrapping key: %s", path,
                     strerror(errno));
        return -1;
    }
    if (st.st_mode & 077)
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "%s: the ticket wrapping key is readable by group or others (mode "
                            "%04o); chmod 600 it",
                            path, (unsigned)(st.st_mode & 07777));
    struct hilt_buf b;
    hilt_buf_init(&b, 256);
    if (hilt_file_read(path, &b, e) < 0) {
        hilt_buf_free(&b);
        return -1;
    }
    int rc = -1;
    size_t n = b.len;
    while (n && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r'))
        n--;
    if (b.len == 32)
        memcpy(w->key, b.data, 32), rc = 0;
    else if (n == 64 && unhex((const char *)b.data, w->key, 32) == 0)
        rc = 0;
    OPENSSL_cleanse(b.data, b.len);
    hilt_buf_free(&b);
    if (rc < 0)
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "%s: expected a 32-byte ticket wrapping key (32 raw bytes or 64 hex "
                            "digits, e.g. from `openssl rand -hex 32`), got %zu bytes",
                            path, b.len);
    static const char label[] = "hilt ticket wrap id";
    uint8_t d[32];
    unsigned dl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(md, label, sizeof(label) - 1) == 1 &&
             EVP_DigestUpdate(md, w->key, 32) == 1 && EVP_DigestFinal_ex(md, d, &dl) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
        gw_wrap_clear(w);
        return hilt_err_ossl(e, HILT_E_RUNTIME, "cannot hash the ticket wrapping key");
    }
    hex(d, 8, w->id);
    return 0;
}

/* The associated data: what a sealed row may only ever be. */
static size_t aad(const char *ring, int64_t period, const uint8_t name[16], uint8_t *out)
{
    static const char label[] = "hilt-gw-tkey-1";
    size_t n = 0, rl = strlen(ring);
    if (rl > HILT_GW_RING_MAX) rl = HILT_GW_RING_MAX;
    memcpy(out + n, label, sizeof(label));
    n += sizeof(label);
    memcpy(out + n, ring, rl);
    n += rl;
    out[n++] = 0;
    for (int i = 7; i >= 0; i--)
        out[n++] = (uint8_t)((uint64_t)period >> (8 * i));
    memcpy(out + n, name, 16);
    return n + 16;
}

int gw_tkey_seal(const struct gw_wrap *w, const char *ring, const struct gw_tkey *k,
                 uint8_t out[GW_SEALED_LEN], struct hilt_err *e)
{
    uint8_t ad[128], pt[64], fin[16];
    size_t adl = aad(ring, k->period, k->name, ad);
    memcpy(pt, k->hmac, 32);
    memcpy(pt + 32, k->aes, 32);
    int len = 0, fl = 0, ok = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c && RAND_bytes(out, 12) == 1 &&
        EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
        EVP_EncryptInit_ex(c, NULL, NULL, w->key, out) == 1 &&
        EVP_EncryptUpdate(c, NULL, &len, ad, (int)adl) == 1 &&
        EVP_EncryptUpdate(c, out + 12, &len, pt, 64) == 1 && len == 64 &&
        EVP_EncryptFinal_ex(c, fin, &fl) == 1 && fl == 0 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + 12 + 64) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(c);
    OPENSSL_cleanse(pt, sizeof(pt));
    if (!ok) return hilt_err_ossl(e, HILT_E_RUNTIME, "cannot seal a ticket key");
    return 0;
}

int gw_tkey_unseal(const struct gw_wrap *w, const char *ring, int64_t period, const char *name_hex,
                   const uint8_t *in, size_t inlen, struct gw_tkey *k, struct hilt_err *e)
{
    memset(k, 0, sizeof(*k));
    if (strlen(name_hex) != 32 || unhex(name_hex, k->name, 16) < 0)
        return hilt_err_set(e, HILT_E_INPUT, 0, "ticket key of period %lld: bad name",
                            (long long)period);
    if (inlen != GW_SEALED_LEN)
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "ticket key %.8s… of period %lld: %zu sealed bytes, expected %d",
                            name_hex, (long long)period, inlen, GW_SEALED_LEN);
    uint8_t ad[128], pt[64], tag[16], fin[16];
    size_t adl = aad(ring, period, k->name, ad);
    memcpy(tag, in + 12 + 64, 16);
    int len = 0, fl = 0, ok = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
        EVP_DecryptInit_ex(c, NULL, NULL, w->key, in) == 1 &&
        EVP_DecryptUpdate(c, NULL, &len, ad, (int)adl) == 1 &&
        EVP_DecryptUpdate(c, pt, &len, in + 12, 64) == 1 && len == 64 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
        EVP_DecryptFinal_ex(c, fin, &fl) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(c);
    if (ok) {
        memcpy(k->hmac, pt, 32);
        memcpy(k->aes, pt + 32, 32);
        k->period = period;
    }
    OPENSSL_cleanse(pt, sizeof(pt));
    if (!ok) {
        ERR_clear_error();
        OPENSSL_cleanse(k, sizeof(*k));
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "ticket key %.8s… of period %lld does not open with this wrapping "
                            "key (altered, or moved from another ring or period)",
                            name_hex, (long long)period);
    }
    return 0;
}

/* ---- the store as the source -------------------------------------------------------------------
 */

struct rows {
    struct hilt_gw_tkey_rec r[16];
    int n;
};

static int row_cb(const struct hilt_gw_tkey_rec *r, void *arg)
{
    struct rows *x = arg;
    if (x->n < (int)(sizeof(x->r) / sizeof(x->r[0]))) x->r[x->n++] = *r;
    return 0;
}

static int make_key(struct gw_tsync *s, int64_t period, int64_t now, struct hilt_err *e)
{
    struct gw_tkey k;
    struct hilt_gw_tkey_rec r;
    memset(&k, 0, sizeof(k));
    memset(&r, 0, sizeof(r));
    if (RAND_bytes(k.name, 16) != 1 || RAND_bytes(k.hmac, 32) != 1 || RAND_bytes(k.aes, 32) != 1)
        return hilt_err_ossl(e, HILT_E_RUNTIME, "cannot make a ticket key");
    k.period = period;
    r.period = period;
    r.rotate = s->rotate_s;
    hex(k.name, 16, r.name);
    r.created = now;
    r.not_after = period + (int64_t)s->rotate_s * (1 + s->keep);
    snprintf(r.wrap_id, sizeof(r.wrap_id), "%s", s->wrap->id);
    int rc = gw_tkey_seal(s->wrap, s->ring, &k, r.sealed, e);
    OPENSSL_cleanse(&k, sizeof(k));
    if (rc < 0) return -1;
    r.sealed_len = GW_SEALED_LEN;
    char obj[160];
    snprintf(obj, sizeof(obj), "%s/%lld/%.8s", s->ring, (long long)period, r.name);
    struct hilt_audit_ev ev = {s->actor, "gateway.ticket_key.create", obj, "ok"};
    rc = hilt_store_gw_tkey_add(s->st, s->ring, &r, &ev, e);
    OPENSSL_cleanse(r.sealed, sizeof(r.sealed));
    if (rc == 1) s->made++;
    return rc < 0 ? -1 : 0;
}

int gw_tickets_sync(struct gw_tickets *t, struct gw_tsync *s, int64_t now, struct hilt_err *e)
{
    int64_t rot = s->rotate_s > 0 ? s->rotate_s : 3600;
    int64_t cur = now - ((now % rot) + rot) % rot;
    struct rows rows;
    s->made = s->foreign = 0;
    for (int pass = 0; pass < 2; pass++) {
        rows.n = 0;
        if (hilt_store_gw_tkey_list(s->st, s->ring, now, 16, row_cb, &rows, e) < 0) return -1;
        int have_cur = 0, have_next = 0, other_wrap = 0;
        for (int i = 0; i < rows.n; i++) {
            have_cur |= rows.r[i].period == cur;
            have_next |= rows.r[i].period == cur + rot;
            other_wrap |= strcmp(rows.r[i].wrap_id, s->wrap->id) != 0;
        }
        /* A node whose wrapping key differs from the ring's never adds keys to it:
         * the others could not unseal them (it is refused below, having none). */
        if ((have_cur && have_next) || other_wrap || pass) break;
        if (!have_cur && make_key(s, cur, now, e) < 0) return -1;
        if (!have_next && make_key(s, cur + rot, now, e) < 0) return -1;
    }
    struct gw_tkey keys[GW_TICKET_KEYS_MAX];
    int n = 0, enc = -1;
    int64_t best = INT64_MIN;
    char why[300] = "";
    for (int i = 0; i < rows.n && n < GW_TICKET_KEYS_MAX; i++) {
        const struct hilt_gw_tkey_rec *r = &rows.r[i];
        if (strcmp(r->wrap_id, s->wrap->id)) {
            s->foreign++;
            snprintf(why, sizeof(why),
                     "ticket key %.8s… of ring '%s' is sealed under wrapping key %s, this "
                     "gateway holds %s (tickets.store_key differs between nodes)",
                     r->name, s->ring, r->wrap_id, s->wrap->id);
            continue;
        }
        struct hilt_err e2;
        hilt_err_clear(&e2);
        if (gw_tkey_unseal(s->wrap, s->ring, r->period, r->name, r->sealed, r->sealed_len, &keys[n],
                           &e2) < 0) {
            s->foreign++;
            snprintf(why, sizeof(why), "%s", e2.msg);
            continue;
        }
        keys[n].not_after = r->not_after;
        if (r->period <= now && r->period > best) best = r->period, enc = n;
        n++;
    }
    OPENSSL_cleanse(rows.r, sizeof(rows.r));
    if (!n) {
        OPENSSL_cleanse(keys, sizeof(keys));
        return hilt_err_set(e, HILT_E_INPUT, 0, "%s: no usable ticket key in ring '%s'%s%s",
                            "tickets.store", s->ring, why[0] ? ": " : "", why);
    }
    if (s->foreign) hilt_warn("gateway: tickets: %d key(s) skipped: %s", s->foreign, why);
    gw_tickets_set(t, keys, n, enc, GW_TSRC_STORE);
    OPENSSL_cleanse(keys, sizeof(keys));
    /* the table only ever holds a few rows per ring; expired ones go once a period */
    if (now - s->last_prune >= rot) {
        s->last_prune = now;
        if (hilt_store_gw_tkey_prune(s->st, now - 60, &s->pruned, e) < 0) return -1;
    }
    return 0;
}
