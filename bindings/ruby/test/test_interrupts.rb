# frozen_string_literal: true

require_relative "test_helper"
require "socket"
require "timeout"

# Every blocking call gives way to Timeout, Thread#kill and signal traps
# within 100 ms, also with consumer_timeout_ms = -1 (issue #14): the gem
# waits on the handles' ready descriptors, never inside a long C call
# (docs/c-abi.md, "Ready descriptors"), and a synchronous send or a commit
# that waits for a broker that is down runs on a thread of its own that
# the handle's wakeup ends (docs/c-abi.md, "Wakeups").
class InterruptsTest < Minitest::Test
  DEADLINE = 0.3
  LATENESS = 0.1

  class Trapped < StandardError; end

  # A group alone on a new topic, holding its partition, with nothing to read.
  def idle_group(cooldown: 0.2)
    @topic = topic = "ruby-idle-#{Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)}"
    system(ENV.fetch("YK_CLUSTER_SH"), "kafka", "1", "topic", topic, "1", out: File::NULL, exception: true)
    zookeeper = ENV.fetch("YK_ZOOKEEPER") { flunk "YK_ZOOKEEPER is unset: source target/cluster/env" }
    cluster = YelpKafka::ClusterConfig.new("standard", "cluster1", bootstrap, zookeeper)
    config = YelpKafka::KafkaConsumerConfig.new("ruby-#{run_word}", cluster, partitioner_cooldown: cooldown,
                                                                             consumer_timeout_ms: -1,
                                                                             api_version_caps: "ListOffsets:3")
    YelpKafka::KafkaConsumerGroup.new([topic], config)
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Seconds from the interrupt at DEADLINE to the call's return.
  def assert_prompt(started, what)
    late = now - started - DEADLINE
    assert_operator late, :<, LATENESS, "#{what} returned #{(late * 1000).round} ms after the interrupt"
    assert_operator late, :>, -0.01, "#{what} returned before the interrupt"
  end

  def with_started_group
    group = idle_group
    assert group.start(30), "the group got no partition"
    yield group
  ensure
    group&.stop
  end

  def test_timeout_ends_a_group_next_that_waits_forever
    with_started_group do |group|
      assert_timeout_ends("next") { group.next }
      assert_raises(Timeout::Error) { Timeout.timeout(DEADLINE) { group.first } }
      # The group goes on after an interrupt.
      word = run_word
      YelpKafka::Producer.new(cluster).tap { |p| p.send_messages(@topic, word) }.close
      assert_equal word, Timeout.timeout(10) { group.next }.value
    end
  end

  def test_thread_kill_ends_a_group_each
    with_started_group do |group|
      reader = Thread.new { group.each { flunk "a message came" } }
      sleep DEADLINE
      killed = now
      reader.kill
      assert reader.join(1), "the reader did not end"
      late = now - killed
      assert_operator late, :<, LATENESS, "each ended #{(late * 1000).round} ms after Thread#kill"
    end
  end

  def test_a_signal_trap_runs_during_group_next
    with_started_group do |group|
      previous = trap("INT") { raise Trapped }
      started = now
      signaller = Thread.new { sleep DEADLINE; Process.kill(:INT, Process.pid) }
      assert_raises(Trapped) { group.next }
      assert_prompt(started, "next")
    ensure
      signaller&.join
      trap("INT", previous || "DEFAULT")
    end
  end

  # Asserts that Timeout ends the block promptly.
  def assert_timeout_ends(what, &block)
    started = now
    assert_raises(Timeout::Error) { Timeout.timeout(DEADLINE, &block) }
    assert_prompt(started, what)
  end

  def test_timeout_ends_a_start_waiting_for_the_cooldown
    group = idle_group(cooldown: 30)
    assert_timeout_ends("start") { group.start(nil) }
  ensure
    group&.stop
  end

  def test_timeout_ends_a_producer_poll
    producer = YelpKafka::Producer.new(cluster)
    assert_timeout_ends("poll") { producer.poll(nil) }
  ensure
    producer&.close
  end

  # A message for a partition without a leader stays queued: flush waits.
  def test_timeout_ends_a_producer_flush
    topic = "ruby-leaderless-#{Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)}"
    system(ENV.fetch("YK_CLUSTER_SH"), "kafka", "1", "topic", topic, "1", out: File::NULL, exception: true)
    producer = YelpKafka::Producer.new(cluster)
    producer.send_messages(topic, "with a leader")
    system(ENV.fetch("YK_CLUSTER_SH"), "kafka", "1", "leader", topic, "0", "-1", out: File::NULL, exception: true)
    producer.produce(topic, "without one", partition: 0)
    assert_timeout_ends("flush") { producer.flush(60) }
    assert_equal 1, producer.queue_length
    assert_raises(YelpKafka::TimedOutError) { producer.close(0) }
  end

  # The broker that leads the outage topic's partition and coordinates the
  # outage group, taken down by with_broker_down.
  DOWN_BROKER = "3"

  def launcher(*command)
    system(ENV.fetch("YK_CLUSTER_SH"), "kafka", "1", *command, out: File::NULL, exception: true)
  end

  # A producer (retrying for as long as a test takes) that has sent one
  # message to a new topic led by DOWN_BROKER, and that topic, with the
  # broker down until the block returns; then the producer sends again.
  def with_broker_down
    topic = "ruby-outage-#{Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)}"
    launcher("topic", topic, "1")
    launcher("leader", topic, "0", DOWN_BROKER)
    producer = YelpKafka::Producer.new(cluster, retries: 1_000_000)
    first = producer.send_messages(topic, "before").first
    launcher("down", DOWN_BROKER)
    yield producer, topic
    launcher("up", DOWN_BROKER)
    # The same producer sends once the broker is back.
    assert_operator producer.send_messages(topic, "after").first, :>, first
  ensure
    launcher("up", DOWN_BROKER)
    producer&.close(5)
  end

  def test_timeout_ends_sends_to_a_broker_that_is_down
    with_broker_down do |producer, topic|
      assert_timeout_ends("send_messages") { producer.send_messages(topic, "while down") }
      assert_timeout_ends("send_keyed_messages") { producer.send_keyed_messages(topic, "k", "while down") }
      assert_timeout_ends("send_with_headers") do
        producer.send_with_headers(topic, "while down", headers: { "h" => "v" })
      end
    end
  end

  def test_thread_kill_ends_a_send_to_a_broker_that_is_down
    with_broker_down do |producer, topic|
      sender = Thread.new { producer.send_messages(topic, "while down") }
      sleep DEADLINE
      killed = now
      sender.kill
      assert sender.join(1), "the sender did not end"
      late = now - killed
      assert_operator late, :<, LATENESS, "send_messages ended #{(late * 1000).round} ms after Thread#kill"
    end
  end

  def test_a_signal_trap_runs_during_a_send_to_a_broker_that_is_down
    with_broker_down do |producer, topic|
      previous = trap("USR1") { raise Trapped }
      started = now
      signaller = Thread.new { sleep DEADLINE; Process.kill(:USR1, Process.pid) }
      assert_raises(Trapped) { producer.send_messages(topic, "while down") }
      assert_prompt(started, "send_messages")
    ensure
      signaller&.join
      trap("USR1", previous || "DEFAULT")
    end
  end

  # A commit whose group coordinator is down waits for it: Timeout ends it,
  # and once the coordinator is back the same consumer commits.
  def test_timeout_ends_a_commit_to_a_coordinator_that_is_down
    with_broker_down do |_producer, topic|
      launcher("up", DOWN_BROKER)
      group = "ruby-outage-#{run_word}"
      launcher("coordinator", "group", group, DOWN_BROKER)
      config = YelpKafka::KafkaConsumerConfig.new(group, cluster, offset_storage: "kafka", auto_commit_enable: false,
                                                                  auto_offset_reset: "smallest",
                                                                  api_version_caps: "ListOffsets:3")
      consumer = YelpKafka::KafkaSimpleConsumer.new(topic, config).connect
      consumer.task_done(consumer.get_message(timeout: 10))
      launcher("down", DOWN_BROKER)
      assert_timeout_ends("commit") { consumer.commit }
      launcher("up", DOWN_BROKER)
      consumer.commit
    ensure
      consumer&.close
    end
  end

  # A cluster whose one broker takes connections and never answers, until
  # the block returns.
  def with_silent_cluster
    server = TCPServer.new("127.0.0.1", 0)
    yield YelpKafka::ClusterConfig.new("standard", "silent", ["127.0.0.1:#{server.addr[1]}"])
  ensure
    server&.close
  end

  # Offsets and discovery requests cannot be woken: Timeout ends the wait
  # and the request finishes in the background (here when the broker goes).
  def test_timeout_ends_offsets_and_discovery_requests_to_a_silent_broker
    with_silent_cluster do |silent|
      offsets = YelpKafka::Offsets.new(silent)
      assert_timeout_ends("watermarks") { offsets.watermarks(["mytopic"]) }
      assert_timeout_ends("discover_topics") { YelpKafka::Discovery.discover_topics(silent) }
      assert_timeout_ends("search_topic") { YelpKafka::Discovery.search_topic("mytopic", [silent]) }
    ensure
      offsets&.close
    end
  end
end
