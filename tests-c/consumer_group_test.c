/*
 * tests-c/consumer_group_test.c: the consumer group C API against the local
 * cluster (scripts/cluster.sh: bootstrap list in $YK_KAFKA1 with topic
 * "mytopic" of 3 partitions, ZooKeeper in $YK_ZOOKEEPER), linked
 * statically: the ZooKeeper partitioner must work from a C program linked
 * against libyelp_kafka.a (docs/protocol-notes.md).
 *
 * Checks: every export rejects NULL and bad arguments with a code and a
 * message naming the function and the argument, out-parameters untouched;
 * wrong-state calls; one member acquires all three partitions under a
 * chroot that does not exist yet; a second member of the same process
 * (identifiers stay unique) makes the first give up partitions (pre
 * callback, then post callback, on the calling thread) and the two split
 * the partitions disjointly; messages produced then are each consumed
 * once; a callback calling back into its group gets YK_ERROR_REENTRANT;
 * the metrics responder gets the group's names, prefix and dimensions,
 * measurements, and its emitters back at stop; stop leaves the party (the
 * other takes everything). Prints "N passed, M failed" last.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define PARTITIONS 3
#define MESSAGES 60

static const char *kafka1;
static char zookeeper[256];
static char group_id[96];

static const char *const TOPICS[] = {"mytopic"};

/* What one member's callbacks saw. */
struct member {
    yk_consumer_group *group;
    pthread_t thread;
    atomic_int held[PARTITIONS];
    atomic_int acquisitions;
    atomic_int releases;
    atomic_int reentrant_seen;
    atomic_int overlap;
    atomic_int wrong_thread;
    atomic_int consumed[MESSAGES];
    atomic_bool running;
    pthread_t caller;
    /* Marks messages done with yk_task_done instead of the group's own call. */
    bool generic_task_done;
    /* The last message taken, kept past the group's stop and free. */
    yk_message *kept;
    /* Set: messages are taken in batches into it. */
    yk_message_batch *batch;
    /* Calls that returned YK_ERROR_WOKEN_UP. */
    atomic_int woken;
};

/* Records, on the calling thread, which partitions `m` holds now. */
static void mark(struct member *m, const yk_topic_partition *partitions, size_t count, int held)
{
    if (!pthread_equal(pthread_self(), m->caller))
        atomic_fetch_add(&m->wrong_thread, 1);
    for (size_t i = 0; i < count; i++) {
        if (str_eq(partitions[i].topic, "mytopic") && partitions[i].partition < PARTITIONS)
            atomic_store(&m->held[partitions[i].partition], held);
    }
}

static void on_release(void *opaque, const yk_topic_partition *partitions, size_t count)
{
    struct member *m = opaque;
    mark(m, partitions, count, 0);
    atomic_fetch_add(&m->releases, 1);
}

static void on_acquire(void *opaque, const yk_topic_partition *partitions, size_t count)
{
    struct member *m = opaque;
    mark(m, partitions, count, 1);
    /* A callback must not call back into its group. */
    if (m->group != NULL && yk_consumer_group_commit(m->group) == YK_ERROR_REENTRANT)
        atomic_fetch_add(&m->reentrant_seen, 1);
    atomic_fetch_add(&m->acquisitions, 1);
}

/* Metrics as the responder sees them. */
struct metrics_seen {
    atomic_int emitters;
    atomic_int names_ok;
    atomic_int dimensions_ok;
    atomic_int records;
    atomic_int fetch_emitter;
    atomic_int fetch_records;
    atomic_int freed;
};
static struct metrics_seen metrics;

static void *get_emitter(void *opaque, const char *metric, const yk_dimension *dims, size_t count)
{
    struct metrics_seen *m = opaque;
    int n = atomic_fetch_add(&m->emitters, 1) + 1;
    if (strncmp(metric, "yelp_kafka.KafkaConsumerGroup.", 30) == 0)
        atomic_fetch_add(&m->names_ok, 1);
    if (str_eq(metric, "yelp_kafka.KafkaConsumerGroup.fetch_request_timer"))
        atomic_store(&m->fetch_emitter, n);
    if (count == 4 && str_eq(dims[0].key, "group_id") && str_eq(dims[0].value, group_id)
        && str_eq(dims[1].key, "cluster_name") && str_eq(dims[1].value, "cluster1")
        && str_eq(dims[2].key, "cluster_type") && str_eq(dims[2].value, "standard")
        && str_eq(dims[3].key, "service") && str_eq(dims[3].value, "c-test"))
        atomic_fetch_add(&m->dimensions_ok, 1);
    return (void *)(uintptr_t)n;
}

static void record(void *opaque, void *emitter, double value, int64_t timestamp_ms)
{
    struct metrics_seen *m = opaque;
    if (value >= 0 && timestamp_ms > 0)
        atomic_fetch_add(&m->records, 1);
    if ((uintptr_t)emitter == (uintptr_t)atomic_load(&m->fetch_emitter))
        atomic_fetch_add(&m->fetch_records, 1);
}

static void free_emitter(void *opaque, void *emitter)
{
    struct metrics_seen *m = opaque;
    if (emitter != NULL)
        atomic_fetch_add(&m->freed, 1);
}

static yk_consumer_config *group_config(struct member *m)
{
    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka1, zookeeper, &cluster));
    EXPECT_OK(yk_consumer_config_new(group_id, cluster, &config));
    yk_cluster_config_free(cluster);
    /* Debian's librdkafka 2.0.2 mock mis-encodes ListOffsets v4/v5. */
    EXPECT_OK(yk_consumer_config_set(config, "api_version_caps", "ListOffsets:3"));
    EXPECT_OK(yk_consumer_config_set(config, "partitioner_cooldown", "0.5"));
    EXPECT_OK(yk_consumer_config_set(config, "consumer_timeout_ms", "50"));
    EXPECT_OK(yk_consumer_config_set(config, "offset_storage", "kafka"));
    EXPECT_OK(yk_consumer_config_add_metrics_dimension(config, "service", "c-test"));
    if (m != NULL)
        EXPECT_OK(yk_consumer_config_set_rebalance_callbacks(config, on_release, on_acquire, m));
    return config;
}

static void test_bad_arguments(void)
{
    group_begin("group: bad arguments, states");
    yk_consumer_config *config = group_config(NULL);
    yk_consumer_group *out = SENTINEL;
    EXPECT_CODE(yk_consumer_group_new(TOPICS, 1, config, NULL, NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_group_new", "out", "NULL");
    EXPECT_CODE(yk_consumer_group_new(TOPICS, 1, NULL, NULL, &out), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_group_new", "config", "NULL");
    EXPECT_CODE(yk_consumer_group_new(NULL, 1, config, NULL, &out), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_group_new", "topics", "NULL");
    EXPECT_CODE(yk_consumer_group_new(TOPICS, 0, config, NULL, &out), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_group_new", "count", NULL);
    const char *bad_topics[] = {BAD_UTF8};
    EXPECT_CODE(yk_consumer_group_new(bad_topics, 1, config, NULL, &out), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_group_new", "topics[0]", "UTF-8");
    const char *null_topic[] = {NULL};
    EXPECT_CODE(yk_consumer_group_new(null_topic, 1, config, NULL, &out), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_group_new", "topics[0]", "NULL");
    yk_metrics_responder incomplete = {NULL, NULL, NULL, NULL, NULL};
    EXPECT_CODE(yk_consumer_group_new(TOPICS, 1, config, &incomplete, &out), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_group_new", "metrics_responder", NULL);
    CHECK(out == SENTINEL);

    EXPECT_CODE(yk_consumer_group_start(NULL, 0), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_group_start", "group",
                NULL);
    yk_message *message = SENTINEL;
    EXPECT_CODE(yk_consumer_group_next(NULL, &message), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_group_next",
                "group", NULL);
    yk_message_batch *batch = NULL;
    EXPECT_OK(yk_message_batch_new(8, &batch));
    const yk_message_view *views = SENTINEL;
    size_t view_count = COUNT_SENTINEL;
    EXPECT_CODE(yk_consumer_group_next_batch(NULL, batch, &views, &view_count), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_group_next_batch", "group", NULL);
    CHECK(views == SENTINEL && view_count == COUNT_SENTINEL);
    yk_message_batch_free(batch);
    EXPECT_CODE(yk_consumer_group_task_done(NULL, NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_group_task_done", "group", NULL);
    EXPECT_CODE(yk_consumer_group_commit(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_group_commit", "group",
                NULL);
    EXPECT_CODE(yk_consumer_group_stop(NULL, 0), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_group_stop", "group",
                NULL);
    EXPECT_NULL(yk_consumer_group_identifier(NULL), "yk_consumer_group_identifier", "group", NULL);
    yk_consumer_group_free(NULL);

    yk_consumer_group *group = NULL;
    EXPECT_OK(yk_consumer_group_new(TOPICS, 1, config, NULL, &group));
    EXPECT_CODE(yk_consumer_group_next(group, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_group_next", "out",
                NULL);
    EXPECT_CODE(yk_consumer_group_next(group, &message), YK_ERROR_WRONG_STATE, "yk_consumer_group_next",
                "not started", NULL);
    CHECK(message == SENTINEL);
    EXPECT_CODE(yk_consumer_group_commit(group), YK_ERROR_WRONG_STATE, "yk_consumer_group_commit", "not started",
                NULL);
    EXPECT_CODE(yk_consumer_group_wait_assignment(NULL, 0), YK_ERROR_INVALID_ARGUMENT,
                "yk_consumer_group_wait_assignment", "group", NULL);
    EXPECT_CODE(yk_consumer_group_wait_assignment(group, 0), YK_ERROR_WRONG_STATE, "yk_consumer_group_wait_assignment",
                "not started", NULL);
    EXPECT_CODE(yk_consumer_group_task_done(group, NULL), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_group_task_done",
                "message", "NULL");
    EXPECT_CODE(yk_consumer_group_stop(group, -1), YK_ERROR_INVALID_ARGUMENT, "yk_consumer_group_stop",
                "negative", NULL);
    EXPECT_OK(yk_consumer_group_stop(group, 1000));
    EXPECT_CODE(yk_consumer_group_start(group, 0), YK_ERROR_CLOSED_HANDLE, "yk_consumer_group_start", "stopped",
                NULL);
    EXPECT_CODE(yk_consumer_group_wait_assignment(group, 0), YK_ERROR_CLOSED_HANDLE,
                "yk_consumer_group_wait_assignment", "stopped", NULL);
    yk_consumer_group_free(group);

    /* A topic Kafka does not know: no partitions to split. */
    const char *unknown[] = {"no-such-topic-c-test"};
    EXPECT_OK(yk_consumer_group_new(unknown, 1, config, NULL, &group));
    EXPECT_CODE(yk_consumer_group_start(group, 1000), YK_ERROR_PARTITIONER, "yk_consumer_group_start",
                "no partitions", NULL);
    yk_consumer_group_free(group);
    yk_consumer_config_free(config);
    group_end();
}

/* Counts one message the member took. */
static void count_message(struct member *m, int partition, const uint8_t *value, size_t len)
{
    if (!atomic_load(&m->held[partition]))
        atomic_fetch_add(&m->overlap, 1);
    char text[32] = {0};
    if (value != NULL && len < sizeof text)
        memcpy(text, value, len);
    int index = -1;
    if (sscanf(text, "group-c-%d", &index) == 1 && index >= 0 && index < MESSAGES)
        atomic_fetch_add(&m->consumed[index], 1);
}

/* Takes messages until told to stop; marks each one done. With a batch,
 * takes them through yk_consumer_group_next_batch and its views. */
static void *member_loop(void *arg)
{
    struct member *m = arg;
    m->caller = pthread_self();
    while (atomic_load(&m->running)) {
        if (m->batch) {
            const yk_message_view *views = NULL;
            size_t count = 0;
            yk_error code = yk_consumer_group_next_batch(m->group, m->batch, &views, &count);
            if (code == YK_ERROR_CONSUMER_TIMEOUT)
                continue;
            if (code == YK_ERROR_WOKEN_UP) {
                atomic_fetch_add(&m->woken, 1);
                continue;
            }
            if (!CHECKF(code == YK_ERROR_OK && count >= 1, "next_batch: %s: %s", yk_error_name(code),
                        yk_last_error_message()))
                break;
            for (size_t i = 0; i < count; i++) {
                count_message(m, views[i].partition, views[i].value, views[i].value_len);
                EXPECT_OK(yk_task_done(views[i].message));
            }
            continue;
        }
        yk_message *message = NULL;
        yk_error code = yk_consumer_group_next(m->group, &message);
        if (code == YK_ERROR_CONSUMER_TIMEOUT)
            continue;
        if (!CHECKF(code == YK_ERROR_OK, "next: %s: %s", yk_error_name(code), yk_last_error_message()))
            break;
        size_t len = 0;
        const uint8_t *value = yk_message_value(message, &len);
        count_message(m, yk_message_partition(message), value, len);
        if (m->generic_task_done)
            EXPECT_OK(yk_task_done(message));
        else
            EXPECT_OK(yk_consumer_group_task_done(m->group, message));
        yk_message_free(m->kept);
        m->kept = message;
    }
    return NULL;
}

static int held_count(struct member *m)
{
    int n = 0;
    for (int p = 0; p < PARTITIONS; p++)
        n += atomic_load(&m->held[p]);
    return n;
}

static bool wait_for_all(struct member *m, double seconds)
{
    double deadline = now_seconds() + seconds;
    while (now_seconds() < deadline) {
        if (held_count(m) == PARTITIONS)
            return true;
        sleep_ms(20);
    }
    return false;
}

static void test_two_members_split_and_consume(void)
{
    group_begin("group: two members in one process");
    static struct member a, b;
    yk_consumer_config *config_a = group_config(&a);
    yk_consumer_config *config_b = group_config(&b);
    metrics = (struct metrics_seen){0};
    yk_metrics_responder responder = {&metrics, get_emitter, get_emitter, record, free_emitter};
    EXPECT_OK(yk_consumer_group_new(TOPICS, 1, config_a, &responder, &a.group));
    EXPECT_OK(yk_consumer_group_new(TOPICS, 1, config_b, NULL, &b.group));
    yk_consumer_config_free(config_a);
    yk_consumer_config_free(config_b);
    CHECK(atomic_load(&metrics.emitters) == 10);
    CHECK(atomic_load(&metrics.names_ok) == 10);
    CHECK(atomic_load(&metrics.dimensions_ok) == 10);
    char pid[32];
    snprintf(pid, sizeof pid, "-%ld-", (long)getpid());
    CHECK(contains(yk_consumer_group_identifier(a.group), pid));
    CHECK(!str_eq(yk_consumer_group_identifier(a.group), yk_consumer_group_identifier(b.group)));

    a.caller = pthread_self();
    /* a takes its messages in batches, b one at a time. */
    EXPECT_OK(yk_message_batch_new(16, &a.batch));
    /* A start that times out (the cooldown is 0.5 s) can be waited on again. */
    EXPECT_CODE(yk_consumer_group_start(a.group, 0), YK_ERROR_TIMED_OUT, "yk_consumer_group_start", "no allocation",
                NULL);
    EXPECT_OK(yk_consumer_group_wait_assignment(a.group, 20000));
    EXPECT_OK(yk_consumer_group_start(a.group, 0)); /* holds it already */
    CHECKF(held_count(&a) == PARTITIONS, "a holds %d", held_count(&a));
    CHECK(atomic_load(&a.reentrant_seen) == 1);
    atomic_store(&a.running, true);
    pthread_create(&a.thread, NULL, member_loop, &a);

    /* The second member joins: the first gives partitions up, then both allocate. */
    b.caller = pthread_self();
    /* b marks its messages through yk_task_done: had they not counted, a
     * would read them again after b leaves, and the check for messages
     * consumed twice below would fail. */
    b.generic_task_done = true;
    yk_error started = yk_consumer_group_start(b.group, 20000);
    CHECKF(started == YK_ERROR_OK, "b start: %s: %s", yk_error_name(started), yk_last_error_message());
    atomic_store(&b.running, true);
    pthread_create(&b.thread, NULL, member_loop, &b);
    double deadline = now_seconds() + 20;
    while (now_seconds() < deadline && held_count(&a) + held_count(&b) != PARTITIONS)
        sleep_ms(20);
    CHECKF(held_count(&a) + held_count(&b) == PARTITIONS && held_count(&a) >= 1 && held_count(&b) >= 1,
           "split %d + %d", held_count(&a), held_count(&b));
    for (int p = 0; p < PARTITIONS; p++)
        CHECKF(atomic_load(&a.held[p]) + atomic_load(&b.held[p]) == 1, "partition %d held %d times", p,
               atomic_load(&a.held[p]) + atomic_load(&b.held[p]));
    CHECK(atomic_load(&a.releases) >= 1);

    /* Messages written now are each consumed once, by the partition's holder. */
    yk_cluster_config *cluster = NULL;
    yk_producer *producer = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka1, "", &cluster));
    EXPECT_OK(yk_producer_new(cluster, NULL, NULL, &producer));
    for (int i = 0; i < MESSAGES; i++) {
        char text[32];
        int len = snprintf(text, sizeof text, "group-c-%d", i);
        yk_bytes value = {(const uint8_t *)text, (size_t)len};
        EXPECT_OK(yk_producer_send_messages(producer, "mytopic", &value, 1, NULL));
    }
    yk_producer_free(producer);
    yk_cluster_config_free(cluster);
    deadline = now_seconds() + 20;
    int total = 0;
    while (now_seconds() < deadline) {
        total = 0;
        for (int i = 0; i < MESSAGES; i++)
            total += atomic_load(&a.consumed[i]) + atomic_load(&b.consumed[i]) > 0;
        if (total == MESSAGES)
            break;
        sleep_ms(20);
    }
    CHECKF(total == MESSAGES, "consumed %d of %d", total, MESSAGES);
    sleep_ms(300);
    for (int i = 0; i < MESSAGES; i++)
        CHECKF(atomic_load(&a.consumed[i]) + atomic_load(&b.consumed[i]) == 1, "message %d consumed %d times", i,
               atomic_load(&a.consumed[i]) + atomic_load(&b.consumed[i]));
    CHECK(atomic_load(&a.overlap) == 0 && atomic_load(&b.overlap) == 0);

    /* A wakeup from this thread ends a's wait, once. */
    EXPECT_OK(yk_consumer_group_wakeup(a.group));
    deadline = now_seconds() + 2;
    while (now_seconds() < deadline && atomic_load(&a.woken) == 0)
        sleep_ms(5);
    CHECKF(atomic_load(&a.woken) == 1, "a woken %d times", atomic_load(&a.woken));

    /* b leaves: a takes everything. */
    atomic_store(&b.running, false);
    pthread_join(b.thread, NULL);
    b.caller = pthread_self();
    EXPECT_OK(yk_consumer_group_stop(b.group, 10000));
    CHECK(held_count(&b) == 0);
    CHECKF(wait_for_all(&a, 10), "a holds %d after b left", held_count(&a));
    EXPECT_CODE(yk_consumer_group_commit(b.group), YK_ERROR_CLOSED_HANDLE, "yk_consumer_group_commit", "stopped",
                NULL);
    /* A message outlives its group: stopped, then freed, is a clear error. */
    CHECK(b.kept != NULL);
    if (b.kept)
        EXPECT_CODE(yk_task_done(b.kept), YK_ERROR_CLOSED_HANDLE, "yk_task_done", "stopped", NULL);

    atomic_store(&a.running, false);
    pthread_join(a.thread, NULL);
    a.caller = pthread_self();
    EXPECT_OK(yk_consumer_group_commit(a.group));
    EXPECT_OK(yk_consumer_group_stop(a.group, 10000));
    EXPECT_OK(yk_consumer_group_stop(a.group, 10000));
    CHECK(atomic_load(&a.wrong_thread) == 0 && atomic_load(&b.wrong_thread) == 0);
    CHECKF(atomic_load(&metrics.records) >= 3, "records %d", atomic_load(&metrics.records));
    CHECKF(atomic_load(&metrics.fetch_records) >= 1, "fetch_request_timer records %d",
           atomic_load(&metrics.fetch_records));
    CHECK(atomic_load(&metrics.freed) == 10);
    yk_consumer_group_free(a.group);
    yk_consumer_group_free(b.group);
    if (b.kept) {
        EXPECT_CODE(yk_task_done(b.kept), YK_ERROR_CLOSED_HANDLE, "yk_task_done", "freed", NULL);
        CHECK(yk_message_offset(b.kept) >= 0);
    }
    EXPECT_CODE(yk_task_done(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_task_done", "message", NULL);
    yk_message_free(a.kept);
    yk_message_free(b.kept);
    yk_message_batch_free(a.batch);
    group_end();
}

int main(void)
{
    group_begin("group: local cluster");
    kafka1 = getenv("YK_KAFKA1");
    const char *zk = getenv("YK_ZOOKEEPER");
    bool ready = CHECKF(kafka1 && *kafka1 && zk && *zk, "YK_KAFKA1 and YK_ZOOKEEPER must name scripts/cluster.sh's");
    char run_id[64];
    snprintf(run_id, sizeof run_id, "%ld-%ld", (long)getpid(), (long)time(NULL));
    snprintf(group_id, sizeof group_id, "c-group-%s", run_id);
    /* A chroot that does not exist yet: the partitioner creates it. */
    if (ready)
        snprintf(zookeeper, sizeof zookeeper, "%s/yk-group-test-%s", zk, run_id);
    group_end();
    if (ready) {
        test_bad_arguments();
        test_two_members_split_and_consume();
    }
    return checks_summary();
}
