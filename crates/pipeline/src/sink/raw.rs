//! Raw output: packets pass through unchanged to a [`crate::raw::RawReader`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::contract::{Sink, SinkFactory};
use crate::endpoint::RawOutputSide;
use crate::{Error, Packet, Track};

/// Raw output: packets pass through unchanged.
pub(crate) struct RawFactory {
    pub(crate) side: Option<RawOutputSide>,
}

impl SinkFactory for RawFactory {
    /// Code reading raw packets takes any codec.
    fn check(&self, _tracks: &[Track]) -> Result<(), Error> {
        Ok(())
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let side = self.side.take().ok_or_else(|| Error::Output {
            output: "raw".into(),
            reason: "a raw output takes one stream; the input restarted".into(),
        })?;
        if let Ok(mut t) = side.tracks.lock() {
            *t = Some(tracks.to_vec());
        }
        Ok(Box::new(RawSink {
            tx: side.packets,
            tracks: side.tracks,
        }))
    }
}

struct RawSink {
    tx: tokio::sync::mpsc::Sender<Packet>,
    tracks: Arc<Mutex<Option<Vec<Track>>>>,
}

impl Sink for RawSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        // Runs on the recorder's blocking thread: waiting here is the backpressure.
        self.tx
            .blocking_send(packet)
            .map_err(|_| Error::OutputClosed)
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        if let Ok(mut tracks) = self.tracks.lock()
            && let Some(t) = tracks.as_mut().and_then(|t| t.get_mut(track))
        {
            *t = config.clone();
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        Ok(None)
    }
}
