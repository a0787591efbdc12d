/* inventory.c - `hilt inventory list|show|expiring|import|coverage|set`:
 * every certificate hilt issued or discovered, with owner, service,
 * environment, deployment locations, status, history and renewal state;
 * discovery from files and scan results; coverage; expiry notifications
 * (docs/trust-plane.md, docs/clm.md). */
#include "cli/cli.h"

#include "clm/discover.h"
#include "clm/notify.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "store/store.h"
#include "x509/revocation.h"
#include "x509/summary.h"

#include <getopt.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: hilt inventory COMMAND [OPTIONS]\n"
    "\n"
    "The certificate inventory: every certificate hilt issued or discovered, with\n"
    "owner, service, environment, where it is deployed, status and history.\n"
    "\n"
    "  list                    every certificate\n"
    "  show SERIAL|SHA256      one certificate: summary, PEM, locations, history, renewal\n"
    "  expiring --within DUR   active certificates whose notAfter falls within DUR\n"
    "                          (e.g. 30d); exit 1 when there is any\n"
    "                          [--include-expired] also those already expired\n"
    "                          [--notify-command CMD | --notify-url URL] [--thresholds 30d,7d,1d]\n"
    "                          send one notification per certificate and threshold (JSON on\n"
    "                          the command's stdin, or POSTed to an http:// URL); remembered\n"
    "  import PATH...          certificates from PEM, DER or PKCS#12 files, directories\n"
    "                          recursively [--password PW] [--owner O --service S --env E]\n"
    "  import --scan-results FILE   certificates seen by `hilt scan --json` on endpoints\n"
    "  coverage                certificates seen on endpoints that the inventory knows,\n"
    "                          over all seen; the uncovered ones\n"
    "  set SHA256 [--owner O] [--service S] [--env E]   claim or describe a certificate\n"
    "\n"
    "Options: --json (machine output), --store URL (postgres://… or a SQLite path;\n"
    "default $HILT_HOME/hilt.db).\n"
    "Exit: 0 done (nothing expiring), 1 something expiring, 2 bad usage or input,\n"
    "3 fault (a notification that could not be delivered is tried again next run).\n";

static const char *status_of(const struct hilt_cert_rec *r, time_t now)
{
    if (r->revoked_at) return "revoked";
    if (r->not_after <= now) return "expired";
    if (r->status && *r->status) return r->status;
    return "active";
}

static json_t *opt(const char *s)
{
    return s && *s ? hilt_json_str(s) : json_null();
}

static json_t *rec_json(const struct hilt_cert_rec *r, time_t now)
{
    json_t *o = json_object();
    json_object_set_new(o, "serial", json_string(r->serial));
    json_object_set_new(o, "sha256", json_string(r->sha256));
    json_object_set_new(o, "subject", hilt_json_str(r->subject));
    json_t *names = json_array();
    const char *p = r->names;
    while (p && *p) {
        size_t l = strcspn(p, ",");
        char buf[300];
        snprintf(buf, sizeof(buf), "%.*s", (int)(l < 299 ? l : 299), p);
        json_array_append_new(names, hilt_json_str(buf));
        p += l;
        if (*p == ',') p++;
    }
    json_object_set_new(o, "names", names);
    json_object_set_new(o, "not_before", hilt_json_time(r->not_before));
    json_object_set_new(o, "not_after", hilt_json_time(r->not_after));
    json_object_set_new(o, "key", json_string(r->key_type));
    json_object_set_new(o, "ca", opt(r->ca));
    json_object_set_new(o, "issuer", opt(r->issuer));
    json_object_set_new(o, "owner", opt(r->owner));
    json_object_set_new(o, "service", opt(r->service));
    json_object_set_new(o, "env", opt(r->env));
    json_object_set_new(o, "status", json_string(status_of(r, now)));
    json_object_set_new(o, "source", json_string(r->source));
    json_object_set_new(o, "pipeline", opt(r->pipeline));
    json_object_set_new(o, "shard", r->shard >= 0 ? json_integer(r->shard) : json_null());
    json_object_set_new(o, "revoked_at",
                        r->revoked_at ? hilt_json_time(r->revoked_at) : json_null());
    json_object_set_new(o, "revocation_reason",
                        r->revoked_at ? json_string(hilt_crl_reason_name(r->revoke_reason))
                                      : json_null());
    return o;
}

/* ---- streamed JSON for listings: written directly, field for field the
 * same as rec_json() (a test compares them), without building a tree per
 * row - 90,000 rows cost ~100 ms instead of ~1 s. */

/* A JSON string: escapes, and invalid UTF-8 as '?' (as hilt_json_str). */
static void jstr(FILE *f, const char *s)
{
    if (!s) {
        fputs_unlocked("null", f);
        return;
    }
    putc_unlocked('"', f);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            putc_unlocked('\\', f);
            putc_unlocked((int)c, f);
            p++;
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            putc_unlocked((int)c, f);
            p++;
        } else {
            /* a well-formed UTF-8 sequence is copied, anything else is '?' */
            int n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
            int ok = n > 0;
            for (int i = 1; ok && i < n; i++)
                ok = (p[i] & 0xc0) == 0x80;
            if (ok && n == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0))) ok = 0;
            if (ok && n == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))) ok = 0;
            if (ok) {
                fwrite_unlocked(p, 1, (size_t)n, f);
                p += n;
            } else {
                putc_unlocked('?', f);
                p++;
            }
        }
    }
    putc_unlocked('"', f);
}

static void jopt(FILE *f, const char *s)
{
    jstr(f, s && *s ? s : NULL);
}

static void jtime(FILE *f, int64_t t)
{
    char b[32];
    if (!t) {
        fputs_unlocked("null", f);
        return;
    }
    hilt_time_fmt_rfc3339((time_t)t, b);
    fprintf(f, "\"%s\"", b);
}

static void rec_json_write(FILE *f, const struct hilt_cert_rec *r, time_t now)
{
    fputs_unlocked("{\"serial\":", f);
    jstr(f, r->serial);
    fputs_unlocked(",\"sha256\":", f);
    jstr(f, r->sha256);
    fputs_unlocked(",\"subject\":", f);
    jstr(f, r->subject);
    fputs_unlocked(",\"names\":[", f);
    const char *p = r->names;
    int first = 1;
    while (p && *p) {
        size_t l = strcspn(p, ",");
        char buf[300];
        snprintf(buf, sizeof(buf), "%.*s", (int)(l < 299 ? l : 299), p);
        if (!first) putc_unlocked(',', f);
        jstr(f, buf);
        first = 0;
        p += l;
        if (*p == ',') p++;
    }
    fputs_unlocked("],\"not_before\":", f);
    jtime(f, r->not_before);
    fputs_unlocked(",\"not_after\":", f);
    jtime(f, r->not_after);
    fputs_unlocked(",\"key\":", f);
    jstr(f, r->key_type);
    fputs_unlocked(",\"ca\":", f);
    jopt(f, r->ca);
    fputs_unlocked(",\"issuer\":", f);
    jopt(f, r->issuer);
    fputs_unlocked(",\"owner\":", f);
    jopt(f, r->owner);
    fputs_unlocked(",\"service\":", f);
    jopt(f, r->service);
    fputs_unlocked(",\"env\":", f);
    jopt(f, r->env);
    fputs_unlocked(",\"status\":", f);
    jstr(f, status_of(r, now));
    fputs_unlocked(",\"source\":", f);
    jstr(f, r->source);
    fputs_unlocked(",\"pipeline\":", f);
    jopt(f, r->pipeline);
    fputs_unlocked(",\"shard\":", f);
    if (r->shard >= 0)
        fprintf(f, "%lld", (long long)r->shard);
    else
        fputs_unlocked("null", f);
    fputs_unlocked(",\"revoked_at\":", f);
    jtime(f, r->revoked_at);
    fputs_unlocked(",\"revocation_reason\":", f);
    jstr(f, r->revoked_at ? hilt_crl_reason_name(r->revoke_reason) : NULL);
    putc_unlocked('}', f);
}

struct out {
    int json;
    time_t now;
    int64_t n;
};

static int print_cb(const struct hilt_cert_rec *r, const uint8_t *der, size_t dl, void *arg)
{
    (void)der;
    (void)dl;
    struct out *o = arg;
    o->n++;
    if (o->json) {
        /* streamed, one object per line: a 100,000-row listing never sits in
         * memory as one JSON tree */
        fputs_unlocked(o->n == 1 ? "[\n  " : ",\n  ", stdout);
        rec_json_write(stdout, r, o->now); /* the caller holds the stdout lock */
        return 0;
    }
    char until[32], left[32];
    hilt_time_fmt_rfc3339(r->not_after, until);
    hilt_duration_fmt((int64_t)r->not_after - o->now, left);
    printf("%-36s %-10s %s (%s)  %s  %s/%s/%s\n", r->serial, status_of(r, o->now), until, left,
           r->names, r->owner && *r->owner ? r->owner : "-",
           r->service && *r->service ? r->service : "-", r->env && *r->env ? r->env : "-");
    return 0;
}

enum {
    O_STORE = 1000,
    O_JSON,
    O_WITHIN,
    O_EXPIRED,
    O_NOTIFY_CMD,
    O_NOTIFY_URL,
    O_THRESHOLDS,
    O_SCAN,
    O_PASSWORD,
    O_OWNER,
    O_SERVICE,
    O_ENV,
    O_HELP
};

struct args {
    const char *store, *within, *notify_cmd, *notify_url, *thresholds, *scan, *password;
    const char *owner, *service, *env;
    int json, include_expired;
};

static int bad_opt(const char *cmd, char **argv)
{
    return cli_usage(cmd, "unknown option, or option without its value: '%s'", argv[optind - 1]);
}

/* ---- show ---------------------------------------------------------------------------- */

static int loc_cb(const struct hilt_location *l, void *arg)
{
    json_t *a = arg;
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(l->kind));
    json_object_set_new(o, "location", hilt_json_str(l->location));
    json_object_set_new(o, "first_seen", hilt_json_time(l->first_seen));
    json_object_set_new(o, "last_seen", hilt_json_time(l->last_seen));
    json_array_append_new(a, o);
    return 0;
}

static int event_cb(const struct hilt_cert_event *ev, void *arg)
{
    json_t *a = arg;
    json_t *o = json_object();
    json_object_set_new(o, "time", hilt_json_time(ev->time));
    json_object_set_new(o, "event", json_string(ev->event));
    json_object_set_new(o, "detail", hilt_json_str(ev->detail));
    json_array_append_new(a, o);
    return 0;
}

static int do_show(const char *cmd, struct hilt_store *st, const char *key, const struct args *a,
                   time_t now)
{
    struct hilt_err e = {0};
    struct hilt_cert_rec r;
    struct hilt_buf der;
    hilt_buf_init(&der, 1 << 20);
    int f = hilt_store_cert_get(st, key, &r, &der, &e), rc = 0;
    if (f < 0) {
        hilt_buf_free(&der);
        return cli_fail(cmd, &e);
    }
    if (f == 0) {
        hilt_buf_free(&der);
        fprintf(stderr, "hilt %s: no certificate with serial or SHA-256 %s\n", cmd, key);
        return 2;
    }
    json_t *j = rec_json(&r, now);
    const unsigned char *p = der.data;
    X509 *x = der.len ? d2i_X509(NULL, &p, (long)der.len) : NULL;
    if (x) {
        json_object_set_new(j, "certificate", hilt_cert_summary(x));
        BIO *b = BIO_new(BIO_s_mem());
        char *pem = NULL;
        if (b && PEM_write_bio_X509(b, x)) {
            long n = BIO_get_mem_data(b, &pem);
            json_object_set_new(j, "pem", json_stringn(pem, (size_t)n));
        }
        BIO_free(b);
    }
    json_t *locs = json_array(), *hist = json_array();
    if (hilt_store_locations(st, r.sha256, loc_cb, locs, &e) < 0 ||
        hilt_store_cert_events(st, r.sha256, event_cb, hist, &e) < 0)
        rc = cli_fail(cmd, &e);
    json_object_set_new(j, "locations", locs);
    json_object_set_new(j, "history", hist);
    /* renewal state of the manifest that manages it */
    json_t *ren = json_null();
    if (r.pipeline && !strncmp(r.pipeline, "manifest:", 9)) {
        struct hilt_renewal_rec rr;
        if (hilt_store_renewal_get(st, r.pipeline + 9, &rr, NULL) == 1) {
            ren = json_object();
            json_object_set_new(ren, "manifest", json_string(rr.name));
            json_object_set_new(ren, "attempts", json_integer(rr.attempts));
            json_object_set_new(ren, "last_attempt_at", hilt_json_time(rr.last_attempt_at));
            json_object_set_new(ren, "next_attempt_at", hilt_json_time(rr.next_attempt_at));
            json_object_set_new(ren, "last_error", hilt_json_str(rr.last_error));
            hilt_renewal_rec_free(&rr);
        }
    }
    json_object_set_new(j, "renewal", ren);
    if (rc == 0) {
        if (a->json) {
            hilt_json_print(stdout, j, 1);
        } else {
            char nb[32], na[32];
            hilt_time_fmt_rfc3339(r.not_before, nb);
            hilt_time_fmt_rfc3339(r.not_after, na);
            printf("serial:   %s\nsha256:   %s\nsubject:  %s\nissuer:   %s\nnames:    %s\n"
                   "valid:    %s .. %s\nkey:      %s\nca:       %s\nowner:    %s\nservice:  %s\n"
                   "env:      %s\nstatus:   %s\nsource:   %s\npipeline: %s\n",
                   r.serial, r.sha256, r.subject, *r.issuer ? r.issuer : "-", r.names, nb, na,
                   r.key_type, *r.ca ? r.ca : "-", *r.owner ? r.owner : "-",
                   *r.service ? r.service : "-", *r.env ? r.env : "-", status_of(&r, now), r.source,
                   *r.pipeline ? r.pipeline : "-");
            if (r.revoked_at) {
                char ra[32];
                hilt_time_fmt_rfc3339(r.revoked_at, ra);
                printf("revoked:  %s (%s)\n", ra, hilt_crl_reason_name(r.revoke_reason));
            }
            size_t i;
            json_t *v;
            json_array_foreach(locs, i, v) printf(
                "deployed: %s %s (last seen %s)\n", json_string_value(json_object_get(v, "kind")),
                json_string_value(json_object_get(v, "location")),
                json_string_value(json_object_get(v, "last_seen")));
            json_array_foreach(hist, i, v)
                printf("history:  %s %s: %s\n", json_string_value(json_object_get(v, "time")),
                       json_string_value(json_object_get(v, "event")),
                       json_string_value(json_object_get(v, "detail")));
            if (json_is_object(ren))
                printf("renewal:  FAILING, attempt %lld, next attempt after %s: %s\n",
                       (long long)json_integer_value(json_object_get(ren, "attempts")),
                       json_string_value(json_object_get(ren, "next_attempt_at")),
                       json_string_value(json_object_get(ren, "last_error")));
        }
    }
    json_decref(j);
    X509_free(x);
    hilt_cert_rec_free(&r);
    hilt_buf_free(&der);
    return rc;
}

/* ---- import ----------------------------------------------------------------------------- */

static int do_import(const char *cmd, struct hilt_store *st, int argc, char **argv,
                     const struct args *a)
{
    struct hilt_import_opts io = {a->password, a->owner, a->service, a->env};
    struct hilt_import_stats s;
    memset(&s, 0, sizeof(s));
    struct hilt_err e = {0};
    uint64_t t0 = hilt_mono_us();
    if (a->scan) {
        if (optind < argc) return cli_usage(cmd, "--scan-results FILE takes no PATH");
        if (hilt_import_scan_results(st, a->scan, &io, &s, &e) < 0) return cli_fail(cmd, &e);
    } else {
        if (optind >= argc) return cli_usage(cmd, "give PATH... or --scan-results FILE");
        for (int i = optind; i < argc; i++)
            if (hilt_import_path(st, argv[i], &io, &s, &e) < 0) return cli_fail(cmd, &e);
    }
    double secs = (double)(hilt_mono_us() - t0) / 1e6;
    if (a->json) {
        json_t *j = json_object(), *errs = json_array();
        json_object_set_new(j, "files", json_integer(s.files));
        json_object_set_new(j, "endpoints", json_integer(s.endpoints));
        json_object_set_new(j, "certificates", json_integer(s.certificates));
        json_object_set_new(j, "added", json_integer(s.added));
        json_object_set_new(j, "known", json_integer(s.known));
        for (size_t i = 0; i < s.nerrors; i++)
            json_array_append_new(errs, hilt_json_str(s.errors[i]));
        json_object_set_new(j, "errors", errs);
        json_object_set_new(j, "seconds", json_real(secs));
        hilt_json_print(stdout, j, 1);
        json_decref(j);
    } else {
        for (size_t i = 0; i < s.nerrors; i++)
            fprintf(stderr, "hilt %s: skipped %s\n", cmd, s.errors[i]);
        if (a->scan)
            printf("%lld endpoint(s): %lld certificate(s), %lld new, %lld known (%.2fs)\n",
                   (long long)s.endpoints, (long long)s.certificates, (long long)s.added,
                   (long long)s.known, secs);
        else
            printf("%lld file(s): %lld certificate(s), %lld new, %lld known (%.2fs)\n",
                   (long long)s.files, (long long)s.certificates, (long long)s.added,
                   (long long)s.known, secs);
    }
    return 0;
}

/* ---- coverage ------------------------------------------------------------------------------ */

static int uncovered_cb(const struct hilt_endpoint_rec *r, void *arg)
{
    json_t *a = arg;
    if (r->known) return 0;
    json_t *o = json_object();
    json_object_set_new(o, "endpoint", hilt_json_str(r->endpoint));
    json_object_set_new(o, "sha256", json_string(r->sha256));
    json_object_set_new(o, "subject", hilt_json_str(r->subject));
    json_object_set_new(o, "not_after", hilt_json_time(r->not_after));
    json_array_append_new(a, o);
    return 0;
}

static int do_coverage(const char *cmd, struct hilt_store *st, const struct args *a)
{
    struct hilt_err e = {0};
    int64_t seen, known;
    json_t *unc = json_array();
    if (hilt_store_coverage(st, &seen, &known, &e) < 0 ||
        hilt_store_endpoints(st, uncovered_cb, unc, &e) < 0) {
        json_decref(unc);
        return cli_fail(cmd, &e);
    }
    double cov = seen ? (double)known / (double)seen : 1.0;
    if (a->json) {
        json_t *j = json_object();
        json_object_set_new(j, "seen", json_integer(seen));
        json_object_set_new(j, "known", json_integer(known));
        json_object_set_new(j, "coverage", json_real(cov));
        json_object_set_new(j, "uncovered", unc);
        hilt_json_print(stdout, j, 1);
        json_decref(j);
    } else {
        printf("coverage: %lld of %lld certificate(s) seen on endpoints are known (%.1f%%)\n",
               (long long)known, (long long)seen, 100.0 * cov);
        size_t i;
        json_t *v;
        json_array_foreach(unc, i, v)
            printf("  not covered: %s  %s  %s\n", json_string_value(json_object_get(v, "endpoint")),
                   json_string_value(json_object_get(v, "subject")),
                   json_string_value(json_object_get(v, "sha256")));
        if (!seen) printf("  (no endpoints seen yet: hilt inventory import --scan-results FILE)\n");
        json_decref(unc);
    }
    return 0;
}

/* ---- expiring + notifications -------------------------------------------------------------- */

static int parse_thresholds(const char *cmd, const char *s, struct hilt_notify_opts *no)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", s);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int64_t v;
        if (no->nthresholds == HILT_NOTIFY_THRESHOLDS_MAX)
            return cli_usage(cmd, "at most %d --thresholds", HILT_NOTIFY_THRESHOLDS_MAX);
        if (hilt_duration_parse(t, &v) < 0 || v <= 0)
            return cli_usage(cmd, "--thresholds: '%s' is not a duration", t);
        no->thresholds[no->nthresholds++] = v;
    }
    if (!no->nthresholds) return cli_usage(cmd, "--thresholds needs durations, like 30d,7d,1d");
    return 0;
}

static int do_set(const char *cmd, struct hilt_store *st, const char *key, const struct args *a)
{
    if (!a->owner && !a->service && !a->env)
        return cli_usage(cmd, "give --owner, --service and/or --env");
    struct hilt_err e = {0};
    struct hilt_cert_rec r;
    int f = hilt_store_cert_get(st, key, &r, NULL, &e);
    if (f <= 0) {
        if (f == 0)
            fprintf(stderr, "hilt %s: no certificate with serial or SHA-256 %s\n", cmd, key);
        return f == 0 ? 2 : cli_fail(cmd, &e);
    }
    char obj[300];
    snprintf(obj, sizeof(obj), "sha256=%s owner=%s service=%s env=%s", r.sha256,
             a->owner ? a->owner : "-", a->service ? a->service : "-", a->env ? a->env : "-");
    struct hilt_audit_ev ev = {NULL, "inventory.set", obj, "ok"};
    int rc = hilt_store_cert_set_meta(st, r.sha256, a->owner, a->service, a->env, NULL, &ev, &e);
    hilt_cert_rec_free(&r);
    if (rc < 0) return cli_fail(cmd, &e);
    if (!a->json) printf("updated %s\n", key);
    return 0;
}

static int cmd_inventory(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "inventory %.40s", sub);
    static const char *const subs[] = {"list",     "show", "expiring", "import",
                                       "coverage", "set",  NULL};
    size_t which = 0;
    while (subs[which] && strcmp(subs[which], sub))
        which++;
    if (!subs[which])
        return cli_usage("inventory",
                         "'%s' is not an inventory command (list, show, expiring, import, "
                         "coverage, set)",
                         sub);
    int is_list = which == 0, is_show = which == 1, is_exp = which == 2, is_import = which == 3,
        is_cov = which == 4, is_set = which == 5;
    static const struct option opts[] = {{"store", 1, 0, O_STORE},
                                         {"json", 0, 0, O_JSON},
                                         {"within", 1, 0, O_WITHIN},
                                         {"include-expired", 0, 0, O_EXPIRED},
                                         {"notify-command", 1, 0, O_NOTIFY_CMD},
                                         {"notify-url", 1, 0, O_NOTIFY_URL},
                                         {"thresholds", 1, 0, O_THRESHOLDS},
                                         {"scan-results", 1, 0, O_SCAN},
                                         {"password", 1, 0, O_PASSWORD},
                                         {"owner", 1, 0, O_OWNER},
                                         {"service", 1, 0, O_SERVICE},
                                         {"env", 1, 0, O_ENV},
                                         {"help", 0, 0, O_HELP},
                                         {0, 0, 0, 0}};
    struct args a = {0};
    int opt;
    optind = 1;
    opterr = 0;
    argc--;
    argv++;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_STORE:
            a.store = optarg;
            break;
        case O_JSON:
            a.json = 1;
            break;
        case O_WITHIN:
            a.within = optarg;
            break;
        case O_EXPIRED:
            a.include_expired = 1;
            break;
        case O_NOTIFY_CMD:
            a.notify_cmd = optarg;
            break;
        case O_NOTIFY_URL:
            a.notify_url = optarg;
            break;
        case O_THRESHOLDS:
            a.thresholds = optarg;
            break;
        case O_SCAN:
            a.scan = optarg;
            break;
        case O_PASSWORD:
            a.password = optarg;
            break;
        case O_OWNER:
            a.owner = optarg;
            break;
        case O_SERVICE:
            a.service = optarg;
            break;
        case O_ENV:
            a.env = optarg;
            break;
        case O_HELP:
            fputs(usage_text, stdout);
            return 0;
        default:
            return bad_opt(cmd, argv);
        }
    }
    /* options that belong to one subcommand only */
    if (!is_exp && (a.within || a.include_expired || a.notify_cmd || a.notify_url || a.thresholds))
        return cli_usage(cmd, "--within, --include-expired and --notify-* belong to 'expiring'");
    if (!is_import && (a.scan || a.password))
        return cli_usage(cmd, "--scan-results and --password belong to 'import'");
    if (!is_import && !is_set && (a.owner || a.service || a.env))
        return cli_usage(cmd, "--owner, --service and --env belong to 'import' and 'set'");
    struct hilt_notify_opts no = {.command = a.notify_cmd, .url = a.notify_url};
    int64_t win = 0;
    if (is_exp) {
        if (!a.within) return cli_usage(cmd, "--within DUR is required (e.g. 30d)");
        if (hilt_duration_parse(a.within, &win) < 0 || win < 0)
            return cli_usage(cmd, "--within '%s' is not a duration (like 30d, 12h)", a.within);
        if (a.notify_cmd && a.notify_url)
            return cli_usage(cmd, "--notify-command and --notify-url exclude each other");
        if (a.notify_url && strncmp(a.notify_url, "http://", 7))
            return cli_usage(cmd, "--notify-url '%s' must be an http:// URL", a.notify_url);
        if (a.thresholds && !a.notify_cmd && !a.notify_url)
            return cli_usage(cmd, "--thresholds needs --notify-command or --notify-url");
        if (a.thresholds && parse_thresholds(cmd, a.thresholds, &no)) return 2;
        for (size_t i = 0; i < no.nthresholds; i++)
            if (no.thresholds[i] > win)
                return cli_usage(cmd, "--thresholds: a threshold is longer than --within");
        no.within = win;
    }
    if ((is_show || is_set) && optind + 1 != argc)
        return cli_usage(cmd, "give exactly one SERIAL or SHA256");
    if ((is_list || is_exp || is_cov) && optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);

    struct hilt_err e = {0};
    struct hilt_store *st = hilt_store_open(a.store, &e);
    if (!st) return cli_fail(cmd, &e);
    int rc = 0;
    time_t now = hilt_now();
    if (is_show) {
        rc = do_show(cmd, st, argv[optind], &a, now);
    } else if (is_import) {
        rc = do_import(cmd, st, argc, argv, &a);
    } else if (is_cov) {
        rc = do_coverage(cmd, st, &a);
    } else if (is_set) {
        rc = do_set(cmd, st, argv[optind], &a);
    } else {
        struct out o = {a.json, now, 0};
        struct hilt_cert_filter f = {.q = is_list ? HILT_Q_ALL : HILT_Q_EXPIRING,
                                     .from = a.include_expired ? INT64_MIN / 2 : o.now,
                                     .until = o.now + win};
        flockfile(stdout); /* once, not per character of every row */
        int lr = hilt_store_cert_list(st, &f, print_cb, &o, &e);
        funlockfile(stdout);
        if (lr < 0) {
            rc = cli_fail(cmd, &e);
        } else {
            if (a.json)
                fputs(o.n ? "\n]\n" : "[]\n", stdout);
            else if (is_exp)
                printf("%lld certificate(s) expire within %s\n", (long long)o.n, a.within);
            if (is_exp && o.n) rc = 1;
        }
        if (rc != 3 && rc != 2 && (a.notify_cmd || a.notify_url)) {
            struct hilt_notify_stats ns;
            if (hilt_notify_expiring(st, &no, now, &ns, &e) < 0) {
                rc = cli_fail(cmd, &e);
            } else {
                fprintf(a.json ? stderr : stdout,
                        "notifications: %lld sent, %lld sent before, %lld failed\n",
                        (long long)ns.sent, (long long)ns.already, (long long)ns.failed);
                if (ns.failed) {
                    fprintf(stderr, "hilt %s: notification failed (tried again next run): %s\n",
                            cmd, ns.first_error);
                    rc = 3;
                }
            }
        }
    }
    hilt_store_close(st);
    return rc;
}
HILT_COMMAND(inventory, cmd_inventory,
             "the certificate inventory: list, show, expiring, import, coverage", 41);
