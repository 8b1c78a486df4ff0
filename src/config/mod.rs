//! Configuration: the cluster description of SPEC §2.1, the string key/value
//! object every C handle is configured with, and typed option tables that
//! validate those keys and document their defaults.

pub mod cluster;
pub mod options;

pub use cluster::ClusterConfig;
pub use options::{ClientOptions, KeyValueConfig, OptionKind, OptionSpec, CLIENT_OPTIONS, MS_MAX};
