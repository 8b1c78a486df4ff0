//! Configuration: the cluster description of docs/configuration.md, the string key/value
//! object every C handle is configured with, and typed option tables that
//! validate those keys and document their defaults.

pub(crate) mod cluster;
pub(crate) mod options;

pub use cluster::ClusterConfig;
pub use options::{ClientOptions, Config, OptionKind, OptionSpec, CLIENT_OPTIONS, MS_MAX};
