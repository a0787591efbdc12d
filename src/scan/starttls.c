/* starttls.c - the dialogue tables and their reply matchers. */
#include "scan/starttls.h"

#include <string.h>

/* The last complete line of a possibly multi-line reply (SMTP/FTP style:
 * "250-..." continues, "250 ..." ends). Returns its start or NULL. */
static const uint8_t *final_line(const uint8_t *b, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != '\n') continue;
        size_t len = i + 1 - start;
        if (len >= 4 && b[start + 3] == ' ') return b + start;
        start = i + 1;
    }
    return NULL;
}

static int reply_code(const uint8_t *b, size_t n, const char *code)
{
    const uint8_t *l = final_line(b, n);
    if (!l) return 0;
    return memcmp(l, code, 3) == 0 ? 1 : -1;
}

static int expect_220(const uint8_t *b, size_t n)
{
    return reply_code(b, n, "220");
}

static int expect_250(const uint8_t *b, size_t n)
{
    return reply_code(b, n, "250");
}

static int expect_234(const uint8_t *b, size_t n)
{
    return reply_code(b, n, "234");
}

/* A line that starts with `prefix`. */
static int line_starts(const uint8_t *b, size_t n, const char *ok, const char *bad)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != '\n') continue;
        size_t len = i - start;
        if (len >= strlen(ok) && memcmp(b + start, ok, strlen(ok)) == 0) return 1;
        if (bad && len >= strlen(bad) && memcmp(b + start, bad, strlen(bad)) == 0) return -1;
        start = i + 1;
    }
    return 0;
}

static int expect_imap_greeting(const uint8_t *b, size_t n)
{
    return line_starts(b, n, "* OK", "* BYE");
}

static int expect_imap_ok(const uint8_t *b, size_t n)
{
    int r = line_starts(b, n, "h1 OK", "h1 NO");
    return r ? r : line_starts(b, n, "h1 OK", "h1 BAD");
}

static int expect_pop3_ok(const uint8_t *b, size_t n)
{
    return line_starts(b, n, "+OK", "-ERR");
}

static const uint8_t *find(const uint8_t *b, size_t n, const char *s)
{
    return memmem(b, n, s, strlen(s));
}

static int expect_xmpp_features(const uint8_t *b, size_t n)
{
    if (!find(b, n, "</stream:features>")) return find(b, n, "</stream:stream>") ? -1 : 0;
    return find(b, n, "starttls") ? 1 : -1;
}

static int expect_xmpp_proceed(const uint8_t *b, size_t n)
{
    if (find(b, n, "<proceed")) return 1;
    return find(b, n, "<failure") ? -1 : 0;
}

/* LDAP ExtendedResponse: SEQUENCE { messageID, [APPLICATION 24] { resultCode ENUMERATED ... } } */
static int expect_ldap_ok(const uint8_t *b, size_t n)
{
    if (n < 2) return 0;
    if (b[0] != 0x30) return -1;
    size_t len = b[1], hdr = 2;
    if (b[1] & 0x80) {
        size_t k = b[1] & 0x7f;
        if (k == 0 || k > 2) return -1;
        if (n < 2 + k) return 0;
        len = 0;
        for (size_t i = 0; i < k; i++)
            len = len << 8 | b[2 + i];
        hdr = 2 + k;
    }
    if (n < hdr + len) return 0;
    const uint8_t *op = find(b, hdr + len, "\x78");
    if (!op) return -1;
    const uint8_t *rc = memmem(op, (size_t)(b + hdr + len - op), "\x0a\x01", 2);
    if (!rc || rc + 2 >= b + hdr + len) return -1;
    return rc[2] == 0 ? 1 : -1;
}

/* PostgreSQL answers an SSLRequest with a single 'S' (go ahead) or 'N'. */
static int expect_pg_s(const uint8_t *b, size_t n)
{
    if (n < 1) return 0;
    return b[0] == 'S' ? 1 : -1;
}

static const struct hilt_starttls_step smtp[] = {
    {NULL, 0, expect_220, "the 220 greeting"},
    {(const uint8_t *)"EHLO hilt-scan.invalid\r\n", 0, expect_250, "a 250 reply to EHLO"},
    {(const uint8_t *)"STARTTLS\r\n", 0, expect_220, "a 220 reply to STARTTLS"},
};
static const struct hilt_starttls_step imap[] = {
    {NULL, 0, expect_imap_greeting, "the * OK greeting"},
    {(const uint8_t *)"h1 STARTTLS\r\n", 0, expect_imap_ok, "OK to STARTTLS"},
};
static const struct hilt_starttls_step pop3[] = {
    {NULL, 0, expect_pop3_ok, "the +OK greeting"},
    {(const uint8_t *)"STLS\r\n", 0, expect_pop3_ok, "+OK to STLS"},
};
static const struct hilt_starttls_step ftp[] = {
    {NULL, 0, expect_220, "the 220 greeting"},
    {(const uint8_t *)"AUTH TLS\r\n", 0, expect_234, "a 234 reply to AUTH TLS"},
};
static const struct hilt_starttls_step xmpp[] = {
    {(const uint8_t *)"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                      "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>",
     0, expect_xmpp_features, "stream features offering starttls"},
    {(const uint8_t *)"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", 0, expect_xmpp_proceed,
     "<proceed/>"},
};
/* ExtendedRequest for StartTLS, OID 1.3.6.1.4.1.1466.20037, messageID 1. */
static const uint8_t ldap_req[] = {0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16, '1', '.',
                                   '3',  '.',  '6',  '.',  '1',  '.',  '4',  '.',  '1',  '.', '1',
                                   '4',  '6',  '6',  '.',  '2',  '0',  '0',  '3',  '7'};
static const struct hilt_starttls_step ldap[] = {
    {ldap_req, sizeof(ldap_req), expect_ldap_ok, "a successful StartTLS ExtendedResponse"},
};
/* SSLRequest: length 8, code 80877103. */
static const uint8_t pg_req[] = {0x00, 0x00, 0x00, 0x08, 0x04, 0xd2, 0x16, 0x2f};
static const struct hilt_starttls_step postgres[] = {
    {pg_req, sizeof(pg_req), expect_pg_s, "'S' to the SSLRequest (the server has ssl = off?)"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))
static const struct hilt_starttls protocols[] = {
    {"smtp", 25, smtp, N(smtp)},
    {"imap", 143, imap, N(imap)},
    {"pop3", 110, pop3, N(pop3)},
    {"ftp", 21, ftp, N(ftp)},
    {"xmpp", 5222, xmpp, N(xmpp)},
    {"ldap", 389, ldap, N(ldap)},
    {"postgres", 5432, postgres, N(postgres)},
};

const struct hilt_starttls *hilt_starttls_find(const char *name)
{
    for (size_t i = 0; i < N(protocols); i++)
        if (!strcmp(protocols[i].name, name)) return &protocols[i];
    if (!strcmp(name, "postgresql") || !strcmp(name, "pgsql"))
        return hilt_starttls_find("postgres");
    return NULL;
}

const char *hilt_starttls_names(void)
{
    return "smtp, imap, pop3, ftp, xmpp, ldap, postgres";
}
