/* job.c - a scan connection as a small state machine on libevent. */
#include "scan/job.h"

#include "core/clock.h"
#include "core/err.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOB_IN_MAX (72u << 10)
#define TICKET_WAIT_MS 300

enum {
    S_IDLE,
    S_CONNECT,
    S_ST_SEND,
    S_ST_RECV,
    S_RAW_SEND,
    S_RAW_RECV,
    S_SSL,
    S_SSL_TICKET,
    S_DONE
};

const char *hilt_job_status_name(enum hilt_job_status s)
{
    switch (s) {
    case HILT_JOB_OK:
        return "ok";
    case HILT_JOB_CONNECT_FAILED:
        return "connect failed";
    case HILT_JOB_STARTTLS_FAILED:
        return "STARTTLS failed";
    case HILT_JOB_TIMEOUT:
        return "timeout";
    case HILT_JOB_CLOSED:
        return "closed";
    case HILT_JOB_LOCAL_ERROR:
        return "local error";
    }
    return "?";
}

void hilt_scan_job_init(struct hilt_scan_job *j)
{
    memset(j, 0, sizeof(*j));
    j->fd = -1;
    hilt_buf_init(&j->hello, 1 << 16);
    hilt_buf_init(&j->in, JOB_IN_MAX);
    hilt_buf_init(&j->out, 4096);
    hilt_tls_result_init(&j->tlsr);
}

void hilt_scan_job_clear(struct hilt_scan_job *j)
{
    hilt_server_flight_free(&j->flight);
    memset(&j->flight, 0, sizeof(j->flight));
    hilt_tls_result_free(&j->tlsr);
    hilt_tls_result_init(&j->tlsr);
    SSL_SESSION_free(j->session);
    j->session = NULL;
    hilt_buf_free(&j->hello);
    hilt_buf_free(&j->in);
    hilt_buf_free(&j->out);
    j->status = HILT_JOB_OK;
    j->detail[0] = '\0';
    j->peer_reset = 0;
    j->net = HILT_NET_OK;
}

static void on_event(evutil_socket_t fd, short what, void *arg);
static void on_timeout(evutil_socket_t fd, short what, void *arg);

static void release(struct hilt_scan_job *j)
{
    if (j->ev) {
        event_free(j->ev);
        j->ev = NULL;
    }
    if (j->tmo) {
        event_free(j->tmo);
        j->tmo = NULL;
    }
    if (j->ssl) {
        /* Without a close_notify OpenSSL marks the session bad (not resumable). */
        if (j->tlsr.completed) SSL_shutdown(j->ssl);
        SSL_free(j->ssl);
        j->ssl = NULL;
    }
    if (j->fd >= 0) {
        close(j->fd);
        j->fd = -1;
    }
    ERR_clear_error();
}

static void finish(struct hilt_scan_job *j, enum hilt_job_status st)
{
    j->status = st;
    j->state = S_DONE;
    release(j);
    j->done(j, j->arg); /* may free j */
}

static void deferred_finish(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hilt_scan_job *j = arg;
    finish(j, j->status);
}

static void fail_later(struct hilt_scan_job *j, enum hilt_job_status st)
{
    j->status = st;
    release(j);
    struct timeval zero = {0, 0};
    event_base_once(j->env->base, -1, EV_TIMEOUT, deferred_finish, j, &zero);
}

/* One event per job, re-aimed at each state (no allocation per wait). */
static void wait_for(struct hilt_scan_job *j, short what)
{
    if (!j->ev) {
        j->ev = event_new(j->env->base, j->fd, what, on_event, j);
    } else {
        event_del(j->ev);
        event_assign(j->ev, j->env->base, j->fd, what, on_event, j);
    }
    if (j->ev) event_add(j->ev, NULL);
}

/* Each stage gets the whole timeout. */
static void arm_timeout(struct hilt_scan_job *j, int ms)
{
    if (!j->tmo) j->tmo = evtimer_new(j->env->base, on_timeout, j);
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (j->tmo) evtimer_add(j->tmo, &tv);
}

/* ---- stages ---- */

static void start_tls_stage(struct hilt_scan_job *j);
static void starttls_step(struct hilt_scan_job *j);

static void stage_after_connect(struct hilt_scan_job *j)
{
    if (j->env->starttls) {
        j->step = 0;
        starttls_step(j);
    } else {
        start_tls_stage(j);
    }
}

/* Write j->out from j->sent; returns 1 when all sent, 0 would block, -1 error. */
static int flush_out(struct hilt_scan_job *j, const struct hilt_buf *b)
{
    while (j->sent < b->len) {
        ssize_t n = send(j->fd, b->data + j->sent, b->len - j->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            j->peer_reset = errno == ECONNRESET || errno == EPIPE;
            return -1;
        }
        j->sent += (size_t)n;
    }
    return 1;
}

/* Read what is available into j->in; returns bytes read, 0 on EOF, -1 would block, -2 error. */
static ssize_t fill_in(struct hilt_scan_job *j)
{
    uint8_t *p = hilt_buf_reserve(&j->in, 16384);
    if (!p) return -2;
    ssize_t n = recv(j->fd, p, 16384, 0);
    if (n > 0) {
        hilt_buf_commit(&j->in, (size_t)n);
        return n;
    }
    if (n == 0) return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return -1;
    j->peer_reset = errno == ECONNRESET;
    return -2;
}

static void starttls_step(struct hilt_scan_job *j)
{
    const struct hilt_starttls *st = j->env->starttls;
    if (j->step >= st->nsteps) {
        hilt_buf_reset(&j->in);
        start_tls_stage(j);
        return;
    }
    const struct hilt_starttls_step *s = &st->steps[j->step];
    hilt_buf_reset(&j->out);
    hilt_buf_reset(&j->in);
    j->sent = 0;
    if (s->send) {
        if (s->send_len)
            hilt_buf_add(&j->out, s->send, s->send_len);
        else
            hilt_buf_addf(&j->out, (const char *)s->send,
                          j->env->host ? j->env->host : "localhost");
        j->state = S_ST_SEND;
        arm_timeout(j, j->env->timeout_ms);
        wait_for(j, EV_WRITE);
    } else {
        j->state = S_ST_RECV;
        arm_timeout(j, j->env->timeout_ms);
        wait_for(j, EV_READ);
    }
}

static void start_tls_stage(struct hilt_scan_job *j)
{
    arm_timeout(j, j->env->timeout_ms);
    j->t0 = hilt_mono_us();
    if (j->kind == HILT_JOB_RAW) {
        /* A freshly connected socket is writable: send now, wait only if it would block. */
        j->state = S_RAW_SEND;
        j->sent = 0;
        on_event(j->fd, EV_WRITE, j);
        return;
    }
    j->ssl = SSL_new(j->ctx);
    struct hilt_err e = {0};
    if (!j->ssl || hilt_tls_client_bind(j->ssl, j->fd, &j->tls, &j->tlsr, &e) < 0) {
        snprintf(j->detail, sizeof(j->detail), "%s",
                 e.msg[0] ? e.msg : "cannot create a TLS connection");
        finish(j, HILT_JOB_LOCAL_ERROR);
        return;
    }
    if (j->resume) SSL_set_session(j->ssl, j->resume);
    j->state = S_SSL;
    on_event(j->fd, EV_WRITE, j);
}

static void ssl_step(struct hilt_scan_job *j)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_connect(j->ssl);
    if (n == 1) {
        j->tlsr.handshake_us = hilt_mono_us() - j->t0;
        j->tlsr.completed = 1;
        hilt_tls_client_record_success(j->ssl, &j->tlsr);
        if (j->want_session && SSL_version(j->ssl) == TLS1_3_VERSION && !j->tlsr.post_ticket) {
            j->state = S_SSL_TICKET;
            arm_timeout(j,
                        j->env->timeout_ms < TICKET_WAIT_MS ? j->env->timeout_ms : TICKET_WAIT_MS);
            wait_for(j, EV_READ);
            return;
        }
        if (j->want_session) j->session = SSL_get1_session(j->ssl);
        finish(j, HILT_JOB_OK);
        return;
    }
    int err = SSL_get_error(j->ssl, n);
    if (err == SSL_ERROR_WANT_READ) {
        wait_for(j, EV_READ);
        return;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        wait_for(j, EV_WRITE);
        return;
    }
    hilt_tls_client_record_failure(j->ssl, err, errno, &j->tlsr);
    j->tlsr.handshake_us = hilt_mono_us() - j->t0;
    finish(j, HILT_JOB_OK);
}

static void ticket_step(struct hilt_scan_job *j)
{
    uint8_t tmp[512];
    for (;;) {
        ERR_clear_error();
        int n = SSL_read(j->ssl, tmp, sizeof(tmp));
        if (j->tlsr.post_ticket || n > 0) break;
        int err = SSL_get_error(j->ssl, n);
        if (err == SSL_ERROR_WANT_READ) {
            wait_for(j, EV_READ);
            return;
        }
        break;
    }
    j->session = SSL_get1_session(j->ssl);
    finish(j, HILT_JOB_OK);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hilt_scan_job *j = arg;
    switch (j->state) {
    case S_CONNECT:
        j->net = HILT_NET_TIMEOUT;
        snprintf(j->detail, sizeof(j->detail), "no answer to the TCP connect within %d ms",
                 j->env->timeout_ms);
        finish(j, HILT_JOB_CONNECT_FAILED);
        return;
    case S_ST_SEND:
    case S_ST_RECV:
        snprintf(j->detail, sizeof(j->detail), "STARTTLS %s: no %s within %d ms",
                 j->env->starttls->name, j->env->starttls->steps[j->step].what, j->env->timeout_ms);
        finish(j, HILT_JOB_STARTTLS_FAILED);
        return;
    case S_SSL_TICKET:
        j->session = SSL_get1_session(j->ssl);
        finish(j, HILT_JOB_OK);
        return;
    case S_SSL:
        j->tlsr.timed_out = 1;
        hilt_tls_client_record_failure(j->ssl, SSL_ERROR_WANT_READ, 0, &j->tlsr);
        finish(j, HILT_JOB_TIMEOUT);
        return;
    default:
        if (j->judge) {
            finish(j, HILT_JOB_TIMEOUT);
            return;
        }
        /* A partial answer may still be decisive enough. */
        if (j->in.len) hilt_server_flight_parse(j->in.data, j->in.len, 0, &j->flight);
        finish(j, j->flight.kind != HILT_FLIGHT_NONE ? HILT_JOB_OK : HILT_JOB_TIMEOUT);
        return;
    }
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hilt_scan_job *j = arg;
    switch (j->state) {
    case S_CONNECT: {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(j->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
        if (err) {
            j->net = err == ECONNREFUSED                           ? HILT_NET_REFUSED
                     : err == ETIMEDOUT                            ? HILT_NET_TIMEOUT
                     : (err == ENETUNREACH || err == EHOSTUNREACH) ? HILT_NET_UNREACH
                                                                   : HILT_NET_OTHER;
            snprintf(j->detail, sizeof(j->detail), "connect: %s", strerror(err));
            finish(j, HILT_JOB_CONNECT_FAILED);
            return;
        }
        stage_after_connect(j);
        return;
    }
    case S_ST_SEND: {
        int r = flush_out(j, &j->out);
        if (r == 0) {
            wait_for(j, EV_WRITE);
            return;
        }
        if (r < 0) {
            snprintf(j->detail, sizeof(j->detail), "STARTTLS %s: the connection broke",
                     j->env->starttls->name);
            finish(j, HILT_JOB_STARTTLS_FAILED);
            return;
        }
        hilt_buf_reset(&j->in);
        j->state = S_ST_RECV;
        wait_for(j, EV_READ);
        return;
    }
    case S_ST_RECV: {
        ssize_t n = fill_in(j);
        if (n == -1) {
            wait_for(j, EV_READ);
            return;
        }
        const struct hilt_starttls_step *s = &j->env->starttls->steps[j->step];
        int r = n > 0 ? s->expect(j->in.data, j->in.len) : -1;
        if (r == 0 && j->in.len < j->in.max) {
            wait_for(j, EV_READ);
            return;
        }
        if (r <= 0) {
            char ex[80] = "";
            size_t k = j->in.len < 60 ? j->in.len : 60;
            for (size_t i = 0; i < k; i++)
                ex[i] = (char)(j->in.data[i] >= 0x20 && j->in.data[i] < 0x7f ? j->in.data[i] : '.');
            ex[k] = '\0';
            snprintf(j->detail, sizeof(j->detail), "STARTTLS %s: expected %s, got \"%s\"",
                     j->env->starttls->name, s->what, n <= 0 ? "(connection closed)" : ex);
            finish(j, HILT_JOB_STARTTLS_FAILED);
            return;
        }
        j->step++;
        starttls_step(j);
        return;
    }
    case S_RAW_SEND: {
        int r = flush_out(j, &j->hello);
        if (r == 0) {
            wait_for(j, EV_WRITE);
            return;
        }
        if (r < 0) {
            snprintf(j->detail, sizeof(j->detail),
                     "the connection broke while sending the ClientHello");
            finish(j, HILT_JOB_CLOSED);
            return;
        }
        j->state = S_RAW_RECV;
        hilt_buf_reset(&j->in);
        wait_for(j, EV_READ);
        return;
    }
    case S_RAW_RECV: {
        ssize_t n = fill_in(j);
        if (n == -1) {
            wait_for(j, EV_READ);
            return;
        }
        if (j->judge) {
            if (j->judge(j->judge_ctx, j->in.data, j->in.len, n <= 0) == 0 && n > 0 && j->in.len < j->in.max) {
                wait_for(j, EV_READ);
                return;
            }
            finish(j, n > 0 || j->in.len ? HILT_JOB_OK : HILT_JOB_CLOSED);
            return;
        }
        if (n > 0 && hilt_server_flight_parse(j->in.data, j->in.len, j->want_rest, &j->flight) == 0 &&
            j->in.len < j->in.max) {
            wait_for(j, EV_READ);
            return;
        }
        if (n <= 0) {
            /* Closed: whatever arrived may still say something. */
            if (j->in.len) hilt_server_flight_parse(j->in.data, j->in.len, 0, &j->flight);
            if (j->flight.kind == HILT_FLIGHT_NONE) {
                snprintf(j->detail, sizeof(j->detail),
                         "the server %s after the ClientHello (%zu bytes received)",
                         j->peer_reset ? "reset the connection" : "closed the connection",
                         j->in.len);
                finish(j, HILT_JOB_CLOSED);
                return;
            }
        }
        finish(j, HILT_JOB_OK);
        return;
    }
    case S_SSL:
        ssl_step(j);
        return;
    case S_SSL_TICKET:
        ticket_step(j);
        return;
    default:
        return;
    }
}

void hilt_scan_job_start(struct hilt_scan_env *env, struct hilt_scan_job *j)
{
    j->env = env;
    j->state = S_CONNECT;
    j->fd = socket(j->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (j->fd < 0) {
        snprintf(j->detail, sizeof(j->detail), "socket: %s", strerror(errno));
        fail_later(j, HILT_JOB_LOCAL_ERROR);
        return;
    }
    int one = 1;
    setsockopt(j->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(j->fd, (struct sockaddr *)&j->addr, j->addrlen) < 0 && errno != EINPROGRESS) {
        int err = errno;
        j->net = err == ECONNREFUSED ? HILT_NET_REFUSED : HILT_NET_OTHER;
        snprintf(j->detail, sizeof(j->detail), "connect: %s", strerror(err));
        fail_later(j,
                   err == EMFILE || err == ENFILE ? HILT_JOB_LOCAL_ERROR : HILT_JOB_CONNECT_FAILED);
        return;
    }
    arm_timeout(j, env->timeout_ms);
    wait_for(j, EV_WRITE);
}
