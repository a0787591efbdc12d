/* test_simulate.c - client simulation (scan/simulate.h) against real OpenSSL
 * servers behind memory BIOs: each client's own hello, the server's answer
 * judged as that client would, certificate trust included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "policy/clients.h"
#include "scan/simulate.h"
#include "x509/key.h"
#include "x509/mint.h"
#include "x509/verify.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#define HOST "www.sim.test"

struct pki {
    EVP_PKEY *root_key, *int_key;
    X509 *root, *inter;
};

static EVP_PKEY *key(int rsa, int bits)
{
    struct hilt_keyspec ks = {rsa ? HILT_KEY_RSA : HILT_KEY_EC, bits};
    EVP_PKEY *k = hilt_key_generate(&ks, NULL);
    assert_non_null(k);
    return k;
}

static void pki_init(struct pki *p)
{
    p->root_key = key(0, 256);
    p->int_key = key(0, 256);
    struct hilt_cert_spec cs;
    hilt_cert_spec_init(&cs, "CN=Sim Root,O=hilt tests", 3650);
    cs.is_ca = 1;
    p->root = hilt_mint(&cs, p->root_key, NULL, NULL);
    hilt_cert_spec_init(&cs, "CN=Sim Intermediate,O=hilt tests", 1825);
    cs.is_ca = 1;
    cs.path_len = 0;
    struct hilt_signer rs = {p->root, p->root_key};
    p->inter = hilt_mint(&cs, p->int_key, &rs, NULL);
    assert_non_null(p->root);
    assert_non_null(p->inter);
}

static void pki_free(struct pki *p)
{
    X509_free(p->root);
    X509_free(p->inter);
    EVP_PKEY_free(p->root_key);
    EVP_PKEY_free(p->int_key);
}

struct leaf {
    EVP_PKEY *key;
    X509 *cert;
};

static void leaf_init(struct leaf *l, const struct pki *p, int rsa, int bits, const char *digest)
{
    l->key = key(rsa, bits);
    struct hilt_cert_spec cs;
    hilt_cert_spec_init(&cs, "CN=" HOST, 90);
    const char *sans[] = {"DNS:" HOST};
    cs.sans = sans;
    cs.nsans = 1;
    cs.digest = digest;
    cs.ca_issuers_url = "http://127.0.0.1:9/sim-int.der";
    struct hilt_signer is = {p->inter, p->int_key};
    l->cert = hilt_mint(&cs, l->key, &is, NULL);
    assert_non_null(l->cert);
}

static void leaf_free(struct leaf *l)
{
    X509_free(l->cert);
    EVP_PKEY_free(l->key);
}

/* One server connection in memory: the client's hello in, the server's flight out. */
static size_t serve(const struct leaf *l, X509 *inter, int min, int max, const char *ciphers,
                    const struct hilt_buf *hello, uint8_t *out, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_dh_auto(ctx, 1);
    SSL_CTX_set_min_proto_version(ctx, min);
    SSL_CTX_set_max_proto_version(ctx, max);
    if (ciphers) assert_int_equal(SSL_CTX_set_cipher_list(ctx, ciphers), 1);
    assert_int_equal(SSL_CTX_use_certificate(ctx, l->cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, l->key), 1);
    if (inter) {
        X509_up_ref(inter);
        SSL_CTX_add0_chain_cert(ctx, inter);
    }
    SSL *ssl = SSL_new(ctx);
    BIO *in = BIO_new(BIO_s_mem()), *bout = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, in, bout);
    SSL_set_accept_state(ssl);
    BIO_write(in, hello->data, (int)hello->len);
    SSL_do_handshake(ssl);
    ERR_clear_error();
    size_t n = 0;
    int got;
    while (n < cap && (got = BIO_read(bout, out + n, (int)(cap - n))) > 0)
        n += (size_t)got;
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return n;
}

static const struct hilt_client *client(const char *id)
{
    const struct hilt_client *c = hilt_clients_find(hilt_clients_builtin(NULL), id);
    assert_non_null(c);
    return c;
}

struct env {
    struct pki pki;
    X509_STORE *store;
    STACK_OF(X509) * aia;
    struct hilt_sim_target t;
};

static void env_init(struct env *v)
{
    memset(v, 0, sizeof(*v));
    pki_init(&v->pki);
    v->store = X509_STORE_new();
    X509_STORE_add_cert(v->store, v->pki.root);
    v->aia = sk_X509_new_null();
    X509_up_ref(v->pki.inter);
    sk_X509_push(v->aia, v->pki.inter);
    v->t.host = HOST;
    v->t.store = v->store;
    v->t.private_anchors = 1;
    v->t.aia = v->aia;
    v->t.aia_fetched = 1;
}

static void env_free(struct env *v)
{
    sk_X509_pop_free(v->aia, X509_free);
    X509_STORE_free(v->store);
    pki_free(&v->pki);
}

/* Simulate one client against one in-memory server configuration. */
static void sim(const struct env *v, const char *id, const struct leaf *l, int send_inter, int min,
                int max, const char *ciphers, struct hilt_sim_result *r)
{
    const struct hilt_client *c = client(id);
    struct hilt_buf hello;
    hilt_buf_init(&hello, 1 << 16);
    assert_int_equal(hilt_sim_hello(c, &v->t, &hello, NULL), 0);
    static uint8_t buf[65536];
    size_t n =
        serve(l, send_inter ? v->pki.inter : NULL, min, max, ciphers, &hello, buf, sizeof(buf));
    /* Never decisive on a prefix of the server's first record, and never a crash. */
    for (size_t k = 0; k < 5 && k < n; k++)
        assert_int_equal(hilt_sim_judge(c, &v->t, buf, k, 0, r), 0);
    assert_int_equal(hilt_sim_judge(c, &v->t, buf, n, 1, r), 1);
    assert_string_equal(r->client, id);
    if (!r->connects) assert_true(r->reason[0]);
    hilt_buf_free(&hello);
}

static void tls13_only_server_locks_out_old_clients(void **st)
{
    (void)st;
    struct env v;
    env_init(&v);
    struct leaf l;
    leaf_init(&l, &v.pki, 0, 256, "sha256");
    struct hilt_sim_result r;
    const char *old[] = {"android-4.4", "ie-11-win7", "java-7u25", "ie-8-xp", "mbedtls-2.28"};
    for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
        sim(&v, old[i], &l, 1, TLS1_3_VERSION, TLS1_3_VERSION, NULL, &r);
        assert_false(r.connects);
        assert_int_equal(r.code, HILT_C_PROTOCOL_VERSION_MISMATCH);
    }
    /* Chrome connects; TLS 1.3 hides the chain, so without one from the scanner it is not judged.
     */
    sim(&v, "chrome-101-win10", &l, 1, TLS1_3_VERSION, TLS1_3_VERSION, NULL, &r);
    assert_true(r.connects);
    assert_int_equal(r.version, 0x0304);
    assert_int_equal(r.cipher, 0x1301);
    assert_int_equal(r.group, 0x001d);
    assert_int_equal(r.chain, HILT_SIM_CHAIN_NONE);
    assert_non_null(strstr(r.reason, "not judged"));
    /* With the scanner's chain: judged, and said so. */
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, l.cert);
    sk_X509_push(chain, v.pki.inter);
    v.t.chain = chain;
    sim(&v, "chrome-101-win10", &l, 1, TLS1_3_VERSION, TLS1_3_VERSION, NULL, &r);
    assert_true(r.connects);
    assert_int_equal(r.chain, HILT_SIM_CHAIN_SCANNER);
    json_t *j = hilt_sim_result_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "cipher")), "TLS_AES_128_GCM_SHA256");
    assert_string_equal(json_string_value(json_object_get(j, "group")), "x25519");
    assert_string_equal(json_string_value(json_object_get(j, "version")), "TLSv1.3");
    assert_string_equal(json_string_value(json_object_get(j, "chain")), "scanner");
    assert_true(json_is_null(json_object_get(j, "code")));
    json_decref(j);
    /* The scanner's chain with a wrong name fails the host check for TLS 1.3 clients too. */
    v.t.host = "other.test";
    sim(&v, "java-17", &l, 1, TLS1_3_VERSION, TLS1_3_VERSION, NULL, &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_HOSTNAME_MISMATCH);
    assert_non_null(strstr(r.reason, HOST));
    sk_X509_free(chain);
    leaf_free(&l);
    env_free(&v);
}

static void weak_rsa_key_by_each_clients_floor(void **st)
{
    (void)st;
    struct env v;
    env_init(&v);
    struct leaf l;
    leaf_init(&l, &v.pki, 1, 1024, "sha256");
    struct hilt_sim_result r;
    const char *strict[] = {"curl-debian12", "python-3.11-debian12", "safari-15.4-macos12",
                            "mbedtls-2.28"};
    for (size_t i = 0; i < sizeof(strict) / sizeof(strict[0]); i++) {
        sim(&v, strict[i], &l, 1, TLS1_2_VERSION, TLS1_2_VERSION,
            "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA", &r);
        assert_false(r.connects);
        assert_int_equal(r.code, HILT_C_WEAK_KEY);
        assert_non_null(strstr(r.reason, "rsa-1024"));
        assert_int_equal(r.chain, HILT_SIM_CHAIN_HANDSHAKE);
    }
    const char *lenient[] = {"chrome-101-win10", "android-4.4", "java-8u161"};
    for (size_t i = 0; i < sizeof(lenient) / sizeof(lenient[0]); i++) {
        sim(&v, lenient[i], &l, 1, TLS1_2_VERSION, TLS1_2_VERSION,
            "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA", &r);
        if (!r.connects) fprintf(stderr, "%s: %s\n", lenient[i], r.reason);
        assert_true(r.connects);
        assert_int_equal(r.version, 0x0303);
    }
    leaf_free(&l);
    env_free(&v);
}

static void missing_intermediate_and_aia(void **st)
{
    (void)st;
    struct env v;
    env_init(&v);
    struct leaf l;
    leaf_init(&l, &v.pki, 0, 256, "sha256");
    struct hilt_sim_result r;
    /* Libraries and Android do not fetch: chain_incomplete. */
    const char *lib[] = {"android-4.4", "curl-debian12", "java-8u161", "go-1.17"};
    for (size_t i = 0; i < sizeof(lib) / sizeof(lib[0]); i++) {
        sim(&v, lib[i], &l, 0, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
        assert_false(r.connects);
        assert_int_equal(r.code, HILT_C_CHAIN_INCOMPLETE);
        assert_non_null(strstr(r.reason, "Sim Intermediate"));
    }
    /* Firefox neither, and only preloads public intermediates. */
    sim(&v, "firefox-62-win7", &l, 0, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
    assert_int_equal(r.code, HILT_C_CHAIN_INCOMPLETE);
    assert_non_null(strstr(r.reason, "CCADB"));
    /* Browsers that fetch AIA connect, and the result says how. */
    const char *fetchers[] = {"chrome-101-win10", "ie-11-win7", "safari-10-osx1012"};
    for (size_t i = 0; i < sizeof(fetchers) / sizeof(fetchers[0]); i++) {
        sim(&v, fetchers[i], &l, 0, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
        if (!r.connects) fprintf(stderr, "%s: %s\n", fetchers[i], r.reason);
        assert_true(r.connects);
        assert_non_null(strstr(r.reason, "fetches it from http://127.0.0.1:9/sim-int.der"));
    }
    /* With the whole chain sent, everyone connects. */
    sim(&v, "android-4.4", &l, 1, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
    assert_true(r.connects);
    /* The scanner did not fetch the issuer: a fetching client cannot be judged connected. */
    v.t.aia = NULL;
    v.t.aia_fetched = 0;
    sim(&v, "chrome-101-win10", &l, 0, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_CHAIN_INCOMPLETE);
    assert_non_null(strstr(r.reason, "did not fetch"));
    /* Fetched, but nothing came back: still an intermediate the server should send. */
    v.t.aia_fetched = 1;
    sim(&v, "chrome-101-win10", &l, 0, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
    assert_int_equal(r.code, HILT_C_CHAIN_INCOMPLETE);
    assert_non_null(strstr(r.reason, "nothing usable could be fetched"));
    /* Fetched, and the completed chain ends at a root nobody trusts. */
    v.t.aia = v.aia;
    X509_STORE *empty = X509_STORE_new();
    v.t.store = empty;
    const char *both[] = {"chrome-101-win10", "android-4.4"};
    for (size_t i = 0; i < 2; i++) {
        sim(&v, both[i], &l, 0, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
        assert_int_equal(r.code, HILT_C_UNTRUSTED_ROOT);
        assert_non_null(strstr(r.reason, "Sim Root"));
    }
    v.t.store = v.store;
    X509_STORE_free(empty);
    leaf_free(&l);
    env_free(&v);
}

static void time_name_trust_and_sha1(void **st)
{
    (void)st;
    struct env v;
    env_init(&v);
    struct leaf l;
    leaf_init(&l, &v.pki, 0, 256, "sha256");
    struct hilt_sim_result r;
    v.t.now = hilt_now() + 200 * 86400;
    sim(&v, "android-7.0", &l, 1, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_CERT_EXPIRED);
    v.t.now = 0;
    v.t.host = "shop.other.test";
    sim(&v, "android-7.0", &l, 1, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
    assert_int_equal(r.code, HILT_C_HOSTNAME_MISMATCH);
    v.t.host = HOST;
    /* A trust store without the root. */
    X509_STORE *other = X509_STORE_new();
    v.t.store = other;
    sim(&v, "android-7.0", &l, 1, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
    assert_int_equal(r.code, HILT_C_UNTRUSTED_ROOT);
    X509_STORE_free(other);
    v.t.store = v.store;
    leaf_free(&l);
    /* SHA-1: refused by OpenSSL 3 clients and Apple everywhere, by Firefox under public roots only.
     */
    leaf_init(&l, &v.pki, 0, 256, "sha1");
    sim(&v, "curl-debian12", &l, 1, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
    assert_int_equal(r.code, HILT_C_WEAK_SIGNATURE);
    assert_non_null(strstr(r.reason, "SHA-1"));
    sim(&v, "android-7.0", &l, 1, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
    assert_true(r.connects);
    sim(&v, "firefox-62-win7", &l, 1, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
    assert_true(r.connects); /* the test root is private */
    v.t.private_anchors = 0;
    sim(&v, "firefox-62-win7", &l, 1, TLS1_2_VERSION, TLS1_2_VERSION, NULL, &r);
    assert_int_equal(r.code, HILT_C_WEAK_SIGNATURE);
    leaf_free(&l);
    env_free(&v);
}

static void old_tls10_cbc_server(void **st)
{
    (void)st;
    struct env v;
    env_init(&v);
    struct leaf l;
    leaf_init(&l, &v.pki, 1, 2048, "sha256");
    struct hilt_sim_result r;
    const char *ciphers = "ECDHE-RSA-AES128-SHA:AES128-SHA:DES-CBC3-SHA";
    /* Old clients are reached ... */
    const char *old[] = {"java-7u25", "ie-8-10-win7", "android-4.4", "dotnet-fw-4.5-win7"};
    for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
        sim(&v, old[i], &l, 1, TLS1_VERSION, TLS1_VERSION, ciphers, &r);
        if (!r.connects) fprintf(stderr, "%s: %s\n", old[i], r.reason);
        assert_true(r.connects);
        assert_int_equal(r.version, 0x0301);
    }
    /* ... modern ones refuse. */
    const char *modern[] = {"chrome-101-win10", "firefox-100-win10", "android-13-14", "java-17",
                            "edge-101-win10"};
    for (size_t i = 0; i < sizeof(modern) / sizeof(modern[0]); i++) {
        sim(&v, modern[i], &l, 1, TLS1_VERSION, TLS1_VERSION, ciphers, &r);
        assert_false(r.connects);
        assert_int_equal(r.code, HILT_C_PROTOCOL_VERSION_MISMATCH);
    }
    /* curl on Debian 12 still offers TLS 1.0 but refuses its MD5+SHA-1 ECDHE signature. */
    sim(&v, "curl-debian12", &l, 1, TLS1_VERSION, TLS1_VERSION, ciphers, &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_HANDSHAKE_FAILED);
    assert_non_null(strstr(r.reason, "MD5+SHA-1"));
    sim(&v, "curl-debian12", &l, 1, TLS1_VERSION, TLS1_VERSION, "AES128-SHA", &r);
    if (!r.connects) fprintf(stderr, "curl: %s\n", r.reason);
    assert_true(r.connects);
    assert_int_equal(r.cipher, 0x002f);
    leaf_free(&l);
    env_free(&v);
}

static void dh_groups_and_garbage(void **st)
{
    (void)st;
    struct env v;
    env_init(&v);
    struct leaf l;
    leaf_init(&l, &v.pki, 1, 2048, "sha256");
    struct hilt_sim_result r;
    /* OpenSSL's automatic DH for an RSA-2048 key is 2048 bits: too big for Java 7. */
    sim(&v, "java-7u25", &l, 1, TLS1_VERSION, TLS1_VERSION, "DHE-RSA-AES128-SHA", &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_HANDSHAKE_FAILED);
    assert_non_null(strstr(r.reason, "2048-bit DH"));
    /* Nothing the client offers: handshake_failure alert. */
    sim(&v, "chrome-101-win10", &l, 1, TLS1_2_VERSION, TLS1_2_VERSION, "DHE-RSA-AES256-SHA256", &r);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_NO_SHARED_CIPHER);
    /* Garbage, silence and a transport failure. */
    const struct hilt_client *c = client("android-9");
    const char *http = "HTTP/1.1 400 Bad Request\r\n\r\n";
    assert_int_equal(hilt_sim_judge(c, &v.t, (const uint8_t *)http, strlen(http), 0, &r), 1);
    assert_int_equal(r.code, HILT_C_NOT_TLS);
    assert_int_equal(hilt_sim_judge(c, &v.t, NULL, 0, 0, &r), 0);
    assert_int_equal(hilt_sim_judge(c, &v.t, NULL, 0, 1, &r), 1);
    assert_int_equal(r.code, HILT_C_CONNECTION_RESET);
    const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70};
    assert_int_equal(hilt_sim_judge(c, &v.t, alert, sizeof(alert), 0, &r), 1);
    assert_int_equal(r.code, HILT_C_SNI_REQUIRED);
    hilt_sim_fail(c, HILT_C_CONNECT_REFUSED, "127.0.0.1:1 refused the connection", &r);
    assert_false(r.connects);
    json_t *j = hilt_sim_result_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "connect_refused");
    assert_string_equal(json_string_value(json_object_get(j, "client")), "android-9");
    assert_true(json_is_null(json_object_get(j, "version")));
    json_decref(j);
    /* The blocking form reports a refused connection as a verdict, not an error. */
    assert_int_equal(hilt_sim_run(c, &v.t, "127.0.0.1", 1, 2000, &r, NULL), 0);
    assert_false(r.connects);
    assert_int_equal(r.code, HILT_C_CONNECT_REFUSED);
    leaf_free(&l);
    env_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tls13_only_server_locks_out_old_clients),
        cmocka_unit_test(weak_rsa_key_by_each_clients_floor),
        cmocka_unit_test(missing_intermediate_and_aia),
        cmocka_unit_test(time_name_trust_and_sha1),
        cmocka_unit_test(old_tls10_cbc_server),
        cmocka_unit_test(dh_groups_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
