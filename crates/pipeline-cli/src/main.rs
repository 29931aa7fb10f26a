//! The `pipeline` command line (crate `pipeline-cli`): `pipeline [OPTIONS] <INPUT>... <OUTPUT>`.
//!
//! A thin binary over the [`pipeline`] library: RTSP cameras, MP3 files (or `-`, MP3 on
//! stdin) and `tcp://` packet servers in; plain MP4, fragmented MP4, HLS, `-` (fragmented
//! MP4 on stdout), `tcp-listen://` network clients or `icecast://` out, with the options of
//! retina's example recorder. This file reads the arguments into `pipeline::Options`, runs
//! the pipeline and reports; `cli_icecast` does the same for Icecast (a playlist, commands
//! on stdin). All media work is the library's.
//!
//! The binary is the crate's runnable example:
//!
//! ```sh
//! cargo run --release -p media-toolkit-cli -- rtsp://admin:secret@192.0.2.7/stream1 camera.mp4 --duration 60
//! cargo run --release -p media-toolkit-cli -- rtsp://cam/main 'cam-%Y%m%d-%H%M%S.mp4' --segment 300
//! cargo run --release -p media-toolkit-cli -- song.mp3 icecast://source:pw@127.0.0.1:8000/live
//! cargo run --release -p media-toolkit-cli -- rtsp://cam/main tcp-listen://:9000
//! ```
//!
//! Ctrl-C or SIGTERM stops gracefully (the file is finalized); a second Ctrl-C kills. On a
//! terminal a status line (`indicatif`) shows media time, packets, bitrate and loss; on a
//! pipe only the logs (`tracing`, filtered by `-v`/`-q` or `RUST_LOG`) go to stderr. Exit
//! code 0 on success, 1 with a one-line cause (`pipeline: …`); URLs in it and in every log
//! line are shown with passwords, tokens and secret query parameters masked. Every route
//! and option: the crate's README.

mod cli_icecast;
mod cli_parse;
mod cli_record;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use cli_parse::{RetryFor, parse_bitrate, parse_fsync, parse_hls, parse_retry_for, seconds};
use indicatif::{ProgressBar, ProgressStyle};
use pipeline::{
    Direction, Endpoint, FsyncPolicy, HlsMode, InitialTimestamp, Options, PipeFormat, Pipeline,
    RtspSettings, SecretUrl, Status, Teardown, Transport,
};

/// Record a camera or a file: RTSP, MP4 or elementary streams in; MP4, fragmented MP4,
/// HLS, stdout or elementary streams out.
#[derive(Debug, Parser)]
#[command(
    version,
    about,
    long_about = None,
    override_usage = "pipeline [OPTIONS] <INPUTS>... <OUTPUT>"
)]
struct Cli {
    /// The inputs, then the output (the last one). Options may stand anywhere, also
    /// between the inputs and the output.
    ///
    /// Input: rtsp://[user:pass@]host[:port]/path, an .mp4/.m4a file (plain or
    /// fragmented; .mov, .3gp, .f4v), .mkv/.webm (Matroska, WebM), .h264/.h265 (Annex B),
    /// .aac (ADTS), .mp3, .opus/.ogg (Ogg Opus), .ts (.mts/.m2ts: BDAV), .flv, .m3u8 (a
    /// local HLS playlist), - (stdin:
    /// MP3, ADTS, TS, FLV or fragmented MP4), tcp://host:port (a tcp-listen:// packet server),
    /// rtmp-listen://[addr]:port/app/key (an RTMP server for one publisher),
    /// whip-listen://[addr]:port/path (take a WHIP publish: H.264, VP8, VP9 or AV1 + Opus),
    /// rtsp-listen://[addr]:port/path (take an RTSP publish: ffmpeg -f rtsp, rtspclientsink),
    /// whep://host:port/path (pull from the WHEP endpoint http://host:port/path), an .sdp file
    /// (receive the RTP streams it describes, as ffmpeg's -sdp_file or our --sdp writes
    /// it), or an SRT caller or listener, srt://host:port or srt-listen://[addr]:port
    /// (MPEG-TS inside; query options passphrase, streamid, latency in ms).
    ///
    /// Output: a .mp4 file, a directory or .m3u8 (HLS), - (fragmented MP4 on stdout),
    /// .mkv/.mka (Matroska) or .webm (VP8, VP9, AV1, Opus), .flv (H.264/H.265 and AAC/MP3),
    /// .h264/.h265, .aac, .mp3 or .opus/.ogg (one track of that codec),
    /// tcp-listen://addr:port (serve packets to network clients),
    /// whep-listen://[addr]:port/path (browsers watch by WHEP; player page at /path),
    /// rtsp-listen://[addr]:port/path (an RTSP server: players and recorders pull
    /// rtsp://addr:port/path, RTP over TCP or UDP),
    /// whip://host:port/path (push to the WHIP endpoint http://host:port/path),
    /// icecast://source:password@host:port/mount (stream MP3 inputs in real time), a .ts
    /// file, srt://host:port / srt-listen://[addr]:port (MPEG-TS over SRT), or
    /// rtmp://host[:port]/app/key (publish H.264/H.265 + AAC/MP3 to an RTMP server), or
    /// rtp://host:port (RTP over UDP, a port per track, with --sdp FILE).
    // One positional list, split here: clap ends a list of inputs at the first option
    // and then took the output for an unexpected argument (`in --token t out.mp4`).
    #[arg(required = true, num_args = 1.., value_name = "ENDPOINT")]
    endpoints: Vec<String>,
    #[command(flatten)]
    icecast: cli_icecast::IcecastArgs,

    /// `-` as output: what goes to standard output (mp4: fragmented, the default; ts,
    /// mkv, webm, mp3, aac, h264, h265, opus), as a file of that extension would hold it.
    #[arg(short = 'f', long, value_name = "FORMAT")]
    format: Option<PipeFormat>,
    /// Another output fed the same packets (repeat for more): record and serve one
    /// input at once, e.g. `rtsp://cam cam.mp4 --also rtsp-listen://0.0.0.0:8554/cam`.
    /// An output that fails stops alone, the others go on (the exit code says it); one
    /// that pushes to a server (rtmp://, srt://, icecast://, whip://) is opened again
    /// after a pause (1 s, doubling to 30 s) and goes on from the next key frame.
    #[arg(long, value_name = "OUTPUT")]
    also: Vec<String>,
    /// Write a fragmented MP4 (moof/mdat) instead of a plain one.
    #[arg(long)]
    fragmented: bool,
    /// Target fragment (and HLS segment) duration in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    fragment_duration: f64,
    /// Plain MP4: put moov in front of the media data when finishing.
    #[arg(long)]
    faststart: bool,
    /// MP4 and HLS files: sync written data to the disk after each fragment or segment
    /// (`fragment`), at most once per SECS, or never (`none`: a killed process still
    /// loses nothing written, a power cut may). Default: 1 for a live input, none for a
    /// file input (the input is the copy a power cut cannot take, as with ffmpeg).
    #[arg(long, value_name = "none|fragment|SECS", value_parser = parse_fsync)]
    fsync: Option<FsyncPolicy>,
    /// rtp:// output: write the session description (SDP) a receiver opens to FILE
    /// (`ffmpeg -protocol_whitelist file,udp,rtp -i FILE`); it is logged too.
    #[arg(long, value_name = "FILE")]
    sdp: Option<std::path::PathBuf>,
    /// Rotate: a new file at the first key frame after each multiple of SECS (wall clock);
    /// OUTPUT may hold strftime fields (UTC), e.g. cam-%Y%m%d-%H%M%S.mp4.
    #[arg(long, value_name = "SECS")]
    segment: Option<f64>,
    /// Stop after SECS of media time.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Leave out video.
    #[arg(long)]
    no_video: bool,
    /// Leave out audio.
    #[arg(long)]
    no_audio: bool,
    /// Annex B input (.h264, .h265): frames per second [default: the SPS's VUI timing,
    /// else 25].
    #[arg(long, value_name = "FPS")]
    fps: Option<f64>,
    /// MP4 input: read the track with this id (repeat for several) instead of the first
    /// video and the first audio track.
    #[arg(long = "track", value_name = "ID")]
    tracks: Vec<u32>,
    /// File input: send packets at their media pace, as a live source would.
    #[arg(long)]
    realtime: bool,
    /// File input: start again at the end, times continuing (stop with --duration or
    /// Ctrl-C).
    #[arg(long = "loop")]
    loop_input: bool,
    /// RTP transport.
    #[arg(long, value_name = "tcp|udp", default_value = "tcp")]
    transport: Transport,
    /// End the recording (exit 1) at the first lost RTP packet. By default loss is
    /// counted and logged and the recording goes on, as ffmpeg and NVRs do.
    #[arg(long)]
    fail_on_loss: bool,
    /// Keep recording when RTP packets are lost: the default now; kept so that older
    /// command lines still run.
    #[arg(long, hide = true, conflicts_with = "fail_on_loss")]
    allow_loss: bool,
    /// When to send RTSP TEARDOWN.
    #[arg(long, value_name = "auto|always|never", default_value = "auto")]
    teardown: Teardown,
    /// How to use RTP-Info's initial timestamps.
    #[arg(
        long,
        value_name = "default|require|ignore|permissive",
        default_value = "default"
    )]
    initial_timestamp: InitialTimestamp,
    /// RTSP user name (instead of the URL's).
    #[arg(long)]
    user: Option<String>,
    /// RTSP password (instead of the URL's).
    #[arg(long)]
    password: Option<String>,
    /// HLS playlist: rewritten live after each segment, or written once at the end.
    /// Default: vod for a file input read at full speed, live otherwise (a live input, or
    /// a file paced with --realtime or --loop).
    #[arg(long, value_name = "live|vod", value_parser = parse_hls)]
    hls_mode: Option<HlsMode>,
    /// tcp-listen://, tcp://, whep-listen://, whip-listen://, whep:// and whip://: shared
    /// token, sent as a bearer token by the clients (a server
    /// refuses clients without it; required to serve on a non-loopback address).
    /// rtsp-listen://: the password players give (any user name, rtsp://viewer:TOKEN@…).
    #[arg(long)]
    token: Option<String>,
    /// tcp-listen://: most clients served at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    max_clients: usize,
    /// tcp-listen://: media packets queued per client before its oldest non-key frames
    /// are dropped.
    #[arg(long, value_name = "PACKETS", default_value_t = 256)]
    client_queue: usize,
    /// tcp://: how long to keep trying to connect when the server cannot be reached (at
    /// the start or after losing it) before giving up with an error: e.g. 30s, 500ms,
    /// 2m, or forever. 0 = no retry.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_retry_for)]
    retry_for: RetryFor,
    /// RTSP over TCP to a file: handle packets in bursts, sleeping this long whenever none is
    /// ready (fewer wake-ups, about half the CPU, this much more delay); 0 = each packet
    /// as it arrives.
    #[arg(long, value_name = "MS", default_value_t = 200)]
    burst: u64,
    /// When to decode and encode tracks again (a build with the `codec` feature;
    /// without it, as never): only those the output cannot take or would leave out (G.711
    /// to MP4 becomes AAC, AAC to WebRTC Opus), every track, or never (a misfit fails).
    #[arg(
        long,
        value_name = "never|if-needed|always",
        default_value = "if-needed"
    )]
    transcode: pipeline::transcoding::TranscodePolicy,
    /// Codec of transcoded video.
    #[arg(long, value_name = "h264", default_value = "h264")]
    video_codec: pipeline::transcoding::VideoTarget,
    /// Codec of transcoded audio.
    #[arg(long, value_name = "aac|opus|mp3", default_value = "aac")]
    audio_codec: pipeline::transcoding::AudioTarget,
    /// Bitrate of transcoded video (bit/s; k and M suffixes).
    #[arg(long, value_name = "BITS", default_value = "2M", value_parser = parse_bitrate)]
    video_bitrate: u64,
    /// Bitrate of transcoded audio (bit/s; k and M suffixes).
    #[arg(long, value_name = "BITS", default_value = "128k", value_parser = parse_bitrate)]
    audio_bitrate: u64,
    /// More logs (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
}

impl Cli {
    /// Every endpoint but the last.
    fn inputs(&self) -> &[String] {
        self.endpoints
            .split_last()
            .map_or(&[], |(_, inputs)| inputs)
    }

    /// The last endpoint.
    fn output(&self) -> &str {
        self.endpoints.last().map_or("", String::as_str)
    }

    fn options(&self) -> anyhow::Result<Options> {
        Ok({
            let mut options = Options::default();
            options.fragmented = self.fragmented;
            options.fragment_duration = seconds("fragment-duration", self.fragment_duration)?;
            options.faststart = self.faststart;
            options.tls_ca.clone_from(&self.icecast.tls_ca);
            options.fsync = self.fsync;
            options.sdp_file = self.sdp.clone();
            options.segment = self.segment.map(|s| seconds("segment", s)).transpose()?;
            options.duration = self.duration.map(|s| seconds("duration", s)).transpose()?;
            options.video = !self.no_video;
            options.audio = !self.no_audio;
            options.rtsp = {
                let mut settings = RtspSettings::default();
                settings.transport = self.transport;
                settings.allow_loss = !self.fail_on_loss;
                settings.teardown = self.teardown;
                settings.initial_timestamp = self.initial_timestamp;
                settings.user = self.user.clone();
                settings.password = self.password.clone();
                settings
            };
            options.hls = self.hls_mode;
            options.remote = {
                let mut settings = pipeline::remote::RemoteSettings::default();
                settings.token = self.token.clone();
                settings.max_clients = self.max_clients;
                settings.client_queue = self.client_queue;
                settings.retry_for = self.retry_for.0;
                settings
            };
            options.burst = (self.burst > 0).then(|| Duration::from_millis(self.burst));
            options.frame_rate = self.fps;
            options.track_ids = self.tracks.clone();
            options.realtime = self.realtime;
            options.loop_input = self.loop_input;
            options.transcoding = {
                let mut t = pipeline::transcoding::Transcoding::default();
                t.policy = self.transcode;
                t.video_codec = self.video_codec;
                t.audio_codec = self.audio_codec;
                t.video_bitrate = self.video_bitrate;
                t.audio_bitrate = self.audio_bitrate;
                t
            };
            options
        })
    }
}

fn main() -> ExitCode {
    // `record` (many cameras from a file) and `recover` are subcommands of their own; the
    // classic form takes endpoints, and no endpoint is spelt `record` or `recover`.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "record") {
        return cli_record::main(args);
    }
    if args.get(1).is_some_and(|a| a == "recover") {
        return cli_record::recover_main(args);
    }
    let cli = Cli::parse();
    if cli.inputs().is_empty() {
        // A usage error like clap's own (exit code 2).
        use clap::CommandFactory;
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "an input and an output are needed: <INPUTS>... <OUTPUT>",
            )
            .exit();
    }
    let bar = (std::io::stderr().is_terminal() && !cli.quiet).then(status_bar);
    init_logs(&cli, bar.clone());
    // One thread runs the source and the status line; the recorder has its own (blocking)
    // thread. Fewer threads handing packets around costs less CPU than a worker pool.
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run(&cli, bar.clone())));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line; our errors' messages already include their causes.
            eprintln!("pipeline: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli, bar: Option<ProgressBar>) -> anyhow::Result<()> {
    let icecast = cli.icecast.target(cli.output());
    let inputs = cli.inputs();
    if let Some(url) = &icecast
        && cli_icecast::is_playlist(inputs)
    {
        return cli_icecast::run(&cli.icecast, url, inputs, bar).await;
    }
    let [input] = inputs else {
        if inputs.is_empty() {
            anyhow::bail!("no output: give the input(s), then the output");
        }
        anyhow::bail!(
            "several inputs (a playlist) need MP3, AAC or Ogg files and an icecast:// output"
        );
    };
    let input = Endpoint::parse(input, Direction::Input)?;
    let mut options = cli.options()?;
    let output = match icecast {
        Some(url) => {
            options.icecast = cli.icecast.settings()?;
            Endpoint::Icecast(SecretUrl::new(url))
        }
        None => Endpoint::parse(cli.output(), Direction::Output)?,
    };
    if matches!(output, Endpoint::Icecast(_)) && !cli.also.is_empty() {
        anyhow::bail!("--also is not for an icecast:// output (it paces its own stream)");
    }
    let mut outputs = vec![output];
    for also in &cli.also {
        outputs.push(Endpoint::parse(also, Direction::Output)?);
    }
    if outputs
        .iter()
        .filter(|o| matches!(o, Endpoint::Stdout(_)))
        .count()
        > 1
    {
        anyhow::bail!("`-` (standard output) can be one output only");
    }
    if let Some(format) = cli.format {
        let Some(Endpoint::Stdout(pipe)) = outputs
            .iter_mut()
            .find(|o| matches!(o, Endpoint::Stdout(_)))
        else {
            anyhow::bail!(
                "--format is for `-` (standard output); {} takes its format from its name",
                outputs[0]
            );
        };
        *pipe = format;
    }
    let mut outputs = outputs.into_iter();
    let mut pipeline = Pipeline::new(
        input,
        anyhow::Context::context(outputs.next(), "no output")?,
    );
    for also in outputs {
        pipeline = pipeline.also(also);
    }
    let handle = pipeline.with_options(options).spawn();
    let closer = handle.closer();
    let signals = tokio::spawn(async move {
        stop_signal().await;
        tracing::info!("stopping: finishing the output (Ctrl-C again to kill)");
        closer.close();
        stop_signal().await;
        closer.kill();
    });
    let ticker = bar.map(|bar| {
        let mut status = handle.status();
        tokio::spawn(async move {
            loop {
                bar.set_message(status_line(&status.borrow_and_update()));
                tokio::select! {
                    changed = status.changed() => if changed.is_err() { break },
                    () = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
        })
    });
    let summary = handle.wait().await;
    signals.abort();
    if let Some(t) = ticker {
        t.abort();
    }
    let summary = summary?;
    for file in &summary.files {
        tracing::info!(file = %file.display(), "written");
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn status_bar() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

fn status_line(s: &Status) -> String {
    let t = s.media_seconds;
    let bitrate = if t > 0.0 {
        s.bytes as f64 * 8.0 / t / 1000.0
    } else {
        0.0
    };
    format!(
        "{:02}:{:02}:{:04.1}  {} packets  {:.0} kbit/s  lost {}  files {}",
        (t / 3600.0) as u64,
        (t / 60.0) as u64 % 60,
        t % 60.0,
        s.packets,
        bitrate,
        s.lost,
        s.files
    )
}

fn init_logs(cli: &Cli, bar: Option<ProgressBar>) {
    use tracing_subscriber::EnvFilter;
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        // srt-tokio logs every handshake and state change at info.
        (false, 0) => "info,srt_protocol=warn,srt_tokio=warn",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(move || LogWriter(bar.clone()))
        .init();
}

/// Writes log lines to stderr above the status line (which is redrawn after).
struct LogWriter(Option<ProgressBar>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &self.0 {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("pipeline").chain(args.iter().copied()))
    }

    #[test]
    fn transcoding_flags_reach_the_options() {
        use pipeline::transcoding::{AudioTarget, TranscodePolicy};
        let cli = parse(&["in.mp4", "out.mp4"]).unwrap();
        let options = cli.options().unwrap();
        assert_eq!(options.transcoding.policy, TranscodePolicy::IfNeeded);
        assert_eq!(options.transcoding.audio_bitrate, 128_000);
        let cli = parse(&[
            "in.mp4",
            "out.mp4",
            "--transcode",
            "always",
            "--audio-codec",
            "opus",
            "--audio-bitrate",
            "96k",
            "--video-bitrate",
            "1.5M",
        ])
        .unwrap();
        let t = cli.options().unwrap().transcoding;
        assert_eq!(
            (t.policy, t.audio_codec),
            (TranscodePolicy::Always, AudioTarget::Opus)
        );
        assert_eq!((t.audio_bitrate, t.video_bitrate), (96_000, 1_500_000));
        assert!(parse(&["in.mp4", "out.mp4", "--transcode", "sometimes"]).is_err());
        assert!(parse(&["in.mp4", "out.mp4", "--audio-bitrate", "-3k"]).is_err());
    }

    #[test]
    fn options_may_stand_between_the_inputs_and_the_output() {
        for args in [
            &["tcp://host:9000", "--token", "s3cret", "out.mp4"][..],
            &["--token", "s3cret", "tcp://host:9000", "out.mp4"],
            &["tcp://host:9000", "out.mp4", "--token", "s3cret"],
        ] {
            let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(cli.inputs(), ["tcp://host:9000"], "{args:?}");
            assert_eq!(cli.output(), "out.mp4", "{args:?}");
            assert_eq!(cli.token.as_deref(), Some("s3cret"), "{args:?}");
        }
        let cli = parse(&["a.mp3", "--title", "t", "b.mp3", "-v", "icecast://h/m"]).unwrap();
        assert_eq!(cli.inputs(), ["a.mp3", "b.mp3"]);
        assert_eq!(cli.output(), "icecast://h/m");
        assert_eq!(cli.verbose, 1);
    }

    #[test]
    fn one_endpoint_is_not_enough() {
        let cli = parse(&["out.mp4"]).unwrap();
        assert!(cli.inputs().is_empty());
        assert!(parse(&[]).is_err());
    }
}
