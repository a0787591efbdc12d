/* fileio.h - bounded reads and crash-safe writes.
 *
 * hilt_file_write_atomic() is how every file that matters (keys, certificates,
 * state) reaches disk: a temporary file created O_EXCL with the final mode in
 * the same directory, written, fsync'd, renamed over the target, and the
 * directory fsync'd. A reader therefore sees the complete old or the complete
 * new content, never a mix, even after a crash. Key files use mode 0600.
 */
#ifndef HILT_CORE_FILEIO_H
#define HILT_CORE_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

struct hilt_buf;
struct hilt_err;

/* Read a whole file into `out` (initialised by the caller with its max). A
 * file larger than out->max is an input error naming the file. */
int hilt_file_read(const char *path, struct hilt_buf *out, struct hilt_err *e);
int hilt_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           struct hilt_err *e);
int hilt_mkdir_p(const char *path, mode_t mode, struct hilt_err *e);

#endif
