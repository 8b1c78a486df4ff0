package yelpkafka

// #include <stdlib.h>
// #include "yelp_kafka.h"
import "C"

import (
	"context"
	"runtime"
	"unsafe"
)

// TopicPartitions maps topic names to their partition ids (sorted).
type TopicPartitions map[string][]int32

// ClusterTopics is one cluster and the topics a discovery call found in it.
type ClusterTopics struct {
	Cluster ClusterConfig
	Topics  TopicPartitions
}

// DiscoverTopics lists every topic of cluster with its partitions. options
// (nil: defaults) takes the client options (client_id,
// metadata_timeout_ms, ...). Failure is ErrDiscovery.
func DiscoverTopics(cluster ClusterConfig, options Options) (TopicPartitions, error) {
	handle, err := cluster.newHandle()
	if err != nil {
		return nil, err
	}
	defer C.yk_cluster_config_free(handle)
	found, err := discover(options, func(config *C.yk_config, out **C.yk_discovery_result) C.enum_yk_error {
		return C.yk_discover_topics(handle, config, out)
	})
	if err != nil {
		return nil, err
	}
	return found[0].Topics, nil
}

// DiscoverTopicsContext is DiscoverTopics, returning ctx's error as soon
// as ctx ends; the request, which nothing ends early, finishes in the
// background (within metadata_timeout_ms) and its result is dropped.
func DiscoverTopicsContext(ctx context.Context, cluster ClusterConfig, options Options) (TopicPartitions, error) {
	return detached(ctx, nil, func() (TopicPartitions, error) { return DiscoverTopics(cluster, options) })
}

// SearchTopicContext is SearchTopic, returning ctx's error as soon as ctx
// ends, as DiscoverTopicsContext does.
func SearchTopicContext(ctx context.Context, topic string, clusters []ClusterConfig, options Options) ([]ClusterTopics, error) {
	return detached(ctx, nil, func() ([]ClusterTopics, error) { return SearchTopic(topic, clusters, options) })
}

// SearchTopicsByRegexContext is SearchTopicsByRegex, returning ctx's error
// as soon as ctx ends, as DiscoverTopicsContext does.
func SearchTopicsByRegexContext(ctx context.Context, pattern string, clusters []ClusterConfig, options Options) ([]ClusterTopics, error) {
	return detached(ctx, nil, func() ([]ClusterTopics, error) { return SearchTopicsByRegex(pattern, clusters, options) })
}

// SearchTopic finds the clusters among clusters that have a topic named
// topic; each entry holds that one topic. An unreachable cluster fails the
// call with ErrDiscovery.
func SearchTopic(topic string, clusters []ClusterConfig, options Options) ([]ClusterTopics, error) {
	ctopic := C.CString(topic)
	defer C.free(unsafe.Pointer(ctopic))
	return searchClusters(clusters, options, func(handles **C.yk_cluster_config, count C.size_t,
		config *C.yk_config, out **C.yk_discovery_result) C.enum_yk_error {
		return C.yk_search_topic(ctopic, handles, count, config, out)
	})
}

// SearchTopicsByRegex finds, in each of clusters, the topics whose names
// match pattern at their start, like Python's re.match (".*mytopic" finds
// every topic ending in "mytopic"). Clusters without a match are left out.
// A pattern that does not compile is ErrConfiguration.
func SearchTopicsByRegex(pattern string, clusters []ClusterConfig, options Options) ([]ClusterTopics, error) {
	cpattern := C.CString(pattern)
	defer C.free(unsafe.Pointer(cpattern))
	return searchClusters(clusters, options, func(handles **C.yk_cluster_config, count C.size_t,
		config *C.yk_config, out **C.yk_discovery_result) C.enum_yk_error {
		return C.yk_search_topics_by_regex(cpattern, handles, count, config, out)
	})
}

// searchClusters runs a search over C handles of clusters.
func searchClusters(clusters []ClusterConfig, options Options, search func(**C.yk_cluster_config, C.size_t,
	*C.yk_config, **C.yk_discovery_result) C.enum_yk_error) ([]ClusterTopics, error) {
	handles, err := newClusterHandles(clusters)
	if err != nil {
		return nil, err
	}
	defer freeClusterHandles(handles)
	var first **C.yk_cluster_config
	if len(handles) > 0 {
		// A Go slice of C pointers: no Go pointer reaches C.
		first = &handles[0]
	}
	return discover(options, func(config *C.yk_config, out **C.yk_discovery_result) C.enum_yk_error {
		return search(first, C.size_t(len(handles)), config, out)
	})
}

// discover runs one discovery call with options and copies its result into Go.
func discover(options Options, run func(*C.yk_config, **C.yk_discovery_result) C.enum_yk_error) ([]ClusterTopics, error) {
	config, err := newCConfig(options)
	if err != nil {
		return nil, err
	}
	defer C.yk_config_free(config)
	var result *C.yk_discovery_result
	if err := call(func() C.enum_yk_error { return run(config, &result) }); err != nil {
		return nil, err
	}
	defer C.yk_discovery_result_free(result)
	found := make([]ClusterTopics, C.yk_discovery_result_cluster_count(result))
	for i := range found {
		ci := C.size_t(i)
		topics := make(TopicPartitions)
		for t := C.size_t(0); t < C.yk_discovery_result_topic_count(result, ci); t++ {
			var count C.size_t
			ids := C.yk_discovery_result_partitions(result, ci, t, &count)
			partitions := make([]int32, count)
			if count > 0 {
				copy(partitions, unsafe.Slice((*int32)(unsafe.Pointer(ids)), count))
			}
			topics[C.GoString(C.yk_discovery_result_topic(result, ci, t))] = partitions
		}
		found[i] = ClusterTopics{Cluster: clusterFromHandle(C.yk_discovery_result_cluster(result, ci)), Topics: topics}
	}
	return found, nil
}

// Topology is a loaded topology file, <dir>/<cluster_type>.yaml: every
// cluster of one cluster type and, when the file names one, the local one.
// Close it (an io.Closer) when done; its Clusters stay valid.
type Topology struct {
	// Clusters are sorted by name (Python yelp_kafka's get_all_clusters).
	Clusters []ClusterConfig
	handle   *C.yk_topology
	guard    handleGuard
	panics   panicBox
}

// LoadTopology loads <dir>/<clusterType>.yaml; dir "" means the Python
// library's /nail/etc/kafka_discovery. A missing or malformed file is
// ErrConfiguration naming the file.
func LoadTopology(dir, clusterType string) (*Topology, error) {
	var cdir *C.char
	if dir != "" {
		cdir = C.CString(dir)
		defer C.free(unsafe.Pointer(cdir))
	}
	ctype := C.CString(clusterType)
	defer C.free(unsafe.Pointer(ctype))
	var handle *C.yk_topology
	if err := call(func() C.enum_yk_error { return C.yk_topology_load(cdir, ctype, &handle) }); err != nil {
		return nil, err
	}
	t := &Topology{Clusters: make([]ClusterConfig, C.yk_topology_cluster_count(handle)), handle: handle}
	for i := range t.Clusters {
		t.Clusters[i] = clusterFromHandle(C.yk_topology_cluster(handle, C.size_t(i)))
	}
	t.guard = handleGuard{what: "topology", panics: &t.panics, free: func() { C.yk_topology_free(handle) }}
	runtime.SetFinalizer(t, (*Topology).Close)
	return t, nil
}

// LocalCluster is the cluster that the file's local_config names
// (get_local_cluster); ErrConfiguration when it names none or an undefined one.
func (t *Topology) LocalCluster() (ClusterConfig, error) {
	return t.cluster(func(out **C.yk_cluster_config) C.enum_yk_error {
		return C.yk_topology_local_cluster(t.handle, out)
	})
}

// ClusterByName is the cluster called name (get_cluster_by_name);
// ErrConfiguration when there is none.
func (t *Topology) ClusterByName(name string) (ClusterConfig, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return t.cluster(func(out **C.yk_cluster_config) C.enum_yk_error {
		return C.yk_topology_cluster_by_name(t.handle, cname, out)
	})
}

func (t *Topology) cluster(get func(**C.yk_cluster_config) C.enum_yk_error) (ClusterConfig, error) {
	if err := t.guard.enter(); err != nil {
		return ClusterConfig{}, err
	}
	defer t.guard.leave()
	var handle *C.yk_cluster_config
	if err := call(func() C.enum_yk_error { return get(&handle) }); err != nil {
		return ClusterConfig{}, err
	}
	defer C.yk_cluster_config_free(handle)
	return clusterFromHandle(handle), nil
}

// Close releases the loaded file; Clusters stay, LocalCluster and
// ClusterByName get ErrClosedHandle.
func (t *Topology) Close() error {
	if err := t.guard.enter(); err != nil {
		return err
	}
	t.guard.close()
	t.guard.leave()
	return nil
}
