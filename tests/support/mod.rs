//! Real services for integration tests (docs/test-cluster.md): a librdkafka mock Kafka
//! cluster per test, and one ZooKeeper per test process with a fresh chroot
//! per test.
//!
//! Owns the child processes it starts and nothing else: a `MockCluster` ends
//! its launcher on drop (and the launcher exits by itself when our end of
//! its stdin closes, so a test process killed hard leaves no broker behind);
//! the ZooKeeper server is spawned under `setpriv --pdeathsig KILL` from a
//! thread that lives as long as the test process, so it dies with it.
//!
//! Environment:
//! - `YK_TEST_ZOOKEEPER=host:port`: use this ZooKeeper instead of starting one.
//! - `YK_MOCK_LIB=/path/to/librdkafka*.so*`: run the launcher against that
//!   librdkafka (e.g. the newer one bundled in the confluent-kafka wheel)
//!   instead of Debian's 2.0.2. The launcher links `librdkafka.so.1`; we put a
//!   symlink of that name to the given file in a private directory and point
//!   `LD_LIBRARY_PATH` at it (the loader looks the needed name up by file
//!   name, so the wheel's hashed file name and soname do not matter).
#![allow(dead_code)] // each test file uses a different part of this module

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a launcher may take to print its BOOTSTRAP line or to answer.
const LAUNCHER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long ZooKeeper may take to answer `ruok`.
const ZOOKEEPER_TIMEOUT: Duration = Duration::from_secs(20);

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's target directory, where test scratch files go.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

// ---------------------------------------------------------------------------
// Mock Kafka
// ---------------------------------------------------------------------------

/// Builds the launcher (scripts/build-tools.sh) once per test process.
fn launcher_path() -> &'static Path {
    static LAUNCHER: OnceLock<PathBuf> = OnceLock::new();
    LAUNCHER.get_or_init(|| {
        let out = Command::new(repo_root().join("scripts/build-tools.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/build-tools.sh");
        assert!(
            out.status.success(),
            "scripts/build-tools.sh failed ({}); is librdkafka-dev installed (scripts/setup.sh)?",
            out.status
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// With `YK_MOCK_LIB` set: a directory holding `librdkafka.so.1` -> that file,
/// one per library path, shared by concurrent test processes.
fn mock_lib_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let lib = PathBuf::from(std::env::var_os("YK_MOCK_LIB")?);
        let lib = lib
            .canonicalize()
            .unwrap_or_else(|e| panic!("YK_MOCK_LIB={}: {e}", lib.display()));
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        lib.hash(&mut hasher);
        let dir = target_dir()
            .join("tools/mock-lib")
            .join(format!("{:016x}", hasher.finish()));
        let link = dir.join("librdkafka.so.1");
        if std::fs::read_link(&link).ok().as_deref() != Some(lib.as_path()) {
            std::fs::create_dir_all(&dir).expect("create mock-lib dir");
            // Create under a private name, then rename over: atomic for a
            // test process running beside us.
            let tmp = dir.join(format!(".link-{}", std::process::id()));
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(&lib, &tmp).expect("symlink YK_MOCK_LIB");
            std::fs::rename(&tmp, &link).expect("rename mock-lib link");
        }
        Some(dir)
    })
    .as_deref()
}

/// A running librdkafka mock cluster (tools/mock_cluster.c), one per test.
/// Commands panic when the launcher answers `ERR`.
pub struct MockCluster {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    bootstrap: String,
}

impl MockCluster {
    /// Starts a cluster of `brokers` brokers (ids 1..=brokers).
    pub fn start(brokers: usize) -> MockCluster {
        let mut cmd = Command::new(launcher_path());
        cmd.arg("--brokers")
            .arg(brokers.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(dir) = mock_lib_dir() {
            let mut path = dir.as_os_str().to_owned();
            if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
                path.push(":");
                path.push(old);
            }
            cmd.env("LD_LIBRARY_PATH", path);
        }
        let mut child = cmd.spawn().expect("spawn mock_cluster");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        // A reader thread turns stdout into a channel so reads can time out.
        let (tx, lines) = mpsc::channel();
        std::thread::Builder::new()
            .name("mock-kafka-stdout".into())
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn reader thread");
        let mut cluster = MockCluster {
            child,
            stdin,
            lines,
            bootstrap: String::new(),
        };
        let first = cluster.next_line("BOOTSTRAP line");
        cluster.bootstrap = first
            .strip_prefix("BOOTSTRAP ")
            .unwrap_or_else(|| panic!("mock_cluster printed {first:?}, not BOOTSTRAP"))
            .to_string();
        cluster
    }

    /// `host:port,host:port,...` of all brokers.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// `host:port` of each broker; broker id `i` is at index `i - 1`.
    pub fn broker_addrs(&self) -> Vec<String> {
        self.bootstrap.split(',').map(str::to_string).collect()
    }

    /// The librdkafka version serving this mock, e.g. "2.0.2".
    pub fn librdkafka_version(&self) -> String {
        self.command("version")
    }

    /// Creates `name` with `partitions` partitions (replication min(3, brokers)).
    pub fn create_topic(&self, name: &str, partitions: u32) {
        self.command(&format!("topic {name} {partitions}"));
    }

    /// Makes `broker_id` the leader of `topic`/`partition` (-1: no leader).
    /// Creates the topic if missing.
    pub fn move_leader(&self, topic: &str, partition: i32, broker_id: i32) {
        self.command(&format!("leader {topic} {partition} {broker_id}"));
    }

    /// Closes the broker's connections and listener (-1: all brokers).
    /// Leadership does not move.
    pub fn broker_down(&self, broker_id: i32) {
        self.command(&format!("down {broker_id}"));
    }

    /// Reopens the broker's listener on the same port (-1: all brokers).
    pub fn broker_up(&self, broker_id: i32) {
        self.command(&format!("up {broker_id}"));
    }

    /// Makes the next `codes.len()` requests of `api_key` (any broker) fail
    /// with these Kafka error codes, in order. Metadata (3) ignores them in
    /// librdkafka's mock: see docs/test-cluster.md.
    pub fn push_errors(&self, api_key: i16, codes: &[i16]) {
        assert!(!codes.is_empty(), "push_errors needs at least one code");
        let codes: Vec<String> = codes.iter().map(i16::to_string).collect();
        self.command(&format!("errors {api_key} {}", codes.join(" ")));
    }

    /// Like `push_errors` for one broker; each entry is (error code, delay in
    /// ms before the response).
    pub fn push_broker_errors(&self, broker_id: i32, api_key: i16, errors: &[(i16, u32)]) {
        assert!(!errors.is_empty(), "push_broker_errors needs at least one error");
        let errs: Vec<String> = errors.iter().map(|(e, rtt)| format!("{e}:{rtt}")).collect();
        self.command(&format!("broker_errors {broker_id} {api_key} {}", errs.join(" ")));
    }

    /// Delays every response of `broker_id` (-1: all) by `ms`.
    pub fn set_rtt(&self, broker_id: i32, ms: u32) {
        self.command(&format!("rtt {broker_id} {ms}"));
    }

    /// Pins the coordinator of a consumer group (`kind` "group") or a
    /// transactional id (`kind` "transaction") to `broker_id`.
    pub fn set_coordinator(&self, kind: &str, key: &str, broker_id: i32) {
        self.command(&format!("coordinator {kind} {key} {broker_id}"));
    }

    /// Limits the versions the brokers offer for `api_key` (-1, -1: disable).
    pub fn set_api_version(&self, api_key: i16, min: i16, max: i16) {
        self.command(&format!("apiversion {api_key} {min} {max}"));
    }

    /// Sends one launcher command line (docs/test-cluster.md) and returns the
    /// text after `OK` (empty for most commands). Panics on `ERR`.
    pub fn command(&self, line: &str) -> String {
        self.try_command(line)
            .unwrap_or_else(|err| panic!("mock_cluster: {line:?} -> {err}"))
    }

    /// Like `command`, but returns the `ERR ...` answer as an error.
    /// Panics only if the launcher is gone or silent.
    pub fn try_command(&self, line: &str) -> Result<String, String> {
        assert!(!line.contains('\n'), "one command per call");
        let stdin = self.stdin.as_ref().expect("launcher stdin open");
        (&*stdin)
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| (&*stdin).flush())
            .unwrap_or_else(|e| panic!("mock_cluster gone ({e}) sending {line:?}"));
        let reply = self.next_line(line);
        match reply.strip_prefix("OK") {
            Some("") => Ok(String::new()),
            Some(rest) if rest.starts_with(' ') => Ok(rest[1..].to_string()),
            _ => Err(reply),
        }
    }

    fn next_line(&self, what: &str) -> String {
        match self.lines.recv_timeout(LAUNCHER_TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("mock_cluster: no answer within {LAUNCHER_TIMEOUT:?} to {what:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("mock_cluster exited before answering {what:?}")
            }
        }
    }
}

impl Drop for MockCluster {
    fn drop(&mut self) {
        // `quit`, then EOF for good measure (either ends the launcher); kill
        // it if it is still there after a while.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"quit\n");
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// ZooKeeper
// ---------------------------------------------------------------------------

/// A ZooKeeper server for this test process.
#[derive(Clone, Debug)]
pub struct ZkServer {
    addr: String,
}

impl ZkServer {
    /// `host:port` to connect to (no chroot).
    pub fn connect_string(&self) -> &str {
        &self.addr
    }
}

/// The ZooKeeper of this test process: `YK_TEST_ZOOKEEPER` if set, otherwise
/// one started on first use (on a free port, data under
/// target/test-zookeeper/zk-<pid>/) that lives until the process exits.
pub fn zookeeper() -> ZkServer {
    static SERVER: OnceLock<Result<ZkServer, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| match std::env::var("YK_TEST_ZOOKEEPER") {
            Ok(addr) if !addr.is_empty() => Ok(ZkServer { addr }),
            _ => start_zookeeper(),
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Spawns ZooKeeper from a thread that never ends before the process does:
/// PDEATHSIG fires when the *thread* that spawned the child exits.
fn start_zookeeper() -> Result<ZkServer, String> {
    let base = target_dir().join("test-zookeeper");
    remove_stale_zookeeper_dirs(&base);
    let dir = base.join(format!("zk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let log_path = dir.join("zookeeper.log");

    let (tx, rx) = mpsc::channel();
    let thread_dir = dir.clone();
    let thread_log = log_path.clone();
    std::thread::Builder::new()
        .name("zookeeper-owner".into())
        .spawn(move || {
            let spawned = (|| {
                let port = free_port()?;
                let log = std::fs::File::create(&thread_log).map_err(|e| e.to_string())?;
                let child = Command::new("setpriv")
                    .args(["--pdeathsig", "KILL", "--"])
                    .arg(repo_root().join("scripts/zookeeper.sh"))
                    .arg("run")
                    .arg(&thread_dir)
                    .arg(port.to_string())
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().map_err(|e| e.to_string())?)
                    .stderr(log)
                    .spawn()
                    .map_err(|e| format!("spawn setpriv (util-linux) for zookeeper.sh: {e}"))?;
                Ok::<_, String>((child, port))
            })();
            match spawned {
                Ok((mut child, port)) => {
                    let _ = tx.send(Ok((child.id(), port)));
                    let _ = child.wait();
                    // ZooKeeper ended before the process: nothing to keep alive.
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })
        .map_err(|e| e.to_string())?;

    let (pid, port) = rx.recv().map_err(|e| e.to_string())??;
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    while started.elapsed() < ZOOKEEPER_TIMEOUT {
        // A connection accepted while the server is still starting can stay
        // unanswered: give each attempt little time.
        if four_letter_word_within(&addr, "ruok", Duration::from_millis(250)).is_ok_and(|a| a == "imok") {
            return Ok(ZkServer { addr });
        }
        if !Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    Err(format!(
        "ZooKeeper did not answer on {addr} within {ZOOKEEPER_TIMEOUT:?}; log {}:\n{log}",
        log_path.display()
    ))
}

/// Removes data dirs of earlier test processes that are gone.
fn remove_stale_zookeeper_dirs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("zk-")) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Sends a ZooKeeper four-letter word and returns the whole answer.
pub fn four_letter_word(addr: &str, word: &str) -> std::io::Result<String> {
    // Generous: a JVM that just started can be slow to answer under load.
    four_letter_word_within(addr, word, Duration::from_secs(5))
}

fn four_letter_word_within(addr: &str, word: &str, timeout: Duration) -> std::io::Result<String> {
    let addr = addr
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.write_all(word.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// Creates a fresh chroot node for one test and returns the connect string
/// with it: `"<host:port>/yk-test-<name>-<pid>-<counter>"`.
pub fn zk_chroot(test_name: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let server = zookeeper();
    let name: String = test_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = format!(
        "/yk-test-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let addr = server.connect_string().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        use zookeeper_client::{Acls, Client, CreateMode};
        let client = Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&addr)
            .await
            .unwrap_or_else(|e| panic!("connect to ZooKeeper {addr}: {e}"));
        client
            .create(&path, b"", &CreateMode::Persistent.with_acls(Acls::anyone_all()))
            .await
            .unwrap_or_else(|e| panic!("create chroot {path} on {addr}: {e}"));
    });
    format!("{addr}{path}")
}
