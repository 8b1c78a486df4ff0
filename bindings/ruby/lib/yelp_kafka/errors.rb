# frozen_string_literal: true

module YelpKafka
  # Every failure of the library. Each code of the library has a subclass
  # named as the library names it, which for codes 1–16 is Python yelp_kafka's Python
  # exception: YelpKafka::KafkaUnavailableError, YelpKafka::ConsumerTimeout,
  # YelpKafka::PartitionerError, ... and for the conditions of the C boundary
  # YelpKafka::InvalidArgument, YelpKafka::ClosedHandle,
  # YelpKafka::ReentrantCall, ...
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
      name = Native.yk_error_name(code)
      next if name == "UnknownErrorCode"

      klass = Class.new(self)
      klass.const_set(:CODE, code)
      YelpKafka.const_set(name, klass)
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
