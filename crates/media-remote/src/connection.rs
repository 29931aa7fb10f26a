//! Writing one client's queue to its socket: control messages as text streams, each
//! track as a byte stream with one chunk per packet (data-stream's packets and framing,
//! see [`crate::protocol`]). Every write must make progress within the stall timeout, or
//! the client is disconnected.
//!
//! [`Peer`] is what the server and this writer share about one client; the server
//! depends on this module, never the other way.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use data_stream::{ChunkHeads, Envelope, Frame};
use media_core::Track;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

use crate::error::Error;
use crate::media;
use crate::protocol::{self, MAX_CLIENT_FRAME, Message};
use crate::queue::{ClientQueue, Counters, Item, Media};

/// One connected client, shared by the server (which fills its queue) and its writer
/// (which drains it).
pub(crate) struct Peer {
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    pub(crate) state: Mutex<PeerState>,
    pub(crate) wake: Notify,
}

pub(crate) struct PeerState {
    pub(crate) queue: ClientQueue,
    pub(crate) playing: bool,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is short and leaves the state consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Peer {
    pub(crate) fn new(id: u64, peer: SocketAddr, queue: ClientQueue) -> Self {
        Peer {
            id,
            peer,
            state: Mutex::new(PeerState {
                queue,
                playing: false,
            }),
            wake: Notify::new(),
        }
    }

    pub(crate) fn push(&self, item: Item) {
        lock(&self.state).queue.push(item);
        self.wake.notify_one();
    }
}

/// Frames on their way to one client, with its open track streams.
struct Connection {
    out: BufWriter<OwnedWriteHalf>,
    stall: Duration,
    next_id: u64,
    tracks: Vec<Option<(String, u64)>>,
    /// Chunk heads encoded into reused blocks: no allocation per media packet per client.
    heads: ChunkHeads,
}

impl Connection {
    fn stream_id(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("{kind}{}", self.next_id)
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), Error> {
        let prefix = frame.length_prefix(MAX_CLIENT_FRAME)?;
        let out = &mut self.out;
        let write = async move {
            out.write_all(&prefix.to_be_bytes()).await?;
            out.write_all(&frame.head).await?;
            out.write_all(&frame.body).await
        };
        within_stall(self.stall, write).await
    }

    async fn flush(&mut self) -> Result<(), Error> {
        within_stall(self.stall, self.out.flush()).await
    }

    async fn control(&mut self, message: &Message) -> Result<(), Error> {
        let id = self.stream_id("c");
        for frame in message.to_frames(&id) {
            self.send(&frame).await?;
        }
        Ok(())
    }

    async fn open_track(&mut self, index: usize, track: &Track) -> Result<(), Error> {
        let id = self.stream_id("t");
        // The server checked every track when the recording started.
        self.send(&media::track_header(&id, index, track)?).await?;
        if self.tracks.len() <= index {
            self.tracks.resize(index + 1, None);
        }
        self.tracks[index] = Some((id, 0));
        Ok(())
    }

    async fn close_track(
        &mut self,
        index: usize,
        stop: &str,
        counters: Counters,
    ) -> Result<(), Error> {
        let Some((id, _)) = self.tracks.get_mut(index).and_then(Option::take) else {
            return Ok(());
        };
        let attributes = [
            ("stop", stop.to_owned()),
            ("sent", counters.sent.to_string()),
            ("dropped", counters.dropped.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        self.send(&protocol::end_frame(&id, "", attributes)).await
    }

    async fn media(&mut self, media: Media) -> Result<(), Error> {
        let Some(Some((id, index))) = self.tracks.get_mut(media.track) else {
            return Ok(());
        };
        let frame = self
            .heads
            .chunk(&Envelope::default(), id, *index, media.content);
        *index += 1;
        self.send(&frame).await
    }
}

/// Runs a write, failing when the socket takes nothing for `stall`.
async fn within_stall(
    stall: Duration,
    io: impl Future<Output = std::io::Result<()>>,
) -> Result<(), Error> {
    match tokio::time::timeout(stall, io).await {
        Ok(result) => result.map_err(|e| Error::io("writing to the client", e)),
        Err(_) => Err(Error::Timeout(format!(
            "the client took nothing for {} s (stalled)",
            stall.as_secs_f32()
        ))),
    }
}

/// Writes the client's queue to its socket until told to close.
pub(crate) async fn write_loop(
    client: Arc<Peer>,
    write: OwnedWriteHalf,
    stall: Duration,
) -> Result<(), Error> {
    let mut conn = Connection {
        out: BufWriter::with_capacity(64 * 1024, write),
        stall,
        next_id: 0,
        tracks: Vec::new(),
        heads: ChunkHeads::default(),
    };
    loop {
        let (item, counters) = {
            let mut c = lock(&client.state);
            let item = c.queue.pop();
            (item, c.queue.counters())
        };
        let Some(item) = item else {
            conn.flush().await?;
            client.wake.notified().await;
            continue;
        };
        match item {
            Item::Control(message) => conn.control(&message).await?,
            Item::OpenTracks(tracks) => {
                for (i, t) in tracks.iter().enumerate() {
                    conn.open_track(i, t).await?;
                }
            }
            Item::UpdateTrack(i, track) => {
                conn.close_track(i, "track_updated", counters).await?;
                conn.open_track(i, &track).await?;
            }
            Item::Media(media) => conn.media(media).await?,
            Item::CloseTracks(stop) => {
                for i in 0..conn.tracks.len() {
                    conn.close_track(i, stop, counters).await?;
                }
                conn.tracks.clear();
            }
            Item::Close => break,
        }
    }
    conn.flush().await?;
    let _ = conn.out.shutdown().await;
    Ok(())
}
