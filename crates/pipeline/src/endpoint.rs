//! Endpoints: where media comes from and goes to, as values or parsed from strings.
//!
//! Strings are read by scheme, extension and direction, as Boombox does:
//!
//! | string | input | output |
//! |---|---|---|
//! | `rtsp://[user:pass@]host[:port]/path` | RTSP camera | — |
//! | `http://…`, `https://…` | an MP3, AAC, MPEG-TS or fMP4 stream (Icecast mount, TS over HTTP), or an HLS playlist with MPEG-TS or fMP4 segments (live or not; a master playlist's highest-bandwidth variant) | — |
//! | `tcp://host:port` | remote packet server | — |
//! | `*.mp3` | MP3 file | the MP3 track's frames, as they are |
//! | `*.aac` | ADTS AAC file | ADTS from the AAC track |
//! | `*.opus`, `*.ogg` | Ogg Opus file | Ogg Opus from the Opus track |
//! | `*.h264`, `*.264`, `*.h265`, `*.265` | Annex B byte stream (frame rate: the SPS's VUI timing, else `Options::frame_rate`, else 25) | Annex B, parameter sets before each key frame |
//! | `*.mp4`, `*.m4v`, `*.m4a`, `*.mov`, `*.cmfv`, `*.cmfa` | MP4 file: plain or fragmented | — |
//! | `*.mkv`, `*.webm`, `*.mka` | Matroska / WebM file (H.264, H.265, VP8, VP9, AV1, Opus, AAC, MPEG audio) | Matroska (the same codecs) or WebM (VP8, VP9, AV1, Opus); readable up to its last cluster if killed |
//! | `-` | MP3, ADTS AAC, MPEG-TS or fragmented MP4 on stdin (told apart by the first bytes) | on stdout: fragmented MP4, or the [`PipeFormat`] given (`Endpoint::Stdout`; the CLI's `--format`) |
//! | `*.mp4`, `*.m4v`, `*.m4a` | (above) | MP4 file (plain, or fragmented by option) |
//! | `*.m3u8`, or an existing directory / a path ending in `/` | `*.m3u8`: a local HLS media playlist with fMP4 or MPEG-TS segments | HLS: init.mp4, numbered .m4s, playlist |
//! | `icecast://user:pass@host:port/mount`, `icecasts://…` (TLS) | — | Icecast source |
//! | `tcp-listen://[addr]:port` | — | packet server for network clients (default address 127.0.0.1) |
//! | `*.ts` | MPEG-TS file | MPEG-TS file |
//! | `srt://host:port[?streamid=…&passphrase=…&latency=MS]` | SRT caller, MPEG-TS inside | SRT caller, MPEG-TS inside |
//! | `rtmp-listen://[addr]:port/app/key` | RTMP server taking one publisher of that app and stream key (default address 127.0.0.1; the key is masked) | — |
//! | `rtmp://host[:port]/app/key` | — | RTMP client publishing to a server (nginx-rtmp, YouTube, Twitch; default port 1935; the key is masked) |
//! | `rtp://host:port` | — | RTP over UDP, a port per track (`port`, `port + 2`, …; RTCP sender reports on each + 1), described by an SDP (`Options::sdp_file`) |
//! | `srt-listen://[addr]:port[?passphrase=…&latency=MS]` | SRT listener (one caller; default address 127.0.0.1) | SRT listener (waits for one caller) |
//! | `whip-listen://[addr]:port/path` | WHIP server taking one publish (H.264, VP8, VP9 or AV1 and Opus; a publisher page at `http://addr:port/path`) | — |
//! | `whep-listen://[addr]:port/path` | — | WHEP server for browsers (H.264, VP8, VP9, AV1, Opus passed through; a player page at `http://addr:port/path`) |
//! | `rtsp-listen://[addr]:port/path` | RTSP server taking one publish (`ANNOUNCE`/`RECORD` over TCP: `ffmpeg -f rtsp`; default address 127.0.0.1; password: `Options::remote.token`) | RTSP server players pull `rtsp://addr:port/path` from (H.264, H.265, AAC, Opus, MPEG audio over TCP or UDP; password: `Options::remote.token`, required off loopback) |
//! | `whep://host:port/path`, `wheps://…` (https) | WHEP client pulling from the endpoint `http://host:port/path` (token: `Options::remote.token`) | — |
//! | `whip://host:port/path`, `whips://…` (https) | — | WHIP client pushing to the endpoint `http://host:port/path` (token: `Options::remote.token`) |
//!
//! Anything else is [`Error::UnsupportedEndpoint`], naming the string and the direction.
//! Raw packet endpoints exist only as values (see [`crate::raw`]). Credentials in URLs never appear
//! in `Display` or `Debug`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use media_core::{Packet, SecretUrl, Track};
use tokio::sync::mpsc;

use crate::{Error, PipeFormat};
pub use media_core::redact;
use urls::{host_port, rtmp_listen, rtmp_output, rtmp_shown, webrtc_client};

mod urls;

/// Which side of a pipeline an endpoint is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Media comes from it.
    Input,
    /// Media goes to it.
    Output,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Input => "input",
            Direction::Output => "output",
        })
    }
}

/// A media endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// RTSP camera (input).
    Rtsp(SecretUrl),
    /// Remote packet server speaking the data-stream media protocol (input).
    Tcp(String),
    /// MP3 file (input; as output, the MP3 track's frames as they are).
    Mp3File(PathBuf),
    /// HLS media playlist with fMP4 or MPEG-TS segments, local files (input).
    HlsInput(PathBuf),
    /// Ogg Opus file, `.opus` / `.ogg` (input or output).
    OggFile(PathBuf),
    /// ADTS AAC file, `.aac` (input or output).
    AacFile(PathBuf),
    /// FLV file, `.flv` (input or output).
    FlvFile(PathBuf),
    /// H.264 Annex B byte stream, `.h264` / `.264` (input or output).
    H264File(PathBuf),
    /// H.265 Annex B byte stream, `.h265` / `.265` (input or output).
    H265File(PathBuf),
    /// MP4, fragmented MP4 or M4A file (input).
    Mp4Input(PathBuf),
    /// Matroska or WebM file, `.mkv` / `.webm` / `.mka` (input or output; `.webm` output
    /// holds VP8, VP9, AV1 and Opus only).
    MatroskaFile(PathBuf),
    /// HTTP(S) (input): an MP3, AAC, MPEG-TS or fragmented MP4 stream (an Icecast mount, TS
    /// over HTTP) or an HLS playlist with MPEG-TS or fMP4 segments, live or not.
    Http(SecretUrl),
    /// MP3, ADTS AAC, MPEG-TS or fragmented MP4 on standard input (input).
    Stdin,
    /// MP4 file (output); fragmented when the pipeline's options say so.
    Mp4File(PathBuf),
    /// Standard output (output): fragmented MP4 unless the format says otherwise.
    Stdout(PipeFormat),
    /// HLS: fMP4 segments and a playlist in a directory (output).
    Hls {
        /// Directory of the segments.
        dir: PathBuf,
        /// Playlist file name in `dir`.
        playlist: String,
    },
    /// Icecast server, as a source client (output).
    Icecast(SecretUrl),
    /// Packet server for network clients, bound to `addr:port` (output).
    TcpListen(String),
    /// MPEG transport stream file (input and output).
    TsFile(PathBuf),
    /// SRT caller with MPEG-TS inside, `srt://host:port?…` (input and output).
    Srt(SecretUrl),
    /// RTMP server for one publisher (input), stored as
    /// `rtmp-listen://addr:port/app?key=KEY` so that the key is masked like a secret query
    /// parameter.
    RtmpListen(SecretUrl),
    /// RTMP client publishing to a server (output), stored as
    /// `rtmp://host:port/app?key=KEY` (the key percent-encoded) so that the key is masked
    /// like a secret query parameter.
    Rtmp(SecretUrl),
    /// SRT listener with MPEG-TS inside, `srt-listen://[addr]:port?…` (input and output).
    SrtListen(SecretUrl),
    /// RTP over UDP to `host:port` (output): the first track on that port, the next on
    /// port + 2 and so on (RTCP sender reports on each port + 1), described by an SDP
    /// (`Options::sdp_file`) that ffmpeg or GStreamer opens.
    Rtp(String),
    /// An SDP file describing RTP streams sent to this host, `.sdp` (input): one UDP
    /// port per media section, as ffmpeg's `-sdp_file` or our `--sdp` writes it.
    SdpFile(PathBuf),
    /// WHEP server for browsers, `whep-listen://[addr]:port/path` (output): the
    /// endpoint is `http://addr:port/path/whep`, the player page `http://addr:port/path`.
    WhepListen {
        /// `host:port` (loopback when no host is given).
        addr: String,
        /// The stream's path, without slashes at either end (may be empty).
        path: String,
    },
    /// RTSP server at `rtsp://addr:port/path`, `rtsp-listen://[addr]:port/path`: as output
    /// players and recorders pull from it (RTP over the RTSP connection or over UDP, as
    /// each asks); as input a publisher pushes to it (`ANNOUNCE`/`RECORD`, RTP over TCP).
    RtspListen {
        /// `host:port` (loopback when no host is given).
        addr: String,
        /// The stream's path, without slashes at either end (may be empty).
        path: String,
    },
    /// WHIP server that a browser or OBS publishes to, `whip-listen://[addr]:port/path`
    /// (input): the endpoint is `http://addr:port/path/whip`.
    WhipListen {
        /// `host:port` (loopback when no host is given).
        addr: String,
        /// The path, without slashes at either end (may be empty).
        path: String,
    },
    /// WHEP client pulling from a server, `whep://host:port/path` (input): stored as the
    /// endpoint URL `http://host:port/path` (no query: the token is
    /// `Options::remote.token`); `wheps://` for `https://`.
    Whep(String),
    /// WHIP client pushing to a server, `whip://host:port/path` (output): stored as the
    /// endpoint URL `http://host:port/path`; `whips://` for `https://`.
    Whip(String),
    /// Packets written from code through a [`crate::raw::RawWriter`] (input).
    RawInput(RawInput),
    /// Packets read by code through a [`crate::raw::RawReader`] (output).
    RawOutput(RawOutput),
}

impl Endpoint {
    /// Reads an endpoint string for the given direction (see the module docs).
    pub fn parse(s: &str, direction: Direction) -> Result<Self, Error> {
        use Direction::{Input, Output};
        let unsupported = || Error::UnsupportedEndpoint {
            endpoint: redact(s),
            direction,
        };
        let scheme = s.find("://").map(|i| s[..i].to_ascii_lowercase());
        let endpoint = match (scheme.as_deref(), direction) {
            (Some("rtsp" | "rtsps"), Input) => Endpoint::Rtsp(SecretUrl::new(s)),
            (Some("tcp"), Input) => Endpoint::Tcp(host_port(s).ok_or_else(unsupported)?),
            (Some("icecast" | "icecasts"), Output) => Endpoint::Icecast(SecretUrl::new(s)),
            (Some("tcp-listen"), Output) => {
                // No address: loopback (serving beyond it needs a token).
                let s = s.replacen("://:", "://127.0.0.1:", 1);
                Endpoint::TcpListen(host_port(&s).ok_or_else(unsupported)?)
            }
            (Some("srt" | "srt-listen"), _) => {
                // Checked now: a bad option fails before anything starts.
                let config = crate::srt::SrtConfig::parse(s)?;
                match config.mode {
                    crate::srt::Mode::Caller => Endpoint::Srt(config.url),
                    crate::srt::Mode::Listener => Endpoint::SrtListen(config.url),
                }
            }
            (Some("http" | "https"), Input) => Endpoint::Http(SecretUrl::new(s)),
            (Some("rtp"), Output) => Endpoint::Rtp(host_port(s).ok_or_else(unsupported)?),
            (Some("rtmp"), Output) => {
                Endpoint::Rtmp(rtmp_output(s).ok_or_else(|| Error::InvalidUrl {
                    url: rtmp_shown(s),
                    reason: "takes rtmp://host[:port]/app/key".into(),
                })?)
            }
            // The last path segment is a stream key: never shown.
            (Some("rtmp" | "rtmps"), _) => {
                return Err(Error::UnsupportedEndpoint {
                    endpoint: rtmp_shown(s),
                    direction,
                });
            }
            (Some("rtmp-listen"), Input) => {
                Endpoint::RtmpListen(rtmp_listen(s).ok_or_else(|| Error::InvalidUrl {
                    url: redact(s),
                    reason: "takes rtmp-listen://[addr]:port/app/key".into(),
                })?)
            }
            (Some(scheme @ ("whep-listen" | "whip-listen" | "rtsp-listen")), _)
                if scheme == "rtsp-listen"
                    || (scheme == "whep-listen") == (direction == Output) =>
            {
                let s = s.replacen("://:", "://127.0.0.1:", 1);
                let rest = &s[s.find("://").map_or(0, |i| i + 3)..];
                let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
                let addr = host_port(&format!("x://{addr}")).ok_or_else(unsupported)?;
                let path = path.trim_matches('/').to_owned();
                if scheme == "rtsp-listen" {
                    Endpoint::RtspListen { addr, path }
                } else if direction == Output {
                    Endpoint::WhepListen { addr, path }
                } else {
                    Endpoint::WhipListen { addr, path }
                }
            }
            (Some(scheme @ ("whep" | "whip" | "wheps" | "whips")), _)
                if scheme.starts_with("whep") == (direction == Input) =>
            {
                let url = webrtc_client(s).ok_or_else(|| Error::InvalidUrl {
                    url: redact(s.split(['?', '#']).next().unwrap_or("")),
                    reason: format!(
                        "takes {scheme}://host:port/path, without a query or user name \
                         (the bearer token is --token)"
                    ),
                })?;
                if scheme.starts_with("whep") {
                    Endpoint::Whep(url)
                } else {
                    Endpoint::Whip(url)
                }
            }
            (Some(_), _) => return Err(unsupported()),
            (None, _) if s == "-" => match direction {
                Input => Endpoint::Stdin,
                Output => Endpoint::Stdout(PipeFormat::default()),
            },
            (None, _) => file_endpoint(Path::new(s), direction).ok_or_else(unsupported)?,
        };
        Ok(endpoint)
    }

    /// The input's timestamps have a meaningful zero, before which what it presents
    /// (AAC priming, a B-frame delay) is to be hidden: a file's, and those of packets
    /// written from code. A live source's zero is only where its clock started.
    pub(crate) fn has_time_zero(&self) -> bool {
        self.is_file_input() || matches!(self, Endpoint::RawInput(_))
    }

    /// An output that plays G.711 as it is (WebRTC; Matroska, whose players take it;
    /// raw packets for code): G.711 tracks go to it untranscoded, and a source makes them
    /// even without the `codec` feature.
    pub(crate) fn plays_g711(&self) -> bool {
        match self {
            Endpoint::RawOutput(_) | Endpoint::WhepListen { .. } | Endpoint::Whip(_) => true,
            // WebM holds Opus (and Vorbis) only.
            Endpoint::MatroskaFile(path) => !path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("webm")),
            _ => false,
        }
    }

    /// An output whose files `--segment` rotates (MP4 and Matroska files).
    pub(crate) fn rotates(&self) -> bool {
        matches!(self, Endpoint::Mp4File(_) | Endpoint::MatroskaFile(_))
    }

    /// An output that connects to a server elsewhere (RTMP, an SRT caller, Icecast,
    /// WHIP): as an extra output it is opened again when it fails (`reopen.rs`).
    pub(crate) fn reconnects(&self) -> bool {
        matches!(
            self,
            Endpoint::Rtmp(_) | Endpoint::Srt(_) | Endpoint::Icecast(_) | Endpoint::Whip(_)
        )
    }

    /// A file read as input (the durable copy of its media: a remux can run again).
    pub(crate) fn is_file_input(&self) -> bool {
        matches!(
            self,
            Endpoint::Mp3File(_)
                | Endpoint::Mp4Input(_)
                | Endpoint::MatroskaFile(_)
                | Endpoint::HlsInput(_)
                | Endpoint::OggFile(_)
                | Endpoint::AacFile(_)
                | Endpoint::FlvFile(_)
                | Endpoint::H264File(_)
                | Endpoint::H265File(_)
                | Endpoint::TsFile(_)
        )
    }
}

fn file_endpoint(path: &Path, direction: Direction) -> Option<Endpoint> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let text = path.to_string_lossy();
    match (ext.as_deref(), direction) {
        (Some("mp3"), _) => Some(Endpoint::Mp3File(path.to_owned())),
        (Some("aac"), _) => Some(Endpoint::AacFile(path.to_owned())),
        (Some("flv"), _) => Some(Endpoint::FlvFile(path.to_owned())),
        (Some("opus" | "ogg"), _) => Some(Endpoint::OggFile(path.to_owned())),
        (Some("h264" | "264"), _) => Some(Endpoint::H264File(path.to_owned())),
        (Some("h265" | "265"), _) => Some(Endpoint::H265File(path.to_owned())),
        (Some("ts"), _) => Some(Endpoint::TsFile(path.to_owned())),
        // BDAV (Blu-ray, AVCHD camcorders): 192-byte packets, which the TS reader finds.
        (Some("m2ts" | "mts"), Direction::Input) => Some(Endpoint::TsFile(path.to_owned())),
        (Some("sdp"), Direction::Input) => Some(Endpoint::SdpFile(path.to_owned())),
        // ISO BMFF under other names too: 3GPP phones and dashcams, Adobe's F4V.
        (
            Some("mp4" | "m4v" | "m4a" | "mov" | "cmfv" | "cmfa" | "3gp" | "3g2" | "f4v"),
            Direction::Input,
        ) => Some(Endpoint::Mp4Input(path.to_owned())),
        (Some("mkv" | "webm" | "mka"), _) => Some(Endpoint::MatroskaFile(path.to_owned())),
        (Some("mp4" | "m4v" | "m4a"), Direction::Output) => {
            Some(Endpoint::Mp4File(path.to_owned()))
        }
        (Some("m3u8"), Direction::Input) => Some(Endpoint::HlsInput(path.to_owned())),
        (Some("m3u8"), Direction::Output) => Some(Endpoint::Hls {
            dir: path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_owned(),
            playlist: path.file_name()?.to_string_lossy().into_owned(),
        }),
        _ if direction == Direction::Output && (text.ends_with('/') || path.is_dir()) => {
            Some(Endpoint::Hls {
                dir: path.to_owned(),
                playlist: "index.m3u8".into(),
            })
        }
        _ => None,
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Rtsp(url)
            | Endpoint::Icecast(url)
            | Endpoint::Srt(url)
            | Endpoint::RtmpListen(url)
            | Endpoint::Rtmp(url)
            | Endpoint::Http(url)
            | Endpoint::SrtListen(url) => write!(f, "{url}"),
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
            Endpoint::TcpListen(addr) => write!(f, "tcp-listen://{addr}"),
            Endpoint::Rtp(addr) => write!(f, "rtp://{addr}"),
            Endpoint::WhepListen { addr, path } => write!(f, "whep-listen://{addr}/{path}"),
            Endpoint::RtspListen { addr, path } => write!(f, "rtsp-listen://{addr}/{path}"),
            Endpoint::WhipListen { addr, path } => write!(f, "whip-listen://{addr}/{path}"),
            Endpoint::Whep(url) => write!(f, "whep{}", url.strip_prefix("http").unwrap_or("")),
            Endpoint::Whip(url) => write!(f, "whip{}", url.strip_prefix("http").unwrap_or("")),
            Endpoint::Mp3File(p)
            | Endpoint::Mp4File(p)
            | Endpoint::Mp4Input(p)
            | Endpoint::MatroskaFile(p)
            | Endpoint::AacFile(p)
            | Endpoint::FlvFile(p)
            | Endpoint::OggFile(p)
            | Endpoint::HlsInput(p)
            | Endpoint::H264File(p)
            | Endpoint::H265File(p)
            | Endpoint::TsFile(p)
            | Endpoint::SdpFile(p) => {
                write!(f, "{}", p.display())
            }
            Endpoint::Stdin => f.write_str("- (stdin)"),
            Endpoint::Stdout(format) => write!(f, "- (stdout, {format})"),
            Endpoint::Hls { dir, playlist } => write!(f, "{}", dir.join(playlist).display()),
            Endpoint::RawInput(_) => f.write_str("raw input"),
            Endpoint::RawOutput(_) => f.write_str("raw output"),
        }
    }
}

/// A raw input endpoint: the pipeline's side of a [`crate::raw::RawWriter`]. Made by [`crate::raw::input`].
#[derive(Clone)]
pub struct RawInput {
    pub(crate) tracks: Vec<Track>,
    pub(crate) rx: Arc<Mutex<Option<mpsc::Receiver<Packet>>>>,
}

/// A raw output endpoint: the pipeline's side of a [`crate::raw::RawReader`]. Made by [`crate::raw::output`].
#[derive(Clone)]
pub struct RawOutput {
    pub(crate) tx: Arc<Mutex<Option<RawOutputSide>>>,
}

/// What a raw output sink needs: where packets go and where the tracks are published.
#[derive(Debug)]
pub(crate) struct RawOutputSide {
    pub(crate) packets: mpsc::Sender<Packet>,
    pub(crate) tracks: Arc<Mutex<Option<Vec<Track>>>>,
}

macro_rules! identity_eq {
    ($t:ident, $field:ident) => {
        impl PartialEq for $t {
            /// Two handles are equal when they are the same endpoint.
            fn eq(&self, other: &Self) -> bool {
                Arc::ptr_eq(&self.$field, &other.$field)
            }
        }
        impl Eq for $t {}
    };
}
identity_eq!(RawInput, rx);
identity_eq!(RawOutput, tx);

impl fmt::Debug for RawInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawInput")
            .field("tracks", &self.tracks.len())
            .finish()
    }
}

impl fmt::Debug for RawOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawOutput")
    }
}

impl RawOutput {
    pub(crate) fn take(&self) -> Result<RawOutputSide, Error> {
        self.tx
            .lock()
            .ok()
            .and_then(|mut t| t.take())
            .ok_or_else(|| Error::InvalidOptions("a raw output can serve only one pipeline".into()))
    }
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
