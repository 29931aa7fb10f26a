//! `rtsp-probe`: connects to a camera, prints its tracks, then one JSON line per second
//! with frames, bytes, keyframes and loss per track, and one JSON line per lifecycle event.
//!
//! ```text
//! cargo run -p rtsp-source --example rtsp-probe -- rtsp://user:pass@cam/stream \
//!     [--duration SECS] [--transport udp] [--video first|off|h265,h264] [--audio ...]
//! ```
//!
//! Logs (`RUST_LOG=rtsp_source=debug`) go to stderr; JSON goes to stdout.
//!
//! Exit code 0 when it connected and ran until `--duration` or ctrl-c; 1 with one line
//! `rtsp-probe: …` on stderr when the camera refused (401, a bad URL: the supervisor stops
//! on permanent errors), when the session ended (`--once`), or when it never connected.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use futures::StreamExt;
use futures::stream::BoxStream;
use rtsp_source::{
    Event, InitialTimestamp, Pick, ReconnectOptions, ReconnectingSource, RtspOptions, RtspSource,
    SessionIdPolicy, StopHandle, StreamSelection, Teardown, TrackInfo, Transport,
};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(about = "Probe an RTSP camera: tracks, then per-second frame statistics")]
struct Args {
    /// Camera URL (`rtsp://[user:password@]host[:port]/path`).
    url: String,
    /// Stop after this many seconds (default: run until ctrl-c).
    #[arg(long)]
    duration: Option<f64>,
    /// RTP transport: tcp or udp.
    #[arg(long, default_value = "tcp")]
    transport: Transport,
    /// User name (instead of the URL's).
    #[arg(long)]
    username: Option<String>,
    /// Password (instead of the URL's).
    #[arg(long)]
    password: Option<String>,
    /// Video stream: first, off, index:N or codec list.
    #[arg(long, default_value = "first")]
    video: Pick,
    /// Audio stream: first, off, index:N or codec list.
    #[arg(long, default_value = "first")]
    audio: Pick,
    /// Initial timestamp policy: default, require, ignore, permissive.
    #[arg(long, default_value = "default")]
    initial_timestamp: InitialTimestamp,
    /// Session id policy: default, require-match, use-first.
    #[arg(long, default_value = "default")]
    session_id: SessionIdPolicy,
    /// Teardown policy: auto, always, never.
    #[arg(long, default_value = "auto")]
    teardown: Teardown,
    /// Seconds without a frame before the session counts as dead.
    #[arg(long, default_value_t = 30.0)]
    idle_timeout: f64,
    /// End the session on packet loss instead of counting it.
    #[arg(long)]
    no_loss: bool,
    /// Do not reconnect: exit when the session ends.
    #[arg(long)]
    once: bool,
}

#[derive(Default)]
struct Counts {
    frames: u64,
    bytes: u64,
    keyframes: u64,
    loss: u64,
}

fn track_json(t: &TrackInfo) -> serde_json::Value {
    let video = t.video.as_ref().map(|v| {
        json!({
            "width": v.width, "height": v.height,
            "pixel_aspect_ratio": v.pixel_aspect_ratio,
            "fps": v.fps(),
            "decoder_config_bytes": v.decoder_config.len(),
        })
    });
    let audio = t.audio.as_ref().map(|a| {
        json!({
            "sample_rate": a.sample_rate, "channels": a.channels,
            "samples_per_frame": a.samples_per_frame,
            "audio_specific_config_bytes": a.audio_specific_config.as_ref().map(|c| c.len()),
        })
    });
    json!({
        "track": t.index, "stream": t.stream_index, "kind": format!("{:?}", t.kind),
        "codec": format!("{:?}", t.codec), "codec_string": t.codec_string,
        "clock_rate": t.clock_rate, "payload_type": t.payload_type,
        "video": video, "audio": audio,
        "sample_entry_bytes": t.sample_entry.as_ref().map(|e| e.len()),
        "sample_entry_missing": t.sample_entry_missing,
    })
}

fn main() -> std::process::ExitCode {
    match probe() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rtsp-probe: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn probe() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "rtsp_source=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut options = RtspOptions::new(&args.url)?
        .transport(args.transport)
        .select(StreamSelection::new(args.video, args.audio))
        .initial_timestamp(args.initial_timestamp)
        .session_id(args.session_id)
        .teardown(args.teardown)
        .allow_loss(!args.no_loss)
        .idle_timeout(Duration::from_secs_f64(args.idle_timeout.max(0.1)));
    if let Some(user) = &args.username {
        options = options.credentials(user, args.password.as_deref().unwrap_or(""));
    }
    // --once: one session, which ends with its Disconnected event; otherwise the
    // supervisor, which ends with Stopped.
    let (mut events, stop): (BoxStream<'static, Event>, Option<StopHandle>) = if args.once {
        match RtspSource::connect(options).await {
            Ok(source) => (source.boxed(), None),
            Err(e) => {
                println!(
                    "{}",
                    json!({"t": 0.0, "event": "connect_failed", "reason": e.to_string()})
                );
                return Err(e.into());
            }
        }
    } else {
        let source = ReconnectingSource::new(options, ReconnectOptions::default());
        let stop = source.stop_handle();
        (source.into_stream().boxed(), Some(stop))
    };
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut deadline = args
        .duration
        .map(|d| started + Duration::from_secs_f64(d.max(0.0)));
    let mut counts: BTreeMap<usize, Counts> = BTreeMap::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut interrupted = false;
    // Why the probe failed, if it did: the last session end (--once) or the supervisor's
    // stop reason (a refusal), or never having connected.
    let mut failure: Option<String> = None;
    let mut connected = false;
    loop {
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = events.next() => {
                let Some(ev) = ev else { break };
                let t = started.elapsed().as_secs_f64();
                match ev {
                    Event::Frame(f) => {
                        let c = counts.entry(f.track).or_default();
                        c.frames += 1;
                        c.bytes += f.data.len() as u64;
                        c.keyframes += u64::from(f.keyframe);
                        c.loss += u64::from(f.loss);
                    }
                    Event::Tracks(tracks) => {
                        let list: Vec<_> = tracks.tracks.iter().map(track_json).collect();
                        let skipped: Vec<_> = tracks.skipped.iter().map(|s| json!({
                            "stream": s.stream_index, "media": s.media,
                            "encoding": s.encoding_name, "reason": s.reason,
                        })).collect();
                        println!("{}", json!({"t": t, "event": "tracks", "tracks": list,
                            "skipped": skipped, "server": tracks.server_tool}));
                    }
                    Event::TrackUpdated(track) => {
                        println!("{}", json!({"t": t, "event": "track_updated",
                            "track": track_json(&track)}));
                    }
                    Event::Connected { url, session, server_tool } => {
                        connected = true;
                        failure = None;
                        println!("{}", json!({"t": t, "event": "connected", "url": url,
                            "session": session, "server": server_tool}));
                    }
                    Event::Discontinuity { session } => {
                        println!("{}", json!({"t": t, "event": "discontinuity", "session": session}));
                    }
                    Event::Disconnected { reason, frames } => {
                        println!("{}", json!({"t": t, "event": "disconnected",
                            "reason": reason.to_string(), "frames": frames}));
                        if stop.is_none() {
                            failure = Some(reason.to_string());
                        }
                    }
                    Event::ConnectFailed { reason, attempt } => {
                        println!("{}", json!({"t": t, "event": "connect_failed",
                            "reason": reason.to_string(), "attempt": attempt}));
                        if !connected {
                            failure = Some(reason.to_string());
                        }
                    }
                    Event::Reconnecting { attempt, delay } => {
                        println!("{}", json!({"t": t, "event": "reconnecting",
                            "attempt": attempt, "delay_s": delay.as_secs_f64()}));
                    }
                    Event::WaitingForStaleSessions { sessions, at_most } => {
                        println!("{}", json!({"t": t, "event": "waiting_for_stale_sessions",
                            "sessions": sessions, "at_most_s": at_most.map(|d| d.as_secs_f64())}));
                    }
                    Event::Stopped { reason } => {
                        println!("{}", json!({"t": t, "event": "stopped",
                            "reason": reason.as_ref().map(|r| r.to_string())}));
                        if let Some(reason) = reason {
                            failure = Some(reason.to_string());
                        }
                    }
                    other => println!("{}", json!({"t": t, "event": format!("{other:?}")})),
                }
            }
            _ = tick.tick() => {
                let tracks: BTreeMap<String, _> = counts.iter().map(|(track, c)| {
                    (track.to_string(), json!({"frames": c.frames, "bytes": c.bytes,
                        "keyframes": c.keyframes, "loss": c.loss}))
                }).collect();
                println!("{}", json!({"t": started.elapsed().as_secs_f64().round(),
                    "event": "stats", "tracks": tracks}));
                counts.clear();
            }
            () = until_deadline => {
                deadline = None;
                match &stop { Some(stop) => stop.stop(), None => break }
            }
            _ = &mut ctrl_c, if !interrupted => {
                interrupted = true;
                match &stop { Some(stop) => stop.stop(), None => break }
            }
        }
    }
    match failure {
        Some(reason) => Err(reason.into()),
        None if !connected => Err("never connected".into()),
        None => Ok(()),
    }
}
