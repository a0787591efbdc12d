/* net.c - host:port parsing, resolution, deadline-bounded connects, listeners. */
#include "core/net.h"

#include "core/clock.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *hilt_net_status_name(enum hilt_net_status st)
{
    switch (st) {
    case HILT_NET_OK: return "ok";
    case HILT_NET_DNS: return "dns";
    case HILT_NET_REFUSED: return "refused";
    case HILT_NET_TIMEOUT: return "timeout";
    case HILT_NET_UNREACH: return "unreachable";
    case HILT_NET_RESET: return "reset";
    case HILT_NET_CLOSED: return "closed";
    case HILT_NET_OTHER: return "error";
    }
    return "error";
}

int hilt_is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static int parse_port(const char *s, uint16_t *port)
{
    if (!*s || strlen(s) > 5) return -1;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535) return -1;
    *port = (uint16_t)v;
    return 0;
}

int hilt_hostport_parse(const char *s, uint16_t default_port, struct hilt_hostport *out,
                        struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    out->port = default_port;
    size_t n = strlen(s);
    if (n == 0) return hilt_err_set(e, HILT_E_USAGE, 0, "empty host");
    if (n >= HILT_HOST_MAX + 8) return hilt_err_set(e, HILT_E_USAGE, 0, "host name too long");
    const char *host = s, *port = NULL;
    size_t hlen = n;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close) return hilt_err_set(e, HILT_E_USAGE, 0, "'%s': missing ']' after IPv6", s);
        host = s + 1;
        hlen = (size_t)(close - host);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return hilt_err_set(e, HILT_E_USAGE, 0, "'%s': junk after ']'", s);
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':')) {
            /* Several colons and no brackets: a bare IPv6 literal. */
            hlen = n;
        } else if (colon) {
            hlen = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (hlen == 0) return hilt_err_set(e, HILT_E_USAGE, 0, "'%s': empty host", s);
    if (hlen >= HILT_HOST_MAX) return hilt_err_set(e, HILT_E_USAGE, 0, "host name too long");
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    if (port && parse_port(port, &out->port) < 0)
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "'%s': port '%s' is not a number between 1 and 65535", s, port);
    out->is_ip = hilt_is_ip_literal(out->host);
    if (!out->is_ip) {
        /* Names: letters, digits, '-', '.', '_' only (RFC 1123 plus underscores). */
        for (const char *p = out->host; *p; p++) {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_'))
                return hilt_err_set(e, HILT_E_USAGE, 0, "'%s' is not a valid host name",
                                    out->host);
        }
    }
    return 0;
}

void hilt_hostport_fmt(const struct hilt_hostport *hp, char *out, size_t cap)
{
    if (strchr(hp->host, ':'))
        snprintf(out, cap, "[%s]:%u", hp->host, hp->port);
    else
        snprintf(out, cap, "%s:%u", hp->host, hp->port);
}

int hilt_resolve(const char *host, uint16_t port, struct addrinfo **out, struct hilt_err *e)
{
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    if (hilt_is_ip_literal(host)) hints.ai_flags = AI_NUMERICHOST;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    int rc = getaddrinfo(host, portstr, &hints, out);
    if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME) {
        /* AI_ADDRCONFIG hides ::1/127.0.0.1 on hosts with only loopback. */
        hints.ai_flags &= ~AI_ADDRCONFIG;
        rc = getaddrinfo(host, portstr, &hints, out);
    }
    if (rc != 0)
        return hilt_err_set(e, HILT_E_NET, HILT_NET_DNS, "cannot resolve '%s': %s", host,
                            gai_strerror(rc));
    return 0;
}

int hilt_set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -1;
    return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

int hilt_fd_wait(int fd, short events, uint64_t deadline_us)
{
    for (;;) {
        uint64_t now = hilt_mono_us();
        if (now >= deadline_us) return 0;
        uint64_t left_ms = (deadline_us - now + 999) / 1000;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, left_ms > 0x7fffffff ? 0x7fffffff : (int)left_ms);
        if (rc < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (rc == 0) continue; /* re-check the deadline */
        return 1;
    }
}

void hilt_sockaddr_fmt(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "%s:%u", ip, ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        snprintf(out, cap, "?");
    }
}

static enum hilt_net_status status_of_errno(int err)
{
    switch (err) {
    case ECONNREFUSED: return HILT_NET_REFUSED;
    case ETIMEDOUT: return HILT_NET_TIMEOUT;
    case ENETUNREACH:
    case EHOSTUNREACH:
    case EADDRNOTAVAIL: return HILT_NET_UNREACH;
    case ECONNRESET:
    case EPIPE: return HILT_NET_RESET;
    default: return HILT_NET_OTHER;
    }
}

int hilt_tcp_connect_addr(const struct sockaddr *sa, socklen_t len, int timeout_ms, int *fdp,
                          struct hilt_err *e)
{
    char name[80];
    hilt_sockaddr_fmt(sa, name, sizeof(name));
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return hilt_err_set(e, HILT_E_RUNTIME, HILT_NET_OTHER, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    uint64_t deadline = hilt_mono_us() + (uint64_t)timeout_ms * 1000u;
    int err = 0;
    if (connect(fd, sa, len) < 0) {
        if (errno != EINPROGRESS) {
            err = errno;
        } else {
            int rc = hilt_fd_wait(fd, POLLOUT, deadline);
            if (rc == 0) {
                close(fd);
                return hilt_err_set(e, HILT_E_NET, HILT_NET_TIMEOUT,
                                    "connect to %s: no answer within %d ms", name, timeout_ms);
            }
            socklen_t elen = sizeof(err);
            if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) err = errno;
        }
    }
    if (err) {
        close(fd);
        return hilt_err_set(e, HILT_E_NET, status_of_errno(err), "connect to %s: %s", name,
                            strerror(err));
    }
    *fdp = fd;
    return 0;
}

int hilt_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *fd, char *peer_addr,
                     size_t peer_cap, struct hilt_err *e)
{
    struct addrinfo *ai = NULL;
    if (hilt_resolve(host, port, &ai, e) < 0) return -1;
    uint64_t start = hilt_mono_us();
    int rc = -1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        uint64_t spent_ms = (hilt_mono_us() - start) / 1000;
        int left = timeout_ms - (int)spent_ms;
        if (left <= 0) {
            if (rc < 0 && e && e->kind == HILT_E_NONE)
                hilt_err_set(e, HILT_E_NET, HILT_NET_TIMEOUT, "connect to %s:%u: timed out",
                             host, port);
            break;
        }
        hilt_err_clear(e);
        rc = hilt_tcp_connect_addr(a->ai_addr, a->ai_addrlen, left, fd, e);
        if (rc == 0) {
            if (peer_addr) hilt_sockaddr_fmt(a->ai_addr, peer_addr, peer_cap);
            break;
        }
    }
    freeaddrinfo(ai);
    return rc;
}

int hilt_tcp_listen(const char *addr, uint16_t port, int backlog, int reuseport, int *fdp,
                    struct hilt_err *e)
{
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    int rc = getaddrinfo(addr, portstr, &hints, &ai);
    if (rc != 0)
        return hilt_err_set(e, HILT_E_USAGE, 0, "listen address '%s' is not an IP address: %s",
                            addr, gai_strerror(rc));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(ai);
        return hilt_err_set(e, HILT_E_RUNTIME, errno, "socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        int err = errno;
        char name[80];
        hilt_sockaddr_fmt(ai->ai_addr, name, sizeof(name));
        close(fd);
        freeaddrinfo(ai);
        return hilt_err_set(e, HILT_E_RUNTIME, err, "cannot listen on %s: %s", name,
                            strerror(err));
    }
    freeaddrinfo(ai);
    *fdp = fd;
    return 0;
}

int hilt_sock_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}
