//! Discovery (docs/discovery.md): which topics and partitions a cluster has, which
//! clusters hold a topic or topics matching a pattern, and the topology
//! files that name the clusters of each type.

pub(crate) mod topology;

use std::collections::BTreeMap;

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};

use crate::config::{ClientOptions, ClusterConfig};
use crate::engine;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::KafkaCluster;

pub use topology::Topology;

/// Topic name → sorted partition ids.
pub type TopicPartitions = BTreeMap<String, Vec<i32>>;

/// Every topic of `cluster` with its partitions. Failure is a
/// `DiscoveryError` that keeps the cause in its message.
pub fn discover_topics(cluster: &ClusterConfig, options: &ClientOptions) -> Result<TopicPartitions> {
    let mut found = discover_topics_of(std::slice::from_ref(cluster), options)?;
    Ok(found.pop().expect("one cluster asked, one answer"))
}

/// The topics of every cluster, asked at once; one entry per cluster, in
/// order. The first cluster that fails fails the call (`DiscoveryError`).
pub fn discover_topics_of(clusters: &[ClusterConfig], options: &ClientOptions) -> Result<Vec<TopicPartitions>> {
    discover_all(clusters, options)?.into_iter().collect()
}

/// The clusters that have `topic`, with its partitions, given what
/// [`discover_topics_of`] found for `clusters`.
pub fn search_topic<'a>(
    topic: &str,
    clusters: &'a [ClusterConfig],
    discovered: &[TopicPartitions],
) -> Vec<(&'a ClusterConfig, Vec<i32>)> {
    clusters
        .iter()
        .zip(discovered)
        .filter_map(|(cluster, topics)| Some((cluster, topics.get(topic)?.clone())))
        .collect()
}

/// For each cluster with at least one topic that `matcher` (see
/// [`python_match_regex`]) accepts, the cluster and those topics, given
/// what [`discover_topics_of`] found for `clusters`.
pub fn search_topics_by_regex<'a>(
    matcher: &TopicPattern,
    clusters: &'a [ClusterConfig],
    discovered: Vec<TopicPartitions>,
) -> Vec<(&'a ClusterConfig, TopicPartitions)> {
    clusters
        .iter()
        .zip(discovered)
        .map(|(cluster, topics)| {
            let matching: TopicPartitions = topics.into_iter().filter(|(t, _)| matcher.matches(t)).collect();
            (cluster, matching)
        })
        .filter(|(_, matching)| !matching.is_empty())
        .collect()
}

/// A compiled topic pattern that matches as Python's `re.match` does: at
/// the start of the name, not necessarily to its end (docs/discovery.md).
#[derive(Debug, Clone)]
pub struct TopicPattern(Regex);

impl TopicPattern {
    /// Whether `topic` matches from its first character.
    pub fn matches(&self, topic: &str) -> bool {
        self.0.is_match(Input::new(topic).anchored(Anchored::Yes))
    }
}

/// Compiles `pattern` on its own and matches it with an anchored search,
/// as Python's `re.match` does. The pattern's text is never pasted into an
/// anchor such as `^(?:pattern)`, which `zzz)|(mytopic` would close early
/// to match anywhere; so a pattern Python finds unbalanced does not compile
/// here either. Failure is a `ConfigurationError` naming the pattern, with
/// the parser's message.
pub fn python_match_regex(pattern: &str) -> Result<TopicPattern> {
    Regex::new(pattern).map(TopicPattern).map_err(|e| {
        let why = e.syntax_error().map_or_else(|| e.to_string(), ToString::to_string);
        Error::configuration(format!("topic pattern {pattern:?} does not compile: {why}"))
    })
}

/// Asks every cluster at once; one result per cluster, in order. The outer
/// error is for the engine itself, the inner ones per cluster.
fn discover_all(clusters: &[ClusterConfig], options: &ClientOptions) -> Result<Vec<Result<TopicPartitions>>> {
    let lookups = clusters.iter().map(|cluster| {
        let client = KafkaCluster::new(cluster.broker_list().to_vec(), options.clone());
        let name = cluster.name().to_string();
        async move {
            client
                .fetch_metadata(None)
                .await
                .map(|metadata| metadata.topic_partitions())
                .map_err(|e| {
                    e.with_code(ErrorCode::Discovery)
                        .context(format!("failed to get topics information from cluster {name}"))
                })
        }
    });
    let runtime = engine::runtime()?;
    let handles: Vec<_> = lookups.map(|lookup| runtime.spawn(lookup)).collect();
    engine::block_on(async move {
        let mut results = Vec::with_capacity(handles.len());
        for handle in handles {
            results.push(
                handle
                    .await
                    .unwrap_or_else(|e| Err(Error::new(ErrorCode::Internal, format!("discovery task failed: {e}")))),
            );
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_at_the_start_only() {
        let ends_with = python_match_regex(".*mytopic").unwrap();
        assert!(ends_with.matches("mytopic"));
        assert!(ends_with.matches("team.mytopic"));
        let exact_start = python_match_regex("mytopic").unwrap();
        assert!(!exact_start.matches("xmytopic"));
        assert!(exact_start.matches("mytopic2"), "re.match does not anchor the end");
        let alternatives = python_match_regex("a|b").unwrap();
        assert!(!alternatives.matches("xb"), "the group keeps the alternative anchored");
        assert_eq!(python_match_regex("(").unwrap_err().code(), ErrorCode::Configuration);
    }

    #[test]
    fn a_pattern_cannot_break_out_of_the_start_anchor() {
        let error = python_match_regex("zzz)|(mytopic").unwrap_err();
        assert_eq!(error.code(), ErrorCode::Configuration);
        assert!(error.message().contains("\"zzz)|(mytopic\""), "{error}");
        assert!(error.message().contains("unopened group"), "{error}");
        // A comment of verbose mode may hold ')': it neither closes an
        // anchor group nor swallows one.
        let verbose = python_match_regex("(?x) mytopic #)|(x").unwrap();
        assert!(verbose.matches("mytopic"));
        assert!(!verbose.matches("xmytopic"));
    }

    /// Patterns a service may write, valid and not, including those that
    /// try to leave the start anchor; each is checked on every subject.
    const PATTERNS: &[&str] = &[
        ".*mytopic",
        "mytopic",
        "mytopic$",
        "^mytopic",
        "a|b",
        "(?:a)|b",
        "my(topic|queue)",
        "team\\..*",
        "[a-z]+\\.mytopic",
        "(?i)MYTOPIC",
        "\\d+",
        "a{2}",
        "x*",
        "",
        "\\)",
        "[)]",
        "(?x) mytopic #)|(x",
        "zzz)|(mytopic",
        "a)|(b",
        "a|b)|(c",
        ")",
        "(",
        "(a",
        "a)",
        "[a",
        "a{2",
        "*a",
        "a\\",
    ];
    /// Patterns Python reads where the `regex` syntax is stricter: an
    /// unclosed `{` is a literal in Python, an error here. Refused, never
    /// matched differently (docs/discovery.md).
    const REFUSED_HERE_ONLY: &[&str] = &["a{2"];
    const SUBJECTS: &[&str] = &[
        "mytopic",
        "xmytopic",
        "mytopic2",
        "team.mytopic",
        "myqueue",
        "MYTOPIC",
        "a",
        "b",
        "xb",
        "c",
        "aa",
        "123",
        "zzz",
        ")",
        "",
    ];

    fn hex(text: &str) -> String {
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Python's verdict per (pattern, subject): `Some(matched)`, or `None`
    /// when `re` refuses the pattern. python3 is installed by scripts/setup.sh.
    fn python_re_match(cases: &[(&str, &str)]) -> Vec<Option<bool>> {
        use std::io::Write as _;
        let script = "import re, sys\n\
            for line in sys.stdin:\n\
            \x20   p, s = (bytes.fromhex(x).decode() for x in line.rstrip('\\n').split(' '))\n\
            \x20   try:\n\
            \x20       print(1 if re.match(p, s) else 0)\n\
            \x20   except re.error:\n\
            \x20       print('E')\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 (scripts/setup.sh installs it)");
        let input: String = cases.iter().map(|(p, s)| format!("{} {}\n", hex(p), hex(s))).collect();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "python3 failed");
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|verdict| match verdict {
                "1" => Some(true),
                "0" => Some(false),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn patterns_match_as_python_re_match_does() {
        let cases: Vec<(&str, &str)> = PATTERNS
            .iter()
            .flat_map(|p| SUBJECTS.iter().map(move |s| (*p, *s)))
            .collect();
        let python = python_re_match(&cases);
        assert_eq!(python.len(), cases.len());
        let differences: Vec<String> = cases
            .iter()
            .zip(python)
            .filter_map(|((pattern, subject), python)| {
                let ours = python_match_regex(pattern).ok().map(|m| m.matches(subject));
                let expected = if REFUSED_HERE_ONLY.contains(pattern) {
                    None
                } else {
                    python
                };
                (ours != expected).then(|| format!("{pattern:?} on {subject:?}: ours {ours:?}, Python {python:?}"))
            })
            .collect();
        assert!(
            differences.is_empty(),
            "None is a refused pattern:\n{}",
            differences.join("\n")
        );
    }
}
