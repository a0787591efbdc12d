/* fileio.c - bounded file reads, atomic durable writes, mkdir -p. */
#include "core/fileio.h"

#include "core/buf.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int hilt_file_read(const char *path, struct hilt_buf *out, struct hilt_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hilt_err_set(e, HILT_E_INPUT, errno, "cannot read %s: %s", path, strerror(errno));
    int rc = -1;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        hilt_err_set(e, HILT_E_INPUT, EISDIR, "cannot read %s: it is a directory", path);
        goto out;
    }
    for (;;) {
        size_t room = out->max - out->len;
        if (room == 0) {
            /* At the limit: one more byte means the file is too large. */
            char extra;
            ssize_t n = read(fd, &extra, 1);
            if (n < 0 && errno == EINTR) continue;
            if (n != 0) {
                hilt_err_set(e, HILT_E_INPUT, EFBIG, "%s is larger than the %zu-byte limit",
                             path, out->max);
                goto out;
            }
            break;
        }
        size_t want = room < 65536 ? room : 65536;
        uint8_t *p = hilt_buf_reserve(out, want);
        if (!p) {
            hilt_err_set(e, HILT_E_RUNTIME, ENOMEM, "out of memory reading %s", path);
            goto out;
        }
        ssize_t n = read(fd, p, want);
        if (n < 0) {
            if (errno == EINTR) continue;
            hilt_err_set(e, HILT_E_INPUT, errno, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0) break;
        hilt_buf_commit(out, (size_t)n);
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

static int fsync_dir(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    int dfd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -1;
    int rc = fsync(dfd);
    close(dfd);
    return rc;
}

int hilt_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           struct hilt_err *e)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return hilt_err_set(e, HILT_E_INPUT, ENAMETOOLONG, "path too long: %s", path);
    unlink(tmp); /* a leftover from a crashed run of this pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot create %s: %s", tmp,
                            strerror(errno));
    /* O_CREAT honours the umask; make the mode exact (0600 stays 0600). */
    if (fchmod(fd, mode) < 0) goto fail;
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) < 0) goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0) goto fail;
    fsync_dir(path);
    return 0;
fail : {
    int err = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    return hilt_err_set(e, HILT_E_RUNTIME, err, "cannot write %s: %s", path, strerror(err));
}
}

int hilt_mkdir_p(const char *path, mode_t mode, struct hilt_err *e)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return hilt_err_set(e, HILT_E_INPUT, ENAMETOOLONG, "path too long: %s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot create directory %s: %s", tmp,
                                strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot create directory %s: %s", tmp,
                            strerror(errno));
    return 0;
}
