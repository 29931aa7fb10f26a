//! Ogg Opus output (`.opus`, `.ogg`; RFC 7845) through the `ogg` crate: the track's
//! `OpusHead` alone on the first page, an `OpusTags` page, then the packets on pages of
//! about a second. Granule positions count the 48 kHz samples decoded up to the end of
//! each page's last packet (RFC 7845 §4), pre-skip included as the head says; a packet
//! shorter than its TOC (an MP4's trimmed last sample) ends the stream short. A new
//! `OpusHead` mid-way (a chained input whose channels change) ends the stream and begins
//! a chained one (RFC 7845 §3) with its own serial number.

use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use elementary::opus_packet_samples;
use ogg::{PacketWriteEndInfo, PacketWriter};

use super::stream_file::{StreamFile, Target, check_single};
use crate::contract::{Sink, SinkFactory};
use crate::{Codec, Error, Packet, Track};

/// Samples per page, about what ffmpeg writes (one second).
const PAGE_SAMPLES: u64 = 48_000;

pub(crate) struct OggFactory {
    pub(crate) target: Target,
}

impl SinkFactory for OggFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        check_single(&self.target, "one Opus audio track", tracks, |t| {
            matches!(t.codec, Codec::Opus { .. })
        })
    }

    fn open(&mut self, tracks: &[Track], wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        self.check(tracks)?;
        let Codec::Opus { head } = &tracks[0].codec else {
            return Err(Error::Output {
                output: self.target.to_string(),
                reason: "not an Opus track".into(),
            });
        };
        let mut sink = OggSink {
            file: StreamFile::create(&self.target)?,
            writer: PacketWriter::new(Vec::new()),
            serial: serial_of(&self.target, wall),
            held: None,
            granule: 0,
            page_start: 0,
            target: self.target.clone(),
        };
        let tags = opus_tags();
        sink.put(head.to_vec(), PacketWriteEndInfo::EndPage, 0)?;
        sink.put(tags, PacketWriteEndInfo::EndPage, 0)?;
        Ok(Box::new(sink))
    }
}

/// An `OpusTags` packet (RFC 7845 §5.2) naming us as the vendor, with no comments.
pub(crate) fn opus_tags() -> Vec<u8> {
    let vendor = concat!("pipeline ", env!("CARGO_PKG_VERSION")).as_bytes();
    let mut tags = b"OpusTags".to_vec();
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    tags
}

/// A stream serial number that differs between files (FNV-1a of the path; of the start
/// time on standard output), so that streams of two files chained together stay apart
/// (RFC 3533 §4).
fn serial_of(target: &Target, wall: SystemTime) -> u32 {
    let nanos = wall
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_le_bytes();
    let bytes = match target {
        Target::File(path) => path.as_os_str().as_encoded_bytes(),
        Target::Stdout => &nanos[..],
    };
    bytes.iter().fold(0x811C_9DC5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

struct OggSink {
    file: StreamFile,
    writer: PacketWriter<'static, Vec<u8>>,
    serial: u32,
    /// The last packet, written when the next one (or the end) says how its page ends.
    held: Option<Bytes>,
    /// Samples up to the end of the held packet.
    granule: u64,
    /// Granule at the end of the last full page.
    page_start: u64,
    target: Target,
}

impl OggSink {
    fn put(&mut self, data: Vec<u8>, end: PacketWriteEndInfo, granule: u64) -> Result<(), Error> {
        self.writer
            .write_packet(data, self.serial, end, granule)
            .map_err(|e| Error::io(format!("writing {}", self.target), e))?;
        let pages = std::mem::take(self.writer.inner_mut());
        if pages.is_empty() {
            return Ok(());
        }
        self.file.write(&[Bytes::from(pages)])
    }

    fn flush_held(&mut self, last: bool) -> Result<(), Error> {
        let Some(data) = self.held.take() else {
            return Ok(());
        };
        let end = if last {
            PacketWriteEndInfo::EndStream
        } else if self.granule - self.page_start >= PAGE_SAMPLES {
            self.page_start = self.granule;
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        self.put(data.to_vec(), end, self.granule)
    }
}

impl Sink for OggSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        self.flush_held(false)?;
        let samples = opus_packet_samples(&packet.data).unwrap_or(0);
        let duration = packet.duration.unwrap_or(samples);
        self.granule += u64::from(duration);
        self.held = Some(packet.data);
        Ok(())
    }

    fn set_codec(&mut self, _track: usize, config: &Track) -> Result<(), Error> {
        let Codec::Opus { head } = &config.codec else {
            return Err(Error::Output {
                output: self.target.to_string(),
                reason: format!(
                    "the track became {}: an Ogg Opus file holds Opus",
                    config.codec.name()
                ),
            });
        };
        self.flush_held(true)?;
        self.serial = self.serial.wrapping_add(1);
        self.granule = 0;
        self.page_start = 0;
        self.put(head.to_vec(), PacketWriteEndInfo::EndPage, 0)?;
        self.put(opus_tags(), PacketWriteEndInfo::EndPage, 0)
    }

    fn finish(mut self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        self.flush_held(true)?;
        self.file.finish()
    }
}
