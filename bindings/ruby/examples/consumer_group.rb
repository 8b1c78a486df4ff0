# frozen_string_literal: true

# Python yelp_kafka's KafkaConsumerGroup loop in Ruby.
#
# Start this program several times (on one host or many): the instances
# split the partitions of TOPIC between them through ZooKeeper, with each
# other and with Python yelp_kafka members of the same group, and each
# message is processed by one of them. The loop is Python yelp_kafka's:
#
#     while True:
#         with KafkaConsumerGroup([topic], config) as consumer:
#             for message in consumer:   # ConsumerTimeout: just go on
#                 process(message); consumer.task_done(message)
#         # PartitionerError (ZooKeeper lost): leave the `with`, start over
#
# Retriable errors (a leader moved, a broker briefly away) are retried;
# auto-commit commits processed messages every 100 task_done calls, before
# partitions are given up in a rebalance, and on stop. SIGINT or SIGTERM
# stops the member gracefully (the others take its partitions over after
# partitioner_cooldown).
#
# Usage:
#   ruby -Ilib examples/consumer_group.rb [BOOTSTRAP ZOOKEEPER [TOPIC [GROUP [key=value ...]]]]
# BOOTSTRAP and ZOOKEEPER default to $YK_KAFKA1 and $YK_ZOOKEEPER (the local
# cluster writes them: scripts/cluster.sh up && . target/cluster/env), TOPIC
# to "mytopic", GROUP to "group-example"; key=value pairs set consumer
# options (partitioner_cooldown=1, auto_offset_reset=smallest, ...). With
# $YK_EXAMPLE_IDLE_EXIT=N the member stops after N seconds without a
# message. Each message is printed as "MSG <topic> <partition> <offset>
# <value>", rebalances as "acquired ..." / "releasing ...".

require "yelp_kafka"

module ConsumerGroupExample
  module_function

  def print_partitions(out, what, partitions)
    names = partitions.map { |topic, partition| " #{topic}-#{partition}" }.join
    out.puts "#{what}#{names.empty? ? ' nothing' : names}"
  end

  # Runs Python yelp_kafka's loop until stopping.call is true, idle_exit seconds pass
  # without a message, or an error that no retry fixes; returns how many
  # messages it processed.
  def run(bootstrap, zookeeper, topic, group_id, options = {}, idle_exit: nil, out: $stdout, stopping: -> { false })
    cluster = YelpKafka::ClusterConfig.new("standard", "local", bootstrap, zookeeper)
    config = YelpKafka::KafkaConsumerConfig.new(
      group_id, cluster,
      # Debian's librdkafka 2.0.2 mock (the local cluster) mis-encodes ListOffsets v4/v5.
      api_version_caps: "ListOffsets:3", **options,
      # Pre-rebalance: the partitions given up (their offsets are committed next).
      pre_rebalance_callback: ->(partitions) { print_partitions(out, "releasing", partitions) },
      # Post-rebalance: the partitions acquired; no message came in between.
      post_rebalance_callback: ->(partitions) { print_partitions(out, "acquired", partitions) }
    )
    consumed = 0
    until stopping.call
      group = YelpKafka::KafkaConsumerGroup.new([topic], config)
      begin
        group.start(60) do
          out.puts "member #{group.identifier} started"
          consumed += process(group, out, idle_exit, stopping)
          return consumed
        end
      rescue YelpKafka::PartitionerError => e
        warn "#{e.message}: creating the group again" # Python yelp_kafka's outer loop
      end
    end
    consumed
  end

  # Takes messages until stopping or idle; retriable errors are retried.
  def process(group, out, idle_exit, stopping)
    consumed = 0
    last_message = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    until stopping.call
      begin
        message = group.next
        # "Processing": print the message and where it came from.
        out.puts "MSG #{message.topic} #{message.partition} #{message.offset} #{message.value}"
        group.task_done(message)
        consumed += 1
        last_message = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      rescue YelpKafka::ConsumerTimeoutError
        break if idle_exit && Process.clock_gettime(Process::CLOCK_MONOTONIC) - last_message > idle_exit
      rescue YelpKafka::PartitionerError
        raise
      rescue YelpKafka::Error => e
        raise unless e.retriable?
      end
    end
    consumed
  end
end

if $PROGRAM_NAME == __FILE__
  bootstrap = ARGV[0] || ENV.fetch("YK_KAFKA1", nil)
  zookeeper = ARGV[1] || ENV.fetch("YK_ZOOKEEPER", nil)
  abort "usage: #{$PROGRAM_NAME} BOOTSTRAP ZOOKEEPER [TOPIC [GROUP [key=value ...]]]" unless bootstrap && zookeeper
  options = ARGV.drop(4).to_h { |pair| pair.split("=", 2).then { |k, v| [k.to_sym, v] } }
  stopping = false
  %w[INT TERM].each { |signal| trap(signal) { stopping = true } }
  idle = ENV["YK_EXAMPLE_IDLE_EXIT"]&.to_f
  consumed = ConsumerGroupExample.run(bootstrap.split(","), zookeeper, ARGV[2] || "mytopic", ARGV[3] || "group-example",
                                      options, idle_exit: idle, stopping: -> { stopping })
  puts "consumed #{consumed} messages"
end
