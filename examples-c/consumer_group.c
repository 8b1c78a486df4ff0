/*
 * examples-c/consumer_group.c: Python yelp_kafka's KafkaConsumerGroup loop in C.
 *
 * Start this program several times (on one host or many): the instances
 * split the partitions of TOPIC between them through ZooKeeper, with each
 * other and with Python yelp_kafka members of the same group, and each
 * message is processed by one of them. With group_protocol=kafka they split
 * them through Kafka's group protocol instead, with each other and with Java
 * or librdkafka consumers of the group, and need no ZooKeeper;
 * group_protocol=kafka_consumer does the same through Kafka's next-generation
 * protocol (KIP-848, Kafka 3.7+), whose coordinator computes the split. The loop is
 * Python yelp_kafka's:
 *
 *     while True:
 *         with KafkaConsumerGroup([topic], config) as consumer:
 *             for message in consumer:   # ConsumerTimeout: just go on
 *                 process(message); consumer.task_done(message)
 *         # PartitionerError (ZooKeeper lost), or ConsumerGroupError (out
 *         # of the Kafka group): leave the `with`, start over
 *
 * Retriable errors (a leader moved, a broker briefly away) are retried;
 * auto-commit commits processed messages every 100 task_done calls, before
 * partitions are given up in a rebalance, and on stop. SIGINT or SIGTERM
 * stops the member gracefully (the others take its partitions over after
 * partitioner_cooldown).
 *
 * Usage:
 *     consumer_group [BOOTSTRAP ZOOKEEPER [TOPIC [GROUP [key=value ...]]]]
 * BOOTSTRAP and ZOOKEEPER default to $YK_KAFKA1 and $YK_ZOOKEEPER (the
 * local cluster writes them: scripts/cluster.sh up && . target/cluster/env);
 * ZOOKEEPER may be "" with group_protocol=kafka or kafka_consumer, which the
 * key=value pair or $YK_GROUP_PROTOCOL selects (the pair wins),
 * TOPIC to "mytopic", GROUP to "group-example"; key=value pairs set
 * consumer options (partitioner_cooldown=1, auto_offset_reset=smallest, ...).
 * With $YK_EXAMPLE_IDLE_EXIT=N the member stops after N seconds without a
 * message (for demos). Each message is printed as
 *     MSG <topic> <partition> <offset>
 * and rebalances as "acquired ..." / "releasing ...".
 *
 * Build (from the repository root, after cargo build --release):
 *     gcc -std=c11 -Wall -Wextra -Werror -Iinclude examples-c/consumer_group.c \
 *         -Ltarget/release -lyelp_kafka -Wl,-rpath,$PWD/target/release -o consumer_group
 */
#define _POSIX_C_SOURCE 200809L

#include "yelp_kafka.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stopping;

static void on_signal(int signal)
{
    (void)signal;
    stopping = 1;
}

static bool report(const char *what, yk_error code)
{
    if (code != YK_ERROR_OK)
        fprintf(stderr, "%s failed: %s: %s\n", what, yk_error_name(code), yk_last_error_message());
    return code == YK_ERROR_OK;
}

static void print_partitions(const char *what, const yk_topic_partition *partitions, size_t count)
{
    printf("%s", what);
    for (size_t i = 0; i < count; i++)
        printf(" %s-%d", partitions[i].topic, partitions[i].partition);
    printf("%s\n", count == 0 ? " nothing" : "");
    fflush(stdout);
}

/* Pre-rebalance: the partitions given up (their offsets are committed next). */
static void on_release(void *opaque, const yk_topic_partition *partitions, size_t count)
{
    (void)opaque;
    print_partitions("releasing", partitions, count);
}

/* Post-rebalance: the partitions acquired; no message came in between. */
static void on_acquire(void *opaque, const yk_topic_partition *partitions, size_t count)
{
    (void)opaque;
    print_partitions("acquired", partitions, count);
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* "Processing": print where the message came from. */
static void process(const yk_message *message)
{
    printf("MSG %s %d %lld\n", yk_message_topic(message), yk_message_partition(message),
           (long long)yk_message_offset(message));
}

int main(int argc, char **argv)
{
    const char *bootstrap = argc > 1 ? argv[1] : getenv("YK_KAFKA1");
    const char *zookeeper = argc > 2 ? argv[2] : getenv("YK_ZOOKEEPER");
    const char *protocol = getenv("YK_GROUP_PROTOCOL");
    if (zookeeper == NULL && protocol != NULL
        && (strcmp(protocol, "kafka") == 0 || strcmp(protocol, "kafka_consumer") == 0))
        zookeeper = ""; /* Kafka's group protocols need no ZooKeeper. */
    const char *topic = argc > 3 ? argv[3] : "mytopic";
    const char *group_id = argc > 4 ? argv[4] : "group-example";
    if (bootstrap == NULL || zookeeper == NULL) {
        fprintf(stderr, "usage: %s BOOTSTRAP ZOOKEEPER [TOPIC [GROUP [key=value ...]]] (or set YK_KAFKA1, YK_ZOOKEEPER)\n",
                argv[0]);
        return 2;
    }
    const char *idle_text = getenv("YK_EXAMPLE_IDLE_EXIT");
    double idle_exit = idle_text ? atof(idle_text) : 0;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = NULL;
    if (!report("yk_cluster_config_new", yk_cluster_config_new("standard", "local", bootstrap, zookeeper, &cluster))
        || !report("yk_consumer_config_new", yk_consumer_config_new(group_id, cluster, &config)))
        return 1;
    yk_cluster_config_free(cluster);
    /* Debian's librdkafka 2.0.2 mock (the local cluster) mis-encodes ListOffsets v4/v5. */
    report("api_version_caps", yk_consumer_config_set(config, "api_version_caps", "ListOffsets:3"));
    if (protocol != NULL && !report("group_protocol", yk_consumer_config_set(config, "group_protocol", protocol)))
        return 2;
    for (int i = 5; i < argc; i++) {
        char option[256];
        snprintf(option, sizeof option, "%s", argv[i]);
        char *equals = strchr(option, '=');
        if (equals == NULL) {
            fprintf(stderr, "option %s is not key=value\n", argv[i]);
            return 2;
        }
        *equals = '\0';
        if (!report(option, yk_consumer_config_set(config, option, equals + 1)))
            return 2;
    }
    report("yk_consumer_config_set_rebalance_callbacks",
           yk_consumer_config_set_rebalance_callbacks(config, on_release, on_acquire, NULL));

    const char *topics[] = {topic};
    long consumed = 0;
    int status = 0;
    while (!stopping) {
        yk_consumer_group *group = NULL;
        if (!report("yk_consumer_group_new", yk_consumer_group_new(topics, 1, config, NULL, &group))) {
            status = 1;
            break;
        }
        yk_error started = yk_consumer_group_start(group, 60000);
        if (started != YK_ERROR_OK && started != YK_ERROR_TIMED_OUT) {
            /* ZooKeeper or Kafka unreachable: wait and create the group again. */
            report("yk_consumer_group_start", started);
            yk_consumer_group_free(group);
            struct timespec pause = {1, 0};
            nanosleep(&pause, NULL);
            continue;
        }
        printf("member %s started\n", yk_consumer_group_identifier(group));
        fflush(stdout);
        double last_message = now_seconds();
        while (!stopping) {
            yk_message *message = NULL;
            yk_error code = yk_consumer_group_next(group, &message);
            if (code == YK_ERROR_OK) {
                process(message);
                report("yk_consumer_group_task_done", yk_consumer_group_task_done(group, message));
                yk_message_free(message);
                consumed++;
                last_message = now_seconds();
            } else if (code == YK_ERROR_CONSUMER_TIMEOUT) {
                if (idle_exit > 0 && now_seconds() - last_message > idle_exit)
                    stopping = 1;
            } else if (code == YK_ERROR_PARTITIONER || code == YK_ERROR_CONSUMER_GROUP) {
                /* Python yelp_kafka re-creates the group: leave this one first. */
                report("yk_consumer_group_next", code);
                break;
            } else if (code == YK_ERROR_OFFSET_COMMIT) {
                /* A commit refused in a rebalance: the next owner of those
                 * partitions reads again from the last commit. */
                report("yk_consumer_group_next", code);
            } else if (!yk_error_is_retriable(code)) {
                report("yk_consumer_group_next", code);
                stopping = 1;
                status = 1;
            }
        }
        report("yk_consumer_group_stop", yk_consumer_group_stop(group, 10000));
        yk_consumer_group_free(group);
    }
    yk_consumer_config_free(config);
    printf("consumed %ld messages\n", consumed);
    return status;
}
