# frozen_string_literal: true

module YelpKafka
  # Python yelp_kafka's KafkaConsumerConfig(group_id, cluster, **options) (docs/configuration.md). Options take the Python library's names: auto_offset_reset
  # ("smallest" | "largest"), auto_commit_enable, auto_commit_interval_ms,
  # auto_commit_interval_messages, consumer_timeout_ms (negative: wait
  # forever), fetch_min_bytes, fetch_wait_max_ms, fetch_message_max_bytes,
  # fetch_max_bytes, queued_max_messages_kbytes, client_id,
  # partitioner_cooldown (seconds), use_group_sha,
  # max_termination_timeout_secs, offset_storage ("kafka" | "zookeeper" |
  # "dual"), metrics_dimensions, and the client options; plus
  # pre_rebalance_callback and post_rebalance_callback, objects answering
  # call(partitions) with partitions an Array of [topic, partition]. An
  # unknown key or a bad value raises ConfigurationError naming the key.
  class KafkaConsumerConfig
    attr_reader :group_id, :cluster, :options, :pre_rebalance_callback, :post_rebalance_callback

    def initialize(group_id, cluster, pre_rebalance_callback: nil, post_rebalance_callback: nil, **options)
      @group_id = Arguments.string(group_id, "group_id").dup.freeze
      @cluster = Arguments.instance(cluster, ClusterConfig, "cluster")
      check_callback(pre_rebalance_callback, "pre_rebalance_callback")
      check_callback(post_rebalance_callback, "post_rebalance_callback")
      @options = options.freeze
      @pre_rebalance_callback = pre_rebalance_callback
      @post_rebalance_callback = post_rebalance_callback
      with_handle(nil) { nil } # checks every option now
      freeze
    end

    # The effective configuration, one "key = value" line per option.
    def dump
      with_handle(nil) { |config| Native.yk_consumer_config_dump(config) }
    end

    # consumer_timeout_ms in seconds; nil when negative (no limit).
    def consumer_timeout
      milliseconds = options.fetch(:consumer_timeout_ms) { options.fetch("consumer_timeout_ms", 100) }
      Integer(milliseconds).negative? ? nil : Integer(milliseconds) / 1000.0
    end

    # Yields the C configuration, with the rebalance callbacks reaching the
    # group registered in HANDLES under callbacks_id (nil: no callbacks) and
    # overrides set after the options.
    def with_handle(callbacks_id, overrides = {})
      out = FFI::MemoryPointer.new(:pointer)
      cluster.with_handle { |c| Error.check(Native.yk_consumer_config_new(group_id, c, out)) }
      config = out.read_pointer
      begin
        options.merge(overrides).each do |key, value|
          Error.check(Native.yk_consumer_config_set(config, key.to_s, value.to_s))
        end
        if callbacks_id
          Error.check(Native.yk_consumer_config_set_rebalance_callbacks(config, KafkaConsumerGroup::PRE_REBALANCE,
                                                                        KafkaConsumerGroup::POST_REBALANCE,
                                                                        FFI::Pointer.new(callbacks_id)))
        end
        yield config
      ensure
        Native.yk_consumer_config_free(config)
      end
    end

    private

    def check_callback(callback, name)
      return if callback.nil? || callback.respond_to?(:call)

      raise TypeError, "#{name} must answer call(partitions), and #{callback.class} does not"
    end
  end

  # What the two groups (KafkaConsumerGroup, ConsumerGroup) share: making
  # the C group with its metrics responder, and running config's rebalance
  # callbacks (PRE_REBALANCE and POST_REBALANCE reach the group through
  # HANDLES). The including class sets @config and @guard first.
  module GroupHandle
    private

    # Registers the group in HANDLES and yields the topics' C array, their
    # count, the C configuration (with overrides), the metrics table and
    # the place for the handle to the library's constructor; returns the
    # handle.
    def create_group(topics, metrics_responder, overrides = {})
      @metrics = metrics_responder && MetricsBridge.new(metrics_responder, @guard)
      @id = HANDLES.add(self)
      names = topics.map { |t| FFI::MemoryPointer.from_string(t) }
      array = FFI::MemoryPointer.new(:pointer, [names.size, 1].max).write_array_of_pointer(names)
      out = FFI::MemoryPointer.new(:pointer)
      @config.with_handle(@id, overrides) do |c|
        code = yield(array, names.size, c, @metrics&.table, out)
        unless code.zero?
          HANDLES.delete(@id)
          @metrics&.release
        end
        Error.check(code)
      end
      out.read_pointer
    end

    def rebalance(which, partitions, count)
      callback = @config.public_send(which) or return
      @guard.callback do
        list = Array.new(count) do |i|
          p = Native::TopicPartition.new(partitions + (i * Native::TopicPartition.size))
          [p[:topic], p[:partition]]
        end
        callback.call(list)
      end
    end
  end
  private_constant :GroupHandle

  # Python yelp_kafka's KafkaConsumerGroup (docs/consumer-groups.md): members of one group, in any
  # processes or hosts (Python members included), share the partitions of
  # the topics through ZooKeeper.
  #
  #   group = YelpKafka::KafkaConsumerGroup.new(["my_topic"], config)
  #   group.start do
  #     group.each do |message|
  #       process(message)
  #       group.task_done(message)
  #     end
  #   end
  #
  # A group is Enumerable over its messages, an endless sequence:
  # group.first(3) takes three, group.each_slice(100) hands out batches, and
  # methods that need the whole sequence (to_a, count, ...) never return
  # unless a call fails. group.each_batch(task_done: true) { |messages| }
  # takes the library's batches as they come, at less CPU per message
  # (MessageStream#each_batch).
  #
  # Rebalances and their callbacks run inside the calls that meet them
  # (start, next, stop), on the calling thread. start, next and each give
  # way to Timeout, Thread#kill and signal traps at once, also with
  # consumer_timeout_ms -1 (Waiting). After PartitionerError (the ZooKeeper session was lost) nothing
  # more is delivered: stop the group and create a new one (Python yelp_kafka's outer
  # loop).
  class KafkaConsumerGroup
    include MessageStream
    include GroupHandle

    # The messages handed out, shared with the consumers.
    Message = YelpKafka::Message

    # metrics_responder (see MetricsBridge) receives
    # yelp_kafka.KafkaConsumerGroup.* with dimensions group_id, cluster_name,
    # cluster_type and the configured ones. Nothing connects before #start.
    def initialize(topics, config, metrics_responder: nil)
      topics = Arguments.strings(topics, "topics")
      @config = Arguments.instance(config, KafkaConsumerConfig, "config")
      @guard = HandleGuard.new("consumer group") { release }
      # The library never waits for messages: #next waits on the ready
      # descriptor itself, for config's consumer_timeout_ms (Waiting).
      @consumer_timeout = config.consumer_timeout
      @handle = create_group(topics, metrics_responder, consumer_timeout_ms: 0) do |array, count, c, metrics, out|
        Native.yk_consumer_group_new(array, count, c, metrics, out)
      end
      @ready = Waiting.ready_io(Native.yk_consumer_group_ready_fd(@handle))
      open_stream
      @guard.raise_callback_error
    end

    # Connects, joins the group and waits up to timeout seconds (nil: no
    # limit) for the first allocation, which comes no sooner than
    # partitioner_cooldown; the post-rebalance callback runs here. Returns
    # true once allocated, false when still allocating at the deadline (the
    # group goes on). Other failures (PartitionerError when ZooKeeper cannot
    # be reached, KafkaUnavailableError, ...) raise and leave the group
    # stopped. With a block: yields the group and stops it afterwards, also
    # when starting failed.
    def start(timeout = nil)
      Arguments.seconds(timeout, "timeout", optional: true)
      return start_group(timeout) unless block_given?

      begin
        start_group(timeout)
        yield self
      ensure
        stop
      end
    end

    # Commits the processed offsets of the partitions held now; raises
    # OffsetCommitError when the offset storage refuses. Timeout,
    # Thread#kill and signal traps end the wait for the storage's answer at
    # once (the group's wakeup, docs/c-abi.md "Wakeups"): the commit may
    # still land, and the next one stores the offsets again.
    def commit
      hand_over_marks
      Waiting.until_woken(@guard, wake: -> { Native.yk_consumer_group_wakeup(@handle) }) do
        Error.check(Native.yk_consumer_group_commit(@handle))
      end
    end

    # This member's identifier in the party, <fqdn>-<pid>-<n>.
    def identifier
      @guard.call { Native.yk_consumer_group_identifier(@handle) }
    end

    # Leaves the group within timeout seconds (pre-rebalance callback, a
    # commit with auto-commit, partitions, locks and membership given up)
    # and releases it; later calls raise ClosedHandleError. Also the way out
    # after PartitionerError. From a callback of this group it raises
    # ReentrantCallError and changes nothing.
    def stop(timeout = 10)
      Arguments.seconds(timeout, "timeout")
      @guard.call do
        begin
          hand_over_marks
        ensure
          code = Native.yk_consumer_group_stop(@handle, Native.milliseconds(timeout))
          @guard.close unless code == ReentrantCallError::CODE
        end
        Error.check(code)
      end
    end

    # The rebalance callbacks, shared by every group; opaque is the group's id.
    PRE_REBALANCE = FFI::Function.new(:void, %i[pointer pointer size_t]) do |opaque, partitions, count|
      HANDLES[opaque.address].__send__(:rebalance, :pre_rebalance_callback, partitions, count)
    end
    POST_REBALANCE = FFI::Function.new(:void, %i[pointer pointer size_t]) do |opaque, partitions, count|
      HANDLES[opaque.address].__send__(:rebalance, :post_rebalance_callback, partitions, count)
    end

    private

    # Starts without waiting, then waits for the allocation in slices.
    def start_group(timeout)
      deadline = Waiting.deadline(timeout)
      @guard.call do
        code = Native.yk_consumer_group_start(@handle, 0)
        if code == TimedOutError::CODE
          code = Waiting.in_slices(deadline) { |ms| Native.yk_consumer_group_wait_assignment(@handle, ms) }
        end
        Error.check(code) unless code == TimedOutError::CODE
        code.zero?
      end
    end

    # Does not wait: the group runs with consumer_timeout_ms 0.
    def next_views(batch, views, count)
      Native.yk_consumer_group_next_batch(@handle, batch, views, count)
    end

    def task_done_on_handle(message)
      Native.yk_consumer_group_task_done(@handle, message.pointer)
    end

    # A group rebalances only inside its calls, so they run this often.
    def idle_interval
      Waiting::REBALANCE_INTERVAL
    end

    def release
      Native.yk_consumer_group_free(@handle)
      HANDLES.delete(@id)
      @metrics&.release
    end
  end
end
