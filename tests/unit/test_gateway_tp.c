/* test_gateway_tp.c - the gateway's trust-plane parts without sockets:
 * the config of issue: certificates, shared tickets and passthrough routes
 * (every error with file:line:col), the renewal point and backoff, sealing of
 * ticket keys (tampering, another ring, period or wrapping key), key sync
 * between two "nodes" on one SQLite store under a fake clock (the same keys,
 * one key per period however many nodes race, the next period's key ahead of
 * time, expiry at the window's end, another wrapping key refused), and the
 * SNI-passthrough peek of a ClientHello (split records, partial input,
 * non-TLS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "gateway/config.h"
#include "gateway/peek.h"
#include "gateway/tickets.h"
#include "gateway/tp.h"
#include "store/store.h"
#include "store/store_gateway.h"
#include "tls/hello.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- config ----------------------------------------------------------------------------- */

static const char *base = "store: postgres://hilt@db.internal/hilt\n"
                          "listeners:\n"
                          "  - name: web\n"
                          "    listen: 127.0.0.1:9447\n"
                          "    profile: modern\n"
                          "    certificates:\n"
                          "      - issue: {names: [www.example.test, 10.0.0.1], lifetime: 24h,\n"
                          "                owner: payments}\n"
                          "    routes:\n"
                          "      - {sni: db.example.test, backend: db, passthrough: true}\n"
                          "      - {sni: \"*\", backend: app}\n"
                          "backends:\n"
                          "  - name: app\n"
                          "    servers: [\"127.0.0.1:8080\"]\n"
                          "  - name: db\n"
                          "    servers: [\"127.0.0.1:5432\"]\n"
                          "tickets: {rotate: 10m, store: tk.db, store_key: wrap.key}\n";

static char *edit(const char *from, const char *to)
{
    static char out[4096];
    const char *p = strstr(base, from);
    if (!p) fail_msg("'%s' not in the base config", from);
    snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - base), base, to, p + strlen(from));
    return out;
}

static void expect_err(const char *yaml, const char *want)
{
    struct gw_config *c = NULL;
    struct hilt_err e;
    hilt_err_clear(&e);
    if (gw_config_load_mem(yaml, strlen(yaml), "gw.yaml", &c, &e) == 0) {
        gw_config_free(&c);
        fail_msg("accepted: %s", yaml);
    }
    assert_int_equal(e.kind, HILT_E_INPUT);
    if (!strstr(e.msg, want)) fail_msg("got '%s', want '%s'", e.msg, want);
}

static void config_trust_plane(void **st)
{
    (void)st;
    struct gw_config *c = NULL;
    struct hilt_err e;
    hilt_err_clear(&e);
    if (gw_config_load_mem(base, strlen(base), "/etc/hilt/gw.yaml", &c, &e) < 0)
        fail_msg("%s", e.msg);
    assert_string_equal(c->store, "postgres://hilt@db.internal/hilt");
    struct gw_issuecfg *is = c->listeners[0].certs[0].issue;
    assert_non_null(is);
    assert_null(c->listeners[0].certs[0].cert);
    assert_int_equal(is->nnames, 2);
    assert_string_equal(is->key, "ec-p256");
    assert_string_equal(is->ca, "hilt");
    assert_int_equal(is->lifetime, 86400);
    assert_int_equal(is->renew_before, 0);
    assert_string_equal(is->owner, "payments");
    assert_string_equal(is->service, "web"); /* defaults to the listener */
    assert_int_equal(strlen(is->id), 12);
    assert_int_equal(c->nissue, 1);
    assert_int_equal(c->listeners[0].npassthrough, 1);
    assert_true(c->listeners[0].routes[0].passthrough);
    assert_false(c->listeners[0].routes[1].passthrough);
    assert_string_equal(c->ticket_store, "/etc/hilt/tk.db"); /* relative to the config */
    assert_string_equal(c->ticket_store_key, "/etc/hilt/wrap.key");
    assert_string_equal(c->ticket_ring, "default");
    assert_int_equal(c->ticket_keep, 2);
    assert_int_equal(c->ticket_rotate_s, 600);
    assert_int_equal(c->ticket_poll_ms, 10000); /* a quarter of the rotation, at most 10 s */
    assert_int_equal(c->srclen, strlen(base));
    assert_memory_equal(c->src, base, c->srclen);
    /* the id names the certificate, not its order: same names in another order */
    char id[16];
    snprintf(id, sizeof(id), "%s", is->id);
    gw_config_free(&c);
    const char *swapped = edit("[www.example.test, 10.0.0.1]", "[10.0.0.1, www.example.test]");
    assert_int_equal(gw_config_load_mem(swapped, strlen(swapped), "/x/gw.yaml", &c, &e), 0);
    assert_string_equal(c->listeners[0].certs[0].issue->id, id);
    gw_config_free(&c);
    const char *rsa = edit("lifetime: 24h,", "lifetime: 24h, key: rsa-2048,");
    assert_int_equal(gw_config_load_mem(rsa, strlen(rsa), "/x/gw.yaml", &c, &e), 0);
    assert_string_not_equal(c->listeners[0].certs[0].issue->id, id);
    gw_config_free(&c);
    /* sqlite: and URLs are kept as they are */
    const char *sq = edit("store: tk.db", "store: sqlite:tk.db");
    assert_int_equal(gw_config_load_mem(sq, strlen(sq), "/x/gw.yaml", &c, &e), 0);
    assert_string_equal(c->ticket_store, "sqlite:tk.db");
    gw_config_free(&c);
    /* a listener whose every route passes through needs no certificates */
    const char *pt = "listeners:\n"
                     "  - name: p\n"
                     "    listen: 127.0.0.1:9448\n"
                     "    profile: modern\n"
                     "    routes: [{sni: \"*\", backend: db, passthrough: true}]\n"
                     "backends: [{name: db, servers: [\"127.0.0.1:5432\"]}]\n";
    assert_int_equal(gw_config_load_mem(pt, strlen(pt), "/x/gw.yaml", &c, &e), 0);
    assert_int_equal(c->listeners[0].ncerts, 0);
    gw_config_free(&c);
}

static void config_trust_plane_errors(void **st)
{
    (void)st;
    expect_err(edit("lifetime: 24h", "lifetime: 1m"),
               "gw.yaml:7:64: listeners[0].certificates[0].issue.lifetime: at least 300s");
    expect_err(edit("lifetime: 24h", "lifetime: soon"),
               "issue.lifetime: expected a duration such as 30m, 24h, 90d; got 'soon'");
    expect_err(edit("lifetime: 24h", "lifetime: 24h, renew_before: 30h"),
               "issue.renew_before: must be shorter than the lifetime");
    expect_err(edit("lifetime: 24h", "lifetime: 24h, key: ec-p257"),
               "listeners[0].certificates[0].issue.key:");
    expect_err(edit("lifetime: 24h", "lifetme: 24h"),
               "issue: unknown key 'lifetme' (did you mean 'lifetime'?)");
    expect_err(edit("names: [www.example.test, 10.0.0.1]", "names: []"),
               "listeners[0].certificates[0].issue.names: at least one name");
    expect_err(edit("      - issue: {", "      - cert: a.pem\n        issue: {"),
               "either cert and key (files) or issue (from the CA), not both");
    expect_err(edit("                owner: payments}\n",
                    "                owner: payments}\n"
                    "      - issue: {names: [10.0.0.1, www.example.test]}\n"),
               "the same certificate (names, key, CA) as certificates[0]");
    expect_err(edit("backend: db, passthrough: true}", "backend: db, passthrough: true, alpn: h2}"),
               "listeners[0].routes[0].alpn: a passthrough route matches on the SNI only");
    expect_err(edit("backend: db, passthrough: true}", "backend: db, passthrough: maybe}"),
               "listeners[0].routes[0].passthrough: expected true or false");
    expect_err(edit("    servers: [\"127.0.0.1:5432\"]\n",
                    "    servers: [\"127.0.0.1:5432\"]\n    tls: {enabled: true}\n"),
               "listeners[0].routes[0].backend: backend 'db' speaks TLS; a passthrough route "
               "needs a plain TCP backend");
    expect_err(edit("store: tk.db, store_key: wrap.key", "store: tk.db"),
               "gw.yaml:17:31: tickets.store: needs store_key");
    expect_err(edit("store: tk.db, store_key: wrap.key", "store_key: wrap.key"),
               "tickets.store_key: store_key goes with store");
    expect_err(edit("store: tk.db,", "store: tk.db, keys_file: k.bin,"),
               "keys_file and store are two ways to share keys; pick one");
    expect_err(edit("rotate: 10m,", "rotate: 10m, ring: \"a b\","),
               "tickets.ring: a ring name is 1-64 of [A-Za-z0-9._-], got 'a b'");
    expect_err(edit("rotate: 10m,", "rotate: 10m, keep: 9,"),
               "tickets.keep: expected a whole number in 0..6");
    expect_err(edit("store: tk.db, store_key: wrap.key", "poll: 1s"),
               "tickets.poll: poll goes with store");
    expect_err(edit("rotate: 10m,", "rotat: 10m,"),
               "tickets: unknown key 'rotat' (did you mean 'rotate'?)");
    const char *no_certs = "listeners:\n"
                           "  - name: p\n"
                           "    listen: 127.0.0.1:9448\n"
                           "    profile: modern\n"
                           "    routes: [{sni: a.test, backend: db, passthrough: true},\n"
                           "             {sni: \"*\", backend: db}]\n"
                           "backends: [{name: db, servers: [\"127.0.0.1:5432\"]}]\n";
    expect_err(no_certs, "gw.yaml:2:5: listeners[0]: missing required key 'certificates' (only a "
                         "listener whose every route is passthrough needs none)");
}

/* ---- timing ---------------------------------------------------------------------------- */

static void renewal_timing(void **st)
{
    (void)st;
    const char *sha0 = "0000000000000000ffff", *shaf = "ffffffffffffffff0000";
    /* default: a third of the lifetime before notAfter (2/3 in), jitter up to a tenth of that */
    int64_t na = 1000000, life = 90000;
    assert_int_equal(gw_tp_renew_at(na, life, 0, sha0), na - 30000);
    int64_t r = gw_tp_renew_at(na, life, 0, shaf);
    assert_true(r <= na - 30000 && r >= na - 30000 - 3000);
    /* renew_before wins; the jitter never eats more than half the unrenewed time */
    assert_int_equal(gw_tp_renew_at(na, 300, 290, sha0), na - 290);
    r = gw_tp_renew_at(na, 300, 290, shaf);
    assert_true(r <= na - 290 && r >= na - 295);
    /* a renew_before not shorter than the lifetime falls back to a third */
    assert_int_equal(gw_tp_renew_at(na, 300, 300, sha0), na - 100);
    /* backoff: min(60 s, lifetime/20) doubling to min(6 h, lifetime/4), ±10 % */
    for (int a = 1; a <= 12; a++) {
        int64_t b = gw_tp_backoff(a, 86400, "x"), want = 60;
        for (int i = 1; i < a; i++)
            want *= 2;
        if (want > 6 * 3600) want = 6 * 3600;
        assert_true(b >= want - want / 10 && b <= want + want / 10);
    }
    assert_true(gw_tp_backoff(1, 300, "x") >= 13 && gw_tp_backoff(1, 300, "x") <= 17);
    assert_true(gw_tp_backoff(9, 300, "x") <= 83); /* capped at a quarter of 5 minutes */
    assert_true(gw_tp_backoff(9, 400 * 86400, "x") <= 6 * 3600 + 2160);
    /* the same attempt of two ids spreads */
    int differ = 0;
    for (int a = 1; a < 8; a++)
        differ |= gw_tp_backoff(a, 86400, "node-a") != gw_tp_backoff(a, 86400, "node-b");
    assert_true(differ);
}

/* ---- sealing ---------------------------------------------------------------------------- */

static char dir[64];

static void write_file(const char *name, const void *p, size_t n, mode_t mode, char *path)
{
    snprintf(path, 200, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
    chmod(path, mode);
}

static void make_dir(void)
{
    if (dir[0]) return;
    snprintf(dir, sizeof(dir), "/tmp/hilt-gwtp-unit.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void sealing(void **st)
{
    (void)st;
    make_dir();
    char p1[200], p2[200], p3[200], p4[200];
    struct hilt_err e;
    struct gw_wrap w1, w2, w3;
    write_file("w1.key", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", 65,
               0600, p1);
    uint8_t raw[32];
    memset(raw, 7, sizeof(raw));
    write_file("w2.key", raw, 32, 0600, p2);
    hilt_err_clear(&e);
    assert_int_equal(gw_wrap_load(p1, &w1, &e), 0);
    assert_int_equal(gw_wrap_load(p2, &w2, &e), 0);
    assert_int_equal(strlen(w1.id), 16);
    assert_string_not_equal(w1.id, w2.id);
    /* refused: readable by others, wrong size, absent */
    write_file("w3.key", raw, 32, 0644, p3);
    assert_int_equal(gw_wrap_load(p3, &w3, &e), -1);
    assert_non_null(strstr(e.msg, "readable by group or others (mode 0644); chmod 600 it"));
    write_file("w4.key", raw, 31, 0600, p4);
    assert_int_equal(gw_wrap_load(p4, &w3, &e), -1);
    assert_non_null(strstr(e.msg, "expected a 32-byte ticket wrapping key"));
    snprintf(p4, sizeof(p4), "%s/absent.key", dir);
    assert_int_equal(gw_wrap_load(p4, &w3, &e), -1);
    assert_int_equal(e.kind, HILT_E_INPUT);

    struct gw_tkey k, out;
    memset(&k, 0, sizeof(k));
    for (int i = 0; i < 16; i++)
        k.name[i] = (uint8_t)(0xa0 + i);
    memset(k.hmac, 0x11, 32);
    memset(k.aes, 0x22, 32);
    k.period = 1800000000;
    uint8_t sealed[GW_SEALED_LEN];
    assert_int_equal(gw_tkey_seal(&w1, "edge", &k, sealed, &e), 0);
    /* the key halves are nowhere in the sealed bytes */
    uint8_t h[32];
    memset(h, 0x11, 32);
    assert_null(memmem(sealed, sizeof(sealed), h, 8));
    const char *name = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
    assert_int_equal(gw_tkey_unseal(&w1, "edge", k.period, name, sealed, sizeof(sealed), &out, &e),
                     0);
    assert_memory_equal(out.hmac, k.hmac, 32);
    assert_memory_equal(out.aes, k.aes, 32);
    assert_memory_equal(out.name, k.name, 16);
    assert_int_equal(out.period, k.period);
    /* anything else does not open: another wrapping key, ring, period, name, a flipped bit */
    assert_int_equal(gw_tkey_unseal(&w2, "edge", k.period, name, sealed, sizeof(sealed), &out, &e),
                     -1);
    assert_non_null(strstr(e.msg, "does not open with this wrapping key"));
    assert_int_equal(gw_tkey_unseal(&w1, "other", k.period, name, sealed, sizeof(sealed), &out, &e),
                     -1);
    assert_int_equal(
        gw_tkey_unseal(&w1, "edge", k.period + 600, name, sealed, sizeof(sealed), &out, &e), -1);
    assert_int_equal(gw_tkey_unseal(&w1, "edge", k.period, "b0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
                                    sealed, sizeof(sealed), &out, &e),
                     -1);
    for (size_t i = 0; i < sizeof(sealed); i += 13) {
        sealed[i] ^= 1;
        assert_int_equal(
            gw_tkey_unseal(&w1, "edge", k.period, name, sealed, sizeof(sealed), &out, &e), -1);
        sealed[i] ^= 1;
    }
    assert_int_equal(gw_tkey_unseal(&w1, "edge", k.period, name, sealed, 40, &out, &e), -1);
    assert_int_equal(gw_tkey_unseal(&w1, "edge", k.period, "zz", sealed, sizeof(sealed), &out, &e),
                     -1);
    gw_wrap_clear(&w1);
    gw_wrap_clear(&w2);
}

/* ---- sync between two nodes ------------------------------------------------------------------ */

static time_t fake;
static time_t fake_clock(void *arg)
{
    (void)arg;
    return fake;
}

static void ticket_sync(void **st)
{
    (void)st;
    make_dir();
    char db[200], wp[200], wp2[200];
    snprintf(db, sizeof(db), "%s/tk.db", dir);
    struct hilt_err e;
    hilt_err_clear(&e);
    uint8_t raw[32], raw2[32];
    memset(raw, 0x5a, 32);
    memset(raw2, 0x3c, 32);
    write_file("sync.key", raw, 32, 0600, wp);
    write_file("sync2.key", raw2, 32, 0600, wp2);
    struct gw_wrap w, w2;
    assert_int_equal(gw_wrap_load(wp, &w, &e), 0);
    assert_int_equal(gw_wrap_load(wp2, &w2, &e), 0);
    struct hilt_store *sa = hilt_store_open(db, &e), *sb = hilt_store_open(db, &e);
    if (!sa || !sb) fail_msg("%s", e.msg);
    /* the ring the contexts use is process-wide: a and b stand for two nodes in turn */
    struct gw_tickets *t = gw_tickets_new(&e);
    assert_non_null(t);
    fake = 1800000000 + 5; /* 5 s into a 60 s period */
    hilt_clock_set(fake_clock, NULL);
    struct gw_tsync a = {
        .st = sa, .ring = "edge", .wrap = &w, .rotate_s = 60, .keep = 1, .actor = "gateway:a"};
    struct gw_tsync b = a;
    b.st = sb;
    b.actor = "gateway:b";
    assert_int_equal(gw_tickets_sync(t, &a, fake, &e), 0);
    assert_int_equal(a.made, 2); /* this period's and the next */
    struct gw_tickets_info ia, ib;
    gw_tickets_info(t, &ia);
    assert_int_equal(ia.source, GW_TSRC_STORE);
    assert_int_equal(ia.nkeys, 2);
    assert_int_equal(ia.current_period, 1800000000 - 1800000000 % 60);
    assert_int_equal(ia.current_not_after, ia.current_period + 120); /* rotate × (1 + keep) */
    assert_int_equal(gw_tickets_sync(t, &b, fake, &e), 0);
    assert_int_equal(b.made, 0); /* node b finds them */
    gw_tickets_info(t, &ib);
    assert_string_equal(ia.current, ib.current);
    /* the next period: its key was made ahead of time; nobody makes it again */
    fake += 60;
    assert_int_equal(gw_tickets_sync(t, &b, fake, &e), 0);
    assert_int_equal(b.made, 1); /* only the one after it */
    gw_tickets_info(t, &ib);
    assert_string_not_equal(ib.current, ia.current);
    assert_int_equal(ib.nkeys, 3); /* next, current, previous (keep 1) */
    assert_int_equal(gw_tickets_sync(t, &a, fake, &e), 0);
    assert_int_equal(a.made, 0);
    gw_tickets_info(t, &ia);
    assert_string_equal(ia.current, ib.current);
    /* two periods on: the first key's window (rotate × (1 + keep)) has closed */
    fake += 60;
    assert_int_equal(gw_tickets_sync(t, &a, fake, &e), 0);
    gw_tickets_info(t, &ia);
    assert_int_equal(ia.nkeys, 3);
    /* between polls, expiry drops keys past their window */
    gw_tickets_expire(t, fake + 61);
    gw_tickets_info(t, &ia);
    assert_int_equal(ia.nkeys, 2);
    assert_string_not_equal(ia.current, ""); /* the next period's key encrypts now */
    gw_tickets_expire(t, fake + 1000);
    gw_tickets_info(t, &ia);
    assert_int_equal(ia.nkeys, 0);
    assert_string_equal(ia.current, "");
    /* a node with another wrapping key cannot use the ring's keys and says why */
    struct gw_tsync c = a;
    c.wrap = &w2;
    assert_int_equal(gw_tickets_sync(t, &c, fake, &e), -1);
    assert_non_null(strstr(e.msg, "tickets.store_key differs between nodes"));
    assert_int_equal(c.foreign, 3);
    /* another ring is independent */
    struct gw_tsync d = a;
    d.ring = "other";
    d.wrap = &w2;
    assert_int_equal(gw_tickets_sync(t, &d, fake, &e), 0);
    assert_int_equal(d.made, 2);
    /* one row per (ring, period), whoever raced; every creation audited once */
    struct hilt_audit_check chk;
    assert_int_equal(hilt_store_audit_verify(sa, &chk, &e), 0);
    assert_true(chk.ok);
    assert_int_equal(chk.records, 6); /* edge: 4 periods, other: 2 */
    int64_t pruned = 0;
    assert_int_equal(hilt_store_gw_tkey_prune(sa, fake + 100000, &pruned, &e), 0);
    assert_int_equal(pruned, 6);
    hilt_clock_set(NULL, NULL);
    gw_tickets_free(&t);
    hilt_store_close(sa);
    hilt_store_close(sb);
    gw_wrap_clear(&w);
    gw_wrap_clear(&w2);
}

/* ---- the peek -------------------------------------------------------------------------------- */

static void peek(void **st)
{
    (void)st;
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 16);
    static const uint16_t ciphers[] = {0x1301, 0x1302, 0xc02b};
    static const uint16_t versions[] = {0x0304, 0x0303};
    static const uint16_t groups[] = {0x001d};
    struct hilt_ch_spec spec = {.client_version = 0x0303,
                                .ciphers = ciphers,
                                .nciphers = 3,
                                .versions = versions,
                                .nversions = 2,
                                .groups = groups,
                                .ngroups = 1,
                                .key_shares = groups,
                                .nkey_shares = 1,
                                .sni = "db.example.test",
                                .alpn = "h2"};
    struct hilt_err e;
    assert_int_equal(hilt_client_hello_build(&spec, &b, &e), 0);
    size_t used = 0, n = b.len;
    assert_int_equal(gw_peek_hello(b.data, n, &used), GW_PEEK_HELLO);
    assert_int_equal(used, n);
    /* every prefix asks for more */
    for (size_t i = 0; i < n; i++)
        assert_int_equal(gw_peek_hello(b.data, i, &used), GW_PEEK_MORE);
    /* with application bytes after it: the hello's records only */
    uint8_t buf[4096];
    memcpy(buf, b.data, n);
    memcpy(buf + n, "\x17\x03\x03\x00\x01X", 6);
    assert_int_equal(gw_peek_hello(buf, n + 6, &used), GW_PEEK_HELLO);
    assert_int_equal(used, n);
    /* the same hello over three records, split inside the handshake header */
    size_t body = n - 5, k = 0;
    size_t cuts[3][2] = {{5, 2}, {7, 100}, {107, body - 102}};
    for (int i = 0; i < 3; i++) {
        size_t len = cuts[i][1];
        buf[k++] = 22, buf[k++] = 3, buf[k++] = 1, buf[k++] = (uint8_t)(len >> 8),
        buf[k++] = (uint8_t)len;
        memcpy(buf + k, b.data + cuts[i][0], len);
        k += len;
    }
    assert_int_equal(gw_peek_hello(buf, k, &used), GW_PEEK_HELLO);
    assert_int_equal(used, k);
    assert_int_equal(gw_peek_hello(buf, k - 1, &used), GW_PEEK_MORE);
    struct hilt_client_hello h;
    assert_int_equal(hilt_client_hello_parse(buf, k, 1, &h), 0);
    assert_string_equal(h.sni, "db.example.test");
    /* not a hello */
    assert_int_equal(gw_peek_hello((const uint8_t *)"GET / HTTP/1.1\r\n", 16, &used),
                     GW_PEEK_NOT_HELLO);
    assert_int_equal(gw_peek_hello((const uint8_t *)"G", 1, &used), GW_PEEK_NOT_HELLO);
    assert_int_equal(gw_peek_hello((const uint8_t *)"SSH-2.0-x\r\n", 11, &used), GW_PEEK_NOT_HELLO);
    static const uint8_t empty_rec[] = {22, 3, 1, 0, 0};
    assert_int_equal(gw_peek_hello(empty_rec, 5, &used), GW_PEEK_NOT_HELLO);
    static const uint8_t server_hello[] = {22, 3, 3, 0, 4, 2, 0, 0, 0};
    assert_int_equal(gw_peek_hello(server_hello, sizeof(server_hello), &used), GW_PEEK_NOT_HELLO);
    static const uint8_t huge_rec[] = {22, 3, 1, 0x40, 0x01};
    assert_int_equal(gw_peek_hello(huge_rec, 5, &used), GW_PEEK_NOT_HELLO);
    static const uint8_t huge_hello[] = {22, 3, 1, 0, 4, 1, 0x01, 0, 0};
    assert_int_equal(gw_peek_hello(huge_hello, sizeof(huge_hello), &used), GW_PEEK_NOT_HELLO);
    static const uint8_t sslv2[] = {0x80, 0x2e, 0x01, 0x00, 0x02};
    assert_int_equal(gw_peek_hello(sslv2, 5, &used), GW_PEEK_NOT_HELLO);
    assert_int_equal(gw_peek_hello(NULL, 0, &used), GW_PEEK_MORE);
    hilt_buf_free(&b);
}

static int teardown(void **st)
{
    (void)st;
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd)) return -1;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_trust_plane), cmocka_unit_test(config_trust_plane_errors),
        cmocka_unit_test(renewal_timing),     cmocka_unit_test(sealing),
        cmocka_unit_test(ticket_sync),        cmocka_unit_test(peek),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
