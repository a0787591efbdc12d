/* store_gateway.h - hilt gateway's state in the store (schema 5): the
 * session-ticket keys that the gateways sharing one store (`tickets.store`)
 * encrypt and decrypt tickets with.
 *
 * The table is secret material: each row holds a ticket key's HMAC and AES
 * halves sealed with AES-256-GCM under a wrapping key that only the gateways
 * hold (`tickets.store_key`), so the store, its backups and its replicas never
 * see a usable ticket key; the key *name* (sent in clear in every ticket) and
 * the times are plain. Sealing is the gateway's business (gateway/tickets.c);
 * this module stores and returns opaque bytes.
 *
 * Rotation needs no lease: a key is made per (ring, period), where period is
 * the start of a rotation interval, by an insert that does nothing when the
 * row exists; every node then reads the same rows.
 *
 * Ownership: records are plain structs with fixed-size fields, filled by
 * the store; nothing to free.
 */
#ifndef HILT_STORE_STORE_GATEWAY_H
#define HILT_STORE_STORE_GATEWAY_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* Migration 5 (store.c's migrations[] runs it). */
extern const char *const hilt_store_m5_sqlite[];
extern const char *const hilt_store_m5_pg[];

#define HILT_GW_RING_MAX 64
#define HILT_GW_SEALED_MAX 128

struct hilt_gw_tkey_rec {
    int64_t period;    /* start of the rotation interval (Unix seconds) */
    int64_t rotate;    /* the interval, seconds, of the node that made it */
    char name[33];     /* the key name, 16 bytes as hex (public: every ticket carries it) */
    int64_t created;   /* when it was made */
    int64_t not_after; /* no ticket is decrypted with it after this */
    char wrap_id[17];  /* which wrapping key sealed it (hex prefix of its SHA-256) */
    uint8_t sealed[HILT_GW_SEALED_MAX];
    size_t sealed_len;
};

/* Insert the key of (ring, r->period) unless one exists. Returns 1 when this
 * call made it (and appended ev to the audit chain in the same transaction
 * when ev is given), 0 when another node got there first, -1 on error. */
int hilt_store_gw_tkey_add(struct hilt_store *s, const char *ring, const struct hilt_gw_tkey_rec *r,
                           const struct hilt_audit_ev *ev, struct hilt_err *e);
typedef int (*hilt_gw_tkey_cb)(const struct hilt_gw_tkey_rec *r, void *arg);
/* The keys of ring still valid at now (not_after > now), newest period
 * first, at most max. A callback returning non-zero stops the walk. */
int hilt_store_gw_tkey_list(struct hilt_store *s, const char *ring, int64_t now, int max,
                            hilt_gw_tkey_cb cb, void *arg, struct hilt_err *e);
/* Delete the keys of every ring that expired before `before`. */
int hilt_store_gw_tkey_prune(struct hilt_store *s, int64_t before, int64_t *deleted,
                             struct hilt_err *e);

#endif
