# frozen_string_literal: true

require_relative "test_helper"
require_relative "../examples/producer"

class ExamplesTest < Minitest::Test
  # The example's messages, read back by kcat: the two plain and the two
  # keyed ones once each, the keyed ones together in one partition at the
  # offsets the example printed, and every asynchronous one.
  def test_producer_example_messages_are_consumed
    run = run_word
    out = StringIO.new
    ProducerExample.run(bootstrap, "mytopic", run, out: out)
    keyed_offsets = out.string[/keyed messages \(key user-42\) at offsets (\d+ and \d+)/, 1]&.split(" and ")&.map(&:to_i)
    refute_nil keyed_offsets, "the example did not print the keyed offsets:\n#{out.string}"

    records = read_topic("mytopic", run)
    want = ["|message1 #{run}", "|message2 #{run}", "user-42|message1 #{run}", "user-42|message2 #{run}"] +
           Array.new(ProducerExample::ASYNC_MESSAGES) { |i| "|async-#{i} #{run}" }
    assert_equal want.sort, records.map { |r| "#{r.key}|#{r.value}" }.sort

    keyed = records.select { |r| r.key == "user-42" }
    assert_equal 1, keyed.map(&:partition).uniq.size, "keyed messages in several partitions: #{keyed}"
    assert_equal keyed_offsets, keyed.map(&:offset)
  end
end

class ConsumerGroupExampleTest < Minitest::Test
  # Two members of a new group, started together, split the two partitions
  # of xmytopic one each, and together consume every message produced
  # before exactly once (from the beginning: auto_offset_reset=smallest).
  def test_members_split_the_partitions_and_consume_what_was_produced
    require_relative "../examples/consumer_group"
    run = run_word
    produced = produce_run("xmytopic", run, 50)
    zookeeper = ENV.fetch("YK_ZOOKEEPER") { flunk "YK_ZOOKEEPER is unset: source target/cluster/env" }
    options = { partitioner_cooldown: 1, auto_offset_reset: "smallest", consumer_timeout_ms: 200 }
    outputs = Array.new(2) { StringIO.new }
    members = outputs.map do |out|
      Thread.new do
        ConsumerGroupExample.run(bootstrap, zookeeper, "xmytopic", "ruby-example-#{run}", options, idle_exit: 3, out: out)
      end
    end
    members.each(&:join)

    lines = outputs.flat_map { |out| out.string.lines(chomp: true) }
    assert_equal ["acquired xmytopic-0", "acquired xmytopic-1"], lines.grep(/^acquired /).sort
    consumed = lines.grep(/^MSG xmytopic /).map { |line| line.delete_prefix("MSG xmytopic ") }.tally
    produced.each { |message| assert_equal 1, consumed[message], "message (partition, offset, value) #{message}" }
  end

  # Produces count messages with the run's word; "<partition> <offset> <value>" of each.
  def produce_run(topic, run, count)
    producer = YelpKafka::Producer.new(cluster)
    produced = []
    producer.on_delivery do |report|
      assert report.delivered?, report.error&.message
      produced << "#{report.partition} #{report.offset} group message #{report.opaque} #{run}"
    end
    count.times { |i| producer.produce(topic, "group message #{i} #{run}", opaque: i) }
    producer.flush(10)
    assert_equal count, produced.uniq.size
    produced
  ensure
    producer&.close(5)
  end
end
