/* request.c - the REST API's command-line clients: `hilt request`, `hilt
 * requests`, `hilt approve`, `hilt reject`, `hilt revoke`, for people and
 * pipelines (docs/api.md). Arguments in, one HTTPS call (api/api_client.h),
 * output out. */
#include "cli/cli.h"

#include "api/api_client.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/net.h"
#include "x509/key.h"

#include <getopt.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char common_help[] =
    "Connection (each also from the environment):\n"
    "  --server URL           https://HOST:PORT of hilt serve (HILT_SERVER)\n"
    "  --token TOKEN          bearer token (HILT_TOKEN)\n"
    "  --client-cert FILE     or a client certificate issued by the hilt CA ...\n"
    "  --client-key FILE      ... and its key\n"
    "  --ca-file FILE         trust for the server's certificate, e.g. `hilt ca roots`\n"
    "                         (HILT_CA_FILE; default: the system's trust store)\n"
    "  --timeout DUR          whole exchange (default 30s)\n"
    "  --json                 the server's JSON answer on stdout\n"
    "\n"
    "Exit: 0 done, 1 refused by the server (401, 403, 404, 409) or rejected/still pending\n"
    "after --wait, 2 bad usage or input (400, 413, 415), 3 fault (5xx, no answer).\n";

static const char request_usage[] =
    "usage: hilt request (--csr FILE | --name NAME... --key-out FILE [--key-type T])\n"
    "                    [--owner O] [--service S] [--env ENV] [--lifetime DUR]\n"
    "                    [--cert-out FILE] [--chain-out FILE] [--wait DUR] [connection]\n"
    "\n"
    "Asks hilt serve for a certificate (POST /v1/requests). A request inside a\n"
    "pre-approved scope is issued at once (the certificate is written to --cert-out,\n"
    "or printed); anything else waits for an approver and its ID is printed. --wait\n"
    "polls until it is decided. --name generates the key here (never sent) and the CSR.\n"
    "\n";

static const char requests_usage[] =
    "usage: hilt requests [list] [--state S] [--limit N] [--after CURSOR] [connection]\n"
    "       hilt requests show ID [--cert-out FILE] [connection]\n"
    "       hilt requests issue ID [connection]\n"
    "\n"
    "Lists the requests this principal may see (its own, and those in the scope of\n"
    "its approver, issuer or auditor grants), shows one, or issues an approved one\n"
    "(the issuer role, when the server separates issuance from approval).\n"
    "\n";

static const char decide_usage[] =
    "usage: hilt approve ID [--reason TEXT] [connection]\n"
    "       hilt reject ID [--reason TEXT] [connection]\n"
    "\n"
    "Decides a pending request. The server allows it only to a principal holding\n"
    "approver for the request's environment and names, and never to the requester.\n"
    "\n";

static const char revoke_usage[] =
    "usage: hilt revoke SERIAL [--reason REASON] [connection]\n"
    "\n"
    "Revokes a certificate through hilt serve (POST /v1/certificates/SERIAL/revoke):\n"
    "an approver over its scope, an admin, or the principal that requested it.\n"
    "REASON: keyCompromise, superseded, cessationOfOperation, affiliationChanged, ...\n"
    "\n";

enum {
    O_SERVER = 1000,
    O_TOKEN,
    O_CCERT,
    O_CKEY,
    O_CAFILE,
    O_TIMEOUT,
    O_JSON,
    O_CSR,
    O_NAME,
    O_KEYOUT,
    O_KEYTYPE,
    O_OWNER,
    O_SERVICE,
    O_ENV,
    O_LIFETIME,
    O_CERTOUT,
    O_CHAINOUT,
    O_WAIT,
    O_STATE,
    O_LIMIT,
    O_AFTER,
    O_REASON,
    O_HELP
};

struct args {
    struct hilt_client_opts c;
    int json;
    const char *csr, *names[100], *key_out, *key_type, *owner, *service, *env, *lifetime;
    size_t nnames;
    const char *cert_out, *chain_out, *wait, *state, *limit, *after, *reason;
    char **rest;
    int nrest;
};

static int parse(const char *cmd, const char *usage, int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"server", 1, 0, O_SERVER},      {"token", 1, 0, O_TOKEN},
        {"client-cert", 1, 0, O_CCERT},  {"client-key", 1, 0, O_CKEY},
        {"ca-file", 1, 0, O_CAFILE},     {"timeout", 1, 0, O_TIMEOUT},
        {"json", 0, 0, O_JSON},          {"csr", 1, 0, O_CSR},
        {"name", 1, 0, O_NAME},          {"key-out", 1, 0, O_KEYOUT},
        {"key-type", 1, 0, O_KEYTYPE},   {"owner", 1, 0, O_OWNER},
        {"service", 1, 0, O_SERVICE},    {"env", 1, 0, O_ENV},
        {"lifetime", 1, 0, O_LIFETIME},  {"cert-out", 1, 0, O_CERTOUT},
        {"chain-out", 1, 0, O_CHAINOUT}, {"wait", 1, 0, O_WAIT},
        {"state", 1, 0, O_STATE},        {"limit", 1, 0, O_LIMIT},
        {"after", 1, 0, O_AFTER},        {"reason", 1, 0, O_REASON},
        {"help", 0, 0, O_HELP},          {0, 0, 0, 0}};
    memset(a, 0, sizeof(*a));
    a->c.server = getenv("HILT_SERVER");
    a->c.token = getenv("HILT_TOKEN");
    a->c.ca_file = getenv("HILT_CA_FILE");
    if (a->c.token && !*a->c.token) a->c.token = NULL;
    int opt;
    int64_t d;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_SERVER:
            a->c.server = optarg;
            break;
        case O_TOKEN:
            a->c.token = optarg;
            break;
        case O_CCERT:
            a->c.cert = optarg;
            break;
        case O_CKEY:
            a->c.key = optarg;
            break;
        case O_CAFILE:
            a->c.ca_file = optarg;
            break;
        case O_TIMEOUT:
            if (hilt_duration_parse(optarg, &d) < 0 || d <= 0 || d > 3600) {
                cli_usage(cmd, "--timeout '%s' must be a duration up to 1h", optarg);
                return -1;
            }
            a->c.timeout_ms = (int)(d * 1000);
            break;
        case O_JSON:
            a->json = 1;
            break;
        case O_CSR:
            a->csr = optarg;
            break;
        case O_NAME:
            if (a->nnames == 100) {
                cli_usage(cmd, "at most 100 --name");
                return -1;
            }
            a->names[a->nnames++] = optarg;
            break;
        case O_KEYOUT:
            a->key_out = optarg;
            break;
        case O_KEYTYPE:
            a->key_type = optarg;
            break;
        case O_OWNER:
            a->owner = optarg;
            break;
        case O_SERVICE:
            a->service = optarg;
            break;
        case O_ENV:
            a->env = optarg;
            break;
        case O_LIFETIME:
            a->lifetime = optarg;
            break;
        case O_CERTOUT:
            a->cert_out = optarg;
            break;
        case O_CHAINOUT:
            a->chain_out = optarg;
            break;
        case O_WAIT:
            a->wait = optarg;
            break;
        case O_STATE:
            a->state = optarg;
            break;
        case O_LIMIT:
            a->limit = optarg;
            break;
        case O_AFTER:
            a->after = optarg;
            break;
        case O_REASON:
            a->reason = optarg;
            break;
        case O_HELP:
            fputs(usage, stdout);
            fputs(common_help, stdout);
            return 1;
        default:
            cli_usage(cmd, "unknown option, or option without its value: '%s'", argv[optind - 1]);
            return -1;
        }
    }
    a->rest = argv + optind;
    a->nrest = argc - optind;
    return 0;
}

/* The exit code of an HTTP answer, with the problem printed. */
static int answer_code(const char *cmd, int status, json_t *j, int json)
{
    if (status >= 200 && status < 300) return 0;
    if (json && j) hilt_json_print(stdout, j, 0);
    const char *type = j ? json_string_value(json_object_get(j, "type")) : NULL;
    const char *detail = j ? json_string_value(json_object_get(j, "detail")) : NULL;
    fprintf(stderr, "hilt %s: the server answered %d%s%s%s%s\n", cmd, status, type ? " " : "",
            type ? type : "", detail ? ": " : "", detail ? detail : "");
    if (status == 400 || status == 413 || status == 415 || status == 422) return 2;
    if (status >= 500) return 3;
    return 1;
}

static int call(const char *cmd, const struct args *a, const char *method, const char *path,
                json_t *body, int *status, json_t **out)
{
    struct hilt_err e = {0};
    if (hilt_client_call(&a->c, method, path, body, status, out, &e) < 0) {
        int rc = cli_fail(cmd, &e);
        return rc == 1 ? 3 : rc;
    }
    return 0;
}

static int write_str(const char *path, const char *s, struct hilt_err *e)
{
    return hilt_file_write_atomic(path, s, strlen(s), 0644, e);
}

/* --name …: a new key (written 0600) and its CSR as PEM. */
static char *make_csr(const struct args *a, struct hilt_err *e)
{
    struct hilt_keyspec ks;
    if (hilt_keyspec_parse(a->key_type ? a->key_type : "ec-p256", &ks, e) < 0) return NULL;
    EVP_PKEY *k = hilt_key_generate(&ks, e);
    X509_REQ *r = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    char *out = NULL, san[8192] = "";
    BIO *b = NULL;
    if (!k || !r || !n || !exts) goto out;
    size_t o = 0;
    for (size_t i = 0; i < a->nnames; i++) {
        const char *pre = hilt_is_ip_literal(a->names[i]) ? "IP" : "DNS";
        int w = snprintf(san + o, sizeof(san) - o, "%s%s:%s", i ? "," : "", pre, a->names[i]);
        if (w < 0 || (size_t)w >= sizeof(san) - o) {
            hilt_err_set(e, HILT_E_USAGE, 0, "too many or too long --name");
            goto out;
        }
        o += (size_t)w;
    }
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)a->names[0], -1, -1,
                               0);
    X509_REQ_set_subject_name(r, n);
    X509_REQ_set_pubkey(r, k);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    if (!ex) {
        hilt_err_ossl(e, HILT_E_USAGE, "--name: not DNS names or IP addresses");
        goto out;
    }
    sk_X509_EXTENSION_push(exts, ex);
    X509_REQ_add_extensions(r, exts);
    if (X509_REQ_sign(r, k, EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 ? NULL : EVP_sha256()) <= 0) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "cannot sign the CSR");
        goto out;
    }
    if (hilt_key_save(a->key_out, k, e) < 0) goto out;
    b = BIO_new(BIO_s_mem());
    char *p = NULL;
    long len;
    if (b && PEM_write_bio_X509_REQ(b, r) == 1 && (len = BIO_get_mem_data(b, &p)) > 0 &&
        (out = malloc((size_t)len + 1))) {
        memcpy(out, p, (size_t)len);
        out[len] = '\0';
    }
out:
    BIO_free(b);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(n);
    X509_REQ_free(r);
    EVP_PKEY_free(k);
    return out;
}

static void print_request(const json_t *rq)
{
    const char *id = json_string_value(json_object_get(rq, "id"));
    const char *st = json_string_value(json_object_get(rq, "state"));
    printf("request %s: %s", id ? id : "?", st ? st : "?");
    const char *ser = json_string_value(json_object_get(rq, "serial"));
    const char *ap = json_string_value(json_object_get(rq, "approver"));
    if (ap) printf(" (by %s)", ap);
    if (ser) printf(", serial %s", ser);
    printf("\n");
}

/* the certificate of an answer to files or stdout */
static int emit_cert(const struct args *a, const json_t *o, struct hilt_err *e)
{
    const char *cert = json_string_value(json_object_get(o, "certificate"));
    const char *chain = json_string_value(json_object_get(o, "chain"));
    if (!cert) return 0;
    if (a->cert_out && write_str(a->cert_out, cert, e) < 0) return -1;
    if (a->chain_out && chain && write_str(a->chain_out, chain, e) < 0) return -1;
    if (!a->cert_out && !a->json) fputs(chain ? chain : cert, stdout);
    return 0;
}

static int cmd_request(int argc, char **argv)
{
    const char *cmd = "request";
    struct args a;
    int p = parse(cmd, request_usage, argc, argv, &a);
    if (p) return p > 0 ? 0 : 2;
    if (a.nrest) return cli_usage(cmd, "unexpected argument '%s'", a.rest[0]);
    if (!!a.csr == !!a.nnames) return cli_usage(cmd, "give --csr FILE or --name NAME (not both)");
    if (a.nnames && !a.key_out)
        return cli_usage(cmd, "--name needs --key-out FILE for the new key");
    struct hilt_err e = {0};
    int64_t wait = 0;
    if (a.wait && (hilt_duration_parse(a.wait, &wait) < 0 || wait <= 0))
        return cli_usage(cmd, "--wait '%s' is not a duration", a.wait);
    char *csr = NULL;
    if (a.csr) {
        struct hilt_buf b;
        hilt_buf_init(&b, 64 << 10);
        if (hilt_file_read(a.csr, &b, &e) < 0) {
            hilt_buf_free(&b);
            return cli_fail(cmd, &e);
        }
        csr = strdup(hilt_buf_cstr(&b));
        hilt_buf_free(&b);
    } else if (!(csr = make_csr(&a, &e))) {
        return cli_fail(cmd, &e);
    }
    json_t *body = json_pack("{s:s}", "csr", csr ? csr : "");
    free(csr);
    if (a.owner) json_object_set_new(body, "owner", json_string(a.owner));
    if (a.service) json_object_set_new(body, "service", json_string(a.service));
    if (a.env) json_object_set_new(body, "environment", json_string(a.env));
    if (a.lifetime) json_object_set_new(body, "lifetime", json_string(a.lifetime));
    int status = 0;
    json_t *out = NULL;
    int rc = call(cmd, &a, "POST", "/v1/requests", body, &status, &out);
    json_decref(body);
    if (rc) return rc;
    if ((rc = answer_code(cmd, status, out, a.json))) goto done;
    json_t *rq = json_object_get(out, "request");
    const char *id = json_string_value(json_object_get(rq, "id"));
    char path[200];
    uint64_t end = hilt_mono_us() + (uint64_t)wait * 1000000;
    while (status == 202 && wait && id && hilt_mono_us() < end) {
        sleep(1);
        snprintf(path, sizeof(path), "/v1/requests/%s", id);
        json_t *o2 = NULL;
        if ((rc = call(cmd, &a, "GET", path, NULL, &status, &o2))) goto done;
        if ((rc = answer_code(cmd, status, o2, a.json))) {
            json_decref(o2);
            goto done;
        }
        json_decref(out);
        out = o2;
        rq = json_object_get(out, "request");
        const char *st = json_string_value(json_object_get(rq, "state"));
        status = st && !strcmp(st, "issued") ? 201 : st && !strcmp(st, "rejected") ? 200 : 202;
    }
    if (a.json)
        hilt_json_print(stdout, out, 0);
    else
        print_request(rq);
    if (emit_cert(&a, out, &e) < 0) {
        rc = cli_fail(cmd, &e);
        goto done;
    }
    const char *st = json_string_value(json_object_get(rq, "state"));
    if (wait && (!st || strcmp(st, "issued"))) rc = 1;
done:
    json_decref(out);
    return rc;
}
HILT_COMMAND(request, cmd_request, "ask hilt serve for a certificate (REST client)", 48);

static int print_list(const json_t *out)
{
    json_t *items = json_object_get(out, "items");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "id"));
        const char *st = json_string_value(json_object_get(it, "state"));
        const char *rq = json_string_value(json_object_get(it, "requester"));
        const char *env = json_string_value(json_object_get(it, "environment"));
        json_t *names = json_object_get(it, "names");
        printf("%-36s %-9s %-24s %-12s", id ? id : "", st ? st : "", rq ? rq : "",
               env && *env ? env : "-");
        size_t k;
        json_t *n;
        json_array_foreach(names, k, n) printf("%s%s", k ? "," : " ", json_string_value(n));
        printf("\n");
    }
    json_t *next = json_object_get(out, "next");
    if (json_is_integer(next))
        printf("(more: --after %lld)\n", (long long)json_integer_value(next));
    return 0;
}

static int cmd_requests(int argc, char **argv)
{
    const char *sub = argc >= 2 && argv[1][0] != '-' ? argv[1] : "list";
    int shift = argc >= 2 && argv[1][0] != '-';
    char cmd[40];
    snprintf(cmd, sizeof(cmd), "requests %s", sub);
    struct args a;
    int p = parse(cmd, requests_usage, argc - shift, argv + shift, &a);
    if (p) return p > 0 ? 0 : 2;
    int status = 0, rc;
    json_t *out = NULL;
    char path[400];
    struct hilt_err e = {0};
    if (!strcmp(sub, "list")) {
        if (a.nrest) return cli_usage(cmd, "unexpected argument '%s'", a.rest[0]);
        snprintf(path, sizeof(path), "/v1/requests?limit=%s%s%s%s%s", a.limit ? a.limit : "50",
                 a.state ? "&state=" : "", a.state ? a.state : "", a.after ? "&after=" : "",
                 a.after ? a.after : "");
        if (strpbrk(path + 12, " &#") &&
            (strchr(a.state ? a.state : "", '&') || strchr(a.after ? a.after : "", '&')))
            return cli_usage(cmd, "--state and --after are plain words");
        if ((rc = call(cmd, &a, "GET", path, NULL, &status, &out))) return rc;
        if (!(rc = answer_code(cmd, status, out, a.json))) {
            if (a.json)
                hilt_json_print(stdout, out, 0);
            else
                print_list(out);
        }
    } else if (!strcmp(sub, "show") || !strcmp(sub, "issue")) {
        if (a.nrest != 1 || strlen(a.rest[0]) > 64 || strpbrk(a.rest[0], "/?# %"))
            return cli_usage(cmd, "give one request ID");
        int issue = !strcmp(sub, "issue");
        snprintf(path, sizeof(path), "/v1/requests/%s%s", a.rest[0], issue ? "/issue" : "");
        if ((rc = call(cmd, &a, issue ? "POST" : "GET", path, NULL, &status, &out))) return rc;
        if (!(rc = answer_code(cmd, status, out, a.json))) {
            if (a.json)
                hilt_json_print(stdout, out, 0);
            else {
                json_t *rq = json_object_get(out, "request");
                if (issue)
                    print_request(rq);
                else
                    hilt_json_print(stdout, rq, 1);
            }
            if (emit_cert(&a, out, &e) < 0) rc = cli_fail(cmd, &e);
        }
    } else {
        return cli_usage("requests", "'%s' is not a requests command (list, show, issue)", sub);
    }
    json_decref(out);
    return rc;
}
HILT_COMMAND(requests, cmd_requests, "list, show or issue requests on hilt serve", 49);

static int decide(int argc, char **argv, const char *verb)
{
    struct args a;
    int p = parse(verb, decide_usage, argc, argv, &a);
    if (p) return p > 0 ? 0 : 2;
    if (a.nrest != 1 || strlen(a.rest[0]) > 64 || strpbrk(a.rest[0], "/?# %"))
        return cli_usage(verb, "give one request ID");
    char path[200];
    snprintf(path, sizeof(path), "/v1/requests/%s/%s", a.rest[0], verb);
    json_t *body = a.reason ? json_pack("{s:s}", "reason", a.reason) : NULL;
    int status = 0;
    json_t *out = NULL;
    int rc = call(verb, &a, "POST", path, body, &status, &out);
    json_decref(body);
    if (rc) return rc;
    if (!(rc = answer_code(verb, status, out, a.json))) {
        if (a.json)
            hilt_json_print(stdout, out, 0);
        else
            print_request(json_object_get(out, "request"));
        const char *ie = json_string_value(json_object_get(out, "issue_error"));
        if (ie) {
            fprintf(stderr, "hilt %s: approved, but issuing failed: %s\n", verb, ie);
            rc = 3;
        }
    }
    json_decref(out);
    return rc;
}

static int cmd_approve(int argc, char **argv)
{
    return decide(argc, argv, "approve");
}
HILT_COMMAND(approve, cmd_approve, "approve a pending request on hilt serve", 50);

static int cmd_reject(int argc, char **argv)
{
    return decide(argc, argv, "reject");
}
HILT_COMMAND(reject, cmd_reject, "reject a pending request on hilt serve", 51);

static int cmd_revoke(int argc, char **argv)
{
    const char *cmd = "revoke";
    struct args a;
    int p = parse(cmd, revoke_usage, argc, argv, &a);
    if (p) return p > 0 ? 0 : 2;
    if (a.nrest != 1 || strlen(a.rest[0]) > 128 || strpbrk(a.rest[0], "/?# %"))
        return cli_usage(cmd, "give one SERIAL (hex)");
    char path[300];
    snprintf(path, sizeof(path), "/v1/certificates/%s/revoke", a.rest[0]);
    json_t *body = a.reason ? json_pack("{s:s}", "reason", a.reason) : NULL;
    int status = 0;
    json_t *out = NULL;
    int rc = call(cmd, &a, "POST", path, body, &status, &out);
    json_decref(body);
    if (rc) return rc;
    if (!(rc = answer_code(cmd, status, out, a.json))) {
        if (a.json)
            hilt_json_print(stdout, out, 0);
        else
            printf("%s %s (%s)\n",
                   json_is_true(json_object_get(out, "already_revoked")) ? "already revoked"
                                                                         : "revoked",
                   json_string_value(json_object_get(out, "serial")),
                   json_string_value(json_object_get(out, "reason")));
    }
    json_decref(out);
    return rc;
}
HILT_COMMAND(revoke, cmd_revoke, "revoke a certificate through hilt serve", 52);
