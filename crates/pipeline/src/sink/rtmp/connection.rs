//! One RTMP connection: TCP, the handshake, `connect` to the app, `createStream` and
//! `publish` of the key (rml_rtmp's client session, sans-I/O, driven here), then the
//! messages of the parent module's sink, and the close. Every message names the endpoint
//! with its key masked; a server's own text has the key masked too (a server may echo it).

use std::time::Duration;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionError, ClientSessionEvent,
    ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{Message, Target};
use crate::Error;

/// TCP connection, handshake, `connect` and `publish`, together.
pub(super) const CONNECT: Duration = Duration::from_secs(10);
/// A message the server does not take in this long fails the output.
const STALL: Duration = Duration::from_secs(20);
/// How long the server may take to close once we have unpublished and ended our side.
const CLOSE: Duration = Duration::from_secs(5);

/// Connects, then publishes the messages as they come (answering what
/// the server sends meanwhile); when the queue ends, unpublishes and closes.
pub(super) async fn publish(target: Target, mut rx: mpsc::Receiver<Message>) -> Result<(), Error> {
    let mut connection = Connection::open(target).await?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            message = rx.recv() => match message {
                Some(message) => connection.publish(message).await?,
                None => break,
            },
            read = connection.stream.read(&mut buf) => {
                let n = read.map_err(|e| connection.io_error("reading from the server", "while we published", e))?;
                if n == 0 {
                    return Err(connection.closed("while we published"));
                }
                // Acknowledgements, pings; a status the server sends now is only logged.
                for event in connection.input(&buf[..n]).await? {
                    if let ClientSessionEvent::UnhandleableOnStatusCode { code } = event {
                        tracing::debug!(endpoint = %connection.target.shown, code, "RTMP status");
                    }
                }
            }
        }
    }
    connection.close().await
}

/// One RTMP connection, publishing once [`Connection::open`] returns it.
pub(super) struct Connection {
    stream: TcpStream,
    session: ClientSession,
    target: Target,
}

impl Connection {
    /// Connects, shakes hands, connects to the app and publishes the key, in at most
    /// [`CONNECT`].
    pub(super) async fn open(target: Target) -> Result<Connection, Error> {
        let shown = target.shown.clone();
        match tokio::time::timeout(CONNECT, Self::start(target)).await {
            Ok(result) => {
                let connection = result?;
                tracing::info!(endpoint = %shown, "publishing");
                Ok(connection)
            }
            Err(_) => Err(Error::Timeout {
                what: format!(
                    "publishing to {shown}: no answer within {} s (connect, handshake, publish)",
                    CONNECT.as_secs()
                ),
            }),
        }
    }

    async fn start(target: Target) -> Result<Connection, Error> {
        let stream = TcpStream::connect(&target.authority)
            .await
            .map_err(|e| Error::io(format!("connecting to {}", target.shown), e))?;
        let _ = stream.set_nodelay(true);
        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(format!("rtmp://{}/{}", target.authority, target.app));
        let (session, _) = ClientSession::new(config).map_err(|e| Error::Output {
            output: target.shown.clone(),
            reason: format!("RTMP session: {e}"),
        })?;
        let mut connection = Connection {
            stream,
            session,
            target,
        };
        let leftover = connection.handshake().await?;
        connection.input(&leftover).await?;
        let request = connection
            .session
            .request_connection(connection.target.app.clone());
        connection.result(request).await?;
        let app = connection.target.app.clone();
        connection
            .until(
                &format!("while connecting to app {app:?}"),
                |event| match event {
                    ClientSessionEvent::ConnectionRequestAccepted => Ok(true),
                    ClientSessionEvent::ConnectionRequestRejected { description } => {
                        Err(format!("the server refused app {app:?}: {description}"))
                    }
                    _ => Ok(false),
                },
            )
            .await?;
        let request = connection
            .session
            .request_publishing(connection.target.key.clone(), PublishRequestType::Live);
        connection.result(request).await?;
        connection
            .until(
                "in answer to the publish request (publishing refused)",
                |event| match event {
                    ClientSessionEvent::PublishRequestAccepted => Ok(true),
                    ClientSessionEvent::UnhandleableOnStatusCode { code }
                        if code.contains("Publish") || code.contains("Failed") =>
                    {
                        Err(format!("the server refused to publish: {code}"))
                    }
                    _ => Ok(false),
                },
            )
            .await?;
        Ok(connection)
    }

    /// The client side of the handshake; returns what the server sent after it.
    async fn handshake(&mut self) -> Result<Vec<u8>, Error> {
        let mut handshake = Handshake::new(PeerType::Client);
        let p0_p1 = handshake
            .generate_outbound_p0_and_p1()
            .map_err(|e| self.refused(format!("RTMP handshake: {e}")))?;
        self.write(&p0_p1).await?;
        let mut buf = vec![0u8; 8 * 1024];
        loop {
            let n = self.read(&mut buf, "during the handshake").await?;
            match handshake.process_bytes(&buf[..n]) {
                Ok(HandshakeProcessResult::InProgress { response_bytes }) => {
                    self.write(&response_bytes).await?;
                }
                Ok(HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                }) => {
                    self.write(&response_bytes).await?;
                    return Ok(remaining_bytes);
                }
                Err(e) => return Err(self.refused(format!("bad RTMP handshake: {e}"))),
            }
        }
    }

    /// Reads until `done` says the awaited event came (`Ok(true)`) or the server refused
    /// (`Err(reason)`); `stage` ends the message when the server closes meanwhile.
    async fn until(
        &mut self,
        stage: &str,
        mut done: impl FnMut(ClientSessionEvent) -> Result<bool, String>,
    ) -> Result<(), Error> {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = self.read(&mut buf, stage).await?;
            let events = self.input(&buf[..n]).await?;
            let mut finished = false;
            for event in events {
                finished |= done(event).map_err(|reason| self.refused(reason))?;
            }
            if finished {
                return Ok(());
            }
        }
    }

    /// Hands the server's bytes to the session, sends its answers, returns its events.
    async fn input(&mut self, bytes: &[u8]) -> Result<Vec<ClientSessionEvent>, Error> {
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        let results = self
            .session
            .handle_input(bytes)
            .map_err(|e| self.session_error(e))?;
        let mut events = Vec::new();
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => self.write(&packet.bytes).await?,
                ClientSessionResult::RaisedEvent(event) => events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(events)
    }

    async fn result(
        &mut self,
        result: Result<ClientSessionResult, ClientSessionError>,
    ) -> Result<(), Error> {
        match result.map_err(|e| self.session_error(e))? {
            ClientSessionResult::OutboundResponse(packet) => self.write(&packet.bytes).await,
            _ => Ok(()),
        }
    }

    async fn publish(&mut self, message: Message) -> Result<(), Error> {
        let result = match message {
            Message::Metadata(metadata) => self.session.publish_metadata(&metadata),
            Message::Video(at, data) => {
                self.session
                    .publish_video_data(data, RtmpTimestamp::new(at), false)
            }
            Message::Audio(at, data) => {
                self.session
                    .publish_audio_data(data, RtmpTimestamp::new(at), false)
            }
        };
        self.result(result).await
    }

    /// Unpublishes, ends our side and waits (at most [`CLOSE`]) for the server to close,
    /// so that it has read everything before the socket goes away.
    async fn close(mut self) -> Result<(), Error> {
        let results = self
            .session
            .stop_publishing()
            .map_err(|e| self.session_error(e))?;
        for result in results {
            if let ClientSessionResult::OutboundResponse(packet) = result {
                self.write(&packet.bytes).await?;
            }
        }
        let _ = self.stream.shutdown().await;
        let mut buf = vec![0u8; 4096];
        let drained = tokio::time::timeout(CLOSE, async {
            while let Ok(n) = self.stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                endpoint = %self.target.shown,
                "the RTMP server did not close within {} s",
                CLOSE.as_secs()
            );
        }
        Ok(())
    }

    async fn read(&mut self, buf: &mut [u8], stage: &str) -> Result<usize, Error> {
        let n = self
            .stream
            .read(buf)
            .await
            .map_err(|e| self.io_error("reading from the server", stage, e))?;
        if n == 0 {
            return Err(self.closed(stage));
        }
        Ok(n)
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), Error> {
        match tokio::time::timeout(STALL, self.stream.write_all(data)).await {
            Ok(result) => result.map_err(|e| self.io_error("sending to the server", "", e)),
            Err(_) => Err(Error::Timeout {
                what: format!(
                    "sending to {}: the server took nothing for {} s",
                    self.target.shown,
                    STALL.as_secs()
                ),
            }),
        }
    }

    /// A socket error; a reset or broken pipe is the server closing (`stage` says when).
    fn io_error(&self, what: &str, stage: &str, e: std::io::Error) -> Error {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
        if matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted) {
            let stage = if stage.is_empty() {
                String::new()
            } else {
                format!("{stage} ")
            };
            return self.refused(format!("the server closed the connection {stage}({e})"));
        }
        Error::io(format!("{}: {what}", self.target.shown), e)
    }

    fn closed(&self, stage: &str) -> Error {
        self.refused(format!("the server closed the connection {stage}"))
    }

    fn refused(&self, reason: String) -> Error {
        Error::Output {
            output: self.target.shown.clone(),
            reason: self.target.masked(&reason),
        }
    }

    fn session_error(&self, e: ClientSessionError) -> Error {
        match e {
            // The server's `_error` answer to `createStream`.
            ClientSessionError::CreateStreamFailed => {
                self.refused("the server refused to create a stream to publish on".into())
            }
            e => self.refused(format!("RTMP session: {e}")),
        }
    }
}
