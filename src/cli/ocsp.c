/* ocsp.c - `hilt ocsp serve`: the CA's OCSP responder over HTTP (RFC 6960,
 * RFC 5019), answering from pre-signed responses (ca/ocsp_responder.h). The
 * CA key stays in a signer process started before the socket is opened. */
#include "cli/cli.h"

#include "ca/ca.h"
#include "ca/ocsp_responder.h"
#include "ca/signer.h"
#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: hilt ocsp serve --listen ADDR:PORT [--ca NAME] [--store URL]\n"
    "                       [--validity DUR] [--poll DUR] [--max-certs N] [--rate N]\n"
    "\n"
    "An OCSP responder (RFC 6960, RFC 5019 profile) for a hilt CA, over HTTP: POST of a\n"
    "DER request to any path, or GET of PATH/BASE64. Responses for every certificate of\n"
    "the CA are signed in advance and again before half their validity has passed, so\n"
    "answering costs no signature; new certificates and revocations are picked up from\n"
    "the store every --poll. The CA key is held by a separate signer process; this\n"
    "process, which faces the network, never loads it.\n"
    "\n"
    "  --listen ADDR:PORT  where to listen (port 0 picks a free one)\n"
    "  --validity DUR      nextUpdate - thisUpdate of responses (default 1d)\n"
    "  --poll DUR          how often the store is read for changes (default 5s)\n"
    "  --max-certs N       pre-signed responses kept (default 1000000)\n"
    "  --rate N            signatures per second for requests answered on demand:\n"
    "                      unknown serials, SHA-256 CertIDs, several CertIDs (default 500)\n"
    "\n"
    "Exit: 0 stopped by SIGINT/SIGTERM, 2 bad usage, 3 fault.\n";

enum { O_LISTEN = 1000, O_CA, O_STORE, O_VALIDITY, O_POLL, O_MAX, O_RATE, O_HELP };

static void ready(int port, void *arg)
{
    const char *listen = arg;
    char host[300];
    snprintf(host, sizeof(host), "%s", listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = '\0';
    printf("hilt ocsp serve: listening on http://%s:%d/\n", host, port);
    fflush(stdout);
}

static int cmd_ocsp(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "serve")) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))) {
            fputs(usage_text, stdout);
            return 0;
        }
        return cli_usage("ocsp", "%s",
                         argc < 2 ? "give a command: serve" : "the command is: serve");
    }
    const char *cmd = "ocsp serve";
    static const struct option opts[] = {
        {"listen", 1, 0, O_LISTEN},     {"ca", 1, 0, O_CA},     {"store", 1, 0, O_STORE},
        {"validity", 1, 0, O_VALIDITY}, {"poll", 1, 0, O_POLL}, {"max-certs", 1, 0, O_MAX},
        {"rate", 1, 0, O_RATE},         {"help", 0, 0, O_HELP}, {0, 0, 0, 0}};
    const char *listen = NULL, *ca_name = NULL, *store = NULL;
    struct hilt_ocsp_responder_opts ro = {0};
    int opt;
    long v;
    optind = 1;
    opterr = 0;
    argc--;
    argv++;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_LISTEN:
            listen = optarg;
            break;
        case O_CA:
            ca_name = optarg;
            break;
        case O_STORE:
            store = optarg;
            break;
        case O_VALIDITY:
            if (hilt_duration_parse(optarg, &ro.validity) < 0 || ro.validity < 60)
                return cli_usage(cmd, "--validity '%s' must be a duration of 1m or more", optarg);
            break;
        case O_POLL:
            if (hilt_duration_parse(optarg, &ro.poll_interval) < 0 || ro.poll_interval < 1)
                return cli_usage(cmd, "--poll '%s' must be a duration of 1s or more", optarg);
            break;
        case O_MAX:
            if (cli_int(cmd, "--max-certs", optarg, 1, 100000000, &v) < 0) return 2;
            ro.max_certs = (size_t)v;
            break;
        case O_RATE:
            if (cli_int(cmd, "--rate", optarg, 1, 1000000, &v) < 0) return 2;
            ro.on_demand_rate = (int)v;
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
    if (!listen) return cli_usage(cmd, "--listen ADDR:PORT is required");
    struct hilt_err e = {0};
    char home[4096], self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0) {
        hilt_err_set(&e, HILT_E_RUNTIME, 0, "cannot find this program (/proc/self/exe)");
        return cli_fail(cmd, &e);
    }
    self[sl] = '\0';
    struct hilt_store *st = NULL;
    struct hilt_ca *ca = NULL;
    struct hilt_ocsp_responder *r = NULL;
    int rc = 0;
    if (hilt_home(home, sizeof(home), &e) < 0 || !(st = hilt_store_open(store, &e)) ||
        !(ca = hilt_ca_open(st, home, ca_name, &e))) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    /* the key holder first: a re-exec'd signer, before any socket exists */
    struct hilt_signer_proc_opts so = {.exec_path = self};
    if (hilt_ca_use_signer_process(ca, &so, &e) < 0 ||
        !(r = hilt_ocsp_responder_new(ca, &ro, &e))) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    uint64_t t0 = hilt_mono_us();
    if (hilt_ocsp_responder_load(r, hilt_now(), &e) < 0) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    struct hilt_ocsp_stats s;
    hilt_ocsp_responder_stats(r, &s);
    printf("hilt ocsp serve: CA '%s': %lld certificate(s), responses signed in %.2fs (signer "
           "process %d)\n",
           ca->rec.name, (long long)s.certs, (double)(hilt_mono_us() - t0) / 1e6,
           (int)hilt_signer_pid(ca->signer));
    fflush(stdout);
    struct hilt_ocsp_serve_opts o = {listen, ready, (void *)listen, &so};
    if (hilt_ocsp_serve(r, &o, &e) < 0) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    hilt_ocsp_responder_stats(r, &s);
    printf("hilt ocsp serve: stopped; %lld answers from pre-signed responses, %lld signed on "
           "demand, %lld errors, %lld signatures, %lld signer restarts\n",
           (long long)s.presigned_answers, (long long)s.signed_answers, (long long)s.errors,
           (long long)s.signatures, (long long)s.signer_restarts);
out:
    hilt_ocsp_responder_free(r);
    hilt_ca_close(ca);
    hilt_store_close(st);
    return rc;
}
HILT_COMMAND(ocsp, cmd_ocsp, "OCSP responder for the CA: ocsp serve --listen ADDR:PORT", 43);
