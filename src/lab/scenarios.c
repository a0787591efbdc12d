/* scenarios.c - the lab's scenario table and the list that `--list` prints.
 *
 * Each row is broken in exactly one way; everything it does not mention is
 * the healthy default (EC P-256 leaf valid from an hour ago for 90 days, via
 * an intermediate under the scenario's own root, full chain sent, TLS 1.2 and
 * 1.3, SANs IP:127.0.0.1, DNS:localhost and DNS:NAME.lab.hilt.test). The row
 * position is the port offset; keep rows in offset order and never reuse an
 * offset, so ports stay stable as the table grows.
 */
#include "lab/lab_int.h"

#include "core/err.h"
#include "core/json.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define H 3600L
#define D 86400L

/* clang-format off */
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define OK_ {1, NULL, NULL}
#define FAILS(code) {0, code, NULL}
/* clang-format on */

const struct lab_row lab_rows[] = {
    {.pub = {"healthy", 0, "nothing wrong: EC P-256 leaf via an intermediate, full chain sent", OK_,
             NULL}},
    {.pub = {"expired", 1, "the leaf expired two days ago (notAfter = now - 2d)",
             FAILS("cert_expired"), NULL},
     .not_before = -90 * D,
     .not_after = -2 * D,
     .validity_set = 1},
    {.pub = {"not-yet-valid", 2,
             "the leaf becomes valid in two days, and the server's clock agrees with ours",
             FAILS("cert_not_yet_valid"), NULL},
     .not_before = 2 * D,
     .not_after = 90 * D,
     .validity_set = 1},
    {.pub = {"clock-skew", 3,
             "the leaf is valid from now + 2h and the server's HTTP Date says now + 3h: by the "
             "server's clock it is valid, ours is behind",
             FAILS("clock_skew"), NULL},
     .not_before = 2 * H,
     .not_after = 90 * D,
     .validity_set = 1,
     .date_skew = 3 * H},
    {.pub = {"self-signed", 4, "the leaf signs itself; ca.pem holds an unrelated root of the lab",
             FAILS("self_signed"), NULL},
     .pki = LAB_P_SELF_SIGNED},
    {.pub = {"untrusted-root", 5,
             "the full chain, root included, ends at a root that is not in ca.pem",
             FAILS("untrusted_root"), NULL},
     .pki = LAB_P_ROGUE_ROOT},
    {.pub = {"incomplete-chain", 6,
             "the server sends the leaf without its intermediate; the leaf's AIA caIssuers URL "
             "(served by the lab) gives the missing certificate",
             FAILS("chain_incomplete"), NULL},
     .pki = LAB_P_LEAF_ONLY | LAB_P_AIA_ISSUER},
    {.pub = {"wrong-host", 7, "the leaf names only DNS:wrong-host.example, not 127.0.0.1",
             FAILS("hostname_mismatch"), NULL},
     .pki = LAB_P_WRONG_HOST},
    {.pub = {"revoked", 8,
             "the leaf's OCSP responder (run by the lab) answers revoked (keyCompromise)",
             FAILS("cert_revoked"), NULL},
     .pki = LAB_P_OCSP,
     .ocsp = HILT_OCSP_REVOKED},
    {.pub = {"rsa-1024", 9, "the leaf has a 1024-bit RSA key", FAILS("weak_key"), NULL},
     .leaf_key = "rsa-1024",
     .level0 = 1},
    {.pub = {"sha1-signature", 10, "the leaf is signed with SHA-1", FAILS("weak_signature"), NULL},
     .leaf_digest = "sha1",
     .level0 = 1},
    {.pub = {"tls10-only", 11, "the server speaks TLS 1.0 and nothing newer",
             FAILS("protocol_version_mismatch"), NULL},
     .min_version = TLS1_VERSION,
     .max_version = TLS1_VERSION,
     .ciphers = "DEFAULT",
     .level0 = 1},
    {.pub = {"no-shared-cipher", 12,
             "TLS 1.2 only, with the single suite ECDHE-ECDSA-ARIA128-GCM-SHA256, which an "
             "OpenSSL 3 client does not offer by default",
             FAILS("no_shared_cipher"), NULL},
     .min_version = TLS1_2_VERSION,
     .max_version = TLS1_2_VERSION,
     .ciphers = "ECDHE-ECDSA-ARIA128-GCM-SHA256"},
    {.pub = {"dh-1024", 13,
             "TLS 1.2 DHE-RSA only, with a 1024-bit Diffie-Hellman group (RSA-2048 leaf)",
             FAILS("weak_dh"), NULL},
     .leaf_key = "rsa-2048",
     .min_version = TLS1_2_VERSION,
     .max_version = TLS1_2_VERSION,
     .ciphers = "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384",
     .level0 = 1,
     .srv = LAB_S_DH1024},
    {.pub = {"client-cert-required", 14,
             "the server demands a client certificate and the probe sends none (a valid one is "
             "in client.pem/client.key)",
             FAILS("client_cert_required"), NULL},
     .pki = LAB_P_CLIENT_AUTH},
    {.pub = {"client-cert-rejected", 15,
             "the server demands a client certificate from its own CA; client.pem is issued by "
             "another CA",
             FAILS("client_cert_rejected"),
             ARGS("--client-cert", "@client.pem", "--client-key", "@client.key")},
     .pki = LAB_P_CLIENT_AUTH | LAB_P_CLIENT_ROGUE},
    {.pub = {"sni-required", 16,
             "the server aborts with a fatal unrecognized_name alert unless SNI names "
             "sni-required.lab.hilt.test or localhost",
             FAILS("sni_required"), NULL},
     .srv = LAB_S_SNI_REQUIRED},
    {.pub = {"alpn-mismatch", 17,
             "the server speaks ALPN h2 only and aborts with no_application_protocol; the probe "
             "offers http/1.1",
             FAILS("alpn_mismatch"), ARGS("--alpn", "http/1.1")},
     .srv = LAB_S_ALPN_H2},
    {.pub = {"no-shared-group", 18,
             "TLS 1.3 only, key exchange ffdhe2048 only; the modern profile offers "
             "X25519/P-256/P-384",
             FAILS("no_shared_group"), ARGS("--profile", "modern")},
     .min_version = TLS1_3_VERSION,
     .max_version = TLS1_3_VERSION,
     .groups = "ffdhe2048"},
    {.pub = {"must-staple-without-staple", 19,
             "the leaf requires OCSP stapling (TLS Feature status_request) and the server does "
             "not staple",
             FAILS("ocsp_staple_missing"), NULL},
     .pki = LAB_P_MUST_STAPLE | LAB_P_OCSP,
     .ocsp = HILT_OCSP_GOOD},
    {.pub = {"bad-key-usage", 20, "the leaf's extendedKeyUsage is clientAuth only",
             FAILS("bad_key_usage"), NULL},
     .pki = LAB_P_EKU_CLIENT},
    {.pub = {"not-tls", 21, "an SSH server: it sends its banner and waits", FAILS("not_tls"), NULL},
     .kind = LAB_NOT_TLS},
    {.pub = {"stall", 22, "accepts the connection, then never reads or writes",
             FAILS("handshake_timeout"), ARGS("--timeout", "300")},
     .kind = LAB_STALL},
    {.pub = {"reset-after-hello", 23, "reads the ClientHello, then resets the connection (RST)",
             FAILS("connection_reset"), NULL},
     .kind = LAB_RESET},
    {.pub = {"refused", 24, "nothing listens on the port (it is held bound, so it stays free)",
             FAILS("connect_refused"), NULL},
     .kind = LAB_REFUSED},
    {.pub = {"expiring-soon",
             25,
             "healthy, but the leaf expires in five days: ok, with an expiring_soon warning",
             {1, NULL, "expiring_soon"},
             NULL},
     .not_before = -85 * D,
     .not_after = 5 * D,
     .validity_set = 1},
};

const size_t lab_nrows = sizeof(lab_rows) / sizeof(lab_rows[0]);

size_t hilt_lab_count(void)
{
    return lab_nrows;
}

const struct hilt_lab_scenario *hilt_lab_at(size_t i)
{
    return i < lab_nrows ? &lab_rows[i].pub : NULL;
}

const struct hilt_lab_scenario *hilt_lab_find(const char *name)
{
    for (size_t i = 0; i < lab_nrows; i++)
        if (!strcmp(lab_rows[i].pub.name, name)) return &lab_rows[i].pub;
    return NULL;
}

int hilt_lab_opts_check(const struct hilt_lab_opts *o, struct hilt_err *e)
{
    if (o->base_port < 1 || o->base_port > HILT_LAB_BASE_MAX)
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "--base-port %ld: must be from 1 to %d (the lab uses the %d ports "
                            "from there)",
                            o->base_port, HILT_LAB_BASE_MAX, HILT_LAB_SPAN);
    for (size_t i = 0; i < o->nonly; i++)
        if (!hilt_lab_find(o->only[i]))
            return hilt_err_set(e, HILT_E_USAGE, 0,
                                "--only: there is no scenario named '%s' (see hilt lab --list)",
                                o->only[i]);
    if (o->dir && !o->dir[0]) return hilt_err_set(e, HILT_E_USAGE, 0, "--dir: empty path");
    return 0;
}

int hilt_lab_selected(const struct hilt_lab_opts *o, size_t i)
{
    if (i >= lab_nrows) return 0;
    if (!o->only || !o->nonly) return 1;
    for (size_t k = 0; k < o->nonly; k++)
        if (!strcmp(o->only[k], lab_rows[i].pub.name)) return 1;
    return 0;
}

/* "@file" -> DIR/NAME/file; anything else as is. */
static void expand_arg(const struct hilt_lab_scenario *sc, const char *dir, const char *a,
                       char *out, size_t cap)
{
    if (a[0] == '@')
        snprintf(out, cap, "%s/%s/%s", dir ? dir : "DIR", sc->name, a + 1);
    else
        snprintf(out, cap, "%s", a);
}

static json_t *args_json(const struct hilt_lab_scenario *sc, long base, const char *dir)
{
    char buf[4400];
    json_t *a = json_array();
    json_array_append_new(a, json_string("--ca-file"));
    snprintf(buf, sizeof(buf), "%s/%s/ca.pem", dir ? dir : "DIR", sc->name);
    json_array_append_new(a, hilt_json_str(buf));
    for (size_t i = 0; sc->args && sc->args[i]; i++) {
        expand_arg(sc, dir, sc->args[i], buf, sizeof(buf));
        json_array_append_new(a, hilt_json_str(buf));
    }
    snprintf(buf, sizeof(buf), "127.0.0.1:%ld", base + sc->offset);
    json_array_append_new(a, json_string(buf));
    return a;
}

json_t *hilt_lab_list_json(const struct hilt_lab_opts *o, const char *dir)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < lab_nrows; i++) {
        if (!hilt_lab_selected(o, i)) continue;
        const struct hilt_lab_scenario *sc = &lab_rows[i].pub;
        json_t *ex = json_object();
        json_object_set_new(ex, "ok", json_boolean(sc->expect.ok));
        json_object_set_new(ex, "code",
                            sc->expect.code ? json_string(sc->expect.code) : json_null());
        json_object_set_new(ex, "finding",
                            sc->expect.finding ? json_string(sc->expect.finding) : json_null());
        json_t *j = json_object();
        json_object_set_new(j, "name", json_string(sc->name));
        json_object_set_new(j, "port", json_integer(o->base_port + sc->offset));
        json_object_set_new(j, "description", json_string(sc->description));
        json_object_set_new(j, "expect", ex);
        json_object_set_new(j, "args", args_json(sc, o->base_port, dir));
        json_array_append_new(arr, j);
    }
    return arr;
}

/* Quote for a POSIX shell only when needed. */
static void shell_word(const char *w, char *out, size_t cap)
{
    int plain = w[0] != '\0';
    for (const char *p = w; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@,=+%", *p))
            plain = 0;
    if (plain) {
        snprintf(out, cap, "%s", w);
        return;
    }
    size_t n = 0;
    if (cap < 3) return;
    out[n++] = '\'';
    for (const char *p = w; *p && n + 6 < cap; p++) {
        if (*p == '\'') {
            memcpy(out + n, "'\\''", 4);
            n += 4;
        } else {
            out[n++] = *p;
        }
    }
    out[n++] = '\'';
    out[n] = '\0';
}

void hilt_lab_args_line(const struct hilt_lab_scenario *sc, long base_port, const char *dir,
                        char *out, size_t cap)
{
    json_t *a = args_json(sc, base_port, dir);
    size_t n = 0;
    if (cap) out[0] = '\0';
    for (size_t i = 0; i < json_array_size(a); i++) {
        char w[4500];
        shell_word(json_string_value(json_array_get(a, i)), w, sizeof(w));
        int k = snprintf(out + n, cap - n, "%s%s", i ? " " : "", w);
        if (k < 0 || (size_t)k >= cap - n) break;
        n += (size_t)k;
    }
    json_decref(a);
}

void lab_http_url(const struct hilt_lab *lab, const struct lab_row *row, const char *what,
                  char *out, size_t cap)
{
    snprintf(out, cap, "http://127.0.0.1:%u/%s/%s", lab->http_port, row->pub.name, what);
}
