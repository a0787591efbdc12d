/* deploy.c - revision directories, the `current` link and target links
 * (docs/clm.md). Every step keeps the files a reader sees complete: new
 * files are written beside the old and switched in by rename(). */
#include "clm/deploy.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/fileio.h"
#include "x509/pem.h"
#include "x509/summary.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define P HILT_DEPLOY_PATH_MAX

static const char *const suffix[3] = {"crt", "key", "chain.pem"};

void hilt_deploy_file(size_t target, int which, char *out, size_t cap)
{
    snprintf(out, cap, "t%zu.%s", target, suffix[which]);
}

static const char *target_path(const struct hilt_target *t, int which)
{
    return which == 0 ? t->cert : which == 1 ? t->key : t->chain;
}

int hilt_deploy_data_dir(const struct hilt_manifest *m, char *out, size_t cap, struct hilt_err *e)
{
    const struct hilt_target *t = &m->targets[0];
    const char *first = t->cert ? t->cert : t->key ? t->key : t->chain;
    if (!first) return hilt_err_set(e, HILT_E_INPUT, 0, "manifest %s has no target", m->name);
    char dir[P];
    snprintf(dir, sizeof(dir), "%s", first);
    int n = snprintf(out, cap, "%s/.hilt/%s", dirname(dir), m->name);
    if (n < 0 || (size_t)n >= cap) return hilt_err_set(e, HILT_E_INPUT, 0, "path too long");
    return 0;
}

static int fsync_path(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Remove the temporary links a killed apply left in dir ("BASE.hilt-tmp.PID",
 * any base when base is NULL). Only called by the lock holder: every writer of
 * these names holds the manifest's lock, so none of them is in use. */
static void sweep_tmp(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (!d) return;
    size_t bl = base ? strlen(base) : 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *t = strstr(de->d_name, ".hilt-tmp.");
        if (!t || (base && ((size_t)(t - de->d_name) != bl || strncmp(de->d_name, base, bl))))
            continue;
        char p[P + 300];
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
}

int hilt_deploy_lock(const char *data_dir, int wait, int *fd, struct hilt_err *e)
{
    *fd = -1;
    if (hilt_mkdir_p(data_dir, 0755, e) < 0) return -1;
    char lk[P + 16];
    snprintf(lk, sizeof(lk), "%s/.lock", data_dir);
    int f = open(lk, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f < 0)
        return hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot open %s: %s", lk, strerror(errno));
    while (flock(f, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        close(f);
        if (err == EWOULDBLOCK) return 1;
        return hilt_err_set(e, HILT_E_RUNTIME, err, "cannot lock %s: %s", lk, strerror(err));
    }
    *fd = f;
    sweep_tmp(data_dir, NULL);
    return 0;
}

void hilt_deploy_unlock(int fd)
{
    if (fd >= 0) close(fd); /* releases the flock */
}

int hilt_deploy_remove_rev(const char *data_dir, const char *revdir)
{
    char cur[256], path[P];
    if (hilt_deploy_current(data_dir, cur, sizeof(cur)) == 1 && !strcmp(cur, revdir)) return -1;
    if (strncmp(revdir, "rev-", 4) || strchr(revdir, '/')) return -1;
    snprintf(path, sizeof(path), "%s/%s", data_dir, revdir);
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char f[P + 300];
        snprintf(f, sizeof(f), "%s/%s", path, de->d_name);
        unlink(f);
    }
    closedir(d);
    int rc = rmdir(path);
    fsync_path(data_dir);
    return rc;
}

int hilt_deploy_write_rev(const char *data_dir, const char *revdir, const struct hilt_manifest *m,
                          const struct hilt_bundle *b, struct hilt_err *e)
{
    char dir[P];
    snprintf(dir, sizeof(dir), "%s/%s", data_dir, revdir);
    if (hilt_deploy_remove_rev(data_dir, revdir) < 0 && access(dir, F_OK) == 0)
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot replace %s (it is current?)", dir);
    if (mkdir(dir, 0755) < 0)
        return hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot create %s: %s", dir, strerror(errno));
    for (size_t i = 0; i < m->ntargets; i++) {
        const struct hilt_target *t = &m->targets[i];
        for (int w = 0; w < 3; w++) {
            if (!target_path(t, w)) continue;
            const char *data = w == 0 ? b->cert : w == 1 ? b->key : b->chain;
            if (!data)
                return hilt_err_set(e, HILT_E_RUNTIME, 0, "nothing to write as %s", suffix[w]);
            char name[64], f[P + 80];
            hilt_deploy_file(i, w, name, sizeof(name));
            snprintf(f, sizeof(f), "%s/%s", dir, name);
            if (hilt_file_write_atomic(f, data, strlen(data), w == 1 ? t->key_mode : t->cert_mode,
                                       e) < 0)
                return -1;
        }
    }
    if (fsync_path(dir) < 0 || fsync_path(data_dir) < 0)
        return hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot fsync %s: %s", dir, strerror(errno));
    return 0;
}

int hilt_deploy_read_rev(const char *data_dir, const char *revdir, size_t target, int which,
                         char **out, struct hilt_err *e)
{
    *out = NULL;
    char name[64], f[P + 80];
    hilt_deploy_file(target, which, name, sizeof(name));
    snprintf(f, sizeof(f), "%s/%s/%s", data_dir, revdir, name);
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    if (hilt_file_read(f, &b, e) < 0) {
        hilt_buf_free(&b);
        return -1;
    }
    if (hilt_buf_add(&b, "", 1) < 0 || !(*out = strdup((const char *)b.data))) {
        OPENSSL_cleanse(b.data, b.len);
        hilt_buf_free(&b);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    }
    OPENSSL_cleanse(b.data, b.len);
    hilt_buf_free(&b);
    return 0;
}

int hilt_deploy_current(const char *data_dir, char *out, size_t cap)
{
    char link[P + 16];
    snprintf(link, sizeof(link), "%s/current", data_dir);
    ssize_t n = readlink(link, out, cap - 1);
    if (n < 0) return errno == ENOENT ? 0 : -1;
    out[n] = '\0';
    return 1;
}

/* Make `path` a symbolic link to `to`, atomically (a link beside it, renamed). */
static int link_atomic(const char *to, const char *path, struct hilt_err *e)
{
    char tmp[P + 32], dir[P], base[P];
    snprintf(tmp, sizeof(tmp), "%s.hilt-tmp.%ld", path, (long)getpid());
    snprintf(dir, sizeof(dir), "%s", path);
    snprintf(base, sizeof(base), "%s", path);
    sweep_tmp(dirname(dir), basename(base)); /* a killed apply's, beside a target */
    if (symlink(to, tmp) < 0 || rename(tmp, path) < 0) {
        int err = errno;
        unlink(tmp);
        return hilt_err_set(e, HILT_E_RUNTIME, err, "cannot link %s -> %s: %s", path, to,
                            strerror(err));
    }
    snprintf(dir, sizeof(dir), "%s", path);
    fsync_path(dirname(dir));
    return 0;
}

int hilt_deploy_switch(const char *data_dir, const char *revdir, struct hilt_err *e)
{
    char cur[P + 16];
    snprintf(cur, sizeof(cur), "%s/current", data_dir);
    /* relative, so DATA can move as a whole */
    return link_atomic(revdir, cur, e);
}

static int copy_file(const char *from, const char *to, struct hilt_err *e)
{
    struct hilt_buf b;
    struct stat st;
    hilt_buf_init(&b, 4u << 20);
    int rc = stat(from, &st) < 0
                 ? hilt_err_set(e, HILT_E_RUNTIME, errno, "%s: %s", from, strerror(errno))
                 : hilt_file_read(from, &b, e);
    if (rc == 0) rc = hilt_file_write_atomic(to, b.data, b.len, st.st_mode & 0777, e);
    if (b.data) OPENSSL_cleanse(b.data, b.len);
    hilt_buf_free(&b);
    return rc;
}

int hilt_deploy_link_targets(const char *data_dir, const struct hilt_manifest *m,
                             struct hilt_err *e)
{
    char cur[256], want[P + 100], got[P + 100];
    int have_cur = hilt_deploy_current(data_dir, cur, sizeof(cur));
    if (have_cur < 0)
        return hilt_err_set(e, HILT_E_RUNTIME, errno, "%s/current: %s", data_dir, strerror(errno));
    /* 1. adopt regular files, when nothing is current yet */
    int adopt = 0;
    for (size_t i = 0; i < m->ntargets && !have_cur; i++)
        for (int w = 0; w < 3; w++) {
            const char *p = target_path(&m->targets[i], w);
            struct stat st;
            if (p && lstat(p, &st) == 0 && S_ISREG(st.st_mode)) adopt = 1;
        }
    if (adopt) {
        char r0[P + 16];
        snprintf(r0, sizeof(r0), "%s/rev-0", data_dir);
        hilt_deploy_remove_rev(data_dir, "rev-0");
        if (mkdir(r0, 0755) < 0 && errno != EEXIST)
            return hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot create %s: %s", r0,
                                strerror(errno));
        for (size_t i = 0; i < m->ntargets; i++)
            for (int w = 0; w < 3; w++) {
                const char *p = target_path(&m->targets[i], w);
                struct stat st;
                if (!p || lstat(p, &st) < 0 || !S_ISREG(st.st_mode)) continue;
                char name[64], dst[P + 100];
                hilt_deploy_file(i, w, name, sizeof(name));
                snprintf(dst, sizeof(dst), "%s/%s", r0, name);
                if (copy_file(p, dst, e) < 0) return -1;
            }
        fsync_path(r0);
        if (hilt_deploy_switch(data_dir, "rev-0", e) < 0) return -1;
    }
    /* 2. every target a link into current */
    for (size_t i = 0; i < m->ntargets; i++)
        for (int w = 0; w < 3; w++) {
            const char *p = target_path(&m->targets[i], w);
            if (!p) continue;
            char name[64];
            hilt_deploy_file(i, w, name, sizeof(name));
            snprintf(want, sizeof(want), "%s/current/%s", data_dir, name);
            ssize_t n = readlink(p, got, sizeof(got) - 1);
            if (n >= 0) {
                got[n] = '\0';
                if (!strcmp(got, want)) continue;
            }
            char dir[P];
            snprintf(dir, sizeof(dir), "%s", p);
            if (hilt_mkdir_p(dirname(dir), 0755, e) < 0) return -1;
            struct stat st;
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                return hilt_err_set(e, HILT_E_INPUT, EISDIR, "target %s is a directory", p);
            if (link_atomic(want, p, e) < 0) return -1;
        }
    return 0;
}

int hilt_deploy_check(const char *data_dir, const char *revdir, const struct hilt_manifest *m,
                      const char *cert_sha256, char *why, size_t cap)
{
    char cur[256], want[P + 100], got[P + 100];
    why[0] = '\0';
    int c = hilt_deploy_current(data_dir, cur, sizeof(cur));
    if (c < 0) return -1;
    if (c == 0 || strcmp(cur, revdir)) {
        snprintf(why, cap, "%s/current is %s, not %s", data_dir, c ? cur : "missing", revdir);
        return 0;
    }
    for (size_t i = 0; i < m->ntargets; i++)
        for (int w = 0; w < 3; w++) {
            const char *p = target_path(&m->targets[i], w);
            if (!p) continue;
            char name[64];
            hilt_deploy_file(i, w, name, sizeof(name));
            snprintf(want, sizeof(want), "%s/current/%s", data_dir, name);
            ssize_t n = readlink(p, got, sizeof(got) - 1);
            if (n < 0) {
                snprintf(why, cap, "%s is %s", p, errno == ENOENT ? "missing" : "not a hilt link");
                return 0;
            }
            got[n] = '\0';
            if (strcmp(got, want)) {
                snprintf(why, cap, "%s points to %s", p, got);
                return 0;
            }
            struct stat st;
            char f[P + 100];
            snprintf(f, sizeof(f), "%s/%s/%s", data_dir, revdir, name);
            if (stat(f, &st) < 0) {
                snprintf(why, cap, "%s is missing", f);
                return 0;
            }
            unsigned wantmode = w == 1 ? m->targets[i].key_mode : m->targets[i].cert_mode;
            if ((st.st_mode & 0777) != wantmode) {
                snprintf(why, cap, "%s has mode %04o, not %04o", f, st.st_mode & 0777, wantmode);
                return 0;
            }
            if (w == 0 && cert_sha256) {
                struct hilt_err e = {0};
                STACK_OF(X509) *sk = hilt_certs_load(f, &e);
                char sha[65] = "";
                if (sk && sk_X509_num(sk) > 0) hilt_sha256_hex(sk_X509_value(sk, 0), sha);
                sk_X509_pop_free(sk, X509_free);
                if (strcmp(sha, cert_sha256)) {
                    snprintf(why, cap, "%s does not hold the certificate of %s", f, revdir);
                    return 0;
                }
            }
        }
    return 1;
}

int hilt_deploy_list_revs(const char *data_dir, int (*cb)(const char *revdir, void *arg), void *arg)
{
    DIR *d = opendir(data_dir);
    if (!d) return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) && rc == 0)
        if (!strncmp(de->d_name, "rev-", 4)) rc = cb(de->d_name, arg);
    closedir(d);
    return rc;
}
