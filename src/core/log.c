/* log.c - leveled logging to stderr, one line per call. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum hilt_log_level level = HILT_LOG_WARN;
static int level_from_env_done;

static void level_from_env(void)
{
    level_from_env_done = 1;
    const char *s = getenv("HILT_LOG");
    if (!s) return;
    if (!strcmp(s, "debug")) level = HILT_LOG_DEBUG;
    else if (!strcmp(s, "info")) level = HILT_LOG_INFO;
    else if (!strcmp(s, "error")) level = HILT_LOG_ERROR;
}

void hilt_log_set_level(enum hilt_log_level lvl)
{
    level_from_env_done = 1;
    level = lvl;
}

enum hilt_log_level hilt_log_get_level(void)
{
    if (!level_from_env_done) level_from_env();
    return level;
}

void hilt_log(enum hilt_log_level lvl, const char *fmt, ...)
{
    if (lvl > hilt_log_get_level()) return;
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "hilt: %s: %s\n", names[lvl], line);
}
