//! File names and wall-clock boundaries of a rotating recording.
//!
//! Names come from a strftime pattern in UTC (`cam-%Y%m%d-%H%M%S.mp4`); a name without `%`
//! gets `-%Y%m%d-%H%M%SZ` before its extension when rotating. Only the conversions an NVR
//! needs are supported (`%Y %m %d %H %M %S %s %F %T %%`, and `%3f` for milliseconds, which
//! tells apart and orders segments started within one second), which is why this is a few lines
//! here rather than a calendar dependency: the date is computed with Howard Hinnant's
//! days-to-civil algorithm (public domain, `chrono`'s and `jiff`'s too).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Names of the files of one output.
#[derive(Debug)]
pub(crate) struct FileNames {
    pattern: String,
    rotating: bool,
    used: HashSet<PathBuf>,
}

impl FileNames {
    pub(crate) fn new(path: PathBuf, rotating: bool) -> Self {
        let mut pattern = path.to_string_lossy().into_owned();
        if rotating && !pattern.contains('%') {
            let stem_end = Path::new(&pattern)
                .extension()
                .map_or(pattern.len(), |e| pattern.len() - e.len() - 1);
            pattern.insert_str(stem_end, "-%Y%m%d-%H%M%SZ");
        }
        FileNames {
            pattern,
            rotating,
            used: HashSet::new(),
        }
    }

    /// The pattern the names are made from, for messages.
    pub(crate) fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The name of a file whose first packet arrived at `wall`; never one given before
    /// (a `-2`, `-3`... suffix separates two files started in the same second).
    pub(crate) fn next(&mut self, wall: SystemTime) -> PathBuf {
        let base = if self.rotating {
            strftime(&self.pattern, wall)
        } else {
            self.pattern.clone()
        };
        let mut path = PathBuf::from(&base);
        let mut n = 2;
        while self.rotating && (self.used.contains(&path) || path.exists()) {
            let p = Path::new(&base);
            let ext = p
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            let stem = &base[..base.len() - ext.len()];
            path = PathBuf::from(format!("{stem}-{n}{ext}"));
            n += 1;
        }
        self.used.insert(path.clone());
        path
    }
}

/// The first multiple of `period` (counted from the Unix epoch, so boundaries fall on
/// round wall-clock times) strictly after `wall`.
pub(crate) fn next_boundary(wall: SystemTime, period: Duration) -> SystemTime {
    let period_ns = period.as_nanos().max(1);
    let now_ns = wall
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let next = (now_ns / period_ns + 1) * period_ns;
    let secs = u64::try_from(next / 1_000_000_000).unwrap_or(u64::MAX / 2);
    UNIX_EPOCH + Duration::new(secs, (next % 1_000_000_000) as u32)
}

/// Formats `pattern` for `time` in UTC.
pub(crate) fn strftime(pattern: &str, time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
    let millis = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_millis();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&format!("{y:04}")),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('H') => out.push_str(&format!("{hh:02}")),
            Some('M') => out.push_str(&format!("{mm:02}")),
            Some('S') => out.push_str(&format!("{ss:02}")),
            Some('s') => out.push_str(&secs.to_string()),
            Some('F') => out.push_str(&format!("{y:04}-{m:02}-{d:02}")),
            Some('T') => out.push_str(&format!("{hh:02}:{mm:02}:{ss:02}")),
            Some('%') => out.push('%'),
            Some('3') if chars.as_str().starts_with('f') => {
                chars.next();
                out.push_str(&format!("{millis:03}"));
            }
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// (year, month 1–12, day 1–31) of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn strftime_matches_known_dates() {
        // 2026-11-22T05:24:30Z and a leap day.
        assert_eq!(strftime("%F %T", at(1_795_325_070)), "2026-11-22 05:24:30");
        assert_eq!(
            strftime("cam-%Y%m%d-%H%M%S.mp4", at(951_782_400)),
            "cam-20000229-000000.mp4"
        );
        assert_eq!(strftime("%s %% %q", at(0)), "0 % %q");
        assert_eq!(strftime("%F", at(0)), "1970-01-01");
        let later = at(61) + Duration::from_millis(7);
        assert_eq!(strftime("%H-%M-%S-%3f", later), "00-01-01-007");
        assert_eq!(strftime("%3x %3", later), "%3x %3");
    }

    #[test]
    fn boundaries_are_aligned_to_the_wall_clock() {
        let b = next_boundary(at(1_000_000_123), Duration::from_secs(60));
        assert_eq!(b, at(1_000_000_140));
        assert_eq!(
            next_boundary(at(120), Duration::from_secs(60)),
            at(180),
            "strictly after"
        );
    }

    #[test]
    fn rotating_names_get_a_time_and_stay_unique() {
        let dir = std::env::temp_dir().join("pipeline-naming-test-does-not-exist");
        let mut names = FileNames::new(dir.join("cam.mp4"), true);
        let a = names.next(at(60));
        let b = names.next(at(60));
        assert_eq!(a, dir.join("cam-19700101-000100Z.mp4"));
        assert_eq!(b, dir.join("cam-19700101-000100Z-2.mp4"));
        let mut fixed = FileNames::new("out.mp4".into(), false);
        assert_eq!(fixed.next(at(5)), PathBuf::from("out.mp4"));
    }
}
