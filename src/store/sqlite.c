/* sqlite.c - the SQLite backend of the store: one file in WAL mode,
 * statements prepared once per handle and bound by name ($1..$N), write
 * transactions taken with BEGIN IMMEDIATE (see docs/store.md).
 *
 * Durability: synchronous=FULL, so the WAL is fsync'd at every commit. With
 * NORMAL a power cut can drop the last commits, and for a CA a lost commit
 * can mean a serial handed out twice or a revocation forgotten. The file
 * (and the -wal/-shm SQLite creates with the same mode) is 0600. */
#include "core/err.h"
#include "core/fileio.h"
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SQ_PARAMS_MAX 32

struct sq {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    /* index of parameter $i+1 in each statement (0: absent), found once at
     * prepare time instead of by name on every execution */
    unsigned char pidx[ST_COUNT][SQ_PARAMS_MAX];
};

static int sq_err(struct hilt_store *s, int rc, const char *what, struct hilt_err *e)
{
    struct sq *q = s->impl;
    int ext = sqlite3_extended_errcode(q->db);
    const char *msg = sqlite3_errmsg(q->db);
    rc &= 0xff;
    if (rc == SQLITE_NOTADB)
        return hilt_err_set(e, HILT_E_INPUT, rc, "%s is not a hilt store (SQLite: %s)", s->desc,
                            msg);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return hilt_err_set(e, HILT_E_INPUT, HILT_STORE_CONFLICT, "%s: %s: %s", s->desc, what, msg);
    if (rc == SQLITE_CORRUPT)
        return hilt_err_set(e, HILT_E_INPUT, rc, "%s is damaged (SQLite: %s)", s->desc, msg);
    return hilt_err_set(e, HILT_E_RUNTIME, rc, "%s: %s: %s", s->desc, what, msg);
}

static int sq_exec(struct hilt_store *s, enum hilt_stmt id, const struct hilt_val *p, int np,
                   hilt_row_cb cb, void *arg, int64_t *changes, struct hilt_err *e)
{
    struct sq *q = s->impl;
    sqlite3_stmt *st = q->st[id];
    int rc;
    if (!st) {
        rc =
            sqlite3_prepare_v3(q->db, hilt_stmts[id].sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK) return sq_err(s, rc, "prepare", e);
        q->st[id] = st;
        for (int i = 0; i < SQ_PARAMS_MAX; i++) {
            char name[8];
            snprintf(name, sizeof(name), "$%d", i + 1);
            int idx = sqlite3_bind_parameter_index(st, name);
            q->pidx[id][i] = idx > 0 && idx < 256 ? (unsigned char)idx : 0;
        }
    }
    if (np > SQ_PARAMS_MAX) return hilt_err_set(e, HILT_E_RUNTIME, 0, "store: too many parameters");
    for (int i = 0; i < np; i++) {
        int idx = q->pidx[id][i];
        if (idx <= 0) continue;
        switch (p[i].t) {
        case HV_NULL:
            rc = sqlite3_bind_null(st, idx);
            break;
        case HV_INT:
            rc = sqlite3_bind_int64(st, idx, p[i].i);
            break;
        case HV_TEXT:
            rc = sqlite3_bind_text(st, idx, p[i].s, -1, SQLITE_STATIC);
            break;
        case HV_BLOB:
            rc = sqlite3_bind_blob(st, idx, p[i].b, (int)p[i].n, SQLITE_STATIC);
            break;
        default:
            rc = SQLITE_MISUSE;
        }
        if (rc != SQLITE_OK) {
            sq_err(s, rc, "bind", e);
            goto fail;
        }
    }
    struct hilt_val cols[32];
    int stop = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!cb || stop) continue; /* finish the statement (RETURNING, DML) */
        int n = sqlite3_column_count(st);
        if (n > 32) n = 32;
        for (int i = 0; i < n; i++) {
            struct hilt_val *v = &cols[i];
            memset(v, 0, sizeof(*v));
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_NULL:
                v->t = HV_NULL;
                break;
            case SQLITE_INTEGER:
                v->t = HV_INT;
                v->i = sqlite3_column_int64(st, i);
                break;
            case SQLITE_BLOB:
                v->t = HV_BLOB;
                v->b = sqlite3_column_blob(st, i);
                v->n = (size_t)sqlite3_column_bytes(st, i);
                break;
            default:
                v->t = HV_TEXT;
                v->s = (const char *)sqlite3_column_text(st, i);
                break;
            }
        }
        stop = cb(cols, n, arg);
    }
    if (rc != SQLITE_DONE) {
        sq_err(s, rc, "query", e);
        goto fail;
    }
    if (changes) *changes = sqlite3_changes64(q->db);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return 0;
fail:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return -1;
}

static int sq_exec_sql(struct hilt_store *s, const char *sql, struct hilt_err *e)
{
    struct sq *q = s->impl;
    int rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : sq_err(s, rc, "exec", e);
}

static int sq_begin(struct hilt_store *s, struct hilt_err *e)
{
    /* IMMEDIATE: take the write lock now (waiting on busy_timeout), so a
     * transaction that read first can never fail to upgrade. */
    return sq_exec_sql(s, "BEGIN IMMEDIATE", e);
}

static int sq_commit(struct hilt_store *s, struct hilt_err *e)
{
    return sq_exec_sql(s, "COMMIT", e);
}

static void sq_rollback(struct hilt_store *s)
{
    struct sq *q = s->impl;
    if (!sqlite3_get_autocommit(q->db)) sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

static int probe_cb(const struct hilt_val *c, int n, void *arg)
{
    (void)c;
    (void)n;
    *(int *)arg = 1;
    return 1;
}

/* A store made by an older hilt (or by hand) readable by others: make it
 * and its companions, which SQLite keeps reusing, 0600. */
static void tighten_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 077) ||
        st.st_uid != geteuid())
        return;
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        char f[4200];
        snprintf(f, sizeof(f), "%s%s", path, sfx[i]);
        chmod(f, 0600);
    }
}

static int sq_probe(struct hilt_store *s, struct hilt_err *e)
{
    struct sq *q = s->impl;
    sqlite3_stmt *st = NULL;
    int found = 0;
    /* The first read of the file: SQLITE_NOTADB surfaces here. */
    int rc = sqlite3_prepare_v2(
        q->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", -1,
        &st, NULL);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            probe_cb(NULL, 0, &found);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) return sq_err(s, rc, "open", e);
    /* Only now that the file is known to be a database may we change it. */
    tighten_mode(s->desc);
    char *mode = NULL;
    sqlite3_stmt *jm = NULL;
    if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode = WAL", -1, &jm, NULL) == SQLITE_OK &&
        sqlite3_step(jm) == SQLITE_ROW)
        mode = (char *)sqlite3_column_text(jm, 0);
    int wal = mode && !strcmp(mode, "wal");
    sqlite3_finalize(jm);
    if (!wal) return sq_err(s, SQLITE_ERROR, "cannot switch to WAL mode", e);
    /* A larger page cache and memory-mapped reads keep inventory scans of a
     * million rows in memory instead of in read() calls. Statement journals
     * (every INSERT into a table with UNIQUE indexes inside a transaction
     * keeps one) stay in memory: spilled to a temporary file they were a
     * fifth of batched issuance. A 32 MiB WAL between checkpoints lets a
     * page that many commits touch (the leaves of the random sha256 index)
     * be copied back to the database once instead of after every commit. */
    if (sq_exec_sql(s,
                    "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
                    "PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824; "
                    "PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 8192",
                    e) < 0)
        return -1;
    return found;
}

static void sq_close(struct hilt_store *s)
{
    struct sq *q = s->impl;
    if (!q) return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(q->st[i]);
    sqlite3_close(q->db);
    free(q);
    s->impl = NULL;
}

static int64_t sq_last_id(struct hilt_store *s)
{
    return sqlite3_last_insert_rowid(((struct sq *)s->impl)->db);
}

static const struct hilt_store_ops sqlite_ops = {
    .kind = "sqlite",
    .exec = sq_exec,
    .exec_sql = sq_exec_sql,
    .begin_write = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .probe = sq_probe,
    .close = sq_close,
    .last_insert_id = sq_last_id,
};

int hilt_store_sqlite_open(struct hilt_store *s, const char *path, struct hilt_err *e)
{
    snprintf(s->desc, sizeof(s->desc), "%s", path);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return hilt_err_set(e, HILT_E_INPUT, EISDIR, "%s is a directory, not a hilt store", path);
    if (stat(path, &st) < 0) {
        /* A new store: make its directory (0700: it holds the inventory). */
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s", path);
        if (hilt_mkdir_p(dirname(dir), 0700, e) < 0) return -1;
        /* Create the file 0600 ourselves (SQLite would honour the umask);
         * SQLite gives its -wal and -shm files the database file's mode. An
         * empty file is a valid new database. */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            return hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot create %s: %s", path,
                                strerror(errno));
        if (fd >= 0) {
            fchmod(fd, 0600);
            close(fd);
        }
    }
    struct sq *q = calloc(1, sizeof(*q));
    if (!q) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    int rc = sqlite3_open_v2(
        path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        hilt_err_set(e, HILT_E_RUNTIME, rc, "cannot open %s: %s", path,
                     q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
        sqlite3_close(q->db);
        free(q);
        return -1;
    }
    sqlite3_busy_timeout(q->db, 10000);
    sqlite3_extended_result_codes(q->db, 1);
    s->ops = &sqlite_ops;
    s->impl = q;
    return 0;
}
