# frozen_string_literal: true

# What the Ruby tests share: the local cluster's addresses
# (scripts/cluster.sh up writes them to target/cluster/env) and an
# independent reader, kcat, to check what the library produced.

require "minitest/autorun"
require "open3"
require "stringio"
require "yelp_kafka"

module ClusterHelpers
  # The broker list of local Kafka cluster n, from $YK_KAFKAn.
  def bootstrap(n = 1)
    list = ENV.fetch("YK_KAFKA#{n}") { flunk "YK_KAFKA#{n} is unset: run scripts/cluster.sh up, source target/cluster/env" }
    list.split(",")
  end

  def cluster(n = 1)
    YelpKafka::ClusterConfig.new("standard", "cluster#{n}", bootstrap(n))
  end

  # A word unique to this test run, to tell its messages from earlier runs'.
  def run_word
    "#{name}-#{Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)}"
  end

  Record = Struct.new(:partition, :offset, :key, :value)

  # Every message of topic, from the beginning, whose value contains word, read by kcat.
  def read_topic(topic, word, n = 1)
    out, status = Open3.capture2("kcat", "-C", "-b", bootstrap(n).join(","), "-t", topic, "-o", "beginning",
                                 "-e", "-q", "-f", "%p\t%o\t%k\t%s\n")
    assert status.success?, "kcat -C #{topic} failed"
    out.each_line(chomp: true).filter_map do |line|
      partition, offset, key, value = line.split("\t", 4)
      Record.new(Integer(partition), Integer(offset), key, value) if value&.include?(word)
    end
  end
end

Minitest::Test.include(ClusterHelpers)
