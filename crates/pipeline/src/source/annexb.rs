//! H.264 / H.265 Annex B input (`.h264`, `.264`, `.h265`, `.265`) through the
//! `elementary` crate: access units become length-prefixed packets of one video track,
//! the parameter sets its decoder configuration record (`avcC` / `hvcC`).
//!
//! Annex B has no timestamps: frames follow each other at `Options::frame_rate`, else
//! the SPS's VUI timing (H.264), else 25 per second, on a 90 kHz clock. H.264 pictures
//! are presented in the order of their picture order counts (`elementary::FrameTimes`,
//! so B-frames get composition offsets); H.265 is shown in decode order. Parameter sets
//! leave the samples for the record (they come back before each key frame on Annex B
//! output); new ones become [`InputEvent::TrackUpdated`]. Access units before the first
//! key frame with complete parameter sets are skipped.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::SystemTime;

use elementary::{AnnexBReader, FrameTimes, ParameterSets, TimedUnit, VideoCodec};
use tokio::sync::{mpsc, watch};

use crate::contract::InputEvent;
use crate::source::FileSender;
use crate::{Codec, Error, Packet, Track};

/// The clock of the packets' timestamps.
const TIMESCALE: u32 = 90_000;
/// Frames per second when neither the options nor the SPS say.
const DEFAULT_FRAME_RATE: f64 = 25.0;

pub(crate) async fn run_file(
    path: PathBuf,
    codec: VideoCodec,
    frame_rate: Option<f64>,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = path.display().to_string();
    if let Some(rate) = frame_rate.filter(|r| !(r.is_finite() && *r > 0.0 && *r <= 1000.0)) {
        return Err(Error::InvalidOptions(format!(
            "frame rate {rate} for {name}: give 0 < fps <= 1000"
        )));
    }
    crate::source::on_reader_thread("Annex B".into(), move || {
        let file = File::open(&path).map_err(|e| Error::io(format!("opening {name}"), e))?;
        let mut input = Input {
            name,
            codec,
            frame_rate,
            tx: FileSender::new(tx),
            stop: &stop,
            sets: ParameterSets::default(),
            track: None,
            frame_duration: 0,
            skipped: 0,
        };
        input.read(file)
    })
    .await
}

struct Input<'a> {
    name: String,
    codec: VideoCodec,
    frame_rate: Option<f64>,
    tx: FileSender,
    stop: &'a watch::Receiver<bool>,
    sets: ParameterSets,
    /// The track once the parameter sets are complete.
    track: Option<Track>,
    frame_duration: u32,
    skipped: u64,
}

impl Input<'_> {
    fn read(&mut self, mut file: File) -> Result<(), Error> {
        let mut reader = AnnexBReader::new(self.codec);
        let mut times = FrameTimes::new(self.codec);
        let mut chunk = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut chunk)
                .map_err(|e| Error::io(format!("reading {}", self.name), e))?;
            if n == 0 {
                reader.finish();
            } else {
                reader.push(&chunk[..n]);
            }
            let mut ready = Vec::new();
            while let Some(unit) = reader.pull() {
                ready.extend(times.push(unit));
            }
            if n == 0 {
                ready.extend(times.finish());
            }
            for timed in ready {
                if *self.stop.borrow() || !self.unit(timed)? {
                    return Ok(());
                }
            }
            if n == 0 {
                break;
            }
        }
        if self.track.is_none() {
            return Err(self.invalid(format!(
                "no key frame with its parameter sets found ({} access units read)",
                self.skipped
            )));
        }
        if self.skipped > 0 {
            tracing::warn!(
                input = self.name,
                "{} access units before the first key frame skipped",
                self.skipped
            );
        }
        Ok(())
    }

    fn invalid(&self, reason: String) -> Error {
        Error::Input {
            input: self.name.clone(),
            reason,
        }
    }

    /// Sends one access unit; `false` when the recorder stopped listening.
    fn unit(&mut self, mut timed: TimedUnit) -> Result<bool, Error> {
        let codec = self.codec;
        let unit = &mut timed.unit;
        let mut changed = false;
        for nal in unit.nals.iter().filter(|n| codec.is_parameter_set(n)) {
            changed |= self.sets.take(codec, nal);
        }
        unit.nals.retain(|n| !codec.is_parameter_set(n));
        if changed && self.sets.complete(codec) && (self.track.is_some() || unit.key) {
            let track = self.describe(unit.offset)?;
            let event = match self.track.replace(track.clone()) {
                None => InputEvent::Tracks(vec![track]),
                Some(old) if old == track => return self.packet(timed),
                Some(_) => InputEvent::TrackUpdated { index: 0, track },
            };
            if !self.tx.send(event) {
                return Ok(false);
            }
        }
        if self.track.is_none() {
            self.skipped += 1;
            return Ok(true);
        }
        self.packet(timed)
    }

    fn packet(&mut self, timed: TimedUnit) -> Result<bool, Error> {
        let unit = timed.unit;
        if unit.nals.is_empty() {
            return Ok(true); // parameter sets alone
        }
        let data = unit.to_length_prefixed().ok_or_else(|| {
            self.invalid(format!(
                "a NAL unit of 4 GiB or more at byte {}",
                unit.offset
            ))
        })?;
        let duration = i64::from(self.frame_duration);
        let cts_offset = i64::from(timed.presentation_offset) * duration;
        let packet = Packet::new(
            0,
            i64::try_from(timed.decode).unwrap_or(i64::MAX) * duration,
            unit.key,
            data,
        )
        .with_cts_offset(i32::try_from(cts_offset).map_err(|_| {
            self.invalid(format!(
                "a picture shown {cts_offset} ticks after it is decoded"
            ))
        })?)
        .with_duration(Some(self.frame_duration));
        Ok(self.tx.send(InputEvent::Packet(packet, SystemTime::now())))
    }

    /// The track of the current parameter sets; fixes the frame duration the first time.
    fn describe(&mut self, offset: u64) -> Result<Track, Error> {
        let at = |e: elementary::Error| self.invalid(format!("at byte {offset}: {e}"));
        let record = elementary::record(self.codec, &self.sets).map_err(at)?;
        let sps = self.sets.sps.first().cloned().unwrap_or_default();
        let info = elementary::sps_info(self.codec, &sps).map_err(at)?;
        if self.frame_duration == 0 {
            let rate = self
                .frame_rate
                .or(info.frame_rate.filter(|r| *r > 0.0 && *r <= 1000.0))
                .unwrap_or(DEFAULT_FRAME_RATE);
            self.frame_duration = (f64::from(TIMESCALE) / rate).round().max(1.0) as u32;
        }
        let codec = match self.codec {
            VideoCodec::H264 => Codec::H264 { config: record },
            VideoCodec::H265 => Codec::H265 { config: record },
            other => return Err(self.invalid(format!("no track for {other:?}"))),
        };
        Ok(Track::video(codec, TIMESCALE, info.width, info.height))
    }
}
