/* buf.c - bounded growable buffers and bounds-checked read cursors. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hilt_buf_init(struct hilt_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void hilt_buf_free(struct hilt_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void hilt_buf_reset(struct hilt_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

/* Make room for n more bytes plus the trailing NUL. */
static int grow(struct hilt_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n) return -1;
    size_t need = b->len + n + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1) cap = b->max + 1;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int hilt_buf_add(struct hilt_buf *b, const void *p, size_t n)
{
    if (grow(b, n) < 0) return -1;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int hilt_buf_add_str(struct hilt_buf *b, const char *s)
{
    return hilt_buf_add(b, s, strlen(s));
}

int hilt_buf_addf(struct hilt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || grow(b, (size_t)n) < 0) return -1;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int hilt_buf_add_u8(struct hilt_buf *b, uint8_t v)
{
    return hilt_buf_add(b, &v, 1);
}

int hilt_buf_add_u16(struct hilt_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return hilt_buf_add(b, x, 2);
}

int hilt_buf_add_u24(struct hilt_buf *b, uint32_t v)
{
    uint8_t x[3] = {(uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return hilt_buf_add(b, x, 3);
}

uint8_t *hilt_buf_reserve(struct hilt_buf *b, size_t n)
{
    if (grow(b, n) < 0) return NULL;
    return b->data + b->len;
}

void hilt_buf_commit(struct hilt_buf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

const char *hilt_buf_cstr(const struct hilt_buf *b)
{
    return b->data ? (const char *)b->data : "";
}

void hilt_rd_init(struct hilt_rd *r, const void *p, size_t len)
{
    r->p = p;
    r->len = p ? len : 0;
    r->off = 0;
}

size_t hilt_rd_left(const struct hilt_rd *r)
{
    return r->len - r->off;
}

int hilt_rd_bytes(struct hilt_rd *r, size_t n, const uint8_t **out)
{
    if (hilt_rd_left(r) < n) return -1;
    if (out) *out = r->p + r->off;
    r->off += n;
    return 0;
}

int hilt_rd_skip(struct hilt_rd *r, size_t n)
{
    return hilt_rd_bytes(r, n, NULL);
}

int hilt_rd_u8(struct hilt_rd *r, uint8_t *v)
{
    const uint8_t *p;
    if (hilt_rd_bytes(r, 1, &p) < 0) return -1;
    *v = p[0];
    return 0;
}

int hilt_rd_u16(struct hilt_rd *r, uint16_t *v)
{
    const uint8_t *p;
    if (hilt_rd_bytes(r, 2, &p) < 0) return -1;
    *v = (uint16_t)(p[0] << 8 | p[1]);
    return 0;
}

int hilt_rd_u24(struct hilt_rd *r, uint32_t *v)
{
    const uint8_t *p;
    if (hilt_rd_bytes(r, 3, &p) < 0) return -1;
    *v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    return 0;
}

int hilt_rd_vec(struct hilt_rd *r, int prefix_len, struct hilt_rd *sub)
{
    /* On failure the cursor does not move. */
    size_t start = r->off;
    uint32_t n = 0;
    if (prefix_len == 1) {
        uint8_t v;
        if (hilt_rd_u8(r, &v) < 0) return -1;
        n = v;
    } else if (prefix_len == 2) {
        uint16_t v;
        if (hilt_rd_u16(r, &v) < 0) return -1;
        n = v;
    } else if (prefix_len == 3) {
        if (hilt_rd_u24(r, &n) < 0) return -1;
    } else {
        return -1;
    }
    const uint8_t *p;
    if (hilt_rd_bytes(r, n, &p) < 0) {
        r->off = start;
        return -1;
    }
    hilt_rd_init(sub, p, n);
    return 0;
}
