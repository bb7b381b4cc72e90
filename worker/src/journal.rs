//! The deltas of one attempt on disk: every delta is appended to `DATA/deltas/J-T-A.log` before
//! it is sent, and the acknowledged watermark is kept beside it (`J-T-A.acked`), so a worker
//! restarted on the same data directory still delivers what its previous process measured
//! (`docs/design.md#late-deltas`). A SIGKILL loses only what was not appended yet, at most the
//! interval being measured. Writes are not synced: a process crash keeps them, a power loss
//! may not.
//!
//! Frame: sequence number (u64, little-endian), length (u32, little-endian), encoded delta. A
//! torn last frame (the process died while appending) is ignored when read back.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use broadside_rpc::worker::{Delta, TaskRef, MAX_DELTA_BYTES};
use broadside_rpc::Payload;
use parking_lot::Mutex;

/// The journal of one attempt.
#[derive(Debug)]
pub(crate) struct Journal {
    log: PathBuf,
    acked: PathBuf,
    file: Mutex<Option<File>>,
}

fn stem(t: TaskRef) -> String {
    format!("{}-{}-{}", t.job_id, t.task, t.attempt)
}

fn parse_stem(stem: &str) -> Option<TaskRef> {
    let mut parts = stem.split('-').map(str::parse::<u64>);
    let (job_id, task, attempt) = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    if parts.next().is_some() {
        return None;
    }
    Some(TaskRef {
        job_id,
        task: u32::try_from(task).ok()?,
        attempt: u32::try_from(attempt).ok()?,
    })
}

impl Journal {
    /// The journal of `task` in `dir` (created when the first delta is appended).
    pub(crate) fn new(dir: &Path, task: TaskRef) -> Journal {
        let stem = stem(task);
        Journal {
            log: dir.join(format!("{stem}.log")),
            acked: dir.join(format!("{stem}.acked")),
            file: Mutex::new(None),
        }
    }

    /// Appends one delta (the first append starts the file afresh: a journal of the same name
    /// from another cluster's job is not this attempt's).
    pub(crate) fn append(&self, delta: &Delta) -> io::Result<()> {
        let mut file = self.file.lock();
        if file.is_none() {
            if let Some(dir) = self.log.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let opened = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)?;
            opened.set_len(0)?;
            *file = Some(opened);
        }
        let data = &delta.data.0;
        let mut frame = Vec::with_capacity(12 + data.len());
        frame.extend_from_slice(&delta.seq.to_le_bytes());
        frame.extend_from_slice(&(data.len() as u32).to_le_bytes());
        frame.extend_from_slice(data);
        file.as_mut().expect("opened above").write_all(&frame)
    }

    /// Records that every delta up to `up_to` is acknowledged.
    pub(crate) fn acked(&self, up_to: u64) -> io::Result<()> {
        let tmp = self.acked.with_extension("acked.tmp");
        std::fs::write(&tmp, up_to.to_string())?;
        std::fs::rename(&tmp, &self.acked)
    }

    /// Empties the log once every delta in it is acknowledged, so that a long run's journal
    /// holds only what is pending (appends go on at its new end).
    pub(crate) fn clear(&self) -> io::Result<()> {
        match self.file.lock().as_ref() {
            Some(file) => file.set_len(0),
            None => Ok(()),
        }
    }

    /// Removes the journal (every delta acknowledged, or the attempt forgotten).
    pub(crate) fn remove(&self) {
        *self.file.lock() = None;
        for path in [&self.log, &self.acked] {
            if let Err(e) = std::fs::remove_file(path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "journal not removed");
                }
            }
        }
    }
}

/// The unacknowledged deltas of one journal, oldest first.
fn read_unacknowledged(log: &Path, acked: &Path) -> io::Result<Vec<Delta>> {
    let up_to: u64 = match std::fs::read_to_string(acked) {
        Ok(text) => text.trim().parse().unwrap_or(0),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    File::open(log)?.read_to_end(&mut bytes)?;
    let mut deltas = Vec::new();
    let mut rest = bytes.as_slice();
    while rest.len() >= 12 {
        let seq = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(rest[8..12].try_into().expect("4 bytes")) as usize;
        if len > MAX_DELTA_BYTES || rest.len() < 12 + len {
            break;
        }
        if seq > up_to {
            deltas.push(Delta {
                seq,
                data: Payload(rest[12..12 + len].to_vec()),
            });
        }
        rest = &rest[12 + len..];
    }
    Ok(deltas)
}

/// Every journal left in `dir` by an earlier process, with its unacknowledged deltas; journals
/// with nothing left are removed.
pub(crate) fn recover(dir: &Path) -> Vec<(TaskRef, Journal, Vec<Delta>)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::error!(dir = %dir.display(), error = %e, "kept deltas unreadable");
            return Vec::new();
        }
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("log") {
            continue;
        }
        let Some(task) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(parse_stem)
        else {
            continue;
        };
        let journal = Journal::new(dir, task);
        match read_unacknowledged(&journal.log, &journal.acked) {
            Ok(deltas) if deltas.is_empty() => journal.remove(),
            Ok(deltas) => found.push((task, journal, deltas)),
            Err(e) => tracing::error!(path = %path.display(), error = %e, "kept deltas unreadable"),
        }
    }
    found.sort_by_key(|(t, ..)| *t);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(seq: u64) -> Delta {
        Delta {
            seq,
            data: Payload(vec![seq as u8; 3]),
        }
    }

    #[test]
    fn a_journal_gives_back_what_was_not_acknowledged_and_ignores_a_torn_frame() {
        let dir = tempfile::tempdir().unwrap();
        let task = TaskRef {
            job_id: 7,
            task: 1,
            attempt: 2,
        };
        let journal = Journal::new(dir.path(), task);
        for seq in 1..=4 {
            journal.append(&delta(seq)).unwrap();
        }
        journal.acked(2).unwrap();
        // The process dies in the middle of appending the fifth.
        let mut file = OpenOptions::new().append(true).open(&journal.log).unwrap();
        file.write_all(&5u64.to_le_bytes()).unwrap();
        file.write_all(&3u32.to_le_bytes()).unwrap();
        file.write_all(&[5]).unwrap();
        drop(journal);

        let found = recover(dir.path());
        assert_eq!(found.len(), 1);
        let (t, journal, deltas) = &found[0];
        assert_eq!(*t, task);
        assert_eq!(deltas, &vec![delta(3), delta(4)]);
        journal.acked(4).unwrap();
        assert!(
            recover(dir.path()).is_empty(),
            "fully acknowledged: removed"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn foreign_files_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.log"), b"x").unwrap();
        std::fs::write(dir.path().join("1-2.log"), b"x").unwrap();
        assert!(recover(dir.path()).is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
