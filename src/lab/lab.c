/* lab.c - the lab's life cycle: options in, DIR prepared, ports bound,
 * PKI minted and written, the loop run (here or in a thread), everything
 * freed at the end. */
#include "lab/lab_int.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/fileio.h"
#include "core/json.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const lab_files[] = {"ca.pem", "client.pem", "client.key"};

/* Remove what the lab wrote into a DIR it created; nothing else. */
static void remove_dir(struct hilt_lab *lab)
{
    char path[4400];
    for (size_t i = 0; i < lab->nsrv; i++) {
        for (size_t f = 0; f < sizeof(lab_files) / sizeof(lab_files[0]); f++) {
            snprintf(path, sizeof(path), "%s/%s/%s", lab->dir, lab->srv[i].row->pub.name,
                     lab_files[f]);
            unlink(path);
        }
        snprintf(path, sizeof(path), "%s/%s", lab->dir, lab->srv[i].row->pub.name);
        rmdir(path);
    }
    snprintf(path, sizeof(path), "%s/lab.json", lab->dir);
    unlink(path);
    rmdir(lab->dir);
}

static int prepare_dir(struct hilt_lab *lab, struct hilt_err *e)
{
    if (!lab->opts.dir) {
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp) tmp = "/tmp";
        snprintf(lab->dir, sizeof(lab->dir), "%s/hilt-lab-XXXXXX", tmp);
        if (!mkdtemp(lab->dir))
            return hilt_err_set(e, HILT_E_RUNTIME, errno, "cannot create a directory in %s: %s",
                                tmp, strerror(errno));
        lab->dir_is_ours = 1;
        return 0;
    }
    if (hilt_mkdir_p(lab->opts.dir, 0755, e) < 0) {
        e->kind = HILT_E_INPUT;
        hilt_err_prefix(e, "--dir %s", lab->opts.dir);
        return -1;
    }
    char real[PATH_MAX];
    if (!realpath(lab->opts.dir, real))
        return hilt_err_set(e, HILT_E_INPUT, errno, "--dir %s: %s", lab->opts.dir, strerror(errno));
    if (strlen(real) + 80 >= sizeof(lab->dir))
        return hilt_err_set(e, HILT_E_INPUT, 0, "--dir %s: path too long", lab->opts.dir);
    snprintf(lab->dir, sizeof(lab->dir), "%s", real);
    /* root passes access(); a probe file also catches read-only mounts. */
    char probe[4400];
    snprintf(probe, sizeof(probe), "%s/.hilt-lab-write-test", lab->dir);
    if (hilt_file_write_atomic(probe, "", 0, 0600, NULL) < 0)
        return hilt_err_set(e, HILT_E_INPUT, errno, "--dir %s is not writable", lab->opts.dir);
    unlink(probe);
    return 0;
}

static int write_list(struct hilt_lab *lab, struct hilt_err *e)
{
    json_t *j = hilt_lab_json(lab);
    char *s = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
    if (!s) return hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot encode lab.json");
    char path[4400];
    snprintf(path, sizeof(path), "%s/lab.json", lab->dir);
    int rc = hilt_file_write_atomic(path, s, strlen(s), 0644, e);
    free(s);
    return rc;
}

struct hilt_lab *hilt_lab_new(const struct hilt_lab_opts *o, struct hilt_err *e)
{
    if (hilt_lab_opts_check(o, e) < 0) return NULL;
    struct hilt_lab *lab = calloc(1, sizeof(*lab));
    if (!lab) {
        hilt_err_set(e, HILT_E_RUNTIME, ENOMEM, "out of memory");
        return NULL;
    }
    lab->opts = *o;
    lab->http_fd = -1;
    if (o->nonly) {
        lab->only = calloc(o->nonly, sizeof(*lab->only));
        if (!lab->only) {
            free(lab);
            hilt_err_set(e, HILT_E_RUNTIME, ENOMEM, "out of memory");
            return NULL;
        }
        memcpy(lab->only, o->only, o->nonly * sizeof(*lab->only));
        lab->opts.only = lab->only;
    }
    for (size_t i = 0; i < lab_nrows; i++) {
        if (!hilt_lab_selected(&lab->opts, i)) continue;
        struct lab_srv *s = &lab->srv[lab->nsrv++];
        s->lab = lab;
        s->row = &lab_rows[i];
        s->port = (uint16_t)(o->base_port + lab_rows[i].pub.offset);
        s->fd = -1;
    }
    lab->http_port = (uint16_t)(o->base_port + HILT_LAB_HTTP_OFFSET);
    /* The lab is a server: a client that vanishes mid-write must cost an
     * EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);

    if (prepare_dir(lab, e) < 0 || lab_servers_open(lab, e) < 0) goto fail;
    lab->start = hilt_now();
    for (size_t i = 0; i < lab->nsrv; i++)
        if (lab_pki_mint(lab, &lab->srv[i], e) < 0 || lab_pki_write(lab, &lab->srv[i], e) < 0)
            goto fail;
    if (write_list(lab, e) < 0 || lab_servers_start(lab, e) < 0) goto fail;
    return lab;
fail:
    hilt_lab_free(lab);
    return NULL;
}

const char *hilt_lab_dir(const struct hilt_lab *lab)
{
    return lab->dir;
}

long hilt_lab_base_port(const struct hilt_lab *lab)
{
    return lab->opts.base_port;
}

const struct hilt_lab_opts *hilt_lab_opts(const struct hilt_lab *lab)
{
    return &lab->opts;
}

json_t *hilt_lab_json(const struct hilt_lab *lab)
{
    return hilt_lab_list_json(&lab->opts, lab->dir);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct hilt_lab *lab = arg;
    event_base_loopbreak(lab->base);
}

int hilt_lab_run(struct hilt_lab *lab, int handle_signals)
{
    if (handle_signals) {
        lab->sigint = evsignal_new(lab->base, SIGINT, on_signal, lab);
        lab->sigterm = evsignal_new(lab->base, SIGTERM, on_signal, lab);
        if (lab->sigint) event_add(lab->sigint, NULL);
        if (lab->sigterm) event_add(lab->sigterm, NULL);
    }
    event_base_dispatch(lab->base);
    return 0;
}

static void *loop_thread(void *arg)
{
    hilt_lab_run(arg, 0);
    return NULL;
}

int hilt_lab_start(struct hilt_lab *lab, struct hilt_err *e)
{
    int rc = pthread_create(&lab->thread, NULL, loop_thread, lab);
    if (rc != 0)
        return hilt_err_set(e, HILT_E_RUNTIME, rc, "cannot start the lab thread: %s", strerror(rc));
    lab->thread_running = 1;
    return 0;
}

void hilt_lab_stop(struct hilt_lab *lab)
{
    if (!lab || !lab->base) return;
    /* An activated event survives until the loop runs, whereas a loopbreak
     * issued before the thread reaches event_base_dispatch would be lost. */
    if (lab->stop_ev) event_active(lab->stop_ev, EV_READ, 0);
    if (lab->thread_running) {
        pthread_join(lab->thread, NULL);
        lab->thread_running = 0;
    }
}

void hilt_lab_free(struct hilt_lab *lab)
{
    if (!lab) return;
    hilt_lab_stop(lab);
    lab_servers_close(lab);
    for (size_t i = 0; i < lab->nsrv; i++)
        lab_pki_free(&lab->srv[i].pki);
    if (lab->dir_is_ours) remove_dir(lab);
    free(lab->only);
    free(lab);
}
