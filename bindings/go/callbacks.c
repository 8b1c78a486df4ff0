#include "callbacks.h"

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

static void on_delivery(void *callback_opaque, const yk_delivery_report *report)
{
    ykGoOnDelivery((uintptr_t)callback_opaque, (yk_delivery_report *)report);
}

enum yk_error yk_go_set_delivery_callback(const yk_producer *producer, uintptr_t state)
{
    return yk_producer_set_delivery_callback(producer, on_delivery, (void *)state);
}

enum yk_error yk_go_produce(const yk_producer *producer, const char *topic, int32_t partition, const uint8_t *key,
                            size_t key_len, const uint8_t *value, size_t value_len, uintptr_t message_id,
                            int32_t queue_wait_ms)
{
    return yk_producer_produce(producer, topic, partition, key, key_len, value, value_len, (void *)message_id,
                               queue_wait_ms);
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
