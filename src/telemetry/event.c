/* event.c - JSON lines for handshake events, formatted without allocation. */
#include "telemetry/event.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Length of a valid UTF-8 sequence starting at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0)
        len = 2, min = 0x80;
    else if ((c & 0xf0) == 0xe0)
        len = 3, min = 0x800;
    else if ((c & 0xf8) == 0xf0)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n) return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

static size_t esc_u(uint8_t *o, unsigned c)
{
    static const char hex[] = "0123456789abcdef";
    o[0] = '\\';
    o[1] = 'u';
    o[2] = '0';
    o[3] = '0';
    o[4] = (uint8_t)hex[(c >> 4) & 15];
    o[5] = (uint8_t)hex[c & 15];
    return 6;
}

int hs_json_str(struct hilt_buf *b, const char *s)
{
    if (!s) return hilt_buf_add(b, "null", 4);
    size_t n = strlen(s);
    /* worst case every byte becomes \u00XX */
    uint8_t *o = hilt_buf_reserve(b, n * 6 + 2);
    if (!o) return -1;
    size_t k = 0;
    const unsigned char *p = (const unsigned char *)s;
    o[k++] = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            o[k++] = '\\';
            o[k++] = (uint8_t)c;
            i++;
        } else if (c >= 0x20 && c < 0x7f) {
            o[k++] = (uint8_t)c;
            i++;
        } else if (c >= 0x80) {
            size_t l = utf8_len(p + i, n - i);
            if (l) {
                memcpy(o + k, p + i, l);
                k += l;
                i += l;
                continue;
            }
            k += esc_u(o + k, c);
            i++;
        } else {
            k += esc_u(o + k, c);
            i++;
        }
    }
    o[k++] = '"';
    hilt_buf_commit(b, k);
    return 0;
}

#define LIT(b, s) hilt_buf_add((b), (s), sizeof(s) - 1)

static int kv_str(struct hilt_buf *b, const char *key, size_t klen, const char *v)
{
    if (hilt_buf_add(b, key, klen)) return -1;
    return hs_json_str(b, v);
}
#define KV(b, k, v) kv_str((b), k, sizeof(k) - 1, (v))

/* Decimal digits of v into p (no NUL); returns the length. */
static size_t u64_dec(uint64_t v, char *p)
{
    char t[24];
    size_t n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = t[n - 1 - i];
    return n;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* Formatting is by hand (no printf): it runs once per handshake. */
int hs_event_append(struct hilt_buf *b, const struct hs_event *ev)
{
    size_t start = b->len;
    struct tm tm;
    gmtime_r(&ev->when.tv_sec, &tm);
    /* {"time":"YYYY-MM-DDTHH:MM:SS.uuuuuuZ" */
    char ts[40] = "{\"time\":\"0000-00-00T00:00:00.000000Z\"";
    int y = tm.tm_year + 1900;
    put2(ts + 9, y / 100);
    put2(ts + 11, y % 100);
    put2(ts + 14, tm.tm_mon + 1);
    put2(ts + 17, tm.tm_mday);
    put2(ts + 20, tm.tm_hour);
    put2(ts + 23, tm.tm_min);
    put2(ts + 26, tm.tm_sec);
    long us = ev->when.tv_nsec / 1000;
    for (int i = 34; i >= 29; i--, us /= 10)
        ts[i] = (char)('0' + us % 10);
    int rc = hilt_buf_add(b, ts, 37);
    rc |= KV(b, ",\"listener\":", ev->listener);
    rc |= KV(b, ",\"variant\":", ev->variant);
    rc |= KV(b, ",\"client\":", ev->client);
    rc |= KV(b, ",\"sni\":", ev->sni);
    rc |= KV(b, ",\"alpn\":", ev->alpn);
    rc |= KV(b, ",\"version\":", ev->version);
    rc |= KV(b, ",\"cipher\":", ev->cipher);
    rc |= KV(b, ",\"group\":", ev->group);
    rc |= KV(b, ",\"client_subject\":", ev->client_subject);
    char num[24];
    rc |= LIT(b, ",\"duration_us\":");
    rc |= hilt_buf_add(b, num, u64_dec(ev->duration_us, num));
    rc |= ev->passthrough ? LIT(b, ",\"result\":\"passthrough\"")
          : ev->ok        ? LIT(b, ",\"result\":\"ok\"")
                          : LIT(b, ",\"result\":\"failed\"");
    rc |= KV(b, ",\"code\":", ev->ok || ev->passthrough ? NULL : ev->code);
    rc |= KV(b, ",\"alert_sent\":", ev->alert_sent);
    rc |= KV(b, ",\"alert_received\":", ev->alert_received);
    rc |= KV(b, ",\"error\":", ev->error);
    rc |= ev->resumed ? LIT(b, ",\"resumed\":true") : LIT(b, ",\"resumed\":false");
    rc |= KV(b, ",\"ja4\":", ev->ja4);
    rc |= KV(b, ",\"backend\":", ev->backend);
    rc |= LIT(b, "}\n");
    if (rc) {
        b->len = start; /* never leave half a line */
        if (b->data) b->data[start] = 0;
        return -1;
    }
    return 0;
}

int hs_event_flush(struct hilt_buf *b, int fd)
{
    size_t off = 0;
    int rc = 0;
    while (fd >= 0 && off < b->len) {
        ssize_t w = write(fd, b->data + off, b->len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            rc = -1;
            break;
        }
        off += (size_t)w;
    }
    hilt_buf_reset(b);
    return rc;
}
