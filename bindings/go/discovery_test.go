package yelpkafka

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Yelp/libyelp_kafka/bindings/go/internal/kafkatest"
)

func bothClusters(t *testing.T) []ClusterConfig {
	t.Helper()
	second, err := NewClusterConfig("standard", "cluster2", kafkatest.Bootstrap(t, 2), "")
	if err != nil {
		t.Fatal(err)
	}
	return []ClusterConfig{localCluster(t), second}
}

func TestDiscoverTopicsListsThePartitionsOfEveryTopic(t *testing.T) {
	topics, err := DiscoverTopics(localCluster(t), Options{"client_id": "go-discovery"})
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string][]int32{"mytopic": {0, 1, 2}, "xmytopic": {0, 1}, "other": {0}} {
		if !reflect.DeepEqual(topics[topic], want) {
			t.Errorf("%s has partitions %v, want %v", topic, topics[topic], want)
		}
	}
}

// Python yelp_kafka's search_topics_by_regex('.*mytopic', clusters): re.match
// semantics, clusters without a match left out.
func TestSearchTopicsByRegexMatchesAtTheStartOfNames(t *testing.T) {
	found, err := SearchTopicsByRegex(".*mytopic", bothClusters(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, c := range found {
		for topic := range c.Topics {
			got[c.Cluster.Name] = append(got[c.Cluster.Name], topic)
		}
	}
	want := map[string][]string{"cluster1": {"mytopic", "xmytopic"}, "cluster2": {"team.mytopic"}}
	for name := range got {
		sort.Strings(got[name])
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("found %v, want %v", got, want)
	}
	if _, err := SearchTopicsByRegex("(", bothClusters(t), nil); !errors.Is(err, ErrConfiguration) {
		t.Errorf("a pattern that does not compile: %v, want ErrConfiguration", err)
	}
}

func TestSearchTopicFindsTheClustersThatHaveIt(t *testing.T) {
	clusters := bothClusters(t)
	found, err := SearchTopic("team.mytopic", clusters, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || !found[0].Cluster.Equal(clusters[1]) || len(found[0].Topics["team.mytopic"]) != 4 {
		t.Errorf("found %+v, want cluster2 with team.mytopic's 4 partitions", found)
	}
}

func TestClusterConfigEqualityIgnoresBrokerOrder(t *testing.T) {
	a, errA := NewClusterConfig("standard", "c", []string{"b1:9092", "b2:9092", ""}, "zk1:2181,zk2:2181/kafka-1")
	b, errB := NewClusterConfig("standard", "c", []string{"b2:9092", "b1:9092"}, "zk2:2181,zk1:2181/kafka-1")
	c, errC := NewClusterConfig("standard", "c", []string{"b1:9092", "b2:9092"}, "zk1:2181,zk2:2181/kafka-2")
	for _, err := range []error{errA, errB, errC} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !a.Equal(b) || a.Equal(c) {
		t.Errorf("a == b: %v (want true), a == c: %v (want false)", a.Equal(b), a.Equal(c))
	}
	if !reflect.DeepEqual(a.BrokerList, []string{"b1:9092", "b2:9092"}) {
		t.Errorf("empty broker entries kept: %q", a.BrokerList)
	}
}

func TestTopologyFileGivesTheLocalAndNamedClusters(t *testing.T) {
	dir := t.TempDir()
	yaml := "clusters:\n  c2:\n    broker_list: [\"b3:9092\"]\n    zookeeper: \"z:2181/k2\"\n" +
		"  c1:\n    broker_list: [\"b1:9092\", \"b2:9092\"]\n    zookeeper: z:2181/k1\nlocal_config:\n  cluster: c1\n"
	if err := os.WriteFile(filepath.Join(dir, "standard.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	topology, err := LoadTopology(dir, "standard")
	if err != nil {
		t.Fatal(err)
	}
	if len(topology.Clusters) != 2 || topology.Clusters[0].Name != "c1" || topology.Clusters[1].Name != "c2" {
		t.Errorf("clusters %+v, want c1 and c2", topology.Clusters)
	}
	local, err := topology.LocalCluster()
	if err != nil || local.Name != "c1" || local.Zookeeper != "z:2181/k1" || len(local.BrokerList) != 2 {
		t.Errorf("local cluster %+v, %v", local, err)
	}
	if c2, err := topology.ClusterByName("c2"); err != nil || c2.BrokerList[0] != "b3:9092" {
		t.Errorf("c2: %+v, %v", c2, err)
	}
	if _, err := topology.ClusterByName("c9"); !errors.Is(err, ErrConfiguration) {
		t.Errorf("an undefined cluster: %v, want ErrConfiguration", err)
	}
	if _, err := LoadTopology(dir, "missing"); !errors.Is(err, ErrConfiguration) {
		t.Errorf("a missing file: %v, want ErrConfiguration", err)
	}
	if err := topology.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := topology.ClusterByName("c2"); !errors.Is(err, ErrClosedHandle) {
		t.Errorf("ClusterByName after Close: %v, want ErrClosedHandle", err)
	}
	if len(topology.Clusters) != 2 {
		t.Errorf("Clusters after Close: %+v", topology.Clusters)
	}

}

// The discovery calls return at the context's end while a broker does
// not answer.
func TestDiscoveryContextVariantsEndWithTheirContext(t *testing.T) {
	silent := silentCluster(t)
	start := time.Now()
	if _, err := DiscoverTopicsContext(cancelAfter(t, 250*time.Millisecond), silent, slowOptions); err != context.Canceled {
		t.Errorf("DiscoverTopicsContext: %v, want context.Canceled", err)
	}
	assertReturnedAround(t, "DiscoverTopicsContext", start, 250*time.Millisecond)
	start = time.Now()
	if _, err := SearchTopicContext(cancelAfter(t, 250*time.Millisecond), "mytopic", []ClusterConfig{silent}, slowOptions); err != context.Canceled {
		t.Errorf("SearchTopicContext: %v, want context.Canceled", err)
	}
	assertReturnedAround(t, "SearchTopicContext", start, 250*time.Millisecond)
	start = time.Now()
	if _, err := SearchTopicsByRegexContext(cancelAfter(t, 250*time.Millisecond), ".*", []ClusterConfig{silent}, slowOptions); err != context.Canceled {
		t.Errorf("SearchTopicsByRegexContext: %v, want context.Canceled", err)
	}
	assertReturnedAround(t, "SearchTopicsByRegexContext", start, 250*time.Millisecond)
	// Without an end, they answer as the plain calls do.
	topics, err := DiscoverTopicsContext(context.Background(), localCluster(t), nil)
	if err != nil || len(topics["mytopic"]) != 3 {
		t.Errorf("DiscoverTopicsContext: %v, %v", topics["mytopic"], err)
	}
}

// The client options are checked and dumped as the library reads them;
// a consumer configuration dumps its options and callbacks.
func TestOptionsAreCheckedAndDumpedByTheLibrary(t *testing.T) {
	if err := ValidateClientOptions(Options{"client_id": "x", "request_timeout_ms": "100"}); err != nil {
		t.Errorf("good client options: %v", err)
	}
	if err := ValidateClientOptions(Options{"acks": "1"}); !errors.Is(err, ErrConfiguration) || !strings.Contains(err.Error(), "acks") {
		t.Errorf("a producer option among client options: %v, want ErrConfiguration naming acks", err)
	}
	if err := ValidateClientOptions(nil); err != nil {
		t.Errorf("no options: %v", err)
	}
	dump, err := DumpClientOptions(Options{"client_id": "dumped"})
	if err != nil || !strings.Contains(dump, "client_id = dumped") || !strings.Contains(dump, "(default)") {
		t.Errorf("DumpClientOptions: %q, %v", dump, err)
	}
	if v, ok := (Options{"linger_ms": "7"}).Option("linger_ms"); !ok || v != "7" {
		t.Errorf("Option(linger_ms): %q, %v", v, ok)
	}
	if _, ok := (Options{}).Option("linger_ms"); ok {
		t.Error("Option of an unset key says it is set")
	}
	config := groupConfig(t, Options{"consumer_timeout_ms": "-1"})
	config.PostRebalance = func([]TopicPartition) {}
	dump, err = config.Dump()
	if err != nil || !strings.Contains(dump, config.GroupID) || !strings.Contains(dump, "consumer_timeout_ms = -1") {
		t.Errorf("ConsumerConfig.Dump: %q, %v", dump, err)
	}
}
