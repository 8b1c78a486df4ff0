/*
 * examples-c/consumer.c: consume every topic that matches a pattern.
 *
 * Python yelp_kafka's regex example, in C: find the topics whose names match a
 * pattern (".*mytopic" by default: every topic ending in "mytopic"), then
 * read all their partitions with one plain consumer of group
 * "consumer-example", starting where the group left off (or at the oldest
 * message the first time). Each message is marked done after it is
 * "processed" (here: counted); closing the consumer commits. The program
 * stops once no message came for a second, and prints what it read and
 * the group's lag per partition, which is 0 after the final commit:
 *
 *     mytopic/0: read 12 messages (offsets 0..11), lag 0
 *     ...
 *
 * Usage:
 *     consumer [BOOTSTRAP ZOOKEEPER [PATTERN]]
 * Without arguments, BOOTSTRAP and ZOOKEEPER come from YK_KAFKA1 and
 * YK_ZOOKEEPER, which the local test cluster writes:
 *     scripts/cluster.sh up && . target/cluster/env && consumer
 * The group's offsets live in ZooKeeper (the default, offset_storage=zookeeper)
 * at /consumers/consumer-example/offsets/<topic>/<partition>.
 *
 * Build (from the repository root, after cargo build --release):
 *     gcc -std=c11 -Wall -Wextra -Werror -Iinclude examples-c/consumer.c \
 *         -Ltarget/release -lyelp_kafka -Wl,-rpath,$PWD/target/release -o consumer
 *
 * Rules of the API (see examples-c/discovery.c): calls return a yk_error
 * (0 is success, yk_last_error_message() says what failed), out-parameters
 * are written only on success, and what a *_new or out-parameter gives you
 * is freed with the matching *_free.
 */
#include "yelp_kafka.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTITIONS 64

/* What was read from one partition. */
struct partition_count {
    char topic[256];
    int32_t partition;
    long messages;
    int64_t first_offset;
    int64_t last_offset;
};

static struct partition_count counts[MAX_PARTITIONS];
static size_t count_used;

static bool report(const char *what, yk_error code)
{
    if (code != YK_ERROR_OK)
        fprintf(stderr, "%s failed: %s: %s\n", what, yk_error_name(code), yk_last_error_message());
    return code == YK_ERROR_OK;
}

/* Stands for the application's work on one message. */
static void process(const yk_message *message)
{
    const char *topic = yk_message_topic(message);
    int32_t partition = yk_message_partition(message);
    int64_t offset = yk_message_offset(message);
    for (size_t i = 0; i < count_used; i++) {
        if (counts[i].partition == partition && strcmp(counts[i].topic, topic) == 0) {
            counts[i].messages++;
            counts[i].last_offset = offset;
            return;
        }
    }
    if (count_used == MAX_PARTITIONS)
        return;
    struct partition_count *entry = &counts[count_used++];
    snprintf(entry->topic, sizeof entry->topic, "%s", topic);
    entry->partition = partition;
    entry->messages = 1;
    entry->first_offset = entry->last_offset = offset;
}

static int compare_counts(const void *a, const void *b)
{
    const struct partition_count *x = a, *y = b;
    int by_topic = strcmp(x->topic, y->topic);
    return by_topic != 0 ? by_topic : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Prints what was read and the group's lag per partition of `topics`. */
static bool print_summary(const yk_cluster_config *cluster, const yk_topics *topics)
{
    yk_config *options = NULL;
    yk_offsets *offsets = NULL;
    yk_offsets_result *lag = NULL;
    bool ok = report("yk_config_new", yk_config_new(&options)) &&
              report("yk_config_set", yk_config_set(options, "api_version_caps", "ListOffsets:3")) &&
              report("yk_offsets_new", yk_offsets_new(cluster, options, &offsets)) &&
              report("yk_offsets_topics_offset_distance",
                     yk_offsets_topics_offset_distance(offsets, "consumer-example", topics, &lag));
    if (ok) {
        qsort(counts, count_used, sizeof counts[0], compare_counts);
        size_t rows = 0;
        const yk_partition_offsets *row = yk_offsets_result_rows(lag, &rows);
        for (size_t r = 0; r < rows; r++) {
            long read = 0;
            int64_t first = -1, last = -1;
            for (size_t i = 0; i < count_used; i++) {
                if (counts[i].partition == row[r].partition && strcmp(counts[i].topic, row[r].topic) == 0) {
                    read = counts[i].messages;
                    first = counts[i].first_offset;
                    last = counts[i].last_offset;
                }
            }
            if (read > 0)
                printf("%s/%d: read %ld messages (offsets %lld..%lld), lag %lld\n", row[r].topic, (int)row[r].partition,
                       read, (long long)first, (long long)last, (long long)row[r].lag);
            else
                printf("%s/%d: read 0 messages, lag %lld\n", row[r].topic, (int)row[r].partition,
                       (long long)row[r].lag);
        }
    }
    yk_offsets_result_free(lag);
    yk_offsets_free(offsets);
    yk_config_free(options);
    return ok;
}

int main(int argc, char **argv)
{
    const char *bootstrap = argc >= 3 ? argv[1] : getenv("YK_KAFKA1");
    const char *zookeeper = argc >= 3 ? argv[2] : getenv("YK_ZOOKEEPER");
    const char *pattern = argc == 4 ? argv[3] : ".*mytopic";
    if (argc == 2 || argc > 4 || bootstrap == NULL || zookeeper == NULL) {
        fprintf(stderr,
                "usage: %s [BOOTSTRAP ZOOKEEPER [PATTERN]]\n"
                "  without arguments, BOOTSTRAP and ZOOKEEPER come from YK_KAFKA1 and YK_ZOOKEEPER\n",
                argv[0]);
        return 2;
    }

    /* 1. The cluster, and the topics that match the pattern on it. */
    yk_cluster_config *cluster = NULL;
    if (!report("yk_cluster_config_new", yk_cluster_config_new("standard", "cluster1", bootstrap, zookeeper, &cluster)))
        return 1;
    yk_discovery_result *found = NULL;
    const yk_cluster_config *clusters[] = {cluster};
    int status = 1;
    yk_consumer_config *config = NULL;
    yk_consumer *consumer = NULL;
    yk_topics *topics = NULL;
    const char *names[MAX_PARTITIONS];
    size_t name_count = 0;
    if (!report("yk_search_topics_by_regex", yk_search_topics_by_regex(pattern, clusters, 1, NULL, &found)))
        goto done;
    if (yk_discovery_result_cluster_count(found) == 1)
        name_count = yk_discovery_result_topic_count(found, 0);
    if (name_count == 0 || name_count > MAX_PARTITIONS) {
        fprintf(stderr, "%zu topics match %s\n", name_count, pattern);
        goto done;
    }
    if (!report("yk_topics_new", yk_topics_new(&topics)))
        goto done;
    for (size_t t = 0; t < name_count; t++) {
        names[t] = yk_discovery_result_topic(found, 0, t);
        if (!report("yk_topics_add", yk_topics_add(topics, names[t])))
            goto done;
    }

    /* 2. A plain consumer of every partition of those topics. The librdkafka
     *    2.0.2 mock of the local cluster mis-encodes ListOffsets v4/v5: cap it
     *    at v3, which every broker since Kafka 0.11 speaks. */
    if (!report("yk_consumer_config_new", yk_consumer_config_new("consumer-example", cluster, &config)) ||
        !report("yk_consumer_config_set", yk_consumer_config_set(config, "auto_offset_reset", "smallest")) ||
        !report("yk_consumer_config_set", yk_consumer_config_set(config, "consumer_timeout_ms", "1000")) ||
        !report("yk_consumer_config_set", yk_consumer_config_set(config, "api_version_caps", "ListOffsets:3")) ||
        !report("yk_consumer_new", yk_consumer_new(config, names, name_count, &consumer)) ||
        !report("yk_consumer_connect", yk_consumer_connect(consumer)))
        goto done;

    /* 3. Read until a second passes without a message: yk_consumer_next waits
     *    consumer_timeout_ms, then says YK_ERROR_CONSUMER_TIMEOUT. */
    for (;;) {
        yk_message *message = NULL;
        yk_error code = yk_consumer_next(consumer, &message);
        if (code == YK_ERROR_CONSUMER_TIMEOUT)
            break;
        if (!report("yk_consumer_next", code))
            goto done;
        process(message);
        /* Done with it: a commit may now pass this message. */
        code = yk_consumer_task_done(consumer, message);
        yk_message_free(message);
        if (!report("yk_consumer_task_done", code))
            goto done;
    }

    /* 4. Close: stops fetching and commits what was done (auto-commit is on). */
    if (!report("yk_consumer_close", yk_consumer_close(consumer)))
        goto done;
    if (print_summary(cluster, topics))
        status = 0;

done:
    yk_consumer_free(consumer);
    yk_consumer_config_free(config);
    yk_topics_free(topics);
    yk_discovery_result_free(found);
    yk_cluster_config_free(cluster);
    return status;
}
