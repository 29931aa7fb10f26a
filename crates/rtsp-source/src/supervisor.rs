//! The reconnecting supervisor: sessions one after another, for as long as it runs.
//!
//! retina reports a server that died as a plain end of stream, a server whose source ended
//! as silence (caught by the idle timeout), and everything else as errors; all of them
//! lead here to a backoff and a new session. Before connecting again it waits out the
//! stale sessions of its [`SessionGroup`] (old live555 cameras keep streaming to a dead
//! session and refuse a new one until it expires).

use std::collections::VecDeque;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use retina::client::SessionGroup;
use tokio::sync::watch;

use crate::Error;
use crate::backoff::ReconnectOptions;
use crate::event::Event;
use crate::options::RtspOptions;
use crate::session::{RtspSource, teardown_group};

/// Asks a [`ReconnectingSource`] to stop; cheap to clone.
#[derive(Clone, Debug)]
pub struct StopHandle(Arc<watch::Sender<bool>>);

impl StopHandle {
    /// Requests a stop: the source tears its session down (waiting for `TEARDOWN`, at most
    /// the teardown timeout), yields [`Event::Stopped`] and ends. Keep polling it until
    /// then.
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// Whether a stop was requested.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

enum State {
    Connect,
    Playing(Box<RtspSource>),
    /// Waiting to reconnect until then.
    Wait(tokio::time::Instant),
    Done,
}

/// An RTSP source that reconnects, with backoff and jitter, until stopped.
///
/// Yields every event of its sessions, plus [`Event::ConnectFailed`],
/// [`Event::Reconnecting`], an [`Event::Discontinuity`] after each reconnection that
/// follows frames, and a final [`Event::Stopped`]. Use [`ReconnectingSource::next_event`]
/// or [`ReconnectingSource::into_stream`].
pub struct ReconnectingSource {
    options: RtspOptions,
    reconnect: ReconnectOptions,
    group: Arc<SessionGroup>,
    stop_tx: Arc<watch::Sender<bool>>,
    stop_rx: watch::Receiver<bool>,
    state: State,
    pending: VecDeque<Event>,
    /// Consecutive attempts that brought no frame.
    failures: u32,
    sessions: u64,
    /// Frames were emitted since the last discontinuity (so the next session needs one).
    frames_before: bool,
    /// [`Event::WaitingForStaleSessions`] was sent for the wait about to happen.
    announced_stale: bool,
}

impl std::fmt::Debug for ReconnectingSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectingSource")
            .field("url", &self.options.redacted_url())
            .field("sessions", &self.sessions)
            .field("failures", &self.failures)
            .finish()
    }
}

impl ReconnectingSource {
    /// A supervisor for `options`; nothing happens until it is polled.
    pub fn new(options: RtspOptions, reconnect: ReconnectOptions) -> Self {
        let group = Arc::new(SessionGroup::default().named(options.url.authority()));
        let (tx, rx) = watch::channel(false);
        ReconnectingSource {
            options,
            reconnect,
            group,
            stop_tx: Arc::new(tx),
            stop_rx: rx,
            state: State::Connect,
            pending: VecDeque::new(),
            failures: 0,
            sessions: 0,
            frames_before: false,
            announced_stale: false,
        }
    }

    /// A handle that stops this source.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop_tx.clone())
    }

    /// Sessions started so far.
    pub fn sessions(&self) -> u64 {
        self.sessions
    }

    /// The next event; `None` after [`Event::Stopped`].
    ///
    /// Cancel-safe: dropping the future (e.g. in `tokio::select!`) loses no event and keeps
    /// the session; an interrupted connection attempt starts again at the next call.
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(ev);
            }
            match &mut self.state {
                State::Done => return None,
                State::Connect => self.connect().await,
                State::Wait(until) => {
                    let until = *until;
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => self.state = State::Connect,
                        () = stopped(self.stop_rx.clone()) => self.finish(None),
                    }
                }
                State::Playing(source) => {
                    let next = tokio::select! {
                        ev = source.next() => Some(ev),
                        () = stopped(self.stop_rx.clone()) => None,
                    };
                    match next {
                        Some(ev) => self.on_session_event(ev),
                        None => self.close_on_stop().await,
                    }
                }
            }
        }
    }

    /// Tears the session down after a stop request. `Stopped` is queued first, so it is
    /// still delivered if this future is dropped while waiting for the `TEARDOWN`.
    async fn close_on_stop(&mut self) {
        let State::Playing(source) = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        self.finish(None);
        if let Err(e) = source.close().await {
            tracing::debug!(url = %self.options.redacted_url(), "on stop: {e}");
        }
    }

    /// The events as a `Stream`.
    pub fn into_stream(self) -> impl Stream<Item = Event> + Send + 'static {
        // Fused: polling again after the end keeps returning `None`.
        futures::stream::unfold(self, |mut s| async move {
            let ev = s.next_event().await?;
            Some((ev, s))
        })
        .fuse()
    }

    async fn connect(&mut self) {
        if *self.stop_rx.borrow() {
            return self.finish(None);
        }
        // Wait out sessions a previous connection may have left playing on the server.
        let stale = self.group.stale_sessions();
        if stale.num_sessions > 0 && !self.announced_stale {
            // Tell the caller first: this wait can last a minute.
            let at_most = stale
                .max_expires
                .map(|t| t.saturating_duration_since(tokio::time::Instant::now()));
            tracing::info!(url = %self.options.redacted_url(), sessions = stale.num_sessions,
                ?at_most, "waiting for stale sessions to end");
            self.announced_stale = true;
            self.pending.push_back(Event::WaitingForStaleSessions {
                sessions: stale.num_sessions,
                at_most,
            });
            return; // still State::Connect: the next call waits
        }
        if stale.num_sessions > 0 {
            tokio::select! {
                () = self.group.await_stale_sessions(&stale) => {}
                () = stopped(self.stop_rx.clone()) => return self.finish(None),
            }
        }
        self.announced_stale = false;
        let session = self.sessions + 1;
        let options = self.options.clone();
        let result = tokio::select! {
            r = RtspSource::connect_in(options, self.group.clone(), session) => r,
            () = stopped(self.stop_rx.clone()) => return self.finish(None),
        };
        match result {
            Ok(source) => {
                self.sessions = session;
                self.state = State::Playing(Box::new(source));
            }
            Err(reason) => {
                self.failures = self.failures.saturating_add(1);
                tracing::warn!(url = %self.options.redacted_url(), attempt = self.failures,
                    "connect failed: {reason}");
                let give_up = self.gives_up_on(&reason);
                self.pending.push_back(Event::ConnectFailed {
                    reason: reason.clone(),
                    attempt: self.failures,
                });
                self.after_failure(give_up.then_some(reason));
            }
        }
    }

    /// Handles one event of the playing session (still in `self.state`).
    fn on_session_event(&mut self, ev: Option<Event>) {
        match ev {
            Some(Event::Connected {
                url,
                session,
                server_tool,
            }) => {
                self.pending.push_back(Event::Connected {
                    url,
                    session,
                    server_tool,
                });
                if self.frames_before {
                    self.frames_before = false;
                    self.pending.push_back(Event::Discontinuity { session });
                }
            }
            Some(Event::Frame(frame)) => {
                self.failures = 0;
                self.frames_before = true;
                self.pending.push_back(Event::Frame(frame));
            }
            Some(Event::Disconnected { reason, frames }) => {
                if frames == 0 {
                    self.failures = self.failures.saturating_add(1);
                }
                let give_up = self.gives_up_on(&reason);
                self.pending.push_back(Event::Disconnected {
                    reason: reason.clone(),
                    frames,
                });
                // Dropping the ended session starts its TEARDOWN in the background; the
                // stale-session wait before the next connection covers it.
                self.state = State::Done;
                self.after_failure(give_up.then_some(reason));
            }
            Some(other) => self.pending.push_back(other),
            None => {
                self.state = State::Done;
                self.after_failure(None);
            }
        }
    }

    fn gives_up_on(&self, reason: &Error) -> bool {
        (self.reconnect.stop_on_permanent_error && reason.is_permanent())
            || self
                .reconnect
                .max_attempts
                .is_some_and(|max| self.failures >= max)
    }

    /// Schedules the next attempt, or stops with `give_up`.
    fn after_failure(&mut self, give_up: Option<Error>) {
        if give_up.is_some() {
            return self.finish(give_up);
        }
        let attempt = self.failures.max(1);
        let delay = self.reconnect.delay(attempt, rand::random::<f64>());
        tracing::info!(url = %self.options.redacted_url(), attempt, ?delay, "reconnecting");
        self.pending
            .push_back(Event::Reconnecting { attempt, delay });
        self.state = State::Wait(tokio::time::Instant::now() + delay);
    }

    fn finish(&mut self, reason: Option<Error>) {
        self.state = State::Done;
        self.pending.push_back(Event::Stopped { reason });
    }

    /// Waits for the `TEARDOWN`s still running in the background (after a stop), at most
    /// the teardown timeout.
    pub async fn await_teardown(&self) -> Result<(), Error> {
        teardown_group(
            &self.group,
            &self.options.redacted_url(),
            self.options.teardown_timeout,
        )
        .await
    }
}

/// Resolves once a stop is requested; never if every handle is gone.
async fn stopped(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}
