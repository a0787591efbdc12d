/* test_store.c - the store, the same test bodies run against SQLite and
 * PostgreSQL: migrations, refusal of non-databases and newer schemas, CAs,
 * serial allocation, the inventory, revocation, the audit chain, and
 * concurrency (forked processes sharing one store never get duplicate
 * serials nor lose a revocation or an audit record).
 *
 * PostgreSQL: set HILT_TEST_PG_URL (tests/integration/store_pg.sh starts a
 * private server and runs this binary with it). Without it the PostgreSQL
 * group is skipped and says why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"
#include "store/store_int.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct backend {
    const char *kind;
    char url[1024];
    char dir[256];
};

static struct backend sqlite_be = {"sqlite", "", ""};
static struct backend pg_be = {"postgres", "", ""};

static void quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Raw SQL for the tests' own tampering (never used by hilt itself). */
static void raw(const struct backend *b, const char *sql)
{
    if (!strcmp(b->kind, "sqlite")) {
        sqlite3 *db = NULL;
        assert_int_equal(sqlite3_open(b->url, &db), SQLITE_OK);
        char *err = NULL;
        int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
        if (rc != SQLITE_OK) fprintf(stderr, "raw sqlite: %s\n", err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(db);
        assert_int_equal(rc, SQLITE_OK);
    } else {
        PGconn *c = PQconnectdb(b->url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        PQsetNoticeProcessor(c, quiet, NULL);
        PGresult *r = PQexec(c, sql);
        int st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            fprintf(stderr, "raw pg: %s\n", PQresultErrorMessage(r));
        PQclear(r);
        PQfinish(c);
        assert_true(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
    }
}

static int setup(void **state)
{
    struct backend *b = *state;
    if (!strcmp(b->kind, "sqlite")) {
        snprintf(b->dir, sizeof(b->dir), "/tmp/hilt-store-test.XXXXXX");
        if (!mkdtemp(b->dir)) return -1;
        snprintf(b->url, sizeof(b->url), "%s/hilt.db", b->dir);
    } else {
        const char *u = getenv("HILT_TEST_PG_URL");
        if (!u || !*u) return 0;
        snprintf(b->url, sizeof(b->url), "%s", u);
        raw(b, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    }
    return 0;
}

static int teardown(void **state)
{
    struct backend *b = *state;
    if (!strcmp(b->kind, "sqlite") && b->dir[0]) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
        if (system(cmd) != 0) return -1;
        b->dir[0] = '\0';
    }
    return 0;
}

static struct backend *be(void **state)
{
    struct backend *b = *state;
    if (!strcmp(b->kind, "postgres") && !b->url[0]) {
        print_message("SKIP: HILT_TEST_PG_URL is not set; run tests/integration/store_pg.sh "
                      "(it starts a private PostgreSQL)\n");
        skip();
    }
    return b;
}

static struct hilt_store *open_ok(const struct backend *b)
{
    struct hilt_err e = {0};
    struct hilt_store *s = hilt_store_open(b->url, &e);
    if (!s) fprintf(stderr, "open %s: %s\n", b->url, e.msg);
    assert_non_null(s);
    assert_string_equal(hilt_store_kind(s), b->kind);
    return s;
}

static void add_ca(struct hilt_store *s, const char *name)
{
    struct hilt_ca_rec r = {.name = (char *)name,
                            .key_type = "ec-p256",
                            .key_ref = "file:ca/x/intermediate.key",
                            .root_pem = "ROOT",
                            .cert_pem = "CERT",
                            .ocsp_url = "",
                            .crl_url = "",
                            .aia_url = "",
                            .allow_domains = "",
                            .max_lifetime = 86400,
                            .crl_shard_size = 100,
                            .next_seq = 1,
                            .crl_number = 0,
                            .created = 1};
    struct hilt_err e = {0};
    struct hilt_audit_ev ev = {"test", "ca.init", name, "ok"};
    assert_int_equal(hilt_store_ca_add(s, &r, &ev, &e), 0);
}

static void add_cert(struct hilt_store *s, int i, int64_t not_after, const char *ca)
{
    char serial[64], sha[65], names[64];
    snprintf(serial, sizeof(serial), "48%032x", i);
    snprintf(sha, sizeof(sha), "%064x", i);
    snprintf(names, sizeof(names), "host%d.example.test", i);
    uint8_t der[8] = {0x30, 0x06, 1, 2, 3, 4, 5, (uint8_t)i};
    struct hilt_cert_rec r = {.serial = serial,
                              .sha256 = sha,
                              .ca = (char *)ca,
                              .seq = i,
                              .shard = i / 100,
                              .subject = names,
                              .names = names,
                              .not_before = not_after - 86400,
                              .not_after = not_after,
                              .key_type = "ec-p256",
                              .owner = "team",
                              .service = "web",
                              .env = "prod"};
    struct hilt_err e = {0};
    int rc = hilt_store_cert_add(s, &r, der, sizeof(der), NULL, &e);
    if (rc) fprintf(stderr, "add_cert: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

/* ---- tests ------------------------------------------------------------------ */

static void migrate_and_reopen(void **state)
{
    struct backend *b = be(state);
    struct hilt_store *s = open_ok(b);
    int v = 0;
    assert_int_equal(hilt_store_schema_version(s, &v, NULL), 0);
    assert_int_equal(v, HILT_STORE_SCHEMA_VERSION);
    hilt_store_close(s);
    s = open_ok(b); /* a second open migrates nothing */
    assert_int_equal(hilt_store_schema_version(s, &v, NULL), 0);
    assert_int_equal(v, HILT_STORE_SCHEMA_VERSION);
    hilt_store_close(s);
}

/* A version-1 store with certificates and audit records migrates to the
 * current schema without losing a row or breaking the chain; afterwards
 * serials are unique per issuer, not globally. */
static void migrate_from_v1(void **state)
{
    struct backend *b = be(state);
    struct hilt_err e = {0};
    struct hilt_store *s = hilt_store_open_version(b->url, 1, &e);
    assert_non_null(s);
    int v = 0;
    assert_int_equal(hilt_store_schema_version(s, &v, NULL), 0);
    assert_int_equal(v, 1);
    hilt_store_close(s);
    /* rows as a version-1 hilt wrote them */
    raw(b, "INSERT INTO certs(serial, sha256, ca, seq, shard, subject, names, not_before, "
           "not_after, key_type, owner, service, env, status, source, revoked_at, revoke_reason, "
           "created) VALUES ('4801', 'aa', 'hilt', 1, 0, 'CN=a', 'a', 1, 4000000000, 'ec-p256', "
           "'o', 's', 'e', 'active', 'issued', NULL, NULL, 1)");
    raw(b, strcmp(b->kind, "sqlite") ? "INSERT INTO cert_der(cert_id, der) SELECT id, "
                                       "'\\x3000'::bytea FROM certs"
                                     : "INSERT INTO cert_der(cert_id, der) SELECT id, x'3000' "
                                       "FROM certs");
    s = open_ok(b);
    assert_int_equal(hilt_store_schema_version(s, &v, NULL), 0);
    assert_int_equal(v, HILT_STORE_SCHEMA_VERSION);
    struct hilt_cert_rec r;
    struct hilt_buf der;
    hilt_buf_init(&der, 1024);
    assert_int_equal(hilt_store_cert_get(s,
                                         "aa"
                                         "00000000000000000000000000000000000000000000"
                                         "000000000000000000",
                                         &r, &der, &e),
                     0);
    assert_int_equal(hilt_store_cert_get(s, "4801", &r, &der, &e), 1);
    assert_string_equal(r.owner, "o");
    assert_int_equal(der.len, 2);
    hilt_cert_rec_free(&r);
    /* the same serial from another issuer is a different certificate now */
    uint8_t d[2] = {0x30, 0x00};
    struct hilt_cert_rec other = {.serial = "4801",
                                  .sha256 = "bb",
                                  .seq = -1,
                                  .shard = -1,
                                  .subject = "CN=b",
                                  .names = "b",
                                  .not_before = 1,
                                  .not_after = 4000000000,
                                  .key_type = "ec-p256",
                                  .source = "imported",
                                  .issuer = "CN=Other CA",
                                  .issuer_key = "ff"};
    assert_int_equal(hilt_store_cert_add(s, &other, d, 2, NULL, &e), 0);
    other.sha256 = "cc"; /* but not twice from the same issuer */
    assert_int_equal(hilt_store_cert_add(s, &other, d, 2, NULL, &e), -1);
    assert_int_equal(e.code, HILT_STORE_CONFLICT);
    /* hilt's own is found first by serial */
    assert_int_equal(hilt_store_cert_get(s, "4801", &r, NULL, &e), 1);
    assert_string_equal(r.sha256, "aa");
    hilt_cert_rec_free(&r);
    hilt_buf_free(&der);
    hilt_store_close(s);
}

static void newer_schema_refused(void **state)
{
    struct backend *b = be(state);
    hilt_store_close(open_ok(b));
    raw(b, "INSERT INTO schema_version(version, applied_at) VALUES (99, 0)");
    struct hilt_err e = {0};
    assert_null(hilt_store_open(b->url, &e));
    assert_int_equal(e.kind, HILT_E_INPUT);
    assert_non_null(strstr(e.msg, "schema version 99 is newer"));
}

static void not_a_database(void **state)
{
    struct backend *b = be(state);
    if (strcmp(b->kind, "sqlite")) skip();
    const char junk[] = "this is not a database, it is a text file\n";
    FILE *f = fopen(b->url, "w");
    assert_non_null(f);
    fwrite(junk, 1, sizeof(junk) - 1, f);
    fclose(f);
    struct hilt_err e = {0};
    assert_null(hilt_store_open(b->url, &e));
    assert_int_equal(e.kind, HILT_E_INPUT);
    assert_non_null(strstr(e.msg, "is not a hilt store"));
    /* nothing written: same bytes, no WAL or journal beside it */
    struct stat st;
    assert_int_equal(stat(b->url, &st), 0);
    assert_int_equal(st.st_size, sizeof(junk) - 1);
    char side[1100];
    snprintf(side, sizeof(side), "%s-wal", b->url);
    assert_int_not_equal(access(side, F_OK), 0);
    snprintf(side, sizeof(side), "%s-journal", b->url);
    assert_int_not_equal(access(side, F_OK), 0);
    /* a directory is refused too */
    assert_null(hilt_store_open(b->dir, &e));
    assert_int_equal(e.kind, HILT_E_INPUT);
}

/* The store holds the inventory and the audit chain: 0600, and so are the
 * WAL and shared-memory files SQLite makes beside it. */
static void sqlite_file_modes(void **state)
{
    struct backend *b = be(state);
    mode_t old = umask(022);
    struct hilt_store *s = open_ok(b);
    add_ca(s, "modes"); /* a write, so the WAL exists while the handle is open */
    const char *sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char f[1100];
        snprintf(f, sizeof(f), "%s%s", b->url, sfx[i]);
        struct stat st;
        assert_int_equal(stat(f, &st), 0);
        if ((st.st_mode & 0777) != 0600) fprintf(stderr, "%s: mode %o\n", f, st.st_mode & 0777);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    hilt_store_close(s);
    /* a store left readable by others (older hilt, or by hand) is tightened */
    assert_int_equal(chmod(b->url, 0644), 0);
    hilt_store_close(open_ok(b));
    struct stat st;
    assert_int_equal(stat(b->url, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    umask(old);
}

static void unreachable_pg(void **state)
{
    (void)state; /* needs no server: nothing listens on port 1 */
    struct hilt_err e = {0};
    assert_null(hilt_store_open("postgresql://nobody:secret@127.0.0.1:1/x?connect_timeout=2", &e));
    assert_int_equal(e.kind, HILT_E_RUNTIME);
    assert_null(strstr(e.msg, "secret")); /* passwords never echoed */
    assert_non_null(strstr(e.msg, "cannot connect"));
}

static void ca_records(void **state)
{
    struct backend *b = be(state);
    struct hilt_store *s = open_ok(b);
    add_ca(s, "main");
    struct hilt_ca_rec r;
    struct hilt_err e = {0};
    assert_int_equal(hilt_store_ca_get(s, "main", &r, &e), 1);
    assert_string_equal(r.key_ref, "file:ca/x/intermediate.key");
    assert_int_equal(r.crl_shard_size, 100);
    hilt_ca_rec_free(&r);
    assert_int_equal(hilt_store_ca_get(s, "other", &r, &e), 0);
    /* a duplicate name is an input error, and the failed add leaves no audit record */
    struct hilt_ca_rec d = {.name = "main",
                            .key_type = "x",
                            .key_ref = "x",
                            .root_pem = "x",
                            .cert_pem = "x",
                            .max_lifetime = 1,
                            .crl_shard_size = 1};
    struct hilt_audit_ev ev = {"test", "ca.init", "main", "ok"};
    assert_int_equal(hilt_store_ca_add(s, &d, &ev, &e), -1);
    assert_int_equal(e.kind, HILT_E_INPUT);
    assert_non_null(strstr(e.msg, "already exists"));
    int64_t seq;
    char hash[65];
    assert_int_equal(hilt_store_audit_head(s, &seq, hash, &e), 0);
    assert_int_equal(seq, 1);
    hilt_store_close(s);
}

static void serial_allocation(void **state)
{
    struct backend *b = be(state);
    struct hilt_store *s = open_ok(b);
    add_ca(s, "main");
    int64_t a, c;
    struct hilt_err e = {0};
    assert_int_equal(hilt_store_serial_alloc(s, "main", 1, &a, &e), 0);
    assert_int_equal(a, 1);
    assert_int_equal(hilt_store_serial_alloc(s, "main", 10, &c, &e), 0);
    assert_int_equal(c, 2);
    assert_int_equal(hilt_store_serial_alloc(s, "main", 1, &a, &e), 0);
    assert_int_equal(a, 12);
    assert_int_equal(hilt_store_serial_alloc(s, "nope", 1, &a, &e), -1);
    assert_int_equal(e.kind, HILT_E_INPUT);
    assert_int_equal(hilt_store_crl_number_next(s, "main", &a, &e), 0);
    assert_int_equal(a, 1);
    assert_int_equal(hilt_store_crl_number_next(s, "main", &a, &e), 0);
    assert_int_equal(a, 2);
    hilt_store_close(s);
}

static void certs_roundtrip(void **state)
{
    struct backend *b = be(state);
    struct hilt_store *s = open_ok(b);
    add_ca(s, "main");
    time_t now = hilt_now();
    add_cert(s, 7, now + 86400, "main");
    struct hilt_cert_rec r;
    struct hilt_buf der;
    hilt_buf_init(&der, 4096);
    struct hilt_err e = {0};
    char serial[64];
    snprintf(serial, sizeof(serial), "48%032x", 7);
    assert_int_equal(hilt_store_cert_get(s, serial, &r, &der, &e), 1);
    assert_string_equal(r.names, "host7.example.test");
    assert_string_equal(r.owner, "team");
    assert_string_equal(r.status, "active");
    assert_string_equal(r.source, "issued");
    assert_int_equal(r.seq, 7);
    assert_int_equal(r.not_after, now + 86400);
    assert_int_equal(r.revoked_at, 0);
    assert_int_equal(der.len, 8);
    assert_int_equal(der.data[7], 7);
    hilt_cert_rec_free(&r);
    /* by SHA-256, typed with colons and in upper case */
    char sha[200] = "";
    for (int i = 0; i < 31; i++)
        strcat(sha, "00:");
    strcat(sha, "07");
    assert_int_equal(hilt_store_cert_get(s, sha, &r, NULL, &e), 1);
    hilt_cert_rec_free(&r);
    assert_int_equal(hilt_store_cert_get(s, "48ff", &r, NULL, &e), 0);
    assert_int_equal(hilt_store_cert_get(s, "not-hex", &r, NULL, &e), -1);
    assert_int_equal(e.kind, HILT_E_USAGE);
    /* duplicates are refused, by serial or by hash */
    struct hilt_cert_rec dup = {
        .serial = serial, .sha256 = "ab", .subject = "", .names = "", .key_type = ""};
    uint8_t d[2] = {1, 2};
    assert_int_equal(hilt_store_cert_add(s, &dup, d, 2, NULL, &e), -1);
    assert_int_equal(e.code, 23505);
    assert_int_equal(e.kind, HILT_E_INPUT);
    hilt_buf_free(&der);
    hilt_store_close(s);
}

struct collect {
    int64_t n;
    int64_t last_not_after;
    int ordered;
};

static int collect_cb(const struct hilt_cert_rec *r, const uint8_t *der, size_t dl, void *arg)
{
    (void)der;
    (void)dl;
    struct collect *c = arg;
    if (r->not_after < c->last_not_after) c->ordered = 0;
    c->last_not_after = r->not_after;
    c->n++;
    return 0;
}

static void expiring_and_revocation(void **state)
{
    struct backend *b = be(state);
    struct hilt_store *s = open_ok(b);
    add_ca(s, "main");
    time_t now = hilt_now();
    struct hilt_err e = {0};
    assert_int_equal(hilt_store_begin(s, &e), 0);
    for (int i = 1; i <= 250; i++)
        add_cert(s, i, now + (time_t)(i - 10) * 86400, "main");
    assert_int_equal(hilt_store_commit(s, &e), 0);
    /* within 30 days: i - 10 in [0, 30) -> i = 10..39 */
    struct hilt_cert_filter f = {.q = HILT_Q_EXPIRING, .from = now, .until = now + 30 * 86400};
    struct collect c = {0, 0, 1};
    assert_int_equal(hilt_store_cert_list(s, &f, collect_cb, &c, &e), 0);
    assert_int_equal(c.n, 30);
    assert_true(c.ordered);
    int64_t n;
    assert_int_equal(hilt_store_cert_count(s, &f, &n, &e), 0);
    assert_int_equal(n, 30);

    char serial[64];
    snprintf(serial, sizeof(serial), "48%032x", 12);
    struct hilt_audit_ev ev = {"test", "cert.revoke", serial, "ok"};
    assert_int_equal(hilt_store_cert_revoke(s, serial, 1, now, &ev, &e), 0);
    assert_int_equal(hilt_store_cert_revoke(s, serial, 4, now, &ev, &e), 1); /* already */
    assert_int_equal(hilt_store_cert_revoke(s, "48ffff", 1, now, &ev, &e), -1);
    assert_int_equal(e.kind, HILT_E_INPUT);
    /* a revoked certificate leaves the expiring list */
    assert_int_equal(hilt_store_cert_count(s, &f, &n, &e), 0);
    assert_int_equal(n, 29);
    struct hilt_cert_rec r;
    assert_int_equal(hilt_store_cert_get(s, serial, &r, NULL, &e), 1);
    assert_int_equal(r.revoke_reason, 1); /* the first reason stands */
    assert_string_equal(r.status, "revoked");
    hilt_cert_rec_free(&r);
    /* revoke in shard 2, and an expired one (left out of CRLs) */
    snprintf(serial, sizeof(serial), "48%032x", 205);
    assert_int_equal(hilt_store_cert_revoke(s, serial, 0, now, NULL, &e), 0);
    snprintf(serial, sizeof(serial), "48%032x", 3);
    assert_int_equal(hilt_store_cert_revoke(s, serial, 0, now, NULL, &e), 0);
    struct hilt_cert_filter rf = {.q = HILT_Q_REVOKED, .ca = "main", .from = now};
    assert_int_equal(hilt_store_cert_count(s, &rf, &n, &e), 0);
    assert_int_equal(n, 2);
    rf.q = HILT_Q_REVOKED_SHARD;
    rf.shard = 2;
    c = (struct collect){0, 0, 1};
    assert_int_equal(hilt_store_cert_list(s, &rf, collect_cb, &c, &e), 0);
    assert_int_equal(c.n, 1);
    hilt_store_close(s);
}

static void transactions(void **state)
{
    struct backend *b = be(state);
    struct hilt_store *s = open_ok(b);
    struct hilt_err e = {0};
    assert_int_equal(hilt_store_begin(s, &e), 0);
    add_cert(s, 1, hilt_now() + 100, NULL);
    hilt_store_rollback(s);
    struct hilt_cert_filter f = {.q = HILT_Q_ALL};
    int64_t n = -1;
    assert_int_equal(hilt_store_cert_count(s, &f, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_int_equal(hilt_store_begin(s, &e), 0);
    add_cert(s, 1, hilt_now() + 100, NULL);
    assert_int_equal(hilt_store_commit(s, &e), 0);
    assert_int_equal(hilt_store_cert_count(s, &f, &n, &e), 0);
    assert_int_equal(n, 1);
    hilt_store_close(s);
}

static void audit_n(struct hilt_store *s, int n)
{
    for (int i = 0; i < n; i++) {
        char obj[32];
        snprintf(obj, sizeof(obj), "object-%d", i + 1);
        struct hilt_audit_ev ev = {"tester", "test.action", obj, "ok"};
        assert_int_equal(hilt_store_audit_append(s, &ev, NULL), 0);
    }
}

static void check_audit(const struct backend *b, int ok, int64_t first_bad, const char *why)
{
    struct hilt_store *s = open_ok(b);
    struct hilt_audit_check c;
    assert_int_equal(hilt_store_audit_verify(s, &c, NULL), 0);
    if (c.ok != ok || c.first_bad != first_bad)
        fprintf(stderr, "audit: ok=%d first_bad=%lld reason=%s\n", c.ok, (long long)c.first_bad,
                c.reason);
    assert_int_equal(c.ok, ok);
    assert_int_equal(c.first_bad, first_bad);
    if (why) assert_non_null(strstr(c.reason, why));
    hilt_store_close(s);
}

static void audit_chain(void **state)
{
    struct backend *b = be(state);
    struct hilt_store *s = open_ok(b);
    audit_n(s, 6);
    hilt_store_close(s);
    check_audit(b, 1, 0, NULL);
    /* edited */
    raw(b, "UPDATE audit SET result = 'denied' WHERE seq = 3");
    check_audit(b, 0, 3, "edited");
    raw(b, "UPDATE audit SET result = 'ok' WHERE seq = 3");
    check_audit(b, 1, 0, NULL);
    /* reordered: records 2 and 4 swap places */
    raw(b, "UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 4; "
           "UPDATE audit SET seq = 4 WHERE seq = -2");
    check_audit(b, 0, 2, "link");
    raw(b, "UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 4; "
           "UPDATE audit SET seq = 4 WHERE seq = -2");
    check_audit(b, 1, 0, NULL);
    /* deleted from the middle, and from the end */
    raw(b, "DELETE FROM audit WHERE seq = 6");
    check_audit(b, 0, 6, "end");
    raw(b, "DELETE FROM audit WHERE seq = 4");
    check_audit(b, 0, 4, "missing");
}

static void audit_renumbered_delete(void **state)
{
    /* Deleting a record and renumbering the rest still breaks the links. */
    struct backend *b = be(state);
    struct hilt_store *s = open_ok(b);
    audit_n(s, 5);
    hilt_store_close(s);
    raw(b, "DELETE FROM audit WHERE seq = 3; UPDATE audit SET seq = seq - 1 WHERE seq > 3");
    check_audit(b, 0, 3, "link");
}

/* Children share one store: each allocates serials, revokes its own
 * certificates and appends audit records, all at once. */
#define KIDS 4
#define PER_KID 60

static void concurrency(void **state)
{
    struct backend *b = be(state);
    struct hilt_store *s = open_ok(b);
    add_ca(s, "main");
    time_t now = hilt_now();
    for (int i = 0; i < KIDS * 10; i++)
        add_cert(s, 1000 + i, now + 86400, "main");
    hilt_store_close(s);
    int fds[KIDS][2];
    pid_t pids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        assert_int_equal(pipe(fds[k]), 0);
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            close(fds[k][0]);
            struct hilt_err e = {0};
            struct hilt_store *cs = hilt_store_open(b->url, &e);
            int bad = !cs;
            for (int i = 0; cs && i < PER_KID; i++) {
                int64_t seq = -1;
                if (hilt_store_serial_alloc(cs, "main", 1, &seq, &e) < 0) bad = 1;
                if (write(fds[k][1], &seq, sizeof(seq)) != sizeof(seq)) bad = 1;
                if (i < 10) {
                    char serial[64];
                    snprintf(serial, sizeof(serial), "48%032x", 1000 + k * 10 + i);
                    struct hilt_audit_ev ev = {"kid", "cert.revoke", serial, "ok"};
                    if (hilt_store_cert_revoke(cs, serial, 1, now, &ev, &e) != 0) bad = 1;
                }
                struct hilt_audit_ev ev = {"kid", "test.action", "x", "ok"};
                if (hilt_store_audit_append(cs, &ev, &e) < 0) bad = 1;
            }
            if (bad) fprintf(stderr, "child %d: %s\n", k, e.msg);
            hilt_store_close(cs);
            close(fds[k][1]);
            _exit(bad);
        }
        close(fds[k][1]);
    }
    int64_t seen[KIDS * PER_KID];
    size_t n = 0;
    for (int k = 0; k < KIDS; k++) {
        int64_t v;
        while (read(fds[k][0], &v, sizeof(v)) == sizeof(v) && n < KIDS * PER_KID)
            seen[n++] = v;
        close(fds[k][0]);
        int st;
        assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    assert_int_equal(n, KIDS * PER_KID);
    for (size_t i = 0; i < n; i++) {
        assert_true(seen[i] >= 1 && seen[i] <= KIDS * PER_KID);
        for (size_t j = i + 1; j < n; j++)
            assert_true(seen[i] != seen[j]);
    }
    s = open_ok(b);
    struct hilt_cert_filter rf = {.q = HILT_Q_REVOKED, .ca = "main", .from = now};
    int64_t cnt = 0;
    assert_int_equal(hilt_store_cert_count(s, &rf, &cnt, NULL), 0);
    assert_int_equal(cnt, KIDS * 10); /* no revocation lost */
    struct hilt_audit_check c;
    assert_int_equal(hilt_store_audit_verify(s, &c, NULL), 0);
    assert_true(c.ok);
    assert_int_equal(c.records, 1 + KIDS * (PER_KID + 10));
    hilt_store_close(s);
}

/* The inventory query that must stay fast: `expiring --within 30d` over
 * many certificates (HILT_TEST_SCALE, default 20000). */
static void expiring_at_scale(void **state)
{
    struct backend *b = be(state);
    const char *sc = getenv("HILT_TEST_SCALE");
    int n = sc ? atoi(sc) : 20000;
    struct hilt_store *s = open_ok(b);
    time_t now = hilt_now();
    struct hilt_err e = {0};
    uint64_t t0 = hilt_mono_us();
    assert_int_equal(hilt_store_begin(s, &e), 0);
    uint8_t der[400];
    memset(der, 0x5a, sizeof(der));
    for (int i = 0; i < n; i++) {
        char serial[64], sha[65];
        snprintf(serial, sizeof(serial), "48%032x", i);
        snprintf(sha, sizeof(sha), "%064x", i);
        /* spread over a year */
        struct hilt_cert_rec r = {.serial = serial,
                                  .sha256 = sha,
                                  .ca = "main",
                                  .seq = i,
                                  .shard = i / 10000,
                                  .subject = "CN=x",
                                  .names = "x.test",
                                  .not_before = now,
                                  .not_after = now + (i % 365) * 86400 + 60,
                                  .key_type = "ec-p256",
                                  .owner = "o",
                                  .service = "s",
                                  .env = "e"};
        if (hilt_store_cert_add(s, &r, der, sizeof(der), NULL, &e) < 0) fail_msg("%s", e.msg);
    }
    assert_int_equal(hilt_store_commit(s, &e), 0);
    uint64_t t1 = hilt_mono_us();
    struct hilt_cert_filter f = {.q = HILT_Q_EXPIRING, .from = now, .until = now + 30 * 86400};
    int64_t cnt = 0;
    assert_int_equal(hilt_store_cert_count(s, &f, &cnt, &e), 0);
    uint64_t t2 = hilt_mono_us();
    struct collect c = {0, 0, 1};
    assert_int_equal(hilt_store_cert_list(s, &f, collect_cb, &c, &e), 0);
    uint64_t t3 = hilt_mono_us();
    assert_int_equal(c.n, cnt);
    print_message("%s: %d certs inserted in %.2fs (%.0f/s); expiring within 30d: %lld, count "
                  "%.1f ms, list %.1f ms\n",
                  b->kind, n, (double)(t1 - t0) / 1e6, n / ((double)(t1 - t0) / 1e6),
                  (long long)cnt, (double)(t2 - t1) / 1e3, (double)(t3 - t2) / 1e3);
    hilt_store_close(s);
}

#define ONE(kind, fn, be)                                                                          \
    {                                                                                              \
        kind ": " #fn, fn, setup, teardown, be                                                     \
    }
#define BOTH(fn) ONE("sqlite", fn, &sqlite_be), ONE("postgres", fn, &pg_be)

int main(void)
{
    const char *u = getenv("HILT_TEST_PG_URL");
    if (!u || !*u)
        fprintf(stderr, "test_store: HILT_TEST_PG_URL is not set, so the PostgreSQL half is "
                        "skipped; tests/integration/store_pg.sh runs it against a private "
                        "server\n");
    const struct CMUnitTest tests[] = {
        BOTH(migrate_and_reopen),
        BOTH(migrate_from_v1),
        BOTH(newer_schema_refused),
        ONE("sqlite", not_a_database, &sqlite_be),
        ONE("sqlite", sqlite_file_modes, &sqlite_be),
        ONE("postgres", unreachable_pg, &pg_be),
        BOTH(ca_records),
        BOTH(serial_allocation),
        BOTH(certs_roundtrip),
        BOTH(expiring_and_revocation),
        BOTH(transactions),
        BOTH(audit_chain),
        BOTH(audit_renumbered_delete),
        BOTH(concurrency),
        BOTH(expiring_at_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
