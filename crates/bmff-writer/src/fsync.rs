//! Durability of what the adapters write: when they ask the operating system to put the
//! data on the storage device (`fsync`), and the one rule for segment files (written
//! whole under a temporary name, or removed).
//!
//! Every adapter hands each complete unit of output (a fragment, a segment, a plain-MP4
//! chunk) to the operating system as soon as it is complete, so a killed process loses
//! at most the unit being built. An `fsync` additionally survives a power cut or a kernel
//! crash, at the price of waiting for the device; [`FsyncPolicy`] says how often.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::vectored::write_all_vectored;

/// When an adapter makes written data durable (`fsync`, `File::sync_data`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FsyncPolicy {
    /// Never while writing. Each fragment, segment or chunk still reaches the operating
    /// system when complete (a killed process loses nothing written), but a power cut or
    /// kernel crash loses what the kernel had not written back yet (on Linux up to about
    /// 30 s, `vm.dirty_expire_centisecs`). The library default: the writers take any
    /// `Write`, and only files can be synced.
    #[default]
    Never,
    /// After every fragment ([`crate::FragmentedWriter`]), media segment
    /// ([`crate::SegmentFiles`]) or chunk ([`crate::Mp4Writer`], about 0.5 s per track).
    EachFragment,
    /// After the first fragment, segment or chunk written once this much wall-clock time
    /// has passed since the last `fsync`: bounds both the loss on a power cut and the
    /// number of `fsync`s per second, whatever the fragment length.
    Interval(Duration),
}

/// An output that can be made durable: files (and buffered files, flushed first).
pub trait SyncData: Write {
    /// Puts the data written so far on the storage device.
    fn sync_data(&mut self) -> io::Result<()>;
}

impl SyncData for File {
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
}

impl<W: SyncData> SyncData for BufWriter<W> {
    fn sync_data(&mut self) -> io::Result<()> {
        self.flush()?;
        self.get_mut().sync_data()
    }
}

/// Tells when a policy's next `fsync` is due. Reads the clock only for
/// [`FsyncPolicy::Interval`].
#[derive(Debug, Clone)]
pub struct FsyncSchedule {
    policy: FsyncPolicy,
    last: Option<Instant>,
}

impl FsyncSchedule {
    /// A schedule for `policy`; the first unit written is synced (unless `Never`).
    pub fn new(policy: FsyncPolicy) -> Self {
        Self { policy, last: None }
    }

    /// The policy.
    pub fn policy(&self) -> FsyncPolicy {
        self.policy
    }

    /// Called once a unit (fragment, segment, chunk) has been written: whether to sync it
    /// now. A `true` counts as done.
    pub fn due(&mut self) -> bool {
        match self.policy {
            FsyncPolicy::Never => false,
            FsyncPolicy::EachFragment => true,
            FsyncPolicy::Interval(every) => {
                let now = Instant::now();
                if self.last.is_some_and(|t| now.duration_since(t) < every) {
                    return false;
                }
                self.last = Some(now);
                true
            }
        }
    }
}

/// A writer's schedule and, when its output can be synced, how.
#[derive(Debug)]
pub(crate) struct Fsync<W> {
    schedule: FsyncSchedule,
    /// Set by `with_fsync`, where `W: SyncData` is known; the writers' other methods only
    /// need `W: Write`, so pipes and sockets keep working.
    sync: Option<fn(&mut W) -> io::Result<()>>,
}

impl<W> Fsync<W> {
    pub(crate) fn never() -> Self {
        Self {
            schedule: FsyncSchedule::new(FsyncPolicy::Never),
            sync: None,
        }
    }

    pub(crate) fn new(policy: FsyncPolicy) -> Self
    where
        W: SyncData,
    {
        Self {
            schedule: FsyncSchedule::new(policy),
            sync: Some(<W as SyncData>::sync_data),
        }
    }

    /// After a unit was written to `w`: syncs it when the policy says so.
    pub(crate) fn written(&mut self, w: &mut W) -> io::Result<()> {
        self.synced(w).map(drop)
    }

    /// Like `written`, telling whether it synced (a journal then follows the data).
    pub(crate) fn synced(&mut self, w: &mut W) -> io::Result<bool> {
        match self.sync {
            Some(sync) if self.schedule.due() => sync(w).map(|()| true),
            _ => Ok(false),
        }
    }
}

/// `.NAME.tmp` beside `path`: where [`write_segment_file`] writes before renaming.
pub fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes `parts` (vectored, not copied) to `path` whole or not at all: into
/// [`temporary_path`] first, synced when `fsync`, then renamed over `path`. On any
/// failure (a full disk, a failing device) the temporary file is removed, so neither a
/// half-written nor an empty file is left behind; a killed process can leave only the
/// hidden temporary file. Sync the directory too ([`sync_dir`]) for the new name itself
/// to survive a power cut.
pub fn write_segment_file(path: &Path, parts: &[Bytes], fsync: bool) -> io::Result<()> {
    let tmp = temporary_path(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        write_all_vectored(&mut f, parts)?;
        if fsync {
            f.sync_data()?;
        }
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: the write error is the one worth reporting.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes the names in `dir` durable (new files, renames): `fsync` on the directory.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_follow_the_policy() {
        let mut never = FsyncSchedule::new(FsyncPolicy::Never);
        assert!(!never.due() && !never.due());
        let mut each = FsyncSchedule::new(FsyncPolicy::EachFragment);
        assert!(each.due() && each.due());
        // An hour-long interval: the first unit is synced, the next ones not.
        let mut hourly = FsyncSchedule::new(FsyncPolicy::Interval(Duration::from_secs(3600)));
        assert!(hourly.due());
        assert!(!hourly.due() && !hourly.due());
        let mut always = FsyncSchedule::new(FsyncPolicy::Interval(Duration::ZERO));
        assert!(always.due() && always.due());
    }

    #[test]
    fn segment_files_are_whole_or_absent() {
        let dir = std::env::temp_dir().join(format!("bmff-fsync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("segment-1.m4s");
        let parts = [Bytes::from_static(b"moof"), Bytes::from_static(b"mdat")];
        write_segment_file(&path, &parts, true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"moofmdat");
        assert!(!temporary_path(&path).exists());
        // A directory that does not exist: the error comes back, nothing is left.
        let missing = dir.join("missing").join("segment-2.m4s");
        assert!(write_segment_file(&missing, &parts, false).is_err());
        assert!(!missing.exists() && !temporary_path(&missing).exists());
        sync_dir(&dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
