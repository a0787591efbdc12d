/* httpparse.c - bounded HTTP/1.1 request heads (api/httpparse.h, RFC 9112
 * §2-§7 and §11's smuggling rules). The input is read through a bounds-
 * checked cursor; nothing is parsed with str* on outside bytes before it has
 * been copied, length-checked and NUL-terminated. */
#include "api/httpparse.h"

#include <string.h>
#include <strings.h>

void hilt_http_limits_default(struct hilt_http_limits *l)
{
    l->max_line = 8192;
    l->max_head = 16384;
    l->max_headers = 64;
    l->max_body = 1u << 20;
}

/* RFC 9110 §5.6.2 tchar */
static int tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int refuse(int *status, const char **why, int st, const char *w)
{
    *status = st;
    *why = w;
    return -1;
}

int hilt_http_host_ok(const char *h)
{
    size_t n = strlen(h), i = 0;
    if (n == 0 || n > 300) return 0;
    if (h[0] == '[') {
        const char *end = strchr(h, ']');
        if (!end || end == h + 1) return 0;
        for (const char *c = h + 1; c < end; c++)
            if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') ||
                  (*c >= 'A' && *c <= 'F') || *c == ':' || *c == '.'))
                return 0;
        i = (size_t)(end - h) + 1;
    } else {
        while (i < n && h[i] != ':') {
            char c = h[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_'))
                return 0;
            i++;
        }
        if (i == 0) return 0;
    }
    if (i == n) return 1;
    if (h[i] != ':' || i + 1 == n || n - i - 1 > 5) return 0;
    for (size_t j = i + 1; j < n; j++)
        if (h[j] < '0' || h[j] > '9') return 0;
    return 1;
}

/* Does the comma-separated header value contain `tok` (case-insensitive)? */
static int has_token(const char *v, const char *tok)
{
    size_t tl = strlen(tok);
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl && !strncasecmp(s, tok, tl)) return 1;
    }
    return 0;
}

int hilt_http_parse_head(const uint8_t *p, size_t n, const struct hilt_http_limits *lim,
                         struct hilt_http_head *out, int *status, const char **why)
{
    size_t max_head = lim->max_head < HILT_HTTP_MAX_HEAD ? lim->max_head : HILT_HTTP_MAX_HEAD;
    size_t max_line = lim->max_line < max_head ? lim->max_line : max_head;
    int max_headers = lim->max_headers > 0 && lim->max_headers <= HILT_REQ_MAX_HEADERS
                          ? lim->max_headers
                          : HILT_REQ_MAX_HEADERS;
    size_t off = 0;
    /* RFC 9112 §2.2: empty lines before the request line are ignored */
    while (off + 1 < n && p[off] == '\r' && p[off + 1] == '\n' && off < 8)
        off += 2;
    /* find the end of the head: CRLF CRLF, within max_head */
    size_t lim_n = n < max_head ? n : max_head;
    size_t end = 0;
    for (size_t i = off; i + 3 < lim_n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n') {
            end = i + 4;
            break;
        }
    /* the request line's own limit, even before the head is complete */
    size_t le = off;
    while (le < n && le - off <= max_line && p[le] != '\n')
        le++;
    if (le - off > max_line) return refuse(status, why, 414, "request line too long");
    if (!end) {
        if (n >= max_head) return refuse(status, why, 431, "request head too large");
        return 0;
    }
    /* copy and work on the copy */
    size_t hl = end - off;
    memcpy(out->buf, p + off, hl);
    out->buf[hl] = '\0';
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)out->buf[i];
        if (c == 0) return refuse(status, why, 400, "NUL byte in the request head");
        if (c == '\n' && (i == 0 || out->buf[i - 1] != '\r'))
            return refuse(status, why, 400, "bare LF in the request head (CRLF expected)");
        if (c == '\r' && (i + 1 >= hl || out->buf[i + 1] != '\n'))
            return refuse(status, why, 400, "bare CR in the request head");
    }
    out->nheaders = 0;
    out->host = NULL;
    out->content_length = 0;
    out->expect_continue = 0;
    out->head_len = end;

    /* request-line = method SP request-target SP HTTP-version */
    char *line = out->buf;
    char *eol = strstr(line, "\r\n");
    *eol = '\0';
    char *sp1 = strchr(line, ' ');
    if (!sp1 || sp1 == line) return refuse(status, why, 400, "malformed request line");
    *sp1 = '\0';
    for (char *c = line; *c; c++)
        if (!tchar((unsigned char)*c)) return refuse(status, why, 400, "malformed method");
    if (sp1 - line > 16) return refuse(status, why, 501, "unknown method");
    out->method = line;
    char *tgt = sp1 + 1;
    char *sp2 = strchr(tgt, ' ');
    if (!sp2 || sp2 == tgt) return refuse(status, why, 400, "malformed request line");
    *sp2 = '\0';
    for (char *c = tgt; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return refuse(status, why, 400, "malformed request target");
    if (tgt[0] != '/')
        return refuse(status, why, 400, "request target must be a path (origin form)");
    out->target = tgt;
    char *ver = sp2 + 1;
    if (strncmp(ver, "HTTP/", 5) || strlen(ver) != 8 || ver[6] != '.' || ver[5] < '0' ||
        ver[5] > '9' || ver[7] < '0' || ver[7] > '9')
        return refuse(status, why, 400, "malformed HTTP version");
    if (ver[5] != '1') return refuse(status, why, 505, "only HTTP/1.x is served");
    out->minor = ver[7] - '0';
    if (out->minor > 1) out->minor = 1;

    /* header fields */
    int cl_seen = 0, te_seen = 0, conn_close = 0, conn_keep = 0;
    size_t cl = 0;
    char *q = eol + 2;
    while (1) {
        char *e = strstr(q, "\r\n");
        if (e == q) break; /* the empty line */
        *e = '\0';
        if (*q == ' ' || *q == '\t')
            return refuse(status, why, 400, "obsolete line folding in a header");
        char *colon = strchr(q, ':');
        if (!colon || colon == q) return refuse(status, why, 400, "malformed header line");
        *colon = '\0';
        for (char *c = q; *c; c++)
            if (!tchar((unsigned char)*c))
                return refuse(status, why, 400, "malformed header name (or space before ':')");
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char *ve = v + strlen(v);
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            *--ve = '\0';
        for (char *c = v; *c; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                return refuse(status, why, 400, "control character in a header value");
        if (out->nheaders == max_headers) return refuse(status, why, 431, "too many headers");
        out->headers[out->nheaders].name = q;
        out->headers[out->nheaders].value = v;
        out->nheaders++;
        if (!strcasecmp(q, "Content-Length")) {
            if (!*v) return refuse(status, why, 400, "empty Content-Length");
            size_t x = 0;
            for (char *c = v; *c; c++) {
                if (*c < '0' || *c > '9')
                    return refuse(status, why, 400, "malformed Content-Length");
                if (x > (SIZE_MAX - 9) / 10) return refuse(status, why, 413, "body too large");
                x = x * 10 + (size_t)(*c - '0');
            }
            if (cl_seen && x != cl) return refuse(status, why, 400, "conflicting Content-Length");
            cl = x;
            cl_seen = 1;
        } else if (!strcasecmp(q, "Transfer-Encoding")) {
            te_seen = 1;
        } else if (!strcasecmp(q, "Host")) {
            if (out->host) return refuse(status, why, 400, "more than one Host header");
            if (!hilt_http_host_ok(v)) return refuse(status, why, 400, "malformed Host header");
            out->host = v;
        } else if (!strcasecmp(q, "Connection")) {
            if (has_token(v, "close")) conn_close = 1;
            if (has_token(v, "keep-alive")) conn_keep = 1;
        } else if (!strcasecmp(q, "Expect")) {
            if (strcasecmp(v, "100-continue"))
                return refuse(status, why, 417, "only 'Expect: 100-continue' is understood");
            out->expect_continue = 1;
        }
        q = e + 2;
    }
    if (te_seen && cl_seen)
        return refuse(status, why, 400, "both Transfer-Encoding and Content-Length");
    if (te_seen)
        return refuse(status, why, 411, "send a Content-Length (no Transfer-Encoding accepted)");
    if (out->minor == 1 && !out->host) return refuse(status, why, 400, "HTTP/1.1 without Host");
    if (cl > lim->max_body) return refuse(status, why, 413, "body larger than this server accepts");
    out->content_length = cl;
    out->keep_alive = out->minor == 1 ? !conn_close : (conn_keep && !conn_close);
    /* path and query */
    char *qm = strchr(out->target, '?');
    static char empty[1] = "";
    if (qm) {
        /* split in place: handlers use path and query (target = path after this) */
        *qm = '\0';
        out->path = out->target;
        out->query = qm + 1;
    } else {
        out->path = out->target;
        out->query = empty;
    }
    return 1;
}

const char *hilt_http_reason(int s)
{
    switch (s) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
