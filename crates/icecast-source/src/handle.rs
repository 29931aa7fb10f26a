//! A running Icecast stream for library users: frames and commands in, a `Stream` of
//! events out.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use crate::queue::{Player, SongQueue};
use crate::streamer::{Input, run};
use crate::{AudioFrame, Command, Error, Event, IcecastConfig, Mp3Input, StreamOptions};

/// Events a slow observer may leave unread before newer ones are dropped.
const EVENT_BACKLOG: usize = 4096;

/// Pushed frames queued ahead of the pacer: enough to absorb a producer's jitter, few
/// enough that [`IcecastStream::send`] pushes back within a fraction of a second.
const FRAME_QUEUE: usize = 8;

/// A stream to an Icecast mount, running as a tokio task: started by
/// [`IcecastStream::start`] (frames pushed with [`IcecastStream::send`]) or
/// [`IcecastStream::spawn`] (a playlist of MP3 files or stdin).
#[derive(Debug)]
pub struct IcecastStream {
    commands: mpsc::Sender<Command>,
    frames: Option<mpsc::Sender<AudioFrame>>,
    events: Option<EventStream>,
    /// The songs still to play (playlist streams).
    queue: Option<Arc<SongQueue>>,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

impl IcecastStream {
    /// Starts a stream of frames pushed with [`IcecastStream::send`], in the format of
    /// `config.content_type` (MP3 frames for `audio/mpeg`, ADTS frames for `audio/aac`).
    /// It connects when the first frame arrives, and ends (after flushing) when
    /// [`IcecastStream::wait`] is called. Runs on the current tokio runtime.
    pub fn start(config: IcecastConfig, options: StreamOptions) -> Self {
        let (frames, frame_rx) = mpsc::channel(FRAME_QUEUE);
        Self::run_with(config, options, Input::Pushed(frame_rx), None, Some(frames))
    }

    /// Starts a radio: a live queue of MP3, ADTS AAC or Ogg Opus/Vorbis songs (`inputs` first; add more with
    /// [`IcecastStream::enqueue`] and [`IcecastStream::play_next`] while it plays), one
    /// continuous stream on the current tokio runtime. Songs follow each other without a
    /// gap or a reconnection; a song in another format than the stream's is reported
    /// ([`Event::TrackFailed`]) and skipped. When the queue runs dry the stream ends if
    /// `options.stop_when_empty` (the default), else it sends silence of its format
    /// until a song is queued. The content type is the first song's format's
    /// (`audio/mpeg`, `audio/aac`, `application/ogg`; `audio/aacp` or `audio/ogg` when
    /// `config` asks for them and the songs fit).
    pub fn spawn(config: IcecastConfig, options: StreamOptions, inputs: Vec<Mp3Input>) -> Self {
        let total = crate::playlist::count_frames(&inputs);
        let queue = SongQueue::new(inputs);
        let player = Player::new(Arc::clone(&queue));
        let mut stream =
            Self::run_with(config, options, Input::Queue(Box::new(player)), total, None);
        stream.queue = Some(queue);
        stream
    }

    /// Adds a song at the end of the queue (playlist streams; `Err(Closed)` otherwise).
    pub fn enqueue(&self, input: Mp3Input) -> Result<(), Error> {
        self.song_queue()?.push(input, false);
        Ok(())
    }

    /// Adds a song to play right after the current one.
    pub fn play_next(&self, input: Mp3Input) -> Result<(), Error> {
        self.song_queue()?.push(input, true);
        Ok(())
    }

    /// Removes the songs still to play; the current one plays on.
    pub fn clear(&self) -> Result<(), Error> {
        self.song_queue()?.clear();
        Ok(())
    }

    /// The songs still to play, in order (not the one playing).
    pub fn queue(&self) -> Vec<Mp3Input> {
        self.queue.as_ref().map_or_else(Vec::new, |q| q.snapshot())
    }

    /// Ends the current song now; the next one follows without a gap (or silence, or the
    /// end, when the queue is dry).
    pub async fn skip(&self) {
        self.command(Command::Skip).await;
    }

    fn song_queue(&self) -> Result<&SongQueue, Error> {
        match &self.queue {
            Some(queue) if !self.task.is_finished() => Ok(queue),
            _ => Err(Error::Closed),
        }
    }

    fn run_with(
        config: IcecastConfig,
        options: StreamOptions,
        input: Input,
        total: Option<u64>,
        frames: Option<mpsc::Sender<AudioFrame>>,
    ) -> Self {
        let (commands, command_rx) = mpsc::channel(16);
        let (event_tx, event_rx) = mpsc::channel(EVENT_BACKLOG);
        let task = tokio::spawn(run(config, options, input, total, command_rx, event_tx));
        IcecastStream {
            commands,
            frames,
            events: Some(EventStream(event_rx)),
            queue: None,
            task,
        }
    }

    /// Queues one frame, waiting while the queue is full: the stream takes frames at the
    /// pace of real time, so a producer faster than that is held back here. While muted the
    /// stream takes no frames, so `send` waits until unmute. `Err(Error::Closed)` once the
    /// stream has ended ([`IcecastStream::wait`] says why) or for a playlist stream.
    pub async fn send(&self, frame: AudioFrame) -> Result<(), Error> {
        match &self.frames {
            Some(frames) => frames.send(frame).await.map_err(|_| Error::Closed),
            None => Err(Error::Closed),
        }
    }

    /// The status events (connected, disconnected, muted, frame sent, ...), once.
    pub fn events(&mut self) -> Option<EventStream> {
        self.events.take()
    }

    /// A cloneable sender of commands, e.g. for a task reading user input.
    pub fn commands(&self) -> mpsc::Sender<Command> {
        self.commands.clone()
    }

    /// Sends silence of the stream's format from now on (MP3 and AAC frames, Opus and
    /// Vorbis pages in the song's logical stream); the input position stays. A stream
    /// without silence of its format refuses it with [`Event::CommandRefused`], saying
    /// why: an Ogg Vorbis song whose setup header cannot be read (silent Vorbis packets
    /// are written from it), Opus of more than two channels, AAC whose channel
    /// configuration is in-band. `Err(Closed)` once the stream has ended.
    pub async fn mute(&self) -> Result<(), Error> {
        self.commands
            .send(Command::Mute)
            .await
            .map_err(|_| Error::Closed)
    }

    /// Resumes the input where it stopped.
    pub async fn unmute(&self) {
        self.command(Command::Unmute).await;
    }

    /// Sets the stream title.
    pub async fn set_title(&self, title: impl Into<String>) {
        self.command(Command::Title(title.into())).await;
    }

    /// Stops streaming at once (see [`IcecastStream::wait`] for the outcome).
    pub async fn stop(&self) {
        self.command(Command::Stop).await;
    }

    async fn command(&self, command: Command) {
        // After the stream ended nobody listens; `wait` reports how it ended.
        let _ = self.commands.send(command).await;
    }

    /// Ends the input of a pushed stream (the queued frames and the flush still go out) and
    /// waits for the end: `Ok` when the input ended or a stop was asked.
    pub async fn wait(mut self) -> Result<(), Error> {
        self.frames = None;
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(Error::io(
                "icecast stream task",
                std::io::Error::other(e.to_string()),
            )),
        }
    }
}

/// The events of an [`IcecastStream`], as a `futures::Stream`.
#[derive(Debug)]
pub struct EventStream(mpsc::Receiver<Event>);

impl futures::Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.0.poll_recv(cx)
    }
}
