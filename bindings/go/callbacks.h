/*
 * C side of the Go callbacks: trampolines that the library calls, which
 * pass their opaque pointers to the exported Go functions as integers
 * (runtime/cgo handles), so no Go pointer is ever stored in C memory.
 */
#ifndef YELPKAFKA_GO_CALLBACKS_H
#define YELPKAFKA_GO_CALLBACKS_H

#include <stdint.h>
#include <yelp_kafka.h>

/* A metrics responder whose callbacks reach the Go responder behind `bridge`. */
struct yk_metrics_responder yk_go_metrics_responder(uintptr_t bridge);

/* Sends the producer's delivery reports to the Go producer state behind `state`. */
enum yk_error yk_go_set_delivery_callback(const yk_producer *producer, uintptr_t state);

/* yk_producer_produce with an integer message id as the message opaque. */
enum yk_error yk_go_produce(const yk_producer *producer, const char *topic, int32_t partition, const uint8_t *key,
                            size_t key_len, const uint8_t *value, size_t value_len, uintptr_t message_id,
                            int32_t queue_wait_ms);

/* Sets the rebalance callbacks of `config` to reach the Go group state behind `state`. */
enum yk_error yk_go_set_rebalance_callbacks(yk_consumer_config *config, uintptr_t state);

#endif
