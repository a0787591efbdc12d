/* submit.h - the request/approval workflow of `hilt serve` beyond
 * hilt_api_submit() (api/api.h): decisions, issuance of approved requests,
 * revocation. Each step checks the caller's grants (api/auth.h), enforces
 * separation of duties, and is audited under the caller's principal id.
 *
 * Errors carry the HTTP status the REST API answers with in e->code:
 * 400 bad input, 403 not allowed, 404 unknown, 409 wrong state; anything
 * else is a fault (500).
 */
#ifndef HILT_API_SUBMIT_H
#define HILT_API_SUBMIT_H

#include "api/api.h"
#include "store/store_api.h"

struct hilt_auth;
struct hilt_issued;

/* Default lifetime of a request that names none: the max-lifetime of the
 * pre-approved scope that covers it, else 90 days. */
#define HILT_API_DEFAULT_LIFETIME (90 * 86400LL)

/* Approve (approve=1) or reject a pending request. The caller must hold
 * approver (or admin) over the request's environment and every name, and
 * must not be its requester. An approval issues at once unless the server
 * separates issuance (api->issue_on_approve == 0): then it waits in
 * "approved" for an issuer. Returns 0 decided (and issued when it was to
 * be), 1 approved but issuing failed (e says why; the request stays
 * "approved" and /issue retries), -1 refused or failed (e->code). `out`
 * gets the request after the step (caller frees); `issued` the
 * certificate when one was issued (caller frees). */
int hilt_api_decide(struct hilt_api *api, const struct hilt_auth *who, const char *rid, int approve,
                    const char *reason, struct hilt_api_request_rec *out,
                    struct hilt_issued *issued, struct hilt_err *e);

/* Issue an approved request: the caller holds issuer (or admin) over it and
 * is not its requester. */
int hilt_api_issue(struct hilt_api *api, const struct hilt_auth *who, const char *rid,
                   struct hilt_api_request_rec *out, struct hilt_issued *issued,
                   struct hilt_err *e);

/* Revoke a certificate hilt issued: admin or approver over its environment
 * and names, or the principal that requested it. 0 revoked now, 1 it
 * already was. */
int hilt_api_revoke(struct hilt_api *api, const struct hilt_auth *who, const char *serial,
                    int reason, struct hilt_err *e);

#endif
