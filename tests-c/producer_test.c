/*
 * tests-c/producer_test.c: the producer's C API against the local cluster
 * (scripts/cluster.sh; bootstrap list in $YK_KAFKA1, topic "mytopic").
 *
 * Checks: every producer export rejects NULL and bad arguments with a code
 * and a message naming it, out-parameters untouched on failure; sync and
 * keyed sends return offsets; asynchronous produce delivers reports with
 * the caller's opaque pointer on the polling thread; a callback calling
 * back into its producer gets YK_ERROR_REENTRANT; the metrics responder
 * gets its emitters with Python yelp_kafka's names and dimensions and records only
 * on the caller's thread; close never hangs and counts what was not
 * delivered; lengths no buffer can have are refused and the producer keeps
 * working; a closed producer refuses every call; a NULL value is a null
 * (librdkafka's kcat reads it back as one) and an empty one stays empty on
 * every path; a batch of values end to end is checked whole before
 * anything is queued and stops at a full queue saying how much it queued;
 * a producer made before fork() is refused in the child.
 * Prints "N passed, M failed" last.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static yk_cluster_config *cluster;

static yk_producer *new_producer(const char *key, const char *value, const yk_metrics_responder *responder)
{
    yk_config *config = NULL;
    yk_producer *producer = NULL;
    EXPECT_OK(yk_config_new(&config));
    if (key)
        EXPECT_OK(yk_config_set(config, key, value));
    EXPECT_OK(yk_producer_new(cluster, config, responder, &producer));
    yk_config_free(config);
    return producer;
}

/* A producer whose batches linger 60 s, in a queue of queue_max_messages (a full queue is sent at once). */
static yk_producer *new_holding_producer(const char *queue_max_messages)
{
    yk_config *config = NULL;
    yk_producer *producer = NULL;
    EXPECT_OK(yk_config_new(&config));
    EXPECT_OK(yk_config_set(config, "linger_ms", "60000"));
    EXPECT_OK(yk_config_set(config, "queue_max_messages", queue_max_messages));
    EXPECT_OK(yk_producer_new(cluster, config, NULL, &producer));
    yk_config_free(config);
    return producer;
}

static void test_bad_arguments(void)
{
    group_begin("producer: bad arguments");
    yk_producer *producer = new_producer("linger_ms", "1", NULL);
    yk_producer *out = SENTINEL;
    yk_bytes value = {(const uint8_t *)"v", 1};
    yk_bytes null_data = {NULL, 3};
    int64_t offsets[1] = {-7};
    size_t count = COUNT_SENTINEL;

    EXPECT_CODE(yk_producer_new(NULL, NULL, NULL, &out), YK_ERROR_INVALID_ARGUMENT, "yk_producer_new", "cluster", "NULL");
    EXPECT_CODE(yk_producer_new(cluster, NULL, NULL, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_producer_new", "out", NULL);
    yk_config *config = NULL;
    EXPECT_OK(yk_config_new(&config));
    EXPECT_OK(yk_config_set(config, "compression", "brotli"));
    EXPECT_CODE(yk_producer_new(cluster, config, NULL, &out), YK_ERROR_CONFIGURATION, "yk_producer_new", "compression", NULL);
    yk_config_free(config);
    yk_metrics_responder incomplete = {0};
    EXPECT_CODE(yk_producer_new(cluster, NULL, &incomplete, &out), YK_ERROR_INVALID_ARGUMENT, "yk_producer_new",
                "get_counter_emitter", NULL);
    CHECK(out == SENTINEL);

    EXPECT_CODE(yk_producer_send_messages(NULL, "mytopic", &value, 1, offsets), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_send_messages", "producer", NULL);
    EXPECT_CODE(yk_producer_send_messages(producer, NULL, &value, 1, offsets), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_send_messages", "topic", "NULL");
    EXPECT_CODE(yk_producer_send_messages(producer, BAD_UTF8, &value, 1, offsets), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_send_messages", "topic", "UTF-8");
    EXPECT_CODE(yk_producer_send_messages(producer, "", &value, 1, offsets), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_send_messages", "topic", "empty");
    EXPECT_CODE(yk_producer_send_messages(producer, "mytopic", NULL, 1, offsets), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_send_messages", "values", "NULL");
    EXPECT_CODE(yk_producer_send_messages(producer, "mytopic", &value, 0, offsets), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_send_messages", "count", NULL);
    EXPECT_CODE(yk_producer_send_messages(producer, "mytopic", &null_data, 1, offsets), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_send_messages", "values[0].data", NULL);
    CHECK(offsets[0] == -7);

    EXPECT_CODE(yk_producer_send_keyed_messages(NULL, "mytopic", (const uint8_t *)"k", 1, &value, 1, NULL),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_send_keyed_messages", "producer", NULL);
    EXPECT_CODE(yk_producer_send_keyed_messages(producer, NULL, (const uint8_t *)"k", 1, &value, 1, NULL),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_send_keyed_messages", "topic", NULL);
    EXPECT_CODE(yk_producer_send_keyed_messages(producer, "mytopic", NULL, 0, &value, 1, NULL),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_send_keyed_messages", "key", NULL);
    EXPECT_CODE(yk_producer_send_keyed_messages(producer, "mytopic", NULL, 4, &value, 1, NULL),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_send_keyed_messages", "key", "length");
    EXPECT_CODE(yk_producer_send_keyed_messages(producer, "mytopic", (const uint8_t *)"k", 1, NULL, 1, NULL),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_send_keyed_messages", "values", NULL);

    EXPECT_CODE(yk_producer_produce(NULL, "mytopic", -1, NULL, 0, NULL, 0, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce", "producer", NULL);
    EXPECT_CODE(yk_producer_produce_value(NULL, "mytopic", NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce_value", "producer", NULL);
    EXPECT_CODE(yk_producer_produce_value(producer, NULL, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce_value", "topic", NULL);
    EXPECT_CODE(yk_producer_produce_value(producer, BAD_UTF8, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce_value", "topic", "UTF-8");
    EXPECT_CODE(yk_producer_produce(producer, NULL, -1, NULL, 0, NULL, 0, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce", "topic", NULL);
    EXPECT_CODE(yk_producer_produce(producer, BAD_UTF8, -1, NULL, 0, NULL, 0, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce", "topic", "UTF-8");
    EXPECT_CODE(yk_producer_produce(producer, "mytopic", -2, NULL, 0, NULL, 0, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce", "partition", NULL);
    EXPECT_CODE(yk_producer_produce(producer, "mytopic", 99, NULL, 0, NULL, 0, NULL, 0),
                YK_ERROR_UNKNOWN_TOPIC_OR_PARTITION, "yk_producer_produce", "99", NULL);
    EXPECT_CODE(yk_producer_produce(producer, "mytopic", -1, NULL, 2, NULL, 0, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce", "key", NULL);
    EXPECT_CODE(yk_producer_produce(producer, "mytopic", -1, NULL, 0, NULL, 2, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce", "value", NULL);
    EXPECT_CODE(yk_producer_produce(producer, "mytopic", -1, NULL, 0, NULL, 0, NULL, -5), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce", "queue_wait_ms", NULL);

    EXPECT_CODE(yk_producer_set_delivery_callback(NULL, NULL, NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_set_delivery_callback", "producer", NULL);
    EXPECT_CODE(yk_producer_poll(NULL, 0, &count), YK_ERROR_INVALID_ARGUMENT, "yk_producer_poll", "producer", NULL);
    EXPECT_CODE(yk_producer_poll(producer, -2, &count), YK_ERROR_INVALID_ARGUMENT, "yk_producer_poll", "timeout_ms",
                NULL);
    CHECK(count == COUNT_SENTINEL);
    EXPECT_CODE(yk_producer_flush(NULL, 0), YK_ERROR_INVALID_ARGUMENT, "yk_producer_flush", "producer", NULL);
    EXPECT_CODE(yk_producer_flush(producer, -1), YK_ERROR_INVALID_ARGUMENT, "yk_producer_flush", "timeout_ms", NULL);
    EXPECT_CODE(yk_producer_close(NULL, 0, &count), YK_ERROR_INVALID_ARGUMENT, "yk_producer_close", "producer", NULL);
    CHECK(count == COUNT_SENTINEL);
    EXPECT_ZERO(yk_producer_queue_length(NULL), "yk_producer_queue_length", "producer", NULL);
    yk_producer_free(NULL);

    /* Still usable after all that. */
    int64_t offset = -1;
    EXPECT_OK(yk_producer_send_messages(producer, "mytopic", &value, 1, &offset));
    CHECK(offset >= 0);
    yk_producer_free(producer);
    group_end();
}

struct deliveries {
    pthread_t poller;
    int delivered;
    int failed;
    int wrong_thread;
    long opaque_sum;
    int reentrant_code;
    yk_producer *producer;
};

static void on_delivery(void *callback_opaque, const yk_delivery_report *report)
{
    struct deliveries *d = callback_opaque;
    if (!pthread_equal(pthread_self(), d->poller))
        d->wrong_thread++;
    if (report->error == YK_ERROR_OK && report->offset >= 0 && str_eq(report->topic, "mytopic")
        && report->partition >= 0 && report->error_message == NULL)
        d->delivered++;
    else
        d->failed++;
    d->opaque_sum += (long)(intptr_t)report->message_opaque;
    if (d->reentrant_code < 0)
        d->reentrant_code = (int)yk_producer_poll(d->producer, 0, NULL);
}

static void test_sync_and_async(void)
{
    group_begin("producer: send, produce, reports");
    yk_producer *producer = new_producer("linger_ms", "2", NULL);
    yk_bytes values[3] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"b", 1}, {(const uint8_t *)"c", 1}};
    int64_t offsets[3] = {-1, -1, -1};
    EXPECT_OK(yk_producer_send_messages(producer, "mytopic", values, 3, offsets));
    CHECK(offsets[0] >= 0 && offsets[1] >= 0 && offsets[2] >= 0);
    int64_t keyed[3] = {-1, -1, -1};
    EXPECT_OK(yk_producer_send_keyed_messages(producer, "mytopic", (const uint8_t *)"user-7", 6, values, 3, keyed));
    CHECKF(keyed[1] == keyed[0] + 1 && keyed[2] == keyed[1] + 1, "one key, one partition, consecutive offsets");

    struct deliveries d = {.poller = pthread_self(), .reentrant_code = -1, .producer = producer};
    EXPECT_OK(yk_producer_set_delivery_callback(producer, on_delivery, &d));
    long expected_sum = 0;
    for (intptr_t i = 1; i <= 200; i++) {
        expected_sum += (long)i;
        EXPECT_OK(yk_producer_produce(producer, "mytopic", -1, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1,
                                      (void *)i, -1));
    }
    /* A value alone: its reports carry a NULL opaque, which adds nothing. */
    for (int i = 0; i < 50; i++)
        EXPECT_OK(yk_producer_produce_value(producer, "mytopic", (const uint8_t *)"v", 1));
    EXPECT_OK(yk_producer_flush(producer, 10000));
    CHECKF(d.delivered == 250 && d.failed == 0, "delivered %d, failed %d", d.delivered, d.failed);
    CHECK(d.opaque_sum == expected_sum);
    CHECK(d.wrong_thread == 0);
    CHECKF(d.reentrant_code == (int)YK_ERROR_REENTRANT, "a callback polling its own producer got %s",
           yk_error_name(d.reentrant_code));
    CHECK(yk_producer_queue_length(producer) == 0);

    size_t undelivered = COUNT_SENTINEL;
    EXPECT_OK(yk_producer_close(producer, 1000, &undelivered));
    CHECK(undelivered == 0);
    EXPECT_CODE(yk_producer_produce(producer, "mytopic", -1, NULL, 0, NULL, 0, NULL, 0), YK_ERROR_CLOSED_HANDLE,
                "yk_producer_produce", "closed", NULL);
    EXPECT_CODE(yk_producer_produce_value(producer, "mytopic", NULL, 0), YK_ERROR_CLOSED_HANDLE,
                "yk_producer_produce_value", "closed", NULL);
    EXPECT_CODE(yk_producer_send_messages(producer, "mytopic", values, 1, NULL), YK_ERROR_CLOSED_HANDLE,
                "yk_producer_send_messages", "closed", NULL);
    EXPECT_CODE(yk_producer_send_keyed_messages(producer, "mytopic", (const uint8_t *)"k", 1, values, 1, NULL),
                YK_ERROR_CLOSED_HANDLE, "yk_producer_send_keyed_messages", "closed", NULL);
    EXPECT_CODE(yk_producer_poll(producer, 0, NULL), YK_ERROR_CLOSED_HANDLE, "yk_producer_poll", "closed", NULL);
    EXPECT_CODE(yk_producer_flush(producer, 0), YK_ERROR_CLOSED_HANDLE, "yk_producer_flush", "closed", NULL);
    EXPECT_CODE(yk_producer_close(producer, 0, NULL), YK_ERROR_CLOSED_HANDLE, "yk_producer_close", "closed", NULL);
    EXPECT_CODE(yk_producer_set_delivery_callback(producer, NULL, NULL), YK_ERROR_CLOSED_HANDLE,
                "yk_producer_set_delivery_callback", "closed", NULL);
    yk_producer_free(producer);
    group_end();
}

/*
 * yk_producer_produce_value never waits for room: with the queue full it
 * returns YK_ERROR_QUEUE_FULL at once, and queues again once there is room.
 */
static void test_produce_value_does_not_wait(void)
{
    group_begin("producer: produce_value refuses a full queue at once");
    yk_producer *producer = new_holding_producer("1");
    EXPECT_OK(yk_producer_produce_value(producer, "mytopic", (const uint8_t *)"first", 5));
    EXPECT_CODE(yk_producer_produce_value(producer, "mytopic", (const uint8_t *)"second", 6), YK_ERROR_QUEUE_FULL,
                "yk_producer_produce_value", NULL, NULL);
    EXPECT_OK(yk_producer_flush(producer, 10000));
    EXPECT_OK(yk_producer_produce_value(producer, "mytopic", (const uint8_t *)"third", 5));
    size_t undelivered = COUNT_SENTINEL;
    EXPECT_OK(yk_producer_close(producer, 10000, &undelivered));
    CHECK(undelivered == 0);
    yk_producer_free(producer);
    group_end();
}

/*
 * Lengths no buffer can have (a negative number passed as size_t, a sum
 * that wraps) are YK_ERROR_INVALID_ARGUMENT naming the length, nothing is
 * copied, and the producer goes on working.
 */
static void test_bad_lengths(void)
{
    group_begin("producer: impossible lengths");
    yk_producer *producer = new_producer("linger_ms", "1", NULL);
    const uint8_t *k = (const uint8_t *)"k", *v = (const uint8_t *)"v";
    const size_t too_long = (size_t)PTRDIFF_MAX + 1;
    const size_t longest = (size_t)PTRDIFF_MAX;

    EXPECT_CODE(yk_producer_produce(producer, "mytopic", -1, k, too_long, v, 1, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce", "key_len", NULL);
    EXPECT_CODE(yk_producer_produce(producer, "mytopic", -1, k, 1, v, SIZE_MAX, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce", "value_len", NULL);
    /* key_len + value_len wraps to 0. */
    EXPECT_CODE(yk_producer_produce(producer, "mytopic", -1, k, too_long, v, too_long, NULL, 0),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce", "key_len", NULL);
    EXPECT_CODE(yk_producer_produce(producer, "mytopic", -1, k, longest, v, longest, NULL, 0),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce", "key_len", "value_len");
    EXPECT_CODE(yk_producer_produce(producer, "mytopic", 0, NULL, 0, v, SIZE_MAX, NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce", "value_len", NULL);
    EXPECT_CODE(yk_producer_produce_value(producer, "mytopic", v, too_long), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_produce_value", "value_len", NULL);

    yk_bytes huge[2] = {{v, 1}, {v, SIZE_MAX}};
    int64_t offsets[2] = {-7, -7};
    EXPECT_CODE(yk_producer_send_messages(producer, "mytopic", huge, 2, offsets), YK_ERROR_INVALID_ARGUMENT,
                "yk_producer_send_messages", "values[1].len", NULL);
    EXPECT_CODE(yk_producer_send_keyed_messages(producer, "mytopic", k, SIZE_MAX, huge, 1, offsets),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_send_keyed_messages", "key_len", NULL);
    yk_bytes longest_value = {v, longest};
    EXPECT_CODE(yk_producer_send_keyed_messages(producer, "mytopic", k, longest, &longest_value, 1, offsets),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_send_keyed_messages", "key_len", "values[0].len");
    CHECK(offsets[0] == -7 && offsets[1] == -7);

    /* Nothing was queued, and the producer still works. */
    CHECK(yk_producer_queue_length(producer) == 0);
    yk_bytes value = {v, 1};
    EXPECT_OK(yk_producer_send_messages(producer, "mytopic", &value, 1, offsets));
    CHECK(offsets[0] >= 0);
    EXPECT_OK(yk_producer_send_keyed_messages(producer, "mytopic", k, 1, &value, 1, offsets));
    EXPECT_OK(yk_producer_produce(producer, "mytopic", -1, k, 1, v, 1, NULL, -1));
    EXPECT_OK(yk_producer_flush(producer, 10000));
    size_t undelivered = COUNT_SENTINEL;
    EXPECT_OK(yk_producer_close(producer, 1000, &undelivered));
    CHECK(undelivered == 0);
    yk_producer_free(producer);
    group_end();
}

/*
 * The value's length as librdkafka reads it back (kcat's %S: -1 for a null
 * value), at `offset` of partition 0 of "other" (one partition); -2 when
 * kcat fails.
 */
static long stored_value_length(int64_t offset)
{
    char command[512];
    snprintf(command, sizeof command,
             "kcat -C -q -e -b '%s' -t other -p 0 -o %lld -c 1 -f '%%S\\n' -X socket.timeout.ms=10000",
             getenv("YK_KAFKA1"), (long long)offset);
    FILE *kcat = popen(command, "r");
    if (kcat == NULL)
        return -2;
    long length = -2;
    if (fscanf(kcat, "%ld", &length) != 1)
        length = -2;
    return pclose(kcat) == 0 ? length : -2;
}

struct stored_offsets {
    int64_t offsets[2];
    int reports;
};

static void on_stored(void *callback_opaque, const yk_delivery_report *report)
{
    struct stored_offsets *stored = callback_opaque;
    intptr_t index = (intptr_t)report->message_opaque;
    if (report->error == YK_ERROR_OK && report->partition == 0 && index >= 0 && index < 2)
        stored->offsets[index] = report->offset;
    stored->reports++;
}

/*
 * yk_bytes{NULL, 0} is a null value (a tombstone) and yk_bytes{"", 0} an
 * empty one, on every path, as librdkafka reads them back.
 */
static void test_null_and_empty_values(void)
{
    group_begin("producer: null and empty values");
    yk_producer *producer = new_producer("linger_ms", "0", NULL);
    yk_bytes values[2] = {{NULL, 0}, {(const uint8_t *)"", 0}};
    int64_t simple[2] = {-1, -1}, keyed[2] = {-1, -1};
    EXPECT_OK(yk_producer_send_messages(producer, "other", values, 2, simple));
    EXPECT_OK(yk_producer_send_keyed_messages(producer, "other", (const uint8_t *)"k", 1, values, 2, keyed));
    struct stored_offsets produced = {{-1, -1}, 0};
    EXPECT_OK(yk_producer_set_delivery_callback(producer, on_stored, &produced));
    EXPECT_OK(yk_producer_produce(producer, "other", 0, NULL, 0, NULL, 0, (void *)0, -1));
    EXPECT_OK(yk_producer_produce(producer, "other", 0, NULL, 0, (const uint8_t *)"", 0, (void *)1, -1));
    EXPECT_OK(yk_producer_flush(producer, 10000));
    CHECK(produced.reports == 2);

    const char *paths[3] = {"send_messages", "send_keyed_messages", "produce"};
    const int64_t *offsets[3] = {simple, keyed, produced.offsets};
    for (int path = 0; path < 3; path++) {
        long null_length = stored_value_length(offsets[path][0]);
        long empty_length = stored_value_length(offsets[path][1]);
        CHECKF(null_length == -1, "%s: a NULL value was stored with length %ld, not as a null", paths[path],
               null_length);
        CHECKF(empty_length == 0, "%s: an empty value was stored with length %ld", paths[path], empty_length);
    }
    yk_producer_free(producer);
    group_end();
}

struct values_reports {
    int64_t offsets[4];
    int reports;
    int failed;
    int wrong_opaque;
};

static void on_values_report(void *callback_opaque, const yk_delivery_report *report)
{
    struct values_reports *r = callback_opaque;
    if (report->message_opaque != (void *)r)
        r->wrong_opaque++;
    if (report->error != YK_ERROR_OK || report->partition != 0)
        r->failed++;
    else if (r->reports < 4)
        r->offsets[r->reports] = report->offset;
    r->reports++;
}

/*
 * yk_producer_produce_values: every argument checked before anything is
 * queued; values end to end with -1 for a null one, stored as librdkafka
 * reads them back, each with the call's opaque; a batch that meets a full
 * queue stops there and says how many it queued.
 */
static void test_produce_values(void)
{
    group_begin("producer: produce_values");
    yk_producer *producer = new_producer("linger_ms", "1", NULL);
    const uint8_t *data = (const uint8_t *)"accc";
    int64_t lens[4] = {1, 0, -1, 3};
    size_t produced = COUNT_SENTINEL;

    EXPECT_CODE(yk_producer_produce_values(NULL, "other", 0, NULL, 0, data, lens, 4, NULL, 0, &produced),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_values", "producer", NULL);
    CHECK(produced == 0);
    EXPECT_CODE(yk_producer_produce_values(producer, NULL, 0, NULL, 0, data, lens, 4, NULL, 0, &produced),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_values", "topic", NULL);
    EXPECT_CODE(yk_producer_produce_values(producer, "other", -2, NULL, 0, data, lens, 4, NULL, 0, &produced),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_values", "partition", NULL);
    EXPECT_CODE(yk_producer_produce_values(producer, "other", 0, NULL, 3, data, lens, 4, NULL, 0, &produced),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_values", "key", NULL);
    EXPECT_CODE(yk_producer_produce_values(producer, "other", 0, NULL, 0, data, NULL, 4, NULL, 0, &produced),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_values", "lens", "NULL");
    int64_t below_null[2] = {1, -2};
    EXPECT_CODE(yk_producer_produce_values(producer, "other", 0, NULL, 0, data, below_null, 2, NULL, 0, &produced),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_values", "lens[1]", "-2");
    EXPECT_CODE(yk_producer_produce_values(producer, "other", 0, NULL, 0, NULL, lens, 4, NULL, 0, &produced),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_values", "data", "NULL");
    int64_t wrapping[2] = {PTRDIFF_MAX, 1};
    EXPECT_CODE(yk_producer_produce_values(producer, "other", 0, NULL, 0, data, wrapping, 2, NULL, 0, &produced),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_values", "lens[0..=1]", NULL);
    int64_t longest[1] = {PTRDIFF_MAX};
    EXPECT_CODE(yk_producer_produce_values(producer, "other", 0, (const uint8_t *)"k", 1, data, longest, 1, NULL, 0,
                                           &produced),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_values", "key_len", "lens[0]");
    EXPECT_CODE(yk_producer_produce_values(producer, "other", 0, NULL, 0, data, lens, 4, NULL, -5, &produced),
                YK_ERROR_INVALID_ARGUMENT, "yk_producer_produce_values", "queue_wait_ms", NULL);
    CHECK(produced == 0);
    CHECK(yk_producer_queue_length(producer) == 0);

    /* Nothing to queue is no error; NULL data and lens are fine then. */
    produced = COUNT_SENTINEL;
    EXPECT_OK(yk_producer_produce_values(producer, "other", 0, NULL, 0, NULL, NULL, 0, NULL, 0, &produced));
    CHECK(produced == 0);

    struct values_reports reports = {{-1, -1, -1, -1}, 0, 0, 0};
    EXPECT_OK(yk_producer_set_delivery_callback(producer, on_values_report, &reports));
    EXPECT_OK(yk_producer_produce_values(producer, "other", 0, NULL, 0, data, lens, 4, &reports, -1, &produced));
    CHECK(produced == 4);
    EXPECT_OK(yk_producer_flush(producer, 10000));
    CHECKF(reports.reports == 4 && reports.failed == 0 && reports.wrong_opaque == 0,
           "%d reports, %d failed, %d with another opaque", reports.reports, reports.failed, reports.wrong_opaque);
    for (int i = 0; i < 4; i++) {
        long stored = stored_value_length(reports.offsets[i]);
        CHECKF(stored == (long)lens[i], "value %d was stored with length %ld, not %ld", i, stored, (long)lens[i]);
    }
    yk_producer_free(producer);

    /* A queue of three messages takes three of five, and says so. */
    producer = new_holding_producer("3");
    int64_t five[5] = {1, 1, 1, 1, 0};
    EXPECT_CODE(yk_producer_produce_values(producer, "mytopic", -1, (const uint8_t *)"k", 1, data, five, 5, NULL, 0,
                                           &produced),
                YK_ERROR_QUEUE_FULL, "yk_producer_produce_values", NULL, NULL);
    CHECKF(produced == 3, "queued %zu of 5 with room for 3", produced);
    /* At most those 3: the full queue is sent without linger (docs/producer.md). */
    CHECK(yk_producer_queue_length(producer) <= 3);
    size_t undelivered = COUNT_SENTINEL;
    EXPECT_OK(yk_producer_close(producer, 10000, &undelivered));
    CHECK(undelivered == 0);
    EXPECT_CODE(yk_producer_produce_values(producer, "mytopic", -1, NULL, 0, data, five, 1, NULL, 0, &produced),
                YK_ERROR_CLOSED_HANDLE, "yk_producer_produce_values", "closed", NULL);
    CHECK(produced == 0);
    yk_producer_free(producer);
    group_end();
}

/*
 * docs/c-abi.md: a producer made before fork() is refused in the child at
 * once (YK_ERROR_WRONG_STATE naming fork), its free there returns, and a
 * producer the child makes works. The child reports through its exit
 * status, each failed check a bit.
 */
static int child_uses_parent_producer(yk_producer *parent)
{
    int failures = 0;
    yk_bytes value = {(const uint8_t *)"child", 5};
    int64_t offset = -1;
    if (yk_producer_send_messages(parent, "mytopic", &value, 1, &offset) != YK_ERROR_WRONG_STATE
        || !contains(yk_last_error_message(), "fork") || !contains(yk_last_error_message(), "yk_producer_send_messages"))
        failures |= 1;
    if (yk_producer_produce(parent, "mytopic", -1, NULL, 0, value.data, value.len, NULL, 0) != YK_ERROR_WRONG_STATE)
        failures |= 2;
    if (yk_producer_flush(parent, 1000) != YK_ERROR_WRONG_STATE
        || yk_producer_close(parent, 1000, NULL) != YK_ERROR_WRONG_STATE)
        failures |= 4;
    prime_last_error();
    yk_producer_free(parent);
    if (yk_last_error_code() != YK_ERROR_WRONG_STATE || !contains(yk_last_error_message(), "yk_producer_free"))
        failures |= 8;
    yk_producer *own = new_producer(NULL, NULL, NULL);
    if (own == NULL || yk_producer_send_messages(own, "mytopic", &value, 1, &offset) != YK_ERROR_OK || offset < 0)
        failures |= 16;
    yk_producer_free(own);
    if (failures)
        fprintf(stderr, "  child: failures %#x; last error %s: %s\n", failures, yk_error_name(yk_last_error_code()),
                yk_last_error_message());
    return failures;
}

static void test_fork(void)
{
    group_begin("producer: made before fork()");
    yk_producer *producer = new_producer("linger_ms", "0", NULL);
    yk_bytes value = {(const uint8_t *)"parent", 6};
    EXPECT_OK(yk_producer_send_messages(producer, "mytopic", &value, 1, NULL));
    fflush(NULL);
    pid_t child = fork();
    if (child == 0) {
        signal(SIGALRM, SIG_DFL);
        alarm(20);
        _exit(child_uses_parent_producer(producer));
    }
    int status = 0;
    CHECK(child > 0 && waitpid(child, &status, 0) == child);
    CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s %d",
           WIFEXITED(status) ? "exit status" : "killed by signal",
           WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    /* The parent's producer is untouched. */
    EXPECT_OK(yk_producer_send_messages(producer, "mytopic", &value, 1, NULL));
    yk_producer_free(producer);
    group_end();
}

struct metrics_seen {
    pthread_t caller;
    int emitters;
    int names_ok;
    int dimensions_ok;
    int records;
    int wrong_thread;
    int freed;
};

static struct metrics_seen metrics;

static void *get_emitter(void *opaque, const char *metric, const yk_dimension *dims, size_t count)
{
    struct metrics_seen *m = opaque;
    m->emitters++;
    if (str_eq(metric, "yelp_kafka.YelpKafkaProducer.metadata_request_timer")
        || str_eq(metric, "yelp_kafka.YelpKafkaProducer.produce_request_timer")
        || str_eq(metric, "yelp_kafka.YelpKafkaProducer.produce_exception_count"))
        m->names_ok++;
    if (count == 3 && str_eq(dims[0].key, "client_id") && str_eq(dims[0].value, "metrics-test")
        && str_eq(dims[1].key, "cluster_type") && str_eq(dims[1].value, "standard")
        && str_eq(dims[2].key, "cluster_name") && str_eq(dims[2].value, "cluster1"))
        m->dimensions_ok++;
    return (void *)(uintptr_t)m->emitters;
}

static void record(void *opaque, void *emitter, double value, int64_t timestamp_ms)
{
    struct metrics_seen *m = opaque;
    (void)emitter;
    if (value >= 0 && timestamp_ms > 0)
        m->records++;
    if (!pthread_equal(pthread_self(), m->caller))
        m->wrong_thread++;
}

static void free_emitter(void *opaque, void *emitter)
{
    struct metrics_seen *m = opaque;
    if (emitter != NULL)
        m->freed++;
}

static void test_metrics_responder(void)
{
    group_begin("producer: metrics responder");
    metrics = (struct metrics_seen){.caller = pthread_self()};
    yk_metrics_responder responder = {&metrics, get_emitter, get_emitter, record, free_emitter};
    yk_producer *producer = new_producer("client_id", "metrics-test", &responder);
    CHECK(metrics.emitters == 3);
    CHECK(metrics.names_ok == 3);
    CHECK(metrics.dimensions_ok == 3);
    yk_bytes value = {(const uint8_t *)"m", 1};
    EXPECT_OK(yk_producer_send_messages(producer, "mytopic", &value, 1, NULL));
    CHECKF(metrics.records >= 1, "records %d", metrics.records);
    CHECK(metrics.wrong_thread == 0);
    yk_producer_free(producer);
    CHECK(metrics.freed == 3);
    group_end();
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    start_watchdog("producer_test");
    group_begin("producer: local cluster");
    const char *kafka1 = getenv("YK_KAFKA1");
    bool ready = CHECKF(kafka1 && *kafka1, "YK_KAFKA1 must hold the bootstrap list of scripts/cluster.sh");
    if (ready)
        ready = CHECK(yk_cluster_config_new("standard", "cluster1", kafka1, "", &cluster) == YK_ERROR_OK);
    group_end();
    if (ready) {
        test_bad_arguments();
        test_sync_and_async();
        test_metrics_responder();
        test_bad_lengths();
        test_produce_value_does_not_wait();
        test_null_and_empty_values();
        test_produce_values();
        test_fork();
    }
    yk_cluster_config_free(cluster);
    return checks_summary();
}
