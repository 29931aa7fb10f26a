//! Sinks: where the recorder's packets go. One [`Sink`] is one output file (or stream);
//! the [`SinkFactory`] of an output endpoint opens a new one for each file of a rotation.

mod hls;
mod mp4;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::naming::FileNames;
use crate::{Endpoint, Error, Options};
use crate::{Packet, Track};

/// One output file or stream.
pub(crate) trait Sink: Send {
    /// Writes a packet (track indices are those of the tracks the sink was opened with).
    fn write(&mut self, packet: Packet) -> Result<(), Error>;
    /// A track's codec configuration changed; the next packet of that track uses it.
    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error>;
    /// Finalizes the output; returns the finished file's path, if it is a file.
    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error>;
}

/// Opens sinks for one output endpoint.
pub(crate) trait SinkFactory: Send {
    /// Opens an output for these tracks; `wall` is the arrival time of its first packet
    /// (for time-based file names).
    fn open(&mut self, tracks: &[Track], wall: SystemTime) -> Result<Box<dyn Sink>, Error>;
}

/// The factory for `output`, checked against the options.
pub(crate) fn factory(output: &Endpoint, options: &Options) -> Result<Box<dyn SinkFactory>, Error> {
    let no_rotation = |what: &str| {
        if options.segment.is_some() {
            Err(Error::InvalidOptions(format!(
                "--segment (file rotation) needs an .mp4 output, not {what}"
            )))
        } else {
            Ok(())
        }
    };
    Ok(match output {
        Endpoint::Mp4File(path) => Box::new(mp4::FileFactory {
            names: FileNames::new(path.clone(), options.segment.is_some()),
            options: options.clone(),
        }),
        Endpoint::Stdout => {
            no_rotation("stdout")?;
            Box::new(mp4::StdoutFactory {
                options: options.clone(),
            })
        }
        Endpoint::Hls { dir, playlist } => {
            no_rotation("HLS (it is segmented already)")?;
            Box::new(hls::HlsFactory {
                dir: dir.clone(),
                playlist: playlist.clone(),
                options: options.clone(),
            })
        }
        Endpoint::TcpListen(addr) => Box::new(crate::remote::ListenFactory::bind(addr, options)?),
        Endpoint::RawOutput(raw) => {
            no_rotation("a raw output")?;
            Box::new(RawFactory {
                side: Some(raw.take()?),
            })
        }
        other => {
            return Err(Error::UnsupportedEndpoint {
                endpoint: other.to_string(),
                direction: crate::Direction::Output,
            });
        }
    })
}

/// Maps each packet's decode time onto the file's time origin: the first packet written
/// is time 0, and every track shares that origin (the writer turns a later start into an
/// edit list or a later `tfdt`, which keeps audio and video in sync).
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    /// The first packet's decode time and timescale.
    origin: Option<(i64, u32)>,
}

impl Timeline {
    /// The packet's decode time relative to the origin, in its timescale; `None` when it is
    /// earlier than the origin (it belongs before the start of this file).
    pub(crate) fn shift(&mut self, dts: i64, timescale: u32) -> Option<i64> {
        let (t0, rate0) = *self.origin.get_or_insert((dts, timescale));
        let origin = (i128::from(t0) * i128::from(timescale)).div_euclid(i128::from(rate0.max(1)));
        let shifted = i128::from(dts) - origin;
        if shifted < 0 {
            return None;
        }
        i64::try_from(shifted).ok()
    }
}

/// Raw output: packets pass through unchanged.
struct RawFactory {
    side: Option<crate::raw::RawOutputSide>,
}

impl SinkFactory for RawFactory {
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
    tracks: Arc<std::sync::Mutex<Option<Vec<Track>>>>,
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
