/*
 * bench/producer_bench.c: one producer benchmark run, for yelp_kafka or
 * librdkafka, against the same broker (bench/parts/producer.sh runs both
 * and prints ratios).
 *
 *   producer_bench yk|rdkafka throughput BOOTSTRAP TOPIC COUNT SIZE LINGER_MS BATCH_BYTES [QUEUE_MAX]
 *   producer_bench yk|rdkafka mixed      BOOTSTRAP TOPIC COUNT CODEC IDEMPOTENT [QUEUE_MAX]
 *   producer_bench yk|rdkafka latency    BOOTSTRAP TOPIC COUNT
 *
 * throughput: COUNT messages of SIZE bytes, asynchronous, delivery reports
 * counted through each library's callback, until flush returns. Prints
 * `msgs_per_s=... thread_cpu_s=... cpu_s=... delivered=...`; cpu_s is
 * user+sys of this process (getrusage), so it includes every thread of the
 * library, thread_cpu_s that of the thread making the calls (before cpu_s,
 * so that lib.sh's field, which takes the last match, reads cpu_s).
 * QUEUE_MAX (default 100000, in throughput and mixed) is both libraries'
 * limit of messages held (yelp_kafka's queue_max_messages, librdkafka's
 * queue.buffering.max.messages); a produce that finds it reached polls for
 * 1 ms and tries again.
 * mixed: the same for COUNT keyed messages of mixed sizes (keys over
 * 100,000 distinct keys; values 70% 100-300 B, 25% 1-4 KiB, 5% 16 KiB of
 * log-like text, the same sequence for both libraries), compressed with
 * CODEC, linger 5 ms, acks 1, or acks all with IDEMPOTENT 1; both
 * libraries partition keys with murmur2.
 * latency: COUNT synchronous one-message sends (yelp_kafka:
 * yk_producer_send_messages; librdkafka: produce then flush); prints the
 * p50 and p99 in microseconds.
 * throughput and mixed also print `queued_peak=`, the most messages the
 * producer held at once (sampled every 1,024 messages). Every mode also
 * prints `rss_kb=`, the process's peak resident set, and
 * `library=`, the version of librdkafka that ran (or `yelp_kafka`).
 */
#define _POSIX_C_SOURCE 200809L

#include "bench.h"
#include "yelp_kafka.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>
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
/* The most messages the producer held at once (queued, in flight or with a
 * report not yet served), sampled every 1,024 messages: how far the
 * producing thread got ahead of the sender, which sets the peak RSS. */
static size_t queued_peak;

static void note_queued(size_t queued)
{
    if (queued > queued_peak)
        queued_peak = queued;
}

/* ---------------------------------------------------------------- messages */

/* The messages of a run, the same sequence for both libraries: a fixed
 * payload without key (`size` > 0), or keyed log-like values of mixed
 * sizes cut from a pool of log text (`size` 0). */
struct workload {
    char *text;
    size_t text_len;
    size_t size;
    uint64_t random;
    char key[16];
};

enum { DISTINCT_KEYS = 100000, LARGE_VALUE = 16384, LOG_POOL_BYTES = 8 << 20 };

static uint64_t next_random(struct workload *workload)
{
    uint64_t x = workload->random;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return workload->random = x;
}

static uint64_t random_below(struct workload *workload, uint64_t bound)
{
    return next_random(workload) % bound;
}

/* Log lines with request ids, paths, statuses and latencies: text that
 * compresses about as well as real service logs (4:1 with gzip). */
static void fill_log_pool(struct workload *workload)
{
    static const char *const levels[] = {"INFO", "INFO", "WARN", "DEBUG"};
    static const char *const services[] = {"checkout", "search", "reviews", "ads", "geo", "users"};
    static const char *const paths[] = {"/v1/biz", "/v2/search", "/v1/user/photos", "/v3/ads/bid", "/health"};
    static const int statuses[] = {200, 200, 200, 404, 500};
    workload->text = malloc(LOG_POOL_BYTES + 256);
    size_t length = 0;
    while (length < LOG_POOL_BYTES)
        length += (size_t)sprintf(
            workload->text + length,
            "2026-12-05T06:%02d:%02d.%03dZ %s %s request_id=%016llx path=%s status=%d latency_ms=%d user=%d\n",
            (int)random_below(workload, 60), (int)random_below(workload, 60), (int)random_below(workload, 1000),
            levels[random_below(workload, 4)], services[random_below(workload, 6)],
            (unsigned long long)next_random(workload), paths[random_below(workload, 5)],
            statuses[random_below(workload, 5)], (int)random_below(workload, 2000),
            (int)random_below(workload, 100000));
    workload->text_len = length;
}

static void workload_init(struct workload *workload, size_t size)
{
    workload->size = size;
    workload->random = 0x5eed1234abcd0001u;
    if (size > 0) {
        workload->text = malloc(size);
        for (size_t i = 0; i < size; i++)
            workload->text[i] = (char)('a' + i % 26);
        workload->text_len = size;
    } else {
        fill_log_pool(workload);
    }
}

/* The next message: its key (NULL without one) and value. */
static void next_message(struct workload *workload, const char **key, size_t *key_len, const char **value,
                         size_t *value_len)
{
    if (workload->size > 0) {
        *key = NULL;
        *key_len = 0;
        *value = workload->text;
        *value_len = workload->size;
        return;
    }
    *key_len = (size_t)snprintf(workload->key, sizeof workload->key, "key-%06d",
                                (int)random_below(workload, DISTINCT_KEYS));
    *key = workload->key;
    uint64_t pick = random_below(workload, 100);
    if (pick < 70)
        *value_len = 100 + random_below(workload, 201);
    else if (pick < 95)
        *value_len = 1024 + random_below(workload, 3 * 1024 + 1);
    else
        *value_len = LARGE_VALUE;
    *value = workload->text + random_below(workload, workload->text_len - LARGE_VALUE);
}

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

/* The settings both libraries run with; codec and idempotence only in mixed. */
struct settings {
    const char *linger_ms;
    const char *batch_bytes;
    const char *codec;
    int idempotent;
    const char *queue_max;
};

static yk_producer *yk_new(const char *bootstrap, const struct settings *settings)
{
    yk_cluster_config *cluster = NULL;
    yk_config *config = NULL;
    yk_producer *producer = NULL;
    yk_check(yk_cluster_config_new("bench", "bench", bootstrap, "", &cluster), "cluster");
    yk_check(yk_config_new(&config), "config");
    yk_check(yk_config_set(config, "linger_ms", settings->linger_ms), "linger_ms");
    yk_check(yk_config_set(config, "batch_size_bytes", settings->batch_bytes), "batch_size_bytes");
    yk_check(yk_config_set(config, "acks", settings->idempotent ? "all" : "1"), "acks");
    yk_check(yk_config_set(config, "enable_idempotence", settings->idempotent ? "true" : "false"),
             "enable_idempotence");
    yk_check(yk_config_set(config, "compression", settings->codec), "compression");
    yk_check(yk_config_set(config, "queue_max_messages", settings->queue_max), "queue_max_messages");
    yk_check(yk_producer_new(cluster, config, NULL, &producer), "yk_producer_new");
    yk_check(yk_producer_set_delivery_callback(producer, yk_on_delivery, NULL), "callback");
    yk_config_free(config);
    yk_cluster_config_free(cluster);
    return producer;
}

static void yk_throughput(yk_producer *producer, const char *topic, long count, struct workload *workload)
{
    for (long i = 0; i < count; i++) {
        const char *key, *value;
        size_t key_len, value_len;
        next_message(workload, &key, &key_len, &value, &value_len);
        for (;;) {
            yk_error err = yk_producer_produce(producer, topic, -1, (const uint8_t *)key, key_len,
                                               (const uint8_t *)value, value_len, NULL, 0);
            if (err == YK_ERROR_OK)
                break;
            if (err != YK_ERROR_QUEUE_FULL)
                yk_check(err, "yk_producer_produce");
            yk_producer_poll(producer, 1, NULL);
        }
        if ((i & 1023) == 0) {
            note_queued(yk_producer_queue_length(producer));
            yk_producer_poll(producer, 0, NULL);
        }
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

static rd_kafka_t *rd_new(const char *bootstrap, const struct settings *settings)
{
    char error[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *values[][2] = {{"bootstrap.servers", bootstrap},
                               {"linger.ms", settings->linger_ms},
                               {"batch.size", settings->batch_bytes},
                               {"acks", settings->idempotent ? "all" : "1"},
                               {"enable.idempotence", settings->idempotent ? "true" : "false"},
                               {"compression.codec", settings->codec},
                               {"partitioner", "murmur2_random"},
                               {"queue.buffering.max.messages", settings->queue_max}};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        if (rd_kafka_conf_set(conf, values[i][0], values[i][1], error, sizeof error) != RD_KAFKA_CONF_OK)
            die(values[i][0], error);
    rd_kafka_conf_set_dr_msg_cb(conf, rd_on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    if (rk == NULL)
        die("rd_kafka_new", error);
    return rk;
}

static void rd_throughput(rd_kafka_t *rk, const char *topic, long count, struct workload *workload)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    for (long i = 0; i < count; i++) {
        const char *key, *value;
        size_t key_len, value_len;
        next_message(workload, &key, &key_len, &value, &value_len);
        while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)value, value_len, key,
                                key_len, NULL)
               == -1) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die("rd_kafka_produce", rd_kafka_err2str(rd_kafka_last_error()));
            rd_kafka_poll(rk, 1);
        }
        if ((i & 1023) == 0) {
            note_queued((size_t)rd_kafka_outq_len(rk));
            rd_kafka_poll(rk, 0);
        }
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
        die("usage", "producer_bench yk|rdkafka throughput|mixed|latency BOOTSTRAP TOPIC COUNT [...]");
    int yk = strcmp(argv[1], "yk") == 0;
    const char *mode = argv[2], *bootstrap = argv[3], *topic = argv[4];
    long count = atol(argv[5]);
    const char *library = yk ? "yelp_kafka" : rd_kafka_version_str();

    if (strcmp(mode, "throughput") == 0 || strcmp(mode, "mixed") == 0) {
        int mixed = strcmp(mode, "mixed") == 0;
        if (argc < (mixed ? 8 : 9))
            die("usage", mixed ? "mixed needs CODEC IDEMPOTENT" : "throughput needs SIZE LINGER_MS BATCH_BYTES");
        struct settings settings = {"5", "1000000", "none", 0, "100000"};
        struct workload workload = {0};
        if (mixed) {
            settings.codec = argv[6];
            settings.idempotent = atoi(argv[7]);
            if (argc > 8)
                settings.queue_max = argv[8];
            workload_init(&workload, 0);
        } else {
            settings.linger_ms = argv[7];
            settings.batch_bytes = argv[8];
            if (argc > 9)
                settings.queue_max = argv[9];
            workload_init(&workload, (size_t)atol(argv[6]));
        }
        yk_producer *producer = yk ? yk_new(bootstrap, &settings) : NULL;
        rd_kafka_t *rk = yk ? NULL : rd_new(bootstrap, &settings);
        /* Warm up: metadata and connections, outside the measurement. */
        if (yk)
            yk_send_one(producer, topic);
        else {
            rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
            rd_send_one(rk, rkt);
            rd_kafka_topic_destroy(rkt);
        }
        delivered = failed = 0;
        double cpu0 = cpu_s(), thread0 = thread_cpu_s(), t0 = now_s();
        if (yk)
            yk_throughput(producer, topic, count, &workload);
        else
            rd_throughput(rk, topic, count, &workload);
        double elapsed = now_s() - t0, cpu = cpu_s() - cpu0, thread = thread_cpu_s() - thread0;
        if (yk) {
            yk_producer_close(producer, 10000, NULL);
            yk_producer_free(producer);
        } else
            rd_kafka_destroy(rk);
        printf("msgs_per_s=%.0f thread_cpu_s=%.3f cpu_s=%.3f delivered=%ld failed=%ld queued_peak=%zu rss_kb=%ld "
               "library=%s\n",
               (double)count / elapsed, thread, cpu, delivered, failed, queued_peak, peak_rss_kb(), library);
        free(workload.text);
        return delivered == count ? 0 : 1;
    }

    double *samples = malloc(sizeof(double) * (size_t)count);
    struct settings settings = {"0", "1000000", "none", 0, "100000"};
    yk_producer *producer = yk ? yk_new(bootstrap, &settings) : NULL;
    rd_kafka_t *rk = yk ? NULL : rd_new(bootstrap, &settings);
    rd_kafka_topic_t *rkt = yk ? NULL : rd_kafka_topic_new(rk, topic, NULL);
    for (long i = -10; i < count; i++) {
        double sample = yk ? yk_send_one(producer, topic) : rd_send_one(rk, rkt);
        if (i >= 0)
            samples[i] = sample;
    }
    qsort(samples, (size_t)count, sizeof(double), compare);
    if (yk) {
        yk_producer_close(producer, 10000, NULL);
        yk_producer_free(producer);
    } else {
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
    }
    printf("p50_us=%.1f p99_us=%.1f rss_kb=%ld library=%s\n", samples[count / 2] * 1e6,
           samples[(count * 99) / 100] * 1e6, peak_rss_kb(), library);
    free(samples);
    return 0;
}
