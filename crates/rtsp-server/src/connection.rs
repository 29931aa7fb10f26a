//! One RTSP connection: its requests read and answered through the [`Handler`]; the
//! answers and, once the client plays over TCP, its interleaved packets go out through
//! its [`Outbox`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use rtsp_types::{Message, ParseError};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};

use crate::handler::{self, Action, Handler};
use crate::outbox::{Outbox, write_loop};
use crate::shared::{Shared, Start};
use crate::wire::bytes_of;

/// The largest request (headers and body) read; more closes the connection.
const MAX_REQUEST: usize = 64 * 1024;

/// A connection that has not started playing is closed after this long without a request.
const IDLE: Duration = Duration::from_secs(60);

/// How long the client has to close the connection after its TEARDOWN was answered.
const LINGER: Duration = Duration::from_secs(2);

pub(crate) async fn run(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let id = shared.next_id();
    let (mut read, write) = stream.into_split();
    let outbox = Outbox::new(write, shared.settings.queue_packets.max(16));
    let mut writer = tokio::spawn(write_loop(outbox.clone()));
    let end = Arc::new(Notify::new());
    let ports = shared.udp.as_ref().and_then(|(rtp, rtcp)| {
        Some((
            rtp.local_addr().ok()?.port(),
            rtcp.local_addr().ok()?.port(),
        ))
    });
    let session = format!("{:016x}", rand::random::<u64>());
    let mut handler = Handler::new(session, peer.ip(), ports);
    if shared.ingest.is_some() {
        handler.ingest(&shared.path);
    }
    // Ingest: where this publisher's packets go once it records.
    let mut recording: Option<mpsc::Sender<(u8, bytes::Bytes)>> = None;
    if let Some(password) = &shared.settings.password {
        handler.require_password(password.clone(), format!("{:032x}", rand::random::<u128>()));
    }
    let mut buf = BytesMut::with_capacity(4096);
    let mut playing = false;
    let mut torn_down = false;
    'connection: loop {
        loop {
            let (message, consumed) = match Message::<Vec<u8>>::parse(&buf[..]) {
                Ok(parsed) => parsed,
                Err(ParseError::Incomplete(_)) => break,
                Err(ParseError::Error) => {
                    tracing::debug!(%peer, "an RTSP request that does not parse: connection closed");
                    let bad = b"RTSP/1.0 400 Bad Request\r\nCSeq: 0\r\n\r\n".to_vec();
                    outbox.answer(bad);
                    break 'connection;
                }
            };
            buf.advance(consumed);
            let request = match message {
                Message::Request(request) => request,
                // A publisher's packets (its RTCP too: the receiver sorts by channel).
                Message::Data(data) => {
                    if let Some(packets) = &recording {
                        let item = (data.channel_id(), bytes::Bytes::from(data.into_body()));
                        if packets.send(item).await.is_err() {
                            break 'connection;
                        }
                    }
                    // A player's RTCP receiver reports are not used.
                    continue;
                }
                Message::Response(_) => continue,
            };
            let description = shared.description();
            let (response, action) = handler.handle(&request, description.as_deref());
            tracing::debug!(%peer, method = ?request.method(), status = ?response.status(), "RTSP request");
            if let (Some(Action::Play(tracks)), Some(description)) = (&action, description) {
                // Just after the tracks are known no packet may have gone yet: wait a
                // little for one of each, so that RTP-Info can say where the client
                // starts (retina refuses a PLAY answer without it).
                for _ in 0..100 {
                    if shared.has_sent(tracks) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                // The answer goes out with the client's start (RTP-Info names its first
                // packets), before any of them.
                let uri = request
                    .request_uri()
                    .map(|u| u.as_str().trim_end_matches('/'));
                let start = Start {
                    id,
                    description: &description,
                    tracks,
                    uri: uri.unwrap_or_default(),
                    out: &outbox,
                    end: &end,
                };
                match shared.play(start, response) {
                    Ok(()) => playing = true,
                    Err(()) => {
                        let refused = handler::refused(&request);
                        outbox.answer(bytes_of(&refused));
                    }
                }
                continue;
            }
            let mut response = response;
            if let Some(Action::Record { sdp, channels }) = &action {
                // Handed on before the answer: a publisher that cannot be taken (one is
                // recording already) is answered 503, not 200 and then cut off.
                let (packets, taken) = mpsc::channel(1024);
                let publish = crate::Publish {
                    sdp: sdp.clone(),
                    channels: channels.clone(),
                    packets: taken,
                    peer,
                };
                if shared
                    .ingest
                    .as_ref()
                    .is_some_and(|i| i.try_send(publish).is_ok())
                {
                    recording = Some(packets);
                    playing = true;
                } else {
                    tracing::warn!(%peer, "a publisher refused: another one is recording");
                    response = handler::refused(&request);
                }
            }
            if action == Some(Action::Pause) {
                // Its packets stop here (the answer follows those queued before it); its
                // next PLAY joins again like a new client. Paused, it must keep the
                // session alive like one that has not played.
                shared.leave(id);
                playing = false;
            }
            if !outbox.answer(bytes_of(&response)) {
                break 'connection;
            }
            if action == Some(Action::Teardown) {
                torn_down = true;
                break 'connection;
            }
        }
        if buf.len() > MAX_REQUEST {
            tracing::debug!(%peer, "an RTSP request of over {MAX_REQUEST} bytes: connection closed");
            break;
        }
        let idle = if playing { Duration::MAX } else { IDLE };
        tokio::select! {
            read = tokio::time::timeout(idle, read.read_buf(&mut buf)) => match read {
                Ok(Ok(n)) if n > 0 => {}
                _ => break,
            },
            _ = end.notified() => break,
            // The publisher's stream is no longer taken (the input ended).
            () = taken_away(recording.as_ref()) => break,
            _ = &mut writer => break,
        }
    }
    shared.leave(id);
    if torn_down {
        // After answering TEARDOWN the client closes the connection, as it does with
        // gst-rtsp-server: closing first made GStreamer's rtspclientsink try to reconnect
        // and fail now and then. So wait for it, briefly; a publisher's stream ends after.
        let _ = tokio::time::timeout(LINGER, async {
            while let Ok(n) = read.read_buf(&mut buf).await {
                if n == 0 {
                    break;
                }
                buf.clear();
            }
        })
        .await;
    }
    drop(recording);
    outbox.finish();
    // The last answer (TEARDOWN's) goes out; a writer stuck on a client that reads
    // nothing is not waited for.
    if tokio::time::timeout(Duration::from_secs(2), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

/// Resolves once the stream `recording` feeds is no longer taken; never without one.
async fn taken_away(recording: Option<&mpsc::Sender<(u8, bytes::Bytes)>>) {
    match recording {
        Some(packets) => packets.closed().await,
        None => std::future::pending().await,
    }
}
