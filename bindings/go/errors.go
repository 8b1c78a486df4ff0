package yelpkafka

// #include <stdlib.h>
// #include "callbacks.h"
import "C"

import (
	"errors"
	"runtime"
	"unsafe"
)

// Code is a yk_error code. Every code is a sentinel error of its own, so
// errors.Is(err, ErrKafkaUnavailable) holds for every failure with that code.
type Code int32

// The library's codes (values from include/yelp_kafka.h). Codes 1–16 stand
// for Python yelp_kafka's exceptions, the rest for conditions of the C boundary
// and of the engine.
const (
	ErrFailedPayloads          Code = C.YK_ERROR_FAILED_PAYLOADS
	ErrKafkaUnavailable        Code = C.YK_ERROR_KAFKA_UNAVAILABLE
	ErrLeaderNotAvailable      Code = C.YK_ERROR_LEADER_NOT_AVAILABLE
	ErrNotLeaderForPartition   Code = C.YK_ERROR_NOT_LEADER_FOR_PARTITION
	ErrUnknownTopicOrPartition Code = C.YK_ERROR_UNKNOWN_TOPIC_OR_PARTITION
	ErrConsumerTimeout         Code = C.YK_ERROR_CONSUMER_TIMEOUT
	ErrPartitioner             Code = C.YK_ERROR_PARTITIONER
	ErrPartitionerZookeeper    Code = C.YK_ERROR_PARTITIONER_ZOOKEEPER
	ErrConsumerGroup           Code = C.YK_ERROR_CONSUMER_GROUP
	ErrProcessMessage          Code = C.YK_ERROR_PROCESS_MESSAGE
	ErrConfiguration           Code = C.YK_ERROR_CONFIGURATION
	ErrDiscovery               Code = C.YK_ERROR_DISCOVERY
	ErrUnknownTopic            Code = C.YK_ERROR_UNKNOWN_TOPIC
	ErrUnknownPartitions       Code = C.YK_ERROR_UNKNOWN_PARTITIONS
	ErrOffsetCommit            Code = C.YK_ERROR_OFFSET_COMMIT
	ErrInvalidOffsetStorage    Code = C.YK_ERROR_INVALID_OFFSET_STORAGE
	ErrInvalidArgument         Code = C.YK_ERROR_INVALID_ARGUMENT
	ErrWrongState              Code = C.YK_ERROR_WRONG_STATE
	ErrClosedHandle            Code = C.YK_ERROR_CLOSED_HANDLE
	ErrReentrant               Code = C.YK_ERROR_REENTRANT
	ErrInternal                Code = C.YK_ERROR_INTERNAL
	ErrBroker                  Code = C.YK_ERROR_BROKER
	ErrRequestTimedOut         Code = C.YK_ERROR_REQUEST_TIMED_OUT
	ErrTransport               Code = C.YK_ERROR_TRANSPORT
	ErrUnsupportedVersion      Code = C.YK_ERROR_UNSUPPORTED_VERSION
	ErrProtocol                Code = C.YK_ERROR_PROTOCOL
	ErrTimedOut                Code = C.YK_ERROR_TIMED_OUT
	ErrOffsetOutOfRange        Code = C.YK_ERROR_OFFSET_OUT_OF_RANGE
	ErrQueueFull               Code = C.YK_ERROR_QUEUE_FULL
	ErrWorkersRunning          Code = C.YK_ERROR_WORKERS_RUNNING
	ErrWokenUp                 Code = C.YK_ERROR_WOKEN_UP
)

// Error returns the code's name: the Python exception it stands for
// ("KafkaUnavailableError") or the C condition ("InvalidArgument").
func (c Code) Error() string { return C.GoString(C.yk_error_name(C.int32_t(c))) }

// Description is a one-line description of the code.
func (c Code) Description() string { return C.GoString(C.yk_error_description(C.int32_t(c))) }

// Retriable says whether a call that failed with this code may succeed when
// simply retried. For ErrBroker it depends on the Kafka code: use
// IsRetriable on the *Error instead.
func (c Code) Retriable() bool { return bool(C.yk_error_is_retriable(C.int32_t(c))) }

// Error is a failure reported by the library.
type Error struct {
	// Code is the library's code; errors.Is(err, Code) compares it.
	Code Code
	// KafkaCode is the raw Kafka error code a broker sent, 0 when none.
	KafkaCode int16
	// Message names the C function and the problem.
	Message   string
	retriable bool
}

// Error returns "<name>: <message>".
func (e *Error) Error() string { return e.Code.Error() + ": " + e.Message }

// Is reports whether target is this error's Code.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	return ok && c == e.Code
}

// Retriable says whether the failed call may succeed when retried, Kafka's
// own table refining ErrBroker.
func (e *Error) Retriable() bool { return e.retriable }

// IsRetriable says whether err (an *Error or a Code, possibly wrapped) is a
// failure that a plain retry may fix: a leader moved, a broker was briefly
// unavailable, a request timed out. False for nil and for other errors.
func IsRetriable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.retriable
	}
	var c Code
	return errors.As(err, &c) && c.Retriable()
}

// call runs one C call and turns a failure into an *Error. The details live
// in thread-local storage of the library, so the goroutine stays on its OS
// thread from the call until they are read.
func call(f func() C.enum_yk_error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if code := f(); code != C.YK_ERROR_OK {
		return &Error{
			Code:      Code(code),
			KafkaCode: int16(C.yk_last_error_kafka_code()),
			Message:   C.GoString(C.yk_last_error_message()),
			retriable: bool(C.yk_last_error_is_retriable()),
		}
	}
	return nil
}

// resultError is the error of a call made through a shim that returns a
// yk_go_result (callbacks.h), nil on success. The calls made once per
// message go so: they need neither call's thread lock nor its three more
// cgo calls on failure (ErrQueueFull is an expected failure of Produce).
func resultError(result C.yk_go_result) error {
	if result.code == C.YK_ERROR_OK {
		return nil
	}
	return failedResultError(result)
}

// failedResultError is resultError of a failure, kept out of it so that
// resultError, called after every call into the library, inlines to one
// compare.
func failedResultError(result C.yk_go_result) error {
	err := &Error{Code: Code(result.code), KafkaCode: int16(result.kafka_code), retriable: bool(result.retriable)}
	if result.message != nil {
		err.Message = C.GoString(result.message)
		C.free(unsafe.Pointer(result.message))
	}
	return err
}

// Version is the library's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.yk_version()) }
