# frozen_string_literal: true

require "ffi"

module YelpKafka
  # The C API of libyelp_kafka (include/yelp_kafka.h), attached with ffi.
  # Everything here is private to the gem: the classes of YelpKafka wrap it.
  #
  # The library is the first of: $YELP_KAFKA_LIB, the release build of the
  # checkout this gem sits in (target/release/libyelp_kafka.so), the
  # installed libyelp_kafka.so.0 (`make install`).
  module Native
    extend FFI::Library

    CHECKOUT_BUILD = File.expand_path("../../../../target/release/libyelp_kafka.so", __dir__)
    ffi_lib [ENV.fetch("YELP_KAFKA_LIB", nil), (CHECKOUT_BUILD if File.exist?(CHECKOUT_BUILD)),
             "libyelp_kafka.so.0"].compact

    # Every C function returns a yk_error (0 is success) unless noted.
    typedef :int32, :yk_error

    # struct yk_dimension
    class Dimension < FFI::Struct
      layout :key, :string, :value, :string
    end

    # struct yk_bytes
    class Bytes < FFI::Struct
      layout :data, :pointer, :len, :size_t
    end

    # struct yk_delivery_report
    class DeliveryReport < FFI::Struct
      layout :message_opaque, :pointer, :error, :int32, :kafka_code, :int16, :topic, :string,
             :partition, :int32, :offset, :int64, :error_message, :string
    end

    callback :get_emitter_fn, %i[pointer string pointer size_t], :pointer
    callback :record_fn, %i[pointer pointer double int64], :void
    callback :free_emitter_fn, %i[pointer pointer], :void
    callback :delivery_batch_callback, %i[pointer pointer size_t], :void

    # struct yk_metrics_responder
    class MetricsResponder < FFI::Struct
      layout :opaque, :pointer, :get_counter_emitter, :get_emitter_fn, :get_timer_emitter, :get_emitter_fn,
             :record, :record_fn, :free_emitter, :free_emitter_fn
    end

    # Errors.
    attach_function :yk_error_name, [:int32], :string
    attach_function :yk_error_description, [:int32], :string
    attach_function :yk_error_is_retriable, [:int32], :bool
    attach_function :yk_last_error_is_retriable, [], :bool
    attach_function :yk_last_error_kafka_code, [], :int16
    attach_function :yk_last_error_message, [], :string
    attach_function :yk_version, [], :string

    # Configuration.
    attach_function :yk_config_new, [:pointer], :yk_error
    attach_function :yk_config_set, %i[pointer string string], :yk_error
    attach_function :yk_config_free, [:pointer], :void
    attach_function :yk_cluster_config_new, %i[string string string string pointer], :yk_error
    attach_function :yk_cluster_config_type, [:pointer], :string
    attach_function :yk_cluster_config_name, [:pointer], :string
    attach_function :yk_cluster_config_broker_list, [:pointer], :string
    attach_function :yk_cluster_config_zookeeper, [:pointer], :string
    attach_function :yk_cluster_config_equal, %i[pointer pointer], :bool
    attach_function :yk_cluster_config_free, [:pointer], :void

    # Discovery and topology files; the network calls release the GVL.
    attach_function :yk_discover_topics, %i[pointer pointer pointer], :yk_error, blocking: true
    attach_function :yk_search_topic, %i[string pointer size_t pointer pointer], :yk_error, blocking: true
    attach_function :yk_search_topics_by_regex, %i[string pointer size_t pointer pointer], :yk_error, blocking: true
    attach_function :yk_discovery_result_cluster_count, [:pointer], :size_t
    attach_function :yk_discovery_result_cluster, %i[pointer size_t], :pointer
    attach_function :yk_discovery_result_topic_count, %i[pointer size_t], :size_t
    attach_function :yk_discovery_result_topic, %i[pointer size_t size_t], :string
    attach_function :yk_discovery_result_partitions, %i[pointer size_t size_t pointer], :pointer
    attach_function :yk_discovery_result_free, [:pointer], :void
    attach_function :yk_topology_load, %i[string string pointer], :yk_error
    attach_function :yk_topology_cluster_count, [:pointer], :size_t
    attach_function :yk_topology_cluster, %i[pointer size_t], :pointer
    attach_function :yk_topology_local_cluster, %i[pointer pointer], :yk_error
    attach_function :yk_topology_cluster_by_name, %i[pointer string pointer], :yk_error
    attach_function :yk_topology_free, [:pointer], :void

    # The producer; calls that wait release the GVL (callbacks take it back).
    attach_function :yk_producer_new, %i[pointer pointer pointer pointer], :yk_error, blocking: true
    attach_function :yk_producer_send_messages, %i[pointer string pointer size_t pointer], :yk_error, blocking: true
    attach_function :yk_producer_send_keyed_messages, %i[pointer string pointer size_t pointer size_t pointer],
                    :yk_error, blocking: true
    # produce with the bytes passed straight from Ruby Strings, no copy:
    # only with queue_wait_ms 0 and to a topic the producer has reached
    # before (Producer#produce_to_new_topic), when it cannot wait and
    # keeps the GVL.
    attach_function :yk_producer_produce_with_headers_now, :yk_producer_produce_with_headers,
                    %i[pointer string int32 buffer_in size_t buffer_in size_t pointer size_t pointer int32], :yk_error
    # The same for a message without headers or opaque.
    attach_function :yk_producer_produce_now, :yk_producer_produce,
                    %i[pointer string int32 buffer_in size_t buffer_in size_t pointer int32], :yk_error
    # The same for a value alone, which never waits.
    attach_function :yk_producer_produce_value, %i[pointer string buffer_in size_t], :yk_error
    # Many values to one topic in one call (Producer#produce_batch), only
    # with queue_wait_ms 0 and to a topic reached before, as above.
    attach_function :yk_producer_produce_values,
                    %i[pointer string int32 buffer_in size_t buffer_in buffer_in size_t pointer int32 pointer],
                    :yk_error
    attach_function :yk_producer_produce_with_headers,
                    %i[pointer string int32 pointer size_t pointer size_t pointer size_t pointer int32],
                    :yk_error, blocking: true
    attach_function :yk_producer_send_with_headers,
                    %i[pointer string int32 pointer size_t pointer size_t pointer size_t pointer], :yk_error, blocking: true
    attach_function :yk_producer_poll, %i[pointer int32 pointer], :yk_error, blocking: true
    attach_function :yk_producer_flush, %i[pointer int32], :yk_error, blocking: true
    attach_function :yk_producer_close, %i[pointer int32 pointer], :yk_error, blocking: true
    attach_function :yk_producer_queue_length, [:pointer], :size_t
    attach_function :yk_producer_ready_fd, [:pointer], :int32
    attach_function :yk_producer_wakeup, [:pointer], :yk_error
    attach_function :yk_producer_set_delivery_batch_callback, %i[pointer delivery_batch_callback pointer], :yk_error
    attach_function :yk_producer_free, [:pointer], :void, blocking: true

    # struct yk_topic_partition
    class TopicPartition < FFI::Struct
      layout :topic, :string, :partition, :int32
    end

    # struct yk_header
    class Header < FFI::Struct
      layout :name, :pointer, :name_len, :size_t, :value, :pointer, :value_len, :size_t
    end

    # struct yk_message_view
    class MessageView < FFI::Struct
      layout :message, :pointer, :topic, :pointer, :partition, :int32, :offset, :int64, :timestamp, :int64,
             :timestamp_type, :int32, :key, :pointer, :key_len, :size_t, :value, :pointer, :value_len, :size_t,
             :headers, :pointer, :header_count, :size_t
    end

    callback :rebalance_callback, %i[pointer pointer size_t], :void

    # Consumer configuration and the consumer group; messages.
    attach_function :yk_consumer_config_new, %i[string pointer pointer], :yk_error
    attach_function :yk_consumer_config_set, %i[pointer string string], :yk_error
    attach_function :yk_consumer_config_set_rebalance_callbacks,
                    %i[pointer rebalance_callback rebalance_callback pointer], :yk_error
    attach_function :yk_consumer_config_dump, [:pointer], :string
    attach_function :yk_consumer_config_free, [:pointer], :void
    attach_function :yk_consumer_new_simple, %i[pointer string pointer size_t pointer], :yk_error
    attach_function :yk_consumer_new, %i[pointer pointer size_t pointer], :yk_error
    attach_function :yk_consumer_connect, [:pointer], :yk_error, blocking: true
    attach_function :yk_consumer_next_batch, %i[pointer int32 pointer pointer pointer], :yk_error
    attach_function :yk_consumer_task_done, %i[pointer pointer], :yk_error
    attach_function :yk_consumer_commit, [:pointer], :yk_error, blocking: true
    attach_function :yk_consumer_commit_partitions, %i[pointer pointer size_t], :yk_error, blocking: true
    attach_function :yk_consumer_commit_message, %i[pointer pointer], :yk_error, blocking: true
    attach_function :yk_consumer_ready_fd, [:pointer], :int32
    attach_function :yk_consumer_wakeup, [:pointer], :yk_error
    attach_function :yk_consumer_close, [:pointer], :yk_error, blocking: true
    attach_function :yk_consumer_free, [:pointer], :void
    attach_function :yk_consumer_group_new, %i[pointer size_t pointer pointer pointer], :yk_error, blocking: true
    attach_function :yk_consumer_group_start, %i[pointer int32], :yk_error, blocking: true
    attach_function :yk_consumer_group_task_done, %i[pointer pointer], :yk_error, blocking: true
    attach_function :yk_consumer_group_commit, [:pointer], :yk_error, blocking: true
    attach_function :yk_consumer_group_stop, %i[pointer int32], :yk_error, blocking: true
    attach_function :yk_consumer_group_wait_assignment, %i[pointer int32], :yk_error, blocking: true
    attach_function :yk_consumer_group_next_batch, %i[pointer pointer pointer pointer], :yk_error, blocking: true
    attach_function :yk_consumer_group_ready_fd, [:pointer], :int32
    attach_function :yk_consumer_group_wakeup, [:pointer], :yk_error
    attach_function :yk_consumer_group_identifier, [:pointer], :string
    attach_function :yk_consumer_group_free, [:pointer], :void, blocking: true
    attach_function :yk_message_batch_new, %i[size_t pointer], :yk_error
    attach_function :yk_message_batch_free, [:pointer], :void
    # Takes the message's address as an integer: no FFI::Pointer per message.
    attach_function :yk_task_done, [:uintptr_t], :yk_error
    attach_function :yk_message_batch_task_done, %i[pointer size_t size_t], :yk_error

    # struct yk_message_columns
    class MessageColumns < FFI::Struct
      layout :offsets, :pointer, :partitions, :pointer, :timestamps, :pointer, :topics, :pointer
    end

    attach_function :yk_message_batch_columns, %i[pointer size_t size_t pointer], :yk_error
    # The buffer is a binary String the library writes into.
    attach_function :yk_message_batch_copy_values, %i[pointer size_t size_t pointer pointer size_t pointer], :yk_error
    attach_function :yk_message_batch_copy_keys, %i[pointer size_t size_t pointer pointer size_t pointer], :yk_error

    # struct yk_topic_partition_offset
    class TopicPartitionOffset < FFI::Struct
      layout :topic, :pointer, :partition, :int32, :offset, :int64
    end

    # struct yk_partition_offsets
    class PartitionOffsets < FFI::Struct
      layout :topic, :string, :partition, :int32, :committed, :int64, :high_watermark, :int64,
             :low_watermark, :int64, :lag, :int64
    end

    # Offsets and lag; every call but the selections' asks the cluster.
    attach_function :yk_offsets_new, %i[pointer pointer pointer], :yk_error, blocking: true
    attach_function :yk_offsets_free, [:pointer], :void
    attach_function :yk_topics_new, [:pointer], :yk_error
    attach_function :yk_topics_add, %i[pointer string], :yk_error
    attach_function :yk_topics_add_partition, %i[pointer string int32], :yk_error
    attach_function :yk_topics_free, [:pointer], :void
    attach_function :yk_offsets_current, %i[pointer string pointer bool pointer], :yk_error, blocking: true
    attach_function :yk_offsets_watermarks, %i[pointer pointer bool pointer], :yk_error, blocking: true
    attach_function :yk_offsets_advance, %i[pointer string pointer bool pointer], :yk_error, blocking: true
    attach_function :yk_offsets_rewind, %i[pointer string pointer bool pointer], :yk_error, blocking: true
    attach_function :yk_offsets_set, %i[pointer string pointer size_t bool pointer], :yk_error, blocking: true
    attach_function :yk_offsets_offset_distance, %i[pointer string string pointer size_t pointer], :yk_error,
                    blocking: true
    attach_function :yk_offsets_topics_offset_distance, %i[pointer string pointer pointer], :yk_error, blocking: true
    attach_function :yk_offsets_result_rows, %i[pointer pointer], :pointer
    attach_function :yk_offsets_result_free, [:pointer], :void

    callback :process_callback, %i[pointer pointer pointer size_t], :int32

    # The callback group: run holds its thread until stopped.
    attach_function :yk_callback_group_new,
                    %i[pointer size_t pointer pointer process_callback pointer pointer], :yk_error, blocking: true
    attach_function :yk_callback_group_run, [:pointer], :yk_error, blocking: true
    attach_function :yk_callback_group_stop, %i[pointer int32], :yk_error, blocking: true
    attach_function :yk_callback_group_free, [:pointer], :void, blocking: true
    attach_function :yk_message_get_view, %i[pointer pointer], :yk_error

    # The multiprocessing group with worker processes, and the worker's side.
    attach_function :yk_multiprocessing_group_new_processes, %i[pointer size_t pointer pointer size_t pointer],
                    :yk_error, blocking: true
    attach_function :yk_multiprocessing_group_start, [:pointer], :yk_error, blocking: true
    attach_function :yk_multiprocessing_group_stop, %i[pointer int32], :yk_error, blocking: true
    attach_function :yk_multiprocessing_group_consumers, %i[pointer pointer], :yk_error
    attach_function :yk_multiprocessing_group_free, [:pointer], :void, blocking: true
    attach_function :yk_multiprocessing_worker_consumer, [:pointer], :yk_error
    attach_function :yk_worker_list_count, [:pointer], :size_t
    attach_function :yk_worker_list_topic, %i[pointer size_t], :string
    attach_function :yk_worker_list_partition, %i[pointer size_t], :int32
    attach_function :yk_worker_list_restarts, %i[pointer size_t], :int64
    attach_function :yk_worker_list_pid, %i[pointer size_t], :int64
    attach_function :yk_worker_list_free, [:pointer], :void

    # Milliseconds for C from a timeout in seconds: nil (no limit) is -1.
    def self.milliseconds(seconds)
      return -1 if seconds.nil?

      (seconds * 1000).ceil.clamp(0, (2**31) - 1)
    end
  end
end
