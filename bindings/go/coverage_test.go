package yelpkafka

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// notBound are the C functions the package does not call, each with the
// reason: what the package uses in its place.
var notBound = map[string]string{
	"yk_cluster_config_clone":                  "ClusterConfig is a Go value: copying it is assignment",
	"yk_last_error_code":                       "call reads the code the failing function returned",
	"yk_consumer_config_add_metrics_dimension": "the metrics_dimensions option (ConsumerOptions.MetricsDimensions) sets the same dimensions",
	"yk_producer_set_delivery_callback":        "reports come in batches (yk_producer_set_delivery_batch_callback): one C->Go call per poll",
	"yk_producer_produce_value":                "Produce calls yk_producer_produce: a cgo call's cost does not grow with its arguments as ffi's does",
	"yk_producer_produce_values":               "ProduceBatch takes each message's own topic, key, partition and headers in one cgo call (yk_go_produce_batch)",
	"yk_consumer_group_next":                   "Next takes a batch of one (yk_consumer_group_next_batch) from a pooled library batch",
	"yk_message_topic":                         "messages are read from yk_message_view, every field at once",
	"yk_message_partition":                     "messages are read from yk_message_view, every field at once",
	"yk_message_offset":                        "messages are read from yk_message_view, every field at once",
	"yk_message_timestamp":                     "messages are read from yk_message_view, every field at once",
	"yk_message_key":                           "messages are read from yk_message_view, every field at once",
	"yk_message_value":                         "messages are read from yk_message_view, every field at once",
	"yk_message_batch_task_done":               "TaskDoneAll marks any messages, of any batches, in one cgo call (yk_go_task_done_all)",
	"yk_message_batch_columns":                 "a batch's fields are read from its yk_message_view array in Go, with no cgo call per field",
	"yk_message_batch_copy_values":             "a batch's values are read from its yk_message_view array in Go, with no cgo call per value",
	"yk_message_batch_copy_keys":               "a batch's keys are read from its yk_message_view array in Go, with no cgo call per key",
}

// Every function of the C API is called by the package (from Go or from
// its C helpers in callbacks.c), or listed in notBound with the reason.
func TestEveryCFunctionIsBound(t *testing.T) {
	header, err := os.ReadFile("yelp_kafka.h")
	if err != nil {
		t.Fatal(err)
	}
	declared := regexp.MustCompile(`(?m)^[a-z][^(\n]*?\b(yk_[a-z0-9_]+)\(`).FindAllSubmatch(header, -1)
	if len(declared) < 100 {
		t.Fatalf("found %d functions in yelp_kafka.h", len(declared))
	}
	var sources strings.Builder
	files, _ := filepath.Glob("*.go")
	files = append(files, "callbacks.c")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources.Write(b)
	}
	used := sources.String()
	for _, d := range declared {
		name := string(d[1])
		called := strings.Contains(used, "C."+name+"(") || strings.Contains(used, " "+name+"(") ||
			strings.Contains(used, "("+name+"(") || strings.Contains(used, "\t"+name+"(")
		reason, excused := notBound[name]
		switch {
		case called && excused:
			t.Errorf("%s is called, yet listed as not bound (%s)", name, reason)
		case !called && !excused:
			t.Errorf("%s is not bound", name)
		}
	}
}
