//! A running Icecast stream for library users: commands in, a `Stream` of events out.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::{Command, Event, IcecastConfig, Mp3Input, StreamOptions, stream_playlist};
use crate::Error;

/// Events a slow observer may leave unread before newer ones are dropped.
const EVENT_BACKLOG: usize = 4096;

/// A playlist streaming to an Icecast mount, started by [`IcecastStream::spawn`].
#[derive(Debug)]
pub struct IcecastStream {
    commands: mpsc::Sender<Command>,
    events: Option<EventStream>,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

impl IcecastStream {
    /// Starts streaming `inputs` on the current tokio runtime.
    pub fn spawn(config: IcecastConfig, options: StreamOptions, inputs: Vec<Mp3Input>) -> Self {
        let (commands, command_rx) = mpsc::channel(16);
        let (event_tx, event_rx) = mpsc::channel(EVENT_BACKLOG);
        let task = tokio::spawn(async move {
            stream_playlist(&config, &options, inputs, command_rx, event_tx).await
        });
        IcecastStream {
            commands,
            events: Some(EventStream(event_rx)),
            task,
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

    /// Sends silence from now on; the file position stays.
    pub async fn mute(&self) {
        self.send(Command::Mute).await;
    }

    /// Resumes the file where it stopped.
    pub async fn unmute(&self) {
        self.send(Command::Unmute).await;
    }

    /// Sets the stream title.
    pub async fn set_title(&self, title: impl Into<String>) {
        self.send(Command::Title(title.into())).await;
    }

    /// Stops streaming (see [`IcecastStream::wait`] for the outcome).
    pub async fn stop(&self) {
        self.send(Command::Stop).await;
    }

    async fn send(&self, command: Command) {
        // After the stream ended nobody listens; `wait` reports how it ended.
        let _ = self.commands.send(command).await;
    }

    /// Waits for the end: `Ok` when the inputs ended or a stop was asked.
    pub async fn wait(self) -> Result<(), Error> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(Error::Io {
                context: "icecast stream task".into(),
                source: std::io::Error::other(e.to_string()),
            }),
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
