//! WebSocket transport (feature `websocket`, on tokio-tungstenite): one binary message
//! per serialized `DataPacket`, no length prefix, since WebSocket keeps message
//! boundaries as a data channel does. Text messages are refused; ping/pong are ignored;
//! the close handshake ends the connection.
//!
//! The same [`Receiver`] runs over it ([`Receiver::run_websocket`]) with the same checks,
//! limits and backpressure (a full reader stops the socket from being read); the send
//! side drains an [`OutgoingFrames`] queue ([`write_messages`]).

use bytes::BytesMut;
use futures::{Sink, SinkExt, Stream, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::Receiver;
use crate::demux::Limits;
use crate::writer::OutgoingFrames;
use crate::{Error, Result};

fn ws_error(context: &str, e: &WsError) -> Error {
    let kind = match e {
        WsError::Io(io) => io.kind(),
        _ => std::io::ErrorKind::Other,
    };
    Error::Io {
        context: context.to_owned(),
        kind,
        message: e.to_string(),
    }
}

/// tungstenite's limits set to the receiver's frame size: a larger message is refused
/// before it is buffered.
pub fn config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(limits.max_frame_size))
        .max_frame_size(Some(limits.max_frame_size))
}

/// Opens a WebSocket to `url` (`ws://host:port/path`; the URL is not printed, so a
/// token in it stays private).
pub async fn connect(
    url: &str,
    limits: &Limits,
) -> Result<WebSocketStream<MaybeTlsStream<TcpStream>>> {
    let (socket, _response) =
        tokio_tungstenite::connect_async_with_config(url, Some(config(limits)), true)
            .await
            .map_err(|e| ws_error("connecting the WebSocket", &e))?;
    Ok(socket)
}

/// Completes the server side of a WebSocket handshake on an accepted TCP connection.
pub async fn accept(tcp: TcpStream, limits: &Limits) -> Result<WebSocketStream<TcpStream>> {
    let _ = tcp.set_nodelay(true);
    tokio_tungstenite::accept_async_with_config(tcp, Some(config(limits)))
        .await
        .map_err(|e| ws_error("accepting the WebSocket", &e))
}

/// Sends queued frames as binary messages until every [`Outgoing`](crate::Outgoing)
/// handle and writer is gone, then closes the WebSocket (close handshake). Flushes
/// whenever the queue runs empty.
pub async fn write_messages<S>(
    mut frames: OutgoingFrames,
    mut socket: S,
    max_frame_size: usize,
) -> Result<()>
where
    S: Sink<Message, Error = WsError> + Unpin,
{
    let send = |e: WsError| ws_error("writing the WebSocket", &e);
    loop {
        let frame = match frames.try_recv() {
            Ok(frame) => frame,
            Err(futures::channel::mpsc::TryRecvError::Closed) => break,
            Err(futures::channel::mpsc::TryRecvError::Empty) => {
                socket.flush().await.map_err(send)?;
                match frames.next().await {
                    Some(frame) => frame,
                    None => break,
                }
            }
        };
        frame.length_prefix(max_frame_size)?;
        // A message is one buffer: the chunk content is copied once here.
        let mut message = BytesMut::with_capacity(frame.len());
        message.extend_from_slice(&frame.head);
        message.extend_from_slice(&frame.body);
        socket
            .feed(Message::Binary(message.freeze()))
            .await
            .map_err(send)?;
    }
    socket.close().await.map_err(send)
}

impl Receiver {
    /// Receives the streams of one WebSocket connection (binary messages, one
    /// `DataPacket` each) until it closes; see [`Receiver::run`]. Error messages give the
    /// message number where a byte offset would be.
    pub async fn run_websocket<S>(&self, socket: S) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Message, WsError>>,
    {
        let mut number = 0u64;
        let frames = socket.filter_map(move |message| {
            number += 1;
            let item = match message {
                Ok(Message::Binary(packet)) => Some(Ok((packet, number))),
                Ok(Message::Text(_)) => Some(Err(Error::Decode {
                    offset: number,
                    message: "a text WebSocket message (DataPackets come as binary messages)"
                        .to_owned(),
                })),
                // Ping/pong are answered by tungstenite; close ends the stream after it.
                Ok(_) => None,
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => None,
                Err(e) => Some(Err(ws_error("reading the WebSocket", &e))),
            };
            std::future::ready(item)
        });
        self.run_frames(frames).await
    }
}
