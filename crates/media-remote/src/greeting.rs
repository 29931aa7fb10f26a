//! A connection before it is a client: its `hello` read within the hello deadline (or
//! until it is displaced from the waiting pool, see [`crate::admission`]), checked
//! (version, token), and the answer to a connection that is refused.
//!
//! The server depends on this module, never the other way.

use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::error::Error;
use crate::inbound::{Inbound, InboundEvent};
use crate::protocol::{self, ErrorCode, MAX_SERVER_FRAME, Message, VERSION};
use crate::settings::RemoteSettings;

/// What a displaced connection may still have sent (its `hello` is one small frame).
const LAST_READ: usize = 4 * MAX_SERVER_FRAME;

/// Reads until the first message, which must be a good `hello`. `displaced` fires when
/// the connection lost its place among those waiting: what it sent so far is read once
/// more without waiting, and without a complete `hello` in it, it is refused as `busy`.
pub(crate) async fn read_hello(
    stream: &mut TcpStream,
    inbound: &mut Inbound,
    settings: &RemoteSettings,
    displaced: &Notify,
) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + settings.hello_timeout;
    loop {
        if let Some(first) = first_message(inbound)? {
            return check_hello(settings, first);
        }
        let read = tokio::time::timeout_at(deadline, stream.read_buf(inbound.buffer()));
        tokio::select! {
            biased;
            read = read => {
                let n = read
                    .map_err(|_| {
                        Error::Timeout(format!(
                            "waiting for hello ({} s)",
                            settings.hello_timeout.as_secs_f32()
                        ))
                    })?
                    .map_err(|e| Error::io("reading from the client", e))?;
                if n == 0 {
                    inbound.finish()?;
                    return Err(Error::Closed("client"));
                }
            }
            () = displaced.notified() => {
                last_read(stream, inbound);
                return match first_message(inbound)? {
                    Some(first) => check_hello(settings, first),
                    None => Err(Error::Refused {
                        code: ErrorCode::Busy,
                        message: "too many connections are waiting to say hello".into(),
                    }),
                };
            }
        }
    }
}

/// Whatever the socket holds now, without waiting (bounded). Read through a duplicate
/// of the descriptor: tokio's `try_read` only tries once its driver has seen the socket
/// readable, and a connection displaced at once after its accept (a flood) may have its
/// `hello` in the kernel before that.
fn last_read(stream: &TcpStream, inbound: &mut Inbound) {
    use std::io::Read;
    let Ok(mut socket) = duplicate(stream) else {
        return;
    };
    let mut chunk = [0u8; 4096];
    let mut total = 0;
    while total < LAST_READ {
        match socket.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                inbound.push(&chunk[..n]);
                total += n;
            }
        }
    }
}

/// A `std` handle on the same (non-blocking) socket.
#[cfg(unix)]
fn duplicate(stream: &TcpStream) -> std::io::Result<std::net::TcpStream> {
    use std::os::fd::AsFd;
    Ok(stream.as_fd().try_clone_to_owned()?.into())
}

/// A `std` handle on the same (non-blocking) socket.
#[cfg(windows)]
fn duplicate(stream: &TcpStream) -> std::io::Result<std::net::TcpStream> {
    use std::os::windows::io::AsSocket;
    Ok(stream.as_socket().try_clone_to_owned()?.into())
}

/// Elsewhere no duplicate: the last read is skipped.
#[cfg(not(any(unix, windows)))]
fn duplicate(_: &TcpStream) -> std::io::Result<std::net::TcpStream> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// The first control message, once complete (a server takes no other streams).
fn first_message(inbound: &mut Inbound) -> Result<Option<Message>, Error> {
    while let Some(event) = inbound.poll(Instant::now())? {
        if let InboundEvent::Control(message) = event {
            return Ok(Some(message));
        }
    }
    Ok(None)
}

/// A first message must be `hello`, of this version, with the token when there is one.
fn check_hello(settings: &RemoteSettings, message: Message) -> Result<(), Error> {
    let refuse = |code, message: String| Err(Error::Refused { code, message });
    let Message::Hello { version, token } = message else {
        return refuse(
            ErrorCode::Protocol,
            format!("expected hello first, got {}", message.name()),
        );
    };
    if version != VERSION {
        return refuse(
            ErrorCode::UnsupportedVersion,
            format!("protocol version {version} is not supported (this server speaks {VERSION})"),
        );
    }
    if let Some(expected) = &settings.token
        && !protocol::token_matches(expected, token.as_deref())
    {
        let what = if token.is_some() { "wrong" } else { "missing" };
        return refuse(ErrorCode::Unauthorized, format!("{what} token"));
    }
    Ok(())
}

/// Says why (when there is an answer for it) and closes. Bounded: a refused peer that
/// reads nothing costs the server at most a second.
pub(crate) async fn refuse(mut stream: TcpStream, error: &Error) {
    if let Some(answer) = error.answer() {
        let mut out = BytesMut::new();
        answer.write_framed("s0", &mut out);
        let write = async {
            stream.write_all(&out).await?;
            stream.shutdown().await
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), write).await;
    }
}
