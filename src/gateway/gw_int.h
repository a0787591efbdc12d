/* gw_int.h - what the gateway's own files share: workers, connections, the process.
 * Not for use outside src/gateway/. */
#ifndef HILT_GATEWAY_GW_INT_H
#define HILT_GATEWAY_GW_INT_H

#include "core/buf.h"
#include "gateway/gateway.h"
#include "gateway/gen.h"
#include "gateway/loop.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

struct tm_registry;
struct tm_shard;
struct obs_table;
struct hilt_client_hello;

#define GW_BUFSZ 16384
#define GW_POOL_MAX 256 /* free copy buffers a worker keeps */
#define GW_TICK_MS 100

struct gw_buf {
    uint8_t *p;
    uint32_t off, len;
};

/* ST_PEEK: before any TLS, on a listener with passthrough routes: the
 * ClientHello is looked at (MSG_PEEK) to choose between terminating and
 * splicing. */
enum gw_state { ST_PEEK, ST_HS, ST_WAITDATA, ST_CONNECT, ST_PRE, ST_BHS, ST_PROXY, ST_DEAD };

struct gw_worker;

struct gw_conn {
    struct gw_conn *prev, *next; /* the worker's list (or its dead list) */
    struct gw_worker *w;
    struct gw_gen *gen; /* one reference */
    struct gw_listener *l;
    struct gw_variant *var;
    struct gw_backend *be;
    struct gw_server *srv;
    struct gw_io cio, bio;
    SSL *ssl, *bssl;
    enum gw_state st;
    unsigned hsflags; /* HS_F_* of telemetry/classify.h */
    int cfd, bfd;
    int tries;
    int alert_sent, alert_recv;
    uint8_t first[8], nfirst;
    uint8_t c_eof, b_eof, c_shut, b_shut, c_err, b_err;
    uint8_t cr_want, cw_want, br_want, bw_want, bhs_want;
    uint8_t c_rr, c_wr, b_rr, b_wr; /* readiness seen (edge-triggered), cleared on EAGAIN */
    uint8_t passthrough;            /* the client's TLS goes to the backend untouched (no ssl) */
    uint64_t t0_us;
    int64_t deadline_ms;
    struct hilt_client_hello *hello; /* during the handshake only */
    char ja4[40];
    struct sockaddr_storage peer;
    struct gw_buf up, down; /* up: client → backend; down: backend → client */
    struct hilt_buf *pre;   /* PROXY v2 header still to send */
    uint64_t bytes_in, bytes_out;
};

/* JA4 of recent distinct offers: hashing a ClientHello's fields costs far less
 * than JA4 itself (two SHA-256 over formatted lists). Entries compare the full
 * JA4 input, so a crafted hello cannot take another client's fingerprint. */
#define GW_JA4_CACHE 32
#define GW_JA4_KEY_MAX (16 + 2 * (256 + 64 + 64) + 256)
struct gw_ja4_entry {
    uint64_t h;
    uint16_t len;
    uint8_t key[GW_JA4_KEY_MAX];
    char ja4[40];
};

struct gw_lio {
    struct gw_io io;
    struct gw_worker *w;
    int idx;
};

struct gw_worker {
    struct gateway *gw;
    int idx;
    pthread_t th;
    int started;
    struct gw_loop *loop;
    struct gw_gen *gen; /* whose sockets it polls; one reference */
    struct gw_lio lios[GW_MAX_LISTENERS];
    size_t nlios;
    int wake_fd;
    struct gw_io wake_io;
    pthread_mutex_t mu;
    struct gw_gen *pending; /* handed over by the main thread */
    int stop;
    struct tm_shard *shard;
    struct hilt_buf evbuf;
    struct gw_conn conns; /* list head */
    size_t nconns;
    struct gw_conn *dead;
    uint8_t *pool[GW_POOL_MAX];
    size_t npool;
    int64_t now_ms, last_flush_ms, last_sweep_ms;
    unsigned rnd;
    struct gw_ja4_entry *ja4c; /* GW_JA4_CACHE entries, allocated on first use */
    unsigned ja4_next;
};

struct gw_fstat {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    int exists;
};

struct gw_admin_conn;
struct gw_probe;
struct gw_tp;

struct gateway {
    char *config_path;
    int nworkers, use_signals;
    struct gw_gen *cur; /* main thread only */
    struct gw_worker *workers;
    struct tm_registry *reg;
    struct tm_shard *main_shard;
    struct obs_table *obs;
    struct gw_tickets *tickets;
    struct gw_loop *loop;
    int admin_fd;
    struct gw_io admin_io;
    struct gw_admin_conn *admins;
    int stop_fd, sig_fd;
    struct gw_io stop_io, sig_io;
    int stopping;
    uint64_t snap_ok, snap_rejected; /* hashes of watched-file states */
    int64_t last_watch_ms, last_health_ms;
    time_t started, reloaded;
    char last_error[1024];
    unsigned long reloads_ok, reloads_failed;
    struct gw_probe *probes;
    int64_t next_rotate;
    struct gw_tp *tp; /* certificates from the CA, ticket keys from the store */
    int tp_fd;        /* eventfd: a renewed certificate waits to be swapped in */
    struct gw_io tp_io;
    int64_t next_push_ms; /* retry of a failed certificate swap */
    unsigned long pushes_ok, pushes_failed;
};

/* conn.c */
void gw_accept(struct gw_worker *w, struct gw_listener *L, int lfd);
void gw_conn_sweep(struct gw_worker *w);
void gw_conn_free_dead(struct gw_worker *w);
void gw_conn_close_all(struct gw_worker *w);
int64_t gw_now_ms(void);

/* worker.c */
int gw_worker_start(struct gw_worker *w);
void gw_worker_handoff(struct gw_worker *w, struct gw_gen *g); /* takes a ref for w */
void gw_worker_stop(struct gw_worker *w);
void gw_worker_flush_events(struct gw_worker *w);

/* admin.c */
int gw_admin_open(struct gateway *gw, struct hilt_err *e);
void gw_admin_close(struct gateway *gw);
void gw_admin_sweep(struct gateway *gw);
/* watched-file snapshot hash of cfg's files */
uint64_t gw_snapshot(const struct gw_config *cfg);

/* health.c */
void gw_health_tick(struct gateway *gw);
void gw_health_free(struct gateway *gw);

#endif
