//! The tokio adapter of a WHIP server (RFC 9725): `POST base/whip` with an SDP offer
//! starts a publish (201, the answer, `Location: base/whip/ID`), `DELETE` on the location
//! ends it, `GET base` serves a publisher page. One publisher at a time (another gets
//! 409); its frames come out of [`WhipServer::next`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Notify, mpsc};

use crate::http::{MAX_REQUEST, Parsed, Request, Response, Route};
use crate::publisher::{Publisher, PublisherOutput};
use crate::receiving::ReceivedFrame;
use crate::{Error, PUBLISHER_PAGE};

/// The least time between two key frame requests to a publisher: each costs it a
/// key frame (several times a delta frame's bits), and a flood of viewers joining must not
/// turn the stream into key frames only.
pub const KEYFRAME_REQUEST_GAP: Duration = Duration::from_millis(500);

/// Settings of a [`WhipServer`].
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct WhipSettings {
    /// Bearer token the offers must carry; required off loopback.
    pub token: Option<String>,
    /// A publish whose ICE and DTLS do not complete in this time is dropped.
    pub connect_timeout: Duration,
    /// Frames waiting for [`WhipServer::next`]; more are dropped (counted).
    pub queue_frames: usize,
}

impl Default for WhipSettings {
    fn default() -> Self {
        WhipSettings {
            token: None,
            connect_timeout: Duration::from_secs(10),
            queue_frames: 1024,
        }
    }
}

/// What a WHIP server tells its user.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// A publisher connected (ICE and DTLS done).
    Started,
    /// A frame of the current publish.
    Frame(ReceivedFrame),
    /// The publisher left (DELETE, or ICE gone); the next publish starts over.
    Ended,
}

struct Current {
    id: String,
    end: Arc<Notify>,
    keyframe: Arc<Notify>,
}

struct Shared {
    settings: WhipSettings,
    base: String,
    local_addr: SocketAddr,
    current: Mutex<Option<Current>>,
    events: mpsc::Sender<Published>,
}

impl Shared {
    fn current(&self) -> MutexGuard<'_, Option<Current>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A WHIP server; see the module docs.
pub struct WhipServer {
    shared: Arc<Shared>,
    events: mpsc::Receiver<Published>,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for WhipServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhipServer")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

impl WhipServer {
    /// Binds `addr` (`host:port`) and takes publishes at path `base`. Must be called
    /// within a tokio runtime.
    pub fn bind(addr: &str, base: &str, settings: WhipSettings) -> Result<WhipServer, Error> {
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
        let bind_err = |e| Error::io(format!("binding {addr}"), e);
        let std_listener = std::net::TcpListener::bind(socket_addr).map_err(bind_err)?;
        std_listener.set_nonblocking(true).map_err(bind_err)?;
        let local_addr = std_listener.local_addr().map_err(bind_err)?;
        let listener = TcpListener::from_std(std_listener).map_err(bind_err)?;
        let (tx, events) = mpsc::channel(settings.queue_frames.max(16));
        let shared = Arc::new(Shared {
            settings,
            base: format!("/{}", base.trim_matches('/')),
            local_addr,
            current: Mutex::new(None),
            events: tx,
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(WhipServer {
            shared,
            events,
            accept,
        })
    }

    /// The address the HTTP signalling listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The URL of the WHIP endpoint.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}{}/whip", self.shared.local_addr, self.shared.base)
    }

    /// The next event (`None` once the server is closed).
    pub async fn next(&mut self) -> Option<Published> {
        self.events.recv().await
    }

    /// Asks the current publisher for a key frame (RTCP PLI), e.g. for a viewer that
    /// joined; requests less than [`KEYFRAME_REQUEST_GAP`] after the last one are merged
    /// into it.
    pub fn request_keyframe(&self) {
        if let Some(c) = self.shared.current().as_ref() {
            c.keyframe.notify_one();
        }
    }

    /// Ends the publish and stops listening.
    pub fn close(&self) {
        if let Some(c) = self.shared.current().take() {
            c.end.notify_one();
        }
        self.accept.abort();
    }
}

impl Drop for WhipServer {
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
    match Route::of(&request, &shared.base, "whip") {
        Route::Page => Response {
            status: 200,
            headers: Vec::new(),
            content_type: "text/html; charset=utf-8",
            body: PUBLISHER_PAGE.as_bytes().to_vec(),
        },
        Route::Options => Response::text(204, "").with("Accept-Post", "application/sdp"),
        Route::NotFound => Response::text(404, format!("nothing at {}", request.path)),
        Route::MethodNotAllowed => Response::text(
            405,
            format!("{} is not allowed on {}", request.method, request.path),
        ),
        _ if !authorized(shared, &request) => {
            Response::text(401, "a bearer token is needed").with("WWW-Authenticate", "Bearer")
        }
        Route::Offer => {
            if request.content_type.as_deref() != Some("application/sdp") {
                return Response::text(415, "the offer must be application/sdp");
            }
            offer(shared, &request.body).await
        }
        Route::Session(_) if request.method == "PATCH" => {
            Response::text(405, "trickle ICE is not supported (ICE-lite server)")
                .with("Allow", "DELETE")
        }
        Route::Session(id) => {
            let mut current = shared.current();
            match current.take_if(|c| c.id == id) {
                Some(c) => {
                    c.end.notify_one();
                    Response::text(200, "publish ended")
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
    if shared.current().is_some() {
        return Response::text(409, "a publish is already running here");
    }
    let socket = match UdpSocket::bind(SocketAddr::new(shared.local_addr.ip(), 0)).await {
        Ok(s) => s,
        Err(e) => return Response::text(503, format!("no UDP port for the session: {e}")),
    };
    let Ok(local) = socket.local_addr() else {
        return Response::text(503, "no UDP port for the session");
    };
    let (publisher, answer) = match Publisher::accept(sdp, local, Instant::now()) {
        Ok(v) => v,
        Err(e @ Error::NoCommonCodec { .. }) => return Response::text(406, e.to_string()),
        Err(e) => return Response::text(400, crate::http::one_line(&e.to_string())),
    };
    let id = format!("{:032x}", rand::random::<u128>());
    let end = Arc::new(Notify::new());
    let keyframe = Arc::new(Notify::new());
    {
        let mut current = shared.current();
        if current.is_some() {
            return Response::text(409, "a publish is already running here");
        }
        *current = Some(Current {
            id: id.clone(),
            end: end.clone(),
            keyframe: keyframe.clone(),
        });
    }
    tokio::spawn(run_publish(
        shared.clone(),
        id.clone(),
        end,
        keyframe,
        publisher,
        socket,
    ));
    Response {
        status: 201,
        headers: vec![("Location", format!("{}/whip/{id}", shared.base))],
        content_type: "application/sdp",
        body: answer.into_bytes(),
    }
}

async fn run_publish(
    shared: Arc<Shared>,
    id: String,
    end: Arc<Notify>,
    keyframe: Arc<Notify>,
    mut publisher: Publisher,
    socket: UdpSocket,
) {
    let mut last_keyframe_request: Option<tokio::time::Instant> = None;
    let deadline = tokio::time::Instant::now() + shared.settings.connect_timeout;
    let mut connected = false;
    let mut dropped = 0u64;
    let mut buf = vec![0u8; 2048];
    let outcome: Result<&str, Error> = async {
        loop {
            let wake_at = loop {
                match publisher.poll()? {
                    PublisherOutput::Transmit {
                        destination,
                        contents,
                    } => {
                        let _ = socket.send_to(&contents, destination).await;
                    }
                    PublisherOutput::Timeout(t) => break t,
                    PublisherOutput::Connected => {
                        connected = true;
                        let _ = shared.events.send(Published::Started).await;
                        // Start the recording at a key frame.
                        publisher.request_keyframe();
                    }
                    PublisherOutput::Frame(f) => {
                        if shared.events.try_send(Published::Frame(f)).is_err() {
                            dropped += 1;
                        }
                    }
                    PublisherOutput::Closed => return Ok("the publisher left"),
                }
            };
            if !connected && tokio::time::Instant::now() >= deadline {
                return Ok("ICE/DTLS did not complete in time");
            }
            let sleep_until = tokio::time::Instant::from_std(wake_at)
                .min(tokio::time::Instant::now() + Duration::from_millis(500));
            tokio::select! {
                received = socket.recv_from(&mut buf) => {
                    if let Ok((n, source)) = received {
                        publisher.handle_datagram(Instant::now(), source, &buf[..n])?;
                    }
                }
                _ = end.notified() => {
                    publisher.close();
                    return Ok("ended by DELETE");
                }
                _ = keyframe.notified(), if connected => {
                    let now = tokio::time::Instant::now();
                    if last_keyframe_request.is_none_or(|t| now - t >= KEYFRAME_REQUEST_GAP) {
                        last_keyframe_request = Some(now);
                        publisher.request_keyframe();
                    }
                }
                _ = tokio::time::sleep_until(sleep_until) => {
                    publisher.handle_timeout(Instant::now())?;
                }
            }
        }
    }
    .await;
    shared.current().take_if(|c| c.id == id);
    if connected {
        let _ = shared.events.send(Published::Ended).await;
    }
    match outcome {
        Ok(why) => tracing::info!(session = %id, dropped, "WHIP publish over: {why}"),
        Err(e) => tracing::info!(session = %id, dropped, "WHIP publish failed: {e}"),
    }
}
