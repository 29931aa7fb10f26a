//! `cargo xtask bench`: runs the criterion benches, then prints one Markdown table of every
//! result criterion wrote (`target/criterion/<group>/<function>/new/{benchmark,estimates,
//! sample}.json`): median, rate, spread of the samples, and each of our rows against the
//! group's peer(s) and ceiling(s), then a "behind" list of our rows slower than a peer.
//! `cargo xtask bench --table` prints the table of every result on disk (how
//! `BENCHMARKS.md` at the root is made: `cargo xtask bench --table > BENCHMARKS.md`).
//!
//! Conventions for bench authors, read from the names criterion writes:
//! - in each group, name a peer's function `peer-NAME` (another project doing the same
//!   work), a limit `ceiling-NAME` or `floor-NAME` (the same bytes through the plainest
//!   path: a memcpy, a raw socket), and ours anything else; set a throughput;
//! - a group whose name contains `cpu` measures CPU seconds (with `iter_custom`), not wall
//!   time, and its throughput counts media seconds: the table prints CPU seconds, CPU
//!   seconds per media minute and ours/peer as a share of the peer's CPU (lower is better).
//!
//! Each `cargo xtask bench` run appends its start, end and load average to
//! `target/criterion/xtask-runs.txt`; the table prints the load of the run that wrote each
//! row (`?` for results written by a plain `cargo bench` that nobody logged there).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

mod format;

use format::{Rate, civil, human_time, rate};

/// One function of a group, as criterion wrote it.
struct Row {
    group: String,
    function: String,
    /// Median time (or CPU time) of one iteration, nanoseconds.
    median_ns: f64,
    /// The fastest and slowest sample's time per iteration, nanoseconds.
    spread_ns: Option<(f64, f64)>,
    /// Bytes per iteration, when the bench set a byte throughput.
    bytes: Option<f64>,
    /// Elements (samples, frames, packets, media seconds) per iteration.
    elements: Option<f64>,
    /// When criterion wrote it (milliseconds since the epoch).
    written: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Ours,
    Peer,
    Ceiling,
}

impl Row {
    fn role(&self) -> Role {
        let f = &self.function;
        if f.starts_with("peer") {
            Role::Peer
        } else if f.starts_with("ceiling") || f.starts_with("floor") {
            Role::Ceiling
        } else {
            Role::Ours
        }
    }

    fn is_cpu(&self) -> bool {
        self.group.contains("cpu")
    }

    fn rate(&self, amount: Option<f64>) -> Option<f64> {
        amount.map(|n| n / (self.median_ns * 1e-9))
    }

    /// How many times faster ours is than `other` (by bytes, else elements, else time);
    /// in a CPU group, ours' CPU as a share of the other's (lower is better).
    fn ratio(&self, other: &Row) -> f64 {
        if self.is_cpu() {
            let per = |r: &Row| r.median_ns / r.elements.unwrap_or(1.0);
            return per(self) / per(other);
        }
        let by = |a: Option<f64>, b: Option<f64>| Some(self.rate(a)? / other.rate(b)?);
        by(self.bytes, other.bytes)
            .or_else(|| by(self.elements, other.elements))
            .unwrap_or(other.median_ns / self.median_ns)
    }

    /// Ours is behind `peer`.
    fn behind(&self, peer: &Row) -> bool {
        let r = self.ratio(peer);
        if self.is_cpu() { r > 1.0 } else { r < 1.0 }
    }

    fn show_ratio(&self, other: &Row) -> String {
        let r = self.ratio(other);
        if self.is_cpu() {
            format!("{r:.2}× CPU")
        } else {
            format!("{r:.2}×")
        }
    }

    fn show_median(&self) -> String {
        let t = human_time(self.median_ns);
        if self.is_cpu() { format!("{t} CPU") } else { t }
    }

    fn show_rate(&self) -> String {
        if self.is_cpu() {
            // CPU seconds per minute of media.
            return self.elements.map_or(String::new(), |media_s| {
                format!("{:.3} CPU s/min", self.median_ns * 1e-9 / media_s * 60.0)
            });
        }
        match (self.rate(self.bytes), self.rate(self.elements)) {
            (Some(b), _) => rate(b, Rate::Bytes),
            (None, Some(e)) => rate(e, Rate::Elements),
            _ => String::new(),
        }
    }

    /// Fastest and slowest sample against the median, e.g. `−4/+12 %`.
    fn show_spread(&self) -> String {
        self.spread_ns.map_or(String::new(), |(lo, hi)| {
            // Differences first, so a sample equal to the median prints 0, not -0.
            let pct = |d: f64| d.max(0.0) / self.median_ns * 100.0;
            format!(
                "−{:.0}/+{:.0} %",
                pct(self.median_ns - lo),
                pct(hi - self.median_ns)
            )
        })
    }
}

/// One `cargo xtask bench` run: when and under what load.
struct Run {
    start: u64,
    end: u64,
    what: String,
    load_before: String,
    load_after: String,
}

pub(crate) fn run(args: &[String]) -> crate::Result {
    let (ours, criterion_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| crate::root().join("target"), Into::into);
    let dir = target.join("criterion");
    if ours == ["--table"] {
        // Only the table, from the results already on disk.
        return summary(&dir, 0);
    }
    let started = now();
    let load_before = load();
    let mut cmd = crate::cargo();
    cmd.args(["bench", "--all-features"]);
    let what = match ours {
        [] => {
            cmd.arg("--workspace");
            "workspace".to_owned()
        }
        [krate] => {
            cmd.args(["-p", krate]);
            krate.clone()
        }
        _ => return Err("usage: cargo xtask bench [CRATE] [-- CRITERION ARGS]".into()),
    };
    cmd.arg("--").args(criterion_args);
    let result = crate::run("bench", cmd);
    let line = format!(
        "{started} {} {load_before} {} cargo xtask bench {what}\n",
        now(),
        load()
    );
    let _ = std::fs::create_dir_all(&dir);
    let log = dir.join("xtask-runs.txt");
    let old = std::fs::read_to_string(&log).unwrap_or_default();
    std::fs::write(&log, old + &line).map_err(|e| format!("writing {}: {e}", log.display()))?;
    result?;
    summary(&dir, started)
}

/// Milliseconds since the epoch (seconds would tie a row written just before a run
/// started with that run).
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The 1-minute load average (as `uptime` prints it first).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Lines of `start end load-before load-after what…` (milliseconds since the epoch; a bench
/// run by hand can be logged the same way, `what` saying how it was run).
fn runs(dir: &Path) -> Vec<Run> {
    let text = std::fs::read_to_string(dir.join("xtask-runs.txt")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.splitn(5, ' ');
            Some(Run {
                start: w.next()?.parse().ok()?,
                end: w.next()?.parse().ok()?,
                load_before: w.next()?.to_owned(),
                load_after: w.next()?.to_owned(),
                what: w.next()?.trim().to_owned(),
            })
        })
        .collect()
}

fn read_rows(dir: &Path, since: u64) -> Vec<Row> {
    let mut rows = Vec::new();
    for group in read_dir(dir) {
        for function in read_dir(&group) {
            let new = function.join("new");
            let (Ok(bench), Ok(estimates)) = (
                std::fs::read_to_string(new.join("benchmark.json")),
                std::fs::read_to_string(new.join("estimates.json")),
            ) else {
                continue;
            };
            let written = std::fs::metadata(new.join("estimates.json"))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_millis() as u64);
            if written < since {
                continue;
            }
            let Some(median_ns) = number_after(&estimates, "\"median\"", "\"point_estimate\":")
            else {
                continue;
            };
            // {"Bytes":N}, {"BytesDecimal":N}, {"Elements":N} or
            // {"ElementsAndBytes":{"elements":N,"bytes":M}}.
            let field = |key: &str| number_after(&bench, "\"throughput\"", key);
            let bytes = field("\"Bytes\":")
                .or_else(|| field("\"BytesDecimal\":"))
                .or_else(|| field("\"bytes\":"));
            let elements = field("\"Elements\":").or_else(|| field("\"elements\":"));
            let text = |key: &str| string_after(&bench, key).unwrap_or_default();
            let spread_ns = std::fs::read_to_string(new.join("sample.json"))
                .ok()
                .and_then(|s| spread(&s));
            rows.push(Row {
                group: text("\"group_id\":"),
                function: text("\"function_id\":"),
                median_ns,
                spread_ns,
                bytes,
                elements,
                written,
            });
        }
    }
    rows.sort_by(|a, b| (&a.group, &a.function).cmp(&(&b.group, &b.function)));
    rows
}

/// The fastest and slowest per-iteration time in criterion's `sample.json`
/// (`{"iters":[...],"times":[...]}`).
fn spread(sample: &str) -> Option<(f64, f64)> {
    let iters = numbers_in(sample, "\"iters\":")?;
    let times = numbers_in(sample, "\"times\":")?;
    let per: Vec<f64> = iters
        .iter()
        .zip(&times)
        .filter(|(i, _)| **i > 0.0)
        .map(|(i, t)| t / i)
        .collect();
    let lo = per.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = per.iter().copied().fold(0.0, f64::max);
    (!per.is_empty()).then_some((lo, hi))
}

fn summary(dir: &Path, since: u64) -> crate::Result {
    let rows = read_rows(dir, since);
    let runs = runs(dir);
    let load_of = |row: &Row| {
        runs.iter()
            .rev()
            .find(|r| r.start <= row.written && row.written <= r.end)
            .map_or("?".to_owned(), |r| {
                format!("{}–{}", r.load_before, r.load_after)
            })
    };
    println!("# Benchmarks\n");
    println!(
        "Made by `cargo xtask bench --table` on {} UTC from the criterion results on disk \
         (load now {}; the machine has {} cores).",
        civil(now() / 1000),
        load(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "Ratios compare rows of the same run; “×” is how many times faster ours is \
         (bytes, else elements per second), “× CPU” our CPU time as a share of the peer's. \
         Spread: the fastest and slowest sample against the median. Load: the 1-minute load \
         average before → after the `cargo xtask bench` run that wrote the row.\n"
    );
    println!(
        "| bench | median | rate | spread | measured (UTC) | load | against | their rate | ours vs them |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut behind = Vec::new();
    for row in &rows {
        let others: Vec<&Row> = rows
            .iter()
            .filter(|r| r.group == row.group && r.role() != Role::Ours)
            .collect();
        let head = format!(
            "| `{}/{}` | {} | {} | {} | {} | {} ",
            row.group,
            row.function,
            row.show_median(),
            row.show_rate(),
            row.show_spread(),
            civil(row.written / 1000),
            load_of(row)
        );
        if row.role() != Role::Ours || others.is_empty() {
            println!("{head}| | | |");
            continue;
        }
        for other in others {
            println!(
                "{head}| {} | {} | {} |",
                other.function,
                other.show_rate(),
                row.show_ratio(other)
            );
            if other.role() == Role::Peer && row.behind(other) {
                behind.push(format!(
                    "- `{}/{}`: {} against `{}` ({} vs {})",
                    row.group,
                    row.function,
                    row.show_ratio(other),
                    other.function,
                    row.show_rate(),
                    other.show_rate()
                ));
            }
        }
    }
    if rows.is_empty() {
        println!("\n(no criterion results were written by this run)");
    }
    println!("\n## Behind a peer\n");
    if behind.is_empty() {
        println!("None: every row of ours is at least as fast as the peer of its group.");
    } else {
        println!("{}", behind.join("\n"));
    }
    if !runs.is_empty() {
        println!("\n## Runs\n");
        for r in &runs {
            println!(
                "- {} → {} UTC: `{}`, load {} → {}",
                civil(r.start / 1000),
                civil(r.end / 1000),
                r.what,
                r.load_before,
                r.load_after
            );
        }
    }
    Ok(())
}

fn read_dir(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The number following `key` after the first `anchor` in a JSON text (criterion's files
/// are small and regular; this keeps xtask free of dependencies).
fn number_after(text: &str, anchor: &str, key: &str) -> Option<f64> {
    let rest = &text[text.find(anchor)?..];
    let rest = rest[rest.find(key)? + key.len()..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The numbers of the array following `key`.
fn numbers_in(text: &str, key: &str) -> Option<Vec<f64>> {
    let rest = text[text.find(key)? + key.len()..]
        .trim_start()
        .strip_prefix('[')?;
    let list = &rest[..rest.find(']')?];
    list.split(',').map(|n| n.trim().parse().ok()).collect()
}

fn string_after(text: &str, key: &str) -> Option<String> {
    let rest = text[text.find(key)? + key.len()..]
        .trim_start()
        .strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}
