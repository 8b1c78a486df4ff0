# frozen_string_literal: true

module YelpKafka
  # Options for the library: a Hash of option names (strings or symbols) to
  # values (any object; its to_s is the value), nil for the defaults. Yields the yk_config pointer (NULL for nil)
  # for the duration of the block.
  def self.with_config(options)
    return yield(nil) if options.nil?

    out = FFI::MemoryPointer.new(:pointer)
    Error.check(Native.yk_config_new(out))
    config = out.read_pointer
    begin
      options.each { |key, value| Error.check(Native.yk_config_set(config, key.to_s, value.to_s)) }
      yield config
    ensure
      Native.yk_config_free(config)
    end
  end

  # A Kafka cluster (docs/configuration.md), like Python yelp_kafka's ClusterConfig: type, name,
  # broker list ("host:port" strings) and ZooKeeper connect string with an
  # optional chroot ("zk1:2181,zk2:2181/kafka-1"; empty for clusters used
  # only to produce). Checked on creation: bad values raise
  # ConfigurationError. Immutable.
  class ClusterConfig
    attr_reader :type, :name, :broker_list, :zookeeper

    def initialize(type, name, broker_list, zookeeper = "")
      type = Arguments.string(type, "type")
      name = Arguments.string(name, "name")
      zookeeper = Arguments.string(zookeeper, "zookeeper")
      brokers = if broker_list.respond_to?(:to_str)
                  broker_list.to_str
                else
                  Arguments.strings(broker_list, "broker_list").join(",")
                end
      checked = self.class.handle(type, name, brokers, zookeeper) { |ptr| self.class.fields(ptr) }
      @type, @name, @broker_list, @zookeeper = checked.each(&:freeze)
      freeze
    end

    # Same type and name, the same brokers and ZooKeeper hosts in any order,
    # the same chroot.
    def ==(other)
      other.is_a?(ClusterConfig) && with_handle { |a| other.with_handle { |b| Native.yk_cluster_config_equal(a, b) } }
    end
    alias eql? ==

    def hash
      [type, name].hash
    end

    def to_s
      "#{type}/#{name} (#{broker_list.join(',')})"
    end

    # Yields a C handle of this configuration for the duration of the block.
    def with_handle(&block)
      self.class.handle(type, name, broker_list.join(","), zookeeper, &block)
    end

    # A ClusterConfig copied from a C handle.
    def self.from_handle(ptr)
      new(*fields(ptr))
    end

    # Yields a new C handle made from the strings, freed after the block.
    def self.handle(type, name, brokers, zookeeper)
      out = FFI::MemoryPointer.new(:pointer)
      Error.check(Native.yk_cluster_config_new(type.to_s, name.to_s, brokers.to_s, zookeeper.to_s, out))
      ptr = out.read_pointer
      begin
        yield ptr
      ensure
        Native.yk_cluster_config_free(ptr)
      end
    end

    # [type, name, broker list, zookeeper] of a C handle.
    def self.fields(ptr)
      [Native.yk_cluster_config_type(ptr), Native.yk_cluster_config_name(ptr),
       Native.yk_cluster_config_broker_list(ptr).split(","), Native.yk_cluster_config_zookeeper(ptr)]
    end
  end
end
