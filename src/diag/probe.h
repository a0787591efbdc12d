/* probe.h - `hilt probe`: connect once, read what the peer reveals, and when
 * something is wrong re-probe with controlled variations until one root
 * cause is isolated. See docs/probe.md for the method and the JSON shape.
 *
 * Ownership: hilt_probe() allocates the report; free it with
 * hilt_probe_report_free(). Options are borrowed for the call.
 */
#ifndef HILT_DIAG_PROBE_H
#define HILT_DIAG_PROBE_H

#include <jansson.h>
#include <stdio.h>
#include <time.h>

struct hilt_err;

struct hilt_probe_opts {
    const char *target;             /* HOST[:PORT], port 443 by default */
    const char *sni;                /* --sni NAME (NULL: HOST when it is a name) */
    int no_sni;                     /* --no-sni */
    const char *ca_file;            /* --ca-file: replaces the system trust store */
    const char *intermediates_file; /* --intermediates: extra issuers to complete chains */
    const char *client_cert_file;   /* --client-cert / --client-key */
    const char *client_key_file;
    const char *alpn;    /* --alpn LIST (comma-separated) */
    const char *profile; /* --profile NAME; NULL = "default" */
    time_t at;           /* --at: check validity as of this time; 0 = now */
    int timeout_ms;      /* --timeout; 0 = 5000 */
    int no_http;         /* --no-http: never send HEAD / */
    int no_revocation;   /* --no-revocation: skip OCSP/CRL fetches */
};

struct hilt_probe_report;

/* Returns 0 with a report (healthy or not), or -1 with e for bad usage or
 * input (exit 2): unknown profile, unreadable or malformed files, bad port. */
int hilt_probe(const struct hilt_probe_opts *o, struct hilt_probe_report **out,
               struct hilt_err *e);
/* Healthy: the handshake completed, the peer is trusted, no error finding. */
int hilt_probe_report_ok(const struct hilt_probe_report *r);
json_t *hilt_probe_report_json(const struct hilt_probe_report *r);
void hilt_probe_report_print(FILE *f, const struct hilt_probe_report *r, int color);
void hilt_probe_report_free(struct hilt_probe_report *r);

#endif
