# frozen_string_literal: true

module YelpKafka
  # Sends messages to one cluster: synchronously, like Python yelp_kafka's
  # YelpKafkaSimpleProducer and YelpKafkaKeyedProducer (#send_messages,
  # #send_keyed_messages), or asynchronously with batching and delivery
  # reports (#produce, then #poll or #flush). Usable from several threads at
  # once; #poll and #flush give way to Timeout, Thread#kill and signal traps
  # at once (Waiting). Close it to deliver what is
  # queued and release it.
  #
  #   producer = YelpKafka::Producer.new(cluster, client_id: "my-client-id", acks: "all")
  #   producer.send_messages("my_topic", "message1", "message2")
  #   producer.close
  class Producer
    # Record headers as the C calls take them: an array of struct yk_header
    # and its length, with the bytes it points to kept alive alongside.
    Headers = Struct.new(:array, :count, :buffers) do
      def self.build(headers)
        return self::NONE if headers.nil? || headers.empty?

        unless headers.respond_to?(:each_pair) || headers.is_a?(Array)
          raise TypeError, "headers must be a Hash or an Array of [name, value], not #{headers.class}"
        end

        pairs = headers.to_a
        array = FFI::MemoryPointer.new(Native::Header, pairs.size)
        buffers = pairs.each_with_index.flat_map do |(name, value), i|
          name = Arguments.string(name, "header name")
          value = Arguments.optional_string(value, "header #{name}")
          entry = Native::Header.new(array + (i * Native::Header.size))
          name_buffer = FFI::MemoryPointer.from_string(name)
          value_buffer = value && FFI::MemoryPointer.new(:uint8, [value.bytesize, 1].max).put_bytes(0, value)
          entry[:name] = name_buffer
          entry[:name_len] = name.bytesize
          entry[:value] = value_buffer
          entry[:value_len] = value&.bytesize || 0
          [name_buffer, value_buffer]
        end
        new(array, pairs.size, buffers)
      end
    end
    Headers::NONE = Headers.new(nil, 0, nil).freeze
    private_constant :Headers

    # What became of one message given to #produce: its topic, partition,
    # offset (-1 when unknown, acks=0, or on failure), opaque, and error
    # (nil when the broker acknowledged it). Reports are values: == and
    # hash compare the fields, to_a and to_h list them, and pattern
    # matching takes them by position or by name.
    #
    # A report is the reports served with it and its place there, and its
    # error: the other fields are read from the served reports' words when
    # asked for. So a report costs one small object, where one holding five
    # fields (a Struct of five) cost a third of the binding's time per
    # message (BENCHMARKS.md, "Ruby binding").
    class DeliveryReport
      MEMBERS = %i[topic partition offset opaque error].freeze

      def self.members
        MEMBERS
      end

      # served: the ServedReports it came in; index: its first word there.
      def initialize(served, index, error)
        @served = served
        @index = index
        @error = error
      end

      attr_reader :error

      def delivered?
        @error.nil?
      end

      def topic
        @served.topic(@index)
      end

      def partition
        @served.partition(@index)
      end

      def offset
        @served.offset(@index)
      end

      def opaque
        @served.opaque(@index)
      end

      def to_a
        [topic, partition, offset, opaque, @error]
      end
      alias deconstruct to_a

      def to_h
        MEMBERS.zip(to_a).to_h
      end

      def deconstruct_keys(_keys)
        to_h
      end

      def ==(other)
        other.instance_of?(DeliveryReport) && to_a == other.to_a
      end
      alias eql? ==

      def hash
        [DeliveryReport, *to_a].hash
      end

      def inspect
        "#<#{self.class.name} #{to_h.map { |name, value| "#{name}=#{value.inspect}" }.join(", ")}>"
      end
      alias to_s inspect
    end

    # The reports of one #poll, #flush or #close, as their words were read
    # (struct yk_delivery_report, REPORT_WORDS each), with what the C
    # memory held only during the call read then: each topic's name, and
    # the opaques given back. Its DeliveryReports read their fields here.
    class ServedReports
      def initialize(words)
        @words = words
        @topics = {}
        @opaques = nil
      end

      # Reads the name of the topic at address (C memory, valid during the
      # call) unless read already.
      def read_topic(address)
        @topics[address] ||= Views.name_at(address)
      end

      # Keeps the opaque of the report at index.
      def keep_opaque(index, opaque)
        (@opaques ||= {})[index] = opaque
      end

      def topic(index)
        @topics[@words[index + 2]]
      end

      # The 32-bit partition is the low half of the report's fourth word.
      def partition(index)
        partition = @words[index + 3] & 0xffff_ffff
        partition >= 0x8000_0000 ? partition - 0x1_0000_0000 : partition
      end

      def offset(index)
        @words[index + 4]
      end

      def opaque(index)
        @opaques&.[](index)
      end
    end
    private_constant :ServedReports

    # Options, as keywords or as a Hash (nil: defaults; both are merged, the
    # keywords winning), take the client options and the producer's:
    # acks (0, 1, all; default 1), ack_timeout_ms, retries, retry_backoff_ms,
    # linger_ms, batch_size_bytes, queue_max_messages, queue_max_bytes,
    # compression (none, gzip, snappy, lz4, zstd), compression_level,
    # compress_on_produce (default true: a full batch is compressed as it is
    # sealed, on a spare engine thread or else by the #produce that filled
    # it), enable_idempotence, report_metrics, message_max_bytes,
    # delivery_timeout_ms, max_in_flight_per_broker. metrics_responder (see
    # MetricsBridge) receives yelp_kafka.YelpKafkaProducer.{
    # metadata_request_timer, produce_request_timer, produce_exception_count}.
    def initialize(cluster, options = nil, metrics_responder: nil, **keywords)
      Arguments.instance(cluster, ClusterConfig, "cluster")
      options = Arguments.options(options, keywords)
      @pending = Registry.new
      @on_delivery = nil
      @on_delivery_batch = nil
      @guard = HandleGuard.new("producer") { release }
      @calls = @guard.calls
      # Topics a produce call has reached: the library knows their
      # partitions, so producing to them never waits and keeps the GVL.
      @topics_known = {}
      @metrics = metrics_responder && MetricsBridge.new(metrics_responder, @guard)
      out = FFI::MemoryPointer.new(:pointer)
      cluster.with_handle do |handle|
        YelpKafka.with_config(options) do |config|
          code = Native.yk_producer_new(handle, config, @metrics&.table, out)
          @metrics&.release unless code.zero?
          Error.check(code)
        end
      end
      @handle = out.read_pointer
      @ready = Waiting.ready_io(Native.yk_producer_ready_fd(@handle))
      @id = HANDLES.add(self)
      Error.check(Native.yk_producer_set_delivery_batch_callback(@handle, DELIVERY, FFI::Pointer.new(@id)))
      @guard.raise_callback_error
    end

    # Sets the block that receives a DeliveryReport for each message of
    # #produce, on the thread that calls #poll, #flush or #close. It must not
    # call back into this producer (ReentrantCallError).
    def on_delivery(&block)
      @on_delivery = block
    end

    # Sets the block that receives, once per #poll, #flush or #close that
    # served reports, how many messages the broker acknowledged and an
    # Array of the DeliveryReports of those that failed (frozen and empty
    # when none did): the reports without an object per delivered message,
    # for counting and handling failures (BENCHMARKS.md, "Ruby binding").
    # Runs after the #on_delivery block, if both are set, with the same
    # restrictions.
    def on_delivery_batch(&block)
      @on_delivery_batch = block
    end

    # Sends messages (no key) to topic, round-robin over its partitions, and
    # returns their offsets once the broker acknowledged every one. What is
    # left after the configured retries raises; #retriable? on the exception
    # says whether to try again. Timeout, Thread#kill and signal traps end
    # the wait at once (the producer's wakeup, docs/c-abi.md "Wakeups"): the
    # messages queued stay queued and may still be delivered.
    def send_messages(topic, *messages)
      topic = Arguments.string(topic, "topic")
      messages = Arguments.strings(messages, "messages")
      send_values(messages) do |values, offsets|
        Native.yk_producer_send_messages(@handle, topic, values, messages.size, offsets)
      end
    end

    # Sends messages with key to topic, to the partition murmur2 of the key
    # picks, and returns their offsets like #send_messages (interrupted as
    # it is).
    def send_keyed_messages(topic, key, *messages)
      topic = Arguments.string(topic, "topic")
      key = Arguments.string(key, "key")
      messages = Arguments.strings(messages, "messages")
      key_buffer = buffer(key)
      send_values(messages) do |values, offsets|
        Native.yk_producer_send_keyed_messages(@handle, topic, key_buffer, key.bytesize, values, messages.size, offsets)
      end
    end

    # Queues one message and returns at once; its DeliveryReport (with
    # opaque) comes from a later #poll, #flush or #close. key nil sends no
    # key, value nil a null value; partition nil lets the producer pick;
    # headers a Hash (or Array of pairs) of name => value (nil: a null
    # value). When the queue is full, queue_wait decides: 0 raises
    # QueueFullError at once, a number of seconds waits up to that long,
    # nil waits for room.
    def produce(topic, value, key: nil, partition: nil, opaque: nil, queue_wait: nil, headers: nil)
      # The usual arguments pass without a call each: this runs per message.
      # A topic produced to before is a key of @topics_known, all Strings:
      # looking it up with [] (an instruction, where instance_of? and
      # include? are two method calls) checks it and picks the path.
      known = @topics_known[topic]
      unless known
        topic = Arguments.string(topic, "topic")
        known = @topics_known[topic]
      end
      value = Arguments.optional_string(value, "value") unless value.nil? || value.instance_of?(String)
      key = Arguments.optional_string(key, "key") unless key.nil? || key.instance_of?(String)
      Arguments.integer(partition, "partition", optional: true) unless partition.nil?
      Arguments.seconds(queue_wait, "queue_wait", optional: true) unless queue_wait.nil?
      return produce_with(topic, value, key, partition, opaque, queue_wait, headers) unless opaque.nil? && headers.nil?

      value_size = value.nil? ? 0 : value.bytesize
      # The guard entered inline (HandleGuard#calls) rather than through
      # its #call and a block, and the library's call made here, the one of
      # four arguments for a value alone (each argument costs ffi about 200
      # instructions): this runs per message.
      calls = @calls
      calls << nil
      begin
        @guard.check_open if @guard.closed
        code = if !known
                 produce_to_new_topic(topic, partition || -1, key, value, Headers::NONE, nil)
               elsif key.nil? && partition.nil?
                 Native.yk_producer_produce_value(@handle, topic, value, value_size)
               else
                 Native.yk_producer_produce_now(@handle, topic, partition || -1, key, key.nil? ? 0 : key.bytesize,
                                                value, value_size, nil, 0)
               end
        return if code == 0 # rubocop:disable Style/NumericPredicate -- == is an instruction, zero? a call
        if code == QueueFullError::CODE && queue_wait != 0
          code = enqueue_waiting(topic, partition || -1, key, value, Headers::NONE, nil, queue_wait)
        end
        raise Error.last(code) unless code == 0 # rubocop:disable Style/NumericPredicate
      ensure
        calls.pop
        @guard.leave_closed if @guard.closed
      end
    end

    # Queues every String of values (nil: a null value) to topic, in
    # order, as #produce with key, partition and queue_wait would each,
    # under one check of the producer and in one call into the library
    # (yk_producer_produce_values, all but a new topic's first value): the
    # fast way to produce (BENCHMARKS.md, "Ruby binding"). Their reports
    # carry no opaque.
    # Returns how many it queued, values.size; a failure raises the error
    # of the first value that was not queued, naming its index, with the
    # values before it queued.
    def produce_batch(topic, values, key: nil, partition: nil, queue_wait: nil)
      topic = Arguments.string(topic, "topic")
      values, data, lens = packed_values(values)
      key = Arguments.optional_string(key, "key")
      key_size = key&.bytesize || 0
      partition = Arguments.integer(partition, "partition", optional: true) || -1
      Arguments.seconds(queue_wait, "queue_wait", optional: true)
      @guard.call do
        queued = FFI::MemoryPointer.new(:size_t)
        index = 0
        while index < values.size
          # The first message to a topic waits for its lookup, and goes
          # alone (#produce_to_new_topic); the others go in one call.
          if @topics_known.include?(topic)
            code = Native.yk_producer_produce_values(@handle, topic, partition, key, key_size,
                                                     *packed_from(values, data, lens, index), nil, 0, queued)
            index += queued.read(:size_t)
          else
            code = produce_to_new_topic(topic, partition, key, values[index], Headers::NONE, nil)
            index += 1 if code.zero?
          end
          next if code.zero?

          if code == QueueFullError::CODE && queue_wait != 0
            code = enqueue_waiting(topic, partition, key, values[index], Headers::NONE, nil, queue_wait)
            index += 1 if code.zero?
          end
          raise batch_error(code, index) unless code.zero?
        end
      end
      values.size
    end

    # Sends one message with headers (see #produce) and returns its offset
    # once the broker acknowledged it; interrupted as #send_messages is.
    def send_with_headers(topic, value, headers:, key: nil, partition: nil)
      topic = Arguments.string(topic, "topic")
      value = Arguments.optional_string(value, "value")
      key = Arguments.optional_string(key, "key")
      Arguments.integer(partition, "partition", optional: true)
      headers = Headers.build(headers)
      until_woken do
        offset = FFI::MemoryPointer.new(:int64)
        Error.check(Native.yk_producer_send_with_headers(@handle, topic, partition || -1, buffer(key),
                                                         key&.bytesize || 0, buffer(value), value&.bytesize || 0,
                                                         headers.array, headers.count, offset))
        offset.read_int64
      end
    end

    # Serves delivery reports: waits up to timeout seconds (nil: until one
    # comes) for the first, then runs the #on_delivery block for every
    # report queued. Returns how many it served.
    def poll(timeout = 0)
      Arguments.seconds(timeout, "timeout", optional: true)
      deadline = Waiting.deadline(timeout)
      @guard.call do
        served = FFI::MemoryPointer.new(:size_t)
        loop do
          Error.check(Native.yk_producer_poll(@handle, 0, served))
          break unless served.read(:size_t).zero?

          left = Waiting.remaining(deadline)
          break if left&.zero?

          @ready.wait_readable(left)
        end
        served.read(:size_t)
      end
    end

    # Sends everything queued and waits up to timeout seconds until every
    # message is delivered or failed, serving delivery reports meanwhile;
    # TimedOutError when the deadline passes first.
    def flush(timeout)
      Arguments.seconds(timeout, "timeout")
      deadline = Waiting.deadline(timeout)
      @guard.call do
        Error.check(Waiting.in_slices(deadline) { |ms| Native.yk_producer_flush(@handle, ms) })
      end
    end

    # Messages produced and not yet delivered or failed.
    def queue_length
      @guard.call { Native.yk_producer_queue_length(@handle) }
    end

    # Flushes for up to timeout seconds, fails what is still queued (their
    # reports carry ClosedHandleError) and releases the producer; later calls
    # raise ClosedHandleError. Raises TimedOutError (naming how
    # many) when messages
    # were left undelivered. From a callback of this producer it raises
    # ReentrantCallError and changes nothing.
    def close(timeout = 5)
      Arguments.seconds(timeout, "timeout")
      @guard.call do
        code = Native.yk_producer_close(@handle, Native.milliseconds(timeout), nil)
        @guard.close unless code == ReentrantCallError::CODE
        Error.check(code)
      end
    end

    # The delivery callback, shared by every producer; its opaque is the
    # producer's id. One call per poll, flush or close serves all their
    # reports (docs/c-abi.md), read in one unpack each.
    DELIVERY = FFI::Function.new(:void, %i[pointer pointer size_t]) do |opaque, reports, count|
      HANDLES[opaque.address].__send__(:deliver, reports, count)
    end

    # struct yk_delivery_report read as 64-bit words, one call per batch:
    # the error code and the Kafka code share the second word, the 32-bit
    # partition is the low half of the fourth (little-endian).
    REPORT_BYTES = Native::DeliveryReport.size
    REPORT_WORDS = REPORT_BYTES / 8
    # unpack formats of the reports' error codes: the first report's, then
    # each next one's, REPORT_BYTES further on.
    ERROR_CODE_FIRST = "x#{Native::DeliveryReport.offset_of(:error)}L"
    ERROR_CODE_NEXT = "x#{REPORT_BYTES - 4}L"
    # What #on_delivery_batch receives when no message failed.
    NO_REPORTS = [].freeze

    private

    # #produce with an opaque or headers (its arguments checked).
    def produce_with(topic, value, key, partition, opaque, queue_wait, headers)
      headers = headers.nil? ? Headers::NONE : Headers.build(headers)
      partition ||= -1
      @guard.call do
        id = opaque.nil? ? 0 : @pending.add(opaque)
        pointer = id.zero? ? nil : FFI::Pointer.new(id)
        code = if @topics_known.include?(topic)
                 Native.yk_producer_produce_with_headers_now(@handle, topic, partition, key, key&.bytesize || 0,
                                                             value, value&.bytesize || 0, headers.array,
                                                             headers.count, pointer, 0)
               else
                 produce_to_new_topic(topic, partition, key, value, headers, pointer)
               end
        if code == QueueFullError::CODE && queue_wait != 0
          code = enqueue_waiting(topic, partition, key, value, headers, pointer, queue_wait)
        end
        @pending.delete(id) unless code.zero?
        raise Error.last(code) unless code.zero?
      end
    end

    # The first produce to topic, which may wait for the topic's partitions
    # (up to metadata_timeout_ms): made with copies of the bytes through a
    # call that lets go of the GVL, so that other threads run meanwhile.
    # Its code; once the library has found the topic, later produce calls
    # to it take the direct path.
    def produce_to_new_topic(topic, partition, key, value, headers, opaque)
      code = Native.yk_producer_produce_with_headers(@handle, topic, partition, buffer(key), key&.bytesize || 0,
                                                     buffer(value), value&.bytesize || 0, headers.array,
                                                     headers.count, opaque, 0)
      @topics_known[topic.frozen? ? topic : topic.dup.freeze] = true if code.zero? || code == QueueFullError::CODE
      code
    end

    def deliver(reports, count)
      @guard.callback do
        on_delivery = @on_delivery
        on_batch = @on_delivery_batch
        return if on_delivery.nil? && on_batch.nil? && @pending.empty?

        if on_delivery.nil? && @pending.empty? && all_delivered?(reports, count)
          on_batch.call(count, NO_REPORTS)
          return
        end

        words = reports.get_array_of_int64(0, count * REPORT_WORDS)
        size = words.size
        failed = NO_REPORTS
        served = ServedReports.new(words)
        topic_address = 0
        index = 0
        # A while loop, each report's words read in place (opaque id,
        # codes, topic, error message) and compared with == (an
        # instruction, where zero? is a method call): this runs per report.
        # What the C memory holds only during this call (the error
        # message, the topic's name) is read here; a report's other fields
        # when asked for.
        # rubocop:disable Style/NumericPredicate
        while index < size
          opaque_id = words[index]
          served.keep_opaque(index, @pending.delete(opaque_id)) unless opaque_id == 0
          codes = words[index + 1]
          error = (codes & 0xffff_ffff) == 0 ? nil : delivery_error(codes, words[index + 5])
          # A DeliveryReport only where a block takes it.
          if on_delivery || error
            address = words[index + 2]
            unless address == topic_address
              served.read_topic(address)
              topic_address = address
            end
            report = DeliveryReport.new(served, index, error)
            if error
              failed = [] if failed.frozen?
              failed << report
            end
            on_delivery&.call(report)
          end
          index += REPORT_WORDS
        end
        # rubocop:enable Style/NumericPredicate
        on_batch&.call(count - failed.size, failed)
      end
    end

    # Whether none of count reports failed: with no #on_delivery block and
    # no opaque to hand back, that is all #deliver needs to know, read as
    # the reports' error codes (32 bits at byte 8 of each) in one unpack
    # and summed, where reading every word costs about three times as
    # much per report.
    def all_delivered?(reports, count)
      reports.get_bytes(0, count * REPORT_BYTES).unpack(ERROR_CODE_FIRST + (ERROR_CODE_NEXT * (count - 1))).sum.zero?
    end

    # The exception for code, which stopped #produce_batch at values[index].
    def batch_error(code, index)
      error = Error.last(code)
      error.exception("#{error.message} (values[#{index}]; the #{index} before it are queued)")
    end

    # values (an Array of Strings and nils; TypeError otherwise) as
    # Strings and nils, and as yk_producer_produce_values takes them: their
    # bytes end to end, and their lengths as native int64s, -1 for nil.
    # all?(String), pack and map run their loops in C, about 150 ns a value
    # where a call of the library through ffi per value costs about 1 µs
    # (a block per value costs three times all?(String)).
    def packed_values(values)
      raise TypeError, "values must be an Array of Strings, not #{values.class}" unless values.is_a?(Array)
      return [values, values.pack("a*" * values.size), values.map(&:bytesize).pack("q*")] if values.all?(String)

      unless values.all? { |value| value.nil? || value.is_a?(String) }
        values = values.each_with_index.map { |value, i| Arguments.optional_string(value, "values[#{i}]") }
      end
      present = values.compact
      [values, present.pack("a*" * present.size), values.map { |value| value.nil? ? -1 : value.bytesize }.pack("q*")]
    end

    # The arguments data, lens and count of yk_producer_produce_values for
    # values from index on (slices share their String's bytes).
    def packed_from(values, data, lens, index)
      return [data, lens, values.size] if index.zero?

      offset = values.first(index).sum { |value| value.nil? ? 0 : value.bytesize }
      [data.byteslice(offset, data.bytesize - offset), lens.byteslice(index * 8, lens.bytesize - (index * 8)),
       values.size - index]
    end

    # The exception of a failed report's words (codes not zero).
    def delivery_error(codes, error_message)
      code = codes & 0xffff_ffff
      kafka_code = (codes >> 32) & 0xffff
      kafka_code -= 0x1_0000 if kafka_code >= 0x8000
      message = error_message.zero? ? nil : Views::ADDRESS_SPACE.get_string(error_message - 1)
      Error::CLASSES.fetch(code, Error).new(message, code: code, kafka_code: kafka_code)
    end

    # Queues when a call that does not wait in the library and does not
    # copy the bytes first found the queue full: tries again in slices
    # (Waiting) with copies, as the library then keeps the bytes while it
    # waits without the GVL.
    def enqueue_waiting(topic, partition, key, value, headers, opaque, queue_wait)
      deadline = Waiting.deadline(queue_wait)
      key_buffer = buffer(key)
      value_buffer = buffer(value)
      Waiting.in_slices(deadline, timed_out: QueueFullError::CODE) do |ms|
        Native.yk_producer_produce_with_headers(@handle, topic, partition, key_buffer, key&.bytesize || 0,
                                                value_buffer, value&.bytesize || 0, headers.array, headers.count,
                                                opaque, ms)
      end
    end

    def release
      Native.yk_producer_free(@handle)
      HANDLES.delete(@id)
      @metrics&.release
    end

    # A C copy of a string's bytes for one call; nil for nil.
    def buffer(string)
      string && FFI::MemoryPointer.new(:uint8, [string.bytesize, 1].max).put_bytes(0, string)
    end

    # Runs the block (a synchronous send) so that an interrupt wakes it
    # (Waiting.until_woken); the block's value.
    def until_woken(&send)
      Waiting.until_woken(@guard, wake: -> { Native.yk_producer_wakeup(@handle) }, &send)
    end

    def send_values(messages)
      until_woken do
        values = FFI::MemoryPointer.new(Native::Bytes, [messages.size, 1].max)
        buffers = messages.map { |m| buffer(m) }
        messages.each_with_index do |m, i|
          entry = Native::Bytes.new(values + (i * Native::Bytes.size))
          entry[:data] = buffers[i]
          entry[:len] = m.bytesize
        end
        offsets = FFI::MemoryPointer.new(:int64, [messages.size, 1].max)
        Error.check(yield(values, offsets))
        offsets.read_array_of_int64(messages.size)
      end
    end
  end
end
