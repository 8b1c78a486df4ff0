/*
 * examples-c/producer.c: Python yelp_kafka's producer example in C.
 *
 * A service sends messages and, when the error is one that a retry can fix
 * (a leader moved, a broker is briefly unavailable), tries again — Python
 * yelp_kafka's `except (FailedPayloadsError, KafkaUnavailableError,
 * LeaderNotAvailableError, NotLeaderForPartitionError): retry` loop. Then it
 * sends keyed messages (same key, same partition) and finally produces
 * asynchronously, collecting delivery reports.
 *
 * Usage:
 *     producer [BOOTSTRAP [TOPIC]]
 * BOOTSTRAP defaults to $YK_KAFKA1 (the local cluster writes it:
 * `scripts/cluster.sh up && . target/cluster/env`), TOPIC to "mytopic".
 *
 * Build (from the repository root, after cargo build --release):
 *     gcc -std=c11 -Wall -Wextra -Werror -Iinclude examples-c/producer.c \
 *         -Ltarget/release -lyelp_kafka -Wl,-rpath,$PWD/target/release -o producer
 */
#include "yelp_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_error(const char *what, yk_error code)
{
    fprintf(stderr, "%s failed: %s: %s\n", what, yk_error_name((int32_t)code), yk_last_error_message());
}

/* Sends with Python yelp_kafka's retry loop: up to `attempts` tries while the error is retriable. */
static yk_error send_with_retries(yk_producer *producer, const char *topic, const yk_bytes *values, size_t count,
                                  int64_t *offsets, int attempts)
{
    yk_error err = YK_ERROR_OK;
    for (int attempt = 1; attempt <= attempts; attempt++) {
        err = yk_producer_send_messages(producer, topic, values, count, offsets);
        if (err == YK_ERROR_OK || !yk_error_is_retriable((int32_t)err))
            return err;
        fprintf(stderr, "attempt %d: %s (%s), retrying\n", attempt, yk_error_name((int32_t)err),
                yk_last_error_message());
    }
    return err;
}

struct delivery_counts {
    int delivered;
    int failed;
};

/* Runs on the thread that calls yk_producer_poll / flush / close. */
static void on_delivery(void *callback_opaque, const yk_delivery_report *report)
{
    struct delivery_counts *counts = callback_opaque;
    if (report->error == YK_ERROR_OK) {
        counts->delivered++;
    } else {
        counts->failed++;
        fprintf(stderr, "message %ld not delivered: %s\n", (long)(intptr_t)report->message_opaque,
                report->error_message);
    }
}

int main(int argc, char **argv)
{
    const char *bootstrap = argc > 1 ? argv[1] : getenv("YK_KAFKA1");
    const char *topic = argc > 2 ? argv[2] : "mytopic";
    if (bootstrap == NULL) {
        fprintf(stderr, "usage: %s BOOTSTRAP [TOPIC] (or set YK_KAFKA1)\n", argv[0]);
        return 2;
    }

    int status = 1;
    yk_cluster_config *cluster = NULL;
    yk_config *config = NULL;
    yk_producer *producer = NULL;
    yk_error err;

    if ((err = yk_cluster_config_new("standard", "cluster1", bootstrap, "", &cluster)) != YK_ERROR_OK) {
        print_error("yk_cluster_config_new", err);
        goto done;
    }
    if ((err = yk_config_new(&config)) != YK_ERROR_OK || (err = yk_config_set(config, "client_id", "my-client-id"))
        || (err = yk_config_set(config, "acks", "all"))) {
        print_error("configuration", err);
        goto done;
    }
    if ((err = yk_producer_new(cluster, config, NULL, &producer)) != YK_ERROR_OK) {
        print_error("yk_producer_new", err);
        goto done;
    }

    /* Python yelp_kafka: producer.send_messages("my_topic", "message1", "message2"). */
    yk_bytes messages[2] = {{(const uint8_t *)"message1", 8}, {(const uint8_t *)"message2", 8}};
    int64_t offsets[2];
    if ((err = send_with_retries(producer, topic, messages, 2, offsets, 3)) != YK_ERROR_OK) {
        print_error("yk_producer_send_messages", err);
        goto done;
    }
    printf("sent 2 messages to %s at offsets %lld and %lld\n", topic, (long long)offsets[0], (long long)offsets[1]);

    /* The keyed producer: every message with key "user-42" goes to one partition. */
    const char *key = "user-42";
    if ((err = yk_producer_send_keyed_messages(producer, topic, (const uint8_t *)key, strlen(key), messages, 2,
                                               offsets)) != YK_ERROR_OK) {
        print_error("yk_producer_send_keyed_messages", err);
        goto done;
    }
    printf("sent 2 keyed messages (key %s) at offsets %lld and %lld\n", key, (long long)offsets[0],
           (long long)offsets[1]);

    /* Asynchronous: produce returns at once; reports come through the callback. */
    struct delivery_counts counts = {0, 0};
    yk_producer_set_delivery_callback(producer, on_delivery, &counts);
    for (intptr_t i = 0; i < 1000; i++) {
        char value[32];
        int len = snprintf(value, sizeof value, "async-%ld", (long)i);
        if ((err = yk_producer_produce(producer, topic, -1, NULL, 0, (const uint8_t *)value, (size_t)len, (void *)i,
                                       -1)) != YK_ERROR_OK) {
            print_error("yk_producer_produce", err);
            goto done;
        }
    }
    if ((err = yk_producer_flush(producer, 10000)) != YK_ERROR_OK) {
        print_error("yk_producer_flush", err);
        goto done;
    }
    printf("produced 1000 messages asynchronously: %d delivered, %d failed\n", counts.delivered, counts.failed);
    status = counts.delivered == 1000 ? 0 : 1;

done:
    if (producer != NULL) {
        size_t undelivered = 0;
        if (yk_producer_close(producer, 5000, &undelivered) != YK_ERROR_OK)
            fprintf(stderr, "%zu messages were not delivered\n", undelivered);
    }
    yk_producer_free(producer);
    yk_config_free(config);
    yk_cluster_config_free(cluster);
    return status;
}
