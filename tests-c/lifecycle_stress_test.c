/*
 * tests-c/lifecycle_stress_test.c: issue 12's lifecycle stress test. Runs
 * every handle kind through create, start/connect, use, stop/close and
 * free many times, with closes and stops racing calls that block on other
 * threads, against the local cluster (Kafka in $YK_KAFKA1, ZooKeeper in
 * $YK_ZOOKEEPER), linked statically under ASan + UBSan so that a callback
 * or pointer use after a handle is gone shows as a report, not luck.
 *
 * The contracts asserted (docs/c-abi.md, "Names and handles" and
 * "Threading and callbacks"):
 * - at each _free return every emitter created was freed (created ==
 *   freed), and no callback of the handle runs after it;
 * - every responder, delivery, rebalance and process callback runs on a
 *   thread that called into the library (the test marks its own calling
 *   threads); only thread workers run on library threads;
 * - after stop/close returns OK no library thread runs application code:
 *   no rebalance, process or worker callback starts afterwards, and every
 *   thread worker has been disposed; YK_ERROR_WORKERS_RUNNING, when a
 *   worker outlives max_termination_timeout_secs, and then _free waits;
 * - after a multiprocessing group's stop returns OK every worker process
 *   it started has ended and been reaped, one that ignores SIGTERM too;
 * - close is final: a thread blocked in yk_consumer_get_message, and
 *   yk_consumer_group_next / yk_producer_poll / yk_callback_group_run on
 *   another thread, return within a bound, and later calls are
 *   YK_ERROR_CLOSED_HANDLE; every produced message gets exactly one report.
 *
 * Each case runs until its share of the time budget (about 46 s in all) is
 * spent, at least MIN_ITERATIONS times, and prints its iteration count.
 * Prints "N passed, M failed" last.
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"
#include "group_fixtures.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define PARTITIONS 4
#define MESSAGES 16
#define MIN_ITERATIONS 3

static const char *kafka1;
static const char *zk_hosts;
static char topic[96];
static char run_id[64];

/* ------------------------------------------------------------------------ */
/* Who called into the library                                              */
/* ------------------------------------------------------------------------ */

/* Set on every thread of the test that calls into the library: callbacks
 * other than thread workers' must run on one of them (docs/c-abi.md,
 * "Callbacks run on a thread that called into the library"). Thread-local,
 * so a reused pthread_t of an ended test thread cannot pass for one. */
static _Thread_local bool calling_thread;

/* Counts a callback that ran on a library thread. */
static atomic_int wrong_thread;

static void on_caller_thread(void)
{
    if (!calling_thread)
        atomic_fetch_add(&wrong_thread, 1);
}

/* A test thread that calls into the library: runs body(helper), where
 * body finds its argument in helper->arg and leaves a code in result. */
struct helper {
    pthread_t thread;
    void (*body)(struct helper *);
    void *arg;
    atomic_bool returned;
    atomic_int result;
};

static void *helper_main(void *opaque)
{
    struct helper *h = opaque;
    calling_thread = true;
    h->body(h);
    atomic_store(&h->returned, true);
    return NULL;
}

static void helper_start(void (*body)(struct helper *), struct helper *h, void *arg)
{
    h->body = body;
    h->arg = arg;
    atomic_store(&h->returned, false);
    atomic_store(&h->result, -1);
    pthread_create(&h->thread, NULL, helper_main, h);
}

/* Waits up to `seconds` for the helper's call to return, then joins it (a
 * helper stuck past the bound is reported and still joined: every blocking
 * call of the test has a deadline of its own). */
static void helper_join(struct helper *h, double seconds, const char *what)
{
    double deadline = now_seconds() + seconds;
    while (!atomic_load(&h->returned) && now_seconds() < deadline)
        sleep_ms(5);
    CHECKF(atomic_load(&h->returned), "%s returned within %.0f s of the close", what, seconds);
    pthread_join(h->thread, NULL);
}

/* Waits up to `seconds` for `counter` to reach `at_least`; the callers
 * only use it to pick the moment of a stop, so it does not check. */
static void wait_until(atomic_int *counter, int at_least, double seconds)
{
    double deadline = now_seconds() + seconds;
    while (atomic_load(counter) < at_least && now_seconds() < deadline)
        sleep_ms(5);
}

/* ------------------------------------------------------------------------ */
/* A metrics responder that counts emitters                                 */
/* ------------------------------------------------------------------------ */

/* Static (one per case, reset each iteration), so that a callback arriving
 * after _free is counted instead of touching freed memory. */
struct meter {
    atomic_int created;
    atomic_int freed;
    atomic_int records;
    atomic_bool handle_freed;
    atomic_int after_free;
};

static void meter_reset(struct meter *m)
{
    atomic_store(&m->created, 0);
    atomic_store(&m->freed, 0);
    atomic_store(&m->records, 0);
    atomic_store(&m->handle_freed, false);
    atomic_store(&m->after_free, 0);
}

static void meter_touch(struct meter *m)
{
    on_caller_thread();
    if (atomic_load(&m->handle_freed))
        atomic_fetch_add(&m->after_free, 1);
}

static void *meter_emitter(void *opaque, const char *metric, const yk_dimension *dims, size_t count)
{
    (void)metric, (void)dims, (void)count;
    struct meter *m = opaque;
    meter_touch(m);
    /* Distinct non-NULL emitters, so a double free shows as freed > created. */
    return (void *)(uintptr_t)(atomic_fetch_add(&m->created, 1) + 1);
}

static void meter_record(void *opaque, void *emitter, double value, int64_t timestamp_ms)
{
    (void)emitter, (void)value, (void)timestamp_ms;
    struct meter *m = opaque;
    meter_touch(m);
    atomic_fetch_add(&m->records, 1);
}

static void meter_free_emitter(void *opaque, void *emitter)
{
    (void)emitter;
    struct meter *m = opaque;
    meter_touch(m);
    atomic_fetch_add(&m->freed, 1);
}

static yk_metrics_responder responder_of(struct meter *m)
{
    meter_reset(m);
    return (yk_metrics_responder){m, meter_emitter, meter_emitter, meter_record, meter_free_emitter};
}

/* Right after a _free returned: every emitter is back (docs/c-abi.md: "What
 * it must finish first — freeing a group's metrics emitters ... happens
 * inside _free"); from now on any callback is counted as late. */
static void meter_after_free(struct meter *m, const char *what, int iteration)
{
    int created = atomic_load(&m->created), freed = atomic_load(&m->freed);
    atomic_store(&m->handle_freed, true);
    CHECKF(created > 0 && freed == created, "%s %d: %d of %d emitters freed when _free returned", what, iteration,
           freed, created);
}

/* At the end of a case: nothing ran after any _free. The last iteration's
 * late callbacks are caught too: the next case or exit comes after it. */
static void meter_check_late(struct meter *m, const char *what)
{
    CHECKF(atomic_load(&m->after_free) == 0, "%s: %d responder callbacks after _free", what,
           atomic_load(&m->after_free));
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */
/* ------------------------------------------------------------------------ */

/* A cluster under a ZooKeeper chroot of its own per iteration, so no
 * iteration meets another's party or locks. */
static yk_cluster_config *cluster_for(const char *kind, int iteration)
{
    char zookeeper[320];
    snprintf(zookeeper, sizeof zookeeper, "%s/yk-stress-%s-%s-%d", zk_hosts, run_id, kind, iteration);
    yk_cluster_config *cluster = NULL;
    EXPECT_OK(yk_cluster_config_new("standard", "cluster1", kafka1, zookeeper, &cluster));
    return cluster;
}

/* Short timeouts (docs/configuration.md) so an iteration takes well under
 * a second: allocation after a 50 ms cooldown, 1 s for thread workers to
 * stop, 50 ms consumer waits. */
static yk_consumer_config *config_for(const char *kind, int iteration)
{
    char zookeeper[320];
    snprintf(zookeeper, sizeof zookeeper, "%s/yk-stress-%s-%s-%d", zk_hosts, run_id, kind, iteration);
    char group_id[160];
    snprintf(group_id, sizeof group_id, "stress-%s-%s-%d", kind, run_id, iteration);
    yk_consumer_config *config = group_config(kafka1, zookeeper, group_id);
    EXPECT_OK(yk_consumer_config_set(config, "partitioner_cooldown", "0.05"));
    EXPECT_OK(yk_consumer_config_set(config, "max_termination_timeout_secs", "1"));
    EXPECT_OK(yk_consumer_config_set(config, "consumer_timeout_ms", "50"));
    EXPECT_OK(yk_consumer_config_set(config, "request_timeout_ms", "5000"));
    return config;
}

static void produce_messages(void)
{
    produce_numbered(kafka1, topic, "s", MESSAGES);
}

/* Each case gets its share of the budget; `deadline` ends its loop. */
static bool keep_going(int iteration, double deadline)
{
    return iteration < MIN_ITERATIONS || now_seconds() < deadline;
}

/* ------------------------------------------------------------------------ */
/* Producer: close or flush racing a poll on another thread, or free        */
/* ------------------------------------------------------------------------ */

#define PRODUCED 8

static struct meter producer_meter;
static atomic_int reports[PRODUCED];
static atomic_int reports_after_free;
static atomic_bool producer_freed;

static void on_delivery(void *opaque, const yk_delivery_report *report)
{
    (void)opaque;
    on_caller_thread();
    if (atomic_load(&producer_freed))
        atomic_fetch_add(&reports_after_free, 1);
    uintptr_t index = (uintptr_t)report->message_opaque;
    if (index < PRODUCED)
        atomic_fetch_add(&reports[index], 1);
}

/* Polls until the producer is closed. Bounded polls: a yk_producer_poll(-1)
 * already waiting when yk_producer_close runs is not woken by it and waits
 * forever for a report that cannot come (docs/c-abi.md promises the wake-up
 * only for yk_consumer_get_message; reported with issue 12). */
static void poll_until_closed(struct helper *h)
{
    yk_producer *producer = h->arg;
    yk_error code = YK_ERROR_OK;
    double deadline = now_seconds() + 20;
    while (code != YK_ERROR_CLOSED_HANDLE && now_seconds() < deadline)
        code = yk_producer_poll(producer, 200, NULL);
    atomic_store(&h->result, (int)code);
}

static void test_producer(double seconds)
{
    group_begin("stress: producer");
    double deadline = now_seconds() + seconds;
    int iteration = 0;
    for (; keep_going(iteration, deadline); iteration++) {
        yk_metrics_responder responder = responder_of(&producer_meter);
        atomic_store(&producer_freed, false);
        for (int i = 0; i < PRODUCED; i++)
            atomic_store(&reports[i], 0);
        yk_cluster_config *cluster = cluster_for("producer", iteration);
        yk_config *config = NULL;
        EXPECT_OK(yk_config_new(&config));
        EXPECT_OK(yk_config_set(config, "linger_ms", "1"));
        yk_producer *producer = NULL;
        EXPECT_OK(yk_producer_new(cluster, config, &responder, &producer));
        yk_config_free(config);
        yk_cluster_config_free(cluster);
        EXPECT_OK(yk_producer_set_delivery_callback(producer, on_delivery, NULL));
        for (uintptr_t i = 0; i < PRODUCED; i++)
            EXPECT_OK(yk_producer_produce(producer, topic, -1, NULL, 0, (const uint8_t *)"v", 1, (void *)i, -1));

        int mode = iteration % 3;
        if (mode == 2) {
            /* Free without close: what is queued is dropped without
             * reports, inside _free (docs/c-abi.md). */
            yk_producer_free(producer);
            atomic_store(&producer_freed, true);
            meter_after_free(&producer_meter, "producer free", iteration);
            continue;
        }
        struct helper poller;
        helper_start(poll_until_closed, &poller, producer);
        /* Races the poller: sometimes before, sometimes after it served. */
        sleep_ms(iteration % 4);
        if (mode == 1)
            yk_producer_flush(producer, 5000);
        size_t undelivered = COUNT_SENTINEL;
        int closed = yk_producer_close(producer, 5000, &undelivered);
        CHECKF(closed == YK_ERROR_OK || closed == YK_ERROR_TIMED_OUT, "producer %d: close returned %d", iteration,
               closed);
        CHECKF((closed == YK_ERROR_OK) == (undelivered == 0), "producer %d: close returned %d with %zu undelivered",
               iteration, closed, undelivered);
        EXPECT_CODE(yk_producer_poll(producer, 0, NULL), YK_ERROR_CLOSED_HANDLE, "yk_producer_poll", "closed", NULL);
        helper_join(&poller, 5, "yk_producer_poll");
        CHECKF(atomic_load(&poller.result) == YK_ERROR_CLOSED_HANDLE, "producer %d: the poller ended with %d",
               iteration, atomic_load(&poller.result));
        /* Every message was reported once: by the poller, flush or close. */
        for (int i = 0; i < PRODUCED; i++)
            CHECKF(atomic_load(&reports[i]) == 1, "producer %d: message %d reported %d times", iteration, i,
                   atomic_load(&reports[i]));
        yk_producer_free(producer);
        atomic_store(&producer_freed, true);
        meter_after_free(&producer_meter, "producer", iteration);
    }
    meter_check_late(&producer_meter, "producer");
    CHECKF(atomic_load(&reports_after_free) == 0, "%d delivery reports after _free", atomic_load(&reports_after_free));
    printf("     producer: %d iterations\n", iteration);
    group_end();
}

/* ------------------------------------------------------------------------ */
/* Consumer: close racing connect and a blocked get_message                 */
/* ------------------------------------------------------------------------ */

struct consumer_run {
    yk_consumer *consumer;
    atomic_int messages;
};

static void get_until_closed(struct helper *h)
{
    struct consumer_run *run = h->arg;
    yk_error code;
    do {
        yk_message *message = NULL;
        /* Negative timeout: waits until a message or yk_consumer_close. */
        code = yk_consumer_get_message(run->consumer, true, -1, &message);
        if (code == YK_ERROR_OK) {
            atomic_fetch_add(&run->messages, 1);
            yk_message_free(message);
        }
    } while (code == YK_ERROR_OK);
    atomic_store(&h->result, (int)code);
}

static void connect_consumer(struct helper *h)
{
    struct consumer_run *run = h->arg;
    atomic_store(&h->result, (int)yk_consumer_connect(run->consumer));
}

static void test_consumer(double seconds)
{
    group_begin("stress: consumer");
    const char *topics[] = {topic};
    double deadline = now_seconds() + seconds;
    int iteration = 0;
    for (; keep_going(iteration, deadline); iteration++) {
        yk_consumer_config *config = config_for("consumer", iteration);
        struct consumer_run run = {0};
        if (iteration % 2 == 0)
            EXPECT_OK(yk_consumer_new_simple(config, topic, NULL, 0, &run.consumer));
        else
            EXPECT_OK(yk_consumer_new(config, topics, 1, &run.consumer));
        yk_consumer_config_free(config);
        struct helper helper;
        if (iteration % 4 == 3) {
            /* Close racing connect: close wins (docs/c-abi.md, "Close is
             * final"); connect either finished first or says CLOSED. */
            helper_start(connect_consumer, &helper, &run);
            sleep_ms(iteration % 7);
            yk_consumer_close(run.consumer);
            helper_join(&helper, 10, "yk_consumer_connect");
            int connected = atomic_load(&helper.result);
            CHECKF(connected == YK_ERROR_OK || connected == YK_ERROR_CLOSED_HANDLE,
                   "consumer %d: connect racing close returned %d", iteration, connected);
        } else {
            EXPECT_OK(yk_consumer_connect(run.consumer));
            helper_start(get_until_closed, &helper, &run);
            /* Mostly while the helper is blocked waiting, sometimes while it
             * is still taking the topic's messages. */
            sleep_ms(iteration % 2 ? 1 : 30);
            yk_consumer_close(run.consumer);
            helper_join(&helper, 10, "yk_consumer_get_message(-1)");
            CHECKF(atomic_load(&helper.result) == YK_ERROR_CLOSED_HANDLE,
                   "consumer %d: blocked get_message ended with %d", iteration, atomic_load(&helper.result));
        }
        yk_message *message = SENTINEL;
        EXPECT_CODE(yk_consumer_get_message(run.consumer, true, 10, &message), YK_ERROR_CLOSED_HANDLE,
                    "yk_consumer_get_message", NULL, NULL);
        CHECK(message == SENTINEL);
        yk_consumer_free(run.consumer);
    }
    printf("     consumer: %d iterations\n", iteration);
    group_end();
}

/* ------------------------------------------------------------------------ */
/* Consumer group: stop racing next on another thread, or free unstopped    */
/* ------------------------------------------------------------------------ */

/* Rebalance callbacks of the group or callback group under test. Static
 * for the same reason as the meters. */
struct rebalances {
    atomic_int acquired;
    atomic_int released;
    atomic_bool stopped;
    atomic_int after_stop;
};
static struct rebalances rebalances;

static void rebalance_touch(void)
{
    on_caller_thread();
    if (atomic_load(&rebalances.stopped))
        atomic_fetch_add(&rebalances.after_stop, 1);
}

static void on_release(void *opaque, const yk_topic_partition *partitions, size_t count)
{
    (void)opaque, (void)partitions, (void)count;
    rebalance_touch();
    atomic_fetch_add(&rebalances.released, 1);
}

static void on_acquire(void *opaque, const yk_topic_partition *partitions, size_t count)
{
    (void)opaque, (void)partitions, (void)count;
    rebalance_touch();
    atomic_fetch_add(&rebalances.acquired, 1);
}

static void rebalances_reset(yk_consumer_config *config)
{
    atomic_store(&rebalances.acquired, 0);
    atomic_store(&rebalances.released, 0);
    atomic_store(&rebalances.stopped, false);
    EXPECT_OK(yk_consumer_config_set_rebalance_callbacks(config, on_release, on_acquire, NULL));
}

static struct meter group_meter;

struct group_run {
    yk_consumer_group *group;
    atomic_int messages;
};

static void next_until_closed(struct helper *h)
{
    struct group_run *run = h->arg;
    yk_error code;
    double deadline = now_seconds() + 20;
    do {
        yk_message *message = NULL;
        code = yk_consumer_group_next(run->group, &message);
        if (code == YK_ERROR_OK) {
            atomic_fetch_add(&run->messages, 1);
            yk_consumer_group_task_done(run->group, message);
            yk_message_free(message);
        }
    } while ((code == YK_ERROR_OK || code == YK_ERROR_CONSUMER_TIMEOUT) && now_seconds() < deadline);
    atomic_store(&h->result, (int)code);
}

static void test_consumer_group(double seconds)
{
    group_begin("stress: consumer group");
    const char *topics[] = {topic};
    double deadline = now_seconds() + seconds;
    int iteration = 0;
    for (; keep_going(iteration, deadline); iteration++) {
        yk_metrics_responder responder = responder_of(&group_meter);
        yk_consumer_config *config = config_for("group", iteration);
        rebalances_reset(config);
        struct group_run run = {0};
        EXPECT_OK(yk_consumer_group_new(topics, 1, config, &responder, &run.group));
        yk_consumer_config_free(config);
        EXPECT_OK(yk_consumer_group_start(run.group, 10000));
        CHECKF(atomic_load(&rebalances.acquired) == 1, "group %d: %d acquisitions after start", iteration,
               atomic_load(&rebalances.acquired));
        if (iteration % 3 == 2) {
            /* Free without stop, right after start: every emitter comes
             * back inside _free (tests-c/lifecycle_test.c's case, many
             * more times). */
            yk_consumer_group_free(run.group);
            meter_after_free(&group_meter, "group free", iteration);
            continue;
        }
        struct helper helper;
        helper_start(next_until_closed, &helper, &run);
        sleep_ms(iteration % 2 ? 2 : 40);
        /* Stop from this thread while the helper is inside next: handles
         * are usable from several threads at once (docs/c-abi.md). */
        int stopped = yk_consumer_group_stop(run.group, 5000);
        atomic_store(&rebalances.stopped, true);
        CHECKF(stopped == YK_ERROR_OK, "group %d: stop returned %d: %s", iteration, stopped, yk_last_error_message());
        CHECKF(atomic_load(&rebalances.released) >= 1, "group %d: no pre-rebalance callback at stop", iteration);
        helper_join(&helper, 5, "yk_consumer_group_next");
        CHECKF(atomic_load(&helper.result) == YK_ERROR_CLOSED_HANDLE, "group %d: next ended with %d", iteration,
               atomic_load(&helper.result));
        yk_message *message = SENTINEL;
        EXPECT_CODE(yk_consumer_group_next(run.group, &message), YK_ERROR_CLOSED_HANDLE, "yk_consumer_group_next",
                    NULL, NULL);
        yk_consumer_group_free(run.group);
        meter_after_free(&group_meter, "group", iteration);
    }
    meter_check_late(&group_meter, "consumer group");
    CHECKF(atomic_load(&rebalances.after_stop) == 0, "%d rebalance callbacks began after stop returned",
           atomic_load(&rebalances.after_stop));
    printf("     consumer group: %d iterations\n", iteration);
    group_end();
}

/* ------------------------------------------------------------------------ */
/* Callback group: stop from another thread or from the process callback   */
/* ------------------------------------------------------------------------ */

static struct meter callback_meter;

struct callback_run {
    yk_callback_group *group;
    atomic_int processed;
    atomic_int after_stop;
    atomic_bool stopped;
    bool stop_from_callback;
    atomic_int stop_in_callback;
};
static struct callback_run callback_run;

static int32_t process_message(void *opaque, const yk_message *message, char *error, size_t size)
{
    (void)message, (void)error, (void)size;
    struct callback_run *run = opaque;
    on_caller_thread();
    if (atomic_load(&run->stopped))
        atomic_fetch_add(&run->after_stop, 1);
    atomic_fetch_add(&run->processed, 1);
    /* Allowed from the process callback: it asks run to stop and returns
     * (docs/c-abi.md, "Re-entrant calls"). */
    if (run->stop_from_callback)
        atomic_store(&run->stop_in_callback, (int)yk_callback_group_stop(run->group, 0));
    return 0;
}

static void run_callback_group(struct helper *h)
{
    struct callback_run *run = h->arg;
    atomic_store(&h->result, (int)yk_callback_group_run(run->group));
}

static void test_callback_group(double seconds)
{
    group_begin("stress: callback group");
    const char *topics[] = {topic};
    double deadline = now_seconds() + seconds;
    int iteration = 0;
    for (; keep_going(iteration, deadline); iteration++) {
        yk_metrics_responder responder = responder_of(&callback_meter);
        yk_consumer_config *config = config_for("callback", iteration);
        rebalances_reset(config);
        struct callback_run *run = &callback_run;
        atomic_store(&run->processed, 0);
        atomic_store(&run->stopped, false);
        atomic_store(&run->stop_in_callback, -1);
        run->stop_from_callback = false;
        EXPECT_OK(yk_callback_group_new(topics, 1, config, &responder, process_message, run, &run->group));
        yk_consumer_config_free(config);
        struct helper helper;
        int mode = iteration % 3;
        if (mode == 0) {
            /* Stop before run, which the header allows: run then returns
             * at once without joining, so neither a message nor a
             * rebalance callback reaches the application. */
            EXPECT_OK(yk_callback_group_stop(run->group, 0));
            int before = atomic_load(&rebalances.acquired) + atomic_load(&rebalances.released);
            helper_start(run_callback_group, &helper, run);
            helper_join(&helper, 15, "yk_callback_group_run after stop");
            CHECKF(atomic_load(&run->processed) == 0, "callback group %d: %d processed after a stop before run",
                   iteration, atomic_load(&run->processed));
            int joined = atomic_load(&rebalances.acquired) + atomic_load(&rebalances.released) - before;
            CHECKF(joined == 0, "callback group %d: %d rebalance callbacks in a run after a stop before run",
                   iteration, joined);
        } else if (mode == 1) {
            run->stop_from_callback = true;
            helper_start(run_callback_group, &helper, run);
            helper_join(&helper, 15, "yk_callback_group_run stopped by its callback");
            CHECKF(atomic_load(&run->stop_in_callback) == YK_ERROR_OK,
                   "callback group %d: stop in the callback returned %d", iteration,
                   atomic_load(&run->stop_in_callback));
        } else {
            /* Stop while run is busy (it acquired in start, so it is inside
             * run): at, or after some of, the first messages. */
            helper_start(run_callback_group, &helper, run);
            wait_until(&rebalances.acquired, 1, 10);
            wait_until(&run->processed, (iteration / 3) % 3, 10);
            int stopped = yk_callback_group_stop(run->group, 5000);
            atomic_store(&run->stopped, true);
            atomic_store(&rebalances.stopped, true);
            CHECKF(stopped == YK_ERROR_OK, "callback group %d: stop returned %d: %s", iteration, stopped,
                   yk_last_error_message());
            helper_join(&helper, 5, "yk_callback_group_run");
        }
        atomic_store(&rebalances.stopped, true);
        CHECKF(atomic_load(&helper.result) == YK_ERROR_OK, "callback group %d: run returned %d", iteration,
               atomic_load(&helper.result));
        yk_callback_group_free(run->group);
        meter_after_free(&callback_meter, "callback group", iteration);
    }
    meter_check_late(&callback_meter, "callback group");
    CHECKF(atomic_load(&callback_run.after_stop) == 0, "%d process callbacks after stop returned",
           atomic_load(&callback_run.after_stop));
    CHECKF(atomic_load(&rebalances.after_stop) == 0, "%d rebalance callbacks after stop returned",
           atomic_load(&rebalances.after_stop));
    printf("     callback group: %d iterations\n", iteration);
    group_end();
}

/* ------------------------------------------------------------------------ */
/* Multiprocessing group with thread workers                                */
/* ------------------------------------------------------------------------ */

/* Thread workers run on library threads by design (docs/c-abi.md, "The
 * one exception"), so their callbacks are not checked for the calling
 * thread, only against stop and free. */
struct workers {
    atomic_int initialized;
    atomic_int processed;
    atomic_int disposed;
    bool stubborn;
    atomic_bool release;
    atomic_bool stopped;
    atomic_bool freed;
    atomic_int after_stop;
    atomic_int after_free;
};
static struct workers workers;

static void worker_touch(struct workers *w)
{
    if (atomic_load(&w->freed))
        atomic_fetch_add(&w->after_free, 1);
    else if (atomic_load(&w->stopped))
        atomic_fetch_add(&w->after_stop, 1);
}

static void *worker_initialize(void *opaque, const char *t, int32_t partition)
{
    (void)t, (void)partition;
    struct workers *w = opaque;
    worker_touch(w);
    atomic_fetch_add(&w->initialized, 1);
    /* Real state: ASan reports it if dispose is skipped or run twice. */
    return malloc(16);
}

static int32_t worker_process(void *opaque, void *worker, const yk_message *message, char *error, size_t size)
{
    (void)worker, (void)message, (void)error, (void)size;
    struct workers *w = opaque;
    worker_touch(w);
    atomic_fetch_add(&w->processed, 1);
    /* A stubborn worker ignores max_termination_timeout_secs (1 s) until
     * the test lets it go; bounded so the test ends regardless. */
    double deadline = now_seconds() + 20;
    while (w->stubborn && !atomic_load(&w->release) && now_seconds() < deadline)
        sleep_ms(5);
    return 0;
}

static void worker_dispose(void *opaque, void *worker)
{
    struct workers *w = opaque;
    /* A fenced worker disposing after WORKERS_RUNNING is expected. */
    if (atomic_load(&w->freed))
        atomic_fetch_add(&w->after_free, 1);
    free(worker);
    atomic_fetch_add(&w->disposed, 1);
}

static void start_workers(struct helper *h)
{
    atomic_store(&h->result, (int)yk_multiprocessing_group_start(h->arg));
}

static void *release_later(void *opaque)
{
    sleep_ms(100);
    atomic_store(&((struct workers *)opaque)->release, true);
    return NULL;
}

static void test_thread_workers(double seconds, bool stubborn)
{
    group_begin(stubborn ? "stress: stubborn thread workers" : "stress: thread workers");
    const char *topics[] = {topic};
    double deadline = now_seconds() + seconds;
    int iteration = 0;
    for (; keep_going(iteration, deadline); iteration++) {
        struct workers *w = &workers;
        atomic_store(&w->initialized, 0);
        atomic_store(&w->processed, 0);
        atomic_store(&w->disposed, 0);
        atomic_store(&w->release, false);
        atomic_store(&w->stopped, false);
        atomic_store(&w->freed, false);
        w->stubborn = stubborn;
        yk_worker_callbacks callbacks = {w, worker_initialize, worker_process, worker_dispose};
        yk_consumer_config *config = config_for(stubborn ? "stubborn" : "workers", iteration);
        yk_multiprocessing_group *group = NULL;
        EXPECT_OK(yk_multiprocessing_group_new_threads(topics, 1, config, &callbacks, &group));
        yk_consumer_config_free(config);
        struct helper helper;
        helper_start(start_workers, &helper, group);
        /* Stop while workers start up or while they process. */
        wait_until(&w->processed, stubborn ? 1 : iteration % 3, 10);
        int stopped = yk_multiprocessing_group_stop(group, 10000);
        if (stubborn) {
            CHECKF(stopped == YK_ERROR_WORKERS_RUNNING, "stubborn %d: stop returned %d", iteration, stopped);
            helper_join(&helper, 5, "yk_multiprocessing_group_start");
            CHECKF(atomic_load(&helper.result) == YK_ERROR_WORKERS_RUNNING, "stubborn %d: start returned %d",
                   iteration, atomic_load(&helper.result));
            /* _free waits for the fenced worker to leave process, then
             * dispose (docs/c-abi.md). */
            pthread_t releaser;
            pthread_create(&releaser, NULL, release_later, w);
            yk_multiprocessing_group_free(group);
            atomic_store(&w->freed, true);
            pthread_join(releaser, NULL);
        } else {
            /* After OK no library thread runs the application's code. */
            atomic_store(&w->stopped, true);
            CHECKF(stopped == YK_ERROR_OK, "workers %d: stop returned %d", iteration, stopped);
            CHECKF(atomic_load(&w->disposed) == atomic_load(&w->initialized),
                   "workers %d: %d of %d disposed when stop returned", iteration, atomic_load(&w->disposed),
                   atomic_load(&w->initialized));
            helper_join(&helper, 5, "yk_multiprocessing_group_start");
            CHECKF(atomic_load(&helper.result) == YK_ERROR_OK, "workers %d: start returned %d", iteration,
                   atomic_load(&helper.result));
            yk_multiprocessing_group_free(group);
            atomic_store(&w->freed, true);
        }
        CHECKF(atomic_load(&w->disposed) == atomic_load(&w->initialized),
               "%s %d: %d of %d disposed when _free returned", stubborn ? "stubborn" : "workers", iteration,
               atomic_load(&w->disposed), atomic_load(&w->initialized));
    }
    CHECKF(atomic_load(&workers.after_stop) == 0, "%d worker callbacks after stop returned OK",
           atomic_load(&workers.after_stop));
    CHECKF(atomic_load(&workers.after_free) == 0, "%d worker callbacks after _free", atomic_load(&workers.after_free));
    printf("     %s: %d iterations\n", stubborn ? "stubborn thread workers" : "thread workers", iteration);
    group_end();
}

/* ------------------------------------------------------------------------ */
/* Multiprocessing group with worker processes                              */
/* ------------------------------------------------------------------------ */

/* A worker program that records its pid and waits: one that SIGTERM ends,
 * and a stubborn one that ignores SIGTERM, so only the group's SIGKILL
 * after max_termination_timeout_secs (1 s) ends it. */
static char worker_dir[] = "/tmp/yk-stress-XXXXXX";
static char worker_pids[sizeof worker_dir + 8];

static bool write_worker(const char *name, const char *body, char *path, size_t path_size)
{
    snprintf(path, path_size, "%s/%s", worker_dir, name);
    FILE *script = fopen(path, "w");
    if (!CHECKF(script != NULL, "cannot write %s", path))
        return false;
    fprintf(script, "#!/bin/sh\necho $$ >> '%s'\n%s\n", worker_pids, body);
    fclose(script);
    return CHECK(chmod(path, 0755) == 0);
}

static int worker_processes_started(void)
{
    FILE *pids = fopen(worker_pids, "r");
    int count = 0;
    long pid;
    while (pids != NULL && fscanf(pids, "%ld", &pid) == 1)
        count++;
    if (pids != NULL)
        fclose(pids);
    return count;
}

/* Every worker pid recorded is gone, reaped (no zombie): kill(pid, 0)
 * finds no process. A survivor is killed and counted. */
static int surviving_worker_processes(void)
{
    FILE *pids = fopen(worker_pids, "r");
    int survivors = 0;
    long pid;
    while (pids != NULL && fscanf(pids, "%ld", &pid) == 1) {
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
            survivors++;
            kill((pid_t)pid, SIGKILL);
        }
    }
    if (pids != NULL)
        fclose(pids);
    return survivors;
}

static void test_process_workers(double seconds)
{
    group_begin("stress: worker processes");
    if (!CHECK(mkdtemp(worker_dir) != NULL)) {
        group_end();
        return;
    }
    snprintf(worker_pids, sizeof worker_pids, "%s/pids", worker_dir);
    char obedient[sizeof worker_dir + 16], stubborn[sizeof worker_dir + 16];
    bool ready = write_worker("obedient.sh", "exec sleep 60", obedient, sizeof obedient) &&
                 write_worker("stubborn.sh", "trap '' TERM\nwhile :; do sleep 0.1; done", stubborn, sizeof stubborn);
    const char *topics[] = {topic};
    double deadline = now_seconds() + seconds;
    int iteration = 0, started = 0, survivors = 0;
    for (; ready && keep_going(iteration, deadline); iteration++) {
        /* 0: stop races start; 1: stop once workers run; 2: the same with
         * workers that ignore SIGTERM. */
        int mode = iteration % 3;
        unlink(worker_pids);
        const char *argv[] = {mode == 2 ? stubborn : obedient};
        yk_consumer_config *config = config_for("processes", iteration);
        yk_multiprocessing_group *group = NULL;
        EXPECT_OK(yk_multiprocessing_group_new_processes(topics, 1, config, argv, 1, &group));
        yk_consumer_config_free(config);
        struct helper helper;
        helper_start(start_workers, &helper, group);
        if (mode != 0) {
            double wait = now_seconds() + 10;
            while (worker_processes_started() < PARTITIONS && now_seconds() < wait)
                sleep_ms(10);
        }
        int stopped = yk_multiprocessing_group_stop(group, 10000);
        CHECKF(stopped == YK_ERROR_OK, "processes %d (mode %d): stop returned %d", iteration, mode, stopped);
        helper_join(&helper, 5, "yk_multiprocessing_group_start");
        CHECKF(atomic_load(&helper.result) == YK_ERROR_OK, "processes %d: start returned %d", iteration,
               atomic_load(&helper.result));
        /* stop returned OK: every worker process was ended and reaped. */
        started += worker_processes_started();
        int left = surviving_worker_processes();
        CHECKF(left == 0, "processes %d (mode %d): %d worker processes outlived stop", iteration, mode, left);
        survivors += left;
        yk_multiprocessing_group_free(group);
    }
    unlink(worker_pids);
    unlink(obedient);
    unlink(stubborn);
    rmdir(worker_dir);
    printf("     worker processes: %d iterations, %d processes started, %d outlived stop\n", iteration, started,
           survivors);
    group_end();
}

/* ------------------------------------------------------------------------ */
/* Offsets client: used from two threads, freed after both returned         */
/* ------------------------------------------------------------------------ */

static void query_offsets(struct helper *h)
{
    yk_topics *topics = NULL;
    EXPECT_OK(yk_topics_new(&topics));
    EXPECT_OK(yk_topics_add(topics, topic));
    yk_offsets_result *result = NULL;
    yk_error code = yk_offsets_watermarks(h->arg, topics, true, &result);
    if (code == YK_ERROR_OK) {
        size_t rows = 0;
        const yk_partition_offsets *row = yk_offsets_result_rows(result, &rows);
        CHECKF(row != NULL && rows == PARTITIONS, "%zu watermark rows", rows);
        yk_offsets_result_free(result);
    }
    yk_topics_free(topics);
    atomic_store(&h->result, (int)code);
}

static void test_offsets(double seconds)
{
    group_begin("stress: offsets client");
    double deadline = now_seconds() + seconds;
    int iteration = 0;
    for (; keep_going(iteration, deadline); iteration++) {
        yk_cluster_config *cluster = cluster_for("offsets", iteration);
        yk_config *config = NULL;
        EXPECT_OK(yk_config_new(&config));
        EXPECT_OK(yk_config_set(config, "offset_storage", "kafka"));
        EXPECT_OK(yk_config_set(config, "api_version_caps", "ListOffsets:3"));
        yk_offsets *offsets = NULL;
        EXPECT_OK(yk_offsets_new(cluster, config, &offsets));
        yk_config_free(config);
        yk_cluster_config_free(cluster);
        struct helper helper;
        helper_start(query_offsets, &helper, offsets);
        char group[160];
        snprintf(group, sizeof group, "stress-offsets-%s-%d", run_id, iteration);
        yk_offsets_result *result = NULL;
        EXPECT_OK(yk_offsets_offset_distance(offsets, group, topic, NULL, 0, &result));
        yk_offsets_result_free(result);
        /* _free needs that no other thread uses the handle any more. */
        helper_join(&helper, 15, "yk_offsets_watermarks");
        CHECKF(atomic_load(&helper.result) == YK_ERROR_OK, "offsets %d: watermarks returned %d", iteration,
               atomic_load(&helper.result));
        yk_offsets_free(offsets);
    }
    printf("     offsets client: %d iterations\n", iteration);
    group_end();
}

int main(void)
{
    calling_thread = true;
    group_begin("lifecycle stress: local cluster");
    kafka1 = getenv("YK_KAFKA1");
    zk_hosts = getenv("YK_ZOOKEEPER");
    bool ready = CHECKF(kafka1 && *kafka1 && zk_hosts && *zk_hosts,
                        "YK_KAFKA1 and YK_ZOOKEEPER must name scripts/cluster.sh's");
    snprintf(run_id, sizeof run_id, "%ld-%ld", (long)getpid(), (long)time(NULL));
    snprintf(topic, sizeof topic, "stress-%s", run_id);
    if (ready) {
        create_topic(topic, 4);
        produce_messages();
    }
    group_end();
    if (ready) {
        double started = now_seconds();
        /* Shares of a ~46 s budget; the stubborn cases cost ~1 s each. */
        test_producer(4);
        test_consumer(4);
        test_offsets(3);
        test_consumer_group(9);
        test_callback_group(8);
        test_thread_workers(6, false);
        test_thread_workers(5, true);
        test_process_workers(6);
        group_begin("stress: every callback on a calling thread");
        CHECKF(atomic_load(&wrong_thread) == 0, "%d callbacks on a library thread", atomic_load(&wrong_thread));
        group_end();
        printf("     total %.1f s\n", now_seconds() - started);
    }
    return checks_summary();
}
