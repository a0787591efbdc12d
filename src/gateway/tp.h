/* tp.h - the gateway's link to the trust plane: listener certificates issued
 * by hilt's own CA (`certificates: [{issue: {...}}]`), renewed before they
 * expire and hot-swapped, and session-ticket keys shared through the store
 * (`tickets.store`).
 *
 * Certificates. gw_tp_prepare() makes sure every issue: entry of a config
 * has a certificate before a generation is built from it: the one cached
 * under $HILT_HOME/gateway/LISTENER-ID/ (cert.pem, key.pem 0600) when it is
 * still ours, unexpired and covers the names, else one issued now through the
 * CA. The CA's key never enters this process: issuance signs through the
 * signer child (ca/signer.h, hilt_ca_use_signer_process), started before any
 * listener socket exists. Each certificate is recorded in the inventory
 * (owner/service/env from the config, pipeline "gateway:LISTENER", location
 * kind "gateway"), and the certificate it replaces is marked superseded.
 * A thread (gw_tp_start) renews each certificate at its renewal point
 * (notAfter - renew_before, default a third of the lifetime, i.e. at 2/3,
 * minus a jitter from its SHA-256, as `hilt renew` does), backing off after a
 * failure, and tells the main thread through notify_fd, which rebuilds the
 * running configuration with the new certificate (a new generation: the
 * connections in flight keep theirs).
 *
 * Tickets. With `tickets.store`, the thread polls the store every
 * `tickets.poll` (gateway/tickets.h: gw_tickets_sync); the first poll happens
 * in gw_tp_new() so the first handshake already uses the shared keys.
 *
 * Threads: every store and CA operation runs under the tp's mutex, from the
 * tp thread or (at start and on reload) the main thread.
 *
 * Ownership: gw_tp_new() returns a tp freed with gw_tp_free() (which stops
 * the thread, the signer children and closes the stores). gw_tp_cert() hands
 * out new references the caller frees.
 */
#ifndef HILT_GATEWAY_TP_H
#define HILT_GATEWAY_TP_H

#include "gateway/config.h"

#include <jansson.h>
#include <openssl/x509.h>
#include <stdint.h>

struct hilt_err;
struct hilt_buf;
struct gw_tickets;
struct gw_tp;

struct gw_tp_opts {
    const char *self_exe; /* re-exec'd as the signer child; NULL: fork only (tests) */
};

/* Open what cfg needs: the store and CAs for issue: entries, the ticket
 * store and its wrapping key (first sync included). Nothing is opened for a
 * config that needs neither; the tp is still valid. */
struct gw_tp *gw_tp_new(const struct gw_config *cfg, const struct gw_tp_opts *o,
                        struct gw_tickets *t, struct hilt_err *e);
/* Before building a generation from cfg: a certificate for every issue:
 * entry (cached or issued now); settings that need a restart unchanged. */
int gw_tp_prepare(struct gw_tp *tp, const struct gw_config *cfg, struct hilt_err *e);
/* The current certificate of an issue: entry: chain (leaf first) and key,
 * new references. 0 ok, -1 none yet (e says why). */
int gw_tp_cert(struct gw_tp *tp, const char *listener, const struct gw_issuecfg *is,
               STACK_OF(X509) * *chain, EVP_PKEY **key, struct hilt_err *e);
/* Forget the certificates of entries cfg no longer has (after a reload). */
void gw_tp_retain(struct gw_tp *tp, const struct gw_config *cfg);
/* Start the renewal / ticket thread; it writes 1 to notify_fd (an eventfd)
 * when a renewed certificate waits to be swapped in. */
int gw_tp_start(struct gw_tp *tp, int notify_fd, struct hilt_err *e);
void gw_tp_free(struct gw_tp **tp);

/* Does the main thread owe a rebuild (a renewed certificate not yet in the
 * serving generation)? gw_tp_take() reads and clears it before a build
 * (which takes the newest certificates); gw_tp_owe() sets it again when that
 * build failed. */
int gw_tp_pending(struct gw_tp *tp);
int gw_tp_take(struct gw_tp *tp);
void gw_tp_owe(struct gw_tp *tp);

/* /status: {"store", "certificates": [...], "tickets": {...}} */
json_t *gw_tp_status(struct gw_tp *tp);
/* Prometheus series of the trust-plane link (docs/telemetry.md). */
int gw_tp_metrics(struct gw_tp *tp, struct hilt_buf *out);

/* The renewal point (exposed for the unit test): notAfter - renew_before
 * (renew_before 0: a third of the lifetime), minus a jitter from the
 * certificate's SHA-256 of up to a tenth of renew_before, and at most half of
 * (lifetime - renew_before). */
int64_t gw_tp_renew_at(int64_t not_after, int64_t lifetime, int64_t renew_before,
                       const char *sha256);
/* Wait after the n-th failed attempt: min(base · 2^(n-1), cap) ± 10 %, with
 * base min(60 s, lifetime / 20) and cap min(6 h, lifetime / 4). */
int64_t gw_tp_backoff(int attempts, int64_t lifetime, const char *id);

#endif
