/* yamltree.c - builds a bounded YAML tree from libyaml's event stream. */
#include "policy/yamltree.h"

#include "core/err.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

static void node_free(struct yt_node *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->str);
    free(n);
}

void yt_free(struct yt_node **root)
{
    if (!root) return;
    node_free(*root);
    *root = NULL;
}

int yt_is_null(const struct yt_node *n)
{
    return n && n->type == YT_SCALAR && n->plain &&
           (!n->str[0] || !strcmp(n->str, "~") || !strcasecmp(n->str, "null"));
}

const char *yt_type_name(const struct yt_node *n)
{
    if (!n) return "nothing";
    switch (n->type) {
    case YT_MAP:
        return "a mapping";
    case YT_SEQ:
        return "a list";
    case YT_SCALAR:
        return yt_is_null(n) ? "null" : "a scalar";
    }
    return "?";
}

const struct yt_node *yt_get(const struct yt_node *map, const char *key)
{
    if (!map || map->type != YT_MAP) return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (map->kids[i]->type == YT_SCALAR && !strcmp(map->kids[i]->str, key))
            return map->kids[i + 1];
    return NULL;
}

size_t yt_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > YT_EDIT_MAX || lb > YT_EDIT_MAX) return YT_EDIT_FAR;
    size_t prev[YT_EDIT_MAX + 1], cur[YT_EDIT_MAX + 1];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t x = prev[j - 1] +
                       (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t y = prev[j] + 1, z = cur[j - 1] + 1;
            cur[j] = x < y ? (x < z ? x : z) : (y < z ? y : z);
        }
        memcpy(prev, cur, sizeof(size_t) * (lb + 1));
    }
    return prev[lb];
}

/* Append to msg without running past cap. */
static void cat(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *msg, size_t cap, const char *fmt, ...)
{
    size_t l = strnlen(msg, cap);
    if (l + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + l, cap - l, fmt, ap);
    va_end(ap);
}

void yt_unknown_key(const struct yt_node *k, const char *const *known, char *msg, size_t cap)
{
    if (!cap) return;
    msg[0] = 0;
    const char *best = NULL;
    size_t bd = YT_EDIT_FAR;
    for (const char *const *p = known; *p; p++) {
        size_t d = yt_edit_distance(k->str, *p);
        if (d < bd) bd = d, best = *p;
    }
    if (best && bd <= 2) {
        cat(msg, cap, "unknown key '%s' (did you mean '%s'?)", k->str, best);
        return;
    }
    cat(msg, cap, "unknown key '%s' (known: ", k->str);
    for (const char *const *p = known; *p; p++)
        cat(msg, cap, "%s%s", p == known ? "" : ", ", *p);
    cat(msg, cap, ")");
}

int yt_check_keys(const struct yt_node *map, const char *const *known, const struct yt_node **bad,
                  char *msg, size_t cap)
{
    *bad = map;
    if (cap) msg[0] = 0;
    if (!map || map->type != YT_MAP) {
        cat(msg, cap, "expected a mapping, got %s", yt_type_name(map));
        return -1;
    }
    for (size_t i = 0; i < map->n; i += 2) {
        const struct yt_node *k = map->kids[i];
        *bad = k;
        if (k->type != YT_SCALAR) {
            cat(msg, cap, "keys must be scalars");
            return -1;
        }
        if (known) {
            const char *const *p = known;
            while (*p && strcmp(*p, k->str))
                p++;
            if (!*p) {
                yt_unknown_key(k, known, msg, cap);
                return -1;
            }
        }
        for (size_t j = 0; j < i; j += 2)
            if (!strcmp(map->kids[j]->str, k->str)) {
                cat(msg, cap, "duplicate key '%s' (first at line %d)", k->str, map->kids[j]->line);
                return -1;
            }
    }
    *bad = NULL;
    return 0;
}

static int add_kid(struct yt_node *parent, struct yt_node *kid)
{
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        struct yt_node **k = realloc(parent->kids, cap * sizeof(*k));
        if (!k) return -1;
        parent->kids = k;
        parent->cap = cap;
    }
    parent->kids[parent->n++] = kid;
    return 0;
}

int yt_parse(const void *data, size_t len, const char *source, const struct yt_limits *lim,
             struct yt_node **root, struct hilt_err *e)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct yt_node **stack = NULL;
    size_t depth = 0, nodes = 0;
    int rc = -1, docs = 0, have_ev = 0;
    *root = NULL;

    if (len > lim->max_bytes)
        return hilt_err_set(e, HILT_E_INPUT, 0, "%s: %zu bytes is over the limit of %zu bytes",
                            source, len, lim->max_bytes);
    stack = calloc(lim->max_depth + 1, sizeof(*stack));
    if (!stack) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    if (!yaml_parser_initialize(&parser)) {
        free(stack);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot initialise the YAML parser");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);

    for (;;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            hilt_err_set(e, HILT_E_INPUT, 0, "%s:%zu:%zu: YAML syntax error: %s%s%s", source,
                         parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                         parser.problem ? parser.problem : "malformed input",
                         parser.context ? " " : "", parser.context ? parser.context : "");
            goto out;
        }
        have_ev = 1;
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        struct yt_node *n = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            rc = 0;
            goto out;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                hilt_err_set(e, HILT_E_INPUT, 0,
                             "%s:%d:%d: only one YAML document is allowed in a policy file", source,
                             line, col);
                goto out;
            }
            break;
        case YAML_ALIAS_EVENT:
            hilt_err_set(e, HILT_E_INPUT, 0,
                         "%s:%d:%d: YAML aliases (*%s) are not supported in policy files", source,
                         line, col, (const char *)ev.data.alias.anchor);
            goto out;
        case YAML_SCALAR_EVENT:
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (++nodes > lim->max_nodes) {
                hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d:%d: more than %zu YAML nodes", source, line,
                             col, lim->max_nodes);
                goto out;
            }
            n = calloc(1, sizeof(*n));
            if (!n) {
                hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
                goto out;
            }
            n->line = line;
            n->col = col;
            if (ev.type == YAML_SCALAR_EVENT) {
                size_t sl = ev.data.scalar.length;
                n->type = YT_SCALAR;
                if (sl > lim->max_scalar || memchr(ev.data.scalar.value, 0, sl)) {
                    free(n);
                    hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d:%d: %s", source, line, col,
                                 sl > lim->max_scalar ? "value is too long"
                                                      : "NUL byte in a value");
                    goto out;
                }
                n->str = malloc(sl + 1);
                if (!n->str) {
                    free(n);
                    hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
                    goto out;
                }
                memcpy(n->str, ev.data.scalar.value, sl);
                n->str[sl] = 0;
                n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            } else {
                n->type = ev.type == YAML_MAPPING_START_EVENT ? YT_MAP : YT_SEQ;
            }
            if (depth == 0) {
                *root = n;
            } else if (add_kid(stack[depth - 1], n) < 0) {
                node_free(n);
                hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
                goto out;
            }
            if (n->type != YT_SCALAR) {
                if (depth >= lim->max_depth) {
                    hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d:%d: nested deeper than %zu levels",
                                 source, line, col, lim->max_depth);
                    goto out;
                }
                stack[depth++] = n;
            }
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            if (depth) depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        have_ev = 0;
    }
out:
    if (have_ev) yaml_event_delete(&ev);
    yaml_parser_delete(&parser);
    free(stack);
    if (rc < 0) yt_free(root);
    return rc;
}

int yt_err(struct yt_where *w, const struct yt_node *n, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return hilt_err_set(w->e, HILT_E_INPUT, 0, "%s:%d:%d: %s%s%s", w->src, n ? n->line : 1,
                        n ? n->col : 1, w->path, w->path[0] ? ": " : "", msg);
}

size_t yt_push(struct yt_where *w, const char *fmt, ...)
{
    size_t old = strlen(w->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->path + old, sizeof(w->path) - old, fmt, ap);
    va_end(ap);
    if (!old && w->path[0] == '.') memmove(w->path, w->path + 1, strlen(w->path));
    return old;
}

void yt_pop(struct yt_where *w, size_t old)
{
    w->path[old] = 0;
}

int yt_check_keys_at(struct yt_where *w, const struct yt_node *map, const char *const *known)
{
    const struct yt_node *bad;
    char msg[512];
    if (yt_check_keys(map, known, &bad, msg, sizeof(msg)) < 0) return yt_err(w, bad, "%s", msg);
    return 0;
}
