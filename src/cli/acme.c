/* acme.c - `hilt acme`: operator commands for the ACME server of `hilt
 * serve` (docs/acme.md): ARI windows pulled forward (after an incident, for
 * every certificate, one serial or a name pattern), listed, cancelled and
 * shown; ACME accounts and orders listed. Reads and writes the store only;
 * the serving nodes see the change on their next renewalInfo answer. */
#include "cli/cli.h"

#include "api/ari.h"
#include "api/jws.h"
#include "ca/ca.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "store/store.h"
#include "store/store_acme.h"
#include "x509/pem.h"

#include <getopt.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: hilt acme ari pull-forward (--all | --serial S | --names PATTERN)\n"
    "                                  (--by DURATION | --to TIME) --reason TEXT\n"
    "                                  [--explanation-url URL] [--store URL] [--json]\n"
    "       hilt acme ari list [--cancelled] [--store URL] [--json]\n"
    "       hilt acme ari cancel ID [--store URL]\n"
    "       hilt acme ari show (CERTID | --serial S | --cert FILE) [--store URL] [--json]\n"
    "       hilt acme accounts [--store URL] [--json]\n"
    "       hilt acme orders [--account ID] [--limit N] [--store URL] [--json]\n"
    "\n"
    "ACME Renewal Information (RFC 9773) tells ACME clients when to renew. The default\n"
    "window of a certificate is [2/3, 5/6] of its lifetime; a revoked one gets a window in\n"
    "the past. pull-forward makes clients renew early, e.g. after an incident:\n"
    "  --all              every certificate of the CA\n"
    "  --serial S         one certificate (hex serial)\n"
    "  --names PATTERN    certificates with a name matching PATTERN ('*.example.com' also\n"
    "                     matches deeper names; '*' elsewhere matches within a label)\n"
    "  --by DURATION      move the window earlier by DURATION (7d, 12h, 30m)\n"
    "  --to TIME          make the window end by TIME (RFC 3339, 'now' or 'now+DURATION');\n"
    "                     a time already past means: renew at once\n"
    "  --reason TEXT      why (required; audited as acme.ari.pull-forward)\n"
    "  --explanation-url URL   shown to clients as explanationURL\n"
    "It applies to certificates issued before it was made, so their replacements are not\n"
    "pulled forward again. Several overrides: the earliest window wins. cancel ID ends one.\n"
    "show prints a certificate's current window as renewalInfo answers it.\n"
    "\n"
    "--store URL: postgres://… or a SQLite path (default $HILT_HOME/hilt.db).\n";

enum {
    O_STORE = 1000,
    O_JSON,
    O_HELP,
    O_ALL,
    O_SERIAL,
    O_NAMES,
    O_BY,
    O_TO,
    O_REASON,
    O_URL,
    O_CANCELLED,
    O_CERT,
    O_ACCOUNT,
    O_LIMIT
};

struct opts {
    const char *store, *serial, *names, *by, *to, *reason, *url, *cert, *account;
    int json, all, cancelled;
    long limit;
    char *pos[4];
    int npos;
};

static int parse(const char *cmd, int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {{"store", 1, 0, O_STORE},
                                       {"json", 0, 0, O_JSON},
                                       {"help", 0, 0, O_HELP},
                                       {"all", 0, 0, O_ALL},
                                       {"serial", 1, 0, O_SERIAL},
                                       {"names", 1, 0, O_NAMES},
                                       {"by", 1, 0, O_BY},
                                       {"to", 1, 0, O_TO},
                                       {"reason", 1, 0, O_REASON},
                                       {"explanation-url", 1, 0, O_URL},
                                       {"cancelled", 0, 0, O_CANCELLED},
                                       {"cert", 1, 0, O_CERT},
                                       {"account", 1, 0, O_ACCOUNT},
                                       {"limit", 1, 0, O_LIMIT},
                                       {0, 0, 0, 0}};
    memset(o, 0, sizeof(*o));
    o->limit = 100;
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (opt) {
        case O_STORE:
            o->store = optarg;
            break;
        case O_JSON:
            o->json = 1;
            break;
        case O_HELP:
            fputs(usage_text, stdout);
            return 1;
        case O_ALL:
            o->all = 1;
            break;
        case O_SERIAL:
            o->serial = optarg;
            break;
        case O_NAMES:
            o->names = optarg;
            break;
        case O_BY:
            o->by = optarg;
            break;
        case O_TO:
            o->to = optarg;
            break;
        case O_REASON:
            o->reason = optarg;
            break;
        case O_URL:
            o->url = optarg;
            break;
        case O_CANCELLED:
            o->cancelled = 1;
            break;
        case O_CERT:
            o->cert = optarg;
            break;
        case O_ACCOUNT:
            o->account = optarg;
            break;
        case O_LIMIT:
            if (cli_int(cmd, "--limit", optarg, 1, 100000, &o->limit) < 0) return 2;
            break;
        default:
            cli_usage(cmd, "unknown option, or option without its value: '%s'", argv[optind - 1]);
            return 2;
        }
    }
    while (optind < argc) {
        if (o->npos >= 4) {
            cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
            return 2;
        }
        o->pos[o->npos++] = argv[optind++];
    }
    return 0;
}

/* TIME: RFC 3339, "now", or "now+DURATION". */
static int parse_to(const char *s, int64_t *out)
{
    time_t t;
    int64_t d = 0;
    if (!strcmp(s, "now")) return *out = hilt_now(), 0;
    if (!strncmp(s, "now+", 4) && hilt_duration_parse(s + 4, &d) == 0 && d >= 0)
        return *out = hilt_now() + d, 0;
    if (hilt_time_parse_rfc3339(s, &t) == 0) return *out = t, 0;
    return -1;
}

static json_t *override_json(const struct hilt_acme_ari_override *o)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_integer(o->id));
    json_object_set_new(j, "kind", json_string(o->kind));
    json_object_set_new(j, "match", hilt_json_str(o->match ? o->match : ""));
    json_object_set_new(j, "by_seconds", json_integer(o->shift));
    json_object_set_new(j, "to", hilt_json_time((time_t)o->until));
    json_object_set_new(j, "reason", hilt_json_str(o->reason ? o->reason : ""));
    json_object_set_new(j, "explanation_url",
                        o->explanation_url && *o->explanation_url
                            ? hilt_json_str(o->explanation_url)
                            : json_null());
    json_object_set_new(j, "actor", hilt_json_str(o->actor ? o->actor : ""));
    json_object_set_new(j, "created", hilt_json_time((time_t)o->created));
    json_object_set_new(j, "cancelled", hilt_json_time((time_t)o->cancelled));
    return j;
}

static void override_text(const struct hilt_acme_ari_override *o)
{
    char c[32], to[32] = "-", by[32] = "-";
    hilt_time_fmt_rfc3339((time_t)o->created, c);
    if (o->until) hilt_time_fmt_rfc3339((time_t)o->until, to);
    if (o->shift) hilt_duration_fmt(o->shift, by);
    printf("%4lld  %s  %-6s %-24s by %-8s to %-20s %s%s\n", (long long)o->id, c, o->kind,
           o->match && *o->match ? o->match : "*", by, to, o->reason ? o->reason : "",
           o->cancelled ? "  (cancelled)" : "");
}

struct list_ctx {
    int json, cancelled;
    json_t *arr;
    int n;
};

static int list_cb(const struct hilt_acme_ari_override *o, void *arg)
{
    struct list_ctx *l = arg;
    if (o->cancelled && !l->cancelled) return 0;
    l->n++;
    if (l->json)
        json_array_append_new(l->arr, override_json(o));
    else
        override_text(o);
    return 0;
}

static int serial_of_cert(const char *path, char *serial, size_t cap, char *certid, size_t idcap,
                          struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, 1u << 20);
    int rc = -1;
    X509 *x = NULL;
    if (hilt_file_read(path, &b, e) < 0) goto out;
    BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
    x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!x) {
        const unsigned char *p = b.data;
        x = d2i_X509(NULL, &p, (long)b.len);
    }
    if (!x) {
        hilt_err_set(e, HILT_E_INPUT, 0, "%s: not a certificate (PEM or DER)", path);
        goto out;
    }
    if (hilt_ari_certid_of(x, certid, idcap, e) < 0) {
        hilt_err_prefix(e, "%s", path);
        goto out;
    }
    unsigned char kid[64];
    size_t kl;
    rc = hilt_ari_certid_parse(certid, kid, &kl, serial, e);
    (void)cap;
out:
    X509_free(x);
    hilt_buf_free(&b);
    return rc;
}

static int ari_show(const char *cmd, struct hilt_store *st, const struct opts *o)
{
    struct hilt_err e = {0};
    char serial[80] = "", certid[300] = "";
    unsigned char kid[64];
    size_t kl;
    int nsel = (o->serial != NULL) + (o->cert != NULL) + (o->npos == 1);
    if (nsel != 1) return cli_usage(cmd, "show takes one of CERTID, --serial S, --cert FILE");
    if (o->npos == 1 && hilt_ari_certid_parse(o->pos[0], kid, &kl, serial, &e) < 0)
        return cli_fail(cmd, &e);
    if (o->npos == 1) snprintf(certid, sizeof(certid), "%s", o->pos[0]);
    if (o->serial && hilt_hex_normalise(o->serial, serial, sizeof(serial)) < 0)
        return cli_usage(cmd, "--serial '%s' is not a serial (hex digits)", o->serial);
    if (o->cert && serial_of_cert(o->cert, serial, sizeof(serial), certid, sizeof(certid), &e) < 0)
        return cli_fail(cmd, &e);
    struct hilt_cert_rec rec;
    int found = hilt_store_cert_get(st, serial, &rec, NULL, &e);
    if (found < 0) return cli_fail(cmd, &e);
    if (!found) {
        hilt_err_set(&e, HILT_E_INPUT, 0, "no certificate with serial %s in the store", serial);
        return cli_fail(cmd, &e);
    }
    struct hilt_ari_window w;
    int rc = hilt_ari_window(st, &rec, &w, &e);
    if (rc < 0) {
        hilt_cert_rec_free(&rec);
        return cli_fail(cmd, &e);
    }
    char s[32], en[32];
    hilt_time_fmt_rfc3339((time_t)w.start, s);
    hilt_time_fmt_rfc3339((time_t)w.end, en);
    if (o->json) {
        json_t *j = json_object();
        json_object_set_new(j, "serial", json_string(rec.serial));
        json_object_set_new(j, "cert_id", certid[0] ? json_string(certid) : json_null());
        json_object_set_new(j, "names", hilt_json_str(rec.names));
        json_object_set_new(j, "not_after", hilt_json_time((time_t)rec.not_after));
        json_object_set_new(j, "suggested_window", json_pack("{s:s, s:s}", "start", s, "end", en));
        json_object_set_new(j, "override",
                            w.override_id ? json_integer(w.override_id) : json_null());
        json_object_set_new(j, "explanation_url",
                            w.explanation_url[0] ? json_string(w.explanation_url) : json_null());
        hilt_json_print(stdout, j, 1);
        json_decref(j);
    } else {
        printf("serial %s (%s)\nsuggested window %s .. %s%s", rec.serial, rec.names, s, en,
               rec.revoked_at ? " (revoked: renew now)" : "");
        if (w.override_id) printf(" (pulled forward by override %lld)", (long long)w.override_id);
        printf("\n");
    }
    hilt_cert_rec_free(&rec);
    return 0;
}

static int ari_pull_forward(const char *cmd, struct hilt_store *st, const struct opts *o)
{
    struct hilt_err e = {0};
    int nsel = o->all + (o->serial != NULL) + (o->names != NULL);
    if (nsel != 1) return cli_usage(cmd, "choose one of --all, --serial S, --names PATTERN");
    if (!o->by && !o->to) return cli_usage(cmd, "give --by DURATION or --to TIME (or both)");
    if (!o->reason || !*o->reason)
        return cli_usage(cmd, "--reason TEXT is required (it is audited)");
    if (o->npos) return cli_usage(cmd, "unexpected argument '%s'", o->pos[0]);
    struct hilt_acme_ari_override ov = {0};
    snprintf(ov.kind, sizeof(ov.kind), "%s", o->all ? "all" : o->serial ? "serial" : "names");
    ov.match = (char *)(o->serial ? o->serial : o->names ? o->names : "");
    if (o->by && (hilt_duration_parse(o->by, &ov.shift) < 0 || ov.shift <= 0))
        return cli_usage(cmd, "--by '%s' is not a duration (7d, 12h, 30m)", o->by);
    if (o->to && parse_to(o->to, &ov.until) < 0)
        return cli_usage(cmd, "--to '%s' is not a time (RFC 3339, 'now', 'now+6h')", o->to);
    if (o->url && (strncmp(o->url, "https://", 8) && strncmp(o->url, "http://", 7)))
        return cli_usage(cmd, "--explanation-url '%s' is not an http(s) URL", o->url);
    ov.reason = (char *)o->reason;
    ov.explanation_url = (char *)(o->url ? o->url : "");
    ov.actor = (char *)hilt_audit_actor();
    if (hilt_ari_pull_forward(st, &ov, &e) < 0)
        return e.kind == HILT_E_USAGE ? cli_usage(cmd, "%s", e.msg) : cli_fail(cmd, &e);
    if (!ov.match) ov.match = (char *)(o->serial ? o->serial : "");
    if (o->json) {
        json_t *j = override_json(&ov);
        hilt_json_print(stdout, j, 1);
        json_decref(j);
    } else {
        printf("override %lld: ", (long long)ov.id);
        override_text(&ov);
    }
    return 0;
}

struct acct_ctx {
    int json;
    json_t *arr;
};

static int acct_cb(const struct hilt_acme_account *a, void *arg)
{
    struct acct_ctx *c = arg;
    if (c->json) {
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(a->id));
        json_object_set_new(j, "status", json_string(a->status));
        json_object_set_new(j, "key_thumbprint", json_string(a->thumbprint));
        json_t *ct = json_loads(a->contact ? a->contact : "[]", 0, NULL);
        json_object_set_new(j, "contact", ct ? ct : json_array());
        json_object_set_new(j, "created", hilt_json_time((time_t)a->created));
        json_array_append_new(c->arr, j);
    } else {
        char t[32];
        hilt_time_fmt_rfc3339((time_t)a->created, t);
        printf("%-24s %-12s %s  %s\n", a->id, a->status, t, a->contact ? a->contact : "[]");
    }
    return 0;
}

static int order_cb(const struct hilt_acme_order *o, void *arg)
{
    struct acct_ctx *c = arg;
    if (c->json) {
        json_t *j = json_object();
        json_object_set_new(j, "id", json_string(o->id));
        json_object_set_new(j, "account", json_string(o->account));
        json_object_set_new(j, "status", json_string(o->status));
        json_t *ids = json_loads(o->identifiers ? o->identifiers : "[]", 0, NULL);
        json_object_set_new(j, "identifiers", ids ? ids : json_array());
        json_object_set_new(j, "serial", o->serial[0] ? json_string(o->serial) : json_null());
        json_object_set_new(j, "request_id",
                            o->request_id[0] ? json_string(o->request_id) : json_null());
        json_object_set_new(j, "replaces", o->replaces ? hilt_json_str(o->replaces) : json_null());
        json_object_set_new(j, "created", hilt_json_time((time_t)o->created));
        json_array_append_new(c->arr, j);
    } else {
        char t[32];
        hilt_time_fmt_rfc3339((time_t)o->created, t);
        printf("%-24s %-24s %-10s %s  %s %s\n", o->id, o->account, o->status, t,
               o->serial[0] ? o->serial : "-", o->identifiers ? o->identifiers : "");
    }
    return 0;
}

static int cmd_acme(int argc, char **argv)
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
    int shift = 1;
    const char *what = sub;
    if (!strcmp(sub, "ari")) {
        if (argc < 3) return cli_usage("acme ari", "which: pull-forward, list, cancel or show");
        what = argv[2];
        shift = 2;
        if (!strcmp(what, "--help") || !strcmp(what, "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(what, "pull-forward") && strcmp(what, "list") && strcmp(what, "cancel") &&
            strcmp(what, "show"))
            return cli_usage("acme ari",
                             "'%s' is not an ari command (pull-forward, list, cancel, show)", what);
        snprintf(cmd, sizeof(cmd), "acme ari %s", what);
    } else if (!strcmp(sub, "accounts") || !strcmp(sub, "orders")) {
        snprintf(cmd, sizeof(cmd), "acme %s", sub);
    } else {
        return cli_usage("acme", "'%s' is not an acme command (ari, accounts, orders)", sub);
    }
    struct opts o;
    int prc = parse(cmd, argc - shift, argv + shift, &o);
    if (prc == 1) return 0;
    if (prc) return prc;
    if (!strcmp(what, "cancel") && o.npos != 1)
        return cli_usage(cmd, "cancel takes one override ID");
    long id = 0;
    if (!strcmp(what, "cancel") && cli_int(cmd, "ID", o.pos[0], 1, 1L << 62, &id) < 0) return 2;
    if ((!strcmp(what, "list") || !strcmp(what, "accounts") || !strcmp(what, "orders")) && o.npos)
        return cli_usage(cmd, "unexpected argument '%s'", o.pos[0]);
    struct hilt_err e = {0};
    struct hilt_store *st = hilt_store_open(o.store, &e);
    if (!st) return cli_fail(cmd, &e);
    int rc = 0;
    if (!strcmp(what, "pull-forward")) {
        rc = ari_pull_forward(cmd, st, &o);
    } else if (!strcmp(what, "show")) {
        rc = ari_show(cmd, st, &o);
    } else if (!strcmp(what, "list")) {
        struct list_ctx l = {o.json, o.cancelled, o.json ? json_array() : NULL, 0};
        if (hilt_store_acme_ari_list(st, !o.cancelled, list_cb, &l, &e) < 0)
            rc = cli_fail(cmd, &e);
        else if (o.json)
            hilt_json_print(stdout, l.arr, 1);
        else if (!l.n)
            printf("no ARI overrides\n");
        json_decref(l.arr);
    } else if (!strcmp(what, "cancel")) {
        char obj[64];
        snprintf(obj, sizeof(obj), "ari override %ld", id);
        struct hilt_audit_ev ev = {NULL, "acme.ari.cancel", obj, "ok"};
        int c = hilt_store_acme_ari_cancel(st, id, hilt_now(), &ev, &e);
        if (c < 0) {
            rc = cli_fail(cmd, &e);
        } else if (!c) {
            hilt_err_set(&e, HILT_E_INPUT, 0, "no active ARI override %ld", id);
            rc = cli_fail(cmd, &e);
        } else {
            printf("override %ld cancelled\n", id);
        }
    } else {
        struct acct_ctx c = {o.json, o.json ? json_array() : NULL};
        int r = !strcmp(what, "accounts")
                    ? hilt_store_acme_account_list(st, acct_cb, &c, &e)
                    : hilt_store_acme_order_list(st, o.account, o.limit, order_cb, &c, &e);
        if (r < 0)
            rc = cli_fail(cmd, &e);
        else if (o.json)
            hilt_json_print(stdout, c.arr, 1);
        json_decref(c.arr);
    }
    hilt_store_close(st);
    return rc;
}
HILT_COMMAND(acme, cmd_acme, "ACME server operations: ARI pull-forward, accounts, orders", 49);
