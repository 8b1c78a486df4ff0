/*
 * bench/producer_bench.c: one producer benchmark run, for yelp_kafka or
 * librdkafka, against the same broker (bench/parts/producer.sh runs both
 * and prints ratios).
 *
 *   producer_bench yk|rdkafka throughput BOOTSTRAP TOPIC COUNT SIZE LINGER_MS BATCH_BYTES
 *   producer_bench yk|rdkafka latency    BOOTSTRAP TOPIC COUNT
 *
 * throughput: COUNT messages of SIZE bytes, asynchronous, delivery reports
 * counted through each library's callback, until flush returns. Prints
 * `msgs_per_s=... cpu_s=... delivered=...`; cpu_s is user+sys of this
 * process (getrusage), so it includes every thread of the library.
 * latency: COUNT synchronous one-message sends (yelp_kafka:
 * yk_producer_send_messages; librdkafka: produce then flush); prints the
 * p50 and p99 in microseconds.
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
    fprintf(stderr, "producer_bench: %s: %s\n", what, detail);
    exit(1);
}

static long delivered, failed;

/* ---------------------------------------------------------------- yelp_kafka */

static void yk_check(yk_error err, const char *what)
{
    if (err != YK_ERROR_OK)
        die(what, yk_last_error_message());
}

static void yk_on_delivery(void *opaque, const yk_delivery_report *report)
{
    (void)opaque;
    if (report->error == YK_ERROR_OK)
        delivered++;
    else
        failed++;
}

static yk_producer *yk_new(const char *bootstrap, const char *linger, const char *batch)
{
    yk_cluster_config *cluster = NULL;
    yk_config *config = NULL;
    yk_producer *producer = NULL;
    yk_check(yk_cluster_config_new("bench", "bench", bootstrap, "", &cluster), "cluster");
    yk_check(yk_config_new(&config), "config");
    yk_check(yk_config_set(config, "linger_ms", linger), "linger_ms");
    yk_check(yk_config_set(config, "batch_size_bytes", batch), "batch_size_bytes");
    yk_check(yk_config_set(config, "acks", "1"), "acks");
    yk_check(yk_config_set(config, "queue_max_messages", "100000"), "queue_max_messages");
    yk_check(yk_producer_new(cluster, config, NULL, &producer), "yk_producer_new");
    yk_check(yk_producer_set_delivery_callback(producer, yk_on_delivery, NULL), "callback");
    yk_config_free(config);
    yk_cluster_config_free(cluster);
    return producer;
}

static void yk_throughput(yk_producer *producer, const char *topic, long count, const char *payload, size_t size)
{
    for (long i = 0; i < count; i++) {
        for (;;) {
            yk_error err = yk_producer_produce(producer, topic, -1, NULL, 0, (const uint8_t *)payload, size, NULL, 0);
            if (err == YK_ERROR_OK)
                break;
            if (err != YK_ERROR_QUEUE_FULL)
                yk_check(err, "yk_producer_produce");
            yk_producer_poll(producer, 1, NULL);
        }
        if ((i & 1023) == 0)
            yk_producer_poll(producer, 0, NULL);
    }
    yk_check(yk_producer_flush(producer, 120000), "yk_producer_flush");
}

static double yk_send_one(yk_producer *producer, const char *topic)
{
    yk_bytes value = {(const uint8_t *)"latency-probe", 13};
    double start = now_s();
    yk_check(yk_producer_send_messages(producer, topic, &value, 1, NULL), "yk_producer_send_messages");
    return now_s() - start;
}

/* ---------------------------------------------------------------- librdkafka */

static void rd_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        delivered++;
    else
        failed++;
}

static rd_kafka_t *rd_new(const char *bootstrap, const char *linger, const char *batch)
{
    char error[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *settings[][2] = {{"bootstrap.servers", bootstrap}, {"linger.ms", linger}, {"batch.size", batch},
                                 {"acks", "1"}, {"queue.buffering.max.messages", "100000"}};
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], error, sizeof error) != RD_KAFKA_CONF_OK)
            die(settings[i][0], error);
    rd_kafka_conf_set_dr_msg_cb(conf, rd_on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (rk == NULL)
        die("rd_kafka_new", error);
    return rk;
}

static void rd_throughput(rd_kafka_t *rk, const char *topic, long count, const char *payload, size_t size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    for (long i = 0; i < count; i++) {
        while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)payload, size, NULL, 0, NULL)
               == -1) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("rd_kafka_produce", rd_kafka_err2str(rd_kafka_last_error()));
            rd_kafka_poll(rk, 1);
        }
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("rd_kafka_flush", "timed out");
    rd_kafka_topic_destroy(rkt);
}

static double rd_send_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt)
{
    double start = now_s();
    if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, "latency-probe", 13, NULL, 0, NULL) == -1)
        die("rd_kafka_produce", rd_kafka_err2str(rd_kafka_last_error()));
    if (rd_kafka_flush(rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("rd_kafka_flush", "timed out");
    return now_s() - start;
}

/* ---------------------------------------------------------------- main */

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 6)
        die("usage", "producer_bench yk|rdkafka throughput|latency BOOTSTRAP TOPIC COUNT [SIZE LINGER_MS BATCH_BYTES]");
    int yk = strcmp(argv[1], "yk") == 0;
    int throughput = strcmp(argv[2], "throughput") == 0;
    const char *bootstrap = argv[3], *topic = argv[4];
    long count = atol(argv[5]);

    if (throughput) {
        if (argc < 9)
            die("usage", "throughput needs SIZE LINGER_MS BATCH_BYTES");
        size_t size = (size_t)atol(argv[6]);
        char *payload = malloc(size);
        for (size_t i = 0; i < size; i++)
            payload[i] = (char)('a' + i % 26);
        yk_producer *producer = yk ? yk_new(bootstrap, argv[7], argv[8]) : NULL;
        rd_kafka_t *rk = yk ? NULL : rd_new(bootstrap, argv[7], argv[8]);
        /* Warm up: metadata and connections, outside the measurement. */
        if (yk)
            yk_send_one(producer, topic);
        else {
            rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
            rd_send_one(rk, rkt);
            rd_kafka_topic_destroy(rkt);
        }
        delivered = failed = 0;
        double cpu0 = cpu_s(), t0 = now_s();
        if (yk)
            yk_throughput(producer, topic, count, payload, size);
        else
            rd_throughput(rk, topic, count, payload, size);
        double elapsed = now_s() - t0, cpu = cpu_s() - cpu0;
        printf("msgs_per_s=%.0f cpu_s=%.3f delivered=%ld failed=%ld\n", (double)count / elapsed, cpu, delivered,
               failed);
        if (yk) {
            yk_producer_close(producer, 10000, NULL);
            yk_producer_free(producer);
        } else
            rd_kafka_destroy(rk);
        free(payload);
        return delivered == count ? 0 : 1;
    }

    double *samples = malloc(sizeof(double) * (size_t)count);
    yk_producer *producer = yk ? yk_new(bootstrap, "0", "1000000") : NULL;
    rd_kafka_t *rk = yk ? NULL : rd_new(bootstrap, "0", "1000000");
    rd_kafka_topic_t *rkt = yk ? NULL : rd_kafka_topic_new(rk, topic, NULL);
    for (long i = -10; i < count; i++) {
        double sample = yk ? yk_send_one(producer, topic) : rd_send_one(rk, rkt);
        if (i >= 0)
            samples[i] = sample;
    }
    qsort(samples, (size_t)count, sizeof(double), compare);
    printf("p50_us=%.1f p99_us=%.1f\n", samples[count / 2] * 1e6, samples[(count * 99) / 100] * 1e6);
    if (yk) {
        yk_producer_close(producer, 10000, NULL);
        yk_producer_free(producer);
    } else {
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
    }
    free(samples);
    return 0;
}
