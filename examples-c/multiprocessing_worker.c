/*
 * examples-c/multiprocessing_worker.c: the worker program a process-mode
 * multiprocessing group starts once per partition (see
 * multiprocessing_group.c). One call turns the environment the group gave
 * it into its consumer; it processes messages until SIGTERM, then commits
 * and exits.
 */
#define _POSIX_C_SOURCE 200809L

#include "yelp_kafka.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_sigterm(int signal)
{
    (void)signal;
    stopping = 1;
}

int main(void)
{
    signal(SIGTERM, on_sigterm);
    yk_consumer *consumer = NULL;
    yk_error err = yk_multiprocessing_worker_consumer(&consumer);
    if (err == YK_ERROR_OK)
        err = yk_consumer_connect(consumer);
    if (err != YK_ERROR_OK) {
        fprintf(stderr, "worker %d: %s: %s\n", (int)getpid(), yk_error_name((int32_t)err), yk_last_error_message());
        yk_consumer_free(consumer);
        return 1;
    }
    while (!stopping) {
        yk_message *message = NULL;
        err = yk_consumer_get_message(consumer, true, 100, &message);
        if (err == YK_ERROR_CONSUMER_TIMEOUT)
            continue;
        if (err != YK_ERROR_OK) {
            fprintf(stderr, "worker %d: %s: %s\n", (int)getpid(), yk_error_name((int32_t)err), yk_last_error_message());
            break;
        }
        printf("worker %d: %s %d %lld\n", (int)getpid(), yk_message_topic(message), yk_message_partition(message),
               (long long)yk_message_offset(message));
        fflush(stdout);
        yk_consumer_task_done(consumer, message);
        yk_message_free(message);
    }
    yk_consumer_close(consumer); /* commits what was processed */
    yk_consumer_free(consumer);
    return err == YK_ERROR_OK || err == YK_ERROR_CONSUMER_TIMEOUT ? 0 : 1;
}
