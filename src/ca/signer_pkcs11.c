/* signer_pkcs11.c - the PKCS#11 signer, through OpenSSL's ENGINE interface
 * and libp11's "pkcs11" engine (libengine-pkcs11-openssl). Debian 12 has no
 * pkcs11-provider package (docs/dependencies.md), so this is the one file
 * that uses the deprecated ENGINE API; a provider-based signer would replace
 * it behind the same struct hilt_signer_ops. The private key stays in the
 * token: the EVP_PKEY returned is a handle whose sign operation the engine
 * performs with C_Sign. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "ca/signer.h"

#include "core/err.h"

#include <openssl/engine.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

struct p11 {
    ENGINE *eng;
    EVP_PKEY *key;
};

static EVP_PKEY *p11_key(void *impl)
{
    return ((struct p11 *)impl)->key;
}

static void p11_close(void *impl)
{
    struct p11 *p = impl;
    if (!p) return;
    EVP_PKEY_free(p->key);
    if (p->eng) {
        ENGINE_finish(p->eng);
        ENGINE_free(p->eng);
    }
    free(p);
}

const struct hilt_signer_ops hilt_signer_pkcs11_ops = {"pkcs11", p11_key, p11_close, NULL};

/* module-path=… in the URI's query (RFC 7512 §2.3), copied out. */
static int uri_module(const char *uri, char *out, size_t cap)
{
    const char *q = strchr(uri, '?');
    for (const char *p = q; p && *p; p++) {
        if ((*p == '?' || *p == '&') && !strncmp(p + 1, "module-path=", 12)) {
            const char *v = p + 13;
            size_t n = strcspn(v, "&");
            if (n >= cap) return -1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 1;
        }
    }
    return 0;
}

void *hilt_signer_pkcs11_open(const char *uri, struct hilt_err *e)
{
    struct p11 *p = calloc(1, sizeof(*p));
    if (!p) {
        hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
        return NULL;
    }
    char module[1024] = "";
    const char *env_mod = getenv("HILT_PKCS11_MODULE");
    if (uri_module(uri, module, sizeof(module)) <= 0 && env_mod && *env_mod)
        snprintf(module, sizeof(module), "%s", env_mod);
    ENGINE_load_builtin_engines();
    p->eng = ENGINE_by_id("pkcs11");
    if (!p->eng) {
        hilt_err_ossl(e, HILT_E_RUNTIME,
                      "cannot load OpenSSL's pkcs11 engine (install libengine-pkcs11-openssl)");
        goto fail;
    }
    if (module[0] && !ENGINE_ctrl_cmd_string(p->eng, "MODULE_PATH", module, 0)) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "pkcs11 engine: cannot use module %s", module);
        goto fail;
    }
    const char *pin = getenv("HILT_PKCS11_PIN");
    if (pin && *pin && !strstr(uri, "pin-value=") &&
        !ENGINE_ctrl_cmd_string(p->eng, "PIN", pin, 0)) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "pkcs11 engine: cannot set the PIN");
        goto fail;
    }
    if (!ENGINE_init(p->eng)) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "pkcs11 engine: initialisation failed%s%s",
                      module[0] ? " for module " : "", module);
        ENGINE_free(p->eng);
        p->eng = NULL;
        goto fail;
    }
    p->key = ENGINE_load_private_key(p->eng, uri, NULL, NULL);
    if (!p->key) {
        char safe[512];
        hilt_pkcs11_uri_strip_pin(uri, safe, sizeof(safe));
        hilt_err_ossl(e, HILT_E_INPUT,
                      "no usable private key at %s (is HILT_PKCS11_PIN set, and the token "
                      "present?)",
                      safe);
        goto fail;
    }
    return p;
fail:
    p11_close(p);
    return NULL;
}
