//! `cargo xtask bench`: runs the criterion benches, then prints one table from
//! `target/criterion/*/*/new/`: median time, throughput and, in a group that has a
//! function named `peer…`, the throughput ratio ours/peer.
//!
//! Convention for bench authors: in each criterion group, name the peer's function
//! `peer-NAME` (e.g. `peer-shiguredo_mp4`) and ours anything else; set a throughput.

use std::path::Path;
use std::time::SystemTime;

struct Row {
    group: String,
    function: String,
    median_ns: f64,
    /// Bytes per iteration, when the bench set a byte throughput.
    bytes: Option<f64>,
    /// Elements (samples, frames, packets) per iteration.
    elements: Option<f64>,
}

impl Row {
    fn rate(&self, amount: Option<f64>) -> Option<f64> {
        amount.map(|n| n / (self.median_ns * 1e-9))
    }

    /// Throughput ratio against `peer`: by bytes, else by elements, else by time.
    fn ratio(&self, peer: &Row) -> f64 {
        let by = |a: Option<f64>, b: Option<f64>| Some(self.rate(a)? / peer.rate(b)?);
        by(self.bytes, peer.bytes)
            .or_else(|| by(self.elements, peer.elements))
            .unwrap_or(peer.median_ns / self.median_ns)
    }
}

pub(crate) fn run(args: &[String]) -> crate::Result {
    let (ours, criterion_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| crate::root().join("target"), Into::into);
    if ours == ["--table"] {
        // Only the table, from the results already on disk.
        return summary(&target.join("criterion"), SystemTime::UNIX_EPOCH);
    }
    let started = SystemTime::now();
    let mut cmd = crate::cargo();
    cmd.args(["bench", "--all-features"]);
    match ours {
        [] => {
            cmd.arg("--workspace");
        }
        [krate] => {
            cmd.args(["-p", krate]);
        }
        _ => return Err("usage: cargo xtask bench [CRATE] [-- CRITERION ARGS]".into()),
    }
    cmd.arg("--").args(criterion_args);
    crate::run("bench", cmd)?;
    summary(&target.join("criterion"), started)
}

fn summary(dir: &Path, since: SystemTime) -> crate::Result {
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
            let fresh = std::fs::metadata(new.join("estimates.json"))
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            if !fresh {
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
            rows.push(Row {
                group: text("\"group_id\":"),
                function: text("\"function_id\":"),
                median_ns,
                bytes,
                elements,
            });
        }
    }
    rows.sort_by(|a, b| (&a.group, &a.function).cmp(&(&b.group, &b.function)));
    println!(
        "\n{:<48} {:>11} {:>12} {:>14} {:>9}",
        "bench", "median", "GB/s", "M elements/s", "ours/peer"
    );
    for row in &rows {
        let is_peer = row.function.starts_with("peer");
        let peer = rows
            .iter()
            .find(|r| r.group == row.group && r.function.starts_with("peer"));
        let ratio = match peer {
            Some(p) if !is_peer => format!("{:.2}x", row.ratio(p)),
            _ => String::new(),
        };
        let show = |rate: Option<f64>, scale: f64| {
            rate.map_or(String::new(), |r| format!("{:.3}", r / scale))
        };
        println!(
            "{:<48} {:>11} {:>12} {:>14} {:>9}",
            format!("{}/{}", row.group, row.function),
            human_time(row.median_ns),
            show(row.rate(row.bytes), 1e9),
            show(row.rate(row.elements), 1e6),
            ratio
        );
    }
    if rows.is_empty() {
        println!("(no criterion results were written by this run)");
    }
    Ok(())
}

fn read_dir(dir: &Path) -> Vec<std::path::PathBuf> {
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

fn string_after(text: &str, key: &str) -> Option<String> {
    let rest = text[text.find(key)? + key.len()..]
        .trim_start()
        .strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

fn human_time(ns: f64) -> String {
    match ns {
        n if n >= 1e9 => format!("{:.3} s", n / 1e9),
        n if n >= 1e6 => format!("{:.3} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.3} µs", n / 1e3),
        n => format!("{n:.1} ns"),
    }
}
