//! The values of options that clap cannot parse by itself: bit rates, durations, the
//! HLS mode and the sync policy, each refused with the form it expects.

use std::time::Duration;

use pipeline::{FsyncPolicy, HlsMode};

pub(crate) fn parse_bitrate(s: &str) -> Result<u64, String> {
    let (number, scale) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1_000.0),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1_000_000.0),
        _ => (s, 1.0),
    };
    match number.parse::<f64>() {
        Ok(n) if n > 0.0 && (n * scale) < 1e10 => Ok((n * scale) as u64),
        _ => Err(format!(
            "bitrate {s:?}: a positive number of bit/s, e.g. 128k or 2M"
        )),
    }
}

pub(crate) fn parse_hls(s: &str) -> Result<HlsMode, String> {
    match s {
        "live" => Ok(HlsMode::Live),
        "vod" => Ok(HlsMode::Vod),
        _ => Err("expected live or vod".into()),
    }
}

/// `--retry-for`: a bound, or none (`forever`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryFor(pub(crate) Option<Duration>);

pub(crate) fn parse_retry_for(s: &str) -> Result<RetryFor, String> {
    if s == "forever" {
        return Ok(RetryFor(None));
    }
    let (number, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err("expected a duration such as 30s, 500ms, 2m, 1h, or forever".into()),
    };
    number
        .parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n * scale).ok())
        .map(|d| RetryFor(Some(d)))
        .ok_or_else(|| "expected a duration such as 30s, 500ms, 2m, 1h, or forever".into())
}

pub(crate) fn parse_fsync(s: &str) -> Result<FsyncPolicy, String> {
    match s {
        "none" => Ok(FsyncPolicy::Never),
        "fragment" => Ok(FsyncPolicy::EachFragment),
        _ => s
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .map(FsyncPolicy::Interval)
            .ok_or_else(|| "expected none, fragment or a number of seconds".into()),
    }
}

pub(crate) fn seconds(what: &str, secs: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| anyhow::anyhow!("--{what} {secs}: not a duration in seconds"))
}
