/*
 * examples-c/multiprocessing_group.c: Python yelp_kafka's MultiprocessingConsumerGroup
 * for high-volume topics: one worker process per partition this member
 * holds, each running WORKER_PROGRAM (multiprocessing_worker.c), watched
 * and restarted when it dies; on a rebalance the workers get SIGTERM, and
 * SIGKILL after max_termination_timeout_secs. Isolation is the point: one
 * worker crashing never stops the others.
 *
 * Usage:
 *     multiprocessing_group WORKER_PROGRAM [BOOTSTRAP ZOOKEEPER [TOPIC [GROUP [SECONDS]]]]
 * BOOTSTRAP and ZOOKEEPER default to $YK_KAFKA1 and $YK_ZOOKEEPER
 * (scripts/cluster.sh up && . target/cluster/env), TOPIC to "mytopic",
 * GROUP to "multiprocessing-example". The group runs SECONDS seconds
 * (default: until SIGINT or SIGTERM), printing its live workers every
 * second, then stops them and leaves.
 *
 * Build (from the repository root, after cargo build --release):
 *     gcc -std=c11 -Wall -Wextra -Werror -Iinclude examples-c/multiprocessing_group.c \
 *         -Ltarget/release -lyelp_kafka -Wl,-rpath,$PWD/target/release -lpthread -o multiprocessing_group
 */
#define _POSIX_C_SOURCE 200809L

#include "yelp_kafka.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_signal(int signal)
{
    (void)signal;
    stopping = 1;
}

/* start_group blocks until stop_group: it gets a thread of its own. */
static void *run_group(void *group)
{
    yk_error err = yk_multiprocessing_group_start(group);
    if (err != YK_ERROR_OK)
        fprintf(stderr, "group stopped: %s: %s\n", yk_error_name((int32_t)err), yk_last_error_message());
    stopping = 1;
    return NULL;
}

static void print_workers(yk_multiprocessing_group *group)
{
    yk_worker_list *workers = NULL;
    if (yk_multiprocessing_group_consumers(group, &workers) != YK_ERROR_OK)
        return;
    printf("%zu workers:", yk_worker_list_count(workers));
    for (size_t i = 0; i < yk_worker_list_count(workers); i++)
        printf(" %s-%d (pid %lld, %lld restarts)", yk_worker_list_topic(workers, i), yk_worker_list_partition(workers, i),
               (long long)yk_worker_list_pid(workers, i), (long long)yk_worker_list_restarts(workers, i));
    printf("\n");
    fflush(stdout);
    yk_worker_list_free(workers);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s WORKER_PROGRAM [BOOTSTRAP ZOOKEEPER [TOPIC [GROUP [SECONDS]]]]\n", argv[0]);
        return 2;
    }
    const char *worker = argv[1];
    const char *bootstrap = argc > 3 ? argv[2] : getenv("YK_KAFKA1");
    const char *zookeeper = argc > 3 ? argv[3] : getenv("YK_ZOOKEEPER");
    const char *topic = argc > 4 ? argv[4] : "mytopic";
    const char *group_id = argc > 5 ? argv[5] : "multiprocessing-example";
    long seconds = argc > 6 ? atol(argv[6]) : -1;
    if (bootstrap == NULL || zookeeper == NULL) {
        fprintf(stderr, "BOOTSTRAP and ZOOKEEPER are needed (or $YK_KAFKA1 and $YK_ZOOKEEPER)\n");
        return 2;
    }

    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = NULL;
    yk_multiprocessing_group *group = NULL;
    const char *topics[] = {topic};
    const char *command[] = {worker};
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
    /* Python yelp_kafka's default waits 30 s for membership to settle; a demo does not. */
    if (err == YK_ERROR_OK)
        err = yk_consumer_config_set(config, "partitioner_cooldown", "1");
    if (err == YK_ERROR_OK)
        err = yk_multiprocessing_group_new_processes(topics, 1, config, command, 1, &group);
    yk_consumer_config_free(config);
    yk_cluster_config_free(cluster);
    if (err != YK_ERROR_OK) {
        fprintf(stderr, "setup failed: %s: %s\n", yk_error_name((int32_t)err), yk_last_error_message());
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    pthread_t runner;
    pthread_create(&runner, NULL, run_group, group);
    for (long elapsed = 0; !stopping && (seconds < 0 || elapsed < seconds); elapsed++) {
        sleep(1);
        print_workers(group);
    }
    err = yk_multiprocessing_group_stop(group, 30000);
    pthread_join(runner, NULL);
    yk_multiprocessing_group_free(group);
    printf("stopped\n");
    return err == YK_ERROR_OK ? 0 : 1;
}
