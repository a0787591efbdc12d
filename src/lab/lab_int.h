/* lab_int.h - what the lab's files share: the full scenario row (the public
 * part plus how to mint and serve it), and the running lab's state.
 *
 * A scenario is data. Small functions walk the row: lab_pki_mint() reads the
 * PKI fields, lab_ctx_new() the TLS fields, and the row's `kind` picks which
 * accept handler serves a connection. Adding a scenario is a row in
 * scenarios.c, plus a flag or a handler only for a genuinely new behaviour.
 */
#ifndef HILT_LAB_LAB_INT_H
#define HILT_LAB_LAB_INT_H

#include "lab/lab.h"
#include "x509/ocsp.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <time.h>

/* How a scenario's server behaves on a new connection. */
enum lab_kind {
    LAB_TLS,     /* a TLS server (broken through its certificates or settings) */
    LAB_NOT_TLS, /* writes an SSH banner, then waits */
    LAB_STALL,   /* accepts, never reads or writes */
    LAB_RESET,   /* reads the ClientHello, then resets (SO_LINGER 0) */
    LAB_REFUSED, /* port bound but not listening: connects are refused */
};

/* PKI shape: departures from "EC P-256 leaf via an intermediate under the
 * root published in ca.pem, full chain sent". */
enum {
    LAB_P_SELF_SIGNED = 1 << 0,  /* the leaf signs itself; ca.pem holds an unrelated root */
    LAB_P_ROGUE_ROOT = 1 << 1,   /* chain (root included) ends at a root ca.pem lacks */
    LAB_P_LEAF_ONLY = 1 << 2,    /* the server sends the leaf without its intermediate */
    LAB_P_AIA_ISSUER = 1 << 3,   /* leaf AIA caIssuers -> http://lab/NAME/issuer.der */
    LAB_P_OCSP = 1 << 4,         /* leaf AIA OCSP -> http://lab/NAME/ocsp, answers row.ocsp */
    LAB_P_MUST_STAPLE = 1 << 5,  /* TLS Feature status_request (RFC 7633) */
    LAB_P_WRONG_HOST = 1 << 6,   /* SAN only DNS:wrong-host.example */
    LAB_P_EKU_CLIENT = 1 << 7,   /* extendedKeyUsage clientAuth only */
    LAB_P_CLIENT_AUTH = 1 << 8,  /* the server demands a client certificate from its client CA;
                                  * client.pem/key (issued by that CA) are written */
    LAB_P_CLIENT_ROGUE = 1 << 9, /* ... but client.pem/key come from a different CA */
};

/* TLS server behaviours that need a callback. */
enum {
    LAB_S_SNI_REQUIRED = 1 << 0, /* fatal unrecognized_name without a known SNI */
    LAB_S_ALPN_H2 = 1 << 1,      /* ALPN h2 only; fatal no_application_protocol otherwise */
    LAB_S_DH1024 = 1 << 2,       /* DHE with a 1024-bit group (RFC 5114 dh_1024_160) */
};

struct lab_row {
    struct hilt_lab_scenario pub;
    enum lab_kind kind;
    /* leaf certificate */
    const char *leaf_key;    /* hilt key type; NULL = ec-p256 */
    const char *leaf_digest; /* NULL = sha256 */
    long not_before;         /* seconds from start; used when validity_set */
    long not_after;
    int validity_set;
    unsigned pki;               /* LAB_P_* */
    enum hilt_ocsp_status ocsp; /* the responder's answer for the leaf (LAB_P_OCSP) */
    long date_skew;             /* seconds added to the HTTP Date header */
    /* TLS server */
    int min_version, max_version; /* 0 = OpenSSL's defaults */
    const char *ciphers;          /* TLS <= 1.2 cipher list; NULL = default */
    const char *groups;           /* NULL = default */
    int level0;                   /* security level 0 (else OpenSSL's default) */
    unsigned srv;                 /* LAB_S_* */
};

extern const struct lab_row lab_rows[];
extern const size_t lab_nrows;

/* One scenario's certificates and keys. Every pointer is owned here. */
struct lab_pki {
    EVP_PKEY *root_key, *int_key, *leaf_key, *anchor_key, *client_ca_key, *client_key;
    X509 *root, *inter, *leaf;
    X509 *anchor;    /* what ca.pem holds (root, or an unrelated root) */
    X509 *client_ca; /* the server's client CA (LAB_P_CLIENT_AUTH) */
    X509 *client;    /* the client certificate written to client.pem */
};

struct lab_conn;

/* One scenario's server. */
struct lab_srv {
    struct hilt_lab *lab;
    const struct lab_row *row;
    uint16_t port;
    int fd;                          /* listening (or, for LAB_REFUSED, bound) socket */
    struct evconnlistener *listener; /* NULL for LAB_REFUSED */
    SSL_CTX *ctx;                    /* LAB_TLS only */
    struct lab_pki pki;
    char sni_names[2][128]; /* names LAB_S_SNI_REQUIRED accepts */
};

struct hilt_lab {
    struct hilt_lab_opts opts;
    const char **only; /* copy of opts.only (strings borrowed from the caller) */
    char dir[4096];
    int dir_is_ours;
    time_t start; /* certificates are minted relative to this */
    struct lab_srv srv[HILT_LAB_SPAN];
    size_t nsrv;
    int http_fd;
    uint16_t http_port;
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *http_listener;
    struct event *sigint, *sigterm;
    struct event *stop_ev;  /* activated by hilt_lab_stop() from any thread */
    struct lab_conn *conns; /* every open connection, so the end can free them */
    size_t nconns;
    pthread_t thread;
    int thread_running;
};

/* pki.c */
int lab_pki_mint(struct hilt_lab *lab, struct lab_srv *s, struct hilt_err *e);
int lab_pki_write(struct hilt_lab *lab, struct lab_srv *s, struct hilt_err *e);
void lab_pki_free(struct lab_pki *p);
/* server.c */
int lab_servers_open(struct hilt_lab *lab, struct hilt_err *e);  /* bind every port */
int lab_servers_start(struct hilt_lab *lab, struct hilt_err *e); /* contexts + loop wiring */
void lab_servers_close(struct hilt_lab *lab);
/* scenarios.c */
void lab_http_url(const struct hilt_lab *lab, const struct lab_row *row, const char *what,
                  char *out, size_t cap);

#endif
