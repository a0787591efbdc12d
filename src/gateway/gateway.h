/* gateway.h - `hilt gateway`: the process that serves a gateway config.
 *
 * gw_new() loads and validates the config, builds the first generation
 * (binding every listener), starts the worker threads and the admin listener;
 * gw_serve() runs the main thread's loop (admin HTTP, signals, reloads, file
 * watching, health checks, ticket-key rotation) until gw_stop() or SIGTERM.
 * Tests run a gateway in-process with use_signals = 0.
 *
 * Ownership: gw_new() returns a gateway freed with gw_free() after gw_serve()
 * returned; gw_free() stops and joins the workers and closes everything.
 */
#ifndef HILT_GATEWAY_GATEWAY_H
#define HILT_GATEWAY_GATEWAY_H

#include <stdio.h>

struct hilt_err;
struct gateway;

struct gw_opts {
    const char *config;
    int workers;          /* 0: the config's, else the number of CPUs */
    int use_signals;      /* handle SIGHUP/SIGTERM/SIGINT through a signalfd */
    const char *self_exe; /* this binary, re-exec'd as the CA's signer child
                           * (issue: certificates); NULL: fork only (tests) */
};

struct gateway *gw_new(const struct gw_opts *o, struct hilt_err *e);
/* Run until stopped. Returns 0 after an orderly stop, -1 on a fault (in e). */
int gw_serve(struct gateway *gw, struct hilt_err *e);
/* Ask gw_serve() to return; safe from any thread. */
void gw_stop(struct gateway *gw);
/* Reload the config now (main thread, or before gw_serve from the same thread).
 * On failure the running generation keeps serving and e says why. */
int gw_reload(struct gateway *gw, struct hilt_err *e);
void gw_free(struct gateway **gw);
/* The port the admin listener got (tests use port 0), or 0. */
int gw_admin_port(struct gateway *gw);
/* The local port of listener i (after binding), or 0. */
int gw_listener_port(struct gateway *gw, int i);
unsigned long gw_generation(struct gateway *gw);

/* `hilt gateway --check`: load, build without binding, describe to out. */
int gw_check(const char *config, FILE *out, struct hilt_err *e);

#endif
