# frozen_string_literal: true

module YelpKafka
  # Offsets and lag of consumer groups on one cluster, Python yelp_kafka's
  # offsets functions (docs/offsets.md). Usable from several threads at
  # once; each call asks the cluster (and ZooKeeper with the default
  # offset_storage) and returns an Array of PartitionOffsets, sorted by
  # topic and partition.
  #
  #   offsets = YelpKafka::Offsets.new(cluster, offset_storage: "kafka")
  #   offsets.offset_distance("my_group", "my_topic").sum(&:lag)
  #   offsets.close
  #
  # topics, wherever a call takes them: an Array of topic names (every
  # partition), or a Hash of topic => Array of partitions (nil: every one).
  class Offsets
    # One partition's row. committed is the group's committed offset (0
    # when it committed nothing) or what the call committed.
    PartitionOffsets = Struct.new(:topic, :partition, :committed, :high_watermark, :low_watermark, :lag)

    # Options (keywords or a Hash) take the client options and
    # offset_storage ("zookeeper", the default; "kafka"; "dual").
    def initialize(cluster, options = nil, **keywords)
      Arguments.instance(cluster, ClusterConfig, "cluster")
      options = Arguments.options(options, keywords)
      out = FFI::MemoryPointer.new(:pointer)
      cluster.with_handle do |handle|
        YelpKafka.with_config(options) { |config| Error.check(Native.yk_offsets_new(handle, config, out)) }
      end
      @handle = out.read_pointer
      @guard = HandleGuard.new("offsets client") { Native.yk_offsets_free(@handle) }
    end

    # group's committed offsets (get_current_consumer_offsets). Without
    # raise_on_error, unknown topics and partitions are left out.
    def current(group, topics, raise_on_error: true)
      group = Arguments.string(group, "group")
      rows { |out| with_topics(topics) { |t| Native.yk_offsets_current(@handle, group, t, raise_on_error, out) } }
    end

    # The high and low watermarks (get_topics_watermarks).
    def watermarks(topics, raise_on_error: true)
      rows { |out| with_topics(topics) { |t| Native.yk_offsets_watermarks(@handle, t, raise_on_error, out) } }
    end

    # Moves group to the high watermarks; returns what was committed.
    def advance(group, topics, raise_on_error: true)
      group = Arguments.string(group, "group")
      rows { |out| with_topics(topics) { |t| Native.yk_offsets_advance(@handle, group, t, raise_on_error, out) } }
    end

    # Moves group to the low watermarks; returns what was committed.
    def rewind(group, topics, raise_on_error: true)
      group = Arguments.string(group, "group")
      rows { |out| with_topics(topics) { |t| Native.yk_offsets_rewind(@handle, group, t, raise_on_error, out) } }
    end

    # Commits offsets, an Array of [topic, partition, offset], for group as
    # they are (set_consumer_offsets); returns what was committed.
    def set(group, offsets, raise_on_error: true)
      group = Arguments.string(group, "group")
      entries = offsets.map do |topic, partition, offset|
        [FFI::MemoryPointer.from_string(Arguments.string(topic, "topic")), Arguments.integer(partition, "partition"),
         Arguments.integer(offset, "offset")]
      end
      array = FFI::MemoryPointer.new(Native::TopicPartitionOffset, [entries.size, 1].max)
      entries.each_with_index do |(topic, partition, offset), i|
        entry = Native::TopicPartitionOffset.new(array + (i * Native::TopicPartitionOffset.size))
        entry[:topic] = topic
        entry[:partition] = partition
        entry[:offset] = offset
      end
      rows { |out| Native.yk_offsets_set(@handle, group, array, entries.size, raise_on_error, out) }
    end

    # group's lag in partitions of topic (nil: every one); offset_distance.
    def offset_distance(group, topic, partitions: nil)
      group = Arguments.string(group, "group")
      topic = Arguments.string(topic, "topic")
      partitions = (partitions || []).map { |p| Arguments.integer(p, "partitions") }
      array = FFI::MemoryPointer.new(:int32, [partitions.size, 1].max).write_array_of_int32(partitions)
      rows do |out|
        Native.yk_offsets_offset_distance(@handle, group, topic, partitions.empty? ? nil : array, partitions.size, out)
      end
    end

    # group's lag in every partition topics names; topics_offset_distance.
    def topics_offset_distance(group, topics)
      group = Arguments.string(group, "group")
      rows { |out| with_topics(topics) { |t| Native.yk_offsets_topics_offset_distance(@handle, group, t, out) } }
    end

    # Releases the client; later calls raise ClosedHandleError.
    def close
      @guard.call { @guard.close }
    end

    private

    def with_topics(topics)
      out = FFI::MemoryPointer.new(:pointer)
      Error.check(Native.yk_topics_new(out))
      selection = out.read_pointer
      begin
        selection_of(topics).each do |topic, partitions|
          topic = Arguments.string(topic, "topic")
          next Error.check(Native.yk_topics_add(selection, topic)) if partitions.nil?

          partitions.each do |p|
            Error.check(Native.yk_topics_add_partition(selection, topic, Arguments.integer(p, "partition")))
          end
        end
        yield selection
      ensure
        Native.yk_topics_free(selection)
      end
    end

    def selection_of(topics)
      return topics if topics.is_a?(Hash)
      return topics.to_h { |t| [t, nil] } if topics.is_a?(Array)

      raise TypeError, "topics must be an Array of names or a Hash of name => partitions, not #{topics.class}"
    end

    # Runs the C call (writing a result to out) and returns the result's
    # rows. Timeout, Thread#kill and signal traps end the wait at once; the
    # request goes on in the background until the library's timeouts
    # (Waiting.detached).
    def rows
      Waiting.detached do
        @guard.call do
          out = FFI::MemoryPointer.new(:pointer)
          Error.check(yield(out))
          result = out.read_pointer
          begin
            count = FFI::MemoryPointer.new(:size_t)
            first = Native.yk_offsets_result_rows(result, count)
            Array.new(count.read(:size_t)) do |i|
              row = Native::PartitionOffsets.new(first + (i * Native::PartitionOffsets.size))
              PartitionOffsets.new(row[:topic], row[:partition], row[:committed], row[:high_watermark],
                                   row[:low_watermark], row[:lag])
            end
          ensure
            Native.yk_offsets_result_free(result)
          end
        end
      end
    end
  end
end
