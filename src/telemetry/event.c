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
            k += (size_t)snprintf((char *)o + k, 7, "\\u%04x", c);
            i++;
        } else {
            k += (size_t)snprintf((char *)o + k, 7, "\\u%04x", c);
            i++;
        }
    }
    o[k++] = '"';
    hilt_buf_commit(b, k);
    return 0;
}

static int kv_str(struct hilt_buf *b, const char *key, const char *v)
{
    if (hilt_buf_addf(b, ",\"%s\":", key)) return -1;
    return hs_json_str(b, v);
}

int hs_event_append(struct hilt_buf *b, const struct hs_event *ev)
{
    size_t start = b->len;
    struct tm tm;
    gmtime_r(&ev->when.tv_sec, &tm);
    char ts[48];
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(ev->when.tv_nsec / 1000));
    int rc = hilt_buf_addf(b, "{\"time\":\"%s\"", ts);
    rc |= kv_str(b, "listener", ev->listener);
    rc |= kv_str(b, "variant", ev->variant);
    rc |= kv_str(b, "client", ev->client);
    rc |= kv_str(b, "sni", ev->sni);
    rc |= kv_str(b, "alpn", ev->alpn);
    rc |= kv_str(b, "version", ev->version);
    rc |= kv_str(b, "cipher", ev->cipher);
    rc |= kv_str(b, "group", ev->group);
    rc |= kv_str(b, "client_subject", ev->client_subject);
    rc |= hilt_buf_addf(b, ",\"duration_us\":%llu,\"result\":\"%s\"",
                        (unsigned long long)ev->duration_us, ev->ok ? "ok" : "failed");
    rc |= kv_str(b, "code", ev->ok ? NULL : ev->code);
    rc |= kv_str(b, "alert_sent", ev->alert_sent);
    rc |= kv_str(b, "alert_received", ev->alert_received);
    rc |= kv_str(b, "error", ev->error);
    rc |= hilt_buf_addf(b, ",\"resumed\":%s", ev->resumed ? "true" : "false");
    rc |= kv_str(b, "ja4", ev->ja4);
    rc |= kv_str(b, "backend", ev->backend);
    rc |= hilt_buf_add(b, "}\n", 2);
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
