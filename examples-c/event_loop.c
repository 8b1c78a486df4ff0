/*
 * examples-c/event_loop.c: a producer and a consumer in one poll(2) loop.
 *
 * What an event loop (epoll, libuv, Go's netpoller, Ruby's IO.select) does
 * with the library: it never blocks inside a library call. It waits on
 * the handles' ready descriptors instead — yk_producer_ready_fd is
 * readable while delivery reports wait, yk_consumer_ready_fd while fetched
 * messages wait — and then takes what is there without waiting:
 * yk_producer_poll(0) serves every queued report, and
 * yk_consumer_next_batch(0) hands out a batch of message views until it
 * says YK_ERROR_CONSUMER_TIMEOUT, which also drains the descriptor. Each
 * message is marked done with yk_task_done(view->message), which needs no
 * consumer handle.
 *
 * The program connects a plain consumer of TOPIC (a new group each run,
 * starting at the end), queues COUNT messages with the asynchronous
 * producer, and runs the loop until every delivery report came and every
 * message was read back; then it prints
 *
 *     delivered 100, consumed 100 (in 7 batches)
 *
 * and exits 0, or 1 after ten seconds without progress.
 *
 * Usage:
 *     event_loop [BOOTSTRAP [TOPIC [COUNT]]]
 * Without BOOTSTRAP it comes from YK_KAFKA1 (scripts/cluster.sh up &&
 * . target/cluster/env). TOPIC defaults to "mytopic", COUNT to 100.
 *
 * Build (from the repository root, after cargo build --release):
 *     gcc -std=c11 -Wall -Wextra -Werror -Iinclude examples-c/event_loop.c \
 *         -Ltarget/release -lyelp_kafka -Wl,-rpath,$PWD/target/release -o event_loop
 */
#define _POSIX_C_SOURCE 200809L

#include "yelp_kafka.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
    fprintf(stderr, "event_loop: %s: %s\n", what, yk_last_error_message());
    return 1;
}

static void on_delivery(void *opaque, const yk_delivery_report *report)
{
    if (report->error == YK_ERROR_OK)
        ++*(int *)opaque;
    else
        fprintf(stderr, "event_loop: delivery failed: %s\n", report->error_message);
}

int main(int argc, char **argv)
{
    const char *bootstrap = argc > 1 ? argv[1] : getenv("YK_KAFKA1");
    const char *topic = argc > 2 ? argv[2] : "mytopic";
    int count = argc > 3 ? atoi(argv[3]) : 100;
    if (bootstrap == NULL || count <= 0) {
        fprintf(stderr, "usage: event_loop [BOOTSTRAP [TOPIC [COUNT]]] (or set YK_KAFKA1)\n");
        return 2;
    }
    char group[64];
    snprintf(group, sizeof group, "event-loop-%ld-%ld", (long)getpid(), (long)time(NULL));

    int status = 1;
    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = NULL;
    yk_consumer *consumer = NULL;
    yk_producer *producer = NULL;
    yk_message_batch *batch = NULL;
    if (yk_cluster_config_new("standard", "local", bootstrap, "", &cluster) != YK_ERROR_OK) {
        status = fail("cluster");
        goto done;
    }
    if (yk_consumer_config_new(group, cluster, &config) != YK_ERROR_OK
        || yk_consumer_config_set(config, "offset_storage", "kafka") != YK_ERROR_OK
        /* The local mock cluster speaks ListOffsets up to v3 correctly. */
        || yk_consumer_config_set(config, "api_version_caps", "ListOffsets:3") != YK_ERROR_OK
        || yk_consumer_new(config, &topic, 1, &consumer) != YK_ERROR_OK
        || yk_consumer_connect(consumer) != YK_ERROR_OK) {
        status = fail("consumer");
        goto done;
    }
    int delivered = 0;
    if (yk_producer_new(cluster, NULL, NULL, &producer) != YK_ERROR_OK
        || yk_producer_set_delivery_callback(producer, on_delivery, &delivered) != YK_ERROR_OK) {
        status = fail("producer");
        goto done;
    }
    for (int i = 0; i < count; i++) {
        char value[32];
        int len = snprintf(value, sizeof value, "event-loop-%d", i);
        if (yk_producer_produce(producer, topic, -1, NULL, 0, (const uint8_t *)value, (size_t)len, NULL, -1)
            != YK_ERROR_OK) {
            status = fail("produce");
            goto done;
        }
    }
    if (yk_message_batch_new(32, &batch) != YK_ERROR_OK) {
        status = fail("batch");
        goto done;
    }

    struct pollfd fds[2] = {{yk_producer_ready_fd(producer), POLLIN, 0}, {yk_consumer_ready_fd(consumer), POLLIN, 0}};
    int consumed = 0, batches = 0, idle_ms = 0;
    while ((delivered < count || consumed < count) && idle_ms < 10000) {
        int ready = poll(fds, 2, 100);
        if (ready <= 0) {
            idle_ms += 100;
            continue;
        }
        idle_ms = 0;
        if (fds[0].revents & POLLIN) {
            if (yk_producer_poll(producer, 0, NULL) != YK_ERROR_OK) {
                status = fail("poll");
                goto done;
            }
        }
        if (fds[1].revents & POLLIN) {
            const yk_message_view *views = NULL;
            size_t taken = 0;
            yk_error code;
            while ((code = yk_consumer_next_batch(consumer, 0, batch, &views, &taken)) == YK_ERROR_OK) {
                batches++;
                for (size_t i = 0; i < taken; i++) {
                    /* "Processing": only this run's messages count. */
                    if (views[i].value_len > 11 && memcmp(views[i].value, "event-loop-", 11) == 0)
                        consumed++;
                    if (yk_task_done(views[i].message) != YK_ERROR_OK) {
                        status = fail("task_done");
                        goto done;
                    }
                }
            }
            if (code != YK_ERROR_CONSUMER_TIMEOUT) {
                status = fail("next_batch");
                goto done;
            }
        }
    }
    printf("delivered %d, consumed %d (in %d batches)\n", delivered, consumed, batches);
    status = delivered == count && consumed == count ? 0 : 1;
    if (yk_consumer_close(consumer) != YK_ERROR_OK)
        status = fail("close");

done:
    yk_message_batch_free(batch);
    yk_producer_free(producer);
    yk_consumer_free(consumer);
    yk_consumer_config_free(config);
    yk_cluster_config_free(cluster);
    return status;
}
