/*
 * tests-c/worker_group_test.c: the callback-style group and the
 * multiprocessing group in C, against the local cluster (Kafka in
 * $YK_KAFKA1, ZooKeeper in $YK_ZOOKEEPER), linked statically under ASan.
 *
 * Checks: every export rejects NULL and bad arguments with a code and a
 * message naming them, out-parameters untouched on failure; a callback
 * group processes every message and can be stopped from its own callback;
 * a failing callback stops it with YK_ERROR_PROCESS_MESSAGE carrying the
 * callback's text; a thread-mode multiprocessing group runs one worker per
 * partition through initialize/process/dispose, lists them, and stops.
 * Prints "N passed, M failed" last.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"
#include "group_fixtures.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define MESSAGES 20

static const char *kafka1;
static char zookeeper[256];
static char topic[96];
static char run_id[64];

static yk_consumer_config *config_for(const char *group)
{
    char group_id[160];
    snprintf(group_id, sizeof group_id, "%s-%s", group, run_id);
    yk_consumer_config *config = group_config(kafka1, zookeeper, group_id);
    EXPECT_OK(yk_consumer_config_set(config, "partitioner_cooldown", "0.5"));
    EXPECT_OK(yk_consumer_config_set(config, "max_termination_timeout_secs", "2"));
    return config;
}

static int32_t never_called(void *opaque, const yk_message *message, char *error, size_t error_size)
{
    (void)opaque, (void)message, (void)error, (void)error_size;
    return 0;
}

static void *initialize_nothing(void *opaque, const char *t, int32_t partition)
{
    (void)t, (void)partition;
    return opaque;
}

static int32_t process_nothing(void *opaque, void *worker, const yk_message *message, char *error, size_t size)
{
    (void)opaque, (void)worker, (void)message, (void)error, (void)size;
    return 0;
}

static void test_bad_arguments(void)
{
    group_begin("worker groups: bad arguments");
    yk_consumer_config *config = config_for("bad");
    const char *topics[] = {topic};
    yk_callback_group *callback_out = SENTINEL;
    yk_multiprocessing_group *mp_out = SENTINEL;
    yk_worker_list *list_out = SENTINEL;
    yk_consumer *consumer_out = SENTINEL;
    yk_worker_callbacks callbacks = {NULL, initialize_nothing, process_nothing, NULL};
    yk_worker_callbacks incomplete = {NULL, NULL, process_nothing, NULL};
    const char *argv[] = {"/bin/true"};

    EXPECT_CODE(yk_callback_group_new(NULL, 1, config, NULL, never_called, NULL, &callback_out),
                YK_ERROR_INVALID_ARGUMENT, "yk_callback_group_new", "topics", NULL);
    EXPECT_CODE(yk_callback_group_new(topics, 1, NULL, NULL, never_called, NULL, &callback_out),
                YK_ERROR_INVALID_ARGUMENT, "yk_callback_group_new", "config", NULL);
    EXPECT_CODE(yk_callback_group_new(topics, 1, config, NULL, NULL, NULL, &callback_out), YK_ERROR_INVALID_ARGUMENT,
                "yk_callback_group_new", "process", NULL);
    EXPECT_CODE(yk_callback_group_new(topics, 0, config, NULL, never_called, NULL, &callback_out),
                YK_ERROR_INVALID_ARGUMENT, "yk_callback_group_new", "topic", NULL);
    EXPECT_CODE(yk_callback_group_new(topics, 1, config, NULL, never_called, NULL, NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_callback_group_new", "out", NULL);
    CHECK(callback_out == SENTINEL);
    EXPECT_CODE(yk_callback_group_run(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_callback_group_run", "group", NULL);
    EXPECT_CODE(yk_callback_group_stop(NULL, 0), YK_ERROR_INVALID_ARGUMENT, "yk_callback_group_stop", "group", NULL);
    yk_callback_group_free(NULL);

    EXPECT_CODE(yk_multiprocessing_group_new_threads(topics, 1, config, NULL, &mp_out), YK_ERROR_INVALID_ARGUMENT,
                "yk_multiprocessing_group_new_threads", "callbacks", NULL);
    EXPECT_CODE(yk_multiprocessing_group_new_threads(topics, 1, config, &incomplete, &mp_out),
                YK_ERROR_INVALID_ARGUMENT, "yk_multiprocessing_group_new_threads", "initialize", NULL);
    EXPECT_CODE(yk_multiprocessing_group_new_threads(topics, 1, NULL, &callbacks, &mp_out), YK_ERROR_INVALID_ARGUMENT,
                "yk_multiprocessing_group_new_threads", "config", NULL);
    EXPECT_CODE(yk_multiprocessing_group_new_threads(topics, 1, config, &callbacks, NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_multiprocessing_group_new_threads", "out", NULL);
    EXPECT_CODE(yk_multiprocessing_group_new_processes(topics, 1, config, NULL, 1, &mp_out),
                YK_ERROR_INVALID_ARGUMENT, "yk_multiprocessing_group_new_processes", "argv", NULL);
    EXPECT_CODE(yk_multiprocessing_group_new_processes(topics, 1, config, argv, 0, &mp_out),
                YK_ERROR_INVALID_ARGUMENT, "yk_multiprocessing_group_new_processes", "command", NULL);
    EXPECT_CODE(yk_multiprocessing_group_new_processes(topics, 1, config, (const char *const[]){BAD_UTF8}, 1, &mp_out),
                YK_ERROR_INVALID_ARGUMENT, "yk_multiprocessing_group_new_processes", "argv[0]", "UTF-8");
    CHECK(mp_out == SENTINEL);
    EXPECT_CODE(yk_multiprocessing_group_start(NULL), YK_ERROR_INVALID_ARGUMENT, "yk_multiprocessing_group_start",
                "group", NULL);
    EXPECT_CODE(yk_multiprocessing_group_stop(NULL, 0), YK_ERROR_INVALID_ARGUMENT, "yk_multiprocessing_group_stop",
                "group", NULL);
    EXPECT_CODE(yk_multiprocessing_group_consumers(NULL, &list_out), YK_ERROR_INVALID_ARGUMENT,
                "yk_multiprocessing_group_consumers", "group", NULL);
    CHECK(list_out == SENTINEL);
    yk_multiprocessing_group_free(NULL);

    EXPECT_CODE(yk_multiprocessing_worker_consumer(&consumer_out), YK_ERROR_CONFIGURATION,
                "yk_multiprocessing_worker_consumer", "YK_WORKER_", NULL);
    EXPECT_CODE(yk_multiprocessing_worker_consumer(NULL), YK_ERROR_INVALID_ARGUMENT,
                "yk_multiprocessing_worker_consumer", "out", NULL);
    CHECK(consumer_out == SENTINEL);

    EXPECT_ZERO(yk_worker_list_count(NULL), "yk_worker_list_count", "list", NULL);
    EXPECT_NULL(yk_worker_list_topic(NULL, 0), "yk_worker_list_topic", "list", NULL);
    CHECK(yk_worker_list_partition(NULL, 0) == -1);
    CHECK(yk_worker_list_restarts(NULL, 0) == -1);
    CHECK(yk_worker_list_pid(NULL, 0) == -1);
    yk_worker_list_free(NULL);
    yk_consumer_config_free(config);
    group_end();
}

struct counting {
    yk_callback_group *group;
    atomic_int seen;
    int fail_at;
    int stop_at;
    yk_error stop_code;
};

static int32_t count_messages(void *opaque, const yk_message *message, char *error, size_t error_size)
{
    struct counting *c = opaque;
    int seen = atomic_fetch_add(&c->seen, 1) + 1;
    if (yk_message_offset(message) < 0)
        return 2;
    if (!message_has_seq_header(message)) {
        snprintf(error, error_size, "message %d lacks its seq header", seen);
        return 3;
    }
    if (seen == c->fail_at) {
        snprintf(error, error_size, "bad message %d", seen);
        return 1;
    }
    if (seen == c->stop_at)
        c->stop_code = yk_callback_group_stop(c->group, 0);
    return 0;
}

static void test_callback_group(void)
{
    group_begin("callback group");
    const char *topics[] = {topic};
    yk_consumer_config *config = config_for("callbacks");
    struct counting counting = {.fail_at = -1, .stop_at = MESSAGES, .stop_code = YK_ERROR_INTERNAL};
    EXPECT_OK(yk_callback_group_new(topics, 1, config, NULL, count_messages, &counting, &counting.group));
    yk_consumer_config_free(config);
    EXPECT_OK(yk_callback_group_run(counting.group));
    CHECKF(atomic_load(&counting.seen) == MESSAGES, "processed %d", atomic_load(&counting.seen));
    CHECK(counting.stop_code == YK_ERROR_OK);
    EXPECT_CODE(yk_callback_group_stop(counting.group, -1), YK_ERROR_INVALID_ARGUMENT, "yk_callback_group_stop",
                "timeout_ms", NULL);
    EXPECT_OK(yk_callback_group_stop(counting.group, 1000));
    yk_callback_group_free(counting.group);

    /* A stop before run is that run's stop: run returns OK at once and
     * never joins. The ZooKeeper here answers nobody, so a run that tried
     * to join would fail instead. */
    char group_id[160];
    snprintf(group_id, sizeof group_id, "stopped-first-%s", run_id);
    config = group_config(kafka1, "127.0.0.1:1", group_id);
    struct counting stopped = {.fail_at = -1, .stop_at = -1};
    EXPECT_OK(yk_callback_group_new(topics, 1, config, NULL, count_messages, &stopped, &stopped.group));
    yk_consumer_config_free(config);
    EXPECT_OK(yk_callback_group_stop(stopped.group, 0));
    EXPECT_OK(yk_callback_group_run(stopped.group));
    CHECK(atomic_load(&stopped.seen) == 0);
    yk_callback_group_free(stopped.group);

    config = config_for("failing");
    struct counting failing = {.fail_at = 3, .stop_at = -1};
    EXPECT_OK(yk_callback_group_new(topics, 1, config, NULL, count_messages, &failing, &failing.group));
    yk_consumer_config_free(config);
    EXPECT_CODE(yk_callback_group_run(failing.group), YK_ERROR_PROCESS_MESSAGE, "yk_callback_group_run",
                "bad message 3", NULL);
    yk_callback_group_free(failing.group);
    group_end();
}

struct workers {
    atomic_int initialized;
    atomic_int processed;
    atomic_int disposed;
};

struct worker_state {
    struct workers *all;
    int32_t partition;
};

static void *initialize_worker(void *opaque, const char *t, int32_t partition)
{
    struct workers *all = opaque;
    if (!str_eq(t, topic))
        return NULL;
    struct worker_state *state = malloc(sizeof *state);
    state->all = all;
    state->partition = partition;
    atomic_fetch_add(&all->initialized, 1);
    return state;
}

static int32_t process_worker(void *opaque, void *worker, const yk_message *message, char *error, size_t size)
{
    (void)opaque, (void)error, (void)size;
    struct worker_state *state = worker;
    if (yk_message_partition(message) != state->partition || !message_has_seq_header(message))
        return 1;
    atomic_fetch_add(&state->all->processed, 1);
    return 0;
}

static void dispose_worker(void *opaque, void *worker)
{
    struct workers *all = opaque;
    atomic_fetch_add(&all->disposed, 1);
    free(worker);
}

static void *start_group(void *group)
{
    return (void *)(intptr_t)yk_multiprocessing_group_start(group);
}

static void test_multiprocessing_threads(void)
{
    group_begin("multiprocessing group: threads");
    const char *topics[] = {topic};
    struct workers all = {0};
    yk_worker_callbacks callbacks = {&all, initialize_worker, process_worker, dispose_worker};
    yk_consumer_config *config = config_for("threads");
    yk_multiprocessing_group *group = NULL;
    EXPECT_OK(yk_multiprocessing_group_new_threads(topics, 1, config, &callbacks, &group));
    yk_consumer_config_free(config);
    pthread_t runner;
    pthread_create(&runner, NULL, start_group, group);
    double deadline = now_seconds() + 60;
    while (atomic_load(&all.processed) < MESSAGES && now_seconds() < deadline)
        sleep_ms(20);
    CHECKF(atomic_load(&all.processed) == MESSAGES, "processed %d", atomic_load(&all.processed));

    yk_worker_list *list = NULL;
    EXPECT_OK(yk_multiprocessing_group_consumers(group, &list));
    size_t count = yk_worker_list_count(list);
    CHECKF(count == 4, "%zu workers for 4 partitions", count);
    for (size_t i = 0; i < count; i++) {
        CHECK(str_eq(yk_worker_list_topic(list, i), topic));
        CHECK(yk_worker_list_partition(list, i) == (int32_t)i);
        CHECK(yk_worker_list_restarts(list, i) == 0);
        CHECK(yk_worker_list_pid(list, i) == 0);
    }
    EXPECT_NULL(yk_worker_list_topic(list, count), "yk_worker_list_topic", "out of range", NULL);
    yk_worker_list_free(list);

    EXPECT_OK(yk_multiprocessing_group_stop(group, 20000));
    void *result = NULL;
    pthread_join(runner, &result);
    CHECK((yk_error)(intptr_t)result == YK_ERROR_OK);
    CHECKF(atomic_load(&all.disposed) == atomic_load(&all.initialized), "every initialized worker was disposed");
    yk_multiprocessing_group_free(group);

    /* Stopped before start: start returns OK at once, joins nothing (its
     * ZooKeeper answers nobody) and starts no worker. */
    char group_id[160];
    snprintf(group_id, sizeof group_id, "threads-stopped-first-%s", run_id);
    config = group_config(kafka1, "127.0.0.1:1", group_id);
    struct workers none = {0};
    yk_worker_callbacks unused = {&none, initialize_worker, process_worker, dispose_worker};
    EXPECT_OK(yk_multiprocessing_group_new_threads(topics, 1, config, &unused, &group));
    yk_consumer_config_free(config);
    EXPECT_OK(yk_multiprocessing_group_stop(group, 0));
    EXPECT_OK(yk_multiprocessing_group_start(group));
    CHECK(atomic_load(&none.initialized) == 0);
    yk_multiprocessing_group_free(group);
    group_end();
}

int main(void)
{
    group_begin("worker groups: local cluster");
    bool ready = local_cluster("workers", &kafka1, zookeeper, sizeof zookeeper, topic, sizeof topic, run_id,
                               sizeof run_id, MESSAGES);
    group_end();
    if (ready) {
        test_bad_arguments();
        test_callback_group();
        test_multiprocessing_threads();
    }
    return checks_summary();
}
