/* err.c - filling and decorating struct hilt_err. */
#include "core/err.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void hilt_err_clear(struct hilt_err *e)
{
    if (!e) return;
    e->kind = HILT_E_NONE;
    e->code = 0;
    e->msg[0] = '\0';
}

int hilt_err_set(struct hilt_err *e, enum hilt_err_kind kind, int code, const char *fmt, ...)
{
    if (!e) return -1;
    e->kind = kind;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* Append the OpenSSL error queue as "; reason (lib)" items, oldest first. */
static void append_ossl_queue(char *msg, size_t cap)
{
    unsigned long code;
    const char *file = NULL, *func = NULL, *data = NULL;
    int line = 0, flags = 0;
    int first = 1;
    while ((code = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
        size_t len = strlen(msg);
        if (len + 4 >= cap) continue; /* drain the queue even when full */
        const char *reason = ERR_reason_error_string(code);
        char tmp[256];
        if (reason)
            snprintf(tmp, sizeof(tmp), "%s", reason);
        else
            snprintf(tmp, sizeof(tmp), "error:%08lX", code);
        snprintf(msg + len, cap - len, "%s%s%s%s", first ? ": " : "; ", tmp,
                 (flags & ERR_TXT_STRING) && data && *data ? " - " : "",
                 (flags & ERR_TXT_STRING) && data ? data : "");
        first = 0;
    }
}

int hilt_err_ossl(struct hilt_err *e, enum hilt_err_kind kind, const char *fmt, ...)
{
    if (!e) {
        ERR_clear_error();
        return -1;
    }
    e->kind = kind;
    e->code = (int)ERR_peek_last_error();
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    append_ossl_queue(e->msg, sizeof(e->msg));
    return -1;
}

void hilt_err_prefix(struct hilt_err *e, const char *fmt, ...)
{
    if (!e) return;
    char pre[HILT_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    char old[HILT_ERR_MSG_MAX];
    memcpy(old, e->msg, sizeof(old));
    /* Truncation is acceptable: the message is for people. */
    size_t pl = strnlen(pre, sizeof(e->msg) - 3);
    memcpy(e->msg, pre, pl);
    memcpy(e->msg + pl, ": ", 2);
    size_t room = sizeof(e->msg) - pl - 3;
    size_t ol = strnlen(old, room);
    memcpy(e->msg + pl + 2, old, ol);
    e->msg[pl + 2 + ol] = '\0';
}

int hilt_err_exit_code(const struct hilt_err *e)
{
    if (!e) return 3;
    switch (e->kind) {
    case HILT_E_NONE: return 0;
    case HILT_E_USAGE:
    case HILT_E_INPUT: return 2;
    case HILT_E_NET: return 1;
    case HILT_E_RUNTIME: return 3;
    }
    return 3;
}
