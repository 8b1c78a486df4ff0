//! The C boundary: every `extern "C"` function of the library, and all of
//! its `unsafe` code.
//!
//! One file per C object (`producer`, `consumer`, ...), and beside them the
//! machinery they share, each in its own file:
//! - [`boundary`]: the panic boundary every export runs through and this
//!   thread's last error;
//! - [`reentrancy`]: the guard that turns a callback calling back into its
//!   own handle into `YK_ERROR_REENTRANT`;
//! - [`handles`]: borrowing, boxing and freeing handles;
//! - [`arguments`]: checking and borrowing the plain C arguments;
//! - [`task_source`]: the link from a message to the handle that handed
//!   it out, for `yk_task_done`;
//! - [`values`]: the `#[repr(C)]` value types several objects share.

#![allow(non_camel_case_types)]
// The safety contract of every export is the C contract its doc comment states.
#![allow(clippy::missing_safety_doc)]

mod arguments;
mod boundary;
mod handles;
mod reentrancy;
mod task_source;
pub mod values;

pub mod callback_group;
pub mod cluster_config;
pub mod config;
pub mod consumer;
pub mod consumer_config;
pub mod consumer_group;
pub mod consumer_message;
pub mod discovery;
pub mod error;
pub mod message_batch;
pub mod metrics;
pub mod multiprocessing_group;
pub mod offsets;
pub mod producer;
pub mod topology;
