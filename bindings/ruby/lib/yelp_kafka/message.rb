# frozen_string_literal: true

module YelpKafka
  # One message. key and value are binary Strings, nil when null;
  # headers a Hash of name => binary String (nil for a null value), empty
  # when the message has none; topic a frozen String, shared by the
  # messages of one batch; timestamp a Time, timestamp_ms the same in
  # milliseconds since the Unix epoch.
  #
  # A message is its batch and its place there, and its value: every other
  # field is read from the batch's columns, each built for the whole batch
  # by one C call when the first of its messages asks for it (as
  # MessageColumns builds them). An object of three instance variables,
  # the value copied with the batch's in one call and no C call per
  # message, is what keeps the binding's cost per message low
  # (BENCHMARKS.md, "Ruby binding"). The fields stay valid after the
  # message is marked done and after its consumer is closed: the message
  # keeps its batch alive.
  class Message
    attr_reader :value

    # taken: the Views::Taken of the batch this message came in; index:
    # its place there.
    def initialize(taken, index, value)
      @taken = taken
      @index = index
      @value = value
    end

    def topic
      (@taken.topics || @taken.build(:topics))[@index]
    end

    def partition
      (@taken.partitions || @taken.build(:partitions))[@index]
    end

    def offset
      (@taken.offsets || @taken.build(:offsets))[@index]
    end

    def timestamp_ms
      (@taken.timestamps_ms || @taken.build(:timestamps_ms))[@index]
    end

    def key
      (@taken.keys || @taken.build(:keys))[@index]
    end

    # Read once, and kept only when there are headers: a fourth instance
    # variable costs the message a table of its own.
    def headers
      return @headers if @headers

      headers = @taken.headers(@index)
      @headers = headers unless headers.empty?
      headers
    end

    # The address of the library's message, for the calls that take one:
    # it lives in the batch it came in, which this message keeps alive.
    def address
      @taken.address(@index)
    end

    # The consumer or group that handed it out.
    def source
      @taken.source
    end

    # The Views::Taken this message is read from, and its place there.
    attr_reader :taken, :index
    private :taken, :index

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

    # MessageStream#task_done's step, not for applications (call
    # #task_done on the consumer or group): queues this message's mark on
    # stream's MarkQueue when stream handed it out; false otherwise.
    # Public, so that #task_done reaches it without a #__send__ (a fifth
    # of its cost). Each step is one operation that Ruby's lock runs
    # whole, so that marks from several threads and a hand-over between
    # them never lose one (MarkQueue).
    def queue_done(stream)
      taken = @taken
      return false unless taken.source.equal?(stream)

      # The steps of Views::Taken's marks, here: a call less per message.
      taken.queued << @index
      taken.marks.queue(taken) unless taken.in_queue
      true
    end
  end

  # Turns the views of one batch into Messages and MessageColumns, a field
  # of every message at a time, reading each field by one C call rather
  # than one ffi accessor per field: the per-message cost of the binding
  # (issue #14, BENCHMARKS.md).
  module Views
    # struct yk_message_view read as 64-bit words: every field is one
    # word, the 32-bit partition and timestamp type each in the low half
    # of theirs (x86_64 and aarch64 are little-endian). The words of each
    # field, counted from the view's first:
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

    # What the messages of one batch share: its views, the library's batch
    # they point into (kept alive while a message or a MessageColumns is),
    # the source, each topic's name read once, the columns of the whole
    # batch its Messages read their fields from (each built when first
    # asked for, then kept, frozen), and the marks queued on its messages
    # (MarkQueue).
    class Taken
      attr_reader :source, :count

      # views: the address of the batch's first view; marks: the source's
      # MarkQueue.
      def initialize(views, count, batch, source, marks)
        @views = views
        @count = count
        @batch = batch
        @source = source
        @marks = marks
        @topic_names = {}
        @queued = []
      end

      # The columns of the whole batch, each nil until built (#build): an
      # attribute reader, the cheapest call there is, on every field a
      # Message reads.
      attr_reader :values, :keys, :offsets, :partitions, :timestamps_ms, :topics

      # Builds the column of the whole batch named name (:values, :keys,
      # :offsets, :partitions, :timestamps_ms or :topics) unless built, and
      # returns it.
      def build(name)
        case name
        when :values then @values ||= packed(:yk_message_batch_copy_values, 0, @count).freeze
        when :keys then @keys ||= packed(:yk_message_batch_copy_keys, 0, @count).freeze
        when :offsets then @offsets ||= column(:offsets, :int64, 0, @count).freeze
        when :partitions then @partitions ||= column(:partitions, :int32, 0, @count).freeze
        when :timestamps_ms then @timestamps_ms ||= column(:timestamps, :int64, 0, @count).freeze
        when :topics then @topics ||= topics_of(0, @count).freeze
        end
      end

      # The address of the index-th message, read from its view.
      def address(index)
        @views.get_int64(index * VIEW_WORDS * 8)
      end

      # The topic whose name is at address.
      def topic_at(address)
        @topic_names[address] ||= Views.name_at(address)
      end

      # Marks count messages, from the index-th, done in one C call; its code.
      def task_done(index, count)
        Native.yk_message_batch_task_done(@batch, index, count)
      end

      # The indexes of the messages whose marks are queued (Message#queue_done)
      # and not handed over yet; the source's MarkQueue.
      attr_reader :queued, :marks

      # Whether the source's MarkQueue holds this batch; set by it.
      attr_accessor :in_queue

      # Hands the marks queued so far to the library, in as few calls as
      # their order allows (one when they are consecutive, as when each
      # message is marked in turn); the code of the first failure.
      def hand_over_marks
        indexes = @queued.shift(@queued.size)
        return 0 if indexes.empty?

        first = indexes.first
        last = indexes.last
        consecutive = last - first + 1 == indexes.size && (indexes.size <= 2 || indexes == (first..last).to_a)
        return task_done(first, indexes.size) if consecutive

        hand_over_runs(indexes.sort.uniq)
      end

      # The headers of the index-th message, read from its view.
      def headers(index)
        address, count = @views.get_array_of_int64(((index * VIEW_WORDS) + HEADERS) * 8, 2)
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
      def topics_of(index, count)
        addresses = column_memory(:topics, :int64, index, count)
        address = Views.all_same(addresses, count)
        return Array.new(count, topic_at(address)) if address

        addresses.get_array_of_int64(0, count).map { |each| topic_at(each) }
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

      # Marks indexes (ascending, distinct) done, a call per run of
      # consecutive ones; the code of the first failure.
      def hand_over_runs(indexes)
        start = 0
        indexes.each_index do |i|
          next if i + 1 < indexes.size && indexes[i + 1] == indexes[i] + 1

          code = task_done(indexes[start], i + 1 - start)
          return code unless code.zero?

          start = i + 1
        end
        0
      end

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

    # One view the library lends alone, for a callback (a callback
    # group's message, no batch): read whole when it comes, as the
    # library lends it only during the callback.
    class Lent < Taken
      def initialize(view)
        super(view, 1, nil, nil, nil)
        words = view.get_array_of_int64(0, VIEW_WORDS)
        @address = words[MESSAGE]
        @values = [Views.bytes(words[VALUE], words[VALUE + 1])].freeze
        @keys = [Views.bytes(words[KEY], words[KEY + 1])].freeze
        @offsets = [words[OFFSET]].freeze
        @partitions = [words[PARTITION] & 0xffff_ffff].freeze
        @timestamps_ms = [words[TIMESTAMP]].freeze
        @topics = [topic_at(words[TOPIC])].freeze
        @headers = headers(0)
      end

      def address(_index)
        @address
      end

      def headers(index)
        @headers || super
      end
    end

    module_function

    # The views of a batch (an FFI::Pointer to the first) as a Taken,
    # whose messages queue their marks on marks.
    def taken(views, count, batch, source, marks)
      Taken.new(views, count, batch, source, marks)
    end

    # The Message of a view the library lends to a callback, read whole.
    def lent_message(view)
      taken = Lent.new(view)
      Message.new(taken, 0, taken.values[0])
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

    # The NUL-terminated UTF-8 name (a topic's) at address, in C memory,
    # as a frozen String.
    def name_at(address)
      ADDRESS_SPACE.get_string(address - 1).force_encoding(Encoding::UTF_8).freeze
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
      @topics ||= @taken.topics_of(@index, @size).freeze
    end

    # The headers of the index-th message (0 to size - 1), a Hash as
    # Message#headers; read from the batch at each call. IndexError out of
    # range, TypeError for a non-Integer.
    def headers(index)
      raise TypeError, "index must be an Integer, not #{index.class}" unless index.is_a?(Integer)
      raise IndexError, "index #{index} is out of range (size #{@size})" unless index >= 0 && index < @size

      @taken.headers(@index + index)
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
  # per batch (docs/c-abi.md, "Batches and views"). A Message is made only
  # when it is handed out. Not synchronized: its owner's calls run one at
  # a time.
  class BatchReader
    # source: the consumer or group the messages come from; marks: its
    # MarkQueue.
    def initialize(source, marks)
      @source = source
      @marks = marks
      # The batch being handed out and the index of its next message; nil
      # when none is left.
      @taken = nil
      @next = 0
      # Its size and, once built, its values column.
      @size = 0
      @values = nil
      @views = FFI::MemoryPointer.new(:pointer)
      @count = FFI::MemoryPointer.new(:size_t)
    end

    # The next message taken before; nil when none is left.
    def shift
      taken = @taken
      return nil unless taken

      index = @next
      @next = index + 1
      # The batch's size and values kept here, read as instance
      # variables rather than two calls: this runs per message.
      @taken = nil if @next == @size
      Message.new(taken, index, (@values ||= taken.build(:values))[index])
    end

    # Every message taken before and not handed out yet, in order; nil
    # when none is left.
    def shift_all
      taken = @taken
      return nil unless taken

      values = taken.build(:values)
      @taken = nil
      (@next...taken.count).map { |index| Message.new(taken, index, values[index]) }
    end

    # The messages taken before and not handed out yet, as a
    # MessageColumns; nil when none is left.
    def shift_columns
      taken = @taken
      return nil unless taken

      @taken = nil
      MessageColumns.new(taken, @next, taken.count - @next)
    end

    # Yields a batch and the places for its views and count to the
    # library's batch call, keeps what it took and returns its code.
    def fill
      @batch ||= new_batch
      code = yield @batch, @views, @count
      if code.zero?
        @size = @count.read(:size_t)
        @taken = Views.taken(@views.read_pointer, @size, @batch, @source, @marks)
        @next = 0
        @values = nil
        @batch = nil
      end
      code
    end

    private

    # A batch per fill: the messages of the last one may still be waiting
    # for task_done, so it is freed only when they are garbage.
    def new_batch
      out = FFI::MemoryPointer.new(:pointer)
      Error.check(Native.yk_message_batch_new(Views::CAPACITY, out))
      FFI::AutoPointer.new(out.read_pointer, Native.method(:yk_message_batch_free))
    end
  end
  private_constant :BatchReader

  # The marks #task_done made on a consumer's or group's own messages that
  # the library was not told of yet, so that a mark costs no C call: they
  # reach the library in one call per run of consecutive messages of a
  # batch (yk_message_batch_task_done) when the handle's next call into
  # the library starts: the take of the next batch (#next, #each, ... once
  # the messages taken before are handed out), #commit, #commit_message,
  # #close or #stop. So every commit includes the marks made before it was
  # called; an automatic commit sees a mark once it reached the library.
  #
  # Marks may come from any thread. The queue keeps the batches with marks
  # queued, each once: the first mark on a batch since its last hand-over
  # puts the batch in; later ones see it is in. Each step is one
  # operation that Ruby's lock runs whole (an Array's shift or push, an
  # instance variable's read or write), and a hand-over clears a batch's
  # in_queue before it takes its marks: a mark that saw in_queue set came
  # before the clearing, so the hand-over takes it.
  class MarkQueue
    def initialize
      @batches = []
    end

    # Puts taken, whose in_queue was not set, in the queue.
    def queue(taken)
      taken.in_queue = true
      @batches << taken
    end

    # Hands every queued mark over to the library; raises the first
    # failure, after handing over the rest.
    def hand_over
      return if @batches.empty?

      error = nil
      @batches.shift(@batches.size).each do |taken|
        taken.in_queue = false
        code = taken.hand_over_marks
        error ||= Error.last(code) unless code.zero?
      end
      raise error if error
    end
  end
  private_constant :MarkQueue

  # What the consumers and the group share: messages taken by BatchReader,
  # waits on the ready descriptor (Waiting), and task_done with its
  # MarkQueue. The including class calls open_stream, sets @guard, @ready
  # and @consumer_timeout, and defines
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

      @guard.call do
        # A while loop, without take: a call less per message.
        reader = @reader
        while true # rubocop:disable Style/InfiniteLoop -- loop's block costs a call per message
          yield reader.shift || take(nil)
        end
      end
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
    # Less CPU per message than #each with #task_done; #each_columns is
    # the fast path (BENCHMARKS.md, "Ruby binding").
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
    # About two thirds of the CPU per message of #each_batch and half of
    # #each with #task_done (BENCHMARKS.md, "Ruby binding").
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
    # A message this consumer or group handed out costs no C call: its
    # mark is queued and reaches the library when the next call into it
    # starts (the take of the next batch, #commit, #commit_message, #close,
    # #stop), so every commit includes the marks made before it was called
    # (MarkQueue). A mark made while #close or #stop runs on another
    # thread may be left out of their commit.
    def task_done(message)
      raise TypeError, "message must be a #{Message.name}, not #{message.class}" unless message.is_a?(Message)

      @guard.check_open if @guard.closed
      return nil if message.queue_done(self)

      @guard.call { Error.check(task_done_on_handle(message)) }
    end

    # #task_done for every message of messages (an Array, such as
    # #next_batch returns), reaching the library before it returns: this
    # consumer's or group's own messages in one call per run of
    # consecutive messages of a batch (with the marks #task_done queued
    # before), the others' one call each, in order, stopping at the first
    # failure. Checks every element before marking any (TypeError).
    def task_done_batch(messages)
      raise TypeError, "messages must be an Array of Messages, not #{messages.class}" unless messages.is_a?(Array)

      unless messages.all?(Message)
        i = messages.index { |message| !message.is_a?(Message) }
        raise TypeError, "messages[#{i}] must be a #{Message.name}, not #{messages[i].class}"
      end
      messages.each do |message|
        next if message.queue_done(self)

        code = task_done_elsewhere(message)
        raise Error.last(code) unless code.zero?
      end
      hand_over_marks
      nil
    end

    private

    # The reader of the messages and the queue of their marks; the
    # including class calls it when it is made.
    def open_stream
      @marks = MarkQueue.new
      @reader = BatchReader.new(self, @marks)
    end

    # Hands the queued marks over to the library (MarkQueue): every call
    # into the library that reads or commits runs this first.
    def hand_over_marks
      @marks.hand_over
    end

    def task_done_elsewhere(message)
      @guard.call { task_done_on_handle(message) }
    end

    # Marks messages, one #take_batch (consecutive views of one batch, from
    # this stream), done in one C call.
    def task_done_taken(messages)
      first = messages.first
      code = first.__send__(:taken).task_done(first.__send__(:index), messages.size)
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
        hand_over_marks
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
