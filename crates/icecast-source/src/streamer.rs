//! Streams frames to an Icecast mount in real time, with mute, title updates, reconnect and
//! status events (what MusicDB's IcecastInterface does over libshout, without libshout).
//!
//! - Frames come from a queue of MP3, AAC or Ogg songs ([`crate::Mp3Input`]) or are pushed
//!   from code ([`crate::IcecastStream::start`]), and go out paced by their own durations
//!   ([`crate::Pacer`]; Ogg pages by their granule advance): a source that runs ahead fills
//!   the server's queue and makes titles lead the audio; one that lags starves listeners.
//! - Muted: silence of the stream's format is sent instead ([`crate::silence`]: the silent
//!   MP3 frame, a silent AAC frame, silent Opus or Vorbis pages inside the current logical
//!   stream), paced the same way; the input does not advance, and unmuting resumes at the
//!   same frame. A stream without silence of its format (a Vorbis setup header that
//!   cannot be read) refuses mute and says why.
//! - Titles are set on a separate connection, in a task of their own, so a slow server
//!   answer never stalls the audio. The server forgets a mount's title with its source,
//!   so the current title is set again after every reconnection.
//! - At the end of an MP3, AAC or Ogg stream that is still open, silence flushes the
//!   server's last queue block (Icecast relays whole `queue-block-size` blocks), so
//!   listeners hear the whole input.
//! - When the server drops us, we reconnect with [`media_core::Backoff`] (a mount still
//!   held by our dead connection answers "mount in use" for a moment, DSheirer/sdrtrunk#132)
//!   and resend the frame that failed. Wrong credentials and an unsupported content type
//!   end the stream after one attempt.

use tokio::sync::mpsc;

use crate::format::pushed_format;
use crate::playlist::{Mp3Input, count_frames};
use crate::queue::{Next, Player, SongQueue, queue_command};
use crate::running::Stream;
use crate::{
    AudioFrame, Command, Error, Event, IcecastConfig, IcecastSource, StreamOptions, mount_status,
};

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
                Next::Frame(frame, format) => break Some((format, frame)),
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
    let mut config = config;
    if let Input::Queue(_) = input {
        // A queue's content type is its first song's format.
        config.content_type = format.content_type(config.content_type);
    }
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
            && let Some(silence) = stream.silence()
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
                        match player.next(Some(stream.format), &report).await {
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
                                if let Some(silence) = stream.silence() {
                                    stream.send(silence, false).await?;
                                    continue;
                                }
                                // No silence of this format: wait for a song or a command.
                                let queue = std::sync::Arc::clone(player.queue());
                                tokio::select! {
                                    biased;
                                    command = commands.recv(), if commands_open => match command {
                                        Some(Command::Stop) => return stream.finish(),
                                        Some(command) => {
                                            command_for(&mut stream, &mut input, command);
                                        }
                                        None => commands_open = false,
                                    },
                                    () = queue.changed() => {}
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
                    Some(frame) => {
                        let frame = stream.relay(frame);
                        if let Some(closing) = stream.take_ogg_closing() {
                            stream.send(closing, false).await?;
                        }
                        frame
                    }
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

/// Streams a playlist of MP3, AAC or Ogg files (or MP3 on stdin) as one stream; see
/// [`crate::IcecastStream::spawn`] for a handle that runs it as a task.
pub async fn stream_playlist(
    config: &IcecastConfig,
    options: &StreamOptions,
    inputs: Vec<Mp3Input>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
) -> Result<(), Error> {
    let config = config.clone();
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
