# frozen_string_literal: true

# The Ruby binding's CPU per message, for bench/parts/ruby.sh to set beside
# the C API's (bench/producer_bench.c throughput, bench/message_path_bench.c
# batch), doing the same work:
#
#   ruby bench/bench.rb producer|producer-batch BOOTSTRAP TOPIC COUNT SIZE
#   ruby bench/bench.rb consumer|consumer-batch|consumer-columns BOOTSTRAP TOPIC COUNT
#
# producer: COUNT messages of SIZE bytes, no key, through #produce with
# linger 5 ms and batches of up to 1,000,000 bytes, delivery reports counted
# in #on_delivery, polled every 1,024 messages, then #flush.
# producer-batch: the same through #produce_batch of 1,024 values, the
# reports counted in #on_delivery_batch.
# consumer: a new group's simple consumer reads every partition of TOPIC
# from the start until COUNT messages came, reading every field of each
# and marking it done with #task_done, through #each.
# consumer-batch: the same through #each_batch(task_done: true); the last
# Array, which the loop breaks out of, stays unmarked (at most 1,024
# messages, 0.5% of the default COUNT).
# consumer-columns: the same through #each_columns(task_done: true), every
# column read (values, keys, offsets, partitions, timestamps, topics), the
# same sums taken over the columns; the last batch stays unmarked as above.
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

def simple_consumer(cluster, topic)
  config = YelpKafka::KafkaConsumerConfig.new("bench-ruby-#{Process.pid}-#{wall_seconds}", cluster,
                                              offset_storage: "kafka", auto_offset_reset: "earliest",
                                              api_version_caps: "ListOffsets:3")
  YelpKafka::KafkaSimpleConsumer.new(topic, config).connect
end

def read_fields(message)
  message.offset + message.partition + message.value.bytesize + (message.key&.bytesize || 0) +
    message.timestamp_ms + message.topic.getbyte(0)
end

def consume(cluster, topic, count)
  consumer = simple_consumer(cluster, topic)
  sink = 0
  consumer.each_with_index do |message, seen|
    sink += read_fields(message)
    consumer.task_done(message)
    break if seen + 1 == count
  end
  consumer.close
  sink
end

def consume_batches(cluster, topic, count)
  consumer = simple_consumer(cluster, topic)
  sink = 0
  seen = 0
  consumer.each_batch(task_done: true) do |messages|
    messages.each { |message| sink += read_fields(message) }
    seen += messages.size
    break if seen >= count
  end
  consumer.close
  sink
end

def consume_columns(cluster, topic, count)
  consumer = simple_consumer(cluster, topic)
  sink = 0
  seen = 0
  consumer.each_columns(task_done: true) do |batch|
    sink += batch.offsets.sum + batch.partitions.sum + batch.timestamps_ms.sum
    batch.values.each { |value| sink += value.bytesize }
    batch.keys.each { |key| sink += key.bytesize if key }
    batch.topics.each { |name| sink += name.getbyte(0) }
    seen += batch.size
    break if seen >= count
  end
  consumer.close
  sink
end

def produce_batches(cluster, topic, count, size)
  producer = YelpKafka::Producer.new(cluster, linger_ms: 5, batch_size_bytes: 1_000_000, acks: 1,
                                              queue_max_messages: 100_000)
  delivered = 0
  producer.on_delivery_batch { |acknowledged, _failed| delivered += acknowledged }
  producer.send_messages(topic, "warm-up")
  values = Array.new(1024, ("a".."z").cycle.first(size).join)
  (count / values.size).times do
    producer.produce_batch(topic, values)
    producer.poll(0)
  end
  producer.produce_batch(topic, values.first(count % values.size))
  producer.flush(120)
  producer.close
  raise "#{count - delivered} messages undelivered" unless delivered == count
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
when "producer-batch" then produce_batches(cluster, topic, count, Integer(size))
when "consumer" then consume(cluster, topic, count)
when "consumer-batch" then consume_batches(cluster, topic, count)
when "consumer-columns" then consume_columns(cluster, topic, count)
else abort "usage: bench.rb producer|producer-batch|consumer|consumer-batch|consumer-columns BOOTSTRAP TOPIC COUNT [SIZE]"
end
printf("msgs_per_s=%.0f cpu_s=%.3f thread_cpu_s=%.3f gc_s=%.3f\n", count / (wall_seconds - started),
       cpu_seconds - cpu_started, Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID) - thread_started,
       (GC.stat(:time) - gc_started) / 1000.0)
