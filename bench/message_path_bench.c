/*
 * bench/message_path_bench.c: the per-message cost of reading messages
 * across the C boundary, the old way against the new (bench/message_path.sh
 * runs it against a local mock cluster and prints medians).
 *
 *   message_path_bench fill BOOTSTRAP TOPIC COUNT SIZE
 *   message_path_bench MODE BOOTSTRAP TOPIC COUNT
 *
 * fill: writes COUNT messages of SIZE bytes without key (yk_producer_produce),
 * then fails unless TOPIC keeps at least COUNT messages: the mock broker
 * keeps about 5 MB per partition and drops the oldest beyond that, so a
 * reader waiting for more than it kept would wait forever.
 * MODE reads every partition of TOPIC from the start as a new group until
 * COUNT messages came, looking at every field of each and marking it done:
 * - accessors: yk_consumer_get_message, then yk_message_topic, _partition,
 *   _offset, _timestamp, _key, _value, yk_consumer_task_done and
 *   yk_message_free: nine calls and one allocation per message, what the
 *   Go and Ruby bindings do today;
 * - view: yk_consumer_get_message, yk_message_get_view, yk_task_done and
 *   yk_message_free: four calls per message;
 * - batch: yk_consumer_next_batch of up to 512 messages, then yk_task_done
 *   per message: one call per message plus one per batch, no allocation.
 * Prints `msgs_per_s=... cpu_s=... thread_cpu_s=...`: cpu_s is the whole
 * process (the library's fetch threads included), thread_cpu_s the calling
 * thread alone, where the per-message calls run.
 */
#define _GNU_SOURCE

#include "bench.h"
#include "yelp_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what)
{
    fprintf(stderr, "message_path_bench: %s: %s\n", what, yk_last_error_message());
    exit(1);
}

static void check(yk_error err, const char *what)
{
    if (err != YK_ERROR_OK)
        die(what);
}

/* How many messages TOPIC holds: the sum over its partitions of the high
 * watermark less the low one. */
static long long kept_messages(const yk_cluster_config *cluster, const char *topic)
{
    yk_config *config = NULL;
    yk_offsets *offsets = NULL;
    yk_topics *topics = NULL;
    yk_offsets_result *result = NULL;
    check(yk_config_new(&config), "config");
    check(yk_config_set(config, "api_version_caps", "ListOffsets:3"), "api_version_caps");
    check(yk_offsets_new(cluster, config, &offsets), "yk_offsets_new");
    check(yk_topics_new(&topics), "yk_topics_new");
    check(yk_topics_add(topics, topic), "yk_topics_add");
    check(yk_offsets_watermarks(offsets, topics, true, &result), "yk_offsets_watermarks");
    size_t count = 0;
    const yk_partition_offsets *rows = yk_offsets_result_rows(result, &count);
    long long kept = 0;
    for (size_t i = 0; i < count; i++)
        kept += rows[i].high_watermark - rows[i].low_watermark;
    yk_offsets_result_free(result);
    yk_topics_free(topics);
    yk_offsets_free(offsets);
    yk_config_free(config);
    return kept;
}

static void fill(const char *bootstrap, const char *topic, long count, size_t size)
{
    yk_cluster_config *cluster = NULL;
    yk_config *config = NULL;
    yk_producer *producer = NULL;
    check(yk_cluster_config_new("bench", "bench", bootstrap, "", &cluster), "cluster");
    check(yk_config_new(&config), "config");
    check(yk_config_set(config, "linger_ms", "5"), "linger_ms");
    check(yk_producer_new(cluster, config, NULL, &producer), "yk_producer_new");
    char *value = malloc(size);
    memset(value, 'x', size);
    for (long i = 0; i < count; i++) {
        yk_error err;
        while ((err = yk_producer_produce(producer, topic, -1, NULL, 0, (const uint8_t *)value, size, NULL, 0))
               == YK_ERROR_QUEUE_FULL)
            check(yk_producer_poll(producer, 100, NULL), "yk_producer_poll");
        check(err, "yk_producer_produce");
    }
    check(yk_producer_flush(producer, 60000), "yk_producer_flush");
    yk_producer_free(producer);
    yk_config_free(config);
    long long kept = kept_messages(cluster, topic);
    if (kept < count) {
        fprintf(stderr,
                "message_path_bench: %s keeps %lld of the %ld messages written (the mock keeps about 5 MB per "
                "partition): write fewer, or to more partitions\n",
                topic, kept, count);
        exit(1);
    }
    yk_cluster_config_free(cluster);
    free(value);
}

/* What a reader does with every field, so that no call is optimized away. */
static unsigned long long sink;

static void read_messages(const char *mode, const char *bootstrap, const char *topic, long count)
{
    char group[96];
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(group, sizeof group, "bench-path-%s-%ld-%ld", mode, (long)t.tv_sec, (long)t.tv_nsec);
    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = NULL;
    yk_consumer *consumer = NULL;
    check(yk_cluster_config_new("bench", "bench", bootstrap, "", &cluster), "cluster");
    check(yk_consumer_config_new(group, cluster, &config), "config");
    check(yk_consumer_config_set(config, "offset_storage", "kafka"), "offset_storage");
    check(yk_consumer_config_set(config, "auto_offset_reset", "earliest"), "auto_offset_reset");
    check(yk_consumer_config_set(config, "api_version_caps", "ListOffsets:3"), "api_version_caps");
    check(yk_consumer_new_simple(config, topic, NULL, 0, &consumer), "yk_consumer_new_simple");
    double started = now_s(), cpu_started = cpu_s(), thread_started = thread_cpu_s();
    check(yk_consumer_connect(consumer), "yk_consumer_connect");
    yk_message_batch *batch = NULL;
    check(yk_message_batch_new(512, &batch), "yk_message_batch_new");
    long seen = 0;
    while (seen < count) {
        if (strcmp(mode, "batch") == 0) {
            const yk_message_view *views = NULL;
            size_t n = 0;
            yk_error err = yk_consumer_next_batch(consumer, 1000, batch, &views, &n);
            if (err == YK_ERROR_CONSUMER_TIMEOUT)
                continue;
            check(err, "yk_consumer_next_batch");
            for (size_t i = 0; i < n; i++) {
                const yk_message_view *v = &views[i];
                sink += (unsigned long long)v->offset + (unsigned)v->partition + v->value_len + v->key_len
                        + (unsigned long long)v->timestamp + (unsigned char)v->topic[0];
                check(yk_task_done(v->message), "yk_task_done");
            }
            seen += (long)n;
            continue;
        }
        yk_message *message = NULL;
        yk_error err = yk_consumer_get_message(consumer, true, 1000, &message);
        if (err == YK_ERROR_CONSUMER_TIMEOUT)
            continue;
        check(err, "yk_consumer_get_message");
        if (strcmp(mode, "view") == 0) {
            yk_message_view v;
            check(yk_message_get_view(message, &v), "yk_message_get_view");
            sink += (unsigned long long)v.offset + (unsigned)v.partition + v.value_len + v.key_len
                    + (unsigned long long)v.timestamp + (unsigned char)v.topic[0];
            check(yk_task_done(message), "yk_task_done");
        } else {
            size_t key_len = 0, value_len = 0;
            yk_message_key(message, &key_len);
            yk_message_value(message, &value_len);
            sink += (unsigned long long)yk_message_offset(message) + (unsigned)yk_message_partition(message)
                    + value_len + key_len + (unsigned long long)yk_message_timestamp(message)
                    + (unsigned char)yk_message_topic(message)[0];
            check(yk_consumer_task_done(consumer, message), "yk_consumer_task_done");
        }
        yk_message_free(message);
        seen++;
    }
    double elapsed = now_s() - started;
    printf("msgs_per_s=%.0f cpu_s=%.3f thread_cpu_s=%.3f sink=%llu\n", (double)seen / elapsed, cpu_s() - cpu_started,
           thread_cpu_s() - thread_started, sink % 10);
    yk_message_batch_free(batch);
    check(yk_consumer_close(consumer), "yk_consumer_close");
    yk_consumer_free(consumer);
    yk_consumer_config_free(config);
    yk_cluster_config_free(cluster);
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "fill") == 0) {
        fill(argv[2], argv[3], atol(argv[4]), (size_t)atol(argv[5]));
        return 0;
    }
    if (argc == 5 && (strcmp(argv[1], "accessors") == 0 || strcmp(argv[1], "view") == 0
                      || strcmp(argv[1], "batch") == 0)) {
        read_messages(argv[1], argv[2], argv[3], atol(argv[4]));
        return 0;
    }
    fprintf(stderr, "usage: message_path_bench fill BOOTSTRAP TOPIC COUNT SIZE\n"
                    "       message_path_bench accessors|view|batch BOOTSTRAP TOPIC COUNT\n");
    return 2;
}
