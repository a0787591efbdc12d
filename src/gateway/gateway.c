/* gateway.c - the process: first load, workers, the main loop, reloads.
 *
 * The main thread owns every configuration change. A reload builds a whole
 * new generation off to the side; only when everything loaded does it move
 * the listener sockets over, publish the generation to each worker, and drop
 * the old one (connections in flight keep theirs). A failed build changes
 * nothing that serves.
 */
#include "gateway/gw_int.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/net.h"
#include "ca/ca.h"
#include "gateway/tp.h"
#include "store/store.h"
#include "telemetry/metrics.h"
#include "telemetry/observed.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

static int ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > GW_MAX_WORKERS ? GW_MAX_WORKERS : (int)n;
}

static void log_warnings(struct gw_gen *g)
{
    for (size_t i = 0; i < g->nwarnings; i++)
        hilt_warn("gateway: warning: %s", g->warnings[i]);
}

static void publish(struct gateway *gw, struct gw_gen *g)
{
    struct gw_gen *old = gw->cur;
    gw_gen_take_sockets(g, old);
    gw->cur = g;
    for (int i = 0; i < gw->nworkers; i++)
        if (gw->workers[i].started) gw_worker_handoff(&gw->workers[i], g);
    if (old) gw_gen_unref(old);
}

/* Build a generation from cfg (owned from here on) and publish it. The trust
 * plane first makes sure every issue: certificate exists; file ticket keys
 * are read again. On failure nothing that serves changes. */
static struct gw_gen *build(struct gateway *gw, struct gw_config *cfg, struct hilt_err *e)
{
    if (gw_tp_prepare(gw->tp, cfg, e) < 0 ||
        (cfg->ticket_keys_file && gw_tickets_load(gw->tickets, cfg->ticket_keys_file, e) < 0)) {
        gw_config_free(&cfg);
        return NULL;
    }
    return gw_gen_build(cfg, gw->cur, gw->nworkers, gw->tp, gw->reg, 1, e);
}

int gw_reload(struct gateway *gw, struct hilt_err *e)
{
    struct gw_config *cfg = NULL;
    uint64_t before = gw_snapshot(gw->cur->cfg);
    hilt_err_clear(e);
    /* this generation takes the newest issued certificates; a swap that was owed
     * stays owed if it fails */
    int owed = gw_tp_take(gw->tp);
    if (gw_config_load(gw->config_path, &cfg, e) < 0) goto fail;
    int same_files = cfg->nfiles == gw->cur->cfg->nfiles;
    for (size_t i = 0; same_files && i < cfg->nfiles; i++)
        same_files = !strcmp(cfg->files[i], gw->cur->cfg->files[i]);
    struct gw_gen *g = build(gw, cfg, e);
    if (!g) goto fail;
    gw->snap_ok = same_files ? before : gw_snapshot(g->cfg);
    gw->snap_rejected = 0;
    log_warnings(g);
    publish(gw, g);
    gw_tp_retain(gw->tp, gw->cur->cfg);
    /* the first issue: entry may have come with this config: renewals need the thread */
    if (gw_tp_start(gw->tp, gw->tp_fd, e) < 0)
        hilt_warn("gateway: %s: issued certificates will not be renewed", e->msg);
    gw->reloaded = hilt_now();
    gw->reloads_ok++;
    gw->last_error[0] = 0;
    tm_add(gw->main_shard, TM_RELOADS, "success", NULL, NULL, NULL, 1);
    hilt_info("gateway: configuration reloaded (generation %lu)", g->id);
    return 0;
fail:
    gw_tp_retain(gw->tp, gw->cur->cfg);
    if (owed) {
        gw_tp_owe(gw->tp);
        gw->next_push_ms = gw_now_ms();
    }
    gw->snap_rejected = before;
    gw->reloads_failed++;
    snprintf(gw->last_error, sizeof(gw->last_error), "%s", e ? e->msg : "reload failed");
    tm_add(gw->main_shard, TM_RELOADS, "failure", NULL, NULL, NULL, 1);
    hilt_log(HILT_LOG_ERROR,
             "gateway: reload rejected, the running configuration keeps serving: %s",
             e ? e->msg : "");
    return -1;
}

/* A certificate the trust plane renewed: the running configuration again
 * (from the bytes it was loaded from, whatever the file says meanwhile),
 * with the new certificate, as a new generation. */
static void push(struct gateway *gw)
{
    struct hilt_err e;
    struct gw_config *cfg = NULL;
    hilt_err_clear(&e);
    gw_tp_take(gw->tp);
    struct gw_config *run = gw->cur->cfg;
    if (gw_config_load_mem(run->src, run->srclen, run->path, &cfg, &e) == 0) {
        struct gw_gen *g = build(gw, cfg, &e);
        if (g) {
            publish(gw, g);
            gw->pushes_ok++;
            hilt_info("gateway: renewed certificate in service (generation %lu)", g->id);
            return;
        }
    }
    gw->pushes_failed++;
    gw_tp_owe(gw->tp);
    gw->next_push_ms = gw_now_ms() + 1000;
    hilt_log(HILT_LOG_ERROR,
             "gateway: cannot swap in a renewed certificate (retrying every second): %s", e.msg);
}

static void tp_cb(void *arg, unsigned ev)
{
    (void)ev;
    struct gateway *gw = arg;
    uint64_t v;
    if (read(gw->tp_fd, &v, sizeof(v)) < 0 && errno != EAGAIN) return;
    if (gw_tp_pending(gw->tp)) push(gw);
}

static void stop_cb(void *arg, unsigned ev)
{
    (void)ev;
    struct gateway *gw = arg;
    uint64_t v;
    if (read(gw->stop_fd, &v, sizeof(v)) > 0) gw->stopping = 1;
}

static void sig_cb(void *arg, unsigned ev)
{
    (void)ev;
    struct gateway *gw = arg;
    struct signalfd_siginfo si;
    while (read(gw->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP) {
            struct hilt_err e;
            hilt_info("gateway: SIGHUP: reloading %s", gw->config_path);
            gw_reload(gw, &e);
        } else {
            gw->stopping = 1;
        }
    }
}

static void main_tick(void *arg)
{
    struct gateway *gw = arg;
    int64_t now = gw_now_ms();
    gw_admin_sweep(gw);
    if (now - gw->last_watch_ms >= gw->cur->cfg->watch_ms) {
        gw->last_watch_ms = now;
        uint64_t s = gw_snapshot(gw->cur->cfg);
        if (s != gw->snap_ok && s != gw->snap_rejected) {
            struct hilt_err e;
            hilt_info("gateway: a watched file changed: reloading");
            gw_reload(gw, &e);
        }
    }
    gw_health_tick(gw);
    struct gw_config *c = gw->cur->cfg;
    if (!c->ticket_keys_file && !c->ticket_store && now >= gw->next_rotate) {
        gw_tickets_rotate(gw->tickets, c->ticket_keep);
        gw->next_rotate = now + (int64_t)c->ticket_rotate_s * 1000;
    }
    if (gw->next_push_ms && now >= gw->next_push_ms) {
        gw->next_push_ms = 0;
        if (gw_tp_pending(gw->tp)) push(gw);
    }
}

void gw_stop(struct gateway *gw)
{
    uint64_t one = 1;
    if (gw && gw->stop_fd >= 0 && write(gw->stop_fd, &one, sizeof(one)) < 0)
        hilt_warn("gateway: cannot signal stop");
}

struct gateway *gw_new(const struct gw_opts *o, struct hilt_err *e)
{
    struct gateway *gw = calloc(1, sizeof(*gw));
    struct gw_config *cfg = NULL;
    if (!gw) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        return NULL;
    }
    gw->admin_fd = gw->stop_fd = gw->sig_fd = gw->tp_fd = -1;
    gw->use_signals = o->use_signals;
    signal(SIGPIPE, SIG_IGN);
    OPENSSL_init_ssl(0, NULL);
    if (!(gw->config_path = strdup(o->config))) goto oom;
    uint64_t snap0 = 0;
    if (gw_config_load(o->config, &cfg, e) < 0) goto fail;
    snap0 = gw_snapshot(cfg);
    gw->nworkers = o->workers ? o->workers : cfg->workers ? cfg->workers : ncpus();
    gw->reg = tm_registry_new(gw->nworkers + 1);
    gw->obs = obs_new(cfg->observed_max);
    gw->tickets = gw_tickets_new(e);
    gw->workers = calloc((size_t)gw->nworkers, sizeof(*gw->workers));
    gw->loop = gw_loop_new(GW_LOOP_EPOLL);
    if (!gw->reg || !gw->obs || !gw->tickets || !gw->workers || !gw->loop) {
        gw_config_free(&cfg);
        goto oom;
    }
    gw->main_shard = tm_shard(gw->reg, gw->nworkers);
    for (int i = 0; i < gw->nworkers; i++) {
        struct gw_worker *w = &gw->workers[i];
        w->gw = gw;
        w->idx = i;
        w->wake_fd = -1;
        w->conns.next = w->conns.prev = &w->conns;
        pthread_mutex_init(&w->mu, NULL);
        hilt_buf_init(&w->evbuf, 1u << 20);
        w->shard = tm_shard(gw->reg, i);
    }
    if (cfg->ticket_store) gw_tickets_set(gw->tickets, NULL, 0, -1, GW_TSRC_STORE);
    /* the trust plane before any socket: the CA's signer child is forked (and
     * the shared ticket keys fetched) while nothing listens yet */
    struct gw_tp_opts tpo = {.self_exe = o->self_exe};
    if (!(gw->tp = gw_tp_new(cfg, &tpo, gw->tickets, e))) {
        gw_config_free(&cfg);
        goto fail;
    }
    gw->cur = build(gw, cfg, e);
    if (!gw->cur) goto fail;
    log_warnings(gw->cur);
    gw->snap_ok = snap0;
    gw->started = gw->reloaded = hilt_now();
    gw->next_rotate = gw_now_ms() + (int64_t)gw->cur->cfg->ticket_rotate_s * 1000;
    gw->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (gw->stop_fd < 0 ||
        gw_io_add(gw->loop, &gw->stop_io, gw->stop_fd, GW_EV_READ, stop_cb, gw) < 0)
        goto oom;
    if (gw_admin_open(gw, e) < 0) goto fail;
    if (o->use_signals) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL); /* workers inherit the mask */
        gw->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (gw->sig_fd < 0 ||
            gw_io_add(gw->loop, &gw->sig_io, gw->sig_fd, GW_EV_READ, sig_cb, gw) < 0)
            goto oom;
    }
    for (int i = 0; i < gw->nworkers; i++)
        if (gw_worker_start(&gw->workers[i]) < 0) {
            hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot start worker %d", i);
            goto fail;
        }
    gw->tp_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (gw->tp_fd < 0 || gw_io_add(gw->loop, &gw->tp_io, gw->tp_fd, GW_EV_READ, tp_cb, gw) < 0)
        goto oom;
    if (gw_tp_start(gw->tp, gw->tp_fd, e) < 0) goto fail;
    return gw;
oom:
    hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
fail:
    gw_free(&gw);
    return NULL;
}

int gw_serve(struct gateway *gw, struct hilt_err *e)
{
    while (!gw->stopping) {
        if (gw_loop_once(gw->loop, GW_TICK_MS, main_tick, gw) < 0)
            return hilt_err_set(e, HILT_E_RUNTIME, errno, "gateway: main loop failed: %s",
                                strerror(errno));
    }
    return 0;
}

void gw_free(struct gateway **gwp)
{
    if (!gwp || !*gwp) return;
    struct gateway *gw = *gwp;
    gw_tp_free(&gw->tp); /* first: its thread may still write to tp_fd */
    for (int i = 0; gw->workers && i < gw->nworkers; i++)
        gw_worker_stop(&gw->workers[i]);
    free(gw->workers);
    if (gw->loop) {
        gw_health_free(gw);
        gw_admin_close(gw);
        if (gw->stop_fd >= 0) gw_io_del(gw->loop, &gw->stop_io);
        if (gw->sig_fd >= 0) gw_io_del(gw->loop, &gw->sig_io);
        if (gw->tp_fd >= 0) gw_io_del(gw->loop, &gw->tp_io);
    }
    if (gw->tp_fd >= 0) close(gw->tp_fd);
    if (gw->stop_fd >= 0) close(gw->stop_fd);
    if (gw->sig_fd >= 0) close(gw->sig_fd);
    if (gw->cur) gw_gen_unref(gw->cur);
    gw_loop_free(&gw->loop);
    gw_tickets_free(&gw->tickets);
    obs_free(&gw->obs);
    tm_registry_free(&gw->reg);
    free(gw->config_path);
    free(gw);
    *gwp = NULL;
}

int gw_admin_port(struct gateway *gw)
{
    return gw->admin_fd >= 0 ? hilt_sock_port(gw->admin_fd) : 0;
}

int gw_listener_port(struct gateway *gw, int i)
{
    if (!gw->cur || i < 0 || (size_t)i >= gw->cur->nlisteners) return 0;
    struct gw_listener *L = &gw->cur->listeners[i];
    return L->fds && L->fds[0] >= 0 ? hilt_sock_port(L->fds[0]) : 0;
}

unsigned long gw_generation(struct gateway *gw)
{
    return gw->cur ? gw->cur->id : 0;
}

/* --check of issue: entries: the store opens and holds the CA (nothing is
 * issued and no key is touched). */
static int check_issue(const struct gw_config *cfg, FILE *out, struct hilt_err *e)
{
    if (!cfg->nissue) return 0;
    char home[4096];
    if (hilt_home(home, sizeof(home), e) < 0) return -1;
    struct hilt_store *st = hilt_store_open(cfg->store, e);
    if (!st) {
        hilt_err_prefix(e, "%s: store", cfg->path);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < cfg->nlisteners; i++)
        for (size_t j = 0; rc == 0 && j < cfg->listeners[i].ncerts; j++) {
            const struct gw_issuecfg *is = cfg->listeners[i].certs[j].issue;
            if (!is) continue;
            struct hilt_ca *ca = hilt_ca_open(st, home, is->ca, e);
            if (!ca) {
                hilt_err_prefix(e, "%s:%d:%d: listeners.%s.certificates[%zu].issue.ca", cfg->path,
                                is->at.line, is->at.col, cfg->listeners[i].name, j);
                rc = -1;
                break;
            }
            char life[32];
            hilt_duration_fmt(is->lifetime, life);
            fprintf(out, "  certificate %s from CA '%s' (%s, %s, %s%s) issued at start\n", is->id,
                    is->ca, is->key, life, is->names[0], is->nnames > 1 ? ", ..." : "");
            hilt_ca_close(ca);
        }
    hilt_store_close(st);
    return rc;
}

int gw_check(const char *config, FILE *out, struct hilt_err *e)
{
    struct gw_config *cfg = NULL;
    OPENSSL_init_ssl(0, NULL);
    if (gw_config_load(config, &cfg, e) < 0) return -1;
    if (cfg->ticket_store_key) {
        struct gw_wrap w;
        if (gw_wrap_load(cfg->ticket_store_key, &w, e) < 0) {
            hilt_err_prefix(e, "%s:%d:%d: tickets.store_key", cfg->path, cfg->tickets_at.line,
                            cfg->tickets_at.col);
            gw_config_free(&cfg);
            return -1;
        }
        gw_wrap_clear(&w);
    }
    struct gw_tickets *t = gw_tickets_new(e);
    if (!t) {
        gw_config_free(&cfg);
        return -1;
    }
    struct gw_gen *g = gw_gen_build(cfg, NULL, 1, NULL, NULL, 0, e);
    if (!g) {
        gw_tickets_free(&t);
        return -1;
    }
    fprintf(out, "%s: ok\n", config);
    for (size_t i = 0; i < g->nlisteners; i++) {
        struct gw_listener *L = &g->listeners[i];
        fprintf(out, "listener %s on %s, profile %s, variant %s, %zu certificate set(s)%s\n",
                L->name, L->cfg->listen, L->cfg->profile_name, L->variants[0].id,
                L->variants[0].nsets, L->cfg->npassthrough ? ", passthrough routes" : "");
        for (size_t s = 0; s < L->variants[0].nsets; s++)
            for (int k = 0; k < L->variants[0].sets[s].ninfo; k++) {
                struct gw_certinfo *ci = &L->variants[0].sets[s].info[k];
                char na[32];
                hilt_time_fmt_rfc3339(ci->not_after, na);
                fprintf(out, "  certificate %s (%s) until %s%s\n", ci->subject, ci->key, na,
                        s == L->variants[0].default_set ? " [default]" : "");
            }
    }
    int rc = check_issue(g->cfg, out, e);
    for (size_t i = 0; rc == 0 && i < g->nbackends; i++)
        fprintf(out, "backend %s: %zu server(s), %s\n", g->backends[i].name,
                g->backends[i].nservers,
                g->backends[i].tls
                    ? (g->backends[i].cfg->tls.profile_name ? g->backends[i].cfg->tls.profile_name
                                                            : "TLS")
                    : "plain TCP");
    if (rc == 0 && g->cfg->ticket_store)
        fprintf(out, "tickets: shared through the store, ring '%s', rotate %ds, keep %d\n",
                g->cfg->ticket_ring, g->cfg->ticket_rotate_s, g->cfg->ticket_keep);
    for (size_t i = 0; rc == 0 && i < g->nwarnings; i++)
        fprintf(out, "warning: %s\n", g->warnings[i]);
    gw_gen_unref(g);
    gw_tickets_free(&t);
    return rc;
}
