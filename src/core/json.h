/* json.h - JSON helpers over jansson (the chosen JSON library).
 * Objects keep insertion order, so field order in output is stable. */
#ifndef HILT_CORE_JSON_H
#define HILT_CORE_JSON_H

#include <jansson.h>
#include <stdio.h>
#include <time.h>

struct hilt_err;

/* Print with 2-space indent (pretty) or compact on one line, plus "\n". */
int hilt_json_print(FILE *f, const json_t *j, int pretty);
/* RFC 3339 UTC string, or JSON null for t == 0. */
json_t *hilt_json_time(time_t t);
/* Parse bounded bytes; errors name the source and line:column. */
json_t *hilt_json_parse(const void *data, size_t len, const char *source, struct hilt_err *e);
/* json_string() that never returns NULL for invalid UTF-8: bad bytes become '?'. */
json_t *hilt_json_str(const char *s);

#endif
