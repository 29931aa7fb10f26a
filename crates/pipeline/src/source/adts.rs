//! ADTS AAC input (`.aac`): `icecast_source::adts`' frames as raw access units of one
//! AAC track (ISO/IEC 14496-3 §1.A.2.2), the AudioSpecificConfig built from the first
//! header (object type, sampling frequency index, channel configuration; §1.6.2.1).
//!
//! Read as a stream (files, standard input and HTTP bodies alike): frames are cut out of
//! 64 KiB reads, each a slice of them. Timestamps count samples (timescale = sample rate),
//! 1024 per frame. ID3v2 tags are skipped, however long: in front (album art) and between
//! frames (HLS packed audio, RFC 8216 §3.4, starts each segment with one; the audio is
//! taken as continuous). A format change in the middle of the file, or a frame with
//! several raw data blocks (an MP4 sample holds one access unit), ends the input with an
//! error.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use icecast_source::adts::AdtsHeader;
use tokio::sync::{mpsc, watch};

use crate::contract::InputEvent;
use crate::source::FileSender;
use crate::{Codec, Error, Packet, Track};

pub(crate) async fn run_file(
    path: PathBuf,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = path.display().to_string();
    crate::source::on_reader_thread("ADTS".into(), move || {
        let file = File::open(&path).map_err(|e| Error::io(format!("opening {name}"), e))?;
        read(&name, file, &mut FileSender::new(tx), &stop)
    })
    .await
}

/// Bytes asked of the input per read; frames are cut out of them, each a slice.
const READ: usize = 64 * 1024;

/// Reads ADTS from `input` as it comes (a file, standard input, an HTTP body).
pub(crate) fn read<R: Read>(
    name: &str,
    mut input: R,
    tx: &mut FileSender,
    stop: &watch::Receiver<bool>,
) -> Result<(), Error> {
    let invalid = |reason: String| Error::Input {
        input: name.to_owned(),
        reason,
    };
    let mut buf = BytesMut::new();
    // One read at a time (a live stream's reader must not wait for 64 KiB to come).
    let mut more = |buf: &mut BytesMut| -> Result<bool, Error> {
        let len = buf.len();
        buf.resize(len + READ, 0);
        let read = loop {
            match input.read(&mut buf[len..]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let n = read.map_err(|e| Error::io(format!("reading {name}"), e));
        buf.truncate(len + *n.as_ref().unwrap_or(&0));
        Ok(n? > 0)
    };
    let mut offset = 0usize;
    let mut first: Option<AdtsHeader> = None;
    let mut samples: i64 = 0;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        // An ID3v2 tag in front (album art), or between frames: HLS packed audio starts
        // each segment with one (its timestamp, RFC 8216 §3.4).
        if skip_tag(&mut buf, &mut offset, &mut more)? {
            continue;
        }
        let header = match AdtsHeader::parse(&buf) {
            Ok(h) if h.frame_length <= buf.len() => h,
            Err(_) if buf.len() < 7 => {
                if more(&mut buf)? {
                    continue;
                }
                break;
            }
            Ok(_) => {
                if more(&mut buf)? {
                    continue;
                }
                tracing::warn!(
                    input = name,
                    "the last ADTS frame, at byte {offset}, is cut"
                );
                break;
            }
            Err(e) => return Err(invalid(format!("ADTS data at byte {offset}: {e}"))),
        };
        let frame = buf.split_to(header.frame_length).freeze();
        match first {
            None => {
                let config = audio_specific_config(&header, &frame);
                let track = Track::audio(
                    Codec::Aac { config },
                    header.sample_rate,
                    u16::from(header.channels().unwrap_or(0)),
                );
                first = Some(header);
                if !tx.send(InputEvent::Tracks(vec![track])) {
                    return Ok(());
                }
            }
            Some(f) if !f.same_format(&header) => {
                return Err(invalid(format!(
                    "format changes at byte {offset} from {} to {}",
                    f.describe(),
                    header.describe()
                )));
            }
            Some(_) => {}
        }
        if header.raw_data_blocks != 1 {
            return Err(invalid(format!(
                "the frame at byte {offset} holds {} raw data blocks; one per frame is supported",
                header.raw_data_blocks
            )));
        }
        let header_length = if header.has_crc { 9 } else { 7 };
        let packet = Packet::new(0, samples, true, frame.slice(header_length..))
            .with_duration(Some(header.samples()));
        samples += i64::from(header.samples());
        offset += frame.len();
        if !tx.send(InputEvent::Packet(packet, SystemTime::now())) {
            return Ok(()); // the recorder stopped (duration reached)
        }
    }
    if first.is_none() {
        return Err(invalid("no ADTS frame found".into()));
    }
    Ok(())
}

/// The 2-byte AudioSpecificConfig of an ADTS header: object type (5 bits), sampling
/// frequency index (4), channel configuration (4), then three zero flags.
fn audio_specific_config(header: &AdtsHeader, frame: &[u8]) -> Bytes {
    let rate_index = u16::from((frame[2] >> 2) & 0x0F);
    let config = (u16::from(header.object_type) << 11)
        | (rate_index << 7)
        | (u16::from(header.channel_configuration) << 3);
    Bytes::copy_from_slice(&config.to_be_bytes())
}

/// Skips the ID3v2 tag at the start of `buf`, however long, reading more with `more` as
/// needed; whether there was one.
fn skip_tag(
    buf: &mut BytesMut,
    offset: &mut usize,
    more: &mut impl FnMut(&mut BytesMut) -> Result<bool, Error>,
) -> Result<bool, Error> {
    while buf.len() < 10 && b"ID3".starts_with(&buf[..buf.len().min(3)]) && more(buf)? {}
    let Some(mut tag) = id3v2_length(buf) else {
        return Ok(false);
    };
    while tag > 0 && (!buf.is_empty() || more(buf)?) {
        let skip = tag.min(buf.len());
        let _ = buf.split_to(skip);
        tag -= skip;
        *offset += skip;
    }
    Ok(true)
}

/// The length of an ID3v2 tag at the start of `data` (ID3v2.4 §3.1: a 10-byte header
/// whose size is four 7-bit bytes, plus a 10-byte footer when flagged).
pub(crate) fn id3v2_length(data: &[u8]) -> Option<usize> {
    match data.get(..10) {
        Some(h) if &h[..3] == b"ID3" && h[6..10].iter().all(|b| b & 0x80 == 0) => {
            let size = h[6..10]
                .iter()
                .fold(0usize, |v, &b| (v << 7) | usize::from(b));
            let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
            Some(10 + size + footer)
        }
        _ => None,
    }
}
