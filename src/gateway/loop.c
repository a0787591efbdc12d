/* loop.c - epoll (default) and libevent backends behind loop.h. */
#include "gateway/loop.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define BATCH 256

struct gw_loop {
    enum gw_loop_kind kind;
    int ep;
    struct epoll_event evs[BATCH];
    struct event_base *base;
    struct event *timer;
    int dispatched;
};

struct gw_loop *gw_loop_new(enum gw_loop_kind kind)
{
    struct gw_loop *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    l->kind = kind;
    l->ep = -1;
    if (kind == GW_LOOP_EPOLL) {
        l->ep = epoll_create1(EPOLL_CLOEXEC);
        if (l->ep < 0) goto fail;
    } else {
        struct event_config *ec = event_config_new();
        if (!ec) goto fail;
        event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
        l->base = event_base_new_with_config(ec);
        event_config_free(ec);
        if (!l->base) goto fail;
    }
    return l;
fail:
    gw_loop_free(&l);
    return NULL;
}

void gw_loop_free(struct gw_loop **lp)
{
    if (!lp || !*lp) return;
    struct gw_loop *l = *lp;
    if (l->ep >= 0) close(l->ep);
    if (l->timer) event_free(l->timer);
    if (l->base) event_base_free(l->base);
    free(l);
    *lp = NULL;
}

static uint32_t ep_mask(unsigned want)
{
    return (want & GW_EV_READ ? EPOLLIN | EPOLLRDHUP : 0) | (want & GW_EV_WRITE ? EPOLLOUT : 0) |
           (want & GW_EV_ET ? EPOLLET : 0);
}

static void lev_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct gw_io *io = arg;
    unsigned ev = (what & EV_READ ? GW_EV_READ : 0) | (what & EV_WRITE ? GW_EV_WRITE : 0);
    if (io->live && io->fn) io->fn(io->arg, ev);
}

static int lev_set(struct gw_loop *l, struct gw_io *io, unsigned want)
{
    struct event *ev = io->impl;
    if (ev) {
        event_del(ev);
    } else {
        ev = event_new(l->base, -1, 0, lev_cb, io);
        if (!ev) return -1;
        io->impl = ev;
    }
    if (!want) return 0;
    short what =
        EV_PERSIST | (want & GW_EV_READ ? EV_READ : 0) | (want & GW_EV_WRITE ? EV_WRITE : 0);
    if (event_assign(ev, l->base, io->fd, what, lev_cb, io) < 0) return -1;
    return event_add(ev, NULL);
}

int gw_io_add(struct gw_loop *l, struct gw_io *io, int fd, unsigned want, gw_io_fn fn, void *arg)
{
    io->fd = fd;
    io->fn = fn;
    io->arg = arg;
    io->want = want;
    io->live = 1;
    io->impl = NULL;
    if (l->kind == GW_LOOP_LIBEVENT) return lev_set(l, io, want);
    struct epoll_event ev = {.events = ep_mask(want), .data.ptr = io};
    return epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
}

int gw_io_mod(struct gw_loop *l, struct gw_io *io, unsigned want)
{
    if (!io->live || io->want == want) return 0;
    io->want = want;
    if (l->kind == GW_LOOP_LIBEVENT) return lev_set(l, io, want);
    struct epoll_event ev = {.events = ep_mask(want), .data.ptr = io};
    return epoll_ctl(l->ep, EPOLL_CTL_MOD, io->fd, &ev);
}

void gw_io_del(struct gw_loop *l, struct gw_io *io)
{
    if (!io->live) return;
    io->live = 0;
    if (l->kind == GW_LOOP_LIBEVENT) {
        if (io->impl) event_free(io->impl);
        io->impl = NULL;
        return;
    }
    epoll_ctl(l->ep, EPOLL_CTL_DEL, io->fd, NULL);
}

void gw_io_forget(struct gw_loop *l, struct gw_io *io)
{
    if (l->kind == GW_LOOP_EPOLL) {
        io->live = 0;
        return;
    }
    gw_io_del(l, io);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

int gw_loop_once(struct gw_loop *l, int timeout_ms, gw_tick_fn after, void *arg)
{
    int n = 0;
    if (l->kind == GW_LOOP_EPOLL) {
        n = epoll_wait(l->ep, l->evs, BATCH, timeout_ms);
        if (n < 0) {
            if (errno != EINTR) return -1;
            n = 0;
        }
        for (int i = 0; i < n; i++) {
            struct gw_io *io = l->evs[i].data.ptr;
            uint32_t e = l->evs[i].events;
            unsigned ev = 0;
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ev |= GW_EV_READ;
            if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ev |= GW_EV_WRITE;
            if (io->live && io->fn) io->fn(io->arg, ev);
        }
    } else {
        if (!l->timer) l->timer = event_new(l->base, -1, 0, timer_cb, NULL);
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        if (l->timer) event_add(l->timer, &tv);
        event_base_loop(l->base, EVLOOP_ONCE);
        n = 1;
    }
    if (after) after(arg);
    return n;
}
