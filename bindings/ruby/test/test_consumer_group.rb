# frozen_string_literal: true

require_relative "test_helper"

class ConsumerGroupTest < Minitest::Test
  def config(**options)
    zookeeper = ENV.fetch("YK_ZOOKEEPER") { flunk "YK_ZOOKEEPER is unset: source target/cluster/env" }
    cluster = YelpKafka::ClusterConfig.new("standard", "cluster1", bootstrap, zookeeper)
    YelpKafka::KafkaConsumerConfig.new("ruby-#{run_word}", cluster, partitioner_cooldown: 0.2, consumer_timeout_ms: 100,
                                                                    api_version_caps: "ListOffsets:3",
                                                                    auto_offset_reset: "smallest", **options)
  end

  def test_an_unknown_option_raises_configuration_error_naming_it
    error = assert_raises(YelpKafka::ConfigurationError) { config(bogus_option: 1) }
    assert_includes error.message, "bogus_option"
    assert_includes config.dump, "partitioner_cooldown"
  end

  # A member alone acquires the partition (post-rebalance callback), reads
  # and commits, gives it up on stop (pre-rebalance callback); the group's
  # metrics go to the responder; calls into the group from its callbacks
  # raise ReentrantCall.
  def test_rebalance_callbacks_metrics_and_reentrancy
    YelpKafka::Producer.new(cluster).tap { |p| p.send_messages("other", "for the group") }.close
    events = []
    from_callbacks = []
    group = nil
    attempt = lambda do |&call|
      call.call
      from_callbacks << :no_error
    rescue YelpKafka::Error => e
      from_callbacks << e.class
    end
    base = config
    group_config = YelpKafka::KafkaConsumerConfig.new(
      base.group_id, base.cluster, **base.options,
      post_rebalance_callback: ->(partitions) { events << [:acquired, partitions] && attempt.call { group.commit } },
      pre_rebalance_callback: ->(partitions) { events << [:releasing, partitions] && attempt.call { group.stop(0) } }
    )
    responder = RecordingResponder.new
    group = YelpKafka::KafkaConsumerGroup.new(["other"], group_config, metrics_responder: responder)
    group.start(30) do
      assert_includes group.identifier, "-"
      message = group.each.first
      assert_equal ["other", 0], [message.topic, message.partition]
      refute_nil message.value
      group.task_done(message)
      group.commit
    end
    assert_raises(YelpKafka::ClosedHandle) { group.next }
    assert_equal [[:acquired, [["other", 0]]], [:releasing, [["other", 0]]]], events
    assert_equal [YelpKafka::ReentrantCall] * 2, from_callbacks
    metrics = responder.emitters.to_h { |e| [e[:metric], e[:dimensions]["group_id"]] }
    %w[fetch_request_timer offset_commit_request_timer].each do |name|
      assert_equal base.group_id, metrics["yelp_kafka.KafkaConsumerGroup.#{name}"], name
    end
  end

  # The group is Enumerable: first(n) takes n messages in partition order,
  # each_slice hands out batches.
  def test_the_group_is_enumerable_over_its_messages
    YelpKafka::Producer.new(cluster).tap { |p| p.send_messages("other", "e1", "e2", "e3", "e4", "e5") }.close
    group = YelpKafka::KafkaConsumerGroup.new(["other"], config)
    assert_kind_of Enumerable, group
    group.start(30) do
      first = group.first(3)
      assert_equal 3, first.size
      assert(first.all? { |m| m.is_a?(YelpKafka::KafkaConsumerGroup::Message) && m.topic == "other" })
      assert_equal (first[0].offset...first[0].offset + 3).to_a, first.map(&:offset)
      batch = group.each_slice(2).first
      assert_equal [first[2].offset + 1, first[2].offset + 2], batch.map(&:offset)
      (first + batch).each { |m| group.task_done(m) }
    end
  end

  # The group hands out columns too; task_done_columns marks a whole batch,
  # so the commit covers every message read, and a member that comes next
  # finds nothing left.
  def test_columns_of_the_group_are_marked_done_in_one_call
    word = run_word
    YelpKafka::Producer.new(cluster).tap { |p| p.send_messages("other", "#{word}-1", "#{word}-2") }.close
    group_config = config
    found = nil
    group = YelpKafka::KafkaConsumerGroup.new(["other"], group_config)
    group.start(30) do
      found = values_of_word(word) do
        batch = group.next_columns
        assert_equal [batch.size] * 6, [batch.values, batch.keys, batch.offsets, batch.partitions,
                                        batch.timestamps_ms, batch.topics].map(&:size)
        assert_equal ["other"], batch.topics.uniq
        group.task_done_columns(batch)
        batch.values
      end
      group.commit
    end
    assert_equal ["#{word}-1", "#{word}-2"], found
    assert_empty values_left(group_config)
  end

  # The values "#{word}-1" and "#{word}-2" among those the block returns
  # (an Array each time it runs; ConsumerTimeoutError: none), running it
  # until both came or 20 s passed.
  def values_of_word(word)
    found = []
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 20
    while found.size < 2 && Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      begin
        found.concat(yield.grep(/\A#{word}-/))
      rescue YelpKafka::ConsumerTimeoutError
        nil
      end
    end
    found
  end

  # What a new member of group_config finds on "other" within 2 s.
  def values_left(group_config)
    again = YelpKafka::KafkaConsumerGroup.new(["other"], group_config)
    left = []
    again.start(30) do
      stop_at = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 2
      while Process.clock_gettime(Process::CLOCK_MONOTONIC) < stop_at
        begin
          left.concat(again.next_columns.values)
        rescue YelpKafka::ConsumerTimeoutError
          nil
        end
      end
    end
    left
  end

  # task_done queues its marks in Ruby until the group's next call into
  # the library: commit includes every mark made before it, and so does
  # stop's commit (auto_commit_enable), so a member that comes next finds
  # nothing left.
  def test_queued_marks_reach_the_groups_commit_and_stop
    [false, true].each do |auto_commit|
      word = run_word
      YelpKafka::Producer.new(cluster).tap { |p| p.send_messages("other", "#{word}-1", "#{word}-2") }.close
      group_config = config(auto_commit_enable: auto_commit)
      found = nil
      group = YelpKafka::KafkaConsumerGroup.new(["other"], group_config)
      group.start(30) do
        found = values_of_word(word) do
          message = group.next
          group.task_done(message)
          [message.value]
        end
        group.commit unless auto_commit
      end
      assert_equal ["#{word}-1", "#{word}-2"], found
      assert_empty values_left(group_config), "auto_commit_enable: #{auto_commit}"
    end
  end

  def test_next_raises_a_retriable_consumer_timeout_when_nothing_comes
    group = YelpKafka::KafkaConsumerGroup.new(["other"], config(auto_offset_reset: "largest"))
    group.start(30) do
      error = assert_raises(YelpKafka::ConsumerTimeout) { group.next }
      assert error.retriable?
    end
  end

  # An exception in a rebalance callback is raised by the call that ran it,
  # and the block form still stops the group.
  def test_an_exception_in_a_rebalance_callback_is_raised_by_start
    base = config
    failing = YelpKafka::KafkaConsumerConfig.new(base.group_id, base.cluster, **base.options,
                                                 post_rebalance_callback: ->(_) { raise ArgumentError, "boom" })
    group = YelpKafka::KafkaConsumerGroup.new(["other"], failing)
    error = assert_raises(ArgumentError) { group.start(30) { flunk "the block ran" } }
    assert_equal "boom", error.message
    assert_raises(YelpKafka::ClosedHandle) { group.next }
  end
end
