/* starttls.h - STARTTLS dialogues as data: what to send and what reply to wait
 * for before the TLS handshake, for smtp (RFC 3207), imap (RFC 2595), pop3
 * (RFC 2595), ftp (RFC 4217), xmpp (RFC 6120), ldap (RFC 4511 §4.14) and
 * postgres (the SSLRequest message). Each dialogue is a table of steps walked
 * by one small driver (src/scan/job.c). Nothing here does I/O.
 */
#ifndef HILT_SCAN_STARTTLS_H
#define HILT_SCAN_STARTTLS_H

#include <stddef.h>
#include <stdint.h>

/* Returns 1 when buf holds the awaited reply, 0 when more is needed, -1 when
 * the peer refused (buf, n: everything read since the step's send). */
typedef int (*hilt_starttls_expect_fn)(const uint8_t *buf, size_t n);

struct hilt_starttls_step {
    const uint8_t *send; /* NULL: send nothing; the text may contain "%s" for the host */
    size_t send_len;     /* 0: strlen(send) */
    hilt_starttls_expect_fn expect;
    const char *what; /* for errors: "the 220 greeting" */
};

struct hilt_starttls {
    const char *name;
    uint16_t default_port;
    const struct hilt_starttls_step *steps;
    size_t nsteps;
};

const struct hilt_starttls *hilt_starttls_find(const char *name);
/* "smtp, imap, pop3, ftp, xmpp, ldap, postgres" */
const char *hilt_starttls_names(void);

#endif
