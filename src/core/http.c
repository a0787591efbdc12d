/* http.c - bounded HTTP/1.1 response parsing and a plain-TCP client. */
#include "core/http.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/net.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int hilt_url_parse(const char *s, struct hilt_url *u, struct hilt_err *e)
{
    memset(u, 0, sizeof(*u));
    const char *p = strstr(s, "://");
    if (!p) return hilt_err_set(e, HILT_E_INPUT, 0, "'%s' is not a URL", s);
    size_t sl = (size_t)(p - s);
    if (sl >= sizeof(u->scheme)) return hilt_err_set(e, HILT_E_INPUT, 0, "bad URL scheme in '%s'", s);
    for (size_t i = 0; i < sl; i++) u->scheme[i] = (char)tolower((unsigned char)s[i]);
    uint16_t defport;
    if (!strcmp(u->scheme, "http"))
        defport = 80;
    else if (!strcmp(u->scheme, "https"))
        defport = 443;
    else
        return hilt_err_set(e, HILT_E_INPUT, 0, "unsupported URL scheme '%s'", u->scheme);
    p += 3;
    const char *slash = p + strcspn(p, "/?#");
    char hp[300];
    size_t hl = (size_t)(slash - p);
    if (hl == 0 || hl >= sizeof(hp)) return hilt_err_set(e, HILT_E_INPUT, 0, "bad host in URL '%s'", s);
    memcpy(hp, p, hl);
    hp[hl] = '\0';
    if (strchr(hp, '@')) return hilt_err_set(e, HILT_E_INPUT, 0, "credentials in URL '%s' are not supported", s);
    struct hilt_hostport h;
    if (hilt_hostport_parse(hp, defport, &h, e) < 0) {
        hilt_err_prefix(e, "URL '%s'", s);
        return -1;
    }
    snprintf(u->host, sizeof(u->host), "%s", h.host);
    u->port = h.port;
    const char *path = *slash == '/' ? slash : "/";
    size_t pl = strcspn(path, "#");
    if (*slash == '?') {
        /* "http://host?x" means path "/?x" */
        if (pl + 2 > sizeof(u->path)) return hilt_err_set(e, HILT_E_INPUT, 0, "URL path too long");
        u->path[0] = '/';
        memcpy(u->path + 1, slash, strcspn(slash, "#"));
        return 0;
    }
    if (pl + 1 > sizeof(u->path)) return hilt_err_set(e, HILT_E_INPUT, 0, "URL path too long");
    memcpy(u->path, path, pl);
    u->path[pl] = '\0';
    for (char *c = u->path; *c; c++)
        if ((unsigned char)*c < 0x21 || *c == 0x7f)
            return hilt_err_set(e, HILT_E_INPUT, 0, "URL '%s' has a control or space character", s);
    return 0;
}

void hilt_http_resp_init(struct hilt_http_resp *r, size_t body_max)
{
    r->status = 0;
    hilt_buf_init(&r->head, HILT_HTTP_HEAD_MAX);
    hilt_buf_init(&r->body, body_max);
}

void hilt_http_resp_free(struct hilt_http_resp *r)
{
    hilt_buf_free(&r->head);
    hilt_buf_free(&r->body);
}

/* Find "\r\n\r\n" (or bare "\n\n") within the first n bytes. */
static long find_head_end(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == '\n' && p[i + 1] == '\n') return (long)(i + 2);
        if (i + 3 < n && p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return (long)(i + 4);
    }
    return -1;
}

int hilt_http_header(const struct hilt_http_resp *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *h = hilt_buf_cstr(&r->head);
    const char *line = strchr(h, '\n'); /* skip the status line */
    while (line) {
        line++;
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            const char *ve = line + len;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            size_t vl = (size_t)(ve - v);
            if (vl >= cap) vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return 0;
        }
        line = end;
    }
    return -1;
}

/* Decode a chunked body from p[0..n). Returns 1 complete, 0 need more, -1 bad. */
static int dechunk(const uint8_t *p, size_t n, struct hilt_buf *out, struct hilt_err *e)
{
    size_t off = 0;
    hilt_buf_reset(out);
    for (;;) {
        size_t ls = off;
        while (off < n && p[off] != '\n') off++;
        if (off >= n) return 0;
        off++;
        unsigned long long sz = 0;
        size_t i = ls;
        int any = 0;
        for (; i < off && isxdigit(p[i]); i++) {
            if (sz > (1ULL << 40)) return hilt_err_set(e, HILT_E_INPUT, 0, "HTTP chunk size too large");
            sz = sz * 16 + (unsigned)(isdigit(p[i]) ? p[i] - '0' : (tolower(p[i]) - 'a' + 10));
            any = 1;
        }
        if (!any) return hilt_err_set(e, HILT_E_INPUT, 0, "malformed HTTP chunk size");
        if (sz == 0) {
            /* Trailers end with an empty line; accept EOF-less completion. */
            return 1;
        }
        if (sz > out->max - out->len) return hilt_err_set(e, HILT_E_INPUT, 0, "HTTP body larger than %zu bytes", out->max);
        if (n - off < sz + 2) return 0;
        if (hilt_buf_add(out, p + off, (size_t)sz) < 0) return hilt_err_set(e, HILT_E_INPUT, 0, "HTTP body too large");
        off += (size_t)sz;
        if (p[off] == '\r') off++;
        if (off >= n || p[off] != '\n') return hilt_err_set(e, HILT_E_INPUT, 0, "malformed HTTP chunk");
        off++;
    }
}

int hilt_http_parse(const uint8_t *p, size_t n, int at_eof, int no_body, struct hilt_http_resp *r,
                    struct hilt_err *e)
{
    long hend = find_head_end(p, n < HILT_HTTP_HEAD_MAX ? n : HILT_HTTP_HEAD_MAX);
    if (hend < 0) {
        if (n >= HILT_HTTP_HEAD_MAX) return hilt_err_set(e, HILT_E_INPUT, 0, "HTTP response head larger than %d bytes", HILT_HTTP_HEAD_MAX);
        if (at_eof) return hilt_err_set(e, HILT_E_INPUT, 0, n ? "HTTP response cut short in its head" : "no HTTP response");
        return 0;
    }
    hilt_buf_reset(&r->head);
    if (hilt_buf_add(&r->head, p, (size_t)hend) < 0) return hilt_err_set(e, HILT_E_INPUT, 0, "HTTP head too large");
    const char *h = hilt_buf_cstr(&r->head);
    if (strncmp(h, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)h[7]) || h[8] != ' ' ||
        !isdigit((unsigned char)h[9]) || !isdigit((unsigned char)h[10]) || !isdigit((unsigned char)h[11]))
        return hilt_err_set(e, HILT_E_INPUT, 0, "not an HTTP/1.x response");
    r->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    const uint8_t *body = p + hend;
    size_t avail = n - (size_t)hend;
    hilt_buf_reset(&r->body);
    if (no_body || r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200)) return 1;
    char v[64];
    if (hilt_http_header(r, "Transfer-Encoding", v, sizeof(v)) == 0 && strcasestr(v, "chunked")) {
        int rc = dechunk(body, avail, &r->body, e);
        if (rc == 0 && at_eof) return hilt_err_set(e, HILT_E_INPUT, 0, "HTTP chunked body cut short");
        return rc;
    }
    if (hilt_http_header(r, "Content-Length", v, sizeof(v)) == 0) {
        char *end;
        errno = 0;
        unsigned long long cl = strtoull(v, &end, 10);
        if (errno || *end || end == v) return hilt_err_set(e, HILT_E_INPUT, 0, "bad Content-Length '%s'", v);
        if (cl > r->body.max) return hilt_err_set(e, HILT_E_INPUT, 0, "HTTP body of %llu bytes is over the %zu-byte limit", cl, r->body.max);
        if (avail < cl) {
            if (at_eof) return hilt_err_set(e, HILT_E_INPUT, 0, "HTTP body cut short (%zu of %llu bytes)", avail, cl);
            return 0;
        }
        if (hilt_buf_add(&r->body, body, (size_t)cl) < 0) return hilt_err_set(e, HILT_E_INPUT, 0, "HTTP body too large");
        return 1;
    }
    /* Close-delimited. */
    if (avail > r->body.max) return hilt_err_set(e, HILT_E_INPUT, 0, "HTTP body over the %zu-byte limit", r->body.max);
    if (!at_eof) return 0;
    if (hilt_buf_add(&r->body, body, avail) < 0) return hilt_err_set(e, HILT_E_INPUT, 0, "HTTP body too large");
    return 1;
}

static int send_all(int fd, const uint8_t *p, size_t n, uint64_t deadline, struct hilt_err *e)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                if (hilt_fd_wait(fd, POLLOUT, deadline) <= 0)
                    return hilt_err_set(e, HILT_E_NET, HILT_NET_TIMEOUT, "timed out sending request");
                continue;
            }
            return hilt_err_set(e, HILT_E_NET, HILT_NET_RESET, "send: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int hilt_http_fetch(const char *method, const char *url, const char *content_type,
                    const void *body, size_t body_len, int timeout_ms, struct hilt_http_resp *r,
                    struct hilt_err *e)
{
    struct hilt_url u;
    if (hilt_url_parse(url, &u, e) < 0) return -1;
    if (strcmp(u.scheme, "http") != 0)
        return hilt_err_set(e, HILT_E_INPUT, 0, "%s: only http:// URLs can be fetched here", url);
    uint64_t deadline = hilt_mono_us() + (uint64_t)timeout_ms * 1000u;
    int fd = -1, rc = -1;
    struct hilt_buf req, in;
    hilt_buf_init(&req, 1 << 20);
    hilt_buf_init(&in, HILT_HTTP_HEAD_MAX + r->body.max + 65536);
    if (hilt_tcp_connect(u.host, u.port, timeout_ms, &fd, NULL, 0, e) < 0) goto out;
    int bad = 0;
    char hosthdr[300];
    if (strchr(u.host, ':'))
        snprintf(hosthdr, sizeof(hosthdr), "[%s]", u.host);
    else
        snprintf(hosthdr, sizeof(hosthdr), "%s", u.host);
    bad |= hilt_buf_addf(&req, "%s %s HTTP/1.1\r\nHost: %s", method, u.path, hosthdr);
    if (u.port != 80) bad |= hilt_buf_addf(&req, ":%u", u.port);
    bad |= hilt_buf_add_str(&req, "\r\nUser-Agent: hilt\r\nConnection: close\r\nAccept: */*\r\n");
    if (body) {
        bad |= hilt_buf_addf(&req, "Content-Type: %s\r\nContent-Length: %zu\r\n",
                             content_type ? content_type : "application/octet-stream", body_len);
    }
    bad |= hilt_buf_add_str(&req, "\r\n");
    if (body) bad |= hilt_buf_add(&req, body, body_len);
    if (bad) {
        hilt_err_set(e, HILT_E_INPUT, 0, "HTTP request too large");
        goto out;
    }
    if (send_all(fd, req.data, req.len, deadline, e) < 0) goto out;
    int no_body = strcmp(method, "HEAD") == 0;
    for (;;) {
        int w = hilt_fd_wait(fd, POLLIN, deadline);
        if (w <= 0) {
            hilt_err_set(e, HILT_E_NET, HILT_NET_TIMEOUT, "%s: no complete answer within %d ms", url, timeout_ms);
            goto out;
        }
        uint8_t *p = hilt_buf_reserve(&in, 16384);
        if (!p) {
            hilt_err_set(e, HILT_E_INPUT, 0, "%s: response larger than %zu bytes", url, in.max);
            goto out;
        }
        ssize_t n = read(fd, p, 16384);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            hilt_err_set(e, HILT_E_NET, HILT_NET_RESET, "%s: %s", url, strerror(errno));
            goto out;
        }
        hilt_buf_commit(&in, (size_t)n);
        int pr = hilt_http_parse(in.data, in.len, n == 0, no_body, r, e);
        if (pr < 0) {
            hilt_err_prefix(e, "%s", url);
            goto out;
        }
        if (pr == 1) break;
    }
    rc = 0;
out:
    if (fd >= 0) close(fd);
    hilt_buf_free(&req);
    hilt_buf_free(&in);
    return rc;
}
