# frozen_string_literal: true

module YelpKafka
  # The base of every failure the library reports. The hierarchy is flat:
  # one subclass per code of the library, made from its own error table
  # (yk_error_name), so codes added to the library get a class too.
  #
  #   YelpKafka::Error
  #     codes 1–16, Python yelp_kafka's exceptions under their Python names:
  #       FailedPayloadsError, KafkaUnavailableError, LeaderNotAvailableError,
  #       NotLeaderForPartitionError, UnknownTopicOrPartitionError,
  #       ConsumerTimeoutError (ConsumerTimeout), PartitionerError,
  #       PartitionerZookeeperError, ConsumerGroupError, ProcessMessageError,
  #       ConfigurationError, DiscoveryError, UnknownTopicError (UnknownTopic),
  #       UnknownPartitionsError (UnknownPartitions), OffsetCommitError,
  #       InvalidOffsetStorageError
  #     codes from 100, the conditions of the C boundary and of the engine:
  #       InvalidArgumentError, WrongStateError, ClosedHandleError,
  #       ReentrantCallError, InternalError, BrokerError,
  #       RequestTimedOutError, TransportError, UnsupportedVersionError,
  #       ProtocolError, TimedOutError, OffsetOutOfRangeError,
  #       QueueFullError, WorkersRunningError
  #
  # Every class name ends in "Error". Where the library's name does not (the
  # three Python exceptions ConsumerTimeout, UnknownTopic and
  # UnknownPartitions, and the C boundary's names such as TimedOut), that
  # name is kept as an alias of the same class: `rescue
  # YelpKafka::ConsumerTimeout` and `rescue YelpKafka::ConsumerTimeoutError`
  # catch the same exceptions.
  #
  # Arguments of the wrong type raise Ruby's own TypeError before the
  # library is called, and are not YelpKafka::Error.
  class Error < StandardError
    # The library's numeric code.
    attr_reader :code
    # The raw Kafka error code a broker sent, 0 when none.
    attr_reader :kafka_code

    def initialize(message, code: self.class::CODE, kafka_code: 0, retriable: nil)
      super(message)
      @code = code
      @kafka_code = kafka_code
      @retriable = retriable.nil? ? Native.yk_error_is_retriable(code) : retriable
    end

    # Whether a plain retry may succeed (a leader moved, a broker was
    # briefly unavailable, a request timed out).
    def retriable?
      @retriable
    end

    # Codes the library names are below this.
    CODE_LIMIT = 1000

    # code => exception class, made from the library's own table.
    CLASSES = (1...CODE_LIMIT).each_with_object({}) do |code, classes|
      library_name = Native.yk_error_name(code)
      next if library_name == "UnknownErrorCode"

      klass = Class.new(self)
      klass.const_set(:CODE, code)
      # The first constant a class is assigned to becomes its name.
      YelpKafka.const_set(library_name.end_with?("Error") ? library_name : "#{library_name}Error", klass)
      YelpKafka.const_set(library_name, klass) unless library_name.end_with?("Error")
      classes[code] = klass
    end.freeze

    # The exception for a failure the library just reported with code on
    # this thread (the details are thread-local).
    def self.last(code)
      CLASSES.fetch(code, self).new(Native.yk_last_error_message, code: code,
                                                                   kafka_code: Native.yk_last_error_kafka_code,
                                                                   retriable: Native.yk_last_error_is_retriable)
    end

    # Raises the exception for code unless it is success.
    def self.check(code)
      raise last(code) unless code.zero?
    end
  end
end
