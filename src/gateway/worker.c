/* worker.c - one thread, one epoll loop, its own SO_REUSEPORT sockets.
 *
 * A worker polls the listener sockets of the generation it holds, accepts,
 * and drives its connections. The main thread hands it a new generation
 * through `pending` and an eventfd; the worker then re-registers its sockets
 * and drops its reference to the old generation (connections keep theirs).
 */
#include "gateway/gw_int.h"

#include "core/log.h"
#include "telemetry/event.h"
#include "telemetry/metrics.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

void gw_worker_flush_events(struct gw_worker *w)
{
    if (!w->evbuf.len) return;
    hs_event_flush(&w->evbuf, w->gen ? w->gen->events_fd : -1);
    w->last_flush_ms = w->now_ms;
}

static void lio_cb(void *arg, unsigned ev)
{
    (void)ev;
    struct gw_lio *li = arg;
    struct gw_worker *w = li->w;
    if (!w->gen || (size_t)li->idx >= w->gen->nlisteners) return;
    gw_accept(w, &w->gen->listeners[li->idx], li->io.fd);
}

static void set_gen(struct gw_worker *w, struct gw_gen *g)
{
    gw_worker_flush_events(w);
    for (size_t i = 0; i < w->nlios; i++)
        gw_io_del(w->loop, &w->lios[i].io);
    w->nlios = 0;
    struct gw_gen *old = w->gen;
    w->gen = g;
    for (size_t i = 0; g && i < g->nlisteners && i < GW_MAX_LISTENERS; i++) {
        struct gw_listener *L = &g->listeners[i];
        if (!L->fds || w->idx >= L->nfds || L->fds[w->idx] < 0) continue;
        struct gw_lio *li = &w->lios[w->nlios++];
        li->w = w;
        li->idx = (int)i;
        if (gw_io_add(w->loop, &li->io, L->fds[w->idx], GW_EV_READ, lio_cb, li) < 0)
            hilt_warn("gateway: worker %d: cannot poll listener %s", w->idx, L->name);
    }
    if (old) gw_gen_unref(old);
}

static void wake_cb(void *arg, unsigned ev)
{
    (void)ev;
    struct gw_worker *w = arg;
    uint64_t v;
    if (read(w->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) return;
    pthread_mutex_lock(&w->mu);
    struct gw_gen *g = w->pending;
    w->pending = NULL;
    pthread_mutex_unlock(&w->mu);
    if (g) set_gen(w, g);
}

static void after_batch(void *arg)
{
    struct gw_worker *w = arg;
    w->now_ms = gw_now_ms();
    gw_conn_free_dead(w);
    if (w->now_ms - w->last_sweep_ms >= GW_TICK_MS) {
        w->last_sweep_ms = w->now_ms;
        gw_conn_sweep(w);
        gw_conn_free_dead(w);
    }
    if (w->evbuf.len && w->now_ms - w->last_flush_ms >= GW_TICK_MS) gw_worker_flush_events(w);
}

static void *worker_main(void *arg)
{
    struct gw_worker *w = arg;
    w->now_ms = w->last_flush_ms = w->last_sweep_ms = gw_now_ms();
    for (;;) {
        pthread_mutex_lock(&w->mu);
        int stop = w->stop;
        pthread_mutex_unlock(&w->mu);
        if (stop) break;
        if (gw_loop_once(w->loop, GW_TICK_MS, after_batch, w) < 0) {
            hilt_log(HILT_LOG_ERROR, "gateway: worker %d: event loop failed", w->idx);
            break;
        }
    }
    gw_conn_close_all(w);
    gw_worker_flush_events(w);
    set_gen(w, NULL);
    pthread_mutex_lock(&w->mu);
    if (w->pending) gw_gen_unref(w->pending);
    w->pending = NULL;
    pthread_mutex_unlock(&w->mu);
    OPENSSL_thread_stop();
    return NULL;
}

int gw_worker_start(struct gw_worker *w)
{
    w->rnd = (unsigned)w->idx * 2654435761u + 1;
    w->loop = gw_loop_new(w->gw->cur->cfg->loop);
    w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!w->loop || w->wake_fd < 0) return -1;
    if (gw_io_add(w->loop, &w->wake_io, w->wake_fd, GW_EV_READ, wake_cb, w) < 0) return -1;
    gw_gen_ref(w->gw->cur);
    set_gen(w, w->gw->cur);
    if (pthread_create(&w->th, NULL, worker_main, w)) return -1;
    w->started = 1;
    return 0;
}

void gw_worker_handoff(struct gw_worker *w, struct gw_gen *g)
{
    gw_gen_ref(g);
    pthread_mutex_lock(&w->mu);
    struct gw_gen *old = w->pending;
    w->pending = g;
    pthread_mutex_unlock(&w->mu);
    if (old) gw_gen_unref(old);
    uint64_t one = 1;
    if (write(w->wake_fd, &one, sizeof(one)) < 0) hilt_warn("gateway: cannot wake a worker");
}

void gw_worker_stop(struct gw_worker *w)
{
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_mutex_unlock(&w->mu);
        uint64_t one = 1;
        if (write(w->wake_fd, &one, sizeof(one)) < 0) hilt_warn("gateway: cannot wake a worker");
        pthread_join(w->th, NULL);
        w->started = 0;
    } else if (w->gen) {
        set_gen(w, NULL);
    }
    if (w->loop) gw_io_del(w->loop, &w->wake_io);
    if (w->wake_fd >= 0) close(w->wake_fd);
    w->wake_fd = -1;
    gw_loop_free(&w->loop);
    hilt_buf_free(&w->evbuf);
    pthread_mutex_destroy(&w->mu);
}
