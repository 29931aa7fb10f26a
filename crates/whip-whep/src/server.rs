//! The tokio adapter of a WHEP server: an HTTP listener for the signalling, one UDP
//! socket and task per viewer, and the fan-out of frames into the viewers' queues.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::http::{MAX_REQUEST, Parsed, Request, Response, Route};
use crate::media::{Frame, StreamCodecs, TrackKind};
use crate::queue::ViewerQueue;
use crate::viewer::Viewer;
use crate::viewer_session::{Ended, Session, run_session, session_socket};
use crate::{Error, PLAYER_PAGE};
use rtp_media::udp::BatchSender;

/// Settings of a [`WhepServer`].
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct WhepSettings {
    /// Bearer token the offers must carry; required off loopback.
    pub token: Option<String>,
    /// Viewers at once; more get 503.
    pub max_viewers: usize,
    /// Sessions still connecting (ICE/DTLS not done) at once; more get 503, so offers
    /// that never connect cannot crowd out real viewers.
    pub max_connecting: usize,
    /// A viewer's queue bound in frames and bytes (see [`ViewerQueue`]).
    pub queue_frames: usize,
    /// A viewer's queue bound in bytes.
    pub queue_bytes: usize,
    /// A session whose ICE and DTLS do not complete in this time is dropped.
    pub connect_timeout: Duration,
    /// Frames kept since the last key frame for late joiners (at most; when more
    /// frames follow the key frame, none are kept until the next one, and a joiner asks
    /// for it through [`WhepServer::take_keyframe_request`]).
    pub gop_frames: usize,
}

impl Default for WhepSettings {
    fn default() -> Self {
        WhepSettings {
            token: None,
            max_viewers: 64,
            max_connecting: 16,
            queue_frames: 512,
            queue_bytes: 8 << 20,
            connect_timeout: Duration::from_secs(10),
            // No more than a viewer's queue holds, which would drop the key frame.
            gop_frames: 512,
        }
    }
}

/// Counters of a server, for logs and tests.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WhepStats {
    /// Sessions now (connecting or connected).
    pub sessions: usize,
    /// Sessions connected now.
    pub connected: usize,
    /// Frames dropped by the viewers' queues so far (those still open).
    pub dropped: u64,
    /// Sessions dropped because ICE/DTLS did not complete in time.
    pub timed_out: u64,
}

struct State {
    codecs: Option<StreamCodecs>,
    sessions: HashMap<String, Arc<Session>>,
    /// Video since the last key frame (and audio after it), for a late joiner.
    gop: Vec<Frame>,
    timed_out: u64,
    closed: bool,
}

struct Shared {
    settings: WhepSettings,
    base: String,
    local_addr: SocketAddr,
    state: Mutex<State>,
    keyframe_wanted: Arc<std::sync::atomic::AtomicBool>,
    /// How the sessions send their datagrams (segmented where the kernel can).
    sender: BatchSender,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A WHEP server (draft-ietf-wish-whep, MediaMTX's paths): `POST base/whep` with an SDP
/// offer makes a viewer session (201, the answer, `Location: base/whep/ID`), `DELETE`
/// on the location ends it, `GET base` serves the player page. Frames handed to
/// [`WhepServer::send`] go to every connected viewer through its own bounded queue.
pub struct WhepServer {
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for WhepServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhepServer")
            .field("local_addr", &self.shared.local_addr)
            .field("base", &self.shared.base)
            .finish_non_exhaustive()
    }
}

impl WhepServer {
    /// Binds `addr` (`host:port`) and serves the stream at path `base` (`/cam`). Must be
    /// called within a tokio runtime.
    pub fn bind(addr: &str, base: &str, settings: WhepSettings) -> Result<WhepServer, Error> {
        let socket_addr = addr
            .to_socket_addrs()
            .map_err(|e| Error::io(format!("resolving {addr}"), e))?
            .next()
            .ok_or_else(|| {
                Error::io(
                    format!("resolving {addr}"),
                    std::io::Error::new(std::io::ErrorKind::NotFound, "resolves to nothing"),
                )
            })?;
        if !socket_addr.ip().is_loopback() && settings.token.is_none() {
            return Err(Error::NeedsToken(addr.to_owned()));
        }
        let std_listener = std::net::TcpListener::bind(socket_addr)
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        let local_addr = std_listener
            .local_addr()
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        let listener = TcpListener::from_std(std_listener)
            .map_err(|e| Error::io(format!("binding {addr}"), e))?;
        let base = format!("/{}", base.trim_matches('/'));
        let shared = Arc::new(Shared {
            settings,
            base,
            local_addr,
            state: Mutex::new(State {
                codecs: None,
                sessions: HashMap::new(),
                gop: Vec::new(),
                timed_out: 0,
                closed: false,
            }),
            keyframe_wanted: Arc::new(false.into()),
            sender: BatchSender::probe(local_addr),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(WhepServer { shared, accept })
    }

    /// The address the HTTP signalling listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The URL of the WHEP endpoint.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}{}/whep", self.shared.local_addr, self.shared.base)
    }

    /// Sets the stream's codecs (before the first frame; again when they change, which
    /// ends the current sessions: their answers named the old codecs).
    pub fn set_codecs(&self, codecs: StreamCodecs) {
        let mut state = self.shared.state();
        if state.codecs.is_some_and(|c| c != codecs) {
            for session in state.sessions.values() {
                session.end.notify_one();
            }
        }
        state.codecs = Some(codecs);
        state.gop.clear();
    }

    /// Hands a frame to every viewer (never blocks: a full queue drops by its policy).
    pub fn send(&self, frame: Frame) {
        let mut state = self.shared.state();
        if frame.track == TrackKind::Video && frame.keyframe {
            state.gop.clear();
            state.gop.push(frame.clone());
        } else if !state.gop.is_empty() {
            if state.gop.len() < self.shared.settings.gop_frames {
                state.gop.push(frame.clone());
            } else {
                // Too long since the key frame: a late joiner would get stale frames
                // and then a jump; it waits for the next key frame instead (and asks).
                state.gop.clear();
            }
        }
        let now = Instant::now();
        for session in state.sessions.values() {
            session.queue().push(frame.clone());
            if session.connected.load(std::sync::atomic::Ordering::Acquire) {
                session.write_now(now);
            }
        }
    }

    /// Whether a viewer asked for a key frame since the last call (for a source that can
    /// ask its camera for one).
    pub fn take_keyframe_request(&self) -> bool {
        self.shared
            .keyframe_wanted
            .swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// The counters now.
    pub fn stats(&self) -> WhepStats {
        let state = self.shared.state();
        let mut stats = WhepStats {
            sessions: state.sessions.len(),
            timed_out: state.timed_out,
            ..WhepStats::default()
        };
        for s in state.sessions.values() {
            if s.connected.load(std::sync::atomic::Ordering::Relaxed) {
                stats.connected += 1;
            }
            stats.dropped += s.queue().dropped();
        }
        stats
    }

    /// Ends every session and stops listening.
    pub fn close(&self) {
        let mut state = self.shared.state();
        state.closed = true;
        for session in state.sessions.values() {
            session.end.notify_one();
        }
        self.accept.abort();
    }
}

impl Drop for WhepServer {
    fn drop(&mut self) {
        self.close();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        tokio::spawn(serve_connection(stream, shared.clone()));
    }
}

async fn serve_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let response = loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await;
        let n = match read {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(n)) => n,
            Err(_) => break Response::text(408, "request timed out"),
        };
        buf.extend_from_slice(&chunk[..n]);
        match Request::parse(&buf) {
            Parsed::Partial if buf.len() <= MAX_REQUEST => continue,
            Parsed::Partial => break Response::text(413, "request too large"),
            Parsed::Invalid(status, why) => break Response::text(status, why),
            Parsed::Complete(request) => break handle(&shared, request).await,
        }
    };
    let _ = stream.write_all(&response.to_bytes()).await;
    let _ = stream.shutdown().await;
}

fn authorized(shared: &Shared, request: &Request) -> bool {
    shared
        .settings
        .token
        .as_deref()
        .is_none_or(|t| request.bearer.as_deref() == Some(t))
}

async fn handle(shared: &Arc<Shared>, request: Request) -> Response {
    match Route::of(&request, &shared.base, "whep") {
        Route::Page => Response {
            status: 200,
            headers: Vec::new(),
            content_type: "text/html; charset=utf-8",
            body: PLAYER_PAGE.as_bytes().to_vec(),
        },
        Route::Options => Response::text(204, "").with("Accept-Post", "application/sdp"),
        Route::NotFound => Response::text(404, format!("no stream at {}", request.path)),
        Route::MethodNotAllowed => Response::text(
            405,
            format!("{} is not allowed on {}", request.method, request.path),
        ),
        Route::Offer => {
            if !authorized(shared, &request) {
                return Response::text(401, "a bearer token is needed")
                    .with("WWW-Authenticate", "Bearer");
            }
            if request.content_type.as_deref() != Some("application/sdp") {
                return Response::text(415, "the offer must be application/sdp");
            }
            offer(shared, &request.body).await
        }
        Route::Session(id) => {
            if !authorized(shared, &request) {
                return Response::text(401, "a bearer token is needed");
            }
            if request.method == "PATCH" {
                // ICE-lite: the browser's candidates are not needed (it sends the checks).
                return Response::text(405, "trickle ICE is not supported (ICE-lite server)")
                    .with("Allow", "DELETE");
            }
            let session = shared.state().sessions.remove(&id);
            match session {
                Some(s) => {
                    s.end.notify_one();
                    Response::text(200, "session ended")
                }
                None => Response::text(404, "no such session"),
            }
        }
    }
}

async fn offer(shared: &Arc<Shared>, body: &[u8]) -> Response {
    let Ok(sdp) = std::str::from_utf8(body) else {
        return Response::text(400, "the offer is not UTF-8 text");
    };
    let (codecs, full, crowded) = {
        let state = shared.state();
        let connecting = state
            .sessions
            .values()
            .filter(|s| !s.connected.load(std::sync::atomic::Ordering::Relaxed))
            .count();
        (
            state.codecs,
            state.sessions.len() >= shared.settings.max_viewers,
            connecting >= shared.settings.max_connecting,
        )
    };
    let Some(codecs) = codecs else {
        return Response::text(503, "the stream has not started yet").with("Retry-After", "1");
    };
    if full {
        return Response::text(503, "too many viewers").with("Retry-After", "5");
    }
    if crowded {
        return Response::text(503, "too many sessions connecting").with("Retry-After", "2");
    }
    let socket = match session_socket(shared.local_addr) {
        Ok(s) => s,
        Err(e) => return Response::text(503, format!("no UDP port for the session: {e}")),
    };
    let Ok(local) = socket.get_ref().local_addr() else {
        return Response::text(503, "no UDP port for the session");
    };
    let (viewer, answer) = match Viewer::accept(sdp, local, codecs, Instant::now()) {
        Ok(v) => v,
        Err(e @ Error::NoCommonCodec { .. }) => return Response::text(406, e.to_string()),
        Err(e) => return Response::text(400, crate::http::one_line(&e.to_string())),
    };
    let id = session_id();
    let queue = ViewerQueue::new(shared.settings.queue_frames, shared.settings.queue_bytes);
    let session = Session::new(
        viewer,
        socket,
        queue,
        shared.sender.clone(),
        shared.keyframe_wanted.clone(),
    );
    {
        let mut state = shared.state();
        if state.closed {
            return Response::text(503, "the stream ended");
        }
        // A late joiner starts at the last key frame; with none kept (or more frames
        // or bytes since it than the viewer's queue holds, which then dropped some), the
        // source is asked for one (a WHIP publisher sends one only when asked).
        let mut queue = session.queue();
        for frame in &state.gop {
            queue.push(frame.clone());
        }
        let unusable = state.gop.is_empty() || queue.dropped() > 0;
        drop(queue);
        if unusable && state.codecs.is_some_and(|c| c.video.is_some()) {
            shared
                .keyframe_wanted
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        state.sessions.insert(id.clone(), session.clone());
    }
    tokio::spawn({
        let (shared, id) = (shared.clone(), id.clone());
        async move {
            let ended = run_session(&id, &session, shared.settings.connect_timeout).await;
            let mut state = shared.state();
            state.sessions.remove(&id);
            if ended == Ended::TimedOut {
                state.timed_out += 1;
            }
        }
    });
    Response {
        status: 201,
        headers: vec![("Location", format!("{}/whep/{id}", shared.base))],
        content_type: "application/sdp",
        body: answer.into_bytes(),
    }
}

fn session_id() -> String {
    let n: u128 = rand::random();
    format!("{n:032x}")
}
