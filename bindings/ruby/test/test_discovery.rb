# frozen_string_literal: true

require_relative "test_helper"
require "tmpdir"

class DiscoveryTest < Minitest::Test
  def test_discover_topics_lists_the_partitions_of_every_topic
    topics = YelpKafka::Discovery.discover_topics(cluster, { client_id: "ruby-discovery" })
    assert_equal({ "mytopic" => [0, 1, 2], "xmytopic" => [0, 1], "other" => [0] },
                 topics.slice("mytopic", "xmytopic", "other"))
  end

  # Options may be keywords, as for the producer.
  def test_discovery_takes_options_as_keywords
    assert_equal [0], YelpKafka::Discovery.discover_topics(cluster, client_id: "ruby-discovery")["other"]
    error = assert_raises(YelpKafka::ConfigurationError) do
      YelpKafka::Discovery.search_topic("other", [cluster], bogus_option: 1)
    end
    assert_includes error.message, "bogus_option"
  end

  # Python yelp_kafka's search_topics_by_regex('.*mytopic', clusters): re.match
  # semantics, clusters without a match left out.
  def test_search_topics_by_regex_matches_at_the_start_of_names
    found = YelpKafka::Discovery.search_topics_by_regex(".*mytopic", [cluster(1), cluster(2)])
    assert_equal [[%w[mytopic xmytopic], "cluster1"], [["team.mytopic"], "cluster2"]],
                 found.map { |topics, c| [topics.sort, c.name] }
    assert_raises(YelpKafka::ConfigurationError) { YelpKafka::Discovery.search_topics_by_regex("(", [cluster]) }
  end

  def test_search_topic_finds_the_clusters_that_have_it
    found = YelpKafka::Discovery.search_topic("team.mytopic", [cluster(1), cluster(2)])
    assert_equal [["team.mytopic", cluster(2)]], found
  end

  def test_cluster_equality_ignores_broker_order
    a = YelpKafka::ClusterConfig.new("standard", "c", ["b1:9092", "b2:9092", ""], "zk1:2181,zk2:2181/kafka-1")
    b = YelpKafka::ClusterConfig.new("standard", "c", "b2:9092,b1:9092", "zk2:2181,zk1:2181/kafka-1")
    c = YelpKafka::ClusterConfig.new("standard", "c", ["b1:9092", "b2:9092"], "zk1:2181,zk2:2181/kafka-2")
    assert_equal a, b
    refute_equal a, c
    assert_equal %w[b1:9092 b2:9092], a.broker_list
  end

  def test_topology_file_gives_the_local_named_and_all_clusters
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, "standard.yaml"), <<~YAML)
        clusters:
          c2:
            broker_list: ["b3:9092"]
            zookeeper: "z:2181/k2"
          c1:
            broker_list: ["b1:9092", "b2:9092"]
            zookeeper: z:2181/k1
        local_config:
          cluster: c1
      YAML
      assert_equal %w[c1 c2], YelpKafka::Discovery.get_all_clusters("standard", dir: dir).map(&:name)
      local = YelpKafka::Discovery.get_local_cluster("standard", dir: dir)
      assert_equal ["c1", %w[b1:9092 b2:9092], "z:2181/k1"], [local.name, local.broker_list, local.zookeeper]
      assert_equal ["b3:9092"], YelpKafka::Discovery.get_cluster_by_name("standard", "c2", dir: dir).broker_list
      assert_raises(YelpKafka::ConfigurationError) { YelpKafka::Discovery.get_cluster_by_name("standard", "c9", dir: dir) }
      assert_raises(YelpKafka::ConfigurationError) { YelpKafka::Discovery.get_all_clusters("missing", dir: dir) }
    end
  end
end
