/* test_proc.c - hilt_shell_run(): exit status and output tail, stdin and
 * environment, a command that ignores a large input, the deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/clock.h"
#include "core/proc.h"

#include <stdlib.h>
#include <string.h>

static void exit_zero_and_failure_tail(void **st)
{
    (void)st;
    char err[600] = "";
    struct hilt_shell_run r = {
        .what = "reload command", .cmd = "true", .capture = 1, .timeout_ms = 5000};
    assert_int_equal(hilt_shell_run(&r, err, sizeof(err)), 0);
    r.cmd = "echo first; echo 'nginx said no' >&2; exit 3";
    assert_int_equal(hilt_shell_run(&r, err, sizeof(err)), -1);
    assert_string_equal(err, "reload command exited 3: first nginx said no");
    r.cmd = "kill -9 $$";
    assert_int_equal(hilt_shell_run(&r, err, sizeof(err)), -1);
    assert_string_equal(err, "reload command killed by signal 9");
}

static void input_and_environment(void **st)
{
    (void)st;
    char err[600] = "";
    const char *env[] = {"HILT_TEST_A=alpha beta", NULL};
    struct hilt_shell_run r = {.what = "notify command",
                               .cmd = "read line; test \"$line\" = '{\"x\":1}' && "
                                      "test \"$HILT_TEST_A\" = 'alpha beta'",
                               .input = "{\"x\":1}\n",
                               .env = env,
                               .capture = 1,
                               .timeout_ms = 5000};
    assert_int_equal(hilt_shell_run(&r, err, sizeof(err)), 0);
    /* the environment is the child's only */
    assert_null(getenv("HILT_TEST_A"));
}

static void unread_input_and_much_output(void **st)
{
    (void)st;
    char err[600] = "";
    size_t n = 4u << 20; /* more than any pipe holds */
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    /* reads nothing, writes a lot, then fails: no deadlock, the tail kept */
    struct hilt_shell_run r = {
        .what = "notify command",
        .cmd = "head -c 3000000 /dev/zero | tr '\\0' y; echo; echo last; exit 5",
        .input = big,
        .capture = 1,
        .timeout_ms = 10000};
    assert_int_equal(hilt_shell_run(&r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "notify command exited 5: "));
    assert_non_null(strstr(err, " last"));
    free(big);
}

static void deadline(void **st)
{
    (void)st;
    char err[600] = "";
    struct hilt_shell_run r = {.what = "reload command", .cmd = "sleep 30", .timeout_ms = 300};
    uint64_t t0 = hilt_mono_us();
    assert_int_equal(hilt_shell_run(&r, err, sizeof(err)), -1);
    assert_true(hilt_mono_us() - t0 < 3000000);
    assert_string_equal(err, "reload command did not finish within 300 ms");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exit_zero_and_failure_tail),
        cmocka_unit_test(input_and_environment),
        cmocka_unit_test(unread_input_and_much_output),
        cmocka_unit_test(deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
