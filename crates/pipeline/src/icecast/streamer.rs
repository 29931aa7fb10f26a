//! Streams MP3 frames to an Icecast mount in real time, with mute, title updates,
//! reconnect and status events (what MusicDB's IcecastInterface does, without libshout).
//!
//! - Frames go out paced by their own durations ([`Pacer`]).
//! - Muted: the stream's silent frame is sent instead, paced the same way; the file
//!   position does not advance, and unmuting resumes at the same frame.
//! - When the server drops us, we reconnect with backoff (a mount still held by our dead
//!   connection answers "mount in use" for a moment) and resend the frame that failed.
//!   Wrong credentials end the stream at once.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{IcecastConfig, IcecastRefusal, IcecastSource, Pacer, update_title};
use crate::Error;

/// One MP3 frame ready for the wire (no tags).
#[derive(Debug, Clone)]
pub struct WireFrame {
    /// The frame's bytes, header included.
    pub data: Bytes,
    /// Samples per channel in the frame (1152, 576 or 384).
    pub samples: u32,
}

/// How to stream.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// How far ahead of real time the stream may run.
    pub lead: Duration,
    /// Bound of each connect and each answer.
    pub timeout: Duration,
    /// First reconnect delay; doubled per failed attempt up to `max_backoff`.
    pub backoff: Duration,
    /// Largest reconnect delay.
    pub max_backoff: Duration,
    /// Give up after this long without a connection.
    pub give_up_after: Duration,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            lead: Pacer::DEFAULT_LEAD,
            timeout: Duration::from_secs(5),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            give_up_after: Duration::from_secs(120),
        }
    }
}

/// Commands a running stream accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send silence instead of the file from now on.
    Mute,
    /// Resume the file where it stopped.
    Unmute,
    /// Set the stream title.
    Title(String),
    /// Stop after the current frame.
    Stop,
}

/// What a running stream reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Connected as a source with this method (`PUT` or `SOURCE`).
    Connected {
        /// The HTTP method the server accepted.
        method: &'static str,
    },
    /// The connection was lost.
    Disconnected {
        /// Why.
        reason: String,
    },
    /// Reconnecting after this delay.
    Reconnecting {
        /// Delay before the attempt.
        delay: Duration,
    },
    /// Silence is being sent instead of the file.
    Muted,
    /// The file resumed.
    Unmuted,
    /// The title was set on the server.
    TitleSet(String),
    /// A frame of the file was sent.
    FrameSent {
        /// 0-based index of the frame in the input.
        index: u64,
        /// Frame count of the input, when known.
        total: Option<u64>,
        /// Media time sent since the start (file and silence).
        time: Duration,
    },
    /// The input ended (or a stop was asked) and the stream closed.
    Finished,
}

/// The audio to stream: frames of one format, and that format's silent frame.
#[derive(Debug)]
pub struct AudioInput<I> {
    /// Frames in order (an error ends the stream).
    pub frames: I,
    /// Frame count, when known (for progress events).
    pub total: Option<u64>,
    /// One silent frame in the stream's format, sent while muted.
    pub silence: WireFrame,
    /// Sample rate, for pacing.
    pub sample_rate: u32,
}

/// Streams the input to the server. Runs until the frames end, [`Command::Stop`], or an
/// error that retrying cannot fix. Events that find the channel full are dropped (the
/// audio never waits for a slow observer).
pub async fn stream_frames<I>(
    config: &IcecastConfig,
    options: &StreamOptions,
    input: AudioInput<I>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
) -> Result<(), Error>
where
    I: Iterator<Item = Result<WireFrame, Error>>,
{
    let AudioInput {
        mut frames,
        total,
        silence,
        sample_rate,
    } = input;
    let report = |event: Event| {
        // A full or closed event channel must not stall the audio: drop the event.
        let _ = events.try_send(event);
    };
    let mut source = connect_with_backoff(config, options, &report).await?;
    let mut pacer = Pacer::new(Instant::now(), sample_rate, options.lead);
    let mut pending: Option<WireFrame> = None;
    let mut muted = false;
    let mut index = 0u64;
    let mut commands_open = true;
    loop {
        // Apply every command that has arrived.
        while commands_open {
            match commands.try_recv() {
                Ok(Command::Mute) if !muted => {
                    muted = true;
                    report(Event::Muted);
                }
                Ok(Command::Unmute) if muted => {
                    muted = false;
                    report(Event::Unmuted);
                }
                Ok(Command::Title(title)) => {
                    match update_title(config, &title, options.timeout).await {
                        Ok(()) => report(Event::TitleSet(title)),
                        Err(e) => tracing::warn!("title update failed: {e}"),
                    }
                }
                Ok(Command::Stop) => {
                    report(Event::Finished);
                    return Ok(());
                }
                Ok(_) => {}
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => commands_open = false,
            }
        }
        let frame = if muted {
            silence.clone()
        } else {
            match pending.take().map(Ok).or_else(|| frames.next()) {
                Some(frame) => frame?,
                None => {
                    report(Event::Finished);
                    return Ok(());
                }
            }
        };
        tokio::time::sleep(pacer.wait(Instant::now())).await;
        if let Err(e) = source.send(&frame.data).await {
            report(Event::Disconnected {
                reason: e.to_string(),
            });
            if !muted {
                pending = Some(frame);
            }
            source = connect_with_backoff(config, options, &report).await?;
            pacer.restart(Instant::now());
            continue;
        }
        pacer.sent(frame.samples);
        if !muted {
            report(Event::FrameSent {
                index,
                total,
                time: pacer.media_time(),
            });
            index += 1;
        }
    }
}

async fn connect_with_backoff(
    config: &IcecastConfig,
    options: &StreamOptions,
    report: &impl Fn(Event),
) -> Result<IcecastSource, Error> {
    let started = Instant::now();
    let mut delay = options.backoff;
    loop {
        match IcecastSource::connect(config, options.timeout).await {
            Ok(source) => {
                report(Event::Connected {
                    method: source.method(),
                });
                return Ok(source);
            }
            // Retrying cannot fix these: stop after one attempt.
            Err(
                e @ Error::Icecast {
                    refusal:
                        IcecastRefusal::WrongCredentials | IcecastRefusal::UnsupportedContentType(_),
                    ..
                },
            ) => {
                return Err(e);
            }
            Err(e) => report(Event::Disconnected {
                reason: e.to_string(),
            }),
        }
        if started.elapsed() + delay > options.give_up_after {
            return Err(Error::Timeout {
                what: format!("reconnecting to {config}"),
            });
        }
        report(Event::Reconnecting { delay });
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(options.max_backoff);
    }
}
