/* proc.c - see proc.h. */
#include "core/proc.h"

#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TAIL_MAX 2048

static void fmt_deadline(char *out, size_t cap, int ms)
{
    if (ms % 1000 == 0)
        snprintf(out, cap, "%d s", ms / 1000);
    else
        snprintf(out, cap, "%d ms", ms);
}

int hilt_shell_run(const struct hilt_shell_run *r, char *err, size_t cap)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if ((r->input && pipe(in) < 0) || (r->capture && pipe(out) < 0)) {
        snprintf(err, cap, "%s: pipe: %s", r->what, strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0) close(in[i]);
            if (out[i] >= 0) close(out[i]);
        }
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, cap, "%s: fork: %s", r->what, strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0) close(in[i]);
            if (out[i] >= 0) close(out[i]);
        }
        return -1;
    }
    if (pid == 0) {
        if (r->input) {
            dup2(in[0], 0);
            close(in[0]);
            close(in[1]);
        } else {
            int devnull = open("/dev/null", O_RDONLY);
            if (devnull >= 0) dup2(devnull, 0);
        }
        if (r->capture) {
            dup2(out[1], 1);
            dup2(out[1], 2);
            close(out[0]);
            close(out[1]);
        }
        for (const char *const *e = r->env; e && *e; e++)
            putenv((char *)*e);
        signal(SIGPIPE, SIG_DFL);
        execl("/bin/sh", "sh", "-c", r->cmd, (char *)NULL);
        _exit(127);
    }
    /* Feed stdin and drain the output together, so neither side can block
     * the other, until both are done or the deadline passes. */
    if (r->input) close(in[0]);
    if (r->capture) close(out[1]);
    int wfd = r->input ? in[1] : -1, rfd = r->capture ? out[0] : -1;
    if (wfd >= 0) fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK);
    size_t ilen = r->input ? strlen(r->input) : 0, ioff = 0;
    char tail[TAIL_MAX];
    size_t n = 0;
    uint64_t deadline = hilt_mono_us() + (uint64_t)r->timeout_ms * 1000;
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    while (wfd >= 0 || rfd >= 0) {
        uint64_t now = hilt_mono_us();
        if (now >= deadline) break;
        struct pollfd p[2];
        int np = 0, wi = -1, ri = -1;
        if (wfd >= 0) wi = np, p[np++] = (struct pollfd){wfd, POLLOUT, 0};
        if (rfd >= 0) ri = np, p[np++] = (struct pollfd){rfd, POLLIN, 0};
        int pr = poll(p, (nfds_t)np, (int)((deadline - now) / 1000 + 1));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) break;
        if (wi >= 0 && p[wi].revents) {
            ssize_t w = write(wfd, r->input + ioff, ilen - ioff);
            if (w > 0) ioff += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || ioff == ilen) {
                close(wfd); /* done, or the command stopped reading: not an error */
                wfd = -1;
            }
        }
        if (ri >= 0 && p[ri].revents) {
            char buf[512];
            ssize_t k = read(rfd, buf, sizeof(buf));
            if (k <= 0) {
                if (k < 0 && errno == EINTR) continue;
                close(rfd);
                rfd = -1;
                continue;
            }
            for (ssize_t i = 0; i < k; i++) {
                if (n == sizeof(tail) - 1) memmove(tail, tail + 512, (n -= 512));
                tail[n++] = buf[i];
            }
        }
    }
    signal(SIGPIPE, old_pipe);
    if (wfd >= 0) close(wfd);
    if (rfd >= 0) close(rfd);
    tail[n] = '\0';
    int status = 0;
    pid_t w;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && hilt_mono_us() < deadline)
        usleep(5000);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        char d[32];
        fmt_deadline(d, sizeof(d), r->timeout_ms);
        snprintf(err, cap, "%s did not finish within %s", r->what, d);
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    while (n && (tail[n - 1] == '\n' || tail[n - 1] == ' '))
        tail[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (tail[i] == '\n') tail[i] = ' ';
    const char *t = n > 400 ? tail + n - 400 : tail; /* the end says most */
    if (WIFEXITED(status))
        snprintf(err, cap, "%s exited %d%s%s%s", r->what, WEXITSTATUS(status), n ? ": " : "",
                 n > 400 ? "..." : "", t);
    else
        snprintf(err, cap, "%s killed by signal %d", r->what, WTERMSIG(status));
    return -1;
}
