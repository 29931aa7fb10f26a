//! A sans-I/O MPEG transport stream (ISO/IEC 13818-1) muxer and demuxer for one
//! program: PAT and PMT (repeated), PCR on the video PID, continuity counters, PES
//! packets with PTS and DTS. Bytes and times in, bytes and events out: no sockets, no
//! files, no clock.
//!
//! - [`Muxer`]: [`Frame`]s (payload in [`Bytes`] pieces, 90 kHz times) to 188-byte TS
//!   packets appended to a `Vec<u8>`.
//! - [`Demuxer`]: bytes in any slicing to [`Event`]s: the program's streams, then whole
//!   PES payloads as [`Bytes`].
//! - [`nal`] and [`adts`]: what TS carries (Annex B H.264/H.265 with in-band parameter
//!   sets, ADTS AAC) to and from the MP4 framing (length-prefixed NAL units with
//!   avcC/hvcC, raw AAC access units).
//!
//! ```
//! use bytes::Bytes;
//! use mpeg_ts::{Demuxer, Event, Frame, Muxer, StreamType};
//!
//! let mut muxer = Muxer::new(&[StreamType::AacAdts])?;
//! let mut ts = Vec::new();
//! let payload = [Bytes::from_static(&[0xFF, 0xF1, 0x50, 0x80, 0x01, 0x3F, 0xFC, 0x21, 0x00])];
//! let frame = Frame::new(0, 0, true, &payload);
//! muxer.write(&frame, &mut ts)?;
//! assert_eq!(ts.len() % 188, 0);
//!
//! let mut demuxer = Demuxer::new();
//! demuxer.push(&ts)?;
//! demuxer.finish()?;
//! let events: Vec<Event> = std::iter::from_fn(|| demuxer.poll()).collect();
//! assert!(matches!(&events[0], Event::Streams(s) if s[0].stream_type == StreamType::AacAdts));
//! assert!(matches!(&events[1], Event::Frame(f) if f.data == payload[0]));
//! # Ok::<(), mpeg_ts::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adts;
mod crc;
mod demux;
mod error;
mod mux;
pub mod nal;
pub mod opus;
mod psi;
pub mod sps;

pub use bytes::Bytes;
pub use demux::{DemuxedFrame, Demuxer, Event, MAX_PES_SIZE, StreamInfo};
pub use error::{Error, Result};
pub use mux::{Frame, Muxer, PACKET_SIZE, PSI_INTERVAL, TIME_OFFSET};
pub use psi::StreamType;
