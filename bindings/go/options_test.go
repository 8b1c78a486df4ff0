package yelpkafka

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestProducerOptionsConvertToTheLibrarysOptions(t *testing.T) {
	got := ProducerOptions{
		ClientOptions:     ClientOptions{ClientID: "svc", RequestTimeout: 1500 * time.Microsecond},
		Acks:              AcksAll,
		Retries:           Ptr(0),
		Linger:            Ptr(time.Duration(0)),
		EnableIdempotence: Ptr(true),
		ReportMetrics:     Ptr(false),
		Compression:       "gzip",
		QueueMaxMessages:  10,
		Extra:             Options{"compression": "lz4", "max_in_flight_per_broker": "1"},
	}.Options()
	want := Options{"client_id": "svc", "request_timeout_ms": "2", "acks": "all", "retries": "0", "linger_ms": "0",
		"enable_idempotence": "true", "report_metrics": "false", "compression": "lz4", "queue_max_messages": "10",
		"max_in_flight_per_broker": "1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if zero := (ProducerOptions{}).Options(); len(zero) != 0 {
		t.Errorf("the zero ProducerOptions set %v, want nothing", zero)
	}
}

func TestConsumerOptionsConvertToTheLibrarysOptions(t *testing.T) {
	got := ConsumerOptions{
		AutoOffsetReset:            OffsetResetLatest,
		AutoCommitEnable:           Ptr(false),
		AutoCommitIntervalMessages: Ptr(0),
		ConsumerTimeout:            Ptr(time.Duration(-1)),
		PartitionerCooldown:        Ptr(1500 * time.Millisecond),
		ZookeeperSessionTimeout:    6 * time.Second,
		FetchMaxBytes:              4 << 20,
		QueuedMaxMessagesKbytes:    1024,
		OffsetStorage:              "kafka",
		MetricsDimensions:          map[string]string{"zone": "a", "app": "b"},
	}.Options()
	want := Options{"auto_offset_reset": "largest", "auto_commit_enable": "false",
		"auto_commit_interval_messages": "0", "consumer_timeout_ms": "-1", "partitioner_cooldown": "1.5",
		"zookeeper_session_timeout_ms": "6000", "fetch_max_bytes": "4194304", "queued_max_messages_kbytes": "1024", "offset_storage": "kafka",
		"metrics_dimensions": "app=b,zone=a"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	for reset, library := range map[OffsetReset]string{OffsetResetEarliest: "smallest", OffsetResetLatest: "largest",
		OffsetResetSmallest: "smallest", OffsetResetLargest: "largest"} {
		if got := (ConsumerOptions{AutoOffsetReset: reset}).Options()["auto_offset_reset"]; got != library {
			t.Errorf("%s: auto_offset_reset=%q, want %q", reset, got, library)
		}
	}
}

// The typed options reach the library: client_id shows in the metrics'
// dimensions, and a bad value is the library's ErrConfiguration.
func TestTypedProducerOptionsReachTheLibrary(t *testing.T) {
	responder := &recordingResponder{}
	newProducer(t, ProducerOptions{ClientOptions: ClientOptions{ClientID: "go-typed"}}.Options(), responder)
	for _, e := range responder.emitters {
		if e.dimensions["client_id"] != "go-typed" {
			t.Errorf("%s: client_id %q, want go-typed", e.name, e.dimensions["client_id"])
		}
	}
	if len(responder.emitters) == 0 {
		t.Error("no emitters")
	}
	_, err := NewProducer(localCluster(t), ProducerOptions{Acks: "most"}.Options(), nil)
	if !errors.Is(err, ErrConfiguration) {
		t.Errorf("acks=most: %v, want ErrConfiguration", err)
	}
}
