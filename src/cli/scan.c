/* scan.c - `hilt scan`: arguments and target files in, results out (logic in src/scan/). */
#include "cli/cli.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "policy/policy.h"
#include "scan/scan.h"
#include "scan/starttls.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TARGETS_FILE_MAX (16u << 20)
#define TARGETS_MAX 100000

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: hilt scan [--json | --html FILE] [--policy FILE] [--profile NAME] [--clients]\n"
        "                 [--starttls PROTO] [--targets FILE] [--concurrency N] [--timeout MS]\n"
        "                 [--sni NAME] [--ca-file FILE] [--no-revocation] [TARGET...]\n\n"
        "Enumerate what TLS endpoints really accept: protocol versions SSLv3 to TLS 1.3, the\n"
        "cipher suites per version in the server's order (with hand-built ClientHellos, so\n"
        "RC4, EXPORT, NULL and SSLv3 are seen even though OpenSSL 3 cannot speak them), groups,\n"
        "signature schemes, every certificate, OCSP stapling, resumption, secure renegotiation,\n"
        "TLS_FALLBACK_SCSV, compression and ALPN; then findings and conformance to a profile.\n\n"
        "  TARGET              HOST[:PORT] (port 443, or the STARTTLS protocol's port)\n"
        "  --targets FILE      one 'HOST:PORT [PROFILE]' a line; '#' comments\n"
        "  --profile NAME      check conformance to this profile (built-in or from --policy)\n"
        "  --policy FILE       a policy file: its profiles, and environments mapping endpoints\n"
        "                      to profiles (used for targets without a profile)\n"
        "  --clients           simulate real client profiles against each target (who breaks)\n"
        "  --starttls PROTO    %s\n"
        "  --concurrency N     targets scanned at once (default 32)\n"
        "  --timeout MS        per connection step (default 3000)\n"
        "  --sni NAME          server name to send (default: the host when it is a name)\n"
        "  --ca-file FILE      trust anchors for certificate findings (default: system store)\n"
        "  --no-revocation     do not fetch OCSP or CRLs for certificate findings\n"
        "  --json              JSON: one object for one target; JSON lines for several, as each\n"
        "                      finishes, then a summary line\n"
        "  --html FILE         also write a self-contained HTML report (fleet overview + "
        "targets)\n\n"
        "Exit: 0 every target conforms and has no error finding; 1 a target violates its profile,\n"
        "has an error finding or is unreachable; 2 bad usage or input. See docs/scan.md.\n",
        hilt_starttls_names());
}

struct targets {
    struct hilt_scan_target *v;
    char **strings;
    size_t n, cap, nstr, capstr;
};

static char *keep(struct targets *t, const char *s, size_t n)
{
    if (t->nstr == t->capstr) {
        size_t cap = t->capstr ? t->capstr * 2 : 64;
        char **p = realloc(t->strings, cap * sizeof(*p));
        if (!p) return NULL;
        t->strings = p;
        t->capstr = cap;
    }
    char *c = strndup(s, n);
    if (c) t->strings[t->nstr++] = c;
    return c;
}

static int add_target(struct targets *t, const char *target, const char *profile)
{
    if (t->n >= TARGETS_MAX) return -1;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        struct hilt_scan_target *p = realloc(t->v, cap * sizeof(*p));
        if (!p) return -1;
        t->v = p;
        t->cap = cap;
    }
    t->v[t->n++] = (struct hilt_scan_target){target, profile};
    return 0;
}

static void targets_free(struct targets *t)
{
    for (size_t i = 0; i < t->nstr; i++)
        free(t->strings[i]);
    free(t->strings);
    free(t->v);
}

/* "host:port [profile]" per line; errors name file:line. */
static int load_targets(const char *path, struct targets *t, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, TARGETS_FILE_MAX);
    int rc = -1;
    if (hilt_file_read(path, &b, e) < 0) goto out;
    const char *p = hilt_buf_cstr(&b), *end = p + b.len;
    int line = 0;
    while (p < end) {
        line++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *q = p;
        while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q < le && *q != '#') {
            const char *a = q;
            while (q < le && *q != ' ' && *q != '\t' && *q != '\r' && *q != '#')
                q++;
            char *target = keep(t, a, (size_t)(q - a));
            while (q < le && (*q == ' ' || *q == '\t'))
                q++;
            char *profile = NULL;
            if (q < le && *q != '#' && *q != '\r') {
                const char *pa = q;
                while (q < le && *q != ' ' && *q != '\t' && *q != '\r' && *q != '#')
                    q++;
                profile = keep(t, pa, (size_t)(q - pa));
                while (q < le && (*q == ' ' || *q == '\t' || *q == '\r'))
                    q++;
                if (q < le && *q != '#') {
                    hilt_err_set(e, HILT_E_INPUT, 0,
                                 "%s:%d: expected 'HOST:PORT [PROFILE]', found more", path, line);
                    goto out;
                }
            }
            if (!target) {
                hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
                goto out;
            }
            if (memchr(target, 0, 1) && !*target) continue;
            struct hilt_hostport hp;
            struct hilt_err pe = {0};
            if (hilt_hostport_parse(target, 443, &hp, &pe) < 0) {
                hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d: %s", path, line, pe.msg);
                goto out;
            }
            if (add_target(t, target, profile) < 0) {
                hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d: more than %d targets", path, line,
                             TARGETS_MAX);
                goto out;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (t->n == 0) {
        hilt_err_set(e, HILT_E_INPUT, 0, "%s: no targets", path);
        goto out;
    }
    rc = 0;
out:
    hilt_buf_free(&b);
    return rc;
}

struct out {
    int json, single, color, progress;
    size_t done, total, failed;
    json_t *html; /* collected results for --html */
};

static void report(void *arg, const struct hilt_scan_result *r)
{
    struct out *o = arg;
    o->done++;
    if (hilt_scan_result_failed(r)) o->failed++;
    json_t *j = (o->json || o->html) ? hilt_scan_result_json(r) : NULL;
    if (o->progress) fprintf(stderr, "\r\033[K");
    if (o->json) {
        hilt_json_print(stdout, j, o->single);
    } else {
        hilt_scan_result_print(stdout, r, o->color);
        if (!o->single) fputc('\n', stdout);
        fflush(stdout);
    }
    if (o->html) json_array_append(o->html, j);
    json_decref(j);
    if (o->progress) {
        fprintf(stderr, "[%zu/%zu] scanned, %zu failing", o->done, o->total, o->failed);
        fflush(stderr);
    }
}

static int cmd_scan(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},          {"html", required_argument, NULL, 'H'},
        {"policy", required_argument, NULL, 'P'},  {"profile", required_argument, NULL, 'p'},
        {"clients", no_argument, NULL, 'C'},       {"starttls", required_argument, NULL, 's'},
        {"targets", required_argument, NULL, 'T'}, {"concurrency", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'}, {"sni", required_argument, NULL, 'n'},
        {"ca-file", required_argument, NULL, 'a'}, {"no-revocation", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    struct hilt_scan_opts so = {0};
    const char *html = NULL, *policy_file = NULL, *targets_file = NULL;
    int json = 0, ch;
    long v;
    opterr = 0;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            json = 1;
            break;
        case 'H':
            html = optarg;
            break;
        case 'P':
            policy_file = optarg;
            break;
        case 'p':
            so.profile = optarg;
            break;
        case 'C':
            so.clients = 1;
            break;
        case 's':
            if (!hilt_starttls_find(optarg))
                return cli_usage("scan", "--starttls '%s' is not one of %s", optarg,
                                 hilt_starttls_names());
            so.starttls = optarg;
            break;
        case 'T':
            targets_file = optarg;
            break;
        case 'c':
            if (cli_int("scan", "--concurrency", optarg, 1, 4096, &v) < 0) return 2;
            so.concurrency = (int)v;
            break;
        case 't':
            if (cli_int("scan", "--timeout", optarg, 1, 600000, &v) < 0) return 2;
            so.timeout_ms = (int)v;
            break;
        case 'n':
            so.sni = optarg;
            break;
        case 'a':
            so.ca_file = optarg;
            break;
        case 'R':
            so.no_revocation = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            return cli_usage("scan", "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage("scan", "unknown option '%s'", argv[optind - 1]);
        }
    }
    struct targets t = {0};
    struct hilt_policy *pol = NULL;
    struct hilt_err e = {0};
    int rc = 2;
    if (targets_file && load_targets(targets_file, &t, &e) < 0) {
        rc = cli_fail("scan", &e);
        goto out;
    }
    for (int i = optind; i < argc; i++)
        add_target(&t, argv[i], NULL);
    if (t.n == 0) {
        rc = cli_usage("scan", "no TARGET and no --targets FILE");
        goto out;
    }
    if (policy_file) {
        if (hilt_policy_load_file(policy_file, &pol, &e) < 0) {
            rc = cli_fail("scan", &e);
            goto out;
        }
        so.policy = pol;
    }
    struct out o = {
        .json = json, .single = t.n == 1 && !targets_file, .color = cli_color(), .total = t.n};
    o.progress = !json && !o.single && isatty(STDERR_FILENO);
    if (html) o.html = json_array();
    if (hilt_scan_run(&so, t.v, t.n, report, &o, &e) < 0) {
        rc = e.kind == HILT_E_USAGE ? cli_usage("scan", "%s", e.msg) : cli_fail("scan", &e);
        json_decref(o.html);
        goto out;
    }
    if (o.progress) fprintf(stderr, "\r\033[K");
    if (json && !o.single) {
        json_t *sum = json_object(), *s = json_object();
        json_object_set_new(s, "targets", json_integer((json_int_t)o.total));
        json_object_set_new(s, "ok", json_integer((json_int_t)(o.total - o.failed)));
        json_object_set_new(s, "failed", json_integer((json_int_t)o.failed));
        json_object_set_new(sum, "summary", s);
        hilt_json_print(stdout, sum, 0);
        json_decref(sum);
    } else if (!o.single) {
        printf("%zu targets: %zu ok, %zu failing\n", o.total, o.total - o.failed, o.failed);
    }
    rc = o.failed ? 1 : 0;
    if (html) {
        char *buf = NULL;
        size_t len = 0;
        FILE *mf = open_memstream(&buf, &len);
        int hr = mf ? hilt_scan_html(mf, o.html, &e) : -1;
        if (mf) fclose(mf);
        if (hr == 0 && hilt_file_write_atomic(html, buf, len, 0644, &e) == 0) {
            if (!json) fprintf(stderr, "hilt scan: HTML report written to %s\n", html);
        } else {
            rc = cli_fail("scan", &e);
        }
        free(buf);
        json_decref(o.html);
    }
out:
    hilt_policy_free(&pol);
    targets_free(&t);
    return rc;
}

HILT_COMMAND(scan, cmd_scan, "enumerate what TLS endpoints accept; check them against a policy",
             15);
