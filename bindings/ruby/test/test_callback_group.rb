# frozen_string_literal: true

require_relative "test_helper"
require "timeout"

# The callback-style group: the block gets every message of a topic of its
# own, stops the group from inside, and what it raises comes out of #run.
class CallbackGroupTest < Minitest::Test
  def setup
    @topic = "ruby-callback-#{Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)}"
    system(ENV.fetch("YK_CLUSTER_SH"), "kafka", "1", "topic", @topic, "1", out: File::NULL, exception: true)
    zookeeper = ENV.fetch("YK_ZOOKEEPER") { flunk "YK_ZOOKEEPER is unset: source target/cluster/env" }
    @config = YelpKafka::KafkaConsumerConfig.new("ruby-#{run_word}", YelpKafka::ClusterConfig.new(
      "standard", "cluster1", bootstrap, zookeeper
    ), partitioner_cooldown: 0.2, auto_offset_reset: "smallest", api_version_caps: "ListOffsets:3",
       post_rebalance_callback: ->(partitions) { (@acquired ||= []).concat(partitions) })
  end

  def send_values(*values)
    YelpKafka::Producer.new(cluster).tap { |p| p.send_messages(@topic, *values) }.close
  end

  def test_the_block_gets_every_message_and_stops_the_group
    send_values("a", "b", "c")
    seen = []
    group = YelpKafka::ConsumerGroup.new([@topic], @config) do |message|
      seen << [message.partition, message.offset, message.value]
      group.stop(0) if seen.size == 3
    rescue YelpKafka::TimedOutError
      nil
    end
    Timeout.timeout(30) { group.run }
    assert_equal [[0, 0, "a"], [0, 1, "b"], [0, 2, "c"]], seen
    assert_equal [[@topic, 0]], @acquired
    group.close
    assert_raises(YelpKafka::ClosedHandleError) { group.stop }
  end

  class Refused < StandardError; end

  def test_what_the_block_raises_comes_out_of_run
    send_values("x")
    group = YelpKafka::ConsumerGroup.new([@topic], @config) { raise Refused, "no" }
    assert_raises(Refused) { Timeout.timeout(30) { group.run } }
    group.close
  end

  def test_timeout_ends_run_while_no_message_comes
    group = YelpKafka::ConsumerGroup.new([@topic], @config) { flunk "a message came" }
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    assert_raises(Timeout::Error) { Timeout.timeout(1) { group.run } }
    late = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started - 1
    assert_operator late, :<, 0.1, "run returned #{(late * 1000).round} ms after the timeout"
    group.stop
    group.close
  end
end
