//! Streams MP3 frames to an Icecast mount in real time, with mute, title updates,
//! reconnect and status events (what MusicDB's IcecastInterface does, without libshout).
//!
//! - Frames go out paced by their own durations ([`Pacer`]).
//! - Muted: the stream's silent frame is sent instead, paced the same way; the file
//!   position does not advance, and unmuting resumes at the same frame.
//! - Titles are set on a separate connection, in a task of their own, so a slow server
//!   answer never stalls the audio.
//! - At the end, silent frames flush the server's last queue block, so listeners hear the
//!   whole of the last file.
//! - When the server drops us, we reconnect with backoff (a mount still held by our dead
//!   connection answers "mount in use" for a moment) and resend the frame that failed.
//!   Wrong credentials end the stream after one attempt.

use std::time::{Duration, Instant};

use mp3_frames::silent_frame;
use tokio::sync::mpsc;

use super::playlist::{HeadedFrame, Mp3Input, count_frames, spawn_reader};
use super::{IcecastConfig, IcecastRefusal, IcecastSource, Pacer, update_title};
use crate::Error;

/// One MP3 frame ready for the wire (no tags).
#[derive(Debug, Clone)]
pub struct WireFrame {
    /// The frame's bytes, header included.
    pub data: bytes::Bytes,
    /// Samples per channel in the frame (1152 or 576 for Layer III).
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
    /// Silence sent after the last frame so that the server relays the whole stream
    /// (at least the server's queue block size).
    pub flush_bytes: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            lead: Pacer::DEFAULT_LEAD,
            timeout: Duration::from_secs(5),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            give_up_after: Duration::from_secs(120),
            flush_bytes: 4096,
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
    /// Stop now.
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
    /// The connection was lost, or an attempt failed.
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
    /// A title update failed (the stream goes on).
    TitleFailed {
        /// The title.
        title: String,
        /// Why.
        reason: String,
    },
    /// A frame of the input was sent.
    FrameSent {
        /// 0-based index of the frame in the playlist.
        index: u64,
        /// Frame count of the playlist, when known (not for stdin).
        total: Option<u64>,
        /// Media time sent since the start (file and silence).
        time: Duration,
    },
    /// The input ended (or a stop was asked) and the stream closed.
    Finished,
}

/// Streams the inputs (a playlist of MP3 files, or stdin) to the server as one continuous
/// stream. Runs until the inputs end, [`Command::Stop`], or an error that retrying cannot
/// fix (wrong credentials, unreadable or non-MP3 input, a format change). Events that find
/// the channel full are dropped: the audio never waits for a slow observer.
pub async fn stream_playlist(
    config: &IcecastConfig,
    options: &StreamOptions,
    inputs: Vec<Mp3Input>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
) -> Result<(), Error> {
    let total = count_frames(&inputs);
    // About a second of frames read ahead: bounded memory whatever the input length.
    let mut frames = spawn_reader(inputs, 48);
    let Some(first) = frames.recv().await.transpose()? else {
        return Err(Error::NotMp3 {
            input: "input".into(),
            found: "nothing".into(),
        });
    };
    let mut stream = Stream::new(config, options, first, total, events)?;
    // The first connection gets no retries: a wrong URL, a busy mount or a server that is
    // not there is the user's to fix, and they should hear it at once.
    let source = IcecastSource::connect(&stream.config, stream.options.timeout).await?;
    stream.report(Event::Connected {
        method: source.method(),
    });
    stream.source = Some(source);
    let mut commands_open = true;
    loop {
        while commands_open {
            match commands.try_recv() {
                Ok(Command::Stop) => return stream.finish(),
                Ok(command) => stream.apply(command),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => commands_open = false,
            }
        }
        if stream.muted {
            stream.send(stream.silence.clone(), false).await?;
            continue;
        }
        let frame = match stream.pending.take() {
            Some(frame) => frame,
            None => match frames.recv().await.transpose()? {
                Some((_, frame)) => frame,
                None => {
                    stream.flush().await?;
                    return stream.finish();
                }
            },
        };
        stream.send(frame, true).await?;
    }
}

/// The state of one running stream.
struct Stream {
    config: IcecastConfig,
    options: StreamOptions,
    source: Option<IcecastSource>,
    pacer: Pacer,
    silence: WireFrame,
    /// The next file frame, when it could not be sent yet (first frame, failed send, mute).
    pending: Option<WireFrame>,
    muted: bool,
    index: u64,
    total: Option<u64>,
    events: mpsc::Sender<Event>,
}

impl Stream {
    fn new(
        config: &IcecastConfig,
        options: &StreamOptions,
        (header, first): HeadedFrame,
        total: Option<u64>,
        events: mpsc::Sender<Event>,
    ) -> Result<Self, Error> {
        let silence = silent_frame(&header.with_padding(false)).map_err(|source| Error::Mp3 {
            context: "making the silent frame".into(),
            source,
        })?;
        let mut config = config.clone();
        let info = &mut config.info;
        info.bitrate_kbps = info
            .bitrate_kbps
            .or(Some(header.bitrate() / 1000).filter(|b| *b > 0));
        info.sample_rate = info.sample_rate.or(Some(header.sample_rate()));
        info.channels = info.channels.or(Some(header.mode().channels()));
        Ok(Stream {
            config,
            options: options.clone(),
            source: None,
            pacer: Pacer::new(Instant::now(), header.sample_rate(), options.lead),
            silence: WireFrame {
                data: silence.into(),
                samples: header.samples(),
            },
            pending: Some(first),
            muted: false,
            index: 0,
            total,
            events,
        })
    }

    fn report(&self, event: Event) {
        let _ = self.events.try_send(event);
    }

    /// Reports the end; the connection closes when the stream is dropped.
    fn finish(&self) -> Result<(), Error> {
        self.report(Event::Finished);
        Ok(())
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Mute if !self.muted => {
                self.muted = true;
                self.report(Event::Muted);
            }
            Command::Unmute if self.muted => {
                self.muted = false;
                self.report(Event::Unmuted);
            }
            Command::Title(title) => {
                let (config, timeout, events) = (
                    self.config.clone(),
                    self.options.timeout,
                    self.events.clone(),
                );
                tokio::spawn(async move {
                    let event = match update_title(&config, &title, timeout).await {
                        Ok(()) => Event::TitleSet(title),
                        Err(e) => Event::TitleFailed {
                            title,
                            reason: e.to_string(),
                        },
                    };
                    let _ = events.try_send(event);
                });
            }
            Command::Mute | Command::Unmute | Command::Stop => {}
        }
    }

    /// Ends the stream so that listeners get all of it: Icecast relays whole queue blocks
    /// only (`queue-block-size`, 1400 bytes by default), so the tail of the last file would
    /// stay behind; silent frames push it out. Then waits until real time reaches the end
    /// of what was sent, since a source that leaves early takes its queued bytes with it.
    async fn flush(&mut self) -> Result<(), Error> {
        let mut padded = 0;
        while padded < self.options.flush_bytes {
            padded += self.silence.data.len();
            self.send(self.silence.clone(), false).await?;
        }
        tokio::time::sleep(self.pacer.wait(Instant::now()) + self.options.lead).await;
        Ok(())
    }

    /// Sends one frame when it is due; on a lost connection, reconnects and keeps a file
    /// frame for resending (silence is not resent: it has no place in the file).
    async fn send(&mut self, frame: WireFrame, from_file: bool) -> Result<(), Error> {
        tokio::time::sleep(self.pacer.wait(Instant::now())).await;
        let source = self.source.as_mut().expect("connected before sending");
        if let Err(e) = source.send(&frame.data).await {
            self.report(Event::Disconnected {
                reason: e.to_string(),
            });
            if from_file {
                self.pending = Some(frame);
            }
            self.source = Some(self.reconnect().await?);
            self.pacer.resume_at(Instant::now());
            return Ok(());
        }
        self.pacer.sent(frame.samples);
        if from_file {
            self.report(Event::FrameSent {
                index: self.index,
                total: self.total,
                time: self.pacer.media_time(),
            });
            self.index += 1;
        }
        Ok(())
    }

    /// Reconnects after a lost connection, with backoff: right after a drop the server may
    /// still hold the mount for our dead connection ("mount in use") for a moment.
    async fn reconnect(&self) -> Result<IcecastSource, Error> {
        let started = Instant::now();
        let mut delay = self.options.backoff;
        loop {
            match IcecastSource::connect(&self.config, self.options.timeout).await {
                Ok(source) => {
                    self.report(Event::Connected {
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
                Err(e) => self.report(Event::Disconnected {
                    reason: e.to_string(),
                }),
            }
            if started.elapsed() + delay > self.options.give_up_after {
                return Err(Error::Timeout {
                    what: format!("reconnecting to {}", self.config),
                });
            }
            self.report(Event::Reconnecting { delay });
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.options.max_backoff);
        }
    }
}
