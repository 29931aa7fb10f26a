//! The thin I/O side of retention: list each camera's finished segments, measure the
//! store's free space (`statvfs` through `rustix`), delete what [`crate::retention::plan`]
//! chose, and log each decision.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::config::{CameraConfig, CameraRetention, Config};
use crate::error::Error;
use crate::retention::{self, DiskSpace, FinishedSegment};

/// What one retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionReport {
    /// Segments deleted, per camera.
    pub deleted: BTreeMap<String, u64>,
    /// Bytes deleted.
    pub bytes: u64,
    /// Free bytes after the pass (`None`: unknown).
    pub free: Option<u64>,
    /// The store is still below its free-space floor and nothing is left to delete.
    pub still_short: bool,
}

/// Lists the finished segments (`*.mp4`, `*.mkv`; files being written end in `.partial`)
/// below each camera's own directory.
pub fn finished_segments(config: &Config) -> Vec<FinishedSegment> {
    let mut out = Vec::new();
    for camera in &config.cameras {
        let dir = camera.directory(&config.store.root);
        walk(&dir, &mut |path, meta| {
            if path.extension().is_some_and(|e| e == "mp4" || e == "mkv") {
                out.push(FinishedSegment {
                    camera: camera.name.clone(),
                    path: path.to_path_buf(),
                    bytes: meta.len(),
                    finished: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        });
    }
    out
}

/// Every regular file below `dir` (a missing or unreadable directory has none).
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path, &std::fs::Metadata)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let path = entry.path();
        if meta.is_dir() {
            walk(&path, visit);
        } else if meta.is_file() {
            visit(&path, &meta);
        }
    }
}

/// Free and total bytes of the file system holding `path` (its nearest existing ancestor).
pub fn disk_space(path: &Path) -> Result<DiskSpace, Error> {
    let existing: PathBuf = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"))
        .to_path_buf();
    let stat = rustix::fs::statvfs(&existing)
        .map_err(|e| Error::store(format!("statvfs {}", existing.display()), e.into()))?;
    Ok(DiskSpace {
        free: stat.f_bavail.saturating_mul(stat.f_frsize),
        total: stat.f_blocks.saturating_mul(stat.f_frsize),
    })
}

/// One retention pass over the store: plan, delete, log.
pub fn enforce(config: &Config) -> RetentionReport {
    let segments = finished_segments(config);
    let limits: BTreeMap<String, CameraRetention> = config
        .cameras
        .iter()
        .map(|c| (c.name.clone(), c.retention))
        .collect();
    let store_limited =
        config.store.min_free_bytes.is_some() || config.store.min_free_percent.is_some();
    let disk = if store_limited {
        match disk_space(&config.store.root) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::warn!("retention: {e}");
                None
            }
        }
    } else {
        None
    };
    let mut report = RetentionReport::default();
    for deletion in retention::plan(&segments, &limits, &config.store, disk, SystemTime::now()) {
        let s = &deletion.segment;
        match std::fs::remove_file(&s.path) {
            Ok(()) => {
                tracing::info!(camera = %s.camera, file = %s.path.display(), bytes = s.bytes, "retention: deleted ({})", deletion.reason);
                *report.deleted.entry(s.camera.clone()).or_default() += 1;
                report.bytes = report.bytes.saturating_add(s.bytes);
            }
            // Deleted meanwhile by someone else: what we wanted.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(camera = %s.camera, file = %s.path.display(), "retention: deleting failed: {e}");
            }
        }
    }
    if let Some(before) = disk {
        let after = disk_space(&config.store.root).map_or(before, |d| d);
        report.free = Some(after.free);
        report.still_short = after.free < retention::free_floor(&config.store, after);
        if report.still_short {
            tracing::warn!(
                free = after.free,
                "retention: the store is below its free-space floor and no finished segment is left to delete"
            );
        }
    }
    report
}

/// Recovers every `.partial` left in the cameras' directories (a previous run was killed):
/// see [`recover_camera`]. Returns the files recovered.
pub fn recover_leftovers(config: &Config) -> Vec<PathBuf> {
    config
        .cameras
        .iter()
        .flat_map(|c| recover_camera(c, &config.store.root))
        .collect()
}

/// Recovers the `.partial` files in one camera's directory; call it only while none of
/// the camera's files is being written (at start, or after its pipeline ended). Fragmented
/// files are cut after their last complete fragment and renamed; plain ones rebuilt from
/// their index journal; empty ones (nothing reached the disk) are removed; the others are
/// logged and left. A journal whose `.partial` is gone (a kill after a rebuild removed
/// the `.partial` but before its journal) is removed.
pub fn recover_camera(camera: &CameraConfig, root: &Path) -> Vec<PathBuf> {
    let mut partials = Vec::new();
    let mut journals = Vec::new();
    walk(&camera.directory(root), &mut |path, meta| {
        if path.extension().is_some_and(|e| e == "partial") {
            partials.push((path.to_path_buf(), meta.len()));
        } else if path.to_string_lossy().ends_with(".partial.idx") {
            journals.push(path.to_path_buf());
        }
    });
    for journal in journals {
        let partial = journal.with_extension("");
        if !partial.exists() {
            match std::fs::remove_file(&journal) {
                Ok(()) => {
                    tracing::info!(camera = %camera.name, file = %journal.display(), "removed an index journal without its file")
                }
                Err(e) => {
                    tracing::warn!(camera = %camera.name, file = %journal.display(), "removing an orphan index journal failed: {e}")
                }
            }
        }
    }
    let mut recovered = Vec::new();
    for (partial, len) in partials {
        if len == 0 {
            // A plain recording's journal goes with it.
            let _ = std::fs::remove_file(pipeline::journal_path(&partial));
            match std::fs::remove_file(&partial) {
                Ok(()) => {
                    tracing::info!(camera = %camera.name, file = %partial.display(), "removed an empty file left by an ended pipeline")
                }
                Err(e) => {
                    tracing::warn!(camera = %camera.name, file = %partial.display(), "removing an empty leftover failed: {e}")
                }
            }
            continue;
        }
        match crate::recovery::recover(&partial) {
            Ok(r) => {
                tracing::info!(camera = %camera.name, file = %r.path.display(), fragments = r.fragments, clusters = r.clusters, dropped_bytes = r.dropped_bytes, "recovered a file left by an ended pipeline");
                recovered.push(r.path);
            }
            Err(e) => tracing::warn!(camera = %camera.name, "{e}"),
        }
    }
    recovered
}
