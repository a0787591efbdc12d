/* loop.h - the per-worker event loop: a thin epoll loop, or libevent.
 *
 * The gateway needs little from a loop: readiness for a few fds per
 * connection, level-triggered, with interest changed as buffers fill and
 * drain, plus a periodic tick (timeouts, event flushes). Both backends
 * implement this interface; `loop: libevent` exists to measure one against the
 * other (docs/gateway.md records the result). One loop per thread; nothing
 * here is thread-safe.
 *
 * A handler may close any io, including ones with events still pending in the
 * current batch: gw_io_del() marks the io dead so its pending events are
 * skipped. The io's memory must stay valid until the batch ends, which is
 * why connections are freed from the after-batch hook.
 *
 * Ownership: gw_loop_new() returns a loop freed with gw_loop_free(); gw_io is
 * caller memory.
 */
#ifndef HILT_GATEWAY_LOOP_H
#define HILT_GATEWAY_LOOP_H

#include "gateway/config.h"

#include <stdint.h>

enum { GW_EV_READ = 1, GW_EV_WRITE = 2, GW_EV_ET = 4 /* edge-triggered registration */ };

typedef void (*gw_io_fn)(void *arg, unsigned events);

struct gw_io {
    int fd;
    unsigned want; /* GW_EV_* currently registered */
    int live;
    gw_io_fn fn;
    void *arg;
    void *impl; /* libevent: struct event * */
};

struct gw_loop;
typedef void (*gw_tick_fn)(void *arg);

struct gw_loop *gw_loop_new(enum gw_loop_kind kind);
void gw_loop_free(struct gw_loop **l);
int gw_io_add(struct gw_loop *l, struct gw_io *io, int fd, unsigned want, gw_io_fn fn, void *arg);
int gw_io_mod(struct gw_loop *l, struct gw_io *io, unsigned want);
void gw_io_del(struct gw_loop *l, struct gw_io *io);
/* Like gw_io_del for an fd about to be closed (closing removes it from epoll). */
void gw_io_forget(struct gw_loop *l, struct gw_io *io);
/* Wait at most timeout_ms, dispatch one batch of ready fds, then call
 * after(arg) once. Returns the number of events dispatched, -1 on error. */
int gw_loop_once(struct gw_loop *l, int timeout_ms, gw_tick_fn after, void *arg);

#endif
