/* lab.h - `hilt lab`: a local testbed of deliberately broken TLS servers.
 *
 * Owned here: the scenario table (one row per way a handshake can fail, each
 * with the diagnosis `hilt probe` must give), minting each scenario's own CA
 * and certificates at start-up, the servers on 127.0.0.1 (one event loop,
 * libevent, no thread per connection), the plain-HTTP side they need (AIA
 * caIssuers and an OCSP responder), and `--check`, which runs the real probe
 * against every scenario. Nothing here ever binds anything but 127.0.0.1.
 *
 * Ports: scenario at offset i listens on base + i; the HTTP service listens
 * on base + HILT_LAB_HTTP_OFFSET. The lab therefore needs the HILT_LAB_SPAN
 * ports from base upwards.
 *
 * Files: DIR/NAME/ca.pem (the trust anchor a client should use) for every
 * scenario, plus DIR/NAME/client.pem and client.key (0600) where a scenario
 * needs a client certificate, and DIR/lab.json (the scenario list). Server
 * keys never touch disk. A DIR the lab created itself (no --dir) is removed
 * by hilt_lab_free(); a --dir is left in place.
 *
 * Ownership: struct hilt_lab is opaque; hilt_lab_free() releases everything
 * (servers, connections, certificates, keys). Scenario rows are static.
 * JSON returned by the *_json functions belongs to the caller (json_decref).
 */
#ifndef HILT_LAB_LAB_H
#define HILT_LAB_LAB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct hilt_err;

#define HILT_LAB_DEFAULT_BASE 9400
#define HILT_LAB_SPAN 64        /* ports base .. base+63 */
#define HILT_LAB_HTTP_OFFSET 63 /* AIA caIssuers + OCSP responder */
#define HILT_LAB_BASE_MAX (65535 - HILT_LAB_SPAN + 1)

/* What `hilt probe --json` must report for a scenario. */
struct hilt_lab_expect {
    int ok;              /* the probe's `ok` */
    const char *code;    /* diagnosis.code, or NULL when ok */
    const char *finding; /* a non-error finding code that must be listed, or NULL */
};

/* The public face of one scenario row. */
struct hilt_lab_scenario {
    const char *name; /* also the directory name and the DNS label NAME.lab.hilt.test */
    int offset;       /* port = base + offset */
    const char *description;
    struct hilt_lab_expect expect;
    /* Probe arguments besides --ca-file and the target, NULL-terminated.
     * "@file" stands for DIR/NAME/file. */
    const char *const *args;
};

size_t hilt_lab_count(void);
const struct hilt_lab_scenario *hilt_lab_at(size_t i);
const struct hilt_lab_scenario *hilt_lab_find(const char *name);

struct hilt_lab_opts {
    long base_port;          /* 1 .. HILT_LAB_BASE_MAX */
    const char *dir;         /* NULL: a fresh directory under $TMPDIR (removed at the end) */
    const char *const *only; /* scenario names; NULL or nonly == 0: all of them */
    size_t nonly;
};

/* Check options without touching the system: base port range, scenario
 * names. Errors are HILT_E_USAGE and name the argument. */
int hilt_lab_opts_check(const struct hilt_lab_opts *o, struct hilt_err *e);
/* Is scenario i selected by these options? */
int hilt_lab_selected(const struct hilt_lab_opts *o, size_t i);

/* The scenario list as a JSON array:
 *   [{name, port, description, expect: {ok, code, finding}, args: [...]}]
 * `args` is exactly what `hilt probe --json ARGS` needs, target last. `dir`
 * must be absolute; NULL writes the placeholder "DIR" (a lab not started). */
json_t *hilt_lab_list_json(const struct hilt_lab_opts *o, const char *dir);
/* The probe arguments for one scenario as one shell-ready line. */
void hilt_lab_args_line(const struct hilt_lab_scenario *sc, long base_port, const char *dir,
                        char *out, size_t cap);

struct hilt_lab;

/* Validate, create DIR, bind every port (nothing is left bound on failure),
 * mint every scenario's PKI and write its files. When this returns, every
 * server accepts connections (the kernel queues them until the loop runs).
 * A port in use or an unwritable DIR are HILT_E_INPUT naming the argument. */
struct hilt_lab *hilt_lab_new(const struct hilt_lab_opts *o, struct hilt_err *e);
const char *hilt_lab_dir(const struct hilt_lab *lab);
long hilt_lab_base_port(const struct hilt_lab *lab);
const struct hilt_lab_opts *hilt_lab_opts(const struct hilt_lab *lab);
/* The scenario list with this lab's real DIR. */
json_t *hilt_lab_json(const struct hilt_lab *lab);

/* Run the event loop in this thread until SIGINT/SIGTERM (when
 * handle_signals) or hilt_lab_stop(). Returns 0. */
int hilt_lab_run(struct hilt_lab *lab, int handle_signals);
/* Run the event loop in a background thread. */
int hilt_lab_start(struct hilt_lab *lab, struct hilt_err *e);
/* Stop the loop (from any thread) and join the background thread if any. */
void hilt_lab_stop(struct hilt_lab *lab);
/* Stop, close every socket, free every object; removes a DIR the lab made. */
void hilt_lab_free(struct hilt_lab *lab);

/* One row of `hilt lab --check`. */
struct hilt_lab_result {
    const struct hilt_lab_scenario *sc;
    int pass;
    char expected[64]; /* "ok", "ok + expiring_soon", "cert_expired" */
    char got[64];      /* the same form, from the probe's JSON; "-" when there was none */
    int exit_code;     /* the probe's exit status (-1: killed) */
    char detail[256];  /* why it failed, when the JSON alone does not say */
    uint64_t us;       /* wall time of this probe */
};

typedef void (*hilt_lab_progress_fn)(void *arg, const struct hilt_lab_result *r, size_t done,
                                     size_t total);

/* Probe every selected scenario of a running lab (hilt_lab_start) with
 * `exe probe --json ARGS`, `jobs` at a time, each bounded by timeout_ms.
 * Results come back in scenario order in *out (caller frees with free()).
 * Returns the number of failures, or -1 with e when a probe cannot be started. */
int hilt_lab_check(struct hilt_lab *lab, const char *exe, int jobs, int timeout_ms,
                   hilt_lab_progress_fn progress, void *arg, struct hilt_lab_result **out,
                   size_t *n, struct hilt_err *e);
/* Compare one probe's JSON output with a scenario's expectation; fills
 * r->expected, r->got, r->pass (and r->detail on a mismatch). */
void hilt_lab_judge(const struct hilt_lab_scenario *sc, const json_t *probe_json,
                    struct hilt_lab_result *r);

#endif
