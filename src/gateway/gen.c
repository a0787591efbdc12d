/* gen.c - one configuration built into contexts, lookups and sockets.
 *
 * Everything that can fail is done here, before a generation is published:
 * certificate and key loading (errors at the config's file:line:col), key/cert
 * pairing, SSL_CTX setup under the listener's profile, CA stores, backend
 * contexts, listener sockets. Workers only read a built generation.
 */
#include "gateway/gen.h"

#include "gateway/tp.h"

#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "telemetry/metrics.h"
#include "x509/key.h"
#include "x509/pem.h"
#include "x509/summary.h"
#include "x509/verify.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static atomic_ulong next_gen_id = 1;

/* kTLS needs the kernel's "tls" upper-layer protocol; without it OpenSSL would try
 * (and fail) two setsockopt calls on every connection. */
int gw_ktls_available(void)
{
    static int avail = -1;
    if (avail < 0) {
        char buf[256] = "";
        FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
        if (f) {
            if (!fgets(buf, sizeof(buf), f)) buf[0] = 0;
            fclose(f);
        }
        avail = strstr(buf, "tls") != NULL;
    }
    return avail;
}

static int cfgerr(struct hilt_err *e, const struct gw_config *c, struct gw_pos at, const char *path,
                  const char *msg)
{
    return hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d:%d: %s: %s", c->path, at.line, at.col, path,
                        msg);
}

/* ---- certificate sets ---------------------------------------------------- */

static int add_name(struct gw_certset *s, const char *n)
{
    for (size_t i = 0; i < s->nnames; i++)
        if (!strcasecmp(s->names[i], n)) return 0;
    char **v = realloc(s->names, (s->nnames + 1) * sizeof(*v));
    if (!v) return -1;
    s->names = v;
    char *d = strdup(n);
    if (!d) return -1;
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    s->names[s->nnames++] = d;
    return 0;
}

static int cert_names(X509 *x, struct gw_certset *s)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int any = 0;
    for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        if (g->type == GEN_DNS) {
            const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
            int l = ASN1_STRING_length(g->d.dNSName);
            char n[256];
            if (l <= 0 || l >= (int)sizeof(n) || memchr(d, 0, (size_t)l)) continue;
            memcpy(n, d, (size_t)l);
            n[l] = 0;
            if (add_name(s, n)) goto oom;
            any = 1;
        } else if (g->type == GEN_IPADD) {
            char n[64];
            int l = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);
            if ((l == 4 && inet_ntop(AF_INET, d, n, sizeof(n))) ||
                (l == 16 && inet_ntop(AF_INET6, d, n, sizeof(n)))) {
                if (add_name(s, n)) goto oom;
                any = 1;
            }
        }
    }
    GENERAL_NAMES_free(gens);
    if (!any) {
        char cn[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) >
                0 &&
            add_name(s, cn))
            return -1;
    }
    return 0;
oom:
    GENERAL_NAMES_free(gens);
    return -1;
}

static int key_class(EVP_PKEY *k)
{
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
        return 1;
    case EVP_PKEY_EC:
        return 2;
    case EVP_PKEY_ED25519:
    case EVP_PKEY_ED448:
        return 4;
    default:
        return 8;
    }
}

static int same_names(const struct gw_certset *a, const struct gw_certset *b)
{
    if (a->nnames != b->nnames) return 0;
    for (size_t i = 0; i < a->nnames; i++) {
        int found = 0;
        for (size_t j = 0; j < b->nnames && !found; j++)
            found = !strcmp(a->names[i], b->names[j]);
        if (!found) return 0;
    }
    return 1;
}

static void certset_free(struct gw_certset *s)
{
    SSL_CTX_free(s->ctx);
    for (size_t i = 0; i < s->nnames; i++)
        free(s->names[i]);
    free(s->names);
}

static int glob_match(const char *pat, const char *s)
{
    /* '*' matches any run; case-insensitive; iterative with one backtrack point */
    const char *star = NULL, *ss = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            ss = s;
        } else if (tolower((unsigned char)*pat) == tolower((unsigned char)*s)) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++ss;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return !*pat;
}

int gw_verify_subject_ok(const struct gw_listenercfg *l, X509 *x)
{
    if (!l->client_auth.nsubjects) return 1;
    char subj[512];
    hilt_name_fmt(X509_get_subject_name(x), subj, sizeof(subj));
    for (size_t i = 0; i < l->client_auth.nsubjects; i++)
        if (glob_match(l->client_auth.subjects[i], subj)) return 1;
    return 0;
}

/* Settings every server context of a listener shares. */
static int server_ctx_setup(SSL_CTX *ctx, struct gw_listener *L, X509_STORE *client_store,
                            STACK_OF(X509_NAME) * ca_names, long ticket_life, struct hilt_err *e)
{
    struct gw_listenercfg *lc = L->cfg;
    if (gw_ctx_apply_profile(ctx, lc->profile, e) < 0) return -1;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    if (gw_ktls_available()) SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    /* one recv per arrival instead of a header read and a body read per record */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* SSL_MODE_RELEASE_BUFFERS is set per connection once the handshake is done:
     * during it, buffers freed and allocated again after each record cost more
     * than they save. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Stateless tickets only: no server-side session cache and its lock. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    /* the ticket lifetime hint (RFC 8446 §4.6.1): how long a ticket is sure to
     * be decryptable, so clients do not offer tickets the key ring dropped */
    SSL_CTX_set_timeout(ctx, ticket_life);
    gw_ctx_install_tickets(ctx);
    static const unsigned char sid_ctx[] = "hilt-gateway";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_client_hello_cb(ctx, gw_client_hello_cb, L);
    SSL_CTX_set_msg_callback(ctx, gw_msg_cb);
    SSL_CTX_set_app_data(ctx, L);
    if (L->alpn_wire_len) SSL_CTX_set_alpn_select_cb(ctx, gw_alpn_cb, L);
    if (lc->client_auth.mode != HILT_CLIENT_CERT_NONE) {
        int mode = SSL_VERIFY_PEER;
        if (lc->client_auth.mode == HILT_CLIENT_CERT_REQUIRED)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        X509_STORE_up_ref(client_store);
        SSL_CTX_set_cert_store(ctx, client_store);
        SSL_CTX_set_verify(ctx, mode, gw_verify_cb);
        STACK_OF(X509_NAME) *dup = SSL_dup_CA_list(ca_names);
        if (dup) SSL_CTX_set_client_CA_list(ctx, dup);
    }
    return 0;
}

/* The certificate chain (leaf first) and key of one certificates: entry,
 * from its files or from the trust plane. 1 loaded, 0 skipped (an issue:
 * entry while only checking), -1 error (in e, at the entry's position). */
static int load_pair(struct gw_gen *g, struct gw_listener *L, size_t i, struct gw_tp *tp,
                     STACK_OF(X509) * *chain, EVP_PKEY **key, struct hilt_err *e)
{
    struct gw_config *c = g->cfg;
    struct gw_certcfg *cc = &L->cfg->certs[i];
    char path[160];
    struct hilt_err e2;
    hilt_err_clear(&e2);
    if (cc->issue) {
        if (!tp) return 0;
        if (gw_tp_cert(tp, L->cfg->name, cc->issue, chain, key, &e2) == 0) return 1;
        snprintf(path, sizeof(path), "listeners.%s.certificates[%zu].issue", L->name, i);
        cfgerr(e, c, cc->issue->at, path, e2.msg);
        return -1;
    }
    snprintf(path, sizeof(path), "listeners.%s.certificates[%zu].cert", L->name, i);
    if (!(*chain = hilt_certs_load(cc->cert, &e2))) {
        cfgerr(e, c, cc->cert_at, path, e2.msg);
        return -1;
    }
    if (!(*key = hilt_key_load(cc->key, &e2))) {
        snprintf(path, sizeof(path), "listeners.%s.certificates[%zu].key", L->name, i);
        cfgerr(e, c, cc->key_at, path, e2.msg);
        sk_X509_pop_free(*chain, X509_free);
        *chain = NULL;
        return -1;
    }
    return 1;
}

static int load_variant(struct gw_gen *g, struct gw_listener *L, struct gw_variant *v,
                        struct gw_tp *tp, struct hilt_err *e)
{
    struct gw_config *c = g->cfg;
    struct gw_listenercfg *lc = L->cfg;
    char path[128];
    int rc = -1;
    X509_STORE *store = NULL;
    STACK_OF(X509_NAME) *ca_names = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) goto oom;
    v->weight = 1;
    if (lc->client_auth.mode != HILT_CLIENT_CERT_NONE) {
        struct hilt_err e2;
        hilt_err_clear(&e2);
        STACK_OF(X509) *cas = hilt_certs_load(lc->client_auth.ca, &e2);
        if (!cas) {
            snprintf(path, sizeof(path), "listeners.%s.client_auth.ca", L->name);
            cfgerr(e, c, lc->client_auth.ca_at, path, e2.msg);
            goto out;
        }
        store = X509_STORE_new();
        ca_names = sk_X509_NAME_new_null();
        if (!store || !ca_names || hilt_store_add(store, cas) < 0) {
            sk_X509_pop_free(cas, X509_free);
            goto oom;
        }
        for (int i = 0; i < sk_X509_num(cas); i++) {
            X509 *x = sk_X509_value(cas, i);
            unsigned char *der = NULL;
            int n = i2d_X509(x, &der);
            if (n > 0) EVP_DigestUpdate(md, der, (size_t)n);
            OPENSSL_free(der);
            X509_NAME *nm = X509_NAME_dup(X509_get_subject_name(x));
            if (nm) sk_X509_NAME_push(ca_names, nm);
        }
        sk_X509_pop_free(cas, X509_free);
        EVP_DigestUpdate(md, lc->client_auth.mode == HILT_CLIENT_CERT_REQUIRED ? "R" : "O", 1);
        for (size_t i = 0; i < lc->client_auth.nsubjects; i++)
            EVP_DigestUpdate(md, lc->client_auth.subjects[i],
                             strlen(lc->client_auth.subjects[i]) + 1);
    }
    v->sets = calloc(lc->ncerts ? lc->ncerts : 1, sizeof(*v->sets));
    if (!v->sets) goto oom;
    long ticket_life = (long)c->ticket_rotate_s * (c->ticket_keep > 0 ? c->ticket_keep : 1);
    size_t default_cert = 0;
    for (size_t i = 0; i < lc->ncerts; i++)
        if (lc->certs[i].is_default) default_cert = i;
    for (size_t i = 0; i < lc->ncerts; i++) {
        struct gw_certcfg *cc = &lc->certs[i];
        STACK_OF(X509) *chain = NULL;
        EVP_PKEY *key = NULL;
        int lr = load_pair(g, L, i, tp, &chain, &key, e);
        if (lr < 0) goto out;
        if (lr == 0) continue;
        snprintf(path, sizeof(path), "listeners.%s.certificates[%zu].%s", L->name, i,
                 cc->issue ? "issue" : "cert");
        X509 *leaf = sk_X509_value(chain, 0);
        if (X509_check_private_key(leaf, key) != 1) {
            ERR_clear_error();
            char msg[600];
            snprintf(msg, sizeof(msg), "%s does not match the certificate in %s",
                     cc->key ? cc->key : "the issued key", cc->cert ? cc->cert : "the store");
            snprintf(path, sizeof(path), "listeners.%s.certificates[%zu].key", L->name, i);
            cfgerr(e, c, cc->issue ? cc->issue->at : cc->key_at, path, msg);
            EVP_PKEY_free(key);
            sk_X509_pop_free(chain, X509_free);
            goto out;
        }
        for (int k = 0; k < sk_X509_num(chain); k++) {
            unsigned char *der = NULL;
            int n = i2d_X509(sk_X509_value(chain, k), &der);
            if (n > 0) EVP_DigestUpdate(md, der, (size_t)n);
            OPENSSL_free(der);
        }
        /* which set: same names as an existing one, else a new one */
        struct gw_certset tmp = {0};
        if (cert_names(leaf, &tmp)) {
            certset_free(&tmp);
            EVP_PKEY_free(key);
            sk_X509_pop_free(chain, X509_free);
            goto oom;
        }
        struct gw_certset *set = NULL;
        for (size_t s = 0; s < v->nsets; s++)
            if (same_names(&v->sets[s], &tmp)) set = &v->sets[s];
        int kc = key_class(key);
        if (set) {
            certset_free(&tmp);
            if (set->key_types & kc) {
                char msg[300];
                snprintf(msg, sizeof(msg),
                         "a certificate with the same names and key type is already listed; "
                         "list one per key type (RSA and ECDSA may share names)");
                cfgerr(e, c, cc->at, path, msg);
                EVP_PKEY_free(key);
                sk_X509_pop_free(chain, X509_free);
                goto out;
            }
        } else {
            set = &v->sets[v->nsets++];
            *set = tmp;
            set->ctx = SSL_CTX_new(TLS_server_method());
            if (!set->ctx || server_ctx_setup(set->ctx, L, store, ca_names, ticket_life, e) < 0) {
                if (set->ctx) hilt_err_prefix(e, "listeners.%s", L->name);
                EVP_PKEY_free(key);
                sk_X509_pop_free(chain, X509_free);
                if (!set->ctx) goto oom;
                goto out;
            }
        }
        if (i == default_cert) v->default_set = (size_t)(set - v->sets);
        set->key_types |= kc;
        STACK_OF(X509) *rest = sk_X509_new_null();
        for (int k = 1; rest && k < sk_X509_num(chain); k++)
            sk_X509_push(rest, sk_X509_value(chain, k));
        int ok = rest && SSL_CTX_use_certificate(set->ctx, leaf) == 1 &&
                 SSL_CTX_use_PrivateKey(set->ctx, key) == 1 &&
                 SSL_CTX_set1_chain(set->ctx, rest) == 1;
        sk_X509_free(rest);
        if (ok && set->ninfo < 4) {
            struct gw_certinfo *ci = &set->info[set->ninfo++];
            hilt_name_fmt(X509_get_subject_name(leaf), ci->subject, sizeof(ci->subject));
            hilt_serial_hex(leaf, ci->serial, sizeof(ci->serial));
            hilt_key_describe(key, ci->key, sizeof(ci->key));
            ci->not_after = hilt_cert_not_after(leaf);
            /* the profile's certificate rules are advice here, not a refusal */
            const struct hilt_cert_rules *cr = &lc->profile->certificate;
            time_t life = ci->not_after - hilt_cert_not_before(leaf);
            if (cr->max_lifetime_days && life > (time_t)cr->max_lifetime_days * 86400) {
                char w[600];
                snprintf(w, sizeof(w), "%s: certificate %s lives %ld days, profile %s allows %d",
                         cc->cert ? cc->cert : "issue", ci->subject, (long)(life / 86400),
                         lc->profile->name, cr->max_lifetime_days);
                char **nw = realloc(g->warnings, (g->nwarnings + 1) * sizeof(*nw));
                if (nw) {
                    g->warnings = nw;
                    if ((nw[g->nwarnings] = strdup(w))) g->nwarnings++;
                }
            }
        }
        EVP_PKEY_free(key);
        sk_X509_pop_free(chain, X509_free);
        if (!ok) {
            hilt_err_ossl(e, HILT_E_INPUT, "%s:%d:%d: %s: OpenSSL refused the certificate", c->path,
                          cc->at.line, cc->at.col, path);
            goto out;
        }
    }
    /* the id: certificates, CA, and the resolved profile */
    json_t *pj = hilt_profile_json(lc->profile);
    char *ps = pj ? json_dumps(pj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(pj);
    if (ps) EVP_DigestUpdate(md, ps, strlen(ps));
    free(ps);
    for (size_t i = 0; i < lc->nalpn; i++)
        EVP_DigestUpdate(md, lc->alpn[i], strlen(lc->alpn[i]) + 1);
    unsigned char dg[32];
    unsigned dl = 0;
    EVP_DigestFinal_ex(md, dg, &dl);
    for (int i = 0; i < 6; i++)
        snprintf(v->id + i * 2, 3, "%02x", dg[i]);
    rc = 0;
    goto out;
oom:
    hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
out:
    EVP_MD_CTX_free(md);
    X509_STORE_free(store);
    sk_X509_NAME_pop_free(ca_names, X509_NAME_free);
    return rc;
}

static int build_backend_tls(struct gw_gen *g, struct gw_backend *B, struct hilt_err *e)
{
    struct gw_backendtls *t = &B->cfg->tls;
    struct gw_config *c = g->cfg;
    char path[128];
    if (!t->enabled) return 0;
    SSL_CTX *ctx = B->tls = SSL_CTX_new(TLS_client_method());
    if (!ctx) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    if (gw_ctx_apply_profile(ctx, t->profile, e) < 0) {
        hilt_err_prefix(e, "%s:%d:%d: backends.%s.tls.profile", c->path, t->profile_at.line,
                        t->profile_at.col, B->name);
        return -1;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (gw_ktls_available()) SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    SSL_CTX_set_read_ahead(ctx, 1);
    if (t->verify) {
        struct hilt_err e2;
        hilt_err_clear(&e2);
        X509_STORE *st = hilt_store_new(t->ca, &e2);
        if (!st) {
            snprintf(path, sizeof(path), "backends.%s.tls.ca", B->name);
            return cfgerr(e, c, t->ca_at, path, e2.msg);
        }
        SSL_CTX_set_cert_store(ctx, st);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (t->cert) {
        struct hilt_err e2;
        hilt_err_clear(&e2);
        STACK_OF(X509) *chain = hilt_certs_load(t->cert, &e2);
        if (!chain) {
            snprintf(path, sizeof(path), "backends.%s.tls.cert", B->name);
            return cfgerr(e, c, t->cert_at, path, e2.msg);
        }
        EVP_PKEY *key = hilt_key_load(t->key, &e2);
        if (!key) {
            sk_X509_pop_free(chain, X509_free);
            snprintf(path, sizeof(path), "backends.%s.tls.key", B->name);
            return cfgerr(e, c, t->key_at, path, e2.msg);
        }
        X509 *leaf = sk_X509_value(chain, 0);
        STACK_OF(X509) *rest = sk_X509_new_null();
        for (int k = 1; rest && k < sk_X509_num(chain); k++)
            sk_X509_push(rest, sk_X509_value(chain, k));
        int ok = rest && X509_check_private_key(leaf, key) == 1 &&
                 SSL_CTX_use_certificate(ctx, leaf) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
                 SSL_CTX_set1_chain(ctx, rest) == 1;
        sk_X509_free(rest);
        EVP_PKEY_free(key);
        sk_X509_pop_free(chain, X509_free);
        if (!ok) {
            ERR_clear_error();
            snprintf(path, sizeof(path), "backends.%s.tls.key", B->name);
            return cfgerr(e, c, t->key_at, path, "key does not match the client certificate");
        }
    }
    return 0;
}

static int open_listener(struct gw_gen *g, struct gw_listener *L, struct gw_gen *prev, int bind,
                         struct hilt_err *e)
{
    L->nfds = g->nworkers;
    L->fds = malloc(sizeof(int) * (size_t)g->nworkers);
    if (!L->fds) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    for (int i = 0; i < g->nworkers; i++)
        L->fds[i] = -1;
    if (!bind) return 0;
    for (size_t i = 0; prev && i < prev->nlisteners; i++) {
        struct gw_listener *P = &prev->listeners[i];
        if (P->nfds == L->nfds && P->fds[0] >= 0 && !strcmp(P->cfg->addr.host, L->cfg->addr.host) &&
            P->cfg->addr.port == L->cfg->addr.port) {
            memcpy(L->fds, P->fds, sizeof(int) * (size_t)L->nfds); /* moved on publish */
            return 0;
        }
    }
    uint16_t port = L->cfg->addr.port;
    for (int i = 0; i < g->nworkers; i++) {
        /* port 0: the first socket picks one, the other workers' sockets join it */
        if (i == 1 && !port) port = (uint16_t)hilt_sock_port(L->fds[0]);
        if (hilt_tcp_listen(L->cfg->addr.host, port, 4096, 1, &L->fds[i], e) < 0) {
            hilt_err_prefix(e, "%s:%d:%d: listeners.%s.listen", g->cfg->path,
                            L->cfg->listen_at.line, L->cfg->listen_at.col, L->name);
            return -1;
        }
        hilt_set_nonblock(L->fds[i], 1);
        /* accepted sockets inherit TCP_NODELAY: one setsockopt per listener, not per client */
        int one = 1;
        setsockopt(L->fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return 0;
}

void gw_gen_take_sockets(struct gw_gen *g, struct gw_gen *prev)
{
    for (size_t i = 0; prev && i < g->nlisteners; i++)
        for (size_t j = 0; j < prev->nlisteners; j++)
            if (prev->listeners[j].fds && g->listeners[i].fds && prev->listeners[j].fds[0] >= 0 &&
                prev->listeners[j].fds[0] == g->listeners[i].fds[0])
                for (int k = 0; k < prev->listeners[j].nfds; k++)
                    prev->listeners[j].fds[k] = -1;
}

struct gw_gen *gw_gen_build(struct gw_config *cfg, struct gw_gen *prev, int nworkers,
                            struct gw_tp *tp, struct tm_registry *reg, int bind, struct hilt_err *e)
{
    struct gw_gen *g = calloc(1, sizeof(*g));
    if (!g) {
        gw_config_free(&cfg);
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        return NULL;
    }
    atomic_init(&g->refs, 1);
    g->id = atomic_fetch_add(&next_gen_id, 1);
    g->built = time(NULL);
    g->cfg = cfg;
    g->events_fd = -1;
    g->nworkers = nworkers;
    g->backends = calloc(cfg->nbackends, sizeof(*g->backends));
    g->listeners = calloc(cfg->nlisteners, sizeof(*g->listeners));
    if (!g->backends || !g->listeners) goto oom;
    for (size_t i = 0; i < cfg->nbackends; i++) {
        struct gw_backend *B = &g->backends[g->nbackends++];
        B->cfg = &cfg->backends[i];
        B->name = reg ? tm_intern(reg, B->cfg->name) : B->cfg->name;
        B->servers = calloc(B->cfg->nservers, sizeof(*B->servers));
        if (!B->name || !B->servers) goto oom;
        for (size_t s = 0; s < B->cfg->nservers; s++) {
            struct gw_server *S = &B->servers[B->nservers++];
            const struct hilt_hostport *hp = &B->cfg->addrs[s];
            memset(&S->sa, 0, sizeof(S->sa));
            if (strchr(hp->host, ':')) {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&S->sa;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons(hp->port);
                inet_pton(AF_INET6, hp->host, &a->sin6_addr);
                S->salen = sizeof(*a);
            } else {
                struct sockaddr_in *a = (struct sockaddr_in *)&S->sa;
                a->sin_family = AF_INET;
                a->sin_port = htons(hp->port);
                inet_pton(AF_INET, hp->host, &a->sin_addr);
                S->salen = sizeof(*a);
            }
            char lbl[300];
            hilt_hostport_fmt(hp, lbl, sizeof(lbl));
            S->label = reg ? tm_intern(reg, lbl) : NULL;
            atomic_init(&S->active, 0);
            atomic_init(&S->up, 1);
        }
        if (build_backend_tls(g, B, e) < 0) goto fail;
    }
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        struct gw_listener *L = &g->listeners[g->nlisteners++];
        L->cfg = &cfg->listeners[i];
        L->name = reg ? tm_intern(reg, L->cfg->name) : L->cfg->name;
        if (!L->name) goto oom;
        for (size_t a = 0; a < L->cfg->nalpn; a++) {
            size_t n = strlen(L->cfg->alpn[a]);
            if (L->alpn_wire_len + n + 1 > sizeof(L->alpn_wire)) break;
            L->alpn_wire[L->alpn_wire_len++] = (unsigned char)n;
            memcpy(L->alpn_wire + L->alpn_wire_len, L->cfg->alpn[a], n);
            L->alpn_wire_len += n;
        }
        L->routes = calloc(L->cfg->nroutes, sizeof(*L->routes));
        L->variants = calloc(1, sizeof(*L->variants));
        if (!L->routes || !L->variants) goto oom;
        for (size_t r = 0; r < L->cfg->nroutes; r++) {
            L->routes[r].sni = L->cfg->routes[r].sni;
            L->routes[r].alpn = L->cfg->routes[r].alpn;
            L->routes[r].be = &g->backends[L->cfg->routes[r].backend_idx];
            L->routes[r].passthrough = L->cfg->routes[r].passthrough;
        }
        L->nroutes = L->cfg->nroutes;
        L->nvariants = 1;
        if (load_variant(g, L, &L->variants[0], tp, e) < 0) goto fail;
        L->variants[0].label = reg ? tm_intern(reg, L->variants[0].id) : L->variants[0].id;
        if (!L->variants[0].label) goto oom;
        L->total_weight = L->variants[0].weight;
    }
    for (size_t i = 0; i < g->nlisteners; i++)
        if (open_listener(g, &g->listeners[i], prev, bind, e) < 0) goto fail;
    if (cfg->events_file && bind) {
        if (!strcmp(cfg->events_file, "-")) {
            g->events_fd = STDOUT_FILENO;
        } else {
            g->events_fd = open(cfg->events_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
            if (g->events_fd < 0) {
                hilt_err_set(e, HILT_E_INPUT, errno, "%s: events.file: cannot open %s: %s",
                             cfg->path, cfg->events_file, strerror(errno));
                goto fail;
            }
        }
    }
    return g;
oom:
    hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
fail:
    /* sockets borrowed from prev are not ours to close */
    for (size_t i = 0; prev && i < g->nlisteners; i++)
        for (size_t j = 0; j < prev->nlisteners; j++)
            if (g->listeners[i].fds && prev->listeners[j].fds && g->listeners[i].fds[0] >= 0 &&
                g->listeners[i].fds[0] == prev->listeners[j].fds[0])
                for (int k = 0; k < g->listeners[i].nfds; k++)
                    g->listeners[i].fds[k] = -1;
    gw_gen_unref(g);
    return NULL;
}

void gw_gen_ref(struct gw_gen *g)
{
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
}

void gw_gen_unref(struct gw_gen *g)
{
    if (!g || atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) != 1) return;
    for (size_t i = 0; i < g->nlisteners; i++) {
        struct gw_listener *L = &g->listeners[i];
        for (size_t v = 0; L->variants && v < L->nvariants; v++) {
            for (size_t s = 0; s < L->variants[v].nsets; s++)
                certset_free(&L->variants[v].sets[s]);
            free(L->variants[v].sets);
        }
        free(L->variants);
        free(L->routes);
        for (int k = 0; L->fds && k < L->nfds; k++)
            if (L->fds[k] >= 0) close(L->fds[k]);
        free(L->fds);
    }
    free(g->listeners);
    for (size_t i = 0; i < g->nbackends; i++) {
        SSL_CTX_free(g->backends[i].tls);
        free(g->backends[i].servers);
    }
    free(g->backends);
    if (g->events_fd > STDERR_FILENO) close(g->events_fd);
    for (size_t i = 0; i < g->nwarnings; i++)
        free(g->warnings[i]);
    free(g->warnings);
    gw_config_free(&g->cfg);
    free(g);
}

struct gw_certset *gw_variant_lookup(struct gw_variant *v, const char *sni, int strict)
{
    if (!v->nsets) return NULL;
    if (sni && *sni) {
        for (size_t s = 0; s < v->nsets; s++)
            for (size_t i = 0; i < v->sets[s].nnames; i++)
                if (v->sets[s].names[i][0] != '*' && !strcasecmp(v->sets[s].names[i], sni))
                    return &v->sets[s];
        for (size_t s = 0; s < v->nsets; s++)
            for (size_t i = 0; i < v->sets[s].nnames; i++)
                if (v->sets[s].names[i][0] == '*' && gw_name_match(v->sets[s].names[i], sni))
                    return &v->sets[s];
    }
    if (strict) return NULL;
    return &v->sets[v->default_set];
}

struct gw_variant *gw_pick_variant(struct gw_listener *l, unsigned rnd)
{
    if (l->nvariants == 1 || !l->total_weight) return &l->variants[0];
    unsigned x = rnd % l->total_weight;
    for (size_t i = 0; i < l->nvariants; i++) {
        if (x < l->variants[i].weight) return &l->variants[i];
        x -= l->variants[i].weight;
    }
    return &l->variants[0];
}

struct gw_route *gw_route_find(struct gw_listener *l, const char *sni, const char *alpn,
                               int ignore_alpn)
{
    for (size_t i = 0; i < l->nroutes; i++) {
        struct gw_route *r = &l->routes[i];
        if (r->passthrough) continue; /* only gw_route_peek() takes those */
        if (strcmp(r->sni, "*") && !(sni && gw_name_match(r->sni, sni))) continue;
        if (!ignore_alpn && r->alpn && (!alpn || strcmp(r->alpn, alpn))) continue;
        return r;
    }
    return NULL;
}

struct gw_route *gw_route_peek(struct gw_listener *l, const char *sni)
{
    for (size_t i = 0; i < l->nroutes; i++) {
        struct gw_route *r = &l->routes[i];
        if (strcmp(r->sni, "*") && !(sni && gw_name_match(r->sni, sni))) continue;
        return r;
    }
    return NULL;
}
