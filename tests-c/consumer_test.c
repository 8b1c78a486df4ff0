/*
 * tests-c/consumer_test.c: the consumer, message and offsets C API against
 * the local cluster (scripts/cluster.sh: bootstrap list in $YK_KAFKA1 with
 * topics "mytopic" (3 partitions) and "other" (1), ZooKeeper in
 * $YK_ZOOKEEPER), linked statically: ZooKeeper offset storage must work
 * from a C program linked against libyelp_kafka.a (docs/protocol-notes.md).
 *
 * Checks: every consumer, message, topics and offsets export rejects NULL
 * and bad arguments with a code and a message naming the function and the
 * argument, out-parameters untouched on failure; configuration keys and
 * values are checked as they are set and the dump shows them; messages
 * written by the producer read back byte-exact at their offsets; task_done
 * out of order commits up to the first gap, in ZooKeeper, and a new
 * consumer starts there; the offsets API (current, watermarks, set,
 * advance, rewind, distances) with and without raise_on_error; close wakes
 * a thread blocked in get_message; a consumer and an offsets client made
 * before fork() are refused in the child, while a configuration (plain
 * data) stays usable there. Prints "N passed, M failed" last.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *kafka1;
static char zookeeper[256];
/* Groups and the chroot are unique per run: the local cluster lives on. */
static char run_id[64];

/* Debian's librdkafka 2.0.2 mock (the local cluster) mis-encodes
 * ListOffsets v4/v5 answers; v3 is what every broker since 0.11 speaks. */
static const char *const VERSION_CAPS = "ListOffsets:3";

static yk_cluster_config *cluster_with_zookeeper(void)
{
    yk_cluster_config *cluster = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka1, zookeeper, &cluster));
    return cluster;
}

static yk_consumer_config *consumer_config(const char *group, const char *storage)
{
    yk_cluster_config *cluster = cluster_with_zookeeper();
    yk_consumer_config *config = NULL;
    EXPECT_OK(yk_consumer_config_new(group, cluster, &config));
    yk_cluster_config_free(cluster);
    EXPECT_OK(yk_consumer_config_set(config, "api_version_caps", VERSION_CAPS));
    EXPECT_OK(yk_consumer_config_set(config, "offset_storage", storage));
    return config;
}

static yk_offsets *offsets_client(const char *storage)
{
    yk_cluster_config *cluster = cluster_with_zookeeper();
    yk_config *config = NULL;
    yk_offsets *offsets = NULL;
    EXPECT_OK(yk_config_new(&config));
    EXPECT_OK(yk_config_set(config, "api_version_caps", VERSION_CAPS));
    EXPECT_OK(yk_config_set(config, "offset_storage", storage));
    EXPECT_OK(yk_offsets_new(cluster, config, &offsets));
    yk_config_free(config);
    yk_cluster_config_free(cluster);
    return offsets;
}

static void rebalance_noop(void *opaque, const yk_topic_partition *partitions, size_t count)
{
    (void)opaque;
    (void)partitions;
    (void)count;
}

static void test_config(void)
{
    group_begin("consumer config: checked, dumped");
    yk_cluster_config *cluster = cluster_with_zookeeper();
    yk_consumer_config *config = SENTINEL;
    EXPECT_CODE(yk_consumer_config_new(NULL, cluster, &config), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_config_new",
                "group_id", "NULL");
    EXPECT_CODE(yk_consumer_config_new(BAD_UTF8, cluster, &config), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_config_new", "group_id", "UTF-8");
    EXPECT_CODE(yk_consumer_config_new("g", NULL, &config), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_config_new",
                "cluster", NULL);
    EXPECT_CODE(yk_consumer_config_new("g", cluster, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_config_new", "out",
                NULL);
    EXPECT_CODE(yk_consumer_config_new("", cluster, &config), YK_ERROR_CONFIGURATION, "yk_consumer_config_new",
                "group_id", "empty");
    CHECK(config == SENTINEL);
    config = NULL;
    EXPECT_OK(yk_consumer_config_new("group-a", cluster, &config));
    yk_cluster_config_free(cluster);

    EXPECT_CODE(yk_consumer_config_set(NULL, "auto_offset_reset", "smallest"), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_config_set", "config", NULL);
    EXPECT_CODE(yk_consumer_config_set(config, NULL, "x"), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_config_set", "key",
                NULL);
    EXPECT_CODE(yk_consumer_config_set(config, "auto_offset_reset", NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_config_set", "value", NULL);
    EXPECT_CODE(yk_consumer_config_set(config, "auto_ofset_reset", "smallest"), YK_ERROR_CONFIGURATION,
                "yk_consumer_config_set", "auto_ofset_reset", "unknown");
    EXPECT_CODE(yk_consumer_config_set(config, "auto_offset_reset", "oldest"), YK_ERROR_CONFIGURATION,
                "yk_consumer_config_set", "auto_offset_reset", "oldest");
    /* librdkafka's names for smallest and largest. */
    EXPECT_OK(yk_consumer_config_set(config, "auto_offset_reset", "latest"));
    CHECK(contains(yk_consumer_config_dump(config), "auto_offset_reset = latest\n"));
    EXPECT_OK(yk_consumer_config_set(config, "auto_offset_reset", "earliest"));
    CHECK(contains(yk_consumer_config_dump(config), "auto_offset_reset = earliest\n"));
    EXPECT_CODE(yk_consumer_config_set(config, "auto_commit_interval_ms", "soon"), YK_ERROR_CONFIGURATION,
                "yk_consumer_config_set", "auto_commit_interval_ms", NULL);
    EXPECT_CODE(yk_consumer_config_set(config, "offset_storage", "redis"), YK_ERROR_CONFIGURATION,
                "yk_consumer_config_set", "offset_storage", NULL);
    EXPECT_CODE(yk_consumer_config_set(config, "partitioner_cooldown", "-2"), YK_ERROR_CONFIGURATION,
                "yk_consumer_config_set", "partitioner_cooldown", NULL);
    EXPECT_OK(yk_consumer_config_set(config, "auto_offset_reset", "smallest"));
    EXPECT_OK(yk_consumer_config_set(config, "partitioner_cooldown", "0.5"));
    EXPECT_OK(yk_consumer_config_set(config, "client_id", "billing"));

    EXPECT_CODE(yk_consumer_config_add_metrics_dimension(NULL, "a", "b"), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_config_add_metrics_dimension", "config", NULL);
    EXPECT_CODE(yk_consumer_config_add_metrics_dimension(config, NULL, "b"), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_config_add_metrics_dimension", "name", NULL);
    EXPECT_CODE(yk_consumer_config_add_metrics_dimension(config, "a", NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_config_add_metrics_dimension", "value", NULL);
    EXPECT_CODE(yk_consumer_config_add_metrics_dimension(config, "a=b", "c"), YK_ERROR_CONFIGURATION,
                "yk_consumer_config_add_metrics_dimension", "a=b", NULL);
    EXPECT_OK(yk_consumer_config_add_metrics_dimension(config, "service", "billing"));
    EXPECT_CODE(yk_consumer_config_add_metrics_dimension(config, "service", "again"), YK_ERROR_CONFIGURATION,
                "yk_consumer_config_add_metrics_dimension", "repeats", NULL);

    EXPECT_CODE(yk_consumer_config_set_rebalance_callbacks(NULL, rebalance_noop, NULL, NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_config_set_rebalance_callbacks", "config", NULL);
    EXPECT_OK(yk_consumer_config_set_rebalance_callbacks(config, rebalance_noop, NULL, NULL));

    EXPECT_NULL(yk_consumer_config_dump(NULL), "yk_consumer_config_dump", "config", NULL);
    const char *dump = yk_consumer_config_dump(config);
    CHECKF(contains(dump, "group_id = group-a\n"), "dump: %s", dump);
    CHECK(contains(dump, "auto_offset_reset = smallest\n"));
    CHECK(contains(dump, "auto_commit_interval_messages = 100 (default)\n"));
    CHECK(contains(dump, "auto_commit_interval_ms = 60000 (default)\n"));
    CHECK(contains(dump, "consumer_timeout_ms = 100 (default)\n"));
    CHECK(contains(dump, "fetch_message_max_bytes = 2097152 (default)\n"));
    CHECK(contains(dump, "offset_storage = zookeeper (default)\n"));
    CHECK(contains(dump, "partitioner_cooldown = 0.5\n"));
    CHECK(contains(dump, "client_id = billing\n"));
    CHECK(contains(dump, "metrics_dimensions = service=billing\n"));
    CHECK(contains(dump, "pre_rebalance_callback = set\n"));
    CHECK(contains(dump, "post_rebalance_callback = none\n"));
    yk_consumer_config_free(config);
    yk_consumer_config_free(NULL);
    group_end();
}

static void test_bad_arguments(void)
{
    group_begin("consumer: bad arguments");
    yk_consumer_config *config = consumer_config("bad-arguments", "kafka");
    yk_consumer *consumer = SENTINEL;
    const char *topics[] = {"mytopic", NULL};
    int32_t partitions[] = {0};

    EXPECT_CODE(yk_consumer_new_simple(NULL, "mytopic", NULL, 0, &consumer), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_new_simple", "config", NULL);
    EXPECT_CODE(yk_consumer_new_simple(config, NULL, NULL, 0, &consumer), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_new_simple", "topic", "NULL");
    EXPECT_CODE(yk_consumer_new_simple(config, BAD_UTF8, NULL, 0, &consumer), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_new_simple", "topic", "UTF-8");
    EXPECT_CODE(yk_consumer_new_simple(config, "", NULL, 0, &consumer), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_new_simple", "topic", "empty");
    EXPECT_CODE(yk_consumer_new_simple(config, "mytopic", NULL, 2, &consumer), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_new_simple", "partitions", "NULL");
    int32_t negative[] = {-1};
    EXPECT_CODE(yk_consumer_new_simple(config, "mytopic", negative, 1, &consumer), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_new_simple", "negative", NULL);
    EXPECT_CODE(yk_consumer_new_simple(config, "mytopic", partitions, 1, NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_new_simple", "out", NULL);
    EXPECT_CODE(yk_consumer_new(NULL, topics, 1, &consumer), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_new", "config",
                NULL);
    EXPECT_CODE(yk_consumer_new(config, NULL, 1, &consumer), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_new", "topics",
                "NULL");
    EXPECT_CODE(yk_consumer_new(config, topics, 2, &consumer), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_new",
                "topics[1]", NULL);
    EXPECT_CODE(yk_consumer_new(config, topics, 0, &consumer), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_new",
                "no topic", NULL);
    EXPECT_CODE(yk_consumer_new(config, topics, 1, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_new", "out", NULL);
    CHECK(consumer == SENTINEL);

    yk_cluster_config *without_zookeeper = NULL;
    yk_consumer_config *zookeeper_less = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka1, "", &without_zookeeper));
    EXPECT_OK(yk_consumer_config_new("g", without_zookeeper, &zookeeper_less));
    EXPECT_CODE(yk_consumer_new(zookeeper_less, topics, 1, &consumer), YK_ERROR_INVALID_OFFSET_STORAGE,
                "yk_consumer_new", "ZooKeeper", NULL);
    yk_consumer_config_free(zookeeper_less);
    yk_cluster_config_free(without_zookeeper);

    consumer = NULL;
    EXPECT_OK(yk_consumer_new_simple(config, "no-such-topic", NULL, 0, &consumer));
    EXPECT_CODE(yk_consumer_connect(consumer), YK_ERROR_UNKNOWN_TOPIC, "yk_consumer_connect", "no-such-topic", NULL);
    yk_consumer_free(consumer);
    int32_t missing[] = {0, 42};
    consumer = NULL;
    EXPECT_OK(yk_consumer_new_simple(config, "mytopic", missing, 2, &consumer));
    EXPECT_CODE(yk_consumer_connect(consumer), YK_ERROR_UNKNOWN_PARTITIONS, "yk_consumer_connect", "42", NULL);
    yk_consumer_free(consumer);

    consumer = NULL;
    EXPECT_OK(yk_consumer_new_simple(config, "mytopic", partitions, 1, &consumer));
    yk_message *message = SENTINEL;
    EXPECT_CODE(yk_consumer_connect(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_connect", "consumer", NULL);
    EXPECT_CODE(yk_consumer_get_message(consumer, true, 10, &message), YK_ERROR_WRONG_STATE, "yk_consumer_get_message",
                "not connected", NULL);
    EXPECT_CODE(yk_consumer_next(consumer, &message), YK_ERROR_WRONG_STATE, "yk_consumer_next", "not connected", NULL);
    EXPECT_CODE(yk_consumer_commit(consumer), YK_ERROR_WRONG_STATE, "yk_consumer_commit", NULL, NULL);
    EXPECT_OK(yk_consumer_connect(consumer));
    EXPECT_CODE(yk_consumer_connect(consumer), YK_ERROR_WRONG_STATE, "yk_consumer_connect", "already", NULL);
    EXPECT_CODE(yk_consumer_get_message(NULL, true, 10, &message), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_get_message", "consumer", NULL);
    EXPECT_CODE(yk_consumer_get_message(consumer, true, 10, NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_get_message", "out", NULL);
    EXPECT_CODE(yk_consumer_next(NULL, &message), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_next", "consumer", NULL);
    EXPECT_CODE(yk_consumer_next(consumer, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_next", "out", NULL);
    EXPECT_CODE(yk_consumer_get_message(consumer, false, 0, &message), YK_ERROR_CONSUMER_TIMEOUT,
                "yk_consumer_get_message", "no message", NULL);
    CHECK(message == SENTINEL);
    EXPECT_CODE(yk_consumer_task_done(NULL, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_task_done", "consumer",
                NULL);
    EXPECT_CODE(yk_consumer_task_done(consumer, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_task_done", "message",
                NULL);
    EXPECT_CODE(yk_consumer_commit(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_commit", "consumer", NULL);
    EXPECT_CODE(yk_consumer_commit_partitions(NULL, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_commit_partitions", "consumer", NULL);
    EXPECT_CODE(yk_consumer_commit_partitions(consumer, NULL, 1), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_commit_partitions", "partitions", "NULL");
    yk_topic_partition bad_topic = {BAD_UTF8, 0};
    EXPECT_CODE(yk_consumer_commit_partitions(consumer, &bad_topic, 1), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_commit_partitions", "partitions[0].topic", "UTF-8");
    EXPECT_OK(yk_consumer_commit_partitions(consumer, NULL, 0));
    EXPECT_CODE(yk_consumer_commit_message(NULL, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_commit_message",
                "consumer", NULL);
    EXPECT_CODE(yk_consumer_commit_message(consumer, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_commit_message",
                "message", NULL);
    EXPECT_CODE(yk_consumer_close(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_close", "consumer", NULL);
    EXPECT_OK(yk_consumer_close(consumer));
    EXPECT_OK(yk_consumer_close(consumer));
    EXPECT_CODE(yk_consumer_next(consumer, &message), YK_ERROR_CLOSED_HANDLE, "yk_consumer_next", "closed", NULL);
    CHECK(message == SENTINEL);
    yk_consumer_free(consumer);
    yk_consumer_free(NULL);

    size_t len = COUNT_SENTINEL;
    EXPECT_NULL(yk_message_topic(NULL), "yk_message_topic", "message", NULL);
    prime_last_error();
    CHECK(yk_message_partition(NULL) == -1 && yk_last_error_code() == YK_ERROR_INVALID_ARGUMENT);
    prime_last_error();
    CHECK(yk_message_offset(NULL) == -1 && yk_last_error_code() == YK_ERROR_INVALID_ARGUMENT);
    prime_last_error();
    CHECK(yk_message_timestamp(NULL) == -1 && yk_last_error_code() == YK_ERROR_INVALID_ARGUMENT);
    EXPECT_NULL(yk_message_key(NULL, &len), "yk_message_key", "message", NULL);
    EXPECT_NULL(yk_message_value(NULL, &len), "yk_message_value", "message", NULL);
    CHECK(len == COUNT_SENTINEL);
    yk_message_free(NULL);
    yk_consumer_config_free(config);
    group_end();
}

/* Writes `count` values "<prefix>-<i>" to partition 0 of "other" (its only
 * one) with the producer; returns the first offset, or -1. */
static int64_t produce_values(const char *prefix, int count, char values[][64])
{
    yk_cluster_config *cluster = cluster_with_zookeeper();
    yk_producer *producer = NULL;
    EXPECT_OK(yk_producer_new(cluster, NULL, NULL, &producer));
    yk_bytes bytes[16];
    int64_t offsets[16];
    for (int i = 0; i < count; i++) {
        snprintf(values[i], 64, "%s-%d-\x01\x7f\xfe", prefix, i);
        bytes[i].data = (const uint8_t *)values[i];
        bytes[i].len = strlen(values[i]);
    }
    yk_error sent = yk_producer_send_messages(producer, "other", bytes, (size_t)count, offsets);
    CHECKF(sent == YK_ERROR_OK, "send: %s", yk_last_error_message());
    size_t undelivered = 0;
    EXPECT_OK(yk_producer_close(producer, 5000, &undelivered));
    yk_producer_free(producer);
    yk_cluster_config_free(cluster);
    return sent == YK_ERROR_OK ? offsets[0] : -1;
}

static yk_message *next_message(yk_consumer *consumer)
{
    yk_message *message = NULL;
    yk_error code = yk_consumer_get_message(consumer, true, 5000, &message);
    CHECKF(code == YK_ERROR_OK, "get_message: %s: %s", yk_error_name(code), yk_last_error_message());
    return code == YK_ERROR_OK ? message : NULL;
}

static void test_round_trip_with_zookeeper_offsets(void)
{
    group_begin("consumer: byte-exact, ZooKeeper commits");
    char group[128];
    snprintf(group, sizeof group, "c-test-%s", run_id);
    yk_consumer_config *config = consumer_config(group, "zookeeper");
    EXPECT_OK(yk_consumer_config_set(config, "auto_commit_enable", "false"));
    int32_t only[] = {0};
    yk_consumer *consumer = NULL;
    EXPECT_OK(yk_consumer_new_simple(config, "other", only, 1, &consumer));
    /* A new group starts at the end (largest): connect before producing. */
    EXPECT_OK(yk_consumer_connect(consumer));
    char values[6][64];
    int64_t first = produce_values(group, 6, values);
    CHECK(first >= 0);

    yk_message *messages[6] = {0};
    for (int i = 0; i < 6; i++) {
        messages[i] = next_message(consumer);
        if (!messages[i])
            break;
        size_t len = COUNT_SENTINEL;
        const uint8_t *value = yk_message_value(messages[i], &len);
        CHECKF(len == strlen(values[i]) && memcmp(value, values[i], len) == 0, "value %d differs", i);
        size_t key_len = COUNT_SENTINEL;
        CHECK(yk_message_key(messages[i], &key_len) == NULL && key_len == 0);
        CHECK(yk_message_offset(messages[i]) == first + i);
        CHECK(yk_message_partition(messages[i]) == 0);
        CHECK(str_eq(yk_message_topic(messages[i]), "other"));
        CHECK(yk_message_timestamp(messages[i]) > 1500000000000LL);
    }
    /* Done out of order, with offset 3 missing: the commit stops there.
     * Half through yk_task_done, which finds the consumer by itself. */
    int done[] = {4, 0, 2, 1, 5};
    for (size_t i = 0; i < sizeof done / sizeof done[0]; i++)
        if (messages[done[i]])
            EXPECT_OK(i % 2 ? yk_task_done(messages[done[i]]) : yk_consumer_task_done(consumer, messages[done[i]]));
    yk_topic_partition other = {"other", 0};
    EXPECT_OK(yk_consumer_commit_partitions(consumer, &other, 1));

    yk_offsets *offsets = offsets_client("zookeeper");
    yk_topics *topics = NULL;
    EXPECT_OK(yk_topics_new(&topics));
    EXPECT_OK(yk_topics_add(topics, "other"));
    yk_offsets_result *result = NULL;
    EXPECT_OK(yk_offsets_current(offsets, group, topics, true, &result));
    size_t count = 0;
    const yk_partition_offsets *rows = yk_offsets_result_rows(result, &count);
    CHECK(count == 1 && rows != NULL && rows[0].committed == first + 3 && str_eq(rows[0].topic, "other"));
    yk_offsets_result_free(result);

    /* commit_message takes everything through the message as done. */
    if (messages[3])
        EXPECT_OK(yk_consumer_commit_message(consumer, messages[3]));
    EXPECT_OK(yk_offsets_current(offsets, group, topics, true, &result));
    rows = yk_offsets_result_rows(result, &count);
    CHECK(count == 1 && rows[0].committed == first + 6);
    yk_offsets_result_free(result);
    EXPECT_OK(yk_consumer_close(consumer));
    /* Messages outlive their consumer; marking one done then is a clear
     * error, closed and then freed (ASan sees the freed consumer untouched). */
    CHECK(yk_message_offset(messages[5]) == first + 5);
    if (messages[5])
        EXPECT_CODE(yk_task_done(messages[5]), YK_ERROR_CLOSED_HANDLE, "yk_task_done", "closed", NULL);
    yk_consumer_free(consumer);
    if (messages[5])
        EXPECT_CODE(yk_task_done(messages[5]), YK_ERROR_CLOSED_HANDLE, "yk_task_done", "freed", NULL);
    for (int i = 0; i < 6; i++)
        yk_message_free(messages[i]);

    /* Back to first + 3: a new consumer of the group starts there. */
    yk_topic_partition_offset back = {"other", 0, first + 3};
    EXPECT_OK(yk_offsets_set(offsets, group, &back, 1, true, &result));
    yk_offsets_result_free(result);
    consumer = NULL;
    EXPECT_OK(yk_consumer_new_simple(config, "other", NULL, 0, &consumer));
    EXPECT_OK(yk_consumer_connect(consumer));
    yk_message *resumed = next_message(consumer);
    CHECK(resumed && yk_message_offset(resumed) == first + 3);
    yk_message_free(resumed);
    yk_consumer_free(consumer);
    yk_topics_free(topics);
    yk_offsets_free(offsets);
    yk_consumer_config_free(config);
    group_end();
}

/* Queues `count` messages to partition 0 of "other" with yk_producer_produce
 * and flushes: keys and values given with their lengths (NULL: null). */
struct kv {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
};

static void produce_kvs(const struct kv *kvs, int count)
{
    yk_cluster_config *cluster = cluster_with_zookeeper();
    yk_producer *producer = NULL;
    EXPECT_OK(yk_producer_new(cluster, NULL, NULL, &producer));
    for (int i = 0; i < count; i++)
        EXPECT_OK(yk_producer_produce(producer, "other", 0, (const uint8_t *)kvs[i].key, kvs[i].key_len,
                                      (const uint8_t *)kvs[i].value, kvs[i].value_len, NULL, -1));
    EXPECT_OK(yk_producer_flush(producer, 5000));
    yk_producer_free(producer);
    yk_cluster_config_free(cluster);
}

static bool bytes_are(const uint8_t *data, size_t len, const char *want, size_t want_len)
{
    if (want == NULL)
        return data == NULL && len == 0;
    return data != NULL && len == want_len && memcmp(data, want, len) == 0;
}

typedef yk_error (*copy_bytes_fn)(const yk_message_batch *, size_t, size_t, int64_t *, uint8_t *, size_t, size_t *);

/* copy (yk_message_batch_copy_values or _keys) of messages first to
 * first + count of batch agrees with field (the views' value or key): each
 * length -1 for NULL, the bytes back to back; a size query and a buffer one
 * byte short copy nothing and say the size. */
static void check_copied(const char *name, copy_bytes_fn copy, const yk_message_batch *batch,
                         const yk_message_view *views, size_t first, size_t count, bool keys)
{
    int64_t lengths[4];
    uint8_t buffer[64];
    size_t size = COUNT_SENTINEL, want = 0;
    for (size_t i = first; i < first + count; i++)
        want += keys ? views[i].key_len : views[i].value_len;
    EXPECT_OK(copy(batch, first, count, lengths, NULL, 0, &size));
    CHECKF(size == want, "%s: size %zu, want %zu", name, size, want);
    if (want > 0) {
        memset(buffer, 0x5e, sizeof buffer);
        EXPECT_OK(copy(batch, first, count, lengths, buffer, want - 1, &size));
        CHECKF(size == want && buffer[0] == 0x5e, "%s: a buffer too small is left alone", name);
    }
    memset(lengths, 0x5e, sizeof lengths);
    EXPECT_OK(copy(batch, first, count, lengths, buffer, sizeof buffer, &size));
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        const yk_message_view *v = &views[first + i];
        const uint8_t *bytes = keys ? v->key : v->value;
        size_t len = keys ? v->key_len : v->value_len;
        CHECKF(bytes == NULL ? lengths[i] == -1 : lengths[i] == (int64_t)len, "%s: length %zu", name, first + i);
        if (bytes != NULL) {
            CHECKF(memcmp(buffer + at, bytes, len) == 0, "%s: bytes of %zu", name, first + i);
            at += len;
        }
    }
    CHECK(at == size);
}

/* The columns of a batch's messages, whole and in part, agree with its views. */
static void check_columns(const yk_message_batch *batch, const yk_message_view *views, size_t count)
{
    int64_t offsets[4], timestamps[4];
    int32_t partitions[4];
    const char *topics[4];
    yk_message_columns columns = {offsets, partitions, timestamps, topics};
    EXPECT_OK(yk_message_batch_columns(batch, 0, count, &columns));
    for (size_t i = 0; i < count; i++)
        CHECKF(offsets[i] == views[i].offset && partitions[i] == views[i].partition
                   && timestamps[i] == views[i].timestamp && topics[i] == views[i].topic,
               "column %zu", i);
    /* One column alone, from the second message: the others untouched. */
    yk_message_columns offsets_only = {offsets, NULL, NULL, NULL};
    memset(offsets, 0, sizeof offsets);
    EXPECT_OK(yk_message_batch_columns(batch, 1, count - 1, &offsets_only));
    CHECK(count == 1 || offsets[0] == views[1].offset);
    for (size_t first = 0; first < 2 && first < count; first++) {
        check_copied("values", yk_message_batch_copy_values, batch, views, first, count - first, false);
        check_copied("keys", yk_message_batch_copy_keys, batch, views, first, count - first, true);
    }
    /* Refused, and nothing written: a range past the end, one whose end
     * overflows, NULL columns, lengths, size, or buffer with a capacity. */
    memset(offsets, 0x5e, sizeof offsets);
    EXPECT_CODE(yk_message_batch_columns(batch, 1, count, &columns), YK_ERROR_INVALID_ARGUMENT,
                "yk_message_batch_columns", "out of range", NULL);
    EXPECT_CODE(yk_message_batch_columns(batch, 1, SIZE_MAX, &columns), YK_ERROR_INVALID_ARGUMENT,
                "yk_message_batch_columns", "out of range", NULL);
    EXPECT_CODE(yk_message_batch_columns(batch, 0, count, NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_message_batch_columns", "columns", NULL);
    EXPECT_CODE(yk_message_batch_columns(NULL, 0, 0, &columns), YK_ERROR_INVALID_ARGUMENT,
                "yk_message_batch_columns", "batch", NULL);
    CHECK(offsets[0] == 0x5e5e5e5e5e5e5e5eLL);
    int64_t lengths[4] = {7, 7, 7, 7};
    uint8_t buffer[8];
    size_t size = COUNT_SENTINEL;
    EXPECT_CODE(yk_message_batch_copy_values(batch, count, 1, lengths, buffer, sizeof buffer, &size),
                YK_ERROR_INVALID_ARGUMENT, "yk_message_batch_copy_values", "out of range", NULL);
    EXPECT_CODE(yk_message_batch_copy_keys(batch, 0, count, NULL, buffer, sizeof buffer, &size),
                YK_ERROR_INVALID_ARGUMENT, "yk_message_batch_copy_keys", "lengths", NULL);
    EXPECT_CODE(yk_message_batch_copy_values(batch, 0, count, lengths, buffer, sizeof buffer, NULL),
                YK_ERROR_INVALID_ARGUMENT, "yk_message_batch_copy_values", "size", NULL);
    EXPECT_CODE(yk_message_batch_copy_values(batch, 0, count, lengths, NULL, 1, &size), YK_ERROR_INVALID_ARGUMENT,
                "yk_message_batch_copy_values", "buffer", NULL);
    EXPECT_CODE(yk_message_batch_copy_keys(NULL, 0, 0, lengths, buffer, sizeof buffer, &size),
                YK_ERROR_INVALID_ARGUMENT, "yk_message_batch_copy_keys", "batch", NULL);
    CHECK(lengths[0] == 7 && size == COUNT_SENTINEL);
    /* No messages at all: nothing needs a place. */
    EXPECT_OK(yk_message_batch_copy_values(batch, count, 0, NULL, NULL, 0, &size));
    CHECK(size == 0);
}

static void test_batches_and_views(void)
{
    group_begin("consumer: batches, views, yk_task_done");
    yk_message_batch *batch = SENTINEL;
    EXPECT_CODE(yk_message_batch_new(0, &batch), YK_ERROR_INVALID_ARGUMENT, "yk_message_batch_new", "capacity",
                "out of range");
    EXPECT_CODE(yk_message_batch_new(70000, &batch), YK_ERROR_INVALID_ARGUMENT, "yk_message_batch_new",
                "capacity", NULL);
    EXPECT_CODE(yk_message_batch_new(4, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_message_batch_new", "out", NULL);
    CHECK(batch == SENTINEL);
    EXPECT_OK(yk_message_batch_new(4, &batch));
    yk_message_batch_free(NULL);

    char group[128];
    snprintf(group, sizeof group, "c-batch-%s", run_id);
    yk_consumer_config *config = consumer_config(group, "kafka");
    EXPECT_OK(yk_consumer_config_set(config, "auto_commit_enable", "false"));
    yk_consumer *consumer = NULL;
    EXPECT_OK(yk_consumer_new_simple(config, "other", NULL, 0, &consumer));
    const yk_message_view *views = SENTINEL;
    size_t count = COUNT_SENTINEL;
    EXPECT_CODE(yk_consumer_next_batch(NULL, 0, batch, &views, &count), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_next_batch", "consumer", NULL);
    EXPECT_CODE(yk_consumer_next_batch(consumer, 0, NULL, &views, &count), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_next_batch", "batch", NULL);
    EXPECT_CODE(yk_consumer_next_batch(consumer, 0, batch, NULL, &count), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_next_batch", "views", NULL);
    EXPECT_CODE(yk_consumer_next_batch(consumer, 0, batch, &views, NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_next_batch", "count", NULL);
    EXPECT_CODE(yk_consumer_next_batch(consumer, 0, batch, &views, &count), YK_ERROR_WRONG_STATE,
                "yk_consumer_next_batch", "not connected", NULL);
    EXPECT_OK(yk_consumer_connect(consumer));
    EXPECT_CODE(yk_consumer_next_batch(consumer, 0, batch, &views, &count), YK_ERROR_CONSUMER_TIMEOUT,
                "yk_consumer_next_batch", NULL, NULL);
    CHECK(views == SENTINEL && count == COUNT_SENTINEL);

    /* Null and empty keys and values, told apart, through six messages
     * taken four at most at a time. */
    const struct kv kvs[6] = {
        {"k0", 2, "", 0}, {"", 0, NULL, 0}, {NULL, 0, "v2", 2}, {"k3", 2, "v3", 2}, {NULL, 0, NULL, 0}, {"k5", 2, "v\0x", 3},
    };
    produce_kvs(kvs, 6);
    int seen = 0, batches = 0;
    int64_t first = -1;
    double deadline = now_seconds() + 10;
    while (seen < 6 && now_seconds() < deadline) {
        yk_error code = yk_consumer_next_batch(consumer, 1000, batch, &views, &count);
        if (code == YK_ERROR_CONSUMER_TIMEOUT)
            continue;
        if (!CHECKF(code == YK_ERROR_OK, "next_batch: %s", yk_last_error_message()))
            break;
        batches++;
        CHECKF(count >= 1 && count <= 4, "count %zu", count);
        check_columns(batch, views, count);
        for (size_t i = 0; i < count && seen < 6; i++, seen++) {
            const yk_message_view *v = &views[i];
            if (first < 0)
                first = v->offset;
            CHECK(v->offset == first + seen);
            CHECK(str_eq(v->topic, "other") && v->partition == 0);
            CHECKF(bytes_are(v->key, v->key_len, kvs[seen].key, kvs[seen].key_len), "key %d", seen);
            CHECKF(bytes_are(v->value, v->value_len, kvs[seen].value, kvs[seen].value_len), "value %d", seen);
            CHECK(v->timestamp > 1500000000000LL && v->timestamp_type == YK_TIMESTAMP_TYPE_CREATE_TIME);
            CHECK(v->headers == NULL && v->header_count == 0);
            /* The view agrees with the one-field accessors. */
            CHECK(yk_message_offset(v->message) == v->offset);
            EXPECT_OK(yk_task_done(v->message));
        }
    }
    CHECKF(seen == 6, "saw %d of 6 in %d batches", seen, batches);
    CHECK(batches >= 2);

    /* yk_message_get_view on a message of its own. */
    yk_message_view view;
    memset(&view, 0x5e, sizeof view);
    EXPECT_CODE(yk_message_get_view(NULL, &view), YK_ERROR_INVALID_ARGUMENT, "yk_message_get_view", "message", NULL);
    const struct kv one = {"key", 3, "value", 5};
    produce_kvs(&one, 1);
    yk_message *message = next_message(consumer);
    if (message) {
        EXPECT_CODE(yk_message_get_view(message, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_message_get_view", "out",
                    NULL);
        EXPECT_OK(yk_message_get_view(message, &view));
        CHECK(view.message == message && view.offset == first + 6 && view.partition == 0);
        CHECK(bytes_are(view.key, view.key_len, "key", 3) && bytes_are(view.value, view.value_len, "value", 5));
        CHECK(view.timestamp == yk_message_timestamp(message) && view.topic == yk_message_topic(message));
        EXPECT_OK(yk_task_done(message));
        yk_message_free(message);
    }
    /* Everything was marked done through the views: the commit covers it. */
    EXPECT_OK(yk_consumer_commit(consumer));
    EXPECT_OK(yk_consumer_close(consumer));
    EXPECT_CODE(yk_consumer_next_batch(consumer, 0, batch, &views, &count), YK_ERROR_CLOSED_HANDLE,
                "yk_consumer_next_batch", "closed", NULL);
    yk_consumer_free(consumer);
    consumer = NULL;
    EXPECT_OK(yk_consumer_new_simple(config, "other", NULL, 0, &consumer));
    EXPECT_OK(yk_consumer_connect(consumer));
    EXPECT_CODE(yk_consumer_next_batch(consumer, 300, batch, &views, &count), YK_ERROR_CONSUMER_TIMEOUT,
                "yk_consumer_next_batch", NULL, NULL);
    yk_consumer_free(consumer);
    yk_message_batch_free(batch);
    yk_consumer_config_free(config);
    group_end();
}

/* The committed offset of `group` on "other" 0 (kafka storage); -1 when none. */
static int64_t committed_offset(yk_offsets *offsets, const char *group)
{
    yk_topics *topics = NULL;
    EXPECT_OK(yk_topics_new(&topics));
    EXPECT_OK(yk_topics_add(topics, "other"));
    yk_offsets_result *result = NULL;
    int64_t committed = -2;
    if (CHECK(yk_offsets_current(offsets, group, topics, false, &result) == YK_ERROR_OK)) {
        size_t count = 0;
        const yk_partition_offsets *rows = yk_offsets_result_rows(result, &count);
        committed = count == 1 ? rows[0].committed : -2;
        yk_offsets_result_free(result);
    }
    yk_topics_free(topics);
    return committed;
}

static void test_batch_task_done(void)
{
    group_begin("consumer: yk_message_batch_task_done");
    char group[128];
    snprintf(group, sizeof group, "c-batch-done-%s", run_id);
    yk_consumer_config *config = consumer_config(group, "kafka");
    EXPECT_OK(yk_consumer_config_set(config, "auto_commit_enable", "false"));
    yk_consumer *consumer = NULL;
    EXPECT_OK(yk_consumer_new_simple(config, "other", NULL, 0, &consumer));
    EXPECT_OK(yk_consumer_connect(consumer));
    yk_offsets *offsets = offsets_client("kafka");
    yk_message_batch *batch = NULL;
    EXPECT_OK(yk_message_batch_new(16, &batch));
    /* Nothing taken yet: any range but the empty one is out of range. */
    EXPECT_OK(yk_message_batch_task_done(batch, 0, 0));
    EXPECT_CODE(yk_message_batch_task_done(batch, 0, 1), YK_ERROR_INVALID_ARGUMENT, "yk_message_batch_task_done",
                "out of range", "holds 0");
    EXPECT_CODE(yk_message_batch_task_done(NULL, 0, 0), YK_ERROR_INVALID_ARGUMENT, "yk_message_batch_task_done",
                "batch", NULL);

    char values[6][64];
    int64_t first = produce_values(group, 6, values);
    const yk_message_view *views = NULL;
    size_t count = 0;
    int seen = 0;
    bool checked_refusals = false;
    double deadline = now_seconds() + 10;
    while (seen < 6 && now_seconds() < deadline) {
        yk_error code = yk_consumer_next_batch(consumer, 1000, batch, &views, &count);
        if (code == YK_ERROR_CONSUMER_TIMEOUT)
            continue;
        if (!CHECKF(code == YK_ERROR_OK, "next_batch: %s", yk_last_error_message()))
            break;
        CHECK(views[0].offset == first + seen);
        if (!checked_refusals) {
            /* Past the end, and a count whose end overflows: refused, and
             * nothing is marked (the commit below stays where it was). */
            EXPECT_CODE(yk_message_batch_task_done(batch, 1, count), YK_ERROR_INVALID_ARGUMENT,
                        "yk_message_batch_task_done", "out of range", NULL);
            EXPECT_CODE(yk_message_batch_task_done(batch, count, 1), YK_ERROR_INVALID_ARGUMENT,
                        "yk_message_batch_task_done", "out of range", NULL);
            EXPECT_CODE(yk_message_batch_task_done(batch, 1, SIZE_MAX), YK_ERROR_INVALID_ARGUMENT,
                        "yk_message_batch_task_done", "out of range", NULL);
            yk_topic_partition other = {"other", 0};
            EXPECT_OK(yk_consumer_commit_partitions(consumer, &other, 1));
            CHECKF(committed_offset(offsets, group) < first + 1, "committed %lld, nothing was done",
                   (long long)committed_offset(offsets, group));
            checked_refusals = true;
        }
        /* The first message alone, then all of them: marking one again
         * changes nothing. */
        EXPECT_OK(yk_message_batch_task_done(batch, 0, 1));
        EXPECT_OK(yk_message_batch_task_done(batch, 0, count));
        seen += (int)count;
    }
    CHECKF(seen == 6, "saw %d of 6", seen);
    EXPECT_OK(yk_consumer_commit(consumer));
    CHECK(committed_offset(offsets, group) == first + 6);

    /* The batch's messages belong to their consumer, not to the batch: once
     * it is closed, then freed, marking them says so and names the message. */
    EXPECT_OK(yk_consumer_close(consumer));
    EXPECT_CODE(yk_message_batch_task_done(batch, 0, count), YK_ERROR_CLOSED_HANDLE, "yk_message_batch_task_done",
                "message 0", "closed");
    yk_consumer_free(consumer);
    EXPECT_CODE(yk_message_batch_task_done(batch, 0, count), YK_ERROR_CLOSED_HANDLE, "yk_message_batch_task_done",
                "message 0", "freed");
    yk_message_batch_free(batch);
    yk_offsets_free(offsets);
    yk_consumer_config_free(config);
    group_end();
}

/* The header `name` of view `v`: its index, or -1. */
static int header_index(const yk_message_view *v, const char *name)
{
    for (size_t i = 0; i < v->header_count; i++)
        if (v->headers[i].name_len == strlen(name) && memcmp(v->headers[i].name, name, v->headers[i].name_len) == 0)
            return (int)i;
    return -1;
}

static bool header_is(const yk_message_view *v, const char *name, const char *value)
{
    int i = header_index(v, name);
    if (i < 0)
        return false;
    const yk_header *h = &v->headers[i];
    return value == NULL ? h->value == NULL && h->value_len == 0
                         : h->value != NULL && h->value_len == strlen(value) && memcmp(h->value, value, h->value_len) == 0;
}

/* Runs `command` and returns its first output line (without the newline). */
static bool command_output(const char *command, char *out, size_t size)
{
    FILE *pipe = popen(command, "r");
    if (!pipe)
        return false;
    bool got = fgets(out, (int)size, pipe) != NULL;
    int status = pclose(pipe);
    if (got)
        out[strcspn(out, "\n")] = 0;
    return got && status == 0;
}

static void test_headers(void)
{
    group_begin("headers: produce, consume, kcat interop");
    yk_cluster_config *cluster = cluster_with_zookeeper();
    yk_producer *producer = NULL;
    EXPECT_OK(yk_producer_new(cluster, NULL, NULL, &producer));
    yk_cluster_config_free(cluster);
    const yk_header bad_name[] = {{NULL, 3, (const uint8_t *)"v", 1}};
    const yk_header null_name[] = {{NULL, 0, NULL, 0}};
    const yk_header bad_utf8[] = {{BAD_UTF8, 2, NULL, 0}};
    const yk_header bad_value[] = {{"ok", 2, NULL, 0}, {"n", 1, NULL, 2}};
    EXPECT_CODE(yk_producer_produce_with_headers(NULL, "other", 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_with_headers", "producer", NULL);
    EXPECT_CODE(yk_producer_produce_with_headers(producer, "other", 0, NULL, 0, NULL, 0, NULL, 2, NULL, 0),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_with_headers", "headers", "NULL");
    EXPECT_CODE(yk_producer_produce_with_headers(producer, "other", 0, NULL, 0, NULL, 0, bad_name, 1, NULL, 0),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_with_headers", "headers[0].name", "length");
    EXPECT_CODE(yk_producer_produce_with_headers(producer, "other", 0, NULL, 0, NULL, 0, null_name, 1, NULL, 0),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_with_headers", "headers[0].name is NULL", NULL);
    EXPECT_CODE(yk_producer_produce_with_headers(producer, "other", 0, NULL, 0, NULL, 0, bad_utf8, 1, NULL, 0),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_with_headers", "headers[0].name", "UTF-8");
    EXPECT_CODE(yk_producer_produce_with_headers(producer, "other", 0, NULL, 0, NULL, 0, bad_value, 2, NULL, 0),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_with_headers", "headers[1].value", NULL);
    EXPECT_CODE(yk_producer_produce_with_headers(producer, "other", -2, NULL, 0, NULL, 0, NULL, 0, NULL, 0),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_with_headers", "partition -2", NULL);
    int64_t offset = -7;
    EXPECT_CODE(yk_producer_send_with_headers(NULL, "other", 0, NULL, 0, NULL, 0, NULL, 0, &offset),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_send_with_headers", "producer", NULL);
    EXPECT_CODE(yk_producer_send_with_headers(producer, NULL, 0, NULL, 0, NULL, 0, NULL, 0, &offset),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_send_with_headers", "topic", NULL);
    EXPECT_CODE(yk_producer_send_with_headers(producer, "other", 0, NULL, 0, NULL, 0, bad_value, 2, &offset),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_send_with_headers", "headers[1].value", NULL);
    CHECK(offset == -7);

    char group[128];
    snprintf(group, sizeof group, "c-headers-%s", run_id);
    yk_consumer_config *config = consumer_config(group, "kafka");
    yk_consumer *consumer = NULL;
    EXPECT_OK(yk_consumer_new_simple(config, "other", NULL, 0, &consumer));
    EXPECT_OK(yk_consumer_connect(consumer));

    /* Ours: asynchronous and synchronous, with a header repeated across messages. */
    const yk_header async_headers[] = {
        {"trace", 5, (const uint8_t *)"abc", 3}, {"empty", 5, (const uint8_t *)"", 0}, {"null", 4, NULL, 0}};
    EXPECT_OK(yk_producer_produce_with_headers(producer, "other", 0, (const uint8_t *)"k", 1, (const uint8_t *)"async",
                                               5, async_headers, 3, NULL, -1));
    EXPECT_OK(yk_producer_flush(producer, 5000));
    const yk_header sync_headers[] = {{"sync", 4, (const uint8_t *)"\x01\x00\xff", 3}};
    EXPECT_OK(yk_producer_send_with_headers(producer, "other", -1, NULL, 0, (const uint8_t *)"sync", 4, sync_headers, 1,
                                            &offset));
    CHECK(offset > 0);
    yk_producer_free(producer);

    /* librdkafka's, through kcat. */
    char command[1024], line[512];
    snprintf(command, sizeof command,
             "printf from-kcat | kcat -P -b '%s' -t other -p 0 -H origin=kcat -H nothing -X api.version.request=true",
             kafka1);
    CHECKF(system(command) == 0, "kcat -P failed: %s", command);

    yk_message_batch *batch = NULL;
    EXPECT_OK(yk_message_batch_new(8, &batch));
    const yk_message_view *views = NULL;
    size_t count = 0;
    int seen = 0;
    double deadline = now_seconds() + 10;
    while (seen < 3 && now_seconds() < deadline) {
        if (yk_consumer_next_batch(consumer, 1000, batch, &views, &count) != YK_ERROR_OK)
            continue;
        for (size_t i = 0; i < count; i++, seen++) {
            const yk_message_view *v = &views[i];
            if (seen == 0) {
                CHECKF(v->header_count == 3, "async header count %zu", v->header_count);
                CHECK(header_is(v, "trace", "abc") && header_is(v, "empty", "") && header_is(v, "null", NULL));
                CHECK(header_index(v, "trace") == 0 && header_index(v, "null") == 2);
                /* kcat (librdkafka) reads the headers we wrote. */
                snprintf(command, sizeof command,
                         "kcat -C -b '%s' -t other -p 0 -o %lld -c 1 -e -q -f '%%h\\n'", kafka1,
                         (long long)v->offset);
                bool ran = command_output(command, line, sizeof line);
                CHECKF(ran && contains(line, "trace=abc") && contains(line, "empty=") && contains(line, "null"),
                       "kcat printed \"%s\"", line);
            } else if (seen == 1) {
                CHECK(v->offset == offset && v->header_count == 1 && v->headers != NULL);
                CHECK(v->headers[0].value_len == 3 && memcmp(v->headers[0].value, "\x01\x00\xff", 3) == 0);
            } else {
                CHECK(bytes_are(v->value, v->value_len, "from-kcat", 9));
                CHECKF(v->header_count == 2, "kcat header count %zu", v->header_count);
                CHECK(header_is(v, "origin", "kcat") && header_is(v, "nothing", NULL));
            }
        }
    }
    CHECKF(seen == 3, "read %d of 3", seen);
    yk_message_batch_free(batch);
    yk_consumer_free(consumer);
    yk_consumer_config_free(config);
    group_end();
}

/* The handles the SIGALRM handler wakes. */
static yk_consumer *volatile alarm_consumer;
static yk_producer *volatile alarm_producer;

static void wake_from_signal(int signal)
{
    (void)signal;
    if (alarm_consumer)
        yk_consumer_wakeup(alarm_consumer);
    if (alarm_producer)
        yk_producer_wakeup(alarm_producer);
}

static void alarm_in_ms(long ms)
{
    struct itimerval timer = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &timer, NULL);
}

struct delayed_wakeup {
    yk_consumer *consumer;
    long ms;
};

static void *wake_later(void *arg)
{
    struct delayed_wakeup *wake = arg;
    sleep_ms(wake->ms);
    yk_consumer_wakeup(wake->consumer);
    return NULL;
}

static void test_wakeup(void)
{
    group_begin("wakeup: signal handler, thread, pending");
    EXPECT_CODE(yk_consumer_wakeup(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_wakeup", "consumer", NULL);
    EXPECT_CODE(yk_producer_wakeup(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_producer_wakeup", "producer", NULL);
    EXPECT_CODE(yk_consumer_group_wakeup(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_group_wakeup", "group", NULL);
    CHECK(str_eq(yk_error_name(YK_ERROR_WOKEN_UP), "WokenUp") && !yk_error_is_retriable(YK_ERROR_WOKEN_UP));

    char group[128];
    snprintf(group, sizeof group, "c-wakeup-%s", run_id);
    yk_consumer_config *config = consumer_config(group, "kafka");
    yk_consumer *consumer = NULL;
    EXPECT_OK(yk_consumer_new_simple(config, "other", NULL, 0, &consumer));
    EXPECT_OK(yk_consumer_connect(consumer));

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = wake_from_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGALRM, &action, NULL);

    /* A wait without limit, ended by a signal handler 200 ms in. */
    alarm_consumer = consumer;
    yk_message *message = SENTINEL;
    double started = now_seconds();
    alarm_in_ms(200);
    EXPECT_CODE(yk_consumer_get_message(consumer, true, -1, &message), YK_ERROR_WOKEN_UP, "yk_consumer_get_message",
                "wakeup", NULL);
    double waited = now_seconds() - started;
    CHECKF(waited >= 0.15 && waited < 1.0, "woken after %.3f s", waited);
    CHECK(message == SENTINEL);
    alarm_consumer = NULL;

    /* From another thread, ending a batch wait. */
    yk_message_batch *batch = NULL;
    EXPECT_OK(yk_message_batch_new(4, &batch));
    const yk_message_view *views = NULL;
    size_t count = 0;
    struct delayed_wakeup wake = {consumer, 200};
    pthread_t thread;
    pthread_create(&thread, NULL, wake_later, &wake);
    started = now_seconds();
    EXPECT_CODE(yk_consumer_next_batch(consumer, -1, batch, &views, &count), YK_ERROR_WOKEN_UP,
                "yk_consumer_next_batch", NULL, NULL);
    waited = now_seconds() - started;
    CHECKF(waited >= 0.15 && waited < 1.0, "woken after %.3f s", waited);
    pthread_join(thread, NULL);

    /* Asked before the call: kept, and ends exactly one call. */
    EXPECT_OK(yk_consumer_wakeup(consumer));
    started = now_seconds();
    EXPECT_CODE(yk_consumer_next_batch(consumer, 5000, batch, &views, &count), YK_ERROR_WOKEN_UP,
                "yk_consumer_next_batch", NULL, NULL);
    CHECK(now_seconds() - started < 0.5);
    EXPECT_CODE(yk_consumer_next_batch(consumer, 100, batch, &views, &count), YK_ERROR_CONSUMER_TIMEOUT,
                "yk_consumer_next_batch", NULL, NULL);
    yk_message_batch_free(batch);
    yk_consumer_free(consumer);
    yk_consumer_config_free(config);

    /* The producer: a poll waiting for a report that never comes. Its
     * messages linger for a minute, so that the flush below finds them
     * queued however slowly this thread runs (a flush with nothing queued
     * returns at once and leaves a pending wakeup for the next call). */
    yk_cluster_config *cluster = cluster_with_zookeeper();
    yk_config *lingering = NULL;
    EXPECT_OK(yk_config_new(&lingering));
    EXPECT_OK(yk_config_set(lingering, "linger_ms", "60000"));
    yk_producer *producer = NULL;
    EXPECT_OK(yk_producer_new(cluster, lingering, NULL, &producer));
    yk_config_free(lingering);
    yk_cluster_config_free(cluster);
    alarm_producer = producer;
    started = now_seconds();
    alarm_in_ms(200);
    EXPECT_CODE(yk_producer_poll(producer, -1, NULL), YK_ERROR_WOKEN_UP, "yk_producer_poll", "wakeup", NULL);
    waited = now_seconds() - started;
    CHECKF(waited >= 0.15 && waited < 1.0, "woken after %.3f s", waited);
    alarm_producer = NULL;
    /* A pending wakeup ends a flush that has a thousand messages to wait for. */
    for (int i = 0; i < 1000; i++)
        EXPECT_OK(yk_producer_produce(producer, "other", 0, NULL, 0, (const uint8_t *)"w", 1, NULL, -1));
    EXPECT_OK(yk_producer_wakeup(producer));
    EXPECT_CODE(yk_producer_flush(producer, 5000), YK_ERROR_WOKEN_UP, "yk_producer_flush", NULL, NULL);
    EXPECT_OK(yk_producer_flush(producer, 5000));
    CHECK(yk_producer_queue_length(producer) == 0);
    signal(SIGALRM, SIG_DFL);
    yk_producer_free(producer);
    group_end();
}

/* Whether `fd` becomes readable within `ms`. */
static bool readable_within(int fd, int ms)
{
    struct pollfd entry = {fd, POLLIN, 0};
    return poll(&entry, 1, ms) == 1 && (entry.revents & POLLIN);
}

static void test_ready_fd(void)
{
    group_begin("ready fd: poll(2), drain, close");
    /* -1 for NULL, with the last error naming the function and argument. */
    expect_failed_value_at(__FILE__, __LINE__, "yk_consumer_ready_fd(NULL)",
                           (prime_last_error(), yk_consumer_ready_fd(NULL)) == -1, "yk_consumer_ready_fd", "consumer",
                           "NULL");
    expect_failed_value_at(__FILE__, __LINE__, "yk_consumer_group_ready_fd(NULL)",
                           (prime_last_error(), yk_consumer_group_ready_fd(NULL)) == -1, "yk_consumer_group_ready_fd",
                           "group", "NULL");
    expect_failed_value_at(__FILE__, __LINE__, "yk_producer_ready_fd(NULL)",
                           (prime_last_error(), yk_producer_ready_fd(NULL)) == -1, "yk_producer_ready_fd", "producer",
                           "NULL");

    char group[128];
    snprintf(group, sizeof group, "c-ready-%s", run_id);
    yk_consumer_config *config = consumer_config(group, "kafka");
    EXPECT_OK(yk_consumer_config_set(config, "auto_commit_enable", "false"));
    yk_consumer *consumer = NULL;
    EXPECT_OK(yk_consumer_new_simple(config, "other", NULL, 0, &consumer));
    int fd = yk_consumer_ready_fd(consumer);
    CHECK(fd >= 0);
    EXPECT_OK(yk_consumer_connect(consumer));
    CHECK(yk_consumer_ready_fd(consumer) == fd);
    yk_message_batch *batch = NULL;
    EXPECT_OK(yk_message_batch_new(2, &batch));
    const yk_message_view *views = NULL;
    size_t count = 0;
    /* Nothing to take: a take drains it, and it stays quiet. */
    EXPECT_CODE(yk_consumer_next_batch(consumer, 0, batch, &views, &count), YK_ERROR_CONSUMER_TIMEOUT,
                "yk_consumer_next_batch", NULL, NULL);
    CHECK(!readable_within(fd, 300));

    /* Producer side: readable once a report waits, drained by a poll. */
    yk_cluster_config *cluster = cluster_with_zookeeper();
    yk_producer *producer = NULL;
    EXPECT_OK(yk_producer_new(cluster, NULL, NULL, &producer));
    yk_cluster_config_free(cluster);
    int reports_fd = yk_producer_ready_fd(producer);
    CHECK(reports_fd >= 0 && reports_fd != fd);
    CHECK(!readable_within(reports_fd, 0));
    for (int i = 0; i < 5; i++)
        EXPECT_OK(yk_producer_produce(producer, "other", 0, NULL, 0, (const uint8_t *)"ready", 5, NULL, -1));
    CHECK(readable_within(reports_fd, 5000));
    size_t served = 0, total = 0;
    double deadline = now_seconds() + 5;
    while (total < 5 && now_seconds() < deadline) {
        EXPECT_OK(yk_producer_poll(producer, 0, &served));
        total += served;
        if (total < 5)
            CHECK(readable_within(reports_fd, 5000));
    }
    CHECKF(total == 5, "served %zu reports", total);
    CHECK(!readable_within(reports_fd, 0));
    yk_producer_free(producer);

    /* Consumer side: readable once the five messages are fetched; taken two at
     * a time, it stays readable until a take finds nothing. */
    int taken = 0;
    deadline = now_seconds() + 10;
    while (taken < 5 && now_seconds() < deadline) {
        if (!CHECKF(readable_within(fd, 5000), "not readable after %d of 5", taken))
            break;
        if (yk_consumer_next_batch(consumer, 0, batch, &views, &count) == YK_ERROR_OK) {
            CHECK(count <= 2);
            taken += (int)count;
        }
    }
    CHECKF(taken == 5, "took %d", taken);
    EXPECT_CODE(yk_consumer_next_batch(consumer, 0, batch, &views, &count), YK_ERROR_CONSUMER_TIMEOUT,
                "yk_consumer_next_batch", NULL, NULL);
    CHECK(!readable_within(fd, 0));
    /* A close makes it readable: an event loop learns of it. */
    EXPECT_OK(yk_consumer_close(consumer));
    CHECK(readable_within(fd, 1000));
    yk_message_batch_free(batch);
    yk_consumer_free(consumer);
    yk_consumer_config_free(config);
    group_end();
}

/* What the batch delivery callback saw. */
struct batches_seen {
    int calls;
    size_t reports;
    size_t last_count;
    int failed;
    bool in_order;
    int64_t last_offset;
};

static void on_report_batch(void *opaque, const yk_delivery_report *reports, size_t count)
{
    struct batches_seen *seen = opaque;
    seen->calls++;
    seen->last_count = count;
    for (size_t i = 0; i < count; i++) {
        seen->reports++;
        if (reports[i].error != YK_ERROR_OK || reports[i].error_message != NULL || !str_eq(reports[i].topic, "other")
            || reports[i].partition != 0)
            seen->failed++;
        if (seen->last_offset >= 0 && reports[i].offset != seen->last_offset + 1)
            seen->in_order = false;
        seen->last_offset = reports[i].offset;
    }
}

/* Counts the reports of messages failed at close that say why. */
static void on_closed_batch(void *opaque, const yk_delivery_report *reports, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (reports[i].error == YK_ERROR_CLOSED_HANDLE && reports[i].error_message != NULL
            && reports[i].error_message[0] != '\0' && reports[i].offset == -1)
            ++*(int *)opaque;
}

static void on_single_report(void *opaque, const yk_delivery_report *report)
{
    (void)report;
    ++*(int *)opaque;
}

static void test_delivery_batches(void)
{
    group_begin("delivery reports in batches");
    EXPECT_CODE(yk_producer_set_delivery_batch_callback(NULL, on_report_batch, NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_set_delivery_batch_callback", "producer", NULL);
    yk_cluster_config *cluster = cluster_with_zookeeper();
    yk_producer *producer = NULL;
    EXPECT_OK(yk_producer_new(cluster, NULL, NULL, &producer));
    yk_cluster_config_free(cluster);
    struct batches_seen seen = {0, 0, 0, 0, true, -1};
    EXPECT_OK(yk_producer_set_delivery_batch_callback(producer, on_report_batch, &seen));

    /* A flush serves all ten in one call. */
    for (int i = 0; i < 10; i++)
        EXPECT_OK(yk_producer_produce(producer, "other", 0, NULL, 0, (const uint8_t *)"b", 1, NULL, -1));
    EXPECT_OK(yk_producer_flush(producer, 5000));
    CHECKF(seen.calls == 1 && seen.reports == 10 && seen.last_count == 10, "%d calls, %zu reports", seen.calls,
           seen.reports);
    CHECK(seen.failed == 0 && seen.in_order);

    /* A poll serves what is queued, in one call per poll. */
    for (int i = 0; i < 3; i++)
        EXPECT_OK(yk_producer_produce(producer, "other", 0, NULL, 0, (const uint8_t *)"b", 1, NULL, -1));
    size_t served = 0, total = 0;
    double deadline = now_seconds() + 5;
    while (total < 3 && now_seconds() < deadline) {
        int calls = seen.calls;
        EXPECT_OK(yk_producer_poll(producer, 1000, &served));
        total += served;
        CHECK(served == 0 ? seen.calls == calls : seen.calls == calls + 1 && seen.last_count == served);
    }
    CHECK(total == 3 && seen.reports == 13 && seen.failed == 0 && seen.in_order);

    /* The per-report callback replaces it. */
    int singles = 0;
    EXPECT_OK(yk_producer_set_delivery_callback(producer, on_single_report, &singles));
    EXPECT_OK(yk_producer_produce(producer, "other", 0, NULL, 0, (const uint8_t *)"b", 1, NULL, -1));
    EXPECT_OK(yk_producer_flush(producer, 5000));
    CHECK(singles == 1 && seen.reports == 13);
    yk_producer_free(producer);

    /* Failed reports in a batch say why. The messages linger for a
     * minute, so a close of 0 ms finds all three queued and fails them. */
    cluster = cluster_with_zookeeper();
    yk_config *lingering = NULL;
    EXPECT_OK(yk_config_new(&lingering));
    EXPECT_OK(yk_config_set(lingering, "linger_ms", "60000"));
    EXPECT_OK(yk_producer_new(cluster, lingering, NULL, &producer));
    yk_config_free(lingering);
    yk_cluster_config_free(cluster);
    int closed = 0;
    EXPECT_OK(yk_producer_set_delivery_batch_callback(producer, on_closed_batch, &closed));
    for (int i = 0; i < 3; i++)
        EXPECT_OK(yk_producer_produce(producer, "other", 0, NULL, 0, (const uint8_t *)"c", 1, NULL, -1));
    size_t undelivered = 0;
    EXPECT_CODE(yk_producer_close(producer, 0, &undelivered), YK_ERROR_TIMED_OUT, "yk_producer_close", NULL, NULL);
    CHECKF(undelivered == 3 && closed == 3, "%zu undelivered, %d failed with a message", undelivered, closed);
    yk_producer_free(producer);
    group_end();
}

struct blocked_call {
    yk_consumer *consumer;
    yk_error code;
};

static void *wait_for_message(void *arg)
{
    struct blocked_call *call = arg;
    yk_message *message = NULL;
    call->code = yk_consumer_get_message(call->consumer, true, -1, &message);
    yk_message_free(message);
    return NULL;
}

static void test_plain_consumer_and_close(void)
{
    group_begin("consumer: plain, close wakes waiters");
    char group[128];
    snprintf(group, sizeof group, "c-plain-%s", run_id);
    yk_consumer_config *config = consumer_config(group, "dual");
    const char *topics[] = {"other", "xmytopic"};
    yk_consumer *consumer = NULL;
    EXPECT_OK(yk_consumer_new(config, topics, 2, &consumer));
    EXPECT_OK(yk_consumer_connect(consumer));
    char values[2][64];
    int64_t first = produce_values(group, 2, values);
    for (int i = 0; i < 2; i++) {
        yk_message *message = next_message(consumer);
        CHECK(message && yk_message_offset(message) == first + i);
        if (message)
            EXPECT_OK(yk_consumer_task_done(consumer, message));
        yk_message_free(message);
    }
    struct blocked_call call = {consumer, YK_ERROR_OK};
    pthread_t thread;
    pthread_create(&thread, NULL, wait_for_message, &call);
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    double started = now_seconds();
    EXPECT_OK(yk_consumer_close(consumer)); /* auto-commit: commits first + 2 in both storages */
    pthread_join(thread, NULL);
    CHECKF(call.code == YK_ERROR_CLOSED_HANDLE, "the waiter got %s", yk_error_name(call.code));
    CHECK(now_seconds() - started < 5.0);
    yk_consumer_free(consumer);

    const char *storages[] = {"kafka", "zookeeper"};
    for (int s = 0; s < 2; s++) {
        yk_offsets *offsets = offsets_client(storages[s]);
        yk_topics *selection = NULL;
        yk_offsets_result *result = NULL;
        EXPECT_OK(yk_topics_new(&selection));
        EXPECT_OK(yk_topics_add_partition(selection, "other", 0));
        EXPECT_OK(yk_offsets_current(offsets, group, selection, true, &result));
        size_t count = 0;
        const yk_partition_offsets *rows = yk_offsets_result_rows(result, &count);
        CHECKF(count == 1 && rows[0].committed == first + 2, "%s holds the close's commit", storages[s]);
        yk_offsets_result_free(result);
        yk_topics_free(selection);
        yk_offsets_free(offsets);
    }
    yk_consumer_config_free(config);
    group_end();
}

static void test_offsets_api(void)
{
    group_begin("offsets: API and bad arguments");
    yk_offsets *offsets = offsets_client("kafka");
    yk_offsets *out = SENTINEL;
    yk_offsets_result *result = SENTINEL;
    yk_topics *topics = SENTINEL;
    yk_cluster_config *cluster = cluster_with_zookeeper();
    yk_config *bad = NULL;
    EXPECT_OK(yk_config_new(&bad));
    EXPECT_OK(yk_config_set(bad, "offset_storage", "memory"));
    EXPECT_CODE(yk_offsets_new(NULL, NULL, &out), YK_ERROR_INVALID_ARGUMENT, "yk_offsets_new", "cluster", NULL);
    EXPECT_CODE(yk_offsets_new(cluster, NULL, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_offsets_new", "out", NULL);
    EXPECT_CODE(yk_offsets_new(cluster, bad, &out), YK_ERROR_CONFIGURATION, "yk_offsets_new", "offset_storage", NULL);
    EXPECT_OK(yk_config_set(bad, "offset_storage", "kafka"));
    EXPECT_OK(yk_config_set(bad, "auto_offset_reset", "smallest"));
    EXPECT_CODE(yk_offsets_new(cluster, bad, &out), YK_ERROR_CONFIGURATION, "yk_offsets_new", "auto_offset_reset",
                NULL);
    CHECK(out == SENTINEL);
    yk_config_free(bad);
    yk_cluster_config_free(cluster);

    EXPECT_CODE(yk_topics_new(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_topics_new", "out", NULL);
    EXPECT_CODE(yk_topics_add(NULL, "t"), YK_ERROR_INVALID_ARGUMENT, "yk_topics_add", "topics", NULL);
    topics = NULL;
    EXPECT_OK(yk_topics_new(&topics));
    EXPECT_CODE(yk_topics_add(topics, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_topics_add", "topic", NULL);
    EXPECT_CODE(yk_topics_add(topics, BAD_UTF8), YK_ERROR_INVALID_ARGUMENT, "yk_topics_add", "topic", "UTF-8");
    EXPECT_CODE(yk_topics_add_partition(NULL, "t", 0), YK_ERROR_INVALID_ARGUMENT, "yk_topics_add_partition", "topics",
                NULL);
    EXPECT_CODE(yk_topics_add_partition(topics, NULL, 0), YK_ERROR_INVALID_ARGUMENT, "yk_topics_add_partition",
                "topic", NULL);
    EXPECT_CODE(yk_topics_add_partition(topics, "mytopic", -3), YK_ERROR_INVALID_ARGUMENT, "yk_topics_add_partition",
                "negative", NULL);

    EXPECT_CODE(yk_offsets_current(NULL, "g", topics, true, &result), YK_ERROR_INVALID_ARGUMENT, "yk_offsets_current",
                "offsets", NULL);
    EXPECT_CODE(yk_offsets_current(offsets, NULL, topics, true, &result), YK_ERROR_INVALID_ARGUMENT,
                "yk_offsets_current", "group", NULL);
    EXPECT_CODE(yk_offsets_current(offsets, "g", NULL, true, &result), YK_ERROR_INVALID_ARGUMENT, "yk_offsets_current",
                "topics", NULL);
    EXPECT_CODE(yk_offsets_current(offsets, "g", topics, true, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_offsets_current",
                "out", NULL);
    EXPECT_CODE(yk_offsets_watermarks(NULL, topics, true, &result), YK_ERROR_INVALID_ARGUMENT, "yk_offsets_watermarks",
                "offsets", NULL);
    EXPECT_CODE(yk_offsets_watermarks(offsets, NULL, true, &result), YK_ERROR_INVALID_ARGUMENT,
                "yk_offsets_watermarks", "topics", NULL);
    EXPECT_CODE(yk_offsets_advance(offsets, NULL, topics, true, &result), YK_ERROR_INVALID_ARGUMENT,
                "yk_offsets_advance", "group", NULL);
    EXPECT_CODE(yk_offsets_rewind(offsets, "g", NULL, true, &result), YK_ERROR_INVALID_ARGUMENT, "yk_offsets_rewind",
                "topics", NULL);
    EXPECT_CODE(yk_offsets_set(offsets, "g", NULL, 1, true, &result), YK_ERROR_INVALID_ARGUMENT, "yk_offsets_set",
                "entries", "NULL");
    yk_topic_partition_offset negative = {"mytopic", 0, -5};
    EXPECT_CODE(yk_offsets_set(offsets, "g", &negative, 1, true, &result), YK_ERROR_INVALID_ARGUMENT, "yk_offsets_set",
                "negative", NULL);
    yk_topic_partition_offset null_topic = {NULL, 0, 1};
    EXPECT_CODE(yk_offsets_set(offsets, "g", &null_topic, 1, true, &result), YK_ERROR_INVALID_ARGUMENT,
                "yk_offsets_set", "entries[0].topic", NULL);
    EXPECT_CODE(yk_offsets_offset_distance(offsets, "g", NULL, NULL, 0, &result), YK_ERROR_INVALID_ARGUMENT,
                "yk_offsets_offset_distance", "topic", NULL);
    EXPECT_CODE(yk_offsets_offset_distance(offsets, "g", "mytopic", NULL, 2, &result), YK_ERROR_INVALID_ARGUMENT,
                "yk_offsets_offset_distance", "partitions", NULL);
    EXPECT_CODE(yk_offsets_topics_offset_distance(offsets, NULL, topics, &result), YK_ERROR_INVALID_ARGUMENT,
                "yk_offsets_topics_offset_distance", "group", NULL);
    CHECK(result == SENTINEL);
    size_t count = COUNT_SENTINEL;
    EXPECT_NULL(yk_offsets_result_rows(NULL, &count), "yk_offsets_result_rows", "result", NULL);
    CHECK(count == COUNT_SENTINEL);

    /* The map form names two partitions of mytopic, the list form all of "other". */
    EXPECT_OK(yk_topics_add_partition(topics, "mytopic", 2));
    EXPECT_OK(yk_topics_add_partition(topics, "mytopic", 0));
    EXPECT_OK(yk_topics_add(topics, "other"));
    result = NULL;
    EXPECT_OK(yk_offsets_watermarks(offsets, topics, true, &result));
    const yk_partition_offsets *rows = yk_offsets_result_rows(result, &count);
    CHECK(count == 3);
    if (count == 3) {
        CHECK(str_eq(rows[0].topic, "mytopic") && rows[0].partition == 0);
        CHECK(str_eq(rows[1].topic, "mytopic") && rows[1].partition == 2);
        CHECK(str_eq(rows[2].topic, "other") && rows[2].partition == 0);
        CHECK(rows[2].high_watermark >= rows[2].low_watermark && rows[2].low_watermark >= 0);
        CHECK(rows[0].committed == -1 && rows[0].lag == -1);
    }
    int64_t other_high = count == 3 ? rows[2].high_watermark : 0;
    int64_t other_low = count == 3 ? rows[2].low_watermark : 0;
    yk_offsets_result_free(result);

    char group[128];
    snprintf(group, sizeof group, "c-offsets-%s", run_id);
    yk_topic_partition_offset set[] = {{"mytopic", 0, 0}, {"other", 0, other_high > 0 ? other_high - 1 : 0}};
    EXPECT_OK(yk_offsets_set(offsets, group, set, 2, true, &result));
    yk_offsets_result_free(result);
    int32_t other_partitions[] = {0};
    EXPECT_OK(yk_offsets_offset_distance(offsets, group, "other", other_partitions, 1, &result));
    rows = yk_offsets_result_rows(result, &count);
    CHECK(count == 1 && rows[0].committed == set[1].offset && rows[0].lag == other_high - set[1].offset);
    yk_offsets_result_free(result);
    EXPECT_OK(yk_offsets_topics_offset_distance(offsets, group, topics, &result));
    rows = yk_offsets_result_rows(result, &count);
    CHECK(count == 3 && rows[0].lag == rows[0].high_watermark && rows[1].committed == 0);
    yk_offsets_result_free(result);

    yk_topics *just_other = NULL;
    EXPECT_OK(yk_topics_new(&just_other));
    EXPECT_OK(yk_topics_add(just_other, "other"));
    EXPECT_OK(yk_offsets_advance(offsets, group, just_other, true, &result));
    rows = yk_offsets_result_rows(result, &count);
    CHECK(count == 1 && rows[0].committed == other_high);
    yk_offsets_result_free(result);
    EXPECT_OK(yk_offsets_rewind(offsets, group, just_other, true, &result));
    rows = yk_offsets_result_rows(result, &count);
    CHECK(count == 1 && rows[0].committed == other_low);
    yk_offsets_result_free(result);
    EXPECT_OK(yk_offsets_current(offsets, group, just_other, true, &result));
    rows = yk_offsets_result_rows(result, &count);
    CHECK(count == 1 && rows[0].committed == other_low);
    yk_offsets_result_free(result);

    /* Unknown topics and partitions: errors with raise_on_error, skipped without. */
    EXPECT_OK(yk_topics_add(just_other, "no-such-topic"));
    result = SENTINEL;
    EXPECT_CODE(yk_offsets_current(offsets, group, just_other, true, &result), YK_ERROR_UNKNOWN_TOPIC,
                "yk_offsets_current", "no-such-topic", NULL);
    EXPECT_CODE(yk_offsets_topics_offset_distance(offsets, group, just_other, &result), YK_ERROR_UNKNOWN_TOPIC,
                "yk_offsets_topics_offset_distance", "no-such-topic", NULL);
    CHECK(result == SENTINEL);
    EXPECT_OK(yk_offsets_current(offsets, group, just_other, false, &result));
    rows = yk_offsets_result_rows(result, &count);
    CHECK(count == 1 && str_eq(rows[0].topic, "other"));
    yk_offsets_result_free(result);
    yk_topics *unknown_partition = NULL;
    EXPECT_OK(yk_topics_new(&unknown_partition));
    EXPECT_OK(yk_topics_add_partition(unknown_partition, "other", 7));
    result = SENTINEL;
    EXPECT_CODE(yk_offsets_watermarks(offsets, unknown_partition, true, &result), YK_ERROR_UNKNOWN_PARTITIONS,
                "yk_offsets_watermarks", "7", NULL);
    EXPECT_OK(yk_offsets_watermarks(offsets, unknown_partition, false, &result));
    rows = yk_offsets_result_rows(result, &count);
    CHECK(count == 0);
    yk_offsets_result_free(result);

    yk_topics_free(unknown_partition);
    yk_topics_free(just_other);
    yk_topics_free(topics);
    yk_topics_free(NULL);
    yk_offsets_free(offsets);
    yk_offsets_free(NULL);
    yk_offsets_result_free(NULL);
    group_end();
}

/*
 * docs/c-abi.md: in a child forked after they were made, a consumer and an
 * offsets client are YK_ERROR_WRONG_STATE at once (naming fork), and
 * freeing them there returns; a consumer configuration, plain data, still
 * works. The child reports through its exit status, each failed check a bit.
 */
static int child_uses_parent_handles(yk_consumer *consumer, yk_offsets *offsets, yk_topics *topics,
                                     yk_consumer_config *config)
{
    int failures = 0;
    yk_message *message = SENTINEL;
    if (yk_consumer_get_message(consumer, true, 5000, &message) != YK_ERROR_WRONG_STATE
        || !contains(yk_last_error_message(), "fork") || message != SENTINEL)
        failures |= 1;
    if (yk_consumer_commit(consumer) != YK_ERROR_WRONG_STATE || yk_consumer_close(consumer) != YK_ERROR_WRONG_STATE)
        failures |= 2;
    yk_offsets_result *result = SENTINEL;
    if (yk_offsets_watermarks(offsets, topics, true, &result) != YK_ERROR_WRONG_STATE
        || !contains(yk_last_error_message(), "yk_offsets_watermarks") || !contains(yk_last_error_message(), "fork")
        || result != SENTINEL)
        failures |= 4;
    prime_last_error();
    yk_consumer_free(consumer);
    if (yk_last_error_code() != YK_ERROR_WRONG_STATE)
        failures |= 8;
    yk_offsets_free(offsets);
    yk_topics_free(topics);
    if (yk_consumer_config_set(config, "consumer_timeout_ms", "100") != YK_ERROR_OK)
        failures |= 16;
    if (failures)
        fprintf(stderr, "  child: failures %#x; last error %s: %s\n", failures, yk_error_name(yk_last_error_code()),
                yk_last_error_message());
    return failures;
}

static void test_fork(void)
{
    group_begin("consumer, offsets: made before fork()");
    char group[128];
    snprintf(group, sizeof group, "fork-%s", run_id);
    yk_consumer_config *config = consumer_config(group, "kafka");
    yk_consumer *consumer = NULL;
    int32_t partition = 0;
    EXPECT_OK(yk_consumer_new_simple(config, "mytopic", &partition, 1, &consumer));
    EXPECT_OK(yk_consumer_connect(consumer));
    yk_offsets *offsets = offsets_client("kafka");
    yk_topics *topics = NULL;
    EXPECT_OK(yk_topics_new(&topics));
    EXPECT_OK(yk_topics_add(topics, "mytopic"));
    yk_offsets_result *result = NULL;
    EXPECT_OK(yk_offsets_watermarks(offsets, topics, true, &result));
    yk_offsets_result_free(result);
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        alarm(20);
        _exit(child_uses_parent_handles(consumer, offsets, topics, config));
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s %d",
           WIFEXITED(status) ? "exit status" : "killed by signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    /* The parent's handles are untouched. */
    result = NULL;
    EXPECT_OK(yk_offsets_watermarks(offsets, topics, true, &result));
    yk_offsets_result_free(result);
    EXPECT_OK(yk_consumer_close(consumer));
    yk_consumer_free(consumer);
    yk_offsets_free(offsets);
    yk_topics_free(topics);
    yk_consumer_config_free(config);
    group_end();
}

int main(void)
{
    group_begin("consumer: local cluster");
    kafka1 = getenv("YK_KAFKA1");
    const char *zk = getenv("YK_ZOOKEEPER");
    bool ready = CHECKF(kafka1 && *kafka1 && zk && *zk, "YK_KAFKA1 and YK_ZOOKEEPER must name scripts/cluster.sh's");
    snprintf(run_id, sizeof run_id, "%ld-%ld", (long)getpid(), (long)time(NULL));
    /* A chroot that does not exist yet: offset storage creates its nodes. */
    if (ready)
        snprintf(zookeeper, sizeof zookeeper, "%s/yk-consumer-test-%s", zk, run_id);
    group_end();
    if (ready) {
        test_config();
        test_bad_arguments();
        test_round_trip_with_zookeeper_offsets();
        test_plain_consumer_and_close();
        test_batches_and_views();
        test_batch_task_done();
        test_headers();
        test_wakeup();
        test_ready_fd();
        test_delivery_batches();
        test_offsets_api();
        test_fork();
    }
    return checks_summary();
}
