/* config.h - the gateway's YAML configuration, loaded and validated.
 *
 * gw_config_load() reads the file through the bounded YAML tree of
 * policy/yamltree.h, checks every field (unknown keys, types, addresses,
 * durations, references between listeners, routes and backends), resolves
 * `profile:` names through the policy module (the built-ins, or the file named
 * by `policy:`), and makes every relative path relative to the config file's
 * directory. Errors are HILT_E_INPUT with "file:line:col: path: message".
 * Nothing here touches OpenSSL or sockets: gen.c turns a config into a
 * running generation, and reports certificate/key problems at the positions
 * recorded here.
 *
 * Ownership: gw_config_load() returns a config that owns every string, array
 * and the loaded policy; gw_config_free() frees it and NULLs the pointer.
 */
#ifndef HILT_GATEWAY_CONFIG_H
#define HILT_GATEWAY_CONFIG_H

#include "core/net.h"
#include "policy/policy.h"

#include <stddef.h>
#include <stdint.h>

struct hilt_err;

#define GW_CONFIG_MAX_BYTES (1024 * 1024)
#define GW_MAX_LISTENERS 64
#define GW_MAX_BACKENDS 256
#define GW_MAX_SERVERS 64
#define GW_MAX_CERTS 64
#define GW_MAX_ROUTES 256
#define GW_MAX_WORKERS 64

struct gw_pos {
    int line, col;
};

/* A certificate issued by hilt's own CA (the trust plane) instead of read
 * from files: issued at start, renewed before it expires, hot-swapped. */
struct gw_issuecfg {
    char **names; /* DNS names and IP addresses (the SANs) */
    size_t nnames;
    char *key;                   /* key type, "ec-p256" (default) … (x509/key.h) */
    int64_t lifetime;            /* seconds; default 24 h */
    int64_t renew_before;        /* seconds; 0: renew at 2/3 of the lifetime */
    char *ca;                    /* the CA's name in the store; default "hilt" */
    char *owner, *service, *env; /* inventory metadata (service defaults to the listener) */
    char id[16]; /* 12 hex digits naming this certificate (listener, names, key, CA) */
    struct gw_pos at;
};

struct gw_certcfg {
    char *cert, *key;          /* absolute or config-relative resolved paths; NULL with issue */
    struct gw_issuecfg *issue; /* NULL: from files */
    int is_default;
    struct gw_pos at, cert_at, key_at;
};

struct gw_routecfg {
    char *sni;  /* exact, "*.suffix" or "*" */
    char *alpn; /* NULL: any */
    char *backend;
    int backend_idx;
    int passthrough; /* splice the client's TLS to the backend without terminating it */
    struct gw_pos at;
};

struct gw_clientauth {
    enum hilt_client_cert_mode mode;
    char *ca;        /* CA bundle, or NULL */
    char **subjects; /* RFC 2253 subject patterns, '*' wildcard */
    size_t nsubjects;
    struct gw_pos at, ca_at;
};

struct gw_listenercfg {
    char *name;
    char *listen;
    struct hilt_hostport addr;
    char *profile_name;
    const struct hilt_profile *profile; /* borrowed: the config's policy or the built-ins */
    struct gw_certcfg *certs;
    size_t ncerts;
    struct gw_clientauth client_auth;
    char **alpn;
    size_t nalpn;
    int strict_sni;
    int proxy_protocol;  /* 0 off, 2 = v2 */
    int connect_on_data; /* backend_connect: first_data - connect once the client sent bytes */
    struct gw_routecfg *routes;
    size_t nroutes;
    int npassthrough; /* routes with passthrough: the ClientHello is peeked first */
    int hs_timeout_ms, idle_timeout_ms, connect_timeout_ms;
    struct gw_pos at, listen_at, profile_at, certs_at;
};

enum gw_balance { GW_BALANCE_RR = 0, GW_BALANCE_LEASTCONN };

struct gw_backendtls {
    int enabled;
    char *profile_name;
    const struct hilt_profile *profile; /* NULL: OpenSSL defaults at security level 2 */
    char *ca;                           /* verify the server against this bundle */
    int verify;                         /* default: 1 when ca is set */
    char *sni;
    char *cert, *key; /* client certificate for upstream mTLS */
    struct gw_pos at, profile_at, ca_at, cert_at, key_at;
};

struct gw_backendcfg {
    char *name;
    char **servers;
    struct hilt_hostport *addrs;
    size_t nservers;
    enum gw_balance balance;
    struct gw_backendtls tls;
    int health; /* active health checks on */
    int health_interval_ms, health_timeout_ms, rise, fall;
    struct gw_pos at;
};

enum gw_loop_kind { GW_LOOP_EPOLL = 0, GW_LOOP_LIBEVENT };

struct gw_config {
    char *path; /* as given */
    char *dir;  /* its directory, for relative paths */
    char *policy_path;
    struct hilt_policy *policy; /* owned; NULL: built-ins only */
    int workers;                /* 0: number of CPUs */
    struct gw_listenercfg *listeners;
    size_t nlisteners;
    struct gw_backendcfg *backends;
    size_t nbackends;
    int has_admin;
    char *admin_listen;
    struct hilt_hostport admin;
    char *events_file; /* NULL: no events; "-": stdout */
    size_t observed_max;
    int ticket_rotate_s;
    int ticket_keep; /* previous keys that still decrypt (default 2) */
    char *ticket_keys_file;
    char *ticket_store;     /* share keys through this store (URL or path), or NULL */
    char *ticket_store_key; /* the wrapping key file for ticket_store */
    char *ticket_ring;      /* which gateways share keys (default "default") */
    int ticket_poll_ms;
    struct gw_pos tickets_at;
    char *store; /* the trust plane's store for issue: certificates; NULL: $HILT_HOME/hilt.db */
    struct gw_pos store_at;
    int nissue; /* issue: entries across all listeners */
    int watch_ms;
    enum gw_loop_kind loop;
    /* every file the running gateway should watch for changes */
    char **files;
    size_t nfiles;
    /* the bytes this config was loaded from (a certificate push rebuilds the
     * running configuration from them, whatever the file says meanwhile) */
    uint8_t *src;
    size_t srclen;
};

int gw_config_load(const char *path, struct gw_config **out, struct hilt_err *e);
/* Same from memory (for tests and the fuzzer); `path` names it in messages and
 * decides the directory relative paths are resolved against. */
int gw_config_load_mem(const void *data, size_t len, const char *path, struct gw_config **out,
                       struct hilt_err *e);
void gw_config_free(struct gw_config **c);

/* "10s", "500ms", "2m", "1h", or whole seconds → milliseconds; -1 when malformed. */
long gw_duration_ms(const char *s);
/* Does pattern ("*", "*.example.com", "api.example.com") match name (case-insensitive)? */
int gw_name_match(const char *pattern, const char *name);

#endif
