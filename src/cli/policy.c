/* policy.c - `hilt policy check|show|list|render`: arguments in, output out.
 * The model, loader and renderers live in src/policy/. */
#include "cli/cli.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "core/net.h"
#include "policy/clients.h"
#include "policy/impact.h"
#include "policy/policy.h"
#include "scan/simulate.h"
#include "x509/verify.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *usage_main =
    "usage: hilt policy SUBCOMMAND [OPTIONS]\n\n"
    "TLS policies as code: profiles (versions, ciphers, groups, certificate rules)\n"
    "and environments that map names and endpoints to a profile.\n\n"
    "subcommands:\n"
    "  check FILE                          validate a policy file; list what it defines\n"
    "  show NAME [--policy FILE] [--json]  print a resolved profile (built-in or from FILE)\n"
    "  list [--policy FILE] [--json]       list profiles and environments\n"
    "  render --profile NAME --target T [--policy FILE]\n"
    "                                      print the configuration that enforces a profile\n"
    "                                      on nginx|haproxy|apache|envoy|openssl|java|stunnel\n"
    "  impact --profile NAME [--policy FILE] [--observed URL|FILE] [--json]\n"
    "                                      which clients a profile locks out, and why\n"
    "  impact --live HOST:PORT [--ca-file FILE] [--json]\n"
    "                                      each client's own hello against a running server\n\n"
    "Built-in profiles: modern, intermediate (Mozilla 6.0), old (Mozilla 5.8), public-web,\n"
    "internal-api, partner, iot. The format is described in docs/policy.md.\n"
    "Exit: 0 ok (impact: nobody locked out), 1 impact: a client is locked out, 2 bad usage\n"
    "or an invalid policy (the message names file:line:column).\n";

/* Shared option parsing for show/list/render. */
struct opts {
    const char *policy, *profile, *target;
    int json;
    const char *pos[2];
    int npos;
};

static int parse_opts(const char *cmd, const char *usage, int argc, char **argv, struct opts *o,
                      int allow_profile, int allow_target, int allow_json, int max_pos)
{
    static const struct option lo[] = {
        {"policy", required_argument, NULL, 'p'}, {"profile", required_argument, NULL, 'P'},
        {"target", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'p':
            o->policy = optarg;
            break;
        case 'P':
            if (!allow_profile) return cli_usage(cmd, "--profile is not an option here");
            o->profile = optarg;
            break;
        case 't':
            if (!allow_target) return cli_usage(cmd, "--target is not an option here");
            o->target = optarg;
            break;
        case 'j':
            if (!allow_json) return cli_usage(cmd, "--json is not an option here");
            o->json = 1;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            return cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    for (int i = optind; i < argc; i++) {
        if (o->npos >= max_pos) return cli_usage(cmd, "unexpected argument '%s'", argv[i]);
        o->pos[o->npos++] = argv[i];
    }
    return 0;
}

static void print_list(const char *label, const struct hilt_u16list *l, int kind)
{
    printf("  %-22s", label);
    if (!l->n) printf(kind == 2 ? "(any)" : "(none)");
    for (size_t i = 0; i < l->n; i++) {
        const char *name = "?";
        if (kind == 0) {
            const struct hilt_cipher *c = hilt_cipher_by_code(l->v[i]);
            if (c) name = hilt_cipher_name(c);
            printf("%s%s (0x%04X)",
                   i ? "\n  "
                       "                      "
                     : "",
                   name, l->v[i]);
            continue;
        }
        if (kind == 1) {
            const struct hilt_group *g = hilt_group_by_code(l->v[i]);
            if (g) name = g->iana;
        } else {
            const struct hilt_sigalg *s = hilt_sigalg_by_code(l->v[i]);
            if (s) name = s->iana;
        }
        printf("%s%s", i ? ", " : "", name);
    }
    printf("\n");
}

static void print_profile(const struct hilt_profile *p)
{
    printf("profile %s", p->name);
    if (p->extends) printf(" (extends %s)", p->extends);
    printf("\n");
    if (p->description) printf("  %-22s%s\n", "description", p->description);
    printf("  %-22s%s\n", "defined at", p->origin);
    printf("  %-22s", "versions");
    for (int v = 0, first = 1; v < HILT_TLS_VERSION_COUNT; v++)
        if (p->versions & HILT_VERSION_BIT(v)) {
            printf("%s%s", first ? "" : ", ", hilt_tls_version_name((enum hilt_tls_version)v));
            first = 0;
        }
    printf("\n");
    print_list("ciphers (TLS <= 1.2)", &p->ciphers, 0);
    print_list("tls13_ciphersuites", &p->tls13_ciphersuites, 0);
    print_list("groups", &p->groups, 1);
    print_list("signature_algorithms", &p->signature_algorithms, 2);
    printf("  %-22s%s\n", "server_preference", p->server_preference ? "true" : "false");
    if (p->dh_min_bits) printf("  %-22s%d\n", "dh_min_bits", p->dh_min_bits);
    const struct hilt_cert_rules *c = &p->certificate;
    printf("  certificate:\n");
    printf("    %-20s", "key_types");
    if (!c->key_types) printf("(any)");
    for (unsigned b = 1, first = 1; b <= HILT_KEYTYPE_DSA; b <<= 1)
        if (c->key_types & b) {
            printf("%s%s", first ? "" : ", ", hilt_key_type_name(b));
            first = 0;
        }
    printf("\n");
    if (c->rsa_min_bits) printf("    %-20s%d\n", "rsa_min_bits", c->rsa_min_bits);
    if (c->ecdsa_curves.n) {
        printf("    %-20s", "ecdsa_curves");
        for (size_t i = 0; i < c->ecdsa_curves.n; i++) {
            const struct hilt_group *g = hilt_group_by_code(c->ecdsa_curves.v[i]);
            printf("%s%s", i ? ", " : "", g ? g->iana : "?");
        }
        printf("\n");
    }
    if (c->max_lifetime_days) printf("    %-20s%d days\n", "max_lifetime", c->max_lifetime_days);
    if (c->signature_algorithms.n) {
        printf("    %-21s", "signature_algorithms");
        for (size_t i = 0; i < c->signature_algorithms.n; i++)
            printf("%s%s", i ? ", " : "", c->signature_algorithms.v[i]);
        printf("\n");
    }
    if (c->required_eku.n) {
        printf("    %-20s", "required_eku");
        for (size_t i = 0; i < c->required_eku.n; i++)
            printf("%s%s", i ? ", " : "", c->required_eku.v[i]);
        printf("\n");
    }
    printf("    %-20s%s\n", "ocsp_stapling", c->ocsp_stapling ? "required" : "not required");
    static const char *const modes[] = {"none", "optional", "required"};
    const struct hilt_client_cert_rules *cc = &p->client_certificate;
    printf("  client_certificate:   %s\n", modes[cc->mode]);
    if (cc->ca_file) printf("    %-20s%s\n", "ca_file", cc->ca_file);
    for (size_t i = 0; i < cc->allowed_issuers.n; i++)
        printf("    %-20s%s\n", "allowed_issuer", cc->allowed_issuers.v[i]);
    for (size_t i = 0; i < cc->subjects.n; i++)
        printf("    %-20s%s\n", "subject", cc->subjects.v[i]);
}

static int load_opt(const char *cmd, const char *path, struct hilt_policy **pol)
{
    struct hilt_err e = {0};
    *pol = NULL;
    if (!path) return 0;
    if (hilt_policy_load_file(path, pol, &e) < 0) return cli_fail(cmd, &e);
    return 0;
}

static void print_summary(const struct hilt_policy *p)
{
    printf("%zu profile%s", p->nprofiles, p->nprofiles == 1 ? "" : "s");
    for (size_t i = 0; i < p->nprofiles; i++)
        printf("%s %s", i ? "," : ":", p->profiles[i].name);
    printf("\n%zu environment%s", p->nenvironments, p->nenvironments == 1 ? "" : "s");
    for (size_t i = 0; i < p->nenvironments; i++) {
        const struct hilt_environment *env = &p->environments[i];
        printf("%s %s -> %s", i ? "," : ":", env->name, env->profile);
        if (env->endpoints.n)
            printf(" (%zu endpoint pattern%s)", env->endpoints.n, env->endpoints.n == 1 ? "" : "s");
    }
    printf("\n");
}

static int sub_check(int argc, char **argv)
{
    static const char *usage =
        "usage: hilt policy check FILE\n\n"
        "Validate a policy file: YAML syntax, known keys and types, known\n"
        "versions, ciphers, groups and signature algorithms, extends: targets\n"
        "and cycles. Prints the profiles and environments it defines.\n"
        "Exit 0 when valid, 2 with file:line:column and the field when not.\n";
    struct opts o;
    int rc = parse_opts("policy check", usage, argc, argv, &o, 0, 0, 0, 1);
    if (rc) return rc < 0 ? 0 : rc;
    if (o.policy || !o.npos) return cli_usage("policy check", "expected one FILE");
    struct hilt_policy *pol = NULL;
    if ((rc = load_opt("policy check", o.pos[0], &pol))) return rc;
    printf("%s: valid\n", o.pos[0]);
    print_summary(pol);
    hilt_policy_free(&pol);
    return 0;
}

static int sub_show(int argc, char **argv)
{
    static const char *usage = "usage: hilt policy show NAME [--policy FILE] [--json]\n\n"
                               "Print a profile with extends: resolved. NAME is looked up in FILE\n"
                               "first, then among the built-in profiles.\n";
    struct opts o;
    int rc = parse_opts("policy show", usage, argc, argv, &o, 0, 0, 1, 1);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.npos) return cli_usage("policy show", "expected a profile NAME");
    struct hilt_policy *pol = NULL;
    if ((rc = load_opt("policy show", o.policy, &pol))) return rc;
    struct hilt_err e = {0};
    const struct hilt_profile *p = hilt_profile_find(pol, o.pos[0], &e);
    if (!p) {
        hilt_policy_free(&pol);
        return cli_fail("policy show", &e);
    }
    if (o.json) {
        json_t *j = hilt_profile_json(p);
        hilt_json_print(stdout, j, 1);
        json_decref(j);
    } else {
        print_profile(p);
    }
    hilt_policy_free(&pol);
    return 0;
}

static int sub_list(int argc, char **argv)
{
    static const char *usage = "usage: hilt policy list [--policy FILE] [--json]\n\n"
                               "List the built-in profiles and environments, or those of FILE.\n";
    struct opts o;
    int rc = parse_opts("policy list", usage, argc, argv, &o, 0, 0, 1, 0);
    if (rc) return rc < 0 ? 0 : rc;
    struct hilt_policy *pol = NULL;
    if ((rc = load_opt("policy list", o.policy, &pol))) return rc;
    struct hilt_err e = {0};
    const struct hilt_policy *p = pol ? pol : hilt_policy_builtin(&e);
    if (!p) return cli_fail("policy list", &e);
    if (o.json) {
        json_t *j = hilt_policy_json(p);
        hilt_json_print(stdout, j, 1);
        json_decref(j);
    } else {
        printf("%-14s %-14s %s\n", "PROFILE", "EXTENDS", "DESCRIPTION");
        for (size_t i = 0; i < p->nprofiles; i++)
            printf("%-14s %-14s %s\n", p->profiles[i].name,
                   p->profiles[i].extends ? p->profiles[i].extends : "-",
                   p->profiles[i].description ? p->profiles[i].description : "");
        if (p->nenvironments) printf("\n%-14s %-14s %s\n", "ENVIRONMENT", "PROFILE", "ENDPOINTS");
        for (size_t i = 0; i < p->nenvironments; i++) {
            const struct hilt_environment *env = &p->environments[i];
            printf("%-14s %-14s", env->name, env->profile);
            for (size_t j = 0; j < env->endpoints.n; j++)
                printf(" %s", env->endpoints.v[j]);
            printf("\n");
        }
    }
    hilt_policy_free(&pol);
    return 0;
}

static int sub_render(int argc, char **argv)
{
    static char usage[1024];
    size_t nt, l;
    const struct hilt_render_target *t = hilt_render_targets(&nt);
    l = (size_t)snprintf(usage, sizeof(usage),
                         "usage: hilt policy render --profile NAME --target T [--policy FILE]\n\n"
                         "Print the configuration that enforces a profile on a stack. What the\n"
                         "stack cannot express is stated in comments at the top.\n\ntargets:\n");
    for (size_t i = 0; i < nt && l < sizeof(usage); i++)
        l += (size_t)snprintf(usage + l, sizeof(usage) - l, "  %-9s %s\n", t[i].name, t[i].summary);
    struct opts o;
    int rc = parse_opts("policy render", usage, argc, argv, &o, 1, 1, 0, 0);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o.profile) return cli_usage("policy render", "--profile NAME is required");
    if (!o.target)
        return cli_usage(
            "policy render",
            "--target is required (nginx, haproxy, apache, envoy, openssl, java, stunnel)");
    struct hilt_policy *pol = NULL;
    if ((rc = load_opt("policy render", o.policy, &pol))) return rc;
    struct hilt_err e = {0};
    struct hilt_buf out;
    hilt_buf_init(&out, 1 << 20);
    const struct hilt_profile *p = hilt_profile_find(pol, o.profile, &e);
    if (!p || hilt_policy_render(p, o.target, &out, &e) < 0) {
        rc = cli_fail("policy render", &e);
    } else {
        fwrite(out.data, 1, out.len, stdout);
        rc = 0;
    }
    hilt_buf_free(&out);
    hilt_policy_free(&pol);
    return rc;
}

/* ---- impact: who a profile (or a running server) locks out ---------------- */

static const char *usage_impact =
    "usage: hilt policy impact --profile NAME [--policy FILE] [--clients FILE] [--json]\n"
    "       hilt policy impact --observed URL|FILE --profile NAME [--policy FILE] [--json]\n"
    "       hilt policy impact --live HOST:PORT [--servername NAME] [--ca-file FILE]\n"
    "                          [--clients FILE] [--only ID,...] [--timeout MS] [--json]\n\n"
    "Before deployment: which client profiles a policy profile would lock out, and why.\n"
    "Each client's offer (versions, cipher suites in its order, groups, signature\n"
    "schemes, key-size floors) meets the profile as an OpenSSL server would negotiate;\n"
    "the result is the version, cipher and group, or the catalogue code why not\n"
    "(protocol_version_mismatch, no_shared_cipher, no_shared_group, weak_key, weak_dh, ...).\n\n"
    "  --profile NAME     built-in profile, or one from --policy FILE\n"
    "  --clients FILE     client profiles to use instead of the built-in ones (docs/clients.md)\n"
    "  --observed SRC     the clients a running hilt gateway saw: its GET /observed URL\n"
    "                     (http://HOST:PORT/observed) or a file with the same JSON; the\n"
    "                     report is weighted by how many handshakes each client made\n"
    "  --live HOST:PORT   send each client's own ClientHello to a running server and judge\n"
    "                     its answer as that client would, certificate chain included\n"
    "                     (what hilt scan --clients does per target)\n"
    "  --servername NAME  SNI and host name to check with --live (default: HOST)\n"
    "  --ca-file FILE     trust anchors standing in for the clients' stores (default: system)\n"
    "  --only ID,...      only these client ids (see --json output for ids)\n"
    "  --timeout MS       per-connection timeout for --live and --observed (default 5000)\n"
    "  --json             machine output (docs/clients.md)\n\n"
    "Exit: 0 nobody is locked out; 1 somebody is; 2 bad usage or bad input.\n";

struct impact_opts {
    const char *policy, *profile, *clients, *observed, *live, *servername, *ca_file, *only;
    long timeout_ms;
    int json;
};

static int only_match(const char *only, const char *id)
{
    if (!only) return 1;
    size_t n = strlen(id);
    for (const char *p = only; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == n && !strncmp(p, id, n)) return 1;
        p += l + (c ? 1 : 0);
    }
    return 0;
}

static const struct hilt_clients *impact_clients(const struct impact_opts *o,
                                                 struct hilt_clients **own, int *rc)
{
    struct hilt_err e = {0};
    *own = NULL;
    if (o->clients) {
        if (hilt_clients_load_file(o->clients, own, &e) < 0) {
            hilt_err_prefix(&e, "--clients");
            *rc = cli_fail("policy impact", &e);
            return NULL;
        }
        return *own;
    }
    const struct hilt_clients *b = hilt_clients_builtin(&e);
    if (!b) *rc = cli_fail("policy impact", &e);
    return b;
}

static void impact_line(const char *who, const struct hilt_impact *r, const char *extra)
{
    if (r->connects) {
        const struct hilt_cipher *c = hilt_cipher_by_code(r->cipher);
        const struct hilt_group *g = r->group ? hilt_group_by_code(r->group) : NULL;
        printf("  ok    %-34s %s %s%s%s%s\n", who,
               hilt_tls_version_name((enum hilt_tls_version)r->version),
               c ? hilt_cipher_name(c) : "?", g ? " " : "", g ? g->iana : "", extra ? extra : "");
    } else {
        printf("  FAIL  %-34s %s: %s%s\n", who, hilt_code_name(r->code), r->reason,
               extra ? extra : "");
    }
}

static int impact_profile(const struct impact_opts *o, const struct hilt_profile *p)
{
    int rc = 0;
    struct hilt_clients *own = NULL;
    const struct hilt_clients *cs = impact_clients(o, &own, &rc);
    if (!cs) return rc;
    size_t n = 0, out = 0;
    json_t *res = json_array();
    for (size_t i = 0; i < cs->n; i++) {
        const struct hilt_client *c = &cs->v[i];
        if (!only_match(o->only, c->id)) continue;
        struct hilt_offer off;
        struct hilt_impact r;
        hilt_offer_from_client(c, &off);
        hilt_impact_eval(&off, p, &r);
        n++;
        out += !r.connects;
        char label[200];
        hilt_client_label(c, label, sizeof(label));
        if (o->json) {
            json_t *j = hilt_impact_json(&r);
            json_object_set_new(j, "client", json_string(c->id));
            json_object_set_new(j, "name", hilt_json_str(label));
            json_object_set_new(j, "current", json_boolean(c->current));
            json_array_append_new(res, j);
        } else {
            if (i == 0 || n == 1)
                printf("profile %s against %zu client profile%s%s\n\n", p->name, cs->n,
                       cs->n == 1 ? "" : "s", o->only ? " (--only)" : "");
            char who[240];
            snprintf(who, sizeof(who), "%s", label);
            impact_line(who, &r, NULL);
        }
    }
    if (o->json) {
        json_t *top = json_object();
        json_object_set_new(top, "profile", json_string(p->name));
        json_object_set_new(top, "clients", json_integer((json_int_t)n));
        json_object_set_new(top, "connect", json_integer((json_int_t)(n - out)));
        json_object_set_new(top, "locked_out", json_integer((json_int_t)out));
        json_object_set_new(top, "results", res);
        hilt_json_print(stdout, top, 1);
        json_decref(top);
    } else {
        json_decref(res);
        printf("\n%zu of %zu client profiles locked out by profile %s\n", out, n, p->name);
    }
    hilt_clients_free(&own);
    return out ? 1 : 0;
}

static int impact_observed(const struct impact_opts *o, const struct hilt_profile *p)
{
    struct hilt_err e = {0};
    struct hilt_observed *ob = NULL;
    if (hilt_observed_load(o->observed, (int)o->timeout_ms, &ob, &e) < 0) {
        hilt_err_prefix(&e, "--observed");
        return cli_fail("policy impact", &e);
    }
    unsigned long long total = 0, failing = 0;
    size_t nout = 0;
    json_t *res = json_array();
    if (!o->json)
        printf("profile %s against %zu observed client%s (%s)\n\n", p->name, ob->n,
               ob->n == 1 ? "" : "s", ob->source);
    for (size_t i = 0; i < ob->n; i++) {
        const struct hilt_observed_client *c = &ob->v[i];
        struct hilt_offer off;
        struct hilt_impact r;
        hilt_offer_from_observed(c, &off);
        hilt_impact_eval(&off, p, &r);
        total += c->count;
        if (!r.connects) {
            failing += c->count;
            nout++;
        }
        if (o->json) {
            json_t *j = hilt_impact_json(&r);
            json_t *row = json_object();
            json_object_set_new(row, "ja4", hilt_json_str(c->ja4));
            json_object_set_new(row, "count", json_integer((json_int_t)c->count));
            json_object_set_new(row, "sni", c->sni ? hilt_json_str(c->sni) : json_null());
            json_object_set_new(row, "first_seen", hilt_json_time(c->first_seen));
            json_object_set_new(row, "last_seen", hilt_json_time(c->last_seen));
            json_object_update(row, j);
            json_decref(j);
            json_t *unk = json_array();
            for (size_t k = 0; k < c->unknown.n; k++)
                json_array_append_new(unk, hilt_json_str(c->unknown.v[k]));
            json_object_set_new(row, "unknown", unk);
            json_array_append_new(res, row);
        } else {
            char who[200], extra[64];
            snprintf(who, sizeof(who), "%s", c->ja4);
            snprintf(extra, sizeof(extra), "  [%llu handshake%s]", c->count,
                     c->count == 1 ? "" : "s");
            impact_line(who, &r, extra);
        }
    }
    if (o->json) {
        json_t *top = json_object();
        json_object_set_new(top, "profile", json_string(p->name));
        json_object_set_new(top, "source", hilt_json_str(ob->source));
        json_object_set_new(top, "clients", json_integer((json_int_t)ob->n));
        json_object_set_new(top, "locked_out", json_integer((json_int_t)nout));
        json_object_set_new(top, "handshakes", json_integer((json_int_t)total));
        json_object_set_new(top, "failing_handshakes", json_integer((json_int_t)failing));
        json_object_set_new(top, "results", res);
        hilt_json_print(stdout, top, 1);
        json_decref(top);
    } else {
        json_decref(res);
        printf("\n%zu of %zu observed clients locked out by profile %s: %llu of %llu handshakes "
               "(%.1f%%) would fail\n",
               nout, ob->n, p->name, failing, total,
               total ? 100.0 * (double)failing / (double)total : 0.0);
    }
    hilt_observed_free(&ob);
    return nout ? 1 : 0;
}

static int impact_live(const struct impact_opts *o)
{
    struct hilt_err e = {0};
    struct hilt_hostport hp;
    if (hilt_hostport_parse(o->live, 443, &hp, &e) < 0) {
        hilt_err_prefix(&e, "--live");
        return cli_fail("policy impact", &e);
    }
    int rc = 0;
    struct hilt_clients *own = NULL;
    const struct hilt_clients *cs = impact_clients(o, &own, &rc);
    if (!cs) return rc;
    X509_STORE *store = hilt_store_new(o->ca_file, &e);
    if (!store) {
        if (o->ca_file) hilt_err_prefix(&e, "--ca-file");
        hilt_clients_free(&own);
        return cli_fail("policy impact", &e);
    }
    const char *name = o->servername ? o->servername : hp.host;
    struct hilt_sim_target t = {
        .host = name, .store = store, .private_anchors = o->ca_file != NULL};
    /* What a scanner does once per target: the chain over a full handshake (for
     * TLS 1.3 answers), and the issuers its AIA URLs point at (for clients that fetch). */
    struct hilt_err ce = {0};
    t.chain = hilt_sim_fetch_chain(hp.host, hp.port, name, (int)o->timeout_ms, &ce);
    if (t.chain) {
        t.aia = hilt_sim_fetch_aia(t.chain, store, (int)o->timeout_ms);
        t.aia_fetched = 1;
    }
    size_t n = 0, out = 0;
    json_t *res = json_array();
    char target[300];
    hilt_hostport_fmt(&hp, target, sizeof(target));
    if (!o->json)
        printf("%s: each client's own hello%s\n\n", target,
               t.chain ? "" : " (no certificate chain fetched)");
    for (size_t i = 0; i < cs->n; i++) {
        const struct hilt_client *c = &cs->v[i];
        if (!only_match(o->only, c->id)) continue;
        struct hilt_sim_result r;
        if (hilt_sim_run(c, &t, hp.host, hp.port, (int)o->timeout_ms, &r, &e) < 0) {
            rc = cli_fail("policy impact", &e);
            goto done;
        }
        n++;
        out += !r.connects;
        if (o->json) {
            json_array_append_new(res, hilt_sim_result_json(&r));
        } else if (r.connects) {
            const struct hilt_cipher *ci = hilt_cipher_by_code(r.cipher);
            const struct hilt_group *g = r.group ? hilt_group_by_code(r.group) : NULL;
            enum hilt_tls_version v = HILT_TLS12;
            hilt_tls_version_from_wire(r.version, &v);
            printf("  ok    %-34s %s %s%s%s\n", r.label, hilt_tls_version_name(v),
                   ci ? hilt_cipher_name(ci) : "?", g ? " " : "", g ? g->iana : "");
        } else {
            printf("  FAIL  %-34s %s: %s\n", r.label, hilt_code_name(r.code), r.reason);
        }
    }
    if (o->json) {
        json_t *top = json_object();
        json_object_set_new(top, "target", json_string(target));
        json_object_set_new(top, "servername", hilt_json_str(name));
        json_object_set_new(top, "chain_fetched", json_boolean(t.chain != NULL));
        json_object_set_new(top, "clients", json_integer((json_int_t)n));
        json_object_set_new(top, "locked_out", json_integer((json_int_t)out));
        json_object_set_new(top, "results", res);
        res = NULL;
        hilt_json_print(stdout, top, 1);
        json_decref(top);
    } else {
        printf("\n%zu of %zu clients cannot connect to %s\n", out, n, target);
    }
    rc = out ? 1 : 0;
done:
    json_decref(res);
    sk_X509_pop_free(t.chain, X509_free);
    sk_X509_pop_free(t.aia, X509_free);
    X509_STORE_free(store);
    hilt_clients_free(&own);
    return rc;
}

static int sub_impact(int argc, char **argv)
{
    static const struct option lo[] = {
        {"policy", required_argument, NULL, 'p'},  {"profile", required_argument, NULL, 'P'},
        {"clients", required_argument, NULL, 'c'}, {"observed", required_argument, NULL, 'o'},
        {"live", required_argument, NULL, 'l'},    {"servername", required_argument, NULL, 's'},
        {"ca-file", required_argument, NULL, 'a'}, {"only", required_argument, NULL, 'O'},
        {"timeout", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *cmd = "policy impact";
    struct impact_opts o = {.timeout_ms = 5000};
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case 'p':
            o.policy = optarg;
            break;
        case 'P':
            o.profile = optarg;
            break;
        case 'c':
            o.clients = optarg;
            break;
        case 'o':
            o.observed = optarg;
            break;
        case 'l':
            o.live = optarg;
            break;
        case 's':
            o.servername = optarg;
            break;
        case 'a':
            o.ca_file = optarg;
            break;
        case 'O':
            o.only = optarg;
            break;
        case 't':
            if (cli_int(cmd, "--timeout", optarg, 1, 600000, &o.timeout_ms) < 0) return 2;
            break;
        case 'j':
            o.json = 1;
            break;
        case 'h':
            fputs(usage_impact, stdout);
            return 0;
        default:
            return cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (o.live) {
        if (o.profile || o.observed || o.policy)
            return cli_usage(
                cmd,
                "--live judges a running server; it takes no --profile, --policy or --observed");
        return impact_live(&o);
    }
    if (o.servername || o.ca_file)
        return cli_usage(cmd, "--servername and --ca-file go with --live");
    if (!o.profile) return cli_usage(cmd, "--profile NAME is required (or --live HOST:PORT)");
    if (o.observed && (o.clients || o.only))
        return cli_usage(cmd, "--observed takes no --clients or --only");
    int rc;
    struct hilt_policy *pol = NULL;
    if ((rc = load_opt(cmd, o.policy, &pol))) return rc;
    struct hilt_err e = {0};
    const struct hilt_profile *p = hilt_profile_find(pol, o.profile, &e);
    if (!p) {
        hilt_policy_free(&pol);
        return cli_fail(cmd, &e);
    }
    rc = o.observed ? impact_observed(&o, p) : impact_profile(&o, p);
    hilt_policy_free(&pol);
    return rc;
}

static int cmd_policy(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } subs[] = {{"check", sub_check},
                {"show", sub_show},
                {"list", sub_list},
                {"render", sub_render},
                {"impact", sub_impact}};
    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage_main, stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (!strcmp(argv[1], subs[i].name)) return subs[i].fn(argc - 1, argv + 1);
    return cli_usage("policy",
                     "unknown subcommand '%s' (expected check, show, list, render or impact)",
                     argv[1]);
}

HILT_COMMAND(policy, cmd_policy,
             "policies as code: check, show, list, render for nginx/HAProxy/...", 30);
