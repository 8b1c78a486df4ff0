# frozen_string_literal: true

# yelp_kafka for Ruby: producers, consumer groups balanced through ZooKeeper,
# topic discovery and a pluggable metrics responder, over the C library
# libyelp_kafka (include/yelp_kafka.h) through ffi.
module YelpKafka
end

require_relative "yelp_kafka/native"
require_relative "yelp_kafka/errors"
require_relative "yelp_kafka/arguments"
require_relative "yelp_kafka/handles"
require_relative "yelp_kafka/waiting"
require_relative "yelp_kafka/cluster_config"
require_relative "yelp_kafka/discovery"
require_relative "yelp_kafka/metrics"
require_relative "yelp_kafka/message"
require_relative "yelp_kafka/producer"
require_relative "yelp_kafka/consumer_group"
require_relative "yelp_kafka/consumer"
require_relative "yelp_kafka/offsets"
require_relative "yelp_kafka/callback_group"
require_relative "yelp_kafka/multiprocessing_group"

module YelpKafka
  # The library's version, "MAJOR.MINOR.PATCH".
  def self.version
    Native.yk_version
  end
end
