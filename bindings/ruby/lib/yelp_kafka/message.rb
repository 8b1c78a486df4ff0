# frozen_string_literal: true

module YelpKafka
  # One message. key and value are binary Strings, nil when null;
  # headers a Hash of name => binary String (nil for a null value), empty
  # when the message has none; timestamp a Time, timestamp_ms the same in
  # milliseconds since the Unix epoch.
  class Message
    attr_reader :topic, :partition, :offset, :timestamp_ms, :key, :value, :headers

    # The address of the library's message, for yk_task_done: it lives in
    # the batch it came in, which this message keeps alive.
    attr_reader :address

    # The consumer or group that handed it out.
    attr_reader :source

    def initialize(topic, partition, offset, timestamp_ms, key, value, headers, address, batch, source)
      @topic = topic
      @partition = partition
      @offset = offset
      @timestamp_ms = timestamp_ms
      @key = key
      @value = value
      @headers = headers
      @address = address
      @batch = batch
      @source = source
    end

    # The library's message, for the calls that take a pointer.
    def pointer
      FFI::Pointer.new(@address)
    end

    def timestamp
      Time.at(0, @timestamp_ms, :millisecond)
    end

    def to_s
      "#{topic}-#{partition}@#{offset}"
    end
  end

  # Turns the views of one batch into Messages, reading every view's
  # fields in one call rather than one ffi accessor per field: the
  # per-message cost of the binding (issue #14, BENCHMARKS.md).
  module Views
    # struct yk_message_view read as 64-bit words, one call per batch: every
    # field is one word, the 32-bit partition and timestamp type each in
    # the low half of theirs (x86_64 and aarch64 are little-endian).
    VIEW_WORDS = Native::MessageView.size / 8
    # struct yk_header, as String#unpack reads it.
    HEADER_FORMAT = "J J J J"
    HEADER_SIZE = Native::Header.size
    NO_HEADERS = {}.freeze
    # Reads at absolute addresses (address - 1 from here), without an
    # FFI::Pointer object per read: a third of the cost per message.
    ADDRESS_SPACE = FFI::Pointer.new(1)

    module_function

    def messages(views, count, batch, source)
      topics = {}
      words = views.get_array_of_int64(0, count * VIEW_WORDS)
      Array.new(count) do |i|
        message, topic, partition, offset, timestamp, _type, key, key_len, value, value_len, headers, header_count =
          words[i * VIEW_WORDS, VIEW_WORDS]
        Message.new(topics[topic] ||= ADDRESS_SPACE.get_string(topic - 1).force_encoding(Encoding::UTF_8),
                    partition & 0xffff_ffff, offset, timestamp, bytes(key, key_len), bytes(value, value_len),
                    header_count.zero? ? NO_HEADERS : headers(headers, header_count), message, batch, source)
      end
    end

    def bytes(address, length)
      address.zero? ? nil : ADDRESS_SPACE.get_bytes(address - 1, length)
    end

    def headers(address, count)
      memory = ADDRESS_SPACE.get_bytes(address - 1, count * HEADER_SIZE)
      Array.new(count) do |i|
        name, name_len, value, value_len = memory.unpack(HEADER_FORMAT, offset: i * HEADER_SIZE)
        [bytes(name, name_len).force_encoding(Encoding::UTF_8), bytes(value, value_len)]
      end.to_h
    end
  end
  private_constant :Views

  # Takes messages from the library a batch of views at a time and hands
  # them out one by one: one C call per batch (docs/c-abi.md, "Batches and
  # views"). Not synchronized: its owner's calls run one at a time.
  class BatchReader
    # Messages taken from the library per call.
    CAPACITY = 256

    # source: the consumer or group the messages come from.
    def initialize(source)
      @source = source
      @taken = []
      @views = FFI::MemoryPointer.new(:pointer)
      @count = FFI::MemoryPointer.new(:size_t)
    end

    # The next message taken before; nil when none is left.
    def shift
      @taken.shift
    end

    # Yields a batch and the places for its views and count to the
    # library's batch call, keeps the messages it took and returns its code.
    def fill
      @batch ||= new_batch
      code = yield @batch, @views, @count
      if code.zero?
        @taken = Views.messages(@views.read_pointer, @count.read(:size_t), @batch, @source)
        @batch = nil
      end
      code
    end

    private

    # A batch per fill: the messages of the last one may still be waiting
    # for task_done, so it is freed only when they are garbage.
    def new_batch
      out = FFI::MemoryPointer.new(:pointer)
      Error.check(Native.yk_message_batch_new(CAPACITY, out))
      FFI::AutoPointer.new(out.read_pointer, Native.method(:yk_message_batch_free))
    end
  end
  private_constant :BatchReader

  # What the consumers and the group share: messages taken by BatchReader,
  # waits on the ready descriptor (Waiting), and task_done. The including
  # class sets @guard, @reader, @ready and @consumer_timeout and defines
  # take_batch (the library's batch call, which must not wait),
  # task_done_on_handle and idle_interval (nil: wait on the descriptor
  # alone).
  module MessageStream
    include Enumerable

    # The next message; raises ConsumerTimeoutError after
    # consumer_timeout_ms (Python yelp_kafka's next()).
    def next
      @guard.call { take(Waiting.deadline(@consumer_timeout)) }
    end

    # Yields every message until the block breaks or a call fails, waiting
    # as long as it takes (consumer_timeout_ms does not apply); an
    # Enumerator without a block. The Enumerable methods all take their
    # messages from here.
    def each
      return enum_for(:each) unless block_given?

      @guard.call { loop { yield take(nil) } }
    end

    # Marks message processed, in any order: a commit never passes a
    # message not marked. Counts toward auto_commit_interval_messages.
    def task_done(message)
      Arguments.instance(message, Message, "message")
      # yk_task_done needs no guard: it is safe whatever became of the handle.
      return Error.check(Native.yk_task_done(message.address)) if message.source.equal?(self)

      @guard.call { Error.check(task_done_on_handle(message)) }
    end

    private

    # The next message, taking a batch without waiting in the library and
    # waiting on the ready descriptor until deadline (nil: no limit)
    # between takes, at most idle_interval at a time.
    def take(deadline)
      loop do
        message = @reader.shift and return message

        code = @reader.fill { |batch, views, count| take_batch(batch, views, count) }
        # A callback's error is raised here, not when a long #each ends.
        @guard.raise_callback_error
        next if code.zero?

        Error.check(code) unless code == ConsumerTimeoutError::CODE
        left = Waiting.remaining(deadline)
        Error.check(code) if left&.zero?
        @ready.wait_readable([left, idle_interval].compact.min)
      end
    end
  end
  private_constant :MessageStream
end
