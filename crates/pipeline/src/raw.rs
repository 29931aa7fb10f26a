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

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use futures::Stream;
use tokio::sync::{mpsc, watch};

use crate::Endpoint;
use crate::Error;
use crate::source::InputEvent;
use crate::{Packet, Track};

/// Whether a pipeline still takes packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The packet was taken.
    Continue,
    /// The pipeline has finished (closed, duration reached, failed); the packet was not
    /// taken and no more will be.
    Finished,
}

/// A raw input endpoint: the pipeline's side of a [`RawWriter`]. Made by [`input`].
#[derive(Clone)]
pub struct RawInput {
    tracks: Vec<Track>,
    rx: Arc<Mutex<Option<mpsc::Receiver<Packet>>>>,
}

/// A raw output endpoint: the pipeline's side of a [`RawReader`]. Made by [`output`].
#[derive(Clone)]
pub struct RawOutput {
    tx: Arc<Mutex<Option<RawOutputSide>>>,
}

/// What a raw output sink needs: where packets go and where the tracks are published.
#[derive(Debug)]
pub(crate) struct RawOutputSide {
    pub(crate) packets: mpsc::Sender<Packet>,
    pub(crate) tracks: Arc<Mutex<Option<Vec<Track>>>>,
}

macro_rules! identity_eq {
    ($t:ident, $field:ident) => {
        impl PartialEq for $t {
            /// Two handles are equal when they are the same endpoint.
            fn eq(&self, other: &Self) -> bool {
                Arc::ptr_eq(&self.$field, &other.$field)
            }
        }
        impl Eq for $t {}
    };
}
identity_eq!(RawInput, rx);
identity_eq!(RawOutput, tx);

impl fmt::Debug for RawInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawInput")
            .field("tracks", &self.tracks.len())
            .finish()
    }
}

impl fmt::Debug for RawOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawOutput")
    }
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

/// The source task of a raw input.
pub(crate) async fn run_source(
    raw: RawInput,
    tx: &mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let taken = raw.rx.lock().ok().and_then(|mut rx| rx.take());
    let Some(mut rx) = taken else {
        return Err(Error::InvalidOptions(
            "a raw input can feed only one pipeline".into(),
        ));
    };
    if tx
        .send(InputEvent::Tracks(raw.tracks.clone()))
        .await
        .is_err()
    {
        return Ok(());
    }
    loop {
        let packet = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ok(()),
            packet = rx.recv() => packet,
        };
        let Some(packet) = packet else { return Ok(()) };
        if packet.track >= raw.tracks.len() {
            return Err(Error::Input {
                input: "raw".into(),
                reason: format!(
                    "packet for track {} but {} track(s) declared",
                    packet.track,
                    raw.tracks.len()
                ),
            });
        }
        if tx
            .send(InputEvent::Packet(packet, SystemTime::now()))
            .await
            .is_err()
        {
            return Ok(());
        }
    }
}

impl RawOutput {
    pub(crate) fn take(&self) -> Result<RawOutputSide, Error> {
        self.tx
            .lock()
            .ok()
            .and_then(|mut t| t.take())
            .ok_or_else(|| Error::InvalidOptions("a raw output can serve only one pipeline".into()))
    }
}
