package yelpkafka

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Every code the library names has a Go sentinel, and each sentinel's name
// is the library's (Python yelp_kafka's exception names for codes 1–16).
func TestEveryLibraryCodeHasASentinelWithItsName(t *testing.T) {
	sentinels := map[Code]string{
		ErrFailedPayloads: "FailedPayloadsError", ErrKafkaUnavailable: "KafkaUnavailableError",
		ErrLeaderNotAvailable: "LeaderNotAvailableError", ErrNotLeaderForPartition: "NotLeaderForPartitionError",
		ErrUnknownTopicOrPartition: "UnknownTopicOrPartitionError", ErrConsumerTimeout: "ConsumerTimeout",
		ErrPartitioner: "PartitionerError", ErrPartitionerZookeeper: "PartitionerZookeeperError",
		ErrConsumerGroup: "ConsumerGroupError", ErrProcessMessage: "ProcessMessageError",
		ErrConfiguration: "ConfigurationError", ErrDiscovery: "DiscoveryError", ErrUnknownTopic: "UnknownTopic",
		ErrUnknownPartitions: "UnknownPartitions", ErrOffsetCommit: "OffsetCommitError",
		ErrInvalidOffsetStorage: "InvalidOffsetStorageError", ErrInvalidArgument: "InvalidArgument",
		ErrWrongState: "WrongState", ErrClosedHandle: "ClosedHandle", ErrReentrant: "ReentrantCall",
		ErrInternal: "InternalError", ErrBroker: "BrokerError", ErrRequestTimedOut: "RequestTimedOutError",
		ErrTransport: "TransportError", ErrUnsupportedVersion: "UnsupportedVersionError", ErrProtocol: "ProtocolError",
		ErrTimedOut: "TimedOut", ErrOffsetOutOfRange: "OffsetOutOfRangeError", ErrQueueFull: "QueueFull",
		ErrWorkersRunning: "WorkersRunning", ErrWokenUp: "WokenUp",
	}
	for code, name := range sentinels {
		if code.Error() != name {
			t.Errorf("code %d is named %q, want %q", int32(code), code.Error(), name)
		}
		if code.Description() == "" || code.Description() == "Unknown error code" {
			t.Errorf("code %s has no description", name)
		}
	}
	for code := Code(1); code < 1000; code++ {
		if _, ok := sentinels[code]; !ok && code.Error() != "UnknownErrorCode" {
			t.Errorf("the library names code %d %q, which has no Go sentinel", int32(code), code.Error())
		}
	}
}

func TestFailuresMatchTheirSentinelThroughWrapping(t *testing.T) {
	_, err := NewClusterConfig("standard", "cluster1", []string{"not-a-broker"}, "")
	wrapped := fmt.Errorf("loading the configuration: %w", err)
	if !errors.Is(wrapped, ErrConfiguration) || errors.Is(wrapped, ErrDiscovery) {
		t.Fatalf("want only ErrConfiguration, got %v", err)
	}
	var e *Error
	if !errors.As(wrapped, &e) || !strings.Contains(e.Message, "not-a-broker") {
		t.Fatalf("the message does not name the bad broker: %v", err)
	}
	if IsRetriable(wrapped) {
		t.Errorf("a configuration error is not retriable")
	}
}

// A cluster nobody answers for is KafkaUnavailableError, which Python yelp_kafka's
// retry loop retries.
func TestUnreachableClusterIsRetriableKafkaUnavailable(t *testing.T) {
	cluster, err := NewClusterConfig("standard", "nowhere", []string{"127.0.0.1:1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProducer(cluster, Options{"metadata_timeout_ms": "300", "retries": "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.CloseTimeout(time.Second)
	_, err = p.SendMessages("mytopic", []byte("lost"))
	if !errors.Is(err, ErrKafkaUnavailable) || !IsRetriable(err) {
		t.Fatalf("want a retriable ErrKafkaUnavailable, got %v (retriable %v)", err, IsRetriable(err))
	}
	if !IsRetriable(ErrKafkaUnavailable) || IsRetriable(ErrConfiguration) || IsRetriable(nil) {
		t.Errorf("IsRetriable on bare codes disagrees with the library")
	}
}
