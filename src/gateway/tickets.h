/* tickets.h - session-ticket keys (RFC 5077 §4, RFC 8446 §4.6.1): one ring per
 * process that every server SSL_CTX of every generation encrypts and decrypts
 * tickets with, so a reload never breaks resumption.
 *
 * Three sources fill the ring:
 *   local  a random key made in-process every `tickets.rotate`; `keep`
 *          previous keys still decrypt (default)
 *   file   `tickets.keys_file`: 80-byte keys (name 16, HMAC 32, AES 32; the
 *          first encrypts, as nginx's ssl_session_ticket_key), shared by
 *          whoever distributes the file
 *   store  `tickets.store`: keys shared by every gateway on one store
 *          (schema 5, store/store_gateway.h). A key per rotation period is
 *          made by whichever node gets there first (insert-if-absent, no
 *          lease), the next period's key ahead of time so that a node whose
 *          clock runs ahead encrypts with a key the others already hold. The
 *          key halves are sealed with AES-256-GCM under `tickets.store_key`
 *          (a 32-byte file only the gateways hold) before they reach the
 *          store; the associated data binds the ring, period and key name, so
 *          a row cannot be moved to another ring or period. Each node polls,
 *          unseals and installs the keys still valid: the current period's
 *          encrypts, all decrypt until their not_after.
 * Key material is never logged; /status shows key names (public: every
 * ticket carries its key's name in clear) and times only.
 *
 * Threads: ticket_cb (OpenSSL, on the workers) reads the ring under a read
 * lock; the main thread or the trust-plane thread replaces it under the
 * write lock.
 *
 * Ownership: gw_tickets_new() returns the process's ring (also installed as
 * the one ticket_cb uses), freed with gw_tickets_free(), which wipes it.
 */
#ifndef HILT_GATEWAY_TICKETS_H
#define HILT_GATEWAY_TICKETS_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct hilt_err;
struct hilt_store;

#define GW_TICKET_KEYS_MAX 8 /* next + current + up to 6 kept */
#define GW_TICKET_KEEP_MAX 6

struct gw_tkey {
    uint8_t name[16], hmac[32], aes[32];
    int64_t period;    /* store keys: start of the rotation interval; else 0 */
    int64_t not_after; /* store keys: last second it decrypts; else 0 (no limit) */
};

enum gw_tsource { GW_TSRC_LOCAL = 0, GW_TSRC_FILE, GW_TSRC_STORE };

struct gw_tickets;

struct gw_tickets *gw_tickets_new(struct hilt_err *e);
void gw_tickets_free(struct gw_tickets **t);
/* local: make a fresh current key; the `keep` previous ones still decrypt. */
int gw_tickets_rotate(struct gw_tickets *t, int keep);
/* file: replace the ring with the keys in a file of 80-byte records. */
int gw_tickets_load(struct gw_tickets *t, const char *path, struct hilt_err *e);
/* Replace the ring: keys[0..n) newest first, keys[enc] encrypts. */
void gw_tickets_set(struct gw_tickets *t, const struct gw_tkey *keys, int n, int enc,
                    enum gw_tsource src);
/* Drop store keys whose not_after has passed (between polls). */
void gw_tickets_expire(struct gw_tickets *t, int64_t now);
time_t gw_tickets_rotated(struct gw_tickets *t);
/* Make ctx encrypt and decrypt tickets with the process's ring. */
void gw_ctx_install_tickets(SSL_CTX *ctx);

struct gw_tickets_info {
    enum gw_tsource source;
    int nkeys;
    char current[17]; /* first 8 bytes of the encrypting key's name, hex ("" when none) */
    int64_t current_period, current_not_after;
    time_t rotated;
};
void gw_tickets_info(struct gw_tickets *t, struct gw_tickets_info *out);
const char *gw_tsource_name(enum gw_tsource s);

/* ---- sealing keys for the store ---------------------------------------------------- */

struct gw_wrap {
    uint8_t key[32];
    char id[17]; /* 16 hex digits of SHA-256("hilt ticket wrap id" || key): names it safely */
};
/* A wrapping key file: 32 raw bytes, or 64 hex digits (and a newline). Must
 * not be readable by group or others. */
int gw_wrap_load(const char *path, struct gw_wrap *w, struct hilt_err *e);
void gw_wrap_clear(struct gw_wrap *w);

#define GW_SEALED_LEN (12 + 64 + 16) /* nonce, HMAC and AES halves, GCM tag */
int gw_tkey_seal(const struct gw_wrap *w, const char *ring, const struct gw_tkey *k,
                 uint8_t out[GW_SEALED_LEN], struct hilt_err *e);
/* Fills k (name from name_hex, halves from the sealed bytes, period); -1 when
 * the bytes were not sealed by w for this ring, period and name. */
int gw_tkey_unseal(const struct gw_wrap *w, const char *ring, int64_t period, const char *name_hex,
                   const uint8_t *in, size_t inlen, struct gw_tkey *k, struct hilt_err *e);

/* One poll of the store (store source): make this period's and the next
 * period's keys when missing, read the ring's valid keys, unseal, install.
 * Runs on the trust-plane thread (or at start); blocking. */
struct gw_tsync {
    struct hilt_store *st;
    const char *ring;
    const struct gw_wrap *wrap;
    int rotate_s, keep;
    const char *actor; /* audit actor, "gateway:HOST" */
    /* results of the last call */
    int made;    /* keys this node inserted */
    int foreign; /* rows sealed under another wrapping key (skipped) */
    int64_t pruned;
    int64_t last_prune;
};
int gw_tickets_sync(struct gw_tickets *t, struct gw_tsync *s, int64_t now, struct hilt_err *e);

#endif
