/* event.h - one handshake event and its JSON-lines form.
 *
 * The gateway fills a struct hs_event when a handshake completes or fails and
 * appends its line to a per-worker buffer (hs_event_append); the worker writes
 * whole lines to the events file with one write(2) (hs_event_flush), so lines
 * from different workers never interleave. Formatting is done by hand with
 * JSON escaping: no allocation per event beyond the buffer's growth.
 *
 * Ownership: every string in hs_event is borrowed for the call.
 */
#ifndef HILT_TELEMETRY_EVENT_H
#define HILT_TELEMETRY_EVENT_H

#include "core/buf.h"

#include <stdint.h>
#include <time.h>

struct hs_event {
    struct timespec when; /* wall clock (realtime) of the handshake's end */
    const char *listener;
    const char *variant;        /* configuration variant id */
    const char *client;         /* "127.0.0.1:53412" */
    const char *sni;            /* NULL: none sent */
    const char *alpn;           /* negotiated, NULL: none */
    const char *version;        /* "TLSv1.3", NULL before it was chosen */
    const char *cipher;         /* IANA name, NULL before it was chosen */
    const char *group;          /* IANA group name, NULL when none / unknown */
    const char *client_subject; /* RFC 2253 subject, NULL: no client certificate */
    uint64_t duration_us;
    int ok;
    const char *code;       /* catalogue code when !ok */
    const char *alert_sent; /* alert names, or NULL */
    const char *alert_received;
    const char *error; /* OpenSSL's reason text, or NULL */
    int resumed;
    const char *ja4;     /* NULL: no ClientHello */
    const char *backend; /* routed backend, or NULL */
    int passthrough;     /* not terminated: the ClientHello went on to the backend as it came
                          * ("result":"passthrough"; version, cipher… are the backend's business) */
};

/* Append s as a JSON string (with quotes) or null. Control bytes and
 * invalid UTF-8 bytes become \u00XX escapes, so any peer bytes are safe. */
int hs_json_str(struct hilt_buf *b, const char *s);
/* Append the event as one JSON line ending in "\n". */
int hs_event_append(struct hilt_buf *b, const struct hs_event *ev);
/* Write the buffer's whole lines to fd (retrying on EINTR / partial writes)
 * and reset it. fd < 0 discards. Returns -1 on a write error. */
int hs_event_flush(struct hilt_buf *b, int fd);

#endif
