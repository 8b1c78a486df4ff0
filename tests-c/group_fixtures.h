/*
 * tests-c/group_fixtures.h: what the C tests of the balanced groups share:
 * a consumer configuration for a group on the local cluster, and numbered
 * messages produced to a topic. Include after check.h.
 */
#ifndef YK_TESTS_GROUP_FIXTURES_H
#define YK_TESTS_GROUP_FIXTURES_H

#include "check.h"

#include <stdlib.h>
#include <unistd.h>

/* A configuration of group `group_id` on `kafka` and `zookeeper` that reads
 * from the first message and stores offsets in Kafka; each test adds its
 * own timings. */
static inline yk_consumer_config *group_config(const char *kafka, const char *zookeeper, const char *group_id)
{
    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka, zookeeper, &cluster));
    EXPECT_OK(yk_consumer_config_new(group_id, cluster, &config));
    yk_cluster_config_free(cluster);
    /* Debian's librdkafka 2.0.2 mock mis-encodes ListOffsets v4/v5. */
    EXPECT_OK(yk_consumer_config_set(config, "api_version_caps", "ListOffsets:3"));
    EXPECT_OK(yk_consumer_config_set(config, "offset_storage", "kafka"));
    EXPECT_OK(yk_consumer_config_set(config, "auto_offset_reset", "smallest"));
    return config;
}

/* Sends `count` (at most 64) messages "<prefix>-<i>" to `topic`, each with
 * one header "seq" holding its value, and waits for their acknowledgement
 * (message_has_seq_header checks what the groups hand out). */
static inline void produce_numbered(const char *kafka, const char *topic, const char *prefix, int count)
{
    yk_cluster_config *cluster = NULL;
    yk_producer *producer = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka, "", &cluster));
    EXPECT_OK(yk_producer_new(cluster, NULL, NULL, &producer));
    if (count > 64)
        count = 64;
    for (int i = 0; i < count; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "%s-%d", prefix, i);
        yk_header seq = {"seq", 3, (const uint8_t *)text, (size_t)len};
        EXPECT_OK(yk_producer_send_with_headers(producer, topic, -1, NULL, 0, (const uint8_t *)text, (size_t)len, &seq,
                                                1, NULL));
    }
    yk_producer_close(producer, 5000, NULL);
    yk_producer_free(producer);
    yk_cluster_config_free(cluster);
}

/* Whether `message` (lent to a callback) carries the one header "seq"
 * produce_numbered gave it, read through its view; yk_task_done on it is a
 * no-op (its group marks it done). */
static inline bool message_has_seq_header(const yk_message *message)
{
    yk_message_view view;
    if (yk_message_get_view(message, &view) != YK_ERROR_OK || yk_task_done(message) != YK_ERROR_OK)
        return false;
    return view.message == message && view.header_count == 1 && view.headers[0].name_len == 3
           && memcmp(view.headers[0].name, "seq", 3) == 0 && view.headers[0].value_len == view.value_len
           && memcmp(view.headers[0].value, view.value, view.value_len) == 0;
}

/* The local cluster of scripts/cluster.sh for the test program `name`:
 * reads YK_KAFKA1 and YK_ZOOKEEPER into `*kafka` and `zookeeper` (a chroot
 * of this run's own), creates this run's `topic` with 4 partitions and
 * produces `count` numbered messages to it. False, after a failed check,
 * when the cluster's addresses are missing. */
static inline bool local_cluster(const char *name, const char **kafka, char *zookeeper, size_t zookeeper_size,
                                 char *topic, size_t topic_size, char *run_id, size_t run_id_size, int count)
{
    *kafka = getenv("YK_KAFKA1");
    const char *zk = getenv("YK_ZOOKEEPER");
    bool ready = CHECKF(*kafka && **kafka && zk && *zk, "YK_KAFKA1 and YK_ZOOKEEPER must name scripts/cluster.sh's");
    snprintf(run_id, run_id_size, "%ld-%ld", (long)getpid(), (long)time(NULL));
    snprintf(topic, topic_size, "%s-%s", name, run_id);
    if (ready) {
        snprintf(zookeeper, zookeeper_size, "%s/yk-%s-test-%s", zk, name, run_id);
        create_topic(topic, 4);
        produce_numbered(*kafka, topic, name, count);
    }
    return ready;
}

#endif
