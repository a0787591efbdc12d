/* yamltree.h - a small, bounded YAML tree built from libyaml events.
 *
 * Policy files are read through this instead of libyaml's document API so
 * that every limit is enforced while parsing: input size, nesting depth,
 * node count, scalar length. Aliases are rejected (no billion laughs), and
 * so are multiple documents and NUL bytes in scalars. Every node keeps its
 * 1-based line and column for error messages.
 *
 * Ownership: yt_parse() returns a tree owned by the caller; yt_free() frees
 * it (nodes, child arrays and strings) and NULLs the pointer.
 */
#ifndef HILT_POLICY_YAMLTREE_H
#define HILT_POLICY_YAMLTREE_H

#include <stddef.h>

struct hilt_err;

enum yt_type { YT_SCALAR, YT_MAP, YT_SEQ };

struct yt_node {
    enum yt_type type;
    int line, col;         /* 1-based */
    char *str;             /* YT_SCALAR: NUL-terminated value */
    int plain;             /* YT_SCALAR: written without quotes (so `true` is a bool) */
    struct yt_node **kids; /* YT_MAP: key, value, key, value...; YT_SEQ: items */
    size_t n, cap;
};

struct yt_limits {
    size_t max_bytes, max_depth, max_nodes, max_scalar;
};

/* Parse one YAML document. An empty document yields a NULL root (and 0). */
int yt_parse(const void *data, size_t len, const char *source, const struct yt_limits *lim,
             struct yt_node **root, struct hilt_err *e);
void yt_free(struct yt_node **root);

/* Is this a YAML null (empty plain scalar, "~", "null")? */
int yt_is_null(const struct yt_node *n);
const char *yt_type_name(const struct yt_node *n);

#endif
