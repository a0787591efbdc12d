/* store_clm.c - the store's operations for inventory details (history,
 * locations, endpoints seen by scans, coverage), certificate-as-code
 * (manifests and numbered revisions), renewal state and expiry
 * notifications; schema 2 (docs/store.md). Same rules as store.c: bound
 * parameters only, one transaction per operation unless the caller holds
 * one, records handed to callbacks borrow their strings. */
#include "core/clock.h"
#include "core/err.h"
#include "store/store.h"
#include "store/store_int.h"

/* ---- inventory details ------------------------------------------------------- */

int hilt_store_cert_set_meta(struct hilt_store *s, const char *sha256, const char *owner,
                             const char *service, const char *env, const char *pipeline,
                             const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    int64_t changes = 0;
    struct hilt_val p[] = {HV_S(sha256), HV_S(owner), HV_S(service), HV_S(env), HV_S(pipeline)};
    int rc = exec(s, ST_CERT_SET_META, p, 5, NULL, NULL, &changes, e);
    if (rc == 0 && changes && ev) rc = hilt_store_audit_append_tx(s, ev, e);
    rc = tx_end(s, own, rc, e);
    return rc < 0 ? -1 : changes > 0;
}

int hilt_store_cert_set_status(struct hilt_store *s, const char *sha256, const char *status,
                               struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(sha256), HV_S(status)};
    return exec(s, ST_CERT_SET_STATUS, p, 2, NULL, NULL, NULL, e);
}

int hilt_store_cert_event(struct hilt_store *s, const char *sha256, const char *event,
                          const char *detail, struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(sha256), HV_I(hilt_now()), HV_S(event), HV_S(detail ? detail : "")};
    return exec(s, ST_EVENT_INSERT, p, 4, NULL, NULL, NULL, e);
}

struct event_walk {
    hilt_event_cb cb;
    void *arg;
    int stopped;
};

static int event_cb(const struct hilt_val *c, int n, void *arg)
{
    struct event_walk *w = arg;
    if (n < 3) return 1;
    struct hilt_cert_event ev = {hilt_val_int(&c[0]), str_col(&c[1]), str_col(&c[2])};
    return w->stopped = w->cb(&ev, w->arg);
}

int hilt_store_cert_events(struct hilt_store *s, const char *sha256, hilt_event_cb cb, void *arg,
                           struct hilt_err *e)
{
    struct event_walk w = {cb, arg, 0};
    struct hilt_val p[] = {HV_S(sha256)};
    if (exec(s, ST_EVENT_LIST, p, 1, event_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

int hilt_store_location_seen(struct hilt_store *s, const char *sha256, const char *kind,
                             const char *location, int64_t when, struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(sha256), HV_S(kind), HV_S(location), HV_I(when)};
    return exec(s, ST_LOC_UPSERT, p, 4, NULL, NULL, NULL, e);
}

struct loc_walk {
    hilt_location_cb cb;
    void *arg;
    int stopped;
};

static int loc_cb(const struct hilt_val *c, int n, void *arg)
{
    struct loc_walk *w = arg;
    if (n < 4) return 1;
    struct hilt_location l = {str_col(&c[0]), str_col(&c[1]), hilt_val_int(&c[2]),
                              hilt_val_int(&c[3])};
    return w->stopped = w->cb(&l, w->arg);
}

int hilt_store_locations(struct hilt_store *s, const char *sha256, hilt_location_cb cb, void *arg,
                         struct hilt_err *e)
{
    struct loc_walk w = {cb, arg, 0};
    struct hilt_val p[] = {HV_S(sha256)};
    if (exec(s, ST_LOC_LIST, p, 1, loc_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

int hilt_store_endpoint_replace(struct hilt_store *s, const char *endpoint,
                                const struct hilt_endpoint_cert *certs, size_t n, int64_t when,
                                struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {HV_S(endpoint)};
    int rc = exec(s, ST_ENDPOINT_CLEAR, p, 1, NULL, NULL, NULL, e);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct hilt_val q[] = {HV_S(endpoint), HV_S(certs[i].sha256),
                               HV_S(certs[i].subject ? certs[i].subject : ""),
                               HV_I(certs[i].not_after), HV_I(when)};
        rc = exec(s, ST_ENDPOINT_INSERT, q, 5, NULL, NULL, NULL, e);
    }
    return tx_end(s, own, rc, e);
}

struct ep_walk {
    hilt_endpoint_cb cb;
    void *arg;
    int stopped;
};

static int ep_cb(const struct hilt_val *c, int n, void *arg)
{
    struct ep_walk *w = arg;
    if (n < 6) return 1;
    struct hilt_endpoint_rec r = {str_col(&c[0]),      str_col(&c[1]),
                                  str_col(&c[2]),      hilt_val_int(&c[3]),
                                  hilt_val_int(&c[4]), (int)hilt_val_int(&c[5])};
    return w->stopped = w->cb(&r, w->arg);
}

int hilt_store_endpoints(struct hilt_store *s, hilt_endpoint_cb cb, void *arg, struct hilt_err *e)
{
    struct ep_walk w = {cb, arg, 0};
    if (exec(s, ST_ENDPOINT_LIST, NULL, 0, ep_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

static int two_int_cb(const struct hilt_val *c, int n, void *arg)
{
    int64_t *out = arg;
    if (n >= 2) {
        out[0] = hilt_val_int(&c[0]);
        out[1] = hilt_val_int(&c[1]);
    }
    return 1;
}

int hilt_store_coverage(struct hilt_store *s, int64_t *seen, int64_t *known, struct hilt_err *e)
{
    int64_t v[2] = {0, 0};
    if (exec(s, ST_COVERAGE, NULL, 0, two_int_cb, v, NULL, e) < 0) return -1;
    *seen = v[0];
    *known = v[1];
    return 0;
}

/* ---- manifests ------------------------------------------------------------------ */

void hilt_manifest_rec_free(struct hilt_manifest_rec *r)
{
    if (!r) return;
    char **f[] = {&r->name, &r->spec_hash, &r->spec_json, &r->source, &r->data_dir};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        free(*f[i]);
        *f[i] = NULL;
    }
}

static void fill_manifest(struct hilt_manifest_rec *r, const struct hilt_val *c, int dup)
{
#define S(i) (dup ? dup_col(&c[i]) : (char *)str_col(&c[i]))
    r->name = S(0);
    r->spec_hash = S(1);
    r->spec_json = S(2);
    r->source = S(3);
    r->data_dir = S(4);
#undef S
    r->current_rev = hilt_val_int(&c[5]);
    r->created = hilt_val_int(&c[6]);
    r->updated = hilt_val_int(&c[7]);
}

static int manifest_get_cb(const struct hilt_val *c, int n, void *arg)
{
    if (n >= 8) fill_manifest(arg, c, 1);
    return 1;
}

int hilt_store_manifest_get(struct hilt_store *s, const char *name, struct hilt_manifest_rec *out,
                            struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    struct hilt_val p[] = {HV_S(name)};
    if (exec(s, ST_MANIFEST_GET, p, 1, manifest_get_cb, out, NULL, e) < 0) {
        hilt_manifest_rec_free(out);
        return -1;
    }
    if (!out->name) return 0;
    if (!out->spec_hash || !out->spec_json || !out->source || !out->data_dir) {
        hilt_manifest_rec_free(out);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    }
    return 1;
}

int hilt_store_manifest_put(struct hilt_store *s, const struct hilt_manifest_rec *r,
                            struct hilt_err *e)
{
    int64_t now = hilt_now();
    struct hilt_val p[] = {HV_S(r->name),
                           HV_S(r->spec_hash),
                           HV_S(r->spec_json),
                           HV_S(r->source),
                           HV_S(r->data_dir),
                           HV_I(r->current_rev),
                           HV_I(r->created ? r->created : now),
                           HV_I(now)};
    return exec(s, ST_MANIFEST_UPSERT, p, 8, NULL, NULL, NULL, e);
}

struct manifest_walk {
    hilt_manifest_cb cb;
    void *arg;
    int stopped;
};

static int manifest_list_cb(const struct hilt_val *c, int n, void *arg)
{
    struct manifest_walk *w = arg;
    if (n < 8) return 1;
    struct hilt_manifest_rec r;
    fill_manifest(&r, c, 0);
    return w->stopped = w->cb(&r, w->arg);
}

int hilt_store_manifest_list(struct hilt_store *s, hilt_manifest_cb cb, void *arg,
                             struct hilt_err *e)
{
    struct manifest_walk w = {cb, arg, 0};
    if (exec(s, ST_MANIFEST_LIST, NULL, 0, manifest_list_cb, &w, NULL, e) < 0) return -1;
    return w.stopped;
}

/* ---- revisions ------------------------------------------------------------------ */

void hilt_revision_rec_free(struct hilt_revision_rec *r)
{
    if (!r) return;
    char **f[] = {&r->name,      &r->state, &r->sha256,     &r->serial,
                  &r->spec_hash, &r->dir,   &r->files_json, &r->note};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        free(*f[i]);
        *f[i] = NULL;
    }
}

static void fill_rev(struct hilt_revision_rec *r, const struct hilt_val *c, int dup)
{
#define S(i) (dup ? dup_col(&c[i]) : (char *)str_col(&c[i]))
    r->name = S(0);
    r->rev = hilt_val_int(&c[1]);
    r->state = S(2);
    r->sha256 = S(3);
    r->serial = S(4);
    r->spec_hash = S(5);
    r->dir = S(6);
    r->not_after = hilt_val_int(&c[7]);
    r->files_json = S(8);
    r->created = hilt_val_int(&c[9]);
    r->applied_at = hilt_val_int(&c[10]);
    r->note = S(11);
#undef S
}

int hilt_store_revision_add(struct hilt_store *s, const struct hilt_revision_rec *r,
                            const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {HV_S(r->name),
                           HV_I(r->rev),
                           HV_S(r->state),
                           HV_S(r->sha256),
                           HV_S(r->serial),
                           HV_S(r->spec_hash),
                           HV_S(r->dir),
                           HV_I(r->not_after),
                           HV_S(r->files_json ? r->files_json : "{}"),
                           HV_I(r->created ? r->created : hilt_now()),
                           r->applied_at ? HV_I(r->applied_at) : (struct hilt_val){.t = HV_NULL},
                           HV_S(r->note ? r->note : "")};
    int rc = exec(s, ST_REV_INSERT, p, 12, NULL, NULL, NULL, e);
    if (rc < 0 && e && e->code == HILT_STORE_CONFLICT)
        hilt_err_set(e, HILT_E_RUNTIME, HILT_STORE_CONFLICT,
                     "revision %lld of %s exists already (another apply at the same time?)",
                     (long long)r->rev, r->name);
    if (rc == 0 && ev) rc = hilt_store_audit_append_tx(s, ev, e);
    return tx_end(s, own, rc, e);
}

static int rev_get_cb(const struct hilt_val *c, int n, void *arg)
{
    if (n >= 12) fill_rev(arg, c, 1);
    return 1;
}

int hilt_store_revision_get(struct hilt_store *s, const char *name, int64_t rev,
                            struct hilt_revision_rec *out, struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    struct hilt_val p[] = {HV_S(name), HV_I(rev)};
    if (exec(s, ST_REV_GET, p, 2, rev_get_cb, out, NULL, e) < 0) {
        hilt_revision_rec_free(out);
        return -1;
    }
    if (!out->name) return 0;
    if (!out->state || !out->sha256 || !out->serial || !out->spec_hash || !out->dir ||
        !out->files_json || !out->note) {
        hilt_revision_rec_free(out);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    }
    return 1;
}

struct rev_walk {
    hilt_revision_cb cb;
    void *arg;
    int stopped;
};

static int rev_list_cb(const struct hilt_val *c, int n, void *arg)
{
    struct rev_walk *w = arg;
    if (n < 12) return 1;
    struct hilt_revision_rec r;
    fill_rev(&r, c, 0);
    return w->stopped = w->cb(&r, w->arg);
}

int hilt_store_revision_list(struct hilt_store *s, const char *name, hilt_revision_cb cb, void *arg,
                             struct hilt_err *e)
{
    struct rev_walk w = {cb, arg, 0};
    struct hilt_val p[] = {HV_S(name)};
    if (exec(s, name ? ST_REV_LIST : ST_REV_STAGED, p, name ? 1 : 0, rev_list_cb, &w, NULL, e) < 0)
        return -1;
    return w.stopped;
}

int hilt_store_revision_max(struct hilt_store *s, const char *name, int64_t *out,
                            struct hilt_err *e)
{
    *out = 0;
    struct hilt_val p[] = {HV_S(name)};
    return exec(s, ST_REV_MAX, p, 1, one_int_cb, out, NULL, e);
}

int hilt_store_revision_commit(struct hilt_store *s, const char *name, int64_t rev, int64_t when,
                               const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val sup[] = {HV_S(name), HV_I(rev)};
    struct hilt_val st[] = {HV_S(name), HV_I(rev), HV_S("applied"), HV_S(""), HV_I(when)};
    struct hilt_val cur[] = {HV_S(name), HV_I(rev), HV_I(when)};
    int64_t changes = 0;
    int rc = exec(s, ST_REV_SUPERSEDE, sup, 2, NULL, NULL, NULL, e);
    if (rc == 0) rc = exec(s, ST_REV_SET_STATE, st, 5, NULL, NULL, &changes, e);
    if (rc == 0 && changes != 1)
        rc = hilt_err_set(e, HILT_E_RUNTIME, 0, "no revision %lld of %s", (long long)rev, name);
    if (rc == 0) rc = exec(s, ST_MANIFEST_SET_REV, cur, 3, NULL, NULL, NULL, e);
    if (rc == 0 && ev) rc = hilt_store_audit_append_tx(s, ev, e);
    return tx_end(s, own, rc, e);
}

int hilt_store_revision_set_state(struct hilt_store *s, const char *name, int64_t rev,
                                  const char *state, const char *note,
                                  const struct hilt_audit_ev *ev, struct hilt_err *e)
{
    int own;
    if (tx_start(s, &own, e) < 0) return -1;
    struct hilt_val p[] = {HV_S(name), HV_I(rev), HV_S(state), HV_S(note ? note : ""),
                           (struct hilt_val){.t = HV_NULL}};
    int rc = exec(s, ST_REV_SET_STATE, p, 5, NULL, NULL, NULL, e);
    if (rc == 0 && ev) rc = hilt_store_audit_append_tx(s, ev, e);
    return tx_end(s, own, rc, e);
}

/* ---- renewals ------------------------------------------------------------------ */

void hilt_renewal_rec_free(struct hilt_renewal_rec *r)
{
    if (!r) return;
    free(r->name);
    free(r->last_error);
    r->name = r->last_error = NULL;
}

static int renewal_cb(const struct hilt_val *c, int n, void *arg)
{
    struct hilt_renewal_rec *r = arg;
    if (n < 5) return 1;
    r->name = dup_col(&c[0]);
    r->attempts = hilt_val_int(&c[1]);
    r->next_attempt_at = hilt_val_int(&c[2]);
    r->last_attempt_at = hilt_val_int(&c[3]);
    r->last_error = dup_col(&c[4]);
    return 1;
}

int hilt_store_renewal_get(struct hilt_store *s, const char *name, struct hilt_renewal_rec *out,
                           struct hilt_err *e)
{
    memset(out, 0, sizeof(*out));
    struct hilt_val p[] = {HV_S(name)};
    if (exec(s, ST_RENEWAL_GET, p, 1, renewal_cb, out, NULL, e) < 0) {
        hilt_renewal_rec_free(out);
        return -1;
    }
    if (!out->name) return 0;
    if (!out->last_error) {
        hilt_renewal_rec_free(out);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    }
    return 1;
}

int hilt_store_renewal_put(struct hilt_store *s, const struct hilt_renewal_rec *r,
                           struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(r->name), HV_I(r->attempts), HV_I(r->next_attempt_at),
                           HV_I(r->last_attempt_at), HV_S(r->last_error ? r->last_error : "")};
    return exec(s, ST_RENEWAL_UPSERT, p, 5, NULL, NULL, NULL, e);
}

int hilt_store_renewal_clear(struct hilt_store *s, const char *name, struct hilt_err *e)
{
    struct hilt_val p[] = {HV_S(name)};
    return exec(s, ST_RENEWAL_DELETE, p, 1, NULL, NULL, NULL, e);
}

/* ---- notifications ---------------------------------------------------------------- */

int hilt_store_notify_sent(struct hilt_store *s, const char *sha256, int64_t threshold,
                           struct hilt_err *e)
{
    int64_t at = -1;
    struct hilt_val p[] = {HV_S(sha256), HV_I(threshold)};
    if (exec(s, ST_NOTIFY_GET, p, 2, one_int_cb, &at, NULL, e) < 0) return -1;
    return at >= 0;
}

int hilt_store_notify_mark(struct hilt_store *s, const char *sha256, int64_t threshold,
                           const char *channel, int64_t when, struct hilt_err *e)
{
    int64_t changes = 0;
    struct hilt_val p[] = {HV_S(sha256), HV_I(threshold), HV_I(when), HV_S(channel)};
    if (exec(s, ST_NOTIFY_INSERT, p, 4, NULL, NULL, &changes, e) < 0) return -1;
    return changes > 0;
}
