//! Process workers: the group starts the application's worker program once
//! per partition, with the partition, the group and the cluster in its
//! environment; [`consumer_from_env`] turns that environment into a ready
//! simple consumer inside the worker. A worker asked to stop gets SIGTERM,
//! and SIGKILL when it outlives the group's patience. While its group may
//! not deliver (the session in doubt, docs/consumer-groups.md) a worker is
//! held with SIGSTOP, and SIGCONT lets it go on. Under Kafka's group
//! protocol a worker also gets the path of the group's membership file,
//! and its commits carry the generation read there (`membership_file`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::config::{ClusterConfig, Config};
use crate::consumer::{Consumer, ConsumerConfig, Subscription};
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::coordinator::MemberGeneration;
use crate::topic_partition::TopicPartition;

use super::membership_file::WorkerMembership;

/// The environment a worker program receives.
pub const ENV_TOPIC: &str = "YK_WORKER_TOPIC";
/// The partition (decimal).
pub const ENV_PARTITION: &str = "YK_WORKER_PARTITION";
/// The group id.
pub const ENV_GROUP_ID: &str = "YK_WORKER_GROUP_ID";
/// The cluster's type.
pub const ENV_CLUSTER_TYPE: &str = "YK_WORKER_CLUSTER_TYPE";
/// The cluster's name.
pub const ENV_CLUSTER_NAME: &str = "YK_WORKER_CLUSTER_NAME";
/// The cluster's brokers, comma-separated.
pub const ENV_BROKER_LIST: &str = "YK_WORKER_BROKER_LIST";
/// The cluster's ZooKeeper connect string.
pub const ENV_ZOOKEEPER: &str = "YK_WORKER_ZOOKEEPER";
/// The consumer configuration the group was given, one `key=value` a line.
pub const ENV_CONFIG: &str = "YK_WORKER_CONFIG";
/// The process id of the group that started the worker.
pub const ENV_GROUP_PID: &str = "YK_WORKER_GROUP_PID";
/// Under Kafka's group protocol: the file holding the group member's
/// generation, which the worker's commits carry.
pub const ENV_MEMBERSHIP: &str = "YK_WORKER_MEMBERSHIP";

/// How often a worker checks that its group is still alive.
const ORPHAN_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// A running worker process.
pub struct ProcessWorker {
    child: Child,
    /// Held with SIGSTOP by the group.
    held: bool,
}

impl ProcessWorker {
    /// Starts `command` for `partition`; its commits carry the
    /// generation written to `membership`, when the group has one.
    pub fn start(
        command: &[String],
        config: &ConsumerConfig,
        partition: &TopicPartition,
        membership: Option<&Path>,
    ) -> Result<ProcessWorker> {
        let cluster = config.cluster();
        let mut program = Command::new(&command[0]);
        match membership {
            Some(path) => program.env(ENV_MEMBERSHIP, path),
            None => program.env_remove(ENV_MEMBERSHIP),
        };
        let child = program
            .args(&command[1..])
            .env(ENV_TOPIC, partition.topic.as_str())
            .env(ENV_PARTITION, partition.partition.to_string())
            .env(ENV_GROUP_ID, config.group_id())
            .env(ENV_CLUSTER_TYPE, cluster.cluster_type())
            .env(ENV_CLUSTER_NAME, cluster.name())
            .env(ENV_BROKER_LIST, cluster.broker_list().join(","))
            .env(ENV_ZOOKEEPER, cluster.zookeeper())
            .env(ENV_CONFIG, encode_config(config.values()))
            .env(ENV_GROUP_PID, std::process::id().to_string())
            .spawn()
            .map_err(|e| {
                Error::new(
                    ErrorCode::ConsumerGroup,
                    format!("cannot start worker {:?}: {e}", command[0]),
                )
            })?;
        Ok(ProcessWorker { child, held: false })
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (and was reaped; `Child` keeps the
    /// status once it has it).
    pub fn has_ended(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGSTOP while `hold`, SIGCONT when no longer: the group pauses its
    /// workers while it may not deliver, as the plain group stops handing
    /// out (docs/consumer-groups.md, "Workers while ZooKeeper is in doubt").
    pub fn hold(&mut self, hold: bool) {
        if hold != self.held && !self.has_ended() {
            let signal = if hold { Signal::SIGSTOP } else { Signal::SIGCONT };
            let _ = kill(self.process_id(), signal);
            self.held = hold;
        }
    }

    /// SIGTERM: the worker should finish its message, commit and exit; a
    /// held worker is let go (SIGCONT) to do so.
    pub fn request_stop(&mut self) {
        if !self.has_ended() {
            let _ = kill(self.process_id(), Signal::SIGTERM);
            self.hold(false);
        }
    }

    fn process_id(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// SIGKILL, and reap.
    pub fn kill(mut self) {
        if !self.has_ended() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Checks a worker command before any worker starts.
pub fn check_command(command: &[String]) -> Result<()> {
    match command.first() {
        Some(program) if !program.is_empty() => Ok(()),
        _ => Err(Error::invalid_argument("the worker command is empty")),
    }
}

/// The configuration must travel through one environment variable, a line a key.
pub fn check_config(config: &ConsumerConfig) -> Result<()> {
    let values = config.values();
    for key in values.keys() {
        if values.get(key).is_some_and(|v| v.contains('\n')) {
            return Err(Error::configuration(format!(
                "configuration key {key:?}: a value with a line break cannot be passed to worker processes"
            )));
        }
    }
    Ok(())
}

fn encode_config(values: &Config) -> String {
    values
        .keys()
        .map(|key| format!("{key}={}\n", values.get(key).unwrap_or_default()))
        .collect()
}

/// Inside a worker program: the simple consumer of the partition the group
/// started this process for, with the group's configuration and offsets
/// (not yet connected); under Kafka's group protocol its commits carry the
/// group member's generation, read from the group's file before each
/// commit. A missing or malformed variable is a `ConfigurationError`.
///
/// The worker exits when its group's process is gone (it was killed, say):
/// nobody else would stop it, and the partition will be another member's.
pub fn consumer_from_env() -> Result<Consumer> {
    let var = |name: &str| {
        std::env::var(name)
            .map_err(|_| Error::configuration(format!("{name} is not set: this is not a worker of a group")))
    };
    let partition: i32 = var(ENV_PARTITION)?
        .parse()
        .map_err(|_| Error::configuration(format!("{ENV_PARTITION} is not a partition number")))?;
    let cluster = ClusterConfig::from_broker_string(
        &var(ENV_CLUSTER_TYPE)?,
        &var(ENV_CLUSTER_NAME)?,
        &var(ENV_BROKER_LIST)?,
        &var(ENV_ZOOKEEPER)?,
    )?;
    let mut values = Config::new();
    for line in var(ENV_CONFIG)?.lines().filter(|line| !line.is_empty()) {
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| Error::configuration(format!("{ENV_CONFIG} line {line:?} is not key=value")))?;
        values.set(key, value)?;
    }
    let config = ConsumerConfig::new(&var(ENV_GROUP_ID)?, &cluster, &values)?;
    let subscription = Subscription::Topic {
        topic: var(ENV_TOPIC)?,
        partitions: Some(vec![partition]),
    };
    let consumer = Consumer::new(subscription, config)?;
    if let Some(path) = std::env::var_os(ENV_MEMBERSHIP) {
        let generation = Arc::new(MemberGeneration::default());
        consumer.commit_as_member(Arc::clone(&generation));
        consumer.set_commit_gate(Arc::new(WorkerMembership::new(PathBuf::from(path), generation)));
    } else if consumer.config().kafka_group.is_some() {
        return Err(Error::configuration(format!(
            "{ENV_MEMBERSHIP} is not set: a worker of a group balanced by Kafka commits with the group's generation"
        )));
    }
    let group_pid: u32 = var(ENV_GROUP_PID)?
        .parse()
        .map_err(|_| Error::configuration(format!("{ENV_GROUP_PID} is not a process id")))?;
    exit_when_orphaned(group_pid)?;
    Ok(consumer)
}

/// Watches the parent process once per interval; exits this process when
/// it is no longer `group_pid`.
fn exit_when_orphaned(group_pid: u32) -> Result<()> {
    if std::os::unix::process::parent_id() != group_pid {
        return Err(Error::configuration(format!(
            "this worker's group (process {group_pid}) is gone"
        )));
    }
    std::thread::Builder::new()
        .name("yk-worker-orphan-watch".into())
        .spawn(move || loop {
            std::thread::sleep(ORPHAN_CHECK_INTERVAL);
            if std::os::unix::process::parent_id() != group_pid {
                std::process::exit(1);
            }
        })
        .map(|_| ())
        .map_err(|e| Error::new(ErrorCode::Internal, format!("cannot start the orphan watch: {e}")))
}
