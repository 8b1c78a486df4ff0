//! `ClusterConfig`: which Kafka cluster and which ZooKeeper ensemble a handle
//! talks to, and the equality rule of the Python library.

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use crate::error::{Error, Result};

/// A Kafka cluster: its type and name (as in the topology files), its
/// bootstrap brokers and its ZooKeeper connect string (optional chroot).
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    cluster_type: String,
    name: String,
    broker_list: Vec<String>,
    zookeeper: String,
}

impl ClusterConfig {
    /// Validates and builds a cluster configuration. `broker_list` entries are
    /// `host:port`; empty entries are ignored but at least one broker is needed.
    pub fn new(
        cluster_type: &str,
        name: &str,
        broker_list: &[impl AsRef<str>],
        zookeeper: &str,
    ) -> Result<ClusterConfig> {
        if cluster_type.is_empty() {
            return Err(Error::configuration("cluster type is empty"));
        }
        if name.is_empty() {
            return Err(Error::configuration("cluster name is empty"));
        }
        let brokers: Vec<String> = broker_list
            .iter()
            .map(|b| b.as_ref().trim())
            .filter(|b| !b.is_empty())
            .map(str::to_string)
            .collect();
        if brokers.is_empty() {
            return Err(Error::configuration(format!(
                "cluster {name}: broker_list has no broker"
            )));
        }
        for broker in &brokers {
            parse_host_port(broker).map_err(|e| e.context(format!("cluster {name}")))?;
        }
        let (hosts, chroot) = split_zookeeper(zookeeper);
        for host in hosts.split(',').filter(|h| !h.trim().is_empty()) {
            parse_host_port(host.trim()).map_err(|e| e.context(format!("cluster {name}: zookeeper")))?;
        }
        if let Some(chroot) = chroot {
            check_chroot(chroot)
                .map_err(|why| Error::configuration(format!("cluster {name}: zookeeper chroot {chroot:?} {why}")))?;
        }
        Ok(ClusterConfig {
            cluster_type: cluster_type.to_string(),
            name: name.to_string(),
            broker_list: brokers,
            zookeeper: zookeeper.trim().to_string(),
        })
    }

    /// Like [`ClusterConfig::new`] with the broker list as one comma-separated string.
    pub fn from_broker_string(
        cluster_type: &str,
        name: &str,
        broker_list: &str,
        zookeeper: &str,
    ) -> Result<ClusterConfig> {
        let brokers: Vec<&str> = broker_list.split(',').collect();
        ClusterConfig::new(cluster_type, name, &brokers, zookeeper)
    }

    /// The cluster type (`standard`, `scribe`, ...).
    pub fn cluster_type(&self) -> &str {
        &self.cluster_type
    }

    /// The cluster name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bootstrap brokers, `host:port` each.
    pub fn broker_list(&self) -> &[String] {
        &self.broker_list
    }

    /// The ZooKeeper connect string as given, chroot included.
    pub fn zookeeper(&self) -> &str {
        &self.zookeeper
    }

    /// The ZooKeeper hosts without the chroot, as a sorted set.
    pub fn zookeeper_hosts(&self) -> BTreeSet<&str> {
        let (hosts, _) = split_zookeeper(&self.zookeeper);
        hosts.split(',').map(str::trim).filter(|h| !h.is_empty()).collect()
    }

    /// The ZooKeeper hosts without the chroot, sorted, joined by commas: the
    /// connect string a client takes.
    pub fn zookeeper_connect_hosts(&self) -> String {
        self.zookeeper_hosts().into_iter().collect::<Vec<_>>().join(",")
    }

    /// The ZooKeeper chroot (`/kafka-1`), if the connect string has one. A
    /// chroot of `/` alone is none (docs/configuration.md): `h:2181/` is
    /// commonly written for the root, and the paths built from the chroot
    /// must not start with `//`.
    pub fn zookeeper_chroot(&self) -> Option<&str> {
        split_zookeeper(&self.zookeeper).1.filter(|chroot| *chroot != "/")
    }
}

impl PartialEq for ClusterConfig {
    /// Type and name equal; brokers and ZooKeeper hosts equal as sorted sets;
    /// the same chroot.
    fn eq(&self, other: &ClusterConfig) -> bool {
        let brokers = |c: &ClusterConfig| -> BTreeSet<String> { c.broker_list.iter().cloned().collect() };
        self.cluster_type == other.cluster_type
            && self.name == other.name
            && brokers(self) == brokers(other)
            && self.zookeeper_hosts() == other.zookeeper_hosts()
            && self.zookeeper_chroot() == other.zookeeper_chroot()
    }
}

impl Eq for ClusterConfig {}

/// Splits `h1:2181,h2:2181/chroot` into the host list and the chroot.
fn split_zookeeper(connect: &str) -> (&str, Option<&str>) {
    let connect = connect.trim();
    match connect.find('/') {
        Some(slash) => (&connect[..slash], Some(&connect[slash..])),
        None => (connect, None),
    }
}

/// Why `chroot` (which starts with `/`) cannot prefix ZooKeeper paths, if
/// it cannot: `/` alone is the root; otherwise every segment is a node name
/// ZooKeeper accepts (not empty, not `.` or `..`, no NUL), so no trailing
/// `/` and no `//`. Refused here, a bad chroot is a `ConfigurationError` at
/// creation instead of a failing ZooKeeper call, which a caller would
/// retry, at every use (docs/configuration.md).
fn check_chroot(chroot: &str) -> std::result::Result<(), &'static str> {
    if chroot == "/" {
        return Ok(());
    }
    for segment in chroot[1..].split('/') {
        match segment {
            "" => return Err("has an empty segment (a trailing '/' or '//')"),
            "." | ".." => return Err("has a '.' or '..' segment"),
            s if s.contains('\0') => return Err("holds a NUL"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks `host:port` strictly and returns the host and the port
/// (docs/configuration.md): the port is 1 to 5 ASCII digits worth 1–65535
/// (no sign, no space); an IPv6 host is written in brackets, `[::1]:9092`,
/// and returned without them; any other host is a name or an IPv4 address
/// of letters, digits, `.`, `-` and `_`. So a bare IPv6 address (`::1`,
/// which would split into host `:` and port 1) is refused, as is `host:+1`.
pub fn parse_host_port(address: &str) -> Result<(String, u16)> {
    let bad = |why: &str| Error::configuration(format!("{address:?} is not host:port: {why}"));
    let (host, port) = match address.strip_prefix('[') {
        Some(bracketed) => {
            let (host, port) = bracketed
                .split_once("]:")
                .ok_or_else(|| bad("an IPv6 address is written [address]:port"))?;
            host.parse::<Ipv6Addr>()
                .map_err(|_| bad("the host between brackets is not an IPv6 address"))?;
            (host, port)
        }
        None => {
            let (host, port) = address.rsplit_once(':').ok_or_else(|| bad("no port"))?;
            if host.contains(':') {
                return Err(bad("an IPv6 address is written [address]:port"));
            }
            if host.is_empty()
                || !host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            {
                return Err(bad("the host is not a name or an IPv4 address"));
            }
            (host, port)
        }
    };
    let port = Some(port)
        .filter(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
        .ok_or_else(|| bad("the port is not a number in 1..=65535"))?;
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(brokers: &str, zookeeper: &str) -> ClusterConfig {
        ClusterConfig::from_broker_string("standard", "c1", brokers, zookeeper).unwrap()
    }

    #[test]
    fn equality_ignores_order_and_empty_entries() {
        assert_eq!(
            config("b1:9092,b2:9092", "z1:2181,z2:2181/kafka"),
            config("b2:9092,,b1:9092", "z2:2181,z1:2181,/kafka")
        );
    }

    #[test]
    fn equality_compares_type_name_brokers_hosts_and_chroot() {
        let base = config("b1:9092", "z1:2181");
        assert_ne!(base, config("b2:9092", "z1:2181"));
        assert_ne!(base, config("b1:9092", "z2:2181"));
        assert_ne!(base, config("b1:9092", "z1:2181/other"));
        let renamed = ClusterConfig::from_broker_string("standard", "c2", "b1:9092", "z1:2181").unwrap();
        assert_ne!(base, renamed);
        let retyped = ClusterConfig::from_broker_string("scribe", "c1", "b1:9092", "z1:2181").unwrap();
        assert_ne!(base, retyped);
    }

    #[test]
    fn bad_input_is_a_configuration_error_naming_the_problem() {
        for (brokers, zookeeper) in [("", "z:1"), ("nohost", "z:1"), ("h:notaport", "z:1"), ("h:1", "z:x")] {
            let err = ClusterConfig::from_broker_string("t", "n", brokers, zookeeper).unwrap_err();
            assert_eq!(
                err.code(),
                crate::error::ErrorCode::Configuration,
                "{brokers} {zookeeper}"
            );
        }
        assert!(ClusterConfig::from_broker_string("", "n", "h:1", "").is_err());
    }

    #[test]
    fn host_port_is_parsed_strictly() {
        for (address, host, port) in [
            ("b:9092", "b", 9092),
            ("kafka-1.example_2.com:1", "kafka-1.example_2.com", 1),
            ("10.0.0.1:65535", "10.0.0.1", 65535),
            ("[::1]:9092", "::1", 9092),
            ("[fe80::1:2]:09092", "fe80::1:2", 9092),
        ] {
            assert_eq!(parse_host_port(address).unwrap(), (host.to_string(), port), "{address}");
        }
        for address in [
            "host:+1",
            "host:-1",
            "host: 1",
            "host:1 ",
            "host:",
            "host:0",
            "host:65536",
            "host:000001",
            "::1",
            "fe80::1:9092",
            "[::1]",
            "[::1]9092",
            "[nothost]:1",
            "[::1]:+1",
            ":9092",
            "a b:1",
            "a/b:1",
            "[::1:1",
        ] {
            let error = parse_host_port(address).unwrap_err();
            assert_eq!(error.code(), crate::error::ErrorCode::Configuration, "{address}");
            assert!(error.message().contains(&format!("{address:?}")), "{address}: {error}");
        }
    }

    #[test]
    fn broker_and_zookeeper_hosts_take_bracketed_ipv6() {
        let c = config("[::1]:9092,b:9092", "[::1]:2181,z:2181/kafka");
        assert_eq!(c.broker_list(), ["[::1]:9092", "b:9092"]);
        assert_eq!(c.zookeeper_chroot(), Some("/kafka"));
        for (brokers, zookeeper) in [("::1", ""), ("b:+1", ""), ("b:1", "::1:2181")] {
            let err = ClusterConfig::from_broker_string("t", "n", brokers, zookeeper).unwrap_err();
            assert_eq!(
                err.code(),
                crate::error::ErrorCode::Configuration,
                "{brokers} {zookeeper}"
            );
        }
    }

    #[test]
    fn chroot_is_split_from_the_hosts() {
        let c = config("b:1", "z1:2181,z2:2181/kafka-1");
        assert_eq!(c.zookeeper_chroot(), Some("/kafka-1"));
        assert_eq!(
            c.zookeeper_hosts().into_iter().collect::<Vec<_>>(),
            ["z1:2181", "z2:2181"]
        );
    }

    #[test]
    fn a_chroot_of_slash_alone_is_no_chroot() {
        let root = config("b:1", "z1:2181/");
        assert_eq!(root.zookeeper_chroot(), None);
        assert_eq!(root.zookeeper(), "z1:2181/", "kept as given");
        assert_eq!(root, config("b:1", "z1:2181"));
        assert_eq!(config("b:1", "z1:2181/a/b-c").zookeeper_chroot(), Some("/a/b-c"));
    }

    #[test]
    fn a_malformed_chroot_is_a_configuration_error_naming_it() {
        for chroot in ["//", "//x", "/x/", "/x//y", "/x/./y", "/..", "/x\0y"] {
            let zookeeper = format!("z1:2181{chroot}");
            let err = ClusterConfig::from_broker_string("t", "n", "b:1", &zookeeper).unwrap_err();
            assert_eq!(err.code(), crate::error::ErrorCode::Configuration, "{chroot:?}");
            assert!(err.message().contains(&format!("{chroot:?}")), "{chroot:?}: {err}");
        }
    }
}
