/*
 * tests-c/api_test.c: checks every function of include/yelp_kafka.h from C.
 *
 * Built with -std=c11 -Wall -Wextra -Werror and AddressSanitizer +
 * UndefinedBehaviorSanitizer, linked against the static library so that the
 * sanitizers see the library's allocations too (scripts/c-tests.sh).
 *
 * What it checks, one group at a time:
 * - the C boundary rules of docs/c-abi.md for every export: NULL pointers, invalid
 *   UTF-8 and out-of-range indexes give YK_ERROR_INVALID_ARGUMENT (or
 *   NULL/0/false) with a last-error message naming the function and the
 *   argument; out-parameters keep their value on failure; *_free(NULL) is a
 *   no-op;
 * - error codes: names (the Python exception names), descriptions,
 *   retriability, unknown codes; the thread-local last error;
 * - cluster configurations (docs/configuration.md), key/value configuration, topology
 *   files (docs/discovery.md);
 * - discovery against the local cluster of scripts/cluster.sh, whose
 *   bootstrap lists come from YK_KAFKA1 and YK_KAFKA2 (missing: the test
 *   fails): topics, search by name and by regex (Python re.match), an
 *   unreachable cluster within its metadata deadline, threads, fork.
 *
 * Prints one line per group and, last, "N passed, M failed"; exits 1 when
 * anything failed. A watchdog fails the run if any call hangs.
 */
#define _POSIX_C_SOURCE 200809L

#include "yelp_kafka.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* ------------------------------------------------------------------------ */
/* Error codes                                                               */
/* ------------------------------------------------------------------------ */

enum retriable { NOT_RETRIABLE = 0, RETRIABLE = 1, EITHER = 2 };

struct code_row {
    yk_error code;
    const char *name; /* NULL: any unique name */
    enum retriable retriable;
};

/*
 * Every code of the enum. Names 1-16 are the Python library's exception
 * names; retriability is pinned where docs/errors.md and the header are clear
 * (a plain retry helps after a leader move, an unavailable broker or a
 * timeout; never after a bad argument or configuration, and a partitioner
 * failure needs a new group).
 */
static const struct code_row CODES[] = {
    {YK_ERROR_OK, NULL, NOT_RETRIABLE},
    {YK_ERROR_FAILED_PAYLOADS, "FailedPayloadsError", EITHER},
    {YK_ERROR_KAFKA_UNAVAILABLE, "KafkaUnavailableError", RETRIABLE},
    {YK_ERROR_LEADER_NOT_AVAILABLE, "LeaderNotAvailableError", RETRIABLE},
    {YK_ERROR_NOT_LEADER_FOR_PARTITION, "NotLeaderForPartitionError", RETRIABLE},
    {YK_ERROR_UNKNOWN_TOPIC_OR_PARTITION, "UnknownTopicOrPartitionError", EITHER},
    {YK_ERROR_CONSUMER_TIMEOUT, "ConsumerTimeout", EITHER},
    {YK_ERROR_PARTITIONER, "PartitionerError", NOT_RETRIABLE},
    {YK_ERROR_PARTITIONER_ZOOKEEPER, "PartitionerZookeeperError", EITHER},
    {YK_ERROR_CONSUMER_GROUP, "ConsumerGroupError", EITHER},
    {YK_ERROR_PROCESS_MESSAGE, "ProcessMessageError", NOT_RETRIABLE},
    {YK_ERROR_CONFIGURATION, "ConfigurationError", NOT_RETRIABLE},
    {YK_ERROR_DISCOVERY, "DiscoveryError", EITHER},
    {YK_ERROR_UNKNOWN_TOPIC, "UnknownTopic", EITHER},
    {YK_ERROR_UNKNOWN_PARTITIONS, "UnknownPartitions", EITHER},
    {YK_ERROR_OFFSET_COMMIT, "OffsetCommitError", EITHER},
    {YK_ERROR_INVALID_OFFSET_STORAGE, "InvalidOffsetStorageError", NOT_RETRIABLE},
    {YK_ERROR_INVALID_ARGUMENT, "InvalidArgument", NOT_RETRIABLE},
    {YK_ERROR_WRONG_STATE, NULL, NOT_RETRIABLE},
    {YK_ERROR_CLOSED_HANDLE, NULL, NOT_RETRIABLE},
    {YK_ERROR_REENTRANT, NULL, NOT_RETRIABLE},
    {YK_ERROR_INTERNAL, NULL, NOT_RETRIABLE},
    {YK_ERROR_BROKER, NULL, EITHER},
    {YK_ERROR_REQUEST_TIMED_OUT, NULL, RETRIABLE},
    {YK_ERROR_TRANSPORT, NULL, RETRIABLE},
    {YK_ERROR_UNSUPPORTED_VERSION, NULL, NOT_RETRIABLE},
    {YK_ERROR_PROTOCOL, NULL, NOT_RETRIABLE},
    {YK_ERROR_TIMED_OUT, NULL, RETRIABLE},
    {YK_ERROR_OFFSET_OUT_OF_RANGE, NULL, EITHER},
    {YK_ERROR_QUEUE_FULL, NULL, RETRIABLE},
    {YK_ERROR_WORKERS_RUNNING, NULL, NOT_RETRIABLE},
    {YK_ERROR_WOKEN_UP, NULL, NOT_RETRIABLE},
};
#define CODE_COUNT (sizeof CODES / sizeof CODES[0])

static bool is_identifier(const char *s)
{
    if (s == NULL || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static bool is_known_code(long value)
{
    for (size_t i = 0; i < CODE_COUNT; i++)
        if ((long)CODES[i].code == value)
            return true;
    return false;
}

/* Runs first: no call has failed yet on this thread. */
static void test_last_error_before_any_failure(void)
{
    group_begin("last error: none yet");
    CHECK(yk_last_error_code() == YK_ERROR_OK);
    CHECK(str_eq(yk_last_error_message(), ""));
    CHECK(yk_last_error_kafka_code() == 0);
    CHECK(!yk_last_error_is_retriable());
    group_end();
}

static void test_error_codes(void)
{
    group_begin("error names and descriptions");
    for (size_t i = 0; i < CODE_COUNT; i++) {
        const struct code_row *row = &CODES[i];
        const char *name = yk_error_name(row->code);
        const char *description = yk_error_description(row->code);
        if (row->name)
            CHECKF(str_eq(name, row->name), "yk_error_name(%d) = \"%s\", expected \"%s\"", (int)row->code,
                   name ? name : "(null)", row->name);
        CHECKF(is_identifier(name) && !str_eq(name, "UnknownErrorCode"), "yk_error_name(%d) = \"%s\"",
               (int)row->code, name ? name : "(null)");
        CHECKF(description != NULL && strlen(description) > 3 && !str_eq(description, "Unknown error code"),
               "yk_error_description(%d) = \"%s\"", (int)row->code, description ? description : "(null)");
        CHECKF(yk_error_name(row->code) == name, "yk_error_name(%d) is not a static string", (int)row->code);
        size_t shared_name = 0, shared_description = 0;
        for (size_t j = 0; j < i; j++) {
            shared_name += str_eq(name, yk_error_name(CODES[j].code));
            shared_description += str_eq(description, yk_error_description(CODES[j].code));
        }
        CHECKF(shared_name == 0, "code %d shares its name \"%s\" with another code", (int)row->code, name);
        CHECKF(shared_description == 0, "code %d shares its description \"%s\" with another code", (int)row->code,
               description);
    }
    /* Unknown codes: negative, in the gap 17..99, past the end, extremes. */
    const int32_t unknown[] = {-1, 9999, 17, 50, 99, 999, 1000, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CHECKF(str_eq(yk_error_name(unknown[i]), "UnknownErrorCode"), "yk_error_name(%d) = \"%s\"", unknown[i],
               yk_error_name(unknown[i]));
        CHECKF(str_eq(yk_error_description(unknown[i]), "Unknown error code"), "yk_error_description(%d) = \"%s\"",
               unknown[i], yk_error_description(unknown[i]));
        CHECKF(!yk_error_is_retriable(unknown[i]), "yk_error_is_retriable(%d) is true", unknown[i]);
    }
    /* Every value in -1000..1000 that is not in the enum is unknown. */
    int wrong = 0;
    for (int32_t value = -1000; value <= 1000; value++) {
        if (is_known_code(value))
            continue;
        if (!str_eq(yk_error_name(value), "UnknownErrorCode") ||
            !str_eq(yk_error_description(value), "Unknown error code") || yk_error_is_retriable(value)) {
            if (wrong++ < 5)
                fprintf(stderr, "  code %d: name \"%s\", description \"%s\"\n", value, yk_error_name(value),
                        yk_error_description(value));
        }
    }
    CHECKF(wrong == 0, "%d codes outside the enum are not reported as unknown", wrong);
    group_end();

    group_begin("error retriability");
    for (size_t i = 0; i < CODE_COUNT; i++) {
        const struct code_row *row = &CODES[i];
        if (row->retriable == EITHER)
            continue;
        bool got = yk_error_is_retriable(row->code);
        CHECKF(got == (row->retriable == RETRIABLE), "yk_error_is_retriable(%d /* %s */) = %d", (int)row->code,
               yk_error_name(row->code), got);
    }
    group_end();

    group_begin("version");
    const char *version = yk_version();
    unsigned major, minor, patch;
    int consumed = 0;
    CHECKF(version != NULL && sscanf(version, "%u.%u.%u%n", &major, &minor, &patch, &consumed) == 3 &&
               (size_t)consumed == strlen(version) && isdigit((unsigned char)version[0]),
           "yk_version() = \"%s\" is not X.Y.Z", version ? version : "(null)");
    CHECK(yk_version() == version);
    group_end();
}

/* Each thread starts with no last error; a failure on one thread is not seen on another. */
static void *last_error_of_new_thread(void *arg)
{
    bool *ok = arg;
    ok[0] = yk_last_error_code() == YK_ERROR_OK && str_eq(yk_last_error_message(), "");
    ok[1] = yk_config_new(NULL) == YK_ERROR_INVALID_ARGUMENT && contains(yk_last_error_message(), "yk_config_new");
    return NULL;
}

static void test_last_error(void)
{
    group_begin("last error");
    prime_last_error();
    CHECK(last_error_is_primed());
    CHECK(yk_last_error_kafka_code() == 0);
    CHECK(!yk_last_error_is_retriable());

    /* Success does not clear the last error. */
    yk_config *config = NULL;
    EXPECT_OK(yk_config_new(&config));
    CHECK(last_error_is_primed());
    yk_config_free(config);

    /* The failure of another thread stays on that thread. */
    pthread_t thread;
    bool ok[2] = {false, false};
    CHECK(pthread_create(&thread, NULL, last_error_of_new_thread, ok) == 0 && pthread_join(thread, NULL) == 0);
    CHECK(ok[0]);
    CHECK(ok[1]);
    CHECK(last_error_is_primed());

    /* The message names the function, the code matches what was returned. */
    CHECK(yk_config_new(NULL) == YK_ERROR_INVALID_ARGUMENT);
    CHECK(yk_last_error_code() == YK_ERROR_INVALID_ARGUMENT);
    CHECK(contains(yk_last_error_message(), "yk_config_new"));
    CHECK(!yk_last_error_is_retriable());
    CHECK(yk_last_error_kafka_code() == 0);
    group_end();
}

/* ------------------------------------------------------------------------ */
/* Cluster configuration                                                     */
/* ------------------------------------------------------------------------ */

static yk_cluster_config *new_cluster(const char *type, const char *name, const char *brokers, const char *zookeeper)
{
    yk_cluster_config *config = NULL;
    yk_error code = yk_cluster_config_new(type, name, brokers, zookeeper, &config);
    CHECKF(code == YK_ERROR_OK && config != NULL, "yk_cluster_config_new(\"%s\", \"%s\", \"%s\", \"%s\"): %s: %s",
           type, name, brokers, zookeeper, yk_error_name(code), yk_last_error_message());
    return code == YK_ERROR_OK ? config : NULL;
}

static void test_cluster_config_arguments(void)
{
    group_begin("cluster config: bad arguments");
    const char *fn = "yk_cluster_config_new";
    yk_cluster_config *out = SENTINEL;

    EXPECT_CODE(yk_cluster_config_new(NULL, "c1", "b:9092", "z:2181", &out), YK_ERROR_INVALID_ARGUMENT, fn,
                "cluster_type is NULL", NULL);
    EXPECT_CODE(yk_cluster_config_new("standard", NULL, "b:9092", "z:2181", &out), YK_ERROR_INVALID_ARGUMENT, fn,
                "name is NULL", NULL);
    EXPECT_CODE(yk_cluster_config_new("standard", "c1", NULL, "z:2181", &out), YK_ERROR_INVALID_ARGUMENT, fn,
                "broker_list is NULL", NULL);
    EXPECT_CODE(yk_cluster_config_new("standard", "c1", "b:9092", NULL, &out), YK_ERROR_INVALID_ARGUMENT, fn,
                "zookeeper is NULL", NULL);
    EXPECT_CODE(yk_cluster_config_new("standard", "c1", "b:9092", "z:2181", NULL), YK_ERROR_INVALID_ARGUMENT, fn,
                "out is NULL", NULL);
    CHECK(out == SENTINEL);

    EXPECT_CODE(yk_cluster_config_new(BAD_UTF8, "c1", "b:9092", "z:2181", &out), YK_ERROR_INVALID_ARGUMENT, fn,
                "cluster_type", "UTF-8");
    EXPECT_CODE(yk_cluster_config_new("standard", BAD_UTF8, "b:9092", "z:2181", &out), YK_ERROR_INVALID_ARGUMENT, fn,
                "name", "UTF-8");
    EXPECT_CODE(yk_cluster_config_new("standard", "c1", BAD_UTF8, "z:2181", &out), YK_ERROR_INVALID_ARGUMENT, fn,
                "broker_list", "UTF-8");
    EXPECT_CODE(yk_cluster_config_new("standard", "c1", "b:9092", BAD_UTF8, &out), YK_ERROR_INVALID_ARGUMENT, fn,
                "zookeeper", "UTF-8");
    CHECK(out == SENTINEL);

    /* Bad values are configuration errors. */
    struct {
        const char *type, *name, *brokers, *zookeeper, *fragment;
    } bad[] = {
        {"", "c1", "b:9092", "", NULL},                  /* empty type */
        {"standard", "", "b:9092", "", NULL},            /* empty name */
        {"standard", "c1", "", "", "c1"},                /* no broker */
        {"standard", "c1", ",,", "", "c1"},              /* only empty entries */
        {"standard", "c1", "nohost", "", "nohost"},      /* no port */
        {"standard", "c1", "b:notaport", "", "b:notaport"},
        {"standard", "c1", "b:0", "", "b:0"},            /* port 0 */
        {"standard", "c1", "b:70000", "", "b:70000"},    /* port > 65535 */
        {"standard", "c1", ":9092", "", ":9092"},        /* no host */
        {"standard", "c1", "b:9092,oops", "", "oops"},   /* one bad entry among good ones */
        {"standard", "c1", "b:9092", "z:x", "z:x"},      /* bad ZooKeeper port */
        /* host:port is parsed strictly: digits-only ports, IPv6 in brackets. */
        {"standard", "c1", "b:+1", "", "b:+1"},
        {"standard", "c1", "b: 1", "", "b: 1"},
        {"standard", "c1", "::1", "", "::1"},            /* bare IPv6: not host ":" port 1 */
        {"standard", "c1", "fe80::1:9092", "", "fe80::1:9092"},
        {"standard", "c1", "[::1]", "", "[::1]"},
        {"standard", "c1", "[nothost]:9092", "", "[nothost]:9092"},
        {"standard", "c1", "b/x:9092", "", "b/x:9092"},
        {"standard", "c1", "b:9092", "::1:2181", "::1:2181"},
        {"standard", "c1", "b:9092", "z:2181/kafka/", "/kafka/"}, /* chroot ending in '/' */
        /* Malformed chroots are refused here, never a retriable error at use. */
        {"standard", "c1", "b:9092", "z:2181//", "//"},
        {"standard", "c1", "b:9092", "z:2181//x", "//x"},
        {"standard", "c1", "b:9092", "z:2181/a//b", "/a//b"},
        {"standard", "c1", "b:9092", "z:2181/a/../b", "/a/../b"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = SENTINEL;
        prime_last_error();
        yk_error code = yk_cluster_config_new(bad[i].type, bad[i].name, bad[i].brokers, bad[i].zookeeper, &out);
        CHECKF(code == YK_ERROR_CONFIGURATION,
               "yk_cluster_config_new(\"%s\", \"%s\", \"%s\", \"%s\") = %s, expected ConfigurationError",
               bad[i].type, bad[i].name, bad[i].brokers, bad[i].zookeeper, yk_error_name(code));
        CHECK(yk_last_error_code() == YK_ERROR_CONFIGURATION && !last_error_is_primed());
        CHECKF(contains(yk_last_error_message(), fn), "message \"%s\" does not name %s", yk_last_error_message(), fn);
        if (bad[i].fragment)
            CHECKF(contains(yk_last_error_message(), bad[i].fragment), "message \"%s\" does not name \"%s\"",
                   yk_last_error_message(), bad[i].fragment);
        CHECKF(out == SENTINEL, "out written on failure for broker list \"%s\"", bad[i].brokers);
        if (code == YK_ERROR_OK && out != SENTINEL)
            yk_cluster_config_free(out);
    }

    /* yk_cluster_config_clone */
    yk_cluster_config *config = new_cluster("standard", "c1", "b:9092", "z:2181");
    out = SENTINEL;
    EXPECT_CODE(yk_cluster_config_clone(NULL, &out), YK_ERROR_INVALID_ARGUMENT, "yk_cluster_config_clone",
                "config is NULL", NULL);
    EXPECT_CODE(yk_cluster_config_clone(config, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_cluster_config_clone",
                "out is NULL", NULL);
    CHECK(out == SENTINEL);

    /* Accessors and equality on NULL. */
    EXPECT_NULL(yk_cluster_config_type(NULL), "yk_cluster_config_type", "config is NULL", NULL);
    EXPECT_NULL(yk_cluster_config_name(NULL), "yk_cluster_config_name", "config is NULL", NULL);
    EXPECT_NULL(yk_cluster_config_broker_list(NULL), "yk_cluster_config_broker_list", "config is NULL", NULL);
    EXPECT_NULL(yk_cluster_config_zookeeper(NULL), "yk_cluster_config_zookeeper", "config is NULL", NULL);
    EXPECT_FALSE(yk_cluster_config_equal(NULL, config), "yk_cluster_config_equal", "a is NULL", NULL);
    EXPECT_FALSE(yk_cluster_config_equal(config, NULL), "yk_cluster_config_equal", "b is NULL", NULL);
    EXPECT_FALSE(yk_cluster_config_equal(NULL, NULL), "yk_cluster_config_equal", "is NULL", NULL);

    yk_cluster_config_free(NULL);
    yk_cluster_config_free(config);
    CHECK(true); /* yk_cluster_config_free(NULL) returned */
    group_end();
}

static void test_cluster_config_values(void)
{
    group_begin("cluster config: values, equality");
    /* Strings are copied: changing the caller's buffers changes nothing. */
    char type[] = "standard", name[] = "c1", brokers[] = "b2:9092,,b1:9092", zookeeper[] = "z2:2181,z1:2181/kafka";
    yk_cluster_config *a = new_cluster(type, name, brokers, zookeeper);
    memset(type, 'x', sizeof type - 1);
    memset(name, 'x', sizeof name - 1);
    memset(brokers, 'x', sizeof brokers - 1);
    memset(zookeeper, 'x', sizeof zookeeper - 1);
    if (!a) {
        group_end();
        return;
    }
    CHECK(str_eq(yk_cluster_config_type(a), "standard"));
    CHECK(str_eq(yk_cluster_config_name(a), "c1"));
    /* Empty entries removed, order kept. */
    CHECKF(str_eq(yk_cluster_config_broker_list(a), "b2:9092,b1:9092"), "broker list \"%s\"",
           yk_cluster_config_broker_list(a));
    /* As given, chroot included. */
    CHECKF(str_eq(yk_cluster_config_zookeeper(a), "z2:2181,z1:2181/kafka"), "zookeeper \"%s\"",
           yk_cluster_config_zookeeper(a));
    /* Accessors return strings owned by the config: the same pointer each time. */
    CHECK(yk_cluster_config_name(a) == yk_cluster_config_name(a));

    /* An empty ZooKeeper string is allowed (produce-only clusters). */
    yk_cluster_config *no_zk = new_cluster("standard", "c1", "b1:9092", "");
    CHECK(no_zk && str_eq(yk_cluster_config_zookeeper(no_zk), ""));

    /* Equality (docs/configuration.md): order, duplicates and empty entries do not matter. */
    yk_cluster_config *same[] = {
        new_cluster("standard", "c1", "b1:9092,b2:9092", "z1:2181,z2:2181/kafka"),
        new_cluster("standard", "c1", "b2:9092,,b1:9092,", "z2:2181,,z1:2181/kafka"),
        new_cluster("standard", "c1", "b1:9092,b2:9092,b1:9092", "z1:2181,z2:2181/kafka"),
    };
    yk_cluster_config *different[] = {
        new_cluster("scribe", "c1", "b1:9092,b2:9092", "z1:2181,z2:2181/kafka"),   /* type */
        new_cluster("standard", "c2", "b1:9092,b2:9092", "z1:2181,z2:2181/kafka"), /* name */
        new_cluster("standard", "c1", "b1:9092", "z1:2181,z2:2181/kafka"),         /* fewer brokers */
        new_cluster("standard", "c1", "b1:9092,b3:9092", "z1:2181,z2:2181/kafka"), /* other broker */
        new_cluster("standard", "c1", "b1:9092,b2:9092", "z1:2181/kafka"),         /* fewer ZooKeeper hosts */
        new_cluster("standard", "c1", "b1:9092,b2:9092", "z1:2181,z2:2181/other"), /* other chroot */
        new_cluster("standard", "c1", "b1:9092,b2:9092", "z1:2181,z2:2181"),       /* no chroot */
    };
    CHECK(yk_cluster_config_equal(a, a));
    for (size_t i = 0; i < 3; i++) {
        CHECKF(yk_cluster_config_equal(a, same[i]) && yk_cluster_config_equal(same[i], a), "same[%zu] differs", i);
        for (size_t j = 0; j < 3; j++)
            CHECKF(yk_cluster_config_equal(same[i], same[j]), "same[%zu] != same[%zu]", i, j);
    }
    for (size_t i = 0; i < sizeof different / sizeof different[0]; i++) {
        prime_last_error();
        CHECKF(!yk_cluster_config_equal(a, different[i]) && !yk_cluster_config_equal(different[i], a),
               "different[%zu] compares equal", i);
        /* A plain "not equal" is not a failure: the last error stays. */
        CHECK(last_error_is_primed());
    }

    /* A clone is equal, has the same strings, and lives on its own. */
    yk_cluster_config *clone = SENTINEL;
    EXPECT_OK(yk_cluster_config_clone(a, &clone));
    if (clone != SENTINEL && clone != NULL) {
        CHECK(clone != a);
        CHECK(yk_cluster_config_equal(a, clone));
        CHECK(str_eq(yk_cluster_config_broker_list(clone), yk_cluster_config_broker_list(a)));
        CHECK(str_eq(yk_cluster_config_zookeeper(clone), yk_cluster_config_zookeeper(a)));
        CHECK(yk_cluster_config_name(clone) != yk_cluster_config_name(a));
        yk_cluster_config_free(a);
        a = NULL;
        /* Used after the original is freed: ASan would catch shared memory. */
        CHECK(str_eq(yk_cluster_config_name(clone), "c1"));
        CHECK(str_eq(yk_cluster_config_type(clone), "standard"));
        yk_cluster_config_free(clone);
    }

    /* IPv6 brokers and ZooKeeper hosts are written in brackets. */
    yk_cluster_config *ipv6 = new_cluster("standard", "c1", "[::1]:9092,b:9092", "[::1]:2181/kafka");
    CHECK(ipv6 && str_eq(yk_cluster_config_broker_list(ipv6), "[::1]:9092,b:9092"));
    yk_cluster_config_free(ipv6);

    /* A chroot of "/" alone is no chroot; the connect string stays as given. */
    yk_cluster_config *root = new_cluster("standard", "c1", "b:9092", "z:2181/");
    yk_cluster_config *unrooted = new_cluster("standard", "c1", "b:9092", "z:2181");
    CHECK(root && unrooted && yk_cluster_config_equal(root, unrooted));
    CHECK(root && str_eq(yk_cluster_config_zookeeper(root), "z:2181/"));
    yk_cluster_config_free(root);
    yk_cluster_config_free(unrooted);

    yk_cluster_config_free(a);
    yk_cluster_config_free(no_zk);
    for (size_t i = 0; i < 3; i++)
        yk_cluster_config_free(same[i]);
    for (size_t i = 0; i < sizeof different / sizeof different[0]; i++)
        yk_cluster_config_free(different[i]);
    group_end();
}

/* ------------------------------------------------------------------------ */
/* Key/value configuration                                                   */
/* ------------------------------------------------------------------------ */

/* Group ids are one ZooKeeper node name (docs/configuration.md). */
static void test_consumer_config_group_ids(void)
{
    group_begin("consumer config: group ids");
    const char *fn = "yk_consumer_config_new";
    yk_cluster_config *cluster = new_cluster("standard", "c1", "b:9092", "z:2181");
    const char *bad[] = {"", "g-ok/offsets", "/", ".", ".."};
    for (size_t i = 0; cluster && i < sizeof bad / sizeof bad[0]; i++) {
        yk_consumer_config *out = SENTINEL;
        char quoted[32];
        snprintf(quoted, sizeof quoted, "\"%s\"", bad[i]);
        EXPECT_CODE(yk_consumer_config_new(bad[i], cluster, &out), YK_ERROR_CONFIGURATION, fn, "group_id", quoted);
        CHECKF(out == SENTINEL, "out written for group id \"%s\"", bad[i]);
    }
    const char *good[] = {"g", "...", "my group:1"};
    for (size_t i = 0; cluster && i < sizeof good / sizeof good[0]; i++) {
        yk_consumer_config *config = NULL;
        EXPECT_OK(yk_consumer_config_new(good[i], cluster, &config));
        yk_consumer_config_free(config);
    }
    yk_cluster_config_free(cluster);
    group_end();
}

static void test_config(void)
{
    group_begin("config: bad arguments");
    EXPECT_CODE(yk_config_new(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_config_new", "out is NULL", NULL);

    yk_config *config = NULL;
    EXPECT_OK(yk_config_new(&config));
    CHECK(config != NULL);
    if (!config) {
        group_end();
        return;
    }
    EXPECT_CODE(yk_config_set(NULL, "client_id", "x"), YK_ERROR_INVALID_ARGUMENT, "yk_config_set", "config is NULL",
                NULL);
    EXPECT_CODE(yk_config_set(config, NULL, "x"), YK_ERROR_INVALID_ARGUMENT, "yk_config_set", "key is NULL", NULL);
    EXPECT_CODE(yk_config_set(config, "client_id", NULL), YK_ERROR_INVALID_ARGUMENT, "yk_config_set",
                "value is NULL", NULL);
    EXPECT_CODE(yk_config_set(config, BAD_UTF8, "x"), YK_ERROR_INVALID_ARGUMENT, "yk_config_set", "key", "UTF-8");
    EXPECT_CODE(yk_config_set(config, "client_id", BAD_UTF8), YK_ERROR_INVALID_ARGUMENT, "yk_config_set", "value",
                "UTF-8");
    prime_last_error();
    CHECKF(yk_config_set(config, "", "x") != YK_ERROR_OK, "an empty key was accepted");
    /* Nothing of the failed calls was stored. */
    CHECK(yk_config_get(config, "client_id") == NULL);

    EXPECT_NULL(yk_config_get(NULL, "client_id"), "yk_config_get", "config is NULL", NULL);
    EXPECT_NULL(yk_config_get(config, NULL), "yk_config_get", "key is NULL", NULL);
    EXPECT_NULL(yk_config_get(config, BAD_UTF8), "yk_config_get", "key", "UTF-8");

    EXPECT_CODE(yk_config_validate_client(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_config_validate_client",
                "config is NULL", NULL);
    EXPECT_NULL(yk_config_dump_client(NULL), "yk_config_dump_client", "config is NULL", NULL);
    yk_config_free(NULL);
    group_end();

    group_begin("config: set, get, validate, dump");
    /* Unset: NULL without an error. */
    prime_last_error();
    CHECK(yk_config_get(config, "metadata_timeout_ms") == NULL);
    CHECK(last_error_is_primed());

    /* Values are copied; setting again replaces. */
    char value[] = "1000";
    EXPECT_OK(yk_config_set(config, "metadata_timeout_ms", value));
    value[0] = '9';
    CHECK(str_eq(yk_config_get(config, "metadata_timeout_ms"), "1000"));
    EXPECT_OK(yk_config_set(config, "metadata_timeout_ms", "2000"));
    CHECK(str_eq(yk_config_get(config, "metadata_timeout_ms"), "2000"));
    EXPECT_OK(yk_config_set(config, "client_id", "c-api-test"));
    CHECK(str_eq(yk_config_get(config, "client_id"), "c-api-test"));
    /* Keys are checked later, not by set. */
    EXPECT_OK(yk_config_set(config, "no_such_option", "1"));
    CHECK(str_eq(yk_config_get(config, "no_such_option"), "1"));

    EXPECT_CODE(yk_config_validate_client(config), YK_ERROR_CONFIGURATION, "yk_config_validate_client",
                "no_such_option", NULL);

    yk_config *valid = NULL;
    EXPECT_OK(yk_config_new(&valid));
    EXPECT_OK(yk_config_validate_client(valid)); /* defaults are valid */
    EXPECT_OK(yk_config_set(valid, "client_id", "svc"));
    EXPECT_OK(yk_config_set(valid, "metadata_timeout_ms", "1500"));
    EXPECT_OK(yk_config_set(valid, "api_version_caps", "ListOffsets:3,Produce:7"));
    EXPECT_OK(yk_config_validate_client(valid));

    /* Bad values name their key. */
    const char *bad_values[][2] = {
        {"metadata_timeout_ms", "abc"}, {"metadata_timeout_ms", "0"},  {"request_timeout_ms", "-5"},
        {"connect_timeout_ms", ""},     {"client_id", ""},             {"api_version_caps", "Bogus:1"},
        {"max_response_bytes", "12"},
    };
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        yk_config *bad = NULL;
        EXPECT_OK(yk_config_new(&bad));
        EXPECT_OK(yk_config_set(bad, bad_values[i][0], bad_values[i][1]));
        EXPECT_CODE(yk_config_validate_client(bad), YK_ERROR_CONFIGURATION, "yk_config_validate_client",
                    bad_values[i][0], NULL);
        yk_config_free(bad);
    }

    /* The dump lists every option; defaults are marked. */
    const char *dump = yk_config_dump_client(valid);
    CHECKF(contains(dump, "client_id = svc\n"), "dump:\n%s", dump ? dump : "(null)");
    CHECKF(contains(dump, "metadata_timeout_ms = 1500\n"), "dump:\n%s", dump ? dump : "(null)");
    CHECKF(contains(dump, "request_timeout_ms = 30000 (default)\n"), "dump:\n%s", dump ? dump : "(null)");
    CHECKF(contains(dump, "connect_timeout_ms = 5000 (default)\n"), "dump:\n%s", dump ? dump : "(null)");
    yk_config *empty = NULL;
    EXPECT_OK(yk_config_new(&empty));
    const char *defaults = yk_config_dump_client(empty);
    CHECKF(contains(defaults, "client_id = yelp-kafka (default)\n"), "dump:\n%s", defaults ? defaults : "(null)");
    CHECKF(contains(defaults, "metadata_timeout_ms = 10000 (default)\n"), "dump:\n%s",
           defaults ? defaults : "(null)");
    CHECKF(!contains(defaults, "client_id = svc"), "dump of an empty config shows another config's value");
    /* A second dump after a change shows the change. */
    EXPECT_OK(yk_config_set(empty, "client_id", "later"));
    const char *again = yk_config_dump_client(empty);
    CHECKF(contains(again, "client_id = later\n"), "dump:\n%s", again ? again : "(null)");

    yk_config_free(empty);
    yk_config_free(valid);
    yk_config_free(config);
    group_end();
}

/* ------------------------------------------------------------------------ */
/* Topology files                                                            */
/* ------------------------------------------------------------------------ */

static char topology_dir[64];

static void write_topology_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", topology_dir, name);
    FILE *file = fopen(path, "w");
    CHECKF(file != NULL, "cannot write %s", path);
    if (file) {
        fputs(text, file);
        fclose(file);
    }
}

static const char *const TOPOLOGY_FILES[] = {
    "standard.yaml", "broken.yaml", "notamap.yaml", "empty.yaml",
    "nobrokers.yaml", "badbroker.yaml", "nolocal.yaml", "badlocal.yaml",
    "fifo.yaml", "zero.yaml", "big.yaml",
};

static void remove_topology_dir(void)
{
    char path[128];
    for (size_t i = 0; i < sizeof TOPOLOGY_FILES / sizeof TOPOLOGY_FILES[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", topology_dir, TOPOLOGY_FILES[i]);
        unlink(path);
    }
    CHECKF(rmdir(topology_dir) == 0, "cannot remove %s", topology_dir);
}

/* Loading `cluster_type` fails with a configuration error naming the file. */
static void expect_topology_error(const char *cluster_type)
{
    char file[64];
    snprintf(file, sizeof file, "%s.yaml", cluster_type);
    yk_topology *out = SENTINEL;
    EXPECT_CODE(yk_topology_load(topology_dir, cluster_type, &out), YK_ERROR_CONFIGURATION, "yk_topology_load", file,
                NULL);
    CHECKF(out == SENTINEL, "out written when loading %s", file);
}

static void test_topology(void)
{
    group_begin("topology: load, clusters, local");
    strcpy(topology_dir, "/tmp/yk-api-test-XXXXXX");
    if (!CHECKF(mkdtemp(topology_dir) != NULL, "mkdtemp failed")) {
        group_end();
        return;
    }
    write_topology_file("standard.yaml", "clusters:\n"
                                         "  c2:\n"
                                         "    broker_list: [\"b3:9092\"]\n"
                                         "    zookeeper: \"z:2181/k2\"\n"
                                         "  c1:\n"
                                         "    broker_list:\n"
                                         "      - b1:9092\n"
                                         "      - b2:9092\n"
                                         "    zookeeper: z1:2181,z2:2181/k1\n"
                                         "local_config:\n"
                                         "  cluster: c1\n");
    write_topology_file("broken.yaml", "clusters: [this is: not a map\n");
    write_topology_file("notamap.yaml", "clusters: 5\n");
    write_topology_file("empty.yaml", "");
    write_topology_file("nobrokers.yaml", "clusters:\n  c1:\n    zookeeper: z:2181\n");
    write_topology_file("badbroker.yaml", "clusters:\n  c1:\n    broker_list: [\"nohost\"]\n    zookeeper: z:2181\n");
    write_topology_file("nolocal.yaml", "clusters:\n  c1:\n    broker_list: [\"b:9092\"]\n    zookeeper: z:2181\n");
    write_topology_file("badlocal.yaml", "clusters:\n  c1:\n    broker_list: [\"b:9092\"]\n    zookeeper: z:2181\n"
                                         "local_config:\n  cluster: c9\n");

    yk_topology *topology = NULL;
    EXPECT_OK(yk_topology_load(topology_dir, "standard", &topology));
    if (topology) {
        CHECK(yk_topology_cluster_count(topology) == 2);
        /* Sorted by name. */
        const yk_cluster_config *first = yk_topology_cluster(topology, 0);
        const yk_cluster_config *second = yk_topology_cluster(topology, 1);
        CHECK(str_eq(yk_cluster_config_name(first), "c1"));
        CHECK(str_eq(yk_cluster_config_type(first), "standard"));
        CHECK(str_eq(yk_cluster_config_broker_list(first), "b1:9092,b2:9092"));
        CHECK(str_eq(yk_cluster_config_zookeeper(first), "z1:2181,z2:2181/k1"));
        CHECK(str_eq(yk_cluster_config_name(second), "c2"));

        yk_cluster_config *expected_c2 = new_cluster("standard", "c2", "b3:9092", "z:2181/k2");
        yk_cluster_config *by_name = SENTINEL;
        EXPECT_OK(yk_topology_cluster_by_name(topology, "c2", &by_name));
        CHECK(by_name != SENTINEL && yk_cluster_config_equal(by_name, expected_c2));
        CHECK(by_name != second); /* a copy */

        yk_cluster_config *local = SENTINEL;
        EXPECT_OK(yk_topology_local_cluster(topology, &local));
        CHECK(local != SENTINEL && yk_cluster_config_equal(local, first));

        yk_cluster_config *out = SENTINEL;
        EXPECT_CODE(yk_topology_cluster_by_name(topology, "nope", &out), YK_ERROR_CONFIGURATION,
                    "yk_topology_cluster_by_name", "nope", NULL);
        CHECK(out == SENTINEL);

        /* The copies outlive the topology. */
        yk_topology_free(topology);
        topology = NULL;
        if (by_name != SENTINEL) {
            CHECK(str_eq(yk_cluster_config_name(by_name), "c2"));
            yk_cluster_config_free(by_name);
        }
        if (local != SENTINEL) {
            CHECK(str_eq(yk_cluster_config_broker_list(local), "b1:9092,b2:9092"));
            yk_cluster_config_free(local);
        }
        yk_cluster_config_free(expected_c2);
    }

    /* A file without local_config, or naming an undefined cluster. */
    yk_topology *nolocal = NULL;
    EXPECT_OK(yk_topology_load(topology_dir, "nolocal", &nolocal));
    if (nolocal) {
        yk_cluster_config *out = SENTINEL;
        CHECK(yk_topology_cluster_count(nolocal) == 1);
        EXPECT_CODE(yk_topology_local_cluster(nolocal, &out), YK_ERROR_CONFIGURATION, "yk_topology_local_cluster",
                    "nolocal.yaml", NULL);
        CHECK(out == SENTINEL);
        yk_topology_free(nolocal);
    }
    yk_topology *badlocal = NULL;
    EXPECT_OK(yk_topology_load(topology_dir, "badlocal", &badlocal));
    if (badlocal) {
        yk_cluster_config *out = SENTINEL;
        EXPECT_CODE(yk_topology_local_cluster(badlocal, &out), YK_ERROR_CONFIGURATION, "yk_topology_local_cluster",
                    "c9", NULL);
        CHECK(out == SENTINEL);
        yk_topology_free(badlocal);
    }
    group_end();

    group_begin("topology: missing and malformed files");
    expect_topology_error("absent");    /* missing */
    expect_topology_error("broken");    /* not YAML */
    expect_topology_error("notamap");   /* YAML of the wrong shape */
    expect_topology_error("empty");     /* no clusters key */
    expect_topology_error("nobrokers"); /* entry without broker_list */
    expect_topology_error("badbroker"); /* entry with a bad broker */

    /* Regular files of at most 1 MiB only (docs/discovery.md): a FIFO would
     * block the load for ever, /dev/zero would eat memory. */
    char path[128];
    snprintf(path, sizeof path, "%s/fifo.yaml", topology_dir);
    CHECKF(mkfifo(path, 0600) == 0, "mkfifo %s failed", path);
    snprintf(path, sizeof path, "%s/zero.yaml", topology_dir);
    CHECKF(symlink("/dev/zero", path) == 0, "symlink %s failed", path);
    snprintf(path, sizeof path, "%s/big.yaml", topology_dir);
    FILE *big = fopen(path, "w");
    if (CHECKF(big != NULL, "cannot write %s", path)) {
        fputs("clusters: {}\n", big);
        for (long i = 0; i < 1024L * 1024L; i++)
            fputc('#', big);
        fclose(big);
    }
    struct {
        const char *type, *why;
    } refused[] = {{"fifo", "not a regular file"}, {"zero", "not a regular file"}, {"big", "larger than 1048576"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char file[32];
        snprintf(file, sizeof file, "%s.yaml", refused[i].type);
        yk_topology *refused_out = SENTINEL;
        EXPECT_CODE(yk_topology_load(topology_dir, refused[i].type, &refused_out), YK_ERROR_CONFIGURATION,
                    "yk_topology_load", file, refused[i].why);
        CHECK(refused_out == SENTINEL);
    }

    yk_topology *out = SENTINEL;
    prime_last_error();
    CHECKF(yk_topology_load(topology_dir, "", &out) != YK_ERROR_OK, "an empty cluster type loaded");
    CHECKF(yk_topology_load(topology_dir, "../standard", &out) != YK_ERROR_OK, "a cluster type with '/' loaded");
    CHECK(out == SENTINEL);
    /* dir NULL reads the Python library's directory. */
    if (access("/nail/etc/kafka_discovery/standard.yaml", F_OK) != 0) {
        EXPECT_CODE(yk_topology_load(NULL, "standard", &out), YK_ERROR_CONFIGURATION, "yk_topology_load",
                    "/nail/etc/kafka_discovery/standard.yaml", NULL);
        CHECK(out == SENTINEL);
    }
    group_end();

    group_begin("topology: bad arguments");
    const char *fn = "yk_topology_load";
    EXPECT_CODE(yk_topology_load(topology_dir, NULL, &out), YK_ERROR_INVALID_ARGUMENT, fn, "cluster_type is NULL",
                NULL);
    EXPECT_CODE(yk_topology_load(topology_dir, "standard", NULL), YK_ERROR_INVALID_ARGUMENT, fn, "out is NULL", NULL);
    EXPECT_CODE(yk_topology_load(BAD_UTF8, "standard", &out), YK_ERROR_INVALID_ARGUMENT, fn, "dir", "UTF-8");
    EXPECT_CODE(yk_topology_load(topology_dir, BAD_UTF8, &out), YK_ERROR_INVALID_ARGUMENT, fn, "cluster_type",
                "UTF-8");
    CHECK(out == SENTINEL);

    EXPECT_ZERO(yk_topology_cluster_count(NULL), "yk_topology_cluster_count", "topology is NULL", NULL);
    EXPECT_NULL(yk_topology_cluster(NULL, 0), "yk_topology_cluster", "topology is NULL", NULL);

    yk_topology *topo = NULL;
    EXPECT_OK(yk_topology_load(topology_dir, "standard", &topo));
    yk_cluster_config *cluster = SENTINEL;
    EXPECT_NULL(yk_topology_cluster(topo, 2), "yk_topology_cluster", "out of range", NULL);
    EXPECT_NULL(yk_topology_cluster(topo, SIZE_MAX), "yk_topology_cluster", "out of range", NULL);
    EXPECT_CODE(yk_topology_cluster_by_name(NULL, "c1", &cluster), YK_ERROR_INVALID_ARGUMENT,
                "yk_topology_cluster_by_name", "topology is NULL", NULL);
    EXPECT_CODE(yk_topology_cluster_by_name(topo, NULL, &cluster), YK_ERROR_INVALID_ARGUMENT,
                "yk_topology_cluster_by_name", "name is NULL", NULL);
    EXPECT_CODE(yk_topology_cluster_by_name(topo, "c1", NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_topology_cluster_by_name", "out is NULL", NULL);
    EXPECT_CODE(yk_topology_cluster_by_name(topo, BAD_UTF8, &cluster), YK_ERROR_INVALID_ARGUMENT,
                "yk_topology_cluster_by_name", "name", "UTF-8");
    EXPECT_CODE(yk_topology_local_cluster(NULL, &cluster), YK_ERROR_INVALID_ARGUMENT, "yk_topology_local_cluster",
                "topology is NULL", NULL);
    EXPECT_CODE(yk_topology_local_cluster(topo, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_topology_local_cluster",
                "out is NULL", NULL);
    CHECK(cluster == SENTINEL);
    yk_topology_free(topo);
    yk_topology_free(NULL);
    remove_topology_dir();
    group_end();
}

/* ------------------------------------------------------------------------ */
/* Discovery                                                                 */
/* ------------------------------------------------------------------------ */

struct expected_topic {
    const char *name;
    size_t partitions; /* ids 0..partitions-1 */
};

static void print_result(const char *what, const yk_discovery_result *result)
{
    fprintf(stderr, "  %s:\n", what);
    size_t clusters = yk_discovery_result_cluster_count(result);
    for (size_t c = 0; c < clusters; c++) {
        fprintf(stderr, "    %s:", yk_cluster_config_name(yk_discovery_result_cluster(result, c)));
        for (size_t t = 0; t < yk_discovery_result_topic_count(result, c); t++) {
            size_t count = 0;
            yk_discovery_result_partitions(result, c, t, &count);
            fprintf(stderr, " %s(%zu)", yk_discovery_result_topic(result, c, t), count);
        }
        fputc('\n', stderr);
    }
}

/* The index of the cluster called `name` in `result`, or -1. */
static long cluster_index(const yk_discovery_result *result, const char *name)
{
    size_t count = yk_discovery_result_cluster_count(result);
    for (size_t i = 0; i < count; i++)
        if (str_eq(yk_cluster_config_name(yk_discovery_result_cluster(result, i)), name))
            return (long)i;
    return -1;
}

/* Topic `t` of cluster `c` has partitions 0..n-1, in order. */
static bool partitions_are(const yk_discovery_result *result, size_t c, size_t t, size_t n)
{
    size_t count = COUNT_SENTINEL;
    const int32_t *ids = yk_discovery_result_partitions(result, c, t, &count);
    if (ids == NULL || count != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != (int32_t)i)
            return false;
    return true;
}

/* Cluster `name` of `result` has exactly the topics `want` (sorted by name), with their partitions. */
static bool cluster_has_exactly(const yk_discovery_result *result, const char *name, const struct expected_topic *want,
                                size_t n)
{
    long c = cluster_index(result, name);
    if (c < 0 || yk_discovery_result_topic_count(result, (size_t)c) != n)
        return false;
    for (size_t t = 0; t < n; t++)
        if (!str_eq(yk_discovery_result_topic(result, (size_t)c, t), want[t].name) ||
            !partitions_are(result, (size_t)c, t, want[t].partitions))
            return false;
    return true;
}

/* Cluster `name` of `result` has `want` among its topics, which are sorted by name. */
static bool cluster_has(const yk_discovery_result *result, const char *name, const struct expected_topic *want,
                        size_t n)
{
    long c = cluster_index(result, name);
    if (c < 0)
        return false;
    size_t topics = yk_discovery_result_topic_count(result, (size_t)c);
    for (size_t t = 1; t < topics; t++) {
        const char *previous = yk_discovery_result_topic(result, (size_t)c, t - 1);
        if (!str_lt(previous, yk_discovery_result_topic(result, (size_t)c, t)))
            return false;
    }
    for (size_t w = 0; w < n; w++) {
        bool found = false;
        for (size_t t = 0; t < topics && !found; t++)
            found = str_eq(yk_discovery_result_topic(result, (size_t)c, t), want[w].name) &&
                    partitions_are(result, (size_t)c, t, want[w].partitions);
        if (!found)
            return false;
    }
    return true;
}

static const struct expected_topic CLUSTER1_TOPICS[] = {{"mytopic", 3}, {"other", 1}, {"xmytopic", 2}};
static const struct expected_topic CLUSTER2_TOPICS[] = {{"team.mytopic", 4}, {"unrelated", 2}};
static const struct expected_topic CLUSTER1_MYTOPIC_REGEX[] = {{"mytopic", 3}, {"xmytopic", 2}};
static const struct expected_topic CLUSTER2_MYTOPIC_REGEX[] = {{"team.mytopic", 4}};

static yk_cluster_config *cluster1, *cluster2, *unreachable;

static void test_discovery_arguments(void)
{
    group_begin("discovery: bad arguments");
    yk_cluster_config *dummy = new_cluster("standard", "dummy", "127.0.0.1:1", "");
    const yk_cluster_config *one[] = {dummy};
    const yk_cluster_config *with_null[] = {dummy, NULL};
    yk_discovery_result *out = SENTINEL;
    yk_config *unknown_key = NULL, *bad_value = NULL;
    EXPECT_OK(yk_config_new(&unknown_key));
    EXPECT_OK(yk_config_set(unknown_key, "bogus_option", "1"));
    EXPECT_OK(yk_config_new(&bad_value));
    EXPECT_OK(yk_config_set(bad_value, "metadata_timeout_ms", "soon"));

    const char *fn = "yk_discover_topics";
    EXPECT_CODE(yk_discover_topics(NULL, NULL, &out), YK_ERROR_INVALID_ARGUMENT, fn, "cluster is NULL", NULL);
    EXPECT_CODE(yk_discover_topics(dummy, NULL, NULL), YK_ERROR_INVALID_ARGUMENT, fn, "out is NULL", NULL);
    EXPECT_CODE(yk_discover_topics(dummy, unknown_key, &out), YK_ERROR_CONFIGURATION, fn, "bogus_option", NULL);
    EXPECT_CODE(yk_discover_topics(dummy, bad_value, &out), YK_ERROR_CONFIGURATION, fn, "metadata_timeout_ms", NULL);
    CHECK(out == SENTINEL);

    fn = "yk_search_topic";
    EXPECT_CODE(yk_search_topic(NULL, one, 1, NULL, &out), YK_ERROR_INVALID_ARGUMENT, fn, "topic is NULL", NULL);
    EXPECT_CODE(yk_search_topic("t", NULL, 1, NULL, &out), YK_ERROR_INVALID_ARGUMENT, fn, "clusters", "is NULL");
    EXPECT_CODE(yk_search_topic("t", with_null, 2, NULL, &out), YK_ERROR_INVALID_ARGUMENT, fn, "clusters[1]",
                "is NULL");
    EXPECT_CODE(yk_search_topic("t", one, 1, NULL, NULL), YK_ERROR_INVALID_ARGUMENT, fn, "out is NULL", NULL);
    EXPECT_CODE(yk_search_topic(BAD_UTF8, one, 1, NULL, &out), YK_ERROR_INVALID_ARGUMENT, fn, "topic", "UTF-8");
    EXPECT_CODE(yk_search_topic("t", one, 1, unknown_key, &out), YK_ERROR_CONFIGURATION, fn, "bogus_option", NULL);
    CHECK(out == SENTINEL);

    fn = "yk_search_topics_by_regex";
    EXPECT_CODE(yk_search_topics_by_regex(NULL, one, 1, NULL, &out), YK_ERROR_INVALID_ARGUMENT, fn,
                "pattern is NULL", NULL);
    EXPECT_CODE(yk_search_topics_by_regex("t", NULL, 1, NULL, &out), YK_ERROR_INVALID_ARGUMENT, fn, "clusters",
                "is NULL");
    EXPECT_CODE(yk_search_topics_by_regex("t", with_null, 2, NULL, &out), YK_ERROR_INVALID_ARGUMENT, fn,
                "clusters[1]", "is NULL");
    EXPECT_CODE(yk_search_topics_by_regex("t", one, 1, NULL, NULL), YK_ERROR_INVALID_ARGUMENT, fn, "out is NULL",
                NULL);
    EXPECT_CODE(yk_search_topics_by_regex(BAD_UTF8, one, 1, NULL, &out), YK_ERROR_INVALID_ARGUMENT, fn, "pattern",
                "UTF-8");
    EXPECT_CODE(yk_search_topics_by_regex("(", one, 1, NULL, &out), YK_ERROR_CONFIGURATION, fn, "pattern", NULL);
    EXPECT_CODE(yk_search_topics_by_regex("[a-", one, 1, NULL, &out), YK_ERROR_CONFIGURATION, fn, "[a-", NULL);
    /* Unbalanced, as Python's re says (with its message): refused before
     * any cluster is asked, never a way out of the start anchor (it would
     * match "xmytopic"). */
    EXPECT_CODE(yk_search_topics_by_regex("zzz)|(mytopic", one, 1, NULL, &out), YK_ERROR_CONFIGURATION, fn,
                "\"zzz)|(mytopic\"", "unbalanced parenthesis");
    EXPECT_CODE(yk_search_topics_by_regex("a)|(b", one, 1, NULL, &out), YK_ERROR_CONFIGURATION, fn, "a)|(b", NULL);
    EXPECT_CODE(yk_search_topics_by_regex("t", one, 1, unknown_key, &out), YK_ERROR_CONFIGURATION, fn,
                "bogus_option", NULL);
    CHECK(out == SENTINEL);

    /* Zero clusters (the array may then be NULL): an empty result. */
    yk_discovery_result *empty = NULL;
    EXPECT_OK(yk_search_topic("t", NULL, 0, NULL, &empty));
    CHECK(empty != NULL && yk_discovery_result_cluster_count(empty) == 0);
    yk_discovery_result_free(empty);
    empty = NULL;
    EXPECT_OK(yk_search_topics_by_regex(".*", NULL, 0, NULL, &empty));
    CHECK(empty != NULL && yk_discovery_result_cluster_count(empty) == 0);
    yk_discovery_result_free(empty);

    /* Result accessors on NULL. */
    size_t count = COUNT_SENTINEL;
    EXPECT_ZERO(yk_discovery_result_cluster_count(NULL), "yk_discovery_result_cluster_count", "result is NULL", NULL);
    EXPECT_NULL(yk_discovery_result_cluster(NULL, 0), "yk_discovery_result_cluster", "result is NULL", NULL);
    EXPECT_ZERO(yk_discovery_result_topic_count(NULL, 0), "yk_discovery_result_topic_count", "result is NULL", NULL);
    EXPECT_NULL(yk_discovery_result_topic(NULL, 0, 0), "yk_discovery_result_topic", "result is NULL", NULL);
    EXPECT_NULL(yk_discovery_result_partitions(NULL, 0, 0, &count), "yk_discovery_result_partitions",
                "result is NULL", NULL);
    CHECK(count == COUNT_SENTINEL);
    yk_discovery_result_free(NULL);

    yk_config_free(unknown_key);
    yk_config_free(bad_value);
    yk_cluster_config_free(dummy);
    group_end();
}

/* Out-of-range indexes on a real result (cluster1 with its 3 topics). */
static void check_result_indexes(const yk_discovery_result *result)
{
    size_t clusters = yk_discovery_result_cluster_count(result);
    size_t topics = yk_discovery_result_topic_count(result, 0);
    size_t count = COUNT_SENTINEL;
    EXPECT_NULL(yk_discovery_result_cluster(result, clusters), "yk_discovery_result_cluster", "out of range", NULL);
    EXPECT_NULL(yk_discovery_result_cluster(result, SIZE_MAX), "yk_discovery_result_cluster", "out of range", NULL);
    EXPECT_ZERO(yk_discovery_result_topic_count(result, clusters), "yk_discovery_result_topic_count", "out of range",
                NULL);
    EXPECT_NULL(yk_discovery_result_topic(result, clusters, 0), "yk_discovery_result_topic", "out of range", NULL);
    EXPECT_NULL(yk_discovery_result_topic(result, 0, topics), "yk_discovery_result_topic", "out of range", NULL);
    EXPECT_NULL(yk_discovery_result_partitions(result, clusters, 0, &count), "yk_discovery_result_partitions",
                "out of range", NULL);
    EXPECT_NULL(yk_discovery_result_partitions(result, 0, topics, &count), "yk_discovery_result_partitions",
                "out of range", NULL);
    EXPECT_NULL(yk_discovery_result_partitions(result, 0, SIZE_MAX, &count), "yk_discovery_result_partitions",
                "out of range", NULL);
    CHECK(count == COUNT_SENTINEL);
    EXPECT_NULL(yk_discovery_result_partitions(result, 0, 0, NULL), "yk_discovery_result_partitions", "count is NULL",
                NULL);
}

static void test_discovery(void)
{
    group_begin("discovery: discover_topics");
    yk_discovery_result *result = NULL;
    EXPECT_OK(yk_discover_topics(cluster1, NULL, &result));
    if (result) {
        CHECK(yk_discovery_result_cluster_count(result) == 1);
        const yk_cluster_config *found = yk_discovery_result_cluster(result, 0);
        CHECK(yk_cluster_config_equal(found, cluster1));
        CHECK(found != cluster1); /* the result owns its copy */
        if (!CHECKF(cluster_has(result, "cluster1", CLUSTER1_TOPICS, 3),
                    "cluster1 lacks mytopic(3), other(1), xmytopic(2), or topics are not sorted"))
            print_result("discover_topics(cluster1)", result);
        check_result_indexes(result);
        yk_discovery_result_free(result);
    }
    result = NULL;
    yk_config *options = NULL;
    EXPECT_OK(yk_config_new(&options));
    EXPECT_OK(yk_config_set(options, "client_id", "yk-c-api-test"));
    EXPECT_OK(yk_discover_topics(cluster2, options, &result));
    if (result) {
        if (!CHECKF(cluster_has(result, "cluster2", CLUSTER2_TOPICS, 2),
                    "cluster2 lacks team.mytopic(4), unrelated(2)"))
            print_result("discover_topics(cluster2)", result);
        yk_discovery_result_free(result);
    }
    yk_config_free(options);
    group_end();

    const yk_cluster_config *both[] = {cluster1, cluster2};

    group_begin("discovery: search_topic");
    result = NULL;
    EXPECT_OK(yk_search_topic("mytopic", both, 2, NULL, &result));
    if (result) {
        const struct expected_topic want[] = {{"mytopic", 3}};
        CHECK(yk_discovery_result_cluster_count(result) == 1);
        if (!CHECK(cluster_has_exactly(result, "cluster1", want, 1)))
            print_result("search_topic(mytopic)", result);
        CHECK(yk_cluster_config_equal(yk_discovery_result_cluster(result, 0), cluster1));
        yk_discovery_result_free(result);
    }
    result = NULL;
    EXPECT_OK(yk_search_topic("team.mytopic", both, 2, NULL, &result));
    if (result) {
        CHECK(yk_discovery_result_cluster_count(result) == 1);
        if (!CHECK(cluster_has_exactly(result, "cluster2", CLUSTER2_MYTOPIC_REGEX, 1)))
            print_result("search_topic(team.mytopic)", result);
        yk_discovery_result_free(result);
    }
    result = NULL;
    EXPECT_OK(yk_search_topic("no.such.topic", both, 2, NULL, &result));
    CHECK(result != NULL && yk_discovery_result_cluster_count(result) == 0);
    yk_discovery_result_free(result);
    /* Names are matched exactly, not as patterns. */
    result = NULL;
    EXPECT_OK(yk_search_topic(".*mytopic", both, 2, NULL, &result));
    CHECK(result != NULL && yk_discovery_result_cluster_count(result) == 0);
    yk_discovery_result_free(result);
    group_end();

    group_begin("discovery: search_topics_by_regex");
    result = NULL;
    EXPECT_OK(yk_search_topics_by_regex(".*mytopic", both, 2, NULL, &result));
    if (result) {
        CHECK(yk_discovery_result_cluster_count(result) == 2);
        bool ok = CHECKF(cluster_has_exactly(result, "cluster1", CLUSTER1_MYTOPIC_REGEX, 2),
                         "cluster1 must have exactly mytopic(3), xmytopic(2)");
        ok &= CHECKF(cluster_has_exactly(result, "cluster2", CLUSTER2_MYTOPIC_REGEX, 1),
                     "cluster2 must have exactly team.mytopic(4)");
        long c1 = cluster_index(result, "cluster1"), c2 = cluster_index(result, "cluster2");
        ok &= CHECK(c1 >= 0 && yk_cluster_config_equal(yk_discovery_result_cluster(result, (size_t)c1), cluster1));
        ok &= CHECK(c2 >= 0 && yk_cluster_config_equal(yk_discovery_result_cluster(result, (size_t)c2), cluster2));
        if (!ok)
            print_result("search_topics_by_regex(.*mytopic)", result);
        yk_discovery_result_free(result);
    }
    /* re.match semantics: "mytopic" matches at the start only. */
    result = NULL;
    EXPECT_OK(yk_search_topics_by_regex("mytopic", both, 2, NULL, &result));
    if (result) {
        const struct expected_topic want[] = {{"mytopic", 3}};
        CHECKF(yk_discovery_result_cluster_count(result) == 1, "\"mytopic\" matched in %zu clusters",
               yk_discovery_result_cluster_count(result));
        if (!CHECKF(cluster_has_exactly(result, "cluster1", want, 1), "\"mytopic\" must not match xmytopic"))
            print_result("search_topics_by_regex(mytopic)", result);
        yk_discovery_result_free(result);
    }
    /* An alternation stays inside the anchor: "other|xmy" matches other and xmytopic, not mytopic. */
    result = NULL;
    EXPECT_OK(yk_search_topics_by_regex("other|xmy", both, 2, NULL, &result));
    if (result) {
        const struct expected_topic want[] = {{"other", 1}, {"xmytopic", 2}};
        CHECK(yk_discovery_result_cluster_count(result) == 1);
        if (!CHECK(cluster_has_exactly(result, "cluster1", want, 2)))
            print_result("search_topics_by_regex(other|xmy)", result);
        yk_discovery_result_free(result);
    }
    /* No match anywhere: clusters without a match are left out. */
    result = NULL;
    EXPECT_OK(yk_search_topics_by_regex("topic", both, 2, NULL, &result));
    CHECK(result != NULL && yk_discovery_result_cluster_count(result) == 0);
    yk_discovery_result_free(result);
    /* A bad pattern, with reachable clusters. */
    yk_discovery_result *out = SENTINEL;
    EXPECT_CODE(yk_search_topics_by_regex("(", both, 2, NULL, &out), YK_ERROR_CONFIGURATION,
                "yk_search_topics_by_regex", "pattern", NULL);
    CHECK(out == SENTINEL);
    group_end();
}

static void expect_discovery_error_in_time(const char *expr, yk_error code, double started, yk_discovery_result *out)
{
    double elapsed = now_seconds() - started;
    check_at(code == YK_ERROR_DISCOVERY, __FILE__, __LINE__, "%s = %s (%s), expected DiscoveryError", expr,
             yk_error_name(code), yk_last_error_message());
    check_at(yk_last_error_code() == YK_ERROR_DISCOVERY, __FILE__, __LINE__, "%s: last error %s", expr,
             yk_error_name(yk_last_error_code()));
    check_at(contains(yk_last_error_message(), "unreachable"), __FILE__, __LINE__,
             "%s: message \"%s\" does not name the cluster", expr, yk_last_error_message());
    check_at(elapsed < 1.8, __FILE__, __LINE__,
             "%s took %.2f s with metadata_timeout_ms=1000 (expected about 1 s)", expr, elapsed);
    check_at(out == SENTINEL, __FILE__, __LINE__, "%s wrote out on failure", expr);
    check_at(yk_last_error_is_retriable() == yk_error_is_retriable(YK_ERROR_DISCOVERY), __FILE__, __LINE__,
             "%s: yk_last_error_is_retriable disagrees with yk_error_is_retriable", expr);
    check_at(yk_last_error_kafka_code() == 0, __FILE__, __LINE__, "%s: kafka code %d", expr,
             yk_last_error_kafka_code());
}

static void test_unreachable(void)
{
    group_begin("discovery: unreachable cluster");
    yk_config *options = NULL;
    EXPECT_OK(yk_config_new(&options));
    EXPECT_OK(yk_config_set(options, "metadata_timeout_ms", "1000"));
    EXPECT_OK(yk_config_validate_client(options));
    yk_discovery_result *out = SENTINEL;
    double started;

    prime_last_error();
    started = now_seconds();
    yk_error code = yk_discover_topics(unreachable, options, &out);
    expect_discovery_error_in_time("yk_discover_topics(127.0.0.1:1)", code, started, out);

    /* One unreachable cluster fails the whole search. */
    const yk_cluster_config *mixed[] = {cluster1, unreachable};
    prime_last_error();
    started = now_seconds();
    code = yk_search_topic("mytopic", mixed, 2, options, &out);
    expect_discovery_error_in_time("yk_search_topic(mytopic, [cluster1, 127.0.0.1:1])", code, started, out);

    prime_last_error();
    started = now_seconds();
    code = yk_search_topics_by_regex(".*mytopic", mixed, 2, options, &out);
    expect_discovery_error_in_time("yk_search_topics_by_regex(.*mytopic, [cluster1, 127.0.0.1:1])", code, started,
                                   out);

    /* A broker that never answers a connect (TEST-NET-1) is cut off by the same deadline. */
    yk_cluster_config *blackhole = new_cluster("standard", "unreachable", "192.0.2.1:9092", "");
    prime_last_error();
    started = now_seconds();
    code = yk_discover_topics(blackhole, options, &out);
    expect_discovery_error_in_time("yk_discover_topics(192.0.2.1:9092)", code, started, out);
    yk_cluster_config_free(blackhole);
    yk_config_free(options);
    group_end();
}

/* Several threads share the cluster handles and search at once. */
struct thread_job {
    int id;
    pthread_barrier_t *barrier;
    bool searches_ok;
    bool own_error_kept;
};

static void *search_in_thread(void *arg)
{
    struct thread_job *job = arg;
    const yk_cluster_config *both[] = {cluster1, cluster2};
    char dir[64];
    snprintf(dir, sizeof dir, "/nonexistent-yk-thread-%d", job->id);
    yk_topology *out = NULL;
    yk_topology_load(dir, "standard", &out); /* a failure that names this thread's directory */
    pthread_barrier_wait(job->barrier);
    job->searches_ok = true;
    for (int i = 0; i < 3; i++) {
        yk_discovery_result *result = NULL;
        if (yk_search_topics_by_regex(".*mytopic", both, 2, NULL, &result) != YK_ERROR_OK) {
            job->searches_ok = false;
            continue;
        }
        job->searches_ok &= cluster_has_exactly(result, "cluster1", CLUSTER1_MYTOPIC_REGEX, 2) &&
                            cluster_has_exactly(result, "cluster2", CLUSTER2_MYTOPIC_REGEX, 1);
        yk_discovery_result_free(result);
    }
    pthread_barrier_wait(job->barrier);
    job->own_error_kept = contains(yk_last_error_message(), dir) && yk_last_error_code() == YK_ERROR_CONFIGURATION;
    return NULL;
}

static void test_threads(void)
{
    group_begin("discovery: concurrent threads");
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    struct thread_job jobs[THREADS];
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (struct thread_job){.id = i, .barrier = &barrier};
        CHECK(pthread_create(&threads[i], NULL, search_in_thread, &jobs[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECKF(jobs[i].searches_ok, "thread %d: search_topics_by_regex gave a wrong result", i);
        CHECKF(jobs[i].own_error_kept, "thread %d: its last error was changed by another thread", i);
    }
    pthread_barrier_destroy(&barrier);
    group_end();
}

/* docs/c-abi.md: after fork(), a child creates new handles and they work. */
static void test_fork(void)
{
    group_begin("discovery: in a forked child");
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        alarm(20);
        yk_cluster_config *config = NULL;
        yk_discovery_result *result = NULL;
        bool ok = yk_cluster_config_new("standard", "cluster1", yk_cluster_config_broker_list(cluster1), "",
                                        &config) == YK_ERROR_OK &&
                  yk_discover_topics(config, NULL, &result) == YK_ERROR_OK &&
                  cluster_has(result, "cluster1", CLUSTER1_TOPICS, 3);
        if (!ok)
            fprintf(stderr, "  child: %s: %s\n", yk_error_name(yk_last_error_code()), yk_last_error_message());
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s %d",
           WIFEXITED(status) ? "exit status" : "killed by signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    group_end();
}

/* ------------------------------------------------------------------------ */

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    start_watchdog("api_test");

    test_last_error_before_any_failure();
    test_error_codes();
    test_last_error();
    test_cluster_config_arguments();
    test_cluster_config_values();
    test_config();
    test_consumer_config_group_ids();
    test_topology();
    test_discovery_arguments();

    group_begin("discovery: local cluster");
    const char *kafka1 = getenv("YK_KAFKA1");
    const char *kafka2 = getenv("YK_KAFKA2");
    bool have_cluster = CHECKF(kafka1 && *kafka1 && kafka2 && *kafka2,
                               "YK_KAFKA1 and YK_KAFKA2 must hold the bootstrap lists of scripts/cluster.sh "
                               "(run scripts/cluster.sh up and source target/cluster/env)");
    unreachable = new_cluster("standard", "unreachable", "127.0.0.1:1", "");
    if (have_cluster) {
        cluster1 = new_cluster("standard", "cluster1", kafka1, "");
        cluster2 = new_cluster("standard", "cluster2", kafka2, "");
        have_cluster = cluster1 && cluster2;
    }
    group_end();
    if (have_cluster) {
        test_discovery();
        test_unreachable();
        test_threads();
        test_fork();
    }
    yk_cluster_config_free(cluster1);
    yk_cluster_config_free(cluster2);
    yk_cluster_config_free(unreachable);

    return checks_summary();
}
