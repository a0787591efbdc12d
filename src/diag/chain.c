/* chain.c - one verdict on a certificate chain, as findings (RFC 5280 §6, RFC 6960, RFC 7633). */
#include "diag/chain.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/http.h"
#include "core/net.h"
#include "x509/key.h"
#include "x509/pem.h"
#include "x509/summary.h"
#include "x509/verify.h"

#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPIRING_SOON_DAYS 30
#define MAX_LIFETIME_DAYS 398 /* CA/Browser Forum baseline requirements */
#define CLOCK_SKEW_MIN_S 5    /* the Date header has one-second resolution */
#define AIA_FETCH_MAX (256u << 10)

struct run {
    const struct hilt_chain_check *in;
    struct hilt_findings *f;
    struct hilt_chain_result *out;
};

static void fmt_time(time_t t, char out[32])
{
    hilt_time_fmt_rfc3339(t, out);
}

int hilt_chain_time_problem(STACK_OF(X509) *chain, time_t at)
{
    for (int i = 0; chain && i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        if (hilt_cert_not_before(x) > at || hilt_cert_not_after(x) < at) return 1;
    }
    return 0;
}

static void subject_of(X509 *x, char *out, size_t cap)
{
    hilt_name_fmt(X509_get_subject_name(x), out, cap);
}

static int in_stack(STACK_OF(X509) *sk, X509 *x)
{
    for (int i = 0; sk && i < sk_X509_num(sk); i++)
        if (X509_cmp(sk_X509_value(sk, i), x) == 0) return 1;
    return 0;
}

/* Fetch the caIssuers certificate(s) of x (DER, PEM or a PKCS#7 bundle). */
static STACK_OF(X509) *fetch_aia_issuer(X509 *x, int timeout_ms, char *url_out, size_t cap, char *err, size_t errcap)
{
    char urls[4][512];
    int n = hilt_cert_aia_urls(x, NID_ad_ca_issuers, urls, 4);
    err[0] = '\0';
    for (int i = 0; i < n; i++) {
        struct hilt_http_resp resp;
        hilt_http_resp_init(&resp, AIA_FETCH_MAX);
        struct hilt_err e = {0};
        STACK_OF(X509) *sk = NULL;
        if (hilt_http_fetch("GET", urls[i], NULL, NULL, 0, timeout_ms, &resp, &e) < 0) {
            snprintf(err, errcap, "%s", e.msg);
        } else if (resp.status != 200) {
            snprintf(err, errcap, "%s answered HTTP %d", urls[i], resp.status);
        } else {
            sk = hilt_certs_parse(resp.body.data, resp.body.len, urls[i], NULL);
            if (!sk) {
                const unsigned char *p = resp.body.data;
                PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)resp.body.len);
                if (p7 && PKCS7_type_is_signed(p7) && p7->d.sign && p7->d.sign->cert) {
                    sk = sk_X509_new_null();
                    for (int k = 0; sk && k < sk_X509_num(p7->d.sign->cert); k++) {
                        X509 *c = sk_X509_value(p7->d.sign->cert, k);
                        if (sk_X509_push(sk, c)) X509_up_ref(c);
                    }
                }
                PKCS7_free(p7);
                ERR_clear_error();
                if (!sk) snprintf(err, errcap, "%s did not return a certificate", urls[i]);
            }
        }
        hilt_http_resp_free(&resp);
        if (sk) {
            snprintf(url_out, cap, "%s", urls[i]);
            return sk;
        }
    }
    if (n == 0) snprintf(err, errcap, "the certificate names no caIssuers URL (AIA)");
    return NULL;
}

static int is_issuer_missing(int err)
{
    return err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
           err == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE || err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT;
}

static void time_findings(struct run *c, X509 *x, int expired)
{
    char subj[300], nb[32], na[32], delta[32];
    subject_of(x, subj, sizeof(subj));
    time_t tnb = hilt_cert_not_before(x), tna = hilt_cert_not_after(x);
    fmt_time(tnb, nb);
    fmt_time(tna, na);
    /* Is it valid by the peer's clock? Then our clock is the problem. */
    if (!c->in->at_given && c->in->have_peer_clock && llabs(c->in->peer_offset) >= CLOCK_SKEW_MIN_S &&
        tnb <= c->in->peer_date && c->in->peer_date <= tna) {
        char off[32];
        hilt_duration_fmt(c->in->peer_offset < 0 ? -c->in->peer_offset : c->in->peer_offset, off);
        char offset[64];
        snprintf(offset, sizeof(offset), "%s %s", off, c->in->peer_offset > 0 ? "behind" : "ahead of");
        struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_CLOCK_SKEW, "offset", offset, NULL);
        char pd[32], ld[32];
        fmt_time(c->in->peer_date, pd);
        fmt_time(c->in->peer_date - (time_t)c->in->peer_offset, ld);
        hilt_finding_evidence(f, "the server's HTTP Date says %s while this machine says %s (offset %+lld s)", pd, ld, c->in->peer_offset);
        hilt_finding_evidence(f, "%s is valid from %s to %s: %s by this clock, valid by the server's", subj, nb, na, expired ? "expired" : "not yet valid");
        return;
    }
    struct hilt_finding *f;
    if (expired) {
        hilt_duration_fmt(c->in->at - tna, delta);
        f = hilt_findings_add(c->f, HILT_C_CERT_EXPIRED, "subject", subj, "not_after", na, "delta", delta, NULL);
    } else {
        hilt_duration_fmt(tnb - c->in->at, delta);
        f = hilt_findings_add(c->f, HILT_C_CERT_NOT_YET_VALID, "subject", subj, "not_before", nb, "delta", delta, NULL);
    }
    char at[32];
    fmt_time(c->in->at, at);
    hilt_finding_evidence(f, "%s is valid from %s to %s; checked at %s%s", subj, nb, na, at, c->in->at_given ? " (--at)" : "");
    if (c->in->at_given)
        ;
    else if (c->in->have_peer_clock)
        hilt_finding_evidence(f, "the server's clock agrees with this machine's (HTTP Date offset %+lld s)", c->in->peer_offset);
    else if (c->in->peer_clock_unread)
        hilt_finding_evidence(f, "the server's clock was not read (--no-http)");
    else
        hilt_finding_evidence(f, "the server's clock is unknown (it sent no HTTP Date header)");
}

static void add_weak_key(struct run *c, X509 *x)
{
    EVP_PKEY *k = X509_get0_pubkey(x);
    if (!k) return;
    int bits = hilt_key_security_bits(k);
    if (bits >= 112) return;
    char subj[300], kd[32];
    subject_of(x, subj, sizeof(subj));
    hilt_key_describe(k, kd, sizeof(kd));
    struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_WEAK_KEY, "subject", subj, "key", kd, NULL);
    hilt_finding_evidence(f, "%s has a %s key: %d bits of security, below the 112 that OpenSSL's security level 2 and browsers require", subj, kd, bits);
}

static void add_weak_sig(struct run *c, X509 *x)
{
    char dg[16];
    hilt_cert_sig_digest(x, dg, sizeof(dg));
    if (strcmp(dg, "sha1") && strcmp(dg, "md5") && strcmp(dg, "md4") && strcmp(dg, "md2")) return;
    char subj[300], up[16];
    subject_of(x, subj, sizeof(subj));
    size_t i = 0;
    for (; dg[i] && i + 1 < sizeof(up); i++) up[i] = (char)(dg[i] >= 'a' && dg[i] <= 'z' ? dg[i] - 32 : dg[i]);
    up[i] = '\0';
    struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_WEAK_SIGNATURE, "subject", subj, "digest", up, NULL);
    hilt_finding_evidence(f, "%s is signed with %s", subj, OBJ_nid2ln(X509_get_signature_nid(x)));
}

static void add_key_usage(struct run *c, X509 *leaf, int verify_purpose_failed)
{
    char detail[200] = "";
    uint32_t xku = X509_get_extended_key_usage(leaf);
    uint32_t flags = X509_get_extension_flags(leaf);
    if ((flags & EXFLAG_XKUSAGE) && !(xku & XKU_SSL_SERVER) && !(xku & XKU_ANYEKU)) {
        char eku[100] = "";
        static const struct {
            uint32_t bit;
            const char *name;
        } names[] = {{XKU_SSL_CLIENT, "clientAuth"}, {XKU_SMIME, "emailProtection"}, {XKU_CODE_SIGN, "codeSigning"}, {XKU_OCSP_SIGN, "OCSPSigning"}, {XKU_TIMESTAMP, "timeStamping"}};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (xku & names[i].bit) {
                size_t l = strlen(eku);
                snprintf(eku + l, sizeof(eku) - l, "%s%s", l ? ", " : "", names[i].name);
            }
        snprintf(detail, sizeof(detail), "its extendedKeyUsage is %s, without serverAuth", eku[0] ? eku : "something else");
    } else if (flags & EXFLAG_KUSAGE) {
        uint32_t ku = X509_get_key_usage(leaf);
        EVP_PKEY *k = X509_get0_pubkey(leaf);
        int rsa = k && EVP_PKEY_is_a(k, "RSA");
        if (!(ku & KU_DIGITAL_SIGNATURE) && !(rsa && (ku & KU_KEY_ENCIPHERMENT)))
            snprintf(detail, sizeof(detail), "its keyUsage lacks digitalSignature%s", rsa ? " and keyEncipherment" : "");
    }
    if (!detail[0] && verify_purpose_failed) snprintf(detail, sizeof(detail), "OpenSSL rejects it for the TLS server purpose");
    if (!detail[0]) return;
    char subj[300];
    subject_of(leaf, subj, sizeof(subj));
    struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_BAD_KEY_USAGE, "subject", subj, "detail", detail, NULL);
    hilt_finding_evidence(f, "%s: %s", subj, detail);
}

void hilt_chain_sans(X509 *x, char *out, size_t cap)
{
    out[0] = '\0';
    GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; g && i < sk_GENERAL_NAME_num(g); i++) {
        GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
        char one[300] = "";
        if (n->type == GEN_DNS)
            snprintf(one, sizeof(one), "%.*s", ASN1_STRING_length(n->d.dNSName), (const char *)ASN1_STRING_get0_data(n->d.dNSName));
        else if (n->type == GEN_IPADD) {
            const unsigned char *d = ASN1_STRING_get0_data(n->d.iPAddress);
            if (ASN1_STRING_length(n->d.iPAddress) == 4) snprintf(one, sizeof(one), "%u.%u.%u.%u", d[0], d[1], d[2], d[3]);
            else snprintf(one, sizeof(one), "an IPv6 address");
        }
        if (!one[0]) continue;
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", l ? ", " : "", one);
    }
    GENERAL_NAMES_free(g);
    if (!out[0]) {
        char cn[256];
        hilt_cert_label(x, cn, sizeof(cn));
        snprintf(out, cap, "no subjectAltName (CN %s is ignored by clients)", cn);
    }
}

static void check_hostname(struct run *c, X509 *leaf)
{
    const char *name = c->in->name;
    if (!name[0]) return;
    int ok = hilt_is_ip_literal(name) ? X509_check_ip_asc(leaf, name, 0) == 1
                                      : X509_check_host(leaf, name, 0, 0, NULL) == 1;
    if (ok) return;
    char covered[600];
    hilt_chain_sans(leaf, covered, sizeof(covered));
    struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_HOSTNAME_MISMATCH, "name", name, "covered", covered, NULL);
    hilt_finding_evidence(f, "checked %s against the leaf's subjectAltName: %s", name, covered);
}

static void check_revocation(struct run *c, STACK_OF(X509) *built, STACK_OF(X509) *untrusted)
{
    if (!c->in->check_revocation || !built || sk_X509_num(built) < 2) return;
    X509 *leaf = sk_X509_value(built, 0), *issuer = sk_X509_value(built, 1);
    hilt_revocation_check(leaf, issuer, untrusted, c->in->store, c->in->staple, c->in->staple_len, c->in->timeout_ms, &c->out->rev);
    c->out->rev_checked = 1;
    char subj[300];
    subject_of(leaf, subj, sizeof(subj));
    if (c->out->rev.status == HILT_REV_REVOKED) {
        char when[32], d[300];
        fmt_time(c->out->rev.revoked_at, when);
        snprintf(d, sizeof(d), "on %s, reason %s, according to %s", when,
                 hilt_crl_reason_name(c->out->rev.reason < 0 ? 0 : c->out->rev.reason),
                 !strcmp(c->out->rev.source, "staple") ? "the stapled OCSP response" : c->out->rev.url);
        struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_CERT_REVOKED, "subject", subj, "detail", d, NULL);
        hilt_finding_evidence(f, "%s %s: revoked %s", !strcmp(c->out->rev.source, "crl") ? "CRL" : "OCSP", c->out->rev.url[0] ? c->out->rev.url : "staple", d);
    } else if (c->out->rev.status == HILT_REV_ERROR || c->out->rev.status == HILT_REV_UNKNOWN) {
        struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_REVOCATION_UNKNOWN, "subject", subj, "detail", c->out->rev.detail, NULL);
        hilt_finding_evidence(f, "%s %s: %s", c->out->rev.source, c->out->rev.url, c->out->rev.detail);
    }
}

int hilt_chain_analyse(const struct hilt_chain_check *in, struct hilt_findings *fs, struct hilt_chain_result *out,
                       struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    struct run run = {in, fs, out}, *c = &run;
    STACK_OF(X509) *chain = in->chain;
    if (!chain || sk_X509_num(chain) == 0) return 0;
    X509 *leaf = sk_X509_value(chain, 0);
    int sec = c->in->sec_level;
    struct hilt_verify v;
    if (hilt_verify_chain(in->store, chain, in->intermediates, in->at, sec, 0, &v, e) < 0) return -1;
    STACK_OF(X509) *extra = NULL; /* issuers found outside the peer's chain */
    char found_url[512] = "";
    const struct hilt_verify_issue *miss = NULL;
    for (int i = 0; i < v.n; i++)
        if (is_issuer_missing(v.issues[i].error)) miss = &v.issues[i];
    if (miss) {
        /* The issuer of the top certificate OpenSSL reached is nowhere: fetch it. */
        X509 *top = v.chain && sk_X509_num(v.chain) ? sk_X509_value(v.chain, sk_X509_num(v.chain) - 1) : leaf;
        char err[400];
        err[0] = '\0';
        if (in->fetch_aia)
            extra = fetch_aia_issuer(top, in->timeout_ms, found_url, sizeof(found_url), err, sizeof(err));
        else
            snprintf(err, sizeof(err), "fetching from the caIssuers URL is off");
        char top_issuer[300];
        hilt_name_fmt(X509_get_issuer_name(top), top_issuer, sizeof(top_issuer));
        if (extra) {
            for (int i = 0; c->in->intermediates && i < sk_X509_num(c->in->intermediates); i++)
                if (sk_X509_push(extra, sk_X509_value(c->in->intermediates, i))) X509_up_ref(sk_X509_value(c->in->intermediates, i));
            struct hilt_verify v2;
            if (hilt_verify_chain(c->in->store, chain, extra, c->in->at, sec, 0, &v2, e) == 0) {
                int still_missing = 0;
                for (int i = 0; i < v2.n; i++)
                    if (is_issuer_missing(v2.issues[i].error)) still_missing = 1;
                if (!still_missing) {
                    hilt_verify_free(&v);
                    v = v2;
                } else {
                    hilt_verify_free(&v2);
                }
            }
        }
        int completed = 1;
        for (int i = 0; i < v.n; i++)
            if (is_issuer_missing(v.issues[i].error)) completed = 0;
        if (!completed) {
            struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_UNTRUSTED_ROOT, "root", top_issuer, NULL);
            char ts[300];
            subject_of(top, ts, sizeof(ts));
            hilt_finding_evidence(f, "no certificate for %s, the issuer of %s, is in the trust store%s", top_issuer, ts, c->in->store_is_custom ? " (--ca-file)" : "");
            hilt_finding_evidence(f, "fetching the issuer: %s", err[0] ? err : "it does not complete the chain");
        }
    }
    /* Trust anchors and intermediates the peer did not send. */
    for (int i = 1; v.chain && i < sk_X509_num(v.chain); i++) {
        X509 *x = sk_X509_value(v.chain, i);
        if (in_stack(chain, x) || hilt_cert_self_issued(x)) continue;
        char subj[300], where[700];
        subject_of(x, subj, sizeof(subj));
        if (found_url[0] && in_stack(extra, x))
            snprintf(where, sizeof(where), "hilt fetched it from the caIssuers URL %s, which browsers do too but most other clients (curl, Java, Go, OpenSSL) do not.", found_url);
        else if (in_stack(c->in->intermediates, x))
            snprintf(where, sizeof(where), "It was found in --intermediates; clients without it fail.");
        else
            snprintf(where, sizeof(where), "This client found it in its own trust store; clients without it there fail.");
        struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_CHAIN_INCOMPLETE, "missing", subj, "found_in", where, NULL);
        char iss[300];
        hilt_name_fmt(X509_get_issuer_name(x), iss, sizeof(iss));
        hilt_finding_evidence(f, "the server sent %d certificate%s; the chain needs %s (issued by %s)",
                              sk_X509_num(chain), sk_X509_num(chain) == 1 ? "" : "s", subj, iss);
        hilt_finding_evidence(f, "%s", where);
    }
    int purpose_failed = 0;
    /* OpenSSL reports from the top of the chain down; the leaf is what gets
     * redeployed, so let it lead each finding. */
    int order[HILT_VERIFY_MAX_ISSUES], no = 0;
    for (int d = 0; d < 32 && no < v.n; d++)
        for (int i = 0; i < v.n; i++)
            if (v.issues[i].depth == d) order[no++] = i;
    for (int k = 0; k < no; k++) {
        const struct hilt_verify_issue *is = &v.issues[order[k]];
        X509 *x = v.chain && is->depth < sk_X509_num(v.chain) ? sk_X509_value(v.chain, is->depth)
                  : is->depth < sk_X509_num(chain)             ? sk_X509_value(chain, is->depth)
                                                                : leaf;
        switch (is->error) {
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: {
            char subj[300];
            subject_of(leaf, subj, sizeof(subj));
            struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_SELF_SIGNED, "subject", subj, NULL);
            hilt_finding_evidence(f, "the leaf %s is its own issuer and is not in the trust store%s", subj, c->in->store_is_custom ? " (--ca-file)" : "");
            break;
        }
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: {
            char subj[300];
            subject_of(x, subj, sizeof(subj));
            struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_UNTRUSTED_ROOT, "root", subj, NULL);
            hilt_finding_evidence(f, "the server sent the root %s, which is not in the trust store%s", subj, c->in->store_is_custom ? " (--ca-file)" : "");
            break;
        }
        case X509_V_ERR_CERT_HAS_EXPIRED:
            time_findings(c, x, 1);
            break;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            time_findings(c, x, 0);
            break;
        case X509_V_ERR_EE_KEY_TOO_SMALL:
        case X509_V_ERR_CA_KEY_TOO_SMALL:
            add_weak_key(c, x);
            break;
        case X509_V_ERR_CA_MD_TOO_WEAK:
            add_weak_sig(c, x);
            break;
        case X509_V_ERR_INVALID_PURPOSE:
            purpose_failed = 1;
            break;
        default:
            if (is_issuer_missing(is->error)) break;
            {
                char d[400];
                snprintf(d, sizeof(d), "certificate verification failed at %s: %s", is->subject, X509_verify_cert_error_string(is->error));
                struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_HANDSHAKE_FAILED, "detail", d, NULL);
                hilt_finding_evidence(f, "X509_V_ERR %d at depth %d", is->error, is->depth);
            }
        }
    }
    /* hilt's own checks, independent of the profile's security level. */
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        if (hilt_cert_self_issued(x) && i > 0) continue; /* a root's own signature does not matter */
        add_weak_key(c, x);
        if (!hilt_cert_self_issued(x)) add_weak_sig(c, x);
    }
    add_key_usage(c, leaf, purpose_failed);
    check_hostname(c, leaf);
    if (hilt_cert_must_staple(leaf) && !c->in->staple_len && c->in->staple_requested) {
        char subj[300];
        subject_of(leaf, subj, sizeof(subj));
        struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_OCSP_STAPLE_MISSING, "subject", subj, NULL);
        hilt_finding_evidence(f, "the leaf carries the TLS Feature extension status_request (RFC 7633); the client asked for a staple and the server sent none");
    }
    c->out->verified = v.n == 0 && v.chain != NULL;
    if (c->out->verified) {
        STACK_OF(X509) *untrusted = sk_X509_dup(chain);
        for (int i = 0; untrusted && extra && i < sk_X509_num(extra); i++) sk_X509_push(untrusted, sk_X509_value(extra, i));
        check_revocation(c, v.chain, untrusted);
        sk_X509_free(untrusted);
    }
    /* Warnings about a certificate that otherwise works. */
    time_t na = hilt_cert_not_after(leaf), nb = hilt_cert_not_before(leaf);
    char subj[300];
    subject_of(leaf, subj, sizeof(subj));
    /* Short-lived certificates (hours, days) are not "expiring soon" for their whole life:
     * warn inside the last third of the lifetime, and at most 30 days ahead. */
    time_t soon = (time_t)EXPIRING_SOON_DAYS * 86400;
    if (na > nb && (na - nb) / 3 < soon) soon = (na - nb) / 3;
    if (na >= c->in->at && na - c->in->at < soon) {
        char d[32], nas[32];
        hilt_duration_fmt(na - c->in->at, d);
        fmt_time(na, nas);
        struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_EXPIRING_SOON, "subject", subj, "delta", d, "not_after", nas, NULL);
        hilt_finding_evidence(f, "notAfter %s is inside the renewal window (the last third of the lifetime, at most %d days)", nas, EXPIRING_SOON_DAYS);
    }
    if (!hilt_cert_self_issued(leaf) && na - nb > (time_t)MAX_LIFETIME_DAYS * 86400) {
        char days[16], max[16];
        snprintf(days, sizeof(days), "%lld", (long long)((na - nb) / 86400));
        snprintf(max, sizeof(max), "%d", MAX_LIFETIME_DAYS);
        struct hilt_finding *f = hilt_findings_add(c->f, HILT_C_LIFETIME_TOO_LONG, "subject", subj, "days", days, "max_days", max, NULL);
        hilt_finding_evidence(f, "notBefore to notAfter spans %s days", days);
    }
    hilt_verify_free(&v);
    sk_X509_pop_free(extra, X509_free);
    return 0;
}

