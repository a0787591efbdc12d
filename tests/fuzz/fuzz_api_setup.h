/* fuzz_api_setup.h - what the hilt serve handler fuzzers share: a throwaway
 * HILT_HOME (in /dev/shm when there is one) with a SQLite store and a CA, and
 * a struct hilt_api around them with one pre-approved scope. Included by one
 * fuzz target each (a header of static functions: every target is its own
 * binary). */
#ifndef HILT_FUZZ_API_SETUP_H
#define HILT_FUZZ_API_SETUP_H

#include "api/api.h"
#include "ca/ca.h"
#include "core/err.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Fills home (cap bytes) and api; aborts with a message naming `who` when
 * anything fails: a fuzzer without its fixture must not run. */
static void fuzz_api_setup(const char *who, char *home, size_t cap, struct hilt_api *api,
                           struct hilt_scope *scope, const char *scope_spec)
{
    struct stat sb;
    snprintf(home, cap, "%s/hilt-%s.XXXXXX", stat("/dev/shm", &sb) == 0 ? "/dev/shm" : "/tmp", who);
    if (!mkdtemp(home)) abort();
    setenv("HILT_HOME", home, 1);
    struct hilt_err e = {0};
    struct hilt_store *st = hilt_store_open(NULL, &e);
    struct hilt_ca_init_opts o = {.name = "hilt"};
    if (!st || hilt_ca_init(st, home, &o, &e) < 0) {
        fprintf(stderr, "%s: %s\n", who, e.msg);
        abort();
    }
    api->st = st;
    api->ca = hilt_ca_open(st, home, "hilt", &e);
    if (!api->ca) {
        fprintf(stderr, "%s: %s\n", who, e.msg);
        abort();
    }
    api->home = home;
    api->node_id = "fuzz";
    if (hilt_scope_parse(scope_spec, scope, &e) < 0) abort();
    api->scopes = scope;
    api->nscopes = 1;
    api->issue_on_approve = 1;
}

#endif
