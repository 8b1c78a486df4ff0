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
  # The project's canonical repository (docs/installing.md); the gem's
  # sources are its bindings/ruby.
  spec.homepage = "https://github.com/Yelp/libyelp_kafka"
  spec.metadata = {
    "source_code_uri" => "https://github.com/Yelp/libyelp_kafka/tree/main/bindings/ruby",
    "documentation_uri" => "https://github.com/Yelp/libyelp_kafka#using-from-ruby",
    "rubygems_mfa_required" => "true"
  }
  # Written against ffi 1.15 (Debian's ruby-ffi); 2.0 may break its API.
  spec.add_dependency "ffi", "~> 1.15"
end
