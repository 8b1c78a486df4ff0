/*
 * bench/consumer_bench.c: one consumer benchmark run, for yelp_kafka or
 * librdkafka, reading the same data from the same broker
 * (bench/parts/consumer.sh fills the topic, runs both and prints ratios).
 *
 *   consumer_bench fill    BOOTSTRAP TOPIC PARTITIONS COUNT SIZE CODEC
 *   consumer_bench yk      BOOTSTRAP TOPIC COUNT
 *   consumer_bench rdkafka BOOTSTRAP TOPIC COUNT [tuned]
 *   consumer_bench yk      group BOOTSTRAP ZOOKEEPER TOPIC COUNT [kafka]
 *   consumer_bench rdkafka group BOOTSTRAP ZOOKEEPER TOPIC COUNT [tuned]
 *
 * fill: writes COUNT messages of SIZE bytes round-robin over PARTITIONS
 * partitions with librdkafka, batched and compressed with CODEC.
 * yk / rdkafka: reads every partition of TOPIC from the start until COUNT
 * messages came, each one looked at (value length summed) and, for
 * yelp_kafka, marked done (task_done) as its consumers do; both with their
 * default auto-commit on, as a new group. `tuned` lifts librdkafka's
 * pre-fetch limits (queued.min.messages, queued.max.messages.kbytes): with
 * its defaults a fast application waits out a fetch backoff each time
 * 100000 messages are queued. Prints `msgs_per_s=... cpu_s=...
 * bytes=...`: the rate counts from the consumer's creation to the last
 * message; cpu_s is user+sys of this process (getrusage), every thread of
 * the library included; rss_kb its peak resident set; library the version
 * of librdkafka that ran (or yelp_kafka).
 *
 * group: the same reading as the only member of a new consumer group:
 * yelp_kafka's `yk_consumer_group` (ZooKeeper balancing at ZOOKEEPER, the
 * default; with `kafka`, Kafka's group protocol instead, the ZooKeeper
 * unused) against librdkafka's subscribing consumer (`rd_kafka_subscribe`,
 * ZOOKEEPER unused). Both start from the earliest offset and auto-commit
 * to Kafka. The rate counts from the first message received to the last
 * (joining and the first assignment are left out); cpu_s is the process's
 * CPU over that same span, cpu_total_s from the start, join_s the time
 * from the start to the first message.
 */
#define _POSIX_C_SOURCE 200809L

#include "bench.h"
#include "yelp_kafka.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "consumer_bench: %s: %s\n", what, detail);
    exit(1);
}

static const char *library = "yelp_kafka";

/* What a run has read so far, and when it started and had its first message. */
struct reading {
    double started, cpu_started;
    long received;
    long long bytes;
    double first_message, cpu_at_first;
};

static struct reading start_reading(void)
{
    return (struct reading){.started = now_s(), .cpu_started = cpu_s()};
}

static void count_message(struct reading *reading, size_t len)
{
    if (reading->received == 0) {
        reading->first_message = now_s();
        reading->cpu_at_first = cpu_s();
    }
    reading->received++;
    reading->bytes += (long long)len;
}

static void report(const struct reading *r)
{
    double elapsed = now_s() - r->started;
    printf("msgs_per_s=%.0f cpu_s=%.3f bytes=%lld elapsed_s=%.3f first_message_s=%.3f rss_kb=%ld library=%s\n",
           (double)r->received / elapsed, cpu_s() - r->cpu_started, r->bytes, elapsed, r->first_message - r->started,
           peak_rss_kb(), library);
}

/* A unique group per run, so that every run starts from the beginning. */
static void group_name(char *group, size_t size, const char *lib)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(group, size, "bench-%s-%ld-%ld", lib, (long)t.tv_sec, (long)t.tv_nsec);
}

/* ---------------------------------------------------------------- librdkafka */

static rd_kafka_conf_t *rd_conf(const char *bootstrap)
{
    char error[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, error, sizeof error) != RD_KAFKA_CONF_OK)
        die("bootstrap.servers", error);
    return conf;
}

static void rd_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
    char error[512];
    if (rd_kafka_conf_set(conf, key, value, error, sizeof error) != RD_KAFKA_CONF_OK)
        die(key, error);
}

static void fill(const char *bootstrap, const char *topic, int partitions, long count, size_t size, const char *codec)
{
    rd_kafka_conf_t *conf = rd_conf(bootstrap);
    rd_set(conf, "compression.codec", codec);
    rd_set(conf, "linger.ms", "20");
    rd_set(conf, "batch.size", "1000000");
    rd_set(conf, "queue.buffering.max.messages", "1000000");
    char error[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (!rk)
        die("rd_kafka_new", error);
    char *value = malloc(size);
    for (size_t i = 0; i < size; i++)
        value[i] = (char)('a' + i % 26);
    for (long i = 0; i < count; i++) {
        for (;;) {
            rd_kafka_resp_err_t err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)(i % partitions)),
                RD_KAFKA_V_VALUE(value, size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("produce", rd_kafka_err2str(err));
            rd_kafka_poll(rk, 10);
        }
    }
    if (rd_kafka_flush(rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR || rd_kafka_outq_len(rk) != 0)
        die("flush", "messages left undelivered");
    free(value);
    rd_kafka_destroy(rk);
    printf("filled=%ld\n", count);
}

/* A librdkafka consumer of a new group named after `lib`, from the earliest offset. */
static rd_kafka_t *rdkafka_consumer(const char *bootstrap, const char *lib, int tuned)
{
    char group[128];
    group_name(group, sizeof group, lib);
    rd_kafka_conf_t *conf = rd_conf(bootstrap);
    rd_set(conf, "group.id", group);
    rd_set(conf, "auto.offset.reset", "earliest");
    if (tuned) {
        rd_set(conf, "queued.min.messages", "10000000");
        rd_set(conf, "queued.max.messages.kbytes", "2097151");
    }
    char error[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof error);
    if (!rk)
        die("rd_kafka_new", error);
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Polls until `count` messages came, dying on a consumer error. */
static void rdkafka_read(rd_kafka_t *rk, long count, struct reading *reading)
{
    while (reading->received < count) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(rk, 1000);
        if (!message)
            continue;
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            count_message(reading, message->len);
        else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            die("consume", rd_kafka_message_errstr(message));
        rd_kafka_message_destroy(message);
    }
}

/* Closes after the report: the close is not part of the run. */
static void rdkafka_close(rd_kafka_t *rk)
{
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static void rdkafka_consume(const char *bootstrap, const char *topic, long count, int tuned)
{
    struct reading reading = start_reading();
    rd_kafka_t *rk = rdkafka_consumer(bootstrap, "rdkafka", tuned);
    /* Every partition, assigned directly (as yelp_kafka's consumer): no group join. */
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_topic_t *handle = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, handle, &metadata, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        metadata->topic_cnt != 1)
        die("metadata", topic);
    rd_kafka_topic_partition_list_t *partitions = rd_kafka_topic_partition_list_new(metadata->topics[0].partition_cnt);
    for (int p = 0; p < metadata->topics[0].partition_cnt; p++)
        rd_kafka_topic_partition_list_add(partitions, topic, metadata->topics[0].partitions[p].id)->offset =
            RD_KAFKA_OFFSET_STORED;
    rd_kafka_metadata_destroy(metadata);
    rd_kafka_topic_destroy(handle);
    if (rd_kafka_assign(rk, partitions) != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("assign", topic);
    rd_kafka_topic_partition_list_destroy(partitions);
    rdkafka_read(rk, count, &reading);
    report(&reading);
    rdkafka_close(rk);
}

/* ---------------------------------------------------------------- yelp_kafka */

static void yk_check(yk_error err, const char *what)
{
    if (err != YK_ERROR_OK)
        die(what, yk_last_error_message());
}

/* A consumer configuration of a new group named after `lib`, from the
 * smallest offset, committing to Kafka; `*cluster` is made for it. */
static yk_consumer_config *new_yk_config(const char *bootstrap, const char *zookeeper, const char *lib,
                                     yk_cluster_config **cluster)
{
    char group[128];
    group_name(group, sizeof group, lib);
    yk_consumer_config *config = NULL;
    yk_check(yk_cluster_config_new("bench", "bench", bootstrap, zookeeper, cluster), "cluster");
    yk_check(yk_consumer_config_new(group, *cluster, &config), "config");
    yk_check(yk_consumer_config_set(config, "offset_storage", "kafka"), "offset_storage");
    yk_check(yk_consumer_config_set(config, "auto_offset_reset", "smallest"), "auto_offset_reset");
    /* Debian's librdkafka 2.0.2 mock mis-encodes ListOffsets v4/v5. */
    yk_check(yk_consumer_config_set(config, "api_version_caps", "ListOffsets:3"), "api_version_caps");
    return config;
}

static void yk_consume(const char *bootstrap, const char *topic, long count)
{
    struct reading reading = start_reading();
    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = new_yk_config(bootstrap, "", "yk", &cluster);
    yk_consumer *consumer = NULL;
    yk_check(yk_consumer_new_simple(config, topic, NULL, 0, &consumer), "yk_consumer_new_simple");
    yk_check(yk_consumer_connect(consumer), "yk_consumer_connect");

    while (reading.received < count) {
        yk_message *message = NULL;
        yk_error err = yk_consumer_get_message(consumer, true, 1000, &message);
        if (err == YK_ERROR_CONSUMER_TIMEOUT)
            continue;
        yk_check(err, "yk_consumer_get_message");
        size_t len = 0;
        yk_message_value(message, &len);
        count_message(&reading, len);
        yk_check(yk_consumer_task_done(consumer, message), "yk_consumer_task_done");
        yk_message_free(message);
    }
    report(&reading);
    yk_check(yk_consumer_close(consumer), "yk_consumer_close");
    yk_consumer_free(consumer);
    yk_consumer_config_free(config);
    yk_cluster_config_free(cluster);
}

/* ---------------------------------------------------------------- groups */

static void report_group(const struct reading *r)
{
    double span = now_s() - r->first_message, cpu = cpu_s();
    /* The span starts with the first message: the others came in it. */
    printf("msgs_per_s=%.0f cpu_s=%.3f cpu_total_s=%.3f bytes=%lld elapsed_s=%.3f join_s=%.3f rss_kb=%ld "
           "library=%s\n",
           (double)(r->received - 1) / span, cpu - r->cpu_at_first, cpu - r->cpu_started, r->bytes, span,
           r->first_message - r->started, peak_rss_kb(), library);
}

static void rdkafka_group(const char *bootstrap, const char *topic, long count, int tuned)
{
    struct reading reading = start_reading();
    rd_kafka_t *rk = rdkafka_consumer(bootstrap, "rdkafka-group", tuned);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    if (rd_kafka_subscribe(rk, topics) != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("subscribe", topic);
    rd_kafka_topic_partition_list_destroy(topics);
    rdkafka_read(rk, count, &reading);
    report_group(&reading);
    rdkafka_close(rk);
}

static void yk_group(const char *bootstrap, const char *zookeeper, const char *topic, long count,
                     const char *protocol)
{
    struct reading reading = start_reading();
    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = new_yk_config(bootstrap, zookeeper, "yk-group", &cluster);
    yk_consumer_group *group = NULL;
    /* The only member: nothing to wait for (the default cooldown is 30 s). */
    yk_check(yk_consumer_config_set(config, "partitioner_cooldown", "0.2"), "partitioner_cooldown");
    yk_check(yk_consumer_config_set(config, "consumer_timeout_ms", "1000"), "consumer_timeout_ms");
    if (protocol)
        yk_check(yk_consumer_config_set(config, "group_protocol", protocol), "group_protocol");
    const char *topics[] = {topic};
    yk_check(yk_consumer_group_new(topics, 1, config, NULL, &group), "yk_consumer_group_new");
    yk_check(yk_consumer_group_start(group, 60000), "yk_consumer_group_start");

    while (reading.received < count) {
        yk_message *message = NULL;
        yk_error err = yk_consumer_group_next(group, &message);
        if (err == YK_ERROR_CONSUMER_TIMEOUT)
            continue;
        yk_check(err, "yk_consumer_group_next");
        size_t len = 0;
        yk_message_value(message, &len);
        count_message(&reading, len);
        yk_check(yk_consumer_group_task_done(group, message), "yk_consumer_group_task_done");
        yk_message_free(message);
    }
    report_group(&reading);
    yk_check(yk_consumer_group_stop(group, 10000), "yk_consumer_group_stop");
    yk_consumer_group_free(group);
    yk_consumer_config_free(config);
    yk_cluster_config_free(cluster);
}

int main(int argc, char **argv)
{
    if ((argc == 7 || argc == 8) && strcmp(argv[2], "group") == 0) {
        const char *variant = argc == 8 ? argv[7] : NULL;
        if (strcmp(argv[1], "yk") == 0 && (!variant || strcmp(variant, "kafka") == 0)) {
            yk_group(argv[3], argv[4], argv[5], atol(argv[6]), variant);
            return 0;
        }
        if (strcmp(argv[1], "rdkafka") == 0 && (!variant || strcmp(variant, "tuned") == 0)) {
            library = rd_kafka_version_str();
            rdkafka_group(argv[3], argv[5], atol(argv[6]), variant != NULL);
            return 0;
        }
    }
    if (argc == 8 && strcmp(argv[1], "fill") == 0) {
        fill(argv[2], argv[3], atoi(argv[4]), atol(argv[5]), (size_t)atol(argv[6]), argv[7]);
    } else if (argc == 5 && strcmp(argv[1], "yk") == 0) {
        yk_consume(argv[2], argv[3], atol(argv[4]));
    } else if ((argc == 5 || (argc == 6 && strcmp(argv[5], "tuned") == 0)) && strcmp(argv[1], "rdkafka") == 0) {
        library = rd_kafka_version_str();
        rdkafka_consume(argv[2], argv[3], atol(argv[4]), argc == 6);
    } else {
        fprintf(stderr,
                "usage: consumer_bench fill BOOTSTRAP TOPIC PARTITIONS COUNT SIZE CODEC\n"
                "       consumer_bench yk BOOTSTRAP TOPIC COUNT\n"
                "       consumer_bench rdkafka BOOTSTRAP TOPIC COUNT [tuned]\n"
                "       consumer_bench yk group BOOTSTRAP ZOOKEEPER TOPIC COUNT [kafka]\n"
                "       consumer_bench rdkafka group BOOTSTRAP ZOOKEEPER TOPIC COUNT [tuned]\n");
        return 2;
    }
    return 0;
}
