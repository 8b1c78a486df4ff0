//! The library's one error type and its code space.
//!
//! Every fallible operation in the library returns [`Error`]: a [`ErrorCode`]
//! (one per exception of the Python library plus what a C caller needs), a
//! human-readable message, and the raw Kafka error code when a broker sent
//! one. The code table below is the single source for names, descriptions
//! and retriability; the C functions `yk_error_name`, `yk_error_description`
//! and `yk_error_is_retriable` read it.

use std::fmt;

use kafka_protocol::error::ResponseError;

/// Result codes of every C entry point. `YK_ERROR_OK` (0) is success.
///
/// Values are part of the ABI: new codes are appended, existing ones never
/// change. Codes 1–99 mirror the Python library's exceptions; 100 and up are
/// conditions of the C boundary and of the engine.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Success.
    Ok = 0,
    /// Some messages of a produce request were not acknowledged.
    FailedPayloads = 1,
    /// No broker of the cluster answered a metadata request.
    KafkaUnavailable = 2,
    /// The partition has no leader right now.
    LeaderNotAvailable = 3,
    /// The broker is not the partition's leader; metadata was refreshed.
    NotLeaderForPartition = 4,
    /// The broker does not know the topic or partition.
    UnknownTopicOrPartition = 5,
    /// No message arrived within the consumer timeout.
    ConsumerTimeout = 6,
    /// The partitioner failed (ZooKeeper session lost, acquire or release failed).
    Partitioner = 7,
    /// A ZooKeeper operation of the partitioner failed.
    PartitionerZookeeper = 8,
    /// The consumer group failed.
    ConsumerGroup = 9,
    /// The user's message-processing callback failed.
    ProcessMessage = 10,
    /// A configuration key or value is invalid, or a configuration file is missing or malformed.
    Configuration = 11,
    /// Topic discovery failed.
    Discovery = 12,
    /// A topic does not exist.
    UnknownTopic = 13,
    /// A partition does not exist.
    UnknownPartitions = 14,
    /// Committing offsets failed.
    OffsetCommit = 15,
    /// The offset storage setting is invalid.
    InvalidOffsetStorage = 16,
    /// An argument is NULL, not valid UTF-8, or out of range.
    InvalidArgument = 100,
    /// The handle is not in a state that allows this call.
    WrongState = 101,
    /// The handle was closed.
    ClosedHandle = 102,
    /// A callback called back into the handle that is running it.
    Reentrant = 103,
    /// An internal error (a caught panic); the handle may be unusable.
    Internal = 104,
    /// A broker returned an error without a dedicated code; read the Kafka code.
    Broker = 105,
    /// The broker did not answer within the request timeout.
    RequestTimedOut = 106,
    /// The connection to a broker failed or was lost.
    Transport = 107,
    /// The broker and the library share no version of a needed API.
    UnsupportedVersion = 108,
    /// A response could not be decoded.
    Protocol = 109,
    /// The operation did not finish before its deadline.
    TimedOut = 110,
    /// The requested offset is outside the partition's range.
    OffsetOutOfRange = 111,
    /// The producer's queue is full; poll for delivery reports or wait.
    QueueFull = 112,
}

/// One row of the code table.
struct CodeInfo {
    code: ErrorCode,
    name: &'static str,
    description: &'static str,
    retriable: bool,
}

macro_rules! code_table {
    ($(($code:ident, $name:literal, $retriable:literal, $desc:literal)),* $(,)?) => {
        const CODE_TABLE: &[CodeInfo] = &[
            $(CodeInfo {
                code: ErrorCode::$code,
                name: concat!($name, "\0"),
                description: concat!($desc, "\0"),
                retriable: $retriable,
            }),*
        ];
    };
}

code_table! {
    (Ok, "NoError", false, "Success"),
    (FailedPayloads, "FailedPayloadsError", true, "Some messages of a produce request were not acknowledged"),
    (KafkaUnavailable, "KafkaUnavailableError", true, "No broker of the cluster answered a metadata request"),
    (LeaderNotAvailable, "LeaderNotAvailableError", true, "The partition has no leader right now"),
    (NotLeaderForPartition, "NotLeaderForPartitionError", true, "The broker is not the partition's leader; metadata was refreshed, retry"),
    (UnknownTopicOrPartition, "UnknownTopicOrPartitionError", true, "The broker does not know the topic or partition"),
    (ConsumerTimeout, "ConsumerTimeout", true, "No message arrived within the consumer timeout"),
    (Partitioner, "PartitionerError", false, "The partitioner failed; re-create the consumer group"),
    (PartitionerZookeeper, "PartitionerZookeeperError", false, "A ZooKeeper operation of the partitioner failed"),
    (ConsumerGroup, "ConsumerGroupError", false, "The consumer group failed"),
    (ProcessMessage, "ProcessMessageError", false, "The message-processing callback failed"),
    (Configuration, "ConfigurationError", false, "A configuration key, value or file is invalid"),
    (Discovery, "DiscoveryError", true, "Topic discovery failed"),
    (UnknownTopic, "UnknownTopic", false, "A topic does not exist"),
    (UnknownPartitions, "UnknownPartitions", false, "A partition does not exist"),
    (OffsetCommit, "OffsetCommitError", true, "Committing offsets failed"),
    (InvalidOffsetStorage, "InvalidOffsetStorageError", false, "The offset storage setting is invalid"),
    (InvalidArgument, "InvalidArgument", false, "An argument is NULL, not valid UTF-8, or out of range"),
    (WrongState, "WrongState", false, "The handle is not in a state that allows this call"),
    (ClosedHandle, "ClosedHandle", false, "The handle was closed"),
    (Reentrant, "ReentrantCall", false, "A callback called back into the handle that is running it"),
    (Internal, "InternalError", false, "Internal error (a caught panic)"),
    (Broker, "BrokerError", false, "A broker returned an error; read the Kafka error code"),
    (RequestTimedOut, "RequestTimedOutError", true, "The broker did not answer within the request timeout"),
    (Transport, "TransportError", true, "The connection to a broker failed or was lost"),
    (UnsupportedVersion, "UnsupportedVersionError", false, "The broker and the library share no version of a needed API"),
    (Protocol, "ProtocolError", false, "A response from the broker could not be decoded"),
    (TimedOut, "TimedOut", true, "The operation did not finish before its deadline"),
    (OffsetOutOfRange, "OffsetOutOfRangeError", false, "The requested offset is outside the partition's range"),
    (QueueFull, "QueueFull", true, "The producer's queue is full; serve delivery reports or wait, then retry"),
}

impl ErrorCode {
    /// Every code, in table order.
    pub fn all() -> impl Iterator<Item = ErrorCode> {
        CODE_TABLE.iter().map(|info| info.code)
    }

    /// The code whose numeric value is `value`, if there is one.
    pub fn from_i32(value: i32) -> Option<ErrorCode> {
        Self::all().find(|code| *code as i32 == value)
    }

    fn info(self) -> &'static CodeInfo {
        CODE_TABLE
            .iter()
            .find(|info| info.code == self)
            .expect("every ErrorCode has a row in CODE_TABLE")
    }

    /// The Python exception name (or the C condition's name).
    pub fn name(self) -> &'static str {
        let name = self.info().name;
        &name[..name.len() - 1]
    }

    /// The name with a trailing NUL, for C callers.
    pub fn name_nul(self) -> &'static str {
        self.info().name
    }

    /// The description with a trailing NUL, for C callers.
    pub fn description_nul(self) -> &'static str {
        self.info().description
    }

    /// Whether a plain retry of the same call may succeed.
    pub fn is_retriable(self) -> bool {
        self.info().retriable
    }
}

/// An error of the library: a code, a message, and the broker's raw error code if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    message: String,
    kafka_code: Option<i16>,
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A new error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
            kafka_code: None,
        }
    }

    /// An error carrying a broker's error code, mapped to the library's code space.
    pub fn from_kafka(kafka_code: i16, context: impl fmt::Display) -> Error {
        let response = ResponseError::try_from_code(kafka_code);
        let code = match response {
            Some(ResponseError::OffsetOutOfRange) => ErrorCode::OffsetOutOfRange,
            Some(ResponseError::UnknownTopicOrPartition) => ErrorCode::UnknownTopicOrPartition,
            Some(ResponseError::LeaderNotAvailable) => ErrorCode::LeaderNotAvailable,
            Some(ResponseError::NotLeaderOrFollower) => ErrorCode::NotLeaderForPartition,
            Some(ResponseError::RequestTimedOut) => ErrorCode::RequestTimedOut,
            Some(ResponseError::UnsupportedVersion) => ErrorCode::UnsupportedVersion,
            _ => ErrorCode::Broker,
        };
        let name = response.map_or_else(|| "NONE".to_string(), |r| r.to_string());
        Error {
            code,
            message: format!("{context}: broker error {kafka_code} ({name})"),
            kafka_code: Some(kafka_code),
        }
    }

    /// A shorthand for [`ErrorCode::InvalidArgument`].
    pub fn invalid_argument(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::InvalidArgument, message)
    }

    /// A shorthand for [`ErrorCode::Configuration`].
    pub fn configuration(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Configuration, message)
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The raw Kafka error code when a broker sent one.
    pub fn kafka_code(&self) -> Option<i16> {
        self.kafka_code
    }

    /// Whether retrying may succeed: the code's retriability, refined by
    /// Kafka's own table for broker errors without a dedicated code.
    pub fn is_retriable(&self) -> bool {
        retriable(self.code, self.kafka_code)
    }

    /// The same error with a new code, keeping the message and Kafka code.
    pub fn with_code(mut self, code: ErrorCode) -> Error {
        self.code = code;
        self
    }

    /// The same error with `context: ` put before its message.
    pub fn context(mut self, context: impl fmt::Display) -> Error {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

/// Whether an error of `code`, with the broker's `kafka` code if any, may
/// succeed when retried: the code's retriability, refined by Kafka's own
/// table for broker errors without a dedicated code.
pub(crate) fn retriable(code: ErrorCode, kafka: Option<i16>) -> bool {
    match (code, kafka) {
        (ErrorCode::Broker, Some(kafka)) => ResponseError::try_from_code(kafka).is_some_and(|e| e.is_retriable()),
        (code, _) => code.is_retriable(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_value_and_name() {
        let codes: Vec<ErrorCode> = ErrorCode::all().collect();
        for (i, a) in codes.iter().enumerate() {
            for b in &codes[i + 1..] {
                assert_ne!(*a as i32, *b as i32);
                assert_ne!(a.name(), b.name());
            }
            assert_eq!(ErrorCode::from_i32(*a as i32), Some(*a));
            assert!(a.name_nul().ends_with('\0'));
        }
        assert_eq!(ErrorCode::from_i32(99), None);
    }

    #[test]
    fn kafka_codes_map_to_python_exceptions() {
        let not_leader = Error::from_kafka(6, "ListOffsets");
        assert_eq!(not_leader.code(), ErrorCode::NotLeaderForPartition);
        assert_eq!(not_leader.kafka_code(), Some(6));
        assert!(not_leader.is_retriable());
        assert_eq!(Error::from_kafka(5, "x").code(), ErrorCode::LeaderNotAvailable);
        assert_eq!(Error::from_kafka(3, "x").code(), ErrorCode::UnknownTopicOrPartition);
        let broker = Error::from_kafka(15, "x");
        assert_eq!(broker.code(), ErrorCode::Broker);
        assert!(broker.is_retriable(), "COORDINATOR_NOT_AVAILABLE is retriable");
        assert!(!Error::from_kafka(29, "x").is_retriable());
    }
}
