//! Raw packet endpoints: write packets into a pipeline from code, or read them out.
//!
//! As in Boombox: [`RawWriter::write`] waits until the pipeline can take the packet
//! (backpressure through a bounded channel) and tells whether the pipeline has finished;
//! [`RawReader`] is an async [`Stream`] of packets and, with
//! [`RawReader::blocking_iter`], a blocking iterator.
//!
//! ```no_run
//! use pipeline::{Endpoint, Pipeline, raw};
//! use pipeline::{Codec, Packet, Track};
//!
//! # async fn demo() -> Result<(), pipeline::Error> {
//! let track = Track::audio(Codec::Mp3, 44_100, 2);
//! let (writer, input) = raw::input(vec![track], 16);
//! let handle = Pipeline::new(input, Endpoint::parse("out.mp4", pipeline::Direction::Output)?).spawn();
//! # let frames: Vec<bytes::Bytes> = vec![];
//! for (i, frame) in frames.into_iter().enumerate() {
//!     let packet = Packet::new(0, i as i64 * 1152, true, frame);
//!     if writer.write(packet).await == raw::Flow::Finished {
//!         break;
//!     }
//! }
//! writer.close();
//! handle.wait().await?;
//! # Ok(())
//! # }
//! ```

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::mpsc;

use crate::endpoint::RawOutputSide;
pub use crate::endpoint::{RawInput, RawOutput};
use crate::{Endpoint, Packet, Track};

/// Whether a pipeline still takes packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flow {
    /// The packet was taken.
    Continue,
    /// The pipeline has finished (closed, duration reached, failed); the packet was not
    /// taken and no more will be.
    Finished,
}

/// A raw input with these tracks: packets written to the returned [`RawWriter`] enter the
/// pipeline built with the returned [`Endpoint`]. `capacity` packets may wait in between.
pub fn input(tracks: Vec<Track>, capacity: usize) -> (RawWriter, Endpoint) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let endpoint = Endpoint::RawInput(RawInput {
        tracks,
        rx: Arc::new(Mutex::new(Some(rx))),
    });
    (RawWriter { tx: Some(tx) }, endpoint)
}

/// A raw output: packets leaving the pipeline built with the returned [`Endpoint`] come
/// out of the returned [`RawReader`]. `capacity` packets may wait in between; when the
/// reader falls behind, the pipeline waits.
pub fn output(capacity: usize) -> (RawReader, Endpoint) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let tracks = Arc::new(Mutex::new(None));
    let endpoint = Endpoint::RawOutput(RawOutput {
        tx: Arc::new(Mutex::new(Some(RawOutputSide {
            packets: tx,
            tracks: tracks.clone(),
        }))),
    });
    (RawReader { rx, tracks }, endpoint)
}

/// Writes packets into a pipeline (see [`input`]).
#[derive(Debug)]
pub struct RawWriter {
    tx: Option<mpsc::Sender<Packet>>,
}

impl RawWriter {
    /// Hands a packet to the pipeline, waiting while it is busy.
    pub async fn write(&self, packet: Packet) -> Flow {
        match &self.tx {
            Some(tx) if tx.send(packet).await.is_ok() => Flow::Continue,
            _ => Flow::Finished,
        }
    }

    /// [`write`](Self::write) for code outside the async runtime (panics if called from
    /// inside it, as tokio's `blocking_send` does).
    pub fn blocking_write(&self, packet: Packet) -> Flow {
        match &self.tx {
            Some(tx) if tx.blocking_send(packet).is_ok() => Flow::Continue,
            _ => Flow::Finished,
        }
    }

    /// Ends the input: the pipeline writes what it has, finalizes the output and
    /// finishes. Dropping the writer does the same.
    pub fn close(mut self) {
        self.tx = None;
    }
}

/// Reads packets out of a pipeline (see [`output`]).
#[derive(Debug)]
pub struct RawReader {
    rx: mpsc::Receiver<Packet>,
    tracks: Arc<Mutex<Option<Vec<Track>>>>,
}

impl RawReader {
    /// The tracks, known once the first packet is available.
    pub fn tracks(&self) -> Option<Vec<Track>> {
        self.tracks.lock().ok().and_then(|t| t.clone())
    }

    /// The next packet; `None` when the pipeline has finished.
    pub async fn read(&mut self) -> Option<Packet> {
        self.rx.recv().await
    }

    /// A blocking iterator over the packets, for code outside the async runtime.
    pub fn blocking_iter(&mut self) -> impl Iterator<Item = Packet> + '_ {
        std::iter::from_fn(|| self.rx.blocking_recv())
    }

    /// Stops reading: the pipeline finishes at its next packet.
    pub fn close(mut self) {
        self.rx.close();
    }
}

impl Stream for RawReader {
    type Item = Packet;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Packet>> {
        self.rx.poll_recv(cx)
    }
}
