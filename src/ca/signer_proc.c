/* signer_proc.c - the signer process: CA private keys never live in the
 * memory of a network-facing process (DESIGN.md).
 *
 * The parent forks a child (and, with exec_path, re-execs itself as `hilt
 * ca signer-child`, so the child shares no memory with the parent at all).
 * Only the child opens the key reference (a file or a PKCS#11 token); it
 * drops privileges when it can, and answers requests of ca/sigproto.h on a
 * socketpair. The parent holds a public-key shell: an EC_KEY / RSA whose
 * method forwards the digest to the child, the mechanism OpenSSL's engines
 * (and the PKCS#11 signer) use, so X509_sign, X509_CRL_sign and
 * OCSP_basic_sign work unchanged. The legacy key-method API is deprecated in
 * OpenSSL 3 but is the only way to give an EVP_PKEY a remote private
 * operation without writing a provider; it is confined to this file.
 *
 * Failure is loud and bounded: every exchange has a deadline; a child that
 * dies, closes or misses the deadline (it is then killed, so a late answer
 * can never be taken for the next one) fails this and every later request
 * with a message naming what happened. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "ca/signer.h"

#include "ca/sigproto.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "x509/key.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 10000

struct proc {
    int fd;
    pid_t pid;
    int timeout_ms;
    int dead;
    char why[300]; /* why the child is gone, once dead */
    EVP_PKEY *shell;
    EC_KEY_METHOD *ec_meth;
    RSA_METHOD *rsa_meth;
    pthread_mutex_t mu;
    struct hilt_buf out, in;
};

/* ---- I/O with deadlines ---------------------------------------------------- */

static int io_wait(int fd, short ev, uint64_t deadline)
{
    for (;;) {
        uint64_t now = hilt_mono_us();
        if (now >= deadline) return 0;
        struct pollfd p = {fd, ev, 0};
        int r = poll(&p, 1, (int)((deadline - now + 999) / 1000));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) return 0;
        return 1;
    }
}

/* 0 done, -1 error/EOF (errno, 0 for EOF), -2 deadline. */
static int write_all(int fd, const uint8_t *p, size_t n, uint64_t deadline)
{
    while (n) {
        int w = io_wait(fd, POLLOUT, deadline);
        if (w == 0) return -2;
        if (w < 0) return -1;
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int read_all(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
    while (n) {
        int w = io_wait(fd, POLLIN, deadline);
        if (w == 0) return -2;
        if (w < 0) return -1;
        ssize_t k = recv(fd, p, n, MSG_DONTWAIT);
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (k == 0) errno = 0;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Read one frame body into b (reset first). Same returns as read_all. */
static int read_frame(int fd, struct hilt_buf *b, uint64_t deadline)
{
    uint8_t h[4];
    int rc = read_all(fd, h, 4, deadline);
    if (rc < 0) return rc;
    size_t n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
    if (n == 0 || n > HILT_SIGPROTO_FRAME_MAX) {
        errno = EPROTO;
        return -1;
    }
    hilt_buf_reset(b);
    uint8_t *p = hilt_buf_reserve(b, n);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    if ((rc = read_all(fd, p, n, deadline)) < 0) return rc;
    hilt_buf_commit(b, n);
    return 0;
}

/* ---- the parent's side ------------------------------------------------------- */

static void mark_dead(struct proc *p, int rc, const char *when)
{
    if (p->dead) return;
    p->dead = 1;
    int status = 0;
    pid_t w = 0;
    if (rc == -2) {
        /* Missed the deadline: a late answer must never be read as the
         * answer to the next request, so the child goes. */
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
        snprintf(p->why, sizeof(p->why),
                 "signer process %d did not answer %s within %d ms and was killed", (int)p->pid,
                 when, p->timeout_ms);
        return;
    }
    /* Give an exiting child a moment to be reapable, so the message can
     * say how it ended. */
    for (int i = 0; i < 50 && (w = waitpid(p->pid, &status, WNOHANG)) == 0; i++)
        usleep(2000);
    if (w == p->pid && WIFSIGNALED(status))
        snprintf(p->why, sizeof(p->why), "signer process %d was killed by signal %d (%s)",
                 (int)p->pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (w == p->pid && WIFEXITED(status))
        snprintf(p->why, sizeof(p->why), "signer process %d exited with status %d", (int)p->pid,
                 WEXITSTATUS(status));
    else
        snprintf(p->why, sizeof(p->why), "signer process %d closed its channel (%s)", (int)p->pid,
                 errno ? strerror(errno) : "end of file");
    if (w != p->pid) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
    }
}

/* One request/response exchange; the response body is left in p->in. */
static int exchange(struct proc *p, const char *what, struct hilt_err *e)
{
    if (p->dead) return hilt_err_set(e, HILT_E_RUNTIME, 0, "%s; no signing possible", p->why);
    uint64_t deadline = hilt_mono_us() + (uint64_t)p->timeout_ms * 1000;
    int rc = write_all(p->fd, p->out.data, p->out.len, deadline);
    if (rc == 0) rc = read_frame(p->fd, &p->in, deadline);
    if (rc < 0) {
        mark_dead(p, rc, what);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "%s", p->why);
    }
    return 0;
}

static int proc_sign_digests(void *impl, int md_nid, const uint8_t *dgst, size_t dlen, size_t n,
                             uint8_t *sigs, size_t *lens, struct hilt_err *e)
{
    struct proc *p = impl;
    int md = hilt_sigproto_md_from_nid(md_nid);
    if (!md || dlen != hilt_sigproto_md_size(md))
        return hilt_err_set(e, HILT_E_USAGE, 0, "the signer process signs SHA-2 digests only");
    int rc = 0;
    pthread_mutex_lock(&p->mu);
    for (size_t off = 0; off < n && rc == 0; off += HILT_SIGPROTO_BATCH_MAX) {
        size_t k = n - off < HILT_SIGPROTO_BATCH_MAX ? n - off : HILT_SIGPROTO_BATCH_MAX;
        if (hilt_sigproto_req_encode(&p->out, HILT_SIGOP_SIGN, md, dgst + off * dlen, k, dlen) <
            0) {
            rc = hilt_err_set(e, HILT_E_RUNTIME, 0, "cannot encode a signer request");
            break;
        }
        if ((rc = exchange(p, "a signing request", e)) < 0) break;
        rc = hilt_sigproto_sign_resp_parse(p->in.data, p->in.len, k, sigs + off * HILT_SIG_MAX,
                                           lens + off, e);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

static int ex_index = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static void ex_init(void)
{
    ex_index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_EC_KEY, 0, NULL, NULL, NULL, NULL);
}
static int rsa_ex_index = -1;
static pthread_once_t rsa_ex_once = PTHREAD_ONCE_INIT;
static void rsa_ex_init(void)
{
    rsa_ex_index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_RSA, 0, NULL, NULL, NULL, NULL);
}

/* One digest through the child; md from the digest's size (ECDSA does not
 * depend on it) or from the RSA DigestInfo type. */
static int remote_one(struct proc *p, int nid, const unsigned char *d, size_t dl,
                      unsigned char *sig, unsigned int *siglen, size_t cap)
{
    uint8_t out[HILT_SIG_MAX];
    size_t len = 0;
    struct hilt_err e = {0};
    if (proc_sign_digests(p, nid, d, dl, 1, out, &len, &e) < 0) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "%s", e.msg);
        return 0;
    }
    if (len > cap) return 0;
    memcpy(sig, out, len);
    *siglen = (unsigned int)len;
    return 1;
}

static int nid_for_len(int dlen)
{
    return dlen == 48 ? NID_sha384 : dlen == 64 ? NID_sha512 : NID_sha256;
}

static int ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig,
                   unsigned int *siglen, const BIGNUM *kinv, const BIGNUM *r, EC_KEY *ec)
{
    (void)type;
    (void)kinv;
    (void)r;
    struct proc *p = EC_KEY_get_ex_data(ec, ex_index);
    int cap = ECDSA_size(ec);
    if (!p || dlen <= 0 || cap <= 0) return 0;
    return remote_one(p, nid_for_len(dlen), dgst, (size_t)dlen, sig, siglen, (size_t)cap);
}

static ECDSA_SIG *ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
                              const BIGNUM *r, EC_KEY *ec)
{
    unsigned char buf[HILT_SIG_MAX];
    unsigned int len = 0;
    if (!ec_sign(0, dgst, dlen, buf, &len, kinv, r, ec)) return NULL;
    const unsigned char *q = buf;
    return d2i_ECDSA_SIG(NULL, &q, (long)len);
}

static int rsa_sign(int type, const unsigned char *m, unsigned int mlen, unsigned char *sig,
                    unsigned int *siglen, const RSA *rsa)
{
    struct proc *p = RSA_get_ex_data(rsa, rsa_ex_index);
    if (!p || !hilt_sigproto_md_from_nid(type)) return 0;
    return remote_one(p, type, m, mlen, sig, siglen, (size_t)RSA_size(rsa));
}

/* The public-key shell: the child's public key, with private operations
 * forwarded. */
static EVP_PKEY *make_shell(struct proc *p, const uint8_t *spki, size_t len, struct hilt_err *e)
{
    const unsigned char *q = spki;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &q, (long)len), *shell = NULL;
    if (!pub) {
        hilt_err_ossl(e, HILT_E_RUNTIME, "signer: the child's public key does not parse");
        return NULL;
    }
    if (EVP_PKEY_is_a(pub, "EC")) {
        pthread_once(&ex_once, ex_init);
        EC_KEY *ec = EVP_PKEY_get1_EC_KEY(pub);
        p->ec_meth = EC_KEY_METHOD_new(EC_KEY_get_default_method());
        if (!ec || !p->ec_meth) goto ec_fail;
        EC_KEY_METHOD_set_sign(p->ec_meth, ec_sign, NULL, ec_sign_sig);
        if (!EC_KEY_set_method(ec, p->ec_meth) || !EC_KEY_set_ex_data(ec, ex_index, p) ||
            !(shell = EVP_PKEY_new()) || !EVP_PKEY_assign_EC_KEY(shell, ec))
            goto ec_fail;
        goto out;
    ec_fail:
        EC_KEY_free(ec);
        EVP_PKEY_free(shell);
        shell = NULL;
    } else if (EVP_PKEY_is_a(pub, "RSA")) {
        pthread_once(&rsa_ex_once, rsa_ex_init);
        RSA *rsa = EVP_PKEY_get1_RSA(pub);
        p->rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL());
        if (!rsa || !p->rsa_meth || !RSA_meth_set1_name(p->rsa_meth, "hilt signer process") ||
            !RSA_meth_set_sign(p->rsa_meth, rsa_sign) || !RSA_set_method(rsa, p->rsa_meth) ||
            !RSA_set_ex_data(rsa, rsa_ex_index, p) || !(shell = EVP_PKEY_new()) ||
            !EVP_PKEY_assign_RSA(shell, rsa)) {
            RSA_free(rsa);
            EVP_PKEY_free(shell);
            shell = NULL;
        }
    } else {
        hilt_err_set(e, HILT_E_INPUT, 0, "the signer process supports EC and RSA CA keys only");
        EVP_PKEY_free(pub);
        return NULL;
    }
out:
    EVP_PKEY_free(pub);
    if (!shell) hilt_err_ossl(e, HILT_E_RUNTIME, "signer: cannot build the public-key shell");
    return shell;
}

static EVP_PKEY *proc_key(void *impl)
{
    return ((struct proc *)impl)->shell;
}

static void proc_close(void *impl)
{
    struct proc *p = impl;
    if (!p) return;
    EVP_PKEY_free(p->shell);      /* before the methods it points to */
    if (p->fd >= 0) close(p->fd); /* the child sees EOF and exits */
    if (p->pid > 0 && !p->dead) {
        int status;
        pid_t w = 0;
        for (int i = 0; i < 250 && (w = waitpid(p->pid, &status, WNOHANG)) == 0; i++)
            usleep(2000);
        if (w != p->pid) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
        }
    }
    if (p->ec_meth) EC_KEY_METHOD_free(p->ec_meth); /* not NULL-safe in 3.0 */
    RSA_meth_free(p->rsa_meth);
    hilt_buf_free(&p->out);
    hilt_buf_free(&p->in);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static const struct hilt_signer_ops proc_ops = {"process", proc_key, proc_close, proc_sign_digests};

pid_t hilt_signer_pid(const struct hilt_ca_signer *s)
{
    if (!s || s->ops != &proc_ops) return -1;
    return ((const struct proc *)s->impl)->pid;
}

int hilt_signer_alive(const struct hilt_ca_signer *s)
{
    pid_t pid = hilt_signer_pid(s);
    if (pid <= 0) return 1;
    char p[64], st[512];
    snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    size_t n = fread(st, 1, sizeof(st) - 1, f);
    fclose(f);
    st[n] = '\0';
    const char *rp = strrchr(st, ')'); /* the state follows the command name */
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

int hilt_signer_open_process(const char *ref, const char *home,
                             const struct hilt_signer_proc_opts *o, struct hilt_ca_signer **out,
                             struct hilt_err *e)
{
    *out = NULL;
    struct hilt_signer_proc_opts dflt = {0};
    if (!o) o = &dflt;
    if (strncmp(ref, "file:", 5) && strncmp(ref, "pkcs11:", 7))
        return hilt_err_set(e, HILT_E_INPUT, 0,
                            "unknown key reference '%.40s' (expected file:PATH or pkcs11:URI)",
                            ref);
    struct proc *p = calloc(1, sizeof(*p));
    if (!p) return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    p->fd = -1;
    p->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    pthread_mutex_init(&p->mu, NULL);
    hilt_buf_init(&p->out, HILT_SIGPROTO_FRAME_MAX + 8);
    hilt_buf_init(&p->in, HILT_SIGPROTO_FRAME_MAX + 8);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        hilt_err_set(e, HILT_E_RUNTIME, errno, "socketpair: %s", strerror(errno));
        proc_close(p);
        return -1;
    }
    const char *run_as = o->run_as ? o->run_as : "nobody";
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        hilt_err_set(e, HILT_E_RUNTIME, errno, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        proc_close(p);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        if (o->exec_path) {
            /* A fresh image: the child shares nothing with the parent. */
            if (dup2(sv[1], 3) < 0) _exit(121);
            close_range(4, ~0U, 0);
            char *argv[] = {"hilt",      "ca",         "signer-child", "3",
                            (char *)ref, (char *)home, (char *)run_as, NULL};
            execv(o->exec_path, argv);
            _exit(122);
        }
        /* Fork only: keep stdin/out/err and the channel, nothing else. */
        if (sv[1] > 3) close_range(3, (unsigned)sv[1] - 1, 0);
        close_range((unsigned)sv[1] + 1, ~0U, 0);
        _exit(hilt_signer_child_main(sv[1], ref, home, run_as));
    }
    close(sv[1]);
    p->fd = sv[0];
    p->pid = pid;
    struct hilt_ca_signer *s = calloc(1, sizeof(*s));
    if (!s) {
        proc_close(p);
        return hilt_err_set(e, HILT_E_RUNTIME, 0, "out of memory");
    }
    s->ops = &proc_ops;
    s->impl = p;
    /* HELLO: the child has loaded the key (or says why not) and sends the
     * public key the shell is built from. */
    const uint8_t *spki;
    size_t spki_len;
    char desc[64];
    if (hilt_sigproto_req_encode(&p->out, HILT_SIGOP_HELLO, 0, NULL, 0, 0) < 0 ||
        exchange(p, "its first request", e) < 0 ||
        hilt_sigproto_hello_resp_parse(p->in.data, p->in.len, &spki, &spki_len, desc, sizeof(desc),
                                       e) < 0 ||
        !(p->shell = make_shell(p, spki, spki_len, e))) {
        hilt_signer_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* ---- the child's side ------------------------------------------------------- */

static int send_frame(int fd, struct hilt_buf *b)
{
    return write_all(fd, b->data, b->len, hilt_mono_us() + 60ull * 1000000);
}

static int reply_error(int fd, struct hilt_buf *b, const char *msg)
{
    if (hilt_sigproto_err_encode(b, msg) < 0) return -1;
    return send_frame(fd, b);
}

static void drop_privileges(const char *ref, const char *run_as, char *why, size_t cap)
{
    why[0] = '\0';
    if (geteuid() != 0 || !run_as || !*run_as) return;
    /* A PKCS#11 module may open its token files again; keep its rights. */
    if (strncmp(ref, "file:", 5)) return;
    struct passwd *pw = getpwnam(run_as);
    if (!pw) {
        snprintf(why, cap, "cannot drop privileges: no user '%s'", run_as);
        return;
    }
    if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
        snprintf(why, cap, "cannot drop privileges to '%s': %s", run_as, strerror(errno));
}

int hilt_signer_child_main(int fd, const char *ref, const char *home, const char *run_as)
{
    /* Die with the parent; no core dumps or ptrace of the key holder. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_DUMPABLE, 0);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    struct hilt_buf in, out;
    hilt_buf_init(&in, HILT_SIGPROTO_FRAME_MAX + 8);
    hilt_buf_init(&out, HILT_SIGPROTO_FRAME_MAX + 8);
    struct hilt_err e = {0};
    struct hilt_ca_signer *s = NULL;
    char drop_err[300] = "";
    int load = hilt_signer_open(ref, home, &s, &e);
    if (load == 0) drop_privileges(ref, run_as, drop_err, sizeof(drop_err));
    uint8_t *sigs = malloc((size_t)HILT_SIGPROTO_BATCH_MAX * HILT_SIG_MAX);
    size_t lens[HILT_SIGPROTO_BATCH_MAX];
    int status = 0;
    for (;;) {
        /* No deadline on waiting for the next request; EOF ends the child. */
        if (read_frame(fd, &in, UINT64_MAX) < 0) break;
        struct hilt_sigproto_req req;
        struct hilt_err pe = {0};
        if (hilt_sigproto_req_parse(in.data, in.len, &req, &pe) < 0) {
            reply_error(fd, &out, pe.msg); /* and stop: the stream may be out of step */
            status = 2;
            break;
        }
        if (load < 0 || drop_err[0] || !sigs) {
            reply_error(fd, &out, load < 0 ? e.msg : drop_err[0] ? drop_err : "out of memory");
            continue;
        }
        hilt_buf_reset(&out);
        int ok = 0;
        if (req.op == HILT_SIGOP_HELLO) {
            EVP_PKEY *k = hilt_signer_key(s);
            unsigned char *spki = NULL;
            int sl = i2d_PUBKEY(k, &spki);
            char desc[64];
            hilt_key_describe(k, desc, sizeof(desc));
            size_t dl = strlen(desc);
            ok = sl > 0 && sl <= HILT_SPKI_MAX && hilt_buf_add(&out, "\0\0\0\0", 4) == 0 &&
                 hilt_buf_add_u8(&out, 0) == 0 && hilt_buf_add_u16(&out, (uint16_t)sl) == 0 &&
                 hilt_buf_add(&out, spki, (size_t)sl) == 0 &&
                 hilt_buf_add_u8(&out, (uint8_t)dl) == 0 && hilt_buf_add(&out, desc, dl) == 0;
            OPENSSL_free(spki);
            if (!ok) {
                reply_error(fd, &out, "cannot encode the public key");
                continue;
            }
        } else {
            const char *mdn = hilt_sigproto_md_name(req.md);
            struct hilt_err se = {0};
            if (hilt_signer_sign_digests(s, OBJ_sn2nid(mdn), req.digests, req.dlen, req.count, sigs,
                                         lens, &se) < 0) {
                reply_error(fd, &out, se.msg);
                continue;
            }
            ok = hilt_buf_add(&out, "\0\0\0\0", 4) == 0 && hilt_buf_add_u8(&out, 0) == 0 &&
                 hilt_buf_add_u16(&out, (uint16_t)req.count) == 0;
            for (size_t i = 0; ok && i < req.count; i++)
                ok = hilt_buf_add_u16(&out, (uint16_t)lens[i]) == 0 &&
                     hilt_buf_add(&out, sigs + i * HILT_SIG_MAX, lens[i]) == 0;
            if (!ok) {
                reply_error(fd, &out, "response too large");
                continue;
            }
        }
        size_t n = out.len - 4;
        out.data[0] = (uint8_t)(n >> 24);
        out.data[1] = (uint8_t)(n >> 16);
        out.data[2] = (uint8_t)(n >> 8);
        out.data[3] = (uint8_t)n;
        if (send_frame(fd, &out) < 0) break;
    }
    if (sigs) OPENSSL_cleanse(sigs, (size_t)HILT_SIGPROTO_BATCH_MAX * HILT_SIG_MAX);
    free(sigs);
    hilt_signer_close(s);
    hilt_buf_free(&in);
    hilt_buf_free(&out);
    close(fd);
    return status;
}
