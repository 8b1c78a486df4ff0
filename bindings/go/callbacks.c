#include "callbacks.h"

#include <stdlib.h>
#include <string.h>

#include "_cgo_export.h"

static void *counter_emitter(void *opaque, const char *metric, const yk_dimension *dimensions, size_t count)
{
    return (void *)ykGoCounterEmitter((uintptr_t)opaque, (char *)metric, (yk_dimension *)dimensions, count);
}

static void *timer_emitter(void *opaque, const char *metric, const yk_dimension *dimensions, size_t count)
{
    return (void *)ykGoTimerEmitter((uintptr_t)opaque, (char *)metric, (yk_dimension *)dimensions, count);
}

static void record(void *opaque, void *emitter, double value, int64_t timestamp_ms)
{
    ykGoRecord((uintptr_t)opaque, (uintptr_t)emitter, value, timestamp_ms);
}

static void free_emitter(void *opaque, void *emitter)
{
    ykGoFreeEmitter((uintptr_t)opaque, (uintptr_t)emitter);
}

struct yk_metrics_responder yk_go_metrics_responder(uintptr_t bridge)
{
    struct yk_metrics_responder responder = {(void *)bridge, counter_emitter, timer_emitter, record, free_emitter};
    return responder;
}

static void on_delivery(void *callback_opaque, const yk_delivery_report *reports, size_t count)
{
    ykGoOnDelivery((uintptr_t)callback_opaque, (yk_delivery_report *)reports, count);
}

enum yk_error yk_go_set_delivery_callback(const yk_producer *producer, uintptr_t state)
{
    return yk_producer_set_delivery_batch_callback(producer, on_delivery, (void *)state);
}

/* The outcome of a call that returned `code`, on the thread it ran on. */
static yk_go_result result_of(enum yk_error code)
{
    yk_go_result result = {code, 0, false, NULL};
    if (code != YK_ERROR_OK) {
        result.kafka_code = yk_last_error_kafka_code();
        result.retriable = yk_last_error_is_retriable();
        result.message = strdup(yk_last_error_message());
    }
    return result;
}

yk_go_result yk_go_produce(uintptr_t producer, const char *topic, int32_t partition, const uint8_t *key,
                           size_t key_len, const uint8_t *value, size_t value_len, uintptr_t message_id,
                           int32_t queue_wait_ms)
{
    return result_of(yk_producer_produce((const yk_producer *)producer, topic, partition, key, key_len, value,
                                         value_len, (void *)message_id, queue_wait_ms));
}

/* Unpacks the Go side's headers into `headers` (header_count entries). */
static void unpack_headers(const uint8_t *data, const int64_t *lens, size_t header_count, yk_header *headers)
{
    for (size_t i = 0; i < header_count; i++) {
        size_t name_len = (size_t)lens[2 * i];
        int64_t value_len = lens[2 * i + 1];
        headers[i].name = (const char *)data;
        headers[i].name_len = name_len;
        data += name_len;
        headers[i].value = value_len < 0 ? NULL : data;
        headers[i].value_len = value_len < 0 ? 0 : (size_t)value_len;
        data += value_len < 0 ? 0 : (size_t)value_len;
    }
}

enum { STACK_HEADERS = 16 };

static enum yk_error produce_with_headers(uintptr_t producer, const char *topic, int32_t partition,
                                          const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                                          const uint8_t *data, const int64_t *lens, size_t header_count,
                                          uintptr_t message_id, int32_t queue_wait_ms)
{
    yk_header stack[STACK_HEADERS];
    yk_header *headers = header_count <= STACK_HEADERS ? stack : malloc(header_count * sizeof(yk_header));
    if (headers == NULL)
        return yk_producer_produce_with_headers((const yk_producer *)producer, topic, partition, key, key_len, value,
                                                value_len, NULL, header_count, (void *)message_id, queue_wait_ms);
    unpack_headers(data, lens, header_count, headers);
    enum yk_error err = yk_producer_produce_with_headers((const yk_producer *)producer, topic, partition, key, key_len, value, value_len,
                                                         headers, header_count, (void *)message_id, queue_wait_ms);
    if (headers != stack)
        free(headers);
    return err;
}

yk_go_result yk_go_produce_with_headers(uintptr_t producer, const char *topic, int32_t partition,
                                        const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                                        const uint8_t *data, const int64_t *lens, size_t header_count,
                                        uintptr_t message_id, int32_t queue_wait_ms)
{
    return result_of(produce_with_headers(producer, topic, partition, key, key_len, value, value_len, data, lens,
                                          header_count, message_id, queue_wait_ms));
}

enum yk_error yk_go_send_with_headers(const yk_producer *producer, const char *topic, int32_t partition,
                                      const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                                      const uint8_t *data, const int64_t *lens, size_t header_count, int64_t *offset)
{
    yk_header stack[STACK_HEADERS];
    yk_header *headers = header_count <= STACK_HEADERS ? stack : malloc(header_count * sizeof(yk_header));
    if (headers == NULL)
        return yk_producer_send_with_headers(producer, topic, partition, key, key_len, value, value_len, NULL,
                                             header_count, offset);
    unpack_headers(data, lens, header_count, headers);
    enum yk_error err = yk_producer_send_with_headers(producer, topic, partition, key, key_len, value, value_len,
                                                      headers, header_count, offset);
    if (headers != stack)
        free(headers);
    return err;
}

yk_go_result yk_go_produce_batch(uintptr_t producer, const yk_go_message *messages, size_t count,
                                 const uint8_t *data, const int64_t *header_lens, int32_t queue_wait_ms,
                                 size_t *produced)
{
    const yk_producer *handle = (const yk_producer *)producer;
    for (size_t i = 0; i < count; i++) {
        const yk_go_message *m = &messages[i];
        const uint8_t *key = m->key_off < 0 ? NULL : data + m->key_off;
        const uint8_t *value = m->value_off < 0 ? NULL : data + m->value_off;
        enum yk_error err;
        if (m->header_count == 0) {
            err = yk_producer_produce(handle, (const char *)m->topic, m->partition, key, m->key_len, value,
                                      m->value_len, (void *)m->id, queue_wait_ms);
        } else {
            err = produce_with_headers(producer, (const char *)m->topic, m->partition, key, m->key_len, value,
                                       m->value_len, data + m->header_off, header_lens + m->header_index,
                                       m->header_count, m->id, queue_wait_ms);
        }
        if (err != YK_ERROR_OK) {
            *produced = i;
            return result_of(err);
        }
    }
    *produced = count;
    return result_of(YK_ERROR_OK);
}

static void pre_rebalance(void *opaque, const yk_topic_partition *partitions, size_t count)
{
    ykGoRebalance((uintptr_t)opaque, 0, (yk_topic_partition *)partitions, count);
}

static void post_rebalance(void *opaque, const yk_topic_partition *partitions, size_t count)
{
    ykGoRebalance((uintptr_t)opaque, 1, (yk_topic_partition *)partitions, count);
}

enum yk_error yk_go_set_rebalance_callbacks(yk_consumer_config *config, uintptr_t state)
{
    return yk_consumer_config_set_rebalance_callbacks(config, pre_rebalance, post_rebalance, (void *)state);
}

#define TASK_DONE_ALL(call)                                                                                  \
    for (size_t i = 0; i < count; i++) {                                                                     \
        const yk_message *message = (const yk_message *)messages[i];                                         \
        enum yk_error err = call;                                                                            \
        if (err != YK_ERROR_OK) {                                                                            \
            *marked = i;                                                                                     \
            return err;                                                                                      \
        }                                                                                                    \
    }                                                                                                        \
    *marked = count;                                                                                         \
    return YK_ERROR_OK;

enum yk_error yk_go_task_done_all(const uintptr_t *messages, size_t count, size_t *marked)
{
    TASK_DONE_ALL(yk_task_done(message))
}

enum yk_error yk_go_consumer_task_done_all(const yk_consumer *consumer, const uintptr_t *messages, size_t count,
                                           size_t *marked)
{
    TASK_DONE_ALL(yk_consumer_task_done(consumer, message))
}

enum yk_error yk_go_group_task_done_all(const yk_consumer_group *group, const uintptr_t *messages, size_t count,
                                        size_t *marked)
{
    TASK_DONE_ALL(yk_consumer_group_task_done(group, message))
}

yk_go_result yk_go_task_done(uintptr_t message)
{
    return result_of(yk_task_done((const yk_message *)message));
}

enum yk_error yk_go_consumer_commit_message(const yk_consumer *consumer, uintptr_t message)
{
    return yk_consumer_commit_message(consumer, (const yk_message *)message);
}

static int32_t group_process(void *opaque, const yk_message *message, char *error, size_t error_size)
{
    return ykGoProcess((uintptr_t)opaque, (yk_message *)message, error, error_size);
}

enum yk_error yk_go_callback_group_new(const char *const *topics, size_t count, const yk_consumer_config *config,
                                       const yk_metrics_responder *metrics_responder, uintptr_t state,
                                       yk_callback_group **out)
{
    return yk_callback_group_new(topics, count, config, metrics_responder, group_process, (void *)state, out);
}

static void *worker_initialize(void *opaque, const char *topic, int32_t partition)
{
    return (void *)ykGoWorkerInitialize((uintptr_t)opaque, (char *)topic, partition);
}

static int32_t worker_process(void *opaque, void *worker, const yk_message *message, char *error, size_t error_size)
{
    return ykGoWorkerProcess((uintptr_t)opaque, (uintptr_t)worker, (yk_message *)message, error, error_size);
}

static void worker_dispose(void *opaque, void *worker)
{
    ykGoWorkerDispose((uintptr_t)opaque, (uintptr_t)worker);
}

enum yk_error yk_go_multiprocessing_group_new_threads(const char *const *topics, size_t count,
                                                      const yk_consumer_config *config, uintptr_t state,
                                                      yk_multiprocessing_group **out)
{
    struct yk_worker_callbacks callbacks = {(void *)state, worker_initialize, worker_process, worker_dispose};
    return yk_multiprocessing_group_new_threads(topics, count, config, &callbacks, out);
}
