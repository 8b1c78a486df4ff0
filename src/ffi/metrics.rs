//! `yk_metrics_responder`: the application's metrics callbacks (docs/metrics.md),
//! adapted to the library's `MetricsResponder`.

use std::ffi::{c_char, c_void, CString};

use crate::error::{Error, Result};
use crate::ffi::arguments::to_c_string;
use crate::metrics::{Measurement, MetricKind, MetricSpec, MetricsResponder};

/// One dimension of a metric: a key and a value, both NUL-terminated UTF-8,
/// valid only during the callback that receives them.
#[repr(C)]
pub struct yk_dimension {
    /// Dimension name, e.g. `"client_id"`.
    pub key: *const c_char,
    /// Dimension value.
    pub value: *const c_char,
}

/// Returns an emitter (any pointer the application likes, NULL allowed) for
/// one metric name with its dimensions.
pub type yk_get_emitter_fn = Option<
    unsafe extern "C" fn(
        opaque: *mut c_void,
        metric: *const c_char,
        dimensions: *const yk_dimension,
        dimension_count: usize,
    ) -> *mut c_void,
>;

/// Records one measurement: milliseconds for timers, an increment for
/// counters; `timestamp_ms` is milliseconds since the Unix epoch.
pub type yk_record_fn =
    Option<unsafe extern "C" fn(opaque: *mut c_void, emitter: *mut c_void, value: f64, timestamp_ms: i64)>;

/// Releases an emitter when the handle that asked for it is freed.
pub type yk_free_emitter_fn = Option<unsafe extern "C" fn(opaque: *mut c_void, emitter: *mut c_void)>;

/// The application's metrics responder. The library copies this struct when
/// a handle is created; `opaque` must stay valid until that handle is freed.
///
/// Every callback runs on a thread that called into the library (inside
/// `_new`, `send`, `poll`, `flush`, `close` or `_free`), never on an
/// internal thread, and must not call back into the same handle (that call
/// fails with `YK_ERROR_REENTRANT`). `get_counter_emitter`,
/// `get_timer_emitter` and `record` are required; `free_emitter` may be NULL.
/// Emitters are asked for once per metric, when the handle is created.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct yk_metrics_responder {
    /// Passed back to every callback.
    pub opaque: *mut c_void,
    /// Emitter for a counter.
    pub get_counter_emitter: yk_get_emitter_fn,
    /// Emitter for a timer (milliseconds).
    pub get_timer_emitter: yk_get_emitter_fn,
    /// Records a measurement.
    pub record: yk_record_fn,
    /// Releases an emitter (optional).
    pub free_emitter: yk_free_emitter_fn,
}

struct CResponder {
    table: yk_metrics_responder,
    emitters: Vec<*mut c_void>,
}

// SAFETY: the table and emitters belong to the application, which promised they are
// usable from any thread that calls into the library; the library only
// calls them from such threads, one at a time (the recorder's lock).
unsafe impl Send for CResponder {}

impl MetricsResponder for CResponder {
    fn record(&mut self, measurement: &Measurement) {
        if let (Some(record), Some(emitter)) = (self.table.record, self.emitters.get(measurement.metric)) {
            // SAFETY: the application supplied `record` and vouched for `opaque`.
            unsafe { record(self.table.opaque, *emitter, measurement.value, measurement.timestamp_ms) };
        }
    }
}

impl Drop for CResponder {
    fn drop(&mut self) {
        if let Some(free_emitter) = self.table.free_emitter {
            for emitter in &self.emitters {
                // SAFETY: as in `record`.
                unsafe { free_emitter(self.table.opaque, *emitter) };
            }
        }
    }
}

/// Builds the responder of a new handle: asks the application for one
/// emitter per metric of `metrics`, named `prefix + name`, with
/// `dimensions`. NULL `responder` means no metrics.
///
/// # Safety
/// `responder` is NULL or points at a valid `yk_metrics_responder`.
pub(crate) unsafe fn responder_from_c(
    responder: *const yk_metrics_responder,
    prefix: &str,
    metrics: &[MetricSpec],
    dimensions: &[(&str, &str)],
) -> Result<Option<Box<dyn MetricsResponder>>> {
    let Some(table) = responder.as_ref().copied() else {
        return Ok(None);
    };
    let (Some(counter), Some(timer), Some(_)) = (table.get_counter_emitter, table.get_timer_emitter, table.record)
    else {
        return Err(Error::invalid_argument(
            "metrics_responder needs get_counter_emitter, get_timer_emitter and record",
        ));
    };
    let owned: Vec<(CString, CString)> = dimensions
        .iter()
        .map(|(k, v)| Ok((to_c_string(k, "dimension key")?, to_c_string(v, "dimension value")?)))
        .collect::<Result<_>>()?;
    let c_dimensions: Vec<yk_dimension> = owned
        .iter()
        .map(|(k, v)| yk_dimension {
            key: k.as_ptr(),
            value: v.as_ptr(),
        })
        .collect();
    let mut emitters = Vec::with_capacity(metrics.len());
    for metric in metrics {
        let name = to_c_string(&format!("{prefix}{}", metric.name), "metric name")?;
        let get = match metric.kind {
            MetricKind::Counter => counter,
            MetricKind::Timer => timer,
        };
        emitters.push(get(
            table.opaque,
            name.as_ptr(),
            c_dimensions.as_ptr(),
            c_dimensions.len(),
        ));
    }
    Ok(Some(Box::new(CResponder { table, emitters })))
}
