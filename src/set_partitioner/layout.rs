//! The ZooKeeper layout and the allocation rule that kazoo's
//! `SetPartitioner` (as the Python `yelp_kafka` drives it) uses, so that
//! our members and Python members share one group (docs/consumer-groups.md).
//!
//! Owns names and arithmetic only, no I/O:
//! - the group path `/yelp-kafka/<group_id>[/<sha1 of the Python repr of
//!   the sorted topic list>]`, under the cluster's chroot;
//! - the partition set's strings `<topic>-<partition>`;
//! - party nodes `<path>/party/<uuid4hex>-<identifier>` (kazoo's
//!   `ShallowParty`) and the identifier read back from a child name;
//! - lock nodes `<path>/locks/<partition>/<uuid4hex>__lock__<seq>` (kazoo's
//!   `Lock`), where the lowest sequence holds the lock;
//! - the allocation `sorted(partitions)[i::len(members)]` for the member at
//!   index `i` of the sorted identifiers.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use sha1::{Digest, Sha1};

/// Where the Python library keeps every group.
pub const BASE_PATH: &str = "/yelp-kafka";
/// kazoo's lock node marker, between the contender's UUID and the sequence.
const LOCK_MARKER: &str = "__lock__";
/// Digits ZooKeeper appends to a sequential node's name.
const SEQUENCE_DIGITS: usize = 10;

/// The group's node: `<chroot>/yelp-kafka/<group_id>/<sha1>` with
/// `use_group_sha`, else `<chroot>/yelp-kafka/<group_id>`. `chroot` is
/// [`ClusterConfig::zookeeper_chroot`](crate::config::ClusterConfig::zookeeper_chroot),
/// never `/` nor ending with `/`.
pub fn group_path(chroot: Option<&str>, group_id: &str, topics: &[String], use_group_sha: bool) -> String {
    let root = chroot.unwrap_or("");
    if use_group_sha {
        format!("{root}{BASE_PATH}/{group_id}/{}", topics_sha1(topics))
    } else {
        format!("{root}{BASE_PATH}/{group_id}")
    }
}

/// Hex SHA-1 of the Python `repr` of the sorted topic list, e.g. of `['a', 'b']`.
pub fn topics_sha1(topics: &[String]) -> String {
    let mut sorted: Vec<&str> = topics.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let digest = Sha1::digest(python_list_repr(&sorted).as_bytes());
    digest.iter().fold(String::with_capacity(40), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// Python 3's `repr` of a list of `str`.
fn python_list_repr(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|item| python_str_repr(item)).collect();
    format!("[{}]", inner.join(", "))
}

/// Python 3's `repr` of a `str`, for the names Kafka allows
/// (`[a-zA-Z0-9._-]`, which print as they are) and ASCII in general:
/// single quotes unless the text holds a single quote and no double quote;
/// backslash, the quote, `\t`, `\n`, `\r` escaped; other controls as `\xNN`.
/// Other characters are kept (Python keeps the printable ones).
fn python_str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut repr = String::with_capacity(text.len() + 2);
    repr.push(quote);
    for c in text.chars() {
        match c {
            '\\' => repr.push_str("\\\\"),
            '\t' => repr.push_str("\\t"),
            '\n' => repr.push_str("\\n"),
            '\r' => repr.push_str("\\r"),
            c if c == quote => {
                repr.push('\\');
                repr.push(c);
            }
            c if c.is_ascii_control() => {
                let _ = write!(repr, "\\x{:02x}", c as u32);
            }
            c => repr.push(c),
        }
    }
    repr.push(quote);
    repr
}

/// The partition set's string for one partition: `<topic>-<partition>`.
pub fn partition_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Reads `<topic>-<partition>` back (the topic may hold `-`).
pub fn parse_partition_name(name: &str) -> Option<(&str, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    let partition: i32 = partition.parse().ok()?;
    (!topic.is_empty() && partition >= 0).then_some((topic, partition))
}

/// A fresh party node name for `identifier`: `<uuid4hex>-<identifier>`.
pub fn party_node_name(identifier: &str) -> String {
    format!("{}-{identifier}", uuid::Uuid::new_v4().simple())
}

/// The member identifier of a party child: what follows its first `-`.
pub fn member_identifier(child: &str) -> &str {
    child.split_once('-').map_or("", |(_, identifier)| identifier)
}

/// A fresh lock contender prefix (ZooKeeper appends the sequence).
pub fn lock_node_prefix() -> String {
    format!("{}{LOCK_MARKER}", uuid::Uuid::new_v4().simple())
}

/// The sequence of a lock contender child, as kazoo reads it (the text of
/// `__lock__(-?\d{10})$`); `None` for a child that is no contender.
pub fn lock_sequence(child: &str) -> Option<&str> {
    let (_, tail) = child.rsplit_once(LOCK_MARKER)?;
    let digits = tail.strip_prefix('-').unwrap_or(tail);
    (digits.len() == SEQUENCE_DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(tail)
}

/// The contender just before `own` among `children` (the highest sequence
/// lower than its own, compared as text like kazoo does), or `None` when
/// `own` holds the lock.
pub fn lock_predecessor<'a>(children: &'a [String], own: &str) -> Option<&'a str> {
    let own_sequence = lock_sequence(own)?;
    children
        .iter()
        .filter_map(|child| Some((lock_sequence(child)?, child.as_str())))
        .filter(|(sequence, _)| *sequence < own_sequence)
        .max()
        .map(|(_, child)| child)
}

/// kazoo's allocation: sort the partitions and the member identifiers as
/// strings; the member at index `i` takes `partitions[i::len(members)]`.
/// `None` when `identifier` is not among the members.
pub fn allocate(identifier: &str, members: &[&str], partitions: &[String]) -> Option<Vec<String>> {
    let mut workers: Vec<&str> = members.to_vec();
    workers.sort_unstable();
    let index = workers.iter().position(|member| *member == identifier)?;
    let mut sorted: Vec<&String> = partitions.iter().collect();
    sorted.sort_unstable();
    Some(sorted.into_iter().skip(index).step_by(workers.len()).cloned().collect())
}

/// A member identifier unique in this process: `<fqdn>-<pid>-<n>`. The
/// Python library uses `<fqdn>-<pid>`; the counter lets several groups of
/// one process take part in one group.
pub fn unique_identifier() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}-{}",
        fqdn(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The host's fully qualified name as Python's `socket.getfqdn()` finds
/// it: the first name with a dot among the reverse lookups of the host
/// name's addresses, else the host name. Looked up once per process.
fn fqdn() -> &'static str {
    static FQDN: OnceLock<String> = OnceLock::new();
    FQDN.get_or_init(|| {
        let hostname = dns_lookup::get_hostname().unwrap_or_else(|_| "localhost".to_string());
        let qualified = dns_lookup::lookup_host(&hostname).ok().and_then(|addresses| {
            addresses
                .iter()
                .filter_map(|address| dns_lookup::lookup_addr(address).ok())
                .find(|name| name.contains('.') && name.parse::<std::net::IpAddr>().is_err())
        });
        qualified.unwrap_or(hostname)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_group_path_carries_the_sha1_of_the_python_repr_of_the_sorted_topics() {
        // hashlib.sha1(repr(sorted(['b', 'a'])).encode()).hexdigest()
        let topics = strings(&["b", "a"]);
        assert_eq!(python_list_repr(&["a", "b"]), "['a', 'b']");
        assert_eq!(topics_sha1(&topics), "9a8d34bc597b54ba39ab703811c6d8e4c6cb4498");
        assert_eq!(
            group_path(Some("/kafka-1"), "g", &topics, true),
            "/kafka-1/yelp-kafka/g/9a8d34bc597b54ba39ab703811c6d8e4c6cb4498"
        );
        assert_eq!(group_path(None, "g", &topics, false), "/yelp-kafka/g");
    }

    #[test]
    fn python_string_reprs_choose_quotes_and_escape_like_python() {
        assert_eq!(python_str_repr("plain.topic_1-x"), "'plain.topic_1-x'");
        assert_eq!(python_str_repr("it's"), "\"it's\"");
        assert_eq!(python_str_repr("both'\""), "'both\\'\"'");
        assert_eq!(python_str_repr("a\\b\tc\n\u{1}"), "'a\\\\b\\tc\\n\\x01'");
    }

    #[test]
    fn partition_names_round_trip_with_dashes_in_topics() {
        assert_eq!(partition_name("my-topic", 12), "my-topic-12");
        assert_eq!(parse_partition_name("my-topic-12"), Some(("my-topic", 12)));
        assert_eq!(parse_partition_name("topic"), None);
        assert_eq!(parse_partition_name("-3"), None);
    }

    #[test]
    fn party_children_name_their_member_after_the_first_dash() {
        let node = party_node_name("host.example.com-42-0");
        assert_eq!(node.len(), 32 + 1 + "host.example.com-42-0".len());
        assert_eq!(member_identifier(&node), "host.example.com-42-0");
    }

    #[test]
    fn the_lowest_lock_sequence_holds_and_others_wait_for_the_next_lower() {
        let a = format!("{}0000000003", lock_node_prefix());
        let b = format!("{}0000000001", lock_node_prefix());
        let c = format!("{}0000000002", lock_node_prefix());
        let children = vec![a.clone(), b.clone(), c.clone(), "unrelated".to_string()];
        assert_eq!(lock_predecessor(&children, &b), None);
        assert_eq!(lock_predecessor(&children, &c), Some(b.as_str()));
        assert_eq!(lock_predecessor(&children, &a), Some(c.as_str()));
        assert_eq!(lock_sequence("x__lock__123"), None);
    }

    #[test]
    fn allocation_strides_the_sorted_partitions_over_the_sorted_members() {
        let partitions = strings(&["t-0", "t-1", "t-10", "t-2", "t-3"]);
        // sorted: t-0 t-1 t-10 t-2 t-3; members sorted: a b
        assert_eq!(
            allocate("a", &["b", "a"], &partitions).unwrap(),
            strings(&["t-0", "t-10", "t-3"])
        );
        assert_eq!(
            allocate("b", &["b", "a"], &partitions).unwrap(),
            strings(&["t-1", "t-2"])
        );
        assert_eq!(
            allocate("c", &["a", "b", "c", "d", "e", "f"], &partitions).unwrap(),
            strings(&["t-10"])
        );
        assert_eq!(
            allocate("f", &["a", "b", "c", "d", "e", "f"], &partitions).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(allocate("z", &["a"], &partitions), None);
    }

    #[test]
    fn identifiers_are_unique_in_the_process() {
        let (first, second) = (unique_identifier(), unique_identifier());
        assert_ne!(first, second);
        assert!(first.contains(&format!("-{}-", std::process::id())), "{first}");
    }
}
