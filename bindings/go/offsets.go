package yelpkafka

// #include <stdlib.h>
// #include "callbacks.h"
import "C"

import (
	"context"
	"sort"
	"unsafe"
)

// Offsets reads and moves consumer groups' offsets and the topics'
// watermarks on one cluster (docs/offsets.md): Python yelp_kafka's
// offsets functions (get_current_consumer_offsets, get_topics_watermarks,
// advance/rewind/set_consumer_offsets, offset_distance). Usable from
// several goroutines; Close it (an io.Closer) when done.
//
// Every call is one request to the cluster that waits for its answer
// within the client timeouts (request_timeout_ms, metadata_timeout_ms),
// which nothing ends early: when ctx ends first, the call returns ctx's
// error at once and the request finishes in the background, its result
// dropped. A change of offsets (Advance, Rewind, Set) may then still be
// stored.
type Offsets struct {
	handle *C.yk_offsets
	guard  handleGuard
	panics panicBox
}

// Topics selects the partitions an offsets call is about: each topic with
// the partitions named, or every partition of a topic whose list is empty
// (Python yelp_kafka's list and dict forms in one).
type Topics map[string][]int32

// TopicPartitionOffset is an offset to store for one partition (Set): the
// next offset the group will read.
type TopicPartitionOffset struct {
	Topic     string
	Partition int32
	Offset    int64
}

// PartitionOffsets is one partition's offsets in a result; a field the
// call does not report is -1.
type PartitionOffsets struct {
	Topic     string
	Partition int32
	// Committed is the group's committed offset (0 when it committed
	// nothing), or the offset the call committed.
	Committed int64
	// HighWatermark is the offset the next message will get.
	HighWatermark int64
	// LowWatermark is the first offset kept.
	LowWatermark int64
	// Lag is the messages the group has still to read: HighWatermark -
	// Committed.
	Lag int64
}

// NewOffsets makes an offsets client of cluster. options (nil: defaults)
// take the client options and offset_storage (zookeeper, the default, at
// /consumers/<group>/offsets/<topic>/<partition> under the cluster's
// chroot; kafka; or dual, written to both and read as the larger).
func NewOffsets(cluster ClusterConfig, options Options) (*Offsets, error) {
	chandle, err := cluster.newHandle()
	if err != nil {
		return nil, err
	}
	defer C.yk_cluster_config_free(chandle)
	config, err := newCConfig(options)
	if err != nil {
		return nil, err
	}
	defer C.yk_config_free(config)
	var handle *C.yk_offsets
	if err := call(func() C.enum_yk_error { return C.yk_offsets_new(chandle, config, &handle) }); err != nil {
		return nil, err
	}
	o := &Offsets{handle: handle}
	o.guard = handleGuard{what: "offsets client", panics: &o.panics, free: func() { C.yk_offsets_free(handle) }}
	return o, nil
}

// Close releases the client once no call uses it (a call left to finish
// in the background included); later calls get ErrClosedHandle.
func (o *Offsets) Close() error {
	if err := o.guard.enter(); err != nil {
		return err
	}
	o.guard.close()
	o.guard.leave()
	return nil
}

// Current is the committed offsets of group in topics (Committed, 0 where
// the group committed nothing). With raiseOnError an unknown topic is
// ErrUnknownTopic and an unknown partition ErrUnknownPartitions; without,
// they are left out.
func (o *Offsets) Current(ctx context.Context, group string, topics Topics, raiseOnError bool) ([]PartitionOffsets, error) {
	return o.request(ctx, topics, group, func(cgroup *C.char, ctopics *C.yk_topics, out **C.yk_offsets_result) C.enum_yk_error {
		return C.yk_offsets_current(o.handle, cgroup, ctopics, C.bool(raiseOnError), out)
	})
}

// Watermarks is the high and low watermarks of topics. raiseOnError as
// for Current.
func (o *Offsets) Watermarks(ctx context.Context, topics Topics, raiseOnError bool) ([]PartitionOffsets, error) {
	return o.request(ctx, topics, "", func(_ *C.char, ctopics *C.yk_topics, out **C.yk_offsets_result) C.enum_yk_error {
		return C.yk_offsets_watermarks(o.handle, ctopics, C.bool(raiseOnError), out)
	})
}

// Advance moves group to the high watermark of every partition of topics
// (it skips what it has not read) and returns what was committed.
// raiseOnError as for Current; a refused commit is ErrOffsetCommit.
func (o *Offsets) Advance(ctx context.Context, group string, topics Topics, raiseOnError bool) ([]PartitionOffsets, error) {
	return o.request(ctx, topics, group, func(cgroup *C.char, ctopics *C.yk_topics, out **C.yk_offsets_result) C.enum_yk_error {
		return C.yk_offsets_advance(o.handle, cgroup, ctopics, C.bool(raiseOnError), out)
	})
}

// Rewind moves group to the low watermark of every partition of topics
// (it reads again all that is kept); as Advance otherwise.
func (o *Offsets) Rewind(ctx context.Context, group string, topics Topics, raiseOnError bool) ([]PartitionOffsets, error) {
	return o.request(ctx, topics, group, func(cgroup *C.char, ctopics *C.yk_topics, out **C.yk_offsets_result) C.enum_yk_error {
		return C.yk_offsets_rewind(o.handle, cgroup, ctopics, C.bool(raiseOnError), out)
	})
}

// Set commits offsets for group as they are (no check against the
// watermarks) and returns what was committed (without unknown topics and
// partitions when raiseOnError is false).
func (o *Offsets) Set(ctx context.Context, group string, offsets []TopicPartitionOffset, raiseOnError bool) ([]PartitionOffsets, error) {
	return detached(ctx, &o.panics, func() ([]PartitionOffsets, error) {
		if err := o.guard.enter(); err != nil {
			return nil, err
		}
		defer o.guard.leave()
		cgroup := C.CString(group)
		defer C.free(unsafe.Pointer(cgroup))
		var entries *C.yk_topic_partition_offset
		if len(offsets) > 0 {
			entries = (*C.yk_topic_partition_offset)(C.calloc(C.size_t(len(offsets)), C.size_t(unsafe.Sizeof(C.yk_topic_partition_offset{}))))
			list := unsafe.Slice(entries, len(offsets))
			for i, e := range offsets {
				list[i] = C.yk_topic_partition_offset{topic: C.CString(e.Topic), partition: C.int32_t(e.Partition), offset: C.int64_t(e.Offset)}
			}
			defer func() {
				for _, e := range list {
					C.free(unsafe.Pointer(e.topic))
				}
				C.free(unsafe.Pointer(entries))
			}()
		}
		var result *C.yk_offsets_result
		if err := call(func() C.enum_yk_error {
			return C.yk_offsets_set(o.handle, cgroup, entries, C.size_t(len(offsets)), C.bool(raiseOnError), &result)
		}); err != nil {
			return nil, err
		}
		return offsetRows(result), nil
	})
}

// OffsetDistance is the lag of group in partitions of topic (none: every
// partition): Committed, the watermarks and Lag per partition, Python
// yelp_kafka's offset_distance. A group that committed nothing counts as
// offset 0; unknown topics and partitions are errors.
func (o *Offsets) OffsetDistance(ctx context.Context, group, topic string, partitions []int32) ([]PartitionOffsets, error) {
	return detached(ctx, &o.panics, func() ([]PartitionOffsets, error) {
		if err := o.guard.enter(); err != nil {
			return nil, err
		}
		defer o.guard.leave()
		cgroup, ctopic := C.CString(group), C.CString(topic)
		defer C.free(unsafe.Pointer(cgroup))
		defer C.free(unsafe.Pointer(ctopic))
		var first *C.int32_t
		if len(partitions) > 0 {
			first = (*C.int32_t)(unsafe.Pointer(&partitions[0]))
		}
		var result *C.yk_offsets_result
		if err := call(func() C.enum_yk_error {
			return C.yk_offsets_offset_distance(o.handle, cgroup, ctopic, first, C.size_t(len(partitions)), &result)
		}); err != nil {
			return nil, err
		}
		return offsetRows(result), nil
	})
}

// TopicsOffsetDistance is the lag of group in every partition topics
// names (Python yelp_kafka's topics_offset_distance); as OffsetDistance
// otherwise.
func (o *Offsets) TopicsOffsetDistance(ctx context.Context, group string, topics Topics) ([]PartitionOffsets, error) {
	return o.request(ctx, topics, group, func(cgroup *C.char, ctopics *C.yk_topics, out **C.yk_offsets_result) C.enum_yk_error {
		return C.yk_offsets_topics_offset_distance(o.handle, cgroup, ctopics, out)
	})
}

// request runs one offsets call over topics (and group, when not "") in
// the background of ctx.
func (o *Offsets) request(ctx context.Context, topics Topics, group string,
	run func(*C.char, *C.yk_topics, **C.yk_offsets_result) C.enum_yk_error) ([]PartitionOffsets, error) {
	return detached(ctx, &o.panics, func() ([]PartitionOffsets, error) {
		if err := o.guard.enter(); err != nil {
			return nil, err
		}
		defer o.guard.leave()
		ctopics, err := newCTopics(topics)
		if err != nil {
			return nil, err
		}
		defer C.yk_topics_free(ctopics)
		var cgroup *C.char
		if group != "" {
			cgroup = C.CString(group)
			defer C.free(unsafe.Pointer(cgroup))
		}
		var result *C.yk_offsets_result
		if err := call(func() C.enum_yk_error { return run(cgroup, ctopics, &result) }); err != nil {
			return nil, err
		}
		return offsetRows(result), nil
	})
}

// newCTopics makes the C selection of topics (in a stable order); free it
// with yk_topics_free.
func newCTopics(topics Topics) (*C.yk_topics, error) {
	var ctopics *C.yk_topics
	if err := call(func() C.enum_yk_error { return C.yk_topics_new(&ctopics) }); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(topics))
	for name := range topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		cname := C.CString(name)
		var err error
		if partitions := topics[name]; len(partitions) == 0 {
			err = call(func() C.enum_yk_error { return C.yk_topics_add(ctopics, cname) })
		} else {
			for _, p := range partitions {
				if err = call(func() C.enum_yk_error { return C.yk_topics_add_partition(ctopics, cname, C.int32_t(p)) }); err != nil {
					break
				}
			}
		}
		C.free(unsafe.Pointer(cname))
		if err != nil {
			C.yk_topics_free(ctopics)
			return nil, err
		}
	}
	return ctopics, nil
}

// offsetRows copies a result into Go and frees it.
func offsetRows(result *C.yk_offsets_result) []PartitionOffsets {
	defer C.yk_offsets_result_free(result)
	var count C.size_t
	rows := C.yk_offsets_result_rows(result, &count)
	out := make([]PartitionOffsets, int(count))
	if count == 0 {
		return out
	}
	for i, r := range unsafe.Slice(rows, int(count)) {
		out[i] = PartitionOffsets{
			Topic:         C.GoString(r.topic),
			Partition:     int32(r.partition),
			Committed:     int64(r.committed),
			HighWatermark: int64(r.high_watermark),
			LowWatermark:  int64(r.low_watermark),
			Lag:           int64(r.lag),
		}
	}
	return out
}
