/* scope.c - pre-approved scopes (api/api.h). */
#include "api/api.h"

#include "core/clock.h"
#include "core/err.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* "*.svc.internal" covers one label in place of '*' ("a.svc.internal", not
 * "svc.internal" nor "a.b.svc.internal"); anything else is an exact name.
 * DNS names compare case-insensitively. */
static int pattern_match(const char *pat, const char *name)
{
    if (pat[0] == '*' && pat[1] == '.') {
        const char *dot = strchr(name, '.');
        if (!dot || dot == name) return 0;
        return !strcasecmp(dot, pat + 1);
    }
    return !strcasecmp(pat, name);
}

int hilt_scope_covers(const struct hilt_scope *scopes, size_t n, const char *const *names,
                      size_t nnames, const char *env, int64_t lifetime)
{
    if (!nnames) return 0;
    for (size_t s = 0; s < n; s++) {
        const struct hilt_scope *sc = &scopes[s];
        if (sc->env[0] && (!env || strcmp(sc->env, env))) continue;
        if (sc->max_lifetime && (lifetime <= 0 || lifetime > sc->max_lifetime)) continue;
        size_t i = 0;
        while (i < nnames && pattern_match(sc->pattern, names[i]))
            i++;
        if (i == nnames) return 1;
    }
    return 0;
}

static int valid_pattern(const char *p)
{
    const char *q = (p[0] == '*' && p[1] == '.') ? p + 2 : p;
    if (!*q || strlen(p) > 253) return 0;
    for (const char *c = q; *c; c++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 *c == '-' || *c == '.';
        if (!ok) return 0;
        if (*c == '.' && (c == q || c[1] == '.' || c[1] == 0)) return 0;
    }
    return 1;
}

int hilt_scope_parse(const char *s, struct hilt_scope *out, struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    const char *comma = strchr(s, ',');
    size_t plen = comma ? (size_t)(comma - s) : strlen(s);
    if (plen == 0 || plen >= sizeof(out->pattern))
        return hilt_err_set(e, HILT_E_USAGE, 0, "scope '%s': expected PATTERN[,max-lifetime]", s);
    memcpy(out->pattern, s, plen);
    if (!valid_pattern(out->pattern))
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "scope '%s': '%s' is not a DNS name or '*.' followed by one", s,
                            out->pattern);
    if (comma) {
        int64_t secs = 0;
        if (hilt_duration_parse(comma + 1, &secs) < 0 || secs <= 0)
            return hilt_err_set(e, HILT_E_USAGE, 0,
                                "scope '%s': max-lifetime '%s' is not a duration (7d, 12h, 3600s)",
                                s, comma + 1);
        out->max_lifetime = secs;
    }
    return 0;
}
