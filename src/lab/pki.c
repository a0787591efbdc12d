/* pki.c - each scenario's own CA and certificates, minted at start-up from
 * its row, and the files a client needs (ca.pem, client.pem, client.key).
 *
 * Default shape: root (EC P-256, 10 years) -> intermediate (5 years,
 * pathlen 0) -> leaf (EC P-256, 90 days from an hour ago). The row's PKI
 * flags change one thing each; the server keys stay in memory only.
 */
#include "lab/lab_int.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/fileio.h"
#include "x509/key.h"
#include "x509/mint.h"
#include "x509/pem.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define DAY 86400L

static EVP_PKEY *keygen(const char *type, struct hilt_err *e)
{
    struct hilt_keyspec ks;
    if (hilt_keyspec_parse(type, &ks, e) < 0) return NULL;
    return hilt_key_generate(&ks, e);
}

/* A CA certificate: self-signed when signer is NULL. */
static X509 *mint_ca(const char *subject, EVP_PKEY *key, const struct hilt_signer *signer,
                     time_t start, int years, struct hilt_err *e)
{
    struct hilt_cert_spec s;
    hilt_cert_spec_init(&s, subject, 0);
    s.not_before = start - 30 * DAY;
    s.not_after = start + (time_t)years * 365 * DAY;
    s.is_ca = 1;
    s.path_len = signer ? 0 : -1;
    return hilt_mint(&s, key, signer, e);
}

static X509 *new_root(const char *what, const char *name, time_t start, EVP_PKEY **key,
                      struct hilt_err *e)
{
    char subject[256];
    snprintf(subject, sizeof(subject), "CN=hilt lab %s %s,O=hilt lab", name, what);
    if (!(*key = keygen("ec-p256", e))) return NULL;
    return mint_ca(subject, *key, NULL, start, 10, e);
}

static int mint_leaf(struct hilt_lab *lab, struct lab_srv *s, struct hilt_err *e)
{
    const struct lab_row *r = s->row;
    struct lab_pki *p = &s->pki;
    char cn[128], san_name[160], ocsp[300], issuers[300];
    snprintf(cn, sizeof(cn), "%s.lab.hilt.test", r->pub.name);
    snprintf(san_name, sizeof(san_name), "DNS:%s", cn);
    const char *sans[] = {"IP:127.0.0.1", "DNS:localhost", san_name};
    const char *wrong[] = {"DNS:wrong-host.example"};

    struct hilt_cert_spec spec;
    hilt_cert_spec_init(&spec, cn, 90);
    spec.not_before = lab->start - 3600;
    spec.not_after = lab->start + 90 * DAY;
    spec.sans = sans;
    spec.nsans = 3;
    if (r->validity_set) {
        spec.not_before = lab->start + r->not_before;
        spec.not_after = lab->start + r->not_after;
    }
    if (r->pki & LAB_P_WRONG_HOST) {
        spec.subject = "wrong-host.example";
        spec.sans = wrong;
        spec.nsans = 1;
    }
    if (r->leaf_digest) spec.digest = r->leaf_digest;
    if (r->pki & LAB_P_EKU_CLIENT) spec.ext_key_usage = HILT_EKU_CLIENT;
    if (r->pki & LAB_P_MUST_STAPLE) spec.must_staple = 1;
    if (r->pki & LAB_P_OCSP) {
        lab_http_url(lab, r, "ocsp", ocsp, sizeof(ocsp));
        spec.ocsp_url = ocsp;
    }
    if (r->pki & LAB_P_AIA_ISSUER) {
        lab_http_url(lab, r, "issuer.der", issuers, sizeof(issuers));
        spec.ca_issuers_url = issuers;
    }
    if (r->pki & LAB_P_SELF_SIGNED)
        spec.key_usage = HILT_KU_NONE; /* as `openssl req -x509` leaves it; a KU without
                                        * keyCertSign would hide that it is self-signed */
    if (!(p->leaf_key = keygen(r->leaf_key ? r->leaf_key : "ec-p256", e))) return -1;
    struct hilt_signer by_inter = {p->inter, p->int_key};
    p->leaf = hilt_mint(&spec, p->leaf_key, (r->pki & LAB_P_SELF_SIGNED) ? NULL : &by_inter, e);
    return p->leaf ? 0 : -1;
}

static int mint_client(struct lab_srv *s, time_t start, struct hilt_err *e)
{
    const struct lab_row *r = s->row;
    struct lab_pki *p = &s->pki;
    EVP_PKEY *other_key = NULL;
    X509 *other = NULL;
    int rc = -1;
    if (!(p->client_ca = new_root("client CA", r->pub.name, start, &p->client_ca_key, e)))
        return -1;
    struct hilt_signer signer = {p->client_ca, p->client_ca_key};
    if (r->pki & LAB_P_CLIENT_ROGUE) {
        if (!(other = new_root("other client CA", r->pub.name, start, &other_key, e))) goto out;
        signer = (struct hilt_signer){other, other_key};
    }
    struct hilt_cert_spec spec;
    hilt_cert_spec_init(&spec, "CN=hilt lab client,O=hilt lab", 90);
    spec.not_before = start - 3600;
    spec.not_after = start + 90 * DAY;
    spec.ext_key_usage = HILT_EKU_CLIENT;
    if (!(p->client_key = keygen("ec-p256", e))) goto out;
    if (!(p->client = hilt_mint(&spec, p->client_key, &signer, e))) goto out;
    rc = 0;
out:
    X509_free(other);
    EVP_PKEY_free(other_key);
    return rc;
}

int lab_pki_mint(struct hilt_lab *lab, struct lab_srv *s, struct hilt_err *e)
{
    const struct lab_row *r = s->row;
    struct lab_pki *p = &s->pki;
    const char *name = r->pub.name;
    int rc = -1;

    /* ca.pem's root: every scenario has one, so every probe gets --ca-file. */
    if (!(p->anchor = new_root("root", name, lab->start, &p->anchor_key, e))) goto out;
    if (r->kind != LAB_TLS) return 0;
    if (r->pki & LAB_P_ROGUE_ROOT) {
        if (!(p->root = new_root("unpublished root", name, lab->start, &p->root_key, e))) goto out;
    } else if (!(r->pki & LAB_P_SELF_SIGNED)) {
        p->root = p->anchor;
        X509_up_ref(p->root);
        p->root_key = p->anchor_key;
        EVP_PKEY_up_ref(p->root_key);
    }
    if (p->root) {
        char subject[256];
        snprintf(subject, sizeof(subject), "CN=hilt lab %s intermediate,O=hilt lab", name);
        struct hilt_signer by_root = {p->root, p->root_key};
        if (!(p->int_key = keygen("ec-p256", e))) goto out;
        if (!(p->inter = mint_ca(subject, p->int_key, &by_root, lab->start, 5, e))) goto out;
    }
    if (mint_leaf(lab, s, e) < 0) goto out;
    if ((r->pki & LAB_P_CLIENT_AUTH) && mint_client(s, lab->start, e) < 0) goto out;
    rc = 0;
out:
    if (rc < 0) hilt_err_prefix(e, "lab scenario %s", name);
    return rc;
}

static int write_pem(const char *path, X509 *x, struct hilt_err *e)
{
    struct hilt_buf b;
    hilt_buf_init(&b, 1 << 20);
    int rc = hilt_certs_to_pem(&b, &x, 1);
    if (rc < 0)
        hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot encode %s", path);
    else
        rc = hilt_file_write_atomic(path, b.data, b.len, 0644, e);
    hilt_buf_free(&b);
    return rc;
}

int lab_pki_write(struct hilt_lab *lab, struct lab_srv *s, struct hilt_err *e)
{
    char path[4400];
    const char *name = s->row->pub.name;
    snprintf(path, sizeof(path), "%s/%s", lab->dir, name);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return hilt_err_set(e, HILT_E_INPUT, errno, "--dir: cannot create %s: %s", path,
                            strerror(errno));
    snprintf(path, sizeof(path), "%s/%s/ca.pem", lab->dir, name);
    if (write_pem(path, s->pki.anchor, e) < 0) return -1;
    if (s->pki.client) {
        snprintf(path, sizeof(path), "%s/%s/client.pem", lab->dir, name);
        if (write_pem(path, s->pki.client, e) < 0) return -1;
        snprintf(path, sizeof(path), "%s/%s/client.key", lab->dir, name);
        if (hilt_key_save(path, s->pki.client_key, e) < 0) return -1;
    }
    return 0;
}

void lab_pki_free(struct lab_pki *p)
{
    X509 **certs[] = {&p->root, &p->inter, &p->leaf, &p->anchor, &p->client_ca, &p->client};
    EVP_PKEY **keys[] = {&p->root_key,   &p->int_key,       &p->leaf_key,
                         &p->anchor_key, &p->client_ca_key, &p->client_key};
    for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++) {
        X509_free(*certs[i]);
        *certs[i] = NULL;
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        EVP_PKEY_free(*keys[i]);
        *keys[i] = NULL;
    }
}
