/* ca_bench.c - the in-process half of bench/ca.sh: issuance throughput of
 * the CA (batched, one CSR, the real store with its transactions and audit
 * records), filling an inventory, PEM bundles for import, bulk revocation,
 * and timing the `expiring` query. Built against the release libhilt.a by
 * bench/ca.sh; not installed, not part of the product.
 *
 *   ca_bench issue HOME N BATCH [process]   N certificates in batches
 *   ca_bench fill HOME N                    N certificates, lifetimes spread 1..365 days
 *   ca_bench pem HOME DIR N PER_FILE        N certificates of another CA as PEM bundles
 *   ca_bench revoke HOME EVERY              revoke every EVERY-th certificate
 *   ca_bench expiring HOME DAYS REPEAT      time the expiring query (count and listing)
 */
#include "ca/ca.h"
#include "ca/signer.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "store/store.h"
#include "x509/key.h"
#include "x509/pem.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6 +
           (double)u.ru_stime.tv_sec + (double)u.ru_stime.tv_usec / 1e6;
}

static double user_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_utime.tv_usec / 1e6;
}

static void die(const char *what, const struct hilt_err *e)
{
    fprintf(stderr, "ca_bench: %s: %s\n", what, e->msg);
    exit(3);
}

static struct hilt_store *open_store(const char *home)
{
    char url[4200];
    snprintf(url, sizeof(url), "%s/hilt.db", home);
    struct hilt_err e = {0};
    struct hilt_store *st = hilt_store_open(url, &e);
    if (!st) die("store", &e);
    return st;
}

static struct hilt_ca *ca_for(struct hilt_store *st, const char *home, const char *name,
                              const char *allow)
{
    struct hilt_err e = {0};
    struct hilt_ca_rec r;
    if (hilt_store_ca_get(st, name, &r, &e) != 1) {
        struct hilt_ca_init_opts o = {.name = name,
                                      .allow_domains = allow,
                                      .crl_url = "http://127.0.0.1:1/crl",
                                      .ocsp_url = "http://127.0.0.1:1/ocsp"};
        if (hilt_ca_init(st, home, &o, &e) < 0) die("ca init", &e);
    } else {
        hilt_ca_rec_free(&r);
    }
    struct hilt_ca *ca = hilt_ca_open(st, home, name, &e);
    if (!ca) die("ca open", &e);
    return ca;
}

static X509_REQ *make_csr(const char *cn)
{
    struct hilt_keyspec ks = {HILT_KEY_EC, 256};
    EVP_PKEY *k = hilt_key_generate(&ks, NULL);
    X509_REQ *req = X509_REQ_new();
    X509_REQ_set_pubkey(req, k);
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_sign(req, k, EVP_sha256());
    EVP_PKEY_free(k);
    return req;
}

/* N certificates in batches; lifetimes 90d, or spread 1..365d (spread). */
static void issue(struct hilt_ca *ca, long n, long batch, int spread, int quiet)
{
    X509_REQ *csr = make_csr("bench.example.test");
    struct hilt_issue_req *reqs = calloc((size_t)batch, sizeof(*reqs));
    struct hilt_issued *outs = calloc((size_t)batch, sizeof(*outs));
    struct hilt_err e = {0};
    double c0 = cpu_s(), u0 = user_s();
    uint64_t t0 = hilt_mono_us();
    long done = 0;
    while (done < n) {
        long k = n - done < batch ? n - done : batch;
        for (long i = 0; i < k; i++)
            reqs[i] = (struct hilt_issue_req){.csr = csr,
                                              .csr_source = "bench",
                                              .owner = "bench",
                                              .service = "svc",
                                              .env = "prod",
                                              .lifetime = spread ? (1 + (done + i) % 365) * 86400
                                                                 : 90 * 86400};
        if (hilt_ca_issue_batch_der(ca, reqs, (size_t)k, outs, &e) < 0) die("issue", &e);
        for (long i = 0; i < k; i++)
            hilt_issued_free(&outs[i]);
        done += k;
        if (!quiet && isatty(2) && done % 100000 == 0) fprintf(stderr, "\r  %ld/%ld", done, n);
    }
    double wall = (double)(hilt_mono_us() - t0) / 1e6, cpu = cpu_s() - c0, usr = user_s() - u0;
    if (!quiet && isatty(2)) fprintf(stderr, "\r");
    printf("issued %ld in %.3f s wall, %.3f s CPU (%.3f s user): %.0f/s wall, %.0f/s per CPU "
           "second, %.0f/s per user second\n",
           n, wall, cpu, usr, (double)n / wall, (double)n / cpu, (double)n / usr);
    free(reqs);
    free(outs);
    X509_REQ_free(csr);
}

static int cmd_pem(const char *home, const char *dir, long n, long per)
{
    struct hilt_store *st = open_store(home);
    struct hilt_ca *ca = ca_for(st, home, "other", "");
    X509_REQ *csr = make_csr("imported.example.test");
    struct hilt_issue_req *reqs = calloc((size_t)per, sizeof(*reqs));
    struct hilt_issued *outs = calloc((size_t)per, sizeof(*outs));
    struct hilt_err e = {0};
    struct hilt_buf b;
    hilt_buf_init(&b, 64u << 20);
    for (long f = 0; f * per < n; f++) {
        long k = n - f * per < per ? n - f * per : per;
        for (long i = 0; i < k; i++)
            reqs[i] = (struct hilt_issue_req){
                .csr = csr, .csr_source = "bench", .lifetime = (1 + (f * per + i) % 365) * 86400};
        if (hilt_ca_issue_batch(ca, reqs, (size_t)k, outs, &e) < 0) die("issue", &e);
        hilt_buf_reset(&b);
        for (long i = 0; i < k; i++) {
            hilt_certs_to_pem(&b, &outs[i].cert, 1);
            hilt_issued_free(&outs[i]);
        }
        char path[4300];
        snprintf(path, sizeof(path), "%s/bundle-%04ld.pem", dir, f);
        if (hilt_file_write_atomic(path, b.data, b.len, 0644, &e) < 0) die("write", &e);
    }
    hilt_buf_free(&b);
    free(reqs);
    free(outs);
    X509_REQ_free(csr);
    hilt_ca_close(ca);
    hilt_store_close(st);
    return 0;
}

struct rv {
    long every, seen, n;
    char (*serials)[48];
};

static int rv_cb(const struct hilt_cert_rec *r, const uint8_t *der, size_t dl, void *arg)
{
    (void)der;
    (void)dl;
    struct rv *v = arg;
    if (r->source && !strcmp(r->source, "issued") && v->seen++ % v->every == 0)
        snprintf(v->serials[v->n++], 48, "%s", r->serial);
    return 0;
}

static int cmd_revoke(const char *home, long every)
{
    struct hilt_store *st = open_store(home);
    struct hilt_err e = {0};
    int64_t total = 0;
    struct hilt_cert_filter all = {.q = HILT_Q_ALL};
    if (hilt_store_cert_count(st, &all, &total, &e) < 0) die("count", &e);
    struct rv v = {every, 0, 0, calloc((size_t)(total / every + 2), 48)};
    if (hilt_store_cert_list(st, &all, rv_cb, &v, &e) < 0) die("list", &e);
    uint64_t t0 = hilt_mono_us();
    if (hilt_store_begin(st, &e) < 0) die("begin", &e);
    int64_t now = hilt_now();
    for (long i = 0; i < v.n; i++)
        if (hilt_store_cert_revoke(st, v.serials[i], 4, now, NULL, &e) < 0) die("revoke", &e);
    if (hilt_store_commit(st, &e) < 0) die("commit", &e);
    printf("revoked %ld of %lld in %.2f s (one transaction)\n", v.n, (long long)total,
           (double)(hilt_mono_us() - t0) / 1e6);
    free(v.serials);
    hilt_store_close(st);
    return 0;
}

struct cnt {
    long n;
};

static int cnt_cb(const struct hilt_cert_rec *r, const uint8_t *der, size_t dl, void *arg)
{
    (void)r;
    (void)der;
    (void)dl;
    ((struct cnt *)arg)->n++;
    return 0;
}

static int cmd_expiring(const char *home, long days, long repeat)
{
    struct hilt_store *st = open_store(home);
    struct hilt_err e = {0};
    int64_t now = hilt_now(), total = 0, matches = 0;
    struct hilt_cert_filter all = {.q = HILT_Q_ALL};
    hilt_store_cert_count(st, &all, &total, &e);
    struct hilt_cert_filter f = {.q = HILT_Q_EXPIRING, .from = now, .until = now + days * 86400};
    double best_count = 1e9, best_list = 1e9;
    long listed = 0;
    for (long i = 0; i < repeat; i++) {
        uint64_t t0 = hilt_mono_us();
        if (hilt_store_cert_count(st, &f, &matches, &e) < 0) die("count", &e);
        uint64_t t1 = hilt_mono_us();
        struct cnt c = {0};
        if (hilt_store_cert_list(st, &f, cnt_cb, &c, &e) < 0) die("list", &e);
        uint64_t t2 = hilt_mono_us();
        listed = c.n;
        if ((double)(t1 - t0) / 1e3 < best_count) best_count = (double)(t1 - t0) / 1e3;
        if ((double)(t2 - t1) / 1e3 < best_list) best_list = (double)(t2 - t1) / 1e3;
    }
    printf("expiring within %ldd over %lld certificates: %lld match; COUNT query %.2f ms, "
           "streaming every matching row (%ld) %.2f ms (best of %ld, store open, warm cache)\n",
           days, (long long)total, (long long)matches, best_count, listed, best_list, repeat);
    hilt_store_close(st);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: see the comment at the top of bench/ca_bench.c\n");
        return 2;
    }
    const char *mode = argv[1], *home = argv[2];
    if (!strcmp(mode, "issue") && argc >= 5) {
        struct hilt_store *st = open_store(home);
        struct hilt_ca *ca = ca_for(st, home, "hilt", "example.test");
        if (argc >= 6 && !strcmp(argv[5], "process")) {
            struct hilt_err e = {0};
            struct hilt_signer_proc_opts so = {0};
            if (hilt_ca_use_signer_process(ca, &so, &e) < 0) die("signer process", &e);
        }
        issue(ca, atol(argv[3]), atol(argv[4]), 0, 0);
        hilt_ca_close(ca);
        hilt_store_close(st);
        return 0;
    }
    if (!strcmp(mode, "fill") && argc >= 4) {
        struct hilt_store *st = open_store(home);
        struct hilt_ca *ca = ca_for(st, home, "hilt", "example.test");
        issue(ca, atol(argv[3]), 1000, 1, 0);
        hilt_ca_close(ca);
        hilt_store_close(st);
        return 0;
    }
    if (!strcmp(mode, "pem") && argc >= 6)
        return cmd_pem(home, argv[3], atol(argv[4]), atol(argv[5]));
    if (!strcmp(mode, "revoke") && argc >= 4) return cmd_revoke(home, atol(argv[3]));
    if (!strcmp(mode, "expiring") && argc >= 5)
        return cmd_expiring(home, atol(argv[3]), atol(argv[4]));
    fprintf(stderr, "ca_bench: unknown mode or missing arguments\n");
    return 2;
}
