/*
 * C side of the Go callbacks: trampolines that the library calls, which
 * pass their opaque pointers to the exported Go functions as integers
 * (runtime/cgo handles), so no Go pointer is ever stored in C memory.
 */
#ifndef YELPKAFKA_GO_CALLBACKS_H
#define YELPKAFKA_GO_CALLBACKS_H

#include <stdbool.h>
#include <stdint.h>
#include "yelp_kafka.h"

/* A call's outcome with its failure's details, read on the thread that
 * failed within the same cgo call: the library keeps them in thread-local
 * storage, so reading them in later cgo calls would need the goroutine
 * locked to its OS thread around the call. `message` is a malloc'd copy of
 * yk_last_error_message() for the Go side to free; NULL on success (or
 * when the copy could not be made). */
typedef struct yk_go_result {
    enum yk_error code;
    int16_t kafka_code;
    bool retriable;
    char *message;
} yk_go_result;

/* A metrics responder whose callbacks reach the Go responder behind `bridge`. */
struct yk_metrics_responder yk_go_metrics_responder(uintptr_t bridge);

/* Sends the producer's delivery reports to the Go producer state behind
 * `state`, all those one poll, flush or close serves in one call. */
enum yk_error yk_go_set_delivery_callback(const yk_producer *producer, uintptr_t state);

/* yk_producer_produce with an integer message id as the message opaque,
 * its outcome a yk_go_result.
 * Calls made once per message take their handle as an integer: cgo checks
 * every argument that points to a struct it cannot see into (a handle) for
 * Go pointers, at a cost per call that the integer avoids. */
yk_go_result yk_go_produce(uintptr_t producer, const char *topic, int32_t partition, const uint8_t *key,
                           size_t key_len, const uint8_t *value, size_t value_len, uintptr_t message_id,
                           int32_t queue_wait_ms);

/* yk_producer_produce_with_headers (its outcome a yk_go_result) and
 * yk_producer_send_with_headers with the headers packed by the Go side:
 * header i's name and value follow each other in `data`, their lengths
 * are lens[2i] and lens[2i+1] (-1: a null value). */
yk_go_result yk_go_produce_with_headers(uintptr_t producer, const char *topic, int32_t partition,
                                        const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                                        const uint8_t *data, const int64_t *lens, size_t header_count,
                                        uintptr_t message_id, int32_t queue_wait_ms);
enum yk_error yk_go_send_with_headers(const yk_producer *producer, const char *topic, int32_t partition,
                                      const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                                      const uint8_t *data, const int64_t *lens, size_t header_count, int64_t *offset);

/* One message of yk_go_produce_batch: its key, value and headers are at
 * offsets into the batch's byte buffer (key_off / value_off -1: null), its
 * headers' lengths at header_index into the lengths array (two per header,
 * as yk_go_produce_with_headers has them). */
typedef struct yk_go_message {
    uintptr_t topic;
    int32_t partition;
    int64_t key_off;
    size_t key_len;
    int64_t value_off;
    size_t value_len;
    int64_t header_off;
    size_t header_index;
    size_t header_count;
    uintptr_t id;
} yk_go_message;

/* yk_producer_produce (or _with_headers) for messages[0..count], in order,
 * in one cgo call; stops at the first failure, its outcome a yk_go_result.
 * *produced is how many were queued. */
yk_go_result yk_go_produce_batch(uintptr_t producer, const yk_go_message *messages, size_t count,
                                 const uint8_t *data, const int64_t *header_lens, int32_t queue_wait_ms,
                                 size_t *produced);

/* Sets the rebalance callbacks of `config` to reach the Go group state behind `state`. */
enum yk_error yk_go_set_rebalance_callbacks(yk_consumer_config *config, uintptr_t state);

/* Marks messages[0..count] (yk_message pointers, as the integers the Go
 * side keeps them in) done, in order, with yk_task_done,
 * yk_consumer_task_done or yk_consumer_group_task_done: one cgo call for a
 * batch. Stops at the first failure, whose index goes to *marked (count
 * when every one was marked). */
enum yk_error yk_go_task_done_all(const uintptr_t *messages, size_t count, size_t *marked);
enum yk_error yk_go_consumer_task_done_all(const yk_consumer *consumer, const uintptr_t *messages, size_t count,
                                           size_t *marked);
enum yk_error yk_go_group_task_done_all(const yk_consumer_group *group, const uintptr_t *messages, size_t count,
                                        size_t *marked);

/* The same for one message, yk_task_done's outcome a yk_go_result. */
yk_go_result yk_go_task_done(uintptr_t message);
enum yk_error yk_go_consumer_commit_message(const yk_consumer *consumer, uintptr_t message);

/* A callback group whose process callback reaches the Go state behind
 * `state`. */
enum yk_error yk_go_callback_group_new(const char *const *topics, size_t count, const yk_consumer_config *config,
                                       const yk_metrics_responder *metrics_responder, uintptr_t state,
                                       yk_callback_group **out);

/* A thread-worker multiprocessing group whose callbacks reach the Go
 * state behind `state`. */
enum yk_error yk_go_multiprocessing_group_new_threads(const char *const *topics, size_t count,
                                                      const yk_consumer_config *config, uintptr_t state,
                                                      yk_multiprocessing_group **out);

#endif
