/* ari.c - ACME Renewal Information (RFC 9773, api/ari.h): the certID, the
 * suggested window with the operator's overrides, the renewalInfo
 * resource, and newOrder's "replaces" (§5). */
#include "api/ari.h"

#include "api/acme_int.h"
#include "ca/ca.h"
#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"

#include <fnmatch.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- certID (§4.1) ------------------------------------------------------------------------- */

int hilt_ari_certid_parse(const char *certid, unsigned char kid[64], size_t *kid_len,
                          char serial[80], struct hilt_err *e)
{
    size_t n = strlen(certid);
    const char *dot = strchr(certid, '.');
    if (n > HILT_ARI_CERTID_MAX || !dot || dot == certid || !dot[1] || strchr(dot + 1, '.'))
        return hilt_err_set(e, HILT_E_INPUT, HILT_ACME_MALFORMED,
                            "'%.80s' is not a certID (base64url(keyIdentifier).base64url(serial))",
                            certid);
    unsigned char *k = NULL, *s = NULL;
    size_t kl = 0, sl = 0;
    int rc = -1;
    if (hilt_b64url_decode(certid, (size_t)(dot - certid), &k, &kl) < 0 || kl == 0 || kl > 64) {
        hilt_err_set(e, HILT_E_INPUT, HILT_ACME_MALFORMED,
                     "certID: the key identifier is not base64url (without padding) of 1-64 bytes");
        goto out;
    }
    if (hilt_b64url_decode(dot + 1, strlen(dot + 1), &s, &sl) < 0 || sl == 0 || sl > 20 ||
        (s[0] & 0x80) || (sl > 1 && s[0] == 0 && !(s[1] & 0x80))) {
        hilt_err_set(e, HILT_E_INPUT, HILT_ACME_MALFORMED,
                     "certID: the serial is not base64url of a positive DER INTEGER of at most "
                     "20 octets");
        goto out;
    }
    /* the store's form: lowercase hex without a DER sign octet */
    size_t off = sl > 1 && s[0] == 0 ? 1 : 0;
    for (size_t i = off; i < sl; i++)
        snprintf(serial + 2 * (i - off), 3, "%02x", s[i]);
    memcpy(kid, k, kl);
    *kid_len = kl;
    rc = 0;
out:
    free(k);
    free(s);
    return rc;
}

int hilt_ari_certid_of(X509 *cert, char *out, size_t cap, struct hilt_err *e)
{
    const ASN1_OCTET_STRING *kid = X509_get0_authority_key_id(cert);
    if (!kid)
        return hilt_err_set(e, HILT_E_INPUT, 0, "the certificate has no authorityKeyIdentifier");
    const ASN1_INTEGER *sn = X509_get0_serialNumber(cert);
    unsigned char *der = NULL;
    int dl = i2d_ASN1_INTEGER(sn, &der);
    /* DER INTEGER: tag, length (short form for <= 20 octets), content */
    if (dl < 3 || der[1] & 0x80) {
        OPENSSL_free(der);
        return hilt_err_set(e, HILT_E_INPUT, 0, "the serial number cannot be encoded");
    }
    char *k = hilt_b64url_encode(ASN1_STRING_get0_data(kid), (size_t)ASN1_STRING_length(kid));
    char *s = hilt_b64url_encode(der + 2, (size_t)der[1]);
    OPENSSL_free(der);
    int n = k && s ? snprintf(out, cap, "%s.%s", k, s) : -1;
    free(k);
    free(s);
    if (n < 0 || (size_t)n >= cap) return hilt_err_set(e, HILT_E_RUNTIME, 0, "certID too long");
    return 0;
}

/* ---- windows ------------------------------------------------------------------------------------
 */

void hilt_ari_default_window(int64_t nb, int64_t na, int64_t *start, int64_t *end)
{
    int64_t l = na > nb ? na - nb : 0;
    *start = nb + l * 2 / 3;
    *end = nb + l * 5 / 6;
    if (*end <= *start) *end = *start + 1;
}

/* A name pattern: fnmatch with '*' not crossing dots, except that a leading
 * "*." also covers deeper names ("*.example.com" matches a.b.example.com). */
static int name_matches(const char *pat, const char *name)
{
    if (!fnmatch(pat, name, FNM_CASEFOLD | FNM_PERIOD)) return 1;
    if (pat[0] == '*' && pat[1] == '.') {
        size_t pl = strlen(pat + 1), nl = strlen(name);
        return nl > pl && !strcasecmp(name + nl - pl, pat + 1);
    }
    return 0;
}

int hilt_ari_override_selects(const struct hilt_acme_ari_override *o, const char *serial,
                              const char *names, int64_t cert_id)
{
    /* replacements issued after the override are not pulled forward again:
     * it covers the certificates recorded when it was made (by inventory
     * row id, exact where times have a one-second grain) */
    if (o->cancelled || cert_id <= 0 || cert_id > o->cert_id_max) return 0;
    if (!strcmp(o->kind, "all")) return 1;
    if (!strcmp(o->kind, "serial")) return o->match && !strcmp(o->match, serial);
    if (!strcmp(o->kind, "names") && o->match && names) {
        const char *p = names;
        while (*p) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            char one[256];
            if (n < sizeof(one)) {
                memcpy(one, p, n);
                one[n] = '\0';
                if (name_matches(o->match, one)) return 1;
            }
            p += n + (c ? 1 : 0);
        }
    }
    return 0;
}

struct win_walk {
    const struct hilt_cert_rec *rec;
    int64_t cert_id;
    int64_t d_start, d_end; /* before overrides */
    struct hilt_ari_window *w;
};

static int win_cb(const struct hilt_acme_ari_override *o, void *arg)
{
    struct win_walk *ww = arg;
    if (!hilt_ari_override_selects(o, ww->rec->serial, ww->rec->names, ww->cert_id)) return 0;
    int64_t s = ww->d_start, en = ww->d_end;
    if (o->shift > 0) {
        s -= o->shift;
        en -= o->shift;
    }
    if (o->until > 0 && o->until < en) {
        en = o->until;
        if (s > o->created) s = o->created;
        if (s >= en) s = en - 3600; /* "renew by a time already past": a window in the past */
    }
    if (en < ww->w->end) {
        ww->w->start = s;
        ww->w->end = en;
        ww->w->override_id = o->id;
        snprintf(ww->w->explanation_url, sizeof(ww->w->explanation_url), "%s",
                 o->explanation_url ? o->explanation_url : "");
    }
    return 0;
}

int hilt_ari_window(struct hilt_store *st, const struct hilt_cert_rec *rec,
                    struct hilt_ari_window *w, struct hilt_err *e)
{
    memset(w, 0, sizeof(*w));
    hilt_ari_default_window(rec->not_before, rec->not_after, &w->start, &w->end);
    if (rec->revoked_at) {
        /* §4.2: a window in the past, so a client renews at once */
        w->start = rec->revoked_at - 7200;
        w->end = rec->revoked_at - 3600;
        return 0;
    }
    struct win_walk ww = {rec, 0, w->start, w->end, w};
    if (hilt_store_acme_cert_id(st, rec->serial, &ww.cert_id, e) < 0) return -1;
    if (hilt_store_acme_ari_list(st, 1, win_cb, &ww, e) < 0) return -1;
    if (w->end <= w->start) w->start = w->end - 60; /* §4.2: end after start, always */
    return 0;
}

int hilt_ari_pull_forward(struct hilt_store *st, struct hilt_acme_ari_override *o,
                          struct hilt_err *e)
{
    char norm[80];
    if (strcmp(o->kind, "all") && strcmp(o->kind, "serial") && strcmp(o->kind, "names"))
        return hilt_err_set(e, HILT_E_USAGE, 0, "pull-forward selects all, a serial or names");
    if (o->shift <= 0 && o->until <= 0)
        return hilt_err_set(e, HILT_E_USAGE, 0, "pull-forward needs --by DURATION or --to TIME");
    if (!strcmp(o->kind, "serial")) {
        if (!o->match || hilt_hex_normalise(o->match, norm, sizeof(norm)) < 0)
            return hilt_err_set(e, HILT_E_USAGE, 0, "--serial '%s' is not a serial (hex digits)",
                                o->match ? o->match : "");
        o->match = norm;
    }
    if (!strcmp(o->kind, "names") &&
        (!o->match || !*o->match || strlen(o->match) > 253 || strchr(o->match, ',')))
        return hilt_err_set(e, HILT_E_USAGE, 0,
                            "--names needs one name pattern (e.g. '*.example.com')");
    if (!o->reason || !*o->reason)
        return hilt_err_set(e, HILT_E_USAGE, 0, "--reason TEXT is required (it is audited)");
    if (!o->created) o->created = hilt_now();
    char obj[400], res[700];
    snprintf(obj, sizeof(obj), "ari %s%s%s", o->kind, o->match && *o->match ? "=" : "",
             o->match ? o->match : "");
    snprintf(res, sizeof(res), "ok by=%llds to=%lld reason=%.500s", (long long)o->shift,
             (long long)o->until, o->reason);
    struct hilt_audit_ev ev = {o->actor, "acme.ari.pull-forward", obj, res};
    char *keep = o->match;
    int rc = hilt_store_acme_ari_add(st, o, &ev, e);
    if (keep == norm) o->match = NULL; /* do not hand back a pointer to our stack */
    return rc;
}

/* ---- the renewalInfo resource (§4.2) ------------------------------------------------------------
 */

static int load_cert_of_certid(struct acme_rq *rq, const char *certid, struct hilt_cert_rec *rec,
                               int *status)
{
    struct hilt_err e = {0};
    unsigned char kid[64];
    size_t kl = 0;
    char serial[80];
    *status = 400;
    if (hilt_ari_certid_parse(certid, kid, &kl, serial, &e) < 0) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL, "%s", e.msg);
        return -1;
    }
    char *k = hilt_b64url_encode(kid, kl);
    int ours = k && rq->a->issuer_kid[0] && !strcmp(k, rq->a->issuer_kid);
    free(k);
    *status = 404;
    if (!ours) {
        acme_problem(rq, 404, ACME_ERR("malformed"), NULL,
                     "certID %.200s: not a certificate of this CA (key identifier)", certid);
        return -1;
    }
    int found = hilt_store_cert_get(rq->api->st, serial, rec, NULL, &e);
    if (found < 0) {
        *status = 500;
        acme_problem(rq, 500, ACME_ERR("serverInternal"), NULL, "%s", e.msg);
        return -1;
    }
    if (!found || strcmp(rec->source, "issued")) {
        if (found) hilt_cert_rec_free(rec);
        acme_problem(rq, 404, ACME_ERR("malformed"), NULL,
                     "certID %.200s: no certificate with serial %s", certid, serial);
        return -1;
    }
    return 0;
}

void acme_renewal_info(struct acme_rq *rq, const char *certid)
{
    struct hilt_err e = {0};
    struct hilt_cert_rec rec;
    int status;
    if (load_cert_of_certid(rq, certid, &rec, &status) < 0) return;
    struct hilt_ari_window w;
    int rc = hilt_ari_window(rq->api->st, &rec, &w, &e);
    hilt_cert_rec_free(&rec);
    if (rc < 0) {
        acme_problem(rq, 500, ACME_ERR("serverInternal"), NULL, "%s", e.msg);
        return;
    }
    json_t *o = json_pack("{s:{s:o, s:o}}", "suggestedWindow", "start", acme_time(w.start), "end",
                          acme_time(w.end));
    if (w.explanation_url[0])
        json_object_set_new(o, "explanationURL", json_string(w.explanation_url));
    hilt_reply_header(rq->resp, "Retry-After", "%lld", (long long)rq->a->ari_retry_after);
    acme_count(rq->a, "hilt_acme_renewal_info_total{result=\"%s\"}",
               w.override_id ? "pulled_forward" : "default");
    acme_reply_json(rq, 200, o);
}

/* ---- replaces (§5)
 * ------------------------------------------------------------------------------------ */

int acme_ari_replaces(struct acme_rq *rq, const char *certid, const json_t *identifiers,
                      char serial[64])
{
    struct hilt_err e = {0};
    struct hilt_cert_rec rec;
    int status;
    if (load_cert_of_certid(rq, certid, &rec, &status) < 0) return -1;
    snprintf(serial, 64, "%s", rec.serial);
    int rc = -1;
    int mine = rec.owner && !strncmp(rec.owner, "acme:", 5) && !strcmp(rec.owner + 5, rq->acct.id);
    if (!mine) {
        acme_problem(rq, 403, ACME_ERR("unauthorized"), NULL,
                     "replaces: certificate %s was not ordered by this account", rec.serial);
        goto out;
    }
    /* at least one identifier in common */
    int shared = 0;
    size_t i;
    json_t *v;
    json_array_foreach(identifiers, i, v)
    {
        const char *val = json_string_value(json_object_get(v, "value"));
        const char *p = rec.names;
        size_t vl = val ? strlen(val) : 0;
        while (val && p && *p && !shared) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            if (n == vl && !strncmp(p, val, n)) shared = 1;
            p = c ? c + 1 : NULL;
        }
    }
    if (!shared) {
        acme_problem(rq, 400, ACME_ERR("malformed"), NULL,
                     "replaces: certificate %s shares no identifier with this order", rec.serial);
        goto out;
    }
    char by[HILT_ACME_ID_MAX];
    int taken = hilt_store_acme_replaced_by(rq->api->st, rec.serial, by, &e);
    if (taken < 0) {
        acme_problem(rq, 500, ACME_ERR("serverInternal"), NULL, "%s", e.msg);
        goto out;
    }
    if (taken) {
        acme_problem(rq, 409, ACME_ERR("alreadyReplaced"), NULL,
                     "certificate %s is already replaced by order %s", rec.serial, by);
        goto out;
    }
    rc = 0;
out:
    hilt_cert_rec_free(&rec);
    return rc;
}

void acme_ari_mark_replaced(struct acme *a, const struct hilt_acme_order *o, const char *new_serial)
{
    if (!o->replaces_serial[0]) return;
    struct hilt_cert_rec rec;
    if (hilt_store_cert_get(a->api->st, o->replaces_serial, &rec, NULL, NULL) != 1) return;
    char detail[200];
    snprintf(detail, sizeof(detail), "replaced by serial %s (ACME order %s)", new_serial, o->id);
    hilt_store_cert_set_status(a->api->st, rec.sha256, "superseded", NULL);
    hilt_store_cert_event(a->api->st, rec.sha256, "replaced", detail, NULL);
    hilt_cert_rec_free(&rec);
}
