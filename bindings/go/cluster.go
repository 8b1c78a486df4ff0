package yelpkafka

// #include <stdlib.h>
// #include "yelp_kafka.h"
import "C"

import (
	"strings"
	"unsafe"
)

// ClusterConfig describes one Kafka cluster (docs/configuration.md): its type and name,
// its brokers ("host:port") and its ZooKeeper connect string with an
// optional chroot ("zk1:2181,zk2:2181/kafka-1"; empty for clusters used
// only to produce). Make one with NewClusterConfig, which checks it.
type ClusterConfig struct {
	Type       string
	Name       string
	BrokerList []string
	Zookeeper  string
}

// NewClusterConfig checks a cluster configuration and returns it with
// empty broker entries removed. Bad values are ErrConfiguration.
func NewClusterConfig(clusterType, name string, brokerList []string, zookeeper string) (ClusterConfig, error) {
	c := ClusterConfig{Type: clusterType, Name: name, BrokerList: brokerList, Zookeeper: zookeeper}
	handle, err := c.newHandle()
	if err != nil {
		return ClusterConfig{}, err
	}
	defer C.yk_cluster_config_free(handle)
	return clusterFromHandle(handle), nil
}

// Equal says whether two configurations describe the same cluster: same
// type and name, the same brokers and ZooKeeper hosts in any order, the
// same chroot. An invalid configuration equals nothing.
func (c ClusterConfig) Equal(other ClusterConfig) bool {
	a, err := c.newHandle()
	if err != nil {
		return false
	}
	defer C.yk_cluster_config_free(a)
	b, err := other.newHandle()
	if err != nil {
		return false
	}
	defer C.yk_cluster_config_free(b)
	return bool(C.yk_cluster_config_equal(a, b))
}

// newHandle makes the C handle for c; free it with yk_cluster_config_free.
func (c ClusterConfig) newHandle() (*C.yk_cluster_config, error) {
	ctype, cname := C.CString(c.Type), C.CString(c.Name)
	cbrokers, czk := C.CString(strings.Join(c.BrokerList, ",")), C.CString(c.Zookeeper)
	defer func() {
		for _, s := range []*C.char{ctype, cname, cbrokers, czk} {
			C.free(unsafe.Pointer(s))
		}
	}()
	var handle *C.yk_cluster_config
	err := call(func() C.enum_yk_error { return C.yk_cluster_config_new(ctype, cname, cbrokers, czk, &handle) })
	return handle, err
}

// clusterFromHandle copies a C cluster configuration into Go.
func clusterFromHandle(handle *C.yk_cluster_config) ClusterConfig {
	return ClusterConfig{
		Type:       C.GoString(C.yk_cluster_config_type(handle)),
		Name:       C.GoString(C.yk_cluster_config_name(handle)),
		BrokerList: strings.Split(C.GoString(C.yk_cluster_config_broker_list(handle)), ","),
		Zookeeper:  C.GoString(C.yk_cluster_config_zookeeper(handle)),
	}
}

// newClusterHandles makes C handles for clusters; free them with freeClusterHandles.
func newClusterHandles(clusters []ClusterConfig) ([]*C.yk_cluster_config, error) {
	handles := make([]*C.yk_cluster_config, 0, len(clusters))
	for _, c := range clusters {
		handle, err := c.newHandle()
		if err != nil {
			freeClusterHandles(handles)
			return nil, err
		}
		handles = append(handles, handle)
	}
	return handles, nil
}

func freeClusterHandles(handles []*C.yk_cluster_config) {
	for _, h := range handles {
		C.yk_cluster_config_free(h)
	}
}
