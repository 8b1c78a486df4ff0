# frozen_string_literal: true

module YelpKafka
  # Python yelp_kafka's callback-style ConsumerGroup (docs/consumer-groups.md):
  # the balancing, commits and rebalance callbacks of KafkaConsumerGroup,
  # with the group calling a block for every message of the partitions it
  # holds and marking each processed when the block returns.
  #
  #   group = YelpKafka::ConsumerGroup.new(["my_topic"], config) { |message| process(message) }
  #   group.run # until group.stop, from the block or another thread
  #
  # A block that raises stops the group: #run raises what it raised.
  class ConsumerGroup
    include GroupHandle

    # The block's message is lent: its key, value and headers are copies
    # that stay, but it cannot go to task_done (the group marks it).
    def initialize(topics, config, metrics_responder: nil, &process)
      raise ArgumentError, "ConsumerGroup needs a block to process messages" unless process

      topics = Arguments.strings(topics, "topics")
      @config = Arguments.instance(config, KafkaConsumerConfig, "config")
      @process = process
      @guard = HandleGuard.new("consumer group") { release }
      @view = FFI::MemoryPointer.new(Native::MessageView)
      @handle = create_group(topics, metrics_responder) do |array, count, c, metrics, out|
        Native.yk_callback_group_new(array, count, c, metrics, PROCESS, FFI::Pointer.new(@id), out)
      end
    end

    # Joins the group and processes messages until #stop; then commits and
    # leaves. Runs once per group. The library holds the thread that runs
    # it, so it runs on a thread of its own while this one waits: Timeout,
    # Thread#kill and signals interrupt the wait at once and stop the
    # group, which then leaves after the message in hand.
    def run
      Waiting.on_own_thread(@guard, stop: -> { Native.yk_callback_group_stop(@handle, 0) }) do
        Error.check(Native.yk_callback_group_run(@handle))
      end
    end

    # Asks #run to stop after the message in hand and waits up to timeout
    # seconds for the group to have committed and left (TimedOutError when
    # it has not yet; it still stops). Callable from the block, from any
    # thread, and before #run (which then never joins).
    def stop(timeout = 10)
      Arguments.seconds(timeout, "timeout")
      @guard.call { Error.check(Native.yk_callback_group_stop(@handle, Native.milliseconds(timeout))) }
    end

    # Releases the group once #run has returned; later calls raise
    # ClosedHandleError.
    def close
      @guard.call { @guard.close }
    end

    # The process callback, shared by every callback group; opaque is the
    # group's id. A block that raises stops the group.
    PROCESS = FFI::Function.new(:int32, %i[pointer pointer pointer size_t]) do |opaque, message, error, error_size|
      HANDLES[opaque.address].__send__(:process, message, error, error_size)
    end

    private

    def process(message, error, error_size)
      failed = @guard.callback(:failed) do
        Error.check(Native.yk_message_get_view(message, @view))
        @process.call(Views.lent_message(@view))
        nil
      end
      return 0 unless failed == :failed

      error.put_string(0, "the Ruby block raised".byteslice(0, error_size - 1)) if error_size.positive?
      1
    end

    def release
      Native.yk_callback_group_free(@handle)
      HANDLES.delete(@id)
      @metrics&.release
    end
  end
end
