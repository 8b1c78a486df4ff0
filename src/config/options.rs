//! String key/value configuration and the typed option tables read from it.
//!
//! Every C handle is configured through one [`Config`]: the caller
//! sets strings, and the handle's constructor validates them against the
//! option tables it accepts (each table row is a key, its kind, its default
//! and its documentation). An unknown key or a bad value is a
//! `ConfigurationError` naming the key.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::error::{Error, Result};

/// An ordered set of string keys and values, as set by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    entries: BTreeMap<String, String>,
}

impl Config {
    /// An empty configuration: every option takes its default.
    pub fn new() -> Config {
        Config::default()
    }

    /// Sets `key` to `value`, replacing an earlier value. Keys are checked
    /// later, by the handle that reads them.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        if key.is_empty() {
            return Err(Error::invalid_argument("configuration key is empty"));
        }
        self.entries.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// The value set for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// Every key set, in sorted order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Rejects any key that no table in `tables` defines, and any value
    /// that does not fit its key's kind.
    pub fn validate(&self, tables: &[&[OptionSpec]]) -> Result<()> {
        for (key, value) in &self.entries {
            let spec = tables
                .iter()
                .flat_map(|table| table.iter())
                .find(|spec| spec.name == key)
                .ok_or_else(|| Error::configuration(format!("unknown configuration key {key:?}")))?;
            spec.kind.check(key, value)?;
        }
        Ok(())
    }

    /// The value of `spec`'s key, or its default.
    pub fn value<'a>(&'a self, spec: &'a OptionSpec) -> &'a str {
        self.get(spec.name).unwrap_or(spec.default)
    }

    /// An integer option, validated.
    pub fn int(&self, spec: &OptionSpec) -> Result<i64> {
        spec.kind.check(spec.name, self.value(spec))?;
        Ok(self.value(spec).trim().parse().expect("checked above"))
    }

    /// A boolean option, validated.
    pub fn bool(&self, spec: &OptionSpec) -> Result<bool> {
        spec.kind.check(spec.name, self.value(spec))?;
        Ok(parse_bool(self.value(spec)).expect("checked above"))
    }

    /// Typed access to the options of `table`, by name.
    pub fn reader(&self, table: &'static [OptionSpec]) -> TableReader<'_> {
        TableReader { config: self, table }
    }

    /// The effective configuration of the given tables: one `key = value`
    /// line per option, defaults included, marked `(default)` where unset.
    pub fn effective(&self, tables: &[&[OptionSpec]]) -> String {
        let mut dump = String::new();
        for spec in tables.iter().flat_map(|table| table.iter()) {
            let origin = if self.get(spec.name).is_some() {
                ""
            } else {
                " (default)"
            };
            let _ = writeln!(dump, "{} = {}{}", spec.name, self.value(spec), origin);
        }
        dump
    }
}

/// Reads one table's options from a [`Config`], validated, by key.
/// A key missing from the table is a bug of the caller (it panics).
pub struct TableReader<'a> {
    config: &'a Config,
    table: &'static [OptionSpec],
}

impl<'a> TableReader<'a> {
    fn spec(&self, name: &str) -> &'static OptionSpec {
        self.table
            .iter()
            .find(|s| s.name == name)
            .expect("option is in the table")
    }

    /// The value as set, or the default.
    pub fn text(&self, name: &str) -> &'a str {
        self.config.value(self.spec(name))
    }

    /// An integer option.
    pub fn int(&self, name: &str) -> Result<i64> {
        self.config.int(self.spec(name))
    }

    /// A boolean option.
    pub fn bool(&self, name: &str) -> Result<bool> {
        self.config.bool(self.spec(name))
    }

    /// An integer option in milliseconds, as a duration.
    pub fn millis(&self, name: &str) -> Result<Duration> {
        Ok(Duration::from_millis(self.int(name)? as u64))
    }
}

/// What values an option takes.
#[derive(Debug, Clone, Copy)]
pub enum OptionKind {
    /// Any string.
    Text,
    /// A decimal integer within `min..=max`.
    Int { min: i64, max: i64 },
    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    Bool,
    /// One of the listed words.
    Choice(&'static [&'static str]),
}

impl OptionKind {
    fn check(&self, key: &str, value: &str) -> Result<()> {
        let bad = |expected: String| {
            Error::configuration(format!("configuration key {key:?}: value {value:?} is not {expected}"))
        };
        match *self {
            OptionKind::Text => Ok(()),
            OptionKind::Int { min, max } => match value.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(()),
                _ => Err(bad(format!("an integer in {min}..={max}"))),
            },
            OptionKind::Bool => parse_bool(value).map(|_| ()).ok_or_else(|| bad("true or false".into())),
            OptionKind::Choice(words) => {
                if words.contains(&value) {
                    Ok(())
                } else {
                    Err(bad(format!("one of {}", words.join(", "))))
                }
            }
        }
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// One row of an option table.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The key.
    pub name: &'static str,
    /// The kind of value.
    pub kind: OptionKind,
    /// The default, as the string a caller would set.
    pub default: &'static str,
    /// What the option does.
    pub doc: &'static str,
}

/// The largest millisecond value an option takes: a day.
pub const MS_MAX: i64 = 24 * 3600 * 1000;

/// Options every handle that talks to Kafka accepts.
pub const CLIENT_OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "client_id",
        kind: OptionKind::Text,
        default: "yelp-kafka",
        doc: "Sent on every request; brokers enforce quotas by it.",
    },
    OptionSpec {
        name: "metadata_timeout_ms",
        kind: OptionKind::Int { min: 1, max: MS_MAX },
        default: "10000",
        doc: "Deadline for a metadata lookup over every known broker; past it, KafkaUnavailableError.",
    },
    OptionSpec {
        name: "request_timeout_ms",
        kind: OptionKind::Int { min: 1, max: MS_MAX },
        default: "30000",
        doc: "How long one request waits for its response.",
    },
    OptionSpec {
        name: "connect_timeout_ms",
        kind: OptionKind::Int { min: 1, max: MS_MAX },
        default: "5000",
        doc: "How long one TCP connect and version negotiation may take.",
    },
    OptionSpec {
        name: "reconnect_backoff_ms",
        kind: OptionKind::Int { min: 0, max: MS_MAX },
        default: "50",
        doc: "Wait before reconnecting to a broker after a failure; doubles per failure.",
    },
    OptionSpec {
        name: "reconnect_backoff_max_ms",
        kind: OptionKind::Int { min: 0, max: MS_MAX },
        default: "5000",
        doc: "Upper bound of the reconnect backoff.",
    },
    OptionSpec {
        name: "max_response_bytes",
        kind: OptionKind::Int { min: 1024, max: 1 << 30 },
        default: "104857600",
        doc: "Largest response frame accepted; a larger one closes the connection.",
    },
    OptionSpec {
        name: "api_version_caps",
        kind: OptionKind::Text,
        default: "",
        doc: "Highest version to use per API, e.g. `ListOffsets:3,Produce:7`, for brokers that mis-encode newer versions.",
    },
];

/// Typed client options, read from [`CLIENT_OPTIONS`] by the engine
/// (`ClientOptions::from_config` in `kafka::options`, which knows the API
/// names `api_version_caps` uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Sent on every request.
    pub client_id: String,
    /// Deadline of a metadata lookup over every broker.
    pub metadata_timeout: Duration,
    /// How long one request waits for its response.
    pub request_timeout: Duration,
    /// How long one connect plus version negotiation may take.
    pub connect_timeout: Duration,
    /// First reconnect backoff.
    pub reconnect_backoff: Duration,
    /// Largest reconnect backoff.
    pub reconnect_backoff_max: Duration,
    /// Largest response frame accepted.
    pub max_response_bytes: usize,
    /// Highest version per API key.
    pub api_version_caps: BTreeMap<i16, i16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_configuration_marks_defaults() {
        let mut config = Config::new();
        config.set("client_id", "svc").unwrap();
        let dump = config.effective(&[CLIENT_OPTIONS]);
        assert!(dump.contains("client_id = svc\n"));
        assert!(dump.contains("request_timeout_ms = 30000 (default)\n"));
    }
}
