/* plan.c - `hilt plan DIR`, `hilt apply DIR`, `hilt rollback NAME --to REV`:
 * certificate-as-code (docs/clm.md). Arguments in, output out; the work is
 * src/clm/. */
#include "cli/cli.h"

#include "clm/clm.h"
#include "clm/manifest.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "policy/policy.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char plan_usage[] =
    "usage: hilt plan DIR|FILE [--json] [--policy FILE] [--store URL]\n"
    "       hilt apply DIR|FILE [--json] [--policy FILE] [--store URL]\n"
    "       hilt rollback NAME --to REV [--json] [--store URL]\n"
    "\n"
    "Certificates as code. DIR holds one `kind: Certificate` manifest per *.yaml file\n"
    "(docs/clm.md). plan shows what apply would do for each: create, reissue (names,\n"
    "duration, key or issuer changed), renew (past its renewal point, expired or\n"
    "revoked), redeploy (targets changed), repair (files on disk differ), update\n"
    "(metadata only) or unchanged. apply does it: issues, writes every revision into\n"
    "its own directory and switches all target files at once, runs the reload command.\n"
    "A second apply with nothing changed does nothing. rollback deploys an earlier,\n"
    "still valid revision again.\n"
    "\n"
    "  --policy FILE   policy profiles for manifests that name one (default: built-ins)\n"
    "  --json          machine output (fields in docs/clm.md)\n"
    "  --store URL     postgres://… or a SQLite path (default $HILT_HOME/hilt.db)\n"
    "\n"
    "Exit: 0 done, 1 a manifest failed to deploy or reload, 2 bad input (nothing\n"
    "written), 3 internal fault.\n";

enum { O_STORE = 1000, O_JSON, O_POLICY, O_TO, O_HELP };

static json_t *result_json(const struct hilt_clm_result *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", hilt_json_str(r->name));
    json_object_set_new(o, "file", hilt_json_str(r->file));
    json_object_set_new(o, "action", json_string(hilt_clm_action_name(r->action)));
    json_object_set_new(o, "reason", r->reason[0] ? hilt_json_str(r->reason) : json_null());
    json_object_set_new(o, "current_rev",
                        r->current_rev ? json_integer(r->current_rev) : json_null());
    json_object_set_new(o, "rev", r->rev ? json_integer(r->rev) : json_null());
    json_object_set_new(o, "serial", r->serial[0] ? json_string(r->serial) : json_null());
    json_object_set_new(o, "sha256", r->sha256[0] ? json_string(r->sha256) : json_null());
    json_object_set_new(o, "not_after", hilt_json_time(r->not_after));
    json_object_set_new(o, "renew_at", hilt_json_time(r->renew_at));
    json_object_set_new(o, "reloaded", r->reloaded < 0 ? json_null() : json_boolean(r->reloaded));
    json_object_set_new(o, "ok", json_boolean(!r->failed));
    json_object_set_new(o, "error", r->error[0] ? hilt_json_str(r->error) : json_null());
    if (r->attempts) {
        json_t *rn = json_object();
        json_object_set_new(rn, "attempts", json_integer(r->attempts));
        json_object_set_new(rn, "next_attempt_at", hilt_json_time(r->next_attempt_at));
        json_object_set_new(rn, "last_error", hilt_json_str(r->last_error));
        json_object_set_new(o, "renewal", rn);
    } else {
        json_object_set_new(o, "renewal", json_null());
    }
    return o;
}

static void result_text(const struct hilt_clm_result *r, int applied)
{
    char until[32] = "-", when[32] = "-";
    if (r->not_after) hilt_time_fmt_rfc3339(r->not_after, until);
    if (r->renew_at) hilt_time_fmt_rfc3339(r->renew_at, when);
    const char *act = hilt_clm_action_name(r->action);
    if (r->action == HILT_CLM_UNCHANGED || r->action == HILT_CLM_UNMANAGED)
        printf("%-20s %-10s rev %lld, serial %s, until %s, renews %s\n", r->name, act,
               (long long)r->rev, r->serial[0] ? r->serial : "-", until, when);
    else if (!applied)
        printf("%-20s %-10s %s\n", r->name, act, r->reason);
    else if (r->rev != r->current_rev)
        printf("%-20s %-10s rev %lld -> %lld, serial %s, until %s (%s)%s\n", r->name, act,
               (long long)r->current_rev, (long long)r->rev, r->serial, until, r->reason,
               r->reloaded == 1 ? ", reloaded" : "");
    else
        printf("%-20s %-10s rev %lld (%s)%s\n", r->name, act, (long long)r->rev, r->reason,
               r->reloaded == 1 ? ", reloaded" : "");
    if (r->failed)
        printf("%-20s   error: %s\n", "", r->error);
    else if (r->attempts)
        printf("%-20s   renewal failing: attempt %lld, last error: %s\n", "",
               (long long)r->attempts, r->last_error);
}

struct common {
    const char *store, *policy_file;
    int json;
    long to;
};

static int parse(const char *cmd, int argc, char **argv, struct common *c, int want_to)
{
    static const struct option opts[] = {{"store", 1, 0, O_STORE},   {"json", 0, 0, O_JSON},
                                         {"policy", 1, 0, O_POLICY}, {"to", 1, 0, O_TO},
                                         {"help", 0, 0, O_HELP},     {0, 0, 0, 0}};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_STORE:
            c->store = optarg;
            break;
        case O_JSON:
            c->json = 1;
            break;
        case O_POLICY:
            if (want_to) return cli_usage(cmd, "--policy does not apply to rollback");
            c->policy_file = optarg;
            break;
        case O_TO:
            if (!want_to) return cli_usage(cmd, "--to belongs to rollback");
            if (cli_int(cmd, "--to", optarg, 0, 1000000000, &c->to) < 0) return 2;
            break;
        case O_HELP:
            fputs(plan_usage, stdout);
            return -1;
        default:
            return cli_usage(cmd, "unknown option, or option without its value: '%s'",
                             argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return cli_usage(cmd, want_to ? "give exactly one manifest NAME"
                                      : "give exactly one DIR or FILE");
    return 0;
}

static int run(const char *cmd, int argc, char **argv, int dry_run)
{
    struct common c = {0};
    int p = parse(cmd, argc, argv, &c, 0);
    if (p) return p < 0 ? 0 : p;
    struct hilt_err e = {0};
    struct hilt_manifest_set ms;
    struct hilt_policy *pol = NULL;
    if (hilt_manifest_load_path(argv[optind], &ms, &e) < 0) return cli_fail(cmd, &e);
    if (c.policy_file && hilt_policy_load_file(c.policy_file, &pol, &e) < 0) {
        hilt_manifest_set_free(&ms);
        return cli_fail(cmd, &e);
    }
    char home[4096];
    struct hilt_store *st = NULL;
    int rc = 0;
    if (hilt_home(home, sizeof(home), &e) < 0 || !(st = hilt_store_open(c.store, &e))) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    struct hilt_clm_opts o = {.st = st, .home = home, .policy = pol, .dry_run = dry_run};
    struct hilt_clm_result *res = NULL;
    size_t n = 0;
    int r = hilt_clm_apply(&o, &ms, &res, &n, &e);
    if (r < 0) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    if (c.json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, result_json(&res[i]));
        hilt_json_print(stdout, a, 1);
        json_decref(a);
    } else {
        size_t changes = 0;
        for (size_t i = 0; i < n; i++) {
            result_text(&res[i], !dry_run);
            changes += res[i].action != HILT_CLM_UNCHANGED && res[i].action != HILT_CLM_UNMANAGED;
        }
        if (dry_run)
            printf("%zu manifest(s), %zu to change; run 'hilt apply %s' to do it\n", ms.n, changes,
                   argv[optind]);
        else if (changes == 0)
            printf("%zu manifest(s), nothing to do\n", ms.n);
    }
    free(res);
    rc = r;
out:
    hilt_store_close(st);
    hilt_policy_free(&pol);
    hilt_manifest_set_free(&ms);
    return rc;
}

static int cmd_plan(int argc, char **argv)
{
    return run("plan", argc, argv, 1);
}

static int cmd_apply(int argc, char **argv)
{
    return run("apply", argc, argv, 0);
}

static int cmd_rollback(int argc, char **argv)
{
    const char *cmd = "rollback";
    struct common c = {.to = -1};
    int p = parse(cmd, argc, argv, &c, 1);
    if (p) return p < 0 ? 0 : p;
    if (c.to < 0)
        return cli_usage(cmd,
                         "--to REV is required (see 'hilt inventory show' or the apply output)");
    struct hilt_err e = {0};
    char home[4096];
    struct hilt_store *st = NULL;
    if (hilt_home(home, sizeof(home), &e) < 0 || !(st = hilt_store_open(c.store, &e)))
        return cli_fail(cmd, &e);
    struct hilt_clm_opts o = {.st = st, .home = home};
    struct hilt_clm_result r;
    int rc = hilt_clm_rollback(&o, argv[optind], c.to, &r, &e);
    if (rc < 0) {
        rc = cli_fail(cmd, &e);
    } else if (c.json) {
        json_t *j = result_json(&r);
        hilt_json_print(stdout, j, 1);
        json_decref(j);
    } else {
        result_text(&r, 1);
    }
    hilt_store_close(st);
    return rc;
}

HILT_COMMAND(plan, cmd_plan, "certificates as code: what apply would change", 44);
HILT_COMMAND(apply, cmd_apply, "certificates as code: issue, deploy, reload", 45);
HILT_COMMAND(rollback, cmd_rollback, "deploy an earlier revision of a manifest again", 46);
