#define _GNU_SOURCE
/* gateway_load.c - a small TLS load client for the gateway's reliability tests
 * and bench/gateway.sh (built at test time with cc; links OpenSSL only).
 *
 *   gateway_load -p PORT [-n TOTAL] [-c CONCURRENCY] [-m MODE] [-R] [-g PATH]
 *                [-s SECONDS] [-x] [-P] [-V tls1.2|tls1.3] [-S SNI] [-N ROUNDS] [-b BYTES]
 *   modes: hs    connect, handshake, [echo "ping" | GET PATH], close; TOTAL times
 *          hold  open CONCURRENCY connections, handshake, keep them open SECONDS,
 *                then echo once on each and close
 *          lat   one connection, ROUNDS echo round trips of BYTES (or, with -g PATH, HTTP/1.1
 *                keep-alive GETs); prints p50/p99 in µs
 *          bulk  one connection: GET PATH, read to EOF; prints bytes and seconds
 *          echod a plain TCP echo server on 127.0.0.1:PORT (the tests' backend); with
 *                -b BYTES > 0 after "sink", it answers "GET" with BYTES of data
 *   -q hold: close the held connections without the final echo
 *   -C K hold: at most K handshakes in flight while ramping up (default: all at once)
 *   -R resume sessions (tickets) after each slot's first handshake; -x echo after
 *   the handshake; -P plain TCP (no TLS: the baseline for lat/bulk).
 * Output: one line of key=value pairs. Exit 0 when nothing failed.
 * Loopback only: the host is always 127.0.0.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, total = 1000, conc = 50, resume, echo, plain, rounds = 1000, bytes = 64;
static int seconds = 2, tlsver, quiet_close, ramp;
static const char *mode = "hs", *get_path, *sni = "localhost";
static SSL_CTX *ctx;

static uint64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static int tcp(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

enum { S_CONNECT, S_HS, S_WRITE, S_READ, S_HOLD, S_DONE };

struct slot {
    int fd, st;
    SSL *ssl;
    SSL_SESSION *sess;
    size_t got, want;
    char req[512];
    size_t reqlen, reqoff;
    uint64_t t0;
};

static int ep;
static long ok, failed, resumed;
static int started;

static void slot_close(struct slot *s, int good)
{
    if (s->ssl) {
        /* keep the session of the slot's full handshake: every later one resumes it */
        if (good && resume && !SSL_session_reused(s->ssl)) {
            SSL_SESSION *n = SSL_get1_session(s->ssl);
            if (n) {
                SSL_SESSION_free(s->sess);
                s->sess = n;
            }
        }
        if (good && SSL_session_reused(s->ssl)) resumed++;
        /* a connection freed without shutdown makes its session unresumable */
        if (good) SSL_set_shutdown(s->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
    }
    s->fd = -1;
    s->st = S_DONE;
    if (good) ok++;
    else failed++;
    ERR_clear_error();
}

static void watch(struct slot *s, uint32_t ev, int add)
{
    struct epoll_event e = {.events = ev, .data.ptr = s};
    epoll_ctl(ep, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s->fd, &e);
}

static int slot_start(struct slot *s)
{
    s->fd = tcp();
    if (s->fd < 0) return -1;
    s->st = S_CONNECT;
    s->got = s->reqoff = 0;
    s->t0 = now_us();
    if (!plain) {
        s->ssl = SSL_new(ctx);
        SSL_set_fd(s->ssl, s->fd);
        SSL_set_tlsext_host_name(s->ssl, sni);
        if (resume && s->sess) {
            /* a fresh copy each time: OpenSSL changes a session object once it was used */
            unsigned char *der = NULL;
            int n = i2d_SSL_SESSION(s->sess, &der);
            const unsigned char *p = der;
            SSL_SESSION *copy = n > 0 ? d2i_SSL_SESSION(NULL, &p, n) : NULL;
            if (copy) SSL_set_session(s->ssl, copy);
            SSL_SESSION_free(copy);
            OPENSSL_free(der);
        }
        SSL_set_connect_state(s->ssl);
    }
    if (get_path) {
        s->reqlen = (size_t)snprintf(s->req, sizeof(s->req),
                                     "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", get_path, sni);
        s->want = 0; /* to EOF */
    } else {
        memcpy(s->req, "ping", 4);
        s->reqlen = 4;
        s->want = 4;
    }
    started++;
    watch(s, EPOLLOUT, 1);
    return 0;
}

/* Drive a slot; 1 = finished (closed), 0 = waiting. */
static int slot_run(struct slot *s)
{
    char buf[65536];
    for (;;) {
        int r, err;
        switch (s->st) {
        case S_CONNECT: {
            int e = 0;
            socklen_t l = sizeof(e);
            getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &e, &l);
            if (e) {
                slot_close(s, 0);
                return 1;
            }
            s->st = plain ? S_WRITE : S_HS;
            break;
        }
        case S_HS:
            r = SSL_do_handshake(s->ssl);
            if (r == 1) {
                int talk = echo || get_path || resume || !strcmp(mode, "hold");
                if (!strcmp(mode, "hold")) {
                    s->st = S_HOLD;
                    watch(s, EPOLLIN, 0);
                    return 0;
                }
                s->st = talk ? S_WRITE : S_DONE;
                if (!talk) {
                    slot_close(s, 1);
                    return 1;
                }
                break;
            }
            err = SSL_get_error(s->ssl, r);
            if (err == SSL_ERROR_WANT_READ) {
                watch(s, EPOLLIN, 0);
                return 0;
            }
            if (err == SSL_ERROR_WANT_WRITE) {
                watch(s, EPOLLOUT, 0);
                return 0;
            }
            slot_close(s, 0);
            return 1;
        case S_WRITE:
            while (s->reqoff < s->reqlen) {
                r = plain ? (int)send(s->fd, s->req + s->reqoff, s->reqlen - s->reqoff, MSG_NOSIGNAL)
                          : SSL_write(s->ssl, s->req + s->reqoff, (int)(s->reqlen - s->reqoff));
                if (r <= 0) {
                    if ((plain && errno == EAGAIN) ||
                        (!plain && SSL_get_error(s->ssl, r) == SSL_ERROR_WANT_WRITE)) {
                        watch(s, EPOLLOUT, 0);
                        return 0;
                    }
                    slot_close(s, 0);
                    return 1;
                }
                s->reqoff += (size_t)r;
            }
            s->st = S_READ;
            break;
        case S_READ:
            r = plain ? (int)recv(s->fd, buf, sizeof(buf), 0) : SSL_read(s->ssl, buf, sizeof(buf));
            if (r > 0) {
                s->got += (size_t)r;
                if (s->want && s->got >= s->want) {
                    slot_close(s, 1);
                    return 1;
                }
                break;
            }
            if (plain ? (r < 0 && errno == EAGAIN)
                      : SSL_get_error(s->ssl, r) == SSL_ERROR_WANT_READ) {
                watch(s, EPOLLIN, 0);
                return 0;
            }
            slot_close(s, !s->want && s->got > 0);
            return 1;
        case S_HOLD:
            /* the server must not close a held connection: any readable event is a failure,
               except the TLS 1.3 session ticket which SSL_read consumes */
            r = SSL_read(s->ssl, buf, sizeof(buf));
            if (r <= 0 && SSL_get_error(s->ssl, r) == SSL_ERROR_WANT_READ) return 0;
            slot_close(s, 0);
            return 1;
        default: return 1;
        }
    }
}

static double pct(uint64_t *v, size_t n, double p)
{
    if (!n) return 0;
    for (size_t i = 1; i < n; i++) { /* insertion sort is fine for a few thousand */
        uint64_t x = v[i];
        size_t j = i;
        while (j && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    size_t k = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[k];
}

static int blocking_io(int fd, SSL *s, int wr, char *b, int n)
{
    for (;;) {
        int r = s ? (wr ? SSL_write(s, b, n) : SSL_read(s, b, n))
                  : (int)(wr ? send(fd, b, (size_t)n, MSG_NOSIGNAL) : recv(fd, b, (size_t)n, 0));
        if (r > 0) return r;
        int want_read = s ? SSL_get_error(s, r) == SSL_ERROR_WANT_READ : (r < 0 && errno == EAGAIN && !wr);
        int want_write = s ? SSL_get_error(s, r) == SSL_ERROR_WANT_WRITE : (r < 0 && errno == EAGAIN && wr);
        if (!want_read && !want_write) return r;
        fd_set fs;
        FD_ZERO(&fs);
        FD_SET(fd, &fs);
        select(fd + 1, want_read ? &fs : NULL, want_write ? &fs : NULL, NULL, NULL);
    }
}

static int one_conn(int *fd, SSL **s)
{
    struct slot tmp = {.fd = -1};
    *fd = tcp();
    if (*fd < 0) return -1;
    fd_set fs;
    FD_ZERO(&fs);
    FD_SET(*fd, &fs);
    select(*fd + 1, NULL, &fs, NULL, NULL);
    *s = NULL;
    if (plain) return 0;
    *s = SSL_new(ctx);
    SSL_set_fd(*s, *fd);
    SSL_set_tlsext_host_name(*s, sni);
    for (;;) {
        int r = SSL_connect(*s);
        if (r == 1) return 0;
        int e = SSL_get_error(*s, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return -1;
        FD_ZERO(&fs);
        FD_SET(*fd, &fs);
        select(*fd + 1, e == SSL_ERROR_WANT_READ ? &fs : NULL, e == SSL_ERROR_WANT_WRITE ? &fs : NULL,
               NULL, NULL);
    }
    (void)tmp;
}

static int run_lat(void)
{
    int fd;
    SSL *s;
    if (one_conn(&fd, &s) < 0) {
        printf("mode=lat failed=1\n");
        return 1;
    }
    char *buf = malloc((size_t)bytes + 512), *in = malloc((size_t)bytes + 65536);
    memset(buf, 'x', (size_t)bytes);
    if (get_path) /* HTTP/1.1 keep-alive requests; the response is read to its Content-Length */
        bytes = snprintf(buf, 512, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", get_path, sni);
    uint64_t *v = calloc((size_t)rounds, sizeof(*v));
    for (int i = 0; i < rounds; i++) {
        uint64_t t0 = now_us();
        if (blocking_io(fd, s, 1, buf, bytes) != bytes) return 1;
        int got = 0, want = get_path ? 65536 : bytes;
        while (got < want) {
            int r = blocking_io(fd, s, 0, in + got, 65536 - got);
            if (r <= 0) return 1;
            got += r;
            if (get_path) {
                in[got] = 0;
                char *h = strstr(in, "\r\n\r\n"), *cl = strcasestr(in, "content-length:");
                if (h && cl) want = (int)(h + 4 - in) + atoi(cl + 15);
            }
        }
        v[i] = now_us() - t0;
    }
    double p50 = pct(v, (size_t)rounds, 0.5), p99 = pct(v, (size_t)rounds, 0.99);
    printf("mode=lat rounds=%d bytes=%d p50_us=%.0f p99_us=%.0f\n", rounds, bytes, p50, p99);
    if (s) SSL_free(s);
    close(fd);
    free(buf);
    free(in);
    free(v);
    return 0;
}

static int run_bulk(void)
{
    int fd;
    SSL *s;
    if (!get_path || one_conn(&fd, &s) < 0) {
        printf("mode=bulk failed=1\n");
        return 1;
    }
    char req[512], buf[65536];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", get_path, sni);
    uint64_t t0 = now_us();
    blocking_io(fd, s, 1, req, n);
    long long got = 0;
    int r;
    while ((r = blocking_io(fd, s, 0, buf, sizeof(buf))) > 0)
        got += r;
    double secs = (double)(now_us() - t0) / 1e6;
    printf("mode=bulk bytes=%lld seconds=%.3f mbytes_per_s=%.1f\n", got, secs, (double)got / secs / 1e6);
    if (s) SSL_free(s);
    close(fd);
    return got > 0 ? 0 : 1;
}

/* A plain TCP echo server (epoll, one thread) for tests: echoes everything. */
static int run_echod(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 4096) < 0) {
        perror("echod");
        return 1;
    }
    fcntl(l, F_SETFL, O_NONBLOCK);
    ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = l}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &e);
    char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                int c;
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            ssize_t r = recv(fd, buf, sizeof(buf), 0);
            if (r > 0) {
                ssize_t off = 0;
                while (off < r) { /* small writes to a loopback peer: block briefly if needed */
                    ssize_t w = send(fd, buf + off, (size_t)(r - off), MSG_NOSIGNAL);
                    if (w < 0 && errno == EAGAIN) {
                        usleep(100);
                        continue;
                    }
                    if (w <= 0) break;
                    off += w;
                }
            } else if (r == 0 || errno != EAGAIN) {
                close(fd);
            }
        }
    }
}

int main(int argc, char **argv)
{
    int o;
    while ((o = getopt(argc, argv, "p:n:c:m:Rxg:s:PV:S:N:b:qC:")) != -1) {
        switch (o) {
        case 'p': port = atoi(optarg); break;
        case 'n': total = atoi(optarg); break;
        case 'c': conc = atoi(optarg); break;
        case 'm': mode = optarg; break;
        case 'R': resume = 1; break;
        case 'x': echo = 1; break;
        case 'g': get_path = optarg; break;
        case 's': seconds = atoi(optarg); break;
        case 'P': plain = 1; break;
        case 'V': tlsver = !strcmp(optarg, "tls1.2") ? TLS1_2_VERSION : TLS1_3_VERSION; break;
        case 'S': sni = optarg; break;
        case 'N': rounds = atoi(optarg); break;
        case 'b': bytes = atoi(optarg); break;
        case 'q': quiet_close = 1; break;
        case 'C': ramp = atoi(optarg); break;
        default: fprintf(stderr, "usage: see the header of gateway_load.c\n"); return 2;
        }
    }
    if (!port) return 2;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (tlsver) {
        SSL_CTX_set_min_proto_version(ctx, tlsver);
        SSL_CTX_set_max_proto_version(ctx, tlsver);
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    if (!strcmp(mode, "echod")) return run_echod();
    if (!strcmp(mode, "lat")) return run_lat();
    if (!strcmp(mode, "bulk")) return run_bulk();
    int hold = !strcmp(mode, "hold");
    if (hold) total = conc;
    ep = epoll_create1(0);
    struct slot *sl = calloc((size_t)conc, sizeof(*sl));
    struct epoll_event evs[512];
    uint64_t t0 = now_us();
    int active = 0;
    for (int i = 0; i < conc; i++)
        sl[i].fd = -1;
    int first = hold && ramp > 0 && ramp < conc ? ramp : conc, next = first;
    for (int i = 0; i < first && started < total; i++) {
        if (slot_start(&sl[i]) == 0) active++;
        else failed++;
    }
    uint64_t hold_until = 0;
    long held = 0;
    while (active > 0) {
        int n = epoll_wait(ep, evs, 512, 100);
        for (int i = 0; i < n; i++) {
            struct slot *s = evs[i].data.ptr;
            if (s->st == S_DONE) continue;
            int was_hs = s->st != S_HOLD;
            int fin = slot_run(s);
            if (hold && next < conc && was_hs && (fin || s->st == S_HOLD)) {
                /* ramping: a slot left its handshake, start the next one */
                if (slot_start(&sl[next++]) == 0) active++;
                else failed++;
            }
            if (fin) {
                active--;
                if (!hold && started < total) {
                    if (slot_start(s) == 0) active++;
                    else failed++;
                }
            }
        }
        if (hold) {
            held = 0;
            for (int i = 0; i < conc; i++)
                held += sl[i].st == S_HOLD;
            if (!hold_until && held + failed >= conc) {
                hold_until = now_us() + (uint64_t)seconds * 1000000u;
                printf("held=%ld failed=%ld after_s=%.2f\n", held, failed,
                       (double)(now_us() - t0) / 1e6);
                fflush(stdout);
            }
            if (hold_until && now_us() >= hold_until) {
                /* echo once on each held connection, then close */
                for (int i = 0; i < conc; i++)
                    if (sl[i].st == S_HOLD && quiet_close) {
                        slot_close(&sl[i], 1);
                        active--;
                    } else if (sl[i].st == S_HOLD) {
                        sl[i].st = S_WRITE;
                        sl[i].reqoff = 0;
                        if (slot_run(&sl[i])) active--;
                    }
                hold = 0;
            }
        }
        if (now_us() - t0 > 600u * 1000000u) break;
    }
    double secs = (double)(now_us() - t0) / 1e6;
    printf("mode=%s ok=%ld failed=%ld resumed=%ld seconds=%.2f per_s=%.0f\n", mode, ok, failed,
           resumed, secs, (double)ok / secs);
    for (int i = 0; i < conc; i++)
        SSL_SESSION_free(sl[i].sess);
    free(sl);
    SSL_CTX_free(ctx);
    return failed ? 1 : 0;
}
