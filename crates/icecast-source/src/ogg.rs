//! Ogg pages for an `application/ogg` stream (RFC 3533 §6), as Icecast takes them: whole
//! pages, paced by their granule positions (Icecast's `format_ogg` and libshout send and
//! time whole pages), one logical stream per song so that listeners' decoders reset at
//! each song (a chained Ogg stream, RFC 3533 §4).
//!
//! - [`OggPage::parse`] reads one page header (capture pattern, version, flags, granule,
//!   serial, sequence, lacing); [`OggPages`] splits bytes into pages, slicing, no copies.
//! - [`song_frames`] turns one Ogg Opus or Vorbis file into [`AudioFrame`]s: every page
//!   rewritten to a serial number of the caller's choosing (a song played twice must not
//!   reuse its serial, RFC 3533 §6 "serial number"), the CRC recomputed, and each page's
//!   duration (`samples`) the advance of its granule position: 48 kHz for Opus (RFC 7845
//!   §4), the identification header's rate for Vorbis (Vorbis I §4.2.2).
//!
//! Written by hand rather than with the `ogg` crate: that crate reads and writes packets
//! (it re-paginates on writing), while a source passes the file's pages through as they
//! are and only needs their headers.

use bytes::{Bytes, BytesMut};

use crate::{AudioFrame, Error};

/// The fixed part of a page header, before the lacing values.
const HEADER: usize = 27;

/// One Ogg page: the bytes, and what its header says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OggPage {
    /// The whole page (header, lacing values, body).
    pub data: Bytes,
    /// Granule position (-1: no packet ends on this page).
    pub granule: i64,
    /// Serial number of the logical stream.
    pub serial: u32,
    /// First page of its logical stream (BOS).
    pub first: bool,
    /// Last page of its logical stream (EOS).
    pub last: bool,
}

impl OggPage {
    /// Reads the page at the start of `data`; `Err` says why it is not one.
    pub fn parse(data: &Bytes) -> Result<OggPage, String> {
        let head = data.get(..HEADER).ok_or("shorter than a page header")?;
        if &head[..4] != b"OggS" || head[4] != 0 {
            return Err("no OggS capture pattern (version 0)".into());
        }
        let segments = usize::from(head[26]);
        let lacing = data
            .get(HEADER..HEADER + segments)
            .ok_or("lacing values cut short")?;
        let len = HEADER + segments + lacing.iter().map(|&l| usize::from(l)).sum::<usize>();
        if data.len() < len {
            return Err(format!("page of {len} bytes cut short at {}", data.len()));
        }
        let le = |at: usize, n: usize| {
            head[at..at + n]
                .iter()
                .rev()
                .fold(0u64, |a, &b| (a << 8) | u64::from(b))
        };
        Ok(OggPage {
            data: data.slice(..len),
            granule: le(6, 8) as i64,
            serial: le(14, 4) as u32,
            first: head[5] & 0x02 != 0,
            last: head[5] & 0x04 != 0,
        })
    }

    /// The body (the packets' bytes).
    pub fn body(&self) -> &[u8] {
        let segments = usize::from(self.data[26]);
        &self.data[HEADER + segments..]
    }

    /// The same page in logical stream `serial`, its CRC recomputed (one copy of the page).
    pub fn with_serial(&self, serial: u32) -> OggPage {
        self.rewritten(serial, self.sequence(), self.granule)
    }

    /// The lacing values: one per segment, a packet ending at each value below 255.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn lacing(&self) -> &[u8] {
        let segments = usize::from(self.data[26]);
        &self.data[HEADER..HEADER + segments]
    }

    /// Page sequence number within its logical stream.
    pub fn sequence(&self) -> u32 {
        u32::from_le_bytes([self.data[18], self.data[19], self.data[20], self.data[21]])
    }

    /// Whether the page's last packet ends on it (its last lacing value is below 255), so
    /// that a page may follow that starts a new packet.
    pub fn ends_packet(&self) -> bool {
        let segments = usize::from(self.data[26]);
        segments == 0 || self.data[HEADER + segments - 1] < 255
    }

    /// The same page with another serial, sequence number and granule position, its CRC
    /// recomputed (one copy of the page).
    pub fn rewritten(&self, serial: u32, sequence: u32, granule: i64) -> OggPage {
        let mut data = BytesMut::from(&self.data[..]);
        data[6..14].copy_from_slice(&granule.to_le_bytes());
        data[14..18].copy_from_slice(&serial.to_le_bytes());
        data[18..22].copy_from_slice(&sequence.to_le_bytes());
        data[22..26].fill(0);
        let crc = crc32(&data);
        data[22..26].copy_from_slice(&crc.to_le_bytes());
        OggPage {
            data: data.freeze(),
            serial,
            granule,
            ..self.clone()
        }
    }
}

/// The pages of `data`, in order; an error (and the end) at the first thing that is not a
/// page.
#[derive(Debug, Clone)]
pub struct OggPages {
    data: Bytes,
}

impl OggPages {
    /// Splits `data` (a whole Ogg file, say) into pages.
    pub fn new(data: Bytes) -> Self {
        OggPages { data }
    }
}

impl Iterator for OggPages {
    type Item = Result<OggPage, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        match OggPage::parse(&self.data) {
            Ok(page) => {
                let _ = self.data.split_to(page.data.len());
                Some(Ok(page))
            }
            Err(e) => {
                self.data.clear();
                Some(Err(e))
            }
        }
    }
}

/// `ARTIST` and `TITLE` from a comment header packet (`OpusTags`, RFC 7845 §5.2, or a
/// Vorbis comment header, Vorbis I §5.2: a vendor string, then `NAME=value` comments,
/// UTF-8, names case-insensitive). A packet cut short (the page ends inside it) gives
/// the comments read so far; never a panic.
pub fn comment_text(packet: &[u8]) -> mp3_frames::TagText {
    let mut text = mp3_frames::TagText::default();
    let rest = packet
        .strip_prefix(b"OpusTags")
        .or_else(|| packet.strip_prefix(b"\x03vorbis"));
    let Some(mut rest) = rest else {
        return text;
    };
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        *rest = tail;
        Some(head)
    }
    fn length(rest: &mut &[u8]) -> Option<usize> {
        take(rest, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    let Some(vendor) = length(&mut rest) else {
        return text;
    };
    let _ = take(&mut rest, vendor);
    let Some(count) = length(&mut rest) else {
        return text;
    };
    for _ in 0..count {
        let Some(comment) = length(&mut rest).and_then(|n| take(&mut rest, n)) else {
            break;
        };
        let comment = String::from_utf8_lossy(comment);
        let Some((name, value)) = comment.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let slot = match name.to_ascii_uppercase().as_str() {
            "ARTIST" => &mut text.artist,
            "TITLE" => &mut text.title,
            _ => continue,
        };
        if slot.is_none() && !value.is_empty() {
            *slot = Some(value.to_owned());
        }
    }
    text
}

/// The Ogg CRC: polynomial 0x04C11DB7, not reflected, initial value 0, no final XOR, over
/// the page with its CRC field zeroed (RFC 3533 §6).
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &byte in data {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Lays `packets` out on pages of logical stream `serial` (RFC 3533 §6), each page taking
/// the sequence number after `sequence` (left at the last one used): at most 255 lacing
/// values a page, so a packet of any size continues over as many pages as it needs (the
/// next page flagged 0x01), and a packet of a multiple of 255 bytes ends with a lacing
/// value of 0. The first page is flagged BOS when `first`, the last EOS when `last`; a page
/// on which a packet ends carries `granule`, one on which none ends -1.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn paginate(
    packets: &[&[u8]],
    serial: u32,
    sequence: &mut u32,
    first: bool,
    last: bool,
    granule: i64,
) -> Vec<Bytes> {
    // (lacing value, the packet's bytes it covers)
    let mut segments: Vec<(u8, &[u8])> = Vec::new();
    for packet in packets {
        let mut rest = *packet;
        loop {
            let (piece, tail) = rest.split_at(rest.len().min(255));
            segments.push((piece.len() as u8, piece));
            rest = tail;
            if piece.len() < 255 {
                break;
            }
        }
    }
    let count = segments.len().div_ceil(255);
    let mut pages = Vec::with_capacity(count);
    let mut continued = false;
    for (n, chunk) in segments.chunks(255).enumerate() {
        let ends_packet = chunk.iter().any(|(lacing, _)| *lacing < 255);
        let mut flags = if continued { 0x01 } else { 0 };
        if first && n == 0 {
            flags |= 0x02;
        }
        if last && n + 1 == count {
            flags |= 0x04;
        }
        *sequence = sequence.wrapping_add(1);
        let mut page = BytesMut::with_capacity(HEADER + chunk.len() * 256);
        page.extend_from_slice(b"OggS\0");
        page.extend_from_slice(&[flags]);
        page.extend_from_slice(&if ends_packet { granule } else { -1 }.to_le_bytes());
        page.extend_from_slice(&serial.to_le_bytes());
        page.extend_from_slice(&sequence.to_le_bytes());
        page.extend_from_slice(&[0; 4]);
        page.extend_from_slice(&[chunk.len() as u8]);
        page.extend(chunk.iter().map(|(lacing, _)| *lacing));
        for (_, piece) in chunk {
            page.extend_from_slice(piece);
        }
        let crc = crc32(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        pages.push(page.freeze());
        continued = chunk.last().is_some_and(|(lacing, _)| *lacing == 255);
    }
    pages
}

/// The codec of a logical stream, from its first page's identification header: what a
/// listener's decoder is set up for, and the rate granule positions count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OggCodec {
    /// Opus (RFC 7845 §5.1 `OpusHead`): granules count 48 kHz samples whatever the input
    /// rate was.
    Opus {
        /// Output channel count.
        channels: u8,
        /// Channel mapping family (0: mono or stereo, one Opus stream).
        mapping_family: u8,
    },
    /// Vorbis (Vorbis I §4.2.2 identification header).
    Vorbis {
        /// Channel count.
        channels: u8,
        /// Sample rate in Hz (granules count at this rate).
        sample_rate: u32,
    },
}

impl OggCodec {
    /// Reads the identification header at the start of a first page's body.
    pub fn identify(body: &[u8]) -> Result<OggCodec, String> {
        if body.starts_with(b"OpusHead")
            && let (Some(&channels), Some(&mapping_family)) = (body.get(9), body.get(18))
        {
            return Ok(OggCodec::Opus {
                channels,
                mapping_family,
            });
        }
        if body.starts_with(b"\x01vorbis")
            && let (Some(&channels), Some(rate)) = (body.get(11), body.get(12..16))
        {
            let sample_rate = u32::from_le_bytes([rate[0], rate[1], rate[2], rate[3]]);
            if sample_rate > 0 {
                return Ok(OggCodec::Vorbis {
                    channels,
                    sample_rate,
                });
            }
        }
        Err("neither Opus nor Vorbis (no OpusHead or Vorbis identification header)".into())
    }

    /// The rate granule positions count in (RFC 7845 §4: always 48 kHz for Opus).
    pub fn granule_rate(self) -> u32 {
        match self {
            OggCodec::Opus { .. } => 48_000,
            OggCodec::Vorbis { sample_rate, .. } => sample_rate,
        }
    }

    /// Channel count.
    pub fn channels(self) -> u8 {
        match self {
            OggCodec::Opus { channels, .. } | OggCodec::Vorbis { channels, .. } => channels,
        }
    }

    /// `Opus 2 ch`, `Vorbis 44100 Hz 2 ch`, for messages.
    pub fn describe(self) -> String {
        match self {
            OggCodec::Opus { channels, .. } => format!("Ogg Opus {channels} ch"),
            OggCodec::Vorbis {
                channels,
                sample_rate,
            } => format!("Ogg Vorbis {sample_rate} Hz {channels} ch"),
        }
    }
}

/// One song's pages as frames for an `application/ogg` stream, in logical stream `serial`:
/// each page paced by the advance of its granule position (header pages take no time).
/// `input` names the song in errors.
pub fn song_frames(input: &str, data: Bytes, serial: u32) -> Result<Vec<AudioFrame>, Error> {
    song_pages(input, data, serial).map(|(_, frames)| frames)
}

/// [`song_frames`] and the song's codec.
pub fn song_pages(
    input: &str,
    data: Bytes,
    serial: u32,
) -> Result<(OggCodec, Vec<AudioFrame>), Error> {
    let not_ogg = |found: String| Error::NotOgg {
        input: input.to_owned(),
        found,
    };
    let pages = OggPages::new(data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(not_ogg)?;
    let first = pages.first().ok_or_else(|| not_ogg("no page".into()))?;
    let codec = OggCodec::identify(first.body()).map_err(not_ogg)?;
    let rate = codec.granule_rate();
    let own = first.serial;
    let mut granule = 0i64;
    let mut frames = Vec::with_capacity(pages.len());
    for page in pages {
        if page.serial != own {
            return Err(not_ogg(format!(
                "more than one logical stream (serials {own} and {})",
                page.serial
            )));
        }
        // -1: no packet ends here; the time goes with the page where it ends.
        let samples = if page.granule >= 0 && page.granule > granule {
            let advance = page.granule - granule;
            granule = page.granule;
            u32::try_from(advance).unwrap_or(u32::MAX)
        } else {
            0
        };
        frames.push(AudioFrame::new(
            page.with_serial(serial).data,
            samples,
            rate,
        ));
    }
    Ok((codec, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page with one packet `body` (< 255 bytes).
    fn page(flags: u8, granule: i64, serial: u32, sequence: u32, body: &[u8]) -> Bytes {
        let mut p = b"OggS\0".to_vec();
        p.push(flags);
        p.extend(granule.to_le_bytes());
        p.extend(serial.to_le_bytes());
        p.extend(sequence.to_le_bytes());
        p.extend([0; 4]);
        p.push(1);
        p.push(body.len() as u8);
        p.extend(body);
        let crc = crc32(&p);
        p[22..26].copy_from_slice(&crc.to_le_bytes());
        Bytes::from(p)
    }

    #[test]
    fn pages_are_split_renumbered_and_paced_by_granule() {
        let mut file = page(0x02, 0, 7, 0, b"OpusHead\x01\x02\x38\x01\x80\xbb\0\0\0\0\0").to_vec();
        file.extend(&page(0, 0, 7, 1, b"OpusTags........"));
        file.extend(&page(0, 960, 7, 2, b"audio1"));
        file.extend(&page(0, -1, 7, 3, b"part"));
        file.extend(&page(0x04, 2880, 7, 4, b"audio2"));
        let frames = song_frames("t.opus", Bytes::from(file), 99).unwrap();
        let samples: Vec<u32> = frames.iter().map(|f| f.samples).collect();
        assert_eq!(samples, [0, 0, 960, 0, 1920]);
        assert!(frames.iter().all(|f| f.sample_rate == 48_000));
        for frame in &frames {
            let page = OggPage::parse(&frame.data).unwrap();
            assert_eq!(page.serial, 99);
            let mut zeroed = frame.data.to_vec();
            zeroed[22..26].fill(0);
            assert_eq!(
                crc32(&zeroed).to_le_bytes(),
                frame.data[22..26],
                "CRC redone"
            );
        }
    }

    #[test]
    fn vorbis_granules_count_at_the_identification_header_rate() {
        // Vorbis I §4.2.2: type 1, "vorbis", version 0, channels, rate (LE), bitrates...
        let mut id = b"\x01vorbis\0\0\0\0\x02".to_vec();
        id.extend(44_100u32.to_le_bytes());
        id.extend([0; 14]);
        let mut file = page(0x02, 0, 5, 0, &id).to_vec();
        file.extend(&page(0x04, 4410, 5, 1, b"audio"));
        let frames = song_frames("v.ogg", Bytes::from(file), 6).unwrap();
        assert_eq!(
            frames
                .iter()
                .map(|f| (f.samples, f.sample_rate))
                .collect::<Vec<_>>(),
            [(0, 44_100), (4410, 44_100)]
        );
        let mut two = page(0x02, 0, 5, 0, &id).to_vec();
        two.extend(&page(0x02, 0, 8, 0, &id));
        let err = song_frames("v.ogg", Bytes::from(two), 6).unwrap_err();
        assert!(
            err.to_string().contains("more than one logical stream"),
            "{err}"
        );
    }

    #[test]
    fn artist_and_title_come_from_opus_and_vorbis_comments() {
        let mut tags = b"OpusTags".to_vec();
        let comment = |tags: &mut Vec<u8>, text: &str| {
            tags.extend((text.len() as u32).to_le_bytes());
            tags.extend(text.as_bytes());
        };
        comment(&mut tags, "Lavf59");
        tags.extend(3u32.to_le_bytes());
        comment(&mut tags, "encoder=x");
        comment(&mut tags, "title=Öpus");
        comment(&mut tags, "ARTIST=Ärtist");
        let text = comment_text(&tags);
        assert_eq!(text.stream_title().as_deref(), Some("Ärtist – Öpus"));
        let mut vorbis = b"\x03vorbis".to_vec();
        vorbis.extend_from_slice(&tags[8..]);
        assert_eq!(comment_text(&vorbis), text);
        // Cut anywhere: what was read so far, never a panic.
        for len in 0..tags.len() {
            let _ = comment_text(&tags[..len]);
        }
        assert_eq!(
            comment_text(&tags[..tags.len() - 3]).title.as_deref(),
            Some("Öpus")
        );
        assert_eq!(comment_text(b"OpusHead").stream_title(), None);
    }

    #[test]
    fn not_ogg_and_cut_pages_are_errors_not_panics() {
        let err = song_frames(
            "x",
            Bytes::from_static(b"ID3\x04 nope, this is no Ogg page at all, not even close"),
            1,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no OggS"), "{err}");
        let cut = page(0x02, 0, 1, 0, b"OpusHead");
        let err = song_frames("x", cut.slice(..cut.len() - 2), 1).unwrap_err();
        assert!(err.to_string().contains("cut short"), "{err}");
        for len in 0..40 {
            let junk: Bytes = (0..len)
                .map(|i| if i < 4 { b"OggS"[i] } else { (i * 7) as u8 })
                .collect();
            let _ = OggPages::new(junk).count();
        }
    }

    #[test]
    fn packets_of_any_size_are_laid_out_on_pages_the_ogg_crate_reads_back() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        let exact = vec![7u8; 510];
        let packets: [&[u8]; 4] = [b"first", &big, &exact, b""];
        let mut sequence = 41;
        let pages = paginate(&packets, 9, &mut sequence, true, true, 1234);
        assert_eq!(sequence, 41 + pages.len() as u32);
        let parsed: Vec<OggPage> = pages.iter().map(|p| OggPage::parse(p).unwrap()).collect();
        // 1 + 275 + 3 + 1 lacing values: two pages.
        assert_eq!(parsed.len(), 2);
        assert!(parsed[0].first && !parsed[0].last && !parsed[1].first && parsed[1].last);
        assert_eq!(parsed[0].data[5] & 0x01, 0);
        assert_eq!(parsed[1].data[5] & 0x01, 0x01, "continued packet");
        assert_eq!((parsed[0].granule, parsed[1].granule), (1234, 1234));
        assert_eq!(parsed[0].sequence(), 42);
        assert!(!parsed[0].ends_packet(), "the big packet goes on");
        assert_eq!(
            &parsed[1].lacing()[parsed[1].lacing().len() - 4..],
            [255, 255, 0, 0]
        );
        // A page on which no packet ends has no granule position.
        let mut sequence = 0;
        let huge = vec![1u8; 255 * 255 * 2];
        let pages = paginate(&[&huge], 9, &mut sequence, false, false, 5);
        let granules: Vec<i64> = pages
            .iter()
            .map(|p| OggPage::parse(p).unwrap().granule)
            .collect();
        assert_eq!(granules, [-1, -1, 5]);
        for page in pages
            .iter()
            .chain(&paginate(&packets, 9, &mut 0, true, true, 1))
        {
            let mut zeroed = page.to_vec();
            zeroed[22..26].fill(0);
            assert_eq!(crc32(&zeroed).to_le_bytes(), page[22..26]);
        }
        // The `ogg` crate (written by others) reads the packets back.
        let mut sequence = u32::MAX;
        let file: Vec<u8> = paginate(&packets, 9, &mut sequence, true, true, 77).concat();
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(file));
        let mut read = Vec::new();
        while let Some(packet) = reader.read_packet().unwrap() {
            read.push(packet.data);
        }
        assert_eq!(read, packets.map(<[u8]>::to_vec));
    }
}
