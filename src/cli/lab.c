/* lab.c - `hilt lab`: arguments in; the scenario list, the readiness line or
 * the --check table out. The lab itself lives in src/lab/. */
#include "cli/cli.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "lab/lab.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ONLY_MAX 256
#define CHECK_TIMEOUT_MS 60000 /* per probe; a sanitized build is slow */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hilt lab [--list] [--json] [--base-port N] [--only NAME[,NAME...]]...\n"
            "                [--dir DIR] [--check [--jobs N]] [NAME...]\n"
            "\n"
            "Start one deliberately broken TLS server per scenario on 127.0.0.1, each with its\n"
            "own freshly minted CA, and publish what `hilt probe` must say about it.\n"
            "\n"
            "  --list           print the scenarios (port, expected diagnosis, probe arguments)\n"
            "                   and start nothing\n"
            "  --json           machine output: the scenario list as a JSON array (with --list,\n"
            "                   and as one line once the lab is ready), or the --check results\n"
            "  --base-port N    scenario i listens on N+i; AIA and OCSP are served over HTTP on\n"
            "                   N+%d (default N = %d; the lab uses ports N to N+%d)\n"
            "  --only NAME      run only these scenarios (repeat, or separate with commas;\n"
            "                   names after the options count too)\n"
            "  --dir DIR        write DIR/NAME/ca.pem (and client.pem/client.key) there;\n"
            "                   default: a fresh directory under $TMPDIR, removed at exit\n"
            "  --check          start the lab, run `hilt probe --json` against every scenario,\n"
            "                   print scenario | expected | diagnosis | verdict, then stop;\n"
            "                   exit 0 when every diagnosis matches, 1 otherwise\n"
            "  --jobs N         probes run at the same time by --check (default 4)\n"
            "\n"
            "Without --list or --check the lab runs until SIGINT or SIGTERM.\n"
            "See docs/lab.md for each scenario and how to add one.\n",
            HILT_LAB_HTTP_OFFSET, HILT_LAB_DEFAULT_BASE, HILT_LAB_SPAN - 1);
}

struct names {
    char *buf[ONLY_MAX]; /* owned copies */
    const char *v[ONLY_MAX];
    size_t n;
};

/* Split "a,b,,c" into names; empty items are a usage error. */
static int add_names(struct names *nm, const char *arg)
{
    const char *p = arg;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0) return cli_usage("lab", "--only: empty scenario name in '%s'", arg);
        if (nm->n >= ONLY_MAX) return cli_usage("lab", "--only: too many names");
        char *s = strndup(p, len);
        if (!s) return cli_usage("lab", "out of memory");
        nm->buf[nm->n] = s;
        nm->v[nm->n++] = s;
        if (!p[len]) return 0;
        p += len + 1;
    }
}

static void names_free(struct names *nm)
{
    for (size_t i = 0; i < nm->n; i++)
        free(nm->buf[i]);
    nm->n = 0;
}

static const char *color(int on, const char *code)
{
    return on ? code : "";
}

static void print_list(const struct hilt_lab_opts *o, const char *dir)
{
    size_t n = 0;
    for (size_t i = 0; i < hilt_lab_count(); i++)
        n += hilt_lab_selected(o, i);
    printf("hilt lab: %zu scenarios on 127.0.0.1, scenario i on port %ld+i; AIA and OCSP over "
           "HTTP on 127.0.0.1:%ld\n",
           n, o->base_port, o->base_port + HILT_LAB_HTTP_OFFSET);
    if (!dir)
        printf("DIR is the lab's --dir (or the directory a running lab prints); pass the same "
               "--dir to both.\n");
    printf("\n");
    int c = cli_color();
    for (size_t i = 0; i < hilt_lab_count(); i++) {
        if (!hilt_lab_selected(o, i)) continue;
        const struct hilt_lab_scenario *sc = hilt_lab_at(i);
        char expect[80], args[8192];
        if (sc->expect.ok)
            snprintf(expect, sizeof(expect), sc->expect.finding ? "ok, with %s" : "ok",
                     sc->expect.finding);
        else
            snprintf(expect, sizeof(expect), "%s", sc->expect.code);
        hilt_lab_args_line(sc, o->base_port, dir, args, sizeof(args));
        printf("%s%-28s%s 127.0.0.1:%-6ld expect %s%s%s\n", color(c, "\033[1m"), sc->name,
               color(c, "\033[0m"), o->base_port + sc->offset, color(c, "\033[36m"), expect,
               color(c, "\033[0m"));
        printf("    %s\n    hilt probe %s\n", sc->description, args);
    }
}

struct progress {
    int on;
};

static void on_progress(void *arg, const struct hilt_lab_result *r, size_t done, size_t total)
{
    struct progress *p = arg;
    (void)r;
    if (!p->on) return;
    fprintf(stderr, "\r  probing... %zu/%zu done", done, total);
    if (done == total) fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

static int run_check(struct hilt_lab *lab, int json, int jobs, uint64_t t_start)
{
    struct hilt_err e = {0};
    struct hilt_lab_result *res = NULL;
    size_t n = 0;
    int c = cli_color();
    uint64_t t_ready = hilt_mono_us();
    long base = hilt_lab_base_port(lab);
    if (!json) {
        printf("hilt lab --check: each scenario below is a TLS server on 127.0.0.1 that is broken "
               "in one way;\n`hilt probe` must name that way. Lab ready in %.1f s, files in %s\n\n",
               (double)(t_ready - t_start) / 1e6, hilt_lab_dir(lab));
        fflush(stdout);
    }
    if (hilt_lab_start(lab, &e) < 0) return cli_fail("lab", &e);
    struct progress pg = {isatty(STDERR_FILENO) && c};
    int fails = hilt_lab_check(lab, "/proc/self/exe", jobs, CHECK_TIMEOUT_MS, on_progress, &pg,
                               &res, &n, &e);
    uint64_t t_done = hilt_mono_us();
    hilt_lab_stop(lab);
    if (fails < 0) return cli_fail("lab", &e);

    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(res[i].sc->name));
            json_object_set_new(o, "port", json_integer(base + res[i].sc->offset));
            json_object_set_new(o, "expected", json_string(res[i].expected));
            json_object_set_new(o, "got", hilt_json_str(res[i].got));
            json_object_set_new(o, "pass", json_boolean(res[i].pass));
            json_object_set_new(o, "exit_code", json_integer(res[i].exit_code));
            json_object_set_new(o, "detail",
                                res[i].detail[0] ? hilt_json_str(res[i].detail) : json_null());
            json_object_set_new(o, "ms", json_integer((json_int_t)(res[i].us / 1000)));
            json_array_append_new(arr, o);
        }
        json_t *top = json_object();
        json_object_set_new(top, "passed", json_integer((json_int_t)(n - (size_t)fails)));
        json_object_set_new(top, "failed", json_integer(fails));
        json_object_set_new(top, "wall_ms", json_integer((json_int_t)((t_done - t_ready) / 1000)));
        json_object_set_new(top, "results", arr);
        hilt_json_print(stdout, top, 1);
        json_decref(top);
    } else {
        printf("  %s%-28s %-26s %-26s %s%s\n", color(c, "\033[1m"), "SCENARIO", "EXPECTED",
               "DIAGNOSIS", "VERDICT", color(c, "\033[0m"));
        for (size_t i = 0; i < n; i++) {
            const struct hilt_lab_result *r = &res[i];
            printf("  %-28s %-26s %-26s %s%s%s\n", r->sc->name, r->expected, r->got,
                   color(c, r->pass ? "\033[32m" : "\033[1;31m"), r->pass ? "pass" : "FAIL",
                   color(c, "\033[0m"));
            if (!r->pass && r->detail[0])
                printf("  %s    %s%s\n", color(c, "\033[2m"), r->detail, color(c, "\033[0m"));
        }
        printf("\n%s%zu scenarios: %zu passed, %d failed%s in %.2f s (probes, wall time; %d at a "
               "time)\n",
               color(c, fails ? "\033[1;31m" : "\033[1;32m"), n, n - (size_t)fails, fails,
               color(c, "\033[0m"), (double)(t_done - t_ready) / 1e6, jobs);
    }
    free(res);
    return fails ? 1 : 0;
}

static int cmd_lab(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"list", no_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {"base-port", required_argument, NULL, 'p'},
        {"only", required_argument, NULL, 'o'},
        {"dir", required_argument, NULL, 'd'},
        {"check", no_argument, NULL, 'c'},
        {"jobs", required_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int list = 0, json = 0, check = 0, only_given = 0, rc = 2;
    long base = HILT_LAB_DEFAULT_BASE, jobs = 4;
    int base_given = 0;
    const char *dir = NULL;
    struct names nm = {0};
    char absdir[PATH_MAX + 8];
    uint64_t t_start = hilt_mono_us();

    opterr = 0;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, ":ljp:o:d:cJ:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            list = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'c':
            check = 1;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'p':
            if (cli_int("lab", "--base-port", optarg, 1, HILT_LAB_BASE_MAX, &base) < 0) goto out;
            base_given = 1;
            break;
        case 'J':
            if (cli_int("lab", "--jobs", optarg, 1, 16, &jobs) < 0) goto out;
            break;
        case 'o':
            only_given = 1;
            if (add_names(&nm, optarg) != 0) goto out;
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        case ':':
            rc = cli_usage("lab", "%s needs a value", argv[optind - 1]);
            goto out;
        default:
            rc = cli_usage("lab", "unknown option '%s'", argv[optind - 1]);
            goto out;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (add_names(&nm, argv[i]) != 0) goto out;
        only_given = 1;
    }
    if (list && check) {
        rc = cli_usage("lab", "--list and --check do not go together");
        goto out;
    }
    (void)only_given;

    struct hilt_lab_opts o = {.base_port = base, .dir = dir, .only = nm.v, .nonly = nm.n};
    struct hilt_err e = {0};
    if (hilt_lab_opts_check(&o, &e) < 0) {
        rc = cli_usage("lab", "%s", e.msg);
        goto out;
    }
    if (list) {
        /* Starts nothing and creates nothing: paths are where a lab with the
         * same --dir puts its files. */
        const char *shown = NULL;
        if (dir && realpath(dir, absdir)) {
            shown = absdir; /* as a running lab spells it */
        } else if (dir && dir[0] == '/') {
            shown = dir;
        } else if (dir) {
            while (dir[0] == '.' && dir[1] == '/')
                dir += 2;
            char cwd[2048];
            if (!getcwd(cwd, sizeof(cwd))) {
                rc = cli_usage("lab", "--dir %s: cannot resolve a relative path", dir);
                goto out;
            }
            snprintf(absdir, sizeof(absdir), "%s/%s", cwd, dir);
            shown = absdir;
        }
        if (json) {
            json_t *j = hilt_lab_list_json(&o, shown);
            hilt_json_print(stdout, j, 1);
            json_decref(j);
        } else {
            print_list(&o, shown);
        }
        rc = 0;
        goto out;
    }

    struct hilt_lab *lab = hilt_lab_new(&o, &e);
    /* --check only needs some free range: when the default one is busy (another
     * lab, a test suite), try others rather than fail `make demo`. */
    for (int tries = 0; !lab && check && !base_given && e.code == EADDRINUSE && tries < 20; tries++) {
        o.base_port = 20000 + (long)((hilt_mono_us() / 7 + (uint64_t)tries * 7919) % 120) * 100; /* below the ephemeral range */
        hilt_err_clear(&e);
        lab = hilt_lab_new(&o, &e);
    }
    if (!lab) {
        rc = cli_fail("lab", &e);
        goto out;
    }
    if (check) {
        rc = run_check(lab, json, (int)jobs, t_start);
        hilt_lab_free(lab);
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < hilt_lab_count(); i++)
        n += hilt_lab_selected(&o, i);
    FILE *human = json ? stderr : stdout;
    fprintf(human,
            "hilt lab: %zu scenarios on 127.0.0.1:%ld-%ld, AIA and OCSP on 127.0.0.1:%ld\n"
            "hilt lab: CA files under %s (scenario list: %s/lab.json)\n",
            n, base, base + HILT_LAB_SPAN - 1, base + HILT_LAB_HTTP_OFFSET, hilt_lab_dir(lab),
            hilt_lab_dir(lab));
    if (json) {
        json_t *j = hilt_lab_json(lab);
        hilt_json_print(stdout, j, 0);
        json_decref(j);
    }
    fprintf(human, "hilt lab: ready (try `hilt lab --list --dir %s`); Ctrl-C stops it\n",
            hilt_lab_dir(lab));
    fflush(stdout);
    fflush(stderr);
    hilt_lab_run(lab, 1);
    fprintf(stderr, "hilt lab: stopping\n");
    hilt_lab_free(lab);
    rc = 0;
out:
    names_free(&nm);
    return rc;
}
HILT_COMMAND(lab, cmd_lab, "start a local testbed of broken TLS servers (--check diagnoses it)",
             20);
