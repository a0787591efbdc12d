/* serve.c - `hilt serve`: the trust plane as a daemon (REST /v1, ACME,
 * OCSP, CRLs, metrics, the renewal loop). Arguments and the config file in,
 * api/httpd.c does the rest (docs/serve.md). */
#include "cli/cli.h"

#include "api/api.h"
#include "api/serve.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: hilt serve [-c FILE] [--listen ADDR:PORT]... [--listen-http ADDR:PORT]...\n"
    "                  [--store URL] [--preapprove 'PATTERN[,max-lifetime][,env=ENV]']...\n"
    "                  [--node NAME] [--ca NAME] [--profile NAME] [--policy FILE]\n"
    "                  [--http01-port N] [--tls-alpn01-port N] [--resolve NAME=IP]...\n"
    "                  [--access-log]\n"
    "\n"
    "Runs the trust plane as a daemon: the REST API under /v1 (tokens or client\n"
    "certificates; requests, approvals with separation of duties, revocation,\n"
    "inventory, audit export), ACME at /acme/directory, the CA's OCSP responder at\n"
    "/ocsp, its CRLs at /crl/, Prometheus metrics at /metrics and /healthz. Its own\n"
    "HTTPS certificate comes from its CA (it chains to `hilt ca roots`) and is renewed\n"
    "before expiry without dropping connections. The CA key stays in a signer\n"
    "process. The renewal loop (`hilt renew --due`) runs on the one node that holds\n"
    "the renewal lease in the store (several nodes share a postgres:// store).\n"
    "\n"
    "  -c, --config FILE      YAML configuration (docs/serve.md); options below override it\n"
    "  --listen ADDR:PORT     an HTTPS listener (repeatable; port 0 picks one)\n"
    "  --listen-http ADDR:PORT  a plain HTTP listener: /ocsp, /crl/, /metrics, /healthz only\n"
    "  --store URL            default $HILT_HOME/hilt.db; postgres://… for several nodes\n"
    "  --preapprove SCOPE     names matching PATTERN ('*.svc.internal' or a name), with a\n"
    "                         lifetime up to max-lifetime (7d) and in ENV if given, issue\n"
    "                         with no human step (repeatable)\n"
    "  --node NAME            this node's name in leases, metrics and audit (default HOST-PORT)\n"
    "  --ca NAME              the CA (default hilt)\n"
    "  --profile NAME         TLS policy profile of --listen listeners (default intermediate)\n"
    "  --policy FILE          a policy file with more profiles\n"
    "  --access-log           one line per request on stderr\n"
    "\n"
    "Test knobs (as pebble has), for ACME validation on loopback only:\n"
    "  --http01-port N        port the validator connects to for http-01 (default 80)\n"
    "  --tls-alpn01-port N    port for tls-alpn-01 (default 443)\n"
    "  --resolve NAME=IP      resolve NAME to IP for validation (repeatable)\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop gracefully (open requests finish); SIGHUP reloads the\n"
    "config file (a bad one is refused and the running configuration stays).\n"
    "Exit: 0 stopped by a signal, 2 bad usage or configuration, 3 fault.\n";

enum {
    O_LISTEN = 1000,
    O_LISTEN_HTTP,
    O_STORE,
    O_PRE,
    O_NODE,
    O_CA,
    O_PROFILE,
    O_POLICY,
    O_HTTP01,
    O_ALPN,
    O_RESOLVE,
    O_ACCESS,
    O_HELP
};

struct overrides {
    const char *config;
    const char *listen[HILT_SERVE_MAX_LISTENERS];
    int listen_tls[HILT_SERVE_MAX_LISTENERS];
    size_t nlisten;
    const char *store, *node, *ca, *profile, *policy;
    const char *pre[HILT_SERVE_MAX_SCOPES];
    size_t npre;
    long http01, alpn;
    const char *resolve[HILT_SERVE_MAX_RESOLVE];
    size_t nresolve;
    int access_log;
};

/* 'PATTERN[,max-lifetime][,env=ENV]' */
static int preapprove(const char *s, struct hilt_scope *sc, struct hilt_err *e)
{
    char buf[400], env[64] = "";
    snprintf(buf, sizeof(buf), "%s", s);
    char *envp = strstr(buf, ",env=");
    if (envp) {
        if (strlen(envp + 5) >= sizeof(env) || !envp[5] || strchr(envp + 5, ','))
            return hilt_err_set(e, HILT_E_USAGE, 0, "--preapprove '%s': env=ENV goes last", s);
        snprintf(env, sizeof(env), "%s", envp + 5);
        *envp = '\0';
    }
    if (hilt_scope_parse(buf, sc, e) < 0) return -1;
    snprintf(sc->env, sizeof(sc->env), "%s", env);
    return 0;
}

static int build(struct hilt_serve_config *c, void *arg, struct hilt_err *e)
{
    const struct overrides *ov = arg;
    hilt_serve_config_defaults(c);
    if (ov->config && hilt_serve_config_load(ov->config, c, e) < 0) return -1;
    if (ov->nlisten) {
        c->nlisteners = 0; /* the command line's listeners replace the file's */
        for (size_t i = 0; i < ov->nlisten; i++) {
            struct hilt_serve_listener *l = &c->listeners[c->nlisteners++];
            memset(l, 0, sizeof(*l));
            snprintf(l->listen, sizeof(l->listen), "%s", ov->listen[i]);
            l->tls = ov->listen_tls[i];
            l->client_certs = 1;
            snprintf(l->profile, sizeof(l->profile), "%s",
                     ov->profile ? ov->profile : "intermediate");
        }
    } else if (ov->profile) {
        for (size_t i = 0; i < c->nlisteners; i++)
            snprintf(c->listeners[i].profile, sizeof(c->listeners[i].profile), "%s", ov->profile);
    }
    if (ov->store) snprintf(c->store, sizeof(c->store), "%s", ov->store);
    if (ov->node) snprintf(c->node, sizeof(c->node), "%s", ov->node);
    if (ov->ca) snprintf(c->ca, sizeof(c->ca), "%s", ov->ca);
    if (ov->policy) snprintf(c->policy, sizeof(c->policy), "%s", ov->policy);
    for (size_t i = 0; i < ov->npre; i++) {
        if (c->nscopes == HILT_SERVE_MAX_SCOPES)
            return hilt_err_set(e, HILT_E_USAGE, 0, "at most %d scopes", HILT_SERVE_MAX_SCOPES);
        if (preapprove(ov->pre[i], &c->scopes[c->nscopes++], e) < 0) return -1;
    }
    if (ov->http01) c->http01_port = (int)ov->http01;
    if (ov->alpn) c->tlsalpn01_port = (int)ov->alpn;
    for (size_t i = 0; i < ov->nresolve; i++) {
        if (c->nresolve == HILT_SERVE_MAX_RESOLVE)
            return hilt_err_set(e, HILT_E_USAGE, 0, "at most %d --resolve", HILT_SERVE_MAX_RESOLVE);
        snprintf(c->resolve[c->nresolve++], sizeof(c->resolve[0]), "%s", ov->resolve[i]);
    }
    if (ov->access_log) c->access_log = 1;
    return hilt_serve_config_check(c, e);
}

static void ready(const char *const *urls, size_t n, void *arg)
{
    const struct hilt_serve_config *c = arg;
    for (size_t i = 0; i < n; i++)
        printf("hilt serve: listening on %s (node %s)\n", urls[i], c->node);
    fflush(stdout);
}

static int cmd_serve(int argc, char **argv)
{
    const char *cmd = "serve";
    static const struct option opts[] = {{"config", 1, 0, 'c'},
                                         {"listen", 1, 0, O_LISTEN},
                                         {"listen-http", 1, 0, O_LISTEN_HTTP},
                                         {"store", 1, 0, O_STORE},
                                         {"preapprove", 1, 0, O_PRE},
                                         {"node", 1, 0, O_NODE},
                                         {"ca", 1, 0, O_CA},
                                         {"profile", 1, 0, O_PROFILE},
                                         {"policy", 1, 0, O_POLICY},
                                         {"http01-port", 1, 0, O_HTTP01},
                                         {"tls-alpn01-port", 1, 0, O_ALPN},
                                         {"resolve", 1, 0, O_RESOLVE},
                                         {"access-log", 0, 0, O_ACCESS},
                                         {"help", 0, 0, O_HELP},
                                         {0, 0, 0, 0}};
    struct overrides ov = {0};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            ov.config = optarg;
            break;
        case O_LISTEN:
        case O_LISTEN_HTTP:
            if (ov.nlisten == HILT_SERVE_MAX_LISTENERS)
                return cli_usage(cmd, "at most %d listeners", HILT_SERVE_MAX_LISTENERS);
            ov.listen_tls[ov.nlisten] = opt == O_LISTEN;
            ov.listen[ov.nlisten++] = optarg;
            break;
        case O_STORE:
            ov.store = optarg;
            break;
        case O_PRE:
            if (ov.npre == HILT_SERVE_MAX_SCOPES)
                return cli_usage(cmd, "at most %d --preapprove", HILT_SERVE_MAX_SCOPES);
            ov.pre[ov.npre++] = optarg;
            break;
        case O_NODE:
            ov.node = optarg;
            break;
        case O_CA:
            ov.ca = optarg;
            break;
        case O_PROFILE:
            ov.profile = optarg;
            break;
        case O_POLICY:
            ov.policy = optarg;
            break;
        case O_HTTP01:
            if (cli_int(cmd, "--http01-port", optarg, 1, 65535, &ov.http01) < 0) return 2;
            break;
        case O_ALPN:
            if (cli_int(cmd, "--tls-alpn01-port", optarg, 1, 65535, &ov.alpn) < 0) return 2;
            break;
        case O_RESOLVE:
            if (ov.nresolve == HILT_SERVE_MAX_RESOLVE)
                return cli_usage(cmd, "at most %d --resolve", HILT_SERVE_MAX_RESOLVE);
            ov.resolve[ov.nresolve++] = optarg;
            break;
        case O_ACCESS:
            ov.access_log = 1;
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
    if (hilt_clock_init_env(&e) < 0) return cli_fail(cmd, &e);
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0) {
        hilt_err_set(&e, HILT_E_RUNTIME, 0, "cannot find this program (/proc/self/exe)");
        return cli_fail(cmd, &e);
    }
    self[sl] = '\0';
    struct hilt_serve_config *c = calloc(1, sizeof(*c));
    if (!c) return 3;
    int rc = 0;
    if (build(c, &ov, &e) < 0) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    struct hilt_serve_run_opts o = {
        .self_exe = self, .reload = build, .reload_arg = &ov, .ready = ready, .ready_arg = c};
    if (hilt_serve_run(c, &o, &e) < 0) rc = cli_fail(cmd, &e);
out:
    free(c);
    return rc;
}
HILT_COMMAND(serve, cmd_serve,
             "trust plane daemon: REST /v1, ACME, OCSP, CRLs, metrics, renewal loop", 45);
