# frozen_string_literal: true

module YelpKafka
  # One message. key and value are binary Strings, nil when null;
  # headers a Hash of name => binary String (nil for a null value), empty
  # when the message has none; topic a frozen String, shared by the
  # messages of one batch; timestamp a Time, timestamp_ms the same in
  # milliseconds since the Unix epoch.
  #
  # Only the value is copied when a message is taken; the other fields are
  # read from its batch when asked for (key and headers once, then kept):
  # an object of three instance variables per message is what keeps the
  # binding's cost per message low (BENCHMARKS.md, "Ruby binding").
  class Message
    attr_reader :value

    # taken: the Views::Taken of the batch this message came in; base: the
    # index of its view's first word there.
    def initialize(taken, base, value)
      @taken = taken
      @base = base
      @value = value
    end

    def topic
      @taken.topic(@base)
    end

    def partition
      @taken.words[@base + Views::PARTITION] & 0xffff_ffff
    end

    def offset
      @taken.words[@base + Views::OFFSET]
    end

    def timestamp_ms
      @taken.words[@base + Views::TIMESTAMP]
    end

    # Read once, and kept only when not null: a fourth instance variable
    # costs the message a table of its own.
    def key
      return @key if @key
      return nil if @taken.null?(@base + Views::KEY)

      @key = @taken.bytes(@base + Views::KEY)
    end

    # Read once, and kept only when there are headers (as #key).
    def headers
      return @headers if @headers
      return Views::NO_HEADERS if @taken.null?(@base + Views::HEADERS)

      @headers = @taken.headers(@base)
    end

    # The address of the library's message, for yk_task_done: it lives in
    # the batch it came in, which this message keeps alive.
    def address
      @taken.words[@base + Views::MESSAGE]
    end

    # The consumer or group that handed it out.
    def source
      @taken.source
    end

    # The Views::Taken this message is read from, and where in its words.
    attr_reader :taken, :base
    private :taken, :base

    # The library's message, for the calls that take a pointer.
    def pointer
      FFI::Pointer.new(address)
    end

    def timestamp
      Time.at(0, timestamp_ms, :millisecond)
    end

    def to_s
      "#{topic}-#{partition}@#{offset}"
    end

    private

    # Reads every field now, for a message whose memory the library lends
    # only for a while (a callback group's).
    def read_all
      key
      headers
      topic
      self
    end
  end

  # Turns the views of one batch into Messages, reading every view's
  # fields in one call rather than one ffi accessor per field, and into
  # MessageColumns, a field of every message at a time: the per-message
  # cost of the binding (issue #14, BENCHMARKS.md).
  module Views
    # struct yk_message_view read as 64-bit words, one call per batch: every
    # field is one word, the 32-bit partition and timestamp type each in
    # the low half of theirs (x86_64 and aarch64 are little-endian). The
    # words of each field, counted from the view's first:
    MESSAGE = 0
    TOPIC = 1
    PARTITION = 2
    OFFSET = 3
    TIMESTAMP = 4
    KEY = 6
    VALUE = 8
    HEADERS = 10
    VIEW_WORDS = Native::MessageView.size / 8
    # Messages taken from the library per call (BatchReader).
    CAPACITY = 1024
    # The first size of the buffer values and keys are copied into (Views.buffer).
    BUFFER_SIZE = 1 << 17
    # struct yk_header, as String#unpack reads it.
    HEADER_FORMAT = "J J J J"
    HEADER_SIZE = Native::Header.size
    NO_HEADERS = {}.freeze
    # Reads at absolute addresses (address - 1 from here), without an
    # FFI::Pointer object per read: a third of the cost per message.
    ADDRESS_SPACE = FFI::Pointer.new(1)

    # What the messages of one batch share: its views (read as words for
    # Messages, a field at a time for a MessageColumns), the library's
    # batch they point into (kept alive while a message or a
    # MessageColumns is), the source, and each topic's name read once.
    class Taken
      # words: the views' words once read_words ran, else nil.
      attr_reader :words, :source, :count

      # views: the address of the batch's first view.
      def initialize(views, count, batch, source)
        @views = views
        @count = count
        @batch = batch
        @source = source
        @topics = {}
      end

      # Reads the words of every view, by one call, for Messages to read
      # their fields from (#words).
      def read_words
        @words ||= @views.get_array_of_int64(0, @count * VIEW_WORDS)
      end

      def topic(base)
        topic_at(@words[base + TOPIC])
      end

      # The topic whose name is at address.
      def topic_at(address)
        @topics[address] ||= ADDRESS_SPACE.get_string(address - 1).force_encoding(Encoding::UTF_8).freeze
      end

      # Marks count messages, from the index-th, done in one C call; its code.
      def task_done(index, count)
        Native.yk_message_batch_task_done(@batch, index, count)
      end

      # The bytes whose address and length are the words at index.
      def bytes(index)
        ADDRESS_SPACE.get_bytes(@words[index] - 1, @words[index + 1])
      end

      # Whether the address at index is NULL.
      def null?(index)
        @words[index].zero?
      end

      # The headers of the view whose first word is at base; that view's
      # two words alone when the batch's were not read.
      def headers(base)
        address, count = @words ? @words[base + HEADERS, 2] : @views.get_array_of_int64((base + HEADERS) * 8, 2)
        return NO_HEADERS if address.zero?

        memory = ADDRESS_SPACE.get_bytes(address - 1, count * HEADER_SIZE)
        Array.new(count) do |i|
          name, name_len, value, value_len = memory.unpack(HEADER_FORMAT, offset: i * HEADER_SIZE)
          [Views.bytes(name, name_len).force_encoding(Encoding::UTF_8), Views.bytes(value, value_len)]
        end.to_h
      end

      # The field of count messages from the index-th as an Array of
      # Integers: field a member of Native::MessageColumns, type its
      # elements' (:int64, or :int32 for the partitions). One C call
      # (yk_message_batch_columns) and one read.
      def column(field, type, index, count)
        out = column_memory(field, type, index, count)
        type == :int32 ? out.get_array_of_int32(0, count) : out.get_array_of_int64(0, count)
      end

      # The topic of count messages from the index-th, each a frozen
      # String; one topic's messages share one.
      def topics(index, count)
        addresses = column_memory(:topics, :int64, index, count)
        address = Views.all_same(addresses, count)
        return Array.new(count, topic_at(address)) if address

        addresses.get_array_of_int64(0, count).map { |each| topic_at(each) }
      end

      # Every message's value: copied by one call from a batch, read from
      # the words for a view lent alone (a callback group's, no batch).
      def values
        return packed(:yk_message_batch_copy_values, 0, @count) if @batch

        Array.new(@count) { |i| Views.bytes(@words[(i * VIEW_WORDS) + VALUE], @words[(i * VIEW_WORDS) + VALUE + 1]) }
      end

      # The values (copy :yk_message_batch_copy_values) or keys
      # (:yk_message_batch_copy_keys) of count messages from the index-th:
      # binary Strings, nil for null ones. The library copies them back to
      # back into Views.buffer, which one String#unpack cuts: no ffi call
      # per value (BENCHMARKS.md, "Ruby binding").
      def packed(copy, index, count)
        lengths = FFI::MemoryPointer.new(:int64, count, false)
        size = FFI::MemoryPointer.new(:size_t)
        buffer = Views.buffer(0)
        check(Native.__send__(copy, @batch, index, count, lengths, buffer, buffer.bytesize, size))
        needed = size.read(:size_t)
        if needed > buffer.bytesize
          buffer = Views.buffer(needed)
          check(Native.__send__(copy, @batch, index, count, lengths, buffer, buffer.bytesize, size))
        end
        length = Views.all_same(lengths, count)
        return Views.unpack(buffer, lengths.get_array_of_int64(0, count)) unless length
        return Array.new(count) if length.negative?

        buffer.unpack("a#{length}" * count)
      end

      private

      # The field of count messages from the index-th, written by one C
      # call (yk_message_batch_columns) into memory of count elements of
      # type, which it returns.
      def column_memory(field, type, index, count)
        out = FFI::MemoryPointer.new(type, count, false)
        columns = Native::MessageColumns.new
        columns[field] = out
        check(Native.yk_message_batch_columns(@batch, index, count, columns))
        out
      end

      def check(code)
        raise Error.last(code) unless code.zero?
      end
    end

    module_function

    # The views of a batch (an FFI::Pointer to the first) as a Taken.
    def taken(views, count, batch, source)
      Taken.new(views, count, batch, source)
    end

    # A Message for each view of taken, which reads its words for them.
    def messages(taken)
      taken.read_words
      values = taken.values
      Array.new(taken.count) { |i| Message.new(taken, i * VIEW_WORDS, values[i]) }
    end

    # A binary String of at least size bytes for the library to copy values
    # and keys into, one per Fiber (no two calls share it), kept and grown
    # as needed; nothing but Taken#packed sees it.
    def buffer(size)
      buffer = Thread.current[:yelp_kafka_copy_buffer]
      return buffer if buffer && buffer.bytesize >= size

      Thread.current[:yelp_kafka_copy_buffer] = "\0".b * [size, (buffer&.bytesize || BUFFER_SIZE / 2) * 2].max
    end

    # The one value of the count 64-bit integers at memory when they are
    # all the same (one topic, every key null, values of one length), else
    # nil: their bytes read and compared at once, not an Integer each.
    def all_same(memory, count)
      bytes = memory.get_bytes(0, count * 8)
      first = bytes.byteslice(0, 8)
      first.unpack1("q") if bytes == first * count
    end

    # The Strings of lengths (-1 for nil; not all the same) bytes, back
    # to back at the start of buffer: one String#unpack, its format one
    # "a" per String.
    def unpack(buffer, lengths)
      return buffer.unpack(("a%d" * lengths.size) % lengths) unless lengths.min.negative?

      strings = buffer.unpack(("a%d" * lengths.size) % lengths.map { |length| [length, 0].max })
      lengths.each_with_index { |length, i| strings[i] = nil if length.negative? }
      strings
    end

    def bytes(address, length)
      address.zero? ? nil : ADDRESS_SPACE.get_bytes(address - 1, length)
    end
  end
  private_constant :Views

  # The messages of one batch as columns: one Array per field, index i of
  # each being the batch's i-th message, in order. The fast way to read
  # (MessageStream#each_columns): no object per message but its value and
  # key Strings; each column is one C call that writes that field of every
  # message (yk_message_batch_columns), or copies the values or keys back
  # to back (yk_message_batch_copy_values, _keys), and one read. Each
  # column is built when first asked for, then kept; the columns are
  # frozen Arrays.
  #
  #   values      binary Strings, nil for a null value (a tombstone)
  #   keys        binary Strings, nil for a null key
  #   offsets     Integers
  #   partitions  Integers
  #   timestamps_ms  Integers, milliseconds since the Unix epoch
  #   topics      frozen Strings, one object per topic name
  #   headers(i)  the i-th message's headers, as Message#headers
  #
  # The columns stay valid after the batch is marked done and after the
  # consumer is closed.
  class MessageColumns
    # The number of messages, at least 1.
    attr_reader :size
    alias length size

    # The consumer or group that handed the messages out.
    def source
      @taken.source
    end

    # taken: the Views::Taken the messages were taken in; index: the
    # first's place there; size: how many.
    def initialize(taken, index, size)
      @taken = taken
      @index = index
      @size = size
    end

    def values
      @values ||= @taken.packed(:yk_message_batch_copy_values, @index, @size).freeze
    end

    def keys
      @keys ||= @taken.packed(:yk_message_batch_copy_keys, @index, @size).freeze
    end

    def offsets
      @offsets ||= @taken.column(:offsets, :int64, @index, @size).freeze
    end

    def partitions
      @partitions ||= @taken.column(:partitions, :int32, @index, @size).freeze
    end

    def timestamps_ms
      @timestamps_ms ||= @taken.column(:timestamps, :int64, @index, @size).freeze
    end

    # The topic of each message; one topic's messages share one String.
    def topics
      @topics ||= @taken.topics(@index, @size).freeze
    end

    # The headers of the index-th message (0 to size - 1), a Hash as
    # Message#headers; read from the batch at each call. IndexError out of
    # range, TypeError for a non-Integer.
    def headers(index)
      raise TypeError, "index must be an Integer, not #{index.class}" unless index.is_a?(Integer)
      raise IndexError, "index #{index} is out of range (size #{@size})" unless index >= 0 && index < @size

      @taken.headers((@index + index) * Views::VIEW_WORDS)
    end

    def to_s
      "#<#{self.class.name} #{@size} messages>"
    end
    alias inspect to_s

    private

    # Marks every message done in one C call (MessageStream#each_columns).
    def task_done
      code = @taken.task_done(@index, @size)
      raise Error.last(code) unless code.zero?
    end
  end

  # Takes messages from the library a batch of views at a time and hands
  # them out one by one, an Array or a MessageColumns at a time: one C call
  # per batch (docs/c-abi.md, "Batches and views"). A batch becomes
  # Messages only when one is asked for. Not synchronized: its owner's
  # calls run one at a time.
  class BatchReader
    # source: the consumer or group the messages come from.
    def initialize(source)
      @source = source
      @taken = nil
      @messages = []
      @views = FFI::MemoryPointer.new(:pointer)
      @count = FFI::MemoryPointer.new(:size_t)
    end

    # The next message taken before; nil when none is left.
    def shift
      make_messages if @taken
      @messages.shift
    end

    # Every message taken before and not handed out yet, in order; nil
    # when none is left.
    def shift_all
      make_messages if @taken
      return nil if @messages.empty?

      taken = @messages
      @messages = []
      taken
    end

    # The messages taken before and not handed out yet, as a
    # MessageColumns; nil when none is left.
    def shift_columns
      if @taken
        columns = MessageColumns.new(@taken, 0, @taken.count)
        @taken = nil
        return columns
      end
      return nil if @messages.empty?

      # What #shift left of its batch: the last views of one Taken.
      first = @messages.first
      columns = MessageColumns.new(first.__send__(:taken), first.__send__(:base) / Views::VIEW_WORDS, @messages.size)
      @messages = []
      columns
    end

    # Yields a batch and the places for its views and count to the
    # library's batch call, keeps what it took and returns its code.
    def fill
      @batch ||= new_batch
      code = yield @batch, @views, @count
      if code.zero?
        @taken = Views.taken(@views.read_pointer, @count.read(:size_t), @batch, @source)
        @batch = nil
      end
      code
    end

    private

    def make_messages
      @messages = Views.messages(@taken)
      @taken = nil
    end

    # A batch per fill: the messages of the last one may still be waiting
    # for task_done, so it is freed only when they are garbage.
    def new_batch
      out = FFI::MemoryPointer.new(:pointer)
      Error.check(Native.yk_message_batch_new(Views::CAPACITY, out))
      FFI::AutoPointer.new(out.read_pointer, Native.method(:yk_message_batch_free))
    end
  end
  private_constant :BatchReader

  # What the consumers and the group share: messages taken by BatchReader,
  # waits on the ready descriptor (Waiting), and task_done. The including
  # class sets @guard, @reader, @ready and @consumer_timeout and defines
  # next_views (the library's batch call, which must not wait),
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

    # The messages the library has ready, as an Array of one to 1,024, in
    # order (those #next left of its batch first); waits for the first
    # like #next. Mark them done with #task_done_batch.
    def next_batch
      @guard.call { take_batch(Waiting.deadline(@consumer_timeout)) }
    end

    # Yields the messages as #next_batch takes them, an Array at a time,
    # until the block breaks or a call fails, waiting as long as it takes;
    # an Enumerator without a block. With task_done: true, the messages of
    # an Array are marked done (#task_done_batch) once the block returns
    # for it, not when it breaks or raises; by default nothing is marked:
    #
    #   consumer.each_batch(task_done: true) do |messages|
    #     messages.each { |message| process(message) }
    #   end
    #
    # About 30% less CPU per message than #each with #task_done; #each_columns
    # is the fast path (BENCHMARKS.md, "Ruby binding").
    def each_batch(task_done: false)
      return enum_for(:each_batch, task_done: task_done) unless block_given?

      @guard.call do
        loop do
          messages = take_batch(nil)
          yield messages
          task_done_taken(messages) if task_done
        end
      end
    end

    # The messages the library has ready as a MessageColumns (one to
    # 1,024 messages, those #next left of its batch first); waits for the
    # first like #next (ConsumerTimeoutError after consumer_timeout_ms).
    # Mark them done with #task_done_columns.
    def next_columns
      @guard.call { take_columns(Waiting.deadline(@consumer_timeout)) }
    end

    # The fast path for throughput: yields the messages as #next_columns
    # takes them, a MessageColumns at a time (an Array per field, built in
    # bulk, no object per message), until the block breaks or a call
    # fails, waiting as long as it takes; an Enumerator without a block.
    # With task_done: true, the messages of a MessageColumns are marked done
    # in one C call once the block returns for it, not when it breaks or
    # raises; by default nothing is marked:
    #
    #   consumer.each_columns(task_done: true) do |batch|
    #     batch.values.each_with_index do |value, i|
    #       process(value, batch.offsets[i])
    #     end
    #   end
    #
    # About half the CPU per message of #each_batch and a third of #each
    # with #task_done (BENCHMARKS.md, "Ruby binding").
    def each_columns(task_done: false)
      unless [true, false].include?(task_done)
        raise TypeError, "task_done must be true or false, not #{task_done.inspect}"
      end
      return enum_for(:each_columns, task_done: task_done) unless block_given?

      @guard.call do
        loop do
          columns = take_columns(nil)
          yield columns
          columns.__send__(:task_done) if task_done
        end
      end
    end

    # Marks every message of columns (a MessageColumns this consumer or
    # group handed out) processed, in one C call.
    def task_done_columns(columns)
      Arguments.instance(columns, MessageColumns, "columns")
      raise ArgumentError, "columns came from another consumer or group" unless columns.source.equal?(self)

      columns.__send__(:task_done)
      nil
    end

    # Marks message processed, in any order: a commit never passes a
    # message not marked. Counts toward auto_commit_interval_messages.
    def task_done(message)
      raise TypeError, "message must be a #{Message.name}, not #{message.class}" unless message.is_a?(Message)
      # yk_task_done needs no guard: it is safe whatever became of the handle.
      return Error.check(Native.yk_task_done(message.address)) if message.source.equal?(self)

      @guard.call { Error.check(task_done_on_handle(message)) }
    end

    # #task_done for every message of messages (an Array, such as
    # #next_batch returns), in order, stopping at the first failure. Checks
    # every element before marking any (TypeError).
    def task_done_batch(messages)
      raise TypeError, "messages must be an Array of Messages, not #{messages.class}" unless messages.is_a?(Array)

      unless messages.all?(Message)
        i = messages.index { |message| !message.is_a?(Message) }
        raise TypeError, "messages[#{i}] must be a #{Message.name}, not #{messages[i].class}"
      end
      messages.each do |message|
        code = message.source.equal?(self) ? Native.yk_task_done(message.address) : task_done_elsewhere(message)
        raise Error.last(code) unless code.zero?
      end
      nil
    end

    private

    def task_done_elsewhere(message)
      @guard.call { task_done_on_handle(message) }
    end

    # Marks messages, one #take_batch (consecutive views of one batch, from
    # this stream), done in one C call.
    def task_done_taken(messages)
      first = messages.first
      code = first.__send__(:taken).task_done(first.__send__(:base) / Views::VIEW_WORDS, messages.size)
      raise Error.last(code) unless code.zero?
    end

    # The next message, waiting until deadline (nil: no limit).
    def take(deadline)
      @reader.shift || (wait_for_messages(deadline) && @reader.shift)
    end

    # The messages taken and not handed out yet, waiting for some until
    # deadline (nil: no limit).
    def take_batch(deadline)
      @reader.shift_all || (wait_for_messages(deadline) && @reader.shift_all)
    end

    # The messages taken and not handed out yet as a MessageColumns,
    # waiting for some until deadline (nil: no limit).
    def take_columns(deadline)
      @reader.shift_columns || (wait_for_messages(deadline) && @reader.shift_columns)
    end

    # Takes a batch without waiting in the library and waits on the ready
    # descriptor until deadline (nil: no limit) between takes, at most
    # idle_interval at a time; true once messages came.
    def wait_for_messages(deadline)
      loop do
        code = @reader.fill { |batch, views, count| next_views(batch, views, count) }
        # A callback's error is raised here, not when a long #each ends.
        @guard.raise_callback_error
        return true if code.zero?

        Error.check(code) unless code == ConsumerTimeoutError::CODE
        left = Waiting.remaining(deadline)
        Error.check(code) if left&.zero?
        @ready.wait_readable([left, idle_interval].compact.min)
      end
    end
  end
  private_constant :MessageStream
end
