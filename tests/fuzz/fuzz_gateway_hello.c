/* fuzz_gateway_hello.c - libFuzzer target: the ClientHello path exactly as the
 * gateway runs it. The input is what a client sends first; it goes through a
 * real gateway server context (built once from a generated certificate and a
 * config with SNI routes and ALPN) via a memory BIO, so the gateway's own
 * message callback (raw ClientHello capture → hilt_client_hello_parse →
 * hilt_ja4), its client-hello callback (SNI → certificate set and route), its
 * ALPN callback, the failure classification, the observed-offers record and
 * its JSON, and the event line all see fuzzed bytes. */
#include "core/buf.h"
#include "core/err.h"
#include "core/fileio.h"
#include "gateway/gw_int.h"
#include "telemetry/classify.h"
#include "telemetry/event.h"
#include "telemetry/observed.h"
#include "tls/hello.h"
#include "x509/key.h"
#include "x509/mint.h"
#include "x509/pem.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct gw_gen *gen;
static struct obs_table *obs;

static void setup(void)
{
    char dir[] = "/tmp/hilt-fuzz-gw.XXXXXX";
    if (!mkdtemp(dir)) abort();
    struct hilt_keyspec ks = {HILT_KEY_EC, 256};
    EVP_PKEY *k = hilt_key_generate(&ks, NULL);
    struct hilt_cert_spec s;
    hilt_cert_spec_init(&s, "fuzz.example", 30);
    const char *sans[] = {"DNS:fuzz.example", "DNS:*.wild.example"};
    s.sans = sans;
    s.nsans = 2;
    X509 *x = hilt_mint(&s, k, NULL, NULL);
    struct hilt_buf b;
    char p[256];
    hilt_buf_init(&b, 1 << 16);
    hilt_certs_to_pem(&b, &x, 1);
    snprintf(p, sizeof(p), "%s/c.pem", dir);
    hilt_file_write_atomic(p, b.data, b.len, 0644, NULL);
    hilt_buf_reset(&b);
    hilt_key_to_pem(k, &b, NULL);
    snprintf(p, sizeof(p), "%s/k.pem", dir);
    hilt_file_write_atomic(p, b.data, b.len, 0600, NULL);
    hilt_buf_free(&b);
    X509_free(x);
    EVP_PKEY_free(k);
    const char *yaml = "listeners:\n"
                       "  - name: fuzz\n"
                       "    listen: 127.0.0.1:0\n"
                       "    profile: intermediate\n"
                       "    alpn: [h2, http/1.1]\n"
                       "    certificates: [{cert: c.pem, key: k.pem}]\n"
                       "    routes:\n"
                       "      - {sni: fuzz.example, backend: a}\n"
                       "      - {sni: \"*.wild.example\", backend: a}\n"
                       "backends: [{name: a, servers: [\"127.0.0.1:1\"]}]\n";
    snprintf(p, sizeof(p), "%s/gw.yaml", dir);
    struct gw_config *cfg = NULL;
    struct hilt_err e = {0};
    if (gw_config_load_mem(yaml, strlen(yaml), p, &cfg, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        abort();
    }
    struct gw_tickets *t = gw_tickets_new(&e); /* the process ring the contexts use */
    (void)t;
    gen = gw_gen_build(cfg, NULL, 1, NULL, NULL, 0, &e);
    if (!gen) {
        fprintf(stderr, "%s\n", e.msg);
        abort();
    }
    obs = obs_new(64);
    snprintf(p, sizeof(p), "rm -rf %s", dir);
    if (system(p)) {
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!gen) setup();
    struct gw_listener *L = &gen->listeners[0];
    struct gw_conn c;
    memset(&c, 0, sizeof(c));
    c.l = L;
    c.var = &L->variants[0];
    c.alert_sent = c.alert_recv = -1;
    c.st = ST_HS;
    SSL *s = SSL_new(c.var->sets[0].ctx);
    BIO *rb = BIO_new_mem_buf(data, (int)size), *wb = BIO_new(BIO_s_mem());
    SSL_set_bio(s, rb, wb);
    SSL_set_app_data(s, &c);
    SSL_set_accept_state(s);
    ERR_clear_error();
    int rc = SSL_do_handshake(s);
    unsigned long err = ERR_peek_error();
    if (rc != 1) {
        struct hs_facts f = {.flags = c.hsflags,
                             .reason = ERR_GET_REASON(err),
                             .alert_sent = c.alert_sent,
                             .alert_received = c.alert_recv,
                             .first = c.nfirst ? c.first : NULL,
                             .nfirst = c.nfirst,
                             .hello = c.hello,
                             .profile = L->cfg->profile};
        enum hilt_code code = hs_classify(&f);
        if (c.hello) obs_record(obs, c.hello, c.ja4, hilt_code_name(code), 1);
        struct hilt_buf b;
        hilt_buf_init(&b, 1 << 16);
        struct hs_event ev = {.listener = "fuzz",
                              .variant = c.var->id,
                              .client = "127.0.0.1:1",
                              .sni = c.hello && c.hello->has_sni ? c.hello->sni : NULL,
                              .code = hilt_code_name(code),
                              .ja4 = c.ja4[0] ? c.ja4 : NULL};
        hs_event_append(&b, &ev);
        json_t *j = json_loadb((const char *)b.data, b.len, 0, NULL);
        if (!j) abort(); /* every event line must be valid JSON */
        json_decref(j);
        hilt_buf_free(&b);
        if (obs_count(obs) > 32) {
            json_t *o = obs_json(obs);
            char *str = json_dumps(o, 0);
            free(str);
            json_decref(o);
        }
    }
    ERR_clear_error();
    SSL_free(s);
    free(c.hello);
    return 0;
}
