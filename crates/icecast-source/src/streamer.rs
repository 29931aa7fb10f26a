//! Streams frames to an Icecast mount in real time, with mute, title updates, reconnect and
//! status events (what MusicDB's IcecastInterface does over libshout, without libshout).
//!
//! - Frames come from a playlist of MP3 files ([`crate::Mp3Input`]) or are pushed from code
//!   ([`crate::IcecastStream::start`]), and go out paced by their own durations
//!   ([`Pacer`]): a source that runs ahead fills the server's queue and makes titles lead
//!   the audio; one that lags starves listeners.
//! - Muted (MP3 only): the stream's silent frame (zero side info, no Info tag, the current
//!   header without padding) is sent instead, paced the same way; the input does not
//!   advance, and unmuting resumes at the same frame. AAC streams refuse mute: a silent AAC
//!   frame needs an AAC encoder.
//! - Titles are set on a separate connection, in a task of their own, so a slow server
//!   answer never stalls the audio. The server forgets a mount's title with its source,
//!   so the current title is set again after every reconnection.
//! - At the end of an MP3 stream, silent frames flush the server's last queue block
//!   (Icecast relays whole `queue-block-size` blocks), so listeners hear the whole input.
//! - When the server drops us, we reconnect with [`media_core::Backoff`] (a mount still
//!   held by our dead connection answers "mount in use" for a moment, DSheirer/sdrtrunk#132)
//!   and resend the frame that failed. Wrong credentials and an unsupported content type
//!   end the stream after one attempt.

use std::time::{Duration, Instant};

use media_core::Backoff;
use mp3_frames::{FrameHeader, silent_frame};
use tokio::sync::mpsc;

use crate::adts::AdtsHeader;
use crate::playlist::{HeadedFrame, Mp3Input, count_frames, describe, same_format, spawn_reader};
use crate::{
    AudioFrame, Command, Error, Event, IcecastConfig, IcecastRefusal, IcecastSource, Pacer,
    update_title,
};

/// Pause between two attempts to set a title again after a reconnection.
const TITLE_RETRY: Duration = Duration::from_millis(500);
/// Attempts to set the title again after a reconnection.
const TITLE_ATTEMPTS_AFTER_RECONNECT: u32 = 3;

/// How to stream.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// How far ahead of real time the stream may run.
    pub lead: Duration,
    /// Bound of each connect and each answer.
    pub timeout: Duration,
    /// Delays between reconnection attempts after a lost connection.
    pub reconnect: Backoff,
    /// Give up after this long without a connection.
    pub give_up_after: Duration,
    /// Silence sent after the last frame so that the server relays the whole stream
    /// (at least the server's queue block size; MP3 only).
    pub flush_bytes: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            lead: Pacer::DEFAULT_LEAD,
            timeout: Duration::from_secs(5),
            reconnect: Backoff {
                initial_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(10),
                ..Backoff::default()
            },
            give_up_after: Duration::from_secs(120),
            flush_bytes: 4096,
        }
    }
}

/// Where a stream's frames come from.
pub(crate) enum Input {
    /// A playlist read on a blocking thread; its format is checked by the reader.
    Playlist(mpsc::Receiver<Result<HeadedFrame, Error>>),
    /// Frames pushed from code, checked here.
    Pushed(mpsc::Receiver<AudioFrame>),
}

/// The format of the first frame, which every later frame keeps.
#[derive(Debug, Clone, Copy)]
enum Format {
    Mp3(FrameHeader),
    Aac(AdtsHeader),
}

impl Format {
    fn describe(self) -> String {
        match self {
            Format::Mp3(h) => describe(h),
            Format::Aac(h) => h.describe(),
        }
    }
}

/// Reads a pushed frame's header as the content type says; the frame's own sample count
/// and rate must agree with it (they pace the stream).
fn pushed_format(config: &IcecastConfig, frame: &AudioFrame, index: u64) -> Result<Format, Error> {
    let input = || format!("pushed frame {index}");
    let (format, samples, rate) = if config.content_type.is_aac() {
        let h = AdtsHeader::parse(&frame.data).map_err(|found| Error::NotAdts {
            input: input(),
            found,
        })?;
        if h.frame_length != frame.data.len() {
            return Err(Error::NotAdts {
                input: input(),
                found: format!(
                    "its header says {} bytes, {} were pushed (one frame per push)",
                    h.frame_length,
                    frame.data.len()
                ),
            });
        }
        (Format::Aac(h), h.samples(), h.sample_rate)
    } else {
        let h = mp3_frames::header_at(&frame.data, 0).map_err(|e| Error::NotMp3 {
            input: input(),
            found: e.to_string(),
        })?;
        (Format::Mp3(h), h.samples(), h.sample_rate())
    };
    if (samples, rate) != (frame.samples, frame.sample_rate) {
        return Err(Error::FormatChange {
            input: input(),
            offset: index,
            from: format!("{samples} samples at {rate} Hz (its header)"),
            to: format!(
                "{} samples at {} Hz (as pushed)",
                frame.samples, frame.sample_rate
            ),
        });
    }
    Ok(format)
}

/// Streams `input` to the server as one continuous stream. Runs until the input ends,
/// [`Command::Stop`], or an error that retrying cannot fix (wrong credentials, unreadable
/// or wrong input, a format change). Events that find the channel full are dropped: the
/// audio never waits for a slow observer.
pub(crate) async fn run(
    config: IcecastConfig,
    options: StreamOptions,
    mut input: Input,
    total: Option<u64>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
) -> Result<(), Error> {
    let report = |event| {
        let _ = events.try_send(event);
    };
    // The first frame sets the format; commands other than a stop wait for the connection
    // (a title needs a source on the mount).
    let mut early = Vec::new();
    let mut commands_open = true;
    let first = match &mut input {
        Input::Playlist(frames) => match frames.recv().await.transpose()? {
            Some((header, frame)) => Some((Format::Mp3(header), frame)),
            None => {
                return Err(Error::NotMp3 {
                    input: "input".into(),
                    found: "nothing".into(),
                });
            }
        },
        Input::Pushed(frames) => loop {
            tokio::select! {
                biased;
                command = commands.recv(), if commands_open => match command {
                    Some(Command::Stop) => break None,
                    Some(command) => early.push(command),
                    None => commands_open = false,
                },
                frame = frames.recv() => match frame {
                    Some(frame) => break Some((pushed_format(&config, &frame, 0)?, frame)),
                    None => break None,
                },
            }
        },
    };
    let Some((format, first)) = first else {
        report(Event::Finished);
        return Ok(());
    };
    let mut stream = Stream::new(config, options, format, first, events.clone());
    stream.total = total;
    // The first connection gets no retries: a wrong URL, a busy mount or a server that is
    // not there is the user's to fix, and they should hear it at once.
    let source = IcecastSource::connect(&stream.config, stream.options.timeout).await?;
    stream.report(Event::Connected {
        method: source.method(),
    });
    stream.source = Some(source);
    for command in early {
        stream.apply(command);
    }
    loop {
        while commands_open {
            match commands.try_recv() {
                Ok(Command::Stop) => return stream.finish(),
                Ok(command) => stream.apply(command),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => commands_open = false,
            }
        }
        if stream.muted
            && let Some(silence) = stream.silence.clone()
        {
            // Ending a muted stream's input ends the stream: the frames still queued would
            // only be heard after an unmute that can no longer come.
            if let Input::Pushed(frames) = &input
                && frames.is_closed()
            {
                stream.flush().await?;
                return stream.finish();
            }
            stream.send(silence, false).await?;
            continue;
        }
        let frame = match stream.pending.take() {
            Some(frame) => frame,
            None => {
                let next = match &mut input {
                    Input::Playlist(frames) => frames.recv().await.transpose()?.map(|(_, f)| f),
                    Input::Pushed(frames) => {
                        // A live producer may be slow: a command must not wait for its frame.
                        tokio::select! {
                            biased;
                            command = commands.recv(), if commands_open => {
                                match command {
                                    Some(Command::Stop) => return stream.finish(),
                                    Some(command) => stream.apply(command),
                                    None => commands_open = false,
                                }
                                continue;
                            }
                            frame = frames.recv() => match frame {
                                Some(frame) => Some(stream.check_pushed(frame)?),
                                None => None,
                            },
                        }
                    }
                };
                match next {
                    Some(frame) => frame,
                    None => {
                        stream.flush().await?;
                        return stream.finish();
                    }
                }
            }
        };
        stream.send(frame, true).await?;
    }
}

/// Streams a playlist of MP3 inputs (files, or stdin) as one stream; see
/// [`crate::IcecastStream::spawn`] for a handle that runs it as a task.
pub async fn stream_playlist(
    config: &IcecastConfig,
    options: &StreamOptions,
    inputs: Vec<Mp3Input>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
) -> Result<(), Error> {
    let mut config = config.clone();
    config.content_type = crate::ContentType::Mpeg;
    let total = count_frames(&inputs);
    // About a second of frames read ahead: bounded memory whatever the input length.
    let frames = spawn_reader(inputs, 48);
    run(
        config,
        options.clone(),
        Input::Playlist(frames),
        total,
        commands,
        events,
    )
    .await
}

/// The state of one running stream.
struct Stream {
    config: IcecastConfig,
    options: StreamOptions,
    source: Option<IcecastSource>,
    pacer: Pacer,
    format: Format,
    /// The silent frame of the stream's format (MP3 only).
    silence: Option<AudioFrame>,
    /// The next input frame, when it could not be sent yet (first frame, failed send).
    pending: Option<AudioFrame>,
    muted: bool,
    /// The last title asked for: set again after a reconnection.
    title: Option<String>,
    index: u64,
    /// Frame count of the input, when known.
    total: Option<u64>,
    events: mpsc::Sender<Event>,
}

impl Stream {
    fn new(
        mut config: IcecastConfig,
        options: StreamOptions,
        format: Format,
        first: AudioFrame,
        events: mpsc::Sender<Event>,
    ) -> Self {
        let info = &mut config.info;
        let silence = match format {
            Format::Mp3(header) => {
                info.bitrate_kbps = info
                    .bitrate_kbps
                    .or(Some(header.bitrate() / 1000).filter(|b| *b > 0));
                info.channels = info.channels.or(Some(header.mode().channels()));
                silent_frame(&header.with_padding(false)).ok().map(|data| {
                    AudioFrame::new(data.into(), header.samples(), header.sample_rate())
                })
            }
            Format::Aac(header) => {
                info.channels = info.channels.or(header.channels());
                None
            }
        };
        info.sample_rate = info.sample_rate.or(Some(first.sample_rate));
        Stream {
            pacer: Pacer::new(Instant::now(), first.sample_rate, options.lead),
            config,
            options,
            source: None,
            format,
            silence,
            pending: Some(first),
            muted: false,
            title: None,
            index: 0,
            total: None,
            events,
        }
    }

    fn report(&self, event: Event) {
        let _ = self.events.try_send(event);
    }

    /// Reports the end; the connection closes when the stream is dropped.
    fn finish(&self) -> Result<(), Error> {
        self.report(Event::Finished);
        Ok(())
    }

    /// A pushed frame must keep the first frame's format: listeners' decoders were set up
    /// for it, and the pacer counts samples at its rate.
    fn check_pushed(&self, frame: AudioFrame) -> Result<AudioFrame, Error> {
        // Every earlier frame was sent before the input is read again.
        let index = self.index;
        let format = pushed_format(&self.config, &frame, index)?;
        let same = match (self.format, format) {
            (Format::Mp3(a), Format::Mp3(b)) => same_format(a, b),
            (Format::Aac(a), Format::Aac(b)) => a.same_format(&b),
            _ => false,
        };
        if !same || frame.sample_rate != self.pacer.sample_rate() {
            return Err(Error::FormatChange {
                input: format!("pushed frame {index}"),
                offset: index,
                from: self.format.describe(),
                to: format!(
                    "{} (frame says {} Hz)",
                    format.describe(),
                    frame.sample_rate
                ),
            });
        }
        Ok(frame)
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Mute if self.silence.is_none() => self.report(Event::CommandRefused {
                command,
                reason: Error::MuteUnsupported {
                    content_type: self.config.content_type.as_str(),
                }
                .to_string(),
            }),
            Command::Mute if !self.muted => {
                self.muted = true;
                self.report(Event::Muted);
            }
            Command::Unmute if self.muted => {
                self.muted = false;
                self.report(Event::Unmuted);
            }
            Command::Title(title) => {
                self.title = Some(title.clone());
                self.send_title(title, 1);
            }
            Command::Mute | Command::Unmute | Command::Stop => {}
        }
    }

    /// Sets `title` on a connection of its own (a task), trying up to `attempts` times
    /// half a second apart; reports [`Event::TitleSet`] or the last failure.
    fn send_title(&self, title: String, attempts: u32) {
        let (config, timeout, events) = (
            self.config.clone(),
            self.options.timeout,
            self.events.clone(),
        );
        tokio::spawn(async move {
            let mut attempt = 1;
            let event = loop {
                match update_title(&config, &title, timeout).await {
                    Ok(()) => break Event::TitleSet(title),
                    Err(e) if attempt >= attempts => {
                        break Event::TitleFailed {
                            title,
                            reason: e.to_string(),
                        };
                    }
                    Err(_) => attempt += 1,
                }
                tokio::time::sleep(TITLE_RETRY).await;
            };
            let _ = events.try_send(event);
        });
    }

    /// Ends the stream so that listeners get all of it: Icecast relays whole queue blocks
    /// only (`queue-block-size`, 1400 bytes by default), so the tail of the input would
    /// stay behind; silent frames push it out (MP3; an AAC stream loses up to one block).
    /// Then waits until real time reaches the end of what was sent, since a source that
    /// leaves early takes its queued bytes with it.
    async fn flush(&mut self) -> Result<(), Error> {
        if let Some(silence) = self.silence.clone() {
            let mut padded = 0;
            while padded < self.options.flush_bytes {
                padded += silence.data.len();
                self.send(silence.clone(), false).await?;
            }
        }
        tokio::time::sleep(self.pacer.wait(Instant::now()) + self.options.lead).await;
        Ok(())
    }

    /// Sends one frame when it is due; on a lost connection, reconnects and keeps an input
    /// frame for resending (silence is not resent: it has no place in the input).
    async fn send(&mut self, frame: AudioFrame, from_input: bool) -> Result<(), Error> {
        tokio::time::sleep(self.pacer.wait(Instant::now())).await;
        let sent = match self.source.as_mut() {
            Some(source) => source.send(&frame.data).await,
            None => Err(Error::Closed),
        };
        if let Err(e) = sent {
            self.report(Event::Disconnected {
                reason: e.to_string(),
            });
            if from_input {
                self.pending = Some(frame);
            }
            self.source = Some(self.reconnect().await?);
            self.pacer.resume_at(Instant::now());
            // A restarted server (or a mount that was dropped) has no title: set it again.
            // Tried a few times: right after the answer to the source request the mount
            // may not take metadata yet.
            if let Some(title) = self.title.clone() {
                self.send_title(title, TITLE_ATTEMPTS_AFTER_RECONNECT);
            }
            return Ok(());
        }
        self.pacer.sent(frame.samples);
        if from_input {
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
    /// still hold the mount for our dead connection ("mount in use") for a moment, so that
    /// refusal is retried here although [`Error::is_permanent`] calls it permanent.
    async fn reconnect(&self) -> Result<IcecastSource, Error> {
        let started = Instant::now();
        let mut attempt = 0;
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
                    e @ Error::Refused {
                        refusal:
                            IcecastRefusal::WrongCredentials | IcecastRefusal::UnsupportedContentType(_),
                        ..
                    },
                ) => return Err(e),
                Err(e) => self.report(Event::Disconnected {
                    reason: e.to_string(),
                }),
            }
            attempt += 1;
            let delay = self.options.reconnect.delay(attempt, rand::random::<f64>());
            if started.elapsed() + delay > self.options.give_up_after {
                return Err(Error::Timeout {
                    what: format!("reconnecting to {}", self.config),
                });
            }
            self.report(Event::Reconnecting { delay });
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::ContentType;

    #[test]
    fn pushed_frames_must_agree_with_their_headers_and_content_type() {
        let mp3 = IcecastConfig::from_url("icecast://h/m").unwrap();
        // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz: 1152 samples.
        let header = FrameHeader::from_u32(0xFFFB_9064).unwrap();
        let data = Bytes::from(silent_frame(&header).unwrap());
        let right = AudioFrame::mp3(data.clone()).unwrap();
        assert_eq!((right.samples, right.sample_rate), (1152, 44_100));
        assert!(matches!(pushed_format(&mp3, &right, 0), Ok(Format::Mp3(_))));
        let lying = AudioFrame::new(data.clone(), 1024, 48_000);
        let err = pushed_format(&mp3, &lying, 5).unwrap_err();
        assert!(
            matches!(err, Error::FormatChange { offset: 5, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("48000 Hz (as pushed)"), "{err}");
        let aac = mp3.with_content_type(ContentType::Aac);
        let err = pushed_format(&aac, &right, 0).unwrap_err();
        assert!(matches!(err, Error::NotAdts { .. }), "{err:?}");
    }
}
