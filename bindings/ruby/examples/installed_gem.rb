# frozen_string_literal: true

# A user's script against the installed gem (scripts/bindings-tests.sh runs
# it from outside the repository with an empty environment): sends a
# message with a header and reads it back with the simple consumer.
#
#   ruby installed_gem.rb GEM_HOME BOOTSTRAP TOPIC
#
# GEM_HOME is where `gem install --install-dir` put the gem, given here
# rather than through the environment.

gem_home, bootstrap, topic = ARGV
Gem.paths = { "GEM_HOME" => gem_home, "GEM_PATH" => [gem_home, *Gem.default_path].join(File::PATH_SEPARATOR) }
require "yelp_kafka"

abort "yelp_kafka came from #{$LOADED_FEATURES.grep(/yelp_kafka\.rb/).first}" unless
  Gem.loaded_specs["yelp_kafka"]&.full_gem_path&.start_with?(gem_home)

cluster = YelpKafka::ClusterConfig.new("standard", "local", bootstrap.split(","))
word = "installed-gem-#{Process.pid}-#{Time.now.to_f}"
producer = YelpKafka::Producer.new(cluster, client_id: "installed-gem")
offset = producer.send_with_headers(topic, word, partition: 0, headers: { "from" => "installed gem" })
producer.close

config = YelpKafka::KafkaConsumerConfig.new(word, cluster, offset_storage: "kafka", auto_offset_reset: "earliest",
                                                           api_version_caps: "ListOffsets:3")
consumer = YelpKafka::KafkaSimpleConsumer.new(topic, config, partitions: [0]).connect
message = consumer.find { |m| m.offset == offset }
consumer.close
abort "read back #{message.value.inspect}" unless message.value == word && message.headers == { "from" => "installed gem" }
puts "libyelp_kafka #{YelpKafka.version}: sent and read #{topic}-0@#{offset} with its header"
