//! How a multiprocessing group balanced by Kafka's group protocol lends
//! its member identity to its worker processes (docs/consumer-groups.md,
//! "Worker processes under Kafka's group protocol"): the group is the one
//! member of the group, and its workers' commits must carry its member id,
//! generation (or member epoch) and group instance id, or the coordinator
//! refuses them.
//!
//! The group writes its generation to a file of its own, replaced whole
//! (written aside, then renamed) each time the member enters a generation
//! or leaves one, before the member's own commits see it. A worker reads
//! the file before each of its commits ([`WorkerMembership`], its
//! consumer's commit gate) and commits with what it read; between
//! generations, or once the group is gone, its commits are refused before
//! they are sent. Owns the file and its private directory, removed when
//! the group's run ends.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::consumer::CommitGate;
use crate::error::{Error, ErrorCode, Result};
use crate::kafka::coordinator::{Generation, MemberGeneration};

/// Numbers the membership files of one process.
static NEXT_FILE: AtomicU64 = AtomicU64::new(1);

const GENERATION_ID: &str = "generation_id";
const MEMBER_ID: &str = "member_id";
const GROUP_INSTANCE_ID: &str = "group_instance_id";

/// The group's side: the file its workers read, removed on drop.
pub(crate) struct MembershipFile {
    directory: PathBuf,
    path: PathBuf,
}

impl MembershipFile {
    /// A new file in a directory only this user may read, saying "between
    /// generations" until [`MembershipFile::follow`] names one.
    pub(crate) fn create() -> Result<MembershipFile> {
        use std::os::unix::fs::DirBuilderExt;
        let directory = std::env::temp_dir().join(format!(
            "yk-membership-{}-{}",
            std::process::id(),
            NEXT_FILE.fetch_add(1, Ordering::Relaxed)
        ));
        // A directory of a dead process that had our pid holds nothing of ours.
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&directory)
            .map_err(|e| cannot_write(&directory, &e))?;
        let file = MembershipFile {
            path: directory.join("generation"),
            directory,
        };
        write(&file.path, None)?;
        Ok(file)
    }

    /// Where the workers read it.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes every generation `member` enters, from now on (on the
    /// member's task: a small file, replaced by a rename). A file that
    /// cannot be written is removed, so that the workers' commits are
    /// refused rather than sent with an old generation.
    pub(crate) fn follow(&self, member: &MemberGeneration) {
        let path = self.path.clone();
        member.watch(Box::new(move |generation| {
            if write(&path, generation).is_err() {
                let _ = std::fs::remove_file(&path);
            }
        }));
    }
}

impl Drop for MembershipFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

fn cannot_write(path: &Path, error: &std::io::Error) -> Error {
    Error::new(
        ErrorCode::ConsumerGroup,
        format!("cannot write the workers' membership file {}: {error}", path.display()),
    )
}

/// Replaces the file whole, so that a reader sees the old or the new text.
fn write(path: &Path, generation: Option<&Generation>) -> Result<()> {
    let aside = path.with_extension("new");
    std::fs::write(&aside, encode(generation))
        .and_then(|()| std::fs::rename(&aside, path))
        .map_err(|e| cannot_write(path, &e))
}

fn encode(generation: Option<&Generation>) -> String {
    let Some(generation) = generation else {
        return String::new();
    };
    let mut text = format!(
        "{GENERATION_ID}={}\n{MEMBER_ID}={}\n",
        generation.generation_id, generation.member_id
    );
    if let Some(instance) = &generation.group_instance_id {
        text.push_str(&format!("{GROUP_INSTANCE_ID}={instance}\n"));
    }
    text
}

/// An empty text is "between generations".
fn decode(text: &str) -> Result<Option<Generation>> {
    if text.is_empty() {
        return Ok(None);
    }
    let malformed = || {
        Error::new(
            ErrorCode::OffsetCommit,
            format!("the group's membership file is malformed: {text:?}"),
        )
    };
    let (mut generation_id, mut member_id, mut group_instance_id) = (None, None, None);
    for line in text.lines() {
        match line.split_once('=').ok_or_else(malformed)? {
            (GENERATION_ID, value) => generation_id = Some(value.parse::<i32>().map_err(|_| malformed())?),
            (MEMBER_ID, value) => member_id = Some(value.to_string()),
            (GROUP_INSTANCE_ID, value) => group_instance_id = Some(value.to_string()),
            _ => return Err(malformed()),
        }
    }
    Ok(Some(Generation {
        generation_id: generation_id.ok_or_else(malformed)?,
        member_id: member_id.ok_or_else(malformed)?,
        group_instance_id,
    }))
}

/// A worker's side: before each commit, the generation its consumer's
/// commits carry is read from the group's file.
pub(crate) struct WorkerMembership {
    path: PathBuf,
    generation: Arc<MemberGeneration>,
}

impl WorkerMembership {
    /// Reads `path` for commits that carry `generation`.
    pub(crate) fn new(path: PathBuf, generation: Arc<MemberGeneration>) -> WorkerMembership {
        WorkerMembership { path, generation }
    }
}

impl CommitGate for WorkerMembership {
    fn may_commit(&self) -> Result<()> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| {
            Error::new(
                ErrorCode::OffsetCommit,
                format!(
                    "not committing: the group's membership file {} cannot be read ({e}); the group is gone",
                    self.path.display()
                ),
            )
        })?;
        let generation = decode(&text)?;
        let between = generation.is_none();
        self.generation.set(generation);
        if between {
            return Err(Error::new(
                ErrorCode::OffsetCommit,
                "not committing: the group's member is between generations, the partition may be another member's",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generation_reads_back_as_written() {
        let generation = Generation {
            generation_id: 7,
            member_id: "rdkafka-0b9c=x".into(),
            group_instance_id: Some("static-1".into()),
        };
        assert_eq!(decode(&encode(Some(&generation))).unwrap(), Some(generation.clone()));
        let dynamic = Generation {
            group_instance_id: None,
            ..generation
        };
        assert_eq!(decode(&encode(Some(&dynamic))).unwrap(), Some(dynamic));
        assert_eq!(decode(&encode(None)).unwrap(), None);
        assert!(decode("generation_id=x\nmember_id=m\n").is_err());
        assert!(decode("member_id=m\n").is_err());
    }

    #[test]
    fn a_worker_commits_with_the_generation_the_group_entered_last() {
        let file = MembershipFile::create().unwrap();
        let member = MemberGeneration::default();
        file.follow(&member);
        let worker = WorkerMembership::new(file.path().to_path_buf(), Arc::new(MemberGeneration::default()));
        assert_eq!(worker.may_commit().unwrap_err().code(), ErrorCode::OffsetCommit);
        let generation = Generation {
            generation_id: 3,
            member_id: "m".into(),
            group_instance_id: None,
        };
        member.set(Some(generation.clone()));
        worker.may_commit().unwrap();
        assert_eq!(worker.generation.current(), Some(generation));
        member.set(None);
        assert!(worker.may_commit().is_err());
        assert_eq!(worker.generation.current(), None);
        let directory = file.directory.clone();
        drop(file);
        assert!(!directory.exists());
        assert!(worker.may_commit().is_err(), "the group is gone");
    }
}
