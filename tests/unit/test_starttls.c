/* test_starttls.c - the STARTTLS dialogue tables: each protocol's reply matchers
 * accept the servers' go-ahead (as in the RFCs' examples), ask for more on a
 * partial reply, and refuse a refusal. PostgreSQL is also tested live
 * (tests/integration/scan.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "scan/starttls.h"

#include <string.h>

static int run(const struct hilt_starttls_step *s, const char *reply)
{
    return s->expect((const uint8_t *)reply, strlen(reply));
}

static void smtp(void **st)
{
    (void)st;
    const struct hilt_starttls *p = hilt_starttls_find("smtp");
    assert_non_null(p);
    assert_int_equal(p->default_port, 25);
    assert_int_equal(p->nsteps, 3);
    assert_int_equal(run(&p->steps[0], "220 mail.example ESMTP Postfix\r\n"), 1);
    assert_int_equal(run(&p->steps[0], "220-mail.example ESMTP\r\n"), 0); /* continues */
    assert_int_equal(run(&p->steps[0], "554 no service\r\n"), -1);
    assert_int_equal(run(&p->steps[1], "250-mail.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n"), 1);
    assert_int_equal(run(&p->steps[1], "250-mail.example\r\n250-PIPEL"), 0);
    assert_int_equal(run(&p->steps[2], "220 2.0.0 Ready to start TLS\r\n"), 1);
    assert_int_equal(run(&p->steps[2], "454 4.7.0 TLS not available\r\n"), -1);
    assert_non_null(strstr((const char *)p->steps[1].send, "EHLO"));
}

static void imap_pop3_ftp(void **st)
{
    (void)st;
    const struct hilt_starttls *p = hilt_starttls_find("imap");
    assert_int_equal(run(&p->steps[0], "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"), 1);
    assert_int_equal(run(&p->steps[0], "* BYE go away\r\n"), -1);
    assert_int_equal(run(&p->steps[1], "h1 OK Begin TLS negotiation now\r\n"), 1);
    assert_int_equal(run(&p->steps[1], "h1 BAD unknown command\r\n"), -1);
    assert_int_equal(run(&p->steps[1], "h1 NO not now\r\n"), -1);
    p = hilt_starttls_find("pop3");
    assert_int_equal(run(&p->steps[0], "+OK POP3 ready\r\n"), 1);
    assert_int_equal(run(&p->steps[1], "-ERR not supported\r\n"), -1);
    assert_non_null(strstr((const char *)p->steps[1].send, "STLS"));
    p = hilt_starttls_find("ftp");
    assert_int_equal(run(&p->steps[0], "220-Welcome\r\n220 FTP ready\r\n"), 1);
    assert_int_equal(run(&p->steps[1], "234 AUTH TLS successful\r\n"), 1);
    assert_int_equal(run(&p->steps[1], "502 not implemented\r\n"), -1);
}

static void xmpp_ldap_postgres(void **st)
{
    (void)st;
    const struct hilt_starttls *p = hilt_starttls_find("xmpp");
    assert_non_null(strstr((const char *)p->steps[0].send, "to='%s'"));
    assert_int_equal(run(&p->steps[0], "<stream:stream><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                                       "</stream:features>"),
                     1);
    assert_int_equal(run(&p->steps[0], "<stream:stream><stream:features><mechanisms/></stream:features>"), -1);
    assert_int_equal(run(&p->steps[0], "<stream:stream><stream:feat"), 0);
    assert_int_equal(run(&p->steps[1], "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), 1);
    assert_int_equal(run(&p->steps[1], "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), -1);

    p = hilt_starttls_find("ldap");
    /* ExtendedResponse, messageID 1, resultCode success (RFC 4511 §4.12) */
    const uint8_t ok[] = {0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00};
    const uint8_t refused[] = {0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x02, 0x04, 0x00, 0x04, 0x00};
    assert_int_equal(p->steps[0].expect(ok, sizeof(ok)), 1);
    assert_int_equal(p->steps[0].expect(ok, 5), 0); /* partial */
    assert_int_equal(p->steps[0].expect(refused, sizeof(refused)), -1);
    assert_int_equal(p->steps[0].expect((const uint8_t *)"HTTP", 4), -1);
    assert_int_equal(p->steps[0].send_len, 31);

    p = hilt_starttls_find("postgres");
    assert_ptr_equal(p, hilt_starttls_find("postgresql"));
    assert_int_equal(p->steps[0].expect((const uint8_t *)"S", 1), 1);
    assert_int_equal(p->steps[0].expect((const uint8_t *)"N", 1), -1);
    assert_int_equal(p->steps[0].expect((const uint8_t *)"", 0), 0);
    assert_null(hilt_starttls_find("gopher"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(smtp),
        cmocka_unit_test(imap_pop3_ftp),
        cmocka_unit_test(xmpp_ldap_postgres),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
