//! One viewer of a [`WhepServer`](crate::WhepServer): its socket, its str0m session
//! behind a lock shared by its task and [`WhepServer::send`](crate::WhepServer::send),
//! and the task (the viewer's datagrams and timers, the frames that waited for the
//! connection).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

use crate::Error;
use crate::queue::ViewerQueue;
use crate::viewer::{Viewer, ViewerOutput};
use rtp_media::udp::BatchSender;
use rtp_media::udp::Outbox;

/// One viewer. Frames reach it two ways: before it is connected they wait in its queue
/// (bounded by the queue's policy: the late joiner's GOP), and the session's task writes
/// them when ICE and DTLS complete; once connected, [`WhepServer::send`] writes each frame
/// itself, on the caller's thread, and sends its packets at once (the socket never makes
/// it wait). Handing each frame to the task instead cost a thread wake-up per frame,
/// which was most of what one viewer cost (strace: 4 system calls and a context switch
/// per frame besides the `sendmsg`).
pub(crate) struct Session {
    queue: Mutex<ViewerQueue>,
    live: Mutex<Live>,
    /// Registered for reading only: the sends never wait, and a socket registered for
    /// writing too woke the runtime after every frame's `sendmsg` made on another
    /// thread (an edge-triggered EPOLLOUT as the kernel freed the sent buffers).
    socket: AsyncFd<std::net::UdpSocket>,
    /// The task has something to do: frames wait (at connection), a deadline came
    /// sooner than the one it sleeps to, or the viewer left or failed.
    wake: Notify,
    pub(crate) end: Notify,
    keyframe_wanted: Arc<AtomicBool>,
    pub(crate) connected: std::sync::atomic::AtomicBool,
}

/// The part of a session that the task and [`WhepServer::send`] share.
pub(crate) struct Live {
    viewer: Viewer,
    outbox: Outbox,
    /// The deadline the task sleeps to.
    armed: Instant,
    /// Why the session is over, when a frame's write found it so.
    over: Option<Result<&'static str, Error>>,
}

impl Session {
    /// A session for `viewer` on `socket` (not connected yet), its frames waiting in
    /// `queue` until then; a viewer's key frame request sets `keyframe_wanted`.
    pub(crate) fn new(
        viewer: Viewer,
        socket: AsyncFd<std::net::UdpSocket>,
        queue: ViewerQueue,
        sender: BatchSender,
        keyframe_wanted: Arc<AtomicBool>,
    ) -> Arc<Session> {
        Arc::new(Session {
            queue: Mutex::new(queue),
            keyframe_wanted,
            live: Mutex::new(Live {
                viewer,
                outbox: Outbox::new(sender),
                armed: Instant::now(),
                over: None,
            }),
            socket,
            wake: Notify::new(),
            end: Notify::new(),
            connected: false.into(),
        })
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn queue(&self) -> MutexGuard<'_, ViewerQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the frames that wait, then sends what the viewer has to send; returns the
    /// viewer's next deadline, or why the session is over.
    fn write_waiting(
        &self,
        live: &mut Live,
        now: Instant,
    ) -> Result<Instant, Result<&'static str, Error>> {
        if live.viewer.is_connected() {
            loop {
                let frame = self.queue().pop();
                let Some(frame) = frame else { break };
                live.viewer.write(&frame, now).map_err(Err)?;
            }
        }
        self.transmit(live)
    }

    /// Sends what the viewer has to send; returns its next deadline, or why the session
    /// is over.
    fn transmit(&self, live: &mut Live) -> Result<Instant, Result<&'static str, Error>> {
        loop {
            match live.viewer.poll().map_err(Err)? {
                ViewerOutput::Transmit {
                    destination,
                    contents,
                } => live
                    .outbox
                    .push(self.socket.get_ref(), destination, &contents),
                ViewerOutput::Timeout(t) => {
                    live.outbox.flush(self.socket.get_ref());
                    return Ok(t);
                }
                ViewerOutput::KeyframeRequest => {
                    self.keyframe_wanted.store(true, Ordering::Relaxed)
                }
                ViewerOutput::Closed => {
                    live.outbox.flush(self.socket.get_ref());
                    return Err(Ok("the viewer left"));
                }
            }
        }
    }

    /// [`WhepServer::send`]'s part: the frame written and sent now (it is in the queue).
    pub(crate) fn write_now(&self, now: Instant) {
        let mut live = self.live();
        if live.over.is_some() {
            return;
        }
        match self.write_waiting(&mut live, now) {
            // The task sleeps to its deadline: woken only if this one is sooner.
            Ok(deadline) if deadline >= live.armed => {}
            Ok(_) => self.wake.notify_one(),
            Err(over) => {
                live.over = Some(over);
                self.wake.notify_one();
            }
        }
    }
}

/// A session's UDP socket on the signalling's address (see [`Session::socket`]).
/// tokio's `UdpSocket` always registers for writing too, hence `AsyncFd`; its safe
/// constructors are deprecated in tokio 1.54 because a `T` that does not own its fd could
/// close it while registered (tokio#8587). A `std::net::UdpSocket` owns its fd, which
/// lives until the `AsyncFd` is dropped and deregisters it, so this use is sound (and
/// `register_with_interest`, the replacement, is `unsafe`, which this workspace forbids).
#[allow(deprecated)]
pub(crate) fn session_socket(
    signalling: SocketAddr,
) -> std::io::Result<AsyncFd<std::net::UdpSocket>> {
    let socket = std::net::UdpSocket::bind(SocketAddr::new(signalling.ip(), 0))?;
    socket.set_nonblocking(true)?;
    AsyncFd::with_interest(socket, Interest::READABLE)
}

/// The next datagram on a session's socket (cancel safe).
async fn receive(
    socket: &AsyncFd<std::net::UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    loop {
        let mut ready = socket.readable().await?;
        if let Ok(received) = ready.try_io(|s| s.get_ref().recv_from(buf)) {
            return received;
        }
    }
}

/// How a session's task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// ICE and DTLS did not complete in the connect timeout.
    TimedOut,
    /// Anything else (the viewer left, the session was ended, or failed).
    Over,
}

/// The session's task until the session is over; the caller forgets the session then.
pub(crate) async fn run_session(id: &str, session: &Session, connect_timeout: Duration) -> Ended {
    let deadline = tokio::time::Instant::now() + connect_timeout;
    let mut buf = vec![0u8; 2048];
    let mut ended = Ended::Over;
    let outcome: Result<&str, Error> = async {
        loop {
            // Write what waits, send what the viewer has to send, learn its next deadline
            // (the lock is never held across an await).
            let (wake_at, connected) = {
                let mut live = session.live();
                if let Some(over) = live.over.take() {
                    return over;
                }
                let now = Instant::now();
                let wake_at = match session.write_waiting(&mut live, now) {
                    Ok(t) => t.min(now + Duration::from_millis(500)),
                    Err(over) => return over,
                };
                live.armed = wake_at;
                (wake_at, live.viewer.is_connected())
            };
            if connected {
                // Just connected (the late joiner's frames since the last key frame were
                // written above): from now on `send` writes the frames itself; once more
                // round for a frame queued in between.
                if !session
                    .connected
                    .swap(true, std::sync::atomic::Ordering::AcqRel)
                {
                    continue;
                }
            } else if tokio::time::Instant::now() >= deadline {
                ended = Ended::TimedOut;
                return Ok("ICE/DTLS did not complete in time");
            }
            tokio::select! {
                received = receive(&session.socket, &mut buf) => {
                    if let Ok((n, source)) = received {
                        session.live().viewer.handle_datagram(Instant::now(), source, &buf[..n])?;
                    }
                }
                _ = session.wake.notified() => {}
                _ = session.end.notified() => {
                    let mut live = session.live();
                    live.viewer.close();
                    let _ = session.transmit(&mut live);
                    return Ok("ended");
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake_at)) => {
                    session.live().viewer.handle_timeout(Instant::now())?;
                }
            }
        }
    }
    .await;
    let unsent = session.live().outbox.unsent();
    if unsent > 0 {
        tracing::debug!(session = %id, "{unsent} datagrams found the socket's buffer full and were lost");
    }
    match outcome {
        Ok(why) => tracing::debug!(session = %id, "WHEP session over: {why}"),
        Err(e) => tracing::info!(session = %id, "WHEP session failed: {e}"),
    }
    ended
}
