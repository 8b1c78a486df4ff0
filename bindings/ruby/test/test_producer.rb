# frozen_string_literal: true

require_relative "test_helper"

class ProducerTest < Minitest::Test
  def producer(options = nil, **keywords)
    YelpKafka::Producer.new(cluster, options, **keywords).tap { |p| (@producers ||= []) << p }
  end

  def teardown
    (@producers || []).each do |p|
      p.close(5)
    rescue YelpKafka::ClosedHandle
      nil
    end
  end

  def test_the_metrics_responder_gets_the_producer_metrics_with_dimensions
    responder = RecordingResponder.new
    p = producer({ client_id: "ruby-metrics" }, metrics_responder: responder)
    dimensions = { "client_id" => "ruby-metrics", "cluster_type" => "standard", "cluster_name" => "cluster1" }
    assert_equal [["yelp_kafka.YelpKafkaProducer.metadata_request_timer", :timer, dimensions],
                  ["yelp_kafka.YelpKafkaProducer.produce_exception_count", :counter, dimensions],
                  ["yelp_kafka.YelpKafkaProducer.produce_request_timer", :timer, dimensions]],
                 responder.emitters.map { |e| e.values_at(:metric, :kind, :dimensions) }.sort
    p.send_messages("mytopic", "measured")
    timings = responder.recorded("yelp_kafka.YelpKafkaProducer.produce_request_timer")
    refute_empty timings
    assert_operator timings.first, :>=, 0
  end

  # Options as keywords reach the library like the Hash form; given both,
  # the keywords win. client_id shows in the metrics' dimensions.
  def test_options_given_as_keywords_reach_the_library
    client_id = lambda do |*options, **keywords|
      responder = RecordingResponder.new
      producer(*options, metrics_responder: responder, **keywords)
      responder.emitters.map { |e| e[:dimensions]["client_id"] }.uniq
    end
    assert_equal ["ruby-keywords"], client_id.call(client_id: "ruby-keywords", linger_ms: 1)
    assert_equal ["ruby-hash"], client_id.call({ client_id: "ruby-hash" })
    assert_equal ["ruby-keyword-wins"],
                 client_id.call({ client_id: "ruby-hash", acks: "all" }, client_id: "ruby-keyword-wins")
    assert_equal ["yelp-kafka"], client_id.call
  end

  def test_delivery_reports_carry_the_message_opaque_and_the_chosen_partition
    p = producer
    reports = {}
    p.on_delivery { |r| reports[r.opaque] = r }
    10.times { |i| p.produce("mytopic", i.to_s, key: "", partition: 2, opaque: [:tag, i]) }
    p.flush(10)
    assert_equal 10, reports.size
    # Read after the callbacks returned: a report keeps what it needs.
    reports.each do |(_, i), r|
      assert r.delivered?, "message #{i}: #{r.error}"
      assert_equal ["mytopic", 2], [r.topic, r.partition]
      assert_predicate r.topic, :frozen?
      assert_operator r.offset, :>=, 0
      assert_equal({ topic: "mytopic", partition: 2, offset: r.offset, opaque: [:tag, i], error: nil }, r.to_h)
      assert_equal ["mytopic", 2, r.offset, [:tag, i], nil], r.to_a
      assert_match(/\A#<YelpKafka::Producer::DeliveryReport topic="mytopic", partition=2, offset=\d+/, r.inspect)
    end
    offsets = reports.values.map(&:offset)
    assert_equal (offsets.min...offsets.min + 10).to_a, offsets.sort
    first, second = reports.values_at([:tag, 0], [:tag, 1])
    assert_equal first, first.dup
    assert_equal first.hash, first.dup.hash
    refute_equal first, second
    case second
    in { topic: "mytopic", partition: 2, opaque: [:tag, 1], error: nil } then nil
    end
    assert_equal 0, p.queue_length
  end

  # produce_batch queues every value in order, with the key and partition
  # given; on_delivery_batch gets the count and no failures, after the
  # per-report block.
  def test_produce_batch_queues_the_values_in_order
    word = run_word
    p = producer
    calls = []
    p.on_delivery { |r| calls << [:report, r.partition, r.offset] }
    p.on_delivery_batch { |delivered, failed| calls << [:batch, delivered, failed] }
    values = Array.new(5) { |i| "#{word} #{i}" }
    assert_equal 5, p.produce_batch("mytopic", values, key: "k", partition: 1)
    assert_equal 0, p.produce_batch("mytopic", [])
    p.flush(10)
    reports = calls.select { |c| c.first == :report }
    assert_equal [1], reports.map { |c| c[1] }.uniq
    assert_equal (0...5).map { |i| reports.first[2] + i }, reports.map { |c| c[2] }
    batches = calls.reject { |c| c.first == :report }
    assert_equal 5, batches.sum { |c| c[1] }
    assert(batches.all? { |c| c[2].empty? && c[2].frozen? })
    assert_equal :batch, calls.last.first
    records = read_topic("mytopic", word)
    assert_equal values, records.map(&:value)
    assert(records.all? { |r| r.partition == 1 && r.key == "k" })
  end

  # produce_batch hands the library the values' bytes as they are, whatever
  # their encodings, with nil a null value and "" an empty one, as
  # librdkafka reads them back (kcat's %S is -1 for a null value).
  def test_produce_batch_sends_bytes_nulls_and_empty_values_as_they_are
    topic = fresh_topic(1)
    p = producer
    values = ["caf\u00e9", nil, "", "\xff\x00\n".b, "plain"]
    assert_equal 5, p.produce_batch(topic, values, key: "k")
    p.flush(10)
    out, status = Open3.capture2("kcat", "-C", "-b", bootstrap.join(","), "-t", topic, "-o", "beginning", "-e", "-q",
                                 "-f", "%S %s\n", binmode: true)
    assert status.success?
    stored = []
    until out.empty?
      length, rest = out.split(/ /, 2)
      length = Integer(length)
      stored << (length.negative? ? nil : rest.byteslice(0, length))
      out = rest.byteslice([length, 0].max + 1..)
    end
    assert_equal values.map { |v| v&.b }, stored
  end

  # A batch meeting a full queue waits for room value by value with
  # queue_wait and queues all of them in order; with queue_wait 0 it stops
  # at the first value without room, naming it, the values before queued.
  def test_produce_batch_waits_for_room_or_stops_where_the_queue_is_full
    word = run_word
    waiting = producer(linger_ms: 1, queue_max_messages: 3)
    values = Array.new(20) { |i| "#{word} #{i}" }
    assert_equal 20, waiting.produce_batch("mytopic", values, partition: 0, queue_wait: 10)
    waiting.flush(10)
    assert_equal values, read_topic("mytopic", word).map(&:value)

    full = producer(queue_max_messages: 3)
    error = assert_raises(YelpKafka::QueueFullError) { full.produce_batch(leaderless_topic, values, queue_wait: 0) }
    assert_includes error.message, "values[3]"
    assert_equal 3, full.queue_length
    assert_raises(YelpKafka::TimedOutError) { full.close(0) }
  end

  # on_delivery_batch hands over the reports of the messages that failed:
  # here the broker refuses a produce request (MESSAGE_TOO_LARGE, not
  # retried), then takes the next one.
  def test_on_delivery_batch_gets_the_failed_reports
    p = producer({ retries: 0 })
    p.send_messages("mytopic", "metadata first")
    counts = []
    failures = []
    p.on_delivery_batch do |delivered, failed|
      counts << delivered
      failures.concat(failed)
    end
    system(ENV.fetch("YK_CLUSTER_SH"), "kafka", "1", "errors", "0", "10", out: File::NULL, exception: true)
    p.produce_batch("mytopic", Array.new(5, "refused"), partition: 0)
    p.flush(10)
    p.produce_batch("mytopic", ["accepted"], partition: 0)
    p.flush(10)
    assert_equal [0, 1], counts
    assert_equal 5, failures.size
    failures.each do |r|
      assert_kind_of YelpKafka::Producer::DeliveryReport, r
      refute r.delivered?
      assert_equal ["mytopic", 0, 10], [r.topic, r.partition, r.error.kafka_code]
    end
  end

  # produce_batch checks its arguments before queueing any value; a value
  # the library refuses stops it there, naming the index, with the values
  # before it queued.
  def test_produce_batch_checks_its_arguments_and_names_the_value_refused
    p = producer({ message_max_bytes: 100 })
    assert_raises(TypeError) { p.produce_batch("mytopic", "value") }
    assert_raises(TypeError) { p.produce_batch(42, ["value"]) }
    assert_raises(TypeError) { p.produce_batch("mytopic", ["value"], partition: "0") }
    assert_raises(TypeError) { p.produce_batch("mytopic", ["value"], key: 1) }
    error = assert_raises(TypeError) { p.produce_batch("mytopic", ["value", 42]) }
    assert_includes error.message, "values[1]"
    assert_equal 0, p.queue_length
    delivered = 0
    p.on_delivery_batch { |count, _failed| delivered += count }
    error = assert_raises(YelpKafka::InvalidArgumentError) { p.produce_batch("mytopic", ["small", "x" * 200, "never"]) }
    assert_includes error.message, "values[1]"
    assert_equal YelpKafka::InvalidArgumentError::CODE, error.code
    p.flush(10)
    assert_equal 1, delivered
    p.close
    assert_raises(YelpKafka::ClosedHandle) { p.produce_batch("mytopic", ["late"]) }
  end

  # Delivery and metrics callbacks that call back into their producer get
  # ReentrantCall, and the call that runs them finishes.
  def test_callbacks_calling_back_into_the_producer_raise_reentrant_call
    responder = RecordingResponder.new
    p = producer(metrics_responder: responder)
    from_delivery = []
    from_metrics = []
    attempt = lambda do |into, &call|
      call.call
      into << :no_error
    rescue YelpKafka::Error => e
      into << e.class
    end
    p.on_delivery do
      attempt.call(from_delivery) { p.produce("mytopic", "inner", queue_wait: 0) }
      attempt.call(from_delivery) { p.flush(0) }
      attempt.call(from_delivery) { p.send_messages("mytopic", "inner") }
      attempt.call(from_delivery) { p.close(0) }
    end
    responder.on_record = -> { attempt.call(from_metrics) { p.poll(0) } }
    p.produce("mytopic", "outer")
    p.flush(10)
    responder.on_record = nil
    assert_equal [YelpKafka::ReentrantCall] * 4, from_delivery
    refute_empty from_metrics
    assert_equal [YelpKafka::ReentrantCall], from_metrics.uniq
    p.send_messages("mytopic", "after") # still usable
  end

  # Sends from several threads while another polls; the GVL is released in
  # the library, and the callbacks take it back.
  def test_the_producer_is_usable_from_many_threads
    p = producer({ linger_ms: 2 })
    delivered = Queue.new
    p.on_delivery { |r| delivered << r }
    senders = Array.new(4) do |t|
      Thread.new do
        25.times do |i|
          p.send_keyed_messages("xmytopic", t.to_s, "thread #{t} message #{i}")
          p.produce("xmytopic", "thread #{t} message #{i}", opaque: i)
        end
      end
    end
    p.poll(0.01) until delivered.size == 100 && senders.none?(&:alive?)
    senders.each(&:join)
    assert_equal 100, delivered.size
    assert(delivered.size.times.map { delivered.pop }.all?(&:delivered?))
  end

  # An exception in a callback does not unwind through the library: the
  # call that ran the callback raises it, and the producer stays usable.
  def test_an_exception_in_a_callback_is_raised_by_the_call_that_ran_it
    p = producer
    p.on_delivery { raise ArgumentError, "boom" }
    p.produce("mytopic", "x")
    error = assert_raises(ArgumentError) { p.flush(10) }
    assert_equal "boom", error.message
    p.on_delivery {}
    p.send_messages("mytopic", "y")
  end

  # close counts what it could not deliver in time and fails what is still
  # queued with ClosedHandle (TimedOut names how many were left): every
  # message is delivered, or counted as undelivered; afterwards every call
  # raises ClosedHandle.
  def test_close_reports_what_it_could_not_deliver
    p = producer({ linger_ms: 60_000 })
    reports = []
    p.on_delivery { |r| reports << r }
    100.times { p.produce("mytopic", "lost", queue_wait: 0) }
    undelivered = begin
      p.close(0)
      0
    rescue YelpKafka::TimedOut => e
      Integer(e.message[/(\d+) messages were not delivered/, 1])
    end
    delivered, failed = reports.partition(&:delivered?)
    assert_equal 100, delivered.size + undelivered
    assert_operator failed.size, :<=, undelivered
    assert(failed.all? { |r| r.error.is_a?(YelpKafka::ClosedHandle) })
    assert_raises(YelpKafka::ClosedHandle) { p.send_messages("mytopic", "late") }
    assert_raises(YelpKafka::ClosedHandle) { p.produce("mytopic", "late") }
    assert_raises(YelpKafka::ClosedHandle) { p.produce("mytopic", "late", key: "k", partition: 0) }
    assert_raises(YelpKafka::ClosedHandle) { p.produce("mytopic", "late", opaque: 1) }
    assert_raises(YelpKafka::ClosedHandle) { p.close(0) }
  end

  # The first #produce to a topic may wait for the topic's partitions; it
  # lets go of the GVL meanwhile, so other threads run.
  def test_the_first_produce_to_a_topic_lets_other_threads_run_while_it_waits
    nowhere = YelpKafka::ClusterConfig.new("standard", "nowhere", ["127.0.0.1:1"])
    p = YelpKafka::Producer.new(nowhere, { metadata_timeout_ms: 1000, retries: 0 })
    ticks = 0
    ticker = Thread.new do
      loop do
        ticks += 1
        sleep 0.01
      end
    end
    Thread.pass while ticks.zero?
    before = ticks
    assert_raises(YelpKafka::Error) { p.produce("mytopic", "nowhere to go") }
    assert_operator ticks - before, :>, 10, "no other thread ran while #produce looked the topic up"
  ensure
    ticker&.kill
    p&.close(1)
  end

  # #produce enters the producer's guard inline (HandleGuard#calls): a
  # close from another thread while a #produce waits for room in the
  # queue leaves the handle to that #produce, which frees it as it
  # leaves; the #produce ends queued or with ClosedHandle, never on a
  # freed handle.
  def test_close_while_produce_waits_for_room_leaves_the_handle_to_it
    topic = leaderless_topic
    p = producer({ queue_max_messages: 1 })
    p.produce(topic, "fills the queue")
    waiting = Thread.new do
      p.produce(topic, "waits for room", queue_wait: 5)
      :queued
    rescue YelpKafka::ClosedHandle
      :closed
    end
    Thread.pass until waiting.stop? || !waiting.alive?
    sleep 0.1
    assert waiting.alive?, "the second #produce did not wait for room"
    # White-box: the guard counts the waiting #produce, so the close below
    # cannot be the last call to leave and free the handle under it.
    assert_equal 1, p.instance_variable_get(:@guard).calls.size
    begin
      p.close(0)
    rescue YelpKafka::TimedOut
      nil
    end
    assert_includes %i[queued closed], waiting.value
    assert_raises(YelpKafka::ClosedHandle) { p.produce("mytopic", "late") }
  end
end
