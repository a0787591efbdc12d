/* health.c - active TCP health checks of backend servers, on the main thread.
 *
 * Every `health.interval` each server of a backend with checks on gets a
 * non-blocking connect; `rise` successes in a row mark it up, `fall` failures
 * mark it down. Workers read the state (an atomic) when they pick a server.
 * A probe holds a reference to its generation, so a reload mid-probe is safe.
 */
#include "gateway/gw_int.h"

#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct gw_probe {
    struct gw_probe *next;
    struct gateway *gw;
    struct gw_gen *gen;
    struct gw_backend *be;
    struct gw_server *srv;
    int fd;
    struct gw_io io;
    int64_t deadline;
    int done;
};

static void verdict(struct gw_probe *p, int ok)
{
    struct gw_server *s = p->srv;
    if (ok) {
        s->fail_run = 0;
        if (++s->ok_run >= p->be->cfg->rise && !atomic_load(&s->up)) {
            atomic_store(&s->up, 1);
            hilt_info("gateway: backend %s server %s is up", p->be->name, s->label);
        }
    } else {
        s->ok_run = 0;
        if (++s->fail_run >= p->be->cfg->fall && atomic_load(&s->up)) {
            atomic_store(&s->up, 0);
            hilt_warn("gateway: backend %s server %s is down", p->be->name, s->label);
        }
    }
    gw_io_del(p->gw->loop, &p->io);
    close(p->fd);
    p->done = 1;
}

static void probe_cb(void *arg, unsigned ev)
{
    struct gw_probe *p = arg;
    if (p->done || !(ev & GW_EV_WRITE)) return;
    int err = 0;
    socklen_t sl = sizeof(err);
    verdict(p, getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && !err);
}

static void start(struct gateway *gw, struct gw_backend *b, struct gw_server *s, int64_t now)
{
    struct gw_probe *p = calloc(1, sizeof(*p));
    if (!p) return;
    p->gw = gw;
    p->gen = gw->cur;
    gw_gen_ref(p->gen);
    p->be = b;
    p->srv = s;
    p->deadline = now + b->cfg->health_timeout_ms;
    p->next = gw->probes;
    gw->probes = p;
    p->fd = socket(s->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        p->done = 1;
        return;
    }
    int rc = connect(p->fd, (const struct sockaddr *)&s->sa, s->salen);
    if (rc < 0 && errno != EINPROGRESS) {
        p->io.live = 0;
        s->ok_run = 0;
        if (++s->fail_run >= b->cfg->fall) atomic_store(&s->up, 0);
        close(p->fd);
        p->done = 1;
        return;
    }
    if (gw_io_add(gw->loop, &p->io, p->fd, GW_EV_WRITE, probe_cb, p) < 0) {
        close(p->fd);
        p->done = 1;
    }
}

void gw_health_tick(struct gateway *gw)
{
    int64_t now = gw_now_ms();
    struct gw_probe **pp = &gw->probes;
    while (*pp) {
        struct gw_probe *p = *pp;
        if (!p->done && now >= p->deadline) verdict(p, 0);
        if (p->done) {
            *pp = p->next;
            gw_gen_unref(p->gen);
            free(p);
        } else {
            pp = &p->next;
        }
    }
    struct gw_gen *g = gw->cur;
    for (size_t i = 0; i < g->nbackends; i++) {
        struct gw_backend *b = &g->backends[i];
        if (!b->cfg->health) continue;
        /* one round per interval, keyed on the process's clock */
        int64_t iv = b->cfg->health_interval_ms;
        if (now / iv == gw->last_health_ms / iv && gw->last_health_ms) continue;
        for (size_t s = 0; s < b->nservers; s++)
            start(gw, b, &b->servers[s], now);
    }
    gw->last_health_ms = now;
}

void gw_health_free(struct gateway *gw)
{
    while (gw->probes) {
        struct gw_probe *p = gw->probes;
        gw->probes = p->next;
        if (!p->done) {
            gw_io_del(gw->loop, &p->io);
            close(p->fd);
        }
        gw_gen_unref(p->gen);
        free(p);
    }
}
