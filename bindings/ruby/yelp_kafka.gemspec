# frozen_string_literal: true

Gem::Specification.new do |spec|
  spec.name = "yelp_kafka"
  spec.version = "0.1.0"
  spec.summary = "Kafka producers, ZooKeeper-balanced consumer groups and discovery over libyelp_kafka"
  spec.description = "Ruby binding (ffi) of yelp_kafka, a Kafka client library with a C ABI. " \
                     "Needs libyelp_kafka.so.0 (make install) or $YELP_KAFKA_LIB, " \
                     "and the system's libzstd.so.1 it links (Debian libzstd1)."
  spec.authors = ["yelp_kafka authors"]
  spec.license = "Apache-2.0"
  spec.required_ruby_version = ">= 3.0"
  spec.files = Dir["lib/**/*.rb"]
  spec.require_paths = ["lib"]
  # No homepage: the project has no published canonical URL yet and
  # RubyGems takes only an http(s) URL there, so `gem build` warns about it
  # until one is chosen. The sources are bindings/ruby of the yelp_kafka
  # repository; its README's "Using from Ruby" says how to install them.
  # Written against ffi 1.15 (Debian's ruby-ffi); 2.0 may break its API.
  spec.add_dependency "ffi", "~> 1.15"
end
