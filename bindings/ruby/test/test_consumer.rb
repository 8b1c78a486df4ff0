# frozen_string_literal: true

require_relative "test_helper"
require "timeout"

# The plain and simple consumers, record headers, and the consumer's waits.
class ConsumerTest < Minitest::Test
  def fresh_topic(partitions)
    topic = "ruby-consumer-#{Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)}"
    system(ENV.fetch("YK_CLUSTER_SH"), "kafka", "1", "topic", topic, partitions.to_s, out: File::NULL,
                                                                                      exception: true)
    topic
  end

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

  # task_done_batch checks every element before marking any.
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
