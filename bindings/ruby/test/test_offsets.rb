# frozen_string_literal: true

require_relative "test_helper"

# Offsets and lag of a group on a topic of its own (docs/offsets.md).
class OffsetsTest < Minitest::Test
  def test_watermarks_lag_and_moving_a_group
    topic = "ruby-offsets-#{Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)}"
    system(ENV.fetch("YK_CLUSTER_SH"), "kafka", "1", "topic", topic, "2", out: File::NULL, exception: true)
    producer = YelpKafka::Producer.new(cluster)
    [0, 0, 0, 1].each { |partition| producer.produce(topic, "m", partition: partition) }
    producer.flush(10)
    producer.close
    group = run_word
    offsets = YelpKafka::Offsets.new(cluster, offset_storage: "kafka", api_version_caps: "ListOffsets:3")

    assert_equal [[topic, 0, 3, 0], [topic, 1, 1, 0]],
                 offsets.watermarks([topic]).map { |r| [r.topic, r.partition, r.high_watermark, r.low_watermark] }
    assert_equal [3, 1], offsets.offset_distance(group, topic).map(&:lag)
    assert_equal [[0, 2]], offsets.set(group, [[topic, 0, 2]]).map { |r| [r.partition, r.committed] }
    assert_equal [2, 0], offsets.current(group, [topic]).map(&:committed)
    assert_equal [1], offsets.offset_distance(group, topic, partitions: [0]).map(&:lag)
    assert_equal [3, 1], offsets.advance(group, [topic]).map(&:committed)
    assert_equal [0], offsets.topics_offset_distance(group, { topic => [1] }).map(&:lag)
    assert_equal [0], offsets.rewind(group, { topic => [0] }).map(&:committed)
    assert_equal [3], offsets.offset_distance(group, topic, partitions: [0]).map(&:lag)
    assert_raises(YelpKafka::UnknownTopicError) { offsets.watermarks(["ruby-no-such-topic"]) }
    assert_empty offsets.watermarks(["ruby-no-such-topic"], raise_on_error: false)
    assert_raises(TypeError) { offsets.watermarks(topic) }
    offsets.close
    assert_raises(YelpKafka::ClosedHandleError) { offsets.watermarks([topic]) }
  end
end
