//! Metrics (docs/metrics.md): Python yelp_kafka's metric names, prefixes and dimensions,
//! and a recorder that holds measurements until a caller's thread delivers
//! them to the application's responder.
//!
//! Measurements are taken on engine threads, but the responder is the
//! application's code, which the C ABI promises to call only on a thread
//! that called into the library. So the engine only appends to a queue, and
//! the handle's entry points deliver the queue. With no responder or with
//! `report_metrics` off, the recorder is disabled and costs one branch.

use crate::sync::Locking;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whether a metric counts events or times them (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Incremented by the recorded value.
    Counter,
    /// A duration in milliseconds.
    Timer,
}

/// One metric a handle reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSpec {
    /// Name without prefix, as Python yelp_kafka spells it.
    pub name: &'static str,
    /// Counter or timer.
    pub kind: MetricKind,
}

impl MetricSpec {
    /// A timer (milliseconds) named `name`.
    pub const fn timer(name: &'static str) -> MetricSpec {
        MetricSpec {
            name,
            kind: MetricKind::Timer,
        }
    }

    /// A counter named `name`.
    pub const fn counter(name: &'static str) -> MetricSpec {
        MetricSpec {
            name,
            kind: MetricKind::Counter,
        }
    }
}

/// Defines a handle's metric enum and its table together, so a metric's
/// name cannot drift from the variant that records it: each variant's
/// discriminant is its index in the table (`metric as usize`, what the
/// recorder takes).
macro_rules! metric_table {
    (
        $(#[$enum_doc:meta])*
        pub enum $name:ident in $table:ident {
            $($(#[$doc:meta])* $variant:ident => $kind:ident($metric:literal),)*
        }
    ) => {
        $(#[$enum_doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$doc])* $variant,)*
        }

        #[doc = concat!("The metrics of [`", stringify!($name), "`], in the order of its variants.")]
        pub const $table: &[MetricSpec] = &[$(MetricSpec::$kind($metric),)*];
    };
}
pub(crate) use metric_table;

/// Prefix of producer metrics.
pub const PRODUCER_PREFIX: &str = "yelp_kafka.YelpKafkaProducer.";

metric_table! {
    /// The producer's metrics (docs/metrics.md).
    pub enum ProducerMetric in PRODUCER_METRICS {
        /// Time of a metadata request.
        MetadataRequestTimer => timer("metadata_request_timer"),
        /// Time of a produce request.
        ProduceRequestTimer => timer("produce_request_timer"),
        /// A produce request (or a message) failed.
        ProduceExceptionCount => counter("produce_exception_count"),
    }
}

/// One measurement waiting for delivery.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Index into the handle's metric table.
    pub metric: usize,
    /// Milliseconds for timers, the increment for counters.
    pub value: f64,
    /// When it was taken, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// Receives measurements on an application thread. Implemented by the C
/// boundary over the application's callback table.
pub trait MetricsResponder: Send {
    /// Delivers one measurement of metric `measurement.metric`.
    fn record(&mut self, measurement: &Measurement);
}

/// Collects measurements from any thread; delivers them on the caller's.
pub struct MetricsRecorder {
    enabled: AtomicBool,
    pending: Mutex<Vec<Measurement>>,
    responder: Mutex<Option<Box<dyn MetricsResponder>>>,
}

impl MetricsRecorder {
    /// A recorder delivering to `responder`; disabled when there is none or
    /// when `report` is false.
    pub fn new(responder: Option<Box<dyn MetricsResponder>>, report: bool) -> MetricsRecorder {
        let enabled = report && responder.is_some();
        MetricsRecorder {
            enabled: AtomicBool::new(enabled),
            pending: Mutex::new(Vec::new()),
            responder: Mutex::new(if enabled { responder } else { None }),
        }
    }

    /// Whether anything is recorded.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Records `value` for metric index `metric` (any thread).
    pub fn record(&self, metric: usize, value: f64) {
        if !self.is_enabled() {
            return;
        }
        let measurement = Measurement {
            metric,
            value,
            timestamp_ms: now_ms(),
        };
        self.pending.locked().push(measurement);
    }

    /// Records a duration in milliseconds.
    pub fn record_duration(&self, metric: usize, duration: Duration) {
        self.record(metric, duration.as_secs_f64() * 1000.0);
    }

    /// Delivers what is pending, then releases the responder on this thread
    /// (the application's emitters are freed here, not on an engine thread
    /// that happens to drop the last reference). Nothing is recorded after.
    pub fn release(&self) {
        self.deliver();
        self.enabled.store(false, Ordering::Relaxed);
        let responder = self.responder.locked().take();
        drop(responder);
    }

    /// Delivers every pending measurement to the responder. Call only on a
    /// thread that called into the library.
    pub fn deliver(&self) {
        if !self.is_enabled() {
            return;
        }
        let pending = std::mem::take(&mut *self.pending.locked());
        if pending.is_empty() {
            return;
        }
        if let Some(responder) = self.responder.locked().as_mut() {
            for measurement in &pending {
                responder.record(measurement);
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Collect(Arc<Mutex<Vec<Measurement>>>);

    impl MetricsResponder for Collect {
        fn record(&mut self, measurement: &Measurement) {
            self.0.lock().unwrap().push(*measurement);
        }
    }

    #[test]
    fn measurements_wait_for_delivery_on_the_callers_thread() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = Arc::new(MetricsRecorder::new(Some(Box::new(Collect(Arc::clone(&seen)))), true));
        let from_engine = Arc::clone(&recorder);
        std::thread::spawn(move || from_engine.record(ProducerMetric::ProduceExceptionCount as usize, 1.0))
            .join()
            .unwrap();
        assert!(
            seen.lock().unwrap().is_empty(),
            "nothing reaches the responder from the engine thread"
        );
        recorder.deliver();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].metric, 2);
        assert!(seen[0].timestamp_ms > 0);
    }

    #[test]
    fn without_a_responder_or_with_reporting_off_nothing_is_kept() {
        let off = MetricsRecorder::new(None, true);
        off.record(0, 1.0);
        assert!(!off.is_enabled());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let muted = MetricsRecorder::new(Some(Box::new(Collect(Arc::clone(&seen)))), false);
        muted.record(0, 1.0);
        muted.deliver();
        assert!(seen.lock().unwrap().is_empty());
    }
}
