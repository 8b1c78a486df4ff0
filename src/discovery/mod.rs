//! Discovery (docs/discovery.md): which topics and partitions a cluster has, which
//! clusters hold a topic or topics matching a pattern, and the topology
//! files that name the clusters of each type.

mod python_re;
pub(crate) mod topology;

use std::collections::BTreeMap;

use fancy_regex::{Regex, RegexBuilder};

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
/// what [`discover_topics_of`] found for `clusters`. A topic on which the
/// pattern exceeds its backtracking limit fails the call (see
/// [`TopicPattern::matches`]).
pub fn search_topics_by_regex<'a>(
    matcher: &TopicPattern,
    clusters: &'a [ClusterConfig],
    discovered: Vec<TopicPartitions>,
) -> Result<Vec<(&'a ClusterConfig, TopicPartitions)>> {
    let mut found = Vec::new();
    for (cluster, topics) in clusters.iter().zip(discovered) {
        let mut matching = TopicPartitions::new();
        for (topic, partitions) in topics {
            if matcher.matches(&topic)? {
                matching.insert(topic, partitions);
            }
        }
        if !matching.is_empty() {
            found.push((cluster, matching));
        }
    }
    Ok(found)
}

/// How many backtracking steps one match may take before it gives up:
/// fancy-regex's default, far above what a topic name of at most 249
/// characters needs, unless the pattern backtracks exponentially (`(a*)*b`
/// with back-references or look-around, which force backtracking).
const BACKTRACK_LIMIT: usize = 1_000_000;

/// A compiled topic pattern that matches as Python's `re.match` does: at
/// the start of the name, not necessarily to its end (docs/discovery.md).
#[derive(Debug, Clone)]
pub struct TopicPattern {
    pattern: String,
    regex: Regex,
}

impl TopicPattern {
    /// Whether `topic` matches from its first character. A match that
    /// exceeds [`BACKTRACK_LIMIT`] steps is a `ConfigurationError` naming
    /// the pattern and the topic, never a silent non-match: Python's `re`
    /// would answer, only much later (docs/discovery.md).
    pub fn matches(&self, topic: &str) -> Result<bool> {
        self.regex.is_match(topic).map_err(|e| {
            Error::configuration(format!(
                "topic pattern {:?} gave up on topic {topic:?}: {e} (more than {BACKTRACK_LIMIT} backtracking steps)",
                self.pattern
            ))
        })
    }
}

/// Compiles `pattern` as Python's `re` reads it and matches it as
/// `re.match` does, from the first character (docs/discovery.md). The
/// pattern is parsed by Python's rules and written back in fancy-regex
/// syntax inside a start anchor (`python_re`): every group the output holds
/// is written by the translator, so no pattern can leave the anchor
/// (`zzz)|(mytopic` is unbalanced for Python, and refused). Failure is a
/// `ConfigurationError` naming the pattern, with Python's message where
/// Python refuses it too.
pub fn python_match_regex(pattern: &str) -> Result<TopicPattern> {
    let refuse = |why: String| Error::configuration(format!("topic pattern {pattern:?} does not compile: {why}"));
    let translated = python_re::translate(pattern).map_err(refuse)?;
    let regex = RegexBuilder::new(&translated)
        .backtrack_limit(BACKTRACK_LIMIT)
        .build()
        .map_err(|e| refuse(e.to_string()))?;
    Ok(TopicPattern {
        pattern: pattern.to_string(),
        regex,
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
        assert!(ends_with.matches("mytopic").unwrap());
        assert!(ends_with.matches("team.mytopic").unwrap());
        let exact_start = python_match_regex("mytopic").unwrap();
        assert!(!exact_start.matches("xmytopic").unwrap());
        assert!(
            exact_start.matches("mytopic2").unwrap(),
            "re.match does not anchor the end"
        );
        let alternatives = python_match_regex("a|b").unwrap();
        assert!(
            !alternatives.matches("xb").unwrap(),
            "the group keeps the alternative anchored"
        );
        assert_eq!(python_match_regex("(").unwrap_err().code(), ErrorCode::Configuration);
    }

    #[test]
    fn a_pattern_cannot_break_out_of_the_start_anchor() {
        let error = python_match_regex("zzz)|(mytopic").unwrap_err();
        assert_eq!(error.code(), ErrorCode::Configuration);
        assert!(error.message().contains("\"zzz)|(mytopic\""), "{error}");
        assert!(error.message().contains("unbalanced parenthesis"), "{error}");
        // A comment of verbose mode may hold ')': it neither closes an
        // anchor group nor swallows one.
        let verbose = python_match_regex("(?x) mytopic #)|(x").unwrap();
        assert!(verbose.matches("mytopic").unwrap());
        assert!(!verbose.matches("xmytopic").unwrap());
    }

    #[test]
    fn a_runaway_match_is_an_error_not_a_non_match() {
        // The back-reference puts the match on fancy-regex's backtracking
        // VM, where nested stars backtrack exponentially.
        let runaway = python_match_regex("(a*)*b\\1").unwrap();
        let topic = format!("{}c", "a".repeat(40));
        let error = runaway.matches(&topic).unwrap_err();
        assert_eq!(error.code(), ErrorCode::Configuration);
        assert!(error.message().contains("backtracking"), "{error}");
        assert!(runaway.matches("aab").unwrap());
    }

    /// Patterns a service may write, valid and not, including those that
    /// try to leave the start anchor and those issue 12 found different
    /// from Python's `re`; each is checked on every subject.
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
        "(?x)mytopic # comment",
        "(?x)[ ]my",
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
        "mytopic\\Z",
        "my(?=topic)",
        "my(?!queue)",
        "(my)\\1",
        "my(?#comment)topic",
        "my{",
        "x{,2}",
        "a{,}",
        "a{}",
        "my{2,1}",
        ".*(?i)MYTOPIC",
        "(?i:MY)topic",
        "mytopic\\z",
        "\\p{L}+\\.",
        "[[:alpha:]]+",
        "(?<=m)y",
        ".(?<=m)y",
        "(?P<t>my)(?P=t)",
        "(a)?(?(1)a|b)",
        "(?m)mytopic$",
        "(?s)my.",
        "\\bmy",
        "\\B",
        "(?a)\\w+\\.",
        "\\w+$",
        "\\s",
        "[]a]+",
        "[^]a]",
        "[\\d-z]",
        "\\x6dy",
        "\\N{DIGIT ONE}",
        "a**",
        "a*+a",
        "(?>a*)a",
        "(?L)a",
        "\\0",
        "\\11",
        "(?i)k",
        "(?ai)k",
    ];
    const SUBJECTS: &[&str] = &[
        "mytopic",
        "xmytopic",
        "mytopic2",
        "team.mytopic",
        "myqueue",
        "MYTOPIC",
        "mytopic\n",
        "mymy",
        "my{",
        "a",
        "b",
        "xb",
        "c",
        "aa",
        "123",
        "zzz",
        ")",
        "[:a]",
        "\u{e9}.",
        "e\u{301}",
        " ",
        "\t",
        "\u{212a}",
        "",
    ];
    /// Every (pattern, subject) on which this library differs from Python's
    /// `re.match`, and why; `None` stands for every subject (the pattern is
    /// refused on one side only). The test fails if a difference appears
    /// or disappears. The same list is in docs/discovery.md and in the
    /// header's doc comment of `yk_search_topics_by_regex`.
    const DIFFERS_HERE: &[(&str, Option<&str>, &str)] = &[
        (
            "\\N{DIGIT ONE}",
            None,
            "named Unicode escapes need Unicode's name table: refused here",
        ),
        (
            "\\B",
            Some(""),
            "Python before 3.14 finds no non-boundary in an empty string; topic names are never empty",
        ),
        (
            "\\w+$",
            Some("e\u{301}"),
            "a combining mark is a word character here (Unicode's definition), not in Python's (str.isalnum)",
        ),
        (
            "(?ai)k",
            Some("\u{212a}"),
            "with the ASCII flag Python folds ASCII letters only; here the Kelvin sign still folds to k",
        ),
    ];

    fn hex(text: &str) -> String {
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Python's verdict per (pattern, subject): `Some(matched)`, or `None`
    /// when `re` refuses the pattern. python3 is installed by scripts/setup.sh.
    fn python_re_match(cases: &[(&str, &str)]) -> Vec<Option<bool>> {
        use std::io::Write as _;
        let script = "import re, sys, warnings\n\
            warnings.simplefilter('ignore')\n\
            for line in sys.stdin:\n\
            \x20   p, s = (bytes.fromhex(x).decode() for x in line.rstrip('\\n').split(' '))\n\
            \x20   try:\n\
            \x20       print(1 if re.match(p, s) else 0)\n\
            \x20   except Exception:\n\
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
        let differences: Vec<(&str, &str, String)> = cases
            .iter()
            .zip(python)
            .filter_map(|((pattern, subject), python)| {
                let ours = python_match_regex(pattern).ok().map(|m| m.matches(subject).unwrap());
                (ours != python).then(|| (*pattern, *subject, format!("ours {ours:?}, Python {python:?}")))
            })
            .collect();
        let expected: Vec<(&str, &str)> = DIFFERS_HERE
            .iter()
            .flat_map(|(pattern, subject, _)| match subject {
                Some(subject) => vec![(*pattern, *subject)],
                None => SUBJECTS.iter().map(|s| (*pattern, *s)).collect(),
            })
            .collect();
        let unexpected: Vec<String> = differences
            .iter()
            .filter(|(p, s, _)| !expected.contains(&(*p, *s)))
            .map(|(p, s, verdicts)| format!("{p:?} on {s:?}: {verdicts}"))
            .collect();
        let gone: Vec<String> = expected
            .iter()
            .filter(|(p, s)| !differences.iter().any(|(dp, ds, _)| (dp, ds) == (p, s)))
            .map(|(p, s)| format!("{p:?} on {s:?}"))
            .collect();
        assert!(
            unexpected.is_empty() && gone.is_empty(),
            "None is a refused pattern.\nDifferences not in DIFFERS_HERE:\n{}\nIn DIFFERS_HERE but now as in Python:\n{}",
            unexpected.join("\n"),
            gone.join("\n")
        );
    }
}
