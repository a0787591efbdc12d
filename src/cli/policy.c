/* policy.c - `hilt policy check|show|list|render`: arguments in, output out.
 * The model, loader and renderers live in src/policy/. */
#include "cli/cli.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/json.h"
#include "policy/policy.h"

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
    "                                      on nginx|haproxy|apache|envoy|openssl|java|stunnel\n\n"
    "Built-in profiles: modern, intermediate (Mozilla 6.0), old (Mozilla 5.8), public-web,\n"
    "internal-api, partner, iot. The format is described in docs/policy.md.\n"
    "Exit: 0 ok, 2 bad usage or an invalid policy (the message names file:line:column).\n";

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

static int cmd_policy(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } subs[] = {
        {"check", sub_check}, {"show", sub_show}, {"list", sub_list}, {"render", sub_render}};
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
    return cli_usage("policy", "unknown subcommand '%s' (expected check, show, list or render)",
                     argv[1]);
}

HILT_COMMAND(policy, cmd_policy,
             "policies as code: check, show, list, render for nginx/HAProxy/...", 30);
