/* renew.c - `hilt renew --due | NAME…`: renew manifest certificates past
 * their renewal point, from the specs kept in the store (cron-friendly),
 * retrying with backoff when the CA is unavailable (docs/clm.md). */
#include "cli/cli.h"

#include "clm/clm.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: hilt renew --due [--json] [--store URL]\n"
    "       hilt renew NAME... [--json] [--store URL]\n"
    "\n"
    "--due renews every applied manifest whose certificate is past its renewal point\n"
    "(renewBefore, or 2/3 of its lifetime with jitter), expired or revoked. A renewal\n"
    "that fails (the CA unavailable, a reload failing) is recorded with its error and\n"
    "retried with backoff (1 min doubling to 6 h) by later runs; until it succeeds,\n"
    "every run reports it and exits 1. NAME... renews those now, ignoring the\n"
    "renewal point and the backoff.\n"
    "\n"
    "Exit: 0 done (or nothing due), 1 a renewal failed or is waiting to be retried,\n"
    "2 bad usage, 3 internal fault.\n";

enum { O_STORE = 1000, O_JSON, O_DUE, O_HELP };

static int cmd_renew(int argc, char **argv)
{
    const char *cmd = "renew";
    static const struct option opts[] = {{"store", 1, 0, O_STORE},
                                         {"json", 0, 0, O_JSON},
                                         {"due", 0, 0, O_DUE},
                                         {"help", 0, 0, O_HELP},
                                         {0, 0, 0, 0}};
    const char *store = NULL;
    int json = 0, due = 0, opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_STORE:
            store = optarg;
            break;
        case O_JSON:
            json = 1;
            break;
        case O_DUE:
            due = 1;
            break;
        case O_HELP:
            fputs(usage_text, stdout);
            return 0;
        default:
            return cli_usage(cmd, "unknown option, or option without its value: '%s'",
                             argv[optind - 1]);
        }
    }
    if (due == (optind < argc))
        return cli_usage(cmd, due ? "--due and NAME... exclude each other"
                                  : "give --due, or the manifest NAMEs to renew");
    struct hilt_err e = {0};
    char home[4096];
    struct hilt_store *st = NULL;
    if (hilt_home(home, sizeof(home), &e) < 0 || !(st = hilt_store_open(store, &e)))
        return cli_fail(cmd, &e);
    struct hilt_clm_opts o = {.st = st, .home = home};
    struct hilt_clm_result *res = NULL;
    size_t n = 0;
    int rc = hilt_clm_renew(&o, due ? NULL : (const char *const *)argv + optind,
                            due ? 0 : (size_t)(argc - optind), &res, &n, &e);
    if (rc < 0) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) {
            const struct hilt_clm_result *r = &res[i];
            json_t *o2 = json_object();
            json_object_set_new(o2, "name", hilt_json_str(r->name));
            json_object_set_new(o2, "action", json_string(hilt_clm_action_name(r->action)));
            json_object_set_new(o2, "reason", hilt_json_str(r->reason));
            json_object_set_new(o2, "ok", json_boolean(!r->failed));
            json_object_set_new(o2, "rev", r->rev ? json_integer(r->rev) : json_null());
            json_object_set_new(o2, "serial", r->serial[0] ? json_string(r->serial) : json_null());
            json_object_set_new(o2, "not_after", hilt_json_time(r->not_after));
            json_object_set_new(o2, "error", r->error[0] ? hilt_json_str(r->error) : json_null());
            json_object_set_new(o2, "attempts", json_integer(r->attempts));
            json_object_set_new(o2, "next_attempt_at", hilt_json_time(r->next_attempt_at));
            json_array_append_new(a, o2);
        }
        hilt_json_print(stdout, a, 1);
        json_decref(a);
    } else {
        size_t ok = 0, bad = 0;
        for (size_t i = 0; i < n; i++) {
            const struct hilt_clm_result *r = &res[i];
            char until[32] = "-";
            if (r->not_after) hilt_time_fmt_rfc3339(r->not_after, until);
            if (r->failed) {
                bad++;
                printf("%-20s FAILED   %s\n", r->name, r->error);
                if (r->attempts && r->next_attempt_at) {
                    char t[32];
                    hilt_time_fmt_rfc3339(r->next_attempt_at, t);
                    printf("%-20s          attempt %lld; next attempt after %s\n", "",
                           (long long)r->attempts, t);
                }
            } else if (r->action == HILT_CLM_UNCHANGED) {
                printf("%-20s not due  serial %s, until %s\n", r->name, r->serial, until);
            } else {
                ok++;
                printf("%-20s renewed  rev %lld, serial %s, until %s (%s)\n", r->name,
                       (long long)r->rev, r->serial, until, r->reason);
            }
        }
        if (due) printf("%zu renewed, %zu failing\n", ok, bad);
    }
out:
    free(res);
    hilt_store_close(st);
    return rc;
}
HILT_COMMAND(renew, cmd_renew, "renew certificates past their renewal point (cron)", 47);
