/*
 * tests-c/check.h: the small check framework of the C tests: CHECK macros,
 * per-group summaries, and expectations on the library's last error (code,
 * function name and message fragments), and topics made on the local
 * cluster. Each test program includes it once.
 */
#ifndef YK_TESTS_CHECK_H
#define YK_TESTS_CHECK_H

#include "yelp_kafka.h"

#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* A minimal check framework                                                 */
/* ------------------------------------------------------------------------ */

static atomic_int passed;
static atomic_int failed;
static const char *group_name;
static int group_passed_at_start;
static int group_failed_at_start;

__attribute__((format(printf, 4, 5))) static inline bool check_at(bool ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        atomic_fetch_add(&passed, 1);
        return true;
    }
    atomic_fetch_add(&failed, 1);
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "FAIL %s:%d: [%s] ", file, line, group_name ? group_name : "?");
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    return false;
}

#define CHECK(cond) check_at((cond), __FILE__, __LINE__, "%s", #cond)
#define CHECKF(cond, ...) check_at((cond), __FILE__, __LINE__, __VA_ARGS__)

static inline void group_begin(const char *name)
{
    group_name = name;
    group_passed_at_start = atomic_load(&passed);
    group_failed_at_start = atomic_load(&failed);
}

static inline void group_end(void)
{
    int p = atomic_load(&passed) - group_passed_at_start;
    int f = atomic_load(&failed) - group_failed_at_start;
    if (f == 0)
        printf("ok   %-34s %3d checks\n", group_name, p);
    else
        printf("FAIL %-34s %3d passed, %d failed\n", group_name, p, f);
    fflush(stdout);
    group_name = NULL;
}

static inline bool contains(const char *haystack, const char *needle)
{
    return haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;
}

static inline bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static inline bool str_lt(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) < 0;
}

static inline void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static inline double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Out-parameters are pre-set to these and must keep them when a call fails. */
#define SENTINEL ((void *)(uintptr_t)0x5e47125eu)
#define COUNT_SENTINEL ((size_t)0xC0FFEEu)

/* Invalid UTF-8: two bytes that never start a UTF-8 sequence. */
static const char BAD_UTF8[] = "\xff\xfe";

/* ------------------------------------------------------------------------ */
/* Last-error expectations                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Records an unrelated failure (a configuration error) so that the next
 * check sees only what the call under test recorded: success does not clear
 * the last error, so a stale message could otherwise pass for a new one.
 */
static inline void prime_last_error(void)
{
    yk_cluster_config *unused = NULL;
    yk_error code = yk_cluster_config_new("prime", "prime", "prime-without-port", "", &unused);
    if (code == YK_ERROR_OK)
        yk_cluster_config_free(unused);
}

static inline bool last_error_is_primed(void)
{
    return yk_last_error_code() == YK_ERROR_CONFIGURATION && contains(yk_last_error_message(), "prime-without-port");
}

/*
 * The last error is `want`, and its message names `function` and contains
 * `fragment` and `fragment2` (either may be NULL).
 */
static inline void expect_last_error_at(const char *file, int line, const char *expr, yk_error want, const char *function,
                                 const char *fragment, const char *fragment2)
{
    yk_error code = yk_last_error_code();
    const char *message = yk_last_error_message();
    check_at(code == want, file, line, "%s: last error code %d (%s), expected %d (%s); message \"%s\"", expr, (int)code,
             yk_error_name(code), (int)want, yk_error_name(want), message ? message : "(null)");
    check_at(contains(message, function), file, line, "%s: message \"%s\" does not name %s", expr,
             message ? message : "(null)", function);
    if (fragment)
        check_at(contains(message, fragment), file, line, "%s: message \"%s\" lacks \"%s\"", expr,
                 message ? message : "(null)", fragment);
    if (fragment2)
        check_at(contains(message, fragment2), file, line, "%s: message \"%s\" lacks \"%s\"", expr,
                 message ? message : "(null)", fragment2);
}

static inline void expect_code_at(const char *file, int line, const char *expr, int got, yk_error want, const char *function,
                           const char *fragment, const char *fragment2)
{
    check_at(got == (int)want, file, line, "%s returned %d (%s), expected %d (%s); message \"%s\"", expr, got,
             yk_error_name(got), (int)want, yk_error_name(want), yk_last_error_message());
    expect_last_error_at(file, line, expr, want, function, fragment, fragment2);
}

static inline void expect_failed_value_at(const char *file, int line, const char *expr, bool value_ok, const char *function,
                                   const char *fragment, const char *fragment2)
{
    check_at(value_ok, file, line, "%s did not return NULL/0/false", expr);
    expect_last_error_at(file, line, expr, YK_ERROR_INVALID_ARGUMENT, function, fragment, fragment2);
}

/* A call that returns a yk_error fails with `want`; the message names `fn`. */
#define EXPECT_CODE(call, want, fn, frag, frag2)                                                                     \
    expect_code_at(__FILE__, __LINE__, #call, (prime_last_error(), (int)(call)), (want), (fn), (frag), (frag2))
/* A call returning a pointer returns NULL with YK_ERROR_INVALID_ARGUMENT set. */
#define EXPECT_NULL(call, fn, frag, frag2)                                                                           \
    expect_failed_value_at(__FILE__, __LINE__, #call, (prime_last_error(), (call)) == NULL, (fn), (frag), (frag2))
/* A call returning a count returns 0 with YK_ERROR_INVALID_ARGUMENT set. */
#define EXPECT_ZERO(call, fn, frag, frag2)                                                                           \
    expect_failed_value_at(__FILE__, __LINE__, #call, (prime_last_error(), (call)) == 0, (fn), (frag), (frag2))
/* A call returning a bool returns false with YK_ERROR_INVALID_ARGUMENT set. */
#define EXPECT_FALSE(call, fn, frag, frag2)                                                                          \
    expect_failed_value_at(__FILE__, __LINE__, #call, !(prime_last_error(), (call)), (fn), (frag), (frag2))

/* A call succeeded; on failure, say why. */
#define EXPECT_OK(call)                                                                                              \
    do {                                                                                                             \
        yk_error ok_code_ = (call);                                                                                  \
        CHECKF(ok_code_ == YK_ERROR_OK, "%s failed: %s: %s", #call, yk_error_name(ok_code_),                       \
               yk_last_error_message());                                                                             \
    } while (0)


/* The program a hang is reported for (start_watchdog). */
static const char *watchdog_program = "test";

static inline void on_watchdog(int signal)
{
    (void)signal;
    static const char before[] = "\nFAIL: ", after[] = " hung (watchdog after 300 s)\n";
    ssize_t ignored = write(2, before, sizeof before - 1);
    ignored = write(2, watchdog_program, strlen(watchdog_program));
    ignored = write(2, after, sizeof after - 1);
    (void)ignored;
    _exit(2);
}

/* Ends the program with a FAIL line naming it if it still runs after
 * 300 s: a hang fails the C tests instead of stalling them. */
static inline void start_watchdog(const char *program)
{
    watchdog_program = program;
    struct sigaction watchdog = {.sa_handler = on_watchdog};
    sigaction(SIGALRM, &watchdog, NULL);
    alarm(300);
}

/* Sends `command` (the launcher's line protocol, docs/test-cluster.md) to
 * Kafka cluster 1 of scripts/cluster.sh (named by YK_CLUSTER_SH) and checks
 * that it answered OK. */
static inline bool mock_command(const char *command)
{
    const char *cluster_sh = getenv("YK_CLUSTER_SH");
    if (!CHECKF(cluster_sh && *cluster_sh, "YK_CLUSTER_SH must name scripts/cluster.sh"))
        return false;
    char line[512], answer[256] = "";
    snprintf(line, sizeof line, "'%s' kafka 1 %s", cluster_sh, command);
    FILE *launcher = popen(line, "r");
    if (!CHECKF(launcher != NULL, "popen %s", line))
        return false;
    if (!fgets(answer, sizeof answer, launcher))
        answer[0] = '\0';
    int status = pclose(launcher);
    return CHECKF(status == 0 && strncmp(answer, "OK", 2) == 0, "%s: %s", command, answer);
}

/* Creates `topic` with `partitions` partitions on Kafka cluster 1 of
 * scripts/cluster.sh, through its launcher: the library asks brokers not
 * to auto-create topics, and only the 2.0.2 mock (whose Metadata versions
 * cannot say so) would. */
static inline void create_topic(const char *topic, int partitions)
{
    char command[256];
    snprintf(command, sizeof command, "topic '%s' %d", topic, partitions);
    mock_command(command);
}

/* Prints the closing "N passed, M failed" line; the program's exit status. */
static inline int checks_summary(void)
{
    int p = atomic_load(&passed), f = atomic_load(&failed);
    printf("%d passed, %d failed\n", p, f);
    return f == 0 ? 0 : 1;
}

#endif
