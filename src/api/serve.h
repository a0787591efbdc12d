/* serve.h - `hilt serve`: its configuration (defaults, the YAML file, the
 * command-line overrides) and the daemon's entry point. The daemon itself
 * lives in api/httpd.c; docs/serve.md describes both.
 *
 * Ownership: struct hilt_serve_config is plain memory (fixed arrays), so
 * a reload builds a new one and swaps it in; nothing in it needs freeing.
 */
#ifndef HILT_API_SERVE_H
#define HILT_API_SERVE_H

#include "api/api.h"

#include <stddef.h>
#include <stdint.h>

struct hilt_err;

#define HILT_SERVE_MAX_LISTENERS 8
#define HILT_SERVE_MAX_SCOPES 64
#define HILT_SERVE_MAX_NAMES 16
#define HILT_SERVE_MAX_RESOLVE 16
#define HILT_SERVE_CONFIG_MAX (256 * 1024)

struct hilt_serve_listener {
    char listen[300]; /* ADDR:PORT ([v6]:port); port 0 picks one */
    int tls;          /* 1 HTTPS (default), 0 plain HTTP: only /ocsp /crl /healthz /metrics /ca */
    char profile[64]; /* TLS policy profile (default "intermediate") */
    int client_certs; /* 1: ask for a client certificate (optional; default), 0: never */
    int line, col;    /* where it was defined (0 = command line) */
};

struct hilt_serve_config {
    char source[1024]; /* the config file, or "" */
    char node[64];     /* this node's name (leases, metrics, audit); default HOST-PORT */
    char store[1024];  /* "" = $HILT_HOME/hilt.db */
    char ca[64];       /* CA name; default "hilt" */
    char policy[1024]; /* policy file for profiles beyond the built-in ones, or "" */
    struct hilt_serve_listener listeners[HILT_SERVE_MAX_LISTENERS];
    size_t nlisteners;
    /* the server's own certificate */
    char cert_names[HILT_SERVE_MAX_NAMES][256];
    size_t ncert_names;
    int64_t cert_lifetime, cert_renew_before;
    /* pre-approved scopes */
    struct hilt_scope scopes[HILT_SERVE_MAX_SCOPES];
    size_t nscopes;
    int issue_on_approve;
    struct {
        int max_connections;
        int64_t header_timeout, body_timeout, idle_timeout, write_timeout; /* seconds */
        size_t max_body, max_head, max_line;
        int max_headers;
        int requests_per_connection;
    } limits;
    struct {
        int enabled;       /* the lease-held renewal loop */
        int64_t interval;  /* how often `renew --due` runs on the holder */
        int64_t lease_ttl; /* heartbeat every ttl/3; taken over after ttl */
        int manifests;     /* run `hilt renew --due` (certificate-as-code manifests) */
    } renewal;
    struct {
        int64_t interval, next_update;
    } crl;
    struct {
        int64_t validity, poll;
    } ocsp;
    /* ACME validation test knobs (as pebble has); 0 = defaults 80 / 443 */
    int http01_port, tlsalpn01_port;
    char resolve[HILT_SERVE_MAX_RESOLVE][300];
    size_t nresolve;
    int access_log; /* one line per request on stderr */
};

void hilt_serve_config_defaults(struct hilt_serve_config *c);
/* Read and check a config file over the defaults already in c. Errors are
 * HILT_E_INPUT "FILE:LINE:COL: path: message". */
int hilt_serve_config_load(const char *path, struct hilt_serve_config *c, struct hilt_err *e);
/* Checks after the command line's overrides (at least one listener, names). */
int hilt_serve_config_check(struct hilt_serve_config *c, struct hilt_err *e);

/* Build the configuration again (SIGHUP): the file, then the same
 * overrides. The daemon calls it and keeps the old one on failure. */
typedef int (*hilt_serve_loader)(struct hilt_serve_config *out, void *arg, struct hilt_err *e);

struct hilt_serve_run_opts {
    const char *self_exe;     /* /proc/self/exe: the signer child and `renew --due` */
    hilt_serve_loader reload; /* NULL: SIGHUP only logs */
    void *reload_arg;
    void (*ready)(const char *const *urls, size_t n, void *arg); /* once listening */
    void *ready_arg;
};

/* Run the daemon until SIGTERM/SIGINT (0) or a fault (-1). */
int hilt_serve_run(const struct hilt_serve_config *c, const struct hilt_serve_run_opts *o,
                   struct hilt_err *e);

#endif
