/*
 * examples-c/callback_group.c: Python yelp_kafka's callback-style ConsumerGroup.
 *
 *     ConsumerGroup(topic, config, process_message).run()
 *
 * Instances of this program split TOPIC's partitions through ZooKeeper;
 * run() calls process_message for every message on this thread and marks
 * it done. A callback that fails stops the group with ProcessMessageError
 * and its text; SIGINT or SIGTERM stops it gracefully.
 *
 * Usage:
 *     callback_group [BOOTSTRAP ZOOKEEPER [TOPIC [GROUP [MAX_MESSAGES]]]]
 * BOOTSTRAP and ZOOKEEPER default to $YK_KAFKA1 and $YK_ZOOKEEPER
 * (scripts/cluster.sh up && . target/cluster/env), TOPIC to "mytopic",
 * GROUP to "callback-example". With MAX_MESSAGES the callback stops the
 * group after that many messages.
 *
 * Build (from the repository root, after cargo build --release):
 *     gcc -std=c11 -Wall -Wextra -Werror -Iinclude examples-c/callback_group.c \
 *         -Ltarget/release -lyelp_kafka -Wl,-rpath,$PWD/target/release -o callback_group
 */
#define _POSIX_C_SOURCE 200809L

#include "yelp_kafka.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static yk_callback_group *group;

struct progress {
    long processed;
    long max_messages;
};

/* Runs on the thread inside yk_callback_group_run. Return 0 when done with the message. */
static int32_t process_message(void *opaque, const yk_message *message, char *error, size_t error_size)
{
    struct progress *progress = opaque;
    size_t length = 0;
    const uint8_t *value = yk_message_value(message, &length);
    if (value == NULL) {
        snprintf(error, error_size, "message at offset %lld has no value", (long long)yk_message_offset(message));
        return 1;
    }
    printf("MSG %s %d %lld %.*s\n", yk_message_topic(message), yk_message_partition(message),
           (long long)yk_message_offset(message), (int)length, (const char *)value);
    if (++progress->processed == progress->max_messages)
        yk_callback_group_stop(group, 0); /* from the callback: returns at once, run() ends after this message */
    return 0;
}

static void on_signal(int signal)
{
    (void)signal;
    yk_callback_group_stop(group, 0);
}

int main(int argc, char **argv)
{
    const char *bootstrap = argc > 2 ? argv[1] : getenv("YK_KAFKA1");
    const char *zookeeper = argc > 2 ? argv[2] : getenv("YK_ZOOKEEPER");
    const char *topic = argc > 3 ? argv[3] : "mytopic";
    const char *group_id = argc > 4 ? argv[4] : "callback-example";
    struct progress progress = {0, argc > 5 ? atol(argv[5]) : -1};
    if (bootstrap == NULL || zookeeper == NULL) {
        fprintf(stderr, "usage: %s BOOTSTRAP ZOOKEEPER [TOPIC [GROUP [MAX_MESSAGES]]]\n", argv[0]);
        return 2;
    }

    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = NULL;
    yk_error err = yk_cluster_config_new("standard", "cluster1", bootstrap, zookeeper, &cluster);
    if (err == YK_ERROR_OK)
        err = yk_consumer_config_new(group_id, cluster, &config);
    if (err == YK_ERROR_OK)
        err = yk_consumer_config_set(config, "offset_storage", "kafka");
    if (err == YK_ERROR_OK)
        err = yk_consumer_config_set(config, "auto_offset_reset", "smallest");
    /* Debian's librdkafka 2.0.2 mock (the local cluster) mis-encodes ListOffsets v4/v5. */
    if (err == YK_ERROR_OK)
        err = yk_consumer_config_set(config, "api_version_caps", "ListOffsets:3");
    const char *topics[] = {topic};
    if (err == YK_ERROR_OK)
        err = yk_callback_group_new(topics, 1, config, NULL, process_message, &progress, &group);
    yk_consumer_config_free(config);
    yk_cluster_config_free(cluster);
    if (err != YK_ERROR_OK) {
        fprintf(stderr, "setup failed: %s: %s\n", yk_error_name((int32_t)err), yk_last_error_message());
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    err = yk_callback_group_run(group);
    if (err != YK_ERROR_OK)
        fprintf(stderr, "run stopped: %s: %s\n", yk_error_name((int32_t)err), yk_last_error_message());
    else
        printf("processed %ld messages\n", progress.processed);
    yk_callback_group_free(group);
    return err == YK_ERROR_OK ? 0 : 1;
}
