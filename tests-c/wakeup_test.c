/*
 * tests-c/wakeup_test.c: the wakeups of docs/c-abi.md ("Wakeups") end the
 * calls that wait for a broker that is down, on the local cluster
 * (scripts/cluster.sh; $YK_KAFKA1, $YK_ZOOKEEPER, $YK_CLUSTER_SH).
 *
 * Checks: a synchronous send (plain, keyed, with headers) to a partition
 * whose leader is down, and a commit whose coordinator is down, return
 * YK_ERROR_WOKEN_UP within 100 ms of a wakeup asked from another thread
 * and from a signal handler running on the blocked thread; the offsets
 * out-parameter is left alone; once the broker is back, the same handle
 * sends and commits again. Broker 3 of cluster 1 is down only inside
 * these checks and is brought back up before the program ends. Prints
 * "N passed, M failed" last.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* The broker taken down: the leader of the test's partition and the
 * coordinator of its group. */
#define DOWN_BROKER "3"

/* How long after its start a blocked call is woken, and how much later
 * than that it may return. */
static const long WAKE_AFTER_MS = 200;
static const double WAKE_SLACK_S = 0.1;

static const char *kafka1;
static char run_id[64];

/* What the SIGUSR1 handler wakes. */
static yk_producer *volatile signalled_producer;
static yk_consumer *volatile signalled_consumer;

static void wake_from_signal(int signal)
{
    (void)signal;
    if (signalled_producer)
        yk_producer_wakeup(signalled_producer);
    if (signalled_consumer)
        yk_consumer_wakeup(signalled_consumer);
}

/* A wakeup asked WAKE_AFTER_MS after the start: by a thread calling the
 * handle's wakeup, or by SIGUSR1 sent to the blocked thread. */
struct later_wakeup {
    yk_producer *producer;
    yk_consumer *consumer;
    pthread_t blocked;
    bool by_signal;
    pthread_t thread;
};

static void *wake_later(void *arg)
{
    struct later_wakeup *wake = arg;
    sleep_ms(WAKE_AFTER_MS);
    if (wake->by_signal) {
        pthread_kill(wake->blocked, SIGUSR1);
    } else if (wake->producer) {
        yk_producer_wakeup(wake->producer);
    } else {
        yk_consumer_wakeup(wake->consumer);
    }
    return NULL;
}

static void wake_soon(struct later_wakeup *wake)
{
    wake->blocked = pthread_self();
    signalled_producer = wake->by_signal ? wake->producer : NULL;
    signalled_consumer = wake->by_signal ? wake->consumer : NULL;
    pthread_create(&wake->thread, NULL, wake_later, wake);
}

static void wait_for_waker(struct later_wakeup *wake)
{
    pthread_join(wake->thread, NULL);
    signalled_producer = NULL;
    signalled_consumer = NULL;
}

/* The call that started at `started` returned within the slack of its
 * wakeup. */
static void check_woken_in_time(double started, const char *what)
{
    double waited = now_seconds() - started;
    CHECKF(waited >= WAKE_AFTER_MS / 1000.0 - 0.01 && waited < WAKE_AFTER_MS / 1000.0 + WAKE_SLACK_S,
           "%s woken after %.3f s (wakeup at %.3f s)", what, waited, WAKE_AFTER_MS / 1000.0);
}

static void set_down(bool down)
{
    mock_command(down ? "down " DOWN_BROKER : "up " DOWN_BROKER);
}

static void test_sync_sends(const char *topic)
{
    group_begin("wakeup: synchronous sends to a leader that is down");
    yk_cluster_config *cluster = NULL;
    yk_config *config = NULL;
    yk_producer *producer = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka1, "", &cluster));
    EXPECT_OK(yk_config_new(&config));
    /* Retried for as long as the checks take, never failed by a count. */
    EXPECT_OK(yk_config_set(config, "retries", "1000000"));
    EXPECT_OK(yk_producer_new(cluster, config, NULL, &producer));
    yk_config_free(config);
    yk_cluster_config_free(cluster);

    yk_bytes value = {(const uint8_t *)"before", 6};
    int64_t first = -1;
    EXPECT_OK(yk_producer_send_messages(producer, topic, &value, 1, &first));
    CHECKF(first >= 0, "offset %lld", (long long)first);

    set_down(true);
    for (int by_signal = 0; by_signal <= 1; by_signal++) {
        const char *how = by_signal ? "by a signal handler" : "by another thread";
        struct later_wakeup wake = {.producer = producer, .by_signal = by_signal};

        /* The values live on this stack frame only during the call. */
        uint8_t bytes[2][16];
        memcpy(bytes[0], "while-down-0", 12);
        memcpy(bytes[1], "while-down-1", 12);
        yk_bytes values[2] = {{bytes[0], 12}, {bytes[1], 12}};
        int64_t offsets[2] = {-7, -7};
        double started = now_seconds();
        wake_soon(&wake);
        EXPECT_CODE(yk_producer_send_messages(producer, topic, values, 2, offsets), YK_ERROR_WOKEN_UP,
                    "yk_producer_send_messages", "wakeup", NULL);
        check_woken_in_time(started, by_signal ? "send_messages (signal)" : "send_messages (thread)");
        wait_for_waker(&wake);
        CHECKF(offsets[0] == -7 && offsets[1] == -7, "offsets written although woken (%s)", how);
        /* The library copied the values when it queued them: what the
         * consumer reads later (test_commit) is not this. */
        memset(bytes, 0xEE, sizeof bytes);

        started = now_seconds();
        wake_soon(&wake);
        EXPECT_CODE(yk_producer_send_keyed_messages(producer, topic, (const uint8_t *)"k", 1, values, 1, offsets),
                    YK_ERROR_WOKEN_UP, "yk_producer_send_keyed_messages", "wakeup", NULL);
        check_woken_in_time(started, "send_keyed_messages");
        wait_for_waker(&wake);

        yk_header header = {"h", 1, (const uint8_t *)"v", 1};
        started = now_seconds();
        wake_soon(&wake);
        EXPECT_CODE(yk_producer_send_with_headers(producer, topic, 0, NULL, 0, (const uint8_t *)"hv", 2, &header, 1,
                                                  offsets),
                    YK_ERROR_WOKEN_UP, "yk_producer_send_with_headers", "wakeup", NULL);
        check_woken_in_time(started, "send_with_headers");
        wait_for_waker(&wake);
    }
    set_down(false);

    /* The same producer sends again once the leader is back; what the
     * woken sends had queued is delivered before it (one partition). */
    int64_t after = -1;
    value = (yk_bytes){(const uint8_t *)"after", 5};
    EXPECT_OK(yk_producer_send_messages(producer, topic, &value, 1, &after));
    CHECKF(after == first + 9, "offset after the outage %lld, first %lld", (long long)after, (long long)first);
    EXPECT_OK(yk_producer_close(producer, 5000, NULL));
    yk_producer_free(producer);
    group_end();
}

static void test_commit(const char *topic)
{
    group_begin("wakeup: a commit to a coordinator that is down");
    char group[128];
    snprintf(group, sizeof group, "c-wakeup-commit-%s", run_id);
    char command[256];
    snprintf(command, sizeof command, "coordinator group %s " DOWN_BROKER, group);
    mock_command(command);

    yk_cluster_config *cluster = NULL;
    yk_consumer_config *config = NULL;
    yk_consumer *consumer = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka1, "", &cluster));
    EXPECT_OK(yk_consumer_config_new(group, cluster, &config));
    yk_cluster_config_free(cluster);
    /* Debian's librdkafka 2.0.2 mock mis-encodes ListOffsets v4/v5. */
    EXPECT_OK(yk_consumer_config_set(config, "api_version_caps", "ListOffsets:3"));
    EXPECT_OK(yk_consumer_config_set(config, "offset_storage", "kafka"));
    EXPECT_OK(yk_consumer_config_set(config, "auto_offset_reset", "smallest"));
    EXPECT_OK(yk_consumer_config_set(config, "auto_commit_enable", "false"));
    EXPECT_OK(yk_consumer_new_simple(config, topic, NULL, 0, &consumer));
    EXPECT_OK(yk_consumer_connect(consumer));
    yk_message *message = NULL;
    EXPECT_OK(yk_consumer_get_message(consumer, true, 10000, &message));
    if (message)
        EXPECT_OK(yk_consumer_task_done(consumer, message));

    set_down(true);
    for (int by_signal = 0; by_signal <= 1; by_signal++) {
        struct later_wakeup wake = {.consumer = consumer, .by_signal = by_signal};
        double started = now_seconds();
        wake_soon(&wake);
        EXPECT_CODE(yk_consumer_commit(consumer), YK_ERROR_WOKEN_UP, "yk_consumer_commit", "wakeup", NULL);
        check_woken_in_time(started, by_signal ? "commit (signal)" : "commit (thread)");
        wait_for_waker(&wake);

        if (message) {
            started = now_seconds();
            wake_soon(&wake);
            EXPECT_CODE(yk_consumer_commit_message(consumer, message), YK_ERROR_WOKEN_UP,
                        "yk_consumer_commit_message", "wakeup", NULL);
            check_woken_in_time(started, "commit_message");
            wait_for_waker(&wake);
        }

        yk_topic_partition partition = {topic, 0};
        started = now_seconds();
        wake_soon(&wake);
        EXPECT_CODE(yk_consumer_commit_partitions(consumer, &partition, 1), YK_ERROR_WOKEN_UP,
                    "yk_consumer_commit_partitions", "wakeup", NULL);
        check_woken_in_time(started, "commit_partitions");
        wait_for_waker(&wake);
    }
    set_down(false);

    /* The same consumer commits once the coordinator is back. */
    EXPECT_OK(yk_consumer_commit(consumer));
    yk_message_free(message);
    /* The first send woken in test_sync_sends was delivered after all,
     * with the bytes it had when it was queued. */
    message = NULL;
    EXPECT_OK(yk_consumer_get_message(consumer, true, 10000, &message));
    size_t len = 0;
    const uint8_t *value = message ? yk_message_value(message, &len) : NULL;
    CHECKF(value && len == 12 && memcmp(value, "while-down-0", 12) == 0, "the woken send's first message: %.*s",
           (int)len, value ? (const char *)value : "");
    yk_message_free(message);
    EXPECT_OK(yk_consumer_close(consumer));
    yk_consumer_free(consumer);
    yk_consumer_config_free(config);
    group_end();
}

int main(void)
{
    start_watchdog("wakeup_test");
    group_begin("wakeup: local cluster");
    kafka1 = getenv("YK_KAFKA1");
    bool ready = CHECKF(kafka1 && *kafka1, "YK_KAFKA1 must name scripts/cluster.sh's");
    snprintf(run_id, sizeof run_id, "%ld-%ld", (long)getpid(), (long)time(NULL));
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = wake_from_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGUSR1, &action, NULL);
    group_end();
    if (ready) {
        char topic[128], command[256];
        snprintf(topic, sizeof topic, "c-wakeup-%s", run_id);
        create_topic(topic, 1);
        snprintf(command, sizeof command, "leader %s 0 " DOWN_BROKER, topic);
        mock_command(command);
        test_sync_sends(topic);
        test_commit(topic);
        /* Whatever failed above, the shared cluster gets its broker back. */
        set_down(false);
    }
    return checks_summary();
}
