/* probe.c - the root-cause engine behind `hilt probe`.
 *
 * Flow: load inputs (errors are exit 2) → resolve → the profile's own
 * handshake (attempt 0) → if it failed, classify it, re-probing with one
 * controlled variation at a time (each version alone with every cipher, then
 * the profile's ciphers, then its groups, then without SNI, then without
 * ALPN) → analyse the chain the peer sent (verification collecting every
 * error, chain completion, clock skew, revocation, key, signature, usage,
 * stapling) → findings, of which the first error in catalogue order is the
 * diagnosis. Every attempt is recorded, so the evidence shows what the peer
 * accepted next to what the profile offered.
 */
#include "diag/probe.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/http.h"
#include "core/json.h"
#include "core/net.h"
#include "diag/catalogue.h"
#include "diag/chain.h"
#include "tls/client.h"
#include "tls/profile.h"
#include "x509/key.h"
#include "x509/pem.h"
#include "x509/revocation.h"
#include "x509/summary.h"
#include "x509/verify.h"

#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 5000
#define MAX_ATTEMPTS 24

struct attempt {
    char label[96];
    struct hilt_tls_result r;
};

struct hilt_probe_report {
    struct hilt_hostport hp;
    char sni[HILT_HOST_MAX]; /* "" when none was sent */
    char check_name[HILT_HOST_MAX];
    const struct hilt_client_profile *profile;
    char alpn[256];
    time_t at;      /* the time validity is checked at */
    int at_given;   /* --at */
    int resolved;
    struct attempt attempts[MAX_ATTEMPTS];
    int nattempts;
    int cert_src; /* index of the attempt whose chain was analysed, or -1 */
    struct hilt_findings findings;
    int verified; /* the chain verified to a trust anchor at `at` */
    int have_peer_clock;
    time_t peer_date;
    long long peer_offset; /* peer clock minus ours, seconds */
    struct hilt_revocation rev;
    int rev_checked;
    uint64_t total_us;
};

struct ctx {
    const struct hilt_probe_opts *o;
    struct hilt_probe_report *rep;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    X509_STORE *store;
    STACK_OF(X509) *intermediates;
    X509 *client_cert;
    EVP_PKEY *client_key;
    STACK_OF(X509) *client_chain;
    int timeout_ms;
    char http_req[600];
};

/* One variation of the client's offer; NULL/0 fields keep the profile's. */
struct variation {
    const char *label;
    const struct hilt_client_profile *profile;
    int version; /* min = max = version when set */
    const char *cipher_list;
    const char *ciphersuites;
    const char *groups;
    int omit_sni;
    int omit_alpn;
    int main; /* attempt 0: may send HEAD / afterwards */
};

/* ---------- attempts ---------- */

/* After the main handshake: ask for the peer's clock when a validity problem
 * needs it (clock skew or a real expiry?), or when the peer is plainly an
 * HTTPS server, where it costs one round trip. */
static int after_main(void *arg, const struct hilt_tls_result *r)
{
    struct ctx *c = arg;
    if (c->o->no_http) return 0;
    if (!strcmp(r->alpn, "h2")) return 0; /* HEAD over HTTP/1.1 would be a protocol error */
    int https = !strcmp(r->alpn, "http/1.1") || c->rep->hp.port == 443 || c->rep->hp.port == 8443;
    if ((!c->rep->at_given && hilt_chain_time_problem(r->chain, c->rep->at)) || https) return HILT_TLS_AFTER_HTTP;
    return 0;
}

static struct hilt_tls_result *attempt(struct ctx *c, const struct variation *v, struct hilt_err *e)
{
    struct hilt_probe_report *rep = c->rep;
    if (rep->nattempts >= MAX_ATTEMPTS) return NULL;
    struct attempt *a = &rep->attempts[rep->nattempts];
    struct hilt_tls_opts to = {0};
    to.profile = v->profile ? v->profile : rep->profile;
    to.min_version = to.max_version = v->version;
    to.cipher_list = v->cipher_list;
    to.ciphersuites = v->ciphersuites;
    to.groups = v->groups;
    to.sni = rep->sni[0] && !v->omit_sni ? rep->sni : NULL;
    to.alpn = rep->alpn[0] && !v->omit_alpn ? rep->alpn : NULL;
    to.client_cert = c->client_cert;
    to.client_key = c->client_key;
    to.client_chain = c->client_chain;
    to.request_ocsp = 1;
    to.timeout_ms = c->timeout_ms;
    to.after_ms = c->timeout_ms < 1500 ? c->timeout_ms : 1500;
    if (v->main) {
        to.after = after_main;
        to.after_arg = c;
        to.http_request = c->http_req;
    }
    if (hilt_tls_handshake((struct sockaddr *)&c->addr, c->addrlen, &to, &a->r, e) < 0) return NULL;
    snprintf(a->label, sizeof(a->label), "%s", v->label);
    rep->nattempts++;
    return &a->r;
}

/* ---------- small helpers ---------- */

static void versions_str(int min, int max, char *out, size_t cap)
{
    out[0] = '\0';
    for (int v = max; v >= min; v--) {
        if (v == SSL3_VERSION) continue;
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", l ? ", " : "", hilt_tls_version_str(v));
    }
}

static const char *alert_or_error(const struct hilt_tls_result *r, char *buf, size_t cap)
{
    if (r->alert_received >= 0)
        snprintf(buf, cap, "the server sent alert %s (%d)", hilt_tls_alert_name(r->alert_received),
                 r->alert_received);
    else if (r->alert_sent >= 0)
        snprintf(buf, cap, "the client aborted with alert %s: %s", hilt_tls_alert_name(r->alert_sent),
                 r->ssl_error[0] ? r->ssl_error : "local error");
    else if (r->peer_reset)
        snprintf(buf, cap, "the server reset the connection");
    else if (r->timed_out)
        snprintf(buf, cap, "no answer before the timeout");
    else if (r->peer_eof)
        snprintf(buf, cap, "the server closed the connection");
    else
        snprintf(buf, cap, "%s", r->ssl_error[0] ? r->ssl_error : "the handshake failed");
    return buf;
}

static void fmt_time(time_t t, char out[32])
{
    hilt_time_fmt_rfc3339(t, out);
}

static const char *iana_or_name(const struct hilt_tls_result *r)
{
    return r->cipher_iana[0] ? r->cipher_iana : r->cipher;
}

/* ---------- failure classification ---------- */

static void add_net_finding(struct ctx *c, const struct hilt_tls_result *r)
{
    char addr[300], tmo[16];
    snprintf(addr, sizeof(addr), "%s", r->peer_addr);
    snprintf(tmo, sizeof(tmo), "%d", c->timeout_ms);
    struct hilt_finding *f;
    if (r->net == HILT_NET_REFUSED) {
        f = hilt_findings_add(&c->rep->findings, HILT_C_CONNECT_REFUSED, "addr", addr, NULL);
    } else {
        f = hilt_findings_add(&c->rep->findings, HILT_C_CONNECT_TIMEOUT, "addr", addr, "timeout_ms", tmo, NULL);
    }
    hilt_finding_evidence(f, "%s", r->net_msg);
}

/* The first cipher(s) the server accepts at `version` from the widest
 * offer, removing each one it picks (one round trip per accepted suite). */
static void accepted_ciphers(struct ctx *c, int version, char *out, size_t cap, struct hilt_err *e)
{
    char excl[512] = "";
    out[0] = '\0';
    for (int i = 0; i < 4; i++) {
        char list[700];
        struct variation v = {.label = "", .profile = hilt_client_profile_find("all"), .version = version};
        char label[96];
        if (version == TLS1_3_VERSION) {
            /* Build the suite list minus the excluded ones. */
            static const char *suites[] = {"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
                                           "TLS_AES_128_GCM_SHA256", "TLS_AES_128_CCM_SHA256",
                                           "TLS_AES_128_CCM_8_SHA256"};
            list[0] = '\0';
            for (size_t k = 0; k < 5; k++) {
                if (strstr(excl, suites[k])) continue;
                size_t l = strlen(list);
                snprintf(list + l, sizeof(list) - l, "%s%s", l ? ":" : "", suites[k]);
            }
            if (!list[0]) break;
            v.ciphersuites = list;
        } else {
            snprintf(list, sizeof(list), "ALL:COMPLEMENTOFALL%s:@SECLEVEL=0", excl);
            v.cipher_list = list;
        }
        snprintf(label, sizeof(label), "%s, every cipher except those already seen", hilt_tls_version_str(version));
        v.label = label;
        struct hilt_tls_result *r = attempt(c, &v, e);
        if (!r || !r->completed) break;
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", l ? ", " : "", iana_or_name(r));
        l = strlen(excl);
        snprintf(excl + l, sizeof(excl) - l, ":-%s", version == TLS1_3_VERSION ? r->cipher_iana : r->cipher);
    }
}

static void sni_finding(struct ctx *c, const struct hilt_tls_result *r0, const char *how)
{
    char detail[400];
    if (c->rep->sni[0])
        snprintf(detail, sizeof(detail), "for the name %s (SNI): it does not serve that name", c->rep->sni);
    else
        snprintf(detail, sizeof(detail), "that do not name a host (no SNI was sent, because the target is an IP address)");
    struct hilt_finding *f = hilt_findings_add(&c->rep->findings, HILT_C_SNI_REQUIRED, "detail", detail, NULL);
    char buf[200];
    hilt_finding_evidence(f, "%s", alert_or_error(r0, buf, sizeof(buf)));
    if (how) hilt_finding_evidence(f, "%s", how);
}

/* The handshake did not complete: find out why. */
static void classify_failure(struct ctx *c, struct hilt_tls_result *r0, struct hilt_err *e)
{
    struct hilt_probe_report *rep = c->rep;
    struct hilt_findings *fs = &rep->findings;
    char addr[80], tmo[16], buf[300];
    snprintf(addr, sizeof(addr), "%s", r0->peer_addr);
    snprintf(tmo, sizeof(tmo), "%d", c->timeout_ms);

    /* Not TLS at all: the first bytes tell. */
    if (r0->first_len && !hilt_tls_looks_like_tls(r0->first_bytes, r0->first_len)) {
        char ex[200], detail[240];
        hilt_bytes_excerpt(r0->first_bytes, r0->first_len, ex, sizeof(ex));
        snprintf(detail, sizeof(detail), "\"%s\"", ex);
        struct hilt_finding *f = hilt_findings_add(fs, HILT_C_NOT_TLS, "addr", addr, "detail", detail, NULL);
        hilt_finding_evidence(f, "first %zu bytes from the peer: \"%s\"", r0->first_len, ex);
        if (r0->ssl_error[0]) hilt_finding_evidence(f, "OpenSSL: %s", r0->ssl_error);
        return;
    }
    if (r0->timed_out) {
        struct hilt_finding *f = hilt_findings_add(fs, HILT_C_HANDSHAKE_TIMEOUT, "addr", addr, "timeout_ms", tmo, NULL);
        hilt_finding_evidence(f, "TCP connected in %.1f ms", r0->connect_us / 1000.0);
        hilt_finding_evidence(f, "%zu bytes received in %d ms after the ClientHello", r0->bytes_received, c->timeout_ms);
        return;
    }
    int alert = r0->alert_received;
    if (alert == 112) { /* unrecognized_name */
        sni_finding(c, r0, NULL);
        return;
    }
    if (alert == 120 && rep->alpn[0]) { /* no_application_protocol */
        struct variation v = {.label = "same offer without ALPN", .omit_alpn = 1};
        struct hilt_tls_result *r = attempt(c, &v, e);
        struct hilt_finding *f = hilt_findings_add(fs, HILT_C_ALPN_MISMATCH, "offered", rep->alpn, NULL);
        hilt_finding_evidence(f, "offered ALPN %s: %s", rep->alpn, alert_or_error(r0, buf, sizeof(buf)));
        if (r && r->completed)
            hilt_finding_evidence(f, "without ALPN the handshake completes (%s, %s)", hilt_tls_version_str(r->version), iana_or_name(r));
        if (r && r->completed) rep->cert_src = rep->nattempts - 1;
        return;
    }
    int cert_alert = alert == 42 || alert == 43 || alert == 44 || alert == 45 || alert == 46 ||
                     alert == 48 || alert == 49 || alert == 51;
    if (alert == 116 || (r0->saw_cert_request && !r0->sent_client_cert && (alert == 40 || cert_alert))) {
        char d[200];
        snprintf(d, sizeof(d), "%s", "ask the service owner which CA issues its client certificates");
        struct hilt_finding *f = hilt_findings_add(fs, HILT_C_CLIENT_CERT_REQUIRED, "detail", d, NULL);
        hilt_finding_evidence(f, "the server sent a CertificateRequest; the client had no certificate to send");
        hilt_finding_evidence(f, "%s", alert_or_error(r0, buf, sizeof(buf)));
        return;
    }
    if (r0->sent_client_cert && (cert_alert || alert == 40)) {
        char d[200];
        snprintf(d, sizeof(d), "with alert %s", hilt_tls_alert_name(alert));
        struct hilt_finding *f = hilt_findings_add(fs, HILT_C_CLIENT_CERT_REJECTED, "detail", d, NULL);
        hilt_finding_evidence(f, "%s after the client sent its certificate", alert_or_error(r0, buf, sizeof(buf)));
        return;
    }
    if (r0->ssl_reason == SSL_R_DH_KEY_TOO_SMALL) {
        struct variation v = {.label = "TLSv1.2, every cipher, security level 0",
                              .profile = hilt_client_profile_find("all"), .version = TLS1_2_VERSION};
        struct hilt_tls_result *r = attempt(c, &v, e);
        char bits[16] = "small";
        if (r && r->completed && r->tmp_key_bits) snprintf(bits, sizeof(bits), "%d", r->tmp_key_bits);
        struct hilt_finding *f = hilt_findings_add(fs, HILT_C_WEAK_DH, "bits", bits, NULL);
        hilt_finding_evidence(f, "OpenSSL: %s (this profile needs at least 2048-bit DH)", r0->ssl_error);
        if (r && r->completed) {
            hilt_finding_evidence(f, "at security level 0 the server negotiates %s with a %s-bit DH key", iana_or_name(r), bits);
            rep->cert_src = rep->nattempts - 1;
        }
        return;
    }

    /* Differential re-probing: each version alone, with every cipher and group. */
    const struct hilt_client_profile *all = hilt_client_profile_find("all");
    const struct hilt_client_profile *p = rep->profile;
    int accepted[5] = {0}; /* index by version - TLS1_VERSION + 1 (SSLv3 unprobeable) */
    int accepted_idx[5];
    char acc_list[128] = "";
    static const int sweep[] = {TLS1_3_VERSION, TLS1_2_VERSION, TLS1_1_VERSION, TLS1_VERSION};
    int all_reset = r0->peer_reset || (r0->peer_eof && r0->bytes_received == 0);
    for (size_t i = 0; i < 4; i++) {
        char label[64];
        snprintf(label, sizeof(label), "%s alone, every cipher and group", hilt_tls_version_str(sweep[i]));
        struct variation v = {.label = label, .profile = all, .version = sweep[i]};
        struct hilt_tls_result *r = attempt(c, &v, e);
        if (!r) return;
        if (r->completed) {
            int k = sweep[i] - TLS1_VERSION + 1;
            accepted[k] = 1;
            accepted_idx[k] = rep->nattempts - 1;
            size_t l = strlen(acc_list);
            snprintf(acc_list + l, sizeof(acc_list) - l, "%s%s", l ? ", " : "", hilt_tls_version_str(sweep[i]));
        }
        if (!(r->peer_reset || (r->peer_eof && r->bytes_received == 0))) all_reset = 0;
    }
    char offered[96];
    versions_str(p->min_version, p->max_version, offered, sizeof(offered));
    int best = 0;
    for (int v = p->max_version; v >= p->min_version && !best; v--)
        if (v >= TLS1_VERSION && accepted[v - TLS1_VERSION + 1]) best = v;

    if (!acc_list[0]) {
        /* Nothing completes with any version: SNI, ALPN, or a peer that cuts us off. */
        if (rep->sni[0]) {
            struct variation v = {.label = "every version and cipher, without SNI", .profile = all, .omit_sni = 1};
            struct hilt_tls_result *r = attempt(c, &v, e);
            if (r && r->completed) {
                sni_finding(c, r0, "without SNI the handshake completes");
                rep->cert_src = rep->nattempts - 1;
                return;
            }
        }
        if (rep->alpn[0]) {
            struct variation v = {.label = "every version and cipher, without ALPN", .profile = all, .omit_alpn = 1};
            struct hilt_tls_result *r = attempt(c, &v, e);
            if (r && r->completed) {
                struct hilt_finding *f = hilt_findings_add(fs, HILT_C_ALPN_MISMATCH, "offered", rep->alpn, NULL);
                hilt_finding_evidence(f, "with ALPN %s: %s", rep->alpn, alert_or_error(r0, buf, sizeof(buf)));
                hilt_finding_evidence(f, "without ALPN the handshake completes");
                rep->cert_src = rep->nattempts - 1;
                return;
            }
        }
        if (all_reset) {
            char d[200];
            snprintf(d, sizeof(d), "after the ClientHello, for every version and cipher offered");
            struct hilt_finding *f = hilt_findings_add(fs, HILT_C_CONNECTION_RESET, "addr", addr, "detail", d, NULL);
            hilt_finding_evidence(f, "%zu bytes received before the %s", r0->bytes_received, r0->peer_reset ? "reset" : "close");
            hilt_finding_evidence(f, "TLSv1.0 to TLSv1.3, each alone with every cipher OpenSSL has: all cut off the same way");
            return;
        }
        char d[300];
        snprintf(d, sizeof(d), "%s, and no version or cipher OpenSSL 3 can offer (TLSv1.0-TLSv1.3) completes", alert_or_error(r0, buf, sizeof(buf)));
        struct hilt_finding *f = hilt_findings_add(fs, HILT_C_HANDSHAKE_FAILED, "detail", d, NULL);
        hilt_finding_evidence(f, "the server may speak only SSLv3 or SSLv2, or reject this client for a reason it does not state");
        return;
    }
    if (!best) {
        struct hilt_finding *f = hilt_findings_add(fs, HILT_C_PROTOCOL_VERSION_MISMATCH, "offered", offered, "accepted", acc_list, NULL);
        hilt_finding_evidence(f, "profile '%s' offered %s: %s", p->name, offered, alert_or_error(r0, buf, sizeof(buf)));
        hilt_finding_evidence(f, "offered alone, the server accepts %s", acc_list);
        for (int k = 4; k >= 0; k--)
            if (accepted[k]) {
                rep->cert_src = accepted_idx[k];
                break;
            }
        return;
    }
    rep->cert_src = accepted_idx[best - TLS1_VERSION + 1];
    /* A version both speak: the profile's ciphers, with every group. */
    char vlabel[96];
    snprintf(vlabel, sizeof(vlabel), "%s with the profile's ciphers, every group", hilt_tls_version_str(best));
    struct variation vc = {.label = vlabel, .version = best, .groups = hilt_all_groups};
    struct hilt_tls_result *rc = attempt(c, &vc, e);
    if (!rc) return;
    if (!rc->completed) {
        if (rc->ssl_reason == SSL_R_DH_KEY_TOO_SMALL) {
            struct hilt_tls_result *ra = &rep->attempts[rep->cert_src].r;
            char bits[16];
            snprintf(bits, sizeof(bits), "%d", ra->tmp_key_bits);
            struct hilt_finding *f = hilt_findings_add(fs, HILT_C_WEAK_DH, "bits", bits, NULL);
            hilt_finding_evidence(f, "OpenSSL: %s", rc->ssl_error);
            return;
        }
        char acc[400];
        accepted_ciphers(c, best, acc, sizeof(acc), e);
        if (!acc[0]) snprintf(acc, sizeof(acc), "%s", iana_or_name(&rep->attempts[rep->cert_src].r));
        struct hilt_finding *f = hilt_findings_add(fs, HILT_C_NO_SHARED_CIPHER, "accepted", acc, NULL);
        hilt_finding_evidence(f, "%s offered with profile '%s' ciphers: %s", hilt_tls_version_str(best), p->name, alert_or_error(rc, buf, sizeof(buf)));
        hilt_finding_evidence(f, "%s with every cipher OpenSSL has: the server picks %s", hilt_tls_version_str(best), acc);
        return;
    }
    /* The profile's ciphers work with every group: try its groups. */
    snprintf(vlabel, sizeof(vlabel), "%s with the profile's ciphers and groups", hilt_tls_version_str(best));
    struct variation vg = {.label = vlabel, .version = best};
    struct hilt_tls_result *rg = attempt(c, &vg, e);
    if (!rg) return;
    if (!rg->completed) {
        char pg[300];
        snprintf(pg, sizeof(pg), "%s", p->groups ? p->groups : "OpenSSL's defaults");
        for (char *q = pg; *q; q++)
            if (*q == ':') *q = ',';
        const char *chosen = rc->group[0] ? rc->group : rc->tmp_key;
        struct hilt_finding *f = hilt_findings_add(fs, HILT_C_NO_SHARED_GROUP, "accepted", chosen, "offered", pg, NULL);
        hilt_finding_evidence(f, "with the profile's groups: %s", alert_or_error(rg, buf, sizeof(buf)));
        hilt_finding_evidence(f, "with every group the server picks %s", chosen);
        return;
    }
    /* That works too: the failure depends on the whole offer (version intolerance). */
    if (best != p->max_version) {
        struct hilt_finding *f = hilt_findings_add(fs, HILT_C_PROTOCOL_VERSION_MISMATCH, "offered", offered, "accepted", acc_list, NULL);
        hilt_finding_evidence(f, "the server fails when offered %s but completes when offered %s alone (version intolerance)", offered, hilt_tls_version_str(best));
        return;
    }
    char d[300];
    snprintf(d, sizeof(d), "%s; the same offer succeeded when retried", alert_or_error(r0, buf, sizeof(buf)));
    struct hilt_finding *f = hilt_findings_add(fs, HILT_C_HANDSHAKE_FAILED, "detail", d, NULL);
    hilt_finding_evidence(f, "the failure did not repeat: the server may be overloaded or behind a flaky balancer");
}

/* TLS 1.3 servers judge the client certificate after the handshake. */
static void classify_post_handshake(struct ctx *c, const struct hilt_tls_result *r0)
{
    int a = r0->post_alert;
    if (!r0->saw_cert_request || a < 0 || a == 0) return;
    char buf[200];
    if (!r0->sent_client_cert) {
        struct hilt_finding *f = hilt_findings_add(&c->rep->findings, HILT_C_CLIENT_CERT_REQUIRED, "detail",
                                                   "ask the service owner which CA issues its client certificates", NULL);
        hilt_finding_evidence(f, "the server sent a CertificateRequest; the client had no certificate to send");
        snprintf(buf, sizeof(buf), "after the handshake the server sent alert %s (%d)", hilt_tls_alert_name(a), a);
        hilt_finding_evidence(f, "%s", buf);
    } else {
        char d[120];
        snprintf(d, sizeof(d), "with alert %s", hilt_tls_alert_name(a));
        struct hilt_finding *f = hilt_findings_add(&c->rep->findings, HILT_C_CLIENT_CERT_REJECTED, "detail", d, NULL);
        hilt_finding_evidence(f, "after the handshake the server sent alert %s (%d)", hilt_tls_alert_name(a), a);
    }
}

/* ---------- certificate analysis ---------- */

static void read_peer_clock(struct hilt_probe_report *rep, const struct hilt_tls_result *r)
{
    time_t d;
    if (!r->http_date[0] || hilt_time_parse_http(r->http_date, &d) < 0) return;
    uint64_t mid = (r->http_sent_us + r->http_recv_us) / 2;
    time_t local_at_mid = hilt_now() - (time_t)((hilt_mono_us() - mid) / 1000000u);
    rep->have_peer_clock = 1;
    rep->peer_date = d;
    rep->peer_offset = (long long)(d - local_at_mid);
}

/* ---------- entry ---------- */

static int load_inputs(struct ctx *c, struct hilt_err *e)
{
    const struct hilt_probe_opts *o = c->o;
    if (!(c->store = hilt_store_new(o->ca_file, e))) {
        if (o->ca_file) hilt_err_prefix(e, "--ca-file");
        return -1;
    }
    if (o->intermediates_file && !(c->intermediates = hilt_certs_load(o->intermediates_file, e))) {
        hilt_err_prefix(e, "--intermediates");
        return -1;
    }
    if (!!o->client_cert_file != !!o->client_key_file)
        return hilt_err_set(e, HILT_E_USAGE, 0, "--client-cert and --client-key go together");
    if (o->client_cert_file) {
        STACK_OF(X509) *sk = hilt_certs_load(o->client_cert_file, e);
        if (!sk) {
            hilt_err_prefix(e, "--client-cert");
            return -1;
        }
        c->client_cert = sk_X509_shift(sk);
        c->client_chain = sk;
        if (!(c->client_key = hilt_key_load(o->client_key_file, e))) {
            hilt_err_prefix(e, "--client-key");
            return -1;
        }
        if (X509_check_private_key(c->client_cert, c->client_key) != 1) {
            ERR_clear_error();
            return hilt_err_set(e, HILT_E_INPUT, 0, "--client-key %s does not match --client-cert %s", o->client_key_file, o->client_cert_file);
        }
    }
    return 0;
}

static void free_ctx(struct ctx *c)
{
    X509_STORE_free(c->store);
    sk_X509_pop_free(c->intermediates, X509_free);
    X509_free(c->client_cert);
    sk_X509_pop_free(c->client_chain, X509_free);
    EVP_PKEY_free(c->client_key);
}

int hilt_probe(const struct hilt_probe_opts *o, struct hilt_probe_report **out, struct hilt_err *e)
{
    *out = NULL;
    if (hilt_catalogue_load(e) < 0) return -1;
    struct hilt_probe_report *rep = calloc(1, sizeof(*rep));
    if (!rep) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    struct ctx c = {.o = o, .rep = rep};
    uint64_t t0 = hilt_mono_us();
    int rc = -1;
    hilt_findings_init(&rep->findings);
    rep->cert_src = -1;
    if (hilt_hostport_parse(o->target, 443, &rep->hp, e) < 0) goto out;
    rep->profile = hilt_client_profile_find(o->profile ? o->profile : "default");
    if (!rep->profile || rep->profile->internal) {
        hilt_err_set(e, HILT_E_USAGE, 0, "unknown profile '%s' (use default, modern or legacy)", o->profile);
        goto out;
    }
    if (o->sni && o->no_sni) {
        hilt_err_set(e, HILT_E_USAGE, 0, "--sni and --no-sni contradict each other");
        goto out;
    }
    if (o->sni) {
        struct hilt_hostport tmp;
        if (hilt_hostport_parse(o->sni, 443, &tmp, NULL) < 0 || strchr(o->sni, ':') || tmp.is_ip) {
            hilt_err_set(e, HILT_E_USAGE, 0, "--sni '%s' must be a DNS name (SNI cannot carry an IP address)", o->sni);
            goto out;
        }
        snprintf(rep->sni, sizeof(rep->sni), "%s", o->sni);
    } else if (!o->no_sni && !rep->hp.is_ip) {
        snprintf(rep->sni, sizeof(rep->sni), "%s", rep->hp.host);
    }
    snprintf(rep->check_name, sizeof(rep->check_name), "%s", rep->sni[0] ? rep->sni : rep->hp.host);
    if (o->alpn) {
        if (strlen(o->alpn) >= sizeof(rep->alpn) || !hilt_tls_alpn_valid(o->alpn)) {
            hilt_err_set(e, HILT_E_USAGE, 0, "--alpn '%s': give comma-separated protocol names of 1-255 bytes", o->alpn);
            goto out;
        }
        snprintf(rep->alpn, sizeof(rep->alpn), "%s", o->alpn);
    }
    c.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    rep->at_given = o->at != 0;
    rep->at = o->at ? o->at : hilt_now();
    snprintf(c.http_req, sizeof(c.http_req),
             "HEAD / HTTP/1.1\r\nHost: %s\r\nUser-Agent: hilt-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n",
             rep->check_name);
    if (load_inputs(&c, e) < 0) goto out;

    /* Resolve once; every attempt goes to the same address. */
    struct addrinfo *ai = NULL;
    struct hilt_err ne = {0};
    if (hilt_resolve(rep->hp.host, rep->hp.port, &ai, &ne) < 0) {
        struct hilt_finding *f = hilt_findings_add(&rep->findings, HILT_C_DNS_FAILED, "host", rep->hp.host, NULL);
        hilt_finding_evidence(f, "%s", ne.msg);
        rc = 0;
        goto out;
    }
    rep->resolved = 1;
    memcpy(&c.addr, ai->ai_addr, ai->ai_addrlen);
    c.addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);

    struct variation v0 = {.label = "the profile's offer", .main = 1};
    struct hilt_tls_result *r0 = attempt(&c, &v0, e);
    if (!r0) goto out;
    if (!r0->connected) {
        add_net_finding(&c, r0);
    } else if (r0->completed) {
        rep->cert_src = 0;
        read_peer_clock(rep, r0);
        classify_post_handshake(&c, r0);
        if (r0->version && r0->version < TLS1_2_VERSION) {
            struct hilt_finding *f = hilt_findings_add(&rep->findings, HILT_C_DEPRECATED_PROTOCOL, "version", hilt_tls_version_str(r0->version), NULL);
            hilt_finding_evidence(f, "negotiated %s with %s", hilt_tls_version_str(r0->version), iana_or_name(r0));
        }
    } else {
        classify_failure(&c, r0, e);
        if (e && e->kind != HILT_E_NONE && e->kind != HILT_E_NET) goto out;
    }
    if (rep->cert_src >= 0) {
        const struct hilt_tls_result *src = &rep->attempts[rep->cert_src].r;
        struct hilt_chain_check cc = {
            .chain = src->chain, .store = c.store, .store_is_custom = o->ca_file != NULL,
            .intermediates = c.intermediates, .at = rep->at, .at_given = rep->at_given,
            .sec_level = rep->profile->sec_level, .name = rep->check_name, .timeout_ms = c.timeout_ms,
            .fetch_aia = 1, .check_revocation = !o->no_revocation, .staple = src->ocsp,
            .staple_len = src->ocsp_len, .staple_requested = rep->cert_src == 0 && r0->completed,
            .have_peer_clock = rep->have_peer_clock, .peer_date = rep->peer_date,
            .peer_offset = rep->peer_offset, .peer_clock_unread = o->no_http};
        struct hilt_chain_result cr;
        if (src->chain && hilt_chain_analyse(&cc, &rep->findings, &cr, e) < 0) goto out;
        rep->verified = cr.verified;
        rep->rev_checked = cr.rev_checked;
        rep->rev = cr.rev;
    }
    if (e && e->kind != HILT_E_NONE && e->kind != HILT_E_NET) goto out;
    if (r0->connected && !r0->completed && rep->findings.n == 0) {
        struct hilt_finding *f = hilt_findings_add(&rep->findings, HILT_C_HANDSHAKE_FAILED, "detail", r0->ssl_error[0] ? r0->ssl_error : "unknown", NULL);
        hilt_finding_evidence(f, "no variation isolated a cause");
    }
    hilt_findings_sort(&rep->findings);
    rc = 0;
out:
    rep->total_us = hilt_mono_us() - t0;
    free_ctx(&c);
    if (rc < 0) {
        hilt_probe_report_free(rep);
        return -1;
    }
    hilt_err_clear(e);
    *out = rep;
    return 0;
}

int hilt_probe_report_ok(const struct hilt_probe_report *r)
{
    return r->nattempts > 0 && r->attempts[0].r.completed && r->verified && !hilt_findings_has_error(&r->findings);
}

void hilt_probe_report_free(struct hilt_probe_report *r)
{
    if (!r) return;
    for (int i = 0; i < r->nattempts; i++) hilt_tls_result_free(&r->attempts[i].r);
    hilt_findings_free(&r->findings);
    free(r);
}

/* ---------- output ---------- */

static json_t *str_or_null(const char *s)
{
    return s && *s ? hilt_json_str(s) : json_null();
}

static json_t *attempt_json(const struct attempt *a)
{
    const struct hilt_tls_result *r = &a->r;
    json_t *o = json_object();
    json_object_set_new(o, "variation", json_string(a->label));
    json_object_set_new(o, "completed", json_boolean(r->completed));
    json_object_set_new(o, "version", r->completed ? json_string(hilt_tls_version_str(r->version)) : json_null());
    json_object_set_new(o, "cipher", r->completed ? str_or_null(iana_or_name(r)) : json_null());
    json_object_set_new(o, "group", r->completed ? str_or_null(r->group[0] ? r->group : r->tmp_key) : json_null());
    json_object_set_new(o, "alert", r->alert_received >= 0 ? json_string(hilt_tls_alert_name(r->alert_received)) : json_null());
    char buf[300];
    json_object_set_new(o, "error", r->completed ? json_null() : hilt_json_str(alert_or_error(r, buf, sizeof(buf))));
    return o;
}

json_t *hilt_probe_report_json(const struct hilt_probe_report *r)
{
    json_t *o = json_object();
    json_t *t = json_object();
    json_object_set_new(t, "host", hilt_json_str(r->hp.host));
    json_object_set_new(t, "port", json_integer(r->hp.port));
    json_object_set_new(t, "sni", str_or_null(r->sni));
    json_object_set_new(t, "address", r->nattempts ? hilt_json_str(r->attempts[0].r.peer_addr) : json_null());
    json_object_set_new(o, "target", t);
    json_object_set_new(o, "profile", json_string(r->profile ? r->profile->name : "default"));
    int ok = hilt_probe_report_ok(r);
    json_object_set_new(o, "ok", json_boolean(ok));

    json_t *h = json_object();
    const struct hilt_tls_result *r0 = r->nattempts ? &r->attempts[0].r : NULL;
    int done = r0 && r0->completed;
    json_object_set_new(h, "completed", json_boolean(done));
    json_object_set_new(h, "version", done ? json_string(hilt_tls_version_str(r0->version)) : json_null());
    json_object_set_new(h, "cipher", done ? str_or_null(iana_or_name(r0)) : json_null());
    json_object_set_new(h, "group", done ? str_or_null(r0->group[0] ? r0->group : r0->tmp_key) : json_null());
    json_object_set_new(h, "signature_algorithm", done ? str_or_null(r0->sigalg) : json_null());
    json_object_set_new(h, "alpn", done ? str_or_null(r0->alpn) : json_null());
    json_object_set_new(h, "ocsp_stapled", json_boolean(r0 && r0->ocsp_len > 0));
    json_object_set_new(h, "duration_ms", r0 && r0->connected ? json_real((double)r0->handshake_us / 1000.0) : json_null());
    json_object_set_new(h, "alert", r0 && r0->alert_received >= 0 ? json_string(hilt_tls_alert_name(r0->alert_received))
                                    : r0 && r0->post_alert > 0 ? json_string(hilt_tls_alert_name(r0->post_alert))
                                                               : json_null());
    char buf[300];
    json_object_set_new(h, "error", r0 && r0->connected && !done ? hilt_json_str(alert_or_error(r0, buf, sizeof(buf)))
                                    : r0 && !r0->connected && r->resolved ? hilt_json_str(r0->net_msg)
                                                                          : json_null());
    json_object_set_new(h, "connect_ms", r0 && r0->connected ? json_real((double)r0->connect_us / 1000.0) : json_null());
    json_object_set_new(o, "handshake", h);

    json_t *chain = json_array();
    const struct hilt_tls_result *src = r->cert_src >= 0 ? &r->attempts[r->cert_src].r : NULL;
    for (int i = 0; src && src->chain && i < sk_X509_num(src->chain); i++)
        json_array_append_new(chain, hilt_cert_summary(sk_X509_value(src->chain, i)));
    json_object_set_new(o, "chain", chain);

    json_t *trust = json_object();
    char at[32];
    fmt_time(r->at, at);
    json_object_set_new(trust, "verified", json_boolean(r->verified));
    json_object_set_new(trust, "checked_at", json_string(at));
    json_object_set_new(trust, "name", str_or_null(r->check_name));
    if (r->rev_checked) {
        json_t *rv = json_object();
        json_object_set_new(rv, "status", json_string(hilt_rev_status_name(r->rev.status)));
        json_object_set_new(rv, "source", str_or_null(r->rev.source));
        json_object_set_new(rv, "url", str_or_null(r->rev.url));
        json_object_set_new(rv, "detail", str_or_null(r->rev.detail));
        json_object_set_new(trust, "revocation", rv);
    } else {
        json_object_set_new(trust, "revocation", json_null());
    }
    json_object_set_new(o, "trust", trust);
    if (r->have_peer_clock) {
        json_t *pc = json_object();
        char pd[32];
        fmt_time(r->peer_date, pd);
        json_object_set_new(pc, "date", json_string(pd));
        json_object_set_new(pc, "offset_seconds", json_integer(r->peer_offset));
        json_object_set_new(o, "peer_clock", pc);
    } else {
        json_object_set_new(o, "peer_clock", json_null());
    }
    const struct hilt_finding *root = hilt_findings_root(&r->findings);
    if (root && !ok) {
        json_t *d = json_object();
        json_object_set_new(d, "code", json_string(hilt_code_name(root->code)));
        json_object_set_new(d, "summary", hilt_json_str(root->summary));
        json_object_set_new(d, "remediation", hilt_json_str(root->remediation));
        json_object_set_new(o, "diagnosis", d);
    } else if (!ok) {
        /* Not trusted yet no error finding: cannot happen by construction, but never print ok:false with a null diagnosis. */
        json_t *d = json_object();
        json_object_set_new(d, "code", json_string("handshake_failed"));
        json_object_set_new(d, "summary", json_string("The peer could not be verified"));
        json_object_set_new(d, "remediation", json_string(hilt_code_info(HILT_C_HANDSHAKE_FAILED)->remediation));
        json_object_set_new(o, "diagnosis", d);
    } else {
        json_object_set_new(o, "diagnosis", json_null());
    }
    json_object_set_new(o, "findings", hilt_findings_json(&r->findings));
    json_t *att = json_array();
    for (int i = 0; i < r->nattempts; i++) json_array_append_new(att, attempt_json(&r->attempts[i]));
    json_object_set_new(o, "attempts", att);
    json_object_set_new(o, "duration_ms", json_real((double)r->total_us / 1000.0));
    return o;
}

#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_OFF "\033[0m"

void hilt_probe_report_print(FILE *f, const struct hilt_probe_report *r, int color)
{
    const char *red = color ? C_RED : "", *green = color ? C_GREEN : "", *yellow = color ? C_YELLOW : "";
    const char *bold = color ? C_BOLD : "", *dim = color ? C_DIM : "", *off = color ? C_OFF : "";
    char target[300];
    hilt_hostport_fmt(&r->hp, target, sizeof(target));
    int ok = hilt_probe_report_ok(r);
    const struct hilt_finding *root = hilt_findings_root(&r->findings);
    const struct hilt_tls_result *r0 = r->nattempts ? &r->attempts[0].r : NULL;
    if (ok) {
        fprintf(f, "%s%sOK%s %s%s%s", green, bold, off, bold, target, off);
        if (r0) fprintf(f, ": %s, %s", hilt_tls_version_str(r0->version), iana_or_name(r0));
        fprintf(f, ", trusted%s\n", r->sni[0] ? "" : " (no SNI)");
    } else if (root) {
        fprintf(f, "%s%sFAIL%s %s%s%s: %s%s%s\n", red, bold, off, bold, target, off, bold, hilt_code_name(root->code), off);
        fprintf(f, "  %s\n", root->summary);
        for (size_t i = 0; i < root->nevidence; i++) fprintf(f, "  %s-%s %s\n", dim, off, root->evidence[i]);
        fprintf(f, "  %sfix:%s %s\n", bold, off, root->remediation);
    }
    int others = 0;
    for (size_t i = 0; i < r->findings.n; i++) {
        const struct hilt_finding *fd = &r->findings.items[i];
        if (fd == root) continue;
        if (!others++) fprintf(f, "\n%sother findings%s\n", bold, off);
        const char *col = fd->severity == HILT_SEV_ERROR ? red : fd->severity == HILT_SEV_WARNING ? yellow : "";
        fprintf(f, "  %s%-7s%s %s: %s\n", col, hilt_severity_name(fd->severity), off, hilt_code_name(fd->code), fd->summary);
        for (size_t k = 0; k < fd->nevidence; k++) fprintf(f, "          %s-%s %s\n", dim, off, fd->evidence[k]);
    }
    fprintf(f, "\n%shandshake%s (profile %s)\n", bold, off, r->profile ? r->profile->name : "default");
    if (r0 && r0->connected) {
        char buf[300];
        fprintf(f, "  address   %s (TCP %.1f ms)\n", r0->peer_addr, r0->connect_us / 1000.0);
        fprintf(f, "  SNI       %s\n", r->sni[0] ? r->sni : "(none)");
        if (r0->completed) {
            fprintf(f, "  version   %s\n  cipher    %s\n", hilt_tls_version_str(r0->version), iana_or_name(r0));
            if (r0->group[0] || r0->tmp_key[0]) fprintf(f, "  group     %s\n", r0->group[0] ? r0->group : r0->tmp_key);
            if (r0->sigalg[0]) fprintf(f, "  signature %s\n", r0->sigalg);
            if (r->alpn[0]) fprintf(f, "  ALPN      %s (offered %s)\n", r0->alpn[0] ? r0->alpn : "none", r->alpn);
            fprintf(f, "  OCSP      %s\n", r0->ocsp_len ? "stapled" : "no staple");
            fprintf(f, "  time      %.1f ms\n", r0->handshake_us / 1000.0);
        } else {
            fprintf(f, "  result    failed: %s\n", alert_or_error(r0, buf, sizeof(buf)));
        }
        if (r->have_peer_clock) fprintf(f, "  peer clock %+lld s from ours\n", r->peer_offset);
    } else if (r0) {
        fprintf(f, "  %s\n", r0->net_msg);
    }
    if (r->nattempts > 1) {
        fprintf(f, "\n%sre-probes%s\n", bold, off);
        for (int i = 1; i < r->nattempts; i++) {
            const struct hilt_tls_result *a = &r->attempts[i].r;
            char buf[300];
            if (a->completed)
                fprintf(f, "  %s%-4s%s %s: %s, %s\n", green, "ok", off, r->attempts[i].label, hilt_tls_version_str(a->version), iana_or_name(a));
            else
                fprintf(f, "  %s%-4s%s %s: %s\n", red, "fail", off, r->attempts[i].label, alert_or_error(a, buf, sizeof(buf)));
        }
    }
    const struct hilt_tls_result *src = r->cert_src >= 0 ? &r->attempts[r->cert_src].r : NULL;
    if (src && src->chain && sk_X509_num(src->chain)) {
        fprintf(f, "\n%schain%s (as sent, %d certificate%s)\n", bold, off, sk_X509_num(src->chain), sk_X509_num(src->chain) == 1 ? "" : "s");
        for (int i = 0; i < sk_X509_num(src->chain); i++) {
            X509 *x = sk_X509_value(src->chain, i);
            char subj[300], iss[300], nb[32], na[32], key[32], sans[600];
            hilt_name_fmt(X509_get_subject_name(x), subj, sizeof(subj));
            hilt_name_fmt(X509_get_issuer_name(x), iss, sizeof(iss));
            fmt_time(hilt_cert_not_before(x), nb);
            fmt_time(hilt_cert_not_after(x), na);
            EVP_PKEY *k = X509_get0_pubkey(x);
            if (k) hilt_key_describe(k, key, sizeof(key));
            else snprintf(key, sizeof(key), "unknown");
            fprintf(f, "  %d %s\n", i, subj);
            fprintf(f, "    issuer %s\n    valid  %s to %s\n    key    %s, signed %s\n", iss, nb, na, key,
                    OBJ_nid2ln(X509_get_signature_nid(x)));
            if (i == 0) {
                hilt_chain_sans(x, sans, sizeof(sans));
                fprintf(f, "    names  %s\n", sans);
            }
        }
    }
    fprintf(f, "\n%s%.0f ms, %d handshake%s%s\n", dim, r->total_us / 1000.0, r->nattempts, r->nattempts == 1 ? "" : "s", off);
}
