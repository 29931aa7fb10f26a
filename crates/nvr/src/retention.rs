//! Retention as a policy over a list of finished segments (sans-I/O): which to delete,
//! oldest first, and why. [`crate::store`] lists the segments, measures the disk and
//! deletes; this module never touches a file, so every rule is tested exactly.
//!
//! Order, as moonfire-nvr (per-stream byte limits) and Frigate (days, then disk space)
//! do it: per camera, first what is older than its `max_age`, then the oldest while its
//! segments add up to more than `max_bytes`; then, for the whole store, the oldest of any
//! camera while free space is below the floor. Files being written (`.partial`) are not
//! in the list, so they are never chosen.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::config::{CameraRetention, StoreConfig};

/// One finished recording on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FinishedSegment {
    /// The camera it belongs to.
    pub camera: String,
    /// Its file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// When it was finished (its modification time).
    pub finished: SystemTime,
}

/// Free and total bytes of the store's file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskSpace {
    /// Bytes available to the recorder.
    pub free: u64,
    /// Size of the file system.
    pub total: u64,
}

/// Why a segment is deleted.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reason {
    /// Older than the camera's `max_age`.
    Age {
        /// Its age.
        age: Duration,
        /// The limit.
        max_age: Duration,
    },
    /// The camera's segments add up to more than `max_bytes`.
    CameraBytes {
        /// The camera's total before this deletion.
        total: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// The store's free space is below its floor.
    StoreFree {
        /// Free bytes before this deletion.
        free: u64,
        /// The floor.
        floor: u64,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Age { age, max_age } => write!(
                f,
                "older than max age ({} s > {} s)",
                age.as_secs(),
                max_age.as_secs()
            ),
            Reason::CameraBytes { total, max_bytes } => {
                write!(f, "camera over its byte cap ({total} > {max_bytes} bytes)")
            }
            Reason::StoreFree { free, floor } => {
                write!(
                    f,
                    "store free space below its floor ({free} < {floor} bytes)"
                )
            }
        }
    }
}

/// A segment to delete and why.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Deletion {
    /// The segment.
    pub segment: FinishedSegment,
    /// Why.
    pub reason: Reason,
}

/// The free-space floor of a store of `disk`'s size: the larger of the two limits.
pub fn free_floor(store: &StoreConfig, disk: DiskSpace) -> u64 {
    let percent = store.min_free_percent.map_or(0, |p| {
        (disk.total as f64 * p.clamp(0.0, 100.0) / 100.0) as u64
    });
    store.min_free_bytes.unwrap_or(0).max(percent)
}

/// The segments to delete, in order: see the module docs. `limits` maps camera names to
/// their limits (a camera not in it has none, but still counts for the store floor);
/// `disk` is `None` when the free space is unknown.
pub fn plan(
    segments: &[FinishedSegment],
    limits: &BTreeMap<String, CameraRetention>,
    store: &StoreConfig,
    disk: Option<DiskSpace>,
    now: SystemTime,
) -> Vec<Deletion> {
    let mut by_camera: BTreeMap<&str, Vec<&FinishedSegment>> = BTreeMap::new();
    for s in segments {
        by_camera.entry(&s.camera).or_default().push(s);
    }
    let oldest_first = |a: &&FinishedSegment, b: &&FinishedSegment| {
        (a.finished, &a.path).cmp(&(b.finished, &b.path))
    };
    let mut deletions = Vec::new();
    let mut kept = Vec::new();
    for (camera, mut list) in by_camera {
        list.sort_by(oldest_first);
        let limit = limits.get(camera).copied().unwrap_or_default();
        let mut total = list.iter().fold(0u64, |t, s| t.saturating_add(s.bytes));
        for s in list {
            let age = now.duration_since(s.finished).unwrap_or_default();
            let reason = match (limit.max_age, limit.max_bytes) {
                (Some(max_age), _) if age > max_age => Some(Reason::Age { age, max_age }),
                (_, Some(max_bytes)) if total > max_bytes => {
                    Some(Reason::CameraBytes { total, max_bytes })
                }
                _ => None,
            };
            match reason {
                Some(reason) => {
                    total = total.saturating_sub(s.bytes);
                    deletions.push(Deletion {
                        segment: s.clone(),
                        reason,
                    });
                }
                None => kept.push(s),
            }
        }
    }
    if let Some(disk) = disk {
        let floor = free_floor(store, disk);
        let freed = deletions
            .iter()
            .fold(0u64, |t, d| t.saturating_add(d.segment.bytes));
        let mut free = disk.free.saturating_add(freed);
        kept.sort_by(oldest_first);
        for s in kept {
            if free >= floor {
                break;
            }
            deletions.push(Deletion {
                segment: s.clone(),
                reason: Reason::StoreFree { free, floor },
            });
            free = free.saturating_add(s.bytes);
        }
    }
    deletions
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn seg(camera: &str, n: u64, bytes: u64) -> FinishedSegment {
        FinishedSegment {
            camera: camera.into(),
            path: PathBuf::from(format!("{camera}/{n:03}.mp4")),
            bytes,
            finished: UNIX_EPOCH + Duration::from_secs(1000 + n * 10),
        }
    }

    fn store(min_free_bytes: Option<u64>, min_free_percent: Option<f64>) -> StoreConfig {
        StoreConfig {
            root: PathBuf::from("/store"),
            min_free_bytes,
            min_free_percent,
            retention_interval: Duration::from_secs(10),
        }
    }

    fn names(d: &[Deletion]) -> Vec<String> {
        d.iter()
            .map(|d| d.segment.path.display().to_string())
            .collect()
    }

    fn limits(
        camera: &str,
        max_age: Option<u64>,
        max_bytes: Option<u64>,
    ) -> BTreeMap<String, CameraRetention> {
        BTreeMap::from([(
            camera.to_string(),
            CameraRetention {
                max_age: max_age.map(Duration::from_secs),
                max_bytes,
            },
        )])
    }

    #[test]
    fn the_byte_cap_deletes_the_oldest_until_the_rest_fits() {
        // Listed out of order: the policy sorts by finish time.
        let segments = [
            seg("a", 3, 5),
            seg("a", 1, 5),
            seg("a", 2, 5),
            seg("a", 4, 5),
            seg("b", 0, 100),
        ];
        let d = plan(
            &segments,
            &limits("a", None, Some(10)),
            &store(None, None),
            None,
            UNIX_EPOCH,
        );
        assert_eq!(names(&d), ["a/001.mp4", "a/002.mp4"]);
        assert_eq!(
            d[0].reason,
            Reason::CameraBytes {
                total: 20,
                max_bytes: 10
            }
        );
        assert_eq!(
            d[1].reason,
            Reason::CameraBytes {
                total: 15,
                max_bytes: 10
            }
        );
    }

    #[test]
    fn age_goes_first_then_bytes() {
        let segments = [
            seg("a", 0, 5),
            seg("a", 1, 5),
            seg("a", 2, 5),
            seg("a", 3, 5),
        ];
        // At 1040 s: segment 0 finished at 1000 s, 40 s ago; the limit is 35 s.
        let now = UNIX_EPOCH + Duration::from_secs(1040);
        let d = plan(
            &segments,
            &limits("a", Some(35), Some(10)),
            &store(None, None),
            None,
            now,
        );
        assert_eq!(names(&d), ["a/000.mp4", "a/001.mp4"]);
        assert!(matches!(d[0].reason, Reason::Age { .. }));
        assert_eq!(
            d[1].reason,
            Reason::CameraBytes {
                total: 15,
                max_bytes: 10
            }
        );
    }

    #[test]
    fn the_store_floor_takes_the_oldest_of_any_camera() {
        let segments = [
            seg("a", 0, 10),
            seg("b", 1, 10),
            seg("a", 2, 10),
            seg("b", 3, 10),
        ];
        let disk = DiskSpace {
            free: 50,
            total: 1000,
        };
        // 8 % of 1000 = 80 bytes must stay free: 30 more, three segments.
        let d = plan(
            &segments,
            &BTreeMap::new(),
            &store(Some(60), Some(8.0)),
            Some(disk),
            UNIX_EPOCH,
        );
        assert_eq!(names(&d), ["a/000.mp4", "b/001.mp4", "a/002.mp4"]);
        assert_eq!(
            d[2].reason,
            Reason::StoreFree {
                free: 70,
                floor: 80
            }
        );
        // Enough free space: nothing.
        let roomy = DiskSpace {
            free: 500,
            total: 1000,
        };
        assert!(
            plan(
                &segments,
                &BTreeMap::new(),
                &store(Some(60), Some(8.0)),
                Some(roomy),
                UNIX_EPOCH
            )
            .is_empty()
        );
    }

    #[test]
    fn camera_deletions_count_towards_the_store_floor() {
        let segments = [seg("a", 0, 10), seg("a", 1, 10), seg("b", 2, 10)];
        let disk = DiskSpace {
            free: 5,
            total: 1000,
        };
        let d = plan(
            &segments,
            &limits("a", None, Some(10)),
            &store(Some(15), None),
            Some(disk),
            UNIX_EPOCH,
        );
        assert_eq!(
            names(&d),
            ["a/000.mp4"],
            "freeing 10 bytes reaches the floor of 15"
        );
    }

    #[test]
    fn nothing_to_free_gives_an_empty_plan_and_never_panics() {
        let disk = DiskSpace { free: 0, total: 0 };
        assert!(
            plan(
                &[],
                &BTreeMap::new(),
                &store(Some(u64::MAX), Some(f64::NAN)),
                Some(disk),
                UNIX_EPOCH
            )
            .is_empty()
        );
        let future = FinishedSegment {
            finished: UNIX_EPOCH + Duration::from_secs(u32::MAX.into()),
            ..seg("a", 0, u64::MAX)
        };
        let d = plan(
            &[future, seg("a", 1, u64::MAX)],
            &limits("a", Some(1), Some(1)),
            &store(None, None),
            None,
            UNIX_EPOCH,
        );
        // Saturated sums lose precision beyond 16 EiB; what matters is no panic and the
        // oldest first.
        assert_eq!(names(&d)[0], "a/001.mp4");
    }
}
