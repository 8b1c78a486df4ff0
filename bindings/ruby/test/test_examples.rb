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
