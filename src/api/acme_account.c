/* acme_account.c - ACME accounts (RFC 8555 §7.3): creation and lookup by
 * key (newAccount, onlyReturnExisting), reading and updating (contact,
 * deactivation), the account's orders list, and key rollover (keyChange,
 * the nested JWS of §7.3.5). Account changes are audited under
 * "acme:ACCOUNT-ID". */
#include "api/acme_int.h"

#include "core/clock.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *account_obj(const struct acme_rq *rq, const struct hilt_acme_account *acct)
{
    char orders[1200];
    acme_url(rq, orders, sizeof(orders), "acct/%s/orders", acct->id);
    json_t *contact = json_loads(acct->contact ? acct->contact : "[]", 0, NULL);
    if (!json_is_array(contact)) {
        json_decref(contact);
        contact = json_array();
    }
    json_t *o = json_pack("{s:s, s:o, s:s, s:o}", "status", acct->status, "contact", contact,
                          "orders", orders, "createdAt", acme_time(acct->created));
    if (acct->tos_agreed) json_object_set_new(o, "termsOfServiceAgreed", json_true());
    return o;
}

static void reply_account(struct acme_rq *rq, int status, const struct hilt_acme_account *acct)
{
    char loc[1200];
    acme_account_url(rq, acct->id, loc, sizeof(loc));
    hilt_reply_header(rq->resp, "Location", "%s", loc);
    acme_reply_json(rq, status, account_obj(rq, acct));
}

/* contact: an array of at most ACME_MAX_CONTACTS "mailto:" URLs, each a
 * single address without header fields (§7.3). Returns the compact JSON
 * text (malloc'd) or NULL with the problem sent. */
static char *check_contact(struct acme_rq *rq, const json_t *c)
{
    if (!json_is_array(c)) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "contact must be an array of URLs");
        return NULL;
    }
    if (json_array_size(c) > ACME_MAX_CONTACTS) {
        acme_problem(rq, 400, ACME_ERR("invalidContact"), NULL, "at most %d contacts",
                     ACME_MAX_CONTACTS);
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(c, i, v)
    {
        const char *s = json_string_value(v);
        if (!s) {
            acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "contact %zu is not a string", i);
            return NULL;
        }
        if (strncmp(s, "mailto:", 7)) {
            acme_problem(rq, 400, ACME_ERR("unsupportedContact"), NULL,
                         "contact '%.200s': only mailto: URLs are supported", s);
            return NULL;
        }
        const char *addr = s + 7, *at = strchr(addr, '@');
        size_t n = strlen(s);
        int ok = n <= 320 && at && at > addr && at[1] && !strchr(at + 1, '@');
        for (const char *p = addr; ok && *p; p++)
            ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f && !strchr(",?<>\"\\", *p);
        if (!ok) {
            acme_problem(rq, 400, ACME_ERR("invalidContact"), NULL,
                         "contact '%.200s' is not a single mailto: address", s);
            return NULL;
        }
    }
    return json_dumps(c, JSON_COMPACT);
}

void acme_new_account(struct acme_rq *rq)
{
    struct hilt_err e = {0};
    struct hilt_acme_account acct;
    memset(&acct, 0, sizeof(acct));
    char *contact = NULL, *jwk = NULL;
    if (!rq->payload) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "newAccount needs a JSON payload");
        return;
    }
    json_t *norm = hilt_pkey_to_jwk(rq->key);
    char tp[64];
    if (!norm || hilt_jwk_thumbprint(norm, tp, &e) < 0 ||
        !(jwk = json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS))) {
        json_decref(norm);
        acme_problem(rq, 400, ACME_ERR("badPublicKey"), NULL, "%s",
                     e.msg[0] ? e.msg : "unusable key");
        return;
    }
    json_decref(norm);
    int found = hilt_store_acme_account_by_key(rq->api->st, tp, &acct, &e);
    if (found < 0) goto fault;
    if (found) {
        /* §7.3.1: the existing account, 200 and its URL */
        if (strcmp(acct.status, "valid"))
            acme_problem(rq, 403, ACME_ERR("unauthorized"), NULL, "the account of this key is %s",
                         acct.status);
        else
            reply_account(rq, 200, &acct);
        goto out;
    }
    if (json_is_true(json_object_get(rq->payload, "onlyReturnExisting"))) {
        acme_problem(rq, 400, ACME_ERR("accountDoesNotExist"), NULL,
                     "no account for this key (onlyReturnExisting)");
        goto out;
    }
    json_t *c = json_object_get(rq->payload, "contact");
    if (c && !(contact = check_contact(rq, c))) goto out;
    json_t *tos = json_object_get(rq->payload, "termsOfServiceAgreed");
    if (tos && !json_is_boolean(tos)) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "termsOfServiceAgreed is not a boolean");
        goto out;
    }
    const char *terms = getenv("HILT_ACME_TERMS_URL");
    if (terms && *terms && !json_is_true(tos)) {
        acme_problem(rq, 403, ACME_ERR("userActionRequired"), json_pack("{s:s}", "instance", terms),
                     "agree to the terms of service (termsOfServiceAgreed: true)");
        goto out;
    }
    if (acme_random_id(acct.id, sizeof(acct.id), 16) < 0) {
        hilt_err_set(&e, HILT_E_RUNTIME, 0, "no random bytes");
        goto fault;
    }
    snprintf(acct.thumbprint, sizeof(acct.thumbprint), "%s", tp);
    snprintf(acct.status, sizeof(acct.status), "valid");
    acct.jwk = jwk;
    acct.contact = contact ? contact : strdup("[]");
    contact = jwk = NULL;
    acct.tos_agreed = json_is_true(tos);
    acct.created = acct.updated = hilt_now();
    char actor[80], obj[160];
    snprintf(actor, sizeof(actor), "acme:%s", acct.id);
    snprintf(obj, sizeof(obj), "account=%s key=%s", acct.id, tp);
    struct hilt_audit_ev ev = {actor, "acme.account.new", obj, "ok"};
    int rc = hilt_store_acme_account_add(rq->api->st, &acct, &ev, &e);
    if (rc < 0) goto fault;
    if (rc == 1) { /* another request made it first */
        hilt_acme_account_free(&acct);
        found = hilt_store_acme_account_by_key(rq->api->st, tp, &acct, &e);
        if (found <= 0) goto fault;
        reply_account(rq, 200, &acct);
        goto out;
    }
    acme_count(rq->a, "hilt_acme_accounts_total{result=\"%s\"}", "created");
    reply_account(rq, 201, &acct);
    goto out;
fault:
    acme_problem(rq, 500, ACME_ERR("serverInternal"), NULL, "%s", e.msg);
out:
    hilt_acme_account_free(&acct);
    free(contact);
    free(jwk);
}

/* The URL's account must be the signer's (a kid cannot act for another). */
static int own_account(struct acme_rq *rq, const char *id)
{
    if (!strcmp(id, rq->acct.id)) return 0;
    acme_problem(rq, 403, ACME_ERR("unauthorized"), NULL,
                 "the request is signed by account %s, not %s", rq->acct.id, id);
    return -1;
}

void acme_account(struct acme_rq *rq, const char *id)
{
    struct hilt_err e = {0};
    if (own_account(rq, id) < 0) return;
    if (!rq->payload) return reply_account(rq, 200, &rq->acct);
    json_t *st = json_object_get(rq->payload, "status"),
           *c = json_object_get(rq->payload, "contact");
    const char *status = NULL;
    char *contact = NULL;
    if (st) {
        if (!json_is_string(st) || strcmp(json_string_value(st), "deactivated")) {
            acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                         "an account's status can only become \"deactivated\"");
            return;
        }
        status = "deactivated";
    }
    if (c && !(contact = check_contact(rq, c))) return;
    if (status || contact) {
        char actor[80], obj[80];
        snprintf(actor, sizeof(actor), "acme:%s", rq->acct.id);
        snprintf(obj, sizeof(obj), "account=%s", rq->acct.id);
        struct hilt_audit_ev ev = {
            actor, status ? "acme.account.deactivate" : "acme.account.update", obj, "ok"};
        int rc = hilt_store_acme_account_update(rq->api->st, rq->acct.id, contact, status, &ev, &e);
        if (rc < 0) {
            free(contact);
            acme_problem(rq, 500, ACME_ERR("serverInternal"), NULL, "%s", e.msg);
            return;
        }
        if (contact) {
            free(rq->acct.contact);
            rq->acct.contact = contact;
            contact = NULL;
        }
        if (status) snprintf(rq->acct.status, sizeof(rq->acct.status), "%s", status);
    }
    free(contact);
    reply_account(rq, 200, &rq->acct);
}

struct orders_list {
    const struct acme_rq *rq;
    json_t *arr;
};

static int orders_cb(const struct hilt_acme_order *o, void *arg)
{
    struct orders_list *l = arg;
    /* §7.1.2.1: pending and current orders, not invalid ones */
    if (!strcmp(o->status, "invalid")) return 0;
    char u[1200];
    acme_url(l->rq, u, sizeof(u), "order/%s", o->id);
    json_array_append_new(l->arr, json_string(u));
    return 0;
}

void acme_account_orders(struct acme_rq *rq, const char *id)
{
    struct hilt_err e = {0};
    if (own_account(rq, id) < 0) return;
    struct orders_list l = {rq, json_array()};
    if (acme_defer_sync(rq->a, NULL, NULL, &e) < 0 ||
        hilt_store_acme_order_list(rq->api->st, rq->acct.id, 1000, orders_cb, &l, &e) < 0) {
        json_decref(l.arr);
        acme_problem(rq, 500, ACME_ERR("serverInternal"), NULL, "%s", e.msg);
        return;
    }
    acme_reply_json(rq, 200, json_pack("{s:o}", "orders", l.arr));
}

/* §7.3.5: the payload is a JWS signed by the new key over {account,
 * oldKey}, with the same url and no nonce. */
void acme_key_change(struct acme_rq *rq)
{
    struct hilt_err e = {0};
    struct hilt_jws inner;
    memset(&inner, 0, sizeof(inner));
    EVP_PKEY *nk = NULL;
    json_t *ip = NULL, *norm = NULL;
    char *jwk = NULL;
    if (!rq->payload) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "keyChange needs a JWS as its payload");
        return;
    }
    if (hilt_jws_parse_inner(rq->jws.payload, rq->jws.payload_len, &inner, &e) < 0) {
        hilt_err_prefix(&e, "inner JWS");
        acme_problem_err(rq, &e);
        goto out;
    }
    if (strcmp(inner.url, rq->jws.url)) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                     "the inner JWS url '%.300s' differs from the outer one", inner.url);
        goto out;
    }
    if (!(nk = hilt_jwk_to_pkey(inner.jwk, &e))) {
        if (!e.code) e.code = HILT_ACME_BAD_PUBLIC_KEY;
        hilt_err_prefix(&e, "new key");
        acme_problem_err(rq, &e);
        goto out;
    }
    if (hilt_jws_verify(&inner, nk, &e) < 0) {
        hilt_err_prefix(&e, "inner JWS (signed by the new key)");
        acme_problem_err(rq, &e);
        goto out;
    }
    ip = inner.post_as_get ? NULL
                           : json_loadb((const char *)inner.payload, inner.payload_len,
                                        JSON_REJECT_DUPLICATES, NULL);
    const char *account = json_string_value(json_object_get(ip, "account"));
    json_t *old = json_object_get(ip, "oldKey");
    if (!json_is_object(ip) || !account || !json_is_object(old)) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                     "the inner payload must be {\"account\": URL, \"oldKey\": JWK}");
        goto out;
    }
    if (strcmp(account, rq->jws.kid)) {
        acme_problem(rq, 403, ACME_ERR("unauthorized"), NULL,
                     "the inner payload names account '%.300s', the request is signed by '%.300s'",
                     account, rq->jws.kid);
        goto out;
    }
    char old_tp[64], new_tp[64];
    if (hilt_jwk_thumbprint(old, old_tp, &e) < 0 || strcmp(old_tp, rq->acct.thumbprint)) {
        acme_problem(rq, 403, ACME_ERR("unauthorized"), NULL,
                     "oldKey is not the account's current key");
        goto out;
    }
    norm = hilt_pkey_to_jwk(nk);
    if (!norm || hilt_jwk_thumbprint(norm, new_tp, &e) < 0 ||
        !(jwk = json_dumps(norm, JSON_COMPACT | JSON_SORT_KEYS))) {
        acme_problem(rq, 400, ACME_ERR("badPublicKey"), NULL, "the new key is unusable");
        goto out;
    }
    if (!strcmp(new_tp, old_tp)) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "the new key is the current key");
        goto out;
    }
    struct hilt_acme_account other;
    int held = hilt_store_acme_account_by_key(rq->api->st, new_tp, &other, &e);
    if (held < 0) goto fault;
    if (held) {
        char loc[1200];
        acme_account_url(rq, other.id, loc, sizeof(loc));
        hilt_acme_account_free(&other);
        hilt_reply_header(rq->resp, "Location", "%s", loc);
        acme_problem(rq, 409, ACME_ERR("malformed"), NULL,
                     "the new key already belongs to another account");
        goto out;
    }
    char actor[80], obj[200];
    snprintf(actor, sizeof(actor), "acme:%s", rq->acct.id);
    snprintf(obj, sizeof(obj), "account=%s old=%s new=%s", rq->acct.id, old_tp, new_tp);
    struct hilt_audit_ev ev = {actor, "acme.account.key-change", obj, "ok"};
    int rc = hilt_store_acme_account_rekey(rq->api->st, rq->acct.id, old_tp, new_tp, jwk, &ev, &e);
    if (rc == 2) {
        acme_problem(rq, 409, ACME_ERR("malformed"), NULL,
                     "the new key already belongs to another account");
        goto out;
    }
    if (rc < 0) goto fault;
    if (rc == 0) {
        acme_problem(rq, 409, ACME_ERR("malformed"), NULL,
                     "the account's key changed meanwhile; retry");
        goto out;
    }
    snprintf(rq->acct.thumbprint, sizeof(rq->acct.thumbprint), "%s", new_tp);
    reply_account(rq, 200, &rq->acct);
    goto out;
fault:
    acme_problem(rq, 500, ACME_ERR("serverInternal"), NULL, "%s", e.msg);
out:
    hilt_jws_free(&inner);
    EVP_PKEY_free(nk);
    json_decref(ip);
    json_decref(norm);
    free(jwk);
}
