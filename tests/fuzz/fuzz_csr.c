/* fuzz_csr.c - libFuzzer target: the CA's request checks. The input is
 * parsed as a CSR (PEM or DER, hilt_csr_parse) and, when it parses, checked
 * against two rule sets (open, and restricted to a domain) the way
 * `hilt ca issue --csr` does; it is also fed to the name validator as one
 * name, the path every --name and CSR name takes. Deterministic: no clock,
 * no randomness, no I/O. */
#include "ca/csr.h"

#include <openssl/err.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hilt_issue_rules open_rules, strict;
    hilt_issue_rules_init(&open_rules);
    hilt_issue_rules_init(&strict);
    strict.allow_domains = "example.test,.corp.test,127.0.0.1";

    X509_REQ *req = hilt_csr_parse(data, size, "fuzz", NULL);
    if (req) {
        struct hilt_names names = {0};
        hilt_csr_check(req, &open_rules, "fuzz", &names, NULL);
        hilt_names_free(&names);
        hilt_csr_check(req, &strict, "fuzz", &names, NULL);
        hilt_names_free(&names);
        X509_REQ_free(req);
    }
    char name[300];
    if (size < sizeof(name)) {
        memcpy(name, data, size);
        name[size] = '\0';
        struct hilt_names names = {0};
        hilt_names_add(&names, name, &strict, NULL);
        hilt_names_add(&names, name, &open_rules, NULL);
        hilt_names_free(&names);
    }
    ERR_clear_error();
    return 0;
}
