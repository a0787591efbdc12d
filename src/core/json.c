/* json.c - printing, parsing and small constructors over jansson. */
#include "core/json.h"

#include "core/clock.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

int hilt_json_print(FILE *f, const json_t *j, int pretty)
{
    size_t flags = JSON_ENSURE_ASCII | (pretty ? JSON_INDENT(2) : JSON_COMPACT);
    if (json_dumpf(j, f, flags) < 0) return -1;
    fputc('\n', f);
    return fflush(f) == 0 ? 0 : -1;
}

json_t *hilt_json_time(time_t t)
{
    if (t == 0) return json_null();
    char buf[32];
    hilt_time_fmt_rfc3339(t, buf);
    return json_string(buf);
}

json_t *hilt_json_parse(const void *data, size_t len, const char *source, struct hilt_err *e)
{
    json_error_t je;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        hilt_err_set(e, HILT_E_INPUT, 0, "%s:%d:%d: %s", source, je.line, je.column, je.text);
    return j;
}

json_t *hilt_json_str(const char *s)
{
    json_t *j = json_string(s ? s : "");
    if (j) return j;
    /* Not valid UTF-8 (peer-controlled text): replace non-ASCII bytes. */
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (!c) return json_string("");
    for (size_t i = 0; i < n; i++) c[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    c[n] = '\0';
    j = json_string(c);
    free(c);
    return j ? j : json_string("");
}
