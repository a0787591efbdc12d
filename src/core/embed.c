/* embed.c - lookup in the table generated from data/. */
#include "core/embed.h"

#include <string.h>

const struct hilt_blob *hilt_embedded(const char *name)
{
    for (const struct hilt_blob *b = hilt_embedded_files; b->name; b++)
        if (strcmp(b->name, name) == 0) return b;
    return NULL;
}
