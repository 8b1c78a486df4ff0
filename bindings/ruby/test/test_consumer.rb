# frozen_string_literal: true

require_relative "test_helper"
require "timeout"

# The plain and simple consumers, record headers, and the consumer's waits.
class ConsumerTest < Minitest::Test
  def config(**options)
    YelpKafka::KafkaConsumerConfig.new("ruby-#{run_word}", cluster, offset_storage: "kafka", auto_offset_reset: "smallest",
                                                                    auto_commit_enable: false, api_version_caps: "ListOffsets:3",
                                                                    **options)
  end

  # Headers and a key sent by the producer come back on the simple
  # consumer of the partition they went to; a null header value stays nil.
  def test_the_simple_consumer_reads_headers_keys_and_values
    topic = fresh_topic(2)
    producer = YelpKafka::Producer.new(cluster)
    offset = producer.send_with_headers(topic, "valued", key: "k", partition: 1,
                                                         headers: { "trace" => "abc", "empty" => "", "null" => nil })
    producer.produce(topic, nil, partition: 1, headers: [["second", "\x00\xff".b]])
    producer.flush(10)
    producer.close
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, config, partitions: [1]).connect
    first, second = consumer.first(2)
    assert_equal [topic, 1, offset, "k", "valued"], [first.topic, first.partition, first.offset, first.key, first.value]
    assert_equal({ "trace" => "abc", "empty" => "", "null" => nil }, first.headers)
    assert_equal Encoding::BINARY, first.value.encoding
    assert_in_delta Time.now, first.timestamp, 60
    assert_nil second.value
    assert_equal({ "second" => "\x00\xff".b }, second.headers)
    assert_nil consumer.get_message(block: false)
    consumer.close
    assert_raises(YelpKafka::ClosedHandleError) { consumer.next }
  end

  # The plain consumer reads every partition of its topics; what it
  # committed is where a new consumer of the group starts.
  def test_the_plain_consumer_commits_where_the_next_one_starts
    topic = fresh_topic(3)
    producer = YelpKafka::Producer.new(cluster)
    6.times { |i| producer.produce(topic, "m#{i}", partition: i % 3) }
    producer.flush(10)
    producer.close
    group_config = config(consumer_timeout_ms: 2000)
    consumer = YelpKafka::KafkaConsumer.new([topic], group_config).connect
    messages = consumer.first(6)
    assert_equal %w[m0 m1 m2 m3 m4 m5], messages.map(&:value).sort
    assert_raises(YelpKafka::WrongStateError) { consumer.connect }
    by_partition = messages.group_by(&:partition)
    consumer.commit_message(by_partition[0].max_by(&:offset))
    by_partition[1].each { |m| consumer.task_done(m) }
    consumer.commit([[topic, 1]])
    consumer.close
    again = YelpKafka::KafkaConsumer.new([topic], group_config).connect
    assert_equal [2, 2], again.first(2).map(&:partition)
    assert_raises(YelpKafka::ConsumerTimeoutError) { again.next }
    again.close
  end

  # A topic of one partition holding values m0..m(count - 1), and a config
  # of a new group that gives up waiting after 2 s.
  def filled_topic(count)
    topic = fresh_topic(1)
    producer = YelpKafka::Producer.new(cluster)
    producer.produce_batch(topic, Array.new(count) { |i| "m#{i}" })
    producer.flush(10)
    producer.close
    [topic, config(consumer_timeout_ms: 2000)]
  end

  # Where a new consumer of group_config starts reading topic.
  def committed_position(topic, group_config)
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, group_config).connect
    consumer.next.offset
  rescue YelpKafka::ConsumerTimeoutError
    :end
  ensure
    consumer&.close
  end

  # next_batch hands out what #next left of the library's batch, then
  # whole batches, every message once and in order; task_done_batch marks
  # them all, so the commit stores the position after the last.
  def test_next_batch_continues_after_next_and_task_done_batch_marks_all
    topic, group_config = filled_topic(300)
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, group_config).connect
    messages = [consumer.next]
    messages.concat(consumer.next_batch) while messages.size < 300
    assert_equal (0...300).to_a, messages.map(&:offset)
    assert_equal Array.new(300) { |i| "m#{i}" }, messages.map(&:value)
    assert(messages.all? { |m| m.topic == topic && m.topic.frozen? && m.key.nil? && m.headers.empty? })
    assert_raises(YelpKafka::ConsumerTimeoutError) { consumer.next_batch }
    assert_nil consumer.task_done_batch(messages.first(299))
    consumer.commit
    consumer.close
    assert_equal 299, committed_position(topic, group_config)
  end

  # task_done queues its marks in Ruby (MarkQueue): the next commit
  # includes every mark made before it, from any thread and in any order,
  # and never passes a message left unmarked; marking it lets the next
  # commit pass it. After close, task_done raises.
  def test_queued_marks_reach_the_next_commit_and_never_pass_an_unmarked_message
    topic, group_config = filled_topic(1500)
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, group_config).connect
    messages = consumer.first(1500)
    assert_equal (0...1500).to_a, messages.map(&:offset)
    unmarked = messages[1200]
    Thread.new { messages.first(700).each { |m| consumer.task_done(m) } }.join
    messages.drop(700).reverse_each { |m| consumer.task_done(m) unless m.equal?(unmarked) }
    consumer.commit
    assert_equal 1200, committed_position(topic, group_config)
    consumer.task_done(unmarked)
    consumer.commit
    assert_equal :end, committed_position(topic, group_config)
    consumer.close
    assert_raises(YelpKafka::ClosedHandleError) { consumer.task_done(messages.first) }
  end

  # Marks made since the handle's last call reach the library when close
  # starts, in time for its commit (auto_commit_enable).
  def test_close_hands_over_the_marks_made_since_the_last_call
    topic, = filled_topic(10)
    group_config = config(consumer_timeout_ms: 2000, auto_commit_enable: true)
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, group_config).connect
    consumer.first(10).first(4).each { |m| consumer.task_done(m) }
    consumer.close
    assert_equal 4, committed_position(topic, group_config)
  end

  # each_batch(task_done: true) marks each Array done once its block
  # returns, not the one it breaks out of; each_batch alone marks nothing.
  # More messages than a batch holds, so that there are several.
  def test_each_batch_marks_done_only_when_asked_and_the_block_returns
    topic, group_config = filled_topic(1100)
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, group_config).connect
    seen = []
    consumer.each_batch(task_done: true) do |messages|
      assert_kind_of Array, messages
      break if seen.size + messages.size == 1100

      seen.concat(messages)
    end
    consumer.commit
    consumer.close
    refute_empty seen
    assert_equal seen.size, committed_position(topic, group_config)

    unmarked = config(consumer_timeout_ms: 2000)
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, unmarked).connect
    assert_kind_of Enumerator, consumer.each_batch
    assert_equal 1100, consumer.each_batch.lazy.flat_map(&:itself).first(1100).size
    consumer.commit
    consumer.close
    assert_equal 0, committed_position(topic, unmarked)
  end

  # task_done_batch checks every element before marking any, and its marks
  # reach the library before it returns: after close it raises, as the
  # library refuses them.
  def test_task_done_batch_takes_only_an_array_of_messages
    topic, group_config = filled_topic(2)
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, group_config).connect
    first = consumer.next
    assert_raises(TypeError) { consumer.task_done_batch(first) }
    error = assert_raises(TypeError) { consumer.task_done_batch([first, 42]) }
    assert_includes error.message, "messages[1]"
    assert_raises(TypeError) { consumer.task_done(nil) }
    consumer.commit
    consumer.close
    assert_equal 0, committed_position(topic, group_config)
    assert_raises(YelpKafka::ClosedHandleError) { consumer.task_done_batch([first]) }
  end

  # Every field a Message has, per message, from columns.
  def rows_of(columns)
    Array.new(columns.size) do |i|
      [columns.topics[i], columns.partitions[i], columns.offsets[i], columns.timestamps_ms[i], columns.keys[i],
       columns.values[i], columns.headers(i)]
    end
  end

  def row_of(message)
    [message.topic, message.partition, message.offset, message.timestamp_ms, message.key, message.value,
     message.headers]
  end

  # Each column holds, at index i, what #next hands out as the i-th
  # message: keys and values (null, empty, binary), headers, over two
  # partitions; after #next, next_columns goes on with the rest of its batch.
  def test_columns_hold_what_next_hands_out
    topic = fresh_topic(2)
    producer = YelpKafka::Producer.new(cluster)
    40.times do |i|
      value = [nil, "", "v#{i}\x00\xff".b][i % 3]
      key = [nil, "", "k#{i}"][(i / 3) % 3]
      headers = i % 5 == 4 ? { "h" => "x#{i}", "null" => nil } : {}
      producer.produce(topic, value, key: key, partition: i % 2, headers: headers)
    end
    producer.flush(10)
    producer.close
    by_next = YelpKafka::KafkaSimpleConsumer.new(topic, config(consumer_timeout_ms: 2000)).connect
    want = by_next.first(40).map { |message| row_of(message) }
    by_next.close

    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, config(consumer_timeout_ms: 2000)).connect
    got = [row_of(consumer.next)]
    while got.size < 40
      columns = consumer.next_columns
      assert_kind_of YelpKafka::MessageColumns, columns
      assert_equal columns.size, columns.values.size
      %i[values keys offsets partitions timestamps_ms topics].each do |name|
        assert columns.public_send(name).frozen?, name
        assert_same columns.public_send(name), columns.public_send(name), "#{name} is kept"
      end
      assert(columns.values.compact.all? { |v| v.encoding == Encoding::BINARY })
      assert_equal 1, columns.topics.map(&:object_id).uniq.size
      got.concat(rows_of(columns))
    end
    # The partitions may come in another order; each one's messages in order.
    assert_equal want.sort_by { |row| row[1, 2] }, got.sort_by { |row| row[1, 2] }
    got.group_by { |row| row[1] }.each_value { |rows| assert_equal (0...20).to_a, rows.map { |row| row[2] } }
    assert(want.any? { |row| row[4].nil? } && want.any? { |row| row[5].nil? } && want.any? { |row| row[6].any? })
    assert_raises(YelpKafka::ConsumerTimeoutError) { consumer.next_columns }
    consumer.close
  end

  # Sends each [topic, value, key] to partition 0 and waits for them all.
  def send_to_partition0(messages)
    producer = YelpKafka::Producer.new(cluster)
    messages.each { |topic, value, key| producer.produce(topic, value, key: key, partition: 0) }
    producer.flush(10)
    producer.close
  end

  # The [keys, values] or [topics, values] (which) of next_columns batches
  # of consumer until count messages came, then closes it.
  def column_rows(consumer, count, which)
    rows = []
    while rows.size < count
      columns = consumer.next_columns
      yield columns if block_given?
      rows.concat(columns.public_send(which).zip(columns.values))
    end
    consumer.close
    rows
  end

  # Values and keys larger together than the buffer the library first
  # copies them into come whole, through columns and through Messages (on
  # another thread, which has its own buffer); Strings handed out stay
  # intact while later batches are copied through the same buffer.
  def test_values_larger_than_the_copy_buffer_come_whole
    topic = fresh_topic(1)
    values = Array.new(6) { |i| (i.to_s * 150_000).b }
    keys = Array.new(6) { |i| "k#{i}" * 40_000 }
    send_to_partition0(values.zip(keys).map { |value, key| [topic, value, key] })
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, config(consumer_timeout_ms: 2000)).connect
    by_columns = column_rows(consumer, 6, :keys)
    by_messages = Thread.new do
      reader = YelpKafka::KafkaSimpleConsumer.new(topic, config(consumer_timeout_ms: 2000)).connect
      reader.first(6).map { |message| [message.key, message.value] }.tap { reader.close }
    end.value
    assert_equal keys.zip(values), by_columns
    assert_equal keys.zip(values), by_messages
  end

  # A batch of two topics' messages: each message's topic in the topics
  # column, one String per topic.
  def test_columns_of_two_topics_give_each_message_its_topic
    topics = [fresh_topic(1), fresh_topic(1)]
    send_to_partition0(topics.product([0, 1, 2]).map { |topic, i| [topic, "#{topic}-#{i}"] })
    consumer = YelpKafka::KafkaConsumer.new(topics, config(consumer_timeout_ms: 2000)).connect
    rows = column_rows(consumer, 6, :topics) do |columns|
      columns.topics.group_by(&:itself).each_value { |same| assert_equal 1, same.map(&:object_id).uniq.size }
    end
    assert_equal topics.flat_map { |topic| Array.new(3) { |i| [topic, "#{topic}-#{i}"] } }, rows.sort
  end

  # each_columns(task_done: true) marks each batch done once its block
  # returns, not the one it breaks out of nor one whose block raised;
  # each_columns alone marks nothing.
  def test_each_columns_marks_done_only_when_asked_and_the_block_returns
    topic, group_config = filled_topic(1100)
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, group_config).connect
    seen = []
    consumer.each_columns(task_done: true) do |columns|
      break if seen.size + columns.size == 1100

      seen.concat(columns.values)
    end
    consumer.commit
    consumer.close
    refute_empty seen
    assert_equal Array.new(seen.size) { |i| "m#{i}" }, seen
    assert_equal seen.size, committed_position(topic, group_config)

    raising = config(consumer_timeout_ms: 2000)
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, raising).connect
    assert_raises(KeyError) { consumer.each_columns(task_done: true) { raise KeyError } }
    consumer.commit
    consumer.close
    assert_equal 0, committed_position(topic, raising)

    unmarked = config(consumer_timeout_ms: 2000)
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, unmarked).connect
    assert_kind_of Enumerator, consumer.each_columns
    assert_equal 1100, consumer.each_columns.lazy.flat_map(&:offsets).first(1100).size
    consumer.commit
    consumer.close
    assert_equal 0, committed_position(topic, unmarked)
  end

  # task_done_columns marks a whole batch in one call; it takes only the
  # columns of its own consumer. Bad arguments raise before anything is marked.
  def test_task_done_columns_and_bad_arguments
    topic, group_config = filled_topic(3)
    consumer = YelpKafka::KafkaSimpleConsumer.new(topic, group_config).connect
    other = YelpKafka::KafkaSimpleConsumer.new(topic, config(consumer_timeout_ms: 2000)).connect
    columns = consumer.next_columns
    assert_raises(TypeError) { consumer.each_columns(task_done: 1) { flunk } }
    assert_raises(TypeError) { consumer.task_done_columns(nil) }
    assert_raises(TypeError) { consumer.task_done_columns([]) }
    assert_raises(ArgumentError) { other.task_done_columns(columns) }
    assert_raises(TypeError) { columns.headers("0") }
    assert_raises(IndexError) { columns.headers(columns.size) }
    assert_raises(IndexError) { columns.headers(-1) }
    consumer.commit
    assert_equal 0, committed_position(topic, group_config)
    assert_nil consumer.task_done_columns(columns)
    consumer.commit
    # Where the next consumer starts: after the batch, the end if it held all three.
    assert_equal columns.size == 3 ? :end : columns.size, committed_position(topic, group_config)
    # The columns outlive their consumer; marking them then says why not.
    other.close
    consumer.close
    assert_equal %w[m0 m1 m2].first(columns.size), columns.values
    assert_raises(YelpKafka::ClosedHandleError) { consumer.task_done_columns(columns) }
  end

  def test_timeout_ends_a_consumer_that_waits_forever
    consumer = YelpKafka::KafkaSimpleConsumer.new(fresh_topic(1), config(consumer_timeout_ms: -1)).connect
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_raises(Timeout::Error) { Timeout.timeout(0.3) { consumer.next } }
    late = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started - 0.3
    assert_operator late, :<, 0.1, "next returned #{(late * 1000).round} ms after the timeout"
  ensure
    consumer&.close
  end
end
