/* probe.c - `hilt probe`: arguments in, report out. The logic is in diag/probe.c. */
#include "cli/cli.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "diag/probe.h"
#include "tls/profile.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hilt probe [--json] [--sni NAME | --no-sni] [--ca-file FILE]\n"
            "                  [--intermediates FILE] [--client-cert FILE --client-key FILE]\n"
            "                  [--alpn LIST] [--profile NAME] [--at RFC3339] [--timeout MS]\n"
            "                  [--no-http] [--no-revocation] HOST[:PORT]\n\n"
            "Connect once, read everything the peer reveals, and when the handshake fails or the\n"
            "peer cannot be trusted, re-probe with controlled variations until one root cause is\n"
            "isolated. Prints the diagnosis first, then its evidence, the handshake and the chain.\n\n"
            "  HOST[:PORT]          the endpoint; port 443 by default; [v6]:port for IPv6\n"
            "  --json               one JSON object (fields in docs/probe.md)\n"
            "  --sni NAME           server name to send (default: HOST when it is a name)\n"
            "  --no-sni             send no server name\n"
            "  --ca-file FILE       trust only these certificates (PEM or DER) instead of the system store\n"
            "  --intermediates FILE extra intermediate certificates to complete a chain with\n"
            "  --client-cert FILE   client certificate (PEM, may include its chain) ...\n"
            "  --client-key FILE    ... and its private key\n"
            "  --alpn LIST          ALPN protocols to offer, comma-separated (e.g. h2,http/1.1)\n"
            "  --profile NAME       the client's offer:\n");
    for (int i = 0; hilt_client_profile_at(i); i++)
        fprintf(f, "                         %-8s %s\n", hilt_client_profile_at(i)->name,
                hilt_client_profile_at(i)->description);
    fprintf(f,
            "  --at RFC3339         check validity as of this time (e.g. 2027-01-01T00:00:00Z)\n"
            "  --timeout MS         per connection step (default 5000)\n"
            "  --no-http            do not send HEAD / to read the peer's clock from its Date header\n"
            "  --no-revocation      do not fetch OCSP or CRLs\n\n"
            "Exit: 0 a client with this trust store, SNI and profile completes the handshake and\n"
            "trusts the peer, with no error finding; 1 it would not (the diagnosis says why);\n"
            "2 bad usage or input; 3 an internal fault.\n");
}

static int cmd_probe(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},          {"sni", required_argument, NULL, 's'},
        {"no-sni", no_argument, NULL, 'S'},        {"ca-file", required_argument, NULL, 'c'},
        {"intermediates", required_argument, NULL, 'i'},
        {"client-cert", required_argument, NULL, 'C'},
        {"client-key", required_argument, NULL, 'K'},
        {"alpn", required_argument, NULL, 'a'},    {"profile", required_argument, NULL, 'p'},
        {"at", required_argument, NULL, 't'},      {"timeout", required_argument, NULL, 'T'},
        {"no-http", no_argument, NULL, 'H'},       {"no-revocation", no_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    struct hilt_probe_opts o = {0};
    int json = 0;
    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j': json = 1; break;
        case 's': o.sni = optarg; break;
        case 'S': o.no_sni = 1; break;
        case 'c': o.ca_file = optarg; break;
        case 'i': o.intermediates_file = optarg; break;
        case 'C': o.client_cert_file = optarg; break;
        case 'K': o.client_key_file = optarg; break;
        case 'a': o.alpn = optarg; break;
        case 'p': o.profile = optarg; break;
        case 't':
            if (hilt_time_parse_rfc3339(optarg, &o.at) < 0)
                return cli_usage("probe", "--at '%s' is not an RFC 3339 time such as 2027-01-01T00:00:00Z", optarg);
            break;
        case 'T': {
            long v;
            if (cli_int("probe", "--timeout", optarg, 1, 600000, &v) < 0) return 2;
            o.timeout_ms = (int)v;
            break;
        }
        case 'H': o.no_http = 1; break;
        case 'R': o.no_revocation = 1; break;
        case 'h': usage(stdout); return 0;
        case ':': return cli_usage("probe", "option '%s' needs a value", argv[optind - 1]);
        default: return cli_usage("probe", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return cli_usage("probe", "missing HOST[:PORT]");
    if (optind + 1 < argc) return cli_usage("probe", "unexpected argument '%s' (one target at a time)", argv[optind + 1]);
    o.target = argv[optind];

    struct hilt_err e = {0};
    struct hilt_probe_report *r = NULL;
    if (hilt_probe(&o, &r, &e) < 0) {
        if (e.kind == HILT_E_USAGE) return cli_usage("probe", "%s", e.msg);
        return cli_fail("probe", &e);
    }
    int ok = hilt_probe_report_ok(r);
    if (json) {
        json_t *j = hilt_probe_report_json(r);
        hilt_json_print(stdout, j, 1);
        json_decref(j);
    } else {
        hilt_probe_report_print(stdout, r, cli_color());
    }
    hilt_probe_report_free(r);
    return ok ? 0 : 1;
}

HILT_COMMAND(probe, cmd_probe, "diagnose one TLS endpoint: the root cause of a failed handshake", 10);
