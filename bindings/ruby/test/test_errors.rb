# frozen_string_literal: true

require_relative "test_helper"

class ErrorsTest < Minitest::Test
  # Python yelp_kafka's exceptions, each a class under YelpKafka:: with its code.
  SEED_EXCEPTIONS = %w[FailedPayloadsError KafkaUnavailableError LeaderNotAvailableError NotLeaderForPartitionError
                       UnknownTopicOrPartitionError ConsumerTimeout PartitionerError PartitionerZookeeperError
                       ConsumerGroupError ProcessMessageError ConfigurationError DiscoveryError UnknownTopic
                       UnknownPartitions OffsetCommitError InvalidOffsetStorageError].freeze

  def test_every_python_exception_is_a_class_with_its_code
    SEED_EXCEPTIONS.each_with_index do |name, i|
      klass = YelpKafka.const_get(name)
      assert_operator klass, :<, YelpKafka::Error
      assert_equal i + 1, klass::CODE, name
    end
    assert_equal YelpKafka::ReentrantCall, YelpKafka::Error::CLASSES.fetch(103)
    # Codes added after the binding was written come from the library's table too.
    assert_equal YelpKafka::WorkersRunning, YelpKafka::Error::CLASSES.fetch(113)
    refute YelpKafka::WorkersRunning.new("still running").retriable?
  end

  def test_a_bad_broker_raises_configuration_error_naming_it
    error = assert_raises(YelpKafka::ConfigurationError) do
      YelpKafka::ClusterConfig.new("standard", "cluster1", ["not-a-broker"])
    end
    assert_includes error.message, "not-a-broker"
    refute error.retriable?
    assert_equal YelpKafka::ConfigurationError::CODE, error.code
  end

  # A cluster nobody answers for is KafkaUnavailableError, which Python yelp_kafka retries.
  def test_an_unreachable_cluster_raises_a_retriable_kafka_unavailable_error
    nowhere = YelpKafka::ClusterConfig.new("standard", "nowhere", ["127.0.0.1:1"])
    producer = YelpKafka::Producer.new(nowhere, { metadata_timeout_ms: 300, retries: 0 })
    error = assert_raises(YelpKafka::KafkaUnavailableError) { producer.send_messages("mytopic", "lost") }
    assert error.retriable?
    assert_includes error.message, "yk_producer_send_messages"
  ensure
    producer&.close(1)
  end

  def test_an_unknown_option_raises_configuration_error
    error = assert_raises(YelpKafka::ConfigurationError) { YelpKafka::Producer.new(cluster, { bogus: 1 }) }
    assert_includes error.message, "bogus"
  end
end
