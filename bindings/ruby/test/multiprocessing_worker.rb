# frozen_string_literal: true

# The worker program of test_multiprocessing_group.rb: reads the first
# message of its partition and writes "topic partition value" to the file
# named by its argument, then waits for the group's SIGTERM.

require "yelp_kafka"

consumer = YelpKafka::KafkaConsumer.multiprocessing_worker.connect
message = consumer.get_message(timeout: 20) or abort "no message came"
File.write("#{ARGV.fetch(0)}.tmp", "#{message.topic} #{message.partition} #{message.value}")
File.rename("#{ARGV.fetch(0)}.tmp", ARGV.fetch(0))
consumer.close
sleep
