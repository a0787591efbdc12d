/* audit.c - `hilt audit verify|log`: check and print the append-only audit
 * chain (every CA action, with actor, time, object and result). */
#include "cli/cli.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: hilt audit verify|log [--json] [--store URL]\n"
    "\n"
    "  verify   check the hash chain of the audit log; names the first edited,\n"
    "           deleted or reordered record (exit 1), exit 0 when intact\n"
    "  log      print the records (seq, time, actor, action, object, result)\n"
    "\n"
    "--store URL: postgres://… or a SQLite path (default $HILT_HOME/hilt.db).\n";

enum { O_STORE = 1000, O_JSON, O_HELP };

struct logst {
    int json;
    json_t *arr;
};

static int log_cb(const struct hilt_audit_rec *r, void *arg)
{
    struct logst *l = arg;
    if (l->json) {
        json_t *o = json_object();
        json_object_set_new(o, "seq", json_integer(r->seq));
        json_object_set_new(o, "time", hilt_json_time(r->time));
        json_object_set_new(o, "actor", hilt_json_str(r->actor));
        json_object_set_new(o, "action", hilt_json_str(r->action));
        json_object_set_new(o, "object", hilt_json_str(r->object));
        json_object_set_new(o, "result", hilt_json_str(r->result));
        json_object_set_new(o, "hash", hilt_json_str(r->hash));
        json_array_append_new(l->arr, o);
    } else {
        char t[32];
        hilt_time_fmt_rfc3339(r->time, t);
        printf("%6lld  %s  %-20s %-14s %s  %s\n", (long long)r->seq, t, r->actor, r->action,
               r->object, r->result);
    }
    return 0;
}

static int cmd_audit(int argc, char **argv)
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
    int verify = !strcmp(sub, "verify"), log = !strcmp(sub, "log");
    if (!verify && !log)
        return cli_usage("audit", "'%s' is not an audit command (verify, log)", sub);
    const char *cmd = verify ? "audit verify" : "audit log";
    static const struct option opts[] = {
        {"store", 1, 0, O_STORE}, {"json", 0, 0, O_JSON}, {"help", 0, 0, O_HELP}, {0, 0, 0, 0}};
    const char *store = NULL;
    int json = 0, opt;
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
        case O_HELP:
            fputs(usage_text, stdout);
            return 0;
        default:
            return cli_usage(cmd, "unknown option, or option without its value: '%s'",
                             argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    struct hilt_err e = {0};
    struct hilt_store *st = hilt_store_open(store, &e);
    if (!st) return cli_fail(cmd, &e);
    int rc = 0;
    if (verify) {
        struct hilt_audit_check c;
        if (hilt_store_audit_verify(st, &c, &e) < 0) {
            rc = cli_fail(cmd, &e);
        } else {
            if (json) {
                json_t *j = json_object();
                json_object_set_new(j, "ok", json_boolean(c.ok));
                json_object_set_new(j, "records", json_integer(c.records));
                if (c.ok) {
                    json_object_set_new(j, "first_bad", json_null());
                } else {
                    json_t *b = json_object();
                    json_object_set_new(b, "seq", json_integer(c.first_bad));
                    json_object_set_new(b, "reason", hilt_json_str(c.reason));
                    json_object_set_new(j, "first_bad", b);
                }
                hilt_json_print(stdout, j, 1);
                json_decref(j);
            } else if (c.ok) {
                printf("audit chain intact: %lld record(s)\n", (long long)c.records);
            } else {
                printf("audit chain BROKEN at record %lld: %s\n", (long long)c.first_bad, c.reason);
            }
            rc = c.ok ? 0 : 1;
        }
    } else {
        struct logst l = {json, json ? json_array() : NULL};
        if (hilt_store_audit_walk(st, log_cb, &l, &e) < 0)
            rc = cli_fail(cmd, &e);
        else if (json)
            hilt_json_print(stdout, l.arr, 1);
        json_decref(l.arr);
    }
    hilt_store_close(st);
    return rc;
}
HILT_COMMAND(audit, cmd_audit, "verify and print the audit chain", 42);
