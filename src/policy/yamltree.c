/* yamltree.c - builds a bounded YAML tree from libyaml's event stream. */
#include "policy/yamltree.h"

#include "core/err.h"

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
