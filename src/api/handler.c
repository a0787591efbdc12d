/* handler.c - response building for hilt serve's handlers (api/handler.h). */
#include "api/handler.h"

#include "core/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HILT_REPLY_MAX (16u << 20) /* the largest body a handler may build */

const char *hilt_req_header(const struct hilt_req *r, const char *name)
{
    for (int i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name)) return r->headers[i].value;
    return NULL;
}

void hilt_reply_init(struct hilt_reply *r)
{
    memset(r, 0, sizeof(*r));
    hilt_buf_init(&r->body, HILT_REPLY_MAX);
}

struct hilt_deferred *hilt_reply_defer(struct hilt_reply *resp)
{
    if (!resp->defer || resp->deferred) return resp->deferred;
    resp->deferred = resp->defer(resp);
    return resp->deferred;
}

void hilt_reply_undefer(struct hilt_reply *resp)
{
    if (!resp->deferred) return;
    resp->deferred->cancel(resp->deferred);
    resp->deferred = NULL;
}

void hilt_deferred_send(struct hilt_deferred *d, const struct hilt_reply *r)
{
    if (d) d->send(d, r);
}

void hilt_reply_free(struct hilt_reply *r)
{
    hilt_buf_free(&r->body);
    r->nheaders = 0;
}

int hilt_reply_header(struct hilt_reply *r, const char *name, const char *fmt, ...)
{
    if (r->nheaders >= HILT_REPLY_MAX_HEADERS) return -1;
    if (strlen(name) >= sizeof(r->headers[0].name)) return -1;
    char *v = r->headers[r->nheaders].value;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v, sizeof(r->headers[0].value), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(r->headers[0].value)) return -1;
    /* Header injection: a value never carries CR or LF. */
    if (strpbrk(v, "\r\n")) return -1;
    strcpy(r->headers[r->nheaders].name, name);
    r->nheaders++;
    return 0;
}

void hilt_reply_bytes(struct hilt_reply *r, int status, const char *type, const void *p, size_t n)
{
    hilt_buf_reset(&r->body);
    r->status = status;
    snprintf(r->content_type, sizeof(r->content_type), "%s", type ? type : "");
    if (n && hilt_buf_add(&r->body, p, n) < 0) {
        r->status = 500;
        r->content_type[0] = 0;
        hilt_buf_reset(&r->body);
    }
}

void hilt_reply_json_type(struct hilt_reply *r, int status, const char *type, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(body);
    if (!s) {
        hilt_reply_bytes(r, 500, NULL, NULL, 0);
        return;
    }
    hilt_reply_bytes(r, status, type, s, strlen(s));
    free(s);
}

void hilt_reply_json(struct hilt_reply *r, int status, json_t *body)
{
    hilt_reply_json_type(r, status, "application/json", body);
}

void hilt_reply_problem(struct hilt_reply *r, int status, const char *type, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    /* detail may quote peer input: hilt_json_str() keeps bad UTF-8 from
     * turning the problem document into a bare 500 */
    json_t *o = json_pack("{s:s, s:o, s:i}", "type", type, "detail", hilt_json_str(detail),
                          "status", status);
    hilt_reply_json_type(r, status, "application/problem+json", o);
}
