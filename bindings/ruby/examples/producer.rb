# frozen_string_literal: true

# Python yelp_kafka's producer example in Ruby.
#
# A service sends messages and, when the error is one that a retry can fix
# (a leader moved, a broker is briefly unavailable), tries again — Python
# yelp_kafka's `except (FailedPayloadsError, KafkaUnavailableError,
# LeaderNotAvailableError, NotLeaderForPartitionError): retry` loop. Then it
# sends keyed messages (same key, same partition) and finally produces
# asynchronously, collecting delivery reports.
#
# Usage:
#   ruby -Ilib examples/producer.rb [BOOTSTRAP [TOPIC [RUN]]]
# BOOTSTRAP defaults to $YK_KAFKA1 (the local cluster writes it:
# `scripts/cluster.sh up && . target/cluster/env`), TOPIC to "mytopic"; RUN
# is a word added to every message so a reader can tell this run's
# messages from earlier ones.

require "yelp_kafka"

module ProducerExample
  ASYNC_MESSAGES = 1000

  module_function

  def value(text, run)
    run ? "#{text} #{run}" : text
  end

  # Python yelp_kafka's retry loop: up to attempts tries while the error is retriable.
  def send_with_retries(producer, topic, *messages, attempts: 3)
    attempt = 0
    begin
      attempt += 1
      producer.send_messages(topic, *messages)
    rescue YelpKafka::FailedPayloadsError, YelpKafka::KafkaUnavailableError,
           YelpKafka::LeaderNotAvailableError, YelpKafka::NotLeaderForPartitionError => e
      raise if attempt == attempts

      warn "attempt #{attempt}: #{e.class.name.split('::').last}: #{e.message}, retrying"
      retry
    end
  end

  def run(bootstrap, topic, run = nil, out: $stdout)
    cluster = YelpKafka::ClusterConfig.new("standard", "cluster1", bootstrap)
    producer = YelpKafka::Producer.new(cluster, client_id: "my-client-id", acks: "all")
    begin
      # Python yelp_kafka: producer.send_messages("my_topic", "message1", "message2").
      offsets = send_with_retries(producer, topic, value("message1", run), value("message2", run))
      out.puts "sent 2 messages to #{topic} at offsets #{offsets.join(' and ')}"

      # The keyed producer: every message with key "user-42" goes to one partition.
      offsets = producer.send_keyed_messages(topic, "user-42", value("message1", run), value("message2", run))
      out.puts "sent 2 keyed messages (key user-42) at offsets #{offsets.join(' and ')}"

      # Asynchronous: produce returns at once; reports come to the
      # on_delivery block on the thread that calls flush.
      delivered = failed = 0
      producer.on_delivery do |report|
        if report.delivered?
          delivered += 1
        else
          failed += 1
          warn "message #{report.opaque} not delivered: #{report.error.message}"
        end
      end
      ASYNC_MESSAGES.times { |i| producer.produce(topic, value("async-#{i}", run), opaque: i) }
      producer.flush(10)
      out.puts "produced #{ASYNC_MESSAGES} messages asynchronously: #{delivered} delivered, #{failed} failed"
      raise "not every message was delivered" unless delivered == ASYNC_MESSAGES
    ensure
      producer.close(5)
    end
  end
end

if $PROGRAM_NAME == __FILE__
  bootstrap = ARGV[0] || ENV.fetch("YK_KAFKA1") { abort "usage: #{$PROGRAM_NAME} BOOTSTRAP [TOPIC [RUN]] (or set YK_KAFKA1)" }
  ProducerExample.run(bootstrap.split(","), ARGV[1] || "mytopic", ARGV[2])
end
