/* fuzz_http_request.c - libFuzzer target: request heads through hilt serve's
 * bounded HTTP/1.1 parser (api/httpparse.h), under the default limits and under
 * tight ones, with the invariants the server relies on checked: a complete head
 * never claims more bytes than it was given, stays within the head and header
 * limits, and has a Content-Length within the body limit. */
#include "api/httpparse.h"

#include <stdlib.h>
#include <string.h>

static struct hilt_http_head head;

static void one(const uint8_t *data, size_t size, const struct hilt_http_limits *l)
{
    int st = 0;
    const char *why = NULL;
    int rc = hilt_http_parse_head(data, size, l, &head, &st, &why);
    if (rc == 1) {
        if (head.head_len > size || head.head_len > l->max_head + 8 ||
            head.nheaders > l->max_headers || head.content_length > l->max_body || !head.method ||
            !head.path || head.path[0] != '/' || !head.query)
            abort();
        for (int i = 0; i < head.nheaders; i++)
            if (strpbrk(head.headers[i].value, "\r\n") || strpbrk(head.headers[i].name, "\r\n: "))
                abort();
        if (head.host && !hilt_http_host_ok(head.host)) abort();
    } else if (rc == -1) {
        if (st < 400 || st > 505 || !why) abort();
    } else if (rc != 0) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hilt_http_limits l;
    hilt_http_limits_default(&l);
    one(data, size, &l);
    struct hilt_http_limits tight = {
        .max_line = 64, .max_head = 256, .max_headers = 4, .max_body = 100};
    one(data, size, &tight);
    return 0;
}
