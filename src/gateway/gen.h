/* gen.h - a generation: everything the workers serve from one configuration.
 *
 * gw_gen_build() turns a validated struct gw_config into TLS contexts (one
 * SSL_CTX per set of certificates that share names, so RSA and ECDSA for the
 * same names sit side by side), the SNI lookup, client-CA stores, backend TLS
 * contexts, resolved server addresses and listener sockets (one SO_REUSEPORT
 * socket per worker; sockets for addresses the previous generation already had
 * are moved over, so nothing in an accept queue is lost). All configuration
 * work happens here, in the main thread; a published generation is immutable
 * apart from its atomic counters.
 *
 * A listener holds an array of variants, each a complete certificate set +
 * profile + client-auth with a stable id; gw_pick_variant() chooses one per
 * connection by weight (one variant today; canary rollouts add a second).
 *
 * Ownership: a generation is refcounted. gw_gen_build() returns one reference;
 * gw_gen_ref()/gw_gen_unref() add and drop; the last unref frees everything,
 * including the config it owns and the listener sockets still in it.
 */
#ifndef HILT_GATEWAY_GEN_H
#define HILT_GATEWAY_GEN_H

#include "gateway/config.h"
#include "gateway/tickets.h"

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

struct hilt_err;
struct gw_tp;
struct tm_registry;

struct gw_certinfo {
    char subject[256];
    char serial[80];
    char key[32];
    time_t not_after;
};

struct gw_certset {
    SSL_CTX *ctx;
    char **names; /* lowercase DNS names from the SANs (or the CN), "*.x" wildcards */
    size_t nnames;
    struct gw_certinfo info[4];
    int ninfo;
    int key_types; /* bit per EVP_PKEY id class: 1 RSA, 2 EC, 4 Ed25519, 8 other */
};

struct gw_variant {
    char id[16];       /* 12 hex digits of SHA-256 over certificates, profile and client auth */
    const char *label; /* id, interned in the metrics registry */
    struct gw_certset *sets;
    size_t nsets;
    size_t default_set;
    unsigned weight;
};

struct gw_route {
    const char *sni; /* borrowed from the config */
    const char *alpn;
    struct gw_backend *be;
    int passthrough;
};

struct gw_listener {
    const char *name; /* interned in the metrics registry */
    struct gw_listenercfg *cfg;
    struct gw_variant *variants;
    size_t nvariants;
    unsigned total_weight;
    struct gw_route *routes;
    size_t nroutes;
    int *fds; /* one listening socket per worker, -1 once moved to a newer generation */
    int nfds;
    unsigned char alpn_wire[512]; /* server ALPN list in wire format */
    size_t alpn_wire_len;
};

struct gw_server {
    struct sockaddr_storage sa;
    socklen_t salen;
    const char *label; /* interned "127.0.0.1:8080" */
    atomic_int active;
    atomic_int up;        /* health: 1 up (the default), 0 down */
    int ok_run, fail_run; /* main thread only */
};

struct gw_backend {
    const char *name; /* interned */
    struct gw_backendcfg *cfg;
    struct gw_server *servers;
    size_t nservers;
    atomic_uint rr;
    SSL_CTX *tls; /* NULL: plain TCP */
};

struct gw_gen {
    atomic_int refs;
    unsigned long id;
    time_t built;
    struct gw_config *cfg; /* owned */
    struct gw_listener *listeners;
    size_t nlisteners;
    struct gw_backend *backends;
    size_t nbackends;
    int events_fd; /* -1: no events; owned unless it is stdout */
    int nworkers;
    char **warnings; /* certificate-rule warnings found while building */
    size_t nwarnings;
};

/* Build a generation from cfg (ownership of cfg passes to the generation, also
 * on failure, where it is freed). prev (may be NULL) donates listener sockets
 * for addresses that stay. Errors: HILT_E_INPUT with file:line:col for
 * certificates, keys and CA files; HILT_E_RUNTIME for sockets. */
struct gw_gen *gw_gen_build(struct gw_config *cfg, struct gw_gen *prev, int nworkers,
                            struct gw_tp *tp, struct tm_registry *reg, int bind,
                            struct hilt_err *e);
void gw_gen_ref(struct gw_gen *g);
void gw_gen_unref(struct gw_gen *g);
/* After a successful build with prev: mark prev's sockets that moved as gone. */
void gw_gen_take_sockets(struct gw_gen *g, struct gw_gen *prev);

/* The certificate set for an SNI (exact, then wildcard, then the default), or
 * NULL when strict and nothing matches. */
struct gw_certset *gw_variant_lookup(struct gw_variant *v, const char *sni, int strict);
struct gw_variant *gw_pick_variant(struct gw_listener *l, unsigned rnd);
/* The first terminating route whose SNI (and ALPN, when given) matches;
 * NULL: none. Passthrough routes are never returned. */
struct gw_route *gw_route_find(struct gw_listener *l, const char *sni, const char *alpn,
                               int ignore_alpn);
/* Before any TLS (a listener with passthrough routes): the first route of
 * any kind whose SNI matches. A passthrough one means: do not terminate. */
struct gw_route *gw_route_peek(struct gw_listener *l, const char *sni);

/* Does the kernel offer kTLS (the "tls" TCP ULP)? Checked once. */
int gw_ktls_available(void);

/* ---- TLS contexts (tlsctx.c) ---- */

/* Apply a policy profile to a context (versions, ciphers, suites, groups,
 * signature schemes, order, security level). p NULL: OpenSSL's defaults at
 * security level 2. */
int gw_ctx_apply_profile(SSL_CTX *ctx, const struct hilt_profile *p, struct hilt_err *e);

/* Callbacks the server contexts install; conn.c implements them. */
int gw_client_hello_cb(SSL *s, int *al, void *arg);
void gw_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
               void *arg);
int gw_alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
               unsigned int inlen, void *arg);
int gw_verify_cb(int ok, X509_STORE_CTX *xs);
/* Does the client certificate's subject match the listener's subject rules? */
int gw_verify_subject_ok(const struct gw_listenercfg *l, X509 *x);

#endif
