# frozen_string_literal: true

# What the Ruby tests share: the local cluster's addresses
# (scripts/cluster.sh up writes them to target/cluster/env) and an
# independent reader, kcat, to check what the library produced.

require "minitest/autorun"
require "open3"
require "stringio"
require "yelp_kafka"

# A metrics responder (any object answering the three methods) that keeps
# what it was given, for the producer and group tests.
class RecordingResponder
  attr_reader :emitters
  attr_accessor :on_record

  def initialize
    @mutex = Mutex.new
    @emitters = []
    @records = Hash.new { |h, k| h[k] = [] }
  end

  def get_counter_emitter(metric, dimensions)
    emitter(metric, :counter, dimensions)
  end

  def get_timer_emitter(metric, dimensions)
    emitter(metric, :timer, dimensions)
  end

  def record(emitter, value, timestamp)
    raise "timestamp #{timestamp} is not now" unless (Time.now - timestamp).abs < 60

    @mutex.synchronize { @records[emitter[:metric]] << value }
    on_record&.call
  end

  def recorded(metric)
    @mutex.synchronize { @records[metric].dup }
  end

  private

  def emitter(metric, kind, dimensions)
    { metric: metric, kind: kind, dimensions: dimensions }.tap { |e| @mutex.synchronize { @emitters << e } }
  end
end

module ClusterHelpers
  # The broker list of local Kafka cluster n, from $YK_KAFKAn.
  def bootstrap(n = 1)
    list = ENV.fetch("YK_KAFKA#{n}") { flunk "YK_KAFKA#{n} is unset: run scripts/cluster.sh up, source target/cluster/env" }
    list.split(",")
  end

  def cluster(n = 1)
    YelpKafka::ClusterConfig.new("standard", "cluster#{n}", bootstrap(n))
  end

  # A new topic of partitions on local cluster 1, this test's alone.
  def fresh_topic(partitions)
    topic = "ruby-#{Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)}"
    system(ENV.fetch("YK_CLUSTER_SH"), "kafka", "1", "topic", topic, partitions.to_s, out: File::NULL,
                                                                                      exception: true)
    topic
  end

  # A new topic of one partition without a leader: what is produced to it
  # stays queued (a full queue sends without linger, docs/producer.md).
  def leaderless_topic
    topic = fresh_topic(1)
    system(ENV.fetch("YK_CLUSTER_SH"), "kafka", "1", "leader", topic, "0", "-1", out: File::NULL, exception: true)
    topic
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
