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

use mp3_frames::silent_frame;
use tokio::sync::mpsc;

use crate::format::{Format, check_pushed, pushed_format};
use crate::playlist::{Mp3Input, count_frames};
use crate::queue::{Next, Player, SongQueue, queue_command};
use crate::{
    AudioFrame, Command, Error, Event, IcecastConfig, IcecastRefusal, IcecastSource, Pacer,
    StreamOptions, mount_status, update_title,
};

/// Pause between two attempts to set a title again after a reconnection.
const TITLE_RETRY: Duration = Duration::from_millis(500);
/// Attempts to set the title again after a reconnection.
const TITLE_ATTEMPTS_AFTER_RECONNECT: u32 = 3;

/// Where a stream's frames come from.
pub(crate) enum Input {
    /// A live queue of songs, read on blocking threads; the player checks each song's
    /// format against the stream's.
    Queue(Box<Player>),
    /// Frames pushed from code, checked here.
    Pushed(mpsc::Receiver<AudioFrame>),
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
    let report = |event: Event| {
        let _ = events.try_send(event);
    };
    // The first frame sets the format; commands other than a stop wait for the connection
    // (a title needs a source on the mount).
    let mut early = Vec::new();
    let mut commands_open = true;
    let mut stop_when_empty = options.stop_when_empty;
    let first = match &mut input {
        Input::Queue(player) => loop {
            match player.next(None, &report).await {
                Next::Frame(frame, header) => break Some((Format::Mp3(header), frame)),
                // Nothing could be played: the last song's failure is the stream's.
                Next::Dry if stop_when_empty => {
                    return Err(player.last_failure.take().unwrap_or(Error::NotMp3 {
                        input: "input".into(),
                        found: "nothing".into(),
                    }));
                }
                Next::Dry => tokio::select! {
                    biased;
                    command = commands.recv(), if commands_open => match command {
                        Some(Command::Stop) => break None,
                        Some(Command::StopWhenEmpty) => stop_when_empty = true,
                        Some(command) => {
                            if let Some(command) = queue_command(player, command, &report) {
                                early.push(command);
                            }
                        }
                        None => commands_open = false,
                    },
                    () = player.queue().changed() => {}
                },
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
    stream.stop_when_empty = stop_when_empty;
    // The first connection gets no retries: a wrong URL, a busy mount or a server that is
    // not there is the user's to fix, and they should hear it at once.
    let source = IcecastSource::connect(&stream.config, stream.options.timeout).await?;
    stream.report(Event::Connected {
        method: source.method(),
    });
    stream.source = Some(source);
    let _status = stream.options.status_interval.map(|every| {
        StatusPoll(tokio::spawn(poll_status(
            stream.config.clone(),
            every,
            stream.options.timeout,
            events.clone(),
        )))
    });
    for command in early {
        command_for(&mut stream, &mut input, command);
    }
    loop {
        while commands_open {
            match commands.try_recv() {
                Ok(Command::Stop) => return stream.finish(),
                Ok(command) => command_for(&mut stream, &mut input, command),
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
                    Input::Queue(player) => {
                        if player.queue().edited() {
                            stream.total = None;
                        }
                        let format = match stream.format {
                            Format::Mp3(header) => Some(header),
                            Format::Aac(_) | Format::Ogg => None,
                        };
                        match player.next(format, &report).await {
                            Next::Frame(frame, _) => {
                                stream.dry = false;
                                Some(frame)
                            }
                            Next::Dry if stream.stop_when_empty => None,
                            Next::Dry => {
                                // A radio keeps its listeners: silence until a song comes.
                                if !stream.dry {
                                    stream.dry = true;
                                    stream.report(Event::QueueEmpty);
                                }
                                if let Some(silence) = stream.silence.clone() {
                                    stream.send(silence, false).await?;
                                }
                                continue;
                            }
                        }
                    }
                    Input::Pushed(frames) => {
                        // A live producer may be slow: a command must not wait for its frame.
                        tokio::select! {
                            biased;
                            command = commands.recv(), if commands_open => {
                                match command {
                                    Some(Command::Stop) => return stream.finish(),
                                    Some(command) => {
                                        command_for(&mut stream, &mut input, command);
                                    }
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
        if let Input::Queue(player) = &mut input
            && let Some(started) = player.take_started()
        {
            let tagged = match &started {
                Event::TrackStarted { title, .. } => title.clone(),
                _ => None,
            };
            stream.report(started);
            if let Some(title) = tagged.filter(|_| stream.options.title_from_tags) {
                stream.apply(Command::Title(title));
            }
        }
    }
}

/// Reads the mount's status every `every` while the stream runs.
async fn poll_status(
    config: IcecastConfig,
    every: std::time::Duration,
    timeout: std::time::Duration,
    events: mpsc::Sender<Event>,
) {
    // The first read waits a moment: the server lists the mount just after the answer.
    let first = tokio::time::Instant::now() + every.min(std::time::Duration::from_secs(1));
    let mut ticks = tokio::time::interval_at(first, every);
    loop {
        ticks.tick().await;
        let event = match mount_status(&config, timeout).await {
            Ok(Some(status)) => Event::Status(status),
            Ok(None) => continue, // not listed yet, or between reconnections
            Err(e) => Event::StatusFailed {
                reason: e.to_string(),
            },
        };
        let _ = events.try_send(event);
    }
}

/// Stops the status polling when the stream ends, whichever way.
struct StatusPoll(tokio::task::JoinHandle<()>);

impl Drop for StatusPoll {
    fn drop(&mut self) {
        self.0.abort();
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
    let player = Player::new(SongQueue::new(inputs));
    run(
        config,
        options.clone(),
        Input::Queue(Box::new(player)),
        total,
        commands,
        events,
    )
    .await
}

/// Carries out a command: queue commands on the playlist, the others on the stream.
fn command_for(stream: &mut Stream, input: &mut Input, command: Command) {
    let command = match (input, command) {
        (_, Command::StopWhenEmpty) => {
            stream.stop_when_empty = true;
            return;
        }
        (Input::Queue(player), command) => {
            let events = stream.events.clone();
            let report = move |event: Event| {
                let _ = events.try_send(event);
            };
            match queue_command(player, command, &report) {
                Some(command) => command,
                None => {
                    stream.total = None;
                    return;
                }
            }
        }
        (Input::Pushed(_), command) => command,
    };
    stream.apply(command);
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
    /// A playlist stream whose queue ran dry sends silence instead of ending.
    stop_when_empty: bool,
    /// The queue is dry (reported once until a song comes).
    dry: bool,
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
            // A silent Opus or Vorbis packet needs an encoder: mute is refused.
            Format::Ogg => None,
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
            stop_when_empty: true,
            dry: false,
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
        check_pushed(
            &self.config,
            self.format,
            self.pacer.sample_rate(),
            frame,
            self.index,
        )
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
            Command::Enqueue(_)
            | Command::PlayNext(_)
            | Command::Skip
            | Command::Clear
            | Command::List => self.report(Event::CommandRefused {
                command,
                reason: "frames pushed from code have no queue".into(),
            }),
            Command::Mute | Command::Unmute | Command::Stop | Command::StopWhenEmpty => {}
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
