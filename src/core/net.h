/* net.h - addresses, resolution, non-blocking connects with deadlines, listeners.
 *
 * Failures are reported through struct hilt_err with kind HILT_E_NET and a
 * `code` from enum hilt_net_status, so callers (the probe, the gateway) can
 * map them onto the finding catalogue without parsing messages.
 */
#ifndef HILT_CORE_NET_H
#define HILT_CORE_NET_H

#include <netdb.h>
#include <stdint.h>
#include <sys/socket.h>

struct hilt_err;

enum hilt_net_status {
    HILT_NET_OK = 0,
    HILT_NET_DNS,       /* name does not resolve */
    HILT_NET_REFUSED,   /* RST to our SYN */
    HILT_NET_TIMEOUT,   /* no answer before the deadline */
    HILT_NET_UNREACH,   /* no route / network unreachable */
    HILT_NET_RESET,     /* connection reset after it was established */
    HILT_NET_CLOSED,    /* orderly close (EOF) where data was expected */
    HILT_NET_OTHER,
};

#define HILT_HOST_MAX 256

struct hilt_hostport {
    char host[HILT_HOST_MAX]; /* without brackets for IPv6 */
    uint16_t port;
    int is_ip; /* host is a literal IPv4/IPv6 address */
};

/* Parse HOST, HOST:PORT, [V6], [V6]:PORT. A bare IPv6 literal without brackets
 * is accepted and takes the default port. Port must be 1..65535. */
int hilt_hostport_parse(const char *s, uint16_t default_port, struct hilt_hostport *out,
                        struct hilt_err *e);
/* Format as host:port with brackets for IPv6. */
void hilt_hostport_fmt(const struct hilt_hostport *hp, char *out, size_t cap);
int hilt_is_ip_literal(const char *host);

/* Resolve host:port (TCP). The caller frees *out with freeaddrinfo(). */
int hilt_resolve(const char *host, uint16_t port, struct addrinfo **out, struct hilt_err *e);
/* Non-blocking connect to one address within timeout_ms. On success *fd is a
 * connected, non-blocking, close-on-exec socket with TCP_NODELAY. */
int hilt_tcp_connect_addr(const struct sockaddr *sa, socklen_t len, int timeout_ms, int *fd,
                          struct hilt_err *e);
/* Resolve and try each address in turn within one overall deadline. */
int hilt_tcp_connect(const char *host, uint16_t port, int timeout_ms, int *fd, char *peer_addr,
                     size_t peer_cap, struct hilt_err *e);
/* Wait until fd is ready for `events` (POLLIN/POLLOUT) or the deadline
 * (absolute, hilt_mono_us) passes. Returns 1 ready, 0 timeout, -1 error. */
int hilt_fd_wait(int fd, short events, uint64_t deadline_us);
/* Listen on ADDR:PORT (IPv4 or [IPv6]); port 0 picks a free one. */
int hilt_tcp_listen(const char *addr, uint16_t port, int backlog, int reuseport, int *fd,
                    struct hilt_err *e);
/* The local port a socket is bound to. */
int hilt_sock_port(int fd);
/* "127.0.0.1:443" or "[::1]:443" for an address. */
void hilt_sockaddr_fmt(const struct sockaddr *sa, char *out, size_t cap);
int hilt_set_nonblock(int fd, int on);

/* Name of a status for messages and JSON. */
const char *hilt_net_status_name(enum hilt_net_status st);

#endif
