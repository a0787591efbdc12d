/* embed.h - data files from data/ compiled into the binary (tools/embed.c).
 * The bytes are static and NUL-terminated; callers never free them. */
#ifndef HILT_CORE_EMBED_H
#define HILT_CORE_EMBED_H

#include <stddef.h>

struct hilt_blob {
    const char *name;
    const unsigned char *data;
    size_t len;
};

extern const struct hilt_blob hilt_embedded_files[];

/* The embedded file with this base name, or NULL. */
const struct hilt_blob *hilt_embedded(const char *name);

#endif
