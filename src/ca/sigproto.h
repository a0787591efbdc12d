/* sigproto.h - the wire format between a network-facing hilt process and
 * its signer child (ca/signer_proc.c): length-prefixed frames over a
 * socketpair, every field bounded, parsed through struct hilt_rd.
 *
 *   frame    = length (u32, big-endian, 1..HILT_SIGPROTO_FRAME_MAX) body
 *   request  = version (u8 = 1) op (u8) payload
 *     HELLO  op 1, no payload
 *     SIGN   op 2, md (u8: 1 sha256, 2 sha384, 3 sha512) count (u16, 1..BATCH_MAX)
 *            count x digest (exactly the md's size each)
 *   response = status (u8: 0 ok, 1 error) payload
 *     ok HELLO  spki_len (u16) SubjectPublicKeyInfo DER, desc_len (u8) "ec-p256"
 *     ok SIGN   count (u16) count x (sig_len (u16, 1..HILT_SIG_MAX) signature)
 *     error     msg_len (u16) message (no key material, ever)
 * Signatures are what EVP_PKEY_sign produces for a digest: DER ECDSA-Sig-Value,
 * or an RSA PKCS#1 v1.5 signature over DigestInfo.
 *
 * Nothing here allocates; parsed digests and signatures point into the
 * caller's frame buffer.
 */
#ifndef HILT_CA_SIGPROTO_H
#define HILT_CA_SIGPROTO_H

#include <stddef.h>
#include <stdint.h>

struct hilt_err;
struct hilt_buf;

#define HILT_SIGPROTO_VERSION 1
#define HILT_SIGPROTO_BATCH_MAX 128
#define HILT_SIG_MAX 528 /* an RSA-4096 signature is 512 bytes; ECDSA P-521 <= 139 */
#define HILT_DIGEST_MAX 64
#define HILT_SPKI_MAX 2048
/* The largest frame: a full batch of RSA-4096 signatures. */
#define HILT_SIGPROTO_FRAME_MAX (8 + HILT_SIGPROTO_BATCH_MAX * (2 + HILT_SIG_MAX))

enum hilt_sigproto_op { HILT_SIGOP_HELLO = 1, HILT_SIGOP_SIGN = 2 };
enum hilt_sigproto_md { HILT_SIGMD_SHA256 = 1, HILT_SIGMD_SHA384 = 2, HILT_SIGMD_SHA512 = 3 };

struct hilt_sigproto_req {
    enum hilt_sigproto_op op;
    enum hilt_sigproto_md md;
    size_t count;
    size_t dlen;
    const uint8_t *digests; /* count * dlen bytes, borrowed from the frame */
};

/* Digest size of a protocol md, or 0 for an unknown one. */
size_t hilt_sigproto_md_size(int md);
/* The protocol md for an OpenSSL digest NID, or 0. */
int hilt_sigproto_md_from_nid(int nid);
/* The OpenSSL digest name of a protocol md ("SHA256"…), or NULL. */
const char *hilt_sigproto_md_name(int md);

/* Parse one request body (without the length prefix). Input errors name
 * what is wrong; nothing is trusted beyond the body's length. */
int hilt_sigproto_req_parse(const uint8_t *body, size_t len, struct hilt_sigproto_req *out,
                            struct hilt_err *e);

/* Encode a request / an ok or error response body (with its length prefix)
 * into out (reset first). */
int hilt_sigproto_req_encode(struct hilt_buf *out, enum hilt_sigproto_op op, int md,
                             const uint8_t *digests, size_t count, size_t dlen);
int hilt_sigproto_err_encode(struct hilt_buf *out, const char *msg);

/* Parse a SIGN response body: count signatures, each copied into
 * sigs[i * HILT_SIG_MAX] with its length in lens[i]. An error response
 * becomes an error whose message is the child's. */
int hilt_sigproto_sign_resp_parse(const uint8_t *body, size_t len, size_t count, uint8_t *sigs,
                                  size_t *lens, struct hilt_err *e);
/* Parse a HELLO response: the SPKI DER and the key description. */
int hilt_sigproto_hello_resp_parse(const uint8_t *body, size_t len, const uint8_t **spki,
                                   size_t *spki_len, char *desc, size_t desc_cap,
                                   struct hilt_err *e);

#endif
