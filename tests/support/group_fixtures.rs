//! What the partitioner and consumer-group tests share: Python kazoo's
//! `SetPartitioner` as an independent peer, a private ZooKeeper that a test
//! may stop, and reading the group's nodes back from ZooKeeper.
//!
//! Declared by each test file with `#[path = "support/group_fixtures.rs"]`.
#![allow(dead_code)] // each test file uses a different part of this module

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A kazoo `SetPartitioner` driven the way the Python `yelp_kafka` drives
/// it: it releases when told to, reports every acquisition with kazoo's
/// own split of the set for every member it sees, and leaves the party
/// (`finish`) when its stdin closes.
const KAZOO_PEER: &str = r#"
import sys, threading
from kazoo.client import KazooClient

hosts, path, cooldown, partitions = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4].split(",")
client = KazooClient(hosts=hosts)
client.start(timeout=15)
partitioner = client.SetPartitioner(path=path, set=set(partitions), time_boundary=cooldown)
print("IDENTIFIER " + partitioner._identifier, flush=True)
leaving = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), leaving.set()), daemon=True).start()
reported = None
while not leaving.is_set():
    if partitioner.failed:
        print("FAILURE", flush=True)
        break
    elif partitioner.release:
        partitioner.release_set()
        print("RELEASED", flush=True)
    elif partitioner.acquired:
        if reported != partitioner.state_id:
            reported = partitioner.state_id
            members = list(partitioner._party)
            fields = ["ACQUIRED", ",".join(partitioner)]
            for member in members:
                fields += [member, ",".join(partitioner._partitioner(member, members, partitioner._set))]
            print("\t".join(fields), flush=True)
        leaving.wait(0.05)
    elif partitioner.allocating:
        partitioner.wait_for_acquire(0.1)
partitioner.finish()
client.stop()
print("LEFT", flush=True)
"#;

/// One acquisition a kazoo peer reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KazooAcquisition {
    /// What the peer acquired.
    pub mine: Vec<String>,
    /// kazoo's split of the set for every member the peer saw.
    pub split: BTreeMap<String, Vec<String>>,
}

/// A Python kazoo `SetPartitioner` in its own process.
pub struct KazooPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    identifier: String,
}

impl KazooPeer {
    /// Joins the party at `path` (relative to the chroot of `hosts`, as the
    /// Python library passes it) to split `partitions`.
    pub fn start(hosts: &str, path: &str, cooldown: Duration, partitions: &[String]) -> KazooPeer {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(KAZOO_PEER)
            .arg(hosts)
            .arg(path)
            .arg(cooldown.as_secs_f64().to_string())
            .arg(partitions.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run python3 with kazoo (scripts/setup.sh installs it)");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = KazooPeer {
            child,
            stdin,
            lines,
            identifier: String::new(),
        };
        let first = peer.next_line(Duration::from_secs(20)).expect("kazoo peer started");
        peer.identifier = first
            .strip_prefix("IDENTIFIER ")
            .unwrap_or_else(|| panic!("kazoo peer printed {first:?}"))
            .to_string();
        peer
    }

    /// kazoo's identifier for this member (`<fqdn>-<pid>`).
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    fn next_line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The next acquisition the peer reports within `timeout`, skipping
    /// release lines; `None` when none comes.
    pub fn next_acquisition(&self, timeout: Duration) -> Option<KazooAcquisition> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.next_line(deadline.saturating_duration_since(Instant::now()))?;
            if let Some(fields) = line.strip_prefix("ACQUIRED\t") {
                return Some(parse_acquisition(fields));
            }
            assert_ne!(line, "FAILURE", "the kazoo peer failed");
        }
    }

    /// Leaves the party (kazoo's `finish`) and waits for the process.
    pub fn leave(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for KazooPeer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `<mine>\t<member>\t<its share>...`, lists comma-separated.
fn parse_acquisition(fields: &str) -> KazooAcquisition {
    let list = |text: &str| -> Vec<String> { text.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect() };
    let fields: Vec<&str> = fields.split('\t').collect();
    assert!(fields.len() % 2 == 1, "unexpected kazoo peer output {fields:?}");
    KazooAcquisition {
        mine: list(fields[0]),
        split: fields[1..]
            .chunks(2)
            .map(|pair| (pair[0].to_string(), list(pair[1])))
            .collect(),
    }
}

/// A ZooKeeper of the test's own (scripts/zookeeper.sh), for tests that
/// stop it; never the shared one. Stopped on drop.
pub struct PrivateZookeeper {
    dir: PathBuf,
    port: u16,
}

impl PrivateZookeeper {
    /// Starts one on a free port, data under target/private-zookeeper/<name>-<pid>.
    pub fn start(name: &str) -> PrivateZookeeper {
        let dir = super::support::target_dir()
            .join("private-zookeeper")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create private ZooKeeper dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let zookeeper = PrivateZookeeper { dir, port };
        zookeeper.run("start");
        zookeeper
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the server (members lose their connection).
    pub fn stop(&self) {
        self.run("stop");
    }

    /// Starts it again on the same port and data.
    pub fn restart(&self) {
        self.run("start");
    }

    fn run(&self, command: &str) {
        let output = Command::new(super::support::repo_root().join("scripts/zookeeper.sh"))
            .arg(command)
            .arg(&self.dir)
            .arg(self.port.to_string())
            .output()
            .expect("run scripts/zookeeper.sh");
        assert!(
            output.status.success(),
            "zookeeper.sh {command} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivateZookeeper {
    fn drop(&mut self) {
        let _ = Command::new(super::support::repo_root().join("scripts/zookeeper.sh"))
            .arg("stop")
            .arg(&self.dir)
            .arg(self.port.to_string())
            .output();
    }
}

/// A local port where nothing listens (connects are refused, as with a
/// ZooKeeper that is down) until [`ForwardingPort::open`] makes it forward
/// every connection to a real server. Opening a listener takes no time,
/// unlike starting a server, so a test controls exactly when the server
/// "comes back".
pub struct ForwardingPort {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl ForwardingPort {
    /// A free port, closed.
    pub fn closed() -> ForwardingPort {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        ForwardingPort {
            port,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Listens from now on and forwards each connection to `target`.
    pub fn open(&self, target: &str) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("bind the forwarding port");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let (stop, target) = (Arc::clone(&self.stop), target.to_string());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).expect("blocking stream");
                        let Ok(server) = TcpStream::connect(&target) else {
                            continue;
                        };
                        for (mut from, mut to) in [
                            (client.try_clone().unwrap(), server.try_clone().unwrap()),
                            (server, client),
                        ] {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(std::net::Shutdown::Both);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }
}

impl Drop for ForwardingPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Lock directory (partition name) → its contenders' names and data.
pub type LockContenders = BTreeMap<String, Vec<(String, Vec<u8>)>>;

/// Reads the group's nodes from ZooKeeper at `address` (no chroot):
/// the party's children and the lock contenders.
pub fn group_nodes(address: &str, group_path: &str) -> (Vec<String>, LockContenders) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let client = zookeeper_client::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(address)
            .await
            .expect("connect to ZooKeeper");
        let party = client
            .list_children(&format!("{group_path}/party"))
            .await
            .expect("party");
        let mut locks = BTreeMap::new();
        let locks_path = format!("{group_path}/locks");
        for partition in client.list_children(&locks_path).await.expect("locks") {
            let directory = format!("{locks_path}/{partition}");
            let mut contenders = Vec::new();
            for child in client.list_children(&directory).await.expect("lock contenders") {
                if let Ok((data, _)) = client.get_data(&format!("{directory}/{child}")).await {
                    contenders.push((child, data));
                }
            }
            locks.insert(partition, contenders);
        }
        (party, locks)
    })
}

/// In a member process: a flag that turns true when the test writes a line
/// to the member's stdin (or closes it), asking it to leave its group.
pub fn leave_on_stdin_line() -> Arc<AtomicBool> {
    let leaving = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&leaving);
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        flag.store(true, Ordering::SeqCst);
    });
    leaving
}
