/* test_core.c - buffers, cursors, clock and formats, host:port, URLs, HTTP parsing, files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/http.h"
#include "core/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void buf_respects_max(void **st)
{
    (void)st;
    struct hilt_buf b;
    hilt_buf_init(&b, 8);
    assert_int_equal(hilt_buf_add(&b, "12345", 5), 0);
    assert_int_equal(hilt_buf_add(&b, "678", 3), 0);
    assert_int_equal(hilt_buf_add(&b, "9", 1), -1); /* would pass max */
    assert_int_equal(b.len, 8);
    assert_string_equal(hilt_buf_cstr(&b), "12345678");
    assert_int_equal(hilt_buf_addf(&b, "%d", 1), -1);
    hilt_buf_reset(&b);
    assert_int_equal(hilt_buf_addf(&b, "%s-%d", "ab", 42), 0);
    assert_string_equal(hilt_buf_cstr(&b), "ab-42");
    hilt_buf_free(&b);
    assert_null(b.data);
}

static void buf_wire_ints(void **st)
{
    (void)st;
    struct hilt_buf b;
    hilt_buf_init(&b, 64);
    hilt_buf_add_u8(&b, 0x16);
    hilt_buf_add_u16(&b, 0x0303);
    hilt_buf_add_u24(&b, 0x010203);
    const uint8_t want[] = {0x16, 0x03, 0x03, 0x01, 0x02, 0x03};
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, want, 6);
    hilt_buf_free(&b);
}

static void rd_bounds(void **st)
{
    (void)st;
    const uint8_t data[] = {0x00, 0x03, 'a', 'b', 'c', 0x05, 'x'};
    struct hilt_rd r, sub;
    hilt_rd_init(&r, data, sizeof(data));
    assert_int_equal(hilt_rd_vec(&r, 2, &sub), 0);
    assert_int_equal(hilt_rd_left(&sub), 3);
    /* A vector claiming 5 bytes with only 1 left must fail without moving. */
    assert_int_equal(hilt_rd_vec(&r, 1, &sub), -1);
    uint32_t v;
    assert_int_equal(hilt_rd_u24(&r, &v), -1);
    uint8_t b;
    assert_int_equal(hilt_rd_u8(&r, &b), 0);
    assert_int_equal(b, 0x05);
    assert_int_equal(hilt_rd_skip(&r, 2), -1);
    assert_int_equal(hilt_rd_bytes(&r, 1, NULL), 0);
    assert_int_equal(hilt_rd_left(&r), 0);
    assert_int_equal(hilt_rd_vec(&r, 4, &sub), -1); /* bad prefix size */
}

static void time_formats(void **st)
{
    (void)st;
    time_t t;
    assert_int_equal(hilt_time_parse_rfc3339("2026-11-21T10:00:00Z", &t), 0);
    assert_int_equal(t, 1795255200);
    char buf[40];
    hilt_time_fmt_rfc3339(t, buf);
    assert_string_equal(buf, "2026-11-21T10:00:00Z");
    assert_int_equal(hilt_time_parse_rfc3339("2026-11-21T12:00:00+02:00", &t), 0);
    assert_int_equal(t, 1795255200);
    assert_int_equal(hilt_time_parse_rfc3339("2026-11-21T10:00:00.123Z", &t), 0);
    assert_int_equal(hilt_time_parse_rfc3339("2026-13-01T00:00:00Z", &t), -1);
    assert_int_equal(hilt_time_parse_rfc3339("yesterday", &t), -1);
    assert_int_equal(hilt_time_parse_rfc3339("2026-11-21T10:00:00", &t), -1);
    hilt_time_fmt_http(1795255200, buf);
    assert_string_equal(buf, "Sat, 21 Nov 2026 10:00:00 GMT");
    assert_int_equal(hilt_time_parse_http(buf, &t), 0);
    assert_int_equal(t, 1795255200);
    assert_int_equal(hilt_time_parse_http("Saturday, 21-Nov-26 10:00:00 GMT", &t), 0);
    assert_int_equal(t, 1795255200);
    assert_int_equal(hilt_time_parse_http("Sat Nov 21 10:00:00 2026", &t), 0);
    assert_int_equal(hilt_time_parse_http("not a date", &t), -1);
}

static void durations(void **st)
{
    (void)st;
    int64_t s;
    assert_int_equal(hilt_duration_parse("90d", &s), 0);
    assert_int_equal(s, 90 * 86400);
    assert_int_equal(hilt_duration_parse("1h30m", &s), 0);
    assert_int_equal(s, 5400);
    assert_int_equal(hilt_duration_parse("45", &s), 0);
    assert_int_equal(s, 45);
    assert_int_equal(hilt_duration_parse("12x", &s), -1);
    assert_int_equal(hilt_duration_parse("", &s), -1);
    assert_int_equal(hilt_duration_parse("99999999999999999999d", &s), -1);
    char buf[32];
    hilt_duration_fmt(3 * 86400 + 4 * 3600, buf);
    assert_string_equal(buf, "3d 4h");
    hilt_duration_fmt(-7260, buf);
    assert_string_equal(buf, "-2h 1m");
}

static time_t fake_clock(void *arg)
{
    return *(time_t *)arg;
}

static void injectable_clock(void **st)
{
    (void)st;
    time_t when = 1000;
    hilt_clock_set(fake_clock, &when);
    assert_int_equal(hilt_now(), 1000);
    when = 2000;
    assert_int_equal(hilt_now(), 2000);
    hilt_clock_set(NULL, NULL);
    assert_true(hilt_now() > 1700000000);
    setenv("HILT_FAKE_NOW", "2030-01-01T00:00:00Z", 1);
    struct hilt_err e = {0};
    assert_int_equal(hilt_clock_init_env(&e), 0);
    assert_true(hilt_now() >= 1893456000 && hilt_now() < 1893456000 + 5);
    setenv("HILT_FAKE_NOW", "soon", 1);
    assert_int_equal(hilt_clock_init_env(&e), -1);
    assert_int_equal(hilt_err_exit_code(&e), 2);
    assert_non_null(strstr(e.msg, "HILT_FAKE_NOW"));
    unsetenv("HILT_FAKE_NOW");
    hilt_clock_set(NULL, NULL);
}

static void hostport(void **st)
{
    (void)st;
    struct hilt_hostport hp;
    struct hilt_err e = {0};
    assert_int_equal(hilt_hostport_parse("example.com", 443, &hp, &e), 0);
    assert_string_equal(hp.host, "example.com");
    assert_int_equal(hp.port, 443);
    assert_false(hp.is_ip);
    assert_int_equal(hilt_hostport_parse("127.0.0.1:8443", 443, &hp, &e), 0);
    assert_int_equal(hp.port, 8443);
    assert_true(hp.is_ip);
    assert_int_equal(hilt_hostport_parse("[::1]:9000", 443, &hp, &e), 0);
    assert_string_equal(hp.host, "::1");
    assert_int_equal(hp.port, 9000);
    assert_int_equal(hilt_hostport_parse("::1", 443, &hp, &e), 0);
    assert_int_equal(hp.port, 443);
    char buf[300];
    hilt_hostport_fmt(&hp, buf, sizeof(buf));
    assert_string_equal(buf, "[::1]:443");
    assert_int_equal(hilt_hostport_parse("host:70000", 443, &hp, &e), -1);
    assert_int_equal(hilt_err_exit_code(&e), 2);
    assert_non_null(strstr(e.msg, "70000"));
    assert_int_equal(hilt_hostport_parse("host:0", 443, &hp, &e), -1);
    assert_int_equal(hilt_hostport_parse("host:", 443, &hp, &e), -1);
    assert_int_equal(hilt_hostport_parse("ho st", 443, &hp, &e), -1);
    assert_int_equal(hilt_hostport_parse(":443", 443, &hp, &e), -1);
    assert_int_equal(hilt_hostport_parse("[::1", 443, &hp, &e), -1);
}

static void urls(void **st)
{
    (void)st;
    struct hilt_url u;
    struct hilt_err e = {0};
    assert_int_equal(hilt_url_parse("http://127.0.0.1:8080/ca/int.der", &u, &e), 0);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 8080);
    assert_string_equal(u.path, "/ca/int.der");
    assert_int_equal(hilt_url_parse("HTTP://ocsp.example", &u, &e), 0);
    assert_int_equal(u.port, 80);
    assert_string_equal(u.path, "/");
    assert_int_equal(hilt_url_parse("https://[::1]/x?y=1#frag", &u, &e), 0);
    assert_int_equal(u.port, 443);
    assert_string_equal(u.path, "/x?y=1");
    assert_int_equal(hilt_url_parse("ftp://x/", &u, &e), -1);
    assert_int_equal(hilt_url_parse("nourl", &u, &e), -1);
    assert_int_equal(hilt_url_parse("http://user@host/", &u, &e), -1);
    assert_int_equal(hilt_url_parse("http://host/a b", &u, &e), -1);
}

static void http_parse(void **st)
{
    (void)st;
    struct hilt_http_resp r;
    struct hilt_err e = {0};
    hilt_http_resp_init(&r, 1024);
    const char *ok = "HTTP/1.1 200 OK\r\nDate: Sat, 21 Nov 2026 10:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello";
    assert_int_equal(hilt_http_parse((const uint8_t *)ok, strlen(ok) - 2, 0, 0, &r, &e), 0);
    assert_int_equal(hilt_http_parse((const uint8_t *)ok, strlen(ok) - 2, 1, 0, &r, &e), -1);
    assert_int_equal(hilt_http_parse((const uint8_t *)ok, strlen(ok), 0, 0, &r, &e), 1);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 5);
    char date[64];
    assert_int_equal(hilt_http_header(&r, "date", date, sizeof(date)), 0);
    assert_string_equal(date, "Sat, 21 Nov 2026 10:00:00 GMT");
    assert_int_equal(hilt_http_header(&r, "Server", date, sizeof(date)), -1);

    const char *chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    assert_int_equal(hilt_http_parse((const uint8_t *)chunked, strlen(chunked), 0, 0, &r, &e), 1);
    assert_string_equal(hilt_buf_cstr(&r.body), "abcde");

    const char *huge = "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n";
    assert_int_equal(hilt_http_parse((const uint8_t *)huge, strlen(huge), 0, 0, &r, &e), -1);
    assert_non_null(strstr(e.msg, "limit"));

    const char *head = "HTTP/1.0 404 Not Found\r\nContent-Length: 100\r\n\r\n";
    assert_int_equal(hilt_http_parse((const uint8_t *)head, strlen(head), 0, 1, &r, &e), 1);
    assert_int_equal(r.status, 404);

    const char *junk = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
    assert_int_equal(hilt_http_parse((const uint8_t *)junk, strlen(junk), 0, 0, &r, &e), -1);
    const char *badcl = "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n";
    assert_int_equal(hilt_http_parse((const uint8_t *)badcl, strlen(badcl), 0, 0, &r, &e), -1);
    const char *badchunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    assert_int_equal(hilt_http_parse((const uint8_t *)badchunk, strlen(badchunk), 0, 0, &r, &e), -1);
    hilt_http_resp_free(&r);
}

static void atomic_write_and_bounded_read(void **st)
{
    (void)st;
    char dir[] = "/tmp/hilt-unit.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512], sub[256];
    snprintf(sub, sizeof(sub), "%s/a/b/c", dir);
    struct hilt_err e = {0};
    assert_int_equal(hilt_mkdir_p(sub, 0700, &e), 0);
    snprintf(path, sizeof(path), "%s/key.pem", sub);
    mode_t old = umask(0);
    assert_int_equal(hilt_file_write_atomic(path, "secret", 6, 0600, &e), 0);
    umask(old);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(hilt_file_write_atomic(path, "newer!", 6, 0600, &e), 0);
    struct hilt_buf b;
    hilt_buf_init(&b, 6);
    assert_int_equal(hilt_file_read(path, &b, &e), 0);
    assert_string_equal(hilt_buf_cstr(&b), "newer!");
    hilt_buf_free(&b);
    hilt_buf_init(&b, 5);
    assert_int_equal(hilt_file_read(path, &b, &e), -1);
    assert_non_null(strstr(e.msg, "limit"));
    hilt_buf_free(&b);
    hilt_buf_init(&b, 100);
    assert_int_equal(hilt_file_read(sub, &b, &e), -1); /* a directory */
    assert_int_equal(hilt_file_read("/nonexistent/x", &b, &e), -1);
    assert_int_equal(hilt_err_exit_code(&e), 2);
    hilt_buf_free(&b);
    /* Writing into a missing directory fails cleanly and leaves nothing. */
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/missing/x.pem", dir);
    assert_int_equal(hilt_file_write_atomic(bad, "x", 1, 0600, &e), -1);
    unlink(path);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void err_idiom(void **st)
{
    (void)st;
    struct hilt_err e = {0};
    assert_int_equal(hilt_err_set(&e, HILT_E_INPUT, 7, "bad %s", "thing"), -1);
    hilt_err_prefix(&e, "file.yaml:%d", 3);
    assert_string_equal(e.msg, "file.yaml:3: bad thing");
    assert_int_equal(hilt_err_exit_code(&e), 2);
    hilt_err_set(&e, HILT_E_RUNTIME, 0, "x");
    assert_int_equal(hilt_err_exit_code(&e), 3);
    assert_int_equal(hilt_err_set(NULL, HILT_E_RUNTIME, 0, "ignored"), -1);
    hilt_err_clear(&e);
    assert_int_equal(hilt_err_exit_code(&e), 0);
}

static void connect_refused_is_classified(void **st)
{
    (void)st;
    int lfd;
    struct hilt_err e = {0};
    assert_int_equal(hilt_tcp_listen("127.0.0.1", 0, 1, 0, &lfd, &e), 0);
    int port = hilt_sock_port(lfd);
    close(lfd); /* now nothing listens there */
    int fd;
    assert_int_equal(hilt_tcp_connect("127.0.0.1", (uint16_t)port, 1000, &fd, NULL, 0, &e), -1);
    assert_int_equal(e.kind, HILT_E_NET);
    assert_int_equal(e.code, HILT_NET_REFUSED);
    assert_int_equal(hilt_tcp_connect("no-such-host.invalid", 443, 1000, &fd, NULL, 0, &e), -1);
    assert_int_equal(e.code, HILT_NET_DNS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_respects_max),
        cmocka_unit_test(buf_wire_ints),
        cmocka_unit_test(rd_bounds),
        cmocka_unit_test(time_formats),
        cmocka_unit_test(durations),
        cmocka_unit_test(injectable_clock),
        cmocka_unit_test(hostport),
        cmocka_unit_test(urls),
        cmocka_unit_test(http_parse),
        cmocka_unit_test(atomic_write_and_bounded_read),
        cmocka_unit_test(err_idiom),
        cmocka_unit_test(connect_refused_is_classified),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
