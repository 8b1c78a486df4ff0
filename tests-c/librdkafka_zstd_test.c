/*
 * tests-c/librdkafka_zstd_test.c: one program linking both libyelp_kafka.a
 * and librdkafka, each compressing with libzstd, against the local cluster
 * (scripts/cluster.sh; bootstrap list in $YK_KAFKA1).
 *
 * Checks: the process holds one libzstd (both libraries link the system's
 * libzstd.so.1, neither a copy of its own: docs/producer.md, Compression);
 * zstd batches our producer writes, at the default level and at
 * compression_level 19, are read back by librdkafka's consumer key for key
 * and value for value; zstd batches librdkafka writes are read back by our
 * simple consumer; a level outside zstd's range is YK_ERROR_CONFIGURATION
 * naming compression_level. Prints "N passed, M failed" last.
 */
#define _GNU_SOURCE

#include "check.h"

#include <librdkafka/rdkafka.h>

#include <link.h>
#include <stdlib.h>

enum { MESSAGES = 200, VALUE_CAPACITY = 4096 };

static const char *kafka1;
/* Topics are unique per run: the local cluster lives on. */
static char run_id[64];

/* A log line of a few hundred bytes to a few KiB, different per message. */
static size_t log_value(int i, char *out)
{
    size_t length = 0;
    int lines = 1 + i % 12;
    for (int line = 0; line < lines; line++)
        length += (size_t)snprintf(out + length, VALUE_CAPACITY - length,
                                   "2026-12-05T06:00:%02d INFO svc-%d request %d served in %d ms\n", line, i % 7, i,
                                   (i * 31 + line) % 997);
    return length;
}

static int count_libzstd(struct dl_phdr_info *info, size_t size, void *count)
{
    (void)size;
    if (strstr(info->dlpi_name, "libzstd") != NULL)
        ++*(int *)count;
    return 0;
}

static void test_one_libzstd(void)
{
    group_begin("one libzstd in the process");
    int copies = 0;
    dl_iterate_phdr(count_libzstd, &copies);
    CHECKF(copies == 1, "%d libzstd objects are loaded", copies);
    group_end();
}

/* A librdkafka producer compressing with `codec`, or (`codec` NULL) a
 * consumer: assigned partitions, in a group only because the API asks for
 * one, committing nothing. */
static rd_kafka_t *rdkafka_client(rd_kafka_type_t type, const char *codec)
{
    char error[512];
    char group[128];
    snprintf(group, sizeof group, "zstd-librdkafka-%s", run_id);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bool ok = rd_kafka_conf_set(conf, "bootstrap.servers", kafka1, error, sizeof error) == RD_KAFKA_CONF_OK;
    if (codec)
        ok = ok && rd_kafka_conf_set(conf, "compression.codec", codec, error, sizeof error) == RD_KAFKA_CONF_OK;
    else
        ok = ok && rd_kafka_conf_set(conf, "group.id", group, error, sizeof error) == RD_KAFKA_CONF_OK &&
             rd_kafka_conf_set(conf, "enable.auto.commit", "false", error, sizeof error) == RD_KAFKA_CONF_OK;
    if (!CHECKF(ok, "librdkafka configuration: %s", error)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, error, sizeof error);
    CHECKF(rk != NULL, "rd_kafka_new: %s", error);
    return rk;
}

/* Reads MESSAGES messages of topic partition 0 from `first_offset` with
 * librdkafka and checks each key and value. */
static void read_back_with_librdkafka(const char *topic, int64_t first_offset)
{
    rd_kafka_t *rk = rdkafka_client(RD_KAFKA_CONSUMER, NULL);
    if (!rk)
        return;
    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(assignment, topic, 0)->offset = first_offset;
    CHECK(rd_kafka_assign(rk, assignment) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(assignment);
    char expected[VALUE_CAPACITY];
    int read = 0;
    double deadline = now_seconds() + 30;
    while (read < MESSAGES && now_seconds() < deadline) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(rk, 200);
        if (!message)
            continue;
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            size_t length = log_value(read, expected);
            char key[32];
            int key_length = snprintf(key, sizeof key, "key-%d", read);
            CHECKF(message->offset == first_offset + read, "offset %lld, expected %lld", (long long)message->offset,
                   (long long)(first_offset + read));
            CHECKF(message->key_len == (size_t)key_length && memcmp(message->key, key, message->key_len) == 0,
                   "message %d: another key", read);
            CHECKF(message->len == length && memcmp(message->payload, expected, length) == 0,
                   "message %d: another value (%zu bytes, expected %zu)", read, message->len, length);
            read++;
        } else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            CHECKF(false, "librdkafka consumer: %s", rd_kafka_message_errstr(message));
            deadline = 0;
        }
        rd_kafka_message_destroy(message);
    }
    CHECKF(read == MESSAGES, "librdkafka read %d of %d messages", read, MESSAGES);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

/* A zstd producer at compression_level `level` in `*out`: yk_producer_new's code. */
static yk_error new_zstd_producer(const char *level, yk_producer **out)
{
    yk_cluster_config *cluster = NULL;
    yk_config *config = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka1, "", &cluster));
    EXPECT_OK(yk_config_new(&config));
    EXPECT_OK(yk_config_set(config, "compression", "zstd"));
    EXPECT_OK(yk_config_set(config, "compression_level", level));
    yk_error code = yk_producer_new(cluster, config, NULL, out);
    yk_config_free(config);
    yk_cluster_config_free(cluster);
    return code;
}

struct deliveries {
    int delivered;
    int failed;
    int64_t first_offset;
};

static void on_delivery(void *opaque, const yk_delivery_report *report)
{
    struct deliveries *deliveries = opaque;
    if (report->error != YK_ERROR_OK) {
        deliveries->failed++;
        return;
    }
    if (deliveries->delivered++ == 0 || report->offset < deliveries->first_offset)
        deliveries->first_offset = report->offset;
}

static void test_ours_to_librdkafka(const char *level)
{
    char name[128];
    snprintf(name, sizeof name, "ours to librdkafka, level %s", level);
    group_begin(name);
    char topic[128];
    snprintf(topic, sizeof topic, "zstd-from-yk-%s-%s", level, run_id);
    create_topic(topic, 1);
    yk_producer *producer = NULL;
    EXPECT_OK(new_zstd_producer(level, &producer));
    struct deliveries deliveries = {.first_offset = -1};
    EXPECT_OK(yk_producer_set_delivery_callback(producer, on_delivery, &deliveries));
    char value[VALUE_CAPACITY];
    /* Every message to partition 0, queued before the first is sent: few,
     * large batches. */
    for (int i = 0; i < MESSAGES; i++) {
        char key[32];
        int key_length = snprintf(key, sizeof key, "key-%d", i);
        size_t length = log_value(i, value);
        EXPECT_OK(yk_producer_produce(producer, topic, 0, (const uint8_t *)key, (size_t)key_length,
                                      (const uint8_t *)value, length, NULL, -1));
    }
    EXPECT_OK(yk_producer_flush(producer, 30000));
    CHECKF(deliveries.delivered == MESSAGES && deliveries.failed == 0, "%d of %d delivered, %d failed",
           deliveries.delivered, MESSAGES, deliveries.failed);
    EXPECT_OK(yk_producer_close(producer, 10000, NULL));
    yk_producer_free(producer);
    if (deliveries.first_offset >= 0)
        read_back_with_librdkafka(topic, deliveries.first_offset);
    group_end();
}

static void test_librdkafka_to_ours(void)
{
    group_begin("librdkafka to ours");
    char topic[128];
    snprintf(topic, sizeof topic, "zstd-from-rdkafka-%s", run_id);
    create_topic(topic, 1);
    rd_kafka_t *rk = rdkafka_client(RD_KAFKA_PRODUCER, "zstd");
    if (!rk) {
        group_end();
        return;
    }
    char value[VALUE_CAPACITY];
    for (int i = 0; i < MESSAGES; i++) {
        char key[32];
        int key_length = snprintf(key, sizeof key, "key-%d", i);
        size_t length = log_value(i, value);
        rd_kafka_resp_err_t err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                                    RD_KAFKA_V_KEY(key, (size_t)key_length),
                                                    RD_KAFKA_V_VALUE(value, length),
                                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        CHECKF(err == RD_KAFKA_RESP_ERR_NO_ERROR, "rd_kafka_producev: %s", rd_kafka_err2str(err));
    }
    CHECK(rd_kafka_flush(rk, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);

    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = NULL;
    yk_consumer *consumer = NULL;
    char group[128];
    snprintf(group, sizeof group, "zstd-%s", run_id);
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka1, "", &cluster));
    EXPECT_OK(yk_consumer_config_new(group, cluster, &config));
    yk_cluster_config_free(cluster);
    /* Debian's librdkafka 2.0.2 mock mis-encodes ListOffsets v4/v5. */
    EXPECT_OK(yk_consumer_config_set(config, "api_version_caps", "ListOffsets:3"));
    EXPECT_OK(yk_consumer_config_set(config, "offset_storage", "kafka"));
    EXPECT_OK(yk_consumer_config_set(config, "auto_offset_reset", "smallest"));
    EXPECT_OK(yk_consumer_config_set(config, "auto_commit_enable", "false"));
    int32_t partition = 0;
    EXPECT_OK(yk_consumer_new_simple(config, topic, &partition, 1, &consumer));
    yk_consumer_config_free(config);
    EXPECT_OK(yk_consumer_connect(consumer));
    int read = 0;
    yk_message *message = NULL;
    while (read < MESSAGES && yk_consumer_get_message(consumer, true, 10000, &message) == YK_ERROR_OK) {
        size_t key_length = 0, value_length = 0;
        const uint8_t *key = yk_message_key(message, &key_length);
        const uint8_t *got = yk_message_value(message, &value_length);
        char expected_key[32];
        int expected_key_length = snprintf(expected_key, sizeof expected_key, "key-%d", read);
        size_t length = log_value(read, value);
        CHECKF(key_length == (size_t)expected_key_length && memcmp(key, expected_key, key_length) == 0,
               "message %d: another key", read);
        CHECKF(value_length == length && memcmp(got, value, length) == 0, "message %d: another value", read);
        yk_message_free(message);
        read++;
    }
    CHECKF(read == MESSAGES, "we read %d of %d messages", read, MESSAGES);
    EXPECT_OK(yk_consumer_close(consumer));
    yk_consumer_free(consumer);
    group_end();
}

static void test_level_out_of_range(void)
{
    group_begin("compression_level out of range");
    yk_producer *producer = SENTINEL;
    EXPECT_CODE(new_zstd_producer("0", &producer), YK_ERROR_CONFIGURATION, "yk_producer_new", "compression_level",
                "1 to 22");
    CHECK(producer == SENTINEL);
    group_end();
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    start_watchdog("librdkafka_zstd_test");
    snprintf(run_id, sizeof run_id, "%ld-%ld", (long)getpid(), (long)time(NULL));
    group_begin("librdkafka and yelp_kafka: local cluster");
    kafka1 = getenv("YK_KAFKA1");
    bool ready = CHECKF(kafka1 && *kafka1, "YK_KAFKA1 must hold the bootstrap list of scripts/cluster.sh");
    group_end();
    if (ready) {
        test_one_libzstd();
        test_level_out_of_range();
        test_ours_to_librdkafka("-1");
        test_ours_to_librdkafka("19");
        test_librdkafka_to_ours();
    }
    return checks_summary();
}
