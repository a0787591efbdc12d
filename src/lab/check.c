/* check.c - `hilt lab --check`: run the real `hilt probe --json` against every
 * scenario of a running lab, a few at a time, and judge each answer against
 * the scenario's expectation. Probes are separate processes (posix_spawn of
 * the same binary), so a probe that crashes or hangs costs one row, not the
 * lab; each is bounded in time and in how much output is kept.
 */
#include "lab/lab_int.h"

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define CHECK_OUT_MAX (1u << 20) /* a probe's JSON report */
#define CHECK_ERR_MAX 4096       /* the start of its stderr, for the detail column */
#define CHECK_ARGS_MAX 32
#define CHECK_JOBS_MAX 16

static void finding_label(const struct hilt_lab_expect *x, int ok, const char *code,
                          int finding_present, char *out, size_t cap)
{
    if (!ok)
        snprintf(out, cap, "%s", code ? code : "(no diagnosis)");
    else if (x->finding && finding_present)
        snprintf(out, cap, "ok + %s", x->finding);
    else
        snprintf(out, cap, "ok");
}

void hilt_lab_judge(const struct hilt_lab_scenario *sc, const json_t *j, struct hilt_lab_result *r)
{
    const struct hilt_lab_expect *x = &sc->expect;
    r->sc = sc;
    finding_label(x, x->ok, x->code, 1, r->expected, sizeof(r->expected));
    r->pass = 0;
    if (!json_is_object(j)) {
        snprintf(r->got, sizeof(r->got), "-");
        if (!r->detail[0]) snprintf(r->detail, sizeof(r->detail), "the probe printed no JSON");
        return;
    }
    int ok = json_is_true(json_object_get(j, "ok"));
    const json_t *diag = json_object_get(j, "diagnosis");
    const char *code =
        json_is_object(diag) ? json_string_value(json_object_get(diag, "code")) : NULL;
    int present = 0;
    const json_t *fs = json_object_get(j, "findings");
    for (size_t i = 0; x->finding && i < json_array_size(fs); i++) {
        const char *c = json_string_value(json_object_get(json_array_get(fs, i), "code"));
        if (c && !strcmp(c, x->finding)) present = 1;
    }
    finding_label(x, ok, code, present, r->got, sizeof(r->got));
    if (ok && code) snprintf(r->got, sizeof(r->got), "ok? (%s)", code); /* contradictory report */
    int same_code = (!code && !x->code) || (code && x->code && !strcmp(code, x->code));
    r->pass = ok == x->ok && same_code && (!x->finding || present);
    if (!r->pass && x->finding && !present && ok == x->ok && same_code)
        snprintf(r->detail, sizeof(r->detail), "the %s finding is missing", x->finding);
    else if (r->pass)
        r->detail[0] = '\0';
}

struct job {
    size_t idx; /* into the result array */
    pid_t pid;
    int out_fd, err_fd;
    struct hilt_buf out, err;
    uint64_t started, deadline;
    int killed;
};

static void job_close(struct job *j)
{
    if (j->out_fd >= 0) close(j->out_fd);
    if (j->err_fd >= 0) close(j->err_fd);
    j->out_fd = j->err_fd = -1;
    hilt_buf_free(&j->out);
    hilt_buf_free(&j->err);
}

static int spawn_probe(const char *exe, const struct hilt_lab *lab,
                       const struct hilt_lab_scenario *sc, struct job *j, struct hilt_err *e)
{
    struct hilt_lab_opts one = {.base_port = lab->opts.base_port, .only = &sc->name, .nonly = 1};
    json_t *list = hilt_lab_list_json(&one, lab->dir);
    json_t *args = json_object_get(json_array_get(list, 0), "args");
    char *argv[CHECK_ARGS_MAX + 4];
    size_t n = 0;
    argv[n++] = "hilt";
    argv[n++] = "probe";
    argv[n++] = "--json";
    for (size_t i = 0; i < json_array_size(args) && n < CHECK_ARGS_MAX + 3; i++)
        argv[n++] = (char *)json_string_value(json_array_get(args, i));
    argv[n] = NULL;

    int out[2] = {-1, -1}, err[2] = {-1, -1}, rc = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        hilt_err_set(e, HILT_E_RUNTIME, errno, "pipe: %s", strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    /* The lab ignores SIGPIPE; a probe starts with the default. */
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
    int sr = posix_spawn(&j->pid, exe, &fa, &at, argv, environ);
    if (sr != 0) {
        hilt_err_set(e, HILT_E_RUNTIME, sr, "cannot run %s probe: %s", exe, strerror(sr));
        goto out;
    }
    j->out_fd = out[0];
    j->err_fd = err[0];
    out[0] = err[0] = -1;
    fcntl(j->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(j->err_fd, F_SETFL, O_NONBLOCK);
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0) close(out[i]);
        if (err[i] >= 0) close(err[i]);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    json_decref(list);
    return rc;
}

/* Read what is there; returns 1 at EOF. Output past the limit is dropped. */
static int drain(int *fd, struct hilt_buf *b)
{
    char tmp[8192];
    for (;;) {
        ssize_t k = read(*fd, tmp, sizeof(tmp));
        if (k > 0) {
            size_t room = b->max - b->len;
            hilt_buf_add(b, tmp, (size_t)k < room ? (size_t)k : room);
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
        close(*fd);
        *fd = -1;
        return 1;
    }
}

static void finish(struct job *j, struct hilt_lab_result *r)
{
    int status = 0;
    while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR) {
    }
    r->us = hilt_mono_us() - j->started;
    r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    json_t *js = NULL;
    if (j->out.len) js = hilt_json_parse(j->out.data, j->out.len, "probe output", NULL);
    r->detail[0] = '\0';
    if (j->killed) {
        snprintf(r->detail, sizeof(r->detail), "the probe did not finish in time and was killed");
    } else if (!js) {
        /* First line of stderr says why (usage error, crash, not implemented). */
        const char *m = j->err.len ? hilt_buf_cstr(&j->err) : "";
        int len = (int)strcspn(m, "\n");
        if (len > 180) len = 180;
        if (WIFSIGNALED(status))
            snprintf(r->detail, sizeof(r->detail), "the probe died of signal %d%s%.*s",
                     WTERMSIG(status), len ? ": " : "", len, m);
        else
            snprintf(r->detail, sizeof(r->detail), "the probe exited %d without JSON%s%.*s",
                     r->exit_code, len ? ": " : "", len, m);
    }
    hilt_lab_judge(r->sc, js, r);
    json_decref(js);
}

int hilt_lab_check(struct hilt_lab *lab, const char *exe, int jobs, int timeout_ms,
                   hilt_lab_progress_fn progress, void *arg, struct hilt_lab_result **out,
                   size_t *nout, struct hilt_err *e)
{
    if (jobs < 1) jobs = 1;
    if (jobs > CHECK_JOBS_MAX) jobs = CHECK_JOBS_MAX;
    size_t total = lab->nsrv, next = 0, done = 0;
    int failures = 0;
    struct hilt_lab_result *res = calloc(total ? total : 1, sizeof(*res));
    struct job js[CHECK_JOBS_MAX];
    if (!res) return hilt_err_set(e, HILT_E_RUNTIME, ENOMEM, "out of memory");
    for (int k = 0; k < jobs; k++)
        js[k].pid = 0;

    while (done < total) {
        /* Fill free slots. */
        for (int k = 0; k < jobs && next < total; k++) {
            if (js[k].pid) continue;
            struct job *j = &js[k];
            memset(j, 0, sizeof(*j));
            j->out_fd = j->err_fd = -1;
            j->idx = next;
            hilt_buf_init(&j->out, CHECK_OUT_MAX);
            hilt_buf_init(&j->err, CHECK_ERR_MAX);
            res[next].sc = &lab->srv[next].row->pub;
            j->started = hilt_mono_us();
            j->deadline = j->started + (uint64_t)timeout_ms * 1000;
            if (spawn_probe(exe, lab, res[next].sc, j, e) < 0) {
                job_close(j);
                j->pid = 0;
                goto fail;
            }
            next++;
        }
        /* Wait for output from any running probe. */
        struct pollfd pfd[2 * CHECK_JOBS_MAX];
        int np = 0;
        for (int k = 0; k < jobs; k++) {
            if (!js[k].pid) continue;
            if (js[k].out_fd >= 0) pfd[np++] = (struct pollfd){js[k].out_fd, POLLIN, 0};
            if (js[k].err_fd >= 0) pfd[np++] = (struct pollfd){js[k].err_fd, POLLIN, 0};
        }
        if (np) poll(pfd, (nfds_t)np, 100);
        uint64_t now = hilt_mono_us();
        for (int k = 0; k < jobs; k++) {
            struct job *j = &js[k];
            if (!j->pid) continue;
            if (j->out_fd >= 0) drain(&j->out_fd, &j->out);
            if (j->err_fd >= 0) drain(&j->err_fd, &j->err);
            if (!j->killed && now > j->deadline) {
                kill(j->pid, SIGKILL);
                j->killed = 1;
            }
            if (j->out_fd >= 0 || j->err_fd >= 0) continue;
            finish(j, &res[j->idx]);
            failures += !res[j->idx].pass;
            done++;
            if (progress) progress(arg, &res[j->idx], done, total);
            job_close(j);
            j->pid = 0;
        }
    }
    *out = res;
    *nout = total;
    return failures;
fail:
    for (int k = 0; k < jobs; k++) {
        if (!js[k].pid) continue;
        kill(js[k].pid, SIGKILL);
        while (waitpid(js[k].pid, NULL, 0) < 0 && errno == EINTR) {
        }
        job_close(&js[k]);
    }
    free(res);
    return -1;
}
