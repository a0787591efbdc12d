/* inventory.c - `hilt inventory list|show|expiring`: every certificate hilt
 * issued, with owner, service, environment and status, from the store. */
#include "cli/cli.h"

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
    "The certificate inventory: every certificate hilt issued, with owner, service,\n"
    "environment and status.\n"
    "\n"
    "  list                    every certificate\n"
    "  show SERIAL|SHA256      one certificate, with its decoded summary and PEM\n"
    "  expiring --within DUR   active certificates whose notAfter falls within DUR\n"
    "                          (e.g. 30d); exit 1 when there is any\n"
    "                          [--include-expired] also those already expired\n"
    "\n"
    "Options: --json (machine output), --store URL (postgres://… or a SQLite path;\n"
    "default $HILT_HOME/hilt.db).\n"
    "Exit: 0 done (nothing expiring), 1 something expiring, 2 bad usage, 3 fault.\n";

static const char *status_of(const struct hilt_cert_rec *r, time_t now)
{
    if (r->revoked_at) return "revoked";
    if (r->not_after <= now) return "expired";
    if (r->status && *r->status) return r->status;
    return "active";
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
    json_object_set_new(o, "ca", r->ca && *r->ca ? hilt_json_str(r->ca) : json_null());
    json_object_set_new(o, "owner", r->owner && *r->owner ? hilt_json_str(r->owner) : json_null());
    json_object_set_new(o, "service",
                        r->service && *r->service ? hilt_json_str(r->service) : json_null());
    json_object_set_new(o, "env", r->env && *r->env ? hilt_json_str(r->env) : json_null());
    json_object_set_new(o, "status", json_string(status_of(r, now)));
    json_object_set_new(o, "source", json_string(r->source));
    json_object_set_new(o, "shard", r->shard >= 0 ? json_integer(r->shard) : json_null());
    json_object_set_new(o, "revoked_at",
                        r->revoked_at ? hilt_json_time(r->revoked_at) : json_null());
    json_object_set_new(o, "revocation_reason",
                        r->revoked_at ? json_string(hilt_crl_reason_name(r->revoke_reason))
                                      : json_null());
    return o;
}

struct out {
    int json;
    time_t now;
    json_t *arr;
    int64_t n;
};

static int print_cb(const struct hilt_cert_rec *r, const uint8_t *der, size_t dl, void *arg)
{
    (void)der;
    (void)dl;
    struct out *o = arg;
    o->n++;
    if (o->json) {
        json_array_append_new(o->arr, rec_json(r, o->now));
        return 0;
    }
    char until[32], left[32];
    hilt_time_fmt_rfc3339(r->not_after, until);
    hilt_duration_fmt((int64_t)r->not_after - o->now, left);
    printf("%-36s %-8s %s (%s)  %s  %s/%s/%s\n", r->serial, status_of(r, o->now), until, left,
           r->names, r->owner && *r->owner ? r->owner : "-",
           r->service && *r->service ? r->service : "-", r->env && *r->env ? r->env : "-");
    return 0;
}

enum { O_STORE = 1000, O_JSON, O_WITHIN, O_EXPIRED, O_HELP };

static int bad_opt(const char *cmd, char **argv)
{
    return cli_usage(cmd, "unknown option, or option without its value: '%s'", argv[optind - 1]);
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
    int is_list = !strcmp(sub, "list"), is_show = !strcmp(sub, "show"),
        is_exp = !strcmp(sub, "expiring");
    if (!is_list && !is_show && !is_exp)
        return cli_usage("inventory", "'%s' is not an inventory command (list, show, expiring)",
                         sub);
    static const struct option opts[] = {
        {"store", 1, 0, O_STORE},   {"json", 0, 0, O_JSON},
        {"within", 1, 0, O_WITHIN}, {"include-expired", 0, 0, O_EXPIRED},
        {"help", 0, 0, O_HELP},     {0, 0, 0, 0}};
    const char *store = NULL, *within = NULL;
    int json = 0, include_expired = 0, opt;
    optind = 1;
    opterr = 0;
    argc--;
    argv++;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_STORE:
            store = optarg;
            break;
        case O_JSON:
            json = 1;
            break;
        case O_WITHIN:
            within = optarg;
            break;
        case O_EXPIRED:
            include_expired = 1;
            break;
        case O_HELP:
            fputs(usage_text, stdout);
            return 0;
        default:
            return bad_opt(cmd, argv);
        }
    }
    int64_t win = 0;
    if (is_exp) {
        if (!within) return cli_usage(cmd, "--within DUR is required (e.g. 30d)");
        if (hilt_duration_parse(within, &win) < 0 || win < 0)
            return cli_usage(cmd, "--within '%s' is not a duration (like 30d, 12h)", within);
    } else if (within || include_expired) {
        return cli_usage(cmd, "--within and --include-expired belong to 'expiring'");
    }
    if (is_show && optind + 1 != argc) return cli_usage(cmd, "give exactly one SERIAL or SHA256");
    if (!is_show && optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);

    struct hilt_err e = {0};
    struct hilt_store *st = hilt_store_open(store, &e);
    if (!st) return cli_fail(cmd, &e);
    int rc = 0;
    struct out o = {json, hilt_now(), json ? json_array() : NULL, 0};
    if (is_show) {
        struct hilt_cert_rec r;
        struct hilt_buf der;
        hilt_buf_init(&der, 1 << 20);
        int f = hilt_store_cert_get(st, argv[optind], &r, &der, &e);
        if (f < 0) {
            rc = cli_fail(cmd, &e);
        } else if (f == 0) {
            fprintf(stderr, "hilt %s: no certificate with serial or SHA-256 %s\n", cmd,
                    argv[optind]);
            rc = 2;
        } else {
            const unsigned char *p = der.data;
            X509 *x = d2i_X509(NULL, &p, (long)der.len);
            json_t *j = rec_json(&r, o.now);
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
            if (json) {
                hilt_json_print(stdout, j, 1);
            } else {
                char nb[32], na[32];
                hilt_time_fmt_rfc3339(r.not_before, nb);
                hilt_time_fmt_rfc3339(r.not_after, na);
                printf("serial:   %s\nsha256:   %s\nsubject:  %s\nnames:    %s\nvalid:    %s .. "
                       "%s\nkey:      %s\nca:       %s\nowner:    %s\nservice:  %s\nenv:      "
                       "%s\nstatus:   %s\nsource:   %s\n",
                       r.serial, r.sha256, r.subject, r.names, nb, na, r.key_type,
                       *r.ca ? r.ca : "-", *r.owner ? r.owner : "-", *r.service ? r.service : "-",
                       *r.env ? r.env : "-", status_of(&r, o.now), r.source);
                if (r.revoked_at) {
                    char ra[32];
                    hilt_time_fmt_rfc3339(r.revoked_at, ra);
                    printf("revoked:  %s (%s)\n", ra, hilt_crl_reason_name(r.revoke_reason));
                }
            }
            json_decref(j);
            X509_free(x);
            hilt_cert_rec_free(&r);
        }
        hilt_buf_free(&der);
    } else {
        struct hilt_cert_filter f = {.q = is_list ? HILT_Q_ALL : HILT_Q_EXPIRING,
                                     .from = include_expired ? INT64_MIN / 2 : o.now,
                                     .until = o.now + win};
        if (hilt_store_cert_list(st, &f, print_cb, &o, &e) < 0) {
            rc = cli_fail(cmd, &e);
        } else {
            if (json)
                hilt_json_print(stdout, o.arr, 1);
            else if (is_exp)
                printf("%lld certificate(s) expire within %s\n", (long long)o.n, within);
            if (is_exp && o.n) rc = 1;
        }
    }
    json_decref(o.arr);
    hilt_store_close(st);
    return rc;
}
HILT_COMMAND(inventory, cmd_inventory, "the certificate inventory: list, show, expiring", 41);
