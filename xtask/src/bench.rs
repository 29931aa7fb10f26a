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
    /// (amount, unit) per iteration: bytes or elements.
    throughput: Option<(f64, &'static str)>,
}

impl Row {
    fn per_second(&self) -> Option<f64> {
        self.throughput.map(|(n, _)| n / (self.median_ns * 1e-9))
    }
}

pub(crate) fn run(args: &[String]) -> crate::Result {
    let (ours, criterion_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
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
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| crate::root().join("target"), Into::into);
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
            let throughput = ["Bytes", "BytesDecimal", "Elements", "ElementsAndBytes"]
                .iter()
                .find_map(|unit| {
                    let n = number_after(&bench, "\"throughput\"", &format!("\"{unit}\":"))?;
                    Some((
                        n,
                        if unit.starts_with("Bytes") {
                            "B"
                        } else {
                            "elem"
                        },
                    ))
                });
            let text = |key: &str| string_after(&bench, key).unwrap_or_default();
            rows.push(Row {
                group: text("\"group_id\":"),
                function: text("\"function_id\":"),
                median_ns,
                throughput,
            });
        }
    }
    rows.sort_by(|a, b| (&a.group, &a.function).cmp(&(&b.group, &b.function)));
    println!(
        "\n{:<44} {:>12} {:>16} {:>10}",
        "bench", "median", "throughput", "ours/peer"
    );
    for row in &rows {
        let peer = rows
            .iter()
            .find(|r| r.group == row.group && r.function.starts_with("peer"));
        let ratio = match (peer, row.function.starts_with("peer")) {
            (Some(p), false) => match (row.per_second(), p.per_second()) {
                (Some(a), Some(b)) => format!("{:.2}x", a / b),
                _ => format!("{:.2}x", p.median_ns / row.median_ns),
            },
            _ => String::new(),
        };
        let rate = match (row.per_second(), row.throughput) {
            (Some(r), Some((_, "B"))) => format!("{:.3} GB/s", r / 1e9),
            (Some(r), Some(_)) => format!("{:.3} M/s", r / 1e6),
            _ => String::new(),
        };
        println!(
            "{:<44} {:>12} {:>16} {:>10}",
            format!("{}/{}", row.group, row.function),
            human_time(row.median_ns),
            rate,
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
