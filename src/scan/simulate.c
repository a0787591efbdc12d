/* simulate.c - per-client simulation against a live server: each client's own
 * ClientHello, the server's answer judged as that client would, trust included. */
#include "scan/simulate.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/http.h"
#include "core/json.h"
#include "core/net.h"
#include "policy/suites.h"
#include "tls/client.h"
#include "tls/hello.h"
#include "tls/profile.h"
#include "x509/key.h"
#include "x509/summary.h"
#include "x509/verify.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIM_READ_MAX (64u << 10)

static void result_init(const struct hilt_client *c, struct hilt_sim_result *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->client, sizeof(r->client), "%s", c->id);
    hilt_client_label(c, r->label, sizeof(r->label));
}

static void verdict(struct hilt_sim_result *r, enum hilt_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void verdict(struct hilt_sim_result *r, enum hilt_code code, const char *fmt, ...)
{
    r->connects = 0;
    r->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
    va_end(ap);
}

void hilt_sim_fail(const struct hilt_client *c, enum hilt_code code, const char *reason,
                   struct hilt_sim_result *r)
{
    result_init(c, r);
    verdict(r, code, "%s", reason ? reason : hilt_code_name(code));
}

int hilt_sim_hello(const struct hilt_client *c, const struct hilt_sim_target *t,
                   struct hilt_buf *out, struct hilt_err *e)
{
    struct hilt_ch_spec s;
    struct hilt_client_spec_buf sb;
    hilt_client_ch_spec(c, t ? t->host : NULL, &s, &sb);
    if (hilt_client_hello_build(&s, out, e) < 0) {
        hilt_err_prefix(e, "client %s", c->id);
        return -1;
    }
    return 0;
}

static int has(const struct hilt_u16list *l, uint16_t x)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == x) return 1;
    return 0;
}

static const char *alert_name(int d)
{
    static const struct {
        int d;
        const char *n;
    } names[] = {{0, "close_notify"},
                 {10, "unexpected_message"},
                 {20, "bad_record_mac"},
                 {22, "record_overflow"},
                 {40, "handshake_failure"},
                 {42, "bad_certificate"},
                 {43, "unsupported_certificate"},
                 {44, "certificate_revoked"},
                 {45, "certificate_expired"},
                 {46, "certificate_unknown"},
                 {47, "illegal_parameter"},
                 {48, "unknown_ca"},
                 {49, "access_denied"},
                 {50, "decode_error"},
                 {51, "decrypt_error"},
                 {70, "protocol_version"},
                 {71, "insufficient_security"},
                 {80, "internal_error"},
                 {86, "inappropriate_fallback"},
                 {90, "user_canceled"},
                 {109, "missing_extension"},
                 {110, "unsupported_extension"},
                 {112, "unrecognized_name"},
                 {116, "certificate_required"},
                 {120, "no_application_protocol"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].d == d) return names[i].n;
    return "unknown";
}

static const char *vname(uint16_t wire)
{
    enum hilt_tls_version v;
    if (hilt_tls_version_from_wire(wire, &v) == 0) return hilt_tls_version_name(v);
    return "an unknown version";
}

static void versions_str(const struct hilt_client *c, char *out, size_t cap)
{
    size_t l = 0;
    out[0] = '\0';
    for (int v = 0; v < HILT_TLS_VERSION_COUNT; v++)
        if (c->versions & HILT_VERSION_BIT(v))
            l += (size_t)snprintf(out + l, l < cap ? cap - l : 0, "%s%s", l ? ", " : "",
                                  hilt_tls_version_name((enum hilt_tls_version)v));
}

/* ---- the certificate chain, judged by this client's rules ------------------ */

static int is_issuer_missing(int err)
{
    return err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           err == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
           err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
}

static int missing_issuer(const struct hilt_verify *v)
{
    for (int i = 0; i < v->n; i++)
        if (is_issuer_missing(v->issues[i].error)) return 1;
    return 0;
}

static void subject_of(X509 *x, char *out, size_t cap)
{
    hilt_name_fmt(X509_get_subject_name(x), out, cap);
}

static void fmt_time(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fmt_delta(long long s, char *out, size_t cap)
{
    if (s < 0) s = -s;
    if (s >= 86400)
        snprintf(out, cap, "%lld days", s / 86400);
    else if (s >= 3600)
        snprintf(out, cap, "%lld hours", s / 3600);
    else
        snprintf(out, cap, "%lld minutes", s / 60);
}

/* Adds the findings this client would have about the chain. */
static void judge_chain(const struct hilt_client *c, const struct hilt_sim_target *t,
                        STACK_OF(X509) * chain, time_t now, struct hilt_findings *fs, char *note,
                        size_t notecap)
{
    X509 *leaf = sk_X509_value(chain, 0);
    char subj[300];
    /* Key sizes, leaf and intermediates (the client checks every certificate it is sent). */
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        EVP_PKEY *k = X509_get0_pubkey(x);
        if (!k) continue;
        int bits = EVP_PKEY_get_bits(k);
        int floor = 0;
        if (EVP_PKEY_is_a(k, "RSA") || EVP_PKEY_is_a(k, "RSA-PSS"))
            floor = c->rsa_min_bits;
        else if (EVP_PKEY_is_a(k, "EC"))
            floor = c->ec_min_bits;
        if (floor && bits < floor) {
            char kd[48];
            subject_of(x, subj, sizeof(subj));
            hilt_key_describe(k, kd, sizeof(kd));
            struct hilt_finding *f =
                hilt_findings_add(fs, HILT_C_WEAK_KEY, "subject", subj, "key", kd, NULL);
            if (f)
                hilt_finding_evidence(f, "%s has a %d-bit key; %s %s requires at least %d bits",
                                      subj, bits, c->name, c->version, floor);
        }
    }
    /* SHA-1 (and MD5) signatures on the certificates it is sent; a self-signed root's own signature
     * is not checked. */
    int refuse =
        c->sha1 == HILT_SHA1_REJECT || (c->sha1 == HILT_SHA1_REJECT_PUBLIC && !t->private_anchors);
    for (int i = 0; refuse && i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        if (i > 0 && hilt_cert_self_issued(x)) continue;
        char dg[16];
        hilt_cert_sig_digest(x, dg, sizeof(dg));
        if (strcmp(dg, "sha1") && strcmp(dg, "md5")) continue;
        subject_of(x, subj, sizeof(subj));
        struct hilt_finding *f =
            hilt_findings_add(fs, HILT_C_WEAK_SIGNATURE, "subject", subj, "digest",
                              !strcmp(dg, "sha1") ? "SHA-1" : "MD5", NULL);
        if (f)
            hilt_finding_evidence(f, "%s %s refuses %s certificate signatures%s", c->name,
                                  c->version, dg,
                                  c->sha1 == HILT_SHA1_REJECT_PUBLIC ? " under public roots" : "");
    }
    /* Trust: build the chain as this client would. */
    if (t->store) {
        struct hilt_verify v, v2;
        struct hilt_err e = {0};
        if (hilt_verify_chain(t->store, chain, NULL, now, 0, 0, &v, &e) == 0) {
            if (missing_issuer(&v)) {
                X509 *top = v.chain && sk_X509_num(v.chain)
                                ? sk_X509_value(v.chain, sk_X509_num(v.chain) - 1)
                                : leaf;
                char url[1][512];
                int nurl = hilt_cert_aia_urls(top, NID_ad_ca_issuers, url, 1);
                int completes = 0, fetched_some = t->aia && sk_X509_num(t->aia) > 0;
                char top_iss[300] = "";
                if (fetched_some &&
                    hilt_verify_chain(t->store, chain, t->aia, now, 0, 0, &v2, &e) == 0) {
                    completes = !missing_issuer(&v2);
                    X509 *top2 = v2.chain && sk_X509_num(v2.chain)
                                     ? sk_X509_value(v2.chain, sk_X509_num(v2.chain) - 1)
                                     : top;
                    hilt_name_fmt(X509_get_issuer_name(top2), top_iss, sizeof(top_iss));
                    if (completes && c->aia_fetch) {
                        hilt_verify_free(&v);
                        v = v2;
                    } else {
                        hilt_verify_free(&v2);
                    }
                }
                char iss[300];
                hilt_name_fmt(X509_get_issuer_name(top), iss, sizeof(iss));
                if (completes && !c->aia_fetch) {
                    char where[600];
                    snprintf(where, sizeof(where),
                             "%s %s does not fetch missing intermediates (AIA)%s; it needs the "
                             "server to send %s.",
                             c->name, c->version,
                             c->intermediate_preload
                                 ? " and only preloads the publicly disclosed (CCADB) ones"
                                 : "",
                             iss);
                    struct hilt_finding *f = hilt_findings_add(
                        fs, HILT_C_CHAIN_INCOMPLETE, "missing", iss, "found_in", where, NULL);
                    if (f)
                        hilt_finding_evidence(
                            f,
                            "the server sent %d certificate%s; the chain needs %s (caIssuers %s)",
                            sk_X509_num(chain), sk_X509_num(chain) == 1 ? "" : "s", iss,
                            nurl ? url[0] : "-");
                } else if (!completes && nurl && !fetched_some) {
                    /* A caIssuers URL means the missing certificate is an intermediate. */
                    char where[700];
                    snprintf(where, sizeof(where), "%s %s %s; %s %s.", c->name, c->version,
                             c->aia_fetch ? "would try to fetch it from the caIssuers URL"
                                          : "does not fetch missing intermediates (AIA)",
                             t->aia_fetched ? "nothing usable could be fetched from"
                                            : "this simulation did not fetch",
                             url[0]);
                    hilt_findings_add(fs, HILT_C_CHAIN_INCOMPLETE, "missing", iss, "found_in",
                                      where, NULL);
                } else if (!completes) {
                    const char *root = top_iss[0] ? top_iss : iss;
                    struct hilt_finding *f =
                        hilt_findings_add(fs, HILT_C_UNTRUSTED_ROOT, "root", root, NULL);
                    if (f)
                        hilt_finding_evidence(f,
                                              "no certificate for %s is in the trust store "
                                              "standing in for the %s store",
                                              root, c->trust_store);
                } else if (c->aia_fetch) {
                    snprintf(note, notecap, "the server omits %s; %s %s fetches it from %s", iss,
                             c->name, c->version, nurl ? url[0] : "the caIssuers URL");
                }
            }
            for (int i = 0; i < v.n; i++) {
                const struct hilt_verify_issue *is = &v.issues[i];
                X509 *x = v.chain && is->depth < sk_X509_num(v.chain)
                              ? sk_X509_value(v.chain, is->depth)
                              : leaf;
                subject_of(x, subj, sizeof(subj));
                char a[32], d[32];
                switch (is->error) {
                case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
                    hilt_findings_add(fs, HILT_C_SELF_SIGNED, "subject", subj, NULL);
                    break;
                case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
                    hilt_findings_add(fs, HILT_C_UNTRUSTED_ROOT, "root", subj, NULL);
                    break;
                case X509_V_ERR_CERT_HAS_EXPIRED:
                    fmt_time(hilt_cert_not_after(x), a);
                    fmt_delta((long long)(now - hilt_cert_not_after(x)), d, sizeof(d));
                    hilt_findings_add(fs, HILT_C_CERT_EXPIRED, "subject", subj, "not_after", a,
                                      "delta", d, NULL);
                    break;
                case X509_V_ERR_CERT_NOT_YET_VALID:
                    fmt_time(hilt_cert_not_before(x), a);
                    fmt_delta((long long)(hilt_cert_not_before(x) - now), d, sizeof(d));
                    hilt_findings_add(fs, HILT_C_CERT_NOT_YET_VALID, "subject", subj, "not_before",
                                      a, "delta", d, NULL);
                    break;
                case X509_V_ERR_INVALID_PURPOSE:
                    hilt_findings_add(fs, HILT_C_BAD_KEY_USAGE, "subject", subj, "detail",
                                      "it is not valid for the TLS server purpose", NULL);
                    break;
                default:
                    if (is_issuer_missing(is->error)) break;
                    {
                        char det[400];
                        snprintf(det, sizeof(det), "certificate verification failed at %s: %s",
                                 is->subject, X509_verify_cert_error_string(is->error));
                        hilt_findings_add(fs, HILT_C_HANDSHAKE_FAILED, "detail", det, NULL);
                    }
                }
            }
            hilt_verify_free(&v);
        }
    }
    /* The host name (RFC 6125). */
    if (t->host && *t->host) {
        int ok = hilt_is_ip_literal(t->host) ? X509_check_ip_asc(leaf, t->host, 0) == 1
                                             : X509_check_host(leaf, t->host, 0, 0, NULL) == 1;
        if (!ok) {
            char covered[400] = "";
            GENERAL_NAMES *g = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
            size_t l = 0;
            for (int i = 0; g && i < sk_GENERAL_NAME_num(g) && l < sizeof(covered); i++) {
                GENERAL_NAME *gn = sk_GENERAL_NAME_value(g, i);
                if (gn->type != GEN_DNS) continue;
                l += (size_t)snprintf(covered + l, sizeof(covered) - l, "%s%.*s", l ? ", " : "",
                                      ASN1_STRING_length(gn->d.dNSName),
                                      (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
            }
            GENERAL_NAMES_free(g);
            hilt_findings_add(fs, HILT_C_HOSTNAME_MISMATCH, "name", t->host, "covered",
                              covered[0] ? covered : "no DNS names", NULL);
        }
    }
    ERR_clear_error();
}

/* ---- the server's answer ---------------------------------------------------- */

static void judge_alert(const struct hilt_client *c, const struct hilt_server_flight *f,
                        struct hilt_sim_result *r)
{
    char vs[96];
    versions_str(c, vs, sizeof(vs));
    const char *an = alert_name(f->alert_desc);
    switch (f->alert_desc) {
    case 70: /* protocol_version */
    case 86: /* inappropriate_fallback */
        verdict(r, HILT_C_PROTOCOL_VERSION_MISMATCH,
                "the server refused the hello with a %s alert: it accepts none of the versions %s "
                "offers (%s)",
                an, c->name, vs);
        break;
    case 40: /* handshake_failure */
        if (hilt_client_max_version(c) <= HILT_SSL3) {
            /* Servers built without SSLv3 (OpenSSL 1.1+) refuse it with handshake_failure. */
            verdict(r, HILT_C_PROTOCOL_VERSION_MISMATCH,
                    "the server refused the hello with a %s alert: %s speaks only %s, which "
                    "current servers do not",
                    an, c->name, vs);
            break;
        }
        /* fall through */
    case 71: /* insufficient_security */
        verdict(r, HILT_C_NO_SHARED_CIPHER,
                "the server refused the hello with a %s alert: none of the client's %zu cipher "
                "suites%s is acceptable "
                "to it",
                an, c->ciphers.n,
                (c->versions & HILT_VERSION_BIT(HILT_TLS13)) ? " (or, for TLS 1.3, groups)" : "");
        break;
    case 112:
        verdict(r, HILT_C_SNI_REQUIRED, "the server refused the hello with unrecognized_name: %s",
                c->sni ? "it does not host the name this client sent" : "this client sends no SNI");
        break;
    case 120:
        verdict(
            r, HILT_C_ALPN_MISMATCH,
            "the server refused every ALPN protocol the client offers (no_application_protocol)");
        break;
    case 116:
        verdict(r, HILT_C_CLIENT_CERT_REQUIRED,
                "the server requires a client certificate (certificate_required)");
        break;
    default:
        verdict(r, HILT_C_HANDSHAKE_FAILED, "the server answered the hello with a %s alert (%d)",
                an, f->alert_desc);
    }
}

static int kx_of(uint16_t cipher, const char **kx)
{
    const struct hilt_cipher *ci = hilt_cipher_by_code(cipher);
    *kx = ci ? ci->kx : "";
    return ci != NULL;
}

int hilt_sim_judge(const struct hilt_client *c, const struct hilt_sim_target *t, const uint8_t *p,
                   size_t n, int eof, struct hilt_sim_result *r)
{
    struct hilt_server_flight f;
    memset(&f, 0, sizeof(f));
    int dec = hilt_server_flight_parse(p, n, 1, &f);
    if (!dec && !eof) {
        hilt_server_flight_free(&f);
        return 0;
    }
    result_init(c, r);
    if (!dec) {
        if (n == 0)
            verdict(r, HILT_C_CONNECTION_RESET,
                    "the server closed the connection without answering %s's hello", c->name);
        else if (f.kind == HILT_FLIGHT_HELLO)
            verdict(r, HILT_C_HANDSHAKE_FAILED,
                    "the server closed the connection in the middle of its handshake flight");
        else
            verdict(r, HILT_C_HANDSHAKE_FAILED,
                    "the server closed the connection after %zu bytes of an incomplete answer", n);
        hilt_server_flight_free(&f);
        return 1;
    }
    switch (f.kind) {
    case HILT_FLIGHT_ALERT:
        judge_alert(c, &f, r);
        goto done;
    case HILT_FLIGHT_SSLV2:
        verdict(r, HILT_C_PROTOCOL_VERSION_MISMATCH,
                "the server answered in SSLv2, which %s does not speak", c->name);
        goto done;
    case HILT_FLIGHT_NOT_TLS:
        verdict(r, HILT_C_NOT_TLS, "the server's answer is not TLS");
        goto done;
    case HILT_FLIGHT_MALFORMED:
    case HILT_FLIGHT_NONE:
        verdict(r, HILT_C_HANDSHAKE_FAILED, "the server's answer is malformed TLS");
        goto done;
    case HILT_FLIGHT_HELLO:
        break;
    }
    r->version = f.version;
    r->cipher = f.cipher;
    enum hilt_tls_version v;
    char vs[96];
    versions_str(c, vs, sizeof(vs));
    if (hilt_tls_version_from_wire(f.version, &v) < 0 || !(c->versions & HILT_VERSION_BIT(v))) {
        verdict(r, HILT_C_PROTOCOL_VERSION_MISMATCH, "the server chose %s; %s offers only %s",
                vname(f.version), c->name, vs);
        goto done;
    }
    if (!has(&c->ciphers, f.cipher)) {
        const struct hilt_cipher *ci = hilt_cipher_by_code(f.cipher);
        char hex[8];
        snprintf(hex, sizeof(hex), "0x%04X", f.cipher);
        verdict(r, HILT_C_HANDSHAKE_FAILED, "the server chose %s, which %s did not offer",
                ci ? hilt_cipher_name(ci) : hex, c->name);
        goto done;
    }
    const char *kx = "";
    kx_of(f.cipher, &kx);
    if (v == HILT_TLS13) {
        r->group = f.key_share_group;
        r->hrr = f.hrr;
        if (f.key_share_group && c->groups.n && !has(&c->groups, f.key_share_group)) {
            const struct hilt_group *g = hilt_group_by_code(f.key_share_group);
            verdict(r, HILT_C_NO_SHARED_GROUP,
                    "the server asked for group %s, which %s does not support",
                    g ? g->iana : "unknown", c->name);
            goto done;
        }
    } else if (!strcmp(kx, "ECDHE")) {
        r->group = f.ske_curve;
        if (f.have_ske && c->groups.n && !has(&c->groups, f.ske_curve)) {
            const struct hilt_group *g = hilt_group_by_code(f.ske_curve);
            verdict(r, HILT_C_NO_SHARED_GROUP,
                    "the server used curve %s for ECDHE, which %s does not support",
                    g ? g->iana : "unknown", c->name);
            goto done;
        }
    } else if (!strcmp(kx, "DHE") && f.have_ske) {
        r->dh_bits = f.ske_dh_bits;
        if (c->dh_min_bits && f.ske_dh_bits < c->dh_min_bits) {
            char bits[16];
            snprintf(bits, sizeof(bits), "%d", f.ske_dh_bits);
            verdict(r, HILT_C_WEAK_DH,
                    "the server used a %d-bit DH group; %s %s requires at least %d bits",
                    f.ske_dh_bits, c->name, c->version, c->dh_min_bits);
            goto done;
        }
        if (c->dh_max_bits && f.ske_dh_bits > c->dh_max_bits) {
            verdict(r, HILT_C_HANDSHAKE_FAILED,
                    "the server used a %d-bit DH group; %s %s cannot use groups above %d bits",
                    f.ske_dh_bits, c->name, c->version, c->dh_max_bits);
            goto done;
        }
    }
    if (v <= HILT_TLS11 && !c->legacy_kx_signatures &&
        (!strcmp(kx, "ECDHE") || !strcmp(kx, "DHE"))) {
        verdict(r, HILT_C_HANDSHAKE_FAILED,
                "the server signs its %s key exchange with MD5+SHA-1, which %s %s refuses (legacy "
                "sigalg disallowed); "
                "it connects only with TLS 1.2 or an RSA key-exchange suite",
                vname(f.version), c->name, c->version);
        goto done;
    }
    /* The certificate chain. */
    STACK_OF(X509) *chain = NULL, *own = NULL;
    if (v <= HILT_TLS12 && f.ncerts > 0) {
        own = sk_X509_new_null();
        for (int i = 0; own && i < f.ncerts; i++) {
            X509 *x = hilt_server_flight_cert(&f, i); /* decoded here; `own` owns it */
            if (x && !sk_X509_push(own, x)) X509_free(x);
        }
        chain = own;
        r->chain = HILT_SIM_CHAIN_HANDSHAKE;
    } else if (v == HILT_TLS13 && t && t->chain && sk_X509_num(t->chain) > 0) {
        chain = t->chain;
        r->chain = HILT_SIM_CHAIN_SCANNER;
    }
    char note[600] = "";
    if (chain && t) {
        struct hilt_findings fs;
        hilt_findings_init(&fs);
        judge_chain(c, t, chain, t->now ? t->now : hilt_now(), &fs, note, sizeof(note));
        const struct hilt_finding *root = hilt_findings_root(&fs);
        if (root) {
            verdict(r, root->code, "%s", root->summary);
            for (size_t i = 0; i < root->nevidence; i++) {
                size_t l = strlen(r->reason);
                snprintf(r->reason + l, sizeof(r->reason) - l, "; %s", root->evidence[i]);
            }
            if (root->code == HILT_C_CHAIN_INCOMPLETE) {
                size_t l = strlen(r->reason);
                snprintf(r->reason + l, sizeof(r->reason) - l, ". %s", root->remediation);
            }
        }
        hilt_findings_free(&fs);
        sk_X509_pop_free(own, X509_free);
        if (root) goto done;
    }
    r->connects = 1;
    r->code = 0;
    if (r->chain == HILT_SIM_CHAIN_SCANNER)
        snprintf(r->reason, sizeof(r->reason),
                 "TLS 1.3 encrypts the certificate: judged the chain the scanner fetched%s%s",
                 note[0] ? "; " : "", note);
    else if (!chain && v == HILT_TLS13)
        snprintf(r->reason, sizeof(r->reason),
                 "TLS 1.3 encrypts the certificate and no chain was supplied: not judged");
    else if (note[0])
        snprintf(r->reason, sizeof(r->reason), "%s", note);
done:
    hilt_server_flight_free(&f);
    return 1;
}

/* What the server agreed to stays visible when the client then refuses (a weak key, say). */
json_t *hilt_sim_result_json(const struct hilt_sim_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "client", json_string(r->client));
    json_object_set_new(o, "name", hilt_json_str(r->label));
    json_object_set_new(o, "connects", json_boolean(r->connects));
    enum hilt_tls_version v;
    json_object_set_new(o, "version",
                        r->version && hilt_tls_version_from_wire(r->version, &v) == 0
                            ? json_string(hilt_tls_version_name(v))
                            : json_null());
    const struct hilt_cipher *ci = r->cipher ? hilt_cipher_by_code(r->cipher) : NULL;
    json_object_set_new(o, "cipher", ci ? json_string(hilt_cipher_name(ci)) : json_null());
    char hex[8];
    snprintf(hex, sizeof(hex), "0x%04X", r->cipher);
    json_object_set_new(o, "cipher_code", ci ? json_string(hex) : json_null());
    const struct hilt_group *g = r->group ? hilt_group_by_code(r->group) : NULL;
    json_object_set_new(o, "group", g ? json_string(g->iana) : json_null());
    json_object_set_new(o, "code",
                        r->connects ? json_null() : json_string(hilt_code_name(r->code)));
    json_object_set_new(o, "reason", r->reason[0] ? hilt_json_str(r->reason) : json_null());
    static const char *const chains[] = {NULL, "handshake", "scanner"};
    json_object_set_new(o, "chain", chains[r->chain] ? json_string(chains[r->chain]) : json_null());
    return o;
}

/* ---- blocking helpers ---------------------------------------------------------- */

int hilt_sim_run(const struct hilt_client *c, const struct hilt_sim_target *t, const char *host,
                 uint16_t port, int timeout_ms, struct hilt_sim_result *r, struct hilt_err *e)
{
    struct hilt_buf hello, in;
    hilt_buf_init(&hello, 1 << 16);
    hilt_buf_init(&in, SIM_READ_MAX);
    int rc = -1, fd = -1;
    if (hilt_sim_hello(c, t, &hello, e) < 0) goto out;
    struct hilt_err ne = {0};
    char peer[64];
    if (hilt_tcp_connect(host, port, timeout_ms, &fd, peer, sizeof(peer), &ne) < 0) {
        enum hilt_code code = ne.code == HILT_NET_DNS       ? HILT_C_DNS_FAILED
                              : ne.code == HILT_NET_REFUSED ? HILT_C_CONNECT_REFUSED
                              : ne.code == HILT_NET_TIMEOUT ? HILT_C_CONNECT_TIMEOUT
                                                            : HILT_C_CONNECTION_RESET;
        hilt_sim_fail(c, code, ne.msg, r);
        rc = 0;
        goto out;
    }
    uint64_t deadline = hilt_mono_us() + (uint64_t)timeout_ms * 1000u;
    size_t off = 0;
    while (off < hello.len) {
        ssize_t w = write(fd, hello.data + off, hello.len - off);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR) &&
            hilt_fd_wait(fd, POLLOUT, deadline) == 1)
            continue;
        hilt_sim_fail(c, HILT_C_CONNECTION_RESET,
                      "the connection failed while sending the ClientHello", r);
        rc = 0;
        goto out;
    }
    for (;;) {
        int w = hilt_fd_wait(fd, POLLIN, deadline);
        if (w == 0) {
            char why[128];
            snprintf(why, sizeof(why), "no complete answer to the ClientHello within %d ms",
                     timeout_ms);
            hilt_sim_fail(c, HILT_C_HANDSHAKE_TIMEOUT, why, r);
            break;
        }
        uint8_t *dst = hilt_buf_reserve(&in, 16384);
        ssize_t got = dst ? read(fd, dst, 16384) : 0;
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        int eof = got <= 0;
        if (got > 0) hilt_buf_commit(&in, (size_t)got);
        if (hilt_sim_judge(c, t, in.data, in.len, eof, r)) break;
    }
    rc = 0;
out:
    if (fd >= 0) close(fd);
    hilt_buf_free(&hello);
    hilt_buf_free(&in);
    return rc;
}

STACK_OF(X509) * hilt_sim_fetch_chain(const char *host, uint16_t port, const char *sni,
                                      int timeout_ms, struct hilt_err *e)
{
    struct addrinfo *ai = NULL;
    if (hilt_resolve(host, port, &ai, e) < 0) return NULL;
    struct hilt_tls_opts o = {0};
    o.profile = hilt_client_profile_find("legacy");
    o.sni = sni && *sni && !hilt_is_ip_literal(sni) ? sni : NULL;
    o.timeout_ms = timeout_ms;
    struct hilt_tls_result r;
    hilt_tls_result_init(&r);
    STACK_OF(X509) *out = NULL;
    if (hilt_tls_handshake(ai->ai_addr, ai->ai_addrlen, &o, &r, e) == 0) {
        if (r.chain && sk_X509_num(r.chain) > 0) {
            out = r.chain;
            r.chain = NULL;
        } else {
            hilt_err_set(e, HILT_E_NET, 0, "%s:%u sent no certificate (%s)", host, port,
                         r.ssl_error[0] ? r.ssl_error
                         : r.net_msg[0] ? r.net_msg
                                        : "handshake failed");
        }
    }
    hilt_tls_result_free(&r);
    freeaddrinfo(ai);
    return out;
}

static STACK_OF(X509) * certs_from_body(const uint8_t *p, size_t n)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (!sk || n == 0 || n > (1u << 20)) return sk;
    const unsigned char *q = p;
    X509 *x = d2i_X509(NULL, &q, (long)n);
    if (x) {
        if (!sk_X509_push(sk, x)) X509_free(x);
        return sk;
    }
    q = p;
    PKCS7 *p7 = d2i_PKCS7(NULL, &q, (long)n);
    if (p7) {
        STACK_OF(X509) *in =
            OBJ_obj2nid(p7->type) == NID_pkcs7_signed && p7->d.sign ? p7->d.sign->cert : NULL;
        for (int i = 0; in && i < sk_X509_num(in); i++) {
            X509 *c = sk_X509_value(in, i);
            X509_up_ref(c);
            if (!sk_X509_push(sk, c)) X509_free(c);
        }
        PKCS7_free(p7);
        return sk;
    }
    BIO *b = BIO_new_mem_buf(p, (int)n);
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        if (!sk_X509_push(sk, x)) X509_free(x);
    BIO_free(b);
    ERR_clear_error();
    return sk;
}

STACK_OF(X509) * hilt_sim_fetch_aia(STACK_OF(X509) * chain, X509_STORE *store, int timeout_ms)
{
    STACK_OF(X509) *got = sk_X509_new_null();
    if (!got || !chain || !sk_X509_num(chain)) return got;
    X509 *cur = sk_X509_value(chain, sk_X509_num(chain) - 1);
    /* Walk up from the top certificate the server sent, at most 4 hops. */
    for (int hop = 0; hop < 4 && cur && !hilt_cert_self_issued(cur); hop++) {
        if (store) {
            struct hilt_verify v;
            STACK_OF(X509) *probe = sk_X509_new_null();
            int done = 0;
            if (probe && sk_X509_push(probe, cur) &&
                hilt_verify_chain(store, probe, got, hilt_now(), 0, 0, &v, NULL) == 0) {
                done = !missing_issuer(&v);
                hilt_verify_free(&v);
            }
            sk_X509_free(probe);
            if (done) break;
        }
        char urls[4][512];
        int n = hilt_cert_aia_urls(cur, NID_ad_ca_issuers, urls, 4);
        X509 *next = NULL;
        for (int i = 0; i < n && !next; i++) {
            if (strncmp(urls[i], "http://", 7)) continue;
            struct hilt_http_resp resp;
            hilt_http_resp_init(&resp, 1 << 20);
            if (hilt_http_fetch("GET", urls[i], NULL, NULL, 0, timeout_ms, &resp, NULL) == 0 &&
                resp.status == 200) {
                STACK_OF(X509) *sk = certs_from_body(resp.body.data, resp.body.len);
                for (int k = 0; sk && k < sk_X509_num(sk); k++) {
                    X509 *x = sk_X509_value(sk, k);
                    if (X509_check_issued(x, cur) == X509_V_OK && !next) {
                        X509_up_ref(x);
                        if (sk_X509_push(got, x))
                            next = x;
                        else
                            X509_free(x);
                    }
                }
                sk_X509_pop_free(sk, X509_free);
            }
            hilt_http_resp_free(&resp);
        }
        cur = next;
    }
    ERR_clear_error();
    return got;
}
