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

  # Every class of the hierarchy ends in Error; the library's names that do
  # not (Python yelp_kafka's ConsumerTimeout, the C boundary's TimedOut, ...)
  # are aliases of the same classes, so code rescuing them keeps working.
  def test_every_class_ends_in_error_and_the_old_names_are_aliases
    YelpKafka::Error::CLASSES.each_value do |klass|
      assert_match(/\AYelpKafka::\w+Error\z/, klass.name)
      assert_operator klass, :<, YelpKafka::Error
    end
    { "ConsumerTimeout" => 6, "UnknownTopic" => 13, "UnknownPartitions" => 14, "InvalidArgument" => 100,
      "WrongState" => 101, "ClosedHandle" => 102, "ReentrantCall" => 103, "TimedOut" => 110, "QueueFull" => 112,
      "WorkersRunning" => 113 }.each do |old_name, code|
      klass = YelpKafka::Error::CLASSES.fetch(code)
      assert_same klass, YelpKafka.const_get(old_name), old_name
      assert_same klass, YelpKafka.const_get("#{old_name}Error"), old_name
    end
    assert_equal "YelpKafka::TimedOutError", YelpKafka::TimedOut.name
    assert_equal StandardError, YelpKafka::Error.superclass
  end

  # A failure raised by the library is caught by the base class, by the
  # class of its code and by that class's old name alike.
  def test_a_raised_failure_is_caught_by_base_class_and_both_names
    producer = YelpKafka::Producer.new(cluster)
    producer.close(5)
    [YelpKafka::Error, YelpKafka::ClosedHandleError, YelpKafka::ClosedHandle].each do |klass|
      error = assert_raises(klass) { producer.send_messages("mytopic", "late") }
      assert_equal YelpKafka::ClosedHandleError::CODE, error.code
    end
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
    error = assert_raises(YelpKafka::ConfigurationError) { YelpKafka::Producer.new(cluster, bogus_keyword: 1) }
    assert_includes error.message, "bogus_keyword"
  end
end
