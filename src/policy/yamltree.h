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

/* The value of `key` in a mapping, or NULL (no such key, or `map` is NULL or
 * not a mapping). Keys that are not scalars are skipped. */
const struct yt_node *yt_get(const struct yt_node *map, const char *key);

/* Levenshtein distance, ignoring ASCII case, for "did you mean". Bounded: a
 * string longer than YT_EDIT_MAX bytes is YT_EDIT_FAR away from everything. */
#define YT_EDIT_MAX 64 /* cipher names too (policy/suites.c) */
#define YT_EDIT_FAR 99
size_t yt_edit_distance(const char *a, const char *b);

/* The message for a key `k` that is not in `known` (NULL-terminated):
 *   "unknown key 'x' (did you mean 'y'?)"   when a known key is within 2 edits
 *   "unknown key 'x' (known: a, b, ...)"    otherwise
 * written to msg (truncated to cap). */
void yt_unknown_key(const struct yt_node *k, const char *const *known, char *msg, size_t cap);

/* Check a mapping's keys, in order: each must be a scalar, in `known`
 * (NULL-terminated; NULL `known` accepts any key) and not repeated. Returns
 * 0, or -1 with *bad set to the offending node (NULL when `map` is NULL)
 * and msg set to one of:
 *   "expected a mapping, got T"
 *   "keys must be scalars"
 *   "unknown key ..."                       (yt_unknown_key)
 *   "duplicate key 'x' (first at line N)"
 * Callers prefix their own "file:line:col: path: " from *bad. */
int yt_check_keys(const struct yt_node *map, const char *const *known, const struct yt_node **bad,
                  char *msg, size_t cap);

/* Where a loader is in its document, for errors "FILE:LINE:COL: PATH: message":
 * the source name, the dotted path of the node being read ("listeners[0].tls"),
 * and where errors go. */
struct yt_where {
    const char *src;
    char path[256];
    struct hilt_err *e;
};
/* Set w->e with kind HILT_E_INPUT at node n (line 1 col 1 when NULL); -1. */
int yt_err(struct yt_where *w, const struct yt_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Append to the path (a leading '.' is dropped at the root); returns the old
 * length for yt_pop(). */
size_t yt_push(struct yt_where *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void yt_pop(struct yt_where *w, size_t old);
/* yt_check_keys() with the failure reported through yt_err(). */
int yt_check_keys_at(struct yt_where *w, const struct yt_node *map, const char *const *known);

#endif
