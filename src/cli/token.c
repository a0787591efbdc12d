/* token.c - `hilt token` and `hilt grant`: bootstrapping who may call `hilt
 * serve`, by talking to the store directly (whoever can open the store is
 * the administrator of the trust plane). Tokens are shown once and kept
 * only as hashes (docs/serve.md "Authentication and roles"). */
#include "cli/cli.h"

#include "api/auth.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "store/store.h"
#include "store/store_api.h"

#include <ctype.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char token_usage[] =
    "usage: hilt token create --name NAME --role ROLE [--scope SCOPE] [--expires DUR]\n"
    "       hilt token list\n"
    "       hilt token revoke NAME\n"
    "       (each with [--store URL] [--json])\n"
    "\n"
    "Bearer tokens for `hilt serve` (Authorization: Bearer TOKEN). create prints the\n"
    "token once; the store keeps only the SHA-256 of its secret. The token's principal\n"
    "is token:NAME; --role and --scope give it its first grant (more with hilt grant).\n"
    "\n"
    "  --role ROLE     requester | approver | issuer | auditor | admin\n"
    "  --scope SCOPE   'env=ENV,names=PATTERN|PATTERN' (either part optional; default:\n"
    "                  everything). PATTERN: a name, *.domain (one label), .domain\n"
    "                  (any depth) or *\n"
    "  --expires DUR   the token stops working after DUR (30d, 12h); default never\n"
    "\n"
    "Exit: 0 done, 2 bad usage or input, 3 fault.\n";

static const char grant_usage[] =
    "usage: hilt grant add PRINCIPAL --role ROLE [--scope SCOPE]\n"
    "       hilt grant list [PRINCIPAL]\n"
    "       hilt grant remove ID\n"
    "       hilt grant disable PRINCIPAL | enable PRINCIPAL\n"
    "       (each with [--store URL] [--json])\n"
    "\n"
    "Roles for principals of `hilt serve`: token:NAME (bearer tokens) or cert:CN (TLS\n"
    "client certificates issued by the hilt CA; CN is the certificate's subject CN).\n"
    "A principal may hold several grants; each names one role and its scope. A\n"
    "disabled principal is refused (401) until enabled again.\n"
    "\n"
    "  --role ROLE     requester | approver | issuer | auditor | admin\n"
    "  --scope SCOPE   'env=ENV,names=PATTERN|PATTERN' (default: everything)\n"
    "\n"
    "Exit: 0 done, 1 nothing to change (unknown ID or principal), 2 bad usage, 3 fault.\n";

enum { O_NAME = 1000, O_ROLE, O_SCOPE, O_EXPIRES, O_STORE, O_JSON, O_HELP };

struct args {
    const char *name, *role, *scope, *expires, *store;
    int json;
    int nrest;
    char **rest;
};

static int parse(const char *cmd, const char *usage, int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {{"name", 1, 0, O_NAME},   {"role", 1, 0, O_ROLE},
                                         {"scope", 1, 0, O_SCOPE}, {"expires", 1, 0, O_EXPIRES},
                                         {"store", 1, 0, O_STORE}, {"json", 0, 0, O_JSON},
                                         {"help", 0, 0, O_HELP},   {0, 0, 0, 0}};
    memset(a, 0, sizeof(*a));
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_NAME:
            a->name = optarg;
            break;
        case O_ROLE:
            a->role = optarg;
            break;
        case O_SCOPE:
            a->scope = optarg;
            break;
        case O_EXPIRES:
            a->expires = optarg;
            break;
        case O_STORE:
            a->store = optarg;
            break;
        case O_JSON:
            a->json = 1;
            break;
        case O_HELP:
            fputs(usage, stdout);
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

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 63 || !isalnum((unsigned char)s[0])) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-@", s[i])) return 0;
    return 1;
}

static int principal_ok(const char *p)
{
    if (!strncmp(p, "token:", 6)) return name_ok(p + 6);
    if (strncmp(p, "cert:", 5) || !p[5] || strlen(p) >= HILT_PRINCIPAL_MAX) return 0;
    for (const char *c = p + 5; *c; c++)
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e) return 0;
    return 1;
}

/* ---- token ------------------------------------------------------------------------------ */

static int tok_list_cb(const struct hilt_api_token_rec *t, void *arg)
{
    int json = *(int *)arg;
    int64_t now = hilt_now();
    const char *state = t->revoked_at                           ? "revoked"
                        : t->expires_at && now >= t->expires_at ? "expired"
                        : t->principal_disabled_at              ? "disabled"
                                                                : "active";
    if (json) {
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s}", "name", t->name, "id", t->id,
                      "principal", t->principal, "state", state, "created",
                      hilt_json_time(t->created), "expires", hilt_json_time(t->expires_at),
                      "revoked", hilt_json_time(t->revoked_at), "created_by", t->created_by);
        hilt_json_print(stdout, o, 0);
        json_decref(o);
    } else {
        char exp[32] = "never";
        if (t->expires_at) hilt_time_fmt_rfc3339(t->expires_at, exp);
        printf("%-24s %-9s %-16s expires %s\n", t->name, state, t->id, exp);
    }
    return 0;
}

static int cmd_token(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        if (argc >= 2) {
            fputs(token_usage, stdout);
            return 0;
        }
        return cli_usage("token", "give a command: create, list, revoke");
    }
    const char *sub = argv[1];
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "token %s", sub);
    struct args a;
    int p = parse(cmd, token_usage, argc - 1, argv + 1, &a);
    if (p) return p > 0 ? 0 : 2;
    struct hilt_err e = {0};
    struct hilt_store *st = NULL;
    int rc = 0;
    if (!strcmp(sub, "create")) {
        if (a.nrest) return cli_usage(cmd, "unexpected argument '%s'", a.rest[0]);
        if (!a.name || !name_ok(a.name))
            return cli_usage(cmd, "--name NAME is required: 1-63 of [A-Za-z0-9._-@]");
        if (!a.role || hilt_role_parse(a.role) < 0)
            return cli_usage(cmd, "--role is one of requester, approver, issuer, auditor, admin");
        char env[64], names[1024];
        if (hilt_grant_scope_parse(a.scope, env, names, &e) < 0) return cli_fail(cmd, &e);
        int64_t exp = 0;
        if (a.expires && (hilt_duration_parse(a.expires, &exp) < 0 || exp <= 0))
            return cli_usage(cmd, "--expires '%s' is not a duration (30d, 12h)", a.expires);
        if (hilt_clock_init_env(&e) < 0) return cli_fail(cmd, &e);
        char tok[HILT_TOKEN_LEN + 1], id[HILT_TOKEN_ID_HEX + 1], hash[65], principal[80];
        snprintf(principal, sizeof(principal), "token:%s", a.name);
        if (hilt_token_new(tok, id, hash, &e) < 0 || !(st = hilt_store_open(a.store, &e))) {
            rc = cli_fail(cmd, &e);
            goto out;
        }
        int64_t now = hilt_now();
        char obj[300], res[200];
        snprintf(obj, sizeof(obj), "token=%s id=%s", a.name, id);
        snprintf(res, sizeof(res), "ok role=%s env=%s names=%.100s%s", a.role, env[0] ? env : "*",
                 names[0] ? names : "*", exp ? " expires" : "");
        struct hilt_audit_ev ev = {NULL, "token.create", obj, res};
        struct hilt_api_token_rec t = {.id = id,
                                       .name = a.name,
                                       .principal = principal,
                                       .hash = hash,
                                       .created = now,
                                       .expires_at = exp ? now + exp : 0,
                                       .created_by = hilt_audit_actor()};
        if (hilt_store_token_add(st, &t, a.role, env, names, &ev, &e) < 0) {
            rc = cli_fail(cmd, &e);
            goto out;
        }
        if (a.json) {
            json_t *o =
                json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", a.name, "principal", principal,
                          "role", a.role, "token", tok, "expires", hilt_json_time(t.expires_at));
            hilt_json_print(stdout, o, 0);
            json_decref(o);
        } else {
            printf("%s\n", tok);
            fprintf(stderr,
                    "hilt token: %s (%s) created; this is the only time the token is shown\n",
                    principal, a.role);
        }
        OPENSSL_cleanse(tok, sizeof(tok));
    } else if (!strcmp(sub, "list")) {
        if (a.nrest) return cli_usage(cmd, "unexpected argument '%s'", a.rest[0]);
        if (!(st = hilt_store_open(a.store, &e)) ||
            hilt_store_token_list(st, tok_list_cb, &a.json, &e) < 0)
            rc = cli_fail(cmd, &e);
    } else if (!strcmp(sub, "revoke")) {
        if (a.nrest != 1) return cli_usage(cmd, "give the token's NAME");
        if (hilt_clock_init_env(&e) < 0) return cli_fail(cmd, &e);
        char obj[200];
        snprintf(obj, sizeof(obj), "token=%.100s", a.rest[0]);
        struct hilt_audit_ev ev = {NULL, "token.revoke", obj, "ok"};
        int r;
        if (!(st = hilt_store_open(a.store, &e)) ||
            (r = hilt_store_token_revoke(st, a.rest[0], hilt_now(), &ev, &e)) < 0) {
            rc = cli_fail(cmd, &e);
            goto out;
        }
        if (!r) {
            fprintf(stderr, "hilt token revoke: no active token named '%s'\n", a.rest[0]);
            rc = 1;
        } else if (!a.json) {
            printf("revoked token %s\n", a.rest[0]);
        } else {
            printf("{\"name\":\"%s\",\"revoked\":true}\n", a.rest[0]);
        }
    } else {
        return cli_usage("token", "'%s' is not a token command (create, list, revoke)", sub);
    }
out:
    hilt_store_close(st);
    return rc;
}
HILT_COMMAND(token, cmd_token, "bearer tokens for hilt serve: token create|list|revoke", 46);

/* ---- grant ------------------------------------------------------------------------------ */

static int grant_list_cb(const struct hilt_api_grant_rec *g, void *arg)
{
    int json = *(int *)arg;
    if (json) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:s}", "id", (json_int_t)g->id,
                              "principal", g->principal, "role", g->role, "environment",
                              g->env[0] ? g->env : "*", "names", g->names[0] ? g->names : "*",
                              "created", hilt_json_time(g->created), "created_by", g->created_by);
        hilt_json_print(stdout, o, 0);
        json_decref(o);
    } else {
        printf("%-6lld %-32s %-10s env=%s names=%s\n", (long long)g->id, g->principal, g->role,
               g->env[0] ? g->env : "*", g->names[0] ? g->names : "*");
    }
    return 0;
}

static int cmd_grant(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        if (argc >= 2) {
            fputs(grant_usage, stdout);
            return 0;
        }
        return cli_usage("grant", "give a command: add, list, remove, disable, enable");
    }
    const char *sub = argv[1];
    char cmd[32];
    snprintf(cmd, sizeof(cmd), "grant %s", sub);
    struct args a;
    int p = parse(cmd, grant_usage, argc - 1, argv + 1, &a);
    if (p) return p > 0 ? 0 : 2;
    struct hilt_err e = {0};
    struct hilt_store *st = NULL;
    int rc = 0;
    if (hilt_clock_init_env(&e) < 0) return cli_fail(cmd, &e);
    if (!strcmp(sub, "add")) {
        if (a.nrest != 1 || !principal_ok(a.rest[0]))
            return cli_usage(cmd, "give one PRINCIPAL: token:NAME or cert:CN");
        if (!a.role || hilt_role_parse(a.role) < 0)
            return cli_usage(cmd, "--role is one of requester, approver, issuer, auditor, admin");
        char env[64], names[1024];
        if (hilt_grant_scope_parse(a.scope, env, names, &e) < 0) return cli_fail(cmd, &e);
        char obj[300], res[1200];
        snprintf(obj, sizeof(obj), "principal=%s", a.rest[0]);
        snprintf(res, sizeof(res), "ok role=%s env=%s names=%s", a.role, env[0] ? env : "*",
                 names[0] ? names : "*");
        struct hilt_audit_ev ev = {NULL, "grant.add", obj, res};
        struct hilt_api_grant_rec g = {.principal = a.rest[0],
                                       .role = a.role,
                                       .env = env,
                                       .names = names,
                                       .created_by = hilt_audit_actor()};
        int64_t id = 0;
        if (!(st = hilt_store_open(a.store, &e)) ||
            hilt_store_grant_add(st, &g, &id, &ev, &e) < 0) {
            rc = cli_fail(cmd, &e);
            goto out;
        }
        if (a.json)
            printf("{\"id\":%lld,\"principal\":\"%s\",\"role\":\"%s\"}\n", (long long)id, a.rest[0],
                   a.role);
        else
            printf("grant %lld: %s %s env=%s names=%s\n", (long long)id, a.rest[0], a.role,
                   env[0] ? env : "*", names[0] ? names : "*");
    } else if (!strcmp(sub, "list")) {
        if (a.nrest > 1) return cli_usage(cmd, "at most one PRINCIPAL");
        if (!(st = hilt_store_open(a.store, &e)) ||
            hilt_store_grant_list(st, a.nrest ? a.rest[0] : NULL, grant_list_cb, &a.json, &e) < 0)
            rc = cli_fail(cmd, &e);
    } else if (!strcmp(sub, "remove")) {
        char *end = NULL;
        long long id = a.nrest == 1 ? strtoll(a.rest[0], &end, 10) : 0;
        if (a.nrest != 1 || *end || id <= 0)
            return cli_usage(cmd, "give the grant's ID (hilt grant list)");
        char obj[100];
        snprintf(obj, sizeof(obj), "grant=%lld", id);
        struct hilt_audit_ev ev = {NULL, "grant.remove", obj, "ok"};
        int r;
        if (!(st = hilt_store_open(a.store, &e)) ||
            (r = hilt_store_grant_remove(st, id, &ev, &e)) < 0) {
            rc = cli_fail(cmd, &e);
            goto out;
        }
        if (!r) {
            fprintf(stderr, "hilt grant remove: no grant %lld\n", id);
            rc = 1;
        } else {
            printf("removed grant %lld\n", id);
        }
    } else if (!strcmp(sub, "disable") || !strcmp(sub, "enable")) {
        if (a.nrest != 1 || !principal_ok(a.rest[0]))
            return cli_usage(cmd, "give one PRINCIPAL: token:NAME or cert:CN");
        int dis = !strcmp(sub, "disable");
        char obj[300];
        snprintf(obj, sizeof(obj), "principal=%s", a.rest[0]);
        struct hilt_audit_ev ev = {NULL, dis ? "principal.disable" : "principal.enable", obj, "ok"};
        int r;
        if (!(st = hilt_store_open(a.store, &e)) ||
            (r = hilt_store_principal_disable(st, a.rest[0], dis ? hilt_now() : 0, &ev, &e)) < 0) {
            rc = cli_fail(cmd, &e);
            goto out;
        }
        if (!r) {
            fprintf(stderr, "hilt grant %s: no principal %s\n", sub, a.rest[0]);
            rc = 1;
        } else {
            printf("%s %s\n", dis ? "disabled" : "enabled", a.rest[0]);
        }
    } else {
        return cli_usage("grant",
                         "'%s' is not a grant command (add, list, remove, disable, enable)", sub);
    }
out:
    hilt_store_close(st);
    return rc;
}
HILT_COMMAND(grant, cmd_grant, "roles of hilt serve's principals: grant add|list|remove|disable",
             47);
