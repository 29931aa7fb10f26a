//! The live packet protocol of the remote endpoints (`tcp-listen://ADDR:PORT` out,
//! `tcp://HOST:PORT` in), re-exported from [`media_remote`]: the protocol, handshake,
//! drop policy and reconnection are media-remote's; the pipeline's adapters are
//! `source/tcp.rs` and `sink/tcp_listen.rs`.
//!
//! ```no_run
//! use pipeline::remote::{RemoteSettings, Server};
//! use pipeline::{Codec, Packet, Track};
//!
//! # async fn serve() -> Result<(), pipeline::remote::Error> {
//! let server = Server::bind("127.0.0.1:9000", RemoteSettings::default())?;
//! server.start_recording(vec![Track::audio(Codec::Mp3, 44_100, 2)])?;
//! # let frame = bytes::Bytes::new();
//! server.write(&Packet::new(0, 0, true, frame))?;
//! server.stop_recording();
//! for client in server.clients() {
//!     println!("{}: {} sent, {} dropped", client.peer, client.counters.sent, client.counters.dropped);
//! }
//! # Ok(())
//! # }
//! ```

pub use media_remote::{
    Client, ClientEvent, ClientStats, Counters, Error, ErrorCode, Inbound, InboundEvent, Message,
    RemoteSettings, Server, Side, inbound, media, protocol,
};
