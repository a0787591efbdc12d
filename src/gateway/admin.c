/* admin.c - the admin listener: GET /metrics, GET /status, GET /observed, POST /reload.
 *
 * A small HTTP/1.1 server on the main thread's loop: one request per
 * connection (Connection: close), the request head bounded to 8 KiB and read
 * through the same loop, so a slow admin client never blocks reloads.
 */
#include "gateway/gw_int.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/net.h"
#include "gateway/tp.h"
#include "telemetry/metrics.h"
#include "telemetry/observed.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define ADMIN_HEAD_MAX 8192
#define ADMIN_TIMEOUT_MS 10000

struct gw_admin_conn {
    struct gw_admin_conn *next;
    struct gateway *gw;
    int fd;
    struct gw_io io;
    char req[ADMIN_HEAD_MAX + 1];
    size_t len;
    struct hilt_buf out;
    size_t sent;
    int responding, dead;
    int64_t deadline;
};

static void admin_free(struct gw_admin_conn *a)
{
    gw_io_del(a->gw->loop, &a->io);
    close(a->fd);
    hilt_buf_free(&a->out);
    a->dead = 1;
}

static void respond(struct gw_admin_conn *a, int status, const char *ctype, const char *body,
                    size_t blen)
{
    const char *reason = status == 200   ? "OK"
                         : status == 400 ? "Bad Request"
                         : status == 404 ? "Not Found"
                         : status == 405 ? "Method Not Allowed"
                                         : "Error";
    hilt_buf_addf(&a->out,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: "
                  "close\r\n\r\n",
                  status, reason, ctype, blen);
    hilt_buf_add(&a->out, body, blen);
    a->responding = 1;
}

static void respond_json(struct gw_admin_conn *a, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (!s) {
        respond(a, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    size_t n = strlen(s);
    s = realloc(s, n + 2);
    if (s) {
        s[n++] = '\n';
        s[n] = 0;
        respond(a, status, "application/json", s, n);
    }
    free(s);
}

static json_t *status_json(struct gateway *gw)
{
    struct gw_gen *g = gw->cur;
    json_t *o = json_object();
    json_object_set_new(o, "generation", json_integer((json_int_t)g->id));
    json_object_set_new(o, "config", json_string(gw->config_path));
    json_object_set_new(o, "workers", json_integer(gw->nworkers));
    json_object_set_new(o, "started", hilt_json_time(gw->started));
    json_object_set_new(o, "reloaded", hilt_json_time(gw->reloaded));
    json_object_set_new(o, "reloads", json_integer((json_int_t)gw->reloads_ok));
    json_object_set_new(o, "reload_failures", json_integer((json_int_t)gw->reloads_failed));
    json_object_set_new(o, "last_reload_error",
                        gw->last_error[0] ? json_string(gw->last_error) : json_null());
    json_t *ls = json_array();
    for (size_t i = 0; i < g->nlisteners; i++) {
        struct gw_listener *L = &g->listeners[i];
        json_t *l = json_object();
        json_object_set_new(l, "name", json_string(L->name));
        json_object_set_new(l, "listen", json_string(L->cfg->listen));
        json_object_set_new(l, "port",
                            json_integer(L->fds && L->fds[0] >= 0 ? hilt_sock_port(L->fds[0]) : 0));
        json_object_set_new(l, "profile", json_string(L->cfg->profile_name));
        json_object_set_new(l, "active",
                            json_integer((json_int_t)tm_sum(gw->reg, TM_ACTIVE, L->name)));
        json_object_set_new(l, "handshakes",
                            json_integer((json_int_t)tm_sum(gw->reg, TM_HANDSHAKES, L->name)));
        json_t *vs = json_array();
        for (size_t v = 0; v < L->nvariants; v++) {
            struct gw_variant *V = &L->variants[v];
            json_t *vo = json_object(), *cs = json_array();
            json_object_set_new(vo, "variant", json_string(V->id));
            json_object_set_new(vo, "weight", json_integer(V->weight));
            for (size_t s = 0; s < V->nsets; s++)
                for (int k = 0; k < V->sets[s].ninfo; k++) {
                    struct gw_certinfo *ci = &V->sets[s].info[k];
                    json_t *c = json_object(), *names = json_array();
                    for (size_t n = 0; n < V->sets[s].nnames; n++)
                        json_array_append_new(names, json_string(V->sets[s].names[n]));
                    json_object_set_new(c, "subject", json_string(ci->subject));
                    json_object_set_new(c, "serial", json_string(ci->serial));
                    json_object_set_new(c, "key", json_string(ci->key));
                    json_object_set_new(c, "not_after", hilt_json_time(ci->not_after));
                    json_object_set_new(c, "names", names);
                    json_object_set_new(c, "default", json_boolean(s == V->default_set));
                    json_array_append_new(cs, c);
                }
            json_object_set_new(vo, "certificates", cs);
            json_array_append_new(vs, vo);
        }
        json_t *rs = json_array();
        for (size_t r = 0; r < L->nroutes; r++) {
            json_t *ro = json_object();
            json_object_set_new(ro, "sni", json_string(L->routes[r].sni));
            json_object_set_new(ro, "alpn",
                                L->routes[r].alpn ? json_string(L->routes[r].alpn) : json_null());
            json_object_set_new(ro, "backend", json_string(L->routes[r].be->name));
            json_object_set_new(ro, "passthrough", json_boolean(L->routes[r].passthrough));
            json_array_append_new(rs, ro);
        }
        json_object_set_new(l, "routes", rs);
        json_object_set_new(l, "variant", json_string(L->variants[0].id));
        json_object_set_new(l, "variants", vs);
        json_array_append_new(ls, l);
    }
    json_object_set_new(o, "listeners", ls);
    json_t *bs = json_array();
    for (size_t i = 0; i < g->nbackends; i++) {
        struct gw_backend *B = &g->backends[i];
        json_t *b = json_object(), *ss = json_array();
        json_object_set_new(b, "name", json_string(B->name));
        json_object_set_new(b, "tls", json_boolean(B->tls != NULL));
        for (size_t s = 0; s < B->nservers; s++) {
            json_t *so = json_object();
            json_object_set_new(so, "address", json_string(B->cfg->servers[s]));
            json_object_set_new(so, "up", json_boolean(atomic_load(&B->servers[s].up)));
            json_object_set_new(so, "active", json_integer(atomic_load(&B->servers[s].active)));
            json_array_append_new(ss, so);
        }
        json_object_set_new(b, "servers", ss);
        json_array_append_new(bs, b);
    }
    json_object_set_new(o, "backends", bs);
    json_t *tp = gw_tp_status(gw->tp);
    json_object_set_new(tp, "swaps", json_integer((json_int_t)gw->pushes_ok));
    json_object_set_new(tp, "swap_failures", json_integer((json_int_t)gw->pushes_failed));
    json_object_set_new(o, "trust_plane", tp);
    return o;
}

static void metrics(struct gw_admin_conn *a)
{
    struct gateway *gw = a->gw;
    struct gw_gen *g = gw->cur;
    struct hilt_buf b;
    hilt_buf_init(&b, 64u << 20);
    tm_expose(gw->reg, &b);
    tm_write_header(&b, "hilt_backend_up", "gauge", "Active health check state (1 up, 0 down)");
    for (size_t i = 0; i < g->nbackends; i++)
        for (size_t s = 0; s < g->backends[i].nservers; s++)
            tm_write_sample(&b, "hilt_backend_up", atomic_load(&g->backends[i].servers[s].up),
                            "backend", g->backends[i].name, "server",
                            g->backends[i].servers[s].label, NULL);
    tm_write_header(&b, "hilt_certificate_expiry_timestamp_seconds", "gauge",
                    "notAfter of each certificate a listener serves, as a Unix time");
    for (size_t i = 0; i < g->nlisteners; i++) {
        struct gw_listener *L = &g->listeners[i];
        for (size_t v = 0; v < L->nvariants; v++)
            for (size_t s = 0; s < L->variants[v].nsets; s++)
                for (int k = 0; k < L->variants[v].sets[s].ninfo; k++) {
                    struct gw_certinfo *ci = &L->variants[v].sets[s].info[k];
                    tm_write_sample(&b, "hilt_certificate_expiry_timestamp_seconds",
                                    (double)ci->not_after, "listener", L->name, "subject",
                                    ci->subject, "serial", ci->serial, "key", ci->key, NULL);
                }
    }
    gw_tp_metrics(gw->tp, &b);
    tm_write_header(&b, "hilt_gateway_certificate_swaps_total", "counter",
                    "Renewed certificates swapped into service, by result");
    tm_write_sample(&b, "hilt_gateway_certificate_swaps_total", (double)gw->pushes_ok, "result",
                    "ok", NULL);
    tm_write_sample(&b, "hilt_gateway_certificate_swaps_total", (double)gw->pushes_failed, "result",
                    "failure", NULL);
    tm_write_header(&b, "hilt_config_generation", "gauge", "Id of the configuration now serving");
    tm_write_sample(&b, "hilt_config_generation", (double)g->id, NULL);
    tm_write_header(&b, "hilt_observed_clients", "gauge", "Distinct client offers on record");
    tm_write_sample(&b, "hilt_observed_clients", (double)obs_count(gw->obs), NULL);
    respond(a, 200, "text/plain; version=0.0.4; charset=utf-8", (const char *)b.data, b.len);
    hilt_buf_free(&b);
}

static void handle(struct gw_admin_conn *a)
{
    char method[16], path[512];
    if (sscanf(a->req, "%15s %511s", method, path) != 2) {
        respond(a, 400, "text/plain", "bad request\n", 12);
        return;
    }
    char *q = strchr(path, '?');
    if (q) *q = 0;
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!strcmp(path, "/metrics")) {
        if (!get) return respond(a, 405, "text/plain", "use GET\n", 8);
        metrics(a);
    } else if (!strcmp(path, "/status")) {
        if (!get) return respond(a, 405, "text/plain", "use GET\n", 8);
        respond_json(a, 200, status_json(a->gw));
    } else if (!strcmp(path, "/observed")) {
        if (!get) return respond(a, 405, "text/plain", "use GET\n", 8);
        respond_json(a, 200, obs_json(a->gw->obs));
    } else if (!strcmp(path, "/reload")) {
        if (strcmp(method, "POST")) return respond(a, 405, "text/plain", "use POST\n", 9);
        struct hilt_err e;
        hilt_err_clear(&e);
        json_t *o = json_object();
        if (gw_reload(a->gw, &e) < 0) {
            json_object_set_new(o, "ok", json_false());
            json_object_set_new(o, "error", json_string(e.msg));
            respond_json(a, 400, o);
        } else {
            json_object_set_new(o, "ok", json_true());
            json_object_set_new(o, "generation", json_integer((json_int_t)a->gw->cur->id));
            respond_json(a, 200, o);
        }
    } else {
        respond(a, 404, "text/plain", "not found: try /metrics, /status, /observed, /reload\n", 53);
    }
}

static void admin_cb(void *arg, unsigned ev)
{
    (void)ev;
    struct gw_admin_conn *a = arg;
    if (a->dead) return;
    if (!a->responding) {
        ssize_t n = recv(a->fd, a->req + a->len, ADMIN_HEAD_MAX - a->len, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            admin_free(a);
            return;
        }
        if (n > 0) a->len += (size_t)n;
        a->req[a->len] = 0;
        if (!strstr(a->req, "\r\n\r\n") && !strstr(a->req, "\n\n")) {
            if (a->len >= ADMIN_HEAD_MAX) {
                respond(a, 400, "text/plain", "request head too large\n", 23);
            } else {
                return;
            }
        } else {
            handle(a);
        }
        gw_io_mod(a->gw->loop, &a->io, GW_EV_WRITE);
    }
    while (a->sent < a->out.len) {
        ssize_t n = send(a->fd, a->out.data + a->sent, a->out.len - a->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            break;
        }
        a->sent += (size_t)n;
    }
    admin_free(a);
}

static void admin_accept_cb(void *arg, unsigned ev)
{
    (void)ev;
    struct gateway *gw = arg;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(gw->admin_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        struct gw_admin_conn *a = calloc(1, sizeof(*a));
        if (!a) {
            close(fd);
            return;
        }
        a->gw = gw;
        a->fd = fd;
        hilt_buf_init(&a->out, 64u << 20);
        a->deadline = gw_now_ms() + ADMIN_TIMEOUT_MS;
        a->next = gw->admins;
        gw->admins = a;
        if (gw_io_add(gw->loop, &a->io, fd, GW_EV_READ, admin_cb, a) < 0) admin_free(a);
    }
}

void gw_admin_sweep(struct gateway *gw)
{
    int64_t now = gw_now_ms();
    struct gw_admin_conn **pp = &gw->admins;
    while (*pp) {
        struct gw_admin_conn *a = *pp;
        if (!a->dead && now > a->deadline) admin_free(a);
        if (a->dead) {
            *pp = a->next;
            free(a);
        } else {
            pp = &a->next;
        }
    }
}

int gw_admin_open(struct gateway *gw, struct hilt_err *e)
{
    struct gw_config *c = gw->cur->cfg;
    gw->admin_fd = -1;
    if (!c->has_admin) return 0;
    if (hilt_tcp_listen(c->admin.host, c->admin.port, 128, 0, &gw->admin_fd, e) < 0) {
        hilt_err_prefix(e, "%s: admin.listen", c->path);
        return -1;
    }
    hilt_set_nonblock(gw->admin_fd, 1);
    return gw_io_add(gw->loop, &gw->admin_io, gw->admin_fd, GW_EV_READ, admin_accept_cb, gw);
}

void gw_admin_close(struct gateway *gw)
{
    for (struct gw_admin_conn *a = gw->admins; a; a = a->next)
        if (!a->dead) admin_free(a);
    gw_admin_sweep(gw);
    if (gw->admin_fd >= 0) {
        gw_io_del(gw->loop, &gw->admin_io);
        close(gw->admin_fd);
        gw->admin_fd = -1;
    }
}

uint64_t gw_snapshot(const struct gw_config *cfg)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < cfg->nfiles; i++) {
        struct stat st;
        struct gw_fstat f;
        memset(&f, 0, sizeof(f));
        if (stat(cfg->files[i], &st) == 0) {
            f.exists = 1;
            f.dev = st.st_dev;
            f.ino = st.st_ino;
            f.size = st.st_size;
            f.mtime = st.st_mtim;
            f.ctime = st.st_ctim;
        }
        const uint8_t *p = (const uint8_t *)&f;
        for (size_t k = 0; k < sizeof(f); k++)
            h = (h ^ p[k]) * 0x100000001b3ull;
    }
    return h;
}
