/* result.c - a scan result as JSON, as text, and a fleet as a self-contained HTML report. */
#include "scan/scan.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "x509/key.h"
#include "x509/summary.h"

#include <string.h>

int hilt_scan_result_failed(const struct hilt_scan_result *r)
{
    if (!r->reachable) return 1;
    if (hilt_findings_has_error(&r->findings)) return 1;
    return r->conformance && !json_is_true(json_object_get(r->conformance, "pass"));
}

static json_t *suite_json(uint16_t code)
{
    json_t *o = json_object();
    const struct hilt_cipher *c = hilt_cipher_by_code(code);
    char hex[8];
    snprintf(hex, sizeof(hex), "0x%04x", code);
    json_object_set_new(o, "name", json_string(c ? hilt_cipher_name(c) : hex));
    json_object_set_new(o, "code", json_string(hex));
    if (c && c->openssl) json_object_set_new(o, "openssl", json_string(c->openssl));
    if (c) {
        json_object_set_new(o, "kx", json_string(c->kx ? c->kx : "?"));
        json_object_set_new(o, "bits", json_integer(c->enc_bits));
    }
    return o;
}

static json_t *names_json(const uint16_t *v, int n, int kind)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        const char *name = NULL;
        if (kind == 1) {
            const struct hilt_group *g = hilt_group_by_code(v[i]);
            name = g ? g->iana : NULL;
        } else {
            const struct hilt_sigalg *s = hilt_sigalg_by_code(v[i]);
            name = s ? s->iana : NULL;
        }
        char hex[8];
        snprintf(hex, sizeof(hex), "0x%04x", v[i]);
        json_array_append_new(a, json_string(name ? name : hex));
    }
    return a;
}

static json_t *tri(int v)
{
    return v < 0 ? json_null() : json_boolean(v);
}

json_t *hilt_scan_result_json(const struct hilt_scan_result *r)
{
    json_t *o = json_object();
    json_t *t = json_object();
    json_object_set_new(t, "target", hilt_json_str(r->target));
    json_object_set_new(t, "host", hilt_json_str(r->hp.host));
    json_object_set_new(t, "port", json_integer(r->hp.port));
    json_object_set_new(t, "sni", r->sni[0] ? hilt_json_str(r->sni) : json_null());
    json_object_set_new(t, "address", r->addr[0] ? json_string(r->addr) : json_null());
    json_object_set_new(o, "target", t);
    json_object_set_new(o, "reachable", json_boolean(r->reachable));
    json_object_set_new(o, "ok", json_boolean(!hilt_scan_result_failed(r)));
    json_t *vers = json_array(), *suites = json_object();
    for (int v = HILT_TLS13; v >= HILT_SSL3; v--) {
        const struct hilt_scan_version *sv = &r->v[v];
        const char *vn = hilt_tls_version_name((enum hilt_tls_version)v);
        if (sv->accepted) json_array_append_new(vers, json_string(vn));
        if (!sv->accepted) continue;
        json_t *vo = json_object(), *list = json_array();
        for (int i = 0; i < sv->nsuites; i++)
            json_array_append_new(list, suite_json(sv->suites[i]));
        json_object_set_new(vo, "ciphers", list);
        json_object_set_new(vo, "server_order", tri(sv->server_order));
        json_object_set_new(vo, "complete", json_boolean(sv->complete));
        json_object_set_new(suites, vn, vo);
    }
    json_object_set_new(o, "versions", vers);
    json_object_set_new(o, "ciphers", suites);
    json_t *g = json_object();
    json_object_set_new(g, "tls13", names_json(r->groups13, r->ngroups13, 1));
    json_object_set_new(g, "tls12", names_json(r->groups12, r->ngroups12, 1));
    json_object_set_new(g, "dh_bits", r->dh_bits ? json_integer(r->dh_bits) : json_null());
    json_object_set_new(o, "groups", g);
    json_t *sa = json_object();
    json_object_set_new(sa, "tls13", names_json(r->sigalgs13, r->nsigalgs13, 2));
    json_object_set_new(sa, "tls12", names_json(r->sigalgs12, r->nsigalgs12, 2));
    json_object_set_new(o, "signature_algorithms", sa);
    json_t *certs = json_array();
    for (int i = 0; i < r->ncerts; i++) {
        json_t *c = json_object(), *chain = json_array();
        json_object_set_new(c, "via", json_string(r->certs[i].via));
        for (int k = 0; k < sk_X509_num(r->certs[i].chain); k++)
            json_array_append_new(chain, hilt_cert_summary(sk_X509_value(r->certs[i].chain, k)));
        json_object_set_new(c, "chain", chain);
        json_array_append_new(certs, c);
    }
    json_object_set_new(o, "certificates", certs);
    json_t *x = json_object();
    json_object_set_new(x, "ocsp_stapling", tri(r->ocsp_stapled));
    json_object_set_new(x, "secure_renegotiation", tri(r->secure_reneg));
    json_object_set_new(x, "compression", tri(r->compression));
    json_object_set_new(x, "fallback_scsv", tri(r->fallback_scsv));
    json_object_set_new(x, "resumption_ids", tri(r->resume_ids));
    json_object_set_new(x, "resumption_tickets", tri(r->resume_tickets));
    json_t *alpn = json_array();
    for (int i = 0; i < r->nalpn; i++)
        json_array_append_new(alpn, hilt_json_str(r->alpn[i]));
    json_object_set_new(x, "alpn", r->alpn_checked ? alpn : (json_decref(alpn), json_null()));
    json_object_set_new(o, "features", x);
    json_object_set_new(o, "findings", hilt_findings_json(&r->findings));
    json_object_set_new(o, "conformance",
                        r->conformance ? json_incref(r->conformance) : json_null());
    if (r->clients) json_object_set_new(o, "clients", json_incref(r->clients));
    json_object_set_new(o, "error",
                        r->error[0] && !r->reachable ? hilt_json_str(r->error) : json_null());
    json_object_set_new(o, "connections", json_integer(r->connections));
    json_object_set_new(o, "duration_ms", json_real((double)r->duration_us / 1000.0));
    return o;
}

#define C(x) (color ? (x) : "")

static const char *yes_no(int v)
{
    return v < 0 ? "n/a" : v ? "yes" : "no";
}

static const char *group_name(uint16_t code)
{
    const struct hilt_group *g = hilt_group_by_code(code);
    return g ? g->iana : "?";
}

static const char *sigalg_name(uint16_t code)
{
    const struct hilt_sigalg *s = hilt_sigalg_by_code(code);
    return s ? s->iana : "?";
}

/* "TLSv1.3: a, b; TLSv1.2: c" - either list may be empty. */
static void print_code_lists(FILE *f, const uint16_t *v13, int n13, const uint16_t *v12, int n12,
                             const char *(*name)(uint16_t))
{
    for (int i = 0; i < n13; i++)
        fprintf(f, "%s%s", i ? ", " : "TLSv1.3: ", name(v13[i]));
    for (int i = 0; i < n12; i++)
        fprintf(f, "%s%s", i ? ", " : (n13 ? "; TLSv1.2: " : "TLSv1.2: "), name(v12[i]));
}

void hilt_scan_result_print(FILE *f, const struct hilt_scan_result *r, int color)
{
    const char *red = "\033[31m", *green = "\033[32m", *yellow = "\033[33m", *bold = "\033[1m",
               *off = "\033[0m";
    int failed = hilt_scan_result_failed(r);
    fprintf(f, "%s%s%s%s %s%s%s", C(failed ? red : green), C(bold), failed ? "FAIL" : "OK", C(off),
            C(bold), r->target, C(off));
    if (r->addr[0]) fprintf(f, " (%s)", r->addr);
    fprintf(f, "  %d connections, %.0f ms\n", r->connections, r->duration_us / 1000.0);
    if (!r->reachable) {
        fprintf(f, "  %s\n", r->error);
        return;
    }
    for (int v = HILT_TLS13; v >= HILT_SSL3; v--) {
        const struct hilt_scan_version *sv = &r->v[v];
        const char *vn = hilt_tls_version_name((enum hilt_tls_version)v);
        if (!sv->accepted) {
            fprintf(f, "  %-8s %sno%s\n", vn, C("\033[2m"), C(off));
            continue;
        }
        int old = v <= HILT_TLS11;
        fprintf(f, "  %s%-8s yes%s  (%d suite%s, %s)\n", C(old ? yellow : ""), vn,
                C(old ? off : ""), sv->nsuites, sv->nsuites == 1 ? "" : "s",
                sv->server_order == 1   ? "server's order"
                : sv->server_order == 0 ? "client's order"
                                        : "order n/a");
        for (int i = 0; i < sv->nsuites; i++) {
            const struct hilt_cipher *c = hilt_cipher_by_code(sv->suites[i]);
            int weak = c && (c->flags & (HILT_CF_RC4 | HILT_CF_NULL | HILT_CF_ANON |
                                         HILT_CF_EXPORT | HILT_CF_DES | HILT_CF_3DES));
            fprintf(f, "    %s0x%04x %s%s\n", C(weak ? red : ""), sv->suites[i],
                    c ? hilt_cipher_name(c) : "?", C(weak ? off : ""));
        }
    }
    if (r->ngroups13 || r->ngroups12 || r->dh_bits) {
        fprintf(f, "  groups  ");
        print_code_lists(f, r->groups13, r->ngroups13, r->groups12, r->ngroups12, group_name);
        if (r->dh_bits)
            fprintf(f, "%sDHE %d bits", r->ngroups13 || r->ngroups12 ? "; " : "", r->dh_bits);
        fprintf(f, "\n");
    }
    if (r->nsigalgs13 || r->nsigalgs12) {
        fprintf(f, "  sigalgs ");
        print_code_lists(f, r->sigalgs13, r->nsigalgs13, r->sigalgs12, r->nsigalgs12, sigalg_name);
        fprintf(f, "\n");
    }
    for (int i = 0; i < r->ncerts; i++) {
        X509 *leaf = sk_X509_value(r->certs[i].chain, 0);
        char subj[300], na[32], key[32] = "?";
        hilt_name_fmt(X509_get_subject_name(leaf), subj, sizeof(subj));
        hilt_time_fmt_rfc3339(hilt_cert_not_after(leaf), na);
        EVP_PKEY *k = X509_get0_pubkey(leaf);
        if (k) hilt_key_describe(k, key, sizeof(key));
        fprintf(f, "  cert    %s, %s, until %s, chain of %d (%s)\n", subj, key, na,
                sk_X509_num(r->certs[i].chain), r->certs[i].via);
    }
    fprintf(
        f,
        "  extras  OCSP stapling %s, secure renegotiation %s, compression %s, fallback SCSV %s,\n"
        "          resumption: IDs %s, tickets %s",
        yes_no(r->ocsp_stapled), yes_no(r->secure_reneg), yes_no(r->compression),
        yes_no(r->fallback_scsv), yes_no(r->resume_ids), yes_no(r->resume_tickets));
    if (r->alpn_checked) {
        fprintf(f, ", ALPN ");
        if (!r->nalpn) fprintf(f, "none");
        for (int i = 0; i < r->nalpn; i++)
            fprintf(f, "%s%s", i ? "," : "", r->alpn[i]);
    }
    fprintf(f, "\n");
    for (size_t i = 0; i < r->findings.n; i++) {
        const struct hilt_finding *fd = &r->findings.items[i];
        const char *col = fd->severity == HILT_SEV_ERROR     ? red
                          : fd->severity == HILT_SEV_WARNING ? yellow
                                                             : "";
        fprintf(f, "  %s%-7s%s %s: %s\n", C(col), hilt_severity_name(fd->severity), C(off),
                hilt_code_name(fd->code), fd->summary);
    }
    if (r->conformance) {
        json_t *viol = json_object_get(r->conformance, "violations");
        int pass = json_is_true(json_object_get(r->conformance, "pass"));
        fprintf(f, "  policy  %s: %s%s%s\n",
                json_string_value(json_object_get(r->conformance, "profile")),
                C(pass ? green : red), pass ? "conforms" : "violations", C(off));
        size_t i;
        json_t *v;
        json_array_foreach(viol, i, v)
        {
            fprintf(f, "          - %s: expected %s; %s\n",
                    json_string_value(json_object_get(v, "rule")),
                    json_string_value(json_object_get(v, "expected")),
                    json_string_value(json_object_get(v, "actual")));
        }
    }
    if (r->clients) {
        size_t i;
        json_t *c;
        fprintf(f, "  clients\n");
        json_array_foreach(r->clients, i, c)
        {
            int ok = json_is_true(json_object_get(c, "connects"));
            const char *name = json_string_value(json_object_get(c, "client"));
            if (ok)
                fprintf(f, "    %s%-4s%s %-28s %s %s\n", C(green), "ok", C(off), name ? name : "?",
                        json_string_value(json_object_get(c, "version")) ?: "",
                        json_string_value(json_object_get(c, "cipher")) ?: "");
            else
                fprintf(f, "    %s%-4s%s %-28s %s: %s\n", C(red), "fail", C(off), name ? name : "?",
                        json_string_value(json_object_get(c, "code")) ?: "?",
                        json_string_value(json_object_get(c, "reason")) ?: "");
        }
    }
}

/* ---- HTML ---- */

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* One table row of escaped cells. */
static void html_row(FILE *f, const char *const *cells, int n)
{
    fprintf(f, "<tr>");
    for (int i = 0; i < n; i++) {
        fprintf(f, "<td>");
        esc(f, cells[i]);
        fprintf(f, "</td>");
    }
    fprintf(f, "</tr>\n");
}

int hilt_scan_html(FILE *f, json_t *results, struct hilt_err *e)
{
    size_t n = json_array_size(results), nfail = 0, nconf = 0, npass = 0;
    size_t i;
    json_t *r;
    json_array_foreach(results, i, r)
    {
        if (!json_is_true(json_object_get(r, "ok"))) nfail++;
        json_t *c = json_object_get(r, "conformance");
        if (json_is_object(c)) {
            nconf++;
            if (json_is_true(json_object_get(c, "pass"))) npass++;
        }
    }
    char now[32];
    hilt_time_fmt_rfc3339(hilt_now(), now);
    fprintf(
        f,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>hilt scan "
        "report</title>\n"
        "<style>body{font:14px/1.4 "
        "system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:3px "
        "8px;text-align:left;vertical-align:top}th{background:#f3f3f3}"
        ".ok{color:#080}.fail{color:#b00}.warn{color:#a60}code{font-size:12px}h2{margin-top:2em}</"
        "style></head><body>\n");
    fprintf(f,
            "<h1>hilt scan report</h1>\n<p>%zu target%s scanned at %s: %zu failing; %zu of %zu "
            "checked against a profile conform.</p>\n",
            n, n == 1 ? "" : "s", now, nfail, npass, nconf);
    fprintf(
        f,
        "<h2>Fleet "
        "overview</h2>\n<table><tr><th>target</th><th>result</th><th>versions</th><th>suites</th>"
        "<th>profile</th><th>violations</th><th>findings</th></tr>\n");
    json_array_foreach(results, i, r)
    {
        json_t *t = json_object_get(r, "target"), *c = json_object_get(r, "conformance");
        int ok = json_is_true(json_object_get(r, "ok"));
        size_t nsuites = 0;
        const char *vk;
        json_t *vv;
        json_object_foreach(json_object_get(r, "ciphers"), vk, vv) nsuites +=
            json_array_size(json_object_get(vv, "ciphers"));
        fprintf(f, "<tr><td><a href=\"#t%zu\">", i);
        esc(f, jstr(t, "target"));
        fprintf(f, "</a></td><td class=\"%s\">%s</td><td>", ok ? "ok" : "fail", ok ? "ok" : "fail");
        size_t k;
        json_t *ver;
        json_array_foreach(json_object_get(r, "versions"), k, ver)
        {
            fprintf(f, "%s", k ? ", " : "");
            esc(f, json_string_value(ver));
        }
        fprintf(f, "</td><td>%zu</td><td>", nsuites);
        if (json_is_object(c)) esc(f, jstr(c, "profile"));
        fprintf(f, "</td><td>%zu</td><td>%zu</td></tr>\n",
                json_is_object(c) ? json_array_size(json_object_get(c, "violations")) : 0,
                json_array_size(json_object_get(r, "findings")));
    }
    fprintf(f, "</table>\n");
    json_array_foreach(results, i, r)
    {
        json_t *t = json_object_get(r, "target"), *c = json_object_get(r, "conformance");
        fprintf(f, "<h2 id=\"t%zu\">", i);
        esc(f, jstr(t, "target"));
        fprintf(f, "</h2>\n");
        if (!json_is_true(json_object_get(r, "reachable"))) {
            fprintf(f, "<p class=\"fail\">unreachable: ");
            esc(f, jstr(r, "error"));
            fprintf(f, "</p>\n");
        }
        fprintf(f, "<table><tr><th>version</th><th>cipher suites (in the server's choice "
                   "order)</th><th>order</th></tr>\n");
        const char *vk;
        json_t *vv;
        json_object_foreach(json_object_get(r, "ciphers"), vk, vv)
        {
            fprintf(f, "<tr><td>");
            esc(f, vk);
            fprintf(f, "</td><td>");
            size_t k;
            json_t *s;
            json_array_foreach(json_object_get(vv, "ciphers"), k, s)
            {
                fprintf(f, "<code>%s ", jstr(s, "code"));
                esc(f, jstr(s, "name"));
                fprintf(f, "</code><br>");
            }
            json_t *so = json_object_get(vv, "server_order");
            fprintf(f, "</td><td>%s</td></tr>\n",
                    json_is_null(so)   ? "n/a"
                    : json_is_true(so) ? "server"
                                       : "client");
        }
        fprintf(f, "</table>\n");
        json_t *certs = json_object_get(r, "certificates");
        size_t k;
        json_t *ce;
        if (json_array_size(certs)) {
            fprintf(f, "<table><tr><th>certificate</th><th>key</th><th>valid "
                       "until</th><th>obtained with</th></tr>\n");
            json_array_foreach(certs, k, ce)
            {
                json_t *leaf = json_array_get(json_object_get(ce, "chain"), 0);
                const char *cells[] = {jstr(leaf, "subject"), jstr(leaf, "key"),
                                       jstr(leaf, "not_after"), jstr(ce, "via")};
                html_row(f, cells, 4);
            }
            fprintf(f, "</table>\n");
        }
        json_t *fds = json_object_get(r, "findings");
        if (json_array_size(fds)) {
            fprintf(f, "<table><tr><th>severity</th><th>finding</th><th>fix</th></tr>\n");
            json_array_foreach(fds, k, ce)
            {
                const char *sev = jstr(ce, "severity");
                fprintf(f, "<tr><td class=\"%s\">%s</td><td><b>",
                        !strcmp(sev, "error") ? "fail" : "warn", sev);
                esc(f, jstr(ce, "code"));
                fprintf(f, "</b>: ");
                esc(f, jstr(ce, "summary"));
                fprintf(f, "</td><td>");
                esc(f, jstr(ce, "remediation"));
                fprintf(f, "</td></tr>\n");
            }
            fprintf(f, "</table>\n");
        }
        if (json_is_object(c)) {
            int pass = json_is_true(json_object_get(c, "pass"));
            fprintf(f, "<p>Profile <b>");
            esc(f, jstr(c, "profile"));
            fprintf(f, "</b>: <span class=\"%s\">%s</span></p>\n", pass ? "ok" : "fail",
                    pass ? "conforms" : "violations");
            if (!pass) {
                fprintf(f, "<table><tr><th>rule</th><th>expected</th><th>actual</th></tr>\n");
                json_array_foreach(json_object_get(c, "violations"), k, ce)
                {
                    const char *cells[] = {jstr(ce, "rule"), jstr(ce, "expected"),
                                           jstr(ce, "actual")};
                    html_row(f, cells, 3);
                }
                fprintf(f, "</table>\n");
            }
        }
    }
    fprintf(f, "<p><small>hilt scan</small></p></body></html>\n");
    if (ferror(f)) return hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot write the HTML report");
    return 0;
}
