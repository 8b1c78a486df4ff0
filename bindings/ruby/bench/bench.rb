# frozen_string_literal: true

# The Ruby binding's CPU per message, for bench/parts/ruby.sh to set beside
# the C API's (bench/producer_bench.c throughput, bench/message_path_bench.c
# batch), doing the same work:
#
#   ruby bench/bench.rb producer BOOTSTRAP TOPIC COUNT SIZE
#   ruby bench/bench.rb consumer BOOTSTRAP TOPIC COUNT
#
# producer: COUNT messages of SIZE bytes, no key, through #produce with
# linger 5 ms and batches of up to 1,000,000 bytes, delivery reports counted
# in #on_delivery, polled every 1,024 messages, then #flush.
# consumer: a new group's simple consumer reads every partition of TOPIC
# from the start until COUNT messages came, reading every field of each
# and marking it done.
# Prints `msgs_per_s=... cpu_s=... thread_cpu_s=... gc_s=...`: cpu_s is the
# whole process (the library's threads included) during the work only,
# thread_cpu_s the calling thread alone (Ruby and the C calls it makes),
# gc_s the part of it Ruby's garbage collector took.

require "yelp_kafka"

def cpu_seconds
  Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID)
end

def wall_seconds
  Process.clock_gettime(Process::CLOCK_MONOTONIC)
end

def produce(cluster, topic, count, size)
  producer = YelpKafka::Producer.new(cluster, linger_ms: 5, batch_size_bytes: 1_000_000, acks: 1,
                                              queue_max_messages: 100_000)
  delivered = 0
  producer.on_delivery { |report| delivered += 1 if report.delivered? }
  producer.send_messages(topic, "warm-up")
  value = ("a".."z").cycle.first(size).join
  count.times do |i|
    producer.produce(topic, value)
    producer.poll(0) if (i & 1023).zero?
  end
  producer.flush(120)
  producer.close
  raise "#{count - delivered} messages undelivered" unless delivered == count
end

def consume(cluster, topic, count)
  config = YelpKafka::KafkaConsumerConfig.new("bench-ruby-#{Process.pid}-#{wall_seconds}", cluster,
                                              offset_storage: "kafka", auto_offset_reset: "earliest",
                                              api_version_caps: "ListOffsets:3")
  consumer = YelpKafka::KafkaSimpleConsumer.new(topic, config).connect
  sink = 0
  consumer.each_with_index do |message, seen|
    sink += message.offset + message.partition + message.value.bytesize + (message.key&.bytesize || 0) +
            message.timestamp_ms + message.topic.getbyte(0)
    consumer.task_done(message)
    break if seen + 1 == count
  end
  consumer.close
  sink
end

mode, bootstrap, topic, count, size = ARGV
count = Integer(count)
cluster = YelpKafka::ClusterConfig.new("bench", "bench", bootstrap.split(","))
cpu_started = cpu_seconds
thread_started = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID)
gc_started = GC.stat(:time)
started = wall_seconds
case mode
when "producer" then produce(cluster, topic, count, Integer(size))
when "consumer" then consume(cluster, topic, count)
else abort "usage: bench.rb producer|consumer BOOTSTRAP TOPIC COUNT [SIZE]"
end
printf("msgs_per_s=%.0f cpu_s=%.3f thread_cpu_s=%.3f gc_s=%.3f\n", count / (wall_seconds - started),
       cpu_seconds - cpu_started, Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - thread_started,
       (GC.stat(:time) - gc_started) / 1000.0)
