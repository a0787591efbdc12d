/* ca.c - `hilt ca init|roots|issue|revoke|crl`: arguments in, output out.
 * The CA itself is src/ca/; the store is src/store/. */
#include "cli/cli.h"

#include "ca/ca.h"
#include "ca/csr.h"
#include "ca/signer.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"
#include "store/store.h"
#include "x509/key.h"
#include "x509/pem.h"
#include "x509/revocation.h"
#include "x509/summary.h"

#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: hilt ca COMMAND [OPTIONS]\n"
    "\n"
    "The certificate authority: a root and an intermediate, issuance, revocation, CRLs.\n"
    "\n"
    "  init    [--key-type ec-p256|ec-p384|rsa-2048|rsa-3072] [--name NAME] [--pkcs11 URI]\n"
    "          [--ocsp-url URL] [--crl-url URL] [--aia-url URL] [--allow-domain SUFFIX]...\n"
    "          [--max-lifetime DUR] [--crl-shard-size N] [--import CERT KEY] [--json]\n"
    "          create a CA (keys 0600 under $HILT_HOME/ca/NAME/), or import one: CERT holds\n"
    "          the issuing certificate first and its chain up to the root; with --pkcs11 the\n"
    "          issuing key stays in the token (PIN from HILT_PKCS11_PIN)\n"
    "  roots   [--out FILE]   the trust anchor(s) in PEM (stdout without --out)\n"
    "  issue   --name DNS [--name DNS]... [--csr FILE | --key-type T] [--lifetime 90d|12h]\n"
    "          [--owner O --service S --env E] --out PREFIX [--json]\n"
    "          writes PREFIX.crt, PREFIX.key (0600, when generated), PREFIX.chain.pem\n"
    "  revoke  SERIAL [--reason REASON]   keyCompromise, superseded, cessationOfOperation,\n"
    "          affiliationChanged, privilegeWithdrawn, certificateHold, unspecified\n"
    "  crl     --out FILE [--shard-dir DIR] [--next-update DUR] [--json]\n"
    "          the full CRL (PEM) at FILE, and one DER CRL per serial shard as\n"
    "          DIR/shard-N.crl (DIR defaults to FILE's directory)\n"
    "\n"
    "Every command takes --store URL (postgres://… or a SQLite path; default\n"
    "$HILT_HOME/hilt.db) and --ca NAME (default 'hilt'; init uses --name).\n"
    "Exit: 0 done, 2 bad usage or a refused request, 3 internal fault.\n";

static int help(void)
{
    fputs(usage_text, stdout);
    return 0;
}

struct common {
    const char *store;
    const char *ca;
    int json;
};

static struct hilt_store *open_store(const char *cmd, const struct common *c, char *home,
                                     size_t cap, int *rc)
{
    struct hilt_err e = {0};
    if (hilt_home(home, cap, &e) < 0) {
        *rc = cli_fail(cmd, &e);
        return NULL;
    }
    struct hilt_store *st = hilt_store_open(c->store, &e);
    if (!st) *rc = cli_fail(cmd, &e);
    return st;
}

/* getopt is quiet (opterr = 0); name the option it refused. */
static int bad_opt(const char *cmd, char **argv)
{
    const char *a = argv[optind - 1];
    if (optopt && strncmp(a, "--", 2)) return cli_usage(cmd, "unknown option '-%c'", optopt);
    return cli_usage(cmd, "unknown option, or option without its value: '%s'", a);
}

static int parse_dur(const char *cmd, const char *opt, const char *v, int64_t *out)
{
    if (hilt_duration_parse(v, out) < 0 || *out <= 0)
        return cli_usage(cmd, "%s '%s' is not a duration (like 90d, 12h, 30m)", opt, v), -1;
    return 0;
}

enum {
    O_STORE = 1000,
    O_CA,
    O_JSON,
    O_KEYTYPE,
    O_PKCS11,
    O_OCSP,
    O_CRL,
    O_AIA,
    O_ALLOW,
    O_MAXLIFE,
    O_SHARD,
    O_IMPORT,
    O_OUT,
    O_CSR,
    O_LIFETIME,
    O_OWNER,
    O_SERVICE,
    O_ENV,
    O_REASON,
    O_SHARDDIR,
    O_NEXT,
    O_NAME,
    O_HELP
};

static int do_init(int argc, char **argv)
{
    const char *cmd = "ca init";
    static const struct option opts[] = {{"store", 1, 0, O_STORE},
                                         {"name", 1, 0, O_NAME},
                                         {"key-type", 1, 0, O_KEYTYPE},
                                         {"pkcs11", 1, 0, O_PKCS11},
                                         {"ocsp-url", 1, 0, O_OCSP},
                                         {"crl-url", 1, 0, O_CRL},
                                         {"aia-url", 1, 0, O_AIA},
                                         {"allow-domain", 1, 0, O_ALLOW},
                                         {"max-lifetime", 1, 0, O_MAXLIFE},
                                         {"crl-shard-size", 1, 0, O_SHARD},
                                         {"import", 1, 0, O_IMPORT},
                                         {"json", 0, 0, O_JSON},
                                         {"help", 0, 0, O_HELP},
                                         {0, 0, 0, 0}};
    struct common c = {0};
    struct hilt_ca_init_opts o = {0};
    char allow[2048] = "";
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_STORE:
            c.store = optarg;
            break;
        case O_NAME:
            o.name = optarg;
            break;
        case O_KEYTYPE:
            o.key_type = optarg;
            break;
        case O_PKCS11:
            if (strncmp(optarg, "pkcs11:", 7))
                return cli_usage(cmd, "--pkcs11 '%s' is not a pkcs11: URI (RFC 7512)", optarg);
            o.pkcs11_uri = optarg;
            break;
        case O_OCSP:
            o.ocsp_url = optarg;
            break;
        case O_CRL:
            o.crl_url = optarg;
            break;
        case O_AIA:
            o.aia_url = optarg;
            break;
        case O_ALLOW: {
            size_t l = strlen(allow);
            if (l + strlen(optarg) + 2 >= sizeof(allow))
                return cli_usage(cmd, "too many --allow-domain values");
            snprintf(allow + l, sizeof(allow) - l, "%s%s", l ? "," : "", optarg);
            break;
        }
        case O_MAXLIFE:
            if (parse_dur(cmd, "--max-lifetime", optarg, &o.max_lifetime) < 0) return 2;
            break;
        case O_SHARD: {
            long v;
            if (cli_int(cmd, "--crl-shard-size", optarg, 1, 100000000, &v) < 0) return 2;
            o.crl_shard_size = v;
            break;
        }
        case O_IMPORT:
            o.import_cert = optarg;
            /* --import CERT KEY: KEY is the next word unless it is an option
             * (with --pkcs11 the key is in the token). */
            if (optind < argc && argv[optind][0] != '-') o.import_key = argv[optind++];
            break;
        case O_JSON:
            c.json = 1;
            break;
        case O_HELP:
            return help();
        default:
            return bad_opt(cmd, argv);
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (o.import_cert && !o.import_key && !o.pkcs11_uri)
        return cli_usage(cmd, "--import needs CERT and KEY (or --pkcs11 URI for the key)");
    if (o.import_cert && o.key_type) return cli_usage(cmd, "--key-type does not apply to --import");
    o.allow_domains = allow;
    char home[4096];
    int rc = 0;
    struct hilt_store *st = open_store(cmd, &c, home, sizeof(home), &rc);
    if (!st) return rc;
    struct hilt_err e = {0};
    if (hilt_ca_init(st, home, &o, &e) < 0) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    struct hilt_ca *ca = hilt_ca_open(st, home, o.name, &e);
    if (!ca) {
        rc = cli_fail(cmd, &e);
        goto out;
    }
    char root_subj[512], int_subj[512], until[32];
    hilt_name_fmt(X509_get_subject_name(sk_X509_value(ca->roots, 0)), root_subj, sizeof(root_subj));
    hilt_name_fmt(X509_get_subject_name(ca->issuer), int_subj, sizeof(int_subj));
    hilt_time_fmt_rfc3339(hilt_cert_not_after(ca->issuer), until);
    if (c.json) {
        json_t *j = json_object();
        json_object_set_new(j, "name", json_string(ca->rec.name));
        json_object_set_new(j, "key_type", json_string(ca->rec.key_type));
        json_object_set_new(j, "key_ref", json_string(ca->rec.key_ref));
        json_object_set_new(j, "root", hilt_cert_summary(sk_X509_value(ca->roots, 0)));
        json_object_set_new(j, "intermediate", hilt_cert_summary(ca->issuer));
        json_object_set_new(j, "store", json_string(hilt_store_kind(st)));
        hilt_json_print(stdout, j, 1);
        json_decref(j);
    } else {
        printf("%s CA '%s' (%s, key %s)\n  root:         %s\n  intermediate: %s (until %s)\n",
               o.import_cert ? "imported" : "created", ca->rec.name, ca->rec.key_type,
               ca->rec.key_ref, root_subj, int_subj, until);
        if (!o.pkcs11_uri && !o.import_cert)
            printf("  keys:         %s/ca/%s/ (0600; move root.key offline)\n", home, ca->rec.name);
    }
    hilt_ca_close(ca);
out:
    hilt_store_close(st);
    return rc;
}

static int do_roots(int argc, char **argv)
{
    const char *cmd = "ca roots";
    static const struct option opts[] = {{"store", 1, 0, O_STORE},
                                         {"ca", 1, 0, O_CA},
                                         {"out", 1, 0, O_OUT},
                                         {"help", 0, 0, O_HELP},
                                         {0, 0, 0, 0}};
    struct common c = {0};
    const char *out = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_STORE:
            c.store = optarg;
            break;
        case O_CA:
            c.ca = optarg;
            break;
        case O_OUT:
            out = optarg;
            break;
        case O_HELP:
            return help();
        default:
            return bad_opt(cmd, argv);
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    char home[4096];
    int rc = 0;
    struct hilt_store *st = open_store(cmd, &c, home, sizeof(home), &rc);
    if (!st) return rc;
    struct hilt_err e = {0};
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    struct hilt_ca *ca = hilt_ca_open(st, home, c.ca, &e);
    if (!ca || hilt_ca_roots_pem(ca, &b) < 0) {
        if (ca) hilt_err_set(&e, HILT_E_RUNTIME, 0, "cannot encode the roots");
        rc = cli_fail(cmd, &e);
    } else if (out) {
        if (hilt_file_write_atomic(out, b.data, b.len, 0644, &e) < 0) rc = cli_fail(cmd, &e);
    } else {
        fwrite(b.data, 1, b.len, stdout);
    }
    hilt_buf_free(&b);
    hilt_ca_close(ca);
    hilt_store_close(st);
    return rc;
}

static int write_pem(const char *path, struct hilt_buf *b, mode_t mode, struct hilt_err *e)
{
    return hilt_file_write_atomic(path, b->data, b->len, mode, e);
}

static int do_issue(int argc, char **argv)
{
    const char *cmd = "ca issue";
    static const struct option opts[] = {{"store", 1, 0, O_STORE},
                                         {"ca", 1, 0, O_CA},
                                         {"name", 1, 0, O_NAME},
                                         {"csr", 1, 0, O_CSR},
                                         {"key-type", 1, 0, O_KEYTYPE},
                                         {"lifetime", 1, 0, O_LIFETIME},
                                         {"owner", 1, 0, O_OWNER},
                                         {"service", 1, 0, O_SERVICE},
                                         {"env", 1, 0, O_ENV},
                                         {"out", 1, 0, O_OUT},
                                         {"json", 0, 0, O_JSON},
                                         {"help", 0, 0, O_HELP},
                                         {0, 0, 0, 0}};
    struct common c = {0};
    const char *names[HILT_NAMES_MAX];
    struct hilt_issue_req r = {0};
    const char *csr_path = NULL, *prefix = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_STORE:
            c.store = optarg;
            break;
        case O_CA:
            c.ca = optarg;
            break;
        case O_NAME:
            if (r.nnames >= HILT_NAMES_MAX)
                return cli_usage(cmd, "more than %d --name values", HILT_NAMES_MAX);
            names[r.nnames++] = optarg;
            break;
        case O_CSR:
            csr_path = optarg;
            break;
        case O_KEYTYPE:
            r.key_type = optarg;
            break;
        case O_LIFETIME:
            if (parse_dur(cmd, "--lifetime", optarg, &r.lifetime) < 0) return 2;
            break;
        case O_OWNER:
            r.owner = optarg;
            break;
        case O_SERVICE:
            r.service = optarg;
            break;
        case O_ENV:
            r.env = optarg;
            break;
        case O_OUT:
            prefix = optarg;
            break;
        case O_JSON:
            c.json = 1;
            break;
        case O_HELP:
            return help();
        default:
            return bad_opt(cmd, argv);
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!prefix) return cli_usage(cmd, "--out PREFIX is required");
    if (csr_path && r.key_type) return cli_usage(cmd, "--csr and --key-type exclude each other");
    if (!csr_path && !r.nnames) return cli_usage(cmd, "--name DNS is required (or --csr FILE)");
    struct hilt_err e = {0};
    if (r.key_type) {
        struct hilt_keyspec ks;
        if (hilt_keyspec_parse(r.key_type, &ks, &e) < 0) return cli_fail(cmd, &e);
    }
    /* Refuse before issuing if the outputs cannot be written. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", prefix);
    if (access(dirname(dir), W_OK) != 0)
        return cli_usage(cmd, "--out %s: directory %s does not exist or is not writable", prefix,
                         dir);
    r.names = names;
    X509_REQ *csr = NULL;
    if (csr_path) {
        if (!(csr = hilt_csr_load(csr_path, &e))) return cli_fail(cmd, &e);
        r.csr = csr;
        r.csr_source = csr_path;
    }
    char home[4096];
    int rc = 0;
    struct hilt_ca *ca = NULL;
    struct hilt_issued out = {0};
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    struct hilt_store *st = open_store(cmd, &c, home, sizeof(home), &rc);
    if (!st) goto done;
    if (!(ca = hilt_ca_open(st, home, c.ca, &e)) || hilt_ca_issue(ca, &r, &out, &e) < 0) {
        rc = cli_fail(cmd, &e);
        goto done;
    }
    char p_crt[4200], p_key[4200], p_chain[4200];
    snprintf(p_crt, sizeof(p_crt), "%s.crt", prefix);
    snprintf(p_key, sizeof(p_key), "%s.key", prefix);
    snprintf(p_chain, sizeof(p_chain), "%s.chain.pem", prefix);
    if (out.key && hilt_key_save(p_key, out.key, &e) < 0) goto fault;
    if (hilt_certs_to_pem(&b, &out.cert, 1) < 0 || write_pem(p_crt, &b, 0644, &e) < 0) goto fault;
    hilt_buf_reset(&b);
    if (hilt_ca_chain_pem(ca, out.cert, &b) < 0 || write_pem(p_chain, &b, 0644, &e) < 0) goto fault;
    if (c.json) {
        json_t *j = hilt_cert_summary(out.cert);
        json_object_set_new(j, "ca", json_string(ca->rec.name));
        json_object_set_new(j, "shard", json_integer(out.shard));
        json_object_set_new(j, "owner", r.owner ? hilt_json_str(r.owner) : json_null());
        json_object_set_new(j, "service", r.service ? hilt_json_str(r.service) : json_null());
        json_object_set_new(j, "env", r.env ? hilt_json_str(r.env) : json_null());
        json_t *f = json_object();
        json_object_set_new(f, "cert", hilt_json_str(p_crt));
        json_object_set_new(f, "key", out.key ? hilt_json_str(p_key) : json_null());
        json_object_set_new(f, "chain", hilt_json_str(p_chain));
        json_object_set_new(j, "files", f);
        hilt_json_print(stdout, j, 1);
        json_decref(j);
    } else {
        char until[32], label[300];
        hilt_time_fmt_rfc3339(hilt_cert_not_after(out.cert), until);
        hilt_cert_label(out.cert, label, sizeof(label));
        printf("issued %s for %s, valid until %s\n  %s\n  %s\n", out.serial, label, until, p_crt,
               p_chain);
        if (out.key) printf("  %s (0600)\n", p_key);
    }
    goto done;
fault:
    if (e.kind == HILT_E_NONE) hilt_err_set(&e, HILT_E_RUNTIME, 0, "cannot encode the certificate");
    hilt_err_prefix(&e, "issued %s but", out.serial);
    rc = cli_fail(cmd, &e);
done:
    hilt_buf_free(&b);
    hilt_issued_free(&out);
    X509_REQ_free(csr);
    hilt_ca_close(ca);
    hilt_store_close(st);
    return rc;
}

static int do_revoke(int argc, char **argv)
{
    const char *cmd = "ca revoke";
    static const struct option opts[] = {{"store", 1, 0, O_STORE},
                                         {"ca", 1, 0, O_CA},
                                         {"reason", 1, 0, O_REASON},
                                         {"help", 0, 0, O_HELP},
                                         {0, 0, 0, 0}};
    struct common c = {0};
    int reason = 0, opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_STORE:
            c.store = optarg;
            break;
        case O_CA:
            c.ca = optarg;
            break;
        case O_REASON:
            if ((reason = hilt_crl_reason_parse(optarg)) < 0)
                return cli_usage(cmd,
                                 "--reason '%s' is not a CRL reason (keyCompromise, superseded, "
                                 "cessationOfOperation, affiliationChanged, privilegeWithdrawn, "
                                 "certificateHold, unspecified)",
                                 optarg);
            break;
        case O_HELP:
            return help();
        default:
            return bad_opt(cmd, argv);
        }
    }
    if (optind + 1 != argc) return cli_usage(cmd, "give exactly one SERIAL");
    const char *serial = argv[optind];
    char home[4096];
    int rc = 0;
    struct hilt_store *st = open_store(cmd, &c, home, sizeof(home), &rc);
    if (!st) return rc;
    struct hilt_err e = {0};
    int r = hilt_ca_revoke(st, serial, reason, &e);
    if (r < 0)
        rc = cli_fail(cmd, &e);
    else if (r == 1)
        printf("%s was already revoked; nothing changed\n", serial);
    else
        printf("revoked %s (%s)\n", serial, hilt_crl_reason_name(reason));
    hilt_store_close(st);
    return rc;
}

static int do_crl(int argc, char **argv)
{
    const char *cmd = "ca crl";
    static const struct option opts[] = {
        {"store", 1, 0, O_STORE},      {"ca", 1, 0, O_CA},
        {"out", 1, 0, O_OUT},          {"shard-dir", 1, 0, O_SHARDDIR},
        {"next-update", 1, 0, O_NEXT}, {"json", 0, 0, O_JSON},
        {"help", 0, 0, O_HELP},        {0, 0, 0, 0}};
    struct common c = {0};
    const char *out = NULL, *shard_dir = NULL;
    int64_t next = 7 * 86400;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case O_STORE:
            c.store = optarg;
            break;
        case O_CA:
            c.ca = optarg;
            break;
        case O_OUT:
            out = optarg;
            break;
        case O_SHARDDIR:
            shard_dir = optarg;
            break;
        case O_NEXT:
            if (parse_dur(cmd, "--next-update", optarg, &next) < 0) return 2;
            break;
        case O_JSON:
            c.json = 1;
            break;
        case O_HELP:
            return help();
        default:
            return bad_opt(cmd, argv);
        }
    }
    if (optind < argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!out) return cli_usage(cmd, "--out FILE is required");
    char home[4096];
    int rc = 0;
    struct hilt_store *st = open_store(cmd, &c, home, sizeof(home), &rc);
    if (!st) return rc;
    struct hilt_err e = {0};
    struct hilt_crl_stats s;
    uint64_t t0 = hilt_mono_us();
    struct hilt_ca *ca = hilt_ca_open(st, home, c.ca, &e);
    if (!ca || hilt_ca_publish_crls(ca, out, shard_dir, next, &s, &e) < 0) {
        rc = cli_fail(cmd, &e);
    } else if (c.json) {
        json_t *j = json_object();
        json_object_set_new(j, "crl_number", json_integer(s.number));
        json_object_set_new(j, "revoked", json_integer(s.revoked));
        json_object_set_new(j, "shards", json_integer(s.shards));
        json_object_set_new(j, "full", hilt_json_str(out));
        json_object_set_new(j, "seconds", json_real((double)(hilt_mono_us() - t0) / 1e6));
        hilt_json_print(stdout, j, 1);
        json_decref(j);
    } else {
        printf("CRL %lld: %lld revoked, full CRL %s, %lld shard CRL(s) in %s (%.2fs)\n",
               (long long)s.number, (long long)s.revoked, out, (long long)s.shards,
               shard_dir ? shard_dir : "the same directory", (double)(hilt_mono_us() - t0) / 1e6);
    }
    hilt_ca_close(ca);
    hilt_store_close(st);
    return rc;
}

/* `hilt ca signer-child FD REF HOME RUN_AS`: the re-exec'd signer process
 * (ca/signer_proc.c). Not for people: the parent passes the channel as FD. */
static int do_signer_child(int argc, char **argv)
{
    if (argc != 5 || strcmp(argv[1], "3"))
        return cli_usage("ca signer-child", "internal command; started by hilt itself");
    return hilt_signer_child_main(3, argv[2], argv[3], argv[4]);
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
} subs[] = {{"signer-child", do_signer_child},
            {"init", do_init},
            {"roots", do_roots},
            {"issue", do_issue},
            {"revoke", do_revoke},
            {"crl", do_crl}};

static int cmd_ca(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
        return help();
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (!strcmp(argv[1], subs[i].name)) {
            optind = 1;
            opterr = 0;
            return subs[i].fn(argc - 1, argv + 1);
        }
    return cli_usage("ca", "'%s' is not a ca command (init, roots, issue, revoke, crl)", argv[1]);
}
HILT_COMMAND(ca, cmd_ca, "certificate authority: init, issue, revoke, CRLs", 40);
