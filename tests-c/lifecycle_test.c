/*
 * tests-c/lifecycle_test.c: what the library may still do after a handle's
 * stop, close or free returns (docs/c-abi.md), against the local cluster
 * (Kafka in $YK_KAFKA1, ZooKeeper in $YK_ZOOKEEPER), linked statically
 * under ASan.
 *
 * Checks: a consumer group freed without stop frees every metrics emitter
 * inside yk_consumer_group_free, on the calling thread.
 * Prints "N passed, M failed" last.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define MESSAGES 8

static const char *kafka1;
static char zookeeper[256];
static char topic[96];
static char run_id[64];

static yk_consumer_config *config_for(const char *group)
{
    char group_id[160];
    snprintf(group_id, sizeof group_id, "%s-%s", group, run_id);
    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka1, zookeeper, &cluster));
    EXPECT_OK(yk_consumer_config_new(group_id, cluster, &config));
    yk_cluster_config_free(cluster);
    /* Debian's librdkafka 2.0.2 mock mis-encodes ListOffsets v4/v5. */
    EXPECT_OK(yk_consumer_config_set(config, "api_version_caps", "ListOffsets:3"));
    EXPECT_OK(yk_consumer_config_set(config, "partitioner_cooldown", "0.5"));
    EXPECT_OK(yk_consumer_config_set(config, "offset_storage", "kafka"));
    EXPECT_OK(yk_consumer_config_set(config, "auto_offset_reset", "smallest"));
    EXPECT_OK(yk_consumer_config_set(config, "max_termination_timeout_secs", "1"));
    return config;
}

static void produce_messages(void)
{
    yk_cluster_config *cluster = NULL;
    yk_producer *producer = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka1, "", &cluster));
    EXPECT_OK(yk_producer_new(cluster, NULL, NULL, &producer));
    yk_bytes values[MESSAGES];
    char texts[MESSAGES][16];
    for (int i = 0; i < MESSAGES; i++) {
        int len = snprintf(texts[i], sizeof texts[i], "l-%d", i);
        values[i] = (yk_bytes){(const uint8_t *)texts[i], (size_t)len};
    }
    EXPECT_OK(yk_producer_send_messages(producer, topic, values, MESSAGES, NULL));
    yk_producer_close(producer, 5000, NULL);
    yk_producer_free(producer);
    yk_cluster_config_free(cluster);
}

/* ------------------------------------------------------------------------ */
/* A group freed without stop lets its responder go inside _free            */
/* ------------------------------------------------------------------------ */

/* Static, so that a free_emitter arriving after _free (the defect this
 * checks) is counted instead of touching freed memory. */
struct emitters {
    atomic_int created;
    atomic_int freed;
    atomic_int wrong_thread;
    pthread_t caller;
};
static struct emitters emitters;

static void *count_emitter(void *opaque, const char *metric, const yk_dimension *dims, size_t count)
{
    (void)metric, (void)dims, (void)count;
    struct emitters *e = opaque;
    return (void *)(uintptr_t)(atomic_fetch_add(&e->created, 1) + 1);
}

static void ignore_record(void *opaque, void *emitter, double value, int64_t timestamp_ms)
{
    (void)opaque, (void)emitter, (void)value, (void)timestamp_ms;
}

static void count_free_emitter(void *opaque, void *emitter)
{
    (void)emitter;
    struct emitters *e = opaque;
    if (!pthread_equal(pthread_self(), e->caller))
        atomic_fetch_add(&e->wrong_thread, 1);
    atomic_fetch_add(&e->freed, 1);
}

static void test_group_free_releases_the_responder(void)
{
    group_begin("consumer group: free without stop");
    const char *topics[] = {topic};
    /* The emitters used to be freed by whichever engine thread dropped the
     * fetch task last; several rounds make a late free all but certain to
     * show without the fix. */
    for (int round = 0; round < 5; round++) {
        atomic_store(&emitters.created, 0);
        atomic_store(&emitters.freed, 0);
        atomic_store(&emitters.wrong_thread, 0);
        emitters.caller = pthread_self();
        yk_metrics_responder responder = {&emitters, count_emitter, count_emitter, ignore_record, count_free_emitter};
        yk_consumer_config *config = config_for("metrics");
        yk_consumer_group *group = NULL;
        EXPECT_OK(yk_consumer_group_new(topics, 1, config, &responder, &group));
        yk_consumer_config_free(config);
        EXPECT_OK(yk_consumer_group_start(group, 20000));
        yk_message *message = NULL;
        if (yk_consumer_group_next(group, &message) == YK_ERROR_OK)
            yk_message_free(message);
        yk_consumer_group_free(group);
        int created = atomic_load(&emitters.created), freed = atomic_load(&emitters.freed);
        CHECKF(created > 0 && freed == created, "round %d: %d of %d emitters freed when _free returned", round,
               freed, created);
        CHECKF(atomic_load(&emitters.wrong_thread) == 0, "round %d: %d emitters freed on another thread", round,
               atomic_load(&emitters.wrong_thread));
    }
    group_end();
}

int main(void)
{
    group_begin("lifecycle: local cluster");
    kafka1 = getenv("YK_KAFKA1");
    const char *zk = getenv("YK_ZOOKEEPER");
    bool ready = CHECKF(kafka1 && *kafka1 && zk && *zk, "YK_KAFKA1 and YK_ZOOKEEPER must name scripts/cluster.sh's");
    snprintf(run_id, sizeof run_id, "%ld-%ld", (long)getpid(), (long)time(NULL));
    snprintf(topic, sizeof topic, "lifecycle-%s", run_id);
    if (ready) {
        snprintf(zookeeper, sizeof zookeeper, "%s/yk-lifecycle-test-%s", zk, run_id);
        /* Naming a new topic creates it with 4 partitions on the mock. */
        produce_messages();
    }
    group_end();
    if (ready)
        test_group_free_releases_the_responder();
    int p = atomic_load(&passed), f = atomic_load(&failed);
    printf("%d passed, %d failed\n", p, f);
    return f == 0 ? 0 : 1;
}
