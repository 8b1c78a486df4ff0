# frozen_string_literal: true

module YelpKafka
  # Topic discovery and topology files, as Python yelp_kafka's yelp_kafka.discovery.
  # Options, as keywords or as a Hash (nil: defaults), take the client
  # options (client_id, metadata_timeout_ms, ...). Failures raise DiscoveryError; a pattern that
  # does not compile and a missing or malformed topology file raise
  # ConfigurationError. Timeout, Thread#kill and signal traps end a
  # discovery's wait at once; its requests go on in the background until
  # their timeouts (Waiting.detached).
  module Discovery
    # Where the Python library reads topology files.
    DEFAULT_TOPOLOGY_DIR = "/nail/etc/kafka_discovery"

    module_function

    # { topic => [partition ids] } of every topic of cluster.
    def discover_topics(cluster, options = nil, **keywords)
      options = Arguments.options(options, keywords)
      cluster = Arguments.instance(cluster, ClusterConfig, "cluster")
      Waiting.detached do
        cluster.with_handle do |handle|
          run(options) { |config, out| Native.yk_discover_topics(handle, config, out) }.first.last
        end
      end
    end

    # [[topic, cluster]] for each of clusters that has topic.
    def search_topic(topic, clusters, options = nil, **keywords)
      topic = Arguments.string(topic, "topic")
      search(clusters, Arguments.options(options, keywords)) { |handles, count, config, out| Native.yk_search_topic(topic, handles, count, config, out) }
        .map { |cluster, _| [topic, cluster] }
    end

    # [[[topics], cluster]] for each of clusters with topics whose names
    # match pattern at their start, like Python's re.match (".*mytopic" finds
    # every topic ending in "mytopic").
    def search_topics_by_regex(pattern, clusters, options = nil, **keywords)
      pattern = Arguments.string(pattern, "pattern")
      search(clusters, Arguments.options(options, keywords)) do |handles, count, config, out|
        Native.yk_search_topics_by_regex(pattern, handles, count, config, out)
      end.map { |cluster, topics| [topics.keys, cluster] }
    end

    # The cluster local_config names in <dir>/<cluster_type>.yaml.
    def get_local_cluster(cluster_type, dir: DEFAULT_TOPOLOGY_DIR)
      Arguments.string(cluster_type, "cluster_type")
      topology(cluster_type, dir) do |ptr|
        copied_cluster { |out| Native.yk_topology_local_cluster(ptr, out) }
      end
    end

    # Every cluster of <dir>/<cluster_type>.yaml, sorted by name.
    def get_all_clusters(cluster_type, dir: DEFAULT_TOPOLOGY_DIR)
      Arguments.string(cluster_type, "cluster_type")
      topology(cluster_type, dir) do |ptr|
        Array.new(Native.yk_topology_cluster_count(ptr)) { |i| ClusterConfig.from_handle(Native.yk_topology_cluster(ptr, i)) }
      end
    end

    # The cluster called name in <dir>/<cluster_type>.yaml.
    def get_cluster_by_name(cluster_type, name, dir: DEFAULT_TOPOLOGY_DIR)
      Arguments.string(cluster_type, "cluster_type")
      Arguments.string(name, "name")
      topology(cluster_type, dir) do |ptr|
        copied_cluster { |out| Native.yk_topology_cluster_by_name(ptr, name, out) }
      end
    end

    # The ClusterConfig of the copy the block's C call writes to out.
    def copied_cluster
      out = FFI::MemoryPointer.new(:pointer)
      Error.check(yield(out))
      cluster_ptr = out.read_pointer
      begin
        ClusterConfig.from_handle(cluster_ptr)
      ensure
        Native.yk_cluster_config_free(cluster_ptr)
      end
    end

    # Runs a search over C handles of clusters.
    def search(clusters, options, &block)
      unless clusters.is_a?(Array) && clusters.all?(ClusterConfig)
        raise TypeError, "clusters must be an Array of ClusterConfig, not #{clusters.class}"
      end

      Waiting.detached do
        with_handles(clusters.dup, []) do |handles|
          array = FFI::MemoryPointer.new(:pointer, [handles.size, 1].max)
          array.write_array_of_pointer(handles)
          run(options) { |config, out| block.call(array, handles.size, config, out) }
        end
      end
    end

    def with_handles(clusters, handles, &block)
      return yield(handles) if clusters.empty?

      clusters.shift.with_handle { |h| with_handles(clusters, handles + [h], &block) }
    end

    # Runs one discovery call; [[cluster, { topic => [partitions] }]].
    def run(options)
      YelpKafka.with_config(options) do |config|
        out = FFI::MemoryPointer.new(:pointer)
        Error.check(yield(config, out))
        result = out.read_pointer
        begin
          read_result(result)
        ensure
          Native.yk_discovery_result_free(result)
        end
      end
    end

    def read_result(result)
      Array.new(Native.yk_discovery_result_cluster_count(result)) do |c|
        topics = Array.new(Native.yk_discovery_result_topic_count(result, c)) do |t|
          count = FFI::MemoryPointer.new(:size_t)
          ids = Native.yk_discovery_result_partitions(result, c, t, count)
          [Native.yk_discovery_result_topic(result, c, t), ids.read_array_of_int32(count.read(:size_t))]
        end
        [ClusterConfig.from_handle(Native.yk_discovery_result_cluster(result, c)), topics.to_h]
      end
    end

    def topology(cluster_type, dir)
      dir = Arguments.string(dir, "dir")
      out = FFI::MemoryPointer.new(:pointer)
      Error.check(Native.yk_topology_load(dir, cluster_type, out))
      ptr = out.read_pointer
      begin
        yield ptr
      ensure
        Native.yk_topology_free(ptr)
      end
    end
    private_class_method :search, :with_handles, :run, :read_result, :topology, :copied_cluster
  end
end
