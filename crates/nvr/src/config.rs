//! The configuration file: a store and its cameras, in TOML (read with `serde` + `toml`,
//! whose spans give every problem its line and column).
//!
//! ```toml
//! [store]
//! root = "/var/lib/pipeline"   # relative paths are relative to this file
//! min_free_percent = 5         # delete the oldest segments of any camera below this
//! min_free_bytes = 10_000_000_000
//!
//! [[camera]]
//! name = "front"                          # letters, digits, `-`, `_`
//! url = "rtsp://admin@192.0.2.7/stream1"  # or any live input: srt-listen://:9000,
//!                                         # rtmp-listen://:1935/live/key, https://…/live.m3u8
//! password_env = "FRONT_PASSWORD"         # or password_file = "/run/secrets/front"
//! transport = "tcp"                       # or "udp"
//! segment_seconds = 60
//! output = "{camera}/%Y/%m/%d/%H-%M-%S.mp4"
//! fragmented = false
//! fsync = "second"                        # or "fragment" (each fragment / plain chunk), "none"
//! audio = true
//! retention = { max_age_days = 30, max_bytes = 50_000_000_000 }
//! ```
//!
//! Credentials: in the URL, or by reference (an environment variable or a file, as
//! systemd credentials and Kubernetes Secrets give them); never printed: the URL is a
//! [`SecretUrl`] and the password a [`Password`].

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use pipeline::{Direction, Endpoint, SecretUrl};
use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Problem};

#[path = "config_endpoints.rs"]
mod endpoints;
use endpoints::{LIVE, also, is_live, off_loopback, secret};

/// Default segment length: MediaMTX's `recordSegmentDuration` is 1 h, Frigate's 10 s;
/// one minute keeps files small to delete and quick to seek.
pub const DEFAULT_SEGMENT: Duration = Duration::from_secs(60);
/// Default output pattern, below the store root: a directory per camera and per day, as
/// moonfire-nvr and MediaMTX organise recordings.
pub const DEFAULT_OUTPUT: &str = "{camera}/%Y/%m/%d/%H-%M-%S.mp4";

/// A whole configuration: where recordings go and which cameras to record.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The store: root directory and its free-space floor.
    pub store: StoreConfig,
    /// The cameras, in file order.
    pub cameras: Vec<CameraConfig>,
    /// The metrics endpoint (`None`: not served).
    pub metrics: Option<MetricsConfig>,
}

/// The metrics endpoint (`/metrics`, `/healthz`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Address to listen on (127.0.0.1:9898 by default; off loopback a token is required).
    pub listen: std::net::SocketAddr,
    /// Bearer token scrapers must send (shown as `***`).
    pub token: Option<Password>,
}

/// Default metrics address: loopback only.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9898";

/// The recording store.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoreConfig {
    /// Root directory of every camera's recordings.
    pub root: PathBuf,
    /// Keep at least this many bytes free (oldest segments of any camera go first).
    pub min_free_bytes: Option<u64>,
    /// Keep at least this share (0–100) of the file system free.
    pub min_free_percent: Option<f64>,
    /// How often retention runs.
    pub retention_interval: Duration,
}

/// A password read from the configuration, an environment variable or a file; shown as
/// `***` in every Debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The password itself, for the RTSP client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// RTP transport of a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RtpTransport {
    /// Interleaved in the RTSP connection (the default: no loss in the network).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

/// What to keep of one camera's recordings.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct CameraRetention {
    /// Delete finished segments older than this.
    pub max_age: Option<Duration>,
    /// Delete the oldest finished segments while they add up to more than this.
    pub max_bytes: Option<u64>,
}

/// One camera.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CameraConfig {
    /// Unique name: letters, digits, `-` and `_` (a directory and a metrics label).
    pub name: String,
    /// The camera's input: an RTSP URL, or any live input the pipeline takes
    /// (`http(s)://`, `srt://`, `srt-listen://`, `rtmp-listen://`, `whip-listen://`,
    /// `whep://`, `tcp://`, an `.sdp`); secrets masked when shown.
    pub url: SecretUrl,
    /// User name (overrides the URL's).
    pub user: Option<String>,
    /// Password from a reference (overrides the URL's).
    pub password: Option<Password>,
    /// RTP transport.
    pub transport: RtpTransport,
    /// Rotation period.
    pub segment: Duration,
    /// Output pattern below the store root, `{camera}` already replaced; `.mp4` or
    /// `.mkv` (Matroska).
    pub output: String,
    /// Fragmented MP4 instead of plain (MP4 outputs only).
    pub fragmented: bool,
    /// When written media is synced to the disk (default: each second, which keeps a
    /// power cut's loss near a kill's, about 1 s; finished files are always synced).
    pub fsync: pipeline::FsyncPolicy,
    /// Record audio tracks.
    pub audio: bool,
    /// Retention limits.
    pub retention: CameraRetention,
    /// Live outputs fed the same packets besides the recording (`rtsp-listen://`,
    /// `whep-listen://`, …): viewers watch the camera over the recorder's one connection.
    pub also: Vec<Endpoint>,
    /// The token the `also` servers ask of players (their password, or a WHEP bearer
    /// token); required when one listens off loopback.
    pub also_token: Option<Password>,
}

impl CameraConfig {
    /// The directory holding only this camera's recordings: the output pattern's leading
    /// directories up to the first strftime field.
    pub fn directory(&self, root: &Path) -> PathBuf {
        let mut dir = root.to_path_buf();
        let parent = Path::new(&self.output).parent().unwrap_or(Path::new(""));
        for part in parent.components() {
            if part.as_os_str().to_string_lossy().contains('%') {
                break;
            }
            dir.push(part);
        }
        dir
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    store: Option<RawStore>,
    #[serde(default)]
    camera: Vec<RawCamera>,
    #[serde(default)]
    metrics: Option<RawMetrics>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    token_file: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    root: Option<Spanned<PathBuf>>,
    min_free_bytes: Option<u64>,
    min_free_percent: Option<Spanned<f64>>,
    retention_interval_seconds: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCamera {
    name: Spanned<String>,
    url: Spanned<String>,
    user: Option<String>,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    transport: RtpTransport,
    segment_seconds: Option<Spanned<f64>>,
    output: Option<Spanned<String>>,
    #[serde(default)]
    fragmented: bool,
    fsync: Option<Spanned<String>>,
    #[serde(default = "yes")]
    audio: bool,
    #[serde(default)]
    retention: Option<RawRetention>,
    #[serde(default)]
    also: Vec<Spanned<String>>,
    also_token_env: Option<Spanned<String>>,
    also_token_file: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    max_age_days: Option<Spanned<f64>>,
    max_bytes: Option<u64>,
}

fn yes() -> bool {
    true
}

impl Config {
    /// Reads and checks a configuration file; relative paths in it are relative to its
    /// directory. Every problem is reported, with its line and column.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(|problems| Error::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }

    /// Parses and checks configuration text; `base` is the directory relative paths start
    /// from. Returns every problem found, in file order.
    pub fn parse(text: &str, base: &Path) -> Result<Config, Vec<Problem>> {
        let at = |span: Range<usize>, message: String| {
            let (line, column) = line_and_column(text, span.start);
            Problem {
                line,
                column,
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            vec![at(span, e.message().trim().to_string())]
        })?;
        let mut problems = Vec::new();
        let store = raw.store.map_or_else(
            || StoreConfig {
                root: base.to_path_buf(),
                min_free_bytes: None,
                min_free_percent: None,
                retention_interval: Duration::from_secs(10),
            },
            |s| {
                if let Some(p) = &s.min_free_percent
                    && !(0.0..100.0).contains(p.get_ref())
                {
                    problems.push(at(
                        p.span(),
                        "min_free_percent must be within 0..100".into(),
                    ));
                }
                let interval =
                    s.retention_interval_seconds
                        .as_ref()
                        .map_or(Duration::from_secs(10), |i| {
                            seconds(i.get_ref()).unwrap_or_else(|| {
                                problems.push(at(
                                    i.span(),
                                    "retention_interval_seconds must be > 0".into(),
                                ));
                                Duration::from_secs(10)
                            })
                        });
                StoreConfig {
                    root: s
                        .root
                        .map_or_else(|| base.to_path_buf(), |r| base.join(r.into_inner())),
                    min_free_bytes: s.min_free_bytes,
                    min_free_percent: s.min_free_percent.map(Spanned::into_inner),
                    retention_interval: interval,
                }
            },
        );
        if raw.camera.is_empty() {
            problems.push(at(0..0, "no [[camera]] in the file".into()));
        }
        let mut names = HashSet::new();
        let mut cameras = Vec::new();
        // Where the cameras' `also` servers listen: each address once.
        let mut listeners = HashSet::new();
        for c in raw.camera {
            let name = c.name.get_ref().clone();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                problems.push(at(
                    c.name.span(),
                    format!("camera name {name:?}: use letters, digits, '-' and '_' only"),
                ));
            } else if !names.insert(name.clone()) {
                problems.push(at(
                    c.name.span(),
                    format!("camera name {name:?} used twice"),
                ));
            }
            let url = SecretUrl::new(c.url.get_ref().as_str());
            match Endpoint::parse(url.expose(), Direction::Input) {
                Ok(Endpoint::Rtsp(_)) => {}
                Ok(endpoint) if is_live(&endpoint) => {
                    // The credential settings are the RTSP client's; other inputs take
                    // theirs in the URL (a passphrase, a key) or not at all.
                    if c.user.is_some() || c.password_env.is_some() || c.password_file.is_some() {
                        problems.push(at(
                            c.url.span(),
                            format!(
                                "camera {name:?}: user, password_env and password_file are \
                                 for rtsp:// cameras"
                            ),
                        ));
                    }
                }
                Ok(_) => problems.push(at(
                    c.url.span(),
                    format!("camera {name:?}: url {url} is not a live input ({LIVE})"),
                )),
                Err(e) => problems.push(at(c.url.span(), format!("camera {name:?}: {e}"))),
            }
            let password = match (&c.password_env, &c.password_file) {
                (Some(_), Some(f)) => {
                    problems.push(at(
                        f.span(),
                        format!("camera {name:?}: password_env and password_file both given"),
                    ));
                    None
                }
                (Some(var), None) => match std::env::var(var.get_ref()) {
                    Ok(p) => Some(Password(p)),
                    Err(_) => {
                        problems.push(at(
                            var.span(),
                            format!(
                                "camera {name:?}: environment variable {} is not set",
                                var.get_ref()
                            ),
                        ));
                        None
                    }
                },
                (None, Some(file)) => {
                    let path = base.join(file.get_ref());
                    match std::fs::read_to_string(&path) {
                        // A trailing newline is an editor's, not the password's.
                        Ok(p) => Some(Password(p.trim_end_matches(['\n', '\r']).to_string())),
                        Err(e) => {
                            problems.push(at(
                                file.span(),
                                format!("camera {name:?}: password_file {}: {e}", path.display()),
                            ));
                            None
                        }
                    }
                }
                (None, None) => None,
            };
            let segment = c
                .segment_seconds
                .as_ref()
                .map_or(Some(DEFAULT_SEGMENT), |s| {
                    let d = seconds(s.get_ref());
                    if d.is_none() {
                        problems.push(at(
                            s.span(),
                            format!("camera {name:?}: segment_seconds must be a positive number"),
                        ));
                    }
                    d
                });
            let output = match &c.output {
                Some(o) => match check_output(o.get_ref()) {
                    Ok(()) => o.get_ref().replace("{camera}", &name),
                    Err(why) => {
                        problems.push(at(o.span(), format!("camera {name:?}: output {why}")));
                        String::new()
                    }
                },
                None => DEFAULT_OUTPUT.replace("{camera}", &name),
            };
            let fsync = match c.fsync.as_ref().map(|f| (f.get_ref().as_str(), f.span())) {
                None | Some(("second", _)) => {
                    pipeline::FsyncPolicy::Interval(Duration::from_secs(1))
                }
                Some(("fragment", _)) => pipeline::FsyncPolicy::EachFragment,
                Some(("none", _)) => pipeline::FsyncPolicy::Never,
                Some((_, span)) => {
                    problems.push(at(
                        span,
                        format!(
                            "camera {name:?}: fsync must be \"second\", \"fragment\" or \"none\""
                        ),
                    ));
                    pipeline::FsyncPolicy::Never
                }
            };
            let mut retention = CameraRetention::default();
            if let Some(r) = &c.retention {
                retention.max_bytes = r.max_bytes;
                if let Some(days) = &r.max_age_days {
                    retention.max_age = seconds(&(days.get_ref() * 86_400.0));
                    if retention.max_age.is_none() {
                        problems.push(at(
                            days.span(),
                            format!("camera {name:?}: max_age_days must be a positive number"),
                        ));
                    }
                }
            }
            let also = also(&c.also, &name, &mut listeners, &mut problems, &at);
            let what = format!("camera {name:?}: also_token");
            let also_token = secret(
                &c.also_token_env,
                &c.also_token_file,
                &what,
                base,
                &mut problems,
                &at,
            );
            let off_loopback = also.iter().find(|o| off_loopback(o));
            if let (Some(o), None) = (off_loopback, &also_token) {
                let span = c.also.first().map_or(0..0, Spanned::span);
                problems.push(at(span, format!("camera {name:?}: also {o} listens off loopback: a token is required (also_token_env or also_token_file)")));
            }
            cameras.push(CameraConfig {
                name,
                url,
                user: c.user,
                password,
                transport: c.transport,
                segment: segment.unwrap_or(DEFAULT_SEGMENT),
                output,
                fragmented: c.fragmented,
                fsync,
                audio: c.audio,
                retention,
                also,
                also_token,
            });
        }
        let metrics = raw.metrics.map(|m| {
            let listen = m.listen.as_ref().map_or_else(
                || DEFAULT_METRICS_LISTEN.parse().ok(),
                |l| {
                    let parsed = l.get_ref().parse::<std::net::SocketAddr>().ok();
                    if parsed.is_none() {
                        problems.push(at(l.span(), format!("metrics listen {:?}: not an address such as 127.0.0.1:9898", l.get_ref())));
                    }
                    parsed
                },
            );
            let token = secret(&m.token_env, &m.token_file, "metrics: token", base, &mut problems, &at);
            let listen = listen.unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 9898)));
            let no_reference = m.token_env.is_none() && m.token_file.is_none();
            if !listen.ip().is_loopback() && no_reference {
                let span = m.listen.as_ref().map_or(0..0, |l| l.span());
                problems.push(at(span, format!("metrics listen {listen}: off loopback a token is required (token_env or token_file)")));
            }
            MetricsConfig { listen, token }
        });
        if problems.is_empty() {
            Ok(Config {
                store,
                cameras,
                metrics,
            })
        } else {
            problems.sort_by_key(|p| (p.line, p.column));
            Err(problems)
        }
    }
}

/// A positive, finite number of seconds.
fn seconds(s: &f64) -> Option<Duration> {
    (*s > 0.0)
        .then(|| Duration::try_from_secs_f64(*s).ok())
        .flatten()
}

/// An output pattern must stay below the store root, keep cameras apart and be an MP4
/// or a Matroska file.
fn check_output(pattern: &str) -> Result<(), String> {
    let path = Path::new(pattern);
    if !pattern.ends_with(".mp4") && !pattern.ends_with(".mkv") {
        return Err(format!("{pattern:?} must end with .mp4 or .mkv"));
    }
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(format!("{pattern:?} must be relative, without '..'"));
    }
    // Retention deletes the oldest files of a camera's own directory: that directory
    // (the leading components without a strftime field) must name the camera.
    let parent = path.parent().unwrap_or(Path::new(""));
    let own = parent
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .take_while(|c| !c.contains('%'))
        .any(|c| c.contains("{camera}"));
    if !own {
        return Err(format!(
            "{pattern:?} must start with a directory naming {{camera}}, e.g. {DEFAULT_OUTPUT:?}"
        ));
    }
    Ok(())
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
