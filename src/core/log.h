/* log.h - diagnostics to stderr. Never pass key material to these functions. */
#ifndef HILT_CORE_LOG_H
#define HILT_CORE_LOG_H

enum hilt_log_level { HILT_LOG_ERROR, HILT_LOG_WARN, HILT_LOG_INFO, HILT_LOG_DEBUG };

void hilt_log_set_level(enum hilt_log_level lvl);
enum hilt_log_level hilt_log_get_level(void);
void hilt_log(enum hilt_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define hilt_debug(...) hilt_log(HILT_LOG_DEBUG, __VA_ARGS__)
#define hilt_info(...) hilt_log(HILT_LOG_INFO, __VA_ARGS__)
#define hilt_warn(...) hilt_log(HILT_LOG_WARN, __VA_ARGS__)

#endif
