/* test_ca_signer.c - the signer process (ca/signer_proc.c) and its protocol.
 *
 * - a CA signs certificates, CRLs and OCSP responses through a forked (and,
 *   with $HILT, a re-exec'd) signer child; chains verify;
 * - this process never holds the key: the CA is created by a child process,
 *   and after signing through the signer child our whole readable memory is
 *   searched for the private scalar (both byte orders) and the key file's
 *   base64 - never found; loading the key here afterwards makes the same
 *   search find it (the search works);
 * - a killed signer gives a clear error at once; a stopped one is killed at
 *   the deadline; a signer that cannot load its key says why at start;
 * - the wire format refuses truncated, oversized and inconsistent frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ca/ca.h"
#include "ca/sigproto.h"
#include "ca/signer.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"
#include "x509/key.h"
#include "x509/ocsp.h"
#include "x509/pem.h"
#include "x509/verify.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct env {
    char home[256];
    char url[512];
    char key_type[32];
};

static const uint8_t MASK = 0xA5;

/* Create a CA in a child process, so this process never sees its key. The
 * child also writes the key's secret, masked, for the memory search. */
static void make_ca_elsewhere(struct env *v, const char *key_type)
{
    snprintf(v->home, sizeof(v->home), "/tmp/hilt-signer-test.XXXXXX");
    assert_non_null(mkdtemp(v->home));
    snprintf(v->url, sizeof(v->url), "%s/hilt.db", v->home);
    snprintf(v->key_type, sizeof(v->key_type), "%s", key_type);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct hilt_err e = {0};
        struct hilt_store *st = hilt_store_open(v->url, &e);
        struct hilt_ca_init_opts o = {.key_type = key_type,
                                      .allow_domains = "example.test",
                                      .ocsp_url = "http://127.0.0.1:1/ocsp",
                                      .crl_url = "http://127.0.0.1:1/crl"};
        if (!st || hilt_ca_init(st, v->home, &o, &e) < 0) {
            fprintf(stderr, "ca init: %s\n", e.msg);
            _exit(1);
        }
        hilt_store_close(st);
        char p[600], m[600];
        snprintf(p, sizeof(p), "%s/ca/hilt/intermediate.key", v->home);
        snprintf(m, sizeof(m), "%s/needle", v->home);
        EVP_PKEY *k = hilt_key_load(p, &e);
        BIGNUM *bn = NULL;
        uint8_t sec[600] = {0};
        int n = 0;
        if (k && (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &bn) ||
                  EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_D, &bn)))
            n = BN_bn2bin(bn, sec);
        /* and 40 characters of the PEM body (line 2) */
        FILE *f = fopen(p, "r");
        char line[200] = "", body[200] = "";
        if (f && fgets(line, sizeof(line), f) && fgets(body, sizeof(body), f)) body[40] = '\0';
        if (f) fclose(f);
        FILE *o2 = fopen(m, "wb");
        if (!o2 || n <= 0 || strlen(body) != 40) _exit(2);
        uint8_t hdr[2] = {(uint8_t)(n >> 8), (uint8_t)n};
        fwrite(hdr, 1, 2, o2);
        for (int i = 0; i < n; i++)
            fputc(sec[i] ^ MASK, o2);
        for (int i = 0; i < 40; i++)
            fputc((uint8_t)body[i] ^ MASK, o2);
        fclose(o2);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void drop_env(struct env *v)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", v->home);
    assert_int_equal(system(cmd), 0);
}

/* ---- searching our own memory for masked needles ---------------------------- */

struct needles {
    uint8_t v[3][600];
    size_t n[3];
};

static void load_needles(const struct env *v, struct needles *nd)
{
    char m[600];
    snprintf(m, sizeof(m), "%s/needle", v->home);
    FILE *f = fopen(m, "rb");
    assert_non_null(f);
    uint8_t hdr[2];
    assert_int_equal(fread(hdr, 1, 2, f), 2);
    size_t n = (size_t)hdr[0] << 8 | hdr[1];
    assert_true(n > 0 && n <= 600);
    assert_int_equal(fread(nd->v[0], 1, n, f), n); /* big-endian, masked */
    for (size_t i = 0; i < n; i++)
        nd->v[1][i] = nd->v[0][n - 1 - i]; /* BIGNUM limbs: little-endian */
    nd->n[0] = nd->n[1] = n;
    assert_int_equal(fread(nd->v[2], 1, 40, f), 40);
    nd->n[2] = 40;
    fclose(f);
}

/* Count occurrences of any needle (unmasked on the fly, so the needle
 * itself never sits in memory in the clear). */
static int scan_memory(const struct needles *nd)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    int fd = open("/proc/self/mem", O_RDONLY);
    assert_non_null(maps);
    assert_true(fd >= 0);
    enum { CH = 1 << 20 };
    uint8_t *buf = malloc(CH + 1024);
    assert_non_null(buf);
    char line[512];
    int found = 0;
    while (fgets(line, sizeof(line), maps)) {
        unsigned long lo, hi;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perm) != 3 || perm[0] != 'r') continue;
        if (strstr(line, "[vvar]") || strstr(line, "[vsyscall]")) continue;
        if (hi - lo > (256ul << 20)) continue; /* sanitizer shadow, reserved space */
        for (unsigned long a = lo; a < hi; a += CH) {
            size_t want = hi - a < CH + 600 ? hi - a : CH + 600;
            ssize_t got = pread(fd, buf, want, (off_t)a);
            if (got <= 0) break;
            if ((size_t)got > CH + 600) got = CH + 600;
            for (int k = 0; k < 3; k++) {
                size_t n = nd->n[k];
                uint8_t first = nd->v[k][0] ^ MASK;
                for (size_t i = 0; i + n <= (size_t)got && i < CH; i++) {
                    const uint8_t *hit = memchr(buf + i, first, (size_t)got - n + 1 - i);
                    if (!hit) break;
                    i = (size_t)(hit - buf);
                    size_t j = 1;
                    while (j < n && (buf[i + j] ^ MASK) == nd->v[k][j])
                        j++;
                    if (j == n) found++;
                }
            }
        }
    }
    free(buf);
    close(fd);
    fclose(maps);
    return found;
}

/* ---- helpers ------------------------------------------------------------------- */

static struct hilt_store *open_store(const struct env *v)
{
    struct hilt_err e = {0};
    struct hilt_store *st = hilt_store_open(v->url, &e);
    if (!st) fprintf(stderr, "%s\n", e.msg);
    assert_non_null(st);
    return st;
}

static void verify(struct hilt_ca *ca, X509 *leaf)
{
    X509_STORE *store = X509_STORE_new();
    assert_int_equal(hilt_store_add(store, ca->roots), 0);
    STACK_OF(X509) *peer = sk_X509_new_null();
    sk_X509_push(peer, leaf);
    for (int i = 0; i < sk_X509_num(ca->chain); i++)
        sk_X509_push(peer, sk_X509_value(ca->chain, i));
    struct hilt_verify res;
    assert_int_equal(hilt_verify_chain(store, peer, NULL, hilt_now(), 2, 0, &res, NULL), 0);
    assert_true(res.ok);
    hilt_verify_free(&res);
    sk_X509_free(peer);
    X509_STORE_free(store);
}

static int issue(struct hilt_ca *ca, const char *name, struct hilt_issued *out, struct hilt_err *e)
{
    const char *names[] = {name};
    struct hilt_issue_req r = {.names = names, .nnames = 1, .lifetime = 86400};
    return hilt_ca_issue(ca, &r, out, e);
}

static struct hilt_ca *open_ca_proc(struct hilt_store *st, const struct env *v,
                                    const struct hilt_signer_proc_opts *o)
{
    struct hilt_err e = {0};
    struct hilt_ca *ca = hilt_ca_open(st, v->home, NULL, &e);
    assert_non_null(ca);
    int rc = hilt_ca_use_signer_process(ca, o, &e);
    if (rc) fprintf(stderr, "signer: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(hilt_signer_kind(ca->signer), "process");
    return ca;
}

/* ---- tests ----------------------------------------------------------------------- */

static void signs_and_never_holds_key(void **state)
{
    (void)state;
    struct env v;
    make_ca_elsewhere(&v, "ec-p256");
    struct needles nd;
    load_needles(&v, &nd);
    struct hilt_store *st = open_store(&v);
    struct hilt_signer_proc_opts o = {.timeout_ms = 5000};
    struct hilt_ca *ca = open_ca_proc(st, &v, &o);
    struct hilt_err e = {0};
    struct hilt_issued out = {0};
    assert_int_equal(issue(ca, "a.example.test", &out, &e), 0);
    verify(ca, out.cert);
    /* a batch goes through the batched exchange */
    struct hilt_issue_req reqs[300];
    struct hilt_issued outs[300];
    const char *nm[] = {"b.example.test"};
    for (int i = 0; i < 300; i++)
        reqs[i] = (struct hilt_issue_req){.names = nm, .nnames = 1, .key_type = "ec-p256"};
    assert_int_equal(hilt_ca_issue_batch(ca, reqs, 300, outs, &e), 0);
    verify(ca, outs[299].cert);
    for (int i = 0; i < 300; i++)
        hilt_issued_free(&outs[i]);
    /* a CRL and an OCSP response, through the shell key */
    char crl[600];
    snprintf(crl, sizeof(crl), "%s/pub/full.crl", v.home);
    struct hilt_crl_stats cs;
    assert_int_equal(hilt_ca_publish_crls(ca, crl, NULL, 3600, &cs, &e), 0);
    FILE *cf = fopen(crl, "r");
    assert_non_null(cf);
    X509_CRL *x = PEM_read_X509_CRL(cf, NULL, NULL, NULL);
    fclose(cf);
    assert_non_null(x);
    assert_int_equal(X509_CRL_verify(x, X509_get0_pubkey(ca->issuer)), 1);
    X509_CRL_free(x);
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, out.cert, ca->issuer);
    struct hilt_ocsp_single one = {id, HILT_OCSP_GOOD, 0, -1, hilt_now(), hilt_now() + 3600};
    struct hilt_ocsp_signer sg = {ca->issuer, NULL, hilt_signer_key(ca->signer), NULL};
    struct hilt_buf resp;
    hilt_buf_init(&resp, HILT_OCSP_RESP_MAX);
    assert_int_equal(hilt_ocsp_resp_build(&one, 1, &sg, NULL, hilt_now(), &resp, &e), 0);
    const unsigned char *q = resp.data;
    OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &q, (long)resp.len);
    OCSP_BASICRESP *bs = r ? OCSP_response_get1_basic(r) : NULL;
    assert_non_null(bs);
    assert_int_equal(OCSP_basic_verify(bs, ca->chain, NULL, OCSP_NOVERIFY), 1);
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(r);
    OCSP_CERTID_free(id);
    hilt_buf_free(&resp);

    /* The search: never in this process while signing through the child. */
    uint64_t t0 = hilt_mono_us();
    assert_int_equal(scan_memory(&nd), 0);
    print_message("searched this process's memory for the key in %.2fs\n",
                  (double)(hilt_mono_us() - t0) / 1e6);
    /* ... and found once the key is loaded here: the search can see it. */
    char kp[600];
    snprintf(kp, sizeof(kp), "%s/ca/hilt/intermediate.key", v.home);
    EVP_PKEY *k = hilt_key_load(kp, &e);
    assert_non_null(k);
    assert_true(scan_memory(&nd) > 0);
    EVP_PKEY_free(k);

    hilt_issued_free(&out);
    hilt_ca_close(ca);
    hilt_store_close(st);
    drop_env(&v);
}

static void reexec_and_rsa(void **state)
{
    (void)state;
    const char *hilt = getenv("HILT");
    if (!hilt || access(hilt, X_OK)) {
        print_message("SKIP: $HILT (the hilt binary) is not set; re-exec mode untested here\n");
        skip();
    }
    struct env v;
    make_ca_elsewhere(&v, "rsa-2048");
    struct hilt_store *st = open_store(&v);
    struct hilt_signer_proc_opts o = {.exec_path = hilt, .timeout_ms = 5000};
    struct hilt_ca *ca = open_ca_proc(st, &v, &o);
    struct hilt_err e = {0};
    struct hilt_issued out = {0};
    assert_int_equal(issue(ca, "rsa.example.test", &out, &e), 0);
    verify(ca, out.cert);
    /* the child is a fresh image of hilt, not a copy of this test */
    char exe[600], link[64];
    snprintf(link, sizeof(link), "/proc/%d/exe", (int)hilt_signer_pid(ca->signer));
    ssize_t n = readlink(link, exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *real = realpath(hilt, NULL);
        assert_non_null(real);
        assert_string_equal(exe, real);
        free(real);
    }
    hilt_issued_free(&out);
    hilt_ca_close(ca);
    hilt_store_close(st);
    drop_env(&v);
}

static void killed_signer(void **state)
{
    (void)state;
    struct env v;
    make_ca_elsewhere(&v, "ec-p256");
    struct hilt_store *st = open_store(&v);
    struct hilt_signer_proc_opts o = {.timeout_ms = 5000};
    struct hilt_ca *ca = open_ca_proc(st, &v, &o);
    pid_t pid = hilt_signer_pid(ca->signer);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    struct hilt_err e = {0};
    struct hilt_issued out = {0};
    uint64_t t0 = hilt_mono_us();
    assert_int_equal(issue(ca, "k.example.test", &out, &e), -1);
    assert_true(hilt_mono_us() - t0 < 2000000); /* no hang */
    assert_non_null(strstr(e.msg, "killed by signal 9"));
    /* and every later request fails the same way, at once */
    assert_int_equal(issue(ca, "k2.example.test", &out, &e), -1);
    assert_non_null(strstr(e.msg, "no signing possible"));
    hilt_ca_close(ca);
    hilt_store_close(st);
    drop_env(&v);
}

static void stopped_signer(void **state)
{
    (void)state;
    struct env v;
    make_ca_elsewhere(&v, "ec-p256");
    struct hilt_store *st = open_store(&v);
    struct hilt_signer_proc_opts o = {.timeout_ms = 300};
    struct hilt_ca *ca = open_ca_proc(st, &v, &o);
    pid_t pid = hilt_signer_pid(ca->signer);
    assert_int_equal(kill(pid, SIGSTOP), 0);
    struct hilt_err e = {0};
    struct hilt_issued out = {0};
    uint64_t t0 = hilt_mono_us();
    assert_int_equal(issue(ca, "s.example.test", &out, &e), -1);
    uint64_t took = hilt_mono_us() - t0;
    assert_true(took >= 250000 && took < 3000000);
    assert_non_null(strstr(e.msg, "within 300 ms and was killed"));
    assert_int_equal(kill(pid, 0), -1); /* reaped */
    hilt_ca_close(ca);
    hilt_store_close(st);
    drop_env(&v);
}

static void child_cannot_load(void **state)
{
    (void)state;
    struct hilt_ca_signer *s = NULL;
    struct hilt_err e = {0};
    assert_int_equal(hilt_signer_open_process("file:/nonexistent/ca.key", "/tmp", NULL, &s, &e),
                     -1);
    assert_null(s);
    assert_non_null(strstr(e.msg, "cannot read /nonexistent/ca.key"));
    assert_int_equal(hilt_signer_open_process("nope:x", "/tmp", NULL, &s, &e), -1);
    assert_non_null(strstr(e.msg, "unknown key reference"));
}

static void protocol_bounds(void **state)
{
    (void)state;
    struct hilt_sigproto_req r;
    struct hilt_err e = {0};
    uint8_t d[64 * 3] = {0};
    struct hilt_buf b;
    hilt_buf_init(&b, HILT_SIGPROTO_FRAME_MAX + 8);
    /* round trip */
    assert_int_equal(hilt_sigproto_req_encode(&b, HILT_SIGOP_SIGN, HILT_SIGMD_SHA256, d, 3, 32), 0);
    assert_int_equal(hilt_sigproto_req_parse(b.data + 4, b.len - 4, &r, &e), 0);
    assert_int_equal(r.count, 3);
    assert_int_equal(r.dlen, 32);
    /* a digest short, a digest long, a wrong version, an unknown op and md, no digests */
    assert_int_equal(hilt_sigproto_req_parse(b.data + 4, b.len - 5, &r, &e), -1);
    assert_non_null(strstr(e.msg, "digest bytes"));
    const uint8_t bad_ver[] = {2, 1};
    assert_int_equal(hilt_sigproto_req_parse(bad_ver, 2, &r, &e), -1);
    const uint8_t bad_op[] = {1, 9};
    assert_int_equal(hilt_sigproto_req_parse(bad_op, 2, &r, &e), -1);
    const uint8_t bad_md[] = {1, 2, 7, 0, 1};
    assert_int_equal(hilt_sigproto_req_parse(bad_md, 5, &r, &e), -1);
    const uint8_t zero[] = {1, 2, 1, 0, 0};
    assert_int_equal(hilt_sigproto_req_parse(zero, 5, &r, &e), -1);
    const uint8_t many[] = {1, 2, 1, 0xff, 0xff};
    assert_int_equal(hilt_sigproto_req_parse(many, 5, &r, &e), -1);
    assert_int_equal(hilt_sigproto_req_parse(bad_ver, 1, &r, &e), -1);
    assert_int_equal(hilt_sigproto_req_parse(NULL, 0, &r, &e), -1);
    /* responses: an error response carries the child's message */
    assert_int_equal(hilt_sigproto_err_encode(&b, "no key"), 0);
    uint8_t sigs[HILT_SIG_MAX];
    size_t lens[1];
    assert_int_equal(hilt_sigproto_sign_resp_parse(b.data + 4, b.len - 4, 1, sigs, lens, &e), -1);
    assert_non_null(strstr(e.msg, "signer: no key"));
    const uint8_t oversig[] = {0, 0, 1, 0xff, 0xff};
    assert_int_equal(hilt_sigproto_sign_resp_parse(oversig, 5, 1, sigs, lens, &e), -1);
    hilt_buf_free(&b);
}

/* A batch large enough to be split across threads (file keys): every
 * signature verifies against its own digest, in its own slot. */
static void parallel_batch(void **state)
{
    (void)state;
    struct hilt_err e = {0};
    char dir[] = "/tmp/hilt-sig-par.XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/k.pem", dir);
    struct hilt_keyspec ks;
    assert_int_equal(hilt_keyspec_parse("ec-p256", &ks, &e), 0);
    EVP_PKEY *k = hilt_key_generate(&ks, &e);
    assert_non_null(k);
    assert_int_equal(hilt_key_save(path, k, &e), 0);
    char ref[80];
    snprintf(ref, sizeof(ref), "file:%s", path);
    struct hilt_ca_signer *s = NULL;
    assert_int_equal(hilt_signer_open(ref, "/", &s, &e), 0);
    enum { N = 301 };
    static uint8_t dg[N * 32], sigs[N * HILT_SIG_MAX];
    static size_t lens[N];
    for (size_t i = 0; i < sizeof(dg); i++)
        dg[i] = (uint8_t)(i * 131 + 7);
    assert_int_equal(hilt_signer_sign_digests(s, NID_sha256, dg, 32, N, sigs, lens, &e), 0);
    EVP_PKEY_CTX *vc = EVP_PKEY_CTX_new(k, NULL);
    assert_non_null(vc);
    assert_int_equal(EVP_PKEY_verify_init(vc), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(vc, EVP_sha256()), 1);
    for (size_t i = 0; i < N; i++) {
        assert_true(lens[i] > 0 && lens[i] <= HILT_SIG_MAX);
        assert_int_equal(EVP_PKEY_verify(vc, sigs + i * HILT_SIG_MAX, lens[i], dg + i * 32, 32), 1);
        /* and not against its neighbour's digest */
        size_t j = (i + 1) % N;
        assert_int_not_equal(EVP_PKEY_verify(vc, sigs + i * HILT_SIG_MAX, lens[i], dg + j * 32, 32),
                             1);
    }
    ERR_clear_error();
    EVP_PKEY_CTX_free(vc);
    hilt_signer_close(s);
    EVP_PKEY_free(k);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signs_and_never_holds_key),
        cmocka_unit_test(reexec_and_rsa),
        cmocka_unit_test(killed_signer),
        cmocka_unit_test(stopped_signer),
        cmocka_unit_test(child_cannot_load),
        cmocka_unit_test(protocol_bounds),
        cmocka_unit_test(parallel_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
