# frozen_string_literal: true

module YelpKafka
  # Python yelp_kafka's consumer of every partition of some topics, reading
  # with config's group offsets and no balancing (docs/consumer-groups.md).
  #
  #   consumer = YelpKafka::KafkaConsumer.new(["my_topic"], config)
  #   consumer.connect
  #   consumer.each { |message| process(message); consumer.task_done(message) }
  #   consumer.close
  #
  # Enumerable over its messages, an endless sequence, like
  # KafkaConsumerGroup. Waits give way to Timeout, Thread#kill and signal
  # traps at once (Waiting).
  class KafkaConsumer
    include MessageStream

    def initialize(topics, config)
      topics = Arguments.strings(topics, "topics")
      names = topics.map { |t| FFI::MemoryPointer.from_string(t) }
      array = FFI::MemoryPointer.new(:pointer, [names.size, 1].max).write_array_of_pointer(names)
      create(config) { |c, out| Native.yk_consumer_new(c, array, names.size, out) }
    end

    # In a worker process started by a MultiprocessingGroup: the simple
    # consumer of its partition, with the group's configuration and
    # offsets, from the YK_WORKER_* environment the group sets
    # (ConfigurationError without it). Not yet connected. The worker does
    # not see consumer_timeout_ms: #next waits without limit, and
    # #get_message(timeout:) takes a deadline.
    def self.multiprocessing_worker
      allocate.tap { |consumer| consumer.__send__(:create_worker) }
    end

    # Looks the partitions up and starts each at the group's committed
    # offset (else per auto_offset_reset). Once only (WrongStateError).
    def connect
      @guard.call { Error.check(Native.yk_consumer_connect(@handle)) }
      self
    end

    # The next message, waiting up to timeout seconds (nil: no limit) when
    # block; nil when none came (Python yelp_kafka's get_message).
    def get_message(block: true, timeout: nil)
      Arguments.seconds(timeout, "timeout", optional: true)
      @guard.call { take(block ? Waiting.deadline(timeout) : Waiting.now) }
    rescue ConsumerTimeoutError
      nil
    end

    # Commits the processed offsets: of every partition, or of partitions
    # (an Array of [topic, partition]) only. Timeout, Thread#kill and
    # signal traps end the wait for the storage's answer at once (the
    # consumer's wakeup, docs/c-abi.md "Wakeups"): the commit may still
    # land, and the next one stores the offsets again.
    def commit(partitions = nil)
      hand_over_marks
      until_woken do
        next Error.check(Native.yk_consumer_commit(@handle)) if partitions.nil?

        YelpKafka.with_topic_partitions(partitions) do |array, count|
          Error.check(Native.yk_consumer_commit_partitions(@handle, array, count))
        end
      end
    end

    # Marks every message of message's partition up to it processed and
    # commits that partition (Python yelp_kafka's commit_message);
    # interrupted as #commit is.
    def commit_message(message)
      Arguments.instance(message, Message, "message")
      hand_over_marks
      until_woken { Error.check(Native.yk_consumer_commit_message(@handle, message.pointer)) }
    end

    # Stops fetching, commits with auto_commit_enable and releases the
    # consumer; later calls raise ClosedHandleError. Messages taken stay.
    def close
      @guard.call do
        begin
          hand_over_marks
        ensure
          code = Native.yk_consumer_close(@handle)
          @guard.close
        end
        Error.check(code)
      end
    end

    private

    def create(config)
      Arguments.instance(config, KafkaConsumerConfig, "config")
      @consumer_timeout = config.consumer_timeout
      out = FFI::MemoryPointer.new(:pointer)
      config.with_handle(nil) { |c| Error.check(yield(c, out)) }
      adopt(out.read_pointer)
    end

    def create_worker
      @consumer_timeout = nil
      out = FFI::MemoryPointer.new(:pointer)
      Error.check(Native.yk_multiprocessing_worker_consumer(out))
      adopt(out.read_pointer)
    end

    def adopt(handle)
      @handle = handle
      @guard = HandleGuard.new("consumer") { Native.yk_consumer_free(@handle) }
      @ready = Waiting.ready_io(Native.yk_consumer_ready_fd(@handle))
      open_stream
    end

    # Runs the block (a commit) so that an interrupt wakes it
    # (Waiting.until_woken); the block's value.
    def until_woken(&commit)
      Waiting.until_woken(@guard, wake: -> { Native.yk_consumer_wakeup(@handle) }, &commit)
    end

    def next_views(batch, views, count)
      Native.yk_consumer_next_batch(@handle, 0, batch, views, count)
    end

    def task_done_on_handle(message)
      Native.yk_consumer_task_done(@handle, message.pointer)
    end

    def idle_interval
      nil
    end
  end

  # Yields a C array of struct yk_topic_partition for partitions, an Array
  # of [topic, partition], and its length.
  def self.with_topic_partitions(partitions)
    partitions = Array(partitions).map do |topic, partition|
      [FFI::MemoryPointer.from_string(Arguments.string(topic, "topic")), Arguments.integer(partition, "partition")]
    end
    array = FFI::MemoryPointer.new(Native::TopicPartition, [partitions.size, 1].max)
    partitions.each_with_index do |(topic, partition), i|
      entry = Native::TopicPartition.new(array + (i * Native::TopicPartition.size))
      entry.pointer.put_pointer(0, topic)
      entry[:partition] = partition
    end
    yield array, partitions.size
  end

  # Python yelp_kafka's KafkaSimpleConsumer(topic, config, partitions): some
  # or all partitions (nil) of one topic, read like KafkaConsumer.
  class KafkaSimpleConsumer < KafkaConsumer
    def initialize(topic, config, partitions: nil)
      topic = Arguments.string(topic, "topic")
      partitions = partitions&.map { |p| Arguments.integer(p, "partitions") } || []
      array = FFI::MemoryPointer.new(:int32, [partitions.size, 1].max).write_array_of_int32(partitions)
      create(config) do |c, out|
        Native.yk_consumer_new_simple(c, topic, partitions.empty? ? nil : array, partitions.size, out)
      end
    end
  end
end
