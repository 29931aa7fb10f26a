//! The `pipeline` binary's Icecast mode: `pipeline [OPTIONS] INPUT... icecast://…`.
//! (Part of the binary, not of the library: the library's API is `pipeline::icecast`.)
//!
//! Inputs are MP3 files played one after the other as one stream (or `-`, MP3 on stdin).
//! Any other input (an RTSP camera's AAC or MP3 audio, `tcp://`) goes through the
//! pipeline's Icecast sink instead, with the same stream options.
//! While streaming, commands are read line by line from stdin (unless stdin is an input):
//! `mute`, `unmute`, `title TEXT`, `queue PATH`, `next PATH`, `skip`, `clear`, `list`,
//! `stop`. When the queue runs dry the stream carries silence until a song is queued;
//! it ends instead with `--stop-when-empty`, when stdin is an input, or once stdin is
//! closed (nothing can be queued any more). Ctrl-C or SIGTERM stops.

use std::time::Duration;

use futures::StreamExt;
use indicatif::ProgressBar;
use pipeline::icecast::{
    Event, IcecastConfig, IcecastStream, Mp3Input, StreamOptions, forward_commands,
};
use pipeline::{Direction, Endpoint, IcecastSettings};

/// Options of the Icecast output.
#[derive(Debug, clap::Args)]
pub(crate) struct IcecastArgs {
    /// Icecast: treat an http:// OUTPUT as an Icecast server (like icecast://).
    #[arg(long)]
    icecast: bool,
    /// Icecast: stream title (instead of each song's `Artist – Title` from its tags;
    /// change it later with `title TEXT` on stdin).
    #[arg(long, value_name = "TEXT")]
    title: Option<String>,
    /// Icecast: stream name (ice-name).
    #[arg(long, value_name = "TEXT")]
    stream_name: Option<String>,
    /// Icecast: stream description (ice-description).
    #[arg(long, value_name = "TEXT")]
    stream_description: Option<String>,
    /// Icecast: genre (ice-genre).
    #[arg(long, value_name = "TEXT")]
    stream_genre: Option<String>,
    /// Icecast: the station's web page (ice-url).
    #[arg(long, value_name = "URL")]
    stream_url: Option<String>,
    /// Icecast: list the stream in public directories.
    #[arg(long)]
    public: bool,
    /// Icecast: User-Agent header of the source connection.
    #[arg(long, value_name = "TEXT")]
    user_agent: Option<String>,
    /// Icecast: how far ahead of real time the stream may run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 0.25)]
    lead: f64,
    /// Icecast: end the stream when the queue runs dry (by default silence is sent until
    /// a song is queued with `queue PATH` on stdin).
    #[arg(long)]
    stop_when_empty: bool,
    /// Icecast: connect with TLS (like an icecasts:// URL).
    #[arg(long)]
    tls: bool,
    /// Icecast output and https:// input: a PEM file of CA certificates to trust besides
    /// the built-in roots (a server's self-signed certificate); implies --tls for Icecast.
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_ca: Option<std::path::PathBuf>,
    /// Icecast: admin credentials sent with the status requests (listener count on the
    /// status line); the password is never printed.
    #[arg(long, value_name = "USER:PASSWORD")]
    admin: Option<String>,
}

impl IcecastArgs {
    /// The Icecast URL of `output` when it names an Icecast server.
    pub(crate) fn target(&self, output: &str) -> Option<String> {
        let lower = output.to_ascii_lowercase();
        let http = lower.starts_with("http://") || lower.starts_with("https://");
        (lower.starts_with("icecast://")
            || lower.starts_with("icecasts://")
            || (self.icecast && http))
            .then(|| output.to_owned())
    }
}

/// Whether `inputs` are MP3, AAC (ADTS) or Ogg Opus/Vorbis files, or stdin (MP3): a
/// playlist, streamed here with stdin commands. Any other input goes through the pipeline
/// to its Icecast sink.
pub(crate) fn is_playlist(inputs: &[String]) -> bool {
    inputs.iter().all(|s| {
        matches!(
            Endpoint::parse(s, Direction::Input),
            Ok(Endpoint::Mp3File(_)
                | Endpoint::AacFile(_)
                | Endpoint::OggFile(_)
                | Endpoint::Stdin)
        )
    })
}

impl IcecastArgs {
    /// The pipeline's Icecast sink settings from these options.
    pub(crate) fn settings(&self) -> anyhow::Result<IcecastSettings> {
        let mut settings = IcecastSettings::default();
        settings.info.name = self.stream_name.clone();
        settings.info.description = self.stream_description.clone();
        settings.info.genre = self.stream_genre.clone();
        settings.info.url = self.stream_url.clone();
        settings.info.public = self.public;
        settings.user_agent = self.user_agent.clone();
        settings.title = self.title.clone();
        settings.stream.lead = self.lead()?;
        settings.tls = self.tls;
        settings.tls_ca = self.tls_ca.clone();
        settings.admin = self.admin()?;
        Ok(settings)
    }

    /// `--admin USER:PASSWORD`.
    fn admin(&self) -> anyhow::Result<Option<(String, String)>> {
        let Some(admin) = &self.admin else {
            return Ok(None);
        };
        let (user, password) = admin
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--admin takes USER:PASSWORD"))?;
        Ok(Some((user.to_owned(), password.to_owned())))
    }

    fn lead(&self) -> anyhow::Result<Duration> {
        Duration::try_from_secs_f64(self.lead)
            .map_err(|_| anyhow::anyhow!("--lead {}: not a duration in seconds", self.lead))
    }
}

/// Streams `inputs` to the Icecast server at `url` until they end or a stop.
pub(crate) async fn run(
    args: &IcecastArgs,
    url: &str,
    inputs: &[String],
    bar: Option<ProgressBar>,
) -> anyhow::Result<()> {
    let mut config = IcecastConfig::from_url(url)?;
    config.info.name = args.stream_name.clone();
    config.info.description = args.stream_description.clone();
    config.info.genre = args.stream_genre.clone();
    config.info.url = args.stream_url.clone();
    config.info.public = args.public;
    if let Some(agent) = &args.user_agent {
        config.user_agent.clone_from(agent);
    }
    config.tls |= args.tls || args.tls_ca.is_some();
    config.tls_ca.clone_from(&args.tls_ca);
    config.admin = args.admin()?;
    let inputs = inputs
        .iter()
        .map(|s| match Endpoint::parse(s, Direction::Input)? {
            Endpoint::Mp3File(path) | Endpoint::AacFile(path) | Endpoint::OggFile(path) => {
                Ok(Mp3Input::File(path))
            }
            Endpoint::Stdin => Ok(Mp3Input::Stdin),
            other => anyhow::bail!("an icecast playlist takes MP3, AAC or Ogg files, not {other}"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let reads_stdin = inputs.contains(&Mp3Input::Stdin);
    let options = {
        let mut options = StreamOptions::default();
        options.lead = args.lead()?;
        options.stop_when_empty = args.stop_when_empty || reads_stdin; // --title is the stream's title; without it each song's tags give it.
        options.title_from_tags = args.title.is_none();
        options
    };
    let mut stream = IcecastStream::spawn(config, options, inputs);
    let mut events = stream.events().expect("events are taken once");
    if let Some(title) = &args.title {
        stream.set_title(title.clone()).await;
    }
    let commands = (!reads_stdin).then(|| {
        let sender = stream.commands();
        tokio::spawn(async move {
            forward_commands(tokio::io::stdin(), sender.clone()).await;
            // Nothing can be queued any more: end when the queue runs dry.
            let _ = sender.send(pipeline::icecast::Command::StopWhenEmpty).await;
        })
    });
    let stopper = {
        let sender = stream.commands();
        tokio::spawn(async move {
            crate::stop_signal().await;
            tracing::info!("stopping");
            let _ = sender.send(pipeline::icecast::Command::Stop).await;
        })
    };
    let reporter = tokio::spawn(async move {
        let mut muted = false;
        let mut listeners = None;
        while let Some(event) = events.next().await {
            match event {
                Event::FrameSent { index, total, time } => {
                    if let Some(bar) = &bar {
                        let of = total.map_or(String::new(), |t| format!("/{t}"));
                        let state = if muted { "  muted" } else { "" };
                        let heard = listeners.map_or(String::new(), |n| format!("  {n} listening"));
                        bar.set_message(format!(
                            "{}  frame {}{of}{state}{heard}",
                            clock(time),
                            index + 1
                        ));
                    }
                }
                Event::Status(status) => {
                    if listeners != Some(status.listeners) {
                        tracing::info!("{} listening", status.listeners);
                    }
                    listeners = Some(status.listeners);
                }
                Event::StatusFailed { reason } => tracing::debug!("status: {reason}"),
                Event::Muted => {
                    muted = true;
                    tracing::info!("muted");
                }
                Event::Unmuted => {
                    muted = false;
                    tracing::info!("unmuted");
                }
                Event::Connected { method } => tracing::info!("connected ({method})"),
                Event::Disconnected { reason } => tracing::warn!("disconnected: {reason}"),
                Event::Reconnecting { delay } => tracing::info!("reconnecting in {delay:?}"),
                Event::TitleSet(title) => tracing::info!("title: {title}"),
                Event::TitleFailed { title, reason } => {
                    tracing::warn!("title {title:?} not set: {reason}");
                }
                Event::TrackStarted {
                    index,
                    input,
                    title,
                } => match title {
                    Some(title) => tracing::info!("song {}: {} ({title})", index + 1, input.name()),
                    None => tracing::info!("song {}: {}", index + 1, input.name()),
                },
                Event::TrackFinished {
                    input,
                    completed: false,
                    ..
                } => tracing::info!("skipped {}", input.name()),
                // The reason names the song.
                Event::TrackFailed { reason, .. } => tracing::warn!("not played: {reason}"),
                Event::QueueEmpty => tracing::info!("queue empty: sending silence"),
                Event::Queue { playing, queued } => {
                    let playing = playing.map_or("nothing".into(), |p| p.name());
                    let queued: Vec<String> = queued.iter().map(|q| q.name()).collect();
                    tracing::info!("playing {playing}; queued: [{}]", queued.join(", "));
                }
                Event::Finished => tracing::info!("finished"),
                _ => {}
            }
        }
    });
    let result = stream.wait().await;
    stopper.abort();
    if let Some(c) = commands {
        c.abort();
    }
    let _ = reporter.await;
    Ok(result?)
}

fn clock(t: Duration) -> String {
    let s = t.as_secs_f64();
    format!(
        "{:02}:{:02}:{:04.1}",
        (s / 3600.0) as u64,
        (s / 60.0) as u64 % 60,
        s % 60.0
    )
}
