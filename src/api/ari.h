/* ari.h - ACME Renewal Information (RFC 9773): certificate identifiers,
 * suggested renewal windows, and the operator's pulled-forward windows.
 *
 * The default window of a certificate valid [nb, na) of lifetime L is
 * [nb + 2L/3, nb + 5L/6]: renewal in the last third of the lifetime, with
 * the final sixth kept as a margin for retries. A revoked certificate gets a
 * window entirely in the past (renew now). An operator override (`hilt acme
 * ari pull-forward`) applies to the certificates of its selection (all,
 * one serial, or those with a name matching a pattern) issued before the
 * override was made (the inventory's rows up to then), so the replacements
 * are not pulled forward again:
 *   --by D    moves the window D earlier;
 *   --to T    makes the window end by T (starting no later than when the
 *             override was made); a T already past gives a window in the
 *             past.
 * Several overrides: the earliest resulting window wins. See docs/acme.md.
 *
 * Ownership: plain values; nothing is allocated for the caller.
 */
#ifndef HILT_API_ARI_H
#define HILT_API_ARI_H

#include "store/store.h"
#include "store/store_acme.h"

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

struct hilt_err;

/* certID = base64url(AKI keyIdentifier) "." base64url(serial DER content
 * octets), no padding (RFC 9773 §4.1). Parsing fills the key identifier
 * bytes and the serial as lowercase hex (hilt's store form). */
#define HILT_ARI_CERTID_MAX 256
int hilt_ari_certid_parse(const char *certid, unsigned char kid[64], size_t *kid_len,
                          char serial[80], struct hilt_err *e);
/* The certID of a certificate (it needs an authorityKeyIdentifier). */
int hilt_ari_certid_of(X509 *cert, char *out, size_t cap, struct hilt_err *e);

struct hilt_ari_window {
    int64_t start, end;
    int64_t override_id;        /* the override that set it, 0 = the default */
    char explanation_url[1024]; /* "" = none */
};

void hilt_ari_default_window(int64_t not_before, int64_t not_after, int64_t *start, int64_t *end);
/* Does the override select this certificate? (serial, names as in the
 * store: lowercase hex, comma-separated; cert_id: its inventory row id) */
int hilt_ari_override_selects(const struct hilt_acme_ari_override *o, const char *serial,
                              const char *names, int64_t cert_id);
/* The window of a certificate: default, revocation, then every active
 * override that selects it. */
int hilt_ari_window(struct hilt_store *st, const struct hilt_cert_rec *rec,
                    struct hilt_ari_window *w, struct hilt_err *e);

/* Record a pull-forward (audited as acme.ari.pull-forward). kind "all"
 * (match ""), "serial" (match = serial, any form hilt_hex_normalise takes)
 * or "names" (match = a pattern: '*' matches within a label, a leading
 * "*." any subdomain). shift > 0 or until > 0 (at least one). */
int hilt_ari_pull_forward(struct hilt_store *st, struct hilt_acme_ari_override *o,
                          struct hilt_err *e);

#endif
