/* gateway.c - `hilt gateway -c FILE`: arguments in, exit code out.
 * The gateway lives in src/gateway/, its telemetry in src/telemetry/. */
#include "cli/cli.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "gateway/gateway.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *usage =
    "usage: hilt gateway -c FILE [--check] [--workers N] [--log-level LEVEL]\n\n"
    "An L4 TLS gateway: terminates TLS under a policy profile, routes by SNI/ALPN to\n"
    "backends (plain TCP, or TLS under their own profile), sends PROXY v2 with the\n"
    "client's TLS identity, and records one JSON event per handshake with the cause\n"
    "of every failure. SIGHUP, POST /reload or a changed file reloads; a bad config\n"
    "is rejected and the running one keeps serving. Certificates come from files or\n"
    "from hilt's CA (issue:, renewed and swapped in while serving); session-ticket keys\n"
    "can be shared by every gateway on one store (tickets.store); routes can pass TLS\n"
    "through untouched (passthrough: true).\n\n"
    "  -c, --config FILE    the gateway YAML (docs/gateway.md)\n"
    "      --check          validate FILE (certificates, keys, profiles) and exit\n"
    "  -w, --workers N      worker threads (default: the config's, else one per CPU)\n"
    "      --log-level L    error, warn, info (default), debug\n\n"
    "Admin listener: GET /metrics (Prometheus), GET /status, GET /observed, POST /reload.\n"
    "issue: certificates use the CA in the config's store: (default $HILT_HOME/hilt.db).\n"
    "Exit: 0 stopped by SIGTERM/SIGINT, 2 bad usage or config (file:line:col), 3 runtime.\n";

static int cmd_gateway(int argc, char **argv)
{
    static const struct option lo[] = {
        {"config", required_argument, NULL, 'c'},  {"check", no_argument, NULL, 'k'},
        {"workers", required_argument, NULL, 'w'}, {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *config = NULL;
    int check = 0;
    long workers = 0;
    optind = 1;
    opterr = 0;
    int c;
    hilt_log_set_level(HILT_LOG_INFO);
    while ((c = getopt_long(argc, argv, "c:w:h", lo, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'w':
            if (cli_int("gateway", "--workers", optarg, 1, 64, &workers) < 0) return 2;
            break;
        case 'l':
            if (!strcmp(optarg, "error"))
                hilt_log_set_level(HILT_LOG_ERROR);
            else if (!strcmp(optarg, "warn"))
                hilt_log_set_level(HILT_LOG_WARN);
            else if (!strcmp(optarg, "info"))
                hilt_log_set_level(HILT_LOG_INFO);
            else if (!strcmp(optarg, "debug"))
                hilt_log_set_level(HILT_LOG_DEBUG);
            else
                return cli_usage("gateway", "--log-level: expected error, warn, info or debug");
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return cli_usage("gateway", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return cli_usage("gateway", "unexpected argument '%s'", argv[optind]);
    if (!config) return cli_usage("gateway", "-c FILE is required");
    struct hilt_err e;
    hilt_err_clear(&e);
    if (hilt_clock_init_env(&e) < 0) return cli_fail("gateway", &e);
    if (check) {
        if (gw_check(config, stdout, &e) < 0) return cli_fail("gateway", &e);
        return 0;
    }
    struct gw_opts o = {
        .config = config, .workers = (int)workers, .use_signals = 1, .self_exe = "/proc/self/exe"};
    struct gateway *gw = gw_new(&o, &e);
    if (!gw) return cli_fail("gateway", &e);
    hilt_info("gateway: serving %s (generation %lu)", config, gw_generation(gw));
    int rc = gw_serve(gw, &e);
    gw_free(&gw);
    if (rc < 0) return cli_fail("gateway", &e);
    hilt_info("gateway: stopped");
    return 0;
}

HILT_COMMAND(gateway, cmd_gateway, "TLS gateway: strict policy in front, translation behind", 60);
