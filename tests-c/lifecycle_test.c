/*
 * tests-c/lifecycle_test.c: what the library may still do after a handle's
 * stop, close or free returns (docs/c-abi.md), against the local cluster
 * (Kafka in $YK_KAFKA1, ZooKeeper in $YK_ZOOKEEPER), linked statically
 * under ASan.
 *
 * Checks: a consumer group freed without stop frees every metrics emitter
 * inside yk_consumer_group_free, on the calling thread; a thread worker
 * fenced while it runs the application's process makes stop and start say
 * YK_ERROR_WORKERS_RUNNING, and yk_multiprocessing_group_free waits for its
 * dispose; a process-mode group whose worker program cannot be started
 * again returns from start with every worker process stopped and reaped.
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
#include <sys/types.h>
#include <sys/wait.h>
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
    yk_consumer_config *config = group_config(kafka1, zookeeper, group_id);
    EXPECT_OK(yk_consumer_config_set(config, "partitioner_cooldown", "0.5"));
    EXPECT_OK(yk_consumer_config_set(config, "max_termination_timeout_secs", "1"));
    return config;
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

/* ------------------------------------------------------------------------ */
/* Multiprocessing groups                                                   */
/* ------------------------------------------------------------------------ */

struct run {
    yk_multiprocessing_group *group;
    pthread_t thread;
    atomic_bool returned;
    atomic_int result;
    char message[512];
};

static void *run_group(void *opaque)
{
    struct run *run = opaque;
    yk_error result = yk_multiprocessing_group_start(run->group);
    /* The last error is the runner thread's: keep its text for the checks. */
    if (result != YK_ERROR_OK && yk_last_error_message() != NULL)
        snprintf(run->message, sizeof run->message, "%s", yk_last_error_message());
    atomic_store(&run->result, (int)result);
    atomic_store(&run->returned, true);
    return NULL;
}

/* Waits up to `seconds` for start to return; when it has not, stops the
 * group so that the test still ends. Returns start's code. */
static int wait_for_start(struct run *run, double seconds)
{
    double deadline = now_seconds() + seconds;
    while (!atomic_load(&run->returned) && now_seconds() < deadline)
        sleep_ms(20);
    bool returned = CHECKF(atomic_load(&run->returned), "start returned within %.0f s", seconds);
    if (!returned)
        yk_multiprocessing_group_stop(run->group, 30000);
    pthread_join(run->thread, NULL);
    return atomic_load(&run->result);
}

/* Thread workers whose process blocks until the test lets it go. Static,
 * so that a callback arriving after _free (the defect this checks) is
 * counted instead of touching freed memory. */
struct held_workers {
    atomic_int initialized;
    atomic_int in_process;
    atomic_int disposed;
    atomic_bool release;
    atomic_bool freed;
    atomic_int after_free;
};
static struct held_workers held;

static void *initialize_held(void *opaque, const char *t, int32_t partition)
{
    (void)t, (void)partition;
    struct held_workers *h = opaque;
    if (atomic_load(&h->freed))
        atomic_fetch_add(&h->after_free, 1);
    atomic_fetch_add(&h->initialized, 1);
    return malloc(16);
}

static int32_t process_held(void *opaque, void *worker, const yk_message *message, char *error, size_t size)
{
    (void)worker, (void)message, (void)error, (void)size;
    struct held_workers *h = opaque;
    if (atomic_load(&h->freed))
        atomic_fetch_add(&h->after_free, 1);
    atomic_fetch_add(&h->in_process, 1);
    /* Bounded, so that the test ends even if nobody lets it go. */
    double deadline = now_seconds() + 30;
    while (!atomic_load(&h->release) && now_seconds() < deadline)
        sleep_ms(10);
    return 0;
}

static void dispose_held(void *opaque, void *worker)
{
    struct held_workers *h = opaque;
    if (atomic_load(&h->freed))
        atomic_fetch_add(&h->after_free, 1);
    free(worker);
    atomic_fetch_add(&h->disposed, 1);
}

static void *release_later(void *opaque)
{
    sleep_ms(200);
    atomic_store(&((struct held_workers *)opaque)->release, true);
    return NULL;
}

static void test_fenced_thread_worker(void)
{
    group_begin("multiprocessing group: fenced thread worker");
    const char *topics[] = {topic};
    yk_worker_callbacks callbacks = {&held, initialize_held, process_held, dispose_held};
    yk_consumer_config *config = config_for("fenced");
    struct run run = {0};
    EXPECT_OK(yk_multiprocessing_group_new_threads(topics, 1, config, &callbacks, &run.group));
    yk_consumer_config_free(config);
    pthread_create(&run.thread, NULL, run_group, &run);
    double deadline = now_seconds() + 60;
    while (atomic_load(&held.in_process) == 0 && now_seconds() < deadline)
        sleep_ms(20);
    CHECKF(atomic_load(&held.in_process) > 0, "a worker is in process");

    /* The worker outlives max_termination_timeout_secs (1 s) in process:
     * it is fenced, and stop says that it still runs. */
    int stopped = yk_multiprocessing_group_stop(run.group, 30000);
    CHECKF(stopped == YK_ERROR_WORKERS_RUNNING, "stop returned %d", stopped);
    int started = wait_for_start(&run, 30);
    CHECKF(started == YK_ERROR_WORKERS_RUNNING, "start returned %d", started);

    /* _free waits for the fenced worker to leave process and dispose. */
    pthread_t releaser;
    pthread_create(&releaser, NULL, release_later, &held);
    yk_multiprocessing_group_free(run.group);
    atomic_store(&held.freed, true);
    pthread_join(releaser, NULL);
    int initialized = atomic_load(&held.initialized), disposed = atomic_load(&held.disposed);
    CHECKF(initialized > 0 && disposed == initialized, "%d of %d workers disposed when _free returned", disposed,
           initialized);
    CHECKF(atomic_load(&held.after_free) == 0, "%d callbacks after _free", atomic_load(&held.after_free));
    group_end();
}

#define MAX_WORKERS 16

/* Collects the pids of the group's worker processes, once there are
 * `want` of them (up to 60 s); returns how many it found. */
static size_t worker_pids(yk_multiprocessing_group *group, size_t want, pid_t pids[MAX_WORKERS])
{
    size_t found = 0;
    double deadline = now_seconds() + 60;
    while (found < want && now_seconds() < deadline) {
        yk_worker_list *list = NULL;
        found = 0;
        if (yk_multiprocessing_group_consumers(group, &list) == YK_ERROR_OK) {
            size_t count = yk_worker_list_count(list);
            for (size_t i = 0; i < count && found < MAX_WORKERS; i++) {
                if (yk_worker_list_pid(list, i) > 0)
                    pids[found++] = (pid_t)yk_worker_list_pid(list, i);
            }
            yk_worker_list_free(list);
        }
        if (found < want)
            sleep_ms(50);
    }
    return found;
}

static void test_process_workers_stopped_on_error(void)
{
    group_begin("multiprocessing group: error stops processes");
    char dir[] = "/tmp/yk-lifecycle-XXXXXX";
    if (!CHECK(mkdtemp(dir) != NULL)) {
        group_end();
        return;
    }
    char program[sizeof dir + 16];
    snprintf(program, sizeof program, "%s/worker.sh", dir);
    FILE *script = fopen(program, "w");
    CHECK(script != NULL);
    if (script != NULL) {
        fputs("#!/bin/sh\nexec sleep 120\n", script);
        fclose(script);
    }
    CHECK(chmod(program, 0755) == 0);

    const char *topics[] = {topic};
    const char *argv[] = {program};
    yk_consumer_config *config = config_for("processes");
    struct run run = {0};
    EXPECT_OK(yk_multiprocessing_group_new_processes(topics, 1, config, argv, 1, &run.group));
    yk_consumer_config_free(config);
    pthread_create(&run.thread, NULL, run_group, &run);
    pid_t pids[MAX_WORKERS];
    size_t count = worker_pids(run.group, 4, pids);
    CHECKF(count == 4, "%zu worker processes for 4 partitions", count);

    /* The program can no longer be executed: restarting the worker killed
     * here fails inside the group's loop, which ends start with an error. */
    CHECK(chmod(program, 0644) == 0);
    if (count > 0)
        kill(pids[0], SIGKILL);
    int started = wait_for_start(&run, 60);
    CHECKF(started == YK_ERROR_CONSUMER_GROUP, "start returned %d", started);
    CHECKF(contains(run.message, "Permission denied"), "start's error: %s", run.message);

    /* start reaped every worker: no pid is left, not even a zombie. */
    for (size_t i = 0; i < count; i++) {
        bool gone = kill(pids[i], 0) == -1 && errno == ESRCH;
        CHECKF(gone, "worker process %ld still exists after start returned", (long)pids[i]);
        if (!gone) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    }
    yk_multiprocessing_group_free(run.group);
    unlink(program);
    rmdir(dir);
    group_end();
}

int main(void)
{
    group_begin("lifecycle: local cluster");
    bool ready = local_cluster("lifecycle", &kafka1, zookeeper, sizeof zookeeper, topic, sizeof topic, run_id,
                               sizeof run_id, MESSAGES);
    group_end();
    if (ready) {
        test_group_free_releases_the_responder();
        test_fenced_thread_worker();
        test_process_workers_stopped_on_error();
    }
    return checks_summary();
}
