/* summary.h - what a certificate says, in hilt's stable JSON shape.
 *
 * hilt_cert_summary() is the one description of a certificate used by the
 * probe's `chain`, the scan, the inventory and the CA's --json output:
 *   {subject, issuer, serial, not_before, not_after, sans, key, signature,
 *    sha256, is_ca, self_issued, key_usage, ext_key_usage, ocsp_urls,
 *    ca_issuers_urls, crl_urls, must_staple}
 * It reads only; the X509 stays the caller's. Accessors below serve the
 * diagnosis code so it never walks extensions itself.
 */
#ifndef HILT_X509_SUMMARY_H
#define HILT_X509_SUMMARY_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

json_t *hilt_cert_summary(X509 *x);

/* One-line RFC 2253 form: "CN=example.com,O=Example". */
void hilt_name_fmt(const X509_NAME *n, char *out, size_t cap);
/* The subject's CN, or the whole subject when there is no CN. */
void hilt_cert_label(X509 *x, char *out, size_t cap);
void hilt_serial_hex(X509 *x, char *out, size_t cap); /* lowercase, no colons */
void hilt_sha256_hex(X509 *x, char out[65]);
time_t hilt_asn1_time(const ASN1_TIME *t);
time_t hilt_cert_not_before(X509 *x);
time_t hilt_cert_not_after(X509 *x);
int hilt_cert_self_issued(X509 *x); /* subject == issuer and self-signature verifies */
int hilt_cert_must_staple(X509 *x);
/* Up to `max` URLs from AIA (nid NID_ad_OCSP / NID_ad_ca_issuers) or CRL DPs.
 * Strings are copied into out[i] (cap bytes each). Returns the count. */
int hilt_cert_aia_urls(X509 *x, int method_nid, char out[][512], int max);
int hilt_cert_crl_urls(X509 *x, char out[][512], int max);
/* The digest name of the signature ("sha256", "sha1", "md5", or "" for EdDSA). */
void hilt_cert_sig_digest(X509 *x, char *out, size_t cap);

#endif
