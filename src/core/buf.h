/* buf.h - bounded buffers for everything that comes from outside.
 *
 * struct hilt_buf is a growable byte buffer with a hard maximum (in the
 * spirit of curl's dynbuf): appends that would pass `max` fail and leave the
 * buffer unchanged, so hostile input cannot grow memory without bound. The
 * buffer owns `data`; hilt_buf_free() releases it and NULLs the pointer.
 *
 * struct hilt_rd is a read cursor over bytes owned by someone else (in the
 * spirit of s2n's stuffer). Every read checks the remaining length; wire
 * formats (TLS records, DER, HTTP) are parsed through it, never with raw
 * pointer arithmetic.
 */
#ifndef HILT_CORE_BUF_H
#define HILT_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct hilt_buf {
    uint8_t *data; /* owned; always NUL-terminated after a successful add */
    size_t len;
    size_t cap;
    size_t max; /* hard limit on len */
};

void hilt_buf_init(struct hilt_buf *b, size_t max);
void hilt_buf_free(struct hilt_buf *b);
void hilt_buf_reset(struct hilt_buf *b); /* len = 0, keeps memory */
int hilt_buf_add(struct hilt_buf *b, const void *p, size_t n);
int hilt_buf_add_str(struct hilt_buf *b, const char *s);
int hilt_buf_addf(struct hilt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hilt_buf_add_u8(struct hilt_buf *b, uint8_t v);
int hilt_buf_add_u16(struct hilt_buf *b, uint16_t v);
int hilt_buf_add_u24(struct hilt_buf *b, uint32_t v);
/* Reserve room for n more bytes; returns a pointer to them or NULL. The
 * caller then calls hilt_buf_commit(b, used). */
uint8_t *hilt_buf_reserve(struct hilt_buf *b, size_t n);
void hilt_buf_commit(struct hilt_buf *b, size_t n);
/* The content as a C string (the buffer always keeps a NUL after len). */
const char *hilt_buf_cstr(const struct hilt_buf *b);

struct hilt_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
};

void hilt_rd_init(struct hilt_rd *r, const void *p, size_t len);
size_t hilt_rd_left(const struct hilt_rd *r);
int hilt_rd_u8(struct hilt_rd *r, uint8_t *v);
int hilt_rd_u16(struct hilt_rd *r, uint16_t *v);
int hilt_rd_u24(struct hilt_rd *r, uint32_t *v);
int hilt_rd_bytes(struct hilt_rd *r, size_t n, const uint8_t **out);
int hilt_rd_skip(struct hilt_rd *r, size_t n);
/* Read a length-prefixed vector (prefix of 1, 2 or 3 bytes) as a sub-cursor. */
int hilt_rd_vec(struct hilt_rd *r, int prefix_len, struct hilt_rd *sub);

#endif
