# frozen_string_literal: true

require_relative "test_helper"

# Arguments of the wrong type raise TypeError naming the argument, before
# anything reaches the library.
class ArgumentsTest < Minitest::Test
  def setup
    @producer = YelpKafka::Producer.new(cluster)
  end

  def teardown
    @producer.close(5)
  end

  def assert_type_error(fragment, &block)
    error = assert_raises(TypeError, &block)
    assert_includes error.message, fragment
    refute_kind_of YelpKafka::Error, error
  end

  def test_producer_methods_check_their_arguments
    assert_type_error("messages[1] must be a String, not Integer") { @producer.send_messages("mytopic", "ok", 42) }
    assert_type_error("topic must be a String, not Symbol") { @producer.send_messages(:mytopic, "x") }
    assert_type_error("key must be a String, not Integer") { @producer.send_keyed_messages("mytopic", 7, "x") }
    assert_type_error("value must be a String, not Integer") { @producer.produce("mytopic", 42) }
    assert_type_error("key must be a String, not Array") { @producer.produce("mytopic", "x", key: []) }
    assert_type_error("partition must be an Integer or nil, not String") do
      @producer.produce("mytopic", "x", partition: "1")
    end
    assert_type_error("queue_wait must be a number of seconds") { @producer.produce("mytopic", "x", queue_wait: "1") }
    assert_type_error("timeout must be a number of seconds or nil, not String") { @producer.poll("1") }
    assert_type_error("timeout must be a number of seconds, not NilClass") { @producer.flush(nil) }
    assert_type_error("timeout must be a number of seconds, not String") { @producer.close("5") }
    assert_type_error("options must be a Hash or keywords, not Array") { YelpKafka::Producer.new(cluster, [1]) }
    assert_type_error("option names must be Symbols or Strings, not Integer") do
      YelpKafka::Producer.new(cluster, { 1 => "x" })
    end
    assert_type_error("cluster must be a YelpKafka::ClusterConfig, not String") do
      YelpKafka::Producer.new("localhost:9092")
    end
    assert_equal 0, @producer.queue_length, "a refused message was queued"
  end

  # Strings are taken by implicit conversion (to_str), as Ruby's own methods do.
  def test_objects_converting_to_strings_are_accepted
    topic = Struct.new(:name) { alias_method :to_str, :name }.new("mytopic")
    assert_equal 1, @producer.send_messages(topic, "converted").size
  end

  def test_cluster_config_consumer_config_and_group_check_their_arguments
    assert_type_error("broker_list[0] must be a String, not Integer") do
      YelpKafka::ClusterConfig.new("standard", "c", [9092])
    end
    assert_type_error("name must be a String, not NilClass") { YelpKafka::ClusterConfig.new("standard", nil, "b:9092") }
    assert_type_error("group_id must be a String, not Integer") { YelpKafka::KafkaConsumerConfig.new(1, cluster) }
    assert_type_error("cluster must be a YelpKafka::ClusterConfig, not Array") do
      YelpKafka::KafkaConsumerConfig.new("g", ["b:9092"])
    end
    assert_type_error("post_rebalance_callback must answer call(partitions)") do
      YelpKafka::KafkaConsumerConfig.new("g", cluster, post_rebalance_callback: "print")
    end
    config = YelpKafka::KafkaConsumerConfig.new("g", cluster, offset_storage: "kafka")
    assert_type_error("topics must be an Array of Strings, not String") do
      YelpKafka::KafkaConsumerGroup.new("other", config)
    end
    assert_type_error("config must be a YelpKafka::KafkaConsumerConfig, not Hash") do
      YelpKafka::KafkaConsumerGroup.new(["other"], {})
    end
    group = YelpKafka::KafkaConsumerGroup.new(["other"], config)
    assert_type_error("timeout must be a number of seconds or nil, not String") { group.start("1") }
    assert_type_error("message must be a YelpKafka::Message, not String") { group.task_done("m") }
    assert_type_error("timeout must be a number of seconds, not String") { group.stop("1") }
    group.stop(1)
  end

  def test_discovery_checks_its_arguments
    assert_type_error("cluster must be a YelpKafka::ClusterConfig, not String") do
      YelpKafka::Discovery.discover_topics("localhost:9092")
    end
    assert_type_error("topic must be a String, not Integer") { YelpKafka::Discovery.search_topic(1, [cluster]) }
    assert_type_error("clusters must be an Array of ClusterConfig") { YelpKafka::Discovery.search_topic("t", cluster) }
    assert_type_error("pattern must be a String, not Regexp") do
      YelpKafka::Discovery.search_topics_by_regex(/mytopic/, [cluster])
    end
    assert_type_error("cluster_type must be a String, not Symbol") { YelpKafka::Discovery.get_all_clusters(:standard) }
  end
end
